/* libFuzzer target for the pedigree and data parsers (and what follows them on any input that gets
   through: numbering, inbreeding, the equations, a short solve).

   The first byte of an input chooses the file it becomes: even -- the pedigree file, beside a fixed
   data file; odd -- the data file, beside a fixed pedigree. The rest of the input is the file. Bad
   input must end in an error (a PetscErrorCode with a message), never in a crash, a hang, an
   out-of-bounds access (AddressSanitizer) or an assertion. Built with -DHENDERSON_FUZZ=ON and clang;
   run by the CTest tests labelled fuzz for a bounded time, or by hand:
     build-fuzz/tests/fuzz_parsers -max_total_time=600 tests/fuzz/seeds */
#include <henderson/henderson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char directory[] = "/tmp/henderson-fuzz-XXXXXX";

static const char model_text[]     = "data      data.txt\n"
                                     "pedigree  pedigree.txt\n"
                                     "trait     y\n"
                                     "fixed     herd\n"
                                     "covariate x\n"
                                     "random    animal pedigree 1\n"
                                     "random    litter iid 0.5\n"
                                     "residual  2\n"
                                     "output    out.h5\n";
static const char fixed_data[]     = "animal herd x litter y\n"
                                     "A4 h1 3 L1 4.5\nA5 h2 4 L1 2.9\nA6 h2 5 L2 3.9\nA7 h1 2 L2 3.5\nA8 h1 1 L3 5.0\n";
static const char fixed_pedigree[] = "A1 0 0\nA2 0 0\nA3 0 0\nA4 A1 0\nA5 A3 A2\nA6 A1 A2\nA7 A4 A5\nA8 A3 A6\n";

static void WriteFile(const char name[], const void *data, size_t size)
{
  char  path[256];
  FILE *fp;
  snprintf(path, sizeof(path), "%s/%s", directory, name);
  fp = fopen(path, "wb");
  if (!fp) {
    perror(path); /* out of file descriptors: some error path did not close its file */
    abort();
  }
  if (size && fwrite(data, 1, size, fp) != size) abort();
  fclose(fp);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  if (!mkdtemp(directory)) abort();
  if (PetscInitializeNoArguments()) abort();
  if (HendersonErrorInitialize()) abort();
  /* a short solve: the point is what reaches it, not its accuracy */
  if (PetscOptionsSetValue(NULL, "-ksp_max_it", "20")) abort();
  if (PetscOptionsSetValue(NULL, "-quiet", NULL)) abort();
  WriteFile("model.txt", model_text, sizeof(model_text) - 1);
  return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
  Evaluation     ev = NULL;
  char           model[256];
  PetscErrorCode ierr;

  if (!size) return 0;
  if (data[0] % 2 == 0) {
    WriteFile("pedigree.txt", data + 1, size - 1);
    WriteFile("data.txt", fixed_data, sizeof(fixed_data) - 1);
  } else {
    WriteFile("pedigree.txt", fixed_pedigree, sizeof(fixed_pedigree) - 1);
    WriteFile("data.txt", data + 1, size - 1);
  }
  snprintf(model, sizeof(model), "%s/model.txt", directory);
  ierr = EvaluationCreate(PETSC_COMM_SELF, &ev);
  if (!ierr) ierr = EvaluationLoadModel(ev, model);
  if (!ierr) ierr = EvaluationRead(ev);
  if (!ierr) ierr = EvaluationPedigree(ev);
  if (!ierr) ierr = EvaluationNumber(ev);
  if (!ierr) ierr = EvaluationAssemble(ev);
  if (!ierr) ierr = EvaluationSolve(ev);
  /* an error must leave objects that can be destroyed */
  if (EvaluationDestroy(&ev)) {
    fprintf(stderr, "EvaluationDestroy failed after: %s\n", HendersonErrorMessage());
    abort();
  }
  HendersonErrorClear();
  return 0;
}
