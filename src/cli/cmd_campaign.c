/* `postier campaign new|list|show|preview|test|launch|pause|resume|cancel|
 * rm|status` and `postier unsubscribe`: the operator's mail-merge (SPEC §6). */
#include "cli.h"

#include <jansson.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "run/campaign.h"
#include "util/date.h"

static const char usage_new[] =
    "Usage: postier campaign new NAME --template T --channel email|sms\n"
    "         --purpose service|commercial|partner [--type CODE] [--flag FLAG]\n"
    "         [--party REF] [--party-kind KIND] [--city CITY] [--search TEXT]\n"
    "         [--contacts ID,ID] [--contacts-file FILE]\n\n"
    "Creates a draft campaign: templates/T/<locale>.eml.tmpl (or .sms.tmpl) sent to\n"
    "the contacts valid today that match every selection option; --contacts and\n"
    "--contacts-file (one id a line) tick contacts, the other options restrict\n"
    "them.  Commercial\n"
    "needs the `commercial` consent, partner `partner`, marketing SMS also\n"
    "`sms_marketing`; unsubscribed addresses never get marketing.\n";

static int c_new(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"template", required_argument, NULL, 'T'}, {"channel", required_argument, NULL, 'c'},
        {"purpose", required_argument, NULL, 'p'},  {"type", required_argument, NULL, 't'},
        {"flag", required_argument, NULL, 'f'},     {"party", required_argument, NULL, 'P'},
        {"party-kind", required_argument, NULL, 'k'}, {"city", required_argument, NULL, 'C'},
        {"search", required_argument, NULL, 's'},   {"contacts", required_argument, NULL, 'i'},
        {"contacts-file", required_argument, NULL, 'F'}, {NULL, 0, NULL, 0}};
    const char *tmpl = NULL, *channel = NULL, *purpose = NULL;
    struct campaign_sel sel = {0};
    struct err e;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'T': tmpl = optarg; break;
        case 'c': channel = optarg; break;
        case 'p': purpose = optarg; break;
        case 't': sel.type = optarg; break;
        case 'f': sel.flag = optarg; break;
        case 'P': sel.party = optarg; break;
        case 'k': sel.party_kind = optarg; break;
        case 'C': sel.city = optarg; break;
        case 's': sel.search = optarg; break;
        case 'i': sel.contacts = optarg; break;
        case 'F': sel.contacts_file = optarg; break;
        default: return cli_usage("campaign new", "bad option");
        }
    }
    if (optind + 1 != argc)
        return cli_usage("campaign new", "expected one NAME");
    if (!tmpl || !channel || !purpose)
        return cli_usage("campaign new", "--template, --channel and --purpose are required");
    if ((rc = cli_open_store(c)))
        return rc;
    if (campaign_create(c->store, c->cfg, argv[optind], tmpl, channel, purpose, &sel, &e))
        return cli_fail(&e);
    printf("campaign %s created\n", argv[optind]);
    return 0;
}

/* ---- list, show, status ---- */

static const struct export_col cols[] = {
    {"name", EXPORT_TEXT},  {"template", EXPORT_TEXT},   {"channel", EXPORT_TEXT},
    {"purpose", EXPORT_TEXT}, {"state", EXPORT_TEXT},    {"scheduled_at", EXPORT_TEXT},
    {"recipients", EXPORT_INT}, {"queued", EXPORT_INT},  {"sent", EXPORT_INT},
    {"deferred", EXPORT_INT}, {"failed", EXPORT_INT},    {"skipped", EXPORT_INT},
};
#define NCOLS (sizeof cols / sizeof cols[0])

struct lister {
    struct store *s;
    struct exporter *x;
    json_t *array; /* show --format json */
    int text;      /* show as text */
    struct err *e;
};

