/* henderson/henderson.h -- the whole library: distributed BLUP for animal breeding. */
#ifndef HENDERSON_H
#define HENDERSON_H

#include <henderson/sys.h>
#include <henderson/error.h>
#include <henderson/log.h>
#include <henderson/reader.h>
#include <henderson/labels.h>
#include <henderson/model.h>
#include <henderson/pedigree.h>
#include <henderson/genotypes.h>
#include <henderson/records.h>
#include <henderson/order.h>
#include <henderson/equations.h>
#include <henderson/dense.h>
#include <henderson/recordterms.h>
#include <henderson/relationship.h>
#include <henderson/mme.h>
#include <henderson/cg.h>
#include <henderson/solver.h>
#include <henderson/factor.h>
#include <henderson/design.h>
#include <henderson/pev.h>
#include <henderson/output.h>
#include <henderson/evaluation.h>
#include <henderson/reml.h>
#include <henderson/export.h>
#include <henderson/estimable.h>

/* The version string ("0.1.0"). */
PETSC_EXTERN const char *HendersonVersion(void);

#endif
