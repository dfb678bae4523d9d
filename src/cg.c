#include <henderson/cg.h>
#include <petsc/private/kspimpl.h>

typedef struct {
  KSPHCGHook hook;
  void      *hook_ctx;
  PetscBool  resume; /* the next solve starts from the state below */
  PetscInt   resume_its;
  PetscReal  resume_rz;
  /* the true residual b - Cx, checked whenever the recursive one says converged */
  PetscInt  replacements, max_stalls; /* replacements in the last solve; checks without progress allowed */
  PetscReal true_rnorm;               /* ||b - Cx|| at the last check (-1: none) */
} KSP_HCG;

/* Work vectors: r, z, p, w = C p. */
enum { HCG_R, HCG_Z, HCG_P, HCG_W, HCG_NWORK };

static PetscErrorCode KSPSetUp_HCG(KSP ksp)
{
  PetscFunctionBegin;
  PetscCall(KSPSetWorkVecs(ksp, HCG_NWORK));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* x += a p, r -= a w, and ||r|| -- one pass over the four vectors. */
static PetscErrorCode UpdateAndNorm(Vec x, Vec r, Vec p, Vec w, PetscScalar a, PetscReal *rnorm)
{
  PetscScalar       *xa, *ra;
  const PetscScalar *pa, *wa;
  PetscInt           n;
  PetscReal          local = 0, global;

  PetscFunctionBegin;
  PetscCall(VecGetLocalSize(x, &n));
  PetscCall(VecGetArray(x, &xa));
  PetscCall(VecGetArray(r, &ra));
  PetscCall(VecGetArrayRead(p, &pa));
  PetscCall(VecGetArrayRead(w, &wa));
  for (PetscInt i = 0; i < n; i++) {
    xa[i] += a * pa[i];
    ra[i] -= a * wa[i];
    local += PetscRealPart(ra[i] * PetscConj(ra[i]));
  }
  PetscCall(VecRestoreArrayRead(w, &wa));
  PetscCall(VecRestoreArrayRead(p, &pa));
  PetscCall(VecRestoreArray(r, &ra));
  PetscCall(VecRestoreArray(x, &xa));
  PetscCall(PetscLogFlops(6.0 * n));
  PetscCall(MPIU_Allreduce(&local, &global, 1, MPIU_REAL, MPIU_SUM, PetscObjectComm((PetscObject)x)));
  *rnorm = PetscSqrtReal(global);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The next direction from r: z = M^-1 r, rz = r'z, p = z + (rz / rz_old) p (p = z at the start). */
static PetscErrorCode NextDirection(KSP ksp, PetscBool first, PetscReal *rz)
{
  Vec         R = ksp->work[HCG_R], Z = ksp->work[HCG_Z], P = ksp->work[HCG_P];
  PetscScalar rz_new;

  PetscFunctionBegin;
  PetscCall(KSP_PCApply(ksp, R, Z));
  PetscCall(VecDot(Z, R, &rz_new));
  if (PetscIsInfOrNanScalar(rz_new)) {
    PetscCheck(!ksp->errorifnotconverged, PetscObjectComm((PetscObject)ksp), PETSC_ERR_NOT_CONVERGED, "hcg: r'z is Inf or NaN");
    ksp->reason = KSP_DIVERGED_NANORINF;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (!first && PetscRealPart(rz_new) * *rz < 0) {
    ksp->reason = KSP_DIVERGED_INDEFINITE_PC;
    PetscCall(PetscInfo(ksp, "diverging: indefinite preconditioner\n"));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (first)
    PetscCall(VecCopy(Z, P));
  else
    PetscCall(VecAYPX(P, rz_new / *rz, Z));
  *rz = PetscRealPart(rz_new);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The recursive residual r, updated as r -= a Cp, drifts from the true one b - Cx when C is badly
   conditioned (a pedigree of near-clones, F near 1) or scaled far from 1: CG may then stop on an r that
   meets the criterion while b - Cx is far from it. So when the test says converged, the true residual is
   computed; if it fails the criterion it replaces r (residual replacement, as in reliable updating:
   Sleijpen & van der Vorst 1996) and the iteration goes on from there, keeping the direction p. When
   max_stalls checks in a row gain less than a factor 2 on the best true residual so far, the attainable
   accuracy is reached: the solve stops as diverged (KSP_DIVERGED_BREAKDOWN), not converged. */
static PetscErrorCode CheckTrueResidual(KSP ksp, PetscInt *stalls)
{
  KSP_HCG  *cg = (KSP_HCG *)ksp->data;
  Vec       X = ksp->vec_sol, B = ksp->vec_rhs, R = ksp->work[HCG_R], W = ksp->work[HCG_W];
  Mat       A;
  PetscReal tnorm, target = ksp->ttol;

  PetscFunctionBegin;
  PetscCall(PCGetOperators(ksp->pc, &A, NULL));
  PetscCall(KSP_MatMult(ksp, A, X, W));
  PetscCall(VecAYPX(W, -1.0, B)); /* w = b - C x */
  PetscCall(VecNorm(W, NORM_2, &tnorm));
  if (!(target > 0)) {
    PetscReal bnorm;
    PetscCall(VecNorm(B, NORM_2, &bnorm));
    target = ksp->rtol * bnorm;
  }
  if (tnorm <= target) {
    cg->true_rnorm = tnorm;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscInfo(ksp, "iteration %" PetscInt_FMT ": recursive residual %g, true residual %g: replaced\n", ksp->its, (double)ksp->rnorm, (double)tnorm));
  if (cg->true_rnorm >= 0 && tnorm > 0.5 * cg->true_rnorm)
    (*stalls)++;
  else
    *stalls = 0;
  cg->true_rnorm = cg->true_rnorm >= 0 ? PetscMin(cg->true_rnorm, tnorm) : tnorm;
  cg->replacements++;
  PetscCall(VecCopy(W, R));
  ksp->rnorm = tnorm;
  if (PetscIsInfOrNanReal(tnorm)) {
    ksp->reason = KSP_DIVERGED_NANORINF;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  ksp->reason = *stalls >= cg->max_stalls ? KSP_DIVERGED_BREAKDOWN : KSP_CONVERGED_ITERATING;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode KSPSolve_HCG(KSP ksp)
{
  KSP_HCG  *cg = (KSP_HCG *)ksp->data;
  Vec       X = ksp->vec_sol, B = ksp->vec_rhs, R = ksp->work[HCG_R], P = ksp->work[HCG_P], W = ksp->work[HCG_W];
  Mat       A;
  PetscReal rnorm, rz = 0;
  PetscInt  stalls = 0;

  PetscFunctionBegin;
  PetscCall(PCGetOperators(ksp->pc, &A, NULL));
  ksp->its         = 0;
  ksp->reason      = KSP_CONVERGED_ITERATING;
  cg->replacements = 0;
  cg->true_rnorm   = -1;
  if (cg->resume) {
    /* R and P were copied in; X holds the state's x */
    cg->resume = PETSC_FALSE;
    ksp->its   = cg->resume_its;
    rz         = cg->resume_rz;
    PetscCall(VecNorm(R, NORM_2, &rnorm));
    ksp->rnorm = rnorm;
    PetscCall(PetscInfo(ksp, "resuming after iteration %" PetscInt_FMT ", residual norm %g\n", ksp->its, (double)rnorm));
    /* iteration 0 of the test sets its tolerance from ||b||, as at the start of the first solve */
    PetscCall((*ksp->converged)(ksp, 0, rnorm, &ksp->reason, ksp->cnvP));
    if (ksp->reason) PetscFunctionReturn(PETSC_SUCCESS);
  } else {
    if (!ksp->guess_zero) {
      PetscCall(KSP_MatMult(ksp, A, X, R)); /* r = b - A x */
      PetscCall(VecAYPX(R, -1.0, B));
    } else
      PetscCall(VecCopy(B, R));
    PetscCall(VecNorm(R, NORM_2, &rnorm));
    ksp->rnorm = rnorm;
    PetscCall(KSPLogResidualHistory(ksp, rnorm));
    PetscCall(KSPMonitor(ksp, 0, rnorm));
    PetscCall((*ksp->converged)(ksp, 0, rnorm, &ksp->reason, ksp->cnvP));
    if (ksp->reason) PetscFunctionReturn(PETSC_SUCCESS);
    PetscCall(NextDirection(ksp, PETSC_TRUE, &rz));
    if (ksp->reason) PetscFunctionReturn(PETSC_SUCCESS);
    if (cg->hook) PetscCall((*cg->hook)(ksp, 0, X, R, P, rz, cg->hook_ctx));
  }

  while (!ksp->reason) {
    PetscScalar pw;
    if (ksp->its >= ksp->max_it) {
      ksp->reason = KSP_DIVERGED_ITS;
      break;
    }
    if (rz == 0) { /* r'z = 0 with M positive definite: r = 0 */
      ksp->reason = KSP_CONVERGED_ATOL;
      break;
    }
    PetscCall(KSP_MatMult(ksp, A, P, W)); /* w = A p */
    PetscCall(VecDot(W, P, &pw));
    if (PetscIsInfOrNanScalar(pw)) {
      PetscCheck(!ksp->errorifnotconverged, PetscObjectComm((PetscObject)ksp), PETSC_ERR_NOT_CONVERGED, "hcg: p'Ap is Inf or NaN");
      ksp->reason = KSP_DIVERGED_NANORINF;
      break;
    }
    if (PetscRealPart(pw) <= 0) {
      ksp->reason = KSP_DIVERGED_INDEFINITE_MAT;
      PetscCall(PetscInfo(ksp, "diverging: p'Ap = %g, the matrix is not positive definite\n", (double)PetscRealPart(pw)));
      break;
    }
    PetscCall(UpdateAndNorm(X, R, P, W, rz / pw, &rnorm));
    ksp->its++;
    ksp->rnorm = rnorm;
    PetscCall(KSPLogResidualHistory(ksp, rnorm));
    PetscCall(KSPMonitor(ksp, ksp->its, rnorm));
    PetscCall((*ksp->converged)(ksp, ksp->its, rnorm, &ksp->reason, ksp->cnvP));
    if (ksp->reason > 0) PetscCall(CheckTrueResidual(ksp, &stalls));
    if (ksp->reason) break;
    PetscCall(NextDirection(ksp, PETSC_FALSE, &rz));
    if (ksp->reason) break;
    if (cg->hook) PetscCall((*cg->hook)(ksp, ksp->its, X, R, P, rz, cg->hook_ctx));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode KSPSetFromOptions_HCG(KSP ksp, PetscOptionItems *PetscOptionsObject)
{
  KSP_HCG *cg = (KSP_HCG *)ksp->data;

  PetscFunctionBegin;
  PetscOptionsHeadBegin(PetscOptionsObject, "KSP hcg options");
  PetscCall(PetscOptionsInt("-ksp_hcg_max_stalls", "True-residual checks in a row without a gain of 2 before the solve stops as not converged", "KSPHCG",
                            cg->max_stalls, &cg->max_stalls, NULL));
  PetscOptionsHeadEnd();
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode KSPView_HCG(KSP ksp, PetscViewer viewer)
{
  KSP_HCG  *cg = (KSP_HCG *)ksp->data;
  PetscBool ascii;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)viewer, PETSCVIEWERASCII, &ascii));
  if (ascii)
    PetscCall(PetscViewerASCIIPrintf(viewer, "  true residual checked at convergence; residual replacements in the last solve: %" PetscInt_FMT "\n",
                                     cg->replacements));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode KSPHCGGetReplacements_HCG(KSP ksp, PetscInt *replacements)
{
  KSP_HCG *cg = (KSP_HCG *)ksp->data;

  PetscFunctionBegin;
  *replacements = cg->replacements;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode KSPDestroy_HCG(KSP ksp)
{
  PetscFunctionBegin;
  PetscCall(KSPDestroyDefault(ksp));
  PetscCall(PetscObjectComposeFunction((PetscObject)ksp, "KSPHCGSetIterationHook_C", NULL));
  PetscCall(PetscObjectComposeFunction((PetscObject)ksp, "KSPHCGSetResume_C", NULL));
  PetscCall(PetscObjectComposeFunction((PetscObject)ksp, "KSPHCGGetReplacements_C", NULL));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode KSPHCGSetIterationHook_HCG(KSP ksp, KSPHCGHook hook, void *ctx)
{
  KSP_HCG *cg = (KSP_HCG *)ksp->data;

  PetscFunctionBegin;
  cg->hook     = hook;
  cg->hook_ctx = ctx;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode KSPHCGSetResume_HCG(KSP ksp, PetscInt its, Vec r, Vec p, PetscReal rz)
{
  KSP_HCG *cg = (KSP_HCG *)ksp->data;

  PetscFunctionBegin;
  PetscCall(KSPSetUp(ksp));
  PetscCall(VecCopy(r, ksp->work[HCG_R]));
  PetscCall(VecCopy(p, ksp->work[HCG_P]));
  cg->resume     = PETSC_TRUE;
  cg->resume_its = its;
  cg->resume_rz  = rz;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode KSPCreate_HCG(KSP ksp)
{
  KSP_HCG *cg;

  PetscFunctionBegin;
  PetscCall(PetscNew(&cg));
  cg->max_stalls = 3;
  cg->true_rnorm = -1;
  ksp->data      = (void *)cg;
  PetscCall(KSPSetSupportedNorm(ksp, KSP_NORM_UNPRECONDITIONED, PC_LEFT, 3));
  ksp->ops->setup          = KSPSetUp_HCG;
  ksp->ops->solve          = KSPSolve_HCG;
  ksp->ops->destroy        = KSPDestroy_HCG;
  ksp->ops->view           = KSPView_HCG;
  ksp->ops->setfromoptions = KSPSetFromOptions_HCG;
  ksp->ops->buildsolution  = KSPBuildSolutionDefault;
  ksp->ops->buildresidual  = KSPBuildResidualDefault;
  PetscCall(PetscObjectComposeFunction((PetscObject)ksp, "KSPHCGSetIterationHook_C", KSPHCGSetIterationHook_HCG));
  PetscCall(PetscObjectComposeFunction((PetscObject)ksp, "KSPHCGSetResume_C", KSPHCGSetResume_HCG));
  PetscCall(PetscObjectComposeFunction((PetscObject)ksp, "KSPHCGGetReplacements_C", KSPHCGGetReplacements_HCG));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode KSPHCGRegister(void)
{
  static PetscBool registered = PETSC_FALSE;

  PetscFunctionBegin;
  if (registered) PetscFunctionReturn(PETSC_SUCCESS);
  registered = PETSC_TRUE;
  PetscCall(KSPRegister(KSPHCG, KSPCreate_HCG));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode KSPHCGSetIterationHook(KSP ksp, KSPHCGHook hook, void *ctx)
{
  PetscFunctionBegin;
  PetscUseMethod(ksp, "KSPHCGSetIterationHook_C", (KSP, KSPHCGHook, void *), (ksp, hook, ctx));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode KSPHCGSetResume(KSP ksp, PetscInt its, Vec r, Vec p, PetscReal rz)
{
  PetscFunctionBegin;
  PetscUseMethod(ksp, "KSPHCGSetResume_C", (KSP, PetscInt, Vec, Vec, PetscReal), (ksp, its, r, p, rz));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode KSPHCGGetReplacements(KSP ksp, PetscInt *replacements)
{
  PetscFunctionBegin;
  *replacements = 0;
  PetscTryMethod(ksp, "KSPHCGGetReplacements_C", (KSP, PetscInt *), (ksp, replacements));
  PetscFunctionReturn(PETSC_SUCCESS);
}
