#!/bin/bash
# Single step at national scale on a cluster (benchmarks/genomic_factored.sh) as one PBS job, submitted
# from the top of the repository after the build:
#   qsub -F "ARGS" jobs/genomic_pbs.sh; ARGS: [animals] [genotyped] [snps] [apy core]
#   qsub -l select=8:ncpus=32:mpiprocs=32 -F "10000000 1000000 50000 10000" jobs/genomic_pbs.sh
# Rank counts: one node's ranks, then 2, 4, ... whole nodes. mpirun (Open MPI) takes the allocation from
# PBS. Memory: the genotypes are one byte a call over the ranks (10^6 x 50 000: 50 GB), G's and A22's
# core columns 16 x genotyped x core bytes over the ranks while they are made, P 8 x genotyped x core.
# Environment: HENDERSON_BUILD (./build), BENCH_WORK (a shared scratch directory, ./bench-work), RESULTS
# (benchmarks/RESULTS.md), MISSING (the fraction of missing calls, 0), QTL (SNPs that are QTL, 1000; 0 for neutral SNPs).
#PBS -N henderson-genomic
#PBS -l select=8:ncpus=32:mpiprocs=32
#PBS -l walltime=04:00:00
#PBS -j oe
set -euo pipefail
cd "${PBS_O_WORKDIR:-.}"
nodes=$(sort -u "${PBS_NODEFILE:-/dev/null}" | wc -l)
((nodes > 0)) || nodes=1
ppn=$(($(wc -l < "${PBS_NODEFILE:-/dev/null}") / nodes))
((ppn > 0)) || ppn=32
ranks=""
for ((n = 1; n <= nodes; n *= 2)); do ranks="$ranks $((n * ppn))"; done
export BENCH_WORK=${BENCH_WORK:-$PWD/bench-work}
exec sh benchmarks/genomic_factored.sh "${HENDERSON_BUILD:-build}" "${1:-10000000}" "${2:-1000000}" "${3:-50000}" "$ranks" "${4:-10000}" \
  "${MISSING:-0}" "${QTL:-1000}" "${RESULTS:-benchmarks/RESULTS.md}"
