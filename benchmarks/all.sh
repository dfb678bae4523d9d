#!/bin/sh
# All benchmarks, into benchmarks/RESULTS.md: single-trait scaling, a two-trait maternal model, and
# the iterations of point-block against plain Jacobi on the worked examples.   sh benchmarks/all.sh [build]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
results=$here/RESULTS.md
{
  echo "# Benchmark results"
  echo
  echo "## Single-trait animal model"
  echo
} > "$results"
sh "$here/run.sh" "$build" "100000 1000000 4000000" "1 2" "" "$results"
{
  echo "## Two traits (20 % of second-trait values missing), direct and maternal genetic effects, maternal permanent environment"
  echo
} >> "$results"
sh "$here/run.sh" "$build" "100000 1000000" "1 2" "--traits 2 --maternal" "$results"
{
  echo "Columns read ... write are wall seconds of the phases (max over ranks); GB/s is the counted bytes of a CG"
  echo "iteration divided by KSPSolve seconds per iteration; MatMult GB/s the same for MatMult alone."
  echo
  echo "## Point-block against plain Jacobi (iterations to rtol 1e-10)"
  echo
  sh "$here/preconditioners.sh" "$build" "$(ls -d /tmp/henderson-bench/sim_100000traits2maternal)/model.txt"
} >> "$results"
cat "$results"
