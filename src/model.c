#include <henderson/model.h>
#include <henderson/reader.h>
#include <henderson/error.h>
#include <henderson/dense.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

const char *const ModelEffectKindNames[] = {"fixed", "covariate", "random"};
const char *const ModelStructureNames[]  = {"none", "iid", "pedigree", "genomic"};

#define MODEL_MAX_FIELDS 1024

/* What a statement said before the traits are all known: the `for` list and the (co)variances. */
typedef struct {
  PetscInt nfor;
  char (*for_names)[MODEL_MAX_NAME];
  PetscInt   nvalues;
  PetscReal *values; /* random groups: the (co)variances as written */
} PendingEffect;

struct _p_Model {
  MPI_Comm            comm;
  char                path[HENDERSON_MAX_PATH];
  char               *text;
  char                data_path[HENDERSON_MAX_PATH], pedigree_path[HENDERSON_MAX_PATH], output_path[HENDERSON_MAX_PATH];
  PetscInt            data_line, pedigree_line, output_line; /* where the model file names them (0: output implied) */
  PetscBool           has_pedigree, inbreeding;
  ModelGenotypes      genotypes;
  ModelPedigreeKind   pedigree_kind;
  ModelPedigreeHeader pedigree_header; /* auto unless the pedigree line says header or noheader */
  PetscInt            ngroup_ids, groups_line;
  char              **group_ids;
  PetscInt            ntraits;
  char                traits[MODEL_MAX_TRAITS][MODEL_MAX_NAME];
  PetscInt            trait_lines[MODEL_MAX_TRAITS], trait_columns[MODEL_MAX_TRAITS];
  char                weight[MODEL_MAX_NAME];
  PetscInt            weight_line, weight_column;
  PetscReal          *residual; /* t x t */
  PetscInt            residual_line, nresidual_values;
  PetscReal           residual_values[MODEL_MAX_TRAITS * MODEL_MAX_TRAITS];
  PetscInt            neffects, capacity;
  ModelEffect        *effects;
  PendingEffect      *pending;
  PetscInt            ngroups;
  ModelGroup         *groups;
};