static int list_row(void *ctx, const struct store_campaign *cp)
{
    struct lister *l = ctx;
    struct store_campaign_counts n;
    long long v[6];
    char num[6][24];
    const char *vals[NCOLS];
    size_t i;
    int rc;

    if ((rc = store_campaign_counts(l->s, cp, &n, l->e)))
        return rc;
    v[0] = n.recipients, v[1] = n.queued, v[2] = n.sent, v[3] = n.deferred, v[4] = n.failed;
    v[5] = n.skipped;
    vals[0] = cp->name, vals[1] = cp->template_name, vals[2] = cp->channel;
    vals[3] = cp->purpose, vals[4] = cp->state, vals[5] = cp->scheduled_at;
    for (i = 0; i < 6; i++) {
        snprintf(num[i], sizeof num[i], "%lld", v[i]);
        vals[6 + i] = num[i];
    }
    if (l->array) {
        json_t *o = json_object(), *sel = json_loads(cp->selection, 0, NULL);
        for (i = 0; i < NCOLS; i++)
            json_object_set_new(o, cols[i].name,
                                cols[i].type == EXPORT_INT ? json_integer(v[i - 6])
                                : vals[i]                  ? json_string(vals[i])
                                                           : json_null());
        json_object_set_new(o, "selection", sel ? sel : json_object());
        json_object_set_new(o, "created_at", json_string(cp->created_at));
        json_array_append_new(l->array, o);
        return 0;
    }
    if (l->text) {
        printf("campaign:  %s\ntemplate:  %s\nchannel:   %s\npurpose:   %s\nselection: %s\n"
               "state:     %s%s%s\ncreated:   %s\n",
               cp->name, cp->template_name, cp->channel, cp->purpose, cp->selection, cp->state,
               cp->scheduled_at ? ", for " : "", cp->scheduled_at ? cp->scheduled_at : "",
               cp->created_at);
        printf("recipients %lld: %lld queued, %lld sent, %lld deferred, %lld failed; %lld "
               "skipped\n",
               v[0], v[1], v[2], v[3], v[4], v[5]);
        return 0;
    }
    return export_row(l->x, vals, l->e);
}

static int list_or_show(struct cli *c, const char *cmd, int argc, char **argv, int one)
{
    static const struct option opts[] = {CLI_LIST_LONGOPTS, {NULL, 0, NULL, 0}};
    struct export_opts xo = {0};
    struct lister l = {0};
    struct cli_list cl;
    struct err e;
    int opt, rc, fmt_given = 0;

    cli_list_init(&cl);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if ((rc = cli_list_opt(&cl, cmd, opt, optarg)) != 1)
            return rc ? EXIT_USAGE : cli_usage(cmd, "bad option");
        fmt_given |= opt == OPT_FORMAT;
    }
    if (optind + one != argc)
        return cli_usage(cmd, one ? "expected one NAME" : "unexpected argument");
    if ((rc = cli_open_store(c)))
        return rc;
    l.s = c->store;
    l.e = &e;
    cli_list_xo(&cl, &xo);
    if (one && cl.fmt == EXPORT_JSON)
        l.array = json_array();
    else if (one && !fmt_given)
        l.text = 1;
    else if (export_begin(cl.fmt, stdout, NULL, cols, NCOLS, &xo, &l.x, &e))
        return cli_fail(&e);
    rc = store_campaign_get(c->store, one ? argv[optind] : NULL, NULL, list_row, &l, &e);
    if (l.x) {
        if (rc) {
            export_abort(l.x);
            return cli_fail(&e);
        }
        if (export_finish(l.x, NULL, &e))
            return cli_fail(&e);
        return 0;
    }
    if (!rc && l.array) {
        char *s = json_dumps(l.array, JSON_INDENT(1));
        puts(s);
        free(s);
    }
    json_decref(l.array);
    return rc ? cli_fail(&e) : 0;
}

static int c_list(struct cli *c, int argc, char **argv)
{
    return list_or_show(c, "campaign list", argc, argv, 0);
}

static int c_show(struct cli *c, int argc, char **argv)
{
    return list_or_show(c, "campaign show", argc, argv, 1);
}

/* status: one line (or JSON object list) of counts. */
struct status {
    struct store *s;
    int json;
    struct err *e;
};

