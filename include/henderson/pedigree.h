/* henderson/pedigree.h -- the pedigree: checks, order, inbreeding and the inverse of A.

   The pedigree is read, checked and ordered on rank 0 (the order follows ancestors through the whole
   population; the IDs are looked up in batches whose cache misses overlap: 10^7 lines in 3.5 s); its
   memory there peaks at about 150 bytes per animal plus the characters of its ID while the file is
   checked and ordered, and about 60 bytes plus the ID are kept (README, "Memory"). Inbreeding runs on
   every rank (below). Rank 0 then sends each rank the A-inverse coefficients of the animals whose
   equations it owns; the other ranks never hold the whole pedigree for long.

   Order: every animal gets an index such that parents come before their progeny; animals keep the
   order of the file where it already allows that, and a parent listed after its progeny (or not
   listed at all, which makes it a founder) is moved to just before the first of them.

   Checks (errors name the file, the line and the IDs): an animal that is its own ancestor, an
   animal listed twice with different parents, an ID used both as a sire and as a dam, a line with
   fewer than three fields.

   Inbreeding by the indirect method of Sargolzaei, Iwaisaki & Colleau (2005): all progeny of a sire
   at once, from one backward and one forward sweep over the sire, his mates and their ancestors; the
   sires of one generation are independent and shared among the ranks, so F is the same to the bit at
   any rank count (option -pedigree_inbreeding meuwissen_luo: Meuwissen & Luo 1992 on rank 0, for
   comparison). With PedigreeSetKnownInbreeding() (--initial) animals whose ancestry fingerprint is
   unchanged keep an earlier F. A-inverse by Henderson's rules with inbreeding (Quaas 1976): animal i
   with parents s, d and alpha_i = 1/d_i, d_i = 1/2 - (F_s + F_d)/4 (both known), 3/4 - F_p/4 (one
   known), 1 (none), contributes alpha_i to (i,i), -alpha_i/2 to (i,p),(p,i) and alpha_i/4 to (p,q) for
   parents p,q. */
#ifndef HENDERSON_PEDIGREE_H
#define HENDERSON_PEDIGREE_H

#include <petscmat.h>
#include <henderson/labels.h>
#include <henderson/model.h>

typedef struct _p_Pedigree *Pedigree;

/* Summary numbers, the same on every rank after PedigreeSetUp(). */
typedef struct {
  PetscInt  animals;         /* all animals with an equation */
  PetscInt  listed;          /* animals listed in the first column of the file */
  PetscInt  parents_added;   /* parents never listed as animals (founders) */
  PetscInt  data_added;      /* animals with records but not in the pedigree (founders) */
  PetscInt  founders;        /* animals with both parents unknown */
  PetscInt  generations;     /* longest line of descent, founders = generation 1 */
  PetscInt  inbred;          /* animals with F > 0 */
  PetscReal mean_inbreeding; /* over all animals */
  PetscReal max_inbreeding;
  PetscInt  duplicates;        /* repeated identical lines, ignored */
  PetscInt  groups;            /* unknown-parent groups (their equations follow the animals') */
  PetscBool unknown_parents;   /* some parent is unknown and not a group */
  PetscBool header;            /* whether the first line was taken as a header */
  PetscBool header_automatic;  /* ... decided from the file, not said in the model file */
  char      header_text[128];  /* the header line's fields */
  PetscInt  mendelian_floored; /* animals whose d_i was below -pedigree_min_mendelian (parents' F near 1) and was raised to it */
  PetscInt  inbreeding_reused; /* animals whose F came from an earlier evaluation (PedigreeSetKnownInbreeding()) */
  PetscReal min_mendelian;     /* that floor */
} PedigreeStats;

PETSC_EXTERN PetscErrorCode PedigreeCreate(MPI_Comm comm, Pedigree *pedigree);
/* Before PedigreeLoad(). The kind of pedigree: animal sire dam (parent coefficients 1/2, 1/2), or
   sire sire-of-sire maternal-grandsire for sire-MGS models (1/2, 1/4; a bull may then be both). */
PETSC_EXTERN PetscErrorCode PedigreeSetKind(Pedigree pedigree, ModelPedigreeKind kind);
/* Before PedigreeLoad(). IDs that, in the parent columns, are unknown-parent groups (Quaas 1988):
   they are not animals; A-inverse becomes the QP-transformed A*-inverse over animals and groups. */
