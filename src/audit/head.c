/* The head file (<spool>/history.head): the newest row's anchor line,
 * written under an flock on <head>.lock after every command that appended
 * history, never from a history that lost the head it holds. */
#include "audit/audit.h"
#include "audit/audit-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/file.h>

#include "util/date.h"

void audit_head_path(const char *spool, const char *db, const char *configured,
                     struct buf *out)
{
    struct stat a, b;
    int same = !strcmp(db, configured) ||
               (!stat(db, &a) && !stat(configured, &b) && a.st_dev == b.st_dev &&
                a.st_ino == b.st_ino);

    if (same)
        buf_printf(out, "%s/history.head", spool);
    else
        buf_printf(out, "%s.head", db);
}

int audit_head_parse(const char *line, struct head *h, struct err *e)
{
    int n = -1;
    size_t i;

    memset(h, 0, sizeof *h);
    if (sscanf(line, "postier-anchor 1 id=%lld count=%lld at=%20[0-9TZ:-] hash=%64[0-9a-f]%n",
               &h->id, &h->count, h->at, h->hash, &n) != 4 ||
        n < 0 || (line[n] && strcmp(line + n, "\n")) || h->id < 0 || h->count < 0 ||
        strlen(h->hash) != 64 || strlen(h->at) != STAMP_LEN)
        return err_set(e, ERR_INPUT,
                       "anchor '%.80s': not \"postier-anchor 1 id=N count=N"
                       " at=YYYY-MM-DDTHH:MM:SSZ hash=<64 hex>\"",
                       line);
    for (i = 0; line[i]; i++)
        if ((unsigned char)line[i] < ' ' && line[i] != '\n')
            return err_set(e, ERR_INPUT, "anchor: control character");
    return 0;
}

void audit_head_format(const struct head *h, char *out, size_t n)
{
    snprintf(out, n, "postier-anchor 1 id=%lld count=%lld at=%s hash=%s", h->id, h->count, h->at,
             h->hash);
}

/* The head file's line: 0, ERR_NOTFOUND (no file; e not set), or ERR_*. */
int audit_head_read(const struct audit_keys *k, struct head *h, struct err *e)
{
    char line[256];
    FILE *f = fopen(k->head_path, "re");
    int rc;

    if (!f)
        return errno == ENOENT ? ERR_NOTFOUND
                               : err_set(e, ERR_IO, "%s: %s", k->head_path, strerror(errno));
    rc = fgets(line, sizeof line, f) ? audit_head_parse(line, h, e)
                                     : err_set(e, ERR_INPUT, "%s: empty", k->head_path);
    fclose(f);
    if (rc)
        err_prefix(e, "%s", k->head_path);
    return rc;
}

static int head_hash(void *ctx, const struct store_history *h)
{
    snprintf(ctx, 65, "%s", h->hash ? h->hash : "");
    return 0;
}

/* The lock serialising head file updates between processes (flock on
 * <head>.lock, 0600); *fd = -1 when there is no head file. */
int audit_head_lock(const struct audit_keys *k, int *fd, struct err *e)
{
    char path[4200];

    *fd = -1;
    if (!k->head_path[0])
        return 0;
    snprintf(path, sizeof path, "%s.lock", k->head_path);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd < 0)
        return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    while (flock(*fd, LOCK_EX))
        if (errno != EINTR) {
            int rc = err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
            close(*fd);
            *fd = -1;
            return rc;
        }
    return 0;
}

void audit_head_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

/* Under the head lock: the newest committed row (or the head of an empty
 * chain) replaces the head file, through a temporary file of our own,
 * unless the head it holds is no longer in the history, or, for a keyed
 * chain, unless it is missing and may_create (the key's creation) is not
 * set (both stay for verify to report: ERR_PERMFAIL). */
int audit_head_write_locked(struct audit_keys *k, struct store *s, int may_create,
                             struct err *e)
{
    struct head h, old;
    long long purged;
    char line[256], tmp[4200], hash[65];
    int fd, rc;

    if (!k->head_path[0])
        return 0;
    if ((rc = store_history_head(s, &h.id, h.hash, h.at, &h.count, e)))
        return rc;
    if (!h.id) { /* empty: its head is the genesis */
        memcpy(h.hash, audit_zero_hash, sizeof h.hash);
        date_utc_stamp(h.at);
    }
    rc = audit_head_read(k, &old, e);
    if (!rc && old.id == h.id && !strcmp(old.hash, h.hash))
        return 0;
    if (rc && rc != ERR_NOTFOUND)
        return rc;
    /* a head made from the rows left would hide the newest rows' removal */
    if (rc == ERR_NOTFOUND && !may_create && k->have_key)
        return err_set(e, ERR_PERMFAIL,
                       "history head file %s missing: not recreated; run postier history verify",
                       k->head_path);
    /* the recorded head must still be there, unchanged */
    if (!rc && (rc = store_history_anchor(s, &purged, hash, e)))
        return rc;
    if (!rc && old.id > purged) {
        hash[0] = '\0';
        rc = store_history_get(s, old.id, head_hash, hash, e);
        if (rc && rc != ERR_NOTFOUND)
            return rc;
        if (strcmp(hash, old.hash))
            return err_set(e, ERR_PERMFAIL,
                           "%s not updated: its row %lld is no longer in the history"
                           " (run postier history verify)",
                           k->head_path, old.id);
    }
    audit_head_format(&h, line, sizeof line);
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", k->head_path);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return err_set(e, ERR_IO, "%s: %s", tmp, strerror(errno));
    rc = 0;
    if (fchmod(fd, 0600) || dprintf(fd, "%s\n", line) < 0 || fsync(fd))
        rc = err_set(e, ERR_IO, "%s: %s", tmp, strerror(errno));
    if (close(fd) && !rc)
        rc = err_set(e, ERR_IO, "%s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, k->head_path))
        rc = err_set(e, ERR_IO, "%s: %s", k->head_path, strerror(errno));
    if (rc)
        unlink(tmp);
    return rc;
}

/* After a command that appended rows: under the lock, so that concurrent
 * commands never write an older head over a newer one. */
int audit_head_update(struct store *s, struct err *e)
{
    struct audit_keys *k = store_attached(s);
    int rc, lock;

    if (!k || !k->head_path[0] || !k->appended)
        return 0;
    k->appended = 0;
    if ((rc = audit_head_lock(k, &lock, e)))
        return rc;
    rc = audit_head_write_locked(k, s, 0, e);
    audit_head_unlock(lock);
    return rc;
}

