/* Unit tests for contacts/validate: flag and consent names, e-mail syntax
 * and IDN normalisation, phone numbers to E.164, type codes, locales and
 * seed-004 type numbers.  Table-driven; hostile input (CR/LF, 8-bit bytes,
 * limits, separators only) sits in the same tables as the ordinary cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "contacts/validate.h"

/* Expected message fragment when a case must fail; NULL when it must pass. */
struct list_case {
    const char *in;
    const char *want;    /* normalised output when ok */
    const char *errpart; /* substring of the error message when it fails */
};

/* ---- flags and consents ---- */

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(validate_flag_name(0), "invoice");
    assert_string_equal(validate_flag_name(7), "receiver");
    assert_null(validate_flag_name(8));
    assert_null(validate_flag_name(-1));
    assert_string_equal(validate_consent_name(0), "commercial");
    assert_string_equal(validate_consent_name(3), "sms_marketing");
    assert_null(validate_consent_name(4));
}

static void test_flags_parse(void **state)
{
    static const struct {
        const char *in;
        int rc;
        unsigned bits;
    } cases[] = {
        {"", 0, 0},
        {"   ", 0, 0},
        {"|||", 0, 0},
        {"invoice", 0, FLAG_INVOICE},
        {"invoice|order", 0, FLAG_INVOICE | FLAG_ORDER},
        {" order | invoice ", 0, FLAG_INVOICE | FLAG_ORDER},
        {"invoice|invoice", 0, FLAG_INVOICE},
        {"Invoice|AFTER_SALES", 0, FLAG_INVOICE | FLAG_AFTER_SALES},
        {"invoice||receiver", 0, FLAG_INVOICE | FLAG_RECEIVER},
        {"invoice|payment_reminder|due_notice|document_reminder|claim_settlement|order|"
         "after_sales|receiver",
         0, 0xff},
        {"xyz", ERR_INPUT, 0},
        {"invoice|xyz", ERR_INPUT, 0},
        {"invoices", ERR_INPUT, 0},
        {"invoic", ERR_INPUT, 0},
        {"invoice,order", ERR_INPUT, 0},
        {"invoice\r\n", ERR_INPUT, 0},
        {"commercial", ERR_INPUT, 0},
        {"fa\xc3\xa7ture", ERR_INPUT, 0},
    };
    struct err e;
    unsigned bits;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bits = 0xdead;
        err_clear(&e);
        assert_int_equal(validate_flags_parse(cases[i].in, &bits, &e), cases[i].rc);
        assert_int_equal(bits, cases[i].bits);
        if (cases[i].rc)
            assert_non_null(strstr(e.msg, "(expected one of: invoice, payment_reminder, "));
    }
    validate_flags_parse("invoice|xyz", &bits, &e);
    assert_string_equal(e.msg, "unknown flag 'xyz' (expected one of: invoice, payment_reminder, "
                               "due_notice, document_reminder, claim_settlement, order, "
                               "after_sales, receiver)");
    /* A CR/LF in the value is shown escaped, never raw. */
    validate_flags_parse("invoice\r\nBcc", &bits, &e);
    assert_non_null(strstr(e.msg, "'invoice\\r\\nBcc'"));
    assert_null(strchr(e.msg, '\r'));
    /* No error record at all is allowed. */
    assert_int_equal(validate_flags_parse("nope", &bits, NULL), ERR_INPUT);
}

static void test_consents_parse(void **state)
{
    struct err e;
    unsigned bits;

    (void)state;
    assert_int_equal(validate_consents_parse("commercial|esign", &bits, &e), 0);
    assert_int_equal(bits, CONSENT_COMMERCIAL | CONSENT_ESIGN);
    assert_int_equal(validate_consents_parse("", &bits, &e), 0);
    assert_int_equal(bits, 0);
    assert_int_equal(validate_consents_parse("partner|sms_marketing", &bits, &e), 0);
    assert_int_equal(bits, CONSENT_PARTNER | CONSENT_SMS_MARKETING);
    assert_int_equal(validate_consents_parse("invoice", &bits, &e), ERR_INPUT);
    assert_string_equal(e.msg, "unknown consent 'invoice' (expected one of: commercial, "
                               "partner, esign, sms_marketing)");
}

