/* K = I: independent levels (litters, herd-years, permanent environment). K^-1 (x) G0^-1 is block diagonal
   over the levels: each rank applies it to the levels it owns, whole and consecutive. */
#include "relationshipimpl.h"

typedef struct {
  PetscReal *Ginv;  /* dim x dim */
  int32_t    first; /* local index of the first equation of the first owned level */
} IID;

static PetscErrorCode RelationshipSetUp_IID(Relationship r, PetscLayout rows)
{
  IID *iid = (IID *)r->data;

  PetscFunctionBeginUser;
  (void)rows;
  PetscCall(PetscFree(iid->Ginv));
  PetscCall(RelationshipGetCovarianceInverse(r, &iid->Ginv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipNeeded_IID(Relationship r, RelationshipNeedFn need, void *ctx)
{
  PetscFunctionBeginUser;
  (void)r, (void)need, (void)ctx; /* its own levels only */
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipLocalize_IID(Relationship r, RelationshipLocalFn local, void *ctx)
{
  IID *iid = (IID *)r->data;

  PetscFunctionBeginUser;
  iid->first = r->hi > r->lo ? local(ctx, r->block->offset + r->lo * r->block->size) : 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipMultAdd_IID(Relationship r, const PetscScalar *restrict x, PetscScalar *restrict y)
{
  IID           *iid = (IID *)r->data;
  const PetscInt m   = r->dim;

  PetscFunctionBeginUser;
  for (PetscInt l = 0; l < r->hi - r->lo; l++) {
    const PetscInt i = iid->first + l * m;
    for (PetscInt k = 0; k < m; k++)
      for (PetscInt j = 0; j < m; j++) y[i + k] += iid->Ginv[k * m + j] * x[i + j];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* K vectors interleaved, each with MultAdd_IID's arithmetic. */
static PetscErrorCode RelationshipMultAddBlock_IID(Relationship r, PetscInt nv, const PetscScalar *restrict x, PetscScalar *restrict y)
{
  IID           *iid = (IID *)r->data;
  const PetscInt m   = r->dim;

  PetscFunctionBeginUser;
  for (PetscInt l = 0; l < r->hi - r->lo; l++) {
    const size_t i = (size_t)(iid->first + l * m);
    for (PetscInt k = 0; k < m; k++)
      for (PetscInt j = 0; j < m; j++)
        for (PetscInt v = 0; v < nv; v++) y[(i + k) * nv + v] += iid->Ginv[k * m + j] * x[(i + j) * nv + v];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipBlockDiagonal_IID(Relationship r, PetscReal D[], PetscInt smax, const PetscInt bfirst[], const PetscInt pos[])
{
  IID           *iid = (IID *)r->data;
  const PetscInt m   = r->dim;

  PetscFunctionBeginUser;
  (void)bfirst, (void)pos; /* a level is a point block */
  for (PetscInt l = 0; l < r->hi - r->lo; l++)
    for (PetscInt k = 0; k < m; k++)
      for (PetscInt j = 0; j < m; j++) D[(size_t)(iid->first + l * m + k) * smax + j] += iid->Ginv[k * m + j];
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipCost_IID(Relationship r, PetscLogDouble *flops, PetscInt64 *bytes)
{
  PetscFunctionBeginUser;
  *flops = 2.0 * (r->hi - r->lo) * r->dim * r->dim;
  *bytes = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipStructure_IID(Relationship r, PetscCount *n, PetscInt **rows, PetscInt **cols, PetscReal **values)
{
  PetscFunctionBeginUser;
  *n = r->hi - r->lo;
  PetscCall(PetscMalloc3(*n + 1, rows, *n + 1, cols, *n + 1, values));
  for (PetscInt l = r->lo; l < r->hi; l++) {
    (*rows)[l - r->lo] = (*cols)[l - r->lo] = l;
    (*values)[l - r->lo]                    = 1;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipLogDet_IID(Relationship r, PetscReal *logdet)
{
  PetscFunctionBeginUser;
  (void)r;
  *logdet = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* u_l = L z_l for this rank's levels, z keyed on the level. */
static PetscErrorCode RelationshipSample_IID(Relationship r, uint64_t seed, uint64_t sample, const PetscReal L[], Vec truth)
{
  const PetscInt m = r->dim;

  PetscFunctionBeginUser;
  for (PetscInt l = r->lo; l < r->hi; l++) {
    PetscReal z[64];
    for (PetscInt j = 0; j < m; j++) z[j] = HendersonKeyedNormal(seed, sample, (uint64_t)r->g, (uint64_t)l, (uint64_t)j);
    for (PetscInt j = 0; j < m; j++) {
      PetscReal v = 0;
      PetscInt  q = EquationsBlockEquation(r->block, l, j);
      for (PetscInt k = 0; k <= j; k++) v += L[j * m + k] * z[k];
      if (q >= 0) PetscCall(VecSetValue(truth, q, v, INSERT_VALUES));
    }
  }
  PetscCall(VecAssemblyBegin(truth));
  PetscCall(VecAssemblyEnd(truth));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipView_IID(Relationship r, PetscViewer viewer)
{
  PetscFunctionBeginUser;
  (void)r;
  PetscCall(PetscViewerASCIIPrintf(viewer, " (independent levels)"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode RelationshipDestroy_IID(Relationship r)
{
  IID *iid = (IID *)r->data;

  PetscFunctionBeginUser;
  PetscCall(PetscFree(iid->Ginv));
  PetscCall(PetscFree(r->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* I: each level its own term. */
static PetscErrorCode RelationshipTerms_IID(Relationship r, RelationshipTerms *terms)
{
  const PetscReal one = 1;

  PetscFunctionBeginUser;
  PetscCall(RelationshipTermsReserve(terms, r->hi - r->lo, 1));
  for (PetscInt l = r->lo; l < r->hi; l++) PetscCall(RelationshipTermsAdd(terms, 1, &l, &one, l));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode RelationshipCreate_IID(Relationship r)
{
  IID *iid;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&iid));
  r->data               = iid;
  r->level_bytes        = 0; /* G0^-1 is shared: a product reads nothing per level beyond the vectors */
  r->level_entries      = 1;
  r->ops->setup         = RelationshipSetUp_IID;
  r->ops->needed        = RelationshipNeeded_IID;
  r->ops->localize      = RelationshipLocalize_IID;
  r->ops->multadd       = RelationshipMultAdd_IID;
  r->ops->multaddblock  = RelationshipMultAddBlock_IID;
  r->ops->blockdiagonal = RelationshipBlockDiagonal_IID;
  r->ops->cost          = RelationshipCost_IID;
  r->ops->structure     = RelationshipStructure_IID;
  r->ops->logdet        = RelationshipLogDet_IID;
  r->ops->sample        = RelationshipSample_IID;
  r->ops->terms         = RelationshipTerms_IID;
  r->ops->view          = RelationshipView_IID;
  r->ops->destroy       = RelationshipDestroy_IID;
  PetscFunctionReturn(PETSC_SUCCESS);
}
