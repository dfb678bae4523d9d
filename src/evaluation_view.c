/* The summary of an evaluation: each module's view, in the order of the stages (records, pedigree,
   equations, relationships, operator, solver), then what only the evaluation knows. */
#include "evaluationimpl.h"
#include <string.h>

/* The total breeding value of a social model: its formula and group size. */
static PetscErrorCode ViewTotalBreedingValue(Evaluation ev, PetscViewer viewer)
{
  PetscInt           social;
  const ModelEffect *effect;
  PetscReal          n;
  char               numbers[128];

  PetscFunctionBeginUser;
  PetscCall(ModelGetSocialEffect(ev->model, &social, NULL));
  if (social < 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetEffect(ev->model, social, &effect));
  PetscCall(EvaluationSocialGroupSize(ev, &n));
  /* plain C formatting: PETSc's %g writes 1 as "1." */
  snprintf(numbers, sizeof(numbers), "mates' effects times (1/(n-1))^%g; tbv = direct + %g x", (double)effect->dilution,
           (double)PetscPowReal(n - 1, 1 - effect->dilution));
  PetscCall(PetscViewerASCIIPrintf(viewer, "              %s %s (n = %.4g%s)\n", numbers, effect->name, (double)n,
                                   effect->social_size > 0 ? "" : ", the mean group size"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* How the PEV were computed. */
static PetscErrorCode ViewPEV(Evaluation ev, PetscViewer viewer)
{
  PetscReal seconds;

  PetscFunctionBeginUser;
  if (!ev->pev) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(EvaluationGetPhaseSeconds(ev, HENDERSON_PHASE_PEV, &seconds));
  if (ev->pev_method == PEV_METHOD_EXACT)
    PetscCall(PetscViewerASCIIPrintf(viewer, "  pev         exact: the diagonal of C^-1 (%s factorisation, selected inverse entries), %.3f s%s\n",
                                     ev->pev_factor ? ev->pev_factor : "?", (double)seconds,
                                     ev->pev_nullity ? "; C is singular: a generalised inverse, NaN where a level is not estimable" : ""));
  else if (ev->pev_method == PEV_METHOD_APPROXIMATE) {
    const PEVApproximateInfo *a = &ev->pev_approximate;
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "  pev         approximate: belief propagation on %" PetscInt64_FMT " factors of C (the largest %" PetscInt_FMT
                                     " equations), %" PetscInt_FMT " rounds, last change %.1e, %.3f s\n",
                                     a->factors, a->largest, a->rounds, (double)a->change, (double)seconds));
  } else
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "  pev         sample: %" PetscInt_FMT " simulated data sets (%" PetscInt_FMT " a pass), %" PetscInt64_FMT
                                     " iterations in all, %.3f s; each PEV within about %.1f %% (one standard error)\n",
                                     ev->pev_samples, ev->pev_sample_block, ev->pev_iterations, (double)seconds,
                                     100 * (double)PetscSqrtReal(2.0 / ev->pev_samples)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Seconds per phase and peak memory. */
static PetscErrorCode ViewResources(Evaluation ev, PetscViewer viewer)
{
  PetscReal      seconds[HENDERSON_NUM_PHASES], total = 0;
  PetscLogDouble peak, peak_max, peak_sum;

  PetscFunctionBeginUser;
  PetscCall(EvaluationMaxOverRanks(ev, ev->seconds, seconds, HENDERSON_NUM_PHASES));
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
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationView(Evaluation ev, PetscViewer viewer)
{
  const char *path, *pedigree;

  PetscFunctionBeginUser;
  PetscCall(ModelGetPedigreePath(ev->model, &pedigree));
  PetscCall(ModelGetPath(ev->model, &path));
  PetscCall(PetscViewerASCIIPrintf(viewer, "henderson %s: %s on %d rank%s\n", HendersonVersion(), path, (int)ev->size, ev->size == 1 ? "" : "s"));
  PetscCall(RecordsView(ev->records, viewer));
  PetscCall(ViewTotalBreedingValue(ev, viewer));
  if (ev->pedigree && pedigree) { /* GBLUP: no pedigree file, the genotyped animals alone */
    PetscCall(PetscViewerPushFormat(viewer, PETSC_VIEWER_ASCII_INFO));
    PetscCall(PedigreeView(ev->pedigree, viewer));
    PetscCall(PetscViewerPopFormat(viewer));
  }
  if (ev->genotypes) PetscCall(GenotypesView(ev->genotypes, viewer));
  PetscCall(EquationsView(ev->equations, viewer));
  for (PetscInt g = 0; g < ev->nrel; g++) PetscCall(RelationshipView(ev->rel[g], viewer));
  PetscCall(MMEView(ev->mme, viewer));
  PetscCall(SolverView(ev->solver, viewer));
  PetscCall(ViewPEV(ev, viewer));
  if (ev->resumed) PetscCall(PetscViewerASCIIPrintf(viewer, "  restart     went on from the checkpoint of an interrupted run\n"));
  if (ev->initial_path[0])
    PetscCall(PetscViewerASCIIPrintf(viewer, "  initial     %s: %" PetscInt_FMT " of %" PetscInt_FMT " levels found there (the others started from 0)\n",
                                     ev->initial_path, ev->initial_levels[1], ev->initial_levels[0]));
  PetscCall(ViewResources(ev, viewer));
  if (ev->output_path[0])
    PetscCall(PetscViewerASCIIPrintf(viewer, "  output      %s%s\n", ev->output_path, ev->output_replaced ? " (replaced the file of an earlier run)" : ""));
  for (PetscInt k = 0; k < PetscMin(ev->nwarnings, EVALUATION_MAX_WARNINGS); k++)
    PetscCall(PetscViewerASCIIPrintf(viewer, "  %-11s %s\n", k ? "" : "warnings", ev->warnings[k]));
  if (ev->nwarnings > EVALUATION_MAX_WARNINGS)
    PetscCall(PetscViewerASCIIPrintf(viewer, "              ... and %" PetscInt_FMT " more\n", ev->nwarnings - EVALUATION_MAX_WARNINGS));
  PetscFunctionReturn(PETSC_SUCCESS);
}
