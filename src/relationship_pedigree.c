/* K = A, the numerator relationship matrix. A^-1 = sum_i alpha_i q_i q_i', q_i = e_i - c_0 e_sire - c_1 e_dam
   (Henderson's rules with inbreeding, Quaas 1976; the parents' coefficients 1/2, 1/2, or 1/2, 1/4 for a
   sire and maternal grandsire), unknown-parent groups by the QP transformation: an unknown parent that
   is group g stands for that group's equations.

   The pedigree is distributed once, by the first pedigree group of the model, to match the operator's
   rows: a rank gets the animals whose equations it owns (PedigreeDistribute()); every product then runs
   over this rank's animals, reading their parents' values wherever they are (the data operator makes
   them ghosts). */
#include "relationshipimpl.h"

/* How many animals ahead the product asks for the parents' values (anywhere in x and y): enough to keep
   a few dozen cache misses in flight, few enough that the lines are still there when they are used. */
#define PREFETCH_AHEAD 16

typedef struct {
  PetscReal *Ginv;       /* dim x dim */
  PetscReal  c[2];       /* parent coefficients */
  PetscInt   n;          /* this rank's animals */
  int32_t    self_first; /* local index of the first animal's first equation, when they are consecutive */
  int32_t   *self;       /* NULL (consecutive), or every animal's first equation, local */
  int32_t   *parent;     /* 2 an animal: the parent's first equation (local), -1 unknown, -2-g group g */
  PetscReal *alpha;
  int32_t   *upg; /* groups x dim: local equation of every group's, -1 absent (constrained) */
  PetscInt   ngroups;
} PedigreeTerm;

