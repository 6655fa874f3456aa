/* XLSX writer, the only libxlsxwriter user: one worksheet, bold frozen header
 * row, autofilter over the used range, real date and date-time cells, number
 * cells for INT columns, widths fitted to the content.  Written in
 * libxlsxwriter's constant_memory mode to a temporary file next to the
 * target, renamed into place by export_finish: a failed or aborted export
 * never leaves a truncated workbook or clobbers an existing file. */
#include "export-int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xlsxwriter.h>

#include "util/buf.h"
#include "util/xalloc.h"

#define WIDTH_MAX 60.0 /* widest column, in characters */
#define WIDTH_MIN 6.0
#define FILTER_BUTTON 3 /* room for the autofilter arrow beside a header */
#define CELL_MAX 32767  /* characters in one cell: Excel's limit */

struct xlsxw {
    lxw_workbook *wb;
    lxw_worksheet *ws;
    lxw_format *bold, *date, *datetime;
    lxw_row_t row; /* last row written; the header is row 0 */
    size_t *width; /* widest display length seen, per column */
    char *tmppath; /* where libxlsxwriter writes; NULL once renamed */
};

/* Creates an empty "<path>.<pid>.<n>.tmp" with O_EXCL (no symlink games);
 * it proves the directory is writable before any row is produced. */
