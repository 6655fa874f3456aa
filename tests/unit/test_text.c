/* Unit tests for src/text: strict UTF-8 validation, folding for search,
 * word folding for name matching, and Windows-1252 conversion.  Cases are
 * tables of hostile input: invalid and truncated sequences, overlongs,
 * surrogates, ligatures, full-width letters, buffers past their cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "text/text.h"
#include "util/err.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

struct pair {
    const char *in;
    size_t len; /* 0: strlen(in) */
    const char *want;
};

static size_t pair_len(const struct pair *p)
{
    return p->len ? p->len : strlen(p->in);
}

/* clang-format off */
static const struct pair fold_cases[] = {
    {"", 0, ""},
    {"Hello World 123 !?", 0, "hello world 123 !?"},
    {"\xc3\x89lodie \xc5\x92UVRE", 0, "elodie oeuvre"},    /* Élodie ŒUVRE */
    {"\xc3\x86r\xc3\xb8", 0, "aero"},                      /* Ærø */
    {"stra\xc3\x9f" "e", 0, "strasse"},                    /* straße */
    {"\xe1\xba\x9e", 0, "ss"},                             /* ẞ capital sharp s */
    {"\xc3\x87", 0, "c"},                                  /* Ç */
    {"Fran\xc3\xa7ois", 0, "francois"},                    /* François */
    {"\xef\xbc\xa1\xef\xbc\xa2\xef\xbd\x83\xef\xbc\x91", 0, "abc1"}, /* ＡＢｃ１ */
    {"\xef\xac\x81n", 0, "fin"},                           /* ﬁ ligature */
    {"\xc7\x85", 0, "dz"},                                 /* ǅ */
    {"e\xcc\x81t\xc3\xa9", 0, "ete"},                      /* decomposed and precomposed */
    {"\xc4\xb0stanbul", 0, "istanbul"},                    /* İ */
    {"\xce\xa3\xce\x8a\xce\xa3\xce\xa5\xce\xa6\xce\x9f\xce\xa3", 0,
     "\xcf\x83\xce\xb9\xcf\x83\xcf\x85\xcf\x86\xce\xbf\xcf\x83"}, /* ΣΊΣΥΦΟΣ */
    {"a\xc2\xad" "b", 0, "ab"},                            /* soft hyphen ignored */
    {"\xc5\x81\xc3\xb3" "d\xc5\xba", 0, "lodz"},           /* Łódź */
    {"\xc4\x90" "ak", 0, "dak"},                           /* Đak */
    {"x\xc2\xb2", 0, "x2"},                                /* superscript two */
    {"a\xff" "b\xc3", 0, "ab"},                            /* invalid bytes dropped */
    {"\xc0\xaf" "A", 0, "a"},                              /* overlong '/' dropped */
    {"\xed\xa0\x80Z", 0, "z"},                             /* surrogate dropped */
    {"\xf4\x90\x80\x80Q", 0, "q"},                         /* above U+10FFFF */
    {"\xe2\x82", 0, ""},                                   /* truncated euro */
    {"A\0B", 3, "a\0b"},                                   /* NUL kept, length given */
    {"MiXeD\tCaSe\r\n", 0, "mixed\tcase\r\n"},
    {"\xe2\x82\xac 5", 0, "\xe2\x82\xac 5"},               /* € kept */
};
/* clang-format on */

static void test_fold_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(fold_cases); i++) {
        const struct pair *p = &fold_cases[i];
        struct buf b;

        buf_init(&b, 0);
        assert_int_equal(text_fold_buf(&b, p->in, pair_len(p)), 0);
        if (p->len) {
            assert_int_equal(b.len, p->len);
            assert_memory_equal(buf_str(&b), p->want, p->len);
        } else {
            assert_string_equal(buf_str(&b), p->want);
        }
        buf_release(&b);
    }
}

static void test_fold_appends(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    buf_adds(&b, "X:");
    assert_int_equal(text_fold_buf(&b, "\xc3\x89t\xc3\xa9", 5), 0);
    assert_string_equal(buf_str(&b), "X:ete");
    buf_release(&b);
}

/* Inputs longer than the internal staging buffer, ASCII and not. */
static void test_fold_long(void **state)
{
    struct buf in, b, want;
    size_t i;

    (void)state;
    buf_init(&in, 0);
    buf_init(&want, 0);
    for (i = 0; i < 3000; i++) {
        buf_adds(&in, i % 3 ? "AB" : "\xc3\x89\xc5\x92");
        buf_adds(&want, i % 3 ? "ab" : "eoe");
    }
    buf_init(&b, 0);
    assert_int_equal(text_fold_buf(&b, in.data, in.len), 0);
    assert_string_equal(buf_str(&b), buf_str(&want));
    buf_reset(&b);
    assert_int_equal(text_fold_words_buf(&b, in.data, in.len), 0);
    assert_string_equal(buf_str(&b), buf_str(&want));
    buf_release(&b);
    buf_release(&in);
    buf_release(&want);
}

