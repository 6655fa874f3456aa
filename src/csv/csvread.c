/* Delimited text files through libcsv, streamed in 1 MiB reads.  The
 * encoding is decided at the first non-ASCII byte (see next_span), the
 * separator on the header line; libcsv is fed one physical line at a time so
 * that every row knows the line it starts on, and rows are assembled in
 * buffers reused from row to row.  Does not interpret columns. */
#include "csvread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <csv.h>

#include "text/text.h"
#include "util/buf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define RAW_CAP ((size_t)1 << 20) /* bytes asked of each read() */
#define WINDOW ((size_t)64 << 10) /* lookahead for the encoding decision */
#define ROW_MAX ((size_t)1 << 20) /* text of one row, line ends excluded */

/* The current row: field text in one arena, offsets since it may move. */
struct rowbuf {
    char *text;
    size_t len, cap;
    size_t *off;
    char **fields;
    size_t n, fcap;
};

struct csvr {
    char *name;
    int fd; /* -1 for csvr_open_mem */
    unsigned char *raw;
    size_t raw_pos, raw_len, raw_cap;
    int eof; /* nothing more to read() */
    enum csvr_encoding enc;
    int utf8_seen;             /* real UTF-8 met: later invalid bytes are errors */
    long cp1252_line;          /* the line that made the file Windows-1252 */
    struct buf conv;           /* a Windows-1252 chunk converted to UTF-8 */
    const unsigned char *span; /* UTF-8 text waiting for libcsv */
    size_t span_len, span_pos;
    struct csv_parser p;
    long line;     /* line of the next byte fed to libcsv */
    int prev_cr;   /* last unit ended in CR: a leading LF ends no line */
    long row_line; /* line on which the row being parsed started */
    size_t row_bytes;
    int row_done, finished;
    struct rowbuf rb;
    struct csvr_row row, header;
    char *header_text;
    char sep;
    struct err fail; /* sticky: once set, every csvr_next returns it */
};

static int failf(struct csvr *r, struct err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int failf(struct csvr *r, struct err *e, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->fail.msg, sizeof r->fail.msg, fmt, ap);
    va_end(ap);
    r->fail.code = code;
    if (e)
        *e = r->fail;
    return code;
}

/* libcsv field callback: copies the field into the row arena. */
static void on_field(void *s, size_t n, void *data)
{
    struct csvr *r = data;
    struct rowbuf *b = &r->rb;

    if (b->n == b->fcap) {
        b->fcap = b->fcap ? b->fcap * 2 : 32;
        b->off = xrealloc(b->off, b->fcap * sizeof *b->off);
        b->fields = xrealloc(b->fields, b->fcap * sizeof *b->fields);
    }
    if (n + 1 > b->cap - b->len) {
        while (n + 1 > b->cap - b->len)
            b->cap = b->cap ? b->cap * 2 : 4096;
        b->text = xrealloc(b->text, b->cap);
    }
    if (n)
        memcpy(b->text + b->len, s, n);
    b->text[b->len + n] = '\0';
    b->off[b->n++] = b->len;
    b->len += n + 1;
}

static void on_row(int c, void *data)
{
    struct csvr *r = data;

    (void)c;
    r->row_done = 1;
}

