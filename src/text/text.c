/* Unicode text services on top of utf8proc: strict UTF-8 decoding, folding
 * for search keys (compatibility decomposition, marks stripped, full case
 * folding) and Windows-1252 conversion.  Folding is on the hot path of
 * contact import, so ASCII never reaches utf8proc and output is staged in a
 * stack buffer rather than appended byte by byte. */
#include "text.h"

#include <stdint.h>
#include <string.h>

#include <utf8proc.h>

#include "util/err.h"
#include "util/xalloc.h"

/* U+FDFA expands to 18 code points under NFKD; casefolding adds little. */
#define DECOMP_MAX 32

#define FOLD_OPTS                                                                                  \
    (UTF8PROC_COMPAT | UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK | UTF8PROC_CASEFOLD |               \
     UTF8PROC_IGNORE)

/* Output staging: one buf_add per few hundred bytes instead of per byte. */
struct sink {
    struct buf *out;
    size_t len;
    char tmp[512];
};

static void sink_flush(struct sink *k)
{
    if (k->len)
        buf_add(k->out, k->tmp, k->len);
    k->len = 0;
}

/* Writes the UTF-8 form of a valid code point at o; returns its length. */
static size_t put_utf8(char *o, int32_t cp)
{
    uint32_t c = (uint32_t)cp;

    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

static void sink_cp(struct sink *k, int32_t cp)
{
    if (k->len + 4 > sizeof k->tmp)
        sink_flush(k);
    k->len += put_utf8(k->tmp + k->len, cp);
}

/* The ASCII fast path of plain folding: lowercase a run, no branches. */
static void sink_lower(struct sink *k, const unsigned char *s, size_t n)
{
    while (n) {
        size_t m = sizeof k->tmp - k->len, j;
        char *o;

        if (!m) {
            sink_flush(k);
            m = sizeof k->tmp;
        }
        if (m > n)
            m = n;
        o = k->tmp + k->len;
        for (j = 0; j < m; j++)
            o[j] = (char)(s[j] | (((unsigned)(s[j] - 'A') < 26u) << 5));
        k->len += m;
        s += m;
        n -= m;
    }
}

/* Decodes one strictly well-formed UTF-8 sequence at s (n > 0 bytes, s[0]
 * not ASCII).  Returns its length and sets *cp, or 0 when the sequence is
 * invalid or truncated (RFC 3629 §4 table: no overlongs, no surrogates). */
static size_t utf8_seq(const unsigned char *s, size_t n, int32_t *cp)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t len, i;
    int32_t v;

    if (c >= 0xC2 && c <= 0xDF)
        len = 2, v = (int32_t)(c & 0x1F);
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, v = (int32_t)(c & 0x0F);
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, v = (int32_t)(c & 0x07);
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0; /* overlong */
    else if (c == 0xED)
        hi = 0x9F; /* surrogates */
    else if (c == 0xF0)
        lo = 0x90; /* overlong */
    else if (c == 0xF4)
        hi = 0x8F; /* above U+10FFFF */
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        unsigned b = s[i];
        if (b < lo || b > hi)
            return 0;
        lo = 0x80, hi = 0xBF;
        v = (v << 6) | (int32_t)(b & 0x3F);
    }
    *cp = v;
    return len;
}

/* Eight bytes at a time: most imported text is ASCII. */
size_t text_ascii_prefix(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;

    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & UINT64_C(0x8080808080808080))
            break;
        i += 8;
    }
    while (i < n && s[i] < 0x80)
        i++;
    return i;
}

size_t text_utf8_prefix(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        int32_t cp;
        size_t k;

        i += text_ascii_prefix(s + i, n - i);
        if (i == n)
            break;
        k = utf8_seq(u + i, n - i, &cp);
        if (!k)
            return i;
        i += k;
    }
    return n;
}

int text_utf8_valid(const char *s, size_t n)
{
    return text_utf8_prefix(s, n) == n;
}

/* Letters and digits of every script; everything else separates words. */
static int is_word_cp(int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);

    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

/* Letters that Unicode does not decompose but that root collation treats
 * as their base letters at primary strength: the ligatures (the header
 * promises "ŒUVRE" -> "oeuvre") and the stroke letters. */
static const char *unligature(int32_t cp)
{
    static const struct {
        int32_t cp;
        const char *s;
    } tab[] = {
        {0x00E6, "ae"}, /* æ (Æ folds to it) */
        {0x00F8, "o"},  /* ø */
        {0x0111, "d"},  /* đ */
        {0x0142, "l"},  /* ł */
        {0x0153, "oe"}, /* œ */
    };
    size_t i;

    if (cp > 0x0153)
        return NULL;
    for (i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (tab[i].cp == cp)
            return tab[i].s;
    return NULL;
}

/* Word state for text_fold_words_buf: a space is owed between two words. */
struct words {
    int on;      /* 0: plain folding, every code point is kept */
    int started; /* a word character was written */
    int gap;     /* a separator was seen since the last word character */
};

static void emit_ascii(struct sink *k, struct words *w, unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        c = (unsigned char)(c + ('a' - 'A'));
    if (w->on) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            w->gap = 1;
            return;
        }
        if (w->gap && w->started)
            k->tmp[k->len++] = ' ';
        w->gap = 0;
        w->started = 1;
    }
    k->tmp[k->len++] = (char)c;
}

