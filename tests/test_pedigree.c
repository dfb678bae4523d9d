/* Pedigree: order, checks, inbreeding and A-inverse.
   - Published inbreeding coefficients (Mrode Table 2.1, FnR, six genetic-genealogy cases with inbred
     parents) and FnR's relationships and Mendelian sampling variances.
   - Random pedigrees of a few hundred animals with heavy inbreeding, unknown parents, parents that
     are never listed, repeated lines, string IDs and shuffled lines: F against the diagonal of A by
     the tabular method, and the distributed A-inverse against the dense inverse of that A. */
#include "testing.h"
#include <math.h>
#include <string.h>

static char data_dir[HENDERSON_MAX_PATH] = ".", work_dir[HENDERSON_MAX_PATH] = ".";

/* Loads PATH on all ranks (of KIND, with NGROUPS unknown-parent groups), computes F, and distributes
   the animals evenly. */
static PetscErrorCode LoadPedigreeOn(MPI_Comm comm, const char path[], ModelPedigreeKind kind, PetscInt ngroups, const char *const groups[], Pedigree *pedigree)
{
  PetscMPIInt   size;
  PetscInt     *ranges;
  PedigreeStats stats;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(PedigreeCreate(comm, pedigree));
  PetscCall(PedigreeSetFromOptions(*pedigree));
  PetscCall(PedigreeSetKind(*pedigree, kind));
  PetscCall(PedigreeSetGroups(*pedigree, ngroups, groups));
  PetscCall(PedigreeLoad(*pedigree, path));
  PetscCall(PedigreeSetUp(*pedigree));
  PetscCall(PedigreeGetStats(*pedigree, &stats));
  PetscCall(PetscMalloc1(size + 1, &ranges));
  for (PetscMPIInt r = 0; r <= size; r++) ranges[r] = (PetscInt)(((PetscInt64)stats.animals * r) / size);
  PetscCall(PedigreeDistribute(*pedigree, ranges));
  PetscCall(PetscFree(ranges));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode LoadPedigreeOf(const char path[], ModelPedigreeKind kind, PetscInt ngroups, const char *const groups[], Pedigree *pedigree)
{
  PetscFunctionBeginUser;
  PetscCall(LoadPedigreeOn(PETSC_COMM_WORLD, path, kind, ngroups, groups, pedigree));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode LoadPedigree(const char path[], Pedigree *pedigree)
{
  PetscFunctionBeginUser;
  PetscCall(LoadPedigreeOf(path, MODEL_PEDIGREE_ANIMAL, 0, NULL, pedigree));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscInt IndexOf(Pedigree pedigree, const char label[])
{
  LabelTable labels;
  PetscInt   index = -1;
  if (PedigreeGetLabels(pedigree, &labels) || !labels) return -1;
  if (LabelTableFind(labels, label, strlen(label), &index)) return -1;
  return index;
}

static PetscErrorCode TestPublishedInbreeding(TestCounter *c)
{
  char        path[HENDERSON_MAX_PATH], line[512], loaded[HENDERSON_MAX_PATH] = "";
  FILE       *fp = NULL;
  PetscMPIInt rank;
  Pedigree    pedigree = NULL;
  PetscInt    nlines   = 0;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(HendersonPathJoin(data_dir, "inbreeding/expected.txt", path, sizeof(path)));
  fp = fopen(path, "r");
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", path);
  /* every rank reads the list, so that every rank loads the same pedigrees collectively */
  while (fgets(line, sizeof(line), fp)) {
    char             file[256], animal[256];
    double           want, tol;
    PetscInt         index;
    const PetscReal *F;
    if (line[0] == '#' || sscanf(line, "%255s %255s %lf %lf", file, animal, &want, &tol) != 4) continue;
    if (strcmp(file, loaded)) {
      char ped[HENDERSON_MAX_PATH + 300];
      PetscCall(PedigreeDestroy(&pedigree));
      snprintf(ped, sizeof(ped), "%s/inbreeding/%s", data_dir, file);
      PetscCall(LoadPedigree(ped, &pedigree));
      PetscCall(PetscStrncpy(loaded, file, sizeof(loaded)));
    }
    nlines++;
    if (rank) continue;
    index = IndexOf(pedigree, animal);
    if (!TestCheck(c, index >= 0, "%s: animal %s is in the pedigree", file, animal)) continue;
    PetscCall(PedigreeGetArrays(pedigree, NULL, NULL, &F, NULL));
    TestCheck(c, fabs(F[index] - want) <= tol, "%s: F(%s) = %.10g, published %.10g", file, animal, (double)F[index], want);
  }
  fclose(fp);
  PetscCall(PedigreeDestroy(&pedigree));
  TestCheck(c, nlines >= 30, "read the published table (%" PetscInt_FMT " lines)", nlines);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* FnR: relationships from the inverse of the distributed A-inverse, and d = 1/alpha. */
static PetscErrorCode TestPublishedRelationships(TestCounter *c)
{
  char        path[HENDERSON_MAX_PATH], line[256];
  Pedigree    pedigree;
  Mat         Ainv;
  PetscReal  *A = NULL;
  PetscInt    n = 12;
  PetscMPIInt rank;
  FILE       *fp;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(HendersonPathJoin(data_dir, "inbreeding/fnr12.txt", path, sizeof(path)));
  PetscCall(LoadPedigree(path, &pedigree));
  PetscCall(PedigreeCreateInverse(pedigree, &Ainv));
  PetscCall(TestMatGatherDense(Ainv, &A));
  if (rank == 0) {
    const PetscReal *alpha;
    PetscCall(TestInverseSPD(n, A)); /* A = (A-inverse)^-1 */
    PetscCall(PedigreeGetArrays(pedigree, NULL, NULL, NULL, &alpha));
    PetscCall(HendersonPathJoin(data_dir, "inbreeding/relationships.txt", path, sizeof(path)));
    fp = fopen(path, "r");
    PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", path);
    while (fgets(line, sizeof(line), fp)) {
      char   a[64], b[64];
      double want;
      if (line[0] == '#' || sscanf(line, "%63s %63s %lf", a, b, &want) != 3) continue;
      if (!strcmp(a, "d")) {
        PetscInt i = IndexOf(pedigree, b);
        TestCheck(c, i >= 0 && fabs(1.0 / alpha[i] - want) < 1e-12, "FnR: d(%s) = %.10g, published %.10g", b, i >= 0 ? 1.0 / (double)alpha[i] : -1.0, want);
      } else {
        PetscInt i = IndexOf(pedigree, a), j = IndexOf(pedigree, b);
        TestCheck(c, i >= 0 && j >= 0 && fabs(A[i * n + j] - want) < 1e-10, "FnR: a(%s,%s) = %.10g, published %.10g", a, b,
                  i >= 0 && j >= 0 ? (double)A[i * n + j] : -1.0, want);
      }
    }
    fclose(fp);
  }
  PetscCall(PetscFree(A));
  PetscCall(MatDestroy(&Ainv));
  PetscCall(PedigreeDestroy(&pedigree));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A random pedigree in generation order (the truth), written in shuffled order with string IDs. */
typedef struct {
  PetscInt  n;
  PetscInt *sire, *dam; /* truth, parents before progeny */
  char (*id)[16];
  PetscInt omitted;  /* founders left out of the file (they come back as parents not listed) */
  PetscInt repeated; /* identical lines written twice */
} RandomPedigree;

static PetscErrorCode MakeRandomPedigree(uint64_t seed, PetscInt n, const char path[], RandomPedigree *rp)
{
  TestRandom r;
  PetscInt   nfounders = 12, *males, *females, nm = 0, nf = 0, *order;
  PetscBool *listed;
  FILE      *fp;

  PetscFunctionBeginUser;
  TestRandomSeed(&r, seed);
  rp->n = n;
  PetscCall(PetscMalloc3(n, &rp->sire, n, &rp->dam, n, &rp->id));
  PetscCall(PetscMalloc4(n, &males, n, &females, 2 * n, &order, n, &listed));
  rp->omitted = rp->repeated = 0;
  for (PetscInt i = 0; i < n; i++) {
    /* alphanumeric, unique (fixed-width random prefix, then the index) */
    snprintf(rp->id[i], sizeof(rp->id[i]), "x%03llx%d", (unsigned long long)(TestRandomNext(&r) & 0xfff), (int)i);
    if (i < nfounders) {
      rp->sire[i] = rp->dam[i] = -1;
    } else {
      /* parents from the last ~40 animals of each sex: a small population, heavy inbreeding */
      PetscInt window = 20;
      rp->sire[i]     = TestRandomUniform(&r) < 0.08 ? -1 : males[nm - 1 - TestRandomInt(&r, PetscMin(nm, window))];
      rp->dam[i]      = TestRandomUniform(&r) < 0.08 ? -1 : females[nf - 1 - TestRandomInt(&r, PetscMin(nf, window))];
    }
    if (i % 2)
      males[nm++] = i;
    else
      females[nf++] = i;
  }
  /* lines to write: all animals in shuffled order, some founders left out, some lines twice */
  PetscInt nlines = 0;
  for (PetscInt i = 0; i < n; i++) {
    listed[i] = PETSC_TRUE;
    if (i < nfounders && i % 3 == 0) {
      /* leave out a founder that is a parent, so it comes back as "parent not listed" */
      PetscBool parent = PETSC_FALSE;
      for (PetscInt j = 0; j < n; j++) parent = parent || rp->sire[j] == i || rp->dam[j] == i;
      if (parent) {
        listed[i] = PETSC_FALSE;
        rp->omitted++;
        continue;
      }
    }
    order[nlines++] = i;
    if (TestRandomUniform(&r) < 0.02) {
      order[nlines++] = i;
      rp->repeated++;
    }
  }
  TestShuffle(&r, order, nlines);
  fp = fopen(path, "w");
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
  fprintf(fp, "id,father,mother\n"); /* a header, commas */
  for (PetscInt k = 0; k < nlines; k++) {
    PetscInt    i       = order[k];
    const char *unknown = k % 3 == 0 ? "0" : (k % 3 == 1 ? "NA" : ".");
    fprintf(fp, "%s,%s,%s\n", rp->id[i], rp->sire[i] >= 0 ? rp->id[rp->sire[i]] : unknown, rp->dam[i] >= 0 ? rp->id[rp->dam[i]] : unknown);
  }
  fclose(fp);
  PetscCall(PetscFree4(males, females, order, listed));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TestRandomPedigree(TestCounter *c, uint64_t seed, PetscInt n)
{
  char           path[HENDERSON_MAX_PATH + 64];
  RandomPedigree rp = {0};
  PetscMPIInt    rank;
  Pedigree       pedigree;
  PedigreeStats  stats;
  Mat            Ainv;
  PetscReal     *Alib = NULL;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  snprintf(path, sizeof(path), "%s/random_%llu.csv", work_dir, (unsigned long long)seed);
  if (rank == 0) PetscCall(MakeRandomPedigree(seed, n, path, &rp));
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscCall(LoadPedigree(path, &pedigree));
  PetscCall(PedigreeGetStats(pedigree, &stats));
  PetscCall(PedigreeCreateInverse(pedigree, &Ainv));
  PetscCall(TestMatGatherDense(Ainv, &Alib));
  TestCheck(c, stats.animals == n, "seed %llu: %" PetscInt_FMT " animals", (unsigned long long)seed, stats.animals);
  TestCheck(c, stats.header, "seed %llu: header recognised", (unsigned long long)seed);
  if (rank == 0) {
    PetscReal       *A, *Ainv_dense, worst_F = 0, worst_inv = 0, scale = 0, meanF = 0;
    const PetscInt  *sire, *dam;
    const PetscReal *F;
    PetscInt        *lib_of, inbred = 0;
    PetscBool        ordered = PETSC_TRUE;

    TestCheck(c, stats.parents_added == rp.omitted, "seed %llu: %" PetscInt_FMT " parents not listed (expected %" PetscInt_FMT ")", (unsigned long long)seed,
              stats.parents_added, rp.omitted);
    TestCheck(c, stats.duplicates == rp.repeated, "seed %llu: %" PetscInt_FMT " repeated lines (expected %" PetscInt_FMT ")", (unsigned long long)seed,
              stats.duplicates, rp.repeated);
    PetscCall(PedigreeGetArrays(pedigree, &sire, &dam, &F, NULL));
    for (PetscInt i = 0; i < n; i++) ordered = ordered && sire[i] < i && dam[i] < i;
    TestCheck(c, ordered, "seed %llu: parents before progeny", (unsigned long long)seed);
    PetscCall(PetscMalloc3(n * n, &A, n * n, &Ainv_dense, n, &lib_of));
    PetscCall(TestTabularA(n, rp.sire, rp.dam, A));
    for (PetscInt i = 0; i < n; i++) lib_of[i] = IndexOf(pedigree, rp.id[i]);
    for (PetscInt i = 0; i < n; i++) {
      worst_F = PetscMax(worst_F, PetscAbsReal(F[lib_of[i]] - (A[i * n + i] - 1.0)));
      meanF += A[i * n + i] - 1.0;
      if (A[i * n + i] > 1.0 + 1e-12) inbred++;
    }
    TestCheck(c, worst_F < 1e-12, "seed %llu: F against the tabular A, largest error %.3g (mean F %.4f, %" PetscInt_FMT " inbred)", (unsigned long long)seed,
              (double)worst_F, (double)(meanF / n), inbred);
    TestCheck(c, meanF / n > 0.05, "seed %llu: the pedigree is heavily inbred (mean F %.4f)", (unsigned long long)seed, (double)(meanF / n));
    PetscCall(PetscArraycpy(Ainv_dense, A, n * n));
    PetscCall(TestInverseSPD(n, Ainv_dense));
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = 0; j < n; j++) {
        worst_inv = PetscMax(worst_inv, PetscAbsReal(Alib[lib_of[i] * n + lib_of[j]] - Ainv_dense[i * n + j]));
        scale     = PetscMax(scale, PetscAbsReal(Ainv_dense[i * n + j]));
      }
    TestCheck(c, worst_inv < 1e-9 * scale, "seed %llu: A-inverse against the dense inverse, largest error %.3g (largest entry %.3g)", (unsigned long long)seed,
              (double)worst_inv, (double)scale);
    PetscCall(PetscFree3(A, Ainv_dense, lib_of));
    PetscCall(PetscFree3(rp.sire, rp.dam, rp.id));
  }
  PetscCall(PetscFree(Alib));
  PetscCall(MatDestroy(&Ainv));
  PetscCall(PedigreeDestroy(&pedigree));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The sires of a generation are shared among the ranks: F must not depend on how. The same pedigree on all
   ranks and on rank 0 alone, F compared bit for bit. */
static PetscErrorCode TestRanksBitwise(TestCounter *c, uint64_t seed, PetscInt n, ModelPedigreeKind kind)
{
  char           path[HENDERSON_MAX_PATH + 64];
  RandomPedigree rp = {0};
  PetscMPIInt    rank, size;
  Pedigree       world, alone = NULL;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  snprintf(path, sizeof(path), "%s/bitwise_%llu.csv", work_dir, (unsigned long long)seed);
  if (rank == 0) PetscCall(MakeRandomPedigree(seed, n, path, &rp));
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscCall(LoadPedigreeOn(PETSC_COMM_WORLD, path, kind, 0, NULL, &world));
  if (rank == 0) {
    const PetscReal *Fw, *Fa, *aw, *aa;
    PetscInt         differ = 0, inbred = 0;
    PetscCall(LoadPedigreeOn(PETSC_COMM_SELF, path, kind, 0, NULL, &alone));
    PetscCall(PedigreeGetArrays(world, NULL, NULL, &Fw, &aw));
    PetscCall(PedigreeGetArrays(alone, NULL, NULL, &Fa, &aa));
    for (PetscInt i = 0; i < n; i++) {
      if (memcmp(&Fw[i], &Fa[i], sizeof(PetscReal)) || memcmp(&aw[i], &aa[i], sizeof(PetscReal))) differ++;
      if (Fa[i] > 0) inbred++;
    }
    TestCheck(c, differ == 0 && inbred > n / 4,
              "seed %llu, %s: F and alpha on %d rank(s) and on one, bit for bit: %" PetscInt_FMT " of %" PetscInt_FMT " differ (%" PetscInt_FMT " inbred)",
              (unsigned long long)seed, kind == MODEL_PEDIGREE_SIRE_MGS ? "sire-MGS" : "animal", size, differ, n, inbred);
    PetscCall(PedigreeDestroy(&alone));
    PetscCall(PetscFree3(rp.sire, rp.dam, rp.id));
  }
  PetscCall(PedigreeDestroy(&world));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The monthly re-run: pedigree B is A with one animal's sire removed (its ancestry and its descendants'
   change) and new animals; loaded with A's F and fingerprints, the animals whose ancestry is as in A keep
   A's F to the bit and only the others are computed, and F is that of B loaded alone. */
static PetscErrorCode WriteVariant(const char path[], const RandomPedigree *rp, PetscInt changed, PetscInt nnew, uint64_t seed)
{
  FILE      *fp = fopen(path, "w");
  TestRandom r;

  PetscFunctionBeginUser;
  PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
  TestRandomSeed(&r, seed);
  for (PetscInt i = 0; i < rp->n; i++)
    fprintf(fp, "%s %s %s\n", rp->id[i], rp->sire[i] >= 0 && i != changed ? rp->id[rp->sire[i]] : "0", rp->dam[i] >= 0 ? rp->id[rp->dam[i]] : "0");
  for (PetscInt k = 0; k < nnew; k++) { /* progeny of the last 40 animals (odd: males, even: females) */
    PetscInt s = rp->n - 1 - 2 * TestRandomInt(&r, 20), d = rp->n - 2 - 2 * TestRandomInt(&r, 20);
    if (s % 2 == 0) {
      PetscInt t = s;
      s          = d;
      d          = t;
    }
    fprintf(fp, "new%d %s %s\n", (int)k, rp->id[s], rp->id[d]);
  }
  fclose(fp);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode LoadWithKnown(const char path[], Pedigree known_from, Pedigree *pedigree)
{
  char      **labels = NULL;
  PetscInt    n      = 0;
  PetscMPIInt rank;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PedigreeCreate(PETSC_COMM_WORLD, pedigree));
  PetscCall(PedigreeSetFromOptions(*pedigree));
  PetscCall(PedigreeLoad(*pedigree, path));
  if (rank == 0 && known_from) {
    LabelTable       table;
    const PetscReal *F;
    const uint64_t  *ancestry;
    PetscCall(PedigreeGetLabels(known_from, &table));
    PetscCall(LabelTableGetSize(table, &n));
    PetscCall(PetscMalloc1(n, &labels));
    for (PetscInt i = 0; i < n; i++) PetscCall(LabelTableGetLabel(table, i, (const char **)&labels[i]));
    PetscCall(PedigreeGetArrays(known_from, NULL, NULL, &F, NULL));
    PetscCall(PedigreeGetAncestry(known_from, &ancestry));
    PetscCall(PedigreeSetKnownInbreeding(*pedigree, n, labels, ancestry, F));
  }
  PetscCall(PedigreeSetUp(*pedigree));
  PetscCall(PetscFree(labels));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode TestKnownInbreeding(TestCounter *c, uint64_t seed, PetscInt n)
{
  char           a_path[HENDERSON_MAX_PATH + 64], b_path[HENDERSON_MAX_PATH + 64];
  RandomPedigree rp = {0};
  PetscMPIInt    rank;
  PetscInt       changed = n / 2, nnew = n / 10;
  Pedigree       a, incremental, full;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  snprintf(a_path, sizeof(a_path), "%s/known_a_%llu.csv", work_dir, (unsigned long long)seed);
  snprintf(b_path, sizeof(b_path), "%s/known_b_%llu.txt", work_dir, (unsigned long long)seed);
  if (rank == 0) {
    PetscCall(MakeRandomPedigree(seed, n, a_path, &rp));
    while (rp.sire[changed] < 0) changed++;
    PetscCall(WriteVariant(b_path, &rp, changed, nnew, seed + 1));
  }
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscCall(LoadWithKnown(a_path, NULL, &a));
  PetscCall(LoadWithKnown(b_path, a, &incremental));
  PetscCall(LoadWithKnown(b_path, NULL, &full));
  if (rank == 0) {
    const PetscReal *Fa, *Fi, *Ff;
    PedigreeStats    stats;
    PetscInt         nb, expected = 0, same = 0, worst_at = -1;
    PetscBool       *moved;
    PetscReal        worst = 0;
    PetscCall(PedigreeGetArrays(a, NULL, NULL, &Fa, NULL));
    PetscCall(PedigreeGetArrays(incremental, NULL, NULL, &Fi, NULL));
    PetscCall(PedigreeGetArrays(full, NULL, NULL, &Ff, NULL));
    PetscCall(PedigreeGetStats(incremental, &stats));
    nb = stats.animals;
    /* in A's animals (truth order, parents first): the changed one and its descendants */
    PetscCall(PetscCalloc1(n, &moved));
    for (PetscInt i = 0; i < n; i++) {
      moved[i] = (PetscBool)(i == changed || (rp.sire[i] >= 0 && moved[rp.sire[i]]) || (rp.dam[i] >= 0 && moved[rp.dam[i]]));
      if (!moved[i]) expected++;
    }
    for (PetscInt i = 0; i < n; i++) {
      PetscInt ia = IndexOf(a, rp.id[i]), ib = IndexOf(incremental, rp.id[i]);
      if (!moved[i] && !memcmp(&Fa[ia], &Fi[ib], sizeof(PetscReal))) same++;
    }
    for (PetscInt i = 0; i < nb; i++) /* the same order: both loaded from B */
      if (PetscAbsReal(Fi[i] - Ff[i]) > worst) {
        worst    = PetscAbsReal(Fi[i] - Ff[i]);
        worst_at = i;
      }
    TestCheck(c, stats.inbreeding_reused == expected && same == expected && expected < n,
              "seed %llu: F of %" PetscInt_FMT " animals kept (expected %" PetscInt_FMT " of %" PetscInt_FMT ", %" PetscInt_FMT " to the bit), %" PetscInt_FMT
              " computed",
              (unsigned long long)seed, stats.inbreeding_reused, expected, n, same, nb - stats.inbreeding_reused);
    TestCheck(c, worst < 1e-14, "seed %llu: F kept and computed against F computed afresh: largest difference %.3g (animal %" PetscInt_FMT ")",
              (unsigned long long)seed, (double)worst, worst_at);
    PetscCall(PetscFree(moved));
    PetscCall(PetscFree3(rp.sire, rp.dam, rp.id));
  }
  PetscCall(PedigreeDestroy(&a));
  PetscCall(PedigreeDestroy(&incremental));
  PetscCall(PedigreeDestroy(&full));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Unknown-parent groups: the QP-transformed matrix from the library against the dense blocks
   [A^-1, -A^-1 Q; -Q' A^-1, Q' A^-1 Q], Q the group proportions of every animal. Unknown parents of
   animals of the first half are groups by sex and birth period; a few stay plainly unknown. */
static PetscErrorCode TestGroups(TestCounter *c, uint64_t seed, PetscInt n)
{
  char        path[HENDERSON_MAX_PATH + 64];
  const char *groups[] = {"Gsire_old", "Gdam_old", "Gsire_new", "Gdam_new"};
  PetscInt    ngroups  = 4, *sire, *dam, *sire_group, *dam_group;
  PetscMPIInt rank;
  TestRandom  r;
  Pedigree    pedigree;
  Mat         Ainv;
  PetscReal  *lib = NULL;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscMalloc4(n, &sire, n, &dam, n, &sire_group, n, &dam_group));
  TestRandomSeed(&r, seed);
  for (PetscInt i = 0; i < n; i++) {
    PetscInt recent = i < n / 2 ? 0 : 2;
    sire[i] = dam[i] = -1;
    if (i >= 10) {
      if (TestRandomUniform(&r) > 0.15) sire[i] = 2 * TestRandomInt(&r, i / 2) + 1 < i ? 2 * TestRandomInt(&r, i / 2) + 1 : -1;
      if (TestRandomUniform(&r) > 0.15) dam[i] = 2 * TestRandomInt(&r, (i + 1) / 2);
      if (sire[i] >= i) sire[i] = -1;
      if (dam[i] >= i) dam[i] = -1;
    }
    /* unknown parents become groups, except about one in ten */
    sire_group[i] = sire[i] < 0 && TestRandomUniform(&r) > 0.1 ? recent : -1;
    dam_group[i]  = dam[i] < 0 && TestRandomUniform(&r) > 0.1 ? recent + 1 : -1;
  }
  snprintf(path, sizeof(path), "%s/groups_%llu.txt", work_dir, (unsigned long long)seed);
  if (rank == 0) {
    FILE *fp = fopen(path, "w");
    PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
    for (PetscInt i = n - 1; i >= 0; i--) { /* progeny first: the order must not matter */
      char s[32], d[32];
      if (sire[i] >= 0)
        snprintf(s, sizeof(s), "b%d", (int)sire[i]);
      else
        snprintf(s, sizeof(s), "%s", sire_group[i] >= 0 ? groups[sire_group[i]] : "0");
      if (dam[i] >= 0)
        snprintf(d, sizeof(d), "b%d", (int)dam[i]);
      else
        snprintf(d, sizeof(d), "%s", dam_group[i] >= 0 ? groups[dam_group[i]] : "0");
      fprintf(fp, "b%d %s %s\n", (int)i, s, d);
    }
    fclose(fp);
  }
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscCall(LoadPedigreeOf(path, MODEL_PEDIGREE_ANIMAL, ngroups, groups, &pedigree));
  PetscCall(PedigreeCreateInverse(pedigree, &Ainv));
  PetscCall(TestMatGatherDense(Ainv, &lib));
  if (rank == 0) {
    PetscInt   N = n + ngroups, *map;
    PetscReal *A, *Q, *AinvQ, worst = 0, scale = 0;
    char       label[32];
    PetscCall(PetscMalloc4(n * n, &A, n * ngroups, &Q, n * ngroups, &AinvQ, n, &map));
    PetscCall(TestTabularA(n, sire, dam, A));
    PetscCall(TestInverseSPD(n, A));
    for (PetscInt i = 0; i < n; i++) { /* Q_i = (Q_sire or group) / 2 + (Q_dam or group) / 2 */
      for (PetscInt g = 0; g < ngroups; g++) Q[i * ngroups + g] = 0;
      for (PetscInt g = 0; g < ngroups; g++) {
        if (sire[i] >= 0) Q[i * ngroups + g] += 0.5 * Q[sire[i] * ngroups + g];
        if (dam[i] >= 0) Q[i * ngroups + g] += 0.5 * Q[dam[i] * ngroups + g];
      }
      if (sire_group[i] >= 0) Q[i * ngroups + sire_group[i]] += 0.5;
      if (dam_group[i] >= 0) Q[i * ngroups + dam_group[i]] += 0.5;
      snprintf(label, sizeof(label), "b%d", (int)i);
      map[i] = IndexOf(pedigree, label);
    }
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt g = 0; g < ngroups; g++) {
        AinvQ[i * ngroups + g] = 0;
        for (PetscInt k = 0; k < n; k++) AinvQ[i * ngroups + g] += A[i * n + k] * Q[k * ngroups + g];
      }
    for (PetscInt i = 0; i < n; i++) {
      for (PetscInt j = 0; j < n; j++) worst = PetscMax(worst, PetscAbsReal(lib[map[i] * N + map[j]] - A[i * n + j]));
      for (PetscInt g = 0; g < ngroups; g++) worst = PetscMax(worst, PetscAbsReal(lib[map[i] * N + n + g] + AinvQ[i * ngroups + g]));
    }
    for (PetscInt g = 0; g < ngroups; g++)
      for (PetscInt h = 0; h < ngroups; h++) {
        PetscReal qaq = 0;
        for (PetscInt k = 0; k < n; k++) qaq += Q[k * ngroups + g] * AinvQ[k * ngroups + h];
        worst = PetscMax(worst, PetscAbsReal(lib[(n + g) * N + n + h] - qaq));
        scale = PetscMax(scale, PetscAbsReal(qaq));
      }
    TestCheck(c, worst < 1e-9 * PetscMax(1.0, scale), "groups, seed %llu: QP A*-inverse against [A^-1, -A^-1 Q; -Q'A^-1, Q'A^-1 Q], largest error %.3g",
              (unsigned long long)seed, (double)worst);
    PetscCall(PetscFree4(A, Q, AinvQ, map));
  }
  PetscCall(PetscFree(lib));
  PetscCall(MatDestroy(&Ainv));
  PetscCall(PedigreeDestroy(&pedigree));
  PetscCall(PetscFree4(sire, dam, sire_group, dam_group));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Sire-maternal grandsire pedigrees: A of bulls by the tabular method with coefficients 1/2 (sire)
   and 1/4 (maternal grandsire), a_ii = 1 + a_sm / 4; F and A-inverse from the library against it. */
static PetscErrorCode TestSireMGS(TestCounter *c, uint64_t seed, PetscInt n)
{
  char        path[HENDERSON_MAX_PATH + 64];
  PetscInt   *sire, *mgs;
  PetscMPIInt rank;
  TestRandom  r;
  Pedigree    pedigree;
  Mat         Ainv;
  PetscReal  *lib = NULL;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCall(PetscMalloc2(n, &sire, n, &mgs));
  TestRandomSeed(&r, seed);
  for (PetscInt i = 0; i < n; i++) {
    /* recent bulls as sires and grandsires, often the same bull for both (a sire bred to his daughter) */
    sire[i] = i >= 8 && TestRandomUniform(&r) > 0.1 ? i - 1 - TestRandomInt(&r, PetscMin(i, 25)) : -1;
    mgs[i]  = i >= 8 && TestRandomUniform(&r) > 0.2 ? (TestRandomUniform(&r) < 0.2 && sire[i] >= 0 ? sire[i] : i - 1 - TestRandomInt(&r, PetscMin(i, 25))) : -1;
  }
  snprintf(path, sizeof(path), "%s/sire_mgs_%llu.txt", work_dir, (unsigned long long)seed);
  if (rank == 0) {
    FILE *fp = fopen(path, "w");
    PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot write %s", path);
    fprintf(fp, "bull sire maternal_grandsire\n");
    for (PetscInt i = 0; i < n; i++) {
      char s[32] = "0", m[32] = "0";
      if (sire[i] >= 0) snprintf(s, sizeof(s), "bull%d", (int)sire[i]);
      if (mgs[i] >= 0) snprintf(m, sizeof(m), "bull%d", (int)mgs[i]);
      fprintf(fp, "bull%d %s %s\n", (int)i, s, m);
    }
    fclose(fp);
  }
  PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
  PetscCall(LoadPedigreeOf(path, MODEL_PEDIGREE_SIRE_MGS, 0, NULL, &pedigree));
  PetscCall(PedigreeCreateInverse(pedigree, &Ainv));
  PetscCall(TestMatGatherDense(Ainv, &lib));
  if (rank == 0) {
    PetscReal       *A, *Ai, worstF = 0, worst = 0, scale = 0, meanF = 0;
    PetscInt        *map;
    const PetscReal *F;
    char             label[32];
    PetscCall(PetscMalloc3(n * n, &A, n * n, &Ai, n, &map));
    for (PetscInt i = 0; i < n; i++) {
      for (PetscInt j = 0; j < i; j++)
        A[i * n + j] = A[j * n + i] = (sire[i] >= 0 ? 0.5 * A[j * n + sire[i]] : 0) + (mgs[i] >= 0 ? 0.25 * A[j * n + mgs[i]] : 0);
      A[i * n + i] = 1 + (sire[i] >= 0 && mgs[i] >= 0 ? 0.25 * A[sire[i] * n + mgs[i]] : 0);
      snprintf(label, sizeof(label), "bull%d", (int)i);
      map[i] = IndexOf(pedigree, label);
    }
    PetscCall(PedigreeGetArrays(pedigree, NULL, NULL, &F, NULL));
    for (PetscInt i = 0; i < n; i++) {
      worstF = PetscMax(worstF, PetscAbsReal(F[map[i]] - (A[i * n + i] - 1)));
      meanF += A[i * n + i] - 1;
    }
    TestCheck(c, worstF < 1e-12 && meanF > 0, "sire-MGS, seed %llu: F against the tabular A, largest error %.3g (mean F %.4f)", (unsigned long long)seed,
              (double)worstF, (double)(meanF / n));
    PetscCall(PetscArraycpy(Ai, A, n * n));
    PetscCall(TestInverseSPD(n, Ai));
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = 0; j < n; j++) {
        worst = PetscMax(worst, PetscAbsReal(lib[map[i] * n + map[j]] - Ai[i * n + j]));
        scale = PetscMax(scale, PetscAbsReal(Ai[i * n + j]));
      }
    TestCheck(c, worst < 1e-9 * scale, "sire-MGS, seed %llu: A-inverse against the dense inverse, largest error %.3g", (unsigned long long)seed, (double)worst);
    PetscCall(PetscFree3(A, Ai, map));
  }
  PetscCall(PetscFree(lib));
  PetscCall(MatDestroy(&Ainv));
  PetscCall(PedigreeDestroy(&pedigree));
  PetscCall(PetscFree2(sire, mgs));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  TestCounter c = {0, 0};
  int         code;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(HendersonErrorInitialize());
  PetscCall(PetscOptionsGetString(NULL, NULL, "-data", data_dir, sizeof(data_dir), NULL));
  PetscCall(PetscOptionsGetString(NULL, NULL, "-work", work_dir, sizeof(work_dir), NULL));
  PetscCall(TestMakeDirectory(PETSC_COMM_WORLD, work_dir));
  PetscCall(TestPublishedRelationships(&c));
  /* both inbreeding methods, against the same tabular A */
  for (int m = 0; m < 2; m++) {
    const char *method = m ? "meuwissen_luo" : "indirect";
    PetscCall(PetscOptionsSetValue(NULL, "-pedigree_inbreeding", method));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "inbreeding method %s\n", method));
    PetscCall(TestPublishedInbreeding(&c));
    PetscCall(TestRandomPedigree(&c, 1, 200));
    PetscCall(TestRandomPedigree(&c, 2, 400));
    PetscCall(TestRandomPedigree(&c, 3, 333));
    PetscCall(TestSireMGS(&c, 4, 150));
    PetscCall(TestSireMGS(&c, 5, 300));
    PetscCall(TestKnownInbreeding(&c, 10, 800));
  }
  PetscCall(PetscOptionsSetValue(NULL, "-pedigree_inbreeding", "indirect"));
  PetscCall(TestRanksBitwise(&c, 8, 3000, MODEL_PEDIGREE_ANIMAL));
  PetscCall(TestRanksBitwise(&c, 9, 2000, MODEL_PEDIGREE_SIRE_MGS));
  PetscCall(TestGroups(&c, 6, 240));
  PetscCall(TestGroups(&c, 7, 400));
  code = TestFinish(PETSC_COMM_WORLD, &c, "test_pedigree");
  PetscCall(HendersonErrorFinalize());
  PetscCall(PetscFinalize());
  return code;
}
