/* fallocate() and FALLOC_FL_KEEP_SIZE: claiming disk space before HDF5 writes (OutputReserve()) */
#define _GNU_SOURCE
#include <henderson/output.h>
#include <henderson/error.h>
#include <hdf5.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

struct _p_Output {
  MPI_Comm    comm;
  PetscMPIInt rank, size;
  char        path[HENDERSON_MAX_PATH], temporary[HENDERSON_MAX_PATH + 64];
  hid_t       file, transfer;
  PetscBool   committed;
  /* rank 0: the disk space claimed for the file so far (OutputReserve()) */
  int        reserve_fd;
  PetscInt64 reserved, needed;
  /* tests: the HDF5 call number FAIL_AT (counting H5CheckAll()s) fails on rank FAIL_RANK, as a full disk would */
  PetscInt fail_rank, fail_at, checks;
};

/* HDF5 reports failure by a negative return value. Reading is serial: H5CheckRead fails this rank. */
#define H5CheckRead(expr, path, what) PetscCheck((expr) >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: HDF5 could not %s", path, what)
/* Writing is collective: every rank makes every HDF5 call of the output, and a call that fails on one
   rank (a full disk, a quota) must fail on all of them at that call -- a rank that went on would wait
   in the next collective call for ever. H5CheckAll() agrees after the call. Calls that change only
   this rank's memory (dataspace selections) cannot fail that way and are checked with H5CheckLocal(). */
#define H5CheckAll(expr, what) PetscCall(OutputAgree(o, (expr) >= 0, what))
#define H5CheckLocal(expr, what) PetscCheck((expr) >= 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "%s: HDF5 could not %s", o->temporary, what)

/* Labels are written in slices of this many, so rank 0 never packs more than that at once. */
#define OUTPUT_LABEL_SLICE (1 << 20)

/* Tests (OutputSetFromOptions()): HDF5 call number output_fail_at of every output fails on rank output_fail_rank. */
static PetscInt output_fail_rank = -1, output_fail_at = 0;

