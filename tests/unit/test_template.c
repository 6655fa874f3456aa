/* Unit tests for src/template: every construct, every syntax and render
 * error with its exact file:line:col message, filters in both locales,
 * escaping per mode with hostile values, standalone-line handling, scopes
 * seen by the lookup callback, and template files (split, CRLF, BOM, SMS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "template/template.h"
#include "util/buf.h"
#include "util/err.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define NNBSP "\xe2\x80\xaf"
#define NBSP "\xc2\xa0"
#define EURO "\xe2\x82\xac"
#define FFFD "\xef\xbf\xbd"
#define ELODIE "\xc3\xa9lodie"

/* The fake data: a key is a name, or "scope path:name" for per-item values;
 * lookups try the innermost scope path first, then outer ones, then none. */
struct fake_var {
    const char *key;
    enum tmpl_vtype type;
    const char *str;
    size_t count;
};

/* clang-format off */
static const struct fake_var fake_vars[] = {
    {"contact.first_name", TMPL_STR, ELODIE, 0},
    {"contact.last_name", TMPL_STR, "Dupont", 0},
    {"empty", TMPL_EMPTY, NULL, 0},
    {"doc.gone", TMPL_ABSENT, "document T has no field 'gone'", 0}, /* str: the why */
    {"blank", TMPL_STR, "", 0},
    {"flag", TMPL_STR, "yes", 0},
    {"doc.amount", TMPL_STR, "1234.5", 0},
    {"doc.due_date", TMPL_STR, "2026-12-15", 0},
    {"doc.lines", TMPL_LIST, NULL, 3},
    {"nolist", TMPL_LIST, NULL, 0},
    {"evil", TMPL_STR, "<script>alert('x')&\"</script>", 0},
    {"crlf", TMPL_STR, "Hello\r\nBcc: x@y\tz\x7f\xc2\x85!", 0},
    {"bad", TMPL_STR, "a\xff" "b\xc3", 0},
    {"doc.lines[0]:label", TMPL_STR, "a", 0},
    {"doc.lines[1]:label", TMPL_STR, "b", 0},
    {"doc.lines[2]:label", TMPL_STR, "c", 0},
    {"doc.lines[0]:note", TMPL_STR, "n0", 0},
    {"doc.lines[1]:note", TMPL_STR, "n1", 0},
    {"doc.lines[0]:line.tags", TMPL_LIST, NULL, 2},
    {"doc.lines[1]:line.tags", TMPL_LIST, NULL, 0},
    {"doc.lines[2]:line.tags", TMPL_LIST, NULL, 1},
    {"doc.lines[0]/line.tags[0]:tag", TMPL_STR, "x", 0},
    {"doc.lines[0]/line.tags[1]:tag", TMPL_STR, "y", 0},
    {"doc.lines[2]/line.tags[0]:tag", TMPL_STR, "z", 0},
};
/* clang-format on */

struct fake {
    const char *v;   /* the value of the name "v" (NULL: EMPTY) */
    struct buf *log; /* when set, every lookup is logged as "name@path " */
};

