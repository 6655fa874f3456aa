/* Unit tests of merge/: what each placeholder name reaches (recipient,
 * party, document fields and their items, sender, typed contacts, a
 * campaign's names), type codes that look like namespaces, the document
 * fields read once per document yet right for each document, and the
 * errors of unknown names.  Rendered through SMS templates: plain text,
 * no MIME around it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "merge/merge.h"
#include "resolve/resolve.h"

#include "book.h"

static char dir[64];
static long long c_main, c_exp;

/* templates/<name>/fr.sms.tmpl holding text */
static void write_template(const char *name, const char *text)
{
    char path[160];
    FILE *fp;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/%s/fr.sms.tmpl", dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int setup(void **state)
{
    static const char *const codes[] = {"exp", "campaign", "sender", "doc"};
    struct err e;
    size_t i;

    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_merge.XXXXXX");
    if (!mkdtemp(dir) || store_open(":memory:", &s, &e))
        return -1;
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (store_type_add(s, codes[i], codes[i], NULL, &e))
            return -1;
    save(STORE_PARTY, "ref=C1", "kind=client", "name=Lefevre SARL", NULL);
    save(STORE_PARTY, "ref=C2", "kind=client", "name=Other SA", NULL);
    c_main = save(STORE_CONTACT, "party_ref=C1", "first_name=Anne", "last_name=Martin",
                  "email=anne@lefevre.fr;b@lefevre.fr", "phones=0612345678;0145678901",
                  "flags=invoice", NULL);
    c_exp = save(STORE_CONTACT, "party_ref=C1", "type=exp", "company=Expert Co",
                 "email=exp@x.fr", "display_order=5", NULL);
    save(STORE_CONTACT, "party_ref=C1", "type=campaign", "last_name=Camp", NULL);
    save(STORE_CONTACT, "party_ref=C1", "type=sender", "last_name=Send", NULL);
    save(STORE_CONTACT, "party_ref=C1", "type=exp", "last_name=Ended",
         "valid_until=2020-01-01", "display_order=1", NULL);
    save(STORE_CONTACT, "party_ref=C2", "last_name=Solo", NULL);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    store_close(s);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static struct merge *new_merge(void)
{
    struct merge *m = NULL;
    struct err e;

    if (merge_new(s, dir, "Postier", "noreply@x.invalid", "2026-11-23", &m, &e))
        fail_msg("merge_new: %s", e.msg);
    return m;
}

/* Renders template name for contact id and document (type invoice,
 * party C1 unless given) into out; returns merge_sms's code. */
static int render(struct merge *m, const char *name, long long id, long long doc_id,
                  const char *fields, struct buf *out, struct err *e)
{
    struct store_document d = {.id = doc_id, .type = name, .ref = "F1", .party_ref = "C1",
                               .to_level = "contacts", .fields = fields};
    struct resolve_rcpt r;
    struct merge_info info;
    int rc;

    memset(&r, 0, sizeof r);
    if (resolve_contact(s, id, &r, e))
        fail_msg("resolve_contact: %s", e->msg);
    buf_reset(out);
    rc = merge_sms(m, &d, &r, out, &info, e);
    store_rec_release(&r.contact);
    return rc;
}

static void expect(struct merge *m, const char *name, long long id, long long doc_id,
                   const char *fields, const char *want)
{
    struct buf out;
    struct err e;

    buf_init(&out, 0);
    if (render(m, name, id, doc_id, fields, &out, &e))
        fail_msg("%s: %s", name, e.msg);
    assert_string_equal(buf_str(&out), want);
    buf_release(&out);
}

/* Every kind of name, each twice (the same name is looked up through one
 * binding) and in #if and #each; type codes that are also namespaces. */
static void names(void **state)
{
    struct merge *m;

    (void)state;
    write_template("n1", "{{contact.name}}/{{contact.name}}|{{contact.email}}|{{contact.phone}}|"
                         "{{contact.first_name|upper}}|{{party.name}}|{{party.ref}}|"
                         "{{doc.ref}}|{{doc.type}}|{{sender.name}}|{{sender.email}}\n");
    write_template("n2", "{{exp}}|{{exp.name}}|{{exp.email}}|{{exp.phone|default:\"-\"}}|"
                         "{{campaign}}|{{campaign.name}}|{{campaign.last_name}}|"
                         "{{sender.last_name}}|{{sender.name}}|{{doc}}\n");
    write_template("n3", "{{doc.amount|money}} {{#if doc.due}}due {{doc.due|date}}{{else}}"
                         "none{{/if}} {{doc.absent|default:\"?\"}}{{#each doc.lines}}"
                         " [{{label}}:{{amount|money}}:{{exp}}:{{note|default:\"-\"}}]"
                         "{{/each}} {{doc.lines.label|default:\"\"}}.\n");
    m = new_merge();
    expect(m, "n1", c_main, 1, "{}",
           "Anne Martin/Anne Martin|anne@lefevre.fr|+33612345678|ANNE|Lefevre SARL|C1|"
           "F1|n1|Postier|noreply@x.invalid");
    /* the first active exp in display order; codes before namespaces
     * only where the namespace does not apply (no campaign here) */
    expect(m, "n2", c_main, 1, "{}", "Expert Co|Expert Co|exp@x.fr|-|Camp|Camp|Camp|Send|"
                                     "Postier|");
    expect(m, "n3", c_main, 2,
           "{\"amount\": \"1234.5\", \"due\": \"2026-12-01\", \"lines\": "
           "[{\"label\": \"a\", \"amount\": 2, \"note\": \"n\"}, {\"label\": \"b\", "
           "\"amount\": \"3\"}]}",
           "1\xe2\x80\xaf" "234,50\xc2\xa0\xe2\x82\xac due 01/12/2026 ? [a:2,00\xc2\xa0\xe2\x82\xac"
           ":Expert Co:n] [b:3,00\xc2\xa0\xe2\x82\xac:Expert Co:-] .");
    merge_free(m);
}

/* A document's fields are read once per document: the next document,
 * and a document seen again, get their own values. */
static void fields_per_document(void **state)
{
    static const char *const a = "{\"amount\": \"1\", \"who\": \"A\", \"k\": \"x\", "
                                 "\"lines\": [{\"x\": \"a1\"}]}",
                             *b = "{\"amount\": 2.5, \"k\": 7, \"lines\": [{\"x\": \"b1\"}, "
                                 "{\"x\": \"b2\"}]}";
    struct merge *m;

    (void)state;
    /* (a number's text is made in a buffer the next number overwrites:
     * doc.k comes between the two doc.amount) */
    write_template("f1", "{{doc.amount}} {{doc.who|default:\"-\"}} {{#if doc.who}}{{doc.who}}"
                         "{{/if}}{{#each doc.lines}}<{{x}}>{{/each}} {{doc.k}} "
                         "{{doc.amount|money}}\n");
    m = new_merge();
    expect(m, "f1", c_main, 10, a, "1 A A<a1> x 1,00\xc2\xa0\xe2\x82\xac");
    expect(m, "f1", c_exp, 10, a, "1 A A<a1> x 1,00\xc2\xa0\xe2\x82\xac");
    expect(m, "f1", c_main, 11, b, "2.5 - <b1><b2> 7 2,50\xc2\xa0\xe2\x82\xac");
    expect(m, "f1", c_main, 10, a, "1 A A<a1> x 1,00\xc2\xa0\xe2\x82\xac");
    /* a field the document lacks, unguarded, is an error, not "" */
    {
        struct buf out;
        struct err e;
        buf_init(&out, 0);
        assert_int_equal(render(m, "f1", c_exp, 12, "{\"lines\": []}", &out, &e), ERR_INPUT);
        assert_non_null(strstr(e.msg, "f1/fr.sms.tmpl:1:3: document F1 has no field 'amount'"));
        assert_int_equal(out.len, 0);
        buf_release(&out);
    }
    merge_free(m);
}

/* The recipient's display name is made once per message, the typed
 * contact's each time: both right when they alternate.  A type code
 * never names the recipient himself (the only expert gets none). */
static void display_names(void **state)
{
    struct merge *m;

    (void)state;
    write_template("d1", "{{contact.name}}+{{exp.name}}+{{contact.name}}+{{exp}}\n");
    m = new_merge();
    expect(m, "d1", c_main, 1, "{}", "Anne Martin+Expert Co+Anne Martin+Expert Co");
    expect(m, "d1", c_exp, 1, "{}", "Expert Co++Expert Co+");
    merge_free(m);
}

/* Unknown names: the same errors, at their place, every time. */
static void unknown_names(void **state)
{
    /* clang-format off */
    static const struct { const char *text, *msg; } cases[] = {
        {"a {{contact.nope}}", "u0/fr.sms.tmpl:1:5: unknown placeholder 'contact.nope'"},
        {"{{party.nope}}", "u1/fr.sms.tmpl:1:3: unknown placeholder 'party.nope'"},
        {"{{sender.nope}}", "u2/fr.sms.tmpl:1:3: unknown placeholder 'sender.nope'"},
        {"{{nope}}", "u3/fr.sms.tmpl:1:3: unknown placeholder 'nope'"},
        {"{{exp.nope}}", "u4/fr.sms.tmpl:1:3: unknown placeholder 'exp.nope'"},
        {"{{unsubscribe.url}}", "u5/fr.sms.tmpl:1:3: unknown placeholder 'unsubscribe.url'"},
        {"{{contact.name.x}}", "u6/fr.sms.tmpl:1:3: unknown placeholder 'contact.name.x'"},
    };
    /* clang-format on */
    struct merge *m;
    struct buf out;
    struct err e;
    size_t i, k;

    (void)state;
    buf_init(&out, 0);
    m = new_merge();
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[8], want[256];
        snprintf(name, sizeof name, "u%zu", i);
        write_template(name, cases[i].text);
        snprintf(want, sizeof want, "%s/%s", dir, cases[i].msg);
        for (k = 0; k < 2; k++) {
            assert_int_equal(render(m, name, c_main, 1, "{}", &out, &e), ERR_INPUT);
            assert_string_equal(e.msg, want);
            assert_int_equal(out.len, 0);
        }
    }
    /* a code no type has yet is false in #if (the shipped claim template
     * on a new installation), not an error */
    write_template("u9", "{{#if zz}}x {{zz.name}}{{/if}}ok");
    assert_int_equal(render(m, "u9", c_main, 1, "{}", &out, &e), 0);
    assert_string_equal(buf_str(&out), "ok");
    /* ... but only a name written as code.<field> somewhere: alone, a
     * lowercase name in #if is a typo */
    write_template("u10", "{{#if civilite}}x{{/if}}ok");
    assert_int_equal(render(m, "u10", c_main, 1, "{}", &out, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "unknown placeholder 'civilite'"));
    merge_free(m);
    buf_release(&out);
}

/* A campaign's own names, and the type codes they shadow elsewhere. */
static void campaign_names(void **state)
{
    struct merge_campaign c = {.name = "Spring", .template_name = "c1", .sms = 1,
                               .marketing = 1, .unsub_url = "https://u/x", .stop_text = "STOP"};
    struct resolve_rcpt r;
    struct merge_info info;
    struct merge *m;
    struct buf out;
    struct err e;

    (void)state;
    write_template("c1", "{{campaign.name}} {{unsubscribe.url}} {{campaign.last_name}} "
                         "{{contact.name}} {{party.name}} {{exp.email}}\n");
    m = new_merge();
    memset(&r, 0, sizeof r);
    assert_int_equal(resolve_contact(s, c_main, &r, &e), 0);
    buf_init(&out, 0);
    assert_int_equal(merge_campaign(m, &c, &r, "<x@y>", &out, &info, &e), 0);
    assert_string_equal(buf_str(&out),
                        "Spring https://u/x Camp Anne Martin Lefevre SARL exp@x.fr STOP");
    store_rec_release(&r.contact);
    buf_release(&out);
    merge_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names),         cmocka_unit_test(fields_per_document),
        cmocka_unit_test(display_names), cmocka_unit_test(unknown_names),
        cmocka_unit_test(campaign_names),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
