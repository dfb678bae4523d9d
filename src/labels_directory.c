/* LabelDirectory: labels kept by their owner ranks (LabelHash() % size) with their global indices,
   so that no rank needs to hold every label to number them or to look them up. */
#include <henderson/labels.h>
#include <henderson/error.h>
#include <string.h>
#include <inttypes.h>

struct _p_LabelDirectory {
  MPI_Comm    comm;
  PetscMPIInt rank, size;
  LabelTable  owned;   /* the labels this rank owns */
  PetscInt   *index;   /* the global index of each owned label (-1: dropped) */
  PetscInt    nglobal; /* labels in the directory, over all ranks */
};

/* What one numbering carries from step to step: this rank's distinct labels by owner, and the labels it
   received as an owner. */
typedef struct {
  LabelTable   local;                               /* this rank's distinct labels, in order of first entry */
  PetscInt     n;                                   /* how many */
  PetscInt    *order;                               /* local labels in sending order (grouped by owner) */
  PetscMPIInt *send_n, *send_at, *recv_n, *recv_at; /* labels to and from every rank */
  PetscInt     nin;                                 /* labels received */
  PetscInt    *owned_of;                            /* each received label's index in OWNED */
  char        *first;                               /* each received label: whether this is its first entry over all ranks */
  char        *mine_first;                          /* each local label: the same, as the owner said */
} Entries;

#define DIRECTORY_LENGTHS 4096 /* labels measured at a time when the caller gives no lengths */

/* 1. The entries looked up in this rank's table (LabelTableInsertMany(): new labels in order), so that each
   distinct label crosses the network once. LENGTH NULL: measured here a batch at a time (an array of them
   all is 8 bytes an entry, 115 MiB a rank for a pedigree of 10^7 on 2 ranks). */
static PetscErrorCode LocalLabels(Entries *e, PetscInt n, const char *const label[], const size_t length[], PetscInt local_of[])
{
  size_t characters = 0, *batch;

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < n; i++) characters += (length ? length[i] : strlen(label[i])) + 1;
  PetscCall(LabelTableCreate(&e->local));
  PetscCall(LabelTableReserve(e->local, n / 2 + 64, characters / 2 + 64)); /* a table grown by doubling moves every label many times */
  if (length)
    PetscCall(LabelTableInsertMany(e->local, n, label, length, local_of));
  else {
    PetscCall(PetscMalloc1(DIRECTORY_LENGTHS, &batch));
    for (PetscInt lo = 0; lo < n; lo += DIRECTORY_LENGTHS) {
      PetscInt m = PetscMin(n - lo, DIRECTORY_LENGTHS);
      for (PetscInt i = 0; i < m; i++) batch[i] = strlen(label[lo + i]);
      PetscCall(LabelTableInsertMany(e->local, m, label + lo, batch, local_of + lo));
    }
    PetscCall(PetscFree(batch));
  }
  PetscCall(LabelTableGetSize(e->local, &e->n));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 2. Every local label to its owner, grouped by owner, each in local order (NUL-terminated). */
