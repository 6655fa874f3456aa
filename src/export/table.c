/* Aligned text table for a terminal: header, rule, rows, optional footer.
 * Rows are buffered until export_finish because column widths depend on
 * every row (a listing page is a few hundred rows; the buffer is capped).
 * Cells are sanitised for display: control characters become spaces so a
 * value cannot break the layout or send escape sequences to the terminal.
 * Cells are cut with "…" at format time: at 40 columns each (a pipe), to
 * fit a terminal's width (the widest text columns first), or never (wide). */
#include "export-int.h"

#include "util/buf.h"
#include "util/xalloc.h"

#define TABLE_MAXW 40                /* widest cell, in columns */
#define TABLE_CAP ((size_t)32 << 20) /* buffered cells, bytes */
#define TABLE_GAP "  "
#define TABLE_MINW 8 /* a text column is not cut narrower to fit a terminal */

struct table {
    struct buf cells; /* header then rows, each cell NUL-terminated */
    size_t nrows;     /* data rows, header excluded */
    size_t *width;    /* per column, in terminal columns, uncut */
    size_t *dwidth;   /* per column, the widest data cell (header excluded) */
    size_t *fit;      /* per column, once cut: what is printed (0: hidden) */
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

/* Appends v, sanitised, plus its NUL; returns its width. */
static size_t add_cell(struct buf *b, const char *v)
{
    const unsigned char *s = (const unsigned char *)(v ? v : "");
    size_t n = strlen((const char *)s), i = 0, w = 0, used;

    while (i < n) {
        w += add_char(b, s + i, n - i, &used);
        i += used;
    }
    buf_add(b, "", 1);
    return w;
}

/* Appends cell (width w) to line cut to maxw columns: the characters that
 * fit in maxw - 1 (zero-width marks stay with theirs), then "…".  Cells
 * are valid UTF-8 (add_char), so the cut falls between characters.
 * Returns the width written. */
static size_t put_cut(struct buf *line, const char *cell, size_t w, size_t maxw)
{
    const unsigned char *s = (const unsigned char *)cell;
    size_t n = strlen(cell), i = 0, used, kept = 0;
    uint32_t cp;
    int cw;

    if (w <= maxw) {
        buf_add(line, cell, n);
        return w;
    }
    while (i < n) {
        used = export_utf8_next(s + i, n - i, &cp);
        cw = used ? export_cp_width(cp) : 1;
        if (kept + (size_t)cw > maxw - 1)
            break;
        kept += (size_t)cw;
        i += used ? used : 1;
    }
    buf_add(line, cell, i);
    buf_adds(line, "…");
    return kept + 1;
}

static int add_row(struct exporter *x, const char *const *values, int header, struct err *e)
{
    struct table *t = x->priv;
    size_t i, w;

    for (i = 0; i < x->ncols; i++) {
        w = add_cell(&t->cells, values[i]);
        if (w > t->width[i])
            t->width[i] = w;
        if (!header && w > t->dwidth[i])
            t->dwidth[i] = w;
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
    t->fit = xcalloc(x->ncols, sizeof(*t->fit));
    t->dwidth = xcalloc(x->ncols, sizeof(*t->dwidth));
    x->priv = t;
    names = xcalloc(x->ncols, sizeof(*names));
    for (i = 0; i < x->ncols; i++)
        names[i] = x->cols[i].name;
    rc = add_row(x, names, 1, e);
    free(names);
    return rc;
}

static int table_row(struct exporter *x, const char *const *values, struct err *e)
{
    struct table *t = x->priv;
    int rc = add_row(x, values, 0, e);

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
    size_t i, w, len, shown = 0;

    buf_reset(line);
    for (i = 0; i < x->ncols; cell += len + 1, i++) {
        w = export_utf8_width(cell);
        len = strlen(cell);
        if (!t->fit[i])
            continue;
        if (shown++)
            buf_adds(line, TABLE_GAP);
        if (x->cols[i].type == EXPORT_INT && w < t->fit[i])
            pad(line, t->fit[i] - w);
        w = put_cut(line, cell, w, t->fit[i]);
        if (x->cols[i].type != EXPORT_INT)
            pad(line, t->fit[i] - w);
    }
    end_line(line);
    return cell;
}

/* Narrows the widest column that may still shrink (text only, or any with
 * a header wider than its data) by one, not below its floor; returns 0
 * when none can. */
static int narrow_one(struct exporter *x, int any_type, size_t text_floor)
{
    struct table *t = x->priv;
    size_t i, floor, best = x->ncols;

    for (i = 0; i < x->ncols; i++) {
        if (x->cols[i].type == EXPORT_TEXT)
            floor = text_floor;
        else if (any_type)
            floor = t->dwidth[i] > 3 ? t->dwidth[i] : 3; /* cut the header only */
        else
            continue;
        if (t->fit[i] > floor && (best == x->ncols || t->fit[best] < t->fit[i]))
            best = i;
    }
    if (best == x->ncols)
        return 0;
    t->fit[best]--;
    return 1;
}

/* Total printed width of a line: visible columns and the gaps between. */
static size_t line_width(struct exporter *x)
{
    struct table *t = x->priv;
    size_t i, total = 0, shown = 0;

    for (i = 0; i < x->ncols; i++)
        if (t->fit[i])
            total += t->fit[i] + (shown++ ? strlen(TABLE_GAP) : 0);
    return total;
}

/* The printed widths: each cell cut at TABLE_MAXW (no width given), whole
 * (wide), or fitted to x->width: columns empty on every row are hidden,
 * then the widest text column is narrowed one column at a time down to
 * TABLE_MINW, then headers wider than their data are cut, then text
 * columns go down to 3 columns.  A table that still does not fit wraps. */
static void fit_widths(struct exporter *x)
{
    struct table *t = x->priv;
    size_t i, total;

    for (i = 0; i < x->ncols; i++) {
        t->fit[i] = t->width[i];
        if (!x->wide && !x->width && t->fit[i] > TABLE_MAXW)
            t->fit[i] = TABLE_MAXW;
        if (!x->wide && x->width && t->fit[i] > x->width)
            t->fit[i] = x->width; /* no column wider than the terminal */
    }
    if (x->wide || !x->width || (total = line_width(x)) <= x->width)
        return;
    for (i = 0; t->nrows && i < x->ncols; i++)
        if (!t->dwidth[i])
            t->fit[i] = 0;
    total = line_width(x);
    while (total > x->width && (narrow_one(x, 0, TABLE_MINW) || narrow_one(x, 1, TABLE_MINW) ||
                                narrow_one(x, 1, 3)))
        total--;
}

static void format_rule(struct exporter *x, struct buf *line)
{
    struct table *t = x->priv;
    size_t i, j, shown = 0;

    buf_reset(line);
    for (i = 0; i < x->ncols; i++) {
        if (!t->fit[i])
            continue;
        if (shown++)
            buf_adds(line, TABLE_GAP);
        for (j = 0; j < t->fit[i]; j++)
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
    fit_widths(x);
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
    free(t->fit);
    free(t->dwidth);
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