static void test_names_format(void **state)
{
    struct buf b;
    unsigned bits;
    struct err e;

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(validate_flags_format(&b, 0), 0);
    assert_string_equal(buf_str(&b), "");
    assert_int_equal(validate_flags_format(&b, FLAG_ORDER | FLAG_INVOICE), 0);
    assert_string_equal(buf_str(&b), "invoice|order");
    buf_reset(&b);
    /* Bits past FLAG_COUNT are not names: ignored. */
    assert_int_equal(validate_flags_format(&b, FLAG_RECEIVER | 0x100), 0);
    assert_string_equal(buf_str(&b), "receiver");
    buf_reset(&b);
    assert_int_equal(validate_consents_format(&b, 0xf), 0);
    assert_string_equal(buf_str(&b), "commercial|partner|esign|sms_marketing");
    /* Every set round-trips. */
    for (unsigned i = 0; i < 1u << FLAG_COUNT; i++) {
        buf_reset(&b);
        assert_int_equal(validate_flags_format(&b, i), 0);
        assert_int_equal(validate_flags_parse(buf_str(&b), &bits, &e), 0);
        assert_int_equal(bits, i);
    }
    buf_release(&b);
    /* A full buffer reports ERR_TOOBIG. */
    buf_init(&b, 10);
    assert_int_equal(validate_flags_format(&b, 0xff), ERR_TOOBIG);
    buf_release(&b);
}

/* ---- e-mail ---- */

static void run_list(const struct list_case *cases, size_t n,
                     int (*fn)(const char *, struct buf *, struct err *))
{
    struct buf b;
    struct err e;
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        buf_init(&b, 0);
        buf_adds(&b, "KEEP");
        err_clear(&e);
        rc = fn(cases[i].in, &b, &e);
        if (cases[i].want) {
            if (rc)
                print_error("case %zu '%s': %s\n", i, cases[i].in, e.msg);
            assert_int_equal(rc, 0);
            assert_string_equal(buf_str(&b) + 4, cases[i].want);
        } else {
            if (rc != ERR_INPUT)
                print_error("case %zu '%s' passed: '%s'\n", i, cases[i].in, buf_str(&b));
            assert_int_equal(rc, ERR_INPUT);
            /* Nothing written on failure, and no raw control byte in the message. */
            assert_string_equal(buf_str(&b), "KEEP");
            if (!strstr(e.msg, cases[i].errpart))
                print_error("case %zu: message '%s'\n", i, e.msg);
            assert_non_null(strstr(e.msg, cases[i].errpart));
            for (const char *p = e.msg; *p; p++)
                assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
        }
        buf_release(&b);
    }
}

static int emails_fn(const char *s, struct buf *out, struct err *e)
{
    return validate_emails(s, out, e);
}

static int ascii_fn(const char *s, struct buf *out, struct err *e)
{
    return validate_email_ascii(s, out, e);
}

