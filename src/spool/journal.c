/* Send journal: an append-only text file, one outcome per line. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/xalloc.h"

#define LINE_MAX_LEN 1000

struct journal {
    char *path;
    int fd;
};

int journal_open(const char *dir, struct journal **out, struct err *e)
{
    struct journal *j = xcalloc(1, sizeof *j);
    struct buf p;

    buf_init(&p, 0);
    buf_printf(&p, "%s/journal", dir);
    j->path = buf_take(&p);
    j->fd = open(j->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (j->fd < 0) {
        int rc = err_set(e, ERR_IO, "cannot open %s: %s", j->path, strerror(errno));
        journal_close(j);
        return rc;
    }
    *out = j;
    return 0;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    free(j->path);
    free(j);
}

int journal_append(struct journal *j, const char *line)
{
    char b[LINE_MAX_LEN + 2];
    size_t n = strlen(line);
    ssize_t w;

    if (n > LINE_MAX_LEN || memchr(line, '\n', n)) {
        errno = EINVAL;
        return -1;
    }
    memcpy(b, line, n);
    b[n++] = '\n';
    do
        w = write(j->fd, b, n);
    while (w < 0 && errno == EINTR);
    if (w == (ssize_t)n)
        return 0;
    if (w >= 0) /* a short write leaves a torn line: replay ignores it */
        errno = ENOSPC;
    return -1;
}

int journal_append_lines(struct journal *j, const char *lines, size_t n)
{
    const char *p, *nl;

    if (n && lines[n - 1] != '\n') {
        errno = EINVAL;
        return -1;
    }
    for (p = lines; p < lines + n; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(lines + n - p));
        if ((size_t)(nl - p) > LINE_MAX_LEN) {
            errno = EINVAL;
            return -1;
        }
    }
    while (n) { /* (a short write leaves a torn line at worst: replay ignores it) */
        ssize_t w = write(j->fd, lines, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (!w)
                errno = ENOSPC;
            return -1;
        }
        lines += w;
        n -= (size_t)w;
    }
    return 0;
}

int journal_replay(struct journal *j, int (*cb)(void *ctx, char *line), void *ctx,
                   struct err *e)
{
    int fd = open(j->path, O_RDONLY | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    char line[LINE_MAX_LEN + 2];
    int rc = 0;

    if (!f) {
        if (fd >= 0)
            close(fd);
        return err_set(e, ERR_IO, "cannot read %s: %s", j->path, strerror(errno));
    }
    while (!rc && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (!n || line[n - 1] != '\n')
            break; /* torn tail (or an impossible over-long line) */
        line[n - 1] = '\0';
        rc = cb(ctx, line);
    }
    if (!rc && ferror(f))
        rc = err_set(e, ERR_IO, "cannot read %s", j->path);
    fclose(f);
    return rc;
}

int journal_clear(struct journal *j, struct err *e)
{
    if (ftruncate(j->fd, 0))
        return err_set(e, ERR_IO, "cannot empty %s: %s", j->path, strerror(errno));
    return 0;
}
