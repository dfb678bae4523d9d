#include <henderson/error.h>
#include <string.h>

/* The first message of the current error on this rank, kept by the handler. */
static char      error_message[8192];
static PetscBool error_kept = PETSC_FALSE;
/* Set when this rank returned an error only because another rank failed. */
static PetscBool error_from_peer = PETSC_FALSE;

static PetscErrorCode HendersonErrorHandler(MPI_Comm comm, int line, const char *func, const char *file, PetscErrorCode code, PetscErrorType type,
                                            const char *message, void *ctx)
{
  if (type != PETSC_ERROR_INITIAL || error_kept) return code;
  error_kept = PETSC_TRUE;
  if (code == PETSC_ERR_USER_INPUT || code == PETSC_ERR_FILE_OPEN || code == PETSC_ERR_FILE_READ) {
    snprintf(error_message, sizeof(error_message), "%s", message ? message : "");
  } else {
    /* Not the user's fault: say where, for the bug report. */
    const char *text = NULL;
    PetscErrorMessage(code, &text, NULL);
    snprintf(error_message, sizeof(error_message), "%s%s%s (PETSc error %d in %s() at %s:%d)", text ? text : "internal error",
             message && message[0] ? ": " : "", message ? message : "", (int)code, func ? func : "?", file ? file : "?", line);
  }
  return code;
}

PetscErrorCode HendersonErrorInitialize(void)
{
  PetscFunctionBeginUser;
  PetscCall(PetscPushErrorHandler(HendersonErrorHandler, NULL));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode HendersonErrorFinalize(void)
{
  PetscFunctionBeginUser;
  PetscCall(PetscPopErrorHandler());
  PetscFunctionReturn(PETSC_SUCCESS);
}

const char *HendersonErrorMessage(void)
{
  return error_kept ? error_message : "";
}

void HendersonErrorClear(void)
{
  error_kept       = PETSC_FALSE;
  error_from_peer  = PETSC_FALSE;
  error_message[0] = 0;
}

PetscErrorCode HendersonAgree(MPI_Comm comm, PetscErrorCode local)
{
  int failed = local != PETSC_SUCCESS, any;

  /* No PetscFunctionBeginUser: this must run even when LOCAL is an error, and must not add to it. */
  if (MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS) return PETSC_ERR_MPI;
  if (!any) return PETSC_SUCCESS;
  if (failed) return local;
  /* Another rank failed; its message is the one to print. */
  error_from_peer = PETSC_TRUE;
  return PETSC_ERR_USER_INPUT;
}

PetscErrorCode HendersonErrorReport(MPI_Comm comm, PetscErrorCode code, PetscBool *failed)
{
  PetscMPIInt rank, size, mine, lowest;

  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  /* A rank that learned of the error from another one has nothing of its own to say. */
  mine = (code != PETSC_SUCCESS && error_kept && !error_from_peer) ? rank : size;
  MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, comm);
  if (lowest == size) {
    /* No failing rank kept a message: report from the lowest failing one. */
    mine = code != PETSC_SUCCESS ? rank : size;
    MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, comm);
  }
  *failed = lowest < size ? PETSC_TRUE : PETSC_FALSE;
  if (*failed && rank == lowest) {
    fprintf(stderr, "henderson: error: %s\n", error_kept ? error_message : "unknown error");
    fflush(stderr);
  }
  return PETSC_SUCCESS;
}
