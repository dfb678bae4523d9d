/* MMEDATA, iteration on data: C applied from the records and the relationships, never assembled.

   Every record goes to the rank that owns its anchor -- the last equation of its own animal, or of the
   record when it has none (RecordAnchor()) -- and the records of a rank are sorted by anchor, so that a product reads the animal
   values in order. Each random group's K^-1 (x) G0^-1 is applied by its Relationship (relationship.h),
   set up with this operator's rows: a pedigree keeps each animal with the rank that owns its equations.

   Local numbering: this rank's equations 0..nowned-1 (global rstart..rend-1), then its ghosts -- the
   equations of other ranks that its records and relationships touch, in global order. The vectors are
   PETSc ghosted vectors with exactly that local form, so a product is: gather the ghosts' values
   (VecGhostUpdate, forward), run over records and relationships adding into owned and ghost rows alike,
   and add the ghost rows into their owners (reverse). Nothing else is copied.

   MatMatMult() with a dense block of K vectors runs the same pass once for all K: the vectors are
   interleaved (the K values of an equation side by side), so that a record's equations and coefficients
   are read once and a parent's K values come in one cache line, and a ghost's K values travel in one
   message (a PetscSF with a unit of K scalars). Each column is the same to the bit as MatMult() of it on
   one rank. */
#include "mmeimpl.h"
#include <henderson/recordterms.h>
#include <string.h>
#include "mme_route.h"

typedef struct _MME_Data {
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
  PetscInt       nrel;
  Relationship  *rel;               /* the random groups' (the evaluation's: they outlive the operator) */
  PetscInt      *ghosts;            /* global equations of the ghosts, sorted */
  Vec            work_x, work_y;    /* ghosted copies for vectors that are not ghosted */
  GhostRoute     route;             /* NULL: the ghosted vectors' own exchange (direct) */
  GhostRoute     block_route;       /* blocks of vectors: ROUTE, or a direct one made at the first block product */
  PetscScalar   *block_x, *block_y; /* a block's local form, interleaved */
  PetscInt       block_k;           /* the vectors BLOCK_X has room for */
  Mat            P;
  PetscLogDouble flops;
} * MME_Data;

static PetscErrorCode MMEDataDestroy(MME_Data d)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree2(d->eq, d->coef));
  PetscCall(PetscFree(d->nused));
  PetscCall(PetscFree(d->weight));
  PetscCall(PetscFree(d->pattern));
  PetscCall(PetscFree2(d->slot_trait, d->slot_cov));
  PetscCall(PetscFree(d->rinv));
  PetscCall(PetscFree(d->rel));
  PetscCall(PetscFree(d->ghosts));
  PetscCall(VecDestroy(&d->work_x));
  PetscCall(VecDestroy(&d->work_y));
  if (d->block_route != d->route) PetscCall(GhostRouteDestroy(&d->block_route));
  PetscCall(GhostRouteDestroy(&d->route));
  PetscCall(PetscFree2(d->block_x, d->block_y));
  PetscCall(MatDestroy(&d->P));
  PetscCall(PetscFree(d));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- The product ---- */

/* How many records ahead the general kernel asks for the values a record will read and add to: a record's
   equations are scattered (its dam's, her permanent environment, its herd's). Two-trait maternal model,
   10^6 animals: the records' part 35 -> 22 ms a product. The one-trait kernels do without: their reads
   mostly hit (an animal's records are together, a herd's levels few), and there the prefetches cost more
   than they save (3.2 -> 5.3 ms at 10^6). */
#define RECORDS_AHEAD 8

HENDERSON_PREFETCH_INLINE void PrefetchRecord(const int32_t *e, PetscInt n, PetscInt stride, const PetscScalar *x, PetscScalar *y)
{
  for (PetscInt s = 0; s < n; s++)
    if (e[s] >= 0) {
      __builtin_prefetch(&x[(size_t)e[s] * stride], 0, 1);
      __builtin_prefetch(&y[(size_t)e[s] * stride], 1, 1);
    }
}

/* One trait: v = w r^-1 sum_s coef_s x[eq_s], then y[eq_s] += coef_s v. NS is a constant in the
   instances below, so that the slot loops unroll. */
#define RECORDS_ONE_TRAIT(NS)                                                                                                                                  \
  static void RecordsProductOneTrait##NS(const struct _MME_Data *d, const PetscScalar *restrict x, PetscScalar *restrict y)                                    \
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
static void RecordsProductOneTraitVariable(const struct _MME_Data *d, const PetscScalar *restrict x, PetscScalar *restrict y)
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
static void RecordsProduct(const struct _MME_Data *d, const PetscScalar *restrict x, PetscScalar *restrict y)
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
    if (!d->nused && r + RECORDS_AHEAD < d->nrecords) PrefetchRecord(e + RECORDS_AHEAD * ns, ns, 1, x, y);
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

