/* The encodings of message construction (SPEC §4) that libetpan leaves to
 * its caller or gets wrong: RFC 2047 encoded-words for display names and
 * subjects, RFC 2231 file names, RFC 2045 quoted-printable bodies, and the
 * octet classes (ASCII, atext, UTF-8) they and the input checks of mime.c
 * use.  Pure functions over strings: no libetpan, no I/O, no checks of the
 * input beyond what each encoding needs. */
#include "mime/mime-int.h"

#include <stdint.h>

#include "util/xalloc.h"

#define EW_MAX 62             /* encoded-word size: <= 75 (RFC 2047 §2); libetpan folds at 72 */
#define EW_TEXT (EW_MAX - 12) /* minus "=?UTF-8?Q?" and "?=" */
#define RAW_WORD_MAX 60       /* longer words could not be folded (RFC 5322 §2.2.3) */
#define RAW_NAME_MAX 60       /* libetpan never folds a quoted display name */
#define QP_LINE 76            /* RFC 2045 §6.7 rule 5, "=" of a soft break included */
#define SEG_2231 60           /* RFC 2231 §3: value bytes per continuation line */

/* ---- octet classes ----------------------------------------------------- */

/* Locale-independent ASCII classes. */
static int is_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* atext (RFC 5322 §3.2.3). */
int mime_is_atext(int c)
{
    return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Length of the UTF-8 sequence starting at s (RFC 3629 §4: no overlongs,
 * no surrogates, nothing past U+10FFFF), 0 if it is not valid. */
static size_t u8_seq(const unsigned char *s)
{
    unsigned lo, hi;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xe0 && s[0] <= 0xef) {
        lo = s[0] == 0xe0 ? 0xa0 : 0x80;
        hi = s[0] == 0xed ? 0x9f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        lo = s[0] == 0xf0 ? 0x90 : 0x80;
        hi = s[0] == 0xf4 ? 0x8f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/* Most of a body is ASCII: it is skipped 8 octets at a time. */
int mime_is_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    uint64_t w;
    size_t n;

    for (; p < end; p += n) {
        n = 1;
        if (end - p >= 8 && (memcpy(&w, p, 8), (w & 0x8080808080808080u) == 0))
            n = 8;
        else if (*p >= 0x80 && (n = u8_seq(p)) == 0)
            return 0;
    }
    return 1;
}

/* "=XX" (quoted-printable, Q) or "%XX" (RFC 2231), upper-case hex, at w;
 * returns the end. */
static char *hex_put(char *w, char lead, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";

    w[0] = lead;
    w[1] = hex[c >> 4];
    w[2] = hex[c & 15];
    return w + 3;
}

/* ---- RFC 2047 encoded-words -------------------------------------------- */

/* Whether a display name or subject can be written as it is: printable
 * ASCII words separated by single spaces (libetpan's folding collapses
 * runs of spaces and trims the ends), none longer than RAW_WORD_MAX, and no
 * "=?" that a reader would decode (RFC 2047 §6.1). */
static int is_raw_ok(const char *s, size_t maxlen)
{
    const char *p;
    size_t run = 0;

    if (*s == ' ' || strlen(s) > maxlen)
        return 0;
    for (p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 32 || c > 126 || (c == '=' && p[1] == '?'))
            return 0;
        if (c != ' ')
            run++;
        else if (p[1] == ' ' || p[1] == '\0')
            return 0;
        else
            run = 0;
        if (run > RAW_WORD_MAX)
            return 0;
    }
    return 1;
}

/* RFC 2047 §5 (3): in a phrase, Q-encoded text may only hold letters,
 * digits and "!*+-/"; "_" is a space (§4.2 (2)); all else is "=XX". */
static size_t q_size(unsigned char c)
{
    return (is_alnum(c) || c == ' ' || c == '!' || c == '*' || c == '+' || c == '-' || c == '/')
               ? 1
               : 3;
}

/* The Q form of c at w; returns the end. */
static char *q_put(char *w, unsigned char c)
{
    if (q_size(c) == 3)
        return hex_put(w, '=', c);
    *w = c == ' ' ? '_' : (char)c;
    return w + 1;
}

/* Base64 (RFC 2045 §6.8, the "B" encoding of RFC 2047 §4.1) of p[0..n) at
 * w; returns the end. */
static char *b64_put(char *w, const unsigned char *p, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i;

    for (i = 0; i < n; i += 3, w += 4) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        w[0] = abc[v >> 18];
        w[1] = abc[(v >> 12) & 63];
        w[2] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
        w[3] = i + 2 < n ? abc[v & 63] : '=';
    }
    return w;
}

/* How many octets of p[0..n) go into the next encoded-word: whole
 * characters only (RFC 2047 §5: a character is never split), at most
 * EW_TEXT of encoded text, cut after a space when there is one so that a
 * reader that wrongly keeps the space between two words (CPython
 * gh-128110, in address headers) doubles a space instead of splitting a
 * word. */
