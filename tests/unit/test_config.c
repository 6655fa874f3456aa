/* Unit tests of config/: defaults, loading, validation errors with file and
 * line, path resolution (relative to the config folder's parent) and the
 * default file written by init. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "util/buf.h"

static char root[PATH_MAX];

static int setup(void **state)
{
    char tmpl[] = "/tmp/postier-config-test-XXXXXX";
    struct buf b;

    (void)state;
    if (!mkdtemp(tmpl))
        return -1;
    snprintf(root, sizeof root, "%s", tmpl);
    buf_init(&b, 0);
    buf_printf(&b, "%s/config", root);
    mkdir(buf_str(&b), 0755);
    buf_release(&b);
    return 0;
}

static int teardown(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    buf_printf(&b, "rm -rf '%s'", root);
    if (system(buf_str(&b)) != 0)
        return -1;
    buf_release(&b);
    return 0;
}

static char *write_ini(const char *text)
{
    struct buf p;
    FILE *f;

    buf_init(&p, 0);
    buf_printf(&p, "%s/config/postier.ini", root);
    unlink(buf_str(&p));
    f = fopen(buf_str(&p), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return buf_take(&p);
}

static void defaults_when_missing(void **state)
{
    struct config *c = NULL;
    struct err e;

    (void)state;
    assert_int_equal(config_load("/nonexistent/config/postier.ini", 0, &c, &e), 0);
    assert_string_equal(c->database, "/nonexistent/postier.db");
    assert_string_equal(c->spool, "/nonexistent/spool");
    assert_string_equal(c->email_maildir, "/nonexistent/spool/sent");
    assert_string_equal(c->email_transport, "maildir");
    assert_string_equal(c->smtp_url, "smtp://127.0.0.1:25");
    assert_int_equal(c->smtp_connections, 4);
    assert_int_equal(c->smtp_max_attempts, 5);
    assert_string_equal(c->sms_quiet_hours, "20:00-08:00");
    assert_string_equal(c->run_fallback, "main");
    config_free(c);
    assert_int_equal(config_load("/nonexistent/config/postier.ini", 1, &c, &e), ERR_IO);
    assert_non_null(strstr(e.msg, "/nonexistent/config/postier.ini"));
}

static void values_and_paths(void **state)
{
    char *path = write_ini("[store]\ndatabase = data/book.db ; comment\nspool = /var/spool/p\n"
                           "[smtp]\nconnections = 8\nurl = smtps://mail.example:465\n"
                           "[run]\nfallback = none\n");
    struct config *c = NULL;
    struct err e;
    struct buf want;

    (void)state;
    assert_int_equal(config_load(path, 1, &c, &e), 0);
    buf_init(&want, 0);
    buf_printf(&want, "%s/data/book.db", root);
    assert_string_equal(c->database, buf_str(&want));
    assert_string_equal(c->spool, "/var/spool/p");
    assert_int_equal(c->smtp_connections, 8);
    assert_string_equal(c->smtp_url, "smtps://mail.example:465");
    assert_string_equal(c->run_fallback, "none");
    buf_release(&want);
    config_free(c);
    free(path);
}

static void errors_name_line_and_key(void **state)
{
    static const struct {
        const char *ini, *want;
    } cases[] = {
        {"[email]\ntransport = pigeon\n", ":2: [email] transport: 'pigeon' is not one of"},
        {"[smtp]\n\nconnections = many\n", ":3: [smtp] connections: 'many'"},
        {"[smtp]\ntimeout = -1\n", ":2: [smtp] timeout"},
        {"[store]\ndatabse = x\n", ":2: unknown key 'databse' in section [store]"},
        {"[nope]\nkey = 1\n", ":2: unknown key 'key' in section [nope]"},
        {"[run]\nthis is not ini\n", ":2: syntax error"},
        {"[store]\ndatabase =\n", ":2: [store] database: empty"},
        {"[history]\n\nkey_file =\n", ":3: [history] key_file: empty"},
        {"[run]\n\ntimezone = Europe/Pariss\n", ":3: [run] timezone: 'Europe/Pariss' is not a time zone"},
        {"[run]\ntimezone = ../../etc/passwd\n", ":2: [run] timezone: '../../etc/passwd'"},
        {"[smtp]\nconnections = 0\n", ":2: [smtp] connections: 0 is too small (at least 1)"},
        {"[smtp]\n\ntimeout = 0\n", ":3: [smtp] timeout: 0 is too small"},
        {"[sms]\nconnections = 0\n", ":2: [sms] connections: 0 is too small"},
        {"[smtp]\nurl = htp://mail.example\n", ":2: [smtp] url: unknown scheme 'htp://'"},
        {"[smtp]\nurl = mail.example:25\n", ":2: [smtp] url: 'mail.example:25' is not a URL"},
        {"[sms]\nurl = ftp://gw.example/send\n", ":2: [sms] url: unknown scheme 'ftp://'"},
        {"[smtp]\nverify = maybe\n", ":2: [smtp] verify: 'maybe' is not yes or no"},
        {"[template]\nmax_iterations = 0\n", ":2: [template] max_iterations: 0 is too small"},
        {"[smtp]\nconnections = 100000\n", ":2: [smtp] connections: 100000 is too large (at most 64)"},
        {"[smtp]\nurl = SMTP://mail.example\n", ":2: [smtp] url: unknown scheme 'SMTP://'"},
        {"[smtp]\nurl = smtp://\n", ":2: [smtp] url: 'smtp://' names no host"},
        {"[smtp]\nurl = smtp://:25\n", ":2: [smtp] url: 'smtp://:25' names no host"},
        {"[smtp]\nurl = smtp://127.0.0.1:99999\n", ":2: [smtp] url: '99999': the port is not 1-65535"},
        {"[smtp]\nurl = smtp://127.0.0.1:\n", ":2: [smtp] url: '': the port is not 1-65535"},
        {"[smtp]\nurl = smtp://u:HUNTER2@mail.example\n",
         ":2: [smtp] url: a user name or password in the URL (set [smtp] username and password"},
        {"[sms]\nurl = https://u:HUNTER2@gw.example/send\n", ":2: [sms] url: a user name or password"},
        {"[smtp]\nurl = u:HUNTER2@mail.example\n", ":2: [smtp] url: not a URL"},
        {"[smtp]\nurl = smtps://a.example, smtp://b.example\n", ":2: [smtp] url: one URL only"},
        {"[smtp]\n\nca_file = /nonexistent/ca.pem\n",
         ":3: [smtp] ca_file: /nonexistent/ca.pem: No such file or directory"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = write_ini(cases[i].ini);
        struct config *c = NULL;
        struct err e;
        assert_int_equal(config_load(path, 1, &c, &e), ERR_CONFIG);
        assert_null(c);
        if (!strstr(e.msg, cases[i].want) || strncmp(e.msg, path, strlen(path)) ||
            strstr(e.msg, "HUNTER2"))
            fail_msg("case %zu: got '%s', want '%s'", i, e.msg, cases[i].want);
        free(path);
    }
}

static void default_file_round_trips(void **state)
{
    struct config *a = NULL, *b = NULL;
    struct buf p;
    struct err e;
    FILE *f;
    char line[256];
    int keys = 0;

    (void)state;
    buf_init(&p, 0);
    buf_printf(&p, "%s/fresh/config/postier.ini", root);
    assert_int_equal(config_write_default(buf_str(&p), &e), 0);
    assert_int_equal(config_write_default(buf_str(&p), &e), ERR_EXISTS);
    f = fopen(buf_str(&p), "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        keys += line[0] == ';' && strchr(line, '=') != NULL;
    fclose(f);
    assert_int_equal(keys, 44); /* every key of SPEC §8, and the extensions */
    assert_int_equal(config_load(buf_str(&p), 1, &a, &e), 0);
    assert_int_equal(config_load("/x/config/postier.ini", 0, &b, &e), 0);
    assert_string_equal(a->sms_quiet_days, b->sms_quiet_days);
    assert_int_equal(a->smtp_timeout, b->smtp_timeout);
    config_free(a);
    config_free(b);
    buf_release(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_when_missing),
        cmocka_unit_test(values_and_paths),
        cmocka_unit_test(errors_name_line_and_key),
        cmocka_unit_test(default_file_round_trips),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
