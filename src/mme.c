#include "mmeimpl.h"
#include <petscblaslapack.h>

const char *const MMEOperatorTypes[] = {"auto", "data", "assembled", "MMEOperatorType", "MME_OPERATOR_", NULL};

PetscErrorCode MMECreate(MPI_Comm comm, MME *mme)
{
  PetscFunctionBeginUser;
  PetscCall(PetscNew(mme));
  (*mme)->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &(*mme)->rank));
  PetscCallMPI(MPI_Comm_size(comm, &(*mme)->size));
  (*mme)->type = MME_OPERATOR_AUTO;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEDestroy(MME *mme)
{
  PetscFunctionBeginUser;
  if (!*mme) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(MatDestroy(&(*mme)->C));
  PetscCall(MatDestroy(&(*mme)->P));
  PetscCall(VecDestroy(&(*mme)->rhs));
  PetscCall(PetscLayoutDestroy(&(*mme)->layout));
  PetscCall(PetscFree(*mme));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMESetOperatorType(MME mme, MMEOperatorType type)
{
  PetscFunctionBeginUser;
  PetscCheck(!mme->C, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "the operator type is set before MMEAssemble()");
  mme->type = type;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEGetOperatorType(MME mme, MMEOperatorType *type)
{
  PetscFunctionBeginUser;
  *type = mme->type;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMESetFromOptions(MME mme)
{
  PetscFunctionBeginUser;
  PetscOptionsBegin(mme->comm, NULL, "Mixed model equations", "MME");
  PetscCall(PetscOptionsEnum("-mme_operator", "How C is applied: from the records and pedigree (data), or as an assembled AIJ matrix", "MMESetOperatorType",
                             MMEOperatorTypes, (PetscEnum)mme->type, (PetscEnum *)&mme->type, NULL));
  PetscOptionsEnd();
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* auto: the data operator unless the preconditioner named on the command line needs C's entries. */
static PetscErrorCode ResolveOperatorType(MME mme)
{
  char      pc[64];
  PetscBool set, diagonal = PETSC_TRUE;

  PetscFunctionBeginUser;
  mme->operator= mme->type;
  if (mme->type != MME_OPERATOR_AUTO) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscOptionsGetString(NULL, NULL, "-pc_type", pc, sizeof(pc), &set));
  if (set) {
    const char *diagonal_types[] = {"jacobi", "pbjacobi", "vpbjacobi", "none"};
    diagonal                     = PETSC_FALSE;
    for (size_t k = 0; k < sizeof(diagonal_types) / sizeof(diagonal_types[0]); k++) {
      PetscBool same;
      PetscCall(PetscStrcmp(pc, diagonal_types[k], &same));
      diagonal = (PetscBool)(diagonal || same);
    }
  }
  mme->operator= diagonal ? MME_OPERATOR_DATA : MME_OPERATOR_ASSEMBLED;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode InvertSPD(PetscInt n, PetscReal A[])
{
  PetscBLASInt bn, info;

  PetscFunctionBeginUser;
  if (!n) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscBLASIntCast(n, &bn));
  LAPACKpotrf_("U", &bn, A, &bn, &info);
  PetscCheck(!info, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "a (co)variance matrix is not positive definite");
  LAPACKpotri_("U", &bn, A, &bn, &info);
  PetscCheck(!info, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK potri failed: %d", (int)info);
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < i; j++) A[j * n + i] = A[i * n + j];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GroupInverse(const ModelGroup *group, PetscReal **Ginv)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(group->dim * group->dim, Ginv));
  PetscCall(PetscArraycpy(*Ginv, group->covariance, group->dim * group->dim));
  PetscCall(InvertSPD(group->dim, *Ginv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The K-th effect in slot order: the model's order with the social effect moved to the end. */
static inline PetscInt SlotEffectOrder(const RecordTerms *rt, PetscInt k)
{
  if (rt->social < 0 || k < rt->social) return k;
  return k + 1 < rt->neffects ? k + 1 : rt->social;
}

PetscErrorCode RecordTermsCreate(Model model, Equations eq, Records records, RecordTerms *rt)
{
  const PetscReal *R0;
  PetscInt         s = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(rt, sizeof(*rt)));
  rt->model = model;
  PetscCall(ModelGetSocialEffect(model, &rt->social, NULL));
  if (rt->social >= 0) PetscCall(RecordsGetSocial(records, &rt->mate_offset, &rt->mates, NULL, &rt->max_mates));
  rt->eq = eq;
  PetscCall(ModelGetNumEffects(model, &rt->neffects));
  PetscCall(ModelGetNumTraits(model, &rt->ntraits));
  PetscCall(ModelGetResidual(model, &R0));
  PetscCall(PetscArraycpy(rt->R0, R0, rt->ntraits * rt->ntraits));
  PetscCall(PetscCalloc1((size_t)1 << rt->ntraits, &rt->rinv));
  PetscCall(RecordsGetTraits(records, &rt->y));
  PetscCall(RecordsGetWeights(records, &rt->w));
  rt->weighted = rt->w ? PETSC_TRUE : PETSC_FALSE;
  PetscCall(PetscMalloc4(rt->neffects, &rt->level, rt->neffects, &rt->value, rt->neffects, &rt->model_effect, rt->neffects, &rt->layout));
  PetscCall(PetscMalloc4(rt->neffects, &rt->block, rt->neffects, &rt->centre, rt->neffects, &rt->scale, rt->neffects, &rt->range));
  for (PetscInt e = 0; e < rt->neffects; e++) {
    PetscCall(ModelGetEffect(model, e, &rt->model_effect[e]));
    PetscCall(RecordsGetEffect(records, e, &rt->level[e], &rt->value[e]));
    PetscCall(EquationsGetEffect(eq, e, &rt->layout[e]));
    PetscCall(EquationsGetBlock(eq, rt->layout[e]->block, &rt->block[e]));
    rt->centre[e] = 0;
    rt->scale[e]  = 1;
    if (rt->value[e]) {
      PetscCall(RecordsGetCovariateScaling(records, e, &rt->centre[e], &rt->scale[e]));
      PetscCall(RecordsGetLegendreRange(records, e, rt->range[e]));
    }
    rt->nslots += rt->layout[e]->ntraits * rt->layout[e]->ncoef * (e == rt->social ? rt->max_mates : 1);
  }
  PetscCall(PetscMalloc3(rt->nslots + 1, &rt->trait, rt->nslots + 1, &rt->cov, rt->nslots + 1, &rt->effect));
  PetscCall(PetscMalloc4(rt->nslots + 1, &rt->eq_, rt->nslots + 1, &rt->first_, rt->nslots + 1, &rt->coef_, rt->nslots + 1, &rt->level_));
  PetscCall(PetscMalloc1(rt->nslots + 1, &rt->position));
  for (PetscInt k = 0; k < rt->neffects; k++) { /* the social effect's slots last (RecordTermsGet()) */
    const PetscInt e = SlotEffectOrder(rt, k);
    if (e == rt->social) {
      PetscInt shared = -1;
      rt->dilution    = rt->model_effect[e]->dilution;
      if (rt->dilution > 0 && rt->max_mates > 0) shared = rt->ncov++;
      for (PetscInt m = 0; m < rt->max_mates; m++)
        for (PetscInt i = 0; i < rt->layout[e]->ntraits; i++, s++) {
          rt->trait[s]    = rt->model_effect[e]->traits[i];
          rt->effect[s]   = e;
          rt->cov[s]      = shared;
          rt->position[s] = rt->layout[e]->slot + i;
        }
      continue;
    }
    for (PetscInt i = 0; i < rt->layout[e]->ntraits; i++)
      for (PetscInt c = 0; c < rt->layout[e]->ncoef; c++, s++) {
        rt->trait[s]    = rt->model_effect[e]->traits[i];
        rt->effect[s]   = e;
        rt->cov[s]      = rt->value[e] ? rt->ncov++ : -1;
        rt->position[s] = rt->layout[e]->slot + i * rt->layout[e]->ncoef + c;
      }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordTermsDestroy(RecordTerms *rt)
{
  PetscFunctionBeginUser;
  for (size_t k = 0; rt->rinv && k < ((size_t)1 << rt->ntraits); k++) PetscCall(PetscFree(rt->rinv[k]));
  PetscCall(PetscFree(rt->rinv));
  PetscCall(PetscFree4(rt->level, rt->value, rt->model_effect, rt->layout));
  PetscCall(PetscFree4(rt->block, rt->centre, rt->scale, rt->range));
  PetscCall(PetscFree3(rt->trait, rt->cov, rt->effect));
  PetscCall(PetscFree4(rt->eq_, rt->first_, rt->coef_, rt->level_));
  PetscCall(PetscFree(rt->position));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RecordTermsResidualInverse(RecordTerms *rt, uint32_t pattern, const PetscReal **rinv)
{
  PetscFunctionBeginUser;
  if (!rt->rinv[pattern]) {
    PetscInt  t = rt->ntraits, m = 0, which[MODEL_MAX_TRAITS];
    PetscReal sub[MODEL_MAX_TRAITS * MODEL_MAX_TRAITS], *full;
    for (PetscInt i = 0; i < t; i++)
      if (pattern >> i & 1) which[m++] = i;
    for (PetscInt i = 0; i < m; i++)
      for (PetscInt j = 0; j < m; j++) sub[i * m + j] = rt->R0[which[i] * t + which[j]];
    PetscCall(InvertSPD(m, sub));
    PetscCall(PetscCalloc1(t * t, &full));
    for (PetscInt i = 0; i < m; i++)
      for (PetscInt j = 0; j < m; j++) full[which[i] * t + which[j]] = sub[i * m + j];
    rt->rinv[pattern] = full;
  }
  *rinv = rt->rinv[pattern];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The incidence of one effect on one record: its coefficients (1 for a class, the scaled covariate,
   or the Legendre polynomials of it). */
static inline void Coefficients(const ModelEffect *effect, const PetscReal *value, PetscInt r, PetscReal centre, PetscReal scale, const PetscReal range[2],
                                PetscReal phi[])
{
  if (!value)
    phi[0] = 1.0;
  else if (effect->legendre >= 0)
    RecordsLegendre(effect->legendre, 2.0 * (value[r] - range[0]) / (range[1] - range[0]) - 1.0, phi);
  else
    phi[0] = (value[r] - centre) / scale;
}

PetscErrorCode RecordTermsGet(RecordTerms *rt, PetscInt r, RecordContribution *c)
{
  const PetscReal *yr      = rt->y + r * rt->ntraits;
  PetscInt         ntraits = rt->ntraits, s = 0;

  PetscFunctionBeginUser;
  c->eq      = rt->eq_;
  c->first   = rt->first_;
  c->coef    = rt->coef_;
  c->level   = rt->level_;
  c->pattern = 0;
  c->weight  = rt->w ? rt->w[r] : 1.0;
  for (PetscInt t = 0; t < ntraits; t++)
    if (!PetscIsNanReal(yr[t])) c->pattern |= (uint32_t)1 << t;
  PetscCall(RecordTermsResidualInverse(rt, c->pattern, &c->rinv));
  for (PetscInt t = 0; t < ntraits; t++) { /* R^-1 y, weighted */
    c->ry[t] = 0;
    for (PetscInt j = 0; j < ntraits; j++)
      if (c->pattern >> j & 1) c->ry[t] += c->rinv[t * ntraits + j] * yr[j];
    c->ry[t] *= c->weight;
  }
  for (PetscInt k = 0; k < rt->neffects; k++) {
    const PetscInt         e      = SlotEffectOrder(rt, k);
    const EquationsEffect *layout = rt->layout[e];
    const EquationsBlock  *block  = rt->block[e];
    PetscInt               l = rt->level[e] ? rt->level[e][r] : 0, ncoef = layout->ncoef, first = -1;
    PetscReal              phi[32];
    if (e == rt->social) { /* the mates' effects, each times (1/(n-1))^dilution; the known mates first, so
                              that a record's slots in use come before its padding */
      const PetscInt *mates = rt->mates + rt->mate_offset[r], nmates = rt->mate_offset[r + 1] - rt->mate_offset[r];
      PetscReal       coef = nmates ? PetscPowReal(1.0 / nmates, rt->dilution) : 1.0;
      for (PetscInt m = 0, j = 0; m < rt->max_mates; m++) {
        PetscInt mate = -1;
        while (j < nmates && mate < 0) mate = mates[j++];
        first = mate >= 0 ? block->offset + (block->start ? block->start[mate] : mate * block->size) : -1;
        for (PetscInt i = 0; i < layout->ntraits; i++, s++) {
          PetscInt q = -1;
          if (mate >= 0 && (c->pattern >> rt->trait[s] & 1)) q = EquationsBlockEquation(block, mate, layout->slot + i);
          c->eq[s]    = q;
          c->first[s] = first;
          c->coef[s]  = coef;
          c->level[s] = mate;
        }
      }
      continue;
    }
    if (l >= 0) {
      Coefficients(rt->model_effect[e], rt->value[e], r, rt->centre[e], rt->scale[e], rt->range[e], phi);
      first = block->offset + (block->start ? block->start[l] : l * block->size);
    }
    for (PetscInt i = 0; i < layout->ntraits; i++)
      for (PetscInt k = 0; k < ncoef; k++, s++) {
        PetscInt q = -1;
        if (l >= 0 && (c->pattern >> rt->trait[s] & 1) && phi[k] != 0) q = EquationsBlockEquation(block, l, layout->slot + i * ncoef + k);
        c->eq[s]    = q;
        c->first[s] = first;
        c->coef[s]  = q >= 0 ? phi[k] : 0;
        c->level[s] = l;
      }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* X'R^-1X, X'R^-1Z, Z'R^-1Z and X'R^-1y, Z'R^-1y of this rank's records: every pair of a record's
   terms adds coef coef' R^-1[trait][trait'] times the record's weight. */
static PetscErrorCode AccumulateRecords(Model model, Equations eq, Records records, Accumulator *lhs, Accumulator *rhs)
{
  PetscInt    nrecords;
  RecordTerms rt;

  PetscFunctionBeginUser;
  PetscCall(RecordsGetLocalSize(records, &nrecords));
  PetscCall(RecordTermsCreate(model, eq, records, &rt));
  for (PetscInt r = 0; r < nrecords; r++) {
    RecordContribution c;
    PetscCall(RecordTermsGet(&rt, r, &c));
    for (PetscInt a = 0; a < rt.nslots; a++) {
      if (c.eq[a] < 0) continue;
      PetscCall(AccumulatorAdd(rhs, c.eq[a], 0, c.coef[a] * c.ry[rt.trait[a]]));
      for (PetscInt b = a; b < rt.nslots; b++) {
        PetscReal v;
        if (c.eq[b] < 0) continue;
        v = c.weight * c.coef[a] * c.coef[b] * c.rinv[rt.trait[a] * rt.ntraits + rt.trait[b]];
        if (v != 0) PetscCall(AccumulatorAddSymmetric(lhs, c.eq[a], c.eq[b], v));
      }
    }
  }
  PetscCall(RecordTermsDestroy(&rt));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A^-1 (x) G0^-1 for every pedigree group, from this rank's animals (Henderson's rules, Quaas 1976;
   unknown-parent groups by the QP transformation, their equations in their own block). */
static PetscErrorCode AccumulatePedigree(Model model, Equations eq, Pedigree pedigree, Accumulator *lhs)
{
  PetscInt      ngroups;
  PetscCount    n;
  PetscInt     *rows, *cols;
  PetscReal    *values;
  PedigreeStats stats;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(model, &ngroups));
  PetscCall(PedigreeGetStats(pedigree, &stats));
  PetscCall(PedigreeGetInverseEntries(pedigree, &n, &rows, &cols, &values));
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup      *group;
    const EquationsEffect *layout;
    const EquationsBlock  *animals, *upg = NULL;
    PetscReal             *Ginv;
    PetscInt               dim;
    PetscCall(ModelGetGroup(model, g, &group));
    if (group->structure != MODEL_STRUCTURE_PEDIGREE) continue;
    dim = group->dim;
    PetscCall(EquationsGetEffect(eq, group->first, &layout));
    PetscCall(EquationsGetBlock(eq, layout->block, &animals));
    if (layout->group_block >= 0) PetscCall(EquationsGetBlock(eq, layout->group_block, &upg));
    PetscCall(GroupInverse(group, &Ginv));
    for (PetscCount k = 0; k < n; k++) {
      PetscInt              i = rows[k], j = cols[k];
      const EquationsBlock *bi = i < stats.animals ? animals : upg, *bj = j < stats.animals ? animals : upg;
      PetscInt              li = i < stats.animals ? i : i - stats.animals, lj = j < stats.animals ? j : j - stats.animals;
      for (PetscInt p = 0; p < dim; p++) {
        PetscInt ep = EquationsBlockEquation(bi, li, p);
        if (ep < 0) continue;
        for (PetscInt q = (i == j ? p : 0); q < dim; q++) {
          PetscInt eq_ = EquationsBlockEquation(bj, lj, q);
          if (eq_ < 0 || Ginv[p * dim + q] == 0) continue;
          PetscCall(AccumulatorAddSymmetric(lhs, ep, eq_, values[k] * Ginv[p * dim + q]));
        }
      }
    }
    PetscCall(PetscFree(Ginv));
  }
  PetscCall(PetscFree3(rows, cols, values));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* I (x) G0^-1 for every iid group, on an even share of its levels. */
static PetscErrorCode AccumulateIdentity(MME mme, Model model, Equations eq, Accumulator *lhs)
{
  PetscInt ngroups;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(model, &ngroups));
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup      *group;
    const EquationsEffect *layout;
    const EquationsBlock  *block;
    PetscReal             *Ginv;
    PetscInt               dim, lo, hi;
    PetscCall(ModelGetGroup(model, g, &group));
    if (group->structure != MODEL_STRUCTURE_IID) continue;
    dim = group->dim;
    PetscCall(EquationsGetEffect(eq, group->first, &layout));
    PetscCall(EquationsGetBlock(eq, layout->block, &block));
    PetscCall(GroupInverse(group, &Ginv));
    lo = (PetscInt)((PetscInt64)block->nlevels * mme->rank / mme->size);
    hi = (PetscInt)((PetscInt64)block->nlevels * (mme->rank + 1) / mme->size);
    for (PetscInt l = lo; l < hi; l++)
      for (PetscInt p = 0; p < dim; p++)
        for (PetscInt q = p; q < dim; q++)
          if (Ginv[p * dim + q] != 0)
            PetscCall(AccumulatorAddSymmetric(lhs, EquationsBlockEquation(block, l, p), EquationsBlockEquation(block, l, q), Ginv[p * dim + q]));
    PetscCall(PetscFree(Ginv));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Every equation must carry information: a zero or negative diagonal means an effect without data. */
static PetscErrorCode CheckDiagonal(MME mme, Model model, Equations eq)
{
  Vec       d;
  PetscInt  where, neffects;
  PetscReal smallest;

  PetscFunctionBeginUser;
  PetscCall(MatCreateVecs(mme->P, &d, NULL));
  PetscCall(MatGetDiagonal(mme->P, d));
  PetscCall(VecMin(d, &where, &smallest));
  PetscCall(VecDestroy(&d));
  if (smallest > 0) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetNumEffects(model, &neffects));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect     *effect;
    const EquationsEffect *layout;
    const EquationsBlock  *block;
    PetscCall(ModelGetEffect(model, e, &effect));
    PetscCall(EquationsGetEffect(eq, e, &layout));
    PetscCall(EquationsGetBlock(eq, layout->block, &block));
    if (where < block->offset || where >= block->offset + block->nequations) continue;
    SETERRQ(mme->comm, PETSC_ERR_USER_INPUT,
            "effect '%s' has no information on one of its equations (equation %" PetscInt_FMT "): a covariate that is zero on all its records?", effect->name,
            where);
  }
  SETERRQ(mme->comm, PETSC_ERR_PLIB, "equation %" PetscInt_FMT " has diagonal %g", where, (double)smallest);
}

/* The rows of every rank, chosen so that each moves the same bytes in a CG iteration. Rows are
   grouped in consecutive buckets whose bytes every rank has counted (WEIGHT), summed over ranks; the
   split points are put where the running weight reaches r/size of the whole, then moved to the next
   level boundary so that a level (a point block) is not split. Without this, the first rank -- which
   holds the fixed effects, rows as long as the data -- does most of the work. */
PetscErrorCode MMEBalancedLayout(MME mme, Equations eq, PetscInt n, PetscInt nbuckets, PetscInt64 weight[])
{
  PetscInt   *split;
  PetscInt64 *total, sum = 0, all = 0;
  PetscMPIInt size = mme->size;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(nbuckets + 1, &total));
  PetscCall(PetscMalloc1(size + 1, &split));
  if (!mme->rank) /* the vectors of CG: 156 bytes a row, counted once */
    for (PetscInt b = 0; b < nbuckets; b++) {
      PetscInt64 first = ((PetscInt64)b * n + nbuckets - 1) / nbuckets, next = ((PetscInt64)(b + 1) * n + nbuckets - 1) / nbuckets;
      weight[b] += 156 * (next - first);
    }
  PetscCallMPI(MPI_Allreduce(weight, total, (PetscMPIInt)nbuckets, MPIU_INT64, MPI_SUM, mme->comm));
  for (PetscInt b = 0; b < nbuckets; b++) all += total[b];
  split[0]    = 0;
  split[size] = n;
  for (PetscMPIInt r = 1, b = 0; r < size; r++) {
    while (b < nbuckets && sum * size < all * r) sum += total[b++];
    split[r] = (PetscInt)(((PetscInt64)b * n + nbuckets - 1) / nbuckets);
    PetscCall(EquationsLevelBoundary(eq, split[r], &split[r]));
    split[r] = PetscMax(split[r], split[r - 1]);
  }
  PetscCall(PetscLayoutCreate(mme->comm, &mme->layout));
  PetscCall(PetscLayoutSetSize(mme->layout, n));
  PetscCall(PetscLayoutSetLocalSize(mme->layout, split[mme->rank + 1] - split[mme->rank]));
  PetscCall(PetscLayoutSetUp(mme->layout));
  PetscCall(PetscFree(total));
  PetscCall(PetscFree(split));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Bytes of the assembled AIJ iteration: AIJ_ENTRY_BYTES a nonzero (value and column index: 12, or 16
   with 64-bit indices) and 156 a row (row pointer, x, y and the vectors of CG with Jacobi); the vector
   part is counted once, on rank 0. */
#define AIJ_ENTRY_BYTES ((PetscInt64)(sizeof(PetscScalar) + sizeof(PetscInt)))
static PetscErrorCode AssembledLayout(MME mme, Equations eq, const Accumulator *acc, PetscInt n)
{
  PetscInt    nbuckets = (PetscInt)PetscMin((PetscInt64)n, 65536);
  PetscInt64 *weight;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(nbuckets + 1, &weight));
  for (size_t s = 0; s < acc->nslots; s++) {
    PetscInt i = acc->row[s], j = acc->col[s];
    if (i < 0) continue;
    weight[MMEBucket(i, n, nbuckets)] += AIJ_ENTRY_BYTES;
    if (i != j) weight[MMEBucket(j, n, nbuckets)] += AIJ_ENTRY_BYTES;
  }
  PetscCall(MMEBalancedLayout(mme, eq, n, nbuckets, weight));
  PetscCall(PetscFree(weight));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Ghost values and neighbours of the assembled matrix's product: the columns of its off-diagonal part. */
static PetscErrorCode AssembledCommunication(MME mme)
{
  Mat             Ao;
  const PetscInt *garray, *ranges;
  PetscInt        nghost = 0, neighbours = 0, owned;
  PetscInt64      ghosts, messages;

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetRanges(mme->layout, &ranges));
  if (mme->size > 1) {
    PetscCall(MatMPIAIJGetSeqAIJ(mme->C, NULL, &Ao, &garray));
    PetscCall(MatGetSize(Ao, NULL, &nghost));
    for (PetscInt k = 0, last = -1; k < nghost; k++) { /* garray is sorted */
      PetscMPIInt owner;
      PetscCall(PetscLayoutFindOwner(mme->layout, garray[k], &owner));
      if (owner != last) neighbours++;
      last = owner;
    }
  }
  owned    = ranges[mme->rank + 1] - ranges[mme->rank];
  ghosts   = nghost;
  messages = neighbours;
  PetscCallMPI(MPI_Allreduce(&ghosts, &mme->stats.ghosts, 1, MPIU_INT64, MPI_SUM, mme->comm));
  PetscCallMPI(MPI_Allreduce(&messages, &mme->stats.messages, 1, MPIU_INT64, MPI_SUM, mme->comm));
  PetscCallMPI(MPI_Allreduce(&nghost, &mme->stats.ghosts_max, 1, MPIU_INT, MPI_MAX, mme->comm));
  PetscCallMPI(MPI_Allreduce(&neighbours, &mme->stats.neighbours_max, 1, MPIU_INT, MPI_MAX, mme->comm));
  PetscCallMPI(MPI_Allreduce(&owned, &mme->stats.owned_min, 1, MPIU_INT, MPI_MIN, mme->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode AssembleMatrix(MME mme, Model model, Equations eq, Records records, Pedigree pedigree)
{
  PetscInt    n, rstart, rend, nrecords, even_start, even_end;
  Accumulator lhs, rhs;
  PetscBool   has_pedigree;

  PetscFunctionBeginUser;
  PetscCall(EquationsGetSize(eq, &n));
#if defined(PETSC_USE_64BIT_INDICES)
  /* the sorted keys (AccumulatorToSortedKeys) hold the row and the column in 32 bits each */
  PetscCheck(n <= (PetscInt)UINT32_MAX, mme->comm, PETSC_ERR_SUP,
             "%" PetscInt_FMT " equations: the assembled operator takes at most %" PetscInt_FMT "; use -mme_operator data", n, (PetscInt)UINT32_MAX);
#endif
  PetscCall(ModelHasPedigreeEffect(model, &has_pedigree));
  /* Work is shared out evenly before the rows are (BalancedLayout); where an entry is produced does
     not matter: the COO assembly sends it to the owner of its row. */
  even_start = (PetscInt)((PetscInt64)n * mme->rank / mme->size);
  even_end   = (PetscInt)((PetscInt64)n * (mme->rank + 1) / mme->size);
  if (has_pedigree) {
    PetscInt     *animal_ranges;
    PedigreeStats stats;
    PetscCheck(pedigree, mme->comm, PETSC_ERR_ARG_NULL, "the model has a pedigree effect but no pedigree was given");
    PetscCall(PedigreeGetStats(pedigree, &stats));
    PetscCall(PetscMalloc1(mme->size + 1, &animal_ranges));
    for (PetscMPIInt r = 0; r <= mme->size; r++) animal_ranges[r] = (PetscInt)((PetscInt64)stats.animals * r / mme->size);
    PetscCall(PedigreeDistribute(pedigree, animal_ranges));
    PetscCall(PetscFree(animal_ranges));
  }

  PetscCall(RecordsGetLocalSize(records, &nrecords));
  {
    /* distinct upper-triangle entries, roughly: a record's terms each meet its animal's (2 a term),
       an animal of this rank adds about 3 positions of A-inverse times its groups' G0, a row 1 */
    PetscInt  neffects, ngroups, nanimals = 0;
    PetscReal expected = (PetscReal)(even_end - even_start);
    PetscCall(ModelGetNumEffects(model, &neffects));
    PetscCall(ModelGetNumGroups(model, &ngroups));
    for (PetscInt e = 0; e < neffects; e++) {
      const EquationsEffect *layout;
      PetscCall(EquationsGetEffect(eq, e, &layout));
      expected += 2.0 * nrecords * layout->ntraits * layout->ncoef;
    }
    if (has_pedigree) PetscCall(PedigreeGetLocal(pedigree, NULL, &nanimals, NULL, NULL, NULL, NULL));
    for (PetscInt g = 0; g < ngroups; g++) {
      const ModelGroup *group;
      PetscCall(ModelGetGroup(model, g, &group));
      if (group->structure == MODEL_STRUCTURE_PEDIGREE) expected += 3.0 * nanimals * group->dim * group->dim;
    }
    PetscCall(AccumulatorCreate((size_t)expected, &lhs));
  }
  PetscCall(AccumulatorCreate((size_t)(even_end - even_start) + 64, &rhs));
  PetscCall(AccumulateRecords(model, eq, records, &lhs, &rhs));
  if (has_pedigree) PetscCall(AccumulatePedigree(model, eq, pedigree, &lhs));
  PetscCall(AccumulateIdentity(mme, model, eq, &lhs));
  PetscCall(PetscInfo(NULL, "%zu distinct upper-triangle entries accumulated on this rank\n", lhs.n));
  if (!mme->layout) PetscCall(AssembledLayout(mme, eq, &lhs, n));
  PetscCall(PetscLayoutGetRange(mme->layout, &rstart, &rend));
  PetscCall(PetscInfo(NULL, "rows %" PetscInt_FMT " to %" PetscInt_FMT " of %" PetscInt_FMT "\n", rstart, rend, n));

  /* Both triangles go to PETSc; the off-process ones are sent to their owners by the COO assembly.
     A later assembly (new variances) finds the same entries in the same order and only sets values. */
  {
    PetscCount   ncoo = 0, nkeys = 0;
    PetscInt    *ci, *cj;
    PetscScalar *cv, *values;
    uint64_t    *keys;
    PetscCall(AccumulatorToSortedKeys(&lhs, n, &nkeys, &keys, &values));
    PetscCall(ExchangeToOwners(mme->comm, mme->layout, nkeys, keys, values, &ncoo, &ci, &cj, &cv));
    PetscCall(PetscFree2(keys, values));
    if (!mme->structure) {
      PetscCall(MatCreate(mme->comm, &mme->C));
      PetscCall(MatSetSizes(mme->C, rend - rstart, rend - rstart, n, n));
      PetscCall(MatSetType(mme->C, MATAIJ));
      PetscCall(MatSetOption(mme->C, MAT_SYMMETRIC, PETSC_TRUE));
      PetscCall(MatSetOption(mme->C, MAT_SYMMETRY_ETERNAL, PETSC_TRUE));
      PetscCall(MatSetPreallocationCOO(mme->C, ncoo, ci, cj));
      {
        /* the levels: traits, correlated effects and coefficients of one level, for point-block Jacobi */
        PetscInt nblocks, *sizes;
        PetscCall(EquationsGetPointBlocks(eq, rstart, rend, &nblocks, &sizes));
        PetscCall(MatSetVariableBlockSizes(mme->C, nblocks, sizes));
        PetscCall(PetscFree(sizes));
      }
      mme->ncoo      = ncoo;
      mme->structure = PETSC_TRUE;
    }
    PetscCheck(ncoo == mme->ncoo, mme->comm, PETSC_ERR_PLIB, "the structure of the equations changed between assemblies");
    PetscCall(MatSetValuesCOO(mme->C, cv, INSERT_VALUES));
    PetscCall(PetscFree3(ci, cj, cv));
    mme->stats.local_entries = (PetscInt64)ncoo;
  }

  /* right-hand side */
  if (!mme->rhs) PetscCall(MatCreateVecs(mme->C, NULL, &mme->rhs));
  PetscCall(VecZeroEntries(mme->rhs));
  PetscCall(AccumulatorAddToVector(mme->comm, mme->layout, &rhs, mme->rhs));

  {
    MatInfo    info;
    PetscInt64 local = mme->stats.local_entries;
    PetscCall(MatGetInfo(mme->C, MAT_GLOBAL_SUM, &info));
    mme->stats.equations      = n;
    mme->stats.nonzeros       = (PetscInt64)info.nz_used;
    mme->stats.operator_bytes = AIJ_ENTRY_BYTES * mme->stats.nonzeros + (PetscInt64)sizeof(PetscInt) * n;
    PetscCallMPI(MPI_Allreduce(&local, &mme->stats.local_entries, 1, MPIU_INT64, MPI_MAX, mme->comm));
  }
  PetscCall(PetscObjectReference((PetscObject)mme->C));
  PetscCall(MatDestroy(&mme->P));
  mme->P = mme->C;
  PetscCall(AssembledCommunication(mme));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEAssemble(MME mme, Model model, Equations eq, Records records, Pedigree pedigree)
{
  PetscBool has_pedigree;

  PetscFunctionBeginUser;
  PetscCall(ModelHasPedigreeEffect(model, &has_pedigree));
  PetscCheck(!has_pedigree || pedigree, mme->comm, PETSC_ERR_ARG_NULL, "the model has a pedigree effect but no pedigree was given");
  PetscCall(ResolveOperatorType(mme));
  mme->stats.operator= mme->operator;
  if (mme->operator== MME_OPERATOR_ASSEMBLED)
    PetscCall(AssembleMatrix(mme, model, eq, records, has_pedigree ? pedigree : NULL));
  else {
    PetscCall(MatDestroy(&mme->C));
    PetscCall(MatDestroy(&mme->P));
    PetscCall(VecDestroy(&mme->rhs));
    PetscCall(MMEDataCreate(mme, model, eq, records, has_pedigree ? pedigree : NULL, &mme->C, &mme->P, &mme->rhs));
  }
  PetscCall(CheckDiagonal(mme, model, eq));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEGetSystem(MME mme, Mat *C, Mat *P, Vec *rhs)
{
  PetscFunctionBeginUser;
  if (C) *C = mme->C;
  if (P) *P = mme->P;
  if (rhs) *rhs = mme->rhs;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEGetStats(MME mme, MMEStats *stats)
{
  PetscFunctionBeginUser;
  *stats = mme->stats;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEAssembleFixed(MPI_Comm comm, Model model, Equations eq, Records records, Mat *F)
{
  PetscInt    nfixed, nrecords;
  Accumulator lhs;
  RecordTerms rt;
  PetscLayout layout;

  PetscFunctionBeginUser;
  PetscCall(EquationsGetFixedSize(eq, &nfixed));
  PetscCall(RecordsGetLocalSize(records, &nrecords));
  PetscCall(AccumulatorCreate((size_t)(nfixed + 64), &lhs));
  PetscCall(RecordTermsCreate(model, eq, records, &rt));
  for (PetscInt r = 0; r < nrecords; r++) {
    RecordContribution c;
    PetscCall(RecordTermsGet(&rt, r, &c));
    for (PetscInt a = 0; a < rt.nslots; a++) {
      if (c.eq[a] < 0 || c.eq[a] >= nfixed) continue;
      for (PetscInt b = a; b < rt.nslots; b++) {
        PetscReal v;
        if (c.eq[b] < 0 || c.eq[b] >= nfixed) continue;
        v = c.weight * c.coef[a] * c.coef[b] * c.rinv[rt.trait[a] * rt.ntraits + rt.trait[b]];
        if (v != 0) PetscCall(AccumulatorAddSymmetric(&lhs, c.eq[a], c.eq[b], v));
      }
    }
  }
  PetscCall(RecordTermsDestroy(&rt));
  PetscCall(PetscLayoutCreate(comm, &layout));
  PetscCall(PetscLayoutSetSize(layout, nfixed));
  PetscCall(PetscLayoutSetUp(layout));
  {
    PetscCount   ncoo, nkeys;
    PetscInt    *ci, *cj;
    PetscScalar *cv, *values;
    uint64_t    *keys;
    PetscCall(AccumulatorToSortedKeys(&lhs, nfixed, &nkeys, &keys, &values));
    PetscCall(ExchangeToOwners(comm, layout, nkeys, keys, values, &ncoo, &ci, &cj, &cv));
    PetscCall(PetscFree2(keys, values));
    PetscCall(MatCreateFromSortedEntries(comm, layout, ncoo, ci, cj, cv, F));
    PetscCall(PetscFree3(ci, cj, cv));
  }
  PetscCall(MatSetOption(*F, MAT_SYMMETRIC, PETSC_TRUE));
  PetscCall(PetscLayoutDestroy(&layout));
  PetscCall(AccumulatorDestroy(&lhs));
  PetscFunctionReturn(PETSC_SUCCESS);
}
