/* REML by Monte Carlo (reml.h): the traces that need C^-1 come from simulated data sets (pev.h) solved by
   PCG like the evaluation, so no factorisation is needed and any operator will do.
     mcem  Monte Carlo EM (Matilainen et al. 2013).
     mcai  Monte Carlo average information: the gradient from the sampled traces, the average information
           from the working variates (one PCG solve each), Newton steps; the rounds after the steps fall
           within their Monte Carlo noise are averaged. */
#include "remlimpl.h"

/* ---- the quadratic forms U'K^-1U of a random group ---- */

/* K^-1 of a group on this rank and where the values of its entries' levels come from, set up once. */
typedef struct {
  const EquationsBlock *block;
  PetscInt              dim, nneeded;
  PetscCount            n;
  PetscInt             *ki, *kj, *needed;
  PetscInt             *at; /* per entry k and position p: where v(ki, p) and v(kj, p) are among the gathered, -1: no equation */
  PetscReal            *kv;
  Vec                   local;
  VecScatter            gather;
} Quadratic;

/* Collective. Group G's quadratic forms for vectors laid out like V. */
static PetscErrorCode QuadraticCreate(Evaluation ev, PetscInt g, Vec v, Quadratic *Q)
{
  Relationship rel;
  PetscReal    logdetK;
  IS           is;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(Q, sizeof(*Q)));
  PetscCall(EvaluationGetRelationship(ev, g, &rel));
  PetscCall(RelationshipGetBlocks(rel, &Q->block, NULL));
  Q->dim = Q->block->size;
  PetscCall(REMLGroupStructure(ev, g, &Q->n, &Q->ki, &Q->kj, &Q->kv, &logdetK));
  PetscCall(PetscMalloc2(2 * Q->n * Q->dim + 1, &Q->needed, 2 * Q->n * Q->dim + 1, &Q->at));
  for (PetscCount k = 0; k < Q->n; k++)
    for (PetscInt p = 0; p < Q->dim; p++) {
      PetscInt a = EquationsBlockEquation(Q->block, Q->ki[k], p), b = EquationsBlockEquation(Q->block, Q->kj[k], p);
      if (a >= 0) Q->needed[Q->nneeded++] = a;
      if (b >= 0) Q->needed[Q->nneeded++] = b;
    }
  PetscCall(PetscSortRemoveDupsInt(&Q->nneeded, Q->needed));
  for (PetscCount k = 0; k < Q->n; k++)
    for (PetscInt p = 0; p < Q->dim; p++)
      for (PetscInt side = 0; side < 2; side++) {
        PetscInt e = EquationsBlockEquation(Q->block, side ? Q->kj[k] : Q->ki[k], p), *at = &Q->at[(k * Q->dim + p) * 2 + side];
        *at = -1;
        if (e >= 0) PetscCall(PetscFindInt(e, Q->nneeded, Q->needed, at));
      }
  PetscCall(VecCreateSeq(PETSC_COMM_SELF, Q->nneeded, &Q->local));
  PetscCall(ISCreateGeneral(PETSC_COMM_SELF, Q->nneeded, Q->needed, PETSC_USE_POINTER, &is));
  PetscCall(VecScatterCreate(v, is, Q->local, NULL, &Q->gather));
  PetscCall(ISDestroy(&is));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. S (dim x dim) = sum over K^-1's entries of v(i, a) v(j, b), both triangles, over all ranks. */