static void scope_path(char *out, size_t cap, const struct tmpl_scope *sc, size_t n)
{
    size_t i, k = 0;

    out[0] = '\0';
    for (i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s%s[%zu]", i ? "/" : "", sc[i].list, sc[i].index);
}

static int fake_lookup(void *ctx, const char *name, int bound, const struct tmpl_scope *sc,
                       size_t nsc, struct tmpl_val *out)
{
    struct fake *f = ctx;
    char path[200], key[300];
    size_t depth, i;

    assert_int_equal(bound, -1); /* these templates are never bound */
    if (f->log) {
        scope_path(path, sizeof path, sc, nsc);
        buf_printf(f->log, "%s@%s ", name, path);
    }
    if (strcmp(name, "fail") == 0)
        return ERR_DB;
    if (strcmp(name, "v") == 0) {
        out->type = f->v ? TMPL_STR : TMPL_EMPTY;
        out->str = f->v;
        return 0;
    }
    for (depth = nsc + 1; depth-- > 0;) {
        scope_path(path, sizeof path, sc, depth);
        snprintf(key, sizeof key, "%s%s%s", path, depth ? ":" : "", name);
        for (i = 0; i < N_ELEMS(fake_vars); i++) {
            if (strcmp(fake_vars[i].key, key) == 0) {
                out->type = fake_vars[i].type;
                out->str = fake_vars[i].str;
                if (out->type == TMPL_ABSENT)
                    out->why = out->str, out->str = NULL;
                out->count = fake_vars[i].count;
                return 0;
            }
        }
    }
    out->type = TMPL_MISSING;
    return 0;
}

/* Parses src as "t.tmpl" (line 1) and renders it onto out. */
static int run(const char *src, enum tmpl_mode mode, const char *lang, struct fake *f,
               struct buf *out, struct err *e)
{
    struct tmpl_locale loc = {.lang = lang};
    struct tmpl *t = NULL;
    int rc = tmpl_parse("t.tmpl", 1, src, strlen(src), &t, e);

    if (rc)
        return rc;
    rc = tmpl_render(t, mode, &loc, fake_lookup, f, out, e);
    tmpl_free(t);
    return rc;
}

static void check_render(size_t i, const char *src, enum tmpl_mode mode, const char *lang,
                         const char *v, const char *want)
{
    struct fake f = {v, NULL};
    struct err e = {0};
    struct buf out;
    int rc;

    buf_init(&out, 0);
    rc = run(src, mode, lang, &f, &out, &e);
    if (rc || strcmp(buf_str(&out), want) != 0)
        print_error("case %zu: %s -> [%s] (%s)\n", i, src, buf_str(&out), e.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(buf_str(&out), want);
    buf_release(&out);
}

struct rcase {
    const char *src;
    enum tmpl_mode mode;
    const char *want;
};

/* clang-format off */
static const struct rcase render_cases[] = {
    {"Hello {{contact.first_name}}!", TMPL_TEXT, "Hello " ELODIE "!"},
    /* an absent field: false in #if, replaced by |default */
    {"{{#if doc.gone}}x{{else}}y{{/if}}[{{doc.gone|upper|default:\"-\"}}]", TMPL_TEXT, "y[-]"},
    {"{{ contact.first_name }}|{{\tcontact.last_name\t}}", TMPL_TEXT, ELODIE "|Dupont"},
    {"no tags at all\n", TMPL_TEXT, "no tags at all\n"},
    {"", TMPL_TEXT, ""},
    {"{{contact.first_name|upper}}", TMPL_TEXT, "\xc3\x89LODIE"},
    {"{{contact.last_name|lower}} {{contact.last_name | upper}}", TMPL_TEXT, "dupont DUPONT"},
    {"{{empty|default:\"l'expert\"}}", TMPL_TEXT, "l'expert"},
    {"{{blank|default:\"n/a\"|upper}}", TMPL_TEXT, "N/A"},
    {"{{empty|lower|default:\"\xe2\x80\x94\"}}", TMPL_TEXT, "\xe2\x80\x94"},
    {"{{contact.last_name|default:\"x\"}}", TMPL_TEXT, "Dupont"},
    {"{{empty|default:\"a \\\"q\\\" \\\\ b\"}}", TMPL_TEXT, "a \"q\" \\ b"},
    {"{{empty|default:\"}}\"}}", TMPL_TEXT, "}}"},
    {"{{empty|date|default:\"-\"}}{{empty|money}}{{empty}}", TMPL_TEXT, "-"},
    {"{{doc.amount|money}}", TMPL_TEXT, "1" NNBSP "234,50" NBSP EURO},
    {"{{doc.due_date|date}}", TMPL_TEXT, "15/12/2026"},
    {"\\{{contact.first_name}} \\{{", TMPL_TEXT, "{{contact.first_name}} {{"},
    {"a\\b {x} }} {", TMPL_TEXT, "a\\b {x} }} {"},
    {"a {{! a comment with {{ and \" }}b", TMPL_TEXT, "a b"},
    {"a{{!\nmulti-line\n}}b", TMPL_TEXT, "ab"},
    {"{{#if flag}}Y{{else}}N{{/if}}", TMPL_TEXT, "Y"},
    {"{{#if empty}}Y{{else}}N{{/if}}", TMPL_TEXT, "N"},
    {"{{#if blank}}Y{{/if}}", TMPL_TEXT, ""},
    {"{{#if doc.lines}}L{{/if}}{{#if nolist}}L{{else}}0{{/if}}", TMPL_TEXT, "L0"},
    {"{{#each doc.lines}}{{label}},{{/each}}", TMPL_TEXT, "a,b,c,"},
    {"{{#each nolist}}x{{/each}}", TMPL_TEXT, ""},
    {"{{#each doc.lines}}{{contact.last_name}}{{/each}}", TMPL_TEXT, "DupontDupontDupont"},
    {"{{#  if   flag  }}y{{/ if }}", TMPL_TEXT, "y"},
    /* nested each inside if inside each; scopes decide the values */
    {"{{#each doc.lines}}\n{{label}}:\n{{#if line.tags}}\n{{#each line.tags}}\n - {{tag}}\n"
     "{{/each}}\n{{else}}\n (none)\n{{/if}}\n{{/each}}\n", TMPL_TEXT,
     "a:\n - x\n - y\nb:\n (none)\nc:\n - z\n"},
    /* standalone lines swallow their newline and indentation */
    {"A\n{{#if flag}}\nB\n{{/if}}\nC\n", TMPL_TEXT, "A\nB\nC\n"},
    {"A\n  {{#if flag}}  \nB\n\t{{/if}}\nC", TMPL_TEXT, "A\nB\nC"},
    {"A\r\n{{#if flag}}\r\nB\r\n{{/if}}\r\nC\r\n", TMPL_TEXT, "A\r\nB\r\nC\r\n"},
    {"A {{#if flag}}B{{/if}}\nC", TMPL_TEXT, "A B\nC"},
    {"A\n{{! note }}\nB", TMPL_TEXT, "A\nB"},
    {"{{#if empty}}\nY\n{{else}}\nN\n{{/if}}\n", TMPL_TEXT, "N\n"},
    {"{{flag}}\n", TMPL_TEXT, "yes\n"},
    {"{{#if flag}}{{#if flag}}\nX\n{{/if}} {{/if}}\n", TMPL_TEXT, "X\n"},
    {"{{#if flag}}\nX\n{{/if}}", TMPL_TEXT, "X\n"},
    {"\\{{#if}}\n", TMPL_TEXT, "{{#if}}\n"},
    {"  {{#if flag}} x{{/if}}\n", TMPL_TEXT, "   x\n"},
    {"{{#each doc.lines}}{{#each line.tags}}{{tag}}{{label}}{{/each}}{{/each}}", TMPL_TEXT,
     "xayazc"},
    {"{{#each doc.lines}}\n- {{label}}\n{{/each}}\n\nEnd\n", TMPL_TEXT, "- a\n- b\n- c\n\nEnd\n"},
    {"\n\n{{#if flag}}\n\n{{/if}}\n\n", TMPL_TEXT, "\n\n\n\n"},
    /* modes: values escaped, template text never */
    {"<p class=\"x\">{{evil}}</p>", TMPL_HTML,
     "<p class=\"x\">&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;&lt;/script&gt;</p>"},
    {"{{evil}}", TMPL_TEXT, "<script>alert('x')&\"</script>"},
    {"{{empty|default:\"<b>\"}} & <b>", TMPL_HTML, "&lt;b&gt; & <b>"},
    {"Re: {{crlf}}", TMPL_HEADER, "Re: Hello  Bcc: x@y z  !"},
    {"Re:\t{{crlf}}", TMPL_TEXT, "Re:\tHello\r\nBcc: x@y\tz\x7f\xc2\x85!"},
    {"{{contact.first_name}} {{evil}}", TMPL_HEADER, ELODIE " <script>alert('x')&\"</script>"},
    {"{{bad}}", TMPL_TEXT, "a" FFFD "b" FFFD},
    {"{{bad}}", TMPL_HTML, "a" FFFD "b" FFFD},
    {"{{bad|upper}}", TMPL_TEXT, "A" FFFD "B" FFFD},
};
/* clang-format on */

static void renders(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(render_cases); i++)
        check_render(i, render_cases[i].src, render_cases[i].mode, "fr", NULL,
                     render_cases[i].want);
}

struct fcase {
    const char *in, *fr, *en; /* NULL: a render error */
};

/* clang-format off */
static const struct fcase money_cases[] = {
    {"1234.5", "1" NNBSP "234,50" NBSP EURO, EURO "1,234.50"},
    {"-3", "-3,00" NBSP EURO, "-" EURO "3.00"},
    {"1234,56", "1" NNBSP "234,56" NBSP EURO, EURO "1,234.56"},
    {"1234,5", "1" NNBSP "234,50" NBSP EURO, EURO "1,234.50"},
    {"0.005", "0,01" NBSP EURO, EURO "0.01"},
    {"0.004999", "0,00" NBSP EURO, EURO "0.00"},
    {"-0.005", "-0,01" NBSP EURO, "-" EURO "0.01"},
    {"-0.001", "0,00" NBSP EURO, EURO "0.00"},
    {"2.675", "2,68" NBSP EURO, EURO "2.68"},
    {"999.995", "1" NNBSP "000,00" NBSP EURO, EURO "1,000.00"},
    {"1234567890123.456", "1" NNBSP "234" NNBSP "567" NNBSP "890" NNBSP "123,46" NBSP EURO,
     EURO "1,234,567,890,123.46"},
    {"9999999999999999999999999999999999999999.999",
     "10" NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000"
     NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000,00" NBSP EURO,
     EURO "10,000,000,000,000,000,000,000,000,000,000,000,000,000.00"},
    {"-9999999999999999999999999999999999999999.999", /* the longest result */
     "-10" NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000"
     NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000" NNBSP "000,00" NBSP EURO,
     "-" EURO "10,000,000,000,000,000,000,000,000,000,000,000,000,000.00"},
    {"0", "0,00" NBSP EURO, EURO "0.00"},
    {"007.1", "7,10" NBSP EURO, EURO "7.10"},
    {".5", "0,50" NBSP EURO, EURO "0.50"},
    {"5.", "5,00" NBSP EURO, EURO "5.00"},
    {" 42 ", "42,00" NBSP EURO, EURO "42.00"},
    {"+1", "1,00" NBSP EURO, EURO "1.00"},
    {"100", "100,00" NBSP EURO, EURO "100.00"},
    {"100000", "100" NNBSP "000,00" NBSP EURO, EURO "100,000.00"},
    {"-1000000", "-1" NNBSP "000" NNBSP "000,00" NBSP EURO, "-" EURO "1,000,000.00"},
    {"abc", NULL, NULL}, {"1.2.3", NULL, NULL}, {"1,234.56", NULL, NULL}, {"-", NULL, NULL},
    {".", NULL, NULL}, {"12a", NULL, NULL}, {"1e5", NULL, NULL}, {"1 234", NULL, NULL},
    {"--1", NULL, NULL}, {"12345678901234567890123456789012345678901", NULL, NULL},
};
static const struct fcase date_cases[] = {
    {"2026-12-15", "15/12/2026", "15/12/2026"},
    {"2026-12-15T10:00:00Z", "15/12/2026", "15/12/2026"},
    {"2024-02-29 08:30", "29/02/2024", "29/02/2024"},
    {"soon", NULL, NULL}, {"2026-13-01", NULL, NULL}, {"2026-02-30", NULL, NULL},
    {"15/12/2026", NULL, NULL}, {"2026-12-15x", NULL, NULL}, {"2026-12-1", NULL, NULL},
};
/* clang-format on */

static void check_filter(const struct fcase *c, size_t n, const char *src, const char *what)
{
    char msg[200];
    size_t i;

    for (i = 0; i < n; i++) {
        struct fake f = {c[i].in, NULL};
        struct err e = {0};
        struct buf out;

        if (c[i].fr) {
            check_render(i, src, TMPL_TEXT, "fr", c[i].in, c[i].fr);
            check_render(i, src, TMPL_TEXT, "en", c[i].in, c[i].en);
            check_render(i, src, TMPL_TEXT, "en_GB", c[i].in, c[i].en);
            continue;
        }
        buf_init(&out, 0);
        assert_int_equal(run(src, TMPL_TEXT, "fr", &f, &out, &e), ERR_INPUT);
        snprintf(msg, sizeof msg, "t.tmpl:1:5: |%s: '%s' is not %s",
                 src[4] == 'm' ? "money" : "date", c[i].in, what);
        assert_string_equal(e.msg, msg);
        assert_int_equal(out.len, 0);
        buf_release(&out);
    }
}

static void money_filter(void **state)
{
    (void)state;
    check_filter(money_cases, N_ELEMS(money_cases), "{{v|money}}", "a number");
}

static void date_filter(void **state)
{
    (void)state;
    check_filter(date_cases, N_ELEMS(date_cases), "{{v|date}}", "a date (YYYY-MM-DD)");
}

struct ecase {
    const char *src;
    const char *msg;
};

/* clang-format off */
static const struct ecase parse_errors[] = {
    {"Hello {{name", "t.tmpl:1:7: unclosed '{{' (no '}}' on this line)"},
    {"ab\n  {{x\n}}", "t.tmpl:2:3: unclosed '{{' (no '}}' on this line)"},
    {"{{x|default:\"abc}}", "t.tmpl:1:1: unclosed '{{' (no '}}' on this line)"},
    {"{{/if}}", "t.tmpl:1:1: '{{/if}}' without '{{#if}}'"},
    {"a\n {{/each}}", "t.tmpl:2:2: '{{/each}}' without '{{#each}}'"},
    {"x\n{{#if a}}\n{{/each}}", "t.tmpl:3:1: '{{/each}}' closes '{{#if}}' opened at 2:1"},
    {"{{#each a}}{{/if}}", "t.tmpl:1:12: '{{/if}}' closes '{{#each}}' opened at 1:1"},
    {"{{else}}", "t.tmpl:1:1: '{{else}}' outside '{{#if}}'"},
    {"{{#each a}}{{else}}{{/each}}", "t.tmpl:1:12: '{{else}}' outside '{{#if}}'"},
    {"{{#if a}}{{else}}{{else}}{{/if}}",
     "t.tmpl:1:18: second '{{else}}' in '{{#if}}' opened at 1:1"},
    {"a\n  {{#if x}}\nb\n", "t.tmpl:2:3: unterminated '{{#if x}}' (no '{{/if}}')"},
    {"{{#each a}}{{#if b}}{{/if}}", "t.tmpl:1:1: unterminated '{{#each a}}' (no '{{/each}}')"},
    {"{{ Contact.name }}",
     "t.tmpl:1:4: bad name 'Contact.name' (lower-case words [a-z0-9_] joined by '.')"},
    {"{{a..b}}", "t.tmpl:1:3: bad name 'a..b' (lower-case words [a-z0-9_] joined by '.')"},
    {"{{a.}}", "t.tmpl:1:3: bad name 'a.' (lower-case words [a-z0-9_] joined by '.')"},
    {"{{.a}}", "t.tmpl:1:3: bad name '.a' (lower-case words [a-z0-9_] joined by '.')"},
    {"{{a.1b}}", "t.tmpl:1:3: bad name 'a.1b' (lower-case words [a-z0-9_] joined by '.')"},
    {"{{a-b}}", "t.tmpl:1:3: bad name 'a-b' (lower-case words [a-z0-9_] joined by '.')"},
    {"{{#if A}}{{/if}}", "t.tmpl:1:7: bad name 'A' (lower-case words [a-z0-9_] joined by '.')"},
    {"{{}}", "t.tmpl:1:3: missing name in '{{ }}'"},
    {"{{  }}", "t.tmpl:1:5: missing name in '{{ }}'"},
    {"{{x|mony}}", "t.tmpl:1:5: unknown filter 'mony'"},
    {"{{x|Upper}}", "t.tmpl:1:5: unknown filter 'Upper'"},
    {"{{x|}}", "t.tmpl:1:5: missing filter name after '|'"},
    {"{{x||upper}}", "t.tmpl:1:5: missing filter name after '|'"},
    {"{{x|default}}", "t.tmpl:1:5: filter 'default' needs an argument: default:\"...\""},
    {"{{x|default|upper}}", "t.tmpl:1:5: filter 'default' needs an argument: default:\"...\""},
    {"{{x|default:abc}}",
     "t.tmpl:1:13: bad argument for filter 'default': expected a \"double-quoted string\""},
    {"{{x|default:}}",
     "t.tmpl:1:13: bad argument for filter 'default': expected a \"double-quoted string\""},
    {"{{x|upper:\"a\"}}", "t.tmpl:1:10: filter 'upper' takes no argument"},
    {"{{x|default:\"a\\nb\"}}", "t.tmpl:1:15: bad escape in filter argument (only \\\" and \\\\)"},
    {"{{x|default:\"a\" \"b\"}}", "t.tmpl:1:17: unexpected string"},
    {"{{x y}}", "t.tmpl:1:5: unexpected 'y'"},
    {"{{x:}}", "t.tmpl:1:4: unexpected ':'"},
    {"{{#unless x}}", "t.tmpl:1:1: unknown section '{{#unless}}' (expected #if or #each)"},
    {"{{#if a}}{{/fi}}", "t.tmpl:1:10: unknown section '{{/fi}}' (expected /if or /each)"},
    {"{{#if}}", "t.tmpl:1:6: missing name after '{{#if'"},
    {"{{#each a b}}{{/each}}", "t.tmpl:1:11: unexpected 'b'"},
    {"{{#if a|upper}}{{/if}}", "t.tmpl:1:8: unexpected '|'"},
    {"{{/if x}}", "t.tmpl:1:7: unexpected 'x'"},
    {"{{! never closed", "t.tmpl:1:1: unclosed comment '{{!'"},
    {"\xc3\xa9 {{x|nope}}", "t.tmpl:1:7: unknown filter 'nope'"},
    {"ab\n\xff", "t.tmpl:2:1: invalid UTF-8"},
    {"{{x|default:\"\x01\"}} {{\x01}}", "t.tmpl:1:21: bad name '?' (lower-case words [a-z0-9_] "
                                         "joined by '.')"},
};
/* clang-format on */

static void syntax_errors(void **state)
{
    struct tmpl *t = (struct tmpl *)1;
    struct err e;
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(parse_errors); i++) {
        const char *src = parse_errors[i].src;

        err_clear(&e);
        if (tmpl_parse("t.tmpl", 1, src, strlen(src), &t, &e) != ERR_INPUT ||
            strcmp(e.msg, parse_errors[i].msg) != 0)
            print_error("case %zu: %s -> %s\n", i, src, e.msg);
        assert_int_equal(e.code, ERR_INPUT);
        assert_string_equal(e.msg, parse_errors[i].msg);
        assert_null(t);
    }
    /* first_line: a part that starts further down its file */
    assert_int_equal(tmpl_parse("f.eml.tmpl", 10, "ok\n{{x|nope}}", 13, &t, &e), ERR_INPUT);
    assert_string_equal(e.msg, "f.eml.tmpl:11:5: unknown filter 'nope'");
    /* a NUL byte, with an explicit length */
    assert_int_equal(tmpl_parse("t.tmpl", 1, "ab\0c", 4, &t, &e), ERR_INPUT);
    assert_string_equal(e.msg, "t.tmpl:1:3: NUL byte in template");
}

