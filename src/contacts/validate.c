/* Validation and normalisation of contact fields: flag and consent names,
 * e-mail addresses (dot-atom local part, IDN domain through libidn2),
 * phone numbers to E.164, type codes, locales, seed-004 type numbers.
 * Nothing here touches storage; every failure is ERR_INPUT (or ERR_TOOBIG
 * for a size limit) with a message quoting the offending value, escaped so
 * that a CR/LF or terminal control byte in the input never reaches a log. */
#include "validate.h"

#include <ctype.h>
#include <idn2.h>
#include <string.h>
#include <strings.h>

#include "sms/sms.h"
#include "util/strv.h"
#include "util/xalloc.h"

/* Limits of the e-mail grammar, RFC 5321 §4.5.3.1: local part 64 octets
 * (§4.5.3.1.1), path 256 octets with the angle brackets, so 254 for the
 * address itself (§4.5.3.1.3); a DNS name is at most 253 characters in
 * text form and a label 63 (RFC 1035 §2.3.4). */
#define LOCAL_MAX 64
#define ADDR_MAX 254
#define DOMAIN_MAX 253
#define LABEL_MAX 63
/* Raw input bigger than this cannot shrink to ADDR_MAX: refuse it before
 * handing it to libidn2 (punycode encoding is quadratic). */
#define RAW_ADDR_MAX 1024
/* Items per e-mail or phone field: duplicate removal is quadratic, and no
 * contact has a hundred addresses. */
#define ITEMS_MAX 100
#define TYPE_CODE_MAX 32
/* E.164 §6.1: at most 15 digits; below 8 nothing real is diallable abroad. */
#define E164_MIN 8
#define E164_MAX 15
/* Escaped copy of a user value in a message: ample inside ERR_MSG_MAX. */
#define SHOW_MAX 96

#define MSG_DOMAIN_LONG "domain longer than 253 characters (RFC 5321 §4.5.3.1.2)"
#define MSG_LABEL_LONG "a domain label is longer than 63 characters"

static const char *const flag_names[FLAG_COUNT] = {
    "invoice", "payment_reminder", "due_notice", "document_reminder", "claim_settlement",
    "order",   "after_sales",      "receiver",
};

static const char *const consent_names[CONSENT_COUNT] = {
    "commercial",
    "partner",
    "esign",
    "sms_marketing",
};

const char *validate_flag_name(int i)
{
    return i >= 0 && i < FLAG_COUNT ? flag_names[i] : NULL;
}

const char *validate_consent_name(int i)
{
    return i >= 0 && i < CONSENT_COUNT ? consent_names[i] : NULL;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid.
 * C1 controls (U+0080-U+009F) and bidi controls count as invalid: a
 * terminal obeys them. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t len, i;
    unsigned long cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        len = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        len = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        len = 4;
    else
        return 0;
    cp = p[0] & (0x7fu >> len);
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
        return 0;
    /* Bidi controls would let a value reorder the message around it. */
    if (cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
        (cp >= 0x2066 && cp <= 0x2069))
        return 0;
    return len;
}

/* Writes into dst a printable, bounded copy of s[0..n) for an error
 * message: control bytes and invalid UTF-8 become \r, \n, \t or \xHH, and
 * a long value is cut with "...".  Returns dst. */
