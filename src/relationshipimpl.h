/* relationshipimpl.h -- what the types of relationship.h implement (private to src/relationship*.c).

   relationship.c            the object: life cycle, the type registry, the operations that every type
                             shares (its entries in equations, from its K^-1 in level space)
   relationship_iid.c        K = I
   relationship_pedigree.c   K = A, A^-1 from the pedigree
   relationship_genomic.c    K = H of single step, or G (GBLUP), from the genotypes */
#ifndef HENDERSON_RELATIONSHIPIMPL_H
#define HENDERSON_RELATIONSHIPIMPL_H

#include <henderson/relationship.h>
#include <henderson/error.h>

/* The most vectors a type's multaddblock is given at once (more go through multadd one at a time). */
#define RELATIONSHIP_BLOCK_MAX 64

typedef struct _RelationshipOps *RelationshipOps;
struct _RelationshipOps {
  PetscErrorCode (*setfromoptions)(Relationship, PetscOptionItems *);
  PetscErrorCode (*setup)(Relationship, PetscLayout);
  PetscErrorCode (*needed)(Relationship, RelationshipNeedFn, void *);
  PetscErrorCode (*localize)(Relationship, RelationshipLocalFn, void *);
  PetscErrorCode (*multadd)(Relationship, const PetscScalar *, PetscScalar *);
  PetscErrorCode (*multaddblock)(Relationship, PetscInt, const PetscScalar *, PetscScalar *); /* optional: K vectors interleaved */
  PetscErrorCode (*blockdiagonal)(Relationship, PetscReal[], PetscInt, const PetscInt[], const PetscInt[]);
  PetscErrorCode (*cost)(Relationship, PetscLogDouble *, PetscInt64 *);
  PetscErrorCode (*structure)(Relationship, PetscCount *, PetscInt **, PetscInt **, PetscReal **);
  PetscErrorCode (*logdet)(Relationship, PetscReal *);
  PetscErrorCode (*sample)(Relationship, uint64_t, uint64_t, const PetscReal[], Vec); /* L: G0 = L L' */
  PetscErrorCode (*inbreeding)(Relationship, PetscInt, PetscInt, PetscReal **);
  PetscErrorCode (*terms)(Relationship, RelationshipTerms *);                       /* K^-1 as small terms (approximate PEV) */
  PetscErrorCode (*diagonal)(Relationship, PetscInt, PetscInt, PetscReal *);        /* optional: K_ii where it is not 1 + F */
  PetscErrorCode (*hasoperation)(Relationship, RelationshipOperation, PetscBool *); /* optional: what this instance cannot do */
  PetscErrorCode (*whynot)(Relationship, RelationshipOperation, const char **);     /* optional: why, for the error */
  PetscErrorCode (*view)(Relationship, PetscViewer);
  PetscErrorCode (*destroy)(Relationship);
};

struct _p_Relationship {
  MPI_Comm                comm;
  PetscMPIInt             rank, size;
  char                    type[64];
  struct _RelationshipOps ops[1];
  void                   *data;
  /* the group */
  Model                 model;
  PetscInt              g, dim;
  const ModelGroup     *group;
  Equations             eq;
  Pedigree              pedigree;
  Genotypes             genotypes;      /* the genomic types' */
  const EquationsBlock *block, *groups; /* the levels' equations; the unknown-parent groups' (NULL without) */
  /* after RelationshipSetUp() */
  PetscInt   lo, hi;                     /* this rank's levels: those whose first equation it owns */
  PetscInt64 level_bytes, level_entries; /* RelationshipGetLevelCost(), set by the type's create */
  PetscBool  setup;
  /* RelationshipMultAddBlock() of a type without multaddblock: one column at a time, through these */
  PetscScalar *column_x, *column_y;
  PetscInt     column_n;
};

/* This rank's levels of BLOCK in the row layout ROWS: those whose first equation it owns. */
PETSC_INTERN PetscErrorCode RelationshipLevelsOfLayout(const EquationsBlock *block, PetscLayout rows, PetscMPIInt rank, PetscMPIInt size, PetscInt *lo,
                                                       PetscInt *hi);

PETSC_INTERN PetscErrorCode RelationshipCreate_IID(Relationship);
PETSC_INTERN PetscErrorCode RelationshipCreate_Pedigree(Relationship);
PETSC_INTERN PetscErrorCode RelationshipCreate_Genomic(Relationship);

#endif
