#!/bin/sh
# Sampled PEV with several data sets a pass (-pev_sample_block K: CGs in lockstep sharing each product with C)
# gives the same numbers as one data set at a time for the same seeds: a simulated two-trait population of
# 2000 animals, 8 samples, blocks of 1, 3 (3 + 3 + 2) and 8, on N ranks; PEV of the animals' two traits and of
# the herd-year-seasons agree to 1e-6 (the solver's tolerance, 1e-10, not the bit: other reductions).
#   sh run_pev_sample_block.sh MPIEXEC NPFLAG N SIMULATE HENDERSON CHECK WORKDIR
set -eu
mpiexec=$1 npflag=$2 n=$3 simulate=$4 henderson=$5 check=$6 dir=$7
rm -rf "$dir"
mkdir -p "$dir"
"$simulate" --animals 2000 --generations 4 --herds 20 --seed 11 --traits 2 --out "$dir" > "$dir/simulate.log"
cd "$dir"
for k in 1 3 8; do
  # shellcheck disable=SC2086
  "$mpiexec" $npflag "$n" "$henderson" solve model.txt --pev sample -pev_samples 8 -pev_sample_block $k -ksp_rtol 1e-10 > block_$k.log
  mv solutions.h5 block_$k.h5
done
failed=0
for k in 3 8; do
  for effect in animal hys; do
    "$check" -agree pev "$effect" 0.9999999 0.99999 1.00001 1e-6 block_1.h5 block_$k.h5 || failed=1
  done
done
grep "pev  *sample" block_8.log
exit $failed
