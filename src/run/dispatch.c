/* Dispatch: sends the queue (every queued or deferred delivery) through
 * the transport, keeping `slots` messages (and at most INFLIGHT_BYTES)
 * in flight, within the [smtp] rate limits, and retrying deferred
 * messages with a short backoff up to max_attempts in the run.
 *
 * Every outcome is journaled (spool/journal) by the transport the moment
 * the peer answers, and recorded in the database (delivery state + one
 * history row per attempt) in batches.  After a crash the next run
 * replays the journal first: an accepted message is recorded as sent,
 * not sent again.  Only messages in flight at the crash — at most one per
 * SMTP connection; into a Maildir, the writers' batches, which land again
 * under the same file name — can go twice, with the same Message-ID. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "audit/audit.h"
#include "mime/mime.h"
#include "run-int.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define LOAD_BATCH 500     /* deliveries read from the database at once */
#define RECORD_BATCH 500   /* outcomes recorded per transaction, at most */
#define RECORD_EVERY 0.25  /* seconds between transactions, at most */
#define BACKOFF_MAX 60.0   /* seconds */
/* Bytes of messages in flight, at most (besides the transport's slots):
 * thousands of slots hold little text, but not thousands of attachments. */
#define INFLIGHT_BYTES ((size_t)64 << 20)

struct pending {
    long long id, contact_id;
    char channel[8];
    int attempts; /* all runs, as the delivery row will say */
    int tries;    /* this run */
    double not_before;
    char *address, *message_id, *doc_ref, *doc_type, *party_ref, *tmpl, *sha, *consent;
    char *campaign;
    char spool[40];
    char msg_sha[65]; /* SHA-256 of the bytes handed to the transport, or "" */
    int journaled;    /* this attempt's outcome has its journal line */
    struct buf data; /* the message, while in flight */
    struct transport_reply reply;
    struct pending *next;
};

struct queue {
    struct pending *head, **tail;
    size_t n;
};

/* Start times of the last `limit` sends (a sliding window). */
struct rate {
    long limit;
    double window;
    float *t; /* ring of start times, seconds since dispatch began */
    size_t n, at;
};

struct dispatch {
    struct job *j;
    struct transport *tr;
    const char *channel;
    const char *from; /* envelope sender or SMS sender */
    struct store_pending q; /* which deliveries */
    int sms_as_mail;        /* SMS into a Maildir */
    struct queue ready, waiting, finished;
    struct queue recorded; /* recorded in the caller's transaction, not yet committed */
    struct queue incoming; /* queued in the caller's transaction (dispatch_adopt) */
    long long adopted_last; /* the id of its last */
    int batched; /* the caller records outcomes in its transactions (dispatch_record) */
    size_t inflight, slots;
    size_t inflight_bytes;
    long long after;
    int eof;      /* nothing more to load (until the next commit) */
    long long scan_version; /* the store's data_version when the scan that set eof began */
    int handed;   /* the last commit's deliveries were handed over: eof holds */
    int stopping; /* the run failed: only drain what is in flight */
    struct err fatal; /* the transport's failure: stop submitting */
    long max_tries;
    struct rate per_second, per_hour;
    double t0, last_commit, last_progress, last_stop_check;
    long long total, settled;
    long long deferred; /* counted deferred by settle (max_attempts reached) */
};

double run_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void q_init(struct queue *q)
{
    q->head = NULL;
    q->tail = &q->head;
    q->n = 0;
}

static void q_push(struct queue *q, struct pending *p)
{
    p->next = NULL;
    *q->tail = p;
    q->tail = &p->next;
    q->n++;
}

static struct pending *q_pop(struct queue *q)
{
    struct pending *p = q->head;

    if (p) {
        if (!(q->head = p->next))
            q->tail = &q->head;
        q->n--;
    }
    return p;
}

static void pending_free(struct pending *p)
{
    buf_release(&p->data);
    free(p); /* its strings with it */
}

static void q_free(struct queue *q)
{
    struct pending *p;

    while ((p = q_pop(q)))
        pending_free(p);
}

/* The spool name is the Message-ID's local part: "<name@domain>". */
static void spool_name(const char *message_id, char *out, size_t n)
{
    const char *at = strchr(message_id, '@');

    str_put(out, n, 0, message_id + 1, at && at > message_id ? (size_t)(at - message_id - 1) : 0);
}