static int make_tmp(struct exporter *x, struct xlsxw *w, struct err *e)
{
    struct buf name;
    struct stat st;
    int fd = -1, n;

    /* The final rename would replace whatever is there: refuse anything but
     * a regular file (a directory, or /dev/stdout when run as root). */
    if (stat(x->path, &st) == 0 && !S_ISREG(st.st_mode))
        return err_set(e, ERR_IO, "cannot create '%s': not a regular file", x->path);
    buf_init(&name, 0);
    for (n = 0; fd < 0 && n < 100; n++) {
        buf_reset(&name);
        buf_printf(&name, "%s.%ld.%d.tmp", x->path, (long)getpid(), n);
        fd = open(buf_str(&name), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        buf_release(&name);
        return err_set(e, ERR_IO, "cannot create '%s': %s", x->path, strerror(errno));
    }
    close(fd);
    w->tmppath = buf_take(&name);
    return 0;
}

static int add_formats(struct xlsxw *w)
{
    w->bold = workbook_add_format(w->wb);
    w->date = workbook_add_format(w->wb);
    w->datetime = workbook_add_format(w->wb);
    if (!w->bold || !w->date || !w->datetime)
        return -1;
    format_set_bold(w->bold);
    format_set_num_format(w->date, "dd/mm/yyyy");
    format_set_num_format(w->datetime, "dd/mm/yyyy hh:mm:ss");
    return 0;
}

static int write_header(struct exporter *x, struct xlsxw *w, struct err *e)
{
    lxw_error le;
    size_t i;

    for (i = 0; i < x->ncols; i++) {
        const char *name = x->cols[i].name;

        if (!export_utf8_valid(name))
            return err_set(e, ERR_INPUT, "column %zu: name is not valid UTF-8", i + 1);
        le = worksheet_write_string(w->ws, 0, (lxw_col_t)i, name, w->bold);
        if (le != LXW_NO_ERROR)
            return err_set(e, ERR_INPUT, "column '%.40s': %s", name, lxw_strerror(le));
        w->width[i] = export_utf8_width(name) + FILTER_BUTTON;
    }
    /* Header stays visible while scrolling: split below row 1 (pane at A2). */
    worksheet_freeze_panes(w->ws, 1, 0);
    return 0;
}

static int xlsx_begin(struct exporter *x, struct err *e)
{
    struct xlsxw *w = xcalloc(1, sizeof(*w));
    /* constant_memory: each row goes to a temp file as soon as the next one
     * starts, so a million-row export does not sit in memory.  Column
     * widths are still settable at the end: libxlsxwriter emits <cols> when
     * it assembles the sheet in workbook_close (worksheet.c,
     * lxw_worksheet_assemble_xml_file), so widths cover every row. */
    lxw_workbook_options o = {.constant_memory = LXW_TRUE, .tmpdir = NULL};
    int rc;

    x->priv = w;
    w->width = xcalloc(x->ncols, sizeof(*w->width));
    if (x->ncols > (size_t)LXW_COL_MAX)
        return err_set(e, ERR_TOOBIG, "XLSX sheets hold at most %d columns", LXW_COL_MAX);
    rc = make_tmp(x, w, e);
    if (rc)
        return rc;
    w->wb = workbook_new_opt(w->tmppath, &o);
    if (w->wb)
        w->ws = workbook_add_worksheet(w->wb, NULL);
    if (!w->ws || add_formats(w) != 0)
        return err_set(e, ERR_IO, "cannot start workbook '%s': %s", x->path, strerror(errno));
    return write_header(x, w, e);
}

/* A TEXT cell libxlsxwriter would refuse or turn into a corrupt file:
 * invalid UTF-8 (the XML must be UTF-8) or over Excel's cell limit. */
static int check_text(const struct export_col *c, const char *v, struct err *e)
{
    const unsigned char *p = (const unsigned char *)v;
    size_t n = strlen(v), len, count = 0;
    uint32_t cp;

    for (; n; p += len, n -= len, count++) {
        len = export_utf8_next(p, n, &cp);
        if (len == 0)
            return err_set(e, ERR_INPUT, "column '%s': value is not valid UTF-8", c->name);
    }
    if (count > CELL_MAX)
        return err_set(e, ERR_TOOBIG,
                       "column '%s': text longer than %d characters, "
                       "the limit of a spreadsheet cell",
                       c->name, CELL_MAX);
    return 0;
}

/* Writes one non-empty, already validated value; returns its display
 * length in *len, used to size the column. */
static lxw_error write_cell(struct xlsxw *w, lxw_col_t col, enum export_type type, const char *v,
                            size_t *len)
{
    struct export_tm tm;
    lxw_datetime dt;
    int64_t n;

    switch (type) {
    case EXPORT_INT:
        export_parse_int(v, &n);
        *len = strlen(v);
        return worksheet_write_number(w->ws, w->row, col, (double)n, NULL);
    case EXPORT_DATE:
    case EXPORT_DATETIME:
        if (type == EXPORT_DATE)
            export_parse_date(v, &tm);
        else
            export_parse_datetime(v, &tm);
        dt = (lxw_datetime){tm.year, tm.month, tm.day, tm.hour, tm.min, tm.sec};
        *len = type == EXPORT_DATE ? 10 : 19; /* dd/mm/yyyy [hh:mm:ss] */
        return worksheet_write_datetime(w->ws, w->row, col, &dt,
                                        type == EXPORT_DATE ? w->date : w->datetime);
    case EXPORT_TEXT:
        break;
    }
    *len = export_utf8_width(v);
    return worksheet_write_string(w->ws, w->row, col, v, NULL);
}

static int xlsx_row(struct exporter *x, const char *const *values, struct err *e)
{
    struct xlsxw *w = x->priv;
    lxw_error le;
    size_t i, len;
    int rc;

    if (w->row + 1 >= LXW_ROW_MAX)
        return err_set(e, ERR_TOOBIG, "XLSX sheets hold at most %d rows", LXW_ROW_MAX - 1);
    /* Check every cell before writing any, so a rejected row leaves none. */
    for (i = 0; i < x->ncols; i++) {
        if (values[i] && *values[i] && x->cols[i].type == EXPORT_TEXT) {
            rc = check_text(&x->cols[i], values[i], e);
            if (rc)
                return rc;
        }
    }
    w->row++;
    for (i = 0; i < x->ncols; i++) {
        if (!values[i] || !*values[i])
            continue; /* a blank cell: nothing to write */
        le = write_cell(w, (lxw_col_t)i, x->cols[i].type, values[i], &len);
        if (le != LXW_NO_ERROR) {
            x->failed = ERR_IO;
            return err_set(e, ERR_IO, "column '%s': %s", x->cols[i].name, lxw_strerror(le));
        }
        if (len > w->width[i])
            w->width[i] = len;
    }
    return 0;
}

static int xlsx_finish(struct exporter *x, const char *footer, struct err *e)
{
    struct xlsxw *w = x->priv;
    lxw_error le;
    double width;
    size_t i;

    (void)footer;
    for (i = 0; i < x->ncols; i++) {
        width = (double)w->width[i] + 2; /* a little air, as Excel's autofit */
        width = width < WIDTH_MIN ? WIDTH_MIN : width > WIDTH_MAX ? WIDTH_MAX : width;
        worksheet_set_column(w->ws, (lxw_col_t)i, (lxw_col_t)i, width, NULL);
    }
    worksheet_autofilter(w->ws, 0, 0, w->row, (lxw_col_t)(x->ncols - 1));
    /* workbook_close frees the workbook whatever it returns. */
    le = workbook_close(w->wb);
    w->wb = NULL;
    if (le != LXW_NO_ERROR)
        return err_set(e, ERR_IO, "cannot write '%s': %s", x->path, lxw_strerror(le));
    if (rename(w->tmppath, x->path) != 0)
        return err_set(e, ERR_IO, "cannot create '%s': %s", x->path, strerror(errno));
    free(w->tmppath);
    w->tmppath = NULL;
    return 0;
}

static void xlsx_release(struct exporter *x, int aborted)
{
    struct xlsxw *w = x->priv;

    (void)aborted;
    if (!w)
        return;
    if (w->wb) {
        /* Not closed: drop it unwritten.  lxw_workbook_free does not close
         * the constant_memory row file (only workbook_close does), so close
         * it here or the FILE and its descriptor leak. */
        if (w->ws && w->ws->optimize_tmpfile)
            fclose(w->ws->optimize_tmpfile);
        lxw_workbook_free(w->wb);
    }
    if (w->tmppath) {
        unlink(w->tmppath);
        free(w->tmppath);
    }
    free(w->width);
    free(w);
    x->priv = NULL;
}

const struct export_ops export_xlsx_ops = {
    .name = "xlsx",
    .begin = xlsx_begin,
    .row = xlsx_row,
    .finish = xlsx_finish,
    .release = xlsx_release,
};
