/* henderson/order.h -- the order of the animals' equations: herd by herd.

   A product with the mixed model equations touches, for every animal, the equations of its parents,
   and for every record the equations of its contemporary group. It runs fastest, and the ranks
   exchange fewest values, when these lie close together: in cache, and on the same rank. The
   pedigree file's order (or a shuffled one) puts them anywhere. OrderAnimals() renumbers the
   animals so that those of one herd follow each other, as national evaluations sort their data by
   herd:

   - the levels of a clustering class effect -- option -order_by NAME; by default the fixed class
     effect with the most levels, the contemporary group (herd-year-season) -- are ranked by the
     natural order of their labels (digit runs compare as numbers), which puts the years and
     seasons of a herd together when the labels begin with the herd, as they usually do;
   - every animal takes the smallest rank among its records (through any pedigree effect: a dam
     takes her calves' groups in a maternal model); an animal without records takes that of its
     youngest progeny with one (sires, dams of the data-less), then of its dam, then of its sire;
   - the animals are sorted by that rank, keeping the pedigree order (parents first) among equals;
   - the clustering effect's own levels are renumbered in the same order, so that a product reads
     their values in sequence -- unless one of its levels is set to zero (a fixed effect that does
     not absorb the mean: the choice of that level goes by its number, and the fixed-effect
     solutions would change with it).

   Only the numbering changes: the solutions are the same (to rounding), whatever the order, and the
   output lists the animals and the clustering effect's levels in the new order. -order_by none keeps the pedigree order. */
#ifndef HENDERSON_ORDER_H
#define HENDERSON_ORDER_H

#include <henderson/records.h>

/* Collective. After RecordsNumber() and PedigreeSetUp(), before the equations are laid out:
   computes the order on rank 0 and renumbers the pedigree and the records' animal levels.
   Reads -order_by NAME|auto|none. Does nothing without a pedigree effect. */
/* ORDER_BY: the class effect whose levels group the animals, "auto" (or NULL: the fixed class effect
   with the most levels) or "none" (pedigree order); the option -order_by of the evaluation. */
PETSC_EXTERN PetscErrorCode OrderAnimals(MPI_Comm comm, Model model, Records records, Pedigree pedigree, const char order_by[]);

#endif
