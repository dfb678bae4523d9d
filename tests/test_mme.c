/* The whole pipeline against an independent dense solve of the same mixed model equations.

   Rank 0 simulates a data set with two cross-classified fixed class effects (herd, season), a
   covariate (age), a covariate nested within herd (days), a lactation curve nested within season
   (Legendre polynomials of dim, degree 2), residual weights, an animal effect with a pedigree
   (inbreeding, unknown parents, parents never listed, animals with records but not in the
   pedigree, shuffled lines) and an iid litter effect,
   and writes data, pedigree and model files. Every rank runs the evaluation from those files. Rank 0
   then builds the MME densely from its own simulated arrays -- full dummy coding, no constraint, A
   by the tabular method and inverted by LAPACK -- and takes its minimum-norm solution. Estimable
   functions (differences between levels of a class effect, a cell mean, the regression) and all
   random effects must agree: they do not depend on how the rank deficiency is handled. */
#include "testing.h"
#include <math.h>
#include <string.h>

static char work_dir[HENDERSON_MAX_PATH] = ".";

#define NPED 240     /* animals in the pedigree */
#define NDATAONLY 15 /* animals with records only */
#define NHERD 12
#define NSEASON 4
#define NLITTER 40
#define NRECORDS 520

static const char  *season_names[NSEASON] = {"winter", "spring", "summer", "autumn"};
static const double sigma2a = 2.0, sigma2l = 0.5, sigma2e = 4.0;

typedef struct {
  PetscInt  sire[NPED + NDATAONLY], dam[NPED + NDATAONLY];
  char      id[NPED + NDATAONLY][16];
  PetscInt  omitted;
  PetscInt  herd[NRECORDS], season[NRECORDS], animal[NRECORDS], litter[NRECORDS];
  double    age[NRECORDS], y[NRECORDS], days[NRECORDS], dim[NRECORDS], weight[NRECORDS];
  PetscBool missing[NRECORDS];
} Simulation;

