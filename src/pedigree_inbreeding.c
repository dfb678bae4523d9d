/* Inbreeding and the A-inverse coefficients (Henderson's rules, Quaas 1976).

   The default method, Sargolzaei, Iwaisaki & Colleau (2005), computes the F of all progeny of one sire
   from one sweep over the sire's ancestors and his mates' ancestors, given the F of the sire's ancestors.
   A sire's ancestors all lie in earlier generations (generation = 1 + the parents' larger one), so the
   sires of one generation are independent: they are shared among the ranks, each rank sweeps its
   share, and one MPI_Allgatherv a generation gives every rank their progeny's F. Each F comes from one
   sweep whose arithmetic depends only on the pedigree and on earlier F, never on which rank ran it, so F
   is the same to the last bit at every rank count (and the same as the serial sweep in index order).

   Every rank then holds the whole pedigree as two int32 parent arrays (8 bytes an animal, sent by rank 0)
   and the method's work space: the progeny by sire, the reduced pedigree and its stack, the sweep
   vector and F (about 50 bytes an animal in all, freed before the equations are built). */
#include "pedigreeimpl.h"
#include <henderson/error.h>
#include <henderson/log.h>
#include <string.h>

/* Mendelian sampling variance d_i (in units of sigma2_a) of an animal i = c0 p0 + c1 p1 + m_i with
   parents S and D (c = 1/2, 1/2 for sire and dam; 1/2, 1/4 for sire and maternal grandsire; negative:
   unknown or a group): d_i = 1 - sum over known parents of c^2 (1 + F_p). F may be NULL (inbreeding ignored). */
static inline PetscReal MendelianVariance(const PetscReal c[2], PetscInt s, PetscInt d, const PetscReal F[])
{
  PetscReal v = 1.0;
  if (s >= 0) v -= c[0] * c[0] * (1.0 + (F ? F[s] : 0));
  if (d >= 0) v -= c[1] * c[1] * (1.0 + (F ? F[d] : 0));
  return v;
}

/* The indirect method's state on one rank: the whole pedigree as int32 parent arrays (-1: unknown, and
   a group counts as unknown: it adds no relationship), the progeny with both parents known grouped by
   sire, the sires grouped by generation, and one sweep's work space. */
typedef struct {
  PetscInt   n;
  PetscReal  c[2];
  int32_t   *sire, *dam;
  int32_t   *first, *progeny;     /* progeny[first[s]..first[s+1]-1]: sire s's, ascending */
  int32_t   *level_first, *sires; /* sires[level_first[g]..level_first[g+1]-1]: the sires of generation g */
  PetscInt   levels;
  int32_t   *reduced, *stack;
  uint64_t  *member; /* bit j: animal j is in the current reduced pedigree */
  PetscReal *x;
  PetscInt   swept; /* sires that need a sweep */
  uint64_t  *known; /* NULL, or bit i: F_i is known already (an earlier evaluation's) */
} Indirect;

static inline PetscBool Known(const uint64_t *known, PetscInt i)
{
  return known && (known[i >> 6] >> (i & 63) & 1) ? PETSC_TRUE : PETSC_FALSE;
}

/* Sire S's sweep (Colleau 2002): the relationships a_sd with all his mates at once, as the column
   A e_s = T D T' e_s restricted to the reduced pedigree (s, his mates and all their ancestors): one
   backward sweep from s through his ancestors (T' e_s, times D, which needs the F of his ancestors
   only), one forward sweep down to the mates (T). Every progeny i of s then has F_i = 2 c0 c1 a_sd. */
/* How far ahead in the reduced pedigree its members' values are asked for. */
#define SWEEP_AHEAD 8

