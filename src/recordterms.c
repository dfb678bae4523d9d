#include <henderson/recordterms.h>
#include <henderson/dense.h>

/* The K-th effect in slot order: the model's order with the social effect moved to the end. */
static inline PetscInt SlotEffectOrder(const RecordTerms *rt, PetscInt k)
{
  if (rt->social < 0 || k < rt->social) return k;
  return k + 1 < rt->neffects ? k + 1 : rt->social;
}

PetscErrorCode RecordTermsCreate(Model model, Equations eq, Records records, RecordTerms *rt)
{
  const PetscReal *R0;
  PetscInt         s = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(rt, sizeof(*rt)));
  rt->model = model;
  PetscCall(ModelGetSocialEffect(model, &rt->social, NULL));
  if (rt->social >= 0) PetscCall(RecordsGetSocial(records, &rt->mate_offset, &rt->mates, NULL, &rt->max_mates));
  rt->eq = eq;
  PetscCall(ModelGetNumEffects(model, &rt->neffects));
  PetscCall(ModelGetNumTraits(model, &rt->ntraits));
  PetscCall(ModelGetResidual(model, &R0));
  PetscCall(PetscArraycpy(rt->R0, R0, rt->ntraits * rt->ntraits));
  PetscCall(PetscCalloc1((size_t)1 << rt->ntraits, &rt->rinv));
  PetscCall(RecordsGetTraits(records, &rt->y));
  PetscCall(RecordsGetWeights(records, &rt->w));
  rt->weighted = rt->w ? PETSC_TRUE : PETSC_FALSE;
  PetscCall(PetscMalloc4(rt->neffects, &rt->level, rt->neffects, &rt->value, rt->neffects, &rt->model_effect, rt->neffects, &rt->layout));
  PetscCall(PetscMalloc4(rt->neffects, &rt->block, rt->neffects, &rt->centre, rt->neffects, &rt->scale, rt->neffects, &rt->range));
  for (PetscInt e = 0; e < rt->neffects; e++) {
    PetscCall(ModelGetEffect(model, e, &rt->model_effect[e]));
    PetscCall(RecordsGetEffect(records, e, &rt->level[e], &rt->value[e]));
    PetscCall(EquationsGetEffect(eq, e, &rt->layout[e]));
    PetscCall(EquationsGetBlock(eq, rt->layout[e]->block, &rt->block[e]));
    rt->centre[e] = 0;
    rt->scale[e]  = 1;
    if (rt->value[e]) {
      PetscCall(RecordsGetCovariateScaling(records, e, &rt->centre[e], &rt->scale[e]));
      PetscCall(RecordsGetLegendreRange(records, e, rt->range[e]));
    }
    rt->nslots += rt->layout[e]->ntraits * rt->layout[e]->ncoef * (e == rt->social ? rt->max_mates : 1);
  }
  PetscCall(PetscMalloc3(rt->nslots + 1, &rt->trait, rt->nslots + 1, &rt->cov, rt->nslots + 1, &rt->effect));
  PetscCall(PetscMalloc4(rt->nslots + 1, &rt->eq_, rt->nslots + 1, &rt->first_, rt->nslots + 1, &rt->coef_, rt->nslots + 1, &rt->level_));
  PetscCall(PetscMalloc1(rt->nslots + 1, &rt->position));
  for (PetscInt k = 0; k < rt->neffects; k++) { /* the social effect's slots last (RecordTermsGet()) */
    const PetscInt e = SlotEffectOrder(rt, k);
    if (e == rt->social) {
      PetscInt shared = -1;
      rt->dilution    = rt->model_effect[e]->dilution;
      if (rt->dilution > 0 && rt->max_mates > 0) shared = rt->ncov++;
      for (PetscInt m = 0; m < rt->max_mates; m++)
        for (PetscInt i = 0; i < rt->layout[e]->ntraits; i++, s++) {
          rt->trait[s]    = rt->model_effect[e]->traits[i];
          rt->effect[s]   = e;
          rt->cov[s]      = shared;
          rt->position[s] = rt->layout[e]->slot + i;
        }
      continue;
    }
    for (PetscInt i = 0; i < rt->layout[e]->ntraits; i++)
      for (PetscInt c = 0; c < rt->layout[e]->ncoef; c++, s++) {
        rt->trait[s]    = rt->model_effect[e]->traits[i];
        rt->effect[s]   = e;
        rt->cov[s]      = rt->value[e] ? rt->ncov++ : -1;
        rt->position[s] = rt->layout[e]->slot + i * rt->layout[e]->ncoef + c;
      }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordTermsDestroy(RecordTerms *rt)
{
  PetscFunctionBeginUser;
  for (size_t k = 0; rt->rinv && k < ((size_t)1 << rt->ntraits); k++) PetscCall(PetscFree(rt->rinv[k]));
  PetscCall(PetscFree(rt->rinv));
  PetscCall(PetscFree4(rt->level, rt->value, rt->model_effect, rt->layout));
  PetscCall(PetscFree4(rt->block, rt->centre, rt->scale, rt->range));
  PetscCall(PetscFree3(rt->trait, rt->cov, rt->effect));
  PetscCall(PetscFree4(rt->eq_, rt->first_, rt->coef_, rt->level_));
  PetscCall(PetscFree(rt->position));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordTermsResidualInverse(RecordTerms *rt, uint32_t pattern, const PetscReal **rinv)
{
  PetscFunctionBeginUser;
  if (!rt->rinv[pattern]) {
    PetscInt  t = rt->ntraits, m = 0, which[MODEL_MAX_TRAITS];
    PetscReal sub[MODEL_MAX_TRAITS * MODEL_MAX_TRAITS], *full;
    for (PetscInt i = 0; i < t; i++)
      if (pattern >> i & 1) which[m++] = i;
    for (PetscInt i = 0; i < m; i++)
      for (PetscInt j = 0; j < m; j++) sub[i * m + j] = rt->R0[which[i] * t + which[j]];
    PetscCall(DenseInvertSPD(m, sub));
    PetscCall(PetscCalloc1(t * t, &full));
    for (PetscInt i = 0; i < m; i++)
      for (PetscInt j = 0; j < m; j++) full[which[i] * t + which[j]] = sub[i * m + j];
    rt->rinv[pattern] = full;
  }
  *rinv = rt->rinv[pattern];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The incidence of one effect on one record: its coefficients (1 for a class, the scaled covariate,
   or the Legendre polynomials of it). */
static inline void Coefficients(const ModelEffect *effect, const PetscReal *value, PetscInt r, PetscReal centre, PetscReal scale, const PetscReal range[2],
                                PetscReal phi[])
{
  if (!value)
    phi[0] = 1.0;
  else if (effect->legendre >= 0)
    RecordsLegendre(effect->legendre, 2.0 * (value[r] - range[0]) / (range[1] - range[0]) - 1.0, phi);
  else
    phi[0] = (value[r] - centre) / scale;
}

PetscErrorCode RecordTermsGet(RecordTerms *rt, PetscInt r, RecordContribution *c)
{
  const PetscReal *yr      = rt->y + r * rt->ntraits;
  PetscInt         ntraits = rt->ntraits, s = 0;

  PetscFunctionBeginUser;
  c->eq      = rt->eq_;
  c->first   = rt->first_;
  c->coef    = rt->coef_;
  c->level   = rt->level_;
  c->pattern = 0;
  c->weight  = rt->w ? rt->w[r] : 1.0;
  for (PetscInt t = 0; t < ntraits; t++)
    if (!PetscIsNanReal(yr[t])) c->pattern |= (uint32_t)1 << t;
  PetscCall(RecordTermsResidualInverse(rt, c->pattern, &c->rinv));
  for (PetscInt t = 0; t < ntraits; t++) { /* R^-1 y, weighted */
    c->ry[t] = 0;
    for (PetscInt j = 0; j < ntraits; j++)
      if (c->pattern >> j & 1) c->ry[t] += c->rinv[t * ntraits + j] * yr[j];
    c->ry[t] *= c->weight;
  }
  for (PetscInt k = 0; k < rt->neffects; k++) {
    const PetscInt         e      = SlotEffectOrder(rt, k);
    const EquationsEffect *layout = rt->layout[e];
    const EquationsBlock  *block  = rt->block[e];
    PetscInt               l = rt->level[e] ? rt->level[e][r] : 0, ncoef = layout->ncoef, first = -1;
    PetscReal              phi[32];
    if (e == rt->social) { /* the mates' effects, each times (1/(n-1))^dilution; the known mates first, so
                              that a record's slots in use come before its padding */
      const PetscInt *mates = rt->mates + rt->mate_offset[r], nmates = rt->mate_offset[r + 1] - rt->mate_offset[r];
      PetscReal       coef = nmates ? PetscPowReal(1.0 / nmates, rt->dilution) : 1.0;
      for (PetscInt m = 0, j = 0; m < rt->max_mates; m++) {
        PetscInt mate = -1;
        while (j < nmates && mate < 0) mate = mates[j++];
        first = mate >= 0 ? block->offset + (block->start ? block->start[mate] : mate * block->size) : -1;
        for (PetscInt i = 0; i < layout->ntraits; i++, s++) {
          PetscInt q = -1;
          if (mate >= 0 && (c->pattern >> rt->trait[s] & 1)) q = EquationsBlockEquation(block, mate, layout->slot + i);
          c->eq[s]    = q;
          c->first[s] = first;
          c->coef[s]  = coef;
          c->level[s] = mate;
        }
      }
      continue;
    }
    if (l >= 0) {
      Coefficients(rt->model_effect[e], rt->value[e], r, rt->centre[e], rt->scale[e], rt->range[e], phi);
      first = block->offset + (block->start ? block->start[l] : l * block->size);
    }
    for (PetscInt i = 0; i < layout->ntraits; i++)
      for (PetscInt k = 0; k < ncoef; k++, s++) {
        PetscInt q = -1;
        if (l >= 0 && (c->pattern >> rt->trait[s] & 1) && phi[k] != 0) q = EquationsBlockEquation(block, l, layout->slot + i * ncoef + k);
        c->eq[s]    = q;
        c->first[s] = first;
        c->coef[s]  = q >= 0 ? phi[k] : 0;
        c->level[s] = l;
      }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}
