/* Documents to notify and their deliveries: the run reads unprocessed
 * documents, records one delivery per recipient address (a UNIQUE key makes
 * a second send to the same address impossible, however often `run` is
 * invoked) and moves deliveries through the spool states. */
#include "store-int.h"

#include "util/date.h"

/* Runs a cached statement to completion and resets it. */
static int done_cached(struct store *s, sqlite3_stmt *st, struct err *e, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_dberr(s, rc, e, what);
}

static int cached(struct store *s, enum stmt_id id, const char *sql, sqlite3_stmt **st,
                  struct err *e)
{
    *st = store_stmt(s, id, sql, e);
    return *st ? 0 : (e ? e->code : ERR_DB);
}

/* The explicit contact must exist and belong to the document's party. */
static int check_contact(struct store *s, long long contact, long long party, struct err *e)
{
    sqlite3_stmt *st;
    int rc, ok;

    if (!contact)
        return 0;
    if ((rc = store_prepare(s, "SELECT party_id = ?2 FROM contact WHERE id = ?1", &st, e)))
        return rc;
    sqlite3_bind_int64(st, 1, contact);
    sqlite3_bind_int64(st, 2, party);
    rc = sqlite3_step(st);
    ok = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (ok < 0)
        return err_set(e, ERR_NOTFOUND, "field 'contact': no contact with id %lld", contact);
    if (!ok)
        return err_set(e, ERR_NOTFOUND,
                       "field 'contact': contact %lld belongs to another party", contact);
    return 0;
}

static int site_of(struct store *s, long long party, const char *label, long long *id,
                   struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    *id = 0;
    if (!label)
        return 0;
    if ((rc = store_prepare(s, "SELECT id FROM address WHERE party_id = ? AND label = ?", &st, e)))
        return rc;
    sqlite3_bind_int64(st, 1, party);
    sqlite3_bind_text(st, 2, label, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return *id ? 0 : err_set(e, ERR_NOTFOUND, "field 'address': the party has no site '%s'", label);
}

/* The party, site and explicit contact d names, checked (as
 * store_document_insert says). */
static int document_ids(struct store *s, const struct store_document *d, long long *party,
                        long long *site, struct err *e)
{
    int rc;

    if ((rc = store_party_id(s, d->party_ref, party, e)) ||
        (rc = check_contact(s, d->contact_id, *party, e)) ||
        (rc = site_of(s, *party, d->address_label, site, e)))
        return rc;
    return 0;
}

/* Binds d's content (?3 to ?9) for an INSERT or an UPDATE of document. */
static void bind_content(sqlite3_stmt *st, const struct store_document *d, long long party,
                         long long site)
{
    sqlite3_bind_int64(st, 3, party);
    if (d->contact_id)
        sqlite3_bind_int64(st, 4, d->contact_id);
    if (site)
        sqlite3_bind_int64(st, 5, site);
    sqlite3_bind_text(st, 6, d->to_level ? d->to_level : "contacts", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 7, d->esign);
    sqlite3_bind_text(st, 8, d->fields ? d->fields : "{}", -1, SQLITE_STATIC);
    store_bind_text(st, 9, d->attachment);
}

int store_document_insert(struct store *s, struct store_document *d, struct err *e)
{
    sqlite3_stmt *st;
    long long party, site;
    int rc;

    if ((rc = document_ids(s, d, &party, &site, e)))
        return rc;
    rc = store_prepare(s,
                 "INSERT INTO document(type, ref, party_id, contact_id, address_id, to_level,"
                 " esign, fields, attachment) VALUES (?,?,?,?,?,?,?,?,?)",
                 &st, e);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, d->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, d->ref, -1, SQLITE_STATIC);
    bind_content(st, d, party, site);
    rc = store_run(s, st, e, "document");
    if (rc == ERR_EXISTS)
        return err_set(e, ERR_EXISTS, "a %s with ref '%s' already exists", d->type, d->ref);
    d->id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

int store_document_update(struct store *s, const struct store_document *d, struct err *e)
{
    sqlite3_stmt *st;
    long long party, site;
    int rc;

    if ((rc = document_ids(s, d, &party, &site, e)))
        return rc;
    rc = store_prepare(s,
                       "UPDATE document SET party_id = ?3, contact_id = ?4, address_id = ?5,"
                       " to_level = ?6, esign = ?7, fields = ?8, attachment = ?9 WHERE id = ?1",
                       &st, e);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, d->id);
    bind_content(st, d, party, site);
    return store_run(s, st, e, "document");
}

