/* `postier history list|verify`: the append-only, hash-chained record of
 * every decision and send. */
#include "cli.h"

#include <stdio.h>
#include <strings.h>

#include <jansson.h>

#include "audit/audit.h"
#include "spool/spool.h"
#include "util/date.h"

static const struct export_col cols[] = {
    {"id", EXPORT_INT},           {"at", EXPORT_DATETIME},       {"event", EXPORT_TEXT},
    {"channel", EXPORT_TEXT},     {"address", EXPORT_TEXT},      {"contact_id", EXPORT_INT},
    {"party_ref", EXPORT_TEXT},   {"document_ref", EXPORT_TEXT}, {"document_type", EXPORT_TEXT},
    {"campaign", EXPORT_TEXT},    {"template", EXPORT_TEXT},     {"template_sha256", EXPORT_TEXT},
    {"message_id", EXPORT_TEXT},  {"reason", EXPORT_TEXT},       {"server_reply", EXPORT_TEXT},
    {"consent", EXPORT_TEXT},     {"operator", EXPORT_TEXT},     {"message_sha256", EXPORT_TEXT},
    {"provider_id", EXPORT_TEXT}, {"hash", EXPORT_TEXT},
};
#define NCOLS (sizeof cols / sizeof cols[0])
/* On a narrow terminal the hashes and identifiers go first. */
static const int drop[NCOLS] = {0, 0, 0, 3, 0, 2, 1, 0, 5, 6, 4, 9, 8, 0, 7, 11, 12, 14, 13, 15};

/* The events the history records (what --status accepts). */
static const char *const events[] = {
    "queued", "sent", "deferred", "failed", "skipped", "bounced", "unsubscribed", "test",
    "contact_added", "contact_removed", "contact_merged", "document_corrected", "imported",
    "registry_loaded", "registry_cleared", "purged", NULL};

struct filter {
    const char *document, *status, *party, *type, *channel, *campaign, *from, *to, *address;
    struct strv claims; /* the refs of --party's claims */
    long long contact;
    long long skip, limit, total;
    struct exporter *x;
    struct err *e;
};

/* Is the row about f->party: its own, or one of its claims? */
static int party_match(const struct filter *f, const char *ref)
{
    size_t i;

    if (!f->party)
        return 1;
    if (!ref)
        return 0;
    if (!strcmp(f->party, ref))
        return 1;
    for (i = 0; i < f->claims.n; i++)
        if (!strcmp(f->claims.v[i], ref))
            return 1;
    return 0;
}

static int match(const struct filter *f, const struct store_history *h)
{
#define EQ(a, b) (!(a) || ((b) && !strcmp((a), (b))))
    return EQ(f->document, h->document_ref) && EQ(f->status, h->event) &&
           party_match(f, h->party_ref) && EQ(f->type, h->document_type) &&
           (!f->address || (h->address && !strcasecmp(f->address, h->address))) &&
           EQ(f->channel, h->channel) && EQ(f->campaign, h->campaign) &&
           (!f->contact || f->contact == h->contact_id) &&
           (!f->from || strncmp(h->at, f->from, 10) >= 0) &&
           (!f->to || strncmp(h->at, f->to, 10) <= 0);
#undef EQ
}

/* The row's cells in the order of cols; id and contact hold the numbers. */
static void values(const struct store_history *h, char id[32], char contact[32],
                   const char *v[NCOLS])
{
    const char *all[NCOLS] = {id, h->at, h->event, h->channel, h->address,
                              h->contact_id ? contact : NULL, h->party_ref, h->document_ref,
                              h->document_type, h->campaign, h->template_name,
                              h->template_sha256, h->message_id, h->reason, h->server_reply,
                              h->consent, h->operator_name, h->message_sha256, h->provider_id,
                              h->hash};

    snprintf(id, 32, "%lld", h->id);
    snprintf(contact, 32, "%lld", h->contact_id);
    memcpy(v, all, sizeof all);
}

static int row(void *ctx, const struct store_history *h)
{
    struct filter *f = ctx;
    char id[32], contact[32];
    const char *v[NCOLS];

    if (!match(f, h))
        return 0;
    f->total++;
    if (f->total <= f->skip || (f->limit && f->total > f->skip + f->limit))
        return 0;
    values(h, id, contact, v);
    return export_row(f->x, v, f->e);
}

#define FILTER_LONGOPTS                                                                       \
    {"document", required_argument, NULL, 'D'}, {"status", required_argument, NULL, 's'},       \
        {"party", required_argument, NULL, 'p'}, {"type", required_argument, NULL, 't'},        \
        {"channel", required_argument, NULL, 'c'}, {"campaign", required_argument, NULL, 'C'},  \
        {"contact", required_argument, NULL, 'i'}, {"from", required_argument, NULL, 'F'},      \
        {"to", required_argument, NULL, 'T'}, {"address", required_argument, NULL, 'a'}

