/* The factored route of single step (genotypesimpl.h): no matrix of the genotyped population's size.
     G's core columns:  Gc = Z Zc' / s for the own rows (BLAS gemm a row chunk and SNP block at a time; without
                        missing calls in single precision on the 0/1/2 codes, exact in integers, then centred
                        in double), its diagonal and the sum of all its entries from Z alone;
     A22's:             Colleau's passes over the ancestors, the core columns shared out over the ranks;
     blending, tuning:  on those columns and the diagonals (the means need only the sums);
     APY:               Gcc^-1 (LAPACK, every rank), P = Gnc Gcc^-1 and M for the own non-core rows;
     A22^-1:            A^22 - A^21 (A^11)^-1 A^12 from the pedigree's A^-1 (Strandén and Mäntysaari 2014), the
                        solves with A^11 by an inner PETSc KSP (options prefix -genomic_a11_: CG and Jacobi,
                        relative tolerance 1e-10 by default). A direct solve (MUMPS:
                        -genomic_a11_ksp_type preonly -genomic_a11_pc_type cholesky
                        -genomic_a11_pc_factor_mat_solver_type mumps) fills in badly on a pedigree: at 1.8 10^5
                        ungenotyped animals 500 s and 11 GB a rank against seconds for the inner CG. */
#include "genotypesimpl.h"
#include <henderson/dense.h>
#include <henderson/log.h>
#include <petscksp.h>
#include <petscblaslapack.h>

/* Rows of G's core columns made at once (memory: ROW_CHUNK x SNP_BLOCK and ROW_CHUNK x core). */
#define ROW_CHUNK 2048

/* single precision gemm: PETSc's BLAS names are its scalar type's; the Fortran symbol as PETSc calls its own */
#if defined(PETSC_BLASLAPACK_UNDERSCORE)
#define HendersonSgemm sgemm_
#elif defined(PETSC_BLASLAPACK_CAPS)
#define HendersonSgemm SGEMM
#else
#define HendersonSgemm sgemm
#endif
PETSC_EXTERN void HendersonSgemm(const char *, const char *, const PetscBLASInt *, const PetscBLASInt *, const PetscBLASInt *, const float *, const float *,
                                 const PetscBLASInt *, const float *, const PetscBLASInt *, const float *, float *, const PetscBLASInt *);

typedef struct {
  PetscInt   nc, *core; /* places of the core among the genotyped, ascending */
  int8_t    *zc;        /* nc x nsnp: the core's genotypes, every rank */
  PetscReal *Gc;        /* nloc x nc, row-major: G's core columns at the own rows, then Gt's; then P's storage */
  PetscReal *gd, *ad;   /* nloc: G's and A22's diagonals */
  PetscReal  sum_g, sum_a;
  PetscBool  single; /* no missing call anywhere: G's products in single precision */
} Columns;

/* Whether no call is missing, on any rank. */
static PetscErrorCode NoMissingCall(Genotypes g, const uint8_t rows[], PetscBool *none)
{
  PetscFunctionBeginUser;
  *none = PETSC_TRUE; /* a missing call is a pair of 1 bits (a row's unused bits are 0) */
  for (size_t k = 0; k < (size_t)g->nloc * (size_t)g->width && *none; k++) *none = (PetscBool) !(rows[k] & (rows[k] >> 1) & 0x55);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, none, 1, MPIU_BOOL, MPI_LAND, g->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* G's diagonal (own rows) and the sum of all its entries, 1' Z Z' 1 / s, from the column sums of Z. */
static PetscErrorCode GenomicSums(Genotypes g, const uint8_t rows[], Columns *c)
{
  PetscReal *colsum;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(g->nsnp, &colsum));
  for (PetscInt i = 0; i < g->nloc; i++) {
    const uint8_t *x = rows + (size_t)i * (size_t)g->width;
    PetscReal      d = 0;
    for (PetscInt j = 0; j < g->nsnp; j++) {
      int8_t    m = GenotypeCall(x, j);
      PetscReal z = m == GENOTYPE_MISSING ? 0 : m - 2 * g->p[j];
      d += z * z;
      colsum[j] += z;
    }
    c->gd[i] = d / g->stats.scale;
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, colsum, (PetscMPIInt)g->nsnp, MPIU_REAL, MPI_SUM, g->comm));
  c->sum_g = 0;
  for (PetscInt j = 0; j < g->nsnp; j++) c->sum_g += colsum[j] * colsum[j];
  c->sum_g /= g->stats.scale;
  PetscCall(PetscFree(colsum));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* In single precision the codes themselves: sums of products of 0, 1 and 2 are integers below 2^24 for
   up to 4 million SNPs, exact. Z_i.Z_k = M_i.M_k - a_i - a_k + c0 with a_i = sum_j 2 p_j m_ij, c0 = sum_j 4 p_j^2. */
