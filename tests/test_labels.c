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
  PetscCall(LabelsNumber(PETSC_COMM_WORLD, local, first_line, preset, NULL, global, &nglobal, rank == 0 ? &added : NULL));
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

/* Entry k of a file of 3000 lines with two labels each (a herd and a cow, both repeated). */
static void Entry(PetscInt k, char label[], size_t size)
{
  if (k % 2 == 0)
    Label(k / 2, label, size);
  else
    snprintf(label, size, "cow%" PetscInt_FMT, (k * 7) % 1001);
}

/* A file of NENTRIES entries (Entry()) split into whole lines between the ranks: this rank's entries, and the
   one-rank table of them all (EXPECTED, on every rank). */
typedef struct {
  PetscInt     first, last, nexpected;
  LabelTable   expected;
  const char **labels;
  size_t      *length;
  char        *text;
  PetscInt    *global;
} EntryFile;

static PetscErrorCode EntryFileCreate(PetscInt nentries, EntryFile *f)
{
  PetscMPIInt rank, size;
  char        label[32];

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(LabelTableCreate(&f->expected));
  for (PetscInt k = 0; k < nentries; k++) {
    Entry(k, label, sizeof(label));
    PetscCall(LabelTableInsert(f->expected, label, strlen(label), NULL, NULL));
  }
  PetscCall(LabelTableGetSize(f->expected, &f->nexpected));
  f->first = 2 * ((nentries / 2) * rank / size); /* whole lines: a rank's entries follow the ranks before it */
  f->last  = 2 * ((nentries / 2) * (rank + 1) / size);
  PetscCall(PetscMalloc4(f->last - f->first + 1, &f->labels, f->last - f->first + 1, &f->length, 32 * (f->last - f->first) + 1, &f->text,
                         f->last - f->first + 1, &f->global));
  for (PetscInt k = f->first; k < f->last; k++) {
    Entry(k, f->text + 32 * (k - f->first), 32);
    f->labels[k - f->first] = f->text + 32 * (k - f->first);
    f->length[k - f->first] = strlen(f->labels[k - f->first]);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode EntryFileDestroy(EntryFile *f)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree4(f->labels, f->length, f->text, f->global));
  PetscCall(LabelTableDestroy(&f->expected));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The directory: numbered as one rank would number the file, gathered in order, renumbered, found by the
   owners, and the data's numbering with it gives what it gives with rank 0's table alone. */
static PetscErrorCode TestDirectory(TestCounter *c)
{
  PetscMPIInt    rank, size;
  PetscInt       nentries = 6000, first, last, nglobal, nexpected, *global, *new_of, nkept = 0;
  LabelTable     expected, gathered = NULL;
  LabelDirectory dir;
  char           label[32];
  const char   **labels;
  size_t        *length;
  EntryFile      f;
  PetscBool      ok = PETSC_TRUE;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(EntryFileCreate(nentries, &f));
  expected  = f.expected;
  nexpected = f.nexpected;
  first     = f.first;
  last      = f.last;
  labels    = f.labels;
  length    = f.length;
  global    = f.global;
  PetscCall(LabelDirectoryCreateInOrder(PETSC_COMM_WORLD, last - first, labels, length, global, &dir, &nglobal, &gathered));
  TestCheck(c, nglobal == nexpected, "directory: %" PetscInt_FMT " labels (expected %" PetscInt_FMT ")", nglobal, nexpected);
  for (PetscInt k = first; k < last; k++) {
    PetscInt want;
    PetscCall(LabelTableFind(expected, labels[k - first], length[k - first], &want));
    ok = ok && global[k - first] == want;
  }
  TestCheck(c, ok, "directory: every entry got the one-rank numbering");
  if (rank == 0) {
    PetscInt n;
    PetscCall(LabelTableGetSize(gathered, &n));
    ok = n == nexpected;
    for (PetscInt k = 0; k < n && ok; k++) {
      const char *a, *b;
      PetscCall(LabelTableGetLabel(gathered, k, &a));
      PetscCall(LabelTableGetLabel(expected, k, &b));
      ok = !strcmp(a, b);
    }
    for (PetscInt k = 0; k < n && ok; k++) { /* the gathered table finds its labels */
      const char *a;
      PetscInt    found;
      PetscCall(LabelTableGetLabel(expected, k, &a));
      PetscCall(LabelTableFind(gathered, a, strlen(a), &found));
      ok = found == k;
    }
    TestCheck(c, ok, "directory: rank 0 gets the labels in index order, a table that finds them");
  } else
    TestCheck(c, !gathered, "directory: only rank 0 gathers");
  /* renumbered: every fifth label dropped, the rest in reverse order */
  PetscCall(PetscMalloc1(nexpected, &new_of));
  for (PetscInt i = 0; i < nexpected; i++) nkept += i % 5 != 0;
  for (PetscInt i = 0, next = nkept - 1; i < nexpected; i++) new_of[i] = i % 5 ? next-- : -1;
  PetscCall(LabelDirectoryRenumber(dir, nexpected, new_of));
  PetscCall(LabelDirectoryGetSize(dir, &nglobal));
  TestCheck(c, nglobal == nkept, "directory: %" PetscInt_FMT " labels kept of %" PetscInt_FMT, nglobal, nkept);
  ok = PETSC_TRUE;
  for (PetscInt i = 0; i < nexpected; i++) {
    const char *l;
    size_t      n;
    PetscInt    found;
    PetscCall(LabelTableGetLabel(expected, i, &l));
    n = strlen(l);
    if (LabelHash(l, n) % (uint64_t)size != (uint64_t)rank) continue;
    PetscCall(LabelDirectoryFindOwned(dir, 1, &l, &n, &found));
    ok = ok && found == new_of[i];
  }
  {
    const char *missing = "no-such-label";
    size_t      n       = strlen(missing);
    PetscInt    found   = 0;
    if (LabelHash(missing, n) % (uint64_t)size == (uint64_t)rank) PetscCall(LabelDirectoryFindOwned(dir, 1, &missing, &n, &found));
    ok = ok && (found == -1 || LabelHash(missing, n) % (uint64_t)size != (uint64_t)rank);
  }
  TestCheck(c, ok, "directory: the owners find the new indices (-1 dropped or absent)");
  {
    /* the data's numbering: the preset labels are the kept ones (in the directory) and three added on rank 0
       only; the numbering with the directory equals the one with rank 0's table alone */
    LabelTable  preset = NULL, local, added[2] = {NULL, NULL};
    PetscInt    npreset = nkept + 3, nlocal, *number[2], n[2];
    PetscInt64 *first_line;
    if (rank == 0) {
      PetscCall(LabelTableCreate(&preset));
      for (PetscInt j = 0; j < nkept; j++)
        for (PetscInt i = 0; i < nexpected; i++)
          if (new_of[i] == j) {
            const char *l;
            PetscCall(LabelTableGetLabel(expected, i, &l));
            PetscCall(LabelTableInsert(preset, l, strlen(l), NULL, NULL));
            break;
          }
      PetscCall(LabelTableInsert(preset, "founder1", 8, NULL, NULL));
      PetscCall(LabelTableInsert(preset, "cow0", 4, NULL, NULL)); /* dropped from the directory (index 0 % 5), preset again */
      PetscCall(LabelTableInsert(preset, "founder2", 8, NULL, NULL));
      PetscCall(LabelTableGetSize(preset, &npreset));
    }
    PetscCall(LabelTableCreate(&local));
    PetscCall(PetscMalloc1(nentries, &first_line));
    for (PetscInt k = first; k < last; k++) {
      PetscInt  index;
      PetscBool inserted;
      Entry(k + 1, label, sizeof(label)); /* another file: the same kind of labels, shifted, and new ones */
      if (k % 7 == 0) snprintf(label, sizeof(label), "new%" PetscInt_FMT, k % 50);
      if (k % 11 == 0) snprintf(label, sizeof(label), "founder%" PetscInt_FMT, 1 + k % 2);
      PetscCall(LabelTableInsert(local, label, strlen(label), &index, &inserted));
      if (inserted) first_line[index] = k + 2;
    }
    PetscCall(LabelTableGetSize(local, &nlocal));
    PetscCall(PetscMalloc2(nlocal + 1, &number[0], nlocal + 1, &number[1]));
    PetscCall(LabelsNumber(PETSC_COMM_WORLD, local, first_line, preset, NULL, number[0], &n[0], rank == 0 ? &added[0] : NULL));
    PetscCall(LabelsNumber(PETSC_COMM_WORLD, local, first_line, preset, dir, number[1], &n[1], rank == 0 ? &added[1] : NULL));
    ok = n[0] == n[1] && n[0] > npreset - 3;
    for (PetscInt k = 0; k < nlocal; k++) ok = ok && number[0][k] == number[1][k];
    if (rank == 0) {
      PetscInt a[2];
      PetscCall(LabelTableGetSize(added[0], &a[0]));
      PetscCall(LabelTableGetSize(added[1], &a[1]));
      ok = ok && a[0] == a[1] && a[0] > 0;
    }
    TestCheck(c, ok, "directory: the data numbered with it as with rank 0's table (%" PetscInt_FMT " labels)", n[1]);
    PetscCall(PetscFree2(number[0], number[1]));
    PetscCall(PetscFree(first_line));
    PetscCall(LabelTableDestroy(&local));
    PetscCall(LabelTableDestroy(&preset));
    PetscCall(LabelTableDestroy(&added[0]));
    PetscCall(LabelTableDestroy(&added[1]));
  }
  PetscCall(PetscFree(new_of));
  PetscCall(EntryFileDestroy(&f));
  PetscCall(LabelTableDestroy(&gathered));
  PetscCall(LabelDirectoryDestroy(&dir));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The directory's labels asked for by index (rank 0), added to, their hashes gathered on rank 0, and handed
   to the ranks that own ranges of indices: each against the one-rank table of the same file. */
static PetscErrorCode TestDirectoryQueries(TestCounter *c)
{
  PetscMPIInt    rank, size;
  PetscInt       nglobal, nexpected, ntotal, *ranges;
  LabelTable     expected, local = NULL;
  LabelDirectory dir;
  EntryFile      f;
  PetscBool      ok = PETSC_TRUE;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(EntryFileCreate(4000, &f));
  expected  = f.expected;
  nexpected = f.nexpected;
  PetscCall(LabelDirectoryCreateInOrder(PETSC_COMM_WORLD, f.last - f.first, f.labels, f.length, f.global, &dir, &nglobal, NULL));
  {
    PetscInt ask[5] = {5, 0, nexpected - 1, 5, nexpected + 10}; /* one twice, one absent */
    char   **got    = NULL;
    PetscCall(LabelDirectoryGetLabels(dir, rank == 0 ? 5 : 0, ask, &got));
    if (rank == 0) {
      for (int k = 0; k < 4; k++) {
        const char *want;
        PetscCall(LabelTableGetLabel(expected, ask[k], &want));
        ok = ok && got[k] && !strcmp(got[k], want);
      }
      ok = ok && !got[4];
      for (int k = 0; k < 5; k++) PetscCall(PetscFree(got[k]));
      PetscCall(PetscFree(got));
    }
    TestCheck(c, ok, "directory: rank 0 gets the labels of the indices it asks for (NULL for an absent one)");
  }
  { /* ten founders from rank 0 */
    const char *extra[10];
    char        names[10][16];
    PetscInt    index[10];
    for (int k = 0; k < 10; k++) {
      snprintf(names[k], sizeof(names[k]), "extra%d", k);
      extra[k] = names[k];
      index[k] = nexpected + k;
      if (rank == 0) PetscCall(LabelTableInsert(expected, names[k], strlen(names[k]), NULL, NULL));
    }
    PetscCall(LabelDirectoryAdd(dir, rank == 0 ? 10 : 0, extra, index));
    PetscCall(LabelDirectoryGetSize(dir, &ntotal));
    TestCheck(c, ntotal == nexpected + 10, "directory: %" PetscInt_FMT " labels after ten added (expected %" PetscInt_FMT ")", ntotal, nexpected + 10);
    if (rank) /* the other ranks' copy of the table gets them too */
      for (int k = 0; k < 10; k++) PetscCall(LabelTableInsert(expected, names[k], strlen(names[k]), NULL, NULL));
  }
  {
    uint64_t *hash = NULL;
    if (rank == 0) PetscCall(PetscMalloc1(ntotal, &hash));
    PetscCall(LabelDirectoryGatherHashes(dir, ntotal, hash));
    ok = PETSC_TRUE;
    for (PetscInt i = 0; rank == 0 && i < ntotal; i++) {
      uint64_t h;
      PetscCall(LabelTableGetHash(expected, i, &h));
      ok = ok && h == hash[i];
    }
    PetscCall(PetscFree(hash));
    TestCheck(c, ok, "directory: rank 0 gets the hash of every index");
  }
  { /* uneven ranges: rank r gets a share proportional to r + 1 */
    PetscInt weight = size * (size + 1) / 2, n;
    PetscCall(PetscMalloc1(size + 1, &ranges));
    ranges[0] = 0;
    for (PetscMPIInt r = 0, acc = 0; r < size; r++) {
      acc += r + 1;
      ranges[r + 1] = ntotal * acc / weight;
    }
    PetscCall(LabelDirectoryScatter(dir, ranges, &local));
    PetscCall(LabelTableGetSize(local, &n));
    ok = n == ranges[rank + 1] - ranges[rank];
    for (PetscInt i = 0; i < n && ok; i++) {
      const char *a, *b;
      PetscCall(LabelTableGetLabel(local, i, &a));
      PetscCall(LabelTableGetLabel(expected, ranges[rank] + i, &b));
      ok = !strcmp(a, b);
    }
    TestCheck(c, ok, "directory: each rank gets the labels of its range of indices, in order");
    PetscCall(PetscFree(ranges));
  }
  PetscCall(LabelTableDestroy(&local));
  PetscCall(EntryFileDestroy(&f));
  PetscCall(LabelDirectoryDestroy(&dir));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A table made from a pool: with hashes it finds its labels; without, a list by index whose look-ups fail. */
static PetscErrorCode TestPool(TestCounter *c)
{
  const char *words[] = {"H10", "cow", "", "H9"};
  size_t      bytes   = 0;
  char       *pool[2];
  uint64_t   *hash;
  LabelTable  t[2];
  PetscInt    index;
  PetscBool   ok = PETSC_TRUE;

  PetscFunctionBeginUser;
  for (int k = 0; k < 4; k++) bytes += strlen(words[k]) + 1;
  PetscCall(PetscMalloc1(bytes, &pool[0]));
  PetscCall(PetscMalloc1(bytes, &pool[1]));
  PetscCall(PetscMalloc1(4, &hash));
  for (int k = 0, at = 0; k < 4; k++) {
    memcpy(pool[0] + at, words[k], strlen(words[k]) + 1);
    memcpy(pool[1] + at, words[k], strlen(words[k]) + 1);
    hash[k] = LabelHash(words[k], strlen(words[k]));
    at += (int)strlen(words[k]) + 1;
  }
  PetscCall(LabelTableCreateFromPool(4, pool[0], bytes, hash, &t[0]));
  PetscCall(LabelTableCreateFromPool(4, pool[1], bytes, NULL, &t[1]));
  for (int k = 0; k < 4; k++) {
    const char *a, *b;
    PetscCall(LabelTableGetLabel(t[0], k, &a));
    PetscCall(LabelTableGetLabel(t[1], k, &b));
    PetscCall(LabelTableFind(t[0], words[k], strlen(words[k]), &index));
    ok = ok && !strcmp(a, words[k]) && !strcmp(b, words[k]) && index == k;
  }
  PetscCall(LabelTableInsert(t[0], "new", 3, &index, NULL));
  TestCheck(c, ok && index == 4, "a table from a pool finds its labels and takes new ones");
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  {
    PetscErrorCode e1 = LabelTableFind(t[1], "cow", 3, &index), e2 = LabelTableInsert(t[1], "new", 3, &index, NULL), e3;
    PetscCall(LabelTableDropIndex(t[0]));
    e3 = LabelTableFind(t[0], "cow", 3, &index);
    PetscCall(PetscPopErrorHandler());
    TestCheck(c, e1 != PETSC_SUCCESS && e2 != PETSC_SUCCESS && e3 != PETSC_SUCCESS, "a list (no hashes, or its index dropped) refuses look-ups and insertions");
  }
  {
    const char *l;
    PetscCall(LabelTableGetLabel(t[0], 4, &l));
    TestCheck(c, !strcmp(l, "new"), "a list still gives its labels by index");
  }
  PetscCall(LabelTableDestroy(&t[0]));
  PetscCall(LabelTableDestroy(&t[1]));
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
  PetscCall(TestDirectory(&c));
  PetscCall(TestDirectoryQueries(&c));
  PetscCall(TestPool(&c));
  code = TestFinish(PETSC_COMM_WORLD, &c, "test_labels");
  PetscCall(PetscFinalize());
  return code;
}
