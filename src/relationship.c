#include "relationshipimpl.h"
#include <henderson/dense.h>
#include <string.h>

static PetscFunctionList RelationshipList       = NULL;
static PetscBool         RelationshipRegistered = PETSC_FALSE;

PetscErrorCode RelationshipRegister(const char name[], PetscErrorCode (*create)(Relationship))
{
  PetscFunctionBeginUser;
  PetscCall(PetscFunctionListAdd(&RelationshipList, name, create));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* At PetscFinalize(): the registry goes, and is made again by the next PetscInitialize()'s first use. */
static PetscErrorCode RelationshipFinalizePackage(void)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFunctionListDestroy(&RelationshipList));
  RelationshipRegistered = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipRegisterAll(void)
{
  PetscFunctionBeginUser;
  if (RelationshipRegistered) PetscFunctionReturn(PETSC_SUCCESS);
  RelationshipRegistered = PETSC_TRUE;
  PetscCall(PetscRegisterFinalize(RelationshipFinalizePackage));
  PetscCall(RelationshipRegister(RELATIONSHIPIID, RelationshipCreate_IID));
  PetscCall(RelationshipRegister(RELATIONSHIPPEDIGREE, RelationshipCreate_Pedigree));
  PetscCall(RelationshipRegister(RELATIONSHIPSINGLESTEP, RelationshipCreate_Genomic));
  PetscCall(RelationshipRegister(RELATIONSHIPGENOMIC, RelationshipCreate_Genomic));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipCreate(MPI_Comm comm, Relationship *r)
{
  PetscFunctionBeginUser;
  PetscCall(RelationshipRegisterAll());
  PetscCall(PetscNew(r));
  (*r)->comm = comm;
  (*r)->g    = -1;
  PetscCallMPI(MPI_Comm_rank(comm, &(*r)->rank));
  PetscCallMPI(MPI_Comm_size(comm, &(*r)->size));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipDestroy(Relationship *r)
{
  PetscFunctionBeginUser;
  if (!*r) PetscFunctionReturn(PETSC_SUCCESS);
  if ((*r)->ops->destroy) PetscCall((*r)->ops->destroy(*r));
  PetscCall(PetscFree2((*r)->column_x, (*r)->column_y));
  PetscCall(PetscFree(*r));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipSetGroup(Relationship r, Model model, PetscInt g)
{
  PetscFunctionBeginUser;
  r->model = model;
  r->g     = g;
  PetscCall(ModelGetGroup(model, g, &r->group));
  r->dim = r->group->dim;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipSetEquations(Relationship r, Equations eq, Pedigree pedigree)
{
  PetscFunctionBeginUser;
  PetscCheck(r->group, r->comm, PETSC_ERR_ARG_WRONGSTATE, "call RelationshipSetGroup() first");
  r->eq       = eq;
  r->pedigree = pedigree;
  r->setup    = PETSC_FALSE;
  PetscCall(EquationsGetGroupBlocks(eq, r->model, r->g, &r->block, &r->groups));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipSetGenotypes(Relationship r, Genotypes genotypes)
{
  PetscFunctionBeginUser;
  r->genotypes = genotypes;
  r->setup     = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipSetType(Relationship r, RelationshipType type)
{
  PetscErrorCode (*create)(Relationship);

  PetscFunctionBeginUser;
  if (!strcmp(r->type, type)) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFunctionListFind(RelationshipList, type, &create));
  PetscCheck(create, r->comm, PETSC_ERR_USER_INPUT, "unknown relationship type '%s'", type);
  if (r->ops->destroy) PetscCall(r->ops->destroy(r));
  PetscCall(PetscMemzero(r->ops, sizeof(struct _RelationshipOps)));
  r->data          = NULL;
  r->setup         = PETSC_FALSE;
  r->level_bytes   = 0;
  r->level_entries = 1;
  PetscCall(PetscStrncpy(r->type, type, sizeof(r->type)));
  PetscCall((*create)(r));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipSetTypeFromModel(Relationship r)
{
  PetscFunctionBeginUser;
  PetscCheck(r->group, r->comm, PETSC_ERR_ARG_WRONGSTATE, "call RelationshipSetGroup() first");
  /* the one place where the model's structure word becomes a type */
  const ModelGenotypes *genotypes;
  RelationshipType      type = RELATIONSHIPIID;
  PetscCall(ModelGetGenotypes(r->model, &genotypes));
  if (r->group->structure == MODEL_STRUCTURE_PEDIGREE)
    type = genotypes->line ? RELATIONSHIPSINGLESTEP : RELATIONSHIPPEDIGREE;
  else if (r->group->structure == MODEL_STRUCTURE_GENOMIC)
    type = RELATIONSHIPGENOMIC;
  PetscCall(RelationshipSetType(r, type));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipGetType(Relationship r, RelationshipType *type)
{
  PetscFunctionBeginUser;
  *type = r->type;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipSetFromOptions(Relationship r)
{
  char               prefix[MODEL_MAX_NAME + 32];
  const ModelEffect *first;

  PetscFunctionBeginUser;
  PetscCheck(r->group && r->type[0], r->comm, PETSC_ERR_ARG_WRONGSTATE, "set the group and the type first");
  PetscCall(ModelGetEffect(r->model, r->group->first, &first));
  snprintf(prefix, sizeof(prefix), "relationship_%s_", first->name);
  PetscOptionsBegin(r->comm, prefix, "Relationship (K of a random group)", "Relationship");
  if (r->ops->setfromoptions) PetscCall(r->ops->setfromoptions(r, PetscOptionsObject));
  PetscOptionsEnd();
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipLevelsOfLayout(const EquationsBlock *block, PetscLayout rows, PetscMPIInt rank, PetscMPIInt size, PetscInt *lo, PetscInt *hi)
{
  const PetscInt *ranges;

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetRanges(rows, &ranges));
  PetscCall(EquationsBlockGetLocalLevels(block, ranges[rank], ranges[rank + 1], rank == size - 1 ? PETSC_TRUE : PETSC_FALSE, lo, hi));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipSetUp(Relationship r, PetscLayout rows)
{
  PetscFunctionBeginUser;
  PetscCheck(r->block && r->type[0], r->comm, PETSC_ERR_ARG_WRONGSTATE, "set the equations and the type first");
  PetscCall(RelationshipLevelsOfLayout(r->block, rows, r->rank, r->size, &r->lo, &r->hi));
  if (r->ops->setup) PetscCall(r->ops->setup(r, rows));
  r->setup = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipView(Relationship r, PetscViewer viewer)
{
  char names[1024] = "";

  PetscFunctionBeginUser;
  for (PetscInt k = 0; k < r->group->neffects; k++) {
    const ModelEffect *effect;
    PetscCall(ModelGetEffect(r->model, r->group->first + k, &effect));
    if (k) PetscCall(HendersonStrlcat(names, ",", sizeof(names)));
    PetscCall(HendersonStrlcat(names, effect->name, sizeof(names)));
  }
  PetscCall(PetscViewerASCIIPrintf(viewer, "  random      %s: K %s, %" PetscInt_FMT " levels x %" PetscInt_FMT, names, r->type,
                                   r->block ? r->block->nlevels : 0, r->dim));
  PetscCall(PetscViewerASCIIUseTabs(viewer, PETSC_FALSE)); /* the type's words go on the same line */
  if (r->ops->view) PetscCall(r->ops->view(r, viewer));
  PetscCall(PetscViewerASCIIPrintf(viewer, "\n"));
  PetscCall(PetscViewerASCIIUseTabs(viewer, PETSC_TRUE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* What each operation is, for the error of a type that cannot do it. */
static const char *const OperationWords[] = {"be applied from the data (-mme_operator data)", "give the entries of its inverse (-mme_operator assembled, REML)",
                                             "give log|K| (REML)", "be sampled (-pev sample, -reml_method mcem)", "give the inbreeding of its levels"};

PetscErrorCode RelationshipHasOperation(Relationship r, RelationshipOperation op, PetscBool *has)
{
  PetscFunctionBeginUser;
  switch (op) {
  case RELATIONSHIP_OP_PRODUCT:
    *has = r->ops->multadd && r->ops->needed && r->ops->localize && r->ops->blockdiagonal ? PETSC_TRUE : PETSC_FALSE;
    break;
  case RELATIONSHIP_OP_ENTRIES:
    *has = r->ops->structure ? PETSC_TRUE : PETSC_FALSE;
    break;
  case RELATIONSHIP_OP_LOGDET:
    *has = r->ops->logdet ? PETSC_TRUE : PETSC_FALSE;
    break;
  case RELATIONSHIP_OP_SAMPLE:
    *has = r->ops->sample ? PETSC_TRUE : PETSC_FALSE;
    break;
  case RELATIONSHIP_OP_INBREEDING:
    *has = r->ops->inbreeding ? PETSC_TRUE : PETSC_FALSE;
    break;
  }
  if (*has && r->ops->hasoperation) PetscCall(r->ops->hasoperation(r, op, has)); /* what this instance cannot do */
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipCheckOperation(Relationship r, RelationshipOperation op)
{
  PetscBool          has = PETSC_FALSE;
  const ModelEffect *first;
  const char        *why = NULL;

  PetscFunctionBeginUser;
  PetscCall(RelationshipHasOperation(r, op, &has));
  if (has) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetEffect(r->model, r->group->first, &first));
  if (r->ops->whynot) PetscCall(r->ops->whynot(r, op, &why));
  SETERRQ(r->comm, PETSC_ERR_USER_INPUT, "the relationship of '%s' (%s) cannot %s%s%s", first->name, r->type, OperationWords[op], why ? ": " : "",
          why ? why : "");
}

PetscErrorCode RelationshipGetGroup(Relationship r, const ModelGroup **group, PetscInt *g)
{
  PetscFunctionBeginUser;
  if (group) *group = r->group;
  if (g) *g = r->g;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipGetBlocks(Relationship r, const EquationsBlock **levels, const EquationsBlock **groups)
{
  PetscFunctionBeginUser;
  PetscCheck(r->block, r->comm, PETSC_ERR_ARG_WRONGSTATE, "call RelationshipSetEquations() first");
  if (levels) *levels = r->block;
  if (groups) *groups = r->groups;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipGetLocalLevels(Relationship r, PetscInt *lo, PetscInt *hi)
{
  PetscFunctionBeginUser;
  PetscCheck(r->setup, r->comm, PETSC_ERR_ARG_WRONGSTATE, "call RelationshipSetUp() first");
  *lo = r->lo;
  *hi = r->hi;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipGetCovarianceInverse(Relationship r, PetscReal **Ginv)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(r->dim * r->dim, Ginv));
  PetscCall(PetscArraycpy(*Ginv, r->group->covariance, r->dim * r->dim));
  PetscCall(DenseInvertSPD(r->dim, *Ginv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipGetLevelCost(Relationship r, PetscInt64 *bytes, PetscInt64 *entries)
{
  PetscFunctionBeginUser;
  PetscCheck(r->type[0], r->comm, PETSC_ERR_ARG_WRONGSTATE, "set the type first");
  if (bytes) *bytes = r->level_bytes;
  if (entries) *entries = r->level_entries;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipNeeded(Relationship r, RelationshipNeedFn need, void *ctx)
{
  PetscFunctionBeginUser;
  PetscCall(RelationshipCheckOperation(r, RELATIONSHIP_OP_PRODUCT));
  PetscCall(r->ops->needed(r, need, ctx));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipLocalize(Relationship r, RelationshipLocalFn local, void *ctx)
{
  PetscFunctionBeginUser;
  PetscCall(RelationshipCheckOperation(r, RELATIONSHIP_OP_PRODUCT));
  PetscCall(r->ops->localize(r, local, ctx));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipMultAdd(Relationship r, const PetscScalar *x, PetscScalar *y)
{
  PetscFunctionBeginUser;
  PetscCall(r->ops->multadd(r, x, y)); /* checked at RelationshipLocalize(): this runs every product */
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Vector J of the interleaved block X, to or from a plain array. */
static void ColumnGet(PetscInt k, PetscInt n, PetscInt j, const PetscScalar *restrict x, PetscScalar *restrict column)
{
  for (PetscInt i = 0; i < n; i++) column[i] = x[i * k + j];
}

static void ColumnSet(PetscInt k, PetscInt n, PetscInt j, const PetscScalar *restrict column, PetscScalar *restrict x)
{
  for (PetscInt i = 0; i < n; i++) x[i * k + j] = column[i];
}

PetscErrorCode RelationshipMultAddBlock(Relationship r, PetscInt k, PetscInt nlocal, const PetscScalar *x, PetscScalar *y)
{
  PetscFunctionBeginUser;
  if (k == 1) { /* a single vector: the type's own kernel */
    PetscCall(r->ops->multadd(r, x, y));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (r->ops->multaddblock && k <= RELATIONSHIP_BLOCK_MAX) {
    PetscCall(r->ops->multaddblock(r, k, x, y));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (nlocal > r->column_n) {
    PetscCall(PetscFree2(r->column_x, r->column_y));
    PetscCall(PetscMalloc2(nlocal, &r->column_x, nlocal, &r->column_y));
    r->column_n = nlocal;
  }
  for (PetscInt j = 0; j < k; j++) { /* y_j += K x_j, as RelationshipMultAdd() would (a collective type calls it K times on every rank) */
    ColumnGet(k, nlocal, j, x, r->column_x);
    ColumnGet(k, nlocal, j, y, r->column_y);
    PetscCall(r->ops->multadd(r, r->column_x, r->column_y));
    ColumnSet(k, nlocal, j, r->column_y, y);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipAddBlockDiagonal(Relationship r, PetscReal D[], PetscInt smax, const PetscInt bfirst[], const PetscInt pos[])
{
  PetscFunctionBeginUser;
  PetscCall(RelationshipCheckOperation(r, RELATIONSHIP_OP_PRODUCT));
  PetscCall(r->ops->blockdiagonal(r, D, smax, bfirst, pos));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipGetProductCost(Relationship r, PetscLogDouble *flops, PetscInt64 *bytes)
{
  PetscFunctionBeginUser;
  *flops = 0;
  *bytes = 0;
  if (r->ops->cost) PetscCall(r->ops->cost(r, flops, bytes));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipGetInverseStructure(Relationship r, PetscCount *n, PetscInt **rows, PetscInt **cols, PetscReal **values)
{
  PetscFunctionBeginUser;
  PetscCheck(r->setup, r->comm, PETSC_ERR_ARG_WRONGSTATE, "call RelationshipSetUp() first");
  PetscCall(RelationshipCheckOperation(r, RELATIONSHIP_OP_ENTRIES));
  PetscCall(r->ops->structure(r, n, rows, cols, values));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Level L of the level space (levels, then the unknown-parent groups) as its block and level there. */
static inline void LevelBlock(Relationship r, PetscInt l, const EquationsBlock **b, PetscInt *level)
{
  *b     = l < r->block->nlevels ? r->block : r->groups;
  *level = l < r->block->nlevels ? l : l - r->block->nlevels;
}

PetscErrorCode RelationshipGetEntries(Relationship r, PetscCount *n, PetscInt **rows, PetscInt **cols, PetscReal **values)
{
  PetscCount m, k = 0;
  PetscInt  *ki, *kj, dim = r->dim;
  PetscReal *kv, *Ginv;

  PetscFunctionBeginUser;
  PetscCall(RelationshipGetInverseStructure(r, &m, &ki, &kj, &kv));
  PetscCall(RelationshipGetCovarianceInverse(r, &Ginv));
  PetscCall(PetscMalloc3(m * dim * dim + 1, rows, m * dim * dim + 1, cols, m * dim * dim + 1, values));
  for (PetscCount e = 0; e < m; e++) {
    const EquationsBlock *bi, *bj;
    PetscInt              li, lj;
    LevelBlock(r, ki[e], &bi, &li);
    LevelBlock(r, kj[e], &bj, &lj);
    for (PetscInt p = 0; p < dim; p++) {
      PetscInt ep = EquationsBlockEquation(bi, li, p);
      if (ep < 0) continue;
      for (PetscInt q = (ki[e] == kj[e] ? p : 0); q < dim; q++) {
        PetscInt eq_ = EquationsBlockEquation(bj, lj, q);
        if (eq_ < 0 || Ginv[p * dim + q] == 0) continue;
        (*rows)[k]     = PetscMin(ep, eq_);
        (*cols)[k]     = PetscMax(ep, eq_);
        (*values)[k++] = kv[e] * Ginv[p * dim + q];
      }
    }
  }
  *n = k;
  PetscCall(PetscFree(Ginv));
  PetscCall(PetscFree3(ki, kj, kv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipGetLogDeterminant(Relationship r, PetscReal *logdet)
{
  PetscFunctionBeginUser;
  PetscCall(RelationshipCheckOperation(r, RELATIONSHIP_OP_LOGDET));
  PetscCall(r->ops->logdet(r, logdet));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipSample(Relationship r, uint64_t seed, uint64_t sample, Vec truth)
{
  PetscReal *L;
  PetscBool  ok;

  PetscFunctionBeginUser;
  PetscCall(RelationshipCheckOperation(r, RELATIONSHIP_OP_SAMPLE));
  PetscCall(PetscMalloc1(r->dim * r->dim, &L));
  PetscCall(PetscArraycpy(L, r->group->covariance, r->dim * r->dim));
  PetscCall(DenseCholesky(r->dim, L, &ok));
  PetscCheck(ok, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "a (co)variance matrix is not positive definite");
  PetscCall(VecSetOption(truth, VEC_IGNORE_NEGATIVE_INDICES, PETSC_TRUE)); /* absent equations */
  PetscCall(r->ops->sample(r, seed, sample, L, truth));
  PetscCall(PetscFree(L));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipGetDiagonal(Relationship r, PetscInt lo, PetscInt hi, PetscReal **K)
{
  PetscFunctionBeginUser;
  PetscCall(RelationshipGetInbreeding(r, lo, hi, K));
  if (!*K) PetscFunctionReturn(PETSC_SUCCESS);
  for (PetscInt l = lo; l < hi; l++) (*K)[l - lo] += 1;
  if (r->ops->diagonal) PetscCall(r->ops->diagonal(r, lo, hi, *K));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipGetInbreeding(Relationship r, PetscInt lo, PetscInt hi, PetscReal **F)
{
  PetscFunctionBeginUser;
  *F = NULL;
  if (r->ops->inbreeding) PetscCall(r->ops->inbreeding(r, lo, hi, F));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipGetTerms(Relationship r, RelationshipTerms *terms)
{
  PetscFunctionBeginUser;
  PetscCheck(r->setup, r->comm, PETSC_ERR_ARG_WRONGSTATE, "RelationshipSetUp() first");
  PetscCheck(r->ops->terms, r->comm, PETSC_ERR_SUP, "relationship type %s cannot give its inverse as small terms (-pev approximate)", r->type);
  PetscCall(PetscMemzero(terms, sizeof(*terms)));
  PetscCall(RelationshipTermsReserve(terms, 0, 0));
  PetscCall(r->ops->terms(r, terms));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipTermsDestroy(RelationshipTerms *terms)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(terms->offset));
  PetscCall(PetscFree(terms->voffset));
  PetscCall(PetscFree(terms->anchor));
  PetscCall(PetscFree(terms->level));
  PetscCall(PetscFree(terms->value));
  PetscCall(PetscMemzero(terms, sizeof(*terms)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipTermsReserve(RelationshipTerms *t, PetscInt n, PetscInt m)
{
  PetscInt levels = t->n ? t->offset[t->n] : 0, values = t->n ? t->voffset[t->n] : 0;

  PetscFunctionBeginUser;
  PetscCall(HendersonGrow(sizeof(PetscInt), t->n + n + 1, &t->room[0], &t->offset));
  PetscCall(HendersonGrow(sizeof(PetscInt), t->n + n + 1, &t->room[1], &t->voffset));
  PetscCall(HendersonGrow(sizeof(PetscInt), t->n + n + 1, &t->room[2], &t->anchor));
  PetscCall(HendersonGrow(sizeof(PetscInt), levels + n * m, &t->room[3], &t->level));
  PetscCall(HendersonGrow(sizeof(PetscReal), values + n * m * m, &t->room[4], &t->value));
  if (!t->n) t->offset[0] = t->voffset[0] = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipTermsAdd(RelationshipTerms *t, PetscInt m, const PetscInt level[], const PetscReal value[], PetscInt anchor)
{
  PetscFunctionBeginUser;
  PetscCall(RelationshipTermsReserve(t, 1, m));
  PetscCall(PetscArraycpy(t->level + t->offset[t->n], level, m));
  PetscCall(PetscArraycpy(t->value + t->voffset[t->n], value, m * m));
  t->anchor[t->n]      = anchor;
  t->offset[t->n + 1]  = t->offset[t->n] + m;
  t->voffset[t->n + 1] = t->voffset[t->n] + m * m;
  t->n++;
  PetscFunctionReturn(PETSC_SUCCESS);
}
