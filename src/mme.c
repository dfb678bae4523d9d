#include <henderson/mme.h>
#include <henderson/error.h>
#include <petscblaslapack.h>

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

/* The accumulated upper triangle as both triangles, as keys row:col (64 bits) with their values,
   sorted by row, then column: an LSD radix sort, the digits as wide as the largest index (below
   NMAX) needs, at most 11 bits. The accumulator is emptied first, so that its memory is back before
   the sort's is taken. Free KEY and VALUE with PetscFree2(). */
static PetscErrorCode AccumulatorToSortedKeys(Accumulator *acc, PetscInt nmax, PetscCount *nkeys, uint64_t **key, PetscScalar **value)
{
  uint64_t    *key_a, *key_b, *key_in, *key_out;
  PetscScalar *value_a, *value_b, *value_in, *value_out;
  PetscCount   n    = 0, count[2048];
  int          bits = 0, digits, width;

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
  /* digits of up to 11 bits (2048 counters stay in cache), as few as the largest index needs */
  while (bits < 32 && ((uint64_t)nmax >> bits)) bits++;
  digits    = PetscMax(1, (bits + 10) / 11);
  width     = (bits + digits - 1) / digits;
  key_in    = key_a;
  key_out   = key_b;
  value_in  = value_a;
  value_out = value_b;
  for (int pass = 0; pass < 2 * digits; pass++) {
    int      shift = (pass < digits ? 0 : 32) + width * (pass % digits); /* column digits, then row digits */
    uint64_t mask  = ((uint64_t)1 << width) - 1;
    PetscCall(PetscArrayzero(count, (size_t)1 << width));
    for (PetscCount k = 0; k < n; k++) count[(key_in[k] >> shift) & mask]++;
    for (PetscCount b = 0, sum = 0; b < ((PetscCount)1 << width); b++) {
      PetscCount c = count[b];
      count[b]     = sum;
      sum += c;
    }
    for (PetscCount k = 0; k < n; k++) {
      PetscCount at = count[(key_in[k] >> shift) & mask]++;
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
  *nkeys = n;
  *key   = key_a;
  *value = value_a;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Merges two sorted runs of distinct keys into OUT, adding the values of equal keys. */
static PetscCount MergeRuns(const uint64_t *ka, const PetscScalar *va, PetscCount na, const uint64_t *kb, const PetscScalar *vb, PetscCount nb, uint64_t *kout,
                            PetscScalar *vout)
{
  PetscCount i = 0, j = 0, m = 0;
  while (i < na && j < nb) {
    if (ka[i] < kb[j]) {
      kout[m]   = ka[i];
      vout[m++] = va[i++];
    } else if (kb[j] < ka[i]) {
      kout[m]   = kb[j];
      vout[m++] = vb[j++];
    } else {
      kout[m]   = ka[i];
      vout[m++] = va[i++] + vb[j++];
    }
  }
  while (i < na) {
    kout[m]   = ka[i];
    vout[m++] = va[i++];
  }
  while (j < nb) {
    kout[m]   = kb[j];
    vout[m++] = vb[j++];
  }
  return m;
}

/* Each rank's sorted entries go to the owners of their rows -- slices of the sorted list -- and every
   owner merges what it receives (sorted runs, one a rank) into its distinct, sorted entries as COO.
   PETSc then sets up a matrix from local, sorted, distinct entries only: its fastest path. */
static PetscErrorCode ExchangeToOwners(MPI_Comm comm, PetscLayout layout, PetscCount n, const uint64_t key[], const PetscScalar value[], PetscCount *ncoo,
                                       PetscInt **ci, PetscInt **cj, PetscScalar **cv)
{
  const PetscInt *ranges;
  PetscMPIInt     size, *send_n, *recv_n, *send_at, *recv_at;
  PetscCount      nrecv = 0, *run_start, *run_n, nruns;
  uint64_t       *k_in, *k_out, *k_a, *k_b;
  PetscScalar    *v_in, *v_out, *v_a, *v_b;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  if (size == 1) { /* everything is local already */
    PetscCall(PetscMalloc3(n + 1, ci, n + 1, cj, n + 1, cv));
    for (PetscCount k = 0; k < n; k++) {
      (*ci)[k] = (PetscInt)(key[k] >> 32);
      (*cj)[k] = (PetscInt)(key[k] & 0xFFFFFFFFu);
    }
    PetscCall(PetscArraycpy(*cv, value, n));
    *ncoo = n;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  nruns = size;
  PetscCall(PetscLayoutGetRanges(layout, &ranges));
  PetscCall(PetscMalloc4(size, &send_n, size, &recv_n, size, &send_at, size, &recv_at));
  {
    PetscCount k = 0;
    for (PetscMPIInt r = 0; r < size; r++) {
      PetscCount start = k;
      while (k < n && (PetscInt)(key[k] >> 32) < ranges[r + 1]) k++;
      PetscCheck(k - start <= PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "more than 2^31 entries for one rank; run with more ranks");
      send_n[r]  = (PetscMPIInt)(k - start);
      send_at[r] = (PetscMPIInt)start;
    }
  }
  PetscCallMPI(MPI_Alltoall(send_n, 1, MPI_INT, recv_n, 1, MPI_INT, comm));
  for (PetscMPIInt r = 0; r < size; r++) {
    PetscCheck(nrecv + recv_n[r] <= PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "more than 2^31 entries for one rank; run with more ranks");
    recv_at[r] = (PetscMPIInt)nrecv;
    nrecv += recv_n[r];
  }
  PetscCall(PetscMalloc2(nrecv + 1, &k_a, nrecv + 1, &v_a));
  PetscCall(PetscMalloc2(nrecv + 1, &k_b, nrecv + 1, &v_b));
  k_in  = k_a;
  v_in  = v_a;
  k_out = k_b;
  v_out = v_b;
  PetscCallMPI(MPI_Alltoallv(key, send_n, send_at, MPI_UINT64_T, k_in, recv_n, recv_at, MPI_UINT64_T, comm));
  PetscCallMPI(MPI_Alltoallv(value, send_n, send_at, MPIU_SCALAR, v_in, recv_n, recv_at, MPIU_SCALAR, comm));
  /* pairwise merges of the runs, in rank order (the same sums for the same rank count) */
  PetscCall(PetscMalloc2(size, &run_start, size, &run_n));
  for (PetscMPIInt r = 0; r < size; r++) {
    run_start[r] = recv_at[r];
    run_n[r]     = recv_n[r];
  }
  while (nruns > 1) {
    PetscCount m = 0, merged = 0;
    for (PetscCount r = 0; r < nruns; r += 2) {
      PetscCount start = m;
      if (r + 1 < nruns)
        m +=
            MergeRuns(k_in + run_start[r], v_in + run_start[r], run_n[r], k_in + run_start[r + 1], v_in + run_start[r + 1], run_n[r + 1], k_out + m, v_out + m);
      else {
        PetscCall(PetscArraycpy(k_out + m, k_in + run_start[r], run_n[r]));
        PetscCall(PetscArraycpy(v_out + m, v_in + run_start[r], run_n[r]));
        m += run_n[r];
      }
      run_start[merged] = start;
      run_n[merged++]   = m - start;
    }
    nruns = merged;
    {
      uint64_t    *t = k_in;
      PetscScalar *v = v_in;
      k_in           = k_out;
      k_out          = t;
      v_in           = v_out;
      v_out          = v;
    }
  }
  *ncoo = nruns ? run_n[0] : 0;
  PetscCall(PetscMalloc3(*ncoo + 1, ci, *ncoo + 1, cj, *ncoo + 1, cv));
  for (PetscCount k = 0; k < *ncoo; k++) {
    (*ci)[k] = (PetscInt)(k_in[run_start[0] + k] >> 32);
    (*cj)[k] = (PetscInt)(k_in[run_start[0] + k] & 0xFFFFFFFFu);
    (*cv)[k] = v_in[run_start[0] + k];
  }
  PetscCall(PetscFree2(k_a, v_a));
  PetscCall(PetscFree2(k_b, v_b));
  PetscCall(PetscFree2(run_start, run_n));
  PetscCall(PetscFree4(send_n, recv_n, send_at, recv_at));
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

/* Inverse of a symmetric positive definite matrix of order N (row-major), in place. */
static PetscErrorCode InvertSPD(PetscInt n, PetscReal A[])
{
  PetscBLASInt bn, info;

  PetscFunctionBeginUser;
  if (!n) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscBLASIntCast(n, &bn));
  LAPACKpotrf_("U", &bn, A, &bn, &info);
  PetscCheck(!info, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "a (co)variance matrix is not positive definite");
  LAPACKpotri_("U", &bn, A, &bn, &info);
  PetscCheck(!info, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK potri failed: %d", (int)info);
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < i; j++) A[j * n + i] = A[i * n + j];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* R0-inverse for the traits present in a record (a bit mask), zero elsewhere: cached by pattern. */
typedef struct {
  PetscInt    ntraits;
  PetscReal   R0[MODEL_MAX_TRAITS * MODEL_MAX_TRAITS];
  PetscReal **by_pattern; /* 2^ntraits entries, NULL until needed */
} ResidualInverses;

static PetscErrorCode ResidualInverse(ResidualInverses *ri, uint32_t pattern, const PetscReal **Rinv)
{
  PetscFunctionBeginUser;
  if (!ri->by_pattern[pattern]) {
    PetscInt  t = ri->ntraits, m = 0, which[MODEL_MAX_TRAITS];
    PetscReal sub[MODEL_MAX_TRAITS * MODEL_MAX_TRAITS], *full;
    for (PetscInt i = 0; i < t; i++)
      if (pattern >> i & 1) which[m++] = i;
    for (PetscInt i = 0; i < m; i++)
      for (PetscInt j = 0; j < m; j++) sub[i * m + j] = ri->R0[which[i] * t + which[j]];
    PetscCall(InvertSPD(m, sub));
    PetscCall(PetscCalloc1(t * t, &full));
    for (PetscInt i = 0; i < m; i++)
      for (PetscInt j = 0; j < m; j++) full[which[i] * t + which[j]] = sub[i * m + j];
    ri->by_pattern[pattern] = full;
  }
  *Rinv = ri->by_pattern[pattern];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The incidence of one effect on one record: its coefficients (1 for a class, the scaled covariate,
   or the Legendre polynomials of it) -- *ncoef of them. */
static inline void Coefficients(const ModelEffect *effect, const PetscReal *value, PetscInt r, PetscReal centre, PetscReal scale, const PetscReal range[2],
                                PetscReal phi[])
{
  if (!value)
    phi[0] = 1.0;
  else if (effect->legendre >= 0)
    RecordsLegendre(effect->legendre, 2.0 * (value[r] - range[0]) / (range[1] - range[0]) - 1.0, phi);
  else
    phi[0] = (value[r] - centre) / scale;
}

/* X'R^-1X, X'R^-1Z, Z'R^-1Z and X'R^-1y, Z'R^-1y of this rank's records: for each record the list of
   its terms (equation, trait, coefficient); every pair of terms adds coef coef' R^-1[trait][trait'],
   R^-1 the inverse of R0 over the traits the record has, times its weight. */
static PetscErrorCode AccumulateRecords(Model model, Equations eq, Records records, Accumulator *lhs, Accumulator *rhs)
{
  PetscInt                neffects, nrecords, ntraits, maxterms = 0;
  const PetscReal        *y, *w, *R0;
  const PetscInt        **level;
  const PetscReal       **value;
  const ModelEffect     **effect;
  const EquationsEffect **layout;
  const EquationsBlock  **block;
  PetscReal              *centre, *scale, (*range)[2];
  PetscInt               *term_eq, *term_trait;
  PetscReal              *term_coef;
  ResidualInverses        ri;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumEffects(model, &neffects));
  PetscCall(ModelGetNumTraits(model, &ntraits));
  PetscCall(ModelGetResidual(model, &R0));
  ri.ntraits = ntraits;
  PetscCall(PetscArraycpy(ri.R0, R0, ntraits * ntraits));
  PetscCall(PetscCalloc1((size_t)1 << ntraits, &ri.by_pattern));
  PetscCall(RecordsGetLocalSize(records, &nrecords));
  PetscCall(RecordsGetTraits(records, &y));
  PetscCall(RecordsGetWeights(records, &w));
  PetscCall(PetscMalloc4(neffects, &level, neffects, &value, neffects, &effect, neffects, &layout));
  PetscCall(PetscMalloc4(neffects, &block, neffects, &centre, neffects, &scale, neffects, &range));
  for (PetscInt e = 0; e < neffects; e++) {
    PetscCall(ModelGetEffect(model, e, &effect[e]));
    PetscCall(RecordsGetEffect(records, e, &level[e], &value[e]));
    PetscCall(EquationsGetEffect(eq, e, &layout[e]));
    PetscCall(EquationsGetBlock(eq, layout[e]->block, &block[e]));
    centre[e] = 0;
    scale[e]  = 1;
    if (value[e]) {
      PetscCall(RecordsGetCovariateScaling(records, e, &centre[e], &scale[e]));
      PetscCall(RecordsGetLegendreRange(records, e, range[e]));
    }
    maxterms += layout[e]->ntraits * layout[e]->ncoef;
  }
  PetscCall(PetscMalloc3(maxterms, &term_eq, maxterms, &term_trait, maxterms, &term_coef));
  for (PetscInt r = 0; r < nrecords; r++) {
    const PetscReal *yr = y + r * ntraits, *Rinv = NULL;
    PetscReal        weight  = w ? w[r] : 1.0, ry[MODEL_MAX_TRAITS];
    PetscInt         nterms  = 0;
    uint32_t         pattern = 0;

    for (PetscInt t = 0; t < ntraits; t++)
      if (!PetscIsNanReal(yr[t])) pattern |= (uint32_t)1 << t;
    PetscCall(ResidualInverse(&ri, pattern, &Rinv));
    for (PetscInt t = 0; t < ntraits; t++) { /* R^-1 y */
      ry[t] = 0;
      for (PetscInt j = 0; j < ntraits; j++)
        if (pattern >> j & 1) ry[t] += Rinv[t * ntraits + j] * yr[j];
    }
    for (PetscInt e = 0; e < neffects; e++) {
      PetscInt  l = level[e] ? level[e][r] : 0, ncoef = layout[e]->ncoef;
      PetscReal phi[32];
      if (l < 0) continue;
      Coefficients(effect[e], value[e], r, centre[e], scale[e], range[e], phi);
      for (PetscInt i = 0; i < layout[e]->ntraits; i++) {
        PetscInt t = effect[e]->traits[i];
        if (!(pattern >> t & 1)) continue;
        for (PetscInt c = 0; c < ncoef; c++) {
          PetscInt q = EquationsBlockEquation(block[e], l, layout[e]->slot + i * ncoef + c);
          if (q < 0 || phi[c] == 0) continue;
          term_eq[nterms]     = q;
          term_trait[nterms]  = t;
          term_coef[nterms++] = phi[c];
        }
      }
    }
    for (PetscInt a = 0; a < nterms; a++) {
      PetscCall(AccumulatorAdd(rhs, term_eq[a], 0, weight * term_coef[a] * ry[term_trait[a]]));
      for (PetscInt b = a; b < nterms; b++) {
        PetscReal v = weight * term_coef[a] * term_coef[b] * Rinv[term_trait[a] * ntraits + term_trait[b]];
        if (v != 0) PetscCall(AccumulatorAddSymmetric(lhs, term_eq[a], term_eq[b], v));
      }
    }
  }
  for (size_t k = 0; k < ((size_t)1 << ntraits); k++) PetscCall(PetscFree(ri.by_pattern[k]));
  PetscCall(PetscFree(ri.by_pattern));
  PetscCall(PetscFree3(term_eq, term_trait, term_coef));
  PetscCall(PetscFree4(level, value, effect, layout));
  PetscCall(PetscFree4(block, centre, scale, range));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* G0-inverse of random group G, dim x dim (PetscFree() it). */
static PetscErrorCode GroupInverse(const ModelGroup *group, PetscReal **Ginv)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(group->dim * group->dim, Ginv));
  PetscCall(PetscArraycpy(*Ginv, group->covariance, group->dim * group->dim));
  PetscCall(InvertSPD(group->dim, *Ginv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A^-1 (x) G0^-1 for every pedigree group, from this rank's animals (Henderson's rules, Quaas 1976;
   unknown-parent groups by the QP transformation, their equations in their own block). */
static PetscErrorCode AccumulatePedigree(Model model, Equations eq, Pedigree pedigree, Accumulator *lhs)
{
  PetscInt      ngroups;
  PetscCount    n;
  PetscInt     *rows, *cols;
  PetscReal    *values;
  PedigreeStats stats;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(model, &ngroups));
  PetscCall(PedigreeGetStats(pedigree, &stats));
  PetscCall(PedigreeGetInverseEntries(pedigree, &n, &rows, &cols, &values));
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup      *group;
    const EquationsEffect *layout;
    const EquationsBlock  *animals, *upg = NULL;
    PetscReal             *Ginv;
    PetscInt               dim;
    PetscCall(ModelGetGroup(model, g, &group));
    if (group->structure != MODEL_STRUCTURE_PEDIGREE) continue;
    dim = group->dim;
    PetscCall(EquationsGetEffect(eq, group->first, &layout));
    PetscCall(EquationsGetBlock(eq, layout->block, &animals));
    if (layout->group_block >= 0) PetscCall(EquationsGetBlock(eq, layout->group_block, &upg));
    PetscCall(GroupInverse(group, &Ginv));
    for (PetscCount k = 0; k < n; k++) {
      PetscInt              i = rows[k], j = cols[k];
      const EquationsBlock *bi = i < stats.animals ? animals : upg, *bj = j < stats.animals ? animals : upg;
      PetscInt              li = i < stats.animals ? i : i - stats.animals, lj = j < stats.animals ? j : j - stats.animals;
      for (PetscInt p = 0; p < dim; p++) {
        PetscInt ep = EquationsBlockEquation(bi, li, p);
        if (ep < 0) continue;
        for (PetscInt q = (i == j ? p : 0); q < dim; q++) {
          PetscInt eq_ = EquationsBlockEquation(bj, lj, q);
          if (eq_ < 0 || Ginv[p * dim + q] == 0) continue;
          PetscCall(AccumulatorAddSymmetric(lhs, ep, eq_, values[k] * Ginv[p * dim + q]));
        }
      }
    }
    PetscCall(PetscFree(Ginv));
  }
  PetscCall(PetscFree3(rows, cols, values));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* I (x) G0^-1 for every iid group, on an even share of its levels. */
static PetscErrorCode AccumulateIdentity(MME mme, Model model, Equations eq, Accumulator *lhs)
{
  PetscInt ngroups;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(model, &ngroups));
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup      *group;
    const EquationsEffect *layout;
    const EquationsBlock  *block;
    PetscReal             *Ginv;
    PetscInt               dim, lo, hi;
    PetscCall(ModelGetGroup(model, g, &group));
    if (group->structure != MODEL_STRUCTURE_IID) continue;
    dim = group->dim;
    PetscCall(EquationsGetEffect(eq, group->first, &layout));
    PetscCall(EquationsGetBlock(eq, layout->block, &block));
    PetscCall(GroupInverse(group, &Ginv));
    lo = (PetscInt)((PetscInt64)block->nlevels * mme->rank / mme->size);
    hi = (PetscInt)((PetscInt64)block->nlevels * (mme->rank + 1) / mme->size);
    for (PetscInt l = lo; l < hi; l++)
      for (PetscInt p = 0; p < dim; p++)
        for (PetscInt q = p; q < dim; q++)
          if (Ginv[p * dim + q] != 0)
            PetscCall(AccumulatorAddSymmetric(lhs, EquationsBlockEquation(block, l, p), EquationsBlockEquation(block, l, q), Ginv[p * dim + q]));
    PetscCall(PetscFree(Ginv));
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
    const EquationsBlock  *block;
    PetscCall(ModelGetEffect(model, e, &effect));
    PetscCall(EquationsGetEffect(eq, e, &layout));
    PetscCall(EquationsGetBlock(eq, layout->block, &block));
    if (where < block->offset || where >= block->offset + block->nequations) continue;
    SETERRQ(mme->comm, PETSC_ERR_USER_INPUT,
            "effect '%s' has no information on one of its equations (equation %" PetscInt_FMT "): a covariate that is zero on all its records?", effect->name,
            where);
  }
  SETERRQ(mme->comm, PETSC_ERR_PLIB, "equation %" PetscInt_FMT " has diagonal %g", where, (double)smallest);
}

/* The rows of every rank, chosen so that each moves the same bytes in a CG iteration: 12 a nonzero
   (AIJ value and column) and 156 a row (row pointer, x, y and the vectors of CG with Jacobi). Rows
   are grouped in consecutive buckets; the entries of every rank are counted into a histogram of the
   buckets, summed over ranks; the split points are put where the running weight reaches r/size of
   the whole, then moved to the next level boundary so that a level (a point block) is not split.
   Without this, the first rank -- which holds the fixed effects, rows as long as the data -- does
   most of the work. */
static PetscErrorCode BalancedLayout(MME mme, Equations eq, const Accumulator *acc, PetscInt n)
{
  PetscInt    nbuckets = (PetscInt)PetscMin((PetscInt64)n, 65536), *split;
  PetscInt64 *weight, *total, sum = 0, all = 0;
  PetscMPIInt size = mme->size;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc2(nbuckets + 1, &weight, nbuckets + 1, &total));
  PetscCall(PetscMalloc1(size + 1, &split));
  for (size_t s = 0; s < acc->nslots; s++) {
    PetscInt i = acc->row[s], j = acc->col[s];
    if (i < 0) continue;
    weight[(PetscInt64)i * nbuckets / n] += 12;
    if (i != j) weight[(PetscInt64)j * nbuckets / n] += 12;
  }
  PetscCallMPI(MPI_Allreduce(weight, total, (PetscMPIInt)nbuckets, MPIU_INT64, MPI_SUM, mme->comm));
  /* bucket b holds rows first(b) .. first(b+1)-1, first(b) = ceil(b n / nbuckets) */
  for (PetscInt b = 0; b < nbuckets; b++) {
    PetscInt64 first = ((PetscInt64)b * n + nbuckets - 1) / nbuckets, next = ((PetscInt64)(b + 1) * n + nbuckets - 1) / nbuckets;
    total[b] += 156 * (next - first);
    all += total[b];
  }
  split[0]    = 0;
  split[size] = n;
  for (PetscMPIInt r = 1, b = 0; r < size; r++) {
    while (b < nbuckets && sum * size < all * r) sum += total[b++];
    split[r] = (PetscInt)(((PetscInt64)b * n + nbuckets - 1) / nbuckets);
    PetscCall(EquationsLevelBoundary(eq, split[r], &split[r]));
    split[r] = PetscMax(split[r], split[r - 1]);
  }
  PetscCall(PetscLayoutCreate(mme->comm, &mme->layout));
  PetscCall(PetscLayoutSetSize(mme->layout, n));
  PetscCall(PetscLayoutSetLocalSize(mme->layout, split[mme->rank + 1] - split[mme->rank]));
  PetscCall(PetscLayoutSetUp(mme->layout));
  PetscCall(PetscFree2(weight, total));
  PetscCall(PetscFree(split));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEAssemble(MME mme, Model model, Equations eq, Records records, Pedigree pedigree)
{
  PetscInt    n, rstart, rend, nrecords, even_start, even_end;
  Accumulator lhs, rhs;
  PetscBool   has_pedigree;

  PetscFunctionBeginUser;
  PetscCall(EquationsGetSize(eq, &n));
  PetscCall(ModelHasPedigreeEffect(model, &has_pedigree));
  /* Work is shared out evenly before the rows are (BalancedLayout); where an entry is produced does
     not matter: the COO assembly sends it to the owner of its row. */
  even_start = (PetscInt)((PetscInt64)n * mme->rank / mme->size);
  even_end   = (PetscInt)((PetscInt64)n * (mme->rank + 1) / mme->size);
  if (has_pedigree) {
    PetscInt     *animal_ranges;
    PedigreeStats stats;
    PetscCheck(pedigree, mme->comm, PETSC_ERR_ARG_NULL, "the model has a pedigree effect but no pedigree was given");
    PetscCall(PedigreeGetStats(pedigree, &stats));
    PetscCall(PetscMalloc1(mme->size + 1, &animal_ranges));
    for (PetscMPIInt r = 0; r <= mme->size; r++) animal_ranges[r] = (PetscInt)((PetscInt64)stats.animals * r / mme->size);
    PetscCall(PedigreeDistribute(pedigree, animal_ranges));
    PetscCall(PetscFree(animal_ranges));
  }

  PetscCall(RecordsGetLocalSize(records, &nrecords));
  {
    /* distinct upper-triangle entries, roughly: a record's terms each meet its animal's (2 a term),
       an animal of this rank adds about 3 positions of A-inverse times its groups' G0, a row 1 */
    PetscInt  neffects, ngroups, nanimals = 0;
    PetscReal expected = (PetscReal)(even_end - even_start);
    PetscCall(ModelGetNumEffects(model, &neffects));
    PetscCall(ModelGetNumGroups(model, &ngroups));
    for (PetscInt e = 0; e < neffects; e++) {
      const EquationsEffect *layout;
      PetscCall(EquationsGetEffect(eq, e, &layout));
      expected += 2.0 * nrecords * layout->ntraits * layout->ncoef;
    }
    if (has_pedigree) PetscCall(PedigreeGetLocal(pedigree, NULL, &nanimals, NULL, NULL, NULL, NULL));
    for (PetscInt g = 0; g < ngroups; g++) {
      const ModelGroup *group;
      PetscCall(ModelGetGroup(model, g, &group));
      if (group->structure == MODEL_STRUCTURE_PEDIGREE) expected += 3.0 * nanimals * group->dim * group->dim;
    }
    PetscCall(AccumulatorCreate((size_t)expected, &lhs));
  }
  PetscCall(AccumulatorCreate((size_t)(even_end - even_start) + 64, &rhs));
  PetscCall(AccumulateRecords(model, eq, records, &lhs, &rhs));
  if (has_pedigree) PetscCall(AccumulatePedigree(model, eq, pedigree, &lhs));
  PetscCall(AccumulateIdentity(mme, model, eq, &lhs));
  PetscCall(PetscInfo(NULL, "%zu distinct upper-triangle entries accumulated on this rank\n", lhs.n));
  if (!mme->layout) PetscCall(BalancedLayout(mme, eq, &lhs, n));
  PetscCall(PetscLayoutGetRange(mme->layout, &rstart, &rend));
  PetscCall(PetscInfo(NULL, "rows %" PetscInt_FMT " to %" PetscInt_FMT " of %" PetscInt_FMT "\n", rstart, rend, n));

  /* Both triangles go to PETSc; the off-process ones are sent to their owners by the COO assembly.
     A later assembly (new variances) finds the same entries in the same order and only sets values. */
  {
    PetscCount   ncoo = 0, nkeys = 0;
    PetscInt    *ci, *cj;
    PetscScalar *cv, *values;
    uint64_t    *keys;
    PetscCall(AccumulatorToSortedKeys(&lhs, n, &nkeys, &keys, &values));
    PetscCall(ExchangeToOwners(mme->comm, mme->layout, nkeys, keys, values, &ncoo, &ci, &cj, &cv));
    PetscCall(PetscFree2(keys, values));
    if (!mme->structure) {
      PetscCall(MatCreate(mme->comm, &mme->C));
      PetscCall(MatSetSizes(mme->C, rend - rstart, rend - rstart, n, n));
      PetscCall(MatSetType(mme->C, MATAIJ));
      PetscCall(MatSetOption(mme->C, MAT_SYMMETRIC, PETSC_TRUE));
      PetscCall(MatSetOption(mme->C, MAT_SYMMETRY_ETERNAL, PETSC_TRUE));
      PetscCall(MatSetPreallocationCOO(mme->C, ncoo, ci, cj));
      {
        /* the levels: traits, correlated effects and coefficients of one level, for point-block Jacobi */
        PetscInt nblocks, *sizes;
        PetscCall(EquationsGetPointBlocks(eq, rstart, rend, &nblocks, &sizes));
        PetscCall(MatSetVariableBlockSizes(mme->C, nblocks, sizes));
        PetscCall(PetscFree(sizes));
      }
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
