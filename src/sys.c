#define _GNU_SOURCE /* madvise(MADV_HUGEPAGE) */
#include <henderson/henderson.h>
#include <sys/resource.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <limits.h>
#include <sys/random.h>
#include <time.h>
#include <sys/mman.h>

const char *HendersonVersion(void)
{
  return HENDERSON_VERSION;
}

PetscErrorCode HendersonPathJoin(const char dir[], const char path[], char joined[], size_t size)
{
  int n;

  PetscFunctionBeginUser;
  if (path[0] == '/' || !dir || !dir[0] || !strcmp(dir, "."))
    n = snprintf(joined, size, "%s", path);
  else
    n = snprintf(joined, size, "%s/%s", dir, path);
  PetscCheck(n >= 0 && (size_t)n < size, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "path too long: %s/%s", dir, path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode HendersonPathDirectory(const char path[], char dir[], size_t size)
{
  const char *slash = strrchr(path, '/');

  PetscFunctionBeginUser;
  if (!slash) {
    PetscCall(PetscStrncpy(dir, ".", size));
  } else if (slash == path) {
    PetscCall(PetscStrncpy(dir, "/", size));
  } else {
    size_t n = (size_t)(slash - path);
    PetscCheck(n < size, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "path too long: %s", path);
    memcpy(dir, path, n);
    dir[n] = 0;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode HendersonOpenRegular(const char path[], const char what[], FILE **fp)
{
  struct stat st;
  int         fd;

  PetscFunctionBeginUser;
  *fp = NULL;
  /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, for ever */
  fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  PetscCheck(fd >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: cannot open %s: %s", path, what, strerror(errno));
  if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
    const char *kind = S_ISDIR(st.st_mode)                          ? "a directory"
                       : S_ISFIFO(st.st_mode)                       ? "a pipe (FIFO)"
                       : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                    : "not a regular file";
    close(fd);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: %s is %s; give a regular file", path, what, kind);
  }
  (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  *fp = fdopen(fd, "rb");
  if (!*fp) close(fd);
  PetscCheck(*fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: cannot open %s: %s", path, what, strerror(errno));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode HendersonCheckRegular(const char path[], const char what[])
{
  struct stat st;

  PetscFunctionBeginUser;
  PetscCheck(!stat(path, &st), PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: cannot open %s: %s", path, what, strerror(errno));
  PetscCheck(S_ISREG(st.st_mode), PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: %s is %s; give a regular file", path, what,
             S_ISDIR(st.st_mode)    ? "a directory"
             : S_ISFIFO(st.st_mode) ? "a pipe (FIFO)"
                                    : "not a regular file");
  PetscFunctionReturn(PETSC_SUCCESS);
}

uint64_t HendersonHash64(uint64_t z)
{
  z += 0x9E3779B97F4A7C15ULL; /* splitmix64's finaliser: every bit of Z moves every bit of the result */
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

PetscReal HendersonKeyedUniform(uint64_t key)
{
  return (PetscReal)(HendersonHash64(key) >> 11) * 0x1.0p-52 - 1;
}

/* A standard normal number that depends only on its key (seed, sample, stream, index, component):
   the same whichever rank draws it. Box-Muller on two hashed uniforms. */
PetscReal HendersonKeyedNormal(uint64_t seed, uint64_t sample, uint64_t stream, uint64_t index, uint64_t component)
{
  uint64_t  h  = HendersonHash64(HendersonHash64(HendersonHash64(HendersonHash64(seed) ^ sample) ^ (stream << 40 ^ component)) ^ index);
  uint64_t  h2 = HendersonHash64(h ^ 0xD1B54A32D192ED03ULL);
  PetscReal u1 = ((PetscReal)(h >> 11) + 1) * 0x1.0p-53, u2 = (PetscReal)(h2 >> 11) * 0x1.0p-53;
  return PetscSqrtReal(-2 * PetscLogReal(u1)) * PetscCosReal(2 * PETSC_PI * u2);
}

uint64_t HendersonRandomToken(void)
{
  uint64_t        token = 0;
  struct timespec now;

  if (getrandom(&token, sizeof(token), GRND_NONBLOCK) == (ssize_t)sizeof(token)) return token;
  clock_gettime(CLOCK_REALTIME, &now); /* no entropy yet: the clock and the process */
  token = (uint64_t)now.tv_nsec ^ (uint64_t)now.tv_sec << 30 ^ (uint64_t)getpid() << 17;
  token ^= token >> 31;
  token *= 0x9E3779B97F4A7C15ULL;
  return token ^ token >> 29;
}

/* PATH as an absolute name without symbolic links: the file's own when it exists, else its directory's
   followed by the last component. */
static PetscBool CanonicalPath(const char path[], char canonical[], size_t size)
{
  char        dir[HENDERSON_MAX_PATH], real[PATH_MAX];
  const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;

  if (realpath(path, real)) return snprintf(canonical, size, "%s", real) < (int)size ? PETSC_TRUE : PETSC_FALSE;
  if (!slash)
    snprintf(dir, sizeof(dir), ".");
  else if (slash == path)
    snprintf(dir, sizeof(dir), "/");
  else
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
  if (!realpath(dir, real)) return PETSC_FALSE;
  return snprintf(canonical, size, "%s/%s", real, base) < (int)size ? PETSC_TRUE : PETSC_FALSE;
}

PetscBool HendersonSameFile(const char a[], const char b[])
{
  struct stat sa, sb;
  char        ca[HENDERSON_MAX_PATH + 256], cb[HENDERSON_MAX_PATH + 256];

  if (!a || !b || !a[0] || !b[0]) return PETSC_FALSE;
  if (!stat(a, &sa) && !stat(b, &sb)) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino ? PETSC_TRUE : PETSC_FALSE; /* links, hard or symbolic */
  if (!CanonicalPath(a, ca, sizeof(ca)) || !CanonicalPath(b, cb, sizeof(cb))) return strcmp(a, b) ? PETSC_FALSE : PETSC_TRUE;
  return strcmp(ca, cb) ? PETSC_FALSE : PETSC_TRUE;
}

PetscBool HendersonFileExists(const char path[])
{
  struct stat st;
  return path && path[0] && !lstat(path, &st) ? PETSC_TRUE : PETSC_FALSE;
}

PetscErrorCode HendersonStrlcat(char s[], const char t[], size_t n)
{
  size_t used, add;

  PetscFunctionBeginUser;
  if (!n || !t) PetscFunctionReturn(PETSC_SUCCESS);
  used = strnlen(s, n);
  if (used >= n - 1) PetscFunctionReturn(PETSC_SUCCESS);
  add = PetscMin(strlen(t), n - 1 - used);
  memcpy(s + used, t, add);
  s[used + add] = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

double HendersonSeconds(void)
{
  return MPI_Wtime();
}

PetscErrorCode HendersonReleaseFreeMemory(void)
{
  PetscFunctionBeginUser;
#if defined(__GLIBC__)
  (void)malloc_trim(0);
#endif
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode HendersonPeakMemory(PetscLogDouble *bytes)
{
  struct rusage usage;

  PetscFunctionBeginUser;
  PetscCheck(!getrusage(RUSAGE_SELF, &usage), PETSC_COMM_SELF, PETSC_ERR_SYS, "getrusage failed");
  *bytes = 1024.0 * (PetscLogDouble)usage.ru_maxrss; /* kilobytes on Linux */
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Decimal notation only: [+-] digits [. digits] [e|E [+-] digits], with digits on at least one side of
   the point. strtod() alone would also take 0x10 (16), inf, nan and leading blanks. */
static PetscBool IsDecimal(const char *p)
{
  PetscBool digits = PETSC_FALSE;

  if (*p == '+' || *p == '-') p++;
  while (isdigit((unsigned char)*p)) p++, digits = PETSC_TRUE;
  if (*p == '.') {
    p++;
    while (isdigit((unsigned char)*p)) p++, digits = PETSC_TRUE;
  }
  if (!digits) return PETSC_FALSE;
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p)) return PETSC_FALSE;
    while (isdigit((unsigned char)*p)) p++;
  }
  return *p ? PETSC_FALSE : PETSC_TRUE;
}

PetscErrorCode HendersonParseNumber(const char text[], PetscReal *value, const char **problem)
{
  double v;

  PetscFunctionBeginUser;
  *value   = 0;
  *problem = "is not a number";
  if (!IsDecimal(text)) PetscFunctionReturn(PETSC_SUCCESS);
  errno = 0;
  v     = strtod(text, NULL);
  if (!isfinite(v)) { /* beyond the largest double: a tiny number that rounds to 0 is taken as it rounds */
    *problem = "is out of range (beyond 1.8e308)";
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  *value   = (PetscReal)v;
  *problem = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode HendersonParseReal(const char text[], PetscReal *value, PetscBool *ok)
{
  const char *problem;

  PetscFunctionBeginUser;
  PetscCall(HendersonParseNumber(text, value, &problem));
  *ok = problem ? PETSC_FALSE : PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscBool HendersonIsMissing(const char text[], PetscBool zero_is_missing)
{
  if (!text[0]) return PETSC_TRUE;
  if (!strcmp(text, "NA") || !strcmp(text, ".")) return PETSC_TRUE;
  if (zero_is_missing && !strcmp(text, "0")) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* Options that PETSc reads outside any object's SetFromOptions -- at initialisation and finalisation,
   or when an object is viewed at the end of a phase -- and so are not marked used when the check runs. */
static PetscBool ReadLater(const char name[])
{
  static const char *const prefixes[] = {"log_",
                                         "info",
                                         "malloc",
                                         "on_error",
                                         "options_",
                                         "memory_view",
                                         "help",
                                         "version",
                                         "history",
                                         "objects_dump",
                                         "fp_trap",
                                         "check_pointer_intensity",
                                         "no_signal_handler",
                                         "saws",
                                         "viewer_",
                                         "genomic_a11_"}; /* the factored single step's inner solver, made in the set-up */
  size_t                   n          = strlen(name);

  for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++)
    if (!strncmp(name, prefixes[k], strlen(prefixes[k]))) return PETSC_TRUE;
  if (n > 5 && !strcmp(name + n - 5, "_view")) return PETSC_TRUE; /* -ksp_view, -mat_view, ...: viewed at the end */
  if (strstr(name, "_view_")) return PETSC_TRUE;                  /* -ksp_view_pre, -mat_view_draw, ... */
  return PETSC_FALSE;
}

/* MUMPS reads its options when it factors (-pev exact, REML), and so does a Factor (-factor_type,
   checked against its types there): a name they know is taken on trust. */
static PetscBool MUMPSOption(const char name[])
{
  int  k;
  char end;

  if (!strcmp(name, "factor_type") || !strcmp(name, "factor_root_threads")) return PETSC_TRUE;

  if (sscanf(name, "mat_mumps_icntl_%d%c", &k, &end) == 1) return k >= 1 && k <= 60 ? PETSC_TRUE : PETSC_FALSE;
  if (sscanf(name, "mat_mumps_cntl_%d%c", &k, &end) == 1) return k >= 1 && k <= 7 ? PETSC_TRUE : PETSC_FALSE;
  return PETSC_FALSE;
}

PetscErrorCode HendersonOptionsCheckUnused(MPI_Comm comm)
{
  PetscInt n;
  char   **names, **values, list[2048] = "";
  int      unused = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsLeftGet(NULL, &n, &names, &values));
  for (PetscInt k = 0; k < n; k++) {
    if (ReadLater(names[k]) || MUMPSOption(names[k])) continue;
    if (unused++ < 8) {
      char one[512];
      snprintf(one, sizeof(one), "%s-%s%s%s", unused > 1 ? ", " : "", names[k], values[k] ? " " : "", values[k] ? values[k] : "");
      PetscCall(HendersonStrlcat(list, one, sizeof(list)));
    }
  }
  PetscCall(PetscOptionsLeftRestore(NULL, &n, &names, &values));
  PetscCheck(!unused, comm, PETSC_ERR_USER_INPUT, "%s that nothing here reads: %s%s (a typing error? henderson COMMAND -help lists the options)",
             unused == 1 ? "an option" : "options", list, unused > 8 ? ", ..." : "");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode HendersonExchange(MPI_Comm comm, MPI_Datatype type, size_t unit, const PetscMPIInt send_n[], const PetscMPIInt send_at[], const void *send,
                                 PetscMPIInt recv_n[], PetscMPIInt recv_at[], void **recv, PetscCount *nrecv, const char what[])
{
  PetscMPIInt size;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Alltoall(send_n, 1, MPI_INT, recv_n, 1, MPI_INT, comm));
  *nrecv = 0;
  for (PetscMPIInt p = 0; p < size; p++) {
    /* MPI counts and displacements are ints */
    PetscCheck(*nrecv + recv_n[p] <= PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "more than 2^31 %s for one rank; run with more ranks", what);
    recv_at[p] = (PetscMPIInt)*nrecv;
    *nrecv += recv_n[p];
  }
  PetscCall(PetscMalloc(unit * (size_t)*nrecv + 8, recv));
  PetscCallMPI(MPI_Alltoallv(send, send_n, send_at, type, *recv, recv_n, recv_at, type, comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode HendersonGrow(size_t unit, PetscInt need, PetscInt *room, void *array)
{
  PetscFunctionBeginUser;
  if (need <= *room && *(void **)array) PetscFunctionReturn(PETSC_SUCCESS);
  *room = PetscMax(need, 2 * *room);
  PetscCall(PetscRealloc(unit * (size_t)(*room + 1), array));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- huge pages ---- */

/* The product's scattered reads of parents' values miss the TLB on nearly every access with 4 KiB pages
   (80 MB vectors span 20 000 pages); 2 MiB pages cover them with 40. With transparent huge pages in
   "madvise" mode (the usual default) a region gets them only when asked: large blocks are placed on
   2 MiB boundaries and advised MADV_HUGEPAGE before they are first touched. Not the default: at 10^7
   animals on 2 ranks the solve took 3-8 % less and the set-up 1.6 s more (the kernel compacts memory to
   find huge pages for the set-up's many large blocks, defrag "madvise"): no gain end to end
   (benchmarks/RESULTS.md). -henderson_huge_pages 1 for runs of many solves (REML, sampled PEV). */
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_MIN ((size_t)8 << 20)

static PetscErrorCode HugeMalloc(size_t size, PetscBool clear, int line, const char fn[], const char file[], void **result)
{
  void *p = NULL;

  if (size < HUGE_MIN) {
    p = clear ? calloc(size ? size : 1, 1) : malloc(size ? size : 1);
  } else {
    size_t rounded = (size + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    if (posix_memalign(&p, HUGE_PAGE, rounded)) p = NULL;
    if (p) {
      (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice: ignored where the kernel has no huge pages */
      if (clear) memset(p, 0, size);
    }
  }
  *result = p;
  if (!p) return PetscError(PETSC_COMM_SELF, line, fn, file, PETSC_ERR_MEM, PETSC_ERROR_INITIAL, "out of memory: %zu bytes", size);
  return PETSC_SUCCESS;
}

static PetscErrorCode HugeFree(void *p, int line, const char fn[], const char file[])
{
  (void)line;
  (void)fn;
  (void)file;
  free(p);
  return PETSC_SUCCESS;
}

static PetscErrorCode HugeRealloc(size_t size, int line, const char fn[], const char file[], void **result)
{
  void *p = realloc(*result, size ? size : 1);
  if (!p) return PetscError(PETSC_COMM_SELF, line, fn, file, PETSC_ERR_MEM, PETSC_ERROR_INITIAL, "out of memory: %zu bytes", size);
  *result = p;
  return PETSC_SUCCESS;
}

PetscErrorCode HendersonMallocHugePages(int argc, char **argv)
{
  PetscBool use = PETSC_FALSE;

  for (int k = 1; k + 1 < argc; k++)
    if (!strcmp(argv[k], "-henderson_huge_pages")) use = (PetscBool)(!strcmp(argv[k + 1], "1") || !strcmp(argv[k + 1], "true") || !strcmp(argv[k + 1], "yes"));
  if (!use) return PETSC_SUCCESS;
  return PetscMallocSet(HugeMalloc, HugeFree, HugeRealloc);
}
