/* FACTORCHOLMOD: CHOLMOD's supernodal Cholesky factor C = LL' on rank 0, and the selected inverse on its
   pattern.

   The selected inverse (Takahashi, Fagan and Chin 1973; by supernodes as in Li and Demmel's SelInv):
   with Z = C^-1, P the fill-reducing permutation folded in, and for a supernode K (columns K, rows S
   below them in L's pattern),
       U    = L_SK L_KK^-1,
       Z_SK = -Z_SS U,
       Z_KK = (L_KK L_KK')^-1 - U' Z_SK,
   where Z_SS lies in the pattern of later supernodes (S is a clique of L's graph: its rows are columns
   of later supernodes, and each pair of them is in L's pattern). Walking the supernodes last to first
   therefore gives every entry of C^-1 on L's pattern -- all of C's own pattern, which is where PEV and
   REML's traces look -- with two GEMMs, one TRSM and one POTRI a supernode: about the flops of the
   factorisation. Entries off the pattern (rare requests) come from solves with unit vectors.

   CHOLMOD is sequential: C is gathered on rank 0 (MatCreateSubMatrices), factored and inverted there;
   solves gather b there and scatter x back. */
#if defined(__linux__)
#define _GNU_SOURCE /* sched_getaffinity(): rank 0 takes its node's cores while it works alone */
#include <sched.h>
#endif
#include "factorimpl.h"
#include <henderson/log.h>

#if defined(HENDERSON_HAVE_CHOLMOD)
#include <suitesparse/cholmod.h>
#include <petscblaslapack.h>
#include <henderson/error.h>
#include <dlfcn.h>
#include <time.h>

typedef SuiteSparse_long Long;

typedef struct {
  cholmod_common  cm;
  PetscBool       started;  /* cm initialised (rank 0) */
  cholmod_sparse *A;        /* rank 0: C, upper triangle used */
  cholmod_factor *L;        /* rank 0: supernodal LL' */
  Long           *pinv;     /* rank 0: the position in L of each equation */
  Long           *colsuper; /* rank 0: the supernode of each column of L */
  PetscReal      *Z;        /* rank 0: C^-1 on L's pattern, laid out as L->x (NULL until asked for) */
  PetscReal       logdet;   /* every rank */
  Mat             C0;       /* rank 0: C gathered (empty elsewhere) */
  PetscInt        threads;  /* rank 0: BLAS threads while it works alone (-factor_root_threads) */
#if defined(__linux__)
  cpu_set_t cpus; /* rank 0: the cores of its node's ranks (MPI binds each rank to its own) */
#endif
  VecScatter toroot; /* b on all ranks -> rank 0 */
  Vec        root;
} Factor_CHOLMOD;

static PetscLogEvent FACTOR_Cholmod, FACTOR_SelectedInverse;

/* Rank 0: C0 (the whole C, sequential AIJ, symmetric and stored whole) into A's values; A's pattern too
   the first time. CSR rows are CSC columns of a symmetric matrix; CHOLMOD reads the upper triangle. */
