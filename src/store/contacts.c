/* Contact-specific store operations: deletion guarded by links (seed 000:
 * a contact tied to an event, an e-mail or a document cannot be deleted)
 * and the merge of duplicates. */
#include "store-int.h"

int store_contact_rm(struct store *s, long long id, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc, linked = -1;

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT " STORE_CONTACT_LINKED("c.id") " FROM contact c WHERE c.id = ?",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "contact");
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        linked = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (linked < 0)
        return err_set(e, ERR_NOTFOUND, "no contact with id %lld", id);
    if (linked)
        return err_set(e, ERR_INUSE,
                       "contact %lld is linked to sent messages, documents or events and cannot "
                       "be deleted; end it instead (postier contacts end %lld)",
                       id, id);
    rc = sqlite3_prepare_v2(s->db, "DELETE FROM contact WHERE id = ?", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "contact");
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store_dberr(s, rc, e, "contact");
    return store_search_put(s, id, NULL, 0, e);
}

/* Moves every reference to dup onto keep, records the merge, removes dup
 * (the caller saved keep with what dup brings, in the same transaction). */
int store_contact_merge(struct store *s, long long keep, long long dup, struct err *e)
{
    static const char *const moves[] = {
        "UPDATE document SET contact_id = ?1 WHERE contact_id = ?2",
        "UPDATE delivery SET contact_id = ?1 WHERE contact_id = ?2",
        "UPDATE event SET contact_id = ?1 WHERE contact_id = ?2",
        "UPDATE campaign_recipient SET contact_id = ?1 WHERE contact_id = ?2",
        "UPDATE contact_merge SET keep_id = ?1 WHERE keep_id = ?2",
        "INSERT INTO contact_merge(dup_id, keep_id, merged_at)"
        " VALUES (?2, ?1, strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
        "DELETE FROM contact WHERE id = ?2",
    };
    sqlite3_stmt *st;
    size_t i;
    int rc;

    if (keep == dup)
        return err_set(e, ERR_INPUT, "a contact cannot be merged into itself (%lld)", keep);
    for (i = 0; i < sizeof moves / sizeof moves[0]; i++) {
        if ((rc = sqlite3_prepare_v2(s->db, moves[i], -1, &st, NULL)) != SQLITE_OK)
            return store_dberr(s, rc, e, "contact merge");
        sqlite3_bind_int64(st, 1, keep);
        sqlite3_bind_int64(st, 2, dup);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return store_dberr(s, rc, e, "contact merge");
    }
    return store_search_put(s, dup, NULL, 0, e);
}
