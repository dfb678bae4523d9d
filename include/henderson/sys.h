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

/* PETSc 3.19 names the success code; 3.18 (Debian 12) returns a plain 0. */
#if !defined(PETSC_SUCCESS)
#define PETSC_SUCCESS 0
#endif

#define HENDERSON_MAX_PATH 4096

/* Joins DIR (may be empty) and a PATH relative to it; an absolute PATH is kept as it is. Not collective. */
PETSC_EXTERN PetscErrorCode HendersonPathJoin(const char dir[], const char path[], char joined[], size_t size);
/* The directory part of PATH ("." when it has none). Not collective. */
PETSC_EXTERN PetscErrorCode HendersonPathDirectory(const char path[], char dir[], size_t size);
/* Wall-clock seconds since an arbitrary origin (MPI_Wtime). Not collective. */
PETSC_EXTERN double HendersonSeconds(void);
/* Peak resident memory of this process in bytes (getrusage). Not collective. */
PETSC_EXTERN PetscErrorCode HendersonPeakMemory(PetscLogDouble *bytes);
/* Parses a whole string as a finite real; *ok is false for anything else. Not collective. */
PETSC_EXTERN PetscErrorCode HendersonParseReal(const char text[], PetscReal *value, PetscBool *ok);
/* True for the codes that mean "unknown" or "missing": NA and '.' (and "0" when zero_is_missing). */
PETSC_EXTERN PetscBool HendersonIsMissing(const char text[], PetscBool zero_is_missing);

#endif
