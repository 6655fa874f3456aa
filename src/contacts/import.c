/* All-or-nothing CSV imports of parties, addresses and contacts (SPEC §8),
 * and of the seed-004 contact layout.  Every row is validated and every bad
 * row reported with its line; the writes happen in one transaction that is
 * rolled back when any row was bad or on --dry-run. */
#include "contacts.h"

#include <pthread.h>

#include "contacts/validate.h"
#include "csv/csvread.h"
#include "util/date.h"
#include "util/strv.h"
#include "util/xalloc.h"

/* Seed-004 columns (manual 004: export/import of members' contacts). */
enum {
    S4_REF, S4_MEMBER, S4_NAME, S4_NOTE, S4_FUNCTION, S4_MAIL, S4_TEL, S4_FAX, S4_TYPE,
    S4_TYPE_LABEL, S4_COUNT
};
static const char *const s4_names[S4_COUNT] = {
    "Référence", "Libellé membre", "Dénomination", "Note", "Fonction",
    "Mail", "Tel", "Fax", "Type", "Libellé type",
};
static const int s4_required[] = {S4_REF, S4_TYPE};

#define COL_ID (-2) /* the optional "id" column of a contacts export */

struct job {
    struct store *s;
    enum store_kind kind;
    struct csvr *r;
    const struct import_opts *o;
    struct import_report *rep;
    int map[64]; /* csv column -> field index, COL_ID, or seed-004 index */
    size_t ncols;
    struct strv synced; /* parties already cleared by --sync */
    char ended[DATE_LEN + 1]; /* valid_until of contacts --sync ends: yesterday */
};

static void report(struct job *j, long line, const char *msg)
{
    struct buf b;

    j->rep->bad++;
    if (!j->o->on_error || j->rep->bad > (j->o->max_errors ? j->o->max_errors : 100))
        return;
    buf_init(&b, 0);
    buf_printf(&b, "%s:%ld: %s", csvr_name(j->r), line, msg);
    j->o->on_error(j->o->ctx, buf_str(&b));
    buf_release(&b);
}

static int find_name(const char *const *names, size_t n, const char *h)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!strcmp(names[i], h))
            return (int)i;
    return -1;
}

/* Maps the header to fields; ERR_INPUT names an unknown or missing column. */
static int map_header(struct job *j, struct err *e)
{
    const struct csvr_row *h = csvr_header(j->r);
    int seen[STORE_MAX_FIELDS + S4_COUNT] = {0};
    size_t i;

    j->ncols = h->nfields;
    if (h->nfields > sizeof j->map / sizeof j->map[0])
        return err_set(e, ERR_INPUT, "%s:%ld: too many columns", csvr_name(j->r), h->line);
    j->rep->seed004 = j->kind == STORE_CONTACT && find_name(s4_names, S4_COUNT, h->fields[0]) >= 0 &&
                      store_field_index(STORE_CONTACT, h->fields[0]) < 0;
    for (i = 0; i < h->nfields; i++) {
        const char *name = h->fields[i];
        int f = j->rep->seed004 ? find_name(s4_names, S4_COUNT, name)
                                : store_field_index(j->kind, name);
        if (f < 0 && !j->rep->seed004 && j->kind == STORE_CONTACT && !strcmp(name, "id"))
            f = COL_ID;
        if (f == -1)
            return err_set(e, ERR_INPUT, "%s:%ld: unknown column '%s'", csvr_name(j->r), h->line,
                           name);
        if (f >= 0 && seen[f]++)
            return err_set(e, ERR_INPUT, "%s:%ld: column '%s' appears twice", csvr_name(j->r),
                           h->line, name);
        j->map[i] = f;
    }
    if (j->rep->seed004) {
        for (i = 0; i < sizeof s4_required / sizeof s4_required[0]; i++)
            if (!seen[s4_required[i]])
                return err_set(e, ERR_INPUT, "%s:%ld: missing column '%s'", csvr_name(j->r),
                               h->line, s4_names[s4_required[i]]);
    } else if (!seen[0]) {
        return err_set(e, ERR_INPUT, "%s:%ld: missing column '%s'", csvr_name(j->r), h->line,
                       store_field_name(j->kind, 0));
    }
    return 0;
}

/* Seed-004 row -> canonical contact: Dénomination is the last name, the
 * member's label the company, Type the notification flags. */
static int seed004_row(struct job *j, const struct csvr_row *row, struct store_rec *rec,
                       struct err *e)
{
    const char *v[S4_COUNT] = {0};
    struct buf flags;
    unsigned bits;
    size_t i;
    int rc;

