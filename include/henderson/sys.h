/* henderson/sys.h -- the integer widths and the few helpers every module shares.

   Integer widths, stated once:
   - PetscInt   equation numbers, level and animal indices, counts of equations and levels
                (32-bit with Debian's petsc-dev, 64-bit with libpetsc64-real-dev and
                -DHENDERSON_PETSC64=ON).
   - PetscInt64 line numbers and byte offsets in input files, counts of records.
   - PetscCount lengths of local arrays that may exceed 2^31 (COO entries). */
#ifndef HENDERSON_SYS_H
#define HENDERSON_SYS_H

#include <petscsys.h>
#include <petscviewer.h>

/* For a helper whose only effect is __builtin_prefetch(): it must be inlined before the compiler's
   interprocedural analysis sees it, which finds such a function pure (a prefetch is no side effect) and
   deletes every call to it, the result being unused (gcc 12 at -O2 and -O3 emitted none of the data
   operator's or the label table's prefetches until they were marked so). */
#if defined(__GNUC__)
#define HENDERSON_PREFETCH_INLINE static inline __attribute__((always_inline))
#else
#define HENDERSON_PREFETCH_INLINE static inline
#endif

/* PETSc 3.19 names the success code; 3.18 (Debian 12) returns a plain 0. */
#if !defined(PETSC_SUCCESS)
#define PETSC_SUCCESS 0
/* Collective. An error naming every option given that no object has read (a typing error: -ksp_rtoll);
   call it once every object of the run has read its options, before any work. Options PETSc reads at
   initialisation, finalisation or when it views an object (-log_view, -ksp_view, ...) and MUMPS' own
   (-mat_mumps_icntl_N, read when it factors) are not counted. */
PETSC_EXTERN PetscErrorCode HendersonOptionsCheckUnused(MPI_Comm comm);
/* Before PetscInitialize(): with -henderson_huge_pages 1 in ARGV, large blocks on 2 MiB boundaries, advised
   as transparent huge pages (the option is read again, for -help, by HendersonErrorSetFromOptions()). */
PETSC_EXTERN PetscErrorCode HendersonMallocHugePages(int argc, char **argv);

#endif

#define HENDERSON_MAX_PATH 4096

/* Joins DIR (may be empty) and a PATH relative to it; an absolute PATH is kept as it is. Not collective. */
PETSC_EXTERN PetscErrorCode HendersonPathJoin(const char dir[], const char path[], char joined[], size_t size);
/* The directory part of PATH ("." when it has none). Not collective. */
PETSC_EXTERN PetscErrorCode HendersonPathDirectory(const char path[], char dir[], size_t size);
/* Opens PATH for reading, without blocking on a FIFO: anything but a regular file (a directory, a pipe, a
   device) is an error naming PATH and WHAT ("data file", "model file", ...). Not collective. */
PETSC_EXTERN PetscErrorCode HendersonOpenRegular(const char path[], const char what[], FILE **fp);
/* The same check by stat() alone, for files another library opens (HDF5). Not collective. */
PETSC_EXTERN PetscErrorCode HendersonCheckRegular(const char path[], const char what[]);
/* Whether paths A and B name the same file: the same inode when both exist (through links, hard or
   symbolic), else the same canonical name. Not collective. */
PETSC_EXTERN PetscBool HendersonSameFile(const char a[], const char b[]);
/* Whether something (a file, a link, a directory) is at PATH. Not collective. */
PETSC_EXTERN PetscBool HendersonFileExists(const char path[]);
/* Appends T to the string S of N bytes, truncating (strlcat): PETSc 3.18's PetscStrlcat() appends up to
   N - strlen(T) bytes, which cuts short a T nearly as long as S's room and overruns S when S is nearly full.
   Not collective. */
PETSC_EXTERN PetscErrorCode HendersonStrlcat(char s[], const char t[], size_t n);
/* A 64-bit hash of Z (splitmix64): the random numbers that depend only on their key (the same on any
   number of ranks) are made from it. Not collective. */
