/* henderson/export.h -- a solutions file as text, for spreadsheets, scripts and the programs breeders
   already have.

     henderson export FILE.h5                  every effect, one line per level and column, with a header:
         effect level trait solution [sep reliability]     (like BLUPF90's solutions file)
     henderson export FILE.h5 EFFECT [DATASET] one effect: "level value ..." (DATASET: value, pev, sep,
                                               reliability, inbreeding, pedigree_line), no header

   A level (an animal's ID) that contains a blank, a comma or a double quote is written in double
   quotes, with a quote inside doubled -- the data file reader splits such fields back the same way.
   Values are written with 10 significant digits; NaN (a PEV that is not estimable) as NaN.

   Order of the levels, -export_order:
     file   (default) the animals of a pedigree effect in the order of the pedigree file (animals
            not listed there -- parents, animals with records only -- after them); other effects
            as in the output
     level  as in the output (equation order: animals herd by herd, see -order_by)
     label  sorted by label, digit runs compared as numbers ("A2" before "A10") */
#ifndef HENDERSON_EXPORT_H
#define HENDERSON_EXPORT_H

#include <henderson/output.h>

typedef enum { EXPORT_ORDER_FILE, EXPORT_ORDER_LEVEL, EXPORT_ORDER_LABEL } ExportOrder;
PETSC_EXTERN const char *const ExportOrders[];

typedef struct _p_Export *Export;

PETSC_EXTERN PetscErrorCode ExportCreate(MPI_Comm comm, Export *export);
PETSC_EXTERN PetscErrorCode ExportDestroy(Export *export);
/* Collective. -export_order file|level|label, -export_digits N (10; 17 writes a double exactly). */
PETSC_EXTERN PetscErrorCode ExportSetFromOptions(Export export);
PETSC_EXTERN PetscErrorCode ExportSetOrder(Export export, ExportOrder order);
/* Not collective. Writes the solutions file PATH to OUT: every effect (EFFECT NULL) with a header, or one
   effect's DATASET (NULL: value). An unknown effect is an error that lists the effects there are. */
PETSC_EXTERN PetscErrorCode ExportWrite(Export export, const char path[], const char effect[], const char dataset[], FILE *out);

#endif
