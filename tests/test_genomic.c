/* Single-step GBLUP through the whole pipeline against a dense H^-1 MME built here.

   Rank 0 simulates a pedigree (inbreeding from a small population, unknown parents), genotypes of some
   of its animals and of a few animals the pedigree does not list (2 % missing calls, some SNPs of low
   frequency), and records of a herd effect on animals with and without genotypes; genotyped animals
   without records too. Every rank runs the evaluation from those files: the defaults (MAF 0.05, call
   rates 0.90, Gb = 0.95 G + 0.05 A22, tuning to A22), then APY with every genotyped animal in the
   core, which is the exact G^-1. Rank 0 then does it all densely and independently: the quality
   control, G by VanRaden's first method, A by the tabular method, A22, the blending and tuning, H^-1 =
   A^-1 + [0 0; 0 Gt^-1 - A22^-1] by LAPACK inverses, the MME and its solution. The animals'
   solutions and the herd differences must agree. With -test_traits 2: two correlated traits, H ⊗ G0.
   With -test_reml: AI-REML rounds, and its log L at its estimates against the dense REML log-likelihood
   with var(u) = H sigma2a (log|H| = log|A| + log|Gt| - log|A22| in the program). */
#include "testing.h"
#include <math.h>
#include <string.h>

static char work_dir[HENDERSON_MAX_PATH] = ".";

#define NPED 200    /* animals in the pedigree */
#define NEXTRA 6    /* genotyped, not in the pedigree */
#define NGENO 70    /* genotyped animals of the pedigree */
#define NSNP 400
#define NHERD 5
#define NRECORDS 180
#define NALL (NPED + NEXTRA)

static PetscInt      ntraits = 1;
static const double G0[4] = {2.0, 0.8, 0.8, 3.0}, R0[4] = {5.0, 1.5, 1.5, 6.0}; /* one trait: the first entries */

/* The runs: exact G^-1; APY with every genotyped animal in the core (the exact G^-1 again), formed and
   factored; APY with half of them in the core, formed and factored (the same APY: must agree). */
static const struct {
  const char *name, *block;
  int         core;
} variants[] = {
  {"exact", "", 0},
  {"apy", "dense", NGENO + NEXTRA},
  {"factored", "factored", NGENO + NEXTRA},
  {"apy_half", "dense", (NGENO + NEXTRA) / 2},
  {"factored_half", "factored", (NGENO + NEXTRA) / 2},
};
#define NVARIANTS 5

typedef struct {
  PetscInt sire[NALL], dam[NALL];
  PetscInt geno[NGENO + NEXTRA]; /* animals (indices into 0..NALL-1) */
  int8_t   m[NGENO + NEXTRA][NSNP];
  PetscInt herd[NRECORDS], animal[NRECORDS];
  double   y[NRECORDS][2];
} Simulation;

static void AnimalID(PetscInt i, char id[16])
{
  if (i < NPED) snprintf(id, 16, "P%03d", (int)i);
  else snprintf(id, 16, "X%02d", (int)(i - NPED));
}

