/* henderson/factor.h -- a sparse direct factorisation of the assembled MME, for what PCG cannot give.

   MUMPS (inside PETSc) factors the assembled C = LDL' over all ranks. From the factor come
     - selected entries of C^-1 (MatMumpsGetInverse: sparse right-hand sides, so only the columns
       and rows the requested entries need are computed; no dense inverse anywhere): prediction error
       variances, and the traces REML needs;
     - log|C| (MUMPS ICNTL(33)): the REML log-likelihood;
     - direct solves C x = b: the average-information matrix of REML.
   The fill of the factor grows faster than the system (a pedigree's A-inverse is not banded), so this
   is the route for up to some 10^5 equations; national sizes take the sampling methods, which need
   only the PCG solver.

   A second FactorSetUp() with new values of C (new variances in REML) reuses the ordering and the
   symbolic factorisation. */
#ifndef HENDERSON_FACTOR_H
#define HENDERSON_FACTOR_H

#include <petscmat.h>
#include <henderson/sys.h>

typedef struct _p_Factor *Factor;

PETSC_EXTERN PetscErrorCode FactorCreate(MPI_Comm comm, Factor *factor);
PETSC_EXTERN PetscErrorCode FactorDestroy(Factor *factor);
/* Collective. Factors C (an assembled, symmetric positive definite AIJ matrix). */
PETSC_EXTERN PetscErrorCode FactorSetUp(Factor factor, Mat C);
/* Logically collective, before FactorSetUp(). Whether null pivots are detected (MUMPS ICNTL(24)): a
   singular C is then factored with its null pivots fixed -- a generalised inverse -- instead of failing. */
PETSC_EXTERN PetscErrorCode FactorSetNullPivotDetection(Factor factor, PetscBool detect);
/* Not collective (the same everywhere). The null pivots found: C's rank deficiency (0 without detection). */
PETSC_EXTERN PetscErrorCode FactorGetNullity(Factor factor, PetscInt *nullity);
/* Collective, after FactorSetUp() with null pivot detection. N (C's layout) = v - C^- C v for a vector v
   of numbers drawn from the equations' indices (the same at any rank count): a vector of C's null space
   that, with probability 1, is nonzero at every equation some null vector touches -- the equations whose
   solutions are not estimable one by one. */
PETSC_EXTERN PetscErrorCode FactorNullVector(Factor factor, Mat C, Vec n);
/* Collective. log|C|. */
PETSC_EXTERN PetscErrorCode FactorGetLogDeterminant(Factor factor, PetscReal *logdet);
/* Collective. x = C^-1 b. */
PETSC_EXTERN PetscErrorCode FactorSolve(Factor factor, Vec b, Vec x);
/* Collective. The entries (ROWS[k], COLS[k]) of C^-1, k < N, that this rank asks for (any entries,
   repeats allowed; N may differ between ranks), into VALUES. The requests go to rank 0, where MUMPS
   wants its sparse right-hand sides. On several ranks, PETSc 3.18's MUMPS interface cannot solve after
   this until the next FactorSetUp(): do the solves first (FactorSolve() says so if not). */
PETSC_EXTERN PetscErrorCode FactorGetInverseEntries(Factor factor, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal values[]);

#endif
