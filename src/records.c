#include <henderson/records.h>
#include <henderson/reader.h>
#include <henderson/error.h>
#include <henderson/log.h>
#include <math.h>
#include <string.h>

/* The labels of one level space. */
typedef struct {
  LabelTable  local;      /* this rank's distinct labels, until numbered */
  PetscInt64 *first_line; /* [local label] the line where it first appears */
  PetscInt    first_capacity;
  PetscBool   pedigree; /* the pedigree's animals */
  PetscInt    nlevels;  /* global, after RecordsNumber() */
  LabelTable  labels;   /* rank 0, after RecordsNumber(); NULL for the pedigree space */
} Space;

struct _p_Records {
  MPI_Comm    comm;
  PetscMPIInt rank;
  Model       model; /* the model read with (RecordsRead()) */
  PetscInt    neffects, ntraits;
  PetscInt    n, capacity;   /* local records */
  PetscReal  *y;             /* n x ntraits, NaN = missing */
  PetscReal  *weight;        /* n, or NULL */
  PetscInt  **level;         /* [effect][record], NULL for a plain covariate */
  PetscReal **value;         /* [effect][record], NULL without a covariate */
  PetscInt   *space_of;      /* [effect] its level space, -1 for a plain covariate */
  PetscBool  *animal_column; /* [effect] its column holds animal IDs (some pedigree effect uses it): 0, NA, . are unknown */
  PetscInt    nspaces;
  Space      *spaces;
  PetscReal  *centre, *scale; /* [effect] covariates */
  PetscReal (*range)[2];      /* [effect] Legendre interval */
  Pedigree     pedigree;
  RecordsStats stats;
  PetscBool    numbered;
  /* the social effect's groups: the members read by this rank, then every record's mates */
  PetscInt           social_effect, social_space; /* -1 without */
  PetscInt64         nmembers, member_capacity;
  PetscInt          *member_group, *member_animal, *member_record; /* record: local index, -1 for a line left out */
  PetscInt64        *member_line;
  PetscInt          *mate_offset, *mates, *group_size, max_mates;
  PetscInt           npreset;         /* the pedigree's animals before founders were added */
  LabelTable         group_ids;       /* the model's unknown-parent groups: never an animal of the data */
  PetscInt64        *not_in_pedigree; /* [effect] local records whose animal the pedigree file does not list */
  RecordsLevelStats *level_stats;     /* [effect], after RecordsComputeLevelStats() */
};

void RecordsLegendre(PetscInt order, PetscReal x, PetscReal phi[])
{
  PetscReal p0 = 1, p1 = x;
  for (PetscInt k = 0; k <= order; k++) {
    PetscReal pk;
    if (k == 0)
      pk = p0;
    else if (k == 1)
      pk = p1;
    else {
      pk = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k; /* Bonnet's recursion */
      p0 = p1;
      p1 = pk;
    }
    phi[k] = PetscSqrtReal((2 * k + 1) / 2.0) * pk;
  }
}

PetscErrorCode RecordsCreate(MPI_Comm comm, Records *records)
{
  PetscFunctionBeginUser;
  PetscCall(PetscNew(records));
  (*records)->comm          = comm;
  (*records)->social_effect = -1;
  (*records)->social_space  = -1;
  PetscCallMPI(MPI_Comm_rank(comm, &(*records)->rank));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The social groups' members read by this rank (RecordsSetUpSocial() then sends them away). */
static PetscErrorCode RecordsFreeMembers(Records r)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(r->member_group));
  PetscCall(PetscFree(r->member_animal));
  PetscCall(PetscFree(r->member_record));
  PetscCall(PetscFree(r->member_line));
  r->nmembers = r->member_capacity = 0;
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
  }
  for (PetscInt s = 0; s < r->nspaces; s++) {
    PetscCall(LabelTableDestroy(&r->spaces[s].local));
    PetscCall(LabelTableDestroy(&r->spaces[s].labels));
    PetscCall(PetscFree(r->spaces[s].first_line));
  }
  PetscCall(PetscFree(r->spaces));
  PetscCall(PetscFree(r->y));
  PetscCall(PetscFree(r->weight));
  PetscCall(PetscFree3(r->level, r->value, r->space_of));
  PetscCall(PetscFree(r->animal_column));
  PetscCall(PetscFree3(r->centre, r->scale, r->range));
  PetscCall(RecordsFreeMembers(r));
  PetscCall(PetscFree3(r->mate_offset, r->mates, r->group_size));
  PetscCall(LabelTableDestroy(&r->group_ids));
  PetscCall(PetscFree(r->level_stats));
  PetscCall(PetscFree(r->not_in_pedigree));
  PetscCall(PetscFree(*records));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RecordsReserve(Records r, PetscInt capacity)
{
  PetscFunctionBeginUser;
  if (capacity <= r->capacity) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscRealloc(sizeof(PetscReal) * capacity * r->ntraits, &r->y));
  if (r->weight) PetscCall(PetscRealloc(sizeof(PetscReal) * capacity, &r->weight));
  for (PetscInt e = 0; e < r->neffects; e++) {
    if (r->level[e]) PetscCall(PetscRealloc(sizeof(PetscInt) * capacity, &r->level[e]));
    if (r->value[e]) PetscCall(PetscRealloc(sizeof(PetscReal) * capacity, &r->value[e]));
  }
  r->capacity = capacity;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Local index of LABEL in level space S, remembering the first line where it appears. */
