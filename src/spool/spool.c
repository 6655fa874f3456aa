/* Spool files and the run lock.  Durability is batched: files of a batch
 * are written to tmp/, one syncfs() makes them all durable, then each is
 * renamed into queue/ and the folder is synced — the guarantee of "write,
 * fsync, rename" per file at the cost of one sync per batch. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/strv.h"
#include "util/xalloc.h"

struct spool {
    char *dir;
    int lock_fd, tmp_fd, queue_fd;
    struct strv pending; /* names written to tmp/ since the last commit */
};

static int io_err(struct err *e, const char *what, const char *path)
{
    return err_set(e, errno == ENOSPC ? ERR_IO : ERR_IO, "%s %s: %s", what, path,
                   strerror(errno));
}

static int open_dir(const char *dir, const char *sub, int *fd, struct err *e)
{
    struct buf p;
    int rc = 0;

    buf_init(&p, 0);
    buf_printf(&p, "%s/%s", dir, sub);
    if (mkdir(buf_str(&p), 0750) && errno != EEXIST)
        rc = io_err(e, "cannot create", buf_str(&p));
    else if ((*fd = open(buf_str(&p), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = io_err(e, "cannot open", buf_str(&p));
    buf_release(&p);
    return rc;
}

static void clear_tmp(struct spool *sp)
{
    DIR *d = fdopendir(dup(sp->tmp_fd));
    struct dirent *de;

    if (!d)
        return;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            unlinkat(sp->tmp_fd, de->d_name, 0);
    closedir(d);
}

int spool_open(const char *dir, struct spool **out, struct err *e)
{
    struct spool *sp = xcalloc(1, sizeof *sp);
    struct buf p;
    int rc = 0;

    sp->dir = xstrdup(dir);
    sp->lock_fd = sp->tmp_fd = sp->queue_fd = -1;
    strv_init(&sp->pending);
    buf_init(&p, 0);
    buf_printf(&p, "%s/lock", dir);
    if (mkdir(dir, 0750) && errno != EEXIST)
        rc = io_err(e, "cannot create", dir);
    else if ((sp->lock_fd = open(buf_str(&p), O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0)
        rc = io_err(e, "cannot open", buf_str(&p));
    else if (flock(sp->lock_fd, LOCK_EX | LOCK_NB))
        rc = err_set(e, ERR_LOCKED, "another postier run holds %s", buf_str(&p));
    buf_release(&p);
    if (!rc)
        rc = open_dir(dir, "tmp", &sp->tmp_fd, e);
    if (!rc)
        rc = open_dir(dir, "queue", &sp->queue_fd, e);
    if (rc) {
        spool_close(sp);
        return rc;
    }
    clear_tmp(sp);
    *out = sp;
    return 0;
}

void spool_close(struct spool *sp)
{
    if (!sp)
        return;
    if (sp->tmp_fd >= 0)
        close(sp->tmp_fd);
    if (sp->queue_fd >= 0)
        close(sp->queue_fd);
    if (sp->lock_fd >= 0)
        close(sp->lock_fd); /* releases the flock */
    strv_release(&sp->pending);
    free(sp->dir);
    free(sp);
}

/* Writes all of data to fd, retrying short writes. */
static int write_all(int fd, const char *data, size_t n)
{
    while (n) {
        ssize_t w = write(fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

int spool_write(struct spool *sp, const char *name, const void *data, size_t n, struct err *e)
{
    int fd = openat(sp->tmp_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    int rc = 0;

    if (fd < 0)
        return io_err(e, "cannot create spool file", name);
    if (write_all(fd, data, n))
        rc = io_err(e, "cannot write spool file", name);
    if (close(fd) && !rc)
        rc = io_err(e, "cannot write spool file", name);
    if (rc)
        unlinkat(sp->tmp_fd, name, 0);
    else
        strv_push(&sp->pending, name);
    return rc;
}

int spool_commit(struct spool *sp, struct err *e)
{
    size_t i;
    int rc = 0;

    if (!sp->pending.n)
        return 0;
    if (syncfs(sp->tmp_fd))
        rc = io_err(e, "cannot sync", sp->dir);
    for (i = 0; !rc && i < sp->pending.n; i++)
        if (renameat(sp->tmp_fd, sp->pending.v[i], sp->queue_fd, sp->pending.v[i]))
            rc = io_err(e, "cannot queue spool file", sp->pending.v[i]);
    if (!rc && fsync(sp->queue_fd))
        rc = io_err(e, "cannot sync", sp->dir);
    strv_release(&sp->pending);
    return rc;
}

int spool_read(struct spool *sp, const char *name, struct buf *out, struct err *e)
{
    int fd = openat(sp->queue_fd, name, O_RDONLY | O_CLOEXEC);
    char chunk[65536];
    ssize_t n;

    if (fd < 0)
        return errno == ENOENT ? err_set(e, ERR_NOTFOUND, "spool file %s is missing", name)
                               : io_err(e, "cannot read spool file", name);
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        if (buf_add(out, chunk, (size_t)n))
            break;
    close(fd);
    if (n < 0)
        return io_err(e, "cannot read spool file", name);
    return out->err ? err_set(e, ERR_TOOBIG, "spool file %s is too large", name) : 0;
}

int spool_remove(struct spool *sp, const char *name, struct err *e)
{
    if (unlinkat(sp->queue_fd, name, 0) && errno != ENOENT)
        return io_err(e, "cannot remove spool file", name);
    return 0;
}

int spool_list(struct spool *sp, int (*cb)(void *ctx, const char *name), void *ctx,
               struct err *e)
{
    DIR *d = fdopendir(dup(sp->queue_fd));
    struct dirent *de;
    int rc = 0;

    if (!d)
        return io_err(e, "cannot list", sp->dir);
    rewinddir(d);
    while (!rc && (de = readdir(d)))
        if (de->d_name[0] != '.')
            rc = cb(ctx, de->d_name);
    closedir(d);
    return rc;
}
