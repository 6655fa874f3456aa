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
/* A batch stops at the document that brings its messages past this (big
 * attachments): memory holds two batches, the segment being synced and
 * the spool's cache of committed segments (spool.c CACHE_MAX). */
#define BATCH_BYTES ((size_t)8 << 20)

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

/* A batch of new documents and what was decided for each of their
 * candidates (the plan): made while the previous batch's spool segment
 * syncs, written once that batch is committed. */
enum step_kind { STEP_SKIP, STEP_QUEUE, STEP_FAIL };

struct step {
    enum step_kind kind;
    size_t doc;        /* in the batch */
    size_t res, rcpt;  /* res[res].v[rcpt] */
    int sms;
    const char *reason; /* SKIP, FAIL */
    char spool_name[40], mid[320];
    struct merge_info info;
    size_t off, len;   /* QUEUE: the message in text; FAIL: the error */
};

#define DOC_STRINGS 7 /* the strings of a store_document, copied */

struct plan {
    struct store_document d[DOC_BATCH];
    char *strings[DOC_BATCH][DOC_STRINGS];
    size_t n;
    struct resolve_result *res;
    size_t nres, ares;
    struct step *steps;
    size_t nsteps, asteps;
    struct buf text; /* the messages and error texts, back to back */
};

/* Drops the documents from the n-th on. */
static void drop_docs(struct plan *b, size_t n)
{
    for (size_t i = n; i < b->n; i++)
        for (size_t k = 0; k < DOC_STRINGS; k++)
            free(b->strings[i][k]);
    b->n = n;
}

static void plan_reset(struct plan *b)
{
    size_t i;

    drop_docs(b, 0);
    for (i = 0; i < b->nres; i++)
        resolve_release(&b->res[i]);
    b->nres = b->nsteps = 0;
    buf_reset(&b->text);
}

static void plan_free(struct plan *b)
{
    plan_reset(b);
    free(b->res);
    free(b->steps);
    buf_release(&b->text);
    free(b);
}

static struct step *add_step(struct plan *b, enum step_kind kind, size_t doc, size_t rcpt,
                             int sms)
{
    struct step *st;

    if (b->nsteps == b->asteps) {
        b->asteps = b->asteps ? 2 * b->asteps : 256;
        b->steps = xrealloc(b->steps, b->asteps * sizeof *b->steps);
    }
    st = &b->steps[b->nsteps++];
    *st = (struct step){.kind = kind, .doc = doc, .res = b->nres - 1, .rcpt = rcpt, .sms = sms};
    return st;
}

static int history(struct job *j, const struct store_document *d, const struct resolve_rcpt *r,
                   const char *channel, const char *event, const char *reason, const char *mid,
                   const struct merge_info *info, const char *reply, const char *msg,
                   size_t len, struct err *e)
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
    if (msg) { /* the rendered message, as spooled and sent */
        audit_sha256_hex(msg, len, sha);
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

/* Plans one recipient of a new document: rendered, to be spooled and
 * recorded as queued; or failed (template, SMS too long). */
static int plan_one(struct job *j, struct plan *b, size_t doc, size_t rcpt, int sms,
                    struct err *e)
{
    const struct store_document *d = &b->d[doc];
    const struct resolve_rcpt *r = &b->res[b->nres - 1].v[rcpt];
    const char *channel = sms ? "sms" : "email", *state = NULL, *reason;
    struct merge_info info = {{0}, {0}};
    char spool_name[40], mid[320];
    struct step *st;
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
        st = add_step(b, STEP_FAIL, doc, rcpt, sms);
        st->reason = reason;
        st->off = b->text.len;
        st->len = strlen(me.msg);
        buf_add(&b->text, me.msg, st->len + 1);
    } else {
        j->sum->queued++;
        run_line(j, "%s %s -> %s <%s> (%s)", d->type, d->ref, r->display, r->address,
                 info.template_name);
        st = add_step(b, STEP_QUEUE, doc, rcpt, sms);
        st->off = b->text.len;
        st->len = j->msg.len;
        buf_add(&b->text, buf_str(&j->msg), j->msg.len);
    }
    if (b->text.err)
        return err_set(e, ERR_TOOBIG, "a batch of messages larger than the buffer");
    memcpy(st->spool_name, spool_name, sizeof spool_name);
    memcpy(st->mid, mid, sizeof mid);
    st->info = info;
    return 0;
}

