/* henderson/reader.h -- parallel line reading of text files.

   Each rank of the communicator takes one byte range of the file and reads the lines that start
   inside it, so no rank holds the whole file. Line numbers are the physical line numbers of the
   file (1-based), known on every rank from the start: opening the reader counts the newlines of
   each range and adds them up with MPI_Exscan.

   Fields are separated by blanks (spaces, tabs) or by a comma with optional blanks around it;
   two commas in a row enclose an empty field. A field may be wrapped in double quotes (which
   are removed). Handled on the way in: a UTF-8 byte order mark, CRLF line ends, a last line
   without a newline. Blank lines and lines whose first non-blank character is '#' are skipped
   (and counted). */
#ifndef HENDERSON_READER_H
#define HENDERSON_READER_H

#include <henderson/sys.h>

typedef struct _p_Reader *Reader;

/* Collective. Opens PATH for reading by the ranks of COMM. With HEADER, the first line (comments
   not allowed before it) is read by rank 0, split into column names and shared with every rank;
   the byte ranges then cover what follows it. A missing or unreadable file is an error on every rank. */
PETSC_EXTERN PetscErrorCode ReaderOpen(MPI_Comm comm, const char path[], PetscBool header, Reader *reader);
/* Not collective. The column names of the header (NULL, 0 without one). */
PETSC_EXTERN PetscErrorCode ReaderGetHeader(Reader reader, PetscInt *ncolumns, const char *const **names);
/* Not collective. Lines of up to MAXFIELDS fields are split in full (wide files: genotypes). */
PETSC_EXTERN PetscErrorCode ReaderSetMaxFields(Reader reader, PetscInt maxfields);
/* Not collective. Moves to this rank's next data line and splits it; *done when the range is used up. */
PETSC_EXTERN PetscErrorCode ReaderNextLine(Reader reader, PetscBool *done);
/* Not collective. The fields of the current line (valid until the next ReaderNextLine()). */
PETSC_EXTERN PetscErrorCode ReaderGetFields(Reader reader, PetscInt *nfields, char *const **fields);
/* Not collective. The line number of the current line, and the path as given to ReaderOpen(). */
PETSC_EXTERN PetscErrorCode ReaderGetLine(Reader reader, PetscInt64 *line);
PETSC_EXTERN const char    *ReaderPath(Reader reader);
/* Not collective. Number of lines (of any kind) in this rank's range, and its first line number. */
PETSC_EXTERN PetscErrorCode ReaderGetRange(Reader reader, PetscInt64 *first_line, PetscInt64 *nlines);
/* Not collective (each rank closes its own handle). */
PETSC_EXTERN PetscErrorCode ReaderClose(Reader *reader);

/* Not collective. Splits LINE in place into at most MAXFIELDS fields (the rules above); *nfields may
   exceed MAXFIELDS, in which case only the first MAXFIELDS are stored. Exposed for the model file. */
PETSC_EXTERN PetscErrorCode ReaderSplit(char line[], PetscInt maxfields, char *fields[], PetscInt *nfields);

#endif
