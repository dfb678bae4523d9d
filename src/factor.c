/* The Factor object: its type by name, and what every type shares -- the requests for entries of C^-1
   gathered on rank 0 and the answers scattered back, the null vector from solves. */
#include "factorimpl.h"
#include <henderson/log.h>

static const char *const FactorTypes[] = {FACTORCHOLMOD, FACTORMUMPS};

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
  if ((*factor)->ops.destroy) PetscCall((*factor)->ops.destroy(*factor));
  PetscCall(PetscFree(*factor));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorSetType(Factor f, FactorType type)
{
  PetscBool cholmod, mumps;

  PetscFunctionBeginUser;
  PetscCheck(!f->factored, f->comm, PETSC_ERR_ARG_WRONGSTATE, "set the type before FactorSetUp()");
  PetscCall(PetscStrcmp(type, FACTORCHOLMOD, &cholmod));
  PetscCall(PetscStrcmp(type, FACTORMUMPS, &mumps));
  PetscCheck(cholmod || mumps, f->comm, PETSC_ERR_ARG_UNKNOWN_TYPE, "unknown factor type %s: cholmod or mumps", type);
  if (f->type) {
    PetscBool same;
    PetscCall(PetscStrcmp(f->type, type, &same));
    if (same) PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (f->ops.destroy) PetscCall(f->ops.destroy(f));
  PetscCall(PetscMemzero(&f->ops, sizeof(f->ops)));
  if (cholmod)
    PetscCall(FactorCreate_CHOLMOD(f));
  else
    PetscCall(FactorCreate_MUMPS(f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorGetType(Factor f, FactorType *type)
{
  PetscFunctionBeginUser;
  *type = f->type;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static FactorType FactorDefaultType(void)
{
#if defined(HENDERSON_HAVE_CHOLMOD)
  return FACTORCHOLMOD;
#else
  return FACTORMUMPS;
#endif
}

PetscErrorCode FactorSetFromOptions(Factor f)
{
  char type[64];

  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(type, f->type ? f->type : FactorDefaultType(), sizeof(type)));
  PetscOptionsBegin(f->comm, NULL, "Sparse direct factorisation (exact PEV and REML)", "Factor");
  PetscCall(PetscOptionsString(
      "-factor_type", "cholmod (supernodal LL' on rank 0 and a selected inverse on its pattern) or mumps (LDL' over the ranks, inverse entries by solves)",
      "FactorSetType", type, type, sizeof(type), NULL));
  PetscOptionsEnd();
  for (size_t k = 0; k < PETSC_STATIC_ARRAY_LENGTH(FactorTypes); k++) {
    PetscBool match;
    PetscCall(PetscStrcmp(type, FactorTypes[k], &match));
    if (match) {
      PetscCall(FactorSetType(f, FactorTypes[k]));
      PetscFunctionReturn(PETSC_SUCCESS);
    }
  }
  SETERRQ(f->comm, PETSC_ERR_USER_INPUT, "-factor_type %s: the types are cholmod and mumps", type);
}

PetscErrorCode FactorView(Factor f, PetscViewer viewer)
{
  PetscFunctionBeginUser;
  PetscCall(PetscViewerASCIIPrintf(viewer, "Factor: %s\n", f->type ? f->type : "(no type)"));
  if (f->ops.view) {
    PetscCall(PetscViewerASCIIPushTab(viewer));
    PetscCall(f->ops.view(f, viewer));
    PetscCall(PetscViewerASCIIPopTab(viewer));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorSetUp(Factor f, Mat C)
{
  PetscFunctionBeginUser;
  if (!f->type) PetscCall(FactorSetType(f, FactorDefaultType()));
  PetscCall(f->ops.setup(f, C)); /* a cholmod Factor may become a mumps one here (a singular C) */
  f->factored      = PETSC_TRUE;
  f->inverse_taken = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorSetNullPivotDetection(Factor f, PetscBool detect)
{
  PetscFunctionBeginUser;
  PetscCheck(!f->factored, f->comm, PETSC_ERR_ARG_WRONGSTATE, "set the null pivot detection before FactorSetUp()");
  f->null_pivots = detect;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorGetNullity(Factor f, PetscInt *nullity)
{
  PetscFunctionBeginUser;
  PetscCheck(f->factored, f->comm, PETSC_ERR_ARG_WRONGSTATE, "call FactorSetUp() first");
  *nullity = 0;
  if (f->ops.nullity) PetscCall(f->ops.nullity(f, nullity));
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
  PetscFunctionBeginUser;
  PetscCheck(f->factored, f->comm, PETSC_ERR_ARG_WRONGSTATE, "call FactorSetUp() first");
  PetscCall(f->ops.logdet(f, logdet));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorSolve(Factor f, Vec b, Vec x)
{
  PetscFunctionBeginUser;
  PetscCheck(f->factored, f->comm, PETSC_ERR_ARG_WRONGSTATE, "call FactorSetUp() first");
  PetscCall(f->ops.solve(f, b, x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorGetInverseEntries(Factor f, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal values[])
{
  PetscMPIInt *counts = NULL, *displs = NULL, mine;
  PetscInt64   total = 0, n64 = (PetscInt64)n;
  PetscInt    *all_rows, *all_cols;
  PetscReal   *all_values;

  PetscFunctionBeginUser;
  PetscCheck(f->factored, f->comm, PETSC_ERR_ARG_WRONGSTATE, "call FactorSetUp() first");
  PetscCheck(n <= PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "%" PetscInt64_FMT " entries of the inverse asked for on one rank", n64);
  mine = (PetscMPIInt)n;
  PetscCallMPI(MPI_Allreduce(&n64, &total, 1, MPIU_INT64, MPI_SUM, f->comm));
  PetscCheck(total <= PETSC_MPI_INT_MAX, f->comm, PETSC_ERR_SUP, "%" PetscInt64_FMT " entries of the inverse: they are answered on one rank, at most %d", total,
             PETSC_MPI_INT_MAX);
  if (f->rank == 0) PetscCall(PetscMalloc2(f->size, &counts, f->size + 1, &displs));
  PetscCallMPI(MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, f->comm));
  if (f->rank == 0) {
    displs[0] = 0;
    for (PetscMPIInt r = 0; r < f->size; r++) displs[r + 1] = displs[r] + counts[r];
  }
  if (f->rank != 0) total = 0;
  PetscCall(PetscMalloc3(total + 1, &all_rows, total + 1, &all_cols, total + 1, &all_values));
  PetscCallMPI(MPI_Gatherv(rows, mine, MPIU_INT, all_rows, counts, displs, MPIU_INT, 0, f->comm));
  PetscCallMPI(MPI_Gatherv(cols, mine, MPIU_INT, all_cols, counts, displs, MPIU_INT, 0, f->comm));
  PetscCall(f->ops.inverse(f, total, all_rows, all_cols, all_values));
  f->inverse_taken = PETSC_TRUE;
  PetscCallMPI(MPI_Scatterv(all_values, counts, displs, MPIU_REAL, values, mine, MPIU_REAL, 0, f->comm));
  PetscCall(PetscFree3(all_rows, all_cols, all_values));
  if (f->rank == 0) PetscCall(PetscFree2(counts, displs));
  PetscFunctionReturn(PETSC_SUCCESS);
}