static const char *show(char *dst, size_t size, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0, k;

    while (i < n && o + 8 < size) {
        k = p[i] >= 0x20 && p[i] != 0x7f ? utf8_len(p + i, n - i) : 0;
        if (k) {
            memcpy(dst + o, p + i, k);
            o += k;
            i += k;
        } else if (p[i] == '\r' || p[i] == '\n' || p[i] == '\t') {
            dst[o++] = '\\';
            dst[o++] = p[i] == '\r' ? 'r' : p[i] == '\n' ? 'n' : 't';
            i++;
        } else {
            o += (size_t)snprintf(dst + o, size - o, "\\x%02x", p[i++]);
        }
    }
    if (i < n) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Iterates over the sep-separated items of a list: on each call, sets
 * [*item, *item + *len) to the next non-empty item trimmed of spaces and
 * tabs and returns 1; returns 0 at the end.  Empty items (";;") are
 * skipped, the same rule as strv_split. */
static int next_item(const char **pos, char sep, const char **item, size_t *len)
{
    const char *p = *pos, *end, *a, *b;

    while (*p) {
        end = strchr(p, sep);
        if (!end)
            end = p + strlen(p);
        a = p;
        b = end;
        while (a < b && is_blank(*a))
            a++;
        while (b > a && is_blank(b[-1]))
            b--;
        p = *end ? end + 1 : end;
        if (b > a) {
            *pos = p;
            *item = a;
            *len = (size_t)(b - a);
            return 1;
        }
    }
    *pos = p;
    return 0;
}

/* ---- flag and consent names ---- */

static int names_parse(const char *const *names, int count, const char *what, const char *s,
                       unsigned *out, struct err *e)
{
    char list[256], q[SHOW_MAX];
    const char *item;
    size_t len, o = 0;
    unsigned bits = 0;
    int i;

    *out = 0;
    if (!s)
        s = "";
    while (next_item(&s, '|', &item, &len)) {
        for (i = 0; i < count; i++)
            if (strlen(names[i]) == len && !strncasecmp(names[i], item, len))
                break;
        if (i == count) {
            for (i = 0; i < count; i++)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", names[i]);
            return err_set(e, ERR_INPUT, "unknown %s '%s' (expected one of: %s)", what,
                           show(q, sizeof q, item, len), list);
        }
        bits |= 1u << i;
    }
    *out = bits;
    return 0;
}

int validate_flags_parse(const char *s, unsigned *out, struct err *e)
{
    return names_parse(flag_names, FLAG_COUNT, "flag", s, out, e);
}

int validate_consents_parse(const char *s, unsigned *out, struct err *e)
{
    return names_parse(consent_names, CONSENT_COUNT, "consent", s, out, e);
}

static int names_format(struct buf *out, const char *const *names, int count, unsigned bits)
{
    int i, first = 1;

    for (i = 0; i < count; i++) {
        if (!(bits & (1u << i)))
            continue;
        if (!first)
            buf_addc(out, '|');
        buf_adds(out, names[i]);
        first = 0;
    }
    return out->err;
}

int validate_flags_format(struct buf *out, unsigned flags)
{
    return names_format(out, flag_names, FLAG_COUNT, flags);
}

int validate_consents_format(struct buf *out, unsigned consents)
{
    return names_format(out, consent_names, CONSENT_COUNT, consents);
}

/* ---- e-mail addresses ---- */

/* One parsed address: the local part points into the caller's string, the
 * two domain forms are allocated by libidn2 (idn2_free). */
struct addr {
    const char *local;
    size_t local_len;
    char *ascii;   /* "xn--socit-esab.fr": the wire form */
    char *unicode; /* "société.fr": lower-cased, NFC, for display and storage */
};

static void addr_release(struct addr *a)
{
    idn2_free(a->ascii);
    idn2_free(a->unicode);
    a->ascii = a->unicode = NULL;
}

/* RFC 5322 §3.2.3 atext, ASCII only. */
static int is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Bytes no address may contain, wherever they are: line breaks and other
 * controls (a CR/LF would let a value inject headers such as Bcc:), spaces,
 * and ',' which is almost always a list written with the wrong separator. */
static const char *bad_byte(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n')
            return "contains a line break";
        if (c < 0x20 || c == 0x7f)
            return "contains a control character";
        if (c == ' ')
            return "contains a space";
        if (c == ',')
            return "contains ',' (separate addresses with ';')";
    }
    return NULL;
}

/* RFC 5322 §3.4.1 dot-atom local part.  Quoted local parts ("a b"@x.fr)
 * are refused: legal but unused in practice and mishandled by many MTAs. */
static const char *bad_local(const char *s, size_t n)
{
    size_t i;

    if (n == 0)
        return "nothing before '@'";
    if (s[0] == '"')
        return "quoted local parts (\"...\"@) are not supported";
    if (n > LOCAL_MAX)
        return "more than 64 characters before '@' (RFC 5321 §4.5.3.1.1)";
    if (s[0] == '.' || s[n - 1] == '.')
        return "the part before '@' starts or ends with '.'";
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80)
            return "non-ASCII characters before '@' would need SMTPUTF8, which is not "
                   "supported";
        if (c == '.' && s[i + 1] == '.')
            return "'..' before '@'";
        if (c != '.' && !is_atext(c))
            return "character not allowed before '@'";
    }
    return NULL;
}