/* One filter option: 1 handled, 0 not a filter, -1 bad value (printed). */
static int filter_opt(struct filter *f, const char *cmd, int opt, const char *arg)
{
    struct err e;
    char *end, known[512];
    size_t i, n = 0;

    switch (opt) {
    case 'D': f->document = arg; return 1;
    case 's':
        for (i = 0; events[i]; i++) {
            if (!strcmp(arg, events[i]))
                return f->status = arg, 1;
            n = str_puts(known, sizeof known, n, i ? ", " : "");
            n = str_puts(known, sizeof known, n, events[i]);
        }
        return cli_usage(cmd, "%s --status: '%s' is not an event (one of: %s)", cmd, arg, known),
               -1;
    case 'a': f->address = arg; return 1;
    case 'p': f->party = arg; return 1;
    case 't': f->type = arg; return 1;
    case 'c':
        if (strcmp(arg, "email") && strcmp(arg, "sms"))
            return cli_usage(cmd, "--channel: '%s' is not email or sms", arg), -1;
        f->channel = arg;
        return 1;
    case 'C': f->campaign = arg; return 1;
    case 'i':
        f->contact = strtoll(arg, &end, 10);
        if (*end || f->contact <= 0)
            return cli_usage(cmd, "--contact: '%s' is not a contact id", arg), -1;
        return 1;
    case 'F':
    case 'T':
        if (date_check(arg, &e))
            return cli_usage(cmd, "--%s: %s", opt == 'F' ? "from" : "to", e.msg), -1;
        *(opt == 'F' ? &f->from : &f->to) = arg;
        return 1;
    default: return 0;
    }
}

static int hist_list(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_LIST_LONGOPTS, FILTER_LONGOPTS, {NULL, 0, NULL, 0}};
    struct filter f = {0};
    struct export_opts xo = {0};
    struct store_query q = {0};
    struct cli_list l;
    char footer[128];
    struct err e;
    int opt, rc;

    cli_list_init(&l);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if ((rc = filter_opt(&f, "history list", opt, optarg)) == 1)
            continue;
        if (rc || (rc = cli_list_opt(&l, "history list", opt, optarg)) != 1)
            return rc ? EXIT_USAGE : cli_usage("history list", "bad option");
    }
    if (optind < argc)
        return cli_usage("history list", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_open_store(c)))
        return rc;
    if (f.party && store_party_claims(c->store, f.party, &f.claims, &e))
        return strv_release(&f.claims), cli_fail(&e);
    cli_list_query(&l, &q);
    f.skip = q.offset;
    f.limit = q.limit;
    cli_list_xo(&l, &xo);
    xo.drop = drop;
    f.e = &e;
    if (export_begin(l.fmt, stdout, NULL, cols, NCOLS, &xo, &f.x, &e)) {
        rc = cli_fail(&e);
    } else if (store_history_scan(c->store, row, &f, &e)) {
        export_abort(f.x);
        rc = cli_fail(&e);
    } else {
        snprintf(footer, sizeof footer, "%lld rows", f.total);
        rc = export_finish(f.x, footer, &e) ? cli_fail(&e) : 0;
    }
    strv_release(&f.claims);
    return rc;
}

/* export: the same rows, streamed into a CSV or XLSX file. */
static int hist_export(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_EXPORT_LONGOPTS, FILTER_LONGOPTS,
                                         {NULL, 0, NULL, 0}};
    struct filter f = {0};
    struct cli_export x;
    struct err e;
    int opt, rc;

    cli_export_init(&x);
    while ((opt = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        if ((rc = filter_opt(&f, "history export", opt, optarg)) == 1)
            continue;
        if (rc || (rc = cli_export_opt(&x, "history export", opt, optarg)) != 1)
            return rc ? EXIT_USAGE : cli_usage("history export", "bad option");
    }
    if (optind < argc)
        return cli_usage("history export", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_open_store(c)))
        return rc;
    if (f.party && store_party_claims(c->store, f.party, &f.claims, &e))
        return strv_release(&f.claims), cli_fail(&e);
    if ((rc = cli_export_begin(&x, "history export", cols, NCOLS)))
        return strv_release(&f.claims), rc;
    f.x = x.x;
    f.e = &e;
    rc = cli_export_end(&x, store_history_scan(c->store, row, &f, &e) != 0, &e);
    if (!rc)
        printf("exported %lld history rows to %s\n", f.total, x.out);
    strv_release(&f.claims);
    return rc;
}

/* show: the whole row, and the message while the spool still holds it. */
struct shown {
    struct cli *c;
    int json;
    char message_id[320];
};

