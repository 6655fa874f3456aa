/* A NULL-terminated vector of owned strings, and splitting on a separator
 * with surrounding blanks trimmed and empty items dropped. */
#ifndef POSTIER_STRV_H
#define POSTIER_STRV_H

#include <stddef.h>

struct strv {
    char **v;   /* v[n] == NULL */
    size_t n;
    size_t alloc;
};

/* Embedded lifecycle; release frees every string; NULL-safe. */
void strv_init(struct strv *s);
void strv_release(struct strv *s);
/* Appends a copy of str (or takes ownership with strv_push_take). */
void strv_push(struct strv *s, const char *str);
void strv_push_take(struct strv *s, char *str);
/* Appends the items of str split on sep, each trimmed of spaces and tabs;
 * empty items are skipped.  Returns the number of items added. */
size_t strv_split(struct strv *s, const char *str, char sep);

/* Copies the first len bytes of s (NULL: none) to out + o, as many as fit
 * with a NUL after them in out's n bytes (o < n), and writes that NUL;
 * returns the new length.  snprintf "%.*s" without parsing a format (names
 * are made this way for every message), except that a cut for lack of room
 * backs off to a UTF-8 character boundary (str_utf8_cut). */
size_t str_put(char *out, size_t n, size_t o, const char *s, size_t len);
/* str_put of the whole string s (NULL: none). */
size_t str_puts(char *out, size_t n, size_t o, const char *s);

/* The length of s[0..n) without a UTF-8 sequence cut at its end: n backed
 * off over continuation bytes to the start of the last character when that
 * character needs more bytes than remain.  For length limits that must
 * not split a character. */
size_t str_utf8_cut(const char *s, size_t n);

/* Trims leading and trailing ASCII blanks (space, tab, CR, LF) in place;
 * returns s. */
char *str_trim(char *s);

/* Whether s ends with suffix. */
int str_ends_with(const char *s, const char *suffix);

#endif
