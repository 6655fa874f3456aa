/* Asset-freeze register (see registry.h): reads the Trésor's JSON feed or a
 * CSV with a `name` column into entries, and indexes the matching key of
 * every name and alias in an open-addressing hash set so that a contact is
 * checked in O(1) whatever the size of the register.  The set and the
 * entries live in one block (struct registry_index); r->v points into it. */
#include "registry.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <strings.h>

#include "csv/csvread.h"
#include "text/text.h"
#include "util/buf.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define MAX_FILE ((size_t)256 << 20) /* the real register is a few MiB */
#define DATE_BUF 24                  /* room for any "%04d-%02d-%02d" */

/* One key of the set: the entry it belongs to and which of its strings. */
struct slot {
    uint64_t hash;
    size_t off;   /* key text in regblock.keys, NUL-terminated */
    size_t entry; /* entry index + 1; 0 for a free slot */
    size_t which; /* 0: the name; i + 1: aliases[i] */
};

struct registry_index {
    struct slot *slots;
    size_t mask;     /* number of slots - 1 (a power of two) */
    struct buf keys; /* every key, one after the other */
    size_t cap;      /* entries allocated in v */
    struct registry_entry v[];
};

static struct registry_index *block_of(const struct registry *r)
{
    return r->index;
}

/* ---- keys ---- */

