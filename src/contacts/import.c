/* All-or-nothing CSV imports of parties, addresses and contacts (SPEC §8),
 * and of the seed-004 contact layout.  Every row is validated and every bad
 * row reported with its line; the writes happen in one transaction that is
 * rolled back when any row was bad or on --dry-run. */
#include "contacts.h"

#include <pthread.h>
#include <strings.h>

#include "audit/audit.h"
#include "contacts/validate.h"
#include "csv/csvread.h"
#include "text/text.h"
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
/* The contact fields each seed-004 column sets (Dénomination is the whole
 * name: first and last name). */
static const int s4_fields[S4_COUNT][2] = {
    [S4_REF] = {CF_PARTY_REF, -1}, [S4_MEMBER] = {CF_COMPANY, -1},
    [S4_NAME] = {CF_LAST_NAME, CF_FIRST_NAME}, [S4_NOTE] = {CF_NOTE, -1},
    [S4_FUNCTION] = {CF_FUNCTION, -1}, [S4_MAIL] = {CF_EMAIL, -1},
    [S4_TEL] = {CF_PHONES, -1}, [S4_FAX] = {CF_FAX, -1}, [S4_TYPE] = {CF_FLAGS, -1},
    [S4_TYPE_LABEL] = {-1, -1},
};

#define COL_ID (-2) /* the optional "id" column of a contacts export */

struct job {
    struct store *s;
    enum store_kind kind;
    struct csvr *r;
    const struct import_opts *o;
    struct import_report *rep;
    int map[64]; /* csv column -> field index, COL_ID, or seed-004 index */
    size_t ncols;
    char present[STORE_MAX_FIELDS]; /* the contact fields the file has */
    int merging; /* contacts with an id column or --sync: rows may update */
    struct synced *synced; /* --sync: each party met, with its contacts */
    size_t nsynced;
    char today[DATE_LEN + 1];
    char ended[DATE_LEN + 1]; /* valid_until of contacts --sync ends: yesterday */
};

/* A current contact of a party --sync replaces, and whether a row of the
 * file named it. */
struct candidate {
    long long id;
    char *emails; /* normalised, ';'-separated, or NULL */
    char *name;   /* folded display name */
    int claimed;
};

struct synced {
    char *ref;
    struct candidate *c;
    size_t n;
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
        j->merging |= f == COL_ID;
        if (j->rep->seed004 && s4_fields[f][0] >= 0)
            j->present[s4_fields[f][0]] = 1;
        if (j->rep->seed004 && s4_fields[f][1] >= 0)
            j->present[s4_fields[f][1]] = 1;
        if (!j->rep->seed004 && f >= 0)
            j->present[f] = 1;
    }
    j->merging |= j->kind == STORE_CONTACT && j->o->sync;
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

/* ---- updates: a row with an id, or one --sync matches, changes only the
 * fields of the file's columns; --sync ends or deletes what it no longer
 * names (seed 004: the file replaces the member's contacts). */

/* The folded display name of a contact record; caller frees. */
static char *folded_name(const struct store_rec *r)
{
    char name[512];
    char *f;

    contacts_display_name(r, name, sizeof name);
    f = text_fold(name);
    if (f)
        str_trim(f);
    return f;
}

static int collect(void *ctx, const struct store_rec *r)
{
    struct job *j = ctx;
    struct synced *p = &j->synced[j->nsynced - 1];
    struct candidate *c;

    if (r->v[CF_VALID_UNTIL] && strcmp(r->v[CF_VALID_UNTIL], j->today) < 0)
        return 0; /* historical already: not the file's to replace */
    p->c = xrealloc(p->c, (p->n + 1) * sizeof *p->c);
    c = &p->c[p->n++];
    c->id = r->id;
    c->emails = r->v[CF_EMAIL] ? xstrdup(r->v[CF_EMAIL]) : NULL;
    c->name = folded_name(r);
    c->claimed = 0;
    return 0;
}

/* --sync: the first time a party appears, its current contacts become
 * candidates for the file's rows.  Returns the party's entry. */
static int sync_party(struct job *j, const char *ref, struct synced **out, struct err *e)
{
    struct store_query q = {.party_ref = ref};
    size_t i;

    for (i = 0; i < j->nsynced; i++)
        if (!strcmp(j->synced[i].ref, ref)) {
            *out = &j->synced[i];
            return 0;
        }
    j->synced = xrealloc(j->synced, (j->nsynced + 1) * sizeof *j->synced);
    *out = &j->synced[j->nsynced++];
    memset(*out, 0, sizeof **out);
    (*out)->ref = xstrdup(ref);
    return store_list(j->s, STORE_CONTACT, &q, collect, j, NULL, e);
}

