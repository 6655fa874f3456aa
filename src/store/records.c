/* Parties, addresses and contacts as generic records: one column table per
 * kind drives the SQL for insert, upsert, update, get and list, so the CSV
 * column names of SPEC §8 are written once.  Foreign keys are given by
 * their natural keys (party ref, type code, site label) and resolved here. */
#include "store-int.h"

#include <stdio.h>

#include "contacts/validate.h"
#include "util/buf.h"
#include "util/xalloc.h"

enum col_kind { C_TEXT, C_PARTY, C_TYPE, C_SITE, C_INT, C_FLAGS, C_CONSENTS };

struct col {
    const char *name;
    enum col_kind kind;
};

struct desc {
    const char *table, *alias, *from, *order, *key;
    const char *keyfrom; /* the joins a listing's filter and order need */
    size_t n;
    const struct col *cols;
};

static const struct col party_cols[PF_COUNT] = {
    {"ref", C_TEXT}, {"kind", C_TEXT}, {"name", C_TEXT}, {"civility", C_TEXT},
    {"first_name", C_TEXT}, {"last_name", C_TEXT}, {"email", C_TEXT}, {"phones", C_TEXT},
    {"locale", C_TEXT}, {"client_ref", C_TEXT},
};
static const struct col address_cols[AF_COUNT] = {
    {"party_ref", C_PARTY}, {"label", C_TEXT}, {"lines", C_TEXT},
    {"postcode", C_TEXT}, {"city", C_TEXT}, {"country", C_TEXT},
    {"contact_name", C_TEXT}, {"contact_email", C_TEXT}, {"contact_phone", C_TEXT},
};
static const struct col contact_cols[CF_COUNT] = {
    {"party_ref", C_PARTY}, {"type", C_TYPE}, {"civility", C_TEXT},
    {"last_name", C_TEXT}, {"first_name", C_TEXT}, {"company", C_TEXT},
    {"department", C_TEXT}, {"function", C_TEXT}, {"email", C_TEXT},
    {"phones", C_TEXT}, {"fax", C_TEXT}, {"address", C_TEXT},
    {"postcode", C_TEXT}, {"city", C_TEXT}, {"country", C_TEXT},
    {"site", C_SITE}, {"website", C_TEXT}, {"note", C_TEXT},
    {"locale", C_TEXT}, {"display_order", C_INT}, {"valid_from", C_TEXT},
    {"valid_until", C_TEXT}, {"flags", C_FLAGS}, {"consents", C_CONSENTS},
};

static const struct desc descs[] = {
    [STORE_PARTY] = {"party", "p", "party p", "p.ref", "ref", "party p", PF_COUNT, party_cols},
    [STORE_ADDRESS] = {"address", "a", "address a JOIN party p ON p.id = a.party_id",
                       "p.ref, a.label", "party_id, label",
                       "address a JOIN party p ON p.id = a.party_id", AF_COUNT, address_cols},
    [STORE_CONTACT] = {"contact", "c",
                       "contact c JOIN party p ON p.id = c.party_id"
                       " LEFT JOIN contact_type t ON t.id = c.type_id"
                       " LEFT JOIN address a ON a.id = c.site_id",
                       "p.ref, c.display_order, c.id", NULL,
                       "contact c JOIN party p ON p.id = c.party_id", CF_COUNT, contact_cols},
};

size_t store_nfields(enum store_kind kind)
{
    return descs[kind].n;
}

const char *store_field_name(enum store_kind kind, size_t i)
{
    return i < descs[kind].n ? descs[kind].cols[i].name : NULL;
}

int store_field_index(enum store_kind kind, const char *name)
{
    size_t i;

    for (i = 0; i < descs[kind].n; i++)
        if (!strcmp(descs[kind].cols[i].name, name))
            return (int)i;
    return -1;
}

/* Record values are packed into chunks: one allocation per record instead
 * of one per field, and the values of a row sit together in memory (the
 * import's writer thread reads them right after the reader wrote them). */
struct store_chunk {
    struct store_chunk *next;
    size_t used, size;
    char data[];
};

#define CHUNK_MIN 2048

void store_rec_init(struct store_rec *r, enum store_kind kind)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
}

