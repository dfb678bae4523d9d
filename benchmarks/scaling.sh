#!/bin/sh
# Strong and weak scaling of henderson on a cluster (or one machine): simulated populations solved
# at a list of rank counts, phase times, speed-up and parallel efficiency.
#
#   sh benchmarks/scaling.sh [build-dir] [strong|weak|both] [ranks] [strong animals] [weak animals per rank]
#                            [simulator flags] [results file]
#     e.g.  sh benchmarks/scaling.sh build both "1 2 4 8 16 32 64" 10000000 100000
#           LAUNCH="srun -N {nodes} -n {ranks}" RANKS_PER_NODE=32 \
#             sh benchmarks/scaling.sh build strong "32 64 128 256 512 1024 2048" 100000000
#   defaults: build, both, "1 2 4 8 16 32 64", 1000000, 50000, "" (single trait), benchmarks/RESULTS.md
#
# strong: one population of the given size at every rank count; speed-up and efficiency against the
#         first (smallest) rank count: speed-up = T(p0) / T(p), efficiency = speed-up * p0 / p.
# weak:   (animals per rank) x ranks animals at every rank count; efficiency = T(p0) / T(p).
# Both for the whole run (total seconds) and for the solve per iteration (the iteration count
# changes a little with the population size).
#
# Environment (defaults in brackets):
#   LAUNCH          launcher template [mpirun -n {ranks}]; {ranks}, {nodes}, {ppn} (ranks a node) are
#                   replaced: "srun -N {nodes} -n {ranks}", "mpiexec -n {ranks} -ppn {ppn}",
#                   "mpirun -n {ranks} --map-by ppr:{ppn}:node"
#   RANKS_PER_NODE  ranks a node, for {nodes} and {ppn} [nproc of this machine]
#   OPTIONS         PETSc options for every run, e.g. "-pc_type hypre" [none: the default solver]
#   REPEAT          runs per point, the fastest (total seconds) kept [1]
#   TIMEOUT         seconds a run, 0 for none [7200]
#   BENCH_WORK      where the populations are simulated [/tmp/henderson-bench]: on a cluster a shared
#                   file system every node sees (each rank reads its part of the data file), with room
#                   for about 60 bytes an animal (10^8 animals: 6 GB)
# The simulator runs on the node that runs this script (serial, about 35 bytes an animal, seconds a
# 10^7 animals); rank 0 processes the pedigree: it needs about 150 bytes an animal (see README, Memory).
#
# Output: a Markdown table per mode appended to the results file; benchmarks/logs/scaling_<mode>_<animals>
# <flags>_<ranks>.txt (summary, -log_view, /solver attributes when h5dump is there) and
# benchmarks/logs/scaling<flags>.csv (one line a run, for benchmarks/plots.py).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_setup "${1:-$here/../build}"
mode=${2:-both}
ranks=${3:-1 2 4 8 16 32 64}
strong_n=${4:-1000000}
weak_n=${5:-50000}
flags=${6:-}
results=${7:-$here/RESULTS.md}
tag=$(bench_tag "$flags")
launch=${LAUNCH:-$bench_default_launch}
rpn=${RANKS_PER_NODE:-$(nproc 2> /dev/null || echo 1)}
options=${OPTIONS:-}
repeat=${REPEAT:-1}
limit=${TIMEOUT:-7200}
csv=$logs/scaling$tag.csv
case $mode in
  strong) modes=strong ;;
  weak) modes=weak ;;
  both) modes="strong weak" ;;
  *) bench_die "mode must be strong, weak or both, not '$mode'" ;;
esac
have_h5=0
command -v h5dump > /dev/null 2>&1 && have_h5=1
[ -f "$csv" ] || echo "mode,animals,ranks,nodes,equations,iterations,read,pedigree,number,assemble,solve,write,total,peak_mib,ghosts,ghosts_max,converged,date" > "$csv"

