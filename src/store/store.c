/* Opening the database (WAL, foreign keys, busy timeout), transactions,
 * the prepared statement cache and SQLite error mapping. */
#include "store-int.h"

#include <errno.h>
#include <string.h>

#include "util/xalloc.h"

int store_dberr(struct store *s, int rc, struct err *e, const char *what)
{
    int ext = s && s->db ? sqlite3_extended_errcode(s->db) : rc;
    const char *msg = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return err_set(e, ERR_EXISTS, "%s: %s", what, msg);
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        return err_set(e, ERR_LOCKED, "%s: database is busy (another postier is writing)", what);
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

int store_begin_read(struct store *s, struct err *e)
{
    return store_exec(s, "BEGIN DEFERRED", e);
}

void store_end_read(struct store *s)
{
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
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
    sqlite3_close(s->db);
    free(s);
}

int store_schema_version(struct store *s)
{
    return s->version;
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
