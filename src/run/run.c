/* The nightly job.  Order of writes makes a crash at any point safe:
 * a batch's messages are made durable in spool/queue before the database
 * records them as queued; a batch's sends are made durable by the
 * transport before the database records them as sent; spool files are
 * removed last.  Recovery at start removes queue files the database does
 * not know as pending (their documents are still new: they are resolved
 * again).  At-least-once only for messages sent but not yet recorded. */
#include "run.h"

#include <ctype.h>
#include <time.h>

#include "audit/audit.h"
#include "merge/merge.h"
#include "resolve/resolve.h"
#include "spool/spool.h"
#include "transport/transport.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define DOC_BATCH 200
#define SEND_BATCH 500

struct job {
    struct store *s;
    const struct config *cfg;
    const struct run_opts *o;
    struct run_summary *sum;
    struct spool *spool;
    struct merge *merge;
    struct transport *tr;
    struct resolve_opts ropts;
    char domain[256];
    struct buf msg;
};

static void count_reason(struct run_summary *sum, const char *reason)
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

static void line(struct job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(struct job *j, const char *fmt, ...)
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
                       char *spool_name, char *mid, size_t n)
{
    char hex[65];
    struct buf key;
    size_t i;

    buf_init(&key, 0);
    buf_printf(&key, "doc\n%s\n%s\n", d->type, d->ref);
    for (i = 0; address[i]; i++)
        buf_addc(&key, (char)tolower((unsigned char)address[i]));
    buf_adds(&key, "\nemail");
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
                   const char *event, const char *reason, const char *mid,
                   const struct merge_info *info, const char *reply, struct err *e)
{
    struct store_history h = {
        .event = event, .channel = "email", .address = r->address[0] ? r->address : NULL,
        .contact_id = r->level == RESOLVE_CONTACT ? r->contact.id : 0,
        .party_ref = d->party_ref, .document_ref = d->ref, .document_type = d->type,
        .template_name = info ? info->template_name : NULL,
        .template_sha256 = info ? info->template_sha256 : NULL,
        .message_id = mid, .reason = reason, .server_reply = reply, .consent = consent_of(r),
    };
    return audit_append(j->s, &h, e);
}

/* One recipient of a new document: render, spool, record as queued; or
 * record why not (template failure). */
static int queue_one(struct job *j, const struct store_document *d, const struct resolve_rcpt *r,
                     struct err *e)
{
    struct merge_info info = {{0}, {0}};
    char spool_name[40], mid[320];
    const char *state = NULL;
    struct err me;
    int rc;

    rc = store_delivery_find(j->s, d->id, NULL, "email", r->address, &state, e);
    if (rc || state) /* sent (or tried) before: at most once, ever */
        return rc;
    message_id(j, d, r->address, spool_name, mid, sizeof mid);
    buf_reset(&j->msg);
    if (merge_document(j->merge, d, r, mid, &j->msg, &info, &me)) {
        if (me.code != ERR_INPUT && me.code != ERR_IO && me.code != ERR_TOOBIG)
            return (*e = me, me.code);
        j->sum->failed++;
        count_reason(j->sum, "template");
        line(j, "%s %s -> %s: FAILED (template) %s", d->type, d->ref, r->address, me.msg);
        if (j->o->dry_run)
            return 0;
        struct store_delivery dl = {.document_id = d->id, .contact_id = r->contact.id,
                                    .channel = "email", .address = r->address,
                                    .message_id = mid, .state = "failed",
                                    .template_name = info.template_name};
        if ((rc = store_delivery_add(j->s, &dl, e)))
            return rc;
        return history(j, d, r, "failed", "template", mid, &info, me.msg, e);
    }
    j->sum->queued++;
    line(j, "%s %s -> %s <%s> (%s)", d->type, d->ref, r->display, r->address, info.template_name);
    if (j->o->dry_run)
        return 0;
    struct store_delivery dl = {.document_id = d->id,
                                .contact_id = r->level == RESOLVE_CONTACT ? r->contact.id : 0,
                                .channel = "email", .address = r->address, .message_id = mid,
                                .state = "queued", .template_name = info.template_name,
                                .template_sha256 = info.template_sha256, .consent = consent_of(r)};
    if ((rc = spool_write(j->spool, spool_name, buf_str(&j->msg), j->msg.len, e)) ||
        (rc = store_delivery_add(j->s, &dl, e)))
        return rc;
    return history(j, d, r, "queued", NULL, mid, &info, NULL, e);
}

