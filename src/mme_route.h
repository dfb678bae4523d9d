/* Private to the data operator: ghost values routed through a grid of ranks (mme_route.c). */
#ifndef HENDERSON_MME_ROUTE_H
#define HENDERSON_MME_ROUTE_H

#include <petscsf.h>

typedef struct _p_GhostRoute *GhostRoute;

/* Collective. The routes of this rank's NGHOST ghosts (global equations GHOSTS, ascending) from their
   owners in LAYOUT, through the grid's routers. */
PETSC_INTERN PetscErrorCode GhostRouteCreate(MPI_Comm comm, PetscLayout layout, PetscInt nghost, const PetscInt ghosts[], GhostRoute *route);
/* Collective. The same ghosts straight from their owners (one PetscSF): for blocks of vectors, whose
   ghosted vectors PETSc does not have. */
PETSC_INTERN PetscErrorCode GhostRouteCreateDirect(MPI_Comm comm, PetscLayout layout, PetscInt nghost, const PetscInt ghosts[], GhostRoute *route);
PETSC_INTERN PetscErrorCode GhostRouteDestroy(GhostRoute *route);
/* Collective. LOCAL is a ghosted vector's local form (the owned values, then the ghosts), or K such
   vectors interleaved (the K values of a local equation together): the owners' values into the ghosts. */
PETSC_INTERN PetscErrorCode GhostRouteForward(GhostRoute route, PetscInt k, PetscScalar local[]);
/* Collective. The ghosts' values added into their owners' (the ghosts are left as they were). */
PETSC_INTERN PetscErrorCode GhostRouteReverse(GhostRoute route, PetscInt k, PetscScalar local[]);
/* Not collective. The ranks this rank receives from in one exchange (both steps), and its router slots. */
PETSC_INTERN PetscErrorCode GhostRouteGetNeighbours(GhostRoute route, PetscInt *neighbours, PetscInt *slots);

#endif
