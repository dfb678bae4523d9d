#!/bin/sh
# Communication of one product with C against the rank count, for one simulated population: the
# ghost values (other ranks' equations a rank needs), neighbours and messages that henderson
# records in /solver of its output, for the data operator (iteration on data) and the assembled
# matrix. Only counts matter, not times: the runs stop after MAX_IT iterations and may be
# oversubscribed (64 ranks on a laptop are fine; memory is about 45 MiB a rank at 10^5 animals).
#
#   sh benchmarks/communication.sh [build-dir] [animals] [ranks] [simulator flags] [results file] [csv file]
#     e.g.  sh benchmarks/communication.sh build 100000 "2 4 8 16 32 64"
#   defaults: build, 100000, "2 4 8 16 32 64", "" (single trait), benchmarks/RESULTS.md,
#             benchmarks/logs/communication_<animals><flags>.csv
#
# Environment: OPERATORS [data assembled], MAX_IT [2], TIMEOUT seconds a run [1800],
#              LAUNCH launcher template [mpirun -n {ranks}], EXTRA more options, BENCH_WORK.
#
# Columns: owned = equations / ranks (the mean a rank owns); ghosts = values of other ranks'
# equations one product needs, summed over ranks; ghosts / equations; ghosts_max = the most one rank
# needs, and ghosts_max / owned; neighbours_max = the most ranks one rank exchanges with; messages =
# messages one product sends, all ranks (data: the ghost values out and the partial sums back;
# assembled: MatMult's scatter of x, one way). The CSV has the same columns for benchmarks/plots.py.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_setup "${1:-$here/../build}"
bench_need_h5dump
n=${2:-100000}
ranks=${3:-2 4 8 16 32 64}
flags=${4:-}
results=${5:-$here/RESULTS.md}
tag=$(bench_tag "$flags")
csv=${6:-$logs/communication_$n$tag.csv}
operators=${OPERATORS:-data assembled}
max_it=${MAX_IT:-2}
limit=${TIMEOUT:-1800}
launch=${LAUNCH:-$bench_default_launch}
extra=${EXTRA:-}

dir=$(bench_simulate "$n" "$flags")
echo "animals,ranks,operator,equations,owned_per_rank,ghosts,ghosts_per_equation,ghosts_max,ghosts_max_per_owned,neighbours_max,messages,operator_bytes" > "$csv"
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
missing=
for op in $operators; do
  for p in $ranks; do
    echo "communication: $n animals, $p ranks, $op" >&2
    model=$(bench_model "$dir" "comm_$p")
    out=$dir/comm_$p.h5
    log=$logs/comm_$n${tag}_${p}_$op.txt
    rm -f "$out"
    rc=0
    # shellcheck disable=SC2046,SC2086 # the launcher and the options are words
    (cd "$dir" && bench_timeout "$limit" $(bench_launch "$launch" "$p") "$henderson" solve "$(basename "$model")" \
      -mme_operator "$op" -ksp_max_it "$max_it" $extra) > "$log" 2>&1 || rc=$?
    attrs=$(bench_attrs "$out" /solver)
    printf '\n# /solver attributes (exit status %s)\n%s\n' "$rc" "$attrs" >> "$log"
    rm -f "$out" "$model"
    # exit status 2 (not converged) is expected after MAX_IT iterations
    if [ -z "$attrs" ]; then
      echo "communication: no output at $p ranks ($op, exit status $rc): see $log" >&2
      echo "| $p | $op | run failed (exit status $rc) | | | | | | | | |" >> "$rows"
      continue
    fi
    ghosts=$(bench_attr "$attrs" ghosts)
    if [ -z "$ghosts" ]; then
      missing="$missing $op"
      ghosts=NA
    fi
    awk -F, -v OFS=, -v n="$n" -v p="$p" -v op="$op" -v eq="$(bench_attr "$attrs" equations)" -v g="$ghosts" \
      -v gmax="$(bench_attr "$attrs" ghosts_max)" -v nb="$(bench_attr "$attrs" neighbours_max)" \
      -v msg="$(bench_attr "$attrs" messages)" -v ob="$(bench_attr "$attrs" operator_bytes)" -v csv="$csv" 'BEGIN {
        owned = eq / p
        r = (g == "NA") ? "NA" : sprintf("%.4f", g / eq)
        rm = (gmax == "") ? "NA" : sprintf("%.4f", gmax / owned)
        print n, p, op, eq, sprintf("%.0f", owned), g, r, gmax, rm, nb, msg, ob >> csv
        printf "| %d | %s | %d | %.0f | %s | %s | %s | %s | %s | %s | %.2f |\n", p, op, eq, owned, g, r, gmax, rm, nb, msg, ob / p / 1048576
      }' >> "$rows"
  done
done

{
  echo "### Communication of one product with C ($n animals, henderson-simulate --shuffle $flags)"
  echo
  bench_header /dev/stdout "sh benchmarks/communication.sh ... $n \"$ranks\" \"$flags\""
  echo "Counts from /solver of the output (MAX_IT=$max_it iterations, oversubscribed where ranks > cores);"
  echo "owned = equations / ranks; CSV: \`$(basename "$csv")\`."
  [ -z "$missing" ] || echo "The output has no ghost counts for:$missing (left NA)."
  echo
  echo "| ranks | operator | equations | owned/rank | ghosts (all ranks) | ghosts / equations | ghosts_max | ghosts_max / owned | neighbours_max | messages/product | operator MiB/rank |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  cat "$rows"
  echo
} >> "$results"