static void nesting_depth(void **state)
{
    struct buf src, out;
    struct fake f = {NULL, NULL};
    struct tmpl *t = NULL;
    struct err e;
    int i;

    (void)state;
    buf_init(&src, 0);
    for (i = 0; i < 16; i++)
        buf_adds(&src, "{{#if flag}}");
    buf_adds(&src, "deep");
    for (i = 0; i < 16; i++)
        buf_adds(&src, "{{/if}}");
    buf_init(&out, 0);
    assert_int_equal(run(buf_str(&src), TMPL_TEXT, "fr", &f, &out, &e), 0);
    assert_string_equal(buf_str(&out), "deep");
    buf_reset(&src);
    for (i = 0; i < 17; i++)
        buf_adds(&src, "{{#if flag}}");
    assert_int_equal(tmpl_parse("t.tmpl", 1, src.data, src.len, &t, &e), ERR_INPUT);
    assert_string_equal(e.msg, "t.tmpl:1:193: sections nested more than 16 deep");
    buf_release(&src);
    buf_release(&out);
}

/* clang-format off */
static const struct ecase render_errors[] = {
    {"Hi {{contact.frist_name}}", "t.tmpl:1:6: unknown placeholder 'contact.frist_name'"},
    {"n {{doc.gone|upper}}", "t.tmpl:1:5: document T has no field 'gone'"},
    {"ok {{flag}}\n  {{ nope|upper }}", "t.tmpl:2:6: unknown placeholder 'nope'"},
    {"{{#if nope}}x{{/if}}", "t.tmpl:1:7: unknown placeholder 'nope'"},
    {"{{#if flag}}{{else}}{{nope}}{{/if}}{{nope2}}", "t.tmpl:1:38: unknown placeholder 'nope2'"},
    {"{{#each contact.first_name}}x{{/each}}",
     "t.tmpl:1:9: 'contact.first_name' is not a list ({{#each contact.first_name}})"},
    {"{{#each empty}}{{/each}}", "t.tmpl:1:9: 'empty' is not a list ({{#each empty}})"},
    {"{{doc.lines}}", "t.tmpl:1:3: 'doc.lines' is a list: use {{#each doc.lines}}"},
    {"{{#each doc.lines}}{{note}};{{/each}}", "t.tmpl:1:22: unknown placeholder 'note'"},
    {"{{#each doc.lines}}{{label|money}}{{/each}}", "t.tmpl:1:28: |money: 'a' is not a number"},
    {"{{#each doc.lines}}{{#each line.tags}}{{bogus}}{{/each}}{{/each}}",
     "t.tmpl:1:41: unknown placeholder 'bogus'"},
    {"{{contact.last_name|date}}", "t.tmpl:1:21: |date: 'Dupont' is not a date (YYYY-MM-DD)"},
    {"{{crlf|money}}", "t.tmpl:1:8: |money: 'Hello?" "?Bcc: x@y?z?" "?!' is not a number"},
    {"{{fail}}", "t.tmpl:1:3: cannot look up 'fail': database"},
};
/* clang-format on */