static PetscErrorCode SpaceLocalLabel(Space *space, const char label[], PetscInt64 line, PetscInt *index)
{
  PetscBool inserted;

  PetscFunctionBeginUser;
  PetscCall(LabelTableInsert(space->local, label, strlen(label), index, &inserted));
  if (inserted) {
    if (*index >= space->first_capacity) {
      space->first_capacity = PetscMax(64, 2 * space->first_capacity);
      PetscCall(PetscRealloc(sizeof(PetscInt64) * space->first_capacity, &space->first_line));
    }
    space->first_line[*index] = line;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Level spaces: the pedigree, one per iid group, one per other class effect. */
static PetscErrorCode RecordsSetUpSpaces(Records r, Model model)
{
  PetscInt ngroups, pedigree_space = -1, *group_space;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(model, &ngroups));
  PetscCall(PetscMalloc1(ngroups + 1, &group_space));
  for (PetscInt g = 0; g < ngroups; g++) group_space[g] = -1;
  PetscCall(PetscCalloc1(r->neffects + 2, &r->spaces));
  for (PetscInt e = 0; e < r->neffects; e++) {
    const ModelEffect *effect;
    PetscInt           s;
    PetscCall(ModelGetEffect(model, e, &effect));
    r->space_of[e] = -1;
    if (!effect->column[0]) {
      if (effect->kind == MODEL_EFFECT_FIXED) { /* the implied mean: one level, its own space */
        s              = r->nspaces++;
        r->space_of[e] = s;
      }
      continue;
    }
    if (ModelEffectIsAnimal(effect)) {
      if (pedigree_space < 0) {
        pedigree_space                     = r->nspaces++;
        r->spaces[pedigree_space].pedigree = PETSC_TRUE;
      }
      s = pedigree_space;
    } else if (effect->kind == MODEL_EFFECT_RANDOM) { /* the members of a group share their levels */
      if (group_space[effect->group] < 0) group_space[effect->group] = r->nspaces++;
      s = group_space[effect->group];
    } else
      s = r->nspaces++;
    r->space_of[e] = s;
    if (!r->spaces[s].local) PetscCall(LabelTableCreate(&r->spaces[s].local));
  }
  PetscCall(PetscFree(group_space));
  PetscCall(ModelGetSocialEffect(model, &r->social_effect, NULL));
  if (r->social_effect >= 0) { /* the groups (pens) have a space of their own */
    r->social_space = r->nspaces++;
    PetscCall(LabelTableCreate(&r->spaces[r->social_space].local));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A line of the data file as a member of its social group (none when its group is missing); *member is
   its index, -1 without a group. */
static PetscErrorCode RecordsAddMember(Records r, const ModelEffect *social, char *const fields[], PetscInt64 line, PetscInt64 *member)
{
  const char *group = fields[social->social_data_column], *animal = fields[social->data_column];
  PetscInt64  m;

  PetscFunctionBeginUser;
  *member = -1;
  if (HendersonIsMissing(group, PETSC_FALSE)) PetscFunctionReturn(PETSC_SUCCESS);
  if (r->nmembers == r->member_capacity) {
    r->member_capacity = PetscMax(1024, 2 * r->member_capacity);
    PetscCall(PetscRealloc(sizeof(PetscInt) * (size_t)r->member_capacity, &r->member_group));
    PetscCall(PetscRealloc(sizeof(PetscInt) * (size_t)r->member_capacity, &r->member_animal));
    PetscCall(PetscRealloc(sizeof(PetscInt) * (size_t)r->member_capacity, &r->member_record));
    PetscCall(PetscRealloc(sizeof(PetscInt64) * (size_t)r->member_capacity, &r->member_line));
  }
  m = r->nmembers++;
  PetscCall(SpaceLocalLabel(&r->spaces[r->social_space], group, line, &r->member_group[m]));
  r->member_animal[m] = -1;
  if (!HendersonIsMissing(animal, PETSC_TRUE)) PetscCall(SpaceLocalLabel(&r->spaces[r->space_of[r->social_effect]], animal, line, &r->member_animal[m]));
  r->member_record[m] = -1;
  r->member_line[m]   = line;
  *member             = m;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* This rank's lines; errors are local (the caller agrees on them). */
static PetscErrorCode RecordsReadLocal(Records r, Model model, Reader reader)
{
  const char        *path = ReaderPath(reader), *weight_name;
  PetscInt           ncolumns, trait_column[MODEL_MAX_TRAITS], weight_column;
  PetscBool          done;
  const ModelEffect *social = NULL;

  PetscFunctionBeginUser;
  if (r->social_effect >= 0) PetscCall(ModelGetEffect(model, r->social_effect, &social));
  for (PetscInt t = 0; t < r->ntraits; t++) PetscCall(ModelGetTrait(model, t, NULL, &trait_column[t]));
  PetscCall(ModelGetWeight(model, &weight_name, &weight_column));
  PetscCall(ReaderGetHeader(reader, &ncolumns, NULL));
  for (;;) {
    char *const *fields;
    PetscInt     nfields, k, present = 0;
    PetscInt64   line, member           = -1;
    PetscReal    y[MODEL_MAX_TRAITS], w = 1;
    PetscBool    skip = PETSC_FALSE;
    const char  *problem;

    PetscCall(ReaderNextLine(reader, &done));
    if (done) break;
    PetscCall(ReaderGetFields(reader, &nfields, &fields));
    PetscCall(ReaderGetLine(reader, &line));
    r->stats.lines++;
    if (!(r->stats.lines & 0xFFFF) && HendersonProgressDue())
      HendersonProgressPrintf("reading %s: %.1f million lines on rank 0 (every rank reads its own part)", path, (double)r->stats.lines / 1e6);
    PetscCheck(nfields == ncolumns, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s:%" PetscInt64_FMT ": %" PetscInt_FMT " field%s, but the header names %" PetscInt_FMT " columns", path, line, nfields,
               nfields == 1 ? "" : "s", ncolumns);
    if (social) PetscCall(RecordsAddMember(r, social, fields, line, &member)); /* a member whether its record is used or not */
    for (PetscInt t = 0; t < r->ntraits; t++) {
      const char *text = fields[trait_column[t]];
      if (HendersonIsMissing(text, PETSC_FALSE)) {
        y[t] = NAN;
        continue;
      }
      PetscCall(HendersonParseNumber(text, &y[t], &problem));
      if (problem) {
        const char *trait;
        PetscCall(ModelGetTrait(model, t, &trait, NULL));
        SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": trait '%s' has the value '%s', which %s (NA or . for missing)", path, line,
                trait, text, problem);
      }
      present++;
    }
    if (!present) {
      r->stats.missing_trait++;
      continue;
    }
    if (weight_column >= 0) {
      if (HendersonIsMissing(fields[weight_column], PETSC_FALSE))
        skip = PETSC_TRUE;
      else {
        PetscCall(HendersonParseNumber(fields[weight_column], &w, &problem));
        PetscCheck(!problem && w > 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": weight '%s' has the value '%s', which %s", path, line,
                   weight_name, fields[weight_column], problem ? problem : "is not a positive number");
      }
    }
    for (PetscInt e = 0; e < r->neffects && !skip; e++) {
      const ModelEffect *effect;
      PetscCall(ModelGetEffect(model, e, &effect));
      if (effect->covariate_column >= 0 && HendersonIsMissing(fields[effect->covariate_column], PETSC_FALSE)) skip = PETSC_TRUE;
    }
    if (skip) {
      r->stats.missing_covariate++;
      continue;
    }
    if (r->n == r->capacity) PetscCall(RecordsReserve(r, PetscMax(1024, 2 * r->capacity)));
    k = r->n++;
    if (member >= 0)
      r->member_record[member] = k;
    else if (social)
      r->stats.social_no_group++;
    for (PetscInt t = 0; t < r->ntraits; t++) {
      r->y[k * r->ntraits + t] = y[t];
      if (!PetscIsNanReal(y[t])) r->stats.values[t]++;
    }
    if (r->weight) r->weight[k] = w;
    for (PetscInt e = 0; e < r->neffects; e++) {
      const ModelEffect *effect;
      PetscCall(ModelGetEffect(model, e, &effect));
      if (effect->covariate_column >= 0) {
        const char *text = fields[effect->covariate_column];
        PetscCall(HendersonParseNumber(text, &r->value[e][k], &problem));
        PetscCheck(!problem, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": covariate '%s' has the value '%s', which %s (NA or . for missing)",
                   path, line, effect->covariate, text, problem);
        if (effect->range_given && (r->value[e][k] < effect->range[0] || r->value[e][k] > effect->range[1])) {
          char range[128];
          snprintf(range, sizeof(range), "%g to %g", (double)effect->range[0], (double)effect->range[1]); /* plain C: PETSc's %g writes 15 as "15." */
          SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                  "%s:%" PetscInt64_FMT ": covariate '%s' has the value %s, outside the Legendre range %s of effect '%s'", path, line, effect->covariate, text,
                  range, effect->name);
        }
      }
      if (!r->level[e]) continue;
      if (effect->data_column < 0) { /* the implied mean */
        r->level[e][k] = 0;
        continue;
      }
      {
        const char *text = fields[effect->data_column];
        if (r->animal_column[e] && HendersonIsMissing(text, PETSC_TRUE)) {
          r->level[e][k] = -1; /* unknown animal (a dam not known, say): no effect of this column on this record */
        } else {
          PetscCheck(text[0], PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": column '%s' is empty", path, line, effect->column);
          PetscCall(SpaceLocalLabel(&r->spaces[r->space_of[e]], text, line, &r->level[e][k]));
          if (r->group_ids && r->animal_column[e]) {
            PetscInt g;
            PetscCall(LabelTableFind(r->group_ids, text, strlen(text), &g));
            PetscCheck(g < 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                       "%s:%" PetscInt64_FMT ": '%s' in column '%s' is an unknown-parent group (the model's groups line), not an animal", path, line, text,
                       effect->column);
          }
        }
      }
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Centre, scale and Legendre interval of every covariate, over all ranks' records. */
static PetscErrorCode RecordsScaleCovariates(Records r, Model model)
{
  const char *model_path, *data_path;

  PetscFunctionBeginUser;
  PetscCall(ModelGetPath(model, &model_path));
  PetscCall(ModelGetDataPath(model, &data_path));
  for (PetscInt e = 0; e < r->neffects; e++) {
    const ModelEffect *effect;
    PetscReal          sum = 0, total, squares = 0, lo = PETSC_MAX_REAL, hi = PETSC_MIN_REAL, extreme[2];
    r->scale[e] = 1;
    if (!r->value[e]) continue;
    PetscCall(ModelGetEffect(model, e, &effect));
    for (PetscInt k = 0; k < r->n; k++) {
      lo = PetscMin(lo, r->value[e][k]);
      hi = PetscMax(hi, r->value[e][k]);
    }
    extreme[0] = -lo;
    extreme[1] = hi;
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, extreme, 2, MPIU_REAL, MPI_MAX, r->comm));
    if (effect->legendre >= 0) {
      /* the interval mapped to [-1, 1]: as given, or the covariate's range in the data */
      r->range[e][0] = effect->range_given ? effect->range[0] : -extreme[0];
      r->range[e][1] = effect->range_given ? effect->range[1] : extreme[1];
      PetscCheck(r->range[e][1] > r->range[e][0], r->comm, PETSC_ERR_USER_INPUT,
                 "%s:%" PetscInt_FMT ": covariate '%s' of effect '%s' has the same value (%g) on every record of %s: no Legendre polynomials of it", model_path,
                 effect->line, effect->covariate, effect->name, (double)r->range[e][0], data_path);
      continue;
    }
    if (!effect->nested) {
      for (PetscInt k = 0; k < r->n; k++) sum += r->value[e][k];
      PetscCallMPI(MPI_Allreduce(&sum, &total, 1, MPIU_REAL, MPI_SUM, r->comm));
      r->centre[e] = total / (PetscReal)r->stats.used;
    }
    for (PetscInt k = 0; k < r->n; k++) squares += (r->value[e][k] - r->centre[e]) * (r->value[e][k] - r->centre[e]);
    PetscCallMPI(MPI_Allreduce(&squares, &total, 1, MPIU_REAL, MPI_SUM, r->comm));
    r->scale[e] = PetscSqrtReal(total / (PetscReal)r->stats.used);
    if (!(r->scale[e] > 1e-12 * PetscMax(1.0, PetscAbsReal(r->centre[e])))) {
      char value[64];
      snprintf(value, sizeof(value), "%g", (double)(effect->nested ? 0.0 : r->centre[e])); /* plain C formatting: PETSc's %g writes 0 as "0." */
      SETERRQ(r->comm, PETSC_ERR_USER_INPUT,
              "%s:%" PetscInt_FMT ": covariate '%s' has the same value (%s) on every record of %s used: it cannot be told apart from the mean", model_path,
              effect->line, effect->covariate, value, data_path);
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Mean, standard deviation (two passes: no cancellation), smallest and largest value of every trait over
   the records used, all ranks. */
static PetscErrorCode RecordsTraitStats(Records r)
{
  PetscReal sum[MODEL_MAX_TRAITS] = {0}, squares[MODEL_MAX_TRAITS] = {0}, lo[MODEL_MAX_TRAITS], hi[MODEL_MAX_TRAITS];
  PetscInt  t = r->ntraits;

  PetscFunctionBeginUser;
  for (PetscInt j = 0; j < t; j++) {
    lo[j] = PETSC_MAX_REAL;
    hi[j] = -PETSC_MAX_REAL;
  }
  for (PetscInt k = 0; k < r->n; k++)
    for (PetscInt j = 0; j < t; j++) {
      PetscReal y = r->y[k * t + j];
      if (PetscIsNanReal(y)) continue;
      sum[j] += y;
      lo[j] = PetscMin(lo[j], y);
      hi[j] = PetscMax(hi[j], y);
    }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, sum, (PetscMPIInt)t, MPIU_REAL, MPI_SUM, r->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, lo, (PetscMPIInt)t, MPIU_REAL, MPI_MIN, r->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, hi, (PetscMPIInt)t, MPIU_REAL, MPI_MAX, r->comm));
  for (PetscInt j = 0; j < t; j++) r->stats.mean[j] = r->stats.values[j] ? sum[j] / (PetscReal)r->stats.values[j] : NAN;
  for (PetscInt k = 0; k < r->n; k++)
    for (PetscInt j = 0; j < t; j++) {
      PetscReal y = r->y[k * t + j];
      if (!PetscIsNanReal(y)) squares[j] += (y - r->stats.mean[j]) * (y - r->stats.mean[j]);
    }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, squares, (PetscMPIInt)t, MPIU_REAL, MPI_SUM, r->comm));
  for (PetscInt j = 0; j < t; j++) {
    PetscInt64 n    = r->stats.values[j];
    r->stats.sd[j]  = n > 1 ? PetscSqrtReal(squares[j] / (PetscReal)(n - 1)) : 0;
    r->stats.min[j] = n ? lo[j] : NAN;
    r->stats.max[j] = n ? hi[j] : NAN;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsRead(Records r, Model model)
{
  const char        *path, *weight;
  Reader             reader;
  PetscInt           ncolumns;
  const char *const *names;
  PetscErrorCode     ierr;
  PetscInt64         local[4 + MODEL_MAX_TRAITS], global[4 + MODEL_MAX_TRAITS];

  PetscFunctionBeginUser;
  r->model = model;
  PetscCall(ModelGetNumEffects(model, &r->neffects));
  PetscCall(ModelGetNumTraits(model, &r->ntraits));
  PetscCall(PetscCalloc3(r->neffects, &r->level, r->neffects, &r->value, r->neffects, &r->space_of));
  PetscCall(PetscCalloc3(r->neffects, &r->centre, r->neffects, &r->scale, r->neffects, &r->range));
  PetscCall(RecordsSetUpSpaces(r, model));
  PetscCall(PetscCalloc1(r->neffects + 1, &r->animal_column));
  PetscCall(PetscCalloc1(r->neffects + 1, &r->not_in_pedigree));
  for (PetscInt e = 0; e < r->neffects; e++) {
    const ModelEffect *effect;
    PetscCall(ModelGetEffect(model, e, &effect));
    for (PetscInt f = 0; f < r->neffects && effect->column[0]; f++) {
      const ModelEffect *other;
      PetscCall(ModelGetEffect(model, f, &other));
      if (ModelEffectIsAnimal(other) && !strcmp(other->column, effect->column)) r->animal_column[e] = PETSC_TRUE;
    }
  }
  for (PetscInt e = 0; e < r->neffects; e++) {
    const ModelEffect *effect;
    PetscCall(ModelGetEffect(model, e, &effect));
    if (effect->covariate[0]) PetscCall(PetscMalloc1(1, &r->value[e]));
    if (r->space_of[e] >= 0) PetscCall(PetscMalloc1(1, &r->level[e]));
  }
  PetscCall(ModelGetWeight(model, &weight, NULL));
  if (weight) PetscCall(PetscMalloc1(1, &r->weight));
  PetscCall(RecordsReserve(r, 1024));
  {
    PetscInt           ngroups;
    const char *const *groups;
    PetscCall(ModelGetGroups(model, &ngroups, &groups));
    if (ngroups) PetscCall(LabelTableCreate(&r->group_ids));
    for (PetscInt g = 0; g < ngroups; g++) PetscCall(LabelTableInsert(r->group_ids, groups[g], strlen(groups[g]), NULL, NULL));
  }

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
  for (PetscInt t = 0; t < MODEL_MAX_TRAITS; t++) local[4 + t] = r->stats.values[t];
  PetscCallMPI(MPI_Allreduce(local, global, 4 + MODEL_MAX_TRAITS, MPIU_INT64, MPI_SUM, r->comm));
  r->stats.lines             = global[0];
  r->stats.used              = global[1];
  r->stats.missing_trait     = global[2];
  r->stats.missing_covariate = global[3];
  for (PetscInt t = 0; t < MODEL_MAX_TRAITS; t++) r->stats.values[t] = global[4 + t];
  PetscCheck(r->stats.used > 0, r->comm, PETSC_ERR_USER_INPUT, "%s: no record has a value for the trait%s (%" PetscInt64_FMT " data lines)", path,
             r->ntraits > 1 ? "s" : "", r->stats.lines);
  PetscCall(RecordsTraitStats(r));
  PetscCall(RecordsScaleCovariates(r, model));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A member of a social group at the rank that gathers its group. */
typedef struct {
  PetscInt64 group, line, animal, record, source;
} Member;

static int MemberCompare(const void *a, const void *b)
{
  const Member *x = (const Member *)a, *y = (const Member *)b;
  if (x->group != y->group) return x->group < y->group ? -1 : 1;
  return x->line < y->line ? -1 : x->line > y->line;
}

/* Collective. Every member goes to the rank that gathers its group (group index modulo ranks); that
   rank sends every record of the group its group's size and its mates' animals, in line order. */
static PetscErrorCode RecordsSetUpSocial(Records r, Model model)
{
  PetscMPIInt size, *send_n, *recv_n, *send_at, *recv_at;
  PetscInt64 *send, *recv, *reply, *answer;
  PetscCount  nrecv, nanswer;
  Member     *member;
  /* counts: groups, members, members without a record, without an ID, not in the pedigree, groups of one,
     records without a group; extreme: -(smallest group), largest group */
  PetscInt64         stats[7] = {0}, extreme[2] = {-PETSC_MAX_INT, -PETSC_MAX_INT}, largest_line = 0;
  const char        *path, *model_path;
  const ModelEffect *social;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(r->comm, &size));
  PetscCall(ModelGetDataPath(model, &path));
  PetscCall(ModelGetPath(model, &model_path));
  PetscCall(ModelGetEffect(model, r->social_effect, &social));
  PetscCall(PetscCalloc4(size, &send_n, size, &recv_n, size + 1, &send_at, size, &recv_at));
  /* 1. members to the ranks of their groups */
  for (PetscInt64 m = 0; m < r->nmembers; m++) send_n[r->member_group[m] % size] += 4;
  for (PetscMPIInt p = 0; p < size; p++) send_at[p + 1] = send_at[p] + send_n[p];
  PetscCall(PetscMalloc1(4 * r->nmembers + 1, &send));
  {
    PetscMPIInt *next;
    PetscCall(PetscMalloc1(size, &next));
    PetscCall(PetscArraycpy(next, send_at, size));
    for (PetscInt64 m = 0; m < r->nmembers; m++) {
      PetscInt64 *at = send + next[r->member_group[m] % size];
      next[r->member_group[m] % size] += 4;
      at[0] = r->member_group[m];
      at[1] = r->member_line[m];
      at[2] = r->member_animal[m];
      at[3] = r->member_record[m];
    }
    PetscCall(PetscFree(next));
  }
  PetscCall(HendersonExchange(r->comm, MPIU_INT64, sizeof(PetscInt64), send_n, send_at, send, recv_n, recv_at, (void **)&recv, &nrecv, "group members"));
  PetscCall(PetscFree(send));
  PetscCall(RecordsFreeMembers(r));

  /* 2. the groups, each member's mates back to its record's rank */
  nrecv /= 4;
  PetscCall(PetscMalloc1(nrecv + 1, &member));
  for (PetscMPIInt p = 0, k = 0; p < size; p++)
    for (PetscMPIInt j = 0; j < recv_n[p] / 4; j++, k++) {
      const PetscInt64 *at = recv + 4 * (PetscInt64)k;
      member[k]            = (Member){at[0], at[1], at[2], at[3], p};
    }
  PetscCall(PetscFree(recv));
  qsort(member, (size_t)nrecv, sizeof(Member), MemberCompare);
  PetscCall(PetscArrayzero(send_n, size));
  for (PetscInt64 a = 0, b; a < nrecv; a = b) {
    for (b = a; b < nrecv && member[b].group == member[a].group; b++) {}
    stats[0]++;
    if (b - a == 1) stats[5]++;
    if (b - a > extreme[1]) {
      extreme[1]   = b - a;
      largest_line = member[a].line;
    }
    extreme[0] = PetscMax(extreme[0], -(b - a));
    if (b - a > RECORDS_MAX_SOCIAL_GROUP) continue; /* an error below */
    for (PetscInt64 m = a; m < b; m++) {
      stats[1]++;
      if (member[m].record < 0) stats[2]++;
      if (member[m].animal < 0)
        stats[3]++;
      else if (member[m].animal >= r->npreset)
        stats[4]++;
      if (member[m].record >= 0) send_n[member[m].source] += 2 + (PetscMPIInt)(b - a - 1);
    }
  }
  if (r->social_effect >= 0 && r->space_of[r->social_effect] >= 0 && !r->spaces[r->space_of[r->social_effect]].pedigree) stats[4] = 0;
  stats[6] = r->stats.social_no_group;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, stats, 7, MPIU_INT64, MPI_SUM, r->comm));
  {
    PetscInt64 global[2], line_in = extreme[1] >= 0 ? largest_line : 0, line;
    PetscCallMPI(MPI_Allreduce(extreme, global, 2, MPIU_INT64, MPI_MAX, r->comm));
    if (extreme[1] != global[1]) line_in = PETSC_MAX_INT;
    PetscCallMPI(MPI_Allreduce(&line_in, &line, 1, MPIU_INT64, MPI_MIN, r->comm));
    r->stats.social_min = stats[0] ? -global[0] : 0;
    r->stats.social_max = stats[0] ? global[1] : 0;
    if (r->stats.social_max > RECORDS_MAX_SOCIAL_GROUP) {
      PetscCall(PetscFree(member));
      PetscCall(PetscFree3(send_n, recv_n, send_at));
      SETERRQ(r->comm, PETSC_ERR_USER_INPUT,
              "%s:%" PetscInt64_FMT ": the social group ('%s') of this line has %" PetscInt64_FMT
              " members; social effects are built for groups of up to %d (pens, cages, tanks) -- see %s:%" PetscInt_FMT,
              path, line, social->social_column, r->stats.social_max, RECORDS_MAX_SOCIAL_GROUP, model_path, social->line);
    }
  }
  r->stats.social_groups          = stats[0];
  r->stats.social_members         = stats[1];
  r->stats.social_without_record  = stats[2];
  r->stats.social_unknown_animal  = stats[3];
  r->stats.social_not_in_pedigree = stats[4];
  r->stats.social_alone           = stats[5];
  r->stats.social_no_group        = stats[6];
  for (PetscMPIInt p = 0; p < size; p++) send_at[p + 1] = send_at[p] + send_n[p];
  PetscCall(PetscMalloc1((PetscInt64)send_at[size] + 1, &reply));
  {
    PetscMPIInt *next;
    PetscCall(PetscMalloc1(size, &next));
    PetscCall(PetscArraycpy(next, send_at, size));
    for (PetscInt64 a = 0, b; a < nrecv; a = b) {
      for (b = a; b < nrecv && member[b].group == member[a].group; b++) {}
      for (PetscInt64 m = a; m < b; m++) {
        PetscInt64 *at;
        if (member[m].record < 0) continue;
        at    = reply + next[member[m].source];
        at[0] = member[m].record;
        at[1] = b - a;
        for (PetscInt64 j = a, i = 2; j < b; j++)
          if (j != m) at[i++] = member[j].animal;
        next[member[m].source] += 2 + (PetscMPIInt)(b - a - 1);
      }
    }
    PetscCall(PetscFree(next));
  }
  PetscCall(PetscFree(member));
  PetscCall(HendersonExchange(r->comm, MPIU_INT64, sizeof(PetscInt64), send_n, send_at, reply, recv_n, recv_at, (void **)&answer, &nanswer, "group mates"));
  PetscCall(PetscFree(reply));
  PetscCall(PetscFree4(send_n, recv_n, send_at, recv_at));

  /* 3. every record's mates */
  PetscCall(PetscCalloc3(r->n + 1, &r->mate_offset, nanswer + 1, &r->mates, r->n + 1, &r->group_size));
  for (PetscInt64 at = 0; at < nanswer; at += 2 + answer[at + 1] - 1) {
    r->group_size[answer[at]]      = (PetscInt)answer[at + 1];
    r->mate_offset[answer[at] + 1] = (PetscInt)(answer[at + 1] - 1);
  }
  for (PetscInt k = 0; k < r->n; k++) r->mate_offset[k + 1] += r->mate_offset[k];
  for (PetscInt64 at = 0; at < nanswer; at += 2 + answer[at + 1] - 1)
    for (PetscInt64 j = 0; j < answer[at + 1] - 1; j++) r->mates[r->mate_offset[answer[at]] + j] = (PetscInt)answer[at + 2 + j];
  PetscCall(PetscFree(answer));
  r->max_mates = PetscMax(0, (PetscInt)r->stats.social_max - 1);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsNumber(Records r, Model model, Pedigree pedigree)
{
  PetscFunctionBeginUser;
  r->pedigree = pedigree;
  for (PetscInt s = 0; s < r->nspaces; s++) {
    Space         *space = &r->spaces[s];
    PetscInt       nlocal, *global;
    LabelTable     preset = NULL, added = NULL;
    LabelDirectory directory = NULL;

    if (!space->local) { /* the implied mean: one level */
      space->nlevels = 1;
      if (r->rank == 0) {
        PetscCall(LabelTableCreate(&space->labels));
        PetscCall(LabelTableInsert(space->labels, "mean", 4, NULL, NULL));
      }
      continue;
    }
    if (space->pedigree) {
      PetscCheck(pedigree, r->comm, PETSC_ERR_ARG_WRONGSTATE, "pedigree effects need the pedigree");
      if (r->rank == 0) PetscCall(PedigreeGetLabels(pedigree, &preset)); /* NULL: the directory has them all */
      PetscCall(PedigreeGetDirectory(pedigree, &directory));
      if (preset)
        PetscCall(LabelTableGetSize(preset, &r->npreset));
      else if (directory)
        PetscCall(LabelDirectoryGetSize(directory, &r->npreset));
      PetscCallMPI(MPI_Bcast(&r->npreset, 1, MPIU_INT, 0, r->comm));
    }
    PetscCall(LabelTableGetSize(space->local, &nlocal));
    PetscCall(PetscMalloc1(nlocal + 1, &global));
    PetscCall(LabelsNumber(r->comm, space->local, space->first_line, preset, directory, global, &space->nlevels, r->rank == 0 ? &added : NULL));
    for (PetscInt e = 0; e < r->neffects; e++) {
      if (r->space_of[e] != s || !r->level[e]) continue;
      for (PetscInt k = 0; k < r->n; k++)
        if (r->level[e][k] >= 0) {
          r->level[e][k] = global[r->level[e][k]];
          if (space->pedigree && r->level[e][k] >= r->npreset) r->not_in_pedigree[e]++; /* before the animals are reordered */
        }
    }
    if (s == r->social_space)
      for (PetscInt64 m = 0; m < r->nmembers; m++) r->member_group[m] = global[r->member_group[m]];
    if (r->social_effect >= 0 && s == r->space_of[r->social_effect])
      for (PetscInt64 m = 0; m < r->nmembers; m++)
        if (r->member_animal[m] >= 0) r->member_animal[m] = global[r->member_animal[m]];
    PetscCall(PetscFree(global));
    if (space->pedigree) {
      PetscCall(PedigreeAddFounders(pedigree, added));
      PetscCall(LabelTableDestroy(&added));
    } else {
      space->labels = added;
    }
    /* the local tables are no longer needed */
    PetscCall(LabelTableDestroy(&space->local));
    PetscCall(PetscFree(space->first_line));
    space->first_capacity = 0;
  }
  r->numbered = PETSC_TRUE;
  if (r->social_effect >= 0) PetscCall(RecordsSetUpSocial(r, model));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsPermuteLevels(Records r, PetscInt e, const PetscInt position[])
{
  PetscInt space;

  PetscFunctionBeginUser;
  PetscCheck(r->numbered, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "call RecordsNumber() first");
  PetscCheck(e >= 0 && e < r->neffects && r->space_of[e] >= 0 && r->level[e], PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "effect %" PetscInt_FMT " has no levels",
             e);
  space = r->space_of[e];
  if (r->social_effect >= 0 && r->space_of[r->social_effect] == space)
    for (PetscInt k = 0; r->mate_offset && k < r->mate_offset[r->n]; k++)
      if (r->mates[k] >= 0) r->mates[k] = position[r->mates[k]];
  for (PetscInt f = 0; f < r->neffects; f++) {
    if (r->space_of[f] != space) continue;
    for (PetscInt k = 0; k < r->n; k++)
      if (r->level[f][k] >= 0) r->level[f][k] = position[r->level[f][k]];
  }
  if (r->rank == 0 && !r->spaces[space].pedigree) { /* the labels of the pedigree's space live in the pedigree */
    PetscInt n, *order;
    PetscCall(LabelTableGetSize(r->spaces[space].labels, &n));
    PetscCall(PetscMalloc1(n + 1, &order));
    for (PetscInt l = 0; l < n; l++) order[position[l]] = l;
    PetscCall(LabelTablePermute(r->spaces[space].labels, n, order));
    PetscCall(PetscFree(order));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsGetSocial(Records r, const PetscInt **offset, const PetscInt **mates, const PetscInt **size, PetscInt *max_mates)
{
  PetscFunctionBeginUser;
  PetscCheck(r->numbered && r->social_effect >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "no social effect, or RecordsNumber() not called");
  if (offset) *offset = r->mate_offset;
  if (mates) *mates = r->mates;
  if (size) *size = r->group_size;
  if (max_mates) *max_mates = r->max_mates;
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

PetscErrorCode RecordsGetTraits(Records r, const PetscReal **y)
{
  PetscFunctionBeginUser;
  *y = r->y;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsGetWeights(Records r, const PetscReal **w)
{
  PetscFunctionBeginUser;
  *w = r->weight;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsGetCovariateScaling(Records r, PetscInt e, PetscReal *centre, PetscReal *scale)
{
  PetscFunctionBeginUser;
  PetscCheck(e >= 0 && e < r->neffects && r->value[e], PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "effect %" PetscInt_FMT " has no covariate", e);
  *centre = r->centre[e];
  *scale  = r->scale[e];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsGetLegendreRange(Records r, PetscInt e, PetscReal range[2])
{
  PetscFunctionBeginUser;
  PetscCheck(e >= 0 && e < r->neffects && r->value[e], PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "effect %" PetscInt_FMT " has no covariate", e);
  range[0] = r->range[e][0];
  range[1] = r->range[e][1];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsGetLevels(Records r, PetscInt e, PetscInt *nlevels, LabelTable *labels)
{
  PetscFunctionBeginUser;
  PetscCheck(r->numbered, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "call RecordsNumber() first");
  if (r->space_of[e] < 0) { /* a plain covariate */
    if (nlevels) *nlevels = 1;
    if (labels) *labels = NULL;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  {
    Space *space = &r->spaces[r->space_of[e]];
    if (labels) {
      *labels = space->labels;
      if (space->pedigree && r->rank == 0) PetscCall(PedigreeGetLabels(r->pedigree, labels));
    }
    if (nlevels) {
      /* the pedigree may have grown after its space was numbered: every animal is a level */
      if (space->pedigree) {
        PedigreeStats stats;
        PetscCall(PedigreeGetStats(r->pedigree, &stats));
        *nlevels = stats.animals;
      } else
        *nlevels = space->nlevels;
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsCountLevels(Records r, Model model, PetscInt e, PetscInt64 counts[])
{
  const ModelEffect *effect;
  PetscInt           nlevels;

  PetscFunctionBeginUser;
  PetscCall(ModelGetEffect(model, e, &effect));
  PetscCall(RecordsGetLevels(r, e, &nlevels, NULL));
  PetscCall(PetscArrayzero(counts, nlevels * r->ntraits));
  for (PetscInt k = 0; k < r->n; k++) {
    PetscInt level = r->level[e] ? r->level[e][k] : 0;
    if (level < 0) continue;
    for (PetscInt i = 0; i < effect->ntraits; i++) {
      PetscInt t = effect->traits[i];
      if (!PetscIsNanReal(r->y[k * r->ntraits + t])) counts[level * r->ntraits + t]++;
    }
  }
  { /* MPI counts are int: in slices (one unless levels x traits exceed 2^30, with 64-bit indices) */
    const PetscInt64 total = (PetscInt64)nlevels * r->ntraits, slice = (PetscInt64)1 << 30;
    for (PetscInt64 at = 0; at < total; at += slice)
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, counts + at, (PetscMPIInt)PetscMin(slice, total - at), MPIU_INT64, MPI_SUM, r->comm));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static int CompareInt64(const void *a, const void *b)
{
  PetscInt64 x = *(const PetscInt64 *)a, y = *(const PetscInt64 *)b;
  return (x > y) - (x < y);
}

/* The median of the nonzero counts of COUNTS (distributed over the levels). Few levels (class effects):
   gathered on rank 0 and sorted. Many (animals, which have few records each): a histogram of the
   counts, capped at 2^16 (a count beyond that cannot be the median of so many levels' counts unless
   nearly all are; the largest is reported exactly anyway). */
static PetscErrorCode MedianCount(MPI_Comm comm, Vec counts, PetscInt nwith, PetscReal *median)
{
  PetscInt           n, nlocal;
  const PetscScalar *c;
  PetscMPIInt        rank;

  PetscFunctionBeginUser;
  *median = 0;
  if (!nwith) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(VecGetSize(counts, &n));
  if (n <= (1 << 20)) {
    Vec        all;
    VecScatter scatter;
    PetscCall(VecScatterCreateToZero(counts, &scatter, &all));
    PetscCall(VecScatterBegin(scatter, counts, all, INSERT_VALUES, SCATTER_FORWARD));
    PetscCall(VecScatterEnd(scatter, counts, all, INSERT_VALUES, SCATTER_FORWARD));
    if (!rank) {
      PetscInt64 *sorted, m = 0;
      PetscCall(VecGetArrayRead(all, &c));
      PetscCall(PetscMalloc1(n + 1, &sorted));
      for (PetscInt l = 0; l < n; l++)
        if (PetscRealPart(c[l]) > 0) sorted[m++] = (PetscInt64)PetscRealPart(c[l]);
      qsort(sorted, (size_t)m, sizeof(PetscInt64), CompareInt64);
      *median = m % 2 ? (PetscReal)sorted[m / 2] : 0.5 * (PetscReal)(sorted[m / 2 - 1] + sorted[m / 2]);
      PetscCall(PetscFree(sorted));
      PetscCall(VecRestoreArrayRead(all, &c));
    }
    PetscCall(VecScatterDestroy(&scatter));
    PetscCall(VecDestroy(&all));
  } else {
    const PetscInt64 cap = 1 << 16;
    PetscInt64      *histogram, below = 0;
    PetscCall(PetscCalloc1(cap + 1, &histogram));
    PetscCall(VecGetLocalSize(counts, &nlocal));
    PetscCall(VecGetArrayRead(counts, &c));
    for (PetscInt l = 0; l < nlocal; l++)
      if (PetscRealPart(c[l]) > 0) histogram[PetscMin(cap, (PetscInt64)PetscRealPart(c[l]))]++;
    PetscCall(VecRestoreArrayRead(counts, &c));
    PetscCallMPI(MPI_Reduce(rank ? histogram : MPI_IN_PLACE, histogram, (PetscMPIInt)(cap + 1), MPIU_INT64, MPI_SUM, 0, comm));
    for (PetscInt64 k = 1; !rank && k <= cap; k++) { /* the (n+1)/2-th count, or the mean of the two middle ones */
      below += histogram[k];
      if (2 * below == nwith) {
        PetscInt64 next = k + 1;
        while (next < cap && !histogram[next]) next++;
        *median = 0.5 * (PetscReal)(k + next);
        break;
      }
      if (2 * below > nwith) {
        *median = (PetscReal)k;
        break;
      }
    }
    PetscCall(PetscFree(histogram));
  }
  PetscCallMPI(MPI_Bcast(median, 1, MPIU_REAL, 0, comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Effect E's statistics: a vector over its levels gets every local record's 1 (the owners sum them). */
static PetscErrorCode EffectLevelStats(Records r, PetscInt e, RecordsLevelStats *st)
{
  Vec                counts;
  const PetscScalar *c;
  PetscInt           nlocal, with = 0;
  PetscInt64         missing = 0, extreme[2] = {INT64_MAX, 0};
  PetscReal          total;

  PetscFunctionBeginUser;
  PetscCall(RecordsGetLevels(r, e, &st->levels, NULL));
  PetscCall(VecCreateMPI(r->comm, PETSC_DECIDE, st->levels, &counts));
  for (PetscInt k = 0; k < r->n; k++) {
    PetscInt level = r->level[e][k];
    if (level < 0) continue;
    PetscCall(VecSetValue(counts, level, 1.0, ADD_VALUES));
  }
  missing = r->not_in_pedigree[e];
  PetscCall(VecAssemblyBegin(counts));
  PetscCall(VecAssemblyEnd(counts));
  PetscCall(VecGetLocalSize(counts, &nlocal));
  PetscCall(VecGetArrayRead(counts, &c));
  for (PetscInt l = 0; l < nlocal; l++) {
    PetscInt64 n = (PetscInt64)PetscRealPart(c[l]);
    if (!n) continue;
    with++;
    extreme[0] = PetscMin(extreme[0], n);
    extreme[1] = PetscMax(extreme[1], n);
  }
  PetscCall(VecRestoreArrayRead(counts, &c));
  extreme[0] = -extreme[0]; /* one MPI_MAX for both */
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, extreme, 2, MPIU_INT64, MPI_MAX, r->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &with, 1, MPIU_INT, MPI_SUM, r->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &missing, 1, MPIU_INT64, MPI_SUM, r->comm));
  PetscCall(VecSum(counts, &total));
  st->levels_with_records = with;
  st->records             = (PetscInt64)PetscRealPart(total);
  st->smallest            = with ? -extreme[0] : 0;
  st->largest             = extreme[1];
  st->not_in_pedigree     = missing;
  PetscCall(MedianCount(r->comm, counts, with, &st->median));
  PetscCall(VecDestroy(&counts));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsComputeLevelStats(Records r, Model model)
{
  PetscFunctionBeginUser;
  (void)model;
  PetscCheck(r->numbered, r->comm, PETSC_ERR_ARG_WRONGSTATE, "call RecordsNumber() first");
  PetscCall(PetscFree(r->level_stats));
  PetscCall(PetscCalloc1(r->neffects + 1, &r->level_stats));
  for (PetscInt e = 0; e < r->neffects; e++)
    if (r->level[e]) PetscCall(EffectLevelStats(r, e, &r->level_stats[e]));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsGetLevelStats(Records r, PetscInt e, PetscBool *has, RecordsLevelStats *stats)
{
  PetscFunctionBeginUser;
  *has = r->level_stats && r->level[e] ? PETSC_TRUE : PETSC_FALSE;
  if (*has) *stats = r->level_stats[e];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A number as a person writes it (plain C: PETSc's %g writes 15 as "15."). */
static void Number(char buffer[], size_t size, PetscReal v)
{
  snprintf(buffer, size, "%.6g", (double)v);
}

/* Per trait: the values used, their mean, SD, smallest and largest. */
static PetscErrorCode ViewTraits(Records r, PetscViewer viewer)
{
  PetscFunctionBeginUser;
  for (PetscInt t = 0; t < r->ntraits; t++) {
    const char *name;
    char        v[4][32];
    PetscCall(ModelGetTrait(r->model, t, &name, NULL));
    Number(v[0], sizeof(v[0]), r->stats.mean[t]);
    Number(v[1], sizeof(v[1]), r->stats.sd[t]);
    Number(v[2], sizeof(v[2]), r->stats.min[t]);
    Number(v[3], sizeof(v[3]), r->stats.max[t]);
    PetscCall(PetscViewerASCIIPrintf(viewer, "  %-11s %s: %" PetscInt64_FMT " values, mean %s, SD %s, min %s, max %s\n",
                                     t ? "" : (r->ntraits > 1 ? "traits" : "trait"), name, r->stats.values[t], v[0], v[1], v[2], v[3]));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Per class effect: its levels and how many records each has (smallest, median, largest among the
   levels with records); for an animal effect also the records whose animal is not in the pedigree. */
static PetscErrorCode ViewEffects(Records r, PetscViewer viewer)
{
  PetscInt shown = 0;

  PetscFunctionBeginUser;
  for (PetscInt e = 0; e < r->neffects; e++) {
    const ModelEffect *effect;
    RecordsLevelStats  ls;
    PetscBool          has;
    char               with[64] = "", missing[128] = "";
    PetscCall(ModelGetEffect(r->model, e, &effect));
    PetscCall(RecordsGetLevelStats(r, e, &has, &ls));
    if (!has) continue;
    if (ls.levels_with_records != ls.levels) snprintf(with, sizeof(with), ", %" PetscInt_FMT " with records", ls.levels_with_records);
    if (ModelEffectIsAnimal(effect))
      snprintf(missing, sizeof(missing), "; %" PetscInt64_FMT " of %" PetscInt64_FMT " records name animals not in the pedigree", ls.not_in_pedigree,
               ls.records);
    PetscCall(PetscViewerASCIIPrintf(viewer, "  %-11s %s: %" PetscInt_FMT " levels%s; records per level %" PetscInt64_FMT " / %.4g / %" PetscInt64_FMT "%s\n",
                                     shown++ ? "" : "effects", effect->name, ls.levels, with, ls.smallest, (double)ls.median, ls.largest, missing));
  }
  if (shown) PetscCall(PetscViewerASCIIPrintf(viewer, "              (records per level: smallest / median / largest, over the levels with records)\n"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The social groups as the data have them. */
static PetscErrorCode ViewSocial(Records r, PetscViewer viewer)
{
  const ModelEffect  *effect;
  const RecordsStats *s = &r->stats;

  PetscFunctionBeginUser;
  if (r->social_effect < 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetEffect(r->model, r->social_effect, &effect));
  PetscCall(PetscViewerASCIIPrintf(viewer,
                                   "  social      groups '%s': %" PetscInt64_FMT " of %" PetscInt64_FMT " to %" PetscInt64_FMT " members (%" PetscInt64_FMT
                                   " of one); %" PetscInt64_FMT " members: %" PetscInt64_FMT " without a record, %" PetscInt64_FMT
                                   " without an ID, %" PetscInt64_FMT " not in the pedigree (founders); %" PetscInt64_FMT " records without a group\n",
                                   effect->social_column, s->social_groups, s->social_min, s->social_max, s->social_alone, s->social_members,
                                   s->social_without_record, s->social_unknown_animal, s->social_not_in_pedigree, s->social_no_group));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordsView(Records r, PetscViewer viewer)
{
  const char         *path;
  const RecordsStats *s = &r->stats;

  PetscFunctionBeginUser;
  PetscCheck(r->model, r->comm, PETSC_ERR_ARG_WRONGSTATE, "call RecordsRead() first");
  PetscCall(ModelGetDataPath(r->model, &path));
  PetscCall(PetscViewerASCIIPrintf(viewer,
                                   "  data        %s: %" PetscInt64_FMT " lines, %" PetscInt64_FMT " records used, %" PetscInt64_FMT
                                   " skipped (%" PetscInt64_FMT " trait missing, %" PetscInt64_FMT " covariate or weight missing)\n",
                                   path, s->lines, s->used, s->missing_trait + s->missing_covariate, s->missing_trait, s->missing_covariate));
  PetscCall(ViewTraits(r, viewer));
  PetscCall(ViewEffects(r, viewer));
  PetscCall(ViewSocial(r, viewer));
  PetscFunctionReturn(PETSC_SUCCESS);
}
