#!/bin/sh
# Warm start: an evaluation started from the solutions of last month's (--initial), on the same data
# with 2 % of the animals and their records added, ends with the solutions of a cold start and takes
# fewer iterations; started from its own solutions it takes none (the way back from the written
# values -- covariates in raw units, the mean -- to the equations' unknowns is exact).
#   run_warm.sh MPIEXEC NPFLAG RANKS HENDERSON CHECK MODEL_DIR WORK
set -eu
mpiexec=$1 npflag=$2 ranks=$3 henderson=$4 check=$5 model_dir=$6 work=$7
rm -rf "$work"
mkdir -p "$work/previous" "$work/cold" "$work/warm"
for d in previous cold warm; do cp "$model_dir/model.txt" "$model_dir/data.txt" "$model_dir/pedigree.txt" "$work/$d/"; done
# last month: without the last 2 % of the pedigree's lines, and without those animals' records
lines=$(wc -l < "$model_dir/pedigree.txt")
keep=$((lines - lines / 50))
head -n "$keep" "$model_dir/pedigree.txt" > "$work/previous/pedigree.txt"
tail -n +$((keep + 1)) "$model_dir/pedigree.txt" | awk '{print $1}' > "$work/new_animals.txt"
awk 'NR == FNR { new[$1] = 1; next } FNR == 1 || !($1 in new)' "$work/new_animals.txt" "$model_dir/data.txt" > "$work/previous/data.txt"
solve() { (cd "$work/$1" && shift && "$mpiexec" "$npflag" "$ranks" "$henderson" solve model.txt -ksp_rtol 1e-14 "$@"); }
iterations() { sed -n 's/.*: \([0-9]*\) iterations.*/\1/p' "$1"; }

solve previous > "$work/previous.txt"
solve cold > "$work/cold.txt"
solve warm --initial "$work/previous/solutions.h5" > "$work/warm.txt"
cat "$work/warm.txt"
cold=$(iterations "$work/cold.txt")
warm=$(iterations "$work/warm.txt")
echo "iterations: cold $cold, warm $warm"
grep -q "initial .*levels found there" "$work/warm.txt" || { echo "FAIL: no initial line in the summary"; exit 1; }
[ "$warm" -lt "$cold" ] || { echo "FAIL: the warm start took $warm iterations, the cold one $cold"; exit 1; }
"$check" -same 1e-9 "$work/cold/solutions.h5" "$work/warm/solutions.h5"

# from its own solutions: nothing left to do
solve warm --initial "$work/cold/solutions.h5" > "$work/again.txt"
again=$(iterations "$work/again.txt")
echo "from its own solutions: $again iterations"
[ "$again" -eq 0 ] || { echo "FAIL: started from its own solutions it took $again iterations"; exit 1; }
