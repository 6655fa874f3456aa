/* Calendar dates as ISO-8601 "YYYY-MM-DD" strings: validation and today.
 * Dates compare correctly as strings, which is how the store uses them. */
#ifndef POSTIER_DATE_H
#define POSTIER_DATE_H

#include "err.h"

#define DATE_LEN 10 /* "YYYY-MM-DD" without the NUL */

/* Checks s is a real calendar date written YYYY-MM-DD (year 1900-9999).
 * Returns 0, or ERR_INPUT with a message saying what is wrong. */
int date_check(const char *s, struct err *e);

/* Checks zone names a time zone of the system's database (an IANA name
 * such as "Europe/Paris": a TZif file under $TZDIR or /usr/share/zoneinfo;
 * no absolute path, no ".."); "" is the system's zone.  Returns 0, or
 * ERR_CONFIG with a message saying what is wrong. */
int date_zone_check(const char *zone, struct err *e);

/* Makes zone (checked by date_zone_check; "" leaves the system's) the
 * process's local time zone: every local time (today, quiet hours, --at,
 * the Date: header) is then read in it, UTC stamps are not.  It sets TZ in
 * the environment, so it must run before any thread starts (the CLI calls
 * it once, right after loading the configuration). */
void date_use_zone(const char *zone);

/* Writes today's local date into out (at least DATE_LEN + 1 bytes). */
void date_today(char *out);

/* Writes into out the date days after (or before, when negative) today. */
void date_today_plus(long days, char *out);

/* "YYYY-MM-DDTHH:MM:SSZ": the UTC timestamps of rows (history, deliveries). */
#define STAMP_LEN 20

/* Writes the current UTC time as a stamp into out (STAMP_LEN + 1 bytes);
 * formatted once a second per thread (a row is written every few
 * microseconds). */
void date_utc_stamp(char *out);

#endif
