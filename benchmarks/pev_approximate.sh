#!/bin/sh
# Approximate reliabilities (--pev approximate: belief propagation on the terms of C) on simulated
# populations (henderson-simulate --shuffle):
#   1. accuracy against exact PEV (--pev exact) at ACCURACY_SIZE animals, per model and random effect
#      (the test-day model of test_day.sh with the 305-day values of its random regressions too):
#      correlation of the reliabilities, slope of exact on approximate, mean absolute difference, means;
#   2. accuracy at SAMPLED_SIZE animals against sampled PEV (--pev sample) of REFERENCE_SAMPLES samples,
#      whose own error (sqrt(2/N) of each PEV) lowers the correlation that a perfect approximation could
#      reach: the correlation of two sampled runs of that many samples is printed beside it;
#   3. cost: the solve alone and the solve with --pev approximate, at COST_SIZES animals for one trait
#      and at MATERNAL_SIZES for the two-trait maternal model, the pev phase's seconds against the solve;
#   4. sampled PEV in blocks (-pev_sample_block K, CGs in lockstep sharing each product with C) at
#      SAMPLED_SIZE animals: seconds a sample for K in BLOCKS, BLOCK_SAMPLES samples each.
#
#   sh benchmarks/pev_approximate.sh BUILD_DIR
#
# Environment: RANKS [2], ACCURACY_SIZE [10000], SAMPLED_SIZE [1000000], REFERENCE_SAMPLES [200],
# COST_SIZES ["1000000 10000000"], MATERNAL_SIZES [1000000], BLOCKS ["1 4 8 16"], BLOCK_SAMPLES [16],
# PARTS ["1 2 3 4"], TIMEOUT [3600].
# Prints markdown tables; the logs go to benchmarks/logs/pev_approximate/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_setup "${1:-}"
ranks=${RANKS:-2}
accuracy_size=${ACCURACY_SIZE:-10000}
sampled_size=${SAMPLED_SIZE:-1000000}
reference=${REFERENCE_SAMPLES:-200}
cost_sizes=${COST_SIZES:-"1000000 10000000"}
maternal_sizes=${MATERNAL_SIZES:-1000000}
parts=${PARTS:-"1 2 3 4"}
blocks=${BLOCKS:-"1 4 8 16"}
block_samples=${BLOCK_SAMPLES:-16}
limit=${TIMEOUT:-3600}
check=$build/tests/check_solutions
[ -x "$check" ] || bench_die "$check is missing (build the tests)"
out=$logs/pev_approximate
mkdir -p "$out"
launch=$(bench_launch "${LAUNCH:-$bench_default_launch}" "$ranks")

# agree DIR EXACT APPROX EFFECT: "corr | slope | mad" per column, from check_solutions -agree (no thresholds)
agree() {
  "$check" -agree reliability "$4" -1 -1e9 1e9 1e9 "$1/$2.h5" "$1/$3.h5" |
    awk '/column/ { for (i = 1; i <= NF; i++) { if ($i == "correlation") c = $(i + 1); if ($i == "slope") s = $(i + 1); if ($i == "|difference|") m = $(i + 1) }
                    printf "%s%s / %s / %s", (n++ ? "; " : ""), c, s, m } END { print "" }'
}

# the mean of column C of the reliabilities of EFFECT in FILE
mean_reliability() {
  "$henderson" export "$1" "$2" reliability | awk -v c="${3:-2}" '$c == $c + 0 { s += $c; n++ } END { if (n) printf "%.3f", s / n }'
}

case " $parts " in *" 1 "*)
  echo "### Accuracy against exact PEV, $accuracy_size animals ($ranks ranks)"
  echo
  echo "Reliabilities per random effect (per trait): correlation / slope of exact on approximate / mean absolute"
  echo "difference; exact and approximate seconds of the pev phase; the rounds of belief propagation."
  echo
  echo "| model | effect | correlation / slope / mean abs. difference | mean approx. / exact | exact pev s | approx. pev s | rounds |"
  echo "|---|---|---|---|---|---|---|"
  for flags in "" "--traits 2" "--maternal" "--social" "--test-day 6" "--genotyped 2000 --snps 10000 --chromosomes 10"; do
    dir=$(bench_simulate "$accuracy_size" "$flags")
    range=
    case "$flags" in *--test-day*) range="-rr_range 5,305" ;; esac
    # shellcheck disable=SC2086 # the range option is words
    bench_run "$accuracy_size" "$flags" exact solve --pev exact $range || { echo "| $flags | exact failed (see the logs) | | | | | |"; continue; }
    # shellcheck disable=SC2086
    bench_run "$accuracy_size" "$flags" approximate solve --pev approximate $range || { echo "| $flags | approximate failed | | | | | |"; continue; }
    tag=$(bench_tag "$flags")
    for effect in animal maternal mpe social pen animal_range pe pe_range; do
      [ -n "$("$henderson" export "$dir/exact.h5" "$effect" reliability 2> /dev/null | head -1)" ] || continue
      echo "| ${flags:-animal} | $effect | $(agree "$dir" exact approximate "$effect") | $(mean_reliability "$dir/approximate.h5" "$effect") / $(mean_reliability "$dir/exact.h5" "$effect") | $(bench_summary "$out/exact_$accuracy_size$tag.txt" pev) | $(bench_summary "$out/approximate_$accuracy_size$tag.txt" pev) | $(awk '/pev  *approximate/ { for (i = 1; i <= NF; i++) if ($i == "rounds,") print $(i - 1) }' "$out/approximate_$accuracy_size$tag.txt") |"
    done
  done
  echo
  ;;
