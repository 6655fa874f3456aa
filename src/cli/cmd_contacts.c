/* `postier contacts ...`: the secondary contacts of parties (seed 002 level
 * 3) with their notification flags, consents and validity. */
#include "cli.h"

#include <strings.h>

#include "audit/audit.h"
#include "util/strv.h"
#include "text/text.h"
#include "contacts/validate.h"
#include "util/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "contacts/contacts.h"
#include "util/date.h"

static int parse_id(const char *cmd, const char *s, long long *id)
{
    char *end;

    errno = 0;
    *id = strtoll(s, &end, 10);
    if (errno || end == s || *end || *id <= 0)
        return cli_usage(cmd, "'%s' is not a contact id", s);
    return 0;
}

static int load(struct cli *c, const char *cmd, const char *arg, struct store_rec *r)
{
    struct err e;
    long long id;
    int rc;

    store_rec_init(r, STORE_CONTACT);
    if ((rc = parse_id(cmd, arg, &id)) || (rc = cli_open_store(c)))
        return rc;
    if (store_get(c->store, STORE_CONTACT, id, NULL, r, &e))
        return cli_fail(&e);
    return 0;
}

static int ct_add(struct cli *c, int argc, char **argv)
{
    return cli_rec_add(c, STORE_CONTACT, "contacts add", argc, argv);
}

static int ct_import(struct cli *c, int argc, char **argv)
{
    return cli_rec_import(c, STORE_CONTACT, "contacts import", argc, argv);
}

/* A copy of src, owning its values (release with store_rec_release). */
static void rec_copy(struct store_rec *dst, const struct store_rec *src)
{
    size_t i;

    store_rec_init(dst, src->kind);
    dst->id = src->id;
    for (i = 0; i < store_nfields(src->kind); i++)
        store_rec_set(dst, i, src->v[i]);
}

/* Saves r, changed from old, with its history row (event).  Returns 0 or
 * an exit status. */
static int save_changed(struct cli *c, const struct store_rec *old, struct store_rec *r,
                        const char *event)
{
    struct err e;

    return contacts_save_change(c->store, old, r, event, &e) ? cli_fail(&e) : 0;
}

static int ct_edit(struct cli *c, int argc, char **argv)
{
    struct option opts[STORE_MAX_FIELDS + 2];
    const char *set[STORE_MAX_FIELDS] = {0};
    int given[STORE_MAX_FIELDS] = {0};
    struct store_rec r, old;
    size_t i, n;
    int opt, rc;

    n = cli_rec_longopts(STORE_CONTACT, opts, 0);
    memset(&opts[n], 0, sizeof opts[n]);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt < OPT_FIELD)
            return cli_usage("contacts edit", "bad option");
        set[opt - OPT_FIELD] = optarg;
        given[opt - OPT_FIELD] = 1;
    }
    if (optind + 1 != argc)
        return cli_usage("contacts edit", "expected one contact ID");
    rc = load(c, "contacts edit", argv[optind], &r);
    rec_copy(&old, &r);
    for (i = 0; !rc && i < store_nfields(STORE_CONTACT); i++)
        if (given[i])
            store_rec_set(&r, i, set[i]);
    if (!rc && !(rc = save_changed(c, &old, &r, "contact_edited")))
        printf("changed contact %lld\n", r.id);
    if (!rc)
        rc = cli_registry_after_save(c, r.id);
    store_rec_release(&old);
    store_rec_release(&r);
    return rc;
}

static int print_event(void *ctx, const struct store_history *h)
{
    (void)ctx;
    printf("  %lld  %s  %-16s %s%s%s%s%s%s%s%s%s\n", h->id, h->at, h->event,
           h->channel ? h->channel : "", h->channel ? " " : "", h->address ? h->address : "",
           h->document_ref ? " " : "", h->document_ref ? h->document_ref : "",
           h->campaign ? " campaign " : "", h->campaign ? h->campaign : "",
           h->reason ? " " : "", h->reason ? h->reason : "");
    if (h->server_reply && !h->channel)
        printf("      %s\n", h->server_reply);
    return 0;
}