static PetscErrorCode QuadraticApply(MPI_Comm comm, Quadratic *Q, Vec v, PetscReal S[])
{
  const PetscInt     dim = Q->dim;
  const PetscScalar *x;

  PetscFunctionBeginUser;
  PetscCall(VecScatterBegin(Q->gather, v, Q->local, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(Q->gather, v, Q->local, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetArrayRead(Q->local, &x));
  PetscCall(PetscArrayzero(S, dim * dim));
  for (PetscCount k = 0; k < Q->n; k++)
    for (PetscInt p = 0; p < dim; p++) {
      PetscInt i = Q->at[(k * dim + p) * 2];
      if (i < 0) continue;
      for (PetscInt q = 0; q < dim; q++) {
        PetscInt  j = Q->at[(k * dim + q) * 2 + 1];
        PetscReal v;
        if (j < 0) continue;
        v = Q->kv[k] * PetscRealPart(x[i]) * PetscRealPart(x[j]);
        S[p * dim + q] += v;
        if (Q->ki[k] != Q->kj[k]) S[q * dim + p] += v;
      }
    }
  PetscCall(VecRestoreArrayRead(Q->local, &x));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, S, (PetscMPIInt)(dim * dim), MPIU_REAL, MPI_SUM, comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode QuadraticDestroy(Quadratic *Q)
{
  PetscFunctionBeginUser;
  PetscCall(VecScatterDestroy(&Q->gather));
  PetscCall(VecDestroy(&Q->local));
  PetscCall(PetscFree2(Q->needed, Q->at));
  PetscCall(PetscFree3(Q->ki, Q->kj, Q->kv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. Every group's quadratic forms (*Q, PetscFree() after QuadraticDestroy() of each). */
static PetscErrorCode QuadraticsCreate(Evaluation ev, PetscInt ngroups, Quadratic **Q)
{
  Vec x;

  PetscFunctionBeginUser;
  PetscCall(EvaluationGetSolution(ev, &x));
  PetscCall(PetscMalloc1(ngroups + 1, Q));
  for (PetscInt g = 0; g < ngroups; g++) PetscCall(QuadraticCreate(ev, g, x, &(*Q)[g]));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode QuadraticsDestroy(PetscInt ngroups, Quadratic **Q)
{
  PetscFunctionBeginUser;
  for (PetscInt g = 0; *Q && g < ngroups; g++) PetscCall(QuadraticDestroy(&(*Q)[g]));
  PetscCall(PetscFree(*Q));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. The end of a Monte Carlo run: its estimates as the last row (ROW) of the history, no log L,
   Monte Carlo standard errors, and the model set to the estimates. */
static PetscErrorCode MonteCarloFinish(REML reml, PetscInt row)
{
  PetscBool ok;

  PetscFunctionBeginUser;
  reml->history[row * (reml->npar + 1)] = (PetscReal)NAN;
  PetscCall(PetscArraycpy(reml->history + row * (reml->npar + 1) + 1, reml->theta, reml->npar));
  reml->logL  = (PetscReal)NAN;
  reml->mc_se = PETSC_TRUE;
  PetscCall(REMLApplyTheta(reml, reml->theta, PETSC_TRUE, &ok));
  PetscCheck(ok, reml->comm, PETSC_ERR_PLIB, "the mean estimates are not positive definite");
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- Monte Carlo EM ---- */

/* Monte Carlo EM-REML's accumulators of one round. */
typedef struct {
  Design      design;
  Vec         x, truth, xs; /* x_hat; one sample's true values and solutions */
  PetscInt    nrecords;
  PetscReal  *fit, *dev;       /* W x per record and trait */
  PetscReal   RS[MAXT * MAXT]; /* sum of w (e_hat e_hat' + d d') */
  PetscReal   records;         /* records, all ranks */
  PetscReal **T;               /* per group: the mean of (U* - U*_hat)'K^-1(U* - U*_hat) */
  Quadratic  *Q;               /* per group */
} MonteCarloRound;

/* The residual part of the round: w e_hat e_hat' over the records (every record must have every trait). */
static PetscErrorCode MonteCarloResidual(REML reml, MonteCarloRound *mc)
{
  const PetscInt t = reml->ntraits;

  PetscFunctionBeginUser;
  PetscCall(DesignApply(mc->design, mc->x, mc->fit));
  for (PetscInt r = 0; r < mc->nrecords; r++) {
    uint32_t         pattern;
    PetscReal        w, e[MAXT];
    const PetscReal *y;
    PetscCall(DesignGetRecord(mc->design, r, &pattern, &w, NULL, NULL, &y));
    PetscCheck(pattern == ((uint32_t)1 << t) - 1, PETSC_COMM_SELF, PETSC_ERR_SUP, "-reml_method mcem: every record must have every trait (use ai or em)");
    for (PetscInt a = 0; a < t; a++) e[a] = y[a] - mc->fit[r * t + a];
    for (PetscInt a = 0; a < t; a++)
      for (PetscInt b = 0; b < t; b++) mc->RS[a * t + b] += w * e[a] * e[b];
    mc->records += 1;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One simulated data set M of the round: solved by PCG, its errors added to the residual (d d') and group
   (T) accumulators, each over SAMPLES. */
static PetscErrorCode MonteCarloSample(REML reml, Evaluation ev, PetscInt m, MonteCarloRound *mc)
{
  const PetscInt t = reml->ntraits;
  PetscInt       nrel, ngroups;
  Relationship  *rel;
  MME            mme;
  Mat            C, P;
  Vec            rhs;
  Solver         solver;

  PetscFunctionBeginUser;
  PetscCall(EvaluationGetRelationships(ev, &nrel, &rel));
  PetscCall(EvaluationGetMME(ev, &mme));
  PetscCall(ModelGetNumGroups(reml->model, &ngroups));
  PetscCall(VecDuplicate(mc->x, &rhs));
  PetscCall(PEVSimulate(mc->design, nrel, rel, reml->seed, reml->rounds * reml->samples + m, mc->truth, rhs));
  PetscCall(MMEGetSystem(mme, &C, &P, NULL));
  PetscCall(SolverCreate(reml->comm, &solver));
  PetscCall(SolverSetUp(solver, C, P));
  PetscCall(VecZeroEntries(mc->xs));
  PetscCall(SolverSolve(solver, rhs, mc->xs));
  PetscCall(SolverDestroy(&solver));
  PetscCall(VecDestroy(&rhs));
  PetscCall(VecAXPY(mc->xs, -1, mc->truth)); /* x*_hat - x* */
  PetscCall(DesignApply(mc->design, mc->xs, mc->dev));
  for (PetscInt r = 0; r < mc->nrecords; r++) {
    PetscReal w;
    PetscCall(DesignGetRecord(mc->design, r, NULL, &w, NULL, NULL, NULL));
    for (PetscInt a = 0; a < t; a++)
      for (PetscInt b = 0; b < t; b++) mc->RS[a * t + b] += w * mc->dev[r * t + a] * mc->dev[r * t + b] / reml->samples;
  }
  for (PetscInt g = 0; g < ngroups; g++) {
    PetscReal Tm[64 * 64];
    PetscCall(QuadraticApply(reml->comm, &mc->Q[g], mc->xs, Tm));
    for (PetscInt k = 0; k < 64 * 64; k++) mc->T[g][k] += Tm[k] / reml->samples;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The round's new parameters: R0 = RS / records, G0 = (U'K^-1U + T) / q. */
static PetscErrorCode MonteCarloUpdate(REML reml, Evaluation ev, MonteCarloRound *mc)
{
  const PetscInt t = reml->ntraits;
  PetscInt       ngroups;
  Equations      eq;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(reml->model, &ngroups));
  PetscCall(EvaluationGetEquations(ev, &eq));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, mc->RS, (PetscMPIInt)(t * t), MPIU_REAL, MPI_SUM, reml->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &mc->records, 1, MPIU_REAL, MPI_SUM, reml->comm));
  for (PetscInt k = 0; k < reml->npar; k++) {
    const Parameter *p = &reml->par[k];
    if (p->group < 0) reml->theta[k] = mc->RS[p->a * t + p->b] / mc->records;
  }
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup     *group;
    const EquationsBlock *block;
    PetscReal             Q[64 * 64];
    PetscCall(ModelGetGroup(reml->model, g, &group));
    PetscCall(EquationsGetGroupBlocks(eq, reml->model, g, &block, NULL));
    PetscCall(QuadraticApply(reml->comm, &mc->Q[g], mc->x, Q));
    for (PetscInt k = 0; k < reml->npar; k++) {
      const Parameter *p = &reml->par[k];
      if (p->group == g) reml->theta[k] = (Q[p->a * group->dim + p->b] + mc->T[g][p->a * group->dim + p->b]) / block->nlevels;
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One round of Monte Carlo EM at the current parameters: the solutions, the samples, the new parameters. */
static PetscErrorCode MonteCarloRoundRun(REML reml, Evaluation ev, Quadratic **Q, PetscReal **T)
{
  MonteCarloRound mc;
  Equations       eq;
  Records         records;
  PetscInt        ngroups;
  PetscBool       ok;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&mc, sizeof(mc)));
  mc.T = T;
  PetscCall(REMLApplyTheta(reml, reml->theta, PETSC_TRUE, &ok));
  PetscCheck(ok, reml->comm, PETSC_ERR_USER_INPUT, "REML: the (co)variances are not positive definite");
  PetscCall(EvaluationReassemble(ev));
  PetscCall(EvaluationSolve(ev)); /* x_hat */
  PetscCall(EvaluationGetSolution(ev, &mc.x));
  PetscCall(EvaluationGetEquations(ev, &eq));
  PetscCall(EvaluationGetRecords(ev, &records));
  PetscCall(ModelGetNumGroups(reml->model, &ngroups));
  PetscCall(QuadraticsDestroy(ngroups, Q)); /* a reassembled system may spread its rows otherwise */
  PetscCall(QuadraticsCreate(ev, ngroups, Q));
  mc.Q = *Q;
  PetscCall(DesignCreate(reml->model, eq, records, mc.x, &mc.design));
  PetscCall(VecDuplicate(mc.x, &mc.truth));
  PetscCall(VecDuplicate(mc.x, &mc.xs));
  PetscCall(DesignGetSizes(mc.design, &mc.nrecords, NULL, NULL));
  PetscCall(PetscMalloc2(mc.nrecords * reml->ntraits + 1, &mc.fit, mc.nrecords * reml->ntraits + 1, &mc.dev));
  PetscCall(MonteCarloResidual(reml, &mc));
  for (PetscInt g = 0; g < ngroups; g++) PetscCall(PetscArrayzero(T[g], 64 * 64));
  for (PetscInt m = 0; m < reml->samples; m++) PetscCall(MonteCarloSample(reml, ev, m, &mc));
  /* history: this round's parameters (log L is not computed: NaN) */
  reml->history[reml->rounds * (reml->npar + 1)] = (PetscReal)NAN;
  PetscCall(PetscArraycpy(reml->history + reml->rounds * (reml->npar + 1) + 1, reml->theta, reml->npar));
  PetscCall(MonteCarloUpdate(reml, ev, &mc));
  PetscCall(PetscFree2(mc.fit, mc.dev));
  PetscCall(VecDestroy(&mc.truth));
  PetscCall(VecDestroy(&mc.xs));
  PetscCall(DesignDestroy(&mc.design));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The estimate: the mean SUM / kept of the rounds after BURN; its Monte Carlo standard error by batch means
   (10 batches: the rounds of EM are strongly correlated). */
static void MonteCarloEstimate(REML reml, const PetscReal sum[], PetscInt burn)
{
  const PetscInt npar = reml->npar;

  for (PetscInt k = 0; k < npar; k++) {
    PetscInt  kept = reml->max_it - burn, nbatch = PetscMin(10, kept), size = kept / nbatch;
    PetscReal mean = sum[k] / kept, ss = 0;
    for (PetscInt b = 0; b < nbatch; b++) {
      PetscReal bm = 0;
      for (PetscInt j = 0; j < size; j++) {
        PetscInt r = burn + b * size + j;
        bm += r + 1 < reml->max_it ? reml->history[(r + 1) * (npar + 1) + 1 + k] : reml->theta[k];
      }
      bm /= size;
      ss += (bm - mean) * (bm - mean);
    }
    reml->mcse[k]  = nbatch > 1 ? PetscSqrtReal(ss / (nbatch - 1) / nbatch) : 0;
    reml->theta[k] = mean;
  }
}

/* Monte Carlo EM-REML (Matilainen, Mantysaari, Lidauer, Stranden & Thompson 2013): the traces of EM-REML
   from one simulated data set per round, solved by PCG like the evaluation -- no factorisation:
     G0 = (U'K^-1U + (U* - U*_hat)'K^-1(U* - U*_hat)) / q,
     R0 = mean over records of w (e_hat e_hat' + d d'), d = W (x*_hat - x*).
   The estimates wander by the Monte Carlo noise: the result is the mean of the second half of the rounds. */
PetscErrorCode REMLRunMonteCarloEM(REML reml, Evaluation ev)
{
  PetscInt   npar = reml->npar, ngroups, burn;
  PetscReal *sum, **T;
  Quadratic *Q = NULL;

  PetscFunctionBeginUser;
  PetscCheck(reml->max_it >= 2, reml->comm, PETSC_ERR_USER_INPUT,
             "-reml_method mcem takes -reml_max_it rounds (at least 2; the mean of the second half is kept)");
  PetscCall(ModelGetNumGroups(reml->model, &ngroups));
  PetscCall(PetscMalloc1(ngroups + 1, &T));
  for (PetscInt g = 0; g < ngroups; g++) PetscCall(PetscMalloc1(64 * 64, &T[g]));
  PetscCall(PetscCalloc1(npar, &sum));
  burn = reml->max_it / 2;
  for (reml->rounds = 0; reml->rounds < reml->max_it; reml->rounds++) {
    char line[4096];
    PetscCall(MonteCarloRoundRun(reml, ev, &Q, T));
    if (reml->rounds >= burn)
      for (PetscInt k = 0; k < npar; k++) sum[k] += reml->theta[k];
    snprintf(line, sizeof(line), "reml: round %d (Monte Carlo EM),", (int)reml->rounds + 1);
    for (PetscInt k = 0; k < npar && strlen(line) < 3900; k++) snprintf(line + strlen(line), sizeof(line) - strlen(line), " %.6g", (double)reml->theta[k]);
    (void)HendersonProgressDue();
    HendersonProgressPrintf("%s", line);
  }
  MonteCarloEstimate(reml, sum, burn);
  PetscCall(QuadraticsDestroy(ngroups, &Q));
  for (PetscInt g = 0; g < ngroups; g++) PetscCall(PetscFree(T[g]));
  PetscCall(PetscFree(T));
  reml->converged = PETSC_TRUE;
  reml->has_ai    = PETSC_FALSE;
  PetscCall(MonteCarloFinish(reml, reml->max_it));
  PetscCall(PetscFree(sum));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- Monte Carlo AI ---- */

/* What a round of Monte Carlo AI works with besides the RoundWork (records, residuals, G0^-1, working
   variates): the design of the simulated data sets, PCG on the round's C, and what the samples share. */
typedef struct {
  Design      design;
  Solver      solver;
  Vec         truth, xs, rhs;
  PetscReal  *dev;             /* W (x*_hat - x*), per record and trait */
  PetscReal   HE[MAXT * MAXT]; /* over all records: w R_r^-1 e e' R_r^-1 */
  PetscReal **Shat;            /* per group: U_hat'K^-1 U_hat */
} MCAIRound;

static PetscErrorCode SolveWithSolver(void *solver, Vec b, Vec x)
{
  PetscFunctionBeginUser;
  PetscCall(VecZeroEntries(x));
  PetscCall(SolverSolve((Solver)solver, b, x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* H += w (R^-1 v)(R^-1 v)' for the values V of one record (RINV: R0^-1 over its traits, zero elsewhere). */
static void AddResidualOuter(PetscInt t, PetscReal w, const PetscReal rinv[], const PetscReal v[], PetscReal H[])
{
  PetscReal z[MAXT] = {0};

  for (PetscInt a = 0; a < t; a++)
    for (PetscInt j = 0; j < t; j++) z[a] += rinv[a * t + j] * v[j];
  for (PetscInt a = 0; a < t; a++)
    for (PetscInt b = 0; b < t; b++) H[a * t + b] += w * z[a] * z[b];
}

/* Collective. H = sum over all records of w R_r^-1 v_r v_r' R_r^-1 for V (per record and trait). */
static PetscErrorCode ResidualOuter(REML reml, Design design, const PetscReal v[], PetscReal H[])
{
  const PetscInt t = reml->ntraits;
  PetscInt       nrecords;

  PetscFunctionBeginUser;
  PetscCall(DesignGetSizes(design, &nrecords, NULL, NULL));
  PetscCall(PetscArrayzero(H, t * t));
  for (PetscInt r = 0; r < nrecords; r++) {
    PetscReal        w;
    const PetscReal *rinv;
    PetscCall(DesignGetRecord(design, r, NULL, &w, &rinv, NULL, NULL));
    AddResidualOuter(t, w, rinv, v + r * t, H);
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, H, (PetscMPIInt)(t * t), MPIU_REAL, MPI_SUM, reml->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. The round's solutions (PCG, the evaluation's own), and what comes with them: the residuals and
   G0^-1 (W), PCG for the samples and the working variates, HE and U_hat'K^-1U_hat. */
static PetscErrorCode MCAISetUp(REML reml, Evaluation ev, Quadratic **Q, RoundWork *w, MCAIRound *mc)
{
  MME     mme;
  Mat     C, P;
  Vec     x;
  Records records;

  PetscFunctionBeginUser;
  PetscCall(EvaluationReassemble(ev));
  PetscCall(EvaluationSolve(ev));
  PetscCall(EvaluationGetSolution(ev, &x));
  PetscCall(QuadraticsDestroy(w->ngroups, Q)); /* a reassembled system may spread its rows otherwise */
  PetscCall(QuadraticsCreate(ev, w->ngroups, Q));
  PetscCall(EvaluationGetEquations(ev, &w->eq));
  PetscCall(EvaluationGetMME(ev, &mme));
  PetscCall(MMEGetSystem(mme, &C, &P, &w->rhs));
  PetscCall(VecDuplicate(x, &w->x));
  PetscCall(VecCopy(x, w->x));
  PetscCall(VecScatterCreateToAll(w->x, &w->toall, &w->xall));
  PetscCall(VecScatterBegin(w->toall, w->x, w->xall, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(w->toall, w->x, w->xall, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetArrayRead(w->xall, &w->X));
  PetscCall(REMLRoundRecords(reml, ev, w));
  PetscCall(REMLRoundGroups(reml, ev, w));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, w->SumRinv, (PetscMPIInt)(w->t * w->t), MPIU_REAL, MPI_SUM, reml->comm));
  PetscCall(SolverCreate(reml->comm, &mc->solver));
  PetscCall(SolverSetUp(mc->solver, C, P));
  w->solve         = SolveWithSolver;
  w->solve_context = mc->solver;
  PetscCall(EvaluationGetRecords(ev, &records));
  PetscCall(DesignCreate(reml->model, w->eq, records, x, &mc->design));
  PetscCall(VecDuplicate(x, &mc->truth));
  PetscCall(VecDuplicate(x, &mc->xs));
  PetscCall(VecDuplicate(x, &mc->rhs));
  PetscCall(PetscMalloc1(w->nrecords * w->t + 1, &mc->dev));
  PetscCall(ResidualOuter(reml, mc->design, w->e, mc->HE));
  PetscCall(PetscMalloc1(w->ngroups + 1, &mc->Shat));
  for (PetscInt g = 0; g < w->ngroups; g++) {
    PetscCall(PetscMalloc1(64 * 64, &mc->Shat[g]));
    PetscCall(QuadraticApply(reml->comm, &(*Q)[g], w->x, mc->Shat[g]));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode MCAIRoundDestroy(PetscInt ngroups, MCAIRound *mc)
{
  PetscFunctionBeginUser;
  for (PetscInt g = 0; mc->Shat && g < ngroups; g++) PetscCall(PetscFree(mc->Shat[g]));
  PetscCall(PetscFree(mc->Shat));
  PetscCall(PetscFree(mc->dev));
  PetscCall(VecDestroy(&mc->truth));
  PetscCall(VecDestroy(&mc->xs));
  PetscCall(VecDestroy(&mc->rhs));
  PetscCall(DesignDestroy(&mc->design));
  PetscCall(SolverDestroy(&mc->solver));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. Sample M of the round, solved by PCG: the gradient G (npar) with its errors standing in for
   C^-1 -- tr(K^-1 C^{ab}) by (U* - U*_hat)'K^-1(U* - U*_hat), W_r C^-1 W_r' by d d', d = W (x*_hat - x*). */
static PetscErrorCode MCAISample(REML reml, Evaluation ev, Quadratic *Q, RoundWork *w, MCAIRound *mc, PetscInt m, PetscReal G[])
{
  const PetscInt t = w->t;
  PetscInt       nrel;
  Relationship  *rel;
  PetscReal      H[MAXT * MAXT], em;

  PetscFunctionBeginUser;
  PetscCall(EvaluationGetRelationships(ev, &nrel, &rel));
  PetscCall(PEVSimulate(mc->design, nrel, rel, reml->seed, (PetscInt64)reml->rounds * reml->samples + m, mc->truth, mc->rhs));
  PetscCall(SolveWithSolver(mc->solver, mc->rhs, mc->xs));
  PetscCall(VecAXPY(mc->xs, -1, mc->truth)); /* x*_hat - x*: covariance C^-1 */
  PetscCall(DesignApply(mc->design, mc->xs, mc->dev));
  PetscCall(ResidualOuter(reml, mc->design, mc->dev, H));
  for (PetscInt k = 0; k < t * t; k++) H[k] += mc->HE[k];
  for (PetscInt g = 0; g < w->ngroups; g++) {
    const PetscInt dim = w->block[g]->size;
    PetscCall(QuadraticApply(reml->comm, &Q[g], mc->xs, w->S[g]));
    for (PetscInt k = 0; k < dim * dim; k++) w->S[g][k] += mc->Shat[g][k];
  }
  for (PetscInt k = 0; k < w->npar; k++) {
    const Parameter *p = &reml->par[k];
    if (p->group >= 0)
      REMLGroupGradient(w, p, &G[k], &em);
    else
      G[k] = -0.5 * (Contract(w->SumRinv, t, p->a, p->b) - Contract(H, t, p->a, p->b));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. One round at the current parameters: the average information AI, the gradient GRAD (the mean over
   the samples) and the covariance GCOV of that mean. */
static PetscErrorCode MCAIRoundRun(REML reml, Evaluation ev, Quadratic **Q, PetscReal grad[], PetscReal gcov[], PetscReal ai[])
{
  const PetscInt npar = reml->npar, S = reml->samples;
  RoundWork      w;
  MCAIRound      mc;
  PetscReal     *G;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&w, sizeof(w)));
  PetscCall(PetscMemzero(&mc, sizeof(mc)));
  w.t    = reml->ntraits;
  w.npar = npar;
  PetscCall(ModelGetNumGroups(reml->model, &w.ngroups));
  PetscCall(MCAISetUp(reml, ev, Q, &w, &mc));
  PetscCall(REMLRoundAverageInformation(reml, &w, ai));
  PetscCall(PetscMalloc1(S * npar, &G));
  for (PetscInt m = 0; m < S; m++) {
    PetscCall(MCAISample(reml, ev, *Q, &w, &mc, m, G + m * npar));
    if (HendersonProgressDue()) HendersonProgressPrintf("reml: round %d, sample %d of %d", (int)reml->rounds, (int)m + 1, (int)S);
  }
  for (PetscInt k = 0; k < npar; k++) {
    grad[k] = 0;
    for (PetscInt m = 0; m < S; m++) grad[k] += G[m * npar + k] / S;
  }
  for (PetscInt k = 0; k < npar; k++)
    for (PetscInt l = 0; l < npar; l++) {
      PetscReal c = 0;
      for (PetscInt m = 0; m < S; m++) c += (G[m * npar + k] - grad[k]) * (G[m * npar + l] - grad[l]);
      gcov[k * npar + l] = c / (S - 1) / S;
    }
  PetscCall(PetscFree(G));
  PetscCall(MCAIRoundDestroy(w.ngroups, &mc));
  PetscCall(REMLRoundWorkDestroy(&w));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* SD[k] = sqrt((A^-1 V A^-1)_kk) for A^-1 (AINV) and V, N x N: the standard deviations of A^-1 g for g ~ (0, V). */
static void SandwichDeviations(PetscInt n, const PetscReal Ainv[], const PetscReal V[], PetscReal sd[])
{
  for (PetscInt k = 0; k < n; k++) {
    PetscReal v = 0;
    for (PetscInt i = 0; i < n; i++)
      for (PetscInt j = 0; j < n; j++) v += Ainv[k * n + i] * V[i * n + j] * Ainv[j * n + k];
    sd[k] = PetscSqrtReal(PetscMax(v, 0));
  }
}

/* The step STEP scaled by the largest of 1, 1/2, ..., 1/256 that stays in the parameter space (*SCALE; 0 when none
   does) into TRIAL. */
static PetscErrorCode StepInside(REML reml, const PetscReal step[], PetscReal trial[], PetscReal *scale)
{
  PetscBool inside = PETSC_FALSE;

  PetscFunctionBeginUser;
  for (*scale = 1; *scale >= 1.0 / 256; *scale /= 2) {
    for (PetscInt k = 0; k < reml->npar; k++) trial[k] = reml->theta[k] + *scale * step[k];
    PetscCall(REMLApplyTheta(reml, trial, PETSC_FALSE, &inside));
    if (inside) PetscFunctionReturn(PETSC_SUCCESS);
    reml->halvings++;
  }
  *scale = 0;
  PetscCall(PetscArraycpy(trial, reml->theta, reml->npar));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Monte Carlo average-information REML (Matilainen, Mantysaari, Lidauer, Stranden & Thompson 2013): each
   round's gradient from -reml_samples simulated data sets (the traces of C^-1 by their prediction errors), the
   average information from the working variates (exact but for the PCG solves), and the Newton step AI^-1 g.
   Near the optimum a step is its Monte Carlo noise, AI^-1 (g - E g), and the point it lands on an estimate of
   the optimum with that error, nearly independent of the last one (the step undoes the last point's error to
   first order). So once no step exceeds twice its Monte Carlo standard error, the points of that round and the
   next are averaged until there are -reml_mc_average of them, with the standard error of a mean of independent
   ones; a step beyond three times its error on the way starts the average again. */
PetscErrorCode REMLRunMonteCarloAI(REML reml, Evaluation ev)
{
  const PetscInt npar = reml->npar;
  PetscInt       ngroups, kept = 0;
  PetscReal     *grad, *gcov, *step, *trial, *sd, *sum, *var;
  Quadratic     *Q = NULL;
  PetscBool      ok;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(reml->model, &ngroups));
  PetscCall(PetscMalloc7(npar, &grad, npar * npar, &gcov, npar, &step, npar, &trial, npar, &sd, npar, &sum, npar, &var));
  PetscCall(PetscArrayzero(sum, npar));
  PetscCall(PetscArrayzero(var, npar));
  reml->converged = PETSC_FALSE;
  for (reml->rounds = 0; reml->rounds < reml->max_it && kept < reml->average; reml->rounds++) {
    PetscReal scale, worst = 0;
    char      line[4096];
    PetscCall(REMLApplyTheta(reml, reml->theta, PETSC_TRUE, &ok));
    PetscCheck(ok, reml->comm, PETSC_ERR_USER_INPUT, "REML: the (co)variances are not positive definite");
    PetscCall(MCAIRoundRun(reml, ev, &Q, grad, gcov, reml->ai));
    reml->history[reml->rounds * (npar + 1)] = (PetscReal)NAN;
    PetscCall(PetscArraycpy(reml->history + reml->rounds * (npar + 1) + 1, reml->theta, npar));
    PetscCall(REMLSolveSmall(npar, reml->ai, grad, step, reml->ai_inverse));
    SandwichDeviations(npar, reml->ai_inverse, gcov, sd);
    for (PetscInt k = 0; k < npar; k++) worst = PetscMax(worst, PetscAbsReal(step[k]) / PetscMax(sd[k], PETSC_SMALL * PetscAbsReal(reml->theta[k])));
    PetscCall(StepInside(reml, step, trial, &scale));
    if (kept ? worst > 3 : worst > 2 || scale < 1) { /* not (or no longer) within the noise: start again */
      PetscCall(PetscArrayzero(sum, npar));
      PetscCall(PetscArrayzero(var, npar));
      kept = 0;
    } else { /* within the noise: each point is an estimate */
      for (PetscInt k = 0; k < npar; k++) {
        sum[k] += trial[k];
        var[k] += sd[k] * sd[k];
      }
      kept++;
    }
    PetscCall(PetscArraycpy(reml->theta, trial, npar));
    PetscCall(PetscArraycpy(reml->grad, grad, npar));
    snprintf(line, sizeof(line), "reml: round %d (Monte Carlo AI), the largest step %.3g of its Monte Carlo s.e.%s,", (int)reml->rounds + 1, (double)worst,
             kept ? ", averaging" : "");
    for (PetscInt k = 0; k < npar && strlen(line) < 3900; k++) snprintf(line + strlen(line), sizeof(line) - strlen(line), " %.6g", (double)reml->theta[k]);
    (void)HendersonProgressDue();
    HendersonProgressPrintf("%s", line);
    PetscCall(PetscInfo(NULL, "%s\n", line));
  }
  reml->converged = (PetscBool)(kept >= reml->average);
  for (PetscInt k = 0; k < npar; k++) {
    if (kept) reml->theta[k] = sum[k] / kept;
    reml->mcse[k] = kept ? PetscSqrtReal(var[k]) / kept : sd[k];
    reml->se[k]   = PetscSqrtReal(PetscMax(reml->ai_inverse[k * npar + k], 0));
  }
  reml->has_ai = PETSC_TRUE;
  reml->kept   = kept;
  PetscCall(MonteCarloFinish(reml, reml->rounds));
  PetscCall(QuadraticsDestroy(ngroups, &Q));
  PetscCall(PetscFree7(grad, gcov, step, trial, sd, sum, var));
  PetscFunctionReturn(PETSC_SUCCESS);
}
