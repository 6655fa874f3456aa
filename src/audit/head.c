/* The head file (<spool>/history.head): the newest row's anchor line,
 * written under an flock on <head>.lock after every command that appended
 * history, never from a history that lost the head it holds. */
#include "audit/audit.h"
#include "audit/audit-int.h"

#include <ctype.h>
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

int audit_head_in_spool(const struct audit_keys *k)
{
    size_t n = strlen(k->head_path), t = strlen("/history.head");

    return n >= t && !strcmp(k->head_path + n - t, "/history.head");
}

/* One "name=value" field of an anchor line: the text after "name=". */
static const char *field(char **p, const char *name)
{
    size_t n = strlen(name);
    char *f = *p, *sp;

    if (strncmp(f, name, n) || f[n] != '=')
        return NULL;
    sp = strchr(f, ' ');
    if (sp)
        *sp++ = '\0';
    *p = sp ? sp : f + strlen(f);
    return f + n + 1;
}

static int number(const char *v, long long *out)
{
    char *end;

    if (!v || !isdigit((unsigned char)*v))
        return -1;
    errno = 0;
    *out = strtoll(v, &end, 10);
    return errno || *end ? -1 : 0;
}

static int hex64(const char *v, char *out)
{
    if (!v || strlen(v) != 64 || strspn(v, "0123456789abcdef") != 64)
        return -1;
    memcpy(out, v, 65);
    return 0;
}

/* What is wrong with the anchor line in buf (cut into fields), NULL: none. */
static const char *parse_fields(char *buf, struct head *h)
{
    const char *v;
    char *p = buf;

    if (strncmp(p, "postier-anchor 1 ", 17))
        return "does not start with \"postier-anchor 1 \"";
    p += 17;
    if (number(field(&p, "id"), &h->id))
        return "id= is not a whole number (or is too large)";
    if (number(field(&p, "count"), &h->count))
        return "count= is not a whole number (or is too large)";
    v = field(&p, "at");
    if (!v || strlen(v) != STAMP_LEN || strspn(v, "0123456789TZ:-") != STAMP_LEN)
        return "at= is not YYYY-MM-DDTHH:MM:SSZ";
    memcpy(h->at, v, STAMP_LEN + 1);
    if (hex64(field(&p, "hash"), h->hash))
        return "hash= is not 64 lowercase hexadecimal digits";
    if (*p && hex64(field(&p, "mac"), h->mac))
        return "unexpected text after hash=";
    if (*p)
        return "unexpected text after mac=";
    return NULL;
}

int audit_head_parse(const char *line, struct head *h, struct err *e)
{
    char buf[256];
    const char *why = NULL;
    size_t len, i;

    memset(h, 0, sizeof *h);
    while (isspace((unsigned char)*line))
        line++;
    len = strlen(line);
    while (len && isspace((unsigned char)line[len - 1]))
        len--;
    for (i = 0; i < len && !why; i++)
        if ((unsigned char)line[i] < ' ')
            why = "control character";
    if (!why && len >= sizeof buf)
        why = "too long";
    if (why)
        return err_set(e, ERR_INPUT, "anchor line: %s", why);
    memcpy(buf, line, len);
    buf[len] = '\0';
    if ((why = parse_fields(buf, h))) {
        memset(h, 0, sizeof *h);
        return err_set(e, ERR_INPUT,
                       "anchor line: %s (expected \"postier-anchor 1 id=N count=N"
                       " at=YYYY-MM-DDTHH:MM:SSZ hash=<64 hex>\"): '%.*s'",
                       why, (int)len, line);
    }
    return 0;
}

void audit_head_format(const struct head *h, char *out, size_t n)
{
    snprintf(out, n, "postier-anchor 1 id=%lld count=%lld at=%s hash=%s", h->id, h->count, h->at,
             h->hash);
}

void audit_head_mac(const uint8_t *key, const struct head *h, char *out)
{
    char line[256];
    struct buf b;

    audit_head_format(h, line, sizeof line);
    buf_init(&b, 0);
    buf_adds(&b, line);
    audit_hmac_hex(key, &b, out);
    buf_release(&b);
}

