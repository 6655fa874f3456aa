/* Campaigns, their frozen recipient lists, and the suppression list. */
#include "store-int.h"

#define NOW_SQL "strftime('%Y-%m-%dT%H:%M:%SZ','now')"

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

int store_campaign_add(struct store *s, struct store_campaign *c, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s,
                 "INSERT INTO campaign(name, template, channel, purpose, selection, state,"
                 " scheduled_at, created_at) VALUES (?, ?, ?, ?, ?, 'draft', NULL, " NOW_SQL ")",
                 &st, e);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->template_name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->purpose, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, c->selection ? c->selection : "{}", -1, SQLITE_STATIC);
    if ((rc = store_run(s, st, e, "campaign")))
        return rc == ERR_EXISTS ? err_set(e, ERR_EXISTS, "campaign '%s' already exists", c->name)
                                : rc;
    c->id = sqlite3_last_insert_rowid(s->db);
    return 0;
}

int store_campaign_get(struct store *s, const char *name, const char *due,
                       store_campaign_cb cb, void *ctx, struct err *e)
{
    sqlite3_stmt *st;
    int rc, found = 0;

    rc = store_prepare(s,
                 "SELECT id, name, template, channel, purpose, selection, state, scheduled_at,"
                 " frozen_at, created_at FROM campaign"
                 " WHERE (?1 IS NULL OR name = ?1)"
                 " AND (?2 IS NULL OR state = 'running'"
                 "      OR (state = 'scheduled' AND scheduled_at <= ?2))"
                 " ORDER BY name",
                 &st, e);
    if (rc)
        return rc;
    store_bind_text(st, 1, name);
    store_bind_text(st, 2, due);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_campaign c = {
            .id = sqlite3_column_int64(st, 0), .name = col(st, 1), .template_name = col(st, 2),
            .channel = col(st, 3), .purpose = col(st, 4), .selection = col(st, 5),
            .state = col(st, 6), .scheduled_at = col(st, 7), .frozen_at = col(st, 8),
            .created_at = col(st, 9),
        };
        found = 1;
        if ((rc = cb(ctx, &c)))
            break;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return rc > 0 ? store_dberr(s, rc, e, "campaign") : rc;
    if (name && !found)
        return err_set(e, ERR_NOTFOUND, "no campaign named '%s'", name);
    return 0;
}

int store_campaign_set_state(struct store *s, long long id, const char *state,
                             const char *scheduled_at, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s,
                 "UPDATE campaign SET state = ?, scheduled_at = coalesce(?, scheduled_at)"
                 " WHERE id = ?",
                 &st, e);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    store_bind_text(st, 2, scheduled_at);
    sqlite3_bind_int64(st, 3, id);
    return store_run(s, st, e, "campaign");
}

int store_campaign_state(struct store *s, long long id, char *out, size_t n, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    out[0] = '\0';
    rc = store_prepare(s, "SELECT state FROM campaign WHERE id = ?", &st, e);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(out, n, "%s", col(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store_dberr(s, rc, e, "campaign");
}

int store_campaign_rm_draft(struct store *s, long long id, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s, "DELETE FROM campaign WHERE id = ? AND state = 'draft'", &st, e);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = store_run(s, st, e, "campaign")))
        return rc;
    if (!sqlite3_changes(s->db))
        return err_set(e, ERR_INPUT, "campaign was launched: it stays in the history");
    return 0;
}

int store_campaign_freeze(struct store *s, long long id, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s, "UPDATE campaign SET frozen_at = " NOW_SQL " WHERE id = ?", &st, e);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    return store_run(s, st, e, "campaign");
}

int store_campaign_rcpt_add(struct store *s, long long id, long long seq, long long contact_id,
                            const char *address, const char *reason, const char *token,
                            struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s,
                 "INSERT INTO campaign_recipient(campaign_id, seq, contact_id, address, reason,"
                 " token) VALUES (?, ?, ?, ?, ?, ?)",
                 &st, e);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, seq);
    if (contact_id)
        sqlite3_bind_int64(st, 3, contact_id);
    sqlite3_bind_text(st, 4, address ? address : "", -1, SQLITE_STATIC);
    store_bind_text(st, 5, reason);
    store_bind_text(st, 6, token);
    return store_run(s, st, e, "campaign recipient");
}

int store_campaign_rcpts(struct store *s, long long id, store_crcpt_cb cb, void *ctx,
                         struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s,
                 "SELECT seq, coalesce(contact_id, 0), address, reason, token"
                 " FROM campaign_recipient WHERE campaign_id = ? ORDER BY seq",
                 &st, e);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = cb(ctx, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), col(st, 2),
                     col(st, 3), col(st, 4))))
            break;
    return store_rows_end(s, st, 0, rc, e, "campaign recipient");
}

int store_campaign_token(struct store *s, const char *token, char *address, size_t n,
                         char *campaign, size_t cn, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s,
                 "SELECT r.address, c.name FROM campaign_recipient r"
                 " JOIN campaign c ON c.id = r.campaign_id WHERE r.token = ?",
                 &st, e);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(address, n, "%s", col(st, 0));
        snprintf(campaign, cn, "%s", col(st, 1));
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return err_set(e, ERR_NOTFOUND, "no recipient has the unsubscribe token '%s'", token);
    return rc == SQLITE_ROW ? 0 : store_dberr(s, rc, e, "campaign recipient");
}

/* The campaign's deliveries, with delivery_campaign's condition (the
 * names are never '', but SQLite takes that partial index only when the
 * query says so). */
