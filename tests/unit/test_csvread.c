/* Unit tests for src/csv: separator and encoding detection, RFC 4180
 * quoting, line numbers of rows that span lines, blank lines, CRLF, limits
 * and errors.  Small cases are a table of input -> rendered rows; large
 * generated files check 1 MiB read boundaries through csvr_open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "csv/csvread.h"
#include "util/buf.h"
#include "util/err.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Renders a row as "LINE:f1|f2\n" with CR and LF shown as \r and \n. */
static void render(struct buf *b, const struct csvr_row *row, int with_line)
{
    size_t i;
    const char *p;

    if (with_line)
        buf_printf(b, "%ld:", row->line);
    for (i = 0; i < row->nfields; i++) {
        if (i)
            buf_addc(b, '|');
        for (p = row->fields[i]; *p; p++) {
            if (*p == '\n')
                buf_adds(b, "\\n");
            else if (*p == '\r')
                buf_adds(b, "\\r");
            else
                buf_addc(b, *p);
        }
    }
    buf_addc(b, '\n');
}

struct okcase {
    const char *name;
    const char *data;
    char sep;
    enum csvr_encoding enc;
    const char *header; /* rendered with its line */
    const char *rows;   /* every data row, rendered */
};

/* clang-format off */
static const struct okcase ok_cases[] = {
    {"comma", "a,b,c\n1,2,3\n", ',', CSVR_UTF8, "1:a|b|c\n", "2:1|2|3\n"},
    {"semicolon", "Nom;Pr\xc3\xa9nom;Ville\nDupont;Jean;Paris, France\n", ';', CSVR_UTF8,
     "1:Nom|Pr\xc3\xa9nom|Ville\n", "2:Dupont|Jean|Paris, France\n"},
    {"tab", "a\tb\tc\n1\t\t3\n", '\t', CSVR_UTF8, "1:a|b|c\n", "2:1||3\n"},
    {"tie goes to comma", "a;b,c\n1;2,3\n", ',', CSVR_UTF8, "1:a;b|c\n", "2:1;2|3\n"},
    {"semicolon beats tab on tie", "a;b\tc;d\te\n", ';', CSVR_UTF8, "1:a|b\tc|d\te\n", ""},
    {"one column", "email\nx@example.org\n", ',', CSVR_UTF8, "1:email\n", "2:x@example.org\n"},
    {"separators inside quotes not counted", "\"a;b;c\",d,e\n1,2,3\n", ',', CSVR_UTF8,
     "1:a;b;c|d|e\n", "2:1|2|3\n"},
    {"BOM", "\xef\xbb\xbfid;nom\n1;\xc3\x89lodie\n", ';', CSVR_UTF8_BOM, "1:id|nom\n",
     "2:1|\xc3\x89lodie\n"},
    {"cp1252", "D\xe9nomination;Ville\nSoci\xe9t\xe9 \x80 \x9c" "uvre;Orl\xe9" "ans\n", ';',
     CSVR_CP1252, "1:D\xc3\xa9nomination|Ville\n",
     "2:Soci\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xc5\x93uvre|Orl\xc3\xa9" "ans\n"},
    {"cp1252 in body only", "a;b\n1;caf\xe9\n", ';', CSVR_CP1252, "1:a|b\n", "2:1|caf\xc3\xa9\n"},
    {"doubled quotes", "a,b\n\"say \"\"hi\"\"\",\"\"\"\"\n", ',', CSVR_UTF8, "1:a|b\n",
     "2:say \"hi\"|\"\n"},
    {"quoted separators", "a;b\n\"x;y\";\"1,5\"\n", ';', CSVR_UTF8, "1:a|b\n", "2:x;y|1,5\n"},
    {"embedded LF", "a,b\n\"line1\nline2\",x\n3,4\n", ',', CSVR_UTF8, "1:a|b\n",
     "2:line1\\nline2|x\n4:3|4\n"},
    {"embedded CRLF", "a,b\r\n\"l1\r\nl2\r\nl3\",x\r\ny,z\r\n", ',', CSVR_UTF8, "1:a|b\n",
     "2:l1\\r\\nl2\\r\\nl3|x\n5:y|z\n"},
    {"embedded blank line", "a,b\n\"p1\n\np2\",x\ny,z\n", ',', CSVR_UTF8, "1:a|b\n",
     "2:p1\\n\\np2|x\n5:y|z\n"},
    {"blank lines", "a,b\n\n1,2\n   \n\r\n3,4\n\n", ',', CSVR_UTF8, "1:a|b\n", "3:1|2\n6:3|4\n"},
    {"blank lines before header", "\n\n  \na,b\n1,2\n", ',', CSVR_UTF8, "4:a|b\n", "5:1|2\n"},
    {"rows of empty fields", "a;b\n;\n1;2\n;;\n\"\";\n", ';', CSVR_UTF8, "1:a|b\n", "3:1|2\n"},
    {"CRLF", "a,b\r\n1,2\r\n3,4\r\n", ',', CSVR_UTF8, "1:a|b\n", "2:1|2\n3:3|4\n"},
    {"CR only", "a,b\r1,2\r3,4\r", ',', CSVR_UTF8, "1:a|b\n", "2:1|2\n3:3|4\n"},
    {"no final newline", "a,b\n1,2", ',', CSVR_UTF8, "1:a|b\n", "2:1|2\n"},
    {"final CR", "a,b\r\n1,2\r", ',', CSVR_UTF8, "1:a|b\n", "2:1|2\n"},
    {"no final newline, quoted", "a,b\n1,\"x,y\"", ',', CSVR_UTF8, "1:a|b\n", "2:1|x,y\n"},
    {"header only", "a,b\n", ',', CSVR_UTF8, "1:a|b\n", ""},
    {"header trimmed", " a , \" b \" ,c\t\n1,2,3\n", ',', CSVR_UTF8, "1:a|b|c\n", "2:1|2|3\n"},
    {"unquoted blanks trimmed", "a,b\n  x  ,\" y \"\n", ',', CSVR_UTF8, "1:a|b\n", "2:x| y \n"},
    {"empty fields", "a,b,c\n,,x\nx,,\n", ',', CSVR_UTF8, "1:a|b|c\n", "2:||x\n3:x||\n"},
    {"short rows, trailing empty cells", "a,b\n1\n2,3,,\n", ',', CSVR_UTF8, "1:a|b\n",
     "2:1\n3:2|3||\n"},
    {"utf8 in quotes", "n,v\n\"Zo\xc3\xab, \xc3\x86r\xc3\xb8\",\xe2\x82\xac\n", ',', CSVR_UTF8,
     "1:n|v\n", "2:Zo\xc3\xab, \xc3\x86r\xc3\xb8|\xe2\x82\xac\n"},
    {"quote then LF then CRLF mix", "a,b\n\"x\r\ny\"\n1,2\r\n", ',', CSVR_UTF8, "1:a|b\n",
     "2:x\\r\\ny\n4:1|2\n"},
};
/* clang-format on */