static int ct_show(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_LIST_LONGOPTS, {NULL, 0, NULL, 0}};
    struct store_rec r;
    struct cli_list l;
    int opt, rc;

    cli_list_init(&l);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if ((rc = cli_list_opt(&l, "contacts show", opt, optarg)) != 1)
            return rc ? EXIT_USAGE : cli_usage("contacts show", "bad option");
    if (optind + 1 != argc)
        return cli_usage("contacts show", "expected one contact ID");
    rc = load(c, "contacts show", argv[optind], &r);
    if (!rc)
        rc = cli_rec_show(&r, l.fmt);
    if (!rc && l.fmt == EXPORT_TABLE) { /* its history: sends, skips, edits, merges */
        struct err e;
        puts("\nhistory:");
        if (store_history_of_contact(c->store, r.id, print_event, NULL, &e))
            rc = cli_fail(&e);
    }
    store_rec_release(&r);
    return rc;
}

static int ct_rm(struct cli *c, int argc, char **argv)
{
    struct err e;
    long long id;
    int rc;

    if (argc != 2)
        return cli_usage("contacts rm", "expected one contact ID");
    if ((rc = parse_id("contacts rm", argv[1], &id)) || (rc = cli_open_store(c)))
        return rc;
    if (contacts_remove(c->store, id, &e))
        return cli_fail(&e);
    printf("removed contact %lld\n", id);
    return 0;
}

static int ct_end(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"date", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    char today[DATE_LEN + 1];
    const char *date = NULL;
    struct store_rec r, old;
    struct err e;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 'd')
            return cli_usage("contacts end", "bad option");
        date = optarg;
    }
    if (optind + 1 != argc)
        return cli_usage("contacts end", "expected one contact ID");
    if (!date) { /* ended now: yesterday was the last day of activity */
        date_today_plus(-1, today);
        date = today;
    } else if (date_check(date, &e)) {
        return cli_usage("contacts end", "--date: %s", e.msg);
    }
    rc = load(c, "contacts end", argv[optind], &r);
    rec_copy(&old, &r);
    store_rec_set(&r, CF_VALID_UNTIL, date);
    if (!rc && !(rc = save_changed(c, &old, &r, "contact_ended")))
        printf("contact %lld ends on %s\n", r.id, date);
    store_rec_release(&old);
    store_rec_release(&r);
    return rc;
}

/* Options shared by list and export: the selection. */
#define SELECT_LONGOPTS                                                                        \
    {"search", required_argument, NULL, 's'}, {"all", no_argument, NULL, 'a'},                 \
        {"party", required_argument, NULL, 'p'}, {"date", required_argument, NULL, 'D'},       \
        {"type", required_argument, NULL, 't'}, {"flag", required_argument, NULL, 'F'},        \
        {"consent", required_argument, NULL, 'C'}

struct selection {
    struct store_query q;
    char today[DATE_LEN + 1];
    char *search;
    int all;
};

static int select_opt(struct selection *s, const char *cmd, int opt, const char *arg)
{
    struct err e;

    switch (opt) {
    case 's':
        free(s->search);
        s->search = contacts_search_query(arg);
        return 1;
    case 'a': s->all = 1; return 1;
    case 'p': s->q.party_ref = arg; return 1;
    case 't': s->q.type = arg; return 1;
    case 'F':
    case 'C': {
        unsigned bits;
        if (opt == 'F' ? validate_flags_parse(arg, &bits, &e)
                       : validate_consents_parse(arg, &bits, &e))
            return cli_usage(cmd, "--%s: %s", opt == 'F' ? "flag" : "consent", e.msg), -1;
        *(opt == 'F' ? &s->q.flags : &s->q.consents) |= bits;
        return 1;
    }
    case 'D':
        if (date_check(arg, &e))
            return cli_usage(cmd, "--date: %s", e.msg), -1;
        snprintf(s->today, sizeof s->today, "%s", arg);
        return 1;
    default: return 0;
    }
}

