/* Transports behind one small asynchronous vtable: the dispatcher submits
 * spooled messages (at most `slots` at a time) and polls for their
 * outcome; an outcome is reported only once the transport has made it
 * durable (the Maildir synced, the SMTP server's reply read), so the
 * dispatcher records exactly what happened.  maildir.c (the embedded
 * default: two writer threads), smtp.c (libcurl, a thread and a connection
 * per worker) and sms_http.c (libcurl multi). */
#ifndef POSTIER_TRANSPORT_H
#define POSTIER_TRANSPORT_H

#include <stddef.h>

#include "util/err.h"

struct transport_msg {
    const char *id;         /* spool name: stable per (document, recipient, channel) */
    const char *from, *to;  /* envelope */
    const char *data;       /* the complete message, CRLF line ends; must stay valid
                             * until its outcome is reported */
    size_t len;
    void *cookie;           /* the caller's, handed back with the outcome */
};

enum transport_outcome {
    TRANSPORT_SENT,      /* accepted (2xx) */
    TRANSPORT_DEFERRED,  /* 4xx, timeout, dropped connection: retry later */
    TRANSPORT_FAILED,    /* 5xx: never retried */
    TRANSPORT_UNTRIED,   /* not attempted (the transport failed first): still queued */
};

struct transport_reply {
    enum transport_outcome outcome;
    int code;             /* the peer's reply code (250, 451, 550…); 0 when none came */
    char text[256];       /* the peer's reply text, or what went wrong, for history */
    const char *reason;   /* deferred/failed reason code: "tempfail", "timeout",
                           * "connection", "ambiguous", "rejected"; NULL when sent */
    char provider_id[64]; /* the peer's id for the message (SMTP queue id), or "" */
};

typedef void (*transport_done_fn)(void *ctx, void *cookie, const struct transport_reply *r);

struct transport {
    const char *name;
    size_t slots; /* messages that may be in flight at once */
    /* Hands m over (fewer than `slots` in flight).  Returns 0, or an error
     * for m alone that poll will not report (ERR_TEMPFAIL). */
    int (*submit)(struct transport *t, const struct transport_msg *m, struct err *e);
    /* Waits up to timeout_ms for outcomes and reports each through done
     * (with nothing in flight, or timeout_ms = 0, it only collects what
     * is already done).  A non-zero return is a failure of the whole
     * transport (server unreachable: ERR_TEMPFAIL; authentication or
     * certificate refused: ERR_CONFIG): what was in flight is still
     * reported (deferred, or untried), and the run should stop. */
    int (*poll)(struct transport *t, int timeout_ms, transport_done_fn done, void *ctx,
                struct err *e);
    void (*free)(struct transport *t);
    /* (optional; NULL: nothing waits) Gives back every message handed
     * over but not yet started: the next poll reports them untried (the
     * run is stopping).  Those under way still end as they end. */
    void (*cancel)(struct transport *t);
    /* Set by the caller (optional): called with each outcome as soon as
     * it is known, from whatever thread learnt it, so it can be journaled
     * (spool/journal.h); record may keep the outcomes of a thread until
     * that thread calls record_flush, which it does before it reports
     * them or takes another message (a Maildir writer: once per batch). */
    void (*record)(void *ctx, const char *id, void *cookie, const struct transport_reply *r);
    void (*record_flush)(void *ctx); /* (optional) */
    void *record_ctx;
};

/* Maildir delivery into dir (tmp/ -> new/, created if missing).  The file
 * name derives from the message id, so a message delivered again after a
 * crash replaces itself instead of appearing twice. */
int transport_maildir_new(const char *dir, struct transport **out, struct err *e);

struct smtp_opts {
    const char *url;       /* smtp://host:port or smtps://host:port */
    const char *username, *password; /* AUTH when username is not empty */
    const char *starttls;  /* auto | always | never */
    const char *ca_file;   /* PEM CAs, or NULL/"" for the system's */
    long connections;      /* parallel connections (>= 1) */
    long timeout;          /* seconds per message, and per reply (>= 1) */
    long insecure;         /* 1: the server's certificate and name are not checked
                            * ([smtp] verify = no); 0, the default: they are */
    long allow_plaintext_auth; /* 1: the password may go over a connection
                                * without TLS (a relay on this host) */
};

/* SMTP delivery with libcurl: `connections` connections in parallel,
 * reused from message to message.  ERR_CONFIG for bad options, and for a
 * username with starttls = never on smtp:// unless allow_plaintext_auth;
 * with a username on smtp:// and starttls = auto, STARTTLS is required
 * (unless allow_plaintext_auth): a server that does not offer it is a
 * failure of the whole transport, before any AUTH. */
int transport_smtp_new(const struct smtp_opts *o, struct transport **out, struct err *e);

struct sms_opts {
    const char *kind;      /* kannel | json */
    const char *url;       /* http(s)://… of sendsms or of the JSON endpoint */
    const char *username, *password; /* kannel */
    const char *token;     /* json: Authorization: Bearer */
    const char *dlr_url;   /* kannel delivery reports, when dlr_mask > 0 */
    long dlr_mask, connections, timeout;
    const char *ca_file;   /* PEM CAs, or NULL for the system's */
    long allow_plaintext_auth; /* 1: the password (kannel), the token (json) or
                                * the URL's user:password may go over http:// */
};

/* SMS through an HTTP gateway (libcurl multi).  A message's data is its
 * UTF-8 text, m.from the sender, m.to the E.164 number.  ERR_CONFIG for
 * bad options, and for credentials over http:// unless
 * allow_plaintext_auth.  https:// certificates are always verified.  The
 * credentials never appear in an error or in a reply's text. */
int transport_sms_new(const struct sms_opts *o, struct transport **out, struct err *e);

/* Frees t through its vtable; NULL-safe. */
void transport_free(struct transport *t);

#endif
