/* Building RFC 5322 / MIME messages (the only libetpan user for
 * construction): UTF-8 text, RFC 2047 encoded-words for non-ASCII display
 * names and subjects, quoted-printable bodies, multipart/alternative when
 * there is HTML, multipart/mixed with attachments (RFC 2231 file names),
 * CRLF line endings and lines of at most 998 octets.  Never prints. */
#ifndef POSTIER_MIME_H
#define POSTIER_MIME_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* The largest attachment a message may carry: its base64 (4/3, plus line
 * breaks) with the text parts stays under the message size limit of a
 * buffer (BUF_CAP_DEFAULT, 64 MB). */
#define MIME_ATTACHMENT_MAX ((size_t)45 << 20)

struct mime_msg {
    const char *from_name, *from_addr; /* sender ([sender] name, email) */
    const char *to_name, *to_addr;     /* recipient display name + address */
    const char *subject;               /* UTF-8 */
    const char *text;                  /* text/plain body, UTF-8, LF or CRLF */
    const char *html;                  /* text/html alternative, or NULL */
    const char *message_id;            /* "<local@domain>" (stable, given) */
    const char *date;                  /* RFC 5322 date; NULL = now */
    int auto_submitted;                /* add "Auto-Submitted: auto-generated" */
    const char *list_unsubscribe;      /* marketing: URL/mailto for List-Unsubscribe
                                        * (+ List-Unsubscribe-Post, RFC 8058); NULL = none */
    const char *list_unsubscribe_mailto; /* a second List-Unsubscribe URI ("mailto:…"), or NULL */
    const char *const *attachments;    /* their names (a path: its last component is
                                        * shown), nattachments of them; never opened */
    const int *attachment_fds;         /* the open files read, one per name (the caller's:
                                        * opened safely, see util/path.h; not closed) */
    size_t nattachments;
    const char *const *extra_headers;  /* "Name: value" lines (ASCII), NULL-terminated, or NULL */
};

/* Appends the complete message to out.  Refuses (ERR_INPUT, naming the
 * field) CR, LF or NUL in any address, name, subject, message id or extra
 * header, and addresses that are not addr-spec.  An attachment that cannot
 * be read, or is not a regular file, is ERR_IO naming it.  Output uses CRLF only. */
int mime_build(const struct mime_msg *m, struct buf *out, struct err *e);

/* Appends m as a person reads it (campaign preview): From, To, Subject
 * and List-Unsubscribe in UTF-8, a blank line, the text (LF), then the
 * HTML part as text (tags dropped, entities decoded) after a line
 * "--- html part, as text ---".  Refuses what mime_build refuses in the
 * headers; never reads attachments. */
int mime_readable(const struct mime_msg *m, struct buf *out, struct err *e);

/* An RFC 5322 date for the current time ("Mon, 23 Nov 2026 14:05:00 +0100"). */
void mime_date_now(char *out, size_t n);

#endif
