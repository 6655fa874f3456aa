/* Unit tests of util/: the capped buffer and its sticky error, error
 * records, ISO dates, string vectors and trimming. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <time.h>

#include "util/buf.h"
#include "util/date.h"
#include "util/err.h"
#include "util/strv.h"
#include "util/xalloc.h"

static void buf_grows_and_terminates(void **state)
{
    struct buf b;
    int i;

    (void)state;
    buf_init(&b, 0);
    assert_string_equal(buf_str(&b), "");
    for (i = 0; i < 1000; i++)
        assert_int_equal(buf_printf(&b, "%d,", i % 10), 0);
    assert_int_equal(b.len, 2000);
    assert_int_equal(buf_str(&b)[2000], '\0');
    assert_memory_equal(buf_str(&b), "0,1,2,", 6);
    buf_release(&b);
}

static void buf_cap_is_sticky(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 8);
    assert_int_equal(buf_adds(&b, "12345678"), 0);
    assert_int_equal(buf_addc(&b, '9'), ERR_TOOBIG);
    assert_string_equal(buf_str(&b), "12345678"); /* unchanged by the failed append */
    assert_int_equal(buf_adds(&b, ""), ERR_TOOBIG); /* sticky */
    assert_int_equal(b.err, ERR_TOOBIG);
    buf_reset(&b);
    assert_int_equal(buf_adds(&b, "ok"), 0);
    assert_string_equal(buf_str(&b), "ok");
    buf_release(&b);
}

/* buf_reserve: one allocation for what is announced, never past the cap
 * nor an error; appends that fit keep the bytes in place, exactly up to
 * the last byte before the terminator. */
static void buf_reserve_hint(void **state)
{
    struct buf b;
    const char *at;
    char chunk[100];
    int i;

    (void)state;
    memset(chunk, 'x', sizeof chunk);
    buf_init(&b, 0);
    buf_reserve(&b, 1000);
    at = b.data;
    assert_non_null(at);
    assert_true(b.alloc >= 1001);
    for (i = 0; i < 10; i++)
        assert_int_equal(buf_add(&b, chunk, sizeof chunk), 0);
    assert_ptr_equal(b.data, at); /* 1000 bytes: no move */
    assert_int_equal(b.len, 1000);
    assert_int_equal(b.data[1000], '\0');
    assert_int_equal(buf_add(&b, "y", 1), 0);
    assert_int_equal(b.len, 1001);
    assert_string_equal(b.data + 995, "xxxxxy");
    buf_release(&b);

    buf_init(&b, 10); /* past the cap: a hint only */
    buf_reserve(&b, 1000);
    assert_int_equal(b.err, 0);
    assert_true(b.alloc <= 64);
    assert_int_equal(buf_add(&b, chunk, 10), 0);
    assert_int_equal(buf_add(&b, "z", 1), ERR_TOOBIG);
    assert_int_equal(b.len, 10);
    buf_reserve(&b, 5); /* full, sticky error: nothing */
    assert_int_equal(b.err, ERR_TOOBIG);
    buf_release(&b);
}

static void buf_printf_over_cap(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 10);
    assert_int_equal(buf_printf(&b, "%s", "0123456789A"), ERR_TOOBIG);
    assert_int_equal(b.len, 0);
    buf_release(&b);

    /* room allocated but not allowed: refused, nothing of it kept */
    buf_init(&b, 10);
    assert_int_equal(buf_adds(&b, "12345"), 0);
    assert_int_equal(buf_printf(&b, "%s", "678901"), ERR_TOOBIG);
    assert_string_equal(buf_str(&b), "12345");
    assert_int_equal(b.len, 5);
    buf_release(&b);

    /* longer than what is allocated: grows, written whole */
    buf_init(&b, 0);
    assert_int_equal(buf_adds(&b, "x"), 0);
    assert_int_equal(buf_printf(&b, "%0500d|%s", 7, "end"), 0);
    assert_int_equal(b.len, 1 + 500 + 4);
    assert_string_equal(buf_str(&b) + 498, "007|end");
    buf_release(&b);
}