/* A pending delivery and copies of its strings, in one allocation (one
 * malloc per message instead of ten). */
static struct pending *pending_new(const struct store_delivery *d)
{
    const char *from[] = {d->address,       d->message_id,    d->document_ref,
                          d->document_type, d->party_ref,     d->template_name,
                          d->template_sha256, d->consent,     d->campaign};
    size_t len[sizeof from / sizeof *from], total = 0, i;
    struct pending *p;
    char *w;

    for (i = 0; i < sizeof from / sizeof *from; i++)
        total += len[i] = from[i] ? strlen(from[i]) + 1 : 0;
    p = xcalloc(1, sizeof *p + total);
    char **to[] = {&p->address, &p->message_id, &p->doc_ref, &p->doc_type, &p->party_ref,
                   &p->tmpl,    &p->sha,        &p->consent, &p->campaign};
    for (i = 0, w = (char *)(p + 1); i < sizeof from / sizeof *from; w += len[i++])
        *to[i] = from[i] ? memcpy(w, from[i], len[i]) : NULL;
    p->id = d->id;
    p->contact_id = d->contact_id;
    p->attempts = d->attempts;
    str_puts(p->channel, sizeof p->channel, 0, d->channel);
    spool_name(d->message_id, p->spool, sizeof p->spool);
    buf_init(&p->data, 0);
    return p;
}

/* Does text start with the reply code (followed by a space or its end)? */
static int starts_with_code(const char *text, int code)
{
    char c[8];

    snprintf(c, sizeof c, "%d", code);
    return !strncmp(text, c, strlen(c)) && (!text[strlen(c)] || text[strlen(c)] == ' ');
}

static const char *state_of(enum transport_outcome o)
{
    return o == TRANSPORT_SENT ? "sent" : o == TRANSPORT_FAILED ? "failed" : "deferred";
}

/* One attempt's outcome: the delivery's state and a history row. */
static int record_one(struct job *j, const struct pending *p, const struct transport_reply *r,
                      struct err *e)
{
    const char *state = state_of(r->outcome);
    char reply[300];
    struct store_history h = {
        .event = state, .channel = p->channel, .address = p->address,
        .contact_id = p->contact_id, .party_ref = p->party_ref,
        .document_ref = p->doc_ref, .document_type = p->doc_type,
        .template_name = p->tmpl, .template_sha256 = p->sha, .message_id = p->message_id,
        .reason = r->reason, .server_reply = reply, .consent = p->consent,
        .campaign = p->campaign,
        .message_sha256 = p->msg_sha[0] ? p->msg_sha : NULL,
        .provider_id = r->provider_id[0] ? r->provider_id : NULL,
    };
    int rc;

    /* "250 2.0.0 Ok: queued as X": the peer's line, with its code */
    if (r->code && !(r->text[0] >= '1' && r->text[0] <= '5' && starts_with_code(r->text, r->code))) {
        if (r->code >= 100 && r->code <= 999) { /* a reply code, as "%d %s" writes it */
            char c[4] = {(char)('0' + r->code / 100), (char)('0' + r->code / 10 % 10),
                         (char)('0' + r->code % 10), ' '};
            str_puts(reply, sizeof reply, str_put(reply, sizeof reply, 0, c, 4), r->text);
        } else {
            snprintf(reply, sizeof reply, "%d %s", r->code, r->text);
        }
    } else {
        str_puts(reply, sizeof reply, 0, r->text);
    }
    if ((rc = store_delivery_update(j->s, p->id, state, p->attempts, r->reason, e)))
        return rc;
    return audit_append(j->s, &h, e);
}

/* ---- the journal: one line per outcome ----
 * "=<delivery id>\t<spool name>\t<S|D|F>\t<attempt>\t<code>\t<reason or ->\t<reply>"
 * (earlier versions wrote the same without "=<delivery id>\t") */

/* The lines a transport thread journaled since its last flush (a Maildir
 * writer reports a batch of a thousand at once: one write for all). */
static _Thread_local struct buf thread_lines;
static _Thread_local long long thread_count;