/* Checks the ASCII (A-label) form of a domain: letter-digit-hyphen labels
 * of 1 to 63 characters not starting or ending with '-' (RFC 1035 §2.3.1,
 * RFC 5890 §2.3.1), at least two labels, a top-level label that is not all
 * digits (it would read as an IP address), at most 253 characters. */
static const char *bad_domain_ascii(const char *d)
{
    size_t n = strlen(d), i, label = 0, nlabels = 1, tld_digits = 1;

    if (n > DOMAIN_MAX)
        return MSG_DOMAIN_LONG;
    for (i = 0; i <= n; i++) {
        char c = d[i];
        if (c == '.' || c == '\0') {
            if (label == 0)
                return "empty label in the domain";
            if (d[i - 1] == '-')
                return "a domain label ends with '-'";
            if (c == '.') {
                nlabels++;
                label = 0;
                tld_digits = 1;
            }
            continue;
        }
        if (label == 0 && c == '-')
            return "a domain label starts with '-'";
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return "character not allowed in the domain";
        if (++label > LABEL_MAX)
            return MSG_LABEL_LONG;
        if (!(c >= '0' && c <= '9'))
            tld_digits = 0;
    }
    if (nlabels < 2)
        return "the domain needs at least two labels (like exemple.fr)";
    if (tld_digits)
        return "the last label of the domain is all digits";
    return NULL;
}

/* Non-zero for a domain of ASCII bytes with no "??--" label (A-labels and
 * the labels RFC 5891 §4.2.3.1 reserves): nothing for IDNA to map but the
 * case, and nothing it would refuse that bad_domain_ascii does not. */
static int plain_ascii_domain(const char *dom)
{
    const char *p, *label = dom;

    for (p = dom;; p++) {
        if ((unsigned char)*p >= 0x80)
            return 0;
        if (*p == '.' || !*p) {
            if (p - label >= 4 && label[2] == '-' && label[3] == '-')
                return 0;
            if (!*p)
                return 1;
            label = p + 1;
        }
    }
}

/* Whether the Unicode domain converts to ascii again. */
static int round_trips(const char *unicode, const char *ascii)
{
    char *again = NULL;
    int ok = idn2_to_ascii_8z(unicode, &again, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) == IDN2_OK &&
             strcmp(again, ascii) == 0;

    idn2_free(again);
    return ok;
}

/* Converts a (possibly Unicode) domain to both normal forms: IDNA2008 with
 * the UTS #46 mapping, which lower-cases and applies NFC; the display form
 * is decoded back from the A-labels so that "SOCIÉTÉ.fr", "société.fr" and
 * "xn--socit-esab.fr" all normalise to the same string. */
