/* henderson/recordterms.h -- what a record contributes to the equations: y_r = W_r x + e_r, e_r ~ N(0, R0_P / w_r).

   One home for W (a record's incidence: per slot -- effect, trait, coefficient -- the equation and the
   coefficient) and R^-1 (R0-inverse over the traits the record has, its weight): the two forms of the
   MME (mme.h), the design of simulated data sets (design.h), REML and the check of estimability all
   read the records through it, so they agree to the last bit on what a record is. */
#ifndef HENDERSON_RECORDTERMS_H
#define HENDERSON_RECORDTERMS_H

#include <henderson/equations.h>

/* A record can touch up to nslots equations: one per (effect, trait of the effect, coefficient), in
   that order; a social effect has one per (group mate, trait), the mates of smaller groups padded
   with absent ones. Slot s belongs to trait trait[s]; its coefficient is 1 for a class effect, else the
   (scaled) covariate or a Legendre polynomial of it (cov[s] >= 0 numbers those slots). */
typedef struct {
  PetscInt  nslots, ntraits, ncov;
  PetscInt *trait, *cov, *effect;
  PetscInt *position; /* of the slot's equation within its level (EquationsBlockEquation()'s K) */
  PetscBool weighted;
  /* the social effect (-1: none): its slots are (mate, trait), padded to the largest group's mates,
     all with one coefficient (1/(n-1))^dilution (cov -1 without dilution) */
  PetscInt        social, max_mates;
  const PetscInt *mate_offset, *mates;
  PetscReal       dilution;
  /* private */
  Model                   model;
  Equations               eq;
  PetscInt                neffects;
  const PetscReal        *y, *w;
  const PetscInt        **level;
  const PetscReal       **value;
  const ModelEffect     **model_effect;
  const EquationsEffect **layout;
  const EquationsBlock  **block;
  PetscReal              *centre, *scale, (*range)[2];
  PetscReal               R0[MODEL_MAX_TRAITS * MODEL_MAX_TRAITS];
  PetscReal             **rinv; /* R0-inverse by pattern of traits present (2^ntraits, made when needed) */
  PetscInt               *eq_, *first_, *level_;
  PetscReal              *coef_;
} RecordTerms;

/* Everything a record contributes: per slot the equation (-1: none -- trait missing, unknown
   animal, absent equation, zero coefficient), the coefficient and the first equation of its level
   (the point block it lies in); the traits present (a bit mask), the weight, R-inverse for the
   pattern (ntraits x ntraits, weight not applied) and R-inverse y (weight applied). */
typedef struct {
  PetscInt        *eq, *first; /* nslots each, owned by the RecordTerms */
  PetscInt        *level;      /* the level of the slot's effect (a mate's for a social effect), -1 none */
  PetscReal       *coef;
  uint32_t         pattern;
  PetscReal        weight;
  const PetscReal *rinv;
  PetscReal        ry[MODEL_MAX_TRAITS];
} RecordContribution;

PETSC_EXTERN PetscErrorCode RecordTermsCreate(Model model, Equations eq, Records records, RecordTerms *rt);
PETSC_EXTERN PetscErrorCode RecordTermsDestroy(RecordTerms *rt);
PETSC_EXTERN PetscErrorCode RecordTermsGet(RecordTerms *rt, PetscInt r, RecordContribution *c);
/* R0-inverse over the traits in PATTERN, zero elsewhere (ntraits x ntraits, owned by RT). */
PETSC_EXTERN PetscErrorCode RecordTermsResidualInverse(RecordTerms *rt, uint32_t pattern, const PetscReal **rinv);

#endif
