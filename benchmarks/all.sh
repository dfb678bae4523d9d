#!/bin/sh
# All benchmarks of one machine, from scratch, into benchmarks/RESULTS.md and benchmarks/plots/:
#   1. run.sh         single-trait animal model and a two-trait maternal model: phase times, bandwidth
#   2. preconditioners.sh  point-block against plain Jacobi on the worked examples
#   3. compare_pc.sh  Jacobi, point-block Jacobi, ICC, BoomerAMG, GAMG, subdomain deflation
#   4. communication.sh    ghosts, neighbours and messages of one product against the rank count
#   5. pev.sh         exact and sampled PEV, AI-REML against size (PEV_SKIP=1 leaves it out: 35 min)
#   6. social.sh      social genetic effects against the plain animal model on one population (SOCIAL_SKIP=1)
#   6b. pev_approximate.sh  approximate reliabilities against exact and sampled ones, their cost (APPROX_SKIP=1)
#   6c. reml_monte_carlo.sh Monte Carlo AI-REML against exact AI-REML and at 10^5-10^6 animals (MCREML_SKIP=1)
#   7. plots.py       PNGs of the logs (phases, residual histories, ghost ratios, and scaling from
#                     scaling.sh's CSV when a cluster run left one in the logs)
# Scaling over nodes is a cluster job: jobs/scaling_slurm.sh, jobs/scaling_pbs.sh (benchmarks/scaling.sh).
#
#   sh benchmarks/all.sh [build-dir]
#   QUICK=1 sh benchmarks/all.sh          (10^4-10^5 animals, a few minutes; writes under $BENCH_WORK,
#                                          not into the repository, unless RESULTS/BENCH_LOGS/PLOTS say so)
#   SIZES="1000000 10000000" PC_SIZES=1000000 sh benchmarks/all.sh
#
# Environment (defaults; QUICK=1 defaults in brackets):
#   SIZES           single-trait sizes for run.sh           100000 1000000 10000000  [10000 100000]
#   MULTI_SIZES     two-trait maternal sizes for run.sh     100000 1000000           [10000]
#   RANKS           ranks for run.sh                        1 2                      [1 2]
#   PC_SIZES        single-trait sizes for compare_pc.sh    1000000 10000000         [10000]
#   PC_MULTI_SIZES  two-trait maternal sizes, compare_pc.sh 1000000                  [10000]
#   PC_RANKS        ranks for compare_pc.sh                 2                        [2]
#   COMM_ANIMALS    population of communication.sh          100000                   [10000]
#   COMM_RANKS      its rank counts                         2 4 8 16 32 64           [2 4 8 16]
#   RESULTS         the results file                        benchmarks/RESULTS.md    [$BENCH_WORK/RESULTS-quick.md]
#   BENCH_LOGS      the logs                                benchmarks/logs          [$BENCH_WORK/logs-quick]
#   PLOTS           the PNGs                                benchmarks/plots         [$BENCH_WORK/plots-quick]
#   BENCH_WORK      the simulated populations               /tmp/henderson-bench (10^7 animals: 0.6 GB)
#   KEEP_LOGS=1     keep earlier logs (by default the logs of these scripts are removed first, so that
#                   the plots show this run only; scaling CSVs are always kept)
# compare_pc.sh's own variables (MAX_IT, TIMEOUT, DEFLATION_LEVELS, ...) pass through.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
work=${BENCH_WORK:-/tmp/henderson-bench}
export BENCH_WORK="$work"
if [ "${QUICK:-0}" = 1 ]; then
  sizes=${SIZES:-10000 100000}
  multi_sizes=${MULTI_SIZES:-10000}
  pc_sizes=${PC_SIZES:-10000}
  pc_multi_sizes=${PC_MULTI_SIZES:-10000}
  comm_animals=${COMM_ANIMALS:-10000}
  comm_ranks=${COMM_RANKS:-2 4 8 16}
  results=${RESULTS:-$work/RESULTS-quick.md}
  export BENCH_LOGS="${BENCH_LOGS:-$work/logs-quick}"
  plots=${PLOTS:-$work/plots-quick}
  export STREAM_ARGS="${STREAM_ARGS:---mb 64 --repeat 3}"
else
  sizes=${SIZES:-100000 1000000 10000000}
  multi_sizes=${MULTI_SIZES:-100000 1000000}
  pc_sizes=${PC_SIZES:-1000000 10000000}
  pc_multi_sizes=${PC_MULTI_SIZES:-1000000}
  comm_animals=${COMM_ANIMALS:-100000}
  comm_ranks=${COMM_RANKS:-2 4 8 16 32 64}
  results=${RESULTS:-$here/RESULTS.md}
  export BENCH_LOGS="${BENCH_LOGS:-$here/logs}"
  plots=${PLOTS:-$here/plots}
fi
ranks=${RANKS:-1 2}
pc_ranks=${PC_RANKS:-2}
mkdir -p "$work" "$BENCH_LOGS" "$(dirname "$results")"
results=$(cd "$(dirname "$results")" && pwd)/$(basename "$results")

