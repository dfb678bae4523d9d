/* The evaluation: its life cycle, its options, the stages in order (evaluation.h), and the accessors. */
#include "evaluationimpl.h"
#include <string.h>

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
  PetscCall(MMEDestroy(&ev->mme)); /* before the relationships, which its operator uses */
  for (PetscInt g = 0; g < ev->nrel; g++) PetscCall(RelationshipDestroy(&ev->rel[g]));
  PetscCall(PetscFree(ev->rel));
  PetscCall(EquationsDestroy(&ev->equations));
  PetscCall(RecordsDestroy(&ev->records));
  PetscCall(PedigreeDestroy(&ev->pedigree));
  PetscCall(GenotypesDestroy(&ev->genotypes));
  PetscCall(ModelDestroy(&ev->model));
  PetscCall(PetscFree(*evaluation));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Each phase is a PetscLogEvent and a wall-clock interval. */
PetscErrorCode EvaluationPhaseBegin(Evaluation ev, HendersonPhase phase, double *start)
{
  *start = 0;
  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(HendersonPhaseEvents[phase], 0, 0, 0, 0));
  *start = HendersonSeconds();
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationPhaseEnd(Evaluation ev, HendersonPhase phase, double start)
{
  PetscFunctionBeginUser;
  ev->seconds[phase] += (PetscReal)(HendersonSeconds() - start);
  ev->ran[phase] = PETSC_TRUE;
  PetscCall(HendersonReleaseFreeMemory());
  {
    PetscLogDouble peak;
    PetscCall(HendersonPeakMemory(&peak));
    PetscCall(PetscInfo(NULL, "after %s: %.3f s, peak memory %.1f MiB\n", HendersonPhaseNames[phase], (double)ev->seconds[phase], peak / 1048576.0));
  }
  PetscCall(PetscLogEventEnd(HendersonPhaseEvents[phase], 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationSetFromOptions(Evaluation ev)
{
  PetscBool quiet = PETSC_FALSE;

  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(ev->order_by, "auto", sizeof(ev->order_by)));
  ev->estimable_check  = PETSC_TRUE;
  ev->pev_samples      = 100;
  ev->pev_seed         = 1;
  ev->pev_rounds       = 30;
  ev->pev_sample_block = 1;
  ev->pev_tol          = 1e-3;
  ev->rr_step          = 1;
  ev->fail_alone       = -1;
  PetscOptionsBegin(ev->comm, NULL, "Evaluation", "Evaluation");
  PetscCall(PetscOptionsEnum("-pev", "Prediction error variances and reliabilities", "EvaluationPEV", PEVMethods, (PetscEnum)ev->pev_method,
                             (PetscEnum *)&ev->pev_method, NULL));
  PetscCall(PetscOptionsInt("-pev_samples", "Simulated data sets of -pev sample", "EvaluationPEV", ev->pev_samples, &ev->pev_samples, NULL));
  PetscCall(PetscOptionsInt("-pev_seed", "Seed of the random numbers of -pev sample", "EvaluationPEV", ev->pev_seed, &ev->pev_seed, NULL));
  PetscCall(PetscOptionsInt("-pev_sample_block", "Simulated data sets of -pev sample solved together (CGs in lockstep, one block product a step)",
                            "EvaluationPEV", ev->pev_sample_block, &ev->pev_sample_block, NULL));
  PetscCall(PetscOptionsInt("-pev_rounds", "Most rounds of belief propagation of -pev approximate", "EvaluationPEV", ev->pev_rounds, &ev->pev_rounds, NULL));
  PetscCall(PetscOptionsReal("-pev_tol", "-pev approximate stops once no precision changes by more than this (relative) in a round", "EvaluationPEV",
                             ev->pev_tol, &ev->pev_tol, NULL));
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
  {
    PetscInt n = 2;
    PetscCall(PetscOptionsRealArray("-rr_range", "A,B: every random regression summed over its covariate's values A, A + S, ..., B (a 305-day yield: 5,305)",
                                    "EvaluationWrite", ev->rr_range, &n, &ev->rr_range_set));
    PetscCheck(!ev->rr_range_set || n == 2, ev->comm, PETSC_ERR_USER_INPUT, "-rr_range takes two numbers, A,B");
  }
  PetscCall(PetscOptionsReal("-rr_step", "S of -rr_range", "EvaluationWrite", ev->rr_step, &ev->rr_step, NULL));
  PetscCall(PetscOptionsBool("-henderson_quiet", "No summary", "EvaluationView", ev->quiet, &ev->quiet, NULL));
  PetscCall(PetscOptionsBool("-quiet", "No progress lines and no summary", "EvaluationView", quiet, &quiet, NULL));
  PetscCall(PetscOptionsBool("-estimable_check", "Look for a rank deficiency of the fixed effects (estimable.h) and name the effects", "EvaluationAssemble",
                             ev->estimable_check, &ev->estimable_check, NULL));
  PetscCall(
      PetscOptionsInt("-henderson_fail_alone", "Tests: this rank fails alone on entering the solve", "EvaluationSolve", ev->fail_alone, &ev->fail_alone, NULL));
  PetscOptionsEnd();
  ev->quiet = (PetscBool)(ev->quiet || quiet);
  PetscCheck(ev->pev_samples > 0, ev->comm, PETSC_ERR_USER_INPUT, "-pev_samples must be at least 1");
  PetscCheck(ev->pev_rounds > 0, ev->comm, PETSC_ERR_USER_INPUT, "-pev_rounds must be at least 1");
  PetscCheck(ev->pev_sample_block > 0, ev->comm, PETSC_ERR_USER_INPUT, "-pev_sample_block must be at least 1");
  PetscCheck(ev->pev_tol >= 0, ev->comm, PETSC_ERR_USER_INPUT, "-pev_tol must not be negative");
  PetscCheck(!ev->rr_range_set || ev->rr_range[1] >= ev->rr_range[0], ev->comm, PETSC_ERR_USER_INPUT, "-rr_range A,B needs A <= B");
  PetscCheck(ev->rr_step > 0, ev->comm, PETSC_ERR_USER_INPUT, "-rr_step must be positive");
  PetscCheck(ev->social_group_size == 0 || ev->social_group_size >= 2, ev->comm, PETSC_ERR_USER_INPUT, "-social_group_size must be at least 2");
  PetscCall(HendersonLogSetFromOptions(ev->comm));
  PetscCall(HendersonErrorSetFromOptions(ev->comm));
  PetscCall(OutputSetFromOptions(ev->comm));
  /* the objects of the later stages, made now so that their options are read before any work */
  if (!ev->pedigree) PetscCall(PedigreeCreate(ev->comm, &ev->pedigree));
  PetscCall(PedigreeSetFromOptions(ev->pedigree));
  if (!ev->mme) PetscCall(MMECreate(ev->comm, &ev->mme));
  PetscCall(MMESetFromOptions(ev->mme));
  if (!ev->solver) PetscCall(SolverCreate(ev->comm, &ev->solver));
  PetscCall(SolverSetFromOptions(ev->solver));
  ev->options_set = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One relationship per random group, of the type the model file names, with its options. */
static PetscErrorCode EvaluationCreateRelationships(Evaluation ev)
{
  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(ev->model, &ev->nrel));
  PetscCall(PetscCalloc1(ev->nrel + 1, &ev->rel));
  for (PetscInt g = 0; g < ev->nrel; g++) {
    PetscCall(RelationshipCreate(ev->comm, &ev->rel[g]));
    PetscCall(RelationshipSetGroup(ev->rel[g], ev->model, g));
    PetscCall(RelationshipSetTypeFromModel(ev->rel[g]));
    PetscCall(RelationshipSetFromOptions(ev->rel[g]));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The genotypes object of a model with a genotypes line, made with the model so that its options are read
   (and listed by -help) before the check for unused ones; loaded by EvaluationGenotypes(). */
static PetscErrorCode EvaluationCreateGenotypes(Evaluation ev)
{
  const ModelGenotypes *genotypes;

  PetscFunctionBeginUser;
  PetscCall(ModelGetGenotypes(ev->model, &genotypes));
  PetscCall(GenotypesDestroy(&ev->genotypes));
  if (!genotypes->line) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(GenotypesCreate(ev->comm, &ev->genotypes));
  PetscCall(GenotypesSetFromOptions(ev->genotypes));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationLoadModel(Evaluation ev, const char model_path[])
{
  double start;

  PetscFunctionBeginUser;
  PetscCall(EvaluationPhaseBegin(ev, HENDERSON_PHASE_READ, &start));
  PetscCall(ModelCreate(ev->comm, &ev->model));
  PetscCall(ModelLoad(ev->model, model_path));
  if (!ev->options_set) PetscCall(EvaluationSetFromOptions(ev));
  PetscCall(EvaluationCheckOptions(ev));
  PetscCall(EvaluationCreateRelationships(ev));
  PetscCall(EvaluationCreateGenotypes(ev));
  PetscCall(EvaluationPhaseEnd(ev, HENDERSON_PHASE_READ, start));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationRead(Evaluation ev)
{
  double start;

  PetscFunctionBeginUser;
  PetscCall(EvaluationPhaseBegin(ev, HENDERSON_PHASE_READ, &start));
  PetscCall(RecordsCreate(ev->comm, &ev->records));
  PetscCall(RecordsRead(ev->records, ev->model));
  PetscCall(EvaluationPhaseEnd(ev, HENDERSON_PHASE_READ, start));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The genotypes of the model's genotypes line, read and checked; the genotyped animals that the pedigree
   does not list become founders. */
static PetscErrorCode EvaluationGenotypes(Evaluation ev)
{
  const ModelGenotypes *genotypes;
  double                start;

  PetscFunctionBeginUser;
  PetscCall(ModelGetGenotypes(ev->model, &genotypes));
  if (!genotypes->line) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(EvaluationPhaseBegin(ev, HENDERSON_PHASE_GENOTYPES, &start));
  PetscCall(GenotypesLoad(ev->genotypes, ev->model));
  PetscCall(GenotypesAddToPedigree(ev->genotypes, ev->pedigree));
  PetscCall(EvaluationPhaseEnd(ev, HENDERSON_PHASE_GENOTYPES, start));
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
  PetscCall(EvaluationPhaseBegin(ev, HENDERSON_PHASE_PEDIGREE, &start));
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
  /* rank 0 needs every ID only to match -initial's: else a pedigree read by every rank leaves them with
     their owner ranks */
  PetscCall(PedigreeSetRootLabels(ev->pedigree, (PetscBool)(ev->initial_option[0] != 0)));
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
  PetscCall(EvaluationPhaseEnd(ev, HENDERSON_PHASE_PEDIGREE, start));
  PetscCall(EvaluationGenotypes(ev));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationNumber(Evaluation ev)
{
  double start;

  PetscFunctionBeginUser;
  PetscCall(EvaluationPhaseBegin(ev, HENDERSON_PHASE_NUMBER, &start));
  PetscCall(RecordsNumber(ev->records, ev->model, ev->pedigree));
  PetscCall(EvaluationPhaseEnd(ev, HENDERSON_PHASE_NUMBER, start));
  if (ev->pedigree) {
    /* inbreeding and A-inverse need every animal, the founders from the data included */
    PetscCall(EvaluationPhaseBegin(ev, HENDERSON_PHASE_PEDIGREE, &start));
    PetscCall(EvaluationPedigreeSetUp(ev));
    PetscCall(EvaluationPhaseEnd(ev, HENDERSON_PHASE_PEDIGREE, start));
    PetscCall(EvaluationPhaseBegin(ev, HENDERSON_PHASE_NUMBER, &start));
    PetscCall(OrderAnimals(ev->comm, ev->model, ev->records, ev->pedigree, ev->order_by));
    if (ev->genotypes) PetscCall(GenotypesNumber(ev->genotypes, ev->pedigree));
    PetscCall(EvaluationPhaseEnd(ev, HENDERSON_PHASE_NUMBER, start));
  }
  PetscCall(EvaluationPhaseBegin(ev, HENDERSON_PHASE_NUMBER, &start));
  PetscCall(RecordsComputeLevelStats(ev->records, ev->model));
  PetscCall(EvaluationCheckData(ev));
  PetscCall(EvaluationPhaseEnd(ev, HENDERSON_PHASE_NUMBER, start));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The form of C: the one asked for (-mme_operator), else the data operator unless the entries are needed
   -- by the preconditioner, by -pev exact, or by a caller that factors C (REML by AI or EM) -- or a
   relationship cannot be applied from the data. Every relationship is checked for what the run will ask
   of it before any work. */
static PetscErrorCode EvaluationChooseOperator(Evaluation ev)
{
  MMEType   type;
  PetscBool entries, product = PETSC_TRUE, has;

  PetscFunctionBeginUser;
  PetscCall(MMEGetType(ev->mme, &type));
  PetscCall(SolverNeedsEntries(ev->solver, &entries));
  entries = (PetscBool)(entries || ev->require_entries || ev->pev_method == PEV_METHOD_EXACT);
  for (PetscInt g = 0; g < ev->nrel; g++) { /* a relationship that cannot be applied from the data needs the assembled form */
    PetscCall(RelationshipHasOperation(ev->rel[g], RELATIONSHIP_OP_PRODUCT, &has));
    product = (PetscBool)(product && has);
  }
  if (!type) PetscCall(MMESetType(ev->mme, entries || !product ? MMEASSEMBLED : MMEDATA));
  PetscCall(MMEHasEntries(ev->mme, &has));
  PetscCheck(has || ev->pev_method != PEV_METHOD_EXACT, ev->comm, PETSC_ERR_USER_INPUT, "-pev exact factors the assembled C: leave out -mme_operator %s", type);
  for (PetscInt g = 0; g < ev->nrel; g++) PetscCall(RelationshipCheckOperation(ev->rel[g], has ? RELATIONSHIP_OP_ENTRIES : RELATIONSHIP_OP_PRODUCT));
  if (ev->pev_method == PEV_METHOD_SAMPLE)
    for (PetscInt g = 0; g < ev->nrel; g++) PetscCall(RelationshipCheckOperation(ev->rel[g], RELATIONSHIP_OP_SAMPLE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* G that does not look like A22 (correlation of the off-diagonals below 0.5) is a sign of IDs mixed up
   between the genotypes and the pedigree. */
static PetscErrorCode EvaluationCheckGenomic(Evaluation ev)
{
  GenotypesStats s;
  const char    *pedigree;

  PetscFunctionBeginUser;
  PetscCall(ModelGetPedigreePath(ev->model, &pedigree));
  if (!ev->genotypes || !pedigree) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(GenotypesGetStats(ev->genotypes, &s));
  if (s.parent_conflicts)
    PetscCall(EvaluationWarn(
        ev, "%" PetscInt64_FMT " genotyped parent-offspring pairs have opposing homozygotes on more than 1 %% of their SNPs: wrong parents or samples?",
        s.parent_conflicts));
  if (s.setup && s.correlation < 0.5)
    PetscCall(EvaluationWarn(ev, "the off-diagonals of G and A22 correlate at %.3f (below 0.5): are the genotypes' IDs those of the pedigree?",
                             (double)s.correlation));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationAssemble(Evaluation ev)
{
  double start;

  PetscFunctionBeginUser;
  PetscCall(PetscLogStagePush(HendersonStageAssemble));
  PetscCall(EvaluationPhaseBegin(ev, HENDERSON_PHASE_ASSEMBLE, &start));
  PetscCall(EquationsCreate(ev->comm, &ev->equations));
  PetscCall(EquationsSetUp(ev->equations, ev->model, ev->records, ev->pedigree));
  /* rank 0's table of every animal ID goes as soon as the pedigree is distributed (each rank then has its
     own animals' IDs), unless something still looks IDs up: the genomic relationships (an APY core file)
     after it, -initial later (EvaluationSolve()) */
  if (ev->pedigree) PetscCall(PedigreeSetReleaseLabels(ev->pedigree, (PetscBool)(!ev->genotypes && !ev->initial_option[0])));
  for (PetscInt g = 0; g < ev->nrel; g++) {
    PetscCall(RelationshipSetGenotypes(ev->rel[g], ev->genotypes));
    PetscCall(RelationshipSetEquations(ev->rel[g], ev->equations, ev->pedigree));
  }
  if (ev->pedigree && !ev->initial_option[0]) PetscCall(PedigreeFreeLabels(ev->pedigree)); /* the genomic set-up's look-ups are behind */
  if (!ev->mme) {
    PetscCall(MMECreate(ev->comm, &ev->mme));
    PetscCall(MMESetFromOptions(ev->mme));
  }
  PetscCall(EvaluationChooseOperator(ev));
  PetscCall(MMEAssemble(ev->mme, ev->model, ev->equations, ev->records, ev->nrel, ev->rel));
  PetscCall(EvaluationCheckGenomic(ev));
  if (ev->estimable_check) PetscCall(EvaluationCheckEstimable(ev));
  PetscCall(EvaluationPhaseEnd(ev, HENDERSON_PHASE_ASSEMBLE, start));
  PetscCall(PetscLogStagePop());
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationReassemble(Evaluation ev)
{
  double start;

  PetscFunctionBeginUser;
  PetscCheck(ev->equations, ev->comm, PETSC_ERR_ARG_WRONGSTATE, "call EvaluationAssemble() first");
  PetscCall(PetscLogStagePush(HendersonStageAssemble));
  PetscCall(EvaluationPhaseBegin(ev, HENDERSON_PHASE_ASSEMBLE, &start));
  /* a new MME of the same form: with new variances an entry of G0-inverse may become zero or stop being zero */
  {
    MMEType type;
    char    name[32];
    PetscCall(MMEGetType(ev->mme, &type));
    PetscCall(PetscStrncpy(name, type, sizeof(name)));
    PetscCall(SolverDestroy(&ev->solver));
    ev->solver_ready = PETSC_FALSE;
    PetscCall(MMEDestroy(&ev->mme));
    PetscCall(MMECreate(ev->comm, &ev->mme));
    PetscCall(MMESetType(ev->mme, name));
  }
  PetscCall(MMEAssemble(ev->mme, ev->model, ev->equations, ev->records, ev->nrel, ev->rel));
  PetscCall(EvaluationCheckGenomic(ev));
  PetscCall(EvaluationPhaseEnd(ev, HENDERSON_PHASE_ASSEMBLE, start));
  PetscCall(PetscLogStagePop());
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationRequireEntries(Evaluation ev)
{
  PetscFunctionBeginUser;
  ev->require_entries = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationSetWriteHook(Evaluation ev, PetscErrorCode (*hook)(Output, void *), void *context)
{
  PetscFunctionBeginUser;
  ev->write_hook    = hook;
  ev->write_context = context;
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

/* The solver set up with the current system (again after EvaluationReassemble()). */
PetscErrorCode EvaluationSolverReady(Evaluation ev)
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
  PetscCall(EvaluationPhaseBegin(ev, HENDERSON_PHASE_SOLVE, &start));
  PetscCall(MMEGetSystem(ev->mme, NULL, NULL, &rhs));
  /* -henderson_fail_alone R: rank R fails here on its own, as an error inside a solver on one rank
     would, while the others go on into the solve (the test of HendersonErrorReport()'s way out) */
  PetscCheck(ev->fail_alone != ev->rank, PETSC_COMM_SELF, PETSC_ERR_LIB, "rank %d failed alone (-henderson_fail_alone)", ev->rank);
  PetscCall(EvaluationSolverReady(ev));
  if (ev->x) { /* a reassembled system may spread its rows otherwise (its nonzeros change with the variances) */
    PetscInt n, m;
    PetscCall(VecGetLocalSize(ev->x, &n));
    PetscCall(VecGetLocalSize(rhs, &m));
    if (n != m) PetscCall(VecDestroy(&ev->x));
  }
  if (!ev->x) PetscCall(VecDuplicate(rhs, &ev->x));
  PetscCall(VecZeroEntries(ev->x));
  /* -restart: on from the checkpoint if there is one; -initial FILE: from an earlier evaluation */
  ev->resumed = PETSC_FALSE;
  if (ev->restart) PetscCall(SolverResume(ev->solver, rhs, ev->x, &ev->resumed));
  if (!ev->resumed && ev->initial_option[0]) PetscCall(EvaluationInitialGuess(ev, ev->initial_option, ev->x));
  if (ev->pedigree) PetscCall(PedigreeFreeLabels(ev->pedigree)); /* -initial's look-ups by ID are behind */
  PetscCall(SolverSolve(ev->solver, rhs, ev->x));
  PetscCall(SolverGetResult(ev->solver, &ev->result));
  PetscCall(EvaluationPhaseEnd(ev, HENDERSON_PHASE_SOLVE, start));
  PetscCall(PetscLogStagePop());
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

/* The effect that absorbs the mean of trait T, with its layout and block, and the position of T in
   it; *m < 0 when there is none. */
PetscErrorCode EvaluationMeanEffect(Evaluation ev, PetscInt t, PetscInt *m, const EquationsEffect **layout, const EquationsBlock **block, PetscInt *position)
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

/* The levels of BLOCK whose equations this rank owns (EquationsBlockGetLocalLevels()). */
PetscErrorCode EvaluationBlockLocalLevels(Evaluation ev, const EquationsBlock *block, PetscInt rstart, PetscInt rend, PetscInt *lo, PetscInt *hi)
{
  PetscFunctionBeginUser;
  PetscCall(EquationsBlockGetLocalLevels(block, rstart, rend, ev->rank == ev->size - 1 ? PETSC_TRUE : PETSC_FALSE, lo, hi));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationMaxOverRanks(Evaluation ev, PetscReal local[], PetscReal global[], PetscInt n)
{
  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(local, global, (PetscMPIInt)n, MPIU_REAL, MPI_MAX, ev->comm));
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
PetscErrorCode EvaluationSocialGroupSize(Evaluation ev, PetscReal *n)
{
  PetscFunctionBeginUser;
  PetscCall(EvaluationGetSocialGroupSize(ev, n));
  if (*n == 0) *n = 2;
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

PetscErrorCode EvaluationGetRelationships(Evaluation ev, PetscInt *n, Relationship **rel)
{
  PetscFunctionBeginUser;
  *n   = ev->nrel;
  *rel = ev->rel;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationGetRelationship(Evaluation ev, PetscInt g, Relationship *rel)
{
  PetscFunctionBeginUser;
  PetscCheck(g >= 0 && g < ev->nrel, ev->comm, PETSC_ERR_ARG_OUTOFRANGE, "random group %" PetscInt_FMT " of %" PetscInt_FMT, g, ev->nrel);
  *rel = ev->rel[g];
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
