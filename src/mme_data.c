/* The iteration-on-data operator: C applied from the records and the pedigree, never assembled.

   Every record goes to the rank that owns its anchor -- the last of its equations, its animal's when
   it has one -- and the records of a rank are sorted by anchor, so that a product reads the animal
   values in order. Each animal's A-inverse terms stay with the rank that owns its equations.

   Local numbering: this rank's equations 0..nowned-1 (global rstart..rend-1), then its ghosts -- the
   equations of other ranks that its records and animals touch, in global order. The vectors are
   PETSc ghosted vectors with exactly that local form, so a product is: gather the ghosts' values
   (VecGhostUpdate, forward), run over records and animals adding into owned and ghost rows alike,
   and add the ghost rows into their owners (reverse). Nothing else is copied. */
#include "mmeimpl.h"
#include <string.h>

/* A-inverse (x) G0-inverse of one pedigree group: sum over animals of alpha q q' (x) G0^-1. */
typedef struct {
  PetscInt   dim;
  PetscReal *Ginv; /* dim x dim */
  PetscReal  c[2]; /* parent coefficients */
  PetscInt   n;    /* this rank's animals */
  int32_t    self_first;
  int32_t   *self;   /* local index of every animal's first equation; NULL: self_first + a dim */
  int32_t   *parent; /* 2 per animal: the parent's first equation, -1 unknown, -2-g unknown-parent group g */
  PetscReal *alpha;
  int32_t   *upg; /* groups x dim: local index of every group equation, -1 absent (constrained) */
} PedigreeTerm;

/* I (x) G0-inverse of one iid group, on the levels this rank owns (whole and consecutive). */
typedef struct {
  PetscInt   dim, nlevels;
  int32_t    first;
  PetscReal *Ginv;
} IdentityTerm;

struct _p_MMEData {
  PetscInt       nowned, nghost;
  PetscInt       nrecords, nslots, ncov, ntraits;
  int32_t       *eq;      /* nrecords x nslots, local, -1 none; with nused, each record's first nused[r] slots, back to back */
  uint16_t      *nused;   /* NULL, or the slots a record uses: a social effect's slots come last, padded to the largest group */
  PetscInt64     nstored; /* entries of eq */
  PetscReal     *coef;    /* nrecords x ncov */
  PetscReal     *weight;  /* NULL: all 1 */
  uint32_t      *pattern; /* index into rinv; NULL with one trait */
  PetscInt      *slot_trait, *slot_cov;
  PetscInt       npatterns;
  PetscReal     *rinv; /* npatterns x ntraits x ntraits */
  PetscInt       npedigree, nidentity;
  PedigreeTerm  *pedigree;
  IdentityTerm  *identity;
  Vec            work_x, work_y; /* ghosted copies for vectors that are not ghosted */
  Mat            P;
  PetscLogDouble flops;
};

static PetscErrorCode MMEDataDestroy(MMEData d)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree2(d->eq, d->coef));
  PetscCall(PetscFree(d->nused));
  PetscCall(PetscFree(d->weight));
  PetscCall(PetscFree(d->pattern));
  PetscCall(PetscFree2(d->slot_trait, d->slot_cov));
  PetscCall(PetscFree(d->rinv));
  for (PetscInt g = 0; g < d->npedigree; g++) {
    PetscCall(PetscFree(d->pedigree[g].Ginv));
    PetscCall(PetscFree3(d->pedigree[g].parent, d->pedigree[g].alpha, d->pedigree[g].upg));
    PetscCall(PetscFree(d->pedigree[g].self));
  }
  for (PetscInt g = 0; g < d->nidentity; g++) PetscCall(PetscFree(d->identity[g].Ginv));
  PetscCall(PetscFree2(d->pedigree, d->identity));
  PetscCall(VecDestroy(&d->work_x));
  PetscCall(VecDestroy(&d->work_y));
  PetscCall(MatDestroy(&d->P));
  PetscCall(PetscFree(d));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- The product ---- */

/* How many animals ahead the pedigree product asks for the parents' values (anywhere in x and y):
   enough to keep a few dozen cache misses in flight, few enough that the lines are still there when
   they are used. (The records' contemporary groups are few enough to stay in cache: no gain there.) */
#define PREFETCH_AHEAD 16

/* One trait: v = w r^-1 sum_s coef_s x[eq_s], then y[eq_s] += coef_s v. NS is a constant in the
   instances below, so that the slot loops unroll. */
#define RECORDS_ONE_TRAIT(NS)                                                                                                                                  \
  static void RecordsProductOneTrait##NS(const struct _p_MMEData *d, const PetscScalar *restrict x, PetscScalar *restrict y)                                   \
  {                                                                                                                                                            \
    const PetscInt  nc = d->ncov, *cov = d->slot_cov;                                                                                                          \
    const PetscReal rinv = d->rinv[0];                                                                                                                         \
    for (PetscInt r = 0; r < d->nrecords; r++) {                                                                                                               \
      const int32_t   *e = d->eq + (size_t)r * NS;                                                                                                             \
      const PetscReal *c = d->coef + (size_t)r * nc;                                                                                                           \
      PetscReal        v = 0, coef[NS];                                                                                                                        \
      for (PetscInt s = 0; s < NS; s++) {                                                                                                                      \
        coef[s] = cov[s] < 0 ? 1.0 : c[cov[s]];                                                                                                                \
        if (e[s] >= 0) v += coef[s] * x[e[s]];                                                                                                                 \
      }                                                                                                                                                        \
      v *= d->weight ? rinv * d->weight[r] : rinv;                                                                                                             \
      for (PetscInt s = 0; s < NS; s++)                                                                                                                        \
        if (e[s] >= 0) y[e[s]] += coef[s] * v;                                                                                                                 \
    }                                                                                                                                                          \
  }
RECORDS_ONE_TRAIT(1)
RECORDS_ONE_TRAIT(2)
RECORDS_ONE_TRAIT(3)
RECORDS_ONE_TRAIT(4)
RECORDS_ONE_TRAIT(5)
RECORDS_ONE_TRAIT(6)
RECORDS_ONE_TRAIT(7)
RECORDS_ONE_TRAIT(8)

