#include <henderson/error.h>
#include <string.h>
#include <time.h>

/* The first message of the current error on this rank, kept by the handler. */
static char      error_message[8192];
static PetscBool error_kept = PETSC_FALSE;
/* Set when this rank returned an error only because another rank failed. */
static PetscBool error_from_peer = PETSC_FALSE;
/* The report's own communicator: a rank that failed alone may call it while the others wait in a
   collective call of their own, which must not be matched with the report's. */
static MPI_Comm error_comm = MPI_COMM_NULL;

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
  if (error_comm == MPI_COMM_NULL) PetscCallMPI(MPI_Comm_dup(PETSC_COMM_WORLD, &error_comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode HendersonErrorFinalize(void)
{
  PetscFunctionBeginUser;
  PetscCall(PetscPopErrorHandler());
  if (error_comm != MPI_COMM_NULL) PetscCallMPI(MPI_Comm_free(&error_comm));
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

static void PrintError(void)
{
  fprintf(stderr, "henderson: error: %s\n", error_kept ? error_message : "unknown error");
  fflush(stderr);
}

/* The smallest MINE over the ranks. A rank that failed waits at most WAIT seconds for the others:
   if they do not come, they are held in a collective call of a phase in which this rank failed alone
   (inside the solver, say), and would wait for ever; it then prints its message and ends the job. */
static int ReportMin(int mine, PetscBool failing, double wait)
{
  MPI_Request request;
  int         lowest = mine, done = 0;
  double      start = MPI_Wtime();

  if (MPI_Iallreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, error_comm, &request) != MPI_SUCCESS) return mine;
  while (!done) {
    if (MPI_Test(&request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
    if (done) break;
    if (failing && MPI_Wtime() - start > wait) {
      PrintError();
      fprintf(stderr, "henderson: the other ranks did not learn of the error within %g s; ending the job\n", wait);
      fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    nanosleep(&(struct timespec){0, 1000000}, NULL); /* a millisecond between tests */
  }
  return lowest;
}

PetscErrorCode HendersonErrorReport(MPI_Comm comm, PetscErrorCode code, PetscBool *failed)
{
  PetscMPIInt rank, size, mine, lowest;
  PetscReal   wait    = 10;
  PetscBool   failing = code != PETSC_SUCCESS ? PETSC_TRUE : PETSC_FALSE;

  (void)PetscOptionsGetReal(NULL, NULL, "-henderson_error_wait", &wait, NULL);
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  /* A rank that learned of the error from another one has nothing of its own to say. */
  mine   = (failing && error_kept && !error_from_peer) ? rank : size;
  lowest = ReportMin(mine, failing, (double)wait);
  if (lowest == size) {
    /* No failing rank kept a message: report from the lowest failing one. */
    mine   = failing ? rank : size;
    lowest = ReportMin(mine, failing, (double)wait);
  }
  *failed = lowest < size ? PETSC_TRUE : PETSC_FALSE;
  if (*failed && rank == lowest) PrintError();
  return PETSC_SUCCESS;
}
