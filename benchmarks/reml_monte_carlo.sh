#!/bin/sh
# Monte Carlo AI-REML (henderson reml -reml_method mcai) on simulated populations (henderson-simulate
# --shuffle), from starting values off by a factor of 2 (every G0 doubled, R0 halved):
#   1. against exact AI-REML (-reml_method ai: a factorisation and its selected inverse every round) on the
#      same data at EXACT_SIZE animals, single trait, and EXACT_MATERNAL_SIZES animals, two traits with
#      maternal effects: each estimate, its distance from the exact one in Monte Carlo standard errors;
#   2. at MC_SIZES animals, single trait and the two-trait maternal model (MATERNAL_SIZES), where the
#      factorisation is out of reach: rounds, seconds, and the estimates against the simulated values.
#
#   sh benchmarks/reml_monte_carlo.sh BUILD_DIR
#
# Environment: RANKS [2], EXACT_SIZE [10000], EXACT_MATERNAL_SIZES [10000], MC_SIZES ["100000 1000000"], MATERNAL_SIZES [100000],
# SAMPLES [10], PARTS ["1 2"], TIMEOUT [3600]. Prints markdown tables; the logs go to
# benchmarks/logs/reml_monte_carlo/. Needs h5dump.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_setup "${1:-}"
bench_need_h5dump
ranks=${RANKS:-2}
exact_size=${EXACT_SIZE:-10000}
exact_maternal_sizes=${EXACT_MATERNAL_SIZES:-10000}
mc_sizes=${MC_SIZES:-"100000 1000000"}
maternal_sizes=${MATERNAL_SIZES:-100000}
samples=${SAMPLES:-10}
parts=${PARTS:-"1 2"}
limit=${TIMEOUT:-3600}
out=$logs/reml_monte_carlo
mkdir -p "$out"
launch=$(bench_launch "${LAUNCH:-$bench_default_launch}" "$ranks")

# start DIR: DIR/model_start.txt, the simulated model with every random statement's numbers doubled and the
# residual's halved (the simulated values are those of DIR/model.txt)
start() {
  awk '/^random / { for (i = 2; i <= NF; i++) if ($i ~ /^-?[0-9.]+(e-?[0-9]+)?$/) $i = 2 * $i }
       /^residual / { for (i = 2; i <= NF; i++) if ($i ~ /^-?[0-9.]+(e-?[0-9]+)?$/) $i = $i / 2 } { print }' "$1/model.txt" > "$1/model_start.txt"
}

# dataset FILE.h5 PATH: the numbers of a dataset, blank-separated
dataset() {
  h5dump -y -w 0 -d "$2" "$1" 2> /dev/null | sed -n '/DATA {/,/}/p' | sed '1d;$d' | tr -d ',' | tr -s ' \n' ' '
}

# the simulated values of DIR/model.txt in the order of the parameters (lower triangles of each G0, then R0)
simulated() {
  awk '/^random / { n = 0; for (i = 2; i <= NF; i++) if ($i ~ /^-?[0-9.]+(e-?[0-9]+)?$/) v[n++] = $i
                    d = int((sqrt(8 * n + 1) - 1) / 2 + 0.5); if (d * (d + 1) / 2 != n) d = int(sqrt(n) + 0.5)
                    for (a = 0; a < d; a++) for (b = 0; b <= a; b++) printf "%s ", (d * (d + 1) / 2 == n ? v[a * (a + 1) / 2 + b] : v[a * d + b]) }
       /^residual / { n = 0; for (i = 2; i <= NF; i++) if ($i ~ /^-?[0-9.]+(e-?[0-9]+)?$/) v[n++] = $i
                    d = int((sqrt(8 * n + 1) - 1) / 2 + 0.5); if (d * (d + 1) / 2 != n) d = int(sqrt(n) + 0.5)
                    for (a = 0; a < d; a++) for (b = 0; b <= a; b++) printf "%s ", (d * (d + 1) / 2 == n ? v[a * (a + 1) / 2 + b] : v[a * d + b]) }' "$1"
}

# reml N FLAGS TAG OPTIONS...: henderson reml on the start model of the population, writing TAG.h5
reml() {
  _n=$1
  _flags=$2
  _tag=$3
  shift 3
  _dir=$(bench_simulate "$_n" "$_flags")
  start "$_dir"
  sed "s/^output .*/output $_tag.h5/" "$_dir/model_start.txt" > "$_dir/model_$_tag.txt"
  # shellcheck disable=SC2086 # the launcher is words
  bench_timeout "$limit" $launch "$henderson" reml "$_dir/model_$_tag.txt" "$@" > "$out/${_tag}_$_n$(bench_tag "$_flags").txt" 2>&1 || [ $? -eq 2 ]
}

