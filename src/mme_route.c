/* Ghost values routed through a grid of ranks, so that the messages of one product grow as sqrt(p).

   With iteration on data every rank needs some parents of nearly every other rank (AI sires are used
   in every herd, bought-in dams come from anywhere): the direct exchange of ghost values sends 2 (p-1)
   messages a rank and product, 98 at 64 ranks and about 1000 at 512, each of a few values. Here the
   ranks are laid out as a grid of R rows and C columns, and the value of equation g, owned by rank q
   in row i and needed by rank r in column j, travels q -> m = (i, j) -> r: first along q's row, then
   down r's column. A rank sends to at most C - 1 ranks in the first step and R - 1 in the second,
   2 (R + C - 2) messages a product with the sums sent back the same way (28 at 64 ranks, 92 at 512).
   The router m keeps one copy of g however many ranks of its column need it, so a popular sire's value
   crosses each row once instead of once a rank, and the partial sums meet there before they go on.

   Both steps are PetscSFs on the ghosted vector's local form (the owned values, then the ghosts):
   out: roots the owned equations, leaves the routers' slots; in: roots the routers' slots, leaves the
   ghosts. Forward: Bcast out, then Bcast in. Reverse: Reduce in (ghost sums into the slots), then
   Reduce out (the slots into the owners). The sums arrive in another order than the direct exchange
   adds them: the products agree to rounding, not to the bit.

   Blocks of K vectors (MatMatMult() of the data operator) travel the same routes with a unit of K
   scalars; without the grid they go straight from their owners (GhostRouteCreateDirect(), one PetscSF),
   as a ghosted vector's own exchange would send a single vector. */
#include "mmeimpl.h"
#include "mme_route.h"

struct _p_GhostRoute {
  PetscSF      out, in; /* owners -> routers' slots, routers' slots -> ghosts; direct: out NULL, in owners -> ghosts */
  PetscInt     nowned, nslots;
  PetscScalar *slot;       /* nslots x slot_k */
  PetscInt     slot_k;     /* the values an equation that SLOT has room for */
  PetscInt     neighbours; /* ranks this rank receives from, both steps */
  MPI_Datatype unit;       /* unit_k scalars: the values of one equation in a block of vectors */
  PetscInt     unit_k;
};

/* The grid: C columns, the divisor of SIZE nearest sqrt(SIZE) from above (no more than twice it), else
   ceil(sqrt(SIZE)) with a short last row. */
static PetscMPIInt GridColumns(PetscMPIInt size)
{
  PetscMPIInt root = 1;
  while ((PetscInt64)root * root < size) root++;
  for (PetscMPIInt c = root; c <= 2 * root && c <= size; c++)
    if (size % c == 0) return c;
  return root;
}

/* The rank that forwards OWNER's values to RANK: in OWNER's row and RANK's column, or OWNER itself
   where the short last row has no such rank. */
static inline PetscMPIInt Router(PetscMPIInt owner, PetscMPIInt rank, PetscMPIInt columns, PetscMPIInt size)
{
  PetscMPIInt m = (owner / columns) * columns + rank % columns;
  return m < size ? m : owner;
}