/* A failed render leaves the output exactly as it was. */
static void render_errors_keep_output(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(render_errors); i++) {
        struct fake f = {NULL, NULL};
        struct err e = {0};
        struct buf out;
        int rc;

        buf_init(&out, 0);
        buf_adds(&out, "keep:");
        rc = run(render_errors[i].src, TMPL_TEXT, "fr", &f, &out, &e);
        if (rc == 0 || strcmp(e.msg, render_errors[i].msg) != 0)
            print_error("case %zu: %s -> %s\n", i, render_errors[i].src, e.msg);
        assert_int_equal(rc, strstr(e.msg, "database") ? ERR_DB : ERR_INPUT);
        assert_string_equal(e.msg, render_errors[i].msg);
        assert_int_equal(out.len, 5);
        assert_string_equal(buf_str(&out), "keep:");
        assert_int_equal(out.err, 0);
        buf_release(&out);
    }
}

static void output_cap(void **state)
{
    struct fake f = {"0123456789", NULL};
    struct err e;
    struct buf out;

    (void)state;
    buf_init(&out, 12);
    buf_adds(&out, "keep:");
    assert_int_equal(run("abcdef{{v}}", TMPL_TEXT, "fr", &f, &out, &e), ERR_TOOBIG);
    assert_string_equal(e.msg, "t.tmpl:1:7: rendered text larger than 12 bytes");
    assert_string_equal(buf_str(&out), "keep:");
    assert_int_equal(out.err, 0);
    assert_int_equal(run("{{#each doc.lines}}{{label}}...{{/each}}", TMPL_TEXT, "fr", &f, &out, &e),
                     ERR_TOOBIG);
    assert_string_equal(buf_str(&out), "keep:");
    assert_int_equal(run("{{v|upper}}", TMPL_TEXT, "fr", &f, &out, &e), ERR_TOOBIG);
    assert_string_equal(buf_str(&out), "keep:");
    /* |money and |date results count against the cap as |upper's do */
    assert_int_equal(run("{{v|money}}", TMPL_TEXT, "fr", &f, &out, &e), ERR_TOOBIG);
    assert_string_equal(e.msg, "t.tmpl:1:5: rendered text larger than 12 bytes");
    assert_string_equal(buf_str(&out), "keep:");
    f.v = "2026-11-23";
    assert_int_equal(run("{{v|date}}", TMPL_TEXT, "fr", &f, &out, &e), ERR_TOOBIG);
    assert_string_equal(e.msg, "t.tmpl:1:1: rendered text larger than 12 bytes");
    assert_string_equal(buf_str(&out), "keep:");
    buf_reset(&out);
    assert_int_equal(run("{{v|date}}", TMPL_TEXT, "fr", &f, &out, &e), 0);
    assert_string_equal(buf_str(&out), "23/11/2026");
    buf_release(&out);
    buf_init(&out, 15); /* one byte short of the filter's result */
    f.v = "-1234567.5";
    assert_int_equal(run("{{v|money}}", TMPL_TEXT, "en", &f, &out, &e), ERR_TOOBIG);
    assert_string_equal(e.msg, "t.tmpl:1:5: rendered text larger than 15 bytes");
    buf_release(&out);
    buf_init(&out, 16);
    assert_int_equal(run("{{v|money}}", TMPL_TEXT, "en", &f, &out, &e), 0);
    assert_string_equal(buf_str(&out), "-" EURO "1,234,567.50");
    buf_release(&out);
    buf_init(&out, 12);
    buf_adds(&out, "keep:");
    assert_int_equal(run("1234567", TMPL_TEXT, "fr", &f, &out, &e), 0);
    assert_string_equal(buf_str(&out), "keep:1234567");
    buf_release(&out);
}

