/* The nightly job.  Order of writes makes a crash at any point safe:
 * a batch's messages are made durable in spool/queue before the database
 * records them as queued; a batch's sends are made durable by the
 * transport before the database records them as sent; spool files are
 * removed last.  Recovery at start removes queue files the database does
 * not know as pending (their documents are still new: they are resolved
 * again).  At-least-once only for messages sent but not yet recorded. */
#include <ctype.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "audit/audit.h"
#include "run-int.h"
#include "sms/sms.h"
#include "util/date.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define DOC_BATCH 200
/* A plan stops at the document that brings its messages past this (big
 * attachments); a transaction takes no plan that would bring its segment
 * past it (but always one).  Memory holds READY_MAX + 2 plans (ready, one
 * being written, one being made) and as many spares, the segment being
 * written and the spool's cache of committed segments (spool.c
 * CACHE_MAX). */
#define BATCH_BYTES ((size_t)8 << 20)
/* Plans per transaction, at most: each transaction waits for one sync of
 * its spool segment. */
#define COMMIT_PLANS 4
/* Seconds a transaction waits for its next plan, from its start: past
 * it, it commits what it holds (another process may be waiting to write). */
#define TX_WAIT 0.1
/* Plans made ahead, at most: the planner goes on while a segment syncs. */
#define READY_MAX 2

/* Set by a signal handler, read by every thread: lock-free. */
static atomic_int stop_requested;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "a signal handler sets the stop flag");

void run_request_stop(void)
{
    atomic_store(&stop_requested, 1);
}

int run_stop_requested(void)
{
    return atomic_load(&stop_requested) != 0;
}

static void count_reason(struct run_summary *sum, const char *reason, int failed, long long n)
{
    size_t i;

    for (i = 0; i < sum->nreasons; i++)
        if (sum->reasons[i].failed == failed && !strcmp(sum->reasons[i].reason, reason)) {
            sum->reasons[i].n += n;
            return;
        }
    if (sum->nreasons < RUN_MAX_REASONS) {
        snprintf(sum->reasons[i].reason, sizeof sum->reasons[i].reason, "%s", reason);
        sum->reasons[i].failed = failed;
        sum->reasons[i].n = n;
        sum->nreasons++;
    }
}

void run_count_reason(struct run_summary *sum, const char *reason)
{
    count_reason(sum, reason, 0, 1);
}

void run_count_failed(struct run_summary *sum, const char *reason)
{
    count_reason(sum, reason, 1, 1);
}

/* Stable Message-ID and spool name for (document, address, channel):
 * a resend is recognisable (SPEC §4). */
static void message_id(const struct job *j, const struct store_document *d,
                       const char *address, const char *channel, char *spool_name, char *mid,
                       size_t n)
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
 * candidates (the plan): made by the planner thread while the previous
 * batches are written and committed. */
enum step_kind { STEP_SKIP, STEP_QUEUE, STEP_FAIL, STEP_DROP };

struct step {
    enum step_kind kind;
    size_t doc;        /* in the batch */
    size_t res, rcpt;  /* res[res].v[rcpt] */
    int sms;
    int again;         /* retry: its failed delivery is sent again */
    const char *reason; /* SKIP, FAIL */
    char spool_name[40], mid[320];
    char msg_sha[65];  /* QUEUE: SHA-256 of the message, as spooled and sent */
    struct merge_info info;
    size_t off, len;   /* QUEUE: the message in text; FAIL: the error; DROP: the address */
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
    struct run_summary sum; /* what planning counted */
    struct buf lines;       /* dry-run lines, each ending in NUL */
    struct plan *next;      /* in the planner's lists */
};

/* The planner: a thread with a connection and a merge of its own plans
 * batch after batch (reads only, of committed data: the documents come in
 * id order, each batch after the last one planned) while the caller
 * writes and commits the earlier ones.  READY_MAX plans at most wait to
 * be taken; the caller gives used plans back to be filled again. */
struct planner {
    const struct job *j; /* read only here: cfg, o, ropts, sms_on, domain */
    struct store *s;
    struct merge *merge;
    struct buf msg;
    struct retry_failed failed; /* retry: the document's failed deliveries f selects */
    long long after;
    pthread_t th;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct plan *ready, **ready_tail, *spare; /* made, in order; given back */
    size_t nready;
    int end; /* no plan will come after those ready (rc: why) */
    int rc;
    struct err e;
    atomic_int stop;
};

