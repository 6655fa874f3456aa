/* Spool segments and the run lock.  Rendered messages are appended to a
 * segment buffer; spool_commit writes the segment to tmp/, fsyncs it and
 * renames it into queue/ (then syncs the folder): SPEC §5's "write to tmp,
 * fsync, rename into queue" done once per batch instead of once per
 * message, because creating and deleting one file per message costs more
 * than rendering it.  An in-memory index maps each message name to its
 * place; a segment is deleted when all its messages are removed. */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/xalloc.h"

/* A segment is a sequence of records: "<name> <length>\n" then the bytes. */
#define NAME_MAX_LEN 64

struct entry {
    char name[NAME_MAX_LEN + 1];
    size_t seg;    /* index in segs */
    off_t offset;  /* of the message bytes */
    size_t len;
    int removed;
};

struct segment {
    char file[64];
    size_t live; /* messages not yet removed */
};

struct spool {
    char *dir;
    int lock_fd, tmp_fd, queue_fd;
    struct entry *ent;
    size_t nent, aent;
    size_t *slots; /* open addressing hash: 1 + entry index, 0 = empty */
    size_t nslots;
    struct segment *segs;
    size_t nsegs;
    struct buf pending; /* the segment being built */
    int read_fd;        /* the segment last read from (reads go in order) */
    size_t read_seg;
    size_t pending_first; /* first entry of the pending segment */
    unsigned long seq;
};

