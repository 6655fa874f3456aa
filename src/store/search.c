/* The contact search index: folded text of 64 contacts per row (block =
 * id / 64), entries "\x1e<id>\x1f<text>".  A search reads ~16k rows of a few
 * kilobytes and runs memmem over them, instead of calling a function on a
 * million small rows; a bulk import writes one row per 64 contacts.  The
 * block being filled is kept in memory while a transaction is open and
 * written when another block is touched, at commit, or before a search. */
#include "store-int.h"

#include <stdio.h>

#include "util/buf.h"

#define BLOCK_SHIFT 6
#define REC '\x1e'
#define UNIT '\x1f'

static int load_block(struct store *s, long long blk, struct err *e)
{
    sqlite3_stmt *st = store_stmt(s, ST_SEARCH_GET, "SELECT text FROM search_block WHERE id = ?", e);
    int rc;

    if (!st)
        return e ? e->code : ERR_DB;
    buf_reset(&s->blk);
    sqlite3_bind_int64(st, 1, blk);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        buf_add(&s->blk, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_dberr(s, rc, e, "search index");
    s->blk_id = blk;
    s->blk_dirty = 0;
    return s->blk.err ? err_set(e, ERR_TOOBIG, "search index block too large") : 0;
}

int store_search_flush(struct store *s, struct err *e)
{
    sqlite3_stmt *st;
    int rc;

    if (!s->blk_dirty)
        return 0;
    st = store_stmt(s, ST_SEARCH_PUT,
                    "INSERT OR REPLACE INTO search_block(id, text) VALUES (?, ?)", e);
    if (!st)
        return e ? e->code : ERR_DB;
    sqlite3_bind_int64(st, 1, s->blk_id);
    sqlite3_bind_blob(st, 2, buf_str(&s->blk), (int)s->blk.len, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_dberr(s, rc, e, "search index");
    s->blk_dirty = 0;
    return 0;
}

void store_search_forget(struct store *s)
{
    s->blk_id = -1;
    s->blk_dirty = 0;
    buf_reset(&s->blk);
}

/* Removes the entry of id from the in-memory block, if present. */
static void drop_entry(struct buf *b, long long id)
{
    char key[40];
    const char *p, *end;
    int n = snprintf(key, sizeof key, "%c%lld%c", REC, id, UNIT);

    p = memmem(buf_str(b), b->len, key, (size_t)n);
    if (!p)
        return;
    end = memchr(p + 1, REC, b->len - (size_t)(p + 1 - buf_str(b)));
    if (!end)
        end = buf_str(b) + b->len;
    memmove(b->data + (p - b->data), end, (size_t)(buf_str(b) + b->len - end));
    b->len -= (size_t)(end - p);
    b->data[b->len] = '\0';
}

int store_search_put(struct store *s, long long id, const char *text, int fresh, struct err *e)
{
    long long blk = id >> BLOCK_SHIFT;
    size_t start;
    int rc = 0;

    if (blk != s->blk_id) {
        if ((rc = store_search_flush(s, e)) || (rc = load_block(s, blk, e)))
            return rc;
    }
    if (!fresh) /* a new id has no entry yet: skip the search for it */
        drop_entry(&s->blk, id);
    if (text) {
        buf_printf(&s->blk, "%c%lld%c", REC, id, UNIT);
        start = s->blk.len;
        buf_adds(&s->blk, text);
        /* separators and controls never appear inside an entry */
        for (; start < s->blk.len; start++)
            if ((unsigned char)s->blk.data[start] < 0x20)
                s->blk.data[start] = ' ';
        if (s->blk.err)
            return err_set(e, ERR_TOOBIG, "search index block too large");
    }
    s->blk_dirty = 1;
    if (sqlite3_get_autocommit(s->db))
        rc = store_search_flush(s, e);
    return rc;
}

/* Non-zero when every word occurs in [a, b). */
static int all_words(const char *a, const char *b, char **words, int nwords)
{
    int i;

    for (i = 0; i < nwords; i++)
        if (!memmem(a, (size_t)(b - a), words[i], strlen(words[i])))
            return 0;
    return 1;
}

/* Finds the entries of one block holding every word; calls add for each. */
static int scan_block(struct store *s, sqlite3_stmt *ins, const char *t, size_t n, char **words,
                      int nwords, struct err *e)
{
    const char *end = t + n, *p = t;
    size_t w0 = strlen(words[0]);

    while (p < end && (p = memmem(p, (size_t)(end - p), words[0], w0))) {
        const char *a = p, *b = p;
        while (a > t && *a != REC)
            a--;
        b = memchr(p, REC, (size_t)(end - p));
        if (!b)
            b = end;
        if (*a == REC && all_words(a, b, words + 1, nwords - 1)) {
            int rc;
            sqlite3_bind_int64(ins, 1, strtoll(a + 1, NULL, 10));
            rc = sqlite3_step(ins);
            sqlite3_reset(ins);
            if (rc != SQLITE_DONE)
                return store_dberr(s, rc, e, "search");
        }
        p = b;
    }
    return 0;
}

int store_search_hits(struct store *s, char **words, int nwords, struct err *e)
{
    sqlite3_stmt *st = NULL, *ins = NULL;
    int rc;

    if ((rc = store_search_flush(s, e)))
        return rc;
    rc = store_exec(s, "CREATE TEMP TABLE IF NOT EXISTS hits(id INTEGER PRIMARY KEY);"
                       "DELETE FROM temp.hits;", e);
    if (rc)
        return rc;
    if (sqlite3_prepare_v2(s->db, "SELECT text FROM search_block", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO temp.hits(id) VALUES (?)", -1, &ins,
                           NULL) != SQLITE_OK) {
        rc = store_dberr(s, SQLITE_ERROR, e, "search");
        goto out;
    }
    while (!rc && (rc = sqlite3_step(st)) == SQLITE_ROW)
        rc = scan_block(s, ins, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                        words, nwords, e);
    if (rc == SQLITE_DONE)
        rc = 0;
    else if (rc > 0)
        rc = store_dberr(s, rc, e, "search");
out:
    sqlite3_finalize(st);
    sqlite3_finalize(ins);
    return rc;
}