#define DOCUMENT_COLUMNS                                                                   \
    "SELECT d.id, d.type, d.ref, p.ref, coalesce(d.contact_id, 0), a.label,"                \
    " d.to_level, d.esign, d.fields, d.attachment, d.processed_at"                          \
    " FROM document d JOIN party p ON p.id = d.party_id"                                    \
    " LEFT JOIN address a ON a.id = d.address_id"

/* Steps st (DOCUMENT_COLUMNS) and calls cb for each row: SQLITE_DONE at
 * the end, else what stopped it. */
static int document_rows(sqlite3_stmt *st, store_document_cb cb, void *ctx)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_document d = {
            .id = sqlite3_column_int64(st, 0),
            .type = (const char *)sqlite3_column_text(st, 1),
            .ref = (const char *)sqlite3_column_text(st, 2),
            .party_ref = (const char *)sqlite3_column_text(st, 3),
            .contact_id = sqlite3_column_int64(st, 4),
            .address_label = (const char *)sqlite3_column_text(st, 5),
            .to_level = (const char *)sqlite3_column_text(st, 6),
            .esign = sqlite3_column_int(st, 7),
            .fields = (const char *)sqlite3_column_text(st, 8),
            .attachment = (const char *)sqlite3_column_text(st, 9),
            .processed_at = (const char *)sqlite3_column_text(st, 10),
        };
        if ((rc = cb(ctx, &d)))
            break;
    }
    return rc;
}

int store_document_list(struct store *s, const char *type, int only_new, long long after_id,
                        long long limit, store_document_cb cb, void *ctx, struct err *e)
{
    /* (cached: the run lists the next few hundred again and again; cb must
     * not list documents itself) */
    sqlite3_stmt *st = store_stmt(
        s, ST_DOCUMENT_LIST,
        DOCUMENT_COLUMNS
        " WHERE (?1 IS NULL OR d.type = ?1) AND (?2 = 0 OR d.processed_at IS NULL)"
        " AND d.id > ?3 ORDER BY d.id LIMIT ?4",
        e);
    int rc;

    if (!st)
        return ERR_DB;
    store_bind_text(st, 1, type);
    sqlite3_bind_int(st, 2, only_new);
    sqlite3_bind_int64(st, 3, after_id);
    sqlite3_bind_int64(st, 4, limit > 0 ? limit : -1);
    rc = document_rows(st, cb, ctx);
    return store_rows_end(s, st, 1, rc, e, "document");
}

int store_document_find(struct store *s, const char *type, const char *ref,
                        struct store_document_sends *n, store_document_cb cb, void *ctx,
                        struct err *e)
{
    sqlite3_stmt *st = NULL;
    long long id = 0;
    int rc;

    memset(n, 0, sizeof *n);
    if ((rc = store_prepare(s, DOCUMENT_COLUMNS " WHERE d.type = ? AND d.ref = ?", &st, e)))
        return rc;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ref, -1, SQLITE_STATIC);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        rc = document_rows(st, cb, ctx);
    }
    if ((rc = store_rows_end(s, st, 0, rc, e, "document")))
        return rc;
    if (!id)
        return err_set(e, ERR_NOTFOUND, "no %s with ref '%s'", type, ref);
    /* the UNIQUE (document_id, campaign, ...) key serves this */
    if ((rc = store_prepare(s,
                            "SELECT coalesce(sum(state = 'sent'), 0),"
                            " coalesce(sum(state = 'queued' OR state = 'deferred'), 0),"
                            " coalesce(sum(state = 'failed'), 0)"
                            " FROM delivery WHERE document_id = ? AND campaign = ''",
                            &st, e)))
        return rc;
    sqlite3_bind_int64(st, 1, id);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n->sent = sqlite3_column_int64(st, 0);
        n->pending = sqlite3_column_int64(st, 1);
        n->failed = sqlite3_column_int64(st, 2);
        rc = SQLITE_DONE;
    }
    return store_rows_end(s, st, 0, rc, e, "delivery");
}

