/* `postier run`: the nightly job, with its summary and exit status (0 all
 * sent, 1 some message failed, 75 none failed but some were deferred, 2
 * usage/config error), and its clean stop on SIGTERM or SIGINT. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "documents/documents.h"
#include "run/run.h"
#include "util/date.h"

static const char usage[] =
    "Usage: postier run [--date YYYY-MM-DD] [--dry-run] [--type TYPE]\n\n"
    "The nightly job: resolves the recipients of every new document (SPEC §2),\n"
    "renders each message from templates/<type>/<locale>.eml.tmpl, spools it,\n"
    "delivers the queue through the [email] transport, and records every\n"
    "decision in the history.  Running it again sends nothing twice; a message\n"
    "that failed is not tried again: fix its cause, then `postier retry`.\n\n"
    "  --date D    run as of D (contacts' validity); default today\n"
    "  --dry-run   show who would get what and who is excluded and why; write nothing\n"
    "  --type T    only documents of type T\n\n"
    "Exit status: 0 everything sent; 1 some message failed for good; 75 nothing\n"
    "failed but some messages are deferred to the next run (server unreachable\n"
    "or answering 4xx, stopped by SIGTERM), or another run holds the lock\n"
    "(spool/lock); 2 usage, configuration or input error.\n\n"
    "SIGTERM or SIGINT (Ctrl-C) stops cleanly: no new message is started, those\n"
    "in flight are finished and recorded, exit 75; a second signal stops at once\n"
    "(the next run recovers).\n";

/* Set while the progress line is on the terminal without its newline. */
static volatile sig_atomic_t progress_open;

/* The first SIGTERM/SIGINT asks the run to stop cleanly; the second one
 * (the default action) stops it at once.  Only async-signal-safe calls;
 * the note starts a line of its own after the progress line. */
static void on_signal(int sig)
{
    static const char note[] = "\npostier: stopping after the messages in flight "
                               "(signal again to stop at once)\n";
    int skip = !progress_open;
    ssize_t n;

    if (run_stop_requested()) {
        signal(sig, SIG_DFL);
        raise(sig); /* delivered when this handler returns */
        return;
    }
    run_request_stop();
    n = write(STDERR_FILENO, note + skip, sizeof note - 1 - (size_t)skip);
    (void)n;
}

void cli_catch_stop_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGINT);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static void print_line(void *ctx, const char *l)
{
    (void)ctx;
    cli_print_one_line(stdout, "  ", l);
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
    progress_open = 1; /* before the line: a signal may come as it is written */
    fprintf(cli_term_rawerr(), "\rsent %lld/%lld, %lld failed, %lld deferred, %.0f msg/s, ETA %ld:%02ld ",
            p->sum->sent, total, p->sum->failed, p->sum->deferred, rate, eta / 60, eta % 60);
    if (last)
        fputc('\n', stderr);
    fflush(stderr);
    p->shown = 1;
    progress_open = !last;
}

/* " (reason n, ...)" of the failures (failed 1) or the skips (0), if any. */
static void print_reasons(const struct run_summary *s, int failed)
{
    int first = 1;

    for (size_t i = 0; i < s->nreasons; i++)
        if (s->reasons[i].failed == failed) {
            printf("%s%s %lld", first ? " (" : ", ", s->reasons[i].reason, s->reasons[i].n);
            first = 0;
        }
    if (!first)
        putchar(')');
}

void cli_run_summary(const char *what, const struct run_opts *o, const struct run_summary *s)
{
    printf("%s%s %s: %lld document%s, %lld message%s %s, %lld sent, %lld deferred, %lld failed",
           o->dry_run ? "dry " : "", what, o->date, s->documents, s->documents == 1 ? "" : "s",
           s->queued, s->queued == 1 ? "" : "s", o->dry_run ? "to send" : "queued", s->sent,
           s->deferred, s->failed);
    print_reasons(s, 1);
    printf(", %lld skipped", s->skipped);
    print_reasons(s, 0);
    putchar('\n');
    if (s->waiting)
        printf("%lld failed message%s for `postier retry`\n", s->waiting,
               s->waiting == 1 ? " waits" : "s wait");
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
    cli_catch_stop_signals();
    rc = run_nightly(c->store, c->cfg, &o, &s, &e);
    return cli_run_end("run", &o, &s, rc, &e);
}

int cli_run_end(const char *what, const struct run_opts *o, const struct run_summary *s, int rc,
                const struct err *e)
{
    if (!rc || e->code != ERR_LOCKED) /* refused by the lock: it did nothing */
        cli_run_summary(what, o, s);
    if (s->local_error[0]) /* the admin's to fix (disk full...): say so once */
        cli_print_one_line(stderr, "postier: ", s->local_error);
    if (rc) {
        rc = cli_fail(e);
        return rc == EXIT_TEMPFAIL && s->failed ? EXIT_PARTIAL : rc;
    }
    return s->failed ? EXIT_PARTIAL : s->deferred ? EXIT_TEMPFAIL : 0;
}
