/* Maildir transport (the embedded default: no server needed).  Messages
 * are written to tmp/, made durable in batches (one syncfs per poll) and
 * renamed into new/ — the Maildir protocol — under a name derived from the
 * message's spool id, so redelivery after a crash is idempotent. */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define SYNC_BATCH 256

struct maildir {
    struct transport t;
    char *dir;
    int tmp_fd, new_fd;
    struct strv pending; /* written to tmp/ since the last poll */
    void **cookies;      /* theirs, in the same order */
    size_t ncookies, cookies_cap;
};

static int sub_dir(const char *dir, const char *sub, int *fd, struct err *e)
{
    struct buf p;
    int rc = 0;

    buf_init(&p, 0);
    buf_printf(&p, "%s/%s", dir, sub);
    if (mkdir(buf_str(&p), 0750) && errno != EEXIST)
        rc = err_set(e, ERR_IO, "cannot create %s: %s", buf_str(&p), strerror(errno));
    else if (fd && (*fd = open(buf_str(&p), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = err_set(e, ERR_IO, "cannot open %s: %s", buf_str(&p), strerror(errno));
    buf_release(&p);
    return rc;
}

/* Makes the messages written since the last poll durable (one syncfs),
 * moves them into new/ and reports them. */
static int md_poll(struct transport *t, int timeout_ms, transport_done_fn done, void *ctx,
                   struct err *e)
{
    struct maildir *m = (struct maildir *)t;
    struct transport_reply r = {.outcome = TRANSPORT_SENT, .code = 250};
    size_t i;
    int rc = 0;

    if (!m->pending.n || (!timeout_ms && m->pending.n < SYNC_BATCH))
        return 0; /* a quick look: keep them for one sync of many */
    if (syncfs(m->tmp_fd))
        rc = err_set(e, ERR_TEMPFAIL, "cannot sync %s: %s", m->dir, strerror(errno));
    for (i = 0; !rc && i < m->pending.n; i++)
        if (renameat(m->tmp_fd, m->pending.v[i], m->new_fd, m->pending.v[i]))
            rc = err_set(e, ERR_TEMPFAIL, "cannot deliver into %s/new: %s", m->dir,
                         strerror(errno));
    if (!rc && fsync(m->new_fd))
        rc = err_set(e, ERR_TEMPFAIL, "cannot sync %s/new: %s", m->dir, strerror(errno));
    if (rc) {
        r.outcome = TRANSPORT_DEFERRED;
        r.code = 0;
        r.reason = "io";
        snprintf(r.text, sizeof r.text, "%.250s", e->msg);
    }
    for (i = 0; i < m->pending.n; i++) {
        char id[256];
        snprintf(id, sizeof id, "%s", m->pending.v[i]);
        id[strcspn(id, ".")] = '\0';
        if (!rc)
            snprintf(r.text, sizeof r.text, "delivered to Maildir new/%.200s", m->pending.v[i]);
        if (t->record)
            t->record(t->record_ctx, id, m->cookies[i], &r);
        done(ctx, m->cookies[i], &r);
    }
    strv_release(&m->pending);
    m->ncookies = 0;
    return rc;
}

static int md_submit(struct transport *t, const struct transport_msg *msg, struct err *e)
{
    struct maildir *m = (struct maildir *)t;
    const char *p = msg->data;
    size_t n = msg->len;
    char name[256];
    int fd;

    snprintf(name, sizeof name, "%s.postier", msg->id);
    fd = openat(m->tmp_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return err_set(e, ERR_TEMPFAIL, "cannot write into %s/tmp: %s", m->dir, strerror(errno));
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int saved = errno;
            close(fd);
            unlinkat(m->tmp_fd, name, 0);
            return err_set(e, ERR_TEMPFAIL, "cannot write into %s/tmp: %s", m->dir,
                           strerror(saved));
        }
        p += w;
        n -= (size_t)w;
    }
    if (close(fd))
        return err_set(e, ERR_TEMPFAIL, "cannot write into %s/tmp: %s", m->dir, strerror(errno));
    strv_push(&m->pending, name);
    if (m->ncookies == m->cookies_cap) {
        m->cookies_cap = m->cookies_cap ? 2 * m->cookies_cap : 256;
        m->cookies = xrealloc(m->cookies, m->cookies_cap * sizeof *m->cookies);
    }
    m->cookies[m->ncookies++] = msg->cookie;
    return 0;
}

static void md_free(struct transport *t)
{
    struct maildir *m = (struct maildir *)t;

    if (m->tmp_fd >= 0)
        close(m->tmp_fd);
    if (m->new_fd >= 0)
        close(m->new_fd);
    strv_release(&m->pending);
    free(m->cookies);
    free(m->dir);
    free(m);
}

int transport_maildir_new(const char *dir, struct transport **out, struct err *e)
{
    struct maildir *m = xcalloc(1, sizeof *m);
    int rc;

    m->t.name = "maildir";
    m->t.slots = 1000;
    m->t.submit = md_submit;
    m->t.poll = md_poll;
    m->t.free = md_free;
    m->dir = xstrdup(dir);
    m->tmp_fd = m->new_fd = -1;
    strv_init(&m->pending);
    if (mkdir(dir, 0750) && errno != EEXIST)
        rc = err_set(e, ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    else if (!(rc = sub_dir(dir, "tmp", &m->tmp_fd, e)) && !(rc = sub_dir(dir, "new", &m->new_fd, e)))
        rc = sub_dir(dir, "cur", NULL, e);
    if (rc) {
        md_free(&m->t);
        return rc;
    }
    *out = &m->t;
    return 0;
}

void transport_free(struct transport *t)
{
    if (t)
        t->free(t);
}
