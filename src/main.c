/* henderson: best linear unbiased prediction for animal breeding, on MPI with PETSc.

     mpirun -n P henderson solve MODEL_FILE [PETSc options]
     henderson export FILE.h5 EFFECT
     mpirun -n P henderson pedigree PEDIGREE_FILE

   The stages of a solve, in order, are those of evaluation.h: model -> data -> pedigree ->
   numbering -> assembly -> PCG -> HDF5. This file only reads the command line. */
#include <henderson/henderson.h>
#include <signal.h>
#include <string.h>

static const char help[] = "henderson: genetic evaluation by BLUP (mixed model equations, PCG on PETSc)\n"
                           "usage: mpirun -n P henderson solve MODEL_FILE [--restart] [--initial EARLIER.h5] [--pev exact] [PETSc options]\n"
                           "       henderson export FILE.h5 EFFECT\n"
                           "       henderson pedigree PEDIGREE_FILE   (check it; animals, founders, generations, inbreeding)\n"
                           "       henderson --version\n";

/* Exit codes: 0 success, 1 error (message on stderr), 2 solved but not converged (solutions written). */
enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_NOT_CONVERGED = 2 };

/* The evaluation is left to the caller to destroy: after an error, only once every rank has learned
   of it (a rank that failed alone must not wait in a collective destruction). */
static PetscErrorCode CommandSolve(const char model_path[], Evaluation *ev, PetscBool *converged)
{
  SolverResult result;
  PetscBool    quiet = PETSC_FALSE;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-henderson_quiet", &quiet, NULL));
  if (!quiet) PetscCall(PetscOptionsGetBool(NULL, NULL, "-quiet", &quiet, NULL)); /* no progress lines, no summary */
  PetscCall(EvaluationCreate(PETSC_COMM_WORLD, ev));
  PetscCall(EvaluationRun(*ev, model_path));
  if (!quiet) PetscCall(EvaluationView(*ev, PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(EvaluationGetSolverResult(*ev, &result));
  *converged = result.converged;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CommandExport(const char path[], const char name[])
{
  PetscMPIInt rank;
  PetscInt    nlevels, ntraits;
  char      **labels;
  PetscReal  *values;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank) PetscFunctionReturn(PETSC_SUCCESS);
  /* "henderson export ... | head" closes the pipe early: end quietly, as text tools do */
  PetscCall(PetscPopSignalHandler());
  signal(SIGPIPE, SIG_DFL);
  PetscCall(OutputReadEffect(path, name, &nlevels, &ntraits, &labels, &values, NULL));
  for (PetscInt l = 0; l < nlevels; l++) {
    fputs(labels[l], stdout);
    for (PetscInt t = 0; t < ntraits; t++) printf(" %.10g", (double)values[l * ntraits + t]);
    putchar('\n');
  }
  fflush(stdout);
  PetscCall(PetscFree(labels));
  PetscCall(PetscFree(values));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Reads and checks a pedigree, computes inbreeding, prints the statistics. */
static PetscErrorCode CommandPedigree(const char path[])
{
  Pedigree       pedigree = NULL;
  double         start    = HendersonSeconds();
  PetscErrorCode ierr;

  PetscFunctionBeginUser;
  PetscCall(PedigreeCreate(PETSC_COMM_WORLD, &pedigree));
  ierr = PedigreeLoad(pedigree, path);
  if (!ierr) ierr = PedigreeSetUp(pedigree);
  if (!ierr) ierr = PedigreeView(pedigree, PETSC_VIEWER_STDOUT_WORLD);
  if (!ierr) ierr = PetscPrintf(PETSC_COMM_WORLD, "  seconds       %.3f\n", HendersonSeconds() - start);
  PetscCall(PedigreeDestroy(&pedigree));
  PetscCall(ierr);
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr   = PETSC_SUCCESS;
  PetscBool      failed = PETSC_FALSE, converged = PETSC_TRUE;
  int            exit_code = EXIT_OK;
  Evaluation     ev        = NULL;

  /* the two options of a production run, also in the long form of most programs */
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--restart")) argv[i] = (char *)"-restart";
    if (!strcmp(argv[i], "--initial")) argv[i] = (char *)"-initial";
    if (!strcmp(argv[i], "--pev")) argv[i] = (char *)"-pev";
  }
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(HendersonErrorInitialize());
  if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "henderson %s\n", HendersonVersion()));
  } else if (argc >= 3 && !strcmp(argv[1], "solve") && argv[2][0] != '-') {
    ierr = CommandSolve(argv[2], &ev, &converged);
  } else if (argc >= 3 && !strcmp(argv[1], "pedigree") && argv[2][0] != '-') {
    ierr = CommandPedigree(argv[2]);
  } else if (argc >= 4 && !strcmp(argv[1], "export")) {
    ierr = CommandExport(argv[2], argv[3]);
  } else {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s", help));
    exit_code = (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))) ? EXIT_OK : EXIT_ERROR;
  }
  PetscCall(HendersonErrorReport(PETSC_COMM_WORLD, ierr, &failed));
  PetscCall(EvaluationDestroy(&ev));
  if (failed)
    exit_code = EXIT_ERROR;
  else if (!converged) {
    PetscCall(PetscFPrintf(PETSC_COMM_WORLD, PETSC_STDERR, "henderson: warning: the solver did not converge; solutions were written anyway\n"));
    exit_code = EXIT_NOT_CONVERGED;
  }
  PetscCall(HendersonErrorFinalize());
  PetscCall(PetscFinalize());
  return exit_code;
}
