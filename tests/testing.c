#include "testing.h"
#include <petscblaslapack.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

void TestRandomSeed(TestRandom *r, uint64_t seed)
{
  r->state = seed * 0x9E3779B97F4A7C15ULL + 1;
}

uint64_t TestRandomNext(TestRandom *r)
{
  uint64_t z = (r->state += 0x9E3779B97F4A7C15ULL); /* splitmix64 */
  z          = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z          = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double TestRandomUniform(TestRandom *r)
{
  return (double)(TestRandomNext(r) >> 11) * (1.0 / 9007199254740992.0);
}

PetscInt TestRandomInt(TestRandom *r, PetscInt n)
{
  return (PetscInt)(TestRandomNext(r) % (uint64_t)n);
}

double TestRandomNormal(TestRandom *r)
{
  double u = TestRandomUniform(r), v = TestRandomUniform(r);
  return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * PETSC_PI * v);
}

void TestShuffle(TestRandom *r, PetscInt a[], PetscInt n)
{
  for (PetscInt i = n - 1; i > 0; i--) {
    PetscInt j = TestRandomInt(r, i + 1), t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

PetscBool TestCheck(TestCounter *c, PetscBool ok, const char *format, ...)
{
  PetscBool verbose = PETSC_FALSE;
  c->checks++;
  if (!ok) c->failures++;
  (void)PetscOptionsGetBool(NULL, NULL, "-test_verbose", &verbose, NULL);
  if (!ok || verbose) {
    va_list     args;
    PetscMPIInt rank;
    MPI_Comm_rank(PETSC_COMM_WORLD, &rank);
    printf("[%d] %s: ", rank, ok ? "ok" : "FAIL");
    va_start(args, format);
    vprintf(format, args);
    va_end(args);
    printf("\n");
    fflush(stdout);
  }
  return ok;
}

int TestFinish(MPI_Comm comm, TestCounter *c, const char name[])
{
  PetscInt    local[2] = {c->checks, c->failures}, global[2];
  PetscMPIInt rank, size;
  MPI_Allreduce(local, global, 2, MPIU_INT, MPI_SUM, comm);
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  if (!rank) printf("%s on %d rank%s: %" PetscInt_FMT " checks, %" PetscInt_FMT " failed\n", name, size, size == 1 ? "" : "s", global[0], global[1]);
  return global[1] || !global[0] ? 1 : 0; /* a test that checked nothing has failed */
}

PetscErrorCode TestTabularA(PetscInt n, const PetscInt sire[], const PetscInt dam[], PetscReal A[])
{
  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < n; i++) {
    PetscInt s = sire[i], d = dam[i];
    PetscCheck(s < i && d < i, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "tabular method: parents after progeny");
    for (PetscInt j = 0; j < i; j++) {
      PetscReal a = 0;
      if (s >= 0) a += 0.5 * A[j * n + s];
      if (d >= 0) a += 0.5 * A[j * n + d];
      A[i * n + j] = A[j * n + i] = a;
    }
    A[i * n + i] = 1.0 + ((s >= 0 && d >= 0) ? 0.5 * A[s * n + d] : 0.0);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode TestInverseSPD(PetscInt n, PetscReal A[])
{
  PetscBLASInt bn, info;

  PetscFunctionBeginUser;
  PetscCall(PetscBLASIntCast(n, &bn));
  LAPACKpotrf_("U", &bn, A, &bn, &info);
  PetscCheck(!info, PETSC_COMM_SELF, PETSC_ERR_LIB, "potrf: %d", (int)info);
  LAPACKpotri_("U", &bn, A, &bn, &info);
  PetscCheck(!info, PETSC_COMM_SELF, PETSC_ERR_LIB, "potri: %d", (int)info);
  /* column-major "U" is row-major lower: mirror it */
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < i; j++) A[j * n + i] = A[i * n + j];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode TestSolvePSD(PetscInt n, const PetscReal A[], const PetscReal b[], PetscReal x[])
{
  PetscBLASInt bn, lwork, info;
  PetscReal   *V, *w, *work, *y, *scale, wmax;

  PetscFunctionBeginUser;
  PetscCall(PetscBLASIntCast(n, &bn));
  lwork = 10 * bn;
  PetscCall(PetscMalloc5(n * n, &V, n, &w, lwork, &work, n, &y, n, &scale));
  /* Jacobi scaling first: S A S with S = diag(A)^-1/2 has eigenvalues of order one, so that the
     eigenvectors (and the solution) are accurate whatever the units of the covariates. */
  for (PetscInt i = 0; i < n; i++) scale[i] = A[i * n + i] > 0 ? 1.0 / PetscSqrtReal(A[i * n + i]) : 1.0;
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) V[i * n + j] = scale[i] * A[i * n + j] * scale[j];
  LAPACKsyev_("V", "U", &bn, V, &bn, w, work, &lwork, &info);
  PetscCheck(!info, PETSC_COMM_SELF, PETSC_ERR_LIB, "syev: %d", (int)info);
  wmax = PetscAbsReal(w[n - 1]);
  /* (S A S)^+ S b through the eigenpairs, dropping the null space; V column-major: column k = eigenvector k */
  for (PetscInt k = 0; k < n; k++) {
    PetscReal dot = 0;
    for (PetscInt i = 0; i < n; i++) dot += V[k * n + i] * scale[i] * b[i];
    y[k] = w[k] > 1e3 * n * PETSC_MACHINE_EPSILON * wmax ? dot / w[k] : 0.0;
  }
  for (PetscInt i = 0; i < n; i++) {
    x[i] = 0;
    for (PetscInt k = 0; k < n; k++) x[i] += V[k * n + i] * y[k];
    x[i] *= scale[i];
  }
  PetscCall(PetscFree5(V, w, work, y, scale));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode TestMatGatherDense(Mat A, PetscReal **dense)
{
  PetscMPIInt rank;
  PetscInt    n;
  IS          is;
  Mat        *sub;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PetscObjectComm((PetscObject)A), &rank));
  PetscCall(MatGetSize(A, &n, NULL));
  PetscCall(ISCreateStride(PETSC_COMM_SELF, rank == 0 ? n : 0, 0, 1, &is));
  PetscCall(MatCreateSubMatrices(A, 1, &is, &is, MAT_INITIAL_MATRIX, &sub));
  *dense = NULL;
  if (rank == 0) {
    PetscCall(PetscCalloc1(n * n, dense));
    for (PetscInt i = 0; i < n; i++) {
      PetscInt           ncols;
      const PetscInt    *cols;
      const PetscScalar *vals;
      PetscCall(MatGetRow(sub[0], i, &ncols, &cols, &vals));
      for (PetscInt k = 0; k < ncols; k++) (*dense)[i * n + cols[k]] = PetscRealPart(vals[k]);
      PetscCall(MatRestoreRow(sub[0], i, &ncols, &cols, &vals));
    }
  }
  PetscCall(MatDestroySubMatrices(1, &sub));
  PetscCall(ISDestroy(&is));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode TestRunREML(Evaluation ev, const char model[])
{
  REML r;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsSetValue(NULL, "-mme_operator", "assembled"));
  PetscCall(EvaluationLoadModel(ev, model));
  PetscCall(EvaluationRead(ev));
  PetscCall(EvaluationPedigree(ev));
  PetscCall(EvaluationNumber(ev));
  PetscCall(EvaluationAssemble(ev));
  PetscCall(REMLCreate(PETSC_COMM_WORLD, &r));
  PetscCall(REMLSetFromOptions(r));
  PetscCall(REMLRun(r, ev));
  PetscCall(EvaluationReassemble(ev));
  PetscCall(EvaluationSolve(ev));
  PetscCall(EvaluationSetWriteHook(ev, REMLWriteOutput, r));
  PetscCall(EvaluationWrite(ev, NULL));
  PetscCall(REMLView(r, PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(REMLDestroy(&r));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode TestMakeDirectory(MPI_Comm comm, const char path[])
{
  PetscMPIInt rank;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    char partial[HENDERSON_MAX_PATH];
    PetscCall(PetscStrncpy(partial, path, sizeof(partial)));
    for (char *p = partial + 1; *p; p++)
      if (*p == '/') {
        *p = 0;
        mkdir(partial, 0755);
        *p = '/';
      }
    mkdir(partial, 0755);
  }
  PetscCallMPI(MPI_Barrier(comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* GZt = G Z' (q x n) and V = Z G Z' + R (n x n). */
static void MarginalCovariance(PetscInt n, PetscInt q, const PetscReal Z[], const PetscReal G[], const PetscReal R[], PetscReal GZt[], PetscReal V[])
{
  for (PetscInt a = 0; a < q; a++)
    for (PetscInt i = 0; i < n; i++) {
      PetscReal v = 0;
      for (PetscInt j = 0; j < q; j++) v += G[a * q + j] * Z[i * q + j];
      GZt[a * n + i] = v;
    }
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) {
      PetscReal v = R[i * n + j];
      for (PetscInt a = 0; a < q; a++) v += Z[i * q + a] * GZt[a * n + j];
      V[i * n + j] = v;
    }
}

/* X'V^-1X (p x p) and X'V^-1y added into XtViX and XtViy, from V^-1. */
static void GLSEquations(PetscInt n, PetscInt p, const PetscReal X[], const PetscReal Vi[], const PetscReal y[], PetscReal XtViX[], PetscReal XtViy[])
{
  for (PetscInt a = 0; a < p; a++)
    for (PetscInt i = 0; i < n; i++) {
      PetscReal xv = 0;
      for (PetscInt j = 0; j < n; j++) xv += X[j * p + a] * Vi[j * n + i];
      XtViy[a] += xv * y[i];
      for (PetscInt k = 0; k < p; k++) XtViX[a * p + k] += xv * X[i * p + k];
    }
}

PetscBool TestClose(PetscReal a, PetscReal b)
{
  return PetscAbsReal(a - b) <= 1e-8 * PetscMax(1.0, PetscAbsReal(b)) ? PETSC_TRUE : PETSC_FALSE;
}

PetscErrorCode TestMixedModelIdentities(TestCounter *c, PetscInt n, PetscInt p, PetscInt q, const PetscReal X[], const PetscReal Z[], const PetscReal G[],
                                        const PetscReal R[], const PetscReal y[], const PetscReal bm[], const PetscReal um[])
{
  PetscReal *GZt, *Vi, *XtViX, *XtViy, *b, *r, *w, *T, *Rinv, *Zs, *Cs, *rhs, *xs, worst;
  PetscBool  ok;
  PetscInt   m = p + q;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc5(q * n, &GZt, n * n, &Vi, p * p, &XtViX, p, &XtViy, p, &b));
  PetscCall(PetscCalloc5(n, &r, n, &w, q * q, &T, n * n, &Rinv, n * q, &Zs));
  PetscCall(PetscCalloc3(m * m, &Cs, m, &rhs, m, &xs));
  /* V = Z G Z' + R */
  MarginalCovariance(n, q, Z, G, R, GZt, Vi);
  PetscCall(TestInverseSPD(n, Vi));
  /* BLUE by GLS, compared as fitted values */
  GLSEquations(n, p, X, Vi, y, XtViX, XtViy);
  PetscCall(TestSolvePSD(p, XtViX, XtViy, b));
  ok    = PETSC_TRUE;
  worst = 0;
  for (PetscInt i = 0; i < n; i++) {
    PetscReal gls = 0, mme = 0;
    for (PetscInt a = 0; a < p; a++) {
      gls += X[i * p + a] * b[a];
      mme += X[i * p + a] * bm[a];
    }
    ok    = ok && TestClose(mme, gls);
    worst = PetscMax(worst, PetscAbsReal(gls - mme));
    r[i]  = y[i] - gls;
  }
  TestCheck(c, ok, "BLUE = GLS: X b of the MME equals X (X'V^-1X)^- X'V^-1 y on all %" PetscInt_FMT " observations (largest difference %.3g)", n,
            (double)worst);
  /* BLUP = G Z'V^-1 (y - X b) */
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) w[i] += Vi[i * n + j] * r[j];
  ok    = PETSC_TRUE;
  worst = 0;
  for (PetscInt a = 0; a < q; a++) {
    PetscReal v = 0;
    for (PetscInt i = 0; i < n; i++) v += GZt[a * n + i] * w[i];
    ok    = ok && TestClose(um[a], v);
    worst = PetscMax(worst, PetscAbsReal(v - um[a]));
  }
  TestCheck(c, ok, "BLUP = G Z'V^-1 (y - X b_hat) for all %" PetscInt_FMT " random levels (largest difference %.3g)", q, (double)worst);
  /* Cholesky reparametrisation: T lower, TT' = G; the MME of (X, ZT) with var(u*) = I */
  PetscCall(PetscArraycpy(T, G, q * q));
  for (PetscInt j = 0; j < q; j++) {
    PetscReal d = T[j * q + j];
    for (PetscInt k = 0; k < j; k++) d -= T[j * q + k] * T[j * q + k];
    PetscCheck(d > 0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "G is not positive definite");
    T[j * q + j] = PetscSqrtReal(d);
    for (PetscInt i = j + 1; i < q; i++) {
      PetscReal v = T[i * q + j];
      for (PetscInt k = 0; k < j; k++) v -= T[i * q + k] * T[j * q + k];
      T[i * q + j] = v / T[j * q + j];
    }
    for (PetscInt i = 0; i < j; i++) T[i * q + j] = 0;
  }
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt a = 0; a < q; a++) {
      PetscReal v = 0;
      for (PetscInt j = a; j < q; j++) v += Z[i * q + j] * T[j * q + a];
      Zs[i * q + a] = v;
    }
  PetscCall(PetscArraycpy(Rinv, R, n * n));
  PetscCall(TestInverseSPD(n, Rinv));
  for (PetscInt i = 0; i < n; i++) {
    PetscReal ri[4096];
    PetscCheck(m <= 4096, PETSC_COMM_SELF, PETSC_ERR_SUP, "too many unknowns");
    for (PetscInt a = 0; a < m; a++) { /* row i of R^-1 [X Z*] */
      PetscReal v = 0;
      for (PetscInt j = 0; j < n; j++) v += Rinv[i * n + j] * (a < p ? X[j * p + a] : Zs[j * q + a - p]);
      ri[a] = v;
    }
    for (PetscInt a = 0; a < m; a++) {
      PetscReal wa = a < p ? X[i * p + a] : Zs[i * q + a - p];
      if (wa == 0) continue;
      for (PetscInt k = 0; k < m; k++) Cs[a * m + k] += wa * ri[k];
    }
    for (PetscInt j = 0; j < n; j++) { /* the right-hand side [X Z*]' R^-1 y */
      PetscReal rij = Rinv[i * n + j] * y[j];
      if (rij == 0) continue;
      for (PetscInt a = 0; a < m; a++) rhs[a] += (a < p ? X[i * p + a] : Zs[i * q + a - p]) * rij;
    }
  }
  for (PetscInt a = 0; a < q; a++) Cs[(p + a) * m + p + a] += 1;
  PetscCall(TestSolvePSD(m, Cs, rhs, xs));
  ok    = PETSC_TRUE;
  worst = 0;
  for (PetscInt a = 0; a < q; a++) {
    PetscReal v = 0;
    for (PetscInt j = 0; j <= a; j++) v += T[a * q + j] * xs[p + j];
    ok    = ok && TestClose(um[a], v);
    worst = PetscMax(worst, PetscAbsReal(v - um[a]));
  }
  for (PetscInt i = 0; i < n; i++) {
    PetscReal fit_star = 0, fit = 0;
    for (PetscInt a = 0; a < p; a++) {
      fit_star += X[i * p + a] * xs[a];
      fit += X[i * p + a] * bm[a];
    }
    for (PetscInt a = 0; a < q; a++) {
      fit_star += Zs[i * q + a] * xs[p + a];
      fit += Z[i * q + a] * um[a];
    }
    ok    = ok && TestClose(fit, fit_star);
    worst = PetscMax(worst, PetscAbsReal(fit_star - fit));
  }
  TestCheck(c, ok, "Cholesky reparametrisation (G = TT', Z* = ZT, var(u*) = I): u = T u* and the same fitted values (largest difference %.3g)", (double)worst);
  PetscCall(PetscFree3(Cs, rhs, xs));
  PetscCall(PetscFree5(r, w, T, Rinv, Zs));
  PetscCall(PetscFree5(GZt, Vi, XtViX, XtViy, b));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* log|M| of a symmetric positive definite M (destroyed: its Cholesky factor) */
static PetscErrorCode LogDetSPD(PetscInt n, PetscReal M[], PetscReal *logdet)
{
  PetscBLASInt bn, info;

  PetscFunctionBeginUser;
  PetscCall(PetscBLASIntCast(n, &bn));
  LAPACKpotrf_("U", &bn, M, &bn, &info);
  PetscCheck(!info, PETSC_COMM_SELF, PETSC_ERR_LIB, "potrf: %d", (int)info);
  *logdet = 0;
  for (PetscInt i = 0; i < n; i++) *logdet += 2 * PetscLogReal(M[i * n + i]);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode TestREMLLogLikelihood(PetscInt n, PetscInt p, PetscInt q, const PetscReal X[], const PetscReal Z[], const PetscReal G[], const PetscReal R[],
                                     const PetscReal y[], PetscReal *logL)
{
  PetscReal *GZt, *V, *Vi, *XtViX, *XtViy, *b, *work, logV, logXVX, yPy = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc5(q * n, &GZt, n * n, &V, n * n, &Vi, p * p, &XtViX, p, &XtViy));
  PetscCall(PetscCalloc2(p, &b, p * p, &work));
  MarginalCovariance(n, q, Z, G, R, GZt, V);
  PetscCall(PetscArraycpy(Vi, V, n * n));
  PetscCall(TestInverseSPD(n, Vi));
  PetscCall(LogDetSPD(n, V, &logV));
  GLSEquations(n, p, X, Vi, y, XtViX, XtViy);
  PetscCall(PetscArraycpy(work, XtViX, p * p));
  PetscCall(LogDetSPD(p, work, &logXVX));
  PetscCall(TestSolvePSD(p, XtViX, XtViy, b));
  /* y'Py = y'V^-1 y - b'X'V^-1 y */
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) yPy += y[i] * Vi[i * n + j] * y[j];
  for (PetscInt a = 0; a < p; a++) yPy -= b[a] * XtViy[a];
  *logL = -0.5 * (logV + logXVX + yPy);
  PetscCall(PetscFree5(GZt, V, Vi, XtViX, XtViy));
  PetscCall(PetscFree2(b, work));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode TestREMLAverageInformation(PetscInt n, PetscInt p, PetscInt q, const PetscReal X[], const PetscReal Z[], const PetscReal G[],
                                          const PetscReal R[], const PetscReal y[], PetscInt npar, const PetscReal *const dG[], const PetscReal *const dR[],
                                          PetscReal AI[])
{
  PetscReal *GZt, *Vi, *XtViX, *ViX, *P, *Py, *w, *Pw;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc5(q * n, &GZt, n * n, &Vi, p * p, &XtViX, n * p, &ViX, n * n, &P));
  PetscCall(PetscCalloc3(n, &Py, npar * n, &w, npar * n, &Pw));
  MarginalCovariance(n, q, Z, G, R, GZt, Vi);
  PetscCall(TestInverseSPD(n, Vi));
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt a = 0; a < p; a++) {
      PetscReal v = 0;
      for (PetscInt j = 0; j < n; j++) v += Vi[i * n + j] * X[j * p + a];
      ViX[i * p + a] = v;
    }
  for (PetscInt a = 0; a < p; a++)
    for (PetscInt b = 0; b < p; b++)
      for (PetscInt i = 0; i < n; i++) XtViX[a * p + b] += X[i * p + a] * ViX[i * p + b];
  PetscCall(TestInverseSPD(p, XtViX));
  /* P = V^-1 - V^-1X (X'V^-1X)^-1 X'V^-1 */
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) {
      PetscReal v = Vi[i * n + j];
      for (PetscInt a = 0; a < p; a++)
        for (PetscInt b = 0; b < p; b++) v -= ViX[i * p + a] * XtViX[a * p + b] * ViX[j * p + b];
      P[i * n + j] = v;
    }
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < n; j++) Py[i] += P[i * n + j] * y[j];
  /* working variates w_k = dV_k P y, dV_k = Z dG_k Z' + dR_k */
  for (PetscInt k = 0; k < npar; k++) {
    PetscReal *zpy;
    PetscCall(PetscCalloc1(q, &zpy));
    for (PetscInt a = 0; a < q; a++)
      for (PetscInt i = 0; i < n; i++) zpy[a] += Z[i * q + a] * Py[i];
    for (PetscInt i = 0; i < n; i++) {
      PetscReal v = 0;
      if (dG[k])
        for (PetscInt a = 0; a < q; a++) {
          PetscReal g = 0;
          if (Z[i * q + a] == 0) continue;
          for (PetscInt b = 0; b < q; b++) g += dG[k][a * q + b] * zpy[b];
          v += Z[i * q + a] * g;
        }
      if (dR[k])
        for (PetscInt j = 0; j < n; j++) v += dR[k][i * n + j] * Py[j];
      w[k * n + i] = v;
    }
    PetscCall(PetscFree(zpy));
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = 0; j < n; j++) Pw[k * n + i] += P[i * n + j] * w[k * n + j];
  }
  for (PetscInt k = 0; k < npar; k++)
    for (PetscInt l = 0; l < npar; l++) {
      PetscReal v = 0;
      for (PetscInt i = 0; i < n; i++) v += w[k * n + i] * Pw[l * n + i];
      AI[k * npar + l] = 0.5 * v;
    }
  PetscCall(PetscFree5(GZt, Vi, XtViX, ViX, P));
  PetscCall(PetscFree3(Py, w, Pw));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode TestSolutionLoad(const char path[], const char name[], const char dataset[], TestSolution *e)
{
  PetscFunctionBeginUser;
  PetscCall(OutputReadEffect(path, name, &e->n, &e->ncolumns, &e->labels, &e->values, NULL));
  if (dataset) {
    PetscInt n, columns;
    PetscCall(PetscFree(e->values));
    PetscCall(OutputReadEffectDataset(path, name, dataset, &n, &columns, &e->values));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode TestSolutionDestroy(TestSolution *e)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(e->labels));
  PetscCall(PetscFree(e->values));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscReal TestSolutionGet(const TestSolution *e, const char label[], PetscInt column)
{
  for (PetscInt l = 0; l < e->n; l++)
    if (!strcmp(e->labels[l], label)) return e->values[l * e->ncolumns + column];
  return NAN;
}
