#include <henderson/factor.h>
#include <henderson/log.h>

struct _p_Factor {
  MPI_Comm    comm;
  PetscMPIInt rank, size;
  Mat         F;             /* MUMPS' factor */
  PetscBool   symbolic;      /* the ordering and symbolic factorisation are done */
  PetscBool   inverse_taken; /* selected inverse entries since the last numeric factorisation */
  PetscBool   null_pivots;   /* detect null pivots (a singular C) instead of failing */
};

PetscErrorCode FactorCreate(MPI_Comm comm, Factor *factor)
{
  PetscFunctionBeginUser;
  PetscCall(PetscNew(factor));
  (*factor)->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &(*factor)->rank));
  PetscCallMPI(MPI_Comm_size(comm, &(*factor)->size));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorDestroy(Factor *factor)
{
  PetscFunctionBeginUser;
  if (!*factor) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(MatDestroy(&(*factor)->F));
  PetscCall(PetscFree(*factor));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorSetUp(Factor f, Mat C)
{
#if defined(PETSC_HAVE_MUMPS)
  MatFactorInfo  info;
  MatFactorError error;

  PetscFunctionBeginUser;
  PetscCall(MatFactorInfoInitialize(&info));
  if (!f->symbolic) {
    PetscCall(MatGetFactor(C, MATSOLVERMUMPS, MAT_FACTOR_CHOLESKY, &f->F));
    PetscCall(MatMumpsSetIcntl(f->F, 33, 1)); /* compute the determinant */
    if (f->null_pivots) {
      /* a pivot below 1e-10 of the (scaled) matrix's norm is null: rounding makes the zero pivots of a
         singular matrix some 1e-15, a genuine one of equations carrying information is far above */
      PetscCall(MatMumpsSetIcntl(f->F, 24, 1));
      PetscCall(MatMumpsSetCntl(f->F, 3, 1e-10));
    }
    PetscCall(MatCholeskyFactorSymbolic(f->F, C, NULL, &info));
    f->symbolic = PETSC_TRUE;
  }
  PetscCall(MatMumpsSetIcntl(f->F, 30, 0)); /* back to plain solves after selected inverse entries */
  PetscCall(MatCholeskyFactorNumeric(f->F, C, &info));
  f->inverse_taken = PETSC_FALSE;
  PetscCall(MatFactorGetError(f->F, &error));
  PetscCheck(error == MAT_FACTOR_NOERROR, f->comm, PETSC_ERR_MAT_CH_ZRPVT,
             "MUMPS could not factor the mixed model equations (MatFactorError %d): not positive definite, or out of memory", (int)error);
  PetscFunctionReturn(PETSC_SUCCESS);
#else
  PetscFunctionBeginUser;
  SETERRQ(f->comm, PETSC_ERR_SUP, "this PETSc has no MUMPS: exact PEV and REML need it");
#endif
}

PetscErrorCode FactorSetNullPivotDetection(Factor f, PetscBool detect)
{
  PetscFunctionBeginUser;
  PetscCheck(!f->F, f->comm, PETSC_ERR_ARG_WRONGSTATE, "set the null pivot detection before FactorSetUp()");
  f->null_pivots = detect;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorGetNullity(Factor f, PetscInt *nullity)
{
  PetscFunctionBeginUser;
  *nullity = 0;
#if defined(PETSC_HAVE_MUMPS)
  PetscCheck(f->F, f->comm, PETSC_ERR_ARG_WRONGSTATE, "call FactorSetUp() first");
  if (f->null_pivots) PetscCall(MatMumpsGetInfog(f->F, 28, nullity));
#endif
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorNullVector(Factor f, Mat C, Vec n)
{
  Vec          b, x;
  PetscScalar *v;
  PetscInt     rstart, rend;

  PetscFunctionBeginUser;
  PetscCall(VecGetOwnershipRange(n, &rstart, &rend));
  PetscCall(VecGetArray(n, &v));
  for (PetscInt i = rstart; i < rend; i++) v[i - rstart] = HendersonKeyedUniform((uint64_t)i);
  PetscCall(VecRestoreArray(n, &v));
  PetscCall(VecDuplicate(n, &b));
  PetscCall(VecDuplicate(n, &x));
  PetscCall(MatMult(C, n, b));
  PetscCall(FactorSolve(f, b, x)); /* C x = C v is consistent: x is v less its part in the null space */
  PetscCall(VecAXPY(n, -1.0, x));
  PetscCall(VecDestroy(&b));
  PetscCall(VecDestroy(&x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorGetLogDeterminant(Factor f, PetscReal *logdet)
{
#if defined(PETSC_HAVE_MUMPS)
  PetscReal mantissa;
  PetscInt  exponent;

  PetscFunctionBeginUser;
  PetscCheck(f->F, f->comm, PETSC_ERR_ARG_WRONGSTATE, "call FactorSetUp() first");
  /* |C| = RINFOG(12) * 2^INFOG(34): no overflow however large the system */
  PetscCall(MatMumpsGetRinfog(f->F, 12, &mantissa));
  PetscCall(MatMumpsGetInfog(f->F, 34, &exponent));
  PetscCheck(mantissa > 0, f->comm, PETSC_ERR_MAT_CH_ZRPVT, "the mixed model equations are not positive definite (determinant %g x 2^%" PetscInt_FMT ")",
             (double)mantissa, exponent);
  *logdet = PetscLogReal(mantissa) + (PetscReal)exponent * PetscLogReal(2.0);
  PetscFunctionReturn(PETSC_SUCCESS);
#else
  PetscFunctionBeginUser;
  SETERRQ(f->comm, PETSC_ERR_SUP, "this PETSc has no MUMPS");
#endif
}

PetscErrorCode FactorSolve(Factor f, Vec b, Vec x)
{
  PetscFunctionBeginUser;
  PetscCheck(f->F, f->comm, PETSC_ERR_ARG_WRONGSTATE, "call FactorSetUp() first");
  PetscCheck(!f->inverse_taken || f->size == 1, f->comm, PETSC_ERR_ORDER, "solves after FactorGetInverseEntries() fail in MUMPS on several ranks: solve first");
  PetscCall(MatSolve(f->F, b, x));
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

PetscErrorCode FactorGetInverseEntries(Factor f, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal values[])
{
#if defined(PETSC_HAVE_MUMPS)
  PetscMPIInt *counts = NULL, *displs = NULL, mine;
  PetscInt64   total = 0, n64 = (PetscInt64)n;
  PetscInt    *all_rows = NULL, *all_cols = NULL, N;
  PetscReal   *all_values = NULL;
  Mat          spRHST, spRHS, seq;

  PetscFunctionBeginUser;
  PetscCheck(f->F, f->comm, PETSC_ERR_ARG_WRONGSTATE, "call FactorSetUp() first");
  PetscCheck(n <= PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "%" PetscInt64_FMT " entries of the inverse asked for on one rank", n64);
  mine = (PetscMPIInt)n;
  PetscCallMPI(MPI_Allreduce(&n64, &total, 1, MPIU_INT64, MPI_SUM, f->comm));
  PetscCheck(total <= PETSC_MPI_INT_MAX, f->comm, PETSC_ERR_SUP, "%" PetscInt64_FMT " entries of the inverse: MUMPS takes them on one rank, at most %d", total,
             PETSC_MPI_INT_MAX);
  if (f->rank == 0) PetscCall(PetscMalloc2(f->size, &counts, f->size + 1, &displs));
  PetscCallMPI(MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, f->comm));
  if (f->rank == 0) {
    displs[0] = 0;
    for (PetscMPIInt r = 0; r < f->size; r++) displs[r + 1] = displs[r] + counts[r];
  }
  PetscCall(PetscMalloc3(f->rank == 0 ? total + 1 : 1, &all_rows, f->rank == 0 ? total + 1 : 1, &all_cols, f->rank == 0 ? total + 1 : 1, &all_values));
  PetscCallMPI(MPI_Gatherv(rows, mine, MPIU_INT, all_rows, counts, displs, MPIU_INT, 0, f->comm));
  PetscCallMPI(MPI_Gatherv(cols, mine, MPIU_INT, all_cols, counts, displs, MPIU_INT, 0, f->comm));

  /* The requested pattern, each entry once (PETSc 3.18's COO assembly keeps repeats, which MUMPS then
     misreads), as a matrix held whole by rank 0: MUMPS wants centralised sparse right-hand sides. */
  PetscCall(MatGetSize(f->F, &N, NULL));
  {
    PetscInt64  *keys;
    PetscInt     nunique = 0, *urows, *ucols;
    PetscScalar *zeros;
    PetscCall(PetscMalloc1(f->rank == 0 ? total + 1 : 1, &keys));
    if (f->rank == 0) {
      for (PetscInt64 k = 0; k < total; k++) keys[k] = (PetscInt64)all_rows[k] * N + all_cols[k];
      PetscCall(PetscSortInt64((PetscInt)total, keys));
      for (PetscInt64 k = 0; k < total; k++)
        if (!nunique || keys[k] != keys[nunique - 1]) keys[nunique++] = keys[k];
    }
    PetscCall(PetscMalloc3(nunique + 1, &urows, nunique + 1, &ucols, nunique + 1, &zeros));
    for (PetscInt k = 0; k < nunique; k++) {
      urows[k] = (PetscInt)(keys[k] / N);
      ucols[k] = (PetscInt)(keys[k] % N);
      zeros[k] = 0;
    }
    PetscCall(MatCreate(f->comm, &spRHST));
    PetscCall(MatSetSizes(spRHST, f->rank == 0 ? N : 0, f->rank == 0 ? N : 0, N, N));
    PetscCall(MatSetType(spRHST, MATAIJ));
    PetscCall(MatSetPreallocationCOO(spRHST, nunique, urows, ucols));
    PetscCall(MatSetValuesCOO(spRHST, zeros, INSERT_VALUES));
    PetscCall(PetscFree3(urows, ucols, zeros));
    PetscCall(PetscFree(keys));
  }
  PetscCall(MatCreateTranspose(spRHST, &spRHS));
  PetscCall(MatMumpsGetInverse(f->F, spRHS)); /* C symmetric: entry (i, j) of spRHST is C^-1(i, j) */
  PetscCall(MatMumpsSetIcntl(f->F, 30, 0));
  f->inverse_taken = PETSC_TRUE;
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
    for (PetscInt64 k = 0; k < total; k++) all_values[k] = CSRValue(ia, ja, a, all_rows[k], all_cols[k]);
    PetscCall(MatSeqAIJRestoreArrayRead(seq, &a));
    PetscCall(MatRestoreRowIJ(seq, 0, PETSC_FALSE, PETSC_FALSE, &nrows, &ia, &ja, &done));
  }
  PetscCallMPI(MPI_Scatterv(all_values, counts, displs, MPIU_REAL, values, mine, MPIU_REAL, 0, f->comm));
  PetscCall(MatDestroy(&spRHS));
  PetscCall(MatDestroy(&spRHST));
  PetscCall(PetscFree3(all_rows, all_cols, all_values));
  if (f->rank == 0) PetscCall(PetscFree2(counts, displs));
  PetscFunctionReturn(PETSC_SUCCESS);
#else
  PetscFunctionBeginUser;
  SETERRQ(f->comm, PETSC_ERR_SUP, "this PETSc has no MUMPS");
#endif
}
