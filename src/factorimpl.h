/* Private: the Factor object (factor.h) and its ops table, one per type (factor_mumps.c, factor_cholmod.c). */
#ifndef HENDERSON_FACTORIMPL_H
#define HENDERSON_FACTORIMPL_H

#include <henderson/factor.h>

typedef struct {
  PetscErrorCode (*setup)(Factor, Mat);          /* collective: factor C (numerically; symbolically once) */
  PetscErrorCode (*nullity)(Factor, PetscInt *); /* C's null pivots (0 without detection) */
  PetscErrorCode (*logdet)(Factor, PetscReal *); /* collective: log|C| on every rank */
  PetscErrorCode (*solve)(Factor, Vec, Vec);     /* collective: x = C^-1 b */
  /* collective: the entries (ROWS[k], COLS[k]) of C^-1, k < N, into VALUES -- all three significant on
     rank 0 only (the generic code gathers the requests there and scatters the answers back) */
  PetscErrorCode (*inverse)(Factor, PetscInt64 n, const PetscInt rows[], const PetscInt cols[], PetscReal values[]);
  PetscErrorCode (*view)(Factor, PetscViewer);
  PetscErrorCode (*destroy)(Factor); /* frees data */
} FactorOps;

struct _p_Factor {
  MPI_Comm    comm;
  PetscMPIInt rank, size;
  FactorOps   ops;
  FactorType  type;
  void       *data;
  PetscBool   factored;      /* FactorSetUp() has been called */
  PetscBool   null_pivots;   /* detect null pivots (a singular C) instead of failing */
  PetscBool   inverse_taken; /* selected inverse entries since the last numeric factorisation */
};

PETSC_INTERN PetscErrorCode FactorCreate_MUMPS(Factor);
PETSC_INTERN PetscErrorCode FactorCreate_CHOLMOD(Factor);

#endif
