/* Private: what labels.c offers labels_directory.c beyond the public LabelTable interface. */
#ifndef HENDERSON_LABELSIMPL_H
#define HENDERSON_LABELSIMPL_H

#include <henderson/labels.h>

/* A table of N distinct labels that lie one after another, each with its NUL, in POOL (POOL_SIZE bytes),
   HASH[k] the LabelHash() of label k: both arrays are taken over (PetscMalloc()ed; the table frees them).
   No label is compared or hashed: the labels of a directory are distinct by construction. */
PETSC_INTERN PetscErrorCode LabelTableCreateFromPool(PetscInt n, char *pool, size_t pool_size, uint64_t *hash, LabelTable *table);

#endif
