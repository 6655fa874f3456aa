/* The SQLite store (the only <sqlite3.h> user): one database file in WAL
 * mode with foreign keys on, a versioned schema upgraded by forward
 * migrations, and typed access to contact types, parties, addresses and
 * contacts.  Records are arrays of text fields described by field tables,
 * so CSV columns, CLI options and SQL columns share one list of names.
 * Values are validated by callers (contacts/); the store enforces keys. */
#ifndef POSTIER_STORE_H
#define POSTIER_STORE_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"
#include "util/strv.h"

struct store;

/* Opens (creating if needed) the database at path and migrates it to the
 * current schema version.  Use ":memory:" in tests.  Errors: ERR_DB with
 * SQLite's message, ERR_IO when the file cannot be created. */
int store_open(const char *path, struct store **out, struct err *e);
/* Opens a second connection to s's database, for reads only, to be used
 * by one other thread (WAL: it sees what s has committed, never waits for
 * s's transaction).  Closed with store_close.  Errors: ERR_DB (an
 * in-memory database), ERR_IO. */
int store_open_reader(struct store *s, struct store **out, struct err *e);
/* Checkpoints s's write-ahead log from a thread of its own (its own
 * connection) while s writes a lot, so that s's commits neither copy pages
 * into the database nor wait for its sync.  Never fails: without a thread
 * or a connection, s keeps checkpointing itself.  Stopped (s checkpoints
 * itself again) by store_checkpointer_stop, NULL-safe. */
struct store_checkpointer;
struct store_checkpointer *store_checkpointer_start(struct store *s);
void store_checkpointer_stop(struct store_checkpointer *c);
/* A number that changes when another connection commits to s's database
 * (never for s's own commits): SQLite's data_version.  -1 on error. */
long long store_data_version(struct store *s);
/* A read transaction: the reads between begin and end see one snapshot.
 * Errors: ERR_DB. */
int store_begin_read(struct store *s, struct err *e);
void store_end_read(struct store *s);
/* Closes; NULL-safe. */
void store_close(struct store *s);
/* The schema version the database is at after store_open. */
int store_schema_version(struct store *s);
/* The version the database was at before store_open migrated it (0: a new
 * database). */
int store_schema_opened_at(struct store *s);

/* Whether a transaction is open on s (BEGIN not yet committed). */
int store_in_transaction(const struct store *s);

/* Transactions: begin (immediate), commit, rollback.  Rollback never fails
 * visibly.  Errors: ERR_DB, ERR_LOCKED when another writer holds the db. */
int store_begin(struct store *s, struct err *e);
int store_commit(struct store *s, struct err *e);
void store_rollback(struct store *s);

/* ---- contact types ---- */
struct store_type {
    long long id;
    char *code;  /* unique, may be NULL (SPEC: label required, code optional) */
    char *label;
    long long contacts; /* contacts of this type (list only) */
};
typedef int (*store_type_cb)(void *ctx, const struct store_type *t);

/* Adds a type; ERR_EXISTS when code is taken. */
int store_type_add(struct store *s, const char *code, const char *label, long long *id,
                   struct err *e);
/* Changes label and/or code (NULL = keep) of the type with code key. */
int store_type_edit(struct store *s, const char *key, const char *code, const char *label,
                    struct err *e);
/* Removes the type; ERR_INUSE naming how many contacts use it. */
int store_type_rm(struct store *s, const char *key, struct err *e);
/* Calls cb for each type ordered by code; cb returning non-zero stops. */
int store_type_list(struct store *s, store_type_cb cb, void *ctx, struct err *e);
/* Id of the type with this code, ERR_NOTFOUND otherwise. */
int store_type_id(struct store *s, const char *code, long long *id, struct err *e);

/* ---- generic records: parties, addresses, contacts ---- */
enum store_kind { STORE_PARTY, STORE_ADDRESS, STORE_CONTACT };

