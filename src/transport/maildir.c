/* Maildir transport (the embedded default: no server needed).  Writer
 * threads take the messages handed over, write each in tmp/, make a
 * batch durable (one syncfs), moves them into new/ — the Maildir
 * protocol — and only then reports them, so file creation (the costly
 * part, in the kernel) runs beside the rendering.  Where the file system
 * allows it, a message is written as an unnamed O_TMPFILE in tmp/ and
 * linked into new/ once synced: no name is made in tmp/ only to be
 * removed again (a quarter of the kernel's work per file).  Elsewhere a
 * named tmp/ file is renamed into new/.  A message's file name derives
 * from its spool id: redelivery after a crash replaces it. */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define BATCH_MAX 2048 /* messages per syncfs (fewer syncs, fewer journal commits) */
#define FD_SPARE 64   /* descriptors left to the rest of the process */
/* Writers: while some wait for their sync, the others write (on a disk,
 * four deliver about 1.5 times as fast as two: most of a writer's time is
 * spent waiting for its syncfs). */
#define WRITERS 4

/* Descriptors that the unnamed files of every Maildir in the process may
 * hold at once, each claiming its writers' batches (e-mail and SMS may
 * both go to a Maildir). */
static atomic_long fds_claimed;

struct job {
    struct transport_msg m;
    char name[96]; /* "<id>.postier" */
    int fd;        /* the unnamed file, open until linked (O_TMPFILE mode) */
    struct transport_reply r;
    struct job *next;
};

struct list {
    struct job *head, **tail;
    size_t n;
};

struct maildir {
    struct transport t;
    char *dir;
    int tmp_fd, new_fd;
    int unnamed;      /* O_TMPFILE + linkat; else named tmp/ files + rename */
    size_t batch_max; /* messages per syncfs (unnamed: bounded by RLIMIT_NOFILE) */
    long fds;         /* descriptors its unnamed files may hold (fds_claimed) */
    pthread_t writer[WRITERS];
    int started, stop; /* started: writer threads running */
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    /* held by the writer that creates or links files (see write_some) */
    pthread_mutex_t dir_mu;
    struct list todo, finished;
    size_t inflight;
    /* jobs reported, for the next submits (both in the caller's thread):
     * thousands in flight come and go in bursts that malloc's caches
     * cannot hold */
    struct list spare;
};

static void list_init(struct list *l)
{
    l->head = NULL;
    l->tail = &l->head;
    l->n = 0;
}

static void list_push(struct list *l, struct job *j)
{
    j->next = NULL;
    *l->tail = j;
    l->tail = &j->next;
    l->n++;
}

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

/* Writes data whole to fd; 0 or errno. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : ENOSPC;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes one message in tmp/: unnamed (j->fd stays open until linked),
 * or as tmp/<name> (j->fd = -1); 0 or errno. */