static PetscErrorCode SendLabels(MPI_Comm comm, PetscMPIInt size, Entries *e, char **incoming)
{
  PetscMPIInt *owner, *bytes_n, *bytes_at, *in_n, *in_at;
  PetscInt    *next;
  size_t       total = 0, *cursor;
  char        *packed;
  PetscCount   nbytes;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(e->n + 1, &owner));
  PetscCall(PetscMalloc1(e->n + 1, &e->order));
  PetscCall(PetscCalloc4(size, &e->send_n, size, &e->send_at, size, &e->recv_n, size, &e->recv_at));
  PetscCall(PetscCalloc4(size, &bytes_n, size, &bytes_at, size, &in_n, size, &in_at));
  for (PetscInt k = 0; k < e->n; k++) {
    const char *l;
    uint64_t    h;
    PetscCall(LabelTableGetLabel(e->local, k, &l));
    PetscCall(LabelTableGetHash(e->local, k, &h));
    owner[k] = (PetscMPIInt)(h % (uint64_t)size);
    e->send_n[owner[k]]++;
    bytes_n[owner[k]] += (PetscMPIInt)(strlen(l) + 1);
    total += strlen(l) + 1;
  }
  PetscCheck(total <= (size_t)PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "%zu bytes of labels on one rank exceed MPI's int counts; run with more ranks",
             total);
  PetscCall(PetscMalloc3(size, &cursor, size, &next, total + 1, &packed));
  for (PetscMPIInt r = 1; r < size; r++) {
    e->send_at[r] = e->send_at[r - 1] + e->send_n[r - 1];
    bytes_at[r]   = bytes_at[r - 1] + bytes_n[r - 1];
  }
  for (PetscMPIInt r = 0; r < size; r++) {
    cursor[r] = (size_t)bytes_at[r];
    next[r]   = e->send_at[r];
  }
  for (PetscInt k = 0; k < e->n; k++) {
    const char *l;
    size_t      m;
    PetscCall(LabelTableGetLabel(e->local, k, &l));
    m                          = strlen(l) + 1;
    e->order[next[owner[k]]++] = k;
    memcpy(packed + cursor[owner[k]], l, m);
    cursor[owner[k]] += m;
  }
  PetscCall(HendersonExchange(comm, MPI_CHAR, 1, bytes_n, bytes_at, packed, in_n, in_at, (void **)incoming, &nbytes, "bytes of labels"));
  PetscCall(PetscFree3(cursor, next, packed));
  PetscCall(PetscFree(owner));
  PetscCallMPI(MPI_Alltoall(e->send_n, 1, MPI_INT, e->recv_n, 1, MPI_INT, comm)); /* how many labels those bytes are */
  for (PetscMPIInt r = 1; r < size; r++) e->recv_at[r] = e->recv_at[r - 1] + e->recv_n[r - 1];
  e->nin = e->recv_at[size - 1] + e->recv_n[size - 1];
  PetscCall(PetscFree4(bytes_n, bytes_at, in_n, in_at));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 3. The owner keeps each label once. The labels arrive in rank order and, from each rank, in the order of
   that rank's entries, so the first arrival of a label is its first entry over all ranks. */
static PetscErrorCode OwnLabels(LabelDirectory dir, Entries *e, const char *incoming)
{
  const char **label;
  size_t      *length, at = 0;
  PetscInt     before = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(e->nin + 1, &label, e->nin + 1, &length));
  for (PetscInt i = 0; i < e->nin; i++) {
    label[i]  = incoming + at;
    length[i] = strlen(label[i]);
    at += length[i] + 1;
  }
  PetscCall(LabelTableCreate(&dir->owned));
  PetscCall(LabelTableReserve(dir->owned, e->nin + 64, at + 64));
  PetscCall(PetscMalloc2(e->nin + 1, &e->owned_of, e->nin + 1, &e->first));
  PetscCall(LabelTableInsertMany(dir->owned, e->nin, label, length, e->owned_of));
  for (PetscInt i = 0; i < e->nin; i++) { /* a new label takes the next index at its first arrival */
    e->first[i] = (char)(e->owned_of[i] == before);
    if (e->first[i]) before++;
  }
  PetscCall(PetscFree2(label, length));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 4. Each rank learns which of its labels are first over all ranks and numbers them after those of the ranks
   before it; it tells the owners, and they answer every rank with the numbers of its labels. */
static PetscErrorCode NumberLabels(LabelDirectory dir, Entries *e, PetscInt global[])
{
  PetscInt *number, *answer, nfirst = 0, offset = 0, nowned;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(e->n + 1, &e->mine_first));
  PetscCall(PetscMalloc2(e->n + 1, &number, e->nin + 1, &answer));
  PetscCallMPI(MPI_Alltoallv(e->first, e->recv_n, e->recv_at, MPI_CHAR, number, e->send_n, e->send_at, MPI_CHAR, dir->comm));
  for (PetscInt j = 0; j < e->n; j++) e->mine_first[e->order[j]] = ((char *)number)[j];
  for (PetscInt k = 0; k < e->n; k++) nfirst += e->mine_first[k];
  PetscCallMPI(MPI_Exscan(&nfirst, &offset, 1, MPIU_INT, MPI_SUM, dir->comm));
  if (dir->rank == 0) offset = 0;
  for (PetscInt k = 0, next = offset; k < e->n; k++) global[k] = e->mine_first[k] ? next++ : -1;
  PetscCall(MPIU_Allreduce(&nfirst, &dir->nglobal, 1, MPIU_INT, MPI_SUM, dir->comm));
  for (PetscInt j = 0; j < e->n; j++) number[j] = global[e->order[j]];
  PetscCallMPI(MPI_Alltoallv(number, e->send_n, e->send_at, MPIU_INT, answer, e->recv_n, e->recv_at, MPIU_INT, dir->comm));
  PetscCall(LabelTableGetSize(dir->owned, &nowned));
  PetscCall(PetscMalloc1(nowned + 1, &dir->index));
  for (PetscInt i = 0; i < e->nin; i++)
    if (e->first[i]) dir->index[e->owned_of[i]] = answer[i];
  for (PetscInt i = 0; i < e->nin; i++) answer[i] = dir->index[e->owned_of[i]];
  PetscCallMPI(MPI_Alltoallv(answer, e->recv_n, e->recv_at, MPIU_INT, number, e->send_n, e->send_at, MPIU_INT, dir->comm));
  for (PetscInt j = 0; j < e->n; j++) global[e->order[j]] = number[j];
  PetscCall(PetscFree2(number, answer));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One rank: its table is the directory, in order. */