static int show_row(void *ctx, const struct store_history *h)
{
    struct shown *sh = ctx;
    char id[32], contact[32];
    const char *v[NCOLS];
    size_t i;

    values(h, id, contact, v);
    snprintf(sh->message_id, sizeof sh->message_id, "%s", h->message_id ? h->message_id : "");
    if (sh->json) {
        json_t *o = json_object();
        char *text;
        for (i = 0; i < NCOLS; i++)
            json_object_set_new(o, cols[i].name,
                                !v[i] ? json_null()
                                : (i == 0 || i == 5) ? json_integer(strtoll(v[i], NULL, 10))
                                                      : json_string(v[i]));
        text = json_dumps(o, JSON_INDENT(1));
        printf("[\n%s\n]\n", text);
        free(text);
        json_decref(o);
        return 0;
    }
    for (i = 0; i < NCOLS; i++)
        cli_print_field(cols[i].name, 16, v[i]);
    return 0;
}

/* A message delivered into the Maildir keeps its spool name there. */
static int maildir_read(struct cli *c, const char *name, struct buf *out)
{
    struct buf path;
    char chunk[65536];
    size_t n;
    FILE *f;

    if (strcmp(c->cfg->email_transport, "maildir"))
        return -1;
    buf_init(&path, 0);
    buf_printf(&path, "%s/new/%s.postier", c->cfg->email_maildir, name);
    f = fopen(buf_str(&path), "rb");
    if (!f) {
        buf_reset(&path);
        buf_printf(&path, "%s/cur/%s.postier", c->cfg->email_maildir, name);
        f = fopen(buf_str(&path), "rb");
    }
    buf_release(&path);
    if (!f)
        return -1;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_add(out, chunk, n);
    fclose(f);
    return 0;
}

static int hist_show(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {NULL, 0, NULL, 0}};
    struct shown sh = {.c = c};
    struct spool *sp = NULL;
    struct buf msg;
    long long id;
    struct err e;
    char *end, name[40];
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 'f' || (strcmp(optarg, "json") && strcmp(optarg, "table")))
            return cli_usage("history show", "bad option (--format table|json)");
        sh.json = !strcmp(optarg, "json");
        if (sh.json)
            cli_term_machine();
    }
    if (optind + 1 != argc)
        return cli_usage("history show", "expected one row ID");
    id = strtoll(argv[optind], &end, 10);
    if (*end || id <= 0)
        return cli_usage("history show", "'%s' is not a row id", argv[optind]);
    if ((rc = cli_open_store(c)))
        return rc;
    if (store_history_get(c->store, id, show_row, &sh, &e))
        return cli_fail(&e);
    if (sh.json || !sh.message_id[0])
        return 0;
    /* the spool name is the Message-ID's local part */
    snprintf(name, sizeof name, "%.*s", (int)strcspn(sh.message_id + 1, "@"), sh.message_id + 1);
    buf_init(&msg, 0);
    if (spool_open(c->cfg->spool, &sp, &e)) {
        printf("\nmessage: not shown (%s)\n", e.code == ERR_LOCKED ? "a run holds the spool"
                                                                  : e.msg);
    } else if (spool_read(sp, name, &msg, NULL, &e) && maildir_read(c, name, &msg)) {
        puts("\nmessage: no longer in the spool (sent, failed or purged)");
    } else {
        char sha[65];
        audit_sha256_hex(buf_str(&msg), msg.len, sha);
        printf("\nmessage (%zu bytes, SHA-256 %s):\n%s\n", msg.len, sha, buf_str(&msg));
    }
    spool_close(sp);
    buf_release(&msg);
    return 0;
}

/* purge: retention, keeping the chain verifiable. */
static int hist_purge(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"before", required_argument, NULL, 'b'},
                                         {NULL, 0, NULL, 0}};
    const char *before = NULL;
    long long removed;
    struct err e;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 'b')
            return cli_usage("history purge", "bad option");
        if (date_check(optarg, &e))
            return cli_usage("history purge", "--before: %s", e.msg);
        before = optarg;
    }
    if (!before || optind != argc)
        return cli_usage("history purge", "expected --before YYYY-MM-DD");
    if ((rc = cli_open_store(c)))
        return rc;
    if (audit_purge(c->store, before, c->cfg->history_retention_min_days, &removed, &e))
        return cli_fail(&e);
    if (!removed)
        printf("no history row before %s\n", before);
    else
        printf("purged %lld history rows before %s; the chain now starts from its anchor\n",
               removed, before);
    return 0;
}

