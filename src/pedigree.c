#include "pedigreeimpl.h"
#include <henderson/error.h>
#include <ctype.h>
#include <string.h>

PetscErrorCode PedigreeCreate(MPI_Comm comm, Pedigree *pedigree)
{
  Pedigree p;

  PetscFunctionBeginUser;
  PetscCall(PetscNew(&p));
  p->comm = comm;
  PetscCallMPI(MPI_Comm_rank(comm, &p->rank));
  PetscCallMPI(MPI_Comm_size(comm, &p->size));
  p->coefficient[0] = p->coefficient[1] = 0.5;
  p->use_inbreeding                     = PETSC_TRUE;
  p->root_labels                        = PETSC_TRUE;
  p->min_mendelian                      = 1e-8;
  *pedigree                             = p;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeSetFromOptions(Pedigree p)
{
  const char *const methods[] = {"indirect", "meuwissen_luo"};
  PetscInt          method    = p->meuwissen_luo ? 1 : 0;

  PetscFunctionBeginUser;
  PetscOptionsBegin(p->comm, NULL, "Pedigree: inbreeding and A-inverse", "Pedigree");
  PetscCall(PetscOptionsEList("-pedigree_inbreeding", "Inbreeding algorithm", "PedigreeSetFromOptions", methods, 2, methods[method], &method, NULL));
  {
    const char *const modes[] = {"auto", "root", "distributed"};
    PetscCall(PetscOptionsEList("-pedigree_read", "Who reads the pedigree file: rank 0 alone, or every rank a byte range (auto: distributed from 2 ranks)",
                                "PedigreeSetFromOptions", modes, 3, modes[p->read_mode], &p->read_mode, NULL));
  }
  PetscCall(PetscOptionsReal("-pedigree_min_mendelian", "Smallest Mendelian sampling variance d_i in A-inverse (parents with F near 1)",
                             "PedigreeSetFromOptions", p->min_mendelian, &p->min_mendelian, NULL));
  PetscOptionsEnd();
  PetscCheck(p->min_mendelian >= 0 && p->min_mendelian < 0.5, p->comm, PETSC_ERR_USER_INPUT, "-pedigree_min_mendelian must be in [0, 0.5)");
  p->meuwissen_luo = method == 1 ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeDestroy(Pedigree *pedigree)
{
  Pedigree p = *pedigree;

  PetscFunctionBeginUser;
  if (!p) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(LabelTableDestroy(&p->labels));
  PetscCall(LabelTableDestroy(&p->group_labels));
  PetscCall(LabelDirectoryDestroy(&p->directory));
  PetscCall(LabelTableDestroy(&p->local_labels));
  PetscCall(PetscFree3(p->sire, p->dam, p->line));
  PetscCall(PetscFree2(p->inbreeding, p->alpha));
  PetscCall(PetscFree4(p->local_sire, p->local_dam, p->local_alpha, p->local_inbreeding));
  PetscCall(PetscFree(p->local_line));
  PetscCall(PetscFree(p->ancestry));
  PetscCall(PetscFree(p->local_ancestry));
  PetscCall(PetscFree(*pedigree));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeSetKind(Pedigree p, ModelPedigreeKind kind)
{
  PetscFunctionBeginUser;
  p->sire_mgs       = kind == MODEL_PEDIGREE_SIRE_MGS ? PETSC_TRUE : PETSC_FALSE;
  p->coefficient[1] = p->sire_mgs ? 0.25 : 0.5;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeSetGroups(Pedigree p, PetscInt n, const char *const ids[])
{
  PetscFunctionBeginUser;
  PetscCall(LabelTableDestroy(&p->group_labels));
  if (!n) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(LabelTableCreate(&p->group_labels));
  for (PetscInt k = 0; k < n; k++) PetscCall(LabelTableInsert(p->group_labels, ids[k], strlen(ids[k]), NULL, NULL));
  p->stats.groups = n;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeSetHeader(Pedigree p, ModelPedigreeHeader header)
{
  PetscFunctionBeginUser;
  p->header = header;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeSetUseInbreeding(Pedigree p, PetscBool use)
{
  PetscFunctionBeginUser;
  p->use_inbreeding = use;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetUseInbreeding(Pedigree p, PetscBool *use)
{
  PetscFunctionBeginUser;
  *use = p->use_inbreeding;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetUnusedGroup(Pedigree p, PetscInt *group)
{
  PetscFunctionBeginUser;
  *group = p->unused_group;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetGroupLabels(Pedigree p, LabelTable *labels)
{
  PetscFunctionBeginUser;
  *labels = p->group_labels;
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode PedigreeReserve(Pedigree p, PetscInt capacity)
{
  PetscInt   *sire, *dam;
  PetscInt64 *line;

  PetscFunctionBeginUser;
  if (capacity <= p->capacity) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscMalloc3(capacity, &sire, capacity, &dam, capacity, &line));
  if (p->n) {
    PetscCall(PetscArraycpy(sire, p->sire, p->n));
    PetscCall(PetscArraycpy(dam, p->dam, p->n));
    PetscCall(PetscArraycpy(line, p->line, p->n));
  }
  PetscCall(PetscFree3(p->sire, p->dam, p->line));
  p->sire     = sire;
  p->dam      = dam;
  p->line     = line;
  p->capacity = capacity;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---- checking (rank 0), from what pedigree_read.c read ---- */

static PetscBool HasDigit(const char s[])
{
  for (; *s; s++)
    if (isdigit((unsigned char)*s)) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* An ID's label for a message. Without the table (the IDs in the directory) the labels already fetched are
   used; another is noted as wanted (RawName() fetches it, and the checks run again). */
static const char *RawLabel(RawPedigree *raw, PetscInt id)
{
  const char *label = "unknown";
  if (id <= -2) return "a group";
  if (id < 0) return label;
  if (raw->ids) {
    (void)LabelTableGetLabel(raw->ids, id, &label);
    return label;
  }
  for (PetscInt k = 0; k < raw->nnamed; k++)
    if (raw->named_id[k] == id) return raw->named[k];
  if (raw->nwanted < RAW_NAMED_MAX) raw->wanted[raw->nwanted++] = id;
  return "?";
}

/* The first line is a header when its three fields are words (no digit, no unknown code) seen nowhere else. */
static PetscErrorCode RawDetectHeader(RawPedigree *raw, PetscBool *header)
{
  PetscFunctionBeginUser;
  *header = PETSC_FALSE;
  if (!raw->nlines || raw->sire[0] < 0 || raw->dam[0] < 0) PetscFunctionReturn(PETSC_SUCCESS); /* unknown or group */
  {
    PetscInt ids[3] = {raw->animal[0], raw->sire[0], raw->dam[0]};
    *header         = (ids[0] != ids[1] && ids[0] != ids[2] && ids[1] != ids[2]) ? PETSC_TRUE : PETSC_FALSE;
    for (int c = 0; c < 3 && *header; c++)
      if (HasDigit(RawLabel(raw, ids[c]))) *header = PETSC_FALSE;
    for (PetscInt k = 1; k < raw->nlines && *header; k++) /* seen nowhere else */
      for (int c = 0; c < 3; c++)
        if (raw->animal[k] == ids[c] || raw->sire[k] == ids[c] || raw->dam[k] == ids[c]) *header = PETSC_FALSE;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* For a cycle through GRAY animal START: the chain START -> parent -> ... -> START, as text. */
static PetscErrorCode DescribeCycle(RawPedigree *raw, const PetscInt sire[], const PetscInt dam[], const char state[], PetscInt start, char text[], size_t size)
{
  PetscInt  nids, *previous, *queue, head = 0, tail = 0, found = -1;
  PetscInt *chain, nchain = 0;
  size_t    used = 0;

  PetscFunctionBeginUser;
  nids = raw->nids;
  PetscCall(PetscMalloc3(nids, &previous, nids, &queue, nids + 1, &chain));
  for (PetscInt i = 0; i < nids; i++) previous[i] = -2;
  queue[tail++]   = start;
  previous[start] = -1;
  while (head < tail && found < 0) {
    PetscInt v = queue[head++], parents[2] = {sire[v], dam[v]};
    for (int k = 0; k < 2; k++) {
      PetscInt p = parents[k];
      if (p < 0 || state[p] != 1) continue;
      if (p == start) {
        found = v;
        break;
      }
      if (previous[p] == -2) {
        previous[p]   = v;
        queue[tail++] = p;
      }
    }
  }
  for (PetscInt v = found; v >= 0; v = previous[v]) chain[nchain++] = v;
  /* chain holds found .. start; print start first -- a long cycle by its first and last few */
  for (PetscInt k = nchain - 1; k >= 0 && used + 8 < size; k--) {
    PetscInt position = nchain - 1 - k, n;
    if (nchain > 12 && position == 6) {
      n = snprintf(text + used, size - used, "... (%" PetscInt_FMT " more) -> ", nchain - 11);
      k = 5;
    } else
      n = snprintf(text + used, size - used, "%s -> ", RawLabel(raw, chain[k]));
    if (n < 0) break;
    used += (size_t)n;
  }
  if (used + 1 < size) snprintf(text + used, size - used, "%s", RawLabel(raw, start));
  PetscCall(PetscFree3(previous, queue, chain));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Checks the lines and builds the ordered pedigree from them. */
static PetscErrorCode PedigreeBuild(Pedigree p, RawPedigree *raw, PetscBool header)
{
  PetscInt    nids, *sire, *dam, *order, norder = 0, *stack, nstack = 0, *final_of;
  PetscInt64 *listed, *as_sire, *as_dam;
  char       *state; /* 0 new, 1 on the path (gray), 2 placed */

  PetscFunctionBeginUser;
  nids = raw->nids;
  PetscCall(PetscMalloc3(nids, &sire, nids, &dam, nids, &listed));
  PetscCall(PetscCalloc2(nids, &as_sire, nids, &as_dam));
  for (PetscInt i = 0; i < nids; i++) {
    sire[i] = dam[i] = -1;
    listed[i]        = 0;
  }

  /* Line by line, so that the first problem in the file is the one reported. */
  for (PetscInt k = header ? 1 : 0; k < raw->nlines; k++) {
    PetscInt   a = raw->animal[k], s = raw->sire[k], d = raw->dam[k];
    PetscInt64 line = raw->line[k];

    PetscCheck(s != a && d != a, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": animal %s is its own ancestor (it is its own %s)", p->path,
               line, RawLabel(raw, a), s == a ? "sire" : "dam");
    if (!p->sire_mgs)
      PetscCheck(s < 0 || s != d, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": ID %s is both the sire and the dam of animal %s", p->path,
                 line, RawLabel(raw, s), RawLabel(raw, a));
    if (p->sire_mgs) {
      /* a bull can be a sire of sires and a maternal grandsire: no sex check */
    } else if (s >= 0) {
      PetscCheck(!as_dam[s], PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                 "%s:%" PetscInt64_FMT ": ID %s is used as a sire here and as a dam at line %" PetscInt64_FMT, p->path, line, RawLabel(raw, s), as_dam[s]);
      if (!as_sire[s]) as_sire[s] = line;
    }
    if (!p->sire_mgs && d >= 0) {
      PetscCheck(!as_sire[d], PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                 "%s:%" PetscInt64_FMT ": ID %s is used as a dam here and as a sire at line %" PetscInt64_FMT, p->path, line, RawLabel(raw, d), as_sire[d]);
      if (!as_dam[d]) as_dam[d] = line;
    }
    if (listed[a]) {
      PetscCheck(sire[a] == s && dam[a] == d, PETSC_COMM_SELF, PETSC_ERR_USER_INPUT,
                 "%s:%" PetscInt64_FMT ": animal %s is listed again with parents %s and %s; line %" PetscInt64_FMT " gave %s and %s", p->path, line,
                 RawLabel(raw, a), RawLabel(raw, s), RawLabel(raw, d), listed[a], RawLabel(raw, sire[a]), RawLabel(raw, dam[a]));
      p->stats.duplicates++;
      continue;
    }
    sire[a]   = s;
    dam[a]    = d;
    listed[a] = line;
    p->stats.listed++;
  }

  /* Depth-first placement: an animal is placed after its parents, otherwise in file order. */
  PetscCall(PetscCalloc1(nids, &state));
  PetscCall(PetscMalloc2(nids, &order, 3 * nids + 1, &stack));
  PetscCall(PetscMalloc1(nids + 1, &raw->final_of));
  final_of = raw->final_of;
  for (PetscInt i = 0; i < nids; i++) final_of[i] = -1; /* the words of a header line are never placed */
  for (PetscInt k = header ? 1 : 0; k < raw->nlines; k++) {
    PetscInt a = raw->animal[k];
    if (state[a]) continue;
    stack[nstack++] = a;
    while (nstack) {
      PetscInt t = stack[nstack - 1];
      if (state[t] == 0) {
        PetscInt parents[2] = {dam[t], sire[t]}; /* the sire is pushed last, so it is placed first */
        state[t]            = 1;
        for (int j = 0; j < 2; j++) {
          PetscInt q = parents[j];
          if (q < 0 || state[q] == 2) continue;
          if (state[q] == 1) {
            char cycle[1024];
            PetscCall(DescribeCycle(raw, sire, dam, state, q, cycle, sizeof(cycle)));
            SETERRQ(PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s:%" PetscInt64_FMT ": animal %s is its own ancestor (%s, each ID followed by one of its parents)",
                    p->path, listed[q] ? listed[q] : listed[t], RawLabel(raw, q), cycle);
          }
          stack[nstack++] = q;
        }
      } else {
        nstack--;
        if (state[t] == 1) {
          state[t]        = 2;
          final_of[t]     = norder;
          order[norder++] = t;
        }
      }
    }
  }

  /* The ordered pedigree: the IDs of the file, renumbered (the words of a header line dropped). */
  PetscCall(PedigreeReserve(p, PetscMax(norder, 1)));
  for (PetscInt i = 0; i < norder; i++) {
    PetscInt t = order[i];
    p->sire[i] = sire[t] >= 0 ? final_of[sire[t]] : sire[t]; /* unknown and group codes kept */
    p->dam[i]  = dam[t] >= 0 ? final_of[dam[t]] : dam[t];
    p->line[i] = listed[t];
    if (!listed[t]) p->stats.parents_added++;
  }
  if (raw->ids) PetscCall(LabelTablePermute(raw->ids, norder, order)); /* else the directory has them (RawRenumber()) */
  p->labels = raw->ids;
  raw->ids  = NULL;
  p->n      = norder;
  PetscCall(PetscFree(state));
  PetscCall(PetscFree2(order, stack));
  PetscCall(PetscFree3(sire, dam, listed));
  PetscCall(PetscFree2(as_sire, as_dam));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The first unknown-parent group that no line names as a parent (-1: every group is used). */
static PetscErrorCode RawUnusedGroup(Pedigree p, RawPedigree *raw, PetscInt *unused)
{
  PetscBool *used;

  PetscFunctionBeginUser;
  *unused = -1;
  if (!p->stats.groups) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscCalloc1(p->stats.groups, &used));
  for (PetscInt k = 0; k < raw->nlines; k++) {
    if (raw->sire[k] <= -2) used[-2 - raw->sire[k]] = PETSC_TRUE;
    if (raw->dam[k] <= -2) used[-2 - raw->dam[k]] = PETSC_TRUE;
  }
  for (PetscInt g = p->stats.groups - 1; g >= 0; g--)
    if (!used[g]) *unused = g;
  PetscCall(PetscFree(used));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: the gathered lines checked, and the ordered pedigree built from them. */
static PetscErrorCode PedigreeCheckRaw(Pedigree p, RawPedigree *raw)
{
  PetscBool header = PETSC_FALSE; /* the first line of RAW is a header */

  PetscFunctionBeginUser;
  if (p->header == MODEL_PEDIGREE_HEADER_AUTO) {
    PetscCall(RawDetectHeader(raw, &header));
    if (header) {
      const char *a = RawLabel(raw, raw->animal[0]), *s = RawLabel(raw, raw->sire[0]), *d = RawLabel(raw, raw->dam[0]);
      snprintf(p->stats.header_text, sizeof(p->stats.header_text), "%s %s %s", a, s, d);
    }
  }
  p->stats.header           = (PetscBool)(header || p->header == MODEL_PEDIGREE_HEADER_YES);
  p->stats.header_automatic = p->header == MODEL_PEDIGREE_HEADER_AUTO ? PETSC_TRUE : PETSC_FALSE;
  PetscCheck(raw->nlines > (header ? 1 : 0), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "%s: the pedigree file lists no animals", p->path);
  PetscCall(RawUnusedGroup(p, raw, &p->unused_group));
  PetscCall(PedigreeBuild(p, raw, header));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. The directory's raw IDs become the animals' indices that rank 0 gave them. */
static PetscErrorCode RawRenumber(Pedigree p, RawPedigree *raw, PetscInt nraw)
{
  PetscInt *final_of = raw->final_of;

  PetscFunctionBeginUser;
  if (p->rank) PetscCall(PetscMalloc1(nraw + 1, &final_of));
  PetscCallMPI(MPI_Bcast(final_of, (PetscMPIInt)nraw, MPIU_INT, 0, p->comm));
  PetscCall(LabelDirectoryRenumber(p->directory, nraw, final_of));
  if (p->rank) PetscCall(PetscFree(final_of));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. Rank 0 gets the labels of its N raw IDs (significant there) from their owners, for the
   checks' messages and the header's detection when it has no table of them. */
static PetscErrorCode RawName(Pedigree p, RawPedigree *raw, PetscInt n, const PetscInt ids[])
{
  char **labels = NULL;

  PetscFunctionBeginUser;
  PetscCall(LabelDirectoryGetLabels(p->directory, n, ids, &labels));
  if (p->rank) PetscFunctionReturn(PETSC_SUCCESS);
  for (PetscInt k = 0; k < n; k++) {
    if (labels[k] && raw->nnamed < RAW_NAMED_MAX) {
      raw->named_id[raw->nnamed] = ids[k];
      raw->named[raw->nnamed++]  = labels[k];
    } else
      PetscCall(PetscFree(labels[k]));
  }
  PetscCall(PetscFree(labels));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective: the first line's labels (a header has words where lines have IDs). */
static PetscErrorCode RawNameFirstLine(Pedigree p, RawPedigree *raw)
{
  PetscInt ids[3], n = 0;

  PetscFunctionBeginUser;
  if (p->rank == 0 && raw->nlines) {
    PetscInt first[3] = {raw->animal[0], raw->sire[0], raw->dam[0]};
    for (int c = 0; c < 3; c++)
      if (first[c] >= 0) ids[n++] = first[c];
  }
  PetscCall(RawName(p, raw, n, ids));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. When rank 0's checks failed (*IERR there) naming IDs whose labels it did not have, it gets
   them and checks again: the same first problem, now with the file's IDs in the message. */
static PetscErrorCode RawRecheck(Pedigree p, RawPedigree *raw, PetscErrorCode *ierr)
{
  PetscInt n = p->rank == 0 && *ierr ? raw->nwanted : 0;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Bcast(&n, 1, MPIU_INT, 0, p->comm));
  if (!n) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(RawName(p, raw, n, raw->wanted));
  if (p->rank) PetscFunctionReturn(PETSC_SUCCESS);
  raw->nwanted = 0;
  PetscCall(PetscFree(raw->final_of)); /* what the first try made */
  p->stats.listed = p->stats.duplicates = p->stats.parents_added = 0;
  HendersonErrorClear();
  *ierr = PedigreeCheckRaw(p, raw);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The file read by every rank a byte range, its IDs numbered and then kept by their owner ranks (the default
   from 2 ranks: 10^7 animals on 2 ranks end to end 35 s against 36, the largest rank's peak 2.14 GB against
   2.27, when rank 0 needs no table of the IDs), or by rank 0 alone; rank 0 then checks and orders the lines
   (4 integers a line, no label). */
static PetscErrorCode PedigreeLoadFile(Pedigree p)
{
  RawPedigree    raw         = {0};
  PetscInt       nraw        = 0;
  PetscBool      distributed = (PetscBool)(p->read_mode == 2 || (p->read_mode == 0 && p->size >= 2)), named;
  PetscErrorCode ierr        = PETSC_SUCCESS;
  double         t[3];

  PetscFunctionBeginUser;
  t[0] = HendersonSeconds();
  if (distributed)
    ierr = PedigreeReadDistributed(p, &raw, &nraw); /* an error there is every rank's */
  else if (p->rank == 0)
    ierr = PedigreeReadRoot(p, &raw);
  t[1]  = HendersonSeconds();
  named = (PetscBool)(distributed && !ierr && LabelsInDirectory(p)); /* rank 0 has no table of the IDs */
  if (named && p->header == MODEL_PEDIGREE_HEADER_AUTO) ierr = RawNameFirstLine(p, &raw);
  if (!ierr && p->rank == 0) ierr = PedigreeCheckRaw(p, &raw);
  if (named) PetscCall(RawRecheck(p, &raw, &ierr));
  ierr = HendersonAgree(p->comm, ierr);
  if (!ierr && p->directory) ierr = RawRenumber(p, &raw, nraw);
  t[2] = HendersonSeconds();
  PetscCall(PedigreeRawDestroy(&raw)); /* what the file said is freed whatever happened */
  PetscCall(ierr);
  PetscCall(
      PetscInfo(NULL, "pedigree %s: read %.3f s (%s), checked and ordered %.3f s\n", p->path, t[1] - t[0], distributed ? "every rank" : "rank 0", t[2] - t[1]));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeLoad(Pedigree p, const char path[])
{
  PetscFunctionBeginUser;
  if (!path) { /* no file: the animals are the founders added (GBLUP: the genotyped) */
    p->path[0] = 0;
    if (p->rank == 0) {
      PetscCall(LabelTableCreate(&p->labels));
      PetscCall(PedigreeReserve(p, 1));
    }
    p->unused_group = -1;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscStrncpy(p->path, path, sizeof(p->path)));
  PetscCall(PedigreeLoadFile(p));
  PetscCallMPI(MPI_Bcast(&p->unused_group, 1, MPIU_INT, 0, p->comm));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetLabels(Pedigree p, LabelTable *labels)
{
  PetscFunctionBeginUser;
  PetscCheck(p->rank || p->labels || LabelsInDirectory(p), PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE,
             "the animals' IDs were freed on rank 0 (PedigreeFreeLabels()): use PedigreeGetLocalLabels()");
  *labels = p->labels;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeFindLabels(Pedigree p, PetscInt n, const char *const label[], PetscInt index[])
{
  PetscFunctionBeginUser;
  if (LabelsInDirectory(p))
    PetscCall(LabelDirectoryFind(p->directory, n, label, index));
  else if (n) {
    size_t *length;
    PetscCheck(p->rank == 0 && p->labels, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "the animals' IDs are looked up on rank 0, before PedigreeFreeLabels()");
    PetscCall(PetscMalloc1(n, &length));
    for (PetscInt k = 0; k < n; k++) length[k] = strlen(label[k]);
    PetscCall(LabelTableFindMany(p->labels, n, label, length, index));
    PetscCall(PetscFree(length));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetDirectory(Pedigree p, LabelDirectory *directory)
{
  PetscFunctionBeginUser;
  *directory = p->directory;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective: the founders' IDs go to the directory when it holds them for rank 0 (the table otherwise). */
PetscErrorCode PedigreeAddFounders(Pedigree p, LabelTable founders)
{
  PetscInt     n = 0, first = p->n;
  const char **label = NULL;
  PetscInt    *index = NULL;

  PetscFunctionBeginUser;
  PetscCheck(!p->setup, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "founders must be added before PedigreeSetUp()");
  if (p->rank == 0 && founders) PetscCall(LabelTableGetSize(founders, &n));
  if (n) PetscCall(PedigreeReserve(p, p->n + n));
  PetscCall(PetscMalloc2(n + 1, &label, n + 1, &index));
  for (PetscInt k = 0; k < n; k++) {
    PetscCall(LabelTableGetLabel(founders, k, &label[k]));
    index[k] = first + k;
    if (p->labels) {
      PetscInt  at;
      PetscBool inserted;
      PetscCall(LabelTableInsert(p->labels, label[k], strlen(label[k]), &at, &inserted));
      PetscCheck(inserted && at == p->n, PETSC_COMM_SELF, PETSC_ERR_PLIB, "founder %s is already in the pedigree", label[k]);
    }
    p->sire[p->n] = p->dam[p->n] = -1;
    p->line[p->n]                = 0;
    p->n++;
  }
  p->stats.data_added += n;
  if (LabelsInDirectory(p)) PetscCall(LabelDirectoryAdd(p->directory, n, label, index));
  PetscCall(PetscFree2(label, index));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetStats(Pedigree p, PedigreeStats *stats)
{
  PetscFunctionBeginUser;
  *stats = p->stats;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetArrays(Pedigree p, const PetscInt **sire, const PetscInt **dam, const PetscReal **inbreeding, const PetscReal **alpha)
{
  PetscFunctionBeginUser;
  PetscCheck(p->rank == 0, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "the whole pedigree is on rank 0");
  if (sire) *sire = p->sire;
  if (dam) *dam = p->dam;
  if (inbreeding) *inbreeding = p->inbreeding;
  if (alpha) *alpha = p->alpha;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetAncestry(Pedigree p, const uint64_t **ancestry)
{
  PetscFunctionBeginUser;
  PetscCheck(p->rank == 0, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "the whole pedigree is on rank 0");
  *ancestry = p->ancestry;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreePermute(Pedigree p, const PetscInt position[])
{
  PetscInt    n = p->stats.animals, *order, *sire, *dam;
  PetscInt64 *line;
  PetscReal  *inbreeding, *alpha;
  uint64_t   *ancestry;

  PetscFunctionBeginUser;
  PetscCheck(p->setup && !p->local_sire, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "permute after PedigreeSetUp() and before PedigreeDistribute()");
  if (LabelsInDirectory(p)) PetscCall(LabelDirectoryRenumber(p->directory, n, position));
  if (p->rank) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PetscMalloc1(n + 1, &order));
  for (PetscInt k = 0; k < n; k++) order[k] = -1;
  for (PetscInt i = 0; i < n; i++) {
    PetscCheck(position[i] >= 0 && position[i] < n && order[position[i]] < 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "not a permutation of the animals");
    order[position[i]] = i;
  }
  PetscCall(PetscMalloc3(n + 1, &sire, n + 1, &dam, n + 1, &line));
  PetscCall(PetscMalloc2(n + 1, &inbreeding, n + 1, &alpha));
  PetscCall(PetscMalloc1(n + 1, &ancestry));
  for (PetscInt k = 0; k < n; k++) {
    PetscInt old  = order[k];
    ancestry[k]   = p->ancestry[order[k]];
    sire[k]       = p->sire[old] >= 0 ? position[p->sire[old]] : p->sire[old]; /* unknown (-1) and groups (-2-g) keep their codes */
    dam[k]        = p->dam[old] >= 0 ? position[p->dam[old]] : p->dam[old];
    line[k]       = p->line[old];
    inbreeding[k] = p->inbreeding[old];
    alpha[k]      = p->alpha[old];
  }
  PetscCall(PetscArraycpy(p->sire, sire, n));
  PetscCall(PetscArraycpy(p->dam, dam, n));
  PetscCall(PetscArraycpy(p->line, line, n));
  PetscCall(PetscArraycpy(p->inbreeding, inbreeding, n));
  PetscCall(PetscArraycpy(p->alpha, alpha, n));
  PetscCall(PetscArraycpy(p->ancestry, ancestry, n));
  PetscCall(PetscFree(ancestry));
  PetscCall(PetscFree3(sire, dam, line));
  PetscCall(PetscFree2(inbreeding, alpha));
  if (p->labels) PetscCall(LabelTablePermute(p->labels, n, order));
  PetscCall(PetscFree(order));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0: the labels of animals LO..HI-1 packed one after another, each with its NUL, into PACKED (NULL:
   only counted); *BYTES their size. */
static PetscErrorCode PackLabels(LabelTable labels, PetscInt lo, PetscInt hi, char *packed, size_t *bytes)
{
  PetscFunctionBeginUser;
  *bytes = 0;
  for (PetscInt i = lo; i < hi; i++) {
    const char *label;
    size_t      n;
    PetscCall(LabelTableGetLabel(labels, i, &label));
    n = strlen(label) + 1;
    if (packed) memcpy(packed + *bytes, label, n);
    *bytes += n;
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

#define PEDIGREE_LABEL_CHUNK (1 << 20) /* animals' IDs a message: rank 0 holds one chunk beside its table */

/* Collective. Every rank gets the IDs of its own animals, RANGES[r] .. RANGES[r+1]-1, as a list (the output
   reads them by index). Rank 0 sends each rank its size, then its IDs in chunks, so that beside its table it
   holds its own share and one chunk, not a copy of them all. */
static PetscErrorCode PedigreeDistributeLabels(Pedigree p, const PetscInt ranges[])
{
  char      *pool  = NULL;
  PetscInt64 bytes = 0;

  PetscFunctionBeginUser;
  PetscCall(LabelTableDestroy(&p->local_labels));
  if (p->rank == 0) {
    char    *chunk;
    size_t   longest;
    PetscInt per;
    PetscCall(LabelTableGetMaxLength(p->labels, &longest));
    per = (PetscInt)PetscMin((size_t)PEDIGREE_LABEL_CHUNK, ((size_t)1 << 30) / (longest + 1)); /* a message well inside MPI's int counts */
    PetscCall(PetscMalloc1((size_t)per * (longest + 1), &chunk));
    for (PetscMPIInt r = 1; r < p->size; r++) {
      size_t n;
      PetscCall(PackLabels(p->labels, ranges[r], ranges[r + 1], NULL, &n));
      bytes = (PetscInt64)n;
      PetscCallMPI(MPI_Send(&bytes, 1, MPIU_INT64, r, 0, p->comm));
      for (PetscInt lo = ranges[r]; lo < ranges[r + 1]; lo += per) {
        PetscCall(PackLabels(p->labels, lo, PetscMin(lo + per, ranges[r + 1]), chunk, &n));
        PetscCallMPI(MPI_Send(chunk, (PetscMPIInt)n, MPI_CHAR, r, 0, p->comm));
      }
    }
    PetscCall(PetscFree(chunk));
    PetscFunctionReturn(PETSC_SUCCESS); /* rank 0's own share: from its table when asked for (RootOwnLabels()) */
  } else {
    PetscCallMPI(MPI_Recv(&bytes, 1, MPIU_INT64, 0, 0, p->comm, MPI_STATUS_IGNORE));
    PetscCall(PetscMalloc1((size_t)bytes + 1, &pool));
    for (PetscInt64 at = 0; at < bytes;) {
      MPI_Status  status;
      PetscMPIInt n;
      PetscCallMPI(MPI_Recv(pool + at, (PetscMPIInt)PetscMin(bytes - at, (PetscInt64)PETSC_MPI_INT_MAX), MPI_CHAR, 0, 0, p->comm, &status));
      PetscCallMPI(MPI_Get_count(&status, MPI_CHAR, &n));
      at += n;
    }
  }
  PetscCall(LabelTableCreateFromPool(p->local_n, pool, (size_t)bytes, NULL, &p->local_labels));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Collective. The IDs of a distributed pedigree moved to new RANGES (again distributed, rank 0's table
   gone): each rank sends the part of its list, animals OLD_START.., that each rank's new range holds. */
static PetscErrorCode PedigreeMoveLabels(Pedigree p, PetscInt old_start, const PetscInt ranges[])
{
  LabelTable   old = p->local_labels;
  PetscInt     old_n;
  PetscMPIInt *send_n, *send_at, *recv_n, *recv_at;
  char        *packed, *pool;
  size_t       total = 0;
  PetscCount   nbytes;

  PetscFunctionBeginUser;
  PetscCheck(old, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "the animals' IDs are neither on rank 0 nor distributed");
  PetscCall(LabelTableGetSize(old, &old_n));
  PetscCall(PetscCalloc4(p->size, &send_n, p->size, &send_at, p->size, &recv_n, p->size, &recv_at));
  for (PetscMPIInt r = 0; r < p->size; r++) {
    PetscInt lo = PetscMax(old_start, ranges[r]), hi = PetscMin(old_start + old_n, ranges[r + 1]);
    size_t   n = 0;
    for (PetscInt i = lo; i < hi; i++) {
      const char *label;
      PetscCall(LabelTableGetLabel(old, i - old_start, &label));
      n += strlen(label) + 1;
    }
    send_at[r] = (PetscMPIInt)total;
    send_n[r]  = (PetscMPIInt)n;
    total += n;
    PetscCheck(total <= (size_t)PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "%zu bytes of animal IDs exceed MPI's int counts", total);
  }
  PetscCall(PetscMalloc1(total + 1, &packed)); /* the list's own order is the ranges' order */
  PetscCall(PackLabels(old, 0, old_n, packed, &total));
  PetscCall(HendersonExchange(p->comm, MPI_CHAR, 1, send_n, send_at, packed, recv_n, recv_at, (void **)&pool, &nbytes, "bytes of animal IDs"));
  PetscCall(PetscFree(packed));
  PetscCall(PetscFree4(send_n, send_at, recv_n, recv_at));
  PetscCall(LabelTableDestroy(&p->local_labels));
  PetscCall(LabelTableCreateFromPool(p->local_n, pool, (size_t)nbytes, NULL, &p->local_labels));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Rank 0, once the pedigree is distributed: its own animals' IDs copied out of its table as a list (late, so
   that PedigreeFreeLabels() can first free the table's look-up index and make room for the copy). */
static PetscErrorCode RootOwnLabels(Pedigree p)
{
  char  *pool;
  size_t n;

  PetscFunctionBeginUser;
  if (p->rank || p->local_labels || !p->labels || !p->local_sire) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCall(PackLabels(p->labels, p->local_start, p->local_start + p->local_n, NULL, &n));
  PetscCall(PetscMalloc1(n + 1, &pool));
  PetscCall(PackLabels(p->labels, p->local_start, p->local_start + p->local_n, pool, &n));
  PetscCall(LabelTableCreateFromPool(p->local_n, pool, n, NULL, &p->local_labels));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetLocalLabels(Pedigree p, LabelTable *labels)
{
  PetscFunctionBeginUser;
  PetscCall(RootOwnLabels(p));
  *labels = p->local_labels;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeSetRootLabels(Pedigree p, PetscBool root)
{
  PetscFunctionBeginUser;
  p->root_labels = root;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeSetReleaseLabels(Pedigree p, PetscBool release)
{
  PetscFunctionBeginUser;
  p->release_labels = release;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeFreeLabels(Pedigree p)
{
  PetscFunctionBeginUser;
  if (p->local_sire && LabelsInDirectory(p)) PetscCall(LabelDirectoryDestroy(&p->directory)); /* (every rank) */
  if (!p->local_sire || !p->labels) PetscFunctionReturn(PETSC_SUCCESS);                       /* not before every rank has its own IDs */
  PetscCall(LabelTableDropIndex(p->labels));                                                  /* about 40 bytes an ID: room for rank 0's own copy */
  PetscCall(HendersonReleaseFreeMemory());                                                    /* (the C library would keep it resident) */
  PetscCall(RootOwnLabels(p));
  PetscCall(LabelTableDestroy(&p->labels));
  PetscCall(HendersonReleaseFreeMemory());
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeDistribute(Pedigree p, const PetscInt ranges[])
{
  PetscMPIInt *counts = NULL, *displs = NULL, mine;
  PetscInt     old_start;
  PetscBool    table = (PetscBool)(p->labels != NULL), owners = LabelsInDirectory(p);

  PetscFunctionBeginUser;
  PetscCheck(p->setup, p->comm, PETSC_ERR_ARG_WRONGSTATE, "call PedigreeSetUp() first");
  PetscCheck(ranges[p->size] == p->stats.animals, p->comm, PETSC_ERR_ARG_SIZ, "ranges cover %" PetscInt_FMT " animals, the pedigree has %" PetscInt_FMT,
             ranges[p->size], p->stats.animals);
  /* rank 0 scatters the animals with MPI's int counts and displacements */
  PetscCheck(p->stats.animals <= PETSC_MPI_INT_MAX, p->comm, PETSC_ERR_SUP,
             "%" PetscInt_FMT " animals: the pedigree is distributed from rank 0 with MPI int counts (at most %d)", p->stats.animals, PETSC_MPI_INT_MAX);
  if (owners) { /* rank 0 never had the IDs: from their owners, first, so that the directory may go before the
                   arrays below are made */
    PetscCall(LabelTableDestroy(&p->local_labels));
    PetscCall(LabelDirectoryScatter(p->directory, ranges, &p->local_labels));
    if (p->release_labels) PetscCall(LabelDirectoryDestroy(&p->directory));
    PetscCall(HendersonReleaseFreeMemory());
  }
  PetscCall(PetscFree4(p->local_sire, p->local_dam, p->local_alpha, p->local_inbreeding));
  PetscCall(PetscFree(p->local_line));
  old_start      = p->local_start;
  p->local_start = ranges[p->rank];
  p->local_n     = ranges[p->rank + 1] - ranges[p->rank];
  mine           = (PetscMPIInt)p->local_n;
  PetscCall(PetscMalloc4(p->local_n + 1, &p->local_sire, p->local_n + 1, &p->local_dam, p->local_n + 1, &p->local_alpha, p->local_n + 1, &p->local_inbreeding));
  if (p->rank == 0) {
    PetscCall(PetscMalloc2(p->size, &counts, p->size, &displs));
    for (PetscMPIInt r = 0; r < p->size; r++) {
      counts[r] = (PetscMPIInt)(ranges[r + 1] - ranges[r]);
      displs[r] = (PetscMPIInt)ranges[r];
    }
  }
  PetscCallMPI(MPI_Scatterv(p->sire, counts, displs, MPIU_INT, p->local_sire, mine, MPIU_INT, 0, p->comm));
  PetscCallMPI(MPI_Scatterv(p->dam, counts, displs, MPIU_INT, p->local_dam, mine, MPIU_INT, 0, p->comm));
  PetscCallMPI(MPI_Scatterv(p->alpha, counts, displs, MPIU_REAL, p->local_alpha, mine, MPIU_REAL, 0, p->comm));
  PetscCallMPI(MPI_Scatterv(p->inbreeding, counts, displs, MPIU_REAL, p->local_inbreeding, mine, MPIU_REAL, 0, p->comm));
  PetscCall(PetscMalloc1(p->local_n + 1, &p->local_line));
  PetscCallMPI(MPI_Scatterv(p->line, counts, displs, MPIU_INT64, p->local_line, mine, MPIU_INT64, 0, p->comm));
  PetscCall(PetscFree(p->local_ancestry));
  PetscCall(PetscMalloc1(p->local_n + 1, &p->local_ancestry));
  PetscCallMPI(MPI_Scatterv(p->ancestry, counts, displs, MPI_UINT64_T, p->local_ancestry, mine, MPI_UINT64_T, 0, p->comm));
  if (p->rank == 0) PetscCall(PetscFree2(counts, displs));
  PetscCallMPI(MPI_Bcast(&table, 1, MPIU_BOOL, 0, p->comm));
  if (table)
    PetscCall(PedigreeDistributeLabels(p, ranges));
  else if (!owners)
    PetscCall(PedigreeMoveLabels(p, old_start, ranges)); /* rank 0's table is gone: from the ranks that have them */
  if (p->release_labels) PetscCall(PedigreeFreeLabels(p));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetLocalAncestry(Pedigree p, const uint64_t **ancestry)
{
  PetscFunctionBeginUser;
  *ancestry = p->local_ancestry;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetLocalLines(Pedigree p, const PetscInt64 **line)
{
  PetscFunctionBeginUser;
  *line = p->local_line;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetLocal(Pedigree p, PetscInt *start, PetscInt *n, const PetscInt **sire, const PetscInt **dam, const PetscReal **alpha,
                                const PetscReal **inbreeding)
{
  PetscFunctionBeginUser;
  if (start) *start = p->local_start;
  if (n) *n = p->local_n;
  if (sire) *sire = p->local_sire;
  if (dam) *dam = p->local_dam;
  if (alpha) *alpha = p->local_alpha;
  if (inbreeding) *inbreeding = p->local_inbreeding;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetParentCoefficients(Pedigree p, PetscReal c[2])
{
  PetscFunctionBeginUser;
  c[0] = p->coefficient[0];
  c[1] = p->coefficient[1];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeGetInverseEntries(Pedigree p, PetscCount *n, PetscInt **rows, PetscInt **cols, PetscReal **values)
{
  PetscCount k = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMalloc3(6 * p->local_n + 1, rows, 6 * p->local_n + 1, cols, 6 * p->local_n + 1, values));
  for (PetscInt a = 0; a < p->local_n; a++) {
    PetscInt  i = p->local_start + a, parent[2] = {p->local_sire[a], p->local_dam[a]}, np = 0, index[2];
    PetscReal alpha = p->local_alpha[a], c[2];
    /* animals and groups are parents alike here (QP); alpha counts only the animal parents */
    for (int slot = 0; slot < 2; slot++) {
      if (parent[slot] == -1) continue;
      index[np] = parent[slot] >= 0 ? parent[slot] : p->stats.animals + (-2 - parent[slot]);
      c[np++]   = p->coefficient[slot];
    }
    (*rows)[k]     = i;
    (*cols)[k]     = i;
    (*values)[k++] = alpha;
    for (PetscInt u = 0; u < np; u++) {
      (*rows)[k]     = PetscMin(index[u], i);
      (*cols)[k]     = PetscMax(index[u], i);
      (*values)[k++] = -c[u] * alpha;
      for (PetscInt v = u; v < np; v++) {
        /* an off-diagonal pair is stored once for both triangles -- unless both slots hold the same
           parent (a bull as sire and maternal grandsire): then both products land on the diagonal */
        (*rows)[k]     = PetscMin(index[u], index[v]);
        (*cols)[k]     = PetscMax(index[u], index[v]);
        (*values)[k++] = (u != v && index[u] == index[v] ? 2 : 1) * c[u] * c[v] * alpha;
      }
    }
  }
  *n = k;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeCreateInverse(Pedigree p, Mat *Ainv)
{
  PetscCount n, m = 0;
  PetscInt  *rows, *cols, *ci, *cj;
  PetscReal *values, *cv;

  PetscFunctionBeginUser;
  PetscCall(PedigreeGetInverseEntries(p, &n, &rows, &cols, &values));
  PetscCall(PetscMalloc3(2 * n + 1, &ci, 2 * n + 1, &cj, 2 * n + 1, &cv));
  for (PetscCount k = 0; k < n; k++) {
    ci[m]   = rows[k];
    cj[m]   = cols[k];
    cv[m++] = values[k];
    if (rows[k] != cols[k]) {
      ci[m]   = cols[k];
      cj[m]   = rows[k];
      cv[m++] = values[k];
    }
  }
  PetscCall(PetscFree3(rows, cols, values));
  PetscCall(MatCreate(p->comm, Ainv));
  {
    PetscInt local = p->local_n + (p->rank == p->size - 1 ? p->stats.groups : 0), total = p->stats.animals + p->stats.groups;
    PetscCall(MatSetSizes(*Ainv, local, local, total, total));
  }
  PetscCall(MatSetType(*Ainv, MATAIJ));
  PetscCall(MatSetPreallocationCOO(*Ainv, m, ci, cj));
  PetscCall(MatSetValuesCOO(*Ainv, cv, ADD_VALUES));
  PetscCall(PetscFree3(ci, cj, cv));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The lines of an evaluation's summary (format PETSC_VIEWER_ASCII_INFO). */
static PetscErrorCode PedigreeViewSummary(Pedigree p, PetscViewer viewer)
{
  const PedigreeStats *s = &p->stats;

  PetscFunctionBeginUser;
  PetscCall(PetscViewerASCIIPrintf(viewer,
                                   "  pedigree    %s: %" PetscInt_FMT " animals = %" PetscInt_FMT " listed + %" PetscInt_FMT
                                   " parents not listed + %" PetscInt_FMT " with records only (both added as founders)\n",
                                   p->path, s->animals, s->listed, s->parents_added, s->data_added));
  if (s->header)
    PetscCall(PetscViewerASCIIPrintf(viewer, "              first line '%s' read as a header%s\n", s->header_text,
                                     s->header_automatic ? " (decided from the file; 'noheader' on the pedigree line says otherwise)" : ""));
  PetscCall(PetscViewerASCIIPrintf(
      viewer, "              %" PetscInt_FMT " founders, %" PetscInt_FMT " generations; inbreeding mean %.6f, max %.6f, %" PetscInt_FMT " inbred%s\n",
      s->founders, s->generations, (double)s->mean_inbreeding, (double)s->max_inbreeding, s->inbred,
      s->duplicates ? "; repeated identical lines ignored" : ""));
  if (s->inbreeding_reused)
    PetscCall(PetscViewerASCIIPrintf(
        viewer, "              inbreeding of %" PetscInt_FMT " animals kept from the earlier evaluation (ancestry unchanged), %" PetscInt_FMT " computed\n",
        s->inbreeding_reused, s->animals - s->inbreeding_reused));
  if (s->mendelian_floored)
    PetscCall(PetscViewerASCIIPrintf(viewer,
                                     "              warning: %" PetscInt_FMT
                                     " animals have parents with F near 1: their Mendelian sampling variance is raised to %g"
                                     " (-pedigree_min_mendelian)\n",
                                     s->mendelian_floored, (double)s->min_mendelian));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode PedigreeView(Pedigree p, PetscViewer viewer)
{
  const PedigreeStats *s = &p->stats;
  PetscViewerFormat    format;

  PetscFunctionBeginUser;
  PetscCall(PetscViewerGetFormat(viewer, &format));
  if (format == PETSC_VIEWER_ASCII_INFO) {
    PetscCall(PedigreeViewSummary(p, viewer));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscViewerASCIIPrintf(viewer, "pedigree %s\n", p->path));
  if (s->header)
    PetscCall(PetscViewerASCIIPrintf(viewer, "  header        first line '%s' read as a header%s\n", s->header_text,
                                     s->header_automatic ? " (decided from the file: its fields are words seen nowhere else)" : ""));
  PetscCall(PetscViewerASCIIPrintf(viewer,
                                   "  animals       %" PetscInt_FMT " = %" PetscInt_FMT " listed + %" PetscInt_FMT " parents not listed + %" PetscInt_FMT
                                   " with records only (both added as founders)\n",
                                   s->animals, s->listed, s->parents_added, s->data_added));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  founders      %" PetscInt_FMT ", generations %" PetscInt_FMT "%s\n", s->founders, s->generations,
                                   s->duplicates ? ", repeated lines ignored" : ""));
  PetscCall(PetscViewerASCIIPrintf(viewer, "  inbreeding    mean %.6f, max %.6f, %" PetscInt_FMT " inbred animals%s\n", (double)s->mean_inbreeding,
                                   (double)s->max_inbreeding, s->inbred, p->use_inbreeding ? "" : " (not used in A-inverse)"));
  if (s->groups) PetscCall(PetscViewerASCIIPrintf(viewer, "  groups        %" PetscInt_FMT " unknown-parent groups (QP)\n", s->groups));
  PetscFunctionReturn(PETSC_SUCCESS);
}
