/* `postier retry`: sends again the failed messages of documents (a
 * template error, a missing template or attachment, a bad [sender], a
 * 5xx) once their cause is fixed, with the run's summary and exit status
 * (0 all sent, 1 some failed, 75 some deferred, 2 usage/config error). */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>

#include "documents/documents.h"
#include "run/run.h"
#include "util/date.h"

static const char usage[] =
    "Usage: postier retry [--document REF] [--type TYPE] [--since YYYY-MM-DD]\n"
    "                     [--reason CODE] [--dry-run]\n\n"
    "Sends again the messages of documents whose last state is failed (a template\n"
    "error, a missing template or attachment, a bad [sender], a refusal by the\n"
    "server), once their cause is fixed.  Each document is resolved again as `run`\n"
    "would today, and each failed message goes to its address, or to the address\n"
    "its contact has today; an address that already has a message sent for that\n"
    "document (in any case) is never sent to again, and nobody who never had a\n"
    "failed message gets one.  A failed message whose contact is excluded today\n"
    "(inactive, unsubscribed, ...) stays failed for a later retry.  The failed rows\n"
    "stay in the history; each new attempt adds its own.  It sends only the messages\n"
    "it selects, and the deferred ones of the documents it selects; other pending\n"
    "messages (other documents, campaigns) wait for `run`.\n\n"
    "  --document REF  only the document REF\n"
    "  --type T        only documents of type T\n"
    "  --since D       only messages that failed on D or later ([run] timezone)\n"
    "  --reason CODE   only messages whose last failure has this reason (template,\n"
    "                  attachment, rejected, ...)\n"
    "  --dry-run       show what would be sent; write nothing\n\n"
    "Exit status: 0 all sent, 1 some messages failed, 75 some deferred, 2 usage or\n"
    "configuration error.\n";

static void print_line(void *ctx, const char *l)
{
    (void)ctx;
    cli_print_one_line(stdout, "  ", l);
}

/* A reason code: a history reason ("template", "no_consent:esign"). */
static int reason_ok(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_' &&
            *s != ':')
            return 0;
    return 1;
}

int cmd_retry(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"document", required_argument, NULL, 'r'},
                                         {"type", required_argument, NULL, 't'},
                                         {"since", required_argument, NULL, 's'},
                                         {"reason", required_argument, NULL, 'R'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct store_retry f = {NULL, NULL, NULL, NULL};
    struct run_opts o = {.on_line = NULL};
    char today[DATE_LEN + 1];
    struct run_summary s;
    struct err e;
    int opt, rc;

    date_today(today);
    o.date = today;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            if (!*optarg)
                return cli_usage("retry", "--document: empty reference");
            f.ref = optarg;
            break;
        case 't':
            if (documents_type_check(optarg, &e))
                return cli_usage("retry", "--type: %s", e.msg);
            f.type = optarg;
            break;
        case 's':
            if (date_check(optarg, &e))
                return cli_usage("retry", "--since: %s", e.msg);
            f.since = optarg;
            break;
        case 'R':
            if (!reason_ok(optarg))
                return cli_usage("retry", "--reason: not a reason code (e.g. template)");
            f.reason = optarg;
            break;
        case 'n': o.dry_run = 1; o.on_line = print_line; break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_usage("retry", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage("retry", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_open_store(c)))
        return rc;
    cli_catch_stop_signals();
    rc = run_retry(c->store, c->cfg, &o, &f, &s, &e);
    return cli_run_end("retry", &o, &s, rc, &e);
}