/* One trait with a social effect: records of varying length (their slots in use, stored back to back). */
static void RecordsProductOneTraitVariable(const struct _p_MMEData *d, const PetscScalar *restrict x, PetscScalar *restrict y)
{
  const PetscInt  nc = d->ncov, *cov = d->slot_cov;
  const PetscReal rinv = d->rinv[0];
  const int32_t  *e    = d->eq;
  for (PetscInt r = 0; r < d->nrecords; e += d->nused[r++]) {
    const PetscReal *c = d->coef + (size_t)r * nc;
    const PetscInt   n = d->nused[r];
    PetscReal        v = 0;
    for (PetscInt s = 0; s < n; s++)
      if (e[s] >= 0) v += (cov[s] < 0 ? 1.0 : c[cov[s]]) * x[e[s]];
    v *= d->weight ? rinv * d->weight[r] : rinv;
    for (PetscInt s = 0; s < n; s++)
      if (e[s] >= 0) y[e[s]] += (cov[s] < 0 ? 1.0 : c[cov[s]]) * v;
  }
}

/* y += W' R^-1 W x over the records, W a record's incidence (traits x equations). */
static void RecordsProduct(const struct _p_MMEData *d, const PetscScalar *restrict x, PetscScalar *restrict y)
{
  const PetscInt  ns = d->nslots, nc = d->ncov, nt = d->ntraits;
  const PetscInt *cov = d->slot_cov, *trait = d->slot_trait;
  const int32_t  *e = d->eq;

  if (nt == 1 && d->nused) {
    RecordsProductOneTraitVariable(d, x, y);
    return;
  }
  if (nt == 1) {
    switch (ns) {
    case 1:
      RecordsProductOneTrait1(d, x, y);
      return;
    case 2:
      RecordsProductOneTrait2(d, x, y);
      return;
    case 3:
      RecordsProductOneTrait3(d, x, y);
      return;
    case 4:
      RecordsProductOneTrait4(d, x, y);
      return;
    case 5:
      RecordsProductOneTrait5(d, x, y);
      return;
    case 6:
      RecordsProductOneTrait6(d, x, y);
      return;
    case 7:
      RecordsProductOneTrait7(d, x, y);
      return;
    case 8:
      RecordsProductOneTrait8(d, x, y);
      return;
    default:
      break; /* the general loop below */
    }
  }
  for (PetscInt r = 0; r < d->nrecords; r++) {
    const PetscReal *c                   = d->coef + (size_t)r * nc;
    const PetscReal *rinv                = d->pattern ? d->rinv + (size_t)d->pattern[r] * nt * nt : d->rinv;
    const PetscInt   n                   = d->nused ? d->nused[r] : ns;
    PetscReal        v[MODEL_MAX_TRAITS] = {0}, f[MODEL_MAX_TRAITS];
    for (PetscInt s = 0; s < n; s++)
      if (e[s] >= 0) v[trait[s]] += (cov[s] < 0 ? 1.0 : c[cov[s]]) * x[e[s]];
    for (PetscInt t = 0; t < nt; t++) {
      f[t] = 0;
      for (PetscInt u = 0; u < nt; u++) f[t] += rinv[t * nt + u] * v[u];
      if (d->weight) f[t] *= d->weight[r];
    }
    for (PetscInt s = 0; s < n; s++)
      if (e[s] >= 0) y[e[s]] += (cov[s] < 0 ? 1.0 : c[cov[s]]) * f[trait[s]];
    e += n;
  }
}

/* The local index of component K of a parent (-1: none). */
static inline int32_t ParentEquation(const PedigreeTerm *p, int32_t parent, PetscInt k)
{
  if (parent >= 0) return parent + (int32_t)k;
  if (parent == -1) return -1;
  return p->upg[(-2 - parent) * p->dim + k];
}

/* Parents are anywhere in x and y: ask for animal A's early (PREFETCH_AHEAD animals ahead), many at once. */
static inline void PrefetchParents(const PedigreeTerm *p, PetscInt a, const PetscScalar *x, PetscScalar *y)
{
  if (a >= p->n) return;
  for (int k = 0; k < 2; k++) {
    const int32_t parent = p->parent[2 * a + k];
    if (parent < 0) continue;
    __builtin_prefetch(&x[parent], 0, 1);
    __builtin_prefetch(&y[parent], 1, 1);
  }
}

/* y += (sum_i alpha_i q_i q_i') (x) G0^-1 x, q_i = e_i - c_0 e_sire - c_1 e_dam. */
static void PedigreeProduct(const PedigreeTerm *p, const PetscScalar *restrict x, PetscScalar *restrict y)
{
  const PetscReal c0 = p->c[0], c1 = p->c[1];
  const PetscInt  m = p->dim;

  if (m == 1) { /* unknown-parent groups were resolved to their equation at set-up */
    const PetscReal g = p->Ginv[0];
    for (PetscInt a = 0; a < p->n; a++) {
      const int32_t i = p->self ? p->self[a] : p->self_first + (int32_t)a, s = p->parent[2 * a], t = p->parent[2 * a + 1];
      PrefetchParents(p, a + PREFETCH_AHEAD, x, y);
      PetscReal w = x[i];
      if (s >= 0) w -= c0 * x[s];
      if (t >= 0) w -= c1 * x[t];
      w *= g * p->alpha[a];
      y[i] += w;
      if (s >= 0) y[s] -= c0 * w;
      if (t >= 0) y[t] -= c1 * w;
    }
    return;
  }
  if (m == 2) { /* two equations an animal (direct and social or maternal, two traits): unrolled, parents prefetched */
    const PetscReal g00 = p->Ginv[0], g01 = p->Ginv[1], g11 = p->Ginv[3];
    for (PetscInt a = 0; a < p->n; a++) {
      const int32_t i = p->self ? p->self[a] : p->self_first + (int32_t)(a * 2), s = p->parent[2 * a], t = p->parent[2 * a + 1];
      int32_t       s0 = ParentEquation(p, s, 0), s1 = ParentEquation(p, s, 1), t0 = ParentEquation(p, t, 0), t1 = ParentEquation(p, t, 1);
      PetscReal     w0 = x[i], w1 = x[i + 1], f0, f1;
      PrefetchParents(p, a + PREFETCH_AHEAD, x, y);
      if (s0 >= 0) w0 -= c0 * x[s0];
      if (s1 >= 0) w1 -= c0 * x[s1];
      if (t0 >= 0) w0 -= c1 * x[t0];
      if (t1 >= 0) w1 -= c1 * x[t1];
      f0 = p->alpha[a] * (g00 * w0 + g01 * w1);
      f1 = p->alpha[a] * (g01 * w0 + g11 * w1);
      y[i] += f0;
      y[i + 1] += f1;
      if (s0 >= 0) y[s0] -= c0 * f0;
      if (s1 >= 0) y[s1] -= c0 * f1;
      if (t0 >= 0) y[t0] -= c1 * f0;
      if (t1 >= 0) y[t1] -= c1 * f1;
    }
    return;
  }
  for (PetscInt a = 0; a < p->n; a++) {
    const int32_t i = p->self ? p->self[a] : p->self_first + (int32_t)(a * m), s = p->parent[2 * a], t = p->parent[2 * a + 1];
    PetscReal     w[32], f[32];
    for (PetscInt k = 0; k < m; k++) {
      int32_t qs = ParentEquation(p, s, k), qt = ParentEquation(p, t, k);
      w[k] = x[i + k] - (qs >= 0 ? c0 * x[qs] : 0) - (qt >= 0 ? c1 * x[qt] : 0);
    }
    for (PetscInt k = 0; k < m; k++) {
      f[k] = 0;
      for (PetscInt l = 0; l < m; l++) f[k] += p->Ginv[k * m + l] * w[l];
      f[k] *= p->alpha[a];
    }
    for (PetscInt k = 0; k < m; k++) {
      int32_t qs = ParentEquation(p, s, k), qt = ParentEquation(p, t, k);
      y[i + k] += f[k];
      if (qs >= 0) y[qs] -= c0 * f[k];
      if (qt >= 0) y[qt] -= c1 * f[k];
    }
  }
}

