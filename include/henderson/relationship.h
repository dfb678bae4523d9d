/* henderson/relationship.h -- the covariance structure K of one random group: where K enters the
   equations.

   A random group (the effects of one `random` statement, with their G0) has covariance K (x) G0 over
   its levels, and contributes K^-1 (x) G0^-1 to the mixed model equations. K depends on the group's
   type, chosen by name:
     iid        K = I (litters, herd-years, permanent environment)
     pedigree     K = A, the numerator relationships: A^-1 by Henderson's rules with inbreeding
                  (Quaas 1976; unknown-parent groups by the QP transformation)
     single-step  K = H: H^-1 = A^-1 + [0 0; 0 tau Gt^-1 - omega A22^-1] over the genotyped animals
                  (a pedigree group when the model has genotypes; G^-1 exact or by APY)
     genomic      K = G among the genotyped animals (GBLUP)
   A new type is a new file that registers itself (RelationshipRegister()); nothing else in the
   program branches on the type.

   Life cycle, PETSc style: RelationshipCreate(), RelationshipSetGroup() (the model's group),
   RelationshipSetType() (RelationshipSetTypeFromModel(): the type the model file names),
   RelationshipSetFromOptions() -- all once the model is read, before any work --; after the numbering,
   RelationshipSetEquations() (the group's equations, the pedigree) and RelationshipSetUp() with the
   operator's row layout -- the levels of a rank are those whose first equation it owns, and a pedigree
   is distributed to match --, then the operations below, RelationshipView(), RelationshipDestroy().

   Operations (a type that cannot do one says so in one clear error; RelationshipHasOperation() lets a
   caller check before it starts):
     - the data operator: the equations its product needs, their local numbering, y += K^-1 (x) G0^-1 x
       on the local arrays, and its share of the point-block diagonal;
     - the assembled operator: its entries (global equations, upper triangle, not summed);
     - REML: K^-1 in level space on this rank's levels, and log|K|;
     - sampling (PEV by sampling, Monte Carlo EM): u ~ N(0, K (x) G0) at its equations;
     - the output: the inbreeding of its levels, where it has one. */
#ifndef HENDERSON_RELATIONSHIP_H
#define HENDERSON_RELATIONSHIP_H

#include <henderson/equations.h>
#include <henderson/pedigree.h>
#include <henderson/genotypes.h>

typedef struct _p_Relationship *Relationship;
typedef const char             *RelationshipType;
#define RELATIONSHIPIID "iid"
#define RELATIONSHIPPEDIGREE "pedigree"
#define RELATIONSHIPSINGLESTEP "single-step"
#define RELATIONSHIPGENOMIC "genomic"

/* What a type can do, for RelationshipHasOperation(). */
typedef enum {
  RELATIONSHIP_OP_PRODUCT,   /* the data operator's product and diagonal */
  RELATIONSHIP_OP_ENTRIES,   /* the assembled entries; REML's K^-1 */
  RELATIONSHIP_OP_LOGDET,    /* log|K| (REML) */
  RELATIONSHIP_OP_SAMPLE,    /* u ~ N(0, K (x) G0) */
  RELATIONSHIP_OP_INBREEDING /* the levels' inbreeding */
} RelationshipOperation;

/* The data operator's local numbering of global equation Q (-1 for none), and how it learns which
   equations are needed (Q < 0: ignored). */
typedef int32_t (*RelationshipLocalFn)(void *ctx, PetscInt q);
typedef void (*RelationshipNeedFn)(void *ctx, PetscInt q);

