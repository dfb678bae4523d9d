/* Reader: every rank reads the lines that start in its byte range, with the right line numbers.
   Files with a byte order mark, CRLF, comments, blank lines, quotes, commas, empty fields, no final
   newline, more ranks than lines, and only a header; the lines read by all ranks, in rank order,
   must be exactly the lines of the file. */
#include "testing.h"
#include <string.h>

static char work_dir[HENDERSON_MAX_PATH] = ".";

/* All ranks' "line:field|field|..." records, concatenated in rank order on rank 0. */
static PetscErrorCode ReadAll(const char path[], PetscBool header, char **all, char *header_text, size_t header_size)
{
  Reader      reader;
  PetscBool   done;
  char       *mine = NULL;
  size_t      used = 0, capacity = 0;
  PetscMPIInt rank, size, n, *counts = NULL, *displs = NULL;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(ReaderOpen(PETSC_COMM_WORLD, path, header, &reader));
  if (header_text) {
    PetscInt           ncolumns;
    const char *const *names;
    PetscCall(ReaderGetHeader(reader, &ncolumns, &names));
    header_text[0] = 0;
    for (PetscInt k = 0; k < ncolumns; k++) {
      PetscCall(HendersonStrlcat(header_text, names[k], header_size));
      PetscCall(HendersonStrlcat(header_text, "|", header_size));
    }
  }
  for (;;) {
    char *const *fields;
    PetscInt     nfields;
    PetscInt64   line;
    char         record[4096];
    size_t       len;

    PetscCall(ReaderNextLine(reader, &done));
    if (done) break;
    PetscCall(ReaderGetFields(reader, &nfields, &fields));
    PetscCall(ReaderGetLine(reader, &line));
    snprintf(record, sizeof(record), "%" PetscInt64_FMT ":", line);
    for (PetscInt k = 0; k < nfields; k++) {
      PetscCall(HendersonStrlcat(record, fields[k], sizeof(record)));
      if (k + 1 < nfields) PetscCall(HendersonStrlcat(record, "|", sizeof(record)));
    }
    PetscCall(HendersonStrlcat(record, "\n", sizeof(record)));
    len = strlen(record);
    if (used + len + 1 > capacity) {
      capacity = 2 * (used + len + 1);
      PetscCall(PetscRealloc(capacity, &mine));
    }
    memcpy(mine + used, record, len + 1);
    used += len;
  }
  PetscCall(ReaderClose(&reader));
  n = (PetscMPIInt)used;
  if (rank == 0) PetscCall(PetscMalloc2(size, &counts, size, &displs));
  PetscCallMPI(MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, PETSC_COMM_WORLD));
  *all = NULL;
  if (rank == 0) {
    PetscInt total = 0;
    for (PetscMPIInt r = 0; r < size; r++) {
      displs[r] = (PetscMPIInt)total;
      total += counts[r];
    }
    PetscCall(PetscCalloc1(total + 1, all));
  }
  PetscCallMPI(MPI_Gatherv(mine ? mine : "", n, MPI_CHAR, rank == 0 ? *all : NULL, counts, displs, MPI_CHAR, 0, PETSC_COMM_WORLD));
  if (rank == 0) PetscCall(PetscFree2(counts, displs));
  PetscCall(PetscFree(mine));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteFile(const char path[], const char *content, size_t length)
{
  PetscMPIInt rank;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0) {
    FILE *fp = fopen(path, "wb");
    PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
    fwrite(content, 1, length, fp);
    fclose(fp);
  }
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Compare(TestCounter *c, const char name[], const char *got, const char *want)
{
  PetscMPIInt rank;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0 && !TestCheck(c, !strcmp(got, want), "%s: lines read as in the file", name)) printf("got:\n%s\nwant:\n%s\n", got, want);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TestTricky(TestCounter *c)
{
  static const char content[] = "\xEF\xBB\xBFid,sex , weight\r\n"
                                "1,M,1.5\r\n"
                                "\r\n"
                                "# a comment, with commas\n"
                                "  2  F   2.5  \n"
                                "\"3 x\",\"M\",NA\n"
                                "4,,7\n"
                                "   # indented comment\n"
                                "5\tM\t8";
  const char       *want      = "2:1|M|1.5\n5:2|F|2.5\n6:3 x|M|NA\n7:4||7\n9:5|M|8\n";
  char              path[HENDERSON_MAX_PATH + 32], header[256], *got;

  PetscFunctionBeginUser;
  snprintf(path, sizeof(path), "%s/tricky.txt", work_dir);
  PetscCall(WriteFile(path, content, sizeof(content) - 1));
  PetscCall(ReadAll(path, PETSC_TRUE, &got, header, sizeof(header)));
  TestCheck(c, !strcmp(header, "id|sex|weight|"), "header without BOM, blanks and CR: '%s'", header);
  PetscCall(Compare(c, "tricky", got, want));
  PetscCall(PetscFree(got));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Many lines, so that every rank has a share; comments and blank lines in between. */
static PetscErrorCode TestMany(TestCounter *c)
{
  char   path[HENDERSON_MAX_PATH + 32], *content, *want, *got;
  size_t used = 0, wused = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(200000, &content, 200000, &want));
  used += (size_t)sprintf(content + used, "a b\n");
  want[0] = 0;
  for (int line = 2; line <= 2001; line++) {
    if (line % 17 == 0)
      used += (size_t)sprintf(content + used, "\n");
    else if (line % 10 == 0)
      used += (size_t)sprintf(content + used, "# %d\n", line);
    else {
      used += (size_t)sprintf(content + used, "k%d %d\n", line, 2 * line);
      wused += (size_t)sprintf(want + wused, "%d:k%d|%d\n", line, line, 2 * line);
    }
  }
  snprintf(path, sizeof(path), "%s/many.txt", work_dir);
  PetscCall(WriteFile(path, content, used));
  PetscCall(ReadAll(path, PETSC_TRUE, &got, NULL, 0));
  PetscCall(Compare(c, "many", got, want));
  PetscCall(PetscFree(got));
  /* the same file without a header: its first line is data */
  PetscCall(ReadAll(path, PETSC_FALSE, &got, NULL, 0));
  {
    char *with_first;
    PetscCall(PetscMalloc1(wused + 64, &with_first));
    sprintf(with_first, "1:a|b\n%s", want);
    PetscCall(Compare(c, "many without header", got, with_first));
    PetscCall(PetscFree(with_first));
  }
  PetscCall(PetscFree(got));
  PetscCall(PetscFree2(content, want));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TestSmall(TestCounter *c)
{
  char path[HENDERSON_MAX_PATH + 32], *got;

  PetscFunctionBeginUser;
  snprintf(path, sizeof(path), "%s/one.txt", work_dir);
  PetscCall(WriteFile(path, "x y\n1 2\n", 8));
  PetscCall(ReadAll(path, PETSC_TRUE, &got, NULL, 0));
  PetscCall(Compare(c, "one line, more ranks than lines", got, "2:1|2\n"));
  PetscCall(PetscFree(got));
  snprintf(path, sizeof(path), "%s/header_only.txt", work_dir);
  PetscCall(WriteFile(path, "x y", 3));
  PetscCall(ReadAll(path, PETSC_TRUE, &got, NULL, 0));
  PetscCall(Compare(c, "only a header", got, ""));
  PetscCall(PetscFree(got));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TestSplit(TestCounter *c)
{
  struct {
    const char *line, *want;
    PetscInt    n;
  } cases[] = {
      {"a, b ,c", "a|b|c", 3}, {"a,,", "a||", 3}, {"   ", "", 0}, {"x", "x", 1}, {"\"a b\" c", "a b|c", 2}, {"a\t\tb", "a|b", 2}, {",a", "|a", 2},
  };

  PetscFunctionBeginUser;
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    char     line[64], *fields[8], joined[128] = "";
    PetscInt n;
    PetscCall(PetscStrncpy(line, cases[k].line, sizeof(line)));
    PetscCall(ReaderSplit(line, 8, fields, &n));
    for (PetscInt f = 0; f < n; f++) {
      PetscCall(HendersonStrlcat(joined, fields[f], sizeof(joined)));
      if (f + 1 < n) PetscCall(HendersonStrlcat(joined, "|", sizeof(joined)));
    }
    TestCheck(c, n == cases[k].n && !strcmp(joined, cases[k].want), "split '%s': %" PetscInt_FMT " fields '%s'", cases[k].line, n, joined);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  TestCounter c = {0, 0};
  int         code;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-work", work_dir, sizeof(work_dir), NULL));
  PetscCall(TestMakeDirectory(PETSC_COMM_WORLD, work_dir));
  PetscCall(TestSplit(&c));
  PetscCall(TestTricky(&c));
  PetscCall(TestMany(&c));
  PetscCall(TestSmall(&c));
  code = TestFinish(PETSC_COMM_WORLD, &c, "test_reader");
  PetscCall(PetscFinalize());
  return code;
}
