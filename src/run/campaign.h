/* Campaigns (SPEC §6 `campaign`, §2.4): an operator's mail-merge.  A
 * campaign is a template, a selection of contacts, a channel and a
 * purpose.  At launch its candidates are decided (consent per purpose,
 * suppression list, address) and frozen, every message is rendered and
 * spooled, then sent by the same dispatcher as the nightly run; pause,
 * resume and crashes never send a message twice.  Never prints. */
#ifndef POSTIER_CAMPAIGN_H
#define POSTIER_CAMPAIGN_H

#include "config/config.h"
#include "resolve/resolve.h"
#include "run.h"
#include "store/store.h"
#include "util/err.h"

struct campaign_sel {
    const char *type, *flag, *party, *party_kind, *city, *search; /* NULL = any */
    /* the ticked contacts (NULL = any): "ID,ID" and a file of one id a
     * line; given both, the union.  Stored as the sorted array "contacts". */
    const char *contacts, *contacts_file;
};

/* Creates a draft campaign.  ERR_INPUT for a bad channel, purpose, flag,
 * contact id (file:line) or unknown contact, or a template folder without
 * a file for the channel; ERR_EXISTS. */
int campaign_create(struct store *s, const struct config *cfg, const char *name,
                    const char *template_name, const char *channel, const char *purpose,
                    const struct campaign_sel *sel, struct err *e);

/* Deletes a draft campaign.  ERR_INPUT once it was launched (scheduled,
 * running, paused, done or cancelled): it stays in the history. */
int campaign_remove(struct store *s, const char *name, struct err *e);

/* Every candidate of c's selection on date, in order, decided: reason
 * NULL for a recipient, else the skip reason (SPEC §2.5).  cb returns 0,
 * or a negative ERR_* that stops the listing and is returned. */
typedef int (*campaign_rcpt_cb)(void *ctx, const struct resolve_rcpt *r);
int campaign_candidates(struct store *s, const struct store_campaign *c, const char *date,
                        campaign_rcpt_cb cb, void *ctx, struct err *e);

/* preview: the rendered messages of the first limit recipients and the
 * excluded candidates, as text through out.  Writes nothing. */
int campaign_preview(struct store *s, const struct config *cfg, const char *name, long limit,
                     void (*out)(void *ctx, const char *text), void *ctx, struct err *e);

/* test: the first recipient's message, sent to address now (history event
 * `test`).  *reply = what the server answered. */
int campaign_test(struct store *s, const struct config *cfg, const char *name,
                  const char *address, char *reply, size_t n, struct err *e);

/* launch / resume: freezes the recipients (once), queues every message
 * not yet queued, sends this campaign's queue until it is done or the
 * campaign is paused or cancelled (by another process).  sum counts the
 * whole campaign (sent before a pause included).  ERR_INPUT for a
 * cancelled campaign; ERR_LOCKED when a run holds the spool. */
int campaign_launch(struct store *s, const struct config *cfg, const char *name,
                    const struct run_opts *o, struct run_summary *sum, struct err *e);

/* Unsubscribes address (or the address a token was made for): the
 * suppression list and a history row `unsubscribed`.  *out = the address. */
int campaign_unsubscribe(struct store *s, const char *what, const char *source, char *out,
                         size_t n, struct err *e);

#endif
