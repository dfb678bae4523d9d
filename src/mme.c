/* The MME object: its life cycle, the registry of its forms, what both forms share -- the check of the
   diagonal, the row layout that balances the bytes a product moves, the statistics, the view. The forms
   themselves are mme_data.c and mme_assembled.c; neither knows the other. */
#include "mmeimpl.h"
#include <string.h>

static PetscFunctionList MMEList       = NULL;
static PetscBool         MMERegistered = PETSC_FALSE;

PetscErrorCode MMERegister(const char name[], PetscErrorCode (*create)(MME))
{
  PetscFunctionBeginUser;
  PetscCall(PetscFunctionListAdd(&MMEList, name, create));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* At PetscFinalize(): the registry goes, and is made again by the next PetscInitialize()'s first use. */
static PetscErrorCode MMEFinalizePackage(void)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFunctionListDestroy(&MMEList));
  MMERegistered = PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode MMERegisterAll(void)
{
  PetscFunctionBeginUser;
  if (MMERegistered) PetscFunctionReturn(PETSC_SUCCESS);
  MMERegistered = PETSC_TRUE;
  PetscCall(PetscRegisterFinalize(MMEFinalizePackage));
  PetscCall(MMERegister(MMEDATA, MMECreate_Data));
  PetscCall(MMERegister(MMEASSEMBLED, MMECreate_Assembled));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMECreate(MPI_Comm comm, MME *mme)
{
  PetscFunctionBeginUser;
  PetscCall(MMERegisterAll());
  PetscCall(PetscNew(mme));
  (*mme)->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &(*mme)->rank));
  PetscCallMPI(MPI_Comm_size(comm, &(*mme)->size));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEDestroy(MME *mme)
{
  PetscFunctionBeginUser;
  if (!*mme) PetscFunctionReturn(PETSC_SUCCESS);
  if ((*mme)->ops->destroy) PetscCall((*mme)->ops->destroy(*mme));
  PetscCall(MatDestroy(&(*mme)->C));
  PetscCall(MatDestroy(&(*mme)->P));
  PetscCall(VecDestroy(&(*mme)->rhs));
  PetscCall(PetscLayoutDestroy(&(*mme)->layout));
  PetscCall(PetscFree(*mme));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMESetType(MME mme, MMEType type)
{
  PetscErrorCode (*create)(MME);

  PetscFunctionBeginUser;
  if (!strcmp(mme->type, type)) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(!mme->C, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "the form of the equations is set before MMEAssemble()");
  PetscCall(PetscFunctionListFind(MMEList, type, &create));
  PetscCheck(create, mme->comm, PETSC_ERR_USER_INPUT, "-mme_operator %s: unknown form of the equations (data, assembled or auto)", type);
  if (mme->ops->destroy) PetscCall(mme->ops->destroy(mme));
  PetscCall(PetscMemzero(mme->ops, sizeof(struct _MMEOps)));
  mme->data = NULL;
  PetscCall(PetscStrncpy(mme->type, type, sizeof(mme->type)));
  PetscCall((*create)(mme));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEGetType(MME mme, MMEType *type)
{
  PetscFunctionBeginUser;
  *type = mme->type[0] ? mme->type : NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMESetFromOptions(MME mme)
{
  const char *const routes[] = {"auto", "direct", "grid"};
  char              type[32];
  PetscBool         set;
  PetscInt          route = mme->ghost_route;

  PetscFunctionBeginUser;
  PetscCall(MMERegisterAll());
  PetscCall(PetscStrncpy(type, mme->type[0] ? mme->type : "auto", sizeof(type)));
  PetscOptionsBegin(mme->comm, NULL, "Mixed model equations", "MME");
  PetscCall(PetscOptionsFList("-mme_operator", "Form of C: from the records and the relationships (data), an assembled AIJ matrix (assembled), or auto",
                              "MMESetType", MMEList, type, type, sizeof(type), &set));
  PetscCall(PetscOptionsEList("-mme_ghost_route",
                              "Ghost values of the data operator: straight from their owners (direct), through a grid of ranks, sqrt(p) messages (grid), "
                              "or grid from 32 ranks on (auto)",
                              "MMESetFromOptions", routes, 3, routes[route], &route, NULL));
  PetscOptionsEnd();
  mme->ghost_route = (MMEGhostRoute)route;
  if (set && strcmp(type, "auto")) PetscCall(MMESetType(mme, type));
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
    const ModelEffect    *effect;
    const EquationsBlock *block;
    PetscCall(ModelGetEffect(model, e, &effect));
    PetscCall(EquationsGetEffectBlock(eq, e, &block));
    if (where < block->offset || where >= block->offset + block->nequations) continue;
    SETERRQ(mme->comm, PETSC_ERR_USER_INPUT,
            "effect '%s' has no information on one of its equations (equation %" PetscInt_FMT "): a covariate that is zero on all its records?", effect->name,
            where);
  }
  SETERRQ(mme->comm, PETSC_ERR_PLIB, "equation %" PetscInt_FMT " has diagonal %g", where, (double)smallest);
}

PetscErrorCode MMEAssemble(MME mme, Model model, Equations eq, Records records, PetscInt nrel, Relationship rel[])
{
  PetscInt ngroups;

  PetscFunctionBeginUser;
  PetscCheck(mme->type[0], mme->comm, PETSC_ERR_ARG_WRONGSTATE, "set the form of the equations (MMESetType()) before MMEAssemble()");
  PetscCall(ModelGetNumGroups(model, &ngroups));
  PetscCheck(nrel == ngroups, mme->comm, PETSC_ERR_ARG_SIZ, "%" PetscInt_FMT " relationships for %" PetscInt_FMT " random groups", nrel, ngroups);
  PetscCall(mme->ops->assemble(mme, model, eq, records, nrel, rel));
  PetscCall(PetscStrncpy(mme->stats.type, mme->type, sizeof(mme->stats.type)));
  PetscCall(CheckDiagonal(mme, model, eq));
  PetscFunctionReturn(PETSC_SUCCESS);
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

PetscErrorCode MMEAddLevelWeights(MME mme, const EquationsBlock *block, PetscInt64 per_level, PetscInt n, PetscInt nbuckets, PetscInt64 weight[])
{
  PetscInt lo, hi;

  PetscFunctionBeginUser;
  if (!per_level) PetscFunctionReturn(PETSC_SUCCESS);
  HendersonEvenShare(block->nlevels, mme->rank, mme->size, &lo, &hi);
  for (PetscInt l = lo; l < hi; l++) weight[MMEBucket(EquationsBlockFirst(block, l), n, nbuckets)] += per_level;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMESetCommunicationStats(MME mme, PetscInt nghost, const PetscInt ghosts[], PetscInt messages_per_neighbour)
{
  PetscInt neighbours = 0;

  PetscFunctionBeginUser;
  for (PetscInt k = 0, last = -1; k < nghost; k++) { /* GHOSTS is sorted */
    PetscMPIInt owner;
    PetscCall(PetscLayoutFindOwner(mme->layout, ghosts[k], &owner));
    if (owner != last) neighbours++;
    last = owner;
  }
  PetscCall(MMESetCommunicationCounts(mme, nghost, neighbours, messages_per_neighbour));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMESetCommunicationCounts(MME mme, PetscInt nghost, PetscInt neighbours, PetscInt messages_per_neighbour)
{
  const PetscInt *ranges;
  PetscInt        owned, imax[2], iout[2];
  PetscInt64      local[2], sum[2];

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetRanges(mme->layout, &ranges));
  owned    = ranges[mme->rank + 1] - ranges[mme->rank];
  local[0] = nghost;
  local[1] = (PetscInt64)messages_per_neighbour * neighbours;
  imax[0]  = nghost;
  imax[1]  = neighbours;
  PetscCallMPI(MPI_Allreduce(local, sum, 2, MPIU_INT64, MPI_SUM, mme->comm));
  PetscCallMPI(MPI_Allreduce(imax, iout, 2, MPIU_INT, MPI_MAX, mme->comm));
  PetscCallMPI(MPI_Allreduce(&owned, &mme->stats.owned_min, 1, MPIU_INT, MPI_MIN, mme->comm));
  mme->stats.ghosts         = sum[0];
  mme->stats.messages       = sum[1];
  mme->stats.ghosts_max     = iout[0];
  mme->stats.neighbours_max = iout[1];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMESetPointBlocks(MME mme, Equations eq, Mat A)
{
  PetscInt nblocks, *sizes, rstart, rend;

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetRange(mme->layout, &rstart, &rend));
  PetscCall(EquationsGetPointBlocks(eq, rstart, rend, &nblocks, &sizes));
  PetscCall(MatSetVariableBlockSizes(A, nblocks, sizes));
  PetscCall(PetscFree(sizes));
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

PetscErrorCode MMEHasEntries(MME mme, PetscBool *has)
{
  PetscFunctionBeginUser;
  *has = mme->entries;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode MMEView(MME mme, PetscViewer viewer)
{
  const MMEStats *s       = &mme->stats;
  const char     *units[] = {"B", "kB", "MB", "GB", "TB"};
  double          bytes   = (double)s->operator_bytes;
  int             u       = 0;

  PetscFunctionBeginUser;
  while (bytes >= 1000 && u < 4) {
    bytes /= 1000;
    u++;
  }
  PetscCall(PetscViewerASCIIPrintf(viewer, "  operator    %s, %" PetscInt_FMT " equations", s->type, s->equations));
  if (s->nonzeros >= 0)
    PetscCall(PetscViewerASCIIPrintf(viewer, ", %" PetscInt64_FMT " nonzeros", s->nonzeros));
  else
    PetscCall(PetscViewerASCIIPrintf(viewer, ", %" PetscInt64_FMT " records", s->records));
  PetscCall(PetscViewerASCIIPrintf(viewer, ", %.3g %s read a product\n", bytes, units[u]));
  if (mme->size > 1)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "              %" PetscInt64_FMT " ghost values a product (at most %" PetscInt_FMT " on a rank), %" PetscInt64_FMT
                                     " messages, at most %" PetscInt_FMT " neighbours a rank, at least %" PetscInt_FMT " equations a rank\n",
                                     s->ghosts, s->ghosts_max, s->messages, s->neighbours_max, s->owned_min));
  if (mme->ops->view) PetscCall(mme->ops->view(mme, viewer));
  PetscFunctionReturn(PETSC_SUCCESS);
}
