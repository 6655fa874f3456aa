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

/* Retention (GDPR): removes the rows dated before date (YYYY-MM-DD) and
 * appends a `purged` row recording the anchor the chain now starts from,
 * so verify stays green.  *removed = rows removed (0: nothing to do). */
int audit_purge(struct store *s, const char *date, long long *removed, struct err *e);

/* Hex SHA-256 of n bytes at p into out (65 bytes with the NUL): the
 * template_sha256 of history rows. */
void audit_sha256_hex(const void *p, size_t n, char *out);

/* The canonical content hashed for r (exposed for tests): every column but
 * id and hash, as "name=value\n" lines in SPEC §8 order, with "\\" and
 * "\n" in values escaped, appended to out. */
int audit_canonical(const struct store_history *r, struct buf *out);

#endif
