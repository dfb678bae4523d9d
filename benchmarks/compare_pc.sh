#!/bin/sh
# Preconditioners for CG on the mixed model equations of simulated populations, to rtol 1e-8 on the
# true residual: iterations, solve and total seconds, peak memory, and the true relative residual
# of every iteration (for benchmarks/plots.py).
#
#   sh benchmarks/compare_pc.sh [build-dir] [sizes] [ranks] [simulator flags] [results file]
#     e.g.  sh benchmarks/compare_pc.sh build "100000 1000000" "2"
#           sh benchmarks/compare_pc.sh build 100000 2 "--traits 2 --maternal"
#   defaults: build, 100000, 2, "" (single trait), benchmarks/RESULTS.md
#
# The preconditioners (names for PCS):
#   jacobi            -pc_type jacobi                        (iteration on data: C is never stored)
#   vpbjacobi         -pc_type vpbjacobi                     (point-block Jacobi; = jacobi for one trait)
#   jacobi-assembled  -pc_type jacobi -mme_operator assembled (the same iterations; an AIJ matrix)
#   bjacobi-icc       -pc_type bjacobi -sub_pc_type icc       (ICC(0) on each rank's diagonal block)
#   hypre-boomeramg   -pc_type hypre -pc_hypre_type boomeramg
#   gamg              -pc_type gamg                          (smoothed aggregation, PETSc's defaults)
#   gamg-unsmoothed   -pc_type gamg -pc_gamg_agg_nsmooths 0   (plain aggregation: sparse coarse levels, but
#                     the MIS coarsening of a graph with the dense sex and age rows costs 4 s of 5 at 10^5)
#   gamg-unsmoothed-threshold   the same with -pc_gamg_threshold 0.01 (weak couplings, those of the
#                     dense rows among them, left out of the graph that is coarsened)
#   deflation-SPACE-K[-INNER]  subdomain deflation (Vandenplas et al. 2018) by PCDEFLATION: the
#                     deflation vectors are indicators of consecutive blocks of 2^K equations, CG
#                     preconditioned by Jacobi (or INNER, e.g. vpbjacobi) on the deflated system:
#                     -pc_type deflation -pc_deflation_compute_space SPACE -pc_deflation_compute_space_size K
#                     -deflation_pc_pc_type jacobi|INNER
#                     SPACE haar: the space the literature describes, but PETSc 3.18 weighs the last,
#                     partial block of r = equations mod 2^K rows by 2^(-r/2), which is 0 in double
#                     precision for r > ~1000 (coarse matrix singular: DIVERGED_NANORINF at iteration 0);
#                     and with fewer blocks than ranks a rank sets rows out of range (an error on that
#                     rank alone; henderson then hangs: such runs are skipped). SPACE db2: K levels of
#                     pairwise averaging (Daubechies-2 = Haar scaling coefficients), the same blocks of
#                     2^K equations, the partial one weighed about 2^(-K/2) instead of underflowing (the
#                     same iterations where haar works; its setup multiplies K sparse matrices).
#
# Environment (defaults in brackets):
#   PCS               names to run [all of the above, deflation for each space and level]
#   DEFLATION_LEVELS  K: blocks of 2^K equations [8 10 12] (256, 1024, 4096 equations)
#   DEFLATION_SPACES  [haar db2]
#   DEFLATION_PC      the preconditioners of the deflated system [jacobi]; "jacobi vpbjacobi" runs both
#                     (point-block Jacobi matters where a level has several equations: --traits 2)
#   DEFLATION_MAX_COARSE  skip deflation when the coarse system (equations / 2^K) is larger [16384]:
#                     it is nearly dense (80 % of entries at 10^5 animals) and factored by LU
#   GAMG_SMOOTHED_MAX skip smoothed-aggregation gamg above this many animals [50000]: its first coarse
#                     level is dense (every aggregate meets the sex and age equations, which touch all
#                     records): 3.1 million entries for 1,774 coarse rows at 10^4 animals, growing as n^2
#   RTOL [1e-8]   MAX_IT: -ksp_max_it [2000]   TIMEOUT: seconds per run, 0 for none [1800]
#   HISTORY           separate: a second run with -ksp_monitor_true_residual gives the history, the
#                     timed run has no monitor [default]; same: one run with the monitor (its times then
#                     include one more product with C per iteration); none
#   LAUNCH            launcher template [mpirun -n {ranks}]   EXTRA: more options for every run
#   BENCH_WORK        where the populations are simulated [/tmp/henderson-bench]
#
# Output: a Markdown table per size and rank count appended to the results file; in benchmarks/logs/
# pc_<animals><flags>_<ranks>_<name>.txt (summary, -log_view, /solver attributes) and
# history_<animals><flags>_<ranks>_<name>.txt ("iteration true-relative-residual" lines).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_setup "${1:-$here/../build}"
bench_need_h5dump
sizes=${2:-100000}
ranks=${3:-2}
flags=${4:-}
results=${5:-$here/RESULTS.md}
tag=$(bench_tag "$flags")
levels=${DEFLATION_LEVELS:-8 10 12}
spaces=${DEFLATION_SPACES:-haar db2}
deflation_pcs=${DEFLATION_PC:-jacobi}
max_coarse=${DEFLATION_MAX_COARSE:-16384}
gamg_max=${GAMG_SMOOTHED_MAX:-50000}
rtol=${RTOL:-1e-8}
max_it=${MAX_IT:-2000}
limit=${TIMEOUT:-1800}
history=${HISTORY:-separate}
launch=${LAUNCH:-$bench_default_launch}
extra=${EXTRA:-}
if [ -z "${PCS:-}" ]; then
  PCS="jacobi vpbjacobi jacobi-assembled bjacobi-icc hypre-boomeramg gamg gamg-unsmoothed gamg-unsmoothed-threshold"
  for s in $spaces; do
    for k in $levels; do
      for inner in $deflation_pcs; do
        if [ "$inner" = jacobi ]; then PCS="$PCS deflation-$s-$k"; else PCS="$PCS deflation-$s-$k-$inner"; fi
      done
    done
  done
