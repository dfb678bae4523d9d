/* The terms of C for -pev approximate (pev_approximate.c), as pieces of factors: what a record says
   (W_r' R_r^-1 W_r over the point blocks it touches), sent to the rank of its animal; the relationships'
   terms of K^-1 (x) G0^-1; and the blocks that go with an animal (a permanent environment), which become
   part of the animal's unknown. */
#include "pevimpl.h"
#include <henderson/recordterms.h>
#include <petsc/private/hashmapi.h>
#include <string.h>

/* Room for N more pieces with NM members and NL matrix entries in all. */
static PetscErrorCode PiecesReserve(Pieces *p, PetscInt n, PetscInt nm, PetscInt nl)
{
  PetscInt have = p->n ? p->moff[p->n] : 0, used = p->n ? p->loff[p->n] : 0;

  PetscFunctionBeginUser;
  PetscCall(HendersonGrow(sizeof(PetscInt), p->n + n + 1, &p->room[0], &p->moff));
  PetscCall(HendersonGrow(sizeof(PetscInt), p->n + n + 1, &p->room[1], &p->loff));
  PetscCall(HendersonGrow(sizeof(PetscInt), p->n + n + 1, &p->room[2], &p->anchor));
  PetscCall(HendersonGrow(sizeof(PetscInt), have + nm, &p->room[3], &p->first));
  PetscCall(HendersonGrow(sizeof(PetscInt), have + nm, &p->room[4], &p->place));
  PetscCall(HendersonGrow(sizeof(PetscInt), have + nm, &p->room[5], &p->ext));
  PetscCall(HendersonGrow(sizeof(PetscReal), used + nl, &p->room[6], &p->L));
  if (!p->n) p->moff[0] = p->loff[0] = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One more piece of M members and a D x D matrix (zero); where they go. */
static PetscErrorCode PiecesNext(Pieces *p, PetscInt m, PetscInt d, PetscInt **first, PetscInt **ext, PetscReal **L)
{
  PetscInt nm, nl;

  PetscFunctionBeginUser;
  PetscCall(PiecesReserve(p, 1, m, d * d));
  nm                = p->moff[p->n];
  nl                = p->loff[p->n];
  p->moff[p->n + 1] = nm + m;
  p->loff[p->n + 1] = nl + d * d;
  *first            = p->first + nm;
  *ext              = p->ext + nm;
  *L                = p->L + nl;
  PetscCall(PetscArrayzero(*L, d * d));
  PetscCall(PetscArrayzero(p->place + nm, m));
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

/* Whether slot S of a record can anchor it (ANCHORS: an effect of a random group whose K^-1 has families), and
   whether it is a fixed class effect (FIXED: its levels may merge, MergePairs()). Free with PetscFree2(). */
static PetscErrorCode AnchorSlots(Model model, const RecordTerms *rt, const PetscBool family[], PetscBool **anchors, PetscBool **fixed)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(rt->nslots + 1, anchors, rt->nslots + 1, fixed));
  for (PetscInt s = 0; s < rt->nslots; s++) {
    const ModelEffect *effect;
    PetscCall(ModelGetEffect(model, rt->effect[s], &effect));
    (*anchors)[s] = (PetscBool)(effect->kind == MODEL_EFFECT_RANDOM && family[effect->group]);
    (*fixed)[s]   = (PetscBool)(effect->kind == MODEL_EFFECT_FIXED);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* For each slot of a record, the slot of the animal its level goes with (-1: none): an iid effect read from the
   same column as an effect of a group with families -- an animal's permanent environment, a dam's maternal
   permanent environment (the column of her maternal effect); and OTHER: the slot's effect is in a family group
   other than the first, ROOT (whose block of the same animal is the unknown it goes with: GroupPairs()). */
static PetscErrorCode HostSlots(Model model, const RecordTerms *rt, const PetscBool family[], PetscInt root, PetscInt **host, PetscBool **other)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(rt->nslots + 1, host, rt->nslots + 1, other));
  for (PetscInt s = 0; s < rt->nslots; s++) {
    const ModelEffect *es;
    (*host)[s]  = -1;
    (*other)[s] = PETSC_FALSE;
    PetscCall(ModelGetEffect(model, rt->effect[s], &es));
    if (es->kind == MODEL_EFFECT_RANDOM && family[es->group]) (*other)[s] = (PetscBool)(es->group != root);
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
  PetscCall(HendersonGrow(2 * sizeof(PetscInt), p->n + 1, &p->room, &p->pair));
  p->pair[2 * p->n]     = attached;
  p->pair[2 * p->n + 1] = host;
  p->n++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The record pieces that touch each fixed class level seen here, by their anchors: how many, and three sums
   (mod 2^30) of hashes of the anchors -- a signature of the multiset of factors that touch the level. COUNT
   -1: a record without an anchor touches it (its own factor: the level never merges). */
typedef struct {
  PetscInt row, count, sum[3];
} Signature;

typedef struct {
  PetscHMapI index; /* a level's first row -> its entry (-1: none yet) */
  PetscInt   n, room;
  Signature *entry;
} Signatures;

#define SIGNATURE_MASK 0x3fffffff /* 30 bits: the sums fit a 32-bit PetscInt */

static PetscErrorCode SignaturesAdd(Signatures *S, PetscInt row, PetscInt anchor)
{
  PetscInt e;

  PetscFunctionBeginUser;
  PetscCall(PetscHMapIGet(S->index, row, &e));
  if (e < 0) {
    PetscCall(HendersonGrow(sizeof(Signature), S->n + 1, &S->room, &S->entry));
    e           = S->n++;
    S->entry[e] = (Signature){.row = row};
    PetscCall(PetscHMapISet(S->index, row, e));
  }
  if (anchor < 0 || S->entry[e].count < 0) {
    S->entry[e].count = -1;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  S->entry[e].count++;
  for (PetscInt k = 0; k < 3; k++)
    S->entry[e].sum[k] = (PetscInt)((S->entry[e].sum[k] + (HendersonHash64((uint64_t)anchor * 3 + (uint64_t)k) & SIGNATURE_MASK)) & SIGNATURE_MASK);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Record R's piece: W_r' R_r^-1 W_r (weight applied) over the point blocks it touches, anchored at its animal
   (-1: none) -- with social effects at the first animal of its pen, so that the records of a pen, which share
   all its animals, are one factor. (Anchoring a calf's record at its dam instead, with the families of her
   calves, treats her maternal permanent environment exactly but loses more on the direct and maternal
   values: measured, benchmarks/RESULTS.md.) The blocks that go with an animal (HOST) are noted in PAIRS.
   WORK: 3 nslots. */
static PetscErrorCode RecordPiece(RecordTerms *rt, PetscInt r, const PetscBool anchors[], const PetscBool fixed[], const PetscInt host[],
                                  const PetscBool other[], const EquationsBlock *root, PetscInt work[], Pieces *p, Pairs *pairs, Signatures *S)
{
  RecordContribution c;
  PetscInt           m = 0, d = 0, anchor = -1, *first, *ext, *member = work, *offset = work + rt->nslots, *col = work + 2 * rt->nslots;
  PetscInt          *isfixed = work + 3 * rt->nslots;
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
    if (j == m) offset[m] = 0, isfixed[m] = 0, member[m++] = c.first[s];
    col[s]     = j;
    offset[j]  = PetscMax(offset[j], c.eq[s] - c.first[s] + 1); /* the member's extent, for now */
    isfixed[j] = isfixed[j] || fixed[s];
    if (host[s] >= 0 && c.eq[host[s]] >= 0)
      PetscCall(PairsAdd(pairs, c.first[s], other[host[s]] ? EquationsBlockFirst(root, c.level[host[s]]) : c.first[host[s]]));
  }
  for (PetscInt j = 0; j < m; j++)
    if (isfixed[j]) PetscCall(SignaturesAdd(S, member[j], anchor));
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

/* Collective. The pieces of P go to the rank that owns their anchor (those without, and those of this rank's
   anchors, stay where they are in P: moved down over those that left); the pieces received are appended. */
static PetscErrorCode ExchangePieces(MPI_Comm comm, PetscLayout layout, Pieces *p)
{
  PetscMPIInt size, rank, *dest, *count[2], *at[2], *rcount[2], *rat[2];
  PetscInt   *ibuf, *rib, n = 0, nm = 0, nl = 0;
  PetscReal  *rbuf, *rrb;
  PetscCount  nri, nrr;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscMalloc1(p->n + 1, &dest));
  for (int k = 0; k < 2; k++) PetscCall(PetscCalloc4(size, &count[k], size + 1, &at[k], size, &rcount[k], size, &rat[k]));
  for (PetscInt k = 0; k < p->n; k++) { /* counts: m, anchor, firsts, extents, places; the matrix */
    PetscMPIInt owner = rank;
    if (p->anchor[k] >= 0) PetscCall(PetscLayoutFindOwner(layout, p->anchor[k], &owner));
    dest[k] = owner;
    if (owner == rank) continue; /* stays */
    PetscCheck((PetscInt64)count[0][owner] + 2 + 3 * (p->moff[k + 1] - p->moff[k]) < PETSC_MPI_INT_MAX &&
                   (PetscInt64)count[1][owner] + p->loff[k + 1] - p->loff[k] < PETSC_MPI_INT_MAX,
               PETSC_COMM_SELF, PETSC_ERR_SUP, "-pev approximate: too many records on one rank (use more ranks)");
    count[0][owner] += (PetscMPIInt)(2 + 3 * (p->moff[k + 1] - p->moff[k]));
    count[1][owner] += (PetscMPIInt)(p->loff[k + 1] - p->loff[k]);
  }
  for (PetscMPIInt q = 0; q < size; q++)
    for (int k = 0; k < 2; k++) at[k][q + 1] = at[k][q] + count[k][q];
  PetscCall(PetscMalloc2(at[0][size] + 1, &ibuf, at[1][size] + 1, &rbuf));
  for (PetscInt k = 0; k < p->n; k++) {
    PetscInt m = p->moff[k + 1] - p->moff[k], nk = p->loff[k + 1] - p->loff[k], *ip = ibuf + at[0][dest[k]];
    if (dest[k] == rank) { /* down to piece n (n <= k): the arrays only shrink */
      PetscCall(PetscArraymove(p->first + nm, p->first + p->moff[k], m));
      PetscCall(PetscArraymove(p->ext + nm, p->ext + p->moff[k], m));
      PetscCall(PetscArraymove(p->place + nm, p->place + p->moff[k], m));
      PetscCall(PetscArraymove(p->L + nl, p->L + p->loff[k], nk));
      p->anchor[n] = p->anchor[k];
      p->moff[n]   = nm;
      p->loff[n++] = nl;
      nm += m;
      nl += nk;
      continue;
    }
    ip[0] = m;
    ip[1] = p->anchor[k];
    PetscCall(PetscArraycpy(ip + 2, p->first + p->moff[k], m));
    PetscCall(PetscArraycpy(ip + 2 + m, p->ext + p->moff[k], m));
    PetscCall(PetscArraycpy(ip + 2 + 2 * m, p->place + p->moff[k], m));
    PetscCall(PetscArraycpy(rbuf + at[1][dest[k]], p->L + p->loff[k], nk));
    at[0][dest[k]] += (PetscMPIInt)(2 + 3 * m);
    at[1][dest[k]] += (PetscMPIInt)nk;
  }
  p->n       = n;
  p->moff[n] = nm;
  p->loff[n] = nl;
  for (PetscMPIInt q = 0; q < size; q++)
    for (int k = 0; k < 2; k++) at[k][q] -= count[k][q];
  PetscCall(HendersonExchange(comm, MPIU_INT, sizeof(PetscInt), count[0], at[0], ibuf, rcount[0], rat[0], (void **)&rib, &nri, "record terms"));
  PetscCall(HendersonExchange(comm, MPIU_REAL, sizeof(PetscReal), count[1], at[1], rbuf, rcount[1], rat[1], (void **)&rrb, &nrr, "record terms"));
  PetscCall(PetscFree2(ibuf, rbuf));
  n = nm = 0;
  for (PetscCount i = 0; i < nri; i += 2 + 3 * rib[i]) n++, nm += rib[i];
  PetscCall(PiecesReserve(p, n, nm, (PetscInt)nrr));
  for (PetscCount i = 0, r = 0; i < nri;) {
    PetscInt   m = rib[i], d = 0, *first, *ext;
    PetscReal *L;
    for (PetscInt j = 0; j < m; j++) d += rib[i + 2 + m + j];
    PetscCall(PiecesNext(p, m, d, &first, &ext, &L));
    PetscCall(PetscArraycpy(first, rib + i + 2, m));
    PetscCall(PetscArraycpy(ext, rib + i + 2 + m, m));
    PetscCall(PetscArraycpy(p->place + p->moff[p->n], rib + i + 2 + 2 * m, m));
    PetscCall(PetscArraycpy(L, rrb + r, d * d));
    p->anchor[p->n++] = rib[i + 1];
    i += 2 + 3 * m;
    r += d * d;
  }
  PetscCall(PetscFree(rib));
  PetscCall(PetscFree(rrb));
  for (int k = 0; k < 2; k++) PetscCall(PetscFree4(count[k], at[k], rcount[k], rat[k]));
  PetscCall(PetscFree(dest));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Not collective. This rank's records' pieces, into LOCAL; PAIRS: the blocks that go with an animal, as they say. */
static PetscErrorCode RecordPieces(Model model, Equations eq, Records records, const PetscBool family[], PetscInt root, const EquationsBlock *rootblock,
                                   Pieces *local, Pairs *pairs, Signatures *S)
{
  RecordTerms rt;
  PetscInt    nrec, *work, *host;
  PetscBool  *anchors, *fixed, *other;

  PetscFunctionBeginUser;
  PetscCall(RecordTermsCreate(model, eq, records, &rt));
  PetscCall(RecordsGetLocalSize(records, &nrec));
  PetscCall(AnchorSlots(model, &rt, family, &anchors, &fixed));
  PetscCall(HostSlots(model, &rt, family, root, &host, &other));
  PetscCall(PetscMalloc1(4 * rt.nslots + 1, &work));
  PetscCall(PiecesReserve(local, nrec, 3 * nrec, 9 * nrec)); /* most records: 3 levels of one equation */
  for (PetscInt r = 0; r < nrec; r++) PetscCall(RecordPiece(&rt, r, anchors, fixed, host, other, rootblock, work, local, pairs, S));
  PetscCall(PetscFree(work));
  PetscCall(PetscFree2(host, other));
  PetscCall(PetscFree2(anchors, fixed));
  PetscCall(RecordTermsDestroy(&rt));
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
  PetscCall(PiecesReserve(p, t.n, t.offset[t.n], dim * dim * t.voffset[t.n]));
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
  PetscMPIInt size, *count, *at, *rcount, *rat, *dest;
  PetscInt   *buf;
  PetscCount  nr;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(PetscCalloc4(size, &count, size + 1, &at, size, &rcount, size, &rat));
  PetscCall(PetscMalloc1(n + 1, &dest));
  for (PetscInt k = 0; k < n; k++) {
    PetscCall(PetscLayoutFindOwner(layout, items[k * width], &dest[k]));
    count[dest[k]] += (PetscMPIInt)width;
  }
  for (PetscMPIInt q = 0; q < size; q++) at[q + 1] = at[q] + count[q];
  PetscCall(PetscMalloc1(n * width + 1, &buf));
  for (PetscInt k = 0; k < n; k++) {
    PetscCall(PetscArraycpy(buf + at[dest[k]], items + k * width, width));
    at[dest[k]] += (PetscMPIInt)width;
  }
  for (PetscMPIInt q = 0; q < size; q++) at[q] -= count[q];
  PetscCall(HendersonExchange(comm, MPIU_INT, sizeof(PetscInt), count, at, buf, rcount, rat, (void **)recv, &nr, "blocks that go with an animal"));
  *nrecv = (PetscInt)(nr / width);
  PetscCall(PetscFree(buf));
  PetscCall(PetscFree(dest));
  PetscCall(PetscFree4(count, at, rcount, rat));
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
  PetscInt rstart, rend, nb, *sizes, n = 0, *recv, *items, *back, nback;

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

/* Items of width 6 (route, count, three sums, row): by signature, then row. */
static int CompareSignatures(const void *a, const void *b)
{
  const PetscInt *x = (const PetscInt *)a, *y = (const PetscInt *)b;
  for (int k = 1; k < 6; k++)
    if (x[k] != y[k]) return x[k] < y[k] ? -1 : 1;
  return 0;
}

/* Collective. Fixed class levels touched by the same record factors (S, as this rank's records say) become one
   unknown: every level of such a set but the first goes with the first (PAIRS). Apart, they would make two
   factors (two cows of a herd-year-season, tested on the same days) share several unknowns, loops that belief
   propagation counts twice: the 305-day reliabilities of a test-day model were 0.05 high (benchmarks/RESULTS.md).
   Each level's signature is summed by its owner, then the levels meet at a rank chosen by their signature. */
static PetscErrorCode MergePairs(MPI_Comm comm, PetscLayout layout, const Signatures *S, Pairs *pairs)
{
  PetscInt *items, *recv, n, N, m = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetSize(layout, &N));
  PetscCall(PetscMalloc1(5 * S->n + 1, &items));
  for (PetscInt k = 0; k < S->n; k++) {
    items[5 * k]     = S->entry[k].row;
    items[5 * k + 1] = S->entry[k].count;
    for (PetscInt j = 0; j < 3; j++) items[5 * k + 2 + j] = S->entry[k].sum[j];
  }
  PetscCall(SendToOwners(comm, layout, S->n, 5, items, &n, &recv));
  PetscCall(PetscFree(items));
  qsort(recv, (size_t)n, 5 * sizeof(PetscInt), ComparePairs); /* by row */
  PetscCall(PetscMalloc1(6 * n + 1, &items));
  for (PetscInt k = 0; k < n;) {
    PetscInt row = recv[5 * k], count = 0, sum[3] = {0, 0, 0};
    for (; k < n && recv[5 * k] == row; k++) {
      count = count < 0 || recv[5 * k + 1] < 0 ? -1 : count + recv[5 * k + 1];
      for (PetscInt j = 0; j < 3; j++) sum[j] = (sum[j] + recv[5 * k + 2 + j]) & SIGNATURE_MASK;
    }
    if (count < 0) continue;
    items[6 * m]     = sum[0] % N; /* a row whose owner sees every level of this signature */
    items[6 * m + 1] = count;
    for (PetscInt j = 0; j < 3; j++) items[6 * m + 2 + j] = sum[j];
    items[6 * m + 5] = row;
    m++;
  }
  PetscCall(PetscFree(recv));
  PetscCall(SendToOwners(comm, layout, m, 6, items, &n, &recv));
  PetscCall(PetscFree(items));
  qsort(recv, (size_t)n, 6 * sizeof(PetscInt), CompareSignatures);
  for (PetscInt k = 0, j; k < n; k = j)
    for (j = k + 1; j < n && !memcmp(recv + 6 * j + 1, recv + 6 * k + 1, 4 * sizeof(PetscInt)); j++)
      PetscCall(PairsAdd(pairs, recv[6 * j + 5], recv[6 * k + 5]));
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

/* Collective. The pieces' members that go with an animal become the animal's block at their place, and so do
   their anchors (before the pieces go to their anchor's rank). */
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
    if (host[j] >= 0) p->anchor[k] = host[j];
  }
  PetscCall(PetscFree2(host, place));
  PetscCall(PetscFree(rows));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- all of them ---- */

/* The pairs that make an animal's unknowns in every pedigree group one: the levels of family group G (not the
   first, G0) go with the first's (a maternal effect in a `random` statement of its own goes with the
   animal's direct effects; else the records of a dam's calves would share her two unknowns). */
static PetscErrorCode GroupPairs(Relationship r0, Relationship r, Pairs *pairs)
{
  const EquationsBlock *b0, *b;
  PetscInt              lo, hi;

  PetscFunctionBeginUser;
  PetscCall(RelationshipGetBlocks(r0, &b0, NULL));
  PetscCall(RelationshipGetBlocks(r, &b, NULL));
  PetscCall(RelationshipGetLocalLevels(r, &lo, &hi));
  for (PetscInt l = lo; l < hi && l < b0->nlevels; l++) {
    PetscInt have = 0, have0 = 0;
    for (PetscInt k = 0; k < b->size; k++) have += EquationsBlockEquation(b, l, k) >= 0;
    for (PetscInt k = 0; k < b0->size; k++) have0 += EquationsBlockEquation(b0, l, k) >= 0;
    if (have && have0) PetscCall(PairsAdd(pairs, EquationsBlockFirst(b, l), EquationsBlockFirst(b0, l)));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PEVPiecesCreate(MPI_Comm comm, Model model, Equations eq, Records records, PetscInt nrel, Relationship rel[], PetscLayout layout, Pieces *p,
                               Attachments *at)
{
  Pairs      pairs;
  Pieces     local;
  Signatures S = {0};
  PetscBool *family;
  PetscInt   first = -1, n;

  PetscFunctionBeginUser;
  PetscCall(PetscHMapICreate(&S.index));
  PetscCall(PetscMemzero(p, sizeof(*p)));
  PetscCall(PetscMemzero(&local, sizeof(local)));
  PetscCall(PetscMemzero(&pairs, sizeof(pairs)));
  PetscCall(PetscMalloc1(nrel + 1, &family));
  for (PetscInt g = 0; g < nrel; g++) { /* a group whose K^-1 has families anchors the records of its animals */
    RelationshipType type;
    PetscCall(RelationshipGetType(rel[g], &type));
    family[g] = strcmp(type, RELATIONSHIPIID) ? PETSC_TRUE : PETSC_FALSE;
    if (family[g] && first < 0)
      first = g;
    else if (family[g])
      PetscCall(GroupPairs(rel[first], rel[g], &pairs));
  }
  {
    const EquationsBlock *rootblock = NULL;
    if (first >= 0) PetscCall(RelationshipGetBlocks(rel[first], &rootblock, NULL));
    PetscCall(RecordPieces(model, eq, records, family, first, rootblock, &local, &pairs, &S));
  }
  PetscCall(PetscFree(family));
  for (PetscInt g = 0; g < nrel; g++) PetscCall(RelationshipPieces(rel[g], &local));
  PetscCall(MergePairs(comm, layout, &S, &pairs));
  PetscCall(PetscHMapIDestroy(&S.index));
  PetscCall(PetscFree(S.entry));
  PetscCall(AttachmentsCreate(comm, eq, layout, &pairs, at));
  n = pairs.n;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &n, 1, MPIU_INT, MPI_SUM, comm));
  if (n) PetscCall(PiecesAttach(comm, layout, at, &local)); /* there are blocks that go with an animal */
  PetscCall(PetscFree(pairs.pair));
  PetscCall(ExchangePieces(comm, layout, &local)); /* to the anchor's rank: the pieces of one anchor together */
  *p = local;
  PetscFunctionReturn(PETSC_SUCCESS);
}
