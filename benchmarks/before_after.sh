#!/bin/sh
# Two builds of henderson on the same populations, in the same run, one after the other: did a change make
# an iteration slower or a run bigger?
#
#   sh benchmarks/before_after.sh OLD_BUILD NEW_BUILD [sizes] [ranks] [simulator flags] [results file]
#     e.g.  sh benchmarks/before_after.sh /tmp/old/build build "1000000 10000000" "1 2"
#
# For each size a population is simulated once (henderson-simulate --shuffle, cached under BENCH_WORK) and
# solved by both builds at each rank count, the old build first, then the new, then the old again, so that a
# drift of the machine shows as a difference between the two old runs. A line per run: iterations, the
# seconds of a CG iteration (KSPSolve over iterations, from -log_view), of one product with C (MatMult),
# the total and the peak memory of the largest rank (henderson's summary). Environment: EXTRA (more options
# for every solve, e.g. "-mme_operator assembled"), BENCH_WORK, OLD_REV and NEW_REV (the commits, for the table).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
[ $# -ge 2 ] || bench_die "usage: sh benchmarks/before_after.sh OLD_BUILD NEW_BUILD [sizes] [ranks] [flags] [results]"
old=$(cd "$1" && pwd)/henderson
bench_setup "$2"
new=$henderson
[ -x "$old" ] || bench_die "$old is missing"
sizes=${3:-"1000000"}
ranks=${4:-"1 2"}
flags=${5:-}
results=${6:-$here/RESULTS.md}
extra=${EXTRA:-}
tag=$(bench_tag "$flags")

{
  bench_header /dev/stdout "sh benchmarks/before_after.sh OLD NEW \"$sizes\" \"$ranks\" \"$flags\""
  echo "Old build: $1, new build: $2 (OLD_REV and NEW_REV say what they were: ${OLD_REV:-?} and ${NEW_REV:-?});"
  echo "populations of henderson-simulate --shuffle $flags; options ${extra:-none}. Runs in the order old, new, old."
  echo
  echo "| animals | ranks | build | operator | iterations | ms/iteration | ms/product | total s | peak MiB/rank |"
  echo "|---|---|---|---|---|---|---|---|---|"
} >> "$results"

for n in $sizes; do
  dir=$(bench_simulate "$n" "$flags")
  for p in $ranks; do
    for which in old new old; do
      exe=$old
      [ "$which" = new ] && exe=$new
      log=$logs/before_after_${n}${tag}_${p}_$which.txt
      model=$(bench_model "$dir" "ba_$which")
      rm -f "$dir/ba_$which.h5"
      # shellcheck disable=SC2086 # the extra options are words
      (cd "$dir" && mpirun -n "$p" "$exe" solve "$(basename "$model")" -log_view $extra) > "$log" 2>&1 || [ $? -eq 2 ] ||
        bench_die "$which build failed at $n animals, $p ranks: see $log"
      rm -f "$dir/ba_$which.h5" "$model"
      awk -v n="$n" -v p="$p" -v which="$which" '
        /^  solver/    { for (i = 1; i <= NF; i++) if ($i == "iterations,") it = $(i - 1) }
        /^  operator/  { op = $2; sub(",", "", op) }
        /^  equations/ { if (op == "") op = ($3 == "nonzeros") ? "assembled" : "data" }
        /^  seconds/   { total = $NF }
        /^  memory/    { mem = $3 }
        /^KSPSolve /   { ksp = $4 }
        /^MatMult /    { mm = $4; mmcount = $2 }
        END { printf "| %d | %d | %s | %s | %d | %.2f | %.2f | %.2f | %.0f |\n", n, p, which, op, it, 1e3 * ksp / it, 1e3 * mm / mmcount, total, mem }' "$log" >> "$results"
    done
  done
done
echo >> "$results"