static PetscErrorCode CoreColumnsSingle(Genotypes g, const uint8_t rows[], Columns *c)
{
  PetscInt     n = g->nloc, ns = g->nsnp, nc = c->nc;
  float       *a, *b, *C, one = 1, zero = 0;
  PetscReal   *ar, *acore, c0 = 0;
  PetscBLASInt bnc, bk, bm, ldr;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc3((size_t)ROW_CHUNK * SNP_BLOCK, &a, (size_t)nc * SNP_BLOCK, &b, (size_t)ROW_CHUNK * (size_t)nc, &C));
  PetscCall(PetscCalloc2(n + 1, &ar, nc, &acore));
  for (PetscInt j = 0; j < ns; j++) c0 += 4 * g->p[j] * g->p[j];
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < ns; j++) ar[i] += 2 * g->p[j] * GenotypeCall(rows + (size_t)i * (size_t)g->width, j);
  for (PetscInt k = 0; k < nc; k++)
    for (PetscInt j = 0; j < ns; j++) acore[k] += 2 * g->p[j] * c->zc[(size_t)k * (size_t)ns + (size_t)j];
  PetscCall(PetscBLASIntCast(nc, &bnc));
  for (PetscInt r0 = 0; r0 < n; r0 += ROW_CHUNK) {
    PetscInt nr = PetscMin(ROW_CHUNK, n - r0);
    PetscCall(PetscBLASIntCast(nr, &bm));
    ldr = bm;
    for (PetscInt j0 = 0; j0 < ns; j0 += SNP_BLOCK) {
      PetscInt nb = PetscMin(SNP_BLOCK, ns - j0);
      PetscCall(PetscBLASIntCast(nb, &bk));
      for (PetscInt i = 0; i < nr; i++) /* transposed blocks: nb x rows, column-major, read in order */
        for (PetscInt j = 0; j < nb; j++) a[(size_t)i * nb + j] = GenotypeCall(rows + (size_t)(r0 + i) * (size_t)g->width, j0 + j);
      for (PetscInt k = 0; k < nc; k++)
        for (PetscInt j = 0; j < nb; j++) b[(size_t)k * nb + j] = c->zc[(size_t)k * (size_t)ns + (size_t)(j0 + j)];
      PetscCallBLAS("sgemm", HendersonSgemm("T", "N", &bm, &bnc, &bk, &one, a, &bk, b, &bk, j0 ? &one : &zero, C, &ldr));
    }
    for (PetscInt k = 0; k < nc; k++)
      for (PetscInt i = 0; i < nr; i++)
        c->Gc[(size_t)(r0 + i) * (size_t)nc + (size_t)k] = ((PetscReal)C[(size_t)k * nr + i] - ar[r0 + i] - acore[k] + c0) / g->stats.scale;
  }
  PetscCall(PetscFree3(a, b, C));
  PetscCall(PetscFree2(ar, acore));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* In double precision on the centred codes (a missing call is 0 after centring). */
static PetscErrorCode CoreColumnsDouble(Genotypes g, const uint8_t rows[], Columns *c)
{
  PetscInt     n = g->nloc, ns = g->nsnp, nc = c->nc;
  PetscReal   *a, *b, one = 1, zero = 0;
  PetscBLASInt bnc, bk, bm, ldc;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2((size_t)ROW_CHUNK * SNP_BLOCK, &a, (size_t)nc * SNP_BLOCK, &b));
  PetscCall(PetscBLASIntCast(nc, &bnc));
  PetscCall(PetscBLASIntCast(nc, &ldc));
  for (PetscInt r0 = 0; r0 < n; r0 += ROW_CHUNK) {
    PetscInt nr = PetscMin(ROW_CHUNK, n - r0);
    PetscCall(PetscBLASIntCast(nr, &bm));
    for (PetscInt j0 = 0; j0 < ns; j0 += SNP_BLOCK) {
      PetscInt nb = PetscMin(SNP_BLOCK, ns - j0);
      PetscCall(PetscBLASIntCast(nb, &bk));
      for (PetscInt i = 0; i < nr; i++)
        for (PetscInt j = 0; j < nb; j++) {
          int8_t x              = GenotypeCall(rows + (size_t)(r0 + i) * (size_t)g->width, j0 + j);
          a[(size_t)i * nb + j] = x == GENOTYPE_MISSING ? 0 : x - 2 * g->p[j0 + j];
        }
      for (PetscInt k = 0; k < nc; k++)
        for (PetscInt j = 0; j < nb; j++) {
          int8_t x              = c->zc[(size_t)k * (size_t)ns + (size_t)(j0 + j)];
          b[(size_t)k * nb + j] = x == GENOTYPE_MISSING ? 0 : x - 2 * g->p[j0 + j];
        }
      /* Gc's rows r0.. row-major are (Zc Z_rows')^T column-major, leading dimension nc */
      PetscCallBLAS("BLASgemm", BLASgemm_("T", "N", &bnc, &bm, &bk, &one, b, &bk, a, &bk, j0 ? &one : &zero, c->Gc + (size_t)r0 * (size_t)nc, &ldc));
    }
  }
  for (size_t k = 0; k < (size_t)n * (size_t)nc; k++) c->Gc[k] /= g->stats.scale;
  PetscCall(PetscFree2(a, b));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* G's core columns, diagonal and sum. The core's genotypes go to every rank, unpacked there (a byte a call). */
