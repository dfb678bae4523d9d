/* henderson/model.h -- the parsed model file.

   The model file names the data and pedigree files, the traits, the effects and the (co)variances
   (see README, "Model file"). Rank 0 reads it and every rank parses the same text, so an error in
   it is found, and reported, identically everywhere. Paths are taken relative to the directory of
   the model file.

   The general model is y = Xb + sum_k Z_k u_k + e for t traits. Every effect is in all traits or in
   the traits named after "for". Random effects come in groups: the columns of one `random`
   statement (direct and maternal genetic effects, say) share one (co)variance matrix G0 over
   (column, trait, coefficient), in that order. A trait in which no fixed class effect absorbs the
   mean gets an overall mean ("mean") added as the first effect. */
#ifndef HENDERSON_MODEL_H
#define HENDERSON_MODEL_H

#include <henderson/sys.h>

typedef enum {
  MODEL_EFFECT_FIXED,     /* class effect, levels are any strings */
  MODEL_EFFECT_COVARIATE, /* regression on a numeric column (Legendre polynomials of it, nested in a class) */
  MODEL_EFFECT_RANDOM     /* random class effect, one member of a random group */
} ModelEffectKind;

typedef enum {
  MODEL_STRUCTURE_NONE,     /* fixed effects and covariates */
  MODEL_STRUCTURE_IID,      /* I (x) G0 */
  MODEL_STRUCTURE_PEDIGREE, /* A (x) G0, A from the pedigree (H of single step with a genotypes line) */
  MODEL_STRUCTURE_GENOMIC   /* G (x) G0, G from the genotypes (GBLUP: no pedigree) */
} ModelStructure;

/* The genotyped animals' block of H^-1: formed (dense, ng x ng over the ranks), or factored (APY's factors
   and A22^-1 by products through the sparse pedigree: no matrix of the genotyped animals' size); auto:
   factored with APY past 10 000 genotyped animals. */
typedef enum { MODEL_GENOTYPES_BLOCK_AUTO, MODEL_GENOTYPES_BLOCK_DENSE, MODEL_GENOTYPES_BLOCK_FACTORED } ModelGenotypesBlock;

/* The `genotypes FILE [KEYWORD VALUE]...` line: the file and what to do with it (genotypes.h). */
typedef struct {
  char                path[HENDERSON_MAX_PATH];
  PetscInt            line;            /* 0: the model has no genotypes */
  PetscReal           maf;             /* SNPs with a minor allele frequency below it are dropped (0.05) */
  PetscReal           callrate;        /* SNPs called in fewer of the animals are dropped (0.90) */
  PetscReal           animal_callrate; /* animals with fewer of the SNPs called are dropped (0.90) */
  PetscReal           blend;           /* Gb = (1 - blend) G + blend A22 + gamma I (0.05; GBLUP: A22 = I) */
  PetscReal           gamma;           /* (0) */
  PetscInt            tune;       /* Gt = a + b Gb with Gt's mean diagonal and off-diagonal those of A22: 1 on, 0 off, -1 default (single step on, GBLUP off) */
  PetscReal           tau, omega; /* H^-1 = A^-1 + [0 0; 0 tau Gt^-1 - omega A22^-1] (1, 1) */
  PetscInt            apy;        /* APY core size (0: exact G^-1; -1: the core of apy_path) */
  char                apy_path[HENDERSON_MAX_PATH];         /* IDs of the core animals, one a line */
  char                frequencies_path[HENDERSON_MAX_PATH]; /* allele frequencies, one a line in the order of the SNPs ("" : from the genotypes) */
  ModelGenotypesBlock block;                                /* how the genotyped animals' block of H^-1 is held (auto) */
} ModelGenotypes;

typedef enum {
  MODEL_PEDIGREE_ANIMAL,  /* animal sire dam */
  MODEL_PEDIGREE_SIRE_MGS /* sire sire-of-sire maternal-grandsire (sire-MGS models) */
} ModelPedigreeKind;

/* Whether the pedigree file's first line is a header: decided from the file (auto: its first three
   fields are words -- no digit, no unknown code -- that appear on no other line), or as the model
   file's `pedigree FILE header|noheader` says. */
typedef enum { MODEL_PEDIGREE_HEADER_AUTO, MODEL_PEDIGREE_HEADER_YES, MODEL_PEDIGREE_HEADER_NO } ModelPedigreeHeader;

PETSC_EXTERN const char *const ModelEffectKindNames[];
PETSC_EXTERN const char *const ModelStructureNames[];