static void IndirectSweep(Indirect *ind, PetscInt s, PetscReal F[])
{
  const int32_t   *sire = ind->sire, *dam = ind->dam;
  const PetscReal *c       = ind->c;
  int32_t         *reduced = ind->reduced, *stack = ind->stack;
  uint64_t        *member = ind->member;
  PetscReal       *x      = ind->x;
  PetscInt         nstack = 0, nreduced = 0;

  /* The reduced pedigree in depth-first post-order, which puts every animal after its parents: what
     both sweeps need, without sorting. On the stack, j >= 0 is an animal to enter, -j-1 one to emit
     after its parents. */
  stack[nstack++] = (int32_t)s;
  for (PetscInt k = ind->first[s]; k < ind->first[s + 1]; k++) {
    stack[nstack++] = dam[ind->progeny[k]];
    __builtin_prefetch(&sire[dam[ind->progeny[k]]]);
    __builtin_prefetch(&dam[dam[ind->progeny[k]]]);
  }
  while (nstack) {
    int32_t j = stack[--nstack];
    if (j < 0) {
      reduced[nreduced++] = -j - 1;
      continue;
    }
    if (member[j >> 6] >> (j & 63) & 1) continue;
    member[j >> 6] |= (uint64_t)1 << (j & 63);
    stack[nstack++] = -j - 1;
    if (sire[j] >= 0 && !(member[sire[j] >> 6] >> (sire[j] & 63) & 1)) {
      stack[nstack++] = sire[j];
      __builtin_prefetch(&sire[sire[j]]); /* its parents are read when it is entered: ask now */
      __builtin_prefetch(&dam[sire[j]]);
    }
    if (dam[j] >= 0 && !(member[dam[j] >> 6] >> (dam[j] & 63) & 1)) {
      stack[nstack++] = dam[j];
      __builtin_prefetch(&sire[dam[j]]);
      __builtin_prefetch(&dam[dam[j]]);
    }
  }
  for (PetscInt k = 0; k < nreduced; k++) member[reduced[k] >> 6] = 0;
  /* backward: x = D T' e_s, nonzero on s and his ancestors (progeny before parents) */
  x[s] = 1.0;
  for (PetscInt k = nreduced - 1; k >= 0; k--) {
    int32_t   j = reduced[k];
    PetscReal w;
    if (k >= SWEEP_AHEAD) __builtin_prefetch(&x[reduced[k - SWEEP_AHEAD]]); /* the list is in no order of index */
    w = x[j];
    if (w == 0) continue;
    if (sire[j] >= 0) x[sire[j]] += c[0] * w;
    if (dam[j] >= 0) x[dam[j]] += c[1] * w;
    x[j] = w * MendelianVariance(c, sire[j], dam[j], F);
  }
  /* forward: z = T x over the reduced pedigree (parents before progeny); z_d = a_sd */
  for (PetscInt k = 0; k < nreduced; k++) {
    int32_t j = reduced[k];
    if (k + SWEEP_AHEAD < nreduced) __builtin_prefetch(&x[reduced[k + SWEEP_AHEAD]]);
    x[j] += c[0] * (sire[j] >= 0 ? x[sire[j]] : 0) + c[1] * (dam[j] >= 0 ? x[dam[j]] : 0);
  }
  /* F_i = 2 c0 c1 a(p0, p1): a_sd / 2 for sire and dam, a_sm / 4 for sire and maternal grandsire */
  for (PetscInt k = ind->first[s]; k < ind->first[s + 1]; k++)
    if (!Known(ind->known, ind->progeny[k])) F[ind->progeny[k]] = 2 * c[0] * c[1] * x[dam[ind->progeny[k]]];
  for (PetscInt k = 0; k < nreduced; k++) x[reduced[k]] = 0;
}