static void test_emails(void **state)
{
    static const struct list_case cases[] = {
        {"", "", NULL},
        {"   ", "", NULL},
        {";;;", "", NULL},
        {" ; ; ", "", NULL},
        {"jean.dupont@exemple.fr", "jean.dupont@exemple.fr", NULL},
        {"  jean.dupont@exemple.fr\t", "jean.dupont@exemple.fr", NULL},
        {"Jean.Dupont@EXEMPLE.FR", "Jean.Dupont@exemple.fr", NULL},
        {"a@x.fr;b@y.fr", "a@x.fr;b@y.fr", NULL},
        {"a@x.fr ; b@y.fr ;", "a@x.fr;b@y.fr", NULL},
        {";a@x.fr;;b@y.fr;;", "a@x.fr;b@y.fr", NULL},
        {"a@x.fr;a@X.FR;b@y.fr", "a@x.fr;b@y.fr", NULL},
        {"A@x.fr;a@x.fr", "A@x.fr;a@x.fr", NULL},
        {"contact@société.fr", "contact@société.fr", NULL},
        {"contact@SOCIÉTÉ.FR", "contact@société.fr", NULL},
        {"contact@xn--socit-esab.fr", "contact@société.fr", NULL},
        {"contact@soci\x65\xcc\x81t\x65\xcc\x81.fr", "contact@société.fr", NULL},
        {"info@straße.de", "info@straße.de", NULL},
        {"x@ｅｘａｍｐｌｅ.fr", "x@example.fr", NULL},
        {"user+tag@mail.exemple.co.uk", "user+tag@mail.exemple.co.uk", NULL},
        {"o'brien@x.ie", "o'brien@x.ie", NULL},
        {"!#$%&'*+-/=?^_`{|}~@x.fr", "!#$%&'*+-/=?^_`{|}~@x.fr", NULL},
        {"a@1.fr", "a@1.fr", NULL},
        {"a@x-y.fr", "a@x-y.fr", NULL},
        {"a@x.f2", "a@x.f2", NULL},
        /* rejected */
        {"a@b", NULL, "at least two labels"},
        {"a..b@x.fr", NULL, "'..' before '@'"},
        {".a@x.fr", NULL, "starts or ends with '.'"},
        {"a.@x.fr", NULL, "starts or ends with '.'"},
        {"@x.fr", NULL, "nothing before '@'"},
        {"a@", NULL, "nothing after '@'"},
        {"@", NULL, "nothing before '@'"},
        {"a@-x.fr", NULL, "domain"},
        {"a@x-.fr", NULL, "domain"},
        {"a@ab--cd.fr", NULL, "domain"},
        {"a@x_y.fr", NULL, "character not allowed in the domain"},
        {"a b@x.fr", NULL, "contains a space"},
        {"a@x.fr\r\nBcc: y@z.fr", NULL, "contains a line break"},
        {"a@x.fr\nBcc:y@z.fr", NULL, "'a@x.fr\\nBcc:y@z.fr'"},
        {"a@x.fr\r", NULL, "line break"},
        {"a@x.fr\tb", NULL, "control character"},
        {"a\x1b[31m@x.fr", NULL, "'a\\x1b[31m@x.fr'"},
        {"a\x7f@x.fr", NULL, "control character"},
        {"\342\200\256a@x.fr", NULL, "'\\xe2\\x80\\xaea@x.fr'"},
        {"a\302\2331m@x.fr", NULL, "'a\\xc2\\x9b1m@x.fr'"},
        {"jean.dupont", NULL, "no '@'"},
        {"a@b@x.fr", NULL, "more than one '@'"},
        {"a@x.fr,b@y.fr", NULL, "separate addresses with ';'"},
        {"Jean <a@x.fr>", NULL, "space"},
        {"<a@x.fr>", NULL, "character not allowed before '@'"},
        {"a(comment)@x.fr", NULL, "character not allowed before '@'"},
        {"\"a b\"@x.fr", NULL, "space"},
        {"\"ab\"@x.fr", NULL, "quoted local parts"},
        {"\"ab\"", NULL, "quoted local parts"},
        {"élodie@exemple.fr", NULL, "SMTPUTF8"},
        {"a\xff@x.fr", NULL, "SMTPUTF8"},
        {"a@\xff.fr", NULL, "bad domain"},
        {"a@x\xc3.fr", NULL, "bad domain"},
        {"a@\xc2\xa0x.fr", NULL, "domain"},
        {"a@x\xe2\x80\xa8y.fr", NULL, "bad domain"},
        {"a@x.fr.", NULL, "ends with '.'"},
        {"a@.x.fr", NULL, "empty label"},
        {"a@x..fr", NULL, "empty label"},
        {"a@[192.0.2.1]", NULL, "address literals"},
        {"a@192.0.2.1", NULL, "all digits"},
        {"a@x.123", NULL, "all digits"},
        {"a@xn--zz.fr", NULL, "bad domain"},
        {"x@xn--upontcole-6oa.fr", NULL, "A-label that decodes to a name IDNA2008 refuses"},
        {"a@\xf0\x9f\x92\xa9.la", NULL, "bad domain"},
        {"ok@x.fr;bad", NULL, "'bad': no '@'"},
        {"ok@x.fr;;a..b@x.fr", NULL, "'a..b@x.fr'"},
    };

    (void)state;
    run_list(cases, sizeof cases / sizeof cases[0], emails_fn);
}