PETSC_EXTERN uint64_t HendersonHash64(uint64_t z);
/* A number in [-1, 1) that depends only on KEY. Not collective. */
PETSC_EXTERN PetscReal HendersonKeyedUniform(uint64_t key);
/* A standard normal number that depends only on its key (seed, sample, stream, index, component): the same
   whichever rank draws it. Box-Muller on two hashed uniforms. Not collective. */
PETSC_EXTERN PetscReal HendersonKeyedNormal(uint64_t seed, uint64_t sample, uint64_t stream, uint64_t index, uint64_t component);
/* Not collective. Rank RANK's even share LO..HI-1 of N items over SIZE ranks (the first ranks get the
   fewer when N is not a multiple). */
static inline void HendersonEvenShare(PetscInt64 n, PetscMPIInt rank, PetscMPIInt size, PetscInt *lo, PetscInt *hi)
{
  *lo = (PetscInt)(n * rank / size);
  *hi = (PetscInt)(n * (rank + 1) / size);
}
/* Not collective. *ARRAY, of *ROOM items of UNIT bytes (*ROOM 0 and *ARRAY NULL at first), grown to hold NEED
   items, its contents kept; at least doubled, so that arrays filled an item at a time are copied O(1) times. */
PETSC_EXTERN PetscErrorCode HendersonGrow(size_t unit, PetscInt need, PetscInt *room, void *array);
/* Collective. The exchange of "counts, then MPI_Alltoallv": SEND_N[p] items of TYPE (UNIT bytes each) from
   item SEND_AT[p] of SEND go to rank p. RECV_N[p] and RECV_AT[p] (arrays of the communicator's size) get
   how many came from rank p and where they lie in *RECV (PetscFree() it), in rank order; *NRECV all of
   them. WHAT names the items in the error for more than 2^31 on one rank. */
PETSC_EXTERN PetscErrorCode HendersonExchange(MPI_Comm comm, MPI_Datatype type, size_t unit, const PetscMPIInt send_n[], const PetscMPIInt send_at[],
                                              const void *send, PetscMPIInt recv_n[], PetscMPIInt recv_at[], void **recv, PetscCount *nrecv, const char what[]);
/* 64 random bits (the system's random source, else the clock and the process ID): names of temporary
   files that no other run uses. Not collective. */
PETSC_EXTERN uint64_t HendersonRandomToken(void);
/* Wall-clock seconds since an arbitrary origin (MPI_Wtime). Not collective. */
PETSC_EXTERN double HendersonSeconds(void);
/* Peak resident memory of this process in bytes (getrusage). Not collective. */
/* Not collective. Hands the memory that free() keeps in the C library's heap back to the system (glibc's
   malloc_trim(); nothing elsewhere): a phase's freed arrays (about 1.1 GiB on rank 0 after the pedigree
   phase at 10^7 animals) would otherwise stay resident while the next phase maps new ones. */
PETSC_EXTERN PetscErrorCode HendersonReleaseFreeMemory(void);
PETSC_EXTERN PetscErrorCode HendersonPeakMemory(PetscLogDouble *bytes);
/* Parses a whole string in decimal notation ([+-]digits[.digits][e[+-]digits]) as a finite real;
   *PROBLEM is NULL, or says what is wrong ("is not a number": 0x10, inf, nan, 1,5; "is out of range":
   1e400). Not collective. */
PETSC_EXTERN PetscErrorCode HendersonParseNumber(const char text[], PetscReal *value, const char **problem);
/* The same, *ok false for anything else. Not collective. */
PETSC_EXTERN PetscErrorCode HendersonParseReal(const char text[], PetscReal *value, PetscBool *ok);
/* True for the codes that mean "unknown" or "missing": NA and '.' (and "0" when zero_is_missing). */
PETSC_EXTERN PetscBool HendersonIsMissing(const char text[], PetscBool zero_is_missing);

/* Collective. An error naming every option given that no object has read (a typing error: -ksp_rtoll);
   call it once every object of the run has read its options, before any work. Options PETSc reads at
   initialisation, finalisation or when it views an object (-log_view, -ksp_view, ...) and MUMPS' own
   (-mat_mumps_icntl_N, read when it factors) are not counted. */
PETSC_EXTERN PetscErrorCode HendersonOptionsCheckUnused(MPI_Comm comm);

#endif
