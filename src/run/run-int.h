/* Shared by the run's two halves: run.c (resolve, render, spool) and
 * dispatch.c (send the queue, record outcomes, recover after a crash). */
#ifndef POSTIER_RUN_INT_H
#define POSTIER_RUN_INT_H

#include <pthread.h>

#include "merge/merge.h"
#include "resolve/resolve.h"
#include "run.h"
#include "spool/journal.h"
#include "spool/spool.h"
#include "transport/transport.h"
#include "util/buf.h"

struct job {
    struct store *s;
    const struct config *cfg;
    const struct run_opts *o;
    struct run_summary *sum;
    struct spool *spool;
    struct journal *journal;
    struct merge *merge;
    struct transport *tr, *sms_tr;          /* sms_tr: NULL unless [sms] transport is set */
    struct dispatch *dispatch, *sms_dispatch; /* NULL in a dry run */
    int sms_on;                              /* [sms] transport is not none */
    const char *campaign;                    /* dispatch only this campaign's (launch) */
    long long campaign_id;
    int (*stop_check)(struct job *j);        /* 1: stop sending (campaign paused) */
    int quiet_now;                           /* marketing SMS are held (quiet hours) */
    /* the send journal is shared by both dispatchers: outcomes written to
     * it and recorded from it, so that it is emptied only when complete */
    pthread_mutex_t journal_mu;
    long long journaled, recorded;
    const struct store_retry *retry;         /* retry: failed deliveries sent again, else NULL */
    struct resolve_opts ropts;
    char domain[256];
    struct buf msg;
};

/* Prepares j's lock and buffer; releases everything j holds. */
void run_job_init(struct job *j);
void run_job_release(struct job *j);

/* Seconds on CLOCK_MONOTONIC (waits and deadlines). */
double run_now(void);

/* The nightly run (retry NULL) or a retry (f: already in UTC). */
int run_job(struct store *s, const struct config *cfg, const struct run_opts *o,
            const struct store_retry *retry, struct run_summary *sum, struct err *e);

/* A document's failed deliveries on one channel that a retry selects. */
struct retry_failed {
    struct retry_failed_to {
        char *address;
        long long contact_id;
        int seen; /* a candidate today has its address (in any case) */
    } *v;
    size_t n, a;
};
/* Reads them into *out (emptied first) for document d resolved as res,
 * noting those whose address a candidate of res has. */
int retry_load_failed(struct store *s, const struct store_retry *f,
                      const struct store_document *d, int sms, const struct resolve_result *res,
                      struct retry_failed *out, struct err *e);
/* Is candidate r concerned by the retry?  1: it has the address of a
 * failed delivery the retry selected (sent again); 2: it is the contact
 * (or the party's level) of one whose address no candidate has today (its
 * address changed: the message goes to today's); 0: neither (nothing is
 * planned, nothing written: it never had a failed message). */
int retry_concerned(const struct retry_failed *f, const struct resolve_rcpt *r);
/* Empties f (free: also its array). */
void retry_failed_release(struct retry_failed *f, int free_all);

/* Counts one skipped or failed message under its reason code. */
void run_count_reason(struct run_summary *sum, const char *reason);
/* Counts a failure's reason (listed after the failed count). */
void run_count_failed(struct run_summary *sum, const char *reason);

/* Opens j->tr (the [email] transport) and, when [sms] has one, j->sms_tr. */
int run_open_transports(struct job *j, struct err *e);
/* *quiet = marketing SMS may not go now ([sms] quiet_hours, quiet_days,
 * French public holidays).  ERR_CONFIG for bad settings. */
int run_quiet_now(const struct config *cfg, int *quiet, struct err *e);

/* Freezes campaign c's recipients (once) and queues its messages not yet
 * queued; then, once sent, marks it done (run_campaign_settle). */
int run_campaign_queue(struct job *j, const struct store_campaign *c, struct err *e);
int run_campaign_settle(struct job *j, const struct store_campaign *c, struct err *e);

/* [sms] transport = maildir: replaces the SMS text in data by a message
 * to <number>@sms.invalid (from the sender, with that Message-ID). */
int run_sms_as_mail(const struct config *cfg, const char *number, const char *message_id,
                    struct buf *data, struct err *e);

/* Records the outcomes a crashed run journaled but did not record, then
 * drops queue files the database no longer lists as pending. */
int run_recover(struct job *j, struct err *e);
/* The dispatcher sends every queued and deferred delivery through j->tr
 * while the run is still resolving documents: */
struct dispatch;
int dispatch_new(struct job *j, struct transport *tr, const char *channel,
                 struct dispatch **out, struct err *e);
/* Moves the queue along without waiting.  committed = 1 only outside a
 * transaction (after a batch's commit): then it also loads the newly
 * queued deliveries and, unless dispatch_record is in use, records
 * outcomes. */
int dispatch_pump(struct dispatch *d, int committed, struct err *e);
/* Records the outcomes finished so far in the caller's open transaction
 * (while the spool syncs); once it commits, dispatch_committed settles
 * them; dispatch_finish without that records them again.  From the first
 * call on, pumps record nothing in transactions of their own: the
 * caller's next batch does, until dispatch_finish. */
int dispatch_record(struct dispatch *d, struct err *e);
/* A delivery of d's channel that the caller queued (with its document's
 * ref, type and party ref, and the SHA-256 of the message it spooled, or
 * NULL) in its open transaction: once that commits,
 * dispatch_committed hands it over instead of the queue being read again
 * (when nothing else can have been queued meanwhile); dispatch_discard
 * forgets it if the transaction is rolled back. */
void dispatch_adopt(struct dispatch *d, const struct store_delivery *dl, const char *msg_sha);
void dispatch_discard(struct dispatch *d);
/* The caller's transaction holding what dispatch_record wrote committed:
 * the journal may forget it, the spool drops what is done, retries wait;
 * what dispatch_adopt was given is handed over, or read again later. */
void dispatch_committed(struct dispatch *d);
/* send_all: sends everything left (retries included) and records it;
 * else only waits for and records what is in flight.  Frees d.  A failure
 * of the transport is returned when send_all. */
int dispatch_finish(struct dispatch *d, int send_all, struct err *e);

#endif
