/* check_solutions: compares a henderson solutions file with expected numbers.

     check_solutions FILE.h5 EXPECTED.txt
       EXPECTED lines (fields separated by blanks; '#' starts a comment):
         value      EFFECT LEVEL VALUE TOL [COLUMN]  solution of one level (COLUMN of value counts from 1:
                    the trait, or trait x coefficients for regressions)
         diff       EFFECT LEVEL_A LEVEL_B VALUE TOL [COLUMN]   value(A) - value(B), an estimable function
         inbreeding EFFECT LEVEL VALUE TOL
         pev | sep | reliability  EFFECT LEVEL VALUE TOL [COLUMN]   the dataset of that name (with -pev)
         linear     VALUE TOL C1 EFFECT1 LEVEL1 [C2 EFFECT2 LEVEL2 ...]   sum of Ck * value, an estimable
                    function across effects (EFFECT:COLUMN picks a column, counted from 1)
         attribute  GROUP NAME VALUE TOL             a numeric attribute, e.g. /solver converged 1 0
         dataset    PATH ROW COLUMN VALUE TOL        an entry of any float64 dataset (rows and columns from 1),
                    e.g. dataset /variance/history 2 3 0.4838 1e-4
         mc_estimate ROW VALUE K                     /variance/estimate's entry ROW (from 1) within K of its Monte
                    Carlo standard errors (/variance/monte_carlo_standard_error) of VALUE
         levels     EFFECT N                         number of levels
         within     DATASET EFFECT LO HI             every number of /solutions/EFFECT/DATASET in [LO, HI]
         nan        DATASET EFFECT N                 N entries of /solutions/EFFECT/DATASET are NaN
         text       GROUP NAME WORDS...              the string attribute NAME of GROUP contains WORDS
       A VALUE of nan expects NaN.
     check_solutions -same TOL A.h5 B.h5 [C.h5 ...]
       every effect of A has the same labels in every other file, and values within
       TOL * max(1, |value|).
     check_solutions -agree DATASET EFFECT MINCORR SLOPE_LO SLOPE_HI MAXMAD EXACT.h5 APPROX.h5
       /solutions/EFFECT/DATASET (reliability, say) of the two files, level by level (the same labels) and
       column by column, over the entries that are numbers in both: the correlation at least MINCORR, the
       slope of the regression of EXACT on APPROX within [SLOPE_LO, SLOPE_HI], the mean absolute difference at
       most MAXMAD (approximate reliabilities against exact ones; the same at several rank counts).
   Prints one line per check and exits 1 if any fails. */
#include <henderson/henderson.h>
#include <math.h>
#include <string.h>
#include <stdlib.h>

typedef struct {
  char       name[256];
  PetscInt   nlevels, ncolumns;
  char     **labels;
  PetscReal *values, *inbreeding;
} Effect;

static PetscErrorCode LoadEffect(const char path[], const char name[], Effect *e)
{
  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(e->name, name, sizeof(e->name)));
  PetscCall(OutputReadEffect(path, name, &e->nlevels, &e->ncolumns, &e->labels, &e->values, &e->inbreeding));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FreeEffect(Effect *e)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(e->labels));
  PetscCall(PetscFree(e->values));
  PetscCall(PetscFree(e->inbreeding));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscInt FindLevel(const Effect *e, const char label[])
{
  for (PetscInt l = 0; l < e->nlevels; l++)
    if (!strcmp(e->labels[l], label)) return l;
  return -1;
}

static PetscBool Report(PetscBool ok, const char line[], double got, double want, double tol)
{
  if (isnan(want)) ok = isnan(got) ? PETSC_TRUE : PETSC_FALSE; /* NaN expected: a PEV that is not estimable */
  printf("%s  %-60s got %.12g want %.12g (|diff| %.3g, tol %.3g)\n", ok ? "ok  " : "FAIL", line, got, want, fabs(got - want), tol);
  return ok;
}

