/* `postier run`: the nightly job, with its summary and exit status (0 all
 * sent, 1 some message failed or was deferred, 2 usage/config error). */
#include "cli.h"

#include <stdio.h>
#include <unistd.h>

#include "documents/documents.h"
#include "run/run.h"
#include "util/date.h"

static const char usage[] =
    "Usage: postier run [--date YYYY-MM-DD] [--dry-run] [--type TYPE]\n\n"
    "The nightly job: resolves the recipients of every new document (SPEC §2),\n"
    "renders each message from templates/<type>/<locale>.eml.tmpl, spools it,\n"
    "delivers the queue through the [email] transport, and records every\n"
    "decision in the history.  Running it again sends nothing twice.\n\n"
    "  --date D    run as of D (contacts' validity); default today\n"
    "  --dry-run   show who would get what and who is excluded and why; write nothing\n"
    "  --type T    only documents of type T\n\n"
    "Exit status: 0 ok, 1 some messages failed or were deferred, 2 usage or\n"
    "configuration error.  A lock (spool/lock) prevents two runs at once.\n";

static void print_line(void *ctx, const char *l)
{
    (void)ctx;
    printf("  %s\n", l);
}

struct progress {
    const struct run_summary *sum;
    int shown;
};

/* On a terminal: one self-overwriting line on stderr. */
static void print_progress(void *ctx, long long settled, long long total, double rate, int last)
{
    struct progress *p = ctx;
    long long left = total > settled ? total - settled : 0;
    long eta = rate > 0 ? (long)((double)left / rate + 0.5) : 0;

    if (!total || (last && !p->shown))
        return;
    fprintf(cli_term_rawerr(), "\rsent %lld/%lld, %lld failed, %lld deferred, %.0f msg/s, ETA %ld:%02ld ",
            p->sum->sent, total, p->sum->failed, p->sum->deferred, rate, eta / 60, eta % 60);
    if (last)
        fputc('\n', stderr);
    fflush(stderr);
    p->shown = 1;
}

static void summary(const struct run_opts *o, const struct run_summary *s)
{
    size_t i;

    printf("%srun %s: %lld document%s, %lld message%s %s, %lld sent, %lld deferred, "
           "%lld failed, %lld skipped",
           o->dry_run ? "dry " : "", o->date, s->documents, s->documents == 1 ? "" : "s",
           s->queued, s->queued == 1 ? "" : "s", o->dry_run ? "to send" : "queued", s->sent,
           s->deferred, s->failed, s->skipped);
    for (i = 0; i < s->nreasons; i++)
        printf("%s%s %lld", i ? ", " : " (", s->reasons[i].reason, s->reasons[i].n);
    puts(s->nreasons ? ")" : "");
}

int cmd_run(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"date", required_argument, NULL, 'd'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"type", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct run_opts o = {.on_line = NULL};
    char today[DATE_LEN + 1];
    struct run_summary s;
    struct progress prog = {.sum = &s, .shown = 0};
    struct err e;
    int opt, rc;

    date_today(today);
    o.date = today;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            if (date_check(optarg, &e))
                return cli_usage("run", "--date: %s", e.msg);
            o.date = optarg;
            break;
        case 'n': o.dry_run = 1; o.on_line = print_line; break;
        case 't':
            if (documents_type_check(optarg, &e))
                return cli_usage("run", "--type: %s", e.msg);
            o.type = optarg;
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: return cli_usage("run", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage("run", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_open_store(c)))
        return rc;
    if (!o.dry_run && isatty(STDERR_FILENO)) {
        o.on_progress = print_progress;
        o.ctx = &prog;
    }
    rc = run_nightly(c->store, c->cfg, &o, &s, &e);
    summary(&o, &s);
    if (rc)
        return cli_fail(&e);
    return s.failed || s.deferred ? EXIT_PARTIAL : 0;
}
