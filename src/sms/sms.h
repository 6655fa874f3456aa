/* SMS rules (SPEC §4, issue 6), pure functions, no I/O:
 * - numbers: which E.164 numbers are mobiles (only mobiles are texted),
 *   and the French overseas departments' own country codes;
 * - text: GSM 03.38 7-bit alphabet (with its extension table) or UCS-2,
 *   and the number of segments an SMS costs;
 * - time: quiet hours and days for commercial SMS, French public holidays.
 * Never prints. */
#ifndef POSTIER_SMS_H
#define POSTIER_SMS_H

#include <stddef.h>
#include <time.h>

#include "util/err.h"

/* ---- numbers ---- */

/* Rewrites a French number that belongs to an overseas department into
 * that department's country code (E.164 digits with the leading '+'):
 * +33 690/691 and +33 590 -> +590, +33 694 and +33 594 -> +594,
 * +33 696/697 and +33 596 -> +596, +33 692/693, +33 262/263 and
 * +33 639/269 (Mayotte) -> +262 (e.g. "+33690123456" ->
 * "+590690123456").  Any other number is copied unchanged.  out has room
 * for n bytes (24 is always enough). */
void sms_number_canonical(const char *e164, char *out, size_t n);

/* 1 when the (canonical) E.164 number is a mobile: France +33 6 / +33 7
 * (not +33 700), the overseas mobiles (+590 690/691, +594 694, +596
 * 696/697, +262 692/693, +262 639), and the mobile ranges of the
 * neighbouring countries (BE +32 4, CH +41 7[5-9], DE +49 15/16/17,
 * ES +34 6/7, IT +39 3, LU +352 6, NL +31 6, PT +351 9, GB +44 7 but not
 * 70/76, MC +377 6);
 * 0 for everything else (landlines, fax, unknown plans). */
int sms_is_mobile(const char *e164);

/* ---- text ---- */

enum sms_coding { SMS_GSM7, SMS_UCS2 };

struct sms_size {
    enum sms_coding coding;
    size_t units;    /* GSM-7 septets (an extension character counts 2) or
                      * UCS-2 code units (a character outside the BMP counts 2) */
    size_t segments; /* 1 if units <= 160 (GSM-7) / 70 (UCS-2), else parts
                      * of 153 / 67 filled in order, an escape pair or a
                      * surrogate pair never split (so at least
                      * ceil(units / 153) / ceil(units / 67)); 0 for "" */
};

/* Measures UTF-8 text.  GSM-7 when every character is in the GSM 03.38
 * default alphabet or its extension table (^ { } \ [ ~ ] | €, counted as
 * two septets; a multi-segment message never splits an escape pair),
 * UCS-2 otherwise.  ERR_INPUT for invalid UTF-8. */
int sms_measure(const char *utf8, struct sms_size *out, struct err *e);

/* Replaces, in place, the typographic characters a template or a filter
 * brings that are not in GSM-7 by their plain equivalents, so that they do
 * not turn a whole SMS into UCS-2 (and double its cost): no-break and thin
 * spaces (U+00A0, U+202F, U+2009) -> space, ’ ‘ -> ', “ ” « » -> ",
 * – — -> -, … -> "...".  Letters are never changed.  The text only shrinks. */
void sms_simplify(char *utf8);

/* ---- time ---- */

/* 1 when date (YYYY, MM, DD) is a French public holiday: 1 Jan, Easter
 * Monday, 1 May, 8 May, Ascension Thursday, Whit Monday, 14 Jul, 15 Aug,
 * 1 Nov, 11 Nov, 25 Dec. */
int sms_is_holiday(int year, int month, int day);

struct sms_quiet {
    int from_min, to_min; /* quiet from HH:MM to HH:MM (minutes since midnight;
                           * from > to wraps midnight; from == to: no quiet hours) */
    unsigned days;        /* bit 0 = Sunday ... bit 6 = Saturday: quiet all day */
    int holidays;         /* French public holidays quiet all day */
};

/* Parses [sms] quiet_hours ("20:00-08:00", "" = none) and quiet_days
 * ("sun", "sat,sun", "" = none; names mon tue wed thu fri sat sun);
 * holidays is set to 1.  ERR_CONFIG naming the key on a bad value. */
int sms_quiet_parse(const char *hours, const char *days, struct sms_quiet *out, struct err *e);

/* 1 when a commercial SMS may be sent at t (judged in local time), 0 in
 * quiet time, with *next (when next is not NULL) = the first allowed time
 * after t, or (time_t)-1 if quiet time never ends. */
int sms_allowed_at(const struct sms_quiet *q, time_t t, time_t *next);

#endif
