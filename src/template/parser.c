/* The template parser: tokens from lexer.c into a tree of text,
 * placeholder (name + filters), #if/else and #each nodes, by recursive
 * descent with a depth cap.  Every syntax error names file:line:col; an
 * unclosed section is reported where it opened.  Also walks the tree for
 * tmpl_names() and tmpl_bind().  Does not render: see render.c. */
#include "template-int.h"

#include <string.h>

#include "text/text.h"
#include "util/xalloc.h"

struct parser {
    struct lexer lx;
    const char *name;
    struct err *e;
};

static const struct filter_def {
    const char *name;
    enum filter_kind kind;
    int arg; /* takes a "string" argument */
} filter_defs[] = {
    {"upper", F_UPPER, 0}, {"lower", F_LOWER, 0},     {"date", F_DATE, 0},
    {"money", F_MONEY, 0}, {"default", F_DEFAULT, 1},
};

static const char *kind_word(enum node_kind k)
{
    return k == N_IF ? "if" : "each";
}

static void node_free(struct node *n)
{
    while (n) {
        struct node *next = n->next;
        size_t i;

        for (i = 0; i < n->nfilters; i++)
            free(n->filters[i].arg);
        free(n->filters);
        free(n->name);
        node_free(n->body);
        node_free(n->alt);
        free(n);
        n = next;
    }
}

void tmpl_free(struct tmpl *t)
{
    if (!t)
        return;
    node_free(t->root);
    free(t->src);
    free(t->name);
    free(t);
}

/* [a-z_][a-z0-9_]* words joined by single dots. */
static int valid_name(const char *s, size_t n)
{
    size_t i;
    int start = 1;

    if (!n || n > TMPL_MAX_NAME)
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.' && !start && i + 1 < n) {
            start = 1;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || c == '_' || (!start && c >= '0' && c <= '9')))
            return 0;
        start = 0;
    }
    return 1;
}

static int unexpected(struct parser *ps, const struct xtok *w)
{
    char q[64];

    if (w->kind == X_STRING)
        return tmpl_error(ps->e, ps->name, w->at, "unexpected string");
    tmpl_msg_quote(q, sizeof q, w->s, w->n);
    return tmpl_error(ps->e, ps->name, w->at, "unexpected '%s'", q);
}

/* Reads a name token into *w and checks it. */
static int expect_name(struct parser *ps, struct xscan *x, struct xtok *w, const char *what)
{
    char q[64];
    int rc = tmpl_xscan_next(x, w, ps->e);

    if (rc)
        return rc;
    if (w->kind == X_END)
        return tmpl_error(ps->e, ps->name, w->at, "missing name %s", what);
    if (w->kind != X_WORD)
        return unexpected(ps, w);
    if (!valid_name(w->s, w->n)) {
        tmpl_msg_quote(q, sizeof q, w->s, w->n);
        return tmpl_error(ps->e, ps->name, w->at,
                          "bad name '%s' (lower-case words [a-z0-9_] joined by '.')", q);
    }
    return 0;
}

static struct node *node_new(enum node_kind kind, struct tpos tag, const struct xtok *name)
{
    struct node *n = xcalloc(1, sizeof *n);

    n->kind = kind;
    n->tag = tag;
    n->key = -1;
    if (name) {
        n->at = name->at;
        n->name = xstrndup(name->s, name->n);
    }
    return n;
}

/* One "|filter" or "|default:"..."" after the pipe in *w; leaves the token
 * that follows it in *w. */
