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

PetscErrorCode PEVComputeExact(Mat C, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal extra[], Vec d, PetscInt *nullity, FactorType *type)
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
  PetscCall(FactorSetFromOptions(factor));
  PetscCall(FactorSetNullPivotDetection(factor, PETSC_TRUE)); /* a singular C: a generalised inverse, and its null space */
  PetscCall(FactorSetUp(factor, C));
  PetscCall(FactorGetNullity(factor, nullity));
  PetscCall(FactorGetType(factor, type)); /* a singular C has made a cholmod Factor a mumps one */
  if (*nullity > 0) {                     /* before the inverse entries: MUMPS cannot solve after them on several ranks */
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

/* One sample's errors E (its solution less its true values, this rank's rows) added: D += e^2 and
   EXTRA[k] += e_row e_col. */
static PetscErrorCode AddErrors(const PetscScalar e[], Vec d, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal extra[])
{
  PetscInt     rstart, rend;
  PetscScalar *v;

  PetscFunctionBeginUser;
  PetscCall(VecGetOwnershipRange(d, &rstart, &rend));
  PetscCall(VecGetArray(d, &v));
  for (PetscInt i = 0; i < rend - rstart; i++) v[i] += e[i] * e[i];
  PetscCall(VecRestoreArray(d, &v));
  for (PetscCount k = 0; k < n; k++) extra[k] += PetscRealPart(e[rows[k] - rstart] * e[cols[k] - rstart]);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Samples FIRST..FIRST+K-1 solved together (SolverSolveBlock()), their errors added. */
static PetscErrorCode SampleBlock(Design design, PetscInt nrel, Relationship rel[], Solver solver, PetscInt64 seed, PetscInt first, PetscInt K, Vec truth,
                                  Vec rhs, Vec d, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal extra[], PetscInt64 *iterations,
                                  PetscInt *not_converged)
{
  Mat      B, X, T;
  PetscInt nlocal;
  MPI_Comm comm;

  PetscFunctionBeginUser;
  PetscCall(PetscObjectGetComm((PetscObject)d, &comm));
  PetscCall(VecGetLocalSize(d, &nlocal));
  PetscCall(MatCreateDense(comm, nlocal, PETSC_DECIDE, PETSC_DETERMINE, K, NULL, &B));
  PetscCall(MatDuplicate(B, MAT_DO_NOT_COPY_VALUES, &X));
  PetscCall(MatDuplicate(B, MAT_DO_NOT_COPY_VALUES, &T));
  for (PetscInt j = 0; j < K; j++) {
    Vec b, t;
    PetscCall(PEVSimulate(design, nrel, rel, seed, first + j, truth, rhs));
    PetscCall(MatDenseGetColumnVecWrite(B, j, &b));
    PetscCall(VecCopy(rhs, b));
    PetscCall(MatDenseRestoreColumnVecWrite(B, j, &b));
    PetscCall(MatDenseGetColumnVecWrite(T, j, &t));
    PetscCall(VecCopy(truth, t));
    PetscCall(MatDenseRestoreColumnVecWrite(T, j, &t));
  }
  PetscCall(SolverSolveBlock(solver, B, X, iterations, not_converged));
  PetscCall(MatAXPY(X, -1, T, SAME_NONZERO_PATTERN)); /* u*_hat - u*, and b*_hat - 0 */
  for (PetscInt j = 0; j < K; j++) {
    const PetscScalar *e;
    PetscCall(MatDenseGetColumn(X, j, (PetscScalar **)&e));
    PetscCall(AddErrors(e, d, n, rows, cols, extra));
    PetscCall(MatDenseRestoreColumn(X, (PetscScalar **)&e));
  }
  PetscCall(MatDestroy(&B));
  PetscCall(MatDestroy(&X));
  PetscCall(MatDestroy(&T));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PEVComputeSampled(Model model, Equations eq, Records records, PetscInt nrel, Relationship rel[], Solver solver, PetscInt nsamples,
                                 PetscInt block, PetscInt64 seed, PetscCount n, const PetscInt rows[], const PetscInt cols[], PetscReal extra[], Vec d,
                                 PetscInt64 *iterations, PetscInt *not_converged)
{
  MPI_Comm comm;
  Design   design;
  Vec      truth, rhs, xhat;

  PetscFunctionBeginUser;
  PetscCall(PetscObjectGetComm((PetscObject)d, &comm));
  PetscCheck(nsamples > 0, comm, PETSC_ERR_USER_INPUT, "-pev_samples must be at least 1");
  PetscCheck(block > 0, comm, PETSC_ERR_USER_INPUT, "-pev_sample_block must be at least 1");
  PetscCall(DesignCreate(model, eq, records, d, &design));
  PetscCall(VecDuplicate(d, &truth));
  PetscCall(VecDuplicate(d, &rhs));
  PetscCall(VecDuplicate(d, &xhat));
  PetscCall(VecZeroEntries(d));
  for (PetscCount k = 0; k < n; k++) extra[k] = 0;
  *iterations    = 0;
  *not_converged = 0;
  for (PetscInt k = 0; k < nsamples;) {
    if (block > 1) { /* several samples a pass */
      PetscInt K = PetscMin(block, nsamples - k);
      PetscCall(SampleBlock(design, nrel, rel, solver, seed, k, K, truth, rhs, d, n, rows, cols, extra, iterations, not_converged));
      k += K;
    } else {
      SolverResult       result;
      const PetscScalar *error;
      PetscCall(PEVSimulate(design, nrel, rel, seed, k, truth, rhs));
      PetscCall(VecZeroEntries(xhat));
      PetscCall(SolverSolve(solver, rhs, xhat));
      PetscCall(SolverGetResult(solver, &result));
      *iterations += result.iterations;
      if (!result.converged) (*not_converged)++; /* its errors would be the solver's, not the prediction's */
      PetscCall(VecAXPY(xhat, -1, truth));       /* u*_hat - u*, and b*_hat - 0 */
      PetscCall(VecGetArrayRead(xhat, &error));
      PetscCall(AddErrors(error, d, n, rows, cols, extra));
      PetscCall(VecRestoreArrayRead(xhat, &error));
      k++;
    }
    if (HendersonProgressDue()) HendersonProgressPrintf("pev: sample %d of %d", (int)k, (int)nsamples);
  }
  PetscCall(VecScale(d, 1.0 / nsamples));
  for (PetscCount k = 0; k < n; k++) extra[k] /= nsamples;
  PetscCall(VecDestroy(&truth));
  PetscCall(VecDestroy(&rhs));
  PetscCall(VecDestroy(&xhat));
  PetscCall(DesignDestroy(&design));
  PetscFunctionReturn(PETSC_SUCCESS);
}
