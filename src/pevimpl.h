/* pevimpl.h -- what the two files of -pev approximate share (private to src/pev_*.c).

   pev_pieces.c        the terms of C, as pieces of factors: the records' (each sent to the rank of its animal),
                       the relationships' (RelationshipGetTerms()), and the blocks that go with an animal
   pev_approximate.c   the factors, the rounds of belief propagation across ranks, the PEV */
#ifndef HENDERSON_PEVIMPL_H
#define HENDERSON_PEVIMPL_H

#include <henderson/pev.h>
#include <petscsf.h>

/* The most point blocks a record touches (a social effect: a pen's mates). */
#define PEV_APPROXIMATE_MAX_MEMBERS 512

/* Pieces of factors: members are point blocks by global first equation; a piece's matrix is over the
   positions 0..ext-1 of each member's block in turn (ext: what the piece uses of it). */
typedef struct {
  PetscInt   n;
  PetscInt  *moff, *loff, *anchor; /* n+1 each */
  PetscInt  *first, *ext;          /* per member */
  PetscInt  *place;                /* per member: where its block lies in its unknown (0 but for a block that goes with an animal) */
  PetscReal *L;
  PetscInt   room[7]; /* allocated, per array in the order above (HendersonGrow()) */
} Pieces;

/* Over this rank's rows, at the first row of each point block: SIZE its order as an unknown (its own
   equations and those of the blocks that go with it; 0 for such a block), and for a block that goes with an
   animal HOST (the animal's first equation; -1 otherwise), its PLACE there and the host's order HSIZE. A
   permanent environment is part of its animal's unknown because the records of the animal's calves (a dam's
   maternal permanent environment) would otherwise share two unknowns in different factors. */
typedef struct {
  PetscInt *size, *host, *place, *hsize;
} Attachments;

/* Collective. This rank's pieces of C's factors (P; members by their unknown's first equation, at their place
   in it), and where the blocks that go with an animal went (AT). */
PETSC_INTERN PetscErrorCode PEVPiecesCreate(MPI_Comm comm, Model model, Equations eq, Records records, PetscInt nrel, Relationship rel[], PetscLayout layout,
                                            Pieces *p, Attachments *at);
PETSC_INTERN PetscErrorCode PEVPiecesDestroy(Pieces *p);
PETSC_INTERN PetscErrorCode PEVAttachmentsDestroy(Attachments *at);
/* Collective. ROOT (over this rank's rows of LAYOUT) at each of the N rows ROW into LEAF. */
PETSC_INTERN PetscErrorCode PEVBcastRows(MPI_Comm comm, PetscLayout layout, PetscInt n, const PetscInt row[], const PetscInt root[], PetscInt leaf[]);

#endif