/* Does any address of the ';'-separated list a appear in list b (any case)? */
static int share_email(const char *a, const char *b)
{
    while (a && *a && b) {
        size_t n = strcspn(a, ";");
        const char *p = b;
        while (*p) {
            size_t m = strcspn(p, ";");
            if (m == n && !strncasecmp(a, p, n))
                return 1;
            p += m + (p[m] == ';');
        }
        a += n + (a[n] == ';');
    }
    return 0;
}

/* --sync, a row without id: the party's unclaimed current contact with
 * one of its e-mails, else with its name, becomes the row's id. */
static void sync_match(struct synced *p, struct store_rec *r)
{
    struct candidate *hit = NULL;
    struct buf emails;
    struct err ignored;
    char *name;
    size_t i;

    buf_init(&emails, 0);
    if (r->v[CF_EMAIL] && !validate_emails(r->v[CF_EMAIL], &emails, &ignored))
        for (i = 0; i < p->n && !hit; i++)
            if (!p->c[i].claimed && share_email(buf_str(&emails), p->c[i].emails))
                hit = &p->c[i];
    buf_release(&emails);
    name = hit ? NULL : folded_name(r);
    for (i = 0; name && *name && i < p->n && !hit; i++)
        if (!p->c[i].claimed && p->c[i].name && !strcmp(name, p->c[i].name))
            hit = &p->c[i];
    free(name);
    if (hit) {
        hit->claimed = 1;
        r->id = hit->id;
    }
}

/* An id in a contacts file updates that contact, which must exist and
 * belong to the row's party; old receives it as stored. */
static int check_update(struct job *j, struct store_rec *rec, struct store_rec *old,
                        struct synced *p, struct err *e)
{
    size_t i;
    int rc;

    rc = store_get(j->s, STORE_CONTACT, rec->id, NULL, old, e);
    if (!rc && rec->v[CF_PARTY_REF] && strcmp(old->v[CF_PARTY_REF], rec->v[CF_PARTY_REF]))
        rc = err_set(e, ERR_INPUT, "field 'id': contact %lld belongs to party '%s'", rec->id,
                     old->v[CF_PARTY_REF]);
    for (i = 0; p && i < p->n; i++)
        if (p->c[i].id == rec->id)
            p->c[i].claimed = 1;
    return rc;
}

/* The fields the file has no column for keep their value.  A seed-004
 * Dénomination that still reads as the contact's name keeps its split
 * into first and last name. */
static void keep_absent(struct job *j, struct store_rec *rec, const struct store_rec *old)
{
    size_t i;

    for (i = 0; i < CF_COUNT; i++)
        if (!j->present[i])
            store_rec_set(rec, i, old->v[i]);
    if (j->rep->seed004 && j->present[CF_LAST_NAME]) {
        char *a = folded_name(old), *b = folded_name(rec);
        if (a && b && !strcmp(a, b)) {
            store_rec_set(rec, CF_LAST_NAME, old->v[CF_LAST_NAME]);
            store_rec_set(rec, CF_FIRST_NAME, old->v[CF_FIRST_NAME]);
        }
        free(a);
        free(b);
    }
}

/* A row of an import that may update (writer thread): finds the contact
 * it updates, completes it with the stored fields, then normalises it. */
static int merge_row(struct job *j, struct store_rec *rec, struct buf *search,
                     struct store_rec *old, struct err *e)
{
    struct synced *p = NULL;
    int rc = 0;

    if (j->o->sync && rec->v[CF_PARTY_REF])
        rc = sync_party(j, rec->v[CF_PARTY_REF], &p, e);
    if (!rc && p && !rec->id)
        sync_match(p, rec);
    if (!rc && rec->id && !(rc = check_update(j, rec, old, p, e)))
        keep_absent(j, rec, old);
    if (!rc)
        rc = contacts_prepare(rec, search, e);
    return rc;
}

static int changed(struct job *j, const char *event, long long id, const char *ref,
                   const char *detail, struct err *e)
{
    if (!j->o->on_change || !*detail)
        return 0;
    return j->o->on_change(j->o->ctx, event, id, ref, detail, e);
}

/* --sync, after the last row: the candidates no row named are deleted,
 * or ended yesterday when something references them. */