static size_t ew_take(const unsigned char *p, size_t n, int useb)
{
    size_t j = 0, w = 0, after_space = 0, cl, k;

    while (j < n) {
        size_t nw = w;
        cl = u8_seq(p + j) ? u8_seq(p + j) : 1;
        if (useb)
            nw = (j + cl + 2) / 3 * 4;
        else
            for (k = 0; k < cl; k++)
                nw += q_size(p[j + k]);
        if (nw > EW_TEXT && j > 0)
            return after_space ? after_space : j;
        w = nw;
        j += cl;
        if (p[j - 1] == ' ')
            after_space = j;
    }
    return j;
}

/* Appends p[0..n) (valid UTF-8) as space-separated "=?UTF-8?Q?...?=" or
 * "=?UTF-8?B?...?=" words, whichever encoding is shorter (RFC 2047 §4),
 * each at most EW_MAX long (§2) so that libetpan can fold between them and
 * lines stay under 78.  The spaces between words are not part of the text
 * (§6.2); the spaces of the text are inside the words. */
static void ew_encode(struct buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    char word[1 + EW_MAX], *w; /* a space and a word, appended at once */
    size_t i, j, k, qtot = 0;
    int useb;

    for (i = 0; i < n; i++)
        qtot += q_size(p[i]);
    useb = (n + 2) / 3 * 4 < qtot;
    for (i = 0; i < n; i = j) {
        j = i + ew_take(p + i, n - i, useb);
        w = word;
        if (i > 0)
            *w++ = ' ';
        memcpy(w, useb ? "=?UTF-8?B?" : "=?UTF-8?Q?", 10);
        w += 10;
        if (useb)
            w = b64_put(w, p + i, j - i);
        else
            for (k = i; k < j; k++)
                w = q_put(w, p[k]);
        memcpy(w, "?=", 2);
        buf_add(b, word, (size_t)(w + 2 - word));
    }
}

/* The header form of a subject (malloc'd): as is when is_raw_ok, else
 * encoded-words (RFC 2047 §5 (1)). */
char *mime_header_text(const char *s)
{
    struct buf b;

    if (is_raw_ok(s, SIZE_MAX))
        return xstrdup(s);
    buf_init(&b, 0);
    ew_encode(&b, s, strlen(s)); /* at most ~4 * HDR_TEXT_MAX: under the cap */
    return buf_take(&b);
}