static void journal_hook(void *ctx, const char *id, void *cookie,
                         const struct transport_reply *r)
{
    struct pending *p = cookie; /* not touched by the main thread while in flight */
    char line[600];

    (void)ctx;
    snprintf(line, sizeof line, "=%lld\t%s\t%c\t%d\t%d\t%s\t%s", p->id, id,
             r->outcome == TRANSPORT_SENT ? 'S' : r->outcome == TRANSPORT_FAILED ? 'F' : 'D',
             p->attempts, r->code, r->reason ? r->reason : "-", r->text);
    for (char *c = line; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    p->journaled = 1; /* (the main thread reads it once the outcome is reported) */
    if (!thread_lines.cap) /* (zeroed: no room at all) */
        buf_init(&thread_lines, 0);
    buf_adds(&thread_lines, line);
    buf_addc(&thread_lines, '\n');
    thread_count++;
}

static void journal_flush(void *ctx)
{
    struct dispatch *d = ctx;

    if (!thread_count)
        return;
    pthread_mutex_lock(&d->j->journal_mu);
    d->j->journaled += thread_count; /* with the write: a clear never drops an unrecorded line */
    journal_append_lines(d->j->journal, buf_str(&thread_lines), thread_lines.len);
    pthread_mutex_unlock(&d->j->journal_mu);
    buf_release(&thread_lines);
    thread_count = 0;
}

/* Empties the journal when every line in it has been recorded. */
static void journal_trim(struct dispatch *d)
{
    struct job *j = d->j;

    pthread_mutex_lock(&j->journal_mu);
    if (j->journaled == j->recorded)
        journal_clear(j->journal, NULL);
    pthread_mutex_unlock(&j->journal_mu);
}

/* Writes the rows of the finished outcomes in the current transaction;
 * they wait in d->recorded for its commit. */
static int record_rows(struct dispatch *d, struct err *e)
{
    struct pending *p;
    int rc = 0;

    for (p = d->finished.head; !rc && p; p = p->next)
        rc = record_one(d->j, p, &p->reply, e);
    if (rc)
        return rc; /* rolled back by the caller: still finished */
    while ((p = q_pop(&d->finished)))
        q_push(&d->recorded, p);
    return 0;
}

/* After the commit of the recorded rows: the journal may forget them, the
 * spool forgets what will not be sent again, and what will is requeued. */
static void settle(struct dispatch *d)
{
    struct job *j = d->j;
    struct pending *p;
    long long lines = 0;

    if (!d->recorded.n)
        return;
    for (p = d->recorded.head; p; p = p->next) /* (refused ones have no line) */
        lines += p->journaled;
    pthread_mutex_lock(&j->journal_mu);
    j->recorded += lines;
    pthread_mutex_unlock(&j->journal_mu);
    journal_trim(d);
    while ((p = q_pop(&d->recorded))) {
        enum transport_outcome o = p->reply.outcome;
        p->journaled = 0;
        if (o == TRANSPORT_DEFERRED && p->tries < d->max_tries) {
            double wait = 1.0;
            for (int i = 1; i < p->tries && wait < BACKOFF_MAX; i++)
                wait *= 2;
            p->not_before = run_now() + (wait < BACKOFF_MAX ? wait : BACKOFF_MAX);
            q_push(&d->waiting, p);
            continue;
        }
        if (o == TRANSPORT_SENT)
            j->sum->sent++;
        else if (o == TRANSPORT_FAILED) {
            j->sum->failed++;
            run_count_failed(j->sum, p->reply.reason ? p->reply.reason : "failed");
        } else {
            j->sum->deferred++;
            d->deferred++;
            if (p->reply.reason && !strcmp(p->reply.reason, "io") && !j->sum->local_error[0])
                snprintf(j->sum->local_error, sizeof j->sum->local_error, "%s", p->reply.text);
        }
        if (o != TRANSPORT_DEFERRED)
            spool_remove(j->spool, p->spool, NULL);
        d->settled++;
        pending_free(p);
    }
}

/* Rows recorded in a transaction that was rolled back: finished again,
 * ahead of the others. */
static void unrecord(struct dispatch *d)
{
    if (!d->recorded.n)
        return;
    *d->recorded.tail = d->finished.head;
    if (!d->finished.head)
        d->finished.tail = d->recorded.tail;
    d->finished.head = d->recorded.head;
    d->finished.n += d->recorded.n;
    q_init(&d->recorded);
}

/* Records the finished outcomes in one transaction of their own. */
static int record_finished(struct dispatch *d, struct err *e)
{
    struct job *j = d->j;
    int rc;

    d->last_commit = run_now();
    if (!d->finished.n)
        return 0;
    if ((rc = store_begin(j->s, e)))
        return rc;
    if ((rc = record_rows(d, e)) || (rc = store_commit(j->s, e))) {
        store_rollback(j->s);
        unrecord(d);
        return rc;
    }
    settle(d);
    return 0;
}

static void on_done(void *ctx, void *cookie, const struct transport_reply *r)
{
    struct dispatch *d = ctx;
    struct pending *p = cookie;

    d->inflight--;
    d->inflight_bytes -= p->data.len;
    buf_release(&p->data);
    buf_init(&p->data, 0);
    p->reply = *r;
    if (r->outcome == TRANSPORT_UNTRIED) { /* stays queued for the next run */
        p->attempts--;
        p->tries--;
        q_push(&d->ready, p);
        return;
    }
    q_push(&d->finished, p);
}

static int collect(void *ctx, const struct store_delivery *dl)
{
    struct dispatch *d = ctx;

    q_push(&d->ready, pending_new(dl));
    d->after = dl->id;
    return 0;
}

static int load_more(struct dispatch *d, struct err *e)
{
    size_t before = d->ready.n;
    long long version = store_data_version(d->j->s);
    int rc;

    rc = store_delivery_pending(d->j->s, &d->q, d->after, LOAD_BATCH, collect, d, e);
    if (!rc && d->ready.n - before < LOAD_BATCH) {
        d->eof = 1;
        d->scan_version = version;
    }
    return rc;
}

/* ---- rate limits: a sliding window of the last `limit` start times ---- */

static double rate_next(const struct rate *r)
{
    if (!r->limit || r->n < (size_t)r->limit)
        return 0;
    return (double)r->t[r->at] + r->window;
}

static void rate_take(struct rate *r, double t)
{
    if (!r->limit)
        return;
    if (r->n < (size_t)r->limit) { /* grows with what is sent, up to limit */
        r->t = xrealloc(r->t, (r->n + 1) * sizeof *r->t);
        r->t[r->n++] = (float)t;
        return;
    }
    r->t[r->at] = (float)t;
    r->at = (r->at + 1) % (size_t)r->limit;
}

/* An SMS kept in a Maildir ([sms] transport = maildir): the text as a
 * plain message to <number>@sms.invalid, readable by any mail client. */
int run_sms_as_mail(const struct config *cfg, const char *number, const char *message_id,
                    struct buf *data, struct err *e)
{
    char to[96], subject[128];
    struct buf text = *data;
    struct mime_msg m = {.from_name = cfg->sms_sender[0] ? cfg->sms_sender : cfg->sender_name,
                         .from_addr = cfg->sender_email, .to_addr = to, .subject = subject,
                         .message_id = message_id, .auto_submitted = 1};
    int rc;

    snprintf(to, sizeof to, "%s@sms.invalid", number);
    snprintf(subject, sizeof subject, "SMS to %s", number);
    m.text = buf_str(&text);
    buf_init(data, 0);
    rc = mime_build(&m, data, e);
    buf_release(&text);
    return rc;
}

/* Fails p without sending it. */
static void refuse(struct dispatch *d, struct pending *p, const char *reason, const char *why)
{
    p->reply = (struct transport_reply){.outcome = TRANSPORT_FAILED, .reason = reason};
    snprintf(p->reply.text, sizeof p->reply.text, "%.250s", why);
    p->attempts++, p->tries++;
    q_push(&d->finished, p);
}

/* Submits what may go now; *wake = when something else may (0 = nothing
 * waits on time). */
static int submit_ready(struct dispatch *d, double now, double *wake, struct err *e)
{
    struct job *j = d->j;
    struct pending *p, **pp;

    *wake = 0;
    for (pp = &d->waiting.head; (p = *pp);) { /* backoffs that are over */
        if (p->not_before <= now) {
            if (!(*pp = p->next))
                d->waiting.tail = pp;
            d->waiting.n--;
            q_push(&d->ready, p);
            continue;
        }
        if (!*wake || p->not_before < *wake)
            *wake = p->not_before;
        pp = &p->next;
    }
    while (d->inflight < d->slots && d->ready.head &&
           (!d->inflight || d->inflight_bytes < INFLIGHT_BYTES)) {
        double at = rate_next(&d->per_second), h = rate_next(&d->per_hour);
        struct transport_msg m;
        struct err me; /* this message's own failure, not the transport's */
        int rc, in_memory = 0;

        if (h > at)
            at = h;
        if (at > now - d->t0) {
            at += d->t0;
            if (!*wake || at < *wake)
                *wake = at;
            break;
        }
        p = q_pop(&d->ready);
        if (p->address[strcspn(p->address, "\r\n")]) { /* never on the wire */
            refuse(d, p, "bad_address", "CR or LF in the envelope address");
            continue;
        }
        if (spool_read(j->spool, p->spool, &p->data, &in_memory, &me)) {
            /* the message is gone from the spool: fail it, never guess */
            refuse(d, p, "spool", me.msg);
            continue;
        }
        if (d->sms_as_mail &&
            run_sms_as_mail(j->cfg, p->address, p->message_id, &p->data, &me)) {
            refuse(d, p, "template", me.msg);
            continue;
        }
        /* the planner hashed the very bytes the spool kept in memory (a
         * delivery handed over): hashed here when read back, or converted */
        if (!p->msg_sha[0] || !in_memory || d->sms_as_mail)
            audit_sha256_hex(buf_str(&p->data), p->data.len, p->msg_sha);
        m = (struct transport_msg){.id = p->spool, .from = d->from,
                                   .to = p->address, .data = buf_str(&p->data),
                                   .len = p->data.len, .cookie = p};
        p->attempts++, p->tries++;
        if ((rc = d->tr->submit(d->tr, &m, e))) {
            p->attempts--, p->tries--;
            q_push(&d->ready, p);
            return rc;
        }
        d->inflight++;
        d->inflight_bytes += p->data.len;
        rate_take(&d->per_second, now - d->t0);
        rate_take(&d->per_hour, now - d->t0);
    }
    return 0;
}

static void progress(struct dispatch *d, double now, int last)
{
    const struct run_opts *o = d->j->o;
    double el = now - d->t0;

    if (!o->on_progress || strcmp(d->channel, "email") ||
        (!last && now - d->last_progress < 0.2))
        return;
    d->last_progress = now;
    o->on_progress(o->ctx, d->settled, d->total + d->j->sum->queued,
                   el > 0 ? (double)d->settled / el : 0, last);
}

int dispatch_new(struct job *j, struct transport *tr, const char *channel,
                 struct dispatch **out, struct err *e)
{
    struct dispatch *d = xcalloc(1, sizeof *d);
    int smtp = !strcmp(tr->name, "smtp"), sms = !strcmp(channel, "sms");
    int rc;

    d->j = j;
    d->tr = tr;
    d->channel = channel;
    d->from = sms ? j->cfg->sms_sender : j->cfg->sender_email;
    d->sms_as_mail = sms && !strcmp(tr->name, "maildir");
    q_init(&d->ready), q_init(&d->waiting), q_init(&d->finished), q_init(&d->recorded);
    q_init(&d->incoming);
    d->scan_version = -1;
    d->max_tries = smtp ? j->cfg->smtp_max_attempts : sms ? j->cfg->sms_max_attempts : 1;
    d->per_second = (struct rate){.limit = smtp ? j->cfg->smtp_rate_per_second : 0, .window = 1};
    d->per_hour = (struct rate){.limit = smtp ? j->cfg->smtp_rate_per_hour : 0, .window = 3600};
    /* without a rate limit the transport may hold more than it sends at
     * once; with one, a message is handed over when it may start */
    d->slots = tr->slots;
    if (smtp && !d->per_second.limit && !d->per_hour.limit && !j->stop_check)
        d->slots = tr->slots * 64; /* (a campaign can be paused: never more than it sends) */
    d->t0 = d->last_commit = run_now();
    tr->record = journal_hook;
    tr->record_flush = journal_flush;
    tr->record_ctx = d;
    d->q = (struct store_pending){.channel = channel, .campaign = j->campaign,
                                  .hold_marketing = sms && j->quiet_now,
                                  .retry_only = j->retry != NULL};
    if ((rc = store_delivery_count_pending(j->s, &d->q, &d->total, e))) {
        dispatch_finish(d, 0, NULL);
        return rc;
    }
    *out = d;
    return 0;
}

/* One turn: load (when allowed), submit, collect outcomes (waiting up to
 * timeout seconds when something is in flight), record (when allowed). */
static int turn(struct dispatch *d, int committed, double timeout, struct err *e)
{
    double now = run_now(), wake = 0;
    int rc = 0;

    if (d->j->stop_check && now - d->last_stop_check >= 0.1) {
        d->last_stop_check = now;
        if (d->j->stop_check(d->j))
            d->stopping = 1; /* paused elsewhere: what is in flight ends, no more */
    }
    if (!d->stopping && run_stop_requested()) { /* SIGTERM: the same, at once */
        d->stopping = 1;
        if (d->tr->cancel) /* what the transport holds but has not started */
            d->tr->cancel(d->tr);
    }
    if (!d->fatal.code && !d->stopping) {
        /* enough ready to fill every slot: a commit may have queued
         * thousands (a transaction of several plans) */
        while (committed && !d->eof && (d->ready.n < LOAD_BATCH / 2 || d->ready.n < d->slots))
            if ((rc = load_more(d, e)))
                return rc;
        if (submit_ready(d, now, &wake, &d->fatal))
            wake = 0;
    }
    if (wake && wake - now < timeout)
        timeout = wake > now ? wake - now : 0;
    if (d->inflight) {
        struct err pe;
        if (d->tr->poll(d->tr, (int)(timeout * 1000), on_done, d, &pe) && !d->fatal.code)
            d->fatal = pe;
    } else if (timeout > 0) {
        struct timespec ts = {0, (long)(timeout * 1e9)};
        nanosleep(&ts, NULL);
    }
    now = run_now();
    if (committed && d->finished.n && !d->batched &&
        (d->finished.n >= RECORD_BATCH || now - d->last_commit >= RECORD_EVERY || !d->inflight))
        rc = record_finished(d, e);
    progress(d, now, 0);
    return rc;
}

void dispatch_adopt(struct dispatch *d, const struct store_delivery *dl, const char *msg_sha)
{
    struct pending *p = pending_new(dl);

    str_puts(p->msg_sha, sizeof p->msg_sha, 0, msg_sha);
    q_push(&d->incoming, p);
    d->adopted_last = dl->id;
}

void dispatch_discard(struct dispatch *d)
{
    q_free(&d->incoming);
}

void dispatch_committed(struct dispatch *d)
{
    settle(d);
    /* the last scan found every pending delivery there was and no other
     * connection has committed since it began: the queue now holds what it
     * held then (loaded or settled here) plus what the caller queued, in
     * id order, so these are exactly what a scan would find next */
    if (d->eof && d->scan_version >= 0 && store_data_version(d->j->s) == d->scan_version) {
        if (d->incoming.n) {
            d->after = d->adopted_last;
            *d->ready.tail = d->incoming.head;
            d->ready.tail = d->incoming.tail;
            d->ready.n += d->incoming.n;
            q_init(&d->incoming);
        }
        d->handed = 1;
    } else {
        q_free(&d->incoming); /* the next scan reads them */
    }
}

int dispatch_pump(struct dispatch *d, int committed, struct err *e)
{
    if (committed && !d->handed)
        d->eof = 0; /* a batch was committed: there may be more to load */
    d->handed = 0;
    return turn(d, committed, 0, e);
}

int dispatch_record(struct dispatch *d, struct err *e)
{
    int rc = turn(d, 0, 0, e); /* collects what the transport has finished */

    d->batched = 1; /* no transaction of their own until dispatch_finish */
    return rc ? rc : record_rows(d, e);
}

int dispatch_finish(struct dispatch *d, int send_all, struct err *e)
{
    struct job *j = d->j;
    long long left = 0;
    int rc = 0;

    unrecord(d); /* never settled: their transaction did not commit */
    d->batched = 0;
    d->stopping = d->stopping || !send_all;
    d->eof = !send_all;
    while (!rc) {
        if (!d->inflight && !d->finished.n &&
            (d->fatal.code || d->stopping || (!d->ready.n && !d->waiting.n && d->eof)))
            break;
        rc = turn(d, 1, 0.1, e);
    }
    if (!rc)
        rc = record_finished(d, e);
    progress(d, run_now(), 1);
    d->tr->record = NULL;
    /* what is left to send (a backoff not over, not sent after a stop or
     * a failure of the transport, not even loaded) is deferred to the next
     * run: the summary counts every one of them */
    if (!rc && !store_delivery_count_pending(j->s, &d->q, &left, NULL))
        j->sum->deferred += left > d->deferred ? left - d->deferred : 0;
    else
        j->sum->deferred += (long long)(d->waiting.n + d->ready.n);
    q_free(&d->ready), q_free(&d->waiting), q_free(&d->finished), q_free(&d->recorded);
    q_free(&d->incoming);
    free(d->per_second.t);
    free(d->per_hour.t);
    if (!rc && d->fatal.code && send_all)
        *e = d->fatal, rc = d->fatal.code;
    free(d);
    return rc;
}

/* ---- recovery at the start of a run ---- */

struct replay {
    struct job *j;
    char *field[6]; /* the journal line's fields */
    long attempt;
    struct err *e;
};

static int replay_delivery(void *ctx, const struct store_delivery *dl)
{
    struct replay *r = ctx;
    const char *o = r->field[1];
    struct transport_reply tr = {
        .outcome = *o == 'S' ? TRANSPORT_SENT : *o == 'F' ? TRANSPORT_FAILED : TRANSPORT_DEFERRED,
        .code = (int)strtol(r->field[3], NULL, 10),
        .reason = strcmp(r->field[4], "-") ? r->field[4] : NULL,
    };
    struct pending *p;
    int rc;

    /* recorded before the crash, or an older attempt */
    if ((strcmp(dl->state, "queued") && strcmp(dl->state, "deferred")) ||
        dl->attempts >= r->attempt)
        return 0;
    snprintf(tr.text, sizeof tr.text, "%s", r->field[5]);
    p = pending_new(dl);
    p->attempts = (int)r->attempt;
    rc = record_one(r->j, p, &tr, r->e);
    if (!rc && tr.outcome != TRANSPORT_DEFERRED)
        spool_remove(r->j->spool, p->spool, NULL);
    /* sent (or failed) by a run that could not record it: this run's
     * summary counts it (that one counted it deferred) */
    if (!rc && tr.outcome == TRANSPORT_SENT)
        r->j->sum->sent++;
    else if (!rc && tr.outcome == TRANSPORT_FAILED) {
        r->j->sum->failed++;
        run_count_failed(r->j->sum, tr.reason ? tr.reason : "failed");
    }
    pending_free(p);
    return rc;
}

static int replay_line(void *ctx, char *line)
{
    struct replay *r = ctx;
    long long id = 0;
    size_t i;

    if (*line == '=') { /* "=<delivery id>\t" */
        char *end;
        id = strtoll(line + 1, &end, 10);
        if (*end != '\t' || id <= 0)
            return 0; /* not a line this version wrote */
        line = end + 1;
    }
    r->field[0] = line;
    for (i = 1; i < 6; i++) {
        char *tab = strchr(r->field[i - 1], '\t');
        if (!tab)
            return 0; /* not a line this version wrote */
        *tab = '\0';
        r->field[i] = tab + 1;
    }
    r->attempt = strtol(r->field[2], NULL, 10);
    if (id)
        return store_delivery_get(r->j->s, id, replay_delivery, r, r->e);
    return store_delivery_by_spool(r->j->s, r->field[0], replay_delivery, r, r->e);
}

/* Queue files the database does not list as pending are leftovers: a
 * batch that crashed before its commit (its documents are still new) or
 * a send recorded just before a crash. */
static int still_pending(void *ctx, const struct store_delivery *dl)
{
    int *pending = ctx;

    *pending = !strcmp(dl->state, "queued") || !strcmp(dl->state, "deferred");
    return 0;
}

static int recover_one(void *ctx, const char *name, long long id)
{
    struct job *j = ctx;
    int pending = 0;

    if (id ? store_delivery_get(j->s, id, still_pending, &pending, NULL)
           : store_delivery_by_spool(j->s, name, still_pending, &pending, NULL))
        return 0;
    if (!pending)
        spool_remove(j->spool, name, NULL);
    return 0;
}

int run_recover(struct job *j, struct err *e)
{
    struct replay r = {.j = j, .e = e};
    int rc;

    if ((rc = store_begin(j->s, e)))
        return rc;
    if ((rc = journal_replay(j->journal, replay_line, &r, e)) || (rc = store_commit(j->s, e))) {
        store_rollback(j->s);
        return rc;
    }
    if ((rc = journal_clear(j->journal, e)))
        return rc;
    return spool_list(j->spool, recover_one, j, e);
}
