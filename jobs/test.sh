#!/bin/sh
# The whole test suite: configures and builds if needed (build/), then runs every CTest test
# (unit, regression, bad-input; MPI tests at 1, 2 and 4 ranks). Then the same against PETSc with
# 64-bit indices (build64/, -DHENDERSON_PETSC64=ON) when it is installed (Debian: libpetsc64-real-dev);
# HENDERSON_TEST_PETSC64=0 skips that, HENDERSON_TEST_PETSC64=1 requires it. Extra arguments go to
# ctest, e.g.  sh jobs/test.sh -L unit   or   sh jobs/test.sh -R pedigree
set -e
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
ctest --test-dir build --output-on-failure -j "$jobs" "$@"

petsc64=${HENDERSON_TEST_PETSC64:-auto}
[ "$petsc64" = 0 ] && exit 0
if ! pkg-config --exists PETSc64; then
  if [ "$petsc64" = auto ]; then
    echo "jobs/test.sh: no PETSc with 64-bit indices (pkg-config PETSc64; Debian: libpetsc64-real-dev): that build is not tested"
    exit 0
  fi
  echo "jobs/test.sh: HENDERSON_TEST_PETSC64=$petsc64 but there is no PETSc with 64-bit indices (pkg-config PETSc64; Debian: libpetsc64-real-dev)" >&2
  exit 1
fi
echo "jobs/test.sh: the same tests against PETSc with 64-bit indices (build64/)"
cmake -S . -B build64 -DCMAKE_BUILD_TYPE=Release -DHENDERSON_PETSC64=ON
cmake --build build64 -j "$jobs"
ctest --test-dir build64 --output-on-failure -j "$jobs" "$@"
