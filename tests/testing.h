/* Helpers shared by the tests: a seeded random generator, check counting that agrees over ranks,
   and dense linear algebra (LAPACK) for the independent answers the tests compare with. */
#ifndef HENDERSON_TESTING_H
#define HENDERSON_TESTING_H

#include <henderson/henderson.h>

typedef struct {
  uint64_t state;
} TestRandom;

void     TestRandomSeed(TestRandom *r, uint64_t seed);
uint64_t TestRandomNext(TestRandom *r);
double   TestRandomUniform(TestRandom *r);         /* [0, 1) */
PetscInt TestRandomInt(TestRandom *r, PetscInt n); /* 0..n-1 */
double   TestRandomNormal(TestRandom *r);
void     TestShuffle(TestRandom *r, PetscInt a[], PetscInt n);

typedef struct {
  PetscInt checks, failures;
} TestCounter;

/* Counts a check; prints it when it fails (or always with -test_verbose). */
PetscBool TestCheck(TestCounter *c, PetscBool ok, const char *format, ...) PETSC_ATTRIBUTE_FORMAT(3, 4);
/* Collective: sums the counts over ranks, prints a summary on rank 0, returns the exit code. */
int TestFinish(MPI_Comm comm, TestCounter *c, const char name[]);

/* Dense A of a pedigree by the tabular method; parents must come before progeny (-1 unknown). */
PetscErrorCode TestTabularA(PetscInt n, const PetscInt sire[], const PetscInt dam[], PetscReal A[]);
/* In-place inverse of a symmetric positive definite matrix (LAPACK potrf/potri), full storage. */
PetscErrorCode TestInverseSPD(PetscInt n, PetscReal A[]);
/* A solution of a consistent symmetric positive semidefinite system, through the eigenvalues of its
   Jacobi-scaled matrix (a generalized inverse: estimable functions are those of any solution). */
PetscErrorCode TestSolvePSD(PetscInt n, const PetscReal A[], const PetscReal b[], PetscReal x[]);
/* Collective: the whole of a distributed matrix as a dense row-major array on rank 0 (NULL elsewhere). */
PetscErrorCode TestMatGatherDense(Mat A, PetscReal **dense);
/* The identities of the lecture notes for y = Xb + Zu + e, var(u) = G, var(e) = R (dense, row-major:
   X n x p, Z n x q, G q x q, R n x n), against the MME solution (B p, U q), with V = ZGZ' + R:
     BLUE = GLS: X b = X (X'V^-1X)^- X'V^-1 y (fitted values: b need not be estimable);
     BLUP: u = G Z'V^-1 (y - X b);
     the Cholesky reparametrisation G = TT', Z* = ZT, var(u*) = I: the same fitted values and u = T u*.
   Three checks on C, relative tolerance 1e-8. */
PetscErrorCode TestMixedModelIdentities(TestCounter *c, PetscInt n, PetscInt p, PetscInt q, const PetscReal X[], const PetscReal Z[], const PetscReal G[],
                                        const PetscReal R[], const PetscReal y[], const PetscReal b[], const PetscReal u[]);
/* The REML log-likelihood of y = Xb + Zu + e (X of full column rank), densely:
   -1/2 [log|V| + log|X'V^-1X| + y'Py], V = ZGZ' + R, P = V^-1 - V^-1X(X'V^-1X)^-1X'V^-1 (the constant
   (n - p) log 2 pi left out, as henderson's log L). */
PetscErrorCode TestREMLLogLikelihood(PetscInt n, PetscInt p, PetscInt q, const PetscReal X[], const PetscReal Z[], const PetscReal G[], const PetscReal R[],
                                     const PetscReal y[], PetscReal *logL);
/* The average information matrix AI[k][l] = 1/2 (dV_k P y)' P (dV_l P y) of the same model, dV_k = Z dG_k Z' + dR_k
   (dG[k] q x q or NULL, dR[k] n x n or NULL), npar x npar. */
PetscErrorCode TestREMLAverageInformation(PetscInt n, PetscInt p, PetscInt q, const PetscReal X[], const PetscReal Z[], const PetscReal G[],
                                          const PetscReal R[], const PetscReal y[], PetscInt npar, const PetscReal *const dG[], const PetscReal *const dR[],
                                          PetscReal AI[]);
/* |a - b| <= 1e-8 max(1, |b|). */
PetscBool TestClose(PetscReal a, PetscReal b);

/* One effect of a solutions file, read serially: its labels and VALUE, or another dataset of it ("pev"). */
typedef struct {
  PetscInt   n, ncolumns;
  char     **labels;
  PetscReal *values;
} TestSolution;
PetscErrorCode TestSolutionLoad(const char path[], const char name[], const char dataset[], TestSolution *e);
PetscErrorCode TestSolutionDestroy(TestSolution *e);
/* Column COLUMN of the level labelled LABEL; NAN when there is no such level. */
PetscReal TestSolutionGet(const TestSolution *e, const char label[], PetscInt column);

/* Collective. As `henderson reml MODEL` does it, on EV (created, nothing run yet): the assembled operator
   (AI-REML factors the equations), the estimates, then the solutions with them, written with /variance. */
PetscErrorCode TestRunREML(Evaluation ev, const char model[]);

/* mkdir -p on rank 0. */
PetscErrorCode TestMakeDirectory(MPI_Comm comm, const char path[]);

#endif