int store_document_fields(struct store *s, const char *type, long long *ndocs,
                          int (*cb)(void *ctx, const char *name), void *ctx, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    *ndocs = 0;
    if ((rc = store_prepare(s, "SELECT count(*) FROM document WHERE ?1 IS NULL OR type = ?1",
                            &st, e)))
        return rc;
    store_bind_text(st, 1, type);
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        *ndocs = sqlite3_column_int64(st, 0);
    rc = store_rows_end(s, st, 0, rc == SQLITE_ROW ? SQLITE_DONE : rc, e, "document");
    if (rc || !*ndocs)
        return rc;
    if ((rc = store_prepare(s, "SELECT DISTINCT j.key FROM document d, json_each(d.fields) j"
                               " WHERE ?1 IS NULL OR d.type = ?1",
                            &st, e)))
        return rc;
    store_bind_text(st, 1, type);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((rc = cb(ctx, (const char *)sqlite3_column_text(st, 0))))
            break;
    return store_rows_end(s, st, 0, rc, e, "document");
}

int store_document_processed(struct store *s, long long id, const char *at, struct err *e)
{
    sqlite3_stmt *st;
    int rc = cached(s, ST_DOCUMENT_PROCESSED, "UPDATE document SET processed_at = ? WHERE id = ?",
                    &st, e);

    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, at, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    return done_cached(s, st, e, "document");
}

int store_delivery_find(struct store *s, long long document_id, const char *campaign,
                        const char *channel, const char *address, const char **state,
                        struct err *e)
{
    char *found = s->found_state; /* one per connection: threads have their own */
    sqlite3_stmt *st;
    int rc;

    *state = NULL;
    rc = cached(s, ST_DELIVERY_FIND,
                "SELECT state FROM delivery WHERE document_id = ? AND campaign = ?"
                " AND channel = ? AND address = ? COLLATE NOCASE"
                " ORDER BY state = 'failed' LIMIT 1",
                &st, e);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, document_id);
    sqlite3_bind_text(st, 2, campaign ? campaign : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, address, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(found, sizeof s->found_state, "%s", (const char *)sqlite3_column_text(st, 0));
        *state = found;
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_dberr(s, rc, e, "delivery");
}

/* The reason a delivery in state is given: its failure's; NULL (it keeps
 * the last failure's) in another state. */
static const char *fail_reason(const char *state, const char *reason)
{
    return strcmp(state, "failed") ? NULL : reason ? reason : "failed";
}

