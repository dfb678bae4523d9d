/* A two-trait maternal animal model with missing traits, against an independent dense solve.

   Rank 0 simulates 300 animals and the records of most of them: two traits y1, y2 (y1 missing on
   one record in ten, y2 on three in ten, never both), a herd effect in both traits, sex in y1 only,
   a covariate (age) in y2 only; direct and maternal genetic effects of both traits with a 4 x 4 G0
   (direct y1, direct y2, maternal y1, maternal y2), a maternal permanent environment with a 2 x 2
   covariance, and a 2 x 2 R0. Every rank runs the evaluation from the files written. Rank 0 then
   builds the MME densely from its own arrays -- R0 inverted over the traits each record has, G0^-1
   (x) A^-1 with A by the tabular method -- and solves them without constraints (LAPACK). Estimable
   functions of the fixed effects and all random effects must agree. */
#include "testing.h"
#include <math.h>
#include <string.h>

static char work_dir[HENDERSON_MAX_PATH] = ".";

#define NA 300 /* animals */
#define NHERD 8
#define FIRST 40 /* animals FIRST.. have a record */

static const double G0[4][4] = {
    {1.00, 0.32, -0.12, -0.05},
    {0.32, 0.64, -0.04, -0.08},
    {-0.12, -0.04, 0.36, 0.09},
    {-0.05, -0.08, 0.09, 0.25},
};
static const double P0[2][2] = {{0.30, 0.10}, {0.10, 0.20}};
static const double R0[2][2] = {{2.00, 0.50}, {0.50, 1.50}};

typedef struct {
  PetscInt  sire[NA], dam[NA];
  PetscInt  herd[NA], sex[NA];
  double    age[NA], y[NA][2];
  PetscBool has[NA][2];
} Simulation;

