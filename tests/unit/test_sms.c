/* Unit tests of sms/: mobile ranges and overseas country codes, GSM-7 /
 * UCS-2 measurement and segment counts, French public holidays (Easter
 * checked against an independent table), quiet-time parsing and the next
 * allowed time in Europe/Paris across weekends, holidays and DST changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sms/sms.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- numbers ---- */

static void numbers_canonical(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"+33690123456", "+590690123456"}, /* Guadeloupe mobile */
        {"+33691123456", "+590691123456"},
        {"+33590123456", "+590590123456"},
        {"+33694123456", "+594694123456"}, /* Guyane */
        {"+33594123456", "+594594123456"},
        {"+33696123456", "+596696123456"}, /* Martinique */
        {"+33697123456", "+596697123456"},
        {"+33596123456", "+596596123456"},
        {"+33692123456", "+262692123456"}, /* Réunion */
        {"+33693123456", "+262693123456"},
        {"+33262123456", "+262262123456"},
        {"+33263123456", "+262263123456"},
        {"+33639123456", "+262639123456"}, /* Mayotte */
        {"+33269123456", "+262269123456"},
        {"+33508123456", "+33508123456"}, /* St-Pierre has no national 05 08 form */
        /* unchanged */
        {"+33612345678", "+33612345678"},
        {"+33712345678", "+33712345678"},
        {"+33145678901", "+33145678901"},
        {"+33695123456", "+33695123456"},
        {"+33591123456", "+33591123456"},
        {"+33260123456", "+33260123456"},
        {"+590690123456", "+590690123456"},
        {"+262692123456", "+262692123456"},
        {"+32470123456", "+32470123456"},
        {"+12125551234", "+12125551234"},
        {"+3369", "+3369"},
        {"", ""},
    };
    char out[24];
    size_t i;

    (void)state;
    for (i = 0; i < N(cases); i++) {
        memset(out, 'X', sizeof out);
        sms_number_canonical(cases[i].in, out, sizeof out);
        if (strcmp(out, cases[i].out) != 0)
            fail_msg("canonical(%s) = %s, want %s", cases[i].in, out, cases[i].out);
    }
}

static void numbers_canonical_small_buffer(void **state)
{
    char out[8];

    (void)state;
    memset(out, 'X', sizeof out);
    sms_number_canonical("+33690123456", out, sizeof out);
    assert_string_equal(out, "+590690"); /* cut, still terminated */
    memset(out, 'X', sizeof out);
    sms_number_canonical("+33612345678", out, 1);
    assert_int_equal(out[0], '\0');
    assert_int_equal(out[1], 'X'); /* nothing written past n */
    sms_number_canonical("+33612345678", out, 0);
    assert_int_equal(out[0], '\0');
    assert_int_equal(out[1], 'X');
    sms_number_canonical(NULL, out, sizeof out);
    assert_string_equal(out, "");
}