static int add_code(void *ctx, const struct store_type *t)
{
    struct buf *b = ctx;

    if (t->code)
        buf_printf(b, "%s%s", b->len ? ", " : "", t->code);
    return 0;
}

/* --type names a type that exists: exit 2 naming the codes otherwise. */
static int select_check(struct cli *c, const struct selection *s, const char *cmd)
{
    struct buf codes;
    struct err e;
    long long id;
    int rc;

    if (!s->q.type || !(rc = store_type_id(c->store, s->q.type, &id, &e)))
        return 0;
    if (rc != ERR_NOTFOUND)
        return cli_fail(&e);
    buf_init(&codes, 0);
    if (store_type_list(c->store, add_code, &codes, &e)) {
        buf_release(&codes);
        return cli_fail(&e);
    }
    rc = cli_usage(cmd, "--type: unknown contact type '%s' (%s%s)", s->q.type,
                   codes.len ? "expected one of: " : "no type is defined: postier types add",
                   buf_str(&codes));
    buf_release(&codes);
    return rc;
}

static void select_finish(struct selection *s)
{
    if (!s->today[0])
        date_today(s->today);
    s->q.date = s->all ? NULL : s->today;
    s->q.search = s->search;
}

static int ct_list(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_LIST_LONGOPTS, SELECT_LONGOPTS, {NULL, 0, NULL, 0}};
    struct selection sel = {0};
    struct cli_list l;
    int opt, rc = 0;

    cli_list_init(&l);
    while (!rc && (opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int r1 = select_opt(&sel, "contacts list", opt, optarg);
        int r2 = r1 ? r1 : cli_list_opt(&l, "contacts list", opt, optarg);
        if (r2 != 1)
            rc = r2 ? EXIT_USAGE : cli_usage("contacts list", "bad option");
    }
    if (!rc && optind < argc)
        rc = cli_usage("contacts list", "unexpected argument '%s'", argv[optind]);
    select_finish(&sel);
    if (!rc)
        rc = cli_open_store(c);
    if (!rc)
        rc = select_check(c, &sel, "contacts list");
    if (!rc)
        rc = cli_rec_list(c, STORE_CONTACT, &sel.q, &l, "contacts");
    free(sel.search);
    return rc;
}

struct export_ctx {
    struct exporter *x;
    struct err *e;
    int rc;
};

static int export_one(void *ctx, const struct store_rec *r)
{
    struct export_ctx *xc = ctx;
    const char *vals[STORE_MAX_FIELDS + 1];
    char id[32];
    size_t i;

    snprintf(id, sizeof id, "%lld", r->id);
    vals[0] = id;
    for (i = 0; i < store_nfields(r->kind); i++)
        vals[i + 1] = r->v[i];
    xc->rc = export_row(xc->x, vals, xc->e);
    return xc->rc;
}

