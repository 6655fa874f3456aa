/* Validation and normalisation of contact data, independent of storage:
 * e-mail syntax (IDN domains through libidn2), phone numbers to E.164,
 * notification flag and consent names, type codes, seed-004 type numbers.
 * Messages say what is wrong with the value; callers add file/line/field. */
#ifndef POSTIER_VALIDATE_H
#define POSTIER_VALIDATE_H

#include "util/buf.h"
#include "util/err.h"

/* Notification flags (SPEC §1), one bit each, in this order. */
enum {
    FLAG_INVOICE = 1 << 0,
    FLAG_PAYMENT_REMINDER = 1 << 1,
    FLAG_DUE_NOTICE = 1 << 2,
    FLAG_DOCUMENT_REMINDER = 1 << 3,
    FLAG_CLAIM_SETTLEMENT = 1 << 4,
    FLAG_ORDER = 1 << 5,
    FLAG_AFTER_SALES = 1 << 6,
    FLAG_RECEIVER = 1 << 7,
};
#define FLAG_COUNT 8

/* Consents (SPEC §1). */
enum {
    CONSENT_COMMERCIAL = 1 << 0,
    CONSENT_PARTNER = 1 << 1,
    CONSENT_ESIGN = 1 << 2,
    CONSENT_SMS_MARKETING = 1 << 3,
};
#define CONSENT_COUNT 4

/* Name of flag bit i / consent bit i ("invoice", "commercial"...), i < COUNT. */
const char *validate_flag_name(int i);
const char *validate_consent_name(int i);

/* Parses a '|'-separated list of names (blanks around names ignored, empty
 * string = no bits) into a bit set.  ERR_INPUT names the unknown word and
 * lists the accepted ones. */
int validate_flags_parse(const char *s, unsigned *out, struct err *e);
int validate_consents_parse(const char *s, unsigned *out, struct err *e);
/* Appends the '|'-joined names of the set bits, in enum order. */
int validate_flags_format(struct buf *out, unsigned flags);
/* The bits of stored '|'-joined names (consents when consents is set, else
 * flags); unknown names count for nothing. */
unsigned validate_bits(const char *names, int consents);
int validate_consents_format(struct buf *out, unsigned consents);

/* Checks one or several ';'-separated e-mail addresses and appends their
 * normalised form to out ('; '-free, ';'-joined, blanks trimmed, domain
 * lower-cased; an IDN domain is kept in Unicode NFC but must convert with
 * IDNA2008).  Empty input appends nothing and succeeds.  ERR_INPUT says
 * which address is wrong and why (no '@', bad local part, bad domain...). */
int validate_emails(const char *s, struct buf *out, struct err *e);

/* Converts one address's domain to its ASCII (punycode) form for the wire:
 * appends "local@xn--..." to out.  s must already have passed validate_emails. */
int validate_email_ascii(const char *s, struct buf *out, struct err *e);

/* Normalises one or several ';'-separated phone numbers to E.164 and
 * appends them ';'-joined.  Accepts spaces, dots, dashes, parentheses,
 * "+CC...", "00CC...", and national numbers of the default country
 * (cc = "33": "06 12 34 56 78" -> "+33612345678"; a national number must
 * start with a single 0).  E.164: '+' then 8 to 15 digits.  Empty input
 * appends nothing.  ERR_INPUT names the number that could not be read. */
int validate_phones(const char *s, const char *cc, struct buf *out, struct err *e);

/* Contact type code: [a-z][a-z0-9_]*, at most 32 characters. */
int validate_type_code(const char *s, struct err *e);

/* Text of a field: no control character (C0 or DEL) but tab, and CR or
 * LF only when multiline (a note, street lines).  ERR_INPUT says which:
 * a line break in a one-line field could end a mail header. */
int validate_text(const char *s, int multiline, struct err *e);

/* Locale: "fr" or "en". */
int validate_locale(const char *s, struct err *e);

/* Seed-004 "Type" column (1-6) to flags: 1 invoice|payment_reminder|due_notice,
 * 2 order, 3 none, 4 invoice|payment_reminder|due_notice|order|after_sales,
 * 5 after_sales, 6 receiver.  ERR_INPUT for anything else. */
int validate_seed004_type(const char *s, unsigned *flags, struct err *e);

#endif
