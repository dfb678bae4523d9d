/* henderson/output.h -- the HDF5 solutions file, the contract other tools read.

     /                       attributes: program, version, model (the model file's text)
     /solutions/NAME/level   strings, the labels exactly as read, one per level
     /solutions/NAME/value   float64 [levels, traits x coefficients]
     /solutions/NAME/inbreeding  float64 [levels] (pedigree effects)
     /solutions/NAME/pedigree_line  int64 [levels] (pedigree effects): the line of the pedigree file
                             that lists the animal (0: not listed), for export in the file's order
     /solutions/NAME/ancestry  uint64 [levels] (pedigree effects): a fingerprint of the animal's ancestry;
                             --initial FILE keeps the F of animals whose fingerprint is unchanged
     /solutions/NAME/pev, sep    float64 [levels, traits x coefficients] (with -pev): prediction error
                             variance (var(b_hat) for fixed effects) and its square root
     /solutions/NAME/reliability float64, the same shape (random effects, with -pev)
     /solutions/NAME/pev_block   float64 [levels, order x order]: the first effect of a random statement of
                             order > 1 (several traits, correlated effects): the PEV (co)variance block of
                             each level, in G0's order
                             attributes: kind, structure, traits, columns, covariance (and
                             variance), constrained_level, covariate, legendre, range
     /solutions/NAME_groups  unknown-parent groups of a pedigree effect, the same layout
     /solver                 attributes: iterations, relative_residual, converged, equations,
                             nonzeros, ranks, seconds_<phase> for every phase, ...
     /data, /pedigree        attributes: the counts of the summary

   Written with parallel HDF5 (each rank writes its own rows in one collective call per dataset)
   to PATH.tmp-<pid>, renamed to PATH by OutputCommit(); a run that fails before removes it. */
#ifndef HENDERSON_OUTPUT_H
#define HENDERSON_OUTPUT_H

#include <henderson/labels.h>

typedef struct _p_Output *Output;

/* One effect's solutions, as this rank holds them. */
typedef struct {
  const char       *name;
  const char       *kind;         /* "fixed", "covariate", "random", "groups" */
  const char       *structure;    /* "none", "iid", "pedigree" */
  PetscInt          nlevels;      /* global */
  PetscInt          ncolumns;     /* traits x coefficients */
  LabelTable        labels;       /* rank 0: all labels by level; NULL elsewhere */
  LabelTable        local_labels; /* or every rank: the labels of levels inbreeding_start.. (the animals as the pedigree was distributed) */
  PetscInt          level_start;  /* this rank's rows: level_start .. level_start+level_count-1 */
  PetscInt          level_count;
  const PetscReal  *values;                  /* level_count * ncolumns, row-major */
  const PetscReal  *pev, *sep, *reliability; /* like values, or NULL: prediction error variance, its root, 1 - pev / ((1 + F) sigma2) */
  const PetscReal  *pev_block;               /* NULL, or per level the block_dim x block_dim PEV (co)variances of its random group */
  PetscInt          block_dim;
  const PetscReal  *inbreeding; /* inbreeding_count values for levels inbreeding_start.., or NULL */
  PetscInt          inbreeding_start, inbreeding_count;
  const PetscInt64 *pedigree_line; /* NULL, or the same levels' lines in the pedigree file (0: not listed) */
  const uint64_t   *ancestry;      /* NULL, or the same levels' ancestry fingerprints */
  /* attributes */
  const char      *traits;      /* the traits the effect is in, comma-separated */
  const char      *columns;     /* the columns of value, comma-separated ("FAT" or "FAT:0,FAT:1,...") */
  PetscInt         ncovariance; /* random effects: the (co)variance matrix G0 of their group, row-major */
  const PetscReal *covariance;
  PetscInt         nconstrained; /* per trait of the model: the level set to zero, or -1 */
  const PetscInt  *constrained;
  const char      *covariate; /* covariates and random regressions: the covariate ("" otherwise) */
  PetscInt         legendre;  /* Legendre order, -1 for none */
  PetscReal        range[2];  /* the covariate interval mapped to [-1, 1] */
} OutputEffect;

typedef enum { OUTPUT_INT, OUTPUT_REAL, OUTPUT_STRING } OutputAttributeType;

/* What is at a path: nothing, a solutions file of henderson (root attribute program = "henderson"), a
   checkpoint of its solver, or anything else (another file, a directory, a pipe). */
typedef enum { OUTPUT_FILE_NONE, OUTPUT_FILE_SOLUTIONS, OUTPUT_FILE_CHECKPOINT, OUTPUT_FILE_OTHER } OutputFileKind;
/* Not collective. */
PETSC_EXTERN PetscErrorCode OutputGetFileKind(const char path[], OutputFileKind *kind);

