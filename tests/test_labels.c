/* Labels: the local hash table, and the collective numbering, which must give every label the
   same index for any number of ranks (preset labels keep theirs, the others follow in order of
   first appearance in the file). */
#include "testing.h"
#include <string.h>

static PetscErrorCode TestTable(TestCounter *c)
{
  LabelTable t;
  PetscInt   n = 100000, size, index;
  char       label[32];
  PetscBool  inserted, all = PETSC_TRUE;

  PetscFunctionBeginUser;
  PetscCall(LabelTableCreate(&t));
  for (PetscInt i = 0; i < n; i++) {
    snprintf(label, sizeof(label), "L%" PetscInt_FMT, (i * 7919) % n);
    PetscCall(LabelTableInsert(t, label, strlen(label), &index, &inserted));
    all = all && inserted && index == i;
  }
  TestCheck(c, all, "LabelTableInsert numbers new labels in order");
  for (PetscInt i = 0; i < n && all; i++) {
    const char *stored;
    snprintf(label, sizeof(label), "L%" PetscInt_FMT, (i * 7919) % n);
    PetscCall(LabelTableInsert(t, label, strlen(label), &index, &inserted));
    PetscCall(LabelTableGetLabel(t, index, &stored));
    all = !inserted && index == i && !strcmp(stored, label);
  }
  TestCheck(c, all, "LabelTableInsert finds labels already there");
  PetscCall(LabelTableGetSize(t, &size));
  TestCheck(c, size == n, "size %" PetscInt_FMT, size);
  PetscCall(LabelTableFind(t, "nothing", 7, &index));
  TestCheck(c, index == -1, "LabelTableFind of a missing label");
  /* a label is its bytes: prefixes, empty strings and length-limited keys */
  PetscCall(LabelTableInsert(t, "L1234567", 2, &index, &inserted)); /* "L1" */
  TestCheck(c, !inserted, "length-limited insert finds L1");
  PetscCall(LabelTableInsert(t, "", 0, &index, &inserted));
  TestCheck(c, inserted && index == n, "the empty label is a label");
  {
    /* renumbering: keep every other label, in reverse */
    PetscInt *order, m = 0, index2;
    PetscBool same = PETSC_TRUE;
    PetscCall(PetscMalloc1(n, &order));
    for (PetscInt i = n - 1; i >= 0; i -= 2) order[m++] = i;
    PetscCall(LabelTablePermute(t, m, order));
    for (PetscInt k = 0; k < m && same; k++) {
      snprintf(label, sizeof(label), "L%" PetscInt_FMT, (order[k] * 7919) % n);
      PetscCall(LabelTableFind(t, label, strlen(label), &index2));
      same = index2 == k;
    }
    snprintf(label, sizeof(label), "L%" PetscInt_FMT, ((n - 2) * 7919) % n);
    PetscCall(LabelTableFind(t, label, strlen(label), &index2));
    TestCheck(c, same && index2 == -1, "LabelTablePermute renumbers and drops");
    PetscCall(PetscFree(order));
  }
  PetscCall(LabelTableDestroy(&t));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A file of NLINES lines, line k holding label Label(k); rank r reads a contiguous block of lines. */
static void Label(PetscInt line, char label[], size_t size)
{
  TestRandom r;
  TestRandomSeed(&r, (uint64_t)line);
  snprintf(label, size, "herd%03" PetscInt_FMT, TestRandomInt(&r, 500));
}

static PetscErrorCode TestNumbering(TestCounter *c, PetscBool with_preset)
{
  PetscMPIInt rank, size;
  PetscInt    nlines = 3000, first, last, nlocal, nglobal, *global, nexpected, npreset = 0;
  LabelTable  local, expected, preset = NULL, added = NULL;
  PetscInt64 *first_line;
  char        label[32];
  PetscBool   ok = PETSC_TRUE;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  /* the expected numbering, serially: preset labels first, then by first appearance */
  PetscCall(LabelTableCreate(&expected));
  if (with_preset) {
    for (PetscInt k = 0; k < 40; k++) {
      snprintf(label, sizeof(label), "herd%03" PetscInt_FMT, 499 - 3 * k);
      PetscCall(LabelTableInsert(expected, label, strlen(label), NULL, NULL));
    }
    npreset = 40;
    if (rank == 0) {
      PetscCall(LabelTableCreate(&preset));
      for (PetscInt k = 0; k < 40; k++) {
        snprintf(label, sizeof(label), "herd%03" PetscInt_FMT, 499 - 3 * k);
        PetscCall(LabelTableInsert(preset, label, strlen(label), NULL, NULL));
      }
      /* a preset label no line uses keeps its index too */
      PetscCall(LabelTableInsert(preset, "unused", 6, NULL, NULL));
    }
    PetscCall(LabelTableInsert(expected, "unused", 6, NULL, NULL));
    npreset = 41;
  }
  for (PetscInt k = 0; k < nlines; k++) {
    Label(k, label, sizeof(label));
    PetscCall(LabelTableInsert(expected, label, strlen(label), NULL, NULL));
  }
  PetscCall(LabelTableGetSize(expected, &nexpected));
  /* this rank's lines */
  first = nlines * rank / size;
  last  = nlines * (rank + 1) / size;
  PetscCall(LabelTableCreate(&local));
  PetscCall(PetscMalloc1(nlines, &first_line));
  for (PetscInt k = first; k < last; k++) {
    PetscInt  index;
    PetscBool inserted;
    Label(k, label, sizeof(label));
    PetscCall(LabelTableInsert(local, label, strlen(label), &index, &inserted));
    if (inserted) first_line[index] = k + 2;
  }
  PetscCall(LabelTableGetSize(local, &nlocal));
  PetscCall(PetscMalloc1(nlocal + 1, &global));
  PetscCall(LabelsNumber(PETSC_COMM_WORLD, local, first_line, preset, global, &nglobal, rank == 0 ? &added : NULL));
  TestCheck(c, nglobal == nexpected, "%s preset: %" PetscInt_FMT " labels (expected %" PetscInt_FMT ")", with_preset ? "with" : "without", nglobal, nexpected);
  for (PetscInt k = 0; k < nlocal; k++) {
    const char *s;
    PetscInt    want;
    PetscCall(LabelTableGetLabel(local, k, &s));
    PetscCall(LabelTableFind(expected, s, strlen(s), &want));
    ok = ok && global[k] == want;
  }
  TestCheck(c, ok, "%s preset: every rank's labels got the serial numbering", with_preset ? "with" : "without");
  if (rank == 0) {
    PetscInt  nadded;
    PetscBool same = PETSC_TRUE;
    PetscCall(LabelTableGetSize(added, &nadded));
    TestCheck(c, nadded == nexpected - npreset, "rank 0 got the %" PetscInt_FMT " new labels", nadded);
    for (PetscInt k = 0; k < nadded && same; k++) {
      const char *a, *b;
      PetscCall(LabelTableGetLabel(added, k, &a));
      PetscCall(LabelTableGetLabel(expected, npreset + k, &b));
      same = !strcmp(a, b);
    }
    TestCheck(c, same, "the new labels are in order of first appearance");
  }
  PetscCall(PetscFree(global));
  PetscCall(PetscFree(first_line));
  PetscCall(LabelTableDestroy(&local));
  PetscCall(LabelTableDestroy(&expected));
  PetscCall(LabelTableDestroy(&preset));
  PetscCall(LabelTableDestroy(&added));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  TestCounter c = {0, 0};
  int         code;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(TestTable(&c));
  PetscCall(TestNumbering(&c, PETSC_FALSE));
  PetscCall(TestNumbering(&c, PETSC_TRUE));
  code = TestFinish(PETSC_COMM_WORLD, &c, "test_labels");
  PetscCall(PetscFinalize());
  return code;
}