static int parse_filter(struct parser *ps, struct xscan *x, struct node *n, struct xtok *w)
{
    const struct filter_def *def = NULL;
    struct filter *f;
    char q[64];
    size_t i;
    int rc = tmpl_xscan_next(x, w, ps->e);

    if (rc)
        return rc;
    if (w->kind != X_WORD)
        return tmpl_error(ps->e, ps->name, w->at, "missing filter name after '|'");
    for (i = 0; i < sizeof filter_defs / sizeof filter_defs[0]; i++)
        if (strlen(filter_defs[i].name) == w->n && !memcmp(filter_defs[i].name, w->s, w->n))
            def = &filter_defs[i];
    if (!def) {
        tmpl_msg_quote(q, sizeof q, w->s, w->n);
        return tmpl_error(ps->e, ps->name, w->at, "unknown filter '%s'", q);
    }
    if (n->nfilters == TMPL_MAX_FILTERS)
        return tmpl_error(ps->e, ps->name, w->at, "too many filters (at most %d)",
                          TMPL_MAX_FILTERS);
    n->filters = xrealloc(n->filters, (n->nfilters + 1) * sizeof *n->filters);
    f = &n->filters[n->nfilters++];
    memset(f, 0, sizeof *f);
    f->kind = def->kind;
    f->fname = def->name;
    f->at = w->at;
    if ((rc = tmpl_xscan_next(x, w, ps->e)))
        return rc;
    if (w->kind != X_COLON) {
        if (def->arg)
            return tmpl_error(ps->e, ps->name, f->at, "filter '%s' needs an argument: %s:\"...\"",
                              def->name, def->name);
        return 0;
    }
    if (!def->arg)
        return tmpl_error(ps->e, ps->name, w->at, "filter '%s' takes no argument", def->name);
    if ((rc = tmpl_xscan_next(x, w, ps->e)))
        return rc;
    if (w->kind != X_STRING)
        return tmpl_error(ps->e, ps->name, w->at,
                          "bad argument for filter '%s': expected a \"double-quoted string\"",
                          def->name);
    f->arg = tmpl_unquote(w->s, w->n, &f->arg_len);
    return tmpl_xscan_next(x, w, ps->e);
}

/* {{ name|filter|filter:"arg" }} */
static int parse_var(struct parser *ps, const struct tok *tk, struct node **out)
{
    struct xscan x;
    struct xtok w;
    int rc;

    tmpl_xscan_init(&x, ps->name, tk);
    if ((rc = expect_name(ps, &x, &w, "in '{{ }}'")))
        return rc;
    *out = node_new(N_VAR, tk->at, &w);
    if ((rc = tmpl_xscan_next(&x, &w, ps->e)))
        return rc;
    while (w.kind == X_PIPE)
        if ((rc = parse_filter(ps, &x, *out, &w)))
            return rc;
    return w.kind == X_END ? 0 : unexpected(ps, &w);
}

/* The keyword of {{#if ...}} / {{/each}}: N_IF or N_EACH into *kind. */
static int section_word(struct parser *ps, struct xscan *x, const struct tok *tk,
                        enum node_kind *kind)
{
    struct xtok w;
    char q[64];
    int rc = tmpl_xscan_next(x, &w, ps->e);
    const char *sig = tk->kind == TOK_OPEN ? "#" : "/";

    if (rc)
        return rc;
    if (w.kind == X_WORD && w.n == 2 && !memcmp(w.s, "if", 2)) {
        *kind = N_IF;
        return 0;
    }
    if (w.kind == X_WORD && w.n == 4 && !memcmp(w.s, "each", 4)) {
        *kind = N_EACH;
        return 0;
    }
    tmpl_msg_quote(q, sizeof q, w.s, w.n);
    return tmpl_error(ps->e, ps->name, tk->at,
                      "unknown section '{{%s%s}}' (expected %sif or %seach)", sig, q, sig, sig);
}

/* {{/if}} or {{/each}}: which one into *kind. */
static int parse_end(struct parser *ps, const struct tok *tk, enum node_kind *kind)
{
    struct xscan x;
    struct xtok w;
    int rc;

    tmpl_xscan_init(&x, ps->name, tk);
    if ((rc = section_word(ps, &x, tk, kind)) || (rc = tmpl_xscan_next(&x, &w, ps->e)))
        return rc;
    return w.kind == X_END ? 0 : unexpected(ps, &w);
}

static int parse_seq(struct parser *ps, int depth, struct node **head, struct tok *stop);

