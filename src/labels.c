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
  PetscCall(PetscMalloc3(t->capacity, &t->offset, t->capacity, &t->hash, t->nslots, &t->slot));
  PetscCall(PetscMalloc1(t->pool_capacity, &t->pool));
  for (PetscInt s = 0; s < t->nslots; s++) t->slot[s].index = -1;
  *table = t;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelTableDestroy(LabelTable *table)
{
  PetscFunctionBeginUser;
  if (!*table) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFree3((*table)->offset, (*table)->hash, (*table)->slot));
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
  PetscCall(PetscMalloc3(capacity, &offset, capacity, &hash, nslots, &slot));
  PetscCall(PetscArraycpy(offset, t->offset, t->n));
  PetscCall(PetscArraycpy(hash, t->hash, t->n));
  for (PetscInt s = 0; s < nslots; s++) slot[s].index = -1;
  for (PetscInt k = 0; k < t->n; k++) {
    PetscInt s = (PetscInt)(hash[k] & (uint64_t)(nslots - 1));
    while (slot[s].index >= 0) s = (s + 1) & (nslots - 1);
    slot[s].index = k;
    slot[s].tag   = LabelTag(hash[k]);
  }
  PetscCall(PetscFree3(t->offset, t->hash, t->slot));
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

PetscErrorCode LabelTableInsert(LabelTable t, const char label[], size_t length, PetscInt *index, PetscBool *inserted)
{
  uint64_t h = LabelHash(label, length);
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

PetscErrorCode LabelTablePermute(LabelTable t, PetscInt n, const PetscInt order[])
{
  size_t   *offset;
  uint64_t *hash;

  PetscFunctionBeginUser;
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

PetscErrorCode LabelTableFind(LabelTable t, const char label[], size_t length, PetscInt *index)
{
  PetscFunctionBeginUser;
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
  *bytes = t ? (size_t)t->capacity * (sizeof(size_t) + sizeof(uint64_t)) + (size_t)t->nslots * sizeof(LabelSlot) + t->pool_capacity : 0;
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

PetscErrorCode LabelsNumber(MPI_Comm comm, LabelTable local, const PetscInt64 first_line[], LabelTable preset, PetscInt global[], PetscInt *nglobal,
                            LabelTable *added)
{
  PetscMPIInt  rank, size;
  PetscInt     nlocal, nowned = 0, npreset = 0, ntotal = 0;
  Bytes       *out;
  PetscMPIInt *send_bytes, *recv_bytes, *send_displ, *recv_displ, *send_n, *recv_n, *send_ndispl, *recv_ndispl;
  PetscInt   **order; /* order[r]: the local labels sent to owner r, in sending order */
  PetscInt    *order_n;
  char        *incoming;
  PetscInt    *owned_of; /* for each received label (in receive order), its index in the owner's table */
  PetscInt64  *owned_line;
  LabelTable   owned;
  PetscInt    *owned_global, *answer, *reply;
  size_t       total_out = 0, total_in = 0;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(LabelTableGetSize(local, &nlocal));
  if (rank == 0 && preset) PetscCall(LabelTableGetSize(preset, &npreset));
  PetscCallMPI(MPI_Bcast(&npreset, 1, MPIU_INT, 0, comm));

  /* 1. Send every local label to its owner. */
  PetscCall(PetscCalloc1(size, &out));
  PetscCall(PetscCalloc2(size, &order, size, &order_n));
  for (PetscInt k = 0; k < nlocal; k++) order_n[local->hash[k] % (uint64_t)size]++;
  for (PetscMPIInt r = 0; r < size; r++) PetscCall(PetscMalloc1(order_n[r] + 1, &order[r]));
  PetscCall(PetscArrayzero(order_n, size));
  for (PetscInt k = 0; k < nlocal; k++) {
    const char *label      = local->pool + local->offset[k];
    PetscMPIInt r          = (PetscMPIInt)(local->hash[k] % (uint64_t)size);
    order[r][order_n[r]++] = k;
    PetscCall(BytesAppendLabel(&out[r], first_line[k], label));
  }
  PetscCall(PetscMalloc4(size, &send_bytes, size, &recv_bytes, size, &send_displ, size, &recv_displ));
  PetscCall(PetscMalloc4(size, &send_n, size, &recv_n, size, &send_ndispl, size, &recv_ndispl));
  for (PetscMPIInt r = 0; r < size; r++) {
    total_out += out[r].size;
    send_n[r] = (PetscMPIInt)order_n[r];
  }
  PetscCall(CheckMPICount(total_out, "label exchange"));
  for (PetscMPIInt r = 0; r < size; r++) send_bytes[r] = (PetscMPIInt)out[r].size;
  PetscCallMPI(MPI_Alltoall(send_bytes, 1, MPI_INT, recv_bytes, 1, MPI_INT, comm));
  PetscCallMPI(MPI_Alltoall(send_n, 1, MPI_INT, recv_n, 1, MPI_INT, comm));
  send_displ[0] = recv_displ[0] = send_ndispl[0] = recv_ndispl[0] = 0;
  for (PetscMPIInt r = 1; r < size; r++) {
    send_displ[r]  = send_displ[r - 1] + send_bytes[r - 1];
    recv_displ[r]  = recv_displ[r - 1] + recv_bytes[r - 1];
    send_ndispl[r] = send_ndispl[r - 1] + send_n[r - 1];
    recv_ndispl[r] = recv_ndispl[r - 1] + recv_n[r - 1];
  }
  for (PetscMPIInt r = 0; r < size; r++) total_in += (size_t)recv_bytes[r];
  PetscCall(CheckMPICount(total_in, "label exchange"));
  {
    char *packed;
    PetscCall(PetscMalloc1(total_out + 1, &packed));
    for (PetscMPIInt r = 0; r < size; r++)
      if (out[r].size) PetscCall(PetscArraycpy(packed + send_displ[r], out[r].data, out[r].size));
    for (PetscMPIInt r = 0; r < size; r++) PetscCall(PetscFree(out[r].data));
    PetscCall(PetscMalloc1(total_in + 1, &incoming));
    PetscCallMPI(MPI_Alltoallv(packed, send_bytes, send_displ, MPI_CHAR, incoming, recv_bytes, recv_displ, MPI_CHAR, comm));
    PetscCall(PetscFree(packed));
  }

  /* 2. The owner keeps each label once, with the earliest line where it appears. */
  {
    PetscInt nin = recv_ndispl[size - 1] + recv_n[size - 1], capacity = 64;
    size_t   at = 0;

    PetscCall(LabelTableCreate(&owned));
    PetscCall(PetscMalloc1(nin + 1, &owned_of));
    PetscCall(PetscMalloc1(capacity, &owned_line));
    for (PetscInt i = 0; i < nin; i++) {
      PetscInt64  line;
      const char *label;
      size_t      length;
      PetscInt    k;
      PetscBool   inserted;

      memcpy(&line, incoming + at, sizeof(line));
      label  = incoming + at + sizeof(line);
      length = strlen(label);
      at += sizeof(line) + length + 1;
      PetscCall(LabelTableInsert(owned, label, length, &k, &inserted));
      if (inserted) {
        if (k == capacity) {
          PetscInt64 *grown;
          capacity *= 2;
          PetscCall(PetscMalloc1(capacity, &grown));
          PetscCall(PetscArraycpy(grown, owned_line, k));
          PetscCall(PetscFree(owned_line));
          owned_line = grown;
        }
        owned_line[k] = line;
      } else if (line < owned_line[k]) {
        owned_line[k] = line;
      }
      owned_of[i] = k;
    }
    PetscCall(PetscFree(incoming));
    PetscCall(LabelTableGetSize(owned, &nowned));
  }

  /* 3. Rank 0 numbers the distinct labels: preset ones keep their index, new ones follow by first line. */
  {
    Bytes        mine         = {0};
    PetscMPIInt *gather_bytes = NULL, *gather_displ = NULL, *gather_n = NULL, *gather_ndispl = NULL, nown = (PetscMPIInt)nowned;
    char        *all        = NULL;
    PetscInt    *all_global = NULL;
    size_t       total      = 0;

    for (PetscInt k = 0; k < nowned; k++) PetscCall(BytesAppendLabel(&mine, owned_line[k], owned->pool + owned->offset[k]));
    PetscCall(CheckMPICount(mine.size, "label numbering"));
    if (rank == 0) PetscCall(PetscMalloc4(size, &gather_bytes, size, &gather_displ, size, &gather_n, size, &gather_ndispl));
    {
      PetscMPIInt nbytes = (PetscMPIInt)mine.size;
      PetscCallMPI(MPI_Gather(&nbytes, 1, MPI_INT, gather_bytes, 1, MPI_INT, 0, comm));
      PetscCallMPI(MPI_Gather(&nown, 1, MPI_INT, gather_n, 1, MPI_INT, 0, comm));
    }
    if (rank == 0) {
      gather_displ[0] = gather_ndispl[0] = 0;
      for (PetscMPIInt r = 1; r < size; r++) {
        gather_displ[r]  = gather_displ[r - 1] + gather_bytes[r - 1];
        gather_ndispl[r] = gather_ndispl[r - 1] + gather_n[r - 1];
      }
      for (PetscMPIInt r = 0; r < size; r++) total += (size_t)gather_bytes[r];
      PetscCall(CheckMPICount(total, "label numbering"));
      PetscCall(PetscMalloc1(total + 1, &all));
    }
    PetscCallMPI(MPI_Gatherv(mine.data, (PetscMPIInt)mine.size, MPI_CHAR, all, gather_bytes, gather_displ, MPI_CHAR, 0, comm));
    PetscCall(PetscFree(mine.data));
    if (rank == 0) {
      PetscInt     nall = gather_ndispl[size - 1] + gather_n[size - 1], nnew = 0;
      NewLabel    *fresh;
      const char **label_at;
      size_t       at = 0;

      PetscCall(PetscMalloc1(nall + 1, &all_global));
      PetscCall(PetscMalloc2(nall + 1, &fresh, nall + 1, &label_at));
      for (PetscInt i = 0; i < nall; i++) {
        PetscInt64 line;
        PetscInt   k = -1;
        memcpy(&line, all + at, sizeof(line));
        label_at[i] = all + at + sizeof(line);
        at += sizeof(line) + strlen(label_at[i]) + 1;
        if (preset) PetscCall(LabelTableFind(preset, label_at[i], strlen(label_at[i]), &k));
        all_global[i] = k;
        if (k < 0) {
          fresh[nnew].first_line = line;
          fresh[nnew].position   = i;
          nnew++;
        }
      }
      qsort(fresh, (size_t)nnew, sizeof(NewLabel), CompareNewLabel);
      if (added) PetscCall(LabelTableCreate(added));
      for (PetscInt j = 0; j < nnew; j++) {
        all_global[fresh[j].position] = npreset + j;
        if (added) PetscCall(LabelTableInsert(*added, label_at[fresh[j].position], strlen(label_at[fresh[j].position]), NULL, NULL));
      }
      ntotal = npreset + nnew;
      PetscCall(PetscFree2(fresh, label_at));
    }
    PetscCall(PetscMalloc1(nowned + 1, &owned_global));
    PetscCallMPI(MPI_Scatterv(all_global, gather_n, gather_ndispl, MPIU_INT, owned_global, nown, MPIU_INT, 0, comm));
    if (rank == 0) {
      PetscCall(PetscFree(all_global));
      PetscCall(PetscFree(all));
      PetscCall(PetscFree4(gather_bytes, gather_displ, gather_n, gather_ndispl));
    }
    PetscCallMPI(MPI_Bcast(&ntotal, 1, MPIU_INT, 0, comm));
  }

  /* 4. Owners answer every rank in the order it asked. */
  {
    PetscInt nin = recv_ndispl[size - 1] + recv_n[size - 1];
    PetscCall(PetscMalloc2(nin + 1, &answer, nlocal + 1, &reply));
    for (PetscInt i = 0; i < nin; i++) answer[i] = owned_global[owned_of[i]];
    PetscCallMPI(MPI_Alltoallv(answer, recv_n, recv_ndispl, MPIU_INT, reply, send_n, send_ndispl, MPIU_INT, comm));
    for (PetscMPIInt r = 0; r < size; r++)
      for (PetscInt j = 0; j < order_n[r]; j++) global[order[r][j]] = reply[send_ndispl[r] + j];
    PetscCall(PetscFree2(answer, reply));
  }
  *nglobal = ntotal;

  for (PetscMPIInt r = 0; r < size; r++) PetscCall(PetscFree(order[r]));
  PetscCall(PetscFree2(order, order_n));
  PetscCall(PetscFree(out));
  PetscCall(PetscFree4(send_bytes, recv_bytes, send_displ, recv_displ));
  PetscCall(PetscFree4(send_n, recv_n, send_ndispl, recv_ndispl));
  PetscCall(PetscFree(owned_of));
  PetscCall(PetscFree(owned_line));
  PetscCall(PetscFree(owned_global));
  PetscCall(LabelTableDestroy(&owned));
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
