#!/bin/sh
# Prediction error variances and REML against the size of the evaluation, on simulated populations
# (henderson-simulate --shuffle: herd-year-season, sex, age covariate, animal; h2 = 0.3):
#   1. exact PEV (--pev exact: MUMPS factorisation and selected inverse entries): seconds and peak
#      memory against the number of animals, up to the size where it fails or passes TIMEOUT;
#   2. sampled PEV (--pev sample) against exact at 10^4 animals, and at 10^5 (where the factorisation
#      is out of reach) against a reference of REFERENCE_SAMPLES samples: how the relative error of the
#      animals' PEV falls with the number of samples N, beside the theory sqrt(2/N) (and, against the
#      reference, sqrt(2/N + 2/REFERENCE_SAMPLES));
#   3. the cost of sampled PEV at 10^6 and 10^7 animals: seconds and iterations a sample;
#   4. REML by average information (factorising every round): seconds a round against size.
#
#   sh benchmarks/pev.sh BUILD_DIR
#
# Environment: RANKS [2], EXACT_SIZES ["3000 10000 20000"], SAMPLES ["10 30 100 300"], REFERENCE_SAMPLES [1000],
# COST_SIZES ["1000000 10000000"], COST_SAMPLES [4], REML_SIZES ["3000 10000"], TIMEOUT [900].
# Prints markdown tables; the logs go to benchmarks/logs/pev/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_setup "${1:-}"
ranks=${RANKS:-2}
exact_sizes=${EXACT_SIZES:-"3000 10000 20000"}
reference=${REFERENCE_SAMPLES:-1000}
samples=${SAMPLES:-"10 30 100 300"}
cost_sizes=${COST_SIZES:-"1000000 10000000"}
cost_samples=${COST_SAMPLES:-4}
reml_sizes=${REML_SIZES:-"3000 10000"}
limit=${TIMEOUT:-900}
out=$logs/pev
mkdir -p "$out"
launch=$(bench_launch "${LAUNCH:-$bench_default_launch}" "$ranks")

# the animals' PEV of a run as "label value" lines, sorted by label
pev_of() {
  "$henderson" export "$(bench_simulate "$2" "")/$1.h5" animal pev | sort
}

echo "## Prediction error variances and REML ($ranks ranks)"
echo
echo "### Exact PEV (\`--pev exact\`): MUMPS factorisation of the assembled C and the diagonal of its inverse"
echo
echo "| animals | equations | nonzeros | solve s | pev s | total s | peak MiB/rank |"
echo "|---|---|---|---|---|---|---|"
for n in $exact_sizes; do
  if bench_run "$n" "" exact solve --pev exact; then
    log=$out/exact_$n.txt
    echo "| $n | $(bench_summary "$log" equations) | $(bench_summary "$log" nonzeros) | $(bench_summary "$log" solve) | $(bench_summary "$log" pev) | $(bench_summary "$log" total) | $(bench_summary "$log" peak) |"
  else
    echo "| $n | failed or over ${limit} s (see logs/pev/exact_$n.txt) | | | | | |"
    break
  fi
done
echo
echo "### Sampled PEV (\`--pev sample -pev_samples N\`) against exact"
echo
echo "Relative error of the animals' PEV, root mean square over all animals, against the theory: sqrt(2/N)"
echo "(a mean of N scaled chi-square(1) values) against exact PEV; against a reference of $reference samples"
echo "where no factorisation fits, sqrt(2/N + 2/$reference)."
echo
echo "| animals | reference | N | pev s | iterations | rms relative error | theory |"
echo "|---|---|---|---|---|---|---|"
for n in 10000 100000; do
  if [ -f "$(bench_simulate "$n" "")/exact.h5" ]; then
    ref=exact
    pev_of exact "$n" > "$out/reference_pev_$n.txt"
  else
    bench_run "$n" "" reference solve --pev sample -pev_samples "$reference" -pev_seed 999 || continue
    ref="$reference samples"
    pev_of reference "$n" > "$out/reference_pev_$n.txt"
  fi
  for s in $samples; do
    bench_run "$n" "" "sample$s" solve --pev sample -pev_samples "$s" || continue
    log=$out/sample${s}_$n.txt
    iterations=$(awk '/^  pev/ { for (i = 1; i <= NF; i++) if ($i == "iterations") print $(i - 1) }' "$log")
    pev_of "sample$s" "$n" > "$out/sample_pev_${s}_$n.txt"
    rms=$(join "$out/reference_pev_$n.txt" "$out/sample_pev_${s}_$n.txt" | awk '$2 > 0 { d = ($3 - $2) / $2; s += d * d; k++ } END { printf "%.4f", sqrt(s / k) }')
    if [ "$ref" = exact ]; then
      theory=$(awk -v s="$s" 'BEGIN { printf "%.4f", sqrt(2 / s) }')
    else
      theory=$(awk -v s="$s" -v r="$reference" 'BEGIN { printf "%.4f", sqrt(2 / s + 2 / r) }')
    fi
    echo "| $n | $ref | $s | $(bench_summary "$log" pev) | $iterations | $rms | $theory |"
  done
done
echo
echo "### The cost of sampled PEV at national sizes ($cost_samples samples)"
echo
echo "| animals | equations | solve s (the evaluation) | pev s | s a sample | iterations a sample | peak MiB/rank |"
echo "|---|---|---|---|---|---|---|"
for n in $cost_sizes; do
  bench_run "$n" "" cost solve --pev sample -pev_samples "$cost_samples" || {
    echo "| $n | failed or over ${limit} s | | | | | |"
    continue
  }
  log=$out/cost_$n.txt
  pev=$(bench_summary "$log" pev)
  iterations=$(awk '/^  pev/ { for (i = 1; i <= NF; i++) if ($i == "iterations") print $(i - 1) }' "$log")
  echo "| $n | $(bench_summary "$log" equations) | $(bench_summary "$log" solve) | $pev | $(awk -v p="$pev" -v s="$cost_samples" 'BEGIN { printf "%.2f", p / s }') | $((iterations / cost_samples)) | $(bench_summary "$log" peak) |"
done
echo
echo "### REML by average information (\`henderson reml\`, factorising every round)"
echo
echo "| animals | equations | rounds | reml s | s a round | peak MiB/rank |"
echo "|---|---|---|---|---|---|"
for n in $reml_sizes; do
  if bench_run "$n" "" reml reml; then
    log=$out/reml_$n.txt
    rounds=$(awk '/^  reml/ { for (i = 1; i <= NF; i++) if ($i == "rounds,") print $(i - 1) }' "$log")
    seconds=$(awk '/^  reml/ { print $(NF - 1) }' "$log")
    echo "| $n | $(bench_summary "$log" equations) | $rounds | $seconds | $(awk -v s="$seconds" -v r="$rounds" 'BEGIN { printf "%.2f", s / (r + 1) }') | $(bench_summary "$log" peak) |"
  else
    echo "| $n | failed or over ${limit} s (see logs/pev/reml_$n.txt) | | | | |"
    break
  fi
done
