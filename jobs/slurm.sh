#!/bin/bash
# A national evaluation as a Slurm batch job:   sbatch jobs/slurm.sh path/to/model.txt [options]
# One MPI rank per core; the pedigree is processed on rank 0, so give the job's first node the
# memory for it (about 150 bytes per animal plus the IDs at its peak, see README "Memory").
#
# Long solves survive preemption and node failures: the state of the solve is written every 30
# minutes (-checkpoint_minutes) beside the output, and the job is requeued when it is killed; every
# start runs with --restart, which goes on from the last checkpoint when there is one (and starts
# from the beginning when there is none, as on the first start). The checkpoint is removed once
# the solutions are written. --initial LAST_MONTH.h5 starts the solve from an earlier evaluation.
#SBATCH --job-name=henderson
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=32
#SBATCH --time=02:00:00
#SBATCH --output=henderson-%j.log
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --signal=B:TERM@120
set -euo pipefail
model=${1:?usage: sbatch jobs/slurm.sh MODEL_FILE [henderson and PETSc options]}
shift
# Slurm runs a copy of this script from its spool directory: paths relative to the submission
cd "${SLURM_SUBMIT_DIR:-.}"
henderson=${HENDERSON:-$SLURM_SUBMIT_DIR/build/henderson}
# one BLAS thread a rank (the ranks fill the cores; the genomic set-up's dense algebra is BLAS)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
echo "henderson job $SLURM_JOB_ID, start ${SLURM_RESTART_COUNT:-0}: $(date)"
# -log_view: where the time went, per phase (HdRead ... HdWrite) and per PETSc operation.
# A TERM before the time limit (--signal) ends the run; the job is requeued and resumes.
trap 'echo "henderson: time limit near: requeueing"; scontrol requeue "$SLURM_JOB_ID"' TERM
srun "$henderson" solve "$model" --restart -checkpoint_minutes 30 -log_view "$@" &
wait $!
