/* henderson/error.h -- one clean line per user error, from exactly one rank, and no hangs.

   Every function returns PetscErrorCode and checks bad input with
     PetscCheck(cond, comm, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": what is wrong", file, line);
   The handler installed here keeps the first message of an error instead of printing a traceback.

   A phase in which ranks may fail on their own (each parses its own part of a file) ends with
   HendersonAgree(): every rank learns that some rank failed and returns an error, so no rank is
   left waiting in a later collective call. At the end, HendersonErrorReport() prints the message
   of the lowest failing rank as "henderson: error: MESSAGE". */
#ifndef HENDERSON_ERROR_H
#define HENDERSON_ERROR_H

#include <henderson/sys.h>

/* Installs the message-keeping error handler. Not collective; call after PetscInitialize(). */
PETSC_EXTERN PetscErrorCode HendersonErrorInitialize(void);
/* Collective. Reads -henderson_error_wait (seconds, 10). */
PETSC_EXTERN PetscErrorCode HendersonErrorSetFromOptions(MPI_Comm comm);
/* Removes it again. Not collective. */
PETSC_EXTERN PetscErrorCode HendersonErrorFinalize(void);
/* Collective. LOCAL is this rank's result of a phase; returns an error on every rank if any rank failed. */
PETSC_EXTERN PetscErrorCode HendersonAgree(MPI_Comm comm, PetscErrorCode local);
/* Collective. Prints the kept message of the lowest rank whose CODE is nonzero, once, on stderr.
   Returns (in *failed) whether any rank failed. A rank that failed alone, while the others wait in a
   collective call (an error inside the solver on one rank), would wait for ever: after
   -henderson_error_wait seconds (10) it prints its message and ends the job with MPI_Abort(). */
PETSC_EXTERN PetscErrorCode HendersonErrorReport(MPI_Comm comm, PetscErrorCode code, PetscBool *failed);
/* The message kept from this rank's last error ("" when none). Not collective. */
PETSC_EXTERN const char *HendersonErrorMessage(void);
/* Forgets the kept message (tests that provoke errors on purpose call this). Not collective. */
PETSC_EXTERN void HendersonErrorClear(void);

#endif
