/* Unit tests of store/ (on :memory:) and of the contacts rules above it:
 * schema, types, parties, sites, contacts with reference resolution,
 * default display order, validity filter, search, guarded deletion,
 * --sync clearing and the append-only history triggers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "audit/audit.h"
#include "contacts/contacts.h"
#include "store/store.h"

static struct store *s;

static int setup(void **state)
{
    struct err e;

    (void)state;
    return store_open(":memory:", &s, &e);
}

static int teardown(void **state)
{
    (void)state;
    store_close(s);
    return 0;
}

/* Saves a record given as "field=value" pairs; returns the rc. */
static int save(enum store_kind kind, long long *id, struct err *e, ...)
{
    struct store_rec r;
    const char *kv;
    va_list ap;
    int rc;

    store_rec_init(&r, kind);
    va_start(ap, e);
    while ((kv = va_arg(ap, const char *))) {
        const char *eq = strchr(kv, '=');
        char name[64];
        int i;
        snprintf(name, sizeof name, "%.*s", (int)(eq - kv), kv);
        i = store_field_index(kind, name);
        if (i < 0)
            fail_msg("no field %s", name);
        store_rec_set(&r, (size_t)i, eq + 1);
    }
    va_end(ap);
    rc = contacts_save(s, &r, e);
    if (id)
        *id = r.id;
    store_rec_release(&r);
    return rc;
}

static void schema_is_current(void **state)
{
    (void)state;
    assert_int_equal(store_schema_version(s), 12);
}

/* The state CHECK (written as comparisons since schema 8) still refuses
 * what is not a state, on insert and on update. */
static void delivery_states_checked(void **state)
{
    static const char *const ok[] = {"queued", "sent", "deferred", "failed"};
    struct store_delivery d = {.document_id = 1, .channel = "email", .message_id = "<a@b>",
                               .state = "lost"};
    char addr[32];
    struct err e;
    size_t i;

    (void)state;
    d.address = "x@exemple.fr";
    assert_int_not_equal(store_delivery_add(s, &d, &e), 0);
    for (i = 0; i < 4; i++) {
        snprintf(addr, sizeof addr, "n%zu@exemple.fr", i);
        d.address = addr;
        d.state = ok[i];
        assert_int_equal(store_delivery_add(s, &d, &e), 0);
        assert_int_equal(store_delivery_update(s, d.id, ok[(i + 1) % 4], 1, NULL, &e), 0);
        assert_int_not_equal(store_delivery_update(s, d.id, "Sent", 1, NULL, &e), 0);
        assert_int_not_equal(store_delivery_update(s, d.id, "", 1, NULL, &e), 0);
    }
}

static int count_cb(void *ctx, const struct store_rec *r)
{
    (void)r;
    (*(int *)ctx)++;
    return 0;
}

static void types_unique_and_guarded(void **state)
{
    struct err e;
    long long id, cid;

    (void)state;
    assert_int_equal(store_type_add(s, "exp", "Expert", &id, &e), 0);
    assert_int_equal(store_type_add(s, "exp", "Other", NULL, &e), ERR_EXISTS);
    assert_int_equal(store_type_edit(s, "nope", NULL, "x", &e), ERR_NOTFOUND);
    assert_int_equal(store_type_edit(s, "exp", NULL, "Expert auto", &e), 0);
    assert_int_equal(save(STORE_PARTY, NULL, &e, "ref=T1", "kind=client", "name=T", NULL), 0);
    assert_int_equal(save(STORE_CONTACT, &cid, &e, "party_ref=T1", "type=exp",
                          "last_name=Blanc", NULL), 0);
    assert_int_equal(store_type_rm(s, "exp", &e), ERR_INUSE);
    assert_non_null(strstr(e.msg, "1 contact"));
    assert_int_equal(store_contact_rm(s, cid, &e), 0);
    assert_int_equal(store_type_rm(s, "exp", &e), 0);
    assert_int_equal(store_type_id(s, "exp", &id, &e), ERR_NOTFOUND);
}