/* The head file's line: 0, ERR_NOTFOUND (no file; e not set), or
 * ERR_PERMFAIL naming the file. */
int audit_head_read(const struct audit_keys *k, struct head *h, struct err *e)
{
    char line[300], want[65];
    FILE *f = fopen(k->head_path, "re");
    int rc = 0;

    memset(h, 0, sizeof *h);
    if (!f && errno == ENOENT)
        return ERR_NOTFOUND;
    if (!f || !fgets(line, sizeof line, f))
        rc = err_set(e, ERR_PERMFAIL, "%s", f && !ferror(f) ? "empty" : strerror(errno));
    else if (!strchr(line, '\n') && !feof(f))
        rc = err_set(e, ERR_PERMFAIL, "anchor line: too long");
    else if (audit_head_parse(line, h, e))
        rc = ERR_PERMFAIL;
    else if (k->have_key && !h->mac[0])
        rc = err_set(e, ERR_PERMFAIL,
                     "carries no MAC (forged, or written by an older postier: the next"
                     " command that writes history adds it)");
    else if (k->have_key && (audit_head_mac(k->key, h, want), strcmp(want, h->mac)))
        rc = err_set(e, ERR_PERMFAIL,
                     "its MAC does not verify: the head was forged, or the key file replaced");
    if (f)
        fclose(f);
    if (rc) {
        e->code = ERR_PERMFAIL;
        err_prefix(e, "history head file %s", k->head_path);
    }
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
    char line[256], tmp[4200], hash[65], mac[65] = "";
    int fd, rc, legacy;

    if (!k->head_path[0])
        return 0;
    if ((rc = store_history_head(s, &h.id, h.hash, h.at, &h.count, e)))
        return rc;
    if (!h.id) { /* empty: its head is the genesis */
        memcpy(h.hash, audit_zero_hash, sizeof h.hash);
        date_utc_stamp(h.at);
    }
    rc = audit_head_read(k, &old, e);
    /* a head without a MAC (an older postier's) is trusted as before: its
     * row must still be there, then it gets its MAC */
    legacy = rc == ERR_PERMFAIL && old.hash[0] && !old.mac[0];
    if (legacy)
        rc = 0;
    if (!rc && !legacy && old.id == h.id && !strcmp(old.hash, h.hash))
        return 0;
    if (rc && rc != ERR_NOTFOUND) {
        err_append(e, " (not updated: run postier history verify)");
        return rc;
    }
    /* a head made from the rows left would hide the newest rows' removal */
    if (rc == ERR_NOTFOUND && !may_create && k->have_key)
        return err_set(e, ERR_PERMFAIL,
                       "history head file %s missing: not recreated; run postier history verify",
                       k->head_path);
    /* the recorded head must still be there, unchanged */
    if (!rc && (rc = store_history_anchor(s, &purged, hash, e)))
        return rc;
    if (!rc && legacy && old.id <= purged)
        return err_set(e, ERR_PERMFAIL,
                       "history head file %s carries no MAC and names no row of the history"
                       " (not updated: run postier history verify)",
                       k->head_path);
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
    if (k->have_key)
        audit_head_mac(k->key, &h, mac);
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", k->head_path);
    fd = mkostemp(tmp, O_CLOEXEC);
    rc = fd < 0;
    if (!rc && (fchmod(fd, 0600) || dprintf(fd, "%s%s%s\n", line, mac[0] ? " mac=" : "", mac) < 0 ||
                fsync(fd)))
        rc = 1;
    if (fd >= 0 && close(fd))
        rc = 1;
    if (!rc && rename(tmp, k->head_path))
        rc = 1;
    if (!rc)
        return 0;
    /* the rows are committed: a full disk is temporary, the next command
     * that writes history writes the head */
    rc = errno == ENOSPC || errno == EDQUOT ? ERR_TEMPFAIL : ERR_IO;
    err_set(e, rc, "history head file %s not written: %s", k->head_path, strerror(errno));
    if (fd >= 0)
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