static PetscErrorCode WriteFiles(const Simulation *s)
{
  char  path[HENDERSON_MAX_PATH + 32], id[16], sid[16], did[16];
  FILE *fp;

  PetscFunctionBeginUser;
  snprintf(path, sizeof(path), "%s/pedigree.txt", work_dir);
  fp = fopen(path, "w");
  for (PetscInt i = 0; i < NPED; i++) {
    AnimalID(i, id);
    if (s->sire[i] >= 0) AnimalID(s->sire[i], sid);
    else strcpy(sid, "0");
    if (s->dam[i] >= 0) AnimalID(s->dam[i], did);
    else strcpy(did, "0");
    fprintf(fp, "%s %s %s\n", id, sid, did);
  }
  fclose(fp);
  snprintf(path, sizeof(path), "%s/genotypes.txt", work_dir);
  fp = fopen(path, "w");
  for (PetscInt k = NGENO + NEXTRA - 1; k >= 0; k--) { /* not in pedigree order */
    AnimalID(s->geno[k], id);
    fprintf(fp, "%s ", id);
    for (PetscInt j = 0; j < NSNP; j++) fputc(s->m[k][j] < 0 ? '5' : '0' + s->m[k][j], fp);
    fputc('\n', fp);
  }
  fclose(fp);
  snprintf(path, sizeof(path), "%s/data.txt", work_dir);
  fp = fopen(path, "w");
  fprintf(fp, "animal herd y y2\n");
  for (PetscInt r = 0; r < NRECORDS; r++) {
    AnimalID(s->animal[r], id);
    fprintf(fp, "%s H%d %.10f %.10f\n", id, (int)s->herd[r], s->y[r][0], s->y[r][1]);
  }
  fclose(fp);
  for (int v = 0; v < NVARIANTS; v++) {
    snprintf(path, sizeof(path), "%s/model_%s.txt", work_dir, variants[v].name);
    fp = fopen(path, "w");
    fprintf(fp, "data data.txt\npedigree pedigree.txt\n");
    if (variants[v].core) fprintf(fp, "genotypes genotypes.txt apy %d block %s\n", variants[v].core, variants[v].block);
    else fprintf(fp, "genotypes genotypes.txt\n");
    if (ntraits == 1) fprintf(fp, "trait y\nfixed herd\nrandom animal pedigree %g\nresidual %g\n", G0[0], R0[0]);
    else fprintf(fp, "trait y\ntrait y2\nfixed herd\nrandom animal pedigree %g %g %g\nresidual %g %g %g\n", G0[0], G0[2], G0[3], R0[0], R0[2], R0[3]);
    fprintf(fp, "output %s.h5\n", variants[v].name);
    fclose(fp);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Simulate(Simulation *s)
{
  TestRandom r;
  PetscInt   perm[NPED];
  double     p[NSNP];

  PetscFunctionBeginUser;
  TestRandomSeed(&r, 20261205);
  for (PetscInt i = 0; i < NALL; i++) { /* odd animals male; parents among the 12 of each sex before: inbreeding builds up */
    PetscInt males = i / 2, females = (i + 1) / 2;
    s->sire[i] = s->dam[i] = -1;
    if (i < 12 || i >= NPED) continue;
    if (TestRandomUniform(&r) > 0.08) s->sire[i] = 2 * (males - 1 - TestRandomInt(&r, PetscMin(males, 12))) + 1;
    if (TestRandomUniform(&r) > 0.08) s->dam[i] = 2 * (females - 1 - TestRandomInt(&r, PetscMin(females, 12)));
  }
  for (PetscInt i = 0; i < NPED; i++) perm[i] = i;
  TestShuffle(&r, perm, NPED);
  for (PetscInt k = 0; k < NGENO; k++) s->geno[k] = perm[k];
  for (PetscInt k = 0; k < NEXTRA; k++) s->geno[NGENO + k] = NPED + k;
  for (PetscInt j = 0; j < NSNP; j++) p[j] = j % 40 == 0 ? 0.01 : 0.05 + 0.9 * TestRandomUniform(&r); /* some below the MAF */
  for (PetscInt k = 0; k < NGENO + NEXTRA; k++)
    for (PetscInt j = 0; j < NSNP; j++)
      s->m[k][j] = TestRandomUniform(&r) < 0.02 ? -1 : (int8_t)((TestRandomUniform(&r) < p[j]) + (TestRandomUniform(&r) < p[j]));
  for (PetscInt rr = 0; rr < NRECORDS; rr++) { /* the last 20 of the pedigree without records; a few extra animals with */
    s->animal[rr] = rr < NRECORDS - 3 ? perm[20 + TestRandomInt(&r, NPED - 20)] : NPED + rr - (NRECORDS - 3);
    s->herd[rr]   = TestRandomInt(&r, NHERD);
    s->y[rr][0]   = 10 + s->herd[rr] + 2 * TestRandomNormal(&r);
    s->y[rr][1]   = 3 - s->herd[rr] + s->y[rr][0] / 4 + 2 * TestRandomNormal(&r);
  }
  PetscCall(WriteFiles(s));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The quality control and G (VanRaden 1) of the genotyped animals (in s->geno order), densely. */
static void DenseG(const Simulation *s, PetscReal *G)
{
  const PetscInt ng = NGENO + NEXTRA;
  PetscReal      scale = 0;
  static double  z[NGENO + NEXTRA][NSNP];

  for (PetscInt i = 0; i < ng * ng; i++) G[i] = 0;
  for (PetscInt j = 0; j < NSNP; j++) {
    PetscInt calls = 0, copies = 0;
    for (PetscInt k = 0; k < ng; k++)
      if (s->m[k][j] >= 0) calls++, copies += s->m[k][j];
    double pj = (double)copies / (2.0 * calls), maf = PetscMin(pj, 1 - pj);
    if (calls < 0.9 * ng || maf <= 0 || maf < 0.05) {
      for (PetscInt k = 0; k < ng; k++) z[k][j] = 0;
      continue;
    }
    scale += 2 * pj * (1 - pj);
    for (PetscInt k = 0; k < ng; k++) z[k][j] = s->m[k][j] < 0 ? 0 : s->m[k][j] - 2 * pj;
  }
  for (PetscInt a = 0; a < ng; a++)
    for (PetscInt b = 0; b < ng; b++) {
      double v = 0;
      for (PetscInt j = 0; j < NSNP; j++) v += z[a][j] * z[b][j];
      G[a * ng + b] = v / scale;
    }
}

/* H^-1 densely: A^-1 + [0 0; 0 Gt^-1 - A22^-1]. */
static PetscErrorCode DenseHinv(const Simulation *s, PetscReal *Hinv)
{
  const PetscInt ng = NGENO + NEXTRA;
  PetscReal     *A, *G, *A22, md[2] = {0}, mo[2] = {0}, a, b;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc3(NALL * NALL, &A, ng * ng, &G, ng * ng, &A22));
  PetscCall(TestTabularA(NALL, s->sire, s->dam, A));
  DenseG(s, G);
  for (PetscInt x = 0; x < ng; x++)
    for (PetscInt y = 0; y < ng; y++) {
      A22[x * ng + y] = A[s->geno[x] * NALL + s->geno[y]];
      G[x * ng + y]   = 0.95 * G[x * ng + y] + 0.05 * A22[x * ng + y];
      md[0] += x == y ? G[x * ng + y] : 0;
      md[1] += x == y ? A22[x * ng + y] : 0;
      mo[0] += x != y ? G[x * ng + y] : 0;
      mo[1] += x != y ? A22[x * ng + y] : 0;
    }
  for (int k = 0; k < 2; k++) md[k] /= ng, mo[k] /= ng * (ng - 1.0);
  b = (md[1] - mo[1]) / (md[0] - mo[0]);
  a = md[1] - b * md[0];
  for (PetscInt i = 0; i < ng * ng; i++) G[i] = a + b * G[i];
  PetscCall(TestInverseSPD(ng, G));
  PetscCall(TestInverseSPD(ng, A22));
  PetscCall(PetscArraycpy(Hinv, A, NALL * NALL));
  PetscCall(TestInverseSPD(NALL, Hinv));
  for (PetscInt x = 0; x < ng; x++)
    for (PetscInt y = 0; y < ng; y++) Hinv[s->geno[x] * NALL + s->geno[y]] += G[x * ng + y] - A22[x * ng + y];
  PetscCall(PetscFree3(A, G, A22));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The MME [X'R^-1X X'R^-1Z; Z'R^-1X Z'R^-1Z + H^-1 (x) G0^-1] (herds, then animals; traits within) and a
   solution; with PEV (not NULL) the diagonal of C^-1 (C is of full rank here: no mean beside the herds). */
static PetscErrorCode DenseSolve(const Simulation *s, PetscReal *x, PetscReal *pev)
{
  const PetscInt T = ntraits, n = (NHERD + NALL) * T;
  PetscReal     *C, *rhs, *Hinv, Ri[4], Gi[4];

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc3(n * n, &C, n, &rhs, NALL * NALL, &Hinv));
  PetscCall(DenseHinv(s, Hinv));
  for (PetscInt k = 0; k < T * T; k++) {
    Ri[k] = T == 1 ? R0[0] : R0[k];
    Gi[k] = T == 1 ? G0[0] : G0[k];
  }
  PetscCall(TestInverseSPD(T, Ri));
  PetscCall(TestInverseSPD(T, Gi));
  for (PetscInt r = 0; r < NRECORDS; r++) {
    PetscInt e[2] = {s->herd[r] * T, (NHERD + s->animal[r]) * T};
    for (int k = 0; k < 2; k++)
      for (PetscInt t = 0; t < T; t++) {
        for (PetscInt u = 0; u < T; u++) rhs[e[k] + t] += Ri[t * T + u] * s->y[r][u];
        for (int l = 0; l < 2; l++)
          for (PetscInt u = 0; u < T; u++) C[(e[k] + t) * n + e[l] + u] += Ri[t * T + u];
      }
  }
  for (PetscInt i = 0; i < NALL; i++)
    for (PetscInt j = 0; j < NALL; j++)
      for (PetscInt t = 0; t < T; t++)
        for (PetscInt u = 0; u < T; u++) C[((NHERD + i) * T + t) * n + (NHERD + j) * T + u] += Hinv[i * NALL + j] * Gi[t * T + u];
  PetscCall(TestSolvePSD(n, C, rhs, x));
  if (pev) {
    PetscCall(TestInverseSPD(n, C));
    for (PetscInt k = 0; k < n; k++) pev[k] = C[k * n + k];
  }
  PetscCall(PetscFree3(C, rhs, Hinv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* DATASET ("value", "pev") of every animal in PATH against the dense WANT (herds first, then the animals):
   how many differ (TestClose), and by how much at most. */
static PetscErrorCode CompareAnimals(const char path[], const char dataset[], const PetscReal want[], PetscInt *n, PetscInt *bad, PetscReal *worst)
{
  TestSolution animal;
  char         id[16];

  PetscFunctionBeginUser;
  *bad   = 0;
  *worst = 0;
  PetscCall(TestSolutionLoad(path, "animal", dataset, &animal));
  for (PetscInt i = 0; i < NALL; i++)
    for (PetscInt t = 0; t < ntraits; t++) {
      PetscReal v, w = want[(NHERD + i) * ntraits + t];
      AnimalID(i, id);
      v      = TestSolutionGet(&animal, id, t);
      *worst = PetscMax(*worst, PetscAbsReal(v - w));
      if (!TestClose(v, w)) (*bad)++;
    }
  *n = animal.n;
  PetscCall(TestSolutionDestroy(&animal));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* -pev exact: the animals' PEV against the dense inverse. */
static PetscErrorCode ComparePEV(TestCounter *c, const PetscReal pev[], const char path[])
{
  PetscInt  n, bad;
  PetscReal worst;

  PetscFunctionBeginUser;
  PetscCall(CompareAnimals(path, "pev", pev, &n, &bad, &worst));
  TestCheck(c, bad == 0, "PEV of %d animals against the dense C^-1 with H^-1: %" PetscInt_FMT " differ (largest difference %.3g)", NALL, bad, (double)worst);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Compare(TestCounter *c, const PetscReal x[], const char path[], const char what[])
{
  TestSolution herd;
  PetscInt     n, bad;
  PetscReal    worst;

  PetscFunctionBeginUser;
  PetscCall(CompareAnimals(path, "value", x, &n, &bad, &worst));
  TestCheck(c, bad == 0 && n == NALL, "%s: %" PetscInt_FMT " animals, %" PetscInt_FMT " differ from the dense H^-1 MME (largest difference %.3g)", what, n, bad,
            (double)worst);
  PetscCall(TestSolutionLoad(path, "herd", "value", &herd));
  for (PetscInt h = 1; h < NHERD; h++)
    for (PetscInt t = 0; t < ntraits; t++) {
      char lh[8];
      snprintf(lh, sizeof(lh), "H%d", (int)h);
      if (!TestClose(TestSolutionGet(&herd, lh, t) - TestSolutionGet(&herd, "H0", t), x[h * ntraits + t] - x[t])) bad++;
    }
  TestCheck(c, bad == 0, "%s: the herd differences agree", what);
  PetscCall(TestSolutionDestroy(&herd));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* X as Compare() takes it (herds, then animals), from an output file. */
static PetscErrorCode LoadSolutions(const char path[], PetscReal x[])
{
  TestSolution herd, animal;
  char         id[16];

  PetscFunctionBeginUser;
  PetscCall(TestSolutionLoad(path, "herd", "value", &herd));
  PetscCall(TestSolutionLoad(path, "animal", "value", &animal));
  for (PetscInt t = 0; t < ntraits; t++) {
    for (PetscInt h = 0; h < NHERD; h++) {
      snprintf(id, sizeof(id), "H%d", (int)h);
      x[h * ntraits + t] = TestSolutionGet(&herd, id, t);
    }
    for (PetscInt i = 0; i < NALL; i++) {
      AnimalID(i, id);
      x[(NHERD + i) * ntraits + t] = TestSolutionGet(&animal, id, t);
    }
  }
  PetscCall(TestSolutionDestroy(&herd));
  PetscCall(TestSolutionDestroy(&animal));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* REML as `henderson reml` does it (the assembled operator), then its log L against the dense one. */
static PetscErrorCode RunREML(TestCounter *c, const Simulation *s)
{
  char       path[HENDERSON_MAX_PATH + 32];
  Evaluation ev;

  PetscFunctionBeginUser;
  snprintf(path, sizeof(path), "%s/model_exact.txt", work_dir);
  PetscCall(EvaluationCreate(PETSC_COMM_WORLD, &ev));
  PetscCall(TestRunREML(ev, path));
  PetscCall(EvaluationDestroy(&ev));
  if (s) { /* rank 0 */
    PetscReal  logL, dense, *X, *Z, *G, *R, *y, *va, *ve;
    PetscInt   rows, columns;
    const PetscInt n = NRECORDS;
    snprintf(path, sizeof(path), "%s/exact.h5", work_dir);
    PetscCall(OutputReadAttribute(path, "/variance", "log_likelihood", &logL));
    PetscCall(OutputReadDataset(path, "/variance/animal", &rows, &columns, &va));
    PetscCall(OutputReadDataset(path, "/variance/residual", &rows, &columns, &ve));
    PetscCall(PetscCalloc5(n * NHERD, &X, n * NALL, &Z, NALL * NALL, &G, n * n, &R, n, &y));
    for (PetscInt k = 0; k < n; k++) {
      X[k * NHERD + s->herd[k]] = 1;
      Z[k * NALL + s->animal[k]] = 1;
      R[k * n + k]              = ve[0];
      y[k]                      = s->y[k][0];
    }
    PetscCall(DenseHinv(s, G));
    PetscCall(TestInverseSPD(NALL, G));
    for (PetscInt k = 0; k < NALL * NALL; k++) G[k] *= va[0];
    PetscCall(TestREMLLogLikelihood(n, NHERD, NALL, X, Z, G, R, y, &dense));
    TestCheck(c, PetscAbsReal(logL - dense) <= 1e-7 * PetscAbsReal(dense), "REML log L with H %.10g = the dense one %.10g (sigma2a %g, sigma2e %g)", (double)logL,
              (double)dense, (double)va[0], (double)ve[0]);
    PetscCall(PetscFree5(X, Z, G, R, y));
    PetscCall(PetscFree(va));
    PetscCall(PetscFree(ve));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Run(TestCounter *c, const char model[], const char what[])
{
  char         path[HENDERSON_MAX_PATH + 32];
  Evaluation   ev;
  SolverResult result;

  PetscFunctionBeginUser;
  snprintf(path, sizeof(path), "%s/%s", work_dir, model);
  PetscCall(EvaluationCreate(PETSC_COMM_WORLD, &ev));
  PetscCall(EvaluationRun(ev, path));
  PetscCall(EvaluationGetSolverResult(ev, &result));
  TestCheck(c, result.converged && result.relative_residual < 1e-12, "%s: converged, relative residual %.3g", what, (double)result.relative_residual);
  PetscCall(EvaluationView(ev, PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(EvaluationDestroy(&ev));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  TestCounter c = {0};
  int         code;
  PetscMPIInt rank;
  Simulation *s;
  PetscBool   assembled, has_pev;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(HendersonErrorInitialize());
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-work", work_dir, sizeof(work_dir), NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-test_traits", &ntraits, NULL));
  PetscCall(TestMakeDirectory(PETSC_COMM_WORLD, work_dir));
  PetscCall(PetscNew(&s));
  if (rank == 0) PetscCall(Simulate(s));
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  {
    PetscBool reml = PETSC_FALSE;
    PetscCall(PetscOptionsGetBool(NULL, NULL, "-test_reml", &reml, NULL));
    if (reml) {
      PetscCall(RunREML(&c, rank == 0 ? s : NULL));
      PetscCall(PetscFree(s));
      code = TestFinish(PETSC_COMM_WORLD, &c, "test_genomic -test_reml");
      PetscCall(HendersonErrorFinalize());
      PetscCall(PetscFinalize());
      return code;
    }
  }
  /* the factored block has no entries: not with the assembled operator or exact PEV */
  PetscCall(PetscOptionsHasName(NULL, NULL, "-mme_operator", &assembled));
  PetscCall(PetscOptionsHasName(NULL, NULL, "-pev", &has_pev));
  for (int v = 0; v < NVARIANTS; v++) {
    char model[64];
    if (!strcmp(variants[v].block, "factored") && (assembled || has_pev)) continue;
    snprintf(model, sizeof(model), "model_%s.txt", variants[v].name);
    PetscCall(Run(&c, model, variants[v].name));
  }
  if (rank == 0) {
    PetscReal *x, *pev = NULL;
    char       path[HENDERSON_MAX_PATH + 32];
    PetscCall(PetscMalloc1((NHERD + NALL) * ntraits, &x));
    if (has_pev) PetscCall(PetscMalloc1((NHERD + NALL) * ntraits, &pev));
    PetscCall(DenseSolve(s, x, pev));
    snprintf(path, sizeof(path), "%s/exact.h5", work_dir);
    PetscCall(Compare(&c, x, path, "single step"));
    if (pev) PetscCall(ComparePEV(&c, pev, path));
    PetscCall(PetscFree(pev));
    snprintf(path, sizeof(path), "%s/apy.h5", work_dir);
    PetscCall(Compare(&c, x, path, "APY, all in the core"));
    if (!assembled && !has_pev) {
      snprintf(path, sizeof(path), "%s/factored.h5", work_dir);
      PetscCall(Compare(&c, x, path, "APY factored, all in the core"));
      snprintf(path, sizeof(path), "%s/apy_half.h5", work_dir);
      PetscCall(LoadSolutions(path, x));
      snprintf(path, sizeof(path), "%s/factored_half.h5", work_dir);
      PetscCall(Compare(&c, x, path, "APY factored against formed, half in the core"));
    }
    PetscCall(PetscFree(x));
  }
  PetscCall(PetscFree(s));
  code = TestFinish(PETSC_COMM_WORLD, &c, "test_genomic");
  PetscCall(HendersonErrorFinalize());
  PetscCall(PetscFinalize());
  return code;
}
