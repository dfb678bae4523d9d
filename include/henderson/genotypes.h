/* henderson/genotypes.h -- genotypes of SNP markers, and the genomic relationships made from them.

   Files: text, one animal a line -- its ID, then its genotypes as 0/1/2 copies of one allele, either one
   string of digits (BLUPF90's layout) or blank-separated; 5 or 9 is a missing call --, or PLINK 1
   binary (FILE.bed, SNP-major, with FILE.bim and FILE.fam beside it; the ID is the .fam's second
   column). Read in parallel: a rank holds the genotypes of the lines (animals) of its share of the file.

   Quality control (the model file's genotypes line, BLUPF90's defaults): animals with a call rate below
   animal-callrate are dropped first; then, over the animals kept, SNPs with a call rate below callrate,
   with a single allele, or with a minor allele frequency below maf. Genotyped parent-offspring pairs with
   opposing homozygotes on more than 1 % of the SNPs are counted (a warning).

   G: VanRaden's first method, G = ZZ' / (2 sum p(1-p)), Z = M - 2p (a missing call is 0 after centring),
   p from the animals kept (or the frequencies file). Gb = (1 - blend) G + blend A22 + gamma I; with
   tuning, Gt = a + b Gb such that Gt's mean diagonal and mean off-diagonal are A22's. A22, the pedigree
   relationships of the genotyped animals, by Colleau's indirect method (A = T D T', two passes over the
   ancestors a column). The inverses by ScaLAPACK (PETSc's MATSCALAPACK: Cholesky, then solves with I);
   APY (Misztal et al. 2014) from the inverse of the core's block and the non-core conditional variances.

   What a relationship needs: after GenotypesSetUp(), the block D = tau Gt^-1 - omega A22^-1 at the rows of
   the genotyped animals this rank owns (pedigree order): formed (the dense route: columns of all genotyped
   animals), or factored (the model's `block factored`, or APY past GENOTYPES_DENSE_MAX genotyped animals:
   G's and A22's core columns only, APY's factors, A22^-1 x = A^22 x - A^21 (A^11)^-1 A^12 x by the sparse
   A^-1 and an inner KSP; D applied by GenotypesMultFactored(), never formed).

   Life cycle: GenotypesCreate(), GenotypesSetFromOptions(), GenotypesLoad() (read and check), GenotypesAddToPedigree() (after
   PedigreeLoad(): genotyped animals not in the pedigree become founders), GenotypesNumber() (after the
   pedigree's final order), GenotypesSetUp() (with the pedigree distributed), GenotypesDestroy(). */
#ifndef HENDERSON_GENOTYPES_H
#define HENDERSON_GENOTYPES_H

#include <henderson/model.h>
#include <henderson/pedigree.h>

typedef struct _p_Genotypes *Genotypes;

/* The same on every rank. */
typedef struct {
  PetscBool  plink;
  PetscInt64 animals_read, animals_used, animals_dropped_callrate, animals_added; /* added: not in the pedigree, made founders */
  PetscInt64 snps_read, snps_used, snps_dropped_callrate, snps_dropped_monomorphic, snps_dropped_maf;
  PetscInt64 parent_conflicts;                        /* genotyped parent-offspring pairs with opposing homozygotes on > 1 % of the SNPs */
  PetscReal  scale;                                   /* 2 sum p(1-p) */
  PetscReal  mean_diag_g, mean_offdiag_g;             /* of G before blending */
  PetscReal  mean_diag_a22, mean_offdiag_a22;         /* of A22 */
  PetscReal  correlation;                             /* of the off-diagonals of G and A22 */
  PetscReal  tune_a, tune_b;                          /* Gt = a + b Gb (0, 1 without tuning) */
  PetscInt   apy_core;                                /* 0: exact G^-1 */
  PetscBool  apy_chosen;                              /* the core chosen by the program (evenly spaced in pedigree order) */
  PetscBool  factored;                                /* the block factored (APY's factors, A22^-1 from the pedigree), not formed */
  PetscBool  single;                                  /* factored: G's products in single precision (no missing call: exact) */
  PetscInt64 inner_solves, inner_iterations;          /* factored: the solves with A^11 so far, their iterations */
  PetscReal  logdet_g, logdet_a22;                    /* log|Gt| (APY: of G_APY), log|A22| */
  PetscReal  seconds_g, seconds_a22, seconds_inverse; /* of GenotypesSetUp() (the rows moved: in G's) */
  PetscBool  setup;
} GenotypesStats;