static void test_email_ascii(void **state)
{
    static const struct list_case cases[] = {
        {"contact@société.fr", "contact@xn--socit-esab.fr", NULL},
        {"contact@SOCIÉTÉ.fr", "contact@xn--socit-esab.fr", NULL},
        {" jean.dupont@Exemple.FR ", "jean.dupont@exemple.fr", NULL},
        {"info@straße.de", "info@xn--strae-oqa.de", NULL},
        {"a@xn--socit-esab.fr", "a@xn--socit-esab.fr", NULL},
        {"a@x.fr;", "a@x.fr", NULL},
        {"", NULL, "no e-mail address"},
        {";", NULL, "no e-mail address"},
        {"a@x.fr;b@y.fr", NULL, "expected one e-mail address"},
        {"a@b", NULL, "two labels"},
        {"a@x.fr\r\nBcc: y@z.fr", NULL, "line break"},
    };

    (void)state;
    run_list(cases, sizeof cases / sizeof cases[0], ascii_fn);
}

/* Builds a string of n copies of c followed by tail, in a static buffer. */
static const char *rep(char c, size_t n, const char *tail)
{
    static char s[4][2048];
    static int k;
    char *p = s[k++ % 4];

    memset(p, c, n);
    memcpy(p + n, tail, strlen(tail) + 1);
    return p;
}

/* A domain of total characters in labels of at most 63: "aaa…a.aaa…a.fr". */
static const char *domain_of(size_t total)
{
    static char d[512];
    size_t i, n = total - 3;

    for (i = 0; i < n; i++)
        d[i] = (i % 64 == 63) ? '.' : 'a';
    if (d[n - 1] == '.') {
        d[n - 2] = '.';
        d[n - 1] = 'b';
    }
    memcpy(d + n, ".fr", 4);
    return d;
}

static void test_email_limits(void **state)
{
    char in[2048];
    struct buf b;
    struct err e;
    char *big;
    size_t i;

    (void)state;
    buf_init(&b, 0);
    /* RFC 5321 §4.5.3.1.1: local part 64 octets. */
    assert_int_equal(validate_emails(rep('a', 64, "@x.fr"), &b, &e), 0);
    assert_int_equal(validate_emails(rep('a', 65, "@x.fr"), &b, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "64 characters"));
    /* Labels of 63, not 64. */
    snprintf(in, sizeof in, "a@%s", rep('b', 63, ".fr"));
    assert_int_equal(validate_emails(in, &b, &e), 0);
    snprintf(in, sizeof in, "a@%s", rep('b', 64, ".fr"));
    assert_int_equal(validate_emails(in, &b, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "63"));
    /* Domain over 253 characters. */
    snprintf(in, sizeof in, "a@%s", domain_of(254));
    assert_int_equal(strlen(in), 256);
    assert_int_equal(validate_emails(in, &b, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "253"));
    /* RFC 5321 §4.5.3.1.3: whole address 254, not 255. */
    snprintf(in, sizeof in, "%s@%s", rep('a', 64, ""), domain_of(189));
    assert_int_equal(strlen(in), 254);
    buf_reset(&b);
    assert_int_equal(validate_emails(in, &b, &e), 0);
    assert_string_equal(buf_str(&b), in);
    snprintf(in, sizeof in, "%s@%s", rep('a', 64, ""), domain_of(190));
    assert_int_equal(validate_emails(in, &b, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "254"));
    /* The limit applies to the punycode form: 60 'é' fit no label. */
    snprintf(in, sizeof in, "a@");
    for (i = 0; i < 60; i++)
        memcpy(in + 2 + 2 * i, "\xc3\xa9", 2);
    memcpy(in + 122, ".fr", 4);
    assert_int_equal(validate_emails(in, &b, &e), ERR_INPUT);
    /* One megabyte of input: refused quickly, message cut short. */
    big = malloc((1 << 20) + 16);
    assert_non_null(big);
    memset(big, 'a', 1 << 20);
    memcpy(big + (1 << 20), "@x.fr", 6);
    assert_int_equal(validate_emails(big, &b, &e), ERR_INPUT);
    assert_true(strlen(e.msg) < 200);
    assert_non_null(strstr(e.msg, "...'"));
    memcpy(big, "a@", 2);
    assert_int_equal(validate_emails(big, &b, &e), ERR_INPUT);
    /* A megabyte of separators is just empty. */
    memset(big, ';', 1 << 20);
    big[1 << 20] = '\0';
    buf_reset(&b);
    assert_int_equal(validate_emails(big, &b, &e), 0);
    assert_string_equal(buf_str(&b), "");
    free(big);
    buf_release(&b);
}