/* Field tables: names are the CSV column names of SPEC §8, in that order. */
enum party_field {
    PF_REF, PF_KIND, PF_NAME, PF_CIVILITY, PF_FIRST_NAME, PF_LAST_NAME, PF_EMAIL,
    PF_PHONES, PF_LOCALE, PF_CLIENT_REF, PF_COUNT
};
enum address_field {
    AF_PARTY_REF, AF_LABEL, AF_LINES, AF_POSTCODE, AF_CITY, AF_COUNTRY, AF_CONTACT_NAME,
    AF_CONTACT_EMAIL, AF_CONTACT_PHONE, AF_COUNT
};
enum contact_field {
    CF_PARTY_REF, CF_TYPE, CF_CIVILITY, CF_LAST_NAME, CF_FIRST_NAME, CF_COMPANY,
    CF_DEPARTMENT, CF_FUNCTION, CF_EMAIL, CF_PHONES, CF_FAX, CF_ADDRESS, CF_POSTCODE,
    CF_CITY, CF_COUNTRY, CF_SITE, CF_WEBSITE, CF_NOTE, CF_LOCALE, CF_DISPLAY_ORDER,
    CF_VALID_FROM, CF_VALID_UNTIL, CF_FLAGS, CF_CONSENTS, CF_COUNT
};
#define STORE_MAX_FIELDS 24

/* A record: id (0 before insertion) and text values (NULL = empty) owned
 * by the record: they live in its own memory chunks, packed together, so
 * change them only with store_rec_set (editing a value in place is fine).
 * For contacts, CF_FLAGS / CF_CONSENTS hold the '|'-joined names and
 * CF_DISPLAY_ORDER a decimal number, exactly as in the CSV. */
struct store_chunk;
struct store_rec {
    enum store_kind kind;
    long long id;
    char *v[STORE_MAX_FIELDS];
    struct store_chunk *mem;
};

/* Number of fields and the name of field i of a kind. */
size_t store_nfields(enum store_kind kind);
const char *store_field_name(enum store_kind kind, size_t i);
/* Index of the field called name, or -1. */
int store_field_index(enum store_kind kind, const char *name);

void store_rec_init(struct store_rec *r, enum store_kind kind);
void store_rec_release(struct store_rec *r);
/* Empties r for reuse as kind, keeping one chunk of memory (a loop over
 * many records allocates once). */
void store_rec_clear(struct store_rec *r, enum store_kind kind);
/* Replaces field i with a copy of v (NULL or "" clears it). */
void store_rec_set(struct store_rec *r, size_t i, const char *v);

/* Inserts r (r->id set on success).  Party refs, type codes and site labels
 * are resolved; ERR_NOTFOUND names the one that does not exist, ERR_EXISTS
 * a duplicate key (party ref, site label of a party).  Contact flags and
 * consents are stored as bits (names parsed with contacts/validate.h).
 * search is the folded text the contact list searches (contacts only, may
 * be NULL).  Values must have been validated by the caller. */
int store_insert(struct store *s, struct store_rec *r, const char *search, struct err *e);
/* Inserts, or updates the record with the same natural key (party ref;
 * party ref + site label).  Parties and addresses only. */
int store_upsert(struct store *s, struct store_rec *r, struct err *e);
/* Rewrites every field of the contact r->id. ERR_NOTFOUND if absent. */
int store_update(struct store *s, struct store_rec *r, const char *search, struct err *e);
/* Loads the record: contacts by id, parties by ref (key), addresses by
 * "party_ref/label".  ERR_NOTFOUND if absent.  r must be initialised. */
int store_get(struct store *s, enum store_kind kind, long long id, const char *key,
              struct store_rec *r, struct err *e);

/* Deletes contact id; ERR_INUSE when it is linked to history, documents or
 * events (SPEC §1, seed 000), ERR_NOTFOUND when absent. */
int store_contact_rm(struct store *s, long long id, struct err *e);

/* A listing query.  Strings are borrowed. */
struct store_query {
    const char *search;    /* folded words, all must match; NULL = any */
    const char *party_ref; /* NULL = all */
    const char *kind;      /* party kind filter (parties list) */
    const char *date;      /* contacts valid on this date; NULL = no filter */
    const char *type;      /* contacts of this type code; NULL = any */
    unsigned flags;        /* contacts with every one of these flag bits */
    unsigned consents;     /* contacts with every one of these consent bits */
    long long limit;       /* 0 = no limit */
    long long offset;
};
typedef int (*store_rec_cb)(void *ctx, const struct store_rec *r);

