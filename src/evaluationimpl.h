/* evaluationimpl.h -- the evaluation object and what its files share (private to src/evaluation*.c).

   evaluation.c           the object: life cycle, options, the stages in order, accessors
   evaluation_check.c     what is checked before and between the stages: paths, options, data, estimability;
                          warnings
   evaluation_initial.c   the warm start from the solutions of an earlier evaluation (--initial)
   evaluation_pev.c       prediction error variances and reliabilities of the levels
   evaluation_output.c    what goes into the HDF5 output (solutions, attributes)
   evaluation_function.c  linear functions of a random group's coefficients written beside the effects: the
                          total breeding value of a social model, a random regression over -rr_range
   evaluation_view.c      the summary: each module's own view, in the order of the stages */
#ifndef HENDERSON_EVALUATIONIMPL_H
#define HENDERSON_EVALUATIONIMPL_H

#include <henderson/henderson.h>

#define EVALUATION_MAX_WARNINGS 32

struct _p_Evaluation {
  MPI_Comm           comm;
  PetscMPIInt        rank, size;
  Model              model;
  Records            records;
  Pedigree           pedigree;
  Genotypes          genotypes; /* NULL without a genotypes line */
  Equations          equations;
  PetscInt           nrel;
  Relationship      *rel; /* one per random group: where its K enters the equations */
  MME                mme;
  PetscBool          require_entries; /* a caller (REML by AI or EM) factors C */
  Solver             solver;
  Vec                x;
  PEVMethod          pev_method; /* -pev */
  Vec                pev;        /* diag(C^-1), when asked for */
  PetscInt           pev_samples;
  PetscInt           pev_sample_block; /* -pev sample: data sets a pass */
  PetscInt           pev_rounds;       /* -pev approximate: most rounds, */
  PetscReal          pev_tol;          /* and the relative change of the precisions that ends them */
  PEVApproximateInfo pev_approximate;  /* what it did */
  PetscInt64         pev_iterations;
  PetscReal        **pev_block; /* per random group: the PEV blocks (order x order) of this rank's levels */
  SolverResult       result;
  PetscBool          resumed;           /* the solve went on from a checkpoint */
  PetscInt           initial_levels[2]; /* warm start: levels read from the earlier solutions, and found now */
  char               initial_path[HENDERSON_MAX_PATH];
  PetscReal          seconds[HENDERSON_NUM_PHASES]; /* this rank's, summed over the calls of a phase */
  PetscBool          ran[HENDERSON_NUM_PHASES];
  char               output_path[HENDERSON_MAX_PATH];
  PetscErrorCode (*write_hook)(Output, void *); /* more contents of the output (REML's /variance) */
  void *write_context;
  /* the options (EvaluationSetFromOptions()) */
  PetscBool options_set;
  PetscBool quiet;   /* -quiet, -henderson_quiet: no summary */
  PetscBool restart; /* -restart: go on from the checkpoint */
  char      initial_option[HENDERSON_MAX_PATH], checkpoint_option[HENDERSON_MAX_PATH], order_by[MODEL_MAX_NAME];
  PetscInt  pev_seed, fail_alone;
  PetscReal social_group_size;
  PetscReal rr_range[2], rr_step; /* -rr_range A,B -rr_step S: random regressions summed over A, A + S, ..., B */
  PetscBool rr_range_set;
  char      checkpoint_path[HENDERSON_MAX_PATH]; /* the checkpoint file (with the model: -checkpoint_file or beside the output) */
  PetscBool output_replaced;                     /* the output file is an earlier run's, and is replaced */
  PetscBool solver_ready;                        /* the solver is set up with the current system */
  PetscInt  pev_failed;                          /* -pev sample: samples whose solve did not converge */
  char     *warnings[EVALUATION_MAX_WARNINGS];   /* EvaluationWarn() */
  PetscInt  nwarnings;
  /* what is estimable (estimable.h) */
  PetscBool  estimable_check; /* -estimable_check: look for a rank deficiency of the fixed effects */
  PetscInt   deficiency;      /* of the fixed block X'R^-1X */
  Vec        nonestimable;    /* 1 at the equations not estimable one by one, NULL when there are none */
  PetscInt   pev_nullity;     /* -pev exact: null pivots of all of C */
  FactorType pev_factor;      /* -pev exact: the factorisation's type */
  PetscInt   pev_clipped;     /* sampled reliabilities below 0 (PEV above the prior variance), set to 0 */
};

/* evaluation.c */
/* Each phase is a PetscLogEvent and a wall-clock interval, summed over the calls of a phase. */
PETSC_INTERN PetscErrorCode EvaluationPhaseBegin(Evaluation ev, HendersonPhase phase, double *start);
PETSC_INTERN PetscErrorCode EvaluationPhaseEnd(Evaluation ev, HendersonPhase phase, double start);
/* Collective. The solver set up with the current system (again after EvaluationReassemble()). */
PETSC_INTERN PetscErrorCode EvaluationSolverReady(Evaluation ev);
/* The effect *M that absorbs the mean of trait T, with its layout and block, and the position of T in it;
 *M < 0 when there is none. */