esac

case " $parts " in *" 2 "*)
  dir=$(bench_simulate "$sampled_size" "")
  echo "### Accuracy against $reference sampled PEV, $sampled_size animals ($ranks ranks)"
  echo
  if bench_run "$sampled_size" "" sampled solve --pev sample -pev_samples "$reference" -pev_seed 1 &&
    bench_run "$sampled_size" "" sampled2 solve --pev sample -pev_samples "$reference" -pev_seed 2 &&
    bench_run "$sampled_size" "" approximate solve --pev approximate; then
    echo "| compared | correlation / slope / mean abs. difference | pev s |"
    echo "|---|---|---|"
    echo "| approximate vs sampled (seed 1) | $(agree "$dir" sampled approximate animal) | $(bench_summary "$out/approximate_$sampled_size.txt" pev) |"
    echo "| sampled (seed 2) vs sampled (seed 1): the ceiling | $(agree "$dir" sampled sampled2 animal) | $(bench_summary "$out/sampled_$sampled_size.txt" pev) |"
  else
    echo "failed or over $limit s (see logs/pev_approximate/)"
  fi
  echo
  ;;
esac

case " $parts " in *" 3 "*)
  echo "### Cost ($ranks ranks): the solve alone, and with --pev approximate"
  echo
  echo "| animals | model | equations | solve alone: solve s / total s | with approximate PEV: pev s / total s | pev / solve | rounds | factors (largest, equations) | peak MiB/rank alone / with |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for spec in $(bench_specs "$cost_sizes" "$maternal_sizes"); do
    n=${spec%%:*}
    flags=$(bench_spec_flags "$spec")
    tag=$(bench_tag "$flags")
    if bench_run "$n" "$flags" alone solve && bench_run "$n" "$flags" approximate solve --pev approximate; then
      a=$out/alone_$n$tag.txt
      p=$out/approximate_$n$tag.txt
      line=$(awk '/pev  *approximate/ { for (i = 1; i <= NF; i++) { if ($i == "rounds,") r = $(i - 1); if ($i == "on") f = $(i + 1); if ($i == "largest") l = $(i + 1) } print r " | " f " (" l ")" }' "$p")
      echo "| $n | ${flags:-animal} | $(bench_summary "$a" equations) | $(bench_summary "$a" solve) / $(bench_summary "$a" total) | $(bench_summary "$p" pev) / $(bench_summary "$p" total) | $(awk -v p="$(bench_summary "$p" pev)" -v s="$(bench_summary "$a" solve)" 'BEGIN { if (s > 0) printf "%.2f", p / s }') | $line | $(bench_summary "$a" peak) / $(bench_summary "$p" peak) |"
    else
      echo "| $n | ${flags:-animal} | failed or over $limit s (see the logs) | | | | | | |"
    fi
  done
  echo
  ;;
esac

case " $parts " in *" 4 "*)
  echo "### Sampled PEV in blocks ($ranks ranks, $sampled_size animals, $block_samples samples)"
  echo
  echo "| samples a pass (-pev_sample_block) | pev s | s a sample | iterations (all samples) | against one at a time |"
  echo "|---|---|---|---|---|"
  one=
  for k in $blocks; do
    if bench_run "$sampled_size" "" "block$k" solve --pev sample -pev_samples "$block_samples" -pev_sample_block "$k"; then
      log=$out/block${k}_$sampled_size.txt
      pev=$(bench_summary "$log" pev)
      [ -n "$one" ] || one=$pev
      its=$(awk '/pev  *sample/ { for (i = 1; i <= NF; i++) if ($i == "iterations") print $(i - 1) }' "$log")
      echo "| $k | $pev | $(awk -v p="$pev" -v n="$block_samples" 'BEGIN { printf "%.3f", p / n }') | $its | $(awk -v p="$pev" -v o="$one" 'BEGIN { printf "%.2fx", o / p }') |"
    else
      echo "| $k | failed (see the logs) | | | |"
    fi
  done
  echo
  ;;
esac