/* Every iteration of every #each counts against max_iterations (nested
 * ones multiply), over one render or, with a shared counter, over the
 * renders of one message; past it the render fails and out is untouched. */
static void loop_bound(void **state)
{
    static const struct {
        const char *src;
        unsigned long max, shared0; /* shared0: the counter's start, or -1 for none */
        const char *want;           /* output, or the error */
    } cases[] = {
        {"{{#each doc.lines}}{{#each doc.lines}}x{{/each}}{{/each}}", 12, (unsigned long)-1,
         "xxxxxxxxx"},
        {"{{#each doc.lines}}{{#each doc.lines}}x{{/each}}{{/each}}", 11, (unsigned long)-1,
         "t.tmpl:1:28: more than 11 loop iterations"},
        {"{{#each doc.lines}}{{#each doc.lines}}{{/each}}{{/each}}", 11, (unsigned long)-1,
         "t.tmpl:1:28: more than 11 loop iterations"},
        {"{{#each doc.lines}}x{{/each}}", 3, 0, "xxx"},
        {"{{#each doc.lines}}x{{/each}}", 3, 1, "t.tmpl:1:9: more than 3 loop iterations"},
        {"{{#each nolist}}x{{/each}}", 3, 3, ""},
    };
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(cases); i++) {
        unsigned long shared = cases[i].shared0;
        struct tmpl_locale loc = {"fr", cases[i].max,
                                  shared == (unsigned long)-1 ? NULL : &shared};
        struct fake f = {NULL, NULL};
        struct tmpl *t = NULL;
        struct buf out;
        struct err e;
        int rc;

        buf_init(&out, 0);
        buf_adds(&out, "kept:");
        assert_int_equal(tmpl_parse("t.tmpl", 1, cases[i].src, strlen(cases[i].src), &t, &e), 0);
        rc = tmpl_render(t, TMPL_TEXT, &loc, fake_lookup, &f, &out, &e);
        if (strncmp(cases[i].want, "t.tmpl:", 7) == 0) {
            assert_int_equal(rc, ERR_INPUT);
            assert_string_equal(e.msg, cases[i].want);
            assert_string_equal(buf_str(&out), "kept:");
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(buf_str(&out) + 5, cases[i].want);
        }
        tmpl_free(t);
        buf_release(&out);
    }
}