PetscErrorCode ModelCreate(MPI_Comm comm, Model *model)
{
  PetscFunctionBeginUser;
  PetscCall(PetscNew(model));
  (*model)->comm          = comm;
  (*model)->weight_column = -1;
  (*model)->inbreeding    = PETSC_TRUE;
  (*model)->genotypes     = (ModelGenotypes){.maf = 0.05, .callrate = 0.90, .animal_callrate = 0.90, .blend = 0.05, .tune = -1, .tau = 1, .omega = 1};
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelDestroy(Model *model)
{
  Model m = *model;

  PetscFunctionBeginUser;
  if (!m) PetscFunctionReturn(PETSC_SUCCESS);
  for (PetscInt e = 0; e < m->neffects; e++) {
    if (m->pending) {
      PetscCall(PetscFree(m->pending[e].for_names));
      PetscCall(PetscFree(m->pending[e].values));
    }
  }
  for (PetscInt g = 0; g < m->ngroups; g++) PetscCall(PetscFree(m->groups[g].covariance));
  for (PetscInt k = 0; k < m->ngroup_ids; k++) PetscCall(PetscFree(m->group_ids[k]));
  PetscCall(PetscFree(m->group_ids));
  PetscCall(PetscFree(m->groups));
  PetscCall(PetscFree(m->pending));
  PetscCall(PetscFree(m->residual));
  PetscCall(PetscFree(m->text));
  PetscCall(PetscFree(m->effects));
  PetscCall(PetscFree(*model));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0 reads the whole model file (a few lines). */
static PetscErrorCode ReadText(const char path[], char **text, PetscInt64 *length)
{
  FILE  *fp;
  long   n;
  size_t got;

  PetscFunctionBeginUser;
  PetscCall(HendersonOpenRegular(path, "the model file", &fp));
  fseek(fp, 0, SEEK_END);
  n = ftell(fp);
  rewind(fp);
  if (n < 0 || n >= (1L << 24)) fclose(fp);
  PetscCheck(n >= 0 && n < (1L << 24), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: not a model file (%ld bytes)", path, n);
  PetscCall(PetscMalloc1(n + 1, text));
  got = fread(*text, 1, (size_t)n, fp);
  fclose(fp);
  PetscCheck(got == (size_t)n, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: read error (a directory?)", path);
  (*text)[n] = 0;
  if (n >= 3 && !memcmp(*text, "\xEF\xBB\xBF", 3)) { /* a UTF-8 byte-order mark, as some editors write */
    memmove(*text, *text + 3, (size_t)n - 2);
    n -= 3;
  }
  *length = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ParseNumber(const char path[], PetscInt line, const char text[], const char what[], PetscReal *value)
{
  const char *problem;

  PetscFunctionBeginUser;
  PetscCall(HendersonParseNumber(text, value, &problem));
  PetscCheck(!problem, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": %s '%s' %s", path, line, what, text, problem);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ParseOrder(const char path[], PetscInt line, const char text[], PetscInt *order)
{
  PetscReal value;

  PetscFunctionBeginUser;
  PetscCall(ParseNumber(path, line, text, "Legendre order", &value));
  PetscCheck(value >= 0 && value <= MODEL_MAX_LEGENDRE && value == (PetscInt)value, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "%s:%" PetscInt_FMT ": Legendre order '%s' is not a whole number from 0 to %d", path, line, text, MODEL_MAX_LEGENDRE);
  *order = (PetscInt)value;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CopyName(const char path[], PetscInt line, const char name[], char dest[])
{
  PetscFunctionBeginUser;
  PetscCheck(strlen(name) < MODEL_MAX_NAME, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": name too long: %s", path, line, name);
  PetscCheck(name[0], PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": empty name", path, line);
  PetscCall(PetscStrncpy(dest, name, MODEL_MAX_NAME));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SetPath(const char model_path[], const char dir[], PetscInt line, const char *keyword, PetscInt *seen, const char value[], char dest[])
{
  PetscFunctionBeginUser;
  PetscCheck(!*seen, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": '%s' given twice (first at line %" PetscInt_FMT ")", model_path, line,
             keyword, *seen);
  *seen = line;
  PetscCall(HendersonPathJoin(dir, value, dest, HENDERSON_MAX_PATH));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode AddEffect(Model m, const ModelEffect *effect, PendingEffect **pending)
{
  PetscFunctionBeginUser;
  for (PetscInt e = 0; e < m->neffects; e++)
    PetscCheck(strcmp(m->effects[e].name, effect->name), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s:%" PetscInt_FMT ": the name '%s' is already an effect (line %" PetscInt_FMT "); give this one another with 'as NAME'", m->path, effect->line,
               effect->name, m->effects[e].line);
  if (m->neffects == m->capacity) {
    m->capacity = PetscMax(8, 2 * m->capacity);
    PetscCall(PetscRealloc(sizeof(ModelEffect) * m->capacity, &m->effects));
    PetscCall(PetscRealloc(sizeof(PendingEffect) * m->capacity, &m->pending));
  }
  m->effects[m->neffects] = *effect;
  PetscCall(PetscMemzero(&m->pending[m->neffects], sizeof(PendingEffect)));
  if (pending) *pending = &m->pending[m->neffects];
  m->neffects++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Trailing clauses "as NAME..." and "for TRAIT..." from field K on; returns where they start. */
static PetscErrorCode ParseTrailing(Model m, PetscInt line, PetscInt n, char *fields[], PetscInt *start, PetscInt *nas, char **as, PetscInt *nfor,
                                    char **for_names)
{
  PetscInt k = *start, end = n;

  PetscFunctionBeginUser;
  *nas = *nfor = 0;
  for (PetscInt j = 1; j < n; j++)
    if (!strcmp(fields[j], "as") || !strcmp(fields[j], "for")) {
      end = j;
      break;
    }
  for (k = end; k < n;) {
    PetscBool is_as = !strcmp(fields[k], "as") ? PETSC_TRUE : PETSC_FALSE;
    PetscCheck(is_as || !strcmp(fields[k], "for"), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": unexpected '%s' (after 'as' or 'for')",
               m->path, line, fields[k]);
    for (k++; k < n && strcmp(fields[k], "as") && strcmp(fields[k], "for"); k++) {
      if (is_as)
        as[(*nas)++] = fields[k];
      else
        for_names[(*nfor)++] = fields[k];
    }
    PetscCheck(is_as ? *nas : *nfor, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": '%s' needs at least one name", m->path, line,
               is_as ? "as" : "for");
  }
  *start = end;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode KeepFor(PendingEffect *pending, PetscInt nfor, char *for_names[])
{
  PetscFunctionBeginUser;
  pending->nfor = nfor;
  if (nfor) PetscCall(PetscMalloc1(nfor, &pending->for_names));
  for (PetscInt k = 0; k < nfor; k++) PetscCall(PetscStrncpy(pending->for_names[k], for_names[k], MODEL_MAX_NAME));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* "legendre ORDER [range MIN MAX]" from fields[*k]; *k moves past it. */
static PetscErrorCode ParseLegendre(Model m, PetscInt line, PetscInt n, char *fields[], PetscInt *k, ModelEffect *effect)
{
  PetscFunctionBeginUser;
  PetscCheck(*k < n, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'legendre' needs an order", m->path, line);
  PetscCall(ParseOrder(m->path, line, fields[(*k)++], &effect->legendre));
  if (*k < n && !strcmp(fields[*k], "range")) {
    PetscCheck(*k + 2 < n, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'range' takes MIN MAX", m->path, line);
    PetscCall(ParseNumber(m->path, line, fields[*k + 1], "range minimum", &effect->range[0]));
    PetscCall(ParseNumber(m->path, line, fields[*k + 2], "range maximum", &effect->range[1]));
    PetscCheck(effect->range[1] > effect->range[0], PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": the range maximum must exceed the minimum",
               m->path, line);
    effect->range_given = PETSC_TRUE;
    *k += 3;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ParseFixed(Model m, PetscInt line, PetscInt n, char *fields[], char *as[], char *for_names[])
{
  ModelEffect effect = {.line = line, .kind = MODEL_EFFECT_FIXED, .structure = MODEL_STRUCTURE_NONE, .legendre = -1, .data_column = -1, .covariate_column = -1};
  PendingEffect *pending;
  PetscInt       k = 2, nas, nfor;

  PetscFunctionBeginUser;
  PetscCheck(n >= 2, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'fixed' takes COLUMN [as NAME] [for TRAIT...]", m->path, line);
  PetscCall(ParseTrailing(m, line, n, fields, &k, &nas, as, &nfor, for_names));
  PetscCheck(k == 2 && nas <= 1, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'fixed' takes COLUMN [as NAME] [for TRAIT...]", m->path, line);
  PetscCall(CopyName(m->path, line, fields[1], effect.column));
  PetscCall(CopyName(m->path, line, nas ? as[0] : fields[1], effect.name));
  PetscCall(AddEffect(m, &effect, &pending));
  PetscCall(KeepFor(pending, nfor, for_names));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ParseCovariate(Model m, PetscInt line, PetscInt n, char *fields[], char *as[], char *for_names[])
{
  ModelEffect effect = {
      .line = line, .kind = MODEL_EFFECT_COVARIATE, .structure = MODEL_STRUCTURE_NONE, .legendre = -1, .data_column = -1, .covariate_column = -1};
  PendingEffect *pending;
  PetscInt       end = n, k = 2, nas, nfor;

  PetscFunctionBeginUser;
  PetscCheck(n >= 2, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "%s:%" PetscInt_FMT ": 'covariate' takes COLUMN [legendre ORDER [range MIN MAX]] [within CLASS] [as NAME] [for TRAIT...]", m->path, line);
  PetscCall(ParseTrailing(m, line, n, fields, &end, &nas, as, &nfor, for_names));
  PetscCall(CopyName(m->path, line, fields[1], effect.covariate));
  while (k < end) {
    if (!strcmp(fields[k], "legendre")) {
      k++;
      PetscCall(ParseLegendre(m, line, end, fields, &k, &effect));
    } else if (!strcmp(fields[k], "within")) {
      PetscCheck(k + 1 < end, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'within' needs a class column", m->path, line);
      PetscCall(CopyName(m->path, line, fields[k + 1], effect.column));
      effect.nested = PETSC_TRUE;
      k += 2;
    } else
      SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": unexpected '%s' in a covariate (legendre, within, as or for)", m->path, line,
              fields[k]);
  }
  PetscCheck(nas <= 1, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": a covariate takes one name after 'as'", m->path, line);
  PetscCall(CopyName(m->path, line, nas ? as[0] : fields[1], effect.name));
  PetscCall(AddEffect(m, &effect, &pending));
  PetscCall(KeepFor(pending, nfor, for_names));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ParseRandom(Model m, PetscInt line, PetscInt n, char *fields[], char *as[], char *for_names[])
{
  ModelEffect base = {.line = line, .kind = MODEL_EFFECT_RANDOM, .legendre = -1, .data_column = -1, .covariate_column = -1};
  PetscInt    end = n, k = 1, ncolumns, first, nas, nfor, nvalues = 0;
  PetscReal  *values;
  const char *usage  = "'random' takes COLUMN [COLUMN...] pedigree|genomic|iid [legendre COVARIATE ORDER [range MIN MAX]] [social GROUP [dilution D] [size N]] "
                       "COVARIANCE... [as NAME...] [for TRAIT...]";
  ModelEffect social = {.kind = MODEL_EFFECT_RANDOM, .social = PETSC_FALSE};

  PetscFunctionBeginUser;
  PetscCall(ParseTrailing(m, line, n, fields, &end, &nas, as, &nfor, for_names));
  while (k < end && strcmp(fields[k], "pedigree") && strcmp(fields[k], "iid") && strcmp(fields[k], "genomic")) k++;
  if (k == end) {
    /* name the word where the structure should have been: the last one before the numbers */
    PetscInt  word = -1;
    PetscReal v;
    PetscBool number;
    for (PetscInt j = 1; j < end; j++) {
      PetscCall(HendersonParseReal(fields[j], &v, &number));
      if (number) break;
      word = j;
    }
    PetscCheck(word < 2, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": unknown structure '%s' (pedigree, genomic or iid); %s", m->path, line,
               fields[word], usage);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": no structure (pedigree, genomic or iid) after the column; %s", m->path, line, usage);
  }
  ncolumns = k - 1;
  PetscCheck(ncolumns >= 1, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": %s", m->path, line, usage);
  base.structure = !strcmp(fields[k], "pedigree") ? MODEL_STRUCTURE_PEDIGREE : !strcmp(fields[k], "genomic") ? MODEL_STRUCTURE_GENOMIC : MODEL_STRUCTURE_IID;
  k++;
  if (k < end && !strcmp(fields[k], "legendre")) {
    PetscCheck(k + 2 < end, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'legendre' takes COVARIATE ORDER", m->path, line);
    PetscCall(CopyName(m->path, line, fields[k + 1], base.covariate));
    k += 2;
    PetscCall(ParseLegendre(m, line, end, fields, &k, &base));
  }
  if (k < end && !strcmp(fields[k], "social")) {
    PetscCheck(base.legendre < 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": social effects cannot be random regressions (legendre)",
               m->path, line);
    PetscCheck(k + 1 < end, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'social' takes the group column (pen, cage, tank)", m->path, line);
    social.social = PETSC_TRUE;
    PetscCall(CopyName(m->path, line, fields[k + 1], social.social_column));
    for (k += 2; k < end;) {
      if (!strcmp(fields[k], "dilution") && k + 1 < end) {
        PetscCall(ParseNumber(m->path, line, fields[k + 1], "dilution", &social.dilution));
        PetscCheck(social.dilution >= 0 && social.dilution <= 1, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                   "%s:%" PetscInt_FMT ": the dilution must be between 0 (none) and 1 (full), not %s", m->path, line, fields[k + 1]);
      } else if (!strcmp(fields[k], "size") && k + 1 < end) {
        PetscCall(ParseNumber(m->path, line, fields[k + 1], "group size", &social.social_size));
        PetscCheck(social.social_size >= 2, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                   "%s:%" PetscInt_FMT ": the group size of the total breeding value must be at least 2, not %s", m->path, line, fields[k + 1]);
      } else
        break;
      k += 2;
    }
  }
  PetscCheck(k < end, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": no (co)variance given; %s", m->path, line, usage);
  PetscCall(PetscMalloc1(end - k, &values));
  for (; k < end; k++) PetscCall(ParseNumber(m->path, line, fields[k], "(co)variance", &values[nvalues++]));
  PetscCheck(!nas || nas == ncolumns + (social.social ? 1 : 0), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "%s:%" PetscInt_FMT ": 'as' needs one name for each of the %" PetscInt_FMT " column%s%s", m->path, line, ncolumns, ncolumns == 1 ? "" : "s",
             social.social ? " and one for the social effect" : "");
  PetscCall(PetscRealloc(sizeof(ModelGroup) * (m->ngroups + 1), &m->groups));
  PetscCall(PetscMemzero(&m->groups[m->ngroups], sizeof(ModelGroup)));
  first = m->neffects;
  for (PetscInt c = 0; c < ncolumns; c++) {
    ModelEffect    effect = base;
    PendingEffect *pending;
    effect.group = m->ngroups;
    PetscCall(CopyName(m->path, line, fields[1 + c], effect.column));
    PetscCall(CopyName(m->path, line, nas ? as[c] : fields[1 + c], effect.name));
    PetscCall(AddEffect(m, &effect, &pending));
    PetscCall(KeepFor(pending, nfor, for_names));
    if (c == 0) {
      pending->nvalues = nvalues;
      pending->values  = values;
    }
  }
  if (social.social) { /* the last member: keyed on the first column's animals, received by the group mates */
    ModelEffect    effect = base;
    PendingEffect *pending;
    effect.group       = m->ngroups;
    effect.social      = PETSC_TRUE;
    effect.dilution    = social.dilution;
    effect.social_size = social.social_size;
    PetscCall(PetscStrncpy(effect.social_column, social.social_column, sizeof(effect.social_column)));
    PetscCall(CopyName(m->path, line, fields[1], effect.column));
    PetscCall(CopyName(m->path, line, nas ? as[ncolumns] : "social", effect.name));
    PetscCall(AddEffect(m, &effect, &pending));
    PetscCall(KeepFor(pending, nfor, for_names));
  }
  m->groups[m->ngroups].structure   = base.structure;
  m->groups[m->ngroups].first       = first;
  m->groups[m->ngroups].neffects    = ncolumns + (social.social ? 1 : 0);
  m->groups[m->ngroups].line        = line;
  m->groups[m->ngroups].nvalues     = nvalues;
  m->groups[m->ngroups].value_field = end - nvalues;
  m->ngroups++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A (co)variance matrix of order N from NVALUES numbers: the lower triangle by rows, or all of it
   (then it must be symmetric); it must be positive definite. */
static PetscErrorCode CovarianceMatrix(const char path[], PetscInt line, const char what[], PetscInt n, PetscInt nvalues, const PetscReal values[],
                                       PetscReal **matrix)
{
  PetscReal *M, logdet;
  PetscBool  ok;

  PetscFunctionBeginUser;
  PetscCheck(nvalues == n * (n + 1) / 2 || nvalues == n * n, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "%s:%" PetscInt_FMT ": %s of order %" PetscInt_FMT " needs %" PetscInt_FMT " numbers (lower triangle by rows) or %" PetscInt_FMT
             " (the whole matrix), found %" PetscInt_FMT,
             path, line, what, n, n * (n + 1) / 2, n * n, nvalues);
  PetscCall(PetscMalloc1(n * n, &M));
  if (nvalues == n * n && n > 1) {
    PetscCall(PetscArraycpy(M, values, n * n));
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = 0; j < i; j++)
        PetscCheck(M[i * n + j] == M[j * n + i], PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                   "%s:%" PetscInt_FMT ": %s is not symmetric (row %" PetscInt_FMT ", column %" PetscInt_FMT ")", path, line, what, i + 1, j + 1);
  } else {
    PetscInt k = 0;
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = 0; j <= i; j++, k++) M[i * n + j] = M[j * n + i] = values[k];
  }
  PetscCall(DenseLogDetSPD(n, M, &logdet, &ok));
  PetscCheck(ok, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": %s is not positive definite", path, line, what);
  *matrix = M;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The traits of every effect, the implied means, the (co)variance matrices. */
static PetscErrorCode ModelResolve(Model m)
{
  PetscBool has_class[MODEL_MAX_TRAITS] = {PETSC_FALSE};

  PetscFunctionBeginUser;
  for (PetscInt e = 0; e < m->neffects; e++) {
    ModelEffect   *effect  = &m->effects[e];
    PendingEffect *pending = &m->pending[e];
    if (!pending->nfor) {
      effect->ntraits = m->ntraits;
      for (PetscInt t = 0; t < m->ntraits; t++) effect->traits[t] = t;
    } else {
      PetscBool in[MODEL_MAX_TRAITS] = {PETSC_FALSE};
      for (PetscInt k = 0; k < pending->nfor; k++) {
        PetscInt t = -1;
        for (PetscInt s = 0; s < m->ntraits; s++)
          if (!strcmp(m->traits[s], pending->for_names[k])) t = s;
        PetscCheck(t >= 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": '%s' after 'for' is not a trait of the model", m->path, effect->line,
                   pending->for_names[k]);
        in[t] = PETSC_TRUE;
      }
      effect->ntraits = 0;
      for (PetscInt t = 0; t < m->ntraits; t++)
        if (in[t]) effect->traits[effect->ntraits++] = t;
    }
    if (effect->kind == MODEL_EFFECT_FIXED)
      for (PetscInt k = 0; k < effect->ntraits; k++) has_class[effect->traits[k]] = PETSC_TRUE;
    for (PetscInt t = 0; t < m->ntraits; t++) {
      PetscCheck(strcmp(effect->column, m->traits[t]) && strcmp(effect->covariate, m->traits[t]), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                 "%s:%" PetscInt_FMT ": column '%s' is a trait; it cannot also be an effect", m->path, effect->line, m->traits[t]);
      PetscCheck(!m->weight[0] || (strcmp(effect->column, m->weight) && strcmp(effect->covariate, m->weight)), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                 "%s:%" PetscInt_FMT ": column '%s' is the weight; it cannot also be an effect", m->path, effect->line, m->weight);
    }
    PetscCheck(effect->structure != MODEL_STRUCTURE_PEDIGREE || m->has_pedigree, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s:%" PetscInt_FMT ": random effect '%s' has structure pedigree, but the model has no 'pedigree FILE' line", m->path, effect->line,
               effect->name);
    PetscCheck(effect->structure != MODEL_STRUCTURE_GENOMIC || m->genotypes.line, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s:%" PetscInt_FMT ": random effect '%s' has structure genomic, but the model has no 'genotypes FILE' line", m->path, effect->line,
               effect->name);
    PetscCheck(effect->structure != MODEL_STRUCTURE_GENOMIC || !m->has_pedigree, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s:%" PetscInt_FMT ": random effect '%s' has structure genomic (GBLUP, G alone), but the model has a pedigree: with a pedigree, structure "
               "pedigree and the genotypes line give single-step (H)",
               m->path, effect->line, effect->name);
  }
  { /* social effects: one per model (the output's total breeding value is "tbv") */
    PetscInt first = -1;
    for (PetscInt e = 0; e < m->neffects; e++) {
      const ModelEffect *effect = &m->effects[e];
      if (!effect->social) continue;
      PetscCheck(first < 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                 "%s:%" PetscInt_FMT ": a second social effect (the first is on line %" PetscInt_FMT "); one is supported", m->path, effect->line,
                 m->effects[first].line);
      first = e;
      for (PetscInt t = 0; t < m->ntraits; t++)
        PetscCheck(strcmp(effect->social_column, m->traits[t]), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                   "%s:%" PetscInt_FMT ": column '%s' is a trait; it cannot also be the social group", m->path, effect->line, m->traits[t]);
    }
    for (PetscInt e = 0; e < m->neffects && first >= 0; e++)
      PetscCheck(strcmp(m->effects[e].name, "tbv"), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                 "%s:%" PetscInt_FMT ": the name 'tbv' is taken by the total breeding value of the social effect; give this effect another with 'as NAME'",
                 m->path, m->effects[e].line);
  }
  /* random groups: positions of the members, and G0 */
  for (PetscInt g = 0; g < m->ngroups; g++) {
    ModelGroup    *group   = &m->groups[g];
    PendingEffect *pending = &m->pending[group->first];
    char           what[64];
    group->dim = 0;
    for (PetscInt k = 0; k < group->neffects; k++) {
      ModelEffect *effect = &m->effects[group->first + k];
      effect->position    = group->dim;
      group->dim += effect->ntraits * ModelEffectCoefficients(effect);
    }
    PetscCheck(group->dim > 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": the random effect is in no trait", m->path, group->line);
    snprintf(what, sizeof(what), "the (co)variance matrix");
    PetscCall(CovarianceMatrix(m->path, group->line, what, group->dim, pending->nvalues, pending->values, &group->covariance));
  }
  /* the residual */
  PetscCall(CovarianceMatrix(m->path, m->residual_line, "the residual (co)variance matrix", m->ntraits, m->nresidual_values, m->residual_values, &m->residual));
  /* an overall mean for the traits in which no fixed class effect absorbs it */
  {
    ModelEffect mean  = {.kind = MODEL_EFFECT_FIXED, .structure = MODEL_STRUCTURE_NONE, .line = 0, .legendre = -1, .data_column = -1, .covariate_column = -1};
    PetscBool   taken = PETSC_FALSE;
    for (PetscInt t = 0; t < m->ntraits; t++)
      if (!has_class[t]) mean.traits[mean.ntraits++] = t;
    if (mean.ntraits) {
      for (PetscInt e = 0; e < m->neffects; e++) taken = taken || !strcmp(m->effects[e].name, "mean");
      PetscCall(PetscStrncpy(mean.name, taken ? "(mean)" : "mean", sizeof(mean.name)));
      PetscCall(AddEffect(m, &mean, NULL));
      for (PetscInt e = m->neffects - 1; e > 0; e--) {
        m->effects[e] = m->effects[e - 1];
        m->pending[e] = m->pending[e - 1];
      }
      m->effects[0] = mean;
      PetscCall(PetscMemzero(&m->pending[0], sizeof(PendingEffect)));
      for (PetscInt g = 0; g < m->ngroups; g++) m->groups[g].first++;
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A number of the genotypes line in [LO, HI]. */
static PetscErrorCode ParseGenotypesNumber(Model m, PetscInt line, const char key[], const char text[], PetscReal lo, PetscReal hi, PetscReal *value)
{
  PetscFunctionBeginUser;
  PetscCall(ParseNumber(m->path, line, text, key, value));
  PetscCheck(*value >= lo && *value <= hi, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": genotypes %s %s is not in [%g, %g]", m->path, line,
             key, text, (double)lo, (double)hi);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* genotypes FILE [maf X] [callrate X] [animal-callrate X] [blend X] [gamma X] [tune on|off] [tau X] [omega X]
   [apy N|FILE] [block auto|dense|factored] [frequencies FILE] */
static PetscErrorCode ParseGenotypes(Model m, const char dir[], PetscInt line, PetscInt n, char **fields)
{
  ModelGenotypes *g    = &m->genotypes;
  PetscInt        seen = g->line;

  PetscFunctionBeginUser;
  PetscCall(SetPath(m->path, dir, line, "genotypes", &seen, fields[1], g->path));
  g->line = line;
  for (PetscInt k = 2; k + 1 < n; k += 2) {
    const char *key = fields[k], *value = fields[k + 1];
    PetscReal   v;
    if (!strcmp(key, "maf"))
      PetscCall(ParseGenotypesNumber(m, line, key, value, 0, 0.5, &g->maf));
    else if (!strcmp(key, "callrate"))
      PetscCall(ParseGenotypesNumber(m, line, key, value, 0, 1, &g->callrate));
    else if (!strcmp(key, "animal-callrate"))
      PetscCall(ParseGenotypesNumber(m, line, key, value, 0, 1, &g->animal_callrate));
    else if (!strcmp(key, "blend"))
      PetscCall(ParseGenotypesNumber(m, line, key, value, 0, 1, &g->blend));
    else if (!strcmp(key, "gamma"))
      PetscCall(ParseGenotypesNumber(m, line, key, value, 0, 1e6, &g->gamma));
    else if (!strcmp(key, "tau"))
      PetscCall(ParseGenotypesNumber(m, line, key, value, 0, 1e6, &g->tau));
    else if (!strcmp(key, "omega"))
      PetscCall(ParseGenotypesNumber(m, line, key, value, 0, 1e6, &g->omega));
    else if (!strcmp(key, "frequencies"))
      PetscCall(HendersonPathJoin(dir, value, g->frequencies_path, HENDERSON_MAX_PATH));
    else if (!strcmp(key, "tune")) {
      PetscCheck(!strcmp(value, "on") || !strcmp(value, "off"), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                 "%s:%" PetscInt_FMT ": genotypes tune takes on or off, not '%s'", m->path, line, value);
      g->tune = !strcmp(value, "on");
    } else if (!strcmp(key, "block")) {
      PetscCheck(!strcmp(value, "auto") || !strcmp(value, "dense") || !strcmp(value, "factored"), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                 "%s:%" PetscInt_FMT ": genotypes block takes auto, dense or factored, not '%s'", m->path, line, value);
      g->block = !strcmp(value, "dense")      ? MODEL_GENOTYPES_BLOCK_DENSE
                 : !strcmp(value, "factored") ? MODEL_GENOTYPES_BLOCK_FACTORED
                                              : MODEL_GENOTYPES_BLOCK_AUTO;
    } else if (!strcmp(key, "apy")) {
      PetscBool number;
      PetscCall(HendersonParseReal(value, &v, &number));
      if (number) {
        PetscCheck(v >= 1 && v == (PetscInt)v, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                   "%s:%" PetscInt_FMT ": genotypes apy takes a core size (a whole number >= 1) or a file, not '%s'", m->path, line, value);
        g->apy = (PetscInt)v;
      } else {
        g->apy = -1;
        PetscCall(HendersonPathJoin(dir, value, g->apy_path, HENDERSON_MAX_PATH));
      }
    } else
      SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
              "%s:%" PetscInt_FMT ": unknown genotypes keyword '%s' (maf, callrate, animal-callrate, blend, gamma, tune, tau, omega, apy, block, frequencies)",
              m->path, line, key);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Parses the text; the same on every rank. */
static PetscErrorCode ModelParse(Model m)
{
  char     dir[HENDERSON_MAX_PATH], *copy, *line, *next;
  char   **fields, **as, **for_names;
  PetscInt lineno = 0, data_line = 0, pedigree_line = 0, output_line = 0, groups_line = 0, inbreeding_line = 0;

  PetscFunctionBeginUser;
  PetscCall(HendersonPathDirectory(m->path, dir, sizeof(dir)));
  PetscCall(PetscStrallocpy(m->text, &copy));
  PetscCall(PetscMalloc3(MODEL_MAX_FIELDS, &fields, MODEL_MAX_FIELDS, &as, MODEL_MAX_FIELDS, &for_names));
  for (line = copy; line; line = next) {
    char       *hash;
    PetscInt    n;
    const char *key;

    next = strchr(line, '\n');
    if (next) *next++ = 0;
    lineno++;
    if ((hash = strchr(line, '#'))) *hash = 0;
    PetscCall(ReaderSplit(line, MODEL_MAX_FIELDS, fields, &n));
    if (!n) continue;
    PetscCheck(n <= MODEL_MAX_FIELDS, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": more than %d fields", m->path, lineno, MODEL_MAX_FIELDS);
    key = fields[0];
#define NEED(count, usage)                                                                                                                                     \
  PetscCheck(n == (count) + 1, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": '%s' takes %s (found %" PetscInt_FMT " field%s)", m->path,        \
             lineno, key, usage, n - 1, n - 1 == 1 ? "" : "s")
    if (!strcmp(key, "data")) {
      NEED(1, "FILE");
      PetscCall(SetPath(m->path, dir, lineno, key, &data_line, fields[1], m->data_path));
    } else if (!strcmp(key, "pedigree")) {
      PetscCheck(n >= 2 && n <= 4, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'pedigree' takes FILE [animal|sire-mgs] [header|noheader]",
                 m->path, lineno);
      PetscCall(SetPath(m->path, dir, lineno, key, &pedigree_line, fields[1], m->pedigree_path));
      m->has_pedigree = PETSC_TRUE;
      for (PetscInt k = 2; k < n; k++) {
        if (!strcmp(fields[k], "sire-mgs"))
          m->pedigree_kind = MODEL_PEDIGREE_SIRE_MGS;
        else if (!strcmp(fields[k], "header"))
          m->pedigree_header = MODEL_PEDIGREE_HEADER_YES;
        else if (!strcmp(fields[k], "noheader"))
          m->pedigree_header = MODEL_PEDIGREE_HEADER_NO;
        else
          PetscCheck(!strcmp(fields[k], "animal"), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                     "%s:%" PetscInt_FMT ": unknown pedigree kind '%s' (animal or sire-mgs; header or noheader)", m->path, lineno, fields[k]);
      }
    } else if (!strcmp(key, "groups")) {
      PetscCheck(n >= 2, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'groups' takes the IDs of the unknown-parent groups", m->path, lineno);
      PetscCheck(!groups_line, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'groups' given twice (first at line %" PetscInt_FMT ")", m->path,
                 lineno, groups_line);
      groups_line    = lineno;
      m->groups_line = lineno;
      m->ngroup_ids  = n - 1;
      PetscCall(PetscMalloc1(n - 1, &m->group_ids));
      for (PetscInt k = 1; k < n; k++) {
        PetscCheck(!HendersonIsMissing(fields[k], PETSC_TRUE), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                   "%s:%" PetscInt_FMT ": '%s' is an unknown-parent code, not a group", m->path, lineno, fields[k]);
        for (PetscInt j = 1; j < k; j++)
          PetscCheck(strcmp(fields[j], fields[k]), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": group '%s' given twice", m->path, lineno,
                     fields[k]);
        PetscCall(PetscStrallocpy(fields[k], &m->group_ids[k - 1]));
      }
    } else if (!strcmp(key, "genotypes")) {
      PetscCheck(n >= 2 && n % 2 == 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'genotypes' takes FILE [KEYWORD VALUE]...", m->path,
                 lineno);
      PetscCall(ParseGenotypes(m, dir, lineno, n, fields));
    } else if (!strcmp(key, "inbreeding")) {
      NEED(1, "on or off");
      PetscCheck(!inbreeding_line, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'inbreeding' given twice (first at line %" PetscInt_FMT ")",
                 m->path, lineno, inbreeding_line);
      PetscCheck(!strcmp(fields[1], "on") || !strcmp(fields[1], "off"), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                 "%s:%" PetscInt_FMT ": 'inbreeding' takes on or off, not '%s'", m->path, lineno, fields[1]);
      inbreeding_line = lineno;
      m->inbreeding   = !strcmp(fields[1], "on") ? PETSC_TRUE : PETSC_FALSE;
    } else if (!strcmp(key, "output")) {
      NEED(1, "FILE");
      PetscCall(SetPath(m->path, dir, lineno, key, &output_line, fields[1], m->output_path));
    } else if (!strcmp(key, "trait")) {
      NEED(1, "COLUMN");
      PetscCheck(m->ntraits < MODEL_MAX_TRAITS, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": more than %d traits", m->path, lineno,
                 MODEL_MAX_TRAITS);
      for (PetscInt t = 0; t < m->ntraits; t++)
        PetscCheck(strcmp(m->traits[t], fields[1]), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                   "%s:%" PetscInt_FMT ": trait '%s' given twice (first at line %" PetscInt_FMT ")", m->path, lineno, fields[1], m->trait_lines[t]);
      PetscCall(CopyName(m->path, lineno, fields[1], m->traits[m->ntraits]));
      m->trait_lines[m->ntraits++] = lineno;
    } else if (!strcmp(key, "weight")) {
      NEED(1, "COLUMN");
      PetscCheck(!m->weight_line, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'weight' given twice (first at line %" PetscInt_FMT ")",
                 m->path, lineno, m->weight_line);
      PetscCall(CopyName(m->path, lineno, fields[1], m->weight));
      m->weight_line = lineno;
    } else if (!strcmp(key, "residual")) {
      PetscCheck(n >= 2, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'residual' takes the residual (co)variances", m->path, lineno);
      PetscCheck(!m->residual_line, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'residual' given twice (first at line %" PetscInt_FMT ")",
                 m->path, lineno, m->residual_line);
      PetscCheck(n - 1 <= MODEL_MAX_TRAITS * MODEL_MAX_TRAITS, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": too many residual (co)variances",
                 m->path, lineno);
      for (PetscInt k = 1; k < n; k++) PetscCall(ParseNumber(m->path, lineno, fields[k], "residual (co)variance", &m->residual_values[k - 1]));
      m->nresidual_values = n - 1;
      m->residual_line    = lineno;
    } else if (!strcmp(key, "fixed")) {
      PetscCall(ParseFixed(m, lineno, n, fields, as, for_names));
    } else if (!strcmp(key, "covariate")) {
      PetscCall(ParseCovariate(m, lineno, n, fields, as, for_names));
    } else if (!strcmp(key, "random")) {
      PetscCall(ParseRandom(m, lineno, n, fields, as, for_names));
    } else {
      SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
              "%s:%" PetscInt_FMT
              ": unknown keyword '%s' (known: data, pedigree, genotypes, groups, inbreeding, trait, weight, fixed, covariate, random, residual, output)",
              m->path, lineno, key);
    }
#undef NEED
  }
  PetscCall(PetscFree(copy));
  PetscCall(PetscFree3(fields, as, for_names));

  PetscCheck(data_line, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: no 'data FILE' line", m->path);
  PetscCheck(m->ntraits, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: no 'trait COLUMN' line", m->path);
  PetscCheck(m->residual_line, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: no 'residual VARIANCE' line", m->path);
  PetscCheck(!groups_line || m->has_pedigree, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'groups' needs a 'pedigree FILE' line", m->path,
             groups_line);
  if (!output_line) {
    /* model.txt -> model.h5 beside it */
    char  stem[HENDERSON_MAX_PATH];
    char *dot, *slash;
    PetscCall(PetscStrncpy(stem, m->path, sizeof(stem)));
    dot   = strrchr(stem, '.');
    slash = strrchr(stem, '/');
    if (dot && (!slash || dot > slash)) *dot = 0;
    PetscCheck(strlen(stem) + 4 < sizeof(m->output_path), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: path too long", m->path);
    snprintf(m->output_path, sizeof(m->output_path), "%s.h5", stem);
  }
  m->data_line     = data_line;
  m->pedigree_line = pedigree_line;
  m->output_line   = output_line;
  PetscCall(ModelResolve(m));
  if (m->genotypes.line) {
    PetscBool animal;
    PetscCall(ModelHasPedigreeEffect(m, &animal));
    PetscCheck(animal, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": genotypes, but no random effect has structure pedigree or genomic",
               m->path, m->genotypes.line);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: the files the model names can be read, and the output can be written, before any work is
   done (a run that would fail to write its results after hours of solving fails now instead). */
static PetscErrorCode ModelCheckFiles(Model m)
{
  char        dir[HENDERSON_MAX_PATH], *slash;
  struct stat st;

  PetscFunctionBeginUser;
  PetscCheck(!access(m->data_path, R_OK), PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s:%" PetscInt_FMT ": data file %s: cannot open: %s", m->path, m->data_line,
             m->data_path, strerror(errno));
  PetscCheck(!stat(m->data_path, &st) && S_ISREG(st.st_mode), PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s:%" PetscInt_FMT ": data file %s: not a regular file",
             m->path, m->data_line, m->data_path);
  PetscCheck(!m->has_pedigree || !access(m->pedigree_path, R_OK), PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN,
             "%s:%" PetscInt_FMT ": pedigree file %s: cannot open: %s", m->path, m->pedigree_line, m->pedigree_path, strerror(errno));
  PetscCheck(!m->has_pedigree || (!stat(m->pedigree_path, &st) && S_ISREG(st.st_mode)), PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN,
             "%s:%" PetscInt_FMT ": pedigree file %s: not a regular file", m->path, m->pedigree_line, m->pedigree_path);
  PetscCheck(!m->genotypes.line || !access(m->genotypes.path, R_OK), PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN,
             "%s:%" PetscInt_FMT ": genotypes file %s: cannot open: %s", m->path, m->genotypes.line, m->genotypes.path, strerror(errno));
  PetscCheck(!m->genotypes.line || (!stat(m->genotypes.path, &st) && S_ISREG(st.st_mode)), PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN,
             "%s:%" PetscInt_FMT ": genotypes file %s: not a regular file", m->path, m->genotypes.line, m->genotypes.path);
  PetscCall(PetscStrncpy(dir, m->output_path, sizeof(dir)));
  slash = strrchr(dir, '/');
  if (slash)
    *slash = 0;
  else
    PetscCall(PetscStrncpy(dir, ".", sizeof(dir)));
  if (!dir[0]) PetscCall(PetscStrncpy(dir, "/", sizeof(dir)));
  PetscCheck(!stat(dir, &st) && S_ISDIR(st.st_mode), PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s:%" PetscInt_FMT ": output %s: the directory %s does not exist",
             m->path, m->output_line, m->output_path, dir);
  PetscCheck(!access(dir, W_OK | X_OK), PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s:%" PetscInt_FMT ": output %s: the directory %s is not writable", m->path,
             m->output_line, m->output_path, dir);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelLoad(Model m, const char path[])
{
  PetscMPIInt    rank;
  PetscInt64     length = 0;
  PetscErrorCode ierr   = PETSC_SUCCESS;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(m->comm, &rank));
  PetscCheck(strlen(path) < sizeof(m->path), m->comm, PETSC_ERR_USER_INPUT, "model file path too long");
  PetscCall(PetscStrncpy(m->path, path, sizeof(m->path)));
  if (rank == 0) ierr = ReadText(path, &m->text, &length);
  PetscCall(HendersonAgree(m->comm, ierr));
  PetscCallMPI(MPI_Bcast(&length, 1, MPIU_INT64, 0, m->comm));
  if (rank) PetscCall(PetscMalloc1(length + 1, &m->text));
  PetscCallMPI(MPI_Bcast(m->text, (PetscMPIInt)(length + 1), MPI_CHAR, 0, m->comm));
  PetscCall(ModelParse(m)); /* same text on every rank: fails everywhere or nowhere */
  ierr = PETSC_SUCCESS;
  if (rank == 0) ierr = ModelCheckFiles(m);
  PetscCall(HendersonAgree(m->comm, ierr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FindColumn(Model m, const char data_path[], PetscInt line, const char column[], PetscInt ncolumns, const char *const names[],
                                 PetscInt *index)
{
  PetscFunctionBeginUser;
  *index = -1;
  for (PetscInt c = 0; c < ncolumns; c++)
    if (!strcmp(names[c], column)) *index = c;
  if (*index < 0) {
    char   list[1024] = "";
    size_t used       = 0;
    for (PetscInt c = 0; c < ncolumns && used + 4 < sizeof(list); c++) {
      int n = snprintf(list + used, sizeof(list) - used, "%s%s", c ? ", " : "", names[c]);
      if (n < 0) break;
      used += (size_t)n;
    }
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": column '%s' is not in the header of %s (columns: %s)", m->path, line, column,
            data_path, list);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelSetDataColumns(Model m, const char data_path[], PetscInt ncolumns, const char *const names[])
{
  PetscFunctionBeginUser;
  for (PetscInt t = 0; t < m->ntraits; t++) PetscCall(FindColumn(m, data_path, m->trait_lines[t], m->traits[t], ncolumns, names, &m->trait_columns[t]));
  if (m->weight[0]) PetscCall(FindColumn(m, data_path, m->weight_line, m->weight, ncolumns, names, &m->weight_column));
  for (PetscInt e = 0; e < m->neffects; e++) {
    ModelEffect *effect = &m->effects[e];
    if (effect->column[0]) PetscCall(FindColumn(m, data_path, effect->line, effect->column, ncolumns, names, &effect->data_column));
    if (effect->covariate[0]) PetscCall(FindColumn(m, data_path, effect->line, effect->covariate, ncolumns, names, &effect->covariate_column));
    if (effect->social) PetscCall(FindColumn(m, data_path, effect->line, effect->social_column, ncolumns, names, &effect->social_data_column));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelView(Model m, PetscViewer viewer)
{
  PetscFunctionBeginUser;
  PetscCall(PetscViewerASCIIPrintf(viewer, "model %s: data %s%s%s, %" PetscInt_FMT " trait%s\n", m->path, m->data_path, m->has_pedigree ? ", pedigree " : "",
                                   m->has_pedigree ? m->pedigree_path : "", m->ntraits, m->ntraits == 1 ? "" : "s"));
  for (PetscInt e = 0; e < m->neffects; e++) {
    const ModelEffect *effect = &m->effects[e];
    PetscCall(PetscViewerASCIIPrintf(viewer, "  %-9s %-20s %-8s traits %" PetscInt_FMT "\n", ModelEffectKindNames[effect->kind], effect->name,
                                     ModelStructureNames[effect->structure], effect->ntraits));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetSocialEffect(Model m, PetscInt *social, PetscInt *direct)
{
  PetscFunctionBeginUser;
  *social = -1;
  if (direct) *direct = -1;
  for (PetscInt e = 0; e < m->neffects; e++)
    if (m->effects[e].social) {
      *social = e;
      if (direct) *direct = m->groups[m->effects[e].group].first;
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelSetSocialSize(Model m, PetscReal n)
{
  PetscFunctionBeginUser;
  for (PetscInt e = 0; e < m->neffects; e++)
    if (m->effects[e].social) m->effects[e].social_size = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetPath(Model m, const char **path)
{
  PetscFunctionBeginUser;
  *path = m->path;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetText(Model m, const char **text)
{
  PetscFunctionBeginUser;
  *text = m->text;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetDataPath(Model m, const char **path)
{
  PetscFunctionBeginUser;
  *path = m->data_path;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetPedigreePath(Model m, const char **path)
{
  PetscFunctionBeginUser;
  *path = m->has_pedigree ? m->pedigree_path : NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetPedigreeKind(Model m, ModelPedigreeKind *kind)
{
  PetscFunctionBeginUser;
  *kind = m->pedigree_kind;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetGroups(Model m, PetscInt *n, const char *const **ids)
{
  PetscFunctionBeginUser;
  *n = m->ngroup_ids;
  if (ids) *ids = (const char *const *)m->group_ids;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetInbreeding(Model m, PetscBool *use)
{
  PetscFunctionBeginUser;
  *use = m->inbreeding;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetGroupsLine(Model m, PetscInt *line)
{
  PetscFunctionBeginUser;
  *line = m->groups_line;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetPedigreeHeader(Model m, ModelPedigreeHeader *header)
{
  PetscFunctionBeginUser;
  *header = m->pedigree_header;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetOutputPath(Model m, const char **path)
{
  PetscFunctionBeginUser;
  *path = m->output_path;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetNumTraits(Model m, PetscInt *ntraits)
{
  PetscFunctionBeginUser;
  *ntraits = m->ntraits;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetTrait(Model m, PetscInt t, const char **column, PetscInt *data_column)
{
  PetscFunctionBeginUser;
  PetscCheck(t >= 0 && t < m->ntraits, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "trait %" PetscInt_FMT " of %" PetscInt_FMT, t, m->ntraits);
  if (column) *column = m->traits[t];
  if (data_column) *data_column = m->trait_columns[t];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetWeight(Model m, const char **column, PetscInt *data_column)
{
  PetscFunctionBeginUser;
  if (column) *column = m->weight[0] ? m->weight : NULL;
  if (data_column) *data_column = m->weight_column;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetResidual(Model m, const PetscReal **R0)
{
  PetscFunctionBeginUser;
  *R0 = m->residual;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelSetResidual(Model m, const PetscReal R0[])
{
  PetscFunctionBeginUser;
  PetscCall(PetscArraycpy(m->residual, R0, m->ntraits * m->ntraits));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelSetGroupCovariance(Model m, PetscInt g, const PetscReal G0[])
{
  PetscFunctionBeginUser;
  PetscCheck(g >= 0 && g < m->ngroups, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "no random group %" PetscInt_FMT, g);
  PetscCall(PetscArraycpy(m->groups[g].covariance, G0, m->groups[g].dim * m->groups[g].dim));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* FIELDS[0..first-1], the lower triangle of the DIM x DIM matrix V, then FIELDS[first+nvalues..n-1]. */
static void WriteStatement(FILE *fp, PetscInt n, char *fields[], PetscInt first, PetscInt nvalues, PetscInt dim, const PetscReal V[])
{
  for (PetscInt k = 0; k < first; k++) fprintf(fp, "%s%s", k ? " " : "", fields[k]);
  for (PetscInt i = 0; i < dim; i++)
    for (PetscInt j = 0; j <= i; j++) fprintf(fp, " %.10g", (double)V[i * dim + j]);
  for (PetscInt k = first + nvalues; k < n; k++) fprintf(fp, " %s", fields[k]);
}

static PetscErrorCode WriteWithVariancesRoot(Model m, const char path[], const char note[])
{
  char    *copy, *line, *next, **fields;
  FILE    *fp;
  PetscInt lineno = 0;

  PetscFunctionBeginUser;
  fp = fopen(path, "w");
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: cannot write: %s", path, strerror(errno));
  if (note) fprintf(fp, "# %s\n", note);
  PetscCall(PetscStrallocpy(m->text, &copy));
  PetscCall(PetscMalloc1(MODEL_MAX_FIELDS, &fields));
  for (line = copy; line; line = next) {
    PetscInt group = -1, n;
    char     original[4096];
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    lineno++;
    for (PetscInt g = 0; g < m->ngroups; g++)
      if (m->groups[g].line == lineno) group = g;
    if (group < 0 && lineno != m->residual_line) {
      fprintf(fp, "%s%s", line, next ? "\n" : "");
      continue;
    }
    PetscCall(PetscStrncpy(original, line, sizeof(original)));
    original[strcspn(original, "\r")] = 0;
    if (strchr(line, '#')) *strchr(line, '#') = 0;
    PetscCall(ReaderSplit(line, MODEL_MAX_FIELDS, fields, &n));
    if (group >= 0)
      WriteStatement(fp, n, fields, m->groups[group].value_field, m->groups[group].nvalues, m->groups[group].dim, m->groups[group].covariance);
    else
      WriteStatement(fp, n, fields, 1, m->nresidual_values, m->ntraits, m->residual);
    fprintf(fp, "\n# was: %s\n", original);
  }
  PetscCall(PetscFree(fields));
  PetscCall(PetscFree(copy));
  PetscCheck(!fclose(fp), PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "%s: cannot write: %s", path, strerror(errno));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelWriteWithVariances(Model m, const char path[], const char note[])
{
  PetscMPIInt    rank;
  PetscErrorCode ierr = PETSC_SUCCESS;
  char           temporary[HENDERSON_MAX_PATH + 64];

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(m->comm, &rank));
  /* written under a name no other run uses and renamed into place: never half a file */
  snprintf(temporary, sizeof(temporary), "%s.tmp-%ld-%08lx", path, (long)getpid(), (unsigned long)(HendersonRandomToken() & 0xffffffffu));
  if (rank == 0) {
    ierr = WriteWithVariancesRoot(m, temporary, note);
    if (!ierr && rename(temporary, path))
      ierr = PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, PETSC_ERR_FILE_WRITE, PETSC_ERROR_INITIAL, "%s: cannot rename %s to it: %s",
                        path, temporary, strerror(errno));
    if (ierr) (void)unlink(temporary);
  }
  PetscCall(HendersonAgree(m->comm, ierr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetNumEffects(Model m, PetscInt *neffects)
{
  PetscFunctionBeginUser;
  *neffects = m->neffects;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetEffect(Model m, PetscInt e, const ModelEffect **effect)
{
  PetscFunctionBeginUser;
  PetscCheck(e >= 0 && e < m->neffects, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "effect %" PetscInt_FMT " of %" PetscInt_FMT, e, m->neffects);
  *effect = &m->effects[e];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetNumGroups(Model m, PetscInt *ngroups)
{
  PetscFunctionBeginUser;
  *ngroups = m->ngroups;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetGroup(Model m, PetscInt g, const ModelGroup **group)
{
  PetscFunctionBeginUser;
  PetscCheck(g >= 0 && g < m->ngroups, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "group %" PetscInt_FMT " of %" PetscInt_FMT, g, m->ngroups);
  *group = &m->groups[g];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelHasPedigreeEffect(Model m, PetscBool *has)
{
  PetscFunctionBeginUser;
  *has = PETSC_FALSE;
  for (PetscInt e = 0; e < m->neffects; e++)
    if (ModelEffectIsAnimal(&m->effects[e])) *has = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetGenotypes(Model m, const ModelGenotypes **genotypes)
{
  PetscFunctionBeginUser;
  *genotypes = &m->genotypes;
  PetscFunctionReturn(PETSC_SUCCESS);
}