static void test_fold_cap(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 4);
    assert_int_equal(text_fold_buf(&b, "abcdef", 6), ERR_TOOBIG);
    assert_int_equal(text_fold_buf(&b, "a", 1), ERR_TOOBIG); /* sticky */
    buf_release(&b);
    buf_init(&b, 4);
    assert_int_equal(text_cp1252_to_utf8(&b, "\x80\x80", 2), ERR_TOOBIG);
    buf_release(&b);
}

static void test_fold_dup(void **state)
{
    char *s;

    (void)state;
    assert_null(text_fold(NULL));
    s = text_fold("\xc3\x89LODIE");
    assert_string_equal(s, "elodie");
    free(s);
    s = text_fold("");
    assert_string_equal(s, "");
    free(s);
}

/* clang-format off */
static const struct pair words_cases[] = {
    {"", 0, ""},
    {"!!! ... ---", 0, ""},
    {"Dupont-Martin, J.", 0, "dupont martin j"},
    {"  --\xc3\x89lodie   O'Brien--  ", 0, "elodie o brien"},
    {"l\xe2\x80\x99\xc3\xa9t\xc3\xa9", 0, "l ete"},                /* l’été */
    {"Jean\tPaul\r\nX", 0, "jean paul x"},
    {"a\xc2\xa0" "b", 0, "a b"},                                    /* NBSP */
    {"\xc5\x92uvre \xc3\x86sop", 0, "oeuvre aesop"},
    {"(+33) 1 23", 0, "33 1 23"},
    {"x\xc2\xb2y", 0, "x2y"},
    {"\xe6\x97\xa5\xe6\x9c\xac\xe3\x83\xbb\xe8\xaa\x9e", 0,
     "\xe6\x97\xa5\xe6\x9c\xac \xe8\xaa\x9e"},                      /* 日本・語 */
    {"a\xff" "b", 0, "ab"},                                         /* invalid dropped */
    {"A\0B", 3, "a b"},
    {"\xe2\x82\xac" "5", 0, "5"},                                   /* symbol separates */
};
/* clang-format on */

static void test_fold_words_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(words_cases); i++) {
        const struct pair *p = &words_cases[i];
        struct buf b;

        buf_init(&b, 0);
        buf_adds(&b, "[");
        assert_int_equal(text_fold_words_buf(&b, p->in, pair_len(p)), 0);
        assert_string_equal(buf_str(&b) + 1, p->want);
        buf_release(&b);
    }
}

/* Windows-1252 0x80-0x9F as code points; 0xFFFD for the undefined five. */
/* clang-format off */
static const uint32_t c1_want[32] = {
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
    0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178,
};
/* clang-format on */