PetscErrorCode OutputSetFromOptions(MPI_Comm comm)
{
  PetscFunctionBeginUser;
  PetscOptionsBegin(comm, NULL, "Output (tests)", "Output");
  PetscCall(PetscOptionsInt("-henderson_output_fail_rank", "Tests: the rank on which an HDF5 write fails as on a full disk", "OutputCreate", output_fail_rank,
                            &output_fail_rank, NULL));
  PetscCall(PetscOptionsInt("-henderson_output_fail_at", "Tests: which HDF5 call of the output fails (1, 2, ...)", "OutputCreate", output_fail_at,
                            &output_fail_at, NULL));
  PetscOptionsEnd();
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. OK on this rank; an error on every rank when it is false on any: this rank's message
   names the file and, when the system said why, the reason (no space left, file too large). */
static PetscErrorCode OutputAgree(Output o, PetscBool ok, const char what[])
{
  PetscErrorCode ierr = PETSC_SUCCESS;
  int            why  = errno;

  PetscFunctionBeginUser;
  if (++o->checks == o->fail_at && o->rank == o->fail_rank) {
    ok  = PETSC_FALSE;
    why = ENOSPC;
  }
  if (!ok) {
    const char *reason = why == ENOSPC   ? ": no space left on the device"
                         : why == EFBIG  ? ": the file is too large (a file size limit)"
                         : why == EDQUOT ? ": disk quota exceeded"
                         : why == EIO    ? ": input/output error"
                                         : "";
    ierr = PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, PETSC_ERR_FILE_WRITE, PETSC_ERROR_INITIAL, "%s: could not %s%s (writing %s)",
                      o->path, what, reason, o->temporary);
  }
  PetscCall(HendersonAgree(o->comm, ierr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* A name for the file being written that no other run uses: PATH.tmp-<pid of rank 0>-<random>. */
static PetscErrorCode TemporaryName(MPI_Comm comm, const char path[], char temporary[], size_t size)
{
  long token[2] = {(long)getpid(), 0};

  PetscFunctionBeginUser;
  token[1] = (long)(HendersonRandomToken() & 0xffffffffu);
  PetscCallMPI(MPI_Bcast(token, 2, MPI_LONG, 0, comm));
  PetscCheck(snprintf(temporary, size, "%s.tmp-%ld-%08lx", path, token[0], (unsigned long)token[1]) < (int)size, comm, PETSC_ERR_USER_INPUT,
             "%s: path too long", path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Bytes of file metadata (object headers, B-trees, the heap) to claim per dataset, group or attribute,
   and once for the file: generous, as what is claimed and not used costs nothing once the file is closed. */
#define OUTPUT_OBJECT_BYTES 8192
#define OUTPUT_FILE_BYTES (1 << 20)

/* Collective. Claims disk space for BYTES more of the file before HDF5 writes them. A full disk (or a
   quota, or a file size limit) must show here, as an error on every rank: inside HDF5 it shows on one
   rank -- rank 0, which flushes the metadata when the file is closed -- and the others then wait in
   HDF5's own collective calls for ever. Rank 0 claims the blocks with fallocate() (FALLOC_FL_KEEP_SIZE:
   the file's size, which HDF5 manages, does not change); where the file system cannot (some parallel
   file systems), it compares with the free space statvfs() reports. */
static PetscErrorCode OutputReserve(Output o, PetscInt64 bytes)
{
  PetscErrorCode ierr = PETSC_SUCCESS;

  PetscFunctionBeginUser;
  o->needed += bytes;
  if (o->rank == 0 && o->needed > o->reserved) {
    PetscInt64    want = PetscMax(o->needed, 2 * o->reserved); /* claim ahead: fewer calls */
    struct rlimit limit;
    int           why = 0;
    if (!getrlimit(RLIMIT_FSIZE, &limit) && limit.rlim_cur != RLIM_INFINITY && (PetscInt64)limit.rlim_cur < o->needed) why = EFBIG;
    want = why ? want : (!getrlimit(RLIMIT_FSIZE, &limit) && limit.rlim_cur != RLIM_INFINITY ? PetscMin(want, (PetscInt64)limit.rlim_cur) : want);
    if (!why && o->reserve_fd >= 0 && fallocate(o->reserve_fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)want) &&
        (want == o->needed || fallocate(o->reserve_fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)(want = o->needed)))) {
      why = errno;
      if (why == EOPNOTSUPP || why == ENOSYS || why == EINVAL) { /* no fallocate here: count the free blocks instead */
        struct statvfs fs;
        why = !statvfs(o->temporary, &fs) && (PetscInt64)fs.f_bavail * (PetscInt64)fs.f_frsize < want - o->reserved ? ENOSPC : 0;
      }
    }
    if (why) {
      const char *reason = why == ENOSPC   ? "no space left on the device"
                           : why == EFBIG  ? "the file would exceed a file size limit (ulimit -f)"
                           : why == EDQUOT ? "disk quota exceeded"
                                           : strerror(why);
      ierr               = PetscError(PETSC_COMM_SELF, __LINE__, PETSC_FUNCTION_NAME, __FILE__, PETSC_ERR_FILE_WRITE, PETSC_ERROR_INITIAL,
                                      "%s: cannot write the output: %s (%.1f MB needed)", o->path, reason, (double)o->needed / 1048576.0);
    } else
      o->reserved = want;
  }
  PetscCall(HendersonAgree(o->comm, ierr));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputCreate(MPI_Comm comm, const char path[], Output *output)
{
  Output o;
  hid_t  access;

  PetscFunctionBeginUser;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our messages, not HDF5's stack dumps */
  PetscCall(PetscNew(&o));
  o->comm       = comm;
  o->file       = -1;
  o->transfer   = -1;
  o->reserve_fd = -1;
  PetscCallMPI(MPI_Comm_rank(comm, &o->rank));
  PetscCallMPI(MPI_Comm_size(comm, &o->size));
  PetscCall(PetscStrncpy(o->path, path, sizeof(o->path)));
  PetscCall(TemporaryName(comm, path, o->temporary, sizeof(o->temporary)));
  *output      = o;
  o->fail_rank = output_fail_rank;
  o->fail_at   = output_fail_at;

  access = H5Pcreate(H5P_FILE_ACCESS);
  H5CheckLocal(access, "create a file access list");
  H5CheckLocal(H5Pset_fapl_mpio(access, comm, MPI_INFO_NULL), "use MPI-IO");
  /* closing the file closes whatever an error path left open in it: no handle outlives the file */
  H5CheckLocal(H5Pset_fclose_degree(access, H5F_CLOSE_STRONG), "set the close degree");
  o->file = H5Fcreate(o->temporary, H5F_ACC_EXCL, H5P_DEFAULT, access);
  H5Pclose(access);
  H5CheckAll(o->file, "create the output file (is its directory there and writable?)");
  if (o->rank == 0) o->reserve_fd = open(o->temporary, O_WRONLY | O_CLOEXEC);
  PetscCall(OutputReserve(o, OUTPUT_FILE_BYTES));
  o->transfer = H5Pcreate(H5P_DATASET_XFER);
  H5CheckLocal(o->transfer, "create a transfer list");
  H5CheckLocal(H5Pset_dxpl_mpio(o->transfer, H5FD_MPIO_COLLECTIVE), "set collective transfers");
  {
    /* effects are listed in the order they were written (the model's order) */
    hid_t create = H5Pcreate(H5P_GROUP_CREATE), group;
    H5CheckLocal(H5Pset_link_creation_order(create, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED), "track creation order");
    group = H5Gcreate2(o->file, "/solutions", H5P_DEFAULT, create, H5P_DEFAULT);
    H5Pclose(create);
    H5CheckAll(group, "create /solutions");
    H5Gclose(group);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteAttribute(Output o, hid_t object, const char name[], OutputAttributeType type, const void *value)
{
  hid_t   space = H5Screate(H5S_SCALAR), datatype, attribute;
  int64_t i;
  double  r;

  PetscFunctionBeginUser;
  H5CheckLocal(space, "create a dataspace");
  if (type == OUTPUT_STRING) {
    datatype = H5Tcopy(H5T_C_S1);
    H5CheckLocal(H5Tset_size(datatype, strlen((const char *)value) + 1), "size a string");
    H5CheckLocal(H5Tset_strpad(datatype, H5T_STR_NULLTERM), "pad a string");
  } else
    datatype = H5Tcopy(type == OUTPUT_INT ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE);
  PetscCall(OutputReserve(o, OUTPUT_OBJECT_BYTES + (type == OUTPUT_STRING ? (PetscInt64)strlen((const char *)value) : 0)));
  if (H5Aexists(object, name) > 0) H5CheckAll(H5Adelete(object, name), "replace an attribute");
  attribute = H5Acreate2(object, name, datatype, space, H5P_DEFAULT, H5P_DEFAULT);
  H5CheckAll(attribute, "create an attribute");
  if (type == OUTPUT_INT) {
    i     = (int64_t) * (const PetscInt64 *)value;
    value = &i;
  } else if (type == OUTPUT_REAL) {
    r     = (double)*(const PetscReal *)value;
    value = &r;
  }
  H5CheckAll(H5Awrite(attribute, datatype, value), "write an attribute");
  H5CheckAll(H5Aclose(attribute), "close an attribute");
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
  H5CheckLocal(space, "create a dataspace");
  PetscCall(OutputReserve(o, OUTPUT_OBJECT_BYTES + 8 * (PetscInt64)dims));
  if (H5Aexists(object, name) > 0) H5CheckAll(H5Adelete(object, name), "replace an attribute");
  attribute = H5Acreate2(object, name, datatype, space, H5P_DEFAULT, H5P_DEFAULT);
  H5CheckAll(attribute, "create an attribute");
  H5CheckAll(H5Awrite(attribute, datatype, buffer), "write an attribute");
  H5CheckAll(H5Aclose(attribute), "close an attribute");
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
  H5CheckAll(*g, "open a group");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputSetAttributeArray(Output o, const char group[], const char name[], OutputAttributeType type, PetscInt n, const void *values)
{
  hid_t g;

  PetscFunctionBeginUser;
  PetscCall(OpenGroup(o, group, &g));
  PetscCall(WriteAttributeArray(o, g, name, type, n, values));
  H5CheckAll(H5Gclose(g), "close a group");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputSetAttribute(Output o, const char group[], const char name[], OutputAttributeType type, const void *value)
{
  hid_t g;

  PetscFunctionBeginUser;
  PetscCall(OpenGroup(o, group, &g));
  PetscCall(WriteAttribute(o, g, name, type, value));
  H5CheckAll(H5Gclose(g), "close a group");
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* One collective write of rows START..START+COUNT-1 (this rank's) of a [rows, columns] dataset of TYPE
   (H5T_NATIVE_DOUBLE or H5T_NATIVE_INT64; COLUMNS 0: one-dimensional). */
static PetscErrorCode WriteRowsOfType(Output o, hid_t group, const char name[], hid_t type, PetscInt rows, PetscInt columns, PetscInt start, PetscInt count,
                                      const void *values)
{
  hsize_t dims[2] = {(hsize_t)rows, (hsize_t)columns}, offset[2] = {(hsize_t)start, 0}, block[2] = {(hsize_t)count, (hsize_t)columns};
  hsize_t mem_n = (hsize_t)PetscMax(1, count * PetscMax(columns, 1));
  hid_t   file_space, mem_space, dataset;
  int     rank = columns > 0 ? 2 : 1;

  PetscFunctionBeginUser;
  PetscCall(OutputReserve(o, (PetscInt64)rows * PetscMax(columns, 1) * 8 + OUTPUT_OBJECT_BYTES));
  file_space = H5Screate_simple(rank, dims, NULL);
  H5CheckLocal(file_space, "create a dataspace");
  dataset = H5Dcreate2(group, name, type, file_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5CheckAll(dataset, "create a dataset");
  mem_space = H5Screate_simple(1, &mem_n, NULL);
  H5CheckLocal(mem_space, "create a dataspace");
  if (count > 0)
    H5CheckLocal(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, offset, NULL, block, NULL), "select rows");
  else {
    H5Sselect_none(file_space);
    H5Sselect_none(mem_space);
  }
  H5CheckAll(H5Dwrite(dataset, type, mem_space, file_space, o->transfer, values), "write a dataset");
  H5Sclose(mem_space);
  H5Sclose(file_space);
  H5CheckAll(H5Dclose(dataset), "close a dataset");
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode WriteRows(Output o, hid_t group, const char name[], PetscInt rows, PetscInt columns, PetscInt start, PetscInt count,
                                const PetscReal *values)
{
  PetscFunctionBeginUser;
  PetscCall(WriteRowsOfType(o, group, name, H5T_NATIVE_DOUBLE, rows, columns, start, count, values));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The labels as fixed-length strings, in collective writes of slices: rank 0 writes all of LABELS while the
   other ranks join each write with nothing, or (LOCAL not NULL) every rank writes its own, LOCAL's labels
   being levels START.. . */
static PetscErrorCode WriteLabels(Output o, hid_t group, PetscInt n, LabelTable labels, LabelTable local, PetscInt start)
{
  size_t   length = 0;
  PetscInt size_bcast, mine = 0, nslices;
  hsize_t  dims = (hsize_t)n;
  hid_t    datatype, file_space, dataset;
  char    *buffer = NULL;

  PetscFunctionBeginUser;
  if (local) {
    PetscCall(LabelTableGetMaxLength(local, &length));
    PetscCall(LabelTableGetSize(local, &mine));
  } else if (o->rank == 0) {
    PetscCall(LabelTableGetMaxLength(labels, &length));
    mine  = n;
    start = 0;
  }
  size_bcast = (PetscInt)length + 1;
  PetscCallMPI(MPIU_Allreduce(MPI_IN_PLACE, &size_bcast, 1, MPIU_INT, MPI_MAX, o->comm));
  nslices = (mine + OUTPUT_LABEL_SLICE - 1) / OUTPUT_LABEL_SLICE;
  PetscCallMPI(MPIU_Allreduce(MPI_IN_PLACE, &nslices, 1, MPIU_INT, MPI_MAX, o->comm)); /* every rank joins every write */
  if (!local)
    labels = o->rank == 0 ? labels : NULL;
  else
    labels = local;
  PetscCall(OutputReserve(o, (PetscInt64)n * size_bcast + OUTPUT_OBJECT_BYTES));
  datatype = H5Tcopy(H5T_C_S1);
  H5CheckLocal(H5Tset_size(datatype, (size_t)size_bcast), "size a string type");
  H5CheckLocal(H5Tset_strpad(datatype, H5T_STR_NULLTERM), "pad a string type");
  file_space = H5Screate_simple(1, &dims, NULL);
  H5CheckLocal(file_space, "create a dataspace");
  dataset = H5Dcreate2(group, "level", datatype, file_space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5CheckAll(dataset, "create the level dataset");
  PetscCall(PetscMalloc1((size_t)PetscMin(mine, OUTPUT_LABEL_SLICE) * (size_t)size_bcast + 1, &buffer));
  for (PetscInt slice = 0; slice < nslices; slice++) {
    PetscInt first = slice * OUTPUT_LABEL_SLICE, count = PetscMax(0, PetscMin(OUTPUT_LABEL_SLICE, mine - first));
    hsize_t  at = (hsize_t)(start + first), block = (hsize_t)count, mem_n = (hsize_t)PetscMax(count, 1);
    hid_t    mem_space = H5Screate_simple(1, &mem_n, NULL);
    H5CheckLocal(mem_space, "create a dataspace");
    if (count) {
      PetscCall(PetscArrayzero(buffer, (size_t)count * (size_t)size_bcast));
      for (PetscInt k = 0; k < count; k++) {
        const char *label;
        PetscCall(LabelTableGetLabel(labels, first + k, &label));
        memcpy(buffer + (size_t)k * (size_t)size_bcast, label, strlen(label));
      }
      H5CheckLocal(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, &at, NULL, &block, NULL), "select labels");
    } else {
      H5Sselect_none(file_space);
      H5Sselect_none(mem_space);
    }
    H5CheckAll(H5Dwrite(dataset, datatype, mem_space, file_space, o->transfer, buffer), "write labels");
    H5Sclose(mem_space);
  }
  PetscCall(PetscFree(buffer));
  H5CheckAll(H5Dclose(dataset), "close the level dataset");
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
  H5CheckAll(H5Gclose(g), "close a group");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputWriteEffect(Output o, const OutputEffect *effect)
{
  char  name[HENDERSON_MAX_PATH];
  hid_t group;

  PetscFunctionBeginUser;
  snprintf(name, sizeof(name), "/solutions/%s", effect->name);
  PetscCall(OutputReserve(o, OUTPUT_OBJECT_BYTES));
  group = H5Gcreate2(o->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5CheckAll(group, "create an effect group");
  PetscCall(WriteLabels(o, group, effect->nlevels, effect->labels, effect->local_labels, effect->inbreeding_start));
  PetscCall(WriteRows(o, group, "value", effect->nlevels, effect->ncolumns, effect->level_start, effect->level_count, effect->values));
  if (effect->pev) PetscCall(WriteRows(o, group, "pev", effect->nlevels, effect->ncolumns, effect->level_start, effect->level_count, effect->pev));
  if (effect->sep) PetscCall(WriteRows(o, group, "sep", effect->nlevels, effect->ncolumns, effect->level_start, effect->level_count, effect->sep));
  if (effect->pev_block)
    PetscCall(
        WriteRows(o, group, "pev_block", effect->nlevels, effect->block_dim * effect->block_dim, effect->level_start, effect->level_count, effect->pev_block));
  if (effect->reliability)
    PetscCall(WriteRows(o, group, "reliability", effect->nlevels, effect->ncolumns, effect->level_start, effect->level_count, effect->reliability));
  if (effect->inbreeding)
    PetscCall(WriteRows(o, group, "inbreeding", effect->nlevels, 0, effect->inbreeding_start, effect->inbreeding_count, effect->inbreeding));
  if (effect->pedigree_line) {
    int64_t *line; /* PetscInt64 and HDF5's int64 may be different C types */
    PetscCall(PetscMalloc1(effect->inbreeding_count + 1, &line));
    for (PetscInt k = 0; k < effect->inbreeding_count; k++) line[k] = (int64_t)effect->pedigree_line[k];
    PetscCall(WriteRowsOfType(o, group, "pedigree_line", H5T_NATIVE_INT64, effect->nlevels, 0, effect->inbreeding_start, effect->inbreeding_count, line));
    PetscCall(PetscFree(line));
  }
  if (effect->ancestry)
    PetscCall(
        WriteRowsOfType(o, group, "ancestry", H5T_NATIVE_UINT64, effect->nlevels, 0, effect->inbreeding_start, effect->inbreeding_count, effect->ancestry));
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
  H5CheckAll(H5Gclose(group), "close an effect group");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputCommit(Output o)
{
  PetscErrorCode ierr = PETSC_SUCCESS;
  herr_t         closed;

  PetscFunctionBeginUser;
  if (o->reserve_fd >= 0) close(o->reserve_fd);
  o->reserve_fd = -1;
  H5Pclose(o->transfer);
  o->transfer = -1;
  closed      = H5Fclose(o->file); /* collective: the metadata is written now, and a full disk shows here */
  o->file     = -1;
  H5CheckAll(closed, "close the file");
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
  if (o->reserve_fd >= 0) close(o->reserve_fd);
  if (o->transfer >= 0) H5Pclose(o->transfer);
  if (o->file >= 0) H5Fclose(o->file);
  if (!o->committed && o->rank == 0) (void)unlink(o->temporary);
  PetscCall(PetscFree(*output));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- serial reading ---- */

/* Opens PATH (a regular file: a FIFO would block) for reading; *FILE < 0 when HDF5 cannot. */
static PetscErrorCode OpenForReading(const char path[], hid_t *file)
{
  PetscFunctionBeginUser;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  PetscCall(HendersonCheckRegular(path, "the HDF5 file"));
  *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(*file >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "%s: cannot open as an HDF5 file", path);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The string attribute NAME of the root group, or "" (BUFFER of SIZE bytes). */
static void RootString(hid_t file, const char name[], char buffer[], size_t size)
{
  hid_t attribute, type, memtype;

  buffer[0] = 0;
  if (H5Aexists(file, name) <= 0) return;
  attribute = H5Aopen(file, name, H5P_DEFAULT);
  if (attribute < 0) return;
  type = H5Aget_type(attribute);
  if (H5Tget_class(type) == H5T_STRING && !H5Tis_variable_str(type) && H5Tget_size(type) < size) {
    memtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(memtype, H5Tget_size(type));
    if (H5Aread(attribute, memtype, buffer) < 0) buffer[0] = 0;
    buffer[H5Tget_size(type)] = 0;
    H5Tclose(memtype);
  }
  H5Tclose(type);
  H5Aclose(attribute);
}

PetscErrorCode OutputGetFileKind(const char path[], OutputFileKind *kind)
{
  struct stat st;
  hid_t       file;
  char        program[64];

  PetscFunctionBeginUser;
  *kind = OUTPUT_FILE_NONE;
  if (lstat(path, &st)) PetscFunctionReturn(PETSC_SUCCESS);
  *kind = OUTPUT_FILE_OTHER;
  if (stat(path, &st) || !S_ISREG(st.st_mode)) PetscFunctionReturn(PETSC_SUCCESS);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  if (H5Fis_hdf5(path) <= 0) PetscFunctionReturn(PETSC_SUCCESS);
  file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) PetscFunctionReturn(PETSC_SUCCESS);
  RootString(file, "program", program, sizeof(program));
  if (!strcmp(program, "henderson"))
    *kind = OUTPUT_FILE_SOLUTIONS;
  else if (!strcmp(program, "henderson checkpoint") || (H5Aexists(file, "identity") > 0 && H5Aexists(file, "iteration") > 0 && H5Aexists(file, "rz") > 0))
    *kind = OUTPUT_FILE_CHECKPOINT;
  H5Fclose(file);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode OpenEffect(const char path[], const char name[], hid_t *file, hid_t *group)
{
  char where[HENDERSON_MAX_PATH];

  PetscFunctionBeginUser;
  PetscCall(OpenForReading(path, file));
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

PetscErrorCode OutputReadEffectAncestry(const char path[], const char name[], PetscInt *nlevels, uint64_t **ancestry)
{
  hid_t file, group, dataset, space;

  PetscFunctionBeginUser;
  *nlevels  = 0;
  *ancestry = NULL;
  PetscCall(OpenEffect(path, name, &file, &group));
  if (H5Lexists(group, "ancestry", H5P_DEFAULT) > 0) {
    hsize_t dims[1] = {0};
    dataset         = H5Dopen2(group, "ancestry", H5P_DEFAULT);
    H5CheckRead(dataset, path, "open a dataset");
    space = H5Dget_space(dataset);
    PetscCheck(H5Sget_simple_extent_ndims(space) == 1, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: dataset 'ancestry' of '%s' is not one-dimensional", path,
               name);
    H5Sget_simple_extent_dims(space, dims, NULL);
    *nlevels = (PetscInt)dims[0];
    PetscCall(PetscMalloc1(dims[0] + 1, ancestry));
    H5CheckRead(H5Dread(dataset, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, *ancestry), path, "read a dataset");
    H5Sclose(space);
    H5Dclose(dataset);
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
  PetscCall(OpenForReading(path, &file));
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
  PetscCall(OpenForReading(path, &file));
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
  PetscCall(OpenForReading(path, &file));
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

PetscErrorCode OutputEffectHasDataset(const char path[], const char name[], const char dataset[], PetscBool *has)
{
  hid_t file, group;

  PetscFunctionBeginUser;
  PetscCall(OpenEffect(path, name, &file, &group));
  *has = H5Lexists(group, dataset, H5P_DEFAULT) > 0 ? PETSC_TRUE : PETSC_FALSE;
  H5Gclose(group);
  H5Fclose(file);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputReadAttributeString(const char path[], const char group[], const char attribute[], char **value)
{
  hid_t  file, g, a, type, memtype;
  size_t size;

  PetscFunctionBeginUser;
  PetscCall(OpenForReading(path, &file));
  g = H5Gopen2(file, group, H5P_DEFAULT);
  if (g < 0 || H5Aexists(g, attribute) <= 0) {
    if (g >= 0) H5Gclose(g);
    H5Fclose(file);
    PetscCall(PetscStrallocpy("", value));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  a    = H5Aopen(g, attribute, H5P_DEFAULT);
  type = H5Aget_type(a);
  size = H5Tget_size(type);
  if (H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) > 0) {
    H5Tclose(type);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(file);
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "%s: attribute %s of %s is not a string", path, attribute, group);
  }
  PetscCall(PetscCalloc1(size + 1, value));
  memtype = H5Tcopy(H5T_C_S1);
  H5Tset_size(memtype, size);
  if (H5Aread(a, memtype, *value) < 0) (*value)[0] = 0;
  H5Tclose(memtype);
  H5Tclose(type);
  H5Aclose(a);
  H5Gclose(g);
  H5Fclose(file);
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode OutputReadEffectString(const char path[], const char name[], const char attribute[], char **value)
{
  char group[HENDERSON_MAX_PATH];

  PetscFunctionBeginUser;
  snprintf(group, sizeof(group), "/solutions/%s", name);
  PetscCall(OutputReadAttributeString(path, group, attribute, value));
  PetscFunctionReturn(PETSC_SUCCESS);
}
