#!/bin/bash
# Single step at national scale on a cluster (benchmarks/genomic_factored.sh) as one Slurm job, submitted
# from the top of the repository after the build:
#   sbatch jobs/genomic_slurm.sh [animals] [genotyped] [snps] [apy core]
#   sbatch --nodes=8 jobs/genomic_slurm.sh 10000000 1000000 50000 10000
# Rank counts: one node's ranks, then 2, 4, ... whole nodes. mpirun (Open MPI) takes the allocation from
# Slurm. Memory: the genotypes are one byte a call over the ranks (10^6 x 50 000: 50 GB), G's and A22's
# core columns 16 x genotyped x core bytes over the ranks while they are made, P 8 x genotyped x core.
# Environment: HENDERSON_BUILD (./build), BENCH_WORK (a shared scratch directory, ./bench-work), RESULTS
# (benchmarks/RESULTS.md), MISSING (the fraction of missing calls, 0), QTL (SNPs that are QTL, 1000; 0 for neutral SNPs).
#SBATCH --job-name=henderson-genomic
#SBATCH --nodes=8
#SBATCH --ntasks-per-node=32
#SBATCH --exclusive
#SBATCH --time=04:00:00
#SBATCH --output=henderson-genomic-%j.log
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
ppn=${SLURM_NTASKS_PER_NODE:-32}
ppn=${ppn%%(*}
nodes=${SLURM_JOB_NUM_NODES:-1}
ranks=""
for ((n = 1; n <= nodes; n *= 2)); do ranks="$ranks $((n * ppn))"; done
export BENCH_WORK=${BENCH_WORK:-$PWD/bench-work}
exec sh benchmarks/genomic_factored.sh "${HENDERSON_BUILD:-build}" "${1:-10000000}" "${2:-1000000}" "${3:-50000}" "$ranks" "${4:-10000}" \
  "${MISSING:-0}" "${QTL:-1000}" "${RESULTS:-benchmarks/RESULTS.md}"
