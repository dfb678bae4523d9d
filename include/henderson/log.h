/* henderson/log.h -- one PetscLogEvent per phase, registered in one place, so that -log_view
   reads like the data flow: read -> pedigree -> number -> assemble -> solve -> pev -> write. */
#ifndef HENDERSON_LOG_H
#define HENDERSON_LOG_H

#include <henderson/sys.h>

typedef enum {
  HENDERSON_PHASE_READ,      /* model file and data file into per-rank records */
  HENDERSON_PHASE_PEDIGREE,  /* pedigree: read, check, order, inbreeding, A-inverse */
  HENDERSON_PHASE_GENOTYPES, /* genotypes: read, quality control (G and its inverse: in assemble, genotypes.h) */
  HENDERSON_PHASE_NUMBER,    /* labels to global level numbers */
  HENDERSON_PHASE_ASSEMBLE,  /* mixed model equations */
  HENDERSON_PHASE_SOLVE,     /* preconditioned conjugate gradient */
  HENDERSON_PHASE_PEV,       /* prediction error variances (when asked for) */
  HENDERSON_PHASE_WRITE,     /* HDF5 */
  HENDERSON_NUM_PHASES
} HendersonPhase;

PETSC_EXTERN const char *const HendersonPhaseNames[];
PETSC_EXTERN PetscLogEvent     HendersonPhaseEvents[];
/* Genomic product: the factored single-step block's products (messages and bytes of its own, -log_view). */
PETSC_EXTERN PetscLogStage HendersonStageAssemble, HendersonStageSolve, HendersonStageGenomic;
/* The parts of a product with the iteration-on-data operator: gathering the ghost values, the
   records, the pedigree (and iid) terms, and adding the ghost rows into their owners. */
PETSC_EXTERN PetscLogEvent HendersonEventMultGather, HendersonEventMultRecords, HendersonEventMultRelationships, HendersonEventMultScatter;

/* Progress on long phases: lines "henderson: ..." on standard error from rank 0, at most one every
   -progress_interval seconds (5); -quiet silences them (and the summary). Not collective: every
   rank may ask, only rank 0 prints. HendersonProgressDue() is cheap enough for an inner loop's
   every few thousand turns. */
PETSC_EXTERN PetscBool HendersonProgressDue(void);
PETSC_EXTERN void      HendersonProgressPrintf(const char format[], ...) PETSC_ATTRIBUTE_FORMAT(1, 2);

/* Collective. Reads -quiet and -progress_interval (before that, HendersonProgressDue() reads them itself). */
PETSC_EXTERN PetscErrorCode HendersonLogSetFromOptions(MPI_Comm comm);
/* Registers the events and stages (idempotent). Not collective. */
PETSC_EXTERN PetscErrorCode HendersonLogInitialize(void);

#endif
