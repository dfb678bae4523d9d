/* mmeimpl.h -- what the forms of the mixed model equations share (private to src/mme*.c).

   mme.c            the MME object: life cycle, registry of forms, balanced row layout, statistics, view
   mme_sum.c        the hash table that sums entries on a rank and the exchange of sorted entries
   mme_assembled.c  MMEASSEMBLED: C as an AIJ matrix, by COO assembly; also F = X'R^-1X (estimable.h)
   mme_data.c       MMEDATA: C applied from the records and the relationships, never stored

   A form implements the ops below; it reads the records through recordterms.h and the random groups'
   K^-1 (x) G0^-1 through relationship.h, and knows nothing of the other form. */
#ifndef HENDERSON_MMEIMPL_H
#define HENDERSON_MMEIMPL_H

#include <henderson/mme.h>
#include <henderson/error.h>
#include <henderson/log.h>

/* ---- Summing entries by (row, col) on one rank (mme_sum.c) ---- */

/* Sums values by (row, col) before they go to PETSc: a record's outer product repeats the
   fixed-effect entries of every other record, and PETSc would otherwise keep them all. */
typedef struct {
  PetscInt    *row, *col; /* row -1 = empty slot */
  PetscScalar *value;
  size_t       nslots, n;
} Accumulator;

PETSC_INTERN PetscErrorCode AccumulatorCreate(size_t expected, Accumulator *acc);
PETSC_INTERN PetscErrorCode AccumulatorDestroy(Accumulator *acc);
PETSC_INTERN PetscErrorCode AccumulatorGrow(Accumulator *acc);

static inline size_t AccumulatorSlot(size_t nslots, PetscInt row, PetscInt col)
{
  uint64_t h = (uint64_t)row * 0x9E3779B97F4A7C15ULL ^ (uint64_t)col * 0xC2B2AE3D27D4EB4FULL;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 32;
  return (size_t)h & (nslots - 1);
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

/* The upper triangle is accumulated; the full matrix is written out of it. */
static inline PetscErrorCode AccumulatorAddSymmetric(Accumulator *acc, PetscInt a, PetscInt b, PetscScalar v)
{
  return a <= b ? AccumulatorAdd(acc, a, b, v) : AccumulatorAdd(acc, b, a, v);
}

/* The accumulated upper triangle as both triangles, keys row:col (64 bits) sorted, with their values;
   empties ACC. Free KEY and VALUE with PetscFree2(). */
PETSC_INTERN PetscErrorCode AccumulatorToSortedKeys(Accumulator *acc, PetscInt nmax, PetscCount *nkeys, uint64_t **key, PetscScalar **value);
/* Collective. Sorted keys go to the owners of their rows; each owner gets its distinct entries, sorted
   by row and column, summed over ranks. Free with PetscFree3(). */
PETSC_INTERN PetscErrorCode ExchangeToOwners(MPI_Comm comm, PetscLayout layout, PetscCount n, const uint64_t key[], const PetscScalar value[],
                                             PetscCount *nentries, PetscInt **ci, PetscInt **cj, PetscScalar **cv);
/* Collective. Adds the entries (row, 0) of ACC to the vector V (whose rows LAYOUT shares out), summed
   over ranks in rank order -- VecSetValues() with ADD_VALUES would sum them in the order the messages
   arrive, and two runs would differ in the last bits. Empties ACC. */
PETSC_INTERN PetscErrorCode AccumulatorAddToVector(MPI_Comm comm, PetscLayout layout, Accumulator *acc, Vec v);
/* Collective. A distributed AIJ matrix from the sorted, distinct local entries of ExchangeToOwners(). */
PETSC_INTERN PetscErrorCode MatCreateFromSortedEntries(MPI_Comm comm, PetscLayout layout, PetscCount n, const PetscInt ci[], const PetscInt cj[],
                                                       const PetscScalar cv[], Mat *A);

/* ---- The row layout ---- */

/* Collective. Rows for every rank such that each moves the same bytes in an iteration: WEIGHT[b] are
   this rank's bytes of the operator for the rows of bucket b (rows first(b) .. first(b+1)-1, first(b)
   = ceil(b n / nbuckets)), to which the CG vectors' 156 bytes a row are added; the split points snap
   to level boundaries. */
PETSC_INTERN PetscErrorCode MMEBalancedLayout(MME mme, Equations eq, PetscInt n, PetscInt nbuckets, PetscInt64 weight[]);
static inline PetscInt      MMEBucket(PetscInt row, PetscInt n, PetscInt nbuckets)
{
  return (PetscInt)((PetscInt64)row * nbuckets / n);
}
/* Not collective. Adds to WEIGHT the bytes PER_LEVEL of this rank's even share of the levels of BLOCK, at
   their first equations (before the layout exists, every rank counts a share of every group). */
PETSC_INTERN PetscErrorCode MMEAddLevelWeights(MME mme, const EquationsBlock *block, PetscInt64 per_level, PetscInt n, PetscInt nbuckets, PetscInt64 weight[]);
/* Collective. The statistics of a product's exchange: NGHOST values of other ranks (GHOSTS, sorted), and
   MESSAGES_PER_NEIGHBOUR messages a neighbouring rank (1: values in; 2: values in, sums back). */
PETSC_INTERN PetscErrorCode MMESetCommunicationStats(MME mme, PetscInt nghost, const PetscInt ghosts[], PetscInt messages_per_neighbour);
/* ... where the neighbours (ranks this rank receives from in one exchange) are counted already. */
PETSC_INTERN PetscErrorCode MMESetCommunicationCounts(MME mme, PetscInt nghost, PetscInt neighbours, PetscInt messages_per_neighbour);
/* Not collective. A's point blocks (the levels of its rows), for point-block Jacobi. */
PETSC_INTERN PetscErrorCode MMESetPointBlocks(MME mme, Equations eq, Mat A);

/* ---- The object and its types ---- */

typedef struct _MMEOps *MMEOps;
struct _MMEOps {
  /* builds C, P and rhs from the records and the relationships; sets the layout when there is none */
  PetscErrorCode (*assemble)(MME, Model, Equations, Records, PetscInt, Relationship[]);
  PetscErrorCode (*view)(MME, PetscViewer);
  PetscErrorCode (*destroy)(MME);
};

/* -mme_ghost_route: how the data operator's ghost values travel (mme_route.c) */
typedef enum { MME_GHOST_ROUTE_AUTO, MME_GHOST_ROUTE_DIRECT, MME_GHOST_ROUTE_GRID } MMEGhostRoute;

struct _p_MME {
  MPI_Comm       comm;
  PetscMPIInt    rank, size;
  char           type[32];
  struct _MMEOps ops[1];
  void          *data;
  PetscLayout    layout; /* rows of every rank: set by the first assembly, kept by the next */
  Mat            C, P;
  Vec            rhs;
  PetscBool      entries; /* C holds its entries */
  MMEStats       stats;
  MMEGhostRoute  ghost_route;
};

PETSC_INTERN PetscErrorCode MMECreate_Data(MME);
PETSC_INTERN PetscErrorCode MMECreate_Assembled(MME);

#endif
