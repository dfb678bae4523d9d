#include <henderson/solver.h>

struct _p_Solver {
  MPI_Comm     comm;
  KSP          ksp;
  Mat          C;
  SolverResult result;
};

PetscErrorCode SolverCreate(MPI_Comm comm, Solver *solver)
{
  Solver s;
  PC     pc;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&s));
  s->comm = comm;
  PetscCall(KSPCreate(comm, &s->ksp));
  PetscCall(KSPSetType(s->ksp, KSPCG));
  PetscCall(KSPGetPC(s->ksp, &pc));
  PetscCall(PCSetType(pc, PCJACOBI));
  PetscCall(KSPSetNormType(s->ksp, KSP_NORM_UNPRECONDITIONED));
  PetscCall(KSPSetTolerances(s->ksp, 1e-8, PETSC_DEFAULT, PETSC_DEFAULT, 100000));
  *solver = s;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverDestroy(Solver *solver)
{
  PetscFunctionBeginUser;
  if (!*solver) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(KSPDestroy(&(*solver)->ksp));
  PetscCall(PetscFree(*solver));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverSetUp(Solver s, Mat C, Mat P)
{
  PetscFunctionBeginUser;
  s->C = C;
  PetscCall(KSPSetOperators(s->ksp, C, P));
  {
    /* point-block Jacobi where the matrix says which rows form a block (the traits and correlated
       effects of one level); plain Jacobi when all blocks have one row -- the same thing */
    PetscInt        nblocks, largest = 1;
    const PetscInt *sizes;
    PC              pc;
    PetscCall(MatGetVariableBlockSizes(P, &nblocks, &sizes));
    for (PetscInt b = 0; b < nblocks; b++) largest = PetscMax(largest, sizes[b]);
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &largest, 1, MPIU_INT, MPI_MAX, s->comm));
    PetscCall(KSPGetPC(s->ksp, &pc));
    PetscCall(PCSetType(pc, largest > 1 ? PCVPBJACOBI : PCJACOBI));
  }
  PetscCall(KSPSetFromOptions(s->ksp));
  PetscCall(KSPSetUp(s->ksp));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverSolve(Solver s, Vec rhs, Vec x)
{
  KSPConvergedReason reason;
  PetscReal          xnorm, bnorm, rnorm, rtol;
  Vec                r;
  PC                 pc;
  KSPType            ksp_type;
  PCType             pc_type;

  PetscFunctionBeginUser;
  PetscCall(VecNorm(x, NORM_INFINITY, &xnorm));
  PetscCall(KSPSetInitialGuessNonzero(s->ksp, xnorm > 0 ? PETSC_TRUE : PETSC_FALSE));
  PetscCall(KSPSolve(s->ksp, rhs, x));
  PetscCall(KSPGetIterationNumber(s->ksp, &s->result.iterations));
  PetscCall(KSPGetConvergedReason(s->ksp, &reason));
  PetscCall(KSPGetTolerances(s->ksp, &rtol, NULL, NULL, NULL));
  /* The true residual of the returned x, whatever norm the KSP watched. */
  PetscCall(VecDuplicate(rhs, &r));
  PetscCall(MatMult(s->C, x, r));
  PetscCall(VecAYPX(r, -1.0, rhs));
  PetscCall(VecNorm(r, NORM_2, &rnorm));
  PetscCall(VecNorm(rhs, NORM_2, &bnorm));
  PetscCall(VecDestroy(&r));
  s->result.relative_residual = bnorm > 0 ? rnorm / bnorm : rnorm;
  s->result.converged         = reason > 0 ? PETSC_TRUE : PETSC_FALSE;
  s->result.rtol              = rtol;
  PetscCall(PetscStrncpy(s->result.reason, KSPConvergedReasons[reason], sizeof(s->result.reason)));
  PetscCall(KSPGetType(s->ksp, &ksp_type));
  PetscCall(KSPGetPC(s->ksp, &pc));
  PetscCall(PCGetType(pc, &pc_type));
  PetscCall(PetscStrncpy(s->result.ksp_type, ksp_type, sizeof(s->result.ksp_type)));
  PetscCall(PetscStrncpy(s->result.pc_type, pc_type ? pc_type : "none", sizeof(s->result.pc_type)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverGetResult(Solver s, SolverResult *result)
{
  PetscFunctionBeginUser;
  *result = s->result;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverGetKSP(Solver s, KSP *ksp)
{
  PetscFunctionBeginUser;
  *ksp = s->ksp;
  PetscFunctionReturn(PETSC_SUCCESS);
}
