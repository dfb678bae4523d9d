/* Private: the Pedigree object's fields, for pedigree.c (reading, checks, order, distribution) and
   pedigree_inbreeding.c (inbreeding and A-inverse). */
#ifndef HENDERSON_PEDIGREEIMPL_H
#define HENDERSON_PEDIGREEIMPL_H

#include <henderson/pedigree.h>

struct _p_Pedigree {
  MPI_Comm            comm;
  PetscMPIInt         rank, size;
  char                path[HENDERSON_MAX_PATH];
  PedigreeStats       stats;
  PetscReal           coefficient[2]; /* of the sire and the dam (or maternal grandsire) column */
  PetscBool           sire_mgs, use_inbreeding;
  PetscBool           meuwissen_luo; /* -pedigree_inbreeding meuwissen_luo instead of the indirect method */
  PetscBool           root_labels;   /* rank 0 needs every ID (PedigreeSetRootLabels()): else a distributed read leaves them in DIRECTORY */
  PetscInt            read_mode;     /* -pedigree_read: 0 auto, 1 root (rank 0 alone), 2 distributed */
  ModelPedigreeHeader header;        /* whether the first line is a header: as the model file says, or decided from the file */
  PetscInt            unused_group;  /* after PedigreeLoad(): the first unknown-parent group no line names (-1: none) */
  PetscReal           min_mendelian; /* -pedigree_min_mendelian: the floor of d_i */
  LabelTable          group_labels;  /* every rank */
  LabelDirectory      directory;     /* every rank, from PedigreeLoad() to PedigreeSetUp() (to PedigreeDistribute() when it holds the IDs
                                        for rank 0, LabelsInDirectory()): the IDs by owner, with their animal indices */
  /* rank 0: the whole pedigree, by animal index (parents before progeny) */
  LabelTable  labels;
  PetscInt    n, capacity;
  PetscInt   *sire, *dam; /* -1 = unknown */
  PetscInt64 *line;       /* line where the animal is listed; 0 if it is not */
  PetscReal  *inbreeding; /* after PedigreeSetUp() */
  PetscReal  *alpha;      /* 1 / d_i, d_i the Mendelian sampling variance in units of sigma2_a */
  uint64_t   *ancestry;   /* after PedigreeSetUp(): fingerprints of the animals' ancestries */
  /* rank 0, during PedigreeSetUp(): F of an earlier evaluation (PedigreeSetKnownInbreeding()) */
  PetscInt         nknown;
  char *const     *known_labels;
  const uint64_t  *known_ancestry;
  const PetscReal *known_F;
  PetscBool        setup;
  /* every rank: its own animals after PedigreeDistribute() */
  PetscInt    local_start, local_n;
  PetscInt   *local_sire, *local_dam;
  PetscReal  *local_alpha, *local_inbreeding;
  PetscInt64 *local_line;     /* the pedigree file's line of each (for the export in the file's order) */
  LabelTable  local_labels;   /* their IDs, in order (the output's labels, written by every rank) */
  PetscBool   release_labels; /* PedigreeDistribute() ends with PedigreeFreeLabels() */
  uint64_t   *local_ancestry;
};

/* pedigree_read.c. */
/* What the file said, line by line, with IDs numbered in order of appearance ("raw" IDs). Each rank first
   holds its own lines, whose labels are entries in TEXT (animal, sire and dam of one line after another;
   unknown parents and groups are codes, not entries); rank 0 then gathers every line by raw ID, with the
   labels. */
#define RAW_NAMED_MAX 64
typedef struct {
  LabelTable  ids; /* rank 0, gathered: raw ID -> label (NULL when the IDs stay in the directory) */
  PetscInt    nlines, capacity;
  PetscInt   *animal, *sire, *dam; /* entry numbers, then raw IDs; -1 = unknown parent, -2-g = group g */
  PetscInt64 *line;
  char       *text; /* the entries' labels, each with its NUL */
  size_t      used, text_capacity;
  size_t     *at; /* where entry k starts in TEXT */
  PetscInt    nentries, entries_capacity;
  PetscInt   *final_of; /* rank 0, after PedigreeBuild(): raw ID -> animal index (-1: dropped) */
  PetscInt    nids;     /* rank 0: raw IDs */
  /* rank 0 without IDS (they stay in the directory): the few labels that the checks named (fetched from their
     owners, RawName()), and those they asked for and did not have */
  PetscInt nnamed, named_id[RAW_NAMED_MAX], nwanted, wanted[RAW_NAMED_MAX];
  char    *named[RAW_NAMED_MAX];
} RawPedigree;
/* Rank 0 alone: the whole file, every ID looked up in one table. */
PETSC_INTERN PetscErrorCode PedigreeReadRoot(Pedigree p, RawPedigree *raw);
/* Collective: every rank reads a byte range, the IDs are numbered by their owners (P->directory, raw IDs in
   order of appearance, *NRAW of them), rank 0 gets RAW. */
PETSC_INTERN PetscErrorCode PedigreeReadDistributed(Pedigree p, RawPedigree *raw, PetscInt *nraw);
PETSC_INTERN PetscErrorCode PedigreeRawDestroy(RawPedigree *raw);

/* Every rank the same: the IDs are kept by their owner ranks for rank 0 until the pedigree is distributed. */
static inline PetscBool LabelsInDirectory(Pedigree p)
{
  return (PetscBool)(p->directory && !p->root_labels);
}

/* pedigree_inbreeding.c: F of every animal and alpha_i = 1/d_i on rank 0, from the whole pedigree there
   (the indirect method runs on every rank of the communicator, sires shared by generation). */
PETSC_INTERN PetscErrorCode PedigreeInbreeding(Pedigree p);

#endif
