#!/bin/sh
# The prefetches of the hot loops are in the machine code. A helper whose only effect is
# __builtin_prefetch() is found pure by gcc and its calls are deleted (HENDERSON_PREFETCH_INLINE in
# include/henderson/sys.h); that cost the data operator 30 % at 10^7 animals without any test noticing.
# Counts the prefetch instructions of the objects that must have them: the pedigree product
# (relationship_pedigree.c), the label table's batched look-ups (labels.c), the several-trait records
# kernel (mme_data.c) and the inbreeding sweeps (pedigree_inbreeding.c).
#   sh run_prefetch_check.sh "OBJECT;OBJECT;..."   ($<TARGET_OBJECTS:henderson_core>)
set -eu
command -v objdump > /dev/null || { echo "objdump is needed (binutils)"; exit 1; }
status=0
for source in relationship_pedigree labels mme_data pedigree_inbreeding; do
  object=$(echo "$1" | tr ';' '\n' | grep "/$source\.c\.o$" || true)
  if [ -z "$object" ]; then
    echo "FAIL: no object for $source.c in the list"
    status=1
    continue
  fi
  n=$(objdump -d "$object" | grep -c prefetch || true)
  if [ "$n" -gt 0 ]; then
    echo "ok    $source.c: $n prefetch instructions"
  else
    echo "FAIL: $source.c: no prefetch instruction (the compiler deleted them)"
    status=1
  fi
done
exit $status
