#!/bin/sh
# Communication of one product of the factored single-step block (PETSc log stage "Genomic product":
# the sparse A^-1 blocks' ghost exchanges and the inner CG on A^11), 2 to 64 ranks, oversubscribed where
# the ranks outnumber the cores: the counts do not depend on the speed.
#
#   sh benchmarks/genomic_communication.sh [BUILD] [animals] [genotyped] [snps] [ranks] [apy core] [results]
#     e.g.  sh benchmarks/genomic_communication.sh build 50000 5000 2000 "2 4 8 16 32 64" 1000
#
# A line per rank count: the products (columns: solves with A^11), PETSc's messages and bytes in the stage
# per product (all ranks, and the largest rank's share as the average), its reductions per product, the inner
# iterations a solve. Not in PETSc's counts: APY's two MPI_Allreduce of the core's values a product
# (2 x core x 8 bytes each, log2(ranks) steps), added as a column.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_setup "${1:-build}"
animals=${2:-50000}
genotyped=${3:-5000}
snps=${4:-2000}
ranks=${5:-"2 4 8 16 32 64"}
core=${6:-1000}
results=${7:-$here/RESULTS.md}
flags="--genotyped $genotyped --snps $snps --genotype-format plink --missing-call 0"
dir=$(bench_simulate "$animals" "$flags")
sed -e "s/^output .*/output comm.h5/" -e "s/^genotypes .*/genotypes genotypes.bed apy $core block factored/" "$dir/model.txt" > "$dir/model_comm.txt"
{
  echo
  bench_header /dev/stdout "sh benchmarks/genomic_communication.sh BUILD $animals $genotyped $snps \"$ranks\" $core"
  echo "Population: henderson-simulate --animals $animals --shuffle $flags; \`apy $core block factored\`. PETSc's counts in the"
  echo "log stage \"Genomic product\" over the products of the solve (all ranks); APY's allreduces added by hand."
  echo
  echo "| ranks | products | messages/product (all ranks) | KiB/product (all ranks) | reductions/product | A^11 its/solve | APY allreduce KiB/product a rank |"
  echo "|---|---|---|---|---|---|---|"
} >> "$results"
for p in $ranks; do
  log=$logs/genomic_communication_${animals}_${genotyped}_${p}.txt
  rm -f "$dir/comm.h5"
  (cd "$dir" && mpirun -n "$p" "$henderson" solve model_comm.txt -log_view) > "$log" 2>&1 || bench_die "$p ranks failed: see $log"
  rm -f "$dir/comm.h5"
  awk -v p="$p" -v core="$core" '
    /A\^11 solves:/ { products = $3 + 0; its = $4 + 0 }
    /^ *[0-9]+: *Genomic product:/ { n = split($0, f, " "); msgs = f[n - 5]; len = f[n - 3]; red = f[n - 1] }
    END {
      if (!products) { print "| " p " | - | - | - | - | - | - |"; exit }
      printf "| %d | %d | %.0f | %.1f | %.1f | %s | %.1f |\n", p, products, msgs / products, msgs * len / products / 1024, red / products, its,
             2 * 2 * core * 8 / 1024
    }' "$log" >> "$results"
done
echo >> "$results"