void store_rec_release(struct store_rec *r)
{
    struct store_chunk *c, *next;

    if (!r)
        return;
    for (c = r->mem; c; c = next) {
        next = c->next;
        free(c);
    }
    memset(r->v, 0, sizeof r->v);
    r->mem = NULL;
}

void store_rec_clear(struct store_rec *r, enum store_kind kind)
{
    struct store_chunk *keep = r->mem;

    if (keep) {
        r->mem = keep->next;
        keep->next = NULL;
        keep->used = 0;
    }
    store_rec_release(r);
    r->mem = keep;
    r->kind = kind;
    r->id = 0;
}

void store_rec_set(struct store_rec *r, size_t i, const char *v)
{
    struct store_chunk *c = r->mem;
    size_t n;

    if (!v || !*v) {
        r->v[i] = NULL;
        return;
    }
    n = strlen(v) + 1;
    if (!c || c->size - c->used < n) {
        size_t size = n > CHUNK_MIN ? n : CHUNK_MIN;
        c = xmalloc(sizeof *c + size);
        c->size = size;
        c->used = 0;
        c->next = r->mem;
        r->mem = c;
    }
    memcpy(c->data + c->used, v, n);
    r->v[i] = c->data + c->used;
    c->used += n;
}

/* Name of the SQL column that stores col. */
static const char *sql_column(const struct col *c)
{
    switch (c->kind) {
    case C_PARTY: return "party_id";
    case C_TYPE: return "type_id";
    case C_SITE: return "site_id";
    default: return c->name;
    }
}

/* Expression that reads col back as its natural value. */
static void select_expr(struct buf *b, const struct desc *d, const struct col *c)
{
    switch (c->kind) {
    case C_PARTY: buf_adds(b, "p.ref"); break;
    case C_TYPE: buf_adds(b, "t.code"); break;
    case C_SITE: buf_adds(b, "a.label"); break;
    default: buf_printf(b, "%s.%s", d->alias, c->name); break;
    }
}

int store_party_id(struct store *s, const char *ref, long long *id, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    if (!ref || !*ref)
        return err_set(e, ERR_INPUT, "party_ref is required");
    if (s->last_ref && !strcmp(s->last_ref, ref)) {
        *id = s->last_party;
        return 0;
    }
    st = store_stmt(s, ST_PARTY_ID, "SELECT id FROM party WHERE ref = ?", e);
    if (!st)
        return e ? e->code : ERR_DB;
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        free(s->last_ref);
        s->last_ref = xstrdup(ref);
        s->last_party = *id;
        return 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_dberr(s, rc, e, "party");
    return err_set(e, ERR_NOTFOUND, "no party with ref '%s'", ref);
}

int store_party_claims(struct store *s, const char *ref, struct strv *out, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    rc = store_prepare(s, "SELECT ref FROM party WHERE kind = 'claim' AND client_ref = ?"
                          " ORDER BY ref", &st, e);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        strv_push(out, (const char *)sqlite3_column_text(st, 0));
    return store_rows_end(s, st, 0, rc, e, "party");
}

static int site_id(struct store *s, long long party, const char *ref, const char *label,
                   long long *id, struct err *e)
{
    sqlite3_stmt *st = store_stmt(s, ST_SITE_ID,
                                  "SELECT id FROM address WHERE party_id = ? AND label = ?", e);
    int rc;

    if (!st)
        return e ? e->code : ERR_DB;
    sqlite3_bind_int64(st, 1, party);
    sqlite3_bind_text(st, 2, label, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc != SQLITE_DONE)
        return store_dberr(s, rc, e, "address");
    return err_set(e, ERR_NOTFOUND, "party '%s' has no address (site) labelled '%s'", ref, label);
}