static int ct_export(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {SELECT_LONGOPTS, CLI_EXPORT_LONGOPTS,
                                         {NULL, 0, NULL, 0}};
    struct export_ctx xc = {0};
    struct selection sel = {0};
    const struct export_col *cols;
    struct cli_export x;
    long long total = 0;
    struct err e;
    size_t n;
    int opt, rc = 0;

    cli_export_init(&x);
    while (!rc && (opt = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        int r1 = select_opt(&sel, "contacts export", opt, optarg);
        int r2 = r1 ? r1 : cli_export_opt(&x, "contacts export", opt, optarg);
        if (r2 != 1)
            rc = r2 ? EXIT_USAGE : cli_usage("contacts export", "bad option");
    }
    select_finish(&sel);
    cols = cli_rec_cols(STORE_CONTACT, &n);
    if (!rc && !(rc = cli_open_store(c)) && !(rc = select_check(c, &sel, "contacts export")) &&
        !(rc = cli_export_begin(&x, "contacts export", cols, n))) {
        xc.x = x.x;
        xc.e = &e;
        rc = store_list(c->store, STORE_CONTACT, &sel.q, export_one, &xc, &total, &e) || xc.rc;
        rc = cli_export_end(&x, rc, &e);
    }
    if (!rc)
        printf("exported %lld contacts to %s\n", total, x.out);
    free(sel.search);
    return rc;
}

static int ct_clear_registry(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"reason", required_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    const char *reason = NULL;
    char match[600];
    long long id;
    struct err e;
    char *end;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 'r')
            return cli_usage("contacts clear-registry", "bad option");
        reason = optarg;
    }
    if (optind + 1 != argc)
        return cli_usage("contacts clear-registry", "expected one contact ID");
    if (!reason || !*reason)
        return cli_usage("contacts clear-registry", "--reason TEXT is required (it is recorded)");
    id = strtoll(argv[optind], &end, 10);
    if (*end || id <= 0)
        return cli_usage("contacts clear-registry", "'%s' is not a contact id", argv[optind]);
    if ((rc = cli_open_store(c)))
        return rc;
    if (store_contact_registry_get(c->store, id, match, sizeof match, NULL, 0, &e))
        return cli_fail(&e);
    if (!match[0]) {
        fprintf(stderr, "postier: contact %lld has no register match\n", id);
        return EXIT_USAGE;
    }
    if ((rc = store_begin(c->store, &e)) == 0) {
        struct store_history h = {.event = "registry_cleared", .contact_id = id,
                                  .reason = reason, .server_reply = match};
        for (char *t = match; *t; t++)
            if (*t == '\t')
                *t = ' ';
        if ((rc = store_contact_registry_clear(c->store, id, &e)) ||
            (rc = audit_append(c->store, &h, &e)) || (rc = store_commit(c->store, &e)))
            store_rollback(c->store);
    }
    if (rc)
        return cli_fail(&e);
    printf("contact %lld: register match cleared (%s)\n", id, reason);
    return 0;
}

/* ---- duplicates (seed 003) ---- */

/* On a terminal, unless --yes: says who merges into whom and asks.
 * Returns 1 to go on; never a question when stdin is not a terminal. */
static int merge_confirm(const struct store_rec *keep, const struct store_rec *dups, int n)
{
    char kname[256], dname[256], line[32];
    int i;

    if (!isatty(STDIN_FILENO))
        return 1;
    contacts_display_name(keep, kname, sizeof kname);
    for (i = 0; i < n; i++) {
        struct buf b;
        buf_init(&b, 0);
        contacts_display_name(&dups[i], dname, sizeof dname);
        buf_printf(&b, "contact %lld (%s) into contact %lld (%s)%s", dups[i].id, dname, keep->id,
                   kname, i + 1 < n ? "," : "?");
        cli_print_one_line(stdout, i ? "      " : "Merge ", buf_str(&b));
        buf_release(&b);
    }
    printf("It is removed; its links move to contact %lld. [y/N] ", keep->id);
    fflush(stdout);
    return fgets(line, sizeof line, stdin) &&
           (!strcmp(line, "y\n") || !strcmp(line, "yes\n") || !strcmp(line, "Y\n") ||
            !strcmp(line, "o\n"));
}

static int ct_merge(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"yes", no_argument, NULL, 'y'}, {NULL, 0, NULL, 0}};
    struct store_rec keep, *dups = NULL;
    struct err e;
    int i, n = 0, opt, rc = 0, yes = 0;

    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt != 'y')
            return cli_usage("contacts merge", "bad option");
        yes = 1;
    }
    if (argc - optind < 2)
        return cli_usage("contacts merge", "expected KEEP DUP [DUP...]");
    if ((rc = load(c, "contacts merge", argv[optind], &keep)))
        return store_rec_release(&keep), rc;
    dups = xcalloc((size_t)(argc - optind - 1), sizeof *dups);
    for (i = optind + 1; !rc && i < argc; i++)
        if (!(rc = load(c, "contacts merge", argv[i], &dups[n++])) &&
            contacts_merge_check(&keep, &dups[n - 1], &e))
            rc = cli_fail(&e);
    if (!rc && !yes && !merge_confirm(&keep, dups, n)) {
        printf("nothing merged\n");
        rc = 1;
    }
    for (i = 0; !rc && i < n; i++) {
        if (contacts_merge(c->store, &keep, &dups[i], &e))
            rc = cli_fail(&e);
        else
            printf("merged contact %lld into %lld\n", dups[i].id, keep.id);
    }
    if (!rc)
        rc = cli_registry_after_save(c, keep.id);
    for (i = 0; i < n; i++)
        store_rec_release(&dups[i]);
    free(dups);
    store_rec_release(&keep);
    return rc;
}

