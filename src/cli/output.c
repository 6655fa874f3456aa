/* Output shared by commands: listing options and pagination, records as
 * rows in any export format, a record shown field by field, and record
 * fields turned into command-line options (--last-name, --party ...). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>

#include "audit/audit.h"
#include "text/text.h"
#include "util/xalloc.h"

void cli_list_init(struct cli_list *l)
{
    l->fmt = EXPORT_TABLE;
    l->page = 1;
    l->per_page = 0;
    l->paged = 0;
    l->wide = 0;
}

static int parse_count(const char *cmd, const char *opt, const char *arg, long long *out)
{
    char *end;

    errno = 0;
    *out = strtoll(arg, &end, 10);
    if (errno || end == arg || *end || *out < 1)
        return cli_usage(cmd, "--%s: '%s' is not a whole number from 1", opt, arg), -1;
    return 1;
}

void cli_export_init(struct cli_export *x)
{
    memset(x, 0, sizeof *x);
    x->fmt = EXPORT_CSV;
}

int cli_export_opt(struct cli_export *x, const char *cmd, int opt, const char *arg)
{
    struct err e;

    switch (opt) {
    case 'f':
        if (export_format_parse(arg, &x->fmt, &e) || (x->fmt != EXPORT_CSV && x->fmt != EXPORT_XLSX))
            return cli_usage(cmd, "--format: '%s' is not csv or xlsx", arg), -1;
        return 1;
    case 'o': x->out = arg; return 1;
    case 'b': x->xo.bom = 1; return 1;
    case 'S':
        if (strcmp(arg, ",") && strcmp(arg, ";"))
            return cli_usage(cmd, "--separator: use ',' or ';'"), -1;
        x->xo.separator = arg[0];
        return 1;
    default: return 0;
    }
}

int cli_export_begin(struct cli_export *x, const char *cmd, const struct export_col *cols,
                     size_t n)
{
    struct err e;

    if (!x->out)
        return cli_usage(cmd, "-o FILE is required");
    if (x->fmt == EXPORT_CSV && !(x->fp = fopen(x->out, "w"))) {
        err_set(&e, ERR_IO, "%s: %s", x->out, strerror(errno));
        return cli_fail(&e);
    }
    if (export_begin(x->fmt, x->fp, x->out, cols, n, &x->xo, &x->x, &e)) {
        if (x->fp)
            fclose(x->fp), x->fp = NULL;
        return cli_fail(&e);
    }
    return 0;
}

int cli_export_end(struct cli_export *x, int failed, struct err *e)
{
    int rc = 0;

    if (failed) {
        export_abort(x->x);
        rc = cli_fail(e);
    } else if (export_finish(x->x, NULL, e)) {
        rc = cli_fail(e);
    }
    if (x->fp && fclose(x->fp) && !rc) {
        err_set(e, ERR_IO, "%s: %s", x->out, strerror(errno));
        rc = cli_fail(e);
    }
    x->fp = NULL;
    return rc;
}

int cli_list_opt(struct cli_list *l, const char *cmd, int opt, const char *arg)
{
    struct err e;

    switch (opt) {
    case OPT_FORMAT:
        if (export_format_parse(arg, &l->fmt, &e) || l->fmt == EXPORT_XLSX)
            return cli_usage(cmd, "--format: '%s' is not one of table, csv, json", arg), -1;
        if (l->fmt != EXPORT_TABLE)
            cli_term_machine();
        return 1;
    case OPT_WIDE: l->wide = 1; return 1;
    case OPT_PAGE: l->paged = 1; return parse_count(cmd, "page", arg, &l->page);
    case OPT_PER_PAGE: l->paged = 1; return parse_count(cmd, "per-page", arg, &l->per_page);
    default: return 0;
    }
}

void cli_list_query(const struct cli_list *l, struct store_query *q)
{
    long long per = l->per_page ? l->per_page : 50;

    if (!l->paged && l->fmt != EXPORT_TABLE) {
        q->limit = q->offset = 0;
        return;
    }
    q->limit = per;
    q->offset = (l->page - 1) * per;
}

void cli_list_xo(const struct cli_list *l, struct export_opts *xo)
{
    xo->wide = l->wide;
    xo->width = l->wide ? 0 : cli_term_width();
}

static enum export_type field_type(const char *name)
{
    if (!strcmp(name, "display_order"))
        return EXPORT_INT;
    if (!strncmp(name, "valid_", 6))
        return EXPORT_DATE;
    return EXPORT_TEXT;
}

const struct export_col *cli_rec_cols(enum store_kind kind, size_t *n)
{
    static struct export_col cols[3][STORE_MAX_FIELDS + 1];
    static size_t ncols[3];
    size_t i;

    if (!ncols[kind]) {
        cols[kind][0].name = "id";
        cols[kind][0].type = EXPORT_INT;
        for (i = 0; i < store_nfields(kind); i++) {
            cols[kind][i + 1].name = store_field_name(kind, i);
            cols[kind][i + 1].type = field_type(cols[kind][i + 1].name);
        }
        ncols[kind] = store_nfields(kind) + 1;
    }
    *n = ncols[kind];
    return cols[kind];
}

struct list_ctx {
    struct exporter *x;
    struct err *e;
    int rc;
    int compact; /* contacts on a terminal table: the columns people scan */
};