/* Whether sire S needs a sweep: some progeny's F is not known. */
static PetscBool IndirectNeeded(const Indirect *ind, PetscInt s)
{
  if (ind->first[s + 1] == ind->first[s]) return PETSC_FALSE;
  for (PetscInt k = ind->first[s]; k < ind->first[s + 1]; k++)
    if (!Known(ind->known, ind->progeny[k])) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* The progeny by sire, and the sires that need a sweep by their own generation. */
static PetscErrorCode IndirectIndex(Indirect *ind)
{
  PetscInt n = ind->n, nsires = 0;
  int32_t *generation, *fill;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(n + 1, &ind->first));
  PetscCall(PetscMalloc1(n + 1, &ind->progeny));
  PetscCall(PetscMalloc1(n + 1, &generation));
  ind->levels = 0;
  for (PetscInt i = 0; i < n; i++) {
    int32_t s = ind->sire[i], d = ind->dam[i];
    PetscCheck(s < i && d < i, PETSC_COMM_SELF, PETSC_ERR_PLIB, "parents must come before progeny");
    generation[i] = 1 + PetscMax(s >= 0 ? generation[s] : 0, d >= 0 ? generation[d] : 0);
    ind->levels   = PetscMax(ind->levels, generation[i]);
    if (s >= 0 && d >= 0) ind->first[s + 1]++;
  }
  for (PetscInt i = 0; i < n; i++) ind->first[i + 1] += ind->first[i];
  fill = ind->stack; /* free until the sweeps */
  for (PetscInt i = 0; i < n; i++) fill[i] = ind->first[i];
  for (PetscInt i = 0; i < n; i++)
    if (ind->sire[i] >= 0 && ind->dam[i] >= 0) ind->progeny[fill[ind->sire[i]]++] = (int32_t)i;
  PetscCall(PetscCalloc1(ind->levels + 2, &ind->level_first));
  for (PetscInt s = 0; s < n; s++)
    if (IndirectNeeded(ind, s)) {
      ind->level_first[generation[s] + 1]++;
      nsires++;
    }
  PetscCall(PetscMalloc1(nsires + 1, &ind->sires));
  for (PetscInt g = 0; g <= ind->levels; g++) ind->level_first[g + 1] += ind->level_first[g];
  for (PetscInt g = 0; g <= ind->levels; g++) fill[g] = ind->level_first[g];
  for (PetscInt s = 0; s < n; s++)
    if (IndirectNeeded(ind, s)) ind->sires[fill[generation[s]]++] = (int32_t)s;
  ind->swept = nsires;
  PetscCall(PetscFree(generation));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Generation G's sires dealt to the ranks like cards (rank r sweeps the level's sires r, r + size, ...):
   a sweep's cost depends on the sire's and his mates' ancestries more than on his progeny count, which no
   cheap measure predicts, and dealing spreads the costly ones evenly. Every rank then gets all their
   progeny's F, rank by rank, each rank's sires in order. */
static inline PetscInt Progeny(const Indirect *ind, int32_t s)
{
  return ind->first[s + 1] - ind->first[s];
}

static PetscErrorCode IndirectLevel(Indirect *ind, MPI_Comm comm, PetscInt g, PetscMPIInt count[], PetscMPIInt displ[], PetscReal buffer[], PetscReal F[])
{
  PetscMPIInt rank, size;
  PetscInt    lo = ind->level_first[g], hi = ind->level_first[g + 1], at;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  for (PetscInt k = lo + rank; k < hi; k += size) IndirectSweep(ind, ind->sires[k], F);
  if (size == 1) PetscFunctionReturn(PETSC_SUCCESS);
  for (PetscMPIInt r = 0; r < size; r++) count[r] = 0;
  for (PetscInt k = lo; k < hi; k++) count[(k - lo) % size] += (PetscMPIInt)Progeny(ind, ind->sires[k]);
  displ[0] = 0;
  for (PetscMPIInt r = 0; r < size; r++) displ[r + 1] = displ[r] + count[r];
  at = displ[rank];
  for (PetscInt k = lo + rank; k < hi; k += size)
    for (PetscInt j = ind->first[ind->sires[k]]; j < ind->first[ind->sires[k] + 1]; j++) buffer[at++] = F[ind->progeny[j]];
  PetscCallMPI(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buffer, count, displ, MPIU_REAL, comm));
  at = 0;
  for (PetscMPIInt r = 0; r < size; r++)
    for (PetscInt k = lo + r; k < hi; k += size)
      for (PetscInt j = ind->first[ind->sires[k]]; j < ind->first[ind->sires[k] + 1]; j++) F[ind->progeny[j]] = buffer[at++];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. F of all N animals on every rank, from the parent arrays IND->sire and IND->dam (the same on
   every rank), generation by generation of the sires. */
