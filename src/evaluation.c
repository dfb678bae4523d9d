#include <henderson/henderson.h>
#include <stdarg.h>
#include <string.h>

#define EVALUATION_MAX_WARNINGS 32

struct _p_Evaluation {
  MPI_Comm     comm;
  PetscMPIInt  rank, size;
  Model        model;
  Records      records;
  Pedigree     pedigree;
  Equations    equations;
  MME          mme;
  Solver       solver;
  Vec          x;
  PEVMethod    pev_method; /* -pev */
  Vec          pev;        /* diag(C^-1), when asked for */
  PetscInt     pev_samples;
  PetscInt64   pev_iterations;
  PetscReal  **pev_block; /* per random group: the PEV blocks (order x order) of this rank's levels */
  SolverResult result;
  PetscBool    resumed;           /* the solve went on from a checkpoint */
  PetscInt     initial_levels[2]; /* warm start: levels read from the earlier solutions, and found now */
  char         initial_path[HENDERSON_MAX_PATH];
  PetscReal    seconds[HENDERSON_NUM_PHASES]; /* this rank's, summed over the calls of a phase */
  PetscBool    ran[HENDERSON_NUM_PHASES];
  char         output_path[HENDERSON_MAX_PATH];
  PetscErrorCode (*write_hook)(Output, void *); /* more contents of the output (REML's /variance) */
  void *write_context;
  /* the options (EvaluationSetFromOptions()) */
  PetscBool options_set;
  PetscBool quiet;   /* -quiet, -henderson_quiet: no summary */
  PetscBool restart; /* -restart: go on from the checkpoint */
  char      initial_option[HENDERSON_MAX_PATH], checkpoint_option[HENDERSON_MAX_PATH], order_by[MODEL_MAX_NAME];
  PetscInt  pev_seed, fail_alone;
  PetscReal social_group_size;
  char      checkpoint_path[HENDERSON_MAX_PATH]; /* the checkpoint file (with the model: -checkpoint_file or beside the output) */
  PetscBool output_replaced;                     /* the output file is an earlier run's, and is replaced */
  PetscBool solver_ready;                        /* the solver is set up with the current system */
  PetscInt  pev_failed;                          /* -pev sample: samples whose solve did not converge */
  char     *warnings[EVALUATION_MAX_WARNINGS];   /* EvaluationWarn() */
  PetscInt  nwarnings;
  /* what is estimable (estimable.h) */
  PetscBool estimable_check; /* -estimable_check: look for a rank deficiency of the fixed effects */
  PetscInt  deficiency;      /* of the fixed block X'R^-1X */
  Vec       nonestimable;    /* 1 at the equations not estimable one by one, NULL when there are none */
  PetscInt  pev_nullity;     /* -pev exact: null pivots of all of C */
  PetscInt  pev_clipped;     /* sampled reliabilities below 0 (PEV above the prior variance), set to 0 */
};

