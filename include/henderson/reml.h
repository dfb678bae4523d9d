/* henderson/reml.h -- variance components by restricted maximum likelihood.

     mpirun -n P henderson reml MODEL_FILE [-reml_method ai|em|mcem|mcai] [-reml_max_it N] [-reml_tol T]

   The (co)variances of the model file are the starting values. Every random group's G0 and the
   residual R0 (lower triangles) are the parameters; a residual covariance of two traits that no record
   has together is not estimable and stays as given. Each round assembles the MME with the current
   values, factors it (factor.h: MUMPS) and takes from the factor
     log L = -1/2 [ log|C| + sum_g (q_g log|G0_g| + dim_g log|K_g|) + log|R| + y'Py ]
   (K = A or I; the constant (n - rank X) log(2 pi) left out: the convention of Mrode, section 17.7),
   the first derivatives (with the traces tr(K^-1 C^{uu}) and W_r C^-1 W_r' from selected entries of
   C^-1) and
     ai  the average-information matrix (Gilmour, Thompson & Cullis 1995), from one solve with C per
         parameter (working variates); the step AI^-1 dL is halved while it leaves the parameter space
         (a matrix that is not positive definite), and replaced by an EM step after 8 halvings; a
         step after which log L is lower is taken back and halved (up to 8 times);
     em  EM-REML: G0 = (U'K^-1U + T) / q, R0 = y'e / (n - rank X) (one trait) or the mean of the
         records' e e' + W C^-1 W' (several traits).
     mcem Monte Carlo EM-REML for national sizes (Matilainen et al. 2013): no factorisation -- the
         traces of EM come from one simulated data set per round (pev.h) solved by PCG, on any
         operator; -reml_max_it rounds, the estimate is the mean of the second half, with its Monte
         Carlo standard error (no log L, no AI). Every record must have every trait.
     mcai Monte Carlo average information for national sizes (Matilainen et al. 2013): no factorisation
         either -- the gradient's traces from -reml_samples simulated data sets a round (10), the average
         information from the working variates by one PCG solve per parameter, Newton steps (halved
         while they leave the parameter space); once no step exceeds twice its Monte Carlo standard
         error, the estimate is the mean of -reml_mc_average more rounds (5), each a nearly
         independent estimate, with its Monte Carlo standard error beside the sampling one (AI^-1).
         Missing records, every model whose relationships can be sampled (not single step).
   Convergence (ai, em): the change of log L below -reml_tol (1e-8) and every parameter's relative
   change below sqrt(-reml_tol).

   The results: REMLView() prints them; the output file gets the group /variance (REMLWriteOutput). */
#ifndef HENDERSON_REML_H
#define HENDERSON_REML_H

#include <henderson/evaluation.h>

typedef enum { REML_METHOD_AI, REML_METHOD_EM, REML_METHOD_MCEM, REML_METHOD_MCAI } REMLMethod;
PETSC_EXTERN const char *const REMLMethods[];

typedef struct _p_REML *REML;

PETSC_EXTERN PetscErrorCode REMLCreate(MPI_Comm comm, REML *reml);
PETSC_EXTERN PetscErrorCode REMLDestroy(REML *reml);
/* Collective. -reml_method, -reml_max_it, -reml_tol, -reml_samples, -reml_seed. */
PETSC_EXTERN PetscErrorCode REMLSetFromOptions(REML reml);
/* Not collective. */
PETSC_EXTERN PetscErrorCode REMLGetMethod(REML reml, REMLMethod *method);
/* Collective. EVALUATION has read the data and pedigree and numbered the levels (EvaluationNumber());
   its model's (co)variances are the starting values and end as the estimates. */
PETSC_EXTERN PetscErrorCode REMLRun(REML reml, Evaluation evaluation);
/* Collective. The estimates, standard errors, heritabilities, log L and the rounds. */
PETSC_EXTERN PetscErrorCode REMLView(REML reml, PetscViewer viewer);
/* Collective. A hook for EvaluationSetWriteHook(): writes /variance (CONTEXT is the REML). */
PETSC_EXTERN PetscErrorCode REMLWriteOutput(Output output, void *context);
/* Not collective. Whether the last REMLRun() converged. */
PETSC_EXTERN PetscErrorCode REMLGetConverged(REML reml, PetscBool *converged);

#endif
