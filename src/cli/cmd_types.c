/* `postier types add|list|edit|rm`: contact types, a label and the short
 * code by which templates reach the contact of that type (seed 000). */
#include "cli.h"

#include <stdio.h>

#include "contacts/validate.h"

static int parse_code_label(const char *cmd, int argc, char **argv, const char **code,
                            const char **label)
{
    static const struct option opts[] = {
        {"code", required_argument, NULL, 'c'},
        {"label", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': *code = optarg; break;
        case 'l': *label = optarg; break;
        default: return cli_usage(cmd, "bad option");
        }
    }
    return 0;
}

static int check_type(const char *cmd, const char *code, const char *label)
{
    struct err e;

    if (code && validate_type_code(code, &e))
        return cli_usage(cmd, "--code: %s", e.msg);
    if (label && !*label)
        return cli_usage(cmd, "--label may not be empty");
    return 0;
}

static int types_add(struct cli *c, int argc, char **argv)
{
    const char *code = NULL, *label = NULL;
    long long id;
    struct err e;
    int rc;

    if ((rc = parse_code_label("types add", argc, argv, &code, &label)))
        return rc;
    if (optind < argc)
        return cli_usage("types add", "unexpected argument '%s'", argv[optind]);
    if (!label)
        return cli_usage("types add", "--label is required");
    if (!code)
        return cli_usage("types add", "--code is required (templates reach the contact by it)");
    if ((rc = check_type("types add", code, label)) || (rc = cli_open_store(c)))
        return rc;
    if (store_type_add(c->store, code, label, &id, &e))
        return cli_fail(&e);
    printf("added contact type %s (%s)\n", code, label);
    return 0;
}

static int types_edit(struct cli *c, int argc, char **argv)
{
    const char *code = NULL, *label = NULL, *key;
    struct err e;
    int rc;

    if ((rc = parse_code_label("types edit", argc, argv, &code, &label)))
        return rc;
    if (optind + 1 != argc)
        return cli_usage("types edit", "expected one CODE");
    key = argv[optind];
    if (!code && !label)
        return cli_usage("types edit", "nothing to change: give --code and/or --label");
    if ((rc = check_type("types edit", code, label)) || (rc = cli_open_store(c)))
        return rc;
    if (store_type_edit(c->store, key, code, label, &e))
        return cli_fail(&e);
    printf("changed contact type %s\n", code ? code : key);
    return 0;
}

static int types_rm(struct cli *c, int argc, char **argv)
{
    struct err e;
    int rc;

    if (argc != 2)
        return cli_usage("types rm", "expected one CODE");
    if ((rc = cli_open_store(c)))
        return rc;
    if (store_type_rm(c->store, argv[1], &e))
        return cli_fail(&e);
    printf("removed contact type %s\n", argv[1]);
    return 0;
}

struct type_list {
    struct exporter *x;
    struct err *e;
    int rc;
};

static int type_row(void *ctx, const struct store_type *t)
{
    struct type_list *tl = ctx;
    char id[32], n[32];
    const char *vals[4] = {id, t->code, t->label, n};

    snprintf(id, sizeof id, "%lld", t->id);
    snprintf(n, sizeof n, "%lld", t->contacts);
    tl->rc = export_row(tl->x, vals, tl->e);
    return tl->rc;
}

static int types_list(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_LIST_LONGOPTS, {NULL, 0, NULL, 0}};
    static const struct export_col cols[] = {
        {"id", EXPORT_INT}, {"code", EXPORT_TEXT}, {"label", EXPORT_TEXT},
        {"contacts", EXPORT_INT}};
    struct export_opts xo = {0};
    struct type_list tl = {0};
    struct cli_list l;
    struct err e;
    int opt, rc;

    cli_list_init(&l);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if ((rc = cli_list_opt(&l, "types list", opt, optarg)) != 1)
            return rc ? EXIT_USAGE : cli_usage("types list", "bad option");
    if ((rc = cli_open_store(c)))
        return rc;
    cli_list_xo(&l, &xo);
    if (export_begin(l.fmt, stdout, NULL, cols, 4, &xo, &tl.x, &e))
        return cli_fail(&e);
    tl.e = &e;
    if (store_type_list(c->store, type_row, &tl, &e) || tl.rc) {
        export_abort(tl.x);
        return cli_fail(&e);
    }
    return export_finish(tl.x, NULL, &e) ? cli_fail(&e) : 0;
}

static const struct cli_cmd subs[] = {
    {"add", types_add, "add a contact type",
     "Usage: postier types add --label LABEL --code CODE\n\n"
     "Adds a contact type.  CODE ([a-z][a-z0-9_]*, unique) is how templates reach\n"
     "the contact of this type on a document's party or claim: {{exp.last_name}}.\n"},
    {"list", types_list, "list contact types with their number of contacts",
     "Usage: postier types list [--format table|csv|json]\n\n"
     "Lists contact types (id, code, label, contacts using it).\n"},
    {"edit", types_edit, "change a type's code or label",
     "Usage: postier types edit CODE [--code NEW] [--label LABEL]\n"},
    {"rm", types_rm, "remove a type no contact uses",
     "Usage: postier types rm CODE\n\n"
     "Removes a contact type.  Refused (exit 2) while a contact has this type.\n"},
    {NULL, NULL, NULL, NULL},
};

int cmd_types(struct cli *c, int argc, char **argv)
{
    return cli_dispatch(c, "types", subs, argc, argv);
}