PETSC_EXTERN PetscErrorCode GenotypesCreate(MPI_Comm comm, Genotypes *genotypes);
PETSC_EXTERN PetscErrorCode GenotypesDestroy(Genotypes *genotypes);
/* Collective: -genotypes_node_memory GB, what a node may give the dense route (default: what it has available). */
PETSC_EXTERN PetscErrorCode GenotypesSetFromOptions(Genotypes genotypes);
/* Collective. Reads the file of the model's genotypes line and applies the quality control. */
PETSC_EXTERN PetscErrorCode GenotypesLoad(Genotypes genotypes, Model model);
/* Collective, after PedigreeLoad() and before PedigreeSetUp(). An ID on two lines is an error here. */
PETSC_EXTERN PetscErrorCode GenotypesAddToPedigree(Genotypes genotypes, Pedigree pedigree);
/* Collective, once the pedigree's order is final (PedigreeSetUp(), the animals ordered). */
PETSC_EXTERN PetscErrorCode GenotypesNumber(Genotypes genotypes, Pedigree pedigree);
/* Collective. This rank owns the animals LO..HI-1 (PedigreeGetLocal()); again only when they changed. */
PETSC_EXTERN PetscErrorCode GenotypesSetUp(Genotypes genotypes, Pedigree pedigree, PetscInt lo, PetscInt hi);
/* Not collective, after GenotypesSetUp(). NG genotyped animals ANIMAL[] (ascending pedigree indices); this
   rank's rows FIRST..FIRST+NLOCAL-1 of the block D = tau Gt^-1 - omega A22^-1 (column-major, NLOCAL x NG;
   NULL in the factored route: GenotypesMultFactored()). */
PETSC_EXTERN PetscErrorCode GenotypesGetBlock(Genotypes genotypes, PetscInt *ng, const PetscInt **animal, PetscInt *first, PetscInt *nlocal,
                                              const PetscReal **D);
/* Collective, after GenotypesSetUp() of the factored route (GenotypesGetBlock() gives D = NULL): Y = D X
   at this rank's rows, NLOCAL x DIM column-major each. */
PETSC_EXTERN PetscErrorCode GenotypesMultFactored(Genotypes genotypes, PetscInt dim, const PetscReal X[], PetscReal Y[]);
/* Not collective. Flops and bytes of one column of GenotypesMultFactored() here (MUMPS' solve left out). */
PETSC_EXTERN PetscErrorCode GenotypesGetProductCost(Genotypes genotypes, PetscLogDouble *flops, PetscInt64 *bytes);
/* Not collective, after GenotypesSetUp(). D's diagonal at this rank's rows (NLOCAL): in the factored route
   with A22^-1's diagonal estimated (for a preconditioner only). */
PETSC_EXTERN PetscErrorCode GenotypesGetBlockDiagonal(Genotypes genotypes, const PetscReal **diag);
PETSC_EXTERN PetscErrorCode GenotypesGetStats(Genotypes genotypes, GenotypesStats *stats);
/* Not collective, after GenotypesSetUp(). The diagonal of Gt (APY keeps it) of all NG genotyped animals, in
   the order of GenotypesGetBlock()'s ANIMAL, on every rank. */
PETSC_EXTERN PetscErrorCode GenotypesGetDiagonal(Genotypes genotypes, PetscInt *ng, const PetscReal **diag);
/* Not collective. The allele frequencies used (snps_used of them, every rank). */
PETSC_EXTERN PetscErrorCode GenotypesGetFrequencies(Genotypes genotypes, const PetscReal **p);
/* Not collective. Whether H^-1 has a log-determinant here (tau = omega = 1). */
PETSC_EXTERN PetscErrorCode GenotypesHasLogDeterminant(Genotypes genotypes, PetscBool *has);
PETSC_EXTERN PetscErrorCode GenotypesView(Genotypes genotypes, PetscViewer viewer);

#endif
