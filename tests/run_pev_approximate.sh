#!/bin/sh
# -pev approximate against -pev exact on a simulated population (henderson-simulate, 4000 animals over 5
# generations): for each random effect of the model, the approximate reliabilities agree with the exact ones
# (correlation, slope of exact on approximate, mean absolute difference: the thresholds are arguments), and
# they are the same at 1, 2 and 4 ranks (to rounding).
#   sh run_pev_approximate.sh MPIEXEC NPFLAG SIMULATE HENDERSON CHECK WORKDIR "SIMULATE OPTIONS" \
#      "EFFECT MINCORR SLOPE_LO SLOPE_HI MAXMAD" ...
set -eu
mpiexec=$1 npflag=$2 simulate=$3 henderson=$4 check=$5 dir=$6 options=$7
shift 7
rm -rf "$dir"
mkdir -p "$dir"
# shellcheck disable=SC2086
"$simulate" --animals 4000 --generations 5 --herds 40 --seed 7 $options --out "$dir" > "$dir/simulate.log"
cd "$dir"
"$mpiexec" $npflag 2 "$henderson" solve model.txt --pev exact -quiet
mv solutions.h5 exact.h5
for n in 1 2 4; do
  "$mpiexec" $npflag $n "$henderson" solve model.txt --pev approximate > approximate_$n.log
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