/* One line for the caller, kept with the plan until it is taken. */
static void plan_line(const struct planner *p, struct plan *b, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void plan_line(const struct planner *p, struct plan *b, const char *fmt, ...)
{
    va_list ap;

    if (!p->j->o->on_line)
        return;
    va_start(ap, fmt);
    buf_vprintf(&b->lines, fmt, ap);
    va_end(ap);
    buf_addc(&b->lines, '\0');
}

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
    buf_reset(&b->lines);
    memset(&b->sum, 0, sizeof b->sum);
}

static struct plan *plan_new(void)
{
    struct plan *b = xcalloc(1, sizeof *b);

    buf_init(&b->text, 0);
    buf_init(&b->lines, 0);
    return b;
}

static void plan_free(struct plan *b)
{
    if (!b)
        return;
    plan_reset(b);
    free(b->res);
    free(b->steps);
    buf_release(&b->text);
    buf_release(&b->lines);
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
                   const struct merge_info *info, const char *reply, const char *msg_sha,
                   struct err *e)
{
    struct store_history h = {
        .event = event, .channel = channel, .address = r->address[0] ? r->address : NULL,
        .contact_id = r->level == RESOLVE_CONTACT ? r->contact.id : 0,
        .party_ref = d->party_ref, .document_ref = d->ref, .document_type = d->type,
        .template_name = info && info->template_name[0] ? info->template_name : NULL,
        .template_sha256 = info && info->template_sha256[0] ? info->template_sha256 : NULL,
        .message_id = mid, .reason = reason, .server_reply = reply, .consent = consent_of(r),
        .message_sha256 = msg_sha,
    };
    return audit_append(j->s, &h, e);
}

/* Renders the message of d for r on channel into p->msg.  A message that
 * cannot be made is ERR_INPUT with *reason (template, too_long). */
static int render(struct planner *p, const struct store_document *d,
                  const struct resolve_rcpt *r, int sms, const char *mid,
                  struct merge_info *info, const char **reason, struct err *e)
{
    struct sms_size size;
    long max = p->j->cfg->sms_max_segments;
    int rc;

    buf_reset(&p->msg);
    *reason = "template";
    if (!sms) {
        if ((rc = merge_document(p->merge, d, r, mid, &p->msg, info, e)))
            *reason = info->reason; /* template, attachment */
        return rc;
    }
    if ((rc = merge_sms(p->merge, d, r, &p->msg, info, e)))
        return rc;
    if (p->msg.data) { /* typography that would make it UCS-2 for nothing */
        sms_simplify(p->msg.data);
        p->msg.len = strlen(p->msg.data);
    }
    if ((rc = sms_measure(buf_str(&p->msg), &size, e)))
        return rc;
    if (size.segments > (size_t)max) {
        *reason = "too_long";
        return err_set(e, ERR_INPUT, "%s, %zu segments: more than [sms] max_segments = %ld",
                       size.coding == SMS_UCS2 ? "UCS-2" : "GSM-7", size.segments, max);
    }
    return 0;
}

/* Plans one recipient of a new document: rendered, to be spooled and
 * recorded as queued; or failed (template, SMS too long).  An address the
 * document already has a delivery to (in any case) is left alone, unless
 * a retry sends that failed delivery again (again_ok: the retry selected
 * it). */
