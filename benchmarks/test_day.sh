#!/bin/sh
# Makes a random regression test-day model of a population simulated by henderson-simulate (one trait),
# in place: each record becomes K test days, at days in milk 5 + 50 k + (an offset of the record, 0..39)
# for k = 0..K-1, in the herd-test-day of its herd-year-season and k (the cows of a herd-year-season share
# their test days) -- or with STAGGER S > 1, k + (the record's line mod S): the cows of a herd-year-season
# calve in S groups, each tested on days shifted by one test from the last, so that they share most but
# not all of their test days, as in a herd that calves all year; the model gets a fixed lactation curve and random regressions of degree 2 of the
# animal (pedigree) and of its permanent environment (iid, "pe") on the Legendre polynomials of days in
# milk over 5..305 (write their 305-day values with -rr_range 5,305). The yields are the record's value
# plus 0.01 k: PEV do not depend on them (the true values of the simulation do not apply).
#   sh benchmarks/test_day.sh DIR K [STAGGER]
set -eu
dir=$1 k=$2 stagger=${3:-1}
awk -v n="$k" -v s="$stagger" 'NR == 1 { print "animal htd dim weight"; next } {
  for (k = 0; k < n; k++) printf "%s %sT%d %d %.4f\n", $1, $2, k + NR % s, 5 + 50 * k + NR % 40, $5 + 0.01 * k
}' "$dir/data.txt" > "$dir/data_testday.txt"
mv "$dir/data_testday.txt" "$dir/data.txt"
awk '/^fixed  *hys/ { print "fixed     htd"; next } /^fixed  *sex/ || /^covariate/ { next }
  /^random  *animal pedigree/ {
    print "covariate dim legendre 2 range 5 305"
    print "random    animal pedigree legendre dim 2 range 5 305  0.3  0.03 0.05  -0.02 0.01 0.03"
    print "random    animal iid legendre dim 2 range 5 305  0.4  0.02 0.1  -0.03 0.01 0.05 as pe"; next }
  /^residual/ { print "residual  0.5"; next } { print }' "$dir/model.txt" > "$dir/model_testday.txt"
mv "$dir/model_testday.txt" "$dir/model.txt"
