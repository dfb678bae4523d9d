/* henderson/records.h -- the per-rank records: the only thing kept from the data file.

   Each rank parses the lines of its own byte range of the data file. A record keeps, for every
   effect of the model, a level index (class effects) or a value (covariates), and its trait value.
   A record whose trait is NA, '.' or empty is left out (counted as skipped); so is a record with a
   missing covariate. Labels are numbered collectively afterwards (RecordsNumber()): level indices
   are then global and the same for any number of ranks. */
#ifndef HENDERSON_RECORDS_H
#define HENDERSON_RECORDS_H

#include <henderson/model.h>
#include <henderson/pedigree.h>

typedef struct _p_Records *Records;

typedef struct {
  PetscInt64 lines;             /* data lines in the file (not counting header, blanks, comments) */
  PetscInt64 used;              /* records that enter the equations */
  PetscInt64 missing_trait;     /* left out: trait missing */
  PetscInt64 missing_covariate; /* left out: a covariate missing */
} RecordsStats;

PETSC_EXTERN PetscErrorCode RecordsCreate(MPI_Comm comm, Records *records);
PETSC_EXTERN PetscErrorCode RecordsDestroy(Records *records);
/* Collective. Reads this rank's part of the model's data file (and checks the model's columns
   against its header). Malformed lines are errors naming the file and the line. */
PETSC_EXTERN PetscErrorCode RecordsRead(Records records, Model model);
/* Collective. Numbers the labels of every class effect. Labels of a pedigree effect are looked up
   among the pedigree's animals; those not found are appended to it as founders. */
PETSC_EXTERN PetscErrorCode RecordsNumber(Records records, Model model, Pedigree pedigree);
PETSC_EXTERN PetscErrorCode RecordsGetStats(Records records, RecordsStats *stats);
/* Not collective. Number of records held by this rank. */
PETSC_EXTERN PetscErrorCode RecordsGetLocalSize(Records records, PetscInt *n);
/* Not collective. For effect E: the level of every local record (class effects; -1 = no effect, an
   unknown animal ID of a pedigree effect) or its value (covariates). The other array is NULL. */
PETSC_EXTERN PetscErrorCode RecordsGetEffect(Records records, PetscInt e, const PetscInt **level, const PetscReal **value);
PETSC_EXTERN PetscErrorCode RecordsGetTrait(Records records, const PetscReal **y);
/* Not collective. The centre (mean) and scale (standard deviation) of covariate E over the records
   used. The equations use (x - centre) / scale, which keeps them well conditioned whatever the units;
   the output is transformed back to the raw covariate (see EvaluationWrite()). */
PETSC_EXTERN PetscErrorCode RecordsGetCovariateScaling(Records records, PetscInt e, PetscReal *centre, PetscReal *scale);
/* Number of levels of effect E (the same on every rank) and, on rank 0, their labels by index
   (NULL elsewhere; for a pedigree effect, the pedigree's labels). */
PETSC_EXTERN PetscErrorCode RecordsGetLevels(Records records, PetscInt e, PetscInt *nlevels, LabelTable *labels);

#endif
