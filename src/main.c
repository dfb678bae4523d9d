/* henderson: best linear unbiased prediction for animal breeding, on MPI with PETSc.

     mpirun -n P henderson solve MODEL_FILE [PETSc options]
     mpirun -n P henderson reml MODEL_FILE [options]
     henderson export FILE.h5 [EFFECT [DATASET]]
     mpirun -n P henderson pedigree PEDIGREE_FILE

   The stages of a solve, in order, are those of evaluation.h: model -> data -> pedigree ->
   numbering -> assembly -> PCG -> HDF5. This file reads the command line: the command, its
   arguments, and -- before any work -- that every option given is one something reads. */
#include <henderson/henderson.h>
#include <henderson/export.h>
#include <signal.h>
#include <string.h>

static const char help[] =
    "henderson: genetic evaluation by BLUP (mixed model equations, PCG on PETSc)\n"
    "usage: mpirun -n P henderson solve MODEL_FILE [--restart] [--initial EARLIER.h5] [--pev exact|sample|approximate] [options]\n"
    "       mpirun -n P henderson reml MODEL_FILE [-reml_method ai|em|mcem|mcai] [-reml_max_it N] [-reml_tol T] [--pev exact|sample|approximate]\n"
    "       henderson export FILE.h5 [EFFECT [value|pev|sep|reliability|inbreeding]] [-export_order file|level|label]\n"
    "       henderson pedigree PEDIGREE_FILE   (check it; animals, founders, generations, inbreeding)\n"
    "       henderson --version\n"
    "       henderson COMMAND -help   (the options of a command, then exit)\n";

/* Exit codes: 0 success, 1 error (message on stderr), 2 solved but not converged (solutions written). */
enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_NOT_CONVERGED = 2 };

/* The long forms of most programs for the options of a production run. */
static void LongOptions(int argc, char **argv)
{
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--restart")) argv[i] = (char *)"-restart";
    if (!strcmp(argv[i], "--initial")) argv[i] = (char *)"-initial";
    if (!strcmp(argv[i], "--pev")) argv[i] = (char *)"-pev";
    if (!strcmp(argv[i], "--quiet")) argv[i] = (char *)"-quiet";
    if (!strcmp(argv[i], "--help") && i > 1) argv[i] = (char *)"-help"; /* henderson solve --help; henderson --help is ours */
  }
}

/* An option name as PETSc reads one: -letter..., not a negative number. */
static PetscBool IsOptionName(const char arg[])
{
  return arg[0] == '-' && arg[1] && !(arg[1] >= '0' && arg[1] <= '9') && arg[1] != '.' ? PETSC_TRUE : PETSC_FALSE;
}

/* After the command's NPOSITIONAL arguments (argv[2] ...), every word must be an option or an option's
   value: PETSc would silently skip any other (a second model file, a misplaced word). */