#define OF_CAMPAIGN " FROM delivery WHERE campaign = ?2 AND campaign <> ''"

int store_campaign_counts(struct store *s, const struct store_campaign *c,
                          struct store_campaign_counts *out, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    memset(out, 0, sizeof *out);
    rc = store_prepare(s,
                 "SELECT (SELECT count(*) FROM campaign_recipient WHERE campaign_id = ?1"
                 "         AND reason IS NULL),"
                 " (SELECT count(*) FROM campaign_recipient WHERE campaign_id = ?1"
                 "         AND reason IS NOT NULL),"
                 " (SELECT count(*)" OF_CAMPAIGN " AND state = 'queued'),"
                 " (SELECT count(*)" OF_CAMPAIGN " AND state = 'sent'),"
                 " (SELECT count(*)" OF_CAMPAIGN " AND state = 'deferred'),"
                 " (SELECT count(*)" OF_CAMPAIGN " AND state = 'failed')",
                 &st, e);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, c->id);
    sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->recipients = sqlite3_column_int64(st, 0);
        out->skipped = sqlite3_column_int64(st, 1);
        out->queued = sqlite3_column_int64(st, 2);
        out->sent = sqlite3_column_int64(st, 3);
        out->deferred = sqlite3_column_int64(st, 4);
        out->failed = sqlite3_column_int64(st, 5);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store_dberr(s, rc, e, "campaign");
}

int store_suppression_add(struct store *s, const char *address, const char *source,
                          struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s, "INSERT INTO suppression(address, at, source) VALUES (?, " NOW_SQL ", ?)", &st,
                 e);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
    return store_run(s, st, e, "suppression");
}

int store_suppressed(struct store *s, const char *address, int *yes, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    *yes = 0;
    rc = store_prepare(s, "SELECT 1 FROM suppression WHERE address = ?", &st, e);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    *yes = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_dberr(s, rc, e, "suppression");
}

int store_suppression_list(struct store *s, store_suppression_cb cb, void *ctx, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s, "SELECT address, at, source FROM suppression ORDER BY at, address", &st, e);
    if (rc)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = cb(ctx, col(st, 0), col(st, 1), col(st, 2))))
            break;
    return store_rows_end(s, st, 0, rc, e, "suppression");
}

/* ---- the asset-freeze register ---- */

int store_registry_put(struct store *s, const char *source, const char *published,
                       long long entries, const char *content, size_t len, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s,
                 "INSERT OR REPLACE INTO registry(id, source, published, entries, loaded_at,"
                 " content) VALUES (1, ?, ?, ?, " NOW_SQL ", ?)",
                 &st, e);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
    store_bind_text(st, 2, published);
    sqlite3_bind_int64(st, 3, entries);
    sqlite3_bind_blob(st, 4, content, (int)len, SQLITE_STATIC);
    return store_run(s, st, e, "registry");
}

int store_registry_get(struct store *s, struct buf *out, char *source, size_t n, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s, "SELECT source, content FROM registry WHERE id = 1", &st, e);
    if (rc)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(source, n, "%s", col(st, 0));
        buf_add(out, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return err_set(e, ERR_NOTFOUND, "no register loaded (postier registry load FILE)");
    return rc == SQLITE_ROW ? 0 : store_dberr(s, rc, e, "registry");
}

int store_contact_registry_set(struct store *s, long long id, const char *match, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s, "UPDATE contact SET registry_match = ? WHERE id = ?", &st, e);
    if (rc)
        return rc;
    store_bind_text(st, 1, match);
    sqlite3_bind_int64(st, 2, id);
    return store_run(s, st, e, "contact");
}

int store_contact_registry_get(struct store *s, long long id, char *match, size_t n,
                               char *cleared, size_t cn, struct err *e)
{
    sqlite3_stmt *st = store_stmt(s, ST_CONTACT_REGISTRY,
                                  "SELECT registry_match, registry_cleared FROM contact"
                                  " WHERE id = ?",
                                  e);
    int rc;

    match[0] = '\0';
    if (cleared)
        cleared[0] = '\0';
    if (!st)
        return e ? e->code : ERR_DB;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(match, n, "%s", col(st, 0) ? col(st, 0) : "");
        if (cleared)
            snprintf(cleared, cn, "%s", col(st, 1) ? col(st, 1) : "");
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return err_set(e, ERR_NOTFOUND, "no contact %lld", id);
    return rc == SQLITE_ROW ? 0 : store_dberr(s, rc, e, "contact");
}

int store_contact_registry_clear(struct store *s, long long id, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s,
                 "UPDATE contact SET registry_cleared = substr(registry_match, 1,"
                 " instr(registry_match, char(9)) - 1), registry_match = NULL"
                 " WHERE id = ? AND registry_match IS NOT NULL",
                 &st, e);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = store_run(s, st, e, "contact")))
        return rc;
    return sqlite3_changes(s->db) ? 0
                                  : err_set(e, ERR_NOTFOUND, "contact %lld has no register match",
                                            id);
}

int store_registry_matches(struct store *s, store_match_cb cb, void *ctx, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s,
                 "SELECT c.id, p.ref, c.registry_match FROM contact c"
                 " JOIN party p ON p.id = c.party_id"
                 " WHERE c.registry_match IS NOT NULL ORDER BY c.id",
                 &st, e);
    if (rc)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = cb(ctx, sqlite3_column_int64(st, 0), col(st, 1), col(st, 2))))
            break;
    return store_rows_end(s, st, 0, rc, e, "contact");
}