static void IdentityProduct(const IdentityTerm *id, const PetscScalar *restrict x, PetscScalar *restrict y)
{
  const PetscInt m = id->dim;
  for (PetscInt l = 0; l < id->nlevels; l++) {
    const PetscInt i = id->first + l * m;
    for (PetscInt k = 0; k < m; k++)
      for (PetscInt j = 0; j < m; j++) y[i + k] += id->Ginv[k * m + j] * x[i + j];
  }
}

static PetscErrorCode MatMult_Data(Mat C, Vec x, Vec y)
{
  MMEData            d;
  Vec                xg = x, yg = y, xl, yl;
  const PetscScalar *xa;
  PetscScalar       *ya;

  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(C, &d));
  PetscCall(VecGhostGetLocalForm(x, &xl));
  if (!xl) { /* not one of ours: work on a ghosted copy */
    PetscCall(VecCopy(x, d->work_x));
    xg = d->work_x;
  } else
    PetscCall(VecGhostRestoreLocalForm(x, &xl));
  PetscCall(VecGhostGetLocalForm(y, &yl));
  if (!yl)
    yg = d->work_y;
  else
    PetscCall(VecGhostRestoreLocalForm(y, &yl));

  PetscCall(PetscLogEventBegin(HendersonEventMultGather, 0, 0, 0, 0));
  PetscCall(VecGhostUpdateBegin(xg, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGhostUpdateEnd(xg, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(PetscLogEventEnd(HendersonEventMultGather, 0, 0, 0, 0));
  PetscCall(VecGhostGetLocalForm(xg, &xl));
  PetscCall(VecGhostGetLocalForm(yg, &yl));
  PetscCall(VecGetArrayRead(xl, &xa));
  PetscCall(VecGetArrayWrite(yl, &ya));
  PetscCall(PetscLogEventBegin(HendersonEventMultRecords, 0, 0, 0, 0));
  PetscCall(PetscArrayzero(ya, d->nowned + d->nghost));
  RecordsProduct(d, xa, ya);
  PetscCall(PetscLogEventEnd(HendersonEventMultRecords, 0, 0, 0, 0));
  PetscCall(PetscLogEventBegin(HendersonEventMultPedigree, 0, 0, 0, 0));
  for (PetscInt g = 0; g < d->npedigree; g++) PedigreeProduct(&d->pedigree[g], xa, ya);
  for (PetscInt g = 0; g < d->nidentity; g++) IdentityProduct(&d->identity[g], xa, ya);
  PetscCall(PetscLogEventEnd(HendersonEventMultPedigree, 0, 0, 0, 0));
  PetscCall(VecRestoreArrayWrite(yl, &ya));
  PetscCall(VecRestoreArrayRead(xl, &xa));
  PetscCall(VecGhostRestoreLocalForm(yg, &yl));
  PetscCall(VecGhostRestoreLocalForm(xg, &xl));
  PetscCall(PetscLogEventBegin(HendersonEventMultScatter, 0, 0, 0, 0));
  PetscCall(VecGhostUpdateBegin(yg, ADD_VALUES, SCATTER_REVERSE));
  PetscCall(VecGhostUpdateEnd(yg, ADD_VALUES, SCATTER_REVERSE));
  PetscCall(PetscLogEventEnd(HendersonEventMultScatter, 0, 0, 0, 0));
  if (yg != y) PetscCall(VecCopy(yg, y));
  { /* y was written through its local form: a get/restore pair marks it changed (cached norms go) */
    PetscScalar *touched;
    PetscCall(VecGetArray(y, &touched));
    PetscCall(VecRestoreArray(y, &touched));
  }
  PetscCall(PetscLogFlops(d->flops));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode MatGetDiagonal_Data(Mat C, Vec diagonal)
{
  MMEData d;

  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(C, &d));
  PetscCall(MatGetDiagonal(d->P, diagonal));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode MatCreateVecs_Data(Mat C, Vec *right, Vec *left)
{
  MMEData d;

  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(C, &d));
  if (right) PetscCall(VecDuplicate(d->work_x, right));
  if (left) PetscCall(VecDuplicate(d->work_x, left));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode MatDestroy_Data(Mat C)
{
  MMEData d;

  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(C, &d));
  PetscCall(MMEDataDestroy(d));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- Set-up ---- */

/* Equations of other ranks, as a bitmap over all equations with a running count per word: the local
   index of ghost q is nowned + the number of ghosts before it. */
typedef struct {
  PetscInt  n, rstart, rend;
  uint64_t *bits;
  PetscInt *before; /* ghosts in the words before */
  PetscInt  count;
} GhostSet;

static PetscErrorCode GhostSetCreate(PetscInt n, PetscInt rstart, PetscInt rend, GhostSet *gs)
{
  PetscFunctionBeginUser;
  gs->n      = n;
  gs->rstart = rstart;
  gs->rend   = rend;
  gs->count  = 0;
  PetscCall(PetscCalloc1(n / 64 + 1, &gs->bits));
  gs->before = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline void GhostSetAdd(GhostSet *gs, PetscInt q)
{
  if (q >= 0 && (q < gs->rstart || q >= gs->rend)) gs->bits[q / 64] |= (uint64_t)1 << (q % 64);
}

/* After the last GhostSetAdd(): the counts, and the sorted list of ghosts (PetscFree() it). */
static PetscErrorCode GhostSetFinish(GhostSet *gs, PetscInt **ghosts)
{
  PetscInt words = gs->n / 64 + 1, k = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(words, &gs->before));
  for (PetscInt w = 0; w < words; w++) {
    gs->before[w] = gs->count;
    gs->count += (PetscInt)__builtin_popcountll(gs->bits[w]);
  }
  PetscCall(PetscMalloc1(gs->count + 1, ghosts));
  for (PetscInt w = 0; w < words; w++)
    for (uint64_t b = gs->bits[w]; b; b &= b - 1) (*ghosts)[k++] = w * 64 + __builtin_ctzll(b);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline int32_t GhostSetLocal(const GhostSet *gs, PetscInt q)
{
  if (q < 0) return -1;
  if (q >= gs->rstart && q < gs->rend) return (int32_t)(q - gs->rstart);
  {
    uint64_t below = gs->bits[q / 64] & (((uint64_t)1 << (q % 64)) - 1);
    return (int32_t)(gs->rend - gs->rstart + gs->before[q / 64] + (PetscInt)__builtin_popcountll(below));
  }
}

static PetscErrorCode GhostSetDestroy(GhostSet *gs)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(gs->bits));
  PetscCall(PetscFree(gs->before));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A record on the move: its equations (global), coefficients, weight and trait pattern, packed in a
   fixed number of bytes. */
typedef struct {
  size_t size, at_coef, at_weight, at_pattern;
} Packing;

static void PackingSetUp(const RecordTerms *rt, Packing *pk)
{
  size_t at   = sizeof(PetscInt) * (size_t)rt->nslots;
  at          = (at + 7) / 8 * 8;
  pk->at_coef = at;
  at += sizeof(PetscReal) * (size_t)rt->ncov;
  pk->at_weight = at;
  if (rt->weighted) at += sizeof(PetscReal);
  pk->at_pattern = at;
  if (rt->ntraits > 1) at += sizeof(uint32_t);
  pk->size = (at + 7) / 8 * 8;
}

/* The pedigree group blocks: the first one decides which rank keeps which animal. */
static PetscErrorCode PedigreeRanges(MME mme, Model model, Equations eq, Pedigree pedigree, PetscInt ranges[])
{
  PetscInt        ngroups;
  const PetscInt *rows;
  PedigreeStats   stats;

  PetscFunctionBeginUser;
  PetscCall(PedigreeGetStats(pedigree, &stats));
  PetscCall(ModelGetNumGroups(model, &ngroups));
  PetscCall(PetscLayoutGetRanges(mme->layout, &rows));
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup      *group;
    const EquationsEffect *layout;
    const EquationsBlock  *block;
    PetscCall(ModelGetGroup(model, g, &group));
    if (group->structure != MODEL_STRUCTURE_PEDIGREE) continue;
    PetscCall(EquationsGetEffect(eq, group->first, &layout));
    PetscCall(EquationsGetBlock(eq, layout->block, &block));
    for (PetscMPIInt r = 0; r <= mme->size; r++) {
      PetscInt64 l = ((PetscInt64)rows[r] - block->offset + block->size - 1) / block->size;
      ranges[r]    = (PetscInt)PetscMax(0, PetscMin(l, (PetscInt64)stats.animals));
    }
    ranges[mme->size] = stats.animals;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  SETERRQ(mme->comm, PETSC_ERR_PLIB, "no pedigree group");
}

/* The point block of every local equation: the global first equation of its level, and its
   position in it. */
static PetscErrorCode PointBlocks(Equations eq, PetscInt rstart, PetscInt nowned, PetscInt nghost, const PetscInt ghosts[], PetscInt **bfirst, PetscInt **pos,
                                  PetscInt *smax)
{
  PetscInt nblocks, *sizes, at = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(nowned + nghost + 1, bfirst, nowned + nghost + 1, pos));
  PetscCall(EquationsGetPointBlocks(eq, rstart, rstart + nowned, &nblocks, &sizes));
  *smax = 1;
  for (PetscInt b = 0; b < nblocks; b++) {
    for (PetscInt k = 0; k < sizes[b]; k++) {
      (*bfirst)[at + k] = rstart + at;
      (*pos)[at + k]    = k;
    }
    at += sizes[b];
    *smax = PetscMax(*smax, sizes[b]);
  }
  PetscCall(PetscFree(sizes));
  for (PetscInt k = 0; k < nghost; k++) {
    PetscInt first, size;
    PetscCall(EquationsGetPointBlock(eq, ghosts[k], &first, &size));
    (*bfirst)[nowned + k] = first;
    (*pos)[nowned + k]    = ghosts[k] - first;
    *smax                 = PetscMax(*smax, size);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEDataCreate(MME mme, Model model, Equations eq, Records records, Pedigree pedigree, Mat *C, Mat *P, Vec *rhs)
{
  MMEData     d;
  RecordTerms rt;
  Packing     pk;
  Accumulator racc;
  PetscInt    n, nlocal_records, rstart, rend, nkept = 0, ngroups, *ghosts, *bfirst, *pos, smax;
  PetscMPIInt size = mme->size;
  char       *packed, *received;
  PetscInt   *anchor;
  PetscCount  nreceived = 0;
  GhostSet    gs;
  Vec         tmpl;
  PetscReal  *D;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&d));
  PetscCall(EquationsGetSize(eq, &n));
  PetscCall(ModelGetNumGroups(model, &ngroups));
  PetscCall(RecordsGetLocalSize(records, &nlocal_records));

  /* 1. every record's terms, packed; the right-hand side on the way */
  PetscCall(RecordTermsCreate(model, eq, records, &rt));
  PackingSetUp(&rt, &pk);
  d->nslots  = rt.nslots;
  d->ncov    = rt.ncov;
  d->ntraits = rt.ntraits;
  PetscCall(PetscMalloc2(rt.nslots + 1, &d->slot_trait, rt.nslots + 1, &d->slot_cov));
  PetscCall(PetscArraycpy(d->slot_trait, rt.trait, rt.nslots));
  PetscCall(PetscArraycpy(d->slot_cov, rt.cov, rt.nslots));
  PetscCall(PetscMalloc2(pk.size * (size_t)nlocal_records + 8, &packed, nlocal_records + 1, &anchor));
  PetscCall(AccumulatorCreate((size_t)PetscMin((PetscInt64)n, (PetscInt64)nlocal_records * rt.nslots) / 2 + 64, &racc));
  for (PetscInt r = 0; r < nlocal_records; r++) {
    RecordContribution c;
    char              *at   = packed + pk.size * (size_t)nkept;
    PetscInt           last = -1;
    PetscCall(RecordTermsGet(&rt, r, &c));
    for (PetscInt s = 0; s < rt.nslots; s++) {
      if (c.eq[s] < 0) continue;
      last = PetscMax(last, c.eq[s]);
      PetscCall(AccumulatorAdd(&racc, c.eq[s], 0, c.coef[s] * c.ry[rt.trait[s]]));
    }
    if (last < 0) continue; /* touches no equation */
    memcpy(at, c.eq, sizeof(PetscInt) * (size_t)rt.nslots);
    for (PetscInt s = 0; s < rt.nslots; s++)
      if (rt.cov[s] >= 0) memcpy(at + pk.at_coef + sizeof(PetscReal) * (size_t)rt.cov[s], &c.coef[s], sizeof(PetscReal));
    if (rt.weighted) memcpy(at + pk.at_weight, &c.weight, sizeof(PetscReal));
    if (rt.ntraits > 1) memcpy(at + pk.at_pattern, &c.pattern, sizeof(uint32_t));
    anchor[nkept++] = last;
  }

  /* 2. the rows of every rank, by the bytes a product moves: a record's at its anchor, an animal's
        (self, parents, alpha) at its equations (MMEBalancedLayout() adds the vectors') */
  if (!mme->layout) {
    PetscInt    nbuckets = (PetscInt)PetscMin((PetscInt64)n, 65536);
    PetscInt64 *weight;
    PetscCall(PetscCalloc1(nbuckets + 1, &weight));
    for (PetscInt k = 0; k < nkept; k++) weight[MMEBucket(anchor[k], n, nbuckets)] += (PetscInt64)pk.size;
    for (PetscInt g = 0; g < ngroups; g++) {
      const ModelGroup      *group;
      const EquationsEffect *layout;
      const EquationsBlock  *block;
      PetscCall(ModelGetGroup(model, g, &group));
      if (group->structure != MODEL_STRUCTURE_PEDIGREE) continue;
      PetscCall(EquationsGetEffect(eq, group->first, &layout));
      PetscCall(EquationsGetBlock(eq, layout->block, &block));
      for (PetscInt l = (PetscInt)((PetscInt64)block->nlevels * mme->rank / size); l < (PetscInt)((PetscInt64)block->nlevels * (mme->rank + 1) / size); l++)
        weight[MMEBucket(block->offset + l * block->size, n, nbuckets)] += 20;
    }
    PetscCall(MMEBalancedLayout(mme, eq, n, nbuckets, weight));
    PetscCall(PetscFree(weight));
  }
  PetscCall(PetscLayoutGetRange(mme->layout, &rstart, &rend));
  d->nowned = rend - rstart;

  /* 3. records to the owners of their anchors */
  {
    PetscMPIInt *send_n, *recv_n, *send_at, *recv_at;
    PetscInt    *owner;
    char        *sorted;
    MPI_Datatype record_type;
    PetscCount   nsent = 0;
    PetscCheck(nkept <= PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "more than 2^31 records on one rank; run with more ranks");
    PetscCall(PetscCalloc4(size, &send_n, size, &recv_n, size, &send_at, size, &recv_at));
    PetscCall(PetscMalloc1(nkept + 1, &owner));
    for (PetscInt k = 0; k < nkept; k++) {
      PetscMPIInt o;
      PetscCall(PetscLayoutFindOwner(mme->layout, anchor[k], &o));
      owner[k] = o;
      send_n[o]++;
    }
    for (PetscMPIInt r = 1; r < size; r++) send_at[r] = send_at[r - 1] + send_n[r - 1];
    PetscCall(PetscMalloc1(pk.size * (size_t)nkept + 8, &sorted));
    {
      PetscMPIInt *next;
      PetscCall(PetscMalloc1(size, &next));
      PetscCall(PetscArraycpy(next, send_at, size));
      for (PetscInt k = 0; k < nkept; k++) memcpy(sorted + pk.size * (size_t)next[owner[k]]++, packed + pk.size * (size_t)k, pk.size);
      PetscCall(PetscFree(next));
    }
    PetscCall(PetscFree2(packed, anchor));
    PetscCall(PetscFree(owner));
    PetscCallMPI(MPI_Alltoall(send_n, 1, MPI_INT, recv_n, 1, MPI_INT, mme->comm));
    for (PetscMPIInt r = 0; r < size; r++) {
      PetscCheck(nreceived + recv_n[r] <= PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "more than 2^31 records for one rank; run with more ranks");
      recv_at[r] = (PetscMPIInt)nreceived;
      nreceived += recv_n[r];
      nsent += send_n[r];
    }
    PetscCall(PetscMalloc1(pk.size * (size_t)nreceived + 8, &received));
    PetscCallMPI(MPI_Type_contiguous((PetscMPIInt)pk.size, MPI_BYTE, &record_type));
    PetscCallMPI(MPI_Type_commit(&record_type));
    PetscCallMPI(MPI_Alltoallv(sorted, send_n, send_at, record_type, received, recv_n, recv_at, record_type, mme->comm));
    PetscCallMPI(MPI_Type_free(&record_type));
    PetscCall(PetscFree(sorted));
    PetscCall(PetscFree4(send_n, recv_n, send_at, recv_at));
    PetscCheck(nreceived < PETSC_MAX_INT, PETSC_COMM_SELF, PETSC_ERR_SUP, "too many records for one rank; run with more ranks");
    d->nrecords = (PetscInt)nreceived;
  }

  /* 4. the animals to the owners of their equations */
  if (pedigree) {
    PetscInt *ranges;
    PetscCall(PetscMalloc1(size + 1, &ranges));
    PetscCall(PedigreeRanges(mme, model, eq, pedigree, ranges));
    PetscCall(PedigreeDistribute(pedigree, ranges));
    PetscCall(PetscFree(ranges));
  }

  /* 5. the ghosts: other ranks' equations that the records and animals touch */
  PetscCall(GhostSetCreate(n, rstart, rend, &gs));
  for (PetscCount k = 0; k < nreceived; k++) {
    const PetscInt *e = (const PetscInt *)(received + pk.size * (size_t)k);
    for (PetscInt s = 0; s < rt.nslots; s++) GhostSetAdd(&gs, e[s]);
  }
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup      *group;
    const EquationsEffect *layout;
    const EquationsBlock  *block, *upg = NULL;
    PetscInt               start, na;
    const PetscInt        *sire, *dam;
    PetscCall(ModelGetGroup(model, g, &group));
    if (group->structure != MODEL_STRUCTURE_PEDIGREE) continue;
    PetscCall(EquationsGetEffect(eq, group->first, &layout));
    PetscCall(EquationsGetBlock(eq, layout->block, &block));
    if (layout->group_block >= 0) PetscCall(EquationsGetBlock(eq, layout->group_block, &upg));
    PetscCall(PedigreeGetLocal(pedigree, &start, &na, &sire, &dam, NULL, NULL));
    for (PetscInt a = 0; a < na; a++)
      for (PetscInt k = 0; k < group->dim; k++) {
        GhostSetAdd(&gs, block->offset + (start + a) * group->dim + k);
        if (sire[a] >= 0) GhostSetAdd(&gs, block->offset + sire[a] * group->dim + k);
        if (dam[a] >= 0) GhostSetAdd(&gs, block->offset + dam[a] * group->dim + k);
      }
    for (PetscInt q = 0; upg && q < upg->nequations; q++) GhostSetAdd(&gs, upg->offset + q);
  }
  PetscCall(GhostSetFinish(&gs, &ghosts));
  d->nghost = gs.count;
  PetscCheck((PetscInt64)d->nowned + d->nghost < INT32_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "more than 2^31 local equations on one rank; run with more ranks");

  /* 6. the records in local numbering, sorted by anchor */
  {
    PetscInt *count, *order;
    uint32_t *pattern_index = NULL;
    PetscCall(PetscCalloc1(d->nowned + 1, &count));
    PetscCall(PetscMalloc1(d->nrecords + 1, &order));
    for (PetscInt k = 0; k < d->nrecords; k++) {
      const PetscInt *e    = (const PetscInt *)(received + pk.size * (size_t)k);
      PetscInt        last = -1;
      for (PetscInt s = 0; s < rt.nslots; s++) last = PetscMax(last, e[s]);
      count[last - rstart + 1]++;
    }
    for (PetscInt i = 0; i < d->nowned; i++) count[i + 1] += count[i];
    for (PetscInt k = 0; k < d->nrecords; k++) {
      const PetscInt *e    = (const PetscInt *)(received + pk.size * (size_t)k);
      PetscInt        last = -1;
      for (PetscInt s = 0; s < rt.nslots; s++) last = PetscMax(last, e[s]);
      order[count[last - rstart]++] = k;
    }
    PetscCall(PetscFree(count));
    size_t stored = 0;
    if (rt.social >= 0) { /* the slots in use of every record: a prefix, the social effect's padding last */
      PetscCheck(d->nslots <= UINT16_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "%" PetscInt_FMT " slots a record", d->nslots);
      PetscCall(PetscMalloc1(d->nrecords + 1, &d->nused));
      for (PetscInt k = 0; k < d->nrecords; k++) {
        const PetscInt *e = (const PetscInt *)(received + pk.size * (size_t)order[k]);
        PetscInt        n = 0;
        for (PetscInt s = 0; s < d->nslots; s++)
          if (e[s] >= 0) n = s + 1;
        d->nused[k] = (uint16_t)n;
        stored += (size_t)n;
      }
    } else
      stored = (size_t)d->nrecords * d->nslots;
    PetscCall(PetscMalloc2(stored + 1, &d->eq, (size_t)d->nrecords * d->ncov + 1, &d->coef));
    d->nstored = (PetscInt64)stored;
    stored     = 0;
    if (rt.weighted) PetscCall(PetscMalloc1(d->nrecords + 1, &d->weight));
    if (rt.ntraits > 1) PetscCall(PetscMalloc1(d->nrecords + 1, &d->pattern));
    if (rt.ntraits > 1) {
      PetscCall(PetscMalloc1((size_t)1 << rt.ntraits, &pattern_index));
      for (size_t m = 0; m < ((size_t)1 << rt.ntraits); m++) pattern_index[m] = UINT32_MAX;
    }
    for (PetscInt k = 0; k < d->nrecords; k++) {
      const char     *at = received + pk.size * (size_t)order[k];
      const PetscInt *e  = (const PetscInt *)at;
      const PetscInt  n  = d->nused ? d->nused[k] : d->nslots;
      for (PetscInt s = 0; s < n; s++) d->eq[stored + s] = GhostSetLocal(&gs, e[s]);
      stored += (size_t)n;
      memcpy(d->coef + (size_t)k * d->ncov, at + pk.at_coef, sizeof(PetscReal) * (size_t)d->ncov);
      if (rt.weighted) memcpy(&d->weight[k], at + pk.at_weight, sizeof(PetscReal));
      if (rt.ntraits > 1) {
        uint32_t mask;
        memcpy(&mask, at + pk.at_pattern, sizeof(uint32_t));
        if (pattern_index[mask] == UINT32_MAX) pattern_index[mask] = (uint32_t)d->npatterns++;
        d->pattern[k] = pattern_index[mask];
      }
    }
    PetscCall(PetscFree(order));
    /* R0-inverse for every pattern present (one trait: the single one) */
    if (rt.ntraits == 1) {
      const PetscReal *rinv;
      PetscCall(RecordTermsResidualInverse(&rt, 1, &rinv));
      PetscCall(PetscMalloc1(1, &d->rinv));
      d->rinv[0]   = rinv[0];
      d->npatterns = 1;
    } else {
      PetscCall(PetscMalloc1((size_t)d->npatterns * rt.ntraits * rt.ntraits + 1, &d->rinv));
      for (size_t m = 0; m < ((size_t)1 << rt.ntraits); m++) {
        const PetscReal *rinv;
        if (pattern_index[m] == UINT32_MAX) continue;
        PetscCall(RecordTermsResidualInverse(&rt, (uint32_t)m, &rinv));
        PetscCall(PetscArraycpy(d->rinv + (size_t)pattern_index[m] * rt.ntraits * rt.ntraits, rinv, rt.ntraits * rt.ntraits));
      }
      PetscCall(PetscFree(pattern_index));
    }
  }
  PetscCall(PetscFree(received));

  /* 7. the pedigree and iid groups */
  PetscCall(PetscCalloc2(ngroups, &d->pedigree, ngroups, &d->identity));
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup      *group;
    const EquationsEffect *layout;
    const EquationsBlock  *block, *upg = NULL;
    PetscCall(ModelGetGroup(model, g, &group));
    PetscCall(EquationsGetEffect(eq, group->first, &layout));
    PetscCall(EquationsGetBlock(eq, layout->block, &block));
    if (group->structure == MODEL_STRUCTURE_PEDIGREE) {
      PedigreeTerm    *p = &d->pedigree[d->npedigree++];
      PetscInt         start, m = group->dim;
      const PetscInt  *sire, *dam;
      const PetscReal *alpha;
      PedigreeStats    stats;
      PetscBool        contiguous = PETSC_TRUE;
      PetscCall(PedigreeGetStats(pedigree, &stats));
      PetscCall(PedigreeGetLocal(pedigree, &start, &p->n, &sire, &dam, &alpha, NULL));
      PetscCall(PedigreeGetParentCoefficients(pedigree, p->c));
      PetscCall(GroupInverse(group, &p->Ginv));
      p->dim = m;
      if (layout->group_block >= 0) PetscCall(EquationsGetBlock(eq, layout->group_block, &upg));
      PetscCall(PetscMalloc3(2 * p->n + 1, &p->parent, p->n + 1, &p->alpha, stats.groups * m + 1, &p->upg));
      PetscCall(PetscMalloc1(p->n + 1, &p->self));
      for (PetscInt k = 0; k < stats.groups * m; k++) p->upg[k] = upg ? GhostSetLocal(&gs, EquationsBlockEquation(upg, k / m, k % m)) : -1;
      for (PetscInt a = 0; a < p->n; a++) {
        const PetscInt parent[2] = {sire[a], dam[a]};
        p->self[a]               = GhostSetLocal(&gs, block->offset + (start + a) * m);
        contiguous               = (PetscBool)(contiguous && p->self[a] == p->self[0] + (int32_t)(a * m));
        for (int k = 0; k < 2; k++) {
          int32_t code;
          if (parent[k] >= 0)
            code = GhostSetLocal(&gs, block->offset + parent[k] * m);
          else if (parent[k] == -1)
            code = -1;
          else
            code = m == 1 ? p->upg[-2 - parent[k]] : (int32_t)parent[k]; /* one equation: resolved now (-1 if constrained) */
          p->parent[2 * a + k] = code;
        }
        p->alpha[a] = alpha[a];
      }
      p->self_first = p->n ? p->self[0] : 0;
      if (contiguous) { /* the usual case: a rank's own animals, in order */
        int32_t *self = p->self;
        p->self       = NULL;
        PetscCall(PetscFree(self));
      }
      d->flops += (PetscLogDouble)p->n * (8.0 * m + 2.0 * m * m);
    } else {
      IdentityTerm *id = &d->identity[d->nidentity++];
      PetscInt      lo = 0, hi = 0;
      id->dim = group->dim;
      PetscCall(GroupInverse(group, &id->Ginv));
      /* the owned levels: whole, consecutive */
      lo          = PetscMax(0, PetscMin(block->nlevels, (rstart - block->offset + block->size - 1) / block->size));
      hi          = PetscMax(0, PetscMin(block->nlevels, (rend - block->offset + block->size - 1) / block->size));
      id->nlevels = hi - lo;
      id->first   = (int32_t)(block->offset + lo * block->size - rstart);
      d->flops += 2.0 * id->nlevels * id->dim * id->dim;
    }
  }
  d->flops += 4.0 * (PetscLogDouble)d->nstored + (PetscLogDouble)d->nrecords * 2.0 * d->ntraits * d->ntraits;

  /* 8. the vectors: ghosted, the local form being exactly the local numbering */
  PetscCall(VecCreateGhost(mme->comm, d->nowned, n, d->nghost, ghosts, &tmpl));
  PetscCall(VecDuplicate(tmpl, &d->work_y));
  d->work_x = tmpl;

  /* 9. the point-block diagonal of C, from the same terms: owned and ghost rows, the ghost rows then
        added into their owners; P holds it as an AIJ matrix */
  PetscCall(PointBlocks(eq, rstart, d->nowned, d->nghost, ghosts, &bfirst, &pos, &smax));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &smax, 1, MPIU_INT, MPI_MAX, mme->comm));
  {
    Vec          Dv, Dl;
    PetscScalar *Da;
    PetscCall(VecCreateGhostBlock(mme->comm, smax, d->nowned * smax, PETSC_DECIDE, d->nghost, ghosts, &Dv));
    PetscCall(VecGhostGetLocalForm(Dv, &Dl));
    PetscCall(VecZeroEntries(Dl));
    PetscCall(VecGetArray(Dl, &Da));
    D                = Da;
    const int32_t *e = d->eq;
    for (PetscInt r = 0; r < d->nrecords; e += d->nused ? d->nused[r] : d->nslots, r++) {
      const PetscReal *c    = d->coef + (size_t)r * d->ncov;
      const PetscReal *rinv = d->rinv + (d->pattern ? (size_t)d->pattern[r] * d->ntraits * d->ntraits : 0);
      PetscReal        w    = d->weight ? d->weight[r] : 1.0;
      const PetscInt   n    = d->nused ? d->nused[r] : d->nslots;
      for (PetscInt a = 0; a < n; a++) {
        PetscReal ca = d->slot_cov[a] < 0 ? 1.0 : c[d->slot_cov[a]];
        if (e[a] < 0) continue;
        for (PetscInt b = 0; b < n; b++) {
          PetscReal cb = d->slot_cov[b] < 0 ? 1.0 : c[d->slot_cov[b]];
          if (e[b] < 0 || bfirst[e[a]] != bfirst[e[b]]) continue;
          D[(size_t)e[a] * smax + pos[e[b]]] += w * ca * cb * rinv[d->slot_trait[a] * d->ntraits + d->slot_trait[b]];
        }
      }
    }
    for (PetscInt g = 0; g < d->npedigree; g++) {
      const PedigreeTerm *p = &d->pedigree[g];
      const PetscInt      m = p->dim;
      for (PetscInt a = 0; a < p->n; a++) {
        const int32_t i      = p->self ? p->self[a] : p->self_first + (int32_t)(a * m);
        const int32_t par[2] = {p->parent[2 * a], p->parent[2 * a + 1]};
        /* the q q' terms that stay within one level: (i,i), (s,s), (d,d), and (s,d) when s and d are one level */
        for (PetscInt k = 0; k < m; k++)
          for (PetscInt l = 0; l < m; l++) {
            PetscReal v = p->alpha[a] * p->Ginv[k * m + l];
            D[(size_t)(i + k) * smax + pos[i + l]] += v;
            for (int u = 0; u < 2; u++)
              for (int t = 0; t < 2; t++) {
                int32_t qu = ParentEquation(p, par[u], k), qt = ParentEquation(p, par[t], l);
                if (qu < 0 || qt < 0 || bfirst[qu] != bfirst[qt]) continue;
                D[(size_t)qu * smax + pos[qt]] += p->c[u] * p->c[t] * v;
              }
          }
      }
    }
    for (PetscInt g = 0; g < d->nidentity; g++) {
      const IdentityTerm *id = &d->identity[g];
      const PetscInt      m  = id->dim;
      for (PetscInt l = 0; l < id->nlevels; l++)
        for (PetscInt k = 0; k < m; k++)
          for (PetscInt j = 0; j < m; j++) D[(size_t)(id->first + l * m + k) * smax + j] += id->Ginv[k * m + j];
    }
    PetscCall(VecRestoreArray(Dl, &Da));
    PetscCall(VecGhostRestoreLocalForm(Dv, &Dl));
    PetscCall(VecGhostUpdateBegin(Dv, ADD_VALUES, SCATTER_REVERSE));
    PetscCall(VecGhostUpdateEnd(Dv, ADD_VALUES, SCATTER_REVERSE));
    {
      const PetscScalar *Dr;
      PetscInt          *ia, *ja, nnz = 0;
      PetscScalar       *va;
      PetscCall(VecGetArrayRead(Dv, &Dr));
      PetscCall(PetscMalloc3(d->nowned + 1, &ia, (size_t)d->nowned * smax + 1, &ja, (size_t)d->nowned * smax + 1, &va));
      ia[0] = 0;
      for (PetscInt i = 0; i < d->nowned; i++) {
        PetscInt first = bfirst[i], bsize;
        for (bsize = 0; i - pos[i] + bsize < d->nowned && bfirst[i - pos[i] + bsize] == first; bsize++) {}
        for (PetscInt j = 0; j < bsize; j++) {
          ja[nnz]   = first + j;
          va[nnz++] = Dr[(size_t)i * smax + j];
        }
        ia[i + 1] = nnz;
      }
      PetscCall(VecRestoreArrayRead(Dv, &Dr));
      PetscCall(MatCreateMPIAIJWithArrays(mme->comm, d->nowned, d->nowned, n, n, ia, ja, va, P));
      PetscCall(PetscFree3(ia, ja, va));
    }
    PetscCall(VecDestroy(&Dv));
  }
  PetscCall(PetscFree2(bfirst, pos));
  {
    PetscInt nblocks, *sizes;
    PetscCall(EquationsGetPointBlocks(eq, rstart, rend, &nblocks, &sizes));
    PetscCall(MatSetVariableBlockSizes(*P, nblocks, sizes));
    PetscCall(PetscFree(sizes));
  }
  PetscCall(MatSetOption(*P, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(PetscObjectReference((PetscObject)*P));
  d->P = *P;

  /* 10. the right-hand side */
  PetscCall(VecDuplicate(tmpl, rhs));
  PetscCall(VecZeroEntries(*rhs));
  PetscCall(AccumulatorAddToVector(mme->comm, mme->layout, &racc, *rhs));

  /* 11. the operator */
  PetscCall(MatCreateShell(mme->comm, d->nowned, d->nowned, n, n, d, C));
  PetscCall(MatShellSetOperation(*C, MATOP_MULT, (void (*)(void))MatMult_Data));
  PetscCall(MatShellSetOperation(*C, MATOP_MULT_TRANSPOSE, (void (*)(void))MatMult_Data));
  PetscCall(MatShellSetOperation(*C, MATOP_GET_DIAGONAL, (void (*)(void))MatGetDiagonal_Data));
  PetscCall(MatShellSetOperation(*C, MATOP_CREATE_VECS, (void (*)(void))MatCreateVecs_Data));
  PetscCall(MatShellSetOperation(*C, MATOP_DESTROY, (void (*)(void))MatDestroy_Data));
  PetscCall(MatSetOption(*C, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatSetOption(*C, MAT_SYMMETRY_ETERNAL, PETSC_TRUE));

  /* 12. what one product moves and exchanges */
  {
    PetscInt64 bytes = 4 * d->nstored + (PetscInt64)d->nrecords * (8 * d->ncov + (d->weight ? 8 : 0) + (d->pattern ? 4 : 0) + (d->nused ? 2 : 0)), local[4],
               sum[4];
    PetscInt neighbours = 0, imax[2], iout[2];
    for (PetscInt g = 0; g < d->npedigree; g++) bytes += (PetscInt64)d->pedigree[g].n * (8 + 8 + (d->pedigree[g].self ? 4 : 0));
    for (PetscInt k = 0, last = -1; k < d->nghost; k++) {
      PetscMPIInt o;
      PetscCall(PetscLayoutFindOwner(mme->layout, ghosts[k], &o));
      if (o != last) neighbours++;
      last = o;
    }
    local[0] = bytes;
    local[1] = d->nghost;
    local[2] = 2 * (PetscInt64)neighbours; /* values out, sums back */
    local[3] = d->nrecords;
    PetscCallMPI(MPI_Allreduce(local, sum, 4, MPIU_INT64, MPI_SUM, mme->comm));
    imax[0] = d->nghost;
    imax[1] = neighbours;
    PetscCallMPI(MPI_Allreduce(imax, iout, 2, MPIU_INT, MPI_MAX, mme->comm));
    PetscCallMPI(MPI_Allreduce(&d->nowned, &mme->stats.owned_min, 1, MPIU_INT, MPI_MIN, mme->comm));
    PetscCallMPI(MPI_Allreduce(&local[3], &mme->stats.local_entries, 1, MPIU_INT64, MPI_MAX, mme->comm));
    mme->stats.equations      = n;
    mme->stats.nonzeros       = -1;
    mme->stats.operator_bytes = sum[0];
    mme->stats.ghosts         = sum[1];
    mme->stats.messages       = sum[2];
    mme->stats.records        = sum[3];
    mme->stats.ghosts_max     = iout[0];
    mme->stats.neighbours_max = iout[1];
  }
  PetscCall(PetscInfo(NULL,
                      "data operator: %" PetscInt_FMT " records x %" PetscInt_FMT " slots, %" PetscInt_FMT " owned and %" PetscInt_FMT " ghost equations\n",
                      d->nrecords, d->nslots, d->nowned, d->nghost));
  PetscCall(GhostSetDestroy(&gs));
  PetscCall(PetscFree(ghosts));
  PetscCall(RecordTermsDestroy(&rt));
  PetscFunctionReturn(PETSC_SUCCESS);
}
