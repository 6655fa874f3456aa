/* The hash chain over history rows (SPEC §1): the canonical encoding of a
 * row, SHA-256 (nettle: this file is its only user), appending a chained
 * row and verifying the whole chain.  Storage is store/'s (history.c);
 * this file never sees SQL.  A chain proves the rows are consistent with
 * one another; it cannot by itself detect the removal of the newest rows
 * or a chain recomputed end to end: keep a copy of the last hash elsewhere. */
#include "audit/audit.h"

#include <nettle/sha2.h>
#include <string.h>
#include <time.h>

#include "util/date.h"

/* The "previous hash" of the first row. */
static const char zero_hash[] = "0000000000000000000000000000000000000000000000000000000000000000";

/* Tries before giving up when another writer appends between our read of
 * the chain's tail and our insert (only possible outside a transaction). */
#define APPEND_TRIES 8

void audit_sha256_hex(const void *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    struct sha256_ctx ctx;
    uint8_t d[SHA256_DIGEST_SIZE];
    size_t i;

    sha256_init(&ctx);
    sha256_update(&ctx, n, p);
    sha256_digest(&ctx, sizeof d, d);
    for (i = 0; i < sizeof d; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * sizeof d] = '\0';
}

/* One "name=value\n" line, with '\' '\n' '\r' in the value escaped as
 * "\\" "\n" "\r" (two characters each). */
static void add_line(struct buf *b, const char *name, const char *v)
{
    size_t n;

    buf_adds(b, name);
    buf_addc(b, '=');
    while (v && *v) {
        n = strcspn(v, "\\\n\r");
        buf_add(b, v, n);
        v += n;
        if (!*v)
            break;
        buf_adds(b, *v == '\\' ? "\\\\" : *v == '\n' ? "\\n" : "\\r");
        v++;
    }
    buf_addc(b, '\n');
}

/* The canonical content of a row.  An auditor recomputes the chain with
 * nothing but SQLite and SHA-256; in Python:
 *
 *   import hashlib, sqlite3, sys
 *   db = sqlite3.connect(sys.argv[1])
 *   COLS = ("at event channel address contact_id party_ref document_ref"
 *           " document_type campaign template template_sha256 message_id"
 *           " reason server_reply consent").split()
 *   prev = "0" * 64                              # before the first row
 *   for row in db.execute("SELECT id, hash, " + ",".join(COLS) +
 *                         " FROM history ORDER BY id"):
 *       text = prev + "\n"
 *       for name, v in zip(COLS, row[2:]):
 *           v = "" if v is None or v == "" or v == 0 else str(v)
 *           v = v.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
 *           text += name + "=" + v + "\n"
 *       if hashlib.sha256(text.encode("utf-8")).hexdigest() != row[1]:
 *           sys.exit("history row %d is broken" % row[0])
 *       prev = row[1]
 *
 * So: every line is present, in this order, even when empty; NULL, "" and
 * contact_id 0 are all empty; contact_id is written in decimal; the bytes
 * are the stored UTF-8 bytes; the hash is lowercase hex. */
int audit_canonical(const struct store_history *r, struct buf *out)
{
    char cid[24] = "";

    if (r->contact_id)
        snprintf(cid, sizeof cid, "%lld", r->contact_id);
    add_line(out, "at", r->at);
    add_line(out, "event", r->event);
    add_line(out, "channel", r->channel);
    add_line(out, "address", r->address);
    add_line(out, "contact_id", cid);
    add_line(out, "party_ref", r->party_ref);
    add_line(out, "document_ref", r->document_ref);
    add_line(out, "document_type", r->document_type);
    add_line(out, "campaign", r->campaign);
    add_line(out, "template", r->template_name);
    add_line(out, "template_sha256", r->template_sha256);
    add_line(out, "message_id", r->message_id);
    add_line(out, "reason", r->reason);
    add_line(out, "server_reply", r->server_reply);
    add_line(out, "consent", r->consent);
    /* schema 4 columns: only when set, so older rows keep their hashes */
    if (r->operator_name)
        add_line(out, "operator", r->operator_name);
    if (r->message_sha256)
        add_line(out, "message_sha256", r->message_sha256);
    if (r->provider_id)
        add_line(out, "provider_id", r->provider_id);
    return out->err ? ERR_TOOBIG : 0;
}

/* hex SHA-256 of prev + "\n" + canonical(r) into out (65 bytes); b is
 * scratch space. */
static int chain_hash(const char *prev, const struct store_history *r, struct buf *b, char *out)
{
    int rc;

    buf_reset(b);
    buf_adds(b, prev);
    buf_addc(b, '\n');
    rc = audit_canonical(r, b);
    if (!rc)
        audit_sha256_hex(buf_str(b), b->len, out);
    return rc;
}

/* The new row takes the id after the tail it was chained to: if another
 * connection appended in between (possible outside a transaction), the
 * insert fails on the primary key rather than forking the chain, and we
 * chain again to the new tail.  Inside the caller's BEGIN IMMEDIATE no
 * one else can write, so the first try succeeds.  On return r->at and
 * r->hash are given back their caller's values (the time and hash used
 * lived in this frame: read them back with store_history_last); r->id is
 * the new row's id, or 0 on failure. */
static char operator_name[128];

