/* Private to store/: the struct behind the opaque handle, the prepared
 * statement cache and helpers shared by the store's files. */
#ifndef POSTIER_STORE_INT_H
#define POSTIER_STORE_INT_H

#include <sqlite3.h>

#include "store.h"
#include "util/buf.h"

/* Statements prepared once per connection (import speed). */
enum stmt_id {
    ST_PARTY_ID,
    ST_TYPE_ID,
    ST_SITE_ID,
    ST_INSERT_PARTY,
    ST_INSERT_ADDRESS,
    ST_INSERT_CONTACT,
    ST_SEARCH_GET,
    ST_SEARCH_PUT,
    ST_HISTORY_LAST,
    ST_HISTORY_INSERT,
    ST_GET_PARTY_REF,
    ST_GET_PARTY,
    ST_GET_ADDRESS,
    ST_GET_CONTACT,
    ST_LIST_ADDRESSES_OF_PARTY,
    ST_LIST_CONTACTS_OF_PARTY,
    ST_DELIVERY_FIND,
    ST_DELIVERY_ADD,
    ST_DELIVERY_UPDATE,
    ST_DELIVERY_BY_SPOOL,
    ST_DELIVERY_GET,
    ST_DELIVERY_PENDING,
    ST_DATA_VERSION,
    ST_CONTACT_REGISTRY,
    ST_DOCUMENT_PROCESSED,
    ST_DOCUMENT_LIST,
    ST_BEGIN_READ,
    ST_END_READ,
    ST_COUNT
};

struct store {
    sqlite3 *db;
    int version;
    int from_version; /* before this open's migrations */
    sqlite3_stmt *st[ST_COUNT];
    /* last party looked up: imports are usually grouped by party */
    char *last_ref;
    long long last_party;
    /* the search index block being filled (search.c) */
    struct buf blk;
    long long blk_id;
    int blk_dirty;
    /* the history row this connection appended last in the current
     * transaction (tail_id 0: unknown): inside BEGIN IMMEDIATE it is the
     * chain's tail, so appending needs not read it back */
    long long tail_id;
    char tail_hash[65];
    char found_state[16]; /* store_delivery_find's answer */
    void *attached; /* store_attach */
    void (*release)(void *);
};

/* Fills e from the connection's last error: ERR_EXISTS for a UNIQUE
 * violation, ERR_LOCKED for SQLITE_BUSY, ERR_DB otherwise. */
int store_dberr(struct store *s, int rc, struct err *e, const char *what);

/* Returns the cached statement for id (preparing sql on first use), reset;
 * bindings are kept, so callers bind every parameter each time.  NULL with
 * e filled on failure. */
sqlite3_stmt *store_stmt(struct store *s, enum stmt_id id, const char *sql, struct err *e);

/* Prepares sql (not cached); ERR_DB naming it on failure. */
int store_prepare(struct store *s, const char *sql, sqlite3_stmt **st, struct err *e);
/* Steps st once (a statement returning no row) and finalizes it. */
int store_run(struct store *s, sqlite3_stmt *st, struct err *e, const char *what);
/* Ends a row loop over st whose last result was rc (SQLITE_DONE, an SQLite
 * error, or the callback's negative ERR_* return): resets st when it is a
 * cached statement, else finalizes it; returns 0, ERR_DB naming what, or rc. */
int store_rows_end(struct store *s, sqlite3_stmt *st, int is_cached, int rc, struct err *e,
                   const char *what);

/* Binds v as text, or NULL when v is NULL or empty. */
int store_bind_text(sqlite3_stmt *st, int i, const char *v);

/* Runs SQL that returns no rows (schema, pragmas). */
int store_exec(struct store *s, const char *sql, struct err *e);

/* Search index (search.c): put replaces the folded text of contact id
 * (NULL removes it; fresh: id was just inserted, so has no entry yet); flush writes the pending block (before commit);
 * forget drops it (after rollback); hits fills temp.hits with the ids of
 * contacts whose text holds every word. */
int store_search_put(struct store *s, long long id, const char *text, int fresh,
                     struct err *e);
int store_search_flush(struct store *s, struct err *e);
void store_search_forget(struct store *s);
int store_search_hits(struct store *s, char **words, int nwords, struct err *e);

/* Migrations: brings the schema to the newest version (schema.c). */
int store_migrate(struct store *s, struct err *e);

/* Contact ids with links (history, documents, events): SQL fragment
 * "EXISTS(...)" over a contact id column expression. */
#define STORE_CONTACT_LINKED(col)                                                              \
    "(EXISTS(SELECT 1 FROM document d WHERE d.contact_id = " col ")"                            \
    " OR EXISTS(SELECT 1 FROM delivery y WHERE y.contact_id = " col ")"                         \
    " OR EXISTS(SELECT 1 FROM history h WHERE h.contact_id = " col                              \
    " AND h.event NOT IN ('contact_added','contact_edited','contact_ended','imported',"        \
    "                     'registry_cleared','contact_removed'))"                              \
    " OR EXISTS(SELECT 1 FROM event v WHERE v.contact_id = " col "))"

#endif
