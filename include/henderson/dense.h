/* henderson/dense.h -- the small dense matrices of the model ((co)variance matrices G0 and R0, a level's
   block), by LAPACK. Row-major, order N; not collective. */
#ifndef HENDERSON_DENSE_H
#define HENDERSON_DENSE_H

#include <henderson/sys.h>

/* A = L L' in place: L lower triangular, the strict upper part zeroed. *OK false (A unchanged beyond
   use) when A is not positive definite. */
PETSC_EXTERN PetscErrorCode DenseCholesky(PetscInt n, PetscReal A[], PetscBool *ok);
/* A^-1 in place, for a symmetric positive definite A (an error otherwise: "a (co)variance matrix is not
   positive definite"). */
PETSC_EXTERN PetscErrorCode DenseInvertSPD(PetscInt n, PetscReal A[]);
/* log|A| of the symmetric positive definite A (copied, not changed); *OK false when it is not. */
PETSC_EXTERN PetscErrorCode DenseLogDetSPD(PetscInt n, const PetscReal A[], PetscReal *logdet, PetscBool *ok);
/* The eigendecomposition of the symmetric A: A is overwritten by the eigenvectors, as rows (A[k * n + i]
   is component i of eigenvector k), LAMBDA gets the eigenvalues in ascending order. */
PETSC_EXTERN PetscErrorCode DenseSymmetricEigen(PetscInt n, PetscReal A[], PetscReal lambda[]);

#endif
