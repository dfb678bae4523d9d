/* henderson/design.h -- the records' side of the model, y = W x + e, where it is needed outside the
   MME: W x and W'R^-1 v on this rank's records, with exactly the W and R-inverse of the equations
   (the MME's own record terms). Simulated data sets (PEV by sampling, Monte Carlo EM-REML) and
   residuals are made with it. The equations a rank's records touch are gathered with one VecScatter. */
#ifndef HENDERSON_DESIGN_H
#define HENDERSON_DESIGN_H

#include <petscvec.h>
#include <henderson/model.h>
#include <henderson/equations.h>
#include <henderson/records.h>

typedef struct _p_Design *Design;

/* Collective. X is a vector with the layout of the equations (a template). */
PETSC_EXTERN PetscErrorCode DesignCreate(Model model, Equations eq, Records records, Vec x, Design *design);
PETSC_EXTERN PetscErrorCode DesignDestroy(Design *design);
/* Not collective. This rank's records, the traits, and the global number of its first record (records
   are numbered in file order: ranks read consecutive parts). */
PETSC_EXTERN PetscErrorCode DesignGetSizes(Design design, PetscInt *nrecords, PetscInt *ntraits, PetscInt64 *first_record);
/* Not collective. Record R: the traits present (bit mask), its weight, R0-inverse over those traits
   (ntraits x ntraits, zero elsewhere, weight not applied), R0 itself and y (NaN = missing). */
PETSC_EXTERN PetscErrorCode DesignGetRecord(Design design, PetscInt r, uint32_t *pattern, PetscReal *weight, const PetscReal **rinv, const PetscReal **R0,
                                            const PetscReal **y);
/* Collective. WX[r * ntraits + a] = (W x)_{r,a} for the traits present, 0 for the others. */
PETSC_EXTERN PetscErrorCode DesignApply(Design design, Vec x, PetscReal wx[]);
/* Collective. B = W' R^-1 V (V as WX of DesignApply(); missing traits ignored). */
PETSC_EXTERN PetscErrorCode DesignApplyTransposeRinv(Design design, const PetscReal v[], Vec b);

#endif
