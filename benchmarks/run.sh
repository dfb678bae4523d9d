#!/bin/sh
# Benchmarks of henderson on simulated populations, measured against the machine's memory bandwidth.
#
#   sh benchmarks/run.sh [build-dir] [sizes] [ranks] [simulator flags] [results file]
#     e.g.  sh benchmarks/run.sh build "100000 1000000" "1 2" "--traits 2 --maternal"
#
# For each size a population is simulated (henderson-simulate, shuffled pedigree) and solved at each
# rank count with -log_view. Beside each rank count the STREAM triad runs with the same ranks.
# The bytes a conjugate-gradient iteration must move are counted from the matrix and vector sizes:
#   MatMult (AIJ): 12 bytes a nonzero (value + column index) + 20 bytes a row (row pointer, x, y)
#   vectors: 2 VecTDot (16n each), 1 VecNorm (8n), 2 VecAXPY + 1 VecAYPX + 1 Jacobi apply (24n each)
#            = 136 bytes a row (point-block Jacobi reads its small blocks too: not counted)
# and divided by the measured seconds per iteration. Results go to benchmarks/RESULTS.md (the table)
# and benchmarks/logs/ (every run's summary and -log_view).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
sizes=${2:-"100000 1000000 4000000"}
ranks=${3:-"1 2"}
flags=${4:-}
tag=$(echo "$flags" | tr -d ' -')
work=${BENCH_WORK:-/tmp/henderson-bench}
logs=$here/logs
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$work" "$logs"

results=${5:-$here/RESULTS.md}
{
  echo "Produced by \`sh benchmarks/run.sh ... \"$flags\"\` on $(date -u +%Y-%m-%d), $(lscpu | sed -n 's/^Model name: *//p'),"
  echo "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(mpirun --version | head -1), PETSc $(pkg-config --modversion PETSc)."
  echo "Simulated populations (henderson-simulate --shuffle $flags: hys, sex fixed, age covariate, animal"
  echo "with pedigree, h2 = 0.3); CG with the default preconditioner, rtol 1e-8 on the true residual."
  echo
  echo "| animals | ranks | equations | nonzeros | iterations | read | pedigree | number | assemble | solve | write | total s | peak MiB/rank | ms/iteration | MB/iteration | GB/s | STREAM GB/s | % of STREAM | MatMult GB/s |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} >> "$results"

for p in $ranks; do
  mpirun -n "$p" "$build/benchmarks/henderson-stream" > "$logs/stream_$p.txt"
done

for n in $sizes; do
  dir=$work/sim_$n$tag
  if [ ! -f "$dir/model.txt" ]; then
    "$build/benchmarks/henderson-simulate" --animals "$n" --shuffle $flags --out "$dir" > "$logs/simulate_$n$tag.txt"
  fi
  for p in $ranks; do
    log=$logs/solve_${n}${tag}_$p.txt
    (cd "$dir" && mpirun -n "$p" "$build/henderson" solve model.txt -log_view) > "$log" 2>&1
    stream=$(sed -n 's/^STREAM_TRIAD_GBS=//p' "$logs/stream_$p.txt")
    awk -v n="$n" -v p="$p" -v stream="$stream" '
      /^  equations/ { eq = $2; sub(",", "", eq); nnz = $4; sub(":", "", nnz) }
      /^  solver/    { for (i = 1; i <= NF; i++) if ($i == "iterations,") it = $(i - 1) }
      /^  seconds/   { for (i = 2; i < NF; i += 2) t[$i] = $(i + 1); total = $NF }
      /^  memory/    { mem = $3 }
      /^KSPSolve /   { ksp = $4 }
      /^MatMult /    { mm = $4; mmcount = $2 }
      END {
        bytes = 12 * nnz + 156 * eq
        mmbytes = 12 * nnz + 20 * eq
        sper = ksp / it
        gbs = bytes / sper / 1e9
        printf "| %d | %d | %d | %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %.1f | %.0f | %.1f | %.1f | %.0f%% | %.1f |\n",
          n, p, eq, nnz, it, t["read"], t["pedigree"], t["number"], t["assemble"], t["solve"], t["write"], total, mem,
          1e3 * sper, bytes / 1e6, gbs, stream, 100 * gbs / stream, mmbytes / (mm / mmcount) / 1e9
      }' "$log" >> "$results"
  done
done
echo >> "$results"