/* The compact contact table: a display name instead of its parts, and the
 * columns one reads in a list; csv and json keep every column. */
static const struct export_col compact_cols[] = {
    {"id", EXPORT_INT},     {"party", EXPORT_TEXT},  {"type", EXPORT_TEXT},
    {"name", EXPORT_TEXT},  {"company", EXPORT_TEXT}, {"function", EXPORT_TEXT},
    {"email", EXPORT_TEXT}, {"phones", EXPORT_TEXT}, {"flags", EXPORT_TEXT},
    {"consents", EXPORT_TEXT}, {"valid_until", EXPORT_DATE},
};
#define NCOMPACT (sizeof compact_cols / sizeof compact_cols[0])
/* On a narrow terminal the name and address stay, the rest goes first. */
static const int compact_drop[NCOMPACT] = {0, 0, 1, 0, 2, 4, 0, 3, 5, 6, 7};

static int compact_row(struct list_ctx *lc, const struct store_rec *r)
{
    static const int fields[] = {CF_PARTY_REF, CF_TYPE, -1, CF_COMPANY, CF_FUNCTION, CF_EMAIL,
                                 CF_PHONES, CF_FLAGS, CF_CONSENTS, CF_VALID_UNTIL};
    const char *vals[NCOMPACT];
    char id[32], name[256];
    size_t i;

    snprintf(id, sizeof id, "%lld", r->id);
    snprintf(name, sizeof name, "%s%s%s%s%s", r->v[CF_CIVILITY] ? r->v[CF_CIVILITY] : "",
             r->v[CF_CIVILITY] ? " " : "", r->v[CF_FIRST_NAME] ? r->v[CF_FIRST_NAME] : "",
             r->v[CF_FIRST_NAME] ? " " : "", r->v[CF_LAST_NAME] ? r->v[CF_LAST_NAME] : "");
    vals[0] = id;
    for (i = 0; i < NCOMPACT - 1; i++)
        vals[i + 1] = fields[i] < 0 ? name : r->v[fields[i]];
    return export_row(lc->x, vals, lc->e);
}

static void rec_values(const struct store_rec *r, const char **vals, char *idbuf, size_t idlen)
{
    size_t i;

    snprintf(idbuf, idlen, "%lld", r->id);
    vals[0] = idbuf;
    for (i = 0; i < store_nfields(r->kind); i++)
        vals[i + 1] = r->v[i];
}

static int list_row(void *ctx, const struct store_rec *r)
{
    struct list_ctx *lc = ctx;
    const char *vals[STORE_MAX_FIELDS + 1];
    char id[32];

    if (lc->compact)
        return lc->rc = compact_row(lc, r);
    rec_values(r, vals, id, sizeof id);
    lc->rc = export_row(lc->x, vals, lc->e);
    return lc->rc;
}

