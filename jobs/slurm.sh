#!/bin/bash
# A national evaluation as a Slurm batch job:   sbatch jobs/slurm.sh path/to/model.txt
# One MPI rank per core; the pedigree is processed on rank 0, so give the job's first node the
# memory for it (about 100 bytes per animal plus the IDs, see README "Memory").
#SBATCH --job-name=henderson
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=32
#SBATCH --time=02:00:00
#SBATCH --output=henderson-%j.log
set -euo pipefail
model=${1:?usage: sbatch jobs/slurm.sh MODEL_FILE [PETSc options]}
shift
henderson=${HENDERSON:-$(dirname "$0")/../build/henderson}
# -log_view: where the time went, per phase (HdRead ... HdWrite) and per PETSc operation.
srun "$henderson" solve "$model" -log_view "$@"