static int plan_one(struct planner *p, struct plan *b, size_t doc, size_t rcpt, int sms,
                    int again_ok, struct err *e)
{
    const struct store_document *d = &b->d[doc];
    const struct resolve_rcpt *r = &b->res[b->nres - 1].v[rcpt];
    const char *channel = sms ? "sms" : "email", *state = NULL, *reason;
    struct merge_info info = {{0}, {0}, NULL};
    char spool_name[40], mid[320];
    struct step *st;
    struct err me;
    int rc, again = 0;

    rc = store_delivery_find(p->s, d->id, NULL, channel, r->address, &state, e);
    again = !rc && state && again_ok && !strcmp(state, "failed");
    if (rc || (state && !again)) /* sent (or tried) before: at most once, ever */
        return rc;
    message_id(p->j, d, r->address, channel, spool_name, mid, sizeof mid);
    if (render(p, d, r, sms, mid, &info, &reason, &me)) {
        if (me.code != ERR_INPUT && me.code != ERR_IO && me.code != ERR_TOOBIG)
            return (*e = me, me.code);
        b->sum.queued++; /* a message tried: it counts among them */
        b->sum.failed++;
        run_count_failed(&b->sum, reason);
        plan_line(p, b, "%s %s -> %s: FAILED (%s) %s", d->type, d->ref, r->address, reason,
                  me.msg);
        st = add_step(b, STEP_FAIL, doc, rcpt, sms);
        st->reason = reason;
        st->off = b->text.len;
        st->len = strlen(me.msg);
        buf_add(&b->text, me.msg, st->len + 1);
    } else {
        b->sum.queued++;
        plan_line(p, b, "%s %s -> %s <%s> (%s)", d->type, d->ref, r->display, r->address,
                  info.template_name);
        st = add_step(b, STEP_QUEUE, doc, rcpt, sms);
        st->off = b->text.len;
        st->len = p->msg.len;
        buf_add(&b->text, buf_str(&p->msg), p->msg.len);
        audit_sha256_hex(buf_str(&p->msg), p->msg.len, st->msg_sha);
    }
    if (b->text.err)
        return err_set(e, ERR_TOOBIG, "a batch of messages larger than the buffer");
    memcpy(st->spool_name, spool_name, sizeof spool_name);
    memcpy(st->mid, mid, sizeof mid);
    st->info = info;
    st->again = again;
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
    struct dispatch *to;
    int rc;

    if (st->kind == STEP_SKIP)
        return 0;
    if (st->kind == STEP_FAIL) {
        dl.contact_id = r->contact.id;
        dl.state = "failed";
        dl.reason = st->reason;
        return st->again ? store_delivery_again(j->s, &dl, e) : store_delivery_add(j->s, &dl, e);
    }
    dl.contact_id = r->level == RESOLVE_CONTACT ? r->contact.id : 0;
    dl.state = "queued";
    dl.template_sha256 = st->info.template_sha256;
    dl.consent = consent_of(r);
    if ((rc = st->again ? store_delivery_again(j->s, &dl, e) : store_delivery_add(j->s, &dl, e)) ||
        (j->retry && (rc = store_retry_add(j->s, dl.id, e))) ||
        (rc = spool_write(j->spool, st->spool_name, dl.id, buf_str(&b->text) + st->off, st->len,
                          e)))
        return rc;
    dl.document_ref = d->ref, dl.document_type = d->type, dl.party_ref = d->party_ref;
    if ((to = st->sms ? j->sms_dispatch : j->dispatch))
        dispatch_adopt(to, &dl, st->msg_sha);
    return 0;
}

/* Forgets a retried document's failed delivery that it no longer has. */
static int apply_drop(struct job *j, struct plan *b, const struct step *st, struct err *e)
{
    return store_delivery_drop(j->s, b->d[st->doc].id, st->sms ? "sms" : "email",
                               buf_str(&b->text) + st->off, e);
}

/* Writes one planned step's history row. */
static int apply_history(struct job *j, struct plan *b, const struct step *st, struct err *e)
{
    const struct store_document *d = &b->d[st->doc];
    const struct resolve_rcpt *r = &b->res[st->res].v[st->rcpt];
    const char *channel = st->sms ? "sms" : "email", *text = buf_str(&b->text) + st->off;

    if (st->kind == STEP_SKIP)
        return history(j, d, r, channel, "skipped", r->reason, NULL, NULL, NULL, NULL, e);
    if (st->kind == STEP_FAIL)
        return history(j, d, r, channel, "failed", st->reason, st->mid, &st->info, text, NULL,
                       e);
    return history(j, d, r, channel, "queued", NULL, st->mid, &st->info, NULL, st->msg_sha, e);
}

/* Is the document's type one of [run] sms_types? */
static int by_sms(const struct job *j, const char *type)
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

/* Plans to forget the failed delivery of document doc to address: no
 * candidate of the document has that address today (its contact's
 * address changed, the contact was deleted...), so nothing waits for a
 * retry there. */
