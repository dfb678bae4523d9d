/* The two forms of C are one operator: for every model given, the iteration-on-data operator and the
   assembled AIJ matrix give the same product C x, the same right-hand side, and the data form's
   preconditioner matrix P is exactly the point-block diagonal of the assembled C.

     test_operator -models a/model.txt,b/model.txt,...

   The assembled matrix is the reference: its entries are summed from the same records and pedigree by
   a different route (a hash table of entries and PETSc's AIJ product) and it is itself checked against
   dense direct solves and published solutions by the other tests. */
#include "testing.h"
#include <math.h>

#define MAX_MODELS 32

/* Collective. The whole of V on rank 0 (NULL elsewhere); free with PetscFree(). */
static PetscErrorCode GatherToZero(Vec v, PetscScalar **all)
{
  VecScatter         scatter;
  Vec                zero;
  PetscInt           n;
  const PetscScalar *a;

  PetscFunctionBeginUser;
  *all = NULL;
  PetscCall(VecScatterCreateToZero(v, &scatter, &zero));
  PetscCall(VecScatterBegin(scatter, v, zero, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(scatter, v, zero, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetLocalSize(zero, &n));
  if (n) {
    PetscCall(PetscMalloc1(n, all));
    PetscCall(VecGetArrayRead(zero, &a));
    PetscCall(PetscArraycpy(*all, a, n));
    PetscCall(VecRestoreArrayRead(zero, &a));
  }
  PetscCall(VecScatterDestroy(&scatter));
  PetscCall(VecDestroy(&zero));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A value for global equation I that does not depend on the row layout. */
static PetscScalar TestValue(PetscInt i)
{
  TestRandom r;
  TestRandomSeed(&r, (uint64_t)i + 12345);
  return TestRandomUniform(&r) - 0.5;
}

typedef struct {
  PetscInt     n;
  PetscScalar *Cx, *Px, *rhs; /* on rank 0 */
  PetscReal    block;         /* max over columns of C X (MatMatMult) against C x_j (MatMult), relative */
  PetscBool    block_bitwise; /* ... and whether every column is the same to the bit */
} Products;

/* Collective. C X for a dense X of K columns against MatMult() of each column: the block product (the data
   form's interleaved pass, or PETSc's AIJ x dense) must give the same columns. K = 3 runs the kernels for
   any K, K = 8 those instantiated for it. */
static PetscErrorCode CheckBlockProduct(Mat C, PetscInt k, Products *out)
{
  Mat                X, Y;
  Vec                x, y;
  PetscInt           rstart, rend;
  PetscScalar       *Xa;
  const PetscScalar *Ya, *ya;
  PetscReal          local[2] = {0, 0}, global[2]; /* max |difference| / max |y|, and any bit differing */

  PetscFunctionBeginUser;
  PetscCall(MatCreateVecs(C, &x, &y));
  PetscCall(VecGetOwnershipRange(x, &rstart, &rend));
  PetscCall(MatCreateDense(PetscObjectComm((PetscObject)C), rend - rstart, PETSC_DECIDE, PETSC_DETERMINE, k, NULL, &X));
  PetscCall(MatDenseGetArrayWrite(X, &Xa));
  for (PetscInt j = 0; j < k; j++)
    for (PetscInt i = rstart; i < rend; i++) Xa[j * (rend - rstart) + i - rstart] = TestValue(i + 7919 * j) * (j + 1);
  PetscCall(MatDenseRestoreArrayWrite(X, &Xa));
  PetscCall(MatMatMult(C, X, MAT_INITIAL_MATRIX, PETSC_DEFAULT, &Y));
  PetscCall(MatMatMult(C, X, MAT_REUSE_MATRIX, PETSC_DEFAULT, &Y)); /* again, into the same Y */
  for (PetscInt j = 0; j < k; j++) {
    PetscReal diff = 0, scale = 0;
    PetscCall(MatGetColumnVector(X, x, j));
    PetscCall(MatMult(C, x, y));
    PetscCall(VecGetArrayRead(y, &ya));
    PetscCall(MatDenseGetArrayRead(Y, &Ya));
    for (PetscInt i = 0; i < rend - rstart; i++) {
      diff  = PetscMax(diff, PetscAbsScalar(Ya[j * (rend - rstart) + i] - ya[i]));
      scale = PetscMax(scale, PetscAbsScalar(ya[i]));
    }
    PetscCall(MatDenseRestoreArrayRead(Y, &Ya));
    PetscCall(VecRestoreArrayRead(y, &ya));
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &scale, 1, MPIU_REAL, MPI_MAX, PetscObjectComm((PetscObject)C)));
    local[0] = PetscMax(local[0], scale > 0 ? diff / scale : diff);
    if (diff != 0) local[1] = 1;
  }
  PetscCallMPI(MPI_Allreduce(local, global, 2, MPIU_REAL, MPI_MAX, PetscObjectComm((PetscObject)C)));
  out->block         = PetscMax(out->block, global[0]);
  out->block_bitwise = (PetscBool)(out->block_bitwise && global[1] == 0);
  PetscCall(MatDestroy(&X));
  PetscCall(MatDestroy(&Y));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. Builds the MME of MODEL with the operator type named, and gathers C x, P x (for the data
   form) or D x with D the point-block diagonal of C (assembled), and the right-hand side. */
static PetscErrorCode BuildAndApply(const char model[], const char type[], Products *out)
{
  Evaluation ev;
  MME        mme;
  Equations  eq;
  Mat        C, P;
  Vec        rhs, x, y;
  PetscInt   rstart, rend;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsSetValue(NULL, "-mme_operator", type));
  PetscCall(EvaluationCreate(PETSC_COMM_WORLD, &ev));
  PetscCall(EvaluationLoadModel(ev, model));
  PetscCall(EvaluationRead(ev));
  PetscCall(EvaluationPedigree(ev));
  PetscCall(EvaluationNumber(ev));
  PetscCall(EvaluationAssemble(ev));
  PetscCall(EvaluationGetMME(ev, &mme));
  PetscCall(EvaluationGetEquations(ev, &eq));
  PetscCall(MMEGetSystem(mme, &C, &P, &rhs));
  PetscCall(MatGetSize(C, &out->n, NULL));
  PetscCall(MatCreateVecs(C, &x, &y));
  PetscCall(VecGetOwnershipRange(x, &rstart, &rend));
  for (PetscInt i = rstart; i < rend; i++) PetscCall(VecSetValue(x, i, TestValue(i), INSERT_VALUES));
  PetscCall(VecAssemblyBegin(x));
  PetscCall(VecAssemblyEnd(x));

  PetscCall(MatMult(C, x, y));
  PetscCall(GatherToZero(y, &out->Cx));
  out->block         = 0;
  out->block_bitwise = PETSC_TRUE;
  PetscCall(CheckBlockProduct(C, 3, out));
  PetscCall(CheckBlockProduct(C, 8, out));
  if (P != C) {
    PetscCall(MatMult(P, x, y));
  } else { /* the point-block diagonal of the assembled C, row by row: a level's equations are never split over ranks */
    const PetscScalar *xa;
    PetscCall(VecGetArrayRead(x, &xa));
    for (PetscInt i = rstart; i < rend; i++) {
      PetscInt           ncols, first, size;
      const PetscInt    *cols;
      const PetscScalar *vals;
      PetscScalar        sum = 0;
      PetscCall(EquationsGetPointBlock(eq, i, &first, &size));
      PetscCheck(first >= rstart && first + size <= rend, PETSC_COMM_SELF, PETSC_ERR_PLIB, "the level of equation %" PetscInt_FMT " is split over ranks", i);
      PetscCall(MatGetRow(C, i, &ncols, &cols, &vals));
      for (PetscInt k = 0; k < ncols; k++)
        if (cols[k] >= first && cols[k] < first + size) sum += vals[k] * xa[cols[k] - rstart];
      PetscCall(MatRestoreRow(C, i, &ncols, &cols, &vals));
      PetscCall(VecSetValue(y, i, sum, INSERT_VALUES));
    }
    PetscCall(VecRestoreArrayRead(x, &xa));
    PetscCall(VecAssemblyBegin(y));
    PetscCall(VecAssemblyEnd(y));
  }
  PetscCall(GatherToZero(y, &out->Px));
  PetscCall(GatherToZero(rhs, &out->rhs));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscCall(EvaluationDestroy(&ev));
  PetscCall(PetscOptionsClearValue(NULL, "-mme_operator"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* max |a - b| / max |b|, over N values */
static PetscReal RelativeDifference(PetscInt n, const PetscScalar a[], const PetscScalar b[])
{
  PetscReal diff = 0, scale = 0;
  for (PetscInt i = 0; i < n; i++) {
    diff  = PetscMax(diff, PetscAbsScalar(a[i] - b[i]));
    scale = PetscMax(scale, PetscAbsScalar(b[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

int main(int argc, char **argv)
{
  TestCounter c = {0, 0};
  int         code;
  PetscMPIInt rank, size;
  char       *models[MAX_MODELS];
  PetscInt    nmodels = MAX_MODELS;
  PetscBool   set;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(HendersonErrorInitialize());
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscOptionsGetStringArray(NULL, NULL, "-models", models, &nmodels, &set));
  if (!set) nmodels = 0;
  for (PetscInt m = 0; m < nmodels; m++) {
    Products data, assembled;
    PetscCall(BuildAndApply(models[m], "data", &data));
    PetscCall(BuildAndApply(models[m], "assembled", &assembled));
    TestCheck(&c, data.n == assembled.n, "%s: %" PetscInt_FMT " equations in both forms", models[m], data.n);
    if (rank == 0 && data.n == assembled.n) {
      PetscReal dC = RelativeDifference(data.n, data.Cx, assembled.Cx), dP = RelativeDifference(data.n, data.Px, assembled.Px),
                dr = RelativeDifference(data.n, data.rhs, assembled.rhs);
      TestCheck(&c, dC < 1e-13, "%s: C x from the data and from the assembled matrix, relative difference %.3g", models[m], (double)dC);
      TestCheck(&c, dP < 1e-13, "%s: P x against the point-block diagonal of the assembled C, relative difference %.3g", models[m], (double)dP);
      TestCheck(&c, dr < 1e-13, "%s: right-hand sides, relative difference %.3g", models[m], (double)dr);
      TestCheck(&c, data.block < 1e-14, "%s: data form, C X (3 and 8 columns at once) against C x column by column, relative difference %.3g", models[m],
                (double)data.block);
      if (size == 1) TestCheck(&c, data.block_bitwise, "%s: data form on one rank, every column of C X the same to the bit as C x", models[m]);
      TestCheck(&c, assembled.block < 1e-13, "%s: assembled form (PETSc's AIJ x dense), C X against C x column by column, relative difference %.3g", models[m],
                (double)assembled.block);
      { /* products that are identically zero would agree trivially */
        PetscReal largest = 0;
        for (PetscInt i = 0; i < data.n; i++) largest = PetscMax(largest, PetscAbsScalar(data.Cx[i]));
        TestCheck(&c, largest > 1e-8, "%s: C x is not zero (largest %.3g)", models[m], (double)largest);
      }
    }
    PetscCall(PetscFree(data.Cx));
    PetscCall(PetscFree(data.Px));
    PetscCall(PetscFree(data.rhs));
    PetscCall(PetscFree(assembled.Cx));
    PetscCall(PetscFree(assembled.Px));
    PetscCall(PetscFree(assembled.rhs));
    PetscCall(PetscFree(models[m]));
  }
  code = TestFinish(PETSC_COMM_WORLD, &c, "test_operator");
  PetscCall(HendersonErrorFinalize());
  PetscCall(PetscFinalize());
  return code;
}