int store_delivery_add(struct store *s, struct store_delivery *d, struct err *e)
{
    char now[32];
    sqlite3_stmt *st;
    int rc;

    rc = cached(s, ST_DELIVERY_ADD,
                "INSERT INTO delivery(document_id, campaign, contact_id, channel, address,"
                " message_id, state, attempts, template, template_sha256, consent, updated_at,"
                " reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                &st, e);
    if (rc)
        return rc;
    date_utc_stamp(now);
    sqlite3_bind_int64(st, 1, d->document_id);
    sqlite3_bind_text(st, 2, d->campaign ? d->campaign : "", -1, SQLITE_STATIC);
    if (d->contact_id)
        sqlite3_bind_int64(st, 3, d->contact_id);
    else /* cached statements keep their bindings */
        sqlite3_bind_null(st, 3);
    sqlite3_bind_text(st, 4, d->channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, d->address, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, d->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, d->state, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, d->attempts);
    store_bind_text(st, 9, d->template_name);
    store_bind_text(st, 10, d->template_sha256);
    store_bind_text(st, 11, d->consent);
    sqlite3_bind_text(st, 12, now, -1, SQLITE_STATIC);
    store_bind_text(st, 13, fail_reason(d->state, d->reason));
    rc = done_cached(s, st, e, "delivery");
    if (!rc)
        d->id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

int store_delivery_update(struct store *s, long long id, const char *state, int attempts,
                          const char *reason, struct err *e)
{
    char now[32];
    sqlite3_stmt *st;
    int rc;

    rc = cached(s, ST_DELIVERY_UPDATE,
                "UPDATE delivery SET state = ?, attempts = ?, updated_at = ?,"
                " reason = coalesce(?, reason) WHERE id = ?",
                &st, e);
    if (rc)
        return rc;
    date_utc_stamp(now);
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, attempts);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    store_bind_text(st, 4, fail_reason(state, reason));
    sqlite3_bind_int64(st, 5, id);
    return done_cached(s, st, e, "delivery");
}

#define DELIVERY_COLUMNS                                                                   \
    "SELECT y.id, y.document_id, coalesce(y.contact_id, 0), y.campaign, y.channel,"         \
    " y.address, y.message_id, y.state, y.attempts, y.template, y.template_sha256,"         \
    " y.consent, d.ref, d.type, p.ref"                                                      \
    " FROM delivery y LEFT JOIN document d ON d.id = y.document_id"                         \
    " LEFT JOIN contact k ON k.id = y.contact_id"                                           \
    " LEFT JOIN party p ON p.id = coalesce(d.party_id, k.party_id)"

/* Steps st (DELIVERY_COLUMNS) and calls cb for each row; then resets st
 * when it is a cached statement, else finalizes it. */
static int delivery_rows(struct store *s, sqlite3_stmt *st, int is_cached, store_delivery_cb cb,
                         void *ctx, struct err *e)
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *campaign = (const char *)sqlite3_column_text(st, 3);
        struct store_delivery d = {
            .id = sqlite3_column_int64(st, 0),
            .document_id = sqlite3_column_int64(st, 1),
            .contact_id = sqlite3_column_int64(st, 2),
            .campaign = campaign && *campaign ? campaign : NULL,
            .channel = (const char *)sqlite3_column_text(st, 4),
            .address = (const char *)sqlite3_column_text(st, 5),
            .message_id = (const char *)sqlite3_column_text(st, 6),
            .state = (const char *)sqlite3_column_text(st, 7),
            .attempts = sqlite3_column_int(st, 8),
            .template_name = (const char *)sqlite3_column_text(st, 9),
            .template_sha256 = (const char *)sqlite3_column_text(st, 10),
            .consent = (const char *)sqlite3_column_text(st, 11),
            .document_ref = (const char *)sqlite3_column_text(st, 12),
            .document_type = (const char *)sqlite3_column_text(st, 13),
            .party_ref = (const char *)sqlite3_column_text(st, 14),
        };
        if ((rc = cb(ctx, &d)))
            break;
    }
    return store_rows_end(s, st, is_cached, rc, e, "delivery");
}

/* Deliveries that may go: documents', those of running campaigns (or of
 * one campaign), and not marketing SMS while they are held. */
#define SENDABLE                                                                          \
    " AND (CASE WHEN ?4 IS NOT NULL THEN y.campaign = ?4"                                  \
    "      ELSE y.campaign = '' OR EXISTS (SELECT 1 FROM campaign c"                       \
    "        WHERE c.name = y.campaign AND c.state = 'running') END)"                      \
    " AND NOT (?5 AND y.campaign <> '' AND EXISTS (SELECT 1 FROM campaign c"               \
    "        WHERE c.name = y.campaign AND c.purpose <> 'service'))"

/* A retry's deliveries (store_retry_begin). */
#define RETRY_SET " AND y.id IN (SELECT id FROM temp.retry_set)"

/* The pending deliveries' condition, written as delivery_pending's
 * (schema version 9) so that SQLite takes that index. */
#define PENDING "(y.state = 'queued' OR y.state = 'deferred')"

/* Walks the pending deliveries by id, through delivery_pending: a seek,
 * however many deliveries were ever sent. */