static size_t enc_utf8(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

static void test_cp1252_all_bytes(void **state)
{
    unsigned c;

    (void)state;
    for (c = 1; c < 256; c++) {
        char in[3] = {'<', (char)c, '>'}, want[8];
        uint32_t cp = c < 0x80 || c >= 0xA0 ? c : c1_want[c - 0x80];
        size_t n = 0;
        struct buf b;

        want[n++] = '<';
        n += enc_utf8(cp, want + n);
        want[n++] = '>';
        buf_init(&b, 0);
        assert_int_equal(text_cp1252_to_utf8(&b, in, 3), 0);
        assert_int_equal(b.len, n);
        assert_memory_equal(b.data, want, n);
        assert_true(text_utf8_valid(b.data, b.len));
        buf_release(&b);
    }
}

static void test_cp1252_text(void **state)
{
    const char *in1252;
    struct buf b, in;
    size_t i;

    (void)state;
    buf_init(&b, 0);
    in1252 = "D\xe9nomination \x80 \x9c" /* split: \x9cu would be one escape */
             "uvre";
    assert_int_equal(text_cp1252_to_utf8(&b, in1252, strlen(in1252)), 0);
    assert_string_equal(buf_str(&b), "D\xc3\xa9nomination \xe2\x82\xac \xc5\x93uvre");
    buf_release(&b);
    /* A long run exercises the staging flush. */
    buf_init(&in, 0);
    for (i = 0; i < 1000; i++)
        buf_adds(&in, "caf\xe9 ");
    buf_init(&b, 0);
    assert_int_equal(text_cp1252_to_utf8(&b, in.data, in.len), 0);
    assert_int_equal(b.len, 6000);
    assert_memory_equal(b.data + 5994, "caf\xc3\xa9 ", 6);
    buf_release(&b);
    buf_release(&in);
}

struct valid_case {
    const char *s;
    size_t len; /* 0: strlen */
    int ok;
};

/* clang-format off */
static const struct valid_case valid_cases[] = {
    {"", 0, 1},
    {"plain ascii", 0, 1},
    {"a\0b", 3, 1},
    {"\xc3\xa9", 0, 1},                 /* é */
    {"\xc2\x80", 0, 1},                 /* U+0080, smallest 2-byte */
    {"\xe0\xa0\x80", 0, 1},             /* U+0800, smallest 3-byte */
    {"\xed\x9f\xbf", 0, 1},             /* U+D7FF, below surrogates */
    {"\xee\x80\x80", 0, 1},             /* U+E000, above surrogates */
    {"\xef\xbf\xbf", 0, 1},             /* U+FFFF */
    {"\xf0\x90\x80\x80", 0, 1},         /* U+10000 */
    {"\xf0\x9d\x84\x9e", 0, 1},         /* 𝄞 */
    {"\xf4\x8f\xbf\xbf", 0, 1},         /* U+10FFFF */
    {"\xc0\x80", 0, 0},                 /* overlong NUL */
    {"\xc1\xbf", 0, 0},                 /* overlong */
    {"\xe0\x80\x80", 0, 0},             /* overlong */
    {"\xe0\x9f\xbf", 0, 0},             /* overlong U+07FF */
    {"\xf0\x80\x80\x80", 0, 0},         /* overlong */
    {"\xf0\x8f\xbf\xbf", 0, 0},         /* overlong U+FFFF */
    {"\xed\xa0\x80", 0, 0},             /* U+D800 */
    {"\xed\xbf\xbf", 0, 0},             /* U+DFFF */
    {"\xed\xa0\xbd\xed\xb8\x80", 0, 0}, /* CESU-8 surrogate pair */
    {"\xf4\x90\x80\x80", 0, 0},         /* U+110000 */
    {"\xf5\x80\x80\x80", 0, 0},
    {"\xf8\x88\x80\x80\x80", 0, 0},     /* 5-byte form */
    {"\xfe", 0, 0},
    {"\xff", 0, 0},
    {"\x80", 0, 0},                     /* lone continuation */
    {"abc\xbf", 0, 0},
    {"\xc3", 0, 0},                     /* truncated */
    {"\xe2\x82", 0, 0},
    {"\xf0\x9f\x98", 0, 0},
    {"\xc3\xc3\xa9", 0, 0},             /* lead where continuation due */
    {"\xe2\x28\xa1", 0, 0},
    {"12345678\xc3", 0, 0},             /* after an 8-byte ASCII block */
    {"12345678\xc3\xa9", 0, 1},
};
/* clang-format on */

static void test_utf8_valid_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(valid_cases); i++) {
        const struct valid_case *c = &valid_cases[i];
        size_t n = c->len ? c->len : strlen(c->s);
        if (text_utf8_valid(c->s, n) != c->ok)
            fail_msg("case %zu: expected %s", i, c->ok ? "valid" : "invalid");
    }
}

/* CR and LF become ^M and ^J; the rest, NULL included, is kept. */
static void test_one_line(void **state)
{
    static const char *const cases[][2] = {
        {"", ""},
        {"Eve\r\nBcc: x@evil.example", "Eve^M^JBcc: x@evil.example"},
        {"\n\n", "^J^J"},
        {"caf\xc3\xa9\r", "caf\xc3\xa9^M"},
        {"a\tb\x1b", "a\tb\x1b"},
    };
    struct buf b;
    size_t i;

    (void)state;
    buf_init(&b, 0);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_reset(&b);
        assert_int_equal(text_one_line(&b, cases[i][0]), 0);
        assert_string_equal(buf_str(&b), cases[i][1]);
    }
    buf_reset(&b);
    text_one_line(&b, NULL);
    assert_string_equal(buf_str(&b), "");
    buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fold_table),       cmocka_unit_test(test_fold_appends),
        cmocka_unit_test(test_fold_long),        cmocka_unit_test(test_fold_cap),
        cmocka_unit_test(test_fold_dup),         cmocka_unit_test(test_fold_words_table),
        cmocka_unit_test(test_cp1252_all_bytes), cmocka_unit_test(test_cp1252_text),
        cmocka_unit_test(test_utf8_valid_table), cmocka_unit_test(test_one_line),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
