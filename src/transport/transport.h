/* Transports behind one small vtable: a transport sends one spooled
 * message and answers with a reply code and text (recorded in history);
 * flush makes what was sent durable before the run records it as sent.
 * maildir.c today; smtp.c and sms.c (libcurl) come next. */
#ifndef POSTIER_TRANSPORT_H
#define POSTIER_TRANSPORT_H

#include <stddef.h>

#include "util/err.h"

struct transport_msg {
    const char *id;         /* spool name: stable per (document, recipient, channel) */
    const char *from, *to;  /* envelope */
    const char *data;       /* the complete message, CRLF line ends */
    size_t len;
};

struct transport_reply {
    int code;        /* 250-like: 2xx sent, 4xx retry later, 5xx failed */
    char text[256];  /* what the peer answered, for history */
};

struct transport {
    const char *name;
    /* Sends m.  Returns 0 with r filled (2xx/4xx/5xx), or a negative ERR_*
     * when the transport itself failed (ERR_TEMPFAIL: retry later). */
    int (*send)(struct transport *t, const struct transport_msg *m, struct transport_reply *r,
                struct err *e);
    /* Makes every message sent so far durable. */
    int (*flush)(struct transport *t, struct err *e);
    void (*free)(struct transport *t);
};

/* Maildir delivery into dir (tmp/ -> new/, created if missing).  The file
 * name derives from the message id, so a message delivered again after a
 * crash replaces itself instead of appearing twice. */
int transport_maildir_new(const char *dir, struct transport **out, struct err *e);

/* Frees t through its vtable; NULL-safe. */
void transport_free(struct transport *t);

#endif
