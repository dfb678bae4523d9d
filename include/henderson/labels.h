/* henderson/labels.h -- string labels (animal IDs, class levels) to dense indices.

   LabelTable is a local (one-rank) hash table: each distinct label gets the next index in order
   of insertion, and the labels are kept in one pool of memory (about 24 bytes per label plus its
   characters).

   LabelsNumber() gives the distinct labels that the ranks found in their parts of a data file one
   global numbering that does not depend on the number of ranks: labels already in a preset table
   (the pedigree) keep their index; the others follow in order of their first appearance in the
   file. Each label is sent to an owner rank chosen by its hash, which removes duplicates across
   ranks; rank 0 sends each preset label with its index to the same owner, which finds it among its
   own (the look-ups shared by the ranks: rank 0 only packs), and only the distinct new labels reach
   rank 0, which orders them. */
#ifndef HENDERSON_LABELS_H
#define HENDERSON_LABELS_H

#include <henderson/sys.h>

typedef struct _p_LabelTable     *LabelTable;
typedef struct _p_LabelDirectory *LabelDirectory;

PETSC_EXTERN PetscErrorCode LabelTableCreate(LabelTable *table);
PETSC_EXTERN PetscErrorCode LabelTableDestroy(LabelTable *table);
/* Room for N labels of CHARACTERS bytes in all (their terminating NULs included) without growing:
   a table of millions grown by doubling moves every label many times. */
PETSC_EXTERN PetscErrorCode LabelTableReserve(LabelTable table, PetscInt n, size_t characters);
/* A table of N distinct labels that lie one after another, each with its NUL, in POOL (POOL_SIZE bytes),
   HASH[k] the LabelHash() of label k; both arrays are taken over (PetscMalloc()ed, the table frees them).
   No label is compared: the caller knows them distinct. HASH NULL: a list, labels by index only (about 8
   bytes a label beside its text, against some 40), whose look-ups and insertions fail. */
PETSC_EXTERN PetscErrorCode LabelTableCreateFromPool(PetscInt n, char *pool, size_t pool_size, uint64_t *hash, LabelTable *table);
/* The table becomes a list: its look-up index (hashes and slots, about 40 of its bytes a label) is freed;
   the labels by index stay, look-ups and insertions fail. */
PETSC_EXTERN PetscErrorCode LabelTableDropIndex(LabelTable table);
/* Inserts LABEL (LENGTH bytes, need not be NUL-terminated) if new; *index is its index either way. */
PETSC_EXTERN PetscErrorCode LabelTableInsert(LabelTable table, const char label[], size_t length, PetscInt *index, PetscBool *inserted);
/* The same for N labels, in order (INDEX[k] for LABEL[k]), with the cache misses of a batch overlapped:
   several times faster in a table of millions. */
PETSC_EXTERN PetscErrorCode LabelTableInsertMany(LabelTable table, PetscInt n, const char *const label[], const size_t length[], PetscInt index[]);
/* Renumbers in place: old label ORDER[k] becomes label k, for k < n; labels not in ORDER are dropped.
   No label is hashed or compared again. */
PETSC_EXTERN PetscErrorCode LabelTablePermute(LabelTable table, PetscInt n, const PetscInt order[]);
/* *index = -1 when LABEL is not in the table. */
PETSC_EXTERN PetscErrorCode LabelTableFind(LabelTable table, const char label[], size_t length, PetscInt *index);
/* The same for N labels (INDEX[k] for LABEL[k], -1 if absent), the cache misses of a batch overlapped. */
PETSC_EXTERN PetscErrorCode LabelTableFindMany(LabelTable table, PetscInt n, const char *const label[], const size_t length[], PetscInt index[]);
PETSC_EXTERN PetscErrorCode LabelTableGetLabel(LabelTable table, PetscInt index, const char **label);
PETSC_EXTERN PetscErrorCode LabelTableGetSize(LabelTable table, PetscInt *size);
/* The label's LabelHash(), as stored (no look at the label itself). */
PETSC_EXTERN PetscErrorCode LabelTableGetHash(LabelTable table, PetscInt index, uint64_t *hash);
/* Length of the longest label (0 for an empty table). */
PETSC_EXTERN PetscErrorCode LabelTableGetMaxLength(LabelTable table, size_t *length);
/* Bytes held by the table. */
PETSC_EXTERN PetscErrorCode LabelTableGetMemory(LabelTable table, size_t *bytes);
/* 64-bit FNV-1a hash of a label; the owner rank of a label is hash % size. */
PETSC_EXTERN uint64_t LabelHash(const char label[], size_t length);