static void buf_take_hands_over(void **state)
{
    struct buf b;
    char *s;

    (void)state;
    buf_init(&b, 0);
    s = buf_take(&b);
    assert_string_equal(s, "");
    free(s);
    buf_adds(&b, "abc");
    s = buf_take(&b);
    assert_string_equal(s, "abc");
    assert_int_equal(b.len, 0);
    assert_null(b.data);
    free(s);
    buf_release(&b);
}

static void err_prefix_and_truncation(void **state)
{
    struct err e;
    char big[2 * ERR_MSG_MAX];

    (void)state;
    assert_int_equal(err_set(&e, ERR_INPUT, "field '%s': bad", "email"), ERR_INPUT);
    assert_int_equal(err_prefix(&e, "%s:%d", "f.csv", 7), ERR_INPUT);
    assert_string_equal(e.msg, "f.csv:7: field 'email': bad");
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    err_set(&e, ERR_IO, "%s", big);
    assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
    err_prefix(&e, "%s", big);
    assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
    assert_int_equal(err_set(NULL, ERR_DB, "x"), ERR_DB);
    err_clear(&e);
    assert_int_equal(e.code, 0);
    assert_string_equal(e.msg, "");
}

static void dates(void **state)
{
    static const struct {
        const char *s;
        int ok;
    } cases[] = {
        {"2026-11-23", 1}, {"2024-02-29", 1}, {"2023-02-29", 0}, {"2000-02-29", 1},
        {"1900-02-29", 0}, {"2026-13-01", 0}, {"2026-00-10", 0}, {"2026-04-31", 0},
        {"2026-4-01", 0},  {"26-04-01", 0},   {"2026-04-01x", 0}, {"", 0},
        {"2026/04/01", 0}, {"1899-12-31", 0}, {"2026-12-31", 1},
    };
    char today[DATE_LEN + 1];
    struct err e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = date_check(cases[i].s, &e);
        if ((rc == 0) != cases[i].ok)
            fail_msg("date_check(%s) = %d", cases[i].s, rc);
        if (rc)
            assert_non_null(strstr(e.msg, cases[i].s));
    }
    date_today(today);
    assert_int_equal(date_check(today, &e), 0);
    {
        char before[DATE_LEN + 1], after[DATE_LEN + 1], far[DATE_LEN + 1];
        date_today_plus(-1, before);
        date_today_plus(1, after);
        date_today_plus(400, far);
        assert_int_equal(date_check(before, &e), 0);
        assert_int_equal(date_check(far, &e), 0);
        assert_true(strcmp(before, today) < 0 && strcmp(today, after) < 0);
        assert_true(strcmp(far, after) > 0); /* a year and more later */
    }
}

/* Last (it changes the process's zone): names of the zone database only,
 * and local time read in the zone once it is used. */
static void zones(void **state)
{
    static const struct {
        const char *z;
        int ok;
    } cases[] = {
        {"Europe/Paris", 1}, {"UTC", 1}, {"America/Argentina/Buenos_Aires", 1},
        {"Etc/GMT+10", 1},   {"", 1},    {"Europe/Pariss", 0},
        {"Europe", 0},       {"/usr/share/zoneinfo/UTC", 0},
        {"../zoneinfo/UTC", 0}, {"Europe/../UTC", 0}, {"Europe//Paris", 0},
        {"Europe/Paris/", 0}, {"Europe/Paris\n", 0}, {"Europe/Paris ", 0},
    };
    time_t t = 1798759800; /* 2026-12-31T23:30:00Z */
    struct tm tm;
    struct err e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = date_zone_check(cases[i].z, &e);
        if ((rc == 0) != cases[i].ok)
            fail_msg("date_zone_check(%s) = %d", cases[i].z, rc);
        if (rc && (rc != ERR_CONFIG || !strstr(e.msg, "is not a time zone")))
            fail_msg("date_zone_check(%s): %s", cases[i].z, e.msg);
    }
    date_use_zone("Europe/Paris");
    assert_non_null(localtime_r(&t, &tm));
    assert_int_equal(tm.tm_year + 1900, 2027);
    assert_int_equal(tm.tm_mday, 1);
    assert_int_equal(tm.tm_hour, 0);
    assert_int_equal(tm.tm_gmtoff, 3600);
    date_use_zone(""); /* the zone in use stays */
    assert_non_null(localtime_r(&t, &tm));
    assert_int_equal(tm.tm_gmtoff, 3600);
}