static int io_err(struct err *e, const char *what, const char *path)
{
    return err_set(e, ERR_IO, "%s %s: %s", what, path, strerror(errno));
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void rehash(struct spool *sp)
{
    size_t i;

    free(sp->slots);
    sp->nslots = sp->nslots ? sp->nslots * 2 : 1024;
    sp->slots = xcalloc(sp->nslots, sizeof *sp->slots);
    for (i = 0; i < sp->nent; i++) {
        size_t h = hash(sp->ent[i].name) & (sp->nslots - 1);
        while (sp->slots[h])
            h = (h + 1) & (sp->nslots - 1);
        sp->slots[h] = i + 1;
    }
}

static struct entry *find(struct spool *sp, const char *name)
{
    size_t h;

    if (!sp->nslots)
        return NULL;
    for (h = hash(name) & (sp->nslots - 1); sp->slots[h]; h = (h + 1) & (sp->nslots - 1))
        if (!strcmp(sp->ent[sp->slots[h] - 1].name, name))
            return &sp->ent[sp->slots[h] - 1];
    return NULL;
}

static struct entry *add_entry(struct spool *sp, const char *name, size_t seg, off_t off,
                               size_t len)
{
    struct entry *x = find(sp, name);

    if (x) { /* written again (a later segment wins) */
        if (!x->removed)
            sp->segs[x->seg].live--;
    } else {
        if (sp->nent == sp->aent) {
            sp->aent = sp->aent ? sp->aent * 2 : 256;
            sp->ent = xrealloc(sp->ent, sp->aent * sizeof *sp->ent);
        }
        x = &sp->ent[sp->nent++];
        snprintf(x->name, sizeof x->name, "%s", name);
        if (sp->nent * 2 > sp->nslots)
            rehash(sp);
        else {
            size_t h = hash(name) & (sp->nslots - 1);
            while (sp->slots[h])
                h = (h + 1) & (sp->nslots - 1);
            sp->slots[h] = sp->nent;
        }
    }
    x->seg = seg;
    x->offset = off;
    x->len = len;
    x->removed = 0;
    return x;
}

static size_t add_segment(struct spool *sp, const char *file)
{
    sp->segs = xrealloc(sp->segs, (sp->nsegs + 1) * sizeof *sp->segs);
    snprintf(sp->segs[sp->nsegs].file, sizeof sp->segs[sp->nsegs].file, "%.63s", file);
    sp->segs[sp->nsegs].live = 0;
    return sp->nsegs++;
}

/* Indexes the records of queue/<file>; a torn tail (impossible after the
 * fsync + rename, but cheap to survive) ends the segment. */
static int load_segment(struct spool *sp, const char *file, struct err *e)
{
    int fd = openat(sp->queue_fd, file, O_RDONLY | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    char line[NAME_MAX_LEN + 32], name[NAME_MAX_LEN + 1];
    size_t seg, len;

    if (!f) {
        if (fd >= 0)
            close(fd);
        return io_err(e, "cannot read spool segment", file);
    }
    seg = add_segment(sp, file);
    while (fgets(line, sizeof line, f)) {
        off_t off = ftello(f);
        if (sscanf(line, "%64s %zu", name, &len) != 2 || fseeko(f, (off_t)len, SEEK_CUR))
            break;
        add_entry(sp, name, seg, off, len);
        sp->segs[seg].live++;
    }
    fclose(f);
    if (!sp->segs[seg].live) /* nothing readable in it: not ours or emptied */
        unlinkat(sp->queue_fd, file, 0);
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
    if (mkdir(buf_str(&p), 0750) && errno != EEXIST)
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
    if (sp->tmp_fd >= 0)
        close(sp->tmp_fd);
    if (sp->queue_fd >= 0)
        close(sp->queue_fd);
    if (sp->read_fd >= 0)
        close(sp->read_fd);
    if (sp->lock_fd >= 0)
        close(sp->lock_fd); /* releases the flock */
    free(sp->ent);
    free(sp->slots);
    free(sp->segs);
    buf_release(&sp->pending);
    free(sp->dir);
    free(sp);
}

int spool_write(struct spool *sp, const char *name, const void *data, size_t n, struct err *e)
{
    if (strlen(name) > NAME_MAX_LEN || strpbrk(name, " \n/"))
        return err_set(e, ERR_INTERNAL, "bad spool name '%s'", name);
    buf_printf(&sp->pending, "%s %zu\n", name, n);
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

/* Writes the pending buffer as tmp/<file>, durable, then into queue/. */
static int write_segment(struct spool *sp, const char *file, struct err *e)
{
    int fd = openat(sp->tmp_fd, file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    int rc = 0;

    if (fd < 0)
        return io_err(e, "cannot create spool segment", file);
    if (write_all(fd, buf_str(&sp->pending), sp->pending.len) || fdatasync(fd))
        rc = io_err(e, "cannot write spool segment", file);
    if (close(fd) && !rc)
        rc = io_err(e, "cannot write spool segment", file);
    if (!rc && renameat(sp->tmp_fd, file, sp->queue_fd, file))
        rc = io_err(e, "cannot queue spool segment", file);
    if (!rc && fsync(sp->queue_fd))
        rc = io_err(e, "cannot sync", sp->dir);
    if (rc)
        unlinkat(sp->tmp_fd, file, 0);
    return rc;
}

int spool_commit(struct spool *sp, struct err *e)
{
    const char *p, *end;
    char file[64], name[NAME_MAX_LEN + 1];
    struct timespec ts;
    size_t seg, len;
    int rc;

    if (!sp->pending.len)
        return 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* names sort in commit order: recovery replays oldest first */
    snprintf(file, sizeof file, "%lld.%09ld.%ld.%lu", (long long)ts.tv_sec, ts.tv_nsec,
             (long)getpid(), ++sp->seq);
    if ((rc = write_segment(sp, file, e))) {
        buf_reset(&sp->pending);
        return rc;
    }
    seg = add_segment(sp, file);
    for (p = buf_str(&sp->pending), end = p + sp->pending.len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || sscanf(p, "%64s %zu", name, &len) != 2)
            break;
        add_entry(sp, name, seg, (off_t)(nl + 1 - buf_str(&sp->pending)), len);
        sp->segs[seg].live++;
        p = nl + 1 + len;
    }
    buf_reset(&sp->pending);
    return 0;
}

int spool_read(struct spool *sp, const char *name, struct buf *out, struct err *e)
{
    struct entry *x = find(sp, name);
    size_t start = out->len, got = 0;
    int fd;

    if (!x || x->removed)
        return err_set(e, ERR_NOTFOUND, "message %s is not in the spool", name);
    if (sp->read_fd < 0 || sp->read_seg != x->seg) {
        if (sp->read_fd >= 0)
            close(sp->read_fd);
        sp->read_fd = openat(sp->queue_fd, sp->segs[x->seg].file, O_RDONLY | O_CLOEXEC);
        sp->read_seg = x->seg;
        if (sp->read_fd < 0)
            return io_err(e, "cannot read spool segment", sp->segs[x->seg].file);
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
        return err_set(e, ERR_IO, "spool segment %s is truncated", sp->segs[x->seg].file);
    }
    return 0;
}

int spool_remove(struct spool *sp, const char *name, struct err *e)
{
    struct entry *x = find(sp, name);
    struct segment *g;

    if (!x || x->removed)
        return 0;
    x->removed = 1;
    g = &sp->segs[x->seg];
    if (--g->live == 0 && unlinkat(sp->queue_fd, g->file, 0) && errno != ENOENT)
        return io_err(e, "cannot remove spool segment", g->file);
    return 0;
}

int spool_list(struct spool *sp, int (*cb)(void *ctx, const char *name), void *ctx,
               struct err *e)
{
    size_t i;
    int rc = 0;

    (void)e;
    for (i = 0; !rc && i < sp->nent; i++)
        if (!sp->ent[i].removed)
            rc = cb(ctx, sp->ent[i].name);
    return rc;
}
