/* The export front end: format names, argument checks, per-row validation of
 * typed values, and dispatch to the format writer through struct export_ops.
 * Also the helpers the writers share (value parsers, UTF-8, checked stdio).
 * It formats nothing itself: each format lives in its own file. */
#include "export-int.h"

#include <ctype.h>
#include <errno.h>

#include "util/date.h"
#include "util/strv.h"
#include "util/xalloc.h"

/* "%.*s" arguments for at most 40 bytes of v, whole characters only. */
#define SHOW40(v) (int)str_utf8_cut((v), strnlen((v), 40)), (v)

static const struct {
    const char *name;
    enum export_format fmt;
} formats[] = {
    {"table", EXPORT_TABLE},
    {"csv", EXPORT_CSV},
    {"json", EXPORT_JSON},
    {"xlsx", EXPORT_XLSX},
};

int export_format_parse(const char *s, enum export_format *out, struct err *e)
{
    size_t i;

    for (i = 0; s && i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(s, formats[i].name) == 0) {
            *out = formats[i].fmt;
            return 0;
        }
    }
    s = s ? s : "";
    return err_set(e, ERR_INPUT, "unknown format '%.*s' (expected table, csv, json or xlsx)",
                   SHOW40(s));
}

int export_csv_dangerous(const char *v)
{
    /* OWASP "CSV injection": these make Excel, LibreOffice and Google Sheets
     * start a formula (TAB and CR because some importers strip them first). */
    return v && v[0] && strchr("=+-@\t\r", v[0]) != NULL;
}

static const struct export_ops *ops_for(enum export_format fmt)
{
    switch (fmt) {
    case EXPORT_TABLE:
        return &export_table_ops;
    case EXPORT_CSV:
        return &export_csv_ops;
    case EXPORT_JSON:
        return &export_json_ops;
    case EXPORT_XLSX:
        return &export_xlsx_ops;
    }
    return NULL;
}

static int check_args(enum export_format fmt, FILE *fp, const char *path,
                      const struct export_col *cols, size_t ncols, const struct export_opts *opts,
                      struct err *e)
{
    size_t i;

    if (!ops_for(fmt))
        return err_set(e, ERR_INPUT, "unknown export format %d", (int)fmt);
    if (fmt == EXPORT_XLSX && (!path || !*path))
        return err_set(e, ERR_INPUT, "an XLSX export needs an output file");
    if (fmt != EXPORT_XLSX && !fp)
        return err_set(e, ERR_INPUT, "a %s export needs an output stream", ops_for(fmt)->name);
    if (!cols || ncols == 0)
        return err_set(e, ERR_INPUT, "an export needs at least one column");
    for (i = 0; i < ncols; i++) {
        if (!cols[i].name)
            return err_set(e, ERR_INPUT, "export column %zu has no name", i + 1);
    }
    if (opts && opts->separator && opts->separator != ',' && opts->separator != ';')
        return err_set(e, ERR_INPUT, "CSV separator must be ',' or ';'");
    return 0;
}

int export_begin(enum export_format fmt, FILE *fp, const char *path, const struct export_col *cols,
                 size_t ncols, const struct export_opts *opts, struct exporter **out, struct err *e)
{
    struct exporter *x = NULL;
    int rc;

    *out = NULL;
    rc = check_args(fmt, fp, path, cols, ncols, opts, e);
    if (rc)
        goto out;
    x = xcalloc(1, sizeof(*x));
    x->ops = ops_for(fmt);
    x->fp = fp;
    x->path = xstrdup(path);
    x->cols = cols;
    x->ncols = ncols;
    x->separator = opts && opts->separator ? opts->separator : ',';
    x->bom = opts ? opts->bom != 0 : 0;
    x->neutralise = opts ? opts->neutralise != -1 : 1;
    x->width = opts ? opts->width : 0;
    x->wide = opts ? opts->wide : 0;
    rc = x->ops->begin(x, e);
    if (rc)
        goto out;
    *out = x;
    x = NULL;
out:
    export_abort(x);
    return rc;
}

/* Rejects a malformed typed value before anything of the row is written, so
 * every format fails on the same input and a rejected row leaves no trace. */
static int check_value(const struct export_col *c, const char *v, struct err *e)
{
    struct export_tm tm;
    int64_t n;

    if (!v || !*v)
        return 0;
    switch (c->type) {
    case EXPORT_TEXT:
        return 0;
    case EXPORT_INT:
        if (export_parse_int(v, &n) == 0)
            return 0;
        return err_set(e, ERR_INPUT, "column '%s': '%.*s' is not an integer", c->name, SHOW40(v));
    case EXPORT_DATE:
        if (export_parse_date(v, &tm) == 0)
            return 0;
        return err_set(e, ERR_INPUT, "column '%s': '%.*s' is not a date (YYYY-MM-DD)", c->name,
                       SHOW40(v));
    case EXPORT_DATETIME:
        if (export_parse_datetime(v, &tm) == 0)
            return 0;
        return err_set(e, ERR_INPUT,
                       "column '%s': '%.*s' is not a timestamp (YYYY-MM-DDTHH:MM:SS)", c->name,
                       SHOW40(v));
    }
    return err_set(e, ERR_INTERNAL, "column '%s': unknown type %d", c->name, (int)c->type);
}

