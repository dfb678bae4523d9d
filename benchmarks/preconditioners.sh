#!/bin/sh
# Iterations of CG with the default preconditioner (point-block Jacobi over the traits, correlated
# effects and regression coefficients of a level; plain Jacobi where all blocks have one row) against
# plain Jacobi, for every worked example in pedigrees/ (and the simulated populations given).
#
#   sh benchmarks/preconditioners.sh [build-dir] [extra model files...]
#
# Prints a Markdown table; rtol 1e-10 on the true residual.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
shift 2>/dev/null || true
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| example | equations | default preconditioner | iterations | plain Jacobi iterations |"
echo "|---|---|---|---|---|"
for model in "$here"/../pedigrees/*/model*.txt "$@"; do
  dir=$(dirname "$model")
  name=$(basename "$dir")/$(basename "$model" .txt)
  cp -r "$dir" "$tmp/case"
  default=$(cd "$tmp/case" && "$build/henderson" solve "$(basename "$model")" -ksp_rtol 1e-10)
  jacobi=$(cd "$tmp/case" && "$build/henderson" solve "$(basename "$model")" -ksp_rtol 1e-10 -pc_type jacobi)
  equations=$(echo "$default" | sed -n 's/^  equations *\([0-9]*\).*/\1/p')
  pc=$(echo "$default" | sed -n 's/^  solver *[a-z]* + \([a-z]*\):.*/\1/p')
  it=$(echo "$default" | sed -n 's/^  solver.*: \([0-9]*\) iterations.*/\1/p')
  jit=$(echo "$jacobi" | sed -n 's/^  solver.*: \([0-9]*\) iterations.*/\1/p')
  echo "| $name | $equations | $pc | $it | $jit |"
  rm -rf "$tmp/case"
done
