#!/bin/bash
# The scaling job of jobs/scaling_slurm.sh under PBS Pro/Torque, submitted from the top of the repository:
#   qsub jobs/scaling_pbs.sh
#   qsub -v STRONG=100000000,WEAK=20000 jobs/scaling_pbs.sh
#   qsub -l select=128:ncpus=32:mpiprocs=32 jobs/scaling_pbs.sh          (more nodes)
# Rank counts: 1, 2, 4, ... within a node, then 1, 2, 4, ... 64 whole nodes (and the whole allocation).
# Defaults: 10^7 animals for strong scaling, 20,000 animals a rank for weak scaling (see jobs/scaling_slurm.sh).
# To adapt: ncpus/mpiprocs to the cores of a node; walltime; -q/-A as your site needs. The launcher
# is Open MPI's mpirun, which takes the hosts from PBS and fills the first nodes; with MPICH or Intel
# MPI set LAUNCH="mpiexec -n {ranks} -ppn {ppn}", with HPE MPT LAUNCH="mpiexec_mpt -n {ranks}".
# Variables (qsub -v): STRONG, WEAK, FLAGS (simulator flags, e.g. "--traits 2 --maternal"),
# HENDERSON_BUILD (./build), BENCH_WORK (shared scratch for the simulated populations, ./bench-work),
# RESULTS (benchmarks/SCALING.md), OPTIONS (PETSc options), REPEAT (2), LAUNCH.
#PBS -N henderson-scaling
#PBS -l select=64:ncpus=32:mpiprocs=32
#PBS -l place=scatter:excl
#PBS -l walltime=06:00:00
#PBS -j oe
set -euo pipefail
cd "${PBS_O_WORKDIR:-.}"
strong=${STRONG:-10000000}
weak=${WEAK:-20000}
flags=${FLAGS:-}
if [ -n "${PBS_NODEFILE:-}" ] && [ -f "$PBS_NODEFILE" ]; then
  nodes=$(sort -u "$PBS_NODEFILE" | wc -l)
  ppn=$(($(wc -l < "$PBS_NODEFILE") / nodes))
else
  nodes=1
  ppn=$(nproc)
fi
ranks=""
for ((p = 1; p < ppn; p *= 2)); do ranks="$ranks $p"; done
for ((n = 1; n <= nodes; n *= 2)); do ranks="$ranks $((n * ppn))"; done
((n / 2 == nodes)) || ranks="$ranks $((nodes * ppn))"
export RANKS_PER_NODE=$ppn
launch='mpirun -n {ranks} --map-by ppr:{ppn}:node --bind-to core' # (a default in ${LAUNCH:-...} would end at the first })
export LAUNCH=${LAUNCH:-$launch}
export BENCH_WORK=${BENCH_WORK:-$PWD/bench-work}
export REPEAT=${REPEAT:-2}
build=${HENDERSON_BUILD:-./build}
results=${RESULTS:-benchmarks/SCALING.md}
echo "henderson scaling: $nodes nodes x $ppn; ranks$ranks; strong $strong animals, weak $weak animals a rank; results in $results"
sh benchmarks/scaling.sh "$build" strong "$ranks" "$strong" "$weak" "$flags" "$results"
sh benchmarks/scaling.sh "$build" weak "$ranks" "$strong" "$weak" "$flags" "$results"
