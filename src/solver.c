#include <henderson/solver.h>
#include <henderson/log.h>
#include <henderson/output.h>
#include <math.h>
#include <petscviewerhdf5.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <time.h>

struct _p_Solver {
  MPI_Comm     comm;
  PetscMPIInt  rank, size;
  KSP          ksp;
  Mat          C;
  SolverResult result;
  /* checkpoints */
  char      checkpoint[HENDERSON_MAX_PATH], temporary[HENDERSON_MAX_PATH + 64], identity[256];
  PetscBool resumed; /* the last SolverResume() went on from the checkpoint */
  time_t    created; /* when this run made the solver (older unfinished checkpoints are orphans) */
  PetscInt  every, last_its, written, kill_at;
  PetscReal minutes;
  double    last_time;
  PetscReal rhs_norm, rhs_sum; /* of the right-hand side of the solve */
  PetscBool checkpointing;
  /* progress */
  double    start;
  PetscReal first; /* relative residual when the solve began */
};

/* A line now and then: the iteration, the relative residual and the time left, from the rate at which
   the logarithm of the residual has fallen so far. */
static PetscErrorCode ProgressMonitor(KSP ksp, PetscInt its, PetscReal rnorm, void *ctx)
{
  Solver    s = (Solver)ctx;
  PetscReal relative, rtol;

  PetscFunctionBeginUser;
  relative = s->rhs_norm > 0 ? rnorm / s->rhs_norm : rnorm;
  if (its == 0 || s->start == 0) {
    s->start = HendersonSeconds();
    s->first = relative;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (!HendersonProgressDue()) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(KSPGetTolerances(ksp, &rtol, NULL, NULL, NULL));
  {
    double elapsed = HendersonSeconds() - s->start, fallen = log(s->first / relative), left = log(relative / rtol);
    if (fallen > 0 && left > 0)
      HendersonProgressPrintf("solve: iteration %" PetscInt_FMT ", relative residual %.2e (to reach %.0e), about %.0f s left", its, (double)relative,
                              (double)rtol, elapsed * left / fallen);
    else
      HendersonProgressPrintf("solve: iteration %" PetscInt_FMT ", relative residual %.2e (to reach %.0e)", its, (double)relative, (double)rtol);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverCreate(MPI_Comm comm, Solver *solver)
{
  Solver s;
  PC     pc;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&s));
  s->comm    = comm;
  s->created = time(NULL);
  PetscCallMPI(MPI_Comm_rank(comm, &s->rank));
  PetscCallMPI(MPI_Comm_size(comm, &s->size));
  PetscCall(KSPHCGRegister());
  PetscCall(KSPCreate(comm, &s->ksp));
  PetscCall(KSPSetType(s->ksp, KSPHCG));
  PetscCall(KSPGetPC(s->ksp, &pc));
  PetscCall(PCSetType(pc, PCJACOBI));
  PetscCall(KSPSetNormType(s->ksp, KSP_NORM_UNPRECONDITIONED));
  /* no absolute tolerance: PETSc's 1e-50 would stop a solve whose equations are scaled by tiny
     variances (all of them times 1e-50 give the same solutions) before its first iteration */
  PetscCall(KSPSetTolerances(s->ksp, 1e-8, 0.0, PETSC_DEFAULT, 100000));
  *solver = s;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverDestroy(Solver *solver)
{
  PetscFunctionBeginUser;
  if (!*solver) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(KSPDestroy(&(*solver)->ksp));
  PetscCall(PetscFree(*solver));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverSetUp(Solver s, Mat C, Mat P)
{
  PetscFunctionBeginUser;
  s->C = C;
  PetscCall(KSPSetOperators(s->ksp, C, P));
  {
    /* point-block Jacobi where the matrix says which rows form a block (the traits and correlated
       effects of one level); plain Jacobi when all blocks have one row -- the same thing */
    PetscInt        nblocks, largest = 1;
    const PetscInt *sizes;
    PC              pc;
    PetscCall(MatGetVariableBlockSizes(P, &nblocks, &sizes));
    for (PetscInt b = 0; b < nblocks; b++) largest = PetscMax(largest, sizes[b]);
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &largest, 1, MPIU_INT, MPI_MAX, s->comm));
    PetscCall(KSPGetPC(s->ksp, &pc));
    PetscCall(PCSetType(pc, largest > 1 ? PCVPBJACOBI : PCJACOBI));
  }
  PetscCall(KSPSetFromOptions(s->ksp));
  PetscCall(KSPMonitorSet(s->ksp, ProgressMonitor, s, NULL));
  PetscCall(KSPSetUp(s->ksp));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The numbers that tie a checkpoint to its right-hand side. */
static PetscErrorCode RhsFingerprint(Vec rhs, PetscReal *norm, PetscReal *sum)
{
  PetscScalar total;

  PetscFunctionBeginUser;
  PetscCall(VecNorm(rhs, NORM_2, norm));
  PetscCall(VecSum(rhs, &total));
  *sum = PetscRealPart(total);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteCheckpoint(Solver s, PetscInt its, Vec x, Vec r, Vec p, PetscReal rz)
{
  const char *temporary = s->temporary;
  PetscViewer viewer;
  PetscInt    n;
  PetscReal   ranks = (PetscReal)s->size;
  char       *names[3]; /* the vectors' own names, given back afterwards */
  Vec         vecs[3] = {x, r, p};

  PetscFunctionBeginUser;
  PetscCall(VecGetSize(x, &n));
  for (int k = 0; k < 3; k++) {
    const char *name;
    PetscCall(PetscObjectGetName((PetscObject)vecs[k], &name));
    PetscCall(PetscStrallocpy(name, &names[k]));
  }
  PetscCall(PetscViewerHDF5Open(s->comm, temporary, FILE_MODE_WRITE, &viewer));
  PetscCall(PetscObjectSetName((PetscObject)x, "x"));
  PetscCall(PetscObjectSetName((PetscObject)r, "r"));
  PetscCall(PetscObjectSetName((PetscObject)p, "p"));
  for (int k = 0; k < 3; k++) PetscCall(VecView(vecs[k], viewer));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer, "/", "iteration", PETSC_INT, &its));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer, "/", "rz", PETSC_REAL, &rz));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer, "/", "equations", PETSC_INT, &n));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer, "/", "ranks", PETSC_REAL, &ranks));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer, "/", "rhs_norm", PETSC_REAL, &s->rhs_norm));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer, "/", "rhs_sum", PETSC_REAL, &s->rhs_sum));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer, "/", "identity", PETSC_STRING, s->identity));
  PetscCall(PetscViewerHDF5WriteAttribute(viewer, "/", "program", PETSC_STRING, "henderson checkpoint"));
  PetscCall(PetscViewerDestroy(&viewer));
  for (int k = 0; k < 3; k++) {
    PetscCall(PetscObjectSetName((PetscObject)vecs[k], names[k]));
    PetscCall(PetscFree(names[k]));
  }
  s->written++;
  if (s->rank == 0) {
    if (s->kill_at == s->written) { /* the test of a kill at the worst moment: new file written, not yet in place */
      fprintf(stderr, "henderson: killing rank 0 while writing checkpoint %" PetscInt_FMT " (-henderson_kill_at_checkpoint)\n", s->written);
      fflush(stderr);
      raise(SIGKILL);
    }
    PetscCheck(!rename(temporary, s->checkpoint), PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "%s: cannot rename the checkpoint into place", temporary);
  }
  PetscCallMPI(MPI_Barrier(s->comm));
  PetscCall(PetscInfo(NULL, "checkpoint %" PetscInt_FMT " after iteration %" PetscInt_FMT ": %s\n", s->written, its, s->checkpoint));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* After every iteration: a checkpoint when N iterations or M minutes have passed since the last one
   (rank 0's clock decides, so that every rank writes at the same iteration). */
static PetscErrorCode CheckpointHook(KSP ksp, PetscInt its, Vec x, Vec r, Vec p, PetscReal rz, void *ctx)
{
  Solver      s   = (Solver)ctx;
  PetscMPIInt due = 0;

  PetscFunctionBeginUser;
  (void)ksp;
  if (its == 0) {
    s->last_its  = 0;
    s->last_time = MPI_Wtime();
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (s->every > 0 && its - s->last_its >= s->every) due = 1;
  if (s->minutes > 0) {
    PetscMPIInt late = s->rank == 0 && MPI_Wtime() - s->last_time >= 60.0 * s->minutes;
    PetscCallMPI(MPI_Bcast(&late, 1, MPI_INT, 0, s->comm));
    due = due || late;
  }
  if (!due) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(WriteCheckpoint(s, its, x, r, p, rz));
  s->last_its  = its;
  s->last_time = MPI_Wtime();
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverSetFromOptions(Solver s)
{
  PetscFunctionBeginUser;
  PetscOptionsBegin(s->comm, NULL, "Checkpoints of the solve", "Solver");
  PetscCall(
      PetscOptionsInt("-checkpoint_every", "Write the state of the solve every N iterations (0: never)", "SolverSetFromOptions", s->every, &s->every, NULL));
  PetscCall(PetscOptionsReal("-checkpoint_minutes", "Write the state of the solve every M minutes (0: never)", "SolverSetFromOptions", s->minutes, &s->minutes,
                             NULL));
  PetscCall(PetscOptionsInt("-henderson_kill_at_checkpoint", "Tests: SIGKILL rank 0 while writing checkpoint K", "SolverSetFromOptions", s->kill_at,
                            &s->kill_at, NULL));
  PetscOptionsEnd();
  PetscCheck(s->every >= 0 && s->minutes >= 0, s->comm, PETSC_ERR_USER_INPUT, "-checkpoint_every and -checkpoint_minutes must not be negative");
  s->checkpointing = s->every > 0 || s->minutes > 0 ? PETSC_TRUE : PETSC_FALSE;
  PetscCall(KSPSetFromOptions(s->ksp));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverNeedsEntries(Solver s, PetscBool *needs)
{
  PC          pc;
  PCType      type;
  const char *diagonal[] = {PCJACOBI, PCPBJACOBI, PCVPBJACOBI, PCNONE};

  PetscFunctionBeginUser;
  PetscCall(KSPGetPC(s->ksp, &pc));
  PetscCall(PCGetType(pc, &type));
  *needs = PETSC_TRUE;
  for (size_t k = 0; k < sizeof(diagonal) / sizeof(diagonal[0]); k++)
    if (type && !strcmp(type, diagonal[k])) *needs = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverIsCheckpointing(Solver s, PetscBool *checkpointing)
{
  PetscFunctionBeginUser;
  *checkpointing = s->checkpointing;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverSetCheckpoint(Solver s, const char path[], const char identity[])
{
  KSPType   type;
  PetscBool hcg;

  PetscFunctionBeginUser;
  PetscCall(PetscStrncpy(s->checkpoint, path, sizeof(s->checkpoint)));
  PetscCall(PetscStrncpy(s->identity, identity, sizeof(s->identity)));
  {
    /* the checkpoint is written under a name no other run uses, then renamed into place */
    long token[2] = {(long)getpid(), (long)(HendersonRandomToken() & 0xffffffffu)};
    PetscCallMPI(MPI_Bcast(token, 2, MPI_LONG, 0, s->comm));
    snprintf(s->temporary, sizeof(s->temporary), "%s.tmp-%ld-%08lx", s->checkpoint, token[0], (unsigned long)token[1]);
  }
  PetscCall(KSPGetType(s->ksp, &type));
  PetscCall(PetscStrcmp(type, KSPHCG, &hcg));
  PetscCheck(!s->checkpointing || hcg, s->comm, PETSC_ERR_USER_INPUT,
             "checkpoints need -ksp_type %s (the conjugate gradients whose state can be saved), not %s", KSPHCG, type);
  if (s->checkpointing) PetscCall(KSPHCGSetIterationHook(s->ksp, CheckpointHook, s));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RhsScaleExponent(Vec rhs, int *k);
static PetscErrorCode ScaleExactly(Vec v, PetscReal scale);

PetscErrorCode SolverResume(Solver s, Vec rhs, Vec x, PetscBool *resumed)
{
  PetscViewer viewer;
  struct stat st;
  PetscMPIInt exists = 0;
  PetscInt    its, equations, n;
  PetscReal   rz, ranks, rhs_norm, rhs_sum;
  char       *identity = NULL;
  Vec         r, p;
  KSPType     type;
  PetscBool   hcg;

  PetscFunctionBeginUser;
  *resumed = s->resumed = PETSC_FALSE;
  PetscCheck(s->checkpoint[0], s->comm, PETSC_ERR_ARG_WRONGSTATE, "call SolverSetCheckpoint() first");
  if (s->rank == 0) exists = !stat(s->checkpoint, &st);
  PetscCallMPI(MPI_Bcast(&exists, 1, MPI_INT, 0, s->comm));
  if (!exists) {
    PetscCall(PetscInfo(NULL, "no checkpoint %s: the solve starts from the beginning\n", s->checkpoint));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(KSPGetType(s->ksp, &type));
  PetscCall(PetscStrcmp(type, KSPHCG, &hcg));
  PetscCheck(hcg, s->comm, PETSC_ERR_USER_INPUT, "a solve resumes from a checkpoint with -ksp_type %s only, not %s", KSPHCG, type);
  PetscCall(RhsFingerprint(rhs, &s->rhs_norm, &s->rhs_sum));
  PetscCall(VecGetSize(rhs, &n));
  PetscCall(PetscViewerHDF5Open(s->comm, s->checkpoint, FILE_MODE_READ, &viewer));
  PetscCall(PetscViewerHDF5ReadAttribute(viewer, "/", "iteration", PETSC_INT, NULL, &its));
  PetscCall(PetscViewerHDF5ReadAttribute(viewer, "/", "rz", PETSC_REAL, NULL, &rz));
  PetscCall(PetscViewerHDF5ReadAttribute(viewer, "/", "equations", PETSC_INT, NULL, &equations));
  PetscCall(PetscViewerHDF5ReadAttribute(viewer, "/", "ranks", PETSC_REAL, NULL, &ranks));
  PetscCall(PetscViewerHDF5ReadAttribute(viewer, "/", "rhs_norm", PETSC_REAL, NULL, &rhs_norm));
  PetscCall(PetscViewerHDF5ReadAttribute(viewer, "/", "rhs_sum", PETSC_REAL, NULL, &rhs_sum));
  PetscCall(PetscViewerHDF5ReadAttribute(viewer, "/", "identity", PETSC_STRING, NULL, &identity));
  PetscCheck(equations == n && !strcmp(identity, s->identity), s->comm, PETSC_ERR_USER_INPUT,
             "%s is the checkpoint of another evaluation (%" PetscInt_FMT " equations, model %s; this one: %" PetscInt_FMT ", %s); remove it or drop --restart",
             s->checkpoint, equations, identity, n, s->identity);
  PetscCheck(PetscAbsReal(rhs_norm - s->rhs_norm) <= 1e-12 * PetscMax(1.0, s->rhs_norm) &&
                 PetscAbsReal(rhs_sum - s->rhs_sum) <= 1e-12 * PetscMax(PetscMax(1.0, PetscAbsReal(rhs_sum)), s->rhs_norm),
             s->comm, PETSC_ERR_USER_INPUT, "%s is the checkpoint of the same model on other data (the right-hand sides differ); remove it or drop --restart",
             s->checkpoint);
  PetscCall(PetscFree(identity));
  if ((PetscInt)ranks != s->size)
    PetscCall(PetscPrintf(s->comm, "henderson: note: %s was written on %d ranks, this run has %d: the solve goes on from it, but not to the same bits\n",
                          s->checkpoint, (int)ranks, (int)s->size));
  {
    /* into plain vectors of the same rows: VecLoad() would remake a ghosted vector's storage */
    PetscInt nlocal;
    Vec      loaded;
    PetscCall(VecGetLocalSize(rhs, &nlocal));
    PetscCall(VecCreateMPI(s->comm, nlocal, n, &loaded));
    PetscCall(VecDuplicate(loaded, &r));
    PetscCall(VecDuplicate(loaded, &p));
    PetscCall(PetscObjectSetName((PetscObject)loaded, "x"));
    PetscCall(PetscObjectSetName((PetscObject)r, "r"));
    PetscCall(PetscObjectSetName((PetscObject)p, "p"));
    PetscCall(VecLoad(loaded, viewer));
    PetscCall(VecLoad(r, viewer));
    PetscCall(VecLoad(p, viewer));
    PetscCall(VecCopy(loaded, x));
    PetscCall(VecDestroy(&loaded));
  }
  {
    /* the state was saved in the units of the scaled solve (RhsScaleExponent()); SolverSolve() scales x again */
    int k;
    PetscCall(RhsScaleExponent(rhs, &k));
    if (k) PetscCall(ScaleExactly(x, (PetscReal)ldexp(1.0, -k)));
  }
  PetscCall(PetscViewerDestroy(&viewer));
  PetscCall(KSPHCGSetResume(s->ksp, its, r, p, rz));
  PetscCall(VecDestroy(&r));
  PetscCall(VecDestroy(&p));
  s->written   = 0;
  s->last_its  = its; /* the next checkpoint where the interrupted run would have written it */
  s->last_time = MPI_Wtime();
  *resumed = s->resumed = PETSC_TRUE;
  PetscCall(PetscInfo(NULL, "resuming from %s after iteration %" PetscInt_FMT "\n", s->checkpoint, its));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: the unfinished checkpoints of runs killed while writing (CHECKPOINT.tmp-*), older than this run
   -- a concurrent run's, being written now, is newer. */
static PetscErrorCode RemoveOrphans(Solver s)
{
  char           dir[HENDERSON_MAX_PATH], prefix[HENDERSON_MAX_PATH + 8];
  const char    *slash = strrchr(s->checkpoint, '/'), *base = slash ? slash + 1 : s->checkpoint;
  DIR           *d;
  struct dirent *entry;

  PetscFunctionBeginUser;
  PetscCall(HendersonPathDirectory(s->checkpoint, dir, sizeof(dir)));
  snprintf(prefix, sizeof(prefix), "%s.tmp-", base);
  if (!(d = opendir(dir))) PetscFunctionReturn(PETSC_SUCCESS);
  while ((entry = readdir(d))) {
    char        path[2 * HENDERSON_MAX_PATH];
    struct stat st;
    if (strncmp(entry->d_name, prefix, strlen(prefix))) continue;
    snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
    if (!lstat(path, &st) && S_ISREG(st.st_mode) && st.st_mtime < s->created) (void)unlink(path);
  }
  closedir(d);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverRemoveCheckpoint(Solver s)
{
  PetscFunctionBeginUser;
  if (!s->checkpoint[0] || !(s->checkpointing || s->resumed)) PetscFunctionReturn(PETSC_SUCCESS);
  if (s->rank == 0) {
    OutputFileKind kind;
    (void)unlink(s->temporary);
    PetscCall(RemoveOrphans(s));
    /* only a checkpoint of henderson: whatever else is there now was not written by this run */
    PetscCall(OutputGetFileKind(s->checkpoint, &kind));
    if (kind == OUTPUT_FILE_CHECKPOINT) (void)unlink(s->checkpoint);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The power of 2 that brings ||rhs||_inf into [1/2, 1) when it lies outside [2^-32, 2^32] (else 0).
   The equations scale with 1/variance: every (co)variance times 1e200 gives a right-hand side near
   1e-200 whose squared norm underflows, and CG would see a zero residual. C x = 2^k rhs has the
   solution 2^k x, exactly (scaling by a power of 2 rounds nothing), and its residuals are near 1. */
static PetscErrorCode RhsScaleExponent(Vec rhs, int *k)
{
  PetscReal big;
  int       e;

  PetscFunctionBeginUser;
  PetscCall(VecNorm(rhs, NORM_INFINITY, &big));
  *k = 0;
  if (big == 0 || PetscIsInfOrNanReal(big)) PetscFunctionReturn(PETSC_SUCCESS);
  (void)frexp((double)big, &e); /* big = f 2^e, f in [1/2, 1) */
  if (e < -32 || e > 32) *k = -e;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* V *= SCALE, and the norms PETSc keeps with V forgotten: VecScale() would scale those too, and a norm
   that had underflowed to 0 would stay 0. */
static PetscErrorCode ScaleExactly(Vec v, PetscReal scale)
{
  PetscScalar *a;
  PetscInt     n;

  PetscFunctionBeginUser;
  PetscCall(VecGetLocalSize(v, &n));
  PetscCall(VecGetArray(v, &a)); /* the restore marks the vector changed: its kept norms are recomputed */
  for (PetscInt i = 0; i < n; i++) a[i] *= scale;
  PetscCall(VecRestoreArray(v, &a));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ||rhs - C x|| and ||rhs|| (both vectors in the same units). */
static PetscErrorCode TrueResidual(Solver s, Vec rhs, Vec x, PetscReal *rnorm, PetscReal *bnorm)
{
  Vec r;

  PetscFunctionBeginUser;
  PetscCall(VecDuplicate(rhs, &r));
  PetscCall(MatMult(s->C, x, r));
  PetscCall(VecAYPX(r, -1.0, rhs));
  PetscCall(VecNorm(r, NORM_2, rnorm));
  PetscCall(VecNorm(rhs, NORM_2, bnorm));
  PetscCall(VecDestroy(&r));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The result of the solve just made: converged means that the true residual of the x returned meets
   the criterion, whatever the KSP said. */
static PetscErrorCode SolverRecordResult(Solver s, PetscReal rnorm, PetscReal bnorm)
{
  KSPConvergedReason reason;
  PetscReal          rtol, atol;
  PC                 pc;
  KSPType            ksp_type;
  PCType             pc_type;

  PetscFunctionBeginUser;
  PetscCall(KSPGetIterationNumber(s->ksp, &s->result.iterations));
  PetscCall(KSPGetConvergedReason(s->ksp, &reason));
  PetscCall(KSPGetTolerances(s->ksp, &rtol, &atol, NULL, NULL));
  PetscCall(KSPHCGGetReplacements(s->ksp, &s->result.replacements));
  s->result.relative_residual = bnorm > 0 ? rnorm / bnorm : rnorm;
  s->result.rtol              = rtol;
  s->result.converged         = reason > 0 && rnorm <= PetscMax(rtol * bnorm, atol) ? PETSC_TRUE : PETSC_FALSE;
  if (reason > 0 && !s->result.converged)
    PetscCall(PetscStrncpy(s->result.reason, "DIVERGED_TRUE_RESIDUAL", sizeof(s->result.reason)));
  else if (reason == KSP_DIVERGED_BREAKDOWN && s->result.replacements)
    PetscCall(PetscStrncpy(s->result.reason, "DIVERGED_TRUE_RESIDUAL_STAGNATED", sizeof(s->result.reason)));
  else
    PetscCall(PetscStrncpy(s->result.reason, KSPConvergedReasons[reason], sizeof(s->result.reason)));
  PetscCall(KSPGetType(s->ksp, &ksp_type));
  PetscCall(KSPGetPC(s->ksp, &pc));
  PetscCall(PCGetType(pc, &pc_type));
  PetscCall(PetscStrncpy(s->result.ksp_type, ksp_type, sizeof(s->result.ksp_type)));
  PetscCall(PetscStrncpy(s->result.pc_type, pc_type ? pc_type : "none", sizeof(s->result.pc_type)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverSolve(Solver s, Vec rhs, Vec x)
{
  PetscReal xnorm, bnorm, rnorm, scale;
  int       k = 0;

  PetscFunctionBeginUser;
  PetscCall(RhsFingerprint(rhs, &s->rhs_norm, &s->rhs_sum));
  PetscCall(RhsScaleExponent(rhs, &k));
  scale = (PetscReal)ldexp(1.0, k);
  if (k) {
    PetscCall(ScaleExactly(rhs, scale));
    PetscCall(ScaleExactly(x, scale));
    PetscCall(VecNorm(rhs, NORM_2, &s->rhs_norm));
    PetscCall(PetscInfo(NULL, "right-hand side scaled by 2^%d for the solve (its largest entry was outside [2^-32, 2^32])\n", k));
  }
  PetscCall(VecNorm(x, NORM_INFINITY, &xnorm));
  PetscCall(KSPSetInitialGuessNonzero(s->ksp, xnorm > 0 ? PETSC_TRUE : PETSC_FALSE));
  s->start = 0;
  PetscCall(KSPSolve(s->ksp, rhs, x));
  PetscCall(TrueResidual(s, rhs, x, &rnorm, &bnorm)); /* in the scaled units, where the norms neither under- nor overflow */
  if (k) {
    PetscCall(ScaleExactly(rhs, 1 / scale));
    PetscCall(ScaleExactly(x, 1 / scale));
  }
  PetscCall(SolverRecordResult(s, rnorm, bnorm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- several right-hand sides in lockstep ---- */

/* OUT[j] = A_j . B_j for the K columns of the dense A and B (one reduction for all). */
static PetscErrorCode ColumnDots(Mat A, Mat B, PetscInt K, PetscReal out[])
{
  const PetscScalar *a, *b;
  PetscInt           n, lda, ldb;
  MPI_Comm           comm;

  PetscFunctionBeginUser;
  PetscCall(PetscObjectGetComm((PetscObject)A, &comm));
  PetscCall(MatGetLocalSize(A, &n, NULL));
  PetscCall(MatDenseGetLDA(A, &lda));
  PetscCall(MatDenseGetLDA(B, &ldb));
  PetscCall(MatDenseGetArrayRead(A, &a));
  PetscCall(MatDenseGetArrayRead(B, &b));
  for (PetscInt j = 0; j < K; j++) {
    PetscReal t = 0;
    for (PetscInt i = 0; i < n; i++) t += PetscRealPart(a[j * lda + i] * b[j * ldb + i]);
    out[j] = t;
  }
  PetscCall(MatDenseRestoreArrayRead(B, &b));
  PetscCall(MatDenseRestoreArrayRead(A, &a));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, out, (PetscMPIInt)K, MPIU_REAL, MPIU_SUM, comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Z = M^-1 R, column by column (the KSP's preconditioner). */
static PetscErrorCode ApplyPCColumns(PC pc, Mat R, Mat Z, PetscInt K)
{
  PetscFunctionBeginUser;
  for (PetscInt j = 0; j < K; j++) {
    Vec r, z;
    PetscCall(MatDenseGetColumnVecRead(R, j, &r));
    PetscCall(MatDenseGetColumnVecWrite(Z, j, &z));
    PetscCall(PCApply(pc, r, z));
    PetscCall(MatDenseRestoreColumnVecWrite(Z, j, &z));
    PetscCall(MatDenseRestoreColumnVecRead(R, j, &r));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* For the columns that go on (GO[j]; X, Y dense, one layout): Y_j += S[j] X_j, or with AYPX Y_j = X_j + S[j] Y_j
   (CG's update of its directions). */
static PetscErrorCode ColumnUpdate(Mat Y, const PetscReal S[], const PetscBool go[], PetscBool aypx, Mat X, PetscInt K)
{
  const PetscScalar *x;
  PetscScalar       *y;
  PetscInt           n, ldx, ldy;

  PetscFunctionBeginUser;
  PetscCall(MatGetLocalSize(X, &n, NULL));
  PetscCall(MatDenseGetLDA(X, &ldx));
  PetscCall(MatDenseGetLDA(Y, &ldy));
  PetscCall(MatDenseGetArrayRead(X, &x));
  PetscCall(MatDenseGetArray(Y, &y));
  for (PetscInt j = 0; j < K; j++) {
    PetscScalar *yj = y + j * ldy;
    if (!go[j]) continue;
    if (aypx)
      for (PetscInt i = 0; i < n; i++) yj[i] = x[j * ldx + i] + S[j] * yj[i];
    else
      for (PetscInt i = 0; i < n; i++) yj[i] += S[j] * x[j * ldx + i];
  }
  PetscCall(MatDenseRestoreArray(Y, &y));
  PetscCall(MatDenseRestoreArrayRead(X, &x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* *LEFT = the columns whose residual R_j is above the criterion max(rtol |B_j|, atol) (GO[j]), from RR = R_j . R_j. */
static void ColumnsLeft(PetscInt K, const PetscReal rr[], const PetscReal bnorm[], PetscReal rtol, PetscReal atol, PetscBool go[], PetscInt *left)
{
  *left = 0;
  for (PetscInt j = 0; j < K; j++) {
    go[j] = PetscSqrtReal(rr[j]) > PetscMax(rtol * bnorm[j], atol) ? PETSC_TRUE : PETSC_FALSE;
    *left += go[j];
  }
}

PetscErrorCode SolverSolveBlock(Solver s, Mat B, Mat X, PetscInt64 *iterations, PetscInt *not_converged)
{
  Mat        C, R, Z, P, Q = NULL;
  PC         pc;
  PetscReal  rtol, atol, *bnorm, *rr, *rz, *pq, *step;
  PetscInt   K, maxit, left = 0;
  PetscBool *go;

  PetscFunctionBeginUser;
  PetscCall(KSPGetOperators(s->ksp, &C, NULL));
  PetscCall(KSPGetPC(s->ksp, &pc));
  PetscCall(KSPGetTolerances(s->ksp, &rtol, &atol, NULL, &maxit));
  PetscCall(MatGetSize(B, NULL, &K));
  PetscCall(PetscMalloc6(K, &bnorm, K, &rr, K, &rz, K, &pq, K, &step, K, &go));
  PetscCall(MatGetColumnNorms(B, NORM_2, bnorm));
  PetscCall(MatZeroEntries(X));
  PetscCall(MatDuplicate(B, MAT_COPY_VALUES, &R)); /* X = 0 */
  PetscCall(MatDuplicate(B, MAT_DO_NOT_COPY_VALUES, &Z));
  PetscCall(ApplyPCColumns(pc, R, Z, K));
  PetscCall(MatDuplicate(Z, MAT_COPY_VALUES, &P));
  PetscCall(ColumnDots(R, Z, K, rz));
  PetscCall(ColumnDots(R, R, K, rr));
  ColumnsLeft(K, rr, bnorm, rtol, atol, go, &left);
  for (PetscInt it = 0; it < maxit && left; it++) {
    *iterations += left;
    PetscCall(MatMatMult(C, P, Q ? MAT_REUSE_MATRIX : MAT_INITIAL_MATRIX, PETSC_DEFAULT, &Q)); /* one pass for all K */
    PetscCall(ColumnDots(P, Q, K, pq));
    for (PetscInt j = 0; j < K; j++) step[j] = go[j] ? rz[j] / pq[j] : 0;
    PetscCall(ColumnUpdate(X, step, go, PETSC_FALSE, P, K));
    for (PetscInt j = 0; j < K; j++) step[j] = -step[j];
    PetscCall(ColumnUpdate(R, step, go, PETSC_FALSE, Q, K));
    PetscCall(ApplyPCColumns(pc, R, Z, K));
    PetscCall(ColumnDots(R, Z, K, pq)); /* the new r.z */
    for (PetscInt j = 0; j < K; j++) step[j] = go[j] ? pq[j] / rz[j] : 0, rz[j] = go[j] ? pq[j] : rz[j];
    PetscCall(ColumnUpdate(P, step, go, PETSC_TRUE, Z, K));
    PetscCall(ColumnDots(R, R, K, rr));
    ColumnsLeft(K, rr, bnorm, rtol, atol, go, &left);
  }
  PetscCall(MatMatMult(C, X, Q ? MAT_REUSE_MATRIX : MAT_INITIAL_MATRIX, PETSC_DEFAULT, &Q)); /* the true residuals */
  PetscCall(MatCopy(B, R, SAME_NONZERO_PATTERN));
  PetscCall(MatAXPY(R, -1, Q, SAME_NONZERO_PATTERN));
  PetscCall(ColumnDots(R, R, K, rr));
  ColumnsLeft(K, rr, bnorm, rtol, atol, go, &left);
  *not_converged += left;
  PetscCall(MatDestroy(&Q));
  PetscCall(MatDestroy(&R));
  PetscCall(MatDestroy(&Z));
  PetscCall(MatDestroy(&P));
  PetscCall(PetscFree6(bnorm, rr, rz, pq, step, go));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverGetResult(Solver s, SolverResult *result)
{
  PetscFunctionBeginUser;
  *result = s->result;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverGetKSP(Solver s, KSP *ksp)
{
  PetscFunctionBeginUser;
  *ksp = s->ksp;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode SolverView(Solver s, PetscViewer viewer)
{
  const SolverResult *r = &s->result;

  PetscFunctionBeginUser;
  PetscCall(PetscViewerASCIIPrintf(viewer, "  solver      %s + %s: %" PetscInt_FMT " iterations, relative residual %.3e (rtol %.1e), %s\n", r->ksp_type,
                                   r->pc_type, r->iterations, (double)r->relative_residual, (double)r->rtol, r->converged ? "converged" : "NOT CONVERGED"));
  if (r->replacements)
    PetscCall(PetscViewerASCIIPrintf(viewer, "              the true residual replaced the recursive one %" PetscInt_FMT " times\n", r->replacements));
  PetscFunctionReturn(PETSC_SUCCESS);
}