static int cmp_words(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the key of the n bytes at s to out; scratch is reused. */
static void key_buf(struct buf *out, struct buf *scratch, const char *s, size_t n)
{
    char *small[16], **words = small, *p;
    size_t nwords = 1, i;

    buf_reset(scratch);
    text_fold_words_buf(scratch, s, n);
    if (!scratch->len)
        return;
    for (p = scratch->data; *p; p++)
        nwords += *p == ' ';
    if (nwords > sizeof small / sizeof small[0])
        words = xmalloc(nwords * sizeof *words);
    words[0] = scratch->data;
    for (i = 1, p = scratch->data; *p; p++)
        if (*p == ' ') {
            *p = '\0';
            words[i++] = p + 1;
        }
    qsort(words, nwords, sizeof *words, cmp_words);
    for (i = 0; i < nwords; i++) {
        if (i)
            buf_addc(out, ' ');
        buf_adds(out, words[i]);
    }
    if (words != small)
        free(words);
}

char *registry_key(const char *name)
{
    struct buf out, scratch;

    buf_init(&out, SIZE_MAX / 2); /* no error channel: only OOM can stop it */
    buf_init(&scratch, SIZE_MAX / 2);
    if (name)
        key_buf(&out, &scratch, name, strlen(name));
    buf_release(&scratch);
    return buf_take(&out);
}

static uint64_t hash_key(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

/* The slot holding key, or the free slot where it would go. */
static struct slot *find_slot(const struct registry_index *b, const char *key, uint64_t h)
{
    size_t i = (size_t)h & b->mask;

    for (;; i = (i + 1) & b->mask) {
        struct slot *s = &b->slots[i];
        if (!s->entry)
            return s;
        if (s->hash == h && !strcmp(b->keys.data + s->off, key))
            return s;
    }
}

/* Adds the key of str; the first (entry, string) to have a key keeps it. */
static void index_add(struct registry_index *b, struct buf *key, struct buf *scratch, const char *str,
                      size_t entry, size_t which)
{
    struct slot *s;
    uint64_t h;

    buf_reset(key);
    key_buf(key, scratch, str, strlen(str));
    if (!key->len)
        return; /* an empty key never matches */
    h = hash_key(key->data, key->len);
    s = find_slot(b, key->data, h);
    if (s->entry)
        return;
    s->hash = h;
    s->off = b->keys.len;
    s->entry = entry + 1;
    s->which = which;
    buf_add(&b->keys, key->data, key->len + 1);
}

static void index_build(struct registry_index *b, size_t n)
{
    struct buf key, scratch;
    size_t count = n, size = 16, i, j;

    for (i = 0; i < n; i++)
        count += b->v[i].naliases;
    while (size < 2 * count)
        size *= 2;
    b->slots = xcalloc(size, sizeof *b->slots);
    b->mask = size - 1;
    buf_init(&b->keys, SIZE_MAX / 2);
    buf_init(&key, SIZE_MAX / 2);
    buf_init(&scratch, SIZE_MAX / 2);
    for (i = 0; i < n; i++) {
        index_add(b, &key, &scratch, b->v[i].name, i, 0);
        for (j = 0; j < b->v[i].naliases; j++)
            index_add(b, &key, &scratch, b->v[i].aliases[j], i, j + 1);
    }
    buf_release(&key);
    buf_release(&scratch);
}

/* ---- entries ---- */

static struct registry_index *block_new(void)
{
    struct registry_index *b = xmalloc(sizeof *b + 64 * sizeof b->v[0]);

    memset(b, 0, sizeof *b);
    b->cap = 64;
    return b;
}

/* A zeroed entry at the end of (*bp)->v, growing the block (which moves). */
static struct registry_entry *entry_new(struct registry_index **bp, size_t *n)
{
    struct registry_index *b = *bp;

    if (*n == b->cap) {
        b = xrealloc(b, sizeof *b + 2 * b->cap * sizeof b->v[0]);
        b->cap *= 2;
        *bp = b;
    }
    memset(&b->v[*n], 0, sizeof b->v[0]);
    return &b->v[(*n)++];
}

static void entry_release(struct registry_entry *en)
{
    size_t i;

    free(en->id);
    free(en->name);
    free(en->nature);
    free(en->birth_date);
    for (i = 0; i < en->naliases; i++)
        free(en->aliases[i]);
    free(en->aliases);
}

static void block_free(struct registry_index *b, size_t n)
{
    size_t i;

    if (!b)
        return;
    for (i = 0; i < n; i++)
        entry_release(&b->v[i]);
    free(b->slots);
    buf_release(&b->keys);
    free(b);
}

static void take_aliases(struct registry_entry *en, struct strv *al)
{
    if (!al->n) {
        strv_release(al);
        return;
    }
    en->aliases = al->v;
    en->naliases = al->n;
    strv_init(al);
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return d[m - 1];
}

/* Writes "YYYY", "YYYY-MM" or "YYYY-MM-DD" for y/m/d (0: unknown) into
 * out[DATE_BUF]; the most precise valid form.  Returns 0, or -1 without a year. */
static int format_date(char *out, int y, int m, int d)
{
    if (y < 1000 || y > 9999)
        return -1;
    if (m < 1 || m > 12)
        snprintf(out, DATE_BUF, "%04d", y);
    else if (d < 1 || d > days_in_month(y, m))
        snprintf(out, DATE_BUF, "%04d-%02d", y, m);
    else
        snprintf(out, DATE_BUF, "%04d-%02d-%02d", y, m, d);
    return 0;
}

/* ---- JSON ---- */

/* A date part: a number, or a string of 1 to 4 digits; 0 when absent or bad. */
static int date_part(const json_t *v)
{
    const char *s;
    int x = 0;
    size_t i, ndigits;

    if (json_is_integer(v))
        return json_integer_value(v) > 0 && json_integer_value(v) <= 9999
                   ? (int)json_integer_value(v)
                   : 0;
    if (!json_is_string(v))
        return 0;
    s = json_string_value(v);
    while (*s == ' ')
        s++;
    for (i = 0; s[i] >= '0' && s[i] <= '9'; i++)
        if (i < 4)
            x = x * 10 + (s[i] - '0');
    ndigits = i;
    while (s[i] == ' ')
        i++;
    return s[i] || ndigits > 4 ? 0 : x;
}

/* A non-blank string member of o, or NULL. */
static const char *str_member(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    size_t i;

    for (i = 0; s && s[i]; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return s;
    return NULL;
}

/* PRENOM, ALIAS and DATE_DE_NAISSANCE of RegistreDetail[]. */
static void json_details(const json_t *details, struct registry_entry *en, struct buf *prenom,
                         struct strv *aliases)
{
    const json_t *d, *v;
    size_t i, j;
    char date[DATE_BUF];

    for (i = 0; (d = json_array_get(details, i)); i++) {
        const char *type = json_string_value(json_object_get(d, "TypeChamp"));
        const json_t *vals = json_object_get(d, "Valeur");
        if (!type || !json_is_array(vals))
            continue;
        for (j = 0; (v = json_array_get(vals, j)); j++) {
            const char *s;
            if (!strcmp(type, "PRENOM") && (s = str_member(v, "Prenom")))
                buf_printf(prenom, " %s", s);
            else if (!strcmp(type, "ALIAS") && (s = str_member(v, "Alias")))
                strv_push(aliases, s);
            else if (!strcmp(type, "DATE_DE_NAISSANCE") && !en->birth_date &&
                     !format_date(date, date_part(json_object_get(v, "Annee")),
                                  date_part(json_object_get(v, "Mois")),
                                  date_part(json_object_get(v, "Jour"))))
                en->birth_date = xstrdup(date);
        }
    }
}

/* IdRegistre as text (a number or a non-blank string), or NULL. */
static char *id_string(const json_t *d)
{
    const json_t *id = json_object_get(d, "IdRegistre");
    char num[64];

    if (json_is_integer(id))
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    else if (json_is_real(id))
        snprintf(num, sizeof num, "%.17g", json_real_value(id));
    else
        return xstrdup(str_member(d, "IdRegistre"));
    return xstrdup(num);
}

/* Fills en from PublicationDetail[idx - 1]. */
static int json_entry(const char *path, size_t idx, const json_t *d, struct registry_entry *en,
                      struct err *e)
{
    const char *nom = str_member(d, "Nom"), *nature = str_member(d, "Nature");
    struct strv aliases;
    struct buf b;

    if (!json_is_object(d))
        return err_set(e, ERR_INPUT, "%s: entry %zu: not an object", path, idx);
    en->id = id_string(d);
    if (!nom && en->id)
        return err_set(e, ERR_INPUT, "%s: entry %zu (IdRegistre %s): no Nom", path, idx, en->id);
    if (!nom)
        return err_set(e, ERR_INPUT, "%s: entry %zu: no Nom", path, idx);
    if (!en->id) {
        buf_init(&b, 64);
        buf_printf(&b, "entry %zu", idx);
        en->id = buf_take(&b);
    }
    en->nature = xstrdup(nature);
    buf_init(&b, SIZE_MAX / 2);
    strv_init(&aliases);
    buf_adds(&b, nom);
    json_details(json_object_get(d, "RegistreDetail"), en, &b, &aliases);
    if (!nature || strcasecmp(nature, "Personne physique"))
        buf_truncate(&b, strlen(nom)); /* given names only make a person's name */
    en->name = buf_take(&b);
    take_aliases(en, &aliases);
    return 0;
}

static int load_json(const char *path, const char *data, size_t len, struct registry *out,
                     struct registry_index **bp, struct err *e)
{
    json_error_t je;
    json_t *root = json_loadb(data, len, 0, &je);
    const json_t *pub, *list, *d;
    size_t i;
    int rc = 0;

    if (!root)
        return err_set(e, ERR_INPUT, "%s:%d:%d: not valid JSON: %s", path, je.line, je.column,
                       je.text);
    pub = json_object_get(root, "Publications");
    list = json_object_get(pub, "PublicationDetail");
    if (!json_is_array(list)) {
        rc = err_set(e, ERR_INPUT, "%s: no Publications.PublicationDetail array", path);
        goto out;
    }
    out->published = xstrdup(str_member(pub, "DatePublication"));
    for (i = 0; (d = json_array_get(list, i)); i++) {
        if ((rc = json_entry(path, i + 1, d, entry_new(bp, &out->n), e)))
            goto out;
    }
out:
    json_decref(root);
    return rc;
}

/* ---- CSV ---- */

/* Digits at s[0..n), or -1. */
static int digits(const char *s, size_t n)
{
    int v = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* A real date written YYYY-MM-DD, or a partial YYYY-MM or YYYY. */
static int check_birth(const char *s)
{
    size_t n = strlen(s);
    int y = digits(s, 4), m = 0, d = 0;
    char back[DATE_BUF];

    if (n != 4 && n != 7 && n != 10)
        return -1;
    if (n >= 7 && (s[4] != '-' || (m = digits(s + 5, 2)) < 0))
        return -1;
    if (n == 10 && (s[7] != '-' || (d = digits(s + 8, 2)) < 0))
        return -1;
    /* format_date degrades a bad day or month: a round trip catches it */
    if (format_date(back, y, m, d) || strcmp(back, s))
        return -1;
    return 0;
}

enum { COL_NAME, COL_BIRTH, COL_ALIASES, NCOLS };
static const char *const columns[NCOLS] = {"name", "birth_date", "aliases"};

static int csv_columns(struct csvr *c, long col[NCOLS], struct err *e)
{
    const struct csvr_row *h = csvr_header(c);
    size_t i, k;

    for (k = 0; k < NCOLS; k++)
        col[k] = -1;
    for (i = 0; i < h->nfields; i++)
        for (k = 0; k < NCOLS; k++) {
            if (strcasecmp(h->fields[i], columns[k]))
                continue;
            if (col[k] >= 0)
                return err_set(e, ERR_INPUT, "%s:%ld: column '%s' appears twice", csvr_name(c),
                               h->line, columns[k]);
            col[k] = (long)i;
        }
    if (col[COL_NAME] < 0)
        return err_set(e, ERR_INPUT, "%s:%ld: missing column 'name'", csvr_name(c), h->line);
    return 0;
}

static const char *field(const struct csvr_row *row, long col)
{
    return col >= 0 && (size_t)col < row->nfields ? row->fields[col] : "";
}

static int csv_entry(struct csvr *c, const struct csvr_row *row, const long col[NCOLS],
                     struct registry_entry *en, struct err *e)
{
    char *birth = str_trim(xstrdup(field(row, col[COL_BIRTH])));
    struct strv aliases;
    struct buf id;
    int rc = 0;

    en->name = str_trim(xstrdup(field(row, col[COL_NAME])));
    if (!en->name[0]) {
        rc = err_set(e, ERR_INPUT, "%s:%ld: field 'name': empty", csvr_name(c), row->line);
        goto out;
    }
    if (birth[0] && check_birth(birth)) {
        rc = err_set(e, ERR_INPUT,
                     "%s:%ld: field 'birth_date': '%s' is not a date (YYYY-MM-DD, YYYY-MM or "
                     "YYYY)",
                     csvr_name(c), row->line, birth);
        goto out;
    }
    if (birth[0])
        en->birth_date = birth, birth = NULL;
    buf_init(&id, 64);
    buf_printf(&id, "line %ld", row->line);
    en->id = buf_take(&id);
    strv_init(&aliases);
    strv_split(&aliases, field(row, col[COL_ALIASES]), '|');
    take_aliases(en, &aliases);
out:
    free(birth);
    return rc;
}

static int load_csv(const char *path, const char *data, size_t len, struct registry *out,
                    struct registry_index **bp, struct err *e)
{
    const struct csvr_row *row;
    struct csvr *c = NULL;
    long col[NCOLS];
    int rc;

    if ((rc = csvr_open_mem(path, data, len, &c, e)) || (rc = csv_columns(c, col, e)))
        goto out;
    while ((rc = csvr_next(c, &row, e)) == 1)
        if ((rc = csv_entry(c, row, col, entry_new(bp, &out->n), e)))
            break;
out:
    csvr_free(c);
    return rc;
}

/* ---- loading ---- */

static int read_file(const char *path, struct buf *b, struct err *e)
{
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t n;
    int rc = 0;

    if (!f)
        return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_add(b, chunk, n))
            rc = err_set(e, ERR_TOOBIG, "%s: larger than %zu MiB", path, MAX_FILE >> 20);
    if (!rc && ferror(f))
        rc = err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    fclose(f);
    return rc;
}

int registry_parse(const char *path, const char *text, size_t len, struct registry *out,
                   struct err *e)
{
    struct registry_index *b = block_new();
    const char *json = text, *p;
    int rc;

    memset(out, 0, sizeof *out);
    if (len >= 3 && !strncmp(json, "\xef\xbb\xbf", 3))
        json += 3; /* jansson refuses a BOM; blanks stay, for its line numbers */
    for (p = json; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'; p++)
        ;
    if (*p == '{')
        rc = load_json(path, json, len - (size_t)(json - text), out, &b, e);
    else
        rc = load_csv(path, text, len, out, &b, e);
    if (!rc) {
        index_build(b, out->n);
        out->v = b->v;
        out->index = b;
    } else {
        block_free(b, out->n);
        free(out->published);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

int registry_load(const char *path, struct registry *out, struct err *e)
{
    struct buf data;
    int rc;

    memset(out, 0, sizeof *out);
    buf_init(&data, MAX_FILE);
    if (!(rc = read_file(path, &data, e)))
        rc = registry_parse(path, buf_str(&data), data.len, out, e);
    buf_release(&data);
    return rc;
}

void registry_free(struct registry *r)
{
    if (!r)
        return;
    if (r->index)
        block_free(r->index, r->n);
    free(r->published);
    memset(r, 0, sizeof *r);
}

/* The slot of key, or NULL (also for an empty key). */
static const struct slot *lookup(const struct registry_index *b, const struct buf *key)
{
    const struct slot *s;

    if (!key->len)
        return NULL;
    s = find_slot(b, key->data, hash_key(key->data, key->len));
    return s->entry ? s : NULL;
}

const struct registry_entry *registry_match(const struct registry *r, const char *first,
                                            const char *last, const char *company,
                                            const char **which)
{
    const struct registry_entry *en = NULL;
    const struct slot *sp = NULL, *sc = NULL, *s;
    struct buf full, key, scratch;
    const struct registry_index *b;

    if (which)
        *which = NULL;
    if (!r || !r->index || !r->n)
        return NULL;
    b = block_of(r);
    buf_init(&full, SIZE_MAX / 2);
    buf_init(&key, SIZE_MAX / 2);
    buf_init(&scratch, SIZE_MAX / 2);
    if (first && *first)
        buf_printf(&full, "%s %s", first, last ? last : "");
    else if (last)
        buf_adds(&full, last);
    key_buf(&key, &scratch, buf_str(&full), full.len);
    sp = lookup(b, &key);
    if (company) {
        buf_reset(&key);
        key_buf(&key, &scratch, company, strlen(company));
        sc = lookup(b, &key);
    }
    s = sp && (!sc || sp->entry <= sc->entry) ? sp : sc;
    if (s) {
        en = &r->v[s->entry - 1];
        if (which)
            *which = s->which ? en->aliases[s->which - 1] : en->name;
    }
    buf_release(&full);
    buf_release(&key);
    buf_release(&scratch);
    return en;
}
