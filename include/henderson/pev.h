/* henderson/pev.h -- prediction error variances: how good each solution is.

   For the MME in the form C x = r with R^-1 inside (as mme.h builds it), the inverse of C is the
   error (co)variance of the solutions: PEV = var(u_hat - u) = the u-block of C^-1, and for an
   estimable fixed effect var(b_hat). The output turns the diagonal into `pev`, `sep` = sqrt(pev)
   and, for random effects, `reliability` = 1 - pev / ((1 + F) sigma2) (F = 0 without a pedigree).

     exact   the diagonal of C^-1 from a sparse factorisation of the assembled C (factor.h): only
             the requested entries of the inverse are computed. */
#ifndef HENDERSON_PEV_H
#define HENDERSON_PEV_H

#include <petscmat.h>
#include <henderson/sys.h>

typedef enum { PEV_METHOD_NONE, PEV_METHOD_EXACT } PEVMethod;
PETSC_EXTERN const char *const PEVMethods[];

/* Collective. D = diag(C^-1), C assembled (AIJ), D with C's row layout. */
PETSC_EXTERN PetscErrorCode PEVComputeExact(Mat C, Vec d);

#endif
