/* SMS rules (see sms.h): which numbers are mobiles and which country code
 * an overseas French number really has; GSM 03.38 / UCS-2 detection and
 * segment counting; quiet hours, quiet days and French public holidays.
 * Pure functions over their arguments (and the process time zone for
 * local time); no allocation, no I/O, no mutable globals. */
#include "sms.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* ---- numbers ---- */

/* French overseas departments and collectivities numbered inside the +33
 * plan (ARCEP numbering plan) that own a country code of their own. */
static const struct {
    const char *from; /* prefix of the +33 form */
    const char *cc;   /* country code replacing "+33" */
} overseas[] = {
    /* Guadeloupe, Saint-Martin, Saint-Barthélemy */
    {"+33690", "+590"},
    {"+33691", "+590"},
    {"+33590", "+590"},
    /* Guyane */
    {"+33694", "+594"},
    {"+33594", "+594"},
    /* Martinique */
    {"+33696", "+596"},
    {"+33697", "+596"},
    {"+33596", "+596"},
    /* La Réunion, then Mayotte */
    {"+33692", "+262"},
    {"+33693", "+262"},
    {"+33262", "+262"},
    {"+33263", "+262"},
    {"+33639", "+262"},
    {"+33269", "+262"},
    /* (Saint-Pierre-et-Miquelon has 6-digit numbers of its own, +508: no
     * 10-digit national form to rewrite) */
};

/* Mobile ranges, as prefixes of the canonical E.164 form; an exclusion
 * wins over a range that contains it. */
static const char *const not_mobile[] = {
    "+33700", /* machine-to-machine numbers, not handsets */
    "+4470",  /* UK personal numbers */
    "+4476",  /* UK pagers */
};
static const char *const mobile[] = {
    "+336",    "+337",                                     /* France */
    "+590690", "+590691", "+594694", "+596696", "+596697", /* Antilles, Guyane */
    "+262692", "+262693", "+262639",                       /* Réunion, Mayotte */
    "+324",                                                /* Belgium */
    "+4175",   "+4176",   "+4177",   "+4178",   "+4179",   /* Switzerland */
    "+4915",   "+4916",   "+4917",                         /* Germany */
    "+346",    "+347",                                     /* Spain */
    "+393",                                                /* Italy */
    "+3526",                                               /* Luxembourg */
    "+316",                                                /* Netherlands */
    "+3519",                                               /* Portugal */
    "+447",                                                /* United Kingdom */
    "+3776",                                               /* Monaco */
};

#define E164_MAX 15 /* ITU-T E.164 §6.1: at most 15 digits */

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* '+' then 1 to 15 digits and nothing else. */
static int is_e164(const char *s)
{
    size_t i;

    if (!s || s[0] != '+')
        return 0;
    for (i = 1; s[i]; i++)
        if (s[i] < '0' || s[i] > '9' || i > E164_MAX)
            return 0;
    return i > 1;
}

void sms_number_canonical(const char *e164, char *out, size_t n)
{
    size_t i;

    if (!out || n == 0)
        return;
    if (!e164) {
        out[0] = '\0';
        return;
    }
    for (i = 0; i < sizeof overseas / sizeof overseas[0]; i++) {
        if (has_prefix(e164, overseas[i].from)) {
            /* keep the national significant number: +33 690… -> +590 690… */
            snprintf(out, n, "%s%s", overseas[i].cc, e164 + 3);
            return;
        }
    }
    snprintf(out, n, "%s", e164);
}

int sms_is_mobile(const char *e164)
{
    size_t i;

    if (!is_e164(e164))
        return 0;
    for (i = 0; i < sizeof not_mobile / sizeof not_mobile[0]; i++)
        if (has_prefix(e164, not_mobile[i]))
            return 0;
    for (i = 0; i < sizeof mobile / sizeof mobile[0]; i++)
        if (has_prefix(e164, mobile[i]))
            return 1;
    return 0;
}

/* ---- text ---- */

