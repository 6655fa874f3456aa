/* ISO calendar dates: strict YYYY-MM-DD check and the local date of today;
 * the local time zone ([run] timezone) every local time is read in. */
#include "date.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

int date_check(const char *s, struct err *e)
{
    int y, m, d, i;

    for (i = 0; i < DATE_LEN; i++) {
        int want_dash = (i == 4 || i == 7);
        if (!s[i] || (want_dash ? s[i] != '-' : !isdigit((unsigned char)s[i])))
            return err_set(e, ERR_INPUT, "'%s' is not a date (expected YYYY-MM-DD)", s);
    }
    if (s[DATE_LEN])
        return err_set(e, ERR_INPUT, "'%s' is not a date (expected YYYY-MM-DD)", s);
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return err_set(e, ERR_INPUT, "'%s' is not a valid calendar date", s);
    return 0;
}

/* An IANA name: letters, digits, '_', '+', '-' in '/'-separated parts,
 * none empty, "." or ".." (nothing that could leave the zone folder). */
static int zone_name_ok(const char *z)
{
    const char *p;
    size_t part = 0;

    if (!*z || strlen(z) > 200)
        return 0;
    for (p = z;; p++) {
        if (*p == '/' || !*p) {
            if (part == 0 || (p[-1] == '.' && (part == 1 || (part == 2 && p[-2] == '.'))))
                return 0;
            if (!*p)
                return 1;
            part = 0;
        } else if (isalnum((unsigned char)*p) || strchr("_+-.", *p)) {
            part++;
        } else {
            return 0;
        }
    }
}

int date_zone_check(const char *zone, struct err *e)
{
    const char *dir = getenv("TZDIR");
    char path[512], magic[4];
    FILE *f = NULL;
    int ok = 0;

    if (!*zone)
        return 0;
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    /* glibc reads TZ=<name> as <TZDIR>/<name>: a TZif file (RFC 8536 §3.1) */
    if (zone_name_ok(zone) && (size_t)snprintf(path, sizeof path, "%s/%s", dir, zone) <
                                  sizeof path && (f = fopen(path, "rb")))
        ok = fread(magic, 1, 4, f) == 4 && !memcmp(magic, "TZif", 4);
    if (f)
        fclose(f);
    if (!ok)
        return err_set(e, ERR_CONFIG,
                       "'%s' is not a time zone (an IANA name such as Europe/Paris, found in "
                       "%s; empty for the system's)",
                       zone, dir);
    return 0;
}

void date_use_zone(const char *zone)
{
    if (!zone || !*zone)
        return;
    setenv("TZ", zone, 1);
    tzset();
}

void date_today(char *out)
{
    date_today_plus(0, out);
}

void date_today_plus(long days, char *out)
{
    time_t t = time(NULL);
    struct tm tm;

    /* today's noon, then whole days on time_t (no int overflow): a DST
     * hour either way stays on the same date */
    localtime_r(&t, &tm);
    tm.tm_hour = 12;
    tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    t = mktime(&tm) + (time_t)days * 86400;
    localtime_r(&t, &tm);
    strftime(out, DATE_LEN + 1, "%Y-%m-%d", &tm);
}

void date_utc_stamp(char *out)
{
    static _Thread_local time_t last = (time_t)-1;
    static _Thread_local char stamp[STAMP_LEN + 1];
    time_t t = time(NULL);

    if (t != last) {
        struct tm tm;
        if (!gmtime_r(&t, &tm) || !strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm))
            snprintf(stamp, sizeof stamp, "1970-01-01T00:00:00Z");
        last = t;
    }
    memcpy(out, stamp, sizeof stamp);
}
