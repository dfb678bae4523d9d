/* genotypesimpl.h -- private to src/genotypes*.c.

   genotypes.c        reading (text, PLINK), quality control, the animals' place in the pedigree
   genotypes_setup.c  the rows to their owners, A22 by Colleau; the dense route: G, A22, blending and tuning,
                      the inverses (exact, APY), the block D of H^-1 - A^-1 formed
   genotypes_apy.c    the dense route's APY inverse, rows formed
   genotypes_factored.c  the factored route: APY's factors and A22^-1 from the sparse pedigree, D never formed */
#ifndef HENDERSON_GENOTYPESIMPL_H
#define HENDERSON_GENOTYPESIMPL_H

#include <henderson/genotypes.h>
#include <petscksp.h>
#include <henderson/error.h>
#include <henderson/labels.h>

#define GENOTYPE_MISSING ((int8_t)-1)
/* After GenotypesLoad() the calls are held 2 bits each (g->calls): SNP j of a row in bits 2 (j % 4) of its
   byte j / 4, 0-2 the copies counted and 3 missing; a row is g->width = (nsnp + 3) / 4 bytes, its last
   byte's unused bits 0.  A quarter of a byte a call: the genotypes are the set-up's largest input. */
#define GENOTYPE_PACKED_MISSING 3
static inline int8_t GenotypeCall(const uint8_t *row, PetscInt j)
{
  int c = (row[j >> 2] >> (2 * (j & 3))) & 3;
  return c == GENOTYPE_PACKED_MISSING ? GENOTYPE_MISSING : (int8_t)c;
}
/* SNPs a block of Z (memory: rows x SNP_BLOCK doubles at once). */
#define SNP_BLOCK 1024
/* Columns of A22 a pass of Colleau's method computes together. */
#define COLLEAU_BLOCK 32

/* The factored route (no matrix of the genotyped animals' size anywhere):
     D x = tau G_APY^-1 x - omega A22^-1 x,
     G_APY^-1 = [Gcc^-1 0; 0 0] + [-P'; I] M^-1 [-P I],  P = Gnc Gcc^-1,  M = diag(g_nn - P_n g_cn),
     A22^-1 x = A^22 x - A^21 (A^11)^-1 A^12 x  (blocks of the pedigree's sparse A^-1: 1 ungenotyped, 2 genotyped).
   Rows of P and M where the non-core animals are owned; Gcc^-1 on every rank; A^11 by an inner KSP. */
typedef struct {
  PetscInt   nc;            /* core animals */
  PetscInt  *own;           /* nloc: the own row's place in the core, or -1 - its place among the own non-core rows */
  PetscReal *Gcci;          /* nc x nc: Gt_cc^-1, every rank */
  PetscInt   nn;            /* own non-core rows */
  PetscReal *P, *m;         /* nn x nc (row-major), nn */
  PetscReal *xc, *s, *t;    /* nc x dim, nc x dim, nn x dim work */
  PetscInt   dim;           /* columns the work was made for */
  PetscBool  pedigree;      /* A22^-1 from the pedigree (single step), else A22 = I (GBLUP) */
  Mat        A11, A12, A22; /* blocks of A^-1 without groups: 1 ungenotyped, 2 genotyped (own rows) */
  KSP        ksp;           /* the inner solver of A^11 (NULL: every animal genotyped) */
  PetscInt64 inner_solves, inner_iterations;
  Vec        x1, z1, x2, y2;
  PetscReal  product_flops;
  PetscInt64 product_bytes;
} Factored;

/* The whole pedigree on every rank (parents, d = 1/alpha), an order with parents before progeny, and
   the ancestors of the genotyped animals (SUB: their place in LIST, -1 for the others). */
typedef struct {
  PetscInt   n, *sire, *dam, *order;
  PetscReal *d, c[2];
  PetscInt   ns, *sub, *list;
} Ancestors;

