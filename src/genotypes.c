#include "genotypesimpl.h"
#include <henderson/reader.h>
#include <string.h>

/* The widest blank-separated line split in full: a million SNPs. */
#define GENOTYPES_MAX_FIELDS (1 << 20)

PetscErrorCode GenotypesCreate(MPI_Comm comm, Genotypes *genotypes)
{
  Genotypes g;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&g));
  g->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &g->rank));
  PetscCallMPI(MPI_Comm_size(comm, &g->size));
  g->lo = g->hi = -1;
  PetscCall(LabelTableCreate(&g->ids));
  *genotypes = g;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesDestroy(Genotypes *genotypes)
{
  Genotypes g = *genotypes;

  PetscFunctionBeginUser;
  if (!g) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(LabelTableDestroy(&g->ids));
  PetscCall(LabelTableDestroy(&g->all));
  PetscCall(PetscFree(g->lines));
  PetscCall(PetscFree(g->m));
  PetscCall(PetscFree(g->calls));
  PetscCall(PetscFree(g->p));
  PetscCall(PetscFree(g->animal));
  PetscCall(PetscFree(g->sorted));
  PetscCall(PetscFree(g->D));
  PetscCall(PetscFree(g->gdiag));
  PetscCall(PetscFree(g->ddiag));
  PetscCall(GenotypesDestroyFactored(g));
  PetscCall(PetscFree(g));
  *genotypes = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesSetFromOptions(Genotypes g)
{
  PetscReal gb = g->node_memory / 1e9;

  PetscFunctionBeginUser;
  PetscOptionsBegin(g->comm, NULL, "Genotypes (single step)", NULL);
  PetscCall(
      PetscOptionsReal("-genotypes_node_memory", "GB a node may give the dense route's matrices (default: the node's available memory)", NULL, gb, &gb, NULL));
  PetscOptionsEnd();
  PetscCheck(gb >= 0, g->comm, PETSC_ERR_USER_INPUT, "-genotypes_node_memory %g: the memory cannot be negative", (double)gb);
  g->node_memory = 1e9 * gb;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Room for one more row of NSNP genotypes. */
static PetscErrorCode GrowRows(Genotypes g, PetscInt nsnp, PetscInt *capacity)
{
  PetscFunctionBeginUser;
  if (g->n < *capacity) PetscFunctionReturn(PETSC_SUCCESS);
  *capacity = PetscMax(64, 2 * *capacity);
  PetscCall(PetscRealloc(sizeof(int8_t) * (size_t)*capacity * (size_t)nsnp + 1, &g->m));
  PetscCall(PetscRealloc(sizeof(PetscInt64) * (size_t)*capacity, &g->lines));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A new row for ID from LINE of PATH: an ID twice on this rank is an error naming both lines. */
static PetscErrorCode AddRow(Genotypes g, const char path[], const char id[], PetscInt64 line)
{
  PetscInt  index;
  PetscBool inserted;

  PetscFunctionBeginUser;
  PetscCall(LabelTableInsert(g->ids, id, strlen(id), &index, &inserted));
  PetscCheck(inserted, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "%s:%" PetscInt64_FMT ": the genotypes of animal %s are given twice (first at line %" PetscInt64_FMT ")", path, line, id, g->lines[index]);
  g->lines[g->n] = line;
  g->n++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One call: 0, 1, 2 copies; 5 or 9 missing. */
static PetscErrorCode ParseCall(const char path[], PetscInt64 line, PetscInt snp, char c, int8_t *call)
{
  PetscFunctionBeginUser;
  if (c >= '0' && c <= '2')
    *call = (int8_t)(c - '0');
  else if (c == '5' || c == '9')
    *call = GENOTYPE_MISSING;
  else
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": SNP %" PetscInt_FMT ": '%c' is not a genotype (0, 1, 2; 5 or 9 for a missing call)",
            path, line, snp + 1, c);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* This rank's lines of a text file: ID, then one string of digits or one digit a field. *NSNP is set by
   the first line here (-1 before) and checked on every other. */
static PetscErrorCode ReadTextLocal(Genotypes g, Reader rd, PetscInt *nsnp, PetscInt64 *first_line)
{
  const char *path     = ReaderPath(rd);
  PetscInt    capacity = 0;
  PetscBool   done;

  PetscFunctionBeginUser;
  for (;;) {
    PetscInt     nf, count;
    char *const *f;
    PetscInt64   line;
    int8_t      *row;
    PetscCall(ReaderNextLine(rd, &done));
    if (done) break;
    PetscCall(ReaderGetFields(rd, &nf, &f));
    PetscCall(ReaderGetLine(rd, &line));
    PetscCheck(nf >= 2, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": an ID and its genotypes expected", path, line);
    PetscCheck(nf <= GENOTYPES_MAX_FIELDS, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s:%" PetscInt64_FMT ": more than %d fields; write the genotypes as one string", path, line, GENOTYPES_MAX_FIELDS);
    count = nf == 2 ? (PetscInt)strlen(f[1]) : nf - 1;
    if (*nsnp < 0) {
      *nsnp       = count;
      *first_line = line;
    }
    PetscCheck(count == *nsnp, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s:%" PetscInt64_FMT ": %" PetscInt_FMT " genotypes, but line %" PetscInt64_FMT " has %" PetscInt_FMT, path, line, count, *first_line, *nsnp);
    PetscCall(GrowRows(g, *nsnp, &capacity));
    row = g->m + (size_t)g->n * (size_t)*nsnp;
    for (PetscInt j = 0; j < count; j++) {
      const char *field = nf == 2 ? &f[1][j] : f[j + 1];
      PetscCheck(nf == 2 || !field[1], PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": SNP %" PetscInt_FMT ": '%s' is not one genotype", path,
                 line, j + 1, field);
      PetscCall(ParseCall(path, line, j, field[0], &row[j]));
    }
    PetscCall(AddRow(g, path, f[0], line));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Every rank's lines have as many genotypes as the first line of the file. */
static PetscErrorCode AgreeWidth(Genotypes g, const char path[], PetscInt nsnp, PetscInt64 first_line, PetscInt64 *width)
{
  PetscInt64 mine[2] = {nsnp, first_line}, *all;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(2 * g->size, &all));
  PetscCallMPI(MPI_Allgather(mine, 2, MPIU_INT64, all, 2, MPIU_INT64, g->comm));
  *width = -1;
  for (PetscMPIInt k = 0; k < g->size; k++) {
    if (all[2 * k] < 0) continue;
    if (*width < 0) {
      *width     = all[2 * k];
      first_line = all[2 * k + 1];
    }
    PetscCheck(all[2 * k] == *width, g->comm, PETSC_ERR_USER_INPUT,
               "%s:%" PetscInt64_FMT ": %" PetscInt64_FMT " genotypes, but line %" PetscInt64_FMT " has %" PetscInt64_FMT, path, all[2 * k + 1], all[2 * k],
               first_line, *width);
  }
  PetscCall(PetscFree(all));
  PetscCheck(*width > 0, g->comm, PETSC_ERR_USER_INPUT, "%s: no genotypes", path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ReadText(Genotypes g, const char path[])
{
  Reader         rd;
  PetscInt       nsnp       = -1;
  PetscInt64     first_line = 0;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(ReaderOpen(g->comm, path, PETSC_FALSE, &rd));
  PetscCall(ReaderSetMaxFields(rd, GENOTYPES_MAX_FIELDS));
  ierr = ReadTextLocal(g, rd, &nsnp, &first_line);
  PetscCall(ReaderClose(&rd));
  PetscCall(HendersonAgree(g->comm, ierr));
  PetscCall(AgreeWidth(g, path, nsnp, first_line, &g->stats.snps_read));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* PLINK: FILE.bed -> FILE.bim, FILE.fam. */
static PetscErrorCode PlinkSibling(const char bed[], const char ext[], char path[])
{
  size_t n = strlen(bed);

  PetscFunctionBeginUser;
  PetscCheck(n >= 4 && n < HENDERSON_MAX_PATH, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: not a .bed path", bed);
  PetscCall(PetscStrncpy(path, bed, HENDERSON_MAX_PATH));
  PetscCall(PetscStrncpy(path + n - 4, ext, HENDERSON_MAX_PATH - n + 4));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* This rank's .fam lines: their IDs (second column); the animals are the lines, in order. */
static PetscErrorCode ReadFamLocal(Genotypes g, Reader rd, PetscInt64 *lo, PetscInt64 *hi)
{
  PetscBool done;

  PetscFunctionBeginUser;
  *lo = *hi = -1;
  for (;;) {
    PetscInt     nf;
    char *const *f;
    PetscInt64   line;
    PetscInt     capacity = g->n;
    PetscCall(ReaderNextLine(rd, &done));
    if (done) break;
    PetscCall(ReaderGetFields(rd, &nf, &f));
    PetscCall(ReaderGetLine(rd, &line));
    PetscCheck(nf == 6, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": a .fam line has 6 fields (found %" PetscInt_FMT ")", ReaderPath(rd),
               line, nf);
    if (*lo < 0) *lo = line - 1;
    PetscCheck(line - 1 == *lo + g->n, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": blank or comment lines are not allowed in a .fam file",
               ReaderPath(rd), line);
    PetscCall(GrowRows(g, 1, &capacity));
    PetscCall(AddRow(g, ReaderPath(rd), f[1], line));
  }
  if (*lo >= 0) *hi = *lo + g->n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Lines of a text file (.bim), counted by every rank's reader. */
static PetscErrorCode CountLines(MPI_Comm comm, const char path[], PetscInt64 *n)
{
  Reader     rd;
  PetscBool  done;
  PetscInt64 mine = 0;

  PetscFunctionBeginUser;
  PetscCall(ReaderOpen(comm, path, PETSC_FALSE, &rd));
  for (;;) {
    PetscCall(ReaderNextLine(rd, &done));
    if (done) break;
    mine++;
  }
  PetscCall(ReaderClose(&rd));
  PetscCallMPI(MPI_Allreduce(&mine, n, 1, MPIU_INT64, MPI_SUM, comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The .bed bytes of this rank's animals LO..HI-1, SNP by SNP (SNP-major: a SNP's animals, 4 a byte, low
   bits first; 00 two copies of the first allele, 10 one, 11 none, 01 missing). */
static PetscErrorCode ReadBedLocal(Genotypes g, const char path[], PetscInt64 nanimals, PetscInt64 nsnp, PetscInt64 lo, PetscInt64 hi)
{
  FILE          *fp;
  unsigned char  magic[3], *bytes = NULL;
  const int8_t   code[4] = {2, GENOTYPE_MISSING, 1, 0};
  PetscInt64     stride = (nanimals + 3) / 4, b0 = lo / 4, nb = hi > lo ? (hi - 1) / 4 - b0 + 1 : 0;
  long           size;
  PetscErrorCode ierr = PETSC_SUCCESS;

  PetscFunctionBeginUser;
  PetscCall(HendersonOpenRegular(path, "the genotypes file", &fp));
  if (fread(magic, 1, 3, fp) != 3 || magic[0] != 0x6c || magic[1] != 0x1b || magic[2] != 0x01) ierr = PETSC_ERR_USER_INPUT;
  fseek(fp, 0, SEEK_END);
  size = ftell(fp);
  if (ierr) fclose(fp);
  PetscCheck(!ierr, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: not a SNP-major PLINK .bed file (its first bytes are not 6c 1b 01)", path);
  if (size != 3 + stride * nsnp) fclose(fp);
  PetscCheck(size == 3 + stride * nsnp, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
             "%s: %ld bytes, but %" PetscInt64_FMT " animals (.fam) and %" PetscInt64_FMT " SNPs (.bim) take %" PetscInt64_FMT, path, size, nanimals, nsnp,
             3 + stride * nsnp);
  PetscCall(PetscMalloc1(nb + 1, &bytes));
  for (PetscInt64 j = 0; j < nsnp && nb; j++) {
    if (fseek(fp, 3 + j * stride + b0, SEEK_SET) || fread(bytes, 1, (size_t)nb, fp) != (size_t)nb) {
      ierr = PETSC_ERR_FILE_READ;
      break;
    }
    for (PetscInt64 a = lo; a < hi; a++) g->m[(size_t)(a - lo) * (size_t)nsnp + (size_t)j] = code[(bytes[a / 4 - b0] >> (2 * (a % 4))) & 3];
  }
  fclose(fp);
  PetscCall(PetscFree(bytes));
  PetscCheck(!ierr, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: read error", path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ReadPlink(Genotypes g, const char bed[])
{
  char           bim[HENDERSON_MAX_PATH], fam[HENDERSON_MAX_PATH];
  Reader         rd;
  PetscInt64     lo, hi, nanimals, nsnp;
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  g->stats.plink = PETSC_TRUE;
  PetscCall(PlinkSibling(bed, ".bim", bim));
  PetscCall(PlinkSibling(bed, ".fam", fam));
  PetscCall(CountLines(g->comm, bim, &nsnp));
  PetscCheck(nsnp > 0, g->comm, PETSC_ERR_USER_INPUT, "%s: no SNPs", bim);
  PetscCall(ReaderOpen(g->comm, fam, PETSC_FALSE, &rd));
  ierr = ReadFamLocal(g, rd, &lo, &hi);
  PetscCall(ReaderClose(&rd));
  PetscCall(HendersonAgree(g->comm, ierr));
  nanimals = g->n;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &nanimals, 1, MPIU_INT64, MPI_SUM, g->comm));
  PetscCheck(nanimals > 0, g->comm, PETSC_ERR_USER_INPUT, "%s: no animals", fam);
  PetscCall(PetscFree(g->m));
  PetscCall(PetscMalloc1((size_t)g->n * (size_t)nsnp + 1, &g->m));
  ierr = ReadBedLocal(g, bed, nanimals, nsnp, lo, hi);
  PetscCall(HendersonAgree(g->comm, ierr));
  g->stats.snps_read = nsnp;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Animals with too few calls are dropped (their rows and IDs). */
static PetscErrorCode DropAnimals(Genotypes g)
{
  PetscInt   kept = 0, nsnp = (PetscInt)g->stats.snps_read;
  LabelTable ids;

  PetscFunctionBeginUser;
  PetscCall(LabelTableCreate(&ids));
  for (PetscInt i = 0; i < g->n; i++) {
    const int8_t *row   = g->m + (size_t)i * (size_t)nsnp;
    PetscInt      calls = 0, index;
    const char   *id;
    PetscBool     inserted;
    for (PetscInt j = 0; j < nsnp; j++) calls += row[j] != GENOTYPE_MISSING;
    if (calls < g->opts.animal_callrate * nsnp || !calls) continue;
    PetscCall(PetscArraymove(g->m + (size_t)kept * (size_t)nsnp, row, nsnp));
    PetscCall(LabelTableGetLabel(g->ids, i, &id));
    PetscCall(LabelTableInsert(ids, id, strlen(id), &index, &inserted));
    g->lines[kept++] = g->lines[i];
  }
  PetscCall(LabelTableDestroy(&g->ids));
  g->ids                = ids;
  g->stats.animals_read = g->n;
  g->stats.animals_used = kept;
  g->n                  = kept;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &g->stats.animals_read, 1, MPIU_INT64, MPI_SUM, g->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &g->stats.animals_used, 1, MPIU_INT64, MPI_SUM, g->comm));
  g->stats.animals_dropped_callrate = g->stats.animals_read - g->stats.animals_used;
  PetscCheck(g->stats.animals_used > 0, g->comm, PETSC_ERR_USER_INPUT, "%s: no animal has a call rate of at least %g", g->opts.path,
             (double)g->opts.animal_callrate);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0 reads the frequencies file (one a line, in the SNPs' order) for every rank. */
static PetscErrorCode ReadFrequencies(Genotypes g, PetscInt nsnp, PetscReal p[])
{
  PetscErrorCode ierr = PETSC_SUCCESS;

  PetscFunctionBeginUser;
  if (g->rank == 0) {
    Reader    rd;
    PetscInt  k = 0;
    PetscBool done;
    PetscCall(ReaderOpen(PETSC_COMM_SELF, g->opts.frequencies_path, PETSC_FALSE, &rd));
    for (;;) {
      PetscInt     nf;
      char *const *f;
      PetscInt64   line;
      const char  *problem;
      ierr = ReaderNextLine(rd, &done);
      if (ierr || done) break;
      PetscCall(ReaderGetFields(rd, &nf, &f));
      PetscCall(ReaderGetLine(rd, &line));
      ierr = HendersonParseNumber(f[nf - 1], &p[k < nsnp ? k : 0], &problem);
      if (!ierr && (problem || k >= nsnp || p[k] < 0 || p[k] > 1)) {
        ierr = PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, PETSC_ERR_USER_INPUT, PETSC_ERROR_INITIAL, "%s:%" PetscInt64_FMT ": %s",
                          g->opts.frequencies_path, line, k >= nsnp ? "more frequencies than SNPs" : "not a frequency in [0, 1]");
        break;
      }
      k++;
    }
    PetscCall(ReaderClose(&rd));
    if (!ierr && k != nsnp)
      ierr = PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, PETSC_ERR_USER_INPUT, PETSC_ERROR_INITIAL,
                        "%s: %" PetscInt_FMT " frequencies for %" PetscInt_FMT " SNPs", g->opts.frequencies_path, k, nsnp);
  }
  PetscCall(HendersonAgree(g->comm, ierr));
  PetscCallMPI(MPI_Bcast(p, (PetscMPIInt)nsnp, MPIU_REAL, 0, g->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* SNPs: call rate, one allele, minor allele frequency, over the animals kept; the rows keep the SNPs used. */
static PetscErrorCode DropSNPs(Genotypes g)
{
  PetscInt    nsnp = (PetscInt)g->stats.snps_read, used = 0;
  PetscInt64 *count;
  PetscReal  *p;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(2 * nsnp, &count)); /* calls, copies */
  PetscCall(PetscMalloc1(nsnp, &p));
  for (PetscInt i = 0; i < g->n; i++)
    for (PetscInt j = 0; j < nsnp; j++) {
      int8_t c = g->m[(size_t)i * (size_t)nsnp + (size_t)j];
      if (c == GENOTYPE_MISSING) continue;
      count[2 * j]++;
      count[2 * j + 1] += c;
    }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, count, (PetscMPIInt)(2 * nsnp), MPIU_INT64, MPI_SUM, g->comm));
  for (PetscInt j = 0; j < nsnp; j++) p[j] = count[2 * j] ? (PetscReal)count[2 * j + 1] / (2.0 * (PetscReal)count[2 * j]) : 0;
  if (g->opts.frequencies_path[0]) PetscCall(ReadFrequencies(g, nsnp, p));
  for (PetscInt j = 0; j < nsnp; j++) {
    PetscReal maf = PetscMin(p[j], 1 - p[j]);
    if ((PetscReal)count[2 * j] < g->opts.callrate * (PetscReal)g->stats.animals_used || !count[2 * j])
      g->stats.snps_dropped_callrate++;
    else if (maf <= 0)
      g->stats.snps_dropped_monomorphic++;
    else if (maf < g->opts.maf)
      g->stats.snps_dropped_maf++;
    else {
      for (PetscInt i = 0; i < g->n; i++) g->m[(size_t)i * (size_t)nsnp + (size_t)used] = g->m[(size_t)i * (size_t)nsnp + (size_t)j];
      p[used++] = p[j];
    }
  }
  for (PetscInt i = 0; i < g->n; i++) PetscCall(PetscArraymove(g->m + (size_t)i * (size_t)used, g->m + (size_t)i * (size_t)nsnp, used));
  g->nsnp            = used;
  g->p               = p;
  g->stats.snps_used = used;
  PetscCall(PetscFree(count));
  PetscCheck(used > 0, g->comm, PETSC_ERR_USER_INPUT,
             "%s: no SNP passes the quality control (%" PetscInt64_FMT " call rate, %" PetscInt64_FMT " one allele, %" PetscInt64_FMT " MAF)", g->opts.path,
             g->stats.snps_dropped_callrate, g->stats.snps_dropped_monomorphic, g->stats.snps_dropped_maf);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* g->m (one byte a call) into g->calls (2 bits a call), and g->m freed. */
static PetscErrorCode PackCalls(Genotypes g)
{
  PetscFunctionBeginUser;
  g->width = (g->nsnp + 3) / 4;
  PetscCall(PetscFree(g->calls));
  PetscCall(PetscCalloc1((size_t)g->n * (size_t)g->width + 1, &g->calls));
  for (PetscInt i = 0; i < g->n; i++) {
    const int8_t *x = g->m + (size_t)i * (size_t)g->nsnp;
    uint8_t      *y = g->calls + (size_t)i * (size_t)g->width;
    for (PetscInt j = 0; j < g->nsnp; j++) y[j >> 2] |= (uint8_t)((x[j] == GENOTYPE_MISSING ? GENOTYPE_PACKED_MISSING : x[j]) << (2 * (j & 3)));
  }
  PetscCall(PetscFree(g->m));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Linux's estimate of the memory that can be given out without swapping (bytes), or -1 where unknown */
static double MemoryAvailable(void)
{
  char          line[256];
  unsigned long kb = 0;
  FILE         *f  = fopen("/proc/meminfo", "r");
  if (!f) return -1;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "MemAvailable: %lu kB", &kb) == 1) break;
  fclose(f);
  return kb ? 1024.0 * (double)kb : -1;
}

/* The dense route holds GENOTYPES_DENSE_PEAK_COPIES matrices of ng x ng doubles at its peak, spread over
   the ranks.  A node without that much memory would have its ranks killed half-way by the kernel, with
   no message; so the need of each node's ranks is set against what the node has (MemAvailable, or
   -genotypes_node_memory for a node shared with other jobs) now, before any work. */
static PetscErrorCode CheckDenseMemory(Genotypes g)
{
  MPI_Comm    node;
  PetscMPIInt nrank;
  double      ng = (double)g->stats.animals_used, need = GENOTYPES_DENSE_PEAK_COPIES * 8.0 * ng * ng / g->size, v[2] = {0, -HUGE_VAL}, node_need;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_split_type(g->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  PetscCallMPI(MPI_Allreduce(&need, &node_need, 1, MPI_DOUBLE, MPI_SUM, node));
  PetscCallMPI(MPI_Comm_rank(node, &nrank));
  PetscCallMPI(MPI_Comm_free(&node));
  if (!nrank) {
    double avail = g->node_memory > 0 ? (double)g->node_memory : MemoryAvailable();
    if (avail > 0 && node_need > avail) {
      v[0] = node_need;
      v[1] = -avail;
    }
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_DOUBLE, MPI_MAX, g->comm));
  PetscCheck(v[0] == 0, g->comm, PETSC_ERR_MEM,
             "%s:%" PetscInt_FMT ": the dense route for %.0f genotyped animals needs about %.3g GB on a node (%d matrices of %.0f^2 doubles over the ranks at "
             "its peak) and a node has %.3g GB: use the factored route (apy N block factored), more nodes, or -genotypes_node_memory GB if more is free",
             g->model_path, g->opts.line, ng, v[0] / 1e9, GENOTYPES_DENSE_PEAK_COPIES, ng, -v[1] / 1e9);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesLoad(Genotypes g, Model model)
{
  const ModelGenotypes *opts;
  const char           *path, *pedigree;
  size_t                n;

  PetscFunctionBeginUser;
  PetscCall(ModelGetGenotypes(model, &opts));
  PetscCall(ModelGetPath(model, &path));
  PetscCall(ModelGetPedigreePath(model, &pedigree));
  g->opts          = *opts;
  g->pedigree_file = pedigree ? PETSC_TRUE : PETSC_FALSE;
  if (g->opts.tune < 0) g->opts.tune = g->pedigree_file;
  PetscCall(PetscStrncpy(g->model_path, path, sizeof(g->model_path)));
  n = strlen(opts->path);
  if (n > 4 && !strcmp(opts->path + n - 4, ".bed"))
    PetscCall(ReadPlink(g, opts->path));
  else
    PetscCall(ReadText(g, opts->path));
  PetscCall(DropAnimals(g));
  PetscCall(DropSNPs(g));
  /* the route now, so that what it cannot do (entries, log|H|) is known before any work: factored when
     asked, or with APY past the dense route's range (the animals read; those added later are founders) */
  g->factored = (PetscBool)(g->opts.block == MODEL_GENOTYPES_BLOCK_FACTORED ||
                            (g->opts.block == MODEL_GENOTYPES_BLOCK_AUTO && g->opts.apy && g->stats.animals_used > GENOTYPES_DENSE_MAX));
  PetscCheck(!g->factored || g->opts.apy, g->comm, PETSC_ERR_USER_INPUT,
             "%s:%" PetscInt_FMT ": genotypes block factored needs APY (apy N or apy FILE): the exact G^-1 is dense", g->model_path, g->opts.line);
  g->stats.factored = g->factored;
  if (!g->factored) PetscCall(CheckDenseMemory(g));
  PetscCall(PackCalls(g));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0 gets every rank's IDs and lines, in rank order, into G->all; an ID on two ranks is an error. */
static PetscErrorCode GatherIDs(Genotypes g, PetscInt64 **lines)
{
  PetscMPIInt   *counts = NULL, *at = NULL, *ncounts = NULL, *nat = NULL, mylen = 0;
  char          *mine, *all = NULL;
  PetscInt64    *alllines = NULL;
  PetscErrorCode ierr     = PETSC_SUCCESS;

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < g->n; i++) {
    const char *id;
    PetscCall(LabelTableGetLabel(g->ids, i, &id));
    mylen += (PetscMPIInt)strlen(id) + 1;
  }
  PetscCall(PetscMalloc1(mylen + 1, &mine));
  for (PetscInt i = 0, k = 0; i < g->n; i++) {
    const char *id;
    PetscCall(LabelTableGetLabel(g->ids, i, &id));
    strcpy(mine + k, id);
    k += (PetscInt)strlen(id) + 1;
  }
  if (g->rank == 0) PetscCall(PetscMalloc4(g->size, &counts, g->size, &at, g->size, &ncounts, g->size, &nat));
  PetscCallMPI(MPI_Gather(&mylen, 1, MPI_INT, counts, 1, MPI_INT, 0, g->comm));
  {
    PetscMPIInt nmine = (PetscMPIInt)g->n;
    PetscCallMPI(MPI_Gather(&nmine, 1, MPI_INT, ncounts, 1, MPI_INT, 0, g->comm));
  }
  if (g->rank == 0) {
    PetscInt64 total = 0, ntotal = 0;
    for (PetscMPIInt k = 0; k < g->size; k++) {
      at[k]  = (PetscMPIInt)total;
      nat[k] = (PetscMPIInt)ntotal;
      total += counts[k];
      ntotal += ncounts[k];
    }
    PetscCheck(total < PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "the genotyped animals' IDs take more than 2 GB");
    PetscCall(PetscMalloc1(total + 1, &all));
    PetscCall(PetscMalloc1(ntotal + 1, &alllines));
  }
  PetscCallMPI(MPI_Gatherv(mine, mylen, MPI_CHAR, all, counts, at, MPI_CHAR, 0, g->comm));
  PetscCallMPI(MPI_Gatherv(g->lines, (PetscMPIInt)g->n, MPIU_INT64, alllines, ncounts, nat, MPIU_INT64, 0, g->comm));
  if (g->rank == 0) {
    PetscInt64 ntotal = g->stats.animals_used;
    char      *id     = all;
    PetscCall(LabelTableCreate(&g->all));
    for (PetscInt64 k = 0; k < ntotal && !ierr; k++) {
      PetscInt  index;
      PetscBool inserted;
      PetscCall(LabelTableInsert(g->all, id, strlen(id), &index, &inserted));
      if (!inserted)
        ierr = PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, PETSC_ERR_USER_INPUT, PETSC_ERROR_INITIAL,
                          "%s:%" PetscInt64_FMT ": the genotypes of animal %s are given twice (first at line %" PetscInt64_FMT ")", g->opts.path, alllines[k],
                          id, alllines[index]);
      id += strlen(id) + 1;
    }
  }
  PetscCall(PetscFree(mine));
  if (g->rank == 0) PetscCall(PetscFree4(counts, at, ncounts, nat));
  PetscCall(PetscFree(all));
  *lines = alllines;
  PetscCall(HendersonAgree(g->comm, ierr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective: the pedigree's index of each of rank 0's genotyped IDs (G->all), *N of them there (0
   elsewhere); -1 for one that is not in the pedigree. */
static PetscErrorCode GenotypesFindAnimals(Genotypes g, Pedigree pedigree, PetscInt *n, PetscInt **animal)
{
  const char **id = NULL;

  PetscFunctionBeginUser;
  *n = 0;
  if (g->rank == 0) PetscCall(LabelTableGetSize(g->all, n));
  PetscCall(PetscMalloc1(*n + 1, &id));
  PetscCall(PetscMalloc1(*n + 1, animal));
  for (PetscInt k = 0; k < *n; k++) PetscCall(LabelTableGetLabel(g->all, k, &id[k]));
  PetscCall(PedigreeFindLabels(pedigree, *n, id, *animal));
  PetscCall(PetscFree(id));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesAddToPedigree(Genotypes g, Pedigree pedigree)
{
  PetscInt64 *lines, added = 0;
  LabelTable  founders = NULL;
  PetscInt    n        = 0, *animal;

  PetscFunctionBeginUser;
  PetscCheck(!g->moved, g->comm, PETSC_ERR_ORDER, "GenotypesAddToPedigree() after GenotypesSetUp(): the rows have moved");
  PetscCall(GatherIDs(g, &lines));
  PetscCall(GenotypesFindAnimals(g, pedigree, &n, &animal));
  if (g->rank == 0) {
    PetscCall(LabelTableCreate(&founders));
    for (PetscInt k = 0; k < n; k++) {
      const char *id;
      PetscCall(LabelTableGetLabel(g->all, k, &id));
      if (animal[k] < 0) PetscCall(LabelTableInsert(founders, id, strlen(id), NULL, NULL));
    }
    PetscCall(LabelTableGetSize(founders, &n));
    added = n;
  }
  PetscCall(PetscFree(animal));
  PetscCall(PedigreeAddFounders(pedigree, founders));
  PetscCall(LabelTableDestroy(&founders));
  PetscCall(PetscFree(lines));
  PetscCallMPI(MPI_Bcast(&added, 1, MPIU_INT64, 0, g->comm));
  g->stats.animals_added = added;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesNumber(Genotypes g, Pedigree pedigree)
{
  PetscInt    *all    = NULL;
  PetscMPIInt *counts = NULL, *at = NULL, n = (PetscMPIInt)g->n;

  PetscFunctionBeginUser;
  PetscCheck(!g->moved, g->comm, PETSC_ERR_ORDER, "GenotypesNumber() after GenotypesSetUp(): the rows have moved");
  {
    PetscInt total;
    PetscCall(GenotypesFindAnimals(g, pedigree, &total, &all));
    for (PetscInt k = 0; k < total; k++) {
      const char *id;
      PetscCall(LabelTableGetLabel(g->all, k, &id));
      PetscCheck(all[k] >= 0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "genotyped animal %s is not in the pedigree", id);
    }
    if (g->rank == 0) PetscCall(PetscMalloc2(g->size, &counts, g->size, &at));
    PetscCall(LabelTableDestroy(&g->all));
  }
  PetscCallMPI(MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, g->comm));
  if (g->rank == 0)
    for (PetscMPIInt k = 0, s = 0; k < g->size; k++) {
      at[k] = s;
      s += counts[k];
    }
  PetscCall(PetscFree(g->animal));
  PetscCall(PetscMalloc1(g->n + 1, &g->animal));
  PetscCallMPI(MPI_Scatterv(all, counts, at, MPIU_INT, g->animal, n, MPIU_INT, 0, g->comm));
  PetscCall(PetscFree(all));
  if (g->rank == 0) PetscCall(PetscFree2(counts, at));
  g->lo = g->hi = -1; /* a new numbering: the block is made again */
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesSetUp(Genotypes g, Pedigree pedigree, PetscInt lo, PetscInt hi)
{
  PetscBool same = (PetscBool)(lo == g->lo && hi == g->hi);

  PetscFunctionBeginUser;
  PetscCheck(g->animal, g->comm, PETSC_ERR_ARG_WRONGSTATE, "call GenotypesNumber() first");
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPIU_BOOL, MPI_LAND, g->comm));
  if (same) PetscFunctionReturn(PETSC_SUCCESS);
  g->lo = lo;
  g->hi = hi;
  PetscCall(GenotypesSetUpBlock(g, pedigree));
  g->stats.setup = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesGetBlock(Genotypes g, PetscInt *ng, const PetscInt **animal, PetscInt *first, PetscInt *nlocal, const PetscReal **D)
{
  PetscFunctionBeginUser;
  PetscCheck(g->stats.setup, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "call GenotypesSetUp() first");
  if (ng) *ng = g->ng;
  if (animal) *animal = g->sorted;
  if (first) *first = g->first;
  if (nlocal) *nlocal = g->nloc;
  if (D) *D = g->factored ? NULL : g->D;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesGetBlockDiagonal(Genotypes g, const PetscReal **diag)
{
  PetscFunctionBeginUser;
  PetscCheck(g->stats.setup, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "call GenotypesSetUp() first");
  *diag = g->ddiag;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesGetDiagonal(Genotypes g, PetscInt *ng, const PetscReal **diag)
{
  PetscFunctionBeginUser;
  PetscCheck(g->stats.setup, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "call GenotypesSetUp() first");
  *ng   = g->ng;
  *diag = g->gdiag;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesGetStats(Genotypes g, GenotypesStats *stats)
{
  PetscFunctionBeginUser;
  *stats                  = g->stats;
  stats->inner_solves     = g->fac.inner_solves;
  stats->inner_iterations = g->fac.inner_iterations;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesGetFrequencies(Genotypes g, const PetscReal **p)
{
  PetscFunctionBeginUser;
  *p = g->p;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesHasLogDeterminant(Genotypes g, PetscBool *has)
{
  PetscFunctionBeginUser;
  *has = (PetscBool)(g->opts.tau == 1 && g->opts.omega == 1 && !g->factored);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesView(Genotypes g, PetscViewer viewer)
{
  const GenotypesStats *s = &g->stats;
  const ModelGenotypes *o = &g->opts;

  PetscFunctionBeginUser;
  if (!o->line) PetscFunctionReturn(PETSC_SUCCESS); /* made with the model, not loaded yet */
  PetscCall(PetscViewerASCIIPrintf(viewer, "  genotypes   %s%s: %" PetscInt64_FMT " animals, %" PetscInt64_FMT " used (%" PetscInt64_FMT " call rate < %g",
                                   o->path, s->plink ? " (PLINK)" : "", s->animals_read, s->animals_used, s->animals_dropped_callrate,
                                   (double)o->animal_callrate));
  if (g->pedigree_file) PetscCall(PetscViewerASCIIPrintf(viewer, "; %" PetscInt64_FMT " not in the pedigree, added as founders", s->animals_added));
  PetscCall(PetscViewerASCIIPrintf(viewer, ")\n"));
  PetscCall(PetscViewerASCIIPrintf(viewer,
                                   "              %" PetscInt64_FMT " SNPs, %" PetscInt64_FMT " used (%" PetscInt64_FMT " call rate < %g, %" PetscInt64_FMT
                                   " one allele, %" PetscInt64_FMT " MAF < %g)\n",
                                   s->snps_read, s->snps_used, s->snps_dropped_callrate, (double)o->callrate, s->snps_dropped_monomorphic, s->snps_dropped_maf,
                                   (double)o->maf));
  if (!s->setup) PetscFunctionReturn(PETSC_SUCCESS);
  if (g->pedigree_file)
    PetscCall(PetscViewerASCIIPrintf(viewer, "              %" PetscInt64_FMT " parent-offspring pairs with opposing homozygotes on > 1 %% of the SNPs\n",
                                     s->parent_conflicts));
  PetscCall(PetscViewerASCIIPrintf(viewer, "              G (VanRaden 1, 2 sum p(1-p) = %.6g): mean diagonal %.4f, off-diagonal %.4f", (double)s->scale,
                                   (double)s->mean_diag_g, (double)s->mean_offdiag_g));
  if (g->pedigree_file)
    PetscCall(
        PetscViewerASCIIPrintf(viewer, "; A22 %.4f, %.4f; correlation %.3f", (double)s->mean_diag_a22, (double)s->mean_offdiag_a22, (double)s->correlation));
  PetscCall(PetscViewerASCIIPrintf(viewer, "\n              Gb = %g G + %g %s + %g I", (double)(1 - o->blend), (double)o->blend, g->pedigree_file ? "A22" : "I",
                                   (double)o->gamma));
  if (o->tune) PetscCall(PetscViewerASCIIPrintf(viewer, ", tuned: Gt = %.4f + %.4f Gb", (double)s->tune_a, (double)s->tune_b));
  if (g->pedigree_file) PetscCall(PetscViewerASCIIPrintf(viewer, "; H^-1 = A^-1 + [0 0; 0 %g Gt^-1 - %g A22^-1]", (double)o->tau, (double)o->omega));
  PetscCall(PetscViewerASCIIPrintf(viewer, "\n"));
  if (s->apy_core)
    PetscCall(PetscViewerASCIIPrintf(viewer, "              APY: G^-1 from a core of %" PetscInt_FMT " animals (%s)\n", s->apy_core,
                                     s->apy_chosen ? "evenly spaced in pedigree order" : o->apy_path));
  if (s->factored)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "              block factored: G's core columns in %s, APY's factors, A22^-1 from the sparse A^-1%s; the "
                                     "correlation over the core's pairs\n",
                                     s->single ? "single precision (no missing call: exact)" : "double precision",
                                     g->pedigree_file ? " (A^11 by an inner KSP)" : ""));
  PetscCall(PetscViewerASCIIPrintf(viewer, "              seconds: G %.3f, A22 %.3f, inverses %.3f\n", (double)s->seconds_g, (double)s->seconds_a22,
                                   (double)s->seconds_inverse));
  if (g->fac.inner_solves)
    PetscCall(PetscViewerASCIIPrintf(viewer, "              A^11 solves: %" PetscInt64_FMT ", %.1f iterations each\n", g->fac.inner_solves,
                                     (double)g->fac.inner_iterations / (double)g->fac.inner_solves));
  PetscFunctionReturn(PETSC_SUCCESS);
}