static PetscErrorCode GenomicColumns(Genotypes g, const uint8_t rows[], Columns *c)
{
  uint8_t *packed;

  PetscFunctionBeginUser;
  g->stats.scale = 0;
  for (PetscInt j = 0; j < g->nsnp; j++) g->stats.scale += 2 * g->p[j] * (1 - g->p[j]);
  PetscCall(GenotypesFetchRows(g, rows, c->nc, c->core, &packed));
  PetscCall(PetscMalloc1((size_t)c->nc * (size_t)g->nsnp + 1, &c->zc));
  for (PetscInt k = 0; k < c->nc; k++)
    for (PetscInt j = 0; j < g->nsnp; j++) c->zc[(size_t)k * (size_t)g->nsnp + (size_t)j] = GenotypeCall(packed + (size_t)k * (size_t)g->width, j);
  PetscCall(PetscFree(packed));
  PetscCall(GenomicSums(g, rows, c));
  PetscCall(NoMissingCall(g, rows, &c->single));
  if (c->single)
    PetscCall(CoreColumnsSingle(g, rows, c));
  else
    PetscCall(CoreColumnsDouble(g, rows, c));
  PetscCall(PetscFree(c->zc));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One entry of A22's core columns, AV at own row I and core column K: its pair with G's counted for the
   correlation (S: sums of g, a, gg, aa, ga over the off-diagonal pairs), then G's entry blended and tuned
   in place, Gt = a + b ((1 - blend) G + blend A22 + gamma I). */
static inline void BlendEntry(Genotypes g, Columns *c, PetscInt i, PetscInt k, PetscReal av, PetscReal s[5])
{
  const ModelGenotypes *o    = &g->opts;
  size_t                q    = (size_t)i * (size_t)c->nc + (size_t)k;
  PetscReal             gv   = c->Gc[q];
  PetscBool             self = (PetscBool)(c->core[k] == g->first + i);

  if (!self) {
    s[0] += gv;
    s[1] += av;
    s[2] += gv * gv;
    s[3] += av * av;
    s[4] += gv * av;
  }
  c->Gc[q] = g->stats.tune_a + g->stats.tune_b * ((1 - o->blend) * gv + o->blend * av + (self ? o->gamma : 0));
}

/* A22's core columns, each rank Colleau's passes for its share of a chunk of core columns (COLLEAU_BLOCK a
   rank), sent to the ranks that own the rows and blended into G's there: A22's columns are never held whole. */
static PetscErrorCode PedigreeColumnsBlend(Genotypes g, const Ancestors *an, Columns *c, PetscReal s[5])
{
  PetscInt    *firsts, *nlocs, step = COLLEAU_BLOCK * g->size;
  PetscMPIInt *scount, *sat, *rcount, *rat;
  PetscReal   *v, *send, *recv;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc2(g->size, &firsts, g->size, &nlocs));
  PetscCallMPI(MPI_Allgather(&g->first, 1, MPIU_INT, firsts, 1, MPIU_INT, g->comm));
  PetscCallMPI(MPI_Allgather(&g->nloc, 1, MPIU_INT, nlocs, 1, MPIU_INT, g->comm));
  PetscCall(PetscMalloc4(g->size, &scount, g->size, &sat, g->size, &rcount, g->size, &rat));
  PetscCall(PetscMalloc3((size_t)an->ns * COLLEAU_BLOCK + 1, &v, (size_t)g->ng * COLLEAU_BLOCK + 1, &send, (size_t)g->nloc * (size_t)step + 1, &recv));
  for (PetscInt c0 = 0; c0 < c->nc; c0 += step) {
    PetscInt mine = c0 + g->rank * COLLEAU_BLOCK, nb = PetscMax(0, PetscMin(COLLEAU_BLOCK, c->nc - mine));
    PetscCall(PetscArrayzero(v, (size_t)an->ns * COLLEAU_BLOCK));
    for (PetscInt b = 0; b < nb; b++) v[(size_t)an->sub[g->sorted[c->core[mine + b]]] * COLLEAU_BLOCK + b] = 1;
    if (nb) GenotypesColleau(an, nb, v);
    for (PetscInt k = 0; k < g->ng; k++) /* rows in order: each rank's in one piece */
      for (PetscInt b = 0; b < nb; b++) send[(size_t)k * nb + b] = v[(size_t)an->sub[g->sorted[k]] * COLLEAU_BLOCK + b];
    for (PetscMPIInt r = 0, at = 0; r < g->size; r++) {
      PetscInt rb = PetscMax(0, PetscMin(COLLEAU_BLOCK, c->nc - (c0 + r * COLLEAU_BLOCK)));
      scount[r]   = (PetscMPIInt)(nlocs[r] * nb);
      sat[r]      = (PetscMPIInt)(firsts[r] * nb);
      rcount[r]   = (PetscMPIInt)(g->nloc * rb);
      rat[r]      = at;
      at += rcount[r];
    }
    PetscCallMPI(MPI_Alltoallv(send, scount, sat, MPIU_REAL, recv, rcount, rat, MPIU_REAL, g->comm));
    for (PetscMPIInt r = 0; r < g->size; r++) {
      PetscInt col = c0 + r * COLLEAU_BLOCK, rb = rcount[r] / PetscMax(1, g->nloc);
      for (PetscInt i = 0; i < g->nloc; i++)
        for (PetscInt b = 0; b < rb; b++) BlendEntry(g, c, i, col + b, recv[(size_t)rat[r] + (size_t)i * rb + b], s);
    }
  }
  PetscCall(PetscFree3(v, send, recv));
  PetscCall(PetscFree4(scount, sat, rcount, rat));
  PetscCall(PetscFree2(firsts, nlocs));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The means of the diagonals and off-diagonals of G and A22, exact from the diagonals and the sums of all
   entries (1' A22 1: one more pass), and with them the tuning. */
static PetscErrorCode Means(Genotypes g, const Ancestors *an, Columns *c)
{
  PetscReal d[2] = {0}, n = (PetscReal)g->ng, *v;

  PetscFunctionBeginUser;
  c->sum_a = n;
  if (an) {
    PetscCall(PetscCalloc1((size_t)an->ns * COLLEAU_BLOCK + 1, &v));
    for (PetscInt k = 0; k < g->ng; k++) v[(size_t)an->sub[g->sorted[k]] * COLLEAU_BLOCK] = 1;
    GenotypesColleau(an, 1, v);
    c->sum_a = 0;
    for (PetscInt k = 0; k < g->ng; k++) c->sum_a += v[(size_t)an->sub[g->sorted[k]] * COLLEAU_BLOCK];
    PetscCall(PetscFree(v));
  }
  for (PetscInt i = 0; i < g->nloc; i++) {
    d[0] += c->gd[i];
    d[1] += c->ad[i];
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, d, 2, MPIU_REAL, MPI_SUM, g->comm));
  g->stats.mean_diag_g      = d[0] / n;
  g->stats.mean_diag_a22    = d[1] / n;
  g->stats.mean_offdiag_g   = n > 1 ? (c->sum_g - d[0]) / (n * (n - 1)) : 0;
  g->stats.mean_offdiag_a22 = n > 1 ? (c->sum_a - d[1]) / (n * (n - 1)) : 0;
  PetscCall(GenotypesTuning(g));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A22's diagonal (1 + F), the means and tuning, then A22's core columns blended into G's, the correlation of
   their off-diagonals over the pairs of a genotyped and a core animal. GBLUP: A22 = I. */
static PetscErrorCode PedigreeColumns(Genotypes g, Pedigree pedigree, Columns *c)
{
  Ancestors        an;
  PetscInt         start;
  const PetscReal *F;
  PetscReal        s[5] = {0}, m = (PetscReal)g->ng * c->nc - c->nc;

  PetscFunctionBeginUser;
  if (!g->pedigree_file) {
    for (PetscInt i = 0; i < g->nloc; i++) c->ad[i] = 1;
    PetscCall(Means(g, NULL, c));
    for (PetscInt k = 0; k < c->nc; k++)
      for (PetscInt i = 0; i < g->nloc; i++) BlendEntry(g, c, i, k, c->core[k] == g->first + i ? 1 : 0, s);
  } else {
    PetscCall(PedigreeGetLocal(pedigree, &start, NULL, NULL, NULL, NULL, &F));
    PetscCheck(start == g->lo, PETSC_COMM_SELF, PETSC_ERR_PLIB, "the pedigree's animals here start at %" PetscInt_FMT ", the relationship's at %" PetscInt_FMT,
               start, g->lo);
    for (PetscInt i = 0; i < g->nloc; i++) c->ad[i] = 1 + F[g->sorted[g->first + i] - start];
    PetscCall(GenotypesAncestorsCreate(g, pedigree, &an));
    PetscCall(Means(g, &an, c));
    PetscCall(PedigreeColumnsBlend(g, &an, c, s));
    PetscCall(GenotypesAncestorsDestroy(&an));
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, s, 5, MPIU_REAL, MPI_SUM, g->comm));
  {
    PetscReal vg = s[2] / m - PetscSqr(s[0] / m), va = s[3] / m - PetscSqr(s[1] / m), cov = s[4] / m - s[0] * s[1] / (m * m);
    g->stats.correlation = m > 0 && vg > 0 && va > 0 ? cov / PetscSqrtReal(vg * va) : 0;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Gt's diagonal, blended and tuned, to every rank. */
static PetscErrorCode BlendDiagonal(Genotypes g, Columns *c)
{
  const ModelGenotypes *o = &g->opts;
  PetscMPIInt          *counts, *at, n = (PetscMPIInt)g->nloc;

  PetscFunctionBeginUser;
  for (PetscInt i = 0; i < g->nloc; i++) c->gd[i] = g->stats.tune_a + g->stats.tune_b * ((1 - o->blend) * c->gd[i] + o->blend * c->ad[i] + o->gamma);
  PetscCall(PetscFree(g->gdiag));
  PetscCall(PetscMalloc1(g->ng + 1, &g->gdiag));
  PetscCall(PetscMalloc2(g->size, &counts, g->size + 1, &at));
  PetscCallMPI(MPI_Allgather(&n, 1, MPI_INT, counts, 1, MPI_INT, g->comm));
  at[0] = 0;
  for (PetscMPIInt k = 0; k < g->size; k++) at[k + 1] = at[k] + counts[k];
  PetscCallMPI(MPI_Allgatherv(c->gd, n, MPIU_REAL, g->gdiag, counts, at, MPIU_REAL, g->comm));
  PetscCall(PetscFree2(counts, at));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Gcc^-1 on every rank, P = Gnc Gcc^-1 and M for the own non-core rows (a chunk of rows at a time), log|G_APY|. */
static PetscErrorCode APYFactors(Genotypes g, Columns *c)
{
  Factored    *f = &g->fac;
  PetscReal   *Gnc, one = 1, zero = 0, logm = 0;
  PetscBLASInt bnc, bn;
  PetscBool    ok;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1((size_t)f->nc * (size_t)f->nc, &f->Gcci));
  for (PetscInt i = 0; i < g->nloc; i++)
    if (f->own[i] >= 0)
      for (PetscInt k = 0; k < f->nc; k++) f->Gcci[(size_t)f->own[i] * (size_t)f->nc + k] = c->Gc[(size_t)i * (size_t)f->nc + k];
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, f->Gcci, (PetscMPIInt)(f->nc * f->nc), MPIU_REAL, MPI_SUM, g->comm));
  PetscCall(DenseLogDetSPD(f->nc, f->Gcci, &g->stats.logdet_g, &ok));
  PetscCheck(ok, g->comm, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": G of the APY core is not positive definite (a smaller core, blend or gamma)",
             g->model_path, g->opts.line);
  PetscCall(DenseInvertSPD(f->nc, f->Gcci));
  /* P takes over Gc's storage, row r of P where row r of Gc was: the non-core row that row r of P comes
     from is row r or a later one of Gc, copied out (Gnc) before its chunk's rows of P are written */
  f->P  = c->Gc;
  c->Gc = NULL;
  PetscCall(PetscMalloc1(f->nn + 1, &f->m));
  PetscCall(PetscMalloc1((size_t)ROW_CHUNK * (size_t)f->nc, &Gnc));
  PetscCall(PetscBLASIntCast(f->nc, &bnc));
  for (PetscInt i0 = 0, r0 = 0; i0 < g->nloc;) { /* a chunk of non-core rows: row-major Gnc, then P' = Gcc^-1 Gnc' column-major */
    PetscInt nr = 0;
    for (; i0 < g->nloc && nr < ROW_CHUNK; i0++) {
      if (f->own[i0] >= 0) continue;
      for (PetscInt k = 0; k < f->nc; k++) Gnc[(size_t)nr * (size_t)f->nc + k] = f->P[(size_t)i0 * (size_t)f->nc + k]; /* Gc's row i0 */
      f->m[r0 + nr++] = c->gd[i0];
    }
    PetscCall(PetscBLASIntCast(nr, &bn));
    if (nr) PetscCallBLAS("BLASgemm", BLASgemm_("N", "N", &bnc, &bn, &bnc, &one, f->Gcci, &bnc, Gnc, &bnc, &zero, f->P + (size_t)r0 * (size_t)f->nc, &bnc));
    for (PetscInt r = 0; r < nr; r++) {
      const PetscReal *p = f->P + (size_t)(r0 + r) * (size_t)f->nc, *x = Gnc + (size_t)r * (size_t)f->nc;
      for (PetscInt k = 0; k < f->nc; k++) f->m[r0 + r] -= p[k] * x[k];
      PetscCheck(f->m[r0 + r] > 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                 "%s:%" PetscInt_FMT ": a non-core animal's variance given the APY core is not positive (%g): add gamma or blend", g->model_path, g->opts.line,
                 (double)f->m[r0 + r]);
      logm += PetscLogReal(f->m[r0 + r]);
    }
    r0 += nr;
  }
  PetscCall(PetscFree(Gnc));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &logm, 1, MPIU_REAL, MPI_SUM, g->comm));
  g->stats.logdet_g += logm;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* G_APY^-1's diagonal at the own rows: core Gcc^-1_ww + sum_n P_nw^2 / m_n, non-core 1 / m. */
