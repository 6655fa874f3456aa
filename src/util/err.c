/* The error record: formatting into a fixed buffer, never allocating. */
#include "err.h"

#include <stdio.h>
#include <string.h>

#include "strv.h"

int err_set(struct err *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (!e)
        return code;
    e->code = code;
    va_start(ap, fmt);
    if (vsnprintf(e->msg, sizeof e->msg, fmt, ap) >= (int)sizeof e->msg)
        e->msg[str_utf8_cut(e->msg, sizeof e->msg - 1)] = '\0'; /* whole characters */
    va_end(ap);
    return code;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
    char ctx[ERR_MSG_MAX], old[ERR_MSG_MAX];
    size_t n, rest;
    va_list ap;

    if (!e)
        return ERR_INTERNAL;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    n = strlen(ctx);
    if (n > sizeof e->msg - 3)
        n = str_utf8_cut(ctx, sizeof e->msg - 3);
    memcpy(e->msg, ctx, n);
    memcpy(e->msg + n, ": ", 2);
    n += 2;
    rest = strlen(old);
    if (rest > sizeof e->msg - 1 - n)
        rest = str_utf8_cut(old, sizeof e->msg - 1 - n);
    memcpy(e->msg + n, old, rest);
    e->msg[n + rest] = '\0';
    return e->code;
}

void err_append(struct err *e, const char *text)
{
    size_t n, add;

    if (!e)
        return;
    n = strlen(e->msg);
    add = strlen(text);
    if (add > sizeof e->msg - 1 - n)
        add = str_utf8_cut(text, sizeof e->msg - 1 - n);
    memcpy(e->msg + n, text, add);
    e->msg[n + add] = '\0';
}

void err_clear(struct err *e)
{
    if (!e)
        return;
    e->code = ERR_OK;
    e->msg[0] = '\0';
}

const char *err_name(int code)
{
    switch (code) {
    case ERR_OK: return "ok";
    case ERR_INPUT: return "input";
    case ERR_NOTFOUND: return "not found";
    case ERR_EXISTS: return "already exists";
    case ERR_INUSE: return "in use";
    case ERR_IO: return "i/o";
    case ERR_DB: return "database";
    case ERR_TOOBIG: return "too big";
    case ERR_TEMPFAIL: return "temporary failure";
    case ERR_PERMFAIL: return "permanent failure";
    case ERR_CONFIG: return "config";
    case ERR_LOCKED: return "locked";
    default: return "internal";
    }
}