static PetscErrorCode CopyToCholmod(Factor_CHOLMOD *ch)
{
  const PetscInt    *ia, *ja;
  const PetscScalar *a;
  PetscInt           n;
  PetscBool          done;

  PetscFunctionBeginUser;
  PetscCall(MatGetRowIJ(ch->C0, 0, PETSC_FALSE, PETSC_FALSE, &n, &ia, &ja, &done));
  PetscCheck(done, PETSC_COMM_SELF, PETSC_ERR_PLIB, "no CSR structure");
  PetscCall(MatSeqAIJGetArrayRead(ch->C0, &a));
  if (ch->A && (Long)ch->A->nzmax != (Long)ia[n]) cholmod_l_free_sparse(&ch->A, &ch->cm); /* a new pattern */
  if (!ch->A) {
    Long *p, *i;
    ch->A = cholmod_l_allocate_sparse((size_t)n, (size_t)n, (size_t)ia[n], 1, 1, 1, CHOLMOD_REAL, &ch->cm);
    PetscCheck(ch->A, PETSC_COMM_SELF, PETSC_ERR_MEM, "CHOLMOD could not hold C (%" PetscInt_FMT " equations, %" PetscInt_FMT " entries)", n, ia[n]);
    p = (Long *)ch->A->p;
    i = (Long *)ch->A->i;
    for (PetscInt r = 0; r <= n; r++) p[r] = ia[r];
    for (PetscInt k = 0; k < ia[n]; k++) i[k] = ja[k];
  }
  PetscCall(PetscArraycpy((PetscReal *)ch->A->x, a, ia[n]));
  PetscCall(MatSeqAIJRestoreArrayRead(ch->C0, &a));
  PetscCall(MatRestoreRowIJ(ch->C0, 0, PETSC_FALSE, PETSC_FALSE, &n, &ia, &ja, &done));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: column J's pivot L_jj within its supernode S. */
static inline PetscReal Pivot(const cholmod_factor *L, Long s, Long j)
{
  const Long *super = (const Long *)L->super, *pi = (const Long *)L->pi, *px = (const Long *)L->px;
  Long        nr = pi[s + 1] - pi[s], o = j - super[s];
  return ((const PetscReal *)L->x)[px[s] + o + o * nr];
}

/* Rank 0: log|C| and the smallest ratio of a pivot L_jj^2 to its diagonal entry of C -- rounding leaves
   some 1e-16 where C is singular; a pivot of equations that carry information is far above. */
static void PivotSummary(const Factor_CHOLMOD *ch, const PetscReal diag[], PetscReal *logdet, PetscReal *smallest)
{
  const cholmod_factor *L     = ch->L;
  const Long           *super = (const Long *)L->super, *perm = (const Long *)L->Perm;

  *logdet   = 0;
  *smallest = PETSC_MAX_REAL;
  for (Long s = 0; s < (Long)L->nsuper; s++)
    for (Long j = super[s]; j < super[s + 1]; j++) {
      PetscReal d = Pivot(L, s, j);
      *logdet += 2 * PetscLogReal(d);
      *smallest = PetscMin(*smallest, d * d / PetscMax(diag[perm[j]], PETSC_SMALL));
    }
}

/* Rank 0: factor A (analysing it the first time). *SINGULAR: CHOLMOD met a pivot that is not positive, or
   one below 1e-10 of its C_jj. */
static PetscErrorCode FactorRoot(Factor_CHOLMOD *ch, PetscBool *singular)
{
  Vec       d;
  PetscReal smallest;

  PetscFunctionBeginUser;
  PetscCall(CopyToCholmod(ch));
  if (!ch->L) {
    ch->cm.supernodal = CHOLMOD_SUPERNODAL; /* the selected inverse works by supernodes */
    ch->L             = cholmod_l_analyze(ch->A, &ch->cm);
    PetscCheck(ch->L, PETSC_COMM_SELF, PETSC_ERR_LIB, "CHOLMOD could not analyse C (status %d)", ch->cm.status);
  }
  cholmod_l_factorize(ch->A, ch->L, &ch->cm);
  PetscCheck(ch->cm.status == CHOLMOD_OK || ch->cm.status == CHOLMOD_NOT_POSDEF, PETSC_COMM_SELF, PETSC_ERR_MEM, "CHOLMOD could not factor C (status %d)",
             ch->cm.status);
  PetscCheck(ch->L->is_super && ch->L->is_ll, PETSC_COMM_SELF, PETSC_ERR_PLIB, "CHOLMOD did not give a supernodal LL' factor");
  *singular = (PetscBool)(ch->cm.status == CHOLMOD_NOT_POSDEF);
  PetscCall(PetscInfo(NULL, "CHOLMOD: %zu equations, %zu supernodes, %.4g entries in L, %.4g flops (ordering %d)\n", ch->L->n, ch->L->nsuper, ch->cm.lnz,
                      ch->cm.fl, ch->L->ordering));
  if (*singular) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(MatCreateVecs(ch->C0, &d, NULL));
  PetscCall(MatGetDiagonal(ch->C0, d));
  {
    const PetscScalar *diag;
    PetscCall(VecGetArrayRead(d, &diag));
    PivotSummary(ch, diag, &ch->logdet, &smallest);
    PetscCall(VecRestoreArrayRead(d, &diag));
  }
  PetscCall(VecDestroy(&d));
  *singular = (PetscBool)(smallest < 1e-10);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- rank 0 working alone ----
   CHOLMOD is sequential, so the factorisation and the selected inverse run on rank 0 while the others
   wait. A blocking MPI wait spins and keeps its core; these ranks instead poll a nonblocking barrier
   every millisecond and sleep between, and rank 0 meanwhile runs OpenBLAS with as many threads as
   there are ranks on its node, on their cores (mpiexec binds each rank to one: rank 0 widens its
   affinity to the union for the time; 1.4x at 10^4 animals on 2 cores). OpenBLAS is found at run time
   (dlsym): with another BLAS the thread count is left alone. */
static void BLASThreads(int set, int *previous)
{
  void *self       = dlopen(NULL, RTLD_LAZY);
  int (*get)(void) = NULL;
  void (*put)(int) = NULL;

  if (!self) return;
  *(void **)&get = dlsym(self, "openblas_get_num_threads");
  *(void **)&put = dlsym(self, "openblas_set_num_threads");
  if (get && put) {
    if (previous) *previous = get();
    if (set > 0) put(set);
  }
  dlclose(self);
}

/* Collective at creation: rank 0's node, its ranks and (Linux) the union of their cores on rank 0. */
static PetscErrorCode NodeCores(Factor f, Factor_CHOLMOD *ch)
{
  MPI_Comm    node;
  PetscMPIInt nnode;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_split_type(f->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  PetscCallMPI(MPI_Comm_size(node, &nnode));
  ch->threads = nnode;
#if defined(__linux__)
  {
    cpu_set_t mine;
    CPU_ZERO(&mine);
    if (sched_getaffinity(0, sizeof(mine), &mine)) CPU_ZERO(&mine);
    PetscCallMPI(MPI_Reduce(&mine, &ch->cpus, (PetscMPIInt)sizeof(mine), MPI_BYTE, MPI_BOR, 0, node)); /* node rank 0 is rank 0 */
  }
#endif
  PetscCallMPI(MPI_Comm_free(&node));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: into and out of the working phase: its node's cores and BLAS threads, and back. */
static void RootCores(Factor_CHOLMOD *ch, PetscBool enter, int *threads)
{
#if defined(__linux__)
  static cpu_set_t saved;
  static PetscBool widened;
  if (enter) {
    widened = (PetscBool)(CPU_COUNT(&ch->cpus) > 0 && !sched_getaffinity(0, sizeof(saved), &saved) && !sched_setaffinity(0, sizeof(ch->cpus), &ch->cpus));
  } else if (widened) {
    (void)sched_setaffinity(0, sizeof(saved), &saved);
  }
#endif
  if (enter)
    BLASThreads((int)ch->threads, threads);
  else
    BLASThreads(*threads, NULL);
}

/* The other ranks: back when rank 0 enters the barrier, without spinning meanwhile. */
static PetscErrorCode QuietBarrier(MPI_Comm comm, PetscBool sleep)
{
  MPI_Request request;
  int         done = 0;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Ibarrier(comm, &request));
  while (!done) {
    PetscCallMPI(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (!done && sleep) nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective: WORK(f, ctx) on rank 0 alone, as above; an error there is every rank's error. */
static PetscErrorCode OnRoot(Factor f, PetscErrorCode (*work)(Factor, void *), void *ctx)
{
  Factor_CHOLMOD *ch   = (Factor_CHOLMOD *)f->data;
  PetscErrorCode  ierr = PETSC_SUCCESS;

  PetscFunctionBeginUser;
  if (f->rank == 0) {
    int previous = 0;
    RootCores(ch, PETSC_TRUE, &previous);
    ierr = work(f, ctx);
    RootCores(ch, PETSC_FALSE, &previous);
  }
  PetscCall(QuietBarrier(f->comm, (PetscBool)(f->rank != 0)));
  PetscCall(HendersonAgree(f->comm, ierr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode GatherOnRoot(Factor f, Mat C)
{
  Factor_CHOLMOD *ch = (Factor_CHOLMOD *)f->data;
  PetscInt        N;
  IS              is;
  Mat            *sub;

  PetscFunctionBeginUser;
  PetscCall(MatGetSize(C, &N, NULL));
  PetscCall(ISCreateStride(PETSC_COMM_SELF, f->rank == 0 ? N : 0, 0, 1, &is));
  if (ch->C0) {
    sub = &ch->C0;
    PetscCall(MatCreateSubMatrices(C, 1, &is, &is, MAT_REUSE_MATRIX, &sub));
  } else {
    PetscCall(MatCreateSubMatrices(C, 1, &is, &is, MAT_INITIAL_MATRIX, &sub));
    ch->C0 = sub[0];
    PetscCall(PetscFree(sub));
  }
  PetscCall(ISDestroy(&is));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FactorDestroy_CHOLMOD(Factor f);

/* Rank 0: the numeric factorisation; CTX: the PetscBool "singular". */
static PetscErrorCode FactorWork(Factor f, void *ctx)
{
  Factor_CHOLMOD *ch = (Factor_CHOLMOD *)f->data;

  PetscFunctionBeginUser;
  PetscCall(PetscFree(ch->Z)); /* of the last values */
  PetscCall(FactorRoot(ch, (PetscBool *)ctx));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FactorSetUp_CHOLMOD(Factor f, Mat C)
{
  Factor_CHOLMOD *ch       = (Factor_CHOLMOD *)f->data;
  PetscBool       singular = PETSC_FALSE;

  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(FACTOR_Cholmod, 0, 0, 0, 0));
  PetscCall(GatherOnRoot(f, C));
  PetscCall(OnRoot(f, FactorWork, &singular));
  PetscCallMPI(MPI_Bcast(&singular, 1, MPIU_BOOL, 0, f->comm));
  PetscCallMPI(MPI_Bcast(&ch->logdet, 1, MPIU_REAL, 0, f->comm));
  PetscCall(PetscLogEventEnd(FACTOR_Cholmod, 0, 0, 0, 0));
  if (singular) {
    PetscCheck(f->null_pivots, f->comm, PETSC_ERR_MAT_CH_ZRPVT, "the mixed model equations are not positive definite (CHOLMOD met a null pivot)");
    /* a generalised inverse and the null space need MUMPS' null pivot detection */
    PetscCall(PetscInfo(NULL, "C is singular: a MUMPS factor with null pivot detection instead of CHOLMOD\n"));
    PetscCall(FactorDestroy_CHOLMOD(f));
    PetscCall(PetscMemzero(&f->ops, sizeof(f->ops)));
    PetscCall(FactorCreate_MUMPS(f));
    PetscCall(f->ops.setup(f, C));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0, supernode S: Z_SS (M x M, leading dimension M) gathered from the later supernodes' blocks of Z.
   ROWS are S's rows below its columns; REL is scratch of L's size, -1 throughout on entry and exit. */
static void GatherTrailing(const Factor_CHOLMOD *ch, Long m, const Long rows[], Long rel[], PetscReal Zss[])
{
  const cholmod_factor *L     = ch->L;
  const Long           *super = (const Long *)L->super, *pi = (const Long *)L->pi, *px = (const Long *)L->px, *Ls = (const Long *)L->s;

  for (Long b = 0; b < m;) { /* the rows of one later supernode T at a time */
    Long t = ch->colsuper[rows[b]], tr = pi[t + 1] - pi[t];
    for (Long q = 0; q < tr; q++) rel[Ls[pi[t] + q]] = q;
    for (; b < m && ch->colsuper[rows[b]] == t; b++) {
      const PetscReal *column = ch->Z + px[t] + (rows[b] - super[t]) * tr;
      for (Long a = b; a < m; a++) Zss[a + b * m] = Zss[b + a * m] = column[rel[rows[a]]];
    }
    for (Long q = 0; q < tr; q++) rel[Ls[pi[t] + q]] = -1;
  }
}

/* Rank 0, supernode S: its block of Z from the later ones (see the top of the file). U and Zss: scratch. */
static PetscErrorCode InvertSupernode(const Factor_CHOLMOD *ch, Long s, Long rel[], PetscReal U[], PetscReal Zss[])
{
  const cholmod_factor *L     = ch->L;
  const Long           *super = (const Long *)L->super, *pi = (const Long *)L->pi, *px = (const Long *)L->px;
  const PetscReal      *Lb = (const PetscReal *)L->x + px[s];
  PetscReal            *Zb = ch->Z + px[s], one = 1, zero = 0, mone = -1;
  PetscBLASInt          nc, nr, m, info;

  PetscFunctionBeginUser;
  PetscCall(PetscBLASIntCast(super[s + 1] - super[s], &nc));
  PetscCall(PetscBLASIntCast(pi[s + 1] - pi[s], &nr));
  m = nr - nc;
  for (PetscBLASInt j = 0; j < nc; j++) PetscCall(PetscArraycpy(Zb + j * nr, Lb + j * nr, nc)); /* Z_KK = (L_KK L_KK')^-1 */
  PetscCallBLAS("LAPACKpotri", LAPACKpotri_("L", &nc, Zb, &nr, &info));
  PetscCall(PetscLogFlops(2.0 / 3.0 * nc * nc * nc));
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK potri failed (%d) on supernode %ld", (int)info, (long)s);
  if (m == 0) PetscFunctionReturn(PETSC_SUCCESS);
  for (PetscBLASInt j = 0; j < nc; j++) PetscCall(PetscArraycpy(U + j * m, Lb + nc + j * nr, m)); /* U = L_SK L_KK^-1 */
  PetscCallBLAS("BLAStrsm", BLAStrsm_("R", "L", "N", "N", &m, &nc, &one, Lb, &nr, U, &m));
  GatherTrailing(ch, m, (const Long *)L->s + pi[s] + nc, rel, Zss);
  PetscCallBLAS("BLASgemm", BLASgemm_("N", "N", &m, &nc, &m, &mone, Zss, &m, U, &m, &zero, Zb + nc, &nr)); /* Z_SK = -Z_SS U */
  PetscCallBLAS("BLASgemm", BLASgemm_("T", "N", &nc, &nc, &m, &mone, U, &m, Zb + nc, &nr, &one, Zb, &nr)); /* Z_KK -= U' Z_SK */
  PetscCall(PetscLogFlops((PetscLogDouble)m * nc * (nc + 2.0 * m + 2.0 * nc)));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: Z, C^-1 on L's pattern, supernode by supernode from the last. POTRI fills only Z_KK's lower
   triangle, which is all that lookups read. */
static PetscErrorCode SelectedInverse(Factor_CHOLMOD *ch)
{
  const cholmod_factor *L     = ch->L;
  const Long           *super = (const Long *)L->super, *pi = (const Long *)L->pi, *px = (const Long *)L->px;
  Long                  n = (Long)L->n, ns = (Long)L->nsuper, maxm = 0, maxu = 0, *rel;
  PetscReal            *U, *Zss;

  PetscFunctionBeginUser;
  PetscCall(PetscLogEventBegin(FACTOR_SelectedInverse, 0, 0, 0, 0));
  PetscCall(PetscMalloc1(px[ns], &ch->Z));
  if (!ch->colsuper) {
    PetscCall(PetscMalloc2(n, &ch->colsuper, n, &ch->pinv));
    for (Long s = 0; s < ns; s++)
      for (Long j = super[s]; j < super[s + 1]; j++) ch->colsuper[j] = s;
    for (Long j = 0; j < n; j++) ch->pinv[((const Long *)L->Perm)[j]] = j;
  }
  for (Long s = 0; s < ns; s++) {
    Long nc = super[s + 1] - super[s], m = (pi[s + 1] - pi[s]) - nc;
    maxm = PetscMax(maxm, m);
    maxu = PetscMax(maxu, m * nc);
  }
  PetscCall(PetscMalloc3(n, &rel, maxm * maxm + 1, &Zss, maxu + 1, &U));
  for (Long j = 0; j < n; j++) rel[j] = -1;
  for (Long s = ns - 1; s >= 0; s--) PetscCall(InvertSupernode(ch, s, rel, U, Zss));
  PetscCall(PetscFree3(rel, Zss, U));
  PetscCall(PetscLogEventEnd(FACTOR_SelectedInverse, 0, 0, 0, 0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: entry (R, C) of C^-1 (equations) from Z; *FOUND false where L's pattern lacks it. */
static PetscReal Lookup(const Factor_CHOLMOD *ch, PetscInt r, PetscInt c, PetscBool *found)
{
  const cholmod_factor *L     = ch->L;
  const Long           *super = (const Long *)L->super, *pi = (const Long *)L->pi, *px = (const Long *)L->px, *Ls = (const Long *)L->s;
  Long                  p = ch->pinv[r], q = ch->pinv[c], lo = PetscMin(p, q), hi = PetscMax(p, q), s = ch->colsuper[lo];
  Long                  a = pi[s], b = pi[s + 1], nr = b - a;

  while (a < b) { /* a supernode's rows ascend */
    Long mid = a + (b - a) / 2;
    if (Ls[mid] < hi)
      a = mid + 1;
    else
      b = mid;
  }
  *found = (PetscBool)(a < pi[s + 1] && Ls[a] == hi);
  return *found ? ch->Z[px[s] + (a - pi[s]) + (lo - super[s]) * nr] : 0;
}

/* Rank 0: x = C^-1 b by CHOLMOD's solve, both of length n. */
static PetscErrorCode RootSolve(Factor_CHOLMOD *ch, const PetscReal b[], PetscReal x[])
{
  cholmod_dense B, *X;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&B, sizeof(B)));
  B.nrow = B.nzmax = B.d = ch->L->n;
  B.ncol                 = 1;
  B.x                    = (void *)b;
  B.xtype                = CHOLMOD_REAL;
  B.dtype                = CHOLMOD_DOUBLE;
  X                      = cholmod_l_solve(CHOLMOD_A, ch->L, &B, &ch->cm);
  PetscCheck(X, PETSC_COMM_SELF, PETSC_ERR_LIB, "CHOLMOD could not solve (status %d)", ch->cm.status);
  PetscCall(PetscArraycpy(x, (PetscReal *)X->x, ch->L->n));
  cholmod_l_free_dense(&X, &ch->cm);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: the requests K (of N) that Z lacks, MISSING[0..NMISSING), column by column: a solve with a unit
   vector a column. */
static PetscErrorCode OffPattern(Factor_CHOLMOD *ch, PetscInt nmissing, PetscInt missing[], const PetscInt rows[], const PetscInt cols[], PetscReal values[])
{
  PetscInt   n = (PetscInt)ch->L->n;
  PetscReal *e, *x;

  PetscFunctionBeginUser;
  if (!nmissing) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscInfo(NULL, "%" PetscInt_FMT " entries of C^-1 off the factor's pattern: by solves\n", nmissing));
  {
    PetscInt *key;
    PetscCall(PetscMalloc1(nmissing, &key));
    for (PetscInt k = 0; k < nmissing; k++) key[k] = cols[missing[k]];
    PetscCall(PetscSortIntWithArray(nmissing, key, missing));
    PetscCall(PetscFree(key));
  }
  PetscCall(PetscCalloc2(n, &e, n, &x));
  for (PetscInt k = 0; k < nmissing;) {
    PetscInt c = cols[missing[k]];
    e[c]       = 1;
    PetscCall(RootSolve(ch, e, x));
    e[c] = 0;
    for (; k < nmissing && cols[missing[k]] == c; k++) values[missing[k]] = x[rows[missing[k]]];
  }
  PetscCall(PetscFree2(e, x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

typedef struct {
  PetscInt64      n;
  const PetscInt *rows, *cols;
  PetscReal      *values;
} Requests;

/* Rank 0: the entries of C^-1 that CTX (Requests) asks for, the selected inverse made first if need be. */
static PetscErrorCode InverseWork(Factor f, void *ctx)
{
  Factor_CHOLMOD *ch       = (Factor_CHOLMOD *)f->data;
  Requests       *q        = (Requests *)ctx;
  PetscInt        nmissing = 0, *missing;

  PetscFunctionBeginUser;
  if (!ch->Z) PetscCall(SelectedInverse(ch));
  PetscCall(PetscMalloc1(q->n + 1, &missing));
  for (PetscInt64 k = 0; k < q->n; k++) {
    PetscBool found;
    q->values[k] = Lookup(ch, q->rows[k], q->cols[k], &found);
    if (!found) missing[nmissing++] = (PetscInt)k;
  }
  PetscCall(OffPattern(ch, nmissing, missing, q->rows, q->cols, q->values));
  PetscCall(PetscFree(missing));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FactorGetInverseEntries_CHOLMOD(Factor f, PetscInt64 total, const PetscInt rows[], const PetscInt cols[], PetscReal values[])
{
  Requests q = {total, rows, cols, values};

  PetscFunctionBeginUser;
  PetscCall(OnRoot(f, InverseWork, &q));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FactorSolve_CHOLMOD(Factor f, Vec b, Vec x)
{
  Factor_CHOLMOD *ch = (Factor_CHOLMOD *)f->data;

  PetscFunctionBeginUser;
  if (!ch->toroot) PetscCall(VecScatterCreateToZero(b, &ch->toroot, &ch->root));
  PetscCall(VecScatterBegin(ch->toroot, b, ch->root, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(ch->toroot, b, ch->root, INSERT_VALUES, SCATTER_FORWARD));
  if (f->rank == 0) {
    PetscScalar *v, *y;
    PetscCall(VecGetArray(ch->root, &v));
    PetscCall(PetscMalloc1(ch->L->n, &y));
    PetscCall(RootSolve(ch, v, y));
    PetscCall(PetscArraycpy(v, y, ch->L->n));
    PetscCall(PetscFree(y));
    PetscCall(VecRestoreArray(ch->root, &v));
  }
  PetscCall(VecScatterBegin(ch->toroot, ch->root, x, INSERT_VALUES, SCATTER_REVERSE));
  PetscCall(VecScatterEnd(ch->toroot, ch->root, x, INSERT_VALUES, SCATTER_REVERSE));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FactorGetLogDeterminant_CHOLMOD(Factor f, PetscReal *logdet)
{
  PetscFunctionBeginUser;
  *logdet = ((Factor_CHOLMOD *)f->data)->logdet;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FactorView_CHOLMOD(Factor f, PetscViewer viewer)
{
  Factor_CHOLMOD *ch      = (Factor_CHOLMOD *)f->data;
  double          info[4] = {0, 0, 0, 0};

  PetscFunctionBeginUser;
  if (f->rank == 0 && ch->L) {
    info[0] = (double)ch->L->n;
    info[1] = (double)ch->L->nsuper;
    info[2] = ch->cm.lnz;
    info[3] = ch->cm.fl;
  }
  PetscCallMPI(MPI_Bcast(info, 4, MPI_DOUBLE, 0, f->comm));
  PetscCall(PetscViewerASCIIPrintf(viewer, "CHOLMOD supernodal LL' on rank 0: %.0f equations, %.0f supernodes, %.4g entries in L, %.4g flops\n", info[0],
                                   info[1], info[2], info[3]));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode FactorDestroy_CHOLMOD(Factor f)
{
  Factor_CHOLMOD *ch = (Factor_CHOLMOD *)f->data;

  PetscFunctionBeginUser;
  if (ch->started) {
    cholmod_l_free_factor(&ch->L, &ch->cm);
    cholmod_l_free_sparse(&ch->A, &ch->cm);
    cholmod_l_finish(&ch->cm);
  }
  PetscCall(PetscFree(ch->Z));
  PetscCall(PetscFree2(ch->colsuper, ch->pinv));
  PetscCall(MatDestroy(&ch->C0));
  PetscCall(VecScatterDestroy(&ch->toroot));
  PetscCall(VecDestroy(&ch->root));
  PetscCall(PetscFree(f->data));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode FactorCreate_CHOLMOD(Factor f)
{
  Factor_CHOLMOD *ch;

  PetscFunctionBeginUser;
  if (!FACTOR_Cholmod) {
    PetscCall(PetscLogEventRegister("FactorCholmod", MAT_CLASSID, &FACTOR_Cholmod));
    PetscCall(PetscLogEventRegister("FactorSelInverse", MAT_CLASSID, &FACTOR_SelectedInverse));
  }
  PetscCall(PetscNew(&ch));
  PetscCall(NodeCores(f, ch));
  PetscOptionsBegin(f->comm, NULL, "CHOLMOD factor", "Factor");
  PetscCall(PetscOptionsInt("-factor_root_threads", "cholmod: OpenBLAS threads of rank 0 while it factors and inverts alone (default: the ranks on its node)",
                            "FactorCreate_CHOLMOD", ch->threads, &ch->threads, NULL));
  PetscOptionsEnd();
  if (f->rank == 0) {
    cholmod_l_start(&ch->cm);
    ch->cm.print = 0; /* its failures come back as PETSc errors, a singular C as a MUMPS factor */
    ch->started  = PETSC_TRUE;
  }
  f->data        = ch;
  f->type        = FACTORCHOLMOD;
  f->ops.setup   = FactorSetUp_CHOLMOD;
  f->ops.logdet  = FactorGetLogDeterminant_CHOLMOD;
  f->ops.solve   = FactorSolve_CHOLMOD;
  f->ops.inverse = FactorGetInverseEntries_CHOLMOD;
  f->ops.view    = FactorView_CHOLMOD;
  f->ops.destroy = FactorDestroy_CHOLMOD;
  PetscFunctionReturn(PETSC_SUCCESS);
}
#else
PetscErrorCode FactorCreate_CHOLMOD(Factor f)
{
  PetscFunctionBeginUser;
  SETERRQ(f->comm, PETSC_ERR_SUP, "henderson was built without CHOLMOD (SuiteSparse): -factor_type cholmod needs it; take -factor_type mumps");
}
#endif
