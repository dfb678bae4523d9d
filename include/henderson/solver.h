/* henderson/solver.h -- the KSP that solves C x = r.

   Defaults, set before KSPSetFromOptions() so that the command line wins: conjugate gradients
   (KSPHCG of cg.h: PETSc's CG algorithm with a state that can be saved), Jacobi or point-block
   Jacobi, convergence when the true (unpreconditioned) residual satisfies ||r - Cx|| <= rtol ||r||
   with rtol = 1e-8 (no absolute tolerance), at most 100000 iterations. After the solve the true
   relative residual of the returned x is computed again from scratch, and the solve counts as
   converged only when it meets the criterion (whatever the KSP reported). The solver knows only Mat and Vec. Options: every
   -ksp_* and -pc_* option of PETSc, and

     -checkpoint_every N      write the state of the solve every N iterations
     -checkpoint_minutes M    ... and/or every M minutes (rank 0's clock)
     -henderson_kill_at_checkpoint K   (tests) rank 0 kills itself with SIGKILL while writing the
                              K-th checkpoint, after the new file is written and before it replaces
                              the old one

   A checkpoint is an HDF5 file (datasets x, r, p; attributes program = "henderson checkpoint",
   iteration, rz, equations, ranks, identity, rhs_norm, rhs_sum) written under a temporary name that
   no other run uses (PATH.tmp-<pid>-<random>) and renamed over the previous one,
   so that a kill at any moment leaves the last complete checkpoint. SolverResume() starts the next
   solve from it: at the same rank count the solve then ends with the same x, to the bit, as one that
   was never interrupted. */
#ifndef HENDERSON_SOLVER_H
#define HENDERSON_SOLVER_H

#include <petscksp.h>
#include <henderson/sys.h>
#include <henderson/cg.h>

typedef struct _p_Solver *Solver;

typedef struct {
  PetscInt  iterations;
  PetscReal relative_residual; /* ||r - Cx|| / ||r|| of the returned x */
  PetscBool converged;         /* the KSP stopped on its criterion and RELATIVE_RESIDUAL meets it */
  PetscInt  replacements;      /* hcg: times the true residual replaced the recursive one */
  char      reason[64];        /* KSPConvergedReason as text */
  char      ksp_type[64], pc_type[64];
  PetscReal rtol;
} SolverResult;

PETSC_EXTERN PetscErrorCode SolverCreate(MPI_Comm comm, Solver *solver);
PETSC_EXTERN PetscErrorCode SolverDestroy(Solver *solver);
/* Collective. Reads the options: the KSP's (-ksp_*, -pc_*) and -checkpoint_every N, -checkpoint_minutes M. */
PETSC_EXTERN PetscErrorCode SolverSetFromOptions(Solver solver);
/* Not collective, after SolverSetFromOptions(). Whether the preconditioner needs the entries of C
   (anything but Jacobi, point-block Jacobi or none: ICC, ILU, AMG, a factorisation). */
PETSC_EXTERN PetscErrorCode SolverNeedsEntries(Solver solver, PetscBool *needs);
/* Not collective. Whether checkpoints are asked for. */
PETSC_EXTERN PetscErrorCode SolverIsCheckpointing(Solver solver, PetscBool *checkpointing);
/* Collective. Sets the operator C, the matrix P the preconditioner is built from (C itself, or an
   approximation such as its point-block diagonal), and reads the options. */
PETSC_EXTERN PetscErrorCode SolverSetUp(Solver solver, Mat C, Mat P);
/* Collective. Solves C x = rhs starting from the X given (zero for a cold start). */
PETSC_EXTERN PetscErrorCode SolverSolve(Solver solver, Vec rhs, Vec x);
PETSC_EXTERN PetscErrorCode SolverGetResult(Solver solver, SolverResult *result);
/* Collective, after SolverSetUp(). X = C^-1 B for the K columns of the dense B (X dense, C's layout): K
   preconditioned CGs in lockstep from X = 0, one block product C P a step (MatMatMult: the data operator's
   one pass for all K), each column with its own step lengths, stopped once its residual meets the KSP's
   rtol; *ITERATIONS gets the column-iterations, *NOT_CONVERGED the columns whose true residual does not.
   The same solutions as K single solves to the tolerance (not to the bit: other reductions). For sampled PEV. */
PETSC_EXTERN PetscErrorCode SolverSolveBlock(Solver solver, Mat B, Mat X, PetscInt64 *iterations, PetscInt *not_converged);
/* Collective. The last solve: method, iterations, the true relative residual, converged or not. */
PETSC_EXTERN PetscErrorCode SolverView(Solver solver, PetscViewer viewer);
/* Collective, after SolverSetUp(). Checkpoints go to PATH when -checkpoint_every or
   -checkpoint_minutes asks for them; IDENTITY (text) names the evaluation they belong to. */
PETSC_EXTERN PetscErrorCode SolverSetCheckpoint(Solver solver, const char path[], const char identity[]);
/* Collective. When the checkpoint file of SolverSetCheckpoint() exists, loads its x into X and makes
   the next SolverSolve() go on from it (*resumed true); an error when it belongs to another evaluation
   (another identity, number of equations or right-hand side RHS). */
PETSC_EXTERN PetscErrorCode SolverResume(Solver solver, Vec rhs, Vec x, PetscBool *resumed);
/* Collective. Removes the checkpoint file once the solutions are safely written -- when this run wrote
   checkpoints or went on from one, and only if what is there is a henderson checkpoint. */
PETSC_EXTERN PetscErrorCode SolverRemoveCheckpoint(Solver solver);
PETSC_EXTERN PetscErrorCode SolverGetKSP(Solver solver, KSP *ksp);

#endif