static void check_ok(const struct okcase *c, struct csvr *r)
{
    const struct csvr_row *row;
    struct buf got;
    struct err e = {0};
    int rc;

    buf_init(&got, 0);
    render(&got, csvr_header(r), 1);
    if (strcmp(buf_str(&got), c->header))
        fail_msg("%s: header '%s' != '%s'", c->name, buf_str(&got), c->header);
    buf_reset(&got);
    while ((rc = csvr_next(r, &row, &e)) == 1)
        render(&got, row, 1);
    if (rc != 0)
        fail_msg("%s: csvr_next %d: %s", c->name, rc, e.msg);
    if (strcmp(buf_str(&got), c->rows))
        fail_msg("%s: rows\n%s!=\n%s", c->name, buf_str(&got), c->rows);
    if (csvr_separator(r) != c->sep)
        fail_msg("%s: separator '%c'", c->name, csvr_separator(r));
    if (csvr_encoding(r) != c->enc)
        fail_msg("%s: encoding %d", c->name, (int)csvr_encoding(r));
    assert_int_equal(csvr_next(r, &row, &e), 0); /* stays at end */
    assert_null(row);
    buf_release(&got);
}

static void test_ok_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(ok_cases); i++) {
        const struct okcase *c = &ok_cases[i];
        struct csvr *r = NULL;
        struct err e = {0};

        if (csvr_open_mem("t.csv", c->data, strlen(c->data), &r, &e))
            fail_msg("%s: open: %s", c->name, e.msg);
        assert_string_equal(csvr_name(r), "t.csv");
        check_ok(c, r);
        csvr_free(r);
    }
}