static int status_row(void *ctx, const struct store_campaign *cp)
{
    struct status *st = ctx;
    struct store_campaign_counts n;
    int rc;

    if ((rc = store_campaign_counts(st->s, cp, &n, st->e)))
        return rc;
    if (st->json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "name", cp->name,
                              "state", cp->state, "recipients", (json_int_t)n.recipients,
                              "queued", (json_int_t)n.queued, "sent", (json_int_t)n.sent,
                              "deferred", (json_int_t)n.deferred, "failed",
                              (json_int_t)n.failed, "skipped", (json_int_t)n.skipped);
        char *s = json_dumps(o, JSON_INDENT(1));
        puts(s);
        free(s);
        json_decref(o);
        return 0;
    }
    printf("campaign %s: %s, %lld recipients: %lld queued, %lld sent, %lld deferred, %lld "
           "failed, %lld skipped\n",
           cp->name, cp->state, n.recipients, n.queued, n.sent, n.deferred, n.failed,
           n.skipped);
    return 0;
}

static int c_status(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    struct status st = {0};
    struct err e;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 'f' || (strcmp(optarg, "json") && strcmp(optarg, "table")))
            return cli_usage("campaign status", "bad option (--format table|json)");
        st.json = !strcmp(optarg, "json");
    }
    if (optind + 1 != argc)
        return cli_usage("campaign status", "expected one NAME");
    if ((rc = cli_open_store(c)))
        return rc;
    st.s = c->store;
    st.e = &e;
    if (store_campaign_get(c->store, argv[optind], NULL, status_row, &st, &e))
        return cli_fail(&e);
    return 0;
}

/* ---- preview, test ---- */

static void put(void *ctx, const char *text)
{
    (void)ctx;
    fputs(text, stdout);
}

static int c_preview(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"limit", required_argument, NULL, 'l'},
                                         {NULL, 0, NULL, 0}};
    long limit = 3;
    struct err e;
    char *end;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 'l')
            return cli_usage("campaign preview", "bad option");
        limit = strtol(optarg, &end, 10);
        if (*end || limit < 0)
            return cli_usage("campaign preview", "--limit: '%s' is not a number", optarg);
    }
    if (optind + 1 != argc)
        return cli_usage("campaign preview", "expected one NAME");
    if ((rc = cli_open_store(c)))
        return rc;
    if (campaign_preview(c->store, c->cfg, argv[optind], limit, put, NULL, &e))
        return cli_fail(&e);
    return 0;
}

static int c_test(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"to", required_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    const char *to = NULL;
    char reply[300];
    struct err e;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 't')
            return cli_usage("campaign test", "bad option");
        to = optarg;
    }
    if (optind + 1 != argc || !to)
        return cli_usage("campaign test", "expected NAME --to ADDRESS");
    if ((rc = cli_open_store(c)))
        return rc;
    if (campaign_test(c->store, c->cfg, argv[optind], to, reply, sizeof reply, &e))
        return cli_fail(&e);
    printf("test message sent to %s (%s)\n", to, reply);
    return 0;
}

/* ---- launch, resume ---- */

static void bar(void *ctx, long long settled, long long total, double rate, int last)
{
    const struct run_summary *s = ctx;
    long long left = total > settled ? total - settled : 0;
    long eta = rate > 0 ? (long)((double)left / rate + 0.5) : 0;
    int width = 30, fill = total ? (int)(width * settled / total) : width;

    fprintf(cli_term_rawerr(), "\r[%.*s%*s] sent %lld/%lld, %lld failed, %.0f msg/s, ETA %ld:%02ld ", fill,
            "##############################", width - fill, "", s->sent, total, s->failed, rate,
            eta / 60, eta % 60);
    if (last)
        fputc('\n', stderr);
    fflush(stderr);
}

static void summary(const char *name, const struct run_summary *s)
{
    size_t i;

    printf("campaign %s: %lld recipients, %lld sent, %lld deferred, %lld failed, %lld skipped",
           name, s->documents, s->sent, s->deferred, s->failed, s->skipped);
    for (i = 0; i < s->nreasons; i++)
        printf("%s%s %lld", i ? ", " : " (", s->reasons[i].reason, s->reasons[i].n);
    puts(s->nreasons ? ")" : "");
    if (s->queued)
        printf("%lld still queued (held or paused: sent by `campaign resume` or the next run)\n",
               s->queued);
}

struct info {
    long long id;
    char state[16], tmpl[128], channel[8], purpose[16];
    int frozen;
};

