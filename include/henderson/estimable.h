/* henderson/estimable.h -- the rank deficiency of the equations, and which solutions say nothing by
   themselves.

   The equations drop the first level of every further fixed class effect (equations.h); for connected
   data that makes them full rank. When they are not -- a fixed effect nested in another (herd within
   contemporary group), data in disconnected parts, a covariate constant within a class -- conjugate
   gradients still converges, to one of many solutions, and the level solutions of the effects involved
   mean nothing one by one (their differences within a connected part, and every random effect, are as
   good as ever). A breeder must be told.

   C is singular exactly when its fixed block F = X'R^-1X is (G^-1 makes the rest positive definite).
   F is gathered on rank 0 (a few entries a level of the fixed effects: some MB at national size) and
   split as F = [D E; E' F2], D the equations of the fixed effect with the most of them (the herd-year-
   seasons). Two levels of one class effect never share a record, so D is block diagonal over its levels,
   and nullity(F) = sum of the nullities of D's blocks (a covariate constant within a level) + nullity(S),
   S = F2 - E' D^+ E over the other fixed effects' equations (sex, age, parity: a handful to some
   thousands), whose eigendecomposition gives the rank deficiency k and, when k > 0, a combination y of
   S's null vectors; (-D^+ E y, y) is nonzero (with probability 1) at exactly the equations some null
   vector touches: those are not estimable one by one. Their PEV is written as NaN, and a warning names
   the effects and how many of their levels. (MUMPS with null pivot detection on F took 11 s of analysis
   at 185 000 equations with the AMD ordering and over two minutes with its default: its analysis does
   not like a few dense rows over a very wide elimination tree.) When the other effects have more than
   2000 equations (two large cross-classified effects), the check is not made, and the caller says so.

   Unknown-parent groups left without a constraint can make C singular through the groups' block, which
   F does not see; exact PEV (-pev exact) factors all of C with the same detection and finds those too. */
#ifndef HENDERSON_ESTIMABLE_H
#define HENDERSON_ESTIMABLE_H

#include <henderson/mme.h>
#include <henderson/factor.h>

/* Collective. *DEFICIENCY: the rank deficiency of the fixed block of MODEL's equations EQ (-1: not checked,
   see above); MASK (a vector in the layout LAYOUT_LIKE of C) gets 1 at the equations that are not
   estimable one by one, 0 elsewhere (created here; NULL when the deficiency is not positive). */
PETSC_EXTERN PetscErrorCode EstimableCompute(MPI_Comm comm, Model model, Equations eq, Records records, Vec layout_like, PetscInt *deficiency, Vec *mask);
/* Not collective. A null vector N (FactorNullVector()) as a mask: 1 where |n_i| exceeds 1e-6 of its largest
   entry (the rest is rounding), 0 elsewhere; in place. */
PETSC_EXTERN PetscErrorCode EstimableMaskFromNullVector(Vec n);
/* Collective. COUNT[e] (e < neffects): the equations of fixed effect or covariate E that MASK marks;
   COUNT[neffects + e]: those of the unknown-parent groups of pedigree effect E (the first of its
   statement). Every rank gets the counts; COUNT has 2 neffects entries. */
PETSC_EXTERN PetscErrorCode EstimableCountByEffect(Model model, Equations eq, Vec mask, PetscInt count[]);

#endif