/* A word that can stay a plain atom in a phrase (RFC 5322 §3.2.3). */
static int is_atom(const char *w, size_t n)
{
    size_t i;

    if (n > RAW_WORD_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (!mime_is_atext((unsigned char)w[i]) || (w[i] == '=' && i + 1 < n && w[i + 1] == '?'))
            return 0;
    return 1;
}

/* The header form of a display name s, white space already normalised
 * (malloc'd).  Printable ASCII stays as it is (libetpan quotes it when it
 * holds specials, RFC 5322 §3.2.4); otherwise atoms stay plain and each
 * run of other words becomes encoded-words (RFC 2047 §5 (3)), which keeps
 * the space between an atom and an encoded-word meaningful (§6.2). */
char *mime_phrase_text(const char *s)
{
    struct buf b;
    const char *p = s, *end;
    size_t n;

    if (is_raw_ok(s, RAW_NAME_MAX))
        return xstrdup(s);
    buf_init(&b, 0);
    while (*p) {
        if (b.len)
            buf_addc(&b, ' ');
        n = strcspn(p, " ");
        if (is_atom(p, n)) {
            buf_add(&b, p, n);
        } else {
            for (end = p + n; *end == ' ' && !is_atom(end + 1, strcspn(end + 1, " "));)
                end += 1 + strcspn(end + 1, " ");
            n = (size_t)(end - p);
            ew_encode(&b, p, n);
        }
        p += n + (p[n] == ' ');
    }
    return buf_take(&b);
}

/* ---- RFC 2231 file names ----------------------------------------------- */

/* attribute-char (RFC 2231 §7): printable ASCII except SPACE, "*", "'",
 * "%" and the tspecials of RFC 2045 §5.1. */
static int is_attr_char(int c)
{
    return c > 32 && c < 127 && !strchr("*'%()<>@,;:\\\"/[]?=", c);
}

/* Percent-encoded size of the character at p (RFC 2231 §4), *cl its octets. */
static size_t pct_size(const unsigned char *p, size_t *cl)
{
    size_t i, w = 0;

    *cl = u8_seq(p) ? u8_seq(p) : 1;
    for (i = 0; i < *cl; i++)
        w += is_attr_char(p[i]) ? 1 : 3;
    return w;
}

static void pct_put(struct buf *b, const unsigned char *p, size_t n)
{
    char t[3];
    size_t i;

    for (i = 0; i < n; i++) {
        if (is_attr_char(p[i]))
            buf_addc(b, (char)p[i]);
        else
            buf_add(b, t, (size_t)(hex_put(t, '%', p[i]) - t));
    }
}

/* "attachment;" CRLF SP "filename*=UTF-8''%C3%89..." (RFC 2231 §4), split
 * into filename*0*, filename*1*, ... continuations (§3) when one line would
 * pass 78 characters.  Sections hold whole characters: some readers
 * (Python's email) decode each section on its own. */
char *mime_disposition_2231(const char *name)
{
    const unsigned char *p = (const unsigned char *)name;
    struct buf d;
    size_t k, i, n, w, cl, total = 0;

    for (i = 0; p[i]; i += cl)
        total += pct_size(p + i, &cl);
    buf_init(&d, 0);
    buf_adds(&d, "attachment;");
    if (total + strlen(" filename*=UTF-8''") <= LINE_SOFT) {
        buf_adds(&d, "\r\n filename*=UTF-8''");
        pct_put(&d, p, strlen(name));
        return buf_take(&d);
    }
    for (k = 0, i = 0; p[i]; k++) {
        buf_printf(&d, "%s\r\n filename*%zu*=%s", k ? ";" : "", k, k ? "" : "UTF-8''");
        for (n = 0; p[i]; i += cl, n += w) {
            w = pct_size(p + i, &cl);
            if (n > 0 && n + w > SEG_2231)
                break;
            pct_put(&d, p + i, cl);
        }
    }
    return buf_take(&d);
}

/* ---- RFC 2045 quoted-printable ----------------------------------------- */

/* Octets a quoted-printable line may hold as they are: printable ASCII
 * but "=", and SP/HT (when not before a break, checked by the caller). */
static int qp_plain(unsigned char c)
{
    return (c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t';
}

static int qp_break_at(const unsigned char *p)
{
    return *p == '\0' || *p == '\n' || (*p == '\r' && p[1] == '\n');
}

/* Whether the 8 octets of w are all SP or printable ASCII but "=" ("Bit
 * Twiddling Hacks" again: hasless(w, 32), hasmore(w, 126), haszero(w ^
 * "=" * 8)).  HT is left to the octet-by-octet path. */
static int word_plain(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t eq = w ^ (ones * '=');

    return ((((w - ones * ' ') & ~w) | ((w + ones) | w) | ((eq - ones) & ~eq)) & highs) == 0;
}

/* The end of the run of octets from p, up to lim, that qp_plain lets
 * through: most of a text, taken 8 at a time. */
static const unsigned char *plain_run(const unsigned char *p, const unsigned char *lim)
{
    uint64_t w;

    for (; lim - p >= 8; p += 8) {
        memcpy(&w, p, 8);
        if (!word_plain(w))
            break;
    }
    while (p < lim && qp_plain(*p))
        p++;
    return p;
}

/* Quoted-printable (RFC 2045 §6.7) of text (len octets and a NUL) whose
 * lines end in LF or CRLF.  libetpan 1.9.4's
 * mailmime_quoted_printable_write doubles the space before a line break
 * ("a \n" gives "a =20") and writes a NUL for " \r", so the body is
 * encoded here, and spliced into the message as it is: breaks become
 * CRLF (rule 4); SP/HT before a break or at the end become =20/=09 (rule
 * 3); "=", controls and 8-bit octets become =XX (rules 1, 2); a "." or
 * "From " opening a line is =XX too (safe through SMTP and mbox); lines stay
 * within 76 characters with soft breaks (rule 5).  The result always ends
 * with a line break, a soft one when the text did not end with one. */
void mime_qp_encode(struct buf *b, const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text, *end = p + len, *run;
    char line[QP_LINE + 2]; /* a line and its break, appended at once */
    size_t col = 0;         /* = the octets of line in use */

    while (*p) {
        unsigned char c = *p;
        size_t n, room;
        int lit;
        if (c == '\n' || (c == '\r' && p[1] == '\n')) {
            memcpy(line + col, "\r\n", 2);
            buf_add(b, line, col + 2);
            col = 0;
            p += c == '\r' ? 2 : 1;
            continue;
        }
        if (col + 4 > QP_LINE) { /* room for "=XX" and the "=" of a soft break */
            memcpy(line + col, "=\r\n", 3);
            buf_add(b, line, col + 3);
            col = 0;
        }
        /* the common case: a run of octets that stay as they are, up to
         * where a soft break must come, copied at once */
        if (qp_plain(c) && (col > 0 || (c != '.' && c != 'F'))) {
            room = QP_LINE - 3 - col; /* each at a column <= QP_LINE - 4 */
            run = plain_run(p, (size_t)(end - p) < room ? end : p + room);
            n = (size_t)(run - p);
            if ((run[-1] == ' ' || run[-1] == '\t') && qp_break_at(run))
                n--; /* white space before a break: encoded below */
            if (n) {
                memcpy(line + col, p, n);
                col += n;
                p += n;
                continue;
            }
        }
        lit = qp_plain(c) && !((c == ' ' || c == '\t') && qp_break_at(p + 1));
        if (col == 0 && (c == '.' || (c == 'F' && strncmp((const char *)p, "From ", 5) == 0)))
            lit = 0;
        if (lit)
            line[col++] = (char)c;
        else
            col = (size_t)(hex_put(line + col, '=', c) - line);
        p++;
    }
    if (p != (const unsigned char *)text && p[-1] != '\n') {
        memcpy(line + col, "=\r\n", 3);
        buf_add(b, line, col + 3);
    }
}