    for (i = 0; i < row->nfields && i < j->ncols; i++)
        v[j->map[i]] = row->fields[i];
    store_rec_set(rec, CF_PARTY_REF, v[S4_REF]);
    store_rec_set(rec, CF_LAST_NAME, v[S4_NAME]);
    store_rec_set(rec, CF_COMPANY, v[S4_MEMBER]);
    store_rec_set(rec, CF_NOTE, v[S4_NOTE]);
    store_rec_set(rec, CF_FUNCTION, v[S4_FUNCTION]);
    store_rec_set(rec, CF_EMAIL, v[S4_MAIL]);
    store_rec_set(rec, CF_PHONES, v[S4_TEL]);
    store_rec_set(rec, CF_FAX, v[S4_FAX]);
    rc = validate_seed004_type(v[S4_TYPE] ? v[S4_TYPE] : "", &bits, e);
    if (rc)
        return err_prefix(e, "field 'Type'");
    buf_init(&flags, 0);
    validate_flags_format(&flags, bits);
    store_rec_set(rec, CF_FLAGS, buf_str(&flags));
    buf_release(&flags);
    return 0;
}

static int parse_id(const char *s, long long *id, struct err *e)
{
    char *end;

    *id = 0;
    if (!s || !*s)
        return 0;
    *id = strtoll(s, &end, 10);
    if (*end || *id <= 0)
        return err_set(e, ERR_INPUT, "field 'id': '%s' is not a contact id", s);
    return 0;
}

/* Undoes the export's formula neutralisation ('=..., '+33..., SPEC §7),
 * so that an exported file imports back unchanged. */
static const char *unneutralise(const char *v)
{
    if (v[0] == '\'' && v[1] && strchr("=+-@\t\r", v[1]))
        return v + 1;
    return v;
}

static int canonical_row(struct job *j, const struct csvr_row *row, struct store_rec *rec,
                         struct err *e)
{
    size_t i;

    for (i = 0; i < row->nfields && i < j->ncols; i++) {
        if (j->map[i] == COL_ID) {
            int rc = parse_id(row->fields[i], &rec->id, e);
            if (rc)
                return rc;
        } else {
            store_rec_set(rec, (size_t)j->map[i], unneutralise(row->fields[i]));
        }
    }
    return 0;
}

/* --sync: the first time a party appears, its contacts are removed. */
static int sync_party(struct job *j, const char *ref, struct err *e)
{
    long long n = 0, kept = 0;
    size_t i;
    int rc;

    for (i = 0; i < j->synced.n; i++)
        if (!strcmp(j->synced.v[i], ref))
            return 0;
    strv_push(&j->synced, ref);
    rc = store_contacts_clear_party(j->s, ref, j->ended, &n, &kept, e);
    j->rep->removed += n;
    j->rep->ended += kept;
    return rc;
}

/* An id in a contacts file updates that contact, which must exist and
 * belong to the row's party. */
static int check_update(struct job *j, struct store_rec *rec, struct err *e)
{
    struct store_rec old;
    int rc;

    store_rec_init(&old, STORE_CONTACT);
    rc = store_get(j->s, STORE_CONTACT, rec->id, NULL, &old, e);
    if (!rc && rec->v[CF_PARTY_REF] && strcmp(old.v[CF_PARTY_REF], rec->v[CF_PARTY_REF]))
        rc = err_set(e, ERR_INPUT, "field 'id': contact %lld belongs to party '%s'", rec->id,
                     old.v[CF_PARTY_REF]);
    store_rec_release(&old);
    return rc;
}

/* ---- the pipeline: a reader thread parses, builds and normalises rows
 * (CSV, validation, folding) while the caller's thread writes them to the
 * store, in file order.  Items travel in batches to keep locking rare. */

#define BATCH 256
#define NBATCH 8

struct item {
    struct store_rec rec;
    struct buf search;
    long line;
    int rc;
    struct err err;
};

struct batch {
    struct item it[BATCH];
    size_t n;
};

