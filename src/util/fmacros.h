/* Force-included into every postier source (meson adds -include).
 * Declares the unsafe libc string functions deprecated so that -Werror
 * rejects any use of them: build text with struct buf instead. */
#ifndef POSTIER_FMACROS_H
#define POSTIER_FMACROS_H

#define _GNU_SOURCE 1

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POSTIER_BANNED(msg) __attribute__((deprecated(msg)))
#ifndef strcpy
POSTIER_BANNED("use buf_* or memcpy with a length") char *strcpy(char *, const char *);
#endif
#ifndef strcat
POSTIER_BANNED("use buf_*") char *strcat(char *, const char *);
#endif
#ifndef sprintf
POSTIER_BANNED("use snprintf or buf_printf") int sprintf(char *, const char *, ...);
#endif
#ifndef strtok
POSTIER_BANNED("not reentrant: use strtok_r or a parser") char *strtok(char *, const char *);
#endif
#ifndef atoi
POSTIER_BANNED("no error reporting: use strtol") int atoi(const char *);
#endif

#endif