static PetscErrorCode MatMult_Data(Mat C, Vec x, Vec y)
{
  MME_Data           d;
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
  if (d->route) {
    PetscScalar *xw;
    PetscCall(VecGhostGetLocalForm(xg, &xl));
    PetscCall(VecGetArray(xl, &xw));
    PetscCall(GhostRouteForward(d->route, 1, xw));
    PetscCall(VecRestoreArray(xl, &xw));
    PetscCall(VecGhostRestoreLocalForm(xg, &xl));
  } else {
    PetscCall(VecGhostUpdateBegin(xg, INSERT_VALUES, SCATTER_FORWARD));
    PetscCall(VecGhostUpdateEnd(xg, INSERT_VALUES, SCATTER_FORWARD));
  }
  PetscCall(PetscLogEventEnd(HendersonEventMultGather, 0, 0, 0, 0));
  PetscCall(VecGhostGetLocalForm(xg, &xl));
  PetscCall(VecGhostGetLocalForm(yg, &yl));
  PetscCall(VecGetArrayRead(xl, &xa));
  PetscCall(VecGetArrayWrite(yl, &ya));
  PetscCall(PetscLogEventBegin(HendersonEventMultRecords, 0, 0, 0, 0));
  PetscCall(PetscArrayzero(ya, d->nowned + d->nghost));
  RecordsProduct(d, xa, ya);
  PetscCall(PetscLogEventEnd(HendersonEventMultRecords, 0, 0, 0, 0));
  PetscCall(PetscLogEventBegin(HendersonEventMultRelationships, 0, 0, 0, 0));
  for (PetscInt g = 0; g < d->nrel; g++) PetscCall(RelationshipMultAdd(d->rel[g], xa, ya));
  PetscCall(PetscLogEventEnd(HendersonEventMultRelationships, 0, 0, 0, 0));
  if (d->route) {
    PetscCall(PetscLogEventBegin(HendersonEventMultScatter, 0, 0, 0, 0));
    PetscCall(GhostRouteReverse(d->route, 1, ya));
    PetscCall(PetscLogEventEnd(HendersonEventMultScatter, 0, 0, 0, 0));
  }
  PetscCall(VecRestoreArrayWrite(yl, &ya));
  PetscCall(VecRestoreArrayRead(xl, &xa));
  PetscCall(VecGhostRestoreLocalForm(yg, &yl));
  PetscCall(VecGhostRestoreLocalForm(xg, &xl));
  if (!d->route) {
    PetscCall(PetscLogEventBegin(HendersonEventMultScatter, 0, 0, 0, 0));
    PetscCall(VecGhostUpdateBegin(yg, ADD_VALUES, SCATTER_REVERSE));
    PetscCall(VecGhostUpdateEnd(yg, ADD_VALUES, SCATTER_REVERSE));
    PetscCall(PetscLogEventEnd(HendersonEventMultScatter, 0, 0, 0, 0));
  }
  if (yg != y) PetscCall(VecCopy(yg, y));
  { /* y was written through its local form: a get/restore pair marks it changed (cached norms go) */
    PetscScalar *touched;
    PetscCall(VecGetArray(y, &touched));
    PetscCall(VecRestoreArray(y, &touched));
  }
  PetscCall(PetscLogFlops(d->flops));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- Several vectors at once ---- */

/* One trait, K vectors interleaved, K known at compile time: the one-trait kernels' arithmetic, v (r^-1 w). */
#define RECORDS_ONE_TRAIT_BLOCK(K)                                                                                                                             \
  static void RecordsProductOneTraitBlock##K(const struct _MME_Data *d, const PetscScalar *restrict x, PetscScalar *restrict y)                                \
  {                                                                                                                                                            \
    const PetscInt  ns = d->nslots, nc = d->ncov, *cov = d->slot_cov;                                                                                          \
    const PetscReal rinv = d->rinv[0];                                                                                                                         \
    const int32_t  *e    = d->eq;                                                                                                                              \
    for (PetscInt r = 0; r < d->nrecords; r++) {                                                                                                               \
      const PetscReal *c     = d->coef + (size_t)r * nc;                                                                                                       \
      const PetscInt   n     = d->nused ? d->nused[r] : ns;                                                                                                    \
      const PetscReal  scale = d->weight ? rinv * d->weight[r] : rinv;                                                                                         \
      PetscReal        v[K]  = {0};                                                                                                                            \
      for (PetscInt s = 0; s < n; s++) {                                                                                                                       \
        const PetscReal coef = cov[s] < 0 ? 1.0 : c[cov[s]];                                                                                                   \
        if (e[s] < 0) continue;                                                                                                                                \
        for (PetscInt j = 0; j < K; j++) v[j] += coef * x[(size_t)e[s] * K + j];                                                                               \
      }                                                                                                                                                        \
      for (PetscInt j = 0; j < K; j++) v[j] *= scale;                                                                                                          \
      for (PetscInt s = 0; s < n; s++) {                                                                                                                       \
        const PetscReal coef = cov[s] < 0 ? 1.0 : c[cov[s]];                                                                                                   \
        if (e[s] < 0) continue;                                                                                                                                \
        for (PetscInt j = 0; j < K; j++) y[(size_t)e[s] * K + j] += coef * v[j];                                                                               \
      }                                                                                                                                                        \
      e += n;                                                                                                                                                  \
    }                                                                                                                                                          \
  }
RECORDS_ONE_TRAIT_BLOCK(2)
RECORDS_ONE_TRAIT_BLOCK(4)
RECORDS_ONE_TRAIT_BLOCK(8)
RECORDS_ONE_TRAIT_BLOCK(16)

/* K vectors interleaved (entry i of vector j at x[i K + j]): RecordsProduct's arithmetic for each vector, so
   that each result is the same to the bit, while a record's equations and coefficients are read once for
   all K and an animal's K values share its cache lines. V and F: room for ntraits x K values. */
static void RecordsProductBlock(const struct _MME_Data *d, PetscInt k, const PetscScalar *restrict x, PetscScalar *restrict y, PetscScalar *restrict v,
                                PetscScalar *restrict f)
{
  const PetscInt  ns = d->nslots, nc = d->ncov, nt = d->ntraits;
  const PetscInt *cov = d->slot_cov, *trait = d->slot_trait;
  const int32_t  *e      = d->eq;
  const PetscBool scaled = (PetscBool)(nt == 1 && (d->nused || ns <= 8)); /* RecordsProduct's one-trait kernels */

  if (k == 1) {
    RecordsProduct(d, x, y);
    return;
  }
  if (scaled) switch (k) {
    case 2:
      RecordsProductOneTraitBlock2(d, x, y);
      return;
    case 4:
      RecordsProductOneTraitBlock4(d, x, y);
      return;
    case 8:
      RecordsProductOneTraitBlock8(d, x, y);
      return;
    case 16:
      RecordsProductOneTraitBlock16(d, x, y);
      return;
    default:
      break; /* the general loop below */
    }
  for (PetscInt r = 0; r < d->nrecords; r++) {
    const PetscReal *c    = d->coef + (size_t)r * nc;
    const PetscReal *rinv = d->pattern ? d->rinv + (size_t)d->pattern[r] * nt * nt : d->rinv;
    const PetscInt   n    = d->nused ? d->nused[r] : ns;
    if (!d->nused && r + RECORDS_AHEAD < d->nrecords) PrefetchRecord(e + RECORDS_AHEAD * ns, ns, k, x, y);
    for (PetscInt j = 0; j < nt * k; j++) v[j] = 0;
    for (PetscInt s = 0; s < n; s++) {
      const PetscReal coef = cov[s] < 0 ? 1.0 : c[cov[s]];
      if (e[s] < 0) continue;
      for (PetscInt j = 0; j < k; j++) v[trait[s] * k + j] += coef * x[(size_t)e[s] * k + j];
    }
    if (scaled) { /* v (r^-1 w) */
      const PetscReal scale = d->weight ? rinv[0] * d->weight[r] : rinv[0];
      for (PetscInt j = 0; j < k; j++) f[j] = v[j] * scale;
    } else
      for (PetscInt t = 0; t < nt; t++)
        for (PetscInt j = 0; j < k; j++) {
          PetscReal sum = 0;
          for (PetscInt u = 0; u < nt; u++) sum += rinv[t * nt + u] * v[u * k + j];
          f[t * k + j] = d->weight ? sum * d->weight[r] : sum;
        }
    for (PetscInt s = 0; s < n; s++) {
      const PetscReal coef = cov[s] < 0 ? 1.0 : c[cov[s]];
      if (e[s] < 0) continue;
      for (PetscInt j = 0; j < k; j++) y[(size_t)e[s] * k + j] += coef * f[trait[s] * k + j];
    }
    e += n;
  }
}

/* The K columns of the dense X (its owned rows, leading dimension LDA) into the interleaved local form. */
static void BlockInterleave(PetscInt nowned, PetscInt k, const PetscScalar *restrict X, PetscInt lda, PetscScalar *restrict x)
{
  for (PetscInt i = 0; i < nowned; i++)
    for (PetscInt j = 0; j < k; j++) x[(size_t)i * k + j] = X[(size_t)j * lda + i];
}

static void BlockDeinterleave(PetscInt nowned, PetscInt k, const PetscScalar *restrict y, PetscScalar *restrict Y, PetscInt lda)
{
  for (PetscInt j = 0; j < k; j++)
    for (PetscInt i = 0; i < nowned; i++) Y[(size_t)j * lda + i] = y[(size_t)i * k + j];
}

/* Room for K vectors in the local form, and the route of their ghost values. */
static PetscErrorCode BlockReserve(Mat C, MME_Data d, PetscInt k)
{
  PetscFunctionBeginUser;
  if (!d->block_route) {
    if (d->route)
      d->block_route = d->route;
    else {
      MPI_Comm    comm;
      PetscLayout rows;
      PetscCall(PetscObjectGetComm((PetscObject)C, &comm));
      PetscCall(MatGetLayouts(C, &rows, NULL));
      PetscCall(GhostRouteCreateDirect(comm, rows, d->nghost, d->ghosts, &d->block_route));
    }
  }
  if (k > d->block_k) {
    const size_t n = (size_t)(d->nowned + d->nghost) * (size_t)k + 1;
    PetscCall(PetscFree2(d->block_x, d->block_y));
    PetscCall(PetscMalloc2(n, &d->block_x, n, &d->block_y));
    d->block_k = k;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Y = C X for a dense X of K columns (MatMatMult()): one pass over the records and the relationships for
   all K, one exchange of K values a ghost; each column the same as MatMult() of it (to the bit on one rank). */
static PetscErrorCode MatProductNumeric_Data(Mat C, Mat X, Mat Y, void *ctx)
{
  MME_Data           d;
  const PetscScalar *Xa;
  PetscScalar       *Ya, *v, *f;
  PetscInt           k, ldx, ldy;

  PetscFunctionBeginUser;
  (void)ctx;
  PetscCall(MatShellGetContext(C, &d));
  PetscCall(MatGetSize(X, NULL, &k));
  PetscCall(BlockReserve(C, d, k));
  PetscCall(MatDenseGetLDA(X, &ldx));
  PetscCall(MatDenseGetLDA(Y, &ldy));
  PetscCall(MatDenseGetArrayRead(X, &Xa));
  BlockInterleave(d->nowned, k, Xa, ldx, d->block_x);
  PetscCall(MatDenseRestoreArrayRead(X, &Xa));
  PetscCall(PetscLogEventBegin(HendersonEventMultGather, 0, 0, 0, 0));
  PetscCall(GhostRouteForward(d->block_route, k, d->block_x));
  PetscCall(PetscLogEventEnd(HendersonEventMultGather, 0, 0, 0, 0));
  PetscCall(PetscArrayzero(d->block_y, (size_t)(d->nowned + d->nghost) * k));
  PetscCall(PetscMalloc2(d->ntraits * k, &v, d->ntraits * k, &f));
  PetscCall(PetscLogEventBegin(HendersonEventMultRecords, 0, 0, 0, 0));
  RecordsProductBlock(d, k, d->block_x, d->block_y, v, f);
  PetscCall(PetscLogEventEnd(HendersonEventMultRecords, 0, 0, 0, 0));
  PetscCall(PetscFree2(v, f));
  PetscCall(PetscLogEventBegin(HendersonEventMultRelationships, 0, 0, 0, 0));
  for (PetscInt g = 0; g < d->nrel; g++) PetscCall(RelationshipMultAddBlock(d->rel[g], k, d->nowned + d->nghost, d->block_x, d->block_y));
  PetscCall(PetscLogEventEnd(HendersonEventMultRelationships, 0, 0, 0, 0));
  PetscCall(PetscLogEventBegin(HendersonEventMultScatter, 0, 0, 0, 0));
  PetscCall(GhostRouteReverse(d->block_route, k, d->block_y));
  PetscCall(PetscLogEventEnd(HendersonEventMultScatter, 0, 0, 0, 0));
  PetscCall(MatDenseGetArrayWrite(Y, &Ya));
  BlockDeinterleave(d->nowned, k, d->block_y, Ya, ldy);
  PetscCall(MatDenseRestoreArrayWrite(Y, &Ya));
  PetscCall(PetscLogFlops(d->flops * k));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode MatGetDiagonal_Data(Mat C, Vec diagonal)
{
  MME_Data d;

  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(C, &d));
  PetscCall(MatGetDiagonal(d->P, diagonal));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode MatCreateVecs_Data(Mat C, Vec *right, Vec *left)
{
  MME_Data d;

  PetscFunctionBeginUser;
  PetscCall(MatShellGetContext(C, &d));
  if (right) PetscCall(VecDuplicate(d->work_x, right));
  if (left) PetscCall(VecDuplicate(d->work_x, left));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode MatDestroy_Data(Mat C)
{
  MME_Data d;

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

/* For the relationships (RelationshipNeeded(), RelationshipLocalize()). */
static void GhostNeed(void *ctx, PetscInt q)
{
  GhostSetAdd((GhostSet *)ctx, q);
}

static int32_t GhostLocal(void *ctx, PetscInt q)
{
  return GhostSetLocal((const GhostSet *)ctx, q);
}

/* What the set-up carries from one step to the next. */
typedef struct {
  RecordTerms rt;
  Packing     pk;
  char       *packed; /* the records of this rank that touch an equation, packed */
  PetscInt   *anchor; /* their anchors */
  PetscInt    nkept;
  char       *received; /* the records of this operator, packed, from every rank */
  Accumulator rhs;      /* W'R^-1y of this rank's records */
  GhostSet    gs;
  PetscBool  *anchoring; /* the slots of the first animal effect (RecordAnchor()) */
} DataSetUp;

/* A record's anchor: the last equation of its own animal -- the slots of the model's first effect on the
   pedigree (or genotypes) -- or, without one, the last of all its equations. Not simply the last: in a
   maternal model with a maternal permanent environment the dam's iid level comes last of all, and every
   record would then sit with the few ranks that own those levels, far from its animal's equations. */
static PetscErrorCode AnchoringSlots(const RecordTerms *rt, PetscBool **anchoring)
{
  PetscInt first = -1;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(rt->nslots + 1, anchoring));
  for (PetscInt s = 0; s < rt->nslots && first < 0; s++)
    if (ModelEffectIsAnimal(rt->model_effect[rt->effect[s]])) first = rt->effect[s];
  for (PetscInt s = 0; s < rt->nslots; s++) (*anchoring)[s] = (PetscBool)(first >= 0 && rt->effect[s] == first);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static inline PetscInt RecordAnchor(const PetscInt eq[], PetscInt nslots, const PetscBool anchoring[])
{
  PetscInt last = -1, own = -1;
  for (PetscInt s = 0; s < nslots; s++) {
    last = PetscMax(last, eq[s]);
    if (anchoring[s]) own = PetscMax(own, eq[s]);
  }
  return own >= 0 ? own : last;
}

/* 1. Every record's terms, packed with its anchor (RecordAnchor()); the right-hand side on the way. */
static PetscErrorCode PackRecords(MME_Data d, Model model, Equations eq, Records records, DataSetUp *su)
{
  RecordTerms *rt = &su->rt;
  PetscInt     n, nlocal;

  PetscFunctionBeginUser;
  PetscCall(EquationsGetSize(eq, &n));
  PetscCall(RecordsGetLocalSize(records, &nlocal));
  PetscCall(RecordTermsCreate(model, eq, records, rt));
  PackingSetUp(rt, &su->pk);
  d->nslots  = rt->nslots;
  d->ncov    = rt->ncov;
  d->ntraits = rt->ntraits;
  PetscCall(PetscMalloc2(rt->nslots + 1, &d->slot_trait, rt->nslots + 1, &d->slot_cov));
  PetscCall(PetscArraycpy(d->slot_trait, rt->trait, rt->nslots));
  PetscCall(PetscArraycpy(d->slot_cov, rt->cov, rt->nslots));
  PetscCall(AnchoringSlots(rt, &su->anchoring));
  PetscCall(PetscMalloc2(su->pk.size * (size_t)nlocal + 8, &su->packed, nlocal + 1, &su->anchor));
  PetscCall(AccumulatorCreate((size_t)PetscMin((PetscInt64)n, (PetscInt64)nlocal * rt->nslots) / 2 + 64, &su->rhs));
  su->nkept = 0;
  for (PetscInt r = 0; r < nlocal; r++) {
    RecordContribution c;
    char              *at   = su->packed + su->pk.size * (size_t)su->nkept;
    PetscInt           last = -1;
    PetscCall(RecordTermsGet(rt, r, &c));
    for (PetscInt s = 0; s < rt->nslots; s++) {
      if (c.eq[s] < 0) continue;
      last = PetscMax(last, c.eq[s]);
      PetscCall(AccumulatorAdd(&su->rhs, c.eq[s], 0, c.coef[s] * c.ry[rt->trait[s]]));
    }
    if (last < 0) continue; /* touches no equation */
    memcpy(at, c.eq, sizeof(PetscInt) * (size_t)rt->nslots);
    for (PetscInt s = 0; s < rt->nslots; s++)
      if (rt->cov[s] >= 0) memcpy(at + su->pk.at_coef + sizeof(PetscReal) * (size_t)rt->cov[s], &c.coef[s], sizeof(PetscReal));
    if (rt->weighted) memcpy(at + su->pk.at_weight, &c.weight, sizeof(PetscReal));
    if (rt->ntraits > 1) memcpy(at + su->pk.at_pattern, &c.pattern, sizeof(uint32_t));
    su->anchor[su->nkept++] = RecordAnchor(c.eq, rt->nslots, su->anchoring);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 2. The rows of every rank, by the bytes a product moves: a record's at its anchor, a level's of a random
      group at its first equation (MMEBalancedLayout() adds the vectors'). */
static PetscErrorCode DataLayout(MME mme, Equations eq, const DataSetUp *su, PetscInt nrel, Relationship rel[])
{
  PetscInt    n, nbuckets;
  PetscInt64 *weight;

  PetscFunctionBeginUser;
  PetscCall(EquationsGetSize(eq, &n));
  nbuckets = (PetscInt)PetscMin((PetscInt64)n, 65536);
  PetscCall(PetscCalloc1(nbuckets + 1, &weight));
  for (PetscInt k = 0; k < su->nkept; k++) weight[MMEBucket(su->anchor[k], n, nbuckets)] += (PetscInt64)su->pk.size;
  for (PetscInt g = 0; g < nrel; g++) {
    const EquationsBlock *block;
    PetscInt64            bytes;
    PetscCall(RelationshipGetBlocks(rel[g], &block, NULL));
    PetscCall(RelationshipGetLevelCost(rel[g], &bytes, NULL));
    PetscCall(MMEAddLevelWeights(mme, block, bytes, n, nbuckets, weight));
  }
  PetscCall(MMEBalancedLayout(mme, eq, n, nbuckets, weight));
  PetscCall(PetscFree(weight));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 3. The records to the owners of their anchors. */
static PetscErrorCode SendRecords(MME mme, MME_Data d, DataSetUp *su)
{
  PetscMPIInt *send_n, *recv_n, *send_at, *recv_at, *next, size = mme->size;
  PetscInt    *owner;
  char        *sorted;
  MPI_Datatype record_type;
  PetscCount   nreceived;
  const size_t unit = su->pk.size;

  PetscFunctionBeginUser;
  PetscCheck(su->nkept <= PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "more than 2^31 records on one rank; run with more ranks");
  PetscCall(PetscCalloc4(size, &send_n, size, &recv_n, size, &send_at, size, &recv_at));
  PetscCall(PetscMalloc2(su->nkept + 1, &owner, size, &next));
  for (PetscInt k = 0; k < su->nkept; k++) {
    PetscMPIInt o;
    PetscCall(PetscLayoutFindOwner(mme->layout, su->anchor[k], &o));
    owner[k] = o;
    send_n[o]++;
  }
  for (PetscMPIInt r = 1; r < size; r++) send_at[r] = send_at[r - 1] + send_n[r - 1];
  PetscCall(PetscArraycpy(next, send_at, size));
  PetscCall(PetscMalloc1(unit * (size_t)su->nkept + 8, &sorted));
  for (PetscInt k = 0; k < su->nkept; k++) memcpy(sorted + unit * (size_t)next[owner[k]]++, su->packed + unit * (size_t)k, unit);
  PetscCall(PetscFree2(su->packed, su->anchor));
  PetscCall(PetscFree2(owner, next));
  PetscCallMPI(MPI_Type_contiguous((PetscMPIInt)unit, MPI_BYTE, &record_type));
  PetscCallMPI(MPI_Type_commit(&record_type));
  PetscCall(HendersonExchange(mme->comm, record_type, unit, send_n, send_at, sorted, recv_n, recv_at, (void **)&su->received, &nreceived, "records"));
  PetscCallMPI(MPI_Type_free(&record_type));
  PetscCall(PetscFree(sorted));
  PetscCall(PetscFree4(send_n, recv_n, send_at, recv_at));
  PetscCheck(nreceived < PETSC_MAX_INT, PETSC_COMM_SELF, PETSC_ERR_SUP, "too many records for one rank; run with more ranks");
  d->nrecords = (PetscInt)nreceived;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 4. The ghosts: other ranks' equations that the records and the relationships touch. */
static PetscErrorCode FindGhosts(MME mme, MME_Data d, DataSetUp *su)
{
  PetscInt n, rstart, rend;

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetSize(mme->layout, &n));
  PetscCall(PetscLayoutGetRange(mme->layout, &rstart, &rend));
  PetscCall(GhostSetCreate(n, rstart, rend, &su->gs));
  for (PetscInt k = 0; k < d->nrecords; k++) {
    const PetscInt *e = (const PetscInt *)(su->received + su->pk.size * (size_t)k);
    for (PetscInt s = 0; s < d->nslots; s++) GhostSetAdd(&su->gs, e[s]);
  }
  for (PetscInt g = 0; g < d->nrel; g++) PetscCall(RelationshipNeeded(d->rel[g], GhostNeed, &su->gs));
  PetscCall(GhostSetFinish(&su->gs, &d->ghosts));
  d->nghost = su->gs.count;
  PetscCheck((PetscInt64)d->nowned + d->nghost < INT32_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "more than 2^31 local equations on one rank; run with more ranks");
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The order of the received records by anchor (a counting sort: stable, so the same on every run). */
static PetscErrorCode AnchorOrder(MME_Data d, const DataSetUp *su, PetscInt rstart, PetscInt **order)
{
  PetscInt *count, *anchor;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(d->nowned + 1, &count));
  PetscCall(PetscMalloc1(d->nrecords + 1, &anchor));
  PetscCall(PetscMalloc1(d->nrecords + 1, order));
  for (PetscInt k = 0; k < d->nrecords; k++) {
    const PetscInt *e = (const PetscInt *)(su->received + su->pk.size * (size_t)k);
    anchor[k]         = RecordAnchor(e, d->nslots, su->anchoring) - rstart;
    count[anchor[k] + 1]++;
  }
  for (PetscInt i = 0; i < d->nowned; i++) count[i + 1] += count[i];
  for (PetscInt k = 0; k < d->nrecords; k++) (*order)[count[anchor[k]]++] = k;
  PetscCall(PetscFree(anchor));
  PetscCall(PetscFree(count));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* With a social effect, the slots a record uses: a prefix, the social effect's padding last. */
static PetscErrorCode UsedSlots(MME_Data d, const DataSetUp *su, const PetscInt order[], size_t *stored)
{
  PetscFunctionBeginUser;
  *stored = (size_t)d->nrecords * d->nslots;
  if (su->rt.social < 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(d->nslots <= UINT16_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "%" PetscInt_FMT " slots a record", d->nslots);
  PetscCall(PetscMalloc1(d->nrecords + 1, &d->nused));
  *stored = 0;
  for (PetscInt k = 0; k < d->nrecords; k++) {
    const PetscInt *e = (const PetscInt *)(su->received + su->pk.size * (size_t)order[k]);
    PetscInt        n = 0;
    for (PetscInt s = 0; s < d->nslots; s++)
      if (e[s] >= 0) n = s + 1;
    d->nused[k] = (uint16_t)n;
    *stored += (size_t)n;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* R0-inverse of every pattern of traits present, numbered in the order met (one trait: the single one). */
static PetscErrorCode StorePatterns(MME_Data d, DataSetUp *su, const uint32_t pattern_index[])
{
  const PetscInt t = d->ntraits;

  PetscFunctionBeginUser;
  if (t == 1) {
    const PetscReal *rinv;
    PetscCall(RecordTermsResidualInverse(&su->rt, 1, &rinv));
    PetscCall(PetscMalloc1(1, &d->rinv));
    d->rinv[0]   = rinv[0];
    d->npatterns = 1;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscMalloc1((size_t)d->npatterns * t * t + 1, &d->rinv));
  for (size_t m = 0; m < ((size_t)1 << t); m++) {
    const PetscReal *rinv;
    if (pattern_index[m] == UINT32_MAX) continue;
    PetscCall(RecordTermsResidualInverse(&su->rt, (uint32_t)m, &rinv));
    PetscCall(PetscArraycpy(d->rinv + (size_t)pattern_index[m] * t * t, rinv, t * t));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 5. The records in local numbering, sorted by anchor. */
static PetscErrorCode StoreRecords(MME mme, MME_Data d, DataSetUp *su)
{
  PetscInt *order, rstart;
  uint32_t *pattern_index = NULL;
  size_t    stored;

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetRange(mme->layout, &rstart, NULL));
  PetscCall(AnchorOrder(d, su, rstart, &order));
  PetscCall(UsedSlots(d, su, order, &stored));
  PetscCall(PetscMalloc2(stored + 1, &d->eq, (size_t)d->nrecords * d->ncov + 1, &d->coef));
  d->nstored = (PetscInt64)stored;
  if (su->rt.weighted) PetscCall(PetscMalloc1(d->nrecords + 1, &d->weight));
  if (d->ntraits > 1) {
    PetscCall(PetscMalloc1(d->nrecords + 1, &d->pattern));
    PetscCall(PetscMalloc1((size_t)1 << d->ntraits, &pattern_index));
    for (size_t m = 0; m < ((size_t)1 << d->ntraits); m++) pattern_index[m] = UINT32_MAX;
  }
  stored = 0;
  for (PetscInt k = 0; k < d->nrecords; k++) {
    const char     *at = su->received + su->pk.size * (size_t)order[k];
    const PetscInt *e  = (const PetscInt *)at;
    const PetscInt  n  = d->nused ? d->nused[k] : d->nslots;
    for (PetscInt s = 0; s < n; s++) d->eq[stored + s] = GhostSetLocal(&su->gs, e[s]);
    stored += (size_t)n;
    memcpy(d->coef + (size_t)k * d->ncov, at + su->pk.at_coef, sizeof(PetscReal) * (size_t)d->ncov);
    if (d->weight) memcpy(&d->weight[k], at + su->pk.at_weight, sizeof(PetscReal));
    if (d->pattern) {
      uint32_t mask;
      memcpy(&mask, at + su->pk.at_pattern, sizeof(uint32_t));
      if (pattern_index[mask] == UINT32_MAX) pattern_index[mask] = (uint32_t)d->npatterns++;
      d->pattern[k] = pattern_index[mask];
    }
  }
  PetscCall(PetscFree(order));
  PetscCall(PetscFree(su->received));
  PetscCall(StorePatterns(d, su, pattern_index));
  PetscCall(PetscFree(pattern_index));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The records' part of the point-block diagonal, on the local arrays (D: SMAX entries a local equation). */
static void RecordsBlockDiagonal(const struct _MME_Data *d, PetscReal D[], PetscInt smax, const PetscInt bfirst[], const PetscInt pos[])
{
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
}

/* The owned rows of the summed point-block diagonal DV as an AIJ matrix. */
static PetscErrorCode DiagonalMatrix(MME mme, MME_Data d, Vec Dv, PetscInt smax, const PetscInt bfirst[], const PetscInt pos[], Mat *P)
{
  const PetscScalar *Dr;
  PetscInt          *ia, *ja, nnz = 0, n;
  PetscScalar       *va;

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetSize(mme->layout, &n));
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
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 7. The point-block diagonal of C, from the same terms: owned and ghost rows, the ghost rows then added
      into their owners; P holds it as an AIJ matrix. */
static PetscErrorCode BuildDiagonal(MME mme, Equations eq, MME_Data d)
{
  PetscInt    *bfirst, *pos, smax, rstart;
  Vec          Dv, Dl;
  PetscScalar *Da;

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetRange(mme->layout, &rstart, NULL));
  PetscCall(PointBlocks(eq, rstart, d->nowned, d->nghost, d->ghosts, &bfirst, &pos, &smax));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &smax, 1, MPIU_INT, MPI_MAX, mme->comm));
  PetscCall(VecCreateGhostBlock(mme->comm, smax, d->nowned * smax, PETSC_DECIDE, d->nghost, d->ghosts, &Dv));
  PetscCall(VecGhostGetLocalForm(Dv, &Dl));
  PetscCall(VecZeroEntries(Dl));
  PetscCall(VecGetArray(Dl, &Da));
  RecordsBlockDiagonal(d, Da, smax, bfirst, pos);
  for (PetscInt g = 0; g < d->nrel; g++) PetscCall(RelationshipAddBlockDiagonal(d->rel[g], Da, smax, bfirst, pos));
  PetscCall(VecRestoreArray(Dl, &Da));
  PetscCall(VecGhostRestoreLocalForm(Dv, &Dl));
  PetscCall(VecGhostUpdateBegin(Dv, ADD_VALUES, SCATTER_REVERSE));
  PetscCall(VecGhostUpdateEnd(Dv, ADD_VALUES, SCATTER_REVERSE));
  PetscCall(DiagonalMatrix(mme, d, Dv, smax, bfirst, pos, &d->P));
  PetscCall(VecDestroy(&Dv));
  PetscCall(PetscFree2(bfirst, pos));
  PetscCall(MMESetPointBlocks(mme, eq, d->P));
  PetscCall(MatSetOption(d->P, MAT_SYMMETRIC, PETSC_TRUE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 8. The operator: a MATSHELL around D. */
static PetscErrorCode CreateShell(MME mme, MME_Data d, PetscInt n, Mat *C)
{
  PetscFunctionBeginUser;
  PetscCall(MatCreateShell(mme->comm, d->nowned, d->nowned, n, n, d, C));
  PetscCall(MatShellSetOperation(*C, MATOP_MULT, (void (*)(void))MatMult_Data));
  PetscCall(MatShellSetOperation(*C, MATOP_MULT_TRANSPOSE, (void (*)(void))MatMult_Data));
  PetscCall(MatShellSetOperation(*C, MATOP_GET_DIAGONAL, (void (*)(void))MatGetDiagonal_Data));
  PetscCall(MatShellSetOperation(*C, MATOP_CREATE_VECS, (void (*)(void))MatCreateVecs_Data));
  PetscCall(MatShellSetOperation(*C, MATOP_DESTROY, (void (*)(void))MatDestroy_Data));
  PetscCall(MatShellSetMatProductOperation(*C, MATPRODUCT_AB, NULL, MatProductNumeric_Data, NULL, MATDENSE, MATDENSE));
  PetscCall(MatSetOption(*C, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(MatSetOption(*C, MAT_SYMMETRY_ETERNAL, PETSC_TRUE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* 9. What one product reads, computes and exchanges. */
static PetscErrorCode DataStats(MME mme, MME_Data d, PetscInt n)
{
  PetscInt64 local[2], sum[2];

  PetscFunctionBeginUser;
  local[0] = 4 * d->nstored + (PetscInt64)d->nrecords * (8 * d->ncov + (d->weight ? 8 : 0) + (d->pattern ? 4 : 0) + (d->nused ? 2 : 0));
  local[1] = d->nrecords;
  d->flops = 4.0 * (PetscLogDouble)d->nstored + (PetscLogDouble)d->nrecords * 2.0 * d->ntraits * d->ntraits;
  for (PetscInt g = 0; g < d->nrel; g++) {
    PetscLogDouble flops;
    PetscInt64     bytes;
    PetscCall(RelationshipGetProductCost(d->rel[g], &flops, &bytes));
    d->flops += flops;
    local[0] += bytes;
  }
  PetscCallMPI(MPI_Allreduce(local, sum, 2, MPIU_INT64, MPI_SUM, mme->comm));
  PetscCallMPI(MPI_Allreduce(&local[1], &mme->stats.local_entries, 1, MPIU_INT64, MPI_MAX, mme->comm));
  mme->stats.equations      = n;
  mme->stats.nonzeros       = -1;
  mme->stats.operator_bytes = sum[0];
  mme->stats.records        = sum[1];
  if (d->route) { /* values out, sums back, each over both steps */
    PetscInt neighbours;
    PetscCall(GhostRouteGetNeighbours(d->route, &neighbours, NULL));
    PetscCall(MMESetCommunicationCounts(mme, d->nghost, neighbours, 2));
  } else
    PetscCall(MMESetCommunicationStats(mme, d->nghost, d->ghosts, 2)); /* values out, sums back */
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode MMEAssemble_Data(MME mme, Model model, Equations eq, Records records, PetscInt nrel, Relationship rel[])
{
  MME_Data  d;
  DataSetUp su;
  PetscInt  n;

  PetscFunctionBeginUser;
  PetscCall(MatDestroy(&mme->C));
  PetscCall(MatDestroy(&mme->P));
  PetscCall(VecDestroy(&mme->rhs));
  PetscCall(PetscNew(&d));
  PetscCall(PetscMemzero(&su, sizeof(su)));
  PetscCall(EquationsGetSize(eq, &n));
  d->nrel = nrel;
  PetscCall(PetscMalloc1(nrel + 1, &d->rel));
  PetscCall(PetscArraycpy(d->rel, rel, nrel));
  PetscCall(PackRecords(d, model, eq, records, &su));
  if (!mme->layout) PetscCall(DataLayout(mme, eq, &su, nrel, rel));
  PetscCall(PetscLayoutGetLocalSize(mme->layout, &d->nowned));
  for (PetscInt g = 0; g < nrel; g++) PetscCall(RelationshipSetUp(rel[g], mme->layout));
  PetscCall(SendRecords(mme, d, &su));
  PetscCall(FindGhosts(mme, d, &su));
  PetscCall(StoreRecords(mme, d, &su));
  for (PetscInt g = 0; g < nrel; g++) PetscCall(RelationshipLocalize(rel[g], GhostLocal, &su.gs));
  /* 6. the vectors: ghosted, the local form being exactly the local numbering */
  PetscCall(VecCreateGhost(mme->comm, d->nowned, n, d->nghost, d->ghosts, &d->work_x));
  if (mme->ghost_route == MME_GHOST_ROUTE_GRID || (mme->ghost_route == MME_GHOST_ROUTE_AUTO && mme->size >= 32))
    PetscCall(GhostRouteCreate(mme->comm, mme->layout, d->nghost, d->ghosts, &d->route));
  PetscCall(VecDuplicate(d->work_x, &d->work_y));
  PetscCall(BuildDiagonal(mme, eq, d));
  PetscCall(VecDuplicate(d->work_x, &mme->rhs));
  PetscCall(VecZeroEntries(mme->rhs));
  PetscCall(AccumulatorAddToVector(mme->comm, mme->layout, &su.rhs, mme->rhs));
  PetscCall(AccumulatorDestroy(&su.rhs));
  PetscCall(DataStats(mme, d, n));
  PetscCall(PetscInfo(NULL,
                      "data operator: %" PetscInt_FMT " records x %" PetscInt_FMT " slots, %" PetscInt_FMT " owned and %" PetscInt_FMT " ghost equations\n",
                      d->nrecords, d->nslots, d->nowned, d->nghost));
  mme->P = d->P;
  PetscCall(PetscObjectReference((PetscObject)mme->P));
  PetscCall(CreateShell(mme, d, n, &mme->C));
  PetscCall(GhostSetDestroy(&su.gs));
  PetscCall(RecordTermsDestroy(&su.rt));
  PetscCall(PetscFree(su.anchoring));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMECreate_Data(MME mme)
{
  PetscFunctionBeginUser;
  mme->entries       = PETSC_FALSE;
  mme->ops->assemble = MMEAssemble_Data;
  PetscFunctionReturn(PETSC_SUCCESS);
}