/* The scopes the callback sees, innermost last. */
static void lookup_scopes(void **state)
{
    const char *src = "{{#each doc.lines}}{{#if line.tags}}{{#each line.tags}}{{tag}}"
                      "{{/each}}{{/if}}{{/each}}";
    struct buf log, out;
    struct fake f = {NULL, &log};
    struct err e;

    (void)state;
    buf_init(&log, 0);
    buf_init(&out, 0);
    assert_int_equal(run(src, TMPL_TEXT, "fr", &f, &out, &e), 0);
    assert_string_equal(buf_str(&out), "xyz");
    assert_string_equal(buf_str(&log),
                        "doc.lines@ "
                        "line.tags@doc.lines[0] line.tags@doc.lines[0] "
                        "tag@doc.lines[0]/line.tags[0] tag@doc.lines[0]/line.tags[1] "
                        "line.tags@doc.lines[1] "
                        "line.tags@doc.lines[2] line.tags@doc.lines[2] "
                        "tag@doc.lines[2]/line.tags[0] ");
    buf_release(&log);
    buf_release(&out);
}

static int collect(void *ctx, const char *name, const char *const *lists, size_t nlists, int line,
                   int col)
{
    struct buf *b = ctx;
    size_t i;

    buf_printf(b, "%s[", name);
    for (i = 0; i < nlists; i++)
        buf_printf(b, "%s%s", i ? "," : "", lists[i]);
    buf_printf(b, "]%d:%d ", line, col);
    return strcmp(name, "stop") == 0 ? 7 : 0;
}

