/* Tabular output in every format postier writes: an aligned text table
 * (paginated listings), CSV (RFC 4180, optional BOM and ';'), JSON (one array
 * of objects, keys = column names) and XLSX.  The only jansson and
 * libxlsxwriter user.  Callers describe the columns once, then push rows of
 * strings; the writer formats values by column type. */
#ifndef POSTIER_EXPORT_H
#define POSTIER_EXPORT_H

#include <stdio.h>

#include "util/err.h"

enum export_format { EXPORT_TABLE, EXPORT_CSV, EXPORT_JSON, EXPORT_XLSX };

enum export_type {
    EXPORT_TEXT,     /* string; JSON string, XLSX string cell */
    EXPORT_INT,      /* decimal integer; JSON number, XLSX number cell */
    EXPORT_DATE,     /* YYYY-MM-DD; XLSX real date cell (dd/mm/yyyy format) */
    EXPORT_DATETIME, /* ISO 8601 timestamp; XLSX real date-time cell */
};

struct export_col {
    const char *name;      /* header / JSON key */
    enum export_type type;
};

struct export_opts {
    char separator; /* CSV only: ',' (default when 0) or ';' */
    int bom;        /* CSV only: write a UTF-8 BOM first (for Excel) */
    int neutralise; /* CSV only: defuse cells starting with = + - @ TAB CR
                     * by prefixing a quote ' (default on: set -1 to disable) */
    unsigned width; /* table only: fit lines to this many columns, cutting
                     * the widest text columns with "…" (0: each cell is
                     * cut at 40 columns, whatever the line's width) */
    int wide;       /* table only: never cut a cell */
};

struct exporter;

/* Parses "table" | "csv" | "json" | "xlsx"; returns 0 or ERR_INPUT. */
int export_format_parse(const char *s, enum export_format *out, struct err *e);

/* Starts an export.  Text formats write to fp (borrowed, not closed);
 * XLSX needs a path (fp ignored, path required, the file is only complete
 * after export_finish).  cols is borrowed and must outlive the exporter.
 * Errors: ERR_IO (cannot create path), ERR_INPUT (XLSX without a path). */
int export_begin(enum export_format fmt, FILE *fp, const char *path,
                 const struct export_col *cols, size_t ncols,
                 const struct export_opts *opts, struct exporter **out, struct err *e);

/* Adds one row of ncols values (NULL or "" = empty cell; JSON null for NULL).
 * Values are copied as needed.  Errors: ERR_IO on write failure,
 * ERR_INPUT when a DATE/INT value is malformed (message names the column). */
int export_row(struct exporter *x, const char *const *values, struct err *e);

/* Writes whatever is buffered (the table, the closing ']', the XLSX file)
 * and frees x.  Always frees x, even on error.  footer, when not NULL, is a
 * line printed under a table (e.g. "page 1/3, 120 contacts"), ignored by
 * other formats. */
int export_finish(struct exporter *x, const char *footer, struct err *e);

/* Frees x without finishing (an aborted export); NULL-safe. */
void export_abort(struct exporter *x);

/* The CSV cell neutralisation rule on its own: non-zero when v starts with
 * a character spreadsheet software would treat as a formula (= + - @ TAB CR). */
int export_csv_dangerous(const char *v);

#endif
