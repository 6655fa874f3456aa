/* Contact types: a label and a short code by which templates reach the
 * contact of that type (seed 000: Expert -> exp).  A type in use by any
 * contact cannot be removed. */
#include "store-int.h"

static int step_done(struct store *s, sqlite3_stmt *st, struct err *e, const char *what)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        return store_dberr(s, rc, e, what);
    return 0;
}

int store_type_add(struct store *s, const char *code, const char *label, long long *id,
                   struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(s->db, "INSERT INTO contact_type(code, label) VALUES (?, ?)", -1, &st,
                            NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "types");
    store_bind_text(st, 1, code);
    store_bind_text(st, 2, label);
    rc = step_done(s, st, e, "types");
    if (rc == ERR_EXISTS)
        err_set(e, ERR_EXISTS, "a contact type with code '%s' already exists", code);
    if (!rc && id)
        *id = sqlite3_last_insert_rowid(s->db);
    sqlite3_finalize(st);
    return rc;
}

int store_type_id(struct store *s, const char *code, long long *id, struct err *e)
{
    sqlite3_stmt *st = store_stmt(s, ST_TYPE_ID, "SELECT id FROM contact_type WHERE code = ?", e);
    int rc;

    if (!st)
        return e ? e->code : ERR_DB;
    store_bind_text(st, 1, code);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_dberr(s, rc, e, "types");
    return err_set(e, ERR_NOTFOUND, "no contact type with code '%s'", code);
}

int store_type_edit(struct store *s, const char *key, const char *code, const char *label,
                    struct err *e)
{
    sqlite3_stmt *st = NULL;
    long long id;
    int rc;

    rc = store_type_id(s, key, &id, e);
    if (rc)
        return rc;
    rc = sqlite3_prepare_v2(s->db,
                            "UPDATE contact_type SET code = coalesce(?1, code),"
                            " label = coalesce(?2, label) WHERE id = ?3",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "types");
    store_bind_text(st, 1, code);
    store_bind_text(st, 2, label);
    sqlite3_bind_int64(st, 3, id);
    rc = step_done(s, st, e, "types");
    if (rc == ERR_EXISTS)
        err_set(e, ERR_EXISTS, "a contact type with code '%s' already exists", code);
    sqlite3_finalize(st);
    return rc;
}

int store_type_rm(struct store *s, const char *key, struct err *e)
{
    sqlite3_stmt *st = NULL;
    long long id, n = 0;
    int rc;

    rc = store_type_id(s, key, &id, e);
    if (rc)
        return rc;
    rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM contact WHERE type_id = ?", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "types");
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (n)
        return err_set(e, ERR_INUSE, "contact type '%s' is used by %lld contact%s", key, n,
                       n > 1 ? "s" : "");
    rc = sqlite3_prepare_v2(s->db, "DELETE FROM contact_type WHERE id = ?", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "types");
    sqlite3_bind_int64(st, 1, id);
    rc = step_done(s, st, e, "types");
    sqlite3_finalize(st);
    return rc;
}

int store_type_list(struct store *s, store_type_cb cb, void *ctx, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT t.id, t.code, t.label,"
                            " (SELECT count(*) FROM contact c WHERE c.type_id = t.id)"
                            " FROM contact_type t ORDER BY t.code, t.id",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "types");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_type t = {
            sqlite3_column_int64(st, 0), (char *)sqlite3_column_text(st, 1),
            (char *)sqlite3_column_text(st, 2), sqlite3_column_int64(st, 3)};
        if (cb(ctx, &t))
            break;
    }
    rc = (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : store_dberr(s, rc, e, "types");
    sqlite3_finalize(st);
    return rc;
}
