/* Approximate PEV (pev.h, -pev approximate): loopy Gaussian belief propagation on the terms of C.

   C is a sum of small terms, the factors: what the records of one animal say (W_r' R_r^-1 W_r over the levels
   they touch) together with that animal's term of K^-1 (its family: child, sire, dam), the other terms of
   K^-1 (an iid level, a genotyped animal's own genomic information), and the records that have no animal.
   The unknowns are the point blocks (a level's equations: traits, direct and maternal, coefficients), an
   animal's blocks in every pedigree group and its permanent environments being one unknown. Each round every
   factor tells each of its unknowns the precision it gives once its other unknowns are absorbed, each with
   the precision the rest of the model gives it (its cavity: its total less this factor's last message); an
   unknown's total is the sum of its messages, its PEV block the inverse of the total. Exact on a tree; the
   pedigree and the contemporary groups make loops, and the reliabilities come out a little high
   (benchmarks/RESULTS.md: correlation with exact 0.98-0.999, about 0.01 high). Two factors that share two
   unknowns count their information twice: hence an animal's records and its family are one factor (a calf's
   record and its family both hold the dam), a dam's maternal permanent environment is part of her unknown
   (her calves' factors all hold both), and the records of a pen are one factor (they share its animals).

   Distributed like the solve: a factor lives on the rank that owns its animal (records travel there once,
   pev_pieces.c), and each round is a broadcast of the totals to the factors' ranks (PetscSF over the
   unknowns' entries) and a reduction of the messages back. */
#include "pevimpl.h"
#include <henderson/dense.h>
#include <henderson/log.h>

/* ---- the factors ---- */

typedef struct {
  PetscInt  n;                  /* the point blocks this rank's factors touch, */
  PetscInt *first, *size, *off; /* by first equation (ascending): equations, offset of its b x b entries */
  PetscInt  entries;
} Variables;

typedef struct {
  PetscInt  n, dmax, mmax;
  PetscInt *moff, *var, *loff, *goff; /* members of f: moff[f]..; per member its variable, then (FactorsCreate()'s
                                         end) the offset of its total; and its message's offset */
  PetscInt  *size;                    /* per member, its unknown's order */
  PetscReal *L, *msg;
} Factors;

/* Collective. The unknowns of the pieces, with their order (ROOTSIZE: Attachments.size); the pieces' members
   then name their unknown's index. */
static PetscErrorCode VariablesCreate(MPI_Comm comm, PetscLayout layout, const PetscInt rootsize[], Pieces *p, Variables *v)
{
  PetscInt nm = p->n ? p->moff[p->n] : 0, *key, *member, n = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(nm + 1, &key, nm + 1, &member));
  for (PetscInt k = 0; k < nm; k++) key[k] = p->first[k], member[k] = k;
  PetscCall(PetscSortIntWithArray(nm, key, member)); /* one sort numbers the unknowns and renames the members */
  PetscCall(PetscMalloc1(nm + 1, &v->first));
  for (PetscInt k = 0; k < nm; k++) {
    if (!k || key[k] != key[k - 1]) v->first[n++] = key[k];
    p->first[member[k]] = n - 1;
  }
  PetscCall(PetscFree2(key, member));
  v->n = n;
  PetscCall(PetscMalloc2(n + 1, &v->size, n + 1, &v->off));
  PetscCall(PEVBcastRows(comm, layout, n, v->first, rootsize, v->size));
  v->entries = 0;
  for (PetscInt k = 0; k < n; k++) {
    v->off[k] = v->entries;
    v->entries += v->size[k] * v->size[k];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode VariablesDestroy(Variables *v)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree(v->first));
  PetscCall(PetscFree2(v->size, v->off));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The members (variables) of the pieces ORDER[0..N-1], in *M of them, into MEMBER (the order they come). */
static void GroupMembers(const Pieces *p, PetscInt n, const PetscInt order[], PetscInt *m, PetscInt member[])
{
  *m = 0;
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt k = p->moff[order[i]]; k < p->moff[order[i] + 1]; k++) {
      PetscInt x = p->first[k], j = 0;
      while (j < *m && member[j] != x) j++;
      if (j == *m) member[(*m)++] = x;
    }
}

