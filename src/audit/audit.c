/* The hash chain over history rows (SPEC §1): the canonical encoding of a
 * row, SHA-256 (nettle: this file is its only user), appending a chained
 * row and verifying the whole chain.  Storage is store/'s (history.c);
 * this file never sees SQL.  Rows are keyed (HMAC-SHA-256, recipe 1 below,
 * README "Compliance") once a key exists; older rows keep the plain
 * recipe.  The head file (<spool>/history.head) and anchors kept elsewhere
 * catch the removal of the newest rows and a chain recomputed end to end. */
#include "audit/audit.h"
#include "audit/audit-int.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/hmac.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/date.h"
#include "util/xalloc.h"

/* The "previous hash" of the first row. */
const char audit_zero_hash[65] = "0000000000000000000000000000000000000000000000000000000000000000";

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
static int canonical(const struct store_history *r, int keyed, struct buf *out);

int audit_canonical(const struct store_history *r, struct buf *out)
{
    return canonical(r, 0, out);
}

/* keyed (recipe 1): every column always has its line, operator,
 * message_sha256 and provider_id included */
static int canonical(const struct store_history *r, int keyed, struct buf *out)
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
    if (r->operator_name || keyed)
        add_line(out, "operator", r->operator_name);
    if (r->message_sha256 || keyed)
        add_line(out, "message_sha256", r->message_sha256);
    if (r->provider_id || keyed)
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

/* The keyed chain (recipe 1): hex HMAC-SHA-256, keyed with the 32 bytes of
 * [history] key_file, over
 *   "postier-chain 1\n" prev "\n" "id=" ID "\n" canonical lines
 * where every column has its line (operator, message_sha256 and
 * provider_id too, empty when NULL).  A column added later is a new
 * recipe number. */
#define KEY_LEN 32


/* Without audit_configure (unit tests): no key, no head file (never
 * written to: a NULL store_attached has nothing to record). */
static const struct audit_keys none;

static struct audit_keys *keys_of(struct store *s)
{
    struct audit_keys *k = store_attached(s);

    return k ? k : (struct audit_keys *)&none;
}


static int keyed_hash(const uint8_t *key, const char *prev, const struct store_history *r,
                      struct buf *b, char *out)
{
    int rc;

    buf_reset(b);
    buf_printf(b, "postier-chain 1\n%s\nid=%lld\n", prev, r->id);
    rc = canonical(r, 1, b);
    if (!rc)
        audit_hmac_hex(key, b, out);
    return rc;
}



void audit_configure(struct store *s, const char *key_file, const char *head_file)
{
    struct audit_keys *k = xcalloc(1, sizeof *k);

    snprintf(k->key_path, sizeof k->key_path, "%s", key_file ? key_file : "");
    snprintf(k->head_path, sizeof k->head_path, "%s", head_file ? head_file : "");
    store_attach(s, k, free);
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
    struct audit_keys *k = keys_of(s);
    const char *at = r->at, *hash = r->hash, *op = r->operator_name;
    char now[32], prev[65], out[65], mac[65];
    long long last, first;
    struct buf b;
    int rc, tries, own;

    if (!r->event || !*r->event)
        return err_set(e, ERR_INPUT, "history row without an event");
    /* a configured key is loaded (made by audit_key_ensure), never made here */
    rc = audit_key_load(k, e);
    if (rc == ERR_NOTFOUND && k->key_path[0]) {
        if ((rc = store_history_keyed_from(s, &first, mac, e)))
            return rc;
        return first ? audit_key_missing(k, e)
                     : err_set(e, ERR_CONFIG, "history key file %s missing: run postier init",
                               k->key_path);
    }
    if (!rc)
        rc = audit_marker_check(k, s, e);
    if (rc && rc != ERR_NOTFOUND)
        return rc;
    if (!at || !*at) {
        date_utc_stamp(now);
        r->at = now;
    }
    if (!op && operator_name[0])
        r->operator_name = operator_name;
    /* alone (no transaction of the caller's): the tail read and the insert
     * in one write transaction, so that no other process appends or purges
     * between them (a stale tail whose row was purged would fork the chain) */
    own = !store_in_transaction(s);
    if (own && (rc = store_begin(s, e)))
        return rc;
    buf_init(&b, 0);
    buf_reserve(&b, 1024); /* a row's canonical text, in one allocation */
    for (tries = 1;; tries++) {
        rc = store_history_last(s, &last, prev, e);
        if (!rc && !last) /* empty: after a purge of every row, the anchor */
            rc = store_history_anchor(s, &last, prev, e);
        if (rc)
            break;
        r->id = last + 1;
        rc = k->have_key ? keyed_hash(k->key, last ? prev : audit_zero_hash, r, &b, out)
                         : chain_hash(last ? prev : audit_zero_hash, r, &b, out);
        if (rc) {
            err_set(e, rc, "history row too large");
            break;
        }
        r->hash = out;
        rc = store_history_insert(s, r, e);
        if (rc != ERR_EXISTS || tries == APPEND_TRIES)
            break;
    }
    if (own && !rc)
        rc = store_commit(s, e);
    if (own && rc)
        store_rollback(s);
    if (!rc && k != &none)
        k->appended = 1;
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
    long long purged;    /* rows before the first (the purge anchor's id) */
    long long keyed_from; /* first keyed row, 0: none */
    long long unkeyed;
    char anchor[96]; /* "ID HASH" of the last purge row seen */
    struct head *check[2]; /* the head file's and --anchor's, NULL: none */
    int seen[2];
    struct audit_keys *k;
    struct buf b;
    struct err *e;
};

