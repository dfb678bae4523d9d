#include <henderson/equations.h>

typedef struct {
  EquationsBlock pub;
  PetscInt      *start, *index; /* owned; NULL for a block whose levels are all whole */
} Block;

struct _p_Equations {
  MPI_Comm         comm;
  Model            model; /* and the records it was laid out for (EquationsSetUp()) */
  Records          records;
  PetscInt         n, neffects, nblocks, ntraits;
  PetscInt         nfixed; /* equations of the fixed effects and covariates: the first ones */
  Block           *blocks;
  EquationsEffect *effects;
  PetscInt         mean_effect[MODEL_MAX_TRAITS];
  PetscInt        *constrained; /* [effect * MODEL_MAX_TRAITS + trait position] */
};

PetscErrorCode EquationsCreate(MPI_Comm comm, Equations *equations)
{
  PetscFunctionBeginUser;
  PetscCall(PetscNew(equations));
  (*equations)->comm = comm;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsDestroy(Equations *equations)
{
  Equations eq = *equations;

  PetscFunctionBeginUser;
  if (!eq) PetscFunctionReturn(PETSC_SUCCESS);
  for (PetscInt b = 0; b < eq->nblocks; b++) PetscCall(PetscFree2(eq->blocks[b].start, eq->blocks[b].index));
  PetscCall(PetscFree(eq->blocks));
  PetscCall(PetscFree2(eq->effects, eq->constrained));
  PetscCall(PetscFree(*equations));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Appends a block of NLEVELS levels of SIZE equations; PRESENT (nlevels x size, or NULL for all)
   says which exist. Takes PRESENT. */
static PetscErrorCode AddBlock(Equations eq, PetscInt nlevels, PetscInt size, PetscBool *present, PetscInt *b)
{
  Block   *block;
  PetscInt count = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscRealloc(sizeof(Block) * (eq->nblocks + 1), &eq->blocks));
  *b    = eq->nblocks++;
  block = &eq->blocks[*b];
  PetscCall(PetscMemzero(block, sizeof(Block)));
  block->pub.offset  = eq->n;
  block->pub.nlevels = nlevels;
  block->pub.size    = size;
  if (present) {
    PetscBool whole = PETSC_TRUE;
    for (PetscInt k = 0; k < nlevels * size; k++) whole = whole && present[k];
    if (whole) {
      PetscCall(PetscFree(present));
      present = NULL;
    }
  }
  if (!present) {
    count = nlevels * size;
  } else {
    PetscCall(PetscMalloc2(nlevels + 1, &block->start, nlevels * size + 1, &block->index));
    for (PetscInt l = 0; l < nlevels; l++) {
      PetscInt position = 0;
      block->start[l]   = count;
      for (PetscInt k = 0; k < size; k++) block->index[l * size + k] = present[l * size + k] ? position++ : -1;
      count += position;
    }
    block->start[nlevels] = count;
    block->pub.start      = block->start;
    block->pub.index      = block->index;
    PetscCall(PetscFree(present));
  }
  block->pub.nequations = count;
  PetscCheck((PetscInt64)eq->n + count < PETSC_MAX_INT, eq->comm, PETSC_ERR_SUP,
             "more than %" PetscInt_FMT " equations: build with -DHENDERSON_PETSC64=ON, against PETSc with 64-bit indices (libpetsc64-real-dev)",
             PETSC_MAX_INT);
  eq->n += count;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A fixed effect or covariate: its levels x traits x coefficients, those without records (and the
   constrained ones) left out. */
static PetscErrorCode AddFixedEffect(Equations eq, Model model, Records records, PetscInt e)
{
  const ModelEffect *effect;
  EquationsEffect   *out = &eq->effects[e];
  PetscInt           nlevels, size;
  PetscInt64        *counts;
  PetscBool         *present;

  PetscFunctionBeginUser;
  PetscCall(ModelGetEffect(model, e, &effect));
  PetscCall(RecordsGetLevels(records, e, &nlevels, NULL));
  out->ntraits     = effect->ntraits;
  out->ncoef       = ModelEffectCoefficients(effect);
  out->slot        = 0;
  out->group_block = -1;
  size             = out->ntraits * out->ncoef;
  PetscCall(PetscMalloc1(nlevels * eq->ntraits + 1, &counts));
  PetscCall(RecordsCountLevels(records, model, e, counts));
  PetscCall(PetscMalloc1(nlevels * size + 1, &present));
  for (PetscInt l = 0; l < nlevels; l++)
    for (PetscInt i = 0; i < out->ntraits; i++)
      for (PetscInt c = 0; c < out->ncoef; c++)
        present[l * size + i * out->ncoef + c] = counts[l * eq->ntraits + effect->traits[i]] > 0 ? PETSC_TRUE : PETSC_FALSE;
  for (PetscInt i = 0; i < out->ntraits; i++) {
    PetscInt t = effect->traits[i];
    if (effect->kind == MODEL_EFFECT_FIXED) {
      if (eq->mean_effect[t] < 0)
        eq->mean_effect[t] = e; /* absorbs the mean of trait t */
      else {
        PetscInt l = 0;
        while (l < nlevels && !counts[l * eq->ntraits + t]) l++;
        if (l < nlevels) {
          present[l * size + i]                     = PETSC_FALSE;
          eq->constrained[e * MODEL_MAX_TRAITS + i] = l;
        }
      }
    } else if (effect->legendre >= 0 && !effect->nested) {
      for (PetscInt l = 0; l < nlevels; l++) present[l * size + i * out->ncoef] = PETSC_FALSE; /* the mean absorbs the constant */
    }
  }
  PetscCall(PetscFree(counts));
  PetscCall(AddBlock(eq, nlevels, size, present, &out->block));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsSetUp(Equations eq, Model model, Records records, Pedigree pedigree)
{
  PetscInt      ngroups, *upg_block;
  PedigreeStats stats = {0};

  PetscFunctionBeginUser;
  eq->model   = model;
  eq->records = records;
  PetscCall(ModelGetNumEffects(model, &eq->neffects));
  PetscCall(ModelGetNumTraits(model, &eq->ntraits));
  PetscCall(ModelGetNumGroups(model, &ngroups));
  PetscCall(PetscCalloc2(eq->neffects, &eq->effects, eq->neffects * MODEL_MAX_TRAITS, &eq->constrained));
  for (PetscInt k = 0; k < eq->neffects * MODEL_MAX_TRAITS; k++) eq->constrained[k] = -1;
  for (PetscInt t = 0; t < MODEL_MAX_TRAITS; t++) eq->mean_effect[t] = -1;
  if (pedigree) PetscCall(PedigreeGetStats(pedigree, &stats));

  /* fixed effects and covariates */
  for (PetscInt e = 0; e < eq->neffects; e++) {
    const ModelEffect *effect;
    PetscCall(ModelGetEffect(model, e, &effect));
    if (effect->kind != MODEL_EFFECT_RANDOM) PetscCall(AddFixedEffect(eq, model, records, e));
  }
  eq->nfixed = eq->n;
  /* unknown-parent groups of every pedigree group, then the random groups */
  PetscCall(PetscMalloc1(ngroups + 1, &upg_block));
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup *group;
    upg_block[g] = -1;
    PetscCall(ModelGetGroup(model, g, &group));
    if (!ModelGroupIsAnimal(group) || !stats.groups) continue;
    {
      PetscBool *present = NULL;
      if (!stats.unknown_parents) {
        /* every unknown parent is a group: the groups span the mean; the first group of the first
           member is set to zero (its constant coefficient in every trait) */
        const ModelEffect *first;
        PetscCall(ModelGetEffect(model, group->first, &first));
        PetscCall(PetscMalloc1(stats.groups * group->dim, &present));
        for (PetscInt k = 0; k < stats.groups * group->dim; k++) present[k] = PETSC_TRUE;
        for (PetscInt i = 0; i < first->ntraits; i++) present[i * ModelEffectCoefficients(first)] = PETSC_FALSE;
      }
      PetscCall(AddBlock(eq, stats.groups, group->dim, present, &upg_block[g]));
    }
  }
  /* iid groups before pedigree groups: a record's last equation -- where the data operator anchors it and
     so the rank that applies it -- is then an animal's, which spreads records over ranks with the animals
     (an iid pen or litter effect last would send every record to the rank owning that block) */
  for (PetscInt k = 0; k < 2 * ngroups; k++) {
    const ModelGroup *group;
    PetscInt          nlevels, b = -1, g = k % ngroups;
    PetscCall(ModelGetGroup(model, g, &group));
    if (ModelGroupIsAnimal(group) != (k >= ngroups)) continue;
    PetscCall(RecordsGetLevels(records, group->first, &nlevels, NULL));
    PetscCall(AddBlock(eq, nlevels, group->dim, NULL, &b));
    for (PetscInt k = 0; k < group->neffects; k++) {
      const ModelEffect *effect;
      EquationsEffect   *out = &eq->effects[group->first + k];
      PetscCall(ModelGetEffect(model, group->first + k, &effect));
      out->block       = b;
      out->slot        = effect->position;
      out->ntraits     = effect->ntraits;
      out->ncoef       = ModelEffectCoefficients(effect);
      out->group_block = upg_block[g];
    }
  }
  PetscCall(PetscFree(upg_block));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsGetSize(Equations eq, PetscInt *n)
{
  PetscFunctionBeginUser;
  *n = eq->n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsGetFixedSize(Equations eq, PetscInt *n)
{
  PetscFunctionBeginUser;
  *n = eq->nfixed;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsGetEffect(Equations eq, PetscInt e, const EquationsEffect **effect)
{
  PetscFunctionBeginUser;
  PetscCheck(e >= 0 && e < eq->neffects, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "effect %" PetscInt_FMT, e);
  *effect = &eq->effects[e];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsGetBlock(Equations eq, PetscInt b, const EquationsBlock **block)
{
  PetscFunctionBeginUser;
  PetscCheck(b >= 0 && b < eq->nblocks, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "block %" PetscInt_FMT, b);
  *block = &eq->blocks[b].pub;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsGetEffectBlock(Equations eq, PetscInt e, const EquationsBlock **block)
{
  const EquationsEffect *effect = NULL;

  PetscFunctionBeginUser;
  PetscCall(EquationsGetEffect(eq, e, &effect));
  PetscCall(EquationsGetBlock(eq, effect->block, block));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsGetGroupBlocks(Equations eq, Model model, PetscInt g, const EquationsBlock **levels, const EquationsBlock **groups)
{
  const ModelGroup      *group  = NULL;
  const EquationsEffect *effect = NULL;

  PetscFunctionBeginUser;
  PetscCall(ModelGetGroup(model, g, &group));
  PetscCall(EquationsGetEffect(eq, group->first, &effect));
  if (levels) PetscCall(EquationsGetBlock(eq, effect->block, levels));
  if (groups) {
    *groups = NULL;
    if (effect->group_block >= 0) PetscCall(EquationsGetBlock(eq, effect->group_block, groups));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The first level whose first equation is at or after BOUND (the first equations increase with the level). */
static PetscInt FirstLevelFrom(const EquationsBlock *block, PetscInt bound)
{
  PetscInt a = 0, b = block->nlevels;

  while (a < b) {
    PetscInt m = a + (b - a) / 2;
    if (EquationsBlockFirst(block, m) < bound)
      a = m + 1;
    else
      b = m;
  }
  return a;
}

PetscErrorCode EquationsBlockGetLocalLevels(const EquationsBlock *block, PetscInt rstart, PetscInt rend, PetscBool last, PetscInt *lo, PetscInt *hi)
{
  PetscFunctionBeginUser;
  *lo = FirstLevelFrom(block, rstart);
  *hi = last ? block->nlevels : FirstLevelFrom(block, rend);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsGetMeanEffect(Equations eq, PetscInt t, PetscInt *e)
{
  PetscFunctionBeginUser;
  *e = eq->mean_effect[t];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsGetConstrainedLevel(Equations eq, PetscInt e, PetscInt i, PetscInt *level)
{
  PetscFunctionBeginUser;
  *level = eq->constrained[e * MODEL_MAX_TRAITS + i];
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The first level start of block B at or after ROW (ROW within the block). */
static PetscInt BlockBoundary(const EquationsBlock *b, PetscInt row)
{
  PetscInt relative = row - b->offset;
  if (relative <= 0) return b->offset;
  if (!b->start) return b->offset + ((relative + b->size - 1) / b->size) * b->size;
  {
    PetscInt lo = 0, hi = b->nlevels; /* smallest l with start[l] >= relative */
    while (lo < hi) {
      PetscInt mid = (lo + hi) / 2;
      if (b->start[mid] >= relative)
        hi = mid;
      else
        lo = mid + 1;
    }
    return b->offset + b->start[lo];
  }
}

PetscErrorCode EquationsLevelBoundary(Equations eq, PetscInt row, PetscInt *boundary)
{
  PetscFunctionBeginUser;
  *boundary = eq->n;
  for (PetscInt k = 0; k < eq->nblocks; k++) {
    const EquationsBlock *b = &eq->blocks[k].pub;
    if (row < b->offset + b->nequations) {
      *boundary = BlockBoundary(b, row);
      break;
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsGetPointBlocks(Equations eq, PetscInt rstart, PetscInt rend, PetscInt *nblocks, PetscInt **sizes)
{
  PetscInt n = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(rend - rstart + 1, sizes));
  for (PetscInt k = 0; k < eq->nblocks; k++) {
    const EquationsBlock *b = &eq->blocks[k].pub;
    for (PetscInt l = 0; l < b->nlevels; l++) {
      PetscInt first = b->offset + (b->start ? b->start[l] : l * b->size), count = b->start ? b->start[l + 1] - b->start[l] : b->size;
      if (first + count <= rstart) continue;
      if (first >= rend) break;
      PetscCheck(first >= rstart && first + count <= rend, PETSC_COMM_SELF, PETSC_ERR_PLIB, "rows %" PetscInt_FMT "..%" PetscInt_FMT " split a level", rstart,
                 rend);
      if (count) (*sizes)[n++] = count;
    }
  }
  *nblocks = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode EquationsGetPointBlock(Equations eq, PetscInt q, PetscInt *first, PetscInt *size)
{
  PetscFunctionBeginUser;
  PetscCheck(q >= 0 && q < eq->n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "equation %" PetscInt_FMT " of %" PetscInt_FMT, q, eq->n);
  for (PetscInt k = 0; k < eq->nblocks; k++) {
    const EquationsBlock *b        = &eq->blocks[k].pub;
    PetscInt              relative = q - b->offset;
    if (relative >= b->nequations) continue;
    if (!b->start) {
      *first = b->offset + (relative / b->size) * b->size;
      *size  = b->size;
    } else {
      PetscInt lo = 0, hi = b->nlevels - 1; /* the largest l with start[l] <= relative: a level with equations */
      while (lo < hi) {
        PetscInt mid = (lo + hi + 1) / 2;
        if (b->start[mid] <= relative)
          lo = mid;
        else
          hi = mid - 1;
      }
      *first = b->offset + b->start[lo];
      *size  = b->start[lo + 1] - b->start[lo];
    }
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  SETERRQ(PETSC_COMM_SELF, PETSC_ERR_PLIB, "equation %" PetscInt_FMT " in no block", q);
}

PetscErrorCode EquationsView(Equations eq, PetscViewer viewer)
{
  PetscFunctionBeginUser;
  PetscCheck(eq->model, eq->comm, PETSC_ERR_ARG_WRONGSTATE, "call EquationsSetUp() first");
  PetscCall(PetscViewerASCIIPrintf(viewer, "  equations   %" PetscInt_FMT ":", eq->n));
  for (PetscInt e = 0; e < eq->neffects; e++) {
    const ModelEffect *effect;
    PetscInt           nlevels, constrained = 0;
    PetscCall(ModelGetEffect(eq->model, e, &effect));
    PetscCall(RecordsGetLevels(eq->records, e, &nlevels, NULL));
    for (PetscInt i = 0; i < effect->ntraits && effect->kind == MODEL_EFFECT_FIXED; i++)
      if (eq->constrained[e * MODEL_MAX_TRAITS + i] >= 0) constrained++;
    PetscCall(PetscViewerASCIIPrintf(viewer, " %s %" PetscInt_FMT "%s%s", effect->name, nlevels, constrained ? " (first level = 0)" : "",
                                     e + 1 < eq->neffects ? "," : "\n"));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}
