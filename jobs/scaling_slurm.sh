#!/bin/bash
# Strong and weak scaling from 1 rank to the whole allocation as one Slurm job (benchmarks/scaling.sh),
# submitted from the top of the repository (after the build):
#   sbatch jobs/scaling_slurm.sh [strong animals] [weak animals per rank] [simulator flags]
#   sbatch --nodes=128 jobs/scaling_slurm.sh 100000000 20000        (more nodes, a larger population)
#   sbatch jobs/scaling_slurm.sh 10000000 20000 "--traits 2 --maternal"
# Rank counts: 1, 2, 4, ... within a node, then 1, 2, 4, ... 64 whole nodes (and the whole allocation).
# Defaults: 10^7 animals for strong scaling (1.2 million equations a rank at 1 rank, 5,800 at 2,048);
# 20,000 animals a rank for weak scaling (4 x 10^7 animals at 2,048 ranks: rank 0 needs about 150
# bytes an animal for the pedigree, 6 GB, see README "Memory").
# To adapt: --ntasks-per-node to the cores of a node (one rank a core; the solve is bound by memory
# bandwidth, so fewer ranks a node can be as fast), --partition/--account as your site needs, --time
# (1 rank at 10^7 animals takes about a minute, each point twice with REPEAT=2). Environment read:
# HENDERSON_BUILD (the build directory, ./build), BENCH_WORK (a shared scratch directory for the
# simulated populations, every node reads the data file; default ./bench-work), RESULTS (the table,
# benchmarks/SCALING.md), OPTIONS (PETSc options, e.g. "-pc_type hypre"), REPEAT (2).
#SBATCH --job-name=henderson-scaling
#SBATCH --nodes=64
#SBATCH --ntasks-per-node=32
#SBATCH --exclusive
#SBATCH --time=06:00:00
#SBATCH --output=henderson-scaling-%j.log
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
strong=${1:-10000000}
weak=${2:-20000}
flags=${3:-}
ppn=${SLURM_NTASKS_PER_NODE:-32}
ppn=${ppn%%(*} # "32(x64)" in some Slurm versions
nodes=${SLURM_JOB_NUM_NODES:-1}
ranks=""
for ((p = 1; p < ppn; p *= 2)); do ranks="$ranks $p"; done
for ((n = 1; n <= nodes; n *= 2)); do ranks="$ranks $((n * ppn))"; done
((n / 2 == nodes)) || ranks="$ranks $((nodes * ppn))"
export RANKS_PER_NODE=$ppn
# One job step per run, packed on the first nodes; --cpu-bind=cores pins one rank a core.
launch='srun --nodes={nodes} --ntasks={ranks} --ntasks-per-node={ppn} --cpu-bind=cores' # (a default in ${LAUNCH:-...} would end at the first })
export LAUNCH=${LAUNCH:-$launch}
export BENCH_WORK=${BENCH_WORK:-$PWD/bench-work}
export REPEAT=${REPEAT:-2}
build=${HENDERSON_BUILD:-./build}
results=${RESULTS:-benchmarks/SCALING.md}
echo "henderson scaling: ranks$ranks; strong $strong animals, weak $weak animals a rank; results in $results"
sh benchmarks/scaling.sh "$build" strong "$ranks" "$strong" "$weak" "$flags" "$results"
sh benchmarks/scaling.sh "$build" weak "$ranks" "$strong" "$weak" "$flags" "$results"
