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
   The form is a type chosen by name (MMESetType(), option -mme_operator data|assembled|auto); with auto
   the evaluation picks one (the data operator, unless the preconditioner, -pev exact or REML needs the
   entries). Both take the random groups' K^-1 (x) G0^-1 from their Relationship objects
   (relationship.h), and set each one up with the operator's row layout.

   The rows are shared out so that every rank moves the same bytes in an iteration, and a rank's
   rows are whole levels (the traits and correlated effects of an animal are never split). The
   system is kept after the solve: prediction error variances and REML reuse it, and MMEAssemble()
   called again with new variances rebuilds it on the same rows. */
#ifndef HENDERSON_MME_H
#define HENDERSON_MME_H

#include <petscmat.h>
#include <henderson/equations.h>
#include <henderson/relationship.h>

typedef struct _p_MME *MME;
typedef const char    *MMEType;
#define MMEDATA "data"
#define MMEASSEMBLED "assembled"

typedef struct {
  char       type[32]; /* the form used */
  PetscInt   equations;
  PetscInt64 nonzeros;       /* stored nonzeros of C (both triangles); -1 for the data operator */
  PetscInt64 local_entries;  /* largest number of matrix entries on a rank (assembled) or records (data) */
  PetscInt64 records;        /* records in the operator (data), all ranks */
  PetscInt64 operator_bytes; /* bytes one product with C reads from its own storage, all ranks (not the vectors) */
  PetscInt64 ghosts;         /* values of other ranks' equations one product needs, all ranks */
  PetscInt   ghosts_max;     /* the most one rank needs */
  PetscInt   owned_min;      /* the fewest equations a rank owns */
  PetscInt   neighbours_max; /* the most ranks one rank exchanges ghost values with */
  PetscInt64 messages;       /* messages one product sends, all ranks (ghost values out and, for data, back) */
} MMEStats;

PETSC_EXTERN PetscErrorCode MMERegister(const char name[], PetscErrorCode (*create)(MME));
PETSC_EXTERN PetscErrorCode MMECreate(MPI_Comm comm, MME *mme);
PETSC_EXTERN PetscErrorCode MMEDestroy(MME *mme);
/* Not collective, before MMEAssemble(). */
PETSC_EXTERN PetscErrorCode MMESetType(MME mme, MMEType type);
/* Not collective. NULL until a type is set. */
PETSC_EXTERN PetscErrorCode MMEGetType(MME mme, MMEType *type);
/* Collective. -mme_operator data|assembled|auto (auto, the default, leaves the type unset). */
PETSC_EXTERN PetscErrorCode MMESetFromOptions(MME mme);
/* Collective. Builds C and r with the random groups' relationships REL[0..NREL-1] (one per group of the
   model, in order), which it sets up with its row layout. A second call (new variances) rebuilds them on
   the same rows. */
PETSC_EXTERN PetscErrorCode MMEAssemble(MME mme, Model model, Equations equations, Records records, PetscInt nrel, Relationship rel[]);
/* Not collective. The system: the operator C, the matrix the preconditioner is built from (C itself
   when assembled, its assembled point-block diagonal otherwise) and r (references owned by MME). */
PETSC_EXTERN PetscErrorCode MMEGetSystem(MME mme, Mat *C, Mat *P, Vec *rhs);
PETSC_EXTERN PetscErrorCode MMEGetStats(MME mme, MMEStats *stats);
/* Not collective. Whether C holds its entries (a factorisation, ICC, AMG need them). */
PETSC_EXTERN PetscErrorCode MMEHasEntries(MME mme, PetscBool *has);
/* Collective. The form, equations, and what a product moves. */
PETSC_EXTERN PetscErrorCode MMEView(MME mme, PetscViewer viewer);
/* Collective. F = X'R^-1X, the block of C of the fixed effects and covariates (EquationsGetFixedSize()), as
   a distributed AIJ matrix with rows shared out evenly. C is singular exactly when F is: the random
   effects' part adds G^-1, positive definite. */
PETSC_EXTERN PetscErrorCode MMEAssembleFixed(MPI_Comm comm, Model model, Equations equations, Records records, Mat *F);

#endif
