/* The terms of C for -pev approximate (pev_approximate.c), as pieces of factors: what a record says
   (W_r' R_r^-1 W_r over the point blocks it touches), sent to the rank of its animal; the relationships'
   terms of K^-1 (x) G0^-1; and the blocks that go with an animal (a permanent environment), which become
   part of the animal's unknown. */
#include "pevimpl.h"
#include <henderson/recordterms.h>
#include <string.h>

static PetscErrorCode Grow(void **array, size_t size, PetscInt have, PetscInt *room, PetscInt need)
{
  void *bigger;

  PetscFunctionBeginUser;
  if (need <= *room && *array) PetscFunctionReturn(PETSC_SUCCESS);
  *room = PetscMax(need, 2 * *room);
  PetscCall(PetscMalloc(size * (size_t)(*room + 1), &bigger));
  if (*array) PetscCall(PetscMemcpy(bigger, *array, size * (size_t)have));
  PetscCall(PetscFree(*array));
  *array = bigger;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Room for one more piece of M members and a D x D matrix; returns where they go. */
static PetscErrorCode PiecesNext(Pieces *p, PetscInt m, PetscInt d, PetscInt **first, PetscInt **ext, PetscReal **L)
{
  PetscInt rooms[3] = {p->room[0], p->room[0], p->room[0]}, nm = p->n ? p->moff[p->n] : 0, nl = p->n ? p->loff[p->n] : 0;

  PetscFunctionBeginUser;
  PetscCall(Grow((void **)&p->moff, sizeof(PetscInt), p->n + 1, &rooms[0], p->n + 2));
  PetscCall(Grow((void **)&p->loff, sizeof(PetscInt), p->n + 1, &rooms[1], p->n + 2));
  PetscCall(Grow((void **)&p->anchor, sizeof(PetscInt), p->n, &rooms[2], p->n + 2));
  p->room[0] = rooms[0];
  rooms[0]   = p->room[1];
  PetscCall(Grow((void **)&p->first, sizeof(PetscInt), nm, &rooms[0], nm + m));
  PetscCall(Grow((void **)&p->ext, sizeof(PetscInt), nm, &p->room[1], nm + m));
  PetscCall(Grow((void **)&p->L, sizeof(PetscReal), nl, &p->room[2], nl + d * d));
  if (!p->n) p->moff[0] = p->loff[0] = 0;
  p->moff[p->n + 1] = nm + m;
  p->loff[p->n + 1] = nl + d * d;
  *first            = p->first + nm;
  *ext              = p->ext + nm;
  *L                = p->L + nl;
  PetscCall(PetscArrayzero(*L, d * d));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PEVPiecesDestroy(Pieces *p)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(p->moff));
  PetscCall(PetscFree(p->loff));
  PetscCall(PetscFree(p->anchor));
  PetscCall(PetscFree(p->first));
  PetscCall(PetscFree(p->ext));
  PetscCall(PetscFree(p->place));
  PetscCall(PetscFree(p->L));
  PetscCall(PetscMemzero(p, sizeof(*p)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- the records' pieces ---- */

/* Whether slot S of a record can anchor it: an effect of a random group whose K^-1 has families. */
static PetscErrorCode AnchorSlots(Model model, const RecordTerms *rt, const PetscBool family[], PetscBool **anchors)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(rt->nslots + 1, anchors));
  for (PetscInt s = 0; s < rt->nslots; s++) {
    const ModelEffect *effect;
    PetscCall(ModelGetEffect(model, rt->effect[s], &effect));
    (*anchors)[s] = (PetscBool)(effect->kind == MODEL_EFFECT_RANDOM && family[effect->group]);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* For each slot of a record, the slot of the animal its level goes with (-1: none): an iid effect read from the
   same column as an effect of a group with families -- an animal's permanent environment, a dam's maternal
   permanent environment (the column of her maternal effect). */
static PetscErrorCode HostSlots(Model model, const RecordTerms *rt, const PetscBool family[], PetscInt **host)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(rt->nslots + 1, host));
  for (PetscInt s = 0; s < rt->nslots; s++) {
    const ModelEffect *es;
    (*host)[s] = -1;
    PetscCall(ModelGetEffect(model, rt->effect[s], &es));
    if (es->kind != MODEL_EFFECT_RANDOM || family[es->group] || es->data_column < 0) continue;
    for (PetscInt u = 0; u < rt->nslots && (*host)[s] < 0; u++) {
      const ModelEffect *eu;
      PetscCall(ModelGetEffect(model, rt->effect[u], &eu));
      if (eu->kind == MODEL_EFFECT_RANDOM && family[eu->group] && eu->data_column == es->data_column) (*host)[s] = u;
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A growing list of pairs (a block that goes with an animal, the animal's block), by first equations. */
typedef struct {
  PetscInt n, room, *pair;
} Pairs;

static PetscErrorCode PairsAdd(Pairs *p, PetscInt attached, PetscInt host)
{
  PetscFunctionBeginUser;
  if (p->n && p->pair[2 * p->n - 2] == attached && p->pair[2 * p->n - 1] == host) PetscFunctionReturn(PETSC_SUCCESS); /* an animal's records come together */
  PetscCall(Grow((void **)&p->pair, 2 * sizeof(PetscInt), p->n, &p->room, p->n + 1));
  p->pair[2 * p->n]     = attached;
  p->pair[2 * p->n + 1] = host;
  p->n++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Record R's piece: W_r' R_r^-1 W_r (weight applied) over the point blocks it touches, anchored at its animal
   (-1: none) -- with social effects at the first animal of its pen, so that the records of a pen, which share
   all its animals, are one factor. (Anchoring a calf's record at its dam instead, with the families of her
   calves, treats her maternal permanent environment exactly but loses more on the direct and maternal
   values: measured, benchmarks/RESULTS.md.) The blocks that go with an animal (HOST) are noted in PAIRS.
   WORK: 3 nslots. */
static PetscErrorCode RecordPiece(RecordTerms *rt, PetscInt r, const PetscBool anchors[], const PetscInt host[], PetscInt work[], Pieces *p, Pairs *pairs)
{
  RecordContribution c;
  PetscInt           m = 0, d = 0, anchor = -1, *first, *ext, *member = work, *offset = work + rt->nslots, *col = work + 2 * rt->nslots;
  PetscReal         *L;

  PetscFunctionBeginUser;
  PetscCall(RecordTermsGet(rt, r, &c));
  for (PetscInt s = 0; s < rt->nslots; s++) {
    PetscInt j = 0;
    if (c.eq[s] < 0) continue;
    if (anchors[s] && (anchor < 0 || (rt->social >= 0 && c.first[s] < anchor))) anchor = c.first[s];
    while (j < m && member[j] != c.first[s]) j++;
    PetscCheck(j < PEV_APPROXIMATE_MAX_MEMBERS, PETSC_COMM_SELF, PETSC_ERR_SUP, "-pev approximate: a record touches more than %d levels",
               PEV_APPROXIMATE_MAX_MEMBERS);
    if (j == m) offset[m] = 0, member[m++] = c.first[s];
    col[s]    = j;
    offset[j] = PetscMax(offset[j], c.eq[s] - c.first[s] + 1); /* the member's extent, for now */
    if (host[s] >= 0 && c.eq[host[s]] >= 0) PetscCall(PairsAdd(pairs, c.first[s], c.first[host[s]]));
  }
  for (PetscInt j = 0; j < m; j++) d += offset[j];
  PetscCall(PiecesNext(p, m, d, &first, &ext, &L));
  for (PetscInt j = 0, o = 0; j < m; j++) {
    first[j]  = member[j];
    ext[j]    = offset[j];
    offset[j] = o;
    o += ext[j];
  }
  for (PetscInt s = 0; s < rt->nslots; s++) {
    if (c.eq[s] < 0) continue;
    for (PetscInt u = 0; u < rt->nslots; u++) {
      PetscInt a = offset[col[s]] + c.eq[s] - c.first[s], b = offset[col[u]] + c.eq[u] - c.first[u];
      if (c.eq[u] < 0) continue;
      L[a * d + b] += c.coef[s] * c.coef[u] * c.weight * c.rinv[rt->trait[s] * rt->ntraits + rt->trait[u]];
    }
  }
  p->anchor[p->n++] = anchor;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. The pieces of IN go to the rank that owns their anchor (those without stay), appended to OUT. */
static PetscErrorCode ExchangePieces(MPI_Comm comm, PetscLayout layout, const Pieces *in, Pieces *out)
{
  PetscMPIInt size, *dest, *icount, *rcount, *idispl, *rdispl, *ricount, *rrcount, *ridispl, *rrdispl;
  PetscInt   *ibuf, *rib, nri, nrr;
  PetscReal  *rbuf, *rrb;
  PetscInt64  ni = 0, nr = 0;
  PetscMPIInt rank;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscMalloc1(in->n + 1, &dest));
  PetscCall(PetscCalloc4(size, &icount, size, &rcount, size + 1, &idispl, size + 1, &rdispl));
  PetscCall(PetscCalloc4(size, &ricount, size, &rrcount, size + 1, &ridispl, size + 1, &rrdispl));
  for (PetscInt k = 0; k < in->n; k++) {
    PetscInt owner = rank, m = in->moff[k + 1] - in->moff[k];
    if (in->anchor[k] >= 0) PetscCall(PetscLayoutFindOwner(layout, in->anchor[k], &owner));
    dest[k] = (PetscMPIInt)owner;
    icount[owner] += (PetscMPIInt)(2 + 2 * m);
    rcount[owner] += (PetscMPIInt)(in->loff[k + 1] - in->loff[k]);
    ni += 2 + 2 * m;
    nr += in->loff[k + 1] - in->loff[k];
  }
  PetscCheck(ni < PETSC_MPI_INT_MAX && nr < PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP,
             "-pev approximate: too many records on one rank (use more ranks)");
  for (PetscMPIInt q = 0; q < size; q++) idispl[q + 1] = idispl[q] + icount[q], rdispl[q + 1] = rdispl[q] + rcount[q];
  PetscCall(PetscMalloc2(ni + 1, &ibuf, nr + 1, &rbuf));
  for (PetscInt k = 0; k < in->n; k++) { /* packed by destination: m, anchor, firsts, extents; the matrix */
    PetscInt m = in->moff[k + 1] - in->moff[k], *ip = ibuf + idispl[dest[k]], nl = in->loff[k + 1] - in->loff[k];
    ip[0] = m;
    ip[1] = in->anchor[k];
    PetscCall(PetscArraycpy(ip + 2, in->first + in->moff[k], m));
    PetscCall(PetscArraycpy(ip + 2 + m, in->ext + in->moff[k], m));
    PetscCall(PetscArraycpy(rbuf + rdispl[dest[k]], in->L + in->loff[k], nl));
    idispl[dest[k]] += (PetscMPIInt)(2 + 2 * m);
    rdispl[dest[k]] += (PetscMPIInt)nl;
  }
  for (PetscMPIInt q = 0; q < size; q++) idispl[q] -= icount[q], rdispl[q] -= rcount[q];
  PetscCallMPI(MPI_Alltoall(icount, 1, MPI_INT, ricount, 1, MPI_INT, comm));
  PetscCallMPI(MPI_Alltoall(rcount, 1, MPI_INT, rrcount, 1, MPI_INT, comm));
  for (PetscMPIInt q = 0; q < size; q++) ridispl[q + 1] = ridispl[q] + ricount[q], rrdispl[q + 1] = rrdispl[q] + rrcount[q];
  nri = ridispl[size];
  nrr = rrdispl[size];
  PetscCall(PetscMalloc2(nri + 1, &rib, nrr + 1, &rrb));
  PetscCallMPI(MPI_Alltoallv(ibuf, icount, idispl, MPIU_INT, rib, ricount, ridispl, MPIU_INT, comm));
  PetscCallMPI(MPI_Alltoallv(rbuf, rcount, rdispl, MPIU_REAL, rrb, rrcount, rrdispl, MPIU_REAL, comm));
  PetscCall(PetscFree2(ibuf, rbuf));
  for (PetscInt i = 0, r = 0; i < nri;) {
    PetscInt   m = rib[i], d = 0, *first, *ext;
    PetscReal *L;
    for (PetscInt j = 0; j < m; j++) d += rib[i + 2 + m + j];
    PetscCall(PiecesNext(out, m, d, &first, &ext, &L));
    PetscCall(PetscArraycpy(first, rib + i + 2, m));
    PetscCall(PetscArraycpy(ext, rib + i + 2 + m, m));
    PetscCall(PetscArraycpy(L, rrb + r, d * d));
    out->anchor[out->n++] = rib[i + 1];
    i += 2 + 2 * m;
    r += d * d;
  }
  PetscCall(PetscFree2(rib, rrb));
  PetscCall(PetscFree4(icount, rcount, idispl, rdispl));
  PetscCall(PetscFree4(ricount, rrcount, ridispl, rrdispl));
  PetscCall(PetscFree(dest));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. Every record's piece, on the rank that owns its animal (records without one stay where they are);
   PAIRS: the blocks that go with an animal, as this rank's records say. */
static PetscErrorCode RecordPieces(MPI_Comm comm, Model model, Equations eq, Records records, const PetscBool family[], PetscLayout layout, Pieces *out,
                                   Pairs *pairs)
{
  RecordTerms rt;
  Pieces      local;
  PetscInt    nrec, *work, *host;
  PetscBool  *anchors;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&local, sizeof(local)));
  PetscCall(RecordTermsCreate(model, eq, records, &rt));
  PetscCall(RecordsGetLocalSize(records, &nrec));
  PetscCall(AnchorSlots(model, &rt, family, &anchors));
  PetscCall(HostSlots(model, &rt, family, &host));
  PetscCall(PetscMalloc1(3 * rt.nslots + 1, &work));
  for (PetscInt r = 0; r < nrec; r++) PetscCall(RecordPiece(&rt, r, anchors, host, work, &local, pairs));
  PetscCall(PetscFree(work));
  PetscCall(PetscFree(host));
  PetscCall(PetscFree(anchors));
  PetscCall(RecordTermsDestroy(&rt));
  PetscCall(ExchangePieces(comm, layout, &local, out));
  PetscCall(PEVPiecesDestroy(&local));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- the relationships' pieces ---- */

/* Level L of the level space of REL (levels, then groups): its block and its level there. */
static inline const EquationsBlock *LevelBlock(const EquationsBlock *block, const EquationsBlock *groups, PetscInt l, PetscInt *level)
{
  *level = l < block->nlevels ? l : l - block->nlevels;
  return l < block->nlevels ? block : groups;
}

/* Term F of T in equations: value (x) G0^-1 over the members' present equations (members without any left out). */
static PetscErrorCode TermPiece(const RelationshipTerms *t, PetscInt f, const EquationsBlock *block, const EquationsBlock *groups, PetscInt dim,
                                const PetscReal Ginv[], PetscInt pos[], PetscInt keep[], Pieces *p)
{
  PetscInt   m = t->offset[f + 1] - t->offset[f], mk = 0, d = 0, *first, *ext, anchor = -1, *at = keep + m;
  PetscReal *L;

  PetscFunctionBeginUser;
  for (PetscInt j = 0; j < m; j++) { /* the positions of each member's components in its point block */
    PetscInt              l;
    const EquationsBlock *b  = LevelBlock(block, groups, t->level[t->offset[f] + j], &l);
    PetscInt              q0 = EquationsBlockFirst(b, l), extent = 0;
    for (PetscInt k = 0; k < dim; k++) {
      PetscInt q       = EquationsBlockEquation(b, l, k);
      pos[j * dim + k] = q < 0 ? -1 : q - q0;
      extent           = PetscMax(extent, pos[j * dim + k] + 1);
    }
    if (extent) keep[mk++] = j, at[j] = d, d += extent;
  }
  if (!mk) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PiecesNext(p, mk, d, &first, &ext, &L));
  for (PetscInt i = 0; i < mk; i++) {
    PetscInt              l, j = keep[i];
    const EquationsBlock *b = LevelBlock(block, groups, t->level[t->offset[f] + j], &l);
    first[i]                = EquationsBlockFirst(b, l);
    ext[i]                  = (i + 1 < mk ? at[keep[i + 1]] : d) - at[j];
  }
  for (PetscInt i = 0; i < mk; i++)
    for (PetscInt j = 0; j < mk; j++) {
      PetscReal v = t->value[t->voffset[f] + keep[i] * m + keep[j]];
      for (PetscInt k = 0; k < dim; k++)
        for (PetscInt l = 0; l < dim; l++) {
          PetscInt a = pos[keep[i] * dim + k], b = pos[keep[j] * dim + l];
          if (a >= 0 && b >= 0) L[(at[keep[i]] + a) * d + at[keep[j]] + b] += v * Ginv[k * dim + l];
        }
    }
  if (t->anchor[f] >= 0) {
    PetscInt              l;
    const EquationsBlock *b = LevelBlock(block, groups, t->anchor[f], &l);
    for (PetscInt k = 0; k < dim && anchor < 0; k++)
      if (EquationsBlockEquation(b, l, k) >= 0) anchor = EquationsBlockFirst(b, l);
  }
  p->anchor[p->n++] = anchor;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective (the terms are). The pieces of K^-1 (x) G0^-1 of relationship REL. */
static PetscErrorCode RelationshipPieces(Relationship rel, Pieces *p)
{
  RelationshipTerms     t;
  const ModelGroup     *group;
  const EquationsBlock *block, *groups;
  PetscInt              g, dim, mmax = 1, *pos, *keep;
  PetscReal            *Ginv;

  PetscFunctionBeginUser;
  PetscCall(RelationshipGetGroup(rel, &group, &g));
  dim = group->dim;
  PetscCall(RelationshipGetBlocks(rel, &block, &groups));
  PetscCall(RelationshipGetCovarianceInverse(rel, &Ginv));
  PetscCall(RelationshipGetTerms(rel, &t));
  for (PetscInt f = 0; f < t.n; f++) mmax = PetscMax(mmax, t.offset[f + 1] - t.offset[f]);
  PetscCall(PetscMalloc2(mmax * dim, &pos, 2 * mmax, &keep));
  for (PetscInt f = 0; f < t.n; f++) PetscCall(TermPiece(&t, f, block, groups, dim, Ginv, pos, keep, p));
  PetscCall(PetscFree2(pos, keep));
  PetscCall(RelationshipTermsDestroy(&t));
  PetscCall(PetscFree(Ginv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- the blocks that go with an animal ---- */

/* Collective. Sends N items of WIDTH integers, each to the owner of its first integer (a row of LAYOUT);
 *RECV gets the *NRECV items this rank is sent. */
static PetscErrorCode SendToOwners(MPI_Comm comm, PetscLayout layout, PetscInt n, PetscInt width, const PetscInt items[], PetscInt *nrecv, PetscInt **recv)
{
  PetscMPIInt size, *count, *displ, *rcount, *rdispl;
  PetscInt   *buf;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(PetscCalloc4(size, &count, size + 1, &displ, size, &rcount, size + 1, &rdispl));
  for (PetscInt k = 0; k < n; k++) {
    PetscMPIInt owner;
    PetscCall(PetscLayoutFindOwner(layout, items[k * width], &owner));
    count[owner] += (PetscMPIInt)width;
  }
  for (PetscMPIInt q = 0; q < size; q++) displ[q + 1] = displ[q] + count[q];
  PetscCall(PetscMalloc1(n * width + 1, &buf));
  for (PetscInt k = 0; k < n; k++) {
    PetscMPIInt owner;
    PetscCall(PetscLayoutFindOwner(layout, items[k * width], &owner));
    PetscCall(PetscArraycpy(buf + displ[owner], items + k * width, width));
    displ[owner] += (PetscMPIInt)width;
  }
  for (PetscMPIInt q = 0; q < size; q++) displ[q] -= count[q];
  PetscCallMPI(MPI_Alltoall(count, 1, MPI_INT, rcount, 1, MPI_INT, comm));
  for (PetscMPIInt q = 0; q < size; q++) rdispl[q + 1] = rdispl[q] + rcount[q];
  PetscCall(PetscMalloc1(rdispl[size] + 1, recv));
  PetscCallMPI(MPI_Alltoallv(buf, count, displ, MPIU_INT, *recv, rcount, rdispl, MPIU_INT, comm));
  *nrecv = rdispl[size] / width;
  PetscCall(PetscFree(buf));
  PetscCall(PetscFree4(count, displ, rcount, rdispl));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static int ComparePairs(const void *a, const void *b)
{
  const PetscInt *x = (const PetscInt *)a, *y = (const PetscInt *)b;
  return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : (x[1] != y[1] ? (x[1] < y[1] ? -1 : 1) : 0);
}

/* Collective. Where every block that goes with an animal (PAIRS, as this rank's records say) goes: the host's
   owner orders its blocks by first equation after its own equations, and tells their owners. */
static PetscErrorCode AttachmentsCreate(MPI_Comm comm, Equations eq, PetscLayout layout, const Pairs *pairs, Attachments *at)
{
  PetscInt rstart, rend, nb, *sizes, n, *recv, *items, *back, nback;

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetRange(layout, &rstart, &rend));
  PetscCall(PetscMalloc4(rend - rstart + 1, &at->size, rend - rstart + 1, &at->host, rend - rstart + 1, &at->place, rend - rstart + 1, &at->hsize));
  PetscCall(EquationsGetPointBlocks(eq, rstart, rend, &nb, &sizes));
  for (PetscInt k = 0, q = 0; k < nb; q += sizes[k++])
    for (PetscInt a = 0; a < sizes[k]; a++) at->size[q + a] = a ? 0 : sizes[k], at->host[q + a] = -1, at->place[q + a] = a, at->hsize[q + a] = 0;
  PetscCall(PetscFree(sizes));
  PetscCall(PetscMalloc1(2 * pairs->n + 1, &items));
  for (PetscInt k = 0; k < pairs->n; k++) items[2 * k] = pairs->pair[2 * k + 1], items[2 * k + 1] = pairs->pair[2 * k]; /* (host, attached) */
  PetscCall(SendToOwners(comm, layout, pairs->n, 2, items, &n, &recv));
  PetscCall(PetscFree(items));
  qsort(recv, (size_t)n, 2 * sizeof(PetscInt), ComparePairs);
  PetscCall(PetscMalloc1(4 * n + 1, &back));
  nback = 0;
  for (PetscInt k = 0; k < n;) { /* one host: its blocks after its own equations */
    PetscInt host = recv[2 * k], order = at->size[host - rstart], first = nback;
    for (; k < n && recv[2 * k] == host; k++) {
      PetscInt f, b;
      if (nback > first && back[4 * (nback - 1)] == recv[2 * k + 1]) continue; /* a pair from several ranks */
      PetscCall(EquationsGetPointBlock(eq, recv[2 * k + 1], &f, &b));
      back[4 * nback]     = recv[2 * k + 1];
      back[4 * nback + 1] = host;
      back[4 * nback + 2] = order;
      nback++;
      order += b;
    }
    for (PetscInt j = first; j < nback; j++) back[4 * j + 3] = order;
    at->size[host - rstart] = order;
  }
  PetscCall(PetscFree(recv));
  PetscCall(SendToOwners(comm, layout, nback, 4, back, &n, &recv));
  PetscCall(PetscFree(back));
  for (PetscInt k = 0; k < n; k++) {
    PetscInt q = recv[4 * k] - rstart, f, b;
    PetscCall(EquationsGetPointBlock(eq, recv[4 * k], &f, &b));
    for (PetscInt a = 0; a < b; a++)
      at->size[q + a] = 0, at->host[q + a] = recv[4 * k + 1], at->place[q + a] = recv[4 * k + 2] + a, at->hsize[q + a] = recv[4 * k + 3];
  }
  PetscCall(PetscFree(recv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PEVAttachmentsDestroy(Attachments *at)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree4(at->size, at->host, at->place, at->hsize));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PEVBcastRows(MPI_Comm comm, PetscLayout layout, PetscInt n, const PetscInt row[], const PetscInt root[], PetscInt leaf[])
{
  PetscSF sf;

  PetscFunctionBeginUser;
  PetscCall(PetscSFCreate(comm, &sf));
  PetscCall(PetscSFSetGraphLayout(sf, layout, n, NULL, PETSC_COPY_VALUES, row));
  PetscCall(PetscSFBcastBegin(sf, MPIU_INT, root, leaf, MPI_REPLACE));
  PetscCall(PetscSFBcastEnd(sf, MPIU_INT, root, leaf, MPI_REPLACE));
  PetscCall(PetscSFDestroy(&sf));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. The pieces' members that go with an animal become the animal's block at their place; an anchor
   that goes with an animal anchors nothing (the piece is its own factor, on any number of ranks). */
static PetscErrorCode PiecesAttach(MPI_Comm comm, PetscLayout layout, const Attachments *at, Pieces *p)
{
  PetscInt nm = p->n ? p->moff[p->n] : 0, n = nm, *rows, *host, *place;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(nm + p->n + 1, &rows));
  PetscCall(PetscArraycpy(rows, p->first, nm));
  for (PetscInt k = 0; k < p->n; k++)
    if (p->anchor[k] >= 0) rows[n++] = p->anchor[k];
  PetscCall(PetscSortRemoveDupsInt(&n, rows));
  PetscCall(PetscMalloc2(n + 1, &host, n + 1, &place));
  PetscCall(PEVBcastRows(comm, layout, n, rows, at->host, host));
  PetscCall(PEVBcastRows(comm, layout, n, rows, at->place, place));
  PetscCall(PetscMalloc1(nm + 1, &p->place));
  for (PetscInt k = 0; k < nm; k++) {
    PetscInt j;
    PetscCall(PetscFindInt(p->first[k], n, rows, &j));
    p->place[k] = host[j] >= 0 ? place[j] : 0;
    if (host[j] >= 0) p->first[k] = host[j];
  }
  for (PetscInt k = 0; k < p->n; k++) {
    PetscInt j;
    if (p->anchor[k] < 0) continue;
    PetscCall(PetscFindInt(p->anchor[k], n, rows, &j));
    if (host[j] >= 0) p->anchor[k] = -1;
  }
  PetscCall(PetscFree2(host, place));
  PetscCall(PetscFree(rows));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- all of them ---- */

PetscErrorCode PEVPiecesCreate(MPI_Comm comm, Model model, Equations eq, Records records, PetscInt nrel, Relationship rel[], PetscLayout layout, Pieces *p,
                               Attachments *at)
{
  Pairs      pairs;
  PetscBool *family;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(p, sizeof(*p)));
  PetscCall(PetscMemzero(&pairs, sizeof(pairs)));
  PetscCall(PetscMalloc1(nrel + 1, &family));
  for (PetscInt g = 0; g < nrel; g++) { /* a group whose K^-1 has families anchors the records of its animals */
    RelationshipType type;
    PetscCall(RelationshipGetType(rel[g], &type));
    family[g] = strcmp(type, RELATIONSHIPIID) ? PETSC_TRUE : PETSC_FALSE;
  }
  PetscCall(RecordPieces(comm, model, eq, records, family, layout, p, &pairs));
  PetscCall(PetscFree(family));
  for (PetscInt g = 0; g < nrel; g++) PetscCall(RelationshipPieces(rel[g], p));
  PetscCall(AttachmentsCreate(comm, eq, layout, &pairs, at));
  PetscCall(PetscFree(pairs.pair));
  PetscCall(PiecesAttach(comm, layout, at, p));
  PetscFunctionReturn(PETSC_SUCCESS);
}
