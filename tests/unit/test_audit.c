/* Unit tests of audit/ and of store/'s history rows: SHA-256 vectors, the
 * canonical encoding (order, empties, escapes), chains that verify, and a
 * file database tampered with through a second SQLite connection (row
 * altered, deleted, inserted, re-hashed) that verify must name; appends
 * inside a rolled-back transaction; the append-only triggers; a timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "store/store-int.h" /* s->db: the triggers must hold on our own connection */
#include "util/xalloc.h"

static char dir[64], path[128];
static struct store *s;

static int setup(void **state)
{
    struct err e;

    (void)state;
    snprintf(dir, sizeof dir, "/tmp/postier-audit-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/p.db", dir);
    return store_open(path, &s, &e);
}

static int teardown(void **state)
{
    static const char *const ext[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    size_t i;

    (void)state;
    store_close(s);
    s = NULL;
    for (i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        snprintf(p, sizeof p, "%s%s", path, ext[i]);
        unlink(p);
    }
    return rmdir(dir);
}

/* Appends rows first..last with varied, partly hostile content. */
static void fill(long long first, long long last)
{
    static const char *const events[] = {"queued", "sent", "skipped", "deferred", "failed"};
    char at[32], addr[64], reply[96], ref[32];
    struct store_history r;
    struct err e;
    long long i;

    for (i = first; i <= last; i++) {
        memset(&r, 0, sizeof r);
        snprintf(at, sizeof at, "2026-03-01T02:%02lld:%02lldZ", i / 60 % 60, i % 60);
        snprintf(addr, sizeof addr, "user%lld@example.org", i);
        snprintf(reply, sizeof reply, "250 2.0.0 Ok: queued as %lld\r\nconsent=forged\\", i);
        snprintf(ref, sizeof ref, "F-%05lld", i);
        r.at = i % 7 ? at : NULL;
        r.event = events[i % 5];
        r.channel = i % 2 ? "email" : "sms";
        r.address = addr;
        r.contact_id = i % 3 ? i : 0;
        r.party_ref = "C00042";
        r.document_ref = ref;
        r.document_type = "invoice";
        r.template_name = "facture-é.tmpl";
        r.reason = i % 5 == 2 ? "no_email" : "";
        r.server_reply = i % 5 == 1 ? reply : NULL;
        r.consent = "commercial|esign";
        assert_int_equal(audit_append(s, &r, &e), 0);
        assert_int_equal(r.id, i);
        assert_null(r.hash);
    }
}

/* verify must fail at row bad after examining rows rows, saying why. */
static void expect_broken(long long bad, long long examined, const char *why)
{
    long long rows = -1, at = -1;
    struct err e;
    char want[64];

    assert_int_equal(audit_verify(s, &rows, &at, &e), ERR_PERMFAIL);
    assert_int_equal(at, bad);
    assert_int_equal(rows, examined);
    snprintf(want, sizeof want, "history row %lld: ", bad);
    assert_non_null(strstr(e.msg, want));
    assert_non_null(strstr(e.msg, why));
}

static void expect_intact(long long n)
{
    long long rows = -1, bad = -1;
    struct err e;

    assert_int_equal(audit_verify(s, &rows, &bad, &e), 0);
    assert_int_equal(rows, n);
    assert_int_equal(bad, 0);
}

/* What an attacker holding the file does: his own connection, no triggers. */
static void attack(const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    store_close(s);
    s = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
    assert_int_equal(store_open(path, &s, NULL), 0);
}

static void sha256_vectors(void **state)
{
    static const struct {
        const char *in, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    char out[65], *a;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        audit_sha256_hex(v[i].in, strlen(v[i].in), out);
        assert_string_equal(out, v[i].hex);
    }
    a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    audit_sha256_hex(a, 1000000, out);
    assert_string_equal(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

static void canonical_order_and_empties(void **state)
{
    struct store_history r = {.id = 99,
                              .at = "2026-03-01T10:00:00Z",
                              .event = "sent",
                              .channel = "email",
                              .address = "a@b.fr",
                              .contact_id = 42,
                              .party_ref = "C00042",
                              .document_ref = "F-1",
                              .document_type = "invoice",
                              .campaign = NULL,
                              .template_name = "invoice.tmpl",
                              .template_sha256 = "abc",
                              .message_id = "<m@x>",
                              .reason = "",
                              .server_reply = "250 2.0.0 OK",
                              .consent = "commercial|esign",
                              .hash = "ignored"};
    struct buf a, b;

    (void)state;
    buf_init(&a, 0);
    buf_init(&b, 0);
    assert_int_equal(audit_canonical(&r, &a), 0);
    assert_string_equal(buf_str(&a), "at=2026-03-01T10:00:00Z\n"
                                     "event=sent\n"
                                     "channel=email\n"
                                     "address=a@b.fr\n"
                                     "contact_id=42\n"
                                     "party_ref=C00042\n"
                                     "document_ref=F-1\n"
                                     "document_type=invoice\n"
                                     "campaign=\n"
                                     "template=invoice.tmpl\n"
                                     "template_sha256=abc\n"
                                     "message_id=<m@x>\n"
                                     "reason=\n"
                                     "server_reply=250 2.0.0 OK\n"
                                     "consent=commercial|esign\n");
    /* NULL and "" are the same; id and hash are not part of it */
    r.campaign = "";
    r.reason = NULL;
    r.id = 1;
    r.hash = NULL;
    assert_int_equal(audit_canonical(&r, &b), 0);
    assert_string_equal(buf_str(&a), buf_str(&b));
    /* an empty row still has every line; contact_id 0 is empty */
    memset(&r, 0, sizeof r);
    buf_reset(&b);
    assert_int_equal(audit_canonical(&r, &b), 0);
    assert_string_equal(buf_str(&b), "at=\nevent=\nchannel=\naddress=\ncontact_id=\nparty_ref=\n"
                                     "document_ref=\ndocument_type=\ncampaign=\ntemplate=\n"
                                     "template_sha256=\nmessage_id=\nreason=\nserver_reply=\n"
                                     "consent=\n");
    buf_release(&a);
    buf_release(&b);
}

static size_t count_lines(const char *p)
{
    size_t n = 0;

    for (; *p; p++)
        n += *p == '\n';
    return n;
}

static void canonical_escapes(void **state)
{
    static const struct {
        const char *in, *out;
    } v[] = {
        {"a\\b", "a\\\\b"},
        {"l1\nl2", "l1\\nl2"},
        {"l1\r\nconsent=all", "l1\\r\\nconsent=all"},
        {"\\n", "\\\\n"}, /* a backslash and an n: not a newline */
        {"\n", "\\n"},
        {"\r", "\\r"},
        {"end\\", "end\\\\"},
        {"\\\\\n\n", "\\\\\\\\\\n\\n"},
        {"=x\t\x01 é ✓", "=x\t\x01 é ✓"}, /* nothing else is touched */
    };
    struct store_history r;
    struct buf b;
    char want[128];
    size_t i;

    (void)state;
    buf_init(&b, 0);
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        memset(&r, 0, sizeof r);
        r.server_reply = v[i].in;
        buf_reset(&b);
        assert_int_equal(audit_canonical(&r, &b), 0);
        snprintf(want, sizeof want, "\nserver_reply=%s\nconsent=\n", v[i].out);
        assert_non_null(strstr(buf_str(&b), want));
        assert_int_equal(count_lines(buf_str(&b)), 15);
    }
    buf_release(&b);
}

/* Rows that differ must encode differently, however the values are cut. */
static void canonical_is_injective(void **state)
{
    struct store_history a, b;
    struct buf x, y;

    (void)state;
    buf_init(&x, 0);
    buf_init(&y, 0);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.server_reply = "250 ok\nconsent=commercial";
    b.server_reply = "250 ok";
    b.consent = "commercial";
    assert_int_equal(audit_canonical(&a, &x), 0);
    assert_int_equal(audit_canonical(&b, &y), 0);
    assert_string_not_equal(buf_str(&x), buf_str(&y));
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.reason = "a\\nb";
    b.reason = "a\nb";
    buf_reset(&x);
    buf_reset(&y);
    assert_int_equal(audit_canonical(&a, &x), 0);
    assert_int_equal(audit_canonical(&b, &y), 0);
    assert_string_not_equal(buf_str(&x), buf_str(&y));
    buf_release(&x);
    buf_release(&y);
}

static void canonical_too_big(void **state)
{
    struct store_history r;
    struct buf b;

    (void)state;
    memset(&r, 0, sizeof r);
    r.event = "sent";
    buf_init(&b, 64);
    assert_int_equal(audit_canonical(&r, &b), ERR_TOOBIG);
    buf_release(&b);
}

static void append_checks_input_and_fills_time(void **state)
{
    struct store_history r;
    char hash[65], canon_hash[65];
    long long id;
    struct buf b;
    struct err e;

    (void)state;
    memset(&r, 0, sizeof r);
    assert_int_equal(audit_append(s, &r, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "event"));
    r.event = "";
    assert_int_equal(audit_append(s, &r, &e), ERR_INPUT);
    expect_intact(0);
    /* first row: chained to 64 zeros; at filled with now, then handed back */
    r.event = "imported";
    assert_int_equal(audit_append(s, &r, &e), 0);
    assert_int_equal(r.id, 1);
    assert_null(r.at);
    assert_null(r.hash);
    assert_int_equal(store_history_last(s, &id, hash, &e), 0);
    assert_int_equal(id, 1);
    expect_intact(1);
    {
        sqlite3_stmt *st;
        const char *at;
        assert_int_equal(sqlite3_prepare_v2(s->db, "SELECT at FROM history", -1, &st, NULL), 0);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        at = (const char *)sqlite3_column_text(st, 0);
        assert_int_equal(strlen(at), 20);
        assert_true(at[4] == '-' && at[10] == 'T' && at[13] == ':' && at[19] == 'Z');
        r.at = xstrdup(at);
        sqlite3_finalize(st);
    }
    buf_init(&b, 0);
    buf_adds(&b, "0000000000000000000000000000000000000000000000000000000000000000\n");
    assert_int_equal(audit_canonical(&r, &b), 0);
    audit_sha256_hex(buf_str(&b), b.len, canon_hash);
    assert_string_equal(hash, canon_hash);
    /* the second row is chained to the first row's hash */
    free((char *)r.at);
    r.at = "2026-01-01T00:00:00Z";
    r.event = "sent";
    assert_int_equal(audit_append(s, &r, &e), 0);
    buf_reset(&b);
    buf_printf(&b, "%s\n", hash);
    assert_int_equal(audit_canonical(&r, &b), 0);
    audit_sha256_hex(buf_str(&b), b.len, canon_hash);
    assert_int_equal(store_history_last(s, &id, hash, &e), 0);
    assert_int_equal(id, 2);
    assert_string_equal(hash, canon_hash);
    assert_string_equal(r.at, "2026-01-01T00:00:00Z");
    buf_release(&b);
}

static void chain_verifies(void **state)
{
    (void)state;
    expect_intact(0);
    fill(1, 200);
    expect_intact(200);
}

/* The store refuses an insert at a taken id: audit_append's guard
 * against forking the chain when two writers race. */
static void insert_at_taken_id_refused(void **state)
{
    struct store_history r;
    struct err e;

    (void)state;
    fill(1, 3);
    memset(&r, 0, sizeof r);
    r.id = 3;
    r.at = "2026-01-01T00:00:00Z";
    r.event = "sent";
    r.hash = "forged";
    assert_int_equal(store_history_insert(s, &r, &e), ERR_EXISTS);
    r.hash = NULL;
    assert_int_equal(store_history_insert(s, &r, &e), ERR_INPUT);
    expect_intact(3);
}

/* Two connections appending in turn each chain to the real tail. */
static void two_writers_interleaved(void **state)
{
    struct store *other;
    struct store_history r;
    struct err e;
    int i;

    (void)state;
    assert_int_equal(store_open(path, &other, &e), 0);
    memset(&r, 0, sizeof r);
    r.event = "sent";
    for (i = 0; i < 20; i++) {
        assert_int_equal(audit_append(i % 3 ? s : other, &r, &e), 0);
        assert_int_equal(r.id, i + 1);
    }
    assert_int_equal(audit_verify(other, NULL, NULL, &e), 0);
    store_close(other);
    expect_intact(20);
}

static void altered_row_named(void **state)
{
    (void)state;
    fill(1, 10);
    attack("DROP TRIGGER history_no_update;"
           "UPDATE history SET server_reply = '250 delivered' WHERE id = 5");
    expect_broken(5, 5, "altered");
}

static void deleted_row_named(void **state)
{
    (void)state;
    fill(1, 10);
    attack("DROP TRIGGER history_no_delete; DELETE FROM history WHERE id = 5");
    expect_broken(6, 5, "rows 5 to 5 deleted");
}

static void deleted_first_row_named(void **state)
{
    (void)state;
    fill(1, 10);
    attack("DROP TRIGGER history_no_delete; DELETE FROM history WHERE id = 1");
    expect_broken(2, 1, "rows 1 to 1 deleted");
}

/* Recomputes the hash of row target as if its server_reply were reply. */
struct forge {
    long long target;
    const char *reply;
    char prev[65], hash[65];
};

static int forge_row(void *ctx, const struct store_history *h)
{
    struct forge *f = ctx;
    struct store_history r = *h;
    struct buf b;

    if (h->id == f->target - 1)
        snprintf(f->prev, sizeof f->prev, "%s", h->hash);
    if (h->id != f->target)
        return 0;
    r.server_reply = f->reply;
    buf_init(&b, 0);
    buf_printf(&b, "%s\n", f->prev);
    audit_canonical(&r, &b);
    audit_sha256_hex(buf_str(&b), b.len, f->hash);
    buf_release(&b);
    return 1;
}

static void rehashed_row_named_by_next(void **state)
{
    struct forge f = {.target = 5, .reply = "250 delivered"};
    char sql[256];

    (void)state;
    fill(1, 10);
    assert_int_equal(store_history_scan(s, forge_row, &f, NULL), 1);
    snprintf(sql, sizeof sql,
             "DROP TRIGGER history_no_update;"
             "UPDATE history SET server_reply = '250 delivered', hash = '%s' WHERE id = 5",
             f.hash);
    attack(sql);
    expect_broken(6, 6, "altered");
}

/* A forged row slipped in after row 5 (later rows renumbered), with a
 * hash right for itself: the row after it breaks. */
static void inserted_row_named(void **state)
{
    struct store_history r;
    sqlite3_stmt *st;
    char prev[65], hash[65];
    struct buf b;
    struct err e;

    (void)state;
    fill(1, 10);
    attack("DROP TRIGGER history_no_update;"
           "UPDATE history SET id = id + 1000000 WHERE id > 5;"
           "UPDATE history SET id = id - 999999 WHERE id > 1000000");
    assert_int_equal(
        sqlite3_prepare_v2(s->db, "SELECT hash FROM history WHERE id = 5", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(prev, sizeof prev, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    /* the forgery's own hash is right: chained to row 5, as audit_append would */
    memset(&r, 0, sizeof r);
    r.at = "2026-03-01T02:00:05Z";
    r.event = "unsubscribed";
    r.address = "victim@example.org";
    buf_init(&b, 0);
    buf_printf(&b, "%s\n", prev);
    assert_int_equal(audit_canonical(&r, &b), 0);
    audit_sha256_hex(buf_str(&b), b.len, hash);
    buf_release(&b);
    r.id = 6;
    r.hash = hash;
    assert_int_equal(store_history_insert(s, &r, &e), 0);
    expect_broken(7, 7, "inserted");
}

static void rollback_keeps_chain(void **state)
{
    struct store_history r;
    struct err e;
    int i;

    (void)state;
    fill(1, 3);
    assert_int_equal(store_begin(s, &e), 0);
    memset(&r, 0, sizeof r);
    r.event = "queued";
    for (i = 0; i < 5; i++)
        assert_int_equal(audit_append(s, &r, &e), 0);
    assert_int_equal(r.id, 8);
    store_rollback(s);
    expect_intact(3);
    fill(4, 6); /* outside a transaction, after the rollback */
    expect_intact(6);
}

static void triggers_refuse_update_and_delete(void **state)
{
    (void)state;
    fill(1, 3);
    assert_int_not_equal(
        sqlite3_exec(s->db, "UPDATE history SET reason = 'x' WHERE id = 2", NULL, NULL, NULL),
        SQLITE_OK);
    assert_non_null(strstr(sqlite3_errmsg(s->db), "append-only"));
    assert_int_not_equal(sqlite3_exec(s->db, "DELETE FROM history WHERE id = 3", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_non_null(strstr(sqlite3_errmsg(s->db), "append-only"));
    expect_intact(3);
}

static double cpu_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A nightly run: many appends in one transaction.  POSTIER_AUDIT_ROWS
 * overrides the count (valgrind runs use fewer). */
static void many_appends_in_one_transaction(void **state)
{
    const char *env = getenv("POSTIER_AUDIT_ROWS");
    long long n = env ? strtoll(env, NULL, 10) : 100000, id;
    double t0, t1, t2;
    char hash[65];
    struct err e;
    long long i;

    (void)state;
    assert_int_equal(store_begin(s, &e), 0);
    t0 = cpu_now();
    fill(1, n);
    t1 = cpu_now();
    assert_int_equal(store_commit(s, &e), 0);
    t2 = cpu_now();
    expect_intact(n);
    printf("# %lld appends in one transaction: %.3f s CPU, %.0f appends/s (commit %.3f s);"
           " verify %.0f rows/s\n",
           n, t1 - t0, (double)n / (t1 - t0), t2 - t1, (double)n / (cpu_now() - t2));
    /* the tail re-read by every append: in and out of a transaction */
    assert_int_equal(store_begin(s, &e), 0);
    t0 = cpu_now();
    for (i = 0; i < n; i++)
        assert_int_equal(store_history_last(s, &id, hash, &e), 0);
    t1 = cpu_now();
    store_rollback(s);
    for (i = 0; i < n; i++)
        assert_int_equal(store_history_last(s, &id, hash, &e), 0);
    printf("# store_history_last: %.2f us per call in a transaction, %.2f us outside\n",
           (t1 - t0) * 1e6 / (double)n, (cpu_now() - t1) * 1e6 / (double)n);
    assert_int_equal(id, n);
}

/* Retention: the purged prefix goes, a `purged` row anchors the chain,
 * later rows chain on; a forged anchor is caught. */
static void purge_keeps_chain(void **state)
{
    long long removed = -1, rows = -1, bad = -1, last;
    char hash[65];
    struct err e;

    (void)state;
    fill(1, 10); /* dated March 2026, but every 7th row now */
    assert_int_equal(audit_purge(s, "2000-01-01", 0, &removed, &e), 0);
    assert_int_equal(removed, 0);
    expect_intact(10);
    /* a prefix, up to the first row dated on or after June (row 7, dated
     * now): a row out of date order never carries later ones away */
    assert_int_equal(audit_purge(s, "2026-06-01", 0, &removed, &e), 0);
    assert_int_equal(removed, 6);
    assert_int_equal(store_history_anchor(s, &last, hash, &e), 0);
    assert_int_equal(last, 6);
    assert_int_equal((int)strlen(hash), 64);
    expect_intact(5); /* rows 7 to 10 and the purge row, chained to the anchor */
    fill(12, 14);
    expect_intact(8);
    assert_int_equal(audit_verify(s, &rows, &bad, &e), 0);
    attack("UPDATE history_anchor SET last_hash = "
           "'0000000000000000000000000000000000000000000000000000000000000000'");
    expect_broken(7, 1, "hash does not match");
}

/* The keyed chain: a key file made 0600 by audit_key_ensure, HMAC rows
 * the public recipe cannot reproduce, the head file, anchors, a lost key. */
static char key_path[160], head_path[160];

static void keyed_setup(void)
{
    struct err e;

    snprintf(key_path, sizeof key_path, "%s/history.key", dir);
    snprintf(head_path, sizeof head_path, "%s/history.head", dir);
    audit_configure(s, key_path, head_path);
    assert_int_equal(audit_key_ensure(s, NULL, &e), 0);
}

static void keyed_cleanup(void)
{
    char lock[200];

    audit_configure(s, NULL, NULL);
    unlink(key_path);
    unlink(head_path);
    snprintf(lock, sizeof lock, "%s.lock", head_path);
    unlink(lock);
}

static void keyed_chain_head_and_anchor(void **state)
{
    struct audit_check k;
    char line[256], bad[256];
    struct stat st;
    struct err e;

    (void)state;
    keyed_setup();
    fill(1, 6);
    assert_int_equal(stat(key_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(audit_head_update(s, &e), 0);
    assert_int_equal(stat(head_path, &st), 0);
    assert_int_equal(audit_anchor(s, line, sizeof line, &e), 0);
    assert_non_null(strstr(line, "postier-anchor 1 id=6 count=6 at="));
    assert_int_equal(audit_verify_full(s, line, &k, &e), 0);
    assert_int_equal(k.rows, 6);
    assert_int_equal(k.unkeyed, 0);
    assert_int_equal(k.anchor_id, 6);
    /* a malformed anchor is bad input; a wrong hash, a broken anchor row */
    assert_int_equal(audit_verify_full(s, "postier-anchor 1 id=6", &k, &e), ERR_INPUT);
    snprintf(bad, sizeof bad, "%.*s%s", (int)(strlen(line) - 64), line,
             "1111111111111111111111111111111111111111111111111111111111111111");
    assert_int_equal(audit_verify_full(s, bad, &k, &e), ERR_PERMFAIL);
    assert_int_equal(k.bad, 6);
    /* the newest rows deleted: the head file names the missing row */
    attack("DROP TRIGGER history_no_delete; DELETE FROM history WHERE id >= 5");
    audit_configure(s, key_path, head_path); /* the state goes with the store */
    assert_int_equal(audit_verify_full(s, NULL, &k, &e), ERR_PERMFAIL);
    assert_int_equal(k.bad, 6);
    assert_non_null(strstr(e.msg, "newest rows were deleted"));
    keyed_cleanup();
}

static void keyed_lost_key_refused(void **state)
{
    struct store_history r = {.event = "sent"};
    struct stat st;
    struct err e;

    (void)state;
    keyed_setup();
    fill(1, 3);
    unlink(key_path);
    audit_configure(s, key_path, dir); /* a new process */
    assert_int_equal(audit_append(s, &r, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "missing: restore it from backup"));
    assert_int_equal(audit_key_ensure(s, NULL, &e), ERR_NOTFOUND);
    assert_int_not_equal(stat(key_path, &st), 0);
    assert_int_equal(audit_verify(s, NULL, NULL, &e), ERR_INPUT);
    keyed_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(purge_keeps_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(keyed_chain_head_and_anchor, setup, teardown),
        cmocka_unit_test_setup_teardown(keyed_lost_key_refused, setup, teardown),
        cmocka_unit_test(sha256_vectors),
        cmocka_unit_test(canonical_order_and_empties),
        cmocka_unit_test(canonical_escapes),
        cmocka_unit_test(canonical_is_injective),
        cmocka_unit_test(canonical_too_big),
        cmocka_unit_test_setup_teardown(append_checks_input_and_fills_time, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(insert_at_taken_id_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(two_writers_interleaved, setup, teardown),
        cmocka_unit_test_setup_teardown(altered_row_named, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_row_named, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_first_row_named, setup, teardown),
        cmocka_unit_test_setup_teardown(rehashed_row_named_by_next, setup, teardown),
        cmocka_unit_test_setup_teardown(inserted_row_named, setup, teardown),
        cmocka_unit_test_setup_teardown(rollback_keeps_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(triggers_refuse_update_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(many_appends_in_one_transaction, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