static PetscErrorCode InbreedingIndirect(Indirect *ind, MPI_Comm comm, PetscReal F[])
{
  PetscInt    n = ind->n, most = 0;
  PetscMPIInt size, *count, *displ;
  PetscReal  *buffer;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  /* the stack holds at most every push: one per mate, three per member */
  PetscCall(PetscMalloc3(n + 1, &ind->reduced, 4 * n + 4, &ind->stack, n + 1, &ind->x));
  PetscCall(PetscCalloc1(n / 64 + 1, &ind->member));
  PetscCall(IndirectIndex(ind));
  for (PetscInt i = 0; i < n; i++) {
    if (!Known(ind->known, i)) F[i] = 0;
    ind->x[i] = 0;
  }
  for (PetscInt g = 1; g <= ind->levels; g++) {
    PetscInt sum = 0;
    for (PetscInt k = ind->level_first[g]; k < ind->level_first[g + 1]; k++) sum += Progeny(ind, ind->sires[k]);
    most = PetscMax(most, sum);
  }
  PetscCall(PetscMalloc3(size, &count, size + 1, &displ, size > 1 ? most + 1 : 1, &buffer));
  for (PetscInt g = 1; g <= ind->levels; g++) {
    if (HendersonProgressDue()) HendersonProgressPrintf("inbreeding: the sires of generation %" PetscInt_FMT " of %" PetscInt_FMT, g, ind->levels);
    PetscCall(IndirectLevel(ind, comm, g, count, displ, buffer, F));
  }
  PetscCall(PetscFree3(count, displ, buffer));
  PetscCall(PetscFree3(ind->reduced, ind->stack, ind->x));
  PetscCall(PetscFree(ind->member));
  PetscCall(PetscFree(ind->first));
  PetscCall(PetscFree(ind->progeny));
  PetscCall(PetscFree(ind->level_first));
  PetscCall(PetscFree(ind->sires));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. The indirect method on every rank of P's communicator: rank 0 sends the parent arrays (and the
   animals whose F is KNOWN, with it in P->inbreeding), and F arrives in P->inbreeding on rank 0. */
