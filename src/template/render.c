/* The template renderer: walks the tree (the shape of Redis sdstemplate():
 * literal runs copied, each placeholder looked up through the caller's
 * callback), applies the filters (upper, lower, date, money, default) and
 * writes values escaped for the mode, invalid UTF-8 replaced by U+FFFD.
 * On any error the output buffer is truncated back to where it started. */
#include "template-int.h"

#include <string.h>

#include "text/text.h"
#include "util/date.h"

#define MONEY_MAX_DIGITS 40        /* integer digits accepted by |money */
/* The longest |money text: sign, euro sign, each integer digit (one more
 * for a carry) with a separator of up to three bytes, decimal mark, two
 * decimals, NBSP and euro sign, NUL. */
#define MONEY_OUT_MAX (1 + 3 + (MONEY_MAX_DIGITS + 1) * 4 + 1 + 2 + 5 + 1)
#define REPLACEMENT "\xEF\xBF\xBD" /* U+FFFD */
#define NNBSP "\xE2\x80\xAF"       /* U+202F, French thousands separator */
#define NBSP "\xC2\xA0"            /* U+00A0, before the French currency sign */
#define EURO "\xE2\x82\xAC"

struct render {
    const struct tmpl *t;
    enum tmpl_mode mode;
    int en; /* English formats, else French */
    tmpl_lookup_fn lookup;
    void *ctx;
    struct buf *out;
    struct err *e;
    unsigned long max_iterations, *iterations, own_iterations;
    struct tmpl_scope scopes[TMPL_MAX_DEPTH];
    size_t nscopes;
    /* filter results, used in turn: |upper and |lower in a buffer (as
     * long as the value), |date and |money in a few bytes that need no
     * allocation */
    struct buf work[2];
    char fixed[2][MONEY_OUT_MAX];
};

static int too_big(struct render *r, struct tpos at)
{
    return tmpl_error_code(r->e, ERR_TOOBIG, r->t->name, at, "rendered text larger than %zu bytes",
                           r->out->cap);
}

static int bad_value(struct render *r, const struct filter *f, const char *s, size_t n,
                     const char *what)
{
    char q[64];

    tmpl_msg_quote(q, sizeof q, s, n);
    return tmpl_error(r->e, r->t->name, f->at, "|%s: '%s' is not %s", f->fname, q, what);
}

/* YYYY-MM-DD, or an ISO timestamp of which the date part is used, as
 * DD/MM/YYYY in both languages (SPEC §3; en-GB order, never US order):
 * DATE_LEN bytes into out. */
static int fmt_date(struct render *r, const struct filter *f, const char *s, size_t n,
                    char *out, size_t *len)
{
    char d[DATE_LEN + 1];

    if (n < DATE_LEN || (n > DATE_LEN && s[DATE_LEN] != 'T' && s[DATE_LEN] != ' '))
        return bad_value(r, f, s, n, "a date (YYYY-MM-DD)");
    memcpy(d, s, DATE_LEN);
    d[DATE_LEN] = '\0';
    if (date_check(d, NULL))
        return bad_value(r, f, s, n, "a date (YYYY-MM-DD)");
    memcpy(out, d + 8, 2); /* digits only: date_check saw to it */
    out[2] = '/';
    memcpy(out + 3, d + 5, 2);
    out[5] = '/';
    memcpy(out + 6, d, 4);
    *len = DATE_LEN;
    return 0;
}

/* Adds 1 to the decimal digits d[0..n), returning the carry out. */
static int increment(char *d, size_t n)
{
    while (n--) {
        if (d[n] != '9') {
            d[n]++;
            return 0;
        }
        d[n] = '0';
    }
    return 1;
}

/* Parses [+-]digits[.|,digits] (blanks around allowed, at least one digit)
 * and rounds to cents half away from zero on the digits themselves, so
 * "0.005" is 0.01 and nothing goes through binary floating point.  Sets
 * *neg and d to the amount in cents, at least three digits, no extra
 * leading zero; returns -1 when s is not such a number. */
static int money_cents(const char *s, size_t n, int *neg, char *d, size_t *nd)
{
    const char *end = s + n;
    size_t k = 1, frac = 0, i;
    int any = 0, up = 0;

    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *neg = s < end && *s == '-';
    if (s < end && (*s == '-' || *s == '+'))
        s++;
    d[0] = '0'; /* room for a carry */
    for (; s < end && *s >= '0' && *s <= '9'; s++, any = 1) {
        if (k == MONEY_MAX_DIGITS + 1)
            return -1;
        d[k++] = *s;
    }
    if (s < end && (*s == '.' || *s == ',')) {
        for (s++; s < end && *s >= '0' && *s <= '9'; s++, any = 1, frac++) {
            if (frac < 2)
                d[k++] = *s;
            else if (frac == 2)
                up = *s >= '5';
        }
    }
    if (!any || s != end)
        return -1;
    for (; frac < 2; frac++)
        d[k++] = '0';
    if (up)
        increment(d, k);
    for (i = 0; i + 3 < k && d[i] == '0'; i++)
        ;
    memmove(d, d + i, k - i);
    *nd = k - i;
    for (i = 0; i < *nd && d[i] == '0'; i++)
        ;
    if (i == *nd)
        *neg = 0; /* no "-0,00" */
    return 0;
}