static void numbers_mobile(void **state)
{
    static const struct {
        const char *n;
        int mobile;
    } cases[] = {
        /* France */
        {"+33612345678", 1},
        {"+33712345678", 1},
        {"+33700000000", 0}, /* 0700: machine-to-machine */
        {"+33700123456", 0},
        {"+33701234567", 1},
        {"+33145678901", 0},
        {"+33912345678", 0},
        {"+33812345678", 0},
        /* overseas, +33 form and canonical form */
        {"+33690123456", 1},
        {"+590690123456", 1},
        {"+590691123456", 1},
        {"+590590123456", 0},
        {"+594694123456", 1},
        {"+594594123456", 0},
        {"+596696123456", 1},
        {"+596697123456", 1},
        {"+596596123456", 0},
        {"+262692123456", 1},
        {"+262693123456", 1},
        {"+262639123456", 1},
        {"+262262123456", 0},
        {"+262269123456", 0},
        {"+508508123456", 0},
        /* neighbours */
        {"+32470123456", 1},
        {"+3222345678", 0},
        {"+41791234567", 1},
        {"+41751234567", 1},
        {"+41741234567", 0},
        {"+41800123456", 0},
        {"+41221234567", 0},
        {"+4915112345678", 1},
        {"+491601234567", 1},
        {"+491711234567", 1},
        {"+49301234567", 0},
        {"+491412345678", 0},
        {"+34612345678", 1},
        {"+34712345678", 1},
        {"+34912345678", 0},
        {"+393401234567", 1},
        {"+390612345678", 0},
        {"+352621123456", 1},
        {"+35226123456", 0},
        {"+31612345678", 1},
        {"+31201234567", 0},
        {"+351912345678", 1},
        {"+351212345678", 0},
        {"+447700900123", 1},
        {"+447012345678", 0}, /* personal number */
        {"+447623456789", 0}, /* pager */
        {"+442071234567", 0},
        {"+37761234567", 1},
        {"+37793123456", 0},
        /* unknown plans */
        {"+12125551234", 0},
        {"+61412345678", 0},
        /* not E.164 */
        {"", 0},
        {"+", 0},
        {"33612345678", 0},
        {"0612345678", 0},
        {"+33 612345678", 0},
        {"+33612345678\n", 0},
        {"+3361234567890123", 0}, /* 16 digits */
        {"+336a2345678", 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < N(cases); i++)
        if (sms_is_mobile(cases[i].n) != cases[i].mobile)
            fail_msg("sms_is_mobile(%s) != %d", cases[i].n, cases[i].mobile);
    assert_int_equal(sms_is_mobile("+491512345678901"), 1); /* 15 digits */
    assert_int_equal(sms_is_mobile(NULL), 0);
}

/* ---- text ---- */

static void check_size(const char *text, enum sms_coding coding, size_t units, size_t segments)
{
    struct sms_size sz = {SMS_UCS2, 9999, 9999};
    struct err e;
    int rc = sms_measure(text, &sz, &e);

    if (rc != 0)
        fail_msg("sms_measure(%.40s) = %d: %s", text, rc, e.msg);
    if (sz.coding != coding || sz.units != units || sz.segments != segments)
        fail_msg("sms_measure(%.40s) = {%s, %zu, %zu}, want {%s, %zu, %zu}", text,
                 sz.coding == SMS_GSM7 ? "GSM7" : "UCS2", sz.units, sz.segments,
                 coding == SMS_GSM7 ? "GSM7" : "UCS2", units, segments);
}

static void text_alphabets(void **state)
{
    static const struct {
        const char *s;
        enum sms_coding coding;
        size_t units, segments;
    } cases[] = {
        {"", SMS_GSM7, 0, 0},
        {"Hello", SMS_GSM7, 5, 1},
        /* the whole default alphabet (3GPP TS 23.038 §6.2.1), ESC excepted */
        {"@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
         "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà",
         SMS_GSM7, 127, 1},
        /* the extension table, two septets each */
        {"^{}\\[~]|€", SMS_GSM7, 18, 1},
        {"Café à 5€", SMS_GSM7, 10, 1},
        {"Ça va", SMS_GSM7, 5, 1},
        {"Votre RDV: 12/03 à 9h30. STOP au 36180", SMS_GSM7, 38, 1},
        /* French letters outside GSM-7: one UCS-2 unit each */
        {"ça va", SMS_UCS2, 5, 1},
        {"Votre commande est prête", SMS_UCS2, 24, 1},
        {"â", SMS_UCS2, 1, 1},
        {"î", SMS_UCS2, 1, 1},
        {"ô", SMS_UCS2, 1, 1},
        {"û", SMS_UCS2, 1, 1},
        {"ë", SMS_UCS2, 1, 1},
        {"ï", SMS_UCS2, 1, 1},
        {"œuvre", SMS_UCS2, 5, 1},
        {"È", SMS_UCS2, 1, 1}, /* only lowercase è is in the alphabet */
        {"Α", SMS_UCS2, 1, 1}, /* Greek capital alpha, not Latin A */
        {"α", SMS_UCS2, 1, 1},
        {"`", SMS_UCS2, 1, 1},
        {"a\tb", SMS_UCS2, 3, 1},
        {"a\fb", SMS_UCS2, 3, 1}, /* form feed is left out of the extension */
        {"\x7f", SMS_UCS2, 1, 1},
        {"«ok»", SMS_UCS2, 4, 1},
        {"’", SMS_UCS2, 1, 1},
        {"€ ç", SMS_UCS2, 3, 1}, /* € is one unit in UCS-2 */
        /* outside the BMP: a surrogate pair */
        {"😀", SMS_UCS2, 2, 1},
        {"a😀b", SMS_UCS2, 4, 1},
        {"\xf4\x8f\xbf\xbf", SMS_UCS2, 2, 1}, /* U+10FFFF */
        {"\xef\xbf\xbf", SMS_UCS2, 1, 1},     /* U+FFFF */
    };
    size_t i;

    (void)state;
    for (i = 0; i < N(cases); i++)
        check_size(cases[i].s, cases[i].coding, cases[i].units, cases[i].segments);
}

/* Writes n copies of s after buf[*len]. */
static void rep(char *buf, size_t *len, const char *s, size_t n)
{
    size_t k = strlen(s);

    while (n--) {
        memcpy(buf + *len, s, k);
        *len += k;
    }
    buf[*len] = '\0';
}

static void text_segments(void **state)
{
    static const struct {
        const char *head; /* once, then */
        const char *unit; /* repeated count times, then */
        size_t count;
        const char *mid;  /* once, then */
        const char *tail; /* repeated tail_count times */
        size_t tail_count;
        enum sms_coding coding;
        size_t units, segments;
    } cases[] = {
        {"", "a", 160, "", "", 0, SMS_GSM7, 160, 1},
        {"", "a", 161, "", "", 0, SMS_GSM7, 161, 2},
        {"", "a", 306, "", "", 0, SMS_GSM7, 306, 2},
        {"", "a", 307, "", "", 0, SMS_GSM7, 307, 3},
        {"", "a", 459, "", "", 0, SMS_GSM7, 459, 3},
        {"", "a", 460, "", "", 0, SMS_GSM7, 460, 4},
        {"", "€", 80, "", "", 0, SMS_GSM7, 160, 1},
        {"", "€", 80, "a", "", 0, SMS_GSM7, 161, 2},
        {"", "a", 159, "€", "", 0, SMS_GSM7, 161, 2},
        /* an escape pair never split: 152 + [2 moved] + 152 does not fit in 2 */
        {"", "a", 152, "{", "a", 152, SMS_GSM7, 306, 3},
        {"", "a", 151, "{", "a", 153, SMS_GSM7, 306, 2}, /* fits exactly */
        {"", "a", 152, "a", "a", 153, SMS_GSM7, 306, 2},
        /* 76 escape pairs (152 septets) per part: 153 pairs take 3 parts */
        {"", "€", 153, "", "", 0, SMS_GSM7, 306, 3},
        {"", "é", 160, "", "", 0, SMS_GSM7, 160, 1},
        /* UCS-2 */
        {"ç", "a", 69, "", "", 0, SMS_UCS2, 70, 1},
        {"ç", "a", 70, "", "", 0, SMS_UCS2, 71, 2},
        {"ç", "a", 133, "", "", 0, SMS_UCS2, 134, 2},
        {"ç", "a", 134, "", "", 0, SMS_UCS2, 135, 3},
        {"", "😀", 35, "", "", 0, SMS_UCS2, 70, 1},
        {"", "😀", 36, "", "", 0, SMS_UCS2, 72, 2},
        {"", "😀", 67, "", "", 0, SMS_UCS2, 134, 3}, /* 33 pairs (66 units) per part */
        /* a surrogate pair never split: 66 + [2 moved] + 66 */
        {"ç", "a", 65, "😀", "a", 66, SMS_UCS2, 134, 3},
        {"ç", "a", 64, "😀", "a", 67, SMS_UCS2, 134, 2},
        /* GSM-7 text turns UCS-2 with one foreign character anywhere */
        {"", "a", 200, "ê", "", 0, SMS_UCS2, 201, 3},
        {"", "{", 100, "ê", "", 0, SMS_UCS2, 101, 2}, /* 1 unit each in UCS-2 */
    };
    static char buf[4096];
    size_t i, len;

    (void)state;
    for (i = 0; i < N(cases); i++) {
        len = 0;
        rep(buf, &len, cases[i].head, 1);
        rep(buf, &len, cases[i].unit, cases[i].count);
        rep(buf, &len, cases[i].mid, 1);
        rep(buf, &len, cases[i].tail, cases[i].tail_count);
        check_size(buf, cases[i].coding, cases[i].units, cases[i].segments);
    }
}

static void text_invalid_utf8(void **state)
{
    static const char *const bad[] = {
        "\xc3",             /* truncated */
        "abc\xc3",          /* truncated at the end */
        "\xc3\x28",         /* bad continuation */
        "\x80",             /* stray continuation */
        "ok \xbf ok",       /* stray continuation inside */
        "\xc0\xaf",         /* overlong '/' */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\xaf",     /* overlong */
        "\xf0\x80\x80\xaf", /* overlong */
        "\xed\xa0\x80",     /* UTF-16 surrogate D800 */
        "\xed\xbf\xbf",     /* surrogate DFFF */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xf5\x80\x80\x80", /* never valid lead */
        "\xfe",
        "\xff",
        "\xe2\x82",     /* € cut */
        "\xf0\x9f\x98", /* 😀 cut */
        "caf\xe9",      /* Latin-1 é */
    };
    struct sms_size sz;
    struct err e;
    size_t i;

    (void)state;
    for (i = 0; i < N(bad); i++) {
        e.code = 0;
        e.msg[0] = '\0';
        if (sms_measure(bad[i], &sz, &e) != ERR_INPUT)
            fail_msg("case %zu accepted", i);
        assert_int_equal(e.code, ERR_INPUT);
        assert_non_null(strstr(e.msg, "UTF-8"));
    }
    assert_int_equal(sms_measure("ab\xff", &sz, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "byte 3 (0xff)"));
    assert_int_equal(sms_measure("\xc3", &sz, NULL), ERR_INPUT); /* e optional */
}

/* ---- holidays ---- */

/* y-m-d plus k days, through timegm so the test does not share the
 * module's calendar arithmetic. */
static void add_days(int y, int m, int d, int k, int *oy, int *om, int *od)
{
    struct tm tm = {0};
    time_t t;

    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d + k;
    tm.tm_hour = 12;
    t = timegm(&tm);
    gmtime_r(&t, &tm);
    *oy = tm.tm_year + 1900;
    *om = tm.tm_mon + 1;
    *od = tm.tm_mday;
}

static void holidays_real_years(void **state)
{
    static const struct {
        int y, m, d, holiday;
    } cases[] = {
        /* 2024: Easter 31 Mar */
        {2024, 4, 1, 1},
        {2024, 5, 9, 1},
        {2024, 5, 20, 1},
        {2024, 3, 31, 0},
        {2024, 3, 29, 0}, /* Good Friday: not in France (but Alsace-Moselle) */
        {2024, 5, 19, 0}, /* Whit Sunday */
        {2024, 5, 10, 0},
        {2024, 4, 2, 0},
        /* 2025: Easter 20 Apr */
        {2025, 4, 21, 1},
        {2025, 5, 29, 1},
        {2025, 6, 9, 1},
        {2025, 4, 20, 0},
        {2025, 4, 1, 0},
        {2025, 5, 9, 0},
        {2025, 5, 20, 0},
        /* 2026: Easter 5 Apr */
        {2026, 4, 6, 1},
        {2026, 5, 14, 1},
        {2026, 5, 25, 1},
        {2026, 4, 5, 0},
        {2026, 4, 7, 0},
        {2026, 5, 15, 0},
        {2026, 5, 24, 0},
        {2026, 5, 26, 0},
        /* 2027: Easter 28 Mar */
        {2027, 3, 29, 1},
        {2027, 5, 6, 1},
        {2027, 5, 17, 1},
        {2027, 3, 28, 0},
        {2027, 4, 5, 0},
        {2027, 5, 25, 0},
        /* fixed */
        {2026, 1, 1, 1},
        {2026, 5, 1, 1},
        {2026, 5, 8, 1},
        {2026, 7, 14, 1},
        {2026, 8, 15, 1},
        {2026, 11, 1, 1},
        {2026, 11, 11, 1},
        {2026, 12, 25, 1},
        {2031, 7, 14, 1},
        {2026, 1, 2, 0},
        {2026, 12, 31, 0},
        {2026, 12, 26, 0}, /* St Stephen: Alsace-Moselle only */
        {2026, 7, 13, 0},
        {2026, 7, 15, 0},
        {2026, 8, 14, 0},
        {2026, 11, 2, 0},
        {2026, 5, 2, 0},
        {2026, 10, 31, 0},
        /* not dates */
        {2026, 0, 1, 0},
        {2026, 13, 1, 0},
        {2026, 1, 0, 0},
        {2026, 1, 32, 0},
        {2026, 2, 29, 0},
        {2026, 4, 31, 0},
        {-1, 1, 1, 0},
        {0, 1, 1, 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < N(cases); i++)
        if (sms_is_holiday(cases[i].y, cases[i].m, cases[i].d) != cases[i].holiday)
            fail_msg("sms_is_holiday(%d-%02d-%02d) != %d", cases[i].y, cases[i].m, cases[i].d,
                     cases[i].holiday);
}

static void holidays_follow_easter(void **state)
{
    /* Easter Sunday 2000-2040, from python-dateutil's dateutil.easter */
    static const int easter[][3] = {
        {2000, 4, 23}, {2001, 4, 15}, {2002, 3, 31}, {2003, 4, 20}, {2004, 4, 11}, {2005, 3, 27},
        {2006, 4, 16}, {2007, 4, 8},  {2008, 3, 23}, {2009, 4, 12}, {2010, 4, 4},  {2011, 4, 24},
        {2012, 4, 8},  {2013, 3, 31}, {2014, 4, 20}, {2015, 4, 5},  {2016, 3, 27}, {2017, 4, 16},
        {2018, 4, 1},  {2019, 4, 21}, {2020, 4, 12}, {2021, 4, 4},  {2022, 4, 17}, {2023, 4, 9},
        {2024, 3, 31}, {2025, 4, 20}, {2026, 4, 5},  {2027, 3, 28}, {2028, 4, 16}, {2029, 4, 1},
        {2030, 4, 21}, {2031, 4, 13}, {2032, 3, 28}, {2033, 4, 17}, {2034, 4, 9},  {2035, 3, 25},
        {2036, 4, 13}, {2037, 4, 5},  {2038, 4, 25}, {2039, 4, 10}, {2040, 4, 1},
    };
    static const struct {
        int offset, holiday;
    } around[] = {{-2, 0}, {-1, 0}, {0, 0},  {1, 1},  {2, 0}, {38, 0},
                  {39, 1}, {40, 0}, {49, 0}, {50, 1}, {51, 0}};
    size_t i, j;

    (void)state;
    for (i = 0; i < N(easter); i++) {
        int y = easter[i][0], m, d, count = 0;

        for (j = 0; j < N(around); j++) {
            int yy, mm, dd;
            add_days(y, easter[i][1], easter[i][2], around[j].offset, &yy, &mm, &dd);
            if (!around[j].holiday && mm == 5 && (dd == 1 || dd == 8))
                continue; /* the day around Ascension can be a fixed holiday */
            if (sms_is_holiday(yy, mm, dd) != around[j].holiday)
                fail_msg("%d-%02d-%02d (Easter%+d) != %d", yy, mm, dd, around[j].offset,
                         around[j].holiday);
        }
        /* 11 holidays a year, 10 when Ascension falls on 1 or 8 May */
        for (m = 1; m <= 12; m++)
            for (d = 1; d <= 31; d++)
                count += sms_is_holiday(y, m, d);
        if (count != (y == 2008 ? 10 : 11))
            fail_msg("%d has %d holidays", y, count);
    }
}

/* ---- quiet time: parsing ---- */

static void quiet_parse_ok(void **state)
{
    static const struct {
        const char *hours, *days;
        int from, to;
        unsigned bits;
    } cases[] = {
        {"20:00-08:00", "sun", 1200, 480, 0x01},
        {"21:30-07:15", "sat,sun", 1290, 435, 0x41},
        {"", "", 0, 0, 0},
        {NULL, NULL, 0, 0, 0},
        {"  ", " ", 0, 0, 0},
        {"8:00-20:00", "mon,tue,wed,thu,fri,sat", 480, 1200, 0x7e},
        {" 08:00 - 20:00 ", " Mon , SUN ", 480, 1200, 0x03},
        {"00:00-23:59", "fri", 0, 1439, 0x20},
        {"23:59-00:00", "wed,wed", 1439, 0, 0x08},
        {"12:00-12:00", "thu", 720, 720, 0x10},
    };
    struct sms_quiet q;
    struct err e;
    size_t i;

    (void)state;
    for (i = 0; i < N(cases); i++) {
        memset(&q, 0x55, sizeof q);
        if (sms_quiet_parse(cases[i].hours, cases[i].days, &q, &e) != 0)
            fail_msg("case %zu: %s", i, e.msg);
        if (q.from_min != cases[i].from || q.to_min != cases[i].to || q.days != cases[i].bits ||
            q.holidays != 1)
            fail_msg("case %zu: {%d, %d, %#x, %d}", i, q.from_min, q.to_min, q.days, q.holidays);
    }
    assert_int_equal(sms_quiet_parse("20:00-08:00", "sun", &q, NULL), 0);
}

static void quiet_parse_bad(void **state)
{
    static const struct {
        const char *hours, *days, *key;
    } cases[] = {
        {"25:00-08:00", "sun", "[sms] quiet_hours"},
        {"24:00-08:00", "sun", "[sms] quiet_hours"},
        {"20-08", "sun", "[sms] quiet_hours"},
        {"8:00-20:00x", "sun", "[sms] quiet_hours"},
        {"20:00", "sun", "[sms] quiet_hours"},
        {"20:00-", "sun", "[sms] quiet_hours"},
        {"-08:00", "sun", "[sms] quiet_hours"},
        {"20:60-08:00", "sun", "[sms] quiet_hours"},
        {"20:00-08:0", "sun", "[sms] quiet_hours"},
        {"020:00-08:00", "sun", "[sms] quiet_hours"},
        {"2000-0800", "sun", "[sms] quiet_hours"},
        {"20h00-08h00", "sun", "[sms] quiet_hours"},
        {"20:00-08:00-09:00", "sun", "[sms] quiet_hours"},
        {"20:00–08:00", "sun", "[sms] quiet_hours"}, /* en dash */
        {"-1:00-08:00", "sun", "[sms] quiet_hours"},
        {"20:00 08:00", "sun", "[sms] quiet_hours"},
        {"sun", "", "[sms] quiet_hours"},
        {"20:00-08:00", "sunday", "[sms] quiet_days"},
        {"20:00-08:00", "dim", "[sms] quiet_days"},
        {"20:00-08:00", "sun,", "[sms] quiet_days"},
        {"20:00-08:00", ",sun", "[sms] quiet_days"},
        {"20:00-08:00", "sat,,sun", "[sms] quiet_days"},
        {"20:00-08:00", "sat sun", "[sms] quiet_days"},
        {"20:00-08:00", "sat -sun", "[sms] quiet_days"},
        {"20:00-08:00", "sat;sun", "[sms] quiet_days"},
        {"20:00-08:00", "su", "[sms] quiet_days"},
        {"20:00-08:00", "0", "[sms] quiet_days"},
        {"20:00-08:00", "mon,tue,wed,thu,fri,sat,sun", "[sms] quiet_days"},
    };
    struct sms_quiet q;
    struct err e;
    size_t i;

    (void)state;
    for (i = 0; i < N(cases); i++) {
        memset(&q, 0x55, sizeof q);
        e.msg[0] = '\0';
        if (sms_quiet_parse(cases[i].hours, cases[i].days, &q, &e) != ERR_CONFIG)
            fail_msg("case %zu (%s | %s) accepted", i, cases[i].hours, cases[i].days);
        if (strncmp(e.msg, cases[i].key, strlen(cases[i].key)) != 0)
            fail_msg("case %zu: message '%s' does not start with %s", i, e.msg, cases[i].key);
        assert_int_equal(e.code, ERR_CONFIG);
        assert_int_equal(q.from_min, 0x55555555); /* out untouched on error */
    }
    /* the bad value is quoted, control bytes escaped */
    sms_quiet_parse("25:00-08:00", "", &q, &e);
    assert_non_null(strstr(e.msg, "'25:00-08:00'"));
    sms_quiet_parse("20:00-08:00\r\nX: y", "", &q, &e);
    assert_non_null(strstr(e.msg, "'20:00-08:00\\x0d\\x0aX: y'"));
    assert_null(strchr(e.msg, '\r'));
    assert_null(strchr(e.msg, '\n'));
    sms_quiet_parse("", "sat,dimanche", &q, &e);
    assert_non_null(strstr(e.msg, "'dimanche' in 'sat,dimanche'"));
    assert_int_equal(sms_quiet_parse("", "sunday", &q, NULL), ERR_CONFIG);
}

/* ---- quiet time: next allowed time, Europe/Paris ---- */

static int set_paris(void **state)
{
    (void)state;
    setenv("TZ", "Europe/Paris", 1);
    tzset();
    return 0;
}

/* Local time; isdst -1 except to pick one side of the repeated hour. */
static time_t at(int y, int mo, int d, int h, int mi, int isdst)
{
    struct tm tm = {0};

    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_isdst = isdst;
    return mktime(&tm);
}

static const char *show(time_t t, char *buf, size_t n)
{
    struct tm tm;

    if (t == (time_t)-1)
        return "never";
    localtime_r(&t, &tm);
    strftime(buf, n, "%a %Y-%m-%d %H:%M:%S %Z", &tm);
    return buf;
}

static struct sms_quiet quiet(const char *hours, const char *days, int holidays)
{
    struct sms_quiet q;
    struct err e;

    if (sms_quiet_parse(hours, days, &q, &e) != 0)
        fail_msg("%s", e.msg);
    q.holidays = holidays;
    return q;
}

/* t quiet under q, and the next allowed time is want. */
static void expect_next(const struct sms_quiet *q, time_t t, const char *want)
{
    char b1[64], b2[64];
    time_t next = 12345;

    if (sms_allowed_at(q, t, &next) != 0)
        fail_msg("%s allowed, want quiet until %s", show(t, b1, sizeof b1), want);
    if (strcmp(show(next, b2, sizeof b2), want) != 0)
        fail_msg("after %s: next %s, want %s", show(t, b1, sizeof b1), b2, want);
}

static void expect_allowed(const struct sms_quiet *q, time_t t)
{
    char b[64];
    time_t next = 12345;

    if (sms_allowed_at(q, t, &next) != 1 || next != t)
        fail_msg("%s not allowed", show(t, b, sizeof b));
}

static void allowed_default_rules(void **state)
{
    struct sms_quiet q = quiet("20:00-08:00", "sun", 1);

    (void)state;
    /* weekday */
    expect_allowed(&q, at(2026, 6, 10, 12, 0, -1));
    expect_allowed(&q, at(2026, 6, 10, 8, 0, -1));
    expect_allowed(&q, at(2026, 6, 10, 19, 59, -1) + 59);
    expect_next(&q, at(2026, 6, 10, 20, 0, -1), "Thu 2026-06-11 08:00:00 CEST");
    expect_next(&q, at(2026, 6, 10, 23, 59, -1), "Thu 2026-06-11 08:00:00 CEST");
    expect_next(&q, at(2026, 6, 11, 0, 0, -1), "Thu 2026-06-11 08:00:00 CEST");
    expect_next(&q, at(2026, 6, 11, 7, 59, -1) + 59, "Thu 2026-06-11 08:00:00 CEST");
    expect_next(&q, at(2026, 1, 14, 21, 0, -1), "Thu 2026-01-15 08:00:00 CET");
    /* Friday evening: Saturday is not quiet */
    expect_next(&q, at(2026, 6, 12, 22, 0, -1), "Sat 2026-06-13 08:00:00 CEST");
    /* Saturday evening and Sunday: Monday morning */
    expect_allowed(&q, at(2026, 6, 13, 19, 0, -1));
    expect_next(&q, at(2026, 6, 13, 21, 0, -1), "Mon 2026-06-15 08:00:00 CEST");
    expect_next(&q, at(2026, 6, 14, 0, 0, -1), "Mon 2026-06-15 08:00:00 CEST");
    expect_next(&q, at(2026, 6, 14, 12, 0, -1), "Mon 2026-06-15 08:00:00 CEST");
    expect_next(&q, at(2026, 6, 15, 7, 0, -1), "Mon 2026-06-15 08:00:00 CEST");
    /* 14 July 2026 is a Tuesday */
    expect_next(&q, at(2026, 7, 13, 21, 0, -1), "Wed 2026-07-15 08:00:00 CEST");
    expect_next(&q, at(2026, 7, 14, 10, 0, -1), "Wed 2026-07-15 08:00:00 CEST");
    expect_next(&q, at(2026, 7, 14, 0, 0, -1), "Wed 2026-07-15 08:00:00 CEST");
    expect_allowed(&q, at(2026, 7, 13, 19, 0, -1));
    /* Saturday evening, Sunday, Whit Monday 25 May 2026: Tuesday */
    expect_next(&q, at(2026, 5, 23, 21, 0, -1), "Tue 2026-05-26 08:00:00 CEST");
    expect_next(&q, at(2026, 5, 25, 9, 0, -1), "Tue 2026-05-26 08:00:00 CEST");
    /* Ascension Thursday 14 May 2026 */
    expect_next(&q, at(2026, 5, 13, 20, 30, -1), "Fri 2026-05-15 08:00:00 CEST");
    /* Easter Sunday and Monday 2026 */
    expect_next(&q, at(2026, 4, 4, 20, 0, -1), "Tue 2026-04-07 08:00:00 CEST");
    /* Christmas Friday, then New Year's Day Friday into 2027 */
    expect_next(&q, at(2026, 12, 24, 21, 0, -1), "Sat 2026-12-26 08:00:00 CET");
    expect_next(&q, at(2026, 12, 31, 21, 0, -1), "Sat 2027-01-02 08:00:00 CET");
    /* 1 and 8 May 2026 are Fridays: Saturday 2 May is allowed */
    expect_next(&q, at(2026, 4, 30, 23, 0, -1), "Sat 2026-05-02 08:00:00 CEST");
    expect_next(&q, at(2026, 5, 8, 12, 0, -1), "Sat 2026-05-09 08:00:00 CEST");
}

static void allowed_other_rules(void **state)
{
    struct sms_quiet q;

    (void)state;
    /* holidays off */
    q = quiet("20:00-08:00", "sun", 0);
    expect_allowed(&q, at(2026, 7, 14, 10, 0, -1));
    expect_next(&q, at(2026, 7, 13, 21, 0, -1), "Tue 2026-07-14 08:00:00 CEST");
    /* no quiet day: Saturday evening ends Sunday morning */
    q = quiet("20:00-08:00", "", 1);
    expect_next(&q, at(2026, 6, 13, 21, 0, -1), "Sun 2026-06-14 08:00:00 CEST");
    expect_allowed(&q, at(2026, 6, 14, 12, 0, -1));
    /* two quiet days */
    q = quiet("21:30-07:15", "sat,sun", 1);
    expect_next(&q, at(2026, 6, 12, 21, 30, -1), "Mon 2026-06-15 07:15:00 CEST");
    expect_allowed(&q, at(2026, 6, 12, 21, 29, -1));
    expect_next(&q, at(2026, 6, 13, 10, 0, -1), "Mon 2026-06-15 07:15:00 CEST");
    expect_allowed(&q, at(2026, 6, 15, 7, 15, -1));
    /* Sunday and Monday quiet */
    q = quiet("20:00-08:00", "sun,mon", 1);
    expect_next(&q, at(2026, 6, 13, 21, 0, -1), "Tue 2026-06-16 08:00:00 CEST");
    /* a window inside the day */
    q = quiet("12:00-14:00", "", 0);
    expect_allowed(&q, at(2026, 6, 10, 11, 59, -1));
    expect_next(&q, at(2026, 6, 10, 12, 0, -1), "Wed 2026-06-10 14:00:00 CEST");
    expect_next(&q, at(2026, 6, 10, 13, 59, -1), "Wed 2026-06-10 14:00:00 CEST");
    expect_allowed(&q, at(2026, 6, 10, 14, 0, -1));
    expect_allowed(&q, at(2026, 6, 10, 23, 0, -1));
    /* a short window around midnight */
    q = quiet("23:30-00:30", "", 0);
    expect_next(&q, at(2026, 6, 10, 23, 45, -1), "Thu 2026-06-11 00:30:00 CEST");
    expect_next(&q, at(2026, 6, 11, 0, 15, -1), "Thu 2026-06-11 00:30:00 CEST");
    expect_allowed(&q, at(2026, 6, 11, 0, 30, -1));
    expect_allowed(&q, at(2026, 6, 10, 23, 29, -1));
    /* a window ending at midnight */
    q = quiet("22:00-00:00", "", 0);
    expect_next(&q, at(2026, 6, 10, 22, 0, -1), "Thu 2026-06-11 00:00:00 CEST");
    expect_allowed(&q, at(2026, 6, 11, 0, 0, -1));
    /* from == to: no quiet hours, a quiet day ends at midnight */
    q = quiet("08:00-08:00", "sun", 1);
    expect_allowed(&q, at(2026, 6, 13, 23, 59, -1));
    expect_allowed(&q, at(2026, 6, 10, 3, 0, -1));
    expect_next(&q, at(2026, 6, 14, 0, 0, -1), "Mon 2026-06-15 00:00:00 CEST");
    expect_next(&q, at(2026, 6, 14, 12, 0, -1), "Mon 2026-06-15 00:00:00 CEST");
    expect_next(&q, at(2026, 5, 24, 12, 0, -1), "Tue 2026-05-26 00:00:00 CEST");
    /* nothing quiet */
    q = quiet("", "", 0);
    expect_allowed(&q, at(2026, 6, 14, 3, 0, -1));
    q.holidays = 1;
    expect_next(&q, at(2026, 7, 14, 3, 0, -1), "Wed 2026-07-15 00:00:00 CEST");
    /* everything but one minute a day */
    q = quiet("08:01-08:00", "", 0);
    expect_next(&q, at(2026, 6, 10, 8, 1, -1), "Thu 2026-06-11 08:00:00 CEST");
    expect_allowed(&q, at(2026, 6, 11, 8, 0, -1) + 59);
}

static void allowed_dst(void **state)
{
    struct sms_quiet q;
    time_t t, next;

    (void)state;
    /* 29 March 2026 is a Sunday: 02:00 CET becomes 03:00 CEST */
    q = quiet("20:00-08:00", "sun", 1);
    expect_next(&q, at(2026, 3, 28, 21, 0, -1), "Mon 2026-03-30 08:00:00 CEST");
    q = quiet("20:00-08:00", "", 1);
    t = at(2026, 3, 28, 21, 0, -1);
    expect_next(&q, t, "Sun 2026-03-29 08:00:00 CEST");
    sms_allowed_at(&q, t, &next);
    assert_int_equal(next - t, 10 * 3600); /* one hour less in the night */
    expect_next(&q, at(2026, 3, 29, 1, 59, -1), "Sun 2026-03-29 08:00:00 CEST");
    expect_next(&q, at(2026, 3, 29, 3, 0, -1), "Sun 2026-03-29 08:00:00 CEST");
    /* quiet hours ending inside the skipped hour end when it does */
    q = quiet("01:00-02:30", "", 0);
    t = at(2026, 3, 29, 1, 30, -1);
    expect_next(&q, t, "Sun 2026-03-29 03:00:00 CEST");
    sms_allowed_at(&q, t, &next);
    assert_int_equal(next - t, 30 * 60);
    expect_allowed(&q, at(2026, 3, 29, 3, 0, -1));
    expect_next(&q, at(2026, 3, 30, 1, 0, -1), "Mon 2026-03-30 02:30:00 CEST");
    /* quiet hours starting inside the skipped hour */
    q = quiet("02:30-06:00", "", 0);
    expect_allowed(&q, at(2026, 3, 29, 1, 59, -1));
    expect_next(&q, at(2026, 3, 29, 3, 0, -1), "Sun 2026-03-29 06:00:00 CEST");

    /* 25 October 2026 is a Sunday: 03:00 CEST becomes 02:00 CET */
    q = quiet("20:00-08:00", "", 1);
    t = at(2026, 10, 24, 21, 0, -1);
    expect_next(&q, t, "Sun 2026-10-25 08:00:00 CET");
    sms_allowed_at(&q, t, &next);
    assert_int_equal(next - t, 12 * 3600);
    q = quiet("20:00-08:00", "sun", 1);
    expect_next(&q, at(2026, 10, 24, 21, 0, -1), "Mon 2026-10-26 08:00:00 CET");
    /* quiet hours ending in the repeated hour: its first occurrence */
    q = quiet("00:00-02:30", "", 0);
    t = at(2026, 10, 25, 1, 0, -1);
    expect_next(&q, t, "Sun 2026-10-25 02:30:00 CEST");
    sms_allowed_at(&q, t, &next);
    assert_int_equal(next - t, 90 * 60);
    /* the clock going back into quiet hours: quiet again till 02:30 CET */
    expect_next(&q, at(2026, 10, 25, 2, 10, 0), "Sun 2026-10-25 02:30:00 CET");
    expect_allowed(&q, at(2026, 10, 25, 2, 40, 1));
    /* quiet hours starting in the repeated hour: setting the clock back
     * leaves them until 02:45 comes round again */
    q = quiet("02:45-08:00", "", 0);
    t = at(2026, 10, 25, 2, 50, 1);
    expect_next(&q, t, "Sun 2026-10-25 02:00:00 CET");
    sms_allowed_at(&q, t, &next);
    assert_int_equal(next - t, 10 * 60);
    expect_next(&q, at(2026, 10, 25, 2, 45, 0), "Sun 2026-10-25 08:00:00 CET");
}

/* Cross-check against an oracle written from the rules alone: every
 * minute of a few weeks (with both DST changes, Easter, Ascension, Whit
 * Monday) marked quiet or not through localtime, and the next allowed time
 * of a quiet instant read off as the first allowed minute after it. */
#define WALK_DAYS 16

static int oracle_quiet(const struct sms_quiet *q, time_t t)
{
    struct tm tm;
    int m;

    localtime_r(&t, &tm);
    m = tm.tm_hour * 60 + tm.tm_min;
    if (q->days & (1u << tm.tm_wday))
        return 1;
    if (q->holidays && sms_is_holiday(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday))
        return 1;
    if (q->from_min < q->to_min)
        return m >= q->from_min && m < q->to_min;
    return q->from_min > q->to_min && (m >= q->from_min || m < q->to_min);
}

static void allowed_walk(void **state)
{
    static const char *const rules[][2] = {
        {"20:00-08:00", "sun"}, {"21:30-07:15", "sat,sun"}, {"02:15-02:45", "mon"},
        {"02:45-08:00", ""},    {"01:00-03:00", "thu"},     {"", "sat"},
    };
    static const int starts[][3] = {{2026, 3, 22}, {2026, 5, 9}, {2026, 10, 18}};
    static unsigned char quiet_min[(WALK_DAYS + 5) * 1440];
    size_t r, w, i, j;

    (void)state;
    for (r = 0; r < N(rules); r++) {
        struct sms_quiet q = quiet(rules[r][0], rules[r][1], 1);

        for (w = 0; w < N(starts); w++) {
            time_t base = at(starts[w][0], starts[w][1], starts[w][2], 0, 0, -1), next;
            char b1[64], b2[64], b3[64];

            for (i = 0; i < N(quiet_min); i++)
                quiet_min[i] = (unsigned char)oracle_quiet(&q, base + 60 * (time_t)i);
            /* every 7 minutes, 13 seconds into the minute */
            for (i = 0; i < WALK_DAYS * 1440; i += 7) {
                time_t t = base + 60 * (time_t)i + 13, want = t;

                if (quiet_min[i]) {
                    for (j = i + 1; j < N(quiet_min) && quiet_min[j]; j++)
                        ;
                    assert_true(j < N(quiet_min));
                    want = base + 60 * (time_t)j;
                }
                if (sms_allowed_at(&q, t, &next) != !quiet_min[i] || next != want)
                    fail_msg("rule %s | %s at %s: next %s, want %s", rules[r][0], rules[r][1],
                             show(t, b1, sizeof b1), show(next, b2, sizeof b2),
                             show(want, b3, sizeof b3));
            }
        }
    }
}

static void allowed_never(void **state)
{
    struct sms_quiet q = {0, 0, 0x7f, 0};
    time_t next = 0;

    (void)state;
    assert_int_equal(sms_allowed_at(&q, at(2026, 6, 10, 12, 0, -1), &next), 0);
    assert_int_equal(next, (time_t)-1);
    q.days = 0;
    assert_int_equal(sms_allowed_at(&q, at(2026, 6, 10, 12, 0, -1), NULL), 1);
}

static void simplify_typography(void **state)
{
    char t[] = "120,50\xc2\xa0\xe2\x82\xac \xe2\x80\x93 l\xe2\x80\x99\xc3\xa9t\xc3\xa9 "
               "\xc2\xab ok \xc2\xbb\xe2\x80\xaf: fin\xe2\x80\xa6 \xc3\xaa" "tre";
    struct sms_size z;
    struct err e;

    (void)state;
    sms_simplify(t);
    /* € and é are GSM-7: only typography changed; ê is a letter, kept */
    assert_string_equal(t, "120,50 \xe2\x82\xac - l'\xc3\xa9t\xc3\xa9 \" ok \" : fin... "
                           "\xc3\xaa" "tre");
    assert_int_equal(sms_measure(t, &z, &e), 0);
    assert_int_equal(z.coding, SMS_UCS2); /* because of ê */
    char u[] = "Montant\xc2\xa0: 1\xe2\x80\xaf" "234,56\xc2\xa0\xe2\x82\xac";
    sms_simplify(u);
    assert_int_equal(sms_measure(u, &z, &e), 0);
    assert_int_equal(z.coding, SMS_GSM7);
    assert_int_equal(z.units, 21); /* € counts 2 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simplify_typography),
        cmocka_unit_test(numbers_canonical),     cmocka_unit_test(numbers_canonical_small_buffer),
        cmocka_unit_test(numbers_mobile),        cmocka_unit_test(text_alphabets),
        cmocka_unit_test(text_segments),         cmocka_unit_test(text_invalid_utf8),
        cmocka_unit_test(holidays_real_years),   cmocka_unit_test(holidays_follow_easter),
        cmocka_unit_test(quiet_parse_ok),        cmocka_unit_test(quiet_parse_bad),
        cmocka_unit_test(allowed_default_rules), cmocka_unit_test(allowed_other_rules),
        cmocka_unit_test(allowed_dst),           cmocka_unit_test(allowed_walk),
        cmocka_unit_test(allowed_never),
    };
    return cmocka_run_group_tests(tests, set_paris, NULL);
}