/* Binds field i of r as parameter i+1, resolving references. */
static int bind_field(struct store *s, sqlite3_stmt *st, const struct store_rec *r,
                      const struct col *c, size_t i, long long *party, struct err *e)
{
    const char *v = r->v[i];
    long long id;
    unsigned bits = 0;
    int rc = 0;

    switch (c->kind) {
    case C_TEXT: return store_bind_text(st, (int)i + 1, v) == SQLITE_OK ? 0 : ERR_DB;
    case C_PARTY:
        rc = store_party_id(s, v, party, e);
        if (!rc)
            sqlite3_bind_int64(st, (int)i + 1, *party);
        return rc;
    case C_TYPE:
        if (!v)
            return sqlite3_bind_null(st, (int)i + 1) == SQLITE_OK ? 0 : ERR_DB;
        rc = store_type_id(s, v, &id, e);
        if (!rc)
            sqlite3_bind_int64(st, (int)i + 1, id);
        return rc;
    case C_SITE:
        if (!v)
            return sqlite3_bind_null(st, (int)i + 1) == SQLITE_OK ? 0 : ERR_DB;
        rc = site_id(s, *party, r->v[0], v, &id, e);
        if (!rc)
            sqlite3_bind_int64(st, (int)i + 1, id);
        return rc;
    case C_INT:
        if (!v) /* the SQL supplies the default (see value_expr) */
            return sqlite3_bind_null(st, (int)i + 1) == SQLITE_OK ? 0 : ERR_DB;
        sqlite3_bind_int64(st, (int)i + 1, strtoll(v, NULL, 10));
        return 0;
    case C_FLAGS:
    case C_CONSENTS:
        rc = c->kind == C_FLAGS ? validate_flags_parse(v ? v : "", &bits, e)
                                : validate_consents_parse(v ? v : "", &bits, e);
        if (!rc)
            sqlite3_bind_int64(st, (int)i + 1, bits);
        return rc;
    }
    return ERR_INTERNAL;
}

/* Binds every field; party (the first field for addresses and contacts)
 * is bound first so sites can be resolved within it. */
static int bind_all(struct store *s, sqlite3_stmt *st, const struct store_rec *r,
                    struct err *e)
{
    const struct desc *d = &descs[r->kind];
    long long party = 0;
    size_t i;
    int rc;

    for (i = 0; i < d->n; i++) {
        rc = bind_field(s, st, r, &d->cols[i], i, &party, e);
        if (rc)
            return rc ? rc : ERR_DB;
    }
    return 0;
}

/* The value bound for field i: display order defaults to after the
 * party's last contact on insert, and to the current value on update. */
static void value_expr(struct buf *b, const struct col *c, size_t i, int update)
{
    if (c->kind != C_INT)
        buf_printf(b, "?%zu", i + 1);
    else if (update)
        buf_printf(b, "coalesce(?%zu, %s)", i + 1, c->name);
    else
        buf_printf(b, "coalesce(?%zu, (SELECT coalesce(max(x.%s), 0) + 1 FROM contact x"
                      " WHERE x.party_id = ?1))", i + 1, c->name);
}

/* INSERT INTO t(cols) VALUES (?1..?n) [ON CONFLICT(key) DO UPDATE ...] */
static void insert_sql(struct buf *b, const struct desc *d, int upsert)
{
    size_t i;

    buf_printf(b, "INSERT INTO %s(", d->table);
    for (i = 0; i < d->n; i++)
        buf_printf(b, "%s%s", i ? ", " : "", sql_column(&d->cols[i]));
    buf_adds(b, ") VALUES (");
    for (i = 0; i < d->n; i++) {
        buf_adds(b, i ? ", " : "");
        value_expr(b, &d->cols[i], i, 0);
    }
    buf_addc(b, ')');
    if (!upsert)
        return;
    buf_printf(b, " ON CONFLICT(%s) DO UPDATE SET ", d->key);
    for (i = 0; i < d->n; i++)
        buf_printf(b, "%s%s = excluded.%s", i ? ", " : "", sql_column(&d->cols[i]),
                   sql_column(&d->cols[i]));
}

static int write_rec(struct store *s, struct store_rec *r, int upsert, const char *search,
                     struct err *e)
{
    static const enum stmt_id ids[] = {ST_INSERT_PARTY, ST_INSERT_ADDRESS, ST_INSERT_CONTACT};
    const struct desc *d = &descs[r->kind];
    sqlite3_stmt *st;
    struct buf sql;
    int rc;

