/* henderson/mme.h -- the distributed mixed model equations C x = r.

     C = [X'R^-1X  X'R^-1Z; Z'R^-1X  Z'R^-1Z + G^-1],  r = [X'R^-1y; Z'R^-1y]

   C comes in one of two forms, the same operator either way:
   - data (the default): C is applied from the records and the pedigree themselves, never stored
     ("iteration on data", as MiX99 and BLUPF90 do it). The records are moved to the rank that owns
     their animal's equations and sorted by it; a product with C reads, per record, its equation
     numbers and covariate values, and per animal its parents and alpha (Henderson's rules as
     A^-1 = sum_i alpha_i q_i q_i', q_i = e_i - c_s e_sire - c_d e_dam), and exchanges the values of
     the few equations held elsewhere (ghosts). This moves a fraction of the bytes of the assembled
     matrix and needs no assembly. The preconditioner gets the assembled point-block diagonal of C.
   - assembled: C as a PETSc AIJ matrix, by COO assembly: each rank sums the contributions of its own
     records and animals in a local hash table and the entries go to the owners of their rows. For
     preconditioners that need the entries (ICC, hypre, GAMG, direct solvers) and for prediction
     error variances.
   Option -mme_operator data|assembled|auto; auto (the default) takes data unless -pc_type names a
   preconditioner other than jacobi, pbjacobi, vpbjacobi or none.

   The rows are shared out so that every rank moves the same bytes in an iteration, and a rank's
   rows are whole levels (the traits and correlated effects of an animal are never split). The
   system is kept after the solve: prediction error variances and REML reuse it, and MMEAssemble()
   called again with new variances rebuilds it on the same rows. */
#ifndef HENDERSON_MME_H
#define HENDERSON_MME_H

#include <petscmat.h>
#include <henderson/equations.h>

typedef struct _p_MME *MME;

typedef enum { MME_OPERATOR_AUTO, MME_OPERATOR_DATA, MME_OPERATOR_ASSEMBLED } MMEOperatorType;
PETSC_EXTERN const char *const MMEOperatorTypes[];

typedef struct {
  MMEOperatorType operator; /* the form used (never auto) */
  PetscInt        equations;
  PetscInt64      nonzeros;       /* stored nonzeros of C (both triangles); -1 for the data operator */
  PetscInt64      local_entries;  /* largest number of matrix entries on a rank (assembled) or records (data) */
  PetscInt64      records;        /* records in the operator (data), all ranks */
  PetscInt64      operator_bytes; /* bytes one product with C reads from its own storage, all ranks (not the vectors) */
  PetscInt64      ghosts;         /* values of other ranks' equations one product needs, all ranks */
  PetscInt        ghosts_max;     /* the most one rank needs */
  PetscInt        owned_min;      /* the fewest equations a rank owns */
  PetscInt        neighbours_max; /* the most ranks one rank exchanges ghost values with */
  PetscInt64      messages;       /* messages one product sends, all ranks (ghost values out and, for data, back) */
} MMEStats;

PETSC_EXTERN PetscErrorCode MMECreate(MPI_Comm comm, MME *mme);
PETSC_EXTERN PetscErrorCode MMEDestroy(MME *mme);
/* Not collective. The form of C (before MMEAssemble()); MMESetFromOptions() reads -mme_operator. */
PETSC_EXTERN PetscErrorCode MMESetOperatorType(MME mme, MMEOperatorType type);
PETSC_EXTERN PetscErrorCode MMESetFromOptions(MME mme);
/* Not collective. The form as set (auto until MMEAssemble() resolves it; MMEGetStats() has the form used). */
PETSC_EXTERN PetscErrorCode MMEGetOperatorType(MME mme, MMEOperatorType *type);
/* Collective. Builds C and r. Distributes the pedigree (PedigreeDistribute()) to match the row
   ownership when the model has a pedigree effect (PEDIGREE may be NULL otherwise). */
PETSC_EXTERN PetscErrorCode MMEAssemble(MME mme, Model model, Equations equations, Records records, Pedigree pedigree);
/* Not collective. The system: the operator C, the matrix the preconditioner is built from (C itself
   when assembled, its assembled point-block diagonal otherwise) and r (references owned by MME). */
PETSC_EXTERN PetscErrorCode MMEGetSystem(MME mme, Mat *C, Mat *P, Vec *rhs);
PETSC_EXTERN PetscErrorCode MMEGetStats(MME mme, MMEStats *stats);
/* Collective. F = X'R^-1X, the block of C of the fixed effects and covariates (EquationsGetFixedSize()), as
   a distributed AIJ matrix with rows shared out evenly. C is singular exactly when F is: the random
   effects' part adds G^-1, positive definite. */
PETSC_EXTERN PetscErrorCode MMEAssembleFixed(MPI_Comm comm, Model model, Equations equations, Records records, Mat *F);

#endif