static PetscErrorCode CheckArguments(int argc, char **argv, int npositional)
{
  PetscFunctionBeginUser;
  for (int i = 2; i < argc && i < 2 + npositional; i++)
    PetscCheck(!IsOptionName(argv[i]), PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "henderson %s: expected %d argument%s before the options, found the option %s",
               argv[1], npositional, npositional == 1 ? "" : "s", argv[i]);
  for (int i = 2 + npositional; i < argc; i++) {
    PetscCheck(IsOptionName(argv[i]), PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT,
               "henderson %s: unexpected argument '%s' (options start with -; see henderson %s -help)", argv[1], argv[i], argv[1]);
    if (i + 1 < argc && !IsOptionName(argv[i + 1])) i++; /* its value */
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The evaluation is left to the caller to destroy: after an error, only once every rank has learned
   of it (a rank that failed alone must not wait in a collective destruction). */
static PetscErrorCode CommandSolve(const char model_path[], Evaluation *ev, PetscBool *converged)
{
  PetscBool quiet;

  PetscFunctionBeginUser;
  PetscCall(EvaluationCreate(PETSC_COMM_WORLD, ev));
  PetscCall(EvaluationSetFromOptions(*ev));
  PetscCall(EvaluationLoadModel(*ev, model_path));
  PetscCall(HendersonOptionsCheckUnused(PETSC_COMM_WORLD)); /* the relationships' options are read with the model */
  PetscCall(EvaluationRead(*ev));
  PetscCall(EvaluationPedigree(*ev));
  PetscCall(EvaluationNumber(*ev));
  PetscCall(EvaluationAssemble(*ev));
  PetscCall(EvaluationSolve(*ev));
  PetscCall(EvaluationPEV(*ev));
  PetscCall(EvaluationWrite(*ev, NULL));
  PetscCall(EvaluationIsQuiet(*ev, &quiet));
  if (!quiet) PetscCall(EvaluationView(*ev, PETSC_VIEWER_STDOUT_WORLD));
  PetscCall(EvaluationGetConverged(*ev, converged));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* MODEL.reml.txt beside MODEL.txt (MODEL_FILE.reml.txt for other names). */
static PetscErrorCode REMLModelCopyPath(const char model_path[], char copy[], size_t size)
{
  size_t length = strlen(model_path);

  PetscFunctionBeginUser;
  if (length > 4 && !strcmp(model_path + length - 4, ".txt")) length -= 4;
  PetscCheck(snprintf(copy, size, "%.*s.reml.txt", (int)length, model_path) < (int)size, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "%s: path too long",
             model_path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. What is at COPY may be replaced only if an earlier `henderson reml` wrote it (its first line
   says so): anything else there is the user's, and is left alone. */
static PetscErrorCode CheckREMLCopy(const char copy[])
{
  PetscMPIInt    rank;
  PetscErrorCode ierr = PETSC_SUCCESS;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (rank == 0 && HendersonFileExists(copy)) {
    FILE *fp        = NULL;
    char  first[64] = "";
    ierr            = HendersonOpenRegular(copy, "the model file with the estimates", &fp);
    if (!ierr && (!fgets(first, sizeof(first), fp) || strncmp(first, "# henderson ", 12)))
      ierr = PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, PETSC_ERR_USER_INPUT, PETSC_ERROR_INITIAL,
                        "%s: exists and was not written by henderson reml; it is left alone (move it away)", copy);
    if (fp) fclose(fp);
  }
  PetscCall(HendersonAgree(PETSC_COMM_WORLD, ierr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* REML: the (co)variances of the model file are the starting values; the solutions at the estimates
   are written with /variance, and a copy of the model file with the estimates next to it. */
static PetscErrorCode CommandREML(const char model_path[], Evaluation *ev, REML *reml, PetscBool *converged)
{
  Model      model;
  REMLMethod method;
  char       copy[HENDERSON_MAX_PATH + 16], note[256];
  PetscBool  quiet;

  PetscFunctionBeginUser;
  PetscCall(REMLCreate(PETSC_COMM_WORLD, reml));
  PetscCall(REMLSetFromOptions(*reml));
  PetscCall(EvaluationCreate(PETSC_COMM_WORLD, ev));
  PetscCall(EvaluationSetFromOptions(*ev));
  PetscCall(REMLGetMethod(*reml, &method));
  if (method != REML_METHOD_MCEM) PetscCall(EvaluationRequireEntries(*ev)); /* AI and EM factor C */
  PetscCall(EvaluationLoadModel(*ev, model_path));
  PetscCall(HendersonOptionsCheckUnused(PETSC_COMM_WORLD)); /* the relationships' options are read with the model */
  PetscCall(REMLModelCopyPath(model_path, copy, sizeof(copy)));
  PetscCall(EvaluationCheckOutputPath(*ev, copy, "model file with the estimates"));
  PetscCall(CheckREMLCopy(copy));
  PetscCall(EvaluationRead(*ev));
  PetscCall(EvaluationPedigree(*ev));
  PetscCall(EvaluationNumber(*ev));
  PetscCall(EvaluationAssemble(*ev));
  PetscCall(REMLRun(*reml, *ev));
  PetscCall(REMLGetConverged(*reml, converged));
  /* the solutions at the estimates, by the usual solver */
  PetscCall(EvaluationReassemble(*ev));
  PetscCall(EvaluationSolve(*ev));
  PetscCall(EvaluationPEV(*ev));
  PetscCall(EvaluationSetWriteHook(*ev, REMLWriteOutput, *reml));
  PetscCall(EvaluationWrite(*ev, NULL));
  PetscCall(EvaluationGetModel(*ev, &model));
  snprintf(note, sizeof(note), "henderson %s reml: the (co)variances estimated from %s (%s)", HendersonVersion(), model_path,
           *converged ? "converged" : "NOT converged");
  PetscCall(ModelWriteWithVariances(model, copy, note));
  PetscCall(EvaluationIsQuiet(*ev, &quiet));
  if (!quiet) {
    PetscCall(EvaluationView(*ev, PETSC_VIEWER_STDOUT_WORLD));
    PetscCall(REMLView(*reml, PETSC_VIEWER_STDOUT_WORLD));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  model       %s: the model file with the estimates\n", copy));
  }
  {
    PetscBool solved;
    PetscCall(EvaluationGetConverged(*ev, &solved));
    *converged = (PetscBool)(*converged && solved);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CommandExport(int argc, char **argv)
{
  PetscMPIInt rank;
  Export export;
  int npositional = 1;

  PetscFunctionBeginUser;
  while (2 + npositional < argc && npositional < 3 && !IsOptionName(argv[2 + npositional])) npositional++;
  PetscCall(CheckArguments(argc, argv, npositional));
  PetscCall(ExportCreate(PETSC_COMM_WORLD, &export));
  PetscCall(ExportSetFromOptions(export));
  PetscCall(HendersonOptionsCheckUnused(PETSC_COMM_WORLD));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  if (!rank) {
    /* "henderson export ... | head" closes the pipe early: end quietly, as text tools do */
    PetscCall(PetscPopSignalHandler());
    signal(SIGPIPE, SIG_DFL);
    PetscCall(ExportWrite(export, argv[2], npositional > 1 ? argv[3] : NULL, npositional > 2 ? argv[4] : NULL, stdout));
  }
  PetscCall(ExportDestroy(&export));
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
  ierr = PedigreeSetFromOptions(pedigree);
  if (!ierr) ierr = HendersonLogSetFromOptions(PETSC_COMM_WORLD);
  if (!ierr) ierr = HendersonOptionsCheckUnused(PETSC_COMM_WORLD);
  if (!ierr) ierr = PedigreeSetRootLabels(pedigree, PETSC_FALSE); /* nothing here looks IDs up */
  if (!ierr) ierr = PedigreeLoad(pedigree, path);
  if (!ierr) ierr = PedigreeSetUp(pedigree);
  if (!ierr) ierr = PedigreeView(pedigree, PETSC_VIEWER_STDOUT_WORLD);
  if (!ierr) ierr = PetscPrintf(PETSC_COMM_WORLD, "  seconds       %.3f\n", HendersonSeconds() - start);
  PetscCall(PedigreeDestroy(&pedigree));
  PetscCall(ierr);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* -help: what COMMAND reads, listed by PETSc as every object reads its options; no work is done. */
static PetscErrorCode CommandHelp(const char command[])
{
  PetscFunctionBeginUser;
  if (!strcmp(command, "solve") || !strcmp(command, "reml")) {
    Evaluation ev;
    if (!strcmp(command, "reml")) {
      REML reml;
      PetscCall(REMLCreate(PETSC_COMM_WORLD, &reml));
      PetscCall(REMLSetFromOptions(reml));
      PetscCall(REMLDestroy(&reml));
    }
    PetscCall(EvaluationCreate(PETSC_COMM_WORLD, &ev));
    PetscCall(EvaluationSetFromOptions(ev));
    PetscCall(EvaluationDestroy(&ev));
  } else if (!strcmp(command, "pedigree")) {
    Pedigree pedigree;
    PetscCall(PedigreeCreate(PETSC_COMM_WORLD, &pedigree));
    PetscCall(PedigreeSetFromOptions(pedigree));
    PetscCall(HendersonLogSetFromOptions(PETSC_COMM_WORLD));
    PetscCall(PedigreeDestroy(&pedigree));
  } else if (!strcmp(command, "export")) {
    Export export;
    PetscCall(ExportCreate(PETSC_COMM_WORLD, &export));
    PetscCall(ExportSetFromOptions(export));
    PetscCall(ExportDestroy(&export));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscBool HasHelp(int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "-help") || !strcmp(argv[i], "-h")) return PETSC_TRUE;
  return PETSC_FALSE;
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr   = PETSC_SUCCESS;
  PetscBool      failed = PETSC_FALSE, converged = PETSC_TRUE;
  int            exit_code = EXIT_OK;
  Evaluation     ev        = NULL;
  REML           reml      = NULL;
  const char    *command   = argc >= 2 ? argv[1] : "";

  LongOptions(argc, argv);
  /* a write past a file size limit (ulimit -f) then fails with EFBIG, reported as an error, instead of
     killing the process with SIGXFSZ half way through writing */
  signal(SIGXFSZ, SIG_IGN);
  PetscCall(HendersonMallocHugePages(argc, argv));
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(HendersonErrorInitialize());
  if (!strcmp(command, "--version") || !strcmp(command, "version")) {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "henderson %s\n", HendersonVersion()));
  } else if (!strcmp(command, "--help") || !strcmp(command, "help")) {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s", help));
  } else if (HasHelp(argc, argv)) {
    ierr = CommandHelp(command); /* PETSc printed the usage at PetscInitialize() */
  } else if (argc >= 3 && !strcmp(command, "solve")) {
    ierr = CheckArguments(argc, argv, 1);
    if (!ierr) ierr = CommandSolve(argv[2], &ev, &converged);
  } else if (argc >= 3 && !strcmp(command, "reml")) {
    ierr = CheckArguments(argc, argv, 1);
    if (!ierr) ierr = CommandREML(argv[2], &ev, &reml, &converged);
  } else if (argc >= 3 && !strcmp(command, "pedigree")) {
    ierr = CheckArguments(argc, argv, 1);
    if (!ierr) ierr = CommandPedigree(argv[2]);
  } else if (argc >= 3 && !strcmp(command, "export")) {
    ierr = CommandExport(argc, argv);
  } else {
    PetscCall(PetscFPrintf(PETSC_COMM_WORLD, PETSC_STDERR, "%s", help));
    if (argc >= 2) PetscCall(PetscFPrintf(PETSC_COMM_WORLD, PETSC_STDERR, "henderson: error: unknown command, or its argument missing: %s\n", command));
    exit_code = EXIT_ERROR;
  }
  PetscCall(HendersonErrorReport(PETSC_COMM_WORLD, ierr, &failed));
  PetscCall(EvaluationDestroy(&ev));
  if (failed)
    exit_code = EXIT_ERROR;
  else if (!converged) {
    PetscCall(PetscFPrintf(PETSC_COMM_WORLD, PETSC_STDERR, "henderson: warning: %s did not converge; %s written anyway\n",
                           reml ? "REML or the final solve" : "the solver", reml ? "the estimates of the last round were" : "solutions were"));
    exit_code = EXIT_NOT_CONVERGED;
  }
  PetscCall(REMLDestroy(&reml));
  PetscCall(HendersonErrorFinalize());
  PetscCall(PetscFinalize());
  return exit_code;
}