# rounds and seconds of a run's log: "rounds | seconds"
cost() {
  awk '/^  reml  / { for (i = 1; i <= NF; i++) { if ($i ~ /^rounds,?$/) r = $(i - 1); if ($i == "s" || $i == "s,") s = $(i - 1) } } END { print r " | " s }' "$1"
}

# against N FLAGS: part 1's table for one population
against() {
  _n=$1
  _flags=$2
  _against=$_n$(bench_tag "$_flags")
  echo "### Monte Carlo AI against exact AI-REML, $_n animals, ${_flags:-animal} ($ranks ranks, $samples samples a round)"
  echo
  dir=$(bench_simulate "$_n" "$_flags")
  if reml "$_n" "$_flags" exact -reml_method ai && reml "$_n" "$_flags" mcai -reml_method mcai -reml_samples "$samples"; then
    echo "| parameter | exact | Monte Carlo AI | sampling s.e. | Monte Carlo s.e. | (mcai - exact) / MC s.e. |"
    echo "|---|---|---|---|---|---|"
    h5dump -a /variance/parameters "$dir/mcai.h5" | sed -n 's/.*(0): "\(.*\)".*/\1/p' | sed 's/\],/]\n/g' > "$out/names.txt"
    for f in exact:estimate mcai:estimate mcai:standard_error mcai:monte_carlo_standard_error; do
      dataset "$dir/${f%%:*}.h5" "/variance/${f#*:}" | tr ' ' '\n' | sed '/^$/d' > "$out/${f%%:*}_${f#*:}.txt.columns"
    done
    paste -d' ' "$out/names.txt" "$out/exact_estimate.txt.columns" "$out/mcai_estimate.txt.columns" "$out/mcai_standard_error.txt.columns" \
      "$out/mcai_monte_carlo_standard_error.txt.columns" |
      awk '{ printf "| %s | %.6g | %.6g | %.3g | %.3g | %+.2f |\n", $1, $2, $3, $4, $5, ($5 > 0 ? ($3 - $2) / $5 : 0) }'
    rm -f "$out/names.txt" "$out"/*.txt.columns
    echo
    echo "exact: $(cost "$out/exact_$_against.txt") (rounds | reml s); Monte Carlo AI: $(cost "$out/mcai_$_against.txt")"
  else
    echo "failed or over $limit s (see logs/reml_monte_carlo/)"
  fi
  echo
}

case " $parts " in *" 1 "*)
  for spec in $(bench_specs "$exact_size" "$exact_maternal_sizes"); do
    against "${spec%%:*}" "$(bench_spec_flags "$spec")"
  done
  ;;
esac

case " $parts " in *" 2 "*)
  echo "### Monte Carlo AI at national sizes ($ranks ranks, $samples samples a round), against the simulated values"
  echo
  echo "| animals | model | rounds | reml s | estimates (Monte Carlo s.e.) | simulated | largest relative difference |"
  echo "|---|---|---|---|---|---|---|"
  for spec in $(bench_specs "$mc_sizes" "$maternal_sizes"); do
    n=${spec%%:*}
    flags=$(bench_spec_flags "$spec")
    dir=$(bench_simulate "$n" "$flags")
    if reml "$n" "$flags" mcai -reml_method mcai -reml_samples "$samples"; then
      est=$(dataset "$dir/mcai.h5" /variance/estimate)
      mcse=$(dataset "$dir/mcai.h5" /variance/monte_carlo_standard_error)
      sim=$(simulated "$dir/model.txt")
      line=$(printf '%s\n%s\n%s\n' "$est" "$mcse" "$sim" | awk 'NR == 1 { n = split($0, e) } NR == 2 { split($0, m) } NR == 3 { split($0, s) }
        END { w = 0; for (i = 1; i <= n; i++) { printf "%s%.4g (%.2g)", (i > 1 ? " " : ""), e[i], m[i]; if (s[i] != 0) { d = (e[i] - s[i]) / s[i]; if (d < 0) d = -d; if (d > w) w = d } }
              printf " | "; for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? " " : ""), s[i]; printf " | %.1f %%\n", 100 * w }')
      echo "| $n | ${flags:-animal} | $(cost "$out/mcai_$n$(bench_tag "$flags").txt") | $line |"
    else
      echo "| $n | ${flags:-animal} | failed or over $limit s | | | | |"
    fi
  done
  echo
  ;;
esac
