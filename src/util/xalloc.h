/* Allocation that aborts on out-of-memory, so callers never test for NULL.
 * A size limit is not OOM: enforce limits with ERR_TOOBIG before allocating. */
#ifndef POSTIER_XALLOC_H
#define POSTIER_XALLOC_H

#include <stddef.h>

/* malloc/calloc/realloc that abort with a message on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* strdup/strndup that abort on failure; xstrdup(NULL) returns NULL. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
