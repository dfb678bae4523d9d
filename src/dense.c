#include <henderson/dense.h>
#include <petscblaslapack.h>

/* LAPACK is column-major: a row-major symmetric matrix is the same matrix, and its row-major lower
   triangle is LAPACK's upper one. */

PetscErrorCode DenseCholesky(PetscInt n, PetscReal A[], PetscBool *ok)
{
  PetscBLASInt bn, info;

  PetscFunctionBeginUser;
  *ok = PETSC_TRUE;
  if (!n) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscBLASIntCast(n, &bn));
  LAPACKpotrf_("U", &bn, A, &bn, &info); /* column-major U'U = row-major L L' */
  if (info) {
    *ok = PETSC_FALSE;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = i + 1; j < n; j++) A[i * n + j] = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DenseInvertSPD(PetscInt n, PetscReal A[])
{
  PetscBLASInt bn, info;

  PetscFunctionBeginUser;
  if (!n) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscBLASIntCast(n, &bn));
  LAPACKpotrf_("U", &bn, A, &bn, &info);
  PetscCheck(!info, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "a (co)variance matrix is not positive definite");
  LAPACKpotri_("U", &bn, A, &bn, &info);
  PetscCheck(!info, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK potri failed: %d", (int)info);
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < i; j++) A[j * n + i] = A[i * n + j];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DenseLogDetSPD(PetscInt n, const PetscReal A[], PetscReal *logdet, PetscBool *ok)
{
  PetscReal *L;

  PetscFunctionBeginUser;
  *logdet = 0;
  PetscCall(PetscMalloc1(n * n + 1, &L));
  PetscCall(PetscArraycpy(L, A, n * n));
  PetscCall(DenseCholesky(n, L, ok));
  for (PetscInt i = 0; *ok && i < n; i++) *logdet += 2 * PetscLogReal(L[i * n + i]);
  PetscCall(PetscFree(L));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DenseSymmetricEigen(PetscInt n, PetscReal A[], PetscReal lambda[])
{
  PetscBLASInt bn, lwork, info;
  PetscReal   *work, query;

  PetscFunctionBeginUser;
  if (!n) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscBLASIntCast(n, &bn));
  lwork = -1;
  LAPACKsyev_("V", "U", &bn, A, &bn, lambda, &query, &lwork, &info);
  PetscCall(PetscBLASIntCast((PetscInt)query, &lwork));
  PetscCall(PetscMalloc1(lwork, &work));
  LAPACKsyev_("V", "U", &bn, A, &bn, lambda, work, &lwork, &info);
  PetscCall(PetscFree(work));
  PetscCheck(!info, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK syev failed: %d", (int)info);
  PetscFunctionReturn(PETSC_SUCCESS);
}
