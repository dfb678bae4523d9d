#include <henderson/pev.h>
#include <henderson/factor.h>
#include <henderson/estimable.h>
#include <math.h>
#include <henderson/log.h>

const char *const PEVMethods[] = {"none", "exact", "sample", "PEVMethod", "PEV_METHOD_", NULL};

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

/* A standard normal number that depends only on its key (seed, sample, stream, index, component):
   the same whichever rank draws it. Box-Muller on two hashed uniforms. */
static PetscReal KeyedNormal(uint64_t seed, uint64_t sample, uint64_t stream, uint64_t index, uint64_t component)
{
  uint64_t  h  = HendersonHash64(HendersonHash64(HendersonHash64(HendersonHash64(seed) ^ sample) ^ (stream << 40 ^ component)) ^ index);
  uint64_t  h2 = HendersonHash64(h ^ 0xD1B54A32D192ED03ULL);
  PetscReal u1 = ((PetscReal)(h >> 11) + 1) * 0x1.0p-53, u2 = (PetscReal)(h2 >> 11) * 0x1.0p-53;
  return PetscSqrtReal(-2 * PetscLogReal(u1)) * PetscCosReal(2 * PETSC_PI * u2);
}

/* Lower Cholesky factor L of the SPD matrix S (order n), in place (upper part zeroed). */
static PetscErrorCode Cholesky(PetscInt n, PetscReal S[])
{
  PetscFunctionBeginUser;
  for (PetscInt j = 0; j < n; j++) {
    PetscReal d = S[j * n + j];
    for (PetscInt k = 0; k < j; k++) d -= S[j * n + k] * S[j * n + k];
    PetscCheck(d > 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "a (co)variance matrix is not positive definite");
    S[j * n + j] = PetscSqrtReal(d);
    for (PetscInt i = j + 1; i < n; i++) {
      PetscReal v = S[i * n + j];
      for (PetscInt k = 0; k < j; k++) v -= S[i * n + k] * S[j * n + k];
      S[i * n + j] = v / S[j * n + j];
    }
    for (PetscInt i = 0; i < j; i++) S[i * n + j] = 0;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The true values of one sample's random effects, at their equations of TRUTH (zero elsewhere). */
static PetscErrorCode SampleRandomEffects(MPI_Comm comm, Model model, Equations eq, Pedigree pedigree, uint64_t seed, uint64_t sample, Vec truth)
{
  PetscMPIInt rank, size;
  PetscInt    ngroups;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(VecZeroEntries(truth));
  PetscCall(ModelGetNumGroups(model, &ngroups));
  for (PetscInt g = 0; g < ngroups; g++) {
    const ModelGroup      *group;
    const EquationsEffect *layout;
    const EquationsBlock  *block;
    PetscReal             *L;
    PetscInt               dim;
    PetscCall(ModelGetGroup(model, g, &group));
    PetscCall(EquationsGetEffect(eq, group->first, &layout));
    PetscCall(EquationsGetBlock(eq, layout->block, &block));
    dim = group->dim;
    PetscCall(PetscMalloc1(dim * dim, &L));
    PetscCall(PetscArraycpy(L, group->covariance, dim * dim));
    PetscCall(Cholesky(dim, L));
    if (group->structure == MODEL_STRUCTURE_PEDIGREE) {
      /* rank 0 holds the whole pedigree: u = T D^1/2 (z L'), parents before progeny */
      PedigreeStats stats;
      PetscCall(PedigreeGetStats(pedigree, &stats));
      PetscCheck(!stats.groups, comm, PETSC_ERR_SUP, "-pev sample: not with unknown-parent groups");
      if (rank == 0) {
        const PetscInt  *sire, *dam;
        const PetscReal *alpha;
        PetscReal       *u, c[2];
        char            *done;
        PetscInt         n = stats.animals, left = n, *rows;
        PetscCall(PedigreeGetArrays(pedigree, &sire, &dam, NULL, &alpha));
        PetscCall(PedigreeGetParentCoefficients(pedigree, c));
        PetscCall(PetscMalloc3(n * dim + 1, &u, n + 1, &done, n * dim + 1, &rows));
        PetscCall(PetscArrayzero(done, n));
        while (left) { /* as many passes as generations out of order */
          PetscInt before = left;
          for (PetscInt i = 0; i < n; i++) {
            PetscReal m = PetscSqrtReal(1 / alpha[i]), z[64];
            if (done[i] || (sire[i] >= 0 && !done[sire[i]]) || (dam[i] >= 0 && !done[dam[i]])) continue;
            for (PetscInt j = 0; j < dim; j++) z[j] = KeyedNormal(seed, sample, (uint64_t)g, (uint64_t)i, (uint64_t)j);
            for (PetscInt j = 0; j < dim; j++) {
              PetscReal v = 0;
              for (PetscInt k = 0; k <= j; k++) v += L[j * dim + k] * z[k];
              u[i * dim + j] = m * v + (sire[i] >= 0 ? c[0] * u[sire[i] * dim + j] : 0) + (dam[i] >= 0 ? c[1] * u[dam[i] * dim + j] : 0);
            }
            done[i] = 1;
            left--;
          }
          PetscCheck(left < before, PETSC_COMM_SELF, PETSC_ERR_PLIB, "the pedigree has a loop");
        }
        for (PetscInt i = 0; i < n; i++)
          for (PetscInt j = 0; j < dim; j++) rows[i * dim + j] = EquationsBlockEquation(block, i, j);
        PetscCall(VecSetOption(truth, VEC_IGNORE_NEGATIVE_INDICES, PETSC_TRUE));
        PetscCall(VecSetValues(truth, n * dim, rows, u, INSERT_VALUES));
        PetscCall(PetscFree3(u, done, rows));
      }
    } else {
      PetscInt lo = (PetscInt)((PetscInt64)block->nlevels * rank / size), hi = (PetscInt)((PetscInt64)block->nlevels * (rank + 1) / size);
      PetscCall(VecSetOption(truth, VEC_IGNORE_NEGATIVE_INDICES, PETSC_TRUE));
      for (PetscInt l = lo; l < hi; l++) {
        PetscReal z[64];
        for (PetscInt j = 0; j < dim; j++) z[j] = KeyedNormal(seed, sample, (uint64_t)g, (uint64_t)l, (uint64_t)j);
        for (PetscInt j = 0; j < dim; j++) {
          PetscReal v = 0;
          for (PetscInt k = 0; k <= j; k++) v += L[j * dim + k] * z[k];
          PetscCall(VecSetValue(truth, EquationsBlockEquation(block, l, j), v, INSERT_VALUES));
        }
      }
    }
    PetscCall(VecAssemblyBegin(truth));
    PetscCall(VecAssemblyEnd(truth));
    PetscCall(PetscFree(L));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PEVSimulate(Design design, Model model, Equations eq, Pedigree pedigree, PetscInt64 seed, PetscInt64 sample, Vec truth, Vec rhs)
{
  MPI_Comm   comm;
  PetscInt   nrecords, t;
  PetscInt64 first;
  PetscReal *y;

  PetscFunctionBeginUser;
  PetscCall(PetscObjectGetComm((PetscObject)truth, &comm));
  PetscCall(SampleRandomEffects(comm, model, eq, pedigree, (uint64_t)seed, (uint64_t)sample, truth));
  PetscCall(DesignGetSizes(design, &nrecords, &t, &first));
  PetscCall(PetscMalloc1(nrecords * t + 1, &y));
  PetscCall(DesignApply(design, truth, y)); /* W u*: the fixed effects are 0 */
  for (PetscInt r = 0; r < nrecords; r++) { /* + e* ~ N(0, R0_P / w) */
    uint32_t         pattern;
    PetscReal        weight, RP[MODEL_MAX_TRAITS * MODEL_MAX_TRAITS], z[MODEL_MAX_TRAITS];
    const PetscReal *R0;
    PetscInt         idx[MODEL_MAX_TRAITS], np = 0;
    PetscCall(DesignGetRecord(design, r, &pattern, &weight, NULL, &R0, NULL));
    for (PetscInt a = 0; a < t; a++)
      if (pattern >> a & 1) idx[np++] = a;
    for (PetscInt a = 0; a < np; a++)
      for (PetscInt b = 0; b < np; b++) RP[a * np + b] = R0[idx[a] * t + idx[b]] / weight;
    PetscCall(Cholesky(np, RP));
    for (PetscInt a = 0; a < np; a++) z[a] = KeyedNormal((uint64_t)seed, (uint64_t)sample, 1000003, (uint64_t)(first + r), (uint64_t)idx[a]);
    for (PetscInt a = 0; a < np; a++)
      for (PetscInt b = 0; b <= a; b++) y[r * t + idx[a]] += RP[a * np + b] * z[b];
  }
  PetscCall(DesignApplyTransposeRinv(design, y, rhs));
  PetscCall(PetscFree(y));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PEVComputeSampled(Model model, Equations eq, Records records, Pedigree pedigree, Solver solver, PetscInt nsamples, PetscInt64 seed, PetscCount n,
                                 const PetscInt rows[], const PetscInt cols[], PetscReal extra[], Vec d, PetscInt64 *iterations, PetscInt *not_converged)
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
    PetscCall(PEVSimulate(design, model, eq, pedigree, seed, k, truth, rhs));
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