/* Septets per message part: 3GPP TS 23.040 §9.2.3.24.1, a concatenated
 * message gives 6 octets of each part to the user data header, which
 * leaves 153 septets (GSM-7) or 67 UCS-2 code units. */
#define GSM7_SINGLE 160
#define GSM7_PART 153
#define UCS2_SINGLE 70
#define UCS2_PART 67

/* 3GPP TS 23.038 §6.2.1: the characters of the default alphabet outside
 * ASCII (the ASCII ones are decided in septets() below). */
static const uint16_t gsm_basic_nonascii[] = {
    0x00A3, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7, /* £ ¥ è é ù ì ò Ç */
    0x00D8, 0x00F8, 0x00C5, 0x00E5, 0x0394, 0x03A6, 0x0393, 0x039B, /* Ø ø Å å Δ Φ Γ Λ */
    0x03A9, 0x03A0, 0x03A8, 0x03A3, 0x0398, 0x039E, 0x00C6, 0x00E6, /* Ω Π Ψ Σ Θ Ξ Æ æ */
    0x00DF, 0x00C9, 0x00A4, 0x00A1, 0x00C4, 0x00D6, 0x00D1, 0x00DC, /* ß É ¤ ¡ Ä Ö Ñ Ü */
    0x00A7, 0x00BF, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0,         /* § ¿ ä ö ñ ü à */
};

/* Septets cp costs in GSM-7: 1 for the default alphabet, 2 for the
 * extension table (§6.2.1.1: ESC + character; its form feed is left out,
 * so text with one goes UCS-2), 0 when cp cannot be sent in GSM-7. */
static int septets(uint32_t cp)
{
    size_t i;

    if (cp < 0x80) {
        if (cp == '\n' || cp == '\r')
            return 1;
        if (cp < 0x20 || cp == 0x7f || cp == '`')
            return 0;
        if (strchr("^{}\\[~]|", (int)cp))
            return 2;
        return 1;
    }
    if (cp == 0x20AC) /* € */
        return 2;
    for (i = 0; i < sizeof gsm_basic_nonascii / sizeof gsm_basic_nonascii[0]; i++)
        if (gsm_basic_nonascii[i] == cp)
            return 1;
    return 0;
}

/* Decodes one UTF-8 character at p (RFC 3629 §4: no overlong forms, no
 * surrogates, nothing above U+10FFFF).  Returns its length, 0 if invalid. */
static int utf8_decode(const unsigned char *p, uint32_t *cp)
{
    uint32_t c = p[0], min;
    int len, i;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    c &= 0x7F >> len; /* the payload bits of the lead byte */
    min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) /* also stops at the NUL */
            return 0;
        c = (c << 6) | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* Parts filled greedily: a character of w units that does not fit in what
 * is left of the current part starts the next one, so neither an escape
 * pair nor a surrogate pair is ever split. */
struct parts {
    size_t units, used, count;
};

static void parts_add(struct parts *p, size_t w, size_t per_part)
{
    if (p->count == 0 || p->used + w > per_part) {
        p->count++;
        p->used = 0;
    }
    p->used += w;
    p->units += w;
}

static size_t parts_segments(const struct parts *p, size_t single)
{
    if (p->units == 0)
        return 0;
    return p->units <= single ? 1 : p->count;
}

int sms_measure(const char *utf8, struct sms_size *out, struct err *e)
{
    const unsigned char *s = (const unsigned char *)(utf8 ? utf8 : "");
    struct parts gsm = {0, 0, 0}, ucs = {0, 0, 0};
    int all_gsm = 1;
    size_t i = 0;

    while (s[i]) {
        uint32_t cp;
        int len = utf8_decode(s + i, &cp), w;

        if (!len)
            return err_set(e, ERR_INPUT, "SMS text: invalid UTF-8 at byte %zu (0x%02x)", i + 1,
                           s[i]);
        w = septets(cp);
        if (w)
            parts_add(&gsm, (size_t)w, GSM7_PART);
        else
            all_gsm = 0;
        parts_add(&ucs, cp > 0xFFFF ? 2 : 1, UCS2_PART);
        i += (size_t)len;
    }
    if (all_gsm) {
        out->coding = SMS_GSM7;
        out->units = gsm.units;
        out->segments = parts_segments(&gsm, GSM7_SINGLE);
    } else {
        out->coding = SMS_UCS2;
        out->units = ucs.units;
        out->segments = parts_segments(&ucs, UCS2_SINGLE);
    }
    return 0;
}