fi

pc_options() {
  case $1 in
    jacobi) echo "-pc_type jacobi" ;;
    vpbjacobi) echo "-pc_type vpbjacobi" ;;
    jacobi-assembled) echo "-pc_type jacobi -mme_operator assembled" ;;
    bjacobi-icc) echo "-pc_type bjacobi -sub_pc_type icc" ;;
    hypre-boomeramg) echo "-pc_type hypre -pc_hypre_type boomeramg" ;;
    gamg) echo "-pc_type gamg" ;;
    gamg-unsmoothed) echo "-pc_type gamg -pc_gamg_agg_nsmooths 0" ;;
    gamg-unsmoothed-threshold) echo "-pc_type gamg -pc_gamg_agg_nsmooths 0 -pc_gamg_threshold 0.01" ;;
    deflation-*-*)
      # deflation-SPACE-K or deflation-SPACE-K-INNER
      # shellcheck disable=SC2046 # split at the dashes
      set -- $(echo "${1#deflation-}" | tr '-' ' ')
      echo "-pc_type deflation -pc_deflation_compute_space $1 -pc_deflation_compute_space_size $2 -deflation_pc_pc_type ${3:-jacobi}"
      ;;
    *) bench_die "unknown preconditioner name '$1' in PCS" ;;
  esac
}
for name in $PCS; do pc_options "$name" > /dev/null; done

# K of deflation-SPACE-K[-INNER]
deflation_level() {
  echo "$1" | cut -d- -f3
}

# Why a run should not be made (empty: run it). $1 name, $2 animals, $3 ranks, $4 equations (may be empty)
pc_skip() {
  case $1 in
    gamg)
      [ "$2" -le "$gamg_max" ] || echo "skipped: smoothed aggregation's first coarse level is dense (memory grows as n^2); GAMG_SMOOTHED_MAX=$gamg_max animals"
      ;;
    deflation-*-*)
      [ -n "$4" ] || return 0
      k=$(deflation_level "$1")
      size=$((1 << k))
      coarse=$((($4 + size - 1) / size))
      if [ "$coarse" -gt "$max_coarse" ]; then
        echo "skipped: coarse system of $coarse equations (nearly dense, LU) > DEFLATION_MAX_COARSE=$max_coarse"
      elif [ "${1#deflation-haar}" != "$1" ] && [ "$coarse" -lt "$3" ]; then
        echo "skipped: $coarse blocks for $3 ranks: PETSc's haar space sets rows out of range on a rank without a block (henderson hangs)"
      fi
      ;;
  esac
}

# A note on a run that was made: the haar space's underflowing last block
pc_note() {
  case $1 in
    deflation-haar-*)
      [ -n "$2" ] || return 0
      k=$(deflation_level "$1")
      r=$(($2 % (1 << k)))
      [ "$r" -le 1000 ] || echo "last block of $r rows weighed 2^-$((r / 2)) (PETSc haar): coarse matrix singular"
      ;;
  esac
}

# The iteration history from -ksp_monitor_true_residual lines: "iteration ||r_i||/||b||"
extract_history() {
  awk '/KSP .*true resid norm/ { for (i = 1; i <= NF; i++) if ($i == "||r(i)||/||b||") print $1, $(i + 1) }' "$1"
}