int store_delivery_pending(struct store *s, const struct store_pending *q, long long after_id,
                           long long limit, store_delivery_cb cb, void *ctx, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    if (q->retry_only)
        rc = store_prepare(s, DELIVERY_COLUMNS " WHERE " PENDING " AND y.channel = ?1"
                           " AND y.id > ?2" RETRY_SET SENDABLE " ORDER BY y.id LIMIT ?3", &st, e);
    else
        rc = cached(s, ST_DELIVERY_PENDING,
                    DELIVERY_COLUMNS " WHERE " PENDING " AND y.channel = ?1 AND y.id > ?2"
                                     SENDABLE " ORDER BY y.id LIMIT ?3",
                    &st, e);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, q->channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after_id);
    sqlite3_bind_int64(st, 3, limit > 0 ? limit : -1);
    store_bind_text(st, 4, q->campaign);
    sqlite3_bind_int(st, 5, q->hold_marketing);
    return delivery_rows(s, st, !q->retry_only, cb, ctx, e);
}

int store_delivery_count_pending(struct store *s, const struct store_pending *q, long long *n,
                                 struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    *n = 0;
    rc = store_prepare(s,
                 q->retry_only ? "SELECT count(*) FROM delivery y WHERE " PENDING
                                 " AND y.channel = ?1" RETRY_SET SENDABLE
                               : "SELECT count(*) FROM delivery y WHERE " PENDING
                                 " AND y.channel = ?1" SENDABLE, /* (?2, ?3 unused here) */
                 &st, e);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, q->channel, -1, SQLITE_STATIC);
    store_bind_text(st, 4, q->campaign);
    sqlite3_bind_int(st, 5, q->hold_marketing);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store_dberr(s, rc, e, "delivery");
}

int store_delivery_get(struct store *s, long long id, store_delivery_cb cb, void *ctx,
                       struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = cached(s, ST_DELIVERY_GET, DELIVERY_COLUMNS " WHERE y.id = ?", &st, e);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    return delivery_rows(s, st, 1, cb, ctx, e);
}

int store_delivery_by_spool(struct store *s, const char *prefix, store_delivery_cb cb,
                            void *ctx, struct err *e)
{
    char lo[128], hi[128];
    sqlite3_stmt *st;
    int rc;

    snprintf(lo, sizeof lo, "<%s@", prefix);
    snprintf(hi, sizeof hi, "<%s@\x7f", prefix);
    rc = cached(s, ST_DELIVERY_BY_SPOOL,
                DELIVERY_COLUMNS " WHERE y.message_id >= ? AND y.message_id < ?", &st, e);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, lo, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, hi, -1, SQLITE_TRANSIENT);
    return delivery_rows(s, st, 1, cb, ctx, e);
}

/* The failed deliveries of documents (not campaigns) that f selects, as
 * a condition on delivery y joined to document d (?1..?4: f's fields;
 * since, a UTC stamp).  The reason is the delivery's own (its last
 * failure's). */
#define RETRYABLE                                                                          \
    " y.campaign = '' AND y.state = 'failed'"                                              \
    " AND (?1 IS NULL OR d.type = ?1) AND (?2 IS NULL OR d.ref = ?2)"                      \
    " AND (?3 IS NULL OR y.updated_at >= ?3)"                                              \
    " AND (?4 IS NULL OR y.reason = ?4)"

static void bind_retry(sqlite3_stmt *st, const struct store_retry *f)
{
    store_bind_text(st, 1, f->type);
    store_bind_text(st, 2, f->ref);
    store_bind_text(st, 3, f->since);
    store_bind_text(st, 4, f->reason);
}

int store_document_retryable(struct store *s, const struct store_retry *f, long long after_id,
                             long long limit, store_document_cb cb, void *ctx, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s,
                       DOCUMENT_COLUMNS " JOIN delivery y ON y.document_id = d.id"
                       " WHERE d.id > ?5 AND" RETRYABLE
                       " GROUP BY d.id ORDER BY d.id LIMIT ?6",
                       &st, e);
    if (rc)
        return rc;
    bind_retry(st, f);
    sqlite3_bind_int64(st, 5, after_id);
    sqlite3_bind_int64(st, 6, limit > 0 ? limit : -1);
    rc = document_rows(st, cb, ctx);
    return store_rows_end(s, st, 0, rc, e, "document");
}