static PetscErrorCode Simulate(Simulation *s)
{
  TestRandom r;
  char       path[HENDERSON_MAX_PATH + 32];
  FILE      *fp;
  double     a[NA][4], pe[NA][2], herd_effect[NHERD][2];

  PetscFunctionBeginUser;
  TestRandomSeed(&r, 7777);
  for (PetscInt h = 0; h < NHERD; h++)
    for (int t = 0; t < 2; t++) herd_effect[h][t] = 2 * TestRandomNormal(&r);
  for (PetscInt i = 0; i < NA; i++) {
    /* odd animals are males; parents among the last 40 of each sex; some unknown */
    s->sire[i] = s->dam[i] = -1;
    if (i >= 20) {
      PetscInt m = i / 2, f = (i + 1) / 2;
      if (TestRandomUniform(&r) > 0.1) s->sire[i] = 2 * (m - 1 - TestRandomInt(&r, PetscMin(m, 20))) + 1;
      if (TestRandomUniform(&r) > 0.1) s->dam[i] = 2 * (f - 1 - TestRandomInt(&r, PetscMin(f, 20)));
    }
    /* genetic values: parent average plus a Mendelian term (its correlation ignored: any values do) */
    for (int p = 0; p < 4; p++) {
      double avg = (s->sire[i] >= 0 ? 0.5 * a[s->sire[i]][p] : 0) + (s->dam[i] >= 0 ? 0.5 * a[s->dam[i]][p] : 0);
      a[i][p]    = avg + sqrt(0.5 * G0[p][p]) * TestRandomNormal(&r);
    }
    for (int t = 0; t < 2; t++) pe[i][t] = sqrt(P0[t][t]) * TestRandomNormal(&r);
    s->herd[i]   = TestRandomInt(&r, NHERD);
    s->sex[i]    = i % 2;
    s->age[i]    = floor(200 + 20 * TestRandomNormal(&r));
    s->has[i][0] = s->has[i][1] = PETSC_FALSE;
    if (i >= FIRST) {
      double u     = TestRandomUniform(&r);
      s->has[i][0] = u >= 0.1 ? PETSC_TRUE : PETSC_FALSE;
      s->has[i][1] = u < 0.1 || u >= 0.4 ? PETSC_TRUE : PETSC_FALSE;
    }
    for (int t = 0; t < 2; t++) {
      PetscInt d = s->dam[i];
      s->y[i][t] = 10 + herd_effect[s->herd[i]][t] + (t == 0 ? 0.5 * s->sex[i] : 0.01 * s->age[i]) + a[i][t] + (d >= 0 ? a[d][2 + t] + pe[d][t] : 0) +
                   sqrt(R0[t][t]) * TestRandomNormal(&r);
    }
  }
  snprintf(path, sizeof(path), "%s/pedigree.txt", work_dir);
  fp = fopen(path, "w");
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
  for (PetscInt i = NA - 1; i >= 0; i--) {
    char sire[16] = "0", dam[16] = "0";
    if (s->sire[i] >= 0) snprintf(sire, sizeof(sire), "a%d", (int)s->sire[i]);
    if (s->dam[i] >= 0) snprintf(dam, sizeof(dam), "a%d", (int)s->dam[i]);
    fprintf(fp, "a%d %s %s\n", (int)i, sire, dam);
  }
  fclose(fp);
  snprintf(path, sizeof(path), "%s/data.txt", work_dir);
  fp = fopen(path, "w");
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
  fprintf(fp, "animal dam herd sex age y1 y2\n");
  for (PetscInt i = FIRST; i < NA; i++) {
    char dam[16] = "0";
    if (s->dam[i] >= 0) snprintf(dam, sizeof(dam), "a%d", (int)s->dam[i]);
    fprintf(fp, "a%d %s h%d %s %g ", (int)i, dam, (int)s->herd[i], s->sex[i] ? "M" : "F", s->age[i]);
    for (int t = 0; t < 2; t++) {
      if (s->has[i][t])
        fprintf(fp, "%.17g%s", s->y[i][t], t ? "\n" : " ");
      else
        fprintf(fp, "NA%s", t ? "\n" : " ");
    }
  }
  fclose(fp);
  snprintf(path, sizeof(path), "%s/model.txt", work_dir);
  fp = fopen(path, "w");
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
  fprintf(fp, "data data.txt\npedigree pedigree.txt\ntrait y1\ntrait y2\nfixed herd\nfixed sex for y1\ncovariate age for y2\nrandom animal dam pedigree");
  for (int i = 0; i < 4; i++)
    for (int j = 0; j <= i; j++) fprintf(fp, " %g", G0[i][j]);
  fprintf(fp, " as direct maternal\nrandom dam iid %g %g %g as mpe\nresidual %g %g %g\noutput solutions.h5\n", P0[0][0], P0[1][0], P0[1][1], R0[0][0], R0[1][0],
          R0[1][1]);
  fclose(fp);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Unknowns of the dense system: herd (8 x 2 traits), sex (2, y1), age (1, y2), direct and maternal
   (animal x (direct y1, direct y2, maternal y1, maternal y2)), mpe (dam x 2). */
#define OH 0
#define OS (OH + 2 * NHERD)
#define OA (OS + 2)
#define OG (OA + 1)
#define OP (OG + 4 * NA)
#define NDENSE (OP + 2 * NA)

static PetscErrorCode DenseSystem(const Simulation *s, PetscReal **Cout, PetscReal **bout)
{
  PetscReal *C, *b, *A, Ginv[16], Pinv[4];

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc2(NDENSE * NDENSE, &C, NDENSE, &b));
  PetscCall(PetscMalloc1(NA * NA, &A));
  for (PetscInt i = FIRST; i < NA; i++) {
    PetscReal Rinv[2][2] = {{0, 0}, {0, 0}};
    PetscInt  col[2][5], n[2] = {0, 0}, d = s->dam[i];
    PetscReal w[2][5];
    /* R0 inverted over the traits the record has */
    if (s->has[i][0] && s->has[i][1]) {
      double det = R0[0][0] * R0[1][1] - R0[0][1] * R0[1][0];
      Rinv[0][0] = R0[1][1] / det;
      Rinv[1][1] = R0[0][0] / det;
      Rinv[0][1] = Rinv[1][0] = -R0[0][1] / det;
    } else if (s->has[i][0])
      Rinv[0][0] = 1 / R0[0][0];
    else
      Rinv[1][1] = 1 / R0[1][1];
    for (int t = 0; t < 2; t++) {
      if (!s->has[i][t]) continue;
      col[t][n[t]] = OH + 2 * s->herd[i] + t;
      w[t][n[t]++] = 1;
      if (t == 0) {
        col[t][n[t]] = OS + s->sex[i];
        w[t][n[t]++] = 1;
      } else {
        col[t][n[t]] = OA;
        w[t][n[t]++] = s->age[i];
      }
      col[t][n[t]] = OG + 4 * i + t;
      w[t][n[t]++] = 1;
      if (d >= 0) {
        col[t][n[t]] = OG + 4 * d + 2 + t;
        w[t][n[t]++] = 1;
        col[t][n[t]] = OP + 2 * d + t;
        w[t][n[t]++] = 1;
      }
    }
    for (int t = 0; t < 2; t++)
      for (int u = 0; u < 2; u++)
        for (PetscInt k = 0; k < n[t]; k++) {
          b[col[t][k]] += w[t][k] * Rinv[t][u] * (s->has[i][u] ? s->y[i][u] : 0);
          for (PetscInt l = 0; l < n[u]; l++) C[col[t][k] * NDENSE + col[u][l]] += w[t][k] * w[u][l] * Rinv[t][u];
        }
  }
  /* G0^-1 (x) A^-1 and P0^-1 (x) I */
  PetscCall(TestTabularA(NA, s->sire, s->dam, A));
  PetscCall(TestInverseSPD(NA, A));
  for (int p = 0; p < 4; p++)
    for (int q = 0; q < 4; q++) Ginv[p * 4 + q] = G0[p][q];
  PetscCall(TestInverseSPD(4, Ginv));
  for (int p = 0; p < 2; p++)
    for (int q = 0; q < 2; q++) Pinv[p * 2 + q] = P0[p][q];
  PetscCall(TestInverseSPD(2, Pinv));
  for (PetscInt i = 0; i < NA; i++)
    for (PetscInt j = 0; j < NA; j++)
      for (int p = 0; p < 4; p++)
        for (int q = 0; q < 4; q++) C[(OG + 4 * i + p) * NDENSE + OG + 4 * j + q] += Ginv[p * 4 + q] * A[i * NA + j];
  for (PetscInt i = 0; i < NA; i++)
    for (int p = 0; p < 2; p++)
      for (int q = 0; q < 2; q++) C[(OP + 2 * i + p) * NDENSE + OP + 2 * i + q] += Pinv[p * 2 + q];
  PetscCall(PetscFree(A));
  *Cout = C;
  *bout = b;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The library's solutions, in the dense system's unknowns: they must solve the dense equations. */
static PetscErrorCode Residual(TestCounter *c, const PetscReal C[], const PetscReal b[], const char path[])
{
  TestSolution herd, sex, age, direct, maternal, mpe;
  PetscReal   *x, worst = 0, bnorm = 0;
  PetscInt     where = -1;
  char         label[32];

  PetscFunctionBeginUser;
  PetscCall(TestSolutionLoad(path, "herd", NULL, &herd));
  PetscCall(TestSolutionLoad(path, "sex", NULL, &sex));
  PetscCall(TestSolutionLoad(path, "age", NULL, &age));
  PetscCall(TestSolutionLoad(path, "direct", NULL, &direct));
  PetscCall(TestSolutionLoad(path, "maternal", NULL, &maternal));
  PetscCall(TestSolutionLoad(path, "mpe", NULL, &mpe));
  PetscCall(PetscCalloc1(NDENSE, &x));
  for (PetscInt h = 0; h < NHERD; h++)
    for (int t = 0; t < 2; t++) {
      snprintf(label, sizeof(label), "h%d", (int)h);
      x[OH + 2 * h + t] = TestSolutionGet(&herd, label, t);
    }
  x[OS]     = TestSolutionGet(&sex, "F", 0);
  x[OS + 1] = TestSolutionGet(&sex, "M", 0);
  x[OA]     = TestSolutionGet(&age, "age", 1);
  for (PetscInt i = 0; i < NA; i++) {
    snprintf(label, sizeof(label), "a%d", (int)i);
    for (int t = 0; t < 2; t++) {
      PetscReal v           = TestSolutionGet(&mpe, label, t);
      x[OG + 4 * i + t]     = TestSolutionGet(&direct, label, t);
      x[OG + 4 * i + 2 + t] = TestSolutionGet(&maternal, label, t);
      x[OP + 2 * i + t]     = PetscIsNanReal(v) ? 0 : v;
    }
  }
  for (PetscInt i = 0; i < NDENSE; i++) {
    PetscReal r = b[i];
    for (PetscInt j = 0; j < NDENSE; j++) r -= C[i * NDENSE + j] * x[j];
    if (PetscAbsReal(r) > worst) {
      worst = PetscAbsReal(r);
      where = i;
    }
    bnorm = PetscMax(bnorm, PetscAbsReal(b[i]));
  }
  TestCheck(c, worst <= 1e-8 * bnorm, "the solutions written solve the dense equations: largest residual %.3g (unknown %" PetscInt_FMT "), largest rhs %.3g",
            (double)worst, where, (double)bnorm);
  PetscCall(PetscFree(x));
  PetscCall(TestSolutionDestroy(&herd));
  PetscCall(TestSolutionDestroy(&sex));
  PetscCall(TestSolutionDestroy(&age));
  PetscCall(TestSolutionDestroy(&direct));
  PetscCall(TestSolutionDestroy(&maternal));
  PetscCall(TestSolutionDestroy(&mpe));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Compare(TestCounter *c, const Simulation *s, const PetscReal x[], const char path[])
{
  TestSolution herd, sex, age, direct, maternal, mpe;
  char         label[32];
  PetscBool    ok    = PETSC_TRUE;
  PetscReal    worst = 0;

  PetscFunctionBeginUser;
  PetscCall(TestSolutionLoad(path, "herd", NULL, &herd));
  PetscCall(TestSolutionLoad(path, "sex", NULL, &sex));
  PetscCall(TestSolutionLoad(path, "age", NULL, &age));
  PetscCall(TestSolutionLoad(path, "direct", NULL, &direct));
  PetscCall(TestSolutionLoad(path, "maternal", NULL, &maternal));
  PetscCall(TestSolutionLoad(path, "mpe", NULL, &mpe));
  TestCheck(c, herd.ncolumns == 2 && direct.ncolumns == 2 && direct.n == NA && maternal.n == NA, "two columns, every animal in direct and maternal");
  for (int t = 0; t < 2; t++)
    for (PetscInt h = 1; h < NHERD; h++) {
      char      first[8];
      PetscReal lib;
      snprintf(label, sizeof(label), "h%d", (int)h);
      snprintf(first, sizeof(first), "h0");
      lib = TestSolutionGet(&herd, label, t) - TestSolutionGet(&herd, first, t);
      ok  = ok && TestClose(lib, x[OH + 2 * h + t] - x[OH + t]);
    }
  TestCheck(c, ok, "herd differences in both traits agree with the dense solve");
  TestCheck(c, TestClose(TestSolutionGet(&sex, "M", 0) - TestSolutionGet(&sex, "F", 0), x[OS + 1] - x[OS]), "sex difference in y1");
  TestCheck(c, TestSolutionGet(&sex, "M", 1) == 0 && TestSolutionGet(&sex, "F", 1) == 0, "sex is not in y2: zeros");
  TestCheck(c, TestClose(TestSolutionGet(&age, "age", 1), x[OA]) && TestSolutionGet(&age, "age", 0) == 0, "regression on age in y2 %.10g, dense %.10g",
            (double)TestSolutionGet(&age, "age", 1), (double)x[OA]);
  TestCheck(c, TestClose(TestSolutionGet(&herd, "h3", 0) + TestSolutionGet(&sex, "F", 0), x[OH + 6] + x[OS]), "cell mean h3 F in y1");
  TestCheck(c, TestClose(TestSolutionGet(&herd, "h3", 1) + 200 * TestSolutionGet(&age, "age", 1), x[OH + 7] + 200 * x[OA]), "cell mean h3, age 200 in y2");
  ok = PETSC_TRUE;
  for (PetscInt i = 0; i < NA; i++) {
    snprintf(label, sizeof(label), "a%d", (int)i);
    for (int t = 0; t < 2; t++) {
      PetscReal d = TestSolutionGet(&direct, label, t), m = TestSolutionGet(&maternal, label, t);
      ok    = ok && TestClose(d, x[OG + 4 * i + t]) && TestClose(m, x[OG + 4 * i + 2 + t]);
      worst = PetscMax(worst, PetscMax(PetscAbsReal(d - x[OG + 4 * i + t]), PetscAbsReal(m - x[OG + 4 * i + 2 + t])));
    }
  }
  TestCheck(c, ok, "direct and maternal values of all %d animals in both traits (largest difference %.3g)", NA, (double)worst);
  ok = PETSC_TRUE;
  for (PetscInt l = 0; l < mpe.n; l++) {
    PetscInt i = atoi(mpe.labels[l] + 1);
    for (int t = 0; t < 2; t++) ok = ok && TestClose(mpe.values[l * 2 + t], x[OP + 2 * i + t]);
  }
  TestCheck(c, ok && mpe.n > 20, "maternal permanent environment of the %" PetscInt_FMT " dams", mpe.n);
  PetscCall(TestSolutionDestroy(&herd));
  PetscCall(TestSolutionDestroy(&sex));
  PetscCall(TestSolutionDestroy(&age));
  PetscCall(TestSolutionDestroy(&direct));
  PetscCall(TestSolutionDestroy(&maternal));
  PetscCall(TestSolutionDestroy(&mpe));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The identities of the lecture notes (TestMixedModelIdentities()) for this two-trait maternal model, with
   the dense MME solution X (which the library's output matches, Compare()): the observations (record,
   trait present) as rows, R0 over the traits of each record, G = G0 (x) A for the direct and maternal
   effects and P0 (x) I for the maternal permanent environment. */
static PetscErrorCode CompareIdentities(TestCounter *c, const Simulation *s, const PetscReal x[])
{
  const PetscInt p = OG, q = NDENSE - OG;
  PetscInt       n = 0, k = 0, *record, *trait;
  PetscReal     *X, *Z, *G, *R, *y, *A;

  PetscFunctionBeginUser;
  for (PetscInt i = FIRST; i < NA; i++) n += (s->has[i][0] ? 1 : 0) + (s->has[i][1] ? 1 : 0);
  PetscCall(PetscMalloc2(n, &record, n, &trait));
  PetscCall(PetscCalloc5(n * p, &X, n * q, &Z, q * q, &G, n * n, &R, n, &y));
  PetscCall(PetscMalloc1(NA * NA, &A));
  for (PetscInt i = FIRST; i < NA; i++)
    for (int t = 0; t < 2; t++) {
      PetscInt d = s->dam[i];
      if (!s->has[i][t]) continue;
      record[k]                          = i;
      trait[k]                           = t;
      X[k * p + OH + 2 * s->herd[i] + t] = 1;
      if (t == 0)
        X[k * p + OS + s->sex[i]] = 1;
      else
        X[k * p + OA] = s->age[i];
      Z[k * q + OG + 4 * i + t - OG] = 1;
      if (d >= 0) {
        Z[k * q + OG + 4 * d + 2 + t - OG] = 1;
        Z[k * q + OP + 2 * d + t - OG]     = 1;
      }
      y[k++] = s->y[i][t];
    }
  for (PetscInt a = 0; a < n; a++) /* R0 within a record, 0 between records */
    for (PetscInt b = 0; b < n; b++)
      if (record[a] == record[b]) R[a * n + b] = R0[trait[a]][trait[b]];
  PetscCall(TestTabularA(NA, s->sire, s->dam, A));
  for (PetscInt i = 0; i < NA; i++)
    for (PetscInt j = 0; j < NA; j++)
      for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) G[(4 * i + a) * q + 4 * j + b] = G0[a][b] * A[i * NA + j];
  for (PetscInt i = 0; i < NA; i++)
    for (int a = 0; a < 2; a++)
      for (int b = 0; b < 2; b++) G[(OP - OG + 2 * i + a) * q + OP - OG + 2 * i + b] = P0[a][b];
  PetscCall(TestMixedModelIdentities(c, n, p, q, X, Z, G, R, y, x, x + OG));
  PetscCall(PetscFree5(X, Z, G, R, y));
  PetscCall(PetscFree(A));
  PetscCall(PetscFree2(record, trait));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* With -pev exact: the PEV blocks of the direct-maternal group (4 x 4 an animal) and of the maternal
   permanent environment (2 x 2 a dam) against the inverse of the dense C made full rank by dropping one
   sex equation (the random effects' blocks of a generalized inverse do not depend on which). */
static PetscErrorCode ComparePEVBlocks(TestCounter *c, const PetscReal C[], const char path[])
{
  const PetscInt n = NDENSE - 1, drop = OS;
  PetscReal     *Cr, *block, worst = 0;
  PetscInt       rows, columns;
  TestSolution   direct, mpe;
  PetscBool      ok = PETSC_TRUE;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(n * n, &Cr));
  for (PetscInt i = 0, ii = 0; i < NDENSE; i++) {
    if (i == drop) continue;
    for (PetscInt j = 0, jj = 0; j < NDENSE; j++)
      if (j != drop) Cr[ii * n + jj++] = C[i * NDENSE + j];
    ii++;
  }
  PetscCall(TestInverseSPD(n, Cr));
  PetscCall(TestSolutionLoad(path, "direct", NULL, &direct));
  PetscCall(OutputReadEffectDataset(path, "direct", "pev_block", &rows, &columns, &block));
  ok = rows == NA && columns == 16 ? PETSC_TRUE : PETSC_FALSE;
  for (PetscInt l = 0; ok && l < direct.n; l++) {
    PetscInt i = atoi(direct.labels[l] + 1);
    for (int p = 0; p < 4; p++)
      for (int q = 0; q < 4; q++) {
        PetscReal dense = Cr[(OG + 4 * i + p - 1) * n + OG + 4 * i + q - 1];
        ok              = ok && TestClose(block[l * 16 + p * 4 + q], dense);
        worst           = PetscMax(worst, PetscAbsReal(block[l * 16 + p * 4 + q] - dense));
      }
  }
  TestCheck(c, ok, "the 4 x 4 PEV blocks (direct and maternal, both traits) of all %d animals agree with the dense inverse (largest difference %.3g)", NA,
            (double)worst);
  PetscCall(PetscFree(block));
  PetscCall(TestSolutionLoad(path, "mpe", NULL, &mpe));
  PetscCall(OutputReadEffectDataset(path, "mpe", "pev_block", &rows, &columns, &block));
  ok    = rows == mpe.n && columns == 4 ? PETSC_TRUE : PETSC_FALSE;
  worst = 0;
  for (PetscInt l = 0; ok && l < mpe.n; l++) {
    PetscInt i = atoi(mpe.labels[l] + 1);
    for (int p = 0; p < 2; p++)
      for (int q = 0; q < 2; q++) {
        PetscReal dense = Cr[(OP + 2 * i + p - 1) * n + OP + 2 * i + q - 1];
        ok              = ok && TestClose(block[l * 4 + p * 2 + q], dense);
        worst           = PetscMax(worst, PetscAbsReal(block[l * 4 + p * 2 + q] - dense));
      }
  }
  TestCheck(c, ok, "the 2 x 2 PEV blocks of the maternal permanent environment agree with the dense inverse (largest difference %.3g)", (double)worst);
  PetscCall(PetscFree(block));
  PetscCall(TestSolutionDestroy(&direct));
  PetscCall(TestSolutionDestroy(&mpe));
  PetscCall(PetscFree(Cr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  TestCounter  c = {0, 0};
  int          code;
  PetscMPIInt  rank;
  Simulation  *s;
  Evaluation   ev;
  SolverResult result;
  char         model[HENDERSON_MAX_PATH + 32], output[HENDERSON_MAX_PATH + 32];

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(HendersonErrorInitialize());
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-work", work_dir, sizeof(work_dir), NULL));
  PetscCall(TestMakeDirectory(PETSC_COMM_WORLD, work_dir));
  PetscCall(PetscNew(&s));
  if (rank == 0) PetscCall(Simulate(s));
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  snprintf(model, sizeof(model), "%s/model.txt", work_dir);
  snprintf(output, sizeof(output), "%s/solutions.h5", work_dir);
  PetscCall(EvaluationCreate(PETSC_COMM_WORLD, &ev));
  PetscCall(EvaluationRun(ev, model));
  PetscCall(EvaluationGetSolverResult(ev, &result));
  TestCheck(&c, result.converged && !strcmp(result.pc_type, "vpbjacobi"), "converged with point-block Jacobi (%s), %" PetscInt_FMT " iterations",
            result.pc_type, result.iterations);
  PetscCall(EvaluationView(ev, PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(EvaluationDestroy(&ev));
  if (rank == 0) {
    PetscReal *x, *C, *b;
    PetscCall(PetscMalloc1(NDENSE, &x));
    PetscCall(DenseSystem(s, &C, &b));
    PetscCall(Residual(&c, C, b, output));
    PetscCall(TestSolvePSD(NDENSE, C, b, x));
    PetscCall(Compare(&c, s, x, output));
    {
      PetscBool pev;
      PetscCall(PetscOptionsHasName(NULL, NULL, "-pev", &pev));
      if (pev)
        PetscCall(ComparePEVBlocks(&c, C, output));
      else
        PetscCall(CompareIdentities(&c, s, x));
    }
    PetscCall(PetscFree2(C, b));
    PetscCall(PetscFree(x));
  }
  PetscCall(PetscFree(s));
  code = TestFinish(PETSC_COMM_WORLD, &c, "test_maternal");
  PetscCall(HendersonErrorFinalize());
  PetscCall(PetscFinalize());
  return code;
}
