/* The dense block of single step: tau Gt^-1 - omega A22^-1 over the genotyped animals, rows where the
   animals are owned. Every dense matrix here is a PETSc MPIDense matrix with the rows of the genotyped
   animals a rank owns (pedigree order); products by PETSc (MatMatTransposeMult), factorizations by
   ScaLAPACK through PETSc (MATSCALAPACK), the small dense pieces of APY by LAPACK/BLAS. */
#include "genotypesimpl.h"
#include <henderson/dense.h>
#include <petscblaslapack.h>

/* SNPs of the rows moved at once (memory: two buffers of that many calls a row). */
#define MOVE_BLOCK 4096

/* The genotyped animals in pedigree order (every rank), and this rank's rows: those it owns. */
static PetscErrorCode SortAnimals(Genotypes g)
{
  PetscMPIInt *counts, *at, n = (PetscMPIInt)g->n;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(g->size, &counts, g->size + 1, &at));
  PetscCallMPI(MPI_Allgather(&n, 1, MPI_INT, counts, 1, MPI_INT, g->comm));
  at[0] = 0;
  for (PetscMPIInt k = 0; k < g->size; k++) at[k + 1] = at[k] + counts[k];
  g->ng = at[g->size];
  PetscCall(PetscFree(g->sorted));
  PetscCall(PetscMalloc1(g->ng + 1, &g->sorted));
  PetscCallMPI(MPI_Allgatherv(g->animal, n, MPIU_INT, g->sorted, counts, at, MPIU_INT, g->comm));
  PetscCall(PetscSortInt(g->ng, g->sorted));
  g->first = g->nloc = 0;
  for (PetscInt k = 0; k < g->ng; k++) {
    if (g->sorted[k] < g->lo)
      g->first++;
    else if (g->sorted[k] < g->hi)
      g->nloc++;
  }
  PetscCall(PetscFree2(counts, at));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* SEND_N[k], SEND_AT[k]: which of the N ascending positions POS rank k owns (the genotyped animals in
   pedigree order, each rank a contiguous range from its g->first). */
static PetscErrorCode SplitByOwner(Genotypes g, PetscInt n, const PetscInt pos[], PetscMPIInt send_n[], PetscMPIInt send_at[])
{
  PetscInt *firsts;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(g->size + 1, &firsts));
  PetscCallMPI(MPI_Allgather(&g->first, 1, MPIU_INT, firsts, 1, MPIU_INT, g->comm));
  firsts[g->size] = g->ng;
  for (PetscMPIInt k = 0, i = 0; k < g->size; k++) {
    send_at[k] = i;
    while (i < n && pos[i] < firsts[k + 1]) i++;
    send_n[k] = i - send_at[k];
  }
  PetscCall(PetscFree(firsts));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* HendersonExchange() of packed genotype rows (or blocks of them) of WIDTH bytes each. */
