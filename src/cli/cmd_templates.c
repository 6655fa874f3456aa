/* `postier templates list|check|preview`: the message templates of
 * templates/<name>/<locale>.eml.tmpl (SPEC §3). */
#include "cli.h"

#include <dirent.h>
#include <stdio.h>

#include "merge/merge.h"
#include "util/date.h"
#include "util/xalloc.h"

static int tmpl_list(struct cli *c, int argc, char **argv)
{
    struct dirent **names = NULL;
    int i, n, rc;

    (void)argv;
    if (argc > 1)
        return cli_usage("templates list", "unexpected argument");
    if ((rc = cli_load_config(c)))
        return rc;
    n = scandir(c->cfg->templates, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "postier: %s: cannot read the templates folder\n", c->cfg->templates);
        return EXIT_USAGE;
    }
    for (i = 0; i < n; i++) {
        struct dirent **files = NULL;
        char path[4096];
        int k, j;
        snprintf(path, sizeof path, "%s/%s", c->cfg->templates, names[i]->d_name);
        k = names[i]->d_name[0] == '.' ? -1 : scandir(path, &files, NULL, alphasort);
        if (k > 0) {
            printf("%-20s", names[i]->d_name);
            for (j = 0; j < k; j++) {
                if (files[j]->d_name[0] != '.')
                    printf(" %s", files[j]->d_name);
                free(files[j]);
            }
            putchar('\n');
        }
        free(files);
        free(names[i]);
    }
    free(names);
    return 0;
}

static void report(void *ctx, const char *msg)
{
    (void)ctx;
    printf("%s\n", msg);
}

static int open_merge(struct cli *c, struct merge **m)
{
    char today[DATE_LEN + 1];
    struct err e;
    int rc;

    date_today(today);
    if ((rc = cli_open_store(c)))
        return rc;
    if (merge_new(c->store, c->cfg->templates, c->cfg->sender_name, c->cfg->sender_email, today,
                  m, &e))
        return cli_fail(&e);
    merge_set_documents(*m, c->cfg->documents);
    merge_set_max_iterations(*m, c->cfg->template_max_iterations);
    return 0;
}

static int tmpl_check(struct cli *c, int argc, char **argv)
{
    struct merge *m = NULL;
    int rc, files = 0, bad = 0, warnings = 0;
    struct err e;

    (void)argv;
    if (argc > 1)
        return cli_usage("templates check", "unexpected argument");
    if ((rc = open_merge(c, &m)))
        return rc;
    rc = merge_check(m, report, NULL, &files, &bad, &warnings, &e);
    merge_free(m);
    if (rc)
        return cli_fail(&e);
    printf("%d template file%s checked, %d problem%s", files, files == 1 ? "" : "s", bad,
           bad == 1 ? "" : "s");
    if (warnings) /* warnings alone do not change the exit status */
        printf(", %d warning%s", warnings, warnings == 1 ? "" : "s");
    putchar('\n');
    return bad ? EXIT_USAGE : 0;
}

struct find_doc {
    const char *ref;
    struct store_document d;
    char *docref, *fields, *party, *type, *addr, *att, *to;
    int found;
};

static int find_cb(void *ctx, const struct store_document *d)
{
    struct find_doc *f = ctx;

    if (strcmp(d->ref, f->ref) || f->found)
        return 0;
    f->d = *d; /* its strings are the statement's: copied */
    f->d.ref = f->docref = xstrdup(d->ref);
    f->d.fields = f->fields = xstrdup(d->fields);
    f->d.party_ref = f->party = xstrdup(d->party_ref);
    f->d.type = f->type = xstrdup(d->type);
    f->d.address_label = f->addr = d->address_label ? xstrdup(d->address_label) : NULL;
    f->d.attachment = f->att = d->attachment ? xstrdup(d->attachment) : NULL;
    f->d.to_level = f->to = xstrdup(d->to_level);
    f->d.processed_at = NULL; /* not needed, and the statement's */
    f->found = 1;
    return 0;
}

static int tmpl_preview(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"contact", required_argument, NULL, 'c'},
                                         {"doc", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    struct find_doc f = {0};
    struct resolve_rcpt r = {0};
    struct merge_info info;
    struct merge *m = NULL;
    long long contact = 0;
    struct buf out;
    struct err e;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'c')
            contact = strtoll(optarg, NULL, 10);
        else if (opt == 'd')
            f.ref = optarg;
        else
            return cli_usage("templates preview", "bad option");
    }
    if (optind + 1 != argc || contact <= 0)
        return cli_usage("templates preview", "expected NAME --contact ID [--doc REF]");
    if ((rc = open_merge(c, &m)))
        return rc;
    if (resolve_contact(c->store, contact, &r, &e))
        rc = cli_fail(&e);
    if (!rc && f.ref && (store_document_list(c->store, NULL, 0, 0, 0, find_cb, &f, &e) ||
                         !f.found))
        rc = f.found ? cli_fail(&e) : (fprintf(stderr, "postier: no document '%s'\n", f.ref),
                                       EXIT_USAGE);
    if (!rc) {
        f.d.type = argv[optind]; /* the template named, whatever the document's type */
        if (!f.ref) { /* no document: its fields are empty */
            merge_set_lenient(m, 1);
            f.d.ref = "PREVIEW";
            f.d.party_ref = r.contact.v[CF_PARTY_REF];
            f.d.fields = "{}";
        }
        buf_init(&out, 0);
        if (merge_document(m, &f.d, &r, "<preview@postier.invalid>", &out, &info, &e))
            rc = cli_fail(&e);
        else
            printf("%s", buf_str(&out));
        buf_release(&out);
    }
    free(f.docref), free(f.fields), free(f.party), free(f.type), free(f.addr), free(f.att), free(f.to);
    store_rec_release(&r.contact);
    merge_free(m);
    return rc;
}

static const struct cli_cmd subs[] = {
    {"list", tmpl_list, "list templates and their locale files",
     "Usage: postier templates list\n"},
    {"check", tmpl_check, "check every template's syntax and placeholders",
     "Usage: postier templates check\n\n"
     "Parses every templates/*/*.eml.tmpl and *.sms.tmpl and checks each\n"
     "placeholder against what documents provide; each problem is printed as\n"
     "file:line:column: message.  Exit 2 when there is any problem.  A warning\n"
     "names a {{doc.x}} field that no imported document of the folder's type\n"
     "has: such a message fails at run time unless guarded ({{#if doc.x}},\n"
     "|default:\"...\").\n"},
    {"preview", tmpl_preview, "print a rendered message",
     "Usage: postier templates preview NAME --contact ID [--doc REF]\n\n"
     "Renders templates/NAME for the contact (in its locale) with the document's\n"
     "fields (without --doc, every document field is empty), and prints the\n"
     "complete message.\n"},
    {NULL, NULL, NULL, NULL},
};

int cmd_templates(struct cli *c, int argc, char **argv)
{
    return cli_dispatch(c, "templates", subs, argc, argv);
}