/* Adds piece K (at most PEV_APPROXIMATE_MAX_MEMBERS members) into the factor over MEMBER (offsets AT, order D). */
static void AddPiece(const Pieces *p, PetscInt k, const PetscInt member[], const PetscInt at[], PetscInt d, PetscReal L[])
{
  PetscInt np = p->moff[k + 1] - p->moff[k], dp = 0, where[PEV_APPROXIMATE_MAX_MEMBERS], po[PEV_APPROXIMATE_MAX_MEMBERS];

  for (PetscInt i = 0; i < np; i++) {
    PetscInt x = p->first[p->moff[k] + i], j = 0;
    while (member[j] != x) j++;
    where[i] = at[j] + p->place[p->moff[k] + i];
    po[i]    = dp;
    dp += p->ext[p->moff[k] + i];
  }
  for (PetscInt i = 0; i < np; i++)
    for (PetscInt j = 0; j < np; j++)
      for (PetscInt a = 0; a < p->ext[p->moff[k] + i]; a++)
        for (PetscInt b = 0; b < p->ext[p->moff[k] + j]; b++) L[(where[i] + a) * d + where[j] + b] += p->L[p->loff[k] + (po[i] + a) * dp + po[j] + b];
}

/* Not collective. The factors: the pieces with one anchor summed into one, each other piece its own. */
static PetscErrorCode FactorsCreate(const Pieces *p, const Variables *v, PetscInt rstart, PetscInt rend, Factors *F)
{
  PetscInt *order, *key, *start, *at, *count, ng = 0, nmember = p->n ? p->moff[p->n] : 0, nmsg = 0, none = rend - rstart;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(F, sizeof(*F)));
  PetscCall(PetscMalloc3(p->n + 1, &order, p->n + 1, &key, p->n + 2, &start));
  PetscCall(PetscCalloc1(none + 2, &count)); /* the anchors are this rank's rows: a counting sort by anchor */
  for (PetscInt k = 0; k < p->n; k++) count[(p->anchor[k] < 0 ? none : p->anchor[k] - rstart) + 1]++;
  for (PetscInt r = 0; r <= none; r++) count[r + 1] += count[r];
  for (PetscInt k = 0; k < p->n; k++) {
    PetscInt slot        = p->anchor[k] < 0 ? none : p->anchor[k] - rstart; /* the pieces without an anchor last, one each */
    key[count[slot]]     = slot;
    order[count[slot]++] = k;
  }
  PetscCall(PetscFree(count));
  for (PetscInt i = 0; i < p->n; ng++) {
    start[ng] = i++;
    while (key[start[ng]] != none && i < p->n && key[i] == key[start[ng]]) i++;
  }
  start[ng] = p->n;
  F->n      = ng;
  PetscCall(PetscMalloc4(ng + 1, &F->moff, nmember + 1, &F->var, ng + 1, &F->loff, nmember + 1, &F->goff));
  F->moff[0] = F->loff[0] = 0;
  for (PetscInt f = 0; f < ng; f++) {
    PetscInt m, d = 0;
    GroupMembers(p, start[f + 1] - start[f], order + start[f], &m, F->var + F->moff[f]);
    for (PetscInt j = F->moff[f]; j < F->moff[f] + m; j++) {
      F->goff[j] = nmsg;
      nmsg += v->size[F->var[j]] * v->size[F->var[j]];
      d += v->size[F->var[j]];
    }
    F->moff[f + 1] = F->moff[f] + m;
    F->loff[f + 1] = F->loff[f] + d * d;
    F->dmax        = PetscMax(F->dmax, d);
    F->mmax        = PetscMax(F->mmax, m);
  }
  PetscCall(PetscCalloc1(F->loff[ng] + 1, &F->L));
  PetscCall(PetscCalloc1(nmsg + 1, &F->msg));
  PetscCall(PetscMalloc1(F->mmax + 1, &at));
  for (PetscInt f = 0; f < ng; f++) {
    PetscInt m = F->moff[f + 1] - F->moff[f], d = 0;
    for (PetscInt j = 0; j < m; j++) at[j] = d, d += v->size[F->var[F->moff[f] + j]];
    for (PetscInt k = start[f]; k < start[f + 1]; k++) AddPiece(p, order[k], F->var + F->moff[f], at, d, F->L + F->loff[f]);
  }
  PetscCall(PetscMalloc1(nmember + 1, &F->size));
  for (PetscInt j = 0; j < F->moff[ng]; j++) { /* the rounds read the members' totals, not the variables' tables */
    F->size[j] = v->size[F->var[j]];
    F->var[j]  = v->off[F->var[j]];
  }
  PetscCall(PetscFree(at));
  PetscCall(PetscFree3(order, key, start));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FactorsDestroy(Factors *F)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree4(F->moff, F->var, F->loff, F->goff));
  PetscCall(PetscFree(F->size));
  PetscCall(PetscFree(F->L));
  PetscCall(PetscFree(F->msg));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- the rounds ---- */

