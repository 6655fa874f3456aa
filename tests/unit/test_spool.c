/* Unit tests of spool/ and transport/maildir: batches become durable
 * segments in queue/, messages are read back by name, a segment goes when
 * its last message is removed, a reopened spool finds what was queued, tmp/
 * leftovers are dropped, the lock is exclusive; Maildir delivery goes
 * tmp/ -> new/ under a stable name; the send journal keeps whole lines
 * (from several threads at once), ignores a torn tail, and empties. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sys/resource.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>
#include <pthread.h>

#include "spool/journal.h"
#include "spool/spool.h"
#include "transport/transport.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/postier-spool-test-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int count_files(const char *sub)
{
    char p[128];
    struct dirent *de;
    DIR *d;
    int n = 0;

    snprintf(p, sizeof p, "%s/%s", dir, sub);
    if (!(d = opendir(p)))
        return -1;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static int count_cb(void *ctx, const char *name, long long tag)
{
    (void)name, (void)tag;
    (*(int *)ctx)++;
    return 0;
}

/* Reads name back; in_memory: whether it must come from a segment kept
 * in memory (1), from its file (0), or either (-1). */
static void read_back_from(struct spool *sp, const char *name, const char *want, int in_memory)
{
    struct buf b;
    struct err e;
    int mem = -1;

    buf_init(&b, 0);
    assert_int_equal(spool_read(sp, name, &b, &mem, &e), 0);
    assert_string_equal(buf_str(&b), want);
    if (in_memory >= 0)
        assert_int_equal(mem, in_memory);
    buf_release(&b);
}

static void read_back(struct spool *sp, const char *name, const char *want)
{
    read_back_from(sp, name, want, -1);
}

static void batches_segments_and_reopen(void **state)
{
    char sdir[128];
    struct spool *sp, *other;
    struct buf b;
    struct err e;
    int n = 0;

    (void)state;
    snprintf(sdir, sizeof sdir, "%s/spool", dir);
    assert_int_equal(spool_open(sdir, &sp, &e), 0);
    assert_int_equal(spool_open(sdir, &other, &e), ERR_LOCKED); /* one run at a time */
    assert_int_equal(spool_write(sp, "a1", 0, "first\r\nmessage\r\n", 16, &e), 0);
    assert_int_equal(spool_write(sp, "b2", 0, "", 0, &e), 0);
    assert_int_equal(spool_write(sp, "bad name", 0, "x", 1, &e), ERR_INTERNAL);
    buf_init(&b, 0);
    assert_int_equal(spool_read(sp, "a1", &b, NULL, &e), ERR_NOTFOUND); /* not committed yet */
    assert_int_equal(count_files("spool/queue"), 0);
    assert_int_equal(spool_commit(sp, &e), 0);
    assert_int_equal(count_files("spool/queue"), 1);
    assert_int_equal(count_files("spool/tmp"), 0);
    assert_int_equal(spool_write(sp, "c3", 0, "third", 5, &e), 0);
    assert_int_equal(spool_commit(sp, &e), 0);
    assert_int_equal(count_files("spool/queue"), 2);
    read_back_from(sp, "a1", "first\r\nmessage\r\n", 1); /* the buffer written */
    read_back(sp, "b2", "");
    read_back(sp, "c3", "third");
    assert_int_equal(spool_remove(sp, "a1", &e), 0);
    assert_int_equal(count_files("spool/queue"), 2); /* b2 still in the first segment */
    spool_close(sp);

    /* a crashed run's tmp file is dropped, committed segments are found again */
    {
        char p[160];
        FILE *f;
        snprintf(p, sizeof p, "%s/tmp/leftover", sdir);
        f = fopen(p, "w");
        fputs("partial", f);
        fclose(f);
    }
    assert_int_equal(spool_open(sdir, &sp, &e), 0);
    assert_int_equal(count_files("spool/tmp"), 0);
    assert_int_equal(spool_list(sp, count_cb, &n, &e), 0);
    assert_int_equal(n, 3); /* a1, b2, c3: removal is recorded by the caller's db */
    read_back_from(sp, "c3", "third", 0); /* found again: read from its file */
    assert_int_equal(spool_remove(sp, "a1", &e), 0);
    assert_int_equal(spool_remove(sp, "b2", &e), 0);
    assert_int_equal(count_files("spool/queue"), 1);
    assert_int_equal(spool_remove(sp, "c3", &e), 0);
    assert_int_equal(spool_remove(sp, "c3", &e), 0); /* twice is fine */
    assert_int_equal(count_files("spool/queue"), 0);
    buf_release(&b);
    spool_close(sp);
}

