/* test_factor: the sparse factorisations of factor.h against dense linear algebra, on the equations of a
   small animal model (herd levels and a pedigree's A-inverse, spread over the ranks): selected entries of
   the inverse (both triangles, repeats, every rank asking for its own, on and off the factor's pattern),
   log|C| and a solve -- for the type -factor_type chooses. A cholmod Factor is also held against MUMPS'
   inverse entries on C's pattern (1e-10), and a singular C must hand it over to MUMPS with the right
   nullity. */
#include <henderson/henderson.h>
#include "testing.h"

#define NHERD 6

/* C of y = herd + animal + e, lambda 2, animals NHERD.. with parents among the SPAN animals before them;
   with SINGULAR, a last herd equation that repeats the first (every animal in herd 0 counted twice). */
static PetscErrorCode BuildEquations(PetscInt n, PetscInt span, PetscBool singular, Mat *C)
{
  PetscMPIInt rank;
  TestRandom  r;
  PetscInt    N = NHERD + n + (singular ? 1 : 0);

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(MatCreateAIJ(PETSC_COMM_WORLD, PETSC_DECIDE, PETSC_DECIDE, N, N, 60, NULL, 60, NULL, C));
  PetscCall(MatSetOption(*C, MAT_NEW_NONZERO_ALLOCATION_ERR, PETSC_FALSE));
  PetscCall(MatSetOption(*C, MAT_SYMMETRIC, PETSC_TRUE));
  if (rank == 0) {
    TestRandomSeed(&r, 7);
    for (PetscInt i = 0; i < n; i++) {
      PetscInt  a = NHERD + i, h = TestRandomInt(&r, NHERD), s = i > 2 ? i - 1 - TestRandomInt(&r, PetscMin(i, span)) : -1;
      PetscInt  d = i > 2 ? i - 1 - TestRandomInt(&r, PetscMin(i, span)) : -1, m[3] = {a, s >= 0 ? NHERD + s : -1, d >= 0 ? NHERD + d : -1};
      PetscReal q[3] = {1, -0.5, -0.5}, alpha = 2.0 * (s >= 0 && d >= 0 ? 2.0 : 1.0);
      PetscInt  hs[2] = {h, h == 0 && singular ? N - 1 : -1};
      for (PetscInt x = 0; x < 3; x++) /* lambda A-inverse by Henderson's rules (no inbreeding) */
        for (PetscInt y = 0; y < 3; y++)
          if (m[x] >= 0 && m[y] >= 0) PetscCall(MatSetValue(*C, m[x], m[y], alpha * q[x] * q[y], ADD_VALUES));
      PetscCall(MatSetValue(*C, a, a, 1.0, ADD_VALUES)); /* one record an animal */
      for (PetscInt k = 0; k < 2; k++) {
        if (hs[k] < 0) continue;
        PetscCall(MatSetValue(*C, hs[k], hs[k], 1.0, ADD_VALUES));
        PetscCall(MatSetValue(*C, hs[k], a, 1.0, ADD_VALUES));
        PetscCall(MatSetValue(*C, a, hs[k], 1.0, ADD_VALUES));
        if (k) {
          PetscCall(MatSetValue(*C, h, hs[k], 1.0, ADD_VALUES));
          PetscCall(MatSetValue(*C, hs[k], h, 1.0, ADD_VALUES));
        }
      }
    }
  }
  PetscCall(MatAssemblyBegin(*C, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(*C, MAT_FINAL_ASSEMBLY));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CheckSolve(TestCounter *c, Factor factor, Mat C)
{
  Vec       b, x, y;
  PetscReal norm, bnorm;

  PetscFunctionBeginUser;
  PetscCall(MatCreateVecs(C, &x, &b));
  PetscCall(VecDuplicate(b, &y));
  PetscCall(VecSetRandom(b, NULL));
  PetscCall(FactorSolve(factor, b, x));
  PetscCall(MatMult(C, x, y));
  PetscCall(VecAXPY(y, -1, b));
  PetscCall(VecNorm(y, NORM_2, &norm));
  PetscCall(VecNorm(b, NORM_2, &bnorm));
  TestCheck(c, norm < 1e-12 * bnorm, "solve: relative residual %.3g", (double)(norm / bnorm));
  PetscCall(VecDestroy(&b));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: log|C| by a dense Cholesky factor of the N x N DENSE. */
static PetscReal DenseLogDeterminant(PetscInt N, const PetscReal dense[])
{
  PetscReal *L, ld = 0;

  if (PetscMalloc1(N * N, &L)) return NAN;
  if (PetscArraycpy(L, dense, N * N)) return NAN;
  for (PetscInt j = 0; j < N; j++) {
    PetscReal d = L[j * N + j];
    for (PetscInt k = 0; k < j; k++) d -= L[j * N + k] * L[j * N + k];
    L[j * N + j] = PetscSqrtReal(d);
    ld += 2 * PetscLogReal(L[j * N + j]);
    for (PetscInt i = j + 1; i < N; i++) {
      PetscReal v = L[i * N + j];
      for (PetscInt k = 0; k < j; k++) v -= L[i * N + k] * L[j * N + k];
      L[i * N + j] = v / L[j * N + j];
    }
  }
  if (PetscFree(L)) return NAN;
  return ld;
}

/* Every rank asks for its rows against every column, plus a repeat; held against the dense inverse. */
static PetscErrorCode CheckInverseEntries(TestCounter *c, Factor factor, Mat C, const PetscReal dense[])
{
  PetscMPIInt rank;
  PetscInt    N, rstart, rend, nreq           = 0, *rows, *cols;
  PetscReal  *values, *inverse, logdet, worst = 0;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(MatGetSize(C, &N, NULL));
  PetscCall(MatGetOwnershipRange(C, &rstart, &rend));
  PetscCall(PetscMalloc3((rend - rstart) * N + 1, &rows, (rend - rstart) * N + 1, &cols, (rend - rstart) * N + 1, &values));
  for (PetscInt i = rstart; i < rend; i++)
    for (PetscInt j = 0; j < N; j++) {
      rows[nreq]   = i;
      cols[nreq++] = j;
    }
  if (nreq) {
    rows[nreq]   = rows[0];
    cols[nreq++] = cols[0] + 1 < N ? cols[0] + 1 : 0;
  }
  PetscCall(FactorGetInverseEntries(factor, nreq, rows, cols, values));
  PetscCall(FactorGetLogDeterminant(factor, &logdet));
  PetscCall(PetscMalloc1(N * N, &inverse));
  if (rank == 0) {
    PetscReal ld = DenseLogDeterminant(N, dense);
    TestCheck(c, PetscAbsReal(ld - logdet) < 1e-10 * PetscAbsReal(ld), "log|C| %.12g, dense %.12g", (double)logdet, (double)ld);
    PetscCall(PetscArraycpy(inverse, dense, N * N));
    PetscCall(TestInverseSPD(N, inverse));
  }
  PetscCallMPI(MPI_Bcast(inverse, N * N, MPIU_REAL, 0, PETSC_COMM_WORLD));
  for (PetscInt k = 0; k < nreq; k++) worst = PetscMax(worst, PetscAbsReal(values[k] - inverse[rows[k] * N + cols[k]]));
  TestCheck(c, worst < 1e-12, "%" PetscInt_FMT " entries of the inverse (both triangles) agree with the dense inverse (largest difference %.3g)", nreq,
            (double)worst);
  PetscCall(PetscFree(inverse));
  PetscCall(PetscFree3(rows, cols, values));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The entries of C's own pattern (this rank's rows) from FACTOR and from a MUMPS factor: 1e-10 relative. */
static PetscErrorCode CheckAgainstMUMPS(TestCounter *c, Factor factor, Mat C)
{
  Factor     mumps;
  PetscInt   rstart, rend, nreq   = 0, *rows, *cols;
  PetscReal *mine, *theirs, worst = 0;
  MatInfo    info;

  PetscFunctionBeginUser;
  PetscCall(MatGetOwnershipRange(C, &rstart, &rend));
  PetscCall(MatGetInfo(C, MAT_LOCAL, &info));
  PetscCall(PetscMalloc4((PetscInt)info.nz_used + 1, &rows, (PetscInt)info.nz_used + 1, &cols, (PetscInt)info.nz_used + 1, &mine, (PetscInt)info.nz_used + 1,
                         &theirs));
  for (PetscInt i = rstart; i < rend; i++) {
    const PetscInt *cj;
    PetscInt        ncols;
    PetscCall(MatGetRow(C, i, &ncols, &cj, NULL));
    for (PetscInt k = 0; k < ncols; k++) rows[nreq] = i, cols[nreq++] = cj[k];
    PetscCall(MatRestoreRow(C, i, &ncols, &cj, NULL));
  }
  PetscCall(FactorCreate(PETSC_COMM_WORLD, &mumps));
  PetscCall(FactorSetType(mumps, FACTORMUMPS));
  PetscCall(FactorSetUp(mumps, C));
  PetscCall(FactorGetInverseEntries(mumps, nreq, rows, cols, theirs));
  PetscCall(FactorGetInverseEntries(factor, nreq, rows, cols, mine));
  for (PetscInt k = 0; k < nreq; k++) worst = PetscMax(worst, PetscAbsReal(mine[k] - theirs[k]) / PetscAbsReal(theirs[k]));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &worst, 1, MPIU_REAL, MPIU_MAX, PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &nreq, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD));
  TestCheck(c, worst < 1e-10, "%" PetscInt_FMT " entries of C^-1 on C's pattern agree with MUMPS' (largest relative difference %.3g)", nreq, (double)worst);
  PetscCall(FactorDestroy(&mumps));
  PetscCall(PetscFree4(rows, cols, mine, theirs));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A singular C with null pivot detection: one null pivot, and a cholmod Factor has become a mumps one. */
static PetscErrorCode CheckSingular(TestCounter *c, PetscInt n, PetscInt span)
{
  Mat        C;
  Factor     factor;
  PetscInt   nullity;
  FactorType before, after;

  PetscFunctionBeginUser;
  PetscCall(BuildEquations(n, span, PETSC_TRUE, &C));
  PetscCall(FactorCreate(PETSC_COMM_WORLD, &factor));
  PetscCall(FactorSetFromOptions(factor));
  PetscCall(FactorGetType(factor, &before));
  PetscCall(FactorSetNullPivotDetection(factor, PETSC_TRUE));
  PetscCall(FactorSetUp(factor, C));
  PetscCall(FactorGetType(factor, &after));
  PetscCall(FactorGetNullity(factor, &nullity));
  TestCheck(c, nullity == 1, "singular C (%s, factored as %s): nullity %" PetscInt_FMT ", expected 1", before, after, nullity);
  TestCheck(c, !strcmp(after, FACTORMUMPS), "singular C: factored by %s, expected mumps", after);
  PetscCall(FactorDestroy(&factor));
  PetscCall(MatDestroy(&C));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  TestCounter c = {0, 0};
  Mat         C;
  PetscReal  *dense = NULL;
  Factor      factor;
  PetscInt    n = 300, span = 60;
  FactorType  type;
  int         code;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(HendersonErrorInitialize());
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-test_animals", &n, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-test_span", &span, NULL));
  PetscCall(BuildEquations(n, span, PETSC_FALSE, &C));
  PetscCall(TestMatGatherDense(C, &dense));
  PetscCall(FactorCreate(PETSC_COMM_WORLD, &factor));
  PetscCall(FactorSetFromOptions(factor));
  PetscCall(FactorSetUp(factor, C));
  PetscCall(FactorGetType(factor, &type));
  PetscCall(FactorView(factor, PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(CheckSolve(&c, factor, C)); /* before the inverse entries: factor.h */
  PetscCall(CheckInverseEntries(&c, factor, C, dense));
  if (!strcmp(type, FACTORCHOLMOD)) PetscCall(CheckAgainstMUMPS(&c, factor, C));
  PetscCall(CheckSingular(&c, n, span));
  PetscCall(PetscFree(dense));
  PetscCall(FactorDestroy(&factor));
  PetscCall(MatDestroy(&C));
  code = TestFinish(PETSC_COMM_WORLD, &c, "test_factor");
  PetscCall(HendersonErrorFinalize());
  PetscCall(PetscFinalize());
  return code;
}