static PetscErrorCode PedigreeInbreedingShared(Pedigree p, const uint64_t known[])
{
  Indirect   ind = {0};
  PetscInt   n   = p->rank == 0 ? p->n : 0;
  PetscReal *F;
  PetscBool  any_known = (PetscBool)(known != NULL);

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Bcast(&n, 1, MPIU_INT, 0, p->comm));
  PetscCallMPI(MPI_Bcast(&any_known, 1, MPIU_BOOL, 0, p->comm));
  PetscCheck((PetscInt64)n < (PetscInt64)INT32_MAX / 4, p->comm, PETSC_ERR_SUP, "%" PetscInt_FMT " animals: the indirect method counts them in 32 bits", n);
  ind.n    = n;
  ind.c[0] = p->coefficient[0];
  ind.c[1] = p->coefficient[1];
  PetscCall(PetscMalloc2(n + 1, &ind.sire, n + 1, &ind.dam));
  if (p->rank == 0)
    for (PetscInt i = 0; i < n; i++) { /* a group adds no relationship: unknown here */
      ind.sire[i] = p->sire[i] >= 0 ? (int32_t)p->sire[i] : -1;
      ind.dam[i]  = p->dam[i] >= 0 ? (int32_t)p->dam[i] : -1;
    }
  PetscCallMPI(MPI_Bcast(ind.sire, (PetscMPIInt)n, MPI_INT32_T, 0, p->comm));
  PetscCallMPI(MPI_Bcast(ind.dam, (PetscMPIInt)n, MPI_INT32_T, 0, p->comm));
  if (p->rank == 0)
    F = p->inbreeding;
  else
    PetscCall(PetscMalloc1(n + 1, &F));
  if (any_known) { /* their F (rank 0 has them in place), for the sweeps of their progeny's sires */
    PetscCall(PetscMalloc1(n / 64 + 1, &ind.known));
    if (p->rank == 0) PetscCall(PetscArraycpy(ind.known, known, n / 64 + 1));
    PetscCallMPI(MPI_Bcast(ind.known, (PetscMPIInt)(n / 64 + 1), MPI_UINT64_T, 0, p->comm));
    PetscCallMPI(MPI_Bcast(F, (PetscMPIInt)n, MPIU_REAL, 0, p->comm));
  }
  PetscCall(InbreedingIndirect(&ind, p->comm, F));
  PetscCall(PetscInfo(NULL, "indirect method: %" PetscInt_FMT " sires swept\n", ind.swept));
  if (p->rank != 0) PetscCall(PetscFree(F));
  PetscCall(PetscFree(ind.known));
  PetscCall(PetscFree2(ind.sire, ind.dam));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Max-heap of animal indices: ancestors are taken youngest (largest index) first. */
static inline void HeapPush(PetscInt heap[], PetscInt *n, PetscInt v)
{
  PetscInt i = (*n)++;
  while (i > 0) {
    PetscInt up = (i - 1) / 2;
    if (heap[up] >= v) break;
    heap[i] = heap[up];
    i       = up;
  }
  heap[i] = v;
}

static inline PetscInt HeapPop(PetscInt heap[], PetscInt *n)
{
  PetscInt top = heap[0], v = heap[--(*n)], i = 0;
  for (;;) {
    PetscInt c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && heap[c + 1] > heap[c]) c++;
    if (heap[c] <= v) break;
    heap[i] = heap[c];
    i       = c;
  }
  if (*n) heap[i] = v;
  return top;
}

/* Parent pairs already seen: full sibs share their inbreeding coefficient. */
typedef struct {
  uint64_t  *key; /* (sire << 32 | dam) + 1, 0 = empty */
  PetscReal *value;
  size_t     nslots, n;
} PairTable;

static inline size_t PairSlot(const PairTable *t, uint64_t key)
{
  return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 20) & (t->nslots - 1);
}