static void references_resolved(void **state)
{
    struct err e;
    long long id;

    (void)state;
    assert_int_equal(save(STORE_PARTY, NULL, &e, "ref=C1", "kind=client", "name=Dupont SARL",
                          "phones=01 42 00 00 01", NULL), 0);
    /* same ref again updates */
    assert_int_equal(save(STORE_PARTY, NULL, &e, "ref=C1", "kind=client", "name=Dupont SA",
                          NULL), 0);
    assert_int_equal(save(STORE_ADDRESS, NULL, &e, "party_ref=C1", "label=Siège",
                          "city=Paris", NULL), 0);
    assert_int_equal(save(STORE_CONTACT, &id, &e, "party_ref=NOPE", "last_name=X", NULL),
                     ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "NOPE"));
    assert_int_equal(save(STORE_CONTACT, &id, &e, "party_ref=C1", "type=zz", "last_name=X",
                          NULL), ERR_NOTFOUND);
    assert_int_equal(save(STORE_CONTACT, &id, &e, "party_ref=C1", "site=Usine", "last_name=X",
                          NULL), ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "Usine"));
    assert_int_equal(save(STORE_CONTACT, &id, &e, "party_ref=C1", "site=Siège",
                          "last_name=Martin", "flags=order|invoice", "consents=esign",
                          "phones=06 12 34 56 78", NULL), 0);
    {
        struct store_rec r;
        store_rec_init(&r, STORE_CONTACT);
        assert_int_equal(store_get(s, STORE_CONTACT, id, NULL, &r, &e), 0);
        assert_string_equal(r.v[CF_SITE], "Siège");
        assert_string_equal(r.v[CF_FLAGS], "invoice|order");
        assert_string_equal(r.v[CF_CONSENTS], "esign");
        assert_string_equal(r.v[CF_PHONES], "+33612345678");
        assert_string_equal(r.v[CF_DISPLAY_ORDER], "1");
        store_rec_release(&r);
        store_rec_init(&r, STORE_PARTY);
        assert_int_equal(store_get(s, STORE_PARTY, 0, "C1", &r, &e), 0);
        assert_string_equal(r.v[PF_NAME], "Dupont SA");
        store_rec_release(&r);
    }
}

static void validation_names_the_field(void **state)
{
    static const struct {
        const char *kv, *field;
    } cases[] = {
        {"email=not-an-address", "field 'email'"},
        {"phones=call me", "field 'phones'"},
        {"flags=invoice|spam", "field 'flags'"},
        {"consents=everything", "field 'consents'"},
        {"valid_from=2026-02-30", "field 'valid_from'"},
        {"display_order=0", "field 'display_order'"},
        {"locale=de", "field 'locale'"},
    };
    struct err e;
    size_t i;

    (void)state;
    assert_int_equal(save(STORE_CONTACT, NULL, &e, "party_ref=C1", "first_name=Jean", NULL),
                     ERR_INPUT);
    assert_non_null(strstr(e.msg, "last name or a company"));
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = save(STORE_CONTACT, NULL, &e, "party_ref=C1", "last_name=X", cases[i].kv, NULL);
        if (rc != ERR_INPUT || !strstr(e.msg, cases[i].field))
            fail_msg("%s: rc %d '%s'", cases[i].kv, rc, e.msg);
    }
    assert_int_equal(save(STORE_CONTACT, NULL, &e, "party_ref=C1", "last_name=X",
                          "valid_from=2026-05-01", "valid_until=2026-04-01", NULL), ERR_INPUT);
    assert_int_equal(save(STORE_PARTY, NULL, &e, "ref=K1", "kind=claim", "name=Sinistre", NULL),
                     ERR_INPUT);
    assert_non_null(strstr(e.msg, "client_ref"));
    assert_int_equal(save(STORE_PARTY, NULL, &e, "ref=K 1", "kind=client", "name=x", NULL),
                     ERR_INPUT);
}

