/* Social (indirect) genetic effects against an independent dense solve.

   Rank 0 simulates a pedigree of 400 animals and puts animals 60..399, ten animals that are not in the
   pedigree and two members without an animal ID into pens of 4 to 12 (sizes drawn at random). A
   member's record receives its own direct genetic effect and the social effects of all its pen mates,
   each times (1/(n-1))^d (d = -dilution, 0 or 1); one member in ten has no record (it still acts on its
   mates), three records have no pen (NA: no mates; for the iid pen effect "NA" is a level like any other). Model: sex (fixed), the pen (iid), direct and social
   genetic effects with a 2 x 2 G0 (trait count -traits 1 or 2: then G0 is 4 x 4 over (direct, social) x traits and the second trait is missing on one record in
   five).

   Every rank runs the evaluation; rank 0 builds the MME densely from its own arrays (Z_social with the
   mates' coefficients, A by the tabular method, R0 over the traits each record has) and compares:
   the written solutions solve the dense equations, the sex difference, the pens, direct and social values
   of every animal, the total breeding value direct + (n-1)^(1-d) social (n = 8, the model's `size`), the
   summary counts, and the identities of the notes (BLUE = GLS, BLUP = G Z'V^-1 (y - X b), Cholesky); with
   -pev exact the PEVs of direct, social and total values against the dense inverse (-pev sample: within
   the sampling error). With -reml (one
   trait): AI-REML rounds (-reml_max_it) for the pen, direct-social and residual (co)variances; at the
   last estimates its log L must equal the dense -1/2 [log|V| + log|X'V^-1X| + y'Py], its gradient the
   central differences of that, its AI^-1 the inverse of the dense 1/2 (dV_k P y)' P (dV_l P y), and the
   solutions must solve the dense equations built with the estimates. (Run to convergence, REML on this
   small data set goes to the boundary -- a direct-social correlation of -1 -- which AI-REML does not
   reach: README, limitations.) */
#include "testing.h"
#include <math.h>
#include <string.h>

static char work_dir[HENDERSON_MAX_PATH] = ".";

#define NPED 400 /* pedigree animals a0..a399 */
#define NX 10    /* x0..x9: members not in the pedigree */
#define NA (NPED + NX)
#define FIRST 60                   /* a60.. are in pens */
#define NM (NPED - FIRST + NX + 2) /* members: the two last without an animal ID */
#define NOPEN 3                    /* records without a pen (a57..a59) */
#define SIZE 8                     /* n of the total breeding value */

static PetscInt     ntraits  = 1;
static PetscReal    dilution = 0;
static double       G0[4][4]; /* (direct t1, [direct t2,] social t1, [social t2]) */
static const double G1[2][2] = {{1.0, -0.3}, {-0.3, 0.4}},
                    G2[4][4] = {{1.0, 0.4, -0.3, -0.1}, {0.4, 0.8, -0.1, -0.2}, {-0.3, -0.1, 0.4, 0.1}, {-0.1, -0.2, 0.1, 0.3}};
static double R0[2][2]       = {{3.0, 0.8}, {0.8, 2.0}};
static double PEN            = 0.5; /* both replaced by the estimates with -reml */

typedef struct {
  PetscInt  sire[NA], dam[NA];
  PetscInt  npens, pen_of[NM], animal[NM], sex[NM]; /* animal -1: no ID */
  PetscBool has[NM][2];
  double    y[NM][2];
  PetscInt  open_sex[NOPEN];
  double    open_y[NOPEN][2];
} Simulation;

static PetscInt Dim(void)
{
  return 2 * ntraits;
}