PETSC_INTERN PetscErrorCode EvaluationMeanEffect(Evaluation ev, PetscInt t, PetscInt *m, const EquationsEffect **layout, const EquationsBlock **block,
                                                 PetscInt *position);
/* The levels LO..HI-1 of BLOCK whose equations this rank owns, rows RSTART..REND-1. */
PETSC_INTERN PetscErrorCode EvaluationBlockLocalLevels(Evaluation ev, const EquationsBlock *block, PetscInt rstart, PetscInt rend, PetscInt *lo, PetscInt *hi);
/* Collective. GLOBAL = the largest LOCAL over the ranks (N numbers). */
PETSC_INTERN PetscErrorCode EvaluationMaxOverRanks(Evaluation ev, PetscReal local[], PetscReal global[], PetscInt n);
/* The n of the total breeding value (2 when the data have no group at all). */
PETSC_INTERN PetscErrorCode EvaluationSocialGroupSize(Evaluation ev, PetscReal *n);

/* evaluation_check.c */
/* The checkpoint file: -checkpoint_file, or the output's name with .checkpoint.h5 for .h5. */
PETSC_INTERN PetscErrorCode EvaluationCheckpointPath(Evaluation ev, char path[], size_t size);
/* Collective. What the options mean for this model, checked before any work. */
PETSC_INTERN PetscErrorCode EvaluationCheckOptions(Evaluation ev);
/* Not collective (the same on every rank). A warning: printed by rank 0 now, kept for the summary and the output. */
PETSC_INTERN PetscErrorCode EvaluationWarn(Evaluation ev, const char format[], ...) PETSC_ATTRIBUTE_FORMAT(2, 3);
/* Collective. What the data say that the user did not mean, as warnings. */
PETSC_INTERN PetscErrorCode EvaluationCheckData(Evaluation ev);
/* Collective. A rank deficiency of the fixed effects beyond the constraints, as a warning (estimable.h). */
PETSC_INTERN PetscErrorCode EvaluationCheckEstimable(Evaluation ev);

/* evaluation_initial.c */
/* Collective. X from the solutions of the earlier evaluation PATH (warm start). */
PETSC_INTERN PetscErrorCode EvaluationInitialGuess(Evaluation ev, const char path[], Vec x);
/* Collective. PedigreeSetUp(), with --initial FILE the F of the animals whose ancestry is as it was there. */
PETSC_INTERN PetscErrorCode EvaluationPedigreeSetUp(Evaluation ev);

/* evaluation_output.c */
/* This rank's rows LO..HI-1 of the output of effect E (or, with GROUPS, of its unknown-parent groups): a
   column per trait of the model and coefficient, 0 where the effect has no equation (PetscFree() VALUES). */
PETSC_INTERN PetscErrorCode EvaluationEffectValues(Evaluation ev, PetscInt e, PetscBool groups, const PetscScalar *x, PetscInt rstart, PetscInt rend,
                                                   PetscInt *lo, PetscInt *hi, PetscReal **values);

/* "A,B" from the names of the model's traits in TRAITS[0..NTRAITS-1] (all the model's traits when NULL). */
PETSC_INTERN PetscErrorCode EvaluationTraitList(Model model, PetscInt ntraits, const PetscInt traits[], char list[], size_t size);
/* The columns of a value: every trait of the model times NCOEF coefficients ("FAT" or "FAT:0,FAT:1"). */
PETSC_INTERN PetscErrorCode EvaluationColumnList(Model model, PetscInt ncoef, char list[], size_t size);

/* evaluation_function.c: VALUES[e] holds this rank's rows LO[e]..HI[e]-1 of effect e (EvaluationEffectValues()) */
/* Collective. /solutions/tbv of a social model (nothing otherwise). */
PETSC_INTERN PetscErrorCode EvaluationWriteTotalBreedingValue(Evaluation ev, Output output, PetscReal *const values[], const PetscInt lo[],
                                                              const PetscInt hi[]);
/* Collective. With -rr_range, /solutions/NAME_range of every random regression NAME. */
PETSC_INTERN PetscErrorCode EvaluationWriteRangeFunctions(Evaluation ev, Output output, PetscReal *const values[], const PetscInt lo[], const PetscInt hi[]);

/* evaluation_pev.c */
/* The reliability 1 - PEV / VARIANCE, in [0, 1] (a sampled PEV above VARIANCE is clipped and counted). */
PETSC_INTERN PetscErrorCode EvaluationReliability(Evaluation ev, PetscReal variance, PetscReal *pev, PetscReal *sep, PetscReal *reliability);
/* Collective. This rank's rows of pev, sep and reliability of effect E (or of its unknown-parent GROUPS). */
PETSC_INTERN PetscErrorCode EvaluationEffectAccuracy(Evaluation ev, PetscInt e, PetscBool groups, PetscInt rstart, PetscInt rend, PetscReal **pev,
                                                     PetscReal **sep, PetscReal **reliability);

#endif
