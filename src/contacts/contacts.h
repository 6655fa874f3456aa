/* The contacts directory's rules on top of the store: validation and
 * normalisation of parties, addresses and contacts (SPEC §1), the folded
 * search text, and all-or-nothing CSV imports of the §8 layouts (plus the
 * seed-004 contact layout).  Never prints: problems go to a callback. */
#ifndef POSTIER_CONTACTS_H
#define POSTIER_CONTACTS_H

#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"

/* Default country for national phone numbers (E.164 country code). */
#define CONTACTS_DEFAULT_CC "33"

/* Checks and normalises r in place (trims blanks, e-mails, phones to E.164,
 * dates, flags, defaults such as locale).  ERR_INPUT with "field 'x': why"
 * in e.  Party refs, type codes and sites are checked by the store. */
int contacts_normalise(struct store_rec *r, struct err *e);

/* The display name of a contact record (SPEC §3 {{contact.name}}): first
 * and last name, or the company when there is no name; into out. */
void contacts_display_name(const struct store_rec *c, char *out, size_t n);

/* Appends to out what changed from old to now, field by field, as
 * "field: old → new" joined by "; " (an empty value reads "(empty)");
 * nothing when no field changed.  Both records are of the same kind. */
void contacts_diff(const struct store_rec *old, const struct store_rec *now, struct buf *out);

/* Appends the folded text `contacts list --search` matches for a contact. */
void contacts_search_text(const struct store_rec *r, struct buf *out);

/* Folds a user's search string into the words the store matches: case and
 * accents folded, a phone-like string compacted to its digits ("06 12 34"
 * -> "061234").  Caller frees; NULL for NULL or blank input. */
char *contacts_search_query(const char *s);

/* Normalises r then saves it: a contact is inserted (r->id == 0) or
 * updated (r->id set) with its search text; a party or an address is
 * inserted or updated by its natural key (ref; party ref + label).  Errors as contacts_normalise and
 * store_insert/store_update. */
int contacts_save(struct store *s, struct store_rec *r, struct err *e);

/* Saves r, changed from old (r as stored before), and appends to the
 * history what changed (contacts_diff; no row when nothing did) as event,
 * in one transaction: the change and its row are written together or not
 * at all.  Errors as contacts_save and audit_append; ERR_LOCKED, ERR_DB. */
int contacts_save_change(struct store *s, const struct store_rec *old, struct store_rec *r,
                         const char *event, struct err *e);

/* Inserts the new contact r (normalised) and appends its contact_added
 * row, in one transaction.  Errors as contacts_save and audit_append. */
int contacts_add(struct store *s, struct store_rec *r, struct err *e);

/* Deletes contact id and appends its contact_removed row, in one
 * transaction.  ERR_INUSE when it is linked (store_contact_rm), ERR_DB. */
int contacts_remove(struct store *s, long long id, struct err *e);

/* Can dup be merged into keep?  ERR_INPUT when they are the same contact
 * or belong to different parties (the insured on a claim and the same
 * person on the client's file are two roles, not duplicates). */
int contacts_merge_check(const struct store_rec *keep, const struct store_rec *dup,
                         struct err *e);

/* Merges contact dup into keep (seed 003: the original is kept), in one
 * transaction: keep's empty fields (site included) filled from dup,
 * e-mails and phones joined, flags and consents united; dup's documents,
 * deliveries, events and campaign recipients moved to keep; dup removed;
 * one contact_merged row on keep naming dup and every field it changed.
 * keep is updated in place.  Errors as contacts_merge_check (nothing
 * written), contacts_save, audit_append; ERR_DB. */
int contacts_merge(struct store *s, struct store_rec *keep, const struct store_rec *dup,
                   struct err *e);

/* The two halves of contacts_save, for callers that prepare records on
 * one thread and store them on another: prepare normalises r and appends
 * its search text (contacts) to search; store writes it. */
int contacts_prepare(struct store_rec *r, struct buf *search, struct err *e);
int contacts_store(struct store *s, struct store_rec *r, const char *search, struct err *e);

/* Import of a CSV file of one kind. */
struct import_opts {
    /* contacts: the listed parties' contacts become the file's: a row
     * updates the current contact of its party with the same e-mail, else
     * the same name; the contacts no row names are ended or deleted */
    int sync;
    int dry_run; /* validate everything, write nothing */
    int max_errors; /* stop collecting after this many bad rows (0: 100) */
    /* called once per bad row with "file:line: field 'x': why" */
    void (*on_error)(void *ctx, const char *msg);
    /* called inside the import's transaction for each contact it changes
     * (event contact_edited, contact_ended or contact_removed; detail as
     * contacts_diff); a nonzero return aborts the import.  May be NULL. */
    int (*on_change)(void *ctx, const char *event, long long id, const char *party_ref,
                     const char *detail, struct err *e);
    void *ctx;
    /* append the `imported` history row (reason: the file; detail: the
     * counts) in the import's transaction, unless dry_run */
    int record;
    /* documents: the folder relative attachment paths are read from, and
     * a warning "file:line: warning: ..." for one that is not there yet */
    const char *documents_dir;
    void (*on_warning)(void *ctx, const char *msg);
};

struct import_report {
    long long rows;    /* data rows read */
    long long added;   /* records inserted */
    long long updated; /* records updated (upserts, contacts with an id or
                        * matched by --sync: only the file's columns) */
    long long unchanged; /* contacts with an id or matched by --sync whose
                          * fields were all the same already */
    long long removed; /* contacts deleted by --sync */
    long long ended;   /* contacts ended by --sync because they are linked */
    long long bad;     /* rows with errors (nothing is written when > 0) */
    long long missing; /* documents: attachments not there yet (warned of) */
    int seed004;       /* the file was in the seed-004 contact layout */
};

/* Imports path into kind in one transaction: every row is validated and
 * every bad row reported through opts->on_error; if any row is bad, or on
 * dry_run, nothing is written.  Returns 0, ERR_INPUT when rows were bad
 * (report->bad > 0) or the header is wrong, ERR_IO, ERR_DB. */
int contacts_import(struct store *s, enum store_kind kind, const char *path,
                    const struct import_opts *opts, struct import_report *report,
                    struct err *e);

/* ---- the asset-freeze register (registry_check.c) ---- */
struct registry;
/* The register kept in the database, parsed (*out NULL when none was
 * loaded); close with contacts_registry_close. */
int contacts_registry_open(struct store *s, struct registry **out, struct err *e);
void contacts_registry_close(struct registry *r);
/* Checks contact id against r (NULL: nothing to do) and records or clears
 * its match; *flagged = 1 when it matches (and was not cleared). */
int contacts_registry_check(struct store *s, const struct registry *r, long long id,
                            int *flagged, struct err *e);
/* The same for every contact; *matches = how many match. */
int contacts_registry_refresh(struct store *s, const struct registry *r, long long *matches,
                              struct err *e);

#endif
