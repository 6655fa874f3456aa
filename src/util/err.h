/* Error codes and the caller-owned error record every fallible function
 * fills.  Nothing allocates on the error path: the message lives in a fixed
 * buffer inside struct err.  Library code returns a negative ERR_* code;
 * only cli/ turns codes into messages on stderr and exit statuses. */
#ifndef POSTIER_ERR_H
#define POSTIER_ERR_H

#include <stdarg.h>

enum {
    ERR_OK = 0,
    ERR_INPUT = -1,    /* bad user input: file, line, field named in msg */
    ERR_NOTFOUND = -2, /* a referenced record does not exist */
    ERR_EXISTS = -3,   /* unique key already taken */
    ERR_INUSE = -4,    /* record referenced elsewhere, cannot be removed */
    ERR_IO = -5,       /* file system error */
    ERR_DB = -6,       /* database error */
    ERR_TOOBIG = -7,   /* a size limit was reached */
    ERR_TEMPFAIL = -8, /* temporary failure: retry later */
    ERR_PERMFAIL = -9, /* permanent failure: do not retry */
    ERR_CONFIG = -10,  /* configuration error */
    ERR_LOCKED = -11,  /* another process holds the lock */
    ERR_INTERNAL = -12,
};

#define ERR_MSG_MAX 512

struct err {
    int code;
    char msg[ERR_MSG_MAX];
};

/* Sets e->code and formats e->msg (truncated to ERR_MSG_MAX); e may be NULL.
 * Returns code, so callers can write `return err_set(e, ERR_INPUT, ...)`. */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like err_set but prefixes the existing message with a context string:
 * "ctx: old message".  Keeps e->code.  Returns e->code (or code if e NULL). */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends text to e->msg (truncated to ERR_MSG_MAX); keeps e->code. */
void err_append(struct err *e, const char *text);

/* Resets e to ERR_OK with an empty message; e may be NULL. */
void err_clear(struct err *e);

/* A short English name of an error code ("input", "not found", ...). */
const char *err_name(int code);

#endif