/* Moves the unread tail to the front and reads until the buffer is full. */
static int fill(struct csvr *r, struct err *e)
{
    size_t rest = r->raw_len - r->raw_pos;

    memmove(r->raw, r->raw + r->raw_pos, rest);
    r->raw_pos = 0;
    r->raw_len = rest;
    while (!r->eof && r->raw_len < r->raw_cap) {
        ssize_t n = read(r->fd, r->raw + r->raw_len, r->raw_cap - r->raw_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return failf(r, e, ERR_IO, "%s: %s", r->name, strerror(errno));
        if (n == 0)
            r->eof = 1;
        r->raw_len += (size_t)n;
    }
    return 0;
}

/* Length of the valid UTF-8 prefix of s.  *bad tells an invalid sequence
 * from one merely cut by the end of the buffer (examined after the refill). */
static size_t utf8_valid_len(const unsigned char *s, size_t n, int at_eof, int *bad)
{
    size_t i = text_utf8_prefix((const char *)s, n), want;

    *bad = 0;
    if (i == n)
        return n;
    want = s[i] >= 0xF0 ? 4 : s[i] >= 0xE0 ? 3 : 2;
    if (!at_eof && s[i] >= 0xC2 && want > n - i)
        return i;
    *bad = 1;
    return i;
}

/* Offset in s[0..n) of the first well-formed UTF-8 sequence of two bytes
 * or more, n when there is none. */
static size_t first_utf8_seq(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while ((i += text_ascii_prefix((const char *)s + i, n - i)) < n) {
        if (text_utf8_prefix((const char *)s + i, n - i < 4 ? n - i : 4) >= 2)
            return i;
        i++;
    }
    return n;
}

/* The line of s[k], s being the text from the next byte on (r->line),
 * counting CR, LF and CR LF as one line end each. */
static long line_of(const struct csvr *r, const unsigned char *s, size_t k)
{
    long line = r->line;
    size_t i;

    for (i = 0; i < k; i++)
        if (s[i] == '\r' || (s[i] == '\n' && !(i ? s[i - 1] == '\r' : r->prev_cr)))
            line++;
    return line;
}

/* Converts n bytes (at most RAW_CAP) of Windows-1252 into the span.  UTF-8
 * in them (a line pasted from elsewhere) makes a file of two encodings:
 * an error, rather than that line turned to mojibake. */
static int convert(struct csvr *r, size_t n, struct err *e)
{
    const unsigned char *s = r->raw + r->raw_pos;
    size_t k;

    if (n > RAW_CAP)
        n = RAW_CAP;
    if ((k = first_utf8_seq(s, n)) < n)
        return failf(r, e, ERR_INPUT,
                     "%s:%ld: UTF-8 text in a file that is Windows-1252 from line %ld on: the "
                     "file mixes two encodings (save it again as UTF-8)",
                     r->name, line_of(r, s, k), r->cp1252_line);
    buf_reset(&r->conv);
    if (text_cp1252_to_utf8(&r->conv, (const char *)r->raw + r->raw_pos, n))
        return failf(r, e, ERR_INTERNAL, "%s: conversion buffer overflow", r->name);
    r->raw_pos += n;
    r->span = (const unsigned char *)r->conv.data;
    r->span_len = r->conv.len;
    return 1;
}

/* Makes the next span of UTF-8 text ready; 1, 0 at end of input, or <0.
 * Encoding: text is UTF-8 until a non-ASCII byte; if that byte starts a
 * valid UTF-8 sequence the file is UTF-8 and a later invalid byte is an
 * error naming its line; otherwise the file is Windows-1252 - exact, since
 * everything before was ASCII - and a later UTF-8 sequence is an error.
 * A NUL cannot be handed out in a C string: it means UTF-16 or a binary
 * file, refused once the text before it has been read. */
static int next_span(struct csvr *r, struct err *e)
{
    const unsigned char *s, *z;
    size_t n, v;
    int rc, bad;

    r->span_pos = r->span_len = 0;
    if (!r->eof && r->raw_len - r->raw_pos < WINDOW && (rc = fill(r, e)) < 0)
        return rc;
    s = r->raw + r->raw_pos;
    n = r->raw_len - r->raw_pos;
    if (!n)
        return 0;
    if ((z = memchr(s, 0, n)) == s)
        return failf(r, e, ERR_INPUT, "%s:%ld: NUL byte in text (UTF-16 or binary file?)", r->name,
                     r->line);
    if (z)
        n = (size_t)(z - s);
    if (r->enc == CSVR_CP1252)
        return convert(r, n, e);
    v = r->utf8_seen ? 0 : text_ascii_prefix((const char *)s, n);
    if (!v) {
        v = utf8_valid_len(s, n, r->eof || z, &bad);
        if (!r->utf8_seen && !v) {
            r->enc = CSVR_CP1252;
            r->cp1252_line = r->line;
            return convert(r, n, e);
        }
        if (!v)
            return failf(r, e, ERR_INPUT,
                         "%s:%ld: not UTF-8 (Windows-1252?) in a file that is UTF-8 before: the "
                         "file mixes two encodings (save it again as UTF-8)",
                         r->name, r->line);
        r->utf8_seen = 1;
    }
    r->span = s;
    r->span_len = v;
    r->raw_pos += v;
    return 1;
}

/* Feeds libcsv one physical line (or the part of it in this span) so that
 * at most one row ends per call, at the last byte; this is what lets the
 * parser state before a line say whether a row starts on it. */
static int feed_line(struct csvr *r, struct err *e)
{
    const unsigned char *s = r->span + r->span_pos, *lf, *cr;
    size_t n = r->span_len - r->span_pos, len, term = 1;

    lf = memchr(s, '\n', n);
    len = lf ? (size_t)(lf - s) + 1 : n;
    cr = memchr(s, '\r', len);
    if (cr) {
        len = (size_t)(cr - s) + 1;
        if (len < n && s[len] == '\n')
            len++, term++;
    } else if (!lf) {
        term = 0;
    }
    if (r->p.pstate == 0) {
        r->row_line = r->line;
        r->row_bytes = 0;
    }
    if (len - term > ROW_MAX - r->row_bytes)
        return failf(r, e, ERR_TOOBIG, "%s:%ld: row larger than 1 MiB%s", r->name, r->row_line,
                     r->p.quoted ? " (a quote never closed?)" : "");
    r->row_bytes += len - term;
    if (csv_parse(&r->p, s, len, on_field, on_row, r) != len) {
        if (csv_error(&r->p) == CSV_EPARSE)
            return failf(r, e, ERR_INPUT, "%s:%ld: malformed quoted field", r->name, r->line);
        return failf(r, e, ERR_INTERNAL, "%s:%ld: %s", r->name, r->line,
                     csv_strerror(csv_error(&r->p)));
    }
    r->span_pos += len;
    if (term && s[len - 1] == '\r')
        r->line++;
    else if (term && !(len == 1 && r->prev_cr))
        r->line++;
    r->prev_cr = term && s[len - 1] == '\r';
    return 0;
}

/* At end of input: flushes a last row without line end; an open quote is
 * malformed. */
static int finish(struct csvr *r, struct err *e)
{
    r->finished = 1;
    if (csv_fini(&r->p, on_field, on_row, r) != 0)
        return failf(r, e, ERR_INPUT, "%s:%ld: malformed quoted field (quote never closed)",
                     r->name, r->row_line);
    return r->row_done;
}

static int all_empty(const struct rowbuf *b)
{
    return b->len == b->n; /* every field is just its NUL */
}

/* Parses the next row into r->row, skipping rows whose fields are all
 * empty (";;;" lines from spreadsheets).  1, 0 at end, or <0 (sticky). */
static int read_row(struct csvr *r, struct err *e)
{
    size_t i;
    int rc;

    if (r->fail.code) {
        if (e)
            *e = r->fail;
        return r->fail.code;
    }
    do {
        r->rb.n = r->rb.len = 0;
        r->row_done = 0;
        while (!r->row_done) {
            if (r->finished)
                return 0;
            if (r->span_pos == r->span_len)
                rc = next_span(r, e);
            else
                rc = feed_line(r, e) < 0 ? r->fail.code : 1;
            if (rc == 0)
                rc = finish(r, e);
            if (rc < 0)
                return rc;
        }
    } while (all_empty(&r->rb));
    for (i = 0; i < r->rb.n; i++)
        r->rb.fields[i] = r->rb.text + r->rb.off[i];
    r->row.nfields = r->rb.n;
    r->row.fields = r->rb.fields;
    r->row.line = r->row_line;
    return 1;
}

/* Counts ';' ',' and tab outside quotes on the first non-blank line; the
 * most frequent wins, ties go to ','.  These bytes are the same in UTF-8
 * and Windows-1252, so this runs before the encoding is known. */
static char detect_sep(const unsigned char *s, size_t n)
{
    size_t i = 0, j, semi = 0, comma = 0, tab = 0;
    int inq = 0;

    for (;;) {
        for (j = i; j < n && (s[j] == ' ' || s[j] == '\t'); j++)
            ;
        if (j == n || (s[j] != '\r' && s[j] != '\n'))
            break;
        i = j + 1;
    }
    for (; i < n; i++) {
        if (s[i] == '"')
            inq = !inq;
        else if (inq)
            continue;
        else if (s[i] == '\r' || s[i] == '\n')
            break;
        semi += s[i] == ';';
        comma += s[i] == ',';
        tab += s[i] == '\t';
    }
    if (semi > comma && semi >= tab)
        return ';';
    if (tab > comma && tab > semi)
        return '\t';
    return ',';
}

/* Keeps a trimmed copy of the current row as the header. */
static void keep_header(struct csvr *r)
{
    size_t i;

    r->header_text = xmalloc(r->rb.len ? r->rb.len : 1);
    memcpy(r->header_text, r->rb.text, r->rb.len);
    r->header.nfields = r->rb.n;
    r->header.fields = xcalloc(r->rb.n + 1, sizeof *r->header.fields);
    for (i = 0; i < r->rb.n; i++)
        r->header.fields[i] = str_trim(r->header_text + r->rb.off[i]);
    r->header.line = r->row_line;
}

static struct csvr *reader_new(const char *name)
{
    struct csvr *r = xcalloc(1, sizeof *r);

    r->name = xstrdup(name);
    r->fd = -1;
    r->line = 1;
    r->enc = CSVR_UTF8;
    buf_init(&r->conv, 3 * RAW_CAP + 16);
    csv_init(&r->p, CSV_STRICT | CSV_STRICT_FINI);
    csv_set_blk_size(&r->p, 4096);
    return r;
}

/* Common to both opens, once the first bytes are in r->raw: BOM,
 * separator, header row. */
static int start(struct csvr *r, struct err *e)
{
    const unsigned char *s = r->raw;
    int rc;

    if (r->raw_len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF) {
        r->raw_pos = 3;
        r->enc = CSVR_UTF8_BOM;
        r->utf8_seen = 1;
    } else if (r->raw_len >= 2 &&
               ((s[0] == 0xFF && s[1] == 0xFE) || (s[0] == 0xFE && s[1] == 0xFF))) {
        return failf(r, e, ERR_INPUT, "%s: UTF-16 text is not supported (save it as UTF-8)",
                     r->name);
    }
    r->sep = detect_sep(s + r->raw_pos, r->raw_len - r->raw_pos);
    csv_set_delim(&r->p, (unsigned char)r->sep);
    rc = read_row(r, e);
    if (rc == 0)
        return failf(r, e, ERR_INPUT, "%s: empty file, no header line", r->name);
    if (rc < 0)
        return rc;
    keep_header(r);
    return 0;
}

int csvr_open(const char *path, struct csvr **out, struct err *e)
{
    struct csvr *r = reader_new(path);
    int rc;

    *out = NULL;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        rc = err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    (void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    r->raw_cap = RAW_CAP;
    r->raw = xmalloc(r->raw_cap);
    rc = fill(r, e);
    if (!rc)
        rc = start(r, e);
out:
    if (rc)
        csvr_free(r);
    else
        *out = r;
    return rc;
}

int csvr_open_mem(const char *name, const char *data, size_t len, struct csvr **out, struct err *e)
{
    struct csvr *r = reader_new(name);
    int rc;

    *out = NULL;
    r->raw_cap = r->raw_len = len;
    r->raw = xmalloc(len ? len : 1);
    if (len)
        memcpy(r->raw, data, len);
    r->eof = 1;
    rc = start(r, e);
    if (rc)
        csvr_free(r);
    else
        *out = r;
    return rc;
}

const struct csvr_row *csvr_header(const struct csvr *r)
{
    return &r->header;
}

char csvr_separator(const struct csvr *r)
{
    return r->sep;
}

enum csvr_encoding csvr_encoding(const struct csvr *r)
{
    return r->enc;
}

const char *csvr_name(const struct csvr *r)
{
    return r->name;
}

/* A cell past the header's last column has no name: its value would be
 * lost (or land in the wrong column), so the row is refused.  Empty cells
 * there (a trailing separator) lose nothing and pass. */
static int check_width(struct csvr *r, struct err *e)
{
    size_t i;

    for (i = r->header.nfields; i < r->row.nfields; i++)
        if (r->row.fields[i][0])
            return failf(r, e, ERR_INPUT,
                         "%s:%ld: %zu cells but the header has %zu columns (a separator "
                         "inside a value that is not quoted?)",
                         r->name, r->row.line, r->row.nfields, r->header.nfields);
    return 1;
}

int csvr_next(struct csvr *r, const struct csvr_row **row, struct err *e)
{
    int rc = read_row(r, e);

    if (rc == 1)
        rc = check_width(r, e);
    *row = rc == 1 ? &r->row : NULL;
    return rc;
}

void csvr_free(struct csvr *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    csv_free(&r->p);
    buf_release(&r->conv);
    free(r->raw);
    free(r->rb.text);
    free(r->rb.off);
    free(r->rb.fields);
    free(r->header_text);
    free(r->header.fields);
    free(r->name);
    free(r);
}