#define MODEL_MAX_NAME 256
#define MODEL_MAX_TRAITS 16
#define MODEL_MAX_LEGENDRE 20 /* the highest order of Legendre polynomials */

/* One effect of the model, as the model file declared it. */
typedef struct {
  char            name[MODEL_MAX_NAME];   /* output group name: the column name, the `as` name, or "mean" */
  char            column[MODEL_MAX_NAME]; /* class column (fixed, random, covariate `within`) or covariate column; "" for the mean */
  ModelEffectKind kind;
  ModelStructure  structure;
  PetscInt        line;    /* line in the model file (0 for the implied mean) */
  PetscInt        ntraits; /* the traits the effect is in (indices into the model's traits, ascending) */
  PetscInt        traits[MODEL_MAX_TRAITS];
  /* the numeric part: a covariate's column, or the covariate of a random regression */
  char      covariate[MODEL_MAX_NAME]; /* "" when the effect has none (class effects) */
  PetscInt  legendre;                  /* Legendre polynomials of degree 0..legendre of the covariate; -1: the covariate itself */
  PetscBool range_given;               /* the interval mapped to [-1, 1] (else the covariate's range in the data) */
  PetscReal range[2];
  PetscBool nested; /* a covariate nested within the classes of `column` */
  PetscInt  group;  /* random effects: their group */
  /* a social (indirect) effect: keyed on the animals of `column`, but a record receives the effects of
     the other members of its group in `social_column` (pen, cage, tank), each times (1/(n-1))^dilution */
  PetscBool social;
  char      social_column[MODEL_MAX_NAME];
  PetscReal dilution;
  PetscReal social_size; /* n of the total breeding value direct + (n-1)^(1-dilution) social; 0: not given */
  PetscInt  social_data_column;
  PetscInt  position; /* random effects: first index of this member in the group's G0 */
  /* set by ModelSetDataColumns() */
  PetscInt data_column;      /* index of `column` in the data header, -1 if none */
  PetscInt covariate_column; /* index of `covariate`, -1 if none */
} ModelEffect;

/* A random group: the effects of one `random` statement and their (co)variance matrix G0. */
typedef struct {
  ModelStructure structure;
  PetscInt       neffects, first; /* its effects are first .. first+neffects-1 */
  PetscInt       dim;             /* order of G0: sum over members of traits x coefficients */
  PetscReal     *covariance;      /* dim x dim, row-major */
  PetscInt       line;
  PetscInt       value_field, nvalues; /* where its (co)variances are on the line (fields counted from 0) */
} ModelGroup;

typedef struct _p_Model *Model;

PETSC_EXTERN PetscErrorCode ModelCreate(MPI_Comm comm, Model *model);
/* Collective. Reads and parses the model file PATH; every error names PATH and the line. */
PETSC_EXTERN PetscErrorCode ModelLoad(Model model, const char path[]);
/* Collective. Checks every column the model names against the data file's header and records
   their indices; an unknown column is an error naming the model file line. */
PETSC_EXTERN PetscErrorCode ModelSetDataColumns(Model model, const char data_path[], PetscInt ncolumns, const char *const names[]);
PETSC_EXTERN PetscErrorCode ModelDestroy(Model *model);
/* Prints the model (files, traits, effects, (co)variances). Collective on the viewer. */
PETSC_EXTERN PetscErrorCode ModelView(Model model, PetscViewer viewer);

/* Not collective. The paths below are already joined with the model file's directory. */
PETSC_EXTERN PetscErrorCode ModelGetPath(Model model, const char **path);
PETSC_EXTERN PetscErrorCode ModelGetText(Model model, const char **text);
PETSC_EXTERN PetscErrorCode ModelGetDataPath(Model model, const char **path);
/* NULL when the model has no pedigree line. */
PETSC_EXTERN PetscErrorCode ModelGetPedigreePath(Model model, const char **path);
PETSC_EXTERN PetscErrorCode ModelGetPedigreeKind(Model model, ModelPedigreeKind *kind);
/* Whether the pedigree file's first line is a header: the pedigree line's header or noheader, else auto. */
PETSC_EXTERN PetscErrorCode ModelGetPedigreeHeader(Model model, ModelPedigreeHeader *header);
/* The unknown-parent group IDs of the `groups` line (n = 0 without one); whether A-inverse uses inbreeding. */
PETSC_EXTERN PetscErrorCode ModelGetGroups(Model model, PetscInt *n, const char *const **ids);
PETSC_EXTERN PetscErrorCode ModelGetInbreeding(Model model, PetscBool *use);
/* The model file's line of the `groups` statement (0 without one). */
PETSC_EXTERN PetscErrorCode ModelGetGroupsLine(Model model, PetscInt *line);
PETSC_EXTERN PetscErrorCode ModelGetOutputPath(Model model, const char **path);
/* Traits: their number, and the column and data-header index of trait T. */
PETSC_EXTERN PetscErrorCode ModelGetNumTraits(Model model, PetscInt *ntraits);
PETSC_EXTERN PetscErrorCode ModelGetTrait(Model model, PetscInt t, const char **column, PetscInt *data_column);
/* The residual weight column (NULL, -1 without one). */
PETSC_EXTERN PetscErrorCode ModelGetWeight(Model model, const char **column, PetscInt *data_column);
/* R0, the t x t residual (co)variance matrix, row-major. */
PETSC_EXTERN PetscErrorCode ModelGetResidual(Model model, const PetscReal **R0);
/* Not collective (the same on every rank). New (co)variances, e.g. REML's: R0 (t x t) and G0 of group G
   (dim x dim), row-major, symmetric positive definite. */
