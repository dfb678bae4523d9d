/* henderson-stream: the STREAM triad a[i] = b[i] + q*c[i] on every MPI rank at once, each rank
   with its own arrays, to measure the sustainable memory bandwidth of the machine at the same
   rank count as a solver run.  A sparse iterative solve is bound by that bandwidth, so this is
   the yardstick for its speed-up with ranks.

   usage: mpirun -n P henderson-stream [--mb M] [--repeat R]
     --mb M      MiB per array per rank (default 256: 768 MiB a rank, far beyond any cache)
     --repeat R  timed repetitions (default 10); the best one is reported */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double Q = 3.0;

/* Prints on rank 0 and ends every rank: every rank parses the same arguments and fails alike. */
static void Fail(int rank, const char *message, const char *argument)
{
  if (rank == 0) fprintf(stderr, "henderson-stream: %s%s\nusage: mpirun -n P henderson-stream [--mb M] [--repeat R]\n", message, argument);
  MPI_Finalize();
  exit(EXIT_FAILURE);
}

/* 1 .. 2^20 (an array of 1 TiB is beyond any machine this runs on, and keeps MiB -> bytes from overflowing) */
static long ParsePositive(int rank, const char *text)
{
  char *end;
  long  v = strtol(text, &end, 10);
  if (end == text || *end || v <= 0 || v > (1L << 20)) Fail(rank, "needs an integer in [1, 1048576], not ", text);
  return v;
}

/* Kept out of line so the timed loop is the same machine code every time, and cannot be merged
   with the checks around it. */
static void __attribute__((noinline)) Triad(double *restrict a, const double *restrict b, const double *restrict c, double q, size_t n)
{
  for (size_t i = 0; i < n; i++) a[i] = b[i] + q * c[i];
}

int main(int argc, char **argv)
{
  int     rank, size, ok, all_ok;
  long    mb = 256, repeat = 10;
  size_t  n, bytes;
  double *a, *b, *c, best = INFINITY, sum = 0, expected;

  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) Fail(rank, "missing value or unknown option: ", argv[i]);
    if (!strcmp(argv[i], "--mb"))
      mb = ParsePositive(rank, argv[++i]);
    else if (!strcmp(argv[i], "--repeat"))
      repeat = ParsePositive(rank, argv[++i]);
    else
      Fail(rank, "unknown option ", argv[i]);
  }
  bytes = (size_t)mb << 20;
  n     = bytes / sizeof(double);

  /* 64-byte aligned (a cache line; bytes is a multiple of it) */
  a  = aligned_alloc(64, bytes);
  b  = aligned_alloc(64, bytes);
  c  = aligned_alloc(64, bytes);
  ok = a && b && c;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  if (!all_ok) Fail(rank, "out of memory for the arrays", "");

  /* first touch by the rank that uses the pages, so they sit on its NUMA node */
  for (size_t i = 0; i < n; i++) {
    a[i] = 0;
    b[i] = 1;
    c[i] = 2;
  }
  Triad(a, b, c, Q, n); /* warm-up: page tables, TLB, frequency */

  for (long r = 0; r < repeat; r++) {
    double t0, t, slowest;
    MPI_Barrier(MPI_COMM_WORLD); /* all ranks start together, so they compete for memory */
    t0 = MPI_Wtime();
    Triad(a, b, c, Q, n);
    t = MPI_Wtime() - t0;
    /* a repetition lasts as long as its slowest rank */
    MPI_Allreduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (slowest < best) best = slowest;
  }

  /* every a[i] must be 1 + Q*2: reading them all also keeps the stores observable */
  for (size_t i = 0; i < n; i++) sum += a[i];
  expected = (double)n * (1 + 2 * Q);
  ok       = fabs(sum - expected) <= 1e-12 * expected;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  if (!all_ok) Fail(rank, "checksum mismatch: the triad computed wrong results", "");

  if (rank == 0) {
    /* STREAM convention: 24 bytes per element (read b, read c, write a), 10^9 bytes per GB */
    double gbs = 24.0 * (double)n * size / best / 1e9;
    printf("stream triad: ranks %d, %ld MiB per array per rank, best %.2f GB/s aggregate (%.2f GB/s per rank), best time %.4f s of %ld\n", size, mb, gbs,
           gbs / size, best, repeat);
    printf("STREAM_TRIAD_GBS=%.2f\n", gbs);
  }
  free(a);
  free(b);
  free(c);
  MPI_Finalize();
  return EXIT_SUCCESS;
}