static void test_email_counts(void **state)
{
    struct buf in, b;
    struct err e;
    int i;

    (void)state;
    buf_init(&in, 0);
    buf_init(&b, 0);
    for (i = 0; i < 100; i++)
        buf_printf(&in, "u%d@x.fr;", i);
    assert_int_equal(validate_emails(buf_str(&in), &b, &e), 0);
    assert_int_equal(strncmp(buf_str(&b), "u0@x.fr;u1@x.fr;", 16), 0);
    buf_adds(&in, "u100@x.fr");
    buf_reset(&b);
    assert_int_equal(validate_emails(buf_str(&in), &b, &e), ERR_TOOBIG);
    assert_string_equal(buf_str(&b), "");
    buf_release(&b);
    /* The output cap is honoured: ERR_TOOBIG, out unchanged. */
    buf_init(&b, 8);
    assert_int_equal(validate_emails("jean.dupont@exemple.fr", &b, &e), ERR_TOOBIG);
    assert_string_equal(buf_str(&b), "");
    buf_release(&b);
    buf_release(&in);
    /* NULL error record and NULL input are tolerated. */
    buf_init(&b, 0);
    assert_int_equal(validate_emails("a@b", &b, NULL), ERR_INPUT);
    assert_int_equal(validate_emails(NULL, &b, NULL), 0);
    buf_release(&b);
}

/* ---- phones ---- */

static int phones33_fn(const char *s, struct buf *out, struct err *e)
{
    return validate_phones(s, "33", out, e);
}

static void test_phones(void **state)
{
    static const struct list_case cases[] = {
        {"", "", NULL},
        {";;;", "", NULL},
        {" ;\t; ", "", NULL},
        {"+33 6 12 34 56 78", "+33612345678", NULL},
        {"0033612345678", "+33612345678", NULL},
        {"06 12 34 56 78", "+33612345678", NULL},
        {"06.12.34.56.78", "+33612345678", NULL},
        {"06-12-34-56-78", "+33612345678", NULL},
        {"06/12/34/56/78", "+33612345678", NULL},
        {"0612345678", "+33612345678", NULL},
        {"+33 (0)6 12 34 56 78", "+33612345678", NULL},
        {"+33(0)612345678", "+33612345678", NULL},
        {"+33 ( 0 ) 6 12 34 56 78", "+33612345678", NULL},
        {"0033 (0)6 12 34 56 78", "+33612345678", NULL},
        {"(01) 23 45 67 89", "+33123456789", NULL},
        {"+44 20 7946 0958", "+442079460958", NULL},
        {"+44 (0)20 7946 0958", "+442079460958", NULL},
        {"+1 (212) 555-0100", "+12125550100", NULL},
        {"+39 06 1234 5678", "+390612345678", NULL},
        {"06\302\24012\302\24034\302\24056\302\24078", "+33612345678", NULL},
        {"06\342\200\25712 34 56 78", "+33612345678", NULL},
        {"06 12 34 56 78;01 23 45 67 89", "+33612345678;+33123456789", NULL},
        {"06 12 34 56 78 ; +33612345678;0033 6 12 34 56 78", "+33612345678", NULL},
        {"01 23 45 67 89;06 12 34 56 78;01.23.45.67.89", "+33123456789;+33612345678", NULL},
        {";06 12 34 56 78;;", "+33612345678", NULL},
        /* overseas departments under their own country codes */
        {"0690 12 34 56", "+590690123456", NULL},
        {"0590 12 34 56", "+590590123456", NULL},
        {"0694 12 34 56", "+594694123456", NULL},
        {"0696 12 34 56;0697 12 34 56", "+596696123456;+596697123456", NULL},
        {"0692 12 34 56", "+262692123456", NULL},
        {"0639 12 34 56", "+262639123456", NULL},
        {"+33 6 90 12 34 56", "+590690123456", NULL},
        {"+590 690 12 34 56", "+590690123456", NULL},
        {"0690 12 34 56;+590690123456", "+590690123456", NULL},
        /* rejected */
        {"xyz", NULL, "cannot read phone number 'xyz'"},
        {"06 12 34 56 7", NULL, "10 digits"},
        {"06 12 34 56 789", NULL, "10 digits"},
        {"612345678", NULL, "leading 0"},
        {"+33 06 12 34 56 78", NULL, "9 digits after +33"},
        {"+33 6 12 34 56", NULL, "9 digits after +33"},
        {"0033 06 12 34 56 78", NULL, "9 digits after +33"},
        {"000 33 6 12 34 56 78", NULL, "country code"},
        {"+0 6 12 34 56 78", NULL, "country code"},
        {"+", NULL, "no digits"},
        {"()", NULL, "no digits"},
        {"+1234567", NULL, "8 to 15"},
        {"+1234567890123456", NULL, "8 to 15"},
        {"+12345678901234567890123", NULL, "too many digits"},
        {"06 12 34 56 78 ext 12", NULL, "letters"},
        {"tel:+33612345678", NULL, "letters"},
        {"+33 6 12 34 56 78 x", NULL, "letters"},
        {"06 12 +34 56 78", NULL, "'+' is only allowed at the start"},
        {"++33612345678", NULL, "'+' is only allowed at the start"},
        {"06 12 34 56 78\r\nX", NULL, "'06 12 34 56 78\\r\\nX'"},
        {"06,12,34,56,78", NULL, "unexpected character"},
        {"06\xc3\xa9", NULL, "unexpected character"},
        {"06\37712345678", NULL, "'06\\xff12345678'"},
        {"06\xc2", NULL, "unexpected character"},
        {"06\xe2\x80", NULL, "unexpected character"},
        {"06 12 34 56 78;abc", NULL, "'abc'"},
        {"06 12 34 56 78, 01 23 45 67 89", NULL, "unexpected character"},
    };

    (void)state;
    run_list(cases, sizeof cases / sizeof cases[0], phones33_fn);
}

