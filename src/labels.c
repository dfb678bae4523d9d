#include <henderson/labels.h>
#include <ctype.h>
#include <henderson/error.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* A slot holds the label's index and 32 bits of its hash, so that a probe rarely needs to look
   at the label itself (each look is a cache miss in a table of millions). */
typedef struct {
  uint32_t tag;
  PetscInt index;
} LabelSlot;

static inline uint32_t LabelTag(uint64_t h)
{
  return (uint32_t)(h >> 32);
}

struct _p_LabelTable {
  PetscInt   n, capacity; /* labels held, room for */
  size_t    *offset;      /* where label k starts in the pool (NUL-terminated there) */
  uint64_t  *hash;        /* hash of label k */
  char      *pool;
  size_t     pool_size, pool_capacity;
  LabelSlot *slot; /* open addressing (index -1 = empty); nslots is a power of two */
  PetscInt   nslots;
  size_t     max_length;
};

uint64_t LabelHash(const char label[], size_t length)
{
  uint64_t h = 14695981039346656037ULL;
  for (size_t i = 0; i < length; i++) {
    h ^= (unsigned char)label[i];
    h *= 1099511628211ULL;
  }
  /* finalizer (splitmix64): FNV's low bits are weak for short keys */
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

PetscErrorCode LabelTableCreate(LabelTable *table)
{
  LabelTable t;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&t));
  t->capacity      = 64;
  t->nslots        = 128;
  t->pool_capacity = 1024;
  PetscCall(PetscMalloc1(t->capacity, &t->offset)); /* three blocks: a table made from a pool takes over its hashes */
  PetscCall(PetscMalloc1(t->capacity, &t->hash));
  PetscCall(PetscMalloc1(t->nslots, &t->slot));
  PetscCall(PetscMalloc1(t->pool_capacity, &t->pool));
  for (PetscInt s = 0; s < t->nslots; s++) t->slot[s].index = -1;
  *table = t;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTableDestroy(LabelTable *table)
{
  PetscFunctionBeginUser;
  if (!*table) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFree((*table)->offset));
  PetscCall(PetscFree((*table)->hash));
  PetscCall(PetscFree((*table)->slot));
  PetscCall(PetscFree((*table)->pool));
  PetscCall(PetscFree(*table));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode LabelTableGrow(LabelTable t)
{
  size_t    *offset;
  uint64_t  *hash;
  LabelSlot *slot;
  PetscInt   capacity = 2 * t->capacity, nslots = 2 * t->nslots;

  PetscFunctionBeginUser;
  PetscCheck(capacity > t->capacity && capacity < PETSC_MAX_INT / 2, PETSC_COMM_SELF, PETSC_ERR_SUP, "too many labels for %d-bit indices",
             (int)(8 * sizeof(PetscInt)));
  PetscCall(PetscMalloc1(capacity, &offset));
  PetscCall(PetscMalloc1(capacity, &hash));
  PetscCall(PetscMalloc1(nslots, &slot));
  PetscCall(PetscArraycpy(offset, t->offset, t->n));
  PetscCall(PetscArraycpy(hash, t->hash, t->n));
  for (PetscInt s = 0; s < nslots; s++) slot[s].index = -1;
  for (PetscInt k = 0; k < t->n; k++) {
    PetscInt s = (PetscInt)(hash[k] & (uint64_t)(nslots - 1));
    while (slot[s].index >= 0) s = (s + 1) & (nslots - 1);
    slot[s].index = k;
    slot[s].tag   = LabelTag(hash[k]);
  }
  PetscCall(PetscFree(t->offset));
  PetscCall(PetscFree(t->hash));
  PetscCall(PetscFree(t->slot));
  t->offset   = offset;
  t->hash     = hash;
  t->slot     = slot;
  t->capacity = capacity;
  t->nslots   = nslots;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTableReserve(LabelTable t, PetscInt n, size_t characters)
{
  PetscFunctionBeginUser;
  PetscCheck(t->slot, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "a list of labels (LabelTableCreateFromPool() without hashes) has no look-ups");
  while (t->capacity < n) PetscCall(LabelTableGrow(t));
  if (characters > t->pool_capacity) {
    char *pool;
    PetscCall(PetscMalloc1(characters, &pool));
    PetscCall(PetscArraycpy(pool, t->pool, t->pool_size));
    PetscCall(PetscFree(t->pool));
    t->pool          = pool;
    t->pool_capacity = characters;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline PetscInt LabelTableLookup(LabelTable t, const char label[], size_t length, uint64_t h, PetscInt *free_slot)
{
  PetscInt s = (PetscInt)(h & (uint64_t)(t->nslots - 1));

  for (;; s = (s + 1) & (t->nslots - 1)) {
    PetscInt k = t->slot[s].index;
    if (k < 0) break;
    if (t->slot[s].tag == LabelTag(h)) {
      const char *stored = t->pool + t->offset[k];
      if (!memcmp(stored, label, length) && !stored[length]) return k;
    }
  }
  if (free_slot) *free_slot = s;
  return -1;
}

static PetscErrorCode LabelTableInsertHashed(LabelTable t, const char label[], size_t length, uint64_t h, PetscInt *index, PetscBool *inserted)
{
  PetscInt s, k;

  PetscFunctionBeginUser;
  k = LabelTableLookup(t, label, length, h, &s);
  if (inserted) *inserted = k < 0 ? PETSC_TRUE : PETSC_FALSE;
  if (k >= 0) {
    if (index) *index = k;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (t->n == t->capacity) {
    PetscCall(LabelTableGrow(t));
    (void)LabelTableLookup(t, label, length, h, &s);
  }
  if (t->pool_size + length + 1 > t->pool_capacity) {
    size_t capacity = PetscMax(2 * t->pool_capacity, t->pool_size + length + 1);
    char  *pool;
    PetscCall(PetscMalloc1(capacity, &pool));
    PetscCall(PetscArraycpy(pool, t->pool, t->pool_size));
    PetscCall(PetscFree(t->pool));
    t->pool          = pool;
    t->pool_capacity = capacity;
  }
  k            = t->n++;
  t->offset[k] = t->pool_size;
  t->hash[k]   = h;
  memcpy(t->pool + t->pool_size, label, length);
  t->pool[t->pool_size + length] = 0;
  t->pool_size += length + 1;
  t->slot[s].index = k;
  t->slot[s].tag   = LabelTag(h);
  t->max_length    = PetscMax(t->max_length, length);
  if (index) *index = k;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTableInsert(LabelTable t, const char label[], size_t length, PetscInt *index, PetscBool *inserted)
{
  PetscFunctionBeginUser;
  PetscCheck(t->slot, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "a list of labels (LabelTableCreateFromPool() without hashes) has no look-ups");
  PetscCall(LabelTableInsertHashed(t, label, length, LabelHash(label, length), index, inserted));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A lookup in a table of millions waits on three cache misses one after the other: the slot, the label's
   offset, the label. For a batch of labels each miss is asked for ahead (prefetched) for all of them at
   once, so that they overlap, before the labels go in one by one as LabelTableInsert() would put them. */
#define LABEL_BATCH 64

/* Asks ahead for the cache lines that looking up M hashed labels will touch. */
HENDERSON_PREFETCH_INLINE void LabelTablePrefetch(LabelTable t, PetscInt m, const uint64_t h[])
{
  for (PetscInt i = 0; i < m; i++) __builtin_prefetch(&t->slot[h[i] & (uint64_t)(t->nslots - 1)]);
  for (PetscInt i = 0; i < m; i++) {
    const LabelSlot *slot = &t->slot[h[i] & (uint64_t)(t->nslots - 1)];
    if (slot->index >= 0 && slot->tag == LabelTag(h[i])) __builtin_prefetch(&t->offset[slot->index]);
  }
  for (PetscInt i = 0; i < m; i++) {
    const LabelSlot *slot = &t->slot[h[i] & (uint64_t)(t->nslots - 1)];
    if (slot->index >= 0 && slot->tag == LabelTag(h[i])) __builtin_prefetch(t->pool + t->offset[slot->index]);
  }
}

PetscErrorCode LabelTableInsertMany(LabelTable t, PetscInt n, const char *const label[], const size_t length[], PetscInt index[])
{
  uint64_t h[LABEL_BATCH];

  PetscFunctionBeginUser;
  PetscCheck(t->slot, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "a list of labels (LabelTableCreateFromPool() without hashes) has no look-ups");
  for (PetscInt b = 0; b < n; b += LABEL_BATCH) {
    PetscInt m = PetscMin(LABEL_BATCH, n - b);
    while (t->n + m > t->capacity) PetscCall(LabelTableGrow(t)); /* no growth within the batch: the slots stay where they were asked for */
    for (PetscInt i = 0; i < m; i++) h[i] = LabelHash(label[b + i], length[b + i]);
    LabelTablePrefetch(t, m, h);
    for (PetscInt i = 0; i < m; i++) PetscCall(LabelTableInsertHashed(t, label[b + i], length[b + i], h[i], &index[b + i], NULL));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTableFindMany(LabelTable t, PetscInt n, const char *const label[], const size_t length[], PetscInt index[])
{
  uint64_t h[LABEL_BATCH];

  PetscFunctionBeginUser;
  PetscCheck(t->slot, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "a list of labels (LabelTableCreateFromPool() without hashes) has no look-ups");
  for (PetscInt b = 0; b < n; b += LABEL_BATCH) {
    PetscInt m = PetscMin(LABEL_BATCH, n - b);
    for (PetscInt i = 0; i < m; i++) h[i] = LabelHash(label[b + i], length[b + i]);
    LabelTablePrefetch(t, m, h);
    for (PetscInt i = 0; i < m; i++) index[b + i] = LabelTableLookup(t, label[b + i], length[b + i], h[i], NULL);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTablePermute(LabelTable t, PetscInt n, const PetscInt order[])
{
  size_t   *offset;
  uint64_t *hash;

  PetscFunctionBeginUser;
  PetscCheck(t->slot, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "a list of labels (LabelTableCreateFromPool() without hashes) has no look-ups");
  PetscCall(PetscMalloc2(t->capacity, &offset, t->capacity, &hash));
  for (PetscInt k = 0; k < n; k++) {
    PetscAssert(order[k] >= 0 && order[k] < t->n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "label %" PetscInt_FMT " of %" PetscInt_FMT, order[k], t->n);
    offset[k] = t->offset[order[k]];
    hash[k]   = t->hash[order[k]];
  }
  PetscCall(PetscArraycpy(t->offset, offset, n));
  PetscCall(PetscArraycpy(t->hash, hash, n));
  PetscCall(PetscFree2(offset, hash));
  t->n = n;
  for (PetscInt s = 0; s < t->nslots; s++) t->slot[s].index = -1;
  for (PetscInt k = 0; k < n; k++) {
    PetscInt s = (PetscInt)(t->hash[k] & (uint64_t)(t->nslots - 1));
    while (t->slot[s].index >= 0) s = (s + 1) & (t->nslots - 1);
    t->slot[s].index = k;
    t->slot[s].tag   = LabelTag(t->hash[k]);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTableCreateFromPool(PetscInt n, char *pool, size_t pool_size, uint64_t *hash, LabelTable *table)
{
  LabelTable t;
  size_t     at = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&t));
  t->pool          = pool;
  t->pool_size     = pool_size;
  t->pool_capacity = pool_size;
  t->n             = n;
  if (hash)
    for (t->capacity = 64, t->nslots = 128; t->capacity < n; t->capacity *= 2, t->nslots *= 2) {}
  else
    t->capacity = n; /* a list: no hashes, no slots */
  PetscCall(PetscMalloc1(t->capacity + 1, &t->offset));
  for (PetscInt k = 0; k < n; k++) {
    size_t length = strlen(pool + at);
    t->offset[k]  = at;
    t->max_length = PetscMax(t->max_length, length);
    at += length + 1;
  }
  PetscCheck(at == pool_size, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "%zu bytes of %" PetscInt_FMT " labels, %zu given", at, n, pool_size);
  if (hash) {
    t->hash = hash;
    PetscCall(PetscRealloc((size_t)t->capacity * sizeof(uint64_t), &t->hash)); /* the table's arrays have its capacity */
    PetscCall(PetscMalloc1(t->nslots, &t->slot));
    for (PetscInt s = 0; s < t->nslots; s++) t->slot[s].index = -1;
    for (PetscInt k = 0; k < n; k++) { /* the slot of a label a batch ahead is asked for: they are random */
      PetscInt s = (PetscInt)(t->hash[k] & (uint64_t)(t->nslots - 1));
      if (k + LABEL_BATCH < n) __builtin_prefetch(&t->slot[t->hash[k + LABEL_BATCH] & (uint64_t)(t->nslots - 1)], 1);
      while (t->slot[s].index >= 0) s = (s + 1) & (t->nslots - 1);
      t->slot[s].index = k;
      t->slot[s].tag   = LabelTag(t->hash[k]);
    }
  }
  *table = t;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTableDropIndex(LabelTable t)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(t->hash));
  PetscCall(PetscFree(t->slot));
  t->nslots = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTableFind(LabelTable t, const char label[], size_t length, PetscInt *index)
{
  PetscFunctionBeginUser;
  PetscCheck(t->slot, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "a list of labels (LabelTableCreateFromPool() without hashes) has no look-ups");
  *index = LabelTableLookup(t, label, length, LabelHash(label, length), NULL);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTableGetLabel(LabelTable t, PetscInt index, const char **label)
{
  PetscFunctionBeginUser;
  PetscAssert(index >= 0 && index < t->n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "label %" PetscInt_FMT " of %" PetscInt_FMT, index, t->n);
  *label = t->pool + t->offset[index];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTableGetHash(LabelTable t, PetscInt index, uint64_t *hash)
{
  PetscFunctionBeginUser;
  PetscCheck(t->slot, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "a list of labels (LabelTableCreateFromPool() without hashes) has no look-ups");
  PetscAssert(index >= 0 && index < t->n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "label %" PetscInt_FMT " of %" PetscInt_FMT, index, t->n);
  *hash = t->hash[index];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTableGetSize(LabelTable t, PetscInt *size)
{
  PetscFunctionBeginUser;
  *size = t ? t->n : 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTableGetMaxLength(LabelTable t, size_t *length)
{
  PetscFunctionBeginUser;
  *length = t ? t->max_length : 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTableGetMemory(LabelTable t, size_t *bytes)
{
  PetscFunctionBeginUser;
  *bytes = t ? (size_t)t->capacity * (sizeof(size_t) + (t->hash ? sizeof(uint64_t) : 0)) + (size_t)t->nslots * sizeof(LabelSlot) + t->pool_capacity : 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- collective numbering ---- */

/* A byte buffer with the entries for one destination rank after another. */
typedef struct {
  char  *data;
  size_t size, capacity;
} Bytes;

static PetscErrorCode BytesAppend(Bytes *b, const void *data, size_t n)
{
  PetscFunctionBeginUser;
  if (b->size + n > b->capacity) {
    size_t capacity = PetscMax(2 * b->capacity, b->size + n + 256);
    char  *grown;
    PetscCall(PetscMalloc1(capacity, &grown));
    if (b->size) PetscCall(PetscArraycpy(grown, b->data, b->size));
    PetscCall(PetscFree(b->data));
    b->data     = grown;
    b->capacity = capacity;
  }
  memcpy(b->data + b->size, data, n);
  b->size += n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Entry format: int64 first line, then the label with its NUL. */
static PetscErrorCode BytesAppendLabel(Bytes *b, PetscInt64 first_line, const char label[])
{
  PetscFunctionBeginUser;
  PetscCall(BytesAppend(b, &first_line, sizeof(first_line)));
  PetscCall(BytesAppend(b, label, strlen(label) + 1));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode CheckMPICount(size_t n, const char what[])
{
  PetscFunctionBeginUser;
  PetscCheck(n <= (size_t)INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "%s: %zu bytes in one message exceed MPI's int counts; run with more ranks", what, n);
  PetscFunctionReturn(PETSC_SUCCESS);
}

typedef struct {
  PetscInt64 first_line;
  PetscInt   position; /* in the order rank 0 received the labels */
} NewLabel;

static int CompareNewLabel(const void *a, const void *b)
{
  const NewLabel *x = a, *y = b;
  if (x->first_line != y->first_line) return x->first_line < y->first_line ? -1 : 1;
  return x->position < y->position ? -1 : (x->position > y->position);
}

/* What the numbering of labels carries from one step to the next. */
typedef struct {
  MPI_Comm     comm;
  PetscMPIInt  rank, size;
  PetscInt     nlocal;
  PetscInt   **order; /* order[r]: the local labels sent to owner r, in sending order */
  PetscInt    *order_n;
  PetscMPIInt *send_n, *recv_n, *send_ndispl, *recv_ndispl; /* labels to and from every rank */
  char        *incoming;                                    /* the labels received, as entries of BytesAppendLabel() */
  PetscInt     nin;                                         /* how many */
  LabelTable   owned;                                       /* the distinct labels this rank owns */
  PetscInt    *owned_of;                                    /* for each received label (in receive order), its index in OWNED */
  PetscInt64  *owned_line;                                  /* the earliest line of each owned label */
  PetscInt    *owned_global;                                /* the global number of each owned label */
} Numbering;

/* 1. Every local label to its owner (by hash), with the first line where it appears. */
static PetscErrorCode SendLabels(Numbering *nb, LabelTable local, const PetscInt64 first_line[])
{
  const PetscMPIInt size = nb->size;
  Bytes            *out;
  PetscMPIInt      *send_bytes, *recv_bytes, *send_displ, *recv_displ;
  size_t            total_out = 0;
  char             *packed;
  PetscCount        nbytes;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(size, &out));
  PetscCall(PetscCalloc2(size, &nb->order, size, &nb->order_n));
  for (PetscInt k = 0; k < nb->nlocal; k++) nb->order_n[local->hash[k] % (uint64_t)size]++;
  for (PetscMPIInt r = 0; r < size; r++) PetscCall(PetscMalloc1(nb->order_n[r] + 1, &nb->order[r]));
  PetscCall(PetscArrayzero(nb->order_n, size));
  for (PetscInt k = 0; k < nb->nlocal; k++) {
    PetscMPIInt r                  = (PetscMPIInt)(local->hash[k] % (uint64_t)size);
    nb->order[r][nb->order_n[r]++] = k;
    PetscCall(BytesAppendLabel(&out[r], first_line[k], local->pool + local->offset[k]));
  }
  PetscCall(PetscMalloc4(size, &send_bytes, size, &recv_bytes, size, &send_displ, size, &recv_displ));
  PetscCall(PetscMalloc4(size, &nb->send_n, size, &nb->recv_n, size, &nb->send_ndispl, size, &nb->recv_ndispl));
  for (PetscMPIInt r = 0; r < size; r++) total_out += out[r].size;
  PetscCall(CheckMPICount(total_out, "label exchange"));
  for (PetscMPIInt r = 0; r < size; r++) {
    send_bytes[r] = (PetscMPIInt)out[r].size;
    nb->send_n[r] = (PetscMPIInt)nb->order_n[r];
  }
  send_displ[0] = nb->send_ndispl[0] = 0;
  for (PetscMPIInt r = 1; r < size; r++) {
    send_displ[r]      = send_displ[r - 1] + send_bytes[r - 1];
    nb->send_ndispl[r] = nb->send_ndispl[r - 1] + nb->send_n[r - 1];
  }
  PetscCall(PetscMalloc1(total_out + 1, &packed));
  for (PetscMPIInt r = 0; r < size; r++) {
    if (out[r].size) PetscCall(PetscArraycpy(packed + send_displ[r], out[r].data, out[r].size));
    PetscCall(PetscFree(out[r].data));
  }
  PetscCall(PetscFree(out));
  PetscCall(
      HendersonExchange(nb->comm, MPI_CHAR, 1, send_bytes, send_displ, packed, recv_bytes, recv_displ, (void **)&nb->incoming, &nbytes, "bytes of labels"));
  PetscCall(PetscFree(packed));
  PetscCallMPI(MPI_Alltoall(nb->send_n, 1, MPI_INT, nb->recv_n, 1, MPI_INT, nb->comm)); /* how many labels those bytes are */
  nb->recv_ndispl[0] = 0;
  for (PetscMPIInt r = 1; r < size; r++) nb->recv_ndispl[r] = nb->recv_ndispl[r - 1] + nb->recv_n[r - 1];
  nb->nin = nb->recv_ndispl[size - 1] + nb->recv_n[size - 1];
  PetscCall(PetscFree4(send_bytes, recv_bytes, send_displ, recv_displ));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 2. The owner keeps each label once, with the earliest line where it appears. */
static PetscErrorCode OwnLabels(Numbering *nb)
{
  const char **label;
  size_t      *length, at = 0;
  PetscInt64  *line;
  PetscInt     next = 0;

  PetscFunctionBeginUser;
  PetscCall(LabelTableCreate(&nb->owned));
  PetscCall(PetscMalloc1(nb->nin + 1, &nb->owned_of));
  PetscCall(PetscMalloc3(nb->nin + 1, &label, nb->nin + 1, &length, nb->nin + 1, &line));
  for (PetscInt i = 0; i < nb->nin; i++) {
    memcpy(&line[i], nb->incoming + at, sizeof(line[i]));
    label[i]  = nb->incoming + at + sizeof(line[i]);
    length[i] = strlen(label[i]);
    at += sizeof(line[i]) + length[i] + 1;
  }
  PetscCall(LabelTableInsertMany(nb->owned, nb->nin, label, length, nb->owned_of));
  PetscCall(PetscMalloc1(nb->nin + 1, &nb->owned_line));
  for (PetscInt i = 0; i < nb->nin; i++) { /* new labels get the next index, in order */
    PetscInt k = nb->owned_of[i];
    if (k == next)
      nb->owned_line[next++] = line[i];
    else if (line[i] < nb->owned_line[k])
      nb->owned_line[k] = line[i];
  }
  PetscCall(PetscFree3(label, length, line));
  PetscCall(PetscFree(nb->incoming));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: the global numbers of the NALL gathered new labels ALL, after the NPRESET preset ones, by first
   line (ADDED, when asked for, gets them in that order). */
static PetscErrorCode NumberGathered(const char *all, PetscInt nall, PetscInt npreset, PetscInt all_global[], LabelTable *added, PetscInt *ntotal)
{
  NewLabel    *fresh;
  const char **label_at;
  size_t       at = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(nall + 1, &fresh, nall + 1, &label_at));
  for (PetscInt i = 0; i < nall; i++) {
    memcpy(&fresh[i].first_line, all + at, sizeof(PetscInt64));
    fresh[i].position = i;
    label_at[i]       = all + at + sizeof(PetscInt64);
    at += sizeof(PetscInt64) + strlen(label_at[i]) + 1;
  }
  qsort(fresh, (size_t)nall, sizeof(NewLabel), CompareNewLabel);
  if (added) PetscCall(LabelTableCreate(added));
  for (PetscInt j = 0; j < nall; j++) {
    all_global[fresh[j].position] = npreset + j;
    if (added) PetscCall(LabelTableInsert(*added, label_at[fresh[j].position], strlen(label_at[fresh[j].position]), NULL, NULL));
  }
  *ntotal = npreset + nall;
  PetscCall(PetscFree2(fresh, label_at));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 3a. The owners look their labels up in the directory of the preset ones (the same owner: the same hash),
   where there is one; the preset labels that it does not hold (rank 0's from index NDIR on) go to their
   owners, each with its index, and an owner gives that index to its own label of the same text. The
   look-ups are thus shared by the ranks, and rank 0 only packs labels by owner (the hashes are stored).
   OWNED_GLOBAL: the preset index, or -1 for a new label. */
static PetscErrorCode NumberPreset(Numbering *nb, LabelTable preset, PetscInt npreset, LabelDirectory dir)
{
  PetscMPIInt *send_bytes, *send_displ, *recv_bytes, *recv_displ;
  char        *packed = NULL, *incoming;
  PetscCount   nbytes;
  PetscInt     nowned, nin = 0, ndir = 0;

  PetscFunctionBeginUser;
  PetscCall(LabelTableGetSize(nb->owned, &nowned));
  PetscCall(PetscMalloc1(nowned + 1, &nb->owned_global));
  for (PetscInt k = 0; k < nowned; k++) nb->owned_global[k] = -1;
  if (dir) {
    const char **label;
    size_t      *length;
    PetscCall(LabelDirectoryGetSize(dir, &ndir));
    PetscCall(PetscMalloc2(nowned + 1, &label, nowned + 1, &length));
    for (PetscInt k = 0; k < nowned; k++) {
      label[k]  = nb->owned->pool + nb->owned->offset[k];
      length[k] = strlen(label[k]);
    }
    PetscCall(LabelDirectoryFindOwned(dir, nowned, label, length, nb->owned_global));
    PetscCall(PetscFree2(label, length));
  }
  PetscCall(PetscCalloc4(nb->size, &send_bytes, nb->size, &send_displ, nb->size, &recv_bytes, nb->size, &recv_displ));
  if (nb->rank == 0 && preset) { /* two passes: the bytes for each owner, then the entries in place */
    size_t       total = 0, *cursor;
    PetscMPIInt *owner;
    PetscCall(PetscMalloc2(npreset + 1, &owner, nb->size, &cursor));
    for (PetscInt i = ndir; i < npreset; i++) {
      uint64_t h = 0;
      PetscCall(LabelTableGetHash(preset, i, &h));
      const size_t n = sizeof(PetscInt64) + strlen(preset->pool + preset->offset[i]) + 1;
      owner[i]       = (PetscMPIInt)(h % (uint64_t)nb->size);
      total += n;
      send_bytes[owner[i]] += (PetscMPIInt)n;
    }
    PetscCall(CheckMPICount(total, "preset labels"));
    PetscCall(PetscMalloc1(total + 1, &packed));
    for (PetscMPIInt r = 0, at = 0; r < nb->size; r++) {
      send_displ[r] = at;
      cursor[r]     = (size_t)at;
      at += send_bytes[r];
    }
    for (PetscInt i = ndir; i < npreset; i++) { /* entry: the int64 index, then the label with its NUL */
      const char *label = preset->pool + preset->offset[i];
      size_t      n     = strlen(label) + 1;
      PetscInt64  index = i;
      memcpy(packed + cursor[owner[i]], &index, sizeof(index));
      memcpy(packed + cursor[owner[i]] + sizeof(index), label, n);
      cursor[owner[i]] += sizeof(index) + n;
    }
    PetscCall(PetscFree2(owner, cursor));
  }
  PetscCall(
      HendersonExchange(nb->comm, MPI_CHAR, 1, send_bytes, send_displ, packed, recv_bytes, recv_displ, (void **)&incoming, &nbytes, "bytes of preset labels"));
  PetscCall(PetscFree(packed));
  for (size_t at = 0; at < (size_t)nbytes; nin++) at += sizeof(PetscInt64) + strlen(incoming + at + sizeof(PetscInt64)) + 1;
  {
    const char **label;
    size_t      *length, at = 0;
    PetscInt    *found;
    PetscCall(PetscMalloc3(nin + 1, &label, nin + 1, &length, nin + 1, &found));
    for (PetscInt i = 0; i < nin; i++) {
      label[i]  = incoming + at + sizeof(PetscInt64);
      length[i] = strlen(label[i]);
      at += sizeof(PetscInt64) + length[i] + 1;
    }
    PetscCall(LabelTableFindMany(nb->owned, nin, label, length, found));
    for (PetscInt i = 0; i < nin; i++)
      if (found[i] >= 0) {
        PetscInt64 index;
        memcpy(&index, label[i] - sizeof(PetscInt64), sizeof(index));
        nb->owned_global[found[i]] = (PetscInt)index;
      }
    PetscCall(PetscFree3(label, length, found));
  }
  PetscCall(PetscFree(incoming));
  PetscCall(PetscFree4(send_bytes, send_displ, recv_bytes, recv_displ));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 3b. Rank 0 numbers the new labels of all owners (those without a preset index), after the preset ones,
   by first line. */
static PetscErrorCode NumberOwned(Numbering *nb, PetscInt npreset, LabelTable *added, PetscInt *ntotal)
{
  Bytes        mine         = {0};
  PetscMPIInt *gather_bytes = NULL, *gather_displ = NULL, *gather_n = NULL, *gather_ndispl = NULL, nnew = 0, nbytes;
  char        *all        = NULL;
  PetscInt    *all_global = NULL, *fresh_global, nowned;

  PetscFunctionBeginUser;
  PetscCall(LabelTableGetSize(nb->owned, &nowned));
  for (PetscInt k = 0; k < nowned; k++)
    if (nb->owned_global[k] < 0) {
      PetscCall(BytesAppendLabel(&mine, nb->owned_line[k], nb->owned->pool + nb->owned->offset[k]));
      nnew++;
    }
  PetscCall(CheckMPICount(mine.size, "label numbering"));
  nbytes = (PetscMPIInt)mine.size;
  if (nb->rank == 0) PetscCall(PetscMalloc4(nb->size, &gather_bytes, nb->size, &gather_displ, nb->size, &gather_n, nb->size, &gather_ndispl));
  PetscCallMPI(MPI_Gather(&nbytes, 1, MPI_INT, gather_bytes, 1, MPI_INT, 0, nb->comm));
  PetscCallMPI(MPI_Gather(&nnew, 1, MPI_INT, gather_n, 1, MPI_INT, 0, nb->comm));
  if (nb->rank == 0) {
    size_t total    = 0;
    gather_displ[0] = gather_ndispl[0] = 0;
    for (PetscMPIInt r = 1; r < nb->size; r++) {
      gather_displ[r]  = gather_displ[r - 1] + gather_bytes[r - 1];
      gather_ndispl[r] = gather_ndispl[r - 1] + gather_n[r - 1];
    }
    for (PetscMPIInt r = 0; r < nb->size; r++) total += (size_t)gather_bytes[r];
    PetscCall(CheckMPICount(total, "label numbering"));
    PetscCall(PetscMalloc1(total + 1, &all));
  }
  PetscCallMPI(MPI_Gatherv(mine.data, nbytes, MPI_CHAR, all, gather_bytes, gather_displ, MPI_CHAR, 0, nb->comm));
  PetscCall(PetscFree(mine.data));
  if (nb->rank == 0) {
    PetscInt nall = gather_ndispl[nb->size - 1] + gather_n[nb->size - 1];
    PetscCall(PetscMalloc1(nall + 1, &all_global));
    PetscCall(NumberGathered(all, nall, npreset, all_global, added, ntotal));
  }
  PetscCall(PetscMalloc1(nnew + 1, &fresh_global));
  PetscCallMPI(MPI_Scatterv(all_global, gather_n, gather_ndispl, MPIU_INT, fresh_global, nnew, MPIU_INT, 0, nb->comm));
  for (PetscInt k = 0, j = 0; k < nowned; k++)
    if (nb->owned_global[k] < 0) nb->owned_global[k] = fresh_global[j++];
  PetscCall(PetscFree(fresh_global));
  if (nb->rank == 0) {
    PetscCall(PetscFree(all_global));
    PetscCall(PetscFree(all));
    PetscCall(PetscFree4(gather_bytes, gather_displ, gather_n, gather_ndispl));
  }
  PetscCallMPI(MPI_Bcast(ntotal, 1, MPIU_INT, 0, nb->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 4. Owners answer every rank in the order it asked. */
static PetscErrorCode AnswerLabels(Numbering *nb, PetscInt global[])
{
  PetscInt *answer, *reply;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(nb->nin + 1, &answer, nb->nlocal + 1, &reply));
  for (PetscInt i = 0; i < nb->nin; i++) answer[i] = nb->owned_global[nb->owned_of[i]];
  PetscCallMPI(MPI_Alltoallv(answer, nb->recv_n, nb->recv_ndispl, MPIU_INT, reply, nb->send_n, nb->send_ndispl, MPIU_INT, nb->comm));
  for (PetscMPIInt r = 0; r < nb->size; r++)
    for (PetscInt j = 0; j < nb->order_n[r]; j++) global[nb->order[r][j]] = reply[nb->send_ndispl[r] + j];
  PetscCall(PetscFree2(answer, reply));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelsNumber(MPI_Comm comm, LabelTable local, const PetscInt64 first_line[], LabelTable preset, LabelDirectory dir, PetscInt global[],
                            PetscInt *nglobal, LabelTable *added)
{
  Numbering nb;
  PetscInt  npreset = 0, ntotal = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&nb, sizeof(nb)));
  nb.comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &nb.rank));
  PetscCallMPI(MPI_Comm_size(comm, &nb.size));
  PetscCall(LabelTableGetSize(local, &nb.nlocal));
  if (nb.rank == 0 && preset)
    PetscCall(LabelTableGetSize(preset, &npreset));
  else if (nb.rank == 0 && dir)
    PetscCall(LabelDirectoryGetSize(dir, &npreset)); /* the directory holds every preset label */
  PetscCallMPI(MPI_Bcast(&npreset, 1, MPIU_INT, 0, comm));
  {
    double t0 = HendersonSeconds(), t1, t2, t3;
    PetscCall(SendLabels(&nb, local, first_line));
    PetscCall(OwnLabels(&nb));
    t1 = HendersonSeconds();
    PetscCall(NumberPreset(&nb, preset, npreset, dir));
    PetscCall(NumberOwned(&nb, npreset, added, &ntotal));
    t2 = HendersonSeconds();
    PetscCall(AnswerLabels(&nb, global));
    t3 = HendersonSeconds();
    PetscCall(PetscInfo(NULL, "labels numbered: to the owners %.3f s, numbered (preset by their owners, new on rank 0) %.3f s, answered %.3f s\n", t1 - t0,
                        t2 - t1, t3 - t2));
  }
  *nglobal = ntotal;
  for (PetscMPIInt r = 0; r < nb.size; r++) PetscCall(PetscFree(nb.order[r]));
  PetscCall(PetscFree2(nb.order, nb.order_n));
  PetscCall(PetscFree4(nb.send_n, nb.recv_n, nb.send_ndispl, nb.recv_ndispl));
  PetscCall(PetscFree(nb.owned_of));
  PetscCall(PetscFree(nb.owned_line));
  PetscCall(PetscFree(nb.owned_global));
  PetscCall(LabelTableDestroy(&nb.owned));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Natural order: runs of digits compare as numbers ("H9" < "H10"), the rest byte by byte; labels
   that tie ("H01", "H1") fall back to plain byte order, so the order is total. */
int LabelNaturalCompare(const char *a, const char *b)
{
  const char *a0 = a, *b0 = b;
  while (*a && *b) {
    if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
      const char *da, *db;
      size_t      la, lb;
      int         c;
      while (*a == '0' && isdigit((unsigned char)a[1])) a++;
      while (*b == '0' && isdigit((unsigned char)b[1])) b++;
      for (da = a; isdigit((unsigned char)*a); a++) {}
      for (db = b; isdigit((unsigned char)*b); b++) {}
      la = (size_t)(a - da);
      lb = (size_t)(b - db);
      if (la != lb) return la < lb ? -1 : 1;
      c = strncmp(da, db, la);
      if (c) return c;
    } else {
      if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
      a++;
      b++;
    }
  }
  if (*a || *b) return *a ? 1 : -1;
  return strcmp(a0, b0);
}