for m in $modes; do
  rows=$(mktemp)
  for p in $ranks; do
    if [ "$m" = strong ]; then n=$strong_n; else n=$((weak_n * p)); fi
    nodes=$(((p + rpn - 1) / rpn))
    ppn=$(((p + nodes - 1) / nodes))
    dir=$(bench_simulate "$n" "$flags")
    model=$(bench_model "$dir" "scaling_$p")
    out=$dir/scaling_$p.h5
    log=$logs/scaling_${m}_$n${tag}_$p.txt
    best=
    r=1
    while [ "$r" -le "$repeat" ]; do
      echo "scaling: $m, $n animals, $p ranks on $nodes nodes (run $r of $repeat)" >&2
      rm -f "$out"
      rc=0
      # shellcheck disable=SC2046,SC2086 # the launcher and the options are words
      (cd "$dir" && bench_timeout "$limit" $(bench_launch "$launch" "$p" "$nodes" "$ppn") "$henderson" solve "$(basename "$model")" \
        -log_view $options) > "$log.run" 2>&1 || rc=$?
      if [ "$have_h5" = 1 ]; then
        printf '\n# /solver attributes (exit status %s)\n' "$rc" >> "$log.run"
        bench_attrs "$out" /solver >> "$log.run"
      fi
      t=$(bench_summary "$log.run" total)
      if [ -z "$best" ] || { [ -n "$t" ] && awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; }; then
        best=${t:-}
        mv "$log.run" "$log"
      else
        rm -f "$log.run"
      fi
      r=$((r + 1))
    done
    rm -f "$out" "$model"
    attrs=$(sed -n '/^# \/solver attributes/,$p' "$log")
    if [ -z "$(bench_summary "$log" total)" ]; then
      echo "scaling: the run at $p ranks failed, see $log" >&2
    fi
    line="$m,$n,$p,$nodes,$(bench_summary "$log" equations),$(bench_summary "$log" iterations)"
    for k in read pedigree number assemble solve write total peak; do line="$line,$(bench_summary "$log" $k)"; done
    line="$line,$(bench_attr "$attrs" ghosts),$(bench_attr "$attrs" ghosts_max),$(bench_summary "$log" converged),$(date -u +%Y-%m-%dT%H:%M)"
    echo "$line" >> "$csv"
    echo "$line" >> "$rows"
  done

  {
    if [ "$m" = strong ]; then
      echo "### Strong scaling: $strong_n animals (henderson-simulate --shuffle $flags)"
    else
      echo "### Weak scaling: $weak_n animals a rank (henderson-simulate --shuffle $flags)"
    fi
    echo
    bench_header /dev/stdout "sh benchmarks/scaling.sh ... $m \"$ranks\" $strong_n $weak_n \"$flags\""
    echo "Launcher \`$launch\`, $rpn ranks a node; PETSc options: ${options:-(defaults)}; best of $repeat. Seconds are wall"
    echo "seconds of the phases (max over ranks); speed-up and efficiency against the first rank count ($(echo "$ranks" | awk '{print $1}'));"
    echo "\"/it\": solve seconds per iteration."
    echo
    echo "| animals | ranks | nodes | equations | iterations | read | pedigree | number | assemble | solve | write | total s | solve ms/it | speed-up | efficiency | speed-up /it | efficiency /it | peak MiB/rank | ghosts / equations |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    awk -F, -v mode="$m" '
      function f(x, d) { return (x == "") ? "" : sprintf("%." d "f", x) }
      {
        n = $2; p = $3; it = $6; total = $13; solve = $11
        perit = (it > 0 && solve != "") ? solve / it : ""
        if (NR == 1) { p0 = p; t0 = total; s0 = perit }
        su = ef = sui = efi = ""
        if (total != "" && t0 != "") {
          if (mode == "strong") { su = f(t0 / total, 2); ef = f(100 * t0 * p0 / (total * p), 0) "%" }
          else ef = f(100 * t0 / total, 0) "%"
        }
        if (perit != "" && s0 != "") {
          if (mode == "strong") { sui = f(s0 / perit, 2); efi = f(100 * s0 * p0 / (perit * p), 0) "%" }
          else efi = f(100 * s0 / perit, 0) "%"
        }
        gr = ($15 != "" && $5 > 0) ? f($15 / $5, 3) : ""
        conv = ($17 == "no") ? " (not converged)" : ""
        if ($13 == "") { printf "| %d | %d | %d | run failed | | | | | | | | | | | | | | | |\n", n, p, $4; next }
        printf "| %d | %d | %d | %s | %s%s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %s | %s | %s | %s | %.0f | %s |\n",
          n, p, $4, $5, it, conv, $7, $8, $9, $10, $11, $12, total, f(1000 * perit, 2), su, ef, sui, efi, $14, gr
      }' "$rows"
    echo
  } >> "$results"
  rm -f "$rows"
done
