#include <henderson/reader.h>
#include <henderson/error.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

struct _p_Reader {
  MPI_Comm   comm;
  char      *path;
  FILE      *fp;
  PetscInt64 begin, end; /* this rank reads the lines that start in [begin, end) */
  PetscInt64 position;   /* byte offset of the next line */
  PetscInt64 first_line; /* number of the first line of the range */
  PetscInt64 nlines;     /* lines that start in the range */
  PetscInt64 line;       /* number of the current line */
  char      *buffer;     /* the current line (getline) */
  size_t     capacity;
  char     **fields;
  PetscInt   nfields, maxfields;
  PetscInt   ncolumns; /* header */
  char     **columns;
  char      *header_text;
};

static inline PetscBool IsBlank(char c)
{
  return c == ' ' || c == '\t' || c == '\r';
}

PetscErrorCode ReaderSplit(char line[], PetscInt maxfields, char *fields[], PetscInt *nfields)
{
  size_t   i = 0;
  PetscInt n = 0;

  PetscFunctionBeginUser;
  while (IsBlank(line[i])) i++;
  if (!line[i]) {
    *nfields = 0;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  for (;;) {
    size_t    start, stop;
    PetscBool more = PETSC_FALSE;

    if (line[i] == '"') {
      start = ++i;
      while (line[i] && line[i] != '"') i++;
      stop = i;
      if (line[i] == '"') i++;
    } else {
      start = i;
      while (line[i] && !IsBlank(line[i]) && line[i] != ',') i++;
      stop = i;
    }
    while (IsBlank(line[i])) i++;
    if (line[i] == ',') {
      i++;
      while (IsBlank(line[i])) i++;
      more = PETSC_TRUE; /* a comma always starts a field, even an empty last one */
    } else if (line[i]) {
      more = PETSC_TRUE;
    }
    line[stop] = 0; /* after the look at line[i]: stop <= i */
    if (n < maxfields) fields[n] = &line[start];
    n++;
    if (!more) break;
  }
  *nfields = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Offset of the first line that starts at or after OFFSET, for lines after DATA_START. */
static PetscErrorCode LineStartAtOrAfter(FILE *fp, const char path[], PetscInt64 offset, PetscInt64 data_start, PetscInt64 size, PetscInt64 *start)
{
  char       block[65536];
  PetscInt64 at;

  PetscFunctionBeginUser;
  if (offset <= data_start) {
    *start = data_start;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (offset >= size) {
    *start = size;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  at = offset - 1; /* a line starts at OFFSET exactly when the byte before it is a newline */
  PetscCheck(!fseeko(fp, (off_t)at, SEEK_SET), PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: cannot seek: %s", path, strerror(errno));
  for (;;) {
    size_t      got = fread(block, 1, sizeof(block), fp);
    const char *nl;

    if (!got) {
      PetscCheck(!ferror(fp), PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: read error", path);
      *start = size;
      break;
    }
    nl = memchr(block, '\n', got);
    if (nl) {
      *start = at + (nl - block) + 1;
      break;
    }
    at += (PetscInt64)got;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Number of lines that start in [begin, end). */
static PetscErrorCode CountLines(FILE *fp, const char path[], PetscInt64 begin, PetscInt64 end, PetscInt64 *nlines)
{
  static char block[1 << 20];
  PetscInt64  at = begin, count = 0;
  char        last = '\n';

  PetscFunctionBeginUser;
  if (end > begin) PetscCheck(!fseeko(fp, (off_t)begin, SEEK_SET), PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: cannot seek: %s", path, strerror(errno));
  while (at < end) {
    size_t      want = (size_t)PetscMin((PetscInt64)sizeof(block), end - at);
    size_t      got  = fread(block, 1, want, fp);
    const char *p = block, *stop = block + got;

    PetscCheck(got == want, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: read error at byte %" PetscInt64_FMT, path, at);
    while ((p = memchr(p, '\n', (size_t)(stop - p)))) {
      count++;
      p++;
    }
    last = block[got - 1];
    at += (PetscInt64)got;
  }
  *nlines = count + (end > begin && last != '\n' ? 1 : 0);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ReaderOpenLocal(Reader r)
{
  PetscFunctionBeginUser;
  PetscCall(HendersonOpenRegular(r->path, "the file", &r->fp));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: size of the file, where the data start, and the header line. */
static PetscErrorCode ReaderScanStart(Reader r, PetscBool header, PetscInt64 *size, PetscInt64 *data_start)
{
  unsigned char bom[3];
  size_t        got;
  PetscInt64    start = 0;

  PetscFunctionBeginUser;
  PetscCheck(!fseeko(r->fp, 0, SEEK_END), PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: cannot seek: %s", r->path, strerror(errno));
  *size = (PetscInt64)ftello(r->fp);
  rewind(r->fp);
  got = fread(bom, 1, 3, r->fp);
  if (got == 3 && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF) start = 3;
  PetscCheck(!fseeko(r->fp, (off_t)start, SEEK_SET), PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: cannot seek", r->path);
  if (header) {
    ssize_t len = getline(&r->buffer, &r->capacity, r->fp);
    size_t  n;

    PetscCheck(len > 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: the file is empty; its first line must be a header naming the columns", r->path);
    start += len;
    n = (size_t)len;
    while (n && (r->buffer[n - 1] == '\n' || r->buffer[n - 1] == '\r')) r->buffer[--n] = 0;
    PetscCheck(r->buffer[0] != '#', PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:1: the first line is a comment; it must be a header naming the columns",
               r->path);
    PetscCall(PetscStrallocpy(r->buffer, &r->header_text));
  }
  *data_start = start;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ReaderSplitHeader(Reader r)
{
  char    *copy;
  PetscInt n;

  PetscFunctionBeginUser;
  PetscCall(PetscStrallocpy(r->header_text, &copy));
  PetscCall(ReaderSplit(copy, 0, NULL, &n));
  PetscCall(PetscFree(copy));
  PetscCall(PetscMalloc1(n + 1, &r->columns));
  PetscCall(ReaderSplit(r->header_text, n, r->columns, &r->ncolumns));
  PetscCheck(r->ncolumns > 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:1: the header line is empty; it must name the columns", r->path);
  for (PetscInt c = 0; c < r->ncolumns; c++) {
    PetscCheck(r->columns[c][0], PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:1: column %" PetscInt_FMT " of the header has no name", r->path, c + 1);
    for (PetscInt d = 0; d < c; d++)
      PetscCheck(strcmp(r->columns[c], r->columns[d]), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:1: column name '%s' appears twice in the header", r->path,
                 r->columns[c]);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. Everything ReaderOpen() does once R exists; an error leaves R to be closed. */
static PetscErrorCode ReaderSetUp(Reader r, PetscBool header)
{
  MPI_Comm       comm = r->comm;
  PetscMPIInt    rank, size;
  PetscInt64     info[3] = {0, 0, 0}; /* file size, data start, header length */
  PetscInt64     nominal_begin, nominal_end, lines_before = 0;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  ierr = ReaderOpenLocal(r);
  if (!ierr && rank == 0) ierr = ReaderScanStart(r, header, &info[0], &info[1]);
  PetscCall(HendersonAgree(comm, ierr));
  if (rank == 0 && header) info[2] = (PetscInt64)strlen(r->header_text);
  PetscCallMPI(MPI_Bcast(info, 3, MPIU_INT64, 0, comm));
  if (header) {
    if (rank) PetscCall(PetscMalloc1(info[2] + 1, &r->header_text));
    PetscCallMPI(MPI_Bcast(r->header_text, (PetscMPIInt)(info[2] + 1), MPI_CHAR, 0, comm));
    ierr = ReaderSplitHeader(r); /* the same text everywhere: fails everywhere or nowhere */
    PetscCall(ierr);
  }

  /* This rank's byte range, moved to line starts, and the number of the first line in it. */
  nominal_begin = info[1] + (info[0] - info[1]) * rank / size;
  nominal_end   = info[1] + (info[0] - info[1]) * (rank + 1) / size;
  ierr          = LineStartAtOrAfter(r->fp, r->path, nominal_begin, info[1], info[0], &r->begin);
  if (!ierr) ierr = LineStartAtOrAfter(r->fp, r->path, nominal_end, info[1], info[0], &r->end);
  if (!ierr) ierr = CountLines(r->fp, r->path, r->begin, r->end, &r->nlines);
  if (!ierr && r->end > r->begin && fseeko(r->fp, (off_t)r->begin, SEEK_SET)) ierr = PETSC_ERR_FILE_READ;
  PetscCall(HendersonAgree(comm, ierr));
  PetscCallMPI(MPI_Exscan(&r->nlines, &lines_before, 1, MPIU_INT64, MPI_SUM, comm));
  if (rank == 0) lines_before = 0;
  r->first_line = (header ? 2 : 1) + lines_before;
  r->line       = r->first_line - 1;
  r->position   = r->begin;
  r->maxfields  = PetscMax(16, r->ncolumns + 1);
  PetscCall(PetscMalloc1(r->maxfields, &r->fields));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ReaderOpen(MPI_Comm comm, const char path[], PetscBool header, Reader *reader)
{
  Reader         r;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  *reader = NULL;
  PetscCall(PetscNew(&r));
  r->comm = comm;
  PetscCall(PetscStrallocpy(path, &r->path));
  ierr = ReaderSetUp(r, header);
  if (ierr) { /* no file left open, nothing left allocated */
    PetscCall(ReaderClose(&r));
    PetscCall(ierr);
  }
  *reader = r;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ReaderGetHeader(Reader reader, PetscInt *ncolumns, const char *const **names)
{
  PetscFunctionBeginUser;
  if (ncolumns) *ncolumns = reader->ncolumns;
  if (names) *names = (const char *const *)reader->columns;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ReaderNextLine(Reader r, PetscBool *done)
{
  PetscFunctionBeginUser;
  *done = PETSC_FALSE;
  for (;;) {
    ssize_t len;
    size_t  n;
    char   *p;

    if (r->position >= r->end) {
      *done = PETSC_TRUE;
      break;
    }
    len = getline(&r->buffer, &r->capacity, r->fp);
    if (len < 0) {
      PetscCheck(!ferror(r->fp), PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s:%" PetscInt64_FMT ": read error", r->path, r->line + 1);
      *done = PETSC_TRUE;
      break;
    }
    r->position += len;
    r->line++;
    n = (size_t)len;
    PetscCheck(strlen(r->buffer) == n, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": the line holds a NUL byte (a binary file?)", r->path,
               r->line);
    while (n && (r->buffer[n - 1] == '\n' || r->buffer[n - 1] == '\r')) r->buffer[--n] = 0;
    for (p = r->buffer; IsBlank(*p); p++) {}
    if (!*p || *p == '#') continue;
    PetscCall(ReaderSplit(r->buffer, r->maxfields, r->fields, &r->nfields));
    break;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ReaderSetMaxFields(Reader r, PetscInt maxfields)
{
  PetscFunctionBeginUser;
  if (maxfields <= r->maxfields) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFree(r->fields));
  PetscCall(PetscMalloc1(maxfields, &r->fields));
  r->maxfields = maxfields;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ReaderGetFields(Reader reader, PetscInt *nfields, char *const **fields)
{
  PetscFunctionBeginUser;
  *nfields = reader->nfields;
  *fields  = reader->fields;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ReaderGetLine(Reader reader, PetscInt64 *line)
{
  PetscFunctionBeginUser;
  *line = reader->line;
  PetscFunctionReturn(PETSC_SUCCESS);
}

const char *ReaderPath(Reader reader)
{
  return reader->path;
}

PetscErrorCode ReaderGetRange(Reader reader, PetscInt64 *first_line, PetscInt64 *nlines)
{
  PetscFunctionBeginUser;
  if (first_line) *first_line = reader->first_line;
  if (nlines) *nlines = reader->nlines;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode ReaderClose(Reader *reader)
{
  Reader r = *reader;

  PetscFunctionBeginUser;
  if (!r) PetscFunctionReturn(PETSC_SUCCESS);
  if (r->fp) fclose(r->fp);
  free(r->buffer); /* from getline() */
  PetscCall(PetscFree(r->fields));
  PetscCall(PetscFree(r->columns));
  PetscCall(PetscFree(r->header_text));
  PetscCall(PetscFree(r->path));
  PetscCall(PetscFree(*reader));
  PetscFunctionReturn(PETSC_SUCCESS);
}
