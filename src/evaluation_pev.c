/* Prediction error variances and reliabilities of the levels (pev.h computes diag(C^-1)). */
#include "evaluationimpl.h"
#include <string.h>

/* Random group G's level block and this rank's levels LO..HI-1 of it; *DIM its order. */
static PetscErrorCode GroupLocalLevels(Evaluation ev, PetscInt g, PetscInt *dim, const EquationsBlock **block, PetscInt *lo, PetscInt *hi)
{
  const ModelGroup *group;
  PetscInt          rstart, rend;

  PetscFunctionBeginUser;
  PetscCall(ModelGetGroup(ev->model, g, &group));
  PetscCall(EquationsGetGroupBlocks(ev->equations, ev->model, g, block, NULL));
  PetscCall(VecGetOwnershipRange(ev->x, &rstart, &rend));
  PetscCall(EvaluationBlockLocalLevels(ev, *block, rstart, rend, lo, hi));
  *dim = group->dim;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The entries of C^-1 in the (order x order) blocks of this rank's levels of every random group of order > 1
   (free with PetscFree2()); an absent equation asks for a present one of its level (BlockStore() writes 0). */
static PetscErrorCode BlockRequests(Evaluation ev, PetscCount *n, PetscInt **rows, PetscInt **cols)
{
  PetscInt ngroups;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(ev->model, &ngroups));
  *n = 0;
  for (PetscInt pass = 0; pass < 2; pass++) {
    PetscCount k = 0;
    for (PetscInt g = 0; g < ngroups; g++) {
      const EquationsBlock *block;
      PetscInt              lo, hi, dim;
      PetscCall(GroupLocalLevels(ev, g, &dim, &block, &lo, &hi));
      if (dim < 2) continue;
      for (PetscInt l = lo; l < hi; l++) {
        PetscInt anchor = -1;
        for (PetscInt p = 0; p < dim && anchor < 0; p++) anchor = EquationsBlockEquation(block, l, p);
        for (PetscInt p = 0; p < dim; p++)
          for (PetscInt q = 0; q < dim; q++, k++)
            if (pass) {
              PetscInt a = EquationsBlockEquation(block, l, p), b = EquationsBlockEquation(block, l, q);
              (*rows)[k] = a >= 0 && b >= 0 ? a : anchor;
              (*cols)[k] = a >= 0 && b >= 0 ? b : anchor;
            }
      }
    }
    if (!pass) {
      *n = k;
      PetscCall(PetscMalloc2(k + 1, rows, k + 1, cols));
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The blocks' values, from EXTRA in the order of BlockRequests(), 0 for absent equations. */
static PetscErrorCode BlockStore(Evaluation ev, const PetscReal extra[])
{
  PetscInt   ngroups;
  PetscCount k = 0;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(ev->model, &ngroups));
  if (!ev->pev_block) PetscCall(PetscCalloc1(ngroups + 1, &ev->pev_block));
  for (PetscInt g = 0; g < ngroups; g++) {
    const EquationsBlock *block;
    PetscInt              lo, hi, dim;
    PetscCall(PetscFree(ev->pev_block[g]));
    PetscCall(GroupLocalLevels(ev, g, &dim, &block, &lo, &hi));
    if (dim < 2) continue;
    PetscCall(PetscMalloc1((hi - lo) * dim * dim + 1, &ev->pev_block[g]));
    for (PetscInt l = lo; l < hi; l++)
      for (PetscInt p = 0; p < dim; p++)
        for (PetscInt q = 0; q < dim; q++, k++) {
          PetscBool present = EquationsBlockEquation(block, l, p) >= 0 && EquationsBlockEquation(block, l, q) >= 0 ? PETSC_TRUE : PETSC_FALSE;
          ev->pev_block[g][((l - lo) * dim + p) * dim + q] = present ? extra[k] : 0;
        }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationPEV(Evaluation ev)
{
  Mat        C;
  double     start;
  PetscCount nblock = 0;
  PetscInt  *rows, *cols;
  PetscReal *extra;

  PetscFunctionBeginUser;
  if (ev->pev_method == PEV_METHOD_NONE) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(EvaluationPhaseBegin(ev, HENDERSON_PHASE_PEV, &start));
  PetscCall(MMEGetSystem(ev->mme, &C, NULL, NULL));
  if (!ev->pev) PetscCall(VecDuplicate(ev->x, &ev->pev));
  PetscCall(BlockRequests(ev, &nblock, &rows, &cols));
  PetscCall(PetscMalloc1(nblock + 1, &extra));
  if (ev->pev_method == PEV_METHOD_EXACT)
    PetscCall(PEVComputeExact(C, nblock, rows, cols, extra, ev->pev, &ev->pev_nullity, &ev->pev_factor));
  else if (ev->pev_method == PEV_METHOD_APPROXIMATE) {
    PetscCall(PEVComputeApproximate(ev->model, ev->equations, ev->records, ev->nrel, ev->rel, ev->pev_rounds, ev->pev_tol, nblock, rows, cols, extra, ev->pev,
                                    &ev->pev_approximate));
    PetscCall(PEVMaskNotEstimable(ev->nonestimable, nblock, rows, cols, extra, ev->pev));
    if (ev->pev_approximate.change >= ev->pev_tol)
      PetscCall(EvaluationWarn(ev, "-pev approximate: the precisions still changed by %.2g (relative) in round %" PetscInt_FMT " of -pev_rounds %" PetscInt_FMT,
                               (double)ev->pev_approximate.change, ev->pev_approximate.rounds, ev->pev_rounds));
  } else {
    PetscCall(EvaluationSolverReady(ev)); /* REML may have rebuilt the system */
    PetscCall(PEVComputeSampled(ev->model, ev->equations, ev->records, ev->nrel, ev->rel, ev->solver, ev->pev_samples, ev->pev_sample_block,
                                (PetscInt64)ev->pev_seed, nblock, rows, cols, extra, ev->pev, &ev->pev_iterations, &ev->pev_failed));
    PetscCall(PEVMaskNotEstimable(ev->nonestimable, nblock, rows, cols, extra, ev->pev));
    if (ev->pev_failed)
      PetscCall(EvaluationWarn(
          ev, "%" PetscInt_FMT " of the %" PetscInt_FMT " simulated data sets of -pev sample did not converge: the PEV are not reliable (exit status 2)",
          ev->pev_failed, ev->pev_samples));
  }
  PetscCall(BlockStore(ev, extra));
  PetscCall(PetscFree2(rows, cols));
  PetscCall(PetscFree(extra));
  PetscCall(EvaluationPhaseEnd(ev, HENDERSON_PHASE_PEV, start));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The reliability 1 - PEV / VARIANCE, in [0, 1]. Exact PEV never exceeds the prior variance but for
   rounding (or where the prior is approximate: ungenotyped animals in single step, relationship.h), and
   is never changed; a sampled one can (its relative error is sqrt(2/N)): such a PEV is set to the prior
   variance, its reliability to 0, and counted (ev->pev_clipped, in the summary). NaN (not estimable) stays NaN. */
PetscErrorCode EvaluationReliability(Evaluation ev, PetscReal variance, PetscReal *pev, PetscReal *sep, PetscReal *reliability)
{
  PetscFunctionBeginUser;
  if (PetscIsNanReal(*pev) || !(variance > 0)) {
    *reliability = NAN;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  *reliability = 1 - *pev / variance;
  if (*reliability < 0 && ev->pev_method == PEV_METHOD_EXACT) *reliability = 0;
  if (*reliability < 0) {
    if (*reliability < -1e-9) ev->pev_clipped++; /* beyond rounding */
    *reliability = 0;
    *pev         = variance;
    *sep         = PetscSqrtReal(variance);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. This rank's rows of the accuracy of effect E (or of its GROUPS), from diag(C^-1): pev, sep and,
   for random effects, reliability = 1 - pev / (K_ii sigma2), sigma2 the effect's G0 diagonal for the
   column (trait, coefficient), K_ii the relationship's diagonal: 1 + F (pedigree), 1 (iid), Gt_ii for a
   genotyped animal in single step (RELIABILITY NULL otherwise). */
PetscErrorCode EvaluationEffectAccuracy(Evaluation ev, PetscInt e, PetscBool groups, PetscInt rstart, PetscInt rend, PetscReal **pev, PetscReal **sep,
                                        PetscReal **reliability)
{
  const ModelEffect     *effect;
  const EquationsEffect *layout;
  const PetscScalar     *d;
  PetscInt               lo, hi, ntraits, ncoef, columns;

  PetscFunctionBeginUser;
  PetscCall(ModelGetEffect(ev->model, e, &effect));
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(EquationsGetEffect(ev->equations, e, &layout));
  ncoef   = layout->ncoef;
  columns = ntraits * ncoef;
  PetscCall(VecGetArrayRead(ev->pev, &d));
  PetscCall(EvaluationEffectValues(ev, e, groups, d, rstart, rend, &lo, &hi, pev));
  PetscCall(VecRestoreArrayRead(ev->pev, &d));
  PetscCall(PetscMalloc1((hi - lo) * columns + 1, sep));
  for (PetscInt k = 0; k < (hi - lo) * columns; k++) {
    if ((*pev)[k] < 0 && (*pev)[k] > -1e-12) (*pev)[k] = 0; /* rounding of an exact 0 */
    (*sep)[k] = PetscSqrtReal((*pev)[k]);                   /* NaN for a level not estimable, or a negative PEV */
  }
  *reliability = NULL;
  if (effect->kind == MODEL_EFFECT_RANDOM && !groups) {
    const ModelGroup *group;
    PetscReal        *K = NULL;
    PetscCall(ModelGetGroup(ev->model, effect->group, &group));
    PetscCall(RelationshipGetDiagonal(ev->rel[effect->group], lo, hi, &K));
    PetscCall(PetscCalloc1((hi - lo) * columns + 1, reliability));
    for (PetscInt l = lo; l < hi; l++)
      for (PetscInt t = 0; t < ntraits; t++) {
        PetscInt i = ModelEffectTraitPosition(effect, t);
        if (i < 0) continue;
        for (PetscInt c = 0; c < ncoef; c++) {
          PetscInt  k = effect->position + i * ncoef + c, at = (l - lo) * columns + t * ncoef + c;
          PetscReal variance = group->covariance[k * group->dim + k] * (K ? K[l - lo] : 1);
          PetscCall(EvaluationReliability(ev, variance, &(*pev)[at], &(*sep)[at], &(*reliability)[at]));
        }
      }
    PetscCall(PetscFree(K));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}