struct errcase {
    const char *name;
    const char *data;
    size_t len;    /* 0: strlen */
    int at_open;   /* error from open rather than from csvr_next */
    int good_rows; /* rows returned before the error */
    int code;
    const char *msg; /* exact message */
};

/* clang-format off */
static const struct errcase err_cases[] = {
    {"empty", "", 0, 1, 0, ERR_INPUT, "t.csv: empty file, no header line"},
    {"blank only", "\n  \r\n\t\n", 0, 1, 0, ERR_INPUT, "t.csv: empty file, no header line"},
    {"text after quote", "a,b\n1,2\n\"x\"y,3\n", 0, 0, 1, ERR_INPUT,
     "t.csv:3: malformed quoted field"},
    {"quote in unquoted field", "a,b\nO\"Brien,1\n", 0, 0, 0, ERR_INPUT,
     "t.csv:2: malformed quoted field"},
    {"bad quote on 2nd line of a row", "a,b\n1,2\n\"x\ny\"z,1\n", 0, 0, 1, ERR_INPUT,
     "t.csv:4: malformed quoted field"},
    {"quote never closed", "a,b\n1,2\n3,\"open\n4,5\n", 0, 0, 1, ERR_INPUT,
     "t.csv:3: malformed quoted field (quote never closed)"},
    {"malformed header", "\"a\"b,c\n", 0, 1, 0, ERR_INPUT, "t.csv:1: malformed quoted field"},
    {"UTF-16LE",
     "\xff\xfe"
     "a\0,\0b\0",
     8, 1, 0, ERR_INPUT, "t.csv: UTF-16 text is not supported (save it as UTF-8)"},
    {"NUL byte", "a,b\n1,2\n3,\0\n", 12, 0, 1, ERR_INPUT,
     "t.csv:3: NUL byte in text (UTF-16 or binary file?)"},
    {"more cells than the header", "a\n1\n2,3\n4\n", 0, 0, 1, ERR_INPUT,
     "t.csv:3: 2 cells but the header has 1 columns (a separator inside a value that is not "
     "quoted?)"},
    {"Windows-1252 after UTF-8", "a,b\n\xc3\xa9,1\n\xe9,2\n", 0, 0, 1, ERR_INPUT,
     "t.csv:3: not UTF-8 (Windows-1252?) in a file that is UTF-8 before: the file mixes two "
     "encodings (save it again as UTF-8)"},
    {"UTF-8 after Windows-1252", "a,b\n\xe9,1\r\n2,3\r\n\xc3\xa9,4\n", 0, 0, 0, ERR_INPUT,
     "t.csv:4: UTF-8 text in a file that is Windows-1252 from line 2 on: the file mixes two "
     "encodings (save it again as UTF-8)"},
};
/* clang-format on */

static void test_err_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < N_ELEMS(err_cases); i++) {
        const struct errcase *c = &err_cases[i];
        size_t len = c->len ? c->len : strlen(c->data);
        const struct csvr_row *row;
        struct csvr *r = NULL;
        struct err e = {0};
        int rc, n = 0;

        rc = csvr_open_mem("t.csv", c->data, len, &r, &e);
        if (c->at_open) {
            if (rc != c->code || r)
                fail_msg("%s: open returned %d", c->name, rc);
        } else {
            if (rc)
                fail_msg("%s: open: %s", c->name, e.msg);
            while ((rc = csvr_next(r, &row, &e)) == 1)
                n++;
            if (rc != c->code || n != c->good_rows)
                fail_msg("%s: rc %d after %d rows: %s", c->name, rc, n, e.msg);
            memset(&e, 0, sizeof e);
            assert_int_equal(csvr_next(r, &row, &e), c->code); /* sticky */
        }
        if (strcmp(e.msg, c->msg))
            fail_msg("%s: message '%s'", c->name, e.msg);
        csvr_free(r);
    }
}