    /* the statement is prepared once per connection (cached by id) */
    buf_init(&sql, 0);
    if (upsert || !s->st[ids[r->kind]])
        insert_sql(&sql, d, upsert);
    st = upsert ? NULL : store_stmt(s, ids[r->kind], buf_str(&sql), e);
    if (upsert && (rc = sqlite3_prepare_v2(s->db, buf_str(&sql), -1, &st, NULL)) != SQLITE_OK) {
        st = NULL;
        store_dberr(s, rc, e, d->table);
    }
    buf_release(&sql);
    if (!st)
        return e ? e->code : ERR_DB;
    rc = bind_all(s, st, r, e);
    if (!rc) {
        int src = sqlite3_step(st);
        rc = src == SQLITE_DONE ? 0 : store_dberr(s, src, e, d->table);
    }
    if (!rc)
        r->id = sqlite3_last_insert_rowid(s->db);
    if (upsert)
        sqlite3_finalize(st);
    else
        sqlite3_reset(st);
    if (!rc && r->kind == STORE_CONTACT)
        rc = store_search_put(s, r->id, search, 1, e);
    return rc;
}

int store_insert(struct store *s, struct store_rec *r, const char *search, struct err *e)
{
    return write_rec(s, r, 0, search, e);
}

int store_upsert(struct store *s, struct store_rec *r, struct err *e)
{
    if (r->kind == STORE_CONTACT)
        return err_set(e, ERR_INTERNAL, "contacts have no natural key to upsert on");
    return write_rec(s, r, 1, NULL, e);
}

int store_update(struct store *s, struct store_rec *r, const char *search, struct err *e)
{
    const struct desc *d = &descs[r->kind];
    sqlite3_stmt *st = NULL;
    struct buf sql;
    size_t i;
    int rc;

    buf_init(&sql, 0);
    buf_printf(&sql, "UPDATE %s SET ", d->table);
    for (i = 0; i < d->n; i++) {
        buf_printf(&sql, "%s%s = ", i ? ", " : "", sql_column(&d->cols[i]));
        value_expr(&sql, &d->cols[i], i, 1);
    }
    buf_printf(&sql, " WHERE id = ?%zu", d->n + 1);
    rc = sqlite3_prepare_v2(s->db, buf_str(&sql), -1, &st, NULL);
    buf_release(&sql);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, d->table);
    rc = bind_all(s, st, r, e);
    if (!rc) {
        sqlite3_bind_int64(st, (int)d->n + 1, r->id);
        int src = sqlite3_step(st);
        rc = src == SQLITE_DONE ? 0 : store_dberr(s, src, e, d->table);
    }
    sqlite3_finalize(st);
    if (!rc && sqlite3_changes(s->db) == 0)
        rc = err_set(e, ERR_NOTFOUND, "no %s with id %lld", d->table, r->id);
    if (!rc && r->kind == STORE_CONTACT)
        rc = store_search_put(s, r->id, search, 0, e);
    return rc;
}

/* SELECT id, fields... FROM ... : the column list shared by get and list. */
static void select_sql(struct buf *b, const struct desc *d)
{
    size_t i;

    buf_printf(b, "SELECT %s.id", d->alias);
    for (i = 0; i < d->n; i++) {
        buf_adds(b, ", ");
        select_expr(b, d, &d->cols[i]);
    }
    buf_printf(b, " FROM %s", d->from);
}

/* Reads the current row of st (columns as select_sql) into r. */
static void read_row(sqlite3_stmt *st, struct store_rec *r)
{
    const struct desc *d = &descs[r->kind];
    struct buf b;
    size_t i;

    r->id = sqlite3_column_int64(st, 0);
    buf_init(&b, 0);
    for (i = 0; i < d->n; i++) {
        const char *v = (const char *)sqlite3_column_text(st, (int)i + 1);
        if (d->cols[i].kind == C_FLAGS || d->cols[i].kind == C_CONSENTS) {
            unsigned bits = (unsigned)sqlite3_column_int64(st, (int)i + 1);
            buf_reset(&b);
            if (d->cols[i].kind == C_FLAGS)
                validate_flags_format(&b, bits);
            else
                validate_consents_format(&b, bits);
            v = buf_str(&b);
        }
        store_rec_set(r, i, v);
    }
    buf_release(&b);
}

int store_get(struct store *s, enum store_kind kind, long long id, const char *key,
              struct store_rec *r, struct err *e)
{
    static const enum stmt_id by_id[] = {ST_GET_PARTY, ST_GET_ADDRESS, ST_GET_CONTACT};
    const struct desc *d = &descs[kind];
    int by_ref = kind == STORE_PARTY && key;
    enum stmt_id sid = by_ref ? ST_GET_PARTY_REF : by_id[kind];
    sqlite3_stmt *st;
    struct buf sql;
    int rc;

