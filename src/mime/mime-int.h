/* Private to src/mime: what the message layout (mime.c) uses of the
 * encodings (encode.c), and the limits both files share.  The encoders
 * trust their input: mime.c checks it (CR/LF, UTF-8, lengths) first.
 * Not included outside src/mime/. */
#ifndef POSTIER_MIME_INT_H
#define POSTIER_MIME_INT_H

#include <stddef.h>

#include "mime/mime.h"
#include "util/buf.h"

#define LINE_SOFT 78      /* RFC 5322 §2.1.1: lines SHOULD be at most 78 characters */
#define LINE_HARD 998     /* RFC 5322 §2.1.1: lines MUST be at most 998 characters */
#define HDR_TEXT_MAX 4096 /* bytes of a display name or subject */

/* Whether c is atext (RFC 5322 §3.2.3), whatever the locale. */
int mime_is_atext(int c);

/* Whether s is valid UTF-8 (RFC 3629 §4: no overlongs, no surrogates,
 * nothing past U+10FFFF). */
int mime_is_utf8(const char *s);

/* The header form of a subject, as is or RFC 2047 encoded-words; s is
 * checked UTF-8 without CR/LF.  Malloc'd, the caller frees it. */
char *mime_header_text(const char *s);

/* The header form of a display name whose white space is already
 * normalised (single spaces, no ends), RFC 2047 encoded where needed.
 * Malloc'd, the caller frees it. */
char *mime_phrase_text(const char *s);

/* The value of a Content-Disposition: attachment with an RFC 2231
 * filename* parameter for the UTF-8 name, folded.  Malloc'd, the caller
 * (libetpan, through the fields it is given to) frees it. */
char *mime_disposition_2231(const char *name);

/* Appends the quoted-printable (RFC 2045 §6.7) of text, len octets and a
 * NUL, with CRLF line breaks, to b (whose cap and sticky error the caller
 * checks). */
void mime_qp_encode(struct buf *b, const char *text, size_t len);

#endif