static PetscErrorCode APYDiagonal(Genotypes g, PetscReal d[])
{
  Factored  *f = &g->fac;
  PetscReal *s;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(f->nc, &s));
  for (PetscInt r = 0; r < f->nn; r++)
    for (PetscInt k = 0; k < f->nc; k++) s[k] += PetscSqr(f->P[(size_t)r * (size_t)f->nc + k]) / f->m[r];
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, s, (PetscMPIInt)f->nc, MPIU_REAL, MPI_SUM, g->comm));
  for (PetscInt i = 0; i < g->nloc; i++) {
    PetscInt w = f->own[i];
    d[i]       = w >= 0 ? f->Gcci[(size_t)w * (size_t)f->nc + w] + s[w] : 1 / f->m[-1 - w];
  }
  PetscCall(PetscFree(s));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The pedigree's A^-1 over the animals (groups left out: A22 is the animals' relationship), in the
   relationship's rows. */
static PetscErrorCode PedigreeInverse(Genotypes g, Pedigree pedigree, Mat *Ainv)
{
  PetscCount n, k = 0;
  PetscInt  *ri, *ci, *i2, *j2, N = 0, nlocal = g->hi - g->lo;
  PetscReal *v, *v2;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(&nlocal, &N, 1, MPIU_INT, MPI_SUM, g->comm));
  PetscCall(PedigreeGetInverseEntries(pedigree, &n, &ri, &ci, &v));
  PetscCall(PetscMalloc3(2 * n + 1, &i2, 2 * n + 1, &j2, 2 * n + 1, &v2));
  for (PetscCount e = 0; e < n; e++) {
    if (ri[e] >= N || ci[e] >= N) continue;
    i2[k] = ri[e], j2[k] = ci[e], v2[k++] = v[e];
    if (ri[e] != ci[e]) i2[k] = ci[e], j2[k] = ri[e], v2[k++] = v[e];
  }
  PetscCall(PetscFree3(ri, ci, v));
  PetscCall(MatCreate(g->comm, Ainv));
  PetscCall(MatSetSizes(*Ainv, nlocal, nlocal, N, N));
  PetscCall(MatSetType(*Ainv, MATAIJ));
  PetscCall(MatSetPreallocationCOO(*Ainv, k, i2, j2));
  PetscCall(MatSetValuesCOO(*Ainv, v2, INSERT_VALUES));
  PetscCall(PetscFree3(i2, j2, v2));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The inner solver of A^11: CG and Jacobi at 1e-10 relative; -genomic_a11_ options.  Measured at 2 10^5
   animals, 2 10^4 genotyped (RESULTS.md): Jacobi takes 224 iterations a solve where block Jacobi/ICC(0)
   takes 143, but each costs a third as much, the whole solve 26 % less; ICC(1), SOR and a Fischer guess
   do worse; and Jacobi's iterations do not change with the ranks.  1e-10 against 1e-12 moves the EBVs
   by less than 1e-6 (a standard deviation of 0.31): less than the outer tolerance does. */