/* Writes one planned step's delivery and, when queued, its spool record. */
static int apply_delivery(struct job *j, struct plan *b, const struct step *st, struct err *e)
{
    const struct store_document *d = &b->d[st->doc];
    const struct resolve_rcpt *r = &b->res[st->res].v[st->rcpt];
    struct store_delivery dl = {.document_id = d->id, .channel = st->sms ? "sms" : "email",
                                .address = r->address, .message_id = st->mid,
                                .template_name = st->info.template_name};
    int rc;

    if (st->kind == STEP_SKIP)
        return 0;
    if (st->kind == STEP_FAIL) {
        dl.contact_id = r->contact.id;
        dl.state = "failed";
        return store_delivery_add(j->s, &dl, e);
    }
    dl.contact_id = r->level == RESOLVE_CONTACT ? r->contact.id : 0;
    dl.state = "queued";
    dl.template_sha256 = st->info.template_sha256;
    dl.consent = consent_of(r);
    if ((rc = store_delivery_add(j->s, &dl, e)))
        return rc;
    return spool_write(j->spool, st->spool_name, dl.id, buf_str(&b->text) + st->off, st->len, e);
}

/* Writes one planned step's history row. */
static int apply_history(struct job *j, struct plan *b, const struct step *st, struct err *e)
{
    const struct store_document *d = &b->d[st->doc];
    const struct resolve_rcpt *r = &b->res[st->res].v[st->rcpt];
    const char *channel = st->sms ? "sms" : "email", *text = buf_str(&b->text) + st->off;

    if (st->kind == STEP_SKIP)
        return history(j, d, r, channel, "skipped", r->reason, NULL, NULL, NULL, NULL, 0, e);
    if (st->kind == STEP_FAIL)
        return history(j, d, r, channel, "failed", st->reason, st->mid, &st->info, text,
                       NULL, 0, e);
    return history(j, d, r, channel, "queued", NULL, st->mid, &st->info, NULL, text, st->len,
                   e);
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

/* Resolves document doc for one channel and plans each candidate. */
static int plan_channel(struct job *j, struct plan *b, size_t doc, int sms, struct err *e)
{
    const struct store_document *d = &b->d[doc];
    struct resolve_opts o = j->ropts;
    struct resolve_result *res;
    size_t i;
    int rc;

    if (b->nres == b->ares) {
        b->ares = b->ares ? 2 * b->ares : 2 * DOC_BATCH;
        b->res = xrealloc(b->res, b->ares * sizeof *b->res);
    }
    res = &b->res[b->nres++];
    memset(res, 0, sizeof *res);
    o.sms = sms;
    rc = resolve_document(j->s, d, &o, res, e);
    if (!rc && !res->n)
        run_line(j, "%s %s: nobody to send to%s", d->type, d->ref, sms ? " by SMS" : "");
    for (i = 0; !rc && i < res->n; i++) {
        const struct resolve_rcpt *r = &res->v[i];
        if (!r->reason) {
            rc = plan_one(j, b, doc, i, sms, e);
            continue;
        }
        j->sum->skipped++;
        run_count_reason(j->sum, r->reason);
        run_line(j, "%s %s: skipped %s%s%s%s (%s)", d->type, d->ref, sms ? "SMS " : "",
                 r->display, r->address[0] ? " " : "", r->address, r->reason);
        add_step(b, STEP_SKIP, doc, i, sms);
    }
    return rc;
}

static int collect_doc(void *ctx, const struct store_document *d)
{
    struct plan *b = ctx;
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
    return 0;
}

/* Reads the next batch of new documents (after *after) and plans them:
 * reads only, so that it can run while the previous batch syncs. */
static int plan_batch(struct job *j, struct plan *b, long long *after, struct err *e)
{
    size_t i;
    int rc;

    plan_reset(b);
    rc = store_document_list(j->s, j->o->type, 1, *after, DOC_BATCH, collect_doc, b, e);
    if (rc || !b->n)
        return rc;
    *after = b->d[b->n - 1].id;
    for (i = 0; !rc && i < b->n; i++) {
        j->sum->documents++;
        rc = plan_channel(j, b, i, 0, e);
        if (!rc && by_sms(j, b->d[i].type))
            rc = plan_channel(j, b, i, 1, e);
        /* earlier batches go out while this one is rendered */
        if (!rc && j->dispatch)
            rc = dispatch_pump(j->dispatch, 0, e);
        if (!rc && j->sms_dispatch)
            rc = dispatch_pump(j->sms_dispatch, 0, e);
        if (!rc && b->text.len >= BATCH_BYTES && i + 1 < b->n) { /* the rest next time */
            drop_docs(b, i + 1);
            *after = b->d[i].id;
        }
    }
    return rc;
}

/* Writes a planned batch's deliveries and spool records. */
static int apply_deliveries(struct job *j, struct plan *b, struct err *e)
{
    size_t i;
    int rc = 0;

    for (i = 0; !rc && i < b->nsteps; i++)
        rc = apply_delivery(j, b, &b->steps[i], e);
    return rc;
}

/* Writes a planned batch's history rows and marks its documents processed. */
static int apply_rest(struct job *j, struct plan *b, const char *now, struct err *e)
{
    size_t i;
    int rc = 0;

    for (i = 0; !rc && i < b->nsteps; i++)
        rc = apply_history(j, b, &b->steps[i], e);
    for (i = 0; !rc && i < b->n; i++)
        rc = store_document_processed(j->s, b->d[i].id, now, e);
    return rc;
}

static void utc_now(char *out, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Batch after batch, in one transaction each: batch k's deliveries are
 * written and its spool segment synced while the outcomes sent so far are
 * recorded, the rest of k (history, documents processed) is written and
 * batch k+1 is planned (resolved, rendered); then k is committed. */
static int resolve_all(struct job *j, struct err *e)
{
    struct plan *cur = xcalloc(1, sizeof *cur), *next = xcalloc(1, sizeof *next), *t;
    long long after = 0;
    char now[32];
    int rc = 0;

    buf_init(&cur->text, 0);
    buf_init(&next->text, 0);
    utc_now(now, sizeof now);
    do {
        if ((rc = store_begin(j->s, e)))
            break;
        if (j->o->dry_run) {
            rc = plan_batch(j, next, &after, e);
        } else if (!(rc = apply_deliveries(j, cur, e)) &&
                   !(rc = spool_commit_start(j->spool, e))) {
            /* while the segment syncs: */
            if (j->dispatch)
                rc = dispatch_record(j->dispatch, e);
            if (!rc && j->sms_dispatch)
                rc = dispatch_record(j->sms_dispatch, e);
            if (!rc)
                rc = apply_rest(j, cur, now, e);
            if (!rc)
                rc = plan_batch(j, next, &after, e);
            /* messages durable in the queue before the db says queued */
            struct err ce;
            int crc = spool_commit_finish(j->spool, &ce);
            if (crc && !rc)
                rc = crc, *e = ce;
        }
        if (rc || j->o->dry_run || (rc = store_commit(j->s, e)))
            store_rollback(j->s);
        if (!rc && j->dispatch) /* both settled before either pump may fail */
            dispatch_committed(j->dispatch);
        if (!rc && j->sms_dispatch)
            dispatch_committed(j->sms_dispatch);
        if (!rc && j->dispatch)
            rc = dispatch_pump(j->dispatch, 1, e);
        if (!rc && j->sms_dispatch)
            rc = dispatch_pump(j->sms_dispatch, 1, e);
        t = cur, cur = next, next = t;
    } while (!rc && cur->n);
    plan_free(cur);
    plan_free(next);
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
