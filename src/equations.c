#include <henderson/equations.h>

struct _p_Equations {
  MPI_Comm         comm;
  PetscInt         neffects, n;
  PetscInt         mean_effect;
  EquationsEffect *effects;
};

PetscErrorCode EquationsCreate(MPI_Comm comm, Equations *equations)
{
  PetscFunctionBeginUser;
  PetscCall(PetscNew(equations));
  (*equations)->comm = comm;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsDestroy(Equations *equations)
{
  PetscFunctionBeginUser;
  if (!*equations) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFree((*equations)->effects));
  PetscCall(PetscFree(*equations));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsSetUp(Equations eq, Model model, Records records)
{
  PetscInt  next = 0;
  PetscBool mean_absorbed = PETSC_FALSE;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumEffects(model, &eq->neffects));
  PetscCall(PetscFree(eq->effects));
  PetscCall(PetscCalloc1(eq->neffects, &eq->effects));
  /* fixed effects and covariates first, then random effects, each group in model order */
  for (int pass = 0; pass < 2; pass++) {
    for (PetscInt e = 0; e < eq->neffects; e++) {
      const ModelEffect *effect;
      EquationsEffect   *out = &eq->effects[e];
      PetscCall(ModelGetEffect(model, e, &effect));
      if ((effect->kind == MODEL_EFFECT_RANDOM) != (pass == 1)) continue;
      PetscCall(RecordsGetLevels(records, e, &out->nlevels, NULL));
      out->constrained = -1;
      if (effect->kind == MODEL_EFFECT_FIXED) {
        /* the first class effect (or the implied mean) absorbs the mean; later ones lose their first level */
        if (mean_absorbed) out->constrained = 0;
        else eq->mean_effect = e;
        mean_absorbed = PETSC_TRUE;
      }
      out->nequations = out->nlevels - (out->constrained >= 0 ? 1 : 0);
      out->offset     = next;
      PetscCheck((PetscInt64)next + out->nequations < PETSC_MAX_INT, eq->comm, PETSC_ERR_SUP,
                 "more than %" PetscInt_FMT " equations: build against a PETSc with 64-bit indices (libpetsc64-real-dev)", PETSC_MAX_INT);
      next += out->nequations;
    }
  }
  eq->n = next;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsGetMeanEffect(Equations eq, PetscInt *e)
{
  PetscFunctionBeginUser;
  *e = eq->mean_effect;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsGetSize(Equations eq, PetscInt *n)
{
  PetscFunctionBeginUser;
  *n = eq->n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsGetEffect(Equations eq, PetscInt e, const EquationsEffect **effect)
{
  PetscFunctionBeginUser;
  PetscCheck(e >= 0 && e < eq->neffects, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "effect %" PetscInt_FMT, e);
  *effect = &eq->effects[e];
  PetscFunctionReturn(PETSC_SUCCESS);
}
