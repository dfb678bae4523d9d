#include <henderson/output.h>
#include <henderson/error.h>
#include <hdf5.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct _p_Output {
  MPI_Comm    comm;
  PetscMPIInt rank, size;
  char        path[HENDERSON_MAX_PATH], temporary[HENDERSON_MAX_PATH + 64];
  hid_t       file, transfer;
  PetscBool   committed;
};

/* HDF5 reports failure by a negative return value. */
#define H5Check(expr, what) PetscCheck((expr) >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "%s: HDF5 could not %s", o->temporary, what)
#define H5CheckRead(expr, path, what) PetscCheck((expr) >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: HDF5 could not %s", path, what)

/* Labels are written in slices of this many, so rank 0 never packs more than that at once. */
#define OUTPUT_LABEL_SLICE (1 << 20)

PetscErrorCode OutputCreate(MPI_Comm comm, const char path[], Output *output)
{
  Output o;
  hid_t  access;
  long   pid = (long)getpid();

  PetscFunctionBeginUser;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our messages, not HDF5's stack dumps */
  PetscCall(PetscNew(&o));
  o->comm     = comm;
  o->file     = -1;
  o->transfer = -1;
  PetscCallMPI(MPI_Comm_rank(comm, &o->rank));
  PetscCallMPI(MPI_Comm_size(comm, &o->size));
  PetscCallMPI(MPI_Bcast(&pid, 1, MPI_LONG, 0, comm));
  PetscCall(PetscStrncpy(o->path, path, sizeof(o->path)));
  snprintf(o->temporary, sizeof(o->temporary), "%s.tmp-%ld", path, pid);
  *output = o;

  access = H5Pcreate(H5P_FILE_ACCESS);
  H5Check(access, "create a file access list");
  H5Check(H5Pset_fapl_mpio(access, comm, MPI_INFO_NULL), "use MPI-IO");
  o->file = H5Fcreate(o->temporary, H5F_ACC_TRUNC, H5P_DEFAULT, access);
  H5Pclose(access);
  PetscCheck(o->file >= 0, comm, PETSC_ERR_FILE_OPEN, "%s: cannot create the output file (is its directory there and writable?)", o->temporary);
  o->transfer = H5Pcreate(H5P_DATASET_XFER);
  H5Check(o->transfer, "create a transfer list");
  H5Check(H5Pset_dxpl_mpio(o->transfer, H5FD_MPIO_COLLECTIVE), "set collective transfers");
  {
    /* effects are listed in the order they were written (the model's order) */
    hid_t create = H5Pcreate(H5P_GROUP_CREATE), group;
    H5Check(H5Pset_link_creation_order(create, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), "track creation order");
    group = H5Gcreate2(o->file, "/solutions", H5P_DEFAULT, create, H5P_DEFAULT);
    H5Check(group, "create /solutions");
    H5Gclose(group);
    H5Pclose(create);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteAttribute(Output o, hid_t object, const char name[], OutputAttributeType type, const void *value)
{
  hid_t space = H5Screate(H5S_SCALAR), datatype, attribute;

  PetscFunctionBeginUser;
  H5Check(space, "create a dataspace");
  if (type == OUTPUT_STRING) {
    datatype = H5Tcopy(H5T_C_S1);
    H5Check(H5Tset_size(datatype, strlen((const char *)value) + 1), "size a string");
    H5Check(H5Tset_strpad(datatype, H5T_STR_NULLTERM), "pad a string");
  } else
    datatype = H5Tcopy(type == OUTPUT_INT ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE);
  if (H5Aexists(object, name) > 0) H5Adelete(object, name);
  attribute = H5Acreate2(object, name, datatype, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Check(attribute, "create an attribute");
  if (type == OUTPUT_INT) {
    int64_t v = (int64_t) * (const PetscInt64 *)value;
    H5Check(H5Awrite(attribute, datatype, &v), "write an attribute");
  } else if (type == OUTPUT_REAL) {
    double v = (double)*(const PetscReal *)value;
    H5Check(H5Awrite(attribute, datatype, &v), "write an attribute");
  } else
    H5Check(H5Awrite(attribute, datatype, value), "write an attribute");
  H5Aclose(attribute);
  H5Tclose(datatype);
  H5Sclose(space);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteAttributeArray(Output o, hid_t object, const char name[], OutputAttributeType type, PetscInt n, const void *values)
{
  hsize_t dims = (hsize_t)PetscMax(n, 1);
  hid_t   space, attribute, datatype = type == OUTPUT_INT ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE;
  void   *buffer;

  PetscFunctionBeginUser;
  PetscCheck(type != OUTPUT_STRING, PETSC_COMM_SELF, PETSC_ERR_SUP, "no string arrays");
  PetscCall(PetscCalloc(sizeof(int64_t) * (size_t)dims, &buffer));
  for (PetscInt k = 0; k < n; k++) {
    if (type == OUTPUT_INT)
      ((int64_t *)buffer)[k] = (int64_t)((const PetscInt *)values)[k];
    else
      ((double *)buffer)[k] = (double)((const PetscReal *)values)[k];
  }
  space = H5Screate_simple(1, &dims, NULL);
  H5Check(space, "create a dataspace");
  if (H5Aexists(object, name) > 0) H5Adelete(object, name);
  attribute = H5Acreate2(object, name, datatype, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Check(attribute, "create an attribute");
  H5Check(H5Awrite(attribute, datatype, buffer), "write an attribute");
  H5Aclose(attribute);
  H5Sclose(space);
  PetscCall(PetscFree(buffer));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode OpenGroup(Output o, const char group[], hid_t *g)
{
  PetscFunctionBeginUser;
  if (!strcmp(group, "/") || H5Lexists(o->file, group, H5P_DEFAULT) > 0)
    *g = H5Gopen2(o->file, group, H5P_DEFAULT);
  else
    *g = H5Gcreate2(o->file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Check(*g, "open a group");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputSetAttributeArray(Output o, const char group[], const char name[], OutputAttributeType type, PetscInt n, const void *values)
{
  hid_t g;

  PetscFunctionBeginUser;
  PetscCall(OpenGroup(o, group, &g));
  PetscCall(WriteAttributeArray(o, g, name, type, n, values));
  H5Gclose(g);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputSetAttribute(Output o, const char group[], const char name[], OutputAttributeType type, const void *value)
{
  hid_t g;

  PetscFunctionBeginUser;
  PetscCall(OpenGroup(o, group, &g));
  PetscCall(WriteAttribute(o, g, name, type, value));
  H5Gclose(g);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One collective write of rows START..START+COUNT-1 (this rank's) of a [rows, columns] float64 dataset. */
static PetscErrorCode WriteRows(Output o, hid_t group, const char name[], PetscInt rows, PetscInt columns, PetscInt start, PetscInt count,
                                const PetscReal *values)
{
  hsize_t dims[2] = {(hsize_t)rows, (hsize_t)columns}, offset[2] = {(hsize_t)start, 0}, block[2] = {(hsize_t)count, (hsize_t)columns};
  hsize_t mem_n = (hsize_t)PetscMax(1, count * PetscMax(columns, 1));
  hid_t   file_space, mem_space, dataset;
  int     rank = columns > 0 ? 2 : 1; /* COLUMNS 0: a one-dimensional dataset */

  PetscFunctionBeginUser;
  file_space = H5Screate_simple(rank, dims, NULL);
  H5Check(file_space, "create a dataspace");
  dataset = H5Dcreate2(group, name, H5T_NATIVE_DOUBLE, file_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Check(dataset, "create a dataset");
  mem_space = H5Screate_simple(1, &mem_n, NULL);
  if (count > 0)
    H5Check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, offset, NULL, block, NULL), "select rows");
  else {
    H5Sselect_none(file_space);
    H5Sselect_none(mem_space);
  }
  H5Check(H5Dwrite(dataset, H5T_NATIVE_DOUBLE, mem_space, file_space, o->transfer, values), "write a dataset");
  H5Sclose(mem_space);
  H5Sclose(file_space);
  H5Dclose(dataset);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0 writes all labels as fixed-length strings, in slices; the other ranks join each collective write with nothing. */
static PetscErrorCode WriteLabels(Output o, hid_t group, PetscInt n, LabelTable labels)
{
  size_t   length = 0;
  PetscInt size_bcast;
  hsize_t  dims = (hsize_t)n;
  hid_t    datatype, file_space, dataset;
  char    *buffer = NULL;

  PetscFunctionBeginUser;
  if (o->rank == 0) PetscCall(LabelTableGetMaxLength(labels, &length));
  size_bcast = (PetscInt)length + 1;
  PetscCallMPI(MPI_Bcast(&size_bcast, 1, MPIU_INT, 0, o->comm));
  datatype = H5Tcopy(H5T_C_S1);
  H5Check(H5Tset_size(datatype, (size_t)size_bcast), "size a string type");
  H5Check(H5Tset_strpad(datatype, H5T_STR_NULLTERM), "pad a string type");
  file_space = H5Screate_simple(1, &dims, NULL);
  dataset    = H5Dcreate2(group, "level", datatype, file_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Check(dataset, "create the level dataset");
  if (o->rank == 0) PetscCall(PetscMalloc1((size_t)PetscMin(n, OUTPUT_LABEL_SLICE) * (size_t)size_bcast + 1, &buffer));
  for (PetscInt first = 0; first < n; first += OUTPUT_LABEL_SLICE) {
    PetscInt count = PetscMin(OUTPUT_LABEL_SLICE, n - first);
    hsize_t  start = (hsize_t)first, block = (hsize_t)count, mem_n = (hsize_t)count;
    hid_t    mem_space = H5Screate_simple(1, &mem_n, NULL);
    if (o->rank == 0) {
      PetscCall(PetscArrayzero(buffer, (size_t)count * (size_t)size_bcast));
      for (PetscInt k = 0; k < count; k++) {
        const char *label;
        PetscCall(LabelTableGetLabel(labels, first + k, &label));
        memcpy(buffer + (size_t)k * (size_t)size_bcast, label, strlen(label));
      }
      H5Check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, &start, NULL, &block, NULL), "select labels");
    } else {
      H5Sselect_none(file_space);
      H5Sselect_none(mem_space);
    }
    H5Check(H5Dwrite(dataset, datatype, mem_space, file_space, o->transfer, buffer), "write labels");
    H5Sclose(mem_space);
  }
  PetscCall(PetscFree(buffer));
  H5Dclose(dataset);
  H5Sclose(file_space);
  H5Tclose(datatype);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputWriteMatrix(Output o, const char group[], const char name[], PetscInt rows, PetscInt columns, const PetscReal values[])
{
  hid_t g;

  PetscFunctionBeginUser;
  PetscCall(OpenGroup(o, group, &g));
  PetscCall(WriteRows(o, g, name, rows, columns, 0, o->rank == 0 ? rows : 0, values));
  H5Gclose(g);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputWriteEffect(Output o, const OutputEffect *effect)
{
  char  name[HENDERSON_MAX_PATH];
  hid_t group;

  PetscFunctionBeginUser;
  snprintf(name, sizeof(name), "/solutions/%s", effect->name);
  group = H5Gcreate2(o->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Check(group, "create an effect group");
  PetscCall(WriteLabels(o, group, effect->nlevels, effect->labels));
  PetscCall(WriteRows(o, group, "value", effect->nlevels, effect->ncolumns, effect->level_start, effect->level_count, effect->values));
  if (effect->pev) PetscCall(WriteRows(o, group, "pev", effect->nlevels, effect->ncolumns, effect->level_start, effect->level_count, effect->pev));
  if (effect->sep) PetscCall(WriteRows(o, group, "sep", effect->nlevels, effect->ncolumns, effect->level_start, effect->level_count, effect->sep));
  if (effect->pev_block)
    PetscCall(WriteRows(o, group, "pev_block", effect->nlevels, effect->block_dim * effect->block_dim, effect->level_start, effect->level_count, effect->pev_block));
  if (effect->reliability)
    PetscCall(WriteRows(o, group, "reliability", effect->nlevels, effect->ncolumns, effect->level_start, effect->level_count, effect->reliability));
  if (effect->inbreeding)
    PetscCall(WriteRows(o, group, "inbreeding", effect->nlevels, 0, effect->inbreeding_start, effect->inbreeding_count, effect->inbreeding));
  PetscCall(WriteAttribute(o, group, "kind", OUTPUT_STRING, effect->kind));
  PetscCall(WriteAttribute(o, group, "structure", OUTPUT_STRING, effect->structure));
  PetscCall(WriteAttribute(o, group, "traits", OUTPUT_STRING, effect->traits));
  PetscCall(WriteAttribute(o, group, "columns", OUTPUT_STRING, effect->columns));
  if (effect->ncovariance) {
    PetscCall(WriteAttributeArray(o, group, "covariance", OUTPUT_REAL, effect->ncovariance, effect->covariance));
    if (effect->ncovariance == 1) PetscCall(WriteAttribute(o, group, "variance", OUTPUT_REAL, effect->covariance));
  }
  if (effect->nconstrained) PetscCall(WriteAttributeArray(o, group, "constrained_level", OUTPUT_INT, effect->nconstrained, effect->constrained));
  if (effect->covariate && effect->covariate[0]) {
    PetscInt64 order = effect->legendre;
    PetscCall(WriteAttribute(o, group, "covariate", OUTPUT_STRING, effect->covariate));
    PetscCall(WriteAttribute(o, group, "legendre", OUTPUT_INT, &order));
    if (effect->legendre >= 0) {
      /* what the coefficients multiply: say it in the file, not only in the manual */
      PetscCall(
          WriteAttribute(o, group, "polynomial", OUTPUT_STRING,
                         "normalized Legendre: phi_k(x) = sqrt((2k+1)/2) P_k(x), k = 0..legendre, x = -1 + 2 (covariate - range[0]) / (range[1] - range[0])"));
      PetscCall(WriteAttributeArray(o, group, "range", OUTPUT_REAL, 2, effect->range));
    }
  }
  H5Gclose(group);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputCommit(Output o)
{
  PetscErrorCode ierr = PETSC_SUCCESS;
  herr_t         closed;

  PetscFunctionBeginUser;
  H5Pclose(o->transfer);
  o->transfer = -1;
  closed      = H5Fclose(o->file);
  o->file     = -1;
  PetscCheck(closed >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "%s: HDF5 could not close the file (disk full?)", o->temporary);
  if (o->rank == 0 && rename(o->temporary, o->path)) {
    ierr = PETSC_ERR_FILE_WRITE;
    (void)PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, ierr, PETSC_ERROR_INITIAL, "%s: cannot rename %s to it: %s", o->path,
                     o->temporary, strerror(errno));
  }
  PetscCall(HendersonAgree(o->comm, ierr));
  o->committed = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputDestroy(Output *output)
{
  Output o = *output;

  PetscFunctionBeginUser;
  if (!o) PetscFunctionReturn(PETSC_SUCCESS);
  if (o->transfer >= 0) H5Pclose(o->transfer);
  if (o->file >= 0) H5Fclose(o->file);
  if (!o->committed && o->rank == 0) (void)unlink(o->temporary);
  PetscCall(PetscFree(*output));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- serial reading ---- */

static PetscErrorCode OpenEffect(const char path[], const char name[], hid_t *file, hid_t *group)
{
  char where[HENDERSON_MAX_PATH];

  PetscFunctionBeginUser;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(*file >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: cannot open as an HDF5 file", path);
  snprintf(where, sizeof(where), "/solutions/%s", name);
  if (H5Lexists(*file, "/solutions", H5P_DEFAULT) <= 0 || H5Lexists(*file, where, H5P_DEFAULT) <= 0) {
    H5Fclose(*file);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: no effect named '%s' under /solutions", path, name);
  }
  *group = H5Gopen2(*file, where, H5P_DEFAULT);
  H5CheckRead(*group, path, "open the effect");
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ReadLabels(const char path[], hid_t group, PetscInt *n, char ***labels)
{
  hid_t   dataset = H5Dopen2(group, "level", H5P_DEFAULT), space, datatype;
  hsize_t dims;
  size_t  total = 0;
  char  **strings;

  PetscFunctionBeginUser;
  H5CheckRead(dataset, path, "open 'level'");
  space = H5Dget_space(dataset);
  H5CheckRead(H5Sget_simple_extent_dims(space, &dims, NULL), path, "size 'level'");
  *n       = (PetscInt)dims;
  datatype = H5Dget_type(dataset);
  if (H5Tis_variable_str(datatype) > 0) {
    char **raw;
    hid_t  memtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(memtype, H5T_VARIABLE);
    PetscCall(PetscMalloc1(dims + 1, &raw));
    H5CheckRead(H5Dread(dataset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw), path, "read 'level'");
    for (hsize_t k = 0; k < dims; k++) total += strlen(raw[k]) + 1;
    PetscCall(PetscMalloc((dims + 1) * sizeof(char *) + total, &strings));
    {
      char *at = (char *)(strings + dims + 1);
      for (hsize_t k = 0; k < dims; k++) {
        strings[k] = at;
        strcpy(at, raw[k]);
        at += strlen(raw[k]) + 1;
      }
    }
    H5Dvlen_reclaim(memtype, space, H5P_DEFAULT, raw);
    PetscCall(PetscFree(raw));
    H5Tclose(memtype);
  } else {
    size_t width   = H5Tget_size(datatype);
    hid_t  memtype = H5Tcopy(H5T_C_S1);
    char  *packed;
    H5Tset_size(memtype, width);
    H5Tset_strpad(memtype, H5T_STR_NULLTERM);
    PetscCall(PetscMalloc1(dims * width + 1, &packed));
    H5CheckRead(H5Dread(dataset, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, packed), path, "read 'level'");
    PetscCall(PetscMalloc((dims + 1) * sizeof(char *) + dims * (width + 1), &strings));
    {
      char *at = (char *)(strings + dims + 1);
      for (hsize_t k = 0; k < dims; k++) {
        strings[k] = at;
        memcpy(at, packed + k * width, width);
        at[width] = 0;
        at += width + 1;
      }
    }
    PetscCall(PetscFree(packed));
    H5Tclose(memtype);
  }
  strings[dims] = NULL;
  *labels       = strings;
  H5Tclose(datatype);
  H5Sclose(space);
  H5Dclose(dataset);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode ReadReals(const char path[], hid_t group, const char name[], PetscInt *rows, PetscInt *columns, PetscReal **values)
{
  hid_t   dataset = H5Dopen2(group, name, H5P_DEFAULT), space;
  hsize_t dims[2] = {0, 1};
  int     rank;
  double *buffer;

  PetscFunctionBeginUser;
  H5CheckRead(dataset, path, "open a dataset");
  space = H5Dget_space(dataset);
  rank  = H5Sget_simple_extent_ndims(space);
  PetscCheck(rank == 1 || rank == 2, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: dataset '%s' has rank %d", path, name, rank);
  H5Sget_simple_extent_dims(space, dims, NULL);
  *rows = (PetscInt)dims[0];
  if (columns) *columns = rank == 2 ? (PetscInt)dims[1] : 1;
  PetscCall(PetscMalloc1(dims[0] * (rank == 2 ? dims[1] : 1) + 1, &buffer));
  H5CheckRead(H5Dread(dataset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer), path, "read a dataset");
  *values = (PetscReal *)buffer;
  H5Sclose(space);
  H5Dclose(dataset);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputReadEffect(const char path[], const char name[], PetscInt *nlevels, PetscInt *ncolumns, char ***labels, PetscReal **values,
                                PetscReal **inbreeding)
{
  hid_t    file, group;
  PetscInt rows;

  PetscFunctionBeginUser;
  PetscCall(OpenEffect(path, name, &file, &group));
  PetscCall(ReadLabels(path, group, nlevels, labels));
  PetscCall(ReadReals(path, group, "value", &rows, ncolumns, values));
  PetscCheck(rows == *nlevels, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: effect '%s' has %" PetscInt_FMT " labels but %" PetscInt_FMT " rows of values", path,
             name, *nlevels, rows);
  if (inbreeding) {
    *inbreeding = NULL;
    if (H5Lexists(group, "inbreeding", H5P_DEFAULT) > 0) PetscCall(ReadReals(path, group, "inbreeding", &rows, NULL, inbreeding));
  }
  H5Gclose(group);
  H5Fclose(file);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputReadEffectDataset(const char path[], const char name[], const char dataset[], PetscInt *nlevels, PetscInt *ncolumns, PetscReal **values)
{
  hid_t file, group;

  PetscFunctionBeginUser;
  PetscCall(OpenEffect(path, name, &file, &group));
  if (H5Lexists(group, dataset, H5P_DEFAULT) <= 0) {
    H5Gclose(group);
    H5Fclose(file);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: effect '%s' has no dataset '%s'", path, name, dataset);
  }
  PetscCall(ReadReals(path, group, dataset, nlevels, ncolumns, values));
  H5Gclose(group);
  H5Fclose(file);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputReadDataset(const char path[], const char dataset[], PetscInt *rows, PetscInt *columns, PetscReal **values)
{
  hid_t file;

  PetscFunctionBeginUser;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(file >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: cannot open as an HDF5 file", path);
  if (H5Lexists(file, dataset, H5P_DEFAULT) <= 0) {
    H5Fclose(file);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: no dataset %s", path, dataset);
  }
  PetscCall(ReadReals(path, file, dataset, rows, columns, values));
  H5Fclose(file);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputReadAttribute(const char path[], const char group[], const char name[], PetscReal *value)
{
  hid_t  file, g, attribute;
  double v;

  PetscFunctionBeginUser;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(file >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: cannot open as an HDF5 file", path);
  g = H5Gopen2(file, group, H5P_DEFAULT);
  H5CheckRead(g, path, "open a group");
  attribute = H5Aopen(g, name, H5P_DEFAULT);
  H5CheckRead(attribute, path, "open an attribute");
  H5CheckRead(H5Aread(attribute, H5T_NATIVE_DOUBLE, &v), path, "read an attribute");
  *value = (PetscReal)v;
  H5Aclose(attribute);
  H5Gclose(g);
  H5Fclose(file);
  PetscFunctionReturn(PETSC_SUCCESS);
}

typedef struct {
  PetscInt n, capacity;
  char   **names;
} NameList;

static herr_t CollectName(hid_t group, const char *name, const H5L_info_t *info, void *data)
{
  NameList *list = data;
  if (list->n == list->capacity) {
    list->capacity = PetscMax(16, 2 * list->capacity);
    if (PetscRealloc(sizeof(char *) * list->capacity, &list->names)) return -1;
  }
  if (PetscStrallocpy(name, &list->names[list->n])) return -1;
  list->n++;
  return 0;
}

PetscErrorCode OutputListEffects(const char path[], PetscInt *n, char ***names)
{
  hid_t    file, group;
  NameList list = {0, 0, NULL};

  PetscFunctionBeginUser;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(file >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: cannot open as an HDF5 file", path);
  group = H5Gopen2(file, "/solutions", H5P_DEFAULT);
  H5CheckRead(group, path, "open /solutions");
  H5CheckRead(H5Literate(group, H5_INDEX_CRT_ORDER, H5_ITER_INC, NULL, CollectName, &list) < 0
                  ? H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, NULL, CollectName, &list)
                  : 0,
              path, "list /solutions");
  H5Gclose(group);
  H5Fclose(file);
  *n     = list.n;
  *names = list.names;
  PetscFunctionReturn(PETSC_SUCCESS);
}