static PetscErrorCode PairTableInsert(PairTable *t, uint64_t key, PetscReal value)
{
  size_t s;

  PetscFunctionBeginUser;
  if (2 * (t->n + 1) > t->nslots) {
    PairTable bigger = {NULL, NULL, t->nslots ? 2 * t->nslots : 1024, 0};
    PetscCall(PetscCalloc1(bigger.nslots, &bigger.key));
    PetscCall(PetscMalloc1(bigger.nslots, &bigger.value));
    for (size_t i = 0; i < t->nslots; i++)
      if (t->key[i]) PetscCall(PairTableInsert(&bigger, t->key[i], t->value[i]));
    PetscCall(PetscFree(t->key));
    PetscCall(PetscFree(t->value));
    *t = bigger;
  }
  for (s = PairSlot(t, key); t->key[s] && t->key[s] != key; s = (s + 1) & (t->nslots - 1)) {}
  if (!t->key[s]) t->n++;
  t->key[s]   = key;
  t->value[s] = value;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline PetscBool PairTableFind(const PairTable *t, uint64_t key, PetscReal *value)
{
  if (!t->nslots) return PETSC_FALSE;
  for (size_t s = PairSlot(t, key); t->key[s]; s = (s + 1) & (t->nslots - 1))
    if (t->key[s] == key) {
      *value = t->value[s];
      return PETSC_TRUE;
    }
  return PETSC_FALSE;
}

/* Meuwissen & Luo (1992): F_i = sum_j L_ij^2 d_j - 1 over the ancestors j of i, the row of L built
   by passing half of each ancestor's coefficient to its parents, youngest ancestor first (an
   indexed max-heap); full sibs are computed once. */
static PetscErrorCode InbreedingMeuwissenLuo(PetscInt n, const PetscReal c[2], const PetscInt sire[], const PetscInt dam[], const uint64_t known[],
                                             PetscReal F[])
{
  PetscInt  *heap, nheap;
  PetscReal *d, *work;
  PairTable  pairs = {0};

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(n + 1, &d, n + 1, &heap));
  PetscCall(PetscCalloc1(n + 1, &work));
  for (PetscInt i = 0; i < n; i++) {
    PetscInt s = sire[i], m = dam[i];
    d[i] = MendelianVariance(c, sire[i], dam[i], F);
    if (Known(known, i)) continue; /* F_i as it was */
    if (s < 0 || m < 0) {
      F[i] = 0; /* a_sd = 0 when a parent is unknown */
    } else {
      uint64_t  key = (((uint64_t)s << 32) | (uint64_t)m) + 1;
      PetscReal f;
      if (!PairTableFind(&pairs, key, &f)) {
        PetscReal aii = 0;
        nheap         = 0;
        work[i]       = 1.0;
        HeapPush(heap, &nheap, i);
        while (nheap) {
          PetscInt  j = HeapPop(heap, &nheap), sj = sire[j], mj = dam[j];
          PetscReal w = work[j];
          if (sj >= 0) {
            if (work[sj] == 0) HeapPush(heap, &nheap, sj);
            work[sj] += c[0] * w;
          }
          if (mj >= 0) {
            if (work[mj] == 0) HeapPush(heap, &nheap, mj);
            work[mj] += c[1] * w;
          }
          aii += w * w * d[j];
          work[j] = 0;
        }
        f = aii - 1.0;
        PetscCall(PairTableInsert(&pairs, key, f));
      }
      F[i] = f;
    }
  }
  PetscCall(PetscFree2(d, heap));
  PetscCall(PetscFree(work));
  PetscCall(PetscFree(pairs.key));
  PetscCall(PetscFree(pairs.value));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* d_i near 0 (both parents with F near 1: generations of full-sib mating, inbred lines) makes alpha_i =
   1/d_i huge and the equations too badly conditioned for double precision (CG's true residual stalls
   near 1e-7 with d = 6e-10), and d_i = 1/2 - (F_s + F_d)/4 cannot be computed to better than about 1e-16
   anyway (it may come out 0 or negative). So d_i is floored at -pedigree_min_mendelian (1e-8); the
   animals floored are counted and reported. With the floor at 0, d_i <= 0 is an error. */
static PetscReal MendelianFloor(Pedigree p, PetscReal d)
{
  if (d >= p->min_mendelian && d > 0) return d;
  p->stats.mendelian_floored++;
  return p->min_mendelian > 0 ? p->min_mendelian : d;
}

/* Rank 0, after F: alpha_i = 1/d_i and the statistics. */
static PetscErrorCode PedigreeAlphaRoot(Pedigree p)
{
  PetscInt n = p->n, *generation;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(n + 1, &generation));
  p->stats.mendelian_floored = 0;
  p->stats.min_mendelian     = p->min_mendelian;
  for (PetscInt i = 0; i < n; i++) {
    PetscInt s = p->sire[i], m = p->dam[i];
    PetscAssert(s < i && m < i, PETSC_COMM_SELF, PETSC_ERR_PLIB, "parents must come before progeny");
    PetscReal d;
    if (p->inbreeding[i] < 0 && p->inbreeding[i] > -1e-12) p->inbreeding[i] = 0; /* rounding */
    if (p->inbreeding[i] > 1) p->inbreeding[i] = 1;                              /* rounding, as F tends to 1 */
    d = MendelianFloor(p, MendelianVariance(p->coefficient, s, m, p->use_inbreeding ? p->inbreeding : NULL));
    PetscCheck(d > 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s:%" PetscInt64_FMT ": the Mendelian sampling variance of this animal is %g (its parents' F is 1 to working precision): A has no inverse; "
               "leave -pedigree_min_mendelian above 0",
               p->path, p->line[i], (double)d);
    p->alpha[i]   = 1.0 / d;
    generation[i] = 1 + PetscMax(s >= 0 ? generation[s] : 0, m >= 0 ? generation[m] : 0);
  }
  /* statistics */
  p->stats.animals         = n;
  p->stats.founders        = 0;
  p->stats.generations     = 0;
  p->stats.inbred          = 0;
  p->stats.mean_inbreeding = 0;
  p->stats.max_inbreeding  = 0;
  p->stats.unknown_parents = PETSC_FALSE;
  for (PetscInt i = 0; i < n; i++) {
    if (p->sire[i] < 0 && p->dam[i] < 0) p->stats.founders++;
    if (p->sire[i] == -1 || p->dam[i] == -1) p->stats.unknown_parents = PETSC_TRUE;
    p->stats.generations = PetscMax(p->stats.generations, generation[i]);
    if (p->inbreeding[i] > 0) p->stats.inbred++;
    p->stats.mean_inbreeding += p->inbreeding[i];
    p->stats.max_inbreeding = PetscMax(p->stats.max_inbreeding, p->inbreeding[i]);
  }
  if (n) p->stats.mean_inbreeding /= n;
  PetscCall(PetscFree(generation));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeSetKnownInbreeding(Pedigree p, PetscInt n, char *const labels[], const uint64_t ancestry[], const PetscReal F[])
{
  PetscFunctionBeginUser;
  PetscCheck(p->rank == 0, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "PedigreeSetKnownInbreeding() is for rank 0");
  PetscCheck(!p->setup, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "known inbreeding must be set before PedigreeSetUp()");
  p->nknown         = n;
  p->known_labels   = labels;
  p->known_ancestry = ancestry;
  p->known_F        = F;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A fingerprint of an animal's ancestry from its ID's hash and its parents' fingerprints (a group counts as
   unknown: it adds no relationship), and the parents' coefficients: two animals with the same fingerprint
   have the same F (unless 64 bits collide: about 1 in 10^19 a changed animal). */
static inline uint64_t AncestryMix(uint64_t a, uint64_t b)
{
  return HendersonHash64(a ^ (b + 0x9E3779B97F4A7C15ULL + (a << 6) + (a >> 2)));
}

/* Rank 0: P->ancestry of every animal (parents before progeny), from the hashes of the IDs (HASH, or rank 0's
   table when NULL). */
static PetscErrorCode PedigreeAncestry(Pedigree p, const uint64_t hash[])
{
  const uint64_t unknown = 0x5bd1e9955bd1e995ULL, kind = p->sire_mgs ? 2 : 1;

  PetscFunctionBeginUser;
  PetscCall(PetscFree(p->ancestry));
  PetscCall(PetscMalloc1(p->n + 1, &p->ancestry));
  for (PetscInt i = 0; i < p->n; i++) {
    uint64_t h;
    if (hash)
      h = hash[i];
    else
      PetscCall(LabelTableGetHash(p->labels, i, &h));
    h              = AncestryMix(AncestryMix(h, kind), p->sire[i] >= 0 ? p->ancestry[p->sire[i]] : unknown);
    p->ancestry[i] = AncestryMix(h, p->dam[i] >= 0 ? p->ancestry[p->dam[i]] : unknown);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: the animals whose ancestry is as in the earlier evaluation (PedigreeSetKnownInbreeding()) get
   its F in P->inbreeding and a bit in *KNOWN (NULL when none). */
static PetscErrorCode PedigreeMatchKnown(Pedigree p, uint64_t **known)
{
  PetscInt *index;
  size_t   *length;

  PetscFunctionBeginUser;
  *known                     = NULL;
  p->stats.inbreeding_reused = 0;
  if (!p->nknown) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscMalloc2(p->nknown, &index, p->nknown, &length));
  for (PetscInt k = 0; k < p->nknown; k++) length[k] = strlen(p->known_labels[k]);
  PetscCall(LabelTableFindMany(p->labels, p->nknown, (const char *const *)p->known_labels, length, index));
  PetscCall(PetscCalloc1(p->n / 64 + 1, known));
  for (PetscInt k = 0; k < p->nknown; k++) {
    PetscInt i = index[k];
    if (i < 0 || p->known_ancestry[k] != p->ancestry[i] || Known(*known, i)) continue;
    (*known)[i >> 6] |= (uint64_t)1 << (i & 63);
    p->inbreeding[i] = p->known_F[k];
    p->stats.inbreeding_reused++;
  }
  PetscCall(PetscFree2(index, length));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Inbreeding by the method chosen with -pedigree_inbreeding (indirect, the default, on every rank; or
   meuwissen_luo, on rank 0), then alpha and the statistics on rank 0. */
PetscErrorCode PedigreeInbreeding(Pedigree p)
{
  PetscErrorCode ierr  = PETSC_SUCCESS;
  double         start = HendersonSeconds();
  uint64_t      *known = NULL, *hash = NULL;

  PetscFunctionBeginUser;
  if (LabelsInDirectory(p)) { /* the IDs' hashes from their owners */
    PetscInt n = p->n;
    PetscCallMPI(MPI_Bcast(&n, 1, MPIU_INT, 0, p->comm));
    if (p->rank == 0) PetscCall(PetscMalloc1(n + 1, &hash));
    PetscCall(LabelDirectoryGatherHashes(p->directory, n, hash));
  }
  if (p->rank == 0) {
    PetscCall(PetscMalloc2(p->n + 1, &p->inbreeding, p->n + 1, &p->alpha));
    PetscCall(PedigreeAncestry(p, hash));
    PetscCall(PetscFree(hash));
    PetscCall(PedigreeMatchKnown(p, &known));
  }
  if (p->meuwissen_luo) {
    if (p->rank == 0) ierr = InbreedingMeuwissenLuo(p->n, p->coefficient, p->sire, p->dam, known, p->inbreeding);
    PetscCall(HendersonAgree(p->comm, ierr));
  } else
    PetscCall(PedigreeInbreedingShared(p, known));
  PetscCall(PetscFree(known));
  p->nknown = 0;
  PetscCall(PetscInfo(NULL, "inbreeding (%s) on %d rank(s): %.3f s\n", p->meuwissen_luo ? "meuwissen_luo" : "indirect", p->size, HendersonSeconds() - start));
  if (p->rank == 0) ierr = PedigreeAlphaRoot(p);
  PetscCall(HendersonAgree(p->comm, ierr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeSetUp(Pedigree p)
{
  MPI_Datatype stats_type;

  PetscFunctionBeginUser;
  if (!LabelsInDirectory(p)) PetscCall(LabelDirectoryDestroy(&p->directory)); /* it served the numbering of the data's IDs */
  PetscCall(PedigreeInbreeding(p));
  PetscCallMPI(MPI_Type_contiguous((PetscMPIInt)sizeof(PedigreeStats), MPI_BYTE, &stats_type));
  PetscCallMPI(MPI_Type_commit(&stats_type));
  PetscCallMPI(MPI_Bcast(&p->stats, 1, stats_type, 0, p->comm));
  PetscCallMPI(MPI_Type_free(&stats_type));
  p->setup = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}