static int process_document(struct job *j, const struct store_document *d, const char *now,
                            struct err *e)
{
    struct resolve_result res = {0};
    size_t i;
    int rc;

    rc = resolve_document(j->s, d, &j->ropts, &res, e);
    j->sum->documents++;
    if (!rc && !res.n)
        line(j, "%s %s: nobody to send to", d->type, d->ref);
    for (i = 0; !rc && i < res.n; i++) {
        const struct resolve_rcpt *r = &res.v[i];
        if (!r->reason) {
            rc = queue_one(j, d, r, e);
            continue;
        }
        j->sum->skipped++;
        count_reason(j->sum, r->reason);
        line(j, "%s %s: skipped %s%s%s (%s)", d->type, d->ref, r->display,
             r->address[0] ? " " : "", r->address, r->reason);
        if (!j->o->dry_run)
            rc = history(j, d, r, "skipped", r->reason, NULL, NULL, NULL, e);
    }
    resolve_release(&res);
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
            for (i = 0; !rc && i < b->n; i++)
                rc = process_document(j, &b->d[i], now, e);
            /* messages durable in the queue before the db says queued */
            if (!rc && !j->o->dry_run)
                rc = spool_commit(j->spool, e);
            if (rc || j->o->dry_run)
                store_rollback(j->s);
            else
                rc = store_commit(j->s, e);
        }
        free_batch(b);
        if (rc)
            break;
    }
    free_batch(b);
    free(b);
    return rc;
}

/* ---- dispatch ---- */

struct pending {
    long long id, contact_id;
    int attempts;
    char *address, *message_id, *doc_ref, *doc_type, *party_ref, *tmpl, *sha, *consent;
    char spool[40];
    struct transport_reply reply;
    int rc; /* 0 sent; ERR_TEMPFAIL deferred; ERR_PERMFAIL failed */
};

struct send_batch {
    struct pending p[SEND_BATCH];
    size_t n;
};

static int collect_pending(void *ctx, const struct store_delivery *d)
{
    struct send_batch *b = ctx;
    struct pending *p = &b->p[b->n++];
    const char *at;

    memset(p, 0, sizeof *p);
    p->id = d->id;
    p->contact_id = d->contact_id;
    p->attempts = d->attempts;
    p->address = xstrdup(d->address);
    p->message_id = xstrdup(d->message_id);
    p->doc_ref = xstrdup(d->document_ref);
    p->doc_type = xstrdup(d->document_type);
    p->party_ref = xstrdup(d->party_ref);
    p->tmpl = xstrdup(d->template_name);
    p->sha = xstrdup(d->template_sha256);
    p->consent = xstrdup(d->consent);
    at = strchr(d->message_id, '@');
    snprintf(p->spool, sizeof p->spool, "%.*s",
             at ? (int)(at - d->message_id - 1) : 0, d->message_id + 1);
    return 0;
}

static void free_pending(struct send_batch *b)
{
    size_t i;

    for (i = 0; i < b->n; i++) {
        struct pending *p = &b->p[i];
        free(p->address), free(p->message_id), free(p->doc_ref), free(p->doc_type);
        free(p->party_ref), free(p->tmpl), free(p->sha), free(p->consent);
    }
    b->n = 0;
}

static void send_one(struct job *j, struct pending *p)
{
    struct transport_msg m = {.id = p->spool, .from = j->cfg->sender_email, .to = p->address};
    struct err e;

    buf_reset(&j->msg);
    p->attempts++;
    if (spool_read(j->spool, p->spool, &j->msg, &e)) {
        p->rc = ERR_PERMFAIL;
        snprintf(p->reply.text, sizeof p->reply.text, "%.250s", e.msg);
        return;
    }
    m.data = buf_str(&j->msg);
    m.len = j->msg.len;
    if (j->tr->send(j->tr, &m, &p->reply, &e)) {
        p->rc = ERR_TEMPFAIL;
        snprintf(p->reply.text, sizeof p->reply.text, "%.250s", e.msg);
    } else {
        p->rc = p->reply.code / 100 == 2 ? 0 : p->reply.code / 100 == 4 ? ERR_TEMPFAIL
                                                                          : ERR_PERMFAIL;
    }
}

