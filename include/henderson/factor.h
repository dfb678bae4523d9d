/* henderson/factor.h -- a sparse direct factorisation of the assembled MME, for what PCG cannot give.

   A Factor factors the assembled C and gives
     - selected entries of C^-1 (no dense inverse anywhere): prediction error variances, and the traces
       REML needs;
     - log|C|: the REML log-likelihood;
     - direct solves C x = b: the average-information matrix of REML.
   Two types, chosen by name (-factor_type):
     cholmod  CHOLMOD's supernodal Cholesky factor C = LL' (SuiteSparse; on rank 0, C gathered there), and
              on its pattern the selected inverse Z (every entry of C^-1 where L is nonzero) by Takahashi's
              equations run supernode by supernode with BLAS 3, last to first -- about the cost of the
              factorisation itself. The default where CHOLMOD was found.
     mumps    MUMPS' LDL' over all ranks (inside PETSc); entries of C^-1 by sparse right-hand sides
              (MatMumpsGetInverse), which costs solves, n^2.9 on a pedigree: 64 s at 10^4 animals.
   The fill of the factor grows faster than the system (a pedigree's A-inverse is not banded), so this
   is the route for up to some 10^5 animals; national sizes take the sampling methods, which need only
   the PCG solver.

   A singular C (data that do not estimate every fixed level, FactorSetNullPivotDetection()) needs
   MUMPS' null pivot detection: a cholmod Factor that finds a pivot below 1e-10 of its diagonal entry of
   C hands over to MUMPS.

   A second FactorSetUp() with new values of C (new variances in REML) reuses the ordering and the
   symbolic factorisation. */
#ifndef HENDERSON_FACTOR_H
#define HENDERSON_FACTOR_H

#include <petscmat.h>
#include <henderson/sys.h>

typedef struct _p_Factor *Factor;
typedef const char       *FactorType;
#define FACTORCHOLMOD "cholmod"
#define FACTORMUMPS "mumps"

PETSC_EXTERN PetscErrorCode FactorCreate(MPI_Comm comm, Factor *factor);
PETSC_EXTERN PetscErrorCode FactorDestroy(Factor *factor);
/* Logically collective, before FactorSetUp(). */
PETSC_EXTERN PetscErrorCode FactorSetType(Factor factor, FactorType type);
PETSC_EXTERN PetscErrorCode FactorGetType(Factor factor, FactorType *type);
/* Collective. -factor_type cholmod|mumps (default cholmod where this build has CHOLMOD). */
PETSC_EXTERN PetscErrorCode FactorSetFromOptions(Factor factor);
PETSC_EXTERN PetscErrorCode FactorView(Factor factor, PetscViewer viewer);
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
   repeats allowed; N may differ between ranks), into VALUES. The requests go to rank 0, where both
   types answer them (MUMPS wants centralised sparse right-hand sides). On several ranks, PETSc 3.18's
   MUMPS interface cannot solve after this until the next FactorSetUp(): do the solves first
   (FactorSolve() says so if not). */
PETSC_EXTERN PetscErrorCode FactorGetInverseEntries(Factor factor, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal values[]);

#endif
