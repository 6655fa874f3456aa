/* Reading delimited text files (the only libcsv user): detects the
 * encoding (UTF-8 with or without BOM, else Windows-1252, converted to
 * UTF-8) and the separator (';' or ',' or tab, from the header line),
 * handles RFC 4180 quoting with separators, quotes and newlines inside
 * fields, CRLF or LF, and reports each row with the line it starts on. */
#ifndef POSTIER_CSVREAD_H
#define POSTIER_CSVREAD_H

#include <stddef.h>

#include "util/err.h"

struct csvr;

/* One row: fields are NUL-terminated UTF-8, borrowed from the reader and
 * valid until the next csvr_next() or csvr_free(). */
struct csvr_row {
    size_t nfields;
    char **fields;
    long line; /* 1-based line of the file on which this row starts */
};

enum csvr_encoding { CSVR_UTF8, CSVR_UTF8_BOM, CSVR_CP1252 };

/* Opens path, detects encoding and separator, and reads the header row.
 * On success *out owns the open file.  Errors: ERR_IO (cannot open/read,
 * message names the file), ERR_INPUT (empty file, no header).  Rows larger
 * than 1 MiB are ERR_TOOBIG from csvr_next. */
int csvr_open(const char *path, struct csvr **out, struct err *e);

/* The same, reading from an in-memory string (for tests); name is used in
 * messages.  The data is copied. */
int csvr_open_mem(const char *name, const char *data, size_t len, struct csvr **out,
                  struct err *e);

/* The header row (borrowed; valid until csvr_free); header fields trimmed. */
const struct csvr_row *csvr_header(const struct csvr *r);
/* The detected separator and encoding, and the file name given to open. */
char csvr_separator(const struct csvr *r);
enum csvr_encoding csvr_encoding(const struct csvr *r);
const char *csvr_name(const struct csvr *r);

/* Reads the next data row into *row.  Returns 1 with a row, 0 at end of file,
 * or a negative ERR_* (ERR_INPUT for malformed quoting, naming file and line).
 * Blank lines are skipped. */
int csvr_next(struct csvr *r, const struct csvr_row **row, struct err *e);

/* Closes the file and frees everything; NULL-safe. */
void csvr_free(struct csvr *r);

#endif
