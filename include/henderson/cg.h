/* henderson/cg.h -- conjugate gradients whose state can be saved and resumed: KSP type "hcg".

   The preconditioned conjugate gradient method of Hestenes and Stiefel, as PETSc's KSPCG computes
   it, registered as one more KSP type, with two differences:
   - its state after an iteration -- x, r = b - Cx, the search direction p, r'z (z = M^-1 r) and the
     iteration count -- is handed to a hook after every iteration (KSPHCGSetIterationHook()), and a
     solve can start from such a state (KSPHCGSetResume()): it then makes the same iterations, to
     the bit at the same rank count, as a solve that was never stopped. PETSc's KSPCG keeps that
     state in local variables of KSPSolve(), so a long solve killed half way could only start again
     from its x, on a different path. This is what checkpoints of long solves need (solver.h).
   - x += a p, r -= a Cp and ||r|| are one pass over the vectors instead of three.
   - when the recursive residual meets the criterion, the true one, b - Cx, is computed: if it does not
     meet it, it replaces r and the iteration goes on (residual replacement); -ksp_hcg_max_stalls
     checks in a row (3) that gain less than a factor 2 end the solve as KSP_DIVERGED_BREAKDOWN. So a
     solve reported converged has a true residual that meets the criterion.
   The residual watched is the unpreconditioned one, ||b - Cx|| (KSP_NORM_UNPRECONDITIONED, left
   preconditioning); tolerances, monitors, -ksp_converged_reason and any PC work as for any KSP. */
#ifndef HENDERSON_CG_H
#define HENDERSON_CG_H

#include <petscksp.h>
#include <henderson/sys.h>

#define KSPHCG "hcg"

/* Called after every iteration with the iteration count and the state the next iteration starts
   from (x, r, p and r'z). Collective; the vectors must not be changed. */
typedef PetscErrorCode (*KSPHCGHook)(KSP ksp, PetscInt its, Vec x, Vec r, Vec p, PetscReal rz, void *ctx);

/* Not collective. Registers the type with KSPRegister() (once; later calls do nothing). */
PETSC_EXTERN PetscErrorCode KSPHCGRegister(void);
/* Logically collective. HOOK (NULL: none) is called after every iteration of every solve. */
PETSC_EXTERN PetscErrorCode KSPHCGSetIterationHook(KSP ksp, KSPHCGHook hook, void *ctx);
/* Collective. The next KSPSolve() goes on from a state a hook saw: after iteration ITS, with R, P
   and RZ (copied now), and its solution vector holding that state's x. */
PETSC_EXTERN PetscErrorCode KSPHCGSetResume(KSP ksp, PetscInt its, Vec r, Vec p, PetscReal rz);

/* Not collective. The times the true residual replaced the recursive one in the last solve (0 for other types). */
PETSC_EXTERN PetscErrorCode KSPHCGGetReplacements(KSP ksp, PetscInt *replacements);

#endif
