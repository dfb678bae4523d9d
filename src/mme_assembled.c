/* MMEASSEMBLED: C as a PETSc AIJ matrix, by COO assembly. Each rank sums the contributions of its own
   records in a local hash table (a record's outer product repeats the fixed-effect entries of every
   other record), the row layout is chosen from them and from what the relationships' levels cost, the
   relationships -- set up with that layout -- add their K^-1 (x) G0^-1 entries, and the entries go to
   the owners of their rows. A later assembly (new variances) finds the same entries in the same order
   and only sets values. */
#include "mmeimpl.h"
#include <henderson/recordterms.h>

typedef struct {
  PetscCount ncoo;      /* the COO entries of this rank */
  PetscBool  structure; /* the COO structure is set */
} MME_Assembled;

/* Bytes of the assembled AIJ iteration: AIJ_ENTRY_BYTES a nonzero (value and column index: 12, or 16
   with 64-bit indices) and 156 a row (row pointer, x, y and the vectors of CG with Jacobi); the vector
   part is counted once, on rank 0. */
#define AIJ_ENTRY_BYTES ((PetscInt64)(sizeof(PetscScalar) + sizeof(PetscInt)))

/* X'R^-1X, X'R^-1Z, Z'R^-1Z (and, with RHS, X'R^-1y, Z'R^-1y) of this rank's records, for the equations
   below LIMIT: every pair of a record's terms adds coef coef' R^-1[trait][trait'] times its weight. */