/* Collective. Options of tests: -henderson_output_fail_rank R -henderson_output_fail_at K make the K-th
   HDF5 call of every output fail on rank R alone, as a full disk would (every rank must then stop). */
PETSC_EXTERN PetscErrorCode OutputSetFromOptions(MPI_Comm comm);
/* Collective. Creates PATH.tmp-<pid of rank 0>-<random> for writing, and claims disk space for it as it
   grows (a full disk is an error on every rank before HDF5 writes, not a hang inside it). */
PETSC_EXTERN PetscErrorCode OutputCreate(MPI_Comm comm, const char path[], Output *output);
/* Collective. Writes /solutions/NAME for one effect. */
PETSC_EXTERN PetscErrorCode OutputWriteEffect(Output output, const OutputEffect *effect);
/* Collective (same values on every rank). Sets an attribute of GROUP (created if needed; "/" for the root). */
PETSC_EXTERN PetscErrorCode OutputSetAttribute(Output output, const char group[], const char name[], OutputAttributeType type, const void *value);
/* Collective (same values on every rank). An attribute of N reals or N integers. */
PETSC_EXTERN PetscErrorCode OutputSetAttributeArray(Output output, const char group[], const char name[], OutputAttributeType type, PetscInt n,
                                                    const void *values);
/* Collective (same values on every rank). A small float64 dataset GROUP/NAME [ROWS, COLUMNS] (COLUMNS 0: one-dimensional). */
PETSC_EXTERN PetscErrorCode OutputWriteMatrix(Output output, const char group[], const char name[], PetscInt rows, PetscInt columns, const PetscReal values[]);
/* Collective. Closes the file and renames it to PATH. */
PETSC_EXTERN PetscErrorCode OutputCommit(Output output);
/* Collective. Closes; removes the temporary file unless committed. Safe on NULL. */
PETSC_EXTERN PetscErrorCode OutputDestroy(Output *output);

/* Not collective: serial reading of one effect of a solutions file (for export and tests).
   LABELS is an array of nlevels strings in one allocation, VALUES nlevels*ncolumns row-major;
   free both with PetscFree(). INBREEDING is NULL when the effect has none. */
PETSC_EXTERN PetscErrorCode OutputReadEffect(const char path[], const char name[], PetscInt *nlevels, PetscInt *ncolumns, char ***labels, PetscReal **values,
                                             PetscReal **inbreeding);
/* Not collective: the ancestry fingerprints of effect NAME (NULL, 0 when it has none); PetscFree() them. */
PETSC_EXTERN PetscErrorCode OutputReadEffectAncestry(const char path[], const char name[], PetscInt *nlevels, uint64_t **ancestry);
/* Not collective: another [levels, columns] dataset of an effect ("pev", "sep", "reliability", ...); free with PetscFree(). */
PETSC_EXTERN PetscErrorCode OutputReadEffectDataset(const char path[], const char name[], const char dataset[], PetscInt *nlevels, PetscInt *ncolumns,
                                                    PetscReal **values);
/* Not collective: any float64 dataset by its path in the file ("/variance/estimate"), row-major; free with PetscFree(). */
PETSC_EXTERN PetscErrorCode OutputReadDataset(const char path[], const char dataset[], PetscInt *rows, PetscInt *columns, PetscReal **values);
/* Not collective: a numeric attribute of GROUP in a solutions file. */
PETSC_EXTERN PetscErrorCode OutputReadAttribute(const char path[], const char group[], const char name[], PetscReal *value);
/* Not collective: whether effect NAME has the dataset DATASET ("pev", "pedigree_line", ...). */
PETSC_EXTERN PetscErrorCode OutputEffectHasDataset(const char path[], const char name[], const char dataset[], PetscBool *has);
/* Not collective: a string attribute of GROUP ("/", "/pedigree", ...; "" when it has none); PetscFree() it. */
PETSC_EXTERN PetscErrorCode OutputReadAttributeString(const char path[], const char group[], const char attribute[], char **value);
/* Not collective: a string attribute of effect NAME ("" when it has none); PetscFree() it. */
PETSC_EXTERN PetscErrorCode OutputReadEffectString(const char path[], const char name[], const char attribute[], char **value);
/* Not collective: the names of the effects under /solutions (free each and the array with PetscFree()). */
PETSC_EXTERN PetscErrorCode OutputListEffects(const char path[], PetscInt *n, char ***names);

#endif
