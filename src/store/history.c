/* History rows (SPEC §1): read the chain's tail, insert a row, scan every
 * row in id order.  Only storage: the canonical encoding and the SHA-256
 * chain are audit/'s job, and the schema's triggers refuse UPDATE and
 * DELETE.  An insert with h->id > 0 uses that id, so a caller chaining
 * rows gets ERR_EXISTS, not a fork, when another writer took it first. */
#include "store-int.h"

#include <string.h>

/* The columns of SPEC §8 after id, in that order; hash last. */
#define HISTORY_COLS                                                                               \
    "at, event, channel, address, contact_id, party_ref, document_ref, document_type,"             \
    " campaign, template, template_sha256, message_id, reason, server_reply, consent, hash,"      \
    " operator, message_sha256, provider_id"

int store_history_last(struct store *s, long long *id, char *hash, struct err *e)
{
    sqlite3_stmt *st;
    const char *h;
    int rc;

    if (s->tail_id && !sqlite3_get_autocommit(s->db)) { /* appended by us, in this transaction */
        *id = s->tail_id;
        memcpy(hash, s->tail_hash, 65);
        return 0;
    }
    st = store_stmt(s, ST_HISTORY_LAST, "SELECT id, hash FROM history ORDER BY id DESC LIMIT 1", e);
    if (!st)
        return e ? e->code : ERR_DB;
    *id = 0;
    hash[0] = '\0';
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        h = (const char *)sqlite3_column_text(st, 1);
        snprintf(hash, 65, "%s", h ? h : "");
        rc = SQLITE_DONE;
    }
    /* reset at once: a pending SELECT would keep a read snapshot open */
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_dberr(s, rc, e, "history");
}

int store_history_insert(struct store *s, struct store_history *h, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    if (!h->event || !*h->event)
        return err_set(e, ERR_INPUT, "history row without an event");
    if (!h->at || !*h->at || !h->hash || !*h->hash)
        return err_set(e, ERR_INPUT, "history row without a time or a hash");
    st = store_stmt(s, ST_HISTORY_INSERT,
                    "INSERT INTO history(id, " HISTORY_COLS ") VALUES"
                    " (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
                    " ?18, ?19, ?20)",
                    e);
    if (!st)
        return e ? e->code : ERR_DB;
    if (h->id > 0)
        sqlite3_bind_int64(st, 1, h->id);
    else
        sqlite3_bind_null(st, 1);
    store_bind_text(st, 2, h->at);
    store_bind_text(st, 3, h->event);
    store_bind_text(st, 4, h->channel);
    store_bind_text(st, 5, h->address);
    if (h->contact_id)
        sqlite3_bind_int64(st, 6, h->contact_id);
    else
        sqlite3_bind_null(st, 6);
    store_bind_text(st, 7, h->party_ref);
    store_bind_text(st, 8, h->document_ref);
    store_bind_text(st, 9, h->document_type);
    store_bind_text(st, 10, h->campaign);
    store_bind_text(st, 11, h->template_name);
    store_bind_text(st, 12, h->template_sha256);
    store_bind_text(st, 13, h->message_id);
    store_bind_text(st, 14, h->reason);
    store_bind_text(st, 15, h->server_reply);
    store_bind_text(st, 16, h->consent);
    store_bind_text(st, 17, h->hash);
    store_bind_text(st, 18, h->operator_name);
    store_bind_text(st, 19, h->message_sha256);
    store_bind_text(st, 20, h->provider_id);
    rc = sqlite3_step(st);
    /* the bindings borrow h's strings: drop them before returning */
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    s->tail_id = 0;
    if (rc != SQLITE_DONE)
        return store_dberr(s, rc, e, "history");
    h->id = sqlite3_last_insert_rowid(s->db);
    /* rows are appended (id = the tail's + 1): this one is the new tail */
    if (!sqlite3_get_autocommit(s->db) && strlen(h->hash) < sizeof s->tail_hash) {
        s->tail_id = h->id;
        memcpy(s->tail_hash, h->hash, strlen(h->hash) + 1);
    }
    return 0;
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int scan(struct store *s, sqlite3_stmt *st, store_history_cb cb, void *ctx, int *n,
                struct err *e)
{
    struct store_history h;
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&h, 0, sizeof h);
        h.id = sqlite3_column_int64(st, 0);
        h.at = col(st, 1);
        h.event = col(st, 2);
        h.channel = col(st, 3);
        h.address = col(st, 4);
        h.contact_id = sqlite3_column_int64(st, 5);
        h.party_ref = col(st, 6);
        h.document_ref = col(st, 7);
        h.document_type = col(st, 8);
        h.campaign = col(st, 9);
        h.template_name = col(st, 10);
        h.template_sha256 = col(st, 11);
        h.message_id = col(st, 12);
        h.reason = col(st, 13);
        h.server_reply = col(st, 14);
        h.consent = col(st, 15);
        h.hash = col(st, 16);
        h.operator_name = col(st, 17);
        h.message_sha256 = col(st, 18);
        h.provider_id = col(st, 19);
        (*n)++;
        if ((rc = cb(ctx, &h))) {
            sqlite3_finalize(st);
            return rc; /* the callback's own value */
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_dberr(s, rc, e, "history");
}

int store_history_scan(struct store *s, store_history_cb cb, void *ctx, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc, n = 0;

    rc = sqlite3_prepare_v2(s->db, "SELECT id, " HISTORY_COLS " FROM history ORDER BY id", -1, &st,
                            NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "history");
    return scan(s, st, cb, ctx, &n, e);
}

int store_history_of_contact(struct store *s, long long contact_id, store_history_cb cb,
                             void *ctx, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc, n = 0;

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT id, " HISTORY_COLS " FROM history WHERE contact_id = ?1"
                            " OR (contact_id IN (SELECT dup_id FROM contact_merge"
                            "                    WHERE keep_id = ?1)"
                            /* the keep's own row tells each merge */
                            "     AND NOT (event = 'contact_merged'"
                            "              AND server_reply LIKE 'merged into contact %'))"
                            " ORDER BY id",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "history");
    sqlite3_bind_int64(st, 1, contact_id);
    return scan(s, st, cb, ctx, &n, e);
}