PETSC_EXTERN PetscErrorCode PedigreeSetGroups(Pedigree pedigree, PetscInt n, const char *const ids[]);
/* Before PedigreeLoad(). Whether the first line is a header (model.h; MODEL_PEDIGREE_HEADER_AUTO by default). */
PETSC_EXTERN PetscErrorCode PedigreeSetHeader(Pedigree pedigree, ModelPedigreeHeader header);
/* Before PedigreeSetUp(). Whether A-inverse accounts for inbreeding (the default); F is computed either way. */
PETSC_EXTERN PetscErrorCode PedigreeSetUseInbreeding(Pedigree pedigree, PetscBool use);
PETSC_EXTERN PetscErrorCode PedigreeGetUseInbreeding(Pedigree pedigree, PetscBool *use);
/* Collective. Options: -pedigree_inbreeding indirect|meuwissen_luo, -pedigree_min_mendelian D (1e-8):
   the floor of the Mendelian sampling variance d_i in A-inverse (animals whose parents have F near 1). */
PETSC_EXTERN PetscErrorCode PedigreeSetFromOptions(Pedigree pedigree);
PETSC_EXTERN PetscErrorCode PedigreeDestroy(Pedigree *pedigree);
/* Collective. Rank 0 reads PATH, checks it and orders the animals (the first line: PedigreeSetHeader()).
   PATH NULL: no file, the animals are the founders added (PedigreeAddFounders()). */
PETSC_EXTERN PetscErrorCode PedigreeLoad(Pedigree pedigree, const char path[]);
/* Not collective, after PedigreeLoad(): the first unknown-parent group (index into PedigreeSetGroups()'s
   IDs) that no line of the file names as a parent; -1 when every group is used. */
PETSC_EXTERN PetscErrorCode PedigreeGetUnusedGroup(Pedigree pedigree, PetscInt *group);
/* Not collective, rank 0 only: the animal IDs, by index; the group IDs (NULL without groups). */
PETSC_EXTERN PetscErrorCode PedigreeGetLabels(Pedigree pedigree, LabelTable *labels);
/* Before PedigreeLoad(): whether rank 0 needs every animal's ID after the read (-initial's earlier IDs are
   matched there; the default). Without it a pedigree read by every rank (-pedigree_read distributed) leaves
   the IDs with their owner ranks, the directory (PedigreeFindLabels() asks them), until PedigreeDistribute()
   hands each rank its own and PedigreeFreeLabels() frees it; PedigreeGetLabels() gives NULL on rank 0. */
PETSC_EXTERN PetscErrorCode PedigreeSetRootLabels(Pedigree pedigree, PetscBool root);
/* Every rank, from PedigreeLoad() until PedigreeSetUp(): the pedigree file's IDs kept by their owner ranks
   (LabelHash() % size) with their animal indices (NULL without a file). The animals added later
   (PedigreeAddFounders()) are not in it: they are the indices from LabelDirectoryGetSize() on. */
PETSC_EXTERN PetscErrorCode PedigreeGetDirectory(Pedigree pedigree, LabelDirectory *directory);
/* Collective (rank 0 asks, the others pass N = 0), until PedigreeFreeLabels(): INDEX[k] is the animal of
   LABEL[k] (-1: not in the pedigree), from rank 0's table or from the owners of the IDs. */
PETSC_EXTERN PetscErrorCode PedigreeFindLabels(Pedigree pedigree, PetscInt n, const char *const label[], PetscInt index[]);
PETSC_EXTERN PetscErrorCode PedigreeGetGroupLabels(Pedigree pedigree, LabelTable *labels);
/* Collective: appends FOUNDERS (rank 0's; animals with records, or genotypes, but not in the pedigree). */
PETSC_EXTERN PetscErrorCode PedigreeAddFounders(Pedigree pedigree, LabelTable founders);
/* Not collective, rank 0 only, before PedigreeSetUp(): the F of N animals of an earlier evaluation, by
   LABELS, with the fingerprints of their ancestry then (PedigreeGetLocalAncestry()). An animal whose
   fingerprint is the same now keeps that F; only the others' are computed. The arrays must stay valid
   until PedigreeSetUp() returns. */
PETSC_EXTERN PetscErrorCode PedigreeSetKnownInbreeding(Pedigree pedigree, PetscInt n, char *const labels[], const uint64_t ancestry[], const PetscReal F[]);
/* Collective. Computes inbreeding (on every rank) and the A-inverse coefficients (rank 0) and shares the statistics. */
PETSC_EXTERN PetscErrorCode PedigreeSetUp(Pedigree pedigree);
PETSC_EXTERN PetscErrorCode PedigreeGetStats(Pedigree pedigree, PedigreeStats *stats);
/* Not collective, rank 0 only: the whole arrays by animal index (parent -1 = unknown, -2-g = group g). */
PETSC_EXTERN PetscErrorCode PedigreeGetArrays(Pedigree pedigree, const PetscInt **sire, const PetscInt **dam, const PetscReal **inbreeding,
                                              const PetscReal **alpha);