/* In place: the Cholesky factor L of the symmetric positive definite A (N x N, A = L L'), then X = L^-1 in its
   lower triangle; false (A spoilt) when a pivot is below 1e-12 of the largest diagonal entry. Then
   (A^-1)_ij = sum over k >= max(i, j) of X_ki X_kj. */
static PetscBool CholeskyInverseFactor(PetscInt n, PetscReal A[])
{
  PetscReal scale = 0;

  for (PetscInt i = 0; i < n; i++) scale = PetscMax(scale, A[i * n + i]);
  if (!(scale > 0)) return PETSC_FALSE;
  for (PetscInt j = 0; j < n; j++) { /* A = L L', L in the lower triangle */
    PetscReal s = A[j * n + j];
    for (PetscInt k = 0; k < j; k++) s -= A[j * n + k] * A[j * n + k];
    if (!(s > 1e-12 * scale)) return PETSC_FALSE;
    A[j * n + j] = s = PetscSqrtReal(s);
    for (PetscInt i = j + 1; i < n; i++) {
      PetscReal t = A[i * n + j];
      for (PetscInt k = 0; k < j; k++) t -= A[i * n + k] * A[j * n + k];
      A[i * n + j] = t / s;
    }
  }
  for (PetscInt j = 0; j < n; j++) { /* X = L^-1, column by column, in place */
    A[j * n + j] = 1 / A[j * n + j];
    for (PetscInt i = j + 1; i < n; i++) {
      PetscReal t = 0;
      for (PetscInt k = j; k < i; k++) t -= A[i * n + k] * A[k * n + j];
      A[i * n + j] = t / A[i * n + i];
    }
  }
  return PETSC_TRUE;
}

/* B = (A^-1)[o..o+b-1, o..o+b-1] from X (CholeskyInverseFactor() of the N x N A). */
static void InverseBlock(PetscInt n, const PetscReal X[], PetscInt o, PetscInt b, PetscReal B[])
{
  for (PetscInt i = 0; i < b; i++)
    for (PetscInt j = 0; j <= i; j++) {
      PetscReal t = 0;
      for (PetscInt k = o + i; k < n; k++) t += X[k * n + o + i] * X[k * n + o + j];
      B[i * b + j] = B[j * b + i] = t;
    }
}

/* A^-1 in place for the symmetric positive definite A (N x N); false (A spoilt) when it is not. WORK: N x N. */
static PetscBool InvertSPD(PetscInt n, PetscReal A[], PetscReal work[])
{
  if (!CholeskyInverseFactor(n, A)) return PETSC_FALSE;
  InverseBlock(n, A, 0, n, work);
  for (PetscInt k = 0; k < n * n; k++) A[k] = work[k];
  return PETSC_TRUE;
}

/* The pseudo-inverse of the symmetric positive semidefinite A (N x N) in place (eigenvalues below 1e-10 of the
   largest taken as 0): for singular blocks, where any generalised inverse gives the same Schur complement.
   WORK: 2 N x N + N. */