int store_history_get(struct store *s, long long id, store_history_cb cb, void *ctx,
                      struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc, n = 0;

    rc = sqlite3_prepare_v2(s->db, "SELECT id, " HISTORY_COLS " FROM history WHERE id = ?", -1,
                            &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "history");
    sqlite3_bind_int64(st, 1, id);
    if ((rc = scan(s, st, cb, ctx, &n, e)))
        return rc;
    return n ? 0 : err_set(e, ERR_NOTFOUND, "no history row %lld", id);
}

int store_history_anchor(struct store *s, long long *last_id, char *hash, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *last_id = 0;
    hash[0] = '\0';
    rc = sqlite3_prepare_v2(s->db, "SELECT last_id, last_hash FROM history_anchor", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "history_anchor");
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *last_id = sqlite3_column_int64(st, 0);
        snprintf(hash, 65, "%s", col(st, 1));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_dberr(s, rc, e, "history_anchor");
}

int store_history_purge(struct store *s, const char *date, long long *removed,
                        long long *last_id, char *hash, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *removed = *last_id = 0;
    hash[0] = '\0';
    s->tail_id = 0;
    /* the removed rows are a prefix of the chain, and never hold a row
     * dated on or after date: a clock set back once (a row dated 2001 among
     * today's) must not carry today's rows away with it */
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT id, hash, (SELECT count(*) FROM history h2 WHERE h2.id <= h.id)"
                            " FROM history h WHERE id < coalesce((SELECT min(id) FROM history"
                            " WHERE at >= ?1), 9223372036854775807) ORDER BY id DESC LIMIT 1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "history");
    sqlite3_bind_text(st, 1, date, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *last_id = sqlite3_column_int64(st, 0);
        snprintf(hash, 65, "%s", col(st, 1));
        *removed = sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? 0 : store_dberr(s, rc, e, "history");
    if ((rc = store_exec(s, "DROP TRIGGER history_no_delete", e)))
        return rc;
    if ((rc = store_prepare(s, "DELETE FROM history WHERE id <= ?", &st, e)))
        return rc;
    sqlite3_bind_int64(st, 1, *last_id);
    if ((rc = store_run(s, st, e, "history")))
        return rc;
    if ((rc = store_exec(s,
                         "CREATE TRIGGER history_no_delete BEFORE DELETE ON history"
                         "  BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;",
                         e)))
        return rc;
    if ((rc = store_prepare(s,
                            "INSERT OR REPLACE INTO history_anchor(id, last_id, last_hash,"
                            " purged_at) VALUES (1, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                            &st, e)))
        return rc;
    sqlite3_bind_int64(st, 1, *last_id);
    sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
    return store_run(s, st, e, "history_anchor");
}

int store_history_keyed_from(struct store *s, long long *first_id, char *mac, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *first_id = 0;
    mac[0] = '\0';
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                            " AND name = 'history_keyed')",
                            -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW && !sqlite3_column_int(st, 0)) {
        sqlite3_finalize(st);
        *first_id = -1;
        return 0;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != SQLITE_ROW)
        return store_dberr(s, rc, e, "history_keyed");
    rc = sqlite3_prepare_v2(s->db, "SELECT first_id, mac FROM history_keyed", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "history_keyed");
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *first_id = sqlite3_column_int64(st, 0);
        snprintf(mac, 65, "%s", col(st, 1) ? col(st, 1) : "");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_dberr(s, rc, e, "history_keyed");
}

int store_history_set_keyed_from(struct store *s, long long first_id, const char *mac,
                                 struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    if ((rc = store_prepare(s, "INSERT INTO history_keyed(id, first_id, mac) VALUES (1, ?, ?)",
                            &st, e)))
        return rc;
    sqlite3_bind_int64(st, 1, first_id);
    sqlite3_bind_text(st, 2, mac, -1, SQLITE_STATIC);
    return store_run(s, st, e, "history_keyed");
}

int store_history_head(struct store *s, long long *id, char *hash, char *at, long long *count,
                       struct err *e)
{
    sqlite3_stmt *st = NULL;
    char ahash[65];
    long long purged;
    int rc;

    *id = *count = 0;
    hash[0] = at[0] = '\0';
    if ((rc = store_history_anchor(s, &purged, ahash, e)))
        return rc;
    rc = sqlite3_prepare_v2(s->db,
                            "SELECT id, hash, at, (SELECT count(*) FROM history) FROM history"
                            " ORDER BY id DESC LIMIT 1",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "history");
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        snprintf(hash, 65, "%s", col(st, 1) ? col(st, 1) : "");
        snprintf(at, 32, "%s", col(st, 2) ? col(st, 2) : "");
        *count = sqlite3_column_int64(st, 3) + purged;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_dberr(s, rc, e, "history");
}
