/* Spool segments and the run lock.  Rendered messages are appended to a
 * segment buffer; spool_commit writes the segment to tmp/, fsyncs it and
 * renames it into queue/ (then syncs the folder): SPEC §5's "write to tmp,
 * fsync, rename into queue" done once per batch instead of once per
 * message, because creating and deleting one file per message costs more
 * than rendering it.  An in-memory index maps each message name to its
 * place; a segment is deleted when all its messages are removed, and its
 * part of the index with it (memory follows the queue, not the run).  A
 * committed segment stays in memory (up to CACHE_MAX) until emptied: the
 * dispatcher reads it at once, a copy instead of a pread. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/strv.h"
#include "util/xalloc.h"

/* A segment is a sequence of records: "<name> <length> <tag>\n" then the
 * bytes (" <tag>" absent in segments of earlier versions). */
#define NAME_MAX_LEN 64
/* Committed segments kept in memory for the dispatcher, at most (bytes):
 * it reads them right after the commit, so a read is a copy, not a
 * pread.  A segment that does not fit is read back from its file. */
#define CACHE_MAX (8u << 20)
/* Buffers of emptied segments kept for the next segments: building a
 * segment in a new buffer costs a copy at each doubling and a page fault
 * per page, as much as writing it. */
#define SPARES 2

struct entry {
    char name[NAME_MAX_LEN + 1];
    int removed;
    size_t seg; /* index in segs */
    long long tag;
    off_t offset; /* of the message bytes */
    size_t len;
};

/* The index of each segment lives with the segment, so memory follows the
 * queue, not the run: a segment's entries go when its last message does. */
struct segment {
    char file[64];
    struct entry *ent;
    size_t nent, aent;
    size_t live;  /* messages not yet removed */
    char *mem;    /* the file's bytes, if cached */
    size_t memlen, memalloc;
};

/* A hash slot: 1 + segment index (0 = empty) and entry index. */
struct slot {
    uint32_t seg, idx;
};

/* A segment being made durable by a thread of its own (spool_commit_start
 * .. spool_commit_finish), while the caller does other work. */
struct commit {
    pthread_t thread;
    int running;
    char file[64];
    struct buf data;
    struct entry *ent;
    size_t n;
    int rc;
    struct err e;
};

struct spool {
    char *dir;
    int lock_fd, tmp_fd, queue_fd;
    struct segment *segs;
    size_t nsegs;
    struct slot *slots; /* open addressing over every entry of a kept segment */
    size_t nslots, nindexed;
    size_t dead; /* entries of emptied segments, still in the slots */
    size_t cached; /* bytes of segments kept in memory */
    struct buf pending; /* the segment being built */
    struct buf spare[SPARES]; /* emptied segments' buffers, for the next ones */
    size_t nspare;
    struct entry *pend; /* its records */
    size_t npend, apend;
    int read_fd;        /* the segment last read from (reads go in order) */
    size_t read_seg;
    unsigned long seq;
    struct commit c;
};