/* After {{#if x}} / {{#each x}}: the body, the else part, the end tag. */
static int parse_body(struct parser *ps, int depth, struct node *n)
{
    struct tok stop;
    enum node_kind end;
    int rc = parse_seq(ps, depth + 1, &n->body, &stop);

    if (!rc && stop.kind == TOK_ELSE && n->kind == N_IF)
        rc = parse_seq(ps, depth + 1, &n->alt, &stop);
    if (rc)
        return rc;
    if (stop.kind == TOK_ELSE && n->kind == N_IF)
        return tmpl_error(ps->e, ps->name, stop.at,
                          "second '{{else}}' in '{{#if}}' opened at %d:%d", n->tag.line,
                          n->tag.col);
    if (stop.kind == TOK_ELSE)
        return tmpl_error(ps->e, ps->name, stop.at, "'{{else}}' outside '{{#if}}'");
    if (stop.kind == TOK_EOF)
        return tmpl_error(ps->e, ps->name, n->tag, "unterminated '{{#%s %s}}' (no '{{/%s}}')",
                          kind_word(n->kind), n->name, kind_word(n->kind));
    if ((rc = parse_end(ps, &stop, &end)))
        return rc;
    if (end != n->kind)
        return tmpl_error(ps->e, ps->name, stop.at, "'{{/%s}}' closes '{{#%s}}' opened at %d:%d",
                          kind_word(end), kind_word(n->kind), n->tag.line, n->tag.col);
    return 0;
}

/* {{#if name}}...{{/if}} or {{#each name}}...{{/each}} */
static int parse_section(struct parser *ps, const struct tok *tk, int depth, struct node **out)
{
    struct xscan x;
    struct xtok w;
    enum node_kind kind = N_IF;
    char what[32];
    int rc;

    tmpl_xscan_init(&x, ps->name, tk);
    if ((rc = section_word(ps, &x, tk, &kind)))
        return rc;
    snprintf(what, sizeof what, "after '{{#%s'", kind_word(kind));
    if ((rc = expect_name(ps, &x, &w, what)))
        return rc;
    if (depth >= TMPL_MAX_DEPTH)
        return tmpl_error(ps->e, ps->name, tk->at, "sections nested more than %d deep",
                          TMPL_MAX_DEPTH);
    *out = node_new(kind, tk->at, &w);
    if ((rc = tmpl_xscan_next(&x, &w, ps->e)))
        return rc;
    if (w.kind != X_END)
        return unexpected(ps, &w);
    return parse_body(ps, depth, *out);
}

/* Nodes up to the next {{else}}, {{/...}} or the end, which lands in *stop. */
static int parse_seq(struct parser *ps, int depth, struct node **head, struct tok *stop)
{
    struct node **tail = head, *last = NULL;
    struct tok tk;
    int rc;

    for (;;) {
        struct node *n = NULL;

        if ((rc = tmpl_lex_next(&ps->lx, &tk, ps->e)))
            return rc;
        switch (tk.kind) {
        case TOK_EOF:
        case TOK_ELSE:
        case TOK_CLOSE:
            *stop = tk;
            return 0;
        case TOK_COMMENT:
            continue;
        case TOK_TEXT:
            if (last && last->kind == N_TEXT && last->text + last->len == tk.s) {
                last->len += tk.n; /* lines of one run: one node */
                continue;
            }
            n = node_new(N_TEXT, tk.at, NULL);
            n->text = tk.s;
            n->len = tk.n;
            break;
        case TOK_VAR:
            rc = parse_var(ps, &tk, &n);
            break;
        case TOK_OPEN:
            rc = parse_section(ps, &tk, depth, &n);
            break;
        }
        if (n) { /* linked before the error check so that tmpl_free frees it */
            *tail = last = n;
            tail = &n->next;
        }
        if (rc)
            return rc;
    }
}

/* Rejects what the lexer must never see: invalid UTF-8 and NUL bytes. */
static int check_bytes(const char *name, struct tpos start, const char *text, size_t n,
                       struct err *e)
{
    size_t ok = text_utf8_prefix(text, n);
    const char *nul = memchr(text, '\0', ok);