static PetscErrorCode Simulate(Simulation *s)
{
  TestRandom r;
  char       path[HENDERSON_MAX_PATH + 32];
  FILE      *fp;
  double     a[NA][4], pen[NM], sexeffect[2][2] = {{0, 0}, {1.5, -0.7}};
  PetscInt   order[NM], m = 0;

  PetscFunctionBeginUser;
  TestRandomSeed(&r, 4242);
  for (PetscInt i = 0; i < NA; i++) {
    s->sire[i] = s->dam[i] = -1;
    if (i >= 20 && i < NPED) {
      PetscInt half = i / 2;
      if (TestRandomUniform(&r) > 0.1) s->sire[i] = 2 * (half - 1 - TestRandomInt(&r, PetscMin(half, 15))) + 1;
      if (TestRandomUniform(&r) > 0.1) s->dam[i] = 2 * (half - 1 - TestRandomInt(&r, PetscMin(half, 15)));
    }
    for (PetscInt p = 0; p < Dim(); p++) {
      double avg = (s->sire[i] >= 0 ? 0.5 * a[s->sire[i]][p] : 0) + (s->dam[i] >= 0 ? 0.5 * a[s->dam[i]][p] : 0);
      a[i][p]    = avg + sqrt(0.5 * G0[p][p]) * TestRandomNormal(&r);
    }
  }
  /* members in a random order, cut into pens of 4..12 */
  for (PetscInt k = 0; k < NM; k++) order[k] = k;
  TestShuffle(&r, order, NM);
  s->npens = 0;
  while (m < NM) {
    PetscInt n = 4 + TestRandomInt(&r, 9);
    if (NM - m - n < 4) n = NM - m;
    for (PetscInt k = 0; k < n; k++) s->pen_of[order[m + k]] = s->npens;
    pen[s->npens++] = sqrt(PEN) * TestRandomNormal(&r);
    m += n;
  }
  for (PetscInt k = 0; k < NM; k++) {
    s->animal[k] = k < NPED - FIRST ? FIRST + k : k < NPED - FIRST + NX ? NPED + k - (NPED - FIRST) : -1;
    s->sex[k]    = TestRandomInt(&r, 2);
    s->has[k][0] = TestRandomUniform(&r) >= 0.1 ? PETSC_TRUE : PETSC_FALSE;
    s->has[k][1] = ntraits == 2 && s->has[k][0] && TestRandomUniform(&r) >= 0.2 ? PETSC_TRUE : PETSC_FALSE;
  }
  for (PetscInt k = 0; k < NM; k++)
    for (PetscInt t = 0; t < ntraits; t++) {
      PetscInt n      = 0;
      double   social = 0;
      for (PetscInt j = 0; j < NM; j++)
        if (j != k && s->pen_of[j] == s->pen_of[k]) {
          n++;
          if (s->animal[j] >= 0) social += a[s->animal[j]][ntraits + t];
        }
      s->y[k][t] = 20 + sexeffect[s->sex[k]][t] + pen[s->pen_of[k]] + (s->animal[k] >= 0 ? a[s->animal[k]][t] : 0) + pow(1.0 / n, dilution) * social +
                   sqrt(R0[t][t]) * TestRandomNormal(&r);
    }
  for (PetscInt k = 0; k < NOPEN; k++) {
    s->open_sex[k] = k % 2;
    for (PetscInt t = 0; t < 2; t++) s->open_y[k][t] = 20 + sexeffect[k % 2][t] + a[FIRST - NOPEN + k][t] + TestRandomNormal(&r);
  }
  snprintf(path, sizeof(path), "%s/pedigree.txt", work_dir);
  fp = fopen(path, "w");
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
  for (PetscInt i = NPED - 1; i >= 0; i--) {
    char sire[16] = "0", dam[16] = "0";
    if (s->sire[i] >= 0) snprintf(sire, sizeof(sire), "a%d", (int)s->sire[i]);
    if (s->dam[i] >= 0) snprintf(dam, sizeof(dam), "a%d", (int)s->dam[i]);
    fprintf(fp, "a%d %s %s\n", (int)i, sire, dam);
  }
  fclose(fp);
  snprintf(path, sizeof(path), "%s/data.txt", work_dir);
  fp = fopen(path, "w");
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
  fprintf(fp, "animal sex pen y1%s\n", ntraits == 2 ? " y2" : "");
  for (PetscInt k = 0; k < NM; k++) {
    PetscInt i = s->animal[k];
    if (i < 0)
      fprintf(fp, "0");
    else if (i < NPED)
      fprintf(fp, "a%d", (int)i);
    else
      fprintf(fp, "x%d", (int)(i - NPED));
    fprintf(fp, " %s p%d", s->sex[k] ? "M" : "F", (int)s->pen_of[k]);
    for (PetscInt t = 0; t < ntraits; t++) {
      if (s->has[k][t])
        fprintf(fp, " %.17g", s->y[k][t]);
      else
        fprintf(fp, " NA");
    }
    fprintf(fp, "\n");
  }
  for (PetscInt k = 0; k < NOPEN; k++) {
    fprintf(fp, "a%d %s NA", (int)(FIRST - NOPEN + k), s->open_sex[k] ? "M" : "F");
    for (PetscInt t = 0; t < ntraits; t++) fprintf(fp, " %.17g", s->open_y[k][t]);
    fprintf(fp, "\n");
  }
  fclose(fp);
  snprintf(path, sizeof(path), "%s/model.txt", work_dir);
  fp = fopen(path, "w");
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
  fprintf(fp, "data data.txt\npedigree pedigree.txt\ntrait y1\n%sfixed sex\nrandom pen iid %g%s\nrandom animal pedigree social pen dilution %g size %d",
          ntraits == 2 ? "trait y2\n" : "", PEN, ntraits == 2 ? " 0 0.5" : "", (double)dilution, SIZE);
  for (PetscInt i = 0; i < Dim(); i++)
    for (PetscInt j = 0; j <= i; j++) fprintf(fp, " %g", G0[i][j]);
  fprintf(fp, " as direct social\nresidual");
  for (PetscInt i = 0; i < ntraits; i++)
    for (PetscInt j = 0; j <= i; j++) fprintf(fp, " %g", R0[i][j]);
  fprintf(fp, "\noutput solutions.h5\n");
  fclose(fp);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Unknowns of the dense system: sex (2 x t), pen (npens x t), then per animal (direct t.., social t..). */
#define OSEX 0
static PetscInt OPen(void)
{
  return 2 * ntraits;
}
static PetscInt OAnimal(const Simulation *s) /* the pens, and "NA" of the records without one: a level of the iid pen effect */
{
  return OPen() + (s->npens + 1) * ntraits;
}
static PetscInt NDense(const Simulation *s)
{
  return OAnimal(s) + NA * Dim();
}

/* The observations as rows of X (p columns) and Z (q columns), with their record and trait. */
static PetscErrorCode DenseDesign(const Simulation *s, PetscInt *nobs, PetscReal **X, PetscReal **Z, PetscReal **y, PetscInt **record, PetscInt **trait)
{
  const PetscInt p = OPen(), q = NDense(s) - p;
  PetscInt       n = 0, k = 0;

  PetscFunctionBeginUser;
  for (PetscInt r = 0; r < NM; r++)
    for (PetscInt t = 0; t < ntraits; t++) n += s->has[r][t] ? 1 : 0;
  n += NOPEN * ntraits;
  PetscCall(PetscCalloc3(n * p, X, n * q, Z, n, y));
  PetscCall(PetscMalloc2(n, record, n, trait));
  for (PetscInt r = 0; r < NM; r++)
    for (PetscInt t = 0; t < ntraits; t++) {
      PetscInt nmates = 0;
      if (!s->has[r][t]) continue;
      for (PetscInt j = 0; j < NM; j++) nmates += j != r && s->pen_of[j] == s->pen_of[r] ? 1 : 0;
      (*X)[k * p + OSEX + 2 * t + s->sex[r]]                = 1;
      (*Z)[k * q + OPen() - p + s->pen_of[r] * ntraits + t] = 1;
      if (s->animal[r] >= 0) (*Z)[k * q + OAnimal(s) - p + s->animal[r] * Dim() + t] = 1;
      for (PetscInt j = 0; j < NM; j++)
        if (j != r && s->pen_of[j] == s->pen_of[r] && s->animal[j] >= 0)
          (*Z)[k * q + OAnimal(s) - p + s->animal[j] * Dim() + ntraits + t] += pow(1.0 / nmates, dilution);
      (*y)[k]       = s->y[r][t];
      (*record)[k]  = r;
      (*trait)[k++] = t;
    }
  for (PetscInt r = 0; r < NOPEN; r++)
    for (PetscInt t = 0; t < ntraits; t++) {
      (*X)[k * p + OSEX + 2 * t + s->open_sex[r]]                    = 1;
      (*Z)[k * q + OPen() - p + s->npens * ntraits + t]              = 1;
      (*Z)[k * q + OAnimal(s) - p + (FIRST - NOPEN + r) * Dim() + t] = 1;
      (*y)[k]                                                        = s->open_y[r][t];
      (*record)[k]                                                   = NM + r;
      (*trait)[k++]                                                  = t;
    }
  *nobs = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* G: the pen's I (x) PEN (per trait), A (x) G0 over the animals; R: R0 within a record. */
static PetscErrorCode Covariances(const Simulation *s, PetscInt n, const PetscInt record[], const PetscInt trait[], PetscReal **Gout, PetscReal **Rout)
{
  const PetscInt q = NDense(s) - OPen(), o = OAnimal(s) - OPen(), d = Dim();
  PetscReal     *G, *R, *A;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc2(q * q, &G, n * n, &R));
  PetscCall(PetscMalloc1(NA * NA, &A));
  for (PetscInt k = 0; k < (s->npens + 1) * ntraits; k++) G[k * q + k] = PEN;
  PetscCall(TestTabularA(NA, s->sire, s->dam, A));
  for (PetscInt i = 0; i < NA; i++)
    for (PetscInt j = 0; j < NA; j++)
      for (PetscInt a = 0; a < d; a++)
        for (PetscInt b = 0; b < d; b++) G[(o + i * d + a) * q + o + j * d + b] = G0[a][b] * A[i * NA + j];
  for (PetscInt a = 0; a < n; a++)
    for (PetscInt b = 0; b < n; b++)
      if (record[a] == record[b]) R[a * n + b] = R0[trait[a]][trait[b]];
  PetscCall(PetscFree(A));
  *Gout = G;
  *Rout = R;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* C = [X Z]' R^-1 [X Z] + diag(0, G^-1), b = [X Z]' R^-1 y. */
static PetscErrorCode DenseSystem(const Simulation *s, PetscInt n, const PetscReal X[], const PetscReal Z[], const PetscReal y[], const PetscReal G[],
                                  const PetscReal R[], PetscReal **Cout, PetscReal **bout)
{
  const PetscInt N = NDense(s), p = OPen(), q = N - p;
  PetscReal     *W, *Rinv, *Ginv, *RW, *C, *b;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc4(n * N, &W, n * n, &Rinv, q * q, &Ginv, n * N, &RW));
  PetscCall(PetscCalloc2(N * N, &C, N, &b));
  for (PetscInt k = 0; k < n; k++) {
    for (PetscInt j = 0; j < p; j++) W[k * N + j] = X[k * p + j];
    for (PetscInt j = 0; j < q; j++) W[k * N + p + j] = Z[k * q + j];
  }
  PetscCall(PetscArraycpy(Rinv, R, n * n));
  PetscCall(TestInverseSPD(n, Rinv));
  PetscCall(PetscArraycpy(Ginv, G, q * q));
  PetscCall(TestInverseSPD(q, Ginv));
  PetscCall(PetscArrayzero(RW, n * N));
  for (PetscInt a = 0; a < n; a++)
    for (PetscInt c = 0; c < n; c++) {
      PetscReal v = Rinv[a * n + c];
      if (v == 0) continue;
      for (PetscInt j = 0; j < N; j++) RW[a * N + j] += v * W[c * N + j];
    }
  for (PetscInt a = 0; a < n; a++)
    for (PetscInt i = 0; i < N; i++) {
      PetscReal w = W[a * N + i];
      if (w == 0) continue;
      for (PetscInt j = 0; j < N; j++) C[i * N + j] += w * RW[a * N + j];
      for (PetscInt c = 0; c < n; c++) b[i] += w * Rinv[a * n + c] * y[c];
    }
  for (PetscInt i = 0; i < q; i++)
    for (PetscInt j = 0; j < q; j++) C[(p + i) * N + p + j] += Ginv[i * q + j];
  PetscCall(PetscFree4(W, Rinv, Ginv, RW));
  *Cout = C;
  *bout = b;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static void AnimalLabel(PetscInt i, char label[], size_t size)
{
  if (i < NPED)
    snprintf(label, size, "a%d", (int)i);
  else
    snprintf(label, size, "x%d", (int)(i - NPED));
}

/* The written solutions in the dense unknowns (0 where the library has no equation). */
static PetscErrorCode Gather(const Simulation *s, const char path[], PetscReal x[])
{
  TestSolution sex, pen, direct, social;
  char         label[32];

  PetscFunctionBeginUser;
  PetscCall(TestSolutionLoad(path, "sex", NULL, &sex));
  PetscCall(TestSolutionLoad(path, "pen", NULL, &pen));
  PetscCall(TestSolutionLoad(path, "direct", NULL, &direct));
  PetscCall(TestSolutionLoad(path, "social", NULL, &social));
  for (PetscInt t = 0; t < ntraits; t++) {
    x[OSEX + 2 * t]     = TestSolutionGet(&sex, "F", t);
    x[OSEX + 2 * t + 1] = TestSolutionGet(&sex, "M", t);
    for (PetscInt g = 0; g < s->npens; g++) {
      snprintf(label, sizeof(label), "p%d", (int)g);
      x[OPen() + g * ntraits + t] = TestSolutionGet(&pen, label, t);
    }
    x[OPen() + s->npens * ntraits + t] = TestSolutionGet(&pen, "NA", t);
    for (PetscInt i = 0; i < NA; i++) {
      AnimalLabel(i, label, sizeof(label));
      x[OAnimal(s) + i * Dim() + t]           = TestSolutionGet(&direct, label, t);
      x[OAnimal(s) + i * Dim() + ntraits + t] = TestSolutionGet(&social, label, t);
    }
  }
  PetscCall(TestSolutionDestroy(&sex));
  PetscCall(TestSolutionDestroy(&pen));
  PetscCall(TestSolutionDestroy(&direct));
  PetscCall(TestSolutionDestroy(&social));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Compare(TestCounter *c, const Simulation *s, const PetscReal C[], const PetscReal b[], const PetscReal x[], const char path[])
{
  const PetscInt N = NDense(s);
  PetscReal     *lib, worst = 0, bnorm = 0, k = pow(SIZE - 1.0, 1.0 - dilution);
  PetscBool      ok = PETSC_TRUE, finite = PETSC_TRUE;
  TestSolution   tbv;
  char           label[32];

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(N, &lib));
  PetscCall(Gather(s, path, lib));
  for (PetscInt i = 0; i < N; i++) finite = finite && !PetscIsNanReal(lib[i]) ? PETSC_TRUE : PETSC_FALSE;
  TestCheck(c, finite, "every sex, pen and animal (in the pedigree or not) has direct and social values");
  for (PetscInt i = 0; i < N; i++) {
    PetscReal r = b[i];
    for (PetscInt j = 0; j < N; j++) r -= C[i * N + j] * lib[j];
    worst = PetscMax(worst, PetscAbsReal(r));
    bnorm = PetscMax(bnorm, PetscAbsReal(b[i]));
  }
  TestCheck(c, worst <= 1e-8 * bnorm, "the solutions written solve the dense equations: largest residual %.3g, largest rhs %.3g", (double)worst, (double)bnorm);
  for (PetscInt t = 0; t < ntraits; t++)
    TestCheck(c, TestClose(lib[OSEX + 2 * t + 1] - lib[OSEX + 2 * t], x[OSEX + 2 * t + 1] - x[OSEX + 2 * t]), "sex difference, trait %d", (int)t + 1);
  for (PetscInt i = OPen(); i < OAnimal(s); i++) ok = ok && TestClose(lib[i], x[i]);
  TestCheck(c, ok, "the %" PetscInt_FMT " pens agree with the dense solve", s->npens);
  ok    = PETSC_TRUE;
  worst = 0;
  for (PetscInt i = OAnimal(s); i < N; i++) {
    ok    = ok && TestClose(lib[i], x[i]);
    worst = PetscMax(worst, PetscAbsReal(lib[i] - x[i]));
  }
  TestCheck(c, ok, "direct and social values of all %d animals agree with the dense solve (largest difference %.3g)", NA, (double)worst);
  PetscCall(TestSolutionLoad(path, "tbv", NULL, &tbv));
  ok = tbv.n == NA ? PETSC_TRUE : PETSC_FALSE;
  for (PetscInt i = 0; i < NA && ok; i++) {
    AnimalLabel(i, label, sizeof(label));
    for (PetscInt t = 0; t < ntraits; t++)
      ok = ok && TestClose(TestSolutionGet(&tbv, label, t), x[OAnimal(s) + i * Dim() + t] + k * x[OAnimal(s) + i * Dim() + ntraits + t]);
  }
  TestCheck(c, ok, "total breeding values = direct + %g x social (n = %d, dilution %g) of all animals", (double)k, SIZE, (double)dilution);
  PetscCall(TestSolutionDestroy(&tbv));
  PetscCall(PetscFree(lib));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* With -pev exact: PEV of direct, social and total values against the inverse of the dense C (full rank:
   sex is the only fixed effect). */
/* With -pev exact: PEV of direct, social and total values against the inverse of the dense C (full rank:
   sex is the only fixed effect). With -pev sample (Garcia-Cortes): each estimate has the relative standard
   error sqrt(2/N); the mean squared standardised error must be near 1 and none far out. */
static PetscErrorCode ComparePEV(TestCounter *c, const Simulation *s, const PetscReal C[], const char path[])
{
  const PetscInt N = NDense(s);
  PetscReal     *Ci, worst = 0, k = pow(SIZE - 1.0, 1.0 - dilution), sum_z2 = 0, max_z = 0;
  PetscInt       nsamples = 100, count = 0;
  TestSolution   direct, social, tbv;
  PetscBool      ok = PETSC_TRUE, sampled;
  char           label[32], method[16] = "exact";

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsGetString(NULL, NULL, "-pev", method, sizeof(method), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-pev_samples", &nsamples, NULL));
  sampled = strcmp(method, "sample") ? PETSC_FALSE : PETSC_TRUE;
  PetscCall(PetscMalloc1(N * N, &Ci));
  PetscCall(PetscArraycpy(Ci, C, N * N));
  PetscCall(TestInverseSPD(N, Ci));
  PetscCall(TestSolutionLoad(path, "direct", "pev", &direct));
  PetscCall(TestSolutionLoad(path, "social", "pev", &social));
  PetscCall(TestSolutionLoad(path, "tbv", "pev", &tbv));
  for (PetscInt i = 0; i < NA; i++) {
    AnimalLabel(i, label, sizeof(label));
    for (PetscInt t = 0; t < ntraits; t++) {
      PetscInt  d = OAnimal(s) + i * Dim() + t, so = d + ntraits;
      PetscReal exact[3] = {Ci[d * N + d], Ci[so * N + so], Ci[d * N + d] + k * k * Ci[so * N + so] + 2 * k * Ci[d * N + so]};
      PetscReal got[3]   = {TestSolutionGet(&direct, label, t), TestSolutionGet(&social, label, t), TestSolutionGet(&tbv, label, t)};
      for (int m = 0; m < 3; m++) {
        if (sampled) {
          PetscReal z = (got[m] - exact[m]) / (exact[m] * PetscSqrtReal(2.0 / nsamples));
          sum_z2 += z * z;
          max_z = PetscMax(max_z, PetscAbsReal(z));
          count++;
        } else
          ok = ok && TestClose(got[m], exact[m]);
        worst = PetscMax(worst, PetscAbsReal(got[m] - exact[m]));
      }
    }
  }
  if (sampled)
    TestCheck(c, sum_z2 / count > 0.5 && sum_z2 / count < 1.5 && max_z < 5.5,
              "%" PetscInt_FMT " sampled PEVs of direct, social and total values (%" PetscInt_FMT
              " samples) against the dense inverse: mean squared standardised error %.3f (1 expected), largest %.2f",
              count, nsamples, (double)(sum_z2 / count), (double)max_z);
  else
    TestCheck(c, ok, "PEV of direct, social and total values of all animals agree with the dense inverse (largest difference %.3g)", (double)worst);
  PetscCall(TestSolutionDestroy(&direct));
  PetscCall(TestSolutionDestroy(&social));
  PetscCall(TestSolutionDestroy(&tbv));
  PetscCall(PetscFree(Ci));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* -reml: at the library's last estimates, its log L, gradient and AI^-1 against the dense REML
   log-likelihood, its central differences and the dense average information. */
static PetscErrorCode CompareREML(TestCounter *c, const Simulation *s, PetscInt n, const PetscReal X[], const PetscReal Z[], const PetscReal y[],
                                  const PetscInt record[], const PetscInt trait[], const char path[])
{
  PetscReal logL, dense, *G, *R;
  double   *theta[5] = {&PEN, &G0[0][0], &G0[1][0], &G0[1][1], &R0[0][0]};
  PetscInt  p = OPen(), q = NDense(s) - OPen();

  PetscFunctionBeginUser;
  PetscCall(OutputReadAttribute(path, "/variance", "log_likelihood", &logL));
  PetscCall(Covariances(s, n, record, trait, &G, &R));
  PetscCall(TestREMLLogLikelihood(n, p, q, X, Z, G, R, y, &dense));
  PetscCall(PetscFree2(G, R));
  TestCheck(c, PetscAbsReal(logL - dense) <= 1e-6 * PetscAbsReal(dense), "REML log L %.10g = the dense -1/2 [log|V| + log|X'V^-1X| + y'Py] %.10g", (double)logL,
            (double)dense);
  { /* the gradient written against central differences of the dense log L */
    PetscReal *grad, worst = 0, scale = 0;
    PetscInt   rows, columns;
    PetscCall(OutputReadDataset(path, "/variance/gradient", &rows, &columns, &grad));
    for (PetscInt k = 0; k < 5 && rows == 5; k++) {
      double    keep = *theta[k], h = 1e-5 * PetscMax(PetscAbsReal(keep), 0.1);
      PetscReal up, down, fd;
      *theta[k] = keep + h;
      if (k == 2) G0[0][1] = G0[1][0];
      PetscCall(Covariances(s, n, record, trait, &G, &R));
      PetscCall(TestREMLLogLikelihood(n, p, q, X, Z, G, R, y, &up));
      PetscCall(PetscFree2(G, R));
      *theta[k] = keep - h;
      if (k == 2) G0[0][1] = G0[1][0];
      PetscCall(Covariances(s, n, record, trait, &G, &R));
      PetscCall(TestREMLLogLikelihood(n, p, q, X, Z, G, R, y, &down));
      PetscCall(PetscFree2(G, R));
      *theta[k] = keep;
      if (k == 2) G0[0][1] = G0[1][0];
      fd    = (up - down) / (2 * h);
      worst = PetscMax(worst, PetscAbsReal(fd - grad[k]));
      scale = PetscMax(scale, PetscAbsReal(fd));
      PetscCall(PetscInfo(NULL, "parameter %d: gradient %g, dense finite difference %g\n", (int)k, (double)grad[k], (double)fd));
    }
    TestCheck(c, rows == 5 && worst <= 1e-4 * PetscMax(scale, 1.0),
              "the gradient of log L (5 parameters) against central differences of the dense log L (largest difference %.3g, largest %.3g)", (double)worst,
              (double)scale);
    PetscCall(PetscFree(grad));
  }
  { /* the average information against the dense 1/2 (dV_k P y)' P (dV_l P y); G and R are linear in the
       parameters, so dG_k, dR_k are G, R at theta + e_k less G, R at theta */
    PetscReal *dG[5], *dR[5], AI[25], *ai_inverse, worst = 0, scale = 0;
    PetscInt   rows, columns;
    PetscCall(Covariances(s, n, record, trait, &G, &R));
    for (PetscInt k = 0; k < 5; k++) {
      double keep = *theta[k];
      *theta[k]   = keep + 1;
      if (k == 2) G0[0][1] = G0[1][0];
      PetscCall(Covariances(s, n, record, trait, &dG[k], &dR[k]));
      *theta[k] = keep;
      if (k == 2) G0[0][1] = G0[1][0];
      for (PetscInt i = 0; i < q * q; i++) dG[k][i] -= G[i];
      for (PetscInt i = 0; i < n * n; i++) dR[k][i] -= R[i];
    }
    PetscCall(TestREMLAverageInformation(n, p, q, X, Z, G, R, y, 5, (const PetscReal *const *)dG, (const PetscReal *const *)dR, AI));
    PetscCall(TestInverseSPD(5, AI));
    PetscCall(OutputReadDataset(path, "/variance/ai_inverse", &rows, &columns, &ai_inverse));
    for (PetscInt k = 0; k < 25 && rows == 5 && columns == 5; k++) {
      worst = PetscMax(worst, PetscAbsReal(ai_inverse[k] - AI[k]));
      scale = PetscMax(scale, PetscAbsReal(AI[k]));
      if (k % 6 == 0) PetscCall(PetscInfo(NULL, "AI^-1 diagonal %d: %g, dense %g\n", (int)(k / 6), (double)ai_inverse[k], (double)AI[k]));
    }
    TestCheck(c, rows == 5 && columns == 5 && worst <= 1e-6 * scale,
              "AI^-1 (5 x 5) against the dense average information (largest difference %.3g, largest entry %.3g)", (double)worst, (double)scale);
    { /* T2 = var(direct + k social) / var(y) (Bijma et al. 2007), its s.e. by the delta method with central differences */
      PetscReal *t2, *t2_se, grad_t2[5], expect, se = 0;
      PetscInt   r1, c1;
      double     cc = pow(1.0 / (SIZE - 1), dilution), kk = (SIZE - 1) * cc;
#define T2_OF() ((G0[0][0] + 2 * kk * G0[1][0] + kk * kk * G0[1][1]) / (G0[0][0] + (SIZE - 1) * cc * cc * G0[1][1] + PEN + R0[0][0]))
      expect = T2_OF();
      for (PetscInt k = 0; k < 5; k++) {
        double keep = *theta[k], h = 1e-6 * PetscMax(PetscAbsReal(keep), 0.1), up, down;
        *theta[k] = keep + h;
        if (k == 2) G0[0][1] = G0[1][0];
        up        = T2_OF();
        *theta[k] = keep - h;
        if (k == 2) G0[0][1] = G0[1][0];
        down      = T2_OF();
        *theta[k] = keep;
        if (k == 2) G0[0][1] = G0[1][0];
        grad_t2[k] = (up - down) / (2 * h);
      }
#undef T2_OF
      for (PetscInt a = 0; a < 5; a++)
        for (PetscInt b = 0; b < 5; b++) se += grad_t2[a] * ai_inverse[a * 5 + b] * grad_t2[b];
      se = PetscSqrtReal(se);
      PetscCall(OutputReadDataset(path, "/variance/total_heritability", &r1, &c1, &t2));
      PetscCall(OutputReadDataset(path, "/variance/total_heritability_standard_error", &r1, &c1, &t2_se));
      TestCheck(c, PetscAbsReal(t2[0] - expect) <= 1e-10 * PetscAbsReal(expect) && PetscAbsReal(t2_se[0] - se) <= 1e-6 * se,
                "T2 %.10g (expected %.10g), s.e. %.8g (delta method with central differences %.8g)", (double)t2[0], (double)expect, (double)t2_se[0],
                (double)se);
      PetscCall(PetscFree(t2));
      PetscCall(PetscFree(t2_se));
    }
    PetscCall(PetscFree(ai_inverse));
    for (PetscInt k = 0; k < 5; k++) PetscCall(PetscFree2(dG[k], dR[k]));
    PetscCall(PetscFree2(G, R));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CompareCounts(TestCounter *c, const Simulation *s, Records records)
{
  RecordsStats stats;
  PetscInt     min = NM, max = 0, without = 0;

  PetscFunctionBeginUser;
  PetscCall(RecordsGetStats(records, &stats));
  for (PetscInt g = 0; g < s->npens; g++) {
    PetscInt n = 0;
    for (PetscInt k = 0; k < NM; k++) n += s->pen_of[k] == g ? 1 : 0;
    min = PetscMin(min, n);
    max = PetscMax(max, n);
  }
  for (PetscInt k = 0; k < NM; k++) without += s->has[k][0] || s->has[k][1] ? 0 : 1;
  TestCheck(c, stats.social_groups == s->npens && stats.social_members == NM && stats.social_min == min && stats.social_max == max,
            "summary: %" PetscInt64_FMT " pens (%" PetscInt_FMT "), %" PetscInt64_FMT " members (%d), sizes %" PetscInt64_FMT "-%" PetscInt64_FMT
            " (%" PetscInt_FMT "-%" PetscInt_FMT ")",
            stats.social_groups, s->npens, stats.social_members, NM, stats.social_min, stats.social_max, min, max);
  TestCheck(c,
            stats.social_without_record == without && stats.social_unknown_animal == 2 && stats.social_not_in_pedigree == NX && stats.social_no_group == NOPEN,
            "summary: %" PetscInt64_FMT " members without a record (%" PetscInt_FMT "), %" PetscInt64_FMT " without an ID (2), %" PetscInt64_FMT
            " not in the pedigree (%d), %" PetscInt64_FMT " records without a pen (%d)",
            stats.social_without_record, without, stats.social_unknown_animal, stats.social_not_in_pedigree, NX, stats.social_no_group, NOPEN);
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  TestCounter  c = {0, 0};
  int          code;
  PetscMPIInt  rank;
  Simulation  *s;
  Evaluation   ev;
  Records      records;
  SolverResult result;
  PetscBool    pev, reml;
  char         model[HENDERSON_MAX_PATH + 32], output[HENDERSON_MAX_PATH + 32];

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(HendersonErrorInitialize());
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-work", work_dir, sizeof(work_dir), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-traits", &ntraits, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-dilution", &dilution, NULL));
  PetscCall(PetscOptionsHasName(NULL, NULL, "-pev", &pev));
  PetscCall(PetscOptionsHasName(NULL, NULL, "-reml", &reml));
  PetscCheck(!reml || ntraits == 1, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-reml with one trait");
  PetscCheck(ntraits == 1 || ntraits == 2, PETSC_COMM_WORLD, PETSC_ERR_ARG_OUTOFRANGE, "-traits 1 or 2");
  for (PetscInt i = 0; i < Dim(); i++)
    for (PetscInt j = 0; j < Dim(); j++) G0[i][j] = ntraits == 1 ? G1[i][j] : G2[i][j];
  PetscCall(TestMakeDirectory(PETSC_COMM_WORLD, work_dir));
  PetscCall(PetscNew(&s));
  if (rank == 0) PetscCall(Simulate(s));
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  snprintf(model, sizeof(model), "%s/model.txt", work_dir);
  snprintf(output, sizeof(output), "%s/solutions.h5", work_dir);
  PetscCall(EvaluationCreate(PETSC_COMM_WORLD, &ev));
  if (reml) { /* as `henderson reml`: estimates, then the solutions with them */
    Model    m;
    PetscInt ne;
    PetscCall(TestRunREML(ev, model));
    /* the estimates replace the simulation's (co)variances in the dense system */
    PetscCall(EvaluationGetModel(ev, &m));
    PetscCall(ModelGetNumEffects(m, &ne));
    for (PetscInt e = 0; e < ne; e++) {
      const ModelEffect *effect;
      const ModelGroup  *group;
      PetscCall(ModelGetEffect(m, e, &effect));
      if (effect->kind != MODEL_EFFECT_RANDOM) continue;
      PetscCall(ModelGetGroup(m, effect->group, &group));
      if (!strcmp(effect->name, "pen")) PEN = group->covariance[0];
      if (!strcmp(effect->name, "direct"))
        for (PetscInt i = 0; i < 2; i++)
          for (PetscInt j = 0; j < 2; j++) G0[i][j] = group->covariance[i * 2 + j];
    }
    {
      const PetscReal *R;
      PetscCall(ModelGetResidual(m, &R));
      R0[0][0] = R[0];
    }
  } else
    PetscCall(EvaluationRun(ev, model));
  PetscCall(EvaluationGetSolverResult(ev, &result));
  TestCheck(&c, result.converged, "converged in %" PetscInt_FMT " iterations", result.iterations);
  PetscCall(EvaluationView(ev, PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(EvaluationGetRecords(ev, &records));
  if (rank == 0) PetscCall(CompareCounts(&c, s, records));
  PetscCall(EvaluationDestroy(&ev));
  if (rank == 0) {
    PetscReal *X, *Z, *y, *G, *R, *C, *b, *x;
    PetscInt   n, *record, *trait;
    PetscCall(DenseDesign(s, &n, &X, &Z, &y, &record, &trait));
    PetscCall(Covariances(s, n, record, trait, &G, &R));
    PetscCall(DenseSystem(s, n, X, Z, y, G, R, &C, &b));
    PetscCall(PetscMalloc1(NDense(s), &x));
    PetscCall(TestSolvePSD(NDense(s), C, b, x));
    PetscCall(Compare(&c, s, C, b, x, output));
    if (reml) PetscCall(CompareREML(&c, s, n, X, Z, y, record, trait, output));
    if (pev)
      PetscCall(ComparePEV(&c, s, C, output));
    else
      PetscCall(TestMixedModelIdentities(&c, n, OPen(), NDense(s) - OPen(), X, Z, G, R, y, x, x + OPen()));
    PetscCall(PetscFree(x));
    PetscCall(PetscFree2(C, b));
    PetscCall(PetscFree2(G, R));
    PetscCall(PetscFree3(X, Z, y));
    PetscCall(PetscFree2(record, trait));
  }
  PetscCall(PetscFree(s));
  code = TestFinish(PETSC_COMM_WORLD, &c, "test_social");
  PetscCall(HendersonErrorFinalize());
  PetscCall(PetscFinalize());
  return code;
}
