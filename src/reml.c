/* REML by average information (or EM) on the factorised MME, and Monte Carlo EM: see reml.h. It walks
   the records with the MME's own record terms (recordterms.h), so that its W and R^-1 are exactly those
   of the equations, and takes each random group's K^-1 and log|K| from its relationship. */
#include "remlimpl.h"
#include <math.h>

const char *const REMLMethods[] = {"ai", "em", "mcem", "mcai", "REMLMethod", "REML_METHOD_", NULL};

PetscErrorCode REMLCreate(MPI_Comm comm, REML *reml)
{
  PetscFunctionBeginUser;
  PetscCall(PetscNew(reml));
  (*reml)->comm    = comm;
  (*reml)->method  = REML_METHOD_AI;
  (*reml)->max_it  = 50;
  (*reml)->tol     = 1e-8;
  (*reml)->samples = 0; /* the method's default */
  (*reml)->average = 5;
  (*reml)->seed    = 1;
  PetscCallMPI(MPI_Comm_rank(comm, &(*reml)->rank));
  PetscCallMPI(MPI_Comm_size(comm, &(*reml)->size));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode REMLDestroy(REML *reml)
{
  PetscFunctionBeginUser;
  if (!*reml) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscFree((*reml)->par));
  PetscCall(PetscFree6((*reml)->theta, (*reml)->grad, (*reml)->ai, (*reml)->ai_inverse, (*reml)->se, (*reml)->mcse));
  PetscCall(PetscFree((*reml)->history));
  PetscCall(PetscFree(*reml));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode REMLSetFromOptions(REML reml)
{
  PetscFunctionBeginUser;
  PetscOptionsBegin(reml->comm, NULL, "REML: variance components", "REML");
  PetscCall(PetscOptionsEnum("-reml_method", "ai (average information), em, mcem or mcai (Monte Carlo EM and AI, for national sizes)", "REMLSetFromOptions",
                             REMLMethods, (PetscEnum)reml->method, (PetscEnum *)&reml->method, NULL));
  PetscCall(PetscOptionsInt("-reml_max_it", "At most this many rounds", "REMLSetFromOptions", reml->max_it, &reml->max_it, NULL));
  PetscCall(PetscOptionsReal(
      "-reml_tol", "Converged when log L changes, or the AI step would change it, by less than this (and the parameters by less than its root, relatively)",
      "REMLSetFromOptions", reml->tol, &reml->tol, NULL));
  PetscCall(
      PetscOptionsInt("-reml_samples", "mcem, mcai: simulated data sets a round (mcem 1, mcai 10)", "REMLSetFromOptions", reml->samples, &reml->samples, NULL));
  PetscCall(PetscOptionsInt("-reml_seed", "mcem, mcai: seed of the random numbers", "REMLSetFromOptions", reml->seed, &reml->seed, NULL));
  PetscCall(PetscOptionsInt("-reml_mc_average", "mcai: rounds averaged once the steps are within their Monte Carlo noise", "REMLSetFromOptions", reml->average,
                            &reml->average, NULL));
  PetscOptionsEnd();
  if (!reml->samples) reml->samples = reml->method == REML_METHOD_MCAI ? 10 : 1;
  PetscCheck(reml->max_it >= 0 && reml->tol > 0, reml->comm, PETSC_ERR_USER_INPUT, "-reml_max_it must be >= 0 and -reml_tol > 0");
  PetscCheck(reml->samples >= 1 && (reml->method != REML_METHOD_MCAI || reml->samples >= 2), reml->comm, PETSC_ERR_USER_INPUT,
             "-reml_samples must be at least 1 (mcai: 2, for the Monte Carlo error of the gradient)");
  PetscCheck(reml->average >= 1, reml->comm, PETSC_ERR_USER_INPUT, "-reml_mc_average must be at least 1");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode REMLGetMethod(REML reml, REMLMethod *method)
{
  PetscFunctionBeginUser;
  *method = reml->method;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode REMLGetConverged(REML reml, PetscBool *converged)
{
  PetscFunctionBeginUser;
  *converged = reml->converged;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- small dense helpers ---- */

/* The matrix of parameter's group G (or the residual, G < 0) as a copy from THETA over the current model values. */
static PetscErrorCode BuildMatrices(REML reml, const PetscReal theta[], PetscReal *R0, PetscReal **G0)
{
  PetscInt         ngroups;
  const PetscReal *R;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(reml->model, &ngroups));
  PetscCall(ModelGetResidual(reml->model, &R));
  PetscCall(PetscArraycpy(R0, R, reml->ntraits * reml->ntraits));
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup *group;
    PetscCall(ModelGetGroup(reml->model, g, &group));
    PetscCall(PetscArraycpy(G0[g], group->covariance, group->dim * group->dim));
  }
  for (PetscInt k = 0; k < reml->npar; k++) {
    const Parameter *p = &reml->par[k];
    PetscInt         n = reml->ntraits;
    PetscReal       *M = R0;
    if (p->group >= 0) {
      const ModelGroup *group;
      PetscCall(ModelGetGroup(reml->model, p->group, &group));
      n = group->dim;
      M = G0[p->group];
    }
    M[p->a * n + p->b] = M[p->b * n + p->a] = theta[k];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Whether THETA makes every matrix positive definite; if SET, the model takes them. */
PetscErrorCode REMLApplyTheta(REML reml, const PetscReal theta[], PetscBool set, PetscBool *ok)
{
  PetscInt  ngroups;
  PetscReal R0[MAXT * MAXT], **G0, logdet;
  PetscBool good;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(reml->model, &ngroups));
  PetscCall(PetscMalloc1(ngroups + 1, &G0));
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup *group;
    PetscCall(ModelGetGroup(reml->model, g, &group));
    PetscCall(PetscMalloc1(group->dim * group->dim, &G0[g]));
  }
  PetscCall(BuildMatrices(reml, theta, R0, G0));
  PetscCall(DenseLogDetSPD(reml->ntraits, R0, &logdet, &good));
  *ok = good;
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup *group;
    PetscCall(ModelGetGroup(reml->model, g, &group));
    PetscCall(DenseLogDetSPD(group->dim, G0[g], &logdet, &good));
    *ok = (PetscBool)(*ok && good);
  }
  if (set && *ok) {
    PetscCall(ModelSetResidual(reml->model, R0));
    for (PetscInt g = 0; g < ngroups; g++) PetscCall(ModelSetGroupCovariance(reml->model, g, G0[g]));
  }
  for (PetscInt g = 0; g < ngroups; g++) PetscCall(PetscFree(G0[g]));
  PetscCall(PetscFree(G0));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The parameters: every group's G0 and R0, lower triangles; residual covariances of traits never
   recorded together are left out. */
static PetscErrorCode SetUpParameters(REML reml, Evaluation ev)
{
  PetscInt         ngroups, nrecords, together[MAXT * MAXT] = {0}, all[MAXT * MAXT];
  Records          records;
  const PetscReal *y, *R0;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(reml->model, &ngroups));
  PetscCall(ModelGetNumTraits(reml->model, &reml->ntraits));
  PetscCall(EvaluationGetRecords(ev, &records));
  PetscCall(RecordsGetLocalSize(records, &nrecords));
  PetscCall(RecordsGetTraits(records, &y));
  for (PetscInt r = 0; r < nrecords; r++)
    for (PetscInt a = 0; a < reml->ntraits; a++)
      for (PetscInt b = 0; b <= a; b++)
        if (!PetscIsNanReal(y[r * reml->ntraits + a]) && !PetscIsNanReal(y[r * reml->ntraits + b])) together[a * reml->ntraits + b] = 1;
  PetscCallMPI(MPI_Allreduce(together, all, (PetscMPIInt)(reml->ntraits * reml->ntraits), MPIU_INT, MPI_MAX, reml->comm));
  PetscCall(PetscMalloc1(1 + reml->ntraits * reml->ntraits + ngroups * 64 * 64, &reml->par));
  reml->npar     = 0;
  reml->names[0] = 0;
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup  *group;
    const ModelEffect *effect;
    PetscCall(ModelGetGroup(reml->model, g, &group));
    PetscCall(ModelGetEffect(reml->model, group->first, &effect));
    PetscCheck(group->dim <= 64, reml->comm, PETSC_ERR_SUP, "REML: a random group of order %" PetscInt_FMT " (at most 64)", group->dim);
    for (PetscInt a = 0; a < group->dim; a++)
      for (PetscInt b = 0; b <= a; b++) {
        char name[MODEL_MAX_NAME + 32];
        reml->par[reml->npar++] = (Parameter){g, a, b};
        snprintf(name, sizeof(name), "%s%s[%d,%d]", reml->npar > 1 ? "," : "", effect->name, (int)a + 1, (int)b + 1);
        PetscCall(HendersonStrlcat(reml->names, name, sizeof(reml->names)));
      }
  }
  PetscCall(ModelGetResidual(reml->model, &R0));
  for (PetscInt a = 0; a < reml->ntraits; a++)
    for (PetscInt b = 0; b <= a; b++) {
      char name[64];
      if (!all[a * reml->ntraits + b]) {
        PetscCheck(a != b, reml->comm, PETSC_ERR_USER_INPUT, "REML: trait %" PetscInt_FMT " has no records", a + 1);
        continue;
      }
      reml->par[reml->npar++] = (Parameter){-1, a, b};
      snprintf(name, sizeof(name), "%sresidual[%d,%d]", reml->npar > 1 ? "," : "", (int)a + 1, (int)b + 1);
      PetscCall(HendersonStrlcat(reml->names, name, sizeof(reml->names)));
    }
  PetscCall(PetscCalloc6(reml->npar, &reml->theta, reml->npar, &reml->grad, reml->npar * reml->npar, &reml->ai, reml->npar * reml->npar, &reml->ai_inverse,
                         reml->npar, &reml->se, reml->npar, &reml->mcse));
  for (PetscInt k = 0; k < reml->npar; k++) {
    const Parameter *p = &reml->par[k];
    if (p->group < 0)
      reml->theta[k] = R0[p->a * reml->ntraits + p->b];
    else {
      const ModelGroup *group;
      PetscCall(ModelGetGroup(reml->model, p->group, &group));
      reml->theta[k] = group->covariance[p->a * group->dim + p->b];
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- one round ---- */

static PetscErrorCode RequestAdd(Requests *q, PetscInt row, PetscInt col)
{
  PetscFunctionBeginUser;
  if (q->n == q->capacity) {
    q->capacity = PetscMax(1024, 2 * q->capacity);
    PetscCall(PetscRealloc(sizeof(PetscInt) * q->capacity, &q->row));
    PetscCall(PetscRealloc(sizeof(PetscInt) * q->capacity, &q->col));
  }
  q->row[q->n]   = row;
  q->col[q->n++] = col;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A random group's K^-1 on this rank (level space, upper triangle, not summed) and log|K|, from its relationship. */
PetscErrorCode REMLGroupStructure(Evaluation ev, PetscInt g, PetscCount *n, PetscInt **ki, PetscInt **kj, PetscReal **kv, PetscReal *logdetK)
{
  Relationship rel;

  PetscFunctionBeginUser;
  PetscCall(EvaluationGetRelationship(ev, g, &rel));
  PetscCall(RelationshipGetLogDeterminant(rel, logdetK)); /* first: it says what the type cannot do for REML */
  PetscCall(RelationshipGetInverseStructure(rel, n, ki, kj, kv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode SolveWithFactor(void *factor, Vec b, Vec x)
{
  PetscFunctionBeginUser;
  PetscCall(FactorSolve((Factor)factor, b, x));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The system at the current (co)variances, factored: log|C|, the solutions, x'r. */
static PetscErrorCode RoundFactor(REML reml, Evaluation ev, RoundWork *w)
{
  MME       mme;
  Mat       C;
  PetscBool has;

  PetscFunctionBeginUser;
  PetscCall(EvaluationReassemble(ev));
  PetscCall(EvaluationGetMME(ev, &mme));
  PetscCall(MMEHasEntries(mme, &has));
  PetscCheck(has, reml->comm, PETSC_ERR_USER_INPUT, "REML by %s factors the assembled equations: leave out -mme_operator data (or take -reml_method mcem)",
             REMLMethods[reml->method]);
  PetscCall(EvaluationGetEquations(ev, &w->eq));
  PetscCall(MMEGetSystem(mme, &C, NULL, &w->rhs));
  PetscCall(FactorCreate(reml->comm, &w->factor));
  PetscCall(FactorSetFromOptions(w->factor));
  PetscCall(FactorSetUp(w->factor, C));
  PetscCall(FactorGetLogDeterminant(w->factor, &w->logdetC));
  w->selected      = PETSC_TRUE;
  w->solve         = SolveWithFactor;
  w->solve_context = w->factor;
  PetscCall(VecDuplicate(w->rhs, &w->x));
  PetscCall(FactorSolve(w->factor, w->rhs, w->x));
  PetscCall(VecDot(w->x, w->rhs, &w->xr));
  PetscCall(VecScatterCreateToAll(w->x, &w->toall, &w->xall));
  PetscCall(VecScatterBegin(w->toall, w->x, w->xall, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(w->toall, w->x, w->xall, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetArrayRead(w->xall, &w->X));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The records: residuals, log|R|, y'R^-1y, and the entries of C^-1 that W_r C^-1 W_r' needs. */
PetscErrorCode REMLRoundRecords(REML reml, Evaluation ev, RoundWork *w)
{
  const PetscInt t = w->t;
  Records        records;

  PetscFunctionBeginUser;
  PetscCall(EvaluationGetRecords(ev, &records));
  PetscCall(RecordsGetLocalSize(records, &w->nrecords));
  PetscCall(RecordTermsCreate(reml->model, w->eq, records, &w->rt));
  PetscCall(PetscCalloc2(w->nrecords * t + 1, &w->e, w->nrecords + 1, &w->record_first));
  for (PetscInt r = 0; r < w->nrecords; r++) {
    RecordContribution c;
    const PetscReal   *yr              = w->rt.y + r * t;
    PetscReal          RP[MAXT * MAXT] = {0}, ld;
    PetscInt           np              = 0, idx[MAXT];
    PetscBool          ok;
    PetscCall(RecordTermsGet(&w->rt, r, &c));
    w->record_first[r] = w->req.n;
    for (PetscInt a = 0; a < t; a++)
      if (c.pattern >> a & 1) idx[np++] = a;
    for (PetscInt a = 0; a < t; a++) w->e[r * t + a] = (c.pattern >> a & 1) ? yr[a] : 0;
    for (PetscInt s = 0; s < w->rt.nslots; s++)
      if (c.eq[s] >= 0) w->e[r * t + w->rt.trait[s]] -= c.coef[s] * PetscRealPart(w->X[c.eq[s]]);
    for (PetscInt a = 0; a < np; a++)
      for (PetscInt b = 0; b < np; b++) RP[a * np + b] = w->rt.R0[idx[a] * t + idx[b]];
    PetscCall(DenseLogDetSPD(np, RP, &ld, &ok));
    PetscCheck(ok, PETSC_COMM_SELF, PETSC_ERR_PLIB, "R0 not positive definite");
    w->sums[0] += ld - np * PetscLogReal(c.weight); /* log|R_r|, R_r = R0_P / w */
    for (PetscInt a = 0; a < t; a++)
      for (PetscInt b = 0; b < t; b++) {
        if ((c.pattern >> a & 1) && (c.pattern >> b & 1)) w->sums[1] += c.weight * yr[a] * c.rinv[a * t + b] * yr[b]; /* missing values are NaN */
        w->SumRinv[a * t + b] += c.rinv[a * t + b];
      }
    w->sums[2] += np;                                                                                  /* observations */
    w->sums[3] += 1;                                                                                   /* records */
    for (PetscInt a = 0; a < t; a++) w->sums[4] += (c.pattern >> a & 1) ? yr[a] * w->e[r * t + a] : 0; /* y'e (EM, one trait) */
    for (PetscInt s = 0; s < w->rt.nslots; s++)
      for (PetscInt s2 = s; s2 < w->rt.nslots; s2++)
        if (w->selected && c.eq[s] >= 0 && c.eq[s2] >= 0) PetscCall(RequestAdd(&w->req, c.eq[s], c.eq[s2]));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The random groups: G0^-1, and (W->selected) K^-1 entries, log|K| and the entries of C^-1 of tr(K^-1 C^{ab}). */
PetscErrorCode REMLRoundGroups(REML reml, Evaluation ev, RoundWork *w)
{
  const PetscInt ng = w->ngroups;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc5(ng + 1, &w->Kn, ng + 1, &w->Ki, ng + 1, &w->Kj, ng + 1, &w->Kv, ng + 1, &w->block));
  PetscCall(PetscCalloc4(ng + 1, &w->logdetK, ng + 1, &w->group_first, ng + 1, &w->Ginv, ng + 1, &w->S));
  for (PetscInt g = 0; g < ng; g++) {
    Relationship rel;
    PetscInt     dim;
    PetscCall(EvaluationGetRelationship(ev, g, &rel));
    PetscCall(RelationshipGetBlocks(rel, &w->block[g], NULL));
    if (w->selected) PetscCall(REMLGroupStructure(ev, g, &w->Kn[g], &w->Ki[g], &w->Kj[g], &w->Kv[g], &w->logdetK[g]));
    PetscCall(RelationshipGetCovarianceInverse(rel, &w->Ginv[g]));
    dim               = w->block[g]->size;
    w->group_first[g] = w->req.n;
    for (PetscCount k = 0; k < w->Kn[g]; k++)
      for (PetscInt p = 0; p < dim; p++)
        for (PetscInt q = 0; q < dim; q++) {
          PetscInt ep = EquationsBlockEquation(w->block[g], w->Ki[g][k], p), eq_ = EquationsBlockEquation(w->block[g], w->Kj[g][k], q);
          if (ep >= 0 && eq_ >= 0) PetscCall(RequestAdd(&w->req, ep, eq_)); /* read back in the same order below */
        }
    PetscCall(PetscCalloc1(dim * dim, &w->S[g]));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The working variate of parameter P on record R (WR, per trait): E_P R0_P^-1 e_r for a residual
   parameter, W_r (E G0^-1 (x) I) u over the group's slots (a social effect's: its mates') otherwise. */
static void WorkingVariate(const RoundWork *w, const Parameter *p, PetscInt r, const RecordContribution *c, PetscReal wr[])
{
  const PetscInt     t  = w->t;
  const RecordTerms *rt = &w->rt;

  if (p->group < 0) {
    PetscReal z[MAXT] = {0};
    if (!((c->pattern >> p->a & 1) && (c->pattern >> p->b & 1))) return;
    for (PetscInt a = 0; a < t; a++)
      for (PetscInt j = 0; j < t; j++) z[a] += c->rinv[a * t + j] * w->e[r * t + j];
    wr[p->a] += z[p->b];
    if (p->a != p->b) wr[p->b] += z[p->a];
    return;
  }
  for (PetscInt s = 0; s < rt->nslots; s++) {
    const PetscInt   f = rt->effect[s], pos = rt->position[s], dim = w->block[p->group]->size;
    const PetscReal *Ginv = w->Ginv[p->group];
    PetscReal        Gu_a = 0, Gu_b = 0, v = 0;
    if (rt->model_effect[f]->kind != MODEL_EFFECT_RANDOM || rt->model_effect[f]->group != p->group || c->eq[s] < 0) continue;
    for (PetscInt j = 0; j < dim; j++) {
      PetscInt  q  = EquationsBlockEquation(rt->block[f], c->level[s], j);
      PetscReal uj = q >= 0 ? PetscRealPart(w->X[q]) : 0;
      Gu_a += Ginv[p->a * dim + j] * uj;
      Gu_b += Ginv[p->b * dim + j] * uj;
    }
    if (pos == p->a) v += Gu_b;
    if (pos == p->b && p->a != p->b) v += Gu_a;
    wr[rt->trait[s]] += c->coef[s] * v;
  }
}

/* The average information (its solves come before the selected inverse entries: see factor.h): working
   variates w_k (per record and trait), b_k = W'R^-1 w_k, AI = (w'R^-1w - b'C^-1b) / 2. */
PetscErrorCode REMLRoundAverageInformation(REML reml, RoundWork *w, PetscReal ai[])
{
  const PetscInt t = w->t, npar = w->npar, nrecords = w->nrecords;
  PetscReal     *wv, *wRw;
  Vec           *b, *sol;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc2(npar * nrecords * t + 1, &wv, npar * npar, &wRw));
  PetscCall(VecDuplicateVecs(w->rhs, npar, &b));
  PetscCall(VecDuplicateVecs(w->rhs, npar, &sol));
  for (PetscInt r = 0; r < nrecords; r++) {
    RecordContribution c;
    PetscCall(RecordTermsGet(&w->rt, r, &c));
    for (PetscInt k = 0; k < npar; k++) WorkingVariate(w, &reml->par[k], r, &c, wv + (k * nrecords + r) * t);
    /* b_k += W_r' R_r^-1 w_k,r; w_k'R^-1 w_l */
    for (PetscInt k = 0; k < npar; k++) {
      PetscReal *wk = wv + (k * nrecords + r) * t, Rw[MAXT] = {0};
      for (PetscInt a = 0; a < t; a++)
        for (PetscInt j = 0; j < t; j++) Rw[a] += c.weight * c.rinv[a * t + j] * wk[j];
      for (PetscInt s = 0; s < w->rt.nslots; s++)
        if (c.eq[s] >= 0 && Rw[w->rt.trait[s]] != 0) PetscCall(VecSetValue(b[k], c.eq[s], c.coef[s] * Rw[w->rt.trait[s]], ADD_VALUES));
      for (PetscInt l = 0; l <= k; l++) {
        PetscReal *wl = wv + (l * nrecords + r) * t, v = 0;
        for (PetscInt a = 0; a < t; a++) v += wl[a] * Rw[a];
        wRw[k * npar + l] += v;
      }
    }
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, wRw, (PetscMPIInt)(npar * npar), MPIU_REAL, MPI_SUM, reml->comm));
  for (PetscInt k = 0; k < npar; k++) {
    PetscCall(VecAssemblyBegin(b[k]));
    PetscCall(VecAssemblyEnd(b[k]));
    PetscCall(w->solve(w->solve_context, b[k], sol[k]));
  }
  for (PetscInt k = 0; k < npar; k++)
    for (PetscInt l = 0; l <= k; l++) {
      PetscScalar bs;
      PetscCall(VecDot(b[k], sol[l], &bs));
      ai[k * npar + l] = ai[l * npar + k] = 0.5 * (wRw[k * npar + l] - PetscRealPart(bs));
    }
  PetscCall(VecDestroyVecs(npar, &b));
  PetscCall(VecDestroyVecs(npar, &sol));
  PetscCall(PetscFree2(wv, wRw));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* EM's statistic of record R: F = E[w e e' | y] over all T traits, from M = e e' + W C^-1 W' over those
   present (o; zero elsewhere). A missing trait m's residual is predicted from the present ones: with
   A = R0_mo R0_oo^-1 (RINV holds R0_oo^-1), F_mo = A w M_oo and F_mm = R0_mm - A R0_om + A w M_oo A'.
   Without it, the missing traits would add 0 to their sums and EM would shrink their variances (and
   lower log L: the two-trait maternal model of the benchmarks, 10^4 animals, did). */
static void ResidualStatistic(PetscInt t, uint32_t pattern, PetscReal weight, const PetscReal R0[], const PetscReal rinv[], const PetscReal M[], PetscReal F[])
{
  PetscReal A[MAXT * MAXT] = {0}, AM[MAXT * MAXT] = {0};
  PetscBool missing = PETSC_FALSE;

  for (PetscInt a = 0; a < t; a++) {
    missing = (PetscBool)(missing || !(pattern >> a & 1));
    for (PetscInt b = 0; b < t; b++) F[a * t + b] = weight * M[a * t + b];
  }
  if (!missing) return;
  for (PetscInt m = 0; m < t; m++)
    for (PetscInt o = 0; o < t; o++)
      if (!(pattern >> m & 1) && (pattern >> o & 1))
        for (PetscInt j = 0; j < t; j++)
          if (pattern >> j & 1) A[m * t + o] += R0[m * t + j] * rinv[j * t + o];
  for (PetscInt m = 0; m < t; m++) /* AM = A w M_oo, the cross block */
    for (PetscInt o = 0; o < t; o++)
      for (PetscInt j = 0; j < t; j++) AM[m * t + o] += A[m * t + j] * F[j * t + o];
  for (PetscInt m = 0; m < t; m++) {
    if (pattern >> m & 1) continue;
    for (PetscInt o = 0; o < t; o++)
      if (pattern >> o & 1) F[m * t + o] = F[o * t + m] = AM[m * t + o];
    for (PetscInt m2 = 0; m2 < t; m2++) {
      if (pattern >> m2 & 1) continue;
      F[m * t + m2] = R0[m * t + m2];
      for (PetscInt j = 0; j < t; j++) F[m * t + m2] += -A[m * t + j] * R0[j * t + m2] + AM[m * t + j] * A[m2 * t + j];
    }
  }
}

/* The residual traces: M_r = e e' + W_r C^-1 W_r' over the traits present; H = w R0_P^-1 M_r R0_P^-1. */
static PetscErrorCode RoundResidualTraces(RoundWork *w)
{
  const PetscInt t = w->t;

  PetscFunctionBeginUser;
  for (PetscInt r = 0; r < w->nrecords; r++) {
    RecordContribution c;
    PetscReal          M[MAXT * MAXT] = {0}, RM[MAXT * MAXT] = {0}, F[MAXT * MAXT];
    PetscCount         k = w->record_first[r];
    PetscCall(RecordTermsGet(&w->rt, r, &c));
    for (PetscInt a = 0; a < t; a++)
      for (PetscInt b = 0; b < t; b++) M[a * t + b] = w->e[r * t + a] * w->e[r * t + b];
    for (PetscInt s = 0; s < w->rt.nslots; s++)
      for (PetscInt s2 = s; s2 < w->rt.nslots; s2++)
        if (c.eq[s] >= 0 && c.eq[s2] >= 0) {
          PetscReal v = c.coef[s] * c.coef[s2] * w->req.value[k++];
          M[w->rt.trait[s] * t + w->rt.trait[s2]] += v;
          if (s2 != s) M[w->rt.trait[s2] * t + w->rt.trait[s]] += v;
        }
    ResidualStatistic(t, c.pattern, c.weight, w->rt.R0, c.rinv, M, F);
    for (PetscInt a = 0; a < t; a++)
      for (PetscInt b = 0; b < t; b++) {
        w->SumM[a * t + b] += F[a * t + b];
        for (PetscInt j = 0; j < t; j++) RM[a * t + b] += c.rinv[a * t + j] * M[j * t + b];
      }
    for (PetscInt a = 0; a < t; a++)
      for (PetscInt b = 0; b < t; b++)
        for (PetscInt j = 0; j < t; j++) w->SumH[a * t + b] += c.weight * RM[a * t + j] * c.rinv[j * t + b];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The groups' traces: S = U'K^-1U + T, T_ab = tr(K^-1 C^{ab}), summed over ranks; and the other sums. */
static PetscErrorCode RoundGroupTraces(REML reml, RoundWork *w)
{
  const PetscInt t = w->t;

  PetscFunctionBeginUser;
  for (PetscInt g = 0; g < w->ngroups; g++) {
    const EquationsBlock *block = w->block[g];
    const PetscInt        dim   = block->size;
    PetscCount            k     = w->group_first[g];
    for (PetscCount m = 0; m < w->Kn[g]; m++) {
      PetscInt i = w->Ki[g][m], j = w->Kj[g][m];
      for (PetscInt p = 0; p < dim; p++)
        for (PetscInt q = 0; q < dim; q++) {
          PetscInt  ep = EquationsBlockEquation(block, i, p), eq_ = EquationsBlockEquation(block, j, q);
          PetscReal v;
          if (ep < 0 || eq_ < 0) continue;
          v = w->req.value[k++] + PetscRealPart(w->X[ep]) * PetscRealPart(w->X[eq_]);
          w->S[g][p * dim + q] += w->Kv[g][m] * v;
          if (i != j) w->S[g][q * dim + p] += w->Kv[g][m] * v;
        }
    }
    PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, w->S[g], (PetscMPIInt)(dim * dim), MPIU_REAL, MPI_SUM, reml->comm));
  }
  PetscCallMPI(MPI_Allreduce(w->sums, w->all, 8, MPIU_REAL, MPI_SUM, reml->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, w->SumRinv, (PetscMPIInt)(t * t), MPIU_REAL, MPI_SUM, reml->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, w->SumH, (PetscMPIInt)(t * t), MPIU_REAL, MPI_SUM, reml->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, w->SumM, (PetscMPIInt)(t * t), MPIU_REAL, MPI_SUM, reml->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The gradient and the EM estimate of group parameter P: Y = G0^-1 S G0^-1. */
void REMLGroupGradient(const RoundWork *w, const Parameter *p, PetscReal *grad, PetscReal *em)
{
  const PetscInt   g = p->group, dim = w->block[g]->size, nlevels = w->block[g]->nlevels;
  const PetscReal *Ginv = w->Ginv[g], *S = w->S[g];
  PetscReal        Y[64 * 64], GS[64 * 64];

  for (PetscInt a = 0; a < dim; a++)
    for (PetscInt b = 0; b < dim; b++) {
      GS[a * dim + b] = 0;
      for (PetscInt j = 0; j < dim; j++) GS[a * dim + b] += Ginv[a * dim + j] * S[j * dim + b];
    }
  for (PetscInt a = 0; a < dim; a++)
    for (PetscInt b = 0; b < dim; b++) {
      Y[a * dim + b] = 0;
      for (PetscInt j = 0; j < dim; j++) Y[a * dim + b] += GS[a * dim + j] * Ginv[j * dim + b];
    }
  *grad = -0.5 * (nlevels * Contract(Ginv, dim, p->a, p->b) - Contract(Y, dim, p->a, p->b));
  *em   = S[p->a * dim + p->b] / nlevels;
}

/* log L, the gradient and the EM estimates. */
static PetscErrorCode RoundLikelihood(REML reml, RoundWork *w, Round *out)
{
  const PetscInt t      = w->t;
  PetscReal      minus2 = w->logdetC + w->all[0] + w->all[1] - w->xr;
  PetscInt       nfixed;

  PetscFunctionBeginUser;
  PetscCall(EquationsGetFixedSize(w->eq, &nfixed));
  for (PetscInt g = 0; g < w->ngroups; g++) {
    const ModelGroup *group;
    PetscReal         logdetG;
    PetscBool         ok;
    PetscCall(ModelGetGroup(reml->model, g, &group));
    PetscCall(DenseLogDetSPD(group->dim, group->covariance, &logdetG, &ok));
    minus2 += w->block[g]->nlevels * logdetG + group->dim * w->logdetK[g];
  }
  out->logL = -0.5 * minus2;
  for (PetscInt k = 0; k < w->npar; k++) {
    const Parameter *p = &reml->par[k];
    if (p->group >= 0)
      REMLGroupGradient(w, p, &out->grad[k], &out->em[k]);
    else {
      out->grad[k] = -0.5 * (Contract(w->SumRinv, t, p->a, p->b) - Contract(w->SumH, t, p->a, p->b));
      /* one trait: Henderson's y'e / (n - rank X); several: the mean of w (e e' + W C^-1 W') */
      out->em[k] = t == 1 ? w->all[4] / (w->all[2] - nfixed) : w->SumM[p->a * t + p->b] / w->all[3];
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode REMLRoundWorkDestroy(RoundWork *w)
{
  PetscFunctionBeginUser;
  for (PetscInt g = 0; w->Kn && g < w->ngroups; g++) {
    PetscCall(PetscFree3(w->Ki[g], w->Kj[g], w->Kv[g]));
    PetscCall(PetscFree(w->S[g]));
    PetscCall(PetscFree(w->Ginv[g]));
  }
  PetscCall(PetscFree5(w->Kn, w->Ki, w->Kj, w->Kv, w->block));
  PetscCall(PetscFree4(w->logdetK, w->group_first, w->Ginv, w->S));
  PetscCall(PetscFree(w->req.row));
  PetscCall(PetscFree(w->req.col));
  PetscCall(PetscFree(w->req.value));
  PetscCall(PetscFree2(w->e, w->record_first));
  PetscCall(RecordTermsDestroy(&w->rt));
  if (w->X) PetscCall(VecRestoreArrayRead(w->xall, &w->X));
  PetscCall(VecScatterDestroy(&w->toall));
  PetscCall(VecDestroy(&w->xall));
  PetscCall(VecDestroy(&w->x));
  PetscCall(FactorDestroy(&w->factor));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode EvaluateRound(REML reml, Evaluation ev, Round *out)
{
  RoundWork w;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(&w, sizeof(w)));
  w.t    = reml->ntraits;
  w.npar = reml->npar;
  PetscCall(ModelGetNumGroups(reml->model, &w.ngroups));
  PetscCall(RoundFactor(reml, ev, &w));
  PetscCall(REMLRoundRecords(reml, ev, &w));
  PetscCall(REMLRoundGroups(reml, ev, &w));
  if (out->ai) PetscCall(REMLRoundAverageInformation(reml, &w, out->ai));
  PetscCall(PetscMalloc1(w.req.n + 1, &w.req.value));
  PetscCall(FactorGetInverseEntries(w.factor, w.req.n, w.req.row, w.req.col, w.req.value));
  PetscCall(RoundResidualTraces(&w));
  PetscCall(RoundGroupTraces(reml, &w));
  PetscCall(RoundLikelihood(reml, &w, out));
  PetscCall(REMLRoundWorkDestroy(&w));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* X = A^-1 B for the symmetric positive definite A (n x n), through its inverse (INV gets A^-1). */
PetscErrorCode REMLSolveSmall(PetscInt n, const PetscReal A[], const PetscReal B[], PetscReal X[], PetscReal inv[])
{
  PetscFunctionBeginUser;
  PetscCall(PetscArraycpy(inv, A, n * n));
  PetscCall(DenseInvertSPD(n, inv));
  for (PetscInt i = 0; i < n; i++) {
    X[i] = 0;
    for (PetscInt j = 0; j < n; j++) X[i] += inv[i * n + j] * B[j];
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* An AI step STEP (npar) that leaves the parameter space because variances head below 0 -- an estimate at
   its boundary, as a maternal variance whose covariance the model lacks -- becomes the AI step with those
   variances, and the covariances of their rows, held where they are (the Newton system of the others)
   -- where no halving of the full step (up to 8) stays inside: it would stall against the boundary, and
   EM steps crawl along it. STEP is replaced when that step, halved up to 8 times, stays inside;
   *CONSTRAINED says so. */
static PetscErrorCode BoundaryStep(REML reml, const PetscReal ai[], const PetscReal grad[], PetscReal step[], PetscBool *constrained)
{
  const PetscInt npar  = reml->npar;
  PetscInt       nfree = 0, *free_;
  PetscReal     *A, *g, *x, *inv, *trial;
  PetscBool      inside = PETSC_FALSE, any = PETSC_FALSE;

  PetscFunctionBeginUser;
  *constrained = PETSC_FALSE;
  PetscCall(PetscMalloc6(npar, &free_, npar * npar, &A, npar, &g, npar, &x, npar * npar, &inv, npar, &trial));
  for (PetscReal scale = 1; scale > 1.0 / 512 && !inside; scale /= 2) { /* halving will do: not at a boundary */
    for (PetscInt k = 0; k < npar; k++) trial[k] = reml->theta[k] + scale * step[k];
    PetscCall(REMLApplyTheta(reml, trial, PETSC_FALSE, &inside));
  }
  for (PetscInt k = 0; k < npar; k++) trial[k] = reml->theta[k] + step[k];
  for (PetscInt k = 0; k < npar && !inside; k++) {
    PetscBool held = PETSC_FALSE;
    for (PetscInt v = 0; v < npar; v++) { /* k is, or shares a row with, a variance headed below 0 */
      const Parameter *p = &reml->par[v], *q = &reml->par[k];
      if (p->a == p->b && trial[v] <= 0 && p->group == q->group && (q->a == p->a || q->b == p->a)) held = PETSC_TRUE;
    }
    if (held)
      any = PETSC_TRUE;
    else
      free_[nfree++] = k;
  }
  if (!inside && any && nfree > 0) {
    for (PetscInt i = 0; i < nfree; i++) {
      g[i] = grad[free_[i]];
      for (PetscInt j = 0; j < nfree; j++) A[i * nfree + j] = ai[free_[i] * npar + free_[j]];
    }
    PetscCall(REMLSolveSmall(nfree, A, g, x, inv));
    for (PetscReal scale = 1; scale > 1.0 / 512 && !inside; scale /= 2) {
      PetscCall(PetscArraycpy(trial, reml->theta, npar));
      for (PetscInt i = 0; i < nfree; i++) trial[free_[i]] += scale * x[i];
      PetscCall(REMLApplyTheta(reml, trial, PETSC_FALSE, &inside));
    }
    if (inside) {
      for (PetscInt k = 0; k < npar; k++) step[k] = 0;
      for (PetscInt i = 0; i < nfree; i++) step[free_[i]] = x[i];
      *constrained = PETSC_TRUE;
    }
  }
  PetscCall(PetscFree6(free_, A, g, x, inv, trial));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Heritabilities: per trait, the first pedigree effect's variance over the sum of the variances of
   every random effect in the trait and the residual (plain effects only: no regressions). */
/* Social models: T2 = var(tbv) / var(y), tbv = A_D + k A_S, k = (n-1) c, c = (1/(n-1))^dilution, and
   var(y) = the trait's random variances with the social one as (n-1) c^2 var(A_S) (mates unrelated) + R0,
   with its delta-method standard error. */
static PetscErrorCode SocialHeritabilities(REML reml)
{
  PetscInt           social, direct, neffects;
  const ModelEffect *es, *ed;
  PetscReal          n = reml->social_n, c, k;

  PetscFunctionBeginUser;
  reml->has_t2 = PETSC_FALSE;
  PetscCall(ModelGetSocialEffect(reml->model, &social, &direct));
  if (social < 0 || n < 2) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ModelGetNumEffects(reml->model, &neffects));
  PetscCall(ModelGetEffect(reml->model, social, &es));
  PetscCall(ModelGetEffect(reml->model, direct, &ed));
  c = PetscPowReal(1 / (n - 1), es->dilution);
  k = (n - 1) * c;
  for (PetscInt t = 0; t < reml->ntraits; t++) {
    const ModelGroup *group;
    const PetscReal  *R0;
    PetscInt          p, q, g = es->group;
    PetscReal         num, den = 0, dnum[4096] = {0}, dden[4096] = {0};
    reml->t2[t] = reml->t2_se[t] = (PetscReal)NAN;
    if (ModelEffectTraitPosition(es, t) < 0 || ModelEffectTraitPosition(ed, t) < 0 || reml->npar > 4096) continue;
    PetscCall(ModelGetGroup(reml->model, g, &group));
    p   = ed->position + ModelEffectTraitPosition(ed, t);
    q   = es->position + ModelEffectTraitPosition(es, t);
    num = group->covariance[p * group->dim + p] + 2 * k * group->covariance[p * group->dim + q] + k * k * group->covariance[q * group->dim + q];
    for (PetscInt f = 0; f < neffects; f++) { /* the phenotypic variance */
      const ModelEffect *effect;
      const ModelGroup  *fg;
      PetscInt           i, pos;
      PetscReal          weight;
      PetscCall(ModelGetEffect(reml->model, f, &effect));
      if (effect->kind != MODEL_EFFECT_RANDOM || (i = ModelEffectTraitPosition(effect, t)) < 0) continue;
      PetscCall(ModelGetGroup(reml->model, effect->group, &fg));
      pos    = effect->position + i;
      weight = f == social ? (n - 1) * c * c : 1;
      den += weight * fg->covariance[pos * fg->dim + pos];
      for (PetscInt j = 0; j < reml->npar; j++)
        if (reml->par[j].group == effect->group && reml->par[j].a == pos && reml->par[j].b == pos) dden[j] += weight;
    }
    PetscCall(ModelGetResidual(reml->model, &R0));
    den += R0[t * reml->ntraits + t];
    for (PetscInt j = 0; j < reml->npar; j++) {
      const Parameter *par = &reml->par[j];
      if (par->group < 0 && par->a == t && par->b == t) dden[j] += 1;
      if (par->group != g) continue;
      if (par->a == p && par->b == p) dnum[j] += 1;
      if (par->a == q && par->b == q) dnum[j] += k * k;
      if ((par->a == q && par->b == p) || (par->a == p && par->b == q)) dnum[j] += 2 * k;
    }
    reml->t2[t]    = num / den;
    reml->t2_se[t] = 0;
    for (PetscInt j = 0; j < reml->npar; j++) dnum[j] = (dnum[j] * den - num * dden[j]) / (den * den); /* d T2 / d theta */
    if (reml->has_ai)
      for (PetscInt a = 0; a < reml->npar; a++)
        for (PetscInt b = 0; b < reml->npar; b++) reml->t2_se[t] += dnum[a] * reml->ai_inverse[a * reml->npar + b] * dnum[b];
    reml->t2_se[t] = reml->has_ai ? PetscSqrtReal(PetscMax(reml->t2_se[t], 0)) : (PetscReal)NAN;
  }
  reml->has_t2 = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode REMLHeritabilities(REML reml)
{
  PetscInt ngroups, neffects;

  PetscFunctionBeginUser;
  reml->has_h2 = PETSC_FALSE;
  PetscCall(SocialHeritabilities(reml));
  PetscCall(ModelGetNumGroups(reml->model, &ngroups));
  PetscCall(ModelGetNumEffects(reml->model, &neffects));
  for (PetscInt f = 0; f < neffects; f++) {
    const ModelEffect *effect;
    PetscCall(ModelGetEffect(reml->model, f, &effect));
    /* random regressions and social effects have no single phenotypic variance to divide by */
    if (effect->kind == MODEL_EFFECT_RANDOM && (effect->legendre >= 0 || effect->social)) PetscFunctionReturn(PETSC_SUCCESS);
  }
  for (PetscInt t = 0; t < reml->ntraits; t++) {
    PetscReal        total = 0, additive = -1, grad[4096] = {0};
    PetscInt         kadd  = -1;
    PetscBool        found = PETSC_FALSE;
    const PetscReal *R0;
    for (PetscInt f = 0; f < neffects; f++) {
      const ModelEffect *effect;
      const ModelGroup  *group;
      PetscInt           i, pos;
      PetscCall(ModelGetEffect(reml->model, f, &effect));
      if (effect->kind != MODEL_EFFECT_RANDOM || (i = ModelEffectTraitPosition(effect, t)) < 0) continue;
      PetscCall(ModelGetGroup(reml->model, effect->group, &group));
      pos = effect->position + i;
      total += group->covariance[pos * group->dim + pos];
      for (PetscInt k = 0; k < reml->npar; k++)
        if (reml->par[k].group == effect->group && reml->par[k].a == pos && reml->par[k].b == pos) {
          grad[k] = -1; /* d(total) / d theta_k, scaled below */
          if (!found && ModelEffectIsAnimal(effect)) kadd = k;
        }
      if (!found && ModelEffectIsAnimal(effect)) {
        additive = group->covariance[pos * group->dim + pos];
        found    = PETSC_TRUE;
      }
    }
    if (!found) PetscFunctionReturn(PETSC_SUCCESS);
    PetscCall(ModelGetResidual(reml->model, &R0));
    total += R0[t * reml->ntraits + t];
    for (PetscInt k = 0; k < reml->npar; k++)
      if (reml->par[k].group < 0 && reml->par[k].a == t && reml->par[k].b == t) grad[k] = -1;
    reml->h2[t] = additive / total;
    /* delta method: d h2 / d theta = (1{additive} total - additive 1{in total}) / total^2 */
    for (PetscInt k = 0; k < reml->npar; k++) grad[k] = (grad[k] ? -additive : 0) / (total * total) + (k == kadd ? 1 / total : 0);
    reml->h2_se[t] = 0;
    if (reml->has_ai)
      for (PetscInt k = 0; k < reml->npar; k++)
        for (PetscInt l = 0; l < reml->npar; l++) reml->h2_se[t] += grad[k] * reml->ai_inverse[k * reml->npar + l] * grad[l];
    else
      reml->h2_se[t] = (PetscReal)NAN;
    reml->h2_se[t] = PetscSqrtReal(PetscMax(reml->h2_se[t], 0));
  }
  reml->has_h2 = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* What REML asks of every random group's relationship, checked before the first round: K^-1's entries, and
   log|K| (AI, EM) or samples (Monte Carlo EM). */
static PetscErrorCode REMLCheckRelationships(REML reml, Evaluation ev)
{
  PetscInt      nrel;
  Relationship *rel;

  PetscFunctionBeginUser;
  PetscCall(EvaluationGetRelationships(ev, &nrel, &rel));
  for (PetscInt g = 0; g < nrel; g++) {
    PetscCall(RelationshipCheckOperation(rel[g], RELATIONSHIP_OP_ENTRIES));
    PetscCall(RelationshipCheckOperation(rel[g], reml->method == REML_METHOD_MCEM || reml->method == REML_METHOD_MCAI ? RELATIONSHIP_OP_SAMPLE
                                                                                                                      : RELATIONSHIP_OP_LOGDET));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode REMLRun(REML reml, Evaluation ev)
{
  Round     round;
  PetscReal previous = PETSC_MIN_REAL, *step, *trial, *accepted, *taken;
  PetscInt  npar, backtracks = 0;
  PetscBool ai_step = PETSC_FALSE;
  double    start   = HendersonSeconds();

  PetscFunctionBeginUser;
  PetscCall(EvaluationGetModel(ev, &reml->model));
  PetscCall(SetUpParameters(reml, ev));
  PetscCall(REMLCheckRelationships(reml, ev));
  PetscCall(EvaluationGetSocialGroupSize(ev, &reml->social_n)); /* the n of T2, as of the total breeding value */
  npar = reml->npar;
  PetscReal *ai_storage;
  PetscCall(PetscMalloc3(npar, &round.grad, npar * npar, &ai_storage, npar, &round.em));
  round.ai = ai_storage;
  PetscCall(PetscMalloc4(npar, &step, npar, &trial, npar, &accepted, npar, &taken));
  PetscCall(PetscMalloc1((reml->max_it + 1) * (npar + 1), &reml->history));
  if (reml->method == REML_METHOD_EM) round.ai = NULL;
  if (reml->method == REML_METHOD_MCEM || reml->method == REML_METHOD_MCAI) {
    if (reml->method == REML_METHOD_MCEM)
      PetscCall(REMLRunMonteCarloEM(reml, ev));
    else
      PetscCall(REMLRunMonteCarloAI(reml, ev));
    PetscCall(REMLHeritabilities(reml));
    PetscCall(PetscFree3(round.grad, ai_storage, round.em));
    PetscCall(PetscFree4(step, trial, accepted, taken));
    reml->seconds = (PetscReal)(HendersonSeconds() - start);
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  reml->converged = PETSC_FALSE;
  for (reml->rounds = 0;; reml->rounds++) {
    PetscBool ok;
    PetscReal change = 0, gain = 0;
    PetscCall(REMLApplyTheta(reml, reml->theta, PETSC_TRUE, &ok));
    PetscCheck(ok, reml->comm, PETSC_ERR_USER_INPUT, "REML: the (co)variances are not positive definite");
    PetscCall(EvaluateRound(reml, ev, &round));
    reml->logL = round.logL;
    if (ai_step && round.logL < previous - 1e-6 * PetscMax(1.0, PetscAbsReal(previous)) && backtracks < 8 && reml->rounds < reml->max_it) {
      /* far from the optimum an AI (Newton-like) step can overshoot and lower log L: back to the last
         point, half the step (the same direction, so still inside the parameter space); falls within
         the rounding of log L (1e-6 relative) are not overshoots */
      (void)HendersonProgressDue();
      HendersonProgressPrintf("reml: round %d, log L %.6f, below the last round's: back, half the step", (int)reml->rounds, (double)round.logL);
      PetscCall(PetscInfo(NULL, "reml: round %" PetscInt_FMT ": log L %g below %g, the step halved\n", reml->rounds, (double)round.logL, (double)previous));
      reml->history[reml->rounds * (npar + 1)] = round.logL;
      PetscCall(PetscArraycpy(reml->history + reml->rounds * (npar + 1) + 1, reml->theta, npar));
      for (PetscInt k = 0; k < npar; k++) {
        taken[k] /= 2;
        reml->theta[k] = accepted[k] + taken[k];
      }
      backtracks++;
      reml->backtracks++;
      continue;
    }
    backtracks                               = 0;
    reml->history[reml->rounds * (npar + 1)] = round.logL;
    PetscCall(PetscArraycpy(reml->history + reml->rounds * (npar + 1) + 1, reml->theta, npar));
    PetscCall(PetscArraycpy(reml->grad, round.grad, npar));
    if (round.ai) {
      PetscCall(PetscArraycpy(reml->ai, round.ai, npar * npar));
      PetscCall(REMLSolveSmall(npar, round.ai, round.grad, step, reml->ai_inverse));
      reml->has_ai = PETSC_TRUE;
      {
        PetscBool constrained;
        PetscCall(BoundaryStep(reml, round.ai, round.grad, step, &constrained));
        if (constrained) reml->boundary++;
      }
    } else
      for (PetscInt k = 0; k < npar; k++) step[k] = round.em[k] - reml->theta[k];
    {
      char line[4096];
      snprintf(line, sizeof(line), "reml: round %d, log L %.6f,", (int)reml->rounds, (double)round.logL);
      for (PetscInt k = 0; k < npar && strlen(line) < 3900; k++) snprintf(line + strlen(line), sizeof(line) - strlen(line), " %.6g", (double)reml->theta[k]);
      (void)HendersonProgressDue(); /* reads -quiet once; a line every round */
      HendersonProgressPrintf("%s", line);
      PetscCall(PetscInfo(NULL, "%s\n", line));
    }
    for (PetscInt k = 0; k < npar; k++)
      PetscCall(PetscInfo(NULL, "parameter %" PetscInt_FMT ": theta %g gradient %g EM %g step %g AI diagonal %g\n", k, (double)reml->theta[k],
                          (double)round.grad[k], (double)round.em[k], (double)step[k], round.ai ? (double)round.ai[k * npar + k] : 0.0));
    for (PetscInt k = 0; k < npar; k++) {
      change = PetscMax(change, PetscAbsReal(step[k]) / PetscMax(PetscAbsReal(reml->theta[k]), 1e-12));
      gain += round.ai ? 0.5 * round.grad[k] * step[k] : 0; /* what the Newton step would add to log L */
    }
    /* log L's own change is rounding (some 1e-7 at 10^4 animals: y'Py is a difference of large sums)
       once the step is small; the AI step's predicted gain is not */
    if (reml->rounds > 0 && (PetscAbsReal(round.logL - previous) < reml->tol || (round.ai && gain < reml->tol)) && change < PetscSqrtReal(reml->tol)) {
      reml->converged = PETSC_TRUE;
      if (round.ai) { /* the estimates: this round's and its last AI step, which adds less than tol to log L */
        PetscBool inside;
        for (PetscInt k = 0; k < npar; k++) trial[k] = reml->theta[k] + step[k];
        PetscCall(REMLApplyTheta(reml, trial, PETSC_TRUE, &inside));
        if (inside) PetscCall(PetscArraycpy(reml->theta, trial, npar));
      }
      break;
    }
    if (reml->rounds >= reml->max_it) break;
    previous = round.logL;
    /* the AI step, halved while it leaves the parameter space, else an EM step */
    {
      PetscReal scale  = 1;
      PetscBool inside = PETSC_FALSE;
      for (PetscInt h = 0; h <= 8 && !inside; h++, scale /= 2) {
        for (PetscInt k = 0; k < npar; k++) trial[k] = reml->theta[k] + scale * step[k];
        PetscCall(REMLApplyTheta(reml, trial, PETSC_FALSE, &inside));
        if (!inside) reml->halvings++;
      }
      if (!inside) {
        for (PetscInt k = 0; k < npar; k++) trial[k] = round.em[k];
        reml->steps_em++;
      }
      ai_step = (PetscBool)(inside && round.ai);
      for (PetscInt k = 0; k < npar; k++) {
        accepted[k] = reml->theta[k];
        taken[k]    = trial[k] - reml->theta[k];
      }
      PetscCall(PetscArraycpy(reml->theta, trial, npar));
    }
  }
  if (reml->has_ai)
    for (PetscInt k = 0; k < npar; k++) reml->se[k] = PetscSqrtReal(PetscMax(reml->ai_inverse[k * npar + k], 0));
  PetscCall(REMLHeritabilities(reml));
  PetscCall(PetscFree3(round.grad, ai_storage, round.em));
  PetscCall(PetscFree4(step, trial, accepted, taken));
  reml->seconds = (PetscReal)(HendersonSeconds() - start);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode REMLView(REML reml, PetscViewer viewer)
{
  char names[4096], *name, *rest;

  PetscFunctionBeginUser;
  if (reml->method == REML_METHOD_MCEM)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "  reml        mcem: %" PetscInt_FMT " rounds of Monte Carlo EM (%" PetscInt_FMT
                                     " samples a round), the mean of the last %" PetscInt_FMT " (s.e.: Monte Carlo, batch means), %.3f s\n",
                                     reml->rounds, reml->samples, reml->rounds - reml->rounds / 2, (double)reml->seconds));
  else if (reml->method == REML_METHOD_MCAI)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "  reml        mcai: %" PetscInt_FMT " rounds of Monte Carlo AI (%" PetscInt_FMT
                                     " samples a round), %s: the mean of the last %" PetscInt_FMT
                                     " (s.e.: sampling, from AI; Monte Carlo, of the mean), %.3f s\n",
                                     reml->rounds, reml->samples, reml->converged ? "converged" : "NOT CONVERGED", reml->kept, (double)reml->seconds));
  else
    PetscCall(PetscViewerASCIIPrintf(viewer, "  reml        %s: %" PetscInt_FMT " rounds, %s, log L %.6f (%s), %.3f s\n", REMLMethods[reml->method],
                                     reml->rounds, reml->converged ? "converged" : "NOT CONVERGED", (double)reml->logL,
                                     "-1/2 [log|C| + log|G| + log|R| + y'Py], without (n - rank X) log(2 pi)", (double)reml->seconds));
  if (reml->halvings || reml->steps_em || reml->boundary)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "              %" PetscInt_FMT " step halvings, %" PetscInt_FMT
                                     " EM steps (the AI step left the parameter space), %" PetscInt_FMT " AI steps with variances held at their boundary\n",
                                     reml->halvings, reml->steps_em, reml->boundary));
  if (reml->backtracks)
    PetscCall(PetscViewerASCIIPrintf(viewer, "              %" PetscInt_FMT " round%s went back to half the step (the AI step lowered log L)\n",
                                     reml->backtracks, reml->backtracks == 1 ? "" : "s"));
  PetscCall(PetscStrncpy(names, reml->names, sizeof(names)));
  name = names;
  for (PetscInt k = 0; k < reml->npar; k++) {
    rest = strchr(name, ',');
    while (rest && rest[1] && rest[-1] != ']') rest = strchr(rest + 1, ',');
    if (rest) *rest = 0;
    if (reml->has_ai && reml->mc_se)
      PetscCall(PetscViewerASCIIPrintf(viewer, "              %-24s %14.6g  s.e. %.4g  Monte Carlo s.e. %.3g\n", name, (double)reml->theta[k],
                                       (double)reml->se[k], (double)reml->mcse[k]));
    else if (reml->has_ai || reml->mc_se)
      PetscCall(PetscViewerASCIIPrintf(viewer, "              %-24s %14.6g  s.e. %.4g\n", name, (double)reml->theta[k],
                                       (double)(reml->has_ai ? reml->se[k] : reml->mcse[k])));
    else
      PetscCall(PetscViewerASCIIPrintf(viewer, "              %-24s %14.6g\n", name, (double)reml->theta[k]));
    name = rest ? rest + 1 : name;
  }
  if (reml->has_h2)
    for (PetscInt t = 0; t < reml->ntraits; t++) {
      const char *trait;
      PetscCall(ModelGetTrait(reml->model, t, &trait, NULL));
      if (reml->has_ai)
        PetscCall(PetscViewerASCIIPrintf(viewer, "              heritability %-11s %14.6g  s.e. %.4g\n", trait, (double)reml->h2[t], (double)reml->h2_se[t]));
      else
        PetscCall(PetscViewerASCIIPrintf(viewer, "              heritability %-11s %14.6g\n", trait, (double)reml->h2[t]));
    }
  if (reml->has_t2)
    for (PetscInt t = 0; t < reml->ntraits; t++) {
      const char *trait;
      if (PetscIsNanReal(reml->t2[t])) continue;
      PetscCall(ModelGetTrait(reml->model, t, &trait, NULL));
      if (reml->has_ai)
        PetscCall(PetscViewerASCIIPrintf(viewer, "              T2 (tbv/phen.) %-9s %14.6g  s.e. %.4g  (n = %.4g)\n", trait, (double)reml->t2[t],
                                         (double)reml->t2_se[t], (double)reml->social_n));
      else
        PetscCall(PetscViewerASCIIPrintf(viewer, "              T2 (tbv/phen.) %-9s %14.6g  (n = %.4g)\n", trait, (double)reml->t2[t], (double)reml->social_n));
    }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode REMLWriteOutput(Output output, void *context)
{
  REML             reml = (REML)context;
  PetscInt         ngroups, npar = reml->npar, rounds = reml->rounds + 1;
  PetscInt64       value;
  const PetscReal *R0;

  PetscFunctionBeginUser;
  PetscCall(ModelGetNumGroups(reml->model, &ngroups));
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup  *group;
    const ModelEffect *effect;
    PetscCall(ModelGetGroup(reml->model, g, &group));
    PetscCall(ModelGetEffect(reml->model, group->first, &effect));
    PetscCall(OutputWriteMatrix(output, "/variance", effect->name, group->dim, group->dim, group->covariance));
  }
  PetscCall(ModelGetResidual(reml->model, &R0));
  PetscCall(OutputWriteMatrix(output, "/variance", "residual", reml->ntraits, reml->ntraits, R0));
  PetscCall(OutputSetAttribute(output, "/variance", "method", OUTPUT_STRING, REMLMethods[reml->method]));
  PetscCall(OutputSetAttribute(output, "/variance", "log_likelihood", OUTPUT_REAL, &reml->logL));
  PetscCall(OutputSetAttribute(output, "/variance", "log_likelihood_convention", OUTPUT_STRING,
                               "-1/2 [log|C| + sum_g (levels log|G0_g| + order log|K_g|) + log|R| + y'Py], C the MME with R-inverse inside, K = A or I; "
                               "the constant -1/2 (n - rank X) log(2 pi) is left out"));
  value = reml->rounds;
  PetscCall(OutputSetAttribute(output, "/variance", "rounds", OUTPUT_INT, &value));
  value = reml->converged;
  PetscCall(OutputSetAttribute(output, "/variance", "converged", OUTPUT_INT, &value));
  PetscCall(OutputSetAttribute(output, "/variance", "parameters", OUTPUT_STRING, reml->names));
  PetscCall(OutputWriteMatrix(output, "/variance", "estimate", npar, 0, reml->theta));
  PetscCall(OutputWriteMatrix(output, "/variance", "gradient", npar, 0, reml->grad));
  if (reml->mc_se) PetscCall(OutputWriteMatrix(output, "/variance", "monte_carlo_standard_error", npar, 0, reml->mcse));
  if (reml->has_ai) {
    PetscCall(OutputWriteMatrix(output, "/variance", "ai_inverse", npar, npar, reml->ai_inverse));
    PetscCall(OutputWriteMatrix(output, "/variance", "standard_error", npar, 0, reml->se));
  }
  if (reml->has_h2) {
    PetscCall(OutputWriteMatrix(output, "/variance", "heritability", reml->ntraits, 0, reml->h2));
    if (reml->has_ai) PetscCall(OutputWriteMatrix(output, "/variance", "heritability_standard_error", reml->ntraits, 0, reml->h2_se));
  }
  if (reml->has_t2) {
    PetscCall(OutputWriteMatrix(output, "/variance", "total_heritability", reml->ntraits, 0, reml->t2));
    if (reml->has_ai) PetscCall(OutputWriteMatrix(output, "/variance", "total_heritability_standard_error", reml->ntraits, 0, reml->t2_se));
    PetscCall(OutputSetAttribute(output, "/variance", "social_group_size", OUTPUT_REAL, &reml->social_n));
  }
  PetscCall(OutputWriteMatrix(output, "/variance", "history", rounds, npar + 1, reml->history));
  PetscFunctionReturn(PETSC_SUCCESS);
}