static void order_validity_and_search(void **state)
{
    struct store_query q = {0};
    struct err e;
    long long a, b;
    int n;
    char *words;

    (void)state;
    assert_int_equal(save(STORE_PARTY, NULL, &e, "ref=C2", "kind=client", "name=Durand", NULL), 0);
    assert_int_equal(save(STORE_CONTACT, &a, &e, "party_ref=C2", "last_name=Lefèvre",
                          "first_name=Élodie", "city=Orléans", NULL), 0);
    assert_int_equal(save(STORE_CONTACT, &b, &e, "party_ref=C2", "company=Garage Œuvre",
                          "valid_until=2020-12-31", "phones=+33 6 99 88 77 66", NULL), 0);
    q.party_ref = "C2";
    n = 0;
    assert_int_equal(store_list(s, STORE_CONTACT, &q, count_cb, &n, NULL, &e), 0);
    assert_int_equal(n, 2);
    q.date = "2026-01-01";
    n = 0;
    assert_int_equal(store_list(s, STORE_CONTACT, &q, count_cb, &n, NULL, &e), 0);
    assert_int_equal(n, 1);
    q.date = NULL;
    q.party_ref = NULL;
    words = contacts_search_query("ÉLODIE orleans");
    q.search = words;
    {
        long long total = -1;
        n = 0;
        assert_int_equal(store_list(s, STORE_CONTACT, &q, count_cb, &n, &total, &e), 0);
        assert_int_equal(n, 1);
        assert_int_equal(total, 1);
    }
    free(words);
    words = contacts_search_query("06 99 88");
    assert_string_equal(words, "069988");
    q.search = words;
    n = 0;
    assert_int_equal(store_list(s, STORE_CONTACT, &q, count_cb, &n, NULL, &e), 0);
    assert_int_equal(n, 1);
    free(words);
    words = contacts_search_query("oeuvre");
    q.search = words;
    n = 0;
    assert_int_equal(store_list(s, STORE_CONTACT, &q, count_cb, &n, NULL, &e), 0);
    assert_int_equal(n, 1);
    free(words);
    {
        struct store_rec r;
        store_rec_init(&r, STORE_CONTACT);
        assert_int_equal(store_get(s, STORE_CONTACT, b, NULL, &r, &e), 0);
        assert_string_equal(r.v[CF_DISPLAY_ORDER], "2"); /* after the party's last */
        store_rec_release(&r);
    }
}

static void deletion_guarded_and_sync(void **state)
{
    struct store *fs;
    sqlite3 *db;
    struct err e;
    long long linked, free_one;
    const char *path = "test_store_sync.db";
    char sql[256];

    (void)state;
    /* links are written by later modules: a file database lets the test
     * add them with a second connection */
    remove(path);
    assert_int_equal(store_open(path, &fs, &e), 0);
    {
        struct store *saved = s;
        s = fs;
        assert_int_equal(save(STORE_PARTY, NULL, &e, "ref=P", "kind=client", "name=P", NULL), 0);
        assert_int_equal(save(STORE_CONTACT, &linked, &e, "party_ref=P", "last_name=A", NULL), 0);
        assert_int_equal(save(STORE_CONTACT, &free_one, &e, "party_ref=P", "last_name=B", NULL),
                         0);
        s = saved;
    }
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "INSERT INTO history(at, event, contact_id, hash) VALUES ('2026-01-01','sent',%lld,'x')",
             linked);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    /* history is append-only */
    assert_int_not_equal(sqlite3_exec(db, "UPDATE history SET event = 'x'", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db, "DELETE FROM history", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_contact_rm(fs, linked, &e), ERR_INUSE);
    assert_non_null(strstr(e.msg, "end it instead"));
    assert_int_equal(store_contact_rm(fs, free_one, &e), 0);
    assert_int_equal(store_contact_rm(fs, free_one, &e), ERR_NOTFOUND);
    store_close(fs);
    remove(path);
}

/* Writes rows of 8 KB (100 transactions of 10, ~13 MB) and returns the
 * largest size the log reached after a commit; a reader takes a short
 * snapshot after each (as the run's planner does). */