static PetscErrorCode InnerSolver(Genotypes g, Mat A11, KSP *ksp)
{
  PC pc;

  PetscFunctionBeginUser;
  PetscCall(KSPCreate(g->comm, ksp));
  PetscCall(KSPSetOptionsPrefix(*ksp, "genomic_a11_"));
  PetscCall(KSPSetOperators(*ksp, A11, A11));
  PetscCall(KSPSetType(*ksp, KSPCG));
  PetscCall(KSPGetPC(*ksp, &pc));
  PetscCall(PCSetType(pc, PCJACOBI));
  PetscCall(KSPSetTolerances(*ksp, 1e-10, 0, PETSC_DEFAULT, 10000));
  PetscCall(KSPSetFromOptions(*ksp));
  PetscCall(KSPSetUp(*ksp));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A^11, A^12, A^22 (own rows), A^11's inner solver, and an estimate of A22^-1's diagonal, A^22_ii -
   sum_j (A^12_ji)^2 / A^11_jj, no less than 1 / A22_ii (for the preconditioner only). */
static PetscErrorCode PedigreeBlocks(Genotypes g, Pedigree pedigree, const PetscReal ad[], PetscReal a22inv_diag[])
{
  Factored  *f = &g->fac;
  Mat        Ainv, S;
  IS         is1, is2;
  PetscInt  *idx, n1 = 0, N1, nlocal = g->hi - g->lo;
  PetscReal *norms;
  Vec        d1, d2;

  PetscFunctionBeginUser;
  PetscCall(PedigreeInverse(g, pedigree, &Ainv));
  PetscCall(PetscMalloc1(nlocal + 1, &idx));
  for (PetscInt a = g->lo, k = g->first; a < g->hi; a++) {
    if (k < g->first + g->nloc && g->sorted[k] == a) {
      k++;
      continue;
    }
    idx[n1++] = a;
  }
  PetscCall(ISCreateGeneral(g->comm, n1, idx, PETSC_COPY_VALUES, &is1));
  PetscCall(ISCreateGeneral(g->comm, g->nloc, g->sorted + g->first, PETSC_COPY_VALUES, &is2));
  PetscCall(PetscFree(idx));
  PetscCall(MatCreateSubMatrix(Ainv, is1, is1, MAT_INITIAL_MATRIX, &f->A11));
  PetscCall(MatCreateSubMatrix(Ainv, is1, is2, MAT_INITIAL_MATRIX, &f->A12));
  PetscCall(MatCreateSubMatrix(Ainv, is2, is2, MAT_INITIAL_MATRIX, &f->A22));
  PetscCall(ISDestroy(&is1));
  PetscCall(ISDestroy(&is2));
  PetscCall(MatDestroy(&Ainv));
  PetscCall(MatGetSize(f->A11, &N1, NULL));
  PetscCall(MatCreateVecs(f->A12, &f->x2, &f->x1));
  PetscCall(VecDuplicate(f->x1, &f->z1));
  PetscCall(VecDuplicate(f->x2, &f->y2));
  if (N1) PetscCall(InnerSolver(g, f->A11, &f->ksp));
  /* the diagonal's estimate */
  PetscCall(MatCreateVecs(f->A12, &d2, &d1));
  PetscCall(MatGetDiagonal(f->A11, d1));
  PetscCall(VecReciprocal(d1));
  PetscCall(VecSqrtAbs(d1));
  PetscCall(MatDuplicate(f->A12, MAT_COPY_VALUES, &S));
  PetscCall(MatDiagonalScale(S, d1, NULL));
  PetscCall(PetscMalloc1(g->ng + 1, &norms));
  PetscCall(MatGetColumnNorms(S, NORM_2, norms));
  PetscCall(MatGetDiagonal(f->A22, d2));
  {
    const PetscScalar *a;
    PetscCall(VecGetArrayRead(d2, &a));
    for (PetscInt i = 0; i < g->nloc; i++) a22inv_diag[i] = PetscMax(a[i] - PetscSqr(norms[g->first + i]), 1 / ad[i]);
    PetscCall(VecRestoreArrayRead(d2, &a));
  }
  PetscCall(PetscFree(norms));
  PetscCall(MatDestroy(&S));
  PetscCall(VecDestroy(&d1));
  PetscCall(VecDestroy(&d2));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The own rows' places: in the core, or among the own non-core rows. */
static PetscErrorCode PlaceRows(Genotypes g, const Columns *c)
{
  Factored *f = &g->fac;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(g->nloc + 1, &f->own));
  f->nn = 0;
  for (PetscInt i = 0; i < g->nloc; i++) f->own[i] = -1 - f->nn++;
  for (PetscInt k = 0; k < c->nc; k++)
    if (c->core[k] >= g->first && c->core[k] < g->first + g->nloc) f->own[c->core[k] - g->first] = k;
  f->nn = 0;
  for (PetscInt i = 0; i < g->nloc; i++)
    if (f->own[i] < 0) f->own[i] = -1 - f->nn++;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesSetUpFactored(Genotypes g, Pedigree pedigree)
{
  Factored  *f = &g->fac;
  Columns    c = {0};
  PetscReal *a22d, *gid;
  double     t0 = HendersonSeconds(), t1, t2;

  PetscFunctionBeginUser;
  PetscCall(GenotypesChooseCore(g, pedigree, &c.nc, &c.core));
  f->nc       = c.nc;
  f->pedigree = g->pedigree_file;
  PetscCall(PetscMalloc1((size_t)g->nloc * (size_t)c.nc + 1, &c.Gc));
  PetscCall(PetscMalloc2(g->nloc + 1, &c.gd, g->nloc + 1, &c.ad));
  PetscCall(GenomicColumns(g, g->calls, &c));
  PetscCall(PetscFree(g->calls)); /* nothing needs the genotypes now: memory for the factors */
  g->released = PETSC_TRUE;
  t1          = HendersonSeconds();
  PetscCall(PedigreeColumns(g, pedigree, &c));
  PetscCall(BlendDiagonal(g, &c));
  t2 = HendersonSeconds();
  PetscCall(PlaceRows(g, &c));
  PetscCall(APYFactors(g, &c));
  PetscCall(PetscMalloc2(g->nloc + 1, &a22d, g->nloc + 1, &gid));
  if (f->pedigree)
    PetscCall(PedigreeBlocks(g, pedigree, c.ad, a22d));
  else
    for (PetscInt i = 0; i < g->nloc; i++) a22d[i] = 1;
  g->stats.logdet_a22 = 0; /* not known here: no log|H| (GenotypesHasLogDeterminant()) */
  PetscCall(APYDiagonal(g, gid));
  for (PetscInt i = 0; i < g->nloc; i++) g->ddiag[i] = g->opts.tau * gid[i] - g->opts.omega * a22d[i];
  PetscCall(PetscFree2(a22d, gid));
  PetscCall(PetscFree2(c.gd, c.ad));
  PetscCall(PetscFree(c.core));
  g->stats.seconds_g       = (PetscReal)(t1 - t0);
  g->stats.seconds_a22     = (PetscReal)(t2 - t1);
  g->stats.seconds_inverse = (PetscReal)(HendersonSeconds() - t2);
  g->stats.single          = c.single;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesDestroyFactored(Genotypes g)
{
  Factored *f = &g->fac;

  PetscFunctionBeginUser;
  PetscCall(PetscFree(f->own));
  PetscCall(PetscFree(f->Gcci));
  PetscCall(PetscFree(f->P));
  PetscCall(PetscFree(f->m));
  PetscCall(PetscFree3(f->xc, f->s, f->t));
  PetscCall(MatDestroy(&f->A11));
  PetscCall(MatDestroy(&f->A12));
  PetscCall(MatDestroy(&f->A22));
  PetscCall(KSPDestroy(&f->ksp));
  PetscCall(VecDestroy(&f->x1));
  PetscCall(VecDestroy(&f->z1));
  PetscCall(VecDestroy(&f->x2));
  PetscCall(VecDestroy(&f->y2));
  PetscCall(PetscMemzero(f, sizeof(*f)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Y = tau G_APY^-1 X (own rows, DIM columns): the core's x to every rank, t = M^-1 (x_n - P x_c) on the
   non-core rows, s = P' t summed over the ranks, y_c = Gcc^-1 x_c - s. */
static PetscErrorCode MultAPY(Genotypes g, PetscInt dim, const PetscReal X[], PetscReal Y[])
{
  Factored    *f = &g->fac;
  PetscInt     n = g->nloc, nc = f->nc;
  PetscReal    one = 1, mone = -1, zero = 0, tau = g->opts.tau;
  PetscBLASInt bnc, bnn, bdim;

  PetscFunctionBeginUser;
  if (dim != f->dim) {
    PetscCall(PetscFree3(f->xc, f->s, f->t));
    PetscCall(PetscMalloc3((size_t)nc * (size_t)dim, &f->xc, (size_t)nc * (size_t)dim, &f->s, (size_t)f->nn * (size_t)dim + 1, &f->t));
    f->dim = dim;
  }
  PetscCall(PetscArrayzero(f->xc, (size_t)nc * (size_t)dim));
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt l = 0; l < dim; l++) {
      PetscInt w = f->own[i];
      if (w >= 0)
        f->xc[(size_t)l * nc + w] = X[(size_t)l * n + i];
      else
        f->t[(size_t)l * f->nn + (size_t)(-1 - w)] = X[(size_t)l * n + i];
    }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, f->xc, (PetscMPIInt)(nc * dim), MPIU_REAL, MPI_SUM, g->comm));
  PetscCall(PetscBLASIntCast(nc, &bnc));
  PetscCall(PetscBLASIntCast(f->nn, &bnn));
  PetscCall(PetscBLASIntCast(dim, &bdim));
  if (bnn) PetscCallBLAS("BLASgemm", BLASgemm_("T", "N", &bnn, &bdim, &bnc, &mone, f->P, &bnc, f->xc, &bnc, &one, f->t, &bnn));
  for (PetscInt l = 0; l < dim; l++)
    for (PetscInt r = 0; r < f->nn; r++) f->t[(size_t)l * f->nn + r] /= f->m[r];
  if (bnn)
    PetscCallBLAS("BLASgemm", BLASgemm_("N", "N", &bnc, &bdim, &bnn, &one, f->P, &bnc, f->t, &bnn, &zero, f->s, &bnc));
  else
    PetscCall(PetscArrayzero(f->s, (size_t)nc * (size_t)dim));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, f->s, (PetscMPIInt)(nc * dim), MPIU_REAL, MPI_SUM, g->comm));
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt l = 0; l < dim; l++) {
      PetscInt w = f->own[i];
      if (w < 0) {
        Y[(size_t)l * n + i] = tau * f->t[(size_t)l * f->nn + (size_t)(-1 - w)];
        continue;
      }
      PetscReal        y   = -f->s[(size_t)l * nc + w];
      const PetscReal *row = f->Gcci + (size_t)w * (size_t)nc, *x = f->xc + (size_t)l * nc;
      for (PetscInt k = 0; k < nc; k++) y += row[k] * x[k];
      Y[(size_t)l * n + i] = tau * y;
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Y -= omega A22^-1 X, a column at a time: A^22 x - A^21 (A^11)^-1 A^12 x. GBLUP: Y -= omega X. */
static PetscErrorCode MultA22Inverse(Genotypes g, PetscInt dim, const PetscReal X[], PetscReal Y[])
{
  Factored          *f = &g->fac;
  const PetscScalar *y2;

  PetscFunctionBeginUser;
  for (PetscInt l = 0; l < dim; l++) {
    const PetscReal *x = X + (size_t)l * (size_t)g->nloc;
    PetscReal       *y = Y + (size_t)l * (size_t)g->nloc;
    if (!f->pedigree) {
      for (PetscInt i = 0; i < g->nloc; i++) y[i] -= g->opts.omega * x[i];
      continue;
    }
    PetscCall(VecPlaceArray(f->x2, x));
    PetscCall(MatMult(f->A22, f->x2, f->y2));
    if (f->ksp) {
      KSPConvergedReason reason;
      PetscInt           its;
      PetscCall(MatMult(f->A12, f->x2, f->x1));
      PetscCall(KSPSolve(f->ksp, f->x1, f->z1));
      PetscCall(KSPGetConvergedReason(f->ksp, &reason));
      PetscCall(KSPGetIterationNumber(f->ksp, &its));
      PetscCheck(reason > 0, g->comm, PETSC_ERR_NOT_CONVERGED, "the inner solve of A22^-1 (A^11, -genomic_a11_ options) did not converge: %s",
                 KSPConvergedReasons[reason]);
      f->inner_solves++;
      f->inner_iterations += its;
      PetscCall(VecScale(f->z1, -1));
      PetscCall(MatMultTransposeAdd(f->A12, f->z1, f->y2, f->y2));
    }
    PetscCall(VecResetArray(f->x2));
    PetscCall(VecGetArrayRead(f->y2, &y2));
    for (PetscInt i = 0; i < g->nloc; i++) y[i] -= g->opts.omega * y2[i];
    PetscCall(VecRestoreArrayRead(f->y2, &y2));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesMultFactored(Genotypes g, PetscInt dim, const PetscReal X[], PetscReal Y[])
{
  PetscFunctionBeginUser;
  PetscCheck(g->factored, g->comm, PETSC_ERR_ARG_WRONGSTATE, "the block of these genotypes is formed: GenotypesGetBlock()");
  PetscCall(PetscLogStagePush(HendersonStageGenomic));
  PetscCall(MultAPY(g, dim, X, Y));
  PetscCall(MultA22Inverse(g, dim, X, Y));
  PetscCall(PetscLogStagePop());
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Flops and bytes of one product here, a column: P twice, the own core rows of Gcc^-1, the sparse blocks
   (12 bytes an entry; A^12 twice). MUMPS' solve is not counted. */
PetscErrorCode GenotypesGetProductCost(Genotypes g, PetscLogDouble *flops, PetscInt64 *bytes)
{
  Factored *f  = &g->fac;
  PetscInt  nc = g->nloc - f->nn;
  MatInfo   i12, i22;

  PetscFunctionBeginUser;
  *flops = 4.0 * f->nn * f->nc + 2.0 * nc * f->nc;
  *bytes = (PetscInt64)(f->nn + nc) * f->nc * 8;
  if (!f->pedigree) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(MatGetInfo(f->A12, MAT_LOCAL, &i12));
  PetscCall(MatGetInfo(f->A22, MAT_LOCAL, &i22));
  *flops += 4 * i12.nz_used + 2 * i22.nz_used;
  *bytes += (PetscInt64)(12 * (2 * i12.nz_used + i22.nz_used));
  PetscFunctionReturn(PETSC_SUCCESS);
}