void audit_set_operator(const char *name)
{
    snprintf(operator_name, sizeof operator_name, "%s", name ? name : "");
}

int audit_append(struct store *s, struct store_history *r, struct err *e)
{
    const char *at = r->at, *hash = r->hash, *op = r->operator_name;
    char now[32], prev[65], out[65];
    long long last;
    struct buf b;
    int rc, tries;

    if (!r->event || !*r->event)
        return err_set(e, ERR_INPUT, "history row without an event");
    if (!at || !*at) {
        date_utc_stamp(now);
        r->at = now;
    }
    if (!op && operator_name[0])
        r->operator_name = operator_name;
    buf_init(&b, 0);
    buf_reserve(&b, 1024); /* a row's canonical text, in one allocation */
    for (tries = 1;; tries++) {
        rc = store_history_last(s, &last, prev, e);
        if (!rc && !last) /* empty: after a purge of every row, the anchor */
            rc = store_history_anchor(s, &last, prev, e);
        if (rc)
            break;
        rc = chain_hash(last ? prev : zero_hash, r, &b, out);
        if (rc) {
            err_set(e, rc, "history row too large");
            break;
        }
        r->id = last + 1;
        r->hash = out;
        rc = store_history_insert(s, r, e);
        if (rc != ERR_EXISTS || tries == APPEND_TRIES)
            break;
    }
    if (rc)
        r->id = 0;
    r->at = at;
    r->hash = hash;
    r->operator_name = op;
    buf_release(&b);
    return rc;
}

struct verify {
    char prev[65];  /* the last checked row's hash */
    long long id;   /* and its id (0 before the first row) */
    long long rows; /* rows examined */
    long long bad;  /* the first broken row */
    char anchor[96]; /* "ID HASH" of the last purge row seen */
    struct buf b;
    struct err *e;
};

static int verify_row(void *ctx, const struct store_history *h)
{
    struct verify *v = ctx;
    char hash[65];
    int rc;

    v->rows++;
    rc = chain_hash(v->id ? v->prev : zero_hash, h, &v->b, hash);
    if (rc) {
        v->bad = h->id;
        return err_set(v->e, rc, "history row %lld: too large to check", h->id);
    }
    if (!h->hash || strcmp(hash, h->hash) != 0) {
        v->bad = h->id;
        if (h->id != v->id + 1)
            return err_set(v->e, ERR_PERMFAIL,
                           "history row %lld: hash does not match its content"
                           " (rows %lld to %lld deleted?)",
                           h->id, v->id + 1, h->id - 1);
        return err_set(v->e, ERR_PERMFAIL,
                       "history row %lld: hash does not match its content"
                       " (altered, or a row inserted before it?)",
                       h->id);
    }
    /* appends always take the next id: a gap behind a matching hash means
     * rows were removed and the chain re-forged over them */
    if (h->id != v->id + 1) {
        v->bad = h->id;
        return err_set(v->e, ERR_PERMFAIL, "history row %lld: rows %lld to %lld are missing", h->id,
                       v->id + 1, h->id - 1);
    }
    if (!strcmp(h->event, "purged") && h->server_reply) {
        const char *a = strstr(h->server_reply, "anchor ");
        snprintf(v->anchor, sizeof v->anchor, "%s", a ? a + 7 : "");
    }
    memcpy(v->prev, hash, sizeof hash);
    v->id = h->id;
    return 0;
}

/* *rows counts the rows examined, the broken one included. */
int audit_verify(struct store *s, long long *rows, long long *bad_id, struct err *e)
{
    struct verify v;
    char want[96];
    int rc;

    memset(&v, 0, sizeof v);
    v.e = e;
    buf_init(&v.b, 0);
    /* after a purge the chain starts from its anchor, which the purge's
     * own row (chained like any other) also records */
    rc = store_history_anchor(s, &v.id, v.prev, e);
    if (!rc)
        rc = store_history_scan(s, verify_row, &v, e);
    snprintf(want, sizeof want, "%lld %s", v.id, v.prev);
    if (!rc) {
        long long aid;
        char ahash[65];
        if (!(rc = store_history_anchor(s, &aid, ahash, e)) && aid) {
            snprintf(want, sizeof want, "%lld %s", aid, ahash);
            if (strcmp(want, v.anchor)) {
                v.bad = aid + 1;
                rc = err_set(e, ERR_PERMFAIL,
                             "history anchor %s is not the one the last purge recorded (%s)",
                             want, v.anchor[0] ? v.anchor : "none");
            }
        }
    }
    buf_release(&v.b);
    if (rows)
        *rows = v.rows;
    if (bad_id)
        *bad_id = v.bad;
    return rc;
}

int audit_purge(struct store *s, const char *date, long long *removed, struct err *e)
{
    long long last;
    char hash[65], reply[200];
    int rc;

    if ((rc = store_begin(s, e)))
        return rc;
    rc = store_history_purge(s, date, removed, &last, hash, e);
    if (!rc && *removed) {
        struct store_history h = {.event = "purged", .reason = "retention",
                                  .server_reply = reply};
        snprintf(reply, sizeof reply, "%lld rows before %s removed; anchor %lld %s", *removed,
                 date, last, hash);
        rc = audit_append(s, &h, e);
    }
    if (rc || (rc = store_commit(s, e))) {
        store_rollback(s);
        return rc;
    }
    return 0;
}