/* Counts and lists records matching q (contacts ordered by party ref,
 * display order, id; parties by ref; addresses by party ref, label).
 * *total (may be NULL) receives the count before limit/offset.  cb
 * returns 0 to go on, > 0 to stop, or a negative ERR_* (e filled by it),
 * which stops the listing and is returned. */
int store_list(struct store *s, enum store_kind kind, const struct store_query *q,
               store_rec_cb cb, void *ctx, long long *total, struct err *e);

/* ---- documents (SPEC §1): what the host system asks to notify ---- */
struct store_document {
    long long id;
    const char *type, *ref, *party_ref;
    long long contact_id;      /* explicit recipient, 0 = none */
    const char *address_label; /* the document's site, NULL = none */
    const char *to_level;      /* contacts | main | address */
    int esign;                 /* to be signed electronically */
    const char *fields;        /* JSON object of the free fields */
    const char *attachment;    /* file path or NULL */
    const char *processed_at;  /* NULL until a run has resolved it */
};
typedef int (*store_document_cb)(void *ctx, const struct store_document *d);

/* Inserts d (sets d->id).  ERR_EXISTS when (type, ref) exists,
 * ERR_NOTFOUND for an unknown party, contact (or one of another party) or
 * site.  Strings are borrowed. */
int store_document_insert(struct store *s, struct store_document *d, struct err *e);
/* Replaces the content of document d->id (party, contact, site, level,
 * esign, fields, attachment) by d's; its id, deliveries and processed_at
 * stay.  Errors as store_document_insert's, but for ERR_EXISTS. */
int store_document_update(struct store *s, const struct store_document *d, struct err *e);
/* How many deliveries a document has in each state. */
struct store_document_sends {
    long long sent, pending /* queued or deferred */, failed;
};
/* Calls cb once with the document (type, ref) as store_document_list
 * does and fills *n; ERR_NOTFOUND when there is none, ERR_DB. */
int store_document_find(struct store *s, const char *type, const char *ref,
                        struct store_document_sends *n, store_document_cb cb, void *ctx,
                        struct err *e);
/* Documents of type (NULL = all), only the unprocessed ones when only_new,
 * with id > after_id, in id order, at most limit (0 = all); strings valid
 * during the callback, which returns 0 or a negative ERR_* to stop (and
 * must not list documents itself: one prepared statement serves). */
int store_document_list(struct store *s, const char *type, int only_new, long long after_id,
                        long long limit, store_document_cb cb, void *ctx, struct err *e);
/* The free field names of the documents of type (NULL: of every type):
 * cb once per distinct name, top-level only; *ndocs = how many documents
 * there are.  Errors: ERR_DB. */
int store_document_fields(struct store *s, const char *type, long long *ndocs,
                          int (*cb)(void *ctx, const char *name), void *ctx, struct err *e);
/* Marks a document processed at the given UTC timestamp. */
int store_document_processed(struct store *s, long long id, const char *at, struct err *e);
/* Which failed deliveries of documents `retry` takes: each field NULL for
 * any; since: failed on or after that date (YYYY-MM-DD, UTC); reason: the
 * reason code of its last `failed` history row. */
struct store_retry {
    const char *type, *ref, *since, *reason;
};
/* Calls cb (as store_document_list does) for each document with id >
 * after_id that has a failed delivery f selects, in id order, at most
 * limit (0 = all). */
int store_document_retryable(struct store *s, const struct store_retry *f, long long after_id,
                             long long limit, store_document_cb cb, void *ctx, struct err *e);

/* ---- deliveries: one per (document or campaign, channel, address) ---- */
struct store_delivery {
    long long id, document_id, contact_id;
    const char *campaign; /* NULL for documents */
    const char *channel, *address, *message_id;
    const char *state;    /* queued | sent | deferred | failed */
    int attempts;
    const char *template_name, *template_sha256, *consent;
    const char *reason;   /* failed: why (template, rejected...), kept by the row
                           * (its last failure's) in later states; written, not read */
    /* filled by store_delivery_pending from the document: */
    const char *document_ref, *document_type, *party_ref;
};
typedef int (*store_delivery_cb)(void *ctx, const struct store_delivery *d);

