#include <henderson/model.h>
#include <henderson/reader.h>
#include <henderson/error.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *const ModelEffectKindNames[] = {"fixed", "covariate", "random"};
const char *const ModelStructureNames[]  = {"none", "iid", "pedigree"};

struct _p_Model {
  MPI_Comm     comm;
  char         path[HENDERSON_MAX_PATH];
  char        *text;
  char         data_path[HENDERSON_MAX_PATH], pedigree_path[HENDERSON_MAX_PATH], output_path[HENDERSON_MAX_PATH];
  PetscBool    has_pedigree;
  char         trait[MODEL_MAX_NAME];
  PetscInt     trait_line, trait_column;
  PetscReal    residual;
  PetscInt     residual_line;
  PetscInt     neffects, capacity;
  ModelEffect *effects;
};

PetscErrorCode ModelCreate(MPI_Comm comm, Model *model)
{
  PetscFunctionBeginUser;
  PetscCall(PetscNew(model));
  (*model)->comm         = comm;
  (*model)->trait_column = -1;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelDestroy(Model *model)
{
  PetscFunctionBeginUser;
  if (!*model) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFree((*model)->text));
  PetscCall(PetscFree((*model)->effects));
  PetscCall(PetscFree(*model));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0 reads the whole model file (a few lines). */
static PetscErrorCode ReadText(const char path[], char **text, PetscInt64 *length)
{
  FILE *fp = fopen(path, "rb");
  long  n;

  PetscFunctionBeginUser;
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: cannot open the model file: %s", path, strerror(errno));
  fseek(fp, 0, SEEK_END);
  n = ftell(fp);
  rewind(fp);
  PetscCheck(n >= 0 && n < (1L << 24), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: not a model file (%ld bytes)", path, n);
  PetscCall(PetscMalloc1(n + 1, text));
  PetscCheck(fread(*text, 1, (size_t)n, fp) == (size_t)n, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: read error", path);
  (*text)[n] = 0;
  fclose(fp);
  *length = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ParseVariance(const char path[], PetscInt line, const char text[], PetscReal *variance)
{
  PetscBool ok;

  PetscFunctionBeginUser;
  PetscCall(HendersonParseReal(text, variance, &ok));
  PetscCheck(ok && *variance > 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": variance '%s' is not a positive number", path, line, text);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode AddEffect(Model m, const ModelEffect *effect)
{
  PetscFunctionBeginUser;
  for (PetscInt e = 0; e < m->neffects; e++)
    PetscCheck(strcmp(m->effects[e].column, effect->column), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s:%" PetscInt_FMT ": column '%s' is already an effect (line %" PetscInt_FMT ")", m->path, effect->line, effect->column, m->effects[e].line);
  if (m->neffects == m->capacity) {
    ModelEffect *grown;
    m->capacity = PetscMax(8, 2 * m->capacity);
    PetscCall(PetscMalloc1(m->capacity, &grown));
    if (m->neffects) PetscCall(PetscArraycpy(grown, m->effects, m->neffects));
    PetscCall(PetscFree(m->effects));
    m->effects = grown;
  }
  m->effects[m->neffects++] = *effect;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CopyName(const char path[], PetscInt line, const char name[], char dest[])
{
  PetscFunctionBeginUser;
  PetscCheck(strlen(name) < MODEL_MAX_NAME, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": name too long: %s", path, line, name);
  PetscCall(PetscStrncpy(dest, name, MODEL_MAX_NAME));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SetPath(const char model_path[], const char dir[], PetscInt line, const char *keyword, PetscInt *seen, const char value[], char dest[])
{
  PetscFunctionBeginUser;
  PetscCheck(!*seen, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": '%s' given twice (first at line %" PetscInt_FMT ")", model_path, line, keyword, *seen);
  *seen = line;
  PetscCall(HendersonPathJoin(dir, value, dest, HENDERSON_MAX_PATH));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Parses the text; the same on every rank. */
static PetscErrorCode ModelParse(Model m)
{
  char     dir[HENDERSON_MAX_PATH], *copy, *line, *next;
  PetscInt lineno = 0, data_line = 0, pedigree_line = 0, output_line = 0;
  PetscBool has_fixed_class = PETSC_FALSE;

  PetscFunctionBeginUser;
  PetscCall(HendersonPathDirectory(m->path, dir, sizeof(dir)));
  PetscCall(PetscStrallocpy(m->text, &copy));
  for (line = copy; line; line = next) {
    char       *fields[8], *hash;
    PetscInt    n;
    const char *key;

    next = strchr(line, '\n');
    if (next) *next++ = 0;
    lineno++;
    if ((hash = strchr(line, '#'))) *hash = 0;
    PetscCall(ReaderSplit(line, 8, fields, &n));
    if (!n) continue;
    key = fields[0];
#define NEED(count, usage) \
  PetscCheck(n == (count) + 1, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": '%s' takes %s (found %" PetscInt_FMT " field%s)", m->path, lineno, key, usage, n - 1, \
             n - 1 == 1 ? "" : "s")
    if (!strcmp(key, "data")) {
      NEED(1, "FILE");
      PetscCall(SetPath(m->path, dir, lineno, key, &data_line, fields[1], m->data_path));
    } else if (!strcmp(key, "pedigree")) {
      NEED(1, "FILE");
      PetscCall(SetPath(m->path, dir, lineno, key, &pedigree_line, fields[1], m->pedigree_path));
      m->has_pedigree = PETSC_TRUE;
    } else if (!strcmp(key, "output")) {
      NEED(1, "FILE");
      PetscCall(SetPath(m->path, dir, lineno, key, &output_line, fields[1], m->output_path));
    } else if (!strcmp(key, "trait")) {
      NEED(1, "COLUMN");
      PetscCheck(!m->trait_line, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'trait' given twice (first at line %" PetscInt_FMT "); one trait per model",
                 m->path, lineno, m->trait_line);
      PetscCall(CopyName(m->path, lineno, fields[1], m->trait));
      m->trait_line = lineno;
    } else if (!strcmp(key, "residual")) {
      NEED(1, "VARIANCE");
      PetscCheck(!m->residual_line, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": 'residual' given twice (first at line %" PetscInt_FMT ")", m->path, lineno,
                 m->residual_line);
      PetscCall(ParseVariance(m->path, lineno, fields[1], &m->residual));
      m->residual_line = lineno;
    } else if (!strcmp(key, "fixed") || !strcmp(key, "covariate")) {
      ModelEffect effect = {.line = lineno, .structure = MODEL_STRUCTURE_NONE, .data_column = -1};
      NEED(1, "COLUMN");
      effect.kind = key[0] == 'f' ? MODEL_EFFECT_FIXED : MODEL_EFFECT_COVARIATE;
      if (effect.kind == MODEL_EFFECT_FIXED) has_fixed_class = PETSC_TRUE;
      PetscCall(CopyName(m->path, lineno, fields[1], effect.column));
      PetscCall(CopyName(m->path, lineno, fields[1], effect.name));
      PetscCall(AddEffect(m, &effect));
    } else if (!strcmp(key, "random")) {
      ModelEffect effect = {.line = lineno, .kind = MODEL_EFFECT_RANDOM, .data_column = -1};
      NEED(3, "COLUMN STRUCTURE VARIANCE, STRUCTURE being pedigree or iid");
      PetscCall(CopyName(m->path, lineno, fields[1], effect.column));
      PetscCall(CopyName(m->path, lineno, fields[1], effect.name));
      if (!strcmp(fields[2], "pedigree")) effect.structure = MODEL_STRUCTURE_PEDIGREE;
      else if (!strcmp(fields[2], "iid")) effect.structure = MODEL_STRUCTURE_IID;
      else SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": unknown structure '%s' for random effect '%s' (pedigree or iid)", m->path, lineno, fields[2], fields[1]);
      PetscCall(ParseVariance(m->path, lineno, fields[3], &effect.variance));
      PetscCall(AddEffect(m, &effect));
    } else {
      SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": unknown keyword '%s' (known: data, pedigree, trait, fixed, covariate, random, residual, output)",
              m->path, lineno, key);
    }
#undef NEED
  }
  PetscCall(PetscFree(copy));

  PetscCheck(data_line, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: no 'data FILE' line", m->path);
  PetscCheck(m->trait_line, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: no 'trait COLUMN' line", m->path);
  PetscCheck(m->residual_line, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: no 'residual VARIANCE' line", m->path);
  for (PetscInt e = 0; e < m->neffects; e++) {
    const ModelEffect *effect = &m->effects[e];
    PetscCheck(strcmp(effect->column, m->trait), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": column '%s' is the trait; it cannot also be an effect", m->path,
               effect->line, effect->column);
    PetscCheck(effect->structure != MODEL_STRUCTURE_PEDIGREE || m->has_pedigree, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s:%" PetscInt_FMT ": random effect '%s' has structure pedigree, but the model has no 'pedigree FILE' line", m->path, effect->line, effect->name);
  }
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
  if (!has_fixed_class) {
    /* The overall mean, first, where no fixed class effect absorbs it. */
    ModelEffect mean = {.kind = MODEL_EFFECT_FIXED, .structure = MODEL_STRUCTURE_NONE, .line = 0, .data_column = -1};
    PetscBool   taken = PETSC_FALSE;
    for (PetscInt e = 0; e < m->neffects; e++) taken = taken || !strcmp(m->effects[e].name, "mean");
    PetscCall(PetscStrncpy(mean.name, taken ? "(mean)" : "mean", sizeof(mean.name)));
    PetscCall(AddEffect(m, &mean));
    for (PetscInt e = m->neffects - 1; e > 0; e--) m->effects[e] = m->effects[e - 1];
    m->effects[0] = mean;
  }
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
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FindColumn(Model m, const char data_path[], PetscInt line, const char column[], PetscInt ncolumns, const char *const names[], PetscInt *index)
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
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": column '%s' is not in the header of %s (columns: %s)", m->path, line, column, data_path, list);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelSetDataColumns(Model m, const char data_path[], PetscInt ncolumns, const char *const names[])
{
  PetscFunctionBeginUser;
  PetscCall(FindColumn(m, data_path, m->trait_line, m->trait, ncolumns, names, &m->trait_column));
  for (PetscInt e = 0; e < m->neffects; e++) {
    ModelEffect *effect = &m->effects[e];
    if (!effect->column[0]) continue; /* the implied mean */
    PetscCall(FindColumn(m, data_path, effect->line, effect->column, ncolumns, names, &effect->data_column));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelView(Model m, PetscViewer viewer)
{
  PetscFunctionBeginUser;
  PetscCall(PetscViewerASCIIPrintf(viewer, "model %s: data %s%s%s, trait %s, residual variance %g\n", m->path, m->data_path, m->has_pedigree ? ", pedigree " : "",
                                   m->has_pedigree ? m->pedigree_path : "", m->trait, (double)m->residual));
  for (PetscInt e = 0; e < m->neffects; e++) {
    const ModelEffect *effect = &m->effects[e];
    if (effect->kind == MODEL_EFFECT_RANDOM)
      PetscCall(PetscViewerASCIIPrintf(viewer, "  %-9s %-20s %-8s variance %g\n", ModelEffectKindNames[effect->kind], effect->name, ModelStructureNames[effect->structure],
                                       (double)effect->variance));
    else PetscCall(PetscViewerASCIIPrintf(viewer, "  %-9s %s\n", ModelEffectKindNames[effect->kind], effect->name));
  }
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

PetscErrorCode ModelGetOutputPath(Model m, const char **path)
{
  PetscFunctionBeginUser;
  *path = m->output_path;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetTrait(Model m, const char **column, PetscInt *data_column)
{
  PetscFunctionBeginUser;
  if (column) *column = m->trait;
  if (data_column) *data_column = m->trait_column;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ModelGetResidualVariance(Model m, PetscReal *variance)
{
  PetscFunctionBeginUser;
  *variance = m->residual;
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

PetscErrorCode ModelHasPedigreeEffect(Model m, PetscBool *has)
{
  PetscFunctionBeginUser;
  *has = PETSC_FALSE;
  for (PetscInt e = 0; e < m->neffects; e++)
    if (m->effects[e].structure == MODEL_STRUCTURE_PEDIGREE) *has = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}
