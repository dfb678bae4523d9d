/* What the evaluation checks before and between its stages: the paths it writes, the options against the
   model, the data, the estimability of the fixed effects; and its warnings. */
#include "evaluationimpl.h"
#include <stdarg.h>
#include <string.h>

/* The checkpoint file: -checkpoint_file, or the output's name with .checkpoint.h5 for .h5. */
PetscErrorCode EvaluationCheckpointPath(Evaluation ev, char path[], size_t size)
{
  const char *output;
  size_t      length;

  PetscFunctionBeginUser;
  if (ev->checkpoint_option[0]) {
    PetscCall(PetscStrncpy(path, ev->checkpoint_option, size));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(ModelGetOutputPath(ev->model, &output));
  length = strlen(output);
  if (length > 3 && !strcmp(output + length - 3, ".h5")) length -= 3;
  PetscCheck(length + 16 < size, ev->comm, PETSC_ERR_USER_INPUT, "%s: path too long", output);
  snprintf(path, size, "%.*s.checkpoint.h5", (int)length, output);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* PATH may hold nothing or a file of the kind WANTED (which this run replaces); anything else is an error. */
static PetscErrorCode CheckEarlierFile(const char path[], const char what[], OutputFileKind wanted, OutputFileKind *kind)
{
  PetscFunctionBeginUser;
  PetscCall(OutputGetFileKind(path, kind));
  PetscCheck(*kind == OUTPUT_FILE_NONE || *kind == wanted, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "%s: the %s exists and is not %s; it is left alone (remove it, or name another file)", path, what,
             wanted == OUTPUT_FILE_SOLUTIONS ? "an output of henderson" : "a checkpoint of henderson");
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: no file the run writes -- the output, the checkpoint -- may be one it reads, by any name or
   link; what is at the output path must be an earlier output of henderson (replaced), and what is at
   the checkpoint path a henderson checkpoint; else the run stops before any work, and touches nothing. */
static PetscErrorCode CheckPathsRoot(Evaluation ev, PetscBool checkpointing)
{
  const char *model, *data, *pedigree, *output, *inputs[5], *names[5] = {"model file", "data file", "pedigree file", "genotypes file", "--initial file"};
  const ModelGenotypes *genotypes;
  OutputFileKind        kind;

  PetscFunctionBeginUser;
  PetscCall(ModelGetPath(ev->model, &model));
  PetscCall(ModelGetDataPath(ev->model, &data));
  PetscCall(ModelGetPedigreePath(ev->model, &pedigree));
  PetscCall(ModelGetOutputPath(ev->model, &output));
  PetscCall(ModelGetGenotypes(ev->model, &genotypes));
  inputs[0] = model;
  inputs[1] = data;
  inputs[2] = pedigree;
  inputs[3] = genotypes->line ? genotypes->path : NULL;
  inputs[4] = ev->initial_option[0] ? ev->initial_option : NULL;
  if (inputs[4]) PetscCall(HendersonCheckRegular(inputs[4], "the --initial file"));
  for (int k = 0; k < 4; k++) /* the output may be the --initial file: last month's solutions, replaced by this month's */
    PetscCheck(!HendersonSameFile(output, inputs[k]), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s: the output %s is the %s %s; it would be overwritten (name another output)", model, output, names[k], inputs[k]);
  PetscCall(CheckEarlierFile(output, "output", OUTPUT_FILE_SOLUTIONS, &kind));
  ev->output_replaced = kind == OUTPUT_FILE_SOLUTIONS ? PETSC_TRUE : PETSC_FALSE;
  if (!checkpointing) PetscFunctionReturn(PETSC_SUCCESS);
  for (int k = 0; k < 5; k++)
    PetscCheck(!HendersonSameFile(ev->checkpoint_path, inputs[k]), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "-checkpoint_file %s is the %s %s; it would be overwritten and removed (name another file)", ev->checkpoint_path, names[k], inputs[k]);
  PetscCheck(!HendersonSameFile(ev->checkpoint_path, output), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "-checkpoint_file %s is the output file (name another file)", ev->checkpoint_path);
  PetscCall(CheckEarlierFile(ev->checkpoint_path, "checkpoint file", OUTPUT_FILE_CHECKPOINT, &kind));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationCheckOutputPath(Evaluation ev, const char path[], const char what[])
{
  const char    *paths[5], *names[5] = {"model file", "data file", "pedigree file", "output", "checkpoint file"};
  PetscErrorCode ierr = PETSC_SUCCESS;
  PetscBool      checkpointing;

  PetscFunctionBeginUser;
  PetscCall(SolverIsCheckpointing(ev->solver, &checkpointing));
  PetscCall(ModelGetPath(ev->model, &paths[0]));
  PetscCall(ModelGetDataPath(ev->model, &paths[1]));
  PetscCall(ModelGetPedigreePath(ev->model, &paths[2]));
  PetscCall(ModelGetOutputPath(ev->model, &paths[3]));
  paths[4] = checkpointing || ev->restart ? ev->checkpoint_path : NULL;
  if (ev->rank == 0)
    for (int k = 0; k < 5 && !ierr; k++)
      if (HendersonSameFile(path, paths[k]))
        ierr = PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, PETSC_ERR_USER_INPUT, PETSC_ERROR_INITIAL,
                          "%s: the %s is the %s %s; it would be overwritten", path, what, names[k], paths[k]);
  PetscCall(HendersonAgree(ev->comm, ierr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* -rr_range: the model has random regressions, and (with DATA, once the covariates' intervals are known)
   the range lies in each one's interval, on which its polynomials are fitted: they do not extrapolate. */
static PetscErrorCode CheckRange(Evaluation ev, PetscBool data)
{
  PetscInt  neffects;
  PetscBool found = PETSC_FALSE;

  PetscFunctionBeginUser;
  if (!ev->rr_range_set) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect *effect;
    PetscReal          range[2], slack;
    PetscCall(ModelGetEffect(ev->model, e, &effect));
    if (effect->kind != MODEL_EFFECT_RANDOM || effect->legendre < 0) continue;
    found = PETSC_TRUE;
    if (!data) continue;
    PetscCall(RecordsGetLegendreRange(ev->records, e, range));
    slack = 1e-9 * (range[1] - range[0]);
    if (ev->rr_range[0] < range[0] - slack || ev->rr_range[1] > range[1] + slack) {
      char numbers[128]; /* printf's %g, not PETSc's (which writes 1. for 1) */
      snprintf(numbers, sizeof(numbers), "%g,%g leaves the interval [%g, %g]", (double)ev->rr_range[0], (double)ev->rr_range[1], (double)range[0],
               (double)range[1]);
      SETERRQ(ev->comm, PETSC_ERR_USER_INPUT, "-rr_range %s of covariate '%s' on which the Legendre polynomials of random regression '%s' are fitted", numbers,
              effect->covariate, effect->name);
    }
  }
  PetscCheck(found, ev->comm, PETSC_ERR_USER_INPUT, "-rr_range: the model has no random regression (random ... legendre COVARIATE ORDER)");
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* What the options mean for this model, checked before any work: -order_by names one of its class
   effects, -rr_range goes with random regressions, and the files it writes are none of those it reads. */
PetscErrorCode EvaluationCheckOptions(Evaluation ev)
{
  PetscErrorCode ierr = PETSC_SUCCESS;
  PetscBool      checkpointing;

  PetscFunctionBeginUser;
  if (ev->social_group_size > 0) PetscCall(ModelSetSocialSize(ev->model, ev->social_group_size));
  if (strcmp(ev->order_by, "auto") && strcmp(ev->order_by, "none")) {
    PetscInt  neffects;
    PetscBool found = PETSC_FALSE;
    PetscCall(ModelGetNumEffects(ev->model, &neffects));
    for (PetscInt e = 0; e < neffects; e++) {
      const ModelEffect *effect;
      PetscCall(ModelGetEffect(ev->model, e, &effect));
      if (!strcmp(effect->name, ev->order_by) && effect->kind != MODEL_EFFECT_COVARIATE && !ModelEffectIsAnimal(effect) && effect->column[0])
        found = PETSC_TRUE;
    }
    PetscCheck(found, ev->comm, PETSC_ERR_USER_INPUT,
               "-order_by %s: the model has no class effect of that name (a fixed or iid random effect; or auto, or none)", ev->order_by);
  }
  PetscCall(CheckRange(ev, PETSC_FALSE));
  PetscCall(EvaluationCheckpointPath(ev, ev->checkpoint_path, sizeof(ev->checkpoint_path)));
  PetscCall(SolverIsCheckpointing(ev->solver, &checkpointing));
  if (ev->rank == 0) ierr = CheckPathsRoot(ev, (PetscBool)(checkpointing || ev->restart));
  PetscCall(HendersonAgree(ev->comm, ierr));
  PetscCallMPI(MPI_Bcast(&ev->output_replaced, 1, MPIU_BOOL, 0, ev->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Not collective (the same on every rank). A warning: printed on standard error by rank 0 now (a
   warning is not progress: -quiet does not silence it), repeated in the summary and kept in the
   output (attribute /warnings). */
PetscErrorCode EvaluationWarn(Evaluation ev, const char format[], ...)
{
  va_list args;
  char    text[1024];

  PetscFunctionBeginUser;
  va_start(args, format);
  vsnprintf(text, sizeof(text), format, args);
  va_end(args);
  if (ev->rank == 0) {
    fprintf(stderr, "henderson: warning: %s\n", text);
    fflush(stderr);
  }
  if (ev->nwarnings < EVALUATION_MAX_WARNINGS) PetscCall(PetscStrallocpy(text, &ev->warnings[ev->nwarnings]));
  ev->nwarnings++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* What the data say that the user did not mean, as warnings: a trait without variation; records whose
   animals are mostly not in the pedigree (IDs written differently: 000021 and 21); a random effect on
   the column of a fixed one (its solutions are all zero). */
PetscErrorCode EvaluationCheckData(Evaluation ev)
{
  PetscInt     ntraits, neffects;
  RecordsStats st;
  const char  *pedigree = NULL;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  PetscCall(RecordsGetStats(ev->records, &st));
  PetscCall(ModelGetPedigreePath(ev->model, &pedigree));
  PetscCall(CheckRange(ev, PETSC_TRUE));
  for (PetscInt t = 0; t < ntraits; t++) {
    const char *name;
    PetscCall(ModelGetTrait(ev->model, t, &name, NULL));
    if (st.values[t] > 0 && st.sd[t] == 0)
      PetscCall(EvaluationWarn(ev, "trait '%s' has the same value (%g) on all %" PetscInt64_FMT " records: there is nothing to estimate", name,
                               (double)st.mean[t], st.values[t]));
  }
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect *effect;
    RecordsLevelStats  ls;
    PetscBool          has;
    PetscCall(ModelGetEffect(ev->model, e, &effect));
    PetscCall(RecordsGetLevelStats(ev->records, e, &has, &ls));
    PetscCheck(!has || !ModelEffectIsGenomic(effect) || ls.not_in_pedigree == 0, ev->comm, PETSC_ERR_USER_INPUT,
               "%" PetscInt64_FMT " of the %" PetscInt64_FMT " records with an animal in column '%s' name animals without genotypes (or dropped by the quality "
               "control): GBLUP (structure genomic) needs the genotypes of every animal with records",
               ls.not_in_pedigree, ls.records, effect->column);
    if (has && ModelEffectIsAnimal(effect) && ls.not_in_pedigree > 0 && 2 * ls.not_in_pedigree > ls.records)
      PetscCall(EvaluationWarn(ev,
                               "%" PetscInt64_FMT " of the %" PetscInt64_FMT " records with an animal in column '%s' name animals that are not in %s (added as "
                               "unrelated founders): are the IDs written the same way in both files?",
                               ls.not_in_pedigree, ls.records, effect->column, pedigree));
    if (effect->kind != MODEL_EFFECT_RANDOM || effect->covariate[0]) continue;
    for (PetscInt f = 0; f < neffects; f++) {
      const ModelEffect *fixed;
      PetscCall(ModelGetEffect(ev->model, f, &fixed));
      if (fixed->kind == MODEL_EFFECT_FIXED && fixed->data_column >= 0 && fixed->data_column == effect->data_column)
        PetscCall(EvaluationWarn(ev,
                                 "random effect '%s' is on the column of fixed effect '%s' (model line %" PetscInt_FMT
                                 "): the fixed effect takes everything, and its solutions are all 0",
                                 effect->name, fixed->name, effect->line));
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A rank deficiency beyond the constraints (estimable.h): which fixed effects, and how many of their
   levels, have solutions that mean nothing one by one. */
PetscErrorCode EvaluationCheckEstimable(Evaluation ev)
{
  Vec      rhs;
  PetscInt neffects, *count;
  char     list[2048] = "";

  PetscFunctionBeginUser;
  PetscCall(MMEGetSystem(ev->mme, NULL, NULL, &rhs));
  PetscCall(VecDestroy(&ev->nonestimable));
  PetscCall(EstimableCompute(ev->comm, ev->model, ev->equations, ev->records, rhs, &ev->deficiency, &ev->nonestimable));
  if (ev->deficiency < 0)
    PetscCall(EvaluationWarn(ev, "the rank deficiency of the fixed effects was not checked: besides the largest, they have more than 2000 equations; "
                                 "if two of them are confounded, their levels' PEV are meaningless (-pev exact would show NaN there)"));
  if (ev->deficiency <= 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  PetscCall(PetscMalloc1(2 * neffects, &count));
  PetscCall(EstimableCountByEffect(ev->model, ev->equations, ev->nonestimable, count));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect    *effect;
    const EquationsBlock *block;
    char                  one[MODEL_MAX_NAME + 64];
    if (!count[e]) continue;
    PetscCall(ModelGetEffect(ev->model, e, &effect));
    PetscCall(EquationsGetEffectBlock(ev->equations, e, &block));
    snprintf(one, sizeof(one), "%s'%s' (%" PetscInt_FMT " of %" PetscInt_FMT " equations)", list[0] ? ", " : "", effect->name, count[e], block->nequations);
    PetscCall(HendersonStrlcat(list, one, sizeof(list)));
  }
  PetscCall(PetscFree(count));
  PetscCall(EvaluationWarn(ev,
                           "the equations are rank deficient by %" PetscInt_FMT
                           " after the first level of each further fixed effect is set to 0: confounded effects %s"
                           " (one nested in another, disconnected data, or a covariate constant within a class); their level solutions mean nothing one by one "
                           "(differences within connected data do), and their PEV are written as NaN",
                           ev->deficiency, list));
  PetscFunctionReturn(PETSC_SUCCESS);
}
