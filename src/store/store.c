/* Opening the database (WAL, foreign keys, busy timeout), transactions,
 * the prepared statement cache and SQLite error mapping. */
#include "store-int.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "util/xalloc.h"

/* SQLITE_FULL, or an I/O error of a full disk (the WAL index: -shm) */
static int store_disk_full(const struct store *s, int rc)
{
    if ((rc & 0xff) == SQLITE_FULL)
        return 1;
    return (rc & 0xff) == SQLITE_IOERR && s && s->db && sqlite3_system_errno(s->db) == ENOSPC;
}

int store_dberr(struct store *s, int rc, struct err *e, const char *what)
{
    int ext = s && s->db ? sqlite3_extended_errcode(s->db) : rc;
    const char *msg = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

    if (store_disk_full(s, rc))
        return err_set(e, ERR_TEMPFAIL, "%s: disk full (No space left on device)",
                       s && s->db && sqlite3_db_filename(s->db, "main")
                           ? sqlite3_db_filename(s->db, "main")
                           : what);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return err_set(e, ERR_EXISTS, "%s: %s", what, msg);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return err_set(e, ERR_LOCKED, "%s: database is locked by another program (or another postier is writing)", what);
    if ((rc & 0xff) == SQLITE_CANTOPEN)
        return err_set(e, ERR_IO, "%s: %s", what, msg);
    return err_set(e, ERR_DB, "%s: %s", what, msg);
}

int store_exec(struct store *s, const char *sql, struct err *e)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store_dberr(s, rc, e, "database");
}

sqlite3_stmt *store_stmt(struct store *s, enum stmt_id id, const char *sql, struct err *e)
{
    sqlite3_stmt *st = s->st[id];
    int rc;

    if (st) {
        sqlite3_reset(st);
        return st;
    }
    rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->st[id], NULL);
    if (rc != SQLITE_OK) {
        store_dberr(s, rc, e, "prepare");
        return NULL;
    }
    return s->st[id];
}

int store_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (!v || !*v)
        return sqlite3_bind_null(st, i);
    return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static const char *const pragmas =
    "PRAGMA page_size = 16384;" /* before WAL: new databases only */
    "PRAGMA foreign_keys = ON;"
    "PRAGMA journal_mode = WAL;"
    "PRAGMA synchronous = NORMAL;"
    "PRAGMA temp_store = MEMORY;";

/* Opens a connection to path with flags and runs pragmas on it. */
static int connect_db(const char *path, int flags, const char *setup, struct store **out,
                      struct err *e)
{
    struct store *s = xcalloc(1, sizeof *s);
    int rc;

