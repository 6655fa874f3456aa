/* `postier documents import|list`: what the host system asks to notify. */
#include "cli.h"

#include <stdio.h>

#include "documents/documents.h"

static void print_error(void *ctx, const char *msg)
{
    (void)ctx;
    cli_print_one_line(stderr, "postier: ", msg);
}

static int docs_import(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"type", required_argument, NULL, 't'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    struct import_opts io = {.on_error = print_error};
    struct import_report rep;
    const char *type = NULL;
    struct err e;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 't')
            type = optarg;
        else if (opt == 'n')
            io.dry_run = 1;
        else
            return cli_usage("documents import", "bad option");
    }
    if (optind + 1 != argc)
        return cli_usage("documents import", "expected one FILE");
    if (!type)
        return cli_usage("documents import", "--type TYPE is required");
    if (documents_type_check(type, &e))
        return cli_usage("documents import", "--type: %s", e.msg);
    if ((rc = cli_open_store(c)))
        return rc;
    io.documents_dir = c->cfg->documents;
    io.on_warning = print_error;
    if (documents_import(c->store, type, argv[optind], &io, &rep, &e))
        return cli_fail(&e);
    printf("%s%s: %lld %s documents imported", io.dry_run ? "dry run: " : "", argv[optind],
           rep.added, type);
    if (rep.updated)
        printf(", %lld updated", rep.updated);
    if (rep.unchanged)
        printf(", %lld unchanged", rep.unchanged);
    if (rep.missing)
        printf(", %lld attachment%s not there yet", rep.missing, rep.missing > 1 ? "s" : "");
    printf("%s\n", io.dry_run ? "; nothing written" : "");
    return 0;
}

struct doc_list {
    struct exporter *x;
    struct err *e;
};

static int doc_row(void *ctx, const struct store_document *d)
{
    struct doc_list *l = ctx;
    char id[32], contact[32], esign[4];
    const char *vals[11] = {id, d->type, d->ref, d->party_ref, d->contact_id ? contact : NULL,
                            d->to_level, d->address_label, esign, d->attachment, d->fields,
                            d->processed_at};

    snprintf(id, sizeof id, "%lld", d->id);
    snprintf(contact, sizeof contact, "%lld", d->contact_id);
    snprintf(esign, sizeof esign, "%d", d->esign);
    return export_row(l->x, vals, l->e);
}

static int docs_list(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_LIST_LONGOPTS,
                                         {"type", required_argument, NULL, 't'},
                                         {"new", no_argument, NULL, 'N'},
                                         {NULL, 0, NULL, 0}};
    static const struct export_col cols[] = {
        {"id", EXPORT_INT},      {"type", EXPORT_TEXT},     {"ref", EXPORT_TEXT},
        {"party_ref", EXPORT_TEXT}, {"contact", EXPORT_INT}, {"to", EXPORT_TEXT},
        {"address", EXPORT_TEXT},   {"esign", EXPORT_INT},   {"attachment", EXPORT_TEXT},
        {"fields", EXPORT_TEXT},    {"processed_at", EXPORT_TEXT}};
    static const int drop[] = {0, 0, 0, 0, 2, 1, 3, 4, 5, 6, 7}; /* narrow terminal */
    struct export_opts xo = {0};
    struct doc_list l = {0};
    struct cli_list cl;
    const char *type = NULL;
    int opt, rc, only_new = 0;
    struct err e;

    cli_list_init(&cl);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 't')
            type = optarg;
        else if (opt == 'N')
            only_new = 1;
        else if ((rc = cli_list_opt(&cl, "documents list", opt, optarg)) != 1)
            return rc ? EXIT_USAGE : cli_usage("documents list", "bad option");
    }
    if (type && documents_type_check(type, &e))
        return cli_usage("documents list", "--type: %s", e.msg);
    if ((rc = cli_open_store(c)))
        return rc;
    cli_list_xo(&cl, &xo);
    xo.drop = drop;
    if (export_begin(cl.fmt, stdout, NULL, cols, 11, &xo, &l.x, &e))
        return cli_fail(&e);
    l.e = &e;
    if (store_document_list(c->store, type, only_new, 0, 0, doc_row, &l, &e)) {
        export_abort(l.x);
        return cli_fail(&e);
    }
    return export_finish(l.x, NULL, &e) ? cli_fail(&e) : 0;
}

static const struct cli_cmd subs[] = {
    {"import", docs_import, "import documents of one type from CSV (all-or-nothing)",
     "Usage: postier documents import FILE --type TYPE [--dry-run]\n\n"
     "TYPE: invoice, payment_reminder, due_notice, document_reminder,\n"
     "claim_settlement, order, after_sales.  Columns: ref and party_ref required;\n"
     "optional contact (a contact id: that contact is the recipient), to\n"
     "(contacts | main | address), address (a site label of the party),\n"
     "attachment (a file path), esign (0/1); every other column is a free field\n"
     "reachable as {{doc.NAME}} (a cell holding a JSON array, e.g. the lines,\n"
     "can be iterated with {{#each doc.lines}}).  A ref already imported for\n"
     "the type corrects that document (its content becomes the row's, and\n"
     "`postier retry` sends its failed messages again) unless one of its\n"
     "messages was sent or is on its way: then it is an error naming the\n"
     "line; any bad row: nothing imported.\n"},
    {"list", docs_list, "list documents",
     "Usage: postier documents list [--type TYPE] [--new] [--format table|csv|json]\n\n"
     "--new lists the documents no run has resolved yet.\n"},
    {NULL, NULL, NULL, NULL},
};

int cmd_documents(struct cli *c, int argc, char **argv)
{
    return cli_dispatch(c, "documents", subs, argc, argv);
}
