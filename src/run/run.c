/* The nightly job.  Order of writes makes a crash at any point safe:
 * a batch's messages are made durable in spool/queue before the database
 * records them as queued; a batch's sends are made durable by the
 * transport before the database records them as sent; spool files are
 * removed last.  Recovery at start removes queue files the database does
 * not know as pending (their documents are still new: they are resolved
 * again).  At-least-once only for messages sent but not yet recorded. */
#include <ctype.h>
#include <time.h>

#include "audit/audit.h"
#include "run-int.h"
#include "sms/sms.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define DOC_BATCH 200

void run_count_reason(struct run_summary *sum, const char *reason)
{
    size_t i;

    for (i = 0; i < sum->nreasons; i++)
        if (!strcmp(sum->reasons[i].reason, reason)) {
            sum->reasons[i].n++;
            return;
        }
    if (sum->nreasons < RUN_MAX_REASONS) {
        snprintf(sum->reasons[i].reason, sizeof sum->reasons[i].reason, "%s", reason);
        sum->reasons[i].n = 1;
        sum->nreasons++;
    }
}

void run_line(struct job *j, const char *fmt, ...)
{
    struct buf b;
    va_list ap;

    if (!j->o->on_line)
        return;
    buf_init(&b, 0);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    j->o->on_line(j->o->ctx, buf_str(&b));
    buf_release(&b);
}

/* Stable Message-ID and spool name for (document, address, channel):
 * a resend is recognisable (SPEC §4). */
static void message_id(struct job *j, const struct store_document *d, const char *address,
                       const char *channel, char *spool_name, char *mid, size_t n)
{
    char hex[65];
    struct buf key;
    size_t i;

    buf_init(&key, 0);
    buf_printf(&key, "doc\n%s\n%s\n", d->type, d->ref);
    for (i = 0; address[i]; i++)
        buf_addc(&key, (char)tolower((unsigned char)address[i]));
    buf_printf(&key, "\n%s", channel);
    audit_sha256_hex(buf_str(&key), key.len, hex);
    buf_release(&key);
    memcpy(spool_name, hex, 32);
    spool_name[32] = '\0';
    snprintf(mid, n, "<%s@%s>", spool_name, j->domain);
}

static const char *consent_of(const struct resolve_rcpt *r)
{
    return r->contact.v[CF_CONSENTS];
}

static int history(struct job *j, const struct store_document *d, const struct resolve_rcpt *r,
                   const char *channel, const char *event, const char *reason, const char *mid,
                   const struct merge_info *info, const char *reply, struct err *e)
{
    char sha[65];
    struct store_history h = {
        .event = event, .channel = channel, .address = r->address[0] ? r->address : NULL,
        .contact_id = r->level == RESOLVE_CONTACT ? r->contact.id : 0,
        .party_ref = d->party_ref, .document_ref = d->ref, .document_type = d->type,
        .template_name = info && info->template_name[0] ? info->template_name : NULL,
        .template_sha256 = info && info->template_sha256[0] ? info->template_sha256 : NULL,
        .message_id = mid, .reason = reason, .server_reply = reply, .consent = consent_of(r),
    };
    if (!strcmp(event, "queued")) { /* the rendered message, as spooled and sent */
        audit_sha256_hex(buf_str(&j->msg), j->msg.len, sha);
        h.message_sha256 = sha;
    }
    return audit_append(j->s, &h, e);
}

/* Renders the message of d for r on channel into j->msg.  A message that
 * cannot be made is ERR_INPUT with *reason (template, too_long). */
static int render(struct job *j, const struct store_document *d, const struct resolve_rcpt *r,
                  int sms, const char *mid, struct merge_info *info, const char **reason,
                  struct err *e)
{
    struct sms_size size;
    int rc;

    buf_reset(&j->msg);
    *reason = "template";
    if (!sms)
        return merge_document(j->merge, d, r, mid, &j->msg, info, e);
    if ((rc = merge_sms(j->merge, d, r, &j->msg, info, e)))
        return rc;
    if (j->msg.data) { /* typography that would make it UCS-2 for nothing */
        sms_simplify(j->msg.data);
        j->msg.len = strlen(j->msg.data);
    }
    if ((rc = sms_measure(buf_str(&j->msg), &size, e)))
        return rc;
    if (size.segments > (size_t)j->cfg->sms_max_segments) {
        *reason = "too_long";
        return err_set(e, ERR_INPUT, "%s, %zu segments: more than [sms] max_segments = %ld",
                       size.coding == SMS_UCS2 ? "UCS-2" : "GSM-7", size.segments,
                       j->cfg->sms_max_segments);
    }
    return 0;
}