static void names(void **state)
{
    const char *src = "{{a|upper}}\n{{#each doc.lines}}{{#if label}}{{label}}{{else}}{{x}}"
                      "{{/if}}{{#each line.tags}}{{ tag }}{{/each}}{{/each}}{{stop}}{{after}}";
    struct tmpl *t = NULL;
    struct err e;
    struct buf b;

    (void)state;
    assert_int_equal(tmpl_parse("t.tmpl", 1, src, strlen(src), &t, &e), 0);
    buf_init(&b, 0);
    assert_int_equal(tmpl_names(t, collect, &b), 7);
    assert_string_equal(buf_str(&b), "a[]1:3 doc.lines[]2:9 label[doc.lines]2:26 "
                                     "label[doc.lines]2:35 x[doc.lines]2:52 "
                                     "line.tags[doc.lines]2:70 tag[doc.lines,line.tags]2:84 "
                                     "stop[]2:110 ");
    buf_release(&b);
    tmpl_free(t);
    tmpl_free(NULL);
}

/* tmpl_bind: each name node gets the key its function returned, and the
 * lookup callback is handed it at every render. */
struct keyed {
    int next;        /* the key the bind function gives next */
    struct buf *log; /* "name[lists]=key " while binding, "name:key " at lookups */
};

static int bind_fn(void *ctx, const char *name, const char *const *lists, size_t nlists)
{
    struct keyed *k = ctx;
    size_t i;

    if (strcmp(name, "stop") == 0)
        return ERR_DB;
    buf_printf(k->log, "%s[", name);
    for (i = 0; i < nlists; i++)
        buf_printf(k->log, "%s%s", i ? "," : "", lists[i]);
    buf_printf(k->log, "]=%d ", k->next);
    return k->next++;
}

static int keyed_lookup(void *ctx, const char *name, int key, const struct tmpl_scope *sc,
                        size_t nsc, struct tmpl_val *out)
{
    struct keyed *k = ctx;

    (void)sc;
    buf_printf(k->log, "%s:%d ", name, key);
    if (strcmp(name, "doc.lines") == 0) {
        out->type = TMPL_LIST;
        out->count = nsc ? 0 : 2;
    } else {
        out->type = TMPL_STR;
        out->str = name;
    }
    return 0;
}

static void bind_keys(void **state)
{
    const char *src = "{{a}}{{#if b}}{{c}}{{else}}{{d}}{{/if}}"
                      "{{#each doc.lines}}{{a}}{{/each}}{{stop}}{{e}}";
    struct tmpl_locale loc = {.lang = "fr"};
    struct tmpl *t = NULL;
    struct keyed k = {10, NULL};
    struct buf log, out;
    struct err e;

    (void)state;
    buf_init(&log, 0);
    buf_init(&out, 0);
    k.log = &log;
    assert_int_equal(tmpl_parse("t.tmpl", 1, src, strlen(src), &t, &e), 0);
    /* unbound: every name has key -1 */
    assert_int_equal(tmpl_render(t, TMPL_TEXT, &loc, keyed_lookup, &k, &out, &e), 0);
    assert_string_equal(buf_str(&log), "a:-1 b:-1 c:-1 doc.lines:-1 a:-1 a:-1 stop:-1 e:-1 ");
    assert_string_equal(buf_str(&out), "acaastope");
    /* a failing bind function stops there: the names after it keep -1 */
    buf_reset(&log);
    assert_int_equal(tmpl_bind(t, bind_fn, &k), ERR_DB);
    assert_string_equal(buf_str(&log), "a[]=10 b[]=11 c[]=12 d[]=13 doc.lines[]=14 "
                                       "a[doc.lines]=15 ");
    buf_reset(&log);
    buf_reset(&out);
    assert_int_equal(tmpl_render(t, TMPL_TEXT, &loc, keyed_lookup, &k, &out, &e), 0);
    assert_string_equal(buf_str(&log), "a:10 b:11 c:12 doc.lines:14 a:15 a:15 stop:-1 e:-1 ");
    assert_string_equal(buf_str(&out), "acaastope");
    assert_int_equal(tmpl_bind(NULL, bind_fn, &k), 0);
    buf_release(&log);
    buf_release(&out);
    tmpl_free(t);
}

/* Template files: written to a fresh directory, loaded, rendered. */
static char tmpdir[64];

static const char *write_file(const char *name, const char *data, size_t n)
{
    static char path[128];
    FILE *fp;

    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
    return path;
}

static void render_part(const struct tmpl *t, enum tmpl_mode mode, const char *want)
{
    struct fake f = {NULL, NULL};
    struct tmpl_locale loc = {.lang = "fr"};
    struct err e;
    struct buf out;

    assert_non_null(t);
    buf_init(&out, 0);
    assert_int_equal(tmpl_render(t, mode, &loc, fake_lookup, &f, &out, &e), 0);
    assert_string_equal(buf_str(&out), want);
    buf_release(&out);
}

struct file_case {
    const char *data;
    int sms;
    const char *subject, *text, *html; /* NULL: absent */
};