static PetscErrorCode PseudoInvert(PetscInt n, PetscReal A[], PetscReal work[])
{
  PetscReal *V = work, *lambda = work + n * n, top = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscArraycpy(V, A, n * n));
  PetscCall(DenseSymmetricEigen(n, V, lambda));
  for (PetscInt k = 0; k < n; k++) top = PetscMax(top, PetscAbsReal(lambda[k]));
  PetscCall(PetscArrayzero(A, n * n));
  for (PetscInt k = 0; k < n; k++) {
    if (!(lambda[k] > 1e-10 * top)) continue;
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = 0; j < n; j++) A[i * n + j] += V[k * n + i] * V[k * n + j] / lambda[k];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Factor F's messages for the cavities CAV (its members' b x b blocks in turn), when S = L + blockdiag(CAV) is
   positive definite: the message to x is ((S^-1)_xx)^-1 - cav_x = L_xx - L_xY S_YY^-1 L_Yx. False otherwise. */
static PetscBool MessagesDirect(PetscInt m, const PetscInt size[], PetscInt d, const PetscReal L[], const PetscReal cav[], PetscReal msg[], PetscReal work[])
{
  PetscReal *S = work, *B = work + d * d, *w = B + d * d;

  for (PetscInt k = 0; k < d * d; k++) S[k] = L[k];
  for (PetscInt j = 0, at = 0, c = 0; j < m; c += size[j] * size[j], at += size[j], j++)
    for (PetscInt a = 0; a < size[j]; a++)
      for (PetscInt b = 0; b < size[j]; b++) S[(at + a) * d + at + b] += cav[c + a * size[j] + b];
  if (!CholeskyInverseFactor(d, S)) return PETSC_FALSE;
  for (PetscInt j = 0, at = 0, c = 0; j < m; c += size[j] * size[j], at += size[j], j++) {
    PetscInt b = size[j];
    InverseBlock(d, S, at, b, B);
    if (b == 1) {
      if (!(B[0] > 0)) return PETSC_FALSE;
      msg[c] = 1 / B[0] - cav[c];
      continue;
    }
    if (!InvertSPD(b, B, w)) return PETSC_FALSE;
    for (PetscInt k = 0; k < b * b; k++) msg[c + k] = B[k] - cav[c + k];
  }
  return PETSC_TRUE;
}

/* The same through a pseudo-inverse of S_YY for each member x (a flat level: S singular). WORK: 4 d^2 + d;
   d at most PEV_APPROXIMATE_MAX_MEMBERS. */