static void split_and_trim(void **state)
{
    struct strv v;
    char s[] = " \t a b \r\n";

    (void)state;
    strv_init(&v);
    assert_int_equal(strv_split(&v, " 06 12 ; ;+33 1 ;;", ';'), 2);
    assert_string_equal(v.v[0], "06 12");
    assert_string_equal(v.v[1], "+33 1");
    assert_null(v.v[2]);
    assert_int_equal(strv_split(&v, "", ';'), 0);
    assert_int_equal(strv_split(&v, NULL, ';'), 0);
    strv_push(&v, "x");
    assert_int_equal(v.n, 3);
    strv_release(&v);
    assert_string_equal(str_trim(s), "a b");
}

/* str_put writes what snprintf "%.*s" would, after o bytes, for every
 * buffer size; NULL is nothing. */
static void str_put_cuts_as_snprintf(void **state)
{
    static const char *const texts[] = {"", "a", "delivered to Maildir new/", "\xc3\xa9t\xc3\xa9"};
    size_t t, n, o, len;

    (void)state;
    for (t = 0; t < sizeof texts / sizeof *texts; t++)
        for (n = 1; n < 32; n++)
            for (o = 0; o < n; o++)
                for (len = 0; len <= strlen(texts[t]); len++) {
                    char want[32], got[32];
                    memset(want, 'x', sizeof want);
                    memset(got, 'x', sizeof got);
                    memcpy(want, "0123456789012345678901234567890", o);
                    memcpy(got, want, o);
                    snprintf(want + o, n - o, "%.*s", (int)len, texts[t]);
                    assert_int_equal(str_put(got, n, o, texts[t], len), strlen(want));
                    assert_memory_equal(got, want, sizeof want);
                }
    {
        char b[4] = "xyz";
        assert_int_equal(str_put(b, sizeof b, 1, NULL, 5), 1);
        assert_string_equal(b, "x");
        assert_int_equal(str_puts(b, sizeof b, 1, "abcdef"), 3); /* cut */
        assert_string_equal(b, "xab");
        assert_int_equal(str_puts(b, sizeof b, 0, NULL), 0);
        assert_string_equal(b, "");
    }
}

/* A length limit never splits a character; complete ones are kept. */
static void str_utf8_cut_whole_characters(void **state)
{
    static const struct {
        const char *s;
        size_t n, want;
    } cases[] = {
        {"abc", 2, 2},
        {"\xc3\xa9t\xc3\xa9", 1, 0},     /* inside é */
        {"\xc3\xa9t\xc3\xa9", 2, 2},     /* after é */
        {"a\xe2\x82\xac", 3, 1},          /* inside € */
        {"a\xe2\x82\xac", 4, 4},
        {"\xf0\x9f\x98\x80x", 3, 0},     /* inside an emoji */
        {"\xf0\x9f\x98\x80x", 4, 4},
        {"\x80\x80\x80\x80", 3, 3},      /* stray continuation bytes: left alone */
        {"", 0, 0},
    };
    char msg[600];
    struct err e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(str_utf8_cut(cases[i].s, cases[i].n), cases[i].want);
    /* err_set truncating a message of accents ends on a whole character */
    for (i = 0; i + 2 < sizeof msg; i += 2)
        memcpy(msg + i, "\xc3\xa9", 2);
    msg[i] = '\0';
    err_set(&e, ERR_INPUT, "%s", msg);
    assert_int_equal(str_utf8_cut(e.msg, strlen(e.msg)), strlen(e.msg));
    assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_grows_and_terminates), cmocka_unit_test(buf_cap_is_sticky),
        cmocka_unit_test(buf_printf_over_cap),      cmocka_unit_test(buf_take_hands_over),
        cmocka_unit_test(err_prefix_and_truncation), cmocka_unit_test(dates),
        cmocka_unit_test(split_and_trim),           cmocka_unit_test(buf_reserve_hint),
        cmocka_unit_test(str_put_cuts_as_snprintf), cmocka_unit_test(zones),
        cmocka_unit_test(str_utf8_cut_whole_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
