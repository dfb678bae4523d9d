#!/bin/sh
# The whole test suite: configures and builds if needed (build/), then runs every CTest test
# (unit, regression, bad-input; MPI tests at 1, 2 and 4 ranks). Extra arguments go to ctest,
# e.g.  sh jobs/test.sh -L unit   or   sh jobs/test.sh -R pedigree
set -e
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
ctest --test-dir build --output-on-failure -j "$jobs" "$@"
