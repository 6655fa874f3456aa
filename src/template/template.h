/* The template language of SPEC §3 (lexer -> parser -> tree -> renderer):
 * placeholders {{ns.field}} with filters (|upper |lower |date |money
 * |default:"..."), sections {{#if x}}...{{else}}...{{/if}} and
 * {{#each list}}...{{/each}}, and the template file layout (a "Subject:"
 * line, a blank line, the text body, an optional HTML part after a line
 * "--- html ---").  Values come from the caller through a lookup callback:
 * this module knows nothing of contacts or documents.  Never prints. */
#ifndef POSTIER_TEMPLATE_H
#define POSTIER_TEMPLATE_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct tmpl; /* one parsed template text (subject, text body or HTML body) */

/* How rendered values are written out. */
enum tmpl_mode {
    TMPL_TEXT,   /* as is */
    TMPL_HTML,   /* & < > " ' escaped in every value (never in the template) */
    TMPL_HEADER, /* CR, LF, TAB and other controls in values become spaces */
};

/* A value found by the lookup callback. */
enum tmpl_vtype {
    TMPL_MISSING, /* no such name: an "unknown placeholder" error */
    TMPL_EMPTY,   /* a known name without a value: renders "", false in #if */
    TMPL_STR,     /* text (UTF-8) */
    TMPL_LIST,    /* a list of count items, for #each (and true in #if when count > 0) */
    TMPL_ABSENT,  /* a name this data lacks (a document without that field): false in
                   * #if, replaced by |default:"...", else an error saying why */
};
struct tmpl_val {
    enum tmpl_vtype type;
    const char *str; /* TMPL_STR: borrowed until the next lookup call */
    size_t count;    /* TMPL_LIST */
    const char *why; /* TMPL_ABSENT: the error's text, borrowed as str */
};

/* The enclosing #each loops when a name is looked up, innermost last:
 * inside {{#each doc.lines}} at item 2, {{label}} is looked up as "label"
 * with scopes = [{"doc.lines", 2}]; the callback decides whether it is a
 * field of the item or an outer name. */
struct tmpl_scope {
    const char *list;
    size_t index;
};

/* Returns 0 and fills *out, or a negative ERR_* to abort the render.  key
 * is what tmpl_bind's function returned for this name, -1 when the
 * template was not bound (the callback then works from name alone). */
typedef int (*tmpl_lookup_fn)(void *ctx, const char *name, int key,
                              const struct tmpl_scope *scopes, size_t nscopes,
                              struct tmpl_val *out);

/* Rendering locale for |date and |money: "fr" (22/11/2026, 1 234,56 €) or
 * "en" (22/11/2026, €1,234.56), and the bound on loops: every iteration of
 * every {{#each}} (nested ones multiply) counts; past max_iterations (0:
 * TMPL_MAX_ITERATIONS) the render fails.  iterations, when set, is a
 * counter the caller shares between the renders of one message (subject,
 * text, HTML); NULL counts this render alone. */
#define TMPL_MAX_ITERATIONS 100000UL
struct tmpl_locale {
    const char *lang;
    unsigned long max_iterations;
    unsigned long *iterations;
};

/* Parses text (n bytes of UTF-8) into *out.  name, first_line and
 * first_col say where the text sits in its file, for messages.  Errors:
 * ERR_INPUT "name:line:col: what" (unclosed tag, unknown filter, stray
 * {{/if}}, unbalanced sections, bad name...). */
int tmpl_parse(const char *name, int first_line, const char *text, size_t n, struct tmpl **out,
               struct err *e);
void tmpl_free(struct tmpl *t);

/* Renders t, appending to out.  An unknown name (TMPL_MISSING), an #each
 * over a non-list, or a filter that cannot apply to the value (|date of
 * "soon", |money of "abc") is ERR_INPUT "name:line:col: unknown
 * placeholder 'x'" (or what is wrong); so is a TMPL_ABSENT value written
 * without |default ("name:line:col: <why>"), as are loops past the bound
 * ("name:line:col: more than N loop iterations"); out is then left as it
 * was. */
int tmpl_render(const struct tmpl *t, enum tmpl_mode mode, const struct tmpl_locale *loc,
                tmpl_lookup_fn lookup, void *ctx, struct buf *out, struct err *e);

/* Calls fn for every name t refers to (placeholders, #if and #each
 * subjects), with the names of the enclosing #each lists, so that
 * `templates check` can report unknown names without data.  fn returning
 * non-zero stops; its value is returned. */
typedef int (*tmpl_name_fn)(void *ctx, const char *name, const char *const *lists,
                            size_t nlists, int line, int col);
int tmpl_names(const struct tmpl *t, tmpl_name_fn fn, void *ctx);

/* Lets the caller work out once per template what each name means,
 * rather than from its text at every lookup: fn is called for every name
 * t refers to (as tmpl_names, with the enclosing #each lists) and the key
 * it returns is handed to the lookup callback with that name at each
 * render.  fn returning a negative ERR_* stops; its value is returned and
 * t's names keep the keys given so far (the others -1). */
typedef int (*tmpl_bind_fn)(void *ctx, const char *name, const char *const *lists,
                            size_t nlists);
int tmpl_bind(struct tmpl *t, tmpl_bind_fn fn, void *ctx);

/* A template file of SPEC §3 split into parts and parsed.  html is NULL
 * when the file has no "--- html ---" part; for an SMS template (no
 * Subject line) subject is NULL too. */
struct tmpl_file {
    struct tmpl *subject, *text, *html;
    char *source;      /* the file's bytes (history records their SHA-256) */
    size_t source_len;
};

/* Loads and parses path.  sms: the file has no Subject line.  Errors:
 * ERR_IO (cannot read), ERR_INPUT "path:line:col: ..." (missing Subject
 * line or blank line after it, parse errors). */
int tmpl_file_load(const char *path, int sms, struct tmpl_file **out, struct err *e);
void tmpl_file_free(struct tmpl_file *f);

/* Copies the shipped templates (root/<name>/<files> of the first of roots
 * that can be read) into dest when dest is missing or empty, and sets
 * *copied to the number of files copied; a folder with anything in it is
 * the user's: nothing is done (*copied 0).  Never overwrites a file.
 * Errors: ERR_IO (no root readable, cannot create or write). */
int tmpl_install(const char *const *roots, size_t nroots, const char *dest, int *copied,
                 struct err *e);

#endif
