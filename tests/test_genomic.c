/* Single-step GBLUP through the whole pipeline against a dense H^-1 MME built here.

   Rank 0 simulates a pedigree (inbreeding from a small population, unknown parents), genotypes of some
   of its animals and of a few animals the pedigree does not list (2 % missing calls, some SNPs of low
   frequency), and records of a herd effect on animals with and without genotypes; genotyped animals
   without records too. Every rank runs the evaluation from those files: the defaults (MAF 0.05, call
   rates 0.90, Gb = 0.95 G + 0.05 A22, tuning to A22), then APY with every genotyped animal in the
   core, which is the exact G^-1. Rank 0 then does it all densely and independently: the quality
   control, G by VanRaden's first method, A by the tabular method, A22, the blending and tuning, H^-1 =
   A^-1 + [0 0; 0 Gt^-1 - A22^-1] by LAPACK inverses, the MME and its solution. The animals'
   solutions and the herd differences must agree. */
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

static const double sigma2a = 2.0, sigma2e = 5.0;

typedef struct {
  PetscInt sire[NALL], dam[NALL];
  PetscInt geno[NGENO + NEXTRA]; /* animals (indices into 0..NALL-1) */
  int8_t   m[NGENO + NEXTRA][NSNP];
  PetscInt herd[NRECORDS], animal[NRECORDS];
  double   y[NRECORDS];
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
  fprintf(fp, "animal herd y\n");
  for (PetscInt r = 0; r < NRECORDS; r++) {
    AnimalID(s->animal[r], id);
    fprintf(fp, "%s H%d %.10f\n", id, (int)s->herd[r], s->y[r]);
  }
  fclose(fp);
  snprintf(path, sizeof(path), "%s/model.txt", work_dir);
  fp = fopen(path, "w");
  fprintf(fp, "data data.txt\npedigree pedigree.txt\ngenotypes genotypes.txt\ntrait y\nfixed herd\nrandom animal pedigree %g\nresidual %g\noutput exact.h5\n",
          sigma2a, sigma2e);
  fclose(fp);
  snprintf(path, sizeof(path), "%s/model_apy.txt", work_dir);
  fp = fopen(path, "w");
  fprintf(fp, "data data.txt\npedigree pedigree.txt\ngenotypes genotypes.txt apy %d\ntrait y\nfixed herd\nrandom animal pedigree %g\nresidual %g\noutput apy.h5\n",
          NGENO + NEXTRA, sigma2a, sigma2e);
  fclose(fp);
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
    s->y[rr]      = 10 + s->herd[rr] + 2 * TestRandomNormal(&r);
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

/* The MME [X'X X'Z; Z'X Z'Z + H^-1 sigma2e/sigma2a] (herds, then animals) and a solution. */
static PetscErrorCode DenseSolve(const Simulation *s, PetscReal *x)
{
  const PetscInt n = NHERD + NALL;
  PetscReal     *C, *rhs, *Hinv;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc3(n * n, &C, n, &rhs, NALL * NALL, &Hinv));
  PetscCall(DenseHinv(s, Hinv));
  for (PetscInt r = 0; r < NRECORDS; r++) {
    PetscInt e[2] = {s->herd[r], NHERD + s->animal[r]};
    for (int k = 0; k < 2; k++) {
      rhs[e[k]] += s->y[r];
      for (int l = 0; l < 2; l++) C[e[k] * n + e[l]] += 1;
    }
  }
  for (PetscInt i = 0; i < NALL; i++)
    for (PetscInt j = 0; j < NALL; j++) C[(NHERD + i) * n + NHERD + j] += Hinv[i * NALL + j] * sigma2e / sigma2a;
  PetscCall(TestSolvePSD(n, C, rhs, x));
  PetscCall(PetscFree3(C, rhs, Hinv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Compare(TestCounter *c, const PetscReal x[], const char path[], const char what[])
{
  TestSolution animal, herd;
  char         id[16];
  PetscInt     bad = 0;
  PetscReal    worst = 0;

  PetscFunctionBeginUser;
  PetscCall(TestSolutionLoad(path, "animal", "value", &animal));
  PetscCall(TestSolutionLoad(path, "herd", "value", &herd));
  for (PetscInt i = 0; i < NALL; i++) {
    PetscReal v;
    AnimalID(i, id);
    v = TestSolutionGet(&animal, id, 0);
    worst = PetscMax(worst, PetscAbsReal(v - x[NHERD + i]));
    if (!TestClose(v, x[NHERD + i])) bad++;
  }
  TestCheck(c, bad == 0 && animal.n == NALL, "%s: %" PetscInt_FMT " animals, %" PetscInt_FMT " differ from the dense H^-1 MME (largest difference %.3g)", what,
            animal.n, bad, (double)worst);
  for (PetscInt h = 1; h < NHERD; h++) {
    char l0[8], lh[8];
    snprintf(l0, sizeof(l0), "H0");
    snprintf(lh, sizeof(lh), "H%d", (int)h);
    if (!TestClose(TestSolutionGet(&herd, lh, 0) - TestSolutionGet(&herd, l0, 0), x[h] - x[0])) bad++;
  }
  TestCheck(c, bad == 0, "%s: the herd differences agree", what);
  PetscCall(TestSolutionDestroy(&animal));
  PetscCall(TestSolutionDestroy(&herd));
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

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(HendersonErrorInitialize());
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-work", work_dir, sizeof(work_dir), NULL));
  PetscCall(TestMakeDirectory(PETSC_COMM_WORLD, work_dir));
  PetscCall(PetscNew(&s));
  if (rank == 0) PetscCall(Simulate(s));
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscCall(Run(&c, "model.txt", "single step"));
  PetscCall(Run(&c, "model_apy.txt", "APY with all in the core"));
  if (rank == 0) {
    PetscReal *x;
    char       path[HENDERSON_MAX_PATH + 32];
    PetscCall(PetscMalloc1(NHERD + NALL, &x));
    PetscCall(DenseSolve(s, x));
    snprintf(path, sizeof(path), "%s/exact.h5", work_dir);
    PetscCall(Compare(&c, x, path, "single step"));
    snprintf(path, sizeof(path), "%s/apy.h5", work_dir);
    PetscCall(Compare(&c, x, path, "APY, all in the core"));
    PetscCall(PetscFree(x));
  }
  PetscCall(PetscFree(s));
  code = TestFinish(PETSC_COMM_WORLD, &c, "test_genomic");
  PetscCall(HendersonErrorFinalize());
  PetscCall(PetscFinalize());
  return code;
}
