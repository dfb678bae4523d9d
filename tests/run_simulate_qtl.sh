#!/bin/sh
# henderson-simulate --qtl: the genotypes written carry the QTL alleles that the true values were made
# of.  For every genotyped animal of the pedigree, the sum over qtl.txt of effect x copies of allele B
# (2 less the text digit, which counts A), less the founders' mean sum 2 f effect, must be the qtl column
# of true_bv.txt; the founders' genic variance sum 2 f (1 - f) effect^2 must be the asked share of h2;
# and the QTL must move the true values (the qtl column is no constant).  Both with founders in linkage
# equilibrium and with founders drawn from a historical population (--history).
#   sh run_simulate_qtl.sh HENDERSON-SIMULATE WORKDIR
set -eu
simulate=$1
for history in 0 30; do
dir=$2/history$history
rm -rf "$dir"
mkdir -p "$2"
"$simulate" --animals 3000 --genotyped 600 --snps 3000 --chromosomes 5 --missing-call 0 --qtl 150 --qtl-share 0.4 --h2 0.3 --history $history --out "$dir"
awk '
  FILENAME ~ /qtl.txt$/ && FNR > 1 { j = substr($1, 4) + 0; a[j] = $2; mean += 2 * $3 * $2; genic += 2 * $3 * (1 - $3) * $2 * $2; nq++; next }
  FILENAME ~ /genotypes.txt$/ { v = -mean; for (j in a) v += a[j] * (2 - substr($2, j, 1)); value[$1] = v; next }
  FILENAME ~ /true_bv.txt$/ && FNR > 1 && ($1 in value) {
    d = value[$1] - $3; if (d < 0) d = -d; if (d > worst) worst = d
    n++; s += $3; ss += $3 * $3
  }
  END {
    printf "%d QTL, %d genotyped animals with a true value, largest difference %.2e, genic variance %.6f, variance of the QTL values %.4f\n",
           nq, n, worst, genic, ss / n - (s / n) ^ 2
    if (nq != 150 || n < 500) { print "FAIL: too few QTL or animals compared"; exit 1 }
    if (worst > 1e-4) { print "FAIL: the genotypes do not give the QTL values of true_bv.txt"; exit 1 }
    if (genic < 0.1199 || genic > 0.1201) { print "FAIL: the genic variance is not 0.4 x 0.3"; exit 1 }
    if (ss / n - (s / n) ^ 2 < 0.01) { print "FAIL: the QTL values hardly vary"; exit 1 }
  }' "$dir/qtl.txt" "$dir/genotypes.txt" "$dir/true_bv.txt"
done
