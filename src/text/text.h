/* Unicode text services (the only utf8proc user): UTF-8 validation, case and
 * accent folding for search and matching, and Windows-1252 to UTF-8
 * conversion for imported files.  Knows nothing of contacts or CSV. */
#ifndef POSTIER_TEXT_H
#define POSTIER_TEXT_H

#include <stddef.h>

#include "util/buf.h"

/* Non-zero when the n bytes at s are well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
int text_utf8_valid(const char *s, size_t n);

/* Length of the leading run of ASCII bytes of the n bytes at s. */
size_t text_ascii_prefix(const char *s, size_t n);

/* Length of the longest well-formed UTF-8 prefix of the n bytes at s (n
 * when all are valid); ASCII runs are checked eight bytes at a time. */
size_t text_utf8_prefix(const char *s, size_t n);

/* Appends to out the folded form of the n bytes of UTF-8 at s: compatibility
 * decomposition, combining marks removed, case folded ("Élodie ŒUVRE" ->
 * "elodie oeuvre"; ligatures expand; ß -> ss).  Invalid UTF-8 bytes are
 * dropped.  Returns 0, or the buffer's sticky error. */
int text_fold_buf(struct buf *out, const char *s, size_t n);

/* Folded copy of the NUL-terminated s (caller frees); NULL for NULL. */
char *text_fold(const char *s);

/* Like text_fold_buf, then every run of characters that are not letters or
 * digits becomes one space, leading/trailing spaces dropped: "Dupont-Martin,
 * J." -> "dupont martin j".  For name matching that ignores punctuation. */
int text_fold_words_buf(struct buf *out, const char *s, size_t n);

/* Append the n bytes of UTF-8 at s upper- or lower-cased code point by
 * code point (simple case mapping: "élodie" <-> "ÉLODIE", no expansion).
 * Invalid bytes become U+FFFD.  Return 0, or the buffer's sticky error. */
int text_upper_buf(struct buf *out, const char *s, size_t n);
int text_lower_buf(struct buf *out, const char *s, size_t n);

/* Appends to out the UTF-8 form of n bytes of Windows-1252 text.  The five
 * undefined bytes (0x81 0x8D 0x8F 0x90 0x9D) map to U+FFFD. */
int text_cp1252_to_utf8(struct buf *out, const char *s, size_t n);

/* Appends s (NULL: nothing) with CR and LF shown as ^M and ^J, for a value
 * printed where a line break would forge another line (a dry-run line, an
 * error message).  Returns 0, or the buffer's sticky error. */
int text_one_line(struct buf *out, const char *s);

#endif