    buf_init(&sql, 0);
    if (!s->st[sid]) { /* prepared once per connection */
        select_sql(&sql, d);
        if (by_ref)
            buf_adds(&sql, " WHERE p.ref = ?1");
        else
            buf_printf(&sql, " WHERE %s.id = ?1", d->alias);
    }
    st = store_stmt(s, sid, buf_str(&sql), e);
    buf_release(&sql);
    if (!st)
        return e ? e->code : ERR_DB;
    if (by_ref)
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    r->kind = kind;
    if (rc == SQLITE_ROW) {
        read_row(st, r);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = key ? err_set(e, ERR_NOTFOUND, "no %s '%s'", d->table, key)
                 : err_set(e, ERR_NOTFOUND, "no %s with id %lld", d->table, id);
    } else {
        rc = store_dberr(s, rc, e, d->table);
    }
    sqlite3_reset(st);
    return rc;
}

/* Steps st, handing each row to cb as a record (one reused record). */
static int emit_rows(struct store *s, sqlite3_stmt *st, enum store_kind kind, store_rec_cb cb,
                     void *ctx, struct err *e)
{
    struct store_rec r;
    int rc, crc = 0;

    store_rec_init(&r, kind);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_rec_clear(&r, kind);
        read_row(st, &r);
        if ((crc = cb(ctx, &r)))
            break;
    }
    store_rec_release(&r);
    if (crc < 0) /* the callback's error: never taken for the end of the list */
        return crc;
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_dberr(s, rc, e, descs[kind].table);
}

/* The common listing of the nightly run: one party's contacts (valid on a
 * date) or addresses, with a statement prepared once. */
static int list_of_party(struct store *s, enum store_kind kind, const struct store_query *q,
                         store_rec_cb cb, void *ctx, struct err *e)
{
    const struct desc *d = &descs[kind];
    enum stmt_id sid = kind == STORE_CONTACT ? ST_LIST_CONTACTS_OF_PARTY
                                             : ST_LIST_ADDRESSES_OF_PARTY;
    sqlite3_stmt *st;
    struct buf sql;
    int rc;

    buf_init(&sql, 0);
    if (!s->st[sid]) {
        select_sql(&sql, d);
        buf_printf(&sql, " WHERE %s.party_id = (SELECT id FROM party WHERE ref = ?1)", d->alias);
        if (kind == STORE_CONTACT)
            buf_adds(&sql, " AND (?2 IS NULL OR ((c.valid_from IS NULL OR c.valid_from <= ?2)"
                           " AND (c.valid_until IS NULL OR c.valid_until >= ?2)))");
        buf_printf(&sql, " ORDER BY %s", d->order);
    }
    st = store_stmt(s, sid, buf_str(&sql), e);
    buf_release(&sql);
    if (!st)
        return e ? e->code : ERR_DB;
    sqlite3_bind_text(st, 1, q->party_ref, -1, SQLITE_STATIC);
    if (kind == STORE_CONTACT)
        store_bind_text(st, 2, q->date);
    rc = emit_rows(s, st, kind, cb, ctx, e);
    sqlite3_reset(st);
    return rc;
}