/* The first pedigree group of the model: it distributes the pedigree. */
static PetscErrorCode IsFirstPedigreeGroup(Relationship r, PetscBool *first)
{
  PetscInt ngroups;

  PetscFunctionBeginUser;
  *first = PETSC_FALSE;
  PetscCall(ModelGetNumGroups(r->model, &ngroups));
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup *group;
    PetscCall(ModelGetGroup(r->model, g, &group));
    if (!ModelGroupIsAnimal(group)) continue;
    *first = g == r->g ? PETSC_TRUE : PETSC_FALSE;
    break;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The animals to the ranks that own their first equations in ROWS (again only when that changed). */
static PetscErrorCode DistributePedigree(Relationship r, PetscLayout rows, PetscInt animals)
{
  PetscInt       *ranges, start, n;
  const PetscInt *sire;
  PetscBool       same;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(r->size + 1, &ranges));
  for (PetscMPIInt k = 0; k < r->size; k++) { /* rank k's first animal: the first whose equations start in its rows */
    PetscInt hi;
    PetscCall(RelationshipLevelsOfLayout(r->block, rows, k, r->size, &ranges[k], &hi));
  }
  ranges[0]       = 0;
  ranges[r->size] = animals;
  PetscCall(PedigreeGetLocal(r->pedigree, &start, &n, &sire, NULL, NULL, NULL));
  same = (PetscBool)(sire && start == ranges[r->rank] && n == ranges[r->rank + 1] - ranges[r->rank]);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPIU_BOOL, MPI_LAND, r->comm));
  if (!same) PetscCall(PedigreeDistribute(r->pedigree, ranges));
  PetscCall(PetscFree(ranges));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipSetUp_Pedigree(Relationship r, PetscLayout rows)
{
  PedigreeTerm *p = (PedigreeTerm *)r->data;
  PetscBool     first;
  PedigreeStats stats;

  PetscFunctionBeginUser;
  PetscCheck(r->pedigree, r->comm, PETSC_ERR_ARG_WRONGSTATE, "a pedigree relationship needs the pedigree");
  PetscCall(PedigreeGetStats(r->pedigree, &stats));
  PetscCall(IsFirstPedigreeGroup(r, &first));
  if (first) PetscCall(DistributePedigree(r, rows, stats.animals));
  { /* the levels here are the animals this rank holds (a second pedigree group's equations may lie elsewhere) */
    PetscInt start, n;
    PetscCall(PedigreeGetLocal(r->pedigree, &start, &n, NULL, NULL, NULL, NULL));
    r->lo = start;
    r->hi = start + n;
  }
  PetscCall(PetscFree(p->Ginv));
  PetscCall(RelationshipGetCovarianceInverse(r, &p->Ginv));
  PetscCall(PedigreeGetParentCoefficients(r->pedigree, p->c));
  p->ngroups = stats.groups;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipNeeded_Pedigree(Relationship r, RelationshipNeedFn need, void *ctx)
{
  PetscInt        start, na, m = r->dim;
  const PetscInt *sire, *dam;

  PetscFunctionBeginUser;
  PetscCall(PedigreeGetLocal(r->pedigree, &start, &na, &sire, &dam, NULL, NULL));
  for (PetscInt a = 0; a < na; a++)
    for (PetscInt k = 0; k < m; k++) {
      need(ctx, r->block->offset + (start + a) * m + k);
      if (sire[a] >= 0) need(ctx, r->block->offset + sire[a] * m + k);
      if (dam[a] >= 0) need(ctx, r->block->offset + dam[a] * m + k);
    }
  for (PetscInt q = 0; r->groups && q < r->groups->nequations; q++) need(ctx, r->groups->offset + q);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipLocalize_Pedigree(Relationship r, RelationshipLocalFn local, void *ctx)
{
  PedigreeTerm    *p = (PedigreeTerm *)r->data;
  PetscInt         start, m = r->dim;
  const PetscInt  *sire, *dam;
  const PetscReal *alpha;
  PetscBool        consecutive = PETSC_TRUE;

  PetscFunctionBeginUser;
  PetscCall(PetscFree3(p->parent, p->alpha, p->upg));
  PetscCall(PetscFree(p->self));
  PetscCall(PedigreeGetLocal(r->pedigree, &start, &p->n, &sire, &dam, &alpha, NULL));
  PetscCall(PetscMalloc3(2 * p->n + 1, &p->parent, p->n + 1, &p->alpha, p->ngroups * m + 1, &p->upg));
  PetscCall(PetscMalloc1(p->n + 1, &p->self));
  for (PetscInt k = 0; k < p->ngroups * m; k++) p->upg[k] = r->groups ? local(ctx, EquationsBlockEquation(r->groups, k / m, k % m)) : -1;
  for (PetscInt a = 0; a < p->n; a++) {
    const PetscInt parent[2] = {sire[a], dam[a]};
    p->self[a]               = local(ctx, r->block->offset + (start + a) * m);
    consecutive              = (PetscBool)(consecutive && p->self[a] == p->self[0] + (int32_t)(a * m));
    for (int k = 0; k < 2; k++) {
      int32_t code;
      if (parent[k] >= 0)
        code = local(ctx, r->block->offset + parent[k] * m);
      else if (parent[k] == -1)
        code = -1;
      else
        code = m == 1 ? p->upg[-2 - parent[k]] : (int32_t)parent[k]; /* one equation: resolved now (-1 if constrained) */
      p->parent[2 * a + k] = code;
    }
    p->alpha[a] = alpha[a];
  }
  p->self_first = p->n ? p->self[0] : 0;
  if (consecutive) { /* the usual case: a rank's own animals, in order */
    int32_t *self = p->self;
    p->self       = NULL;
    PetscCall(PetscFree(self));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The local index of component K of a parent (-1: none). */
static inline int32_t ParentEquation(const PedigreeTerm *p, PetscInt m, int32_t parent, PetscInt k)
{
  if (parent >= 0) return parent + (int32_t)k;
  if (parent == -1) return -1;
  return p->upg[(-2 - parent) * m + k];
}

/* Parents are anywhere in x and y: ask for animal A's early (PREFETCH_AHEAD animals ahead), many at once
   (STRIDE values an equation: the vectors of a block, interleaved). */
HENDERSON_PREFETCH_INLINE void PrefetchParents(const PedigreeTerm *p, PetscInt a, PetscInt stride, const PetscScalar *x, PetscScalar *y)
{
  if (a >= p->n) return;
  for (int k = 0; k < 2; k++) {
    const int32_t parent = p->parent[2 * a + k];
    if (parent < 0) continue;
    __builtin_prefetch(&x[(size_t)parent * stride], 0, 1);
    __builtin_prefetch(&y[(size_t)parent * stride], 1, 1);
  }
}

/* One equation an animal (unknown-parent groups resolved to their equation at the set-up). */
static void Product1(const PedigreeTerm *p, const PetscScalar *restrict x, PetscScalar *restrict y)
{
  const PetscReal c0 = p->c[0], c1 = p->c[1], g = p->Ginv[0];

  for (PetscInt a = 0; a < p->n; a++) {
    const int32_t i = p->self ? p->self[a] : p->self_first + (int32_t)a, s = p->parent[2 * a], t = p->parent[2 * a + 1];
    PrefetchParents(p, a + PREFETCH_AHEAD, 1, x, y);
    PetscReal w = x[i];
    if (s >= 0) w -= c0 * x[s];
    if (t >= 0) w -= c1 * x[t];
    w *= g * p->alpha[a];
    y[i] += w;
    if (s >= 0) y[s] -= c0 * w;
    if (t >= 0) y[t] -= c1 * w;
  }
}

/* Two equations an animal (direct and social or maternal, two traits): unrolled, parents prefetched. */
static void Product2(const PedigreeTerm *p, const PetscScalar *restrict x, PetscScalar *restrict y)
{
  const PetscReal c0 = p->c[0], c1 = p->c[1], g00 = p->Ginv[0], g01 = p->Ginv[1], g11 = p->Ginv[3];

  for (PetscInt a = 0; a < p->n; a++) {
    const int32_t i = p->self ? p->self[a] : p->self_first + (int32_t)(a * 2), s = p->parent[2 * a], t = p->parent[2 * a + 1];
    int32_t       s0 = ParentEquation(p, 2, s, 0), s1 = ParentEquation(p, 2, s, 1), t0 = ParentEquation(p, 2, t, 0), t1 = ParentEquation(p, 2, t, 1);
    PetscReal     w0 = x[i], w1 = x[i + 1], f0, f1;
    PrefetchParents(p, a + PREFETCH_AHEAD, 1, x, y);
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
}

/* Any number of equations an animal. */
static void ProductM(const PedigreeTerm *p, PetscInt m, const PetscScalar *restrict x, PetscScalar *restrict y)
{
  const PetscReal c0 = p->c[0], c1 = p->c[1];

  for (PetscInt a = 0; a < p->n; a++) {
    const int32_t i = p->self ? p->self[a] : p->self_first + (int32_t)(a * m), s = p->parent[2 * a], t = p->parent[2 * a + 1];
    PetscReal     w[32], f[32];
    for (PetscInt k = 0; k < m; k++) {
      int32_t qs = ParentEquation(p, m, s, k), qt = ParentEquation(p, m, t, k);
      w[k] = x[i + k] - (qs >= 0 ? c0 * x[qs] : 0) - (qt >= 0 ? c1 * x[qt] : 0);
    }
    for (PetscInt k = 0; k < m; k++) {
      f[k] = 0;
      for (PetscInt l = 0; l < m; l++) f[k] += p->Ginv[k * m + l] * w[l];
      f[k] *= p->alpha[a];
    }
    for (PetscInt k = 0; k < m; k++) {
      int32_t qs = ParentEquation(p, m, s, k), qt = ParentEquation(p, m, t, k);
      y[i + k] += f[k];
      if (qs >= 0) y[qs] -= c0 * f[k];
      if (qt >= 0) y[qt] -= c1 * f[k];
    }
  }
}

/* y += (sum_i alpha_i q_i q_i') (x) G0^-1 x. */
static PetscErrorCode RelationshipMultAdd_Pedigree(Relationship r, const PetscScalar *x, PetscScalar *y)
{
  const PedigreeTerm *p = (const PedigreeTerm *)r->data;

  PetscFunctionBeginUser;
  if (r->dim == 1)
    Product1(p, x, y);
  else if (r->dim == 2)
    Product2(p, x, y);
  else
    ProductM(p, r->dim, x, y);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* K vectors interleaved: the arithmetic of Product1 for each, so that every vector's result is the same to
   the bit; an animal's and its parents' K values share cache lines, read once for all K. The body is
   instantiated for a few K known at compile time (the loops over the vectors then unroll and vectorise;
   with a K known only at run time they cost more than the misses they save) and once for any K. */
#define PRODUCT1_BLOCK_BODY(K)                                                                                                                                 \
  const PetscReal c0 = p->c[0], c1 = p->c[1], g = p->Ginv[0];                                                                                                  \
  for (PetscInt a = 0; a < p->n; a++) {                                                                                                                        \
    const int32_t   i = p->self ? p->self[a] : p->self_first + (int32_t)a, s = p->parent[2 * a], t = p->parent[2 * a + 1];                                     \
    const PetscReal scale = g * p->alpha[a];                                                                                                                   \
    PetscReal       w[RELATIONSHIP_BLOCK_MAX];                                                                                                                 \
    PrefetchParents(p, a + PREFETCH_AHEAD, K, x, y);                                                                                                           \
    for (PetscInt j = 0; j < K; j++) w[j] = x[(size_t)i * K + j];                                                                                              \
    if (s >= 0)                                                                                                                                                \
      for (PetscInt j = 0; j < K; j++) w[j] -= c0 * x[(size_t)s * K + j];                                                                                      \
    if (t >= 0)                                                                                                                                                \
      for (PetscInt j = 0; j < K; j++) w[j] -= c1 * x[(size_t)t * K + j];                                                                                      \
    for (PetscInt j = 0; j < K; j++) {                                                                                                                         \
      w[j] *= scale;                                                                                                                                           \
      y[(size_t)i * K + j] += w[j];                                                                                                                            \
    }                                                                                                                                                          \
    if (s >= 0)                                                                                                                                                \
      for (PetscInt j = 0; j < K; j++) y[(size_t)s * K + j] -= c0 * w[j];                                                                                      \
    if (t >= 0)                                                                                                                                                \
      for (PetscInt j = 0; j < K; j++) y[(size_t)t * K + j] -= c1 * w[j];                                                                                      \
  }
#define PRODUCT1_BLOCK(K)                                                                                                                                      \
  static void Product1Block##K(const PedigreeTerm *p, const PetscScalar *restrict x, PetscScalar *restrict y)                                                  \
  {                                                                                                                                                            \
    PRODUCT1_BLOCK_BODY(K)                                                                                                                                     \
  }
PRODUCT1_BLOCK(2)
PRODUCT1_BLOCK(4)
PRODUCT1_BLOCK(8)
PRODUCT1_BLOCK(16)

/* Any K up to RELATIONSHIP_BLOCK_MAX. */
static void Product1BlockAny(const PedigreeTerm *p, PetscInt k, const PetscScalar *restrict x, PetscScalar *restrict y)
{
  PRODUCT1_BLOCK_BODY(k)
}

static void Product1Block(const PedigreeTerm *p, PetscInt k, const PetscScalar *restrict x, PetscScalar *restrict y)
{
  switch (k) {
  case 1:
    Product1(p, x, y);
    break;
  case 2:
    Product1Block2(p, x, y);
    break;
  case 4:
    Product1Block4(p, x, y);
    break;
  case 8:
    Product1Block8(p, x, y);
    break;
  case 16:
    Product1Block16(p, x, y);
    break;
  default:
    Product1BlockAny(p, k, x, y);
  }
}

/* K vectors interleaved, M equations an animal: ProductM's arithmetic for each vector. */
static void ProductMBlock(const PedigreeTerm *p, PetscInt m, PetscInt k, const PetscScalar *restrict x, PetscScalar *restrict y, PetscScalar *restrict w,
                          PetscScalar *restrict f)
{
  const PetscReal c0 = p->c[0], c1 = p->c[1];

  for (PetscInt a = 0; a < p->n; a++) {
    const int32_t i = p->self ? p->self[a] : p->self_first + (int32_t)(a * m), s = p->parent[2 * a], t = p->parent[2 * a + 1];
    PrefetchParents(p, a + PREFETCH_AHEAD, k, x, y);
    for (PetscInt e = 0; e < m; e++) {
      const int32_t qs = ParentEquation(p, m, s, e), qt = ParentEquation(p, m, t, e);
      for (PetscInt j = 0; j < k; j++)
        w[e * k + j] = x[(size_t)(i + e) * k + j] - (qs >= 0 ? c0 * x[(size_t)qs * k + j] : 0) - (qt >= 0 ? c1 * x[(size_t)qt * k + j] : 0);
    }
    for (PetscInt e = 0; e < m; e++)
      for (PetscInt j = 0; j < k; j++) {
        PetscReal sum = 0;
        for (PetscInt l = 0; l < m; l++) sum += p->Ginv[e * m + l] * w[l * k + j];
        f[e * k + j] = sum * p->alpha[a];
      }
    for (PetscInt e = 0; e < m; e++) {
      const int32_t qs = ParentEquation(p, m, s, e), qt = ParentEquation(p, m, t, e);
      for (PetscInt j = 0; j < k; j++) {
        y[(size_t)(i + e) * k + j] += f[e * k + j];
        if (qs >= 0) y[(size_t)qs * k + j] -= c0 * f[e * k + j];
        if (qt >= 0) y[(size_t)qt * k + j] -= c1 * f[e * k + j];
      }
    }
  }
}

static PetscErrorCode RelationshipMultAddBlock_Pedigree(Relationship r, PetscInt k, const PetscScalar *x, PetscScalar *y)
{
  const PedigreeTerm *p = (const PedigreeTerm *)r->data;
  PetscScalar        *w, *f;

  PetscFunctionBeginUser;
  if (r->dim == 1) {
    Product1Block(p, k, x, y);
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscMalloc2(r->dim * k, &w, r->dim * k, &f));
  ProductMBlock(p, r->dim, k, x, y, w, f);
  PetscCall(PetscFree2(w, f));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The alpha q q' (x) G0^-1 terms that stay within one level: (i,i), (s,s), (d,d), and (s,d) when the two
   parents are one level (a group of both). */
static PetscErrorCode RelationshipBlockDiagonal_Pedigree(Relationship r, PetscReal D[], PetscInt smax, const PetscInt bfirst[], const PetscInt pos[])
{
  const PedigreeTerm *p = (const PedigreeTerm *)r->data;
  const PetscInt      m = r->dim;

  PetscFunctionBeginUser;
  for (PetscInt a = 0; a < p->n; a++) {
    const int32_t i      = p->self ? p->self[a] : p->self_first + (int32_t)(a * m);
    const int32_t par[2] = {p->parent[2 * a], p->parent[2 * a + 1]};
    for (PetscInt k = 0; k < m; k++)
      for (PetscInt l = 0; l < m; l++) {
        PetscReal v = p->alpha[a] * p->Ginv[k * m + l];
        D[(size_t)(i + k) * smax + pos[i + l]] += v;
        for (int u = 0; u < 2; u++)
          for (int t = 0; t < 2; t++) {
            int32_t qu = ParentEquation(p, m, par[u], k), qt = ParentEquation(p, m, par[t], l);
            if (qu < 0 || qt < 0 || bfirst[qu] != bfirst[qt]) continue;
            D[(size_t)qu * smax + pos[qt]] += p->c[u] * p->c[t] * v;
          }
      }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipCost_Pedigree(Relationship r, PetscLogDouble *flops, PetscInt64 *bytes)
{
  const PedigreeTerm *p = (const PedigreeTerm *)r->data;

  PetscFunctionBeginUser;
  *flops = (PetscLogDouble)p->n * (8.0 * r->dim + 2.0 * r->dim * r->dim);
  *bytes = (PetscInt64)p->n * (8 + 8 + (p->self ? 4 : 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A^-1 by Henderson's rules, from this rank's animals (the groups numbered after the animals). */
static PetscErrorCode RelationshipStructure_Pedigree(Relationship r, PetscCount *n, PetscInt **rows, PetscInt **cols, PetscReal **values)
{
  PetscFunctionBeginUser;
  PetscCall(PedigreeGetInverseEntries(r->pedigree, n, rows, cols, values));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A^-1 as families: alpha_i q_i q_i' over (child, sire, dam), a parent that is a group standing for the group
   (numbered after the animals), the same parent twice one member with both coefficients. */
static PetscErrorCode RelationshipTerms_Pedigree(Relationship r, RelationshipTerms *terms)
{
  PetscInt         start, n, nlevels = r->block->nlevels;
  const PetscInt  *sire, *dam;
  const PetscReal *alpha;
  PetscReal        c[2];

  PetscFunctionBeginUser;
  PetscCall(PedigreeGetLocal(r->pedigree, &start, &n, &sire, &dam, &alpha, NULL));
  PetscCall(PedigreeGetParentCoefficients(r->pedigree, c));
  PetscCall(RelationshipTermsReserve(terms, n, 3));
  for (PetscInt a = 0; a < n; a++) {
    PetscInt  level[3] = {start + a}, parent[2] = {sire[a], dam[a]}, m = 1;
    PetscReal q[3] = {1}, value[9];
    for (int k = 0; k < 2; k++) {
      PetscInt l = parent[k] >= 0 ? parent[k] : nlevels + (-2 - parent[k]), at = m;
      if (parent[k] == -1) continue;
      for (PetscInt j = 1; j < m; j++)
        if (level[j] == l) at = j;
      if (at == m) {
        level[m] = l;
        q[m++]   = 0;
      }
      q[at] -= c[k];
    }
    for (PetscInt i = 0; i < m; i++)
      for (PetscInt j = 0; j < m; j++) value[i * m + j] = alpha[a] * q[i] * q[j];
    PetscCall(RelationshipTermsAdd(terms, m, level, value, start + a));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Unknown-parent groups (QP) have no log-determinant or sampling here: A is then not a covariance matrix of
   the animals alone. */
static PetscErrorCode RelationshipHasOperation_Pedigree(Relationship r, RelationshipOperation op, PetscBool *has)
{
  PedigreeStats stats;

  PetscFunctionBeginUser;
  if (op != RELATIONSHIP_OP_LOGDET && op != RELATIONSHIP_OP_SAMPLE) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(r->pedigree, r->comm, PETSC_ERR_ARG_WRONGSTATE, "call RelationshipSetEquations() first");
  PetscCall(PedigreeGetStats(r->pedigree, &stats));
  if (stats.groups) *has = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipWhyNot_Pedigree(Relationship r, RelationshipOperation op, const char **why)
{
  PetscFunctionBeginUser;
  (void)r, (void)op;
  *why = "not with unknown-parent groups (leave out the groups line)";
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* |A| = prod_i 1 / alpha_i. */
static PetscErrorCode RelationshipLogDet_Pedigree(Relationship r, PetscReal *logdet)
{
  PetscInt         n;
  const PetscReal *alpha;
  PetscReal        local = 0;

  PetscFunctionBeginUser;
  PetscCall(PedigreeGetLocal(r->pedigree, NULL, &n, NULL, NULL, &alpha, NULL));
  for (PetscInt i = 0; i < n; i++) local -= PetscLogReal(alpha[i]);
  PetscCallMPI(MPI_Allreduce(&local, logdet, 1, MPIU_REAL, MPI_SUM, r->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0, which holds the whole pedigree: u = c_0 u_sire + c_1 u_dam + sqrt(1/alpha) L z, parents before
   progeny (as many passes as generations are out of order in the animals' numbering). */
static PetscErrorCode SampleRoot(Relationship r, uint64_t seed, uint64_t sample, const PetscReal L[], Vec truth)
{
  const PetscInt  *sire, *dam;
  const PetscReal *alpha;
  PetscReal       *u, c[2];
  char            *done;
  PedigreeStats    stats;
  PetscInt         n, left, *rows, dim = r->dim;

  PetscFunctionBeginUser;
  PetscCall(PedigreeGetStats(r->pedigree, &stats));
  n = left = stats.animals;
  PetscCall(PedigreeGetArrays(r->pedigree, &sire, &dam, NULL, &alpha));
  PetscCall(PedigreeGetParentCoefficients(r->pedigree, c));
  PetscCall(PetscMalloc3(n * dim + 1, &u, n + 1, &done, n * dim + 1, &rows));
  PetscCall(PetscArrayzero(done, n));
  while (left) {
    PetscInt before = left;
    for (PetscInt i = 0; i < n; i++) {
      PetscReal m = PetscSqrtReal(1 / alpha[i]), z[64];
      if (done[i] || (sire[i] >= 0 && !done[sire[i]]) || (dam[i] >= 0 && !done[dam[i]])) continue;
      for (PetscInt j = 0; j < dim; j++) z[j] = HendersonKeyedNormal(seed, sample, (uint64_t)r->g, (uint64_t)i, (uint64_t)j);
      for (PetscInt j = 0; j < dim; j++) {
        PetscReal v = 0;
        for (PetscInt k = 0; k <= j; k++) v += L[j * dim + k] * z[k];
        u[i * dim + j] = m * v + (sire[i] >= 0 ? c[0] * u[sire[i] * dim + j] : 0) + (dam[i] >= 0 ? c[1] * u[dam[i] * dim + j] : 0);
      }
      done[i] = 1;
      left--;
    }
    PetscCheck(left < before, PETSC_COMM_SELF, PETSC_ERR_PLIB, "the pedigree has a loop");
  }
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < dim; j++) rows[i * dim + j] = EquationsBlockEquation(r->block, i, j);
  PetscCall(VecSetValues(truth, n * dim, rows, u, INSERT_VALUES));
  PetscCall(PetscFree3(u, done, rows));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipSample_Pedigree(Relationship r, uint64_t seed, uint64_t sample, const PetscReal L[], Vec truth)
{
  PetscErrorCode ierr = PETSC_SUCCESS;

  PetscFunctionBeginUser;
  if (r->rank == 0) ierr = SampleRoot(r, seed, sample, L, truth);
  PetscCall(HendersonAgree(r->comm, ierr));
  PetscCall(VecAssemblyBegin(truth));
  PetscCall(VecAssemblyEnd(truth));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* F of the animals LO..HI-1, wherever PedigreeDistribute() put them. */
static PetscErrorCode RelationshipInbreeding_Pedigree(Relationship r, PetscInt lo, PetscInt hi, PetscReal **F)
{
  PetscInt         start, n;
  const PetscReal *inbreeding;
  Vec              from, to;
  IS               is;
  VecScatter       scatter;

  PetscFunctionBeginUser;
  PetscCall(PedigreeGetLocal(r->pedigree, &start, &n, NULL, NULL, NULL, &inbreeding));
  PetscCall(PetscMalloc1(hi - lo + 1, F));
  PetscCall(VecCreateMPIWithArray(r->comm, 1, n, PETSC_DECIDE, (const PetscScalar *)inbreeding, &from));
  PetscCall(VecCreateSeqWithArray(PETSC_COMM_SELF, 1, hi - lo, (PetscScalar *)*F, &to));
  PetscCall(ISCreateStride(PETSC_COMM_SELF, hi - lo, lo, 1, &is));
  PetscCall(VecScatterCreate(from, is, to, NULL, &scatter));
  PetscCall(VecScatterBegin(scatter, from, to, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(scatter, from, to, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterDestroy(&scatter));
  PetscCall(ISDestroy(&is));
  PetscCall(VecDestroy(&to));
  PetscCall(VecDestroy(&from));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipView_Pedigree(Relationship r, PetscViewer viewer)
{
  PedigreeStats stats;
  PetscBool     inbreeding;

  PetscFunctionBeginUser;
  PetscCall(PedigreeGetStats(r->pedigree, &stats));
  PetscCall(PedigreeGetUseInbreeding(r->pedigree, &inbreeding));
  PetscCall(PetscViewerASCIIPrintf(viewer, " (A-inverse by Henderson's rules%s%s)", inbreeding ? " with inbreeding" : ", inbreeding left out",
                                   stats.groups ? ", unknown-parent groups by QP" : ""));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipDestroy_Pedigree(Relationship r)
{
  PedigreeTerm *p = (PedigreeTerm *)r->data;

  PetscFunctionBeginUser;
  PetscCall(PetscFree(p->Ginv));
  PetscCall(PetscFree3(p->parent, p->alpha, p->upg));
  PetscCall(PetscFree(p->self));
  PetscCall(PetscFree(r->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipCreate_Pedigree(Relationship r)
{
  PedigreeTerm *p;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&p));
  r->data               = p;
  r->level_bytes        = 20; /* parents (2 x 4), alpha (8), and the local index of itself (4) when not consecutive */
  r->level_entries      = 3;  /* itself and its two parents */
  r->ops->setup         = RelationshipSetUp_Pedigree;
  r->ops->needed        = RelationshipNeeded_Pedigree;
  r->ops->localize      = RelationshipLocalize_Pedigree;
  r->ops->multadd       = RelationshipMultAdd_Pedigree;
  r->ops->multaddblock  = RelationshipMultAddBlock_Pedigree;
  r->ops->blockdiagonal = RelationshipBlockDiagonal_Pedigree;
  r->ops->cost          = RelationshipCost_Pedigree;
  r->ops->structure     = RelationshipStructure_Pedigree;
  r->ops->logdet        = RelationshipLogDet_Pedigree;
  r->ops->sample        = RelationshipSample_Pedigree;
  r->ops->inbreeding    = RelationshipInbreeding_Pedigree;
  r->ops->terms         = RelationshipTerms_Pedigree;
  r->ops->hasoperation  = RelationshipHasOperation_Pedigree;
  r->ops->whynot        = RelationshipWhyNot_Pedigree;
  r->ops->view          = RelationshipView_Pedigree;
  r->ops->destroy       = RelationshipDestroy_Pedigree;
  PetscFunctionReturn(PETSC_SUCCESS);
}