/* dupes: same e-mail (any party), same folded name within a party, same
 * phone; with --linked, contacts sharing an e-mail domain (seed 003). */
struct dupe_ctx {
    struct strv keys; /* "reason\tkey\tid" */
    int linked;
};

static int is_webmail(const char *domain)
{
    static const char *const common[] = {"gmail.com", "hotmail.com", "hotmail.fr", "outlook.com",
                                         "outlook.fr", "yahoo.com", "yahoo.fr", "orange.fr",
                                         "wanadoo.fr", "free.fr", "sfr.fr", "laposte.net",
                                         "live.fr", "icloud.com", "gmx.fr", "aol.com", NULL};
    size_t i;

    for (i = 0; common[i]; i++)
        if (!strcasecmp(domain, common[i]))
            return 1;
    return 0;
}

static void dupe_key(struct dupe_ctx *d, const char *reason, const char *key, long long id)
{
    struct buf b;
    char *folded = text_fold(key);

    buf_init(&b, 0);
    buf_printf(&b, "%s\t%s\t%020lld", reason, folded ? folded : key, id);
    strv_push(&d->keys, buf_str(&b));
    buf_release(&b);
    free(folded);
}

static int dupe_cb(void *ctx, const struct store_rec *r)
{
    struct dupe_ctx *d = ctx;
    const char *p;
    size_t i;

    for (i = 0; i < 2; i++) { /* each e-mail, each phone */
        p = r->v[i ? CF_PHONES : CF_EMAIL];
        while (p && *p) {
            size_t n = strcspn(p, ";");
            char item[400];
            snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), p);
            if (item[0]) {
                dupe_key(d, i ? "same_phone" : "same_email", item, r->id);
                if (!i && d->linked && strchr(item, '@') && !is_webmail(strchr(item, '@') + 1))
                    dupe_key(d, "linked_domain", strchr(item, '@') + 1, r->id);
            }
            p += n + (p[n] == ';');
        }
    }
    if (r->v[CF_LAST_NAME] || r->v[CF_COMPANY]) {
        struct buf key;
        buf_init(&key, 0);
        buf_printf(&key, "%s %s %s|%s", r->v[CF_FIRST_NAME] ? r->v[CF_FIRST_NAME] : "",
                   r->v[CF_LAST_NAME] ? r->v[CF_LAST_NAME] : "",
                   r->v[CF_LAST_NAME] ? "" : r->v[CF_COMPANY], r->v[CF_PARTY_REF]);
        dupe_key(d, "same_name", buf_str(&key), r->id);
        *strrchr(buf_str(&key), '|') = '\0'; /* any party: listed when parties differ */
        dupe_key(d, "cross_party_name", buf_str(&key), r->id);
        buf_release(&key);
    }
    return 0;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Do the group's contacts belong to more than one party?  *cross = 1. */
static int dupe_cross(struct cli *c, char **keys, size_t n, int *cross, struct err *e)
{
    struct store_rec r;
    char first[256] = "";
    size_t k;
    int rc = 0;

    *cross = 0;
    for (k = 0; !rc && k < n; k++) {
        store_rec_init(&r, STORE_CONTACT);
        if (!(rc = store_get(c->store, STORE_CONTACT, strtoll(strrchr(keys[k], '\t') + 1, NULL, 10),
                             NULL, &r, e))) {
            const char *p = r.v[CF_PARTY_REF] ? r.v[CF_PARTY_REF] : "";
            if (!k)
                snprintf(first, sizeof first, "%s", p);
            else if (strcmp(first, p))
                *cross = 1;
        }
        store_rec_release(&r);
    }
    return rc;
}