struct _p_Genotypes {
  MPI_Comm       comm;
  PetscMPIInt    rank, size;
  ModelGenotypes opts;
  char           model_path[HENDERSON_MAX_PATH];
  PetscBool      pedigree_file; /* single step (a pedigree file), else GBLUP over founders */
  PetscReal      node_memory;   /* -genotypes_node_memory: bytes a node may give the dense route, 0 for its available memory */
  /* after GenotypesLoad(): this rank's animals kept */
  PetscInt    n, nsnp; /* rows here; SNPs kept */
  LabelTable  ids;     /* the rows' IDs, in row order */
  PetscInt64 *lines;   /* the line of each row in its file */
  int8_t     *m;       /* while reading: n x nsnp, row-major, GENOTYPE_MISSING for a missing call */
  uint8_t    *calls;   /* after GenotypesLoad(): n x width, the same packed (GenotypeCall()) */
  PetscInt    width;   /* bytes a packed row */
  PetscReal  *p;       /* nsnp allele frequencies */
  LabelTable  all;     /* rank 0, from GenotypesAddToPedigree() to GenotypesNumber(): every rank's IDs in rank order */
  PetscInt   *animal;  /* n: pedigree index, after GenotypesNumber() */
  /* after GenotypesSetUp() */
  PetscInt       lo, hi;          /* the animals this rank owns */
  PetscInt       ng, first, nloc; /* genotyped animals; this rank's rows of the block */
  PetscInt      *sorted;          /* ng pedigree indices, ascending */
  PetscBool      factored;        /* the factored route (D not formed) */
  PetscBool      moved, released; /* the rows moved to the owners (g->calls: the nloc own rows); g->calls freed */
  PetscReal     *D;               /* nloc x ng column-major (the dense route) */
  Factored       fac;             /* the factored route */
  PetscReal     *ddiag;           /* nloc: D's diagonal (the factored route: A22^-1's approximated) */
  PetscReal     *gdiag;           /* ng: Gt's diagonal, every rank */
  GenotypesStats stats;
};

PETSC_INTERN PetscErrorCode GenotypesSetUpBlock(Genotypes g, Pedigree pedigree);
/* The dense route's largest genotyped count when the block is auto and APY is asked for: 0.8 GB a matrix,
   7 GB at the peak; the factored route is faster from here on (RESULTS.md) */
#define GENOTYPES_DENSE_MAX 10000
/* The ng x ng matrices of doubles the dense route holds at once at its peak, over all ranks: SetUpDense
   keeps 4 of its own, ScaLAPACK's conversions and solves add theirs; measured 6 on 1 rank and 8.2 on 2
   (8000 genotyped: peak memory over the 512 MB of one matrix) */
#define GENOTYPES_DENSE_PEAK_COPIES 9
/* Releases the genotypes (g->calls) once G's core columns are made. */
PETSC_INTERN PetscErrorCode GenotypesSetUpFactored(Genotypes g, Pedigree pedigree);
PETSC_INTERN PetscErrorCode GenotypesDestroyFactored(Genotypes g);
/* The genotype rows of the positions WANT (ascending) from their owners (nwant x nsnp). */
PETSC_INTERN PetscErrorCode GenotypesFetchRows(Genotypes g, const uint8_t rows[], PetscInt nwant, const PetscInt want[], uint8_t **got);
PETSC_INTERN PetscErrorCode GenotypesAncestorsCreate(Genotypes g, Pedigree pedigree, Ancestors *a);
PETSC_INTERN PetscErrorCode GenotypesAncestorsDestroy(Ancestors *a);
/* V (a->ns x COLLEAU_BLOCK, NB columns used) <- A V over the ancestors (Colleau 2002: A = T D T'). */
PETSC_INTERN void GenotypesColleau(const Ancestors *a, PetscInt nb, PetscReal v[]);
/* The APY core: places among the genotyped animals, ascending. */
PETSC_INTERN PetscErrorCode GenotypesChooseCore(Genotypes g, Pedigree pedigree, PetscInt *nc, PetscInt **core);
/* Gt = a + b ((1 - blend) G + blend A22 + gamma I): the stats' tune_a and tune_b from the means. */
PETSC_INTERN PetscErrorCode GenotypesTuning(Genotypes g);
/* A dense matrix of the genotyped animals' rows here (nloc of ng) and COLUMNS columns (ng: split as the rows), zero. */
PETSC_INTERN PetscErrorCode GenotypesCreateBlockMatrix(Genotypes g, PetscInt columns, Mat *M);
/* Gt^-1 by APY, and log|G_APY|. */
PETSC_INTERN PetscErrorCode GenotypesInvertAPY(Genotypes g, Pedigree pedigree, Mat G, Mat *Ginv, PetscReal *logdet);

#endif
