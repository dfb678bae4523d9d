/* henderson/records.h -- the per-rank records: the only thing kept from the data file.

   Each rank parses the lines of its own byte range of the data file. A record keeps its trait
   values (NaN where missing), its weight, and for every effect a level index (class effects, the
   class of a nested covariate, random effects) and/or a value (covariates, the covariate of a
   random regression). A record whose traits are all missing is left out; so is one with a missing
   covariate or weight (both counted). In a column that holds animal IDs -- one a pedigree effect
   uses -- 0, NA and . are unknown: no effect of that column on the record (a calf whose dam is not
   known has no maternal effects). Labels are numbered collectively afterwards (RecordsNumber()):
   level indices are then global and the same for any number of ranks.

   Levels live in level spaces: every pedigree effect has the pedigree's animals; the columns of
   one iid group share their labels; every other class effect has its own.

   A social effect's groups (pens) are built across ranks: every data line with a group is a member,
   whether it enters the equations or not (an animal without a record still acts on its mates), and
   each record learns its group's size and its mates' animals (RecordsGetSocial()). */
#ifndef HENDERSON_RECORDS_H
#define HENDERSON_RECORDS_H

#include <henderson/model.h>
#include <henderson/pedigree.h>

typedef struct _p_Records *Records;

typedef struct {
  PetscInt64 lines;                    /* data lines in the file (not counting header, blanks, comments) */
  PetscInt64 used;                     /* records that enter the equations */
  PetscInt64 missing_trait;            /* left out: every trait missing */
  PetscInt64 missing_covariate;        /* left out: a covariate or the weight missing */
  PetscInt64 values[MODEL_MAX_TRAITS]; /* trait values used, per trait */
  PetscReal  mean[MODEL_MAX_TRAITS], sd[MODEL_MAX_TRAITS], min[MODEL_MAX_TRAITS], max[MODEL_MAX_TRAITS]; /* of those values */
  /* the social effect's groups: every data line with a group is a member, records or not */
  PetscInt64 social_groups, social_members;
  PetscInt64 social_without_record;  /* members whose line was left out (traits or a covariate missing) */
  PetscInt64 social_unknown_animal;  /* members with no animal ID (0, NA, .): in the group size, no effect */
  PetscInt64 social_not_in_pedigree; /* members whose animal is not in the pedigree (added as founders) */
  PetscInt64 social_no_group;        /* records with no group (NA, ., empty): no mates */
  PetscInt64 social_alone;           /* groups of one member: no mates */
  PetscInt64 social_min, social_max; /* group sizes */
} RecordsStats;

/* How the records spread over the levels of one effect (RecordsComputeLevelStats()). */
typedef struct {
  PetscInt   levels; /* levels (for a pedigree effect: every animal) */
  PetscInt   levels_with_records;
  PetscInt64 records;           /* records with this effect (a known level) */
  PetscInt64 smallest, largest; /* records per level, over the levels with records */
  PetscReal  median;
  PetscInt64 not_in_pedigree; /* pedigree effects: records whose animal is not in the pedigree file (added as founders) */
} RecordsLevelStats;

PETSC_EXTERN PetscErrorCode RecordsCreate(MPI_Comm comm, Records *records);
PETSC_EXTERN PetscErrorCode RecordsDestroy(Records *records);
/* Collective. Reads this rank's part of the model's data file (and checks the model's columns
   against its header). Malformed lines are errors naming the file and the line. */
PETSC_EXTERN PetscErrorCode RecordsRead(Records records, Model model);
/* Collective, after RecordsComputeLevelStats(). The data file, per trait its values, per class effect its
   levels and records per level, the social groups: lines of the evaluation's summary. */
PETSC_EXTERN PetscErrorCode RecordsView(Records records, PetscViewer viewer);
/* Collective. Numbers the labels of every level space. Labels of the pedigree space are looked up
   among the pedigree's animals; those not found are appended to it as founders. */