static const char *const check_name[2] = {"the head recorded by the last run",
                                          "the anchor given"};

/* Row h is a checked head's: same hash, same place in the chain. */
static int check_head(struct verify *v, const struct store_history *h)
{
    int i;

    for (i = 0; i < 2; i++) {
        const struct head *c = v->check[i];
        if (!c || c->id != h->id)
            continue;
        v->seen[i] = 1;
        if (strcmp(c->hash, h->hash) || c->count != v->rows + v->purged) {
            v->bad = h->id;
            return err_set(v->e, ERR_PERMFAIL,
                           "history row %lld does not match %s (hash %.12s..., %lld rows):"
                           " the chain was rewritten",
                           h->id, check_name[i], c->hash, c->count);
        }
    }
    return 0;
}

static int verify_row(void *ctx, const struct store_history *h)
{
    struct verify *v = ctx;
    char hash[65];
    int rc, keyed = v->keyed_from && h->id >= v->keyed_from;

    v->rows++;
    if (keyed && !v->k->have_key) {
        v->bad = h->id;
        return audit_key_missing(v->k, v->e);
    }
    v->unkeyed += !keyed;
    rc = keyed ? keyed_hash(v->k->key, v->id ? v->prev : audit_zero_hash, h, &v->b, hash)
               : chain_hash(v->id ? v->prev : audit_zero_hash, h, &v->b, hash);
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
    return check_head(v, h);
}

/* After the scan: a checked head must have been met, or be the purge
 * anchor itself. */
static int check_seen(struct verify *v, const char *ahash)
{
    int i;

    for (i = 0; i < 2; i++) {
        const struct head *c = v->check[i];
        if (!c || v->seen[i])
            continue;
        if (!c->id && !c->count && !strcmp(c->hash, audit_zero_hash))
            continue; /* the head of a chain then empty */
        if (c->id == v->purged && !strcmp(c->hash, ahash) && c->count == v->purged)
            continue;
        v->bad = c->id;
        if (!c->id)
            return err_set(v->e, ERR_PERMFAIL,
                           "%s (id=0) does not match the empty chain's (count 0, hash 000...)",
                           check_name[i]);
        if (c->id <= v->purged)
            return err_set(v->e, ERR_PERMFAIL,
                           "history row %lld (%s) was purged: the chain starts after row %lld",
                           c->id, check_name[i], v->purged);
        return err_set(v->e, ERR_PERMFAIL,
                       "history row %lld (%s) is missing: the newest rows were deleted"
                       " (the history ends at row %lld)",
                       c->id, check_name[i], v->id);
    }
    return 0;
}

/* The marker says where keyed rows start (*first, 0: none).  With the key
 * it must be there and carry the key's MAC: whoever drops or rewrites it
 * (to pass keyed rows off as legacy ones) needs the key. */
static int check_marker(struct audit_keys *k, struct store *s, long long *first,
                        struct err *e)
{
    char mac[65], want[65];
    int rc = store_history_keyed_from(s, first, mac, e);

    if (rc)
        return rc;
    if (*first < 0)
        return err_set(e, ERR_PERMFAIL,
                       "history_keyed table missing: the keyed chain's marker was dropped");
    if (!k->have_key)
        return *first ? audit_key_missing(k, e) : 0;
    if (!*first)
        return err_set(e, ERR_PERMFAIL,
                       "history key marker missing (table history_keyed is empty) although"
                       " the key file %s exists: the marker was removed, or the key was"
                       " created by an interrupted init (or, with --db, a database from an"
                       " older postier: any other command marks it)",
                       k->key_path);
    audit_marker_mac(k->key, *first, want);
    if (strcmp(mac, want))
        return err_set(e, ERR_PERMFAIL,
                       "history key marker (keyed from row %lld) does not carry the key's MAC:"
                       " the key file or the marker was replaced",
                       *first);
    return 0;
}