/* Writes len bytes to a new temporary file; returns its malloc'd path. */
static char *temp_file(const void *data, size_t len)
{
    char *path = strdup("/tmp/test_csvread.XXXXXX");
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_open_file(void **state)
{
    static const char data[] =
        "\xef\xbb\xbfNom;Pr\xc3\xa9nom\r\n\"Dupont;\r\nMartin\";\xc3\x89lodie\r\n"
        "\r\nX;Y";
    const struct okcase c = {"file",
                             data,
                             ';',
                             CSVR_UTF8_BOM,
                             "1:Nom|Pr\xc3\xa9nom\n",
                             "2:Dupont;\\r\\nMartin|\xc3\x89lodie\n5:X|Y\n"};
    char *path = temp_file(data, sizeof data - 1);
    struct csvr *r = NULL;
    struct err e = {0};

    (void)state;
    assert_int_equal(csvr_open(path, &r, &e), 0);
    assert_string_equal(csvr_name(r), path);
    check_ok(&c, r);
    csvr_free(r);
    unlink(path);
    free(path);
}

static void test_open_missing(void **state)
{
    struct csvr *r = (struct csvr *)&r;
    struct err e = {0};

    (void)state;
    assert_int_equal(csvr_open("/nonexistent/dir/contacts.csv", &r, &e), ERR_IO);
    assert_null(r);
    assert_int_equal(e.code, ERR_IO);
    assert_non_null(strstr(e.msg, "/nonexistent/dir/contacts.csv"));
    assert_non_null(strstr(e.msg, "No such file"));
    assert_int_equal(csvr_open("/", &r, &e), ERR_IO); /* a directory: read fails */
    assert_null(r);
    assert_string_equal(e.msg, "/: Is a directory");
    csvr_free(NULL);
}

/* Generated rows: multibyte text in every position relative to the 1 MiB
 * read boundaries, quoted CRLFs every 7th row, blank lines every 11th. */
static void gen_rows(struct buf *data, struct buf *want, int cp1252, int nrows)
{
    long line = 2;
    int i, k;

    buf_adds(data, "id;name;note\r\n");
    for (i = 0; i < nrows; i++) {
        buf_printf(data, "%d;", i);
        buf_printf(want, "%ld:%d|", line, i);
        for (k = 0; k < i % 9; k++) {
            buf_adds(data, cp1252 ? "\xc9l\x80" : "\xc3\x89l\xe2\x82\xac");
            buf_adds(want, "\xc3\x89l\xe2\x82\xac");
        }
        if (i % 7 == 0) {
            buf_adds(data, ";\"a;\"\"b\"\"\r\nc\"\r\n");
            buf_adds(want, "|a;\"b\"\\r\\nc\n");
            line += 2;
        } else {
            buf_adds(data, ";x\r\n");
            buf_adds(want, "|x\n");
            line++;
        }
        if (i % 11 == 0) {
            buf_adds(data, "\r\n");
            line++;
        }
    }
}

static void read_all(const char *path, struct buf *got, enum csvr_encoding enc)
{
    const struct csvr_row *row;
    struct csvr *r = NULL;
    struct err e = {0};
    int rc;

    assert_int_equal(csvr_open(path, &r, &e), 0);
    while ((rc = csvr_next(r, &row, &e)) == 1)
        render(got, row, 1);
    if (rc)
        fail_msg("%s", e.msg);
    assert_int_equal(csvr_encoding(r), enc);
    csvr_free(r);
}

static void test_big_files(void **state)
{
    int cp;

    (void)state;
    for (cp = 0; cp < 2; cp++) {
        struct buf data, want, got;
        char *path;

        buf_init(&data, 0);
        buf_init(&want, 0);
        buf_init(&got, 0);
        gen_rows(&data, &want, cp, 60000); /* about 3 MiB */
        path = temp_file(data.data, data.len);
        read_all(path, &got, cp ? CSVR_CP1252 : CSVR_UTF8);
        assert_int_equal(got.len, want.len);
        assert_true(!strcmp(buf_str(&got), buf_str(&want)));
        unlink(path);
        free(path);
        buf_release(&data);
        buf_release(&want);
        buf_release(&got);
    }
}

/* ASCII for more than the first MiB, then a Windows-1252 byte: the file is
 * taken as Windows-1252 from there on, which is exact. */
static void test_late_cp1252(void **state)
{
    struct buf data, got;
    char *path;
    int i;

    (void)state;
    buf_init(&data, 0);
    buf_init(&got, 0);
    buf_adds(&data, "a,b\n");
    for (i = 0; i < 300000; i++)
        buf_adds(&data, "1,2\n");
    buf_adds(&data, "Andr\xe9,\x80\n");
    path = temp_file(data.data, data.len);
    read_all(path, &got, CSVR_CP1252);
    assert_string_equal(buf_str(&got) + got.len - 18, "300002:Andr\xc3\xa9|\xe2\x82\xac\n");
    unlink(path);
    free(path);
    buf_release(&data);
    buf_release(&got);
}

/* Real UTF-8 first, then an invalid byte beyond the decision window: an
 * error naming the line, after every good row. */
static void test_late_invalid_utf8(void **state)
{
    const struct csvr_row *row;
    struct csvr *r = NULL;
    struct err e = {0};
    struct buf data;
    char *path;
    int i, n = 0;

    (void)state;
    buf_init(&data, 0);
    buf_adds(&data, "nom,pr\xc3\xa9nom\n");
    for (i = 0; i < 300000; i++)
        buf_adds(&data, "1,2\n");
    buf_adds(&data, "Andr\xe9,x\n");
    path = temp_file(data.data, data.len);
    assert_int_equal(csvr_open(path, &r, &e), 0);
    while (csvr_next(r, &row, &e) == 1)
        n++;
    assert_int_equal(n, 300000);
    assert_int_equal(e.code, ERR_INPUT);
    assert_non_null(strstr(e.msg, ":300002: not UTF-8"));
    csvr_free(r);
    unlink(path);
    free(path);
    buf_release(&data);
}

/* A CRLF cut by the 1 MiB read: the CR ends one buffer, the LF starts the
 * next, and must not count as a second line end. */
static void test_crlf_on_read_boundary(void **state)
{
    const struct csvr_row *row;
    struct csvr *r = NULL;
    struct err e = {0};
    struct buf data;
    long last = 0;
    char *path;
    int i, n = 0;

    (void)state;
    buf_init(&data, 0);
    buf_adds(&data, "ab,cd\r\n");
    for (i = 0; i < 209800; i++)
        buf_adds(&data, "1,2\r\n");
    assert_memory_equal(data.data + ((size_t)1 << 20) - 1, "\r\n", 2);
    path = temp_file(data.data, data.len);
    assert_int_equal(csvr_open(path, &r, &e), 0);
    while (csvr_next(r, &row, &e) == 1) {
        n++;
        last = row->line;
        assert_int_equal(row->nfields, 2);
    }
    assert_int_equal(e.code, 0);
    assert_int_equal(n, 209800);
    assert_int_equal(last, 209801);
    csvr_free(r);
    unlink(path);
    free(path);
    buf_release(&data);
}

/* Multibyte characters cut by the 1 MiB read: the cut sequence waits for
 * the next read.  Either the file is known to be UTF-8 from its header, or
 * its first non-ASCII byte comes 100 KB before the cut, so the cut falls in
 * the window that decides the encoding and must not count as invalid. */
static void test_utf8_cut_by_read(void **state)
{
    static const struct {
        const char *ch;
        size_t before; /* bytes of ch in the first buffer */
    } cuts[] = {{"\xe2\x82\xac", 1},     {"\xe2\x82\xac", 2},     {"\xf0\x9f\x98\x80", 1},
                {"\xf0\x9f\x98\x80", 2}, {"\xf0\x9f\x98\x80", 3}, {"\xc3\xa9", 1}};
    size_t c;
    int late;

    (void)state;
    for (c = 0; c < N_ELEMS(cuts); c++) {
        for (late = 0; late < 2; late++) {
            size_t target = ((size_t)1 << 20) - cuts[c].before, rest;
            const struct csvr_row *row;
            struct csvr *r = NULL;
            struct err e = {0};
            struct buf data;
            char *path;
            int found = 0;

            buf_init(&data, 0);
            buf_adds(&data, late ? "h\n" : "h\xc3\xa9\n");
            while (target - data.len > 3) {
                buf_adds(&data, "x\n");
                if (late && data.len == target - 100000)
                    buf_adds(&data, "\xc3\xa9\n");
            }
            for (rest = target - data.len; rest > 1; rest--)
                buf_addc(&data, 'y');
            buf_addc(&data, '\n');
            assert_int_equal(data.len, target);
            buf_printf(&data, "%s\nend\n", cuts[c].ch);
            path = temp_file(data.data, data.len);
            assert_int_equal(csvr_open(path, &r, &e), 0);
            while (csvr_next(r, &row, &e) == 1)
                found += !strcmp(row->fields[0], cuts[c].ch);
            if (e.code || found != 1 || csvr_encoding(r) != CSVR_UTF8)
                fail_msg("cut %zu/%d: found %d: %s", c, late, found, e.msg);
            csvr_free(r);
            unlink(path);
            free(path);
            buf_release(&data);
        }
    }
}

static void test_row_limits(void **state)
{
    const struct csvr_row *row;
    struct csvr *r = NULL;
    struct err e = {0};
    struct buf data;
    size_t i;

    (void)state;
    /* A field just under 1 MiB is fine... */
    buf_init(&data, 0);
    buf_adds(&data, "a,b\n1,\"");
    for (i = 0; i < 1000000; i++)
        buf_addc(&data, i % 1000 ? 'x' : '\n');
    buf_adds(&data, "\"\n2,3\n");
    assert_int_equal(csvr_open_mem("t.csv", data.data, data.len, &r, &e), 0);
    assert_int_equal(csvr_next(r, &row, &e), 1);
    assert_int_equal(strlen(row->fields[1]), 1000000);
    assert_int_equal(csvr_next(r, &row, &e), 1);
    assert_int_equal(row->line, 1003);
    csvr_free(r);
    /* ...an unclosed quote running past 1 MiB is ERR_TOOBIG, not a hang. */
    buf_reset(&data);
    buf_adds(&data, "a,b\n1,2\n3,\"");
    for (i = 0; i < 1100000; i++)
        buf_addc(&data, i % 100 ? 'y' : '\n');
    assert_int_equal(csvr_open_mem("t.csv", data.data, data.len, &r, &e), 0);
    assert_int_equal(csvr_next(r, &row, &e), 1);
    assert_int_equal(csvr_next(r, &row, &e), ERR_TOOBIG);
    assert_string_equal(e.msg, "t.csv:3: row larger than 1 MiB (a quote never closed?)");
    csvr_free(r);
    /* One unquoted line over 1 MiB. */
    buf_reset(&data);
    buf_adds(&data, "a\n");
    for (i = 0; i < 1100000; i++)
        buf_addc(&data, 'z');
    assert_int_equal(csvr_open_mem("t.csv", data.data, data.len, &r, &e), 0);
    assert_int_equal(csvr_next(r, &row, &e), ERR_TOOBIG);
    assert_string_equal(e.msg, "t.csv:2: row larger than 1 MiB");
    csvr_free(r);
    buf_release(&data);
}

/* Fields stay valid until the next call; buffers are reused across rows. */
static void test_many_fields(void **state)
{
    const struct csvr_row *row;
    struct csvr *r = NULL;
    struct err e = {0};
    struct buf data;
    int i;

    (void)state;
    buf_init(&data, 0);
    for (i = 0; i < 5000; i++)
        buf_printf(&data, "h%d,", i);
    buf_adds(&data, "h\n");
    for (i = 0; i < 5000; i++)
        buf_printf(&data, "%d,", i);
    buf_adds(&data, "end\nshort\n");
    assert_int_equal(csvr_open_mem("t.csv", data.data, data.len, &r, &e), 0);
    assert_int_equal(csvr_next(r, &row, &e), 1);
    assert_int_equal(row->nfields, 5001);
    assert_string_equal(row->fields[4999], "4999");
    assert_string_equal(row->fields[5000], "end");
    assert_int_equal(csvr_next(r, &row, &e), 1);
    assert_int_equal(row->nfields, 1);
    assert_string_equal(row->fields[0], "short");
    assert_int_equal(row->line, 3);
    csvr_free(r);
    buf_release(&data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_table),          cmocka_unit_test(test_err_table),
        cmocka_unit_test(test_open_file),         cmocka_unit_test(test_open_missing),
        cmocka_unit_test(test_big_files),         cmocka_unit_test(test_late_cp1252),
        cmocka_unit_test(test_late_invalid_utf8), cmocka_unit_test(test_crlf_on_read_boundary),
        cmocka_unit_test(test_utf8_cut_by_read),  cmocka_unit_test(test_row_limits),
        cmocka_unit_test(test_many_fields),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