/* A full disk is temporary (ERR_TEMPFAIL): the next run resumes. */
static int io_err(struct err *e, const char *what, const char *path)
{
    int code = errno == ENOSPC || errno == EDQUOT ? ERR_TEMPFAIL : ERR_IO;

    return err_set(e, code, "%s %s: %s", what, path, strerror(errno));
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct entry *at(struct spool *sp, struct slot sl)
{
    return &sp->segs[sl.seg - 1].ent[sl.idx];
}

static void slot_put(struct spool *sp, uint32_t seg, uint32_t idx)
{
    size_t h = hash(sp->segs[seg].ent[idx].name) & (sp->nslots - 1);

    while (sp->slots[h].seg)
        h = (h + 1) & (sp->nslots - 1);
    sp->slots[h] = (struct slot){seg + 1, idx};
    sp->nindexed++;
}

/* Rebuilds the slots over the entries of segments still in the queue
 * (growing them when half full); emptied segments' entries are freed. */
static void reindex(struct spool *sp, size_t want)
{
    size_t i, k, n = 0;

    for (i = 0; i < sp->nsegs; i++) {
        struct segment *g = &sp->segs[i];
        if (!g->live && g->ent) {
            free(g->ent);
            g->ent = NULL;
            g->nent = g->aent = 0;
        }
        n += g->nent;
    }
    free(sp->slots);
    for (sp->nslots = 1024; sp->nslots < 2 * (n + want); sp->nslots *= 2)
        ;
    sp->slots = xcalloc(sp->nslots, sizeof *sp->slots);
    sp->nindexed = sp->dead = 0;
    for (i = 0; i < sp->nsegs; i++)
        for (k = 0; k < sp->segs[i].nent; k++)
            slot_put(sp, (uint32_t)i, (uint32_t)k);
}

/* The live entry named name, or NULL. */
static struct entry *find(struct spool *sp, const char *name)
{
    size_t h;

    if (!sp->nslots)
        return NULL;
    for (h = hash(name) & (sp->nslots - 1); sp->slots[h].seg; h = (h + 1) & (sp->nslots - 1)) {
        struct entry *x = at(sp, sp->slots[h]);
        if (!x->removed && !strcmp(x->name, name))
            return x;
    }
    return NULL;
}

/* Keeps b's allocation as a spare (or frees it); b is left empty. */
static void keep_spare(struct spool *sp, struct buf *b)
{
    if (b->data && sp->nspare < SPARES) {
        struct buf *k = &sp->spare[sp->nspare++];
        buf_init(k, 0);
        k->data = b->data, k->alloc = b->alloc;
        buf_reset(k);
        buf_init(b, 0);
    }
    buf_release(b);
}

static void segment_emptied(struct spool *sp, size_t seg)
{
    struct segment *g = &sp->segs[seg];

    if (g->mem) {
        sp->cached -= g->memlen;
        keep_spare(sp, &(struct buf){.data = g->mem, .alloc = g->memalloc});
        g->mem = NULL;
    }
    sp->dead += g->nent;
    if (sp->read_fd >= 0 && sp->read_seg == seg) {
        close(sp->read_fd);
        sp->read_fd = -1;
    }
}

/* Indexes the given records as segment file (its bytes in mem, or NULL). */
static size_t add_segment(struct spool *sp, const char *file, struct entry *ent, size_t n,
                          const struct buf *mem)
{
    size_t i, seg = sp->nsegs;
    struct segment *g;

    sp->segs = xrealloc(sp->segs, (sp->nsegs + 1) * sizeof *sp->segs);
    g = &sp->segs[sp->nsegs++];
    memset(g, 0, sizeof *g);
    snprintf(g->file, sizeof g->file, "%.63s", file);
    if (mem) {
        g->mem = mem->data;
        g->memlen = mem->len;
        g->memalloc = mem->alloc;
        sp->cached += mem->len;
    }
    if (sp->dead > 4096 && sp->dead > sp->nindexed / 2)
        reindex(sp, n);
    if (2 * (sp->nindexed + n) > sp->nslots)
        reindex(sp, n);
    g->ent = ent;
    g->nent = g->aent = n;
    g->live = n;
    for (i = 0; i < n; i++)
        ent[i].seg = seg;
    for (i = 0; i < n; i++) {
        struct entry *old = find(sp, ent[i].name);
        if (old) { /* written again (even in this segment): the later record wins */
            size_t o = old->seg;
            old->removed = 1;
            if (!--sp->segs[o].live) { /* (never this one: record i lives in it) */
                segment_emptied(sp, o);
                unlinkat(sp->queue_fd, sp->segs[o].file, 0);
            }
        }
        slot_put(sp, (uint32_t)seg, (uint32_t)i);
    }
    return seg;
}

static void push_entry(struct entry **v, size_t *n, size_t *a, const char *name,
                       long long tag, off_t off, size_t len)
{
    struct entry *x;

    if (*n == *a) {
        *a = *a ? *a * 2 : 64;
        *v = xrealloc(*v, *a * sizeof **v);
    }
    x = &(*v)[(*n)++];
    str_puts(x->name, sizeof x->name, 0, name);
    x->removed = 0;
    x->tag = tag;
    x->offset = off;
    x->len = len;
}

static int load_segment(struct spool *sp, const char *file, struct err *e)
{
    int fd = openat(sp->queue_fd, file, O_RDONLY | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    char line[NAME_MAX_LEN + 32], name[NAME_MAX_LEN + 1];
    struct entry *ent = NULL;
    size_t n = 0, a = 0, len;
    long long tag;

    if (!f) {
        if (fd >= 0)
            close(fd);
        return io_err(e, "cannot read spool segment", file);
    }
    while (fgets(line, sizeof line, f)) {
        off_t off = ftello(f);
        int got = sscanf(line, "%64s %zu %lld", name, &len, &tag);
        if (got < 2 || fseeko(f, (off_t)len, SEEK_CUR))
            break;
        push_entry(&ent, &n, &a, name, got == 3 ? tag : 0, off, len);
    }
    fclose(f);
    if (!n) { /* nothing readable in it: not ours or emptied */
        unlinkat(sp->queue_fd, file, 0);
        return 0;
    }
    add_segment(sp, file, ent, n, NULL);
    return 0;
}

static int load_queue(struct spool *sp, struct err *e)
{
    struct dirent **names = NULL;
    int i, n = scandirat(sp->queue_fd, ".", &names, NULL, alphasort);
    int rc = 0;

    if (n < 0)
        return io_err(e, "cannot list", sp->dir);
    for (i = 0; i < n; i++) {
        if (!rc && names[i]->d_name[0] != '.')
            rc = load_segment(sp, names[i]->d_name, e);
        free(names[i]);
    }
    free(names);
    return rc;
}

static int open_dir(const char *dir, const char *sub, int *fd, struct err *e)
{
    struct buf p;
    int rc = 0;

    buf_init(&p, 0);
    buf_printf(&p, "%s/%s", dir, sub);
    if (mkdir(buf_str(&p), 0700) && errno != EEXIST)
        rc = io_err(e, "cannot create", buf_str(&p));
    else if ((*fd = open(buf_str(&p), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = io_err(e, "cannot open", buf_str(&p));
    buf_release(&p);
    return rc;
}

/* Leftovers of a crashed run in tmp/ were never committed: drop them. */
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

/* The holder's "pid N, started YYYY-MM-DD HH:MM:SS" (local time), kept
 * in the lock file for whoever the lock refuses. */
static void lock_write_holder(int fd)
{
    char line[96];
    time_t t = time(NULL);
    struct tm tm;
    int n;

    localtime_r(&t, &tm);
    n = snprintf(line, sizeof line, "pid %ld, started ", (long)getpid());
    n += (int)strftime(line + n, sizeof line - (size_t)n, "%Y-%m-%d %H:%M:%S\n", &tm);
    if (ftruncate(fd, 0) || pwrite(fd, line, (size_t)n, 0) != n)
        return; /* only a courtesy to the next run's message */
}

/* ERR_LOCKED naming the holder, as it wrote itself in the lock file. */
static int lock_refused(int fd, const char *path, struct err *e)
{
    char line[96];
    ssize_t n = pread(fd, line, sizeof line - 1, 0);

    line[n > 0 ? n : 0] = '\0';
    line[strcspn(line, "\n")] = '\0';
    return err_set(e, ERR_LOCKED, "another postier run holds %s (%s): try again later", path,
                   strncmp(line, "pid ", 4) ? "holder unknown" : line);
}

int spool_open(const char *dir, struct spool **out, struct err *e)
{
    struct spool *sp = xcalloc(1, sizeof *sp);
    struct buf p;
    int rc = 0;

    sp->dir = xstrdup(dir);
    sp->lock_fd = sp->tmp_fd = sp->queue_fd = sp->read_fd = -1;
    buf_init(&sp->pending, 0);
    buf_init(&p, 0);
    buf_printf(&p, "%s/lock", dir);
    if (mkdir(dir, 0700) && errno != EEXIST)
        rc = io_err(e, "cannot create", dir);
    else if ((sp->lock_fd = open(buf_str(&p), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
        rc = io_err(e, "cannot open", buf_str(&p));
    else if (flock(sp->lock_fd, LOCK_EX | LOCK_NB))
        rc = lock_refused(sp->lock_fd, buf_str(&p), e);
    else
        lock_write_holder(sp->lock_fd);
    buf_release(&p);
    if (!rc)
        rc = open_dir(dir, "tmp", &sp->tmp_fd, e);
    if (!rc)
        rc = open_dir(dir, "queue", &sp->queue_fd, e);
    if (!rc) {
        clear_tmp(sp);
        rc = load_queue(sp, e);
    }
    if (rc) {
        spool_close(sp);
        return rc;
    }
    *out = sp;
    return 0;
}

void spool_close(struct spool *sp)
{
    if (!sp)
        return;
    if (sp->c.running == 1) /* started, never finished: recovery judges the file */
        pthread_join(sp->c.thread, NULL);
    buf_release(&sp->c.data);
    free(sp->c.ent);
    if (sp->tmp_fd >= 0)
        close(sp->tmp_fd);
    if (sp->queue_fd >= 0)
        close(sp->queue_fd);
    if (sp->read_fd >= 0)
        close(sp->read_fd);
    if (sp->lock_fd >= 0)
        close(sp->lock_fd); /* releases the flock */
    for (size_t i = 0; i < sp->nsegs; i++)
        free(sp->segs[i].ent), free(sp->segs[i].mem);
    free(sp->slots);
    free(sp->segs);
    free(sp->pend);
    buf_release(&sp->pending);
    while (sp->nspare)
        buf_release(&sp->spare[--sp->nspare]);
    free(sp->dir);
    free(sp);
}

int spool_write(struct spool *sp, const char *name, long long tag, const void *data, size_t n,
                struct err *e)
{
    if (strlen(name) > NAME_MAX_LEN || strpbrk(name, " \n/"))
        return err_set(e, ERR_INTERNAL, "bad spool name '%s'", name);
    if (!sp->pending.data && sp->nspare) /* a new segment: in a spare buffer */
        sp->pending = sp->spare[--sp->nspare];
    buf_printf(&sp->pending, "%s %zu %lld\n", name, n, tag);
    push_entry(&sp->pend, &sp->npend, &sp->apend, name, tag, (off_t)sp->pending.len, n);
    buf_add(&sp->pending, data, n);
    if (sp->pending.err)
        return err_set(e, ERR_TOOBIG, "spool segment too large");
    return 0;
}

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

/* Writes data as tmp/<file>, durable, then into queue/ (the folder synced). */
static int write_segment(const struct spool *sp, const char *file, const struct buf *data,
                         struct err *e)
{
    int fd = openat(sp->tmp_fd, file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    char where[PATH_MAX + 64]; /* the messages name the folder too */
    int rc = 0;

    snprintf(where, sizeof where, "%s/tmp/%s", sp->dir, file);
    if (fd < 0)
        return io_err(e, "cannot create spool segment", where);
    if (write_all(fd, buf_str(data), data->len) || fdatasync(fd))
        rc = io_err(e, "cannot write spool segment", where);
    if (close(fd) && !rc)
        rc = io_err(e, "cannot write spool segment", where);
    if (!rc && renameat(sp->tmp_fd, file, sp->queue_fd, file))
        rc = io_err(e, "cannot queue spool segment", where);
    if (!rc && fsync(sp->queue_fd))
        rc = io_err(e, "cannot sync", sp->dir);
    if (rc)
        unlinkat(sp->tmp_fd, file, 0);
    return rc;
}

static void *commit_main(void *arg)
{
    struct spool *sp = arg;

    pthread_setname_np(pthread_self(), "postier-spool");
    sp->c.rc = write_segment(sp, sp->c.file, &sp->c.data, &sp->c.e);
    return NULL;
}

int spool_commit_start(struct spool *sp, struct err *e)
{
    struct commit *c = &sp->c;
    struct timespec ts;

    if (c->running)
        return err_set(e, ERR_INTERNAL, "spool: a commit is already under way");
    if (!sp->pending.len)
        return 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* names sort in commit order: recovery replays oldest first */
    snprintf(c->file, sizeof c->file, "%lld.%09ld.%ld.%lu", (long long)ts.tv_sec, ts.tv_nsec,
             (long)getpid(), ++sp->seq);
    c->data = sp->pending;
    c->ent = sp->pend, c->n = sp->npend;
    buf_init(&sp->pending, 0);
    sp->pend = NULL, sp->npend = sp->apend = 0;
    c->rc = 0;
    c->running = 1;
    if (pthread_create(&c->thread, NULL, commit_main, sp)) {
        c->running = 0; /* no thread to spare: written here, now */
        commit_main(sp);
        c->running = 2;
    }
    return 0;
}

int spool_commit_finish(struct spool *sp, struct err *e)
{
    struct commit *c = &sp->c;

    if (!c->running)
        return 0;
    if (c->running == 1)
        pthread_join(c->thread, NULL);
    c->running = 0;
    if (c->rc) {
        *e = c->e;
        keep_spare(sp, &c->data);
        free(c->ent);
        c->ent = NULL;
        return c->rc;
    }
    if (sp->cached + c->data.len <= CACHE_MAX) { /* the buffer becomes the cache */
        add_segment(sp, c->file, c->ent, c->n, &c->data);
        buf_init(&c->data, 0);
    } else {
        add_segment(sp, c->file, c->ent, c->n, NULL);
        keep_spare(sp, &c->data);
    }
    c->ent = NULL;
    return 0;
}

int spool_commit(struct spool *sp, struct err *e)
{
    int rc = spool_commit_start(sp, e);

    return rc ? rc : spool_commit_finish(sp, e);
}

int spool_read(struct spool *sp, const char *name, struct buf *out, int *in_memory,
               struct err *e)
{
    struct entry *x = find(sp, name);
    size_t start = out->len, got = 0, seg;
    struct segment *g;
    int fd;

    if (!x)
        return err_set(e, ERR_NOTFOUND, "message %s is not in the spool", name);
    buf_reserve(out, x->len); /* one allocation, not one per doubling */
    g = &sp->segs[seg = x->seg];
    if (in_memory)
        *in_memory = g->mem != NULL;
    if (g->mem) {
        if (buf_add(out, g->mem + x->offset, x->len))
            return err_set(e, ERR_TOOBIG, "message %s: larger than the buffer", name);
        return 0;
    }
    if (sp->read_fd < 0 || sp->read_seg != seg) {
        if (sp->read_fd >= 0)
            close(sp->read_fd);
        sp->read_fd = openat(sp->queue_fd, g->file, O_RDONLY | O_CLOEXEC);
        sp->read_seg = seg;
        if (sp->read_fd < 0)
            return io_err(e, "cannot read spool segment", g->file);
    }
    fd = sp->read_fd;
    while (got < x->len) {
        char chunk[65536];
        size_t want = x->len - got < sizeof chunk ? x->len - got : sizeof chunk;
        ssize_t n = pread(fd, chunk, want, x->offset + (off_t)got);
        if (n <= 0 || buf_add(out, chunk, (size_t)n))
            break;
        got += (size_t)n;
    }
    if (got < x->len) {
        buf_truncate(out, start);
        return err_set(e, ERR_IO, "spool segment %s is truncated", g->file);
    }
    return 0;
}

int spool_remove(struct spool *sp, const char *name, struct err *e)
{
    struct entry *x = find(sp, name);
    size_t seg;

    if (!x)
        return 0;
    x->removed = 1;
    seg = x->seg;
    if (--sp->segs[seg].live)
        return 0;
    segment_emptied(sp, seg);
    if (unlinkat(sp->queue_fd, sp->segs[seg].file, 0) && errno != ENOENT)
        return io_err(e, "cannot remove spool segment", sp->segs[seg].file);
    return 0;
}

int spool_list(struct spool *sp, int (*cb)(void *ctx, const char *name, long long tag),
               void *ctx, struct err *e)
{
    size_t i;
    int rc = 0;

    (void)e;
    for (i = 0; !rc && i < sp->nsegs; i++)
        for (size_t k = 0; !rc && sp->segs[i].live && k < sp->segs[i].nent; k++)
            if (!sp->segs[i].ent[k].removed)
                rc = cb(ctx, sp->segs[i].ent[k].name, sp->segs[i].ent[k].tag);
    return rc;
}
