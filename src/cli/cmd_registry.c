/* `postier registry load FILE | check`: the asset-freeze register (SPEC
 * §6).  A loaded register is kept; every contact is checked against it at
 * load, on save and on import; a matching contact is never sent to. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>

#include "audit/audit.h"
#include "contacts/contacts.h"
#include "registry/registry.h"
#include "util/xalloc.h"

int cli_registry_after_save(struct cli *c, long long id)
{
    struct registry *r = NULL;
    long long matches = 0;
    int flagged = 0, rc;
    struct err e;

    if ((rc = contacts_registry_open(c->store, &r, &e)))
        return cli_fail(&e);
    if (!r)
        return 0;
    rc = id ? contacts_registry_check(c->store, r, id, &flagged, &e)
            : contacts_registry_refresh(c->store, r, &matches, &e);
    contacts_registry_close(r);
    if (rc)
        return cli_fail(&e);
    if (flagged)
        printf("warning: contact %lld matches the asset-freeze register: it will not be "
               "sent to (postier registry check)\n", id);
    else if (matches)
        printf("warning: %lld contact%s match the asset-freeze register (postier registry "
               "check)\n", matches, matches == 1 ? "" : "s");
    return 0;
}

static int reg_load(struct cli *c, int argc, char **argv)
{
    struct registry *r = xcalloc(1, sizeof *r);
    struct buf text;
    long long matches = 0;
    struct err e;
    FILE *f;
    int rc;

    if (argc != 2)
        return free(r), cli_usage("registry load", "expected one FILE");
    if ((rc = cli_open_store(c)))
        return free(r), rc;
    buf_init(&text, 0);
    if (!(f = fopen(argv[1], "rb"))) {
        err_set(&e, ERR_IO, "%s: %s", argv[1], strerror(errno));
        rc = 1;
    } else {
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            buf_add(&text, chunk, n);
        fclose(f);
        rc = registry_parse(argv[1], buf_str(&text), text.len, r, &e);
    }
    if (!rc && !(rc = store_begin(c->store, &e))) {
        char reply[600];
        struct store_history h = {.event = "registry_loaded", .reason = argv[1],
                                  .server_reply = reply};
        if (!(rc = store_registry_put(c->store, argv[1], r->published, (long long)r->n,
                                      buf_str(&text), text.len, &e)) &&
            !(rc = contacts_registry_refresh(c->store, r, &matches, &e))) {
            snprintf(reply, sizeof reply, "%zu entries, published %s; %lld contacts match",
                     r->n, r->published ? r->published : "(not given)", matches);
            rc = audit_append(c->store, &h, &e);
        }
        if (rc || (rc = store_commit(c->store, &e)))
            store_rollback(c->store);
    }
    if (!rc)
        printf("registry: %zu entries (published %s) from %s; %lld contact%s match\n", r->n,
               r->published ? r->published : "date not given", argv[1], matches,
               matches == 1 ? "" : "s");
    registry_free(r);
    free(r);
    buf_release(&text);
    return rc ? cli_fail(&e) : 0;
}

struct checker {
    struct store *s;
    struct exporter *x;
    long long n;
    struct err *e;
};

static int check_row(void *ctx, long long id, const char *party_ref, const char *match)
{
    struct checker *k = ctx;
    char cid[24], name[256], fields[3][256];
    const char *vals[6];
    struct store_rec c;
    size_t i;
    int rc;

    /* match: "entry id\tentry name\tmatched" */
    for (i = 0; i < 3; i++) {
        size_t len = strcspn(match, "\t");
        snprintf(fields[i], sizeof fields[i], "%.*s", (int)len, match);
        match += len + (match[len] == '\t');
    }
    store_rec_init(&c, STORE_CONTACT);
    if ((rc = store_get(k->s, STORE_CONTACT, id, NULL, &c, k->e)))
        return store_rec_release(&c), rc;
    contacts_display_name(&c, name, sizeof name);
    store_rec_release(&c);
    snprintf(cid, sizeof cid, "%lld", id);
    vals[0] = cid, vals[1] = party_ref, vals[2] = name;
    vals[3] = fields[0], vals[4] = fields[1], vals[5] = fields[2];
    k->n++;
    return export_row(k->x, vals, k->e);
}

static int reg_check(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_LIST_LONGOPTS, {NULL, 0, NULL, 0}};
    static const struct export_col cols[] = {
        {"contact_id", EXPORT_INT}, {"party_ref", EXPORT_TEXT}, {"name", EXPORT_TEXT},
        {"entry_id", EXPORT_TEXT},  {"entry_name", EXPORT_TEXT}, {"matched", EXPORT_TEXT}};
    struct export_opts xo = {0};
    struct checker k = {0};
    struct cli_list l;
    char footer[64];
    struct err e;
    int opt, rc;

    cli_list_init(&l);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if ((rc = cli_list_opt(&l, "registry check", opt, optarg)) != 1)
            return rc ? EXIT_USAGE : cli_usage("registry check", "bad option");
    if (optind != argc)
        return cli_usage("registry check", "unexpected argument");
    if ((rc = cli_open_store(c)))
        return rc;
    cli_list_xo(&l, &xo);
    if (export_begin(l.fmt, stdout, NULL, cols, 6, &xo, &k.x, &e))
        return cli_fail(&e);
    k.s = c->store;
    k.e = &e;
    if (store_registry_matches(c->store, check_row, &k, &e)) {
        export_abort(k.x);
        return cli_fail(&e);
    }
    snprintf(footer, sizeof footer, "%lld matching contacts", k.n);
    return export_finish(k.x, footer, &e) ? cli_fail(&e) : 0;
}

static const struct cli_cmd subs[] = {
    {"load", reg_load, "load the register (Trésor JSON or CSV) and check every contact",
     "Usage: postier registry load FILE\n\n"
     "FILE: the French Trésor's published JSON (registre national des gels) or a\n"
     "CSV with a `name` column (optional `birth_date`, `aliases` separated by |).\n"
     "Replaces the previous register; every contact is checked (names and\n"
     "aliases; case, accents, punctuation and word order ignored).  Matching\n"
     "contacts are never sent to until `contacts clear-registry`.\n"},
    {"check", reg_check, "list the contacts that match the register",
     "Usage: postier registry check [--format table|csv|json]\n\n"
     "Contacts matching the loaded register, with the entry and the name or\n"
     "alias matched.\n\n" CLI_LIST_HELP},
    {NULL, NULL, NULL, NULL},
};

int cmd_registry(struct cli *c, int argc, char **argv)
{
    return cli_dispatch(c, "registry", subs, argc, argv);
}