/* ---- holidays ---- */

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (y > 0). */
static long day_number(int y, int m, int d)
{
    long yy = y - (m <= 2), era = yy / 400, yoe = yy - era * 400;
    long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Gregorian Easter Sunday, the "anonymous" algorithm (Meeus, Astronomical
 * Algorithms, ch. 8), as a day number. */
static long easter(int y)
{
    int a = y % 19, b = y / 100, c = y % 100, d = b / 4, e = b % 4;
    int f = (b + 8) / 25, g = (b - f + 1) / 3;
    int h = (19 * a + b - d - g + 15) % 30, i = c / 4, k = c % 4;
    int l = (32 + 2 * e + 2 * i - h - k) % 7;
    int m = (a + 11 * h + 22 * l) / 451;
    int month = (h + l - 7 * m + 114) / 31, day = (h + l - 7 * m + 114) % 31 + 1;
    return day_number(y, month, day);
}

int sms_is_holiday(int year, int month, int day)
{
    static const int fixed[][2] = {{1, 1},  {5, 1},  {5, 8},   {7, 14},
                                   {8, 15}, {11, 1}, {11, 11}, {12, 25}};
    long dn, off;
    size_t i;

    /* the Gregorian computus starts in 1583; 9999 keeps y4 dates */
    if (year < 1583 || year > 9999 || month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month))
        return 0;
    for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (fixed[i][0] == month && fixed[i][1] == day)
            return 1;
    dn = day_number(year, month, day);
    off = dn - easter(year);
    /* Easter Monday, Ascension Thursday, Whit Monday */
    return off == 1 || off == 39 || off == 50;
}

/* ---- quiet time ---- */

#define SHOW_MAX 64
#define ALL_DAYS 0x7fu

static const char *const day_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* A printable, bounded copy of a config value for an error message:
 * bytes outside printable ASCII become \xHH, a long value ends in "...". */
static const char *show(char *dst, size_t size, const char *s)
{
    size_t i, o = 0;

    for (i = 0; s[i] && o + 8 < size; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            dst[o++] = (char)c;
        else
            o += (size_t)snprintf(dst + o, size - o, "\\x%02x", c);
    }
    if (s[i]) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}

static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* H:MM or HH:MM, 00:00 to 23:59; advances *pp past it. */
static int parse_hhmm(const char **pp, int *minutes)
{
    const char *p = *pp;
    int h = 0, n = 0;

    while (n < 2 && *p >= '0' && *p <= '9') {
        h = h * 10 + (*p++ - '0');
        n++;
    }
    if (n == 0 || *p != ':' || p[1] < '0' || p[1] > '5' || p[2] < '0' || p[2] > '9' || h > 23)
        return -1;
    *minutes = h * 60 + (p[1] - '0') * 10 + (p[2] - '0');
    *pp = p + 3;
    return 0;
}

static int parse_hours(const char *s, int *from, int *to)
{
    const char *p = skip_blanks(s);

    if (!*p) { /* none */
        *from = *to = 0;
        return 0;
    }
    if (parse_hhmm(&p, from) < 0)
        return -1;
    p = skip_blanks(p);
    if (*p++ != '-')
        return -1;
    p = skip_blanks(p);
    if (parse_hhmm(&p, to) < 0)
        return -1;
    return *skip_blanks(p) ? -1 : 0;
}

