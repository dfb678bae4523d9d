#!/bin/sh
# Single-step genomic evaluation against the plain animal model on the same population: where the time and
# the memory of a genomic run go, and what H does to the iterations.
#
#   sh benchmarks/genomic.sh [BUILD] [animals] [genotyped] [snps] [ranks] [apy core] [results file] [qtl]
#     e.g.  sh benchmarks/genomic.sh build 100000 10000 50000 "1 2" 5000
#
# One population (henderson-simulate --genotyped: genotypes by gene dropping through the pedigree, text and
# PLINK), then for each rank count: the animal model without the genotypes line, single step with the exact
# G^-1 (text genotypes), the same from the PLINK files (reading compared), and single step with APY. A line
# per run: iterations, the seconds of reading the genotypes (read + quality control), of G, of A22, of the
# inverses, of the solve, the total, the peak memory of the largest rank. In the same run, the BLAS dgemm rate
# of G's block shape on every rank (henderson-gemm): G's flops (2 ng^2 SNPs) over its seconds against it.
# QTL of the SNPs (1000 unless given; 0 for neutral SNPs) carry half the genetic variance, the rest polygenic,
# and the founders come from a historical population of 200 after HISTORY generations (100 unless set):
# r(young) is the correlation of predicted and true values of the genotyped animals without a record.
# OPENBLAS_NUM_THREADS=1 (one thread a rank) unless set.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_setup "${1:-build}"
animals=${2:-100000}
genotyped=${3:-10000}
snps=${4:-50000}
ranks=${5:-"1 2"}
core=${6:-5000}
results=${7:-$here/RESULTS.md}
qtl=${8:-1000}
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
gemm=$build/benchmarks/henderson-gemm
[ -x "$gemm" ] || bench_die "$gemm is missing (build first)"

flags="--genotyped $genotyped --snps $snps --genotype-format both"
if [ "$qtl" -gt 0 ]; then flags="$flags --qtl $qtl --history ${HISTORY:-100}"; fi
dir=$(bench_simulate "$animals" "$flags")

# model_TAG.txt: the simulated model with its genotypes line changed by SED
variant() {
  sed -e "s/^output .*/output $1.h5/" -e "$2" "$dir/model.txt" > "$dir/model_$1.txt"
  grep -q "^output " "$dir/model_$1.txt" || echo "output $1.h5" >> "$dir/model_$1.txt"
}
variant animal '/^genotypes /d'
variant exact 's/^genotypes .*/genotypes genotypes.txt/'
variant plink 's/^genotypes .*/genotypes genotypes.bed/'
variant apy "s/^genotypes .*/genotypes genotypes.txt apy $core/"

{
  echo
  bench_header /dev/stdout "sh benchmarks/genomic.sh BUILD $animals $genotyped $snps \"$ranks\" $core RESULTS $qtl"
  echo "Population: henderson-simulate --animals $animals --shuffle $flags (genotypes by gene dropping, 30 chromosomes);"
  echo "OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS. Seconds of the genotypes phase (read, quality control), of G, A22 and the inverses"
  echo "(within assemble), of the solve; G's rate: 2 ng^2 SNPs flops over G's seconds, against dgemm in G's block shape."
  echo "r(young): the correlation of predicted and true breeding values of the genotyped animals without a record (their number)."
  echo
  echo "| ranks | run | iterations | genotypes s | G s | A22 s | inverses s | solve s | total s | peak MiB/rank | G GFlop/s | dgemm GFlop/s | r(young) |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} >> "$results"

for p in $ranks; do
  rate=$(mpirun -x OPENBLAS_NUM_THREADS -n "$p" "$gemm" --m $((genotyped / p)) --n "$genotyped" --k 1024 | sed -n 's/.*, \([0-9.]*\) GFlop\/s in all/\1/p')
  for run in animal exact plink apy; do
    log=$logs/genomic_${animals}_${genotyped}_${snps}_${p}_$run.txt
    rm -f "$dir/$run.h5"
    (cd "$dir" && mpirun -x OPENBLAS_NUM_THREADS -n "$p" "$henderson" solve "model_$run.txt") > "$log" 2>&1 || [ $? -eq 2 ] ||
      bench_die "$run failed on $p ranks: see $log"
    acc=$(bench_young "$dir/$run.h5" "$dir")
    rm -f "$dir/$run.h5"
    awk -v p="$p" -v run="$run" -v rate="$rate" -v acc="$acc" '
      function num(s) { gsub(/[,:]/, "", s); return s + 0 }
      /^  genotypes / { for (i = 1; i <= NF; i++) if ($i == "used") ng = num($(i - 1)) }
      / SNPs, / { for (i = 1; i <= NF; i++) if ($i == "used") snps = num($(i - 1)) }
      /seconds: G / { g = num($3); a22 = num($5); inv = num($7) }
      /^  solver/ { for (i = 1; i <= NF; i++) if ($i == "iterations,") it = $(i - 1) }
      /^  seconds  / { for (i = 2; i < NF; i += 2) { k = $i; x = $(i + 1); sub(",", "", x); v[k] = x } total = $NF }
      /^  memory/ { mem = $3 }
      END {
        grate = (g > 0) ? sprintf("%.1f", 2 * ng * ng * snps / g / 1e9) : "-"
        printf "| %d | %s | %d | %s | %s | %s | %s | %s | %s | %.0f | %s | %s | %s |\n", p, run, it, v["genotypes"] == "" ? "-" : v["genotypes"],
               g == "" ? "-" : g, a22 == "" ? "-" : a22, inv == "" ? "-" : inv, v["solve"], total, mem, grate, rate, acc
      }' "$log" >> "$results"
  done
done
echo >> "$results"