/* Not collective, rank 0 only, after PedigreeSetUp(): the ancestry fingerprints by animal index. */
PETSC_EXTERN PetscErrorCode PedigreeGetAncestry(Pedigree pedigree, const uint64_t **ancestry);
/* Collective, after PedigreeSetUp() and before PedigreeDistribute(): animal i becomes animal POSITION[i]
   (the same array on every rank; parents, inbreeding, alpha and labels follow). Parents may then come after
   their progeny: nothing after the set-up needs that order. */
PETSC_EXTERN PetscErrorCode PedigreePermute(Pedigree pedigree, const PetscInt position[]);
/* Collective. RANGES[r]..RANGES[r+1]-1 are the animals whose equations rank r owns (size+1 entries,
   the same on every rank). Rank 0 sends each rank the parents, alpha and F of its animals. */
PETSC_EXTERN PetscErrorCode PedigreeDistribute(Pedigree pedigree, const PetscInt ranges[]);
/* Not collective. This rank's animals after PedigreeDistribute(): indices start..start+n-1. */
PETSC_EXTERN PetscErrorCode PedigreeGetLocal(Pedigree pedigree, PetscInt *start, PetscInt *n, const PetscInt **sire, const PetscInt **dam,
                                             const PetscReal **alpha, const PetscReal **inbreeding);
/* Not collective, after PedigreeDistribute(): the line of the pedigree file that lists each of this rank's
   animals (0: not listed -- a parent that is not, or an animal with records only). */
/* Not collective, after PedigreeDistribute(): the IDs of this rank's animals, in order (label k is animal start + k). */
PETSC_EXTERN PetscErrorCode PedigreeGetLocalLabels(Pedigree pedigree, LabelTable *labels);
/* Not collective: whether PedigreeDistribute() ends with PedigreeFreeLabels() (default no), for runs with
   no look-up by ID after the pedigree is distributed: the table is then gone before the relationship and
   the MME make their arrays. */
PETSC_EXTERN PetscErrorCode PedigreeSetReleaseLabels(Pedigree pedigree, PetscBool release);
/* Not collective, the same call on every rank: rank 0's table of every ID, or the ranks' directory of them,
   is freed once PedigreeDistribute() has given every rank its own animals' IDs (before, nothing happens);
   PedigreeGetLabels() then fails on rank 0. For runs past their last look-up by ID. */
PETSC_EXTERN PetscErrorCode PedigreeFreeLabels(Pedigree pedigree);
PETSC_EXTERN PetscErrorCode PedigreeGetLocalLines(Pedigree pedigree, const PetscInt64 **line);
/* Not collective, after PedigreeDistribute(): a 64-bit fingerprint of the ancestry of each of this rank's
   animals (its ID, its parents' fingerprints and the kind of pedigree): the same fingerprint, the same F. */
PETSC_EXTERN PetscErrorCode PedigreeGetLocalAncestry(Pedigree pedigree, const uint64_t **ancestry);
/* Not collective. The coefficients of the two parent columns in q_i = e_i - c_0 e_sire - c_1 e_dam:
   1/2 and 1/2, or 1/2 and 1/4 for sire and maternal grandsire. A-inverse = sum_i alpha_i q_i q_i'. */
PETSC_EXTERN PetscErrorCode PedigreeGetParentCoefficients(Pedigree pedigree, PetscReal c[2]);
/* Not collective. The A-inverse contributions of this rank's animals (after PedigreeDistribute()),
   by Henderson's rules: up to 6 per animal, upper triangle (row <= col), not summed (the same
   position may appear several times). Indices: animals 0..animals-1, then groups. Free the arrays
   with PetscFree3(). */
PETSC_EXTERN PetscErrorCode PedigreeGetInverseEntries(Pedigree pedigree, PetscCount *n, PetscInt **rows, PetscInt **cols, PetscReal **values);
/* Collective. A-inverse as a distributed AIJ matrix (rows distributed as by PedigreeDistribute(), the
   groups' rows on the last rank). */
PETSC_EXTERN PetscErrorCode PedigreeCreateInverse(Pedigree pedigree, Mat *Ainv);
/* Collective. The statistics: animals, founders, generations, inbreeding; with the format
   PETSC_VIEWER_ASCII_INFO as lines of an evaluation's summary. */
PETSC_EXTERN PetscErrorCode PedigreeView(Pedigree pedigree, PetscViewer viewer);

#endif
