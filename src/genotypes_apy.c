/* APY (Misztal et al. 2014): G^-1 from a core c of the genotyped animals,
     G_APY^-1 = [Gcc^-1 0; 0 0] + [-P'; I] M^-1 [-P I],  P = Gnc Gcc^-1,  M = diag(g_nn - P_n g_cn),
   the non-core animals conditionally independent given the core. Gcc^-1 (core x core) is made on every
   rank by LAPACK; a rank makes P and M for its non-core rows by BLAS. */
#include "genotypesimpl.h"
#include <henderson/dense.h>
#include <henderson/reader.h>
#include <petscblaslapack.h>
#include <string.h>

/* Rank 0 reads the core's IDs (the first field of each line) with their lines. */
typedef struct {
  PetscInt    n, capacity;
  char      **id;
  PetscInt64 *line;
  PetscInt   *animal; /* the pedigree's index of each (-1: none) */
} CoreFile;

static PetscErrorCode CoreFileDestroy(CoreFile *f)
{
  PetscFunctionBeginUser;
  for (PetscInt k = 0; k < f->n; k++) PetscCall(PetscFree(f->id[k]));
  PetscCall(PetscFree3(f->id, f->line, f->animal));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ReadCoreRoot(Genotypes g, CoreFile *file)
{
  Reader    rd;
  PetscBool done;

  PetscFunctionBeginUser;
  PetscCall(ReaderOpen(PETSC_COMM_SELF, g->opts.apy_path, PETSC_FALSE, &rd));
  for (;;) {
    PetscInt     nf;
    char *const *f;
    PetscCall(ReaderNextLine(rd, &done));
    if (done) break;
    PetscCall(ReaderGetFields(rd, &nf, &f));
    if (file->n == file->capacity) {
      char      **id;
      PetscInt64 *line;
      PetscInt   *animal;
      file->capacity = PetscMax(64, 2 * file->capacity);
      PetscCall(PetscMalloc3(file->capacity, &id, file->capacity, &line, file->capacity, &animal));
      PetscCall(PetscArraycpy(id, file->id, file->n));
      PetscCall(PetscArraycpy(line, file->line, file->n));
      PetscCall(PetscFree3(file->id, file->line, file->animal));
      file->id     = id;
      file->line   = line;
      file->animal = animal;
    }
    PetscCall(ReaderGetLine(rd, &file->line[file->n]));
    PetscCall(PetscStrallocpy(f[0], &file->id[file->n++]));
  }
  PetscCall(ReaderClose(&rd));
  PetscCheck(file->n > 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: no animal in the APY core", g->opts.apy_path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: the core's places among the genotyped, from the animals found in the pedigree. */
static PetscErrorCode CorePlaces(Genotypes g, const CoreFile *file, PetscInt *nc, PetscInt **core)
{
  PetscFunctionBeginUser;
  PetscCall(PetscMalloc1(file->n, core));
  for (PetscInt k = 0; k < file->n; k++) {
    PetscInt pos = -1;
    if (file->animal[k] >= 0) PetscCall(PetscFindInt(file->animal[k], g->ng, g->sorted, &pos));
    PetscCheck(pos >= 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": animal %s of the APY core is not genotyped", g->opts.apy_path,
               file->line[k], file->id[k]);
    (*core)[k] = pos;
  }
  *nc = file->n;
  PetscCall(PetscSortInt(*nc, *core));
  for (PetscInt k = 1; k < *nc; k++)
    PetscCheck((*core)[k] != (*core)[k - 1], PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: an animal is in the APY core twice", g->opts.apy_path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective: the core file's animals, looked up in the pedigree (rank 0 asks; the IDs may be with their
   owner ranks). */
static PetscErrorCode ReadCore(Genotypes g, Pedigree pedigree, PetscInt *nc, PetscInt **core)
{
  CoreFile       file = {0};
  PetscErrorCode ierr = PETSC_SUCCESS;

  PetscFunctionBeginUser;
  if (g->rank == 0) ierr = ReadCoreRoot(g, &file);
  ierr = HendersonAgree(g->comm, ierr);
  if (!ierr) ierr = PedigreeFindLabels(pedigree, file.n, (const char *const *)file.id, file.animal);
  if (!ierr && g->rank == 0) ierr = CorePlaces(g, &file, nc, core);
  PetscCall(CoreFileDestroy(&file));
  PetscCall(HendersonAgree(g->comm, ierr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The file's core, or N evenly spaced. */
PetscErrorCode GenotypesChooseCore(Genotypes g, Pedigree pedigree, PetscInt *nc, PetscInt **core)
{
  PetscFunctionBeginUser;
  *core = NULL;
  if (g->opts.apy > 0) {
    *nc = PetscMin(g->opts.apy, g->ng);
    PetscCall(PetscMalloc1(*nc, core));
    for (PetscInt k = 0; k < *nc; k++) (*core)[k] = (PetscInt)((PetscInt64)k * g->ng / *nc);
    g->stats.apy_chosen = PETSC_TRUE;
  } else {
    PetscCall(ReadCore(g, pedigree, nc, core));
    PetscCallMPI(MPI_Bcast(nc, 1, MPIU_INT, 0, g->comm));
    if (g->rank) PetscCall(PetscMalloc1(*nc, core));
    PetscCallMPI(MPI_Bcast(*core, (PetscMPIInt)*nc, MPIU_INT, 0, g->comm));
  }
  g->stats.apy_core = *nc;
  PetscFunctionReturn(PETSC_SUCCESS);
}

typedef struct {
  PetscInt   nc, *core, *where; /* where[k]: place in the core, or -1 - (place among the non-core) */
  PetscReal *Gcc;               /* nc x nc, then its inverse */
  PetscInt   nn;                /* non-core rows here */
  PetscReal *P, *m;             /* nn x nc (row-major), nn */
} APY;

/* Gcc on every rank, from the rows of its owners. */
static PetscErrorCode GatherCoreBlock(Genotypes g, const PetscScalar *x, PetscInt lda, APY *apy)
{
  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1((size_t)apy->nc * (size_t)apy->nc, &apy->Gcc));
  for (PetscInt i = 0; i < g->nloc; i++) {
    PetscInt ci = apy->where[g->first + i];
    if (ci < 0) continue;
    for (PetscInt k = 0; k < apy->nc; k++) apy->Gcc[ci * apy->nc + k] = x[(size_t)apy->core[k] * (size_t)lda + i];
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, apy->Gcc, (PetscMPIInt)(apy->nc * apy->nc), MPIU_REAL, MPI_SUM, g->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* P = Gnc Gcc^-1 and M for this rank's non-core rows. */
static PetscErrorCode NonCore(Genotypes g, const PetscScalar *x, PetscInt lda, APY *apy)
{
  PetscReal   *Gnc, one = 1, zero = 0;
  PetscBLASInt nc, nn;

  PetscFunctionBeginUser;
  apy->nn = 0;
  for (PetscInt i = 0; i < g->nloc; i++) apy->nn += apy->where[g->first + i] < 0;
  PetscCall(PetscMalloc1((size_t)apy->nn * (size_t)apy->nc + 1, &Gnc));
  PetscCall(PetscMalloc2((size_t)apy->nn * (size_t)apy->nc + 1, &apy->P, apy->nn + 1, &apy->m));
  for (PetscInt i = 0, r = 0; i < g->nloc; i++) {
    if (apy->where[g->first + i] >= 0) continue;
    for (PetscInt k = 0; k < apy->nc; k++) Gnc[r * apy->nc + k] = x[(size_t)apy->core[k] * (size_t)lda + i];
    apy->m[r++] = x[(size_t)(g->first + i) * (size_t)lda + i];
  }
  PetscCall(PetscBLASIntCast(apy->nc, &nc));
  PetscCall(PetscBLASIntCast(apy->nn, &nn));
  /* row-major P (nn x nc) = Gnc Gcc^-1: column-major P' = Gcc^-1 Gnc' (Gcc^-1 symmetric) */
  if (nn) PetscCallBLAS("BLASgemm", BLASgemm_("N", "N", &nc, &nn, &nc, &one, apy->Gcc, &nc, Gnc, &nc, &zero, apy->P, &nc));
  for (PetscInt r = 0; r < apy->nn; r++) {
    for (PetscInt k = 0; k < apy->nc; k++) apy->m[r] -= apy->P[r * apy->nc + k] * Gnc[r * apy->nc + k];
    PetscCheck(apy->m[r] > 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "%s:%" PetscInt_FMT ": a non-core animal's variance given the APY core is not positive (%g): add gamma or blend", g->model_path, g->opts.line,
               (double)apy->m[r]);
  }
  PetscCall(PetscFree(Gnc));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The rows of G_APY^-1 here: the core rows need P' M^-1 P (summed over the ranks) and every non-core
   row's P and m (gathered); the non-core rows only their own. */
static PetscErrorCode FillInverse(Genotypes g, APY *apy, PetscScalar *y, PetscInt lda)
{
  PetscReal   *S, *Q, *Pall, *mall, one = 1, zero = 0;
  PetscMPIInt *counts, *at, *pcounts, *pat, nn = (PetscMPIInt)apy->nn;
  PetscInt    *noncore, nall;
  PetscBLASInt nc, bn;

  PetscFunctionBeginUser;
  PetscCall(PetscBLASIntCast(apy->nc, &nc));
  PetscCall(PetscBLASIntCast(apy->nn, &bn));
  PetscCall(PetscCalloc1((size_t)apy->nc * (size_t)apy->nc, &S));
  PetscCall(PetscMalloc1((size_t)apy->nn * (size_t)apy->nc + 1, &Q));
  for (PetscInt r = 0; r < apy->nn; r++)
    for (PetscInt k = 0; k < apy->nc; k++) Q[r * apy->nc + k] = apy->P[r * apy->nc + k] / PetscSqrtReal(apy->m[r]);
  if (bn) PetscCallBLAS("BLASgemm", BLASgemm_("N", "T", &nc, &nc, &bn, &one, Q, &nc, Q, &nc, &zero, S, &nc));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, S, (PetscMPIInt)(apy->nc * apy->nc), MPIU_REAL, MPI_SUM, g->comm));
  PetscCall(PetscFree(Q));
  PetscCall(PetscMalloc4(g->size, &counts, g->size + 1, &at, g->size, &pcounts, g->size + 1, &pat));
  PetscCallMPI(MPI_Allgather(&nn, 1, MPI_INT, counts, 1, MPI_INT, g->comm));
  at[0] = pat[0] = 0;
  for (PetscMPIInt k = 0; k < g->size; k++) {
    at[k + 1]  = at[k] + counts[k];
    pcounts[k] = counts[k] * (PetscMPIInt)apy->nc;
    pat[k + 1] = pat[k] + pcounts[k];
  }
  nall = at[g->size];
  PetscCall(PetscMalloc3((size_t)nall * (size_t)apy->nc + 1, &Pall, nall + 1, &mall, nall + 1, &noncore));
  PetscCallMPI(MPI_Allgatherv(apy->P, pcounts[g->rank], MPIU_REAL, Pall, pcounts, pat, MPIU_REAL, g->comm));
  PetscCallMPI(MPI_Allgatherv(apy->m, nn, MPIU_REAL, mall, counts, at, MPIU_REAL, g->comm));
  for (PetscInt k = 0, r = 0; k < g->ng; k++)
    if (apy->where[k] < 0) noncore[r++] = k;
  for (PetscInt i = 0; i < g->nloc; i++) {
    PetscInt w = apy->where[g->first + i];
    if (w >= 0) { /* core row: Gcc^-1 + S on the core, -P_n[w] / m_n on the non-core */
      for (PetscInt k = 0; k < apy->nc; k++) y[(size_t)apy->core[k] * (size_t)lda + i] = apy->Gcc[w * apy->nc + k] + S[w * apy->nc + k];
      for (PetscInt r = 0; r < nall; r++) y[(size_t)noncore[r] * (size_t)lda + i] = -Pall[r * apy->nc + w] / mall[r];
    } else { /* non-core row: -P_i / m_i on the core, 1 / m_i on itself */
      PetscInt r = -1 - w;
      for (PetscInt k = 0; k < apy->nc; k++) y[(size_t)apy->core[k] * (size_t)lda + i] = -Pall[r * apy->nc + k] / mall[r];
      y[(size_t)(g->first + i) * (size_t)lda + i] = 1 / mall[r];
    }
  }
  PetscCall(PetscFree3(Pall, mall, noncore));
  PetscCall(PetscFree4(counts, at, pcounts, pat));
  PetscCall(PetscFree(S));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode GenotypesInvertAPY(Genotypes g, Pedigree pedigree, Mat G, Mat *Ginv, PetscReal *logdet)
{
  APY                apy = {0};
  const PetscScalar *x;
  PetscScalar       *y;
  PetscInt           lda, ldy;
  PetscBool          ok;
  PetscReal          logm = 0;

  PetscFunctionBeginUser;
  PetscCall(GenotypesChooseCore(g, pedigree, &apy.nc, &apy.core));
  PetscCall(PetscMalloc1(g->ng + 1, &apy.where));
  for (PetscInt k = 0; k < g->ng; k++) apy.where[k] = -1;
  for (PetscInt k = 0; k < apy.nc; k++) apy.where[apy.core[k]] = k;
  for (PetscInt k = 0, r = 0; k < g->ng; k++) /* the non-core in pedigree order: also the ranks' rows gathered in rank order */
    if (apy.where[k] < 0) apy.where[k] = -1 - r++;
  PetscCall(MatDenseGetArrayRead(G, &x));
  PetscCall(MatDenseGetLDA(G, &lda));
  PetscCall(GatherCoreBlock(g, x, lda, &apy));
  PetscCall(DenseLogDetSPD(apy.nc, apy.Gcc, logdet, &ok));
  PetscCheck(ok, g->comm, PETSC_ERR_USER_INPUT, "%s:%" PetscInt_FMT ": G of the APY core is not positive definite (a smaller core, blend or gamma)",
             g->model_path, g->opts.line);
  PetscCall(DenseInvertSPD(apy.nc, apy.Gcc));
  PetscCall(NonCore(g, x, lda, &apy));
  PetscCall(MatDenseRestoreArrayRead(G, &x));
  for (PetscInt r = 0; r < apy.nn; r++) logm += PetscLogReal(apy.m[r]);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &logm, 1, MPIU_REAL, MPI_SUM, g->comm));
  *logdet += logm;
  PetscCall(GenotypesCreateBlockMatrix(g, g->ng, Ginv));
  PetscCall(MatDenseGetArray(*Ginv, &y));
  PetscCall(MatDenseGetLDA(*Ginv, &ldy));
  PetscCall(FillInverse(g, &apy, y, ldy));
  PetscCall(MatDenseRestoreArray(*Ginv, &y));
  PetscCall(PetscFree2(apy.P, apy.m));
  PetscCall(PetscFree(apy.Gcc));
  PetscCall(PetscFree(apy.where));
  PetscCall(PetscFree(apy.core));
  PetscFunctionReturn(PETSC_SUCCESS);
}
