/* henderson/solver.h -- the KSP that solves C x = r.

   Defaults, set before KSPSetFromOptions() so that the command line wins: conjugate gradients,
   Jacobi preconditioner, convergence when the true (unpreconditioned) residual satisfies
   ||r - Cx|| <= rtol ||r|| with rtol = 1e-8, at most 100000 iterations. After the solve the true
   relative residual of the returned x is computed again from scratch. The solver knows only
   Mat and Vec. Options: every -ksp_* and -pc_* option of PETSc. */
#ifndef HENDERSON_SOLVER_H
#define HENDERSON_SOLVER_H

#include <petscksp.h>
#include <henderson/sys.h>

typedef struct _p_Solver *Solver;

typedef struct {
  PetscInt  iterations;
  PetscReal relative_residual; /* ||r - Cx|| / ||r|| of the returned x */
  PetscBool converged;
  char      reason[64]; /* KSPConvergedReason as text */
  char      ksp_type[64], pc_type[64];
  PetscReal rtol;
} SolverResult;

PETSC_EXTERN PetscErrorCode SolverCreate(MPI_Comm comm, Solver *solver);
PETSC_EXTERN PetscErrorCode SolverDestroy(Solver *solver);
/* Collective. Sets the operator C, the matrix P the preconditioner is built from (C itself, or an
   approximation such as its point-block diagonal), and reads the options. */
PETSC_EXTERN PetscErrorCode SolverSetUp(Solver solver, Mat C, Mat P);
/* Collective. Solves C x = rhs starting from the X given (zero for a cold start). */
PETSC_EXTERN PetscErrorCode SolverSolve(Solver solver, Vec rhs, Vec x);
PETSC_EXTERN PetscErrorCode SolverGetResult(Solver solver, SolverResult *result);
PETSC_EXTERN PetscErrorCode SolverGetKSP(Solver solver, KSP *ksp);

#endif