static int info_cb(void *ctx, const struct store_campaign *cp)
{
    struct info *i = ctx;

    i->id = cp->id;
    snprintf(i->state, sizeof i->state, "%s", cp->state);
    snprintf(i->tmpl, sizeof i->tmpl, "%s", cp->template_name);
    snprintf(i->channel, sizeof i->channel, "%s", cp->channel);
    snprintf(i->purpose, sizeof i->purpose, "%s", cp->purpose);
    i->frozen = cp->frozen_at != NULL;
    return 0;
}

struct counter {
    long long recipients, excluded;
};

static int count_cb(void *ctx, const struct resolve_rcpt *r)
{
    struct counter *k = ctx;

    if (r->reason)
        k->excluded++;
    else
        k->recipients++;
    return 0;
}

static int count_camp(void *ctx, const struct store_campaign *cp)
{
    struct counter *k = ((void **)ctx)[0];
    struct store *s = ((void **)ctx)[1];
    struct err *e = ((void **)ctx)[2];
    char date[DATE_LEN + 1];

    date_today(date);
    return campaign_candidates(s, cp, date, count_cb, k, e);
}

/* On a terminal, unless --yes: states who gets what and asks.  *go = 0
 * when the operator says no. */
static int confirm(struct cli *c, const char *name, const struct info *in, int *go,
                   struct err *e)
{
    struct counter k = {0, 0};
    char line[32];
    int rc;

    *go = 1;
    if (!isatty(STDIN_FILENO))
        return 0;
    if (in->frozen) {
        struct store_campaign cp = {.id = in->id, .name = name};
        struct store_campaign_counts n;
        if ((rc = store_campaign_counts(c->store, &cp, &n, e)))
            return rc;
        k.recipients = n.queued + n.deferred;
        k.excluded = n.skipped;
        if (!k.recipients && !n.sent)
            k.recipients = n.recipients;
    } else {
        void *ctx[3] = {&k, c->store, e};
        if ((rc = store_campaign_get(c->store, name, NULL, count_camp, ctx, e)))
            return rc;
    }
    printf("Send %s (%s, %s) by %s to %lld recipient%s (%lld excluded)? [y/N] ", in->tmpl,
           name, in->purpose, in->channel, k.recipients, k.recipients == 1 ? "" : "s",
           k.excluded);
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin) || (strcmp(line, "y\n") && strcmp(line, "yes\n") &&
                                             strcmp(line, "Y\n") && strcmp(line, "o\n")))
        *go = 0;
    return 0;
}

/* "YYYY-MM-DD HH:MM", a real date and time. */
static int at_ok(const char *at)
{
    char date[DATE_LEN + 1];
    struct err e;

    if (strlen(at) != 16 || at[10] != ' ' || at[13] != ':')
        return 0;
    snprintf(date, sizeof date, "%.10s", at);
    return !date_check(date, &e) && at[11] >= '0' && at[11] <= '2' && at[12] >= '0' &&
           at[12] <= '9' && (at[11] - '0') * 10 + (at[12] - '0') < 24 && at[14] >= '0' &&
           at[14] <= '5' && at[15] >= '0' && at[15] <= '9';
}

