#include <henderson/design.h>
#include <henderson/recordterms.h>

struct _p_Design {
  MPI_Comm          comm;
  PetscInt          nrecords, ntraits, nslots, nneeded;
  PetscInt64        first_record;
  PetscInt         *slot_at; /* nrecords x nslots: index into the gathered values, -1: no equation */
  PetscInt         *slot_eq; /* the equation itself */
  PetscReal        *slot_coef;
  PetscInt         *slot_trait; /* nslots */
  uint32_t         *pattern;
  PetscReal        *weight;
  const PetscReal **rinv;
  const PetscReal  *y;
  PetscReal         R0[MODEL_MAX_TRAITS * MODEL_MAX_TRAITS];
  RecordTerms       rt;
  Vec               gathered;
  VecScatter        gather;
};

PetscErrorCode DesignCreate(Model model, Equations eq, Records records, Vec x, Design *design)
{
  Design     D;
  PetscInt  *needed, n = 0;
  PetscInt64 local;
  IS         is;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&D));
  PetscCall(PetscObjectGetComm((PetscObject)x, &D->comm));
  PetscCall(RecordsGetLocalSize(records, &D->nrecords));
  PetscCall(RecordTermsCreate(model, eq, records, &D->rt));
  D->ntraits = D->rt.ntraits;
  D->nslots  = D->rt.nslots;
  D->y       = D->rt.y;
  PetscCall(PetscArraycpy(D->R0, D->rt.R0, D->ntraits * D->ntraits));
  local = D->nrecords;
  PetscCallMPI(MPI_Exscan(&local, &D->first_record, 1, MPIU_INT64, MPI_SUM, D->comm));
  {
    PetscMPIInt rank;
    PetscCallMPI(MPI_Comm_rank(D->comm, &rank));
    if (!rank) D->first_record = 0;
  }
  PetscCall(PetscMalloc3(D->nrecords * D->nslots + 1, &D->slot_at, D->nrecords * D->nslots + 1, &D->slot_eq, D->nrecords * D->nslots + 1, &D->slot_coef));
  PetscCall(PetscMalloc4(D->nslots + 1, &D->slot_trait, D->nrecords + 1, &D->pattern, D->nrecords + 1, &D->weight, D->nrecords + 1, &D->rinv));
  PetscCall(PetscMalloc1(D->nrecords * D->nslots + 1, &needed));
  for (PetscInt s = 0; s < D->nslots; s++) D->slot_trait[s] = D->rt.trait[s];
  for (PetscInt r = 0; r < D->nrecords; r++) {
    RecordContribution c;
    PetscCall(RecordTermsGet(&D->rt, r, &c));
    D->pattern[r] = c.pattern;
    D->weight[r]  = c.weight;
    D->rinv[r]    = c.rinv; /* owned by the record terms, one per pattern */
    for (PetscInt s = 0; s < D->nslots; s++) {
      D->slot_eq[r * D->nslots + s]   = c.eq[s];
      D->slot_coef[r * D->nslots + s] = c.coef[s];
      if (c.eq[s] >= 0) needed[n++] = c.eq[s];
    }
  }
  PetscCall(PetscSortRemoveDupsInt(&n, needed));
  D->nneeded = n;
  for (PetscInt k = 0; k < D->nrecords * D->nslots; k++) {
    D->slot_at[k] = -1;
    if (D->slot_eq[k] >= 0) PetscCall(PetscFindInt(D->slot_eq[k], n, needed, &D->slot_at[k]));
  }
  PetscCall(VecCreateSeq(PETSC_COMM_SELF, n, &D->gathered));
  PetscCall(ISCreateGeneral(PETSC_COMM_SELF, n, needed, PETSC_COPY_VALUES, &is));
  PetscCall(VecScatterCreate(x, is, D->gathered, NULL, &D->gather));
  PetscCall(ISDestroy(&is));
  PetscCall(PetscFree(needed));
  *design = D;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DesignDestroy(Design *design)
{
  Design D = *design;

  PetscFunctionBeginUser;
  if (!D) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(VecScatterDestroy(&D->gather));
  PetscCall(VecDestroy(&D->gathered));
  PetscCall(PetscFree3(D->slot_at, D->slot_eq, D->slot_coef));
  PetscCall(PetscFree4(D->slot_trait, D->pattern, D->weight, D->rinv));
  PetscCall(RecordTermsDestroy(&D->rt));
  PetscCall(PetscFree(*design));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DesignGetSizes(Design D, PetscInt *nrecords, PetscInt *ntraits, PetscInt64 *first_record)
{
  PetscFunctionBeginUser;
  if (nrecords) *nrecords = D->nrecords;
  if (ntraits) *ntraits = D->ntraits;
  if (first_record) *first_record = D->first_record;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DesignGetRecord(Design D, PetscInt r, uint32_t *pattern, PetscReal *weight, const PetscReal **rinv, const PetscReal **R0, const PetscReal **y)
{
  PetscFunctionBeginUser;
  if (pattern) *pattern = D->pattern[r];
  if (weight) *weight = D->weight[r];
  if (rinv) *rinv = D->rinv[r];
  if (R0) *R0 = D->R0;
  if (y) *y = D->y + r * D->ntraits;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DesignApply(Design D, Vec x, PetscReal wx[])
{
  const PetscScalar *g;

  PetscFunctionBeginUser;
  PetscCall(VecScatterBegin(D->gather, x, D->gathered, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(D->gather, x, D->gathered, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetArrayRead(D->gathered, &g));
  PetscCall(PetscArrayzero(wx, D->nrecords * D->ntraits));
  for (PetscInt r = 0; r < D->nrecords; r++)
    for (PetscInt s = 0; s < D->nslots; s++) {
      PetscInt k = r * D->nslots + s;
      if (D->slot_at[k] >= 0) wx[r * D->ntraits + D->slot_trait[s]] += D->slot_coef[k] * PetscRealPart(g[D->slot_at[k]]);
    }
  PetscCall(VecRestoreArrayRead(D->gathered, &g));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode DesignApplyTransposeRinv(Design D, const PetscReal v[], Vec b)
{
  PetscScalar *g;
  PetscInt     t = D->ntraits;

  PetscFunctionBeginUser;
  PetscCall(VecZeroEntries(D->gathered));
  PetscCall(VecGetArray(D->gathered, &g));
  for (PetscInt r = 0; r < D->nrecords; r++) {
    PetscReal rv[MODEL_MAX_TRAITS] = {0};
    for (PetscInt a = 0; a < t; a++)
      for (PetscInt c = 0; c < t; c++)
        if ((D->pattern[r] >> a & 1) && (D->pattern[r] >> c & 1)) rv[a] += D->weight[r] * D->rinv[r][a * t + c] * v[r * t + c];
    for (PetscInt s = 0; s < D->nslots; s++) {
      PetscInt k = r * D->nslots + s;
      if (D->slot_at[k] >= 0) g[D->slot_at[k]] += D->slot_coef[k] * rv[D->slot_trait[s]];
    }
  }
  PetscCall(VecRestoreArray(D->gathered, &g));
  /* the sums go back to the owners, summed over ranks */
  PetscCall(VecZeroEntries(b));
  PetscCall(VecScatterBegin(D->gather, D->gathered, b, ADD_VALUES, SCATTER_REVERSE));
  PetscCall(VecScatterEnd(D->gather, D->gathered, b, ADD_VALUES, SCATTER_REVERSE));
  PetscFunctionReturn(PETSC_SUCCESS);
}