static PetscErrorCode Simulate(Simulation *s)
{
  TestRandom r;
  PetscInt   order[NPED], nlines = 0;
  double     herd_effect[NHERD], season_effect[NSEASON], u[NPED + NDATAONLY], litter_effect[NLITTER];
  char       path[HENDERSON_MAX_PATH + 32];
  FILE      *fp;

  PetscFunctionBeginUser;
  TestRandomSeed(&r, 20261125);
  for (PetscInt i = 0; i < NPED + NDATAONLY; i++) {
    if (i < NPED)
      snprintf(s->id[i], sizeof(s->id[i]), "A%03d", (int)((i * 37) % NPED)); /* IDs not in index order */
    else
      snprintf(s->id[i], sizeof(s->id[i]), "D%02d", (int)(i - NPED));
    if (i < 16 || i >= NPED)
      s->sire[i] = s->dam[i] = -1;
    else {
      /* odd animals are males; parents among the last 30 of each sex */
      PetscInt m = (i - 1) / 2, f = i / 2; /* number of males / females before i */
      s->sire[i] = TestRandomUniform(&r) < 0.1 ? -1 : 2 * (m - 1 - TestRandomInt(&r, PetscMin(m, 30))) + 1;
      s->dam[i]  = TestRandomUniform(&r) < 0.1 ? -1 : 2 * (f - 1 - TestRandomInt(&r, PetscMin(f, 30)));
    }
  }
  /* true values */
  for (PetscInt h = 0; h < NHERD; h++) herd_effect[h] = 3 * TestRandomNormal(&r);
  for (PetscInt k = 0; k < NSEASON; k++) season_effect[k] = TestRandomNormal(&r);
  for (PetscInt l = 0; l < NLITTER; l++) litter_effect[l] = sqrt(sigma2l) * TestRandomNormal(&r);
  for (PetscInt i = 0; i < NPED + NDATAONLY; i++) {
    double pa = (s->sire[i] >= 0 ? 0.5 * u[s->sire[i]] : 0) + (s->dam[i] >= 0 ? 0.5 * u[s->dam[i]] : 0);
    u[i]      = pa + sqrt(0.75 * sigma2a) * TestRandomNormal(&r);
  }
  for (PetscInt k = 0; k < NRECORDS; k++) {
    s->herd[k]   = TestRandomInt(&r, NHERD);
    s->season[k] = TestRandomInt(&r, NSEASON);
    /* the first records belong to the animals that are not in the pedigree, so each has one */
    s->animal[k]  = k < NDATAONLY ? NPED + k : (TestRandomUniform(&r) < 0.03 ? NPED + TestRandomInt(&r, NDATAONLY) : 16 + TestRandomInt(&r, NPED - 16));
    s->litter[k]  = TestRandomInt(&r, NLITTER);
    s->age[k]     = floor(500 + 60 * TestRandomNormal(&r));
    s->days[k]    = floor(30 + 10 * TestRandomUniform(&r));
    s->dim[k]     = 5 + TestRandomInt(&r, 300);
    s->weight[k]  = 0.5 + 1.5 * TestRandomUniform(&r);
    s->missing[k] = k >= NDATAONLY && TestRandomUniform(&r) < 0.03;
    s->y[k]       = 20 + herd_effect[s->herd[k]] + season_effect[s->season[k]] + 0.01 * s->age[k] + 0.05 * s->days[k] * (s->herd[k] % 3) - 0.002 * s->dim[k] +
              u[s->animal[k]] + litter_effect[s->litter[k]] + sqrt(sigma2e) * TestRandomNormal(&r);
  }
  /* pedigree file: shuffled, without header, some founders that are parents left out */
  for (PetscInt i = 0; i < NPED; i++) {
    PetscBool parent = PETSC_FALSE;
    for (PetscInt j = 0; j < NPED; j++) parent = parent || s->sire[j] == i || s->dam[j] == i;
    if (i < 16 && i % 4 == 0 && parent) {
      s->omitted++;
      continue;
    }
    order[nlines++] = i;
  }
  TestShuffle(&r, order, nlines);
  snprintf(path, sizeof(path), "%s/pedigree.txt", work_dir);
  fp = fopen(path, "w");
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
  for (PetscInt k = 0; k < nlines; k++) {
    PetscInt i = order[k];
    fprintf(fp, "%s %s %s\n", s->id[i], s->sire[i] >= 0 ? s->id[s->sire[i]] : "0", s->dam[i] >= 0 ? s->id[s->dam[i]] : "0");
  }
  fclose(fp);
  snprintf(path, sizeof(path), "%s/data.txt", work_dir);
  fp = fopen(path, "w");
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
  fprintf(fp, "animal herd season litter age days dim w y\n");
  for (PetscInt k = 0; k < NRECORDS; k++) {
    fprintf(fp, "%s H%02d %s L%02d %g %g %g %.17g ", s->id[s->animal[k]], (int)s->herd[k] + 1, season_names[s->season[k]], (int)s->litter[k] + 1, s->age[k],
            s->days[k], s->dim[k], s->weight[k]);
    if (s->missing[k])
      fprintf(fp, "NA\n");
    else
      fprintf(fp, "%.17g\n", s->y[k]); /* all digits: the dense solve uses the same numbers */
  }
  fclose(fp);
  snprintf(path, sizeof(path), "%s/model.txt", work_dir);
  fp = fopen(path, "w");
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
  fprintf(fp,
          "data data.txt\npedigree pedigree.txt\ntrait y\nweight w\nfixed herd\nfixed season\ncovariate age\ncovariate days within herd as days_in_herd\n"
          "covariate dim legendre 2 within season as curve\nrandom animal pedigree %g\nrandom litter iid %g\nresidual %g\noutput solutions.h5\n",
          sigma2a, sigma2l, sigma2e);
  fclose(fp);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Unknowns of the dense system: herd, season, age, days by herd, curve by season (3 coefficients),
   animal (pedigree, then data-only), litter. */
#define OH 0
#define OS (OH + NHERD)
#define OA (OS + NSEASON)
#define OD (OA + 1)
#define OC (OD + NHERD)
#define OU (OC + 3 * NSEASON)
#define OL (OU + NPED + NDATAONLY)
#define NDENSE (OL + NLITTER)

/* The dense C and its solution X; *CDENSE (when not NULL) keeps C (free with PetscFree()). */
static PetscErrorCode DenseSolve(const Simulation *s, PetscReal x[], PetscReal **Cdense)
{
  PetscReal *C, *b, *A, w[9], lo = 1e300, hi = -1e300;
  PetscInt   col[9], nanimals = NPED + NDATAONLY;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc2(NDENSE * NDENSE, &C, NDENSE, &b));
  PetscCall(PetscMalloc1(nanimals * nanimals, &A));
  for (PetscInt k = 0; k < NRECORDS; k++) { /* the Legendre interval: dim's range over the records used */
    if (s->missing[k]) continue;
    lo = PetscMin(lo, s->dim[k]);
    hi = PetscMax(hi, s->dim[k]);
  }
  for (PetscInt k = 0; k < NRECORDS; k++) {
    PetscReal x;
    if (s->missing[k]) continue;
    x      = 2 * (s->dim[k] - lo) / (hi - lo) - 1;
    col[0] = OH + s->herd[k];
    col[1] = OS + s->season[k];
    col[2] = OA;
    col[3] = OU + s->animal[k];
    col[4] = OL + s->litter[k];
    col[5] = OD + s->herd[k];
    col[6] = OC + 3 * s->season[k];
    col[7] = OC + 3 * s->season[k] + 1;
    col[8] = OC + 3 * s->season[k] + 2;
    w[0] = w[1] = w[3] = w[4] = 1;
    w[2]                      = s->age[k];
    w[5]                      = s->days[k];
    w[6]                      = PetscSqrtReal(0.5); /* normalized Legendre: sqrt((2k+1)/2) P_k */
    w[7]                      = PetscSqrtReal(1.5) * x;
    w[8]                      = PetscSqrtReal(2.5) * 0.5 * (3 * x * x - 1);
    for (int i = 0; i < 9; i++) {
      b[col[i]] += w[i] * s->weight[k] * s->y[k] / sigma2e;
      for (int j = 0; j < 9; j++) C[col[i] * NDENSE + col[j]] += w[i] * w[j] * s->weight[k] / sigma2e;
    }
  }
  /* A of the pedigree animals and the data-only founders (parents before progeny in this numbering) */
  PetscCall(TestTabularA(nanimals, s->sire, s->dam, A));
  PetscCall(TestInverseSPD(nanimals, A));
  for (PetscInt i = 0; i < nanimals; i++)
    for (PetscInt j = 0; j < nanimals; j++) C[(OU + i) * NDENSE + OU + j] += A[i * nanimals + j] / sigma2a;
  for (PetscInt l = 0; l < NLITTER; l++) C[(OL + l) * NDENSE + OL + l] += 1.0 / sigma2l;
  PetscCall(TestSolvePSD(NDENSE, C, b, x));
  if (Cdense) {
    PetscCall(PetscMalloc1(NDENSE * NDENSE, Cdense));
    PetscCall(PetscArraycpy(*Cdense, C, NDENSE * NDENSE));
  }
  PetscCall(PetscFree2(C, b));
  PetscCall(PetscFree(A));
  PetscFunctionReturn(PETSC_SUCCESS);
}

