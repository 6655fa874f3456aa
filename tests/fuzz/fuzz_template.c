/* libFuzzer target: the template parser and renderer (SPEC §3).  The first
 * byte picks the output mode and locale; the rest is the template text,
 * parsed then rendered against a small fixed context (strings, an empty
 * value, an absent document field, lists for #each).  A lookup budget
 * bounds the work of nested #each loops. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct var {
    const char *name;
    enum tmpl_vtype type;
    const char *str;
    size_t count;
};

static const struct var vars[] = {
    {"contact.first_name", TMPL_STR, "\xc3\x89lodie", 0},
    {"contact.last_name", TMPL_STR, "Dupont\r\nBcc: x@y", 0},
    {"contact.company", TMPL_EMPTY, NULL, 0},
    {"doc.amount", TMPL_STR, "1234.5", 0},
    {"doc.due_date", TMPL_STR, "2026-12-15", 0},
    {"doc.number", TMPL_STR, "<F&1>\"'", 0},
    {"doc.gone", TMPL_ABSENT, "document has no field 'gone'", 0},
    {"doc.lines", TMPL_LIST, NULL, 3},
    {"doc.none", TMPL_LIST, NULL, 0},
    {"label", TMPL_STR, "a\xff\xc3", 0},
    {"price", TMPL_STR, "-0.005", 0},
    {"when", TMPL_STR, "2026-02-30", 0},
};

struct ctx {
    size_t lookups;
};

#define LOOKUP_BUDGET 20000

static int lookup(void *c, const char *name, int key, const struct tmpl_scope *sc, size_t nsc,
                  struct tmpl_val *out)
{
    struct ctx *x = c;
    size_t i;

    (void)key;
    (void)sc;
    (void)nsc;
    if (++x->lookups > LOOKUP_BUDGET)
        return ERR_INPUT;
    for (i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        if (strcmp(vars[i].name, name) == 0) {
            out->type = vars[i].type;
            out->str = vars[i].type == TMPL_ABSENT ? NULL : vars[i].str;
            out->why = vars[i].type == TMPL_ABSENT ? vars[i].str : NULL;
            out->count = vars[i].count;
            return 0;
        }
    }
    out->type = TMPL_MISSING;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum tmpl_mode modes[] = {TMPL_TEXT, TMPL_HTML, TMPL_HEADER};
    struct tmpl_locale loc = {0};
    struct tmpl *t = NULL;
    struct err e = {0};
    struct buf out;
    struct ctx x = {0};
    uint8_t sel;

    if (size < 1)
        return 0;
    sel = data[0];
    loc.lang = sel & 4 ? "en" : "fr";
    if (tmpl_parse("fuzz.tmpl", 1, (const char *)data + 1, size - 1, &t, &e) == 0) {
        buf_init(&out, 1 << 20);
        tmpl_render(t, modes[sel % 3], &loc, lookup, &x, &out, &e);
        buf_release(&out);
        tmpl_free(t);
    }
    err_clear(&e);
    return 0;
}
