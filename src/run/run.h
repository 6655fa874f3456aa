/* The nightly run (SPEC §2, §5, §6 `run`): recover the spool after a
 * crash, resolve every new document, render and spool one message per
 * recipient, record each decision in history, then dispatch the queue
 * through the transport.  Idempotent: a second run sends nothing twice.
 * Never prints: dry-run lines and progress go through callbacks. */
#ifndef POSTIER_RUN_H
#define POSTIER_RUN_H

#include "config/config.h"
#include "store/store.h"
#include "util/err.h"

struct run_opts {
    const char *date;  /* run date YYYY-MM-DD (validity of contacts) */
    const char *type;  /* only this document type, or NULL */
    int dry_run;       /* resolve and render, write nothing */
    /* dry run: one line per decision ("invoice F1 -> a@b.fr" / "skipped") */
    void (*on_line)(void *ctx, const char *line);
    /* dispatch progress, at most 5 times a second and once at the end
     * (last = 1): messages settled (sent, failed or left deferred) of total,
     * messages per second */
    void (*on_progress)(void *ctx, long long settled, long long total, double rate, int last);
    void *ctx;
};

#define RUN_MAX_REASONS 16

struct run_summary {
    long long documents;  /* documents resolved */
    long long queued;     /* messages made or tried (failed before the spool too) */
    long long sent, deferred, failed;
    long long skipped;
    struct {
        char reason[40];
        int failed;       /* a failure's reason, else a skip's */
        long long n;
    } reasons[RUN_MAX_REASONS]; /* skipped and failed, by reason code */
    size_t nreasons;
    long long waiting;    /* failed messages of documents that `retry` may send again */
    char local_error[256]; /* the first deferral caused on this host (a Maildir
                            * that cannot be written: disk full...), "" if none */
};

/* Runs the job with the configuration's paths, sender and transport.
 * Errors: ERR_LOCKED (another run), ERR_IO/ERR_DB/ERR_TEMPFAIL (the spool
 * stays intact; the next run resumes; ERR_TEMPFAIL too when stopped by
 * run_request_stop), ERR_CONFIG. */
int run_nightly(struct store *s, const struct config *cfg, const struct run_opts *o,
                struct run_summary *sum, struct err *e);

/* `retry` (SPEC §5, §6): plans again the documents that have a failed
 * delivery f selects, as the run would today (recipients resolved again),
 * for those failed deliveries and the recipients with none yet, never an
 * address that has one in another state (sent above all); then sends
 * them with whatever else is queued or deferred.  The failed history rows
 * stay; each attempt adds its own.  Errors as run_nightly's. */
int run_retry(struct store *s, const struct config *cfg, const struct run_opts *o,
              const struct store_retry *f, struct run_summary *sum, struct err *e);

/* Checks the settings config_load cannot check alone ([sms] quiet_hours
 * and quiet_days, parsed by the sms module): ERR_CONFIG "file:line: ..."
 * naming the key's line.  Every command calls it right after loading. */
int run_check_config(const struct config *cfg, struct err *e);

/* Asks the run (or a campaign's sending) under way to stop cleanly: no
 * new document is taken, no new message started; those in flight finish
 * and are recorded.  Async-signal-safe: for a SIGTERM/SIGINT handler. */
void run_request_stop(void);
/* Whether run_request_stop was called. */
int run_stop_requested(void);

#endif