static int launch_or_resume(struct cli *c, const char *cmd, int argc, char **argv, int resume)
{
    static const struct option opts[] = {{"yes", no_argument, NULL, 'y'},
                                         {"at", required_argument, NULL, 'a'},
                                         {NULL, 0, NULL, 0}};
    struct run_opts o = {.date = NULL};
    struct info in = {0};
    const char *at = NULL, *name;
    struct run_summary s;
    int opt, rc, yes = 0, go;
    struct err e;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'y': yes = 1; break;
        case 'a':
            if (resume)
                return cli_usage(cmd, "--at is for launch");
            at = optarg;
            break;
        default: return cli_usage(cmd, "bad option");
        }
    }
    if (optind + 1 != argc)
        return cli_usage(cmd, "expected one NAME");
    name = argv[optind];
    if (at && !at_ok(at))
        return cli_usage(cmd, "--at: '%s' is not \"YYYY-MM-DD HH:MM\"", at);
    if ((rc = cli_open_store(c)))
        return rc;
    if (store_campaign_get(c->store, name, NULL, info_cb, &in, &e))
        return cli_fail(&e);
    if (!strcmp(in.state, "cancelled")) {
        fprintf(stderr, "postier: campaign %s was cancelled: nothing is sent\n", name);
        return EXIT_USAGE;
    }
    if (!strcmp(in.state, "done")) {
        printf("campaign %s: nothing left to send\n", name);
        return 0;
    }
    if (resume && !in.frozen) {
        fprintf(stderr, "postier: campaign %s was never launched (campaign launch)\n", name);
        return EXIT_USAGE;
    }
    if (at) {
        if (in.frozen) {
            fprintf(stderr, "postier: campaign %s is already launched\n", name);
            return EXIT_USAGE;
        }
        if (store_campaign_set_state(c->store, in.id, "scheduled", at, &e))
            return cli_fail(&e);
        printf("campaign %s scheduled for %s\n", name, at);
        return 0;
    }
    if (!yes) {
        if (confirm(c, name, &in, &go, &e))
            return cli_fail(&e);
        if (!go) {
            puts("nothing sent");
            return EXIT_PARTIAL;
        }
    }
    if (isatty(STDERR_FILENO)) {
        o.on_progress = bar;
        o.ctx = &s;
    }
    if (campaign_launch(c->store, c->cfg, name, &o, &s, &e))
        return cli_fail(&e);
    summary(name, &s);
    return s.failed ? EXIT_PARTIAL : s.deferred ? EXIT_TEMPFAIL : 0; /* as `run` */
}

static int c_launch(struct cli *c, int argc, char **argv)
{
    return launch_or_resume(c, "campaign launch", argc, argv, 0);
}

static int c_resume(struct cli *c, int argc, char **argv)
{
    return launch_or_resume(c, "campaign resume", argc, argv, 1);
}

/* pause / cancel: a state change another process's launch notices. */
static int set_state(struct cli *c, const char *cmd, int argc, char **argv, const char *to)
{
    struct info in = {0};
    struct err e;
    int rc;

    if (argc != 2)
        return cli_usage(cmd, "expected one NAME");
    if ((rc = cli_open_store(c)))
        return rc;
    if (store_campaign_get(c->store, argv[1], NULL, info_cb, &in, &e))
        return cli_fail(&e);
    if (!strcmp(to, "paused") && strcmp(in.state, "running") && strcmp(in.state, "scheduled")) {
        fprintf(stderr, "postier: campaign %s is %s, not running\n", argv[1], in.state);
        return EXIT_USAGE;
    }
    if (!strcmp(to, "cancelled") && (!strcmp(in.state, "done") || !strcmp(in.state, "cancelled"))) {
        fprintf(stderr, "postier: campaign %s is already %s\n", argv[1], in.state);
        return EXIT_USAGE;
    }
    if (store_campaign_set_state(c->store, in.id, to, NULL, &e))
        return cli_fail(&e);
    printf("campaign %s %s\n", argv[1], to);
    return 0;
}

static int c_rm(struct cli *c, int argc, char **argv)
{
    struct err e;
    int rc;

    if (argc != 2)
        return cli_usage("campaign rm", "expected one NAME");
    if ((rc = cli_open_store(c)))
        return rc;
    if (campaign_remove(c->store, argv[1], &e))
        return cli_fail(&e);
    printf("campaign %s removed\n", argv[1]);
    return 0;
}

static int c_pause(struct cli *c, int argc, char **argv)
{
    return set_state(c, "campaign pause", argc, argv, "paused");
}

static int c_cancel(struct cli *c, int argc, char **argv)
{
    return set_state(c, "campaign cancel", argc, argv, "cancelled");
}

