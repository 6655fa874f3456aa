/* Unit tests of resolve/: each rule of SPEC §2 as its own case, on an
 * in-memory book: explicit contact, flags and display order, validity,
 * the site rule, levels main/address, fallback, esign consent, duplicate
 * addresses, claims falling back to their client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "contacts/contacts.h"
#include "resolve/resolve.h"

static struct store *s;

static long long save(enum store_kind kind, ...)
{
    struct store_rec r;
    const char *kv;
    struct err e;
    va_list ap;
    long long id;

    store_rec_init(&r, kind);
    va_start(ap, kind);
    while ((kv = va_arg(ap, const char *))) {
        const char *eq = strchr(kv, '=');
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(eq - kv), kv);
        store_rec_set(&r, (size_t)store_field_index(kind, name), eq + 1);
    }
    va_end(ap);
    if (contacts_save(s, &r, &e))
        fail_msg("save: %s", e.msg);
    id = r.id;
    store_rec_release(&r);
    return id;
}

static long long c_old, c_compta, c_dir, c_atelier, c_noemail, c_dup, c_future;

static int setup(void **state)
{
    struct err e;

    (void)state;
    if (store_open(":memory:", &s, &e))
        return -1;
    save(STORE_PARTY, "ref=C1", "kind=client", "name=Lefèvre SARL", "email=main@lefevre.fr",
         NULL);
    save(STORE_PARTY, "ref=C2", "kind=client", "name=Nobody SA", "email=accueil@nobody.fr",
         NULL);
    save(STORE_PARTY, "ref=K1", "kind=claim", "name=Sinistre", "client_ref=C1", NULL);
    save(STORE_ADDRESS, "party_ref=C1", "label=Siège", "contact_name=Accueil Siège",
         "contact_email=siege@lefevre.fr", NULL);
    save(STORE_ADDRESS, "party_ref=C1", "label=Atelier", "contact_name=Atelier", NULL);
    c_dir = save(STORE_CONTACT, "party_ref=C1", "last_name=Dir", "email=dir@lefevre.fr",
                 "flags=invoice|order", "display_order=2", NULL);
    c_compta = save(STORE_CONTACT, "party_ref=C1", "last_name=Compta", "email=compta@lefevre.fr",
                    "flags=invoice", "display_order=1", "site=Siège", "consents=esign", NULL);
    c_old = save(STORE_CONTACT, "party_ref=C1", "last_name=Old", "email=old@lefevre.fr",
                 "flags=invoice", "valid_until=2025-06-30", NULL);
    c_future = save(STORE_CONTACT, "party_ref=C1", "last_name=Future", "email=f@lefevre.fr",
                    "flags=invoice", "valid_from=2027-01-01", NULL);
    c_atelier = save(STORE_CONTACT, "party_ref=C1", "last_name=Atelier", "email=at@lefevre.fr",
                     "flags=order", "site=Atelier", NULL);
    c_noemail = save(STORE_CONTACT, "party_ref=C1", "last_name=NoMail", "flags=invoice", NULL);
    c_dup = save(STORE_CONTACT, "party_ref=C1", "last_name=Dup", "email=COMPTA@lefevre.fr",
                 "flags=invoice", "display_order=9", NULL);
    save(STORE_CONTACT, "party_ref=C1", "last_name=Other", "email=o@lefevre.fr",
         "flags=after_sales", NULL);
    /* SMS: only mobiles, the first one, never the fax */
    save(STORE_PARTY, "ref=C3", "kind=client", "name=Mobiles SA", NULL);
    save(STORE_CONTACT, "party_ref=C3", "last_name=Landline first", "flags=after_sales",
         "phones=01 45 67 89 01;06 12 34 56 78;07 12 34 56 78", "display_order=1", NULL);
    save(STORE_CONTACT, "party_ref=C3", "last_name=Fax only", "flags=after_sales",
         "phones=01 45 67 89 02", "fax=06 12 34 56 70", "display_order=2", NULL);
    save(STORE_CONTACT, "party_ref=C3", "last_name=Guadeloupe", "flags=after_sales",
         "phones=+33 6 90 12 34 56", "display_order=3", NULL);
    save(STORE_CONTACT, "party_ref=C3", "last_name=Same mobile", "flags=after_sales",
         "phones=+33612345678", "display_order=4", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close(s);
    return 0;
}

/* Resolves and returns "address:reason;..." in order (reason '-' for a
 * recipient). */
static char *run_opts(struct store_document *d, const struct resolve_opts *op);

static char *run(struct store_document *d, int fallback)
{
    struct resolve_opts o = {.date = "2026-11-23", .fallback_main = fallback};

    return run_opts(d, &o);
}