static void test_phones_cc(void **state)
{
    struct buf b, in;
    struct err e;
    char *big;
    int i;

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(validate_phones("020 7946 0958", "44", &b, &e), 0);
    assert_string_equal(buf_str(&b), "+442079460958");
    buf_reset(&b);
    assert_int_equal(validate_phones("+33 6 12 34 56 78", NULL, &b, &e), 0);
    assert_string_equal(buf_str(&b), "+33612345678");
    assert_int_equal(validate_phones("06 12 34 56 78", NULL, &b, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "default country code"));
    assert_int_equal(validate_phones("06 12 34 56 78", "", &b, &e), ERR_INPUT);
    assert_int_equal(validate_phones("06 12 34 56 78", "0033", &b, &e), ERR_CONFIG);
    assert_int_equal(validate_phones("06 12 34 56 78", "+33", &b, &e), ERR_CONFIG);
    assert_int_equal(validate_phones("06 12 34 56 78", "03", &b, &e), ERR_CONFIG);
    /* 100 numbers pass, 101 are too many. */
    buf_init(&in, 0);
    for (i = 0; i < 100; i++)
        buf_printf(&in, "06 12 34 56 %02d;", i);
    buf_reset(&b);
    assert_int_equal(validate_phones(buf_str(&in), "33", &b, &e), 0);
    assert_int_equal(b.len, 100 * 13 - 1);
    buf_adds(&in, "0612345678");
    assert_int_equal(validate_phones(buf_str(&in), "33", &b, &e), ERR_TOOBIG);
    buf_release(&in);
    /* A megabyte of digits or separators. */
    big = malloc((1 << 20) + 1);
    assert_non_null(big);
    memset(big, '6', 1 << 20);
    big[1 << 20] = '\0';
    assert_int_equal(validate_phones(big, "33", &b, &e), ERR_INPUT);
    assert_true(strlen(e.msg) < 200);
    memset(big, ' ', 1 << 20);
    buf_reset(&b);
    assert_int_equal(validate_phones(big, "33", &b, &e), 0);
    assert_string_equal(buf_str(&b), "");
    free(big);
    buf_release(&b);
    /* Output cap. */
    buf_init(&b, 5);
    assert_int_equal(validate_phones("0612345678", "33", &b, &e), ERR_TOOBIG);
    assert_string_equal(buf_str(&b), "");
    buf_release(&b);
}