/* Comma-separated day names, blanks around them allowed, any case. */
static int parse_days(const char *s, unsigned *days, char *bad, size_t badsize)
{
    const char *p = skip_blanks(s);
    size_t len, i;

    *days = 0;
    if (!*p)
        return 0;
    for (;;) {
        p = skip_blanks(p);
        len = strcspn(p, ", \t");
        for (i = 0; i < 7; i++)
            if (len == 3 && strncasecmp(p, day_names[i], 3) == 0)
                break;
        if (i == 7) {
            char item[SHOW_MAX];
            snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1),
                     p);
            show(bad, badsize, item);
            return -1;
        }
        *days |= 1u << i;
        p = skip_blanks(p + len);
        if (!*p)
            return 0;
        if (*p++ != ',') {
            show(bad, badsize, p - 1);
            return -1;
        }
    }
}

int sms_quiet_parse(const char *hours, const char *days, struct sms_quiet *out, struct err *e)
{
    struct sms_quiet q = {0, 0, 0, 1};
    char v[SHOW_MAX], item[SHOW_MAX];

    if (!hours)
        hours = "";
    if (!days)
        days = "";
    if (parse_hours(hours, &q.from_min, &q.to_min) < 0)
        return err_set(e, ERR_CONFIG,
                       "[sms] quiet_hours: '%s' is not HH:MM-HH:MM (00:00 to 23:59, "
                       "e.g. 20:00-08:00; empty for none)",
                       show(v, sizeof v, hours));
    if (parse_days(days, &q.days, item, sizeof item) < 0)
        return err_set(e, ERR_CONFIG,
                       "[sms] quiet_days: '%s' in '%s' is not a day (comma-separated "
                       "mon tue wed thu fri sat sun; empty for none)",
                       item, show(v, sizeof v, days));
    if (q.days == ALL_DAYS)
        return err_set(e, ERR_CONFIG,
                       "[sms] quiet_days: '%s' makes every day quiet: no commercial SMS "
                       "could ever be sent",
                       show(v, sizeof v, days));
    *out = q;
    return 0;
}

static int quiet_at(const struct sms_quiet *q, const struct tm *tm)
{
    int m = tm->tm_hour * 60 + tm->tm_min;

    if (q->days & (1u << tm->tm_wday))
        return 1;
    if (q->holidays && sms_is_holiday(tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday))
        return 1;
    if (q->from_min < q->to_min)
        return m >= q->from_min && m < q->to_min;
    if (q->from_min > q->to_min)
        return m >= q->from_min || m < q->to_min;
    return 0;
}

/* Keeps in *best the earliest allowed instant after t among c. */
static void consider(const struct sms_quiet *q, time_t t, time_t c, time_t *best)
{
    struct tm tm;

    if (c > t && (*best == (time_t)-1 || c < *best) && localtime_r(&c, &tm) && !quiet_at(q, &tm))
        *best = c;
}

/* Offers every instant whose local time is day's date at minute m: none
 * in a DST gap, two in the repeated hour.  Trying both tm_isdst values and
 * keeping those that read back unchanged finds each occurrence. */
static void consider_wall(const struct sms_quiet *q, time_t t, const struct tm *day, int m,
                          time_t *best)
{
    int isdst;

    for (isdst = 0; isdst <= 1; isdst++) {
        struct tm tm = *day, back;
        time_t c;

        tm.tm_hour = m / 60;
        tm.tm_min = m % 60;
        tm.tm_sec = 0;
        tm.tm_isdst = isdst;
        c = mktime(&tm);
        if (c != (time_t)-1 && localtime_r(&c, &back) && back.tm_year == day->tm_year &&
            back.tm_mon == day->tm_mon && back.tm_mday == day->tm_mday && back.tm_hour == m / 60 &&
            back.tm_min == m % 60)
            consider(q, t, c, best);
    }
}

static long utc_offset(time_t c)
{
    struct tm tm;

    return localtime_r(&c, &tm) ? tm.tm_gmtoff : 0;
}

