/* The one growable text buffer (curl dynbuf style): always NUL-terminated,
 * a hard size cap per use, and a sticky error so a chain of appends needs a
 * single check at the end.  Embedded by value: buf_init / buf_release. */
#ifndef POSTIER_BUF_H
#define POSTIER_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct buf {
    char *data;   /* NULL until the first append; use buf_str() to read */
    size_t len;   /* bytes used, excluding the NUL */
    size_t alloc; /* bytes allocated */
    size_t cap;   /* hard limit on len; appending past it sets err */
    int err;      /* 0, or ERR_TOOBIG once the cap was hit (sticky) */
};

#define BUF_CAP_DEFAULT ((size_t)64 << 20)

/* Prepares an empty buffer that may grow to cap bytes (0: BUF_CAP_DEFAULT). */
void buf_init(struct buf *b, size_t cap);
/* Frees the bytes and leaves b empty but usable; NULL-safe. */
void buf_release(struct buf *b);
/* Empties b, keeping its allocation and clearing the sticky error. */
void buf_reset(struct buf *b);

/* Makes room for n more bytes at once (a hint: never past the cap, never
 * an error), so that a buffer whose size is known grows in one step. */
void buf_reserve(struct buf *b, size_t n);

/* Cuts the content back to its first len bytes (len <= b->len). */
void buf_truncate(struct buf *b, size_t len);

/* Appends; on overflow sets the sticky error and returns ERR_TOOBIG,
 * leaving the content as it was before the call.  Return 0 otherwise.
 * (Inline when the bytes fit in what is allocated, the usual case: texts
 * are built a few bytes at a time; buf_add_grow does the rest.) */
int buf_add_grow(struct buf *b, const void *p, size_t n);
static inline int buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->err || n >= b->alloc - b->len || n > b->cap - b->len)
        return buf_add_grow(b, p, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}
static inline int buf_adds(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}
static inline int buf_addc(struct buf *b, char c)
{
    if (b->err || b->len + 2 > b->alloc || b->len >= b->cap)
        return buf_add_grow(b, &c, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
    return 0;
}
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);

/* Borrowed, NUL-terminated view of the content ("" when empty); valid until
 * the next change to b. */
const char *buf_str(const struct buf *b);
/* Hands the bytes to the caller (free() them) and leaves b empty.
 * Never NULL: an empty buffer yields an allocated "". */
char *buf_take(struct buf *b);

#endif