/* *state = the delivery's state for this (document/campaign, channel,
 * address in any case) or NULL when there is none (borrowed until the
 * next call); of several (addresses differing in case), a state other
 * than failed first. */
int store_delivery_find(struct store *s, long long document_id, const char *campaign,
                        const char *channel, const char *address, const char **state,
                        struct err *e);
/* Inserts d (sets d->id); ERR_EXISTS when that address already has one. */
int store_delivery_add(struct store *s, struct store_delivery *d, struct err *e);
/* Sets state and attempts of delivery id, and its reason when failed
 * (NULL: "failed"; in another state the row keeps its last failure's). */
int store_delivery_update(struct store *s, long long id, const char *state, int attempts,
                          const char *reason, struct err *e);
/* Which pending deliveries a dispatcher takes. */
struct store_pending {
    const char *channel;  /* email | sms */
    const char *campaign; /* only this campaign's; NULL: documents' and those of
                           * running campaigns */
    int hold_marketing;   /* leave commercial/partner campaigns' out (quiet hours) */
    int retry_only;       /* only those of store_retry_begin's set (a retry) */
};
/* Deliveries still to send (queued or deferred) per q with id > after_id,
 * in id order, at most limit (0 = all). */
int store_delivery_pending(struct store *s, const struct store_pending *q, long long after_id,
                           long long limit, store_delivery_cb cb, void *ctx, struct err *e);
/* Calls cb for delivery id, if there is one. */
int store_delivery_get(struct store *s, long long id, store_delivery_cb cb, void *ctx,
                       struct err *e);
/* Calls cb for the delivery whose Message-ID starts "<prefix@" (the
 * spool file name), if there is one.  A scan (Message-IDs are not
 * indexed): for spool records and journal lines of earlier versions. */
int store_delivery_by_spool(struct store *s, const char *prefix, store_delivery_cb cb,
                            void *ctx, struct err *e);
/* *n = the number of deliveries still to send per q. */
int store_delivery_count_pending(struct store *s, const struct store_pending *q, long long *n,
                                 struct err *e);
/* Calls cb for each failed delivery of the document on channel that f
 * selects, in id order. */
int store_delivery_retryable(struct store *s, const struct store_retry *f, long long document_id,
                             const char *channel, store_delivery_cb cb, void *ctx, struct err *e);
/* Starts a retry's set of deliveries on this connection (a temporary
 * table; store_pending.retry_only reads it): the pending (deferred, or
 * queued by a retry that was killed) deliveries of documents that f
 * selects (reason: their last failure's), then those store_retry_add adds
 * (in the caller's transaction). */
int store_retry_begin(struct store *s, const struct store_retry *f, struct err *e);
int store_retry_add(struct store *s, long long delivery_id, struct err *e);
/* Forgets the document's failed delivery on channel to address (its
 * history stays): retried, the document no longer goes there. */
int store_delivery_drop(struct store *s, long long document_id, const char *channel,
                        const char *address, struct err *e);
/* Sends a document's failed delivery (d's document, channel and address)
 * again: sets its state, contact, Message-ID, template and consent from d
 * and d->id, d->attempts from the row (attempts go on counting).
 * ERR_NOTFOUND when it has no failed delivery there. */
int store_delivery_again(struct store *s, struct store_delivery *d, struct err *e);
/* *n = the failed deliveries of documents (what `retry` may send again). */
int store_delivery_count_failed(struct store *s, long long *n, struct err *e);

/* ---- history: append-only rows (the hash chain is audit/'s job) ---- */

/* One history row: the columns of SPEC §8 (history JSON keys).  Strings
 * are borrowed (when writing) or owned by the store until the callback
 * returns (when reading); NULL = empty.  contact_id 0 = none. */
