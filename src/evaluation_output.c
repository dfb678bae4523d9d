/* What the evaluation writes into its HDF5 output (output.h): solutions, accuracies, total breeding values,
   and the attributes of the data, pedigree and solver. */
#include "evaluationimpl.h"
#include <string.h>

/* "A,B" from the names of the traits in TRAITS (all model traits when NULL). */
PetscErrorCode EvaluationTraitList(Model model, PetscInt ntraits, const PetscInt traits[], char list[], size_t size)
{
  PetscFunctionBeginUser;
  list[0] = 0;
  for (PetscInt i = 0; i < ntraits; i++) {
    const char *name;
    PetscCall(ModelGetTrait(model, traits ? traits[i] : i, &name, NULL));
    if (i) PetscCall(HendersonStrlcat(list, ",", size));
    PetscCall(HendersonStrlcat(list, name, size));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The columns of value: every trait of the model, times the coefficients. */
PetscErrorCode EvaluationColumnList(Model model, PetscInt ncoef, char list[], size_t size)
{
  PetscInt ntraits;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumTraits(model, &ntraits));
  list[0] = 0;
  for (PetscInt t = 0; t < ntraits; t++) {
    const char *name;
    PetscCall(ModelGetTrait(model, t, &name, NULL));
    for (PetscInt c = 0; c < ncoef; c++) {
      char column[MODEL_MAX_NAME + 16];
      if (ncoef > 1)
        snprintf(column, sizeof(column), "%s%s:%d", t || c ? "," : "", name, (int)c);
      else
        snprintf(column, sizeof(column), "%s%s", t ? "," : "", name);
      PetscCall(HendersonStrlcat(list, column, size));
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* This rank's rows of the output of effect E (or, with GROUPS, of its unknown-parent groups): a
   column per trait of the model and coefficient, 0 where the effect has no equation. */
PetscErrorCode EvaluationEffectValues(Evaluation ev, PetscInt e, PetscBool groups, const PetscScalar *x, PetscInt rstart, PetscInt rend, PetscInt *lo,
                                      PetscInt *hi, PetscReal **values)
{
  const ModelEffect     *effect;
  const EquationsEffect *layout;
  const EquationsBlock  *block;
  PetscInt               ntraits, n, ncoef, columns;

  PetscFunctionBeginUser;
  PetscCall(ModelGetEffect(ev->model, e, &effect));
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(EquationsGetEffect(ev->equations, e, &layout));
  PetscCall(EquationsGetBlock(ev->equations, groups ? layout->group_block : layout->block, &block));
  PetscCall(EquationsGetSize(ev->equations, &n));
  ncoef   = layout->ncoef;
  columns = ntraits * ncoef;
  PetscCall(EvaluationBlockLocalLevels(ev, block, rstart, rend, lo, hi));
  PetscCall(PetscCalloc1((*hi - *lo) * columns + 1, values));
  for (PetscInt l = *lo; l < *hi; l++)
    for (PetscInt t = 0; t < ntraits; t++) {
      PetscInt i = ModelEffectTraitPosition(effect, t);
      if (i < 0) continue;
      for (PetscInt c = 0; c < ncoef; c++) {
        PetscInt q = EquationsBlockEquation(block, l, layout->slot + i * ncoef + c);
        if (q >= 0) (*values)[(l - *lo) * columns + t * ncoef + c] = PetscRealPart(x[q - rstart]);
      }
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* /data: per trait its values, mean, SD, smallest and largest (arrays over the traits); /data/NAME per
   class effect: levels, levels with records, records, records per level (smallest, median, largest) and,
   for a pedigree effect, the records whose animal is not in the pedigree; /warnings at the root. */
static PetscErrorCode WriteDataStats(Evaluation ev, Output output)
{
  PetscInt     ntraits, neffects;
  RecordsStats st;
  PetscInt     values[MODEL_MAX_TRAITS];

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  PetscCall(RecordsGetStats(ev->records, &st));
  for (PetscInt t = 0; t < ntraits; t++) values[t] = (PetscInt)st.values[t];
  PetscCall(OutputSetAttributeArray(output, "/data", "trait_values", OUTPUT_INT, ntraits, values));
  PetscCall(OutputSetAttributeArray(output, "/data", "trait_mean", OUTPUT_REAL, ntraits, st.mean));
  PetscCall(OutputSetAttributeArray(output, "/data", "trait_sd", OUTPUT_REAL, ntraits, st.sd));
  PetscCall(OutputSetAttributeArray(output, "/data", "trait_min", OUTPUT_REAL, ntraits, st.min));
  PetscCall(OutputSetAttributeArray(output, "/data", "trait_max", OUTPUT_REAL, ntraits, st.max));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect *effect;
    RecordsLevelStats  ls;
    PetscBool          has;
    char               group[MODEL_MAX_NAME + 8];
    PetscInt64         v;
    PetscCall(ModelGetEffect(ev->model, e, &effect));
    PetscCall(RecordsGetLevelStats(ev->records, e, &has, &ls));
    if (!has) continue;
    snprintf(group, sizeof(group), "/data/%s", effect->name);
    v = ls.levels;
    PetscCall(OutputSetAttribute(output, group, "levels", OUTPUT_INT, &v));
    v = ls.levels_with_records;
    PetscCall(OutputSetAttribute(output, group, "levels_with_records", OUTPUT_INT, &v));
    PetscCall(OutputSetAttribute(output, group, "records", OUTPUT_INT, &ls.records));
    PetscCall(OutputSetAttribute(output, group, "records_per_level_min", OUTPUT_INT, &ls.smallest));
    PetscCall(OutputSetAttribute(output, group, "records_per_level_median", OUTPUT_REAL, &ls.median));
    PetscCall(OutputSetAttribute(output, group, "records_per_level_max", OUTPUT_INT, &ls.largest));
    if (ModelEffectIsAnimal(effect)) PetscCall(OutputSetAttribute(output, group, "records_not_in_pedigree", OUTPUT_INT, &ls.not_in_pedigree));
  }
  {
    char  *all;
    size_t length = 1;
    for (PetscInt k = 0; k < PetscMin(ev->nwarnings, EVALUATION_MAX_WARNINGS); k++) length += strlen(ev->warnings[k]) + 1;
    PetscCall(PetscCalloc1(length, &all));
    for (PetscInt k = 0; k < PetscMin(ev->nwarnings, EVALUATION_MAX_WARNINGS); k++) {
      if (k) PetscCall(HendersonStrlcat(all, "\n", length));
      PetscCall(HendersonStrlcat(all, ev->warnings[k], length));
    }
    PetscCall(OutputSetAttribute(output, "/", "warnings", OUTPUT_STRING, all));
    PetscCall(PetscFree(all));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Covariates in the equations are (x - centre) / scale: back to raw units. A plain covariate's b centre /
   scale goes to the effect that absorbs the mean of each trait (estimable functions do not change). */
static PetscErrorCode RawUnits(Evaluation ev, PetscReal *values[], const PetscInt lo[], const PetscInt hi[])
{
  PetscInt  neffects, ntraits;
  PetscReal shift[MODEL_MAX_TRAITS] = {0};

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect *effect;
    PetscReal          centre, scale, local[MODEL_MAX_TRAITS] = {0};
    PetscCall(ModelGetEffect(ev->model, e, &effect));
    if (effect->kind != MODEL_EFFECT_COVARIATE || effect->legendre >= 0) continue;
    PetscCall(RecordsGetCovariateScaling(ev->records, e, &centre, &scale));
    for (PetscInt l = 0; l < hi[e] - lo[e]; l++)
      for (PetscInt t = 0; t < ntraits; t++) {
        if (!effect->nested) local[t] += values[e][l * ntraits + t] * centre / scale;
        values[e][l * ntraits + t] /= scale;
      }
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, local, (PetscMPIInt)ntraits, MPIU_REAL, MPI_SUM, ev->comm));
    for (PetscInt t = 0; t < ntraits; t++) shift[t] += local[t];
  }
  for (PetscInt t = 0; t < ntraits; t++) {
    PetscInt               m, i;
    const EquationsEffect *layout;
    const EquationsBlock  *block;
    if (!shift[t]) continue;
    PetscCall(EvaluationMeanEffect(ev, t, &m, &layout, &block, &i));
    if (m < 0) continue;
    for (PetscInt l = lo[m]; l < hi[m]; l++)
      if (EquationsBlockEquation(block, l, i) >= 0) values[m][(l - lo[m]) * ntraits + t] -= shift[t];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* What OUT says of effect E whatever its values: names, kind, traits and columns, constraints, G0. */
static PetscErrorCode EffectDescription(Evaluation ev, PetscInt e, OutputEffect *out, char traits[], size_t ntraits_size, char columns[], size_t ncolumns_size,
                                        PetscInt constrained[])
{
  const ModelEffect     *effect;
  const EquationsEffect *layout;
  PetscInt               ntraits;

  PetscFunctionBeginUser;
  PetscCall(ModelGetEffect(ev->model, e, &effect));
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(EquationsGetEffect(ev->equations, e, &layout));
  PetscCall(EvaluationTraitList(ev->model, effect->ntraits, effect->traits, traits, ntraits_size));
  PetscCall(EvaluationColumnList(ev->model, layout->ncoef, columns, ncolumns_size));
  for (PetscInt t = 0; t < ntraits; t++) {
    PetscInt i     = ModelEffectTraitPosition(effect, t);
    constrained[t] = -1;
    if (i >= 0 && effect->kind == MODEL_EFFECT_FIXED) PetscCall(EquationsGetConstrainedLevel(ev->equations, e, i, &constrained[t]));
  }
  out->name      = effect->name;
  out->kind      = ModelEffectKindNames[effect->kind];
  out->structure = ModelStructureNames[effect->structure];
  out->ncolumns  = ntraits * layout->ncoef;
  out->traits    = traits;
  out->columns   = columns;
  out->covariate = effect->covariate;
  out->legendre  = effect->legendre;
  if (effect->covariate[0]) PetscCall(RecordsGetLegendreRange(ev->records, e, out->range));
  if (effect->kind == MODEL_EFFECT_FIXED) {
    out->nconstrained = ntraits;
    out->constrained  = constrained;
  }
  if (effect->kind == MODEL_EFFECT_RANDOM) {
    const ModelGroup *group;
    PetscCall(ModelGetGroup(ev->model, effect->group, &group));
    out->ncovariance = group->dim * group->dim;
    out->covariance  = group->covariance;
    if (ev->pev_block && group->first == e && group->dim > 1) {
      out->pev_block = ev->pev_block[effect->group];
      out->block_dim = group->dim;
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. /solutions/NAME of effect E: its VALUES (rows LO..HI-1), labels, inbreeding, accuracies. */
static PetscErrorCode WriteEffect(Evaluation ev, Output output, PetscInt e, PetscReal values[], PetscInt lo, PetscInt hi)
{
  const ModelEffect *effect;
  OutputEffect       out = {0};
  char               traits[4096], columns[8192];
  PetscInt           constrained[MODEL_MAX_TRAITS], rstart, rend;
  LabelTable         covariate_label = NULL;
  PetscReal         *pev = NULL, *sep = NULL, *reliability = NULL;

  PetscFunctionBeginUser;
  PetscCall(ModelGetEffect(ev->model, e, &effect));
  PetscCall(VecGetOwnershipRange(ev->x, &rstart, &rend));
  PetscCall(EffectDescription(ev, e, &out, traits, sizeof(traits), columns, sizeof(columns), constrained));
  if (ModelEffectIsAnimal(effect)) PetscCall(PedigreeGetLocalLabels(ev->pedigree, &out.local_labels));
  PetscCall(RecordsGetLevels(ev->records, e, &out.nlevels, out.local_labels ? NULL : &out.labels)); /* each rank has its animals' IDs */
  if (ev->rank == 0 && !out.labels && !out.local_labels) {                                          /* a plain covariate: one level, its name */
    PetscCall(LabelTableCreate(&covariate_label));
    PetscCall(LabelTableInsert(covariate_label, effect->name, strlen(effect->name), NULL, NULL));
    out.labels = covariate_label;
  }
  out.level_start = lo;
  out.level_count = hi - lo;
  out.values      = values;
  if (ModelEffectIsAnimal(effect)) { /* the animals as the relationship distributed the pedigree */
    PetscCall(PedigreeGetLocal(ev->pedigree, &out.inbreeding_start, &out.inbreeding_count, NULL, NULL, NULL, &out.inbreeding));
    PetscCall(PedigreeGetLocalLines(ev->pedigree, &out.pedigree_line));
    PetscCall(PedigreeGetLocalAncestry(ev->pedigree, &out.ancestry));
  }
  if (ev->pev) PetscCall(EvaluationEffectAccuracy(ev, e, PETSC_FALSE, rstart, rend, &pev, &sep, &reliability));
  out.pev         = pev;
  out.sep         = sep;
  out.reliability = reliability;
  PetscCall(OutputWriteEffect(output, &out));
  PetscCall(PetscFree(pev));
  PetscCall(PetscFree(sep));
  PetscCall(PetscFree(reliability));
  PetscCall(LabelTableDestroy(&covariate_label));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. /solutions/NAME_groups: the unknown-parent groups of pedigree effect E. */
static PetscErrorCode WriteGroups(Evaluation ev, Output output, PetscInt e, const PetscScalar *x)
{
  const ModelEffect *effect;
  OutputEffect       out = {0};
  char               traits[4096], columns[8192], name[MODEL_MAX_NAME + 16];
  PetscInt           constrained[MODEL_MAX_TRAITS], rstart, rend, glo, ghi;
  PetscReal         *values, *pev = NULL, *sep = NULL, *reliability = NULL;

  PetscFunctionBeginUser;
  PetscCall(ModelGetEffect(ev->model, e, &effect));
  PetscCall(VecGetOwnershipRange(ev->x, &rstart, &rend));
  PetscCall(EffectDescription(ev, e, &out, traits, sizeof(traits), columns, sizeof(columns), constrained));
  PetscCall(EvaluationEffectValues(ev, e, PETSC_TRUE, x, rstart, rend, &glo, &ghi, &values));
  snprintf(name, sizeof(name), "%s_groups", effect->name);
  out.name      = name;
  out.kind      = "groups";
  out.pev_block = NULL;
  PetscCall(PedigreeGetGroupLabels(ev->pedigree, &out.labels));
  if (ev->rank) out.labels = NULL;
  PetscCall(LabelTableGetSize(out.labels ? out.labels : NULL, &out.nlevels));
  PetscCallMPI(MPI_Bcast(&out.nlevels, 1, MPIU_INT, 0, ev->comm));
  out.level_start = glo;
  out.level_count = ghi - glo;
  out.values      = values;
  if (ev->pev) PetscCall(EvaluationEffectAccuracy(ev, e, PETSC_TRUE, rstart, rend, &pev, &sep, &reliability));
  out.pev = pev;
  out.sep = sep;
  PetscCall(OutputWriteEffect(output, &out));
  PetscCall(PetscFree(pev));
  PetscCall(PetscFree(sep));
  PetscCall(PetscFree(reliability));
  PetscCall(PetscFree(values));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. /solutions: every effect, the unknown-parent groups, the total breeding value, the random
   regressions over -rr_range. */
static PetscErrorCode WriteSolutions(Evaluation ev, Output output)
{
  PetscInt           neffects, rstart, rend, *lo, *hi;
  const PetscScalar *x;
  PetscReal        **values;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  PetscCall(VecGetOwnershipRange(ev->x, &rstart, &rend));
  PetscCall(VecGetArrayRead(ev->x, &x));
  ev->pev_clipped = 0;
  PetscCall(PetscCalloc3(neffects, &values, neffects, &lo, neffects, &hi));
  for (PetscInt e = 0; e < neffects; e++) PetscCall(EvaluationEffectValues(ev, e, PETSC_FALSE, x, rstart, rend, &lo[e], &hi[e], &values[e]));
  PetscCall(RawUnits(ev, values, lo, hi));
  for (PetscInt e = 0; e < neffects; e++) {
    const EquationsEffect *layout;
    PetscCall(WriteEffect(ev, output, e, values[e], lo[e], hi[e]));
    PetscCall(EquationsGetEffect(ev->equations, e, &layout));
    if (layout->group_block >= 0) PetscCall(WriteGroups(ev, output, e, x));
  }
  PetscCall(EvaluationWriteTotalBreedingValue(ev, output, values, lo, hi));
  PetscCall(EvaluationWriteRangeFunctions(ev, output, values, lo, hi));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &ev->pev_clipped, 1, MPIU_INT, MPI_SUM, ev->comm));
  if (ev->pev_clipped && ev->pev_method == PEV_METHOD_APPROXIMATE)
    PetscCall(EvaluationWarn(ev, "%" PetscInt_FMT " approximate PEV exceeded their prior variance: set to it, reliability 0", ev->pev_clipped));
  else if (ev->pev_clipped)
    PetscCall(EvaluationWarn(ev,
                             "%" PetscInt_FMT " sampled PEV exceeded their prior variance (sampling error, %.0f %% with %" PetscInt_FMT
                             " samples): set to it, reliability 0 (more samples: -pev_samples)",
                             ev->pev_clipped, 100 * (double)PetscSqrtReal(2.0 / ev->pev_samples), ev->pev_samples));
  PetscCall(VecRestoreArrayRead(ev->x, &x));
  for (PetscInt e = 0; e < neffects; e++) PetscCall(PetscFree(values[e]));
  PetscCall(PetscFree3(values, lo, hi));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. The root's attributes: what wrote the file, from what model. */
static PetscErrorCode WriteProvenance(Evaluation ev, Output output)
{
  const PetscReal *R0;
  const char      *text, *path;
  char             traits[4096];
  PetscInt         ntraits;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(ModelGetText(ev->model, &text));
  PetscCall(ModelGetPath(ev->model, &path));
  PetscCall(EvaluationTraitList(ev->model, ntraits, NULL, traits, sizeof(traits)));
  PetscCall(ModelGetResidual(ev->model, &R0));
  PetscCall(OutputSetAttribute(output, "/", "program", OUTPUT_STRING, "henderson"));
  PetscCall(OutputSetAttribute(output, "/", "version", OUTPUT_STRING, HendersonVersion()));
  PetscCall(OutputSetAttribute(output, "/", "model_path", OUTPUT_STRING, path));
  PetscCall(OutputSetAttribute(output, "/", "model", OUTPUT_STRING, text));
  PetscCall(OutputSetAttribute(output, "/", "trait", OUTPUT_STRING, traits));
  PetscCall(OutputSetAttribute(output, "/", "traits", OUTPUT_STRING, traits));
  if (ntraits == 1) PetscCall(OutputSetAttribute(output, "/", "residual_variance", OUTPUT_REAL, &R0[0]));
  PetscCall(OutputSetAttributeArray(output, "/", "residual_covariance", OUTPUT_REAL, ntraits * ntraits, R0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Integer attributes of GROUP, by name. */
typedef struct {
  const char *name;
  PetscInt64  value;
} NamedInt;

static PetscErrorCode SetInts(Output output, const char group[], size_t n, const NamedInt v[])
{
  PetscFunctionBeginUser;
  for (size_t k = 0; k < n; k++) PetscCall(OutputSetAttribute(output, group, v[k].name, OUTPUT_INT, &v[k].value));
  PetscFunctionReturn(PETSC_SUCCESS);
}
#define SET_INTS(output, group, v) SetInts(output, group, sizeof(v) / sizeof(v[0]), v)

/* Collective. /data: the records read and used, per trait and effect (WriteDataStats()), social groups. */
static PetscErrorCode WriteDataAttributes(Evaluation ev, Output output)
{
  RecordsStats s;
  const char  *path;
  PetscInt     social;

  PetscFunctionBeginUser;
  PetscCall(RecordsGetStats(ev->records, &s));
  PetscCall(ModelGetDataPath(ev->model, &path));
  PetscCall(OutputSetAttribute(output, "/data", "path", OUTPUT_STRING, path));
  {
    const NamedInt v[] = {{"lines", s.lines},
                          {"records_used", s.used},
                          {"records_skipped_missing_trait", s.missing_trait},
                          {"records_skipped_missing_covariate", s.missing_covariate}};
    PetscCall(SET_INTS(output, "/data", v));
  }
  PetscCall(WriteDataStats(ev, output));
  PetscCall(ModelGetSocialEffect(ev->model, &social, NULL));
  if (social >= 0) {
    const NamedInt v[] = {{"social_groups", s.social_groups},
                          {"social_members", s.social_members},
                          {"social_members_without_record", s.social_without_record},
                          {"social_members_without_id", s.social_unknown_animal},
                          {"social_members_not_in_pedigree", s.social_not_in_pedigree},
                          {"social_records_without_group", s.social_no_group},
                          {"social_groups_of_one", s.social_alone},
                          {"social_group_size_min", s.social_min},
                          {"social_group_size_max", s.social_max}};
    PetscCall(SET_INTS(output, "/data", v));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. /pedigree: the animals and their inbreeding. */
static PetscErrorCode WritePedigreeAttributes(Evaluation ev, Output output)
{
  PedigreeStats s;
  const char   *path;

  PetscFunctionBeginUser;
  PetscCall(ModelGetPedigreePath(ev->model, &path));
  if (!ev->pedigree || !path) PetscFunctionReturn(PETSC_SUCCESS); /* GBLUP: the genotyped animals alone, /genomic */
  PetscCall(PedigreeGetStats(ev->pedigree, &s));
  PetscCall(OutputSetAttribute(output, "/pedigree", "path", OUTPUT_STRING, path));
  {
    const NamedInt v[] = {{"animals", s.animals},
                          {"listed", s.listed},
                          {"parents_added", s.parents_added},
                          {"data_added", s.data_added},
                          {"founders", s.founders},
                          {"generations", s.generations},
                          {"inbred", s.inbred},
                          {"groups", s.groups},
                          {"header", s.header},
                          {"mendelian_floored", s.mendelian_floored},
                          {"inbreeding_reused", s.inbreeding_reused}};
    PetscCall(SET_INTS(output, "/pedigree", v));
  }
  if (s.header) PetscCall(OutputSetAttribute(output, "/pedigree", "header_line", OUTPUT_STRING, s.header_text));
  PetscCall(OutputSetAttribute(output, "/pedigree", "mean_inbreeding", OUTPUT_REAL, &s.mean_inbreeding));
  PetscCall(OutputSetAttribute(output, "/pedigree", "max_inbreeding", OUTPUT_REAL, &s.max_inbreeding));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. /solver: the operator, the solve, what it converged to, the seconds of every phase (the write
   phase timed up to here, from START). */
/* Collective. /genomic: the genotypes read, used and dropped by each rule, G against A22, the tuning, the
   APY core, and the allele frequencies used. */
static PetscErrorCode WriteGenomicAttributes(Evaluation ev, Output output)
{
  GenotypesStats        s;
  const ModelGenotypes *o;
  const PetscReal      *p;

  PetscFunctionBeginUser;
  if (!ev->genotypes) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(GenotypesGetStats(ev->genotypes, &s));
  PetscCall(ModelGetGenotypes(ev->model, &o));
  PetscCall(OutputSetAttribute(output, "/genomic", "path", OUTPUT_STRING, o->path));
  {
    const NamedInt v[] = {{"animals_read", s.animals_read},
                          {"animals_used", s.animals_used},
                          {"animals_dropped_callrate", s.animals_dropped_callrate},
                          {"animals_added", s.animals_added},
                          {"snps_read", s.snps_read},
                          {"snps_used", s.snps_used},
                          {"snps_dropped_callrate", s.snps_dropped_callrate},
                          {"snps_dropped_monomorphic", s.snps_dropped_monomorphic},
                          {"snps_dropped_maf", s.snps_dropped_maf},
                          {"apy_core", s.apy_core},
                          {"parent_conflicts", s.parent_conflicts},
                          {"plink", s.plink},
                          {"factored", s.factored},
                          {"single_precision", s.single}};
    PetscCall(SET_INTS(output, "/genomic", v));
  }
  {
    const struct {
      const char *name;
      PetscReal   value;
    } r[] = {{"scale", s.scale},
             {"mean_diag_g", s.mean_diag_g},
             {"mean_offdiag_g", s.mean_offdiag_g},
             {"mean_diag_a22", s.mean_diag_a22},
             {"mean_offdiag_a22", s.mean_offdiag_a22},
             {"correlation", s.correlation},
             {"tune_a", s.tune_a},
             {"tune_b", s.tune_b},
             {"blend", o->blend},
             {"gamma", o->gamma},
             {"tau", o->tau},
             {"omega", o->omega},
             {"maf", o->maf},
             {"callrate", o->callrate},
             {"animal_callrate", o->animal_callrate},
             {"logdet_g", s.logdet_g},
             {"logdet_a22", s.logdet_a22}};
    for (size_t k = 0; k < sizeof(r) / sizeof(r[0]); k++) PetscCall(OutputSetAttribute(output, "/genomic", r[k].name, OUTPUT_REAL, &r[k].value));
  }
  PetscCall(GenotypesGetFrequencies(ev->genotypes, &p));
  PetscCall(OutputWriteMatrix(output, "/genomic", "frequencies", (PetscInt)s.snps_used, 0, p));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteSolverAttributes(Evaluation ev, Output output, double start)
{
  MMEStats  m;
  PetscReal seconds[HENDERSON_NUM_PHASES], total = 0;

  PetscFunctionBeginUser;
  PetscCall(MMEGetStats(ev->mme, &m));
  {
    const NamedInt v[] = {{"iterations", ev->result.iterations},
                          {"converged", ev->result.converged},
                          {"equations", m.equations},
                          {"nonzeros", m.nonzeros},
                          {"ranks", ev->size},
                          {"operator_bytes", m.operator_bytes},
                          {"ghosts", m.ghosts},
                          {"ghosts_max", m.ghosts_max},
                          {"neighbours_max", m.neighbours_max},
                          {"messages", m.messages},
                          {"residual_replacements", ev->result.replacements},
                          {"rank_deficiency", ev->deficiency}};
    PetscCall(SET_INTS(output, "/solver", v));
  }
  if (ev->pev) {
    const NamedInt v[] = {{"pev_nullity", ev->pev_nullity}, {"pev_clipped", ev->pev_clipped}, {"pev_samples_not_converged", ev->pev_failed}};
    PetscCall(SetInts(output, "/solver", ev->pev_method == PEV_METHOD_SAMPLE ? 3 : 2, v));
    PetscCall(OutputSetAttribute(output, "/solver", "pev_method", OUTPUT_STRING, PEVMethods[ev->pev_method]));
    if (ev->pev_method == PEV_METHOD_APPROXIMATE) {
      const NamedInt a[] = {{"pev_rounds", ev->pev_approximate.rounds}, {"pev_factors", ev->pev_approximate.factors}};
      PetscCall(SetInts(output, "/solver", 2, a));
      PetscCall(OutputSetAttribute(output, "/solver", "pev_change", OUTPUT_REAL, &ev->pev_approximate.change));
    }
  }
  PetscCall(OutputSetAttribute(output, "/solver", "operator", OUTPUT_STRING, m.type));
  PetscCall(OutputSetAttribute(output, "/solver", "relative_residual", OUTPUT_REAL, &ev->result.relative_residual));
  PetscCall(OutputSetAttribute(output, "/solver", "rtol", OUTPUT_REAL, &ev->result.rtol));
  PetscCall(OutputSetAttribute(output, "/solver", "ksp_type", OUTPUT_STRING, ev->result.ksp_type));
  PetscCall(OutputSetAttribute(output, "/solver", "pc_type", OUTPUT_STRING, ev->result.pc_type));
  PetscCall(OutputSetAttribute(output, "/solver", "reason", OUTPUT_STRING, ev->result.reason));
  ev->seconds[HENDERSON_PHASE_WRITE] = (PetscReal)(HendersonSeconds() - start);
  PetscCall(EvaluationMaxOverRanks(ev, ev->seconds, seconds, HENDERSON_NUM_PHASES));
  for (int p = 0; p < HENDERSON_NUM_PHASES; p++) {
    char name[64];
    snprintf(name, sizeof(name), "seconds_%s", HendersonPhaseNames[p]);
    PetscCall(OutputSetAttribute(output, "/solver", name, OUTPUT_REAL, &seconds[p]));
    total += seconds[p];
  }
  PetscCall(OutputSetAttribute(output, "/solver", "seconds_total", OUTPUT_REAL, &total));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteContents(Evaluation ev, Output output, double start)
{
  PetscFunctionBeginUser;
  PetscCall(WriteSolutions(ev, output));
  PetscCall(WriteProvenance(ev, output));
  PetscCall(WriteDataAttributes(ev, output));
  PetscCall(WritePedigreeAttributes(ev, output));
  PetscCall(WriteGenomicAttributes(ev, output));
  PetscCall(WriteSolverAttributes(ev, output, start));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationWrite(Evaluation ev, const char output_path[])
{
  Output         output = NULL;
  const char    *path   = output_path;
  double         start;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  if (!path) PetscCall(ModelGetOutputPath(ev->model, &path));
  PetscCall(PetscStrncpy(ev->output_path, path, sizeof(ev->output_path)));
  PetscCall(EvaluationPhaseBegin(ev, HENDERSON_PHASE_WRITE, &start));
  ierr = OutputCreate(ev->comm, path, &output);
  if (!ierr) ierr = WriteContents(ev, output, start);
  if (!ierr && ev->write_hook) ierr = ev->write_hook(output, ev->write_context);
  ierr = HendersonAgree(ev->comm, ierr);
  if (!ierr) ierr = OutputCommit(output);
  /* a failed write leaves no file behind */
  PetscCall(OutputDestroy(&output));
  PetscCall(ierr);
  if (ev->solver_ready) PetscCall(SolverRemoveCheckpoint(ev->solver)); /* the solutions are safe: the checkpoint has served */
  ev->seconds[HENDERSON_PHASE_WRITE] = 0;
  PetscCall(EvaluationPhaseEnd(ev, HENDERSON_PHASE_WRITE, start));
  PetscFunctionReturn(PETSC_SUCCESS);
}