static PetscErrorCode AccumulateRecords(Model model, Equations eq, Records records, PetscInt limit, Accumulator *lhs, Accumulator *rhs)
{
  PetscInt    nrecords;
  RecordTerms rt;

  PetscFunctionBeginUser;
  PetscCall(RecordsGetLocalSize(records, &nrecords));
  PetscCall(RecordTermsCreate(model, eq, records, &rt));
  for (PetscInt r = 0; r < nrecords; r++) {
    RecordContribution c;
    PetscCall(RecordTermsGet(&rt, r, &c));
    for (PetscInt a = 0; a < rt.nslots; a++) {
      if (c.eq[a] < 0 || c.eq[a] >= limit) continue;
      if (rhs) PetscCall(AccumulatorAdd(rhs, c.eq[a], 0, c.coef[a] * c.ry[rt.trait[a]]));
      for (PetscInt b = a; b < rt.nslots; b++) {
        PetscReal v;
        if (c.eq[b] < 0 || c.eq[b] >= limit) continue;
        v = c.weight * c.coef[a] * c.coef[b] * c.rinv[rt.trait[a] * rt.ntraits + rt.trait[b]];
        if (v != 0) PetscCall(AccumulatorAddSymmetric(lhs, c.eq[a], c.eq[b], v));
      }
    }
  }
  PetscCall(RecordTermsDestroy(&rt));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* K^-1 (x) G0^-1 of every random group, from the levels each relationship holds on this rank. */
static PetscErrorCode AccumulateRelationships(PetscInt nrel, Relationship rel[], Accumulator *lhs)
{
  PetscFunctionBeginUser;
  for (PetscInt g = 0; g < nrel; g++) {
    PetscCount n;
    PetscInt  *rows, *cols;
    PetscReal *values;
    PetscCall(RelationshipGetEntries(rel[g], &n, &rows, &cols, &values));
    for (PetscCount k = 0; k < n; k++) PetscCall(AccumulatorAdd(lhs, rows[k], cols[k], values[k])); /* upper triangle already */
    PetscCall(PetscFree3(rows, cols, values));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The levels of REL's group, and the entries of K^-1 (x) G0^-1 in a level's row of the upper triangle. */
static PetscErrorCode LevelEntries(Relationship rel, const EquationsBlock **block, PetscInt64 *entries)
{
  const ModelGroup *group;

  PetscFunctionBeginUser;
  PetscCall(RelationshipGetGroup(rel, &group, NULL));
  PetscCall(RelationshipGetBlocks(rel, block, NULL));
  PetscCall(RelationshipGetLevelCost(rel, NULL, entries));
  *entries *= group->dim * group->dim;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Distinct upper-triangle entries of this rank, roughly: a record's terms each meet its animal's (2 a
   term), a level of a random group adds its K^-1 entries times G0, a row 1. */
static PetscErrorCode ExpectedEntries(MME mme, Model model, Equations eq, Records records, PetscInt nrel, Relationship rel[], size_t *expected)
{
  PetscInt  n, nrecords, neffects, lo, hi;
  PetscReal sum;

  PetscFunctionBeginUser;
  PetscCall(EquationsGetSize(eq, &n));
  PetscCall(RecordsGetLocalSize(records, &nrecords));
  PetscCall(ModelGetNumEffects(model, &neffects));
  HendersonEvenShare(n, mme->rank, mme->size, &lo, &hi);
  sum = (PetscReal)(hi - lo);
  for (PetscInt e = 0; e < neffects; e++) {
    const EquationsEffect *layout;
    PetscCall(EquationsGetEffect(eq, e, &layout));
    sum += 2.0 * nrecords * layout->ntraits * layout->ncoef;
  }
  for (PetscInt g = 0; g < nrel; g++) {
    const EquationsBlock *block;
    PetscInt64            entries;
    PetscCall(LevelEntries(rel[g], &block, &entries));
    sum += (PetscReal)entries * block->nlevels / mme->size;
  }
  *expected = (size_t)sum;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The rows of every rank, balancing the bytes of AIJ: the records' entries where they are, and for every
   level of a random group its row of K^-1 (x) G0^-1, both triangles. */
static PetscErrorCode AssembledLayout(MME mme, Equations eq, const Accumulator *acc, PetscInt n, PetscInt nrel, Relationship rel[])
{
  PetscInt    nbuckets = (PetscInt)PetscMin((PetscInt64)n, 65536);
  PetscInt64 *weight;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(nbuckets + 1, &weight));
  for (size_t s = 0; s < acc->nslots; s++) {
    PetscInt i = acc->row[s], j = acc->col[s];
    if (i < 0) continue;
    weight[MMEBucket(i, n, nbuckets)] += AIJ_ENTRY_BYTES;
    if (i != j) weight[MMEBucket(j, n, nbuckets)] += AIJ_ENTRY_BYTES;
  }
  for (PetscInt g = 0; g < nrel; g++) {
    const EquationsBlock *block;
    PetscInt64            entries;
    PetscCall(LevelEntries(rel[g], &block, &entries));
    PetscCall(MMEAddLevelWeights(mme, block, 2 * entries * AIJ_ENTRY_BYTES, n, nbuckets, weight));
  }
  PetscCall(MMEBalancedLayout(mme, eq, n, nbuckets, weight));
  PetscCall(PetscFree(weight));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Summed entries to the owners of their rows, and into C (its structure set by the first assembly). */
static PetscErrorCode SetMatrixValues(MME mme, Equations eq, Accumulator *lhs)
{
  MME_Assembled *a    = (MME_Assembled *)mme->data;
  PetscCount     ncoo = 0, nkeys = 0;
  PetscInt      *ci, *cj, n, rstart, rend;
  PetscScalar   *cv, *values;
  uint64_t      *keys;

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetSize(mme->layout, &n));
  PetscCall(PetscLayoutGetRange(mme->layout, &rstart, &rend));
  PetscCall(AccumulatorToSortedKeys(lhs, n, &nkeys, &keys, &values));
  PetscCall(ExchangeToOwners(mme->comm, mme->layout, nkeys, keys, values, &ncoo, &ci, &cj, &cv));
  PetscCall(PetscFree2(keys, values));
  if (!a->structure) {
    PetscCall(MatCreate(mme->comm, &mme->C));
    PetscCall(MatSetSizes(mme->C, rend - rstart, rend - rstart, n, n));
    PetscCall(MatSetType(mme->C, MATAIJ));
    PetscCall(MatSetOption(mme->C, MAT_SYMMETRIC, PETSC_TRUE));
    PetscCall(MatSetOption(mme->C, MAT_SYMMETRY_ETERNAL, PETSC_TRUE));
    PetscCall(MatSetPreallocationCOO(mme->C, ncoo, ci, cj));
    PetscCall(MMESetPointBlocks(mme, eq, mme->C));
    a->ncoo      = ncoo;
    a->structure = PETSC_TRUE;
  }
  PetscCheck(ncoo == a->ncoo, mme->comm, PETSC_ERR_PLIB, "the structure of the equations changed between assemblies");
  PetscCall(MatSetValuesCOO(mme->C, cv, INSERT_VALUES));
  PetscCall(PetscFree3(ci, cj, cv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Nonzeros, bytes a product reads, and the ghost values of its product: the columns of the off-diagonal part. */
static PetscErrorCode AssembledStats(MME mme)
{
  MME_Assembled  *a = (MME_Assembled *)mme->data;
  MatInfo         info;
  PetscInt64      local = (PetscInt64)a->ncoo;
  PetscInt        n, nghost = 0;
  const PetscInt *garray = NULL;

  PetscFunctionBeginUser;
  PetscCall(MatGetSize(mme->C, &n, NULL));
  PetscCall(MatGetInfo(mme->C, MAT_GLOBAL_SUM, &info));
  mme->stats.equations      = n;
  mme->stats.nonzeros       = (PetscInt64)info.nz_used;
  mme->stats.operator_bytes = AIJ_ENTRY_BYTES * mme->stats.nonzeros + (PetscInt64)sizeof(PetscInt) * n;
  mme->stats.records        = 0;
  PetscCallMPI(MPI_Allreduce(&local, &mme->stats.local_entries, 1, MPIU_INT64, MPI_MAX, mme->comm));
  if (mme->size > 1) {
    Mat Ao;
    PetscCall(MatMPIAIJGetSeqAIJ(mme->C, NULL, &Ao, &garray));
    PetscCall(MatGetSize(Ao, NULL, &nghost));
  }
  PetscCall(MMESetCommunicationStats(mme, nghost, garray, 1));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode MMEAssemble_Assembled(MME mme, Model model, Equations eq, Records records, PetscInt nrel, Relationship rel[])
{
  PetscInt    n;
  size_t      expected = 0;
  Accumulator lhs, rhs;

  PetscFunctionBeginUser;
  PetscCall(EquationsGetSize(eq, &n));
#if defined(PETSC_USE_64BIT_INDICES)
  /* the sorted keys (AccumulatorToSortedKeys) hold the row and the column in 32 bits each */
  PetscCheck(n <= (PetscInt)UINT32_MAX, mme->comm, PETSC_ERR_SUP,
             "%" PetscInt_FMT " equations: the assembled operator takes at most %" PetscInt_FMT "; use -mme_operator data", n, (PetscInt)UINT32_MAX);
#endif
  PetscCall(ExpectedEntries(mme, model, eq, records, nrel, rel, &expected));
  PetscCall(AccumulatorCreate(expected, &lhs));
  PetscCall(AccumulatorCreate((size_t)(n / mme->size) + 64, &rhs));
  PetscCall(AccumulateRecords(model, eq, records, n, &lhs, &rhs));
  if (!mme->layout) PetscCall(AssembledLayout(mme, eq, &lhs, n, nrel, rel));
  for (PetscInt g = 0; g < nrel; g++) PetscCall(RelationshipSetUp(rel[g], mme->layout));
  PetscCall(AccumulateRelationships(nrel, rel, &lhs));
  PetscCall(PetscInfo(NULL, "%zu distinct upper-triangle entries accumulated on this rank\n", lhs.n));
  PetscCall(SetMatrixValues(mme, eq, &lhs));
  PetscCall(AccumulatorDestroy(&lhs));
  if (!mme->rhs) PetscCall(MatCreateVecs(mme->C, NULL, &mme->rhs));
  PetscCall(VecZeroEntries(mme->rhs));
  PetscCall(AccumulatorAddToVector(mme->comm, mme->layout, &rhs, mme->rhs));
  PetscCall(AccumulatorDestroy(&rhs));
  PetscCall(PetscObjectReference((PetscObject)mme->C));
  PetscCall(MatDestroy(&mme->P));
  mme->P = mme->C;
  PetscCall(AssembledStats(mme));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode MMEDestroy_Assembled(MME mme)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(mme->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMECreate_Assembled(MME mme)
{
  MME_Assembled *a;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&a));
  mme->data          = a;
  mme->entries       = PETSC_TRUE;
  mme->ops->assemble = MMEAssemble_Assembled;
  mme->ops->destroy  = MMEDestroy_Assembled;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEAssembleFixed(MPI_Comm comm, Model model, Equations eq, Records records, Mat *F)
{
  PetscInt     nfixed;
  Accumulator  lhs;
  PetscLayout  layout;
  PetscCount   ncoo, nkeys;
  PetscInt    *ci, *cj;
  PetscScalar *cv, *values;
  uint64_t    *keys;

  PetscFunctionBeginUser;
  PetscCall(EquationsGetFixedSize(eq, &nfixed));
  PetscCall(AccumulatorCreate((size_t)(nfixed + 64), &lhs));
  PetscCall(AccumulateRecords(model, eq, records, nfixed, &lhs, NULL));
  PetscCall(PetscLayoutCreate(comm, &layout));
  PetscCall(PetscLayoutSetSize(layout, nfixed));
  PetscCall(PetscLayoutSetUp(layout));
  PetscCall(AccumulatorToSortedKeys(&lhs, nfixed, &nkeys, &keys, &values));
  PetscCall(ExchangeToOwners(comm, layout, nkeys, keys, values, &ncoo, &ci, &cj, &cv));
  PetscCall(PetscFree2(keys, values));
  PetscCall(MatCreateFromSortedEntries(comm, layout, ncoo, ci, cj, cv, F));
  PetscCall(PetscFree3(ci, cj, cv));
  PetscCall(MatSetOption(*F, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(PetscLayoutDestroy(&layout));
  PetscCall(AccumulatorDestroy(&lhs));
  PetscFunctionReturn(PETSC_SUCCESS);
}
