/* henderson/pev.h -- prediction error variances: how good each solution is.

   For the MME in the form C x = r with R^-1 inside (as mme.h builds it), the inverse of C is the
   error (co)variance of the solutions: PEV = var(u_hat - u) = the u-block of C^-1, and for an
   estimable fixed effect var(b_hat). The output turns the diagonal into `pev`, `sep` = sqrt(pev)
   and, for random effects, `reliability` = 1 - pev / ((1 + F) sigma2) (F = 0 without a pedigree).

     exact   the diagonal of C^-1 from a sparse factorisation of the assembled C (factor.h): only
             the requested entries of the inverse are computed.
     sample  for national sizes (Garcia-Cortes, Moreno, Varona & Altarriba 1995): N data sets are
             simulated from the model with the fixed effects at 0 -- true values u* ~ N(0, G) (through
             the pedigree, parents before progeny: u_i = c_s u_s + c_d u_d + sqrt(1/alpha_i) L z_i with
             G0 = LL') and residuals e* ~ N(0, R) -- and solved by the same PCG as the evaluation;
             PEV = mean over the samples of (u* - u*_hat)^2, var(b_hat) = mean of b*_hat^2. Each estimate
             has a relative standard error of sqrt(2 / N) (a mean of N scaled chi-square(1) values).
             The random numbers are keyed on (seed, sample, level or record), so the estimates do not
             depend on the number of ranks. Needs only products with C: works with the data operator.
     approximate  for national sizes at about the cost of a solve: loopy Gaussian belief propagation on the
             terms of C (an animal's records with its family of K^-1, K^-1's other terms, the records
             without an animal) over the levels' point blocks, until the precisions change by less than a
             tolerance (src/pev_approximate.c). Exact where the terms form a tree; with the loops of a real
             pedigree and contemporary groups the reliabilities are a little high (benchmarks/RESULTS.md).
             Single step: an animal's genomic information is the diagonal of tau Gt^-1 - omega A22^-1. */
#ifndef HENDERSON_PEV_H
#define HENDERSON_PEV_H

#include <petscmat.h>
#include <henderson/sys.h>
#include <henderson/model.h>
#include <henderson/equations.h>
#include <henderson/records.h>
#include <henderson/relationship.h>
#include <henderson/solver.h>
#include <henderson/design.h>
#include <henderson/factor.h>

typedef enum { PEV_METHOD_NONE, PEV_METHOD_EXACT, PEV_METHOD_SAMPLE, PEV_METHOD_APPROXIMATE } PEVMethod;
PETSC_EXTERN const char *const PEVMethods[];

/* Collective. D = diag(C^-1), C assembled (AIJ), D with C's row layout; and EXTRA[k] = C^-1(ROWS[k], COLS[k])
   for the N further entries this rank asks for (the trait-by-trait blocks of its levels; N may be 0).
   A singular C (estimable.h) is factored with its null pivots fixed (*NULLITY of them): the entries are
   those of a generalised inverse, right for everything estimable, and NaN for the equations that are not
   estimable one by one. *FACTOR: the factorisation's type (-factor_type; mumps for a singular C). */
PETSC_EXTERN PetscErrorCode PEVComputeExact(Mat C, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal extra[], Vec d, PetscInt *nullity,
                                            FactorType *factor);
/* Not collective. NaN in D where MASK (NULL: none) marks an equation, and in EXTRA[k] where it marks the
   local ROWS[k] or COLS[k]. */
PETSC_EXTERN PetscErrorCode PEVMaskNotEstimable(Vec mask, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal extra[], Vec d);
/* Collective. Data set SAMPLE (of SEED) simulated from the model with the fixed effects at 0: TRUTH gets the
   random effects' true values at their equations (0 elsewhere), drawn by the random groups' relationships
   REL[0..NREL-1] (RelationshipSample()), RHS = W'R^-1 y*, y* = W truth + e*.
   Monte Carlo EM-REML uses it too. */
PETSC_EXTERN PetscErrorCode PEVSimulate(Design design, PetscInt nrel, Relationship rel[], PetscInt64 seed, PetscInt64 sample, Vec truth, Vec rhs);
/* Collective. D = the sampling estimate of diag(C^-1) from NSAMPLES simulated data sets of MODEL (with the
   levels of RECORDS and the random groups' relationships REL[0..NREL-1]) solved by SOLVER, set up
   with C, and EXTRA as for PEVComputeExact() (here ROWS and COLS must be this rank's rows); BLOCK data sets a
   pass (SolverSolveBlock(): CGs in lockstep sharing each product with C; 1: one at a time, the solver's own
   KSP); *ITERATIONS: the iterations over all samples; *NOT_CONVERGED: the samples whose solve did not
   converge. The same samples (seeds) whatever BLOCK: the estimates agree to the solver's tolerance. */
PETSC_EXTERN PetscErrorCode PEVComputeSampled(Model model, Equations eq, Records records, PetscInt nrel, Relationship rel[], Solver solver, PetscInt nsamples,
                                              PetscInt block, PetscInt64 seed, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal extra[],
                                              Vec d, PetscInt64 *iterations, PetscInt *not_converged);

/* What -pev approximate did. */
typedef struct {
  PetscInt   rounds;  /* of belief propagation */
  PetscReal  change;  /* the largest relative change of a precision in the last round */
  PetscInt64 factors; /* over all ranks */
  PetscInt   largest; /* equations of the largest factor */
  PetscInt64 pseudo;  /* messages through a pseudo-inverse (a singular factor), over all rounds */
} PEVApproximateInfo;

/* Collective. D = the approximation of diag(C^-1) by belief propagation on the terms of MODEL's C (records
   RECORDS, relationships REL[0..NREL-1]): at most MAX_ROUNDS rounds, fewer once no precision changes by TOL
   (relative) in a round; EXTRA as for PEVComputeExact(), within the point blocks (ROWS and COLS this rank's). */
PETSC_EXTERN PetscErrorCode PEVComputeApproximate(Model model, Equations eq, Records records, PetscInt nrel, Relationship rel[], PetscInt max_rounds,
                                                  PetscReal tol, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal extra[], Vec d,
                                                  PEVApproximateInfo *info);

#endif
