#!/bin/bash
# The same job under PBS/Torque:   qsub -v MODEL=path/to/model.txt jobs/pbs.sh
# (options for henderson or PETSc in OPTIONS: qsub -v MODEL=...,OPTIONS="-ksp_rtol 1e-10" ...)
#
# Rerunnable (-r y): a job killed by preemption or a node failure is run again from the top, and
# --restart makes the solve go on from the last checkpoint (written every 30 minutes beside the
# output; none on the first start: then the solve starts from the beginning).
#PBS -N henderson
#PBS -l select=4:ncpus=32:mpiprocs=32
#PBS -l walltime=02:00:00
#PBS -j oe
#PBS -r y
set -euo pipefail
cd "${PBS_O_WORKDIR:-.}"
henderson=${HENDERSON:-./build/henderson}
# one BLAS thread a rank (the ranks fill the cores; the genomic set-up's dense algebra is BLAS)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
echo "henderson job ${PBS_JOBID:-?}: $(date)"
# shellcheck disable=SC2086 # OPTIONS is a list of options
mpirun -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS "$henderson" solve "${MODEL:?qsub -v MODEL=path/to/model.txt}" --restart -checkpoint_minutes 30 -log_view ${OPTIONS:-}
