/* Aligned text table for a terminal: header, rule, rows, optional footer.
 * Rows are buffered until export_finish because column widths depend on
 * every row (a listing page is a few hundred rows; the buffer is capped).
 * Cells are sanitised for display: control characters become spaces so a
 * value cannot break the layout or send escape sequences to the terminal. */
#include "export-int.h"

#include "util/buf.h"
#include "util/xalloc.h"

#define TABLE_MAXW 40                /* widest cell, in columns */
#define TABLE_CAP ((size_t)32 << 20) /* buffered cells, bytes */
#define TABLE_GAP "  "

struct table {
    struct buf cells; /* header then rows, each cell NUL-terminated */
    size_t nrows;     /* data rows, header excluded */
    size_t *width;    /* per column, in terminal columns */
};

/* Appends the display form of one code point (or bad byte) and returns its
 * width.  C0, DEL and C1 controls (TAB, CR, LF, ESC…) become a space;
 * invalid UTF-8 becomes '?'. */
static size_t add_char(struct buf *b, const unsigned char *s, size_t n, size_t *used)
{
    uint32_t cp;
    size_t len = export_utf8_next(s, n, &cp);

    if (len == 0) {
        *used = 1;
        buf_addc(b, '?');
        return 1;
    }
    *used = len;
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
        buf_addc(b, ' ');
        return 1;
    }
    buf_add(b, s, len);
    return (size_t)export_cp_width(cp);
}

/* Appends v, sanitised and cut to TABLE_MAXW columns ("…" marking the cut),
 * plus its NUL; returns its width. */
static size_t add_cell(struct buf *b, const char *v)
{
    const unsigned char *s = (const unsigned char *)(v ? v : "");
    size_t n = strlen((const char *)s), i = 0, w = 0, used;
    size_t cut = b->len; /* end of the part kept if the cell is too wide */

    while (i < n && w <= TABLE_MAXW) {
        w += add_char(b, s + i, n - i, &used);
        i += used;
        /* Zero-width marks after the last kept character stay with it. */
        if (w <= TABLE_MAXW - 1)
            cut = b->len;
    }
    if (w > TABLE_MAXW && !b->err) {
        b->len = cut;
        b->data[cut] = '\0';
        buf_adds(b, "…");
        w = TABLE_MAXW;
    }
    buf_add(b, "", 1);
    return w;
}

static int add_row(struct exporter *x, const char *const *values, struct err *e)
{
    struct table *t = x->priv;
    size_t i, w;

    for (i = 0; i < x->ncols; i++) {
        w = add_cell(&t->cells, values[i]);
        if (w > t->width[i])
            t->width[i] = w;
    }
    if (t->cells.err) {
        x->failed = ERR_TOOBIG;
        return err_set(e, ERR_TOOBIG, "too many rows for a table: use --format csv or json");
    }
    return 0;
}

static int table_begin(struct exporter *x, struct err *e)
{
    struct table *t = xcalloc(1, sizeof(*t));
    const char **names;
    size_t i;
    int rc;

    buf_init(&t->cells, TABLE_CAP);
    t->width = xcalloc(x->ncols, sizeof(*t->width));
    x->priv = t;
    names = xcalloc(x->ncols, sizeof(*names));
    for (i = 0; i < x->ncols; i++)
        names[i] = x->cols[i].name;
    rc = add_row(x, names, e);
    free(names);
    return rc;
}

static int table_row(struct exporter *x, const char *const *values, struct err *e)
{
    struct table *t = x->priv;
    int rc = add_row(x, values, e);

    if (rc == 0)
        t->nrows++;
    return rc;
}

static void pad(struct buf *b, size_t n)
{
    while (n--)
        buf_addc(b, ' ');
}

/* Ends a line without trailing blanks (an empty right-aligned last cell
 * or a value ending in spaces would leave some). */
static void end_line(struct buf *line)
{
    while (line->len > 0 && line->data[line->len - 1] == ' ')
        line->data[--line->len] = '\0';
    buf_addc(line, '\n');
}

/* Formats one buffered row into line; returns the cell after it.  Numbers
 * are right-aligned so their digits line up. */
static const char *format_row(struct exporter *x, const char *cell, struct buf *line)
{
    struct table *t = x->priv;
    size_t i, w;

    buf_reset(line);
    for (i = 0; i < x->ncols; i++) {
        w = export_utf8_width(cell);
        if (i > 0)
            buf_adds(line, TABLE_GAP);
        if (x->cols[i].type == EXPORT_INT)
            pad(line, t->width[i] - w);
        buf_adds(line, cell);
        if (x->cols[i].type != EXPORT_INT)
            pad(line, t->width[i] - w);
        cell += strlen(cell) + 1;
    }
    end_line(line);
    return cell;
}

static void format_rule(struct exporter *x, struct buf *line)
{
    struct table *t = x->priv;
    size_t i, j;

    buf_reset(line);
    for (i = 0; i < x->ncols; i++) {
        if (i > 0)
            buf_adds(line, TABLE_GAP);
        for (j = 0; j < t->width[i]; j++)
            buf_addc(line, '-');
    }
    buf_addc(line, '\n');
}

static int table_finish(struct exporter *x, const char *footer, struct err *e)
{
    struct table *t = x->priv;
    struct buf line;
    const char *cell = t->cells.data;
    size_t r;
    int rc;

    buf_init(&line, 0);
    cell = format_row(x, cell, &line);
    rc = export_fwrite(x, line.data, line.len, e);
    format_rule(x, &line);
    if (rc == 0)
        rc = export_fwrite(x, line.data, line.len, e);
    for (r = 0; rc == 0 && r < t->nrows; r++) {
        cell = format_row(x, cell, &line);
        rc = export_fwrite(x, line.data, line.len, e);
    }
    if (rc == 0 && t->nrows == 0)
        rc = export_fwrite(x, "(no rows)\n", 10, e);
    if (rc == 0 && footer) {
        buf_reset(&line);
        buf_printf(&line, "%s\n", footer);
        rc = export_fwrite(x, line.data, line.len, e);
    }
    if (rc == 0)
        rc = export_fflush(x, e);
    buf_release(&line);
    return rc;
}

static void table_release(struct exporter *x, int aborted)
{
    struct table *t = x->priv;

    (void)aborted;
    if (!t)
        return;
    buf_release(&t->cells);
    free(t->width);
    free(t);
    x->priv = NULL;
}

const struct export_ops export_table_ops = {
    .name = "table",
    .begin = table_begin,
    .row = table_row,
    .finish = table_finish,
    .release = table_release,
};
