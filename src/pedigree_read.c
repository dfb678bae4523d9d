/* Reading the pedigree file: either rank 0 alone, or every rank its byte range with the IDs numbered by
   their owner ranks (-pedigree_read). Either way rank 0 ends with the file's lines by raw ID (RawPedigree),
   which pedigree.c checks and orders. */
#include "pedigreeimpl.h"
#include <henderson/reader.h>
#include <henderson/error.h>
#include <henderson/log.h>
#include <sys/stat.h>
#include <string.h>

/* Room for CAPACITY lines. */
static PetscErrorCode RawReserve(RawPedigree *raw, PetscInt capacity)
{
  PetscInt   *animal, *sire, *dam;
  PetscInt64 *lines;

  PetscFunctionBeginUser;
  if (capacity <= raw->capacity) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscMalloc4(capacity, &animal, capacity, &sire, capacity, &dam, capacity, &lines));
  if (raw->nlines) {
    PetscCall(PetscArraycpy(animal, raw->animal, raw->nlines));
    PetscCall(PetscArraycpy(sire, raw->sire, raw->nlines));
    PetscCall(PetscArraycpy(dam, raw->dam, raw->nlines));
    PetscCall(PetscArraycpy(lines, raw->line, raw->nlines));
  }
  PetscCall(PetscFree4(raw->animal, raw->sire, raw->dam, raw->line));
  raw->animal   = animal;
  raw->sire     = sire;
  raw->dam      = dam;
  raw->line     = lines;
  raw->capacity = capacity;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* FIELD becomes the next entry, number *CODE. */
