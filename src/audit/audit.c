/* The hash chain over history rows (SPEC §1): the canonical encoding of a
 * row, SHA-256 (nettle: this file is its only user), appending a chained
 * row and verifying the whole chain.  Storage is store/'s (history.c);
 * this file never sees SQL.  Rows are keyed (HMAC-SHA-256, recipe 1 below,
 * README "Compliance") once a key exists; older rows keep the plain
 * recipe.  The head file (<spool>/history.head) and anchors kept elsewhere
 * catch the removal of the newest rows and a chain recomputed end to end. */
#include "audit/audit.h"

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

/* The keyed chain's state, one per store (store_attach): the key and
 * head file paths, the key once loaded, whether rows were appended. */
struct audit_keys {
    char key_path[4096], head_path[4096];
    uint8_t key[KEY_LEN];
    int have_key;
    int appended; /* this connection appended rows: the head file follows */
};

/* Without audit_configure (unit tests): no key, no head file (never
 * written to: a NULL store_attached has nothing to record). */
static const struct audit_keys none;

static struct audit_keys *keys_of(struct store *s)
{
    struct audit_keys *k = store_attached(s);

    return k ? k : (struct audit_keys *)&none;
}

static void hex_of(const uint8_t *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void hmac_hex(const uint8_t *key, const struct buf *b, char *out)
{
    struct hmac_sha256_ctx ctx;
    uint8_t d[SHA256_DIGEST_SIZE];

    hmac_sha256_set_key(&ctx, KEY_LEN, key);
    hmac_sha256_update(&ctx, b->len, (const uint8_t *)buf_str(b));
    hmac_sha256_digest(&ctx, sizeof d, d);
    hex_of(d, sizeof d, out);
}

static int keyed_hash(const uint8_t *key, const char *prev, const struct store_history *r,
                      struct buf *b, char *out)
{
    int rc;

    buf_reset(b);
    buf_printf(b, "postier-chain 1\n%s\nid=%lld\n", prev, r->id);
    rc = canonical(r, 1, b);
    if (!rc)
        hmac_hex(key, b, out);
    return rc;
}

/* The marker's MAC: HMAC(key, "postier-keyed 1 first_id=N"). */
static void marker_mac(const uint8_t *key, long long first, char *out)
{
    struct buf b;

    buf_init(&b, 0);
    buf_printf(&b, "postier-keyed 1 first_id=%lld", first);
    hmac_hex(key, &b, out);
    buf_release(&b);
}

void audit_head_path(const char *spool, const char *db, const char *configured,
                     struct buf *out)
{
    struct stat a, b;
    int same = !strcmp(db, configured) ||
               (!stat(db, &a) && !stat(configured, &b) && a.st_dev == b.st_dev &&
                a.st_ino == b.st_ino);

    if (same)
        buf_printf(out, "%s/history.head", spool);
    else
        buf_printf(out, "%s.head", db);
}

void audit_configure(struct store *s, const char *key_file, const char *head_file)
{
    struct audit_keys *k = xcalloc(1, sizeof *k);

    snprintf(k->key_path, sizeof k->key_path, "%s", key_file ? key_file : "");
    snprintf(k->head_path, sizeof k->head_path, "%s", head_file ? head_file : "");
    store_attach(s, k, free);
}

static int key_missing(const struct audit_keys *k, struct err *e)
{
    return err_set(e, ERR_INPUT, "history key file %s missing: restore it from backup",
                   k->key_path);
}

/* ERR_NOTFOUND when the file does not exist (e not set). */
static int key_load(struct audit_keys *k, struct err *e)
{
    char text[80];
    struct stat st;
    ssize_t n;
    int fd, i, rc = 0;

    if (k->have_key || !k->key_path[0])
        return k->have_key ? 0 : ERR_NOTFOUND;
    fd = open(k->key_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? ERR_NOTFOUND
                               : err_set(e, ERR_IO, "history key file %s: %s", k->key_path,
                                         strerror(errno));
    if (fstat(fd, &st) || (st.st_mode & 077)) {
        rc = err_set(e, ERR_CONFIG,
                     "history key file %s: readable by others (mode %03o): chmod 600 it",
                     k->key_path, (unsigned)(st.st_mode & 0777));
        goto out;
    }
    n = read(fd, text, sizeof text - 1);
    if (n < 2 * KEY_LEN || (n > 2 * KEY_LEN && (n != 2 * KEY_LEN + 1 || text[2 * KEY_LEN] != '\n'))) {
        rc = err_set(e, ERR_CONFIG, "history key file %s: not 64 hexadecimal digits",
                     k->key_path);
        goto out;
    }
    for (i = 0; i < 2 * KEY_LEN && !rc; i++) {
        const char *h = "0123456789abcdef", *p = strchr(h, text[i]);
        if (!text[i] || !p)
            rc = err_set(e, ERR_CONFIG, "history key file %s: not 64 hexadecimal digits",
                         k->key_path);
        else
            k->key[i / 2] = (uint8_t)(k->key[i / 2] << 4 | (p - h));
    }
    k->have_key = !rc;
out:
    close(fd);
    return rc;
}

/* Writes a new random key to key_path (0600, never over an existing
 * file) and keeps it in k. */
static int key_create(struct audit_keys *k, struct err *e)
{
    uint8_t key[KEY_LEN];
    char text[2 * KEY_LEN + 2];
    int fd, rc = 0;

    if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key)
        return err_set(e, ERR_IO, "history key: no randomness: %s", strerror(errno));
    hex_of(key, sizeof key, text);
    text[2 * KEY_LEN] = '\n';
    fd = open(k->key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return err_set(e, ERR_IO, "history key file %s: %s", k->key_path, strerror(errno));
    if (fchmod(fd, 0600) || write(fd, text, sizeof text - 1) != (ssize_t)sizeof text - 1 ||
        fsync(fd))
        rc = err_set(e, ERR_IO, "history key file %s: %s", k->key_path, strerror(errno));
    if (close(fd) && !rc)
        rc = err_set(e, ERR_IO, "history key file %s: %s", k->key_path, strerror(errno));
    if (rc) {
        unlink(k->key_path);
        return rc;
    }
    memcpy(k->key, key, sizeof key);
    k->have_key = 1;
    return 0;
}

/* The id the next row takes: after the newest, or after the purge anchor. */
static int next_id(struct store *s, long long *id, struct err *e)
{
    char hash[65];
    long long last;
    int rc = store_history_last(s, &last, hash, e);

    if (!rc && !last)
        rc = store_history_anchor(s, &last, hash, e);
    *id = last + 1;
    return rc;
}

static int head_lock(const struct audit_keys *k, int *fd, struct err *e);
static void head_unlock(int fd);
static int head_write_locked(struct audit_keys *k, struct store *s, int may_create,
                             struct err *e);

/* Under the head lock: the key file (unless there is one: a new database
 * sharing it), then in one committed transaction the marker (the next id,
 * MAC'd with the key), then the head file.  A
 * key file without its marker (killed in between) is reported by verify;
 * the marker never exists without the key. */
static int key_create_all(struct audit_keys *k, struct store *s, int *created, struct err *e)
{
    char mac[65];
    long long first;
    int rc, lock, had_key;

    if ((rc = head_lock(k, &lock, e)))
        return rc;
    rc = key_load(k, e); /* another process may have made it meanwhile */
    if (rc && rc != ERR_NOTFOUND)
        goto out;
    had_key = k->have_key;
    if ((rc = store_begin(s, e)))
        goto out;
    rc = store_history_keyed_from(s, &first, mac, e);
    if (!rc && first) { /* made meanwhile, or a chain keyed with a lost key */
        store_rollback(s);
        rc = first < 0 ? err_set(e, ERR_PERMFAIL,
                                 "history_keyed table missing: dropped by hand? (run postier"
                                 " history verify)")
                       : 0;
        goto out;
    }
    if (!rc)
        rc = next_id(s, &first, e);
    if (!rc && had_key && first != 1 && store_schema_opened_at(s) >= 12)
        rc = err_set(e, ERR_PERMFAIL, "history key marker missing (run postier history verify)");
    if (!rc && !had_key)
        rc = key_create(k, e);
    if (!rc) {
        marker_mac(k->key, first, mac);
        rc = store_history_set_keyed_from(s, first, mac, e);
    }
    if (!rc)
        rc = store_commit(s, e);
    if (rc) {
        store_rollback(s);
        if (k->have_key && !had_key) {
            unlink(k->key_path);
            k->have_key = 0;
        }
        goto out;
    }
    *created = !had_key;
    rc = head_write_locked(k, s, 1, e);
out:
    head_unlock(lock);
    return rc;
}

int audit_key_ensure(struct store *s, int *created, struct err *e)
{
    struct audit_keys *k = store_attached(s);
    char mac[65];
    long long first, next;
    int dummy, rc;

    if (!created)
        created = &dummy;
    *created = 0;
    if (!k || !k->key_path[0])
        return 0;
    rc = key_load(k, e);
    if (rc && rc != ERR_NOTFOUND)
        return rc;
    if ((rc = store_history_keyed_from(s, &first, mac, e)))
        return rc;
    if (first) /* keyed: never a new key for a chain keyed with a lost one */
        return k->have_key ? 0 : err_set(e, ERR_NOTFOUND,
                                         "history key file %s missing: restore it from backup",
                                         k->key_path);
    if (!k->have_key)
        return key_create_all(k, s, created, e);
    /* the key exists, this database has no marker: an empty one (a new
     * --db FILE sharing the key) gets one, and so does one whose marker
     * table this open made (an older database: no key ever marked it);
     * else keyed rows without a marker would never verify */
    if ((rc = next_id(s, &next, e)))
        return rc;
    if (next != 1 && store_schema_opened_at(s) >= 12)
        return err_set(e, ERR_CONFIG,
                       "history key marker missing although the key file %s exists and the"
                       " history has rows: refusing to write rows that would never verify"
                       " (run postier history verify)",
                       k->key_path);
    return key_create_all(k, s, created, e);
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
    int rc, tries;

    if (!r->event || !*r->event)
        return err_set(e, ERR_INPUT, "history row without an event");
    /* a configured key is loaded (made by audit_key_ensure), never made here */
    rc = key_load(k, e);
    if (rc == ERR_NOTFOUND && k->key_path[0]) {
        if ((rc = store_history_keyed_from(s, &first, mac, e)))
            return rc;
        return first ? key_missing(k, e)
                     : err_set(e, ERR_CONFIG, "history key file %s missing: run postier init",
                               k->key_path);
    }
    if (rc && rc != ERR_NOTFOUND)
        return rc;
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
        r->id = last + 1;
        rc = k->have_key ? keyed_hash(k->key, last ? prev : zero_hash, r, &b, out)
                         : chain_hash(last ? prev : zero_hash, r, &b, out);
        if (rc) {
            err_set(e, rc, "history row too large");
            break;
        }
        r->hash = out;
        rc = store_history_insert(s, r, e);
        if (rc != ERR_EXISTS || tries == APPEND_TRIES)
            break;
    }
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

/* An anchor line: "postier-anchor 1 id=N count=N at=STAMP hash=HEX64". */
struct head {
    long long id, count;
    char at[32], hash[65];
};

static int head_parse(const char *line, struct head *h, struct err *e)
{
    int n = -1;
    size_t i;

    memset(h, 0, sizeof *h);
    if (sscanf(line, "postier-anchor 1 id=%lld count=%lld at=%20[0-9TZ:-] hash=%64[0-9a-f]%n",
               &h->id, &h->count, h->at, h->hash, &n) != 4 ||
        n < 0 || (line[n] && strcmp(line + n, "\n")) || h->id < 0 || h->count < 0 ||
        strlen(h->hash) != 64 || strlen(h->at) != STAMP_LEN)
        return err_set(e, ERR_INPUT,
                       "anchor '%.80s': not \"postier-anchor 1 id=N count=N"
                       " at=YYYY-MM-DDTHH:MM:SSZ hash=<64 hex>\"",
                       line);
    for (i = 0; line[i]; i++)
        if ((unsigned char)line[i] < ' ' && line[i] != '\n')
            return err_set(e, ERR_INPUT, "anchor: control character");
    return 0;
}

static void head_format(const struct head *h, char *out, size_t n)
{
    snprintf(out, n, "postier-anchor 1 id=%lld count=%lld at=%s hash=%s", h->id, h->count, h->at,
             h->hash);
}

/* The head file's line: 0, ERR_NOTFOUND (no file; e not set), or ERR_*. */
static int head_read(const struct audit_keys *k, struct head *h, struct err *e)
{
    char line[256];
    FILE *f = fopen(k->head_path, "re");
    int rc;

    if (!f)
        return errno == ENOENT ? ERR_NOTFOUND
                               : err_set(e, ERR_IO, "%s: %s", k->head_path, strerror(errno));
    rc = fgets(line, sizeof line, f) ? head_parse(line, h, e)
                                     : err_set(e, ERR_INPUT, "%s: empty", k->head_path);
    fclose(f);
    if (rc)
        err_prefix(e, "%s", k->head_path);
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
        return key_missing(v->k, v->e);
    }
    v->unkeyed += !keyed;
    rc = keyed ? keyed_hash(v->k->key, v->id ? v->prev : zero_hash, h, &v->b, hash)
               : chain_hash(v->id ? v->prev : zero_hash, h, &v->b, hash);
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
        if (!c->id && !c->count && !strcmp(c->hash, zero_hash))
            continue; /* the head of a chain then empty */
        if (c->id == v->purged && !strcmp(c->hash, ahash) && c->count == v->purged)
            continue;
        v->bad = c->id;
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
        return *first ? key_missing(k, e) : 0;
    if (!*first)
        return err_set(e, ERR_PERMFAIL,
                       "history key marker missing (table history_keyed is empty) although"
                       " the key file %s exists: the marker was removed, or the key was"
                       " created by an interrupted init",
                       k->key_path);
    marker_mac(k->key, *first, want);
    if (strcmp(mac, want))
        return err_set(e, ERR_PERMFAIL,
                       "history key marker (keyed from row %lld) does not carry the key's MAC:"
                       " it was rewritten",
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
    if (anchor && (rc = head_parse(anchor, &given, e)))
        goto out;
    v.check[1] = anchor ? &given : NULL;
    v.k = keys_of(s);
    rc = key_load(v.k, e);
    if (rc == ERR_NOTFOUND)
        rc = 0; /* only a keyed row needs it */
    if (!rc)
        rc = check_marker(v.k, s, &v.keyed_from, e);
    if (!rc && v.k->head_path[0]) {
        rc = head_read(v.k, &recorded, e);
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
    if (!h.id)
        return err_set(e, ERR_NOTFOUND, "history is empty: nothing to anchor");
    head_format(&h, line, n);
    return 0;
}

static int head_hash(void *ctx, const struct store_history *h)
{
    snprintf(ctx, 65, "%s", h->hash ? h->hash : "");
    return 0;
}

/* The lock serialising head file updates between processes (flock on
 * <head>.lock, 0600); *fd = -1 when there is no head file. */
static int head_lock(const struct audit_keys *k, int *fd, struct err *e)
{
    char path[4200];

    *fd = -1;
    if (!k->head_path[0])
        return 0;
    snprintf(path, sizeof path, "%s.lock", k->head_path);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd < 0)
        return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    while (flock(*fd, LOCK_EX))
        if (errno != EINTR) {
            int rc = err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
            close(*fd);
            *fd = -1;
            return rc;
        }
    return 0;
}

static void head_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

/* Under the head lock: the newest committed row (or the head of an empty
 * chain) replaces the head file, through a temporary file of our own,
 * unless the head it holds is no longer in the history, or, for a keyed
 * chain, unless it is missing and may_create (the key's creation) is not
 * set (both stay for verify to report: ERR_PERMFAIL). */
static int head_write_locked(struct audit_keys *k, struct store *s, int may_create,
                             struct err *e)
{
    struct head h, old;
    long long purged;
    char line[256], tmp[4200], hash[65];
    int fd, rc;

    if (!k->head_path[0])
        return 0;
    if ((rc = store_history_head(s, &h.id, h.hash, h.at, &h.count, e)))
        return rc;
    if (!h.id) { /* empty: its head is the genesis */
        memcpy(h.hash, zero_hash, sizeof zero_hash);
        date_utc_stamp(h.at);
    }
    rc = head_read(k, &old, e);
    if (!rc && old.id == h.id && !strcmp(old.hash, h.hash))
        return 0;
    if (rc && rc != ERR_NOTFOUND)
        return rc;
    /* a head made from the rows left would hide the newest rows' removal */
    if (rc == ERR_NOTFOUND && !may_create && k->have_key)
        return err_set(e, ERR_PERMFAIL,
                       "history head file %s missing: not recreated; run postier history verify",
                       k->head_path);
    /* the recorded head must still be there, unchanged */
    if (!rc && (rc = store_history_anchor(s, &purged, hash, e)))
        return rc;
    if (!rc && old.id > purged) {
        hash[0] = '\0';
        rc = store_history_get(s, old.id, head_hash, hash, e);
        if (rc && rc != ERR_NOTFOUND)
            return rc;
        if (strcmp(hash, old.hash))
            return err_set(e, ERR_PERMFAIL,
                           "%s not updated: its row %lld is no longer in the history"
                           " (run postier history verify)",
                           k->head_path, old.id);
    }
    head_format(&h, line, sizeof line);
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", k->head_path);
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return err_set(e, ERR_IO, "%s: %s", tmp, strerror(errno));
    rc = 0;
    if (fchmod(fd, 0600) || dprintf(fd, "%s\n", line) < 0 || fsync(fd))
        rc = err_set(e, ERR_IO, "%s: %s", tmp, strerror(errno));
    if (close(fd) && !rc)
        rc = err_set(e, ERR_IO, "%s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, k->head_path))
        rc = err_set(e, ERR_IO, "%s: %s", k->head_path, strerror(errno));
    if (rc)
        unlink(tmp);
    return rc;
}

/* After a command that appended rows: under the lock, so that concurrent
 * commands never write an older head over a newer one. */
int audit_head_update(struct store *s, struct err *e)
{
    struct audit_keys *k = store_attached(s);
    int rc, lock;

    if (!k || !k->head_path[0] || !k->appended)
        return 0;
    k->appended = 0;
    if ((rc = head_lock(k, &lock, e)))
        return rc;
    rc = head_write_locked(k, s, 0, e);
    head_unlock(lock);
    return rc;
}

int audit_purge(struct store *s, const char *date, long min_days, long long *removed,
                struct err *e)
{
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