struct store_history {
    long long id;
    const char *at;      /* UTC "YYYY-MM-DDTHH:MM:SSZ" */
    const char *event;   /* skipped queued sent deferred failed bounced
                          * unsubscribed contact_added ... */
    const char *channel; /* email | sms */
    const char *address; /* the e-mail address or E.164 number */
    long long contact_id;
    const char *party_ref, *document_ref, *document_type, *campaign;
    const char *template_name, *template_sha256, *message_id;
    const char *reason;       /* skip or failure reason code */
    const char *server_reply; /* what the server answered */
    const char *consent;      /* consent state used ("commercial|esign") */
    /* since schema 4 (NULL in older rows, and then not hashed): */
    const char *operator_name;  /* who acted: the OS user, --operator NAME, or cron */
    const char *message_sha256; /* SHA-256 of the rendered message */
    const char *provider_id;    /* the server's or gateway's id for the message */
    const char *hash;
};

/* The last row's id and hash (0 and "" for an empty history); hash must
 * hold 65 bytes. */
int store_history_last(struct store *s, long long *id, char *hash, struct err *e);
/* Inserts h as given (h->hash required); sets h->id. */
int store_history_insert(struct store *s, struct store_history *h, struct err *e);
/* Calls cb for every row in id order; cb returning non-zero stops and its
 * value is returned. */
typedef int (*store_history_cb)(void *ctx, const struct store_history *h);
int store_history_scan(struct store *s, store_history_cb cb, void *ctx, struct err *e);
/* Merges contact dup into keep: documents, deliveries, events and
 * campaign recipients move to keep, dup is removed, and the merge is
 * remembered (history rows keep dup's id; store_history_of_contact of
 * keep shows them).  Inside the caller's transaction. */
int store_contact_merge(struct store *s, long long keep, long long dup, struct err *e);
/* The rows about contact id and the contacts merged into it, in order
 * (its sends, skips, edits...); each merge once: the merged contact's own
 * "merged into contact N" row is left out. */
int store_history_of_contact(struct store *s, long long contact_id, store_history_cb cb,
                             void *ctx, struct err *e);
/* Row id (ERR_NOTFOUND when none). */
int store_history_get(struct store *s, long long id, store_history_cb cb, void *ctx,
                      struct err *e);
/* The purge anchor: the id and hash of the last row a purge removed (0
 * and "" when none). */
int store_history_anchor(struct store *s, long long *last_id, char *hash, struct err *e);
/* The keyed chain's marker (issue 17, table history_keyed, schema 12):
 * the id of the first row hashed with HMAC-SHA-256 and the MAC (hex, 64)
 * proving it was written with the key.  *first_id = 0 and mac "" when no
 * marker was written (every row legacy), -1 when the table itself is
 * gone (dropped by hand).  Real SQL errors are ERR_DB. */
int store_history_keyed_from(struct store *s, long long *first_id, char *mac, struct err *e);
/* Inserts the marker (inside the caller's transaction); ERR_EXISTS when
 * one is there. */
int store_history_set_keyed_from(struct store *s, long long first_id, const char *mac,
                                 struct err *e);
/* Another module's state kept with this connection (audit/'s keyed-chain
 * state), released with release(p) by store_close or the next attach. */
void store_attach(struct store *s, void *p, void (*release)(void *));
void *store_attached(struct store *s);
/* The newest row's id, hash and time, and how many rows the chain holds up
 * to it, purged rows included (0 and "" when empty). */
int store_history_head(struct store *s, long long *id, char *hash, char *at, long long *count,
                       struct err *e);
/* Removes every row up to the last one dated before date (YYYY-MM-DD,
 * UTC), inside the caller's transaction, and records the anchor.
 * *removed = how many; *last_id and hash = the anchor (0 when nothing). */
int store_history_purge(struct store *s, const char *date, long long *removed,
                        long long *last_id, char *hash, struct err *e);

/* Ids of the party's own row (party ref) or ERR_NOTFOUND. */
int store_party_id(struct store *s, const char *ref, long long *id, struct err *e);
/* Appends to out the refs of the claims whose client is the party `ref`
 * (kind claim, client_ref = ref); none for an unknown party. */
int store_party_claims(struct store *s, const char *ref, struct strv *out, struct err *e);


/* ---- campaigns (SPEC §6 campaign): an operator's mail-merge ---- */
struct store_campaign {
    long long id;
    const char *name, *template_name, *channel, *purpose;
    const char *selection;    /* JSON object of the selection options */
    const char *state;        /* draft scheduled running paused done cancelled */
    const char *scheduled_at; /* "YYYY-MM-DD HH:MM" local, or NULL */
    const char *frozen_at;    /* when the recipients were frozen, or NULL */
    const char *created_at;
};
typedef int (*store_campaign_cb)(void *ctx, const struct store_campaign *c);