/* Writes the groups of the keys whose contacts are on one party's file
 * (cross 0) or on several (cross 1: reasons same_* read cross_party_*). */
static int dupe_emit(struct cli *c, struct exporter *x, const struct strv *keys, int cross,
                     long long *groups, struct err *e)
{
    size_t i, j, k;
    int rc = 0, multi;

    for (i = 0; !rc && i < keys->n; i = j) {
        size_t klen = (size_t)(strrchr(keys->v[i], '\t') - keys->v[i]);
        for (j = i + 1; j < keys->n && !strncmp(keys->v[j], keys->v[i], klen + 1); j++)
            ;
        if (j - i < 2 || (rc = dupe_cross(c, keys->v + i, j - i, &multi, e)))
            continue;
        if (multi != cross || (!cross && !strncmp(keys->v[i], "cross_party_name\t", 17)) ||
            (cross && !strncmp(keys->v[i], "linked_domain\t", 14)))
            continue;
        ++*groups;
        for (k = i; x && !rc && k < j; k++) { /* x NULL: counts only */
            const char *t = keys->v[k], *t2 = strchr(t, '\t');
            long long id = strtoll(strrchr(t, '\t') + 1, NULL, 10);
            char grp[24], cid[24], reason[48], key[400], name[256];
            struct store_rec r;
            snprintf(reason, sizeof reason, "%s%.*s", cross && !strncmp(t, "same_", 5) ?
                     "cross_party_" : "", (int)(t2 - t) - (cross && !strncmp(t, "same_", 5) ? 5 : 0),
                     t + (cross && !strncmp(t, "same_", 5) ? 5 : 0));
            snprintf(key, sizeof key, "%.*s", (int)(klen - (size_t)(t2 - t) - 1), t2 + 1);
            if (strchr(key, '|'))
                *strchr(key, '|') = '\0'; /* the name key's party */
            store_rec_init(&r, STORE_CONTACT);
            if (!(rc = store_get(c->store, STORE_CONTACT, id, NULL, &r, e))) {
                const char *vals[8];
                contacts_display_name(&r, name, sizeof name);
                snprintf(grp, sizeof grp, "%lld", *groups);
                snprintf(cid, sizeof cid, "%lld", id);
                vals[0] = grp, vals[1] = reason, vals[2] = key, vals[3] = cid;
                vals[4] = r.v[CF_PARTY_REF], vals[5] = name, vals[6] = r.v[CF_EMAIL];
                vals[7] = r.v[CF_PHONES];
                rc = export_row(x, vals, e);
            }
            store_rec_release(&r);
        }
    }
    return rc;
}

