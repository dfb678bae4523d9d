/* Linear functions of a random group's coefficients, written beside the effects: the total breeding
   value of a social model (direct + k social) and a random regression's value over a range of its
   covariate (a 305-day yield: the sum of phi(t)'u over the days t). Each is w'u per level and trait
   column, with pev w'Bw from the level's PEV block B (evaluation_pev.c), sep, and reliability
   1 - w'Bw / (K_ii w'G0w). */
#include "evaluationimpl.h"

/* Collective. For this rank's levels LO..HI-1 of random group G (levels of EFFECT, whose relationship
   gives K_ii) and NCOL columns with weights W[col * dim .. ] over the group's coefficients (a column
   whose weights are all 0 is left 0): pev, sep and reliability (PetscFree3()), or all NULL without PEV
   blocks. */
static PetscErrorCode GroupFunctionAccuracy(Evaluation ev, const ModelEffect *effect, PetscInt lo, PetscInt hi, PetscInt ncol, const PetscReal W[],
                                            PetscReal **pev, PetscReal **sep, PetscReal **reliability)
{
  const ModelGroup *group;
  PetscInt          dim, nl = hi - lo;
  PetscReal        *K = NULL;

  PetscFunctionBeginUser;
  *pev = *sep = *reliability = NULL;
  if (!ev->pev_block || !ev->pev_block[effect->group]) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetGroup(ev->model, effect->group, &group));
  dim = group->dim;
  PetscCall(RelationshipGetDiagonal(ev->rel[effect->group], lo, hi, &K));
  PetscCall(PetscCalloc3(nl * ncol + 1, pev, nl * ncol + 1, sep, nl * ncol + 1, reliability));
  for (PetscInt l = 0; l < nl; l++)
    for (PetscInt c = 0; c < ncol; c++) {
      const PetscReal *w = W + c * dim, *B = ev->pev_block[effect->group] + l * dim * dim, *G = group->covariance;
      PetscReal        wBw = 0, wGw = 0, norm = 0;
      PetscInt         at = l * ncol + c;
      for (PetscInt p = 0; p < dim; p++) {
        norm += PetscAbsReal(w[p]);
        for (PetscInt q = 0; q < dim; q++) {
          wBw += w[p] * B[p * dim + q] * w[q];
          wGw += w[p] * G[p * dim + q] * w[q];
        }
      }
      if (!norm) continue;
      wGw *= K ? K[l] : 1;
      if (wBw < 0 && wBw > -1e-12 * wGw) wBw = 0; /* rounding of an exact 0 */
      (*pev)[at] = wBw;
      (*sep)[at] = PetscSqrtReal(wBw);
      PetscCall(EvaluationReliability(ev, wGw, &(*pev)[at], &(*sep)[at], &(*reliability)[at]));
    }
  PetscCall(PetscFree(K));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. Writes /solutions/NAME: a function of random EFFECT's levels LO..LO+NL-1 with one column per
   trait of the model (TRAITS: the traits it is in), its values and accuracies, labelled like the effect. */