int cli_rec_list(struct cli *c, enum store_kind kind, struct store_query *q,
                 const struct cli_list *l, const char *noun)
{
    struct list_ctx lc = {0};
    struct export_opts xo = {0};
    const struct export_col *cols;
    char footer[160];
    long long total = 0, per;
    size_t n;
    struct err e;
    int rc;

    cli_list_query(l, q);
    cols = cli_rec_cols(kind, &n);
    cli_list_xo(l, &xo);
    lc.compact = kind == STORE_CONTACT && l->fmt == EXPORT_TABLE;
    if (lc.compact) {
        cols = compact_cols;
        n = NCOMPACT;
        xo.drop = compact_drop;
    }
    if (export_begin(l->fmt, stdout, NULL, cols, n, &xo, &lc.x, &e))
        return cli_fail(&e);
    lc.e = &e;
    rc = store_list(c->store, kind, q, list_row, &lc, &total, &e);
    if (rc || lc.rc) {
        export_abort(lc.x);
        return cli_fail(&e);
    }
    per = q->limit ? q->limit : (total ? total : 1);
    snprintf(footer, sizeof footer, "page %lld/%lld, %lld %s%s", q->limit ? l->page : 1,
             (total + per - 1) / per ? (total + per - 1) / per : 1, total, noun,
             q->limit && q->offset + q->limit < total ? " (--page N for more)" : "");
    if (export_finish(lc.x, footer, &e))
        return cli_fail(&e);
    return 0;
}

int cli_rec_show(const struct store_rec *r, enum export_format fmt)
{
    const char *vals[STORE_MAX_FIELDS + 1];
    const struct export_col *cols;
    struct export_opts xo = {0};
    struct exporter *x;
    char id[32];
    size_t i, n;
    struct err e;

    rec_values(r, vals, id, sizeof id);
    cols = cli_rec_cols(r->kind, &n);
    if (fmt == EXPORT_TABLE) {
        for (i = 0; i < n; i++)
            cli_print_field(cols[i].name, 14, vals[i]);
        return 0;
    }
    if (export_begin(fmt, stdout, NULL, cols, n, &xo, &x, &e))
        return cli_fail(&e);
    if (export_row(x, vals, &e)) {
        export_abort(x);
        return cli_fail(&e);
    }
    return export_finish(x, NULL, &e) ? cli_fail(&e) : 0;
}

void cli_print_one_line(FILE *fp, const char *prefix, const char *s)
{
    struct buf b;

    buf_init(&b, 0);
    buf_adds(&b, prefix);
    text_one_line(&b, s);
    buf_addc(&b, '\n');
    fputs(buf_str(&b), fp);
    buf_release(&b);
}

void cli_print_field(const char *name, int width, const char *v)
{
    size_t n;

    printf("%-*s ", width, name);
    for (v = v ? v : ""; (n = strcspn(v, "\n")), v[n]; v += n + 1)
        printf("%.*s\n%*s", (int)(n && v[n - 1] == '\r' ? n - 1 : n), v, width + 1, "");
    printf("%s\n", v);
}

/* "last_name" -> "last-name" (option spelling), in static storage. */
static const char *opt_name(enum store_kind kind, size_t i)
{
    static char names[3][STORE_MAX_FIELDS][32];
    char *p;

    if (!names[kind][i][0]) {
        snprintf(names[kind][i], sizeof names[kind][i], "%s", store_field_name(kind, i));
        for (p = names[kind][i]; *p; p++)
            if (*p == '_')
                *p = '-';
    }
    return names[kind][i];
}

size_t cli_rec_longopts(enum store_kind kind, struct option *opts, size_t n)
{
    size_t i;

    for (i = 0; i < store_nfields(kind); i++) {
        opts[n].name = opt_name(kind, i);
        opts[n].has_arg = required_argument;
        opts[n].flag = NULL;
        opts[n].val = OPT_FIELD + (int)i;
        n++;
    }
    if (kind != STORE_PARTY) { /* --party is the short spelling of --party-ref */
        opts[n].name = "party";
        opts[n].has_arg = required_argument;
        opts[n].flag = NULL;
        opts[n].val = OPT_FIELD + 0;
        n++;
    }
    return n;
}

void cli_rec_options_help(enum store_kind kind, struct buf *out)
{
    size_t i;

    for (i = 0; i < store_nfields(kind); i++)
        buf_printf(out, "  --%-18s %s\n", opt_name(kind, i), store_field_name(kind, i));
}
