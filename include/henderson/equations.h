/* henderson/equations.h -- which equation belongs to which effect, level, trait and coefficient.

   The equations come in blocks, each level-major: all equations of one level of a block are
   consecutive, so that the traits, the correlated effects (direct and maternal) and the regression
   coefficients of a level sit together -- the blocks of the point-block Jacobi preconditioner.
     - one block per fixed effect or covariate: a level holds its traits x coefficients;
     - one block per random group with unknown-parent groups: the groups, as levels;
     - one block per random group: a level (an animal) holds (member effect, trait, coefficient).
   Fixed blocks come first (a few equations with long rows), then the groups, then the iid random
   effects, and the pedigree random effects last (a record's last equation is then its animal's).

   Rank deficiency: in every trait the first fixed class effect (or the implied mean) absorbs the
   mean; every further fixed class effect has, in that trait, its first level with records set to
   zero. A level without records in a trait has no equation there either, nor has the constant
   Legendre coefficient of a covariate that is not nested (the mean absorbs it). With unknown-parent
   groups and no plain unknown parent, the first group of the first effect of the group is set to
   zero too (the groups then span the mean). Such equations do not exist; the output writes 0. */
#ifndef HENDERSON_EQUATIONS_H
#define HENDERSON_EQUATIONS_H

#include <henderson/records.h>

typedef struct {
  PetscInt        offset; /* first equation */
  PetscInt        nlevels;
  PetscInt        size; /* equations of a whole level */
  PetscInt        nequations;
  const PetscInt *start; /* NULL, or start[l]: first equation of level l, relative to offset */
  const PetscInt *index; /* NULL, or index[l * size + k]: position of equation k within level l, -1 if absent */
} EquationsBlock;

typedef struct {
  PetscInt block;       /* its block */
  PetscInt slot;        /* its first position within a level of the block */
  PetscInt ntraits;     /* as in the model */
  PetscInt ncoef;       /* coefficients per trait */
  PetscInt group_block; /* pedigree effects with unknown-parent groups: the groups' block, else -1 */
} EquationsEffect;

typedef struct _p_Equations *Equations;

PETSC_EXTERN PetscErrorCode EquationsCreate(MPI_Comm comm, Equations *equations);
PETSC_EXTERN PetscErrorCode EquationsDestroy(Equations *equations);
/* Collective. Lays out the equations of MODEL's effects with the levels of RECORDS (and the groups of PEDIGREE). */
PETSC_EXTERN PetscErrorCode EquationsSetUp(Equations equations, Model model, Records records, Pedigree pedigree);
PETSC_EXTERN PetscErrorCode EquationsGetSize(Equations equations, PetscInt *n);
/* Collective. How many equations, and every effect's levels (a line of an evaluation's summary). */
PETSC_EXTERN PetscErrorCode EquationsView(Equations equations, PetscViewer viewer);
/* The equations of the fixed effects and covariates: 0..n-1, before every random effect's. */
PETSC_EXTERN PetscErrorCode EquationsGetFixedSize(Equations equations, PetscInt *n);
PETSC_EXTERN PetscErrorCode EquationsGetEffect(Equations equations, PetscInt e, const EquationsEffect **effect);
PETSC_EXTERN PetscErrorCode EquationsGetBlock(Equations equations, PetscInt b, const EquationsBlock **block);
/* The block of effect E's levels (EquationsGetEffect(), then EquationsGetBlock()). */
PETSC_EXTERN PetscErrorCode EquationsGetEffectBlock(Equations equations, PetscInt e, const EquationsBlock **block);
/* The blocks of random group G of MODEL: its levels', and its unknown-parent groups' (NULL without). */
PETSC_EXTERN PetscErrorCode EquationsGetGroupBlocks(Equations equations, Model model, PetscInt g, const EquationsBlock **levels, const EquationsBlock **groups);
/* The effect that absorbs the mean of trait T. */
PETSC_EXTERN PetscErrorCode EquationsGetMeanEffect(Equations equations, PetscInt t, PetscInt *e);
/* The level of fixed effect E set to zero in trait position I, or -1. */
PETSC_EXTERN PetscErrorCode EquationsGetConstrainedLevel(Equations equations, PetscInt e, PetscInt i, PetscInt *level);
/* The first equation at or after ROW that starts a level of a block (n for ROW = n). */
PETSC_EXTERN PetscErrorCode EquationsLevelBoundary(Equations equations, PetscInt row, PetscInt *boundary);
/* Sizes of the levels (point blocks) that lie in rows rstart..rend-1, which must be level boundaries.
   Free with PetscFree(). */
PETSC_EXTERN PetscErrorCode EquationsGetPointBlocks(Equations equations, PetscInt rstart, PetscInt rend, PetscInt *nblocks, PetscInt **sizes);

/* The point block (level) that equation Q lies in: its first equation and its number of equations. */
PETSC_EXTERN PetscErrorCode EquationsGetPointBlock(Equations equations, PetscInt q, PetscInt *first, PetscInt *size);

/* Equation K (0 <= K < size) of LEVEL of a block, -1 when it does not exist (or LEVEL < 0). */
static inline PetscInt EquationsBlockEquation(const EquationsBlock *b, PetscInt level, PetscInt k)
{
  if (level < 0) return -1;
  if (!b->index) return b->offset + level * b->size + k;
  {
    PetscInt position = b->index[level * b->size + k];
    return position < 0 ? -1 : b->offset + b->start[level] + position;
  }
}

/* Not collective. The levels LO..HI-1 of BLOCK that belong to the rank owning rows RSTART..REND-1: a level
   belongs to the rank of its first equation (for a level without equations, of where it would be), so
   that levels are never split; LAST says the rank is the last one (levels beyond the last equation are
   its too). */
PETSC_EXTERN PetscErrorCode EquationsBlockGetLocalLevels(const EquationsBlock *block, PetscInt rstart, PetscInt rend, PetscBool last, PetscInt *lo,
                                                         PetscInt *hi);

/* The first equation of LEVEL of a block (where it would be, for a level without equations). */
static inline PetscInt EquationsBlockFirst(const EquationsBlock *b, PetscInt level)
{
  return b->offset + (b->start ? b->start[level] : level * b->size);
}

#endif
