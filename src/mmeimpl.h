/* mmeimpl.h -- what the two forms of the mixed model equations share (private to src/mme*.c).

   mme.c          the public MME object, the records' terms, the balanced row layout, the assembled AIJ
   mme_sum.c      the hash table that sums entries on a rank and the exchange of sorted entries
   mme_data.c     the iteration-on-data operator: C applied from the records and the pedigree */
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

/* ---- The terms of a record: what it contributes to the equations (mme.c) ---- */

/* A record can touch up to nslots equations: one per (effect, trait of the effect, coefficient), in
   that order; a social effect has one per (group mate, trait), the mates of smaller groups padded
   with absent ones. Slot s belongs to trait trait[s]; its coefficient is 1 for a class effect, else the
   (scaled) covariate or a Legendre polynomial of it (cov[s] >= 0 numbers those slots). */
typedef struct {
  PetscInt  nslots, ntraits, ncov;
  PetscInt *trait, *cov, *effect;
  PetscInt *position; /* of the slot's equation within its level (EquationsBlockEquation()'s K) */
  PetscBool weighted;
  /* the social effect (-1: none): its slots are (mate, trait), padded to the largest group's mates,
     all with one coefficient (1/(n-1))^dilution (cov -1 without dilution) */
  PetscInt        social, max_mates;
  const PetscInt *mate_offset, *mates;
  PetscReal       dilution;
  /* private */
  Model                   model;
  Equations               eq;
  PetscInt                neffects;
  const PetscReal        *y, *w;
  const PetscInt        **level;
  const PetscReal       **value;
  const ModelEffect     **model_effect;
  const EquationsEffect **layout;
  const EquationsBlock  **block;
  PetscReal              *centre, *scale, (*range)[2];
  PetscReal               R0[MODEL_MAX_TRAITS * MODEL_MAX_TRAITS];
  PetscReal             **rinv; /* R0-inverse by pattern of traits present (2^ntraits, made when needed) */
  PetscInt               *eq_, *first_, *level_;
  PetscReal              *coef_;
} RecordTerms;

/* Everything a record contributes: per slot the equation (-1: none -- trait missing, unknown
   animal, absent equation, zero coefficient), the coefficient and the first equation of its level
   (the point block it lies in); the traits present (a bit mask), the weight, R-inverse for the
   pattern (ntraits x ntraits, weight not applied) and R-inverse y (weight applied). */
typedef struct {
  PetscInt        *eq, *first; /* nslots each, owned by the RecordTerms */
  PetscInt        *level;      /* the level of the slot's effect (a mate's for a social effect), -1 none */
  PetscReal       *coef;
  uint32_t         pattern;
  PetscReal        weight;
  const PetscReal *rinv;
  PetscReal        ry[MODEL_MAX_TRAITS];
} RecordContribution;

PETSC_INTERN PetscErrorCode RecordTermsCreate(Model model, Equations eq, Records records, RecordTerms *rt);
PETSC_INTERN PetscErrorCode RecordTermsDestroy(RecordTerms *rt);
PETSC_INTERN PetscErrorCode RecordTermsGet(RecordTerms *rt, PetscInt r, RecordContribution *c);
/* R0-inverse over the traits in PATTERN, zero elsewhere (ntraits x ntraits, owned by RT). */
PETSC_INTERN PetscErrorCode RecordTermsResidualInverse(RecordTerms *rt, uint32_t pattern, const PetscReal **rinv);

/* Inverse of a symmetric positive definite matrix of order N (row-major), in place. */
PETSC_INTERN PetscErrorCode InvertSPD(PetscInt n, PetscReal A[]);
/* G0-inverse of random group G, dim x dim (PetscFree() it). */
PETSC_INTERN PetscErrorCode GroupInverse(const ModelGroup *group, PetscReal **Ginv);

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

/* ---- The iteration-on-data operator (mme_data.c) ---- */

typedef struct _p_MMEData *MMEData;

/* Collective. Builds the operator (a MATSHELL), the assembled point-block diagonal P (the
   preconditioner's matrix) and the right-hand side; sets MME's layout when it has none. */
PETSC_INTERN PetscErrorCode MMEDataCreate(MME mme, Model model, Equations eq, Records records, Pedigree pedigree, Mat *C, Mat *P, Vec *rhs);

struct _p_MME {
  MPI_Comm        comm;
  PetscMPIInt     rank, size;
  MMEOperatorType type; /* as set; resolved into operator */
  MMEOperatorType operator;
  PetscLayout     layout;
  Mat             C, P;
  Vec             rhs;
  PetscBool       structure; /* COO structure set (assembled) */
  PetscCount      ncoo;
  MMEStats        stats;
};

#endif
