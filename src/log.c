#include <henderson/log.h>

const char *const HendersonPhaseNames[] = {"read", "pedigree", "number", "assemble", "solve", "write"};
PetscLogEvent     HendersonPhaseEvents[HENDERSON_NUM_PHASES];
PetscLogStage     HendersonStageAssemble, HendersonStageSolve;
PetscLogEvent     HendersonEventMultGather, HendersonEventMultRecords, HendersonEventMultPedigree, HendersonEventMultScatter;

PetscErrorCode HendersonLogInitialize(void)
{
  static PetscBool   registered    = PETSC_FALSE;
  static const char *event_names[] = {"HdRead", "HdPedigree", "HdNumber", "HdAssemble", "HdSolve", "HdWrite"};
  PetscClassId       classid;

  PetscFunctionBeginUser;
  if (registered) PetscFunctionReturn(PETSC_SUCCESS);
  registered = PETSC_TRUE;
  PetscCall(PetscClassIdRegister("Henderson", &classid));
  for (int p = 0; p < HENDERSON_NUM_PHASES; p++) PetscCall(PetscLogEventRegister(event_names[p], classid, &HendersonPhaseEvents[p]));
  PetscCall(PetscLogEventRegister("HdMultGather", classid, &HendersonEventMultGather));
  PetscCall(PetscLogEventRegister("HdMultRecords", classid, &HendersonEventMultRecords));
  PetscCall(PetscLogEventRegister("HdMultPedigree", classid, &HendersonEventMultPedigree));
  PetscCall(PetscLogEventRegister("HdMultScatter", classid, &HendersonEventMultScatter));
  PetscCall(PetscLogStageRegister("Assemble", &HendersonStageAssemble));
  PetscCall(PetscLogStageRegister("Solve", &HendersonStageSolve));
  PetscFunctionReturn(PETSC_SUCCESS);
}
