/* Unit tests for src/export: CSV quoting and neutralisation (RFC 4180,
 * OWASP), JSON parsed back with jansson, table alignment and truncation,
 * XLSX written to a temporary directory and, when /usr/bin/python3 and the
 * checker are found, read back by openpyxl with warnings as errors
 * (tests/unit/check_xlsx.py).  Hostile values throughout: CR/LF, quotes,
 * control characters, invalid UTF-8, malformed dates, unwritable paths. */
/* cmocka needs these four first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <dirent.h>
#include <jansson.h>
#include <libgen.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "export/export.h"
#include "util/buf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

extern char **environ;

/* Runs a whole export into memory and returns the bytes (free them).
 * rows holds nrows * ncols values. */
static char *run(enum export_format fmt, const struct export_col *cols, size_t ncols,
                 const struct export_opts *o, const char *const *rows, size_t nrows,
                 const char *footer)
{
    struct exporter *x = NULL;
    struct err e = {0};
    char *out = NULL;
    size_t len = 0, r;
    FILE *fp = open_memstream(&out, &len);

    assert_non_null(fp);
    assert_int_equal(export_begin(fmt, fp, NULL, cols, ncols, o, &x, &e), 0);
    for (r = 0; r < nrows; r++)
        assert_int_equal(export_row(x, rows + r * ncols, &e), 0);
    assert_int_equal(export_finish(x, footer, &e), 0);
    assert_int_equal(fclose(fp), 0);
    return out;
}

/* ---- format names, dangerous cells ------------------------------------ */