static PetscErrorCode WriteFunction(Evaluation ev, Output output, const char name[], const char kind[], const ModelEffect *effect, PetscInt e, PetscInt lo,
                                    PetscInt nl, const PetscReal values[], const PetscReal pev[], const PetscReal sep[], const PetscReal reliability[])
{
  OutputEffect out = {0};
  PetscInt     ntraits;
  char         traits[4096], columns[8192];

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(EvaluationTraitList(ev->model, effect->ntraits, effect->traits, traits, sizeof(traits)));
  PetscCall(EvaluationColumnList(ev->model, 1, columns, sizeof(columns)));
  out.name        = name;
  out.kind        = kind;
  out.structure   = ModelStructureNames[effect->structure];
  out.ncolumns    = ntraits;
  out.traits      = traits;
  out.columns     = columns;
  out.covariate   = "";
  out.legendre    = -1;
  out.level_start = lo;
  out.level_count = nl;
  out.values      = values;
  out.pev         = pev;
  out.sep         = sep;
  out.reliability = reliability;
  if (ModelEffectIsAnimal(effect)) {
    PetscCall(PedigreeGetLocal(ev->pedigree, &out.inbreeding_start, &out.inbreeding_count, NULL, NULL, NULL, &out.inbreeding));
    PetscCall(PedigreeGetLocalLabels(ev->pedigree, &out.local_labels));
  }
  PetscCall(RecordsGetLevels(ev->records, e, &out.nlevels, out.local_labels ? NULL : &out.labels)); /* each rank has its animals' IDs */
  PetscCall(OutputWriteEffect(output, &out));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. /solutions/tbv: the total breeding value direct + k social, k = (n-1)^(1-dilution) (what an
   animal adds to its own record and, through its social effect, to its n-1 mates'), for every animal and
   trait; with PEV its pev = PEV_d + k^2 PEV_s + 2k cov(d, s) (from the PEV blocks), sep and reliability
   1 - pev / (K_ii var), var = G0_dd + k^2 G0_ss + 2k G0_ds. */
PetscErrorCode EvaluationWriteTotalBreedingValue(Evaluation ev, Output output, PetscReal *const values[], const PetscInt lo[], const PetscInt hi[])
{
  PetscInt           social, direct, ntraits, nl, dim;
  const ModelEffect *es, *ed;
  const ModelGroup  *group;
  PetscReal          n, k, *total, *W, *pev, *sep, *reliability;

  PetscFunctionBeginUser;
  PetscCall(ModelGetSocialEffect(ev->model, &social, &direct));
  if (social < 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(ModelGetEffect(ev->model, social, &es));
  PetscCall(ModelGetEffect(ev->model, direct, &ed));
  PetscCall(ModelGetGroup(ev->model, es->group, &group));
  PetscCall(EvaluationSocialGroupSize(ev, &n));
  k   = PetscPowReal(n - 1, 1 - es->dilution);
  nl  = hi[social] - lo[social];
  dim = group->dim;
  PetscCheck(lo[social] == lo[direct] && hi[social] == hi[direct], PETSC_COMM_SELF, PETSC_ERR_PLIB, "direct and social levels differ");
  PetscCall(PetscCalloc2(nl * ntraits + 1, &total, ntraits * dim, &W));
  for (PetscInt l = 0; l < nl; l++)
    for (PetscInt t = 0; t < ntraits; t++) total[l * ntraits + t] = values[direct][l * ntraits + t] + k * values[social][l * ntraits + t];
  for (PetscInt t = 0; t < ntraits; t++) {
    PetscInt i = ModelEffectTraitPosition(es, t), j = ModelEffectTraitPosition(ed, t);
    if (i < 0 || j < 0) continue;
    W[t * dim + ed->position + j] = 1;
    W[t * dim + es->position + i] = k;
  }
  PetscCall(GroupFunctionAccuracy(ev, es, lo[social], hi[social], ntraits, W, &pev, &sep, &reliability));
  PetscCall(WriteFunction(ev, output, "tbv", "total", es, social, lo[social], nl, total, pev, sep, reliability));
  PetscCall(OutputSetAttribute(output, "/solutions/tbv", "group_size", OUTPUT_REAL, &n));
  PetscCall(OutputSetAttribute(output, "/solutions/tbv", "dilution", OUTPUT_REAL, &es->dilution));
  PetscCall(OutputSetAttribute(output, "/solutions/tbv", "social_coefficient", OUTPUT_REAL, &k));
  PetscCall(OutputSetAttribute(output, "/solutions/tbv", "direct", OUTPUT_STRING, ed->name));
  PetscCall(OutputSetAttribute(output, "/solutions/tbv", "social", OUTPUT_STRING, es->name));
  PetscCall(PetscFree2(total, W));
  PetscCall(PetscFree3(pev, sep, reliability));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The points of -rr_range A,B with -rr_step S: A, A + S, ..., up to B. */
static PetscInt RangePoints(Evaluation ev)
{
  return (PetscInt)PetscFloorReal((ev->rr_range[1] - ev->rr_range[0]) / ev->rr_step + 1e-9) + 1;
}

/* The sum of random regression E's normalized Legendre polynomials over the points of -rr_range
   (PHI[0..legendre]; the range lies in the covariate's interval: EvaluationCheckData()). */
static PetscErrorCode RangeWeights(Evaluation ev, PetscInt e, const ModelEffect *effect, PetscReal phi[])
{
  PetscReal range[2], at[MODEL_MAX_LEGENDRE + 1];
  PetscInt  n = RangePoints(ev);

  PetscFunctionBeginUser;
  PetscCall(RecordsGetLegendreRange(ev->records, e, range));
  for (PetscInt c = 0; c <= effect->legendre; c++) phi[c] = 0;
  for (PetscInt k = 0; k < n; k++) {
    PetscReal t = ev->rr_range[0] + k * ev->rr_step;
    RecordsLegendre(effect->legendre, PetscMin(1, PetscMax(-1, 2 * (t - range[0]) / (range[1] - range[0]) - 1)), at);
    for (PetscInt c = 0; c <= effect->legendre; c++) phi[c] += at[c];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. /solutions/NAME_range for random regression E: per level and trait sum_t phi(t)'u over the
   points t of -rr_range (the breeding value for a 305-day yield, say), with PEV and reliability from the
   level's PEV block. */
static PetscErrorCode WriteRangeFunction(Evaluation ev, Output output, PetscInt e, const PetscReal values[], PetscInt lo, PetscInt hi)
{
  const ModelEffect *effect;
  const ModelGroup  *group;
  PetscInt           ntraits, ncoef, nl = hi - lo, dim, npoints = RangePoints(ev);
  PetscReal          phi[MODEL_MAX_LEGENDRE + 1], *sum, *W, *pev, *sep, *reliability, interval[3];
  char               name[MODEL_MAX_NAME + 32];

  PetscFunctionBeginUser;
  PetscCall(ModelGetEffect(ev->model, e, &effect));
  PetscCall(ModelGetGroup(ev->model, effect->group, &group));
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(RangeWeights(ev, e, effect, phi));
  ncoef = effect->legendre + 1;
  dim   = group->dim;
  PetscCall(PetscCalloc2(nl * ntraits + 1, &sum, ntraits * dim, &W));
  for (PetscInt t = 0; t < ntraits; t++) {
    PetscInt i = ModelEffectTraitPosition(effect, t);
    if (i < 0) continue;
    for (PetscInt c = 0; c < ncoef; c++) W[t * dim + effect->position + i * ncoef + c] = phi[c];
    for (PetscInt l = 0; l < nl; l++)
      for (PetscInt c = 0; c < ncoef; c++) sum[l * ntraits + t] += phi[c] * values[l * ntraits * ncoef + t * ncoef + c];
  }
  PetscCall(GroupFunctionAccuracy(ev, effect, lo, hi, ntraits, W, &pev, &sep, &reliability));
  snprintf(name, sizeof(name), "%s_range", effect->name);
  PetscCall(WriteFunction(ev, output, name, "range", effect, e, lo, nl, sum, pev, sep, reliability));
  snprintf(name, sizeof(name), "/solutions/%s_range", effect->name);
  interval[0] = ev->rr_range[0];
  interval[1] = ev->rr_range[1];
  interval[2] = ev->rr_step;
  PetscCall(OutputSetAttributeArray(output, name, "range", OUTPUT_REAL, 3, interval));
  PetscCall(OutputSetAttribute(output, name, "points", OUTPUT_INT, &(PetscInt64){npoints}));
  PetscCall(OutputSetAttributeArray(output, name, "weights", OUTPUT_REAL, ncoef, phi));
  PetscCall(OutputSetAttribute(output, name, "effect", OUTPUT_STRING, effect->name));
  PetscCall(
      OutputSetAttribute(output, name, "function", OUTPUT_STRING,
                         "sum over t = range[0], range[0] + range[2], ..., range[1] of phi(t)'u: weights'u, weights the sum of the effect's polynomials"));
  PetscCall(PetscFree2(sum, W));
  PetscCall(PetscFree3(pev, sep, reliability));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. With -rr_range, /solutions/NAME_range for every random regression. */
PetscErrorCode EvaluationWriteRangeFunctions(Evaluation ev, Output output, PetscReal *const values[], const PetscInt lo[], const PetscInt hi[])
{
  PetscInt neffects;

  PetscFunctionBeginUser;
  if (!ev->rr_range_set) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect *effect;
    PetscCall(ModelGetEffect(ev->model, e, &effect));
    if (effect->kind == MODEL_EFFECT_RANDOM && effect->legendre >= 0) PetscCall(WriteRangeFunction(ev, output, e, values[e], lo[e], hi[e]));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}
