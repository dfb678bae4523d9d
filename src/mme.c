#include <henderson/mme.h>
#include <henderson/error.h>

/* Sums values by (row, col) on one rank before they go to PETSc: a record's outer product repeats
   the fixed-effect entries of every other record, and PETSc's COO would otherwise keep them all. */
typedef struct {
  PetscInt    *row, *col; /* row -1 = empty slot */
  PetscScalar *value;
  size_t       nslots, n;
} Accumulator;

static PetscErrorCode AccumulatorCreate(size_t expected, Accumulator *acc)
{
  size_t nslots = 1024;

  PetscFunctionBeginUser;
  while (7 * nslots < 10 * expected) nslots *= 2; /* grown again past 70% full */
  acc->nslots = nslots;
  acc->n      = 0;
  PetscCall(PetscMalloc3(nslots, &acc->row, nslots, &acc->col, nslots, &acc->value));
  for (size_t s = 0; s < nslots; s++) acc->row[s] = -1;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode AccumulatorDestroy(Accumulator *acc)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree3(acc->row, acc->col, acc->value));
  acc->nslots = acc->n = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline size_t AccumulatorSlot(size_t nslots, PetscInt row, PetscInt col)
{
  uint64_t h = (uint64_t)row * 0x9E3779B97F4A7C15ULL ^ (uint64_t)col * 0xC2B2AE3D27D4EB4FULL;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  return (size_t)h & (nslots - 1);
}