/* Offers the instant the UTC offset changes in (a, b], if it does: local
 * time jumps there, so quiet time can end without the wall clock showing
 * the end of quiet hours or midnight (e.g. quiet from 02:45 ends when the
 * clock falls back from 03:00 to 02:00). */
static void consider_offset_change(const struct sms_quiet *q, time_t t, time_t a, time_t b,
                                   time_t *best)
{
    long after = utc_offset(b);

    if (utc_offset(a) == after)
        return;
    while (b - a > 1) {
        time_t mid = a + (b - a) / 2;
        if (utc_offset(mid) == after)
            b = mid;
        else
            a = mid;
    }
    consider(q, t, b, best);
}

/* Sets *day to noon of the date k days after now's (mktime normalises
 * the date; noon is never in a DST gap) and returns that instant. */
static time_t noon_after(const struct tm *now, int k, struct tm *day)
{
    *day = *now;
    day->tm_mday += k;
    day->tm_hour = 12;
    day->tm_min = 0;
    day->tm_sec = 0;
    day->tm_isdst = -1;
    return mktime(day);
}

/* Quiet time ends at midnight (end of a quiet day), at the end of quiet
 * hours, or where the UTC offset changes.  Those instants are tried day
 * by day from t's date; the earliest allowed one is the answer.  One more
 * day is scanned after the first hit, as the order of days is not quite
 * the order of instants: an offset change is looked for from noon to
 * noon, and a clock set back across midnight repeats the previous day. */
#define SEARCH_DAYS 400

int sms_allowed_at(const struct sms_quiet *q, time_t t, time_t *next)
{
    struct tm now, day;
    time_t best = (time_t)-1, prev_noon;
    int k, found_day = -1;

    if (next)
        *next = t;
    if (!q || !localtime_r(&t, &now) || !quiet_at(q, &now))
        return 1;
    if ((q->days & ALL_DAYS) == ALL_DAYS) {
        if (next)
            *next = (time_t)-1; /* never */
        return 0;
    }
    prev_noon = noon_after(&now, -1, &day);
    for (k = 0; k <= SEARCH_DAYS && (found_day < 0 || k <= found_day + 1); k++) {
        time_t noon = noon_after(&now, k, &day);

        consider_wall(q, t, &day, 0, &best);
        if (q->from_min != q->to_min)
            consider_wall(q, t, &day, q->to_min, &best);
        if (prev_noon != (time_t)-1 && noon != (time_t)-1)
            consider_offset_change(q, t, prev_noon, noon, &best);
        prev_noon = noon;
        if (best != (time_t)-1 && found_day < 0)
            found_day = k;
    }
    if (next)
        *next = best;
    return 0;
}

/* ---- typography ---- */

void sms_simplify(char *utf8)
{
    static const struct {
        const char *from, *to;
    } map[] = {
        {"\xc2\xa0", " "},     {"\xe2\x80\xaf", " "}, {"\xe2\x80\x89", " "},
        {"\xe2\x80\x99", "'"}, {"\xe2\x80\x98", "'"}, {"\xe2\x80\x9c", "\""},
        {"\xe2\x80\x9d", "\""}, {"\xc2\xab", "\""},     {"\xc2\xbb", "\""},
        {"\xe2\x80\x93", "-"}, {"\xe2\x80\x94", "-"}, {"\xe2\x80\xa6", "..."},
    };
    char *r = utf8, *w = utf8;

    while (*r) {
        size_t i, n = 0;
        for (i = 0; i < sizeof map / sizeof map[0]; i++) {
            n = strlen(map[i].from);
            if (!strncmp(r, map[i].from, n)) {
                size_t m = strlen(map[i].to); /* never longer than from */
                memmove(w, map[i].to, m);
                w += m;
                r += n;
                break;
            }
        }
        if (i == sizeof map / sizeof map[0])
            *w++ = *r++;
    }
    *w = '\0';
}
