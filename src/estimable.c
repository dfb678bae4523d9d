#include <henderson/estimable.h>
#include <henderson/dense.h>
#include <henderson/log.h>
#include <henderson/error.h>
#include <math.h>

/* The Schur complement S below is dense; its eigendecomposition costs some n^3 flops: a few seconds at
   2000 with the reference LAPACK. Beyond (two large fixed effects), the check is not made. */
#define ESTIMABLE_DENSE_MAX 2000

PetscErrorCode EstimableMaskFromNullVector(Vec n)
{
  PetscReal    largest;
  PetscScalar *v;
  PetscInt     nlocal;

  PetscFunctionBeginUser;
  PetscCall(VecNorm(n, NORM_INFINITY, &largest));
  PetscCall(VecGetLocalSize(n, &nlocal));
  PetscCall(VecGetArray(n, &v));
  for (PetscInt i = 0; i < nlocal; i++) v[i] = largest > 0 && PetscAbsScalar(v[i]) > 1e-6 * largest ? 1.0 : 0.0;
  PetscCall(VecRestoreArray(n, &v));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The fixed block F = [D E; E' F2] on rank 0, D the equations of the fixed effect with the most of them.
   Two levels of one class effect never share a record, so D is block diagonal over that effect's levels
   (a level's traits and coefficients: a few equations), and for the positive semidefinite F
     nullity(F) = sum over D's blocks of nullity(D_b) + nullity(S),   S = F2 - E' D^+ E,
   with the null vectors (x0, 0) of the D_b (a covariate constant within a level) and (-D^+ E y, y) for y
   in S's null space. S has the other effects' equations only: a handful (sex, age, parity) to some
   thousands. */
typedef struct {
  PetscInt           n, lo, hi; /* F's order; D's equations lo..hi-1 */
  PetscInt           n2, *in2;  /* S's order; in2[q]: F's equation q in S (-1 for D's) */
  PetscInt          *out2;      /* out2[j]: S's equation j in F */
  const PetscInt    *ia, *ja;   /* F, CSR */
  const PetscScalar *a;
  PetscReal         *mask; /* n: 1 where an equation is not estimable one by one */
  PetscInt           deficiency;
} FixedSchur;

/* Rows ROW..ROW+SIZE-1 of F restricted to the columns of the same rows, dense (size x size). */
static void DenseBlock(const FixedSchur *fs, PetscInt row, PetscInt size, PetscReal D[])
{
  for (PetscInt k = 0; k < size * size; k++) D[k] = 0;
  for (PetscInt i = 0; i < size; i++)
    for (PetscInt p = fs->ia[row + i]; p < fs->ia[row + i + 1]; p++)
      if (fs->ja[p] >= row && fs->ja[p] < row + size) D[i * size + fs->ja[p] - row] = PetscRealPart(fs->a[p]);
}

/* D_b^+ from its eigendecomposition: the eigenvalues below 1e-10 of the largest are null directions,
   whose equations are marked and counted. */
static PetscErrorCode BlockPseudoInverse(FixedSchur *fs, PetscInt row, PetscInt size, PetscReal Dplus[])
{
  PetscReal V[64 * 64], lambda[64], top;

  PetscFunctionBeginUser;
  PetscCheck(size <= 64, PETSC_COMM_SELF, PETSC_ERR_SUP, "a level of %" PetscInt_FMT " equations", size);
  DenseBlock(fs, row, size, V);
  PetscCall(DenseSymmetricEigen(size, V, lambda));
  top = size ? PetscMax(lambda[size - 1], 0) : 0;
  for (PetscInt k = 0; k < size * size; k++) Dplus[k] = 0;
  for (PetscInt e = 0; e < size; e++) {
    const PetscReal *v = V + e * size;
    if (lambda[e] > 1e-10 * top) {
      for (PetscInt i = 0; i < size; i++)
        for (PetscInt j = 0; j < size; j++) Dplus[i * size + j] += v[i] * v[j] / lambda[e];
      continue;
    }
    fs->deficiency++;
    for (PetscInt i = 0; i < size; i++)
      if (PetscAbsReal(v[i]) > 1e-6) fs->mask[row + i] = 1;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The columns of S that rows ROW..ROW+SIZE-1 of E touch, and E there (size x ncol, row-major). */
static PetscErrorCode BlockCoupling(const FixedSchur *fs, PetscInt row, PetscInt size, PetscInt *ncol, PetscInt **col, PetscReal **E)
{
  PetscInt m = 0;

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < size; i++) m += fs->ia[row + i + 1] - fs->ia[row + i];
  PetscCall(PetscMalloc2(m + 1, col, size * m + 1, E));
  *ncol = 0;
  for (PetscInt i = 0; i < size; i++)
    for (PetscInt p = fs->ia[row + i]; p < fs->ia[row + i + 1]; p++) {
      PetscInt j = fs->in2[fs->ja[p]], c = 0;
      if (j < 0) continue;
      while (c < *ncol && (*col)[c] != j) c++;
      if (c == *ncol) {
        (*col)[(*ncol)++] = j;
        for (PetscInt k = 0; k < size; k++) (*E)[k * m + c] = 0;
      }
      (*E)[i * m + c] = PetscRealPart(fs->a[p]);
    }
  for (PetscInt i = 0; i < size; i++) /* compact the rows to ncol columns */
    for (PetscInt c = 0; c < *ncol; c++) (*E)[i * *ncol + c] = (*E)[i * m + c];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* S = F2 - sum_b E_b' D_b^+ E_b, dense (n2 x n2); *F2MAX the largest diagonal entry of F2. */
static PetscErrorCode AssembleSchur(FixedSchur *fs, const Equations eq, PetscReal S[], PetscReal *f2max)
{
  PetscFunctionBeginUser;
  *f2max = 0;
  for (PetscInt j = 0; j < fs->n2; j++) {
    PetscInt q = fs->out2[j];
    for (PetscInt p = fs->ia[q]; p < fs->ia[q + 1]; p++)
      if (fs->in2[fs->ja[p]] >= 0) {
        S[j * fs->n2 + fs->in2[fs->ja[p]]] += PetscRealPart(fs->a[p]);
        if (fs->ja[p] == q) *f2max = PetscMax(*f2max, PetscRealPart(fs->a[p]));
      }
  }
  for (PetscInt row = fs->lo; row < fs->hi;) {
    PetscInt  first, size, ncol, *col;
    PetscReal Dplus[64 * 64], *E;
    PetscCall(EquationsGetPointBlock(eq, row, &first, &size));
    PetscCall(BlockPseudoInverse(fs, row, size, Dplus));
    PetscCall(BlockCoupling(fs, row, size, &ncol, &col, &E));
    for (PetscInt c = 0; c < ncol; c++)
      for (PetscInt d = 0; d < ncol; d++) {
        PetscReal v = 0;
        for (PetscInt k = 0; k < size; k++)
          for (PetscInt l = 0; l < size; l++) v += E[k * ncol + c] * Dplus[k * size + l] * E[l * ncol + d];
        S[col[c] * fs->n2 + col[d]] -= v;
      }
    PetscCall(PetscFree2(col, E));
    row += size;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* S's null space: Y (n2) gets a combination of its null vectors with coefficients from their indices. */
static PetscErrorCode SchurNullVector(FixedSchur *fs, PetscReal S[], PetscReal f2max, PetscReal y[])
{
  PetscReal *lambda;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(fs->n2 + 1, &lambda));
  PetscCall(DenseSymmetricEigen(fs->n2, S, lambda));
  for (PetscInt j = 0; j < fs->n2; j++) y[j] = 0;
  for (PetscInt e = 0; e < fs->n2; e++) {
    PetscReal r = HendersonKeyedUniform((uint64_t)e) + 2; /* in [1, 3): no two null vectors cancel by chance */
    if (lambda[e] > 1e-9 * f2max) continue;
    fs->deficiency++;
    for (PetscInt j = 0; j < fs->n2; j++) y[j] += r * S[e * fs->n2 + j];
  }
  PetscCall(PetscFree(lambda));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The null vector (x, y) = (-D^+ E y, y): its nonzero entries mark the equations. */
static PetscErrorCode MarkNullVector(FixedSchur *fs, const Equations eq, const PetscReal y[])
{
  PetscReal *x, largest = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(fs->n + 1, &x));
  for (PetscInt j = 0; j < fs->n2; j++) x[fs->out2[j]] = y[j];
  for (PetscInt row = fs->lo; row < fs->hi;) {
    PetscInt  first, size, ncol, *col;
    PetscReal Dplus[64 * 64], *E;
    PetscInt  saved = fs->deficiency; /* the blocks were counted already */
    PetscCall(EquationsGetPointBlock(eq, row, &first, &size));
    PetscCall(BlockPseudoInverse(fs, row, size, Dplus));
    fs->deficiency = saved;
    PetscCall(BlockCoupling(fs, row, size, &ncol, &col, &E));
    for (PetscInt k = 0; k < size; k++) {
      PetscReal ey = 0;
      for (PetscInt c = 0; c < ncol; c++) ey += E[k * ncol + c] * y[col[c]];
      for (PetscInt i = 0; i < size; i++) x[row + i] -= Dplus[i * size + k] * ey;
    }
    PetscCall(PetscFree2(col, E));
    row += size;
  }
  for (PetscInt q = 0; q < fs->n; q++) largest = PetscMax(largest, PetscAbsReal(x[q]));
  for (PetscInt q = 0; q < fs->n; q++)
    if (largest > 0 && PetscAbsReal(x[q]) > 1e-6 * largest) fs->mask[q] = 1;
  PetscCall(PetscFree(x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: the analysis of the whole F (sequential CSR). */
static PetscErrorCode AnalyseRoot(Model model, Equations eq, Mat Fseq, PetscReal mask[], PetscInt *deficiency)
{
  FixedSchur fs = {0};
  PetscInt   neffects, nrows;
  PetscBool  done;
  PetscReal *S, *y, f2max;

  PetscFunctionBeginUser;
  PetscCall(EquationsGetFixedSize(eq, &fs.n));
  PetscCall(ModelGetNumEffects(model, &neffects));
  for (PetscInt e = 0; e < neffects; e++) { /* D: the fixed effect with the most equations */
    const ModelEffect    *effect;
    const EquationsBlock *block;
    PetscCall(ModelGetEffect(model, e, &effect));
    if (effect->kind == MODEL_EFFECT_RANDOM) continue;
    PetscCall(EquationsGetEffectBlock(eq, e, &block));
    if (block->nequations > fs.hi - fs.lo) {
      fs.lo = block->offset;
      fs.hi = block->offset + block->nequations;
    }
  }
  fs.n2   = fs.n - (fs.hi - fs.lo);
  fs.mask = mask;
  if (fs.n2 > ESTIMABLE_DENSE_MAX) { /* two large fixed effects: not checked (the caller says so) */
    *deficiency = -1;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscMalloc2(fs.n + 1, &fs.in2, fs.n2 + 1, &fs.out2));
  for (PetscInt q = 0, j = 0; q < fs.n; q++) {
    fs.in2[q] = q >= fs.lo && q < fs.hi ? -1 : j;
    if (fs.in2[q] >= 0) fs.out2[j++] = q;
  }
  PetscCall(MatGetRowIJ(Fseq, 0, PETSC_FALSE, PETSC_FALSE, &nrows, &fs.ia, &fs.ja, &done));
  PetscCheck(done && nrows == fs.n, PETSC_COMM_SELF, PETSC_ERR_PLIB, "no CSR structure of X'R^-1X");
  PetscCall(MatSeqAIJGetArrayRead(Fseq, &fs.a));
  PetscCall(PetscCalloc2((size_t)fs.n2 * fs.n2 + 1, &S, fs.n2 + 1, &y));
  PetscCall(AssembleSchur(&fs, eq, S, &f2max));
  {
    PetscInt blocks = fs.deficiency;
    PetscCall(SchurNullVector(&fs, S, f2max, y));
    if (fs.deficiency > blocks) PetscCall(MarkNullVector(&fs, eq, y));
  }
  PetscCall(MatSeqAIJRestoreArrayRead(Fseq, &fs.a));
  PetscCall(MatRestoreRowIJ(Fseq, 0, PETSC_FALSE, PETSC_FALSE, &nrows, &fs.ia, &fs.ja, &done));
  PetscCall(PetscFree2(S, y));
  PetscCall(PetscFree2(fs.in2, fs.out2));
  *deficiency = fs.deficiency;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* F whole on rank 0 (rows and columns of everything there, nothing elsewhere). */
static PetscErrorCode GatherOnRoot(MPI_Comm comm, Mat F, Mat *Fseq)
{
  PetscMPIInt rank;
  PetscInt    n;
  IS          is;
  Mat        *all;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(MatGetSize(F, &n, NULL));
  PetscCall(ISCreateStride(PETSC_COMM_SELF, rank == 0 ? n : 0, 0, 1, &is));
  PetscCall(MatCreateSubMatrices(F, 1, &is, &is, MAT_INITIAL_MATRIX, &all));
  *Fseq = all[0];
  PetscCall(PetscFree(all));
  PetscCall(ISDestroy(&is));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EstimableCompute(MPI_Comm comm, Model model, Equations eq, Records records, Vec layout_like, PetscInt *deficiency, Vec *mask)
{
  Mat            F, Fseq;
  PetscInt       nfixed;
  PetscMPIInt    rank;
  PetscReal     *marks = NULL;
  PetscErrorCode ierr  = PETSC_SUCCESS;
  double         start = HendersonSeconds();

  PetscFunctionBeginUser;
  *deficiency = 0;
  *mask       = NULL;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(EquationsGetFixedSize(eq, &nfixed));
  if (!nfixed) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(MMEAssembleFixed(comm, model, eq, records, &F));
  PetscCall(GatherOnRoot(comm, F, &Fseq));
  PetscCall(MatDestroy(&F));
  if (rank == 0) {
    PetscCall(PetscCalloc1(nfixed + 1, &marks));
    ierr = AnalyseRoot(model, eq, Fseq, marks, deficiency);
  }
  PetscCall(MatDestroy(&Fseq));
  PetscCall(HendersonAgree(comm, ierr));
  PetscCallMPI(MPI_Bcast(deficiency, 1, MPIU_INT, 0, comm));
  if (*deficiency > 0) {
    PetscCall(VecDuplicate(layout_like, mask));
    PetscCall(VecZeroEntries(*mask));
    for (PetscInt q = 0; rank == 0 && q < nfixed; q++)
      if (marks[q] != 0) PetscCall(VecSetValue(*mask, q, 1.0, INSERT_VALUES));
    PetscCall(VecAssemblyBegin(*mask));
    PetscCall(VecAssemblyEnd(*mask));
  }
  PetscCall(PetscFree(marks));
  PetscCall(PetscInfo(NULL, "the fixed block (%" PetscInt_FMT " equations) has rank deficiency %" PetscInt_FMT ": %.3f s\n", nfixed, *deficiency,
                      HendersonSeconds() - start));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Equations LO..HI-1 of MASK's local rows that it marks. */
static PetscInt CountMarked(const PetscScalar m[], PetscInt rstart, PetscInt rend, PetscInt lo, PetscInt hi)
{
  PetscInt n = 0;
  for (PetscInt q = PetscMax(lo, rstart); q < PetscMin(hi, rend); q++) n += PetscRealPart(m[q - rstart]) != 0;
  return n;
}

PetscErrorCode EstimableCountByEffect(Model model, Equations eq, Vec mask, PetscInt count[])
{
  PetscInt           neffects, rstart, rend;
  const PetscScalar *m;
  MPI_Comm           comm;

  PetscFunctionBeginUser;
  PetscCall(PetscObjectGetComm((PetscObject)mask, &comm));
  PetscCall(ModelGetNumEffects(model, &neffects));
  PetscCall(VecGetOwnershipRange(mask, &rstart, &rend));
  PetscCall(VecGetArrayRead(mask, &m));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect     *effect;
    const EquationsEffect *layout;
    const EquationsBlock  *block;
    count[e] = count[neffects + e] = 0;
    PetscCall(ModelGetEffect(model, e, &effect));
    PetscCall(EquationsGetEffect(eq, e, &layout));
    if (effect->kind != MODEL_EFFECT_RANDOM) { /* a fixed effect's block is its own */
      PetscCall(EquationsGetBlock(eq, layout->block, &block));
      count[e] = CountMarked(m, rstart, rend, block->offset, block->offset + block->nequations);
    }
    if (layout->group_block >= 0) { /* the unknown-parent groups of a pedigree effect */
      const ModelGroup *group;
      PetscCall(ModelGetGroup(model, effect->group, &group));
      PetscCall(EquationsGetBlock(eq, layout->group_block, &block));
      if (group->first == e) count[neffects + e] = CountMarked(m, rstart, rend, block->offset, block->offset + block->nequations);
    }
  }
  PetscCall(VecRestoreArrayRead(mask, &m));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, count, (PetscMPIInt)(2 * neffects), MPIU_INT, MPI_SUM, comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}
