/* ISO calendar dates: strict YYYY-MM-DD check and the local date of today. */
#include "date.h"

#include <ctype.h>
#include <stdio.h>
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

void date_today(char *out)
{
    date_today_plus(0, out);
}

void date_today_plus(int days, char *out)
{
    time_t t = time(NULL);
    struct tm tm;

    localtime_r(&t, &tm);
    tm.tm_mday += days; /* mktime normalises across months and years */
    tm.tm_hour = 12;    /* away from DST transitions */
    mktime(&tm);
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