static void test_format_parse(void **state)
{
    static const struct {
        const char *s;
        int rc;
        enum export_format fmt;
    } cases[] = {
        {"table", 0, EXPORT_TABLE}, {"csv", 0, EXPORT_CSV}, {"json", 0, EXPORT_JSON},
        {"xlsx", 0, EXPORT_XLSX},   {"", ERR_INPUT, 0},     {"CSV ", ERR_INPUT, 0},
        {"xml", ERR_INPUT, 0},      {NULL, ERR_INPUT, 0},
    };
    enum export_format f;
    struct err e;
    size_t i;

    (void)state;
    for (i = 0; i < N(cases); i++) {
        assert_int_equal(export_format_parse(cases[i].s, &f, &e), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(f, cases[i].fmt);
        else
            assert_non_null(strstr(e.msg, "unknown format"));
    }
}

static void test_csv_dangerous(void **state)
{
    static const struct {
        const char *v;
        int bad;
    } cases[] = {
        {"=1+1", 1}, {"+33612345678", 1}, {"-2", 1},  {"@SUM(A1)", 1}, {"\tx", 1},
        {"\rx", 1},  {"a=b", 0},          {" =1", 0}, {"", 0},         {NULL, 0},
        {"1", 0},    {"'=1", 0},          {"É", 0},   {"\n=1", 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < N(cases); i++)
        assert_int_equal(export_csv_dangerous(cases[i].v) != 0, cases[i].bad);
}

/* ---- CSV ---------------------------------------------------------------- */

static const struct export_col one_text[] = {{"v", EXPORT_TEXT}};

/* One TEXT column: value in, cell out (RFC 4180 §2.6, §2.7, OWASP). */
static void test_csv_cells(void **state)
{
    static const struct {
        char sep;
        int neutralise;
        const char *v, *cell;
    } cases[] = {
        {0, 0, "plain", "plain"},
        {0, 0, "a,b", "\"a,b\""},
        {0, 0, "a;b", "a;b"},
        {';', 0, "a;b", "\"a;b\""},
        {';', 0, "a,b", "a,b"},
        {0, 0, "say \"hi\"", "\"say \"\"hi\"\"\""},
        {0, 0, "\"", "\"\"\"\""},
        {0, 0, "line1\nline2", "\"line1\nline2\""},
        {0, 0, "cr\rhere", "\"cr\rhere\""},
        {0, 0, "crlf\r\n", "\"crlf\r\n\""},
        {0, 0, " lead", "\" lead\""},
        {0, 0, "trail ", "\"trail \""},
        {0, 0, "", ""},
        {0, 0, NULL, ""},
        {0, 0, "Zoë Müller", "Zoë Müller"},
        {0, 0, "=1+1", "'=1+1"},
        {0, 0, "+33612345678", "'+33612345678"}, /* accepted OWASP cost */
        {0, 0, "-cmd", "'-cmd"},
        {0, 0, "@SUM(A1)", "'@SUM(A1)"},
        {0, 0, "\tx", "\"'\tx\""},
        {0, 0, "\rx", "\"'\rx\""},
        {0, 0, "=HYPERLINK(\"a\",\"b\")", "\"'=HYPERLINK(\"\"a\"\",\"\"b\"\")\""},
        {';', 0, "=a;b", "\"'=a;b\""},
        {0, 0, "a=1", "a=1"},
        {0, 0, "'=1", "'=1"},
        {0, -1, "=1+1", "=1+1"},
        {0, -1, "+33612345678", "+33612345678"},
        {0, -1, "=a,b", "\"=a,b\""},
        {0, 1, "=1", "'=1"},
    };
    struct buf want;
    size_t i;

    (void)state;
    buf_init(&want, 0);
    for (i = 0; i < N(cases); i++) {
        struct export_opts o = {.separator = cases[i].sep, .neutralise = cases[i].neutralise};
        const char *row[] = {cases[i].v};
        char *out = run(EXPORT_CSV, one_text, 1, &o, row, 1, NULL);

        buf_reset(&want);
        buf_printf(&want, "v\r\n%s\r\n", cases[i].cell);
        assert_string_equal(out, buf_str(&want));
        free(out);
    }
    buf_release(&want);
}

static void test_csv_layout(void **state)
{
    static const struct export_col cols[] = {
        {"id", EXPORT_INT},
        {"nom", EXPORT_TEXT},
        {"né le", EXPORT_DATE},
        {"vu", EXPORT_DATETIME},
    };
    /* clang-format off */
    static const char *const rows[] = {
        "1",  "Émilie", "1990-02-28", "2024-03-01T10:20:30Z",
        "-5", NULL,     "",           "2024-03-01 10:20:30",
    };
    /* clang-format on */
    struct export_opts o = {.separator = ';', .bom = 1};
    char *out = run(EXPORT_CSV, cols, N(cols), &o, rows, 2, "footer ignored");

    (void)state;
    /* BOM, header, CRLF records; INT "-5" is not neutralised. */
    assert_string_equal(out, "\xEF\xBB\xBFid;nom;né le;vu\r\n"
                             "1;Émilie;1990-02-28;2024-03-01T10:20:30Z\r\n"
                             "-5;;;2024-03-01 10:20:30\r\n");
    free(out);
    out = run(EXPORT_CSV, cols, N(cols), NULL, NULL, 0, NULL);
    assert_string_equal(out, "id,nom,né le,vu\r\n");
    free(out);
}

/* ---- typed values: same rules for every format --------------------------- */

static void test_typed_values(void **state)
{
    static const struct {
        enum export_type type;
        const char *v;
        int rc;
    } cases[] = {
        {EXPORT_INT, "0", 0},
        {EXPORT_INT, "-123", 0},
        {EXPORT_INT, "9223372036854775807", 0},
        {EXPORT_INT, "9223372036854775808", ERR_INPUT},
        {EXPORT_INT, "+1", ERR_INPUT},
        {EXPORT_INT, " 1", ERR_INPUT},
        {EXPORT_INT, "1.5", ERR_INPUT},
        {EXPORT_INT, "-", ERR_INPUT},
        {EXPORT_INT, "12abc", ERR_INPUT},
        {EXPORT_DATE, "2024-02-29", 0},
        {EXPORT_DATE, "2023-02-29", ERR_INPUT},
        {EXPORT_DATE, "2024-13-01", ERR_INPUT},
        {EXPORT_DATE, "01/02/2024", ERR_INPUT},
        {EXPORT_DATE, "2024-01-01T00:00:00", ERR_INPUT},
        {EXPORT_DATETIME, "2024-03-01T10:20:30", 0},
        {EXPORT_DATETIME, "2024-03-01 10:20:30", 0},
        {EXPORT_DATETIME, "2024-03-01T10:20:30.123Z", 0},
        {EXPORT_DATETIME, "2024-03-01T10:20:30+01:00", 0},
        {EXPORT_DATETIME, "2024-03-01T10:20:30.5-05:30", 0},
        {EXPORT_DATETIME, "2024-03-01T24:00:00", ERR_INPUT},
        {EXPORT_DATETIME, "2024-03-01T10:60:00", ERR_INPUT},
        {EXPORT_DATETIME, "2024-03-01T10:20", ERR_INPUT},
        {EXPORT_DATETIME, "2024-03-01", ERR_INPUT},
        {EXPORT_DATETIME, "2024-03-01T10:20:30.", ERR_INPUT},
        {EXPORT_DATETIME, "2024-03-01T10:20:30+0100", ERR_INPUT},
        {EXPORT_DATETIME, "2024-03-01T10:20:30Zjunk", ERR_INPUT},
        {EXPORT_DATETIME, "2024-02-30T10:20:30", ERR_INPUT},
    };
    static const enum export_format fmts[] = {EXPORT_TABLE, EXPORT_CSV, EXPORT_JSON};
    size_t i, f;

    (void)state;
    for (f = 0; f < N(fmts); f++) {
        for (i = 0; i < N(cases); i++) {
            struct export_col col = {"when", cases[i].type};
            struct exporter *x = NULL;
            struct err e = {0};
            char *out = NULL;
            size_t len = 0;
            FILE *fp = open_memstream(&out, &len);

            assert_int_equal(export_begin(fmts[f], fp, NULL, &col, 1, NULL, &x, &e), 0);
            assert_int_equal(export_row(x, &cases[i].v, &e), cases[i].rc);
            if (cases[i].rc)
                assert_non_null(strstr(e.msg, "'when'"));
            assert_int_equal(export_finish(x, NULL, &e), 0);
            fclose(fp);
            free(out);
        }
    }
}

/* ---- JSON --------------------------------------------------------------- */

static void test_json_roundtrip(void **state)
{
    static const struct export_col cols[] = {
        {"id", EXPORT_INT},
        {"nom", EXPORT_TEXT},
        {"note", EXPORT_TEXT},
        {"né", EXPORT_DATE},
    };
    /* clang-format off */
    static const char *const rows[] = {
        "1",   "Émilie Dupont", "",            "1990-02-28",
        "",    NULL,            "q\"uote\n\t", NULL,
        "-42", "日本",          "\x01",        "",
    };
    /* clang-format on */
    const char *keys[] = {"id", "nom", "note", "né"};
    char *out = run(EXPORT_JSON, cols, N(cols), NULL, rows, 3, NULL);
    json_error_t je;
    json_t *doc = json_loads(out, 0, &je), *o;
    void *it;
    size_t k;

    (void)state;
    assert_non_null(doc);
    assert_true(json_is_array(doc));
    assert_int_equal(json_array_size(doc), 3);
    /* Keys in column order. */
    o = json_array_get(doc, 0);
    for (k = 0, it = json_object_iter(o); it; it = json_object_iter_next(o, it), k++)
        assert_string_equal(json_object_iter_key(it), keys[k]);
    assert_int_equal(k, 4);
    assert_int_equal(json_integer_value(json_object_get(o, "id")), 1);
    assert_string_equal(json_string_value(json_object_get(o, "nom")), "Émilie Dupont");
    assert_string_equal(json_string_value(json_object_get(o, "note")), "");
    assert_string_equal(json_string_value(json_object_get(o, "né")), "1990-02-28");
    o = json_array_get(doc, 1);
    assert_true(json_is_null(json_object_get(o, "id")));
    assert_true(json_is_null(json_object_get(o, "nom")));
    assert_string_equal(json_string_value(json_object_get(o, "note")), "q\"uote\n\t");
    assert_true(json_is_null(json_object_get(o, "né")));
    o = json_array_get(doc, 2);
    assert_true(json_is_integer(json_object_get(o, "id")));
    assert_int_equal(json_integer_value(json_object_get(o, "id")), -42);
    assert_string_equal(json_string_value(json_object_get(o, "nom")), "日本");
    assert_string_equal(json_string_value(json_object_get(o, "note")), "\x01");
    assert_string_equal(json_string_value(json_object_get(o, "né")), "");
    /* UTF-8 stays UTF-8; one object per line. */
    assert_non_null(strstr(out, "\"nom\":\"Émilie Dupont\""));
    assert_non_null(strstr(out, "\"日本\""));
    assert_null(strstr(out, "\\u00c9"));
    assert_null(strstr(out, "\\u00C9"));
    assert_non_null(strstr(out, "\\u0001")); /* controls must be escaped */
    assert_int_equal(strncmp(out, "[\n{\"id\":1,", 10), 0);
    assert_non_null(strstr(out, "},\n{"));
    assert_true(strlen(out) > 4);
    assert_string_equal(out + strlen(out) - 4, "}\n]\n");
    json_decref(doc);
    free(out);
}

static void test_json_empty_and_bad(void **state)
{
    static const struct export_col cols[] = {{"a", EXPORT_TEXT}, {"a", EXPORT_INT}};
    static const char *const bad[] = {"ok\xff"};
    static const char *const good[] = {"ok"};
    struct exporter *x = NULL;
    struct err e = {0};
    char *out = run(EXPORT_JSON, one_text, 1, NULL, NULL, 0, NULL);
    size_t len = 0;
    json_t *doc;
    FILE *fp;

    (void)state;
    assert_string_equal(out, "[\n]\n");
    doc = json_loads(out, 0, NULL);
    assert_true(json_is_array(doc) && json_array_size(doc) == 0);
    json_decref(doc);
    free(out);

    /* Invalid UTF-8 rejects the row alone; the output stays valid JSON. */
    fp = open_memstream(&out, &len);
    assert_int_equal(export_begin(EXPORT_JSON, fp, NULL, one_text, 1, NULL, &x, &e), 0);
    assert_int_equal(export_row(x, bad, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "UTF-8"));
    assert_int_equal(export_row(x, good, &e), 0);
    assert_int_equal(export_finish(x, NULL, &e), 0);
    fclose(fp);
    assert_string_equal(out, "[\n{\"v\":\"ok\"}\n]\n");
    free(out);

    /* Two columns with one name would lose data in a JSON object. */
    fp = open_memstream(&out, &len);
    assert_int_equal(export_begin(EXPORT_JSON, fp, NULL, cols, 2, NULL, &x, &e), ERR_INPUT);
    assert_null(x);
    fclose(fp);
    free(out);
}

/* ---- table -------------------------------------------------------------- */

static void test_table_alignment(void **state)
{
    static const struct export_col cols[] = {
        {"Nom", EXPORT_TEXT},
        {"Ville", EXPORT_TEXT},
        {"N", EXPORT_INT},
    };
    /* "Zoe\xCC\x88l": e + U+0308 (NFD) is one column wide. */
    /* clang-format off */
    static const char *const rows[] = {
        "Émilie",       "Paris",  "7",
        "Zoë",          "Saint-Étienne", "1234",
        "Zoe\xCC\x88l", "a\tb\nc", NULL,
        "\x1b[31mX",    "bad\xff", "",
    };
    /* clang-format on */
    char *out = run(EXPORT_TABLE, cols, N(cols), NULL, rows, 4, "page 1/1, 4 contacts");

    (void)state;
    /* A line break or ESC in a value is shown, on its line (^J, ^[). */
    assert_string_equal(out, "Nom      Ville             N\n"
                             "-------  -------------  ----\n"
                             "Émilie   Paris             7\n"
                             "Zoë      Saint-Étienne  1234\n"
                             "Zoe\xCC\x88l     a b^Jc\n"
                             "^[[31mX  bad?\n"
                             "page 1/1, 4 contacts\n");
    free(out);
}

static void test_table_truncation(void **state)
{
    static const struct {
        size_t reps; /* copies of "é" */
        const char *combining;
        size_t kept; /* "é" kept before "…", 0: no cut */
    } cases[] = {{39, "", 0}, {40, "", 0}, {41, "", 39}, {50, "", 39}, {40, "\xCC\x81", 0}};
    static const struct export_col col[] = {{"T", EXPORT_TEXT}};
    struct buf v, want;
    size_t i, k;

    (void)state;
    buf_init(&v, 0);
    buf_init(&want, 0);
    for (i = 0; i < N(cases); i++) {
        const char *row[1];
        char *out;
        size_t shown = cases[i].kept ? cases[i].kept + 1 : cases[i].reps;

        buf_reset(&v);
        for (k = 0; k < cases[i].reps; k++)
            buf_adds(&v, "é");
        buf_adds(&v, cases[i].combining);
        row[0] = buf_str(&v);
        out = run(EXPORT_TABLE, col, 1, NULL, row, 1, NULL);
        buf_reset(&want);
        buf_adds(&want, "T\n");
        for (k = 0; k < shown; k++)
            buf_addc(&want, '-');
        buf_addc(&want, '\n');
        if (cases[i].kept) {
            for (k = 0; k < cases[i].kept; k++)
                buf_adds(&want, "é");
            buf_adds(&want, "…");
        } else {
            buf_adds(&want, buf_str(&v));
        }
        buf_addc(&want, '\n');
        assert_string_equal(out, buf_str(&want));
        free(out);
    }
    buf_release(&v);
    buf_release(&want);
}

static void test_table_empty(void **state)
{
    static const struct export_col cols[] = {{"A", EXPORT_TEXT}, {"B", EXPORT_INT}};
    char *out = run(EXPORT_TABLE, cols, 2, NULL, NULL, 0, "page 1/1");

    (void)state;
    assert_string_equal(out, "A  B\n-  -\n(no rows)\npage 1/1\n");
    free(out);
    out = run(EXPORT_TABLE, cols, 2, NULL, NULL, 0, NULL);
    assert_string_equal(out, "A  B\n-  -\n(no rows)\n");
    free(out);
}

/* ---- errors common to the text formats ---------------------------------- */

static void test_text_io_error(void **state)
{
    static const enum export_format fmts[] = {EXPORT_TABLE, EXPORT_CSV, EXPORT_JSON};
    static const char *const row[] = {"x"};
    struct exporter *x = NULL;
    struct err e = {0};
    size_t f;
    FILE *fp;

    (void)state;
    for (f = 0; f < N(fmts); f++) {
        /* /dev/full: writes are buffered, then fail with ENOSPC. */
        fp = fopen("/dev/full", "w");
        if (!fp)
            skip();
        assert_int_equal(export_begin(fmts[f], fp, NULL, one_text, 1, NULL, &x, &e), 0);
        assert_int_equal(export_row(x, row, &e), 0);
        assert_int_equal(export_finish(x, NULL, &e), ERR_IO);
        assert_non_null(strstr(e.msg, "cannot write"));
        fclose(fp);
    }
}

static void test_bad_arguments(void **state)
{
    static const struct export_col noname[] = {{NULL, EXPORT_TEXT}};
    struct export_opts tab = {.separator = '\t'};
    struct exporter *x = (struct exporter *)&x;
    struct err e = {0};

    (void)state;
    assert_int_equal(export_begin(EXPORT_CSV, NULL, NULL, one_text, 1, NULL, &x, &e), ERR_INPUT);
    assert_null(x);
    assert_int_equal(export_begin(EXPORT_XLSX, stdout, NULL, one_text, 1, NULL, &x, &e), ERR_INPUT);
    assert_int_equal(export_begin(EXPORT_CSV, stdout, NULL, one_text, 0, NULL, &x, &e), ERR_INPUT);
    assert_int_equal(export_begin(EXPORT_CSV, stdout, NULL, noname, 1, NULL, &x, &e), ERR_INPUT);
    assert_int_equal(export_begin(EXPORT_CSV, stdout, NULL, one_text, 1, &tab, &x, &e), ERR_INPUT);
    assert_int_equal(export_begin((enum export_format)42, stdout, NULL, one_text, 1, NULL, &x, &e),
                     ERR_INPUT);
    assert_null(x);
    export_abort(NULL);
}

/* ---- XLSX ----------------------------------------------------------------- */

struct tmpdir {
    char path[64];
};

static int tmpdir_setup(void **state)
{
    struct tmpdir *t = calloc(1, sizeof(*t));

    snprintf(t->path, sizeof(t->path), "/tmp/postier-export-XXXXXX");
    if (!mkdtemp(t->path)) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

/* Number of entries in dir, "." and ".." excluded. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

static int tmpdir_teardown(void **state)
{
    struct tmpdir *t = *state;
    struct buf p;
    struct dirent *de;
    DIR *d = opendir(t->path);

    buf_init(&p, 0);
    while (d && (de = readdir(d)) != NULL) {
        buf_reset(&p);
        buf_printf(&p, "%s/%s", t->path, de->d_name);
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            unlink(buf_str(&p));
    }
    if (d)
        closedir(d);
    rmdir(t->path);
    buf_release(&p);
    free(t);
    return 0;
}

/* Mirrors the expectations in check_xlsx.py. */
static const struct export_col xlsx_cols[] = {
    {"Name", EXPORT_TEXT},
    {"Count", EXPORT_INT},
    {"Born", EXPORT_DATE},
    {"Seen", EXPORT_DATETIME},
};
/* clang-format off */
static const char *const xlsx_rows[] = {
    "Émilie Dupont", "42", "1990-02-28", "2024-03-01T10:20:30.5+01:00",
    "=1+1",          "-7", "",           "2024-12-31 23:59:59",
    "",              NULL, "2000-01-01", NULL,
};
/* clang-format on */

static int begin_xlsx(const char *path, struct exporter **x, struct err *e)
{
    return export_begin(EXPORT_XLSX, NULL, path, xlsx_cols, N(xlsx_cols), NULL, x, e);
}

/* The checker sits next to this file.  __FILE__ is relative to the build
 * root (where ninja runs), which is the parent of this binary's folder. */
static int find_checker(struct buf *out)
{
    char exe[4096], file[] = __FILE__;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    const char *src = getenv("POSTIER_SRC");

    buf_reset(out);
    if (src) {
        buf_printf(out, "%s/tests/unit/check_xlsx.py", src);
        if (access(buf_str(out), R_OK) == 0)
            return 0;
    }
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    buf_reset(out);
    if (file[0] != '/')
        buf_printf(out, "%s/", dirname(dirname(exe)));
    buf_printf(out, "%s/check_xlsx.py", dirname(file));
    return access(buf_str(out), R_OK);
}

static int run_checker(const char *checker, const char *xlsx)
{
    char *argv[] = {(char *)"python3", (char *)checker, (char *)xlsx, NULL};
    pid_t pid;
    int status;

    if (posix_spawn(&pid, "/usr/bin/python3", NULL, NULL, argv, environ) != 0)
        return -1;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_xlsx_file(void **state)
{
    struct tmpdir *t = *state;
    struct exporter *x = NULL;
    struct err e = {0};
    struct buf path, checker;
    struct stat st;
    size_t r;

    buf_init(&path, 0);
    buf_init(&checker, 0);
    buf_printf(&path, "%s/out.xlsx", t->path);
    assert_int_equal(begin_xlsx(buf_str(&path), &x, &e), 0);
    for (r = 0; r < N(xlsx_rows) / N(xlsx_cols); r++)
        assert_int_equal(export_row(x, xlsx_rows + r * N(xlsx_cols), &e), 0);
    /* The target appears only once finished. */
    assert_int_not_equal(stat(buf_str(&path), &st), 0);
    assert_int_equal(export_finish(x, NULL, &e), 0);
    assert_int_equal(stat(buf_str(&path), &st), 0);
    assert_true(st.st_size > 1000);
    assert_int_equal(count_entries(t->path), 1); /* no temp file left */

    if (access("/usr/bin/python3", X_OK) != 0 || find_checker(&checker) != 0) {
        print_message("# python3 or check_xlsx.py not found: openpyxl check skipped\n");
    } else {
        assert_int_equal(run_checker(buf_str(&checker), buf_str(&path)), 0);
    }
    buf_release(&path);
    buf_release(&checker);
}

static void test_xlsx_bad_values(void **state)
{
    static const char *const bad_date[] = {"x", "1", "2024-02-30", ""};
    static const char *const bad_utf8[] = {"\xC3", "1", "", ""};
    static const char *const good[] = {"ok", "1", "2024-02-29", ""};
    const char *too_long[] = {NULL, "2", NULL, NULL};
    char *long_text;
    struct tmpdir *t = *state;
    struct exporter *x = NULL;
    struct err e = {0};
    struct buf path;

    buf_init(&path, 0);
    buf_printf(&path, "%s/bad.xlsx", t->path);
    assert_int_equal(begin_xlsx(buf_str(&path), &x, &e), 0);
    assert_int_equal(export_row(x, bad_date, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "'Born'"));
    assert_non_null(strstr(e.msg, "2024-02-30"));
    assert_int_equal(export_row(x, bad_utf8, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "'Name'"));
    /* Over Excel's 32767 characters per cell: refused, not truncated. */
    long_text = malloc(32769);
    memset(long_text, 'a', 32768);
    long_text[32768] = '\0';
    too_long[0] = long_text;
    assert_int_equal(export_row(x, too_long, &e), ERR_TOOBIG);
    assert_non_null(strstr(e.msg, "'Name'"));
    long_text[32767] = '\0';
    assert_int_equal(export_row(x, too_long, &e), 0);
    free(long_text);
    /* A rejected row leaves the export usable. */
    assert_int_equal(export_row(x, good, &e), 0);
    assert_int_equal(export_finish(x, NULL, &e), 0);
    buf_release(&path);
}

static void test_xlsx_unwritable(void **state)
{
    struct tmpdir *t = *state;
    struct exporter *x = NULL;
    struct err e = {0};
    struct buf path;

    buf_init(&path, 0);
    /* A missing directory (the tests may run as root: no chmod tricks). */
    buf_printf(&path, "%s/missing/out.xlsx", t->path);
    assert_int_equal(begin_xlsx(buf_str(&path), &x, &e), ERR_IO);
    assert_null(x);
    assert_non_null(strstr(e.msg, "missing/out.xlsx"));

    /* A directory in the way is refused up front... */
    buf_reset(&path);
    buf_printf(&path, "%s/dir.xlsx", t->path);
    assert_int_equal(mkdir(buf_str(&path), 0700), 0);
    assert_int_equal(begin_xlsx(buf_str(&path), &x, &e), ERR_IO);
    assert_non_null(strstr(e.msg, "not a regular file"));
    assert_int_equal(count_entries(t->path), 1);
    assert_int_equal(rmdir(buf_str(&path)), 0);

    /* ...and one appearing meanwhile makes the final rename fail. */
    assert_int_equal(begin_xlsx(buf_str(&path), &x, &e), 0);
    assert_int_equal(export_row(x, xlsx_rows, &e), 0);
    assert_int_equal(mkdir(buf_str(&path), 0700), 0);
    assert_int_equal(export_finish(x, NULL, &e), ERR_IO);
    assert_non_null(strstr(e.msg, "dir.xlsx"));
    assert_int_equal(count_entries(t->path), 1); /* only the directory */
    rmdir(buf_str(&path));
    buf_release(&path);
}

static void test_xlsx_abort_keeps_old_file(void **state)
{
    struct tmpdir *t = *state;
    struct exporter *x = NULL;
    struct err e = {0};
    struct buf path;
    struct stat st;
    FILE *fp;

    buf_init(&path, 0);
    buf_printf(&path, "%s/old.xlsx", t->path);
    fp = fopen(buf_str(&path), "w");
    assert_non_null(fp);
    fputs("previous", fp);
    fclose(fp);
    assert_int_equal(begin_xlsx(buf_str(&path), &x, &e), 0);
    assert_int_equal(export_row(x, xlsx_rows, &e), 0);
    assert_int_equal(export_row(x, xlsx_rows + 4, &e), 0);
    export_abort(x);
    assert_int_equal(stat(buf_str(&path), &st), 0);
    assert_int_equal(st.st_size, 8);
    assert_int_equal(count_entries(t->path), 1);
    buf_release(&path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_csv_dangerous),
        cmocka_unit_test(test_csv_cells),
        cmocka_unit_test(test_csv_layout),
        cmocka_unit_test(test_typed_values),
        cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_json_empty_and_bad),
        cmocka_unit_test(test_table_alignment),
        cmocka_unit_test(test_table_truncation),
        cmocka_unit_test(test_table_empty),
        cmocka_unit_test(test_text_io_error),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test_setup_teardown(test_xlsx_file, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_xlsx_bad_values, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_xlsx_unwritable, tmpdir_setup, tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_xlsx_abort_keeps_old_file, tmpdir_setup,
                                        tmpdir_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
