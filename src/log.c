#include <henderson/log.h>
#include <stdarg.h>
#include <stdio.h>

const char *const HendersonPhaseNames[] = {"read", "pedigree", "genotypes", "number", "assemble", "solve", "pev", "write"};
PetscLogEvent     HendersonPhaseEvents[HENDERSON_NUM_PHASES];
PetscLogStage     HendersonStageAssemble, HendersonStageSolve, HendersonStageGenomic;
PetscLogEvent     HendersonEventMultGather, HendersonEventMultRecords, HendersonEventMultRelationships, HendersonEventMultScatter;

PetscErrorCode HendersonLogInitialize(void)
{
  static PetscBool   registered    = PETSC_FALSE;
  static const char *event_names[] = {"HdRead", "HdPedigree", "HdGenotypes", "HdNumber", "HdAssemble", "HdSolve", "HdPEV", "HdWrite"};
  PetscClassId       classid;

  PetscFunctionBeginUser;
  if (registered) PetscFunctionReturn(PETSC_SUCCESS);
  registered = PETSC_TRUE;
  PetscCall(PetscClassIdRegister("Henderson", &classid));
  for (int p = 0; p < HENDERSON_NUM_PHASES; p++) PetscCall(PetscLogEventRegister(event_names[p], classid, &HendersonPhaseEvents[p]));
  PetscCall(PetscLogEventRegister("HdMultGather", classid, &HendersonEventMultGather));
  PetscCall(PetscLogEventRegister("HdMultRecords", classid, &HendersonEventMultRecords));
  PetscCall(PetscLogEventRegister("HdMultRelations", classid, &HendersonEventMultRelationships));
  PetscCall(PetscLogEventRegister("HdMultScatter", classid, &HendersonEventMultScatter));
  PetscCall(PetscLogStageRegister("Assemble", &HendersonStageAssemble));
  PetscCall(PetscLogStageRegister("Solve", &HendersonStageSolve));
  PetscCall(PetscLogStageRegister("Genomic product", &HendersonStageGenomic));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static struct {
  int    state; /* 0: options not read (no progress lines); 1: on; 2: off (quiet, or not rank 0) */
  double interval, last;
} progress;

PetscErrorCode HendersonLogSetFromOptions(MPI_Comm comm)
{
  PetscMPIInt rank;
  PetscBool   quiet    = PETSC_FALSE;
  PetscReal   interval = 5;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscOptionsBegin(comm, NULL, "Progress lines", NULL);
  PetscCall(PetscOptionsBool("-quiet", "No progress lines on standard error, and no summary", "HendersonLogSetFromOptions", quiet, &quiet, NULL));
  PetscCall(PetscOptionsReal("-progress_interval", "Seconds between progress lines", "HendersonLogSetFromOptions", interval, &interval, NULL));
  PetscOptionsEnd();
  progress.state    = rank == 0 && !quiet ? 1 : 2;
  progress.interval = (double)interval;
  progress.last     = HendersonSeconds();
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscBool HendersonProgressDue(void)
{
  /* before HendersonLogSetFromOptions() (a program that did not ask for progress lines): none */
  return progress.state == 1 && HendersonSeconds() - progress.last >= progress.interval ? PETSC_TRUE : PETSC_FALSE;
}

void HendersonProgressPrintf(const char format[], ...)
{
  va_list args;
  if (progress.state != 1) return;
  fputs("henderson: ", stderr);
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
  fputc('\n', stderr);
  fflush(stderr);
  progress.last = HendersonSeconds();
}