/* Inserts c (created_at set here; sets c->id).  ERR_EXISTS for a name
 * already used. */
int store_campaign_add(struct store *s, struct store_campaign *c, struct err *e);
/* Calls cb with campaign name (ERR_NOTFOUND when none), or with every
 * campaign by name when name is NULL; with due set (name NULL), only the
 * scheduled ones whose time (local "YYYY-MM-DD HH:MM") is <= due and the
 * running ones. */
int store_campaign_get(struct store *s, const char *name, const char *due,
                       store_campaign_cb cb, void *ctx, struct err *e);
/* Sets state (and scheduled_at when not NULL). */
int store_campaign_set_state(struct store *s, long long id, const char *state,
                             const char *scheduled_at, struct err *e);
/* *state = the campaign's current state (read again: another process may
 * have paused it), in out of n bytes. */
int store_campaign_state(struct store *s, long long id, char *out, size_t n, struct err *e);
/* Deletes campaign id if it is still a draft; ERR_INPUT otherwise. */
int store_campaign_rm_draft(struct store *s, long long id, struct err *e);
/* Marks the recipient list frozen (now). */
int store_campaign_freeze(struct store *s, long long id, struct err *e);
/* Adds candidate seq of the frozen list: a recipient (reason NULL, with
 * its unsubscribe token) or an exclusion. */
int store_campaign_rcpt_add(struct store *s, long long id, long long seq, long long contact_id,
                            const char *address, const char *reason, const char *token,
                            struct err *e);
/* The frozen candidates in order. */
typedef int (*store_crcpt_cb)(void *ctx, long long seq, long long contact_id,
                              const char *address, const char *reason, const char *token);
int store_campaign_rcpts(struct store *s, long long id, store_crcpt_cb cb, void *ctx,
                         struct err *e);
/* The address and campaign name an unsubscribe token was made for. */
int store_campaign_token(struct store *s, const char *token, char *address, size_t n,
                         char *campaign, size_t cn, struct err *e);

struct store_campaign_counts {
    long long recipients, queued, sent, deferred, failed, skipped;
};
int store_campaign_counts(struct store *s, const struct store_campaign *c,
                          struct store_campaign_counts *out, struct err *e);

/* ---- suppression list (unsubscribed addresses) ---- */
/* Adds address (ERR_EXISTS when already there). */
int store_suppression_add(struct store *s, const char *address, const char *source,
                          struct err *e);
int store_suppressed(struct store *s, const char *address, int *yes, struct err *e);
typedef int (*store_suppression_cb)(void *ctx, const char *address, const char *at,
                                    const char *source);
int store_suppression_list(struct store *s, store_suppression_cb cb, void *ctx, struct err *e);

/* ---- the asset-freeze register ---- */
/* Keeps the loaded file (content, len bytes) in place of the previous one. */
int store_registry_put(struct store *s, const char *source, const char *published,
                       long long entries, const char *content, size_t len, struct err *e);
/* The kept file, appended to out (ERR_NOTFOUND when none was loaded);
 * *source = its name (borrowed until the next call). */
int store_registry_get(struct store *s, struct buf *out, char *source, size_t n, struct err *e);
/* A contact's match ("entry id\tentry name\tmatched name"), or NULL to
 * clear; *cleared = the entry id an operator cleared for it ("" if none). */
int store_contact_registry_set(struct store *s, long long id, const char *match,
                               struct err *e);
int store_contact_registry_get(struct store *s, long long id, char *match, size_t n,
                               char *cleared, size_t cn, struct err *e);
/* Clears a contact's match, remembering the entry as cleared. */
int store_contact_registry_clear(struct store *s, long long id, struct err *e);
/* Every contact with a match: id, party ref, and its match. */
typedef int (*store_match_cb)(void *ctx, long long id, const char *party_ref,
                              const char *match);
int store_registry_matches(struct store *s, store_match_cb cb, void *ctx, struct err *e);

#endif
