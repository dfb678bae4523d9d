#include <henderson/records.h>
#include <henderson/reader.h>
#include <henderson/error.h>
#include <string.h>

struct _p_Records {
  MPI_Comm      comm;
  PetscMPIInt   rank;
  PetscInt      neffects;
  PetscInt      n, capacity;    /* local records */
  PetscReal    *y;
  PetscInt    **level;          /* [effect][record] for class effects (NULL for covariates) */
  PetscReal   **value;          /* [effect][record] for covariates (NULL for class effects) */
  LabelTable   *local;          /* [effect] this rank's distinct labels (class effects with a column) */
  PetscInt64  **first_line;     /* [effect][local label] */
  PetscInt     *first_capacity;
  PetscInt     *nlevels;        /* [effect] global, after RecordsNumber() */
  LabelTable   *labels;         /* [effect] rank 0, after RecordsNumber(); NULL for pedigree effects */
  PetscReal    *centre, *scale; /* [effect] covariates: mean and standard deviation over the records used */
  Pedigree      pedigree;       /* labels of pedigree effects */
  PetscBool    *pedigree_effect;
  RecordsStats  stats;
  PetscBool     numbered;
};

PetscErrorCode RecordsCreate(MPI_Comm comm, Records *records)
{
  PetscFunctionBeginUser;
  PetscCall(PetscNew(records));
  (*records)->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &(*records)->rank));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsDestroy(Records *records)
{
  Records r = *records;

  PetscFunctionBeginUser;
  if (!r) PetscFunctionReturn(PETSC_SUCCESS);
  for (PetscInt e = 0; e < r->neffects; e++) {
    PetscCall(PetscFree(r->level[e]));
    PetscCall(PetscFree(r->value[e]));
    PetscCall(LabelTableDestroy(&r->local[e]));
    PetscCall(PetscFree(r->first_line[e]));
    PetscCall(LabelTableDestroy(&r->labels[e]));
  }
  PetscCall(PetscFree(r->y));
  PetscCall(PetscFree4(r->level, r->value, r->local, r->first_line));
  PetscCall(PetscFree4(r->first_capacity, r->nlevels, r->labels, r->pedigree_effect));
  PetscCall(PetscFree2(r->centre, r->scale));
  PetscCall(PetscFree(*records));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RecordsReserve(Records r, PetscInt capacity)
{
  PetscFunctionBeginUser;
  if (capacity <= r->capacity) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscRealloc(sizeof(PetscReal) * capacity, &r->y));
  for (PetscInt e = 0; e < r->neffects; e++) {
    if (r->level[e]) PetscCall(PetscRealloc(sizeof(PetscInt) * capacity, &r->level[e]));
    if (r->value[e]) PetscCall(PetscRealloc(sizeof(PetscReal) * capacity, &r->value[e]));
  }
  r->capacity = capacity;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Local index of LABEL in effect E's table, remembering the first line where it appears. */
static PetscErrorCode RecordsLocalLabel(Records r, PetscInt e, const char label[], PetscInt64 line, PetscInt *index)
{
  PetscBool inserted;

  PetscFunctionBeginUser;
  PetscCall(LabelTableInsert(r->local[e], label, strlen(label), index, &inserted));
  if (inserted) {
    if (*index >= r->first_capacity[e]) {
      r->first_capacity[e] = PetscMax(64, 2 * r->first_capacity[e]);
      PetscCall(PetscRealloc(sizeof(PetscInt64) * r->first_capacity[e], &r->first_line[e]));
    }
    r->first_line[e][*index] = line;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* This rank's lines; errors are local (the caller agrees on them). */
static PetscErrorCode RecordsReadLocal(Records r, Model model, Reader reader)
{
  const char *trait, *path = ReaderPath(reader);
  PetscInt    trait_column, ncolumns;
  PetscBool   done;

  PetscFunctionBeginUser;
  PetscCall(ModelGetTrait(model, &trait, &trait_column));
  PetscCall(ReaderGetHeader(reader, &ncolumns, NULL));
  for (;;) {
    char *const *fields;
    PetscInt     nfields, k;
    PetscInt64   line;
    PetscReal    y;
    PetscBool    ok, skip = PETSC_FALSE;

    PetscCall(ReaderNextLine(reader, &done));
    if (done) break;
    PetscCall(ReaderGetFields(reader, &nfields, &fields));
    PetscCall(ReaderGetLine(reader, &line));
    r->stats.lines++;
    PetscCheck(nfields == ncolumns, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": %" PetscInt_FMT " field%s, but the header names %" PetscInt_FMT " columns", path,
               line, nfields, nfields == 1 ? "" : "s", ncolumns);
    if (HendersonIsMissing(fields[trait_column], PETSC_FALSE)) {
      r->stats.missing_trait++;
      continue;
    }
    PetscCall(HendersonParseReal(fields[trait_column], &y, &ok));
    PetscCheck(ok, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": trait '%s' has the value '%s', which is not a number (NA or . for missing)", path, line, trait,
               fields[trait_column]);
    for (PetscInt e = 0; e < r->neffects && !skip; e++) {
      const ModelEffect *effect;
      PetscCall(ModelGetEffect(model, e, &effect));
      if (effect->kind == MODEL_EFFECT_COVARIATE && HendersonIsMissing(fields[effect->data_column], PETSC_FALSE)) skip = PETSC_TRUE;
    }
    if (skip) {
      r->stats.missing_covariate++;
      continue;
    }
    if (r->n == r->capacity) PetscCall(RecordsReserve(r, PetscMax(1024, 2 * r->capacity)));
    k       = r->n++;
    r->y[k] = y;
    for (PetscInt e = 0; e < r->neffects; e++) {
      const ModelEffect *effect;
      const char        *text;
      PetscCall(ModelGetEffect(model, e, &effect));
      if (effect->data_column < 0) { /* the implied mean */
        r->level[e][k] = 0;
        continue;
      }
      text = fields[effect->data_column];
      if (effect->kind == MODEL_EFFECT_COVARIATE) {
        PetscCall(HendersonParseReal(text, &r->value[e][k], &ok));
        PetscCheck(ok, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": covariate '%s' has the value '%s', which is not a number (NA or . for missing)", path, line,
                   effect->column, text);
      } else if (effect->structure == MODEL_STRUCTURE_PEDIGREE && HendersonIsMissing(text, PETSC_TRUE)) {
        r->level[e][k] = -1; /* unknown animal: no effect on this record */
      } else {
        PetscCheck(text[0], PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": column '%s' is empty", path, line, effect->column);
        PetscCall(RecordsLocalLabel(r, e, text, line, &r->level[e][k]));
      }
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Mean and standard deviation of every covariate over all ranks' records (two passes, for accuracy). */
static PetscErrorCode RecordsScaleCovariates(Records r, Model model)
{
  PetscFunctionBeginUser;
  PetscCall(PetscCalloc2(r->neffects, &r->centre, r->neffects, &r->scale));
  for (PetscInt e = 0; e < r->neffects; e++) {
    const ModelEffect *effect;
    PetscReal          sum = 0, total, squares = 0;
    r->scale[e] = 1;
    if (!r->value[e]) continue;
    PetscCall(ModelGetEffect(model, e, &effect));
    for (PetscInt k = 0; k < r->n; k++) sum += r->value[e][k];
    PetscCallMPI(MPI_Allreduce(&sum, &total, 1, MPIU_REAL, MPI_SUM, r->comm));
    r->centre[e] = total / (PetscReal)r->stats.used;
    for (PetscInt k = 0; k < r->n; k++) squares += (r->value[e][k] - r->centre[e]) * (r->value[e][k] - r->centre[e]);
    PetscCallMPI(MPI_Allreduce(&squares, &total, 1, MPIU_REAL, MPI_SUM, r->comm));
    r->scale[e] = PetscSqrtReal(total / (PetscReal)r->stats.used);
    if (!(r->scale[e] > 1e-12 * PetscMax(1.0, PetscAbsReal(r->centre[e])))) {
      char value[64];
      snprintf(value, sizeof(value), "%g", (double)r->centre[e]); /* plain C formatting: PETSc's %g writes 0 as "0." */
      SETERRQ(r->comm, PETSC_ERR_USER_INPUT, "covariate '%s' has the same value (%s) on every record used: it cannot be told apart from the mean", effect->column, value);
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsRead(Records r, Model model)
{
  const char        *path;
  Reader             reader;
  PetscInt           ncolumns;
  const char *const *names;
  PetscErrorCode     ierr;
  PetscInt64         local[4], global[4];

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumEffects(model, &r->neffects));
  PetscCall(PetscCalloc4(r->neffects, &r->level, r->neffects, &r->value, r->neffects, &r->local, r->neffects, &r->first_line));
  PetscCall(PetscCalloc4(r->neffects, &r->first_capacity, r->neffects, &r->nlevels, r->neffects, &r->labels, r->neffects, &r->pedigree_effect));
  for (PetscInt e = 0; e < r->neffects; e++) {
    const ModelEffect *effect;
    PetscCall(ModelGetEffect(model, e, &effect));
    if (effect->kind == MODEL_EFFECT_COVARIATE) PetscCall(PetscMalloc1(1, &r->value[e]));
    else PetscCall(PetscMalloc1(1, &r->level[e]));
    if (effect->kind != MODEL_EFFECT_COVARIATE && effect->column[0]) PetscCall(LabelTableCreate(&r->local[e]));
    r->pedigree_effect[e] = effect->structure == MODEL_STRUCTURE_PEDIGREE ? PETSC_TRUE : PETSC_FALSE;
  }
  PetscCall(RecordsReserve(r, 1024));

  PetscCall(ModelGetDataPath(model, &path));
  PetscCall(ReaderOpen(r->comm, path, PETSC_TRUE, &reader));
  PetscCall(ReaderGetHeader(reader, &ncolumns, &names));
  ierr = ModelSetDataColumns(model, path, ncolumns, names); /* same header everywhere */
  if (ierr) PetscCall(ReaderClose(&reader));
  PetscCall(ierr);
  ierr = RecordsReadLocal(r, model, reader);
  PetscCall(ReaderClose(&reader));
  PetscCall(HendersonAgree(r->comm, ierr));

  local[0] = r->stats.lines;
  local[1] = r->n;
  local[2] = r->stats.missing_trait;
  local[3] = r->stats.missing_covariate;
  PetscCallMPI(MPI_Allreduce(local, global, 4, MPIU_INT64, MPI_SUM, r->comm));
  r->stats.lines             = global[0];
  r->stats.used              = global[1];
  r->stats.missing_trait     = global[2];
  r->stats.missing_covariate = global[3];
  PetscCheck(r->stats.used > 0, r->comm, PETSC_ERR_USER_INPUT, "%s: no record has a value for the trait (%" PetscInt64_FMT " data lines)", path, r->stats.lines);
  PetscCall(RecordsScaleCovariates(r, model));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsNumber(Records r, Model model, Pedigree pedigree)
{
  PetscFunctionBeginUser;
  r->pedigree = pedigree;
  for (PetscInt e = 0; e < r->neffects; e++) {
    const ModelEffect *effect;
    PetscInt           nlocal, *global;
    LabelTable         preset = NULL, added = NULL;

    PetscCall(ModelGetEffect(model, e, &effect));
    if (effect->kind == MODEL_EFFECT_COVARIATE || !effect->column[0]) {
      /* a covariate or the implied mean: one level, named after the effect */
      r->nlevels[e] = 1;
      if (r->rank == 0) {
        PetscCall(LabelTableCreate(&r->labels[e]));
        PetscCall(LabelTableInsert(r->labels[e], effect->name, strlen(effect->name), NULL, NULL));
      }
      continue;
    }
    if (r->pedigree_effect[e]) {
      PetscCheck(pedigree, r->comm, PETSC_ERR_ARG_WRONGSTATE, "effect %s needs the pedigree", effect->name);
      if (r->rank == 0) PetscCall(PedigreeGetLabels(pedigree, &preset));
    }
    PetscCall(LabelTableGetSize(r->local[e], &nlocal));
    PetscCall(PetscMalloc1(nlocal + 1, &global));
    PetscCall(LabelsNumber(r->comm, r->local[e], r->first_line[e], preset, global, &r->nlevels[e], r->rank == 0 ? &added : NULL));
    for (PetscInt k = 0; k < r->n; k++)
      if (r->level[e][k] >= 0) r->level[e][k] = global[r->level[e][k]];
    PetscCall(PetscFree(global));
    if (r->pedigree_effect[e]) {
      if (r->rank == 0) PetscCall(PedigreeAddFounders(pedigree, added));
      PetscCall(LabelTableDestroy(&added));
    } else {
      r->labels[e] = added;
    }
    /* the local tables are no longer needed */
    PetscCall(LabelTableDestroy(&r->local[e]));
    PetscCall(PetscFree(r->first_line[e]));
    r->first_capacity[e] = 0;
  }
  /* Every pedigree effect has all animals as levels, founders added for any of them included. */
  {
    PetscInt nanimals = 0;
    if (r->rank == 0 && pedigree) {
      LabelTable all;
      PetscCall(PedigreeGetLabels(pedigree, &all));
      PetscCall(LabelTableGetSize(all, &nanimals));
    }
    PetscCallMPI(MPI_Bcast(&nanimals, 1, MPIU_INT, 0, r->comm));
    for (PetscInt e = 0; e < r->neffects; e++)
      if (r->pedigree_effect[e]) r->nlevels[e] = nanimals;
  }
  r->numbered = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsGetStats(Records r, RecordsStats *stats)
{
  PetscFunctionBeginUser;
  *stats = r->stats;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsGetLocalSize(Records r, PetscInt *n)
{
  PetscFunctionBeginUser;
  *n = r->n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsGetEffect(Records r, PetscInt e, const PetscInt **level, const PetscReal **value)
{
  PetscFunctionBeginUser;
  PetscCheck(e >= 0 && e < r->neffects, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "effect %" PetscInt_FMT, e);
  PetscCheck(r->numbered || !r->level[e], PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "call RecordsNumber() first");
  if (level) *level = r->level[e];
  if (value) *value = r->value[e];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsGetTrait(Records r, const PetscReal **y)
{
  PetscFunctionBeginUser;
  *y = r->y;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsGetCovariateScaling(Records r, PetscInt e, PetscReal *centre, PetscReal *scale)
{
  PetscFunctionBeginUser;
  PetscCheck(e >= 0 && e < r->neffects && r->value[e], PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "effect %" PetscInt_FMT " is not a covariate", e);
  *centre = r->centre[e];
  *scale  = r->scale[e];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsGetLevels(Records r, PetscInt e, PetscInt *nlevels, LabelTable *labels)
{
  PetscFunctionBeginUser;
  PetscCheck(r->numbered, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "call RecordsNumber() first");
  if (nlevels) *nlevels = r->nlevels[e];
  if (labels) {
    *labels = r->labels[e];
    if (r->pedigree_effect[e] && r->rank == 0) PetscCall(PedigreeGetLabels(r->pedigree, labels));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}
