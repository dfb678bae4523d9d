#include <henderson/order.h>
#include <henderson/error.h>
#include <ctype.h>
#include <string.h>

typedef struct {
  const char *label;
  PetscInt    level;
} LabelledLevel;

static int CompareLabelledLevels(const void *x, const void *y)
{
  return LabelNaturalCompare(((const LabelledLevel *)x)->label, ((const LabelledLevel *)y)->label);
}

/* The effect whose levels cluster the animals: NAME, or (auto) the fixed class effect with the most
   levels; -1 when there is none. */
static PetscErrorCode ClusterEffect(Model model, Records records, const char name[], PetscInt *cluster)
{
  PetscInt  neffects, most = 0;
  PetscBool automatic;

  PetscFunctionBeginUser;
  *cluster = -1;
  PetscCall(PetscStrcmp(name, "auto", &automatic));
  PetscCall(ModelGetNumEffects(model, &neffects));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect *effect;
    PetscInt           nlevels;
    PetscBool          same;
    PetscCall(ModelGetEffect(model, e, &effect));
    /* class effects with levels of their own: not the mean, not a covariate, not the animals */
    if (!effect->column[0] || effect->kind == MODEL_EFFECT_COVARIATE || ModelEffectIsAnimal(effect)) continue;
    PetscCall(RecordsGetLevels(records, e, &nlevels, NULL));
    if (automatic) {
      if (effect->kind == MODEL_EFFECT_FIXED && nlevels > most) {
        most     = nlevels;
        *cluster = e;
      }
    } else {
      PetscCall(PetscStrcmp(name, effect->name, &same));
      if (same) *cluster = e;
    }
  }
  if (!automatic) {
    const char *path;
    PetscCall(ModelGetPath(model, &path));
    PetscCheck(*cluster >= 0, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
               "-order_by %s: %s has no class effect of that name (a fixed or iid random effect; or auto, or none)", name, path);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Whether a level of effect E is set to zero in some trait: a fixed class effect that is not the
   first fixed class effect of each of its traits (the one that absorbs the mean). */
static PetscBool ClusterHasConstraint(Model model, PetscInt e)
{
  const ModelEffect *effect;
  PetscInt           neffects;

  if (ModelGetEffect(model, e, &effect) || ModelGetNumEffects(model, &neffects)) return PETSC_TRUE;
  if (effect->kind != MODEL_EFFECT_FIXED) return PETSC_FALSE;
  for (PetscInt i = 0; i < effect->ntraits; i++)
    for (PetscInt f = 0; f < neffects; f++) {
      const ModelEffect *other;
      if (ModelGetEffect(model, f, &other)) return PETSC_TRUE;
      if (other->kind != MODEL_EFFECT_FIXED || ModelEffectTraitPosition(other, effect->traits[i]) < 0) continue;
      if (f != e) return PETSC_TRUE; /* the mean (implied or another class effect) comes first */
      break;
    }
  return PETSC_FALSE;
}

PetscErrorCode OrderAnimals(MPI_Comm comm, Model model, Records records, Pedigree pedigree, const char order_by[])
{
  PetscMPIInt     rank;
  const char     *name = order_by && order_by[0] ? order_by : "auto";
  PetscBool       none, has_pedigree;
  PetscInt        cluster, nclusters, nanimals, neffects, nlocal, *rank_of, *key, *position, animal_effect = -1;
  const PetscInt *clevel;
  PedigreeStats   stats;
  PetscMPIInt     count;

  PetscFunctionBeginUser;
  PetscCall(ModelHasPedigreeEffect(model, &has_pedigree));
  if (!has_pedigree) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(PetscStrcmp(name, "none", &none));
  if (none) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(ClusterEffect(model, records, name, &cluster));
  if (cluster < 0) PetscFunctionReturn(PETSC_SUCCESS);

  /* the rank of every cluster level in the natural order of the labels (rank 0 has them) */
  PetscCall(RecordsGetLevels(records, cluster, &nclusters, NULL));
  PetscCall(PetscMalloc1(nclusters + 1, &rank_of));
  if (rank == 0) {
    LabelTable     labels;
    LabelledLevel *sorted;
    PetscCall(RecordsGetLevels(records, cluster, NULL, &labels));
    PetscCall(PetscMalloc1(nclusters + 1, &sorted));
    for (PetscInt l = 0; l < nclusters; l++) {
      PetscCall(LabelTableGetLabel(labels, l, &sorted[l].label));
      sorted[l].level = l;
    }
    qsort(sorted, (size_t)nclusters, sizeof(LabelledLevel), CompareLabelledLevels);
    for (PetscInt k = 0; k < nclusters; k++) rank_of[sorted[k].level] = k;
    PetscCall(PetscFree(sorted));
  }
  PetscCall(PetscMPIIntCast(nclusters, &count));
  PetscCallMPI(MPI_Bcast(rank_of, count, MPIU_INT, 0, comm));

  /* every animal's key: the first of its records' clusters (nclusters: none), smallest over ranks */
  PetscCall(PedigreeGetStats(pedigree, &stats));
  nanimals = stats.animals;
  PetscCall(PetscMalloc1(nanimals + 1, &key));
  for (PetscInt a = 0; a < nanimals; a++) key[a] = nclusters;
  PetscCall(ModelGetNumEffects(model, &neffects));
  PetscCall(RecordsGetLocalSize(records, &nlocal));
  PetscCall(RecordsGetEffect(records, cluster, &clevel, NULL));
  for (PetscInt e = 0; e < neffects; e++) {
    const ModelEffect *effect;
    const PetscInt    *animal;
    PetscCall(ModelGetEffect(model, e, &effect));
    if (!ModelEffectIsAnimal(effect)) continue;
    if (animal_effect < 0) animal_effect = e;
    PetscCall(RecordsGetEffect(records, e, &animal, NULL));
    for (PetscInt k = 0; k < nlocal; k++)
      if (animal[k] >= 0 && clevel[k] >= 0) key[animal[k]] = PetscMin(key[animal[k]], rank_of[clevel[k]]);
  }
  /* the cluster's own levels follow the same order (its values are then read in sequence) -- unless a
     level of it is set to zero (a fixed effect that does not absorb the mean): which one is chosen by
     its index, and the solutions of fixed effects would change with it */
  if (!ClusterHasConstraint(model, cluster)) PetscCall(RecordsPermuteLevels(records, cluster, rank_of));
  PetscCall(PetscFree(rank_of));
  PetscCall(PetscMPIIntCast(nanimals, &count));
  PetscCallMPI(MPI_Reduce(rank == 0 ? MPI_IN_PLACE : key, key, count, MPIU_INT, MPI_MIN, 0, comm));

  /* rank 0: keys for the animals without records, then a stable sort by key */
  PetscCall(PetscMalloc1(nanimals + 1, &position));
  if (rank == 0) {
    const PetscInt *sire, *dam;
    PetscInt       *first;
    PetscCall(PedigreeGetArrays(pedigree, &sire, &dam, NULL, NULL));
    /* parents before progeny: youngest first, a parent without records takes a progeny's key */
    for (PetscInt i = nanimals - 1; i >= 0; i--) {
      if (key[i] == nclusters) continue;
      if (sire[i] >= 0 && key[sire[i]] == nclusters) key[sire[i]] = key[i];
      if (dam[i] >= 0 && key[dam[i]] == nclusters) key[dam[i]] = key[i];
    }
    /* oldest first: what is left takes its dam's key, else its sire's (at the end if neither) */
    for (PetscInt i = 0; i < nanimals; i++) {
      if (key[i] != nclusters) continue;
      if (dam[i] >= 0 && key[dam[i]] != nclusters)
        key[i] = key[dam[i]];
      else if (sire[i] >= 0)
        key[i] = key[sire[i]];
    }
    PetscCall(PetscCalloc1(nclusters + 2, &first));
    for (PetscInt i = 0; i < nanimals; i++) first[key[i] + 1]++;
    for (PetscInt c = 0; c <= nclusters; c++) first[c + 1] += first[c];
    for (PetscInt i = 0; i < nanimals; i++) position[i] = first[key[i]]++;
    PetscCall(PetscFree(first));
  }
  PetscCall(PetscFree(key));
  PetscCallMPI(MPI_Bcast(position, count, MPIU_INT, 0, comm));
  PetscCall(PedigreePermute(pedigree, position));
  PetscCall(RecordsPermuteLevels(records, animal_effect, position));
  PetscCall(PetscFree(position));
  {
    const ModelEffect *effect;
    PetscCall(ModelGetEffect(model, cluster, &effect));
    PetscCall(PetscInfo(NULL, "animals ordered by the %" PetscInt_FMT " levels of %s\n", nclusters, effect->name));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}