static PetscErrorCode AccumulatorGrow(Accumulator *acc)
{
  Accumulator bigger;

  PetscFunctionBeginUser;
  PetscCall(AccumulatorCreate(acc->nslots, &bigger)); /* twice the slots */
  for (size_t s = 0; s < acc->nslots; s++) {
    size_t t;
    if (acc->row[s] < 0) continue;
    for (t = AccumulatorSlot(bigger.nslots, acc->row[s], acc->col[s]); bigger.row[t] >= 0; t = (t + 1) & (bigger.nslots - 1)) {}
    bigger.row[t]   = acc->row[s];
    bigger.col[t]   = acc->col[s];
    bigger.value[t] = acc->value[s];
  }
  bigger.n = acc->n;
  PetscCall(AccumulatorDestroy(acc));
  *acc = bigger;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline PetscErrorCode AccumulatorAdd(Accumulator *acc, PetscInt row, PetscInt col, PetscScalar v)
{
  size_t s;

  PetscFunctionBeginUser;
  for (s = AccumulatorSlot(acc->nslots, row, col); acc->row[s] >= 0; s = (s + 1) & (acc->nslots - 1))
    if (acc->row[s] == row && acc->col[s] == col) {
      acc->value[s] += v;
      PetscFunctionReturn(PETSC_SUCCESS);
    }
  acc->row[s]   = row;
  acc->col[s]   = col;
  acc->value[s] = v;
  if (10 * ++acc->n > 7 * acc->nslots) PetscCall(AccumulatorGrow(acc));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The accumulated upper triangle as both triangles in COO form, sorted by row, then column (PETSc's
   COO set-up is several times faster on sorted input): an LSD radix sort on the 64-bit key
   row:col, one byte a pass, skipping the bytes that are zero in every index (below NMAX). The
   accumulator is emptied first, so that its memory is back before the sort's is taken. */
static PetscErrorCode AccumulatorToSortedCOO(Accumulator *acc, PetscInt nmax, PetscCount *ncoo, PetscInt **ci, PetscInt **cj, PetscScalar **cv)
{
  uint64_t    *key_a, *key_b, *key_in, *key_out;
  PetscScalar *value_a, *value_b, *value_in, *value_out;
  PetscCount   n = 0, count[256];
  int          bytes = 0;

  PetscFunctionBeginUser;
  for (size_t s = 0; s < acc->nslots; s++)
    if (acc->row[s] >= 0) n += acc->row[s] == acc->col[s] ? 1 : 2;
  PetscCall(PetscMalloc2(n + 1, &key_a, n + 1, &value_a));
  n = 0;
  for (size_t s = 0; s < acc->nslots; s++) {
    uint64_t i = (uint64_t)(uint32_t)acc->row[s], j = (uint64_t)(uint32_t)acc->col[s];
    if (acc->row[s] < 0) continue;
    key_a[n]     = i << 32 | j;
    value_a[n++] = acc->value[s];
    if (i != j) {
      key_a[n]     = j << 32 | i;
      value_a[n++] = acc->value[s];
    }
  }
  PetscCall(AccumulatorDestroy(acc));
  PetscCall(PetscMalloc2(n + 1, &key_b, n + 1, &value_b));
  while (bytes < 4 && ((uint64_t)nmax >> (8 * bytes))) bytes++;
  key_in    = key_a;
  key_out   = key_b;
  value_in  = value_a;
  value_out = value_b;
  for (int pass = 0; pass < 2 * bytes; pass++) {
    int shift = (pass < bytes ? 0 : 32) + 8 * (pass % bytes); /* column bytes, then row bytes */
    PetscCall(PetscArrayzero(count, 256));
    for (PetscCount k = 0; k < n; k++) count[(key_in[k] >> shift) & 0xFF]++;
    for (PetscCount b = 0, sum = 0; b < 256; b++) {
      PetscCount c = count[b];
      count[b]     = sum;
      sum += c;
    }
    for (PetscCount k = 0; k < n; k++) {
      PetscCount at = count[(key_in[k] >> shift) & 0xFF]++;
      key_out[at]   = key_in[k];
      value_out[at] = value_in[k];
    }
    { /* the output of this pass is the input of the next */
      uint64_t    *t = key_in;
      PetscScalar *v = value_in;
      key_in         = key_out;
      key_out        = t;
      value_in       = value_out;
      value_out      = v;
    }
  }
  /* an even number of passes: the result is in key_a, value_a */
  PetscAssert(key_in == key_a && value_in == value_a, PETSC_COMM_SELF, PETSC_ERR_PLIB, "odd number of radix passes");
  PetscCall(PetscFree2(key_b, value_b));
  PetscCall(PetscMalloc3(n + 1, ci, n + 1, cj, n + 1, cv));
  for (PetscCount k = 0; k < n; k++) {
    (*ci)[k] = (PetscInt)(key_a[k] >> 32);
    (*cj)[k] = (PetscInt)(key_a[k] & 0xFFFFFFFFu);
    (*cv)[k] = value_a[k];
  }
  PetscCall(PetscFree2(key_a, value_a));
  *ncoo = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The upper triangle is accumulated; the full matrix is written out of it. */
static inline PetscErrorCode AccumulatorAddSymmetric(Accumulator *acc, PetscInt a, PetscInt b, PetscScalar v)
{
  return a <= b ? AccumulatorAdd(acc, a, b, v) : AccumulatorAdd(acc, b, a, v);
}

struct _p_MME {
  MPI_Comm    comm;
  PetscMPIInt rank, size;
  PetscLayout layout;
  Mat         C;
  Vec         rhs;
  PetscBool   structure; /* COO structure set */
  PetscCount  ncoo;
  MMEStats    stats;
};

PetscErrorCode MMECreate(MPI_Comm comm, MME *mme)
{
  PetscFunctionBeginUser;
  PetscCall(PetscNew(mme));
  (*mme)->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &(*mme)->rank));
  PetscCallMPI(MPI_Comm_size(comm, &(*mme)->size));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEDestroy(MME *mme)
{
  PetscFunctionBeginUser;
  if (!*mme) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(MatDestroy(&(*mme)->C));
  PetscCall(VecDestroy(&(*mme)->rhs));
  PetscCall(PetscLayoutDestroy(&(*mme)->layout));
  PetscCall(PetscFree(*mme));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* X'R^-1X, X'R^-1Z, Z'R^-1Z and X'R^-1y, Z'R^-1y of this rank's records. */
static PetscErrorCode AccumulateRecords(Model model, Equations eq, Records records, Accumulator *lhs, Accumulator *rhs)
{
  PetscInt                neffects, nrecords;
  const PetscReal        *y;
  const PetscInt        **level;
  const PetscReal       **value;
  const EquationsEffect **effect;
  PetscInt               *eqs;
  PetscReal              *coef, *centre, *scale, residual, rinv;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumEffects(model, &neffects));
  PetscCall(ModelGetResidualVariance(model, &residual));
  rinv = 1.0 / residual;
  PetscCall(RecordsGetLocalSize(records, &nrecords));
  PetscCall(RecordsGetTrait(records, &y));
  PetscCall(PetscMalloc5(neffects, &level, neffects, &value, neffects, &effect, neffects, &eqs, neffects, &coef));
  PetscCall(PetscMalloc2(neffects, &centre, neffects, &scale));
  for (PetscInt e = 0; e < neffects; e++) {
    PetscCall(RecordsGetEffect(records, e, &level[e], &value[e]));
    PetscCall(EquationsGetEffect(eq, e, &effect[e]));
    if (value[e]) PetscCall(RecordsGetCovariateScaling(records, e, &centre[e], &scale[e]));
  }
  for (PetscInt r = 0; r < nrecords; r++) {
    PetscInt k = 0;
    for (PetscInt e = 0; e < neffects; e++) {
      if (value[e]) { /* covariate: one equation, the centred and scaled value as coefficient */
        PetscReal x = (value[e][r] - centre[e]) / scale[e];
        if (x == 0) continue;
        eqs[k]  = effect[e]->offset;
        coef[k] = x;
        k++;
      } else {
        PetscInt q = EquationsLevelEquation(effect[e], level[e][r]);
        if (q < 0) continue;
        eqs[k]  = q;
        coef[k] = 1.0;
        k++;
      }
    }
    for (PetscInt a = 0; a < k; a++) {
      PetscCall(AccumulatorAdd(rhs, eqs[a], 0, coef[a] * rinv * y[r]));
      for (PetscInt b = a; b < k; b++) PetscCall(AccumulatorAddSymmetric(lhs, eqs[a], eqs[b], coef[a] * coef[b] * rinv));
    }
  }
  PetscCall(PetscFree5(level, value, effect, eqs, coef));
  PetscCall(PetscFree2(centre, scale));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A^-1 / variance for every pedigree effect, from this rank's animals (Henderson's rules, Quaas 1976). */
static PetscErrorCode AccumulatePedigree(Model model, Equations eq, Pedigree pedigree, Accumulator *lhs)
{
  PetscInt   neffects;
  PetscCount n;
  PetscInt  *rows, *cols;
  PetscReal *values;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumEffects(model, &neffects));
  PetscCall(PedigreeGetInverseEntries(pedigree, &n, &rows, &cols, &values));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect     *effect;
    const EquationsEffect *layout;
    PetscReal              ginv;
    PetscCall(ModelGetEffect(model, e, &effect));
    if (effect->structure != MODEL_STRUCTURE_PEDIGREE) continue;
    PetscCall(EquationsGetEffect(eq, e, &layout));
    ginv = 1.0 / effect->variance;
    for (PetscCount k = 0; k < n; k++) PetscCall(AccumulatorAdd(lhs, layout->offset + rows[k], layout->offset + cols[k], ginv * values[k]));
  }
  PetscCall(PetscFree3(rows, cols, values));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* I / variance for every iid random effect, on the rows this rank owns. */
static PetscErrorCode AccumulateIdentity(Model model, Equations eq, PetscInt rstart, PetscInt rend, Accumulator *lhs)
{
  PetscInt neffects;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumEffects(model, &neffects));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect     *effect;
    const EquationsEffect *layout;
    PetscCall(ModelGetEffect(model, e, &effect));
    if (effect->structure != MODEL_STRUCTURE_IID) continue;
    PetscCall(EquationsGetEffect(eq, e, &layout));
    for (PetscInt i = PetscMax(rstart, layout->offset); i < PetscMin(rend, layout->offset + layout->nequations); i++)
      PetscCall(AccumulatorAdd(lhs, i, i, 1.0 / effect->variance));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Every equation must carry information: a zero or negative diagonal means an effect without data. */
static PetscErrorCode CheckDiagonal(MME mme, Model model, Equations eq)
{
  Vec       d;
  PetscInt  where, neffects;
  PetscReal smallest;

  PetscFunctionBeginUser;
  PetscCall(MatCreateVecs(mme->C, &d, NULL));
  PetscCall(MatGetDiagonal(mme->C, d));
  PetscCall(VecMin(d, &where, &smallest));
  PetscCall(VecDestroy(&d));
  if (smallest > 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetNumEffects(model, &neffects));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect     *effect;
    const EquationsEffect *layout;
    PetscCall(ModelGetEffect(model, e, &effect));
    PetscCall(EquationsGetEffect(eq, e, &layout));
    if (where < layout->offset || where >= layout->offset + layout->nequations) continue;
    SETERRQ(mme->comm, PETSC_ERR_USER_INPUT, "effect '%s' has no information on its level %" PetscInt_FMT " (equation %" PetscInt_FMT ")", effect->name,
            where - layout->offset + (layout->constrained >= 0 ? 1 : 0), where);
  }
  SETERRQ(mme->comm, PETSC_ERR_PLIB, "equation %" PetscInt_FMT " has diagonal %g", where, (double)smallest);
}

