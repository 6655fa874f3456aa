/* `postier parties add|list|show|import`, and the generic record add and
 * import that addresses and contacts share. */
#include "cli.h"

#include <stdio.h>

#include "audit/audit.h"
#include "contacts/contacts.h"

int cli_rec_add(struct cli *c, enum store_kind kind, const char *cmd, int argc, char **argv)
{
    struct option opts[STORE_MAX_FIELDS + 2];
    struct store_rec r;
    struct err e;
    size_t n;
    int opt, rc;

    n = cli_rec_longopts(kind, opts, 0);
    memset(&opts[n], 0, sizeof opts[n]);
    store_rec_init(&r, kind);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt < OPT_FIELD) {
            store_rec_release(&r);
            return cli_usage(cmd, "bad option");
        }
        store_rec_set(&r, (size_t)(opt - OPT_FIELD), optarg);
    }
    if (optind < argc) {
        store_rec_release(&r);
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    }
    rc = cli_open_store(c);
    if (!rc && (kind == STORE_CONTACT ? contacts_add(c->store, &r, &e)
                                      : contacts_save(c->store, &r, &e)))
        rc = cli_fail(&e);
    if (!rc && kind == STORE_CONTACT) {
        printf("added contact %lld\n", r.id);
        rc = cli_registry_after_save(c, r.id);
    }
    else if (!rc)
        printf("saved %s %s\n", kind == STORE_PARTY ? "party" : "address", r.v[kind == STORE_PARTY ? PF_REF : AF_LABEL]);
    store_rec_release(&r);
    return rc;
}

static void print_error(void *ctx, const char *msg)
{
    (void)ctx;
    cli_print_one_line(stderr, "postier: ", msg);
}

/* Each contact an import changes, in the history of its transaction. */
static int record_change(void *ctx, const char *event, long long id, const char *party_ref,
                         const char *detail, struct err *e)
{
    struct store_history h = {.event = event, .contact_id = id, .party_ref = party_ref,
                              .server_reply = detail};

    return audit_append(ctx, &h, e);
}

int cli_rec_import(struct cli *c, enum store_kind kind, const char *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"sync", no_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    struct import_opts io = {.on_error = print_error};
    struct import_report rep;
    struct err e;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'n')
            io.dry_run = 1;
        else if (opt == 's' && kind == STORE_CONTACT)
            io.sync = 1;
        else
            return cli_usage(cmd, "bad option");
    }
    if (optind + 1 != argc)
        return cli_usage(cmd, "expected one FILE");
    if ((rc = cli_open_store(c)))
        return rc;
    io.on_change = record_change;
    io.ctx = c->store;
    io.record = 1;
    rc = contacts_import(c->store, kind, argv[optind], &io, &rep, &e);
    if (rc)
        return cli_fail(&e);
    if (kind == STORE_CONTACT && !io.dry_run && (rc = cli_registry_after_save(c, 0)))
        return rc;
    printf("%s%s: %lld rows, %lld added, %lld updated", io.dry_run ? "dry run: " : "",
           argv[optind], rep.rows, rep.added, rep.updated);
    if (rep.unchanged)
        printf(", %lld unchanged", rep.unchanged);
    if (io.sync)
        printf(", %lld removed, %lld ended (linked)", rep.removed, rep.ended);
    printf("%s%s\n", rep.seed004 ? " (seed-004 layout)" : "",
           io.dry_run ? "; nothing written" : "");
    return 0;
}

static int parties_add(struct cli *c, int argc, char **argv)
{
    return cli_rec_add(c, STORE_PARTY, "parties add", argc, argv);
}

static int parties_import(struct cli *c, int argc, char **argv)
{
    return cli_rec_import(c, STORE_PARTY, "parties import", argc, argv);
}

int cli_rec_list_cmd(struct cli *c, enum store_kind kind, const char *cmd, int argc,
                     char **argv)
{
    /* parties filter on their kind, addresses on their party */
    static const struct option opts[] = {CLI_LIST_LONGOPTS,
                                         {"kind", required_argument, NULL, 'k'},
                                         {"party", required_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    struct store_query q = {0};
    struct cli_list l;
    int opt, rc;

    cli_list_init(&l);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'k' && kind == STORE_PARTY)
            q.kind = optarg;
        else if (opt == 'p' && kind == STORE_ADDRESS)
            q.party_ref = optarg;
        else if ((rc = cli_list_opt(&l, cmd, opt, optarg)) != 1)
            return rc ? EXIT_USAGE : cli_usage(cmd, "bad option");
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_open_store(c)))
        return rc;
    return cli_rec_list(c, kind, &q, &l, kind == STORE_PARTY ? "parties" : "addresses");
}

static int parties_list(struct cli *c, int argc, char **argv)
{
    return cli_rec_list_cmd(c, STORE_PARTY, "parties list", argc, argv);
}

static int parties_show(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_LIST_LONGOPTS, {NULL, 0, NULL, 0}};
    struct store_query q = {0};
    struct store_rec r;
    struct cli_list l;
    struct err e;
    int opt, rc;

    cli_list_init(&l);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if ((rc = cli_list_opt(&l, "parties show", opt, optarg)) != 1)
            return rc ? EXIT_USAGE : cli_usage("parties show", "bad option");
    if (optind + 1 != argc)
        return cli_usage("parties show", "expected one party REF");
    if ((rc = cli_open_store(c)))
        return rc;
    store_rec_init(&r, STORE_PARTY);
    if (store_get(c->store, STORE_PARTY, 0, argv[optind], &r, &e)) {
        store_rec_release(&r);
        return cli_fail(&e);
    }
    rc = cli_rec_show(&r, l.fmt);
    store_rec_release(&r);
    if (rc || l.fmt != EXPORT_TABLE)
        return rc;
    q.party_ref = argv[optind];
    puts("\naddresses:");
    if ((rc = cli_rec_list(c, STORE_ADDRESS, &q, &l, "addresses")))
        return rc;
    puts("\ncontacts (active today):");
    return cli_rec_list(c, STORE_CONTACT, &q, &l, "contacts");
}

static const struct cli_cmd subs[] = {
    {"add", parties_add, "add or update a party",
     "Usage: postier parties add --ref REF --kind KIND --name NAME [OPTIONS]\n\n"
     "Adds a party, or updates the party with that ref.  KIND is client, supplier,\n"
     "company, introducer or claim (a claim needs --client-ref, its client's ref).\n"
     "The party's own e-mail and phones are its main contact.\n\n"
     "Options: --ref --kind --name --civility --first-name --last-name --email\n"
     "         --phones (';'-separated, normalised to E.164) --locale fr|en --client-ref\n"},
    {"list", parties_list, "list parties",
     "Usage: postier parties list [--kind KIND] [--format table|csv|json] [--page N]\n"
     "       [--per-page N]\n\n" CLI_LIST_HELP},
    {"show", parties_show, "show a party with its addresses and contacts",
     "Usage: postier parties show REF [--format table|csv|json]\n"},
    {"import", parties_import, "import parties from CSV (all-or-nothing)",
     "Usage: postier parties import FILE [--dry-run]\n\n"
     "Columns: ref,kind,name,civility,first_name,last_name,email,phones,locale,client_ref\n"
     "(header required, any order).  A row whose ref exists updates that party.\n"
     "Any bad row is reported with its line and field, exit 2, nothing written.\n"},
    {NULL, NULL, NULL, NULL},
};

int cmd_parties(struct cli *c, int argc, char **argv)
{
    return cli_dispatch(c, "parties", subs, argc, argv);
}