PetscErrorCode EvaluationCreate(MPI_Comm comm, Evaluation *evaluation)
{
  PetscFunctionBeginUser;
  PetscCall(HendersonLogInitialize());
  PetscCall(PetscNew(evaluation));
  (*evaluation)->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &(*evaluation)->rank));
  PetscCallMPI(MPI_Comm_size(comm, &(*evaluation)->size));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationDestroy(Evaluation *evaluation)
{
  Evaluation ev = *evaluation;

  PetscFunctionBeginUser;
  if (!ev) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(VecDestroy(&ev->x));
  PetscCall(VecDestroy(&ev->pev));
  PetscCall(VecDestroy(&ev->nonestimable));
  if (ev->pev_block) {
    PetscInt ngroups;
    PetscCall(ModelGetNumGroups(ev->model, &ngroups));
    for (PetscInt g = 0; g < ngroups; g++) PetscCall(PetscFree(ev->pev_block[g]));
    PetscCall(PetscFree(ev->pev_block));
  }
  for (PetscInt k = 0; k < PetscMin(ev->nwarnings, EVALUATION_MAX_WARNINGS); k++) PetscCall(PetscFree(ev->warnings[k]));
  PetscCall(SolverDestroy(&ev->solver));
  PetscCall(MMEDestroy(&ev->mme));
  PetscCall(EquationsDestroy(&ev->equations));
  PetscCall(RecordsDestroy(&ev->records));
  PetscCall(PedigreeDestroy(&ev->pedigree));
  PetscCall(ModelDestroy(&ev->model));
  PetscCall(PetscFree(*evaluation));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Each phase is a PetscLogEvent and a wall-clock interval. */
static PetscErrorCode PhaseBegin(Evaluation ev, HendersonPhase phase, double *start)
{
  *start = 0;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(HendersonPhaseEvents[phase], 0, 0, 0, 0));
  *start = HendersonSeconds();
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode PhaseEnd(Evaluation ev, HendersonPhase phase, double start)
{
  PetscFunctionBeginUser;
  ev->seconds[phase] += (PetscReal)(HendersonSeconds() - start);
  ev->ran[phase] = PETSC_TRUE;
  {
    PetscLogDouble peak;
    PetscCall(HendersonPeakMemory(&peak));
    PetscCall(PetscInfo(NULL, "after %s: %.3f s, peak memory %.1f MiB\n", HendersonPhaseNames[phase], (double)ev->seconds[phase], peak / 1048576.0));
  }
  PetscCall(PetscLogEventEnd(HendersonPhaseEvents[phase], 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The checkpoint file: -checkpoint_file, or the output's name with .checkpoint.h5 for .h5. */
static PetscErrorCode CheckpointPath(Evaluation ev, char path[], size_t size)
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

static PetscErrorCode CheckEarlierFile(const char path[], const char what[], OutputFileKind wanted, OutputFileKind *kind);

PetscErrorCode EvaluationSetFromOptions(Evaluation ev)
{
  PetscBool quiet = PETSC_FALSE;

  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(ev->order_by, "auto", sizeof(ev->order_by)));
  ev->estimable_check = PETSC_TRUE;
  ev->pev_samples     = 100;
  ev->pev_seed        = 1;
  ev->fail_alone      = -1;
  PetscOptionsBegin(ev->comm, NULL, "Evaluation", "Evaluation");
  PetscCall(PetscOptionsEnum("-pev", "Prediction error variances and reliabilities", "EvaluationPEV", PEVMethods, (PetscEnum)ev->pev_method,
                             (PetscEnum *)&ev->pev_method, NULL));
  PetscCall(PetscOptionsInt("-pev_samples", "Simulated data sets of -pev sample", "EvaluationPEV", ev->pev_samples, &ev->pev_samples, NULL));
  PetscCall(PetscOptionsInt("-pev_seed", "Seed of the random numbers of -pev sample", "EvaluationPEV", ev->pev_seed, &ev->pev_seed, NULL));
  PetscCall(PetscOptionsBool("-restart", "Go on from the checkpoint of an interrupted run, if there is one (--restart)", "EvaluationSolve", ev->restart,
                             &ev->restart, NULL));
  PetscCall(PetscOptionsString("-initial", "Start from the solutions of an earlier evaluation (--initial FILE.h5)", "EvaluationSolve", ev->initial_option,
                               ev->initial_option, sizeof(ev->initial_option), NULL));
  PetscCall(PetscOptionsString("-checkpoint_file", "Where checkpoints go (default: the output's name with .checkpoint.h5)", "EvaluationSolve",
                               ev->checkpoint_option, ev->checkpoint_option, sizeof(ev->checkpoint_option), NULL));
  PetscCall(PetscOptionsString("-order_by", "Class effect whose levels group the animals' equations (auto, none, or an effect's name)", "OrderAnimals",
                               ev->order_by, ev->order_by, sizeof(ev->order_by), NULL));
  PetscCall(PetscOptionsReal("-social_group_size", "n of the total breeding value of a social model (default: the model's size, else the mean group size)",
                             "EvaluationView", ev->social_group_size, &ev->social_group_size, NULL));
  PetscCall(PetscOptionsBool("-henderson_quiet", "No summary", "EvaluationView", ev->quiet, &ev->quiet, NULL));
  PetscCall(PetscOptionsBool("-quiet", "No progress lines and no summary", "EvaluationView", quiet, &quiet, NULL));
  PetscCall(PetscOptionsBool("-estimable_check", "Look for a rank deficiency of the fixed effects (estimable.h) and name the effects", "EvaluationAssemble",
                             ev->estimable_check, &ev->estimable_check, NULL));
  PetscCall(
      PetscOptionsInt("-henderson_fail_alone", "Tests: this rank fails alone on entering the solve", "EvaluationSolve", ev->fail_alone, &ev->fail_alone, NULL));
  PetscOptionsEnd();
  ev->quiet = (PetscBool)(ev->quiet || quiet);
  PetscCheck(ev->pev_samples > 0, ev->comm, PETSC_ERR_USER_INPUT, "-pev_samples must be at least 1");
  PetscCheck(ev->social_group_size == 0 || ev->social_group_size >= 2, ev->comm, PETSC_ERR_USER_INPUT, "-social_group_size must be at least 2");
  PetscCall(HendersonLogSetFromOptions(ev->comm));
  PetscCall(HendersonErrorSetFromOptions(ev->comm));
  PetscCall(OutputSetFromOptions(ev->comm));
  /* the objects of the later stages, made now so that their options are read before any work */
  if (!ev->pedigree) PetscCall(PedigreeCreate(ev->comm, &ev->pedigree));
  PetscCall(PedigreeSetFromOptions(ev->pedigree));
  if (!ev->mme) PetscCall(MMECreate(ev->comm, &ev->mme));
  if (ev->pev_method == PEV_METHOD_EXACT) PetscCall(MMESetOperatorType(ev->mme, MME_OPERATOR_ASSEMBLED)); /* the factorisation needs the entries */
  PetscCall(MMESetFromOptions(ev->mme));
  if (!ev->solver) PetscCall(SolverCreate(ev->comm, &ev->solver));
  PetscCall(SolverSetFromOptions(ev->solver));
  ev->options_set = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: no file the run writes -- the output, the checkpoint -- may be one it reads, by any name or
   link; what is at the output path must be an earlier output of henderson (replaced), and what is at
   the checkpoint path a henderson checkpoint; else the run stops before any work, and touches nothing. */
static PetscErrorCode CheckPathsRoot(Evaluation ev, PetscBool checkpointing)
{
  const char    *model, *data, *pedigree, *output, *inputs[4], *names[4] = {"model file", "data file", "pedigree file", "--initial file"};
  OutputFileKind kind;

  PetscFunctionBeginUser;
  PetscCall(ModelGetPath(ev->model, &model));
  PetscCall(ModelGetDataPath(ev->model, &data));
  PetscCall(ModelGetPedigreePath(ev->model, &pedigree));
  PetscCall(ModelGetOutputPath(ev->model, &output));
  inputs[0] = model;
  inputs[1] = data;
  inputs[2] = pedigree;
  inputs[3] = ev->initial_option[0] ? ev->initial_option : NULL;
  if (inputs[3]) PetscCall(HendersonCheckRegular(inputs[3], "the --initial file"));
  for (int k = 0; k < 3; k++) /* the output may be the --initial file: last month's solutions, replaced by this month's */
    PetscCheck(!HendersonSameFile(output, inputs[k]), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s: the output %s is the %s %s; it would be overwritten (name another output)", model, output, names[k], inputs[k]);
  PetscCall(CheckEarlierFile(output, "output", OUTPUT_FILE_SOLUTIONS, &kind));
  ev->output_replaced = kind == OUTPUT_FILE_SOLUTIONS ? PETSC_TRUE : PETSC_FALSE;
  if (!checkpointing) PetscFunctionReturn(PETSC_SUCCESS);
  for (int k = 0; k < 4; k++)
    PetscCheck(!HendersonSameFile(ev->checkpoint_path, inputs[k]), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "-checkpoint_file %s is the %s %s; it would be overwritten and removed (name another file)", ev->checkpoint_path, names[k], inputs[k]);
  PetscCheck(!HendersonSameFile(ev->checkpoint_path, output), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "-checkpoint_file %s is the output file (name another file)", ev->checkpoint_path);
  PetscCall(CheckEarlierFile(ev->checkpoint_path, "checkpoint file", OUTPUT_FILE_CHECKPOINT, &kind));
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

/* What the options mean for this model, checked before any work: -order_by names one of its class
   effects, and the files it writes are none of those it reads. */
static PetscErrorCode EvaluationCheckOptions(Evaluation ev)
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
      if (!strcmp(effect->name, ev->order_by) && effect->kind != MODEL_EFFECT_COVARIATE && effect->structure != MODEL_STRUCTURE_PEDIGREE && effect->column[0])
        found = PETSC_TRUE;
    }
    PetscCheck(found, ev->comm, PETSC_ERR_USER_INPUT,
               "-order_by %s: the model has no class effect of that name (a fixed or iid random effect; or auto, or none)", ev->order_by);
  }
  PetscCall(CheckpointPath(ev, ev->checkpoint_path, sizeof(ev->checkpoint_path)));
  PetscCall(SolverIsCheckpointing(ev->solver, &checkpointing));
  if (ev->rank == 0) ierr = CheckPathsRoot(ev, (PetscBool)(checkpointing || ev->restart));
  PetscCall(HendersonAgree(ev->comm, ierr));
  PetscCallMPI(MPI_Bcast(&ev->output_replaced, 1, MPIU_BOOL, 0, ev->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationLoadModel(Evaluation ev, const char model_path[])
{
  double start;

  PetscFunctionBeginUser;
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_READ, &start));
  PetscCall(ModelCreate(ev->comm, &ev->model));
  PetscCall(ModelLoad(ev->model, model_path));
  if (!ev->options_set) PetscCall(EvaluationSetFromOptions(ev));
  PetscCall(EvaluationCheckOptions(ev));
  PetscCall(PhaseEnd(ev, HENDERSON_PHASE_READ, start));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationRead(Evaluation ev)
{
  double start;

  PetscFunctionBeginUser;
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_READ, &start));
  PetscCall(RecordsCreate(ev->comm, &ev->records));
  PetscCall(RecordsRead(ev->records, ev->model));
  PetscCall(PhaseEnd(ev, HENDERSON_PHASE_READ, start));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationPedigree(Evaluation ev)
{
  PetscBool   needed;
  const char *path;
  double      start;

  PetscFunctionBeginUser;
  PetscCall(ModelHasPedigreeEffect(ev->model, &needed));
  if (!needed) PetscCall(PedigreeDestroy(&ev->pedigree)); /* made for its options */
  if (!needed) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_PEDIGREE, &start));
  PetscCall(ModelGetPedigreePath(ev->model, &path));
  if (!ev->pedigree) {
    PetscCall(PedigreeCreate(ev->comm, &ev->pedigree));
    PetscCall(PedigreeSetFromOptions(ev->pedigree));
  }
  {
    ModelPedigreeKind  kind;
    PetscInt           ngroups;
    const char *const *groups;
    PetscBool          inbreeding;
    PetscCall(ModelGetPedigreeKind(ev->model, &kind));
    PetscCall(ModelGetGroups(ev->model, &ngroups, &groups));
    PetscCall(ModelGetInbreeding(ev->model, &inbreeding));
    PetscCall(PedigreeSetKind(ev->pedigree, kind));
    {
      ModelPedigreeHeader header;
      PetscCall(ModelGetPedigreeHeader(ev->model, &header));
      PetscCall(PedigreeSetHeader(ev->pedigree, header));
    }
    PetscCall(PedigreeSetGroups(ev->pedigree, ngroups, groups));
    PetscCall(PedigreeSetUseInbreeding(ev->pedigree, inbreeding));
  }
  PetscCall(PedigreeLoad(ev->pedigree, path));
  {
    /* a group that names nothing has no equation with information: a typing error on the groups line */
    PetscInt           unused, ngroups, line;
    const char *const *groups, *model;
    PetscCall(PedigreeGetUnusedGroup(ev->pedigree, &unused));
    PetscCall(ModelGetGroups(ev->model, &ngroups, &groups));
    PetscCall(ModelGetGroupsLine(ev->model, &line));
    PetscCall(ModelGetPath(ev->model, &model));
    PetscCheck(unused < 0, ev->comm, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": the unknown-parent group '%s' appears in no parent column of %s", model, line,
               groups[unused], path);
  }
  PetscCall(PhaseEnd(ev, HENDERSON_PHASE_PEDIGREE, start));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Not collective (the same on every rank). A warning: printed on standard error by rank 0 now (a
   warning is not progress: -quiet does not silence it), repeated in the summary and kept in the
   output (attribute /warnings). */
static PetscErrorCode EvaluationWarn(Evaluation ev, const char format[], ...)
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
static PetscErrorCode EvaluationCheckData(Evaluation ev)
{
  PetscInt     ntraits, neffects;
  RecordsStats st;
  const char  *pedigree = NULL;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  PetscCall(RecordsGetStats(ev->records, &st));
  PetscCall(ModelGetPedigreePath(ev->model, &pedigree));
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
    if (has && effect->structure == MODEL_STRUCTURE_PEDIGREE && ls.not_in_pedigree > 0 && 2 * ls.not_in_pedigree > ls.records)
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

PetscErrorCode EvaluationNumber(Evaluation ev)
{
  double start;

  PetscFunctionBeginUser;
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_NUMBER, &start));
  PetscCall(RecordsNumber(ev->records, ev->model, ev->pedigree));
  PetscCall(PhaseEnd(ev, HENDERSON_PHASE_NUMBER, start));
  if (ev->pedigree) {
    /* inbreeding and A-inverse need every animal, the founders from the data included */
    PetscCall(PhaseBegin(ev, HENDERSON_PHASE_PEDIGREE, &start));
    PetscCall(PedigreeSetUp(ev->pedigree));
    PetscCall(PhaseEnd(ev, HENDERSON_PHASE_PEDIGREE, start));
    PetscCall(PhaseBegin(ev, HENDERSON_PHASE_NUMBER, &start));
    PetscCall(OrderAnimals(ev->comm, ev->model, ev->records, ev->pedigree, ev->order_by));
    PetscCall(PhaseEnd(ev, HENDERSON_PHASE_NUMBER, start));
  }
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_NUMBER, &start));
  PetscCall(RecordsComputeLevelStats(ev->records, ev->model));
  PetscCall(EvaluationCheckData(ev));
  PetscCall(PhaseEnd(ev, HENDERSON_PHASE_NUMBER, start));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A rank deficiency beyond the constraints (estimable.h): which fixed effects, and how many of their
   levels, have solutions that mean nothing one by one. */
static PetscErrorCode EvaluationCheckEstimable(Evaluation ev)
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
    const ModelEffect     *effect;
    const EquationsEffect *layout;
    const EquationsBlock  *block;
    char                   one[MODEL_MAX_NAME + 64];
    if (!count[e]) continue;
    PetscCall(ModelGetEffect(ev->model, e, &effect));
    PetscCall(EquationsGetEffect(ev->equations, e, &layout));
    PetscCall(EquationsGetBlock(ev->equations, layout->block, &block));
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

PetscErrorCode EvaluationAssemble(Evaluation ev)
{
  double start;

  PetscFunctionBeginUser;
  PetscCall(PetscLogStagePush(HendersonStageAssemble));
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_ASSEMBLE, &start));
  PetscCall(EquationsCreate(ev->comm, &ev->equations));
  PetscCall(EquationsSetUp(ev->equations, ev->model, ev->records, ev->pedigree));
  if (!ev->mme) {
    PetscCall(MMECreate(ev->comm, &ev->mme));
    if (ev->pev_method == PEV_METHOD_EXACT) PetscCall(MMESetOperatorType(ev->mme, MME_OPERATOR_ASSEMBLED)); /* the factorisation needs the entries */
  }
  PetscCall(MMEAssemble(ev->mme, ev->model, ev->equations, ev->records, ev->pedigree));
  if (ev->pev_method == PEV_METHOD_EXACT) {
    MMEStats stats;
    PetscCall(MMEGetStats(ev->mme, &stats));
    PetscCheck(stats.operator== MME_OPERATOR_ASSEMBLED, ev->comm, PETSC_ERR_USER_INPUT, "-pev exact factors the assembled C: leave out -mme_operator %s",
               MMEOperatorTypes[stats.operator]);
  }
  if (ev->estimable_check) PetscCall(EvaluationCheckEstimable(ev));
  PetscCall(PhaseEnd(ev, HENDERSON_PHASE_ASSEMBLE, start));
  PetscCall(PetscLogStagePop());
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationReassemble(Evaluation ev)
{
  double start;

  PetscFunctionBeginUser;
  PetscCheck(ev->equations, ev->comm, PETSC_ERR_ARG_WRONGSTATE, "call EvaluationAssemble() first");
  PetscCall(PetscLogStagePush(HendersonStageAssemble));
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_ASSEMBLE, &start));
  /* a new MME of the same form: with new variances an entry of G0-inverse may become zero or stop being zero */
  {
    MMEStats stats;
    PetscCall(MMEGetStats(ev->mme, &stats));
    PetscCall(SolverDestroy(&ev->solver));
    ev->solver_ready = PETSC_FALSE;
    PetscCall(MMEDestroy(&ev->mme));
    PetscCall(MMECreate(ev->comm, &ev->mme));
    PetscCall(MMESetOperatorType(ev->mme, stats.operator));
  }
  PetscCall(MMEAssemble(ev->mme, ev->model, ev->equations, ev->records, ev->pedigree));
  PetscCall(PhaseEnd(ev, HENDERSON_PHASE_ASSEMBLE, start));
  PetscCall(PetscLogStagePop());
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationSetWriteHook(Evaluation ev, PetscErrorCode (*hook)(Output, void *), void *context)
{
  PetscFunctionBeginUser;
  ev->write_hook    = hook;
  ev->write_context = context;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The effect that absorbs the mean of trait T, with its layout and block, and the position of T in
   it; *m < 0 when there is none. */
static PetscErrorCode MeanEffect(Evaluation ev, PetscInt t, PetscInt *m, const EquationsEffect **layout, const EquationsBlock **block, PetscInt *position)
{
  const ModelEffect *effect;

  PetscFunctionBeginUser;
  PetscCall(EquationsGetMeanEffect(ev->equations, t, m));
  if (*m < 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetEffect(ev->model, *m, &effect));
  PetscCall(EquationsGetEffect(ev->equations, *m, layout));
  PetscCall(EquationsGetBlock(ev->equations, (*layout)->block, block));
  *position = ModelEffectTraitPosition(effect, t);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* What ties a checkpoint to this evaluation: the model file's text. */
static PetscErrorCode Identity(Evaluation ev, char identity[], size_t size)
{
  const char *text, *path;

  PetscFunctionBeginUser;
  PetscCall(ModelGetText(ev->model, &text));
  PetscCall(ModelGetPath(ev->model, &path));
  snprintf(identity, size, "%s (text %016llx)", path, (unsigned long long)LabelHash(text, strlen(text)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: the equations and values of the solutions of EFFECT in the earlier evaluation PATH, matched
   by level label (and trait and coefficient by position); appended to Q and V. Covariates back in the
   units of the equations. */
static PetscErrorCode InitialEffect(Evaluation ev, const char path[], PetscInt e, PetscInt *n, PetscInt **q, PetscReal **v, PetscReal shift[])
{
  const ModelEffect     *effect;
  const EquationsEffect *layout;
  const EquationsBlock  *block;
  PetscInt               nlevels, ncolumns, ntraits, nprevious, found = 0;
  char                 **labels;
  PetscReal             *values, centre = 0, scale = 1;
  LabelTable             table;

  PetscFunctionBeginUser;
  PetscCall(ModelGetEffect(ev->model, e, &effect));
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(EquationsGetEffect(ev->equations, e, &layout));
  PetscCall(EquationsGetBlock(ev->equations, layout->block, &block));
  PetscCall(RecordsGetLevels(ev->records, e, &nlevels, &table));
  PetscCall(OutputReadEffect(path, effect->name, &nprevious, &ncolumns, &labels, &values, NULL));
  if (ncolumns != ntraits * layout->ncoef) { /* another model: nothing to match */
    PetscCall(PetscFree(labels));
    PetscCall(PetscFree(values));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (effect->kind == MODEL_EFFECT_COVARIATE && effect->legendre < 0) PetscCall(RecordsGetCovariateScaling(ev->records, e, &centre, &scale));
  PetscCall(PetscRealloc(sizeof(PetscInt) * (*n + nprevious * ncolumns + 1), q));
  PetscCall(PetscRealloc(sizeof(PetscReal) * (*n + nprevious * ncolumns + 1), v));
  for (PetscInt k = 0; k < nprevious; k++) {
    PetscInt level = 0;
    if (table)
      PetscCall(LabelTableFind(table, labels[k], strlen(labels[k]), &level));
    else if (strcmp(labels[k], effect->name))
      level = -1; /* a plain covariate: one level, its name */
    if (level < 0) continue;
    found++;
    for (PetscInt t = 0; t < ntraits; t++) {
      PetscInt i = ModelEffectTraitPosition(effect, t);
      if (i < 0) continue;
      for (PetscInt c = 0; c < layout->ncoef; c++) {
        PetscInt  eq    = EquationsBlockEquation(block, level, layout->slot + i * layout->ncoef + c);
        PetscReal value = values[k * ncolumns + t * layout->ncoef + c];
        if (eq < 0) continue;
        if (effect->kind == MODEL_EFFECT_COVARIATE && effect->legendre < 0) {
          if (!effect->nested) shift[t] += value * centre; /* the output moved b centre to the mean */
          value *= scale;
        }
        (*q)[*n]     = eq;
        (*v)[(*n)++] = value;
      }
    }
  }
  ev->initial_levels[0] += nlevels;
  ev->initial_levels[1] += found;
  PetscCall(PetscFree(labels));
  PetscCall(PetscFree(values));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. X from the solutions of an earlier evaluation (warm start): every level whose label is
   found there starts from its solution, new levels from zero. */
static PetscErrorCode EvaluationInitialGuess(Evaluation ev, const char path[], Vec x)
{
  PetscInt       neffects, ntraits, n = 0, *q = NULL;
  PetscReal     *v = NULL, shift[MODEL_MAX_TRAITS] = {0};
  PetscErrorCode ierr = PETSC_SUCCESS;

  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(ev->initial_path, path, sizeof(ev->initial_path)));
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  ev->initial_levels[0] = ev->initial_levels[1] = 0;
  if (ev->rank == 0) {
    PetscInt nfile;
    char   **names;
    ierr = OutputListEffects(path, &nfile, &names);
    for (PetscInt e = 0; !ierr && e < neffects; e++) {
      const ModelEffect *effect;
      PetscBool          there = PETSC_FALSE;
      ierr                     = ModelGetEffect(ev->model, e, &effect);
      for (PetscInt k = 0; !ierr && k < nfile; k++) there = there || !strcmp(names[k], effect->name);
      if (!ierr && there) ierr = InitialEffect(ev, path, e, &n, &q, &v, shift);
    }
    if (!ierr) {
      for (PetscInt k = 0; k < nfile; k++) ierr = PetscFree(names[k]);
      ierr = PetscFree(names);
    }
  }
  PetscCall(HendersonAgree(ev->comm, ierr));
  PetscCall(VecZeroEntries(x));
  PetscCall(VecSetValues(x, n, q, v, INSERT_VALUES));
  PetscCall(VecAssemblyBegin(x));
  PetscCall(VecAssemblyEnd(x));
  /* the mean effect's levels as the equations hold them: the output took b centre off them */
  PetscCallMPI(MPI_Bcast(shift, (PetscMPIInt)ntraits, MPIU_REAL, 0, ev->comm));
  for (PetscInt t = 0; t < ntraits; t++) {
    PetscInt               m, rstart, rend, i;
    const EquationsEffect *layout;
    const EquationsBlock  *block;
    if (!shift[t]) continue;
    PetscCall(MeanEffect(ev, t, &m, &layout, &block, &i));
    if (m < 0) continue;
    PetscCall(VecGetOwnershipRange(x, &rstart, &rend));
    for (PetscInt l = 0; l < block->nlevels; l++) {
      PetscInt eq = EquationsBlockEquation(block, l, layout->slot + i * layout->ncoef);
      if (eq >= rstart && eq < rend) PetscCall(VecSetValue(x, eq, shift[t], ADD_VALUES));
    }
    PetscCall(VecAssemblyBegin(x));
    PetscCall(VecAssemblyEnd(x));
  }
  PetscCall(PetscFree(q));
  PetscCall(PetscFree(v));
  PetscCallMPI(MPI_Bcast(ev->initial_levels, 2, MPIU_INT, 0, ev->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The solver set up with the current system (again after EvaluationReassemble()). */
static PetscErrorCode EvaluationSolverReady(Evaluation ev)
{
  Mat  C, P;
  char identity[256];

  PetscFunctionBeginUser;
  if (ev->solver_ready) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(MMEGetSystem(ev->mme, &C, &P, NULL));
  if (!ev->solver) {
    PetscCall(SolverCreate(ev->comm, &ev->solver));
    PetscCall(SolverSetFromOptions(ev->solver));
  }
  PetscCall(SolverSetUp(ev->solver, C, P));
  PetscCall(Identity(ev, identity, sizeof(identity)));
  PetscCall(SolverSetCheckpoint(ev->solver, ev->checkpoint_path, identity));
  ev->solver_ready = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationSolve(Evaluation ev)
{
  Vec    rhs;
  double start;

  PetscFunctionBeginUser;
  PetscCall(PetscLogStagePush(HendersonStageSolve));
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_SOLVE, &start));
  PetscCall(MMEGetSystem(ev->mme, NULL, NULL, &rhs));
  /* -henderson_fail_alone R: rank R fails here on its own, as an error inside a solver on one rank
     would, while the others go on into the solve (the test of HendersonErrorReport()'s way out) */
  PetscCheck(ev->fail_alone != ev->rank, PETSC_COMM_SELF, PETSC_ERR_LIB, "rank %d failed alone (-henderson_fail_alone)", ev->rank);
  PetscCall(EvaluationSolverReady(ev));
  if (!ev->x) PetscCall(VecDuplicate(rhs, &ev->x));
  PetscCall(VecZeroEntries(ev->x));
  /* -restart: on from the checkpoint if there is one; -initial FILE: from an earlier evaluation */
  ev->resumed = PETSC_FALSE;
  if (ev->restart) PetscCall(SolverResume(ev->solver, rhs, ev->x, &ev->resumed));
  if (!ev->resumed && ev->initial_option[0]) PetscCall(EvaluationInitialGuess(ev, ev->initial_option, ev->x));
  PetscCall(SolverSolve(ev->solver, rhs, ev->x));
  PetscCall(SolverGetResult(ev->solver, &ev->result));
  PetscCall(PhaseEnd(ev, HENDERSON_PHASE_SOLVE, start));
  PetscCall(PetscLogStagePop());
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode BlockLocalLevels(Evaluation ev, const EquationsBlock *block, PetscInt rstart, PetscInt rend, PetscInt n, PetscInt *lo, PetscInt *hi);

/* Random group G's level block and this rank's levels LO..HI-1 of it; *DIM its order. */
static PetscErrorCode GroupLocalLevels(Evaluation ev, PetscInt g, PetscInt *dim, const EquationsBlock **block, PetscInt *lo, PetscInt *hi)
{
  const ModelGroup      *group;
  const EquationsEffect *layout;
  PetscInt               rstart, rend, neq;

  PetscFunctionBeginUser;
  PetscCall(ModelGetGroup(ev->model, g, &group));
  PetscCall(EquationsGetEffect(ev->equations, group->first, &layout));
  PetscCall(EquationsGetBlock(ev->equations, layout->block, block));
  PetscCall(VecGetOwnershipRange(ev->x, &rstart, &rend));
  PetscCall(EquationsGetSize(ev->equations, &neq));
  PetscCall(BlockLocalLevels(ev, *block, rstart, rend, neq, lo, hi));
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
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_PEV, &start));
  PetscCall(MMEGetSystem(ev->mme, &C, NULL, NULL));
  if (!ev->pev) PetscCall(VecDuplicate(ev->x, &ev->pev));
  PetscCall(BlockRequests(ev, &nblock, &rows, &cols));
  PetscCall(PetscMalloc1(nblock + 1, &extra));
  if (ev->pev_method == PEV_METHOD_EXACT)
    PetscCall(PEVComputeExact(C, nblock, rows, cols, extra, ev->pev, &ev->pev_nullity));
  else {
    PetscCall(EvaluationSolverReady(ev)); /* REML may have rebuilt the system */
    PetscCall(PEVComputeSampled(ev->model, ev->equations, ev->records, ev->pedigree, ev->solver, ev->pev_samples, (PetscInt64)ev->pev_seed, nblock, rows, cols,
                                extra, ev->pev, &ev->pev_iterations, &ev->pev_failed));
    PetscCall(PEVMaskNotEstimable(ev->nonestimable, nblock, rows, cols, extra, ev->pev));
    if (ev->pev_failed)
      PetscCall(EvaluationWarn(
          ev, "%" PetscInt_FMT " of the %" PetscInt_FMT " simulated data sets of -pev sample did not converge: the PEV are not reliable (exit status 2)",
          ev->pev_failed, ev->pev_samples));
  }
  PetscCall(BlockStore(ev, extra));
  PetscCall(PetscFree2(rows, cols));
  PetscCall(PetscFree(extra));
  PetscCall(PhaseEnd(ev, HENDERSON_PHASE_PEV, start));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The levels of BLOCK whose equations this rank owns: a level belongs to the rank that owns its first
   equation (or, for a level without any, the place where it would be). Levels are never split. */
static PetscErrorCode BlockLocalLevels(Evaluation ev, const EquationsBlock *block, PetscInt rstart, PetscInt rend, PetscInt n, PetscInt *lo, PetscInt *hi)
{
  PetscFunctionBeginUser;
  *lo = *hi = 0;
  for (PetscInt l = 0, found = 0; l < block->nlevels; l++) {
    PetscInt  anchor = block->offset + (block->start ? block->start[l] : l * block->size);
    PetscBool mine   = anchor >= rstart && (anchor < rend || (ev->rank == ev->size - 1 && anchor >= n)) ? PETSC_TRUE : PETSC_FALSE;
    if (mine && !found) {
      *lo   = l;
      found = 1;
    }
    if (mine) *hi = l + 1;
    if (anchor >= rend && ev->rank != ev->size - 1) break;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* "A,B" from the names of the traits in TRAITS (all model traits when NULL). */
static PetscErrorCode TraitList(Model model, PetscInt ntraits, const PetscInt traits[], char list[], size_t size)
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
static PetscErrorCode ColumnList(Model model, PetscInt ncoef, char list[], size_t size)
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
static PetscErrorCode EffectValues(Evaluation ev, PetscInt e, PetscBool groups, const PetscScalar *x, PetscInt rstart, PetscInt rend, PetscInt *lo,
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
  PetscCall(BlockLocalLevels(ev, block, rstart, rend, n, lo, hi));
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

/* Collective. Inbreeding coefficients of the animals LO..HI-1 (held by other ranks after PedigreeDistribute()). */
static PetscErrorCode LevelInbreeding(Evaluation ev, PetscInt lo, PetscInt hi, PetscReal **F)
{
  PetscInt         start, n;
  const PetscReal *inbreeding;
  Vec              from, to;
  IS               is;
  VecScatter       scatter;

  PetscFunctionBeginUser;
  PetscCall(PedigreeGetLocal(ev->pedigree, &start, &n, NULL, NULL, NULL, &inbreeding));
  PetscCall(PetscMalloc1(hi - lo + 1, F));
  PetscCall(VecCreateMPIWithArray(ev->comm, 1, n, PETSC_DECIDE, (const PetscScalar *)inbreeding, &from));
  PetscCall(VecCreateSeqWithArray(PETSC_COMM_SELF, 1, hi - lo, (PetscScalar *)*F, &to));
  PetscCall(ISCreateStride(PETSC_COMM_SELF, hi - lo, lo, 1, &is));
  PetscCall(VecScatterCreate(from, is, to, NULL, &scatter));
  PetscCall(VecScatterBegin(scatter, from, to, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(scatter, from, to, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterDestroy(&scatter));
  PetscCall(ISDestroy(&is));
  PetscCall(VecDestroy(&to));
  PetscCall(VecDestroy(&from));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The reliability 1 - PEV / VARIANCE, in [0, 1]. Exact PEV never exceeds the prior variance but for
   rounding; a sampled one can (its relative error is sqrt(2/N)): such a PEV is set to the prior variance,
   its reliability to 0, and counted (ev->pev_clipped, in the summary). NaN (not estimable) stays NaN. */
static PetscErrorCode Reliability(Evaluation ev, PetscReal variance, PetscReal *pev, PetscReal *sep, PetscReal *reliability)
{
  PetscFunctionBeginUser;
  if (PetscIsNanReal(*pev) || !(variance > 0)) {
    *reliability = NAN;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  *reliability = 1 - *pev / variance;
  if (*reliability < 0) {
    if (*reliability < -1e-9) ev->pev_clipped++; /* beyond rounding */
    *reliability = 0;
    *pev         = variance;
    *sep         = PetscSqrtReal(variance);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. This rank's rows of the accuracy of effect E (or of its GROUPS), from diag(C^-1): pev, sep and,
   for random effects, reliability = 1 - pev / ((1 + F) sigma2), sigma2 the effect's G0 diagonal for the
   column (trait, coefficient), F = 0 for iid effects (RELIABILITY NULL otherwise). */
static PetscErrorCode EffectAccuracy(Evaluation ev, PetscInt e, PetscBool groups, PetscInt rstart, PetscInt rend, PetscReal **pev, PetscReal **sep,
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
  PetscCall(EffectValues(ev, e, groups, d, rstart, rend, &lo, &hi, pev));
  PetscCall(VecRestoreArrayRead(ev->pev, &d));
  PetscCall(PetscMalloc1((hi - lo) * columns + 1, sep));
  for (PetscInt k = 0; k < (hi - lo) * columns; k++) {
    if ((*pev)[k] < 0 && (*pev)[k] > -1e-12) (*pev)[k] = 0; /* rounding of an exact 0 */
    (*sep)[k] = PetscSqrtReal((*pev)[k]);                   /* NaN for a level not estimable, or a negative PEV */
  }
  *reliability = NULL;
  if (effect->kind == MODEL_EFFECT_RANDOM && !groups) {
    const ModelGroup *group;
    PetscReal        *F = NULL;
    PetscCall(ModelGetGroup(ev->model, effect->group, &group));
    if (effect->structure == MODEL_STRUCTURE_PEDIGREE) PetscCall(LevelInbreeding(ev, lo, hi, &F));
    PetscCall(PetscCalloc1((hi - lo) * columns + 1, reliability));
    for (PetscInt l = lo; l < hi; l++)
      for (PetscInt t = 0; t < ntraits; t++) {
        PetscInt i = ModelEffectTraitPosition(effect, t);
        if (i < 0) continue;
        for (PetscInt c = 0; c < ncoef; c++) {
          PetscInt  k = effect->position + i * ncoef + c, at = (l - lo) * columns + t * ncoef + c;
          PetscReal variance = group->covariance[k * group->dim + k] * (1 + (F ? F[l - lo] : 0));
          PetscCall(Reliability(ev, variance, &(*pev)[at], &(*sep)[at], &(*reliability)[at]));
        }
      }
    PetscCall(PetscFree(F));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationGetSocialGroupSize(Evaluation ev, PetscReal *n)
{
  PetscInt           social;
  const ModelEffect *effect;
  RecordsStats       stats;

  PetscFunctionBeginUser;
  *n = 0;
  PetscCall(ModelGetSocialEffect(ev->model, &social, NULL));
  if (social < 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetEffect(ev->model, social, &effect));
  PetscCall(RecordsGetStats(ev->records, &stats));
  *n = effect->social_size > 0 ? effect->social_size : stats.social_groups ? (PetscReal)stats.social_members / (PetscReal)stats.social_groups : 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The n of the total breeding value (2 when the data have no group at all). */
static PetscErrorCode SocialGroupSize(Evaluation ev, PetscReal *n)
{
  PetscFunctionBeginUser;
  PetscCall(EvaluationGetSocialGroupSize(ev, n));
  if (*n == 0) *n = 2;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. /solutions/tbv: the total breeding value direct + k social, k = (n-1)^(1-dilution) (what an
   animal adds to its own record and, through its social effect, to its n-1 mates'), for every animal and
   trait; with PEV its pev = PEV_d + k^2 PEV_s + 2k cov(d, s) (from the PEV blocks), sep and reliability
   1 - pev / ((1+F) var), var = G0_dd + k^2 G0_ss + 2k G0_ds. */
static PetscErrorCode WriteTotalBreedingValue(Evaluation ev, Output output, PetscReal *const values[], const PetscInt lo[], const PetscInt hi[])
{
  PetscInt           social, direct, ntraits, nl, columns;
  const ModelEffect *es, *ed;
  const ModelGroup  *group;
  PetscReal          n, k, *total, *pev = NULL, *sep = NULL, *reliability = NULL, *F = NULL;
  OutputEffect       out = {0};
  char               traits[4096], names[8192];

  PetscFunctionBeginUser;
  PetscCall(ModelGetSocialEffect(ev->model, &social, &direct));
  if (social < 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(ModelGetEffect(ev->model, social, &es));
  PetscCall(ModelGetEffect(ev->model, direct, &ed));
  PetscCall(ModelGetGroup(ev->model, es->group, &group));
  PetscCall(SocialGroupSize(ev, &n));
  k       = PetscPowReal(n - 1, 1 - es->dilution);
  nl      = hi[social] - lo[social];
  columns = ntraits;
  PetscCheck(lo[social] == lo[direct] && hi[social] == hi[direct], PETSC_COMM_SELF, PETSC_ERR_PLIB, "direct and social levels differ");
  PetscCall(PetscCalloc1(nl * columns + 1, &total));
  for (PetscInt l = 0; l < nl; l++)
    for (PetscInt t = 0; t < ntraits; t++) total[l * columns + t] = values[direct][l * columns + t] + k * values[social][l * columns + t];
  if (ev->pev_block && ev->pev_block[es->group]) {
    const PetscReal *block = ev->pev_block[es->group], *G = group->covariance;
    const PetscInt   dim = group->dim;
    if (es->structure == MODEL_STRUCTURE_PEDIGREE) PetscCall(LevelInbreeding(ev, lo[social], hi[social], &F));
    PetscCall(PetscCalloc3(nl * columns + 1, &pev, nl * columns + 1, &sep, nl * columns + 1, &reliability));
    for (PetscInt l = 0; l < nl; l++)
      for (PetscInt t = 0; t < ntraits; t++) {
        PetscInt         i = ModelEffectTraitPosition(es, t), p, q, at = l * columns + t;
        const PetscReal *b = block + l * dim * dim;
        PetscReal        variance;
        if (i < 0 || ModelEffectTraitPosition(ed, t) < 0) continue;
        p        = ed->position + ModelEffectTraitPosition(ed, t);
        q        = es->position + i;
        pev[at]  = b[p * dim + p] + k * k * b[q * dim + q] + 2 * k * b[p * dim + q];
        variance = (G[p * dim + p] + k * k * G[q * dim + q] + 2 * k * G[p * dim + q]) * (1 + (F ? F[l] : 0));
        if (pev[at] < 0 && pev[at] > -1e-12 * variance) pev[at] = 0;
        sep[at] = PetscSqrtReal(pev[at]);
        PetscCall(Reliability(ev, variance, &pev[at], &sep[at], &reliability[at]));
      }
  }
  PetscCall(TraitList(ev->model, es->ntraits, es->traits, traits, sizeof(traits)));
  PetscCall(ColumnList(ev->model, 1, names, sizeof(names)));
  out.name        = "tbv";
  out.kind        = "total";
  out.structure   = ModelStructureNames[es->structure];
  out.ncolumns    = columns;
  out.traits      = traits;
  out.columns     = names;
  out.covariate   = "";
  out.legendre    = -1;
  out.level_start = lo[social];
  out.level_count = nl;
  out.values      = total;
  out.pev         = pev;
  out.sep         = sep;
  out.reliability = reliability;
  PetscCall(RecordsGetLevels(ev->records, social, &out.nlevels, &out.labels));
  if (es->structure == MODEL_STRUCTURE_PEDIGREE)
    PetscCall(PedigreeGetLocal(ev->pedigree, &out.inbreeding_start, &out.inbreeding_count, NULL, NULL, NULL, &out.inbreeding));
  PetscCall(OutputWriteEffect(output, &out));
  PetscCall(OutputSetAttribute(output, "/solutions/tbv", "group_size", OUTPUT_REAL, &n));
  PetscCall(OutputSetAttribute(output, "/solutions/tbv", "dilution", OUTPUT_REAL, &es->dilution));
  PetscCall(OutputSetAttribute(output, "/solutions/tbv", "social_coefficient", OUTPUT_REAL, &k));
  PetscCall(OutputSetAttribute(output, "/solutions/tbv", "direct", OUTPUT_STRING, ed->name));
  PetscCall(OutputSetAttribute(output, "/solutions/tbv", "social", OUTPUT_STRING, es->name));
  PetscCall(PetscFree(total));
  PetscCall(PetscFree3(pev, sep, reliability));
  PetscCall(PetscFree(F));
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
    if (effect->structure == MODEL_STRUCTURE_PEDIGREE) PetscCall(OutputSetAttribute(output, group, "records_not_in_pedigree", OUTPUT_INT, &ls.not_in_pedigree));
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

static PetscErrorCode MaxOverRanks(Evaluation ev, PetscReal local[], PetscReal global[], PetscInt n)
{
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(local, global, (PetscMPIInt)n, MPIU_REAL, MPI_MAX, ev->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteContents(Evaluation ev, Output output, double start)
{
  PetscInt           neffects, ntraits, rstart, rend;
  PetscReal          shift[MODEL_MAX_TRAITS] = {0}, seconds[HENDERSON_NUM_PHASES], total = 0, residual;
  const PetscReal   *R0;
  const PetscScalar *x;
  const char        *text, *path, *trait;
  PetscInt64         value;
  RecordsStats       rstats;
  MMEStats           mstats;
  PetscReal        **values;
  PetscInt          *lo, *hi;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(VecGetOwnershipRange(ev->x, &rstart, &rend));
  PetscCall(VecGetArrayRead(ev->x, &x));
  ev->pev_clipped = 0;
  PetscCall(PetscCalloc3(neffects, &values, neffects, &lo, neffects, &hi));
  for (PetscInt e = 0; e < neffects; e++) PetscCall(EffectValues(ev, e, PETSC_FALSE, x, rstart, rend, &lo[e], &hi[e], &values[e]));
  /* Covariates in the equations are (x - centre) / scale: back to raw units. A plain covariate's
     b centre / scale goes to the effect that absorbs the mean of each trait (estimable functions
     do not change). */
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect     *effect;
    const EquationsEffect *layout;
    PetscReal              centre, scale, local[MODEL_MAX_TRAITS] = {0};
    PetscCall(ModelGetEffect(ev->model, e, &effect));
    if (effect->kind != MODEL_EFFECT_COVARIATE || effect->legendre >= 0) continue;
    PetscCall(EquationsGetEffect(ev->equations, e, &layout));
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
    PetscCall(MeanEffect(ev, t, &m, &layout, &block, &i));
    if (m < 0) continue;
    for (PetscInt l = lo[m]; l < hi[m]; l++)
      if (EquationsBlockEquation(block, l, i) >= 0) values[m][(l - lo[m]) * ntraits + t] -= shift[t];
  }

  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect     *effect;
    const EquationsEffect *layout;
    OutputEffect           out = {0};
    char                   traits[4096], columns[8192], name[MODEL_MAX_NAME + 16];
    PetscInt               constrained[MODEL_MAX_TRAITS];
    LabelTable             covariate_label = NULL;
    PetscReal             *pev = NULL, *sep = NULL, *reliability = NULL;

    PetscCall(ModelGetEffect(ev->model, e, &effect));
    PetscCall(EquationsGetEffect(ev->equations, e, &layout));
    PetscCall(TraitList(ev->model, effect->ntraits, effect->traits, traits, sizeof(traits)));
    PetscCall(ColumnList(ev->model, layout->ncoef, columns, sizeof(columns)));
    for (PetscInt t = 0; t < ntraits; t++) {
      PetscInt i     = ModelEffectTraitPosition(effect, t);
      constrained[t] = -1;
      if (i >= 0 && effect->kind == MODEL_EFFECT_FIXED) PetscCall(EquationsGetConstrainedLevel(ev->equations, e, i, &constrained[t]));
    }
    out.name      = effect->name;
    out.kind      = ModelEffectKindNames[effect->kind];
    out.structure = ModelStructureNames[effect->structure];
    out.ncolumns  = ntraits * layout->ncoef;
    out.traits    = traits;
    out.columns   = columns;
    out.covariate = effect->covariate;
    out.legendre  = effect->legendre;
    if (effect->covariate[0]) PetscCall(RecordsGetLegendreRange(ev->records, e, out.range));
    if (effect->kind == MODEL_EFFECT_FIXED) {
      out.nconstrained = ntraits;
      out.constrained  = constrained;
    }
    if (effect->kind == MODEL_EFFECT_RANDOM) {
      const ModelGroup *group;
      PetscCall(ModelGetGroup(ev->model, effect->group, &group));
      out.ncovariance = group->dim * group->dim;
      out.covariance  = group->covariance;
    }
    PetscCall(RecordsGetLevels(ev->records, e, &out.nlevels, &out.labels));
    if (ev->rank == 0 && !out.labels) { /* a plain covariate: one level, its name */
      PetscCall(LabelTableCreate(&covariate_label));
      PetscCall(LabelTableInsert(covariate_label, effect->name, strlen(effect->name), NULL, NULL));
      out.labels = covariate_label;
    }
    out.level_start = lo[e];
    out.level_count = hi[e] - lo[e];
    out.values      = values[e];
    if (effect->structure == MODEL_STRUCTURE_PEDIGREE) {
      PetscCall(PedigreeGetLocal(ev->pedigree, &out.inbreeding_start, &out.inbreeding_count, NULL, NULL, NULL, &out.inbreeding));
      PetscCall(PedigreeGetLocalLines(ev->pedigree, &out.pedigree_line));
    }
    if (ev->pev) PetscCall(EffectAccuracy(ev, e, PETSC_FALSE, rstart, rend, &pev, &sep, &reliability));
    if (ev->pev_block && effect->kind == MODEL_EFFECT_RANDOM) {
      const ModelGroup *group;
      PetscCall(ModelGetGroup(ev->model, effect->group, &group));
      if (group->first == e && group->dim > 1) {
        out.pev_block = ev->pev_block[effect->group];
        out.block_dim = group->dim;
      }
    }
    out.pev         = pev;
    out.sep         = sep;
    out.reliability = reliability;
    PetscCall(OutputWriteEffect(output, &out));
    PetscCall(PetscFree(pev));
    PetscCall(PetscFree(sep));
    PetscCall(PetscFree(reliability));
    PetscCall(LabelTableDestroy(&covariate_label));
    if (layout->group_block >= 0) {
      /* the unknown-parent groups of a pedigree effect */
      PetscReal *gvalues;
      PetscInt   glo, ghi;
      PetscCall(EffectValues(ev, e, PETSC_TRUE, x, rstart, rend, &glo, &ghi, &gvalues));
      snprintf(name, sizeof(name), "%s_groups", effect->name);
      out.name             = name;
      out.kind             = "groups";
      out.inbreeding       = NULL;
      out.pedigree_line    = NULL;
      out.inbreeding_count = 0;
      PetscCall(PedigreeGetGroupLabels(ev->pedigree, &out.labels));
      if (ev->rank) out.labels = NULL;
      PetscCall(LabelTableGetSize(out.labels ? out.labels : NULL, &out.nlevels));
      PetscCallMPI(MPI_Bcast(&out.nlevels, 1, MPIU_INT, 0, ev->comm));
      out.level_start = glo;
      out.level_count = ghi - glo;
      out.values      = gvalues;
      if (ev->pev) PetscCall(EffectAccuracy(ev, e, PETSC_TRUE, rstart, rend, &pev, &sep, &reliability));
      out.pev         = pev;
      out.sep         = sep;
      out.reliability = NULL;
      out.pev_block   = NULL;
      PetscCall(OutputWriteEffect(output, &out));
      PetscCall(PetscFree(pev));
      PetscCall(PetscFree(sep));
      PetscCall(PetscFree(reliability));
      PetscCall(PetscFree(gvalues));
    }
  }
  PetscCall(WriteTotalBreedingValue(ev, output, values, lo, hi));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &ev->pev_clipped, 1, MPIU_INT, MPI_SUM, ev->comm));
  if (ev->pev_clipped)
    PetscCall(EvaluationWarn(ev,
                             "%" PetscInt_FMT " sampled PEV exceeded their prior variance (sampling error, %.0f %% with %" PetscInt_FMT
                             " samples): set to it, reliability 0 (more samples: -pev_samples)",
                             ev->pev_clipped, 100 * (double)PetscSqrtReal(2.0 / ev->pev_samples), ev->pev_samples));
  PetscCall(VecRestoreArrayRead(ev->x, &x));
  for (PetscInt e = 0; e < neffects; e++) PetscCall(PetscFree(values[e]));
  PetscCall(PetscFree3(values, lo, hi));

  /* provenance */
  PetscCall(ModelGetText(ev->model, &text));
  PetscCall(ModelGetPath(ev->model, &path));
  {
    static char traits[4096];
    PetscCall(TraitList(ev->model, ntraits, NULL, traits, sizeof(traits)));
    trait = traits;
  }
  PetscCall(ModelGetResidual(ev->model, &R0));
  residual = R0[0];
  PetscCall(OutputSetAttribute(output, "/", "program", OUTPUT_STRING, "henderson"));
  PetscCall(OutputSetAttribute(output, "/", "version", OUTPUT_STRING, HendersonVersion()));
  PetscCall(OutputSetAttribute(output, "/", "model_path", OUTPUT_STRING, path));
  PetscCall(OutputSetAttribute(output, "/", "model", OUTPUT_STRING, text));
  PetscCall(OutputSetAttribute(output, "/", "trait", OUTPUT_STRING, trait));
  PetscCall(OutputSetAttribute(output, "/", "traits", OUTPUT_STRING, trait));
  if (ntraits == 1) PetscCall(OutputSetAttribute(output, "/", "residual_variance", OUTPUT_REAL, &residual));
  PetscCall(OutputSetAttributeArray(output, "/", "residual_covariance", OUTPUT_REAL, ntraits * ntraits, R0));

  PetscCall(RecordsGetStats(ev->records, &rstats));
  PetscCall(ModelGetDataPath(ev->model, &path));
  PetscCall(OutputSetAttribute(output, "/data", "path", OUTPUT_STRING, path));
  PetscCall(OutputSetAttribute(output, "/data", "lines", OUTPUT_INT, &rstats.lines));
  PetscCall(OutputSetAttribute(output, "/data", "records_used", OUTPUT_INT, &rstats.used));
  PetscCall(OutputSetAttribute(output, "/data", "records_skipped_missing_trait", OUTPUT_INT, &rstats.missing_trait));
  PetscCall(OutputSetAttribute(output, "/data", "records_skipped_missing_covariate", OUTPUT_INT, &rstats.missing_covariate));
  PetscCall(WriteDataStats(ev, output));
  {
    PetscInt social;
    PetscCall(ModelGetSocialEffect(ev->model, &social, NULL));
    if (social >= 0) {
      PetscCall(OutputSetAttribute(output, "/data", "social_groups", OUTPUT_INT, &rstats.social_groups));
      PetscCall(OutputSetAttribute(output, "/data", "social_members", OUTPUT_INT, &rstats.social_members));
      PetscCall(OutputSetAttribute(output, "/data", "social_members_without_record", OUTPUT_INT, &rstats.social_without_record));
      PetscCall(OutputSetAttribute(output, "/data", "social_members_without_id", OUTPUT_INT, &rstats.social_unknown_animal));
      PetscCall(OutputSetAttribute(output, "/data", "social_members_not_in_pedigree", OUTPUT_INT, &rstats.social_not_in_pedigree));
      PetscCall(OutputSetAttribute(output, "/data", "social_records_without_group", OUTPUT_INT, &rstats.social_no_group));
      PetscCall(OutputSetAttribute(output, "/data", "social_groups_of_one", OUTPUT_INT, &rstats.social_alone));
      PetscCall(OutputSetAttribute(output, "/data", "social_group_size_min", OUTPUT_INT, &rstats.social_min));
      PetscCall(OutputSetAttribute(output, "/data", "social_group_size_max", OUTPUT_INT, &rstats.social_max));
    }
  }
  if (ev->pedigree) {
    PedigreeStats s;
    PetscCall(PedigreeGetStats(ev->pedigree, &s));
    PetscCall(ModelGetPedigreePath(ev->model, &path));
    PetscCall(OutputSetAttribute(output, "/pedigree", "path", OUTPUT_STRING, path));
#define SET_INT(name, v)                                                                                                                                       \
  do {                                                                                                                                                         \
    value = (PetscInt64)(v);                                                                                                                                   \
    PetscCall(OutputSetAttribute(output, "/pedigree", name, OUTPUT_INT, &value));                                                                              \
  } while (0)
    SET_INT("animals", s.animals);
    SET_INT("listed", s.listed);
    SET_INT("parents_added", s.parents_added);
    SET_INT("data_added", s.data_added);
    SET_INT("founders", s.founders);
    SET_INT("generations", s.generations);
    SET_INT("inbred", s.inbred);
    SET_INT("groups", s.groups);
    SET_INT("header", s.header);
    SET_INT("mendelian_floored", s.mendelian_floored);
#undef SET_INT
    if (s.header) PetscCall(OutputSetAttribute(output, "/pedigree", "header_line", OUTPUT_STRING, s.header_text));
    PetscCall(OutputSetAttribute(output, "/pedigree", "mean_inbreeding", OUTPUT_REAL, &s.mean_inbreeding));
    PetscCall(OutputSetAttribute(output, "/pedigree", "max_inbreeding", OUTPUT_REAL, &s.max_inbreeding));
  }

  PetscCall(MMEGetStats(ev->mme, &mstats));
#define SET_INT(name, v)                                                                                                                                       \
  do {                                                                                                                                                         \
    value = (PetscInt64)(v);                                                                                                                                   \
    PetscCall(OutputSetAttribute(output, "/solver", name, OUTPUT_INT, &value));                                                                                \
  } while (0)
  SET_INT("iterations", ev->result.iterations);
  SET_INT("converged", ev->result.converged);
  SET_INT("equations", mstats.equations);
  SET_INT("nonzeros", mstats.nonzeros);
  SET_INT("ranks", ev->size);
  SET_INT("operator_bytes", mstats.operator_bytes);
  SET_INT("ghosts", mstats.ghosts);
  SET_INT("ghosts_max", mstats.ghosts_max);
  SET_INT("neighbours_max", mstats.neighbours_max);
  SET_INT("messages", mstats.messages);
  SET_INT("residual_replacements", ev->result.replacements);
  SET_INT("rank_deficiency", ev->deficiency);
  if (ev->pev) SET_INT("pev_nullity", ev->pev_nullity);
  if (ev->pev) SET_INT("pev_clipped", ev->pev_clipped);
  if (ev->pev && ev->pev_method == PEV_METHOD_SAMPLE) SET_INT("pev_samples_not_converged", ev->pev_failed);
#undef SET_INT
  PetscCall(OutputSetAttribute(output, "/solver", "operator", OUTPUT_STRING, (void *)MMEOperatorTypes[mstats.operator]));
  PetscCall(OutputSetAttribute(output, "/solver", "relative_residual", OUTPUT_REAL, &ev->result.relative_residual));
  PetscCall(OutputSetAttribute(output, "/solver", "rtol", OUTPUT_REAL, &ev->result.rtol));
  PetscCall(OutputSetAttribute(output, "/solver", "ksp_type", OUTPUT_STRING, ev->result.ksp_type));
  PetscCall(OutputSetAttribute(output, "/solver", "pc_type", OUTPUT_STRING, ev->result.pc_type));
  PetscCall(OutputSetAttribute(output, "/solver", "reason", OUTPUT_STRING, ev->result.reason));
  /* the write phase is timed up to here */
  ev->seconds[HENDERSON_PHASE_WRITE] = (PetscReal)(HendersonSeconds() - start);
  PetscCall(MaxOverRanks(ev, ev->seconds, seconds, HENDERSON_NUM_PHASES));
  for (int p = 0; p < HENDERSON_NUM_PHASES; p++) {
    char name[64];
    snprintf(name, sizeof(name), "seconds_%s", HendersonPhaseNames[p]);
    PetscCall(OutputSetAttribute(output, "/solver", name, OUTPUT_REAL, &seconds[p]));
    total += seconds[p];
  }
  PetscCall(OutputSetAttribute(output, "/solver", "seconds_total", OUTPUT_REAL, &total));
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
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_WRITE, &start));
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
  PetscCall(PhaseEnd(ev, HENDERSON_PHASE_WRITE, start));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationRun(Evaluation ev, const char model_path[])
{
  PetscFunctionBeginUser;
  PetscCall(EvaluationLoadModel(ev, model_path));
  PetscCall(EvaluationRead(ev));
  PetscCall(EvaluationPedigree(ev));
  PetscCall(EvaluationNumber(ev));
  PetscCall(EvaluationAssemble(ev));
  PetscCall(EvaluationSolve(ev));
  PetscCall(EvaluationPEV(ev));
  PetscCall(EvaluationWrite(ev, NULL));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A number as a person writes it (plain C: PETSc's %g writes 15 as "15."). */
static void Number(char buffer[], size_t size, PetscReal v)
{
  snprintf(buffer, size, "%.6g", (double)v);
}

/* Per trait: the values used, their mean, SD, smallest and largest. */
static PetscErrorCode ViewTraits(Evaluation ev, PetscViewer viewer)
{
  PetscInt     ntraits;
  RecordsStats st;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumTraits(ev->model, &ntraits));
  PetscCall(RecordsGetStats(ev->records, &st));
  for (PetscInt t = 0; t < ntraits; t++) {
    const char *name;
    char        v[4][32];
    PetscCall(ModelGetTrait(ev->model, t, &name, NULL));
    Number(v[0], sizeof(v[0]), st.mean[t]);
    Number(v[1], sizeof(v[1]), st.sd[t]);
    Number(v[2], sizeof(v[2]), st.min[t]);
    Number(v[3], sizeof(v[3]), st.max[t]);
    PetscCall(PetscViewerASCIIPrintf(viewer, "  %-11s %s: %" PetscInt64_FMT " values, mean %s, SD %s, min %s, max %s\n",
                                     t ? "" : (ntraits > 1 ? "traits" : "trait"), name, st.values[t], v[0], v[1], v[2], v[3]));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Per class effect: its levels and how many records each has (smallest, median, largest among the
   levels with records); for a pedigree effect also the records whose animal is not in the pedigree. */
static PetscErrorCode ViewEffects(Evaluation ev, PetscViewer viewer)
{
  PetscInt neffects, shown = 0;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect *effect;
    RecordsLevelStats  ls;
    PetscBool          has;
    char               with[64] = "", missing[128] = "";
    PetscCall(ModelGetEffect(ev->model, e, &effect));
    PetscCall(RecordsGetLevelStats(ev->records, e, &has, &ls));
    if (!has) continue;
    if (ls.levels_with_records != ls.levels) snprintf(with, sizeof(with), ", %" PetscInt_FMT " with records", ls.levels_with_records);
    if (effect->structure == MODEL_STRUCTURE_PEDIGREE)
      snprintf(missing, sizeof(missing), "; %" PetscInt64_FMT " of %" PetscInt64_FMT " records name animals not in the pedigree", ls.not_in_pedigree,
               ls.records);
    PetscCall(PetscViewerASCIIPrintf(viewer, "  %-11s %s: %" PetscInt_FMT " levels%s; records per level %" PetscInt64_FMT " / %.4g / %" PetscInt64_FMT "%s\n",
                                     shown++ ? "" : "effects", effect->name, ls.levels, with, ls.smallest, (double)ls.median, ls.largest, missing));
  }
  if (shown) PetscCall(PetscViewerASCIIPrintf(viewer, "              (records per level: smallest / median / largest, over the levels with records)\n"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationView(Evaluation ev, PetscViewer viewer)
{
  RecordsStats   rstats;
  MMEStats       mstats;
  PetscReal      seconds[HENDERSON_NUM_PHASES], total = 0;
  PetscLogDouble peak, peak_max, peak_sum;
  const char    *path;
  PetscInt       neffects;

  PetscFunctionBeginUser;
  PetscCall(ModelGetPath(ev->model, &path));
  PetscCall(PetscViewerASCIIPrintf(viewer, "henderson %s: %s on %d rank%s\n", HendersonVersion(), path, (int)ev->size, ev->size == 1 ? "" : "s"));
  PetscCall(RecordsGetStats(ev->records, &rstats));
  PetscCall(ModelGetDataPath(ev->model, &path));
  PetscCall(PetscViewerASCIIPrintf(viewer,
                                   "  data        %s: %" PetscInt64_FMT " lines, %" PetscInt64_FMT " records used, %" PetscInt64_FMT
                                   " skipped (%" PetscInt64_FMT " trait missing, %" PetscInt64_FMT " covariate or weight missing)\n",
                                   path, rstats.lines, rstats.used, rstats.missing_trait + rstats.missing_covariate, rstats.missing_trait,
                                   rstats.missing_covariate));
  PetscCall(ViewTraits(ev, viewer));
  PetscCall(ViewEffects(ev, viewer));
  {
    PetscInt social;
    PetscCall(ModelGetSocialEffect(ev->model, &social, NULL));
    if (social >= 0) {
      const ModelEffect *effect;
      PetscReal          n;
      PetscCall(ModelGetEffect(ev->model, social, &effect));
      PetscCall(SocialGroupSize(ev, &n));
      PetscCall(PetscViewerASCIIPrintf(viewer,
                                       "  social      groups '%s': %" PetscInt64_FMT " of %" PetscInt64_FMT " to %" PetscInt64_FMT " members (%" PetscInt64_FMT
                                       " of one); %" PetscInt64_FMT " members: %" PetscInt64_FMT " without a record, %" PetscInt64_FMT
                                       " without an ID, %" PetscInt64_FMT " not in the pedigree (founders); %" PetscInt64_FMT " records without a group\n",
                                       effect->social_column, rstats.social_groups, rstats.social_min, rstats.social_max, rstats.social_alone,
                                       rstats.social_members, rstats.social_without_record, rstats.social_unknown_animal, rstats.social_not_in_pedigree,
                                       rstats.social_no_group));
      char numbers[128]; /* plain C formatting: PETSc's %g writes 1 as "1." */
      snprintf(numbers, sizeof(numbers), "mates' effects times (1/(n-1))^%g; tbv = direct + %g x", (double)effect->dilution,
               (double)PetscPowReal(n - 1, 1 - effect->dilution));
      PetscCall(PetscViewerASCIIPrintf(viewer, "              %s %s (n = %.4g%s)\n", numbers, effect->name, (double)n,
                                       effect->social_size > 0 ? "" : ", the mean group size"));
    }
  }
  if (ev->pedigree) {
    PedigreeStats s;
    PetscCall(PedigreeGetStats(ev->pedigree, &s));
    PetscCall(ModelGetPedigreePath(ev->model, &path));
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "  pedigree    %s: %" PetscInt_FMT " animals = %" PetscInt_FMT " listed + %" PetscInt_FMT
                                     " parents not listed + %" PetscInt_FMT " with records only (both added as founders)\n",
                                     path, s.animals, s.listed, s.parents_added, s.data_added));
    if (s.header)
      PetscCall(PetscViewerASCIIPrintf(viewer, "              first line '%s' read as a header%s\n", s.header_text,
                                       s.header_automatic ? " (decided from the file; 'noheader' on the pedigree line says otherwise)" : ""));
    PetscCall(PetscViewerASCIIPrintf(
        viewer, "              %" PetscInt_FMT " founders, %" PetscInt_FMT " generations; inbreeding mean %.6f, max %.6f, %" PetscInt_FMT " inbred%s\n",
        s.founders, s.generations, (double)s.mean_inbreeding, (double)s.max_inbreeding, s.inbred, s.duplicates ? "; repeated identical lines ignored" : ""));
    if (s.mendelian_floored)
      PetscCall(PetscViewerASCIIPrintf(viewer,
                                       "              warning: %" PetscInt_FMT
                                       " animals have parents with F near 1: their Mendelian sampling variance is raised to %g"
                                       " (-pedigree_min_mendelian)\n",
                                       s.mendelian_floored, (double)s.min_mendelian));
  }
  PetscCall(MMEGetStats(ev->mme, &mstats));
  if (mstats.operator== MME_OPERATOR_ASSEMBLED)
    PetscCall(PetscViewerASCIIPrintf(viewer, "  equations   %" PetscInt_FMT ", nonzeros %" PetscInt64_FMT ":", mstats.equations, mstats.nonzeros));
  else
    PetscCall(PetscViewerASCIIPrintf(viewer, "  equations   %" PetscInt_FMT " (C from %" PetscInt64_FMT " records and the pedigree):", mstats.equations,
                                     mstats.records));
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect *effect;
    PetscInt           nlevels, constrained = 0;
    PetscCall(ModelGetEffect(ev->model, e, &effect));
    PetscCall(RecordsGetLevels(ev->records, e, &nlevels, NULL));
    for (PetscInt i = 0; i < effect->ntraits && effect->kind == MODEL_EFFECT_FIXED; i++) {
      PetscInt level;
      PetscCall(EquationsGetConstrainedLevel(ev->equations, e, i, &level));
      if (level >= 0) constrained++;
    }
    PetscCall(PetscViewerASCIIPrintf(viewer, " %s %" PetscInt_FMT "%s%s", effect->name, nlevels, constrained ? " (first level = 0)" : "",
                                     e + 1 < neffects ? "," : "\n"));
  }

  PetscCall(PetscViewerASCIIPrintf(viewer, "  solver      %s + %s: %" PetscInt_FMT " iterations, relative residual %.3e (rtol %.1e), %s\n", ev->result.ksp_type,
                                   ev->result.pc_type, ev->result.iterations, (double)ev->result.relative_residual, (double)ev->result.rtol,
                                   ev->result.converged ? "converged" : "NOT CONVERGED"));
  if (ev->pev) {
    PetscReal seconds;
    PetscCall(EvaluationGetPhaseSeconds(ev, HENDERSON_PHASE_PEV, &seconds));
    if (ev->pev_method == PEV_METHOD_EXACT)
      PetscCall(PetscViewerASCIIPrintf(viewer, "  pev         exact: the diagonal of C^-1 (MUMPS factorisation, selected inverse entries), %.3f s%s\n",
                                       (double)seconds, ev->pev_nullity ? "; C is singular: a generalised inverse, NaN where a level is not estimable" : ""));
    else
      PetscCall(PetscViewerASCIIPrintf(viewer,
                                       "  pev         sample: %" PetscInt_FMT " simulated data sets, %" PetscInt64_FMT
                                       " iterations in all, %.3f s; each PEV within about %.1f %% (one standard error)\n",
                                       ev->pev_samples, ev->pev_iterations, (double)seconds, 100 * (double)PetscSqrtReal(2.0 / ev->pev_samples)));
  }
  if (ev->resumed) PetscCall(PetscViewerASCIIPrintf(viewer, "  restart     went on from the checkpoint of an interrupted run\n"));
  if (ev->initial_path[0])
    PetscCall(PetscViewerASCIIPrintf(viewer, "  initial     %s: %" PetscInt_FMT " of %" PetscInt_FMT " levels found there (the others started from 0)\n",
                                     ev->initial_path, ev->initial_levels[1], ev->initial_levels[0]));
  PetscCall(MaxOverRanks(ev, ev->seconds, seconds, HENDERSON_NUM_PHASES));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  seconds    "));
  for (int p = 0; p < HENDERSON_NUM_PHASES; p++) {
    PetscCall(PetscViewerASCIIPrintf(viewer, " %s %.3f", HendersonPhaseNames[p], (double)seconds[p]));
    total += seconds[p];
  }
  PetscCall(PetscViewerASCIIPrintf(viewer, ", total %.3f\n", (double)total));
  PetscCall(HendersonPeakMemory(&peak));
  PetscCallMPI(MPI_Allreduce(&peak, &peak_max, 1, MPI_DOUBLE, MPI_MAX, ev->comm));
  PetscCallMPI(MPI_Allreduce(&peak, &peak_sum, 1, MPI_DOUBLE, MPI_SUM, ev->comm));
  PetscCall(
      PetscViewerASCIIPrintf(viewer, "  memory      peak %.1f MiB on the largest rank, %.1f MiB over all ranks\n", peak_max / 1048576.0, peak_sum / 1048576.0));
  if (ev->output_path[0])
    PetscCall(PetscViewerASCIIPrintf(viewer, "  output      %s%s\n", ev->output_path, ev->output_replaced ? " (replaced the file of an earlier run)" : ""));
  for (PetscInt k = 0; k < PetscMin(ev->nwarnings, EVALUATION_MAX_WARNINGS); k++)
    PetscCall(PetscViewerASCIIPrintf(viewer, "  %-11s %s\n", k ? "" : "warnings", ev->warnings[k]));
  if (ev->nwarnings > EVALUATION_MAX_WARNINGS)
    PetscCall(PetscViewerASCIIPrintf(viewer, "              ... and %" PetscInt_FMT " more\n", ev->nwarnings - EVALUATION_MAX_WARNINGS));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationGetModel(Evaluation ev, Model *model)
{
  PetscFunctionBeginUser;
  *model = ev->model;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationGetRecords(Evaluation ev, Records *records)
{
  PetscFunctionBeginUser;
  *records = ev->records;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationGetPedigree(Evaluation ev, Pedigree *pedigree)
{
  PetscFunctionBeginUser;
  *pedigree = ev->pedigree;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationGetEquations(Evaluation ev, Equations *equations)
{
  PetscFunctionBeginUser;
  *equations = ev->equations;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationGetMME(Evaluation ev, MME *mme)
{
  PetscFunctionBeginUser;
  *mme = ev->mme;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationGetSolution(Evaluation ev, Vec *x)
{
  PetscFunctionBeginUser;
  *x = ev->x;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationIsQuiet(Evaluation ev, PetscBool *quiet)
{
  PetscFunctionBeginUser;
  *quiet = ev->quiet;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationGetConverged(Evaluation ev, PetscBool *converged)
{
  PetscFunctionBeginUser;
  *converged = (PetscBool)(ev->result.converged && ev->pev_failed == 0);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationGetSolverResult(Evaluation ev, SolverResult *result)
{
  PetscFunctionBeginUser;
  *result = ev->result;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationGetPhaseSeconds(Evaluation ev, HendersonPhase phase, PetscReal *seconds)
{
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(&ev->seconds[phase], seconds, 1, MPIU_REAL, MPI_MAX, ev->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}
