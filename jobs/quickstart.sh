#!/bin/sh
# From a fresh Debian 12 machine (as root): installs what is missing, builds, and runs the main job,
# an animal-model evaluation of the simulated population in pedigrees/example, on 2 MPI ranks.
set -e
cd "$(dirname "$0")/.."
packages="petsc-dev libhdf5-openmpi-dev libsuitesparse-dev openmpi-bin cmake pkg-config gcc make libopenblas0-pthread"
if ! dpkg -s $packages >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y $packages
fi
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 # one BLAS thread a rank: the ranks use the cores
mpirun -n 2 build/henderson solve pedigrees/example/model.txt
echo "the ten first animals (ID, EBV):"
build/henderson export pedigrees/example/solutions.h5 animal | head -n 10
