/* The template lexer: splits text into literal runs and {{tags}}, tracking
 * line and column, and drops "standalone" lines (a line holding only
 * section or comment tags and blanks) the way Mustache does.  A second
 * scanner splits the inside of one tag into words, '|', ':' and strings.
 * It checks no grammar: that is the parser's job. */
#include "template-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/xalloc.h"

/* Position after the bytes [p, q) that start at `at`: columns count
 * characters, so UTF-8 continuation bytes do not advance them. */
struct tpos tmpl_pos_after(struct tpos at, const char *p, const char *q)
{
    for (; p < q; p++) {
        if (*p == '\n') {
            at.line++;
            at.col = 1;
        } else if (((unsigned char)*p & 0xC0) != 0x80) {
            at.col++;
        }
    }
    return at;
}

static void move(struct lexer *lx, const char *q)
{
    lx->at = tmpl_pos_after(lx->at, lx->p, q);
    lx->p = q;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int at_open(const char *q, const char *end)
{
    return end - q >= 2 && q[0] == '{' && q[1] == '{';
}

static int at_escape(const char *q, const char *end)
{
    return end - q >= 3 && q[0] == '\\' && q[1] == '{' && q[2] == '{';
}

/* The "}}" ending a tag whose inside starts at q, skipping quoted strings
 * (so default:"}}" works); NULL when the line or the text ends first.
 * Comments (raw) may span lines and ignore quotes. */
static const char *find_close(const char *q, const char *end, int raw)
{
    int inq = 0;

    for (; q < end; q++) {
        if (!raw && *q == '\n')
            return NULL;
        if (inq) {
            if (*q == '\\' && q + 1 < end && q[1] != '\n')
                q++;
            else if (*q == '"')
                inq = 0;
        } else if (*q == '"' && !raw) {
            inq = 1;
        } else if (*q == '}' && q + 1 < end && q[1] == '}') {
            return q;
        }
    }
    return NULL;
}

/* Non-zero when the n bytes at s are "else" with optional blanks around. */
static int is_else(const char *s, size_t n)
{
    while (n && is_blank(*s))
        s++, n--;
    while (n && is_blank(s[n - 1]))
        n--;
    return n == 4 && memcmp(s, "else", 4) == 0;
}

/* When the line at p holds only blanks and at least one section, else or
 * comment tag (closed on that line), returns the end of the line (after
 * its "\n" or "\r\n", or the end of the text); NULL otherwise. */
static const char *standalone_end(const char *p, const char *end)
{
    int ntags = 0;

    for (;;) {
        const char *c;

        while (p < end && is_blank(*p))
            p++;
        if (p == end)
            return ntags ? end : NULL;
        if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
            return ntags ? p + (*p == '\r' ? 2 : 1) : NULL;
        if (!at_open(p, end) || end - p < 3)
            return NULL;
        c = find_close(p + 2, end, p[2] == '!');
        if (!c || memchr(p, '\n', (size_t)(c - p)))
            return NULL;
        if (p[2] != '#' && p[2] != '/' && p[2] != '!' && !is_else(p + 2, (size_t)(c - p - 2)))
            return NULL;
        ntags++;
        p = c + 2;
    }
}

void tmpl_lex_init(struct lexer *lx, const char *name, const char *text, size_t n,
                   struct tpos start)
{
    lx->name = name;
    lx->p = text;
    lx->end = text + n;
    lx->at = start;
    lx->bol = 1;
    lx->standalone = NULL;
}

static int lex_tag(struct lexer *lx, struct tok *t, struct err *e)
{
    const char *s = lx->p + 2, *c;
    char sigil = s < lx->end ? *s : '\0';

    t->at = lx->at;
    if (sigil == '!') {
        c = find_close(s + 1, lx->end, 1);
        if (!c)
            return tmpl_error(e, lx->name, t->at, "unclosed comment '{{!'");
        t->kind = TOK_COMMENT;
        t->s = s + 1;
        t->n = (size_t)(c - t->s);
        t->in = tmpl_pos_after(t->at, lx->p, t->s);
        move(lx, c + 2);
        return 0;
    }
    t->kind = sigil == '#' ? TOK_OPEN : sigil == '/' ? TOK_CLOSE : TOK_VAR;
    if (t->kind != TOK_VAR)
        s++;
    c = find_close(s, lx->end, 0);
    if (!c)
        return tmpl_error(e, lx->name, t->at, "unclosed '{{' (no '}}' on this line)");
    t->s = s;
    t->n = (size_t)(c - s);
    t->in = tmpl_pos_after(t->at, lx->p, s);
    if (t->kind == TOK_VAR && is_else(t->s, t->n))
        t->kind = TOK_ELSE;
    move(lx, c + 2);
    return 0;
}

/* A literal run up to the next tag, escape or newline (included). */
static void lex_text(struct lexer *lx, struct tok *t)
{
    const char *q = lx->p;

    t->kind = TOK_TEXT;
    t->at = lx->at;
    if (at_escape(q, lx->end)) { /* \{{ is a literal {{ */
        t->s = q + 1;
        t->n = 2;
        move(lx, q + 3);
        return;
    }
    while (q < lx->end) {
        if (*q == '\n') {
            q++;
            lx->bol = 1;
            break;
        }
        if (at_open(q, lx->end) || at_escape(q, lx->end))
            break;
        q++;
    }
    t->s = lx->p;
    t->n = (size_t)(q - lx->p);
    move(lx, q);
}

int tmpl_lex_next(struct lexer *lx, struct tok *t, struct err *e)
{
    for (;;) {
        if (lx->bol) {
            lx->bol = 0;
            lx->standalone = standalone_end(lx->p, lx->end);
        }
        if (!lx->standalone)
            break;
        /* Only blanks, tags and the line end are left on this line. */
        while (lx->p < lx->standalone && !at_open(lx->p, lx->end))
            move(lx, lx->p + 1);
        if (lx->p < lx->standalone)
            break;
        lx->standalone = NULL;
        lx->bol = lx->p < lx->end;
    }
    if (lx->p >= lx->end) {
        t->kind = TOK_EOF;
        t->s = lx->p;
        t->n = 0;
        t->at = t->in = lx->at;
        return 0;
    }
    if (at_open(lx->p, lx->end))
        return lex_tag(lx, t, e);
    lex_text(lx, t);
    return 0;
}

void tmpl_xscan_init(struct xscan *x, const char *name, const struct tok *t)
{
    x->name = name;
    x->p = t->s;
    x->end = t->s + t->n;
    x->at = t->in;
}

static int scan_string(struct xscan *x, struct xtok *t, struct err *e)
{
    const char *q = x->p + 1;

    while (q < x->end && *q != '"') {
        if (*q == '\\') {
            if (q + 1 < x->end && (q[1] == '"' || q[1] == '\\')) {
                q += 2;
                continue;
            }
            return tmpl_error(e, x->name, tmpl_pos_after(x->at, x->p, q),
                              "bad escape in filter argument (only \\\" and \\\\)");
        }
        q++;
    }
    if (q >= x->end)
        return tmpl_error(e, x->name, x->at, "unterminated string in filter argument");
    t->kind = X_STRING;
    t->s = x->p + 1;
    t->n = (size_t)(q - t->s);
    x->at = tmpl_pos_after(x->at, x->p, q + 1);
    x->p = q + 1;
    return 0;
}

int tmpl_xscan_next(struct xscan *x, struct xtok *t, struct err *e)
{
    const char *q;

    while (x->p < x->end && is_blank(*x->p)) {
        x->p++;
        x->at.col++;
    }
    t->at = x->at;
    t->s = x->p;
    t->n = 0;
    if (x->p == x->end) {
        t->kind = X_END;
        return 0;
    }
    if (*x->p == '"')
        return scan_string(x, t, e);
    if (*x->p == '|' || *x->p == ':') {
        t->kind = *x->p == '|' ? X_PIPE : X_COLON;
        t->n = 1;
        x->p++;
        x->at.col++;
        return 0;
    }
    for (q = x->p; q < x->end && !is_blank(*q) && *q != '|' && *q != ':' && *q != '"'; q++)
        ;
    t->kind = X_WORD;
    t->n = (size_t)(q - x->p);
    x->at = tmpl_pos_after(x->at, x->p, q);
    x->p = q;
    return 0;
}

char *tmpl_unquote(const char *s, size_t n, size_t *len)
{
    char *out = xmalloc(n + 1);
    size_t i, k = 0;

    for (i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n)
            i++;
        out[k++] = s[i];
    }
    out[k] = '\0';
    *len = k;
    return out;
}

static int verror(struct err *e, int code, const char *name, struct tpos at, const char *fmt,
                  va_list ap)
{
    char what[ERR_MSG_MAX];

    vsnprintf(what, sizeof what, fmt, ap);
    return err_set(e, code, "%s:%d:%d: %s", name, at.line, at.col, what);
}

int tmpl_error(struct err *e, const char *name, struct tpos at, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = verror(e, ERR_INPUT, name, at, fmt, ap);
    va_end(ap);
    return rc;
}

int tmpl_error_code(struct err *e, int code, const char *name, struct tpos at, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = verror(e, code, name, at, fmt, ap);
    va_end(ap);
    return rc;
}

void tmpl_msg_quote(char *out, size_t cap, const char *s, size_t n)
{
    size_t i, k = 0;
    int cut = n > cap - 1;

    if (cut) {
        n = cap > 4 ? cap - 4 : 0;
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80) /* keep characters whole */
            n--;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] < 0xA0) {
            i++; /* a C1 control, U+0080-U+009F */
            c = 0;
        }
        out[k++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
    }
    if (cut && cap > 4) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}