PETSC_EXTERN PetscErrorCode RelationshipRegister(const char name[], PetscErrorCode (*create)(Relationship));
PETSC_EXTERN PetscErrorCode RelationshipCreate(MPI_Comm comm, Relationship *r);
PETSC_EXTERN PetscErrorCode RelationshipDestroy(Relationship *r);
/* Not collective. The random group G of MODEL. */
PETSC_EXTERN PetscErrorCode RelationshipSetGroup(Relationship r, Model model, PetscInt g);
/* Not collective. The group's equations EQ, and PEDIGREE (NULL without a pedigree effect): after the numbering. */
PETSC_EXTERN PetscErrorCode RelationshipSetEquations(Relationship r, Equations eq, Pedigree pedigree);
/* Not collective. The genotypes of the genomic types (NULL without). */
PETSC_EXTERN PetscErrorCode RelationshipSetGenotypes(Relationship r, Genotypes genotypes);
PETSC_EXTERN PetscErrorCode RelationshipSetType(Relationship r, RelationshipType type);
/* The type the model file names for the group (iid; pedigree, or single-step with a genotypes line; genomic). */
PETSC_EXTERN PetscErrorCode RelationshipSetTypeFromModel(Relationship r);
PETSC_EXTERN PetscErrorCode RelationshipGetType(Relationship r, RelationshipType *type);
/* Collective. Options of the type, under the prefix -relationship_<group's first effect>_. */
PETSC_EXTERN PetscErrorCode RelationshipSetFromOptions(Relationship r);
/* Collective. ROWS is the operator's row layout (whole levels); a pedigree is distributed to match. */
PETSC_EXTERN PetscErrorCode RelationshipSetUp(Relationship r, PetscLayout rows);
PETSC_EXTERN PetscErrorCode RelationshipView(Relationship r, PetscViewer viewer);
PETSC_EXTERN PetscErrorCode RelationshipHasOperation(Relationship r, RelationshipOperation op, PetscBool *has);
/* Collective. The one clear error when R cannot do OP (the effect, the type, what and why): callers check
   before they start (the operations check too). */
PETSC_EXTERN PetscErrorCode RelationshipCheckOperation(Relationship r, RelationshipOperation op);

/* Not collective. What the relationship covers. */
PETSC_EXTERN PetscErrorCode RelationshipGetGroup(Relationship r, const ModelGroup **group, PetscInt *g);
/* The levels' block of equations, and the unknown-parent groups' block (NULL without). */
PETSC_EXTERN PetscErrorCode RelationshipGetBlocks(Relationship r, const EquationsBlock **levels, const EquationsBlock **groups);
/* After RelationshipSetUp(): this rank's levels LO..HI-1. */
PETSC_EXTERN PetscErrorCode RelationshipGetLocalLevels(Relationship r, PetscInt *lo, PetscInt *hi);
/* G0^-1 of the group at the model's current (co)variances (dim x dim; PetscFree() it). */
PETSC_EXTERN PetscErrorCode RelationshipGetCovarianceInverse(Relationship r, PetscReal **Ginv);
/* What a level costs, known before the set-up (for the operator's row layout): the bytes a product of the
   data operator reads for it, and the entries of K^-1 in its row of the upper triangle (level space). */
PETSC_EXTERN PetscErrorCode RelationshipGetLevelCost(Relationship r, PetscInt64 *bytes, PetscInt64 *entries);

/* Collective, after RelationshipSetUp(): the data operator. NEED is told every equation the product touches;
   then the local numbering is fixed with LOCAL; MultAdd and AddBlockDiagonal work on the local arrays
   (X and Y with the owned equations first, then the ghosts; D: SMAX entries a local equation, the row of
   its point block, BFIRST the global first equation of each local equation's block, POS its place in it). */
PETSC_EXTERN PetscErrorCode RelationshipNeeded(Relationship r, RelationshipNeedFn need, void *ctx);
PETSC_EXTERN PetscErrorCode RelationshipLocalize(Relationship r, RelationshipLocalFn local, void *ctx);
PETSC_EXTERN PetscErrorCode RelationshipMultAdd(Relationship r, const PetscScalar *x, PetscScalar *y);
/* The same for K vectors at once, interleaved (entry i of vector j at X[i K + j]; NLOCAL local equations):
   each vector's result is the same to the bit as RelationshipMultAdd()'s, and a parent's K values are read
   in one cache line (the pedigree and iid types; the others apply their product a vector at a time). */
