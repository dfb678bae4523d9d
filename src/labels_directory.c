/* LabelDirectory: labels kept by their owner ranks (LabelHash() % size) with their global indices,
   so that no rank needs to hold every label to number them or to look them up. */
#include <henderson/labels.h>
#include <henderson/error.h>
#include <string.h>

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

/* 1. The entries looked up in this rank's table (LabelTableInsertMany(): new labels in order), so that each
   distinct label crosses the network once. */
static PetscErrorCode LocalLabels(Entries *e, PetscInt n, const char *const label[], const size_t length[], PetscInt local_of[])
{
  size_t characters = 0;

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < n; i++) characters += length[i] + 1;
  PetscCall(LabelTableCreate(&e->local));
  PetscCall(LabelTableReserve(e->local, n / 2 + 64, characters / 2 + 64)); /* a table grown by doubling moves every label many times */
  PetscCall(LabelTableInsertMany(e->local, n, label, length, local_of));
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
