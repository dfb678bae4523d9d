/* henderson-gemm: the rate of the BLAS dgemm that makes G, on every MPI rank at once, in the shape
   henderson uses it: C (m x n) = A (m x k) B' (B: n x k), m the genotyped animals of a rank, n all of
   them, k a block of SNPs (1024). The yardstick for the G phase of a genomic run: its flops
   (2 ng^2 SNPs) over its seconds, against this rate times the ranks.

   --precision single: sgemm, the factored route's G when no call is missing; --layout tn: C = A' B with
   A (k x m), B (k x n) -- how the factored route calls it (row chunks of 2048, the core's columns).

   usage: mpirun -n P henderson-gemm --m M --n N [--k K] [--repeat R] [--precision single|double] [--layout nt|tn]
          (the best of R, default 3) */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void sgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k, const float *alpha, const float *a, const int *lda,
                   const float *b, const int *ldb, const float *beta, float *c, const int *ldc);
extern void dgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k, const double *alpha, const double *a, const int *lda,
                   const double *b, const int *ldb, const double *beta, double *c, const int *ldc);

/* Prints on rank 0 and ends every rank: every rank parses the same arguments and fails alike. */
static void Fail(int rank, const char *message)
{
  if (rank == 0) fprintf(stderr, "henderson-gemm: %s\nusage: mpirun -n P henderson-gemm --m M --n N [--k K] [--repeat R] [--precision single|double] [--layout nt|tn]\n", message);
  MPI_Finalize();
  exit(EXIT_FAILURE);
}

static int Parse(int rank, const char *text)
{
  char *end;
  long  v = strtol(text, &end, 10);
  if (end == text || *end || v <= 0 || v > (1L << 24)) Fail(rank, "the sizes are integers in [1, 2^24]");
  return (int)v;
}

int main(int argc, char **argv)
{
  int     rank, size, m = 0, n = 0, k = 1024, repeat = 3, single = 0, tn = 0;
  double  best = 1e300, one = 1, zero = 0, *a, *b, *c;
  float   fone = 1, fzero = 0;
  size_t  sa, sb, sc;

  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) Fail(rank, "an option without its value");
    if (!strcmp(argv[i], "--m")) m = Parse(rank, argv[++i]);
    else if (!strcmp(argv[i], "--n")) n = Parse(rank, argv[++i]);
    else if (!strcmp(argv[i], "--k")) k = Parse(rank, argv[++i]);
    else if (!strcmp(argv[i], "--repeat")) repeat = Parse(rank, argv[++i]);
    else if (!strcmp(argv[i], "--precision")) {
      i++;
      if (strcmp(argv[i], "single") && strcmp(argv[i], "double")) Fail(rank, "--precision takes single or double");
      single = !strcmp(argv[i], "single");
    } else if (!strcmp(argv[i], "--layout")) {
      i++;
      if (strcmp(argv[i], "nt") && strcmp(argv[i], "tn")) Fail(rank, "--layout takes nt or tn");
      tn = !strcmp(argv[i], "tn");
    }
    else Fail(rank, "unknown option");
  }
  if (!m || !n) Fail(rank, "--m and --n are needed");
  sa = (size_t)m * (size_t)k, sb = (size_t)n * (size_t)k, sc = (size_t)m * (size_t)n;
  a = malloc(sa * sizeof(double)), b = malloc(sb * sizeof(double)), c = malloc(sc * sizeof(double));
  if (!a || !b || !c) Fail(rank, "out of memory");
  for (size_t i = 0; i < sa; i++) a[i] = (double)(i % 7) - 3;
  for (size_t i = 0; i < sb; i++) b[i] = (double)(i % 5) - 2;
  if (single) { /* the same buffers as floats (half of them used) */
    float *fa = (float *)a, *fb = (float *)b;
    for (size_t i = 0; i < sa; i++) fa[i] = (float)(i % 3);
    for (size_t i = 0; i < sb; i++) fb[i] = (float)(i % 3);
  }
  for (int r = 0; r < repeat; r++) {
    double t0, t;
    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    if (single && tn) sgemm_("T", "N", &m, &n, &k, &fone, (float *)a, &k, (float *)b, &k, &fzero, (float *)c, &m);
    else if (single) sgemm_("N", "T", &m, &n, &k, &fone, (float *)a, &m, (float *)b, &n, &fzero, (float *)c, &m);
    else if (tn) dgemm_("T", "N", &m, &n, &k, &one, a, &k, b, &k, &zero, c, &m);
    else dgemm_("N", "T", &m, &n, &k, &one, a, &m, b, &n, &zero, c, &m);
    t = MPI_Wtime() - t0;
    MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (t < best) best = t;
  }
  if (rank == 0)
    printf("%s %d x %d x %d on each of %d ranks: %.3f s, %.1f GFlop/s a rank, %.1f GFlop/s in all\n", single ? "sgemm" : "dgemm", m, n, k, size, best, 2.0 * m * n * k / best / 1e9,
           2.0 * m * n * k * size / best / 1e9);
  free(a), free(b), free(c);
  MPI_Finalize();
  return 0;
}
