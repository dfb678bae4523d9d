#!/bin/bash
# The same job under PBS/Torque:   qsub -v MODEL=path/to/model.txt jobs/pbs.sh
#PBS -N henderson
#PBS -l select=4:ncpus=32:mpiprocs=32
#PBS -l walltime=02:00:00
#PBS -j oe
set -euo pipefail
cd "${PBS_O_WORKDIR:-.}"
henderson=${HENDERSON:-./build/henderson}
mpirun "$henderson" solve "${MODEL:?qsub -v MODEL=path/to/model.txt}" -log_view
