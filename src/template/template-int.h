/* Private to src/template: the tokens of the lexer, the tree the parser
 * builds and the renderer walks, limits, and small shared helpers.  The
 * lexer works on two levels: text versus {{tags}} (tmpl_lex_next), then the
 * words, pipes and strings inside one tag (tmpl_xscan_next). */
#ifndef POSTIER_TEMPLATE_INT_H
#define POSTIER_TEMPLATE_INT_H

#include <stddef.h>

#include "template.h"
#include "util/err.h"

#define TMPL_MAX_DEPTH 16        /* nested #if / #each sections */
#define TMPL_MAX_NAME 128        /* bytes in a placeholder name */
#define TMPL_MAX_FILTERS 16      /* filters chained on one placeholder */
#define TMPL_FILE_MAX (1u << 20) /* bytes in a template file */

/* A position in the template's file: 1-based line, 1-based column counted
 * in characters (UTF-8 code points), as an editor shows it. */
struct tpos {
    int line, col;
};

/* Tokens of the outer level.  Text never spans a newline: a text token ends
 * with its line's '\n', which lets the lexer drop standalone lines. */
enum tok_kind {
    TOK_EOF,
    TOK_TEXT,    /* s, n: literal bytes */
    TOK_VAR,     /* {{ ... }}: s, n is what is between the braces */
    TOK_OPEN,    /* {{# ... }}: s, n after the '#' */
    TOK_CLOSE,   /* {{/ ... }}: s, n after the '/' */
    TOK_ELSE,    /* {{else}} */
    TOK_COMMENT, /* {{! ... }} */
};

struct tok {
    enum tok_kind kind;
    const char *s;
    size_t n;
    struct tpos at; /* the first text byte, or the tag's "{{" */
    struct tpos in; /* tags: where s starts */
};

struct lexer {
    const char *name; /* for messages */
    const char *p, *end;
    struct tpos at;         /* position of p */
    int bol;                /* p is at the beginning of a line */
    const char *standalone; /* in a standalone line: its end, else NULL */
};

/* Tokens inside one tag. */
enum xkind {
    X_END,
    X_WORD,   /* a run of anything but blanks, '|', ':' and '"' */
    X_PIPE,   /* | */
    X_COLON,  /* : */
    X_STRING, /* "..." with \" and \\ escapes: s, n is the raw inside */
};

struct xtok {
    enum xkind kind;
    const char *s;
    size_t n;
    struct tpos at;
};

struct xscan {
    const char *name;
    const char *p, *end;
    struct tpos at;
};

/* Position after the bytes [p, q) that start at `at`. */
struct tpos tmpl_pos_after(struct tpos at, const char *p, const char *q);

void tmpl_lex_init(struct lexer *lx, const char *name, const char *text, size_t n,
                   struct tpos start);
/* Next token into *t: 0, or ERR_INPUT "name:line:col: unclosed '{{'". */
int tmpl_lex_next(struct lexer *lx, struct tok *t, struct err *e);

/* Scans the inside of the tag token t. */
void tmpl_xscan_init(struct xscan *x, const char *name, const struct tok *t);
/* Next token inside the tag: 0, or ERR_INPUT (unterminated string, bad
 * escape). */
int tmpl_xscan_next(struct xscan *x, struct xtok *t, struct err *e);

/* The decoded copy (caller frees) of a X_STRING token's raw bytes. */
char *tmpl_unquote(const char *s, size_t n, size_t *len);

/* Sets e to ERR_INPUT "name:line:col: <fmt>" and returns ERR_INPUT. */
int tmpl_error(struct err *e, const char *name, struct tpos at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Same with another code (lookup failures, output too big). */
int tmpl_error_code(struct err *e, int code, const char *name, struct tpos at, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Copies at most cap-1 bytes of s (n bytes) into out for quoting in a
 * message, control characters shown as '?', "..." appended when cut. */
void tmpl_msg_quote(char *out, size_t cap, const char *s, size_t n);

/* The tree. */
enum filter_kind { F_UPPER, F_LOWER, F_DATE, F_MONEY, F_DEFAULT };

struct filter {
    enum filter_kind kind;
    const char *fname; /* "upper"... for messages (static) */
    char *arg;         /* default's text, decoded; NULL for the others */
    size_t arg_len;
    struct tpos at; /* the filter's name */
};

enum node_kind { N_TEXT, N_VAR, N_IF, N_EACH };

struct node {
    enum node_kind kind;
    const char *text; /* N_TEXT: bytes inside the tmpl's copy of the source */
    size_t len;
    char *name;      /* N_VAR, N_IF, N_EACH */
    int key;         /* the name's key (tmpl_bind), -1 until bound */
    struct tpos tag; /* the tag's "{{" */
    struct tpos at;  /* the name */
    struct filter *filters;
    size_t nfilters;
    struct node *body; /* N_IF: then part; N_EACH: the loop body */
    struct node *alt;  /* N_IF: the {{else}} part */
    struct node *next;
};

struct tmpl {
    char *name; /* file name for messages */
    char *src;  /* the parsed text; N_TEXT nodes point into it */
    size_t len;
    struct node *root;
};

/* tmpl_parse for text that starts at line:col of its file (the subject
 * follows "Subject: " on line 1). */
int tmpl_parse_at(const char *name, struct tpos start, const char *text, size_t n,
                  struct tmpl **out, struct err *e);

#endif