static void drop_failed(struct planner *p, struct plan *b, size_t doc, int sms,
                        const char *address)
{
    struct step *st = add_step(b, STEP_DROP, doc, 0, sms);

    plan_line(p, b, "%s %s: %s no longer a recipient, its failed message is not sent again",
              b->d[doc].type, b->d[doc].ref, address);
    st->off = b->text.len;
    st->len = strlen(address);
    buf_add(&b->text, address, st->len + 1);
}

/* Resolves document doc for one channel and plans each candidate. */
static int plan_channel(struct planner *p, struct plan *b, size_t doc, int sms, struct err *e)
{
    const struct store_document *d = &b->d[doc];
    struct resolve_opts o = p->j->ropts;
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
    rc = resolve_document(p->s, d, &o, res, e);
    if (!rc && p->j->retry)
        rc = retry_load_failed(p->s, p->j->retry, d, sms, res, &p->failed, e);
    if (!rc && !res->n)
        plan_line(p, b, "%s %s: nobody to send to%s", d->type, d->ref, sms ? " by SMS" : "");
    for (i = 0; !rc && i < res->n; i++) {
        const struct resolve_rcpt *r = &res->v[i];
        int how = p->j->retry ? retry_concerned(&p->failed, r) : 0;
        if (p->j->retry && !how)
            continue;
        if (!r->reason) {
            rc = plan_one(p, b, doc, i, sms, how == 1, e);
            continue;
        }
        b->sum.skipped++;
        run_count_reason(&b->sum, r->reason);
        if (how == 1) /* excluded today, maybe not tomorrow: kept for a later retry */
            plan_line(p, b, "%s %s: %s stays failed (%s): not sent while excluded", d->type,
                      d->ref, r->address, r->reason);
        else
            plan_line(p, b, "%s %s: skipped %s%s%s%s (%s)", d->type, d->ref,
                      sms ? "SMS " : "", r->display, r->address[0] ? " " : "", r->address,
                      r->reason);
        add_step(b, STEP_SKIP, doc, i, sms);
    }
    for (i = 0; !rc && i < p->failed.n; i++) /* its address is no candidate's today */
        if (!p->failed.v[i].seen)
            drop_failed(p, b, doc, sms, p->failed.v[i].address);
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

/* Reads the next batch of new documents (after p->after) and plans them,
 * each in a read transaction of its own: one snapshot per document, and
 * none held long (a reader that stays on the WAL keeps the writer's
 * checkpoints from starting it over: it would grow all night). */
static int plan_batch(struct planner *p, struct plan *b, struct err *e)
{
    size_t i;
    int rc;

    plan_reset(b);
    if (p->j->retry)
        rc = store_document_retryable(p->s, p->j->retry, p->after, DOC_BATCH, collect_doc, b, e);
    else
        rc = store_document_list(p->s, p->j->o->type, 1, p->after, DOC_BATCH, collect_doc, b,
                                 e);
    if (!rc && b->n)
        p->after = b->d[b->n - 1].id;
    for (i = 0; !rc && i < b->n; i++) {
        if (atomic_load(&p->stop))
            break;
        if ((rc = store_begin_read(p->s, e)))
            break;
        b->sum.documents++;
        rc = plan_channel(p, b, i, 0, e);
        if (!rc && by_sms(p->j, b->d[i].type))
            rc = plan_channel(p, b, i, 1, e);
        store_end_read(p->s);
        if (!rc && b->text.len >= BATCH_BYTES && i + 1 < b->n) { /* the rest next time */
            drop_docs(b, i + 1);
            p->after = b->d[i].id;
        }
    }
    return rc;
}

static void *planner_main(void *arg)
{
    struct planner *p = arg;
    struct plan *b;
    struct err e = {0};
    int rc, last;

    pthread_setname_np(pthread_self(), "postier-plan");
    do {
        pthread_mutex_lock(&p->mu);
        if ((b = p->spare))
            p->spare = b->next;
        pthread_mutex_unlock(&p->mu);
        if (!b)
            b = plan_new();
        rc = plan_batch(p, b, &e);
        last = rc || !b->n;
        pthread_mutex_lock(&p->mu);
        while (p->nready >= READY_MAX && !atomic_load(&p->stop))
            pthread_cond_wait(&p->cv, &p->mu);
        if (rc || atomic_load(&p->stop)) {
            p->rc = rc, p->e = e;
            plan_free(b);
            last = 1;
        } else {
            b->next = NULL;
            *p->ready_tail = b;
            p->ready_tail = &b->next;
            p->nready++;
        }
        p->end = last;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    } while (!last);
    return NULL;
}

/* Opens the planner's connection and merge and starts it. */
static int planner_start(struct job *j, struct planner *p, struct err *e)
{
    const struct config *c = j->cfg;
    int rc;

    memset(p, 0, sizeof *p);
    p->j = j;
    p->ready_tail = &p->ready;
    buf_init(&p->msg, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&p->stop, 0);
    if ((rc = store_open_reader(j->s, &p->s, e)) ||
        (rc = merge_new(p->s, c->templates, c->sender_name, c->sender_email, j->o->date,
                        &p->merge, e)))
        return rc;
    merge_set_documents(p->merge, c->documents);
    merge_set_max_iterations(p->merge, c->template_max_iterations);
    if (pthread_create(&p->th, NULL, planner_main, p))
        return err_set(e, ERR_IO, "cannot start the planner thread");
    p->started = 1;
    return 0;
}

/* Stops the planner (when it is still planning) and frees it all. */
static void planner_stop(struct planner *p)
{
    struct plan *b;

    if (p->started) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->stop, 1);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->th, NULL);
    }
    while ((b = p->ready))
        p->ready = b->next, plan_free(b);
    while ((b = p->spare))
        p->spare = b->next, plan_free(b);
    merge_free(p->merge);
    store_close(p->s);
    buf_release(&p->msg);
    retry_failed_release(&p->failed, 1);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