PetscErrorCode MMEAssemble(MME mme, Model model, Equations eq, Records records, Pedigree pedigree)
{
  PetscInt        n, rstart, rend, nrecords, neffects, first_pedigree = -1;
  const PetscInt *ranges;
  Accumulator     lhs, rhs;
  PetscBool       has_pedigree;

  PetscFunctionBeginUser;
  PetscCall(EquationsGetSize(eq, &n));
  PetscCall(ModelGetNumEffects(model, &neffects));
  PetscCall(ModelHasPedigreeEffect(model, &has_pedigree));
  if (!mme->layout) {
    PetscCall(PetscLayoutCreate(mme->comm, &mme->layout));
    PetscCall(PetscLayoutSetSize(mme->layout, n));
    PetscCall(PetscLayoutSetLocalSize(mme->layout, PETSC_DECIDE));
    PetscCall(PetscLayoutSetUp(mme->layout));
  }
  PetscCall(PetscLayoutGetRange(mme->layout, &rstart, &rend));
  PetscCall(PetscLayoutGetRanges(mme->layout, &ranges));

  /* Each rank gets the A-inverse coefficients of the animals whose (first pedigree effect's) rows it owns. */
  if (has_pedigree) {
    PetscInt *animal_ranges;
    for (PetscInt e = 0; e < neffects && first_pedigree < 0; e++) {
      const ModelEffect *effect;
      PetscCall(ModelGetEffect(model, e, &effect));
      if (effect->structure == MODEL_STRUCTURE_PEDIGREE) first_pedigree = e;
    }
    PetscCheck(pedigree, mme->comm, PETSC_ERR_ARG_NULL, "the model has a pedigree effect but no pedigree was given");
    PetscCall(PetscMalloc1(mme->size + 1, &animal_ranges));
    {
      const EquationsEffect *layout;
      PetscCall(EquationsGetEffect(eq, first_pedigree, &layout));
      for (PetscMPIInt r = 0; r <= mme->size; r++) animal_ranges[r] = PetscMin(PetscMax(ranges[r] - layout->offset, 0), layout->nlevels);
      animal_ranges[mme->size] = layout->nlevels;
    }
    PetscCall(PedigreeDistribute(pedigree, animal_ranges));
    PetscCall(PetscFree(animal_ranges));
  }

  PetscCall(RecordsGetLocalSize(records, &nrecords));
  /* about 3 distinct upper-triangle entries a record and 3 a row (A-inverse, fixed-effect rows) */
  PetscCall(AccumulatorCreate((size_t)nrecords * 3 + (size_t)(rend - rstart) * 3, &lhs));
  PetscCall(AccumulatorCreate((size_t)(rend - rstart) + 64, &rhs));
  PetscCall(AccumulateRecords(model, eq, records, &lhs, &rhs));
  if (has_pedigree) PetscCall(AccumulatePedigree(model, eq, pedigree, &lhs));
  PetscCall(AccumulateIdentity(model, eq, rstart, rend, &lhs));
  PetscCall(PetscInfo(NULL, "%zu distinct upper-triangle entries accumulated on this rank\n", lhs.n));

  /* Both triangles go to PETSc; the off-process ones are sent to their owners by the COO assembly.
     A later assembly (new variances) finds the same entries in the same order and only sets values. */
  {
    PetscCount   ncoo = 0;
    PetscInt    *ci, *cj;
    PetscScalar *cv;
    PetscCall(AccumulatorToSortedCOO(&lhs, n, &ncoo, &ci, &cj, &cv));
    if (!mme->structure) {
      PetscCall(MatCreate(mme->comm, &mme->C));
      PetscCall(MatSetSizes(mme->C, rend - rstart, rend - rstart, n, n));
      PetscCall(MatSetType(mme->C, MATAIJ));
      PetscCall(MatSetOption(mme->C, MAT_SYMMETRIC, PETSC_TRUE));
      PetscCall(MatSetOption(mme->C, MAT_SYMMETRY_ETERNAL, PETSC_TRUE));
      PetscCall(MatSetPreallocationCOO(mme->C, ncoo, ci, cj));
      mme->ncoo      = ncoo;
      mme->structure = PETSC_TRUE;
    }
    PetscCheck(ncoo == mme->ncoo, mme->comm, PETSC_ERR_PLIB, "the structure of the equations changed between assemblies");
    PetscCall(MatSetValuesCOO(mme->C, cv, INSERT_VALUES));
    PetscCall(PetscFree3(ci, cj, cv));
    mme->stats.local_entries = (PetscInt64)ncoo;
  }

  /* right-hand side */
  if (!mme->rhs) PetscCall(MatCreateVecs(mme->C, NULL, &mme->rhs));
  PetscCall(VecZeroEntries(mme->rhs));
  {
    PetscInt    *rows;
    PetscScalar *vals;
    PetscInt     k = 0;
    PetscCall(PetscMalloc2(rhs.n + 1, &rows, rhs.n + 1, &vals));
    for (size_t s = 0; s < rhs.nslots; s++)
      if (rhs.row[s] >= 0) {
        rows[k]   = rhs.row[s];
        vals[k++] = rhs.value[s];
      }
    PetscCall(VecSetValues(mme->rhs, k, rows, vals, ADD_VALUES));
    PetscCall(PetscFree2(rows, vals));
    PetscCall(AccumulatorDestroy(&rhs));
    PetscCall(VecAssemblyBegin(mme->rhs));
    PetscCall(VecAssemblyEnd(mme->rhs));
  }

  {
    MatInfo    info;
    PetscInt64 local = mme->stats.local_entries;
    PetscCall(MatGetInfo(mme->C, MAT_GLOBAL_SUM, &info));
    mme->stats.equations = n;
    mme->stats.nonzeros  = (PetscInt64)info.nz_used;
    PetscCallMPI(MPI_Allreduce(&local, &mme->stats.local_entries, 1, MPIU_INT64, MPI_MAX, mme->comm));
  }
  PetscCall(CheckDiagonal(mme, model, eq));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEGetSystem(MME mme, Mat *C, Vec *rhs)
{
  PetscFunctionBeginUser;
  if (C) *C = mme->C;
  if (rhs) *rhs = mme->rhs;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEGetStats(MME mme, MMEStats *stats)
{
  PetscFunctionBeginUser;
  *stats = mme->stats;
  PetscFunctionReturn(PETSC_SUCCESS);
}
