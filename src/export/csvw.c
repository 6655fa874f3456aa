/* CSV writer, RFC 4180: header row, CRLF line ends, quoting only where
 * needed, optional UTF-8 BOM and ';' separator for Excel in French locales,
 * and formula-injection neutralisation.  Streams row by row: each line is
 * built in one reused buffer and handed to stdio; nothing else is kept.
 * Bytes pass through unchanged: values are expected to be UTF-8 already. */
#include "export-int.h"

#include "util/buf.h"
#include "util/xalloc.h"

struct csvw {
    struct buf line; /* the row being built, reused */
};

/* Leading or trailing blanks are significant in RFC 4180 but many readers
 * (Excel among them, for unquoted cells) trim them: quoting keeps them. */
static int needs_quotes(const char *v, size_t n, char sep)
{
    const char *p;

    if (n == 0)
        return 0;
    if (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t')
        return 1;
    /* RFC 4180 §2.6: fields containing line breaks, double quotes or the
     * separator must be enclosed in double quotes. */
    for (p = v; *p; p++) {
        if (*p == sep || *p == '"' || *p == '\r' || *p == '\n')
            return 1;
    }
    return 0;
}

/* Appends one cell.  Neutralisation is applied to every text cell, as OWASP
 * recommends: a cell starting with = + - @ TAB or CR gets a leading ' so a
 * spreadsheet shows it as text instead of evaluating it.  This also turns a
 * phone number such as "+33612345678" into "'+33612345678"; we accept that
 * (it is what OWASP prescribes, and a rule with exceptions is one attackers
 * can probe).  INT cells are exempt: export.c has checked they are only an
 * optional '-' and digits, so "-5" cannot be a formula. */
static void add_cell(struct exporter *x, struct buf *b, const char *v, int is_int)
{
    size_t n = v ? strlen(v) : 0;
    int quote = needs_quotes(v, n, x->separator);
    const char *q;

    if (n == 0)
        return;
    if (quote)
        buf_addc(b, '"');
    if (x->neutralise && !is_int && export_csv_dangerous(v))
        buf_addc(b, '\'');
    /* RFC 4180 §2.7: a double quote inside a quoted field is doubled. */
    while ((q = strchr(v, '"')) != NULL) {
        buf_add(b, v, (size_t)(q - v) + 1);
        buf_addc(b, '"');
        v = q + 1;
    }
    buf_adds(b, v);
    if (quote)
        buf_addc(b, '"');
}

/* Builds and writes one record; header is non-zero for the column names. */
static int write_record(struct exporter *x, const char *const *values, int header, struct err *e)
{
    struct csvw *w = x->priv;
    size_t i;

    buf_reset(&w->line);
    for (i = 0; i < x->ncols; i++) {
        if (i > 0)
            buf_addc(&w->line, x->separator);
        add_cell(x, &w->line, values[i], !header && x->cols[i].type == EXPORT_INT);
    }
    /* RFC 4180 §2.1: each record ends with CRLF. */
    buf_add(&w->line, "\r\n", 2);
    if (w->line.err)
        return err_set(e, ERR_TOOBIG, "CSV row longer than %zu bytes", w->line.cap);
    return export_fwrite(x, w->line.data, w->line.len, e);
}

static int csv_begin(struct exporter *x, struct err *e)
{
    struct csvw *w = xcalloc(1, sizeof(*w));
    const char **names;
    size_t i;
    int rc = 0;

    buf_init(&w->line, 0);
    x->priv = w;
    /* The BOM is what makes Excel read the file as UTF-8 rather than the
     * ANSI code page. */
    if (x->bom)
        rc = export_fwrite(x, "\xEF\xBB\xBF", 3, e);
    if (rc)
        return rc;
    /* RFC 4180 §2.3: the optional header line, same format as records. */
    names = xcalloc(x->ncols, sizeof(*names));
    for (i = 0; i < x->ncols; i++)
        names[i] = x->cols[i].name;
    rc = write_record(x, names, 1, e);
    free(names);
    return rc;
}

static int csv_row(struct exporter *x, const char *const *values, struct err *e)
{
    return write_record(x, values, 0, e);
}

static int csv_finish(struct exporter *x, const char *footer, struct err *e)
{
    (void)footer;
    return export_fflush(x, e);
}

static void csv_release(struct exporter *x, int aborted)
{
    struct csvw *w = x->priv;

    (void)aborted;
    if (!w)
        return;
    buf_release(&w->line);
    free(w);
    x->priv = NULL;
}

const struct export_ops export_csv_ops = {
    .name = "csv",
    .begin = csv_begin,
    .row = csv_row,
    .finish = csv_finish,
    .release = csv_release,
};