static PetscErrorCode MessagesPseudo(PetscInt m, const PetscInt size[], PetscInt d, const PetscReal L[], const PetscReal cav[], PetscReal msg[],
                                     PetscReal work[])
{
  PetscReal *M = work, *w = work + d * d;
  PetscInt   y[PEV_APPROXIMATE_MAX_MEMBERS];

  PetscFunctionBeginUser;
  for (PetscInt j = 0, at = 0, c = 0; j < m; c += size[j] * size[j], at += size[j], j++) {
    PetscInt ny = 0, b = size[j];
    for (PetscInt i = 0, o = 0, ci = 0; i < m; ci += size[i] * size[i], o += size[i], i++) /* Y: the other members' equations */
      if (i != j)
        for (PetscInt a = 0; a < size[i]; a++) y[ny++] = o + a;
    for (PetscInt a = 0; a < ny; a++)
      for (PetscInt e = 0; e < ny; e++) M[a * ny + e] = L[y[a] * d + y[e]];
    for (PetscInt i = 0, o = 0, ci = 0, yo = 0; i < m; ci += size[i] * size[i], o += size[i], i++) {
      if (i == j) continue;
      for (PetscInt a = 0; a < size[i]; a++)
        for (PetscInt e = 0; e < size[i]; e++) M[(yo + a) * ny + yo + e] += cav[ci + a * size[i] + e];
      yo += size[i];
    }
    PetscCall(PseudoInvert(ny, M, w));
    for (PetscInt a = 0; a < b; a++)
      for (PetscInt e = 0; e < b; e++) {
        PetscReal t = L[(at + a) * d + at + e];
        for (PetscInt u = 0; u < ny; u++)
          for (PetscInt s = 0; s < ny; s++) t -= L[(at + a) * d + y[u]] * M[u * ny + s] * L[y[s] * d + at + e];
        msg[c + a * b + e] = t;
      }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One round on this rank's factors: new messages from the variables' TOTAL, summed into SUM (zeroed first). */
/* How many factors ahead a round asks for the members' totals and sums: their unknowns are anywhere. */
#define PREFETCH_AHEAD 8

HENDERSON_PREFETCH_INLINE void PrefetchFactor(const Factors *F, PetscInt f, const PetscReal total[], PetscReal sum[])
{
  for (PetscInt j = F->moff[f]; j < F->moff[f + 1]; j++) {
    __builtin_prefetch(total + F->var[j], 0, 1);
    __builtin_prefetch(sum + F->var[j], 1, 1);
  }
}

static PetscErrorCode FactorsRound(Factors *F, PetscInt entries, const PetscReal total[], PetscReal sum[], PetscInt64 *pseudo)
{
  PetscReal *cav, *work;
  PetscInt   dmax = F->dmax;

  PetscFunctionBeginUser;
  PetscCall(PetscArrayzero(sum, entries));
  PetscCall(PetscMalloc2(dmax * dmax + 1, &cav, 4 * dmax * dmax + dmax + 1, &work));
  for (PetscInt f = 0; f < F->n; f++) {
    PetscInt        m = F->moff[f + 1] - F->moff[f], d = 0;
    const PetscInt *size = F->size + F->moff[f], *off = F->var + F->moff[f];
    PetscReal      *msg = F->msg + F->goff[F->moff[f]];
    if (f + PREFETCH_AHEAD < F->n) PrefetchFactor(F, f + PREFETCH_AHEAD, total, sum);
    for (PetscInt j = 0, c = 0; j < m; c += size[j] * size[j], j++) {
      d += size[j];
      for (PetscInt k = 0; k < size[j] * size[j]; k++) cav[c + k] = total[off[j] + k] - msg[c + k];
    }
    if (m == 1)
      PetscCall(PetscArraycpy(msg, F->L + F->loff[f], d * d)); /* a level's own term: all it says */
    else if (!MessagesDirect(m, size, d, F->L + F->loff[f], cav, msg, work)) {
      PetscCall(MessagesPseudo(m, size, d, F->L + F->loff[f], cav, msg, work));
      (*pseudo)++;
    }
    for (PetscInt j = 0, c = 0; j < m; c += size[j] * size[j], j++)
      for (PetscInt k = 0; k < size[j] * size[j]; k++) sum[off[j] + k] += msg[c + k];
  }
  PetscCall(PetscFree2(cav, work));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The start: every variable's total is the sum of the diagonal blocks of its factors (messages 0). */
static void FactorsDiagonal(const Factors *F, PetscInt entries, PetscReal sum[])
{
  for (PetscInt k = 0; k < entries; k++) sum[k] = 0;
  for (PetscInt f = 0; f < F->n; f++) {
    PetscInt d = 0, at = 0;
    for (PetscInt j = F->moff[f]; j < F->moff[f + 1]; j++) d += F->size[j];
    for (PetscInt j = F->moff[f]; j < F->moff[f + 1]; j++) {
      PetscInt b = F->size[j];
      for (PetscInt a = 0; a < b; a++)
        for (PetscInt e = 0; e < b; e++) sum[F->var[j] + a * b + e] += F->L[F->loff[f] + (at + a) * d + at + e];
      at += b;
    }
  }
}

/* ---- across ranks ---- */

/* The owned rows' unknowns: for each row the first of its unknown's entries among the roots, the unknown's
   order and the row's place in it -- or, for a block that goes with an animal, -1 - the first of its own b x b
   entries among BACK's leaves, b, and the row's place in the block. */
typedef struct {
  PetscInt  nrows, nroots, nback;
  PetscInt *entry, *size, *place;
  PetscSF   back; /* the hosts' inverted totals to the blocks that go with them */
} OwnedBlocks;

/* Collective. The SF from the hosts' entries to the owned blocks that go with them (their b x b, row-major). */
static PetscErrorCode BackSF(MPI_Comm comm, PetscLayout layout, const Attachments *at, OwnedBlocks *own)
{
  PetscInt     rstart, nb = 0, *hosts, *hentry, k = 0;
  PetscSFNode *remote;

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetRange(layout, &rstart, NULL));
  for (PetscInt q = 0; q < own->nrows; q++)
    if (own->entry[q] < 0 && !own->place[q]) nb++;
  PetscCall(PetscMalloc2(nb + 1, &hosts, nb + 1, &hentry));
  for (PetscInt q = 0; q < own->nrows; q++)
    if (own->entry[q] < 0 && !own->place[q]) hosts[k++] = at->host[q];
  PetscCall(PEVBcastRows(comm, layout, nb, hosts, own->entry, hentry));
  PetscCall(PetscMalloc1(own->nback + 1, &remote));
  k = 0;
  for (PetscInt q = 0; q < own->nrows; q++) {
    PetscInt    b = own->size[q], o = at->place[q], E = at->hsize[q], base = -1 - own->entry[q];
    PetscMPIInt owner;
    if (own->entry[q] >= 0 || own->place[q]) continue;
    PetscCall(PetscLayoutFindOwner(layout, at->host[q], &owner));
    for (PetscInt a = 0; a < b; a++)
      for (PetscInt c = 0; c < b; c++) {
        remote[base + a * b + c].rank  = owner;
        remote[base + a * b + c].index = hentry[k] + (o + a) * E + o + c;
      }
    k++;
  }
  PetscCall(PetscSFCreate(comm, &own->back));
  PetscCall(PetscSFSetGraph(own->back, own->nroots, own->nback, NULL, PETSC_COPY_VALUES, remote, PETSC_OWN_POINTER));
  PetscCall(PetscFree2(hosts, hentry));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. The owned unknowns of LAYOUT (roots: their entries in order) and the SF from them to the
   variables' entries. */
static PetscErrorCode VariablesSF(MPI_Comm comm, Equations eq, PetscLayout layout, const Attachments *at, const Variables *v, OwnedBlocks *own, PetscSF *sf)
{
  PetscInt     rstart, rend, nb, *sizes, *leafoff, nr = 0;
  PetscSFNode *remote;

  PetscFunctionBeginUser;
  PetscCall(PetscLayoutGetRange(layout, &rstart, &rend));
  PetscCall(EquationsGetPointBlocks(eq, rstart, rend, &nb, &sizes));
  own->nrows = rend - rstart;
  own->nback = 0;
  PetscCall(PetscMalloc3(own->nrows + 1, &own->entry, own->nrows + 1, &own->size, own->nrows + 1, &own->place));
  for (PetscInt k = 0, q = 0; k < nb; q += sizes[k++]) {
    PetscBool attached = at->host[q] >= 0 ? PETSC_TRUE : PETSC_FALSE;
    PetscInt  order    = attached ? sizes[k] : at->size[q];
    for (PetscInt a = 0; a < sizes[k]; a++) own->entry[q + a] = attached ? -1 - own->nback : nr, own->size[q + a] = order, own->place[q + a] = a;
    if (attached)
      own->nback += order * order;
    else
      nr += order * order;
  }
  own->nroots = nr;
  PetscCall(PetscFree(sizes));
  PetscCall(PetscMalloc1(v->n + 1, &leafoff));
  PetscCall(PEVBcastRows(comm, layout, v->n, v->first, own->entry, leafoff));
  PetscCall(PetscMalloc1(v->entries + 1, &remote));
  for (PetscInt x = 0; x < v->n; x++) {
    PetscMPIInt owner;
    PetscCall(PetscLayoutFindOwner(layout, v->first[x], &owner));
    for (PetscInt k = 0; k < v->size[x] * v->size[x]; k++) {
      remote[v->off[x] + k].rank  = owner;
      remote[v->off[x] + k].index = leafoff[x] + k;
    }
  }
  PetscCall(PetscFree(leafoff));
  PetscCall(PetscSFCreate(comm, sf));
  PetscCall(PetscSFSetGraph(*sf, nr, v->entries, NULL, PETSC_COPY_VALUES, remote, PETSC_OWN_POINTER));
  PetscCall(BackSF(comm, layout, at, own));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode OwnedBlocksDestroy(OwnedBlocks *own)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree3(own->entry, own->size, own->place));
  PetscCall(PetscSFDestroy(&own->back));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. The roots' TOTAL = the sum over the ranks of the variables' SUM; *CHANGE the largest relative
   change of a diagonal entry (against OLD, NULL: none), over the ranks. */
static PetscErrorCode Gather(MPI_Comm comm, PetscSF sf, const OwnedBlocks *own, const PetscReal sum[], PetscReal total[], PetscReal old[], PetscReal *change)
{
  PetscFunctionBeginUser;
  if (old) PetscCall(PetscArraycpy(old, total, own->nroots));
  PetscCall(PetscArrayzero(total, own->nroots));
  PetscCall(PetscSFReduceBegin(sf, MPIU_REAL, sum, total, MPI_SUM));
  PetscCall(PetscSFReduceEnd(sf, MPIU_REAL, sum, total, MPI_SUM));
  *change = 0;
  if (!old) PetscFunctionReturn(PETSC_SUCCESS);
  for (PetscInt q = 0; q < own->nrows; q++) {
    PetscInt at = own->entry[q] + own->place[q] * (own->size[q] + 1);
    if (own->entry[q] >= 0 && total[at] != 0) *change = PetscMax(*change, PetscAbsReal(total[at] - old[at]) / PetscAbsReal(total[at]));
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, change, 1, MPIU_REAL, MPI_MAX, comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Each owned unknown's total inverted in place (a pseudo-inverse where it is singular, NaN where nothing is
   known of it). */
static PetscErrorCode Invert(const OwnedBlocks *own, PetscReal total[])
{
  PetscInt   bmax = 1;
  PetscReal *B, *work;

  PetscFunctionBeginUser;
  for (PetscInt q = 0; q < own->nrows; q++) bmax = PetscMax(bmax, own->size[q]);
  PetscCall(PetscMalloc2(bmax * bmax, &B, 2 * bmax * bmax + bmax, &work));
  for (PetscInt q = 0; q < own->nrows; q++) {
    PetscInt   b     = own->size[q];
    PetscReal *T     = total + own->entry[q];
    PetscBool  known = PETSC_FALSE;
    if (own->place[q] || own->entry[q] < 0) continue;
    for (PetscInt k = 0; k < b * b; k++) known = (PetscBool)(known || T[k] != 0), B[k] = T[k];
    if (!known) {
      for (PetscInt k = 0; k < b * b; k++) T[k] = NAN;
      continue;
    }
    if (!InvertSPD(b, B, work)) {
      for (PetscInt k = 0; k < b * b; k++) B[k] = T[k];
      PetscCall(PseudoInvert(b, B, work));
    }
    PetscCall(PetscArraycpy(T, B, b * b));
  }
  PetscCall(PetscFree2(B, work));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Entry (row place A, column place C) of owned row Q's PEV block: in PEV (the inverted totals) or BACK. */
static inline PetscReal OwnedEntry(const OwnedBlocks *own, const PetscReal pev[], const PetscReal back[], PetscInt q, PetscInt a, PetscInt c)
{
  return own->entry[q] >= 0 ? pev[own->entry[q] + a * own->size[q] + c] : back[-1 - own->entry[q] + a * own->size[q] + c];
}

/* Collective. D's diagonal and the requested EXTRA entries (rows of this rank) from the inverted totals. */
static PetscErrorCode Results(const OwnedBlocks *own, const PetscReal pev[], PetscInt rstart, PetscCount n, const PetscInt rows[], const PetscInt cols[],
                              PetscReal extra[], Vec d)
{
  PetscReal   *back;
  PetscScalar *diag;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(own->nback + 1, &back));
  PetscCall(PetscSFBcastBegin(own->back, MPIU_REAL, pev, back, MPI_REPLACE));
  PetscCall(PetscSFBcastEnd(own->back, MPIU_REAL, pev, back, MPI_REPLACE));
  PetscCall(VecGetArray(d, &diag));
  for (PetscInt q = 0; q < own->nrows; q++) diag[q] = OwnedEntry(own, pev, back, q, own->place[q], own->place[q]);
  PetscCall(VecRestoreArray(d, &diag));
  for (PetscCount k = 0; k < n; k++) {
    PetscInt r = rows[k] - rstart, c = cols[k] - rstart;
    extra[k] = own->entry[r] == own->entry[c] ? OwnedEntry(own, pev, back, r, own->place[r], own->place[c]) : NAN;
  }
  PetscCall(PetscFree(back));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. The factors of C on this rank, the variables they touch, and the blocks that go with an animal. */
static PetscErrorCode FactorsBuild(MPI_Comm comm, Model model, Equations eq, Records records, PetscInt nrel, Relationship rel[], PetscLayout layout,
                                   Attachments *at, Variables *v, Factors *F)
{
  Pieces p;

  PetscFunctionBeginUser;
  PetscCall(PEVPiecesCreate(comm, model, eq, records, nrel, rel, layout, &p, at));
  PetscCall(VariablesCreate(comm, layout, at->size, &p, v));
  PetscCall(FactorsCreate(&p, v, layout->rstart, layout->rend, F));
  PetscCall(PEVPiecesDestroy(&p));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PEVComputeApproximate(Model model, Equations eq, Records records, PetscInt nrel, Relationship rel[], PetscInt max_rounds, PetscReal tol,
                                     PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal extra[], Vec d, PEVApproximateInfo *info)
{
  MPI_Comm    comm;
  PetscLayout layout;
  PetscInt    rstart;
  Variables   v;
  Factors     F;
  OwnedBlocks own;
  Attachments at;
  PetscSF     sf;
  PetscReal  *leaf, *sum, *total, *old;

  PetscFunctionBeginUser;
  PetscCall(PetscObjectGetComm((PetscObject)d, &comm));
  PetscCall(VecGetLayout(d, &layout));
  PetscCall(VecGetOwnershipRange(d, &rstart, NULL));
  PetscCall(FactorsBuild(comm, model, eq, records, nrel, rel, layout, &at, &v, &F));
  PetscCall(VariablesSF(comm, eq, layout, &at, &v, &own, &sf));
  PetscCall(PEVAttachmentsDestroy(&at));
  PetscCall(PetscMalloc4(v.entries + 1, &leaf, v.entries + 1, &sum, own.nroots + 1, &total, own.nroots + 1, &old));
  PetscCall(PetscMemzero(info, sizeof(*info)));
  info->factors = F.n;
  info->largest = F.dmax;
  FactorsDiagonal(&F, v.entries, sum);
  PetscCall(Gather(comm, sf, &own, sum, total, NULL, &info->change));
  while (info->rounds < max_rounds) {
    PetscCall(PetscSFBcastBegin(sf, MPIU_REAL, total, leaf, MPI_REPLACE));
    PetscCall(PetscSFBcastEnd(sf, MPIU_REAL, total, leaf, MPI_REPLACE));
    PetscCall(FactorsRound(&F, v.entries, leaf, sum, &info->pseudo));
    PetscCall(Gather(comm, sf, &own, sum, total, old, &info->change));
    info->rounds++;
    if (HendersonProgressDue()) HendersonProgressPrintf("pev: round %d, largest change %.2e", (int)info->rounds, (double)info->change);
    if (info->change < tol) break;
  }
  PetscCall(Invert(&own, total));
  PetscCall(Results(&own, total, rstart, n, rows, cols, extra, d));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &info->factors, 1, MPIU_INT64, MPI_SUM, comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &info->pseudo, 1, MPIU_INT64, MPI_SUM, comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &info->largest, 1, MPIU_INT, MPI_MAX, comm));
  PetscCall(PetscFree4(leaf, sum, total, old));
  PetscCall(OwnedBlocksDestroy(&own));
  PetscCall(PetscSFDestroy(&sf));
  PetscCall(FactorsDestroy(&F));
  PetscCall(VariablesDestroy(&v));
  PetscFunctionReturn(PETSC_SUCCESS);
}
