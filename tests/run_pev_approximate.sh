#!/bin/sh
# -pev approximate against -pev exact on a simulated population (henderson-simulate, 4000 animals over 5
# generations): for each random effect of the model, the approximate reliabilities agree with the exact ones
# (correlation, slope of exact on approximate, mean absolute difference: the thresholds are arguments), and
# they are the same at 1, 2 and 4 ranks (to rounding). The option --repeat K (not the simulator's) makes a
# repeatability model of it: each record K times, in the herd's next years (the cohorts mix, as cows' later
# lactations do), and a permanent environment (random animal iid 0.2 as pe; h2 0.2, residual 0.6).
# --test-day K [--stagger S] makes a random regression test-day model of it (benchmarks/test_day.sh: K test
# days a record, random regressions of the animal and its permanent environment); -rr_range 5,305 adds their
# 305-day values (animal_range, pe_range) to what is compared.
#   sh run_pev_approximate.sh MPIEXEC NPFLAG SIMULATE HENDERSON CHECK WORKDIR "SIMULATE OPTIONS" \
#      "EFFECT MINCORR SLOPE_LO SLOPE_HI MAXMAD" ...
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mpiexec=$1 npflag=$2 simulate=$3 henderson=$4 check=$5 dir=$6 options=$7
shift 7
repeat=$(echo "$options" | sed -n 's/.*--repeat \([0-9]*\).*/\1/p')
testday=$(echo "$options" | sed -n 's/.*--test-day \([0-9]*\).*/\1/p')
stagger=$(echo "$options" | sed -n 's/.*--stagger \([0-9]*\).*/\1/p')
options=$(echo "$options" | sed 's/--repeat [0-9]*//; s/--test-day [0-9]*//; s/--stagger [0-9]*//')
extra=
rm -rf "$dir"
mkdir -p "$dir"
# shellcheck disable=SC2086
"$simulate" --animals 4000 --generations 5 --herds 40 --seed 7 $options --out "$dir" > "$dir/simulate.log"
cd "$dir"
if [ -n "$repeat" ]; then
  awk -v n="$repeat" 'NR == 1 { print; next } {
    h = $2; at = index(h, "Y")
    for (k = 0; k < n; k++) { $2 = substr(h, 1, at) sprintf("%02d", substr(h, at + 1, 2) + k) substr(h, at + 3); print }
  }' data.txt > data_repeated.txt
  mv data_repeated.txt data.txt
  sed 's/^random  *animal pedigree .*/random    animal pedigree 0.2\nrandom    animal iid 0.2 as pe/; s/^residual .*/residual  0.6/' model.txt > model_repeated.txt
  mv model_repeated.txt model.txt
fi
if [ -n "$testday" ]; then
  sh "$here/../benchmarks/test_day.sh" . "$testday" "${stagger:-1}"
  extra="-rr_range 5,305"
fi
# the reference on 1 rank: MUMPS with 64-bit PETSc failed to factor the two-trait maternal C on 2 ranks
# (a zero pivot; it is positive definite, and factors on 1 rank and with 32-bit indices)
"$mpiexec" $npflag 1 "$henderson" solve model.txt --pev exact -quiet $extra
mv solutions.h5 exact.h5
for n in 1 2 4; do
  "$mpiexec" $npflag $n "$henderson" solve model.txt --pev approximate $extra > approximate_$n.log
  mv solutions.h5 approximate_$n.h5
done
grep "pev         approximate" approximate_1.log
failed=0
for spec in "$@"; do
  set -- $spec
  "$check" -agree reliability "$1" "$2" "$3" "$4" "$5" exact.h5 approximate_1.h5 || failed=1
  for n in 2 4; do
    "$check" -agree reliability "$1" 0.999999999 0.99999 1.00001 1e-10 approximate_1.h5 approximate_$n.h5 || failed=1
  done
done
printf 'text /solver pev_method approximate\n' > expected.txt
"$check" approximate_2.h5 expected.txt || failed=1
exit $failed