if [ "${KEEP_LOGS:-0}" != 1 ]; then
  for f in "$BENCH_LOGS"/solve_* "$BENCH_LOGS"/stream_* "$BENCH_LOGS"/pc_* "$BENCH_LOGS"/history_* \
    "$BENCH_LOGS"/comm_* "$BENCH_LOGS"/communication_*; do
    [ -e "$f" ] && rm -f "$f"
  done
fi

{
  echo "# Benchmark results"
  echo
  echo "## Single-trait animal model"
  echo
} > "$results"
sh "$here/run.sh" "$build" "$sizes" "$ranks" "" "$results"
{
  echo "## Two traits (20 % of second-trait values missing), direct and maternal genetic effects, maternal permanent environment"
  echo
} >> "$results"
sh "$here/run.sh" "$build" "$multi_sizes" "$ranks" "--traits 2 --maternal" "$results"
{
  echo "Columns read ... write are wall seconds of the phases (max over ranks); GB/s is the counted bytes of a CG"
  echo "iteration divided by KSPSolve seconds per iteration; C x GB/s the same for the product with C alone"
  echo "(MatMult). operator: data = iteration on data (C applied from the records and pedigree), assembled = AIJ."
  echo
  echo "## Point-block against plain Jacobi (iterations to rtol 1e-10)"
  echo
  small=$(echo "$multi_sizes" | awk '{print $1}')
  sh "$here/preconditioners.sh" "$build" "$work/sim_${small}traits2maternal/model.txt"
  echo
  echo "## Preconditioners (compare_pc.sh)"
  echo
} >> "$results"
sh "$here/compare_pc.sh" "$build" "$pc_sizes" "$pc_ranks" "" "$results"
# several equations a level: the deflated system preconditioned by point-block Jacobi too
[ -z "$pc_multi_sizes" ] || DEFLATION_PC=${DEFLATION_PC:-jacobi vpbjacobi} \
  sh "$here/compare_pc.sh" "$build" "$pc_multi_sizes" "$pc_ranks" "--traits 2 --maternal" "$results"
{
  echo "## Communication (communication.sh)"
  echo
} >> "$results"
sh "$here/communication.sh" "$build" "$comm_animals" "$comm_ranks" "" "$results"
if [ "${PEV_SKIP:-0}" != 1 ]; then
  if [ "${QUICK:-0}" = 1 ]; then
    EXACT_SIZES=${EXACT_SIZES:-3000} COST_SIZES=${COST_SIZES:-100000} REML_SIZES=${REML_SIZES:-3000} sh "$here/pev.sh" "$build" >> "$results"
  else
    sh "$here/pev.sh" "$build" >> "$results"
  fi
  echo >> "$results"
fi

if [ "${SOCIAL_SKIP:-0}" != 1 ]; then
  {
    echo "## Social genetic effects (social.sh)"
    echo
    if [ "${QUICK:-0}" = 1 ]; then
      SOCIAL_SIZES=${SOCIAL_SIZES:-100000} sh "$here/social.sh" "$build"
    else
      sh "$here/social.sh" "$build"
    fi
    echo
  } >> "$results"
fi

if [ "${APPROX_SKIP:-0}" != 1 ]; then
  {
    echo "## Approximate reliabilities (pev_approximate.sh)"
    echo
    if [ "${QUICK:-0}" = 1 ]; then
      ACCURACY_SIZE=${ACCURACY_SIZE:-3000} SAMPLED_SIZE=${SAMPLED_SIZE:-100000} REFERENCE_SAMPLES=${REFERENCE_SAMPLES:-30} \
        COST_SIZES=${COST_SIZES:-100000} MATERNAL_SIZES=${MATERNAL_SIZES:-100000} sh "$here/pev_approximate.sh" "$build"
    else
      sh "$here/pev_approximate.sh" "$build"
    fi
    echo
  } >> "$results"
fi

if [ "${MCREML_SKIP:-0}" != 1 ]; then
  {
    echo "## Monte Carlo AI-REML (reml_monte_carlo.sh)"
    echo
    if [ "${QUICK:-0}" = 1 ]; then
      EXACT_SIZE=3000 MC_SIZES=30000 MATERNAL_SIZES=10000 sh "$here/reml_monte_carlo.sh" "$build"
    else
      sh "$here/reml_monte_carlo.sh" "$build"
    fi
    echo
  } >> "$results"
fi

python=
for candidate in /usr/bin/python3 python3; do
  if "$candidate" -c "import matplotlib" > /dev/null 2>&1; then
    python=$candidate
    break
  fi
done
{
  echo "## Plots"
  echo
  if [ -n "$python" ]; then
    "$python" "$here/plots.py" --logs "$BENCH_LOGS" --out "$plots" | while read -r png; do
      echo "* \`$(basename "$png")\`"
    done
    echo
    echo "(in \`$plots\`; \`/usr/bin/python3 benchmarks/plots.py --logs $BENCH_LOGS --out $plots\` redraws them)"
  else
    echo "matplotlib was not found: \`apt-get install -y python3-matplotlib\`, then \`/usr/bin/python3 benchmarks/plots.py\`."
    echo "all.sh: no python3 with matplotlib; plots skipped" >&2
  fi
} >> "$results"
cat "$results"
