/* henderson-blockmult: the data operator applied to one vector at a time against a block of K vectors in
   one pass (MatMatMult(): the records, equations and parents are read once for all K, the ghost values of
   all K travel in one message).

     mpirun -n P henderson-blockmult MODEL_FILE [-blocks 1,2,4,8,16] [-repeats R] [-mme_operator data]

   For each K: R products of K vectors one by one (MatMult) and R block products (MatMatMult), the
   seconds a vector of each, and the bytes a product reads from the operator's own storage (all ranks)
   with the rate that makes against the elapsed time of one vector: compare it with henderson-stream's
   triad in the same job. Prints CSV: k,one_by_one_s,block_s,speedup,operator_bytes,one_by_one_GBs,block_GBs. */
#include <henderson/evaluation.h>
#include <henderson/error.h>
#include <henderson/sys.h>

#define MAX_BLOCKS 16

static PetscErrorCode FillBlock(Mat X, PetscInt k)
{
  PetscScalar *a;
  PetscInt     m, rstart;

  PetscFunctionBeginUser;
  PetscCall(MatGetLocalSize(X, &m, NULL));
  PetscCall(MatGetOwnershipRange(X, &rstart, NULL));
  PetscCall(MatDenseGetArrayWrite(X, &a));
  for (PetscInt j = 0; j < k; j++)
    for (PetscInt i = 0; i < m; i++) a[(size_t)j * m + i] = (PetscScalar)((rstart + i) % 97) / 97.0 - 0.5 + 0.01 * j;
  PetscCall(MatDenseRestoreArrayWrite(X, &a));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Seconds (the slowest rank's) of REPEATS x K single products, and of REPEATS block products of K. */
static PetscErrorCode TimeBlock(Mat C, PetscInt k, PetscInt repeats, double *single, double *block)
{
  Mat           X, Y = NULL;
  Vec           x, y;
  PetscInt      m;
  double        t;
  MPI_Comm      comm = PetscObjectComm((PetscObject)C);
  char          name[64];
  PetscLogStage stage[2]; /* -log_view: the events of each way apart */

  PetscFunctionBeginUser;
  PetscCall(MatGetLocalSize(C, &m, NULL));
  PetscCall(MatCreateDense(comm, m, PETSC_DECIDE, PETSC_DETERMINE, k, NULL, &X));
  PetscCall(FillBlock(X, k));
  PetscCall(MatCreateVecs(C, &x, &y));
  PetscCall(MatGetColumnVector(X, x, 0));
  PetscCall(MatMult(C, x, y)); /* first touch of the work vectors */
  PetscCall(MatMatMult(C, X, MAT_INITIAL_MATRIX, PETSC_DEFAULT, &Y));
  PetscCall(PetscSNPrintf(name, sizeof(name), "%" PetscInt_FMT " one by one", k));
  PetscCall(PetscLogStageRegister(name, &stage[0]));
  PetscCall(PetscSNPrintf(name, sizeof(name), "block of %" PetscInt_FMT, k));
  PetscCall(PetscLogStageRegister(name, &stage[1]));
  PetscCallMPI(MPI_Barrier(comm));
  PetscCall(PetscLogStagePush(stage[0]));
  t = MPI_Wtime();
  for (PetscInt r = 0; r < repeats; r++)
    for (PetscInt j = 0; j < k; j++) PetscCall(MatMult(C, x, y));
  PetscCallMPI(MPI_Barrier(comm));
  *single = MPI_Wtime() - t;
  PetscCall(PetscLogStagePop());
  PetscCall(PetscLogStagePush(stage[1]));
  t = MPI_Wtime();
  for (PetscInt r = 0; r < repeats; r++) PetscCall(MatMatMult(C, X, MAT_REUSE_MATRIX, PETSC_DEFAULT, &Y));
  PetscCallMPI(MPI_Barrier(comm));
  *block = MPI_Wtime() - t;
  PetscCall(PetscLogStagePop());
  PetscCall(MatDestroy(&X));
  PetscCall(MatDestroy(&Y));
  PetscCall(VecDestroy(&x));
  PetscCall(VecDestroy(&y));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode Run(const char model[])
{
  Evaluation ev;
  MME        mme;
  MMEStats   stats;
  Mat        C, P;
  Vec        rhs;
  PetscInt   blocks[MAX_BLOCKS] = {1, 2, 4, 8, 16}, nblocks = MAX_BLOCKS, repeats = 10;
  PetscBool  set;

  PetscFunctionBeginUser;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "henderson-blockmult", NULL);
  PetscCall(PetscOptionsIntArray("-blocks", "block sizes K to time", NULL, blocks, &nblocks, &set));
  if (!set) nblocks = 5;
  PetscCall(PetscOptionsInt("-repeats", "products timed for each K", NULL, repeats, &repeats, NULL));
  PetscOptionsEnd();
  PetscCall(EvaluationCreate(PETSC_COMM_WORLD, &ev));
  PetscCall(EvaluationLoadModel(ev, model));
  PetscCall(EvaluationRead(ev));
  PetscCall(EvaluationPedigree(ev));
  PetscCall(EvaluationNumber(ev));
  PetscCall(EvaluationAssemble(ev));
  PetscCall(EvaluationGetMME(ev, &mme));
  PetscCall(MMEGetStats(mme, &stats));
  PetscCall(MMEGetSystem(mme, &C, &P, &rhs));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "k,one_by_one_s,block_s,speedup,operator_bytes,one_by_one_GBs,block_GBs\n"));
  for (PetscInt b = 0; b < nblocks; b++) {
    double single = 0, block = 0, per_single, per_block;
    PetscCall(TimeBlock(C, blocks[b], repeats, &single, &block));
    per_single = single / (double)(repeats * blocks[b]);
    per_block  = block / (double)(repeats * blocks[b]);
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%" PetscInt_FMT ",%.6f,%.6f,%.2f,%" PetscInt64_FMT ",%.2f,%.2f\n", blocks[b], per_single, per_block,
                          per_single / per_block, stats.operator_bytes, (double)stats.operator_bytes / per_single / 1e9,
                          (double)stats.operator_bytes / per_block / 1e9));
  }
  PetscCall(EvaluationDestroy(&ev));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;

  PetscCall(HendersonMallocHugePages(argc, argv));
  PetscCall(PetscInitialize(&argc, &argv, NULL, "henderson-blockmult MODEL_FILE [-blocks 1,2,4,8,16] [-repeats R]\n"));
  PetscCall(HendersonErrorInitialize());
  if (argc < 2 || argv[1][0] == '-') {
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "usage: mpirun -n P henderson-blockmult MODEL_FILE [-blocks 1,2,4,8,16] [-repeats R]\n"));
    ierr = PETSC_ERR_ARG_WRONG;
  } else
    ierr = Run(argv[1]);
  PetscCall(HendersonErrorFinalize());
  PetscCall(PetscFinalize());
  return ierr ? 1 : 0;
}