/* Records a batch of sends: delivery states and history, one transaction. */
static int record_batch(struct job *j, struct send_batch *b, struct err *e)
{
    size_t i;
    int rc = store_begin(j->s, e);

    for (i = 0; !rc && i < b->n; i++) {
        struct pending *p = &b->p[i];
        const char *state = !p->rc ? "sent" : p->rc == ERR_TEMPFAIL ? "deferred" : "failed";
        char reply[300];
        struct store_history h = {
            .event = state, .channel = "email", .address = p->address,
            .contact_id = p->contact_id, .party_ref = p->party_ref,
            .document_ref = p->doc_ref, .document_type = p->doc_type,
            .template_name = p->tmpl, .template_sha256 = p->sha, .message_id = p->message_id,
            .reason = p->rc == ERR_PERMFAIL ? "rejected" : NULL, .server_reply = reply,
            .consent = p->consent,
        };
        snprintf(reply, sizeof reply, "%d %.255s", p->reply.code, p->reply.text);
        if (!(rc = store_delivery_update(j->s, p->id, state, p->attempts, e)))
            rc = audit_append(j->s, &h, e);
        if (!p->rc)
            j->sum->sent++;
        else if (p->rc == ERR_TEMPFAIL)
            j->sum->deferred++;
        else
            j->sum->failed++, count_reason(j->sum, "rejected");
    }
    if (rc) {
        store_rollback(j->s);
        return rc;
    }
    return store_commit(j->s, e);
}

static int dispatch(struct job *j, struct err *e)
{
    struct send_batch *b = xcalloc(1, sizeof *b);
    long long after = 0;
    size_t i;
    int rc = 0;

    for (;;) {
        rc = store_delivery_pending(j->s, after, SEND_BATCH, collect_pending, b, e);
        if (rc || !b->n)
            break;
        after = b->p[b->n - 1].id;
        for (i = 0; i < b->n; i++)
            send_one(j, &b->p[i]);
        /* what the transport accepted is durable before it is recorded */
        if ((rc = j->tr->flush(j->tr, e)) || (rc = record_batch(j, b, e)))
            break;
        for (i = 0; i < b->n; i++)
            if (b->p[i].rc != ERR_TEMPFAIL)
                spool_remove(j->spool, b->p[i].spool, NULL);
        free_pending(b);
    }
    free_pending(b);
    free(b);
    return rc;
}

/* Queue files the database does not list as pending are leftovers: a
 * batch that crashed before its commit (its documents are still new) or
 * a send recorded just before a crash. */
static int recover_one(void *ctx, const char *name)
{
    struct job *j = ctx;
    const char *state = NULL;
    struct err e;

    if (store_delivery_by_spool(j->s, name, &state, &e))
        return 0;
    if (!state || (strcmp(state, "queued") && strcmp(state, "deferred")))
        spool_remove(j->spool, name, NULL);
    return 0;
}

int run_nightly(struct store *s, const struct config *cfg, const struct run_opts *o,
                struct run_summary *sum, struct err *e)
{
    struct job j = {.s = s, .cfg = cfg, .o = o, .sum = sum};
    const char *at = strchr(cfg->sender_email, '@');
    int rc = 0;

    memset(sum, 0, sizeof *sum);
    j.ropts.date = o->date;
    j.ropts.fallback_main = !strcmp(cfg->run_fallback, "main");
    snprintf(j.domain, sizeof j.domain, "%s", at ? at + 1 : "postier.invalid");
    buf_init(&j.msg, 0);
    if (strcmp(cfg->email_transport, "maildir"))
        rc = err_set(e, ERR_CONFIG, "[email] transport = %s is not available yet (use maildir)",
                     cfg->email_transport);
    if (!rc && !o->dry_run && !(rc = spool_open(cfg->spool, &j.spool, e)))
        rc = spool_list(j.spool, recover_one, &j, e);
    if (!rc)
        rc = merge_new(s, cfg->templates, cfg->sender_name, cfg->sender_email, o->date, &j.merge,
                       e);
    if (!rc && !o->dry_run)
        rc = transport_maildir_new(cfg->email_maildir, &j.tr, e);
    if (!rc)
        rc = resolve_all(&j, e);
    if (!rc && !o->dry_run)
        rc = dispatch(&j, e);
    transport_free(j.tr);
    merge_free(j.merge);
    spool_close(j.spool);
    buf_release(&j.msg);
    return rc;
}
