/* Internals shared by the export front end (export.c) and the four format
 * writers (table.c, csvw.c, json.c, xlsx.c): the per-format operations table,
 * the exporter object, and the value parsers every writer relies on.
 * Not installed, not included outside src/export/. */
#ifndef POSTIER_EXPORT_INT_H
#define POSTIER_EXPORT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "export.h"

/* One per format.  export.c validates arguments and each row's typed values
 * before calling row(), so a writer only ever sees well-formed INT, DATE and
 * DATETIME values and a row rejected with ERR_INPUT leaves no trace. */
struct export_ops {
    const char *name;
    /* Sets up x->priv; writes any prologue.  On error x is freed by caller. */
    int (*begin)(struct exporter *x, struct err *e);
    int (*row)(struct exporter *x, const char *const *values, struct err *e);
    /* Writes the epilogue; does not free x. */
    int (*finish)(struct exporter *x, const char *footer, struct err *e);
    /* Releases x->priv (and removes partial output when aborted); NULL-safe
     * on a priv that begin never set. */
    void (*release)(struct exporter *x, int aborted);
};

extern const struct export_ops export_table_ops;
extern const struct export_ops export_csv_ops;
extern const struct export_ops export_json_ops;
extern const struct export_ops export_xlsx_ops;

struct exporter {
    const struct export_ops *ops;
    FILE *fp;                      /* text formats; borrowed */
    char *path;                    /* XLSX; owned copy */
    const struct export_col *cols; /* borrowed */
    size_t ncols;
    char separator; /* resolved: ',' or ';' */
    int bom;
    int neutralise; /* resolved: 1 on, 0 off */
    unsigned width; /* table: the line width to fit, 0 = cut cells at 40 */
    int wide;       /* table: never cut */
    int failed;     /* sticky I/O error code, 0 if none */
    void *priv;     /* the writer's own state */
};

/* A broken-down DATE or DATETIME value.  Offsets are parsed but not applied:
 * spreadsheets have no time zones, so cells show the wall-clock time as
 * written (pandas/openpyxl make the same choice for naive datetimes). */
struct export_tm {
    int year, month, day, hour, min;
    double sec;
};

/* Strict "YYYY-MM-DD" (via date_check), returns 0 or -1. */
int export_parse_date(const char *v, struct export_tm *tm);
/* "YYYY-MM-DD[T ]HH:MM:SS[.f…][Z|±hh:mm]", returns 0 or -1. */
int export_parse_datetime(const char *v, struct export_tm *tm);
/* Optional '-', then decimal digits that fit an int64; returns 0 or -1. */
int export_parse_int(const char *v, int64_t *out);

/* Decodes one UTF-8 sequence at s (n bytes available).  Returns its length
 * and sets *cp, or 0 for an invalid, overlong, surrogate or truncated one. */
size_t export_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);
/* Non-zero when s is entirely valid UTF-8. */
int export_utf8_valid(const char *s);
/* Terminal columns a code point takes: 0 for combining marks (U+0300–U+036F,
 * so NFD accents do not skew alignment), 1 otherwise.  East Asian wide
 * characters are not handled: postier's data is Latin script. */
int export_cp_width(uint32_t cp);
/* Sum of export_cp_width over s; an invalid byte counts as one column. */
size_t export_utf8_width(const char *s);

/* fwrite to x->fp; on failure records ERR_IO in x->failed and e. */
int export_fwrite(struct exporter *x, const void *p, size_t n, struct err *e);
/* fflush x->fp and check its error flag: the last chance to see ENOSPC. */
int export_fflush(struct exporter *x, struct err *e);

#endif