    if (nul)
        return tmpl_error(e, name, tmpl_pos_after(start, text, nul), "NUL byte in template");
    if (ok < n)
        return tmpl_error(e, name, tmpl_pos_after(start, text, text + ok), "invalid UTF-8");
    return 0;
}

int tmpl_parse_at(const char *name, struct tpos start, const char *text, size_t n,
                  struct tmpl **out, struct err *e)
{
    struct parser ps = {.name = name, .e = e};
    struct tmpl *t = NULL;
    struct tok stop;
    enum node_kind end;
    int rc;

    *out = NULL;
    if (!text)
        text = "", n = 0;
    if (n > TMPL_FILE_MAX)
        return err_set(e, ERR_TOOBIG, "%s: template larger than %u bytes", name, TMPL_FILE_MAX);
    if ((rc = check_bytes(name, start, text, n, e)))
        return rc;
    t = xcalloc(1, sizeof *t);
    t->name = xstrdup(name);
    t->src = xmalloc(n + 1);
    memcpy(t->src, text, n);
    t->src[n] = '\0';
    t->len = n;
    ps.name = t->name;
    tmpl_lex_init(&ps.lx, t->name, t->src, n, start);
    rc = parse_seq(&ps, 0, &t->root, &stop);
    if (!rc && stop.kind == TOK_ELSE)
        rc = tmpl_error(e, name, stop.at, "'{{else}}' outside '{{#if}}'");
    if (!rc && stop.kind == TOK_CLOSE && !(rc = parse_end(&ps, &stop, &end)))
        rc = tmpl_error(e, name, stop.at, "'{{/%s}}' without '{{#%s}}'", kind_word(end),
                        kind_word(end));
    if (rc) {
        tmpl_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

int tmpl_parse(const char *name, int first_line, const char *text, size_t n, struct tmpl **out,
               struct err *e)
{
    struct tpos start = {first_line, 1};

    return tmpl_parse_at(name, start, text, n, out, e);
}

static int walk(const struct node *n, const char **lists, size_t nlists, tmpl_name_fn fn, void *ctx)
{
    int rc = 0;

    for (; n && !rc; n = n->next) {
        if (n->kind == N_TEXT)
            continue;
        rc = fn(ctx, n->name, lists, nlists, n->at.line, n->at.col);
        if (!rc && n->kind == N_IF && !(rc = walk(n->body, lists, nlists, fn, ctx)))
            rc = walk(n->alt, lists, nlists, fn, ctx);
        if (!rc && n->kind == N_EACH) {
            lists[nlists] = n->name;
            rc = walk(n->body, lists, nlists + 1, fn, ctx);
        }
    }
    return rc;
}

int tmpl_names(const struct tmpl *t, tmpl_name_fn fn, void *ctx)
{
    const char *lists[TMPL_MAX_DEPTH + 1];

    return t ? walk(t->root, lists, 0, fn, ctx) : 0;
}

static int bind_walk(struct node *n, const char **lists, size_t nlists, tmpl_bind_fn fn,
                     void *ctx)
{
    int rc = 0;

    for (; n && rc >= 0; n = n->next) {
        if (n->kind == N_TEXT)
            continue;
        if ((rc = fn(ctx, n->name, lists, nlists)) < 0)
            break;
        n->key = rc;
        if (n->kind == N_IF && (rc = bind_walk(n->body, lists, nlists, fn, ctx)) >= 0)
            rc = bind_walk(n->alt, lists, nlists, fn, ctx);
        if (n->kind == N_EACH) {
            lists[nlists] = n->name;
            rc = bind_walk(n->body, lists, nlists + 1, fn, ctx);
        }
    }
    return rc < 0 ? rc : 0;
}

int tmpl_bind(struct tmpl *t, tmpl_bind_fn fn, void *ctx)
{
    const char *lists[TMPL_MAX_DEPTH + 1];

    return t ? bind_walk(t->root, lists, 0, fn, ctx) : 0;
}
