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
