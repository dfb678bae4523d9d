/* henderson/evaluation.h -- one genetic evaluation: the stages in order, and the objects they make.

     EvaluationLoadModel  -> Model, a Relationship per random group (of the type the model names)
     EvaluationRead       -> Records          (every rank its own part of the data file)
     EvaluationPedigree   -> Pedigree         (rank 0)
     EvaluationNumber     -> global levels, data-only animals added, inbreeding, A-inverse, animals ordered herd by herd
     EvaluationAssemble   -> Equations, MME   (distributed Mat and rhs; the relationships set up with its rows)
     EvaluationSolve      -> solution Vec     (KSP)
     EvaluationPEV        -> diag(C^-1)       (with -pev exact; pev.h)
     EvaluationWrite      -> HDF5 file

   Each stage is timed and logged as a PetscLogEvent. The objects stay alive until
   EvaluationDestroy(), so that later computations (PEV, REML) reuse the assembled system. */
#ifndef HENDERSON_EVALUATION_H
#define HENDERSON_EVALUATION_H

#include <henderson/log.h>
#include <henderson/model.h>
#include <henderson/pedigree.h>
#include <henderson/records.h>
#include <henderson/order.h>
#include <henderson/equations.h>
#include <henderson/relationship.h>
#include <henderson/mme.h>
#include <henderson/solver.h>
#include <henderson/output.h>

typedef struct _p_Evaluation *Evaluation;

PETSC_EXTERN PetscErrorCode EvaluationCreate(MPI_Comm comm, Evaluation *evaluation);
PETSC_EXTERN PetscErrorCode EvaluationDestroy(Evaluation *evaluation);
/* Collective. Reads every option of the evaluation and of the objects of its stages (pedigree, MME,
   solver, progress, errors), so that all are known -- and -help lists them -- before any work.
   EvaluationLoadModel() calls it when it has not been called. Options: -pev none|exact|sample,
   -pev_samples N, -pev_seed S, -restart, -initial FILE, -checkpoint_file FILE, -order_by NAME,
   -social_group_size N, -quiet, -henderson_quiet, and those of pedigree.h, mme.h, solver.h. */
PETSC_EXTERN PetscErrorCode EvaluationSetFromOptions(Evaluation evaluation);
/* Collective, after EvaluationLoadModel(). An error when PATH (a further file the run writes: REML's
   model file with the estimates) is one of the files the evaluation reads or writes. */
PETSC_EXTERN PetscErrorCode EvaluationCheckOutputPath(Evaluation evaluation, const char path[], const char what[]);
/* Collective. Each stage needs the ones before it. EvaluationLoadModel() also checks the options
   against the model and the paths: no file written (output, checkpoint) is one read, and what is at
   the output path is an earlier output of henderson (replaced, and the summary says so). */
PETSC_EXTERN PetscErrorCode EvaluationLoadModel(Evaluation evaluation, const char model_path[]);
PETSC_EXTERN PetscErrorCode EvaluationRead(Evaluation evaluation);
PETSC_EXTERN PetscErrorCode EvaluationPedigree(Evaluation evaluation);
PETSC_EXTERN PetscErrorCode EvaluationNumber(Evaluation evaluation);
PETSC_EXTERN PetscErrorCode EvaluationAssemble(Evaluation evaluation);
PETSC_EXTERN PetscErrorCode EvaluationSolve(Evaluation evaluation);
PETSC_EXTERN PetscErrorCode EvaluationPEV(Evaluation evaluation);
/* Not collective, before EvaluationAssemble(). The caller will factor C (REML by AI or EM): with
   -mme_operator auto, the assembled form is taken. */
PETSC_EXTERN PetscErrorCode EvaluationRequireEntries(Evaluation evaluation);
/* Collective, after EvaluationAssemble(). Builds the MME again, in the same form, with the model's
   current (co)variances (REML changes them between rounds); the solver is rebuilt at the next solve. */
PETSC_EXTERN PetscErrorCode EvaluationReassemble(Evaluation evaluation);
/* Not collective. HOOK(output, CONTEXT) adds to the output file before it is committed (REML's /variance). */
PETSC_EXTERN PetscErrorCode EvaluationSetWriteHook(Evaluation evaluation, PetscErrorCode (*hook)(Output, void *), void *context);
/* Collective. Writes to OUTPUT_PATH, or to the model's output path when NULL. */
PETSC_EXTERN PetscErrorCode EvaluationWrite(Evaluation evaluation, const char output_path[]);
/* Collective. All of the above in order. */
PETSC_EXTERN PetscErrorCode EvaluationRun(Evaluation evaluation, const char model_path[]);
/* Collective. The one-screen summary. */
PETSC_EXTERN PetscErrorCode EvaluationView(Evaluation evaluation, PetscViewer viewer);

/* Not collective. The stage objects (owned by the evaluation; NULL before their stage). */
PETSC_EXTERN PetscErrorCode EvaluationGetModel(Evaluation evaluation, Model *model);
PETSC_EXTERN PetscErrorCode EvaluationGetRecords(Evaluation evaluation, Records *records);
/* Not collective, after EvaluationRead(): the group size n of a social model's total breeding value -- the
   model's `size`, -social_group_size, else the mean group size of the data; 0 without social groups. */
PETSC_EXTERN PetscErrorCode EvaluationGetSocialGroupSize(Evaluation evaluation, PetscReal *n);
PETSC_EXTERN PetscErrorCode EvaluationGetPedigree(Evaluation evaluation, Pedigree *pedigree);
PETSC_EXTERN PetscErrorCode EvaluationGetEquations(Evaluation evaluation, Equations *equations);
/* After EvaluationLoadModel(): the random groups' relationships (N of them, one per group, in order). */
PETSC_EXTERN PetscErrorCode EvaluationGetRelationships(Evaluation evaluation, PetscInt *n, Relationship **rel);
PETSC_EXTERN PetscErrorCode EvaluationGetRelationship(Evaluation evaluation, PetscInt g, Relationship *rel);
PETSC_EXTERN PetscErrorCode EvaluationGetMME(Evaluation evaluation, MME *mme);
PETSC_EXTERN PetscErrorCode EvaluationGetSolution(Evaluation evaluation, Vec *x);
PETSC_EXTERN PetscErrorCode EvaluationGetSolverResult(Evaluation evaluation, SolverResult *result);
/* Not collective. Whether everything that was solved converged: the evaluation's solve and, with
   -pev sample, every sample's (the true residual of each meets the criterion). */
PETSC_EXTERN PetscErrorCode EvaluationGetConverged(Evaluation evaluation, PetscBool *converged);
/* Not collective. -quiet or -henderson_quiet: the caller prints no summary. */
PETSC_EXTERN PetscErrorCode EvaluationIsQuiet(Evaluation evaluation, PetscBool *quiet);
/* Wall seconds of a phase (max over ranks once the phase has run). */
PETSC_EXTERN PetscErrorCode EvaluationGetPhaseSeconds(Evaluation evaluation, HendersonPhase phase, PetscReal *seconds);

#endif
