/* Growable, capped, NUL-terminated byte buffer with a sticky error. */
#include "buf.h"

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "xalloc.h"

void buf_init(struct buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap ? cap : BUF_CAP_DEFAULT;
    b->err = 0;
}

void buf_release(struct buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
    b->err = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_truncate(struct buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

static int reserve(struct buf *b, size_t n)
{
    size_t need, a;

    if (b->err)
        return b->err;
    if (n > b->cap - b->len) {
        b->err = ERR_TOOBIG;
        return b->err;
    }
    need = b->len + n + 1;
    if (need <= b->alloc)
        return 0;
    a = b->alloc ? b->alloc : 64;
    while (a < need)
        a *= 2;
    b->data = xrealloc(b->data, a);
    b->alloc = a;
    return 0;
}

void buf_reserve(struct buf *b, size_t n)
{
    if (!b->err && b->len < b->cap)
        reserve(b, n < b->cap - b->len ? n : b->cap - b->len);
}

/* buf_add when the bytes do not fit in what is allocated (or b is in
 * error): grows b first. */
int buf_add_grow(struct buf *b, const void *p, size_t n)
{
    int rc;

    if ((rc = reserve(b, n)))
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    size_t room;
    int n, rc;

    if (b->err)
        return b->err;
    /* one pass when it fits in what is allocated (the common case) */
    room = b->alloc > b->len ? b->alloc - b->len : 0;
    va_copy(ap2, ap);
    n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        if (room)
            b->data[b->len] = '\0';
        return ERR_INTERNAL;
    }
    if ((size_t)n < room && (size_t)n <= b->cap - b->len) {
        b->len += (size_t)n;
        return 0;
    }
    if (room)
        b->data[b->len] = '\0'; /* undo the partial write */
    rc = reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *buf_str(const struct buf *b)
{
    return b->data ? b->data : "";
}

char *buf_take(struct buf *b)
{
    char *p = b->data ? b->data : xstrdup("");
    b->data = NULL;
    b->len = b->alloc = 0;
    b->err = 0;
    return p;
}
