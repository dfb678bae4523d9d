/* test_factor: the sparse factorisation of factor.h against dense linear algebra, on a random sparse
   symmetric positive definite matrix spread over the ranks: selected entries of the inverse (both
   triangles, repeats, every rank asking for its own), log|C| and a solve. */
#include <henderson/henderson.h>
#include "testing.h"

#define N 60

int main(int argc, char **argv)
{
  TestCounter c = {0, 0};
  PetscMPIInt rank, size;
  Mat         C;
  PetscReal  *dense = NULL, logdet, worst = 0;
  Factor      factor;
  PetscInt    rstart, rend, nreq = 0, *rows, *cols;
  PetscReal  *values;
  TestRandom  r;
  int         code;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(HendersonErrorInitialize());
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(MatCreateAIJ(PETSC_COMM_WORLD, PETSC_DECIDE, PETSC_DECIDE, N, N, N, NULL, N, NULL, &C));
  PetscCall(MatSetOption(C, MAT_SYMMETRIC, PETSC_TRUE));
  if (rank == 0) { /* a banded and scattered pattern, diagonally dominant */
    TestRandomSeed(&r, 7);
    for (PetscInt i = 0; i < N; i++) {
      PetscCall(MatSetValue(C, i, i, 10.0 + i % 7, ADD_VALUES));
      for (PetscInt k = 0; k < 3; k++) {
        PetscInt  j = TestRandomInt(&r, N);
        PetscReal v = TestRandomUniform(&r) - 0.5;
        if (j == i) continue;
        PetscCall(MatSetValue(C, i, j, v, ADD_VALUES));
        PetscCall(MatSetValue(C, j, i, v, ADD_VALUES));
      }
    }
  }
  PetscCall(MatAssemblyBegin(C, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(C, MAT_FINAL_ASSEMBLY));
  PetscCall(TestMatGatherDense(C, &dense));
  PetscCall(FactorCreate(PETSC_COMM_WORLD, &factor));
  PetscCall(FactorSetUp(factor, C));
  PetscCall(FactorGetLogDeterminant(factor, &logdet));
  { /* a solve (before the inverse entries: factor.h) */
    Vec       b, x, y;
    PetscReal norm, bnorm;
    PetscCall(MatCreateVecs(C, &x, &b));
    PetscCall(VecDuplicate(b, &y));
    PetscCall(VecSetRandom(b, NULL));
    PetscCall(FactorSolve(factor, b, x));
    PetscCall(MatMult(C, x, y));
    PetscCall(VecAXPY(y, -1, b));
    PetscCall(VecNorm(y, NORM_2, &norm));
    PetscCall(VecNorm(b, NORM_2, &bnorm));
    TestCheck(&c, norm < 1e-12 * bnorm, "solve: relative residual %.3g", (double)(norm / bnorm));
    PetscCall(VecDestroy(&b));
    PetscCall(VecDestroy(&x));
    PetscCall(VecDestroy(&y));
  }
  /* every rank asks for its rows against every column, plus a repeat */
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
  if (rank == 0) {
    PetscReal *inverse, ld = 0, *L;
    PetscCall(PetscMalloc2(N * N, &inverse, N * N, &L));
    PetscCall(PetscArraycpy(inverse, dense, N * N));
    PetscCall(TestInverseSPD(N, inverse));
    PetscCall(PetscArraycpy(L, dense, N * N));
    for (PetscInt j = 0; j < N; j++) { /* log|C| by a dense Cholesky */
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
    TestCheck(&c, PetscAbsReal(ld - logdet) < 1e-10 * PetscAbsReal(ld), "log|C| %.12g, dense %.12g", (double)logdet, (double)ld);
    PetscCallMPI(MPI_Bcast(inverse, N * N, MPIU_REAL, 0, PETSC_COMM_WORLD));
    for (PetscInt k = 0; k < nreq; k++) worst = PetscMax(worst, PetscAbsReal(values[k] - inverse[rows[k] * N + cols[k]]));
    PetscCall(PetscFree2(inverse, L));
  } else {
    PetscReal *inverse;
    PetscCall(PetscMalloc1(N * N, &inverse));
    PetscCallMPI(MPI_Bcast(inverse, N * N, MPIU_REAL, 0, PETSC_COMM_WORLD));
    for (PetscInt k = 0; k < nreq; k++) worst = PetscMax(worst, PetscAbsReal(values[k] - inverse[rows[k] * N + cols[k]]));
    PetscCall(PetscFree(inverse));
  }
  TestCheck(&c, worst < 1e-12, "%" PetscInt_FMT " entries of the inverse (both triangles) agree with the dense inverse (largest difference %.3g)", nreq,
            (double)worst);
  PetscCall(PetscFree3(rows, cols, values));
  PetscCall(PetscFree(dense));
  PetscCall(FactorDestroy(&factor));
  PetscCall(MatDestroy(&C));
  code = TestFinish(PETSC_COMM_WORLD, &c, "test_factor");
  PetscCall(HendersonErrorFinalize());
  PetscCall(PetscFinalize());
  return code;
}
