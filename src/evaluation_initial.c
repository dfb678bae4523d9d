/* The warm start (--initial FILE): the solutions of an earlier evaluation, matched level by level. */
#include "evaluationimpl.h"
#include <string.h>

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
PetscErrorCode EvaluationInitialGuess(Evaluation ev, const char path[], Vec x)
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
    PetscCall(EvaluationMeanEffect(ev, t, &m, &layout, &block, &i));
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

/* Rank 0: from the earlier evaluation PATH, the labels, F and ancestry fingerprints of the first animal
   effect's levels (*n = 0 when the file has no such effect, or no fingerprints: an older file). */
static PetscErrorCode InitialInbreedingRead(Evaluation ev, const char path[], PetscInt *n, char ***labels, PetscReal **F, uint64_t **ancestry)
{
  PetscInt neffects, nfile, nvalues, ncolumns, nancestry;
  char   **names;

  PetscFunctionBeginUser;
  *n = 0;
  PetscCall(ModelGetNumEffects(ev->model, &neffects));
  PetscCall(OutputListEffects(path, &nfile, &names));
  for (PetscInt e = 0; e < neffects && !*n; e++) {
    const ModelEffect *effect;
    PetscBool          there = PETSC_FALSE;
    PetscReal         *values;
    PetscCall(ModelGetEffect(ev->model, e, &effect));
    if (!ModelEffectIsAnimal(effect)) continue;
    for (PetscInt k = 0; k < nfile; k++) there = there || !strcmp(names[k], effect->name);
    if (!there) break;
    PetscCall(OutputReadEffectAncestry(path, effect->name, &nancestry, ancestry));
    if (!*ancestry) break; /* an older file */
    PetscCall(OutputReadEffect(path, effect->name, &nvalues, &ncolumns, labels, &values, F));
    PetscCall(PetscFree(values));
    PetscCheck(*F && nancestry == nvalues, PETSC_COMM_SELF, PETSC_ERR_FILE_READ,
               "%s: effect '%s' has %" PetscInt_FMT " levels and %" PetscInt_FMT " fingerprints", path, effect->name, nvalues, nancestry);
    *n = nvalues;
  }
  for (PetscInt k = 0; k < nfile; k++) PetscCall(PetscFree(names[k]));
  PetscCall(PetscFree(names));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EvaluationPedigreeSetUp(Evaluation ev)
{
  PetscInt       n        = 0;
  char         **labels   = NULL;
  PetscReal     *F        = NULL;
  uint64_t      *ancestry = NULL;
  PetscErrorCode ierr     = PETSC_SUCCESS;

  PetscFunctionBeginUser;
  if (ev->initial_option[0] && ev->rank == 0) {
    ierr = InitialInbreedingRead(ev, ev->initial_option, &n, &labels, &F, &ancestry);
    if (!ierr && n) ierr = PedigreeSetKnownInbreeding(ev->pedigree, n, labels, ancestry, F);
  }
  PetscCall(HendersonAgree(ev->comm, ierr));
  PetscCall(PedigreeSetUp(ev->pedigree));
  PetscCall(PetscFree(labels));
  PetscCall(PetscFree(F));
  PetscCall(PetscFree(ancestry));
  PetscFunctionReturn(PETSC_SUCCESS);
}