/* One recipient of a new document: render, spool, record as queued; or
 * record why not (template failure, SMS too long). */
static int queue_one(struct job *j, const struct store_document *d, const struct resolve_rcpt *r,
                     int sms, struct err *e)
{
    const char *channel = sms ? "sms" : "email", *state = NULL, *reason;
    struct merge_info info = {{0}, {0}};
    char spool_name[40], mid[320];
    struct err me;
    int rc;

    rc = store_delivery_find(j->s, d->id, NULL, channel, r->address, &state, e);
    if (rc || state) /* sent (or tried) before: at most once, ever */
        return rc;
    message_id(j, d, r->address, channel, spool_name, mid, sizeof mid);
    if (render(j, d, r, sms, mid, &info, &reason, &me)) {
        if (me.code != ERR_INPUT && me.code != ERR_IO && me.code != ERR_TOOBIG)
            return (*e = me, me.code);
        j->sum->failed++;
        run_count_reason(j->sum, reason);
        run_line(j, "%s %s -> %s: FAILED (%s) %s", d->type, d->ref, r->address, reason, me.msg);
        if (j->o->dry_run)
            return 0;
        struct store_delivery dl = {.document_id = d->id, .contact_id = r->contact.id,
                                    .channel = channel, .address = r->address,
                                    .message_id = mid, .state = "failed",
                                    .template_name = info.template_name};
        if ((rc = store_delivery_add(j->s, &dl, e)))
            return rc;
        return history(j, d, r, channel, "failed", reason, mid, &info, me.msg, e);
    }
    j->sum->queued++;
    run_line(j, "%s %s -> %s <%s> (%s)", d->type, d->ref, r->display, r->address,
             info.template_name);
    if (j->o->dry_run)
        return 0;
    struct store_delivery dl = {.document_id = d->id,
                                .contact_id = r->level == RESOLVE_CONTACT ? r->contact.id : 0,
                                .channel = channel, .address = r->address, .message_id = mid,
                                .state = "queued", .template_name = info.template_name,
                                .template_sha256 = info.template_sha256, .consent = consent_of(r)};
    if ((rc = store_delivery_add(j->s, &dl, e)) ||
        (rc = spool_write(j->spool, spool_name, dl.id, buf_str(&j->msg), j->msg.len, e)))
        return rc;
    return history(j, d, r, channel, "queued", NULL, mid, &info, NULL, e);
}

/* Is the document's type one of [run] sms_types? */
static int by_sms(struct job *j, const char *type)
{
    const char *p = j->cfg->run_sms_types;
    size_t n = strlen(type);

    if (!j->sms_on)
        return 0;
    while (p && *p) {
        size_t len;
        p += strspn(p, " ,");
        len = strcspn(p, " ,");
        if (len == n && !strncmp(p, type, n))
            return 1;
        p += len;
    }
    return 0;
}

/* Resolves d for one channel and queues or skips each candidate. */
static int process_channel(struct job *j, const struct store_document *d, int sms,
                           struct err *e)
{
    struct resolve_opts o = j->ropts;
    struct resolve_result res = {0};
    const char *channel = sms ? "sms" : "email";
    size_t i;
    int rc;

    o.sms = sms;
    rc = resolve_document(j->s, d, &o, &res, e);
    if (!rc && !res.n)
        run_line(j, "%s %s: nobody to send to%s", d->type, d->ref, sms ? " by SMS" : "");
    for (i = 0; !rc && i < res.n; i++) {
        const struct resolve_rcpt *r = &res.v[i];
        if (!r->reason) {
            rc = queue_one(j, d, r, sms, e);
            continue;
        }
        j->sum->skipped++;
        run_count_reason(j->sum, r->reason);
        run_line(j, "%s %s: skipped %s%s%s%s (%s)", d->type, d->ref, sms ? "SMS " : "",
                 r->display, r->address[0] ? " " : "", r->address, r->reason);
        if (!j->o->dry_run)
            rc = history(j, d, r, channel, "skipped", r->reason, NULL, NULL, NULL, e);
    }
    resolve_release(&res);
    return rc;
}

static int process_document(struct job *j, const struct store_document *d, const char *now,
                            struct err *e)
{
    int rc;

    j->sum->documents++;
    rc = process_channel(j, d, 0, e);
    if (!rc && by_sms(j, d->type))
        rc = process_channel(j, d, 1, e);
    if (!rc && !j->o->dry_run)
        rc = store_document_processed(j->s, d->id, now, e);
    return rc;
}

/* A batch of new documents, copied out of the listing so the listing is
 * finished before they are written. */
