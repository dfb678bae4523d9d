/* Summing matrix entries on a rank, sorting them and sending them to the owners of their rows. */
#include "mmeimpl.h"

PetscErrorCode AccumulatorCreate(size_t expected, Accumulator *acc)
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

PetscErrorCode AccumulatorDestroy(Accumulator *acc)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree3(acc->row, acc->col, acc->value));
  acc->nslots = acc->n = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode AccumulatorGrow(Accumulator *acc)
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

/* The accumulated upper triangle as both triangles, as keys row:col (64 bits) with their values,
   sorted by row, then column: an LSD radix sort, the digits as wide as the largest index (below
   NMAX) needs, at most 11 bits. The accumulator is emptied first, so that its memory is back before
   the sort's is taken. Free KEY and VALUE with PetscFree2(). */
PetscErrorCode AccumulatorToSortedKeys(Accumulator *acc, PetscInt nmax, PetscCount *nkeys, uint64_t **key, PetscScalar **value)
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
PetscErrorCode ExchangeToOwners(MPI_Comm comm, PetscLayout layout, PetscCount n, const uint64_t key[], const PetscScalar value[], PetscCount *nentries,
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
    *nentries = n;
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
  PetscCall(HendersonExchange(comm, MPI_UINT64_T, sizeof(uint64_t), send_n, send_at, key, recv_n, recv_at, (void **)&k_a, &nrecv, "entries"));
  PetscCall(PetscMalloc1(nrecv + 1, &v_a));
  PetscCallMPI(MPI_Alltoallv(value, send_n, send_at, MPIU_SCALAR, v_a, recv_n, recv_at, MPIU_SCALAR, comm)); /* the same counts */
  PetscCall(PetscMalloc2(nrecv + 1, &k_b, nrecv + 1, &v_b));
  k_in  = k_a;
  v_in  = v_a;
  k_out = k_b;
  v_out = v_b;
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
  *nentries = nruns ? run_n[0] : 0;
  PetscCall(PetscMalloc3(*nentries + 1, ci, *nentries + 1, cj, *nentries + 1, cv));
  for (PetscCount k = 0; k < *nentries; k++) {
    (*ci)[k] = (PetscInt)(k_in[run_start[0] + k] >> 32);
    (*cj)[k] = (PetscInt)(k_in[run_start[0] + k] & 0xFFFFFFFFu);
    (*cv)[k] = v_in[run_start[0] + k];
  }
  PetscCall(PetscFree(k_a));
  PetscCall(PetscFree(v_a));
  PetscCall(PetscFree2(k_b, v_b));
  PetscCall(PetscFree2(run_start, run_n));
  PetscCall(PetscFree4(send_n, recv_n, send_at, recv_at));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MatCreateFromSortedEntries(MPI_Comm comm, PetscLayout layout, PetscCount n, const PetscInt ci[], const PetscInt cj[], const PetscScalar cv[],
                                          Mat *A)
{
  PetscInt rstart, rend, m, *ia;

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetRange(layout, &rstart, &rend));
  m = rend - rstart;
  PetscCheck(n <= PETSC_MAX_INT, PETSC_COMM_SELF, PETSC_ERR_SUP, "more than %" PetscInt_FMT " entries on one rank; run with more ranks", PETSC_MAX_INT);
  PetscCall(PetscCalloc1(m + 1, &ia));
  for (PetscCount k = 0; k < n; k++) {
    PetscCheck(ci[k] >= rstart && ci[k] < rend, PETSC_COMM_SELF, PETSC_ERR_PLIB, "entry of row %" PetscInt_FMT " on the wrong rank", ci[k]);
    ia[ci[k] - rstart + 1]++;
  }
  for (PetscInt i = 0; i < m; i++) ia[i + 1] += ia[i];
  PetscCall(MatCreateMPIAIJWithArrays(comm, m, m, PETSC_DETERMINE, PETSC_DETERMINE, ia, cj, cv, A));
  PetscCall(PetscFree(ia));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode AccumulatorAddToVector(MPI_Comm comm, PetscLayout layout, Accumulator *acc, Vec v)
{
  PetscInt    *rows, rstart;
  PetscScalar *vals, *array;
  uint64_t    *keys;
  PetscInt     k = 0, *ci, *cj;
  PetscScalar *cv;
  PetscCount   n;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(acc->n + 1, &rows, acc->n + 1, &vals));
  for (size_t s = 0; s < acc->nslots; s++)
    if (acc->row[s] >= 0) {
      rows[k]   = acc->row[s];
      vals[k++] = acc->value[s];
    }
  PetscCall(AccumulatorDestroy(acc));
  PetscCall(PetscSortIntWithScalarArray(k, rows, vals));
  PetscCall(PetscMalloc1(k + 1, &keys));
  for (PetscInt i = 0; i < k; i++) keys[i] = (uint64_t)(uint32_t)rows[i] << 32;
  PetscCall(ExchangeToOwners(comm, layout, k, keys, vals, &n, &ci, &cj, &cv));
  PetscCall(PetscFree(keys));
  PetscCall(PetscFree2(rows, vals));
  PetscCall(PetscLayoutGetRange(layout, &rstart, NULL));
  PetscCall(VecGetArray(v, &array));
  for (PetscCount i = 0; i < n; i++) array[ci[i] - rstart] += cv[i];
  PetscCall(VecRestoreArray(v, &array));
  PetscCall(PetscFree3(ci, cj, cv));
  PetscFunctionReturn(PETSC_SUCCESS);
}