/* ---- codes ---- */

static void test_type_code(void **state)
{
    static const struct {
        const char *in;
        int rc;
    } cases[] = {
        {"exp", 0},
        {"gar", 0},
        {"a", 0},
        {"a_1", 0},
        {"abcdefghijklmnopqrstuvwxyz012345", 0},
        {"abcdefghijklmnopqrstuvwxyz0123456", ERR_INPUT},
        {"", ERR_INPUT},
        {"Exp", ERR_INPUT},
        {"1exp", ERR_INPUT},
        {"_exp", ERR_INPUT},
        {"ex-p", ERR_INPUT},
        {"ex p", ERR_INPUT},
        {" exp", ERR_INPUT},
        {"exp\n", ERR_INPUT},
        {"expé", ERR_INPUT},
    };
    struct err e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(validate_type_code(cases[i].in, &e), cases[i].rc);
    validate_type_code("Exp\r\n", &e);
    assert_string_equal(e.msg, "bad type code 'Exp\\r\\n': a lower-case letter then a-z, 0-9 "
                               "or '_', at most 32 characters");
}

static void test_locale(void **state)
{
    static const struct {
        const char *in;
        int rc;
    } cases[] = {
        {"fr", 0},          {"en", 0},         {"", ERR_INPUT},
        {"FR", ERR_INPUT},  {"de", ERR_INPUT}, {"fr_FR", ERR_INPUT},
        {" fr", ERR_INPUT}, {"f", ERR_INPUT},
    };
    struct err e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(validate_locale(cases[i].in, &e), cases[i].rc);
    validate_locale("de", &e);
    assert_string_equal(e.msg, "unknown locale 'de' (expected fr or en)");
}

static void test_seed004(void **state)
{
    static const struct {
        const char *in;
        int rc;
        unsigned flags;
    } cases[] = {
        {"1", 0, FLAG_INVOICE | FLAG_PAYMENT_REMINDER | FLAG_DUE_NOTICE},
        {"2", 0, FLAG_ORDER},
        {"3", 0, 0},
        {"4", 0,
         FLAG_INVOICE | FLAG_PAYMENT_REMINDER | FLAG_DUE_NOTICE | FLAG_ORDER | FLAG_AFTER_SALES},
        {"5", 0, FLAG_AFTER_SALES},
        {"6", 0, FLAG_RECEIVER},
        {" 4\t", 0,
         FLAG_INVOICE | FLAG_PAYMENT_REMINDER | FLAG_DUE_NOTICE | FLAG_ORDER | FLAG_AFTER_SALES},
        {"  2  ", 0, FLAG_ORDER},
        {"", ERR_INPUT, 0},
        {" ", ERR_INPUT, 0},
        {"0", ERR_INPUT, 0},
        {"7", ERR_INPUT, 0},
        {"6.", ERR_INPUT, 0},
        {"6.0", ERR_INPUT, 0},
        {"06", ERR_INPUT, 0},
        {"12", ERR_INPUT, 0},
        {"1 2", ERR_INPUT, 0},
        {"-1", ERR_INPUT, 0},
        {"+1", ERR_INPUT, 0},
        {"a", ERR_INPUT, 0},
        {"1\r\n2", ERR_INPUT, 0},
        {"\xef\xbc\x91", ERR_INPUT, 0},
    };
    struct err e;
    unsigned flags;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        flags = 0xdead;
        assert_int_equal(validate_seed004_type(cases[i].in, &flags, &e), cases[i].rc);
        assert_int_equal(flags, cases[i].flags);
    }
    validate_seed004_type("6.", &flags, &e);
    assert_non_null(strstr(e.msg, "bad type '6.'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),          cmocka_unit_test(test_flags_parse),
        cmocka_unit_test(test_consents_parse), cmocka_unit_test(test_names_format),
        cmocka_unit_test(test_emails),         cmocka_unit_test(test_email_ascii),
        cmocka_unit_test(test_email_limits),   cmocka_unit_test(test_email_counts),
        cmocka_unit_test(test_phones),         cmocka_unit_test(test_phones_cc),
        cmocka_unit_test(test_type_code),      cmocka_unit_test(test_locale),
        cmocka_unit_test(test_seed004),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
