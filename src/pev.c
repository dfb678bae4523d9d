#include <henderson/pev.h>
#include <henderson/factor.h>
#include <henderson/estimable.h>
#include <math.h>
#include <henderson/log.h>
#include <henderson/dense.h>

const char *const PEVMethods[] = {"none", "exact", "sample", "approximate", "PEVMethod", "PEV_METHOD_", NULL};

PetscErrorCode PEVMaskNotEstimable(Vec mask, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal extra[], Vec d)
{
  PetscInt           rstart, rend, nlocal;
  const PetscScalar *m;
  PetscScalar       *v;

  PetscFunctionBeginUser;
  if (!mask) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(VecGetOwnershipRange(mask, &rstart, &rend));
  nlocal = rend - rstart;
  PetscCall(VecGetArrayRead(mask, &m));
  PetscCall(VecGetArray(d, &v));
  for (PetscInt i = 0; i < nlocal; i++)
    if (PetscRealPart(m[i]) != 0) v[i] = NAN;
  for (PetscCount k = 0; k < n; k++) {
    PetscBool row = rows[k] >= rstart && rows[k] < rend && PetscRealPart(m[rows[k] - rstart]) != 0;
    PetscBool col = cols[k] >= rstart && cols[k] < rend && PetscRealPart(m[cols[k] - rstart]) != 0;
    if (row || col) extra[k] = NAN;
  }
  PetscCall(VecRestoreArray(d, &v));
  PetscCall(VecRestoreArrayRead(mask, &m));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PEVComputeExact(Mat C, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal extra[], Vec d, PetscInt *nullity)
{
  Factor     factor;
  MPI_Comm   comm;
  PetscInt   rstart, rend, *r, *c;
  PetscReal *values;
  PetscCount m;
  Vec        mask = NULL;

  PetscFunctionBeginUser;
  PetscCall(PetscObjectGetComm((PetscObject)C, &comm));
  PetscCall(FactorCreate(comm, &factor));
  PetscCall(FactorSetNullPivotDetection(factor, PETSC_TRUE)); /* a singular C: a generalised inverse, and its null space */
  PetscCall(FactorSetUp(factor, C));
  PetscCall(FactorGetNullity(factor, nullity));
  if (*nullity > 0) { /* before the inverse entries: MUMPS cannot solve after them on several ranks */
    PetscCall(VecDuplicate(d, &mask));
    PetscCall(FactorNullVector(factor, C, mask));
    PetscCall(EstimableMaskFromNullVector(mask));
  }
  PetscCall(MatGetOwnershipRange(C, &rstart, &rend));
  m = (PetscCount)(rend - rstart) + n;
  PetscCall(PetscMalloc3(m + 1, &r, m + 1, &c, m + 1, &values));
  for (PetscInt q = rstart; q < rend; q++) r[q - rstart] = c[q - rstart] = q;
  for (PetscCount k = 0; k < n; k++) {
    r[rend - rstart + k] = rows[k];
    c[rend - rstart + k] = cols[k];
  }
  PetscCall(FactorGetInverseEntries(factor, m, r, c, values));
  {
    PetscScalar *diagonal;
    PetscCall(VecGetArray(d, &diagonal));
    for (PetscInt q = 0; q < rend - rstart; q++) diagonal[q] = values[q];
    PetscCall(VecRestoreArray(d, &diagonal));
  }
  for (PetscCount k = 0; k < n; k++) extra[k] = values[rend - rstart + k];
  PetscCall(PEVMaskNotEstimable(mask, n, rows, cols, extra, d));
  PetscCall(VecDestroy(&mask));
  PetscCall(PetscFree3(r, c, values));
  PetscCall(FactorDestroy(&factor));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- sampling ---- */

/* The true values of one sample's random effects, at their equations of TRUTH (zero elsewhere): each
   relationship draws u ~ N(0, K (x) G0). */
static PetscErrorCode SampleRandomEffects(PetscInt nrel, Relationship rel[], uint64_t seed, uint64_t sample, Vec truth)
{
  PetscFunctionBeginUser;
  PetscCall(VecZeroEntries(truth));
  for (PetscInt g = 0; g < nrel; g++) PetscCall(RelationshipSample(rel[g], seed, sample, truth));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PEVSimulate(Design design, PetscInt nrel, Relationship rel[], PetscInt64 seed, PetscInt64 sample, Vec truth, Vec rhs)
{
  PetscInt   nrecords, t;
  PetscInt64 first;
  PetscReal *y;

  PetscFunctionBeginUser;
  PetscCall(SampleRandomEffects(nrel, rel, (uint64_t)seed, (uint64_t)sample, truth));
  PetscCall(DesignGetSizes(design, &nrecords, &t, &first));
  PetscCall(PetscMalloc1(nrecords * t + 1, &y));
  PetscCall(DesignApply(design, truth, y)); /* W u*: the fixed effects are 0 */
  for (PetscInt r = 0; r < nrecords; r++) { /* + e* ~ N(0, R0_P / w) */
    uint32_t         pattern;
    PetscReal        weight, RP[MODEL_MAX_TRAITS * MODEL_MAX_TRAITS], z[MODEL_MAX_TRAITS];
    const PetscReal *R0;
    PetscInt         idx[MODEL_MAX_TRAITS], np = 0;
    PetscBool        ok;
    PetscCall(DesignGetRecord(design, r, &pattern, &weight, NULL, &R0, NULL));
    for (PetscInt a = 0; a < t; a++)
      if (pattern >> a & 1) idx[np++] = a;
    for (PetscInt a = 0; a < np; a++)
      for (PetscInt b = 0; b < np; b++) RP[a * np + b] = R0[idx[a] * t + idx[b]] / weight;
    PetscCall(DenseCholesky(np, RP, &ok));
    PetscCheck(ok, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "a (co)variance matrix is not positive definite");
    for (PetscInt a = 0; a < np; a++) z[a] = HendersonKeyedNormal((uint64_t)seed, (uint64_t)sample, 1000003, (uint64_t)(first + r), (uint64_t)idx[a]);
    for (PetscInt a = 0; a < np; a++)
      for (PetscInt b = 0; b <= a; b++) y[r * t + idx[a]] += RP[a * np + b] * z[b];
  }
  PetscCall(DesignApplyTransposeRinv(design, y, rhs));
  PetscCall(PetscFree(y));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PEVComputeSampled(Model model, Equations eq, Records records, PetscInt nrel, Relationship rel[], Solver solver, PetscInt nsamples,
                                 PetscInt64 seed, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal extra[], Vec d, PetscInt64 *iterations,
                                 PetscInt *not_converged)
{
  PetscInt rstart;
  MPI_Comm comm;
  Design   design;
  Vec      truth, rhs, xhat;

  PetscFunctionBeginUser;
  PetscCall(PetscObjectGetComm((PetscObject)d, &comm));
  PetscCheck(nsamples > 0, comm, PETSC_ERR_USER_INPUT, "-pev_samples must be at least 1");
  PetscCall(DesignCreate(model, eq, records, d, &design));
  PetscCall(VecDuplicate(d, &truth));
  PetscCall(VecDuplicate(d, &rhs));
  PetscCall(VecDuplicate(d, &xhat));
  PetscCall(VecZeroEntries(d));
  PetscCall(VecGetOwnershipRange(d, &rstart, NULL));
  for (PetscCount k = 0; k < n; k++) extra[k] = 0;
  *iterations    = 0;
  *not_converged = 0;
  for (PetscInt k = 0; k < nsamples; k++) {
    SolverResult result;
    PetscCall(PEVSimulate(design, nrel, rel, seed, k, truth, rhs));
    PetscCall(VecZeroEntries(xhat));
    PetscCall(SolverSolve(solver, rhs, xhat));
    PetscCall(SolverGetResult(solver, &result));
    *iterations += result.iterations;
    if (!result.converged) (*not_converged)++; /* its errors would be the solver's, not the prediction's */
    PetscCall(VecAXPY(xhat, -1, truth));       /* u*_hat - u*, and b*_hat - 0 */
    if (n) {
      const PetscScalar *error;
      PetscCall(VecGetArrayRead(xhat, &error));
      for (PetscCount k = 0; k < n; k++) extra[k] += PetscRealPart(error[rows[k] - rstart] * error[cols[k] - rstart]);
      PetscCall(VecRestoreArrayRead(xhat, &error));
    }
    PetscCall(VecPointwiseMult(xhat, xhat, xhat));
    PetscCall(VecAXPY(d, 1, xhat));
    if (HendersonProgressDue()) HendersonProgressPrintf("pev: sample %d of %d", (int)k + 1, (int)nsamples);
  }
  PetscCall(VecScale(d, 1.0 / nsamples));
  for (PetscCount k = 0; k < n; k++) extra[k] /= nsamples;
  PetscCall(VecDestroy(&truth));
  PetscCall(VecDestroy(&rhs));
  PetscCall(VecDestroy(&xhat));
  PetscCall(DesignDestroy(&design));
  PetscFunctionReturn(PETSC_SUCCESS);
}
