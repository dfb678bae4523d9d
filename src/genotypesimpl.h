/* genotypesimpl.h -- private to src/genotypes*.c.

   genotypes.c        reading (text, PLINK), quality control, the animals' place in the pedigree
   genotypes_setup.c  G, A22, blending and tuning, the inverses (exact, APY), the block of H^-1 - A^-1 */
#ifndef HENDERSON_GENOTYPESIMPL_H
#define HENDERSON_GENOTYPESIMPL_H

#include <henderson/genotypes.h>
#include <henderson/error.h>
#include <henderson/labels.h>

#define GENOTYPE_MISSING ((int8_t)-1)

struct _p_Genotypes {
  MPI_Comm       comm;
  PetscMPIInt    rank, size;
  ModelGenotypes opts;
  char           model_path[HENDERSON_MAX_PATH];
  PetscBool      pedigree_file; /* single step (a pedigree file), else GBLUP over founders */
  /* after GenotypesLoad(): this rank's animals kept */
  PetscInt    n, nsnp; /* rows here; SNPs kept */
  LabelTable  ids;     /* the rows' IDs, in row order */
  PetscInt64 *lines;   /* the line of each row in its file */
  int8_t     *m;       /* n x nsnp, row-major, GENOTYPE_MISSING for a missing call */
  PetscReal  *p;       /* nsnp allele frequencies */
  LabelTable  all;     /* rank 0, from GenotypesAddToPedigree() to GenotypesNumber(): every rank's IDs in rank order */
  PetscInt   *animal;  /* n: pedigree index, after GenotypesNumber() */
  /* after GenotypesSetUp() */
  PetscInt       lo, hi;          /* the animals this rank owns */
  PetscInt       ng, first, nloc; /* genotyped animals; this rank's rows of the block */
  PetscInt      *sorted;          /* ng pedigree indices, ascending */
  PetscReal     *D;               /* nloc x ng column-major */
  PetscReal     *gdiag;           /* ng: Gt's diagonal, every rank */
  GenotypesStats stats;
};

PETSC_INTERN PetscErrorCode GenotypesSetUpBlock(Genotypes g, Pedigree pedigree);
/* A dense matrix of the genotyped animals' rows here (nloc of ng) and COLUMNS columns (ng: split as the rows), zero. */
PETSC_INTERN PetscErrorCode GenotypesCreateBlockMatrix(Genotypes g, PetscInt columns, Mat *M);
/* Gt^-1 by APY, and log|G_APY|. */
PETSC_INTERN PetscErrorCode GenotypesInvertAPY(Genotypes g, Pedigree pedigree, Mat G, Mat *Ginv, PetscReal *logdet);

#endif
