/* remlimpl.h -- the REML object and what its files share (private to src/reml*.c).

   reml.c               the object, its options and view; AI and EM rounds on the factorised MME; the output
   reml_monte_carlo.c   Monte Carlo EM and Monte Carlo AI: the traces by simulated data sets solved by PCG */
#ifndef HENDERSON_REMLIMPL_H
#define HENDERSON_REMLIMPL_H

#include <henderson/reml.h>
#include <henderson/factor.h>
#include <henderson/pev.h>
#include <henderson/dense.h>
#include <henderson/recordterms.h>

#define MAXT MODEL_MAX_TRAITS

typedef struct {
  PetscInt group; /* random group, or -1 for the residual */
  PetscInt a, b;  /* the element (a, b), a >= b, of its matrix */
} Parameter;

struct _p_REML {
  MPI_Comm    comm;
  PetscMPIInt rank, size;
  REMLMethod  method;
  PetscInt    max_it;
  PetscReal   tol;
  Model       model;
  PetscInt    npar;
  Parameter  *par;
  char        names[4096];
  PetscReal  *theta, *grad, *ai, *ai_inverse, *se, *mcse; /* mcse: Monte Carlo standard errors (mcem, mcai) */
  PetscReal   logL;
  PetscInt    rounds, steps_em, halvings, backtracks, boundary; /* boundary: AI steps with variances held at their boundary */
  PetscReal  *history;                                          /* per round: logL, theta */
  PetscBool   converged, has_ai;
  PetscInt    ntraits;
  PetscReal   h2[MAXT], h2_se[MAXT];
  PetscBool   has_h2;
  PetscReal   social_n;              /* social models: the group size n of T2 and of the total breeding value */
  PetscReal   t2[MAXT], t2_se[MAXT]; /* social models: T2 = var(tbv) / var(phenotype) (Bijma et al. 2007) */
  PetscBool   has_t2;
  PetscInt    samples, seed; /* mcem, mcai: simulated data sets a round (0: the method's default), the seed of their random numbers */
  PetscInt    average;       /* mcai: the rounds averaged once the steps are within their Monte Carlo noise */
  PetscInt    kept;          /* mcai: the rounds averaged */
  PetscBool   mc_se;         /* mcse holds the estimates' Monte Carlo standard errors */
  PetscReal   seconds;
};

/* What one round computes at the current (co)variances. */
typedef struct {
  PetscReal  logL;
  PetscReal *grad, *ai; /* npar, npar x npar (ai only for the AI method) */
  PetscReal *em;        /* the EM estimates of every parameter */
} Round;

typedef struct {
  PetscInt   n, capacity;
  PetscInt  *row, *col;
  PetscReal *value;
} Requests;

/* What one round works with, from the factorisation to the traces. */
typedef struct {
  PetscInt               t, npar, ngroups, nrecords;
  Equations              eq;
  Vec                    rhs, x, xall; /* the solutions, and all of them on every rank */
  VecScatter             toall;
  const PetscScalar     *X;
  Factor                 factor;
  PetscReal              logdetC, xr;
  RecordTerms            rt;
  PetscReal             *e;               /* residuals, nrecords x t */
  PetscCount            *record_first;    /* each record's first request */
  PetscReal              sums[8], all[8]; /* log|R|, y'R^-1y, observations, records, y'e; summed over ranks */
  PetscReal              SumRinv[MAXT * MAXT], SumH[MAXT * MAXT], SumM[MAXT * MAXT];
  PetscCount            *Kn, *group_first;
  PetscInt             **Ki, **Kj;
  PetscReal            **Kv, *logdetK, **Ginv, **S;
  const EquationsBlock **block;
  PetscBool              selected;           /* the traces come from selected entries of C^-1 (the factor's), gathered in req */
  Requests               req;                /* the entries of C^-1 the traces need, in the order they are read back */
  PetscErrorCode (*solve)(void *, Vec, Vec); /* x = C^-1 b: by the factor, or by PCG (Monte Carlo AI) */
  void *solve_context;
} RoundWork;

/* E:X = tr(E X) for the symmetric unit matrix E of element (a, b). */
static inline PetscReal Contract(const PetscReal X[], PetscInt n, PetscInt a, PetscInt b)
{
  return a == b ? X[a * n + a] : X[a * n + b] + X[b * n + a];
}

/* reml.c */
/* Whether THETA makes every matrix positive definite; if SET, the model takes them. */
PETSC_INTERN PetscErrorCode REMLApplyTheta(REML reml, const PetscReal theta[], PetscBool set, PetscBool *ok);
/* A random group's K^-1 on this rank (level space, upper triangle, not summed) and log|K|, from its relationship. */
PETSC_INTERN PetscErrorCode REMLGroupStructure(Evaluation ev, PetscInt g, PetscCount *n, PetscInt **ki, PetscInt **kj, PetscReal **kv, PetscReal *logdetK);
/* The records: residuals, log|R|, y'R^-1y (and with W->selected the entries of C^-1 that W_r C^-1 W_r' needs). */
PETSC_INTERN PetscErrorCode REMLRoundRecords(REML reml, Evaluation ev, RoundWork *w);
/* The random groups: G0^-1 (and with W->selected K^-1, log|K| and the entries of C^-1 their traces need). */
PETSC_INTERN PetscErrorCode REMLRoundGroups(REML reml, Evaluation ev, RoundWork *w);
PETSC_INTERN PetscErrorCode REMLRoundWorkDestroy(RoundWork *w);
/* The average information from the working variates, one solve (W->solve) per parameter. */
PETSC_INTERN PetscErrorCode REMLRoundAverageInformation(REML reml, RoundWork *w, PetscReal ai[]);
/* The gradient and the EM estimate of group parameter P from W->S[g]. */
PETSC_INTERN void REMLGroupGradient(const RoundWork *w, const Parameter *p, PetscReal *grad, PetscReal *em);
/* X = A^-1 B for the symmetric positive definite A (n x n), through its inverse (INV gets A^-1). */
PETSC_INTERN PetscErrorCode REMLSolveSmall(PetscInt n, const PetscReal A[], const PetscReal B[], PetscReal X[], PetscReal inv[]);
/* Heritabilities (and T2 of social models) with their standard errors where there is an AI. */
PETSC_INTERN PetscErrorCode REMLHeritabilities(REML reml);

/* reml_monte_carlo.c */
/* Collective. Monte Carlo EM-REML: -reml_max_it rounds, the mean of the second half. */
PETSC_INTERN PetscErrorCode REMLRunMonteCarloEM(REML reml, Evaluation ev);
/* Collective. Monte Carlo AI-REML: Newton steps from sampled gradients until they are within their noise,
   then the mean of -reml_mc_average more rounds. */
PETSC_INTERN PetscErrorCode REMLRunMonteCarloAI(REML reml, Evaluation ev);

#endif