static PetscErrorCode CheckExpected(const char path[], const char expected[], PetscInt *failures)
{
  FILE  *fp   = fopen(expected, "r");
  char  *line = NULL, *copy = NULL; /* lines of any length: labels may be long */
  size_t length = 0;
  Effect cache  = {{0}};

  PetscFunctionBeginUser;
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", expected);
  while (getline(&line, &length, fp) > 0) {
    char    *fields[64], *hash;
    PetscInt n;

    line[strcspn(line, "\r\n")] = 0;
    if ((hash = strchr(line, '#'))) *hash = 0;
    PetscCall(PetscFree(copy));
    PetscCall(PetscStrallocpy(line, &copy));
    PetscCall(ReaderSplit(copy, 64, fields, &n));
    if (!n) continue;
    if (!strcmp(fields[0], "linear")) {
      PetscReal got = 0;
      PetscBool ok  = PETSC_TRUE;
      PetscCheck(n >= 6 && (n - 3) % 3 == 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: bad line: %s", expected, line);
      for (PetscInt k = 3; k < n && ok; k += 3) {
        char     effect[256], *colon;
        PetscInt column = 0, l;
        PetscCall(PetscStrncpy(effect, fields[k + 1], sizeof(effect)));
        if ((colon = strchr(effect, ':'))) {
          *colon = 0;
          column = atoi(colon + 1) - 1;
        }
        if (strcmp(cache.name, effect)) {
          if (cache.labels) PetscCall(FreeEffect(&cache));
          PetscCall(LoadEffect(path, effect, &cache));
        }
        l  = FindLevel(&cache, fields[k + 2]);
        ok = l >= 0 && column >= 0 && column < cache.ncolumns;
        if (ok) got += atof(fields[k]) * cache.values[l * cache.ncolumns + column];
      }
      if (!ok) {
        printf("FAIL  %s: unknown effect, level or column\n", line);
        (*failures)++;
      } else if (!Report(fabs(got - atof(fields[1])) <= atof(fields[2]), line, got, atof(fields[1]), atof(fields[2])))
        (*failures)++;
      continue;
    }
    if (!strcmp(fields[0], "dataset")) {
      PetscInt   rows, columns, i, j;
      PetscReal *values;
      PetscCheck(n == 6, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: bad line: %s", expected, line);
      PetscCall(OutputReadDataset(path, fields[1], &rows, &columns, &values));
      i = atoi(fields[2]) - 1;
      j = atoi(fields[3]) - 1;
      if (i < 0 || i >= rows || j < 0 || j >= columns) {
        printf("FAIL  %s: %s has %" PetscInt_FMT " x %" PetscInt_FMT " entries\n", line, fields[1], rows, columns);
        (*failures)++;
      } else if (!Report(fabs(values[i * columns + j] - atof(fields[4])) <= atof(fields[5]), line, values[i * columns + j], atof(fields[4]), atof(fields[5])))
        (*failures)++;
      PetscCall(PetscFree(values));
      continue;
    }
    if (!strcmp(fields[0], "mc_estimate")) { /* a Monte Carlo estimate within K of its own Monte Carlo standard errors */
      PetscInt   rows, columns, rows2, columns2, i = atoi(fields[1]) - 1;
      PetscReal *estimate, *mcse;
      PetscCheck(n == 4, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: bad line: %s", expected, line);
      PetscCall(OutputReadDataset(path, "/variance/estimate", &rows, &columns, &estimate));
      PetscCall(OutputReadDataset(path, "/variance/monte_carlo_standard_error", &rows2, &columns2, &mcse));
      if (i < 0 || i >= rows || rows2 != rows || !(mcse[i] > 0)) {
        printf("FAIL  %s: no estimate %d with a positive Monte Carlo standard error\n", line, (int)i + 1);
        (*failures)++;
      } else if (!Report(fabs(estimate[i] - atof(fields[2])) <= atof(fields[3]) * mcse[i], line, estimate[i], atof(fields[2]), atof(fields[3]) * mcse[i]))
        (*failures)++;
      PetscCall(PetscFree(estimate));
      PetscCall(PetscFree(mcse));
      continue;
    }
    if (!strcmp(fields[0], "attribute")) {
      PetscReal got;
      PetscCheck(n == 5, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: bad line: %s", expected, line);
      PetscCall(OutputReadAttribute(path, fields[1], fields[2], &got));
      if (!Report(fabs(got - atof(fields[3])) <= atof(fields[4]), line, got, atof(fields[3]), atof(fields[4]))) (*failures)++;
      continue;
    }
    if (!strcmp(fields[0], "within") || !strcmp(fields[0], "nan")) {
      PetscInt   rows, columns, nan = 0, outside = 0;
      PetscReal *values;
      PetscCheck((fields[0][0] == 'w' && n == 5) || (fields[0][0] == 'n' && n == 4), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: bad line: %s", expected, line);
      PetscCall(OutputReadEffectDataset(path, fields[2], fields[1], &rows, &columns, &values));
      for (PetscInt k = 0; k < rows * columns; k++) {
        if (PetscIsNanReal(values[k]))
          nan++;
        else if (fields[0][0] == 'w' && (values[k] < atof(fields[3]) || values[k] > atof(fields[4])))
          outside++;
      }
      if (fields[0][0] == 'w') {
        if (!Report(outside == 0 && nan == 0, line, (double)outside, 0, 0)) (*failures)++;
      } else if (!Report(nan == atoi(fields[3]), line, (double)nan, atof(fields[3]), 0))
        (*failures)++;
      PetscCall(PetscFree(values));
      continue;
    }
    if (!strcmp(fields[0], "text")) {
      char *text, words[4096] = "";
      PetscCheck(n >= 4, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: bad line: %s", expected, line);
      for (PetscInt k = 3; k < n; k++) {
        if (k > 3) PetscCall(HendersonStrlcat(words, " ", sizeof(words)));
        PetscCall(HendersonStrlcat(words, fields[k], sizeof(words)));
      }
      PetscCall(OutputReadAttributeString(path, fields[1], fields[2], &text));
      printf("%s  %s (the attribute: %s)\n", strstr(text, words) ? "ok  " : "FAIL", line, text);
      if (!strstr(text, words)) (*failures)++;
      PetscCall(PetscFree(text));
      continue;
    }
    PetscCheck(n >= 3, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: bad line: %s", expected, line);
    if (strcmp(cache.name, fields[1])) {
      if (cache.labels) PetscCall(FreeEffect(&cache));
      PetscCall(LoadEffect(path, fields[1], &cache));
    }
    if (!strcmp(fields[0], "levels")) {
      if (!Report(cache.nlevels == atoi(fields[2]), line, (double)cache.nlevels, atof(fields[2]), 0)) (*failures)++;
    } else if (!strcmp(fields[0], "value") || !strcmp(fields[0], "inbreeding")) {
      PetscInt  l = FindLevel(&cache, fields[2]), t = n >= 6 ? atoi(fields[5]) - 1 : 0;
      PetscReal got;
      PetscCheck(n == 5 || n == 6, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: bad line: %s", expected, line);
      if (l < 0) {
        printf("FAIL  %s: no level '%s' in effect %s\n", line, fields[2], fields[1]);
        (*failures)++;
        continue;
      }
      PetscCheck(t >= 0 && t < cache.ncolumns, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: trait out of range: %s", expected, line);
      if (fields[0][0] == 'i') {
        PetscCheck(cache.inbreeding, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "effect %s has no inbreeding", fields[1]);
        got = cache.inbreeding[l];
      } else
        got = cache.values[l * cache.ncolumns + t];
      if (!Report(fabs(got - atof(fields[3])) <= atof(fields[4]), line, got, atof(fields[3]), atof(fields[4]))) (*failures)++;
    } else if (!strcmp(fields[0], "pev") || !strcmp(fields[0], "sep") || !strcmp(fields[0], "reliability")) {
      PetscInt   l = FindLevel(&cache, fields[2]), t = n >= 6 ? atoi(fields[5]) - 1 : 0, rows, columns;
      PetscReal *values;
      PetscCheck(n == 5 || n == 6, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: bad line: %s", expected, line);
      if (l < 0) {
        printf("FAIL  %s: no level '%s' in effect %s\n", line, fields[2], fields[1]);
        (*failures)++;
        continue;
      }
      PetscCall(OutputReadEffectDataset(path, fields[1], fields[0], &rows, &columns, &values));
      PetscCheck(rows == cache.nlevels && t >= 0 && t < columns, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: column out of range: %s", expected, line);
      if (!Report(fabs(values[l * columns + t] - atof(fields[3])) <= atof(fields[4]), line, values[l * columns + t], atof(fields[3]), atof(fields[4])))
        (*failures)++;
      PetscCall(PetscFree(values));
    } else if (!strcmp(fields[0], "diff")) {
      PetscInt  a = FindLevel(&cache, fields[2]), b = FindLevel(&cache, fields[3]), t = n >= 7 ? atoi(fields[6]) - 1 : 0;
      PetscReal got;
      PetscCheck(n == 6 || n == 7, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: bad line: %s", expected, line);
      if (a < 0 || b < 0) {
        printf("FAIL  %s: unknown level\n", line);
        (*failures)++;
        continue;
      }
      got = cache.values[a * cache.ncolumns + t] - cache.values[b * cache.ncolumns + t];
      if (!Report(fabs(got - atof(fields[4])) <= atof(fields[5]), line, got, atof(fields[4]), atof(fields[5]))) (*failures)++;
    } else
      SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: unknown check '%s'", expected, fields[0]);
  }
  fclose(fp);
  free(line);
  PetscCall(PetscFree(copy));
  if (cache.labels) PetscCall(FreeEffect(&cache));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The files hold the same levels, in any order (the animals' order may differ), with the same values. */
static PetscErrorCode CheckSame(PetscReal tol, int nfiles, char **files, PetscInt *failures)
{
  PetscInt n;
  char   **names;

  PetscFunctionBeginUser;
  PetscCall(OutputListEffects(files[0], &n, &names));
  PetscCheck(n > 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s has no effects", files[0]);
  for (PetscInt k = 0; k < n; k++) {
    Effect     ref = {{0}};
    LabelTable index;
    PetscCall(LoadEffect(files[0], names[k], &ref));
    PetscCall(LabelTableCreate(&index));
    for (PetscInt l = 0; l < ref.nlevels; l++) PetscCall(LabelTableInsert(index, ref.labels[l], strlen(ref.labels[l]), NULL, NULL));
    for (int f = 1; f < nfiles; f++) {
      Effect    other = {{0}};
      PetscReal worst = 0;
      PetscBool labels_ok;
      PetscInt *at;
      PetscCall(LoadEffect(files[f], names[k], &other));
      PetscCall(PetscMalloc1(other.nlevels + 1, &at));
      labels_ok = other.nlevels == ref.nlevels && other.ncolumns == ref.ncolumns ? PETSC_TRUE : PETSC_FALSE;
      for (PetscInt l = 0; labels_ok && l < other.nlevels; l++) {
        PetscCall(LabelTableFind(index, other.labels[l], strlen(other.labels[l]), &at[l]));
        labels_ok = at[l] >= 0 ? PETSC_TRUE : PETSC_FALSE;
      }
      if (!labels_ok) {
        printf("FAIL  %s: effect %s has other levels than in %s\n", files[f], names[k], files[0]);
        (*failures)++;
      } else {
        for (PetscInt l = 0; l < other.nlevels; l++)
          for (PetscInt c = 0; c < ref.ncolumns; c++) {
            PetscReal a = ref.values[at[l] * ref.ncolumns + c], b = other.values[l * ref.ncolumns + c];
            worst = PetscMax(worst, PetscAbsReal(a - b) / PetscMax(1.0, PetscAbsReal(a)));
          }
        if (ref.inbreeding && other.inbreeding) /* the inbreeding coefficients went with their animals */
          for (PetscInt l = 0; l < other.nlevels; l++) worst = PetscMax(worst, PetscAbsReal(ref.inbreeding[at[l]] - other.inbreeding[l]));
        printf("%s  %s vs %s: effect %s, %" PetscInt_FMT " levels, largest difference %.3g (tol %.3g)\n", worst <= tol ? "ok  " : "FAIL", files[f], files[0],
               names[k], ref.nlevels, (double)worst, (double)tol);
        if (worst > tol) (*failures)++;
      }
      PetscCall(PetscFree(at));
      PetscCall(FreeEffect(&other));
    }
    PetscCall(LabelTableDestroy(&index));
    PetscCall(FreeEffect(&ref));
    PetscCall(PetscFree(names[k]));
  }
  PetscCall(PetscFree(names));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Correlation, slope of Y on X and mean |X - Y| over the N pairs X[k * STRIDE], Y[k * STRIDE] that are numbers. */
static void Agreement(PetscInt n, PetscInt stride, const PetscReal x[], const PetscReal y[], PetscInt *used, double *corr, double *slope, double *mad)
{
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, sad = 0, m;

  *used = 0;
  for (PetscInt k = 0; k < n; k++) {
    double a = x[k * stride], b = y[k * stride];
    if (!isfinite(a) || !isfinite(b)) continue;
    (*used)++, sx += a, sy += b, sad += fabs(a - b);
  }
  m = *used ? (double)*used : 1;
  for (PetscInt k = 0; k < n; k++) {
    double a = x[k * stride] - sx / m, b = y[k * stride] - sy / m;
    if (!isfinite(a) || !isfinite(b)) continue;
    sxx += a * a, syy += b * b, sxy += a * b;
  }
  *corr  = sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : (sxx == 0 && syy == 0 ? 1 : 0);
  *slope = sxx > 0 ? sxy / sxx : (syy == 0 ? 1 : 0);
  *mad   = sad / m;
}

static PetscErrorCode CheckAgree(char **arg, PetscInt *failures)
{
  const char *dataset = arg[0], *effect = arg[1], *exact = arg[6], *approx = arg[7];
  double      mincorr = atof(arg[2]), lo = atof(arg[3]), hi = atof(arg[4]), maxmad = atof(arg[5]);
  Effect      a = {{0}}, b = {{0}};
  PetscInt    ra, ca, rb, cb;
  PetscReal  *va, *vb;

  PetscFunctionBeginUser;
  PetscCall(LoadEffect(exact, effect, &a));
  PetscCall(LoadEffect(approx, effect, &b));
  PetscCall(OutputReadEffectDataset(exact, effect, dataset, &ra, &ca, &va));
  PetscCall(OutputReadEffectDataset(approx, effect, dataset, &rb, &cb, &vb));
  PetscCheck(ra == rb && ca == cb && ra == a.nlevels && rb == b.nlevels, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s and %s: %s of %s differ in shape", exact,
             approx, dataset, effect);
  for (PetscInt l = 0; l < ra; l++)
    PetscCheck(!strcmp(a.labels[l], b.labels[l]), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s and %s: level %" PetscInt_FMT " of %s differs", exact, approx, l,
               effect);
  for (PetscInt c = 0; c < ca; c++) {
    PetscInt  used;
    double    corr, slope, mad;
    PetscBool ok;
    Agreement(ra, ca, vb + c, va + c, &used, &corr, &slope, &mad);
    ok = used > 0 && corr >= mincorr && slope >= lo && slope <= hi && mad <= maxmad ? PETSC_TRUE : PETSC_FALSE;
    printf("%s  %s %s column %" PetscInt_FMT ": %" PetscInt_FMT
           " levels, correlation %.6f (at least %g), slope %.4f (%g..%g), mean |difference| %.3g (at most %g)\n",
           ok ? "ok  " : "FAIL", effect, dataset, c + 1, used, corr, mincorr, slope, lo, hi, mad, maxmad);
    if (!ok) (*failures)++;
  }
  PetscCall(PetscFree(va));
  PetscCall(PetscFree(vb));
  PetscCall(FreeEffect(&a));
  PetscCall(FreeEffect(&b));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscInt failures = 0;

  PetscCall(PetscInitializeNoArguments());
  if (argc >= 4 && !strcmp(argv[1], "-same"))
    PetscCall(CheckSame(atof(argv[2]), argc - 3, argv + 3, &failures));
  else if (argc == 10 && !strcmp(argv[1], "-agree"))
    PetscCall(CheckAgree(argv + 2, &failures));
  else if (argc == 3)
    PetscCall(CheckExpected(argv[1], argv[2], &failures));
  else {
    fprintf(
        stderr,
        "usage: check_solutions FILE.h5 EXPECTED.txt | -same TOL A.h5 B.h5 ... | -agree DATASET EFFECT MINCORR SLOPE_LO SLOPE_HI MAXMAD EXACT.h5 APPROX.h5\n");
    failures = 1;
  }
  if (failures) printf("%" PetscInt_FMT " check(s) failed\n", failures);
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
