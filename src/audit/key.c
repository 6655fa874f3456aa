/* The history key and its marker (SPEC §8, README "Compliance"): loading
 * the key file, making it once with the marker (the first keyed id, MAC'd
 * with the key) and the head file, and the HMAC both use. */
#include "audit/audit.h"
#include "audit/audit-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nettle/hmac.h>
#include <nettle/sha2.h>
#include <sys/random.h>

static void hex_of(const uint8_t *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void audit_hmac_hex(const uint8_t *key, const struct buf *b, char *out)
{
    struct hmac_sha256_ctx ctx;
    uint8_t d[SHA256_DIGEST_SIZE];

    hmac_sha256_set_key(&ctx, KEY_LEN, key);
    hmac_sha256_update(&ctx, b->len, (const uint8_t *)buf_str(b));
    hmac_sha256_digest(&ctx, sizeof d, d);
    hex_of(d, sizeof d, out);
}

/* The marker's MAC: HMAC(key, "postier-keyed 1 first_id=N"). */
void audit_marker_mac(const uint8_t *key, long long first, char *out)
{
    struct buf b;

    buf_init(&b, 0);
    buf_printf(&b, "postier-keyed 1 first_id=%lld", first);
    audit_hmac_hex(key, &b, out);
    buf_release(&b);
}

int audit_key_missing(const struct audit_keys *k, struct err *e)
{
    return err_set(e, ERR_INPUT, "history key file %s missing: restore it from backup",
                   k->key_path);
}

/* ERR_NOTFOUND when the file does not exist (e not set). */
int audit_key_load(struct audit_keys *k, struct err *e)
{
    char text[80];
    struct stat st;
    ssize_t n;
    int fd, i, rc = 0;

    if (k->have_key || !k->key_path[0])
        return k->have_key ? 0 : ERR_NOTFOUND;
    fd = open(k->key_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ELOOP && !lstat(k->key_path, &st) && S_ISLNK(st.st_mode))
        return err_set(e, ERR_CONFIG,
                       "history key file %s is a symbolic link (refused: whoever can change"
                       " the link chooses the key): set [history] key_file to the real path",
                       k->key_path);
    if (fd < 0)
        return errno == ENOENT ? ERR_NOTFOUND
                               : err_set(e, ERR_IO, "history key file %s: %s", k->key_path,
                                         strerror(errno));
    if (fstat(fd, &st) || (st.st_mode & 077)) {
        rc = err_set(e, ERR_CONFIG,
                     "history key file %s: readable by others (mode %03o): chmod 600 it",
                     k->key_path, (unsigned)(st.st_mode & 0777));
        goto out;
    }
    n = read(fd, text, sizeof text - 1);
    if (n < 2 * KEY_LEN || (n > 2 * KEY_LEN && (n != 2 * KEY_LEN + 1 || text[2 * KEY_LEN] != '\n'))) {
        rc = err_set(e, ERR_CONFIG, "history key file %s: not 64 hexadecimal digits",
                     k->key_path);
        goto out;
    }
    for (i = 0; i < 2 * KEY_LEN && !rc; i++) {
        const char *h = "0123456789abcdef", *p = strchr(h, text[i]);
        if (!text[i] || !p)
            rc = err_set(e, ERR_CONFIG, "history key file %s: not 64 hexadecimal digits",
                         k->key_path);
        else
            k->key[i / 2] = (uint8_t)(k->key[i / 2] << 4 | (p - h));
    }
    k->have_key = !rc;
out:
    close(fd);
    return rc;
}

int audit_marker_check(struct audit_keys *k, struct store *s, struct err *e)
{
    char mac[65], want[65];
    long long first;
    int rc;

    if (k->marker_ok || !k->have_key)
        return 0;
    if ((rc = store_history_keyed_from(s, &first, mac, e)))
        return rc;
    if (first > 0) {
        audit_marker_mac(k->key, first, want);
        if (strcmp(mac, want))
            return err_set(e, ERR_CONFIG,
                           "history key file %s is not this history's key (its marker does not"
                           " verify): restore the right one",
                           k->key_path);
        k->marker_ok = 1;
    }
    return 0;
}

/* Writes a new random key to key_path (0600, never over an existing
 * file) and keeps it in k. */
static int key_create(struct audit_keys *k, struct err *e)
{
    uint8_t key[KEY_LEN];
    char text[2 * KEY_LEN + 2];
    int fd, rc = 0;

    if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key)
        return err_set(e, ERR_IO, "history key: no randomness: %s", strerror(errno));
    hex_of(key, sizeof key, text);
    text[2 * KEY_LEN] = '\n';
    fd = open(k->key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return err_set(e, ERR_IO, "history key file %s: %s", k->key_path, strerror(errno));
    if (fchmod(fd, 0600) || write(fd, text, sizeof text - 1) != (ssize_t)sizeof text - 1 ||
        fsync(fd))
        rc = err_set(e, ERR_IO, "history key file %s: %s", k->key_path, strerror(errno));
    if (close(fd) && !rc)
        rc = err_set(e, ERR_IO, "history key file %s: %s", k->key_path, strerror(errno));
    if (rc) {
        unlink(k->key_path);
        return rc;
    }
    memcpy(k->key, key, sizeof key);
    k->have_key = 1;
    return 0;
}

/* The id the next row takes: after the newest, or after the purge anchor. */
static int next_id(struct store *s, long long *id, struct err *e)
{
    char hash[65];
    long long last;
    int rc = store_history_last(s, &last, hash, e);

    if (!rc && !last)
        rc = store_history_anchor(s, &last, hash, e);
    *id = last + 1;
    return rc;
}

/* Under the head lock: the key file (unless there is one: a new database
 * sharing it), then in one committed transaction the marker (the next id,
 * MAC'd with the key), then the head file.  A
 * key file without its marker (killed in between) is reported by verify;
 * the marker never exists without the key. */
static int key_create_all(struct audit_keys *k, struct store *s, int *created, struct err *e)
{
    char mac[65];
    long long first;
    int rc, lock, had_key;

    if ((rc = audit_head_lock(k, &lock, e)))
        return rc;
    rc = audit_key_load(k, e); /* another process may have made it meanwhile */
    if (rc && rc != ERR_NOTFOUND)
        goto out;
    had_key = k->have_key;
    if ((rc = store_begin(s, e)))
        goto out;
    rc = store_history_keyed_from(s, &first, mac, e);
    if (!rc && first) { /* made meanwhile, or a chain keyed with a lost key */
        store_rollback(s);
        rc = first < 0 ? err_set(e, ERR_PERMFAIL,
                                 "history_keyed table missing: dropped by hand? (run postier"
                                 " history verify)")
                       : 0;
        goto out;
    }
    if (!rc)
        rc = next_id(s, &first, e);
    /* a database with rows and no marker, the key existing: its marker
     * table was made by this open's migration (an older database), or it
     * is another database (--db) that has no head file of its own yet (a
     * backup from an older postier, whose first open may have been a
     * verify); anything else lost its marker, and is refused */
    if (!rc && had_key && first != 1 && store_schema_opened_at(s) >= 12 &&
        !(!audit_head_in_spool(k) && access(k->head_path, F_OK)))
        rc = err_set(e, ERR_CONFIG,
                     "history key marker missing although the key file %s exists and the"
                     " history has rows: refusing to write rows that would never verify"
                     " (run postier history verify)",
                     k->key_path);
    if (!rc && !had_key)
        rc = key_create(k, e);
    if (!rc) {
        audit_marker_mac(k->key, first, mac);
        rc = store_history_set_keyed_from(s, first, mac, e);
        k->marker_ok = !rc;
    }
    if (!rc)
        rc = store_commit(s, e);
    if (rc) {
        store_rollback(s);
        if (k->have_key && !had_key) {
            unlink(k->key_path);
            k->have_key = 0;
        }
        goto out;
    }
    *created = !had_key;
    rc = audit_head_write_locked(k, s, 1, e);
out:
    audit_head_unlock(lock);
    return rc;
}

int audit_key_ensure(struct store *s, int *created, struct err *e)
{
    struct audit_keys *k = store_attached(s);
    char mac[65];
    long long first;
    int dummy, rc;

    if (!created)
        created = &dummy;
    *created = 0;
    if (!k || !k->key_path[0])
        return 0;
    rc = audit_key_load(k, e);
    if (rc && rc != ERR_NOTFOUND)
        return rc;
    if ((rc = store_history_keyed_from(s, &first, mac, e)))
        return rc;
    if (first) /* keyed: never a new key for a chain keyed with a lost one */
        return k->have_key ? audit_marker_check(k, s, e)
                           : err_set(e, ERR_NOTFOUND,
                                         "history key file %s missing: restore it from backup",
                                         k->key_path);
    if (!k->have_key)
        return key_create_all(k, s, created, e);
    /* the key exists, this database has no marker: an empty one (a new
     * --db FILE sharing the key) gets one, and so does one whose marker
     * table this open made (an older database: no key ever marked it);
     * else keyed rows without a marker would never verify.  Decided under
     * the lock (another postier may be marking it right now). */
    return key_create_all(k, s, created, e);
}