/* Appends the n bytes at s to out at *k (the caller sized out). */
static void put(char *out, size_t *k, const char *s, size_t n)
{
    memcpy(out + *k, s, n);
    *k += n;
}

/* fr: -1 234,50 € (U+202F between groups, U+00A0 before €); en: -€1,234.50;
 * at most MONEY_OUT_MAX - 1 bytes into out. */
static int fmt_money(struct render *r, const struct filter *f, const char *s, size_t n,
                     char *out, size_t *len)
{
    char d[MONEY_MAX_DIGITS + 4];
    size_t nd, nint, i, k = 0;
    int neg;

    if (money_cents(s, n, &neg, d, &nd))
        return bad_value(r, f, s, n, "a number");
    nint = nd - 2;
    if (neg)
        out[k++] = '-';
    if (r->en)
        put(out, &k, EURO, sizeof EURO - 1);
    for (i = 0; i < nint; i++) {
        if (i && (nint - i) % 3 == 0) {
            if (r->en)
                out[k++] = ',';
            else
                put(out, &k, NNBSP, sizeof NNBSP - 1);
        }
        out[k++] = d[i];
    }
    out[k++] = r->en ? '.' : ',';
    put(out, &k, d + nint, 2);
    if (!r->en)
        put(out, &k, NBSP EURO, sizeof NBSP EURO - 1);
    *len = k;
    return 0;
}

/* Runs the filters of n left to right over *s; results live in r->work.
 * Only |default looks at an empty value; the others pass it through, so
 * {{due|date|default:"-"}} works when there is no date. */
static int apply_filters(struct render *r, const struct node *n, const char **s, size_t *len)
{
    size_t i;
    int w = 0, rc = 0;

    for (i = 0; i < n->nfilters; i++) {
        const struct filter *f = &n->filters[i];
        struct buf *dst = &r->work[w];
        size_t k;

        if (f->kind == F_DEFAULT && !*len) {
            *s = f->arg;
            *len = f->arg_len;
        }
        if (f->kind == F_DEFAULT || !*len)
            continue;
        if (f->kind == F_DATE || f->kind == F_MONEY) {
            if (f->kind == F_DATE)
                rc = fmt_date(r, f, *s, *len, r->fixed[w], &k);
            else
                rc = fmt_money(r, f, *s, *len, r->fixed[w], &k);
            if (rc)
                return rc;
            if (k > r->out->cap) /* as a buffer of that cap would say */
                return too_big(r, f->at);
            r->fixed[w][k] = '\0';
            *s = r->fixed[w];
            *len = k;
            w ^= 1;
            continue;
        }
        buf_reset(dst);
        if (f->kind == F_UPPER)
            text_upper_buf(dst, *s, *len);
        else
            text_lower_buf(dst, *s, *len);
        if (dst->err)
            return too_big(r, f->at);
        *s = buf_str(dst);
        *len = dst->len;
        w ^= 1;
    }
    return 0;
}

/* What HTML mode writes for each byte: NULL for the byte itself. */
static const char *const html_entity[256] = {
    ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&#39;",
};

/* Writes n bytes of valid UTF-8 escaped for the mode: HTML entities, or in
 * a header every control character (C0, DEL, C1) as a space, so that data
 * can never start a new header line. */
static void emit_valid(struct render *r, const char *s, size_t n)
{
    size_t i, run = 0;

    if (r->mode == TMPL_TEXT) {
        buf_add(r->out, s, n);
        return;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *rep;
        size_t skip = 1;

        if (r->mode == TMPL_HTML) {
            if (!(rep = html_entity[c]))
                continue;
        } else if (c < 0x20 || c == 0x7F) {
            rep = " ";
        } else if (c == 0xC2 && (unsigned char)s[i + 1] <= 0x9F) { /* U+0080-U+009F */
            rep = " ", skip = 2;
        } else {
            continue;
        }
        buf_add(r->out, s + run, i - run);
        buf_adds(r->out, rep);
        i += skip - 1;
        run = i + 1;
    }
    buf_add(r->out, s + run, n - run);
}

static void emit_value(struct render *r, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t ok = text_utf8_prefix(s + i, n - i);

        emit_valid(r, s + i, ok);
        i += ok;
        if (i < n) { /* one U+FFFD per byte that starts no valid sequence */
            buf_add(r->out, REPLACEMENT, 3);
            i++;
        }
    }
}