static int ct_dupes(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_LIST_LONGOPTS, {"linked", no_argument, NULL, 'l'},
                                         {"party", required_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    static const struct export_col cols[] = {
        {"group", EXPORT_INT}, {"reason", EXPORT_TEXT}, {"key", EXPORT_TEXT},
        {"contact_id", EXPORT_INT}, {"party_ref", EXPORT_TEXT}, {"name", EXPORT_TEXT},
        {"email", EXPORT_TEXT}, {"phones", EXPORT_TEXT}};
    struct dupe_ctx d = {.linked = 0};
    struct store_query q = {0};
    struct export_opts xo = {0};
    struct exporter *x;
    struct cli_list l;
    char today[DATE_LEN + 1], footer[64];
    long long groups = 0, cross = 0;
    struct err e;
    int opt, rc;

    cli_list_init(&l);
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'l')
            d.linked = 1;
        else if (opt == 'p')
            q.party_ref = optarg;
        else if ((rc = cli_list_opt(&l, "contacts dupes", opt, optarg)) != 1)
            return rc ? EXIT_USAGE : cli_usage("contacts dupes", "bad option");
    }
    if (optind != argc)
        return cli_usage("contacts dupes", "unexpected argument");
    if ((rc = cli_open_store(c)))
        return rc;
    date_today(today);
    q.date = today; /* current contacts */
    strv_init(&d.keys);
    if (store_list(c->store, STORE_CONTACT, &q, dupe_cb, &d, NULL, &e)) {
        strv_release(&d.keys);
        return cli_fail(&e);
    }
    qsort(d.keys.v, d.keys.n, sizeof *d.keys.v, cmp_keys);
    cli_list_xo(&l, &xo);
    if (export_begin(l.fmt, stdout, NULL, cols, 8, &xo, &x, &e)) {
        strv_release(&d.keys);
        return cli_fail(&e);
    }
    rc = dupe_emit(c, x, &d.keys, 0, &groups, &e);
    if (!rc && l.fmt == EXPORT_TABLE) /* the cross-party matches: a section of their own */
        rc = dupe_emit(c, NULL, &d.keys, 1, &cross, &e);
    if (!rc && cross) {
        snprintf(footer, sizeof footer, "%lld groups of likely duplicates", groups);
        if (!(rc = export_finish(x, footer, &e))) {
            groups = 0;
            printf("\nsame person on several files (two roles: not merged):\n");
            rc = export_begin(l.fmt, stdout, NULL, cols, 8, &xo, &x, &e);
            if (rc)
                x = NULL;
        } else {
            x = NULL;
        }
    }
    if (!rc)
        rc = dupe_emit(c, x, &d.keys, 1, &groups, &e);
    strv_release(&d.keys);
    if (rc) {
        if (x)
            export_abort(x);
        return cli_fail(&e);
    }
    snprintf(footer, sizeof footer, cross ? "%lld groups on several files" :
             "%lld groups of likely duplicates", groups);
    return export_finish(x, footer, &e) ? cli_fail(&e) : 0;
}