PETSC_EXTERN PetscErrorCode ModelSetResidual(Model model, const PetscReal R0[]);
PETSC_EXTERN PetscErrorCode ModelSetGroupCovariance(Model model, PetscInt g, const PetscReal G0[]);
/* Rank 0 writes PATH: the model file's text with the current (co)variances on the `random` and
   `residual` lines (lower triangles), each such line followed by a comment with the values it had;
   NOTE (may be NULL) becomes a first comment line. Paths in it stay relative: write it next to the original. */
PETSC_EXTERN PetscErrorCode ModelWriteWithVariances(Model model, const char path[], const char note[]);
PETSC_EXTERN PetscErrorCode ModelGetNumEffects(Model model, PetscInt *neffects);
PETSC_EXTERN PetscErrorCode ModelGetEffect(Model model, PetscInt e, const ModelEffect **effect);
PETSC_EXTERN PetscErrorCode ModelGetNumGroups(Model model, PetscInt *ngroups);
PETSC_EXTERN PetscErrorCode ModelGetGroup(Model model, PetscInt g, const ModelGroup **group);
/* The social effect (at most one), -1 without one; *direct is the effect of its statement's first column. */
PETSC_EXTERN PetscErrorCode ModelGetSocialEffect(Model model, PetscInt *social, PetscInt *direct);
/* Not collective. The n of the total breeding value (0: the mean group size of the data). */
PETSC_EXTERN PetscErrorCode ModelSetSocialSize(Model model, PetscReal n);
/* Whether some effect's levels are the animals of a pedigree (structure pedigree or genomic). */
PETSC_EXTERN PetscErrorCode ModelHasPedigreeEffect(Model model, PetscBool *has);
/* The genotypes line (->line 0 without one). */
PETSC_EXTERN PetscErrorCode ModelGetGenotypes(Model model, const ModelGenotypes **genotypes);

/* Coefficients per trait of an effect: legendre + 1, or 1. */
static inline PetscInt ModelEffectCoefficients(const ModelEffect *effect)
{
  return effect->legendre >= 0 ? effect->legendre + 1 : 1;
}

/* Position of trait T among an effect's traits, -1 when the effect is not in it. */
static inline PetscInt ModelEffectTraitPosition(const ModelEffect *effect, PetscInt t)
{
  for (PetscInt k = 0; k < effect->ntraits; k++)
    if (effect->traits[k] == t) return k;
  return -1;
}

/* Whether the levels of the effect (of the group) are the animals of the pedigree, with K = A (or, next,
   H of single step): records, numbering, unknown-parent groups, inbreeding and heritabilities key on it.
   What K is, and how it enters the equations, is the relationship's business (relationship.h). */
static inline PetscBool ModelEffectIsAnimal(const ModelEffect *effect)
{
  return effect->structure == MODEL_STRUCTURE_PEDIGREE || effect->structure == MODEL_STRUCTURE_GENOMIC ? PETSC_TRUE : PETSC_FALSE;
}
/* Whether K of the effect is G alone (GBLUP): every level needs genotypes. */
static inline PetscBool ModelEffectIsGenomic(const ModelEffect *effect)
{
  return effect->structure == MODEL_STRUCTURE_GENOMIC ? PETSC_TRUE : PETSC_FALSE;
}
static inline PetscBool ModelGroupIsAnimal(const ModelGroup *group)
{
  return group->structure == MODEL_STRUCTURE_PEDIGREE || group->structure == MODEL_STRUCTURE_GENOMIC ? PETSC_TRUE : PETSC_FALSE;
}

#endif