int store_delivery_retryable(struct store *s, const struct store_retry *f, long long document_id,
                             const char *channel, store_delivery_cb cb, void *ctx, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s, DELIVERY_COLUMNS " WHERE y.document_id = ?5 AND y.channel = ?6 AND"
                       RETRYABLE " ORDER BY y.id", &st, e);
    if (rc)
        return rc;
    bind_retry(st, f);
    sqlite3_bind_int64(st, 5, document_id);
    sqlite3_bind_text(st, 6, channel, -1, SQLITE_STATIC);
    return delivery_rows(s, st, 0, cb, ctx, e);
}

int store_retry_begin(struct store *s, const struct store_retry *f, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = store_exec(s, "CREATE TEMP TABLE IF NOT EXISTS retry_set(id INTEGER PRIMARY KEY);"
                            "DELETE FROM temp.retry_set", e)))
        return rc;
    rc = store_prepare(s,
                       "INSERT INTO temp.retry_set SELECT y.id FROM delivery y"
                       " JOIN document d ON d.id = y.document_id"
                       " WHERE " PENDING " AND y.campaign = ''"
                       " AND (?1 IS NULL OR d.type = ?1) AND (?2 IS NULL OR d.ref = ?2)"
                       " AND (?3 IS NULL OR y.updated_at >= ?3)"
                       " AND (?4 IS NULL OR y.reason = ?4)",
                       &st, e);
    if (rc)
        return rc;
    bind_retry(st, f);
    return store_run(s, st, e, "delivery");
}

int store_retry_add(struct store *s, long long delivery_id, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = store_prepare(s, "INSERT OR IGNORE INTO temp.retry_set(id) VALUES (?)", &st, e)))
        return rc;
    sqlite3_bind_int64(st, 1, delivery_id);
    return store_run(s, st, e, "delivery");
}

int store_delivery_drop(struct store *s, long long document_id, const char *channel,
                        const char *address, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s,
                       "DELETE FROM delivery WHERE document_id = ? AND campaign = ''"
                       " AND channel = ? AND address = ? COLLATE NOCASE AND state = 'failed'",
                       &st, e);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, document_id);
    sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, address, -1, SQLITE_STATIC);
    return store_run(s, st, e, "delivery");
}

int store_delivery_again(struct store *s, struct store_delivery *d, struct err *e)
{
    char now[32];
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s,
                       "UPDATE delivery SET state = ?1, contact_id = ?2, message_id = ?3,"
                       " template = ?4, template_sha256 = ?5, consent = ?6, updated_at = ?7,"
                       " reason = coalesce(?11, reason)"
                       " WHERE id = (SELECT id FROM delivery WHERE document_id = ?8"
                       " AND campaign = '' AND channel = ?9 AND address = ?10 COLLATE NOCASE"
                       " AND state = 'failed' LIMIT 1) RETURNING id, attempts",
                       &st, e);
    if (rc)
        return rc;
    date_utc_stamp(now);
    sqlite3_bind_text(st, 1, d->state, -1, SQLITE_STATIC);
    if (d->contact_id)
        sqlite3_bind_int64(st, 2, d->contact_id);
    sqlite3_bind_text(st, 3, d->message_id, -1, SQLITE_STATIC);
    store_bind_text(st, 4, d->template_name);
    store_bind_text(st, 5, d->template_sha256);
    store_bind_text(st, 6, d->consent);
    sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, d->document_id);
    sqlite3_bind_text(st, 9, d->channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, d->address, -1, SQLITE_STATIC);
    store_bind_text(st, 11, fail_reason(d->state, d->reason));
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        d->id = sqlite3_column_int64(st, 0);
        d->attempts = sqlite3_column_int(st, 1);
        rc = sqlite3_step(st);
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_NOTFOUND;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_NOTFOUND)
        return err_set(e, ERR_NOTFOUND, "no failed delivery of document %lld to %s",
                       d->document_id, d->address);
    return rc == SQLITE_DONE ? 0 : store_dberr(s, rc, e, "delivery");
}

int store_delivery_count_failed(struct store *s, long long *n, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    *n = 0;
    rc = store_prepare(s, "SELECT count(*) FROM delivery WHERE state = 'failed' AND campaign = ''",
                       &st, e);
    if (rc)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store_dberr(s, rc, e, "delivery");
}
