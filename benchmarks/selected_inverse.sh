#!/bin/sh
# Exact PEV and AI-REML through the selected inverse (-factor_type cholmod: CHOLMOD's supernodal LL' on
# rank 0 and Takahashi's equations on its pattern) against the size of the evaluation, on simulated
# populations (henderson-simulate --shuffle: herd-year-season, sex, age covariate, animal; h2 = 0.3):
#   1. exact PEV (--pev exact) at SIZES animals: pev seconds, the factor's entries and flops (CHOLMOD's
#      -info line), the selected inverse's seconds and rate (-log_view event FactorSelInverse) against
#      dgemm on one rank in a square shape of SUPERNODE (henderson-gemm: where the large supernodes put
#      most of the flops), peak memory; at MUMPS_SIZES also -factor_type mumps, its seconds and the
#      largest relative difference of the animals' PEV between the two;
#   2. AI-REML (henderson reml, starting from the simulated values) at REML_SIZES: rounds, seconds a round.
#
#   sh benchmarks/selected_inverse.sh BUILD_DIR
#
# Environment: RANKS [2], SIZES ["10000 20000 50000 100000"], MUMPS_SIZES [10000],
# REML_SIZES ["10000 50000"], SUPERNODE [1024], TIMEOUT [3600]. Prints markdown tables; the logs go to
# benchmarks/logs/selected_inverse/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_setup "${1:-}"
ranks=${RANKS:-2}
sizes=${SIZES:-"10000 20000 50000 100000"}
mumps_sizes=${MUMPS_SIZES:-10000}
reml_sizes=${REML_SIZES:-"10000 50000"}
supernode=${SUPERNODE:-1024}
limit=${TIMEOUT:-3600}
out=$logs/selected_inverse
mkdir -p "$out"
launch=$(bench_launch "${LAUNCH:-$bench_default_launch}" "$ranks")
gemm=$build/benchmarks/henderson-gemm
[ -x "$gemm" ] || bench_die "$gemm is missing (build first)"

# cholmod LOG KEY: from CHOLMOD's -info line (entries, flops) or the FactorSelInverse event (seconds, gflops)
cholmod() {
  case $2 in
    entries) sed -n 's/.*CHOLMOD: .* supernodes, \([0-9.e+]*\) entries in L.*/\1/p' "$1" | head -n 1 ;;
    flops) sed -n 's/.*CHOLMOD: .* entries in L, \([0-9.e+]*\) flops.*/\1/p' "$1" | head -n 1 ;;
    seconds) awk '$1 == "FactorSelInverse" { print $4 + 0 }' "$1" ;;
    gflops) awk '$1 == "FactorSelInverse" { printf "%.1f", $NF / 1000 }' "$1" ;;
  esac
}

pev_of() {
  "$henderson" export "$(bench_simulate "$2" "")/$1.h5" animal pev -export_digits 17 | sort
}

rate=$(mpirun -x OPENBLAS_NUM_THREADS -n 1 "$gemm" --m "$supernode" --n "$supernode" --k "$supernode" | sed -n 's/.*, \([0-9.]*\) GFlop\/s in all/\1/p')
echo "## Exact PEV and AI-REML on the selected inverse ($ranks ranks; dgemm $supernode^3 on one rank: $rate GFlop/s)"
echo
echo "| animals | equations | factor | pev s | entries in L | factor flops | selected inverse s | its GFlop/s | peak MiB/rank | MUMPS pev s | largest relative difference |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for n in $sizes; do
  if ! bench_run "$n" "" cholmod solve --pev exact -log_view -info :sys; then
    echo "| $n | failed or over ${limit} s (see logs/selected_inverse/cholmod_$n.txt) | | | | | | | | | |"
    break
  fi
  log=$out/cholmod_$n.txt
  mumps="" difference=""
  case " $mumps_sizes " in
    *" $n "*)
      if bench_run "$n" "" mumps solve --pev exact -factor_type mumps; then
        mumps=$(bench_summary "$out/mumps_$n.txt" pev)
        pev_of cholmod "$n" > "$out/pev_cholmod_$n.txt"
        pev_of mumps "$n" > "$out/pev_mumps_$n.txt"
        difference=$(join "$out/pev_cholmod_$n.txt" "$out/pev_mumps_$n.txt" | awk '{ d = ($2 - $3) / $3; if (d < 0) d = -d; if (d > m) m = d } END { printf "%.2g", m }')
      fi
      ;;
  esac
  echo "| $n | $(bench_summary "$log" equations) | cholmod | $(bench_summary "$log" pev) | $(cholmod "$log" entries) | $(cholmod "$log" flops) | $(cholmod "$log" seconds) | $(cholmod "$log" gflops) | $(bench_summary "$log" peak) | $mumps | $difference |"
done
echo
echo "### AI-REML (\`henderson reml\`, from the simulated values)"
echo
echo "| animals | rounds | reml s | s a round | peak MiB/rank |"
echo "|---|---|---|---|---|"
for n in $reml_sizes; do
  if bench_run "$n" "" reml reml; then
    log=$out/reml_$n.txt
    rounds=$(awk '/^  reml/ { for (i = 1; i <= NF; i++) if ($i == "rounds,") print $(i - 1) }' "$log")
    seconds=$(awk '/^  reml/ { print $(NF - 1) }' "$log")
    echo "| $n | $rounds | $seconds | $(awk -v s="$seconds" -v r="$rounds" 'BEGIN { printf "%.1f", s / (r + 1) }') | $(bench_summary "$log" peak) |"
  else
    echo "| $n | failed or over ${limit} s (see logs/selected_inverse/reml_$n.txt) | | | |"
    break
  fi
done