static int lookup(struct render *r, const struct node *n, struct tmpl_val *v)
{
    int rc;

    memset(v, 0, sizeof *v);
    v->type = TMPL_MISSING;
    rc = r->lookup(r->ctx, n->name, n->key, r->scopes, r->nscopes, v);
    if (rc > 0)
        rc = ERR_INTERNAL;
    if (rc)
        return tmpl_error_code(r->e, rc, r->t->name, n->at, "cannot look up '%s': %s", n->name,
                               err_name(rc));
    if (v->type == TMPL_MISSING)
        return tmpl_error(r->e, r->t->name, n->at, "unknown placeholder '%s'", n->name);
    if (v->type == TMPL_STR && !v->str)
        v->type = TMPL_EMPTY;
    return 0;
}

static int has_default(const struct node *n)
{
    size_t i;

    for (i = 0; i < n->nfilters; i++)
        if (n->filters[i].kind == F_DEFAULT)
            return 1;
    return 0;
}

static int render_var(struct render *r, const struct node *n)
{
    struct tmpl_val v;
    const char *s;
    size_t len;
    int rc = lookup(r, n, &v);

    if (rc)
        return rc;
    if (v.type == TMPL_LIST)
        return tmpl_error(r->e, r->t->name, n->at, "'%s' is a list: use {{#each %s}}", n->name,
                          n->name);
    if (v.type == TMPL_ABSENT && !has_default(n)) /* a typo is not sent as "" */
        return tmpl_error(r->e, r->t->name, n->at, "%s",
                          v.why ? v.why : "no value for this placeholder");
    s = v.type == TMPL_STR ? v.str : "";
    len = strlen(s);
    if ((rc = apply_filters(r, n, &s, &len)))
        return rc;
    emit_value(r, s, len);
    return 0;
}

static int render_seq(struct render *r, const struct node *n);

static int render_if(struct render *r, const struct node *n)
{
    struct tmpl_val v;
    int rc = lookup(r, n, &v), yes;

    if (rc)
        return rc;
    yes = (v.type == TMPL_STR && v.str[0]) || (v.type == TMPL_LIST && v.count > 0);
    return render_seq(r, yes ? n->body : n->alt);
}

static int render_each(struct render *r, const struct node *n)
{
    struct tmpl_val v;
    size_t i;
    int rc = lookup(r, n, &v);

    if (rc)
        return rc;
    if (v.type != TMPL_LIST)
        return tmpl_error(r->e, r->t->name, n->at, "'%s' is not a list ({{#each %s}})", n->name,
                          n->name);
    for (i = 0; i < v.count && !rc; i++) {
        /* bounded work: nested loops over big lists multiply, and a body
         * with no output is never stopped by the size cap */
        if (++*r->iterations > r->max_iterations)
            return tmpl_error(r->e, r->t->name, n->at, "more than %lu loop iterations",
                              r->max_iterations);
        r->scopes[r->nscopes].list = n->name;
        r->scopes[r->nscopes].index = i;
        r->nscopes++;
        rc = render_seq(r, n->body);
        r->nscopes--;
    }
    return rc;
}

static int render_seq(struct render *r, const struct node *n)
{
    int rc = 0;

    for (; n; n = n->next) {
        if (n->kind == N_TEXT)
            buf_add(r->out, n->text, n->len);
        else if (n->kind == N_VAR)
            rc = render_var(r, n);
        else if (n->kind == N_IF)
            rc = render_if(r, n);
        else
            rc = render_each(r, n);
        if (rc)
            return rc;
        if (r->out->err)
            return too_big(r, n->tag);
    }
    return 0;
}

int tmpl_render(const struct tmpl *t, enum tmpl_mode mode, const struct tmpl_locale *loc,
                tmpl_lookup_fn lookup_fn, void *ctx, struct buf *out, struct err *e)
{
    struct render r; /* (its arrays are written before they are read: not cleared) */
    size_t len0 = out->len;
    int err0 = out->err, rc;

    if (!t || !lookup_fn)
        return err_set(e, ERR_INTERNAL, "tmpl_render: no template or no lookup function");
    r.t = t;
    r.mode = mode;
    r.lookup = lookup_fn;
    r.ctx = ctx;
    r.out = out;
    r.e = e;
    r.nscopes = 0;
    r.en = loc && loc->lang && strncmp(loc->lang, "en", 2) == 0;
    r.max_iterations = loc && loc->max_iterations ? loc->max_iterations : TMPL_MAX_ITERATIONS;
    r.own_iterations = 0;
    r.iterations = loc && loc->iterations ? loc->iterations : &r.own_iterations;
    buf_init(&r.work[0], out->cap);
    buf_init(&r.work[1], out->cap);
    rc = render_seq(&r, t->root);
    if (rc) { /* leave out exactly as it was */
        out->len = len0;
        if (out->data)
            out->data[len0] = '\0';
        out->err = err0;
    }
    buf_release(&r.work[0]);
    buf_release(&r.work[1]);
    return rc;
}