PETSC_EXTERN PetscErrorCode RelationshipMultAddBlock(Relationship r, PetscInt k, PetscInt nlocal, const PetscScalar *x, PetscScalar *y);
PETSC_EXTERN PetscErrorCode RelationshipAddBlockDiagonal(Relationship r, PetscReal D[], PetscInt smax, const PetscInt bfirst[], const PetscInt pos[]);
/* Not collective. Flops and bytes of one product on this rank. */
PETSC_EXTERN PetscErrorCode RelationshipGetProductCost(Relationship r, PetscLogDouble *flops, PetscInt64 *bytes);

/* Collective, after RelationshipSetUp(). K^-1 on this rank's levels, in level space (levels, then the
   unknown-parent groups numbered after them): upper triangle (ROWS[k] <= COLS[k]), not summed; free the
   arrays with PetscFree3(). */
PETSC_EXTERN PetscErrorCode RelationshipGetInverseStructure(Relationship r, PetscCount *n, PetscInt **rows, PetscInt **cols, PetscReal **values);
/* Collective. K^-1 (x) G0^-1 in equations: global equation numbers, upper triangle, not summed; PetscFree3(). */
PETSC_EXTERN PetscErrorCode RelationshipGetEntries(Relationship r, PetscCount *n, PetscInt **rows, PetscInt **cols, PetscReal **values);
/* K^-1 as a sum of small terms, for approximate PEV (pev.h): term f couples the levels
   LEVEL[OFFSET[f]..OFFSET[f+1]-1] (level space: the levels, then the unknown-parent groups numbered after them)
   with the dense symmetric matrix VALUE[VOFFSET[f]..] (m x m, m its levels), and belongs to level ANCHOR[f]
   (a family: the child; a level's own term: the level). Summed over the terms of every rank, K^-1. */
typedef struct {
  PetscInt   n;
  PetscInt  *offset, *level, *voffset, *anchor;
  PetscReal *value;
  PetscInt   room[5]; /* allocated, per array: offset, voffset, anchor, level, value */
} RelationshipTerms;
/* Collective. This rank's terms of K^-1: those of its levels (RelationshipTermsDestroy() them). */
PETSC_EXTERN PetscErrorCode RelationshipGetTerms(Relationship r, RelationshipTerms *terms);
PETSC_EXTERN PetscErrorCode RelationshipTermsDestroy(RelationshipTerms *terms);
/* Not collective. Room for N more terms of at most M levels each (the types' builders). */
PETSC_EXTERN PetscErrorCode RelationshipTermsReserve(RelationshipTerms *terms, PetscInt n, PetscInt m);
/* Not collective. One more term: M levels, their M x M matrix, its anchor (room reserved or not). */
PETSC_EXTERN PetscErrorCode RelationshipTermsAdd(RelationshipTerms *terms, PetscInt m, const PetscInt level[], const PetscReal value[], PetscInt anchor);
/* Collective. log|K|. */
PETSC_EXTERN PetscErrorCode RelationshipGetLogDeterminant(Relationship r, PetscReal *logdet);
/* Collective. TRUTH at the group's equations = u ~ N(0, K (x) G0), the numbers keyed on (SEED, SAMPLE,
   the group, the level, the component): the same on any number of ranks. */
PETSC_EXTERN PetscErrorCode RelationshipSample(Relationship r, uint64_t seed, uint64_t sample, Vec truth);
/* Collective. The diagonal of K at the levels LO..HI-1, the levels' prior variance in units of G0 (for
   reliabilities; PetscFree() it): 1 + F (pedigree), NULL for 1 (iid); single step: Gt_ii of a genotyped
   animal, 1 + F of the others (H_ii of an ungenotyped animal differs: an approximation). */
PETSC_EXTERN PetscErrorCode RelationshipGetDiagonal(Relationship r, PetscInt lo, PetscInt hi, PetscReal **K);
/* Collective. The inbreeding F of the levels LO..HI-1 (PetscFree() it); NULL for a type without (iid: 0). */
PETSC_EXTERN PetscErrorCode RelationshipGetInbreeding(Relationship r, PetscInt lo, PetscInt hi, PetscReal **F);

#endif