struct tags {
    long long again, m2999_3;
};

static int tags_cb(void *ctx, const char *name, long long tag)
{
    struct tags *t = ctx;

    if (!strcmp(name, "m2995-0"))
        t->again = tag;
    if (!strcmp(name, "m2999-3"))
        t->m2999_3 = tag;
    return 0;
}

/* Thousands of segments written, read and emptied as a run does: each
 * segment file goes with its last message, a message written again lives
 * in its later segment only, and what the index holds follows the queue
 * (segments read back from their files after a reopen read the same). */
static void many_segments_and_rewrites(void **state)
{
    char sdir[128], name[40], want[64];
    struct spool *sp;
    struct err e;
    int i, k, n = 0;

    (void)state;
    snprintf(sdir, sizeof sdir, "%s/spool3", dir);
    assert_int_equal(spool_open(sdir, &sp, &e), 0);
    for (i = 0; i < 3000; i++) { /* 3000 segments of 4: about 12000 live at most */
        for (k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "m%d-%d", i, k);
            snprintf(want, sizeof want, "body %d %d\r\n", i, k);
            assert_int_equal(spool_write(sp, name, i * 4 + k + 1, want, strlen(want), &e), 0);
        }
        assert_int_equal(spool_commit(sp, &e), 0);
        if (i >= 10) { /* the dispatcher, ten segments behind */
            for (k = 0; k < 4; k++) {
                snprintf(name, sizeof name, "m%d-%d", i - 10, k);
                snprintf(want, sizeof want, "body %d %d\r\n", i - 10, k);
                read_back(sp, name, want);
                assert_int_equal(spool_remove(sp, name, &e), 0);
            }
        }
    }
    assert_int_equal(count_files("spool3/queue"), 10);
    /* m2995-0 written again in a segment of its own; its old segment keeps 3 */
    assert_int_equal(spool_write(sp, "m2995-0", 77, "again", 5, &e), 0);
    assert_int_equal(spool_commit(sp, &e), 0);
    assert_int_equal(count_files("spool3/queue"), 11);
    read_back(sp, "m2995-0", "again");
    for (k = 1; k < 4; k++) {
        snprintf(name, sizeof name, "m2995-%d", k);
        assert_int_equal(spool_remove(sp, name, &e), 0);
    }
    assert_int_equal(count_files("spool3/queue"), 10); /* the old segment went */
    spool_close(sp);

    assert_int_equal(spool_open(sdir, &sp, &e), 0); /* read from the files now */
    assert_int_equal(spool_list(sp, count_cb, &n, &e), 0);
    assert_int_equal(n, 9 * 4 + 1);
    read_back(sp, "m2995-0", "again");
    read_back(sp, "m2999-3", "body 2999 3\r\n");
    read_back(sp, "m2990-2", "body 2990 2\r\n");
    {
        struct tags t = {0};
        assert_int_equal(spool_list(sp, tags_cb, &t, &e), 0);
        assert_int_equal(t.again, 77);      /* the later record's tag */
        assert_int_equal(t.m2999_3, 11999 + 1); /* i * 4 + k + 1 */
    }
    spool_close(sp);
}