PETSC_EXTERN PetscErrorCode RecordsNumber(Records records, Model model, Pedigree pedigree);
/* Not collective. After RecordsNumber(): level l of the level space of effect E becomes level
   POSITION[l], for every effect of that space (for the pedigree's animals, the records' side of
   PedigreePermute(); the labels of other spaces are permuted on rank 0). */
PETSC_EXTERN PetscErrorCode RecordsPermuteLevels(Records records, PetscInt e, const PetscInt position[]);
PETSC_EXTERN PetscErrorCode RecordsGetStats(Records records, RecordsStats *stats);
/* Collective, after RecordsNumber(). Counts the records of every level of every class effect (over the
   ranks, by a vector of the levels: no rank holds them all) into the statistics of RecordsGetLevelStats(). */
PETSC_EXTERN PetscErrorCode RecordsComputeLevelStats(Records records, Model model);
/* Not collective. Effect E's statistics; *has false for an effect without levels (a plain covariate). */
PETSC_EXTERN PetscErrorCode RecordsGetLevelStats(Records records, PetscInt e, PetscBool *has, RecordsLevelStats *stats);
/* Not collective. Number of records held by this rank. */
PETSC_EXTERN PetscErrorCode RecordsGetLocalSize(Records records, PetscInt *n);
/* Not collective. For effect E: the level of every local record (-1: no effect on this record, an
   unknown animal ID) and the covariate value (NULL when the effect has no covariate). LEVEL is NULL
   for a plain covariate (one level). */
PETSC_EXTERN PetscErrorCode RecordsGetEffect(Records records, PetscInt e, const PetscInt **level, const PetscReal **value);
/* Not collective. Trait values, record-major (n x traits, NaN = missing), and weights (NULL: all 1). */
PETSC_EXTERN PetscErrorCode RecordsGetTraits(Records records, const PetscReal **y);
PETSC_EXTERN PetscErrorCode RecordsGetWeights(Records records, const PetscReal **w);
/* Not collective. The centre and scale of covariate E: the equations use (x - centre) / scale (a
   plain covariate: mean and standard deviation; nested: 0 and root mean square; Legendre: 0 and 1),
   which keeps them well conditioned whatever the units; the output is in raw units. */
PETSC_EXTERN PetscErrorCode RecordsGetCovariateScaling(Records records, PetscInt e, PetscReal *centre, PetscReal *scale);
/* Not collective. The interval of effect E's covariate that the Legendre polynomials map to [-1, 1]. */
PETSC_EXTERN PetscErrorCode RecordsGetLegendreRange(Records records, PetscInt e, PetscReal range[2]);
/* Number of levels of effect E (the same on every rank) and, on rank 0, their labels by index
   (NULL elsewhere; for a pedigree effect, the pedigree's labels). A plain covariate has one level. */
PETSC_EXTERN PetscErrorCode RecordsGetLevels(Records records, PetscInt e, PetscInt *nlevels, LabelTable *labels);
/* Collective. COUNTS[level * ntraits + t]: records of every rank with effect E at that level and a
   value for trait t (only for traits the effect is in). The array has nlevels * ntraits entries. */
PETSC_EXTERN PetscErrorCode RecordsCountLevels(Records records, Model model, PetscInt e, PetscInt64 counts[]);

/* Not collective, after RecordsNumber(), for a model with a social effect: the size of every local
   record's group (members, the record itself included; 0 without a group), and its group mates'
   animal levels (-1: no ID), MATES[OFFSET[k]] .. MATES[OFFSET[k+1]-1], in the order of their lines;
   *MAX_MATES is the largest number of mates of any record (every rank). */
PETSC_EXTERN PetscErrorCode RecordsGetSocial(Records records, const PetscInt **offset, const PetscInt **mates, const PetscInt **size, PetscInt *max_mates);

/* Groups of the social effect may have at most this many members (pens, cages, tanks). */
#define RECORDS_MAX_SOCIAL_GROUP 256

/* Normalized Legendre polynomials sqrt((2k+1)/2) P_k(x), k = 0..order, at x in [-1, 1]. */
PETSC_EXTERN void RecordsLegendre(PetscInt order, PetscReal x, PetscReal phi[]);

#endif
