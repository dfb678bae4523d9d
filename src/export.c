#include <henderson/export.h>
#include <henderson/error.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const ExportOrders[] = {"file", "level", "label", "ExportOrder", "EXPORT_ORDER_", NULL};

struct _p_Export {
  MPI_Comm    comm;
  ExportOrder order;
  PetscInt    digits; /* significant digits of a number */
};

PetscErrorCode ExportCreate(MPI_Comm comm, Export *export)
{
  PetscFunctionBeginUser;
  PetscCall(PetscNew(export));
  (*export)->comm   = comm;
  (*export)->order  = EXPORT_ORDER_FILE;
  (*export)->digits = 10;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ExportDestroy(Export *export)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(*export));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ExportSetOrder(Export export, ExportOrder order)
{
  PetscFunctionBeginUser;
  export->order = order;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ExportSetFromOptions(Export export)
{
  PetscFunctionBeginUser;
  PetscOptionsBegin(export->comm, NULL, "Export of a solutions file as text", "Export");
  PetscCall(PetscOptionsEnum("-export_order", "Order of the levels: file (animals as in the pedigree file), level (as in the output), label (sorted)",
                             "ExportSetOrder", ExportOrders, (PetscEnum) export->order, (PetscEnum *)&export->order, NULL));
  PetscCall(PetscOptionsBoundedInt("-export_digits", "Significant digits of the numbers (17: a double exactly)", "ExportSetFromOptions", export->digits,
                                   &export->digits, NULL, 1));
  PetscOptionsEnd();
  PetscCheck(export->digits <= 17, export->comm, PETSC_ERR_USER_INPUT, "-export_digits: at most 17 (a double has no more)");
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- the order of the levels ---- */

typedef struct {
  const char *label;
  PetscInt64  line; /* pedigree file line, 0 when not listed */
  PetscInt    level;
} Row;

static int CompareLabel(const void *x, const void *y)
{
  const Row *a = x, *b = y;
  int        c = LabelNaturalCompare(a->label, b->label);
  return c ? c : (a->level > b->level) - (a->level < b->level);
}

/* The animals listed in the pedigree file by their line; those not listed after them, as in the output. */
static int CompareLine(const void *x, const void *y)
{
  const Row *a = x, *b = y;
  if ((a->line == 0) != (b->line == 0)) return a->line == 0 ? 1 : -1;
  if (a->line != b->line) return a->line < b->line ? -1 : 1;
  return (a->level > b->level) - (a->level < b->level);
}

/* ORDER[k]: the level written k-th. */
static PetscErrorCode LevelOrder(Export export, const char path[], const char name[], PetscInt n, char *const labels[], PetscInt **order)
{
  Row       *rows;
  PetscReal *line = NULL;
  PetscBool  has_line;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(n + 1, order));
  PetscCall(OutputEffectHasDataset(path, name, "pedigree_line", &has_line));
  if (export->order == EXPORT_ORDER_LEVEL || (export->order == EXPORT_ORDER_FILE && !has_line)) {
    for (PetscInt l = 0; l < n; l++) (*order)[l] = l;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (export->order == EXPORT_ORDER_FILE) {
    PetscInt rows_read;
    PetscCall(OutputReadEffectDataset(path, name, "pedigree_line", &rows_read, NULL, &line));
    PetscCheck(rows_read == n, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: /solutions/%s/pedigree_line has %" PetscInt_FMT " rows for %" PetscInt_FMT " levels",
               path, name, rows_read, n);
  }
  PetscCall(PetscMalloc1(n + 1, &rows));
  for (PetscInt l = 0; l < n; l++) {
    rows[l].label = labels[l];
    rows[l].line  = line ? (PetscInt64)line[l] : 0;
    rows[l].level = l;
  }
  qsort(rows, (size_t)n, sizeof(Row), export->order == EXPORT_ORDER_LABEL ? CompareLabel : CompareLine);
  for (PetscInt k = 0; k < n; k++) (*order)[k] = rows[k].level;
  PetscCall(PetscFree(rows));
  PetscCall(PetscFree(line));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- writing ---- */

/* A field as the data file reader splits it back: in double quotes when it holds a blank, a comma or
   a quote (a quote inside doubled), else as it is. */
static void WriteField(FILE *out, const char text[])
{
  if (!text[0] || strpbrk(text, " \t,\"")) {
    fputc('"', out);
    for (const char *c = text; *c; c++) {
      if (*c == '"') fputc('"', out);
      fputc(*c, out);
    }
    fputc('"', out);
  } else
    fputs(text, out);
}

static void WriteNumber(Export export, FILE *out, PetscReal v)
{
  if (PetscIsNanReal(v))
    fputs(" NaN", out);
  else
    fprintf(out, " %.*g", (int)export->digits, (double)v);
}

/* One effect, no header: "level value ...". */
static PetscErrorCode WriteOne(Export export, const char path[], const char name[], const char dataset[], FILE *out)
{
  PetscInt   nlevels, ncolumns, rows, *order;
  char     **labels;
  PetscReal *values;

  PetscFunctionBeginUser;
  PetscCall(OutputReadEffect(path, name, &nlevels, &ncolumns, &labels, &values, NULL));
  if (dataset && strcmp(dataset, "value")) { /* another per-level dataset: pev, sep, reliability, inbreeding */
    PetscCall(PetscFree(values));
    PetscCall(OutputReadEffectDataset(path, name, dataset, &rows, &ncolumns, &values));
    PetscCheck(rows == nlevels, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: /solutions/%s/%s has %" PetscInt_FMT " rows for %" PetscInt_FMT " levels", path,
               name, dataset, rows, nlevels);
  }
  PetscCall(LevelOrder(export, path, name, nlevels, labels, &order));
  for (PetscInt k = 0; k < nlevels; k++) {
    PetscInt l = order[k];
    WriteField(out, labels[l]);
    for (PetscInt t = 0; t < ncolumns; t++) WriteNumber(export, out, values[l * ncolumns + t]);
    fputc('\n', out);
  }
  PetscCall(PetscFree(order));
  PetscCall(PetscFree(labels));
  PetscCall(PetscFree(values));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The names of the columns of an effect's values ("WWG,PWG"), split in place into COLUMNS (NCOLUMNS of them). */
static PetscErrorCode SplitColumns(char list[], PetscInt ncolumns, char *columns[])
{
  char *at = list;

  PetscFunctionBeginUser;
  for (PetscInt c = 0; c < ncolumns; c++) {
    char *comma = at ? strchr(at, ',') : NULL;
    columns[c]  = at && *at ? at : (char *)"?";
    if (comma) *comma = 0;
    at = comma ? comma + 1 : NULL;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Every effect: one line per level and column in which the effect is (a column of zeros in a trait the
   effect is not in is left out), with sep and reliability when the file has them. */
static PetscErrorCode WriteEffectRows(Export export, const char path[], const char name[], PetscBool with_sep, PetscBool with_reliability, FILE *out)
{
  PetscInt   nlevels, ncolumns, rows, *order;
  char     **labels, *list, **columns, traits[4096];
  PetscReal *values, *sep = NULL, *reliability = NULL;
  PetscBool  has;

  PetscFunctionBeginUser;
  PetscCall(OutputReadEffect(path, name, &nlevels, &ncolumns, &labels, &values, NULL));
  if (with_sep) {
    PetscCall(OutputEffectHasDataset(path, name, "sep", &has));
    if (has) PetscCall(OutputReadEffectDataset(path, name, "sep", &rows, NULL, &sep));
  }
  if (with_reliability) {
    PetscCall(OutputEffectHasDataset(path, name, "reliability", &has));
    if (has) PetscCall(OutputReadEffectDataset(path, name, "reliability", &rows, NULL, &reliability));
  }
  PetscCall(OutputReadEffectString(path, name, "columns", &list));
  PetscCall(PetscMalloc1(ncolumns + 1, &columns));
  PetscCall(SplitColumns(list, ncolumns, columns));
  {
    char *t;
    PetscCall(OutputReadEffectString(path, name, "traits", &t));
    snprintf(traits, sizeof(traits), ",%s,", t);
    PetscCall(PetscFree(t));
  }
  PetscCall(LevelOrder(export, path, name, nlevels, labels, &order));
  for (PetscInt c = 0; c < ncolumns; c++) {
    char trait[1024], key[1100], *colon;
    snprintf(trait, sizeof(trait), "%s", columns[c]);
    colon = strchr(trait, ':'); /* "fat:1": trait fat, coefficient 1 */
    if (colon) *colon = 0;
    snprintf(key, sizeof(key), ",%s,", trait);
    if (!strstr(traits, key)) continue; /* the effect is not in this trait */
    for (PetscInt k = 0; k < nlevels; k++) {
      PetscInt l = order[k];
      fputs(name, out);
      fputc(' ', out);
      WriteField(out, labels[l]);
      fputc(' ', out);
      WriteField(out, columns[c]);
      WriteNumber(export, out, values[l * ncolumns + c]);
      if (with_sep) WriteNumber(export, out, sep ? sep[l * ncolumns + c] : NAN);
      if (with_reliability) WriteNumber(export, out, reliability ? reliability[l * ncolumns + c] : NAN);
      fputc('\n', out);
    }
  }
  PetscCall(PetscFree(order));
  PetscCall(PetscFree(columns));
  PetscCall(PetscFree(list));
  PetscCall(PetscFree(labels));
  PetscCall(PetscFree(values));
  PetscCall(PetscFree(sep));
  PetscCall(PetscFree(reliability));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteAll(Export export, const char path[], PetscInt n, char *names[], FILE *out)
{
  PetscBool with_sep = PETSC_FALSE, with_reliability = PETSC_FALSE;

  PetscFunctionBeginUser;
  for (PetscInt k = 0; k < n; k++) {
    PetscBool has;
    PetscCall(OutputEffectHasDataset(path, names[k], "sep", &has));
    with_sep = (PetscBool)(with_sep || has);
    PetscCall(OutputEffectHasDataset(path, names[k], "reliability", &has));
    with_reliability = (PetscBool)(with_reliability || has);
  }
  fprintf(out, "effect level trait solution%s%s\n", with_sep ? " sep" : "", with_reliability ? " reliability" : "");
  for (PetscInt k = 0; k < n; k++) PetscCall(WriteEffectRows(export, path, names[k], with_sep, with_reliability, out));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ExportWrite(Export export, const char path[], const char effect[], const char dataset[], FILE *out)
{
  PetscInt  n;
  char    **names;
  PetscBool found = PETSC_FALSE;

  PetscFunctionBeginUser;
  PetscCall(OutputListEffects(path, &n, &names));
  for (PetscInt k = 0; effect && k < n; k++) found = (PetscBool)(found || !strcmp(names[k], effect));
  if (effect && !found) {
    char list[4096] = "";
    for (PetscInt k = 0; k < n; k++) {
      if (k) PetscCall(HendersonStrlcat(list, ", ", sizeof(list)));
      PetscCall(HendersonStrlcat(list, names[k], sizeof(list)));
    }
    for (PetscInt k = 0; k < n; k++) PetscCall(PetscFree(names[k]));
    PetscCall(PetscFree(names));
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: no effect named '%s'; the effects are: %s", path, effect, list);
  }
  if (effect)
    PetscCall(WriteOne(export, path, effect, dataset, out));
  else
    PetscCall(WriteAll(export, path, n, names, out));
  fflush(out);
  for (PetscInt k = 0; k < n; k++) PetscCall(PetscFree(names[k]));
  PetscCall(PetscFree(names));
  PetscFunctionReturn(PETSC_SUCCESS);
}
