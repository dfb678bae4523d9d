#!/bin/sh
# A disk that fills while the output is written: one clean error ("henderson: error: ... no space
# left" or "... a file size limit"), every rank exits non-zero, no hang, nothing left where the output
# was to go, and the inputs unchanged byte for byte. The disk is a 1.2 MB tmpfs where this user may
# mount one (root in a container), else a file size limit (ulimit -f) on henderson alone -- with Open
# MPI's TCP transport, as its shared-memory one would trip over the limit first.
#   run_full_disk.sh MPIEXEC NPFLAG RANKS HENDERSON MODEL_DIR WORK
set -u
mpiexec=$1 npflag=$2 ranks=$3 henderson=$4 model_dir=$5 work=$6
rm -rf "$work"
mkdir -p "$work/disk"
cp "$model_dir/model.txt" "$model_dir/data.txt" "$model_dir/pedigree.txt" "$work/"
sed -i 's|^output .*|output disk/solutions.h5|' "$work/model.txt"
grep -q '^output disk/solutions.h5' "$work/model.txt" || echo 'output disk/solutions.h5' >> "$work/model.txt"
before=$(cd "$work" && sha256sum model.txt data.txt pedigree.txt)
limit=""
if [ "${HENDERSON_FULL_DISK:-}" != ulimit ] && mount -t tmpfs -o size=1200k tmpfs "$work/disk" 2> /dev/null; then
  mode=tmpfs
else
  mode="ulimit -f"
  limit="ulimit -f 600;"
  export OMPI_MCA_btl=self,tcp
fi
cd "$work"
timeout 90 "$mpiexec" "$npflag" "$ranks" sh -c "$limit \"$henderson\" solve model.txt -quiet; echo \$? > exit.\$OMPI_COMM_WORLD_RANK" > out.txt 2> err.txt
status=$?
[ "$mode" = tmpfs ] && left=$(ls -A disk) && umount disk || left=$(ls -A disk)
cat err.txt
fail() { echo "run_full_disk ($mode): $*"; exit 1; }
[ $status -eq 124 ] && fail "henderson hung"
for r in $(seq 0 $((ranks - 1))); do
  [ -f exit.$r ] || fail "rank $r did not finish"
  [ "$(cat exit.$r)" -ne 0 ] || fail "rank $r exited with 0"
done
[ "$(grep -c 'henderson: error: ' err.txt)" -eq 1 ] || fail "not exactly one error line"
grep -q 'henderson: error: disk/solutions.h5: cannot write the output: \(no space left on the device\|the file would exceed a file size limit\)' err.txt || fail "not the expected message"
[ -z "$left" ] || fail "left on the disk: $left"
[ "$(sha256sum model.txt data.txt pedigree.txt)" = "$before" ] || fail "an input changed"
echo "run_full_disk ($mode): one clean error on $ranks ranks, nothing left"