/* Ask every ghost's router for it; each router answers with the slot it keeps the value in. */
static PetscErrorCode AskRouters(MPI_Comm comm, PetscLayout layout, PetscInt nghost, const PetscInt ghosts[], PetscMPIInt router[], PetscInt slot_of[],
                                 PetscInt *nslots, PetscInt **slot_global)
{
  PetscMPIInt size, rank, columns, *send_n, *recv_n, *send_at, *recv_at, *fill;
  PetscInt   *ask, *asked, *answer, nasked = 0;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  columns = GridColumns(size);
  PetscCall(PetscCalloc5(size, &send_n, size, &recv_n, size + 1, &send_at, size + 1, &recv_at, size, &fill));
  for (PetscInt k = 0; k < nghost; k++) {
    PetscMPIInt owner;
    PetscCall(PetscLayoutFindOwner(layout, ghosts[k], &owner));
    router[k] = Router(owner, rank, columns, size);
    send_n[router[k]]++;
  }
  PetscCallMPI(MPI_Alltoall(send_n, 1, MPI_INT, recv_n, 1, MPI_INT, comm));
  for (PetscMPIInt r = 0; r < size; r++) {
    send_at[r + 1] = send_at[r] + send_n[r];
    recv_at[r + 1] = recv_at[r] + recv_n[r];
    fill[r]        = send_at[r];
  }
  nasked = recv_at[size];
  PetscCall(PetscMalloc3(nghost + 1, &ask, nasked + 1, &asked, nasked + 1, &answer));
  for (PetscInt k = 0; k < nghost; k++) ask[fill[router[k]]++] = ghosts[k]; /* ascending within a router */
  PetscCallMPI(MPI_Alltoallv(ask, send_n, send_at, MPIU_INT, asked, recv_n, recv_at, MPIU_INT, comm));
  /* the slots: the distinct equations asked for, ascending */
  PetscCall(PetscMalloc1(nasked + 1, slot_global));
  PetscCall(PetscArraycpy(*slot_global, asked, nasked));
  *nslots = nasked;
  PetscCall(PetscSortRemoveDupsInt(nslots, *slot_global));
  for (PetscInt k = 0; k < nasked; k++) {
    PetscInt at;
    PetscCall(PetscFindInt(asked[k], *nslots, *slot_global, &at));
    answer[k] = at;
  }
  PetscCallMPI(MPI_Alltoallv(answer, recv_n, recv_at, MPIU_INT, ask, send_n, send_at, MPIU_INT, comm));
  for (PetscMPIInt r = 0; r < size; r++) fill[r] = send_at[r];
  for (PetscInt k = 0; k < nghost; k++) slot_of[k] = ask[fill[router[k]]++];
  PetscCall(PetscFree3(ask, asked, answer));
  PetscCall(PetscFree5(send_n, recv_n, send_at, recv_at, fill));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Remote ranks an SF's leaves read from (the messages this rank receives in one Bcast). */
static PetscErrorCode CountSources(PetscSF sf, PetscMPIInt rank, PetscInt *n)
{
  PetscMPIInt        nranks;
  const PetscMPIInt *ranks;

  PetscFunctionBeginUser;
  PetscCall(PetscSFSetUp(sf));
  PetscCall(PetscSFGetRootRanks(sf, &nranks, &ranks, NULL, NULL, NULL));
  *n = 0;
  for (PetscMPIInt k = 0; k < nranks; k++)
    if (ranks[k] != rank) (*n)++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GhostRouteCreate(MPI_Comm comm, PetscLayout layout, PetscInt nghost, const PetscInt ghosts[], GhostRoute *route)
{
  GhostRoute   gr;
  PetscMPIInt *router, rank;
  PetscInt    *slot_of, *slot_global, nowned, nin;
  PetscInt    *ilocal;
  PetscSFNode *iremote;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&gr));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscLayoutGetLocalSize(layout, &nowned));
  PetscCall(PetscMalloc2(nghost + 1, &router, nghost + 1, &slot_of));
  PetscCall(AskRouters(comm, layout, nghost, ghosts, router, slot_of, &gr->nslots, &slot_global));
  /* out: each slot reads its owner's equation */
  PetscCall(PetscSFCreate(comm, &gr->out));
  PetscCall(PetscSFSetGraphLayout(gr->out, layout, gr->nslots, NULL, PETSC_COPY_VALUES, slot_global));
  PetscCall(PetscFree(slot_global));
  /* in: each ghost reads its router's slot */
  PetscCall(PetscMalloc1(nghost + 1, &ilocal));
  PetscCall(PetscMalloc1(nghost + 1, &iremote));
  for (PetscInt k = 0; k < nghost; k++) {
    ilocal[k]        = nowned + k;
    iremote[k].rank  = router[k];
    iremote[k].index = slot_of[k];
  }
  PetscCall(PetscSFCreate(comm, &gr->in));
  PetscCall(PetscSFSetGraph(gr->in, gr->nslots, nghost, ilocal, PETSC_OWN_POINTER, iremote, PETSC_OWN_POINTER));
  PetscCall(PetscFree2(router, slot_of));
  PetscCall(PetscMalloc1(gr->nslots + 1, &gr->slot));
  gr->slot_k = 1;
  gr->nowned = nowned;
  PetscCall(CountSources(gr->out, rank, &gr->neighbours));
  PetscCall(CountSources(gr->in, rank, &nin));
  gr->neighbours += nin;
  *route = gr;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GhostRouteCreateDirect(MPI_Comm comm, PetscLayout layout, PetscInt nghost, const PetscInt ghosts[], GhostRoute *route)
{
  GhostRoute  gr;
  PetscMPIInt rank;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&gr));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscLayoutGetLocalSize(layout, &gr->nowned));
  PetscCall(PetscSFCreate(comm, &gr->in));
  PetscCall(PetscSFSetGraphLayout(gr->in, layout, nghost, NULL, PETSC_COPY_VALUES, ghosts));
  PetscCall(CountSources(gr->in, rank, &gr->neighbours));
  *route = gr;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The MPI type of K values, and room for K values a router's slot. */
