#include <henderson/error.h>
#include <string.h>
#include <time.h>

/* The first message of the current error on this rank, kept by the handler, and where it arose. */
static char      error_message[8192], error_detail[1024];
static PetscBool error_kept = PETSC_FALSE;
/* Set when this rank returned an error only because another rank failed. */
static PetscBool error_from_peer = PETSC_FALSE;
/* -henderson_error_wait */
static PetscReal error_wait = 10;
/* The report's own communicator: a rank that failed alone may call it while the others wait in a
   collective call of their own, which must not be matched with the report's. */
static MPI_Comm error_comm = MPI_COMM_NULL;

/* The user's line says what went wrong in the user's terms; where in the code (PETSc's error number,
   function, file and line) is kept apart, for a second line that only errors of the program itself
   print (a bug report needs it; a missing file does not). */
static PetscErrorCode HendersonErrorHandler(MPI_Comm comm, int line, const char *func, const char *file, PetscErrorCode code, PetscErrorType type,
                                            const char *message, void *ctx)
{
  const PetscBool user = code == PETSC_ERR_USER_INPUT || code == PETSC_ERR_FILE_OPEN || code == PETSC_ERR_FILE_READ || code == PETSC_ERR_FILE_WRITE ||
                                 code == PETSC_ERR_FILE_UNEXPECTED || code == PETSC_ERR_MEM
                             ? PETSC_TRUE
                             : PETSC_FALSE;

  if (type != PETSC_ERROR_INITIAL || error_kept) return code;
  error_kept = PETSC_TRUE;
  if (code == PETSC_ERR_MEM && !(message && message[0])) message = "out of memory";
  if (user) {
    snprintf(error_message, sizeof(error_message), "%s", message ? message : "");
    error_detail[0] = 0;
  } else {
    const char *text = NULL;
    PetscErrorMessage(code, &text, NULL);
    snprintf(error_message, sizeof(error_message), "%s%s%s", message && message[0] ? message : "",
             message && message[0] ? "" : (text ? text : "internal error"), "");
    snprintf(error_detail, sizeof(error_detail), "PETSc error %d (%s) in %s() at %s:%d; please report it with the command line", (int)code, text ? text : "?",
             func ? func : "?", file ? file : "?", line);
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

PetscErrorCode HendersonErrorSetFromOptions(MPI_Comm comm)
{
  PetscBool huge = PETSC_FALSE;

  PetscFunctionBeginUser;
  PetscOptionsBegin(comm, NULL, "Errors and memory", NULL);
  PetscCall(PetscOptionsReal("-henderson_error_wait", "Seconds a rank that failed alone waits for the others before it ends the job",
                             "HendersonErrorSetFromOptions", error_wait, &error_wait, NULL));
  /* read before PetscInitialize() by HendersonMallocHugePages(); here for -help and the unused-option check */
  PetscCall(
      PetscOptionsBool("-henderson_huge_pages",
                       "Blocks of 8 MiB and more on 2 MiB boundaries, advised as transparent huge pages (the solve a few per cent faster, the set-up slower)",
                       "HendersonMallocHugePages", huge, &huge, NULL));
  PetscOptionsEnd();
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
  error_detail[0]  = 0;
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
  if (error_kept && error_detail[0]) fprintf(stderr, "henderson: (internal: %s)\n", error_detail);
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
  PetscReal   wait    = error_wait;
  PetscBool   failing = code != PETSC_SUCCESS ? PETSC_TRUE : PETSC_FALSE;

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