    buf_init(&s->blk, 0);
    s->blk_id = -1;
    rc = sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = err_set(e, ERR_IO, "%s: cannot open database: %s", path,
                     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        store_close(s);
        return rc;
    }
    sqlite3_busy_timeout(s->db, 5000);
    if ((rc = store_exec(s, setup, e))) {
        if (rc != ERR_TEMPFAIL) /* (disk full names it) */
            err_prefix(e, "%s", path);
        store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int store_open(const char *path, struct store **out, struct err *e)
{
    struct store *s = NULL;
    int rc;

    /* one connection per thread: no per-call mutex; no global memory
     * statistics (a global lock on every allocation) */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if ((rc = connect_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, pragmas, &s, e)))
        return rc;
    if ((rc = store_migrate(s, e))) {
        if (rc != ERR_TEMPFAIL) /* (disk full names it) */
            err_prefix(e, "%s", path);
        store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int store_open_reader(struct store *s, struct store **out, struct err *e)
{
    const char *path = sqlite3_db_filename(s->db, "main");
    int rc;

    if (!path || !*path)
        return err_set(e, ERR_DB, "an in-memory database has no second connection");
    rc = connect_db(path, SQLITE_OPEN_READWRITE,
                    "PRAGMA query_only = ON; PRAGMA temp_store = MEMORY;", out, e);
    if (!rc)
        (*out)->version = s->version;
    return rc;
}

/* Pages in the log that make the writer wake the checkpointer (SQLite's
 * own threshold); left behind, at most, for the writer to copy itself; and
 * at which the writer stops the checkpointer and empties the log itself
 * (the log must not grow without end when the writer outruns it). */
#define CKPT_PAGES 1000
#define CKPT_LEFT 64
#define CKPT_PAGES_MAX (4 * CKPT_PAGES)

/* SQLite restarts the log only once every page in it is copied, which a
 * checkpoint running beside a busy writer never sees: the checkpointer
 * copies the bulk, chasing the writer until little is left, and the
 * writer copies that rest itself after a commit (a short copy and sync),
 * so that its next transaction starts the log again. */
struct store_checkpointer {
    struct store *s, *own;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int due, busy, copying, left, hold, stop;
};

/* The writer's commit hook (in place of SQLite's autocheckpoint). */
static int wal_written(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct store_checkpointer *c = arg;
    int mode = -1;

    if (pages < CKPT_PAGES)
        return SQLITE_OK;
    pthread_mutex_lock(&c->mu);
    if (pages >= CKPT_PAGES_MAX) {
        /* the whole log, once the checkpointer's pass ends (one copier at
         * a time), waiting for readers to leave it (busy timeout) */
        c->hold = 1;
        while (c->copying)
            pthread_cond_wait(&c->cv, &c->mu);
        mode = SQLITE_CHECKPOINT_RESTART;
    } else if (c->left) {
        mode = SQLITE_CHECKPOINT_PASSIVE;
    } else if (!c->busy) {
        c->due = c->busy = 1;
        pthread_cond_broadcast(&c->cv);
    }
    c->left = 0;
    pthread_mutex_unlock(&c->mu);
    if (mode >= 0)
        sqlite3_wal_checkpoint_v2(db, name, mode, NULL, NULL);
    if (mode == SQLITE_CHECKPOINT_RESTART) {
        pthread_mutex_lock(&c->mu);
        c->hold = c->busy = c->due = 0;
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
    struct store_checkpointer *c = arg;
    int before = -1; /* pages copied by the last pass of this round */

    pthread_setname_np(pthread_self(), "postier-ckpt");
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        int log = 0, copied = 0;
        if (!c->due || c->hold) {
            before = -1; /* a new round */
            pthread_cond_wait(&c->cv, &c->mu);
            continue;
        }
        c->due = 0;
        c->copying = 1;
        pthread_mutex_unlock(&c->mu);
        /* passive: copies what no reader still needs, never waits */
        if (sqlite3_wal_checkpoint_v2(c->own->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log,
                                      &copied) != SQLITE_OK)
            log = copied = 0;
        pthread_mutex_lock(&c->mu);
        c->copying = 0;
        pthread_cond_broadcast(&c->cv); /* (a writer may wait for it) */
        if (log - copied > CKPT_LEFT && copied > before)
            c->due = 1; /* written meanwhile: again */
        else /* (or a reader holds the rest back) */
            c->busy = 0, c->left = log > copied;
        before = copied;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

struct store_checkpointer *store_checkpointer_start(struct store *s)
{
    const char *path = sqlite3_db_filename(s->db, "main");
    struct store_checkpointer *c = xcalloc(1, sizeof *c);
    struct err e;

    c->s = s;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (!path || !*path || connect_db(path, SQLITE_OPEN_READWRITE,
                                    /* a first read opens the log for it */
                                    "SELECT count(*) FROM sqlite_master", &c->own, &e)) {
        store_checkpointer_stop(c);
        return NULL;
    }
    if (pthread_create(&c->th, NULL, checkpointer_main, c)) {
        store_close(c->own);
        c->own = NULL;
        store_checkpointer_stop(c);
        return NULL;
    }
    sqlite3_wal_hook(s->db, wal_written, c);
    return c;
}

void store_checkpointer_stop(struct store_checkpointer *c)
{
    if (!c)
        return;
    if (c->own) {
        sqlite3_wal_autocheckpoint(c->s->db, CKPT_PAGES); /* the writer's own hook again */
        pthread_mutex_lock(&c->mu);
        c->stop = 1;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->th, NULL);
        store_close(c->own);
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

long long store_data_version(struct store *s)
{
    sqlite3_stmt *st = store_stmt(s, ST_DATA_VERSION, "PRAGMA data_version", NULL);
    long long v = -1;

    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    if (st)
        sqlite3_reset(st);
    return v;
}

/* (prepared once: the planner reads each document in a transaction of
 * its own, a hundred thousand a night) */
int store_begin_read(struct store *s, struct err *e)
{
    sqlite3_stmt *st = store_stmt(s, ST_BEGIN_READ, "BEGIN DEFERRED", e);
    int rc;

    if (!st)
        return ERR_DB;
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_dberr(s, rc, e, "database");
}

void store_end_read(struct store *s)
{
    sqlite3_stmt *st = store_stmt(s, ST_END_READ, "COMMIT", NULL);

    if (st) {
        sqlite3_step(st);
        sqlite3_reset(st);
    } else {
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    }
}

void store_close(struct store *s)
{
    int i;

    if (!s)
        return;
    for (i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    free(s->last_ref);
    buf_release(&s->blk);
    if (s->release)
        s->release(s->attached);
    sqlite3_close(s->db);
    free(s);
}

void store_attach(struct store *s, void *p, void (*release)(void *))
{
    if (s->release)
        s->release(s->attached);
    s->attached = p;
    s->release = release;
}

void *store_attached(struct store *s)
{
    return s ? s->attached : NULL;
}

int store_schema_version(struct store *s)
{
    return s->version;
}

int store_schema_opened_at(struct store *s)
{
    return s->from_version;
}

int store_prepare(struct store *s, const char *sql, sqlite3_stmt **st, struct err *e)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    return rc == SQLITE_OK ? 0 : store_dberr(s, rc, e, "prepare");
}

int store_run(struct store *s, sqlite3_stmt *st, struct err *e, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_dberr(s, rc, e, what);
}

int store_rows_end(struct store *s, sqlite3_stmt *st, int is_cached, int rc, struct err *e,
                   const char *what)
{
    if (is_cached)
        sqlite3_reset(st);
    else
        sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    return rc > 0 ? store_dberr(s, rc, e, what) : rc;
}

int store_in_transaction(const struct store *s)
{
    return !sqlite3_get_autocommit(s->db);
}

int store_begin(struct store *s, struct err *e)
{
    s->tail_id = 0;
    return store_exec(s, "BEGIN IMMEDIATE", e);
}

int store_commit(struct store *s, struct err *e)
{
    int rc = store_search_flush(s, e);
    s->tail_id = 0; /* others may append once it is committed */
    return rc ? rc : store_exec(s, "COMMIT", e);
}

void store_rollback(struct store *s)
{
    s->tail_id = 0;
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    store_search_forget(s);
    /* a rolled-back insert may have filled the party cache */
    free(s->last_ref);
    s->last_ref = NULL;
}
