/* What audit.c, key.c and head.c share (not for other modules). */
#ifndef POSTIER_AUDIT_INT_H
#define POSTIER_AUDIT_INT_H

#include <stdint.h>

#include "audit/audit.h"

/* The "previous hash" of the first row. */
extern const char audit_zero_hash[65];

/* The keyed chain (recipe 1): hex HMAC-SHA-256, keyed with the 32 bytes of
 * [history] key_file, over
 *   "postier-chain 1\n" prev "\n" "id=" ID "\n" canonical lines
 * where every column has its line (operator, message_sha256 and
 * provider_id too, empty when NULL).  A column added later is a new
 * recipe number. */
#define KEY_LEN 32

/* The keyed chain's state, one per store (store_attach): the key and
 * head file paths, the key once loaded, whether rows were appended. */
struct audit_keys {
    char key_path[4096], head_path[4096];
    uint8_t key[KEY_LEN];
    int have_key;
    int appended; /* this connection appended rows: the head file follows */
    int marker_ok; /* the marker carries this key's MAC (checked once) */
};

/* An anchor line: "postier-anchor 1 id=N count=N at=STAMP hash=HEX64". */
struct head {
    long long id, count;
    char at[32], hash[65];
    char mac[65]; /* the head file's " mac=HEX" (HMAC of the line before it), "": none */
};

/* key.c */
void audit_hmac_hex(const uint8_t *key, const struct buf *b, char *out);
void audit_marker_mac(const uint8_t *key, long long first, char *out);
int audit_key_missing(const struct audit_keys *k, struct err *e);
/* ERR_NOTFOUND when the file does not exist (e not set). */
int audit_key_load(struct audit_keys *k, struct err *e);
/* Before appending with the loaded key: the marker of a keyed chain must
 * carry its MAC, else the key file is another one (ERR_CONFIG).  Checked
 * once per connection. */
int audit_marker_check(struct audit_keys *k, struct store *s, struct err *e);

/* head.c */
/* An anchor line, surrounding white space ignored, with an optional
 * " mac=HEX" (the head file's); ERR_INPUT saying what is wrong first. */
int audit_head_parse(const char *line, struct head *h, struct err *e);
void audit_head_format(const struct head *h, char *out, size_t n);
/* The MAC a head file carries: HMAC(key, its anchor line) into out. */
void audit_head_mac(const uint8_t *key, const struct head *h, char *out);
/* The head file's line: 0, ERR_NOTFOUND (no file; e not set), or
 * ERR_PERMFAIL naming the file and what is wrong with it (unreadable,
 * empty, not an anchor line, a MAC missing or not the key's): the head
 * file was damaged or forged. */
int audit_head_read(const struct audit_keys *k, struct head *h, struct err *e);
/* Whether k's head file is the spool's (the configured database's), not
 * the "<db>.head" of another database opened with --db. */
int audit_head_in_spool(const struct audit_keys *k);
int audit_head_lock(const struct audit_keys *k, int *fd, struct err *e);
void audit_head_unlock(int fd);
int audit_head_write_locked(struct audit_keys *k, struct store *s, int may_create,
                            struct err *e);

#endif
