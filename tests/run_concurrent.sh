#!/bin/sh
# Two evaluations of the same model at the same time, both writing checkpoints beside the same output:
# each writes its checkpoints and output under names no other run uses and renames them into place, so
# both end normally (once, one died: "cannot rename the checkpoint into place"), the output is whole,
# and nothing temporary is left.
#   run_concurrent.sh MPIEXEC NPFLAG HENDERSON CHECK MODEL_DIR WORK
set -u
mpiexec=$1 npflag=$2 henderson=$3 check=$4 model_dir=$5 work=$6
rm -rf "$work"
mkdir -p "$work"
cp "$model_dir/model.txt" "$model_dir/data.txt" "$model_dir/pedigree.txt" "$work/"
cd "$work"
run() { "$mpiexec" "$npflag" 1 "$henderson" solve model.txt -quiet -ksp_rtol 1e-12 -checkpoint_every 1 > "out.$1" 2>&1; echo $? > "exit.$1"; }
run a & run b & wait
cat out.a out.b
[ "$(cat exit.a)" -eq 0 ] && [ "$(cat exit.b)" -eq 0 ] || { echo "run_concurrent: a run failed"; exit 1; }
left=$(ls -A | grep -v -e '^model.txt$' -e '^data.txt$' -e '^pedigree.txt$' -e '^solutions.h5$' -e '^out\.' -e '^exit\.')
[ -z "$left" ] || { echo "run_concurrent: left behind: $left"; exit 1; }
printf 'attribute /solver converged 1 0\nlevels animal 20000\n' > expected.txt
"$check" solutions.h5 expected.txt || exit 1
echo "run_concurrent: both runs ended normally; one whole output, nothing temporary left"