typedef struct {
  PetscInt   n, ntraits;
  char     **labels;
  PetscReal *values, *inbreeding;
} Solution;

static PetscReal Lookup(const Solution *e, const char label[], PetscBool *found)
{
  for (PetscInt l = 0; l < e->n; l++)
    if (!strcmp(e->labels[l], label)) {
      *found = PETSC_TRUE;
      return e->values[l];
    }
  *found = PETSC_FALSE;
  return 0;
}

static PetscBool Close(PetscReal a, PetscReal b)
{
  return PetscAbsReal(a - b) <= 1e-8 * PetscMax(1.0, PetscAbsReal(b)) ? PETSC_TRUE : PETSC_FALSE;
}

static PetscErrorCode Compare(TestCounter *c, const Simulation *s, const PetscReal x[], const char path[])
{
  Solution  herd, season, age, animal, litter;
  char      label[32], label0[32];
  PetscBool found, found0, ok;
  PetscReal worst, curve0_winter = 0;

  PetscFunctionBeginUser;
  PetscCall(OutputReadEffect(path, "herd", &herd.n, &herd.ntraits, &herd.labels, &herd.values, NULL));
  PetscCall(OutputReadEffect(path, "season", &season.n, &season.ntraits, &season.labels, &season.values, NULL));
  PetscCall(OutputReadEffect(path, "age", &age.n, &age.ntraits, &age.labels, &age.values, NULL));
  {
    /* the nested regressions: days within each herd, and the curve's coefficients 1 and 2 within each
       season (coefficient 0 repeats the season effect: only its sum with the season is estimable) */
    Solution  days, curve;
    PetscBool okd = PETSC_TRUE, okc = PETSC_TRUE;
    PetscCall(OutputReadEffect(path, "days_in_herd", &days.n, &days.ntraits, &days.labels, &days.values, NULL));
    PetscCall(OutputReadEffect(path, "curve", &curve.n, &curve.ntraits, &curve.labels, &curve.values, NULL));
    for (PetscInt h = 0; h < NHERD; h++) {
      snprintf(label, sizeof(label), "H%02d", (int)h + 1);
      okd = okd && Close(Lookup(&days, label, &found), x[OD + h]) && found;
    }
    TestCheck(c, okd && days.n == NHERD, "days nested within herd: the %d regressions agree", NHERD);
    for (PetscInt k = 0; k < NSEASON; k++) {
      PetscInt l, l0;
      for (l = 0; l < curve.n && strcmp(curve.labels[l], season_names[k]); l++) {}
      for (l0 = 0; l0 < curve.n && strcmp(curve.labels[l0], season_names[0]); l0++) {}
      okc = okc && l < curve.n && l0 < curve.n && curve.ntraits == 3 && Close(curve.values[l * 3 + 1], x[OC + 3 * k + 1]) &&
            Close(curve.values[l * 3 + 2], x[OC + 3 * k + 2]);
      /* the constant coefficient repeats the season: (season + sqrt(1/2) c0) differences are estimable */
      okc = okc && Close(Lookup(&season, season_names[k], &found) + PetscSqrtReal(0.5) * curve.values[l * 3] - Lookup(&season, season_names[0], &found0) -
                             PetscSqrtReal(0.5) * curve.values[l0 * 3],
                         x[OS + k] + PetscSqrtReal(0.5) * x[OC + 3 * k] - x[OS] - PetscSqrtReal(0.5) * x[OC]);
    }
    TestCheck(c, okc, "the lactation curve within season: coefficients 1 and 2, and season + constant differences, of the %d seasons agree", NSEASON);
    /* the constant of the winter curve, for the cell mean below */
    for (PetscInt l = 0; l < curve.n; l++)
      if (!strcmp(curve.labels[l], "winter")) curve0_winter = PetscSqrtReal(0.5) * curve.values[l * 3];
    PetscCall(PetscFree(days.labels));
    PetscCall(PetscFree(days.values));
    PetscCall(PetscFree(curve.labels));
    PetscCall(PetscFree(curve.values));
  }
  PetscCall(OutputReadEffect(path, "animal", &animal.n, &animal.ntraits, &animal.labels, &animal.values, &animal.inbreeding));
  PetscCall(OutputReadEffect(path, "litter", &litter.n, &litter.ntraits, &litter.labels, &litter.values, NULL));
  TestCheck(c, herd.n == NHERD && season.n == NSEASON && age.n == 1 && litter.n == NLITTER,
            "level counts %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT " %" PetscInt_FMT, herd.n, season.n, age.n, litter.n);
  TestCheck(c, animal.n == NPED + NDATAONLY, "animals %" PetscInt_FMT " = pedigree + data-only", animal.n);

  /* herd differences, against the first herd */
  snprintf(label0, sizeof(label0), "H%02d", 1);
  worst = 0;
  ok    = PETSC_TRUE;
  for (PetscInt h = 1; h < NHERD; h++) {
    PetscReal lib, dense = x[OH + h] - x[OH];
    snprintf(label, sizeof(label), "H%02d", (int)h + 1);
    lib   = Lookup(&herd, label, &found) - Lookup(&herd, label0, &found0);
    ok    = ok && found && found0 && Close(lib, dense);
    worst = PetscMax(worst, PetscAbsReal(lib - dense));
  }
  TestCheck(c, ok, "herd differences agree with the dense solve (largest difference %.3g)", (double)worst);
  {
    /* the first season in the data file is the constrained level: exactly 0 */
    PetscReal first = season.values[0];
    TestCheck(c, first == 0.0, "the constrained season level '%s' is written as 0 (%g)", season.labels[0], (double)first);
  }
  TestCheck(c, Close(age.values[0], x[OA]) && !strcmp(age.labels[0], "age"), "regression on age %.12g, dense %.12g", (double)age.values[0], (double)x[OA]);
  {
    /* an estimable cell mean: herd 1 + winter + its curve's constant + 500 * age */
    PetscReal lib   = Lookup(&herd, "H01", &found) + Lookup(&season, "winter", &found0) + curve0_winter + 500 * age.values[0];
    PetscReal dense = x[OH] + x[OS] + PetscSqrtReal(0.5) * x[OC] + 500 * x[OA];
    TestCheck(c, found && found0 && Close(lib, dense), "cell mean H01 winter age 500: %.12g, dense %.12g", (double)lib, (double)dense);
  }
  worst = 0;
  ok    = PETSC_TRUE;
  for (PetscInt i = 0; i < NPED + NDATAONLY; i++) {
    PetscReal lib = Lookup(&animal, s->id[i], &found);
    ok            = ok && found && Close(lib, x[OU + i]);
    worst         = PetscMax(worst, PetscAbsReal(lib - x[OU + i]));
  }
  TestCheck(c, ok, "all %d animal solutions agree (largest difference %.3g)", NPED + NDATAONLY, (double)worst);
  worst = 0;
  ok    = PETSC_TRUE;
  for (PetscInt l = 0; l < NLITTER; l++) {
    PetscReal lib;
    snprintf(label, sizeof(label), "L%02d", (int)l + 1);
    lib   = Lookup(&litter, label, &found);
    ok    = ok && found && Close(lib, x[OL + l]);
    worst = PetscMax(worst, PetscAbsReal(lib - x[OL + l]));
  }
  TestCheck(c, ok, "all litter solutions agree (largest difference %.3g)", (double)worst);
  {
    PetscInt data_only_inbred = 0;
    for (PetscInt l = 0; l < animal.n; l++)
      if (animal.labels[l][0] == 'D' && animal.inbreeding[l] != 0) data_only_inbred++;
    TestCheck(c, data_only_inbred == 0, "animals with records only are non-inbred founders");
  }
  PetscCall(PetscFree(herd.labels));
  PetscCall(PetscFree(herd.values));
  PetscCall(PetscFree(season.labels));
  PetscCall(PetscFree(season.values));
  PetscCall(PetscFree(age.labels));
  PetscCall(PetscFree(age.values));
  PetscCall(PetscFree(animal.labels));
  PetscCall(PetscFree(animal.values));
  PetscCall(PetscFree(animal.inbreeding));
  PetscCall(PetscFree(litter.labels));
  PetscCall(PetscFree(litter.values));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* With -pev: the prediction error variances of the animals and litters (the diagonal of the inverse
   of the dense C, made full rank by dropping one season equation: the random effects' block of a
   generalized inverse does not depend on which), and the animals' reliabilities 1 - PEV / ((1 + F) sigma2a). */
/* The identities of the lecture notes (TestMixedModelIdentities()) with the MME solution X of DenseSolve(),
   which the library's output matches (Compare()): records as rows, the dense unknowns as columns. */
static PetscErrorCode CompareIdentities(TestCounter *c, const Simulation *s, const PetscReal x[])
{
  const PetscInt p = OU, q = NPED + NDATAONLY + NLITTER, nanimals = NPED + NDATAONLY;
  PetscInt       n = 0, *rec;
  PetscReal     *X, *Z, *G, *R, *y, *A, lo = 1e300, hi = -1e300;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(NRECORDS, &rec));
  for (PetscInt k = 0; k < NRECORDS; k++)
    if (!s->missing[k]) {
      rec[n++] = k;
      lo       = PetscMin(lo, s->dim[k]);
      hi       = PetscMax(hi, s->dim[k]);
    }
  PetscCall(PetscCalloc5(n * p, &X, n * q, &Z, q * q, &G, n * n, &R, n, &y));
  PetscCall(PetscMalloc1(nanimals * nanimals, &A));
  for (PetscInt i = 0; i < n; i++) {
    PetscInt  k = rec[i];
    PetscReal t = 2 * (s->dim[k] - lo) / (hi - lo) - 1;
    X[i * p + OH + s->herd[k]]           = 1;
    X[i * p + OS + s->season[k]]         = 1;
    X[i * p + OA]                        = s->age[k];
    X[i * p + OD + s->herd[k]]           = s->days[k];
    X[i * p + OC + 3 * s->season[k]]     = PetscSqrtReal(0.5);
    X[i * p + OC + 3 * s->season[k] + 1] = PetscSqrtReal(1.5) * t;
    X[i * p + OC + 3 * s->season[k] + 2] = PetscSqrtReal(2.5) * 0.5 * (3 * t * t - 1);
    Z[i * q + s->animal[k]]              = 1;
    Z[i * q + nanimals + s->litter[k]]   = 1;
    R[i * n + i]                         = sigma2e / s->weight[k];
    y[i]                                 = s->y[k];
  }
  PetscCall(TestTabularA(nanimals, s->sire, s->dam, A));
  for (PetscInt i = 0; i < nanimals; i++)
    for (PetscInt j = 0; j < nanimals; j++) G[i * q + j] = sigma2a * A[i * nanimals + j];
  for (PetscInt l = nanimals; l < q; l++) G[l * q + l] = sigma2l;
  PetscCall(TestMixedModelIdentities(c, n, p, q, X, Z, G, R, y, x, x + OU));
  PetscCall(PetscFree5(X, Z, G, R, y));
  PetscCall(PetscFree(A));
  PetscCall(PetscFree(rec));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* With -pev sample: the estimate of each PEV has the relative standard error sqrt(2 / N); the mean of the
   squared standardised errors must be near 1 and none far out. */
static void SampledError(PetscReal estimate, PetscReal exact, PetscInt nsamples, PetscReal *sum_z2, PetscReal *max_z)
{
  PetscReal z = (estimate - exact) / (exact * PetscSqrtReal(2.0 / nsamples));
  *sum_z2 += z * z;
  *max_z = PetscMax(*max_z, PetscAbsReal(z));
}

static PetscErrorCode ComparePEV(TestCounter *c, const Simulation *s, PetscReal C[], const char path[])
{
  char      method[32] = "exact";
  PetscInt  nsamples   = 100, count = 0;
  PetscReal sum_z2 = 0, max_z = 0;
  PetscBool sampled;
  const PetscInt n = NDENSE - 1, drop = OS;
  PetscReal     *Cr, worst = 0, worst_rel = 0;
  PetscInt       nlevels, ncolumns;
  char         **labels;
  PetscReal     *values, *inbreeding, *pev, *rel;
  PetscBool      ok = PETSC_TRUE;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(n * n, &Cr));
  for (PetscInt i = 0, ii = 0; i < NDENSE; i++) {
    if (i == drop) continue;
    for (PetscInt j = 0, jj = 0; j < NDENSE; j++) {
      if (j == drop) continue;
      Cr[ii * n + jj++] = C[i * NDENSE + j];
    }
    ii++;
  }
  PetscCall(TestInverseSPD(n, Cr)); /* equations after DROP move up by one */
  PetscCall(PetscOptionsGetString(NULL, NULL, "-pev", method, sizeof(method), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-pev_samples", &nsamples, NULL));
  sampled = strcmp(method, "sample") ? PETSC_FALSE : PETSC_TRUE;
  PetscCall(OutputReadEffect(path, "animal", &nlevels, &ncolumns, &labels, &values, &inbreeding));
  PetscCall(OutputReadEffectDataset(path, "animal", "pev", &nlevels, &ncolumns, &pev));
  PetscCall(OutputReadEffectDataset(path, "animal", "reliability", &nlevels, &ncolumns, &rel));
  for (PetscInt i = 0; i < NPED + NDATAONLY; i++) {
    PetscInt  q = OU + i - 1, l = -1;
    PetscReal dense;
    for (PetscInt k = 0; k < nlevels; k++)
      if (!strcmp(labels[k], s->id[i])) l = k;
    if (l < 0) {
      ok = PETSC_FALSE;
      continue;
    }
    dense = Cr[q * n + q];
    if (sampled) {
      SampledError(pev[l], dense, nsamples, &sum_z2, &max_z);
      count++;
    } else ok = ok && Close(pev[l], dense);
    ok        = ok && Close(rel[l], 1 - pev[l] / ((1 + inbreeding[l]) * sigma2a));
    worst     = PetscMax(worst, PetscAbsReal(pev[l] - dense));
    worst_rel = PetscMax(worst_rel, PetscAbsReal(rel[l] - (1 - pev[l] / ((1 + inbreeding[l]) * sigma2a))));
  }
  TestCheck(c, ok, "animal PEV %s diag of the dense inverse (largest difference %.3g), reliabilities 1 - PEV / ((1 + F) sigma2a) (%.3g)",
            sampled ? "sampled, against the" : "=", (double)worst, (double)worst_rel);
  PetscCall(PetscFree(labels));
  PetscCall(PetscFree(values));
  PetscCall(PetscFree(inbreeding));
  PetscCall(PetscFree(pev));
  PetscCall(PetscFree(rel));
  PetscCall(OutputReadEffect(path, "litter", &nlevels, &ncolumns, &labels, &values, NULL));
  PetscCall(OutputReadEffectDataset(path, "litter", "pev", &nlevels, &ncolumns, &pev));
  worst = 0;
  ok    = PETSC_TRUE;
  for (PetscInt l = 0; l < NLITTER; l++) {
    char      label[32];
    PetscInt  k = -1, q = OL + l - 1;
    PetscReal dense = Cr[q * n + q];
    snprintf(label, sizeof(label), "L%02d", (int)l + 1);
    for (PetscInt m = 0; m < nlevels; m++)
      if (!strcmp(labels[m], label)) k = m;
    ok = ok && k >= 0;
    if (k < 0) continue;
    if (sampled) {
      SampledError(pev[k], dense, nsamples, &sum_z2, &max_z);
      count++;
    } else ok = ok && Close(pev[k], dense);
    worst = PetscMax(worst, PetscAbsReal(pev[k] - dense));
  }
  TestCheck(c, ok, "litter PEV %s diag of the dense inverse (largest difference %.3g)", sampled ? "found, against the" : "=", (double)worst);
  if (sampled)
    TestCheck(c, count > 100 && sum_z2 / count > 0.5 && sum_z2 / count < 1.5 && max_z < 5,
              "%" PetscInt_FMT " sampled PEVs (%" PetscInt_FMT " samples) against the exact ones: mean squared standardised error %.3f (1 expected), largest %.2f",
              count, nsamples, (double)(sum_z2 / count), (double)max_z);
  PetscCall(PetscFree(labels));
  PetscCall(PetscFree(values));
  PetscCall(PetscFree(pev));
  PetscCall(PetscFree(Cr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  TestCounter   c = {0, 0};
  int           code;
  PetscMPIInt   rank;
  Simulation   *s;
  Evaluation    ev;
  char          model[HENDERSON_MAX_PATH + 32], output[HENDERSON_MAX_PATH + 32];
  SolverResult  result;
  PedigreeStats pstats;
  Pedigree      pedigree;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(HendersonErrorInitialize());
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-work", work_dir, sizeof(work_dir), NULL));
  PetscCall(TestMakeDirectory(PETSC_COMM_WORLD, work_dir));
  PetscCall(PetscNew(&s));
  if (rank == 0) PetscCall(Simulate(s));
  PetscCallMPI(MPI_Bcast(&s->omitted, 1, MPIU_INT, 0, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));

  snprintf(model, sizeof(model), "%s/model.txt", work_dir);
  snprintf(output, sizeof(output), "%s/solutions.h5", work_dir);
  PetscCall(EvaluationCreate(PETSC_COMM_WORLD, &ev));
  PetscCall(EvaluationRun(ev, model));
  PetscCall(EvaluationGetSolverResult(ev, &result));
  PetscCall(EvaluationGetPedigree(ev, &pedigree));
  PetscCall(PedigreeGetStats(pedigree, &pstats));
  TestCheck(&c, result.converged && result.relative_residual < 1e-12, "converged, relative residual %.3g", (double)result.relative_residual);
  TestCheck(&c, pstats.parents_added == s->omitted && pstats.data_added == NDATAONLY,
            "founders added: %" PetscInt_FMT " parents not listed, %" PetscInt_FMT " data-only", pstats.parents_added, pstats.data_added);
  PetscCall(EvaluationView(ev, PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(EvaluationDestroy(&ev));
  if (rank == 0) {
    PetscReal *x, *C = NULL;
    PetscBool  pev;
    PetscCall(PetscOptionsHasName(NULL, NULL, "-pev", &pev));
    PetscCall(PetscMalloc1(NDENSE, &x));
    PetscCall(DenseSolve(s, x, pev ? &C : NULL));
    PetscCall(Compare(&c, s, x, output));
    if (pev) PetscCall(ComparePEV(&c, s, C, output));
    else PetscCall(CompareIdentities(&c, s, x));
    PetscCall(PetscFree(x));
    PetscCall(PetscFree(C));
  }
  PetscCall(PetscFree(s));
  code = TestFinish(PETSC_COMM_WORLD, &c, "test_mme");
  PetscCall(HendersonErrorFinalize());
  PetscCall(PetscFinalize());
  return code;
}