static int write_tmp(struct maildir *m, struct job *j)
{
    int fd, rc;

    if (m->unnamed)
        fd = openat(m->tmp_fd, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC, 0640);
    else
        fd = openat(m->tmp_fd, j->name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return errno;
    if ((rc = write_all(fd, j->m.data, j->m.len)) == 0 && m->unnamed) {
        j->fd = fd;
        return 0;
    }
    if (close(fd) && !rc)
        rc = errno;
    if (rc && !m->unnamed)
        unlinkat(m->tmp_fd, j->name, 0);
    return rc;
}

/* Names the unnamed file fd dir/name: linkat(AT_EMPTY_PATH), which Linux
 * 6.10 on allows the process that made the file (before, only with
 * CAP_DAC_READ_SEARCH), saves a third of the link's cost (no /proc path
 * to walk); else through /proc.  0 or -1 with errno. */
static int name_file(int fd, int dir, const char *name)
{
    static atomic_int no_empty_path;
    char proc[48];

    if (!atomic_load_explicit(&no_empty_path, memory_order_relaxed)) {
        if (!linkat(fd, "", dir, name, AT_EMPTY_PATH))
            return 0;
        if (errno != ENOENT && errno != EPERM && errno != EINVAL)
            return -1;
        atomic_store_explicit(&no_empty_path, 1, memory_order_relaxed);
    }
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return linkat(AT_FDCWD, proc, dir, name, AT_SYMLINK_FOLLOW);
}

/* Gives an unnamed file its name in new/, replacing a file of that name
 * (a message delivered again after a crash) like rename would; 0 or errno. */
static int link_new(struct maildir *m, int fd, const char *name)
{
    if (!name_file(fd, m->new_fd, name))
        return 0;
    if (errno != EEXIST)
        return errno;
    /* named in tmp/ first, then renamed over the old one */
    if (unlinkat(m->tmp_fd, name, 0) && errno != ENOENT)
        return errno;
    if (name_file(fd, m->tmp_fd, name) || renameat(m->tmp_fd, name, m->new_fd, name))
        return errno;
    return 0;
}

/* Moves a synced message from tmp/ into new/; 0 or errno. */
static int publish(struct maildir *m, struct job *j)
{
    int rc;

    if (j->fd < 0) /* named in tmp/ */
        return renameat(m->tmp_fd, j->name, m->new_fd, j->name) ? errno : 0;
    rc = link_new(m, j->fd, j->name);
    close(j->fd); /* unlinked, the file is gone with it */
    j->fd = -1;
    return rc;
}

static void fail(struct job *j, const char *what, const char *dir, int err)
{
    j->r.outcome = TRANSPORT_DEFERRED;
    j->r.code = 0;
    j->r.reason = "io";
    snprintf(j->r.text, sizeof j->r.text, "cannot %s %.150s: %s", what, dir, strerror(err));
}

/* Writes the jobs from `from` on, until the process has no descriptor
 * left to hold one more unnamed file open; returns the first job not
 * written (NULL: all were).  One writer at a time creates (here) or links
 * (publish_some) files, the others wait asleep or sync: in the kernel the
 * writers would contend for the directory's lock and the file system's
 * orphan list, spinning as they wait: half as much system time again for
 * the same files (tests/bench/bench_files.c, 200,000 files by 4 writers
 * on a new ext4: 3.4-3.5 s of system time against 5.4-5.6 s, in the same
 * 5.7-6.0 s). */
static struct job *write_some(struct maildir *m, struct job *from)
{
    struct job *j;

    pthread_mutex_lock(&m->dir_mu);
    for (j = from; j; j = j->next) {
        int rc = write_tmp(m, j), waits = 0;
        if ((rc == EMFILE || rc == ENFILE) && j != from)
            break; /* after the sync below frees them */
        /* none held here: the other writer holds them for a moment */
        while ((rc == EMFILE || rc == ENFILE) && waits++ < 2000) {
            struct timespec ms = {0, 1000000};
            pthread_mutex_unlock(&m->dir_mu); /* (it links them to close them) */
            nanosleep(&ms, NULL);
            pthread_mutex_lock(&m->dir_mu);
            rc = write_tmp(m, j);
        }
        if (rc)
            fail(j, "write into the Maildir", m->dir, rc);
        else
            j->r.outcome = TRANSPORT_SENT;
    }
    pthread_mutex_unlock(&m->dir_mu);
    return j;
}

/* Syncs what [from, to) wrote, then moves it into new/. */
static void publish_some(struct maildir *m, struct job *from, struct job *to)
{
    struct job *j;
    int synced = 0, err = 0;

    if (syncfs(m->tmp_fd))
        err = errno;
    else
        synced = 1;
    pthread_mutex_lock(&m->dir_mu);
    for (j = from; j != to; j = j->next) {
        int rc;
        if (j->r.outcome != TRANSPORT_SENT)
            continue;
        if (!synced) {
            if (j->fd >= 0)
                close(j->fd), j->fd = -1;
            fail(j, "sync the Maildir", m->dir, err);
            continue;
        }
        if ((rc = publish(m, j))) {
            fail(j, "deliver into the Maildir", m->dir, rc);
            continue;
        }
        j->r.code = 250;
        str_puts(j->r.text, sizeof j->r.text,
                 str_puts(j->r.text, sizeof j->r.text, 0, "delivered to Maildir new/"), j->name);
    }
    pthread_mutex_unlock(&m->dir_mu);
}

/* One batch: written, synced once (or once per part that the process's
 * descriptors could hold), moved into new/, new/ synced, then journaled
 * and reported. */
static void deliver(struct maildir *m, struct job *batch)
{
    struct job *j, *from, *to;

    for (from = batch; from; from = to) {
        to = write_some(m, from);
        publish_some(m, from, to);
    }
    if (fsync(m->new_fd)) /* the renames themselves */
        for (j = batch; j; j = j->next)
            if (j->r.outcome == TRANSPORT_SENT)
                fail(j, "sync the Maildir", m->dir, errno);
    if (m->t.record) {
        for (j = batch; j; j = j->next)
            m->t.record(m->t.record_ctx, j->m.id, j->m.cookie, &j->r);
        if (m->t.record_flush) /* one journal write for the batch */
            m->t.record_flush(m->t.record_ctx);
    }
}

static void *writer_main(void *arg)
{
    struct maildir *m = arg;

    pthread_setname_np(pthread_self(), "postier-maildir");
    pthread_mutex_lock(&m->mu);
    for (;;) {
        struct job *batch, *j, **tail;
        size_t n = 0;

        while (!m->todo.head && !m->stop)
            pthread_cond_wait(&m->work, &m->mu);
        if (!m->todo.head && m->stop)
            break;
        batch = m->todo.head; /* up to BATCH_MAX, in order */
        for (tail = &batch; *tail && n < m->batch_max; tail = &(*tail)->next)
            n++;
        m->todo.head = *tail;
        if (!m->todo.head)
            m->todo.tail = &m->todo.head;
        m->todo.n -= n;
        *tail = NULL;
        pthread_mutex_unlock(&m->mu);

        deliver(m, batch);

        pthread_mutex_lock(&m->mu);
        while ((j = batch)) {
            batch = j->next;
            list_push(&m->finished, j);
        }
        pthread_cond_broadcast(&m->done);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static int md_submit(struct transport *t, const struct transport_msg *msg, struct err *e)
{
    struct maildir *m = (struct maildir *)t;
    struct job *j;

    if (strlen(msg->id) + sizeof ".postier" > sizeof j->name || strchr(msg->id, '/'))
        return err_set(e, ERR_INTERNAL, "maildir: bad message id '%.64s'", msg->id);
    if ((j = m->spare.head)) {
        m->spare.head = j->next;
        m->spare.n--;
        memset(j, 0, sizeof *j);
    } else {
        j = xcalloc(1, sizeof *j);
    }
    j->m = *msg;
    j->fd = -1;
    str_puts(j->name, sizeof j->name, str_puts(j->name, sizeof j->name, 0, msg->id), ".postier");
    pthread_mutex_lock(&m->mu);
    list_push(&m->todo, j);
    m->inflight++;
    pthread_cond_signal(&m->work);
    pthread_mutex_unlock(&m->mu);
    return 0;
}

static int md_poll(struct transport *t, int timeout_ms, transport_done_fn done, void *ctx,
                   struct err *e)
{
    struct maildir *m = (struct maildir *)t;
    struct timespec until;
    struct job *j;
    struct list got;

    (void)e;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&m->mu);
    while (m->inflight && !m->finished.head && timeout_ms > 0)
        if (pthread_cond_timedwait(&m->done, &m->mu, &until))
            break;
    got = m->finished;
    list_init(&m->finished);
    m->inflight -= got.n;
    pthread_mutex_unlock(&m->mu);
    while ((j = got.head)) {
        got.head = j->next;
        done(ctx, j->m.cookie, &j->r);
        if (m->spare.n < m->t.slots) {
            j->next = m->spare.head;
            m->spare.head = j;
            m->spare.n++;
        } else {
            free(j);
        }
    }
    return 0;
}

static void md_free(struct transport *t)
{
    struct maildir *m = (struct maildir *)t;
    struct job *j;

    if (m->started) {
        pthread_mutex_lock(&m->mu);
        m->stop = 1;
        pthread_cond_broadcast(&m->work);
        pthread_mutex_unlock(&m->mu);
        for (int i = 0; i < m->started; i++)
            pthread_join(m->writer[i], NULL); /* they finish what they were given */
    }
    while ((j = m->todo.head))
        m->todo.head = j->next, free(j);
    while ((j = m->finished.head))
        m->finished.head = j->next, free(j);
    while ((j = m->spare.head))
        m->spare.head = j->next, free(j);
    atomic_fetch_sub(&fds_claimed, m->fds);
    pthread_cond_destroy(&m->work);
    pthread_cond_destroy(&m->done);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->dir_mu);
    if (m->tmp_fd >= 0)
        close(m->tmp_fd);
    if (m->new_fd >= 0)
        close(m->new_fd);
    free(m->dir);
    free(m);
}

/* Whether this file system and /proc allow unnamed files linked later,
 * and how many of them may be open at once. */
static void choose_mode(struct maildir *m)
{
    long claimed = atomic_load(&fds_claimed);
    rlim_t want = (rlim_t)(FD_SPARE + claimed + WRITERS * BATCH_MAX);
    struct rlimit rl;
    char probe[64];
    int fd;

    m->batch_max = BATCH_MAX;
    if (getenv("POSTIER_MAILDIR_NAMED")) /* tests: the portable way */
        return;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return;
    if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
        /* each writer holds a batch of unnamed files open: the soft
         * limit (often 1024) is raised as far as the hard one allows */
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (getrlimit(RLIMIT_NOFILE, &rl))
            return;
    }
    if (rl.rlim_cur < (rlim_t)(FD_SPARE + claimed + 2 * WRITERS))
        return; /* too few left: named files, none held open */
    if ((fd = openat(m->tmp_fd, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC, 0640)) < 0)
        return;
    snprintf(probe, sizeof probe, ".probe-%ld", (long)getpid());
    unlinkat(m->tmp_fd, probe, 0);
    if (!name_file(fd, m->tmp_fd, probe)) {
        rlim_t avail = rl.rlim_cur - (rlim_t)(FD_SPARE + claimed);
        unlinkat(m->tmp_fd, probe, 0);
        m->unnamed = 1;
        if (avail / WRITERS < (rlim_t)m->batch_max)
            m->batch_max = (size_t)(avail / WRITERS);
        m->fds = (long)(m->batch_max * WRITERS);
        atomic_fetch_add(&fds_claimed, m->fds);
    }
    close(fd);
}

int transport_maildir_new(const char *dir, struct transport **out, struct err *e)
{
    struct maildir *m = xcalloc(1, sizeof *m);
    pthread_condattr_t ca;
    int rc;

    m->t.name = "maildir";
    m->t.slots = WRITERS * BATCH_MAX; /* every writer with a whole batch */
    m->t.submit = md_submit;
    m->t.poll = md_poll;
    m->t.free = md_free;
    m->dir = xstrdup(dir);
    m->tmp_fd = m->new_fd = -1;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->dir_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->done, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&m->work, NULL);
    list_init(&m->todo);
    list_init(&m->finished);
    list_init(&m->spare);
    if (mkdir(dir, 0750) && errno != EEXIST)
        rc = err_set(e, ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    else if (!(rc = sub_dir(dir, "tmp", &m->tmp_fd, e)) && !(rc = sub_dir(dir, "new", &m->new_fd, e)))
        rc = sub_dir(dir, "cur", NULL, e);
    if (!rc)
        choose_mode(m);
    while (!rc && m->started < WRITERS)
        if (pthread_create(&m->writer[m->started++], NULL, writer_main, m))
            rc = (m->started--, err_set(e, ERR_INTERNAL, "cannot start a Maildir writer thread"));
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