struct doc_batch {
    struct store_document d[DOC_BATCH];
    char *strings[DOC_BATCH][8];
    size_t n;
};

static int collect_doc(void *ctx, const struct store_document *d)
{
    struct doc_batch *b = ctx;
    struct store_document *x = &b->d[b->n];
    char **s = b->strings[b->n++];

    *x = *d;
    x->type = s[0] = xstrdup(d->type);
    x->ref = s[1] = xstrdup(d->ref);
    x->party_ref = s[2] = xstrdup(d->party_ref);
    x->address_label = s[3] = xstrdup(d->address_label);
    x->to_level = s[4] = xstrdup(d->to_level);
    x->fields = s[5] = xstrdup(d->fields);
    x->attachment = s[6] = xstrdup(d->attachment);
    s[7] = NULL;
    return 0;
}

static void free_batch(struct doc_batch *b)
{
    size_t i, k;

    for (i = 0; i < b->n; i++)
        for (k = 0; k < 7; k++)
            free(b->strings[i][k]);
    b->n = 0;
}

static void utc_now(char *out, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int resolve_all(struct job *j, struct err *e)
{
    struct doc_batch *b = xcalloc(1, sizeof *b);
    long long after = 0;
    char now[32];
    size_t i;
    int rc = 0;

    utc_now(now, sizeof now);
    for (;;) {
        rc = store_document_list(j->s, j->o->type, 1, after, DOC_BATCH, collect_doc, b, e);
        if (rc || !b->n)
            break;
        after = b->d[b->n - 1].id;
        if (!(rc = store_begin(j->s, e))) {
            for (i = 0; !rc && i < b->n; i++) {
                rc = process_document(j, &b->d[i], now, e);
                /* earlier batches go out while this one is rendered */
                if (!rc && j->dispatch)
                    rc = dispatch_pump(j->dispatch, 0, e);
                if (!rc && j->sms_dispatch)
                    rc = dispatch_pump(j->sms_dispatch, 0, e);
            }
            /* messages durable in the queue before the db says queued */
            if (!rc && !j->o->dry_run)
                rc = spool_commit(j->spool, e);
            if (rc || j->o->dry_run)
                store_rollback(j->s);
            else
                rc = store_commit(j->s, e);
            if (!rc && j->dispatch)
                rc = dispatch_pump(j->dispatch, 1, e);
            if (!rc && j->sms_dispatch)
                rc = dispatch_pump(j->sms_dispatch, 1, e);
        }
        free_batch(b);
        if (rc)
            break;
    }
    free_batch(b);
    free(b);
    return rc;
}

int run_quiet_now(const struct config *cfg, int *quiet, struct err *e)
{
    struct sms_quiet q;
    int rc = sms_quiet_parse(cfg->sms_quiet_hours, cfg->sms_quiet_days, &q, e);

    *quiet = !rc && !sms_allowed_at(&q, time(NULL), NULL);
    return rc;
}

int run_open_transports(struct job *j, struct err *e)
{
    const struct config *c = j->cfg;
    int rc;

    if (!strcmp(c->email_transport, "smtp")) {
        struct smtp_opts so = {.url = c->smtp_url, .username = c->smtp_username,
                               .password = c->smtp_password, .starttls = c->smtp_starttls,
                               .ca_file = c->smtp_ca_file, .connections = c->smtp_connections,
                               .timeout = c->smtp_timeout};
        rc = transport_smtp_new(&so, &j->tr, e);
    } else {
        rc = transport_maildir_new(c->email_maildir, &j->tr, e);
    }
    if (rc || !j->sms_on)
        return rc;
    if (!strcmp(c->sms_transport, "maildir")) { /* no gateway: <spool>/sms, one message each */
        struct buf dir;
        buf_init(&dir, 0);
        buf_printf(&dir, "%s/sms", c->spool);
        rc = transport_maildir_new(buf_str(&dir), &j->sms_tr, e);
        buf_release(&dir);
        return rc;
    }
    struct sms_opts mo = {.kind = c->sms_transport, .url = c->sms_url,
                          .username = c->sms_username, .password = c->sms_password,
                          .token = c->sms_token, .dlr_url = c->sms_dlr_url,
                          .dlr_mask = c->sms_dlr_mask, .connections = c->sms_connections,
                          .timeout = c->sms_timeout};
    return transport_sms_new(&mo, &j->sms_tr, e);
}

/* After a failure (rc): records what is in flight and sends no more. */
static int finish(struct dispatch *d, int rc, struct err *e)
{
    struct err de;
    int drc;

    if (!d)
        return rc;
    drc = dispatch_finish(d, !rc, &de);
    if (drc && !rc)
        *e = de, rc = drc;
    return rc;
}

/* Campaigns whose time has come (scheduled) or that are running (held or
 * interrupted): queued now, sent with the documents. */
struct due {
    struct strv names;
};

static int due_cb(void *ctx, const struct store_campaign *c)
{
    strv_push(&((struct due *)ctx)->names, c->name);
    return 0;
}

static int campaign_load_cb(void *ctx, const struct store_campaign *c)
{
    struct job *j = ((void **)ctx)[0];
    struct err *e = ((void **)ctx)[1];
    int settle = *(int *)((void **)ctx)[2];
    int rc = 0;

    if (settle)
        return run_campaign_settle(j, c, e);
    if (!strcmp(c->state, "scheduled") &&
        (rc = store_campaign_set_state(j->s, c->id, "running", NULL, e)))
        return rc;
    if (!strcmp(c->channel, "sms") && !j->sms_tr)
        return 0; /* no SMS transport: left for a run that has one */
    return run_campaign_queue(j, c, e);
}

static int due_campaigns(struct job *j, int settle, struct strv *names, struct err *e)
{
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    size_t i;
    int rc = 0;

    if (!settle) {
        struct due d;
        localtime_r(&t, &tm);
        strftime(now, sizeof now, "%Y-%m-%d %H:%M", &tm);
        strv_init(&d.names);
        if ((rc = store_campaign_get(j->s, NULL, now, due_cb, &d, e))) {
            strv_release(&d.names);
            return rc;
        }
        *names = d.names;
    }
    for (i = 0; !rc && i < names->n; i++) {
        void *ctx[3] = {j, e, &settle};
        rc = store_campaign_get(j->s, names->v[i], NULL, campaign_load_cb, ctx, e);
    }
    return rc;
}

int run_nightly(struct store *s, const struct config *cfg, const struct run_opts *o,
                struct run_summary *sum, struct err *e)
{
    struct job j = {.s = s, .cfg = cfg, .o = o, .sum = sum};
    const char *at = strchr(cfg->sender_email, '@');
    struct strv due;
    int rc = 0;

    memset(sum, 0, sizeof *sum);
    run_job_init(&j);
    j.ropts.date = o->date;
    j.ropts.fallback_main = !strcmp(cfg->run_fallback, "main");
    j.sms_on = strcmp(cfg->sms_transport, "none") != 0;
    if (j.sms_on)
        rc = run_quiet_now(cfg, &j.quiet_now, e);
    snprintf(j.domain, sizeof j.domain, "%s", at ? at + 1 : "postier.invalid");
    if (!rc && !strcmp(cfg->email_transport, "smtp") && cfg->smtp_max_attempts < 1)
        rc = err_set(e, ERR_CONFIG, "[smtp] max_attempts: must be at least 1");
    if (!rc && j.sms_on && cfg->sms_max_attempts < 1)
        rc = err_set(e, ERR_CONFIG, "[sms] max_attempts: must be at least 1");
    if (!rc && !o->dry_run && !(rc = spool_open(cfg->spool, &j.spool, e)) &&
        !(rc = journal_open(cfg->spool, &j.journal, e)))
        rc = run_recover(&j, e);
    if (!rc)
        rc = merge_new(s, cfg->templates, cfg->sender_name, cfg->sender_email, o->date, &j.merge,
                       e);
    if (!rc && !o->dry_run && !(rc = run_open_transports(&j, e)) &&
        !(rc = dispatch_new(&j, j.tr, "email", &j.dispatch, e)) && j.sms_tr)
        rc = dispatch_new(&j, j.sms_tr, "sms", &j.sms_dispatch, e);
    strv_init(&due);
    if (!rc && !o->dry_run)
        rc = due_campaigns(&j, 0, &due, e);
    if (!rc)
        rc = resolve_all(&j, e);
    rc = finish(j.sms_dispatch, finish(j.dispatch, rc, e), e);
    if (!rc && !o->dry_run)
        rc = due_campaigns(&j, 1, &due, e);
    strv_release(&due);
    run_job_release(&j);
    return rc;
}

void run_job_init(struct job *j)
{
    pthread_mutex_init(&j->journal_mu, NULL);
    buf_init(&j->msg, 0);
}

void run_job_release(struct job *j)
{
    transport_free(j->sms_tr);
    transport_free(j->tr);
    merge_free(j->merge);
    journal_close(j->journal);
    spool_close(j->spool);
    buf_release(&j->msg);
    pthread_mutex_destroy(&j->journal_mu);
}
