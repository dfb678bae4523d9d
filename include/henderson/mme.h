/* henderson/mme.h -- the distributed mixed model equations C x = r.

     C = [X'R^-1X  X'R^-1Z; Z'R^-1X  Z'R^-1Z + G^-1],  r = [X'R^-1y; Z'R^-1y]

   built as a PETSc matrix by COO assembly: each rank adds the contributions of its own records
   (the outer product of a record's incidence row, scaled by the inverse residual variance) and of
   its own animals (A-inverse coefficients over the pedigree effect's variance) into a local hash
   table that sums duplicates, and PETSc sends the entries of rows owned elsewhere to their owners.
   The matrix and the structure are kept after the solve: prediction error variances and REML reuse
   them, and MMEAssemble() called again with new variances only refills the values. */
#ifndef HENDERSON_MME_H
#define HENDERSON_MME_H

#include <petscmat.h>
#include <henderson/equations.h>

typedef struct _p_MME *MME;

typedef struct {
  PetscInt   equations;
  PetscInt64 nonzeros;      /* stored nonzeros of C (both triangles) */
  PetscInt64 local_entries; /* largest number of distinct entries a rank contributed */
} MMEStats;

PETSC_EXTERN PetscErrorCode MMECreate(MPI_Comm comm, MME *mme);
PETSC_EXTERN PetscErrorCode MMEDestroy(MME *mme);
/* Collective. Builds C and r. Distributes the pedigree (PedigreeDistribute()) to match the row
   ownership when the model has a pedigree effect (PEDIGREE may be NULL otherwise). */
PETSC_EXTERN PetscErrorCode MMEAssemble(MME mme, Model model, Equations equations, Records records, Pedigree pedigree);
/* Not collective. The assembled system (references owned by MME). */
PETSC_EXTERN PetscErrorCode MMEGetSystem(MME mme, Mat *C, Vec *rhs);
PETSC_EXTERN PetscErrorCode MMEGetStats(MME mme, MMEStats *stats);

#endif