static int sync_finish(struct job *j, struct err *e)
{
    struct store_rec old, now;
    struct buf diff;
    size_t i, k;
    int rc = 0;

    buf_init(&diff, 0);
    store_rec_init(&old, STORE_CONTACT);
    store_rec_init(&now, STORE_CONTACT);
    for (i = 0; !rc && i < j->nsynced; i++)
        for (k = 0; !rc && k < j->synced[i].n; k++) {
            const struct candidate *c = &j->synced[i].c[k];
            if (c->claimed)
                continue;
            store_rec_clear(&old, STORE_CONTACT);
            store_rec_clear(&now, STORE_CONTACT);
            buf_reset(&diff);
            if (!(rc = store_contact_rm(j->s, c->id, e))) {
                j->rep->removed++;
                buf_printf(&diff, "not in %s", csvr_name(j->r));
                rc = changed(j, "contact_removed", c->id, j->synced[i].ref, buf_str(&diff), e);
            } else if (rc == ERR_INUSE && !(rc = store_get(j->s, STORE_CONTACT, c->id, NULL,
                                                           &old, e)) &&
                       !(rc = store_get(j->s, STORE_CONTACT, c->id, NULL, &now, e))) {
                store_rec_set(&now, CF_VALID_UNTIL, j->ended);
                if (!(rc = contacts_save(j->s, &now, e))) {
                    j->rep->ended++;
                    contacts_diff(&old, &now, &diff);
                    rc = changed(j, "contact_ended", c->id, j->synced[i].ref, buf_str(&diff), e);
                }
            }
        }
    store_rec_release(&old);
    store_rec_release(&now);
    buf_release(&diff);
    return rc;
}

static void sync_release(struct job *j)
{
    size_t i, k;

    for (i = 0; i < j->nsynced; i++) {
        for (k = 0; k < j->synced[i].n; k++) {
            free(j->synced[i].c[k].emails);
            free(j->synced[i].c[k].name);
        }
        free(j->synced[i].c);
        free(j->synced[i].ref);
    }
    free(j->synced);
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
    if (!it->rc && !j->merging) /* else the writer, once it knows the stored fields */
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
    struct store_rec old;
    struct buf diff;
    int rc = it->rc, is_update;

    j->rep->rows++;
    store_rec_init(&old, STORE_CONTACT);
    buf_init(&diff, 0);
    if (!rc && j->merging)
        rc = merge_row(j, &it->rec, &it->search, &old, &re);
    is_update = it->rec.id != 0;
    if (!rc)
        rc = contacts_store(j->s, &it->rec, buf_str(&it->search), &re);
    if (!rc && is_update) {
        contacts_diff(&old, &it->rec, &diff);
        rc = changed(j, "contact_edited", it->rec.id, it->rec.v[CF_PARTY_REF], buf_str(&diff),
                     &re);
    }
    store_rec_release(&old);
    if (rc && (re.code == ERR_DB || re.code == ERR_LOCKED || re.code == ERR_IO ||
               re.code == ERR_TEMPFAIL)) {
        *e = re;
        rc = re.code;
    } else if (rc) {
        report(j, it->line, re.msg);
        rc = 0;
    } else if (!is_update) {
        j->rep->added++;
    } else if (diff.len) { /* a field really changed */
        j->rep->updated++;
    } else {
        j->rep->unchanged++;
    }
    buf_release(&diff);
    return rc;
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

/* The import's own history row, in its transaction. */
static int record_import(struct store *s, enum store_kind kind, const char *path,
                         const struct import_report *rep, struct err *e)
{
    char detail[200];
    struct store_history h = {.event = "imported", .reason = path, .server_reply = detail};

    snprintf(detail, sizeof detail,
             "%s: %lld rows, %lld added, %lld updated, %lld removed, %lld ended",
             kind == STORE_CONTACT ? "contacts" : kind == STORE_PARTY ? "parties" : "addresses",
             rep->rows, rep->added, rep->updated, rep->removed, rep->ended);
    return audit_append(s, &h, e);
}

int contacts_import(struct store *s, enum store_kind kind, const char *path,
                    const struct import_opts *opts, struct import_report *report_out,
                    struct err *e)
{
    struct job j = {.s = s, .kind = kind, .o = opts, .rep = report_out};
    int rc, in_tx = 0;

    memset(report_out, 0, sizeof *report_out);
    date_today(j.today);
    date_today_plus(-1, j.ended);
    rc = csvr_open(path, &j.r, e);
    if (!rc)
        rc = map_header(&j, e);
    if (!rc && !(rc = store_begin(s, e)))
        in_tx = 1;
    if (!rc)
        rc = run_rows(&j, e);
    if (!rc && !report_out->bad && opts->sync)
        rc = sync_finish(&j, e);
    if (!rc && report_out->bad)
        rc = err_set(e, ERR_INPUT, "%s: %lld bad row%s, nothing imported", path,
                     report_out->bad, report_out->bad > 1 ? "s" : "");
    if (!rc && in_tx && opts->record && !opts->dry_run)
        rc = record_import(s, kind, path, report_out, e);
    if (in_tx) {
        if (rc || opts->dry_run)
            store_rollback(s);
        else
            rc = store_commit(s, e);
    }
    if (rc == ERR_TEMPFAIL) /* a full disk: rolled back */
        err_append(e, ", nothing imported");
    csvr_free(j.r);
    sync_release(&j);
    return rc;
}