/* Moves both dispatchers along (committed: see dispatch_pump). */
static int pump_all(struct job *j, int committed, struct err *e)
{
    int rc = j->dispatch ? dispatch_pump(j->dispatch, committed, e) : 0;

    if (!rc && j->sms_dispatch)
        rc = dispatch_pump(j->sms_dispatch, committed, e);
    return rc;
}

/* Gives *b back to be filled again and puts the next plan in its place
 * (n = 0: there are no more new documents), *took = 1; the dispatchers
 * are pumped while it is being made, so that earlier batches go out.
 * until (run_now() seconds, 0: no limit): when no plan is ready by then,
 * *took = 0 and *b is left as it was (so too on failure). */
static int planner_take(struct job *j, struct planner *p, struct plan **b, double until,
                        int *took, struct err *e)
{
    int rc = pump_all(j, 0, e); /* the writers are fed at each plan at least */

    *took = 0;
    pthread_mutex_lock(&p->mu);
    while (!rc && !p->ready && !p->end) { /* and every 2 ms while it is made */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (until && run_now() >= until)
            break;
        ts.tv_nsec += 2000000;
        if (ts.tv_nsec >= 1000000000)
            ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        if (p->ready || p->end)
            break;
        pthread_mutex_unlock(&p->mu);
        rc = pump_all(j, 0, e);
        pthread_mutex_lock(&p->mu);
    }
    if (!rc && p->ready) {
        (*b)->next = p->spare; /* given back */
        p->spare = *b;
        *b = p->ready;
        if (!(p->ready = (*b)->next))
            p->ready_tail = &p->ready;
        p->nready--;
        *took = 1;
        pthread_cond_broadcast(&p->cv); /* it may publish the next one */
    } else if (!rc && p->end) {
        rc = p->rc ? (*e = p->e, p->rc) : err_set(e, ERR_DB, "the planner stopped");
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Adds the counts of src to dst. */
static void sum_add(struct run_summary *dst, const struct run_summary *src)
{
    dst->documents += src->documents;
    dst->queued += src->queued;
    dst->failed += src->failed;
    dst->skipped += src->skipped;
    for (size_t i = 0; i < src->nreasons; i++)
        count_reason(dst, src->reasons[i].reason, src->reasons[i].failed, src->reasons[i].n);
}

/* The plan's lines go to the caller; its counts to sum. */
static void adopt(struct job *j, struct plan *b, struct run_summary *sum)
{
    sum_add(sum, &b->sum);
    for (size_t i = 0; j->o->on_line && i < b->lines.len; i += strlen(b->lines.data + i) + 1)
        j->o->on_line(j->o->ctx, b->lines.data + i);
}

/* Writes a planned batch's deliveries and spool records. */
static int apply_deliveries(struct job *j, struct plan *b, struct err *e)
{
    size_t i;
    int rc = 0;

    for (i = 0; !rc && i < b->nsteps; i++)
        rc = b->steps[i].kind == STEP_DROP ? apply_drop(j, b, &b->steps[i], e)
                                           : apply_delivery(j, b, &b->steps[i], e);
    return rc;
}

/* Writes a planned batch's history rows and marks its documents processed. */
static int apply_rest(struct job *j, struct plan *b, const char *now, struct err *e)
{
    size_t i;
    int rc = 0;

    for (i = 0; !rc && i < b->nsteps; i++)
        if (b->steps[i].kind != STEP_DROP) /* (its failed row says it all) */
            rc = apply_history(j, b, &b->steps[i], e);
    for (i = 0; !rc && !j->retry && i < b->n; i++) /* (retried: processed already) */
        rc = store_document_processed(j->s, b->d[i].id, now, e);
    return rc;
}

/* Transaction after transaction: the plans taken from the planner are
 * written (deliveries and spool records, history, documents processed)
 * until the spool segment holds COMMIT_PLANS plans or BATCH_BYTES, or no
 * plan is ready TX_WAIT after the transaction began (the write lock is
 * not held while a slow plan is made: waits outside); then the segment
 * syncs while the outcomes sent so far are recorded, and the transaction
 * commits once the segment is durable.  A dry run only takes the plans. */
static int resolve_all(struct job *j, struct err *e)
{
    struct planner p;
    struct plan *cur = plan_new();
    struct run_summary done;
    struct store_checkpointer *ckpt = NULL;
    char now[32];
    int rc, took;

    date_utc_stamp(now);
    if (!j->o->dry_run)
        ckpt = store_checkpointer_start(j->s);
    if (!(rc = planner_start(j, &p, e)))
        rc = planner_take(j, &p, &cur, 0, &took, e);
    while (!rc && cur->n && !run_stop_requested()) { /* stopped: no new document */
        size_t plans = 0, bytes = 0;
        double until;

        if (j->o->dry_run) {
            adopt(j, cur, j->sum);
            rc = planner_take(j, &p, &cur, 0, &took, e);
            continue;
        }
        if ((rc = store_begin(j->s, e)))
            break;
        until = run_now() + TX_WAIT;
        memset(&done, 0, sizeof done);
        do { /* counted in the run once committed */
            plans++;
            bytes += cur->text.len;
            adopt(j, cur, &done);
            if (!(rc = apply_deliveries(j, cur, e)) && !(rc = apply_rest(j, cur, now, e)))
                rc = planner_take(j, &p, &cur, until, &took, e);
        } while (!rc && took && cur->n && plans < COMMIT_PLANS &&
                 bytes + cur->text.len <= BATCH_BYTES);
        if (!rc && !(rc = spool_commit_start(j->spool, e))) {
            /* while the segment syncs: */
            if (j->dispatch)
                rc = dispatch_record(j->dispatch, e);
            if (!rc && j->sms_dispatch)
                rc = dispatch_record(j->sms_dispatch, e);
            /* messages durable in the queue before the db says queued */
            struct err ce;
            int crc = spool_commit_finish(j->spool, &ce);
            if (crc && !rc)
                rc = crc, *e = ce;
        }
        if (rc || (rc = store_commit(j->s, e))) {
            store_rollback(j->s);
            if (j->dispatch)
                dispatch_discard(j->dispatch);
            if (j->sms_dispatch)
                dispatch_discard(j->sms_dispatch);
        } else {
            sum_add(j->sum, &done);
        }
        if (!rc && j->dispatch) /* both settled before either pump may fail */
            dispatch_committed(j->dispatch);
        if (!rc && j->sms_dispatch)
            dispatch_committed(j->sms_dispatch);
        if (!rc)
            rc = pump_all(j, 1, e);
        if (!rc && !took) /* cur was written: the next one, outside a transaction */
            rc = planner_take(j, &p, &cur, 0, &took, e);
    }
    planner_stop(&p);
    store_checkpointer_stop(ckpt);
    plan_free(cur);
    return rc;
}

int run_quiet_now(const struct config *cfg, int *quiet, struct err *e)
{
    struct sms_quiet q;
    int rc = sms_quiet_parse(cfg->sms_quiet_hours, cfg->sms_quiet_days, &q, e);

    *quiet = !rc && !sms_allowed_at(&q, time(NULL), NULL);
    return rc;
}

int run_check_config(const struct config *cfg, struct err *e)
{
    static const char *const names[] = {"quiet_hours", "quiet_days"};
    struct sms_quiet q;
    int i;

    /* each key alone ("" is none): the error names the line of its key */
    for (i = 0; i < 2; i++)
        if (sms_quiet_parse(i ? "" : cfg->sms_quiet_hours, i ? cfg->sms_quiet_days : "", &q, e))
            return err_prefix(e, "%s:%d", cfg->path, config_key_line(cfg, "sms", names[i]));
    return 0;
}

int run_open_transports(struct job *j, struct err *e)
{
    const struct config *c = j->cfg;
    int rc;

    if (!strcmp(c->email_transport, "smtp")) {
        struct smtp_opts so = {.url = c->smtp_url, .username = c->smtp_username,
                               .password = c->smtp_password, .starttls = c->smtp_starttls,
                               .ca_file = c->smtp_ca_file, .connections = c->smtp_connections,
                               .timeout = c->smtp_timeout, .insecure = !c->smtp_verify,
                               .allow_plaintext_auth = c->smtp_allow_plaintext_auth};
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
                          .timeout = c->sms_timeout,
                          .allow_plaintext_auth = c->sms_allow_plaintext_auth};
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

/* Opens the dispatchers of the transports j has. */
static int open_dispatchers(struct job *j, struct err *e)
{
    int rc = dispatch_new(j, j->tr, "email", &j->dispatch, e);

    if (!rc && j->sms_tr)
        rc = dispatch_new(j, j->sms_tr, "sms", &j->sms_dispatch, e);
    return rc;
}

/* The nightly run (retry NULL) or a retry.  A retry sends once every
 * message is planned: its deliveries, queued again, keep their ids, which
 * a dispatcher reading the queue in id order while they are planned would
 * have passed. */
int run_job(struct store *s, const struct config *cfg, const struct run_opts *o,
            const struct store_retry *retry, struct run_summary *sum, struct err *e)
{
    struct job j = {.s = s, .cfg = cfg, .o = o, .sum = sum, .retry = retry};
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
    if (!rc && !o->dry_run && !(rc = spool_open(cfg->spool, &j.spool, e)) &&
        !(rc = journal_open(cfg->spool, &j.journal, e)))
        rc = run_recover(&j, e);
    if (!rc)
        rc = merge_new(s, cfg->templates, cfg->sender_name, cfg->sender_email, o->date, &j.merge,
                       e);
    if (j.merge)
        merge_set_max_iterations(j.merge, cfg->template_max_iterations);
    if (!rc && !o->dry_run && !(rc = run_open_transports(&j, e)) && !retry)
        rc = open_dispatchers(&j, e);
    strv_init(&due);
    if (!rc && !o->dry_run && !retry)
        rc = due_campaigns(&j, 0, &due, e);
    if (!rc && !o->dry_run && retry) /* what its dispatchers send, and nothing else */
        rc = store_retry_begin(s, retry, e);
    if (!rc)
        rc = resolve_all(&j, e);
    if (!rc && !o->dry_run && retry)
        rc = open_dispatchers(&j, e);
    rc = finish(j.sms_dispatch, finish(j.dispatch, rc, e), e);
    if (rc && !o->dry_run) { /* (a full disk...) what is left is the next run's */
        long long settled = sum->sent + sum->deferred + sum->failed;
        sum->deferred += sum->queued > settled ? sum->queued - settled : 0;
    }
    if (!rc && run_stop_requested())
        rc = err_set(e, ERR_TEMPFAIL, "stopped by a signal: the messages in flight were "
                     "recorded; the next run sends the rest");
    if (!rc && !o->dry_run && !retry)
        rc = due_campaigns(&j, 1, &due, e);
    if (!rc)
        rc = store_delivery_count_failed(s, &sum->waiting, e);
    strv_release(&due);
    run_job_release(&j);
    return rc;
}

int run_nightly(struct store *s, const struct config *cfg, const struct run_opts *o,
                struct run_summary *sum, struct err *e)
{
    return run_job(s, cfg, o, NULL, sum, e);
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