/* clang-format off */
static const struct file_case file_cases[] = {
    {"Subject: Relance {{contact.last_name}}\n\nBonjour {{contact.first_name}},\n"
     "--- html ---\n<p>{{evil}}</p>\n", 0,
     "Relance Dupont", "Bonjour " ELODIE ",\n", "<p>&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;"
     "&lt;/script&gt;</p>\n"},
    {"\xef\xbb\xbfsubject:Hi {{crlf}}  \r\n\r\nLine1\r\n{{#if flag}}\r\nLine2\r\n{{/if}}\r\n"
     "--- html ---\r\n<b>x</b>\r\n", 0, "Hi Hello  Bcc: x@y z  !", "Line1\nLine2\n", "<b>x</b>\n"},
    {"SUBJECT: x\n\n", 0, "x", "", NULL},
    {"Subject: x\n\nbody\n--- html --- \n-- html --\n", 0, "x",
     "body\n--- html --- \n-- html --\n", NULL},
    {"Subject: x\n\n--- html ---", 0, "x", "", ""},
    {"Bonjour {{contact.first_name}}\n--- html ---\n", 1, NULL,
     "Bonjour " ELODIE "\n--- html ---\n", NULL},
    {"\xef\xbb\xbf" "Subject: not one\r\n", 1, NULL, "Subject: not one\n", NULL},
};
static const struct ecase file_errors[] = {
    {"Subject: x\nBody\n", "%s:2:1: expected a blank line after the Subject line"},
    {"Subject: x", "%s:2:1: expected a blank line after the Subject line"},
    {"Subject: x\n", "%s:2:1: expected a blank line after the Subject line"},
    {"Hello\n\nBody", "%s:1:1: missing 'Subject:' line (an e-mail template starts with "
                      "'Subject: ...' and a blank line)"},
    {"", "%s:1:1: missing 'Subject:' line (an e-mail template starts with 'Subject: ...' and "
         "a blank line)"},
    {"Subject: {{x|nope}}\n\n", "%s:1:14: unknown filter 'nope'"},
    {"Subject:\t\t{{X}}\n\n", "%s:1:13: bad name 'X' (lower-case words [a-z0-9_] joined by '.')"},
    {"Subject: ok\r\n\r\nline3\r\n{{#if a}}\r\n--- html ---\r\n<p></p>",
     "%s:4:1: unterminated '{{#if a}}' (no '{{/if}}')"},
    {"Subject: ok\n\nbody\n--- html ---\n<p>\n{{/each}}</p>",
     "%s:6:1: '{{/each}}' without '{{#each}}'"},
    {"\xef\xbb\xbfSubject: ok\n\n\xc3(", "%s:3:1: invalid UTF-8"},
};
/* clang-format on */

static void file_loading(void **state)
{
    struct tmpl_file *f = NULL;
    struct err e;
    char want[600];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(file_cases); i++) {
        const struct file_case *c = &file_cases[i];
        const char *path = write_file("a.eml.tmpl", c->data, strlen(c->data));

        if (tmpl_file_load(path, c->sms, &f, &e))
            print_error("case %zu: %s\n", i, e.msg);
        assert_non_null(f);
        assert_int_equal(f->source_len, strlen(c->data));
        assert_memory_equal(f->source, c->data, f->source_len);
        if (c->subject)
            render_part(f->subject, TMPL_HEADER, c->subject);
        else
            assert_null(f->subject);
        render_part(f->text, TMPL_TEXT, c->text);
        if (c->html)
            render_part(f->html, TMPL_HTML, c->html);
        else
            assert_null(f->html);
        tmpl_file_free(f);
    }
    for (i = 0; i < N_ELEMS(file_errors); i++) {
        const char *path = write_file("b.eml.tmpl", file_errors[i].src, strlen(file_errors[i].src));

        f = (struct tmpl_file *)1;
        assert_int_equal(tmpl_file_load(path, 0, &f, &e), ERR_INPUT);
        assert_null(f);
        snprintf(want, sizeof want, file_errors[i].msg, path);
        assert_string_equal(e.msg, want);
    }
    tmpl_file_free(NULL);
}

static void file_limits(void **state)
{
    static char big[(1u << 20) + 1];
    struct tmpl_file *f = NULL;
    struct err e;
    const char *path;

    (void)state;
    memset(big, 'x', sizeof big);
    path = write_file("big.sms.tmpl", big, sizeof big - 1); /* exactly 1 MiB: fine */
    assert_int_equal(tmpl_file_load(path, 1, &f, &e), 0);
    assert_int_equal(f->source_len, sizeof big - 1);
    tmpl_file_free(f);
    path = write_file("big.sms.tmpl", big, sizeof big);
    assert_int_equal(tmpl_file_load(path, 1, &f, &e), ERR_TOOBIG);
    assert_null(f);
    assert_non_null(strstr(e.msg, "template file larger than 1048576 bytes"));
    assert_int_equal(tmpl_file_load("/nonexistent/x.tmpl", 1, &f, &e), ERR_IO);
    assert_string_equal(e.msg, "/nonexistent/x.tmpl: cannot open: No such file or directory");
    assert_int_equal(tmpl_file_load(tmpdir, 1, &f, &e), ERR_IO); /* a directory */
}

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_template.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    static const char *const files[] = {"a.eml.tmpl", "b.eml.tmpl", "big.sms.tmpl"};
    char path[128];
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(files); i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        unlink(path);
    }
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renders),       cmocka_unit_test(money_filter),
        cmocka_unit_test(date_filter),   cmocka_unit_test(syntax_errors),
        cmocka_unit_test(nesting_depth), cmocka_unit_test(render_errors_keep_output),
        cmocka_unit_test(output_cap),    cmocka_unit_test(lookup_scopes),
        cmocka_unit_test(loop_bound),
        cmocka_unit_test(names),         cmocka_unit_test(bind_keys),
        cmocka_unit_test(file_loading),
        cmocka_unit_test(file_limits),
    };

    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