static const struct cli_cmd cmds[] = {
    {"new", c_new, "create a draft campaign", usage_new},
    {"list", c_list, "list campaigns with their counts",
     "Usage: postier campaign list [--format table|csv|json]\n\n"
     "Every campaign: template, channel, purpose, state, schedule and counts.\n\n" CLI_LIST_HELP},
    {"show", c_show, "a campaign's definition and counts",
     "Usage: postier campaign show NAME [--format json]\n\n"
     "The definition (template, channel, purpose, selection, state) and counts.\n"},
    {"preview", c_preview, "rendered messages and exclusions; sends nothing",
     "Usage: postier campaign preview NAME [--limit N]\n\n"
     "The rendered messages of the first N recipients (default 3) and every\n"
     "excluded contact with its reason.  Sends and writes nothing.\n"},
    {"test", c_test, "send one message to a test address",
     "Usage: postier campaign test NAME --to ADDRESS\n\n"
     "Sends the first recipient's message to ADDRESS (a history row `test`).\n"},
    {"launch", c_launch, "freeze the recipients and send (or schedule with --at)",
     "Usage: postier campaign launch NAME [--yes] [--at \"YYYY-MM-DD HH:MM\"]\n\n"
     "Freezes the recipients (consent per purpose, suppression list), renders\n"
     "and sends.  On a terminal it first says who gets what and asks (--yes:\n"
     "don't); never asks when stdin is not a terminal.  --at: the nightly run\n"
     "sends it once that time has come.  Exit 1 when some failed or wait.\n"},
    {"pause", c_pause, "pause a running campaign",
     "Usage: postier campaign pause NAME\n\n"
     "A launch in progress stops after the messages in flight; resume sends\n"
     "exactly the remaining recipients.\n"},
    {"resume", c_resume, "send the remaining recipients",
     "Usage: postier campaign resume NAME [--yes]\n\n"
     "Sends the recipients not yet sent (after a pause or a crash); nobody twice.\n"},
    {"cancel", c_cancel, "cancel: the remaining are never sent",
     "Usage: postier campaign cancel NAME\n\n"
     "The recipients not yet sent never will be.\n"},
    {"rm", c_rm, "delete a draft campaign",
     "Usage: postier campaign rm NAME\n\n"
     "Deletes a campaign never launched; a launched one stays in the history.\n"},
    {"status", c_status, "counts: queued, sent, deferred, failed, skipped",
     "Usage: postier campaign status NAME [--format json]\n\n"
     "State and counts: recipients, queued, sent, deferred, failed, skipped.\n"},
    {NULL, NULL, NULL, NULL},
};

int cmd_campaign(struct cli *c, int argc, char **argv)
{
    return cli_dispatch(c, "campaign", cmds, argc, argv);
}

/* ---- unsubscribe ---- */

static int unsub_row(void *ctx, const char *address, const char *at, const char *source)
{
    const char *vals[3] = {address, at, source};
    return export_row(ctx, vals, NULL);
}

int cmd_unsubscribe(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"list", no_argument, NULL, 'l'},
                                         {"source", required_argument, NULL, 's'},
                                         CLI_LIST_LONGOPTS,
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const struct export_col ucols[] = {
        {"address", EXPORT_TEXT}, {"at", EXPORT_DATETIME}, {"source", EXPORT_TEXT}};
    const char *source = NULL;
    struct export_opts xo = {0};
    struct exporter *x;
    struct cli_list l;
    char address[320];
    int opt, rc, list = 0;
    struct err e;

    cli_list_init(&l);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'l': list = 1; break;
        case 's': source = optarg; break;
        case 'h':
            fputs("Usage: postier unsubscribe ADDRESS|TOKEN [--source TEXT]\n"
                  "       postier unsubscribe --list [--format table|csv|json]\n\n"
                  "Adds an address (or the address an unsubscribe token was made for) to\n"
                  "the suppression list: it never receives marketing again.\n",
                  stdout);
            return 0;
        default:
            if ((rc = cli_list_opt(&l, "unsubscribe", opt, optarg)) != 1)
                return rc ? EXIT_USAGE : cli_usage("unsubscribe", "bad option");
        }
    }
    if (list ? optind != argc : optind + 1 != argc)
        return cli_usage("unsubscribe", list ? "--list takes no argument"
                                             : "expected one ADDRESS or TOKEN");
    if ((rc = cli_open_store(c)))
        return rc;
    if (list) {
        cli_list_xo(&l, &xo);
        if (export_begin(l.fmt, stdout, NULL, ucols, 3, &xo, &x, &e))
            return cli_fail(&e);
        if (store_suppression_list(c->store, unsub_row, x, &e)) {
            export_abort(x);
            return cli_fail(&e);
        }
        return export_finish(x, NULL, &e) ? cli_fail(&e) : 0;
    }
    if (campaign_unsubscribe(c->store, argv[optind], source, address, sizeof address, &e))
        return cli_fail(&e);
    printf("%s unsubscribed\n", address);
    return 0;
}
