/* henderson: best linear unbiased prediction for animal breeding, on MPI with PETSc.

     mpirun -n P henderson solve MODEL_FILE [PETSc options]
     mpirun -n P henderson reml MODEL_FILE [options]
     henderson export FILE.h5 EFFECT [DATASET]
     mpirun -n P henderson pedigree PEDIGREE_FILE

   The stages of a solve, in order, are those of evaluation.h: model -> data -> pedigree ->
   numbering -> assembly -> PCG -> HDF5. This file only reads the command line. */
#include <henderson/henderson.h>
#include <signal.h>
#include <string.h>

static const char help[] = "henderson: genetic evaluation by BLUP (mixed model equations, PCG on PETSc)\n"
                           "usage: mpirun -n P henderson solve MODEL_FILE [--restart] [--initial EARLIER.h5] [--pev exact|sample] [PETSc options]\n"
                           "       mpirun -n P henderson reml MODEL_FILE [-reml_method ai|em|mcem] [-reml_max_it N] [-reml_tol T] [--pev exact|sample]\n"
                           "       henderson export FILE.h5 EFFECT [value|pev|sep|reliability|inbreeding]\n"
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

/* REML: the (co)variances of the model file are the starting values; the solutions at the estimates
   are written with /variance, and a copy of the model file with the estimates next to it. */
static PetscErrorCode CommandREML(const char model_path[], Evaluation *ev, REML *reml, PetscBool *converged)
{
  PetscBool quiet = PETSC_FALSE, set;
  Model     model;
  char      copy[HENDERSON_MAX_PATH + 16], note[256];
  size_t    length;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-quiet", &quiet, NULL));
  PetscCall(PetscOptionsHasName(NULL, NULL, "-mme_operator", &set));
  {
    char method[16] = "ai";
    PetscCall(PetscOptionsGetString(NULL, NULL, "-reml_method", method, sizeof(method), NULL));
    if (!set && strcmp(method, "mcem")) PetscCall(PetscOptionsSetValue(NULL, "-mme_operator", "assembled")); /* the factorisation needs the entries */
  }
  PetscCall(EvaluationCreate(PETSC_COMM_WORLD, ev));
  PetscCall(EvaluationLoadModel(*ev, model_path));
  PetscCall(EvaluationRead(*ev));
  PetscCall(EvaluationPedigree(*ev));
  PetscCall(EvaluationNumber(*ev));
  PetscCall(EvaluationAssemble(*ev));
  PetscCall(REMLCreate(PETSC_COMM_WORLD, reml));
  PetscCall(REMLSetFromOptions(*reml));
  PetscCall(REMLRun(*reml, *ev));
  PetscCall(REMLGetConverged(*reml, converged));
  /* the solutions at the estimates, by the usual solver */
  PetscCall(EvaluationReassemble(*ev));
  PetscCall(EvaluationSolve(*ev));
  PetscCall(EvaluationPEV(*ev));
  PetscCall(EvaluationSetWriteHook(*ev, REMLWriteOutput, *reml));
  PetscCall(EvaluationWrite(*ev, NULL));
  PetscCall(EvaluationGetModel(*ev, &model));
  length = strlen(model_path);
  if (length > 4 && !strcmp(model_path + length - 4, ".txt")) length -= 4;
  snprintf(copy, sizeof(copy), "%.*s.reml.txt", (int)length, model_path);
  snprintf(note, sizeof(note), "henderson %s reml: the (co)variances estimated from %s (%s)", HendersonVersion(), model_path,
           *converged ? "converged" : "NOT converged");
  PetscCall(ModelWriteWithVariances(model, copy, note));
  if (!quiet) {
    PetscCall(EvaluationView(*ev, PETSC_VIEWER_STDOUT_WORLD));
    PetscCall(REMLView(*reml, PETSC_VIEWER_STDOUT_WORLD));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  model       %s: the model file with the estimates\n", copy));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CommandExport(const char path[], const char name[], const char dataset[])
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
  if (dataset && strcmp(dataset, "value")) { /* another per-level dataset: pev, sep, reliability, inbreeding */
    PetscInt rows;
    PetscCall(PetscFree(values));
    PetscCall(OutputReadEffectDataset(path, name, dataset, &rows, &ntraits, &values));
    PetscCheck(rows == nlevels, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: /solutions/%s/%s has %" PetscInt_FMT " rows for %" PetscInt_FMT " levels", path, name,
               dataset, rows, nlevels);
  }
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
  REML           reml      = NULL;

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
  } else if (argc >= 3 && !strcmp(argv[1], "reml") && argv[2][0] != '-') {
    ierr = CommandREML(argv[2], &ev, &reml, &converged);
  } else if (argc >= 3 && !strcmp(argv[1], "pedigree") && argv[2][0] != '-') {
    ierr = CommandPedigree(argv[2]);
  } else if (argc >= 4 && !strcmp(argv[1], "export")) {
    ierr = CommandExport(argv[2], argv[3], argc >= 5 && argv[4][0] != '-' ? argv[4] : NULL);
  } else {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s", help));
    exit_code = (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))) ? EXIT_OK : EXIT_ERROR;
  }
  PetscCall(HendersonErrorReport(PETSC_COMM_WORLD, ierr, &failed));
  PetscCall(EvaluationDestroy(&ev));
  if (failed)
    exit_code = EXIT_ERROR;
  else if (!converged) {
    PetscCall(PetscFPrintf(PETSC_COMM_WORLD, PETSC_STDERR, "henderson: warning: %s did not converge; %s written anyway\n", reml ? "REML" : "the solver",
                           reml ? "the estimates of the last round were" : "solutions were"));
    exit_code = EXIT_NOT_CONVERGED;
  }
  PetscCall(REMLDestroy(&reml));
  PetscCall(HendersonErrorFinalize());
  PetscCall(PetscFinalize());
  return exit_code;
}
