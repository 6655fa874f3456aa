/* The append-only, hash-chained history of SPEC §1: every decision and
 * every send is a row whose hash is SHA-256 over the previous row's hash
 * and the row's canonical content, so that altering, inserting or deleting
 * a row anywhere breaks the chain at that row.  Rows are stored through
 * store/ (the only SQLite user); this module owns the canonical encoding
 * and the hashing (nettle). */
#ifndef POSTIER_AUDIT_H
#define POSTIER_AUDIT_H

#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"

/* Appends r (r->at defaults to now; r->id is set; the stored time and
 * hash can be read back with store_history_last), inside the
 * caller's transaction if one is open.  Errors: ERR_INPUT (no event),
 * ERR_DB. */
int audit_append(struct store *s, struct store_history *r, struct err *e);
/* Who acts for this process (recorded in every row appended without an
 * operator of its own). */
void audit_set_operator(const char *name);

/* Walks the whole chain.  Returns 0 when intact; ERR_PERMFAIL when a row's
 * hash does not match, with *bad_id = the first broken row's id and e
 * saying what is wrong; ERR_DB on read errors.  *rows = rows checked. */
int audit_verify(struct store *s, long long *rows, long long *bad_id, struct err *e);

/* The keyed chain (SPEC §8): rows are hashed with HMAC-SHA-256 keyed with
 * key_file (64 hex digits, mode 0600), and the newest row's anchor line
 * is kept in head_file (NULL: none).  This state is kept with s (freed by
 * store_close).  Without this call (unit tests) rows use the legacy
 * unkeyed SHA-256 recipe. */
void audit_configure(struct store *s, const char *key_file, const char *head_file);
/* The head file of database db into out: <spool>/history.head when db is
 * the configured database (the same path, or the same file by device and
 * inode), else db.head (a database given with --db FILE). */
void audit_head_path(const char *spool, const char *db, const char *configured,
                     struct buf *out);
/* The one place a key is made (the CLI calls it once per command that may
 * write history, after audit_configure): loads the key, or, when the
 * file is missing and the chain was never keyed, creates it (0600,
 * *created = 1) together with its marker (the next row id and its MAC,
 * committed) and the head file.  A missing key for a keyed chain is
 * ERR_NOTFOUND ("restore it from backup"; appending and verify refuse).  audit_append never creates a
 * key: a configured key that is not there is an error. */
int audit_key_ensure(struct store *s, int *created, struct err *e);
/* After a command: when rows were appended through s, writes the head file
 * (a temporary file renamed over it, under an flock on <head>.lock, from
 * the newest committed row), unless the head it holds is no longer in the
 * history (ERR_PERMFAIL: verify reports it). */
int audit_head_update(struct store *s, struct err *e);

struct audit_check {
    long long rows, bad, unkeyed; /* bad: the first broken row, 0: none named */
    long long anchor_id;          /* the given anchor's row, when it checked */
    int head;                     /* the head file was checked */
};
/* audit_verify, also checking the head file and, when anchor is not NULL,
 * that anchor line (ERR_INPUT when malformed). */
int audit_verify_full(struct store *s, const char *anchor, struct audit_check *out,
                      struct err *e);
/* The newest row's anchor line ("postier-anchor 1 id=N count=N at=STAMP
 * hash=HEX"), once the chain verified. */
int audit_anchor(struct store *s, char *line, size_t n, struct err *e);

/* Retention (GDPR): removes the rows dated before date (YYYY-MM-DD) and
 * appends a `purged` row recording the anchor the chain now starts from,
 * so verify stays green.  *removed = rows removed (0: nothing to do).
 * A date later than today - min_days is ERR_INPUT. */
int audit_purge(struct store *s, const char *date, long min_days, long long *removed,
                struct err *e);

/* Hex SHA-256 of n bytes at p into out (65 bytes with the NUL): the
 * template_sha256 of history rows. */
void audit_sha256_hex(const void *p, size_t n, char *out);

/* The canonical content hashed for r (exposed for tests): every column but
 * id and hash, as "name=value\n" lines in SPEC §8 order, with "\\" and
 * "\n" in values escaped, appended to out. */
int audit_canonical(const struct store_history *r, struct buf *out);

#endif
