#include <henderson/pev.h>
#include <henderson/factor.h>

const char *const PEVMethods[] = {"none", "exact", "PEVMethod", "PEV_METHOD_", NULL};

PetscErrorCode PEVComputeExact(Mat C, Vec d)
{
  Factor       factor;
  MPI_Comm     comm;
  PetscInt     rstart, rend, *rows;
  PetscScalar *values;

  PetscFunctionBeginUser;
  PetscCall(PetscObjectGetComm((PetscObject)C, &comm));
  PetscCall(FactorCreate(comm, &factor));
  PetscCall(FactorSetUp(factor, C));
  PetscCall(MatGetOwnershipRange(C, &rstart, &rend));
  PetscCall(PetscMalloc1(rend - rstart + 1, &rows));
  for (PetscInt q = rstart; q < rend; q++) rows[q - rstart] = q;
  PetscCall(VecGetArray(d, &values));
  PetscCall(FactorGetInverseEntries(factor, rend - rstart, rows, rows, (PetscReal *)values));
  PetscCall(VecRestoreArray(d, &values));
  PetscCall(PetscFree(rows));
  PetscCall(FactorDestroy(&factor));
  PetscFunctionReturn(PETSC_SUCCESS);
}
