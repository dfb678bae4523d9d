/* henderson/equations.h -- which equation belongs to which effect and level.

   Fixed effects come first (the implied mean, class effects, covariates, in model order): a few
   equations with long rows. Random effects follow, level-major. The first fixed class effect
   absorbs the mean; every further fixed class effect has its first level (in order of appearance
   in the data) set to zero, so that the equations of connected data have full rank. The
   constrained level has no equation; its solution is written as 0. */
#ifndef HENDERSON_EQUATIONS_H
#define HENDERSON_EQUATIONS_H

#include <henderson/records.h>

typedef struct {
  PetscInt offset;      /* first equation of the effect */
  PetscInt nlevels;     /* levels (output rows) */
  PetscInt nequations;  /* equations (nlevels, or nlevels - 1 with a constrained level) */
  PetscInt constrained; /* level set to zero, or -1 */
} EquationsEffect;

typedef struct _p_Equations *Equations;

PETSC_EXTERN PetscErrorCode EquationsCreate(MPI_Comm comm, Equations *equations);
PETSC_EXTERN PetscErrorCode EquationsDestroy(Equations *equations);
/* Collective. Lays out the equations of MODEL's effects with the level counts of RECORDS. */
PETSC_EXTERN PetscErrorCode EquationsSetUp(Equations equations, Model model, Records records);
PETSC_EXTERN PetscErrorCode EquationsGetSize(Equations equations, PetscInt *n);
PETSC_EXTERN PetscErrorCode EquationsGetEffect(Equations equations, PetscInt e, const EquationsEffect **effect);
/* The fixed class effect that absorbs the mean (the implied mean, or the first fixed class effect). */
PETSC_EXTERN PetscErrorCode EquationsGetMeanEffect(Equations equations, PetscInt *e);

/* The equation of LEVEL of an effect, -1 when the level has none (constrained, or level -1). */
static inline PetscInt EquationsLevelEquation(const EquationsEffect *effect, PetscInt level)
{
  if (level < 0 || level == effect->constrained) return -1;
  return effect->offset + level - (effect->constrained >= 0 && level > effect->constrained ? 1 : 0);
}

#endif