static PetscErrorCode RawAddEntry(RawPedigree *raw, const char field[], PetscInt *code)
{
  size_t n = strlen(field);

  PetscFunctionBeginUser;
  if (raw->used + n + 1 > raw->text_capacity) {
    raw->text_capacity = PetscMax(2 * raw->text_capacity, raw->used + n + 4096);
    PetscCall(PetscRealloc(raw->text_capacity, &raw->text));
  }
  if (raw->nentries == raw->entries_capacity) {
    raw->entries_capacity = PetscMax(2 * raw->entries_capacity, 3072);
    PetscCall(PetscRealloc((size_t)raw->entries_capacity * sizeof(size_t), &raw->at));
  }
  memcpy(raw->text + raw->used, field, n + 1);
  raw->at[raw->nentries] = raw->used;
  raw->used += n + 1;
  *code = raw->nentries++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Parent column FIELD: -1 unknown, -2-g group g, else the next entry. */
static PetscErrorCode RawParent(RawPedigree *raw, LabelTable groups, const char field[], PetscInt *code)
{
  PetscFunctionBeginUser;
  *code = -1;
  if (HendersonIsMissing(field, PETSC_TRUE)) PetscFunctionReturn(PETSC_SUCCESS);
  if (groups) {
    PetscInt g;
    PetscCall(LabelTableFind(groups, field, strlen(field), &g));
    if (g >= 0) {
      *code = -2 - g;
      PetscFunctionReturn(PETSC_SUCCESS);
    }
  }
  PetscCall(RawAddEntry(raw, field, code));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Sizes the arrays once, from this rank's count of lines and its first line, instead of doubling them. */
static PetscErrorCode RawSize(Reader reader, char *const fields[], RawPedigree *raw)
{
  PetscInt64 first, nlines;
  size_t     text = strlen(fields[0]) + strlen(fields[1]) + strlen(fields[2]) + 3;

  PetscFunctionBeginUser;
  PetscCall(ReaderGetRange(reader, &first, &nlines));
  nlines = PetscMin(nlines, (PetscInt64)PETSC_MAX_INT / 4) + 1;
  PetscCall(RawReserve(raw, (PetscInt)nlines));
  raw->text_capacity = (size_t)nlines * text + 4096;
  PetscCall(PetscRealloc(raw->text_capacity, &raw->text));
  raw->entries_capacity = 3 * (PetscInt)nlines;
  PetscCall(PetscRealloc((size_t)raw->entries_capacity * sizeof(size_t), &raw->at));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The next line of READER (*DONE at the end), with at least three fields. */
static PetscErrorCode RawNextLine(const char path[], Reader reader, char *const **fields, PetscInt64 *line, PetscBool *done)
{
  PetscInt nfields;

  PetscFunctionBeginUser;
  PetscCall(ReaderNextLine(reader, done));
  if (*done) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ReaderGetFields(reader, &nfields, fields));
  PetscCall(ReaderGetLine(reader, line));
  PetscCheck(nfields >= 3, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "%s:%" PetscInt64_FMT ": a pedigree line needs animal, sire and dam (found %" PetscInt_FMT " field%s)", path, *line, nfields,
             nfields == 1 ? "" : "s");
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Room for one more line in RAW, *K its index; its animal checked (not an unknown code, not a group). */
static PetscErrorCode RawNewLine(const char path[], LabelTable groups, RawPedigree *raw, char *const fields[], PetscInt64 line, PetscInt *k)
{
  PetscFunctionBeginUser;
  if (raw->nlines == raw->capacity) PetscCall(RawReserve(raw, PetscMax(1024, 2 * raw->capacity)));
  *k = raw->nlines++;
  if (!(raw->nlines & 0xFFFF) && HendersonProgressDue()) HendersonProgressPrintf("reading %s: %.1f million lines", path, (double)raw->nlines / 1e6);
  PetscCheck(!HendersonIsMissing(fields[0], PETSC_TRUE), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "%s:%" PetscInt64_FMT ": the animal ID '%s' is an unknown-parent code (0, NA or .)", path, line, fields[0]);
  if (groups) {
    PetscInt g;
    PetscCall(LabelTableFind(groups, fields[0], strlen(fields[0]), &g));
    PetscCheck(g < 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": '%s' is an unknown-parent group; it cannot be listed as an animal", path,
               line, fields[0]);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The header line's words, joined by spaces, into HEADER_TEXT. */
static PetscErrorCode RawHeaderText(Reader reader, char header_text[], size_t size)
{
  PetscInt           ncolumns;
  const char *const *names;

  PetscFunctionBeginUser;
  PetscCall(ReaderGetHeader(reader, &ncolumns, &names));
  header_text[0] = 0;
  for (PetscInt c = 0; c < ncolumns; c++) {
    if (c) PetscCall(HendersonStrlcat(header_text, " ", size));
    PetscCall(HendersonStrlcat(header_text, names[c], size));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RawReadLines(const char path[], LabelTable groups, Reader reader, RawPedigree *raw)
{
  PetscBool done;

  PetscFunctionBeginUser;
  for (PetscBool sized = PETSC_FALSE;;) {
    char *const *fields;
    PetscInt     k;
    PetscInt64   line;

    PetscCall(RawNextLine(path, reader, &fields, &line, &done));
    if (done) break;
    if (!sized) PetscCall(RawSize(reader, fields, raw));
    sized = PETSC_TRUE;
    PetscCall(RawNewLine(path, groups, raw, fields, line, &k));
    PetscCall(RawAddEntry(raw, fields[0], &raw->animal[k]));
    PetscCall(RawParent(raw, groups, fields[1], &raw->sire[k]));
    PetscCall(RawParent(raw, groups, fields[2], &raw->dam[k]));
    raw->line[k] = line;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective: this rank's byte range of the file. */
static PetscErrorCode RawRead(MPI_Comm comm, const char path[], LabelTable groups, PetscBool header, RawPedigree *raw, char header_text[], size_t size)
{
  Reader         reader;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(ReaderOpen(comm, path, header, &reader));
  if (header) PetscCall(RawHeaderText(reader, header_text, size)); /* the model file says there is one: the first line, whatever it holds */
  ierr = RawReadLines(path, groups, reader, raw);
  PetscCall(ReaderClose(&reader)); /* the file is closed whatever happened */
  PetscCall(ierr);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. The labels numbered over all ranks in order of appearance by their owners (the directory), and
   this rank's lines given raw IDs; rank 0 gets the labels by raw ID (IDS); the entries' text is freed. */
static PetscErrorCode RawNumber(MPI_Comm comm, RawPedigree *raw, LabelDirectory *dir, PetscInt *nraw, LabelTable *ids)
{
  const char **label;
  PetscInt    *global;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(raw->nentries + 1, &label, raw->nentries + 1, &global));
  for (PetscInt k = 0; k < raw->nentries; k++) label[k] = raw->text + raw->at[k];
  PetscCall(PetscFree(raw->at)); /* the pointers replace the offsets, and no lengths: 230 MiB a rank less at 10^7 on 2 ranks */
  PetscCall(LabelDirectoryCreateInOrder(comm, raw->nentries, label, NULL, global, dir, nraw, ids));
  for (PetscInt k = 0; k < raw->nlines; k++) {
    raw->animal[k] = global[raw->animal[k]];
    if (raw->sire[k] >= 0) raw->sire[k] = global[raw->sire[k]];
    if (raw->dam[k] >= 0) raw->dam[k] = global[raw->dam[k]];
  }
  PetscCall(PetscFree2(label, global));
  PetscCall(PetscFree(raw->text));
  raw->nentries = raw->entries_capacity = 0;
  raw->used = raw->text_capacity = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. Rank 0 gets every rank's lines, in file order, into ALL. */
static PetscErrorCode RawGather(MPI_Comm comm, RawPedigree *raw, RawPedigree *all)
{
  PetscMPIInt rank, size, mine = (PetscMPIInt)raw->nlines, *n = NULL, *at = NULL;
  PetscInt64  total = raw->nlines;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPIU_INT64, MPI_SUM, comm));
  PetscCheck(total < PETSC_MPI_INT_MAX, comm, PETSC_ERR_SUP, "%" PetscInt64_FMT " pedigree lines: rank 0 gathers them with MPI int counts (at most %d)", total,
             PETSC_MPI_INT_MAX);
  if (rank == 0) {
    PetscCall(PetscMalloc2(size, &n, size, &at));
    PetscCall(RawReserve(all, (PetscInt)total + 1));
    all->nlines = (PetscInt)total;
  }
  PetscCallMPI(MPI_Gather(&mine, 1, MPI_INT, n, 1, MPI_INT, 0, comm));
  if (rank == 0)
    for (PetscMPIInt r = 0; r < size; r++) at[r] = r ? at[r - 1] + n[r - 1] : 0;
  PetscCallMPI(MPI_Gatherv(raw->animal, mine, MPIU_INT, all->animal, n, at, MPIU_INT, 0, comm));
  PetscCallMPI(MPI_Gatherv(raw->sire, mine, MPIU_INT, all->sire, n, at, MPIU_INT, 0, comm));
  PetscCallMPI(MPI_Gatherv(raw->dam, mine, MPIU_INT, all->dam, n, at, MPIU_INT, 0, comm));
  PetscCallMPI(MPI_Gatherv(raw->line, mine, MPIU_INT64, all->line, n, at, MPIU_INT64, 0, comm));
  PetscCall(PetscFree2(n, at));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeRawDestroy(RawPedigree *raw)
{
  PetscFunctionBeginUser;
  PetscCall(LabelTableDestroy(&raw->ids));
  PetscCall(PetscFree4(raw->animal, raw->sire, raw->dam, raw->line));
  PetscCall(PetscFree(raw->text));
  PetscCall(PetscFree(raw->at));
  PetscCall(PetscFree(raw->final_of));
  for (PetscInt k = 0; k < raw->nnamed; k++) PetscCall(PetscFree(raw->named[k]));
  raw->nnamed = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- rank 0 alone ---- */

/* Lines are read in batches, and a batch's IDs looked up together (LabelTableInsertMany(), whose cache
   misses overlap): the labels are copied out of the reader's line into TEXT; a column of the batch's
   line i waits for label WAIT[3 i + c] (-1: it is unknown or a group, and RAW has it already). */
#define PEDIGREE_BATCH 512

typedef struct {
  char       *text;
  size_t      used, capacity;
  size_t      at[3 * PEDIGREE_BATCH], length[3 * PEDIGREE_BATCH];
  const char *label[3 * PEDIGREE_BATCH];
  PetscInt    found[3 * PEDIGREE_BATCH], wait[3 * PEDIGREE_BATCH];
  PetscInt    nlabels, first; /* labels waiting; the batch's first line in RAW */
} RootBatch;

/* Column C of line K waits for FIELD. */
static PetscErrorCode RootBatchAdd(RootBatch *b, PetscInt k, int c, const char field[])
{
  size_t n = strlen(field);

  PetscFunctionBeginUser;
  if (b->used + n + 1 > b->capacity) {
    b->capacity = PetscMax(2 * b->capacity, b->used + n + 4096);
    PetscCall(PetscRealloc(b->capacity, &b->text));
  }
  memcpy(b->text + b->used, field, n + 1);
  b->at[b->nlabels]     = b->used;
  b->length[b->nlabels] = n;
  b->used += n + 1;
  b->wait[3 * (k - b->first) + c] = b->nlabels++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Parent column C of line K: -1 unknown, -2-g group g, else waiting for its raw ID. */
static PetscErrorCode RootBatchParent(RootBatch *b, LabelTable groups, PetscInt k, int c, const char field[], PetscInt *code)
{
  PetscFunctionBeginUser;
  *code                           = -1;
  b->wait[3 * (k - b->first) + c] = -1;
  if (HendersonIsMissing(field, PETSC_TRUE)) PetscFunctionReturn(PETSC_SUCCESS);
  if (groups) {
    PetscInt g;
    PetscCall(LabelTableFind(groups, field, strlen(field), &g));
    if (g >= 0) {
      *code = -2 - g;
      PetscFunctionReturn(PETSC_SUCCESS);
    }
  }
  PetscCall(RootBatchAdd(b, k, c, field));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The batch's labels looked up (raw IDs in order of appearance, as one by one), and its lines completed. */
static PetscErrorCode RootBatchFlush(RootBatch *b, RawPedigree *raw)
{
  PetscFunctionBeginUser;
  for (PetscInt k = 0; k < b->nlabels; k++) b->label[k] = b->text + b->at[k];
  PetscCall(LabelTableInsertMany(raw->ids, b->nlabels, b->label, b->length, b->found));
  for (PetscInt k = b->first; k < raw->nlines; k++) {
    const PetscInt *wait = b->wait + 3 * (k - b->first);
    raw->animal[k]       = b->found[wait[0]];
    if (wait[1] >= 0) raw->sire[k] = b->found[wait[1]];
    if (wait[2] >= 0) raw->dam[k] = b->found[wait[2]];
  }
  b->nlabels = 0;
  b->used    = 0;
  b->first   = raw->nlines;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Sizes the tables once, from the file's size and the first line, instead of doubling them. */
static PetscErrorCode RootSize(const char path[], char *const fields[], RawPedigree *raw)
{
  struct stat st;
  size_t      id = strlen(fields[0]) + 1, text = id + strlen(fields[1]) + strlen(fields[2]) + 3;

  PetscFunctionBeginUser;
  if (!stat(path, &st) && st.st_size > 0) {
    PetscInt64 lines = (PetscInt64)st.st_size / (PetscInt64)text + 1;
    lines            = PetscMin(lines, (PetscInt64)PETSC_MAX_INT / 4);
    PetscCall(LabelTableReserve(raw->ids, (PetscInt)(lines + lines / 8), (size_t)(lines + lines / 8) * id));
    PetscCall(RawReserve(raw, (PetscInt)(lines + lines / 8)));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RootReadLines(const char path[], LabelTable groups, Reader reader, RawPedigree *raw, RootBatch *b)
{
  PetscBool done;

  PetscFunctionBeginUser;
  for (PetscBool sized = PETSC_FALSE;;) {
    char *const *fields;
    PetscInt     k;
    PetscInt64   line;

    PetscCall(RawNextLine(path, reader, &fields, &line, &done));
    if (done) break;
    if (!sized) PetscCall(RootSize(path, fields, raw));
    sized = PETSC_TRUE;
    PetscCall(RawNewLine(path, groups, raw, fields, line, &k));
    PetscCall(RootBatchAdd(b, k, 0, fields[0]));
    PetscCall(RootBatchParent(b, groups, k, 1, fields[1], &raw->sire[k]));
    PetscCall(RootBatchParent(b, groups, k, 2, fields[2], &raw->dam[k]));
    raw->line[k] = line;
    if (raw->nlines - b->first == PEDIGREE_BATCH) PetscCall(RootBatchFlush(b, raw));
  }
  PetscCall(RootBatchFlush(b, raw));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RootRead(const char path[], LabelTable groups, PetscBool header, RawPedigree *raw, char header_text[], size_t size)
{
  Reader         reader;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(LabelTableCreate(&raw->ids));
  PetscCall(ReaderOpen(PETSC_COMM_SELF, path, header, &reader));
  if (header) PetscCall(RawHeaderText(reader, header_text, size)); /* the model file says there is one: the first line, whatever it holds */
  {
    RootBatch *batch;
    PetscCall(PetscNew(&batch));
    ierr = RootReadLines(path, groups, reader, raw, batch);
    PetscCall(PetscFree(batch->text));
    PetscCall(PetscFree(batch));
  }
  PetscCall(ReaderClose(&reader)); /* the file is closed whatever happened */
  PetscCall(ierr);
  PetscCall(LabelTableGetSize(raw->ids, &raw->nids));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeReadRoot(Pedigree p, RawPedigree *raw)
{
  PetscFunctionBeginUser;
  PetscCall(RootRead(p->path, p->group_labels, (PetscBool)(p->header == MODEL_PEDIGREE_HEADER_YES), raw, p->stats.header_text, sizeof(p->stats.header_text)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeReadDistributed(Pedigree p, RawPedigree *raw, PetscInt *nraw)
{
  RawPedigree    local = {0};
  PetscErrorCode ierr;
  double         t[4];

  PetscFunctionBeginUser;
  t[0] = HendersonSeconds();
  ierr = RawRead(p->comm, p->path, p->group_labels, (PetscBool)(p->header == MODEL_PEDIGREE_HEADER_YES), &local, p->stats.header_text,
                 sizeof(p->stats.header_text));
  ierr = HendersonAgree(p->comm, ierr); /* a bad line anywhere stops every rank; the lowest rank's (the first in the file) is reported */
  t[1] = HendersonSeconds();
  /* rank 0 gets every ID only if it needs them later (PedigreeSetRootLabels()) */
  if (!ierr) ierr = RawNumber(p->comm, &local, &p->directory, nraw, p->root_labels ? &raw->ids : NULL);
  raw->nids = *nraw;
  t[2]      = HendersonSeconds();
  if (!ierr) ierr = RawGather(p->comm, &local, raw);
  t[3] = HendersonSeconds();
  PetscCall(PedigreeRawDestroy(&local));
  PetscCall(ierr);
  PetscCall(PetscInfo(NULL, "pedigree %s read by %d ranks: parsed %.3f s, numbered %.3f s, lines gathered on rank 0 %.3f s\n", p->path, p->size, t[1] - t[0],
                      t[2] - t[1], t[3] - t[2]));
  PetscFunctionReturn(PETSC_SUCCESS);
}