/* Collective. LOCAL holds this rank's distinct labels, FIRST_LINE[k] the line where local label k
   first appears. PRESET (rank 0 only, may be NULL) holds labels that keep their indices 0..npreset-1;
   DIR (every rank, may be NULL) the first of them by owner (LabelDirectoryGetSize() of them), which are
   then found where they are, so that rank 0 sends only the rest (PRESET NULL: the directory's are all).
   On return GLOBAL[k] is the global index of local label k, *nglobal (every rank) the number of
   distinct labels including the preset ones, and on rank 0 *added (if not NULL) a new table with
   the labels that were not preset, in index order (indices npreset, npreset+1, ...). */
PETSC_EXTERN PetscErrorCode LabelsNumber(MPI_Comm comm, LabelTable local, const PetscInt64 first_line[], LabelTable preset, LabelDirectory dir,
                                         PetscInt global[], PetscInt *nglobal, LabelTable *added);

/* A distributed directory of labels: each label is kept, with its global index, by its owner rank
   (LabelHash() % size), so that labels are numbered and looked up without any rank holding them all. */

/* Collective. This rank's N entries (labels, repeats allowed) come after those of the ranks before it, in
   the order of a file read by byte ranges. Each distinct label is numbered by its first entry over all
   ranks (0, 1, ... in that order, as one rank's LabelTableInsert() would); GLOBAL[i] is entry i's number,
   *NGLOBAL (every rank) the number of distinct labels. Each rank looks its entries up in a table of its
   own, and each distinct label of a rank crosses the network once, to its owner. TABLE (may be NULL): rank
   0 gets every label in index order (the others NULL), gathered from the ranks that hold their first
   entries: no label is looked up again. LENGTH may be NULL (the labels are then measured). */
PETSC_EXTERN PetscErrorCode LabelDirectoryCreateInOrder(MPI_Comm comm, PetscInt n, const char *const label[], const size_t length[], PetscInt global[],
                                                        LabelDirectory *dir, PetscInt *nglobal, LabelTable *table);
PETSC_EXTERN PetscErrorCode LabelDirectoryDestroy(LabelDirectory *dir);
PETSC_EXTERN PetscErrorCode LabelDirectoryGetSize(LabelDirectory dir, PetscInt *nglobal);
/* Not collective, the same call on every rank: label i becomes label NEW_OF[i] (-1: dropped), for i < N. */
PETSC_EXTERN PetscErrorCode LabelDirectoryRenumber(LabelDirectory dir, PetscInt n, const PetscInt new_of[]);
/* Collective. Rank 0 gets the labels of N indices (N and INDEX significant on rank 0 only): (*LABELS)[k] is
   that of INDEX[k], PetscStrallocpy()ed (NULL: no such index), in an array rank 0 frees with each label.
   Every owner looks through all its labels once: for a few labels (an error message), not for many. */
PETSC_EXTERN PetscErrorCode LabelDirectoryGetLabels(LabelDirectory dir, PetscInt n, const PetscInt index[], char ***labels);
/* Collective. This rank's N new labels join the directory, LABEL[k] with index INDEX[k] (distinct from every
   index and label there, but for a dropped label, index -1: it takes the new index). */
PETSC_EXTERN PetscErrorCode LabelDirectoryAdd(LabelDirectory dir, PetscInt n, const char *const label[], const PetscInt index[]);
/* Collective. INDEX[k] of this rank's LABEL[k], k < N (-1: not in the directory), from the labels' owners. */
PETSC_EXTERN PetscErrorCode LabelDirectoryFind(LabelDirectory dir, PetscInt n, const char *const label[], PetscInt index[]);
/* Collective. Rank 0 gets HASH[i], the LabelHash() of the label of index i, for every i < N (their owners
   send them in chunks: rank 0 holds one chunk beside HASH). */
PETSC_EXTERN PetscErrorCode LabelDirectoryGatherHashes(LabelDirectory dir, PetscInt n, uint64_t hash[]);
/* Collective. Each rank gets the labels of its RANGES[rank] .. RANGES[rank+1]-1 (every index there must be in
   the directory) as a list in index order (LabelTableCreateFromPool() without hashes). */
PETSC_EXTERN PetscErrorCode LabelDirectoryScatter(LabelDirectory dir, const PetscInt ranges[], LabelTable *local);
/* Not collective: the indices of N labels that this rank owns (LabelHash() % size == rank); -1 if absent. */
PETSC_EXTERN PetscErrorCode LabelDirectoryFindOwned(LabelDirectory dir, PetscInt n, const char *const label[], const size_t length[], PetscInt index[]);

/* Natural order of labels: runs of digits compare as numbers ("H9" < "H10"), the rest byte by byte;
   labels that tie ("H01", "H1") fall back to plain byte order, so the order is total. Not collective. */
PETSC_EXTERN int LabelNaturalCompare(const char *a, const char *b);

#endif