static PetscErrorCode NumberAlone(LabelDirectory dir, Entries *e, PetscInt global[])
{
  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(e->n + 1, &dir->index));
  PetscCall(PetscMalloc1(e->n + 1, &e->mine_first));
  for (PetscInt k = 0; k < e->n; k++) {
    dir->index[k] = global[k] = k;
    e->mine_first[k]          = 1;
  }
  dir->nglobal = e->n;
  dir->owned   = e->local;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 5. Rank 0 gets the labels in index order: each rank's first labels, in its local order, are its run of
   indices, so they are gathered in rank order, with their hashes, and become the table as they are. */
static PetscErrorCode GatherFirst(LabelDirectory dir, Entries *e, LabelTable *table)
{
  PetscInt    nfirst = 0, at = 0;
  size_t      bytes = 0;
  char       *text, *pool     = NULL;
  uint64_t   *hash, *all_hash = NULL;
  PetscMPIInt mine[2], *n = NULL, *n_at = NULL, *b = NULL, *b_at = NULL;

  PetscFunctionBeginUser;
  for (PetscInt k = 0; k < e->n; k++) {
    const char *l;
    if (!e->mine_first[k]) continue;
    PetscCall(LabelTableGetLabel(e->local, k, &l));
    bytes += strlen(l) + 1;
    nfirst++;
  }
  PetscCheck(bytes <= (size_t)PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "%zu bytes of labels on one rank exceed MPI's int counts", bytes);
  PetscCall(PetscMalloc2(bytes + 1, &text, nfirst + 1, &hash));
  bytes = 0;
  for (PetscInt k = 0; k < e->n; k++) {
    const char *l;
    if (!e->mine_first[k]) continue;
    PetscCall(LabelTableGetLabel(e->local, k, &l));
    PetscCall(LabelTableGetHash(e->local, k, &hash[at++]));
    memcpy(text + bytes, l, strlen(l) + 1);
    bytes += strlen(l) + 1;
  }
  mine[0] = (PetscMPIInt)nfirst;
  mine[1] = (PetscMPIInt)bytes;
  if (dir->rank == 0) PetscCall(PetscMalloc4(dir->size, &n, dir->size, &n_at, dir->size, &b, dir->size, &b_at));
  PetscCallMPI(MPI_Gather(&mine[0], 1, MPI_INT, n, 1, MPI_INT, 0, dir->comm));
  PetscCallMPI(MPI_Gather(&mine[1], 1, MPI_INT, b, 1, MPI_INT, 0, dir->comm));
  if (dir->rank == 0) {
    size_t total = 0;
    for (PetscMPIInt r = 0; r < dir->size; r++) {
      n_at[r] = r ? n_at[r - 1] + n[r - 1] : 0;
      b_at[r] = (PetscMPIInt)total;
      total += (size_t)b[r];
      PetscCheck(total <= (size_t)PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "%zu bytes of labels on rank 0 exceed MPI's int counts", total);
    }
    PetscCall(PetscMalloc1(total + 1, &pool));
    PetscCall(PetscMalloc1(dir->nglobal + 1, &all_hash));
  }
  PetscCallMPI(MPI_Gatherv(text, mine[1], MPI_CHAR, pool, b, b_at, MPI_CHAR, 0, dir->comm));
  PetscCallMPI(MPI_Gatherv(hash, mine[0], MPI_UINT64_T, all_hash, n, n_at, MPI_UINT64_T, 0, dir->comm));
  PetscCall(PetscFree2(text, hash));
  if (dir->rank == 0) {
    PetscCall(LabelTableCreateFromPool(dir->nglobal, pool, (size_t)b_at[dir->size - 1] + (size_t)b[dir->size - 1], all_hash, table));
    PetscCall(PetscFree4(n, n_at, b, b_at));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelDirectoryCreateInOrder(MPI_Comm comm, PetscInt n, const char *const label[], const size_t length[], PetscInt global[],
                                           LabelDirectory *directory, PetscInt *nglobal, LabelTable *table)
{
  LabelDirectory dir;
  Entries        e = {0};
  PetscInt      *local_of, *number;
  double         t[4];

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&dir));
  dir->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &dir->rank));
  PetscCallMPI(MPI_Comm_size(comm, &dir->size));
  PetscCall(PetscMalloc1(n + 1, &local_of));
  t[0] = HendersonSeconds();
  PetscCall(LocalLabels(&e, n, label, length, local_of));
  PetscCall(PetscMalloc1(e.n + 1, &number));
  t[1] = HendersonSeconds();
  if (dir->size > 1) {
    char *incoming;
    PetscCall(SendLabels(comm, dir->size, &e, &incoming));
    PetscCall(OwnLabels(dir, &e, incoming));
    PetscCall(PetscFree(incoming));
    PetscCall(NumberLabels(dir, &e, number));
  } else
    PetscCall(NumberAlone(dir, &e, number));
  t[2] = HendersonSeconds();
  for (PetscInt i = 0; i < n; i++) global[i] = number[local_of[i]];
  if (table) PetscCall(GatherFirst(dir, &e, table));
  t[3] = HendersonSeconds();
  PetscCall(PetscInfo(
      NULL, "label directory: %" PetscInt_FMT " entries, %" PetscInt_FMT " distinct here; looked up %.3f s, numbered by the owners %.3f s, gathered %.3f s\n",
      n, e.n, t[1] - t[0], t[2] - t[1], t[3] - t[2]));
  if (dir->owned != e.local) PetscCall(LabelTableDestroy(&e.local));
  PetscCall(PetscFree(local_of));
  PetscCall(PetscFree(number));
  PetscCall(PetscFree(e.order));
  PetscCall(PetscFree4(e.send_n, e.send_at, e.recv_n, e.recv_at));
  PetscCall(PetscFree2(e.owned_of, e.first));
  PetscCall(PetscFree(e.mine_first));
  *nglobal   = dir->nglobal;
  *directory = dir;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelDirectoryDestroy(LabelDirectory *directory)
{
  PetscFunctionBeginUser;
  if (!*directory) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(LabelTableDestroy(&(*directory)->owned));
  PetscCall(PetscFree((*directory)->index));
  PetscCall(PetscFree(*directory));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelDirectoryGetSize(LabelDirectory dir, PetscInt *nglobal)
{
  PetscFunctionBeginUser;
  *nglobal = dir->nglobal;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelDirectoryRenumber(LabelDirectory dir, PetscInt n, const PetscInt new_of[])
{
  PetscInt nowned, kept = 0;

  PetscFunctionBeginUser;
  PetscCall(LabelTableGetSize(dir->owned, &nowned));
  for (PetscInt k = 0; k < nowned; k++) {
    PetscInt old = dir->index[k];
    if (old < 0) continue;
    PetscCheck(old < n, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "label directory: no new index for label %" PetscInt_FMT " (%" PetscInt_FMT " given)", old, n);
    dir->index[k] = new_of[old];
  }
  for (PetscInt i = 0; i < n; i++) kept += new_of[i] >= 0;
  dir->nglobal = kept;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelDirectoryFindOwned(LabelDirectory dir, PetscInt n, const char *const label[], const size_t length[], PetscInt index[])
{
  PetscFunctionBeginUser;
  PetscCall(LabelTableFindMany(dir->owned, n, label, length, index));
  for (PetscInt i = 0; i < n; i++)
    if (index[i] >= 0) index[i] = dir->index[index[i]];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- queries by index, additions, and the labels handed to the ranks that own the indices ---- */

/* An entry of a message: its index, then the label with its NUL. */
static size_t PackEntry(char *at, PetscInt64 index, const char label[])
{
  size_t n = strlen(label) + 1;
  if (at) {
    memcpy(at, &index, sizeof(index));
    memcpy(at + sizeof(index), label, n);
  }
  return sizeof(index) + n;
}

static const char *UnpackEntry(const char *at, PetscInt64 *index)
{
  memcpy(index, at, sizeof(*index));
  return at + sizeof(*index);
}

/* Rank R's entries (index and label) of labels whose index I satisfies WANT(I) >= 0, packed into *PACKED;
   WANT's value is the position sent in place of the index. */
typedef PetscInt (*Want)(PetscInt index, const void *context);

static PetscErrorCode PackOwned(LabelDirectory dir, Want want, const void *context, char **packed, size_t *bytes)
{
  PetscInt nowned;
  size_t   total = 0;

  PetscFunctionBeginUser;
  PetscCall(LabelTableGetSize(dir->owned, &nowned));
  for (int pass = 0; pass < 2; pass++) { /* sizes, then the entries */
    if (pass) PetscCall(PetscMalloc1(total + 1, packed));
    total = 0;
    for (PetscInt k = 0; k < nowned; k++) {
      const char *label;
      PetscInt    position = dir->index[k] >= 0 ? want(dir->index[k], context) : -1;
      if (position < 0) continue;
      PetscCall(LabelTableGetLabel(dir->owned, k, &label));
      total += PackEntry(pass ? *packed + total : NULL, position, label);
    }
  }
  *bytes = total;
  PetscFunctionReturn(PETSC_SUCCESS);
}

typedef struct {
  PetscInt        n;
  const PetscInt *sorted, *position; /* the wanted indices in increasing order, and where each was asked */
} Wanted;

static PetscInt WantedPosition(PetscInt index, const void *context)
{
  const Wanted *w  = (const Wanted *)context;
  PetscInt      lo = 0, hi = w->n;
  while (lo < hi) {
    PetscInt mid = (lo + hi) / 2;
    if (w->sorted[mid] < index)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < w->n && w->sorted[lo] == index ? w->position[lo] : -1;
}

PetscErrorCode LabelDirectoryGetLabels(LabelDirectory dir, PetscInt n, const PetscInt index[], char ***labels)
{
  PetscInt   *sorted, *position;
  char       *packed, *all = NULL;
  size_t      bytes = 0;
  PetscMPIInt mine, *count = NULL, *at = NULL;
  Wanted      w;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Bcast(&n, 1, MPIU_INT, 0, dir->comm));
  PetscCall(PetscMalloc2(n + 1, &sorted, n + 1, &position));
  if (dir->rank == 0)
    for (PetscInt k = 0; k < n; k++) {
      sorted[k]   = index[k];
      position[k] = k;
    }
  PetscCallMPI(MPI_Bcast(sorted, (PetscMPIInt)n, MPIU_INT, 0, dir->comm));
  PetscCallMPI(MPI_Bcast(position, (PetscMPIInt)n, MPIU_INT, 0, dir->comm));
  PetscCall(PetscSortIntWithArray(n, sorted, position)); /* an index asked twice: its first position */
  w = (Wanted){n, sorted, position};
  PetscCall(PackOwned(dir, WantedPosition, &w, &packed, &bytes));
  mine = (PetscMPIInt)bytes; /* a few labels */
  if (dir->rank == 0) PetscCall(PetscMalloc2(dir->size, &count, dir->size, &at));
  PetscCallMPI(MPI_Gather(&mine, 1, MPI_INT, count, 1, MPI_INT, 0, dir->comm));
  if (dir->rank == 0) {
    for (PetscMPIInt r = 0; r < dir->size; r++) at[r] = r ? at[r - 1] + count[r - 1] : 0;
    PetscCall(PetscMalloc1((size_t)at[dir->size - 1] + (size_t)count[dir->size - 1] + 1, &all));
  }
  PetscCallMPI(MPI_Gatherv(packed, mine, MPI_CHAR, all, count, at, MPI_CHAR, 0, dir->comm));
  if (dir->rank == 0) {
    size_t total = (size_t)at[dir->size - 1] + (size_t)count[dir->size - 1];
    PetscCall(PetscCalloc1(n + 1, labels));
    for (size_t k = 0; k < total;) {
      PetscInt64  p;
      const char *label = UnpackEntry(all + k, &p);
      PetscCall(PetscStrallocpy(label, &(*labels)[p]));
      k += PackEntry(NULL, p, label);
    }
    for (PetscInt k = 0; k < n; k++) /* the same index asked again */
      if (!(*labels)[k]) {
        PetscInt first = WantedPosition(index[k], &w);
        if (first >= 0 && (*labels)[first]) PetscCall(PetscStrallocpy((*labels)[first], &(*labels)[k]));
      }
    PetscCall(PetscFree2(count, at));
    PetscCall(PetscFree(all));
  }
  PetscCall(PetscFree(packed));
  PetscCall(PetscFree2(sorted, position));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelDirectoryAdd(LabelDirectory dir, PetscInt n, const char *const label[], const PetscInt index[])
{
  PetscMPIInt *send_n, *send_at, *recv_n, *recv_at, *owner;
  size_t       total = 0, *cursor;
  char        *packed, *incoming;
  PetscCount   nbytes;
  PetscInt     nin = 0, nowned, added = n;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc4(dir->size, &send_n, dir->size, &send_at, dir->size, &recv_n, dir->size, &recv_at));
  PetscCall(PetscMalloc2(n + 1, &owner, dir->size, &cursor));
  for (PetscInt k = 0; k < n; k++) {
    size_t m = PackEntry(NULL, index[k], label[k]);
    owner[k] = (PetscMPIInt)(LabelHash(label[k], strlen(label[k])) % (uint64_t)dir->size);
    send_n[owner[k]] += (PetscMPIInt)m;
    total += m;
  }
  PetscCheck(total <= (size_t)PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "%zu bytes of labels on one rank exceed MPI's int counts", total);
  for (PetscMPIInt r = 0; r < dir->size; r++) {
    send_at[r] = r ? send_at[r - 1] + send_n[r - 1] : 0;
    cursor[r]  = (size_t)send_at[r];
  }
  PetscCall(PetscMalloc1(total + 1, &packed));
  for (PetscInt k = 0; k < n; k++) cursor[owner[k]] += PackEntry(packed + cursor[owner[k]], index[k], label[k]);
  PetscCall(HendersonExchange(dir->comm, MPI_CHAR, 1, send_n, send_at, packed, recv_n, recv_at, (void **)&incoming, &nbytes, "bytes of labels"));
  PetscCall(PetscFree(packed));
  PetscCall(PetscFree2(owner, cursor));
  PetscCall(PetscFree4(send_n, send_at, recv_n, recv_at));
  PetscCall(LabelTableGetSize(dir->owned, &nowned));
  for (PetscCount k = 0; k < nbytes; nin++) {
    PetscInt64 i;
    k += (PetscCount)PackEntry(NULL, 0, UnpackEntry(incoming + k, &i));
  }
  PetscCall(PetscRealloc((size_t)(nowned + nin + 1) * sizeof(PetscInt), &dir->index));
  for (PetscCount k = 0; k < nbytes;) {
    PetscInt64  i;
    const char *l = UnpackEntry(incoming + k, &i);
    PetscInt    at;
    PetscBool   inserted;
    PetscCall(LabelTableInsert(dir->owned, l, strlen(l), &at, &inserted));
    PetscCheck(inserted || dir->index[at] < 0, PETSC_COMM_SELF, PETSC_ERR_PLIB, "label %s is already in the directory",
               l); /* a dropped one (a header's word) may come back */
    dir->index[at] = (PetscInt)i;
    k += (PetscCount)PackEntry(NULL, i, l);
  }
  PetscCall(PetscFree(incoming));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &added, 1, MPIU_INT, MPI_SUM, dir->comm));
  dir->nglobal += added;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscInt Below(PetscInt index, const void *context)
{
  return index < *(const PetscInt *)context ? index : -1;
}

#define DIRECTORY_HASH_CHUNK (1 << 20) /* (index, hash) pairs a message to rank 0 */

PetscErrorCode LabelDirectoryGatherHashes(LabelDirectory dir, PetscInt n, uint64_t hash[])
{
  PetscInt  nowned, npairs = 0;
  uint64_t *pairs;

  PetscFunctionBeginUser;
  PetscCall(LabelTableGetSize(dir->owned, &nowned));
  PetscCall(PetscMalloc1(2 * (size_t)DIRECTORY_HASH_CHUNK, &pairs));
  if (dir->rank == 0) {
    for (PetscInt k = 0; k < nowned; k++)
      if (Below(dir->index[k], &n) >= 0) PetscCall(LabelTableGetHash(dir->owned, k, &hash[dir->index[k]]));
    for (PetscMPIInt r = 1; r < dir->size; r++) /* each rank's pairs in chunks, until a short one */
      for (PetscMPIInt got = 2 * DIRECTORY_HASH_CHUNK; got == 2 * DIRECTORY_HASH_CHUNK;) {
        MPI_Status status;
        PetscCallMPI(MPI_Recv(pairs, 2 * DIRECTORY_HASH_CHUNK, MPI_UINT64_T, r, 0, dir->comm, &status));
        PetscCallMPI(MPI_Get_count(&status, MPI_UINT64_T, &got));
        for (PetscMPIInt j = 0; j < got; j += 2) {
          PetscCheck(pairs[j] < (uint64_t)n, PETSC_COMM_SELF, PETSC_ERR_PLIB, "label directory: index %" PRIu64 " of %" PetscInt_FMT, pairs[j], n);
          hash[pairs[j]] = pairs[j + 1];
        }
      }
  } else {
    for (PetscInt k = 0; k < nowned; k++) {
      if (Below(dir->index[k], &n) < 0) continue;
      pairs[2 * npairs] = (uint64_t)dir->index[k];
      PetscCall(LabelTableGetHash(dir->owned, k, &pairs[2 * npairs + 1]));
      if (++npairs < DIRECTORY_HASH_CHUNK) continue;
      PetscCallMPI(MPI_Send(pairs, 2 * DIRECTORY_HASH_CHUNK, MPI_UINT64_T, 0, 0, dir->comm));
      npairs = 0;
    }
    PetscCallMPI(MPI_Send(pairs, (PetscMPIInt)(2 * npairs), MPI_UINT64_T, 0, 0, dir->comm)); /* short, maybe empty: the end */
  }
  PetscCall(PetscFree(pairs));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The rank whose range holds INDEX (RANGES of the communicator's size + 1). */
typedef struct {
  const PetscInt *ranges;
  PetscMPIInt     size;
} Ranges;

static PetscMPIInt RangeOwner(const Ranges *r, PetscInt index)
{
  PetscMPIInt lo = 0, hi = r->size - 1;
  while (lo < hi) { /* the last rank whose range starts at or before INDEX */
    PetscMPIInt mid = (lo + hi + 1) / 2;
    if (r->ranges[mid] <= index)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

PetscErrorCode LabelDirectoryScatter(LabelDirectory dir, const PetscInt ranges[], LabelTable *local)
{
  Ranges       r = {ranges, dir->size};
  PetscInt     nowned, start = ranges[dir->rank], nlocal = ranges[dir->rank + 1] - ranges[dir->rank];
  PetscMPIInt *send_n, *send_at, *recv_n, *recv_at;
  size_t      *cursor, *length, *offset, pool_size = 0;
  char        *packed, *incoming, *pool;
  PetscCount   nbytes;

  PetscFunctionBeginUser;
  PetscCall(LabelTableGetSize(dir->owned, &nowned));
  PetscCall(PetscCalloc4(dir->size, &send_n, dir->size, &send_at, dir->size, &recv_n, dir->size, &recv_at));
  PetscCall(PetscMalloc1(dir->size, &cursor));
  for (int pass = 0; pass < 2; pass++) { /* bytes for each rank, then the entries in place */
    if (pass) {
      size_t total = 0;
      for (PetscMPIInt q = 0; q < dir->size; q++) {
        send_at[q] = (PetscMPIInt)total;
        cursor[q]  = total;
        total += (size_t)send_n[q];
        PetscCheck(total <= (size_t)PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "%zu bytes of labels on one rank exceed MPI's int counts", total);
      }
      PetscCall(PetscMalloc1(total + 1, &packed));
    }
    for (PetscInt k = 0; k < nowned; k++) {
      const char *label;
      PetscMPIInt q;
      if (dir->index[k] < 0) continue;
      PetscCall(LabelTableGetLabel(dir->owned, k, &label));
      q = RangeOwner(&r, dir->index[k]);
      if (pass)
        cursor[q] += PackEntry(packed + cursor[q], dir->index[k], label);
      else
        send_n[q] += (PetscMPIInt)PackEntry(NULL, dir->index[k], label);
    }
  }
  PetscCall(HendersonExchange(dir->comm, MPI_CHAR, 1, send_n, send_at, packed, recv_n, recv_at, (void **)&incoming, &nbytes, "bytes of labels"));
  PetscCall(PetscFree(packed));
  PetscCall(PetscFree(cursor));
  PetscCall(PetscFree4(send_n, send_at, recv_n, recv_at));
  /* each index of the range once: the labels' lengths, their places in the pool, then the labels */
  PetscCall(PetscCalloc2(nlocal + 1, &length, nlocal + 1, &offset));
  for (PetscCount k = 0; k < nbytes;) {
    PetscInt64  i;
    const char *label = UnpackEntry(incoming + k, &i);
    PetscCheck(i >= start && i < start + nlocal && !length[i - start], PETSC_COMM_SELF, PETSC_ERR_PLIB,
               "label directory: index %" PetscInt64_FMT " twice or out of range", i);
    length[i - start] = strlen(label) + 1;
    k += (PetscCount)PackEntry(NULL, i, label);
  }
  for (PetscInt i = 0; i < nlocal; i++) {
    PetscCheck(length[i], PETSC_COMM_SELF, PETSC_ERR_PLIB, "label directory: no label of index %" PetscInt_FMT, start + i);
    offset[i] = pool_size;
    pool_size += length[i];
  }
  PetscCall(PetscMalloc1(pool_size + 1, &pool));
  for (PetscCount k = 0; k < nbytes;) {
    PetscInt64  i;
    const char *label = UnpackEntry(incoming + k, &i);
    memcpy(pool + offset[i - start], label, length[i - start]);
    k += (PetscCount)PackEntry(NULL, i, label);
  }
  PetscCall(PetscFree(incoming));
  PetscCall(PetscFree2(length, offset));
  PetscCall(LabelTableCreateFromPool(nlocal, pool, pool_size, NULL, local));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode LabelDirectoryFind(LabelDirectory dir, PetscInt n, const char *const label[], PetscInt index[])
{
  PetscMPIInt *send_n, *send_at, *recv_n, *recv_at, *count, *count_at, *in_count, *in_at, *owner;
  PetscInt    *order, *next, nin = 0, *answer, *reply;
  size_t       total = 0, *cursor;
  char        *packed, *incoming;
  const char **in_label;
  size_t      *in_length;
  PetscCount   nbytes;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc4(dir->size, &send_n, dir->size, &send_at, dir->size, &recv_n, dir->size, &recv_at));
  PetscCall(PetscCalloc4(dir->size, &count, dir->size, &count_at, dir->size, &in_count, dir->size, &in_at));
  PetscCall(PetscMalloc4(n + 1, &owner, n + 1, &order, dir->size, &next, dir->size, &cursor));
  for (PetscInt k = 0; k < n; k++) { /* the labels grouped by owner, each group in the callers' order */
    size_t m = strlen(label[k]) + 1;
    owner[k] = (PetscMPIInt)(LabelHash(label[k], m - 1) % (uint64_t)dir->size);
    send_n[owner[k]] += (PetscMPIInt)m;
    count[owner[k]]++;
    total += m;
  }
  PetscCheck(total <= (size_t)PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "%zu bytes of labels on one rank exceed MPI's int counts", total);
  for (PetscMPIInt r = 0; r < dir->size; r++) {
    send_at[r]  = r ? send_at[r - 1] + send_n[r - 1] : 0;
    count_at[r] = r ? count_at[r - 1] + count[r - 1] : 0;
    cursor[r]   = (size_t)send_at[r];
    next[r]     = count_at[r];
  }
  PetscCall(PetscMalloc1(total + 1, &packed));
  for (PetscInt k = 0; k < n; k++) {
    size_t m = strlen(label[k]) + 1;
    memcpy(packed + cursor[owner[k]], label[k], m);
    cursor[owner[k]] += m;
    order[next[owner[k]]++] = k;
  }
  PetscCall(HendersonExchange(dir->comm, MPI_CHAR, 1, send_n, send_at, packed, recv_n, recv_at, (void **)&incoming, &nbytes, "bytes of labels"));
  PetscCall(PetscFree(packed));
  PetscCallMPI(MPI_Alltoall(count, 1, MPI_INT, in_count, 1, MPI_INT, dir->comm)); /* how many labels those bytes are */
  for (PetscMPIInt r = 0; r < dir->size; r++) {
    in_at[r] = r ? in_at[r - 1] + in_count[r - 1] : 0;
    nin += in_count[r];
  }
  PetscCall(PetscMalloc4(nin + 1, &in_label, nin + 1, &in_length, nin + 1, &answer, n + 1, &reply));
  for (PetscInt i = 0; i < nin; i++) {
    in_label[i]  = i ? in_label[i - 1] + in_length[i - 1] + 1 : incoming;
    in_length[i] = strlen(in_label[i]);
  }
  PetscCall(LabelDirectoryFindOwned(dir, nin, in_label, in_length, answer));
  PetscCallMPI(MPI_Alltoallv(answer, in_count, in_at, MPIU_INT, reply, count, count_at, MPIU_INT, dir->comm));
  for (PetscInt j = 0; j < n; j++) index[order[j]] = reply[j];
  PetscCall(PetscFree(incoming));
  PetscCall(PetscFree4(in_label, in_length, answer, reply));
  PetscCall(PetscFree4(owner, order, next, cursor));
  PetscCall(PetscFree4(send_n, send_at, recv_n, recv_at));
  PetscCall(PetscFree4(count, count_at, in_count, in_at));
  PetscFunctionReturn(PETSC_SUCCESS);
}