static const struct cli_cmd subs[] = {
    {"add", ct_add, "add a contact to a party",
     "Usage: postier contacts add --party REF (--last-name NAME | --company NAME) [OPTIONS]\n\n"
     "Options (each a column of the canonical CSV):\n"
     "  --party REF            the party the contact belongs to\n"
     "  --type CODE            contact type code (postier types list)\n"
     "  --civility --last-name --first-name --company --department --function\n"
     "  --email ADDR[;ADDR]    checked; IDN domains allowed\n"
     "  --phones N[;N]         normalised to E.164 (France by default)\n"
     "  --fax N --address --postcode --city --country --website --note\n"
     "  --site LABEL           one of the party's addresses (postier addresses list)\n"
     "  --locale fr|en --display-order N (1 first; default: after the last)\n"
     "  --valid-from YYYY-MM-DD --valid-until YYYY-MM-DD\n"
     "  --flags F|F            invoice payment_reminder due_notice document_reminder\n"
     "                         claim_settlement order after_sales receiver\n"
     "  --consents C|C         commercial partner esign sms_marketing\n"},
    {"edit", ct_edit, "change a contact's fields",
     "Usage: postier contacts edit ID [OPTIONS]\n\n"
     "Changes the fields given (same options as 'contacts add'); an empty value\n"
     "clears a field; --flags and --consents replace the whole set.\n"},
    {"show", ct_show, "show a contact",
     "Usage: postier contacts show ID [--format table|csv|json]\n"},
    {"clear-registry", ct_clear_registry, "clear a contact's asset-freeze register match",
     "Usage: postier contacts clear-registry ID --reason TEXT\n\n"
     "After checking it is not the listed person or company: clears the contact's\n"
     "match (recorded in the history with the reason); it receives messages again.\n"},
    {"dupes", ct_dupes, "likely duplicates: same e-mail, name within a party, phone",
     "Usage: postier contacts dupes [--linked] [--party REF] [--format table|csv|json]\n\n"
     "Groups of current contacts that share an e-mail (any case), a name within\n"
     "their party (case, accents and punctuation ignored) or a phone number;\n"
     "--linked adds the contacts sharing an e-mail domain (same organisation,\n"
     "webmail domains excepted).  Merge with `postier contacts merge KEEP DUP`.\n"
     "Matches across parties (same person on several files: two roles, reasons\n"
     "cross_party_*) are listed in a section of their own and are not merged.\n\n"
     CLI_LIST_HELP},
    {"merge", ct_merge, "merge duplicates into the original",
     "Usage: postier contacts merge KEEP DUP [DUP...] [--yes]\n\n"
     "Keeps the original KEEP: fills its empty fields from each DUP, joins e-mails\n"
     "and phones, unites flags and consents, moves the documents, deliveries,\n"
     "events and campaign recipients of DUP to KEEP, removes DUP and records the\n"
     "merge with every field of KEEP it changed.  History rows keep the ids they\n"
     "were written with; `contacts show KEEP` lists both contacts' rows.  Contacts\n"
     "of different parties are refused (two roles, not duplicates).  On a terminal\n"
     "it asks first (--yes: no question).\n"},
    {"list", ct_list, "list and search contacts",
     "Usage: postier contacts list [--search TEXT] [--party REF] [--type CODE]\n"
     "       [--flag FLAG] [--consent C] [--all] [--date D]\n"
     "       [--format table|csv|json] [--page N] [--per-page N]\n\n"
     "Lists the contacts active today (or on --date), ordered by party and display\n"
     "order; --all includes historical ones.  --search matches every word, ignoring\n"
     "case and accents, in names, company, department, function, address, postcode,\n"
     "city, country, phones (as typed: 06 12 34 56 78 or +33...), e-mails, website\n"
     "and note.  --type keeps the contacts of that type, --flag those notified of\n"
     "FLAG (invoice, order, ...), --consent those who gave consent C (commercial,\n"
     "partner, esign, sms_marketing); repeated, each must hold.\n\n" CLI_LIST_HELP},
    {"rm", ct_rm, "delete a contact that has no history",
     "Usage: postier contacts rm ID\n\n"
     "Deletes a contact.  Refused (exit 2) while it is linked to a sent message,\n"
     "a document or an event: end it instead.\n"},
    {"end", ct_end, "end a contact's activity (valid_until)",
     "Usage: postier contacts end ID [--date YYYY-MM-DD]\n\n"
     "Sets valid_until, the last day of activity: after it the contact is\n"
     "historical, hidden from lists unless --all, and never a recipient.\n"
     "Without --date the contact ends now (valid_until = yesterday).\n"},
    {"import", ct_import, "import contacts from CSV (all-or-nothing)",
     "Usage: postier contacts import FILE [--sync] [--dry-run]\n\n"
     "Accepts the canonical layout (header: party_ref,type,civility,last_name,\n"
     "first_name,company,department,function,email,phones,fax,address,postcode,\n"
     "city,country,site,website,note,locale,display_order,valid_from,valid_until,\n"
     "flags,consents; an optional id column updates that contact: only the file's\n"
     "columns change, an empty cell clears its field) and the seed-004\n"
     "layout (Référence;Libellé membre;Dénomination;Note;Fonction;Mail;Tel;Fax;\n"
     "Type;Libellé type, Type 1-6 mapped to notification flags).  ',' or ';',\n"
     "UTF-8 (BOM or not) or Windows-1252 are detected.  Every bad row is reported\n"
     "with its line and field; then nothing is written (exit 2).\n"
     "  --sync     the file becomes the contacts of every party it names: a row\n"
     "             updates the party's contact with the same e-mail, else name\n"
     "             (same id, only the file's columns), or adds one; contacts no\n"
     "             row names are deleted (ended when linked to history)\n"
     "  --dry-run  check and report without writing\n"},
    {"export", ct_export, "export contacts to CSV or XLSX",
     "Usage: postier contacts export --format csv|xlsx -o FILE [--bom] [--separator ;]\n"
     "       [--search TEXT] [--party REF] [--type CODE] [--flag FLAG] [--consent C]\n"
     "       [--all]\n\n"
     "Writes the selected contacts (id + canonical columns).  CSV is RFC 4180,\n"
     "cells that a spreadsheet would run as formulas are neutralised; XLSX has a\n"
     "bold frozen header, an autofilter and real date cells.\n"},
    {NULL, NULL, NULL, NULL},
};

int cmd_contacts(struct cli *c, int argc, char **argv)
{
    return cli_dispatch(c, "contacts", subs, argc, argv);
}