run_henderson() { # $1 ranks, $2 model, $3 log, rest: options
  _p=$1
  _model=$2
  _log=$3
  shift 3
  _rc=0
  # shellcheck disable=SC2046,SC2086 # the launcher and the options are words
  (cd "$(dirname "$_model")" && bench_timeout "$limit" $(bench_launch "$launch" "$_p") "$henderson" solve "$(basename "$_model")" \
    -ksp_rtol "$rtol" -ksp_max_it "$max_it" "$@" $extra) > "$_log" 2>&1 || _rc=$?
  return $_rc
}

{
  echo "### Preconditioners ($(date -u +%Y-%m-%d); simulated, henderson-simulate --shuffle $flags)"
  echo
  bench_header /dev/stdout "sh benchmarks/compare_pc.sh ... \"$sizes\" \"$ranks\" \"$flags\""
  echo "CG to rtol $rtol on the true residual, at most $max_it iterations, ${limit} s a run; seconds are"
  echo "wall seconds of henderson's phases (max over ranks), without the residual monitor (HISTORY=$history); solve"
  echo "includes the preconditioner's setup."
  echo
} >> "$results"

for n in $sizes; do
  dir=$(bench_simulate "$n" "$flags")
  for p in $ranks; do
    equations=
    table=$(mktemp)
    for name in $PCS; do
      opts=$(pc_options "$name")
      base=${n}${tag}_${p}_$name
      log=$logs/pc_$base.txt
      hist=$logs/history_$base.txt
      skip=$(pc_skip "$name" "$n" "$p" "$equations")
      if [ -n "$skip" ]; then
        echo "compare_pc: $n animals, $p ranks, $name: $skip" >&2
        echo "| $name | \`$opts\` | | | $skip | | | | | | |" >> "$table"
        continue
      fi
      echo "compare_pc: $n animals, $p ranks, $name" >&2
      model=$(bench_model "$dir" "pc_$p")
      out=$dir/pc_$p.h5
      rm -f "$out"
      monitor=
      [ "$history" = same ] && monitor=-ksp_monitor_true_residual
      rc=0
      # shellcheck disable=SC2086
      run_henderson "$p" "$model" "$log" $opts -log_view $monitor || rc=$?
      attrs=$(bench_attrs "$out" /solver)
      printf '\n# /solver attributes (exit status %s)\n%s\n' "$rc" "$attrs" >> "$log"
      rm -f "$out"
      if [ "$history" = separate ] && [ "$rc" -ge 124 ] && [ -z "$(bench_summary "$log" total)" ]; then
        echo "compare_pc: $name ran out of time: no history run" >&2
        : > "$hist"
      elif [ "$history" = separate ]; then
        # shellcheck disable=SC2086
        run_henderson "$p" "$model" "$log.monitor" $opts -ksp_monitor_true_residual || true
        extract_history "$log.monitor" > "$hist"
        rm -f "$out" "$log.monitor"
      elif [ "$history" = same ]; then
        extract_history "$log" > "$hist"
      fi
      [ -n "$equations" ] || equations=$(bench_summary "$log" equations)
      it=$(bench_summary "$log" iterations)
      note=$(pc_note "$name" "$equations")
      # a run that printed its summary finished, whatever the timeout said afterwards
      if [ "$rc" -ge 124 ] && [ -n "$(bench_summary "$log" total)" ]; then
        rc=0
        [ "$(bench_summary "$log" converged)" = yes ] || rc=2
      fi
      case $rc in
        0) status=converged ;;
        2) status="no: $(bench_attr "$attrs" reason)" ;;
        124 | 137) status="timeout (${limit} s)" ;;
        *) status="error $rc: $(grep -m 1 -i 'error' "$log" | cut -c 1-120 | tr '|' '/')" ;;
      esac
      awk -v name="$name" -v opts="$opts" -v status="$status" -v note="$note" \
        -v op="$(bench_attr "$attrs" operator)" -v it="$it" -v res="$(bench_summary "$log" residual)" \
        -v solve="$(bench_summary "$log" solve)" -v total="$(bench_summary "$log" total)" \
        -v peak="$(bench_summary "$log" peak)" 'BEGIN {
          per = (it > 0 && solve != "") ? sprintf("%.2f", 1000 * solve / it) : ""
          printf "| %s | `%s` | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, opts, op, it, status, res, solve, per, total, peak, note
        }' >> "$table"
    done
    {
      echo "$n animals, $equations equations, $p ranks:"
      echo
      echo "| preconditioner | options | operator | iterations | converged | true relative residual | solve s | ms/iteration | total s | peak MiB/rank | note |"
      echo "|---|---|---|---|---|---|---|---|---|---|---|"
      cat "$table"
      echo
    } >> "$results"
    rm -f "$table" "$dir/model_pc_$p.txt"
  done
done