static const char *convert_domain(const char *dom, struct addr *a, char *why, size_t size)
{
    const char *bad;
    int rc;

    if (dom[0] == '[')
        return "address literals ([...]) are not accepted";
    if (dom[0] == '.' || strstr(dom, ".."))
        return "empty label in the domain";
    if (dom[strlen(dom) - 1] == '.')
        return "the domain ends with '.'";
    if (plain_ascii_domain(dom)) {
        /* IDNA maps an all-ASCII name without A-labels to its lower case:
         * skip libidn2, which costs more than the rest of an import row */
        char *p;
        a->ascii = xstrdup(dom);
        for (p = a->ascii; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        bad = bad_domain_ascii(a->ascii);
        a->unicode = bad ? NULL : xstrdup(a->ascii);
        return bad;
    }
    rc = idn2_to_ascii_8z(dom, &a->ascii, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    /* Same words for the limits whether libidn2 or we find them. */
    if (rc == IDN2_TOO_BIG_DOMAIN)
        return MSG_DOMAIN_LONG;
    if (rc == IDN2_TOO_BIG_LABEL)
        return MSG_LABEL_LONG;
    if (rc != IDN2_OK) {
        snprintf(why, size, "bad domain (%s)", idn2_strerror(rc));
        return why;
    }
    bad = bad_domain_ascii(a->ascii);
    if (bad)
        return bad;
    rc = idn2_to_unicode_8z8z(a->ascii, &a->unicode, 0);
    if (rc != IDN2_OK) {
        snprintf(why, size, "bad domain (%s)", idn2_strerror(rc));
        return why;
    }
    /* Belt and braces: what we store must be as clean as what we checked. */
    if (bad_byte(a->unicode, strlen(a->unicode)))
        return "bad domain (decodes to a control character)";
    /* libidn2 passes an A-label ("xn--...") through without checking what
     * it decodes to: the display form we store must convert back, or the
     * address is accepted at import and refused when sent */
    return round_trips(a->unicode, a->ascii)
               ? NULL
               : "bad domain (an A-label that decodes to a name IDNA2008 refuses)";
}

/* Parses the address s[0..n) into a (caller releases it, also on error). */
static int parse_addr(const char *s, size_t n, struct addr *a, struct err *e)
{
    char q[SHOW_MAX], why[128];
    const char *bad, *at;
    char *dom = NULL;
    int rc = 0;

    a->ascii = a->unicode = NULL;
    if (n > RAW_ADDR_MAX) {
        bad = "longer than 254 characters (RFC 5321 §4.5.3.1.3)";
        goto out;
    }
    bad = bad_byte(s, n);
    if (bad)
        goto out;
    at = memchr(s, '@', n);
    if (!at) {
        bad = s[0] == '"' ? bad_local(s, n) : "no '@'";
        goto out;
    }
    a->local = s;
    a->local_len = (size_t)(at - s);
    bad = bad_local(s, a->local_len);
    if (bad)
        goto out;
    if (memchr(at + 1, '@', n - a->local_len - 1)) {
        bad = "more than one '@'";
        goto out;
    }
    if (a->local_len + 1 == n) {
        bad = "nothing after '@'";
        goto out;
    }
    dom = xstrndup(at + 1, n - a->local_len - 1);
    bad = convert_domain(dom, a, why, sizeof why);
    if (!bad && a->local_len + 1 + strlen(a->ascii) > ADDR_MAX)
        bad = "longer than 254 characters (RFC 5321 §4.5.3.1.3)";
out:
    if (bad)
        rc = err_set(e, ERR_INPUT, "bad e-mail address '%s': %s", show(q, sizeof q, s, n), bad);
    free(dom);
    return rc;
}

/* Is the string [s, s+n) one of the ';'-separated items of list? */
static int in_list(const char *list, const char *s, size_t n)
{
    const char *item;
    size_t len;

    while (next_item(&list, ';', &item, &len))
        if (len == n && !memcmp(item, s, n))
            return 1;
    return 0;
}

/* Appends item to the ';'-joined list tmp unless it is already there. */
static void add_unique(struct buf *tmp, const char *item)
{
    size_t n = strlen(item);

    if (in_list(buf_str(tmp), item, n))
        return;
    if (tmp->len)
        buf_addc(tmp, ';');
    buf_add(tmp, item, n);
}

/* Appends the finished list to out, all or nothing. */
static int flush(struct buf *out, struct buf *tmp, struct err *e)
{
    if (!tmp->err && buf_add(out, buf_str(tmp), tmp->len) == 0)
        return 0;
    return err_set(e, ERR_TOOBIG, "normalised value too long");
}

static int too_many(const char *what, struct err *e)
{
    return err_set(e, ERR_TOOBIG, "more than %d %s", ITEMS_MAX, what);
}

int validate_emails(const char *s, struct buf *out, struct err *e)
{
    struct buf tmp, one;
    struct addr a;
    const char *item;
    size_t len, count = 0;
    int rc = 0;

    if (!s)
        s = "";
    buf_init(&tmp, 0);
    buf_init(&one, 0);
    while (next_item(&s, ';', &item, &len)) {
        if (++count > ITEMS_MAX) {
            rc = too_many("e-mail addresses", e);
            break;
        }
        rc = parse_addr(item, len, &a, e);
        if (!rc) {
            buf_reset(&one);
            buf_add(&one, a.local, a.local_len);
            buf_addc(&one, '@');
            buf_adds(&one, a.unicode);
            add_unique(&tmp, buf_str(&one));
        }
        addr_release(&a);
        if (rc)
            break;
    }
    if (!rc)
        rc = flush(out, &tmp, e);
    buf_release(&one);
    buf_release(&tmp);
    return rc;
}

int validate_email_ascii(const char *s, struct buf *out, struct err *e)
{
    struct addr a;
    const char *item, *rest, *other;
    char q[SHOW_MAX];
    size_t len, olen;
    int rc;

    rest = s ? s : "";
    if (!next_item(&rest, ';', &item, &len))
        return err_set(e, ERR_INPUT, "no e-mail address");
    if (next_item(&rest, ';', &other, &olen))
        return err_set(e, ERR_INPUT, "expected one e-mail address, got '%s'",
                       show(q, sizeof q, s, strlen(s)));
    rc = parse_addr(item, len, &a, e);
    if (!rc) {
        struct buf tmp;

        buf_init(&tmp, 0);
        buf_add(&tmp, a.local, a.local_len);
        buf_addc(&tmp, '@');
        buf_adds(&tmp, a.ascii);
        rc = flush(out, &tmp, e);
        buf_release(&tmp);
    }
    addr_release(&a);
    return rc;
}

/* ---- phone numbers ---- */

/* Bytes of a separator at p: ASCII blanks and punctuation people write in
 * numbers, and the no-break spaces (U+00A0, U+202F) French spreadsheets
 * put between digit pairs.  0 if p is not a separator. */
static size_t phone_sep(const char *p)
{
    /* strncmp, not memcmp: it stops at the NUL that may end the string. */
    if (*p && strchr(" \t.-/()", *p))
        return 1;
    if (!strncmp(p, "\xc2\xa0", 2))
        return 2;
    if (!strncmp(p, "\xe2\x80\xaf", 3))
        return 3;
    return 0;
}

/* If p is at "(0)" (blanks allowed inside), returns its length, else 0. */
static size_t trunk_zero(const char *p, size_t n)
{
    size_t i = 1;

    if (n < 3 || p[0] != '(')
        return 0;
    while (i < n && is_blank(p[i]))
        i++;
    if (i >= n || p[i++] != '0')
        return 0;
    while (i < n && is_blank(p[i]))
        i++;
    return i < n && p[i] == ')' ? i + 1 : 0;
}

/* Collects the digits of s[0..n) into d (NUL-terminated, at most 20), and
 * sets *intl if the number started with '+'.  "(0)" right after an
 * international prefix and a 1-3 digit country code is the national trunk
 * prefix written for local callers ("+33 (0)6..."): it is dropped. */
static const char *phone_digits(const char *s, size_t n, char d[21], int *intl)
{
    size_t i = 0, nd = 0, k, base;

    *intl = s[0] == '+';
    if (*intl)
        i = 1;
    while (i < n) {
        if (s[i] >= '0' && s[i] <= '9') {
            if (nd == 20)
                return "too many digits";
            d[nd++] = s[i++];
            continue;
        }
        base = !*intl && nd >= 2 && d[0] == '0' && d[1] == '0' ? 2 : 0;
        if ((*intl || base) && nd - base >= 1 && nd - base <= 3 && (k = trunk_zero(s + i, n - i))) {
            i += k;
        } else if ((k = phone_sep(s + i)) != 0 && i + k <= n) {
            i += k;
        } else if (s[i] == '+') {
            return "'+' is only allowed at the start";
        } else if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')) {
            return "letters are not allowed";
        } else {
            return "unexpected character";
        }
    }
    d[nd] = '\0';
    return nd ? NULL : "no digits";
}

/* Turns one number into E.164 digits (without the '+') in e164. */
static const char *phone_e164(const char *s, size_t n, const char *cc, char e164[24])
{
    char d[21];
    const char *bad, *p;
    int intl;
    size_t len;

    bad = phone_digits(s, n, d, &intl);
    if (bad)
        return bad;
    if (intl || (d[0] == '0' && d[1] == '0')) {
        p = intl ? d : d + 2;
        if (*p == '0' || !*p)
            return "a country code cannot start with 0";
        snprintf(e164, 24, "%s", p);
    } else if (d[0] == '0') {
        if (!cc || !*cc)
            return "a national number needs a default country code";
        if (!strcmp(cc, "33") && strlen(d) != 10)
            return "a French national number has 10 digits";
        snprintf(e164, 24, "%s%s", cc, d + 1);
    } else {
        return "neither '+' and a country code nor a leading 0 (a spreadsheet may have dropped "
               "the 0)";
    }
    len = strlen(e164);
    /* French numbers (ARCEP plan) have 9 digits after +33, never a 0. */
    if (!strncmp(e164, "33", 2) && (len != 11 || e164[2] == '0'))
        return "a French number has 9 digits after +33, without the leading 0";
    if (len < E164_MIN || len > E164_MAX)
        return "E.164 numbers have 8 to 15 digits";
    return NULL;
}

static int cc_ok(const char *cc)
{
    size_t n;

    if (!cc || !*cc)
        return 1;
    n = strspn(cc, "0123456789");
    return cc[n] == '\0' && n <= 3 && cc[0] != '0';
}

unsigned validate_bits(const char *names, int consents)
{
    unsigned bits = 0;

    if (consents)
        validate_consents_parse(names ? names : "", &bits, NULL);
    else
        validate_flags_parse(names ? names : "", &bits, NULL);
    return bits;
}

int validate_phones(const char *s, const char *cc, struct buf *out, struct err *e)
{
    char e164[24], one[26], q[SHOW_MAX];
    const char *item, *bad;
    struct buf tmp;
    size_t len, count = 0;
    int rc = 0;

    if (!cc_ok(cc))
        return err_set(e, ERR_CONFIG, "default country code '%s' is not 1 to 3 digits",
                       show(q, sizeof q, cc, strlen(cc)));
    if (!s)
        s = "";
    buf_init(&tmp, 0);
    while (next_item(&s, ';', &item, &len)) {
        if (++count > ITEMS_MAX) {
            rc = too_many("phone numbers", e);
            break;
        }
        bad = phone_e164(item, len, cc, e164);
        if (bad) {
            rc = err_set(e, ERR_INPUT, "cannot read phone number '%s': %s",
                         show(q, sizeof q, item, len), bad);
            break;
        }
        snprintf(one, sizeof one, "+%s", e164);
        /* 0690…, 0694…: overseas departments have their own codes */
        sms_number_canonical(one, e164, sizeof e164);
        add_unique(&tmp, e164);
    }
    if (!rc)
        rc = flush(out, &tmp, e);
    buf_release(&tmp);
    return rc;
}

/* ---- codes ---- */

int validate_type_code(const char *s, struct err *e)
{
    char q[SHOW_MAX];
    size_t n = strlen(s), i;
    int ok = n > 0 && n <= TYPE_CODE_MAX && s[0] >= 'a' && s[0] <= 'z';

    for (i = 1; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_';
    if (ok)
        return 0;
    return err_set(e, ERR_INPUT,
                   "bad type code '%s': a lower-case letter then a-z, 0-9 or '_', "
                   "at most 32 characters",
                   show(q, sizeof q, s, n));
}

int validate_text(const char *s, int multiline, struct err *e)
{
    const unsigned char *p;

    for (p = (const unsigned char *)s; *p; p++) {
        if (*p == '\t' || (*p >= 0x20 && *p != 0x7f))
            continue;
        if (*p == '\r' || *p == '\n') {
            if (multiline)
                continue;
            return err_set(e, ERR_INPUT, "a line break is not allowed here (one line only)");
        }
        return err_set(e, ERR_INPUT, "control character U+%04X is not allowed", *p);
    }
    return 0;
}

int validate_locale(const char *s, struct err *e)
{
    char q[SHOW_MAX];

    if (!strcmp(s, "fr") || !strcmp(s, "en"))
        return 0;
    return err_set(e, ERR_INPUT, "unknown locale '%s' (expected fr or en)",
                   show(q, sizeof q, s, strlen(s)));
}

int validate_seed004_type(const char *s, unsigned *flags, struct err *e)
{
    static const unsigned map[6] = {
        FLAG_INVOICE | FLAG_PAYMENT_REMINDER | FLAG_DUE_NOTICE,
        FLAG_ORDER,
        0,
        FLAG_INVOICE | FLAG_PAYMENT_REMINDER | FLAG_DUE_NOTICE | FLAG_ORDER | FLAG_AFTER_SALES,
        FLAG_AFTER_SALES,
        FLAG_RECEIVER,
    };
    const char *p = s, *item;
    char q[SHOW_MAX];
    size_t len;

    *flags = 0;
    if (next_item(&p, '\0', &item, &len) && len == 1 && item[0] >= '1' && item[0] <= '6') {
        *flags = map[item[0] - '1'];
        return 0;
    }
    return err_set(e, ERR_INPUT,
                   "bad type '%s' (expected 1 administrative, 2 orders, 3 none, 4 all, "
                   "5 after-sales or 6 receiver)",
                   show(q, sizeof q, s, strlen(s)));
}
