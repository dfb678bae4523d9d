#!/bin/sh
# The whole test suite: configures and builds if needed (build/), then runs every CTest test
# (unit, regression, bad-input; MPI tests at 1, 2 and 4 ranks). Then the same against PETSc with
# 64-bit indices (build64/, -DHENDERSON_PETSC64=ON) when it is installed (Debian: libpetsc64-real-dev);
# HENDERSON_TEST_PETSC64=0 skips that, HENDERSON_TEST_PETSC64=1 requires it. And the fuzz test (below).
# Extra arguments go to ctest, e.g.  sh jobs/test.sh -L unit   or   sh jobs/test.sh -R pedigree
set -e
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
ctest --test-dir build --output-on-failure -j "$jobs" "$@"

# The fuzz test (label fuzz): the parsers under libFuzzer and AddressSanitizer, in a build of its own
# with clang (build-fuzz/, -DHENDERSON_FUZZ=ON) when clang and its libFuzzer are installed (Debian:
# clang, libclang-rt-14-dev); HENDERSON_TEST_FUZZ=0 skips it, =1 requires it. It runs
# HENDERSON_FUZZ_SECONDS (120) seconds.
fuzz=${HENDERSON_TEST_FUZZ:-auto}
if [ "$fuzz" != 0 ] && [ $# -eq 0 ]; then # not when the caller picked tests
  if command -v clang > /dev/null 2>&1 && echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
    clang -x c -fsanitize=fuzzer -o /dev/null - > /dev/null 2>&1; then
    echo "jobs/test.sh: the fuzz test (build-fuzz/)"
    CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DHENDERSON_FUZZ=ON -DHENDERSON_FUZZ_SECONDS="${HENDERSON_FUZZ_SECONDS:-120}"
    cmake --build build-fuzz -j "$jobs" --target fuzz_parsers
    ctest --test-dir build-fuzz --output-on-failure -L fuzz
  elif [ "$fuzz" = 1 ]; then
    echo "jobs/test.sh: HENDERSON_TEST_FUZZ=1 but clang with libFuzzer is not installed (Debian: clang libclang-rt-14-dev)" >&2
    exit 1
  else
    echo "jobs/test.sh: no clang with libFuzzer: the fuzz test is not run"
  fi
fi

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
