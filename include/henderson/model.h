/* henderson/model.h -- the parsed model file.

   The model file names the data and pedigree files, the trait, the effects and the variances
   (see README, "Model file"). Rank 0 reads it and every rank parses the same text, so an error in
   it is found, and reported, identically everywhere. Paths are taken relative to the directory of
   the model file. An overall mean ("mean") is added as the first effect where no fixed class
   effect absorbs it. */
#ifndef HENDERSON_MODEL_H
#define HENDERSON_MODEL_H

#include <henderson/sys.h>

typedef enum {
  MODEL_EFFECT_FIXED,     /* class effect, levels are any strings */
  MODEL_EFFECT_COVARIATE, /* linear regression on a numeric column */
  MODEL_EFFECT_RANDOM     /* random class effect with a covariance structure */
} ModelEffectKind;

typedef enum {
  MODEL_STRUCTURE_NONE,    /* fixed effects and covariates */
  MODEL_STRUCTURE_IID,     /* I * variance */
  MODEL_STRUCTURE_PEDIGREE /* A * variance, A from the pedigree */
} ModelStructure;

PETSC_EXTERN const char *const ModelEffectKindNames[];
PETSC_EXTERN const char *const ModelStructureNames[];

#define MODEL_MAX_NAME 256

/* One effect of the model, as the model file declared it. */
typedef struct {
  char            name[MODEL_MAX_NAME];   /* output group name: the column name, or "mean" */
  char            column[MODEL_MAX_NAME]; /* data column; "" for the implied mean */
  ModelEffectKind kind;
  ModelStructure  structure;
  PetscReal       variance; /* random effects only */
  PetscInt        line;     /* line in the model file (0 for the implied mean) */
  PetscInt        data_column; /* index of COLUMN in the data header, set by ModelSetDataColumns() (-1 for the mean) */
} ModelEffect;

typedef struct _p_Model *Model;

PETSC_EXTERN PetscErrorCode ModelCreate(MPI_Comm comm, Model *model);
/* Collective. Reads and parses the model file PATH; every error names PATH and the line. */
PETSC_EXTERN PetscErrorCode ModelLoad(Model model, const char path[]);
/* Collective. Checks every column the model names against the data file's header and records
   their indices; an unknown column is an error naming the model file line. */
PETSC_EXTERN PetscErrorCode ModelSetDataColumns(Model model, const char data_path[], PetscInt ncolumns, const char *const names[]);
PETSC_EXTERN PetscErrorCode ModelDestroy(Model *model);
/* Prints the model (files, trait, effects, variances). Collective on the viewer. */
PETSC_EXTERN PetscErrorCode ModelView(Model model, PetscViewer viewer);

/* Not collective. The paths below are already joined with the model file's directory. */
PETSC_EXTERN PetscErrorCode ModelGetPath(Model model, const char **path);
PETSC_EXTERN PetscErrorCode ModelGetText(Model model, const char **text);
PETSC_EXTERN PetscErrorCode ModelGetDataPath(Model model, const char **path);
/* NULL when the model has no pedigree line. */
PETSC_EXTERN PetscErrorCode ModelGetPedigreePath(Model model, const char **path);
PETSC_EXTERN PetscErrorCode ModelGetOutputPath(Model model, const char **path);
/* The trait column, its index in the data header (after ModelSetDataColumns()), and the residual variance. */
PETSC_EXTERN PetscErrorCode ModelGetTrait(Model model, const char **column, PetscInt *data_column);
PETSC_EXTERN PetscErrorCode ModelGetResidualVariance(Model model, PetscReal *variance);
PETSC_EXTERN PetscErrorCode ModelGetNumEffects(Model model, PetscInt *neffects);
PETSC_EXTERN PetscErrorCode ModelGetEffect(Model model, PetscInt e, const ModelEffect **effect);
/* Whether some effect has STRUCTURE pedigree. */
PETSC_EXTERN PetscErrorCode ModelHasPedigreeEffect(Model model, PetscBool *has);

#endif
