#!/bin/sh
# Single step at national scale: the factored block (APY's factors, A22^-1 through the sparse pedigree) against
# the plain animal model on the same population, with where the time and memory go, G's rate against the
# BLAS of this machine in the same run, and what the genotypes buy in prediction.
#
#   sh benchmarks/genomic_factored.sh [BUILD] [animals] [genotyped] [snps] [ranks] [apy core] [missing] [qtl] [results]
#     e.g.  sh benchmarks/genomic_factored.sh build 1000000 100000 50000 2 5000 0 1000
#
# One population (henderson-simulate --genotyped, PLINK, MISSING the fraction of missing calls: 0 as after
# imputation, which lets G's products run in single precision; QTL of the SNPs carry half the genetic
# variance, the rest polygenic, 0 for neutral SNPs; with QTL the founders come from a historical population
# of 200 after HISTORY generations, 100 unless set, for linkage disequilibrium), then for each rank count the animal model
# and single step with `apy CORE block factored`. A line per run: iterations, the seconds of reading the
# genotypes, of G's core columns, of A22's and the blending, of APY's factors and the A^11 blocks, of the
# solve, the total, the peak memory of the largest rank and over all ranks, G's rate (2 ng core SNPs flops
# over G's seconds) against sgemm and dgemm in G's block shape on every rank at once (henderson-gemm), the
# inner iterations a solve with A^11, and the correlation of the predicted and the true breeding values of
# the genotyped animals without a record (young candidates: what genomic selection is for).
# OPENBLAS_NUM_THREADS=1 (one thread a rank) unless set.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
bench_setup "${1:-build}"
animals=${2:-1000000}
genotyped=${3:-100000}
snps=${4:-50000}
ranks=${5:-"2"}
core=${6:-5000}
missing=${7:-0}
qtl=${8:-1000}
results=${9:-$here/RESULTS.md}
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
gemm=$build/benchmarks/henderson-gemm
[ -x "$gemm" ] || bench_die "$gemm is missing (build first)"

flags="--genotyped $genotyped --snps $snps --genotype-format plink --missing-call $missing"
if [ "$qtl" -gt 0 ]; then flags="$flags --qtl $qtl --history ${HISTORY:-100}"; fi
dir=$(bench_simulate "$animals" "$flags")
sed -e "s/^output .*/output animal.h5/" -e '/^genotypes /d' "$dir/model.txt" > "$dir/model_animal.txt"
sed -e "s/^output .*/output factored.h5/" -e "s/^genotypes .*/genotypes genotypes.bed apy $core block factored/" "$dir/model.txt" > "$dir/model_factored.txt"

{
  echo
  bench_header /dev/stdout "sh benchmarks/genomic_factored.sh BUILD $animals $genotyped $snps \"$ranks\" $core $missing $qtl"
  echo "Population: henderson-simulate --animals $animals --shuffle $flags; single step with \`apy $core block factored\`;"
  echo "OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS. Seconds of the genotypes phase (read, quality control), of G's core columns, of"
  echo "A22's and the blending, of APY's factors and the A^11 blocks (within assemble), of the solve. G's rate: 2 ng core SNPs"
  echo "flops over G's seconds, against sgemm and dgemm in its block shape (2048 x core x 1024, A'B) on every rank at once."
  echo "r(young): the correlation of predicted and true breeding values of the genotyped animals without a record (their number)."
  echo
  echo "| ranks | run | iterations | genotypes s | G s | A22 s | factors s | solve s | total s | peak MiB/rank | MiB all ranks | G GFlop/s | sgemm GFlop/s | dgemm GFlop/s | A^11 its/solve | r(young) |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} >> "$results"

for p in $ranks; do
  srate=$(mpirun -x OPENBLAS_NUM_THREADS -n "$p" "$gemm" --m 2048 --n "$core" --k 1024 --precision single --layout tn | sed -n 's/.*, \([0-9.]*\) GFlop\/s in all/\1/p')
  drate=$(mpirun -x OPENBLAS_NUM_THREADS -n "$p" "$gemm" --m 2048 --n "$core" --k 1024 --precision double --layout tn | sed -n 's/.*, \([0-9.]*\) GFlop\/s in all/\1/p')
  for run in animal factored; do
    log=$logs/genomic_factored_${animals}_${genotyped}_${snps}_${p}_$run.txt
    rm -f "$dir/$run.h5"
    (cd "$dir" && mpirun -x OPENBLAS_NUM_THREADS -n "$p" "$henderson" solve "model_$run.txt") > "$log" 2>&1 || [ $? -eq 2 ] ||
      bench_die "$run failed on $p ranks: see $log"
    acc=$(bench_young "$dir/$run.h5" "$dir")
    rm -f "$dir/$run.h5"
    awk -v p="$p" -v run="$run" -v srate="$srate" -v drate="$drate" -v core="$core" -v acc="$acc" '
      function num(s) { gsub(/[,:]/, "", s); return s + 0 }
      /^  genotypes / { for (i = 1; i <= NF; i++) if ($i == "used") ng = num($(i - 1)) }
      / SNPs, / { for (i = 1; i <= NF; i++) if ($i == "used") snps = num($(i - 1)) }
      /seconds: G / { g = num($3); a22 = num($5); inv = num($7) }
      /A\^11 solves/ { inner = $4 }
      /^  solver/ { for (i = 1; i <= NF; i++) if ($i == "iterations,") it = $(i - 1) }
      /^  seconds  / { for (i = 2; i < NF; i += 2) { k = $i; x = $(i + 1); sub(",", "", x); v[k] = x } total = $NF }
      /^  memory/ { mem = $3; all = $9 }
      END {
        grate = (g > 0) ? sprintf("%.1f", 2 * ng * core * snps / g / 1e9) : "-"
        printf "| %d | %s | %d | %s | %s | %s | %s | %s | %s | %.0f | %.0f | %s | %s | %s | %s | %s |\n", p, run, it,
               v["genotypes"] == "" ? "-" : v["genotypes"], g == "" ? "-" : g, a22 == "" ? "-" : a22, inv == "" ? "-" : inv, v["solve"], total,
               mem, all, grate, srate, drate, inner == "" ? "-" : inner, acc
      }' "$log" >> "$results"
  done
done
echo >> "$results"