static PetscErrorCode RouteSetBlock(GhostRoute gr, PetscInt k, MPI_Datatype *unit)
{
  PetscFunctionBeginUser;
  if (k == 1) {
    *unit = MPIU_SCALAR;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  if (k != gr->unit_k) {
    PetscMPIInt count;
    if (gr->unit_k) PetscCallMPI(MPI_Type_free(&gr->unit));
    PetscCall(PetscMPIIntCast(k, &count));
    PetscCallMPI(MPI_Type_contiguous(count, MPIU_SCALAR, &gr->unit));
    PetscCallMPI(MPI_Type_commit(&gr->unit));
    gr->unit_k = k;
  }
  if (gr->out && k > gr->slot_k) {
    PetscCall(PetscFree(gr->slot));
    PetscCall(PetscMalloc1(gr->nslots * k + 1, &gr->slot));
    gr->slot_k = k;
  }
  *unit = gr->unit;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GhostRouteDestroy(GhostRoute *route)
{
  PetscFunctionBeginUser;
  if (!*route) PetscFunctionReturn(PETSC_SUCCESS);
  if ((*route)->unit_k) PetscCallMPI(MPI_Type_free(&(*route)->unit));
  PetscCall(PetscSFDestroy(&(*route)->out));
  PetscCall(PetscSFDestroy(&(*route)->in));
  PetscCall(PetscFree((*route)->slot));
  PetscCall(PetscFree(*route));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GhostRouteForward(GhostRoute gr, PetscInt k, PetscScalar local[])
{
  MPI_Datatype unit;

  PetscFunctionBeginUser;
  PetscCall(RouteSetBlock(gr, k, &unit));
  if (!gr->out) { /* direct: the leaves are the ghosts, after the owned values */
    PetscCall(PetscSFBcastBegin(gr->in, unit, local, local + (size_t)gr->nowned * k, MPI_REPLACE));
    PetscCall(PetscSFBcastEnd(gr->in, unit, local, local + (size_t)gr->nowned * k, MPI_REPLACE));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscSFBcastBegin(gr->out, unit, local, gr->slot, MPI_REPLACE));
  PetscCall(PetscSFBcastEnd(gr->out, unit, local, gr->slot, MPI_REPLACE));
  PetscCall(PetscSFBcastBegin(gr->in, unit, gr->slot, local, MPI_REPLACE));
  PetscCall(PetscSFBcastEnd(gr->in, unit, gr->slot, local, MPI_REPLACE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GhostRouteReverse(GhostRoute gr, PetscInt k, PetscScalar local[])
{
  MPI_Datatype unit;

  PetscFunctionBeginUser;
  PetscCall(RouteSetBlock(gr, k, &unit));
  if (!gr->out) {
    PetscCall(PetscSFReduceBegin(gr->in, unit, local + (size_t)gr->nowned * k, local, MPI_SUM));
    PetscCall(PetscSFReduceEnd(gr->in, unit, local + (size_t)gr->nowned * k, local, MPI_SUM));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscArrayzero(gr->slot, gr->nslots * k));
  PetscCall(PetscSFReduceBegin(gr->in, unit, local, gr->slot, MPI_SUM));
  PetscCall(PetscSFReduceEnd(gr->in, unit, local, gr->slot, MPI_SUM));
  PetscCall(PetscSFReduceBegin(gr->out, unit, gr->slot, local, MPI_SUM));
  PetscCall(PetscSFReduceEnd(gr->out, unit, gr->slot, local, MPI_SUM));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GhostRouteGetNeighbours(GhostRoute gr, PetscInt *neighbours, PetscInt *slots)
{
  PetscFunctionBeginUser;
  if (neighbours) *neighbours = gr->neighbours;
  if (slots) *slots = gr->nslots;
  PetscFunctionReturn(PETSC_SUCCESS);
}
