/* Files named by a relative path inside a folder, opened so that nothing
 * outside it can be reached: no absolute path, no ".." or empty
 * component, no symbolic link on the way (each component opened with
 * O_NOFOLLOW from the folder's descriptor), and only a regular file at
 * the end (a FIFO or a device is refused, never waited on).  Never prints. */
#ifndef POSTIER_PATH_H
#define POSTIER_PATH_H

#include "util/err.h"

/* Whether rel can ever name a file inside a folder: not empty, relative,
 * no empty or ".." component, no control character.  ERR_INPUT saying
 * why ("an absolute path", ...), else 0. */
int path_check_relative(const char *rel, struct err *e);

/* Opens rel (checked as above) inside the folder dir, read-only, and sets
 * *fd (the caller's, to close).  Errors: ERR_INPUT (the path), ERR_NOTFOUND
 * (a component, or dir itself, does not exist: the file may come later), ERR_IO (a
 * symbolic link, not a folder on the way, not a regular file at the end,
 * or another system error); messages name rel, not dir. */
int path_open_in(const char *dir, const char *rel, int *fd, struct err *e);

#endif