static PetscErrorCode ExchangeRows(Genotypes g, PetscInt width, const PetscMPIInt send_n[], const PetscMPIInt send_at[], const uint8_t send[],
                                   PetscMPIInt recv_n[], PetscMPIInt recv_at[], uint8_t **recv, PetscCount *nrecv)
{
  MPI_Datatype rowtype;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Type_contiguous((PetscMPIInt)width, MPI_UINT8_T, &rowtype));
  PetscCallMPI(MPI_Type_commit(&rowtype));
  PetscCall(HendersonExchange(g->comm, rowtype, (size_t)width, send_n, send_at, send, recv_n, recv_at, (void **)recv, nrecv, "genotype rows"));
  PetscCallMPI(MPI_Type_free(&rowtype));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The genotype rows to the ranks that own their animals, in pedigree order: g->calls becomes the nloc own
   rows (g->n, g->animal follow; the rows' IDs and lines are not needed past the numbering). A block of
   MOVE_BLOCK bytes (4 MOVE_BLOCK SNPs) at a time, so that the copies in flight stay small beside the rows. */
static PetscErrorCode MoveRows(Genotypes g)
{
  PetscInt    *order, *pos, *recv_pos;
  PetscMPIInt *send_n, *send_at, *recv_n, *recv_at;
  uint8_t     *send, *recv, *moved;
  PetscCount   nrecv;
  size_t       width = (size_t)g->width;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(g->n + 1, &order, g->n + 1, &pos));
  PetscCall(PetscMalloc4(g->size, &send_n, g->size, &send_at, g->size, &recv_n, g->size, &recv_at));
  for (PetscInt i = 0; i < g->n; i++) {
    PetscCall(PetscFindInt(g->animal[i], g->ng, g->sorted, &pos[i]));
    order[i] = i;
  }
  PetscCall(PetscSortIntWithArray(g->n, pos, order)); /* positions ascend with the destination rank */
  PetscCall(SplitByOwner(g, g->n, pos, send_n, send_at));
  PetscCall(HendersonExchange(g->comm, MPIU_INT, sizeof(PetscInt), send_n, send_at, pos, recv_n, recv_at, (void **)&recv_pos, &nrecv, "genotyped animals"));
  PetscCheck(nrecv == g->nloc, PETSC_COMM_SELF, PETSC_ERR_PLIB, "%" PetscCount_FMT " genotype rows came for %" PetscInt_FMT " animals", nrecv, g->nloc);
  PetscCall(PetscMalloc1((size_t)g->nloc * width + 1, &moved));
  PetscCall(PetscMalloc1((size_t)g->n * MOVE_BLOCK + 1, &send));
  for (PetscInt j0 = 0; j0 < g->width; j0 += MOVE_BLOCK) {
    PetscInt nb = PetscMin(MOVE_BLOCK, g->width - j0);
    for (PetscInt i = 0; i < g->n; i++) PetscCall(PetscArraycpy(send + (size_t)i * (size_t)nb, g->calls + (size_t)order[i] * width + (size_t)j0, nb));
    PetscCall(ExchangeRows(g, nb, send_n, send_at, send, recv_n, recv_at, &recv, &nrecv));
    for (PetscCount k = 0; k < nrecv; k++)
      PetscCall(PetscArraycpy(moved + (size_t)(recv_pos[k] - g->first) * width + (size_t)j0, recv + (size_t)k * (size_t)nb, nb));
    PetscCall(PetscFree(recv));
  }
  PetscCall(PetscFree(send));
  PetscCall(PetscFree(recv_pos));
  PetscCall(PetscFree4(send_n, send_at, recv_n, recv_at));
  PetscCall(PetscFree2(order, pos));
  PetscCall(PetscFree(g->calls));
  g->calls = moved;
  g->n     = g->nloc;
  PetscCall(PetscFree(g->animal));
  PetscCall(PetscMalloc1(g->nloc + 1, &g->animal));
  PetscCall(PetscArraycpy(g->animal, g->sorted + g->first, g->nloc));
  PetscCall(PetscFree(g->lines));
  g->moved = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesCreateBlockMatrix(Genotypes g, PetscInt columns, Mat *M)
{
  PetscFunctionBeginUser;
  /* ng x ng: the columns split as the rows (what MatMatTransposeMult() makes) */
  PetscCall(MatCreateDense(g->comm, g->nloc, columns == g->ng ? g->nloc : PETSC_DECIDE, g->ng, columns, NULL, M));
  PetscCall(MatZeroEntries(*M));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesFetchRows(Genotypes g, const uint8_t rows[], PetscInt nwant, const PetscInt want[], uint8_t **got)
{
  PetscInt    *asked;
  PetscMPIInt *send_n, *send_at, *recv_n, *recv_at;
  PetscCount   nasked, ngot;
  uint8_t     *reply;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc4(g->size, &send_n, g->size, &send_at, g->size, &recv_n, g->size, &recv_at));
  PetscCall(SplitByOwner(g, nwant, want, send_n, send_at));
  PetscCall(HendersonExchange(g->comm, MPIU_INT, sizeof(PetscInt), send_n, send_at, want, recv_n, recv_at, (void **)&asked, &nasked, "genotype rows asked"));
  PetscCall(PetscMalloc1((size_t)nasked * (size_t)g->width + 1, &reply));
  for (PetscCount k = 0; k < nasked; k++)
    PetscCall(PetscArraycpy(reply + (size_t)k * (size_t)g->width, rows + (size_t)(asked[k] - g->first) * (size_t)g->width, g->width));
  PetscCall(ExchangeRows(g, g->width, recv_n, recv_at, reply, send_n, send_at, got, &ngot));
  PetscCall(PetscFree(reply));
  PetscCall(PetscFree(asked));
  PetscCall(PetscFree4(send_n, send_at, recv_n, recv_at));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Parent-offspring pairs, both genotyped, with opposing homozygotes (0 and 2) on more than 1 % of the SNPs
   called in both: a wrong parent or a sample mix-up. Counted (stats.parent_conflicts). The second parent
   column of a sire-MGS pedigree is a grandsire: only sires are compared there. */
static PetscErrorCode CheckParents(Genotypes g, Pedigree pedigree, const uint8_t rows[])
{
  PetscInt        start, n, nwant = 0, *want, *child, *order;
  const PetscInt *parent[2];
  PetscReal       c[2];
  uint8_t        *got;

  PetscFunctionBeginUser;
  PetscCall(PedigreeGetLocal(pedigree, &start, &n, &parent[0], &parent[1], NULL, NULL));
  PetscCall(PedigreeGetParentCoefficients(pedigree, c));
  PetscCall(PetscMalloc3(2 * g->nloc + 1, &want, 2 * g->nloc + 1, &child, 2 * g->nloc + 1, &order));
  for (PetscInt i = 0; i < g->nloc; i++)
    for (int k = 0; k < 2; k++) {
      PetscInt a = g->sorted[g->first + i] - start, p = a >= 0 && a < n ? parent[k][a] : -1, pos = -1;
      if (p < 0 || (k == 1 && c[1] != 0.5)) continue;
      PetscCall(PetscFindInt(p, g->ng, g->sorted, &pos));
      if (pos < 0) continue;
      want[nwant]  = pos;
      child[nwant] = i;
      order[nwant] = nwant;
      nwant++;
    }
  PetscCall(PetscSortIntWithArray(nwant, want, order));
  PetscCall(GenotypesFetchRows(g, rows, nwant, want, &got));
  g->stats.parent_conflicts = 0;
  for (PetscInt k = 0; k < nwant; k++) {
    const uint8_t *x = rows + (size_t)child[order[k]] * (size_t)g->width, *y = got + (size_t)k * (size_t)g->width;
    PetscInt       both = 0, opposing = 0;
    for (PetscInt j = 0; j < g->nsnp; j++) {
      int8_t a = GenotypeCall(x, j), b = GenotypeCall(y, j);
      if (a == GENOTYPE_MISSING || b == GENOTYPE_MISSING) continue;
      both++;
      opposing += (a == 0 && b == 2) || (a == 2 && b == 0);
    }
    if (opposing > 0.01 * both) g->stats.parent_conflicts++;
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &g->stats.parent_conflicts, 1, MPIU_INT64, MPI_SUM, g->comm));
  PetscCall(PetscFree(got));
  PetscCall(PetscFree3(want, child, order));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* G = ZZ' / (2 sum p(1-p)), Z = M - 2p a block of SNPs at a time. */
static PetscErrorCode ComputeG(Genotypes g, const uint8_t rows[], Mat *G)
{
  PetscReal scale = 0;

  PetscFunctionBeginUser;
  for (PetscInt j = 0; j < g->nsnp; j++) scale += 2 * g->p[j] * (1 - g->p[j]);
  g->stats.scale = scale;
  PetscCall(GenotypesCreateBlockMatrix(g, g->ng, G));
  for (PetscInt j0 = 0; j0 < g->nsnp; j0 += SNP_BLOCK) {
    PetscInt     nb = PetscMin(SNP_BLOCK, g->nsnp - j0), lda;
    Mat          Z, P;
    PetscScalar *z;
    PetscCall(GenotypesCreateBlockMatrix(g, nb, &Z));
    PetscCall(MatDenseGetArrayWrite(Z, &z));
    PetscCall(MatDenseGetLDA(Z, &lda));
    for (PetscInt j = 0; j < nb; j++)
      for (PetscInt i = 0; i < g->nloc; i++) {
        int8_t c                       = GenotypeCall(rows + (size_t)i * (size_t)g->width, j0 + j);
        z[(size_t)j * (size_t)lda + i] = c == GENOTYPE_MISSING ? 0 : c - 2 * g->p[j0 + j];
      }
    PetscCall(MatDenseRestoreArrayWrite(Z, &z));
    PetscCall(MatMatTransposeMult(Z, Z, MAT_INITIAL_MATRIX, PETSC_DEFAULT, &P));
    PetscCall(MatAXPY(*G, 1, P, SAME_NONZERO_PATTERN));
    PetscCall(MatDestroy(&P));
    PetscCall(MatDestroy(&Z));
  }
  PetscCall(MatScale(*G, 1 / scale));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The whole pedigree on every rank (parents, d = 1/alpha), an order with parents before progeny, and the
   ancestors of the genotyped animals in that order. */
PetscErrorCode GenotypesAncestorsCreate(Genotypes g, Pedigree pedigree, Ancestors *a)
{
  PetscInt         start, n, done = 0;
  const PetscInt  *sire, *dam;
  const PetscReal *alpha;
  PetscMPIInt     *counts, *at, nn;
  char            *placed;

  PetscFunctionBeginUser;
  PetscCall(PedigreeGetLocal(pedigree, &start, &n, &sire, &dam, &alpha, NULL));
  PetscCall(PedigreeGetParentCoefficients(pedigree, a->c));
  PetscCall(PetscMalloc2(g->size, &counts, g->size + 1, &at));
  nn = (PetscMPIInt)n;
  PetscCallMPI(MPI_Allgather(&nn, 1, MPI_INT, counts, 1, MPI_INT, g->comm));
  at[0] = 0;
  for (PetscMPIInt k = 0; k < g->size; k++) at[k + 1] = at[k] + counts[k];
  a->n = at[g->size];
  PetscCall(PetscMalloc4(a->n + 1, &a->sire, a->n + 1, &a->dam, a->n + 1, &a->order, a->n + 1, &a->d));
  PetscCallMPI(MPI_Allgatherv(sire, nn, MPIU_INT, a->sire, counts, at, MPIU_INT, g->comm));
  PetscCallMPI(MPI_Allgatherv(dam, nn, MPIU_INT, a->dam, counts, at, MPIU_INT, g->comm));
  PetscCallMPI(MPI_Allgatherv(alpha, nn, MPIU_REAL, a->d, counts, at, MPIU_REAL, g->comm));
  for (PetscInt i = 0; i < a->n; i++) a->d[i] = 1 / a->d[i];
  PetscCall(PetscFree2(counts, at));
  PetscCall(PetscCalloc1(a->n + 1, &placed));
  while (done < a->n) { /* one pass a generation out of order in the numbering (usually one pass) */
    PetscInt before = done;
    for (PetscInt i = 0; i < a->n; i++) {
      if (placed[i] || (a->sire[i] >= 0 && !placed[a->sire[i]]) || (a->dam[i] >= 0 && !placed[a->dam[i]])) continue;
      placed[i]        = 1;
      a->order[done++] = i;
    }
    PetscCheck(done > before, PETSC_COMM_SELF, PETSC_ERR_PLIB, "the pedigree has a loop");
  }
  PetscCall(PetscFree(placed));
  PetscCall(PetscMalloc2(a->n + 1, &a->sub, a->n + 1, &a->list));
  for (PetscInt i = 0; i < a->n; i++) a->sub[i] = -1;
  for (PetscInt k = 0; k < g->ng; k++) a->sub[g->sorted[k]] = 0;
  for (PetscInt k = a->n - 1; k >= 0; k--) { /* ancestors: progeny before parents */
    PetscInt i = a->order[k];
    if (a->sub[i] < 0) continue;
    if (a->sire[i] >= 0) a->sub[a->sire[i]] = 0;
    if (a->dam[i] >= 0) a->sub[a->dam[i]] = 0;
  }
  a->ns = 0;
  for (PetscInt k = 0; k < a->n; k++)
    if (!a->sub[a->order[k]]) {
      a->sub[a->order[k]] = a->ns;
      a->list[a->ns++]    = a->order[k];
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesAncestorsDestroy(Ancestors *a)
{
  PetscFunctionBeginUser;
  PetscCall(PetscFree4(a->sire, a->dam, a->order, a->d));
  PetscCall(PetscFree2(a->sub, a->list));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* T' v from progeny to parents, then D, then T from parents to progeny: no animal outside the ancestors
   of the genotyped contributes to A22. */
void GenotypesColleau(const Ancestors *a, PetscInt nb, PetscReal v[])
{
  for (PetscInt k = a->ns - 1; k >= 0; k--) {
    PetscInt   i = a->list[k], s = a->sire[i], d = a->dam[i];
    PetscReal *vi = &v[(size_t)k * COLLEAU_BLOCK];
    if (s >= 0)
      for (PetscInt b = 0; b < nb; b++) v[(size_t)a->sub[s] * COLLEAU_BLOCK + b] += a->c[0] * vi[b];
    if (d >= 0)
      for (PetscInt b = 0; b < nb; b++) v[(size_t)a->sub[d] * COLLEAU_BLOCK + b] += a->c[1] * vi[b];
  }
  for (PetscInt k = 0; k < a->ns; k++) {
    PetscInt   i = a->list[k], s = a->sire[i], d = a->dam[i];
    PetscReal *vi = &v[(size_t)k * COLLEAU_BLOCK];
    for (PetscInt b = 0; b < nb; b++) vi[b] *= a->d[i];
    if (s >= 0)
      for (PetscInt b = 0; b < nb; b++) vi[b] += a->c[0] * v[(size_t)a->sub[s] * COLLEAU_BLOCK + b];
    if (d >= 0)
      for (PetscInt b = 0; b < nb; b++) vi[b] += a->c[1] * v[(size_t)a->sub[d] * COLLEAU_BLOCK + b];
  }
}

/* A22's rows of this rank, by Colleau (2002), a block of columns (the own animals) at a time. */
static PetscErrorCode ComputeA22(Genotypes g, Pedigree pedigree, Mat *A22)
{
  Ancestors    an;
  PetscInt     lda;
  PetscReal   *v;
  PetscScalar *a;

  PetscFunctionBeginUser;
  PetscCall(GenotypesAncestorsCreate(g, pedigree, &an));
  PetscCall(PetscMalloc1((size_t)an.ns * COLLEAU_BLOCK + 1, &v));
  PetscCall(GenotypesCreateBlockMatrix(g, g->ng, A22));
  PetscCall(MatDenseGetArrayWrite(*A22, &a));
  PetscCall(MatDenseGetLDA(*A22, &lda));
  for (PetscInt r0 = 0; r0 < g->nloc; r0 += COLLEAU_BLOCK) {
    PetscInt nb = PetscMin(COLLEAU_BLOCK, g->nloc - r0);
    PetscCall(PetscArrayzero(v, (size_t)an.ns * COLLEAU_BLOCK));
    for (PetscInt b = 0; b < nb; b++) v[(size_t)an.sub[g->sorted[g->first + r0 + b]] * COLLEAU_BLOCK + b] = 1;
    GenotypesColleau(&an, nb, v);
    for (PetscInt k = 0; k < g->ng; k++)
      for (PetscInt b = 0; b < nb; b++) a[(size_t)k * (size_t)lda + (size_t)(r0 + b)] = v[(size_t)an.sub[g->sorted[k]] * COLLEAU_BLOCK + b];
  }
  PetscCall(MatDenseRestoreArrayWrite(*A22, &a));
  PetscCall(PetscFree(v));
  PetscCall(GenotypesAncestorsDestroy(&an));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Means of the diagonals and off-diagonals of G and A22, and the correlation of their off-diagonals. */
static PetscErrorCode CompareGA22(Genotypes g, Mat G, Mat A22)
{
  const PetscScalar *x, *y;
  PetscInt           ldx, ldy;
  PetscReal          s[7] = {0}; /* diag G, diag A, sum g, sum a, gg, aa, ga over the off-diagonals */
  PetscReal          n = (PetscReal)g->ng, m = n * (n - 1);

  PetscFunctionBeginUser;
  PetscCall(MatDenseGetArrayRead(G, &x));
  PetscCall(MatDenseGetArrayRead(A22, &y));
  PetscCall(MatDenseGetLDA(G, &ldx));
  PetscCall(MatDenseGetLDA(A22, &ldy));
  for (PetscInt j = 0; j < g->ng; j++)
    for (PetscInt i = 0; i < g->nloc; i++) {
      PetscReal gv = x[(size_t)j * (size_t)ldx + i], av = y[(size_t)j * (size_t)ldy + i];
      if (j == g->first + i) {
        s[0] += gv;
        s[1] += av;
        continue;
      }
      s[2] += gv;
      s[3] += av;
      s[4] += gv * gv;
      s[5] += av * av;
      s[6] += gv * av;
    }
  PetscCall(MatDenseRestoreArrayRead(G, &x));
  PetscCall(MatDenseRestoreArrayRead(A22, &y));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, s, 7, MPIU_REAL, MPI_SUM, g->comm));
  g->stats.mean_diag_g      = s[0] / n;
  g->stats.mean_diag_a22    = s[1] / n;
  g->stats.mean_offdiag_g   = m > 0 ? s[2] / m : 0;
  g->stats.mean_offdiag_a22 = m > 0 ? s[3] / m : 0;
  {
    PetscReal vg = s[4] / m - PetscSqr(s[2] / m), va = s[5] / m - PetscSqr(s[3] / m), cov = s[6] / m - s[2] * s[3] / (m * m);
    g->stats.correlation = m > 0 && vg > 0 && va > 0 ? cov / PetscSqrtReal(vg * va) : 0;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesTuning(Genotypes g)
{
  const ModelGenotypes *o  = &g->opts;
  const GenotypesStats *s  = &g->stats;
  PetscReal             md = (1 - o->blend) * s->mean_diag_g + o->blend * s->mean_diag_a22 + o->gamma;
  PetscReal             mo = (1 - o->blend) * s->mean_offdiag_g + o->blend * s->mean_offdiag_a22;

  PetscFunctionBeginUser;
  g->stats.tune_a = 0;
  g->stats.tune_b = 1;
  if (o->tune && g->ng > 1) {
    PetscCheck(md != mo, g->comm, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": G cannot be tuned to A22 (its mean diagonal equals its mean off-diagonal)",
               g->model_path, o->line);
    g->stats.tune_b = (s->mean_diag_a22 - s->mean_offdiag_a22) / (md - mo);
    g->stats.tune_a = s->mean_diag_a22 - g->stats.tune_b * md;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* G <- a + b ((1 - blend) G + blend A22 + gamma I), a and b by tuning (0 and 1 without). */
static PetscErrorCode BlendAndTune(Genotypes g, Mat G, Mat A22)
{
  const ModelGenotypes *o = &g->opts;
  PetscReal             a, b;
  PetscScalar          *x;
  PetscInt              lda;

  PetscFunctionBeginUser;
  PetscCall(GenotypesTuning(g));
  a = g->stats.tune_a;
  b = g->stats.tune_b;
  PetscCall(MatScale(G, (1 - o->blend) * b));
  PetscCall(MatAXPY(G, o->blend * b, A22, SAME_NONZERO_PATTERN));
  PetscCall(MatShift(G, o->gamma * b));
  PetscCall(MatDenseGetArray(G, &x));
  PetscCall(MatDenseGetLDA(G, &lda));
  for (PetscInt j = 0; j < g->ng; j++)
    for (PetscInt i = 0; i < g->nloc; i++) x[(size_t)j * (size_t)lda + i] += a;
  PetscCall(MatDenseRestoreArray(G, &x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Gt's diagonal on every rank (the prior variances of the genotyped animals, for reliabilities). */
static PetscErrorCode GatherDiagonal(Genotypes g, Mat G)
{
  const PetscScalar *x;
  PetscInt           lda;

  PetscFunctionBeginUser;
  PetscCall(PetscFree(g->gdiag));
  PetscCall(PetscCalloc1(g->ng + 1, &g->gdiag));
  PetscCall(MatDenseGetArrayRead(G, &x));
  PetscCall(MatDenseGetLDA(G, &lda));
  for (PetscInt i = 0; i < g->nloc; i++) g->gdiag[g->first + i] = x[(size_t)(g->first + i) * (size_t)lda + (size_t)i];
  PetscCall(MatDenseRestoreArrayRead(G, &x));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, g->gdiag, (PetscMPIInt)g->ng, MPIU_REAL, MPI_SUM, g->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* OUT: the rows of IN (any row layout) in the genotyped animals' layout. ScaLAPACK's matrices come back
   from MatConvert() with PETSc's default split of the rows. */
static PetscErrorCode RedistributeRows(Genotypes g, Mat in, Mat *out)
{
  const PetscInt    *from, *to;
  PetscInt           lo, hi, lda, ng = g->ng;
  PetscMPIInt       *send_n, *send_at, *recv_n, *recv_at;
  PetscReal         *send, *recv, *y;
  const PetscScalar *x;
  PetscCount         nrecv;
  MPI_Datatype       rowtype;

  PetscFunctionBeginUser;
  PetscCall(GenotypesCreateBlockMatrix(g, ng, out));
  PetscCall(MatGetOwnershipRanges(in, &from));
  PetscCall(MatGetOwnershipRanges(*out, &to));
  lo = from[g->rank];
  hi = from[g->rank + 1];
  PetscCall(PetscMalloc4(g->size, &send_n, g->size, &send_at, g->size, &recv_n, g->size, &recv_at));
  for (PetscMPIInt k = 0; k < g->size; k++) { /* rows lo..hi-1 here, rows to[k]..to[k+1]-1 to rank k */
    PetscInt a = PetscMax(lo, to[k]), b = PetscMin(hi, to[k + 1]);
    send_at[k] = (PetscMPIInt)(PetscMin(a, hi) - lo);
    send_n[k]  = (PetscMPIInt)PetscMax(0, b - a);
  }
  PetscCall(PetscMalloc1((size_t)(hi - lo) * (size_t)ng + 1, &send));
  PetscCall(MatDenseGetArrayRead(in, &x));
  PetscCall(MatDenseGetLDA(in, &lda));
  for (PetscInt i = 0; i < hi - lo; i++)
    for (PetscInt j = 0; j < ng; j++) send[(size_t)i * (size_t)ng + (size_t)j] = x[(size_t)j * (size_t)lda + (size_t)i];
  PetscCall(MatDenseRestoreArrayRead(in, &x));
  PetscCallMPI(MPI_Type_contiguous((PetscMPIInt)ng, MPIU_REAL, &rowtype));
  PetscCallMPI(MPI_Type_commit(&rowtype));
  PetscCall(HendersonExchange(g->comm, rowtype, sizeof(PetscReal) * (size_t)ng, send_n, send_at, send, recv_n, recv_at, (void **)&recv, &nrecv, "dense rows"));
  PetscCall(PetscFree(send)); /* before filling out: in, out and recv are enough at once */
  PetscCallMPI(MPI_Type_free(&rowtype));
  PetscCheck(nrecv == g->nloc, PETSC_COMM_SELF, PETSC_ERR_PLIB, "%" PetscCount_FMT " rows came for %" PetscInt_FMT, nrecv, g->nloc);
  PetscCall(MatDenseGetArrayWrite(*out, &y));
  PetscCall(MatDenseGetLDA(*out, &lda));
  for (PetscInt i = 0; i < g->nloc; i++) /* in rank order, that is row order */
    for (PetscInt j = 0; j < ng; j++) y[(size_t)j * (size_t)lda + (size_t)i] = recv[(size_t)i * (size_t)ng + (size_t)j];
  PetscCall(MatDenseRestoreArrayWrite(*out, &y));
  PetscCall(PetscFree(recv));
  PetscCall(PetscFree4(send_n, send_at, recv_n, recv_at));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* M^-1 (same rows) and log|M| by ScaLAPACK's Cholesky factorization and solves with I. */
static PetscErrorCode InvertSPD(Genotypes g, Mat *M, const char what[], Mat *Minv, PetscReal *logdet)
{
  Mat                S, Id, X, Y;
  Vec                diag;
  PetscErrorCode     ierr;
  PetscInt           lo, hi;
  const PetscScalar *d;

  PetscFunctionBeginUser;
  PetscCall(MatConvert(*M, MATSCALAPACK, MAT_INITIAL_MATRIX, &S));
  PetscCall(MatDestroy(M)); /* consumed: with it, S, Id and X alive at once the peak would be 4 ng^2 */
  PetscCall(PetscPushErrorHandler(PetscReturnErrorHandler, NULL));
  ierr = MatCholeskyFactor(S, NULL, NULL);
  PetscCall(PetscPopErrorHandler());
  if (ierr) PetscCall(MatDestroy(&S));
  PetscCheck(!ierr, g->comm, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": %s is not positive definite (blend it with A22, add gamma I, or check the genotypes)",
             g->model_path, g->opts.line, what);
  PetscCall(MatCreateVecs(S, NULL, &diag));
  PetscCall(MatGetDiagonal(S, diag));
  PetscCall(VecGetOwnershipRange(diag, &lo, &hi));
  PetscCall(VecGetArrayRead(diag, &d));
  *logdet = 0;
  for (PetscInt i = 0; i < hi - lo; i++) *logdet += 2 * PetscLogReal(PetscAbsScalar(d[i]));
  PetscCall(VecRestoreArrayRead(diag, &d));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, logdet, 1, MPIU_REAL, MPI_SUM, g->comm));
  PetscCall(VecDestroy(&diag));
  PetscCall(GenotypesCreateBlockMatrix(g, g->ng, &X));
  PetscCall(MatShift(X, 1));
  PetscCall(MatConvert(X, MATSCALAPACK, MAT_INITIAL_MATRIX, &Id));
  PetscCall(MatDestroy(&X));
  PetscCall(MatDuplicate(Id, MAT_DO_NOT_COPY_VALUES, &X));
  PetscCall(MatMatSolve(S, Id, X));
  PetscCall(MatDestroy(&Id));
  PetscCall(MatDestroy(&S));
  PetscCall(MatConvert(X, MATDENSE, MAT_INITIAL_MATRIX, &Y));
  PetscCall(MatDestroy(&X));
  PetscCall(RedistributeRows(g, Y, Minv));
  PetscCall(MatDestroy(&Y));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* This rank's rows of M as a column-major nloc x ng array (a copy). */
static PetscErrorCode LocalRows(Genotypes g, Mat M, PetscReal **rows)
{
  const PetscScalar *x;
  PetscInt           lda;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1((size_t)g->nloc * (size_t)g->ng + 1, rows));
  PetscCall(MatDenseGetArrayRead(M, &x));
  PetscCall(MatDenseGetLDA(M, &lda));
  for (PetscInt j = 0; j < g->ng; j++) PetscCall(PetscArraycpy(*rows + (size_t)j * (size_t)g->nloc, x + (size_t)j * (size_t)lda, g->nloc));
  PetscCall(MatDenseRestoreArrayRead(M, &x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The dense route: G, A22 and both inverses formed (ng x ng each, rows on the owners), D = tau Gt^-1 -
   omega A22^-1.  Each matrix is freed as soon as it is used, A22's inverse made first, so that at most
   DENSE_PEAK_COPIES of ng x ng doubles are alive at once (GenotypesCheckDenseMemory). */
static PetscErrorCode SetUpDense(Genotypes g, Pedigree pedigree)
{
  Mat        G, A22, Ginv, A22inv;
  PetscReal *a22inv = NULL;
  double     t0     = HendersonSeconds(), t1, t2;

  PetscFunctionBeginUser;
  PetscCall(ComputeG(g, g->calls, &G));
  t1 = HendersonSeconds();
  PetscCall(ComputeA22(g, pedigree, &A22));
  PetscCall(CompareGA22(g, G, A22));
  t2 = HendersonSeconds();
  PetscCall(BlendAndTune(g, G, A22));
  PetscCall(GatherDiagonal(g, G));
  if (g->pedigree_file) { /* GBLUP's "pedigree" is the genotyped founders: A22 = I */
    PetscCall(InvertSPD(g, &A22, "A22", &A22inv, &g->stats.logdet_a22));
    PetscCall(LocalRows(g, A22inv, &a22inv));
    PetscCall(MatDestroy(&A22inv));
  }
  PetscCall(MatDestroy(&A22));
  if (g->opts.apy) {
    PetscCall(GenotypesInvertAPY(g, pedigree, G, &Ginv, &g->stats.logdet_g));
    PetscCall(MatDestroy(&G));
  } else
    PetscCall(InvertSPD(g, &G, g->pedigree_file ? "the blended and tuned G" : "G (with blend and gamma)", &Ginv, &g->stats.logdet_g));
  PetscCall(PetscFree(g->D));
  PetscCall(LocalRows(g, Ginv, &g->D));
  PetscCall(MatDestroy(&Ginv));
  g->stats.seconds_g       = (PetscReal)(t1 - t0);
  g->stats.seconds_a22     = (PetscReal)(t2 - t1);
  g->stats.seconds_inverse = (PetscReal)(HendersonSeconds() - t2);
  for (size_t k = 0; k < (size_t)g->nloc * (size_t)g->ng; k++) g->D[k] = g->opts.tau * g->D[k] - (a22inv ? g->opts.omega * a22inv[k] : 0);
  if (!a22inv)
    for (PetscInt i = 0; i < g->nloc; i++) g->D[(size_t)(g->first + i) * (size_t)g->nloc + i] -= g->opts.omega;
  for (PetscInt i = 0; i < g->nloc; i++) g->ddiag[i] = g->D[(size_t)(g->first + i) * (size_t)g->nloc + i];
  PetscCall(PetscFree(a22inv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The route was chosen by GenotypesLoad(). */
PetscErrorCode GenotypesSetUpBlock(Genotypes g, Pedigree pedigree)
{
  PetscFunctionBeginUser;
  PetscCheck(!g->released, g->comm, PETSC_ERR_SUP, "the factored set-up released the genotypes: the animals cannot move to other ranks after it");
  PetscCall(SortAnimals(g));
  PetscCall(MoveRows(g));
  if (g->pedigree_file) PetscCall(CheckParents(g, pedigree, g->calls));
  PetscCall(PetscFree(g->ddiag));
  PetscCall(PetscMalloc1(g->nloc + 1, &g->ddiag));
  PetscCall(PetscFree(g->D));
  PetscCall(GenotypesDestroyFactored(g));
  if (g->factored)
    PetscCall(GenotypesSetUpFactored(g, pedigree));
  else
    PetscCall(SetUpDense(g, pedigree));
  PetscFunctionReturn(PETSC_SUCCESS);
}
