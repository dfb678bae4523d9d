#include <henderson/henderson.h>
#include <string.h>

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
  SolverResult result;
  PetscReal    seconds[HENDERSON_NUM_PHASES]; /* this rank's, summed over the calls of a phase */
  PetscBool    ran[HENDERSON_NUM_PHASES];
  char         output_path[HENDERSON_MAX_PATH];
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

PetscErrorCode EvaluationLoadModel(Evaluation ev, const char model_path[])
{
  double start;

  PetscFunctionBeginUser;
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_READ, &start));
  PetscCall(ModelCreate(ev->comm, &ev->model));
  PetscCall(ModelLoad(ev->model, model_path));
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
  if (!needed) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_PEDIGREE, &start));
  PetscCall(ModelGetPedigreePath(ev->model, &path));
  PetscCall(PedigreeCreate(ev->comm, &ev->pedigree));
  PetscCall(PedigreeLoad(ev->pedigree, path));
  PetscCall(PhaseEnd(ev, HENDERSON_PHASE_PEDIGREE, start));
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
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationAssemble(Evaluation ev)
{
  double start;

  PetscFunctionBeginUser;
  PetscCall(PetscLogStagePush(HendersonStageAssemble));
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_ASSEMBLE, &start));
  PetscCall(EquationsCreate(ev->comm, &ev->equations));
  PetscCall(EquationsSetUp(ev->equations, ev->model, ev->records));
  PetscCall(MMECreate(ev->comm, &ev->mme));
  PetscCall(MMEAssemble(ev->mme, ev->model, ev->equations, ev->records, ev->pedigree));
  PetscCall(PhaseEnd(ev, HENDERSON_PHASE_ASSEMBLE, start));
  PetscCall(PetscLogStagePop());
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationSolve(Evaluation ev)
{
  Mat    C;
  Vec    rhs;
  double start;

  PetscFunctionBeginUser;
  PetscCall(PetscLogStagePush(HendersonStageSolve));
  PetscCall(PhaseBegin(ev, HENDERSON_PHASE_SOLVE, &start));
  PetscCall(MMEGetSystem(ev->mme, &C, &rhs));
  if (!ev->solver) {
    PetscCall(SolverCreate(ev->comm, &ev->solver));
    PetscCall(SolverSetUp(ev->solver, C));
  }
  if (!ev->x) PetscCall(VecDuplicate(rhs, &ev->x));
  PetscCall(VecZeroEntries(ev->x));
  PetscCall(SolverSolve(ev->solver, rhs, ev->x));
  PetscCall(SolverGetResult(ev->solver, &ev->result));
  PetscCall(PhaseEnd(ev, HENDERSON_PHASE_SOLVE, start));
  PetscCall(PetscLogStagePop());
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Levels this rank writes for effect E, and their values, from its part of the solution. */
static PetscErrorCode EffectRows(Evaluation ev, const EquationsEffect *layout, const PetscScalar *x, PetscInt rstart, PetscInt rend, PetscInt *lo, PetscInt *hi, PetscReal **values)
{
  PetscInt c = layout->constrained, first = PetscMax(rstart, layout->offset), last = PetscMin(rend, layout->offset + layout->nequations);

  PetscFunctionBeginUser;
  *lo = *hi = 0;
  if (first < last) {
    *lo = first - layout->offset + (c >= 0 && first - layout->offset >= c ? 1 : 0);
    *hi = (last - 1) - layout->offset + (c >= 0 && last - 1 - layout->offset >= c ? 1 : 0) + 1;
  }
  if (c >= 0) {
    /* the constrained level has no equation; the owner of a neighbouring level writes its zero */
    if (layout->nequations == 0) {
      if (ev->rank == 0) {
        *lo = c;
        *hi = c + 1;
      }
    } else if (c + 1 < layout->nlevels) {
      if (first < last && *lo == c + 1) *lo = c;
    } else if (first < last && *hi == c) *hi = c + 1;
  }
  PetscCall(PetscMalloc1(*hi - *lo + 1, values));
  for (PetscInt l = *lo; l < *hi; l++) {
    PetscInt q           = EquationsLevelEquation(layout, l);
    (*values)[l - *lo] = q < 0 ? 0.0 : PetscRealPart(x[q - rstart]);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Entry I of a distributed vector, on every rank. */
static PetscErrorCode GlobalEntry(Vec x, PetscInt i, PetscReal *value)
{
  PetscInt           rstart, rend;
  const PetscScalar *a;
  PetscReal          mine = 0;

  PetscFunctionBeginUser;
  PetscCall(VecGetOwnershipRange(x, &rstart, &rend));
  PetscCall(VecGetArrayRead(x, &a));
  if (i >= rstart && i < rend) mine = PetscRealPart(a[i - rstart]);
  PetscCall(VecRestoreArrayRead(x, &a));
  PetscCallMPI(MPI_Allreduce(&mine, value, 1, MPIU_REAL, MPI_SUM, PetscObjectComm((PetscObject)x)));
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
  PetscInt           neffects, rstart, rend, mean_effect;
  PetscReal          shift = 0, *slope;
  const PetscScalar *x;
  const char        *text, *path, *trait;
  PetscReal          residual, seconds[HENDERSON_NUM_PHASES], total = 0;
  PetscInt64         value;
  RecordsStats       rstats;
  MMEStats           mstats;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  /* The equations hold covariates as (x - centre) / scale: back to raw units, the effect that
     absorbs the mean taking the -b centre / scale (estimable functions do not change). */
  PetscCall(EquationsGetMeanEffect(ev->equations, &mean_effect));
  PetscCall(PetscCalloc1(neffects, &slope));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect     *effect;
    const EquationsEffect *layout;
    PetscReal              b, centre, scale;
    PetscCall(ModelGetEffect(ev->model, e, &effect));
    if (effect->kind != MODEL_EFFECT_COVARIATE) continue;
    PetscCall(EquationsGetEffect(ev->equations, e, &layout));
    PetscCall(RecordsGetCovariateScaling(ev->records, e, &centre, &scale));
    PetscCall(GlobalEntry(ev->x, layout->offset, &b));
    slope[e] = b / scale;
    shift += b * centre / scale;
  }
  PetscCall(VecGetOwnershipRange(ev->x, &rstart, &rend));
  PetscCall(VecGetArrayRead(ev->x, &x));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect     *effect;
    const EquationsEffect *layout;
    OutputEffect           out = {0};
    PetscReal             *values;

    PetscCall(ModelGetEffect(ev->model, e, &effect));
    PetscCall(EquationsGetEffect(ev->equations, e, &layout));
    out.name        = effect->name;
    out.kind        = ModelEffectKindNames[effect->kind];
    out.structure   = ModelStructureNames[effect->structure];
    out.variance    = effect->kind == MODEL_EFFECT_RANDOM ? effect->variance : 0;
    out.constrained = layout->constrained;
    out.ntraits     = 1;
    PetscCall(RecordsGetLevels(ev->records, e, &out.nlevels, &out.labels));
    PetscCall(EffectRows(ev, layout, x, rstart, rend, &out.level_start, &out.level_count, &values));
    out.level_count -= out.level_start;
    if (effect->kind == MODEL_EFFECT_COVARIATE)
      for (PetscInt l = 0; l < out.level_count; l++) values[l] = slope[e];
    if (e == mean_effect)
      for (PetscInt l = 0; l < out.level_count; l++) values[l] -= shift;
    out.values = values;
    if (effect->structure == MODEL_STRUCTURE_PEDIGREE) PetscCall(PedigreeGetLocal(ev->pedigree, &out.inbreeding_start, &out.inbreeding_count, NULL, NULL, NULL, &out.inbreeding));
    PetscCall(OutputWriteEffect(output, &out));
    PetscCall(PetscFree(values));
  }
  PetscCall(VecRestoreArrayRead(ev->x, &x));
  PetscCall(PetscFree(slope));

  /* provenance */
  PetscCall(ModelGetText(ev->model, &text));
  PetscCall(ModelGetPath(ev->model, &path));
  PetscCall(ModelGetTrait(ev->model, &trait, NULL));
  PetscCall(ModelGetResidualVariance(ev->model, &residual));
  PetscCall(OutputSetAttribute(output, "/", "program", OUTPUT_STRING, "henderson"));
  PetscCall(OutputSetAttribute(output, "/", "version", OUTPUT_STRING, HendersonVersion()));
  PetscCall(OutputSetAttribute(output, "/", "model_path", OUTPUT_STRING, path));
  PetscCall(OutputSetAttribute(output, "/", "model", OUTPUT_STRING, text));
  PetscCall(OutputSetAttribute(output, "/", "trait", OUTPUT_STRING, trait));
  PetscCall(OutputSetAttribute(output, "/", "residual_variance", OUTPUT_REAL, &residual));

  PetscCall(RecordsGetStats(ev->records, &rstats));
  PetscCall(ModelGetDataPath(ev->model, &path));
  PetscCall(OutputSetAttribute(output, "/data", "path", OUTPUT_STRING, path));
  PetscCall(OutputSetAttribute(output, "/data", "lines", OUTPUT_INT, &rstats.lines));
  PetscCall(OutputSetAttribute(output, "/data", "records_used", OUTPUT_INT, &rstats.used));
  PetscCall(OutputSetAttribute(output, "/data", "records_skipped_missing_trait", OUTPUT_INT, &rstats.missing_trait));
  PetscCall(OutputSetAttribute(output, "/data", "records_skipped_missing_covariate", OUTPUT_INT, &rstats.missing_covariate));
  if (ev->pedigree) {
    PedigreeStats s;
    PetscCall(PedigreeGetStats(ev->pedigree, &s));
    PetscCall(ModelGetPedigreePath(ev->model, &path));
    PetscCall(OutputSetAttribute(output, "/pedigree", "path", OUTPUT_STRING, path));
#define SET_INT(name, v) \
  do { \
    value = (PetscInt64)(v); \
    PetscCall(OutputSetAttribute(output, "/pedigree", name, OUTPUT_INT, &value)); \
  } while (0)
    SET_INT("animals", s.animals);
    SET_INT("listed", s.listed);
    SET_INT("parents_added", s.parents_added);
    SET_INT("data_added", s.data_added);
    SET_INT("founders", s.founders);
    SET_INT("generations", s.generations);
    SET_INT("inbred", s.inbred);
#undef SET_INT
    PetscCall(OutputSetAttribute(output, "/pedigree", "mean_inbreeding", OUTPUT_REAL, &s.mean_inbreeding));
    PetscCall(OutputSetAttribute(output, "/pedigree", "max_inbreeding", OUTPUT_REAL, &s.max_inbreeding));
  }

  PetscCall(MMEGetStats(ev->mme, &mstats));
#define SET_INT(name, v) \
  do { \
    value = (PetscInt64)(v); \
    PetscCall(OutputSetAttribute(output, "/solver", name, OUTPUT_INT, &value)); \
  } while (0)
  SET_INT("iterations", ev->result.iterations);
  SET_INT("converged", ev->result.converged);
  SET_INT("equations", mstats.equations);
  SET_INT("nonzeros", mstats.nonzeros);
  SET_INT("ranks", ev->size);
#undef SET_INT
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
  ierr = HendersonAgree(ev->comm, ierr);
  if (!ierr) ierr = OutputCommit(output);
  /* a failed write leaves no file behind */
  PetscCall(OutputDestroy(&output));
  PetscCall(ierr);
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
  PetscCall(EvaluationWrite(ev, NULL));
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
  PetscCall(PetscViewerASCIIPrintf(viewer, "  data        %s: %" PetscInt64_FMT " lines, %" PetscInt64_FMT " records used, %" PetscInt64_FMT " skipped (%" PetscInt64_FMT
                                           " trait missing, %" PetscInt64_FMT " covariate missing)\n",
                                   path, rstats.lines, rstats.used, rstats.missing_trait + rstats.missing_covariate, rstats.missing_trait, rstats.missing_covariate));
  if (ev->pedigree) {
    PedigreeStats s;
    PetscCall(PedigreeGetStats(ev->pedigree, &s));
    PetscCall(ModelGetPedigreePath(ev->model, &path));
    PetscCall(PetscViewerASCIIPrintf(viewer, "  pedigree    %s%s: %" PetscInt_FMT " animals = %" PetscInt_FMT " listed + %" PetscInt_FMT " parents not listed + %" PetscInt_FMT
                                             " with records only (both added as founders)\n",
                                     path, s.header ? " (header)" : "", s.animals, s.listed, s.parents_added, s.data_added));
    PetscCall(PetscViewerASCIIPrintf(viewer, "              %" PetscInt_FMT " founders, %" PetscInt_FMT " generations; inbreeding mean %.6f, max %.6f, %" PetscInt_FMT " inbred%s\n", s.founders,
                                     s.generations, (double)s.mean_inbreeding, (double)s.max_inbreeding, s.inbred, s.duplicates ? "; repeated identical lines ignored" : ""));
  }
  PetscCall(MMEGetStats(ev->mme, &mstats));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  equations   %" PetscInt_FMT ", nonzeros %" PetscInt64_FMT ":", mstats.equations, mstats.nonzeros));
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect     *effect;
    const EquationsEffect *layout;
    PetscCall(ModelGetEffect(ev->model, e, &effect));
    PetscCall(EquationsGetEffect(ev->equations, e, &layout));
    PetscCall(PetscViewerASCIIPrintf(viewer, " %s %" PetscInt_FMT "%s%s", effect->name, layout->nlevels, layout->constrained >= 0 ? " (first level = 0)" : "", e + 1 < neffects ? "," : "\n"));
  }
  PetscCall(PetscViewerASCIIPrintf(viewer, "  solver      %s + %s: %" PetscInt_FMT " iterations, relative residual %.3e (rtol %.1e), %s\n", ev->result.ksp_type, ev->result.pc_type,
                                   ev->result.iterations, (double)ev->result.relative_residual, (double)ev->result.rtol, ev->result.converged ? "converged" : "NOT CONVERGED"));
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
  PetscCall(PetscViewerASCIIPrintf(viewer, "  memory      peak %.1f MiB on the largest rank, %.1f MiB over all ranks\n", peak_max / 1048576.0, peak_sum / 1048576.0));
  if (ev->output_path[0]) PetscCall(PetscViewerASCIIPrintf(viewer, "  output      %s\n", ev->output_path));
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