int audit_verify_full(struct store *s, const char *anchor, struct audit_check *out,
                      struct err *e)
{
    struct head given, recorded;
    struct verify v;
    char want[96], ahash[65];
    int rc;

    memset(&v, 0, sizeof v);
    memset(out, 0, sizeof *out);
    v.e = e;
    buf_init(&v.b, 0);
    if (anchor && (rc = audit_head_parse(anchor, &given, e)))
        goto out;
    v.check[1] = anchor ? &given : NULL;
    v.k = keys_of(s);
    rc = audit_key_load(v.k, e);
    if (rc == ERR_NOTFOUND)
        rc = 0; /* only a keyed row needs it */
    if (!rc)
        rc = check_marker(v.k, s, &v.keyed_from, e);
    if (!rc && v.k->head_path[0]) {
        rc = audit_head_read(v.k, &recorded, e);
        if (!rc)
            v.check[0] = &recorded;
        else if (rc == ERR_NOTFOUND)
            rc = 0;
    }
    if (rc)
        goto out;
    /* after a purge the chain starts from its anchor, which the purge's
     * own row (chained like any other) also records */
    rc = store_history_anchor(s, &v.id, v.prev, e);
    v.purged = v.id;
    memcpy(ahash, v.prev, sizeof ahash);
    if (!rc)
        rc = store_history_scan(s, verify_row, &v, e);
    if (!rc && v.purged) {
        snprintf(want, sizeof want, "%lld %s", v.purged, ahash);
        if (strcmp(want, v.anchor)) {
            v.bad = v.purged + 1;
            rc = err_set(e, ERR_PERMFAIL,
                         "history anchor %s is not the one the last purge recorded (%s)",
                         want, v.anchor[0] ? v.anchor : "none");
        }
    }
    /* the marker's rows must be there (or purged): whoever deletes them
     * all and forges an empty chain's head is caught */
    if (!rc && v.keyed_from > v.id + 1) {
        v.bad = 0;
        rc = err_set(e, ERR_PERMFAIL,
                     "history key marker says keyed rows start at row %lld, but the history"
                     " ends at row %lld: its newest rows were deleted",
                     v.keyed_from, v.id);
    }
    if (!rc)
        rc = check_seen(&v, ahash);
    if (!rc && !v.check[0] && v.k->have_key && v.k->head_path[0]) {
        v.bad = 0;
        rc = err_set(e, ERR_PERMFAIL,
                     "head file %s missing: the newest rows may have been deleted", v.k->head_path);
    }
out:
    buf_release(&v.b);
    out->rows = v.rows;
    out->bad = v.bad;
    out->unkeyed = v.unkeyed;
    out->head = v.check[0] != NULL;
    if (anchor && !rc)
        out->anchor_id = given.id;
    return rc;
}

/* *rows counts the rows examined, the broken one included. */
int audit_verify(struct store *s, long long *rows, long long *bad_id, struct err *e)
{
    struct audit_check c;
    int rc = audit_verify_full(s, NULL, &c, e);

    if (rows)
        *rows = c.rows;
    if (bad_id)
        *bad_id = c.bad;
    return rc;
}

int audit_anchor(struct store *s, char *line, size_t n, struct err *e)
{
    struct audit_check c;
    struct head h;
    int rc;

    if ((rc = audit_verify_full(s, NULL, &c, e)))
        return rc == ERR_PERMFAIL ? err_prefix(e, "history broken: no anchor") : rc;
    if ((rc = store_history_head(s, &h.id, h.hash, h.at, &h.count, e)))
        return rc;
    if (!h.id) { /* a new install: the empty chain's (genesis) anchor */
        h.count = 0;
        memcpy(h.hash, audit_zero_hash, sizeof h.hash);
        date_utc_stamp(h.at);
    }
    audit_head_format(&h, line, n);
    return 0;
}

int audit_purge(struct store *s, const char *date, long min_days, long long *removed,
                struct err *e)
{
    struct audit_check chk;
    long long last;
    char hash[65], reply[200], latest[DATE_LEN + 1];
    time_t now;
    struct tm tm;
    int rc;

    *removed = 0;
    /* rows are compared by their UTC stamps: so is the floor */
    now = time(NULL) - (time_t)min_days * 86400;
    gmtime_r(&now, &tm);
    strftime(latest, sizeof latest, "%Y-%m-%d", &tm);
    if (min_days > 0 && strcmp(date, latest) > 0) /* 0: no floor */
        return err_set(e, ERR_INPUT,
                       "history purge --before %s: less than %ld days ago ([history]"
                       " retention_min_days); the latest date allowed is %s",
                       date, min_days, latest);
    /* never on a broken chain: the purge row would vouch for what it
     * removes, and verify would turn green */
    if (audit_verify_full(s, NULL, &chk, e))
        return err_prefix(e, "history purge refused (it would remove the evidence)");
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