static long long write_and_watch(struct store *fs, sqlite3 *reader, const char *wal,
                                 long long *rows)
{
    static char reply[8192];
    long long most = 0;
    struct err e;
    struct stat sb;

    memset(reply, 'x', sizeof reply - 1);
    for (int t = 0; t < 100; t++) {
        assert_int_equal(store_begin(fs, &e), 0);
        for (int i = 0; i < 10; i++) {
            struct store_history h = {.event = "sent", .channel = "email",
                                      .address = "a@exemple.fr", .server_reply = reply};
            assert_int_equal(audit_append(fs, &h, &e), 0);
            ++*rows;
        }
        assert_int_equal(store_commit(fs, &e), 0);
        assert_int_equal(sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM party; COMMIT",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        if (!stat(wal, &sb) && sb.st_size > most)
            most = sb.st_size;
    }
    return most;
}

/* The checkpointer keeps the log short while a writer writes without
 * pause (SQLite restarts the log only once all of it is copied, which a
 * checkpoint beside a busy writer alone never achieves), every row lands,
 * and once it stops the writer checkpoints itself again. */
static int keep_fields(void *ctx, const struct store_document *d)
{
    snprintf(ctx, 64, "%lld %s %s", d->id, d->party_ref, d->fields);
    return 0;
}

/* A document is found with its deliveries counted by state, and updated
 * in place (same id); its party is checked as on insert. */
static void documents_found_and_updated(void **state)
{
    struct store_document d = {.type = "invoice", .ref = "D1", .party_ref = "DP1",
                               .fields = "{\"amount\":\"\"}"};
    struct store_delivery v = {.channel = "email", .message_id = "<d@b>"};
    struct store_document_sends n, base;
    static const char *const states[] = {"sent", "queued", "deferred", "failed", "failed"};
    char got[64], want[64], addr[32];
    struct err e;
    size_t i;

    (void)state;
    assert_int_equal(save(STORE_PARTY, NULL, &e, "ref=DP1", "kind=client", "name=D", NULL), 0);
    assert_int_equal(save(STORE_PARTY, NULL, &e, "ref=DP2", "kind=client", "name=E", NULL), 0);
    assert_int_equal(store_document_insert(s, &d, &e), 0);
    assert_int_equal(store_document_find(s, "invoice", "D2", &n, keep_fields, got, &e),
                     ERR_NOTFOUND);
    assert_int_equal(store_document_find(s, "invoice", "D1", &n, keep_fields, got, &e), 0);
    snprintf(want, sizeof want, "%lld DP1 {\"amount\":\"\"}", d.id);
    assert_string_equal(got, want);
    base = n; /* (delivery_states_checked gave document 1 some) */
    v.document_id = d.id;
    for (i = 0; i < 5; i++) {
        snprintf(addr, sizeof addr, "d%zu@exemple.fr", i);
        v.address = addr;
        v.state = states[i];
        assert_int_equal(store_delivery_add(s, &v, &e), 0);
    }
    d.party_ref = "DP2";
    d.fields = "{\"amount\":\"800.00\"}";
    assert_int_equal(store_document_update(s, &d, &e), 0);
    assert_int_equal(store_document_find(s, "invoice", "D1", &n, keep_fields, got, &e), 0);
    snprintf(want, sizeof want, "%lld DP2 {\"amount\":\"800.00\"}", d.id);
    assert_string_equal(got, want);
    assert_true(n.sent == base.sent + 1 && n.pending == base.pending + 2 &&
                n.failed == base.failed + 2);
    d.party_ref = "NOPE";
    assert_int_equal(store_document_update(s, &d, &e), ERR_NOTFOUND);
}

static void checkpointer_bounds_the_log(void **state)
{
    char dir[] = "/tmp/postier-ckpt-XXXXXX", path[64], wal[72];
    struct store *fs;
    struct store_checkpointer *c;
    sqlite3 *reader, *db;
    sqlite3_stmt *st;
    long long rows = 0, most;
    struct err e;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/p.db", dir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    assert_int_equal(store_open(path, &fs, &e), 0);
    assert_int_equal(sqlite3_open(path, &reader), SQLITE_OK);
    /* 16 KB pages: the checkpointer is woken at 1,000 pages (16 MB) and,
     * however fast the writer, the log never passes 4,000 (64 MB, where the
     * writer copies the rest itself); the rows below are ~90 MB */
    assert_non_null(c = store_checkpointer_start(fs));
    assert_int_equal(sqlite3_exec(reader, "PRAGMA wal_autocheckpoint = 0", NULL, NULL, NULL),
                     SQLITE_OK);
    most = write_and_watch(fs, reader, wal, &rows);
    assert_true(most > (16ll << 20)); /* (the test wrote enough) */
    for (int round = 0; round < 6; round++)
        assert_true((most = write_and_watch(fs, reader, wal, &rows)) < (72ll << 20));
    store_checkpointer_stop(c);
    for (int round = 0; round < 7; round++) /* the writer's own checkpoints */
        assert_true((most = write_and_watch(fs, reader, wal, &rows)) < (72ll << 20));
    {
        long long checked = 0, bad = 0;
        assert_int_equal(audit_verify(fs, &checked, &bad, &e), 0);
        assert_int_equal(checked, rows);
    }
    sqlite3_close(reader);
    store_close(fs);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM history", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), rows);
    sqlite3_finalize(st);
    sqlite3_close(db);
    remove(path);
    remove(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    remove(wal);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schema_is_current),
        cmocka_unit_test(delivery_states_checked),
        cmocka_unit_test(types_unique_and_guarded),
        cmocka_unit_test(references_resolved),
        cmocka_unit_test(validation_names_the_field),
        cmocka_unit_test(order_validity_and_search),
        cmocka_unit_test(deletion_guarded_and_sync),
        cmocka_unit_test(checkpointer_bounds_the_log),
        cmocka_unit_test(documents_found_and_updated),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
