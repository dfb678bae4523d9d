#include <henderson/henderson.h>
#include <sys/resource.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *HendersonVersion(void)
{
  return HENDERSON_VERSION;
}

PetscErrorCode HendersonPathJoin(const char dir[], const char path[], char joined[], size_t size)
{
  int n;

  PetscFunctionBeginUser;
  if (path[0] == '/' || !dir || !dir[0] || !strcmp(dir, "."))
    n = snprintf(joined, size, "%s", path);
  else
    n = snprintf(joined, size, "%s/%s", dir, path);
  PetscCheck(n >= 0 && (size_t)n < size, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "path too long: %s/%s", dir, path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode HendersonPathDirectory(const char path[], char dir[], size_t size)
{
  const char *slash = strrchr(path, '/');

  PetscFunctionBeginUser;
  if (!slash) {
    PetscCall(PetscStrncpy(dir, ".", size));
  } else if (slash == path) {
    PetscCall(PetscStrncpy(dir, "/", size));
  } else {
    size_t n = (size_t)(slash - path);
    PetscCheck(n < size, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "path too long: %s", path);
    memcpy(dir, path, n);
    dir[n] = 0;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

double HendersonSeconds(void)
{
  return MPI_Wtime();
}

PetscErrorCode HendersonPeakMemory(PetscLogDouble *bytes)
{
  struct rusage usage;

  PetscFunctionBeginUser;
  PetscCheck(!getrusage(RUSAGE_SELF, &usage), PETSC_COMM_SELF, PETSC_ERR_SYS, "getrusage failed");
  *bytes = 1024.0 * (PetscLogDouble)usage.ru_maxrss; /* kilobytes on Linux */
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode HendersonParseReal(const char text[], PetscReal *value, PetscBool *ok)
{
  char  *end;
  double v;

  PetscFunctionBeginUser;
  *ok    = PETSC_FALSE;
  *value = 0;
  if (!text[0]) PetscFunctionReturn(PETSC_SUCCESS);
  errno = 0;
  v     = strtod(text, &end);
  if (end == text || *end || errno == ERANGE || !isfinite(v)) PetscFunctionReturn(PETSC_SUCCESS);
  *value = (PetscReal)v;
  *ok    = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscBool HendersonIsMissing(const char text[], PetscBool zero_is_missing)
{
  if (!text[0]) return PETSC_TRUE;
  if (!strcmp(text, "NA") || !strcmp(text, ".")) return PETSC_TRUE;
  if (zero_is_missing && !strcmp(text, "0")) return PETSC_TRUE;
  return PETSC_FALSE;
}