static int hist_verify(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"anchor", required_argument, NULL, 'a'},
                                         {NULL, 0, NULL, 0}};
    const char *anchor = NULL;
    struct audit_check k;
    struct err e;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 'a')
            return cli_usage("history verify", "bad option (--anchor LINE)");
        anchor = optarg;
    }
    if (optind != argc)
        return cli_usage("history verify", "unexpected argument '%s'", argv[optind]);
    c->no_key = 1; /* a check: reports a missing key or marker, never makes one */
    if ((rc = cli_open_store(c)))
        return rc;
    rc = audit_verify_full(c->store, anchor, &k, &e);
    if (rc == ERR_PERMFAIL) {
        if (k.bad)
            printf("history BROKEN at row %lld: %s\n", k.bad, e.msg);
        else
            printf("history BROKEN: %s\n", e.msg);
        return EXIT_PARTIAL;
    }
    if (rc)
        return cli_fail(&e);
    printf("history intact: %lld rows, hash chain verified", k.rows);
    if (k.unkeyed)
        printf(" (%lld unkeyed rows from before the key)", k.unkeyed);
    if (anchor)
        printf("; contains anchor id=%lld", k.anchor_id);
    putchar('\n');
    return 0;
}

static int hist_anchor(struct cli *c, int argc, char **argv)
{
    char line[256];
    struct err e;
    int rc;

    (void)argv;
    if (argc > 1)
        return cli_usage("history anchor", "unexpected argument");
    c->no_key = 1;
    if ((rc = cli_open_store(c)))
        return rc;
    rc = audit_anchor(c->store, line, sizeof line, &e);
    if (rc == ERR_PERMFAIL) {
        printf("history BROKEN: %s\n", e.msg);
        return EXIT_PARTIAL;
    }
    if (rc)
        return cli_fail(&e);
    puts(line);
    return 0;
}

static const struct cli_cmd subs[] = {
    {"list", hist_list, "list history rows",
     "Usage: postier history list [--from D] [--to D] [--contact ID] [--party REF]\n"
     "       [--document REF] [--type TYPE] [--campaign NAME] [--status EVENT]\n"
     "       [--channel email|sms] [--address ADDRESS]\n"
     "       [--format table|csv|json] [--page N] [--per-page N]\n\n"
     "Every decision (skipped with its reason, queued, sent, deferred, failed) with\n"
     "the template and its SHA-256, the Message-ID, the server's reply, the\n"
     "consent flags used, the operator, the message's SHA-256, the server's or\n"
     "gateway's id and the row's chain hash.  --party REF includes the rows about\n"
     "its claims; --address matches ignoring case.\n\n" CLI_LIST_HELP},
    {"export", hist_export, "export history rows to CSV or XLSX",
     "Usage: postier history export --format csv|xlsx -o FILE [filters of history list]\n\n"
     "The rows `history list` would print, streamed into a file: XLSX with real\n"
     "date cells, a bold frozen header and an autofilter; CSV per RFC 4180.\n\n"
     CLI_EXPORT_HELP},
    {"show", hist_show, "one row in full, and its message while spooled",
     "Usage: postier history show ID [--format table|json]\n\n"
     "Every column of the row (with the consent state used, the operator, the\n"
     "server's reply and id, the rendered message's SHA-256) and, while the\n"
     "spool still holds it, the message itself.\n"},
    {"purge", hist_purge, "remove rows older than a date (retention)",
     "Usage: postier history purge --before YYYY-MM-DD\n\n"
     "Removes the rows dated before DATE 00:00 UTC (their personal data with\n"
     "them; DATE is a UTC date, as the rows' times are; not later than today\n"
     "in UTC - [history] retention_min_days)\n"
     "and appends a `purged` row recording the chain's new anchor, so that\n"
     "`history verify` stays green and still detects any later tampering.\n"},
    {"verify", hist_verify, "check the hash chain",
     "Usage: postier history verify [--anchor LINE]\n\n"
     "Recomputes every row's chain hash (HMAC-SHA-256 keyed with [history]\n"
     "key_file; SHA-256 for rows from before the key) and checks the head the\n"
     "last command recorded in <spool>/history.head.  Exit 0 when intact; exit 1\n"
     "naming the first row that was altered, inserted or follows a deleted one,\n"
     "or the recorded head that is missing (newest rows deleted).  --anchor\n"
     "LINE (from `history anchor`) also proves that row is still there unchanged.\n"},
    {"anchor", hist_anchor, "print the chain's head, to keep elsewhere",
     "Usage: postier history anchor\n\n"
     "Verifies the chain, then prints its newest row as one line\n"
     "  postier-anchor 1 id=N count=N at=YYYY-MM-DDTHH:MM:SSZ hash=HEX\n"
     "to keep outside this machine (mailed to compliance, in a register);\n"
     "`history verify --anchor LINE` proves the history still contains it.\n"},
    {NULL, NULL, NULL, NULL},
};

int cmd_history(struct cli *c, int argc, char **argv)
{
    return cli_dispatch(c, "history", subs, argc, argv);
}