static char *run_opts(struct store_document *d, const struct resolve_opts *op)
{
    static char out[1024];
    struct resolve_opts o = *op;
    struct resolve_result r = {0};
    struct err e;
    size_t i, n = 0;

    if (!d->type)
        d->type = "invoice";
    if (resolve_document(s, d, &o, &r, &e))
        fail_msg("resolve: %s", e.msg);
    out[0] = '\0';
    for (i = 0; i < r.n; i++)
        n += (size_t)snprintf(out + n, sizeof out - n, "%s:%s;",
                              r.v[i].address[0] ? r.v[i].address : r.v[i].display,
                              r.v[i].reason ? r.v[i].reason : "-");
    resolve_release(&r);
    return out;
}

static void flagged_valid_in_display_order(void **state)
{
    struct store_document d = {.party_ref = "C1"};

    (void)state;
    assert_string_equal(run(&d, 1), "compta@lefevre.fr:-;dir@lefevre.fr:-;old@lefevre.fr:inactive;"
                                    "f@lefevre.fr:inactive;NoMail:no_email;"
                                    "COMPTA@lefevre.fr:duplicate_address;");
}

static void sms_first_mobile(void **state)
{
    struct store_document d = {.type = "after_sales", .party_ref = "C3"};
    struct resolve_opts o = {.date = "2026-11-23", .fallback_main = 1, .sms = 1};

    (void)state;
    assert_string_equal(run_opts(&d, &o), "+33612345678:-;Fax only:no_phone;+590690123456:-;"
                                          "+33612345678:duplicate_address;");
    o.sms = 0; /* the same contacts by e-mail: none has an address */
    assert_string_equal(run_opts(&d, &o), "Landline first:no_email;Fax only:no_email;"
                                          "Guadeloupe:no_email;Same mobile:no_email;"
                                          "Mobiles SA:no_email;");
}

static void explicit_contact(void **state)
{
    struct store_document d = {.party_ref = "C1", .contact_id = 0};

    (void)state;
    d.contact_id = c_atelier; /* not flagged for invoices: explicit wins */
    assert_string_equal(run(&d, 1), "at@lefevre.fr:-;");
    d.contact_id = c_old; /* still subject to validity */
    assert_string_equal(run(&d, 1), "old@lefevre.fr:inactive;");
}

static void site_rule(void **state)
{
    struct store_document d = {.type = "order", .party_ref = "C1", .address_label = "Siège"};

    (void)state;
    /* at Siège: contacts of Siège plus those with no site; Atelier's excluded */
    assert_string_equal(run(&d, 1), "dir@lefevre.fr:-;");
    d.address_label = "Atelier";
    assert_string_equal(run(&d, 1), "dir@lefevre.fr:-;at@lefevre.fr:-;");
}

static void levels(void **state)
{
    struct store_document d = {.party_ref = "C1", .to_level = "main"};

    (void)state;
    assert_string_equal(run(&d, 1), "main@lefevre.fr:-;");
    d.to_level = "address";
    d.address_label = "Siège";
    assert_string_equal(run(&d, 1), "siege@lefevre.fr:-;");
    d.address_label = "Atelier"; /* the site has no e-mail */
    assert_string_equal(run(&d, 1), "Atelier:no_email;");
}

static void fallback_main(void **state)
{
    struct store_document d = {.party_ref = "C2"};

    (void)state;
    assert_string_equal(run(&d, 1), "accueil@nobody.fr:-;");
    assert_string_equal(run(&d, 0), "");
    /* a claim with no e-mail of its own falls back to its client's */
    d.party_ref = "K1";
    d.type = "claim_settlement";
    assert_string_equal(run(&d, 1), "main@lefevre.fr:-;");
}

static void esign_consent(void **state)
{
    struct store_document d = {.party_ref = "C1", .esign = 1};

    (void)state;
    assert_string_equal(run(&d, 1),
                        "compta@lefevre.fr:-;dir@lefevre.fr:no_consent:esign;"
                        "old@lefevre.fr:inactive;f@lefevre.fr:inactive;NoMail:no_email;"
                        "COMPTA@lefevre.fr:no_consent:esign;"); /* one reason each: consent first */
    (void)c_dup;
    (void)c_noemail;
    (void)c_future;
    (void)c_compta;
    (void)c_dir;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flagged_valid_in_display_order),
        cmocka_unit_test(explicit_contact),
        cmocka_unit_test(sms_first_mobile),
        cmocka_unit_test(site_rule),
        cmocka_unit_test(levels),
        cmocka_unit_test(fallback_main),
        cmocka_unit_test(esign_consent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