struct pipe {
    struct job *j;
    struct batch b[NBATCH];
    size_t head, tail; /* batches produced / consumed (mod NBATCH) */
    int done, stop;    /* reader finished / writer gave up */
    int rc;            /* reader's final status (csv error) */
    struct err err;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* Builds and normalises one row into it (reader thread: no store access). */
static void prepare_row(struct job *j, const struct csvr_row *row, struct item *it)
{
    /* the reader reuses what it allocated: cross-thread frees are slow */
    store_rec_clear(&it->rec, j->kind);
    buf_reset(&it->search);
    it->line = row->line;
    err_clear(&it->err);
    it->rc = j->rep->seed004 ? seed004_row(j, row, &it->rec, &it->err)
                             : canonical_row(j, row, &it->rec, &it->err);
    if (!it->rc)
        it->rc = contacts_prepare(&it->rec, &it->search, &it->err);
}

static void *reader(void *arg)
{
    struct pipe *p = arg;
    const struct csvr_row *row;
    struct err e;
    int rc = 1;

    pthread_setname_np(pthread_self(), "postier-csv");
    while (rc == 1) {
        struct batch *b;
        int stop;
        pthread_mutex_lock(&p->mu);
        while (p->head - p->tail == NBATCH && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        b = &p->b[p->head % NBATCH];
        stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        b->n = 0;
        while (b->n < BATCH && (rc = csvr_next(p->j->r, &row, &e)) == 1)
            prepare_row(p->j, row, &b->it[b->n++]);
        pthread_mutex_lock(&p->mu);
        p->head++;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_lock(&p->mu);
    p->done = 1;
    p->rc = rc < 0 ? rc : 0;
    if (rc < 0)
        p->err = e;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Writes one prepared item (writer thread).  Store failures are fatal and
 * returned; bad rows are reported and counted. */
static int apply_item(struct job *j, struct item *it, struct err *e)
{
    struct err re = it->err;
    int rc = it->rc, is_update = it->rec.id != 0;

    j->rep->rows++;
    if (!rc && j->o->sync && it->rec.v[CF_PARTY_REF])
        rc = sync_party(j, it->rec.v[CF_PARTY_REF], &re);
    if (!rc && is_update)
        rc = check_update(j, &it->rec, &re);
    if (!rc)
        rc = contacts_store(j->s, &it->rec, buf_str(&it->search), &re);
    if (rc && (re.code == ERR_DB || re.code == ERR_LOCKED || re.code == ERR_IO)) {
        *e = re;
        return re.code;
    }
    if (rc) {
        report(j, it->line, re.msg);
    } else {
        j->rep->updated += is_update;
        j->rep->added += !is_update;
    }
    return 0;
}

static int writer(struct pipe *p, struct err *e)
{
    int rc = 0;

    for (;;) {
        struct batch *b;
        size_t i;
        pthread_mutex_lock(&p->mu);
        while (p->head == p->tail && !p->done)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->head == p->tail) { /* reader done and everything written */
            pthread_mutex_unlock(&p->mu);
            break;
        }
        b = &p->b[p->tail % NBATCH];
        pthread_mutex_unlock(&p->mu);
        for (i = 0; i < b->n && !rc; i++)
            rc = apply_item(p->j, &b->it[i], e);
        pthread_mutex_lock(&p->mu);
        p->tail++;
        if (rc)
            p->stop = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return rc;
}

static int run_rows(struct job *j, struct err *e)
{
    struct pipe *p = xcalloc(1, sizeof *p);
    pthread_t th;
    size_t i, k;
    int rc;

    p->j = j;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (i = 0; i < NBATCH; i++)
        for (k = 0; k < BATCH; k++) {
            buf_init(&p->b[i].it[k].search, 0);
            store_rec_init(&p->b[i].it[k].rec, j->kind);
        }
    if (pthread_create(&th, NULL, reader, p)) {
        rc = err_set(e, ERR_INTERNAL, "cannot start the import reader thread");
    } else {
        rc = writer(p, e);
        pthread_join(th, NULL);
        if (!rc && p->rc) {
            *e = p->err;
            rc = p->rc;
        }
    }
    for (i = 0; i < NBATCH; i++)
        for (k = 0; k < BATCH; k++) {
            buf_release(&p->b[i].it[k].search);
            store_rec_release(&p->b[i].it[k].rec);
        }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    return rc;
}

int contacts_import(struct store *s, enum store_kind kind, const char *path,
                    const struct import_opts *opts, struct import_report *report_out,
                    struct err *e)
{
    struct job j = {.s = s, .kind = kind, .o = opts, .rep = report_out};
    int rc, in_tx = 0;

    memset(report_out, 0, sizeof *report_out);
    strv_init(&j.synced);
    date_today_plus(-1, j.ended);
    rc = csvr_open(path, &j.r, e);
    if (!rc)
        rc = map_header(&j, e);
    if (!rc && !(rc = store_begin(s, e)))
        in_tx = 1;
    if (!rc)
        rc = run_rows(&j, e);
    if (!rc && report_out->bad)
        rc = err_set(e, ERR_INPUT, "%s: %lld bad row%s, nothing imported", path,
                     report_out->bad, report_out->bad > 1 ? "s" : "");
    if (in_tx) {
        if (rc || opts->dry_run)
            store_rollback(s);
        else
            rc = store_commit(s, e);
    }
    csvr_free(j.r);
    strv_release(&j.synced);
    return rc;
}