static void emit_cp(struct sink *k, struct words *w, int32_t cp)
{
    const char *lig = unligature(cp);

    if (k->len + 8 > sizeof k->tmp)
        sink_flush(k);
    if (cp < 0x80) {
        emit_ascii(k, w, (unsigned char)cp);
    } else if (lig) {
        for (; *lig; lig++)
            emit_ascii(k, w, (unsigned char)*lig);
    } else if (w->on && !is_word_cp(cp)) {
        w->gap = 1;
    } else {
        if (w->on && w->gap && w->started)
            k->tmp[k->len++] = ' ';
        if (w->on)
            w->gap = 0, w->started = 1;
        sink_cp(k, cp);
    }
}

/* Folds one non-ASCII code point through utf8proc. */
static void fold_cp(struct sink *k, struct words *w, int32_t cp)
{
    utf8proc_int32_t small[DECOMP_MAX], *d = small;
    utf8proc_ssize_t n, i;

    n = utf8proc_decompose_char(cp, d, DECOMP_MAX, FOLD_OPTS, NULL);
    if (n > DECOMP_MAX) { /* cannot happen with Unicode 15 data; stay safe */
        d = xmalloc((size_t)n * sizeof *d);
        n = utf8proc_decompose_char(cp, d, n, FOLD_OPTS, NULL);
    }
    for (i = 0; i < n; i++)
        emit_cp(k, w, d[i]);
    if (d != small)
        free(d);
}

static int fold(struct buf *out, const char *s, size_t n, int words)
{
    const unsigned char *u = (const unsigned char *)s;
    struct words w = {.on = words};
    struct sink k = {.out = out};
    size_t i = 0;

    if (out->err)
        return out->err;
    while (i < n) {
        int32_t cp;
        size_t len;

        if (u[i] < 0x80 && !words) {
            len = text_ascii_prefix(s + i, n - i);
            sink_lower(&k, u + i, len);
            i += len;
            continue;
        }
        if (u[i] < 0x80) {
            if (k.len + 2 > sizeof k.tmp)
                sink_flush(&k);
            emit_ascii(&k, &w, u[i++]);
            continue;
        }
        len = utf8_seq(u + i, n - i, &cp);
        if (!len) {
            i++; /* invalid byte: dropped */
            continue;
        }
        fold_cp(&k, &w, cp);
        i += len;
    }
    sink_flush(&k);
    return out->err;
}

int text_fold_buf(struct buf *out, const char *s, size_t n)
{
    return fold(out, s, n, 0);
}

int text_fold_words_buf(struct buf *out, const char *s, size_t n)
{
    return fold(out, s, n, 1);
}

char *text_fold(const char *s)
{
    struct buf b;

    if (!s)
        return NULL;
    buf_init(&b, SIZE_MAX / 2); /* no error channel here: only OOM can stop it */
    text_fold_buf(&b, s, strlen(s));
    return buf_take(&b);
}

/* Simple (one-to-one) case mapping per code point, as utf8proc_toupper and
 * utf8proc_tolower do: "élodie" -> "ÉLODIE"; ß stays ß.  Invalid bytes
 * become U+FFFD so the output is always well-formed. */
static int map_case(struct buf *out, const char *s, size_t n, int upper)
{
    const unsigned char *u = (const unsigned char *)s;
    struct sink k = {.out = out};
    size_t i = 0;

    if (out->err)
        return out->err;
    while (i < n) {
        int32_t cp = u[i];
        size_t len = 1;

        if (cp >= 0x80 && !(len = utf8_seq(u + i, n - i, &cp)))
            cp = 0xFFFD, len = 1;
        sink_cp(&k, upper ? utf8proc_toupper(cp) : utf8proc_tolower(cp));
        i += len;
    }
    sink_flush(&k);
    return out->err;
}

int text_upper_buf(struct buf *out, const char *s, size_t n)
{
    return map_case(out, s, n, 1);
}

int text_lower_buf(struct buf *out, const char *s, size_t n)
{
    return map_case(out, s, n, 0);
}

/* Windows-1252 0x80-0x9F; 0 marks the five undefined bytes. */
/* clang-format off */
static const uint16_t cp1252_c1[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
    0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};
/* clang-format on */

/* Output goes through a stack block sized for the worst case (3 bytes per
 * input byte), so the inner loop needs no bounds check. */
int text_cp1252_to_utf8(struct buf *out, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    char tmp[3 * 1024];
    size_t i = 0;

    while (i < n && !out->err) {
        size_t end = n - i > 1024 ? i + 1024 : n, k = 0;

        while (i < end) {
            uint64_t w;
            unsigned c;

            if (i + 8 <= end && (memcpy(&w, u + i, 8), !(w & UINT64_C(0x8080808080808080)))) {
                memcpy(tmp + k, &w, 8);
                i += 8, k += 8;
                continue;
            }
            c = u[i++];
            if (c < 0x80)
                tmp[k++] = (char)c;
            else if (c >= 0xA0)
                k += put_utf8(tmp + k, (int32_t)c);
            else
                k += put_utf8(tmp + k, cp1252_c1[c - 0x80] ? cp1252_c1[c - 0x80] : 0xFFFD);
        }
        buf_add(out, tmp, k);
    }
    return out->err;
}

int text_one_line(struct buf *out, const char *s)
{
    size_t n;

    while (s && *s) {
        n = strcspn(s, "\r\n");
        buf_add(out, s, n);
        s += n;
        if (*s)
            buf_adds(out, *s++ == '\r' ? "^M" : "^J");
    }
    return out->err;
}
