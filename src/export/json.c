/* JSON writer (RFC 8259) with jansson: one array of objects, one object per
 * line, keys in column order.  INT columns become numbers, everything else
 * strings; NULL (and an empty INT) becomes null.  Streamed: only the current
 * row exists in memory, and the output is valid JSON even with zero rows.
 * Non-ASCII text stays UTF-8 (no JSON_ENSURE_ASCII). */
#include "export-int.h"

#include <errno.h>

#include <jansson.h>

#include "util/xalloc.h"

struct jsonw {
    unsigned long long nrows;
};

/* JSON_PRESERVE_ORDER is the default since jansson 2.8; kept for older ones. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER)

static int json_begin(struct exporter *x, struct err *e)
{
    size_t i, j;

    x->priv = xcalloc(1, sizeof(struct jsonw));
    /* Out of memory aborts, as everywhere else in postier (xalloc.h), rather
     * than surfacing later as a NULL json_t mistaken for bad input. */
    json_set_alloc_funcs(xmalloc, free);
    /* Keys must be valid UTF-8 (RFC 8259 §8.1) and distinct, or a reader
     * would silently keep only one of two same-named columns. */
    for (i = 0; i < x->ncols; i++) {
        if (!export_utf8_valid(x->cols[i].name))
            return err_set(e, ERR_INPUT, "column %zu: name is not valid UTF-8", i + 1);
        for (j = 0; j < i; j++) {
            if (strcmp(x->cols[i].name, x->cols[j].name) == 0)
                return err_set(e, ERR_INPUT, "column '%s' appears twice", x->cols[i].name);
        }
    }
    return export_fwrite(x, "[", 1, e);
}

/* The JSON value for one cell, or NULL when v is not valid UTF-8 (jansson
 * refuses such strings, RFC 8259 §8.1). */
static json_t *cell_value(const struct export_col *c, const char *v)
{
    int64_t n;

    if (!v)
        return json_null();
    if (c->type == EXPORT_INT) {
        /* export.c validated the digits; "" means no value. */
        if (!*v || export_parse_int(v, &n) != 0)
            return json_null();
        return json_integer((json_int_t)n);
    }
    return json_string(v);
}

static int json_row(struct exporter *x, const char *const *values, struct err *e)
{
    struct jsonw *w = x->priv;
    json_t *obj = json_object();
    json_t *val;
    size_t i;
    int rc = 0;

    /* Build the whole object first: a bad value then rejects the row before
     * any byte of it is written. */
    for (i = 0; i < x->ncols; i++) {
        val = cell_value(&x->cols[i], values[i]);
        if (!val) {
            rc = err_set(e, ERR_INPUT, "column '%s': value is not valid UTF-8", x->cols[i].name);
            goto out;
        }
        json_object_set_new(obj, x->cols[i].name, val);
    }
    rc = export_fwrite(x, w->nrows ? ",\n" : "\n", w->nrows ? 2 : 1, e);
    if (rc)
        goto out;
    if (json_dumpf(obj, x->fp, DUMP_FLAGS) != 0) {
        x->failed = ERR_IO;
        rc = err_set(e, ERR_IO, "cannot write json output: %s", strerror(errno));
        goto out;
    }
    w->nrows++;
out:
    json_decref(obj);
    return rc;
}

static int json_finish(struct exporter *x, const char *footer, struct err *e)
{
    int rc;

    (void)footer;
    rc = export_fwrite(x, "\n]\n", 3, e);
    if (rc == 0)
        rc = export_fflush(x, e);
    return rc;
}

static void json_release(struct exporter *x, int aborted)
{
    (void)aborted;
    free(x->priv);
    x->priv = NULL;
}

const struct export_ops export_json_ops = {
    .name = "json",
    .begin = json_begin,
    .row = json_row,
    .finish = json_finish,
    .release = json_release,
};