/* WHERE clause of a listing; binds are appended to vals in order. */
static void where_sql(struct buf *b, enum store_kind kind, const struct store_query *q,
                      const char **vals, int *nvals, int nwords, char bits[2][24])
{
    int first = 1;
#define AND() (buf_adds(b, first ? " WHERE " : " AND "), first = 0)

    if (q->party_ref) {
        AND();
        if (kind == STORE_PARTY)
            buf_adds(b, "p.ref = ?");
        else /* no join needed to count */
            buf_printf(b, "%s.party_id = (SELECT id FROM party WHERE ref = ?)",
                       descs[kind].alias);
        vals[(*nvals)++] = q->party_ref;
    }
    if (q->kind && kind == STORE_PARTY) {
        AND();
        buf_adds(b, "p.kind = ?");
        vals[(*nvals)++] = q->kind;
    }
    if (q->date && kind == STORE_CONTACT) {
        AND();
        buf_adds(b, "(c.valid_from IS NULL OR c.valid_from <= ?)"
                    " AND (c.valid_until IS NULL OR c.valid_until >= ?)");
        vals[(*nvals)++] = q->date;
        vals[(*nvals)++] = q->date;
    }
    if (nwords && kind == STORE_CONTACT) {
        AND();
        buf_adds(b, "c.id IN (SELECT id FROM temp.hits)");
    }
    if (q->type && kind == STORE_CONTACT) {
        AND();
        buf_adds(b, "c.type_id = (SELECT id FROM contact_type WHERE code = ?)");
        vals[(*nvals)++] = q->type;
    }
    if (q->flags && kind == STORE_CONTACT) { /* values are bound as text */
        AND();
        snprintf(bits[0], sizeof bits[0], "%u", q->flags);
        buf_adds(b, "(c.flags & CAST(? AS INTEGER)) = CAST(? AS INTEGER)");
        vals[(*nvals)++] = bits[0];
        vals[(*nvals)++] = bits[0];
    }
    if (q->consents && kind == STORE_CONTACT) {
        AND();
        snprintf(bits[1], sizeof bits[1], "%u", q->consents);
        buf_adds(b, "(c.consents & CAST(? AS INTEGER)) = CAST(? AS INTEGER)");
        vals[(*nvals)++] = bits[1];
        vals[(*nvals)++] = bits[1];
    }
#undef AND
}

#define MAX_WORDS 8

static int split_words(char *s, char **words)
{
    char *save = NULL, *w;
    int n = 0;

    for (w = strtok_r(s, " ", &save); w && n < MAX_WORDS; w = strtok_r(NULL, " ", &save))
        words[n++] = w;
    return n;
}

static int count_rows(struct store *s, const char *sql, const char **vals, int nvals,
                      long long *total, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int i, rc;

    rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "count");
    for (i = 0; i < nvals; i++)
        sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *total = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store_dberr(s, rc, e, "count");
}

int store_list(struct store *s, enum store_kind kind, const struct store_query *q,
               store_rec_cb cb, void *ctx, long long *total, struct err *e)
{
    const struct desc *d = &descs[kind];
    const char *vals[16 + MAX_WORDS];
    char *words[MAX_WORDS], *search = xstrdup(q->search), bits[2][24];
    sqlite3_stmt *st = NULL;
    struct buf sql, where;
    int i, nvals = 0, nwords = search ? split_words(search, words) : 0, rc = 0;

    if (!nwords && q->party_ref && !q->kind && !q->type && !q->flags && !q->consents &&
        q->limit <= 0 && !total && kind != STORE_PARTY) {
        free(search);
        return list_of_party(s, kind, q, cb, ctx, e);
    }
    buf_init(&sql, 0);
    buf_init(&where, 0);
    if (nwords && kind == STORE_CONTACT)
        rc = store_search_hits(s, words, nwords, e);
    if (rc)
        goto out;
    where_sql(&where, kind, q, vals, &nvals, nwords, bits);
    if (total) {
        buf_printf(&sql, "SELECT count(*) FROM %s %s%s", d->table, d->alias, buf_str(&where));
        rc = count_rows(s, buf_str(&sql), vals, nvals, total, e);
        buf_reset(&sql);
    }
    if (rc)
        goto out;
    select_sql(&sql, d);
    if (q->limit > 0) /* sort the keys alone, then read the page's rows */
        buf_printf(&sql, " WHERE %s.id IN (SELECT %s.id FROM %s%s ORDER BY %s LIMIT %lld"
                         " OFFSET %lld) ORDER BY %s",
                   d->alias, d->alias, d->keyfrom, buf_str(&where), d->order, q->limit,
                   q->offset > 0 ? q->offset : 0LL, d->order);
    else
        buf_printf(&sql, "%s ORDER BY %s", buf_str(&where), d->order);
    rc = sqlite3_prepare_v2(s->db, buf_str(&sql), -1, &st, NULL);
    if (rc != SQLITE_OK) {
        rc = store_dberr(s, rc, e, d->table);
        goto out;
    }
    for (i = 0; i < nvals; i++)
        sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    rc = emit_rows(s, st, kind, cb, ctx, e);
out:
    sqlite3_finalize(st);
    buf_release(&sql);
    buf_release(&where);
    free(search);
    return rc;
}
