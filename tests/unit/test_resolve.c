/* Unit tests of resolve/: each rule of SPEC §2 as its own case, on an
 * in-memory book: explicit contact, flags and display order, validity,
 * the site rule, levels main/address, fallback, esign consent, duplicate
 * addresses, claims falling back to their client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/strv.h"
#include "resolve/resolve.h"

#include "book.h"

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

/* contacts_display_name: first and last name, or the company; cut to the
 * buffer exactly as snprintf would cut it (even inside a UTF-8 sequence:
 * the callers' buffers are far larger than any name). */
/* (not inlined: GCC would see a NULL "%s" argument on a path never taken) */
__attribute__((noinline)) static const char *or_empty(const char *v)
{
    return v ? v : "";
}

static void display_names(void **state)
{
    /* clang-format off */
    static const char *const cases[][3] = { /* first, last, company */
        {"Élodie", "Dupont", "ACME"}, {NULL, "Dupont", "ACME"}, {"Élodie", NULL, "ACME"},
        {NULL, NULL, "Société Générale"}, {NULL, NULL, NULL}, {"Jean-Pierre", "Lefèvre", NULL},
    };
    /* clang-format on */
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *first = cases[i][0], *last = cases[i][1], *company = cases[i][2];
        struct store_rec r;

        store_rec_init(&r, STORE_CONTACT);
        store_rec_set(&r, CF_FIRST_NAME, first);
        store_rec_set(&r, CF_LAST_NAME, last);
        store_rec_set(&r, CF_COMPANY, company);
        for (n = 0; n < 32; n++) {
            char want[32], got[32];
            memset(want, 'x', sizeof want);
            memset(got, 'x', sizeof got);
            if (last || first)
                snprintf(want, n, "%s%s%s", or_empty(first), first && last ? " " : "",
                         or_empty(last));
            else
                snprintf(want, n, "%s", or_empty(company));
            if (n) { /* a cut lands on a character boundary (str_put) */
                size_t w = strlen(want), c = str_utf8_cut(want, w);
                memset(want + c, 'x', w + 1 - c);
                want[c] = '\0';
            }
            contacts_display_name(&r, got, n);
            assert_memory_equal(got, want, sizeof want);
        }
        store_rec_release(&r);
    }
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
        cmocka_unit_test(display_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