/* The same name twice in one batch: the later record is the message. */
static void rewrite_in_one_segment(void **state)
{
    char sdir[128];
    struct spool *sp;
    struct tags t = {0};
    struct err e;
    int n = 0;

    (void)state;
    snprintf(sdir, sizeof sdir, "%s/spool4", dir);
    assert_int_equal(spool_open(sdir, &sp, &e), 0);
    assert_int_equal(spool_write(sp, "m2995-0", 1, "first", 5, &e), 0);
    assert_int_equal(spool_write(sp, "m2995-0", 2, "second", 6, &e), 0);
    assert_int_equal(spool_commit(sp, &e), 0);
    read_back(sp, "m2995-0", "second");
    assert_int_equal(spool_list(sp, count_cb, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_int_equal(spool_list(sp, tags_cb, &t, &e), 0);
    assert_int_equal(t.again, 2);
    assert_int_equal(spool_remove(sp, "m2995-0", &e), 0);
    assert_int_equal(count_files("spool4/queue"), 0); /* its segment went with it */
    spool_close(sp);
}

static int absent(struct spool *sp, const char *name)
{
    struct buf b;
    struct err e;
    int rc;

    buf_init(&b, 0);
    rc = spool_read(sp, name, &b, NULL, &e);
    buf_release(&b);
    return rc == ERR_NOTFOUND;
}

/* A commit in two halves: the next batch is written while the first
 * syncs; nothing of the batch is readable before _finish; a second start
 * while one is under way is refused; one started and never finished is in
 * the queue for the next open to judge; one that cannot be written fails
 * at _finish and leaves the queue as it was. */
static void commit_in_two_halves(void **state)
{
    char sdir[128], p[192];
    struct spool *sp;
    struct err e;
    int n = 0;

    (void)state;
    snprintf(sdir, sizeof sdir, "%s/spool5", dir);
    assert_int_equal(spool_open(sdir, &sp, &e), 0);
    assert_int_equal(spool_commit_start(sp, &e), 0); /* nothing pending: nothing to do */
    assert_int_equal(spool_commit_finish(sp, &e), 0);
    assert_int_equal(count_files("spool5/queue"), 0);
    assert_int_equal(spool_write(sp, "m1", 1, "one", 3, &e), 0);
    assert_int_equal(spool_write(sp, "m2", 2, "two", 3, &e), 0);
    assert_int_equal(spool_commit_start(sp, &e), 0);
    assert_int_equal(spool_write(sp, "m3", 3, "three", 5, &e), 0); /* the next batch */
    assert_int_equal(spool_commit_start(sp, &e), ERR_INTERNAL);
    assert_true(absent(sp, "m1"));
    assert_int_equal(spool_commit_finish(sp, &e), 0);
    assert_int_equal(spool_commit_finish(sp, &e), 0); /* nothing under way */
    read_back(sp, "m1", "one");
    read_back(sp, "m2", "two");
    assert_true(absent(sp, "m3"));
    assert_int_equal(count_files("spool5/queue"), 1);
    assert_int_equal(count_files("spool5/tmp"), 0);
    assert_int_equal(spool_commit_start(sp, &e), 0);
    spool_close(sp); /* never finished: the segment is whole, in queue/ */
    assert_int_equal(spool_open(sdir, &sp, &e), 0);
    assert_int_equal(spool_list(sp, count_cb, &n, &e), 0);
    assert_int_equal(n, 3);
    read_back(sp, "m3", "three");
    /* tmp/ gone under the open spool: the commit fails at _finish */
    snprintf(p, sizeof p, "%s/tmp", sdir);
    assert_int_equal(rmdir(p), 0);
    assert_int_equal(spool_write(sp, "m4", 4, "four", 4, &e), 0);
    assert_int_equal(spool_commit_start(sp, &e), 0);
    assert_int_equal(spool_commit_finish(sp, &e), ERR_IO);
    assert_non_null(strstr(e.msg, "spool segment"));
    assert_true(absent(sp, "m4"));
    assert_int_equal(count_files("spool5/queue"), 2);
    spool_close(sp);
}

static void garbage_in_queue_is_dropped(void **state)
{
    char sdir[128], p[192];
    struct spool *sp;
    struct err e;
    FILE *f;
    int n = 0;

    (void)state;
    snprintf(sdir, sizeof sdir, "%s/spool2", dir);
    assert_int_equal(spool_open(sdir, &sp, &e), 0);
    spool_close(sp);
    snprintf(p, sizeof p, "%s/queue/junk", sdir);
    f = fopen(p, "w");
    fputs("not a segment", f);
    fclose(f);
    assert_int_equal(spool_open(sdir, &sp, &e), 0);
    assert_int_equal(spool_list(sp, count_cb, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_int_equal(count_files("spool2/queue"), 0);
    spool_close(sp);
}

struct outcomes {
    int n, sent, recorded;
    void *cookie;
    char text[256];
};

static void on_done(void *ctx, void *cookie, const struct transport_reply *r)
{
    struct outcomes *o = ctx;

    o->n++;
    o->sent += r->outcome == TRANSPORT_SENT && r->code == 250;
    o->cookie = cookie;
    snprintf(o->text, sizeof o->text, "%s", r->text);
}

static void on_record(void *ctx, const char *id, void *cookie, const struct transport_reply *r)
{
    struct outcomes *o = ctx;

    (void)cookie;
    assert_string_equal(id, "abc123");
    assert_int_equal(r->outcome, TRANSPORT_SENT);
    assert_int_equal(o->recorded, o->n); /* journaled before reported */
    o->recorded++;
}

static void maildir_delivery(void **state)
{
    char mdir[128];
    struct transport *t;
    struct outcomes o = {0, 0, 0, NULL, ""};
    int cookie;
    struct transport_msg m = {.id = "abc123", .from = "a@x.fr", .to = "b@y.fr",
                              .data = "Subject: x\r\n\r\nhello\r\n", .len = 21,
                              .cookie = &cookie};
    struct err e;

    (void)state;
    snprintf(mdir, sizeof mdir, "%s/Maildir", dir);
    assert_int_equal(transport_maildir_new(mdir, &t, &e), 0);
    t->record = on_record;
    t->record_ctx = &o;
    assert_int_equal(t->submit(t, &m, &e), 0);
    assert_int_equal(o.n, 0); /* reported by poll only, once in new/ */
    assert_int_equal(t->poll(t, 5000, on_done, &o, &e), 0);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.sent, 1);
    assert_int_equal(o.recorded, 1);
    assert_ptr_equal(o.cookie, &cookie);
    assert_string_equal(o.text, "delivered to Maildir new/abc123.postier");
    assert_int_equal(count_files("Maildir/new"), 1);
    assert_int_equal(count_files("Maildir/tmp"), 0);
    assert_int_equal(count_files("Maildir/cur"), 0);
    /* nothing in flight: poll reports nothing */
    assert_int_equal(t->poll(t, 1, on_done, &o, &e), 0);
    assert_int_equal(o.n, 1);
    /* delivered again (after a crash): the same name, still one message */
    assert_int_equal(t->submit(t, &m, &e), 0);
    assert_int_equal(t->poll(t, 5000, on_done, &o, &e), 0);
    assert_int_equal(o.n, 2);
    assert_int_equal(count_files("Maildir/new"), 1);
    transport_free(t);
}

/* Many messages through both ways of writing (unnamed O_TMPFILE files
 * linked into new/, and named tmp/ files renamed, the fallback), with the
 * writers in parallel: every file whole in new/, none left in tmp/; sent
 * again with other bytes, a message replaces its file. */
#define MANY 1500

struct many {
    char id[MANY][24];
    char data[MANY][96];
};

static void count_done(void *ctx, void *cookie, const struct transport_reply *r)
{
    struct outcomes *o = ctx;

    (void)cookie;
    o->n++;
    o->sent += r->outcome == TRANSPORT_SENT && r->code == 250;
}

/* Delivers messages [from, to) through t (text v) and checks each file
 * in <dir>/<mdir>/new. */
static void deliver_all(struct transport *t, const char *mdir, struct many *m, int from, int to,
                        const char *v)
{
    struct outcomes o = {0, 0, 0, NULL, ""};
    struct err e;
    int i, submitted = from, inflight = 0;

    while (o.n < to - from) {
        while (submitted < to && (size_t)inflight < t->slots) {
            snprintf(m->data[submitted], sizeof m->data[submitted],
                     "Subject: %s %d\r\n\r\nbody %d\r\n", v, submitted, submitted);
            struct transport_msg msg = {.id = m->id[submitted], .from = "a@x.fr",
                                        .to = "b@y.fr", .data = m->data[submitted],
                                        .len = strlen(m->data[submitted])};
            assert_int_equal(t->submit(t, &msg, &e), 0);
            submitted++, inflight++;
        }
        int before = o.n;
        assert_int_equal(t->poll(t, 5000, count_done, &o, &e), 0);
        inflight -= o.n - before;
    }
    assert_int_equal(o.sent, to - from);
    for (i = from; i < to; i++) {
        char p[256], got[128];
        FILE *f;
        size_t n;
        snprintf(p, sizeof p, "%s/%s/new/%s.postier", dir, mdir,
                 m->id[i]);
        assert_non_null(f = fopen(p, "rb"));
        n = fread(got, 1, sizeof got, f);
        fclose(f);
        assert_int_equal(n, strlen(m->data[i]));
        assert_memory_equal(got, m->data[i], n);
    }
}

static void maildir_many_both_ways(void **state)
{
    static const char *const modes[] = {"unnamed", "named"};
    struct many *m = calloc(1, sizeof *m);
    char mdir[128], sub[64];
    struct transport *t;
    struct err e;
    int k, i;

    (void)state;
    for (i = 0; i < MANY; i++)
        snprintf(m->id[i], sizeof m->id[i], "msg%04d", i);
    for (k = 0; k < 2; k++) {
        if (k)
            setenv("POSTIER_MAILDIR_NAMED", "1", 1);
        snprintf(mdir, sizeof mdir, "%s/Maildir-%c", dir, modes[k][0]);
        assert_int_equal(transport_maildir_new(mdir, &t, &e), 0);
        deliver_all(t, mdir + strlen(dir) + 1, m, 0, MANY, modes[k]);
        /* sent again (after a crash, say): replaced, not doubled */
        deliver_all(t, mdir + strlen(dir) + 1, m, 100, 130, "again");
        transport_free(t);
        snprintf(sub, sizeof sub, "Maildir-%c/new", modes[k][0]);
        assert_int_equal(count_files(sub), MANY);
        snprintf(sub, sizeof sub, "Maildir-%c/tmp", modes[k][0]);
        assert_int_equal(count_files(sub), 0);
        unsetenv("POSTIER_MAILDIR_NAMED");
    }
    free(m);
}

/* Unnamed files are held open until synced: with no descriptor left for
 * one, a message is written as a named tmp/ file instead, never failed. */
static void maildir_out_of_descriptors(void **state)
{
    struct many *m = calloc(1, sizeof *m);
    struct rlimit was, low;
    char mdir[128];
    struct transport *t;
    struct err e;
    int i, open_fds = 0;
    DIR *d;

    (void)state;
    for (i = 0; i < MANY; i++)
        snprintf(m->id[i], sizeof m->id[i], "fd%04d", i);
    snprintf(mdir, sizeof mdir, "%s/Maildir-u", dir);
    assert_int_equal(transport_maildir_new(mdir, &t, &e), 0);
    assert_non_null(d = opendir("/proc/self/fd"));
    while (readdir(d))
        open_fds++;
    closedir(d);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
    low = was;
    low.rlim_cur = (rlim_t)open_fds + 8; /* a handful of files at a time, not 512 */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    deliver_all(t, "Maildir-u", m, 0, 600, "short of descriptors");
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
    transport_free(t);
    assert_int_equal(count_files("Maildir-u/tmp"), 0);
    free(m);
}

struct lines {
    int n, bad;
    char first[64], last[64];
};

static int collect_line(void *ctx, char *line)
{
    struct lines *l = ctx;
    char *tab = strchr(line, '\t');

    if (!l->n)
        snprintf(l->first, sizeof l->first, "%s", line);
    snprintf(l->last, sizeof l->last, "%s", line);
    /* every line is "<thread>\t<n>\t" + 200 'x': whole or not at all */
    if (!tab || strspn(strrchr(line, '\t') + 1, "x") != 200)
        l->bad++;
    l->n++;
    return 0;
}

static struct journal *shared_journal;

static void *append_many(void *arg)
{
    char line[300], xs[201];
    int i;

    memset(xs, 'x', 200);
    xs[200] = '\0';
    for (i = 0; i < 500; i++) {
        snprintf(line, sizeof line, "%ld\t%d\t%s", (long)(intptr_t)arg, i, xs);
        if (journal_append(shared_journal, line))
            return arg;
    }
    return NULL;
}

static void journal_lines(void **state)
{
    struct journal *j;
    struct lines l = {0, 0, "", ""};
    pthread_t th[4];
    struct err e;
    char path[128];
    long i;
    int fd;

    (void)state;
    assert_int_equal(journal_open(dir, &j, &e), 0);
    assert_int_equal(journal_append(j, "has\na newline"), -1);
    shared_journal = j;
    for (i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, append_many, (void *)(intptr_t)i), 0);
    for (i = 0; i < 4; i++) {
        void *ret;
        assert_int_equal(pthread_join(th[i], &ret), 0);
        assert_null(ret);
    }
    /* a crash in the middle of a line leaves a torn tail: ignored */
    snprintf(path, sizeof path, "%s/journal", dir);
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "torn\t", 5), 5);
    close(fd);
    assert_int_equal(journal_replay(j, collect_line, &l, &e), 0);
    assert_int_equal(l.n, 2000);
    assert_int_equal(l.bad, 0);
    /* reopened (the next run) it reads the same, and clearing empties it */
    journal_close(j);
    assert_int_equal(journal_open(dir, &j, &e), 0);
    memset(&l, 0, sizeof l);
    assert_int_equal(journal_replay(j, collect_line, &l, &e), 0);
    assert_int_equal(l.n, 2000);
    assert_int_equal(journal_clear(j, &e), 0);
    assert_int_equal(journal_append(j, "after\t1\t"), 0);
    memset(&l, 0, sizeof l);
    assert_int_equal(journal_replay(j, collect_line, &l, &e), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.first, "after\t1\t");
    /* several lines in one write (a Maildir writer's batch); a chunk that
     * does not end a line, or holds a line too long, is refused whole */
    {
        char big[1100];
        memset(big, 'y', sizeof big - 1);
        big[sizeof big - 2] = '\n';
        big[sizeof big - 1] = '\0';
        assert_int_equal(journal_append_lines(j, "a\t1\nb\t2\n", 8), 0);
        assert_int_equal(journal_append_lines(j, "c\t3\nd\t4", 7), -1);
        assert_int_equal(journal_append_lines(j, big, strlen(big)), -1);
    }
    memset(&l, 0, sizeof l);
    assert_int_equal(journal_replay(j, collect_line, &l, &e), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.last, "b\t2");
    journal_close(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_segments_and_reopen),
        cmocka_unit_test(many_segments_and_rewrites),
        cmocka_unit_test(rewrite_in_one_segment),
        cmocka_unit_test(commit_in_two_halves),
        cmocka_unit_test(garbage_in_queue_is_dropped),
        cmocka_unit_test(maildir_delivery),
        cmocka_unit_test(maildir_many_both_ways),
        cmocka_unit_test(maildir_out_of_descriptors),
        cmocka_unit_test(journal_lines),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