int export_row(struct exporter *x, const char *const *values, struct err *e)
{
    size_t i;
    int rc;

    if (!x || !values)
        return err_set(e, ERR_INPUT, "export_row: no exporter or no values");
    if (x->failed)
        return err_set(e, x->failed, "export already failed: %s", err_name(x->failed));
    for (i = 0; i < x->ncols; i++) {
        rc = check_value(&x->cols[i], values[i], e);
        if (rc)
            return rc;
    }
    return x->ops->row(x, values, e);
}

int export_finish(struct exporter *x, const char *footer, struct err *e)
{
    int rc;

    if (!x)
        return err_set(e, ERR_INPUT, "export_finish: no exporter");
    if (x->failed)
        rc = err_set(e, x->failed, "export already failed: %s", err_name(x->failed));
    else
        rc = x->ops->finish(x, footer, e);
    x->ops->release(x, rc != 0);
    free(x->path);
    free(x);
    return rc;
}

void export_abort(struct exporter *x)
{
    if (!x)
        return;
    x->ops->release(x, 1);
    free(x->path);
    free(x);
}

/* ---- value parsers ---------------------------------------------------- */

int export_parse_date(const char *v, struct export_tm *tm)
{
    if (date_check(v, NULL) != 0)
        return -1;
    memset(tm, 0, sizeof(*tm));
    tm->year = (v[0] - '0') * 1000 + (v[1] - '0') * 100 + (v[2] - '0') * 10 + (v[3] - '0');
    tm->month = (v[5] - '0') * 10 + (v[6] - '0');
    tm->day = (v[8] - '0') * 10 + (v[9] - '0');
    return 0;
}

/* Two decimal digits at p, at most max; -1 when not. */
static int two_digits(const char *p, int max)
{
    int n;

    if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
        return -1;
    n = (p[0] - '0') * 10 + (p[1] - '0');
    return n <= max ? n : -1;
}

/* Optional ".f…" (1 to 9 digits) then "Z", "±hh:mm" or nothing. */
static int parse_tail(const char *p, double *frac)
{
    double scale = 0.1;
    int digits = 0;

    *frac = 0;
    if (*p == '.') {
        for (p++; isdigit((unsigned char)*p); p++, digits++, scale /= 10)
            *frac += (*p - '0') * scale;
        if (digits == 0 || digits > 9)
            return -1;
    }
    if (*p == 'Z')
        return p[1] ? -1 : 0;
    if (*p == '+' || *p == '-') {
        if (two_digits(p + 1, 23) < 0 || p[3] != ':' || two_digits(p + 4, 59) < 0)
            return -1;
        return p[6] ? -1 : 0;
    }
    return *p ? -1 : 0;
}

int export_parse_datetime(const char *v, struct export_tm *tm)
{
    char date[DATE_LEN + 1];
    const char *t = v + DATE_LEN + 1;
    double frac;

    /* "YYYY-MM-DD?HH:MM:SS" is 19 bytes; checking first keeps t in bounds. */
    if (strnlen(v, 19) < 19 || (v[DATE_LEN] != 'T' && v[DATE_LEN] != ' '))
        return -1;
    memcpy(date, v, DATE_LEN);
    date[DATE_LEN] = '\0';
    if (export_parse_date(date, tm) != 0)
        return -1;
    tm->hour = two_digits(t, 23);
    tm->min = two_digits(t + 3, 59);
    tm->sec = two_digits(t + 6, 59);
    if (tm->hour < 0 || t[2] != ':' || tm->min < 0 || t[5] != ':' || tm->sec < 0)
        return -1;
    if (parse_tail(t + 8, &frac) != 0)
        return -1;
    tm->sec += frac;
    return 0;
}

int export_parse_int(const char *v, int64_t *out)
{
    const char *p = v[0] == '-' ? v + 1 : v;
    char *end;
    long long n;

    /* Checked by hand because strtoll also takes blanks and a '+'. */
    if (!isdigit((unsigned char)*p))
        return -1;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno || *end)
        return -1;
    *out = n;
    return 0;
}

/* ---- UTF-8 ------------------------------------------------------------ */

size_t export_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c, min;
    size_t len, i;

    if (n == 0)
        return 0;
    c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, c &= 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, c &= 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, c &= 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    /* RFC 3629 §3: no overlong forms, no surrogates, nothing past U+10FFFF. */
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

int export_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), len;
    uint32_t cp;

    for (; n; p += len, n -= len) {
        len = export_utf8_next(p, n, &cp);
        if (len == 0)
            return 0;
    }
    return 1;
}

int export_cp_width(uint32_t cp)
{
    return cp >= 0x300 && cp <= 0x36F ? 0 : 1;
}

size_t export_utf8_width(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), len, w = 0;
    uint32_t cp;

    while (n) {
        len = export_utf8_next(p, n, &cp);
        if (len == 0) {
            len = 1;
            w++;
        } else {
            w += (size_t)export_cp_width(cp);
        }
        p += len;
        n -= len;
    }
    return w;
}

/* ---- checked stdio ---------------------------------------------------- */

int export_fwrite(struct exporter *x, const void *p, size_t n, struct err *e)
{
    if (n && fwrite(p, 1, n, x->fp) != n) {
        x->failed = ERR_IO;
        return err_set(e, ERR_IO, "cannot write %s output: %s", x->ops->name, strerror(errno));
    }
    return 0;
}

int export_fflush(struct exporter *x, struct err *e)
{
    if (fflush(x->fp) != 0 || ferror(x->fp)) {
        x->failed = ERR_IO;
        return err_set(e, ERR_IO, "cannot write %s output: %s", x->ops->name, strerror(errno));
    }
    return 0;
}
