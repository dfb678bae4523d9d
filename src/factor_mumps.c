/* FACTORMUMPS: MUMPS' LDL' over all ranks, through PETSc's MATSOLVERMUMPS. */
#include "factorimpl.h"

#if defined(PETSC_HAVE_MUMPS)
typedef struct {
  Mat F; /* MUMPS' factor; its ordering and symbolic factorisation are kept between FactorSetUp()s */
} Factor_MUMPS;

static PetscErrorCode FactorSetUp_MUMPS(Factor f, Mat C)
{
  Factor_MUMPS  *m = (Factor_MUMPS *)f->data;
  MatFactorInfo  info;
  MatFactorError error;

  PetscFunctionBeginUser;
  PetscCall(MatFactorInfoInitialize(&info));
  if (!m->F) {
    PetscCall(MatGetFactor(C, MATSOLVERMUMPS, MAT_FACTOR_CHOLESKY, &m->F));
    PetscCall(MatMumpsSetIcntl(m->F, 33, 1)); /* compute the determinant */
    if (f->null_pivots) {
      /* a pivot below 1e-10 of the (scaled) matrix's norm is null: rounding makes the zero pivots of a
         singular matrix some 1e-15, a genuine one of equations carrying information is far above */
      PetscCall(MatMumpsSetIcntl(m->F, 24, 1));
      PetscCall(MatMumpsSetCntl(m->F, 3, 1e-10));
    }
    PetscCall(MatCholeskyFactorSymbolic(m->F, C, NULL, &info));
  }
  PetscCall(MatMumpsSetIcntl(m->F, 30, 0)); /* back to plain solves after selected inverse entries */
  PetscCall(MatCholeskyFactorNumeric(m->F, C, &info));
  PetscCall(MatFactorGetError(m->F, &error));
  PetscCheck(error == MAT_FACTOR_NOERROR, f->comm, PETSC_ERR_MAT_CH_ZRPVT,
             "MUMPS could not factor the mixed model equations (MatFactorError %d): not positive definite, or out of memory", (int)error);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FactorGetNullity_MUMPS(Factor f, PetscInt *nullity)
{
  Factor_MUMPS *m = (Factor_MUMPS *)f->data;

  PetscFunctionBeginUser;
  if (f->null_pivots) PetscCall(MatMumpsGetInfog(m->F, 28, nullity));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FactorGetLogDeterminant_MUMPS(Factor f, PetscReal *logdet)
{
  Factor_MUMPS *m = (Factor_MUMPS *)f->data;
  PetscReal     mantissa;
  PetscInt      exponent;

  PetscFunctionBeginUser;
  /* |C| = RINFOG(12) * 2^INFOG(34): no overflow however large the system */
  PetscCall(MatMumpsGetRinfog(m->F, 12, &mantissa));
  PetscCall(MatMumpsGetInfog(m->F, 34, &exponent));
  PetscCheck(mantissa > 0, f->comm, PETSC_ERR_MAT_CH_ZRPVT, "the mixed model equations are not positive definite (determinant %g x 2^%" PetscInt_FMT ")",
             (double)mantissa, exponent);
  *logdet = PetscLogReal(mantissa) + (PetscReal)exponent * PetscLogReal(2.0);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FactorSolve_MUMPS(Factor f, Vec b, Vec x)
{
  Factor_MUMPS *m = (Factor_MUMPS *)f->data;

  PetscFunctionBeginUser;
  PetscCheck(!f->inverse_taken || f->size == 1, f->comm, PETSC_ERR_ORDER, "solves after FactorGetInverseEntries() fail in MUMPS on several ranks: solve first");
  PetscCall(MatSolve(m->F, b, x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: the value at (ROW, COL) of the sequential CSR matrix (IA, JA, A), which must hold it. */
static PetscReal CSRValue(const PetscInt ia[], const PetscInt ja[], const PetscScalar a[], PetscInt row, PetscInt col)
{
  PetscInt lo = ia[row], hi = ia[row + 1];
  while (lo < hi) {
    PetscInt mid = lo + (hi - lo) / 2;
    if (ja[mid] < col)
      lo = mid + 1;
    else
      hi = mid;
  }
  return PetscRealPart(a[lo]);
}

/* The requested pattern, each entry once (PETSc 3.18's COO assembly keeps repeats, which MUMPS then
   misreads), as a matrix held whole by rank 0: MUMPS wants centralised sparse right-hand sides. */
static PetscErrorCode RequestPattern(Factor f, PetscInt N, PetscInt64 total, const PetscInt rows[], const PetscInt cols[], Mat *spRHST)
{
  PetscInt64  *keys;
  PetscInt     nunique = 0, *urows, *ucols;
  PetscScalar *zeros;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(total + 1, &keys));
  for (PetscInt64 k = 0; k < total; k++) keys[k] = (PetscInt64)rows[k] * N + cols[k];
  PetscCall(PetscSortInt64((PetscInt)total, keys));
  for (PetscInt64 k = 0; k < total; k++)
    if (!nunique || keys[k] != keys[nunique - 1]) keys[nunique++] = keys[k];
  PetscCall(PetscMalloc3(nunique + 1, &urows, nunique + 1, &ucols, nunique + 1, &zeros));
  for (PetscInt k = 0; k < nunique; k++) {
    urows[k] = (PetscInt)(keys[k] / N);
    ucols[k] = (PetscInt)(keys[k] % N);
    zeros[k] = 0;
  }
  PetscCall(MatCreate(f->comm, spRHST));
  PetscCall(MatSetSizes(*spRHST, f->rank == 0 ? N : 0, f->rank == 0 ? N : 0, N, N));
  PetscCall(MatSetType(*spRHST, MATAIJ));
  PetscCall(MatSetPreallocationCOO(*spRHST, nunique, urows, ucols));
  PetscCall(MatSetValuesCOO(*spRHST, zeros, INSERT_VALUES));
  PetscCall(PetscFree3(urows, ucols, zeros));
  PetscCall(PetscFree(keys));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FactorGetInverseEntries_MUMPS(Factor f, PetscInt64 total, const PetscInt rows[], const PetscInt cols[], PetscReal values[])
{
  Factor_MUMPS *m = (Factor_MUMPS *)f->data;
  PetscInt      N;
  Mat           spRHST, spRHS, seq;

  PetscFunctionBeginUser;
  PetscCall(MatGetSize(m->F, &N, NULL));
  PetscCall(RequestPattern(f, N, total, rows, cols, &spRHST));
  PetscCall(MatCreateTranspose(spRHST, &spRHS));
  PetscCall(MatMumpsGetInverse(m->F, spRHS)); /* C symmetric: entry (i, j) of spRHST is C^-1(i, j) */
  PetscCall(MatMumpsSetIcntl(m->F, 30, 0));
  if (f->size > 1)
    PetscCall(MatMPIAIJGetSeqAIJ(spRHST, &seq, NULL, NULL));
  else
    seq = spRHST;
  if (f->rank == 0) {
    const PetscInt    *ia, *ja;
    const PetscScalar *a;
    PetscInt           nrows;
    PetscBool          done;
    PetscCall(MatGetRowIJ(seq, 0, PETSC_FALSE, PETSC_FALSE, &nrows, &ia, &ja, &done));
    PetscCheck(done, PETSC_COMM_SELF, PETSC_ERR_PLIB, "no CSR structure");
    PetscCall(MatSeqAIJGetArrayRead(seq, &a));
    for (PetscInt64 k = 0; k < total; k++) values[k] = CSRValue(ia, ja, a, rows[k], cols[k]);
    PetscCall(MatSeqAIJRestoreArrayRead(seq, &a));
    PetscCall(MatRestoreRowIJ(seq, 0, PETSC_FALSE, PETSC_FALSE, &nrows, &ia, &ja, &done));
  }
  PetscCall(MatDestroy(&spRHS));
  PetscCall(MatDestroy(&spRHST));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FactorDestroy_MUMPS(Factor f)
{
  Factor_MUMPS *m = (Factor_MUMPS *)f->data;

  PetscFunctionBeginUser;
  PetscCall(MatDestroy(&m->F));
  PetscCall(PetscFree(f->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorCreate_MUMPS(Factor f)
{
  Factor_MUMPS *m;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&m));
  f->data        = m;
  f->type        = FACTORMUMPS;
  f->ops.setup   = FactorSetUp_MUMPS;
  f->ops.nullity = FactorGetNullity_MUMPS;
  f->ops.logdet  = FactorGetLogDeterminant_MUMPS;
  f->ops.solve   = FactorSolve_MUMPS;
  f->ops.inverse = FactorGetInverseEntries_MUMPS;
  f->ops.destroy = FactorDestroy_MUMPS;
  PetscFunctionReturn(PETSC_SUCCESS);
}
#else
PetscErrorCode FactorCreate_MUMPS(Factor f)
{
  PetscFunctionBeginUser;
  SETERRQ(f->comm, PETSC_ERR_SUP, "this PETSc has no MUMPS: -factor_type mumps needs it");
}
#endif
