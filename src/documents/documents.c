/* Documents: type table, CSV import into the store, and the free fields
 * (a JSON object) read back for templates.  A CSV cell that holds a JSON
 * array or object (e.g. the invoice lines) is stored as structure so that
 * templates can iterate it. */
#include "documents.h"

#include <ctype.h>
#include <jansson.h>
#include <unistd.h>

#include "audit/audit.h"
#include "contacts/validate.h"
#include "csv/csvread.h"
#include "util/buf.h"
#include "util/date.h"
#include "util/path.h"
#include "util/strv.h"
#include "util/xalloc.h"

static const struct {
    const char *type;
    unsigned flag;
} types[] = {
    {"invoice", FLAG_INVOICE},
    {"payment_reminder", FLAG_PAYMENT_REMINDER},
    {"due_notice", FLAG_DUE_NOTICE},
    {"document_reminder", FLAG_DOCUMENT_REMINDER},
    {"claim_settlement", FLAG_CLAIM_SETTLEMENT},
    {"order", FLAG_ORDER},
    {"after_sales", FLAG_AFTER_SALES},
};

unsigned documents_type_flag(const char *type)
{
    size_t i;

    for (i = 0; type && i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(types[i].type, type))
            return types[i].flag;
    return 0;
}

int documents_type_check(const char *type, struct err *e)
{
    if (documents_type_flag(type))
        return 0;
    return err_set(e, ERR_INPUT,
                   "'%s' is not a document type (invoice, payment_reminder, due_notice, "
                   "document_reminder, claim_settlement, order, after_sales)",
                   type ? type : "");
}

enum { COL_REF, COL_PARTY, COL_CONTACT, COL_TO, COL_ADDRESS, COL_ATTACHMENT, COL_ESIGN, NFIXED };
static const char *const fixed[NFIXED] = {"ref",     "party_ref",  "contact", "to",
                                          "address", "attachment", "esign"};

struct dimport {
    struct store *s;
    const char *type;
    struct csvr *r;
    int map[256]; /* column -> fixed index, or -1 for a free field */
    size_t ncols;
    long long first_new; /* the first document this file inserted, 0: none yet */
    json_t *corrected;   /* the refs this file corrected (a set) */
};

/* What import_row did with its row. */
enum { ROW_ADDED, ROW_UPDATED, ROW_UNCHANGED };

static int map_columns(struct dimport *d, struct err *e)
{
    const struct csvr_row *h = csvr_header(d->r);
    int seen[NFIXED] = {0};
    size_t i, k;

    if (h->nfields > sizeof d->map / sizeof d->map[0])
        return err_set(e, ERR_INPUT, "%s:%ld: too many columns", csvr_name(d->r), h->line);
    d->ncols = h->nfields;
    for (i = 0; i < h->nfields; i++) {
        d->map[i] = -1;
        for (k = 0; k < NFIXED; k++)
            if (!strcmp(h->fields[i], fixed[k]))
                d->map[i] = (int)k;
        if (d->map[i] >= 0 && seen[d->map[i]]++)
            return err_set(e, ERR_INPUT, "%s:%ld: column '%s' appears twice", csvr_name(d->r),
                           h->line, h->fields[i]);
        if (d->map[i] < 0 && !h->fields[i][0])
            return err_set(e, ERR_INPUT, "%s:%ld: column %zu has no name", csvr_name(d->r),
                           h->line, i + 1);
    }
    for (k = 0; k < 2; k++)
        if (!seen[k])
            return err_set(e, ERR_INPUT, "%s:%ld: missing column '%s'", csvr_name(d->r), h->line,
                           fixed[k]);
    return 0;
}

/* A free field: JSON structure when the cell is a JSON array or object. */
/* An amount as French spreadsheets write it ("1 234,56 €", "1.234,56",
 * "1234,56") or as machines do ("1234.56", "1,234.56") into out as
 * "1234.56", the form |money reads: spaces (also no-break and narrow
 * no-break) and a trailing € or EUR dropped; of '.' and ',' the last is
 * the decimal mark when both appear, a lone one is, and several of the
 * same are thousands separators.  ERR_INPUT when no number is left. */
static int normalize_amount(const char *name, const char *v, char *out, size_t n, struct err *e)
{
    size_t len = 0, dots = 0, commas = 0, i, k;
    char digits[64], mark = 0;
    const char *p = v, *last = NULL;

    while (*p && len < sizeof digits - 1) {
        if (*p == ' ' || *p == '\t')
            p++;
        else if (!strncmp(p, "\xC2\xA0", 2))
            p += 2; /* U+00A0 */
        else if (!strncmp(p, "\xE2\x80\xAF", 3) || !strncmp(p, "\xE2\x80\x89", 3))
            p += 3; /* U+202F, U+2009 */
        else if (!strcmp(p, "\xE2\x82\xAC") || !strcasecmp(p, "EUR"))
            break; /* the currency, last */
        else
            digits[len++] = *p++;
    }
    digits[len] = '\0';
    if (*p && strcmp(p, "\xE2\x82\xAC") && strcasecmp(p, "EUR"))
        len = 0;
    for (i = 0; i < len; i++) {
        if (digits[i] == '.' || digits[i] == ',') {
            dots += digits[i] == '.', commas += digits[i] == ',';
            last = digits + i;
        } else if (!isdigit((unsigned char)digits[i]) && !(i == 0 && strchr("+-", digits[i]))) {
            len = 0;
        }
    }
    if (last && ((dots && commas) || (*last == '.' ? dots : commas) == 1))
        mark = *last; /* the decimal mark; the other marks group thousands */
    for (i = k = 0; i < len && k < n - 1; i++)
        if (digits[i] == '.' || digits[i] == ',') {
            if (digits + i == last && mark)
                out[k++] = '.';
        } else {
            out[k++] = digits[i];
        }
    out[k] = '\0';
    if (!len || !k || !isdigit((unsigned char)out[k - 1]) ||
        !isdigit((unsigned char)out[strspn(out, "+-")]))
        return err_set(e, ERR_INPUT, "field '%s': '%s' is not an amount (e.g. 1234.56)", name, v);
    return 0;
}

/* A date as YYYY-MM-DD, or the French DD/MM/YYYY turned into it. */
static int normalize_date(const char *name, const char *v, char *out, size_t n, struct err *e)
{
    struct err de;

    if (strlen(v) == 10 && v[2] == '/' && v[5] == '/')
        snprintf(out, n, "%.4s-%.2s-%.2s", v + 6, v + 3, v);
    else
        snprintf(out, n, "%s", v);
    if (date_check(out, &de))
        return err_set(e, ERR_INPUT, "field '%s': '%s' is not a date (YYYY-MM-DD or DD/MM/YYYY)",
                       name, v);
    return 0;
}

static int add_field(json_t *obj, const char *name, const char *v, struct err *e)
{
    json_t *val;
    char norm[64];
    int rc;

    /* the fields templates write with |money and |date: checked now, not
     * found unreadable by the run, message after message */
    if (*v && (!strcmp(name, "amount") || str_ends_with(name, "_amount"))) {
        if ((rc = normalize_amount(name, v, norm, sizeof norm, e)))
            return rc;
        v = norm;
    } else if (*v && (!strcmp(name, "date") || str_ends_with(name, "_date"))) {
        if ((rc = normalize_date(name, v, norm, sizeof norm, e)))
            return rc;
        v = norm;
    }

    if (v[0] == '[' || v[0] == '{') {
        json_error_t je;
        val = json_loads(v, JSON_REJECT_DUPLICATES, &je);
        if (!val)
            return err_set(e, ERR_INPUT, "field '%s': not valid JSON: %s", name, je.text);
    } else {
        val = json_string(v);
        if (!val)
            return err_set(e, ERR_INPUT, "field '%s': not valid UTF-8", name);
    }
    json_object_set_new(obj, name, val);
    return 0;
}

static int parse_fixed(struct store_document *doc, int k, const char *v, struct err *e)
{
    char *end;

    switch (k) {
    case COL_REF: doc->ref = v; break;
    case COL_PARTY: doc->party_ref = v; break;
    case COL_CONTACT:
        doc->contact_id = strtoll(v, &end, 10);
        if (*end || doc->contact_id <= 0)
            return err_set(e, ERR_INPUT, "field 'contact': '%s' is not a contact id", v);
        break;
    case COL_TO:
        if (strcmp(v, "contacts") && strcmp(v, "main") && strcmp(v, "address"))
            return err_set(e, ERR_INPUT, "field 'to': '%s' is not contacts, main or address", v);
        doc->to_level = v;
        break;
    case COL_ADDRESS: doc->address_label = v; break;
    case COL_ATTACHMENT: /* it may come later (see check_attachment), never from outside */
        if (path_check_relative(v, e))
            return err_prefix(e, "field 'attachment'");
        doc->attachment = v;
        break;
    case COL_ESIGN:
        if (strcmp(v, "0") && strcmp(v, "1"))
            return err_set(e, ERR_INPUT, "field 'esign': '%s' is not 0 or 1", v);
        doc->esign = v[0] == '1';
        break;
    }
    return 0;
}

/* A document as it is stored, copied out of store_document_find. */
struct olddoc {
    char *party_ref, *to_level, *address_label, *attachment, *fields, *processed_at;
    long long id, contact_id;
    int esign;
};

static int keep_old(void *ctx, const struct store_document *sd)
{
    struct olddoc *o = ctx;

    o->id = sd->id;
    o->contact_id = sd->contact_id;
    o->esign = sd->esign;
    o->party_ref = xstrdup(sd->party_ref);
    o->to_level = xstrdup(sd->to_level);
    o->address_label = xstrdup(sd->address_label);
    o->attachment = xstrdup(sd->attachment);
    o->fields = xstrdup(sd->fields);
    o->processed_at = xstrdup(sd->processed_at);
    return 0;
}

static void olddoc_release(struct olddoc *o)
{
    free(o->party_ref);
    free(o->to_level);
    free(o->address_label);
    free(o->attachment);
    free(o->fields);
    free(o->processed_at);
}

/* "name: old → new" appended to out (after "; ") when the two differ. */
static void diff_one(struct buf *out, const char *name, const char *a, const char *b)
{
    a = a && *a ? a : "(empty)";
    b = b && *b ? b : "(empty)";
    if (strcmp(a, b))
        buf_printf(out, "%s%s: %s → %s", out->len ? "; " : "", name, a, b);
}

/* A free field's text as shown in a diff (NULL: absent). */
static char *field_text(json_t *v)
{
    if (!v)
        return NULL;
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

static void diff_fields(struct buf *out, const char *old_json, const char *new_json)
{
    json_t *a = json_loads(old_json ? old_json : "{}", 0, NULL);
    json_t *b = json_loads(new_json, 0, NULL);
    json_t *pass[2] = {a, b};
    const char *name;
    json_t *v;
    size_t k;

    for (k = 0; k < 2; k++)
        json_object_foreach(pass[k], name, v) {
            char *x, *y;
            if (k == 1 && json_object_get(a, name))
                continue; /* shown by the first pass */
            x = field_text(json_object_get(a, name));
            y = field_text(json_object_get(b, name));
            diff_one(out, name, x, y);
            free(x);
            free(y);
        }
    json_decref(a);
    json_decref(b);
}

/* What correcting old into doc changes, as contact edits say it. */
static void diff_document(struct buf *out, const struct olddoc *o, const struct store_document *doc)
{
    char a[24], b[24];

    diff_one(out, "party_ref", o->party_ref, doc->party_ref);
    snprintf(a, sizeof a, "%lld", o->contact_id);
    snprintf(b, sizeof b, "%lld", doc->contact_id);
    diff_one(out, "contact", o->contact_id ? a : NULL, doc->contact_id ? b : NULL);
    diff_one(out, "to", o->to_level, doc->to_level ? doc->to_level : "contacts");
    diff_one(out, "address", o->address_label, doc->address_label);
    diff_one(out, "attachment", o->attachment, doc->attachment);
    diff_one(out, "esign", o->esign ? "1" : "0", doc->esign ? "1" : "0");
    diff_fields(out, o->fields, doc->fields);
}

/* Why the stored document o cannot be corrected any more (0: it can):
 * none of its messages may be sent or on its way. */
static int frozen(const struct olddoc *o, const struct store_document_sends *n,
                  const struct store_document *doc, struct err *e)
{
    if (n->sent)
        return err_set(e, ERR_INPUT,
                       "field 'ref': %s '%s' was already sent to %lld recipient%s: "
                       "a document sent cannot be changed",
                       doc->type, doc->ref, n->sent, n->sent > 1 ? "s" : "");
    if (n->pending)
        return err_set(e, ERR_INPUT,
                       "field 'ref': %s '%s' is on its way to %lld recipient%s (queued or "
                       "deferred): a document being sent cannot be changed",
                       doc->type, doc->ref, n->pending, n->pending > 1 ? "s" : "");
    if (!n->failed && o->processed_at)
        return err_set(e, ERR_INPUT,
                       "field 'ref': %s '%s' was already processed by the run of %s, "
                       "which had no message to send: a processed document cannot be changed",
                       doc->type, doc->ref, o->processed_at);
    return 0;
}

/* doc's (type, ref) exists: it is corrected in place when none of its
 * messages was sent or is on its way (its failed deliveries stay, for
 * `retry`), with a history row saying what changed. */
static int correct(struct dimport *d, struct store_document *doc, int *did, struct err *e)
{
    struct olddoc o = {0};
    struct store_document_sends n;
    struct store_history h = {.event = "document_corrected"};
    struct buf diff;
    int rc;

    buf_init(&diff, 0);
    if ((rc = store_document_find(d->s, doc->type, doc->ref, &n, keep_old, &o, e)))
        goto out;
    if ((d->first_new && o.id >= d->first_new) || json_object_get(d->corrected, doc->ref)) {
        rc = err_set(e, ERR_INPUT, "field 'ref': '%s' appears more than once in the file",
                     doc->ref);
        goto out;
    }
    json_object_set_new(d->corrected, doc->ref, json_true());
    if ((rc = frozen(&o, &n, doc, e)))
        goto out;
    diff_document(&diff, &o, doc);
    *did = diff.len ? ROW_UPDATED : ROW_UNCHANGED;
    if (!diff.len)
        goto out;
    doc->id = o.id;
    h.document_type = doc->type;
    h.document_ref = doc->ref;
    h.party_ref = doc->party_ref;
    h.server_reply = buf_str(&diff);
    if (!(rc = store_document_update(d->s, doc, e)))
        rc = audit_append(d->s, &h, e);
out:
    buf_release(&diff);
    olddoc_release(&o);
    return rc;
}

static int import_row(struct dimport *d, const struct csvr_row *row, int *did, struct err *e)
{
    const struct csvr_row *h = csvr_header(d->r);
    struct store_document doc = {.type = d->type};
    json_t *fields = json_object();
    size_t i;
    int rc = 0;

    for (i = 0; i < row->nfields && i < d->ncols && !rc; i++) {
        const char *v = row->fields[i];
        if (!*v && d->map[i] >= 0)
            continue; /* an empty free field is kept: "is empty", not absent */
        rc = d->map[i] >= 0 ? parse_fixed(&doc, d->map[i], v, e)
                            : add_field(fields, h->fields[i], v, e);
    }
    if (!rc && !doc.ref)
        rc = err_set(e, ERR_INPUT, "field 'ref': is required");
    if (!rc && !doc.party_ref)
        rc = err_set(e, ERR_INPUT, "field 'party_ref': is required");
    if (!rc && doc.to_level && !strcmp(doc.to_level, "address") && !doc.address_label)
        rc = err_set(e, ERR_INPUT, "field 'address': required when to is 'address'");
    if (!rc) {
        char *json = json_dumps(fields, JSON_COMPACT | JSON_PRESERVE_ORDER);
        doc.fields = json;
        *did = ROW_ADDED;
        rc = store_document_insert(d->s, &doc, e);
        if (!rc && !d->first_new)
            d->first_new = doc.id;
        if (rc == ERR_EXISTS)
            rc = correct(d, &doc, did, e);
        free(json);
    }
    json_decref(fields);
    return rc;
}

static void report_bad(const struct import_opts *o, struct import_report *rep, const char *file,
                       long line, const char *msg)
{
    struct buf b;

    rep->bad++;
    if (!o->on_error || rep->bad > (o->max_errors ? o->max_errors : 100))
        return;
    buf_init(&b, 0);
    buf_printf(&b, "%s:%ld: %s", file, line, msg);
    o->on_error(o->ctx, buf_str(&b));
    buf_release(&b);
}

#define MAX_WARNINGS 20

/* The row's attachment opened where `run` will open it (inside the
 * documents folder, see util/path.h): one that does not exist yet is a
 * warning, as the PDFs are often written after the list; one that `run`
 * would refuse (a symbolic link, a FIFO, a device, a folder) a bad row. */
static void check_attachment(const struct dimport *d, const struct import_opts *o,
                             struct import_report *rep, const char *file,
                             const struct csvr_row *row)
{
    const char *dir = o->documents_dir ? o->documents_dir : ".";
    const char *v = NULL;
    struct buf msg;
    struct err e;
    size_t i;
    int fd;

    for (i = 0; i < row->nfields && i < d->ncols; i++)
        if (d->map[i] == COL_ATTACHMENT && *row->fields[i])
            v = row->fields[i];
    if (!v)
        return;
    err_clear(&e);
    if (path_open_in(dir, v, &fd, &e) == 0) {
        close(fd);
        return;
    }
    if (e.code != ERR_NOTFOUND) {
        err_prefix(&e, "field 'attachment'");
        report_bad(o, rep, file, row->line, e.msg);
        return;
    }
    /* the first ones said, the rest counted (a list imported before its
     * PDFs are written would otherwise print a line a document) */
    if (o->on_warning && ++rep->missing <= MAX_WARNINGS) {
        buf_init(&msg, 0);
        buf_printf(&msg, "%s:%ld: warning: attachment '%s' does not exist yet (%s/%s)", file,
                   row->line, v, dir, v);
        o->on_warning(o->ctx, buf_str(&msg));
        buf_release(&msg);
    }
}

int documents_import(struct store *s, const char *type, const char *path,
                     const struct import_opts *o, struct import_report *rep, struct err *e)
{
    struct dimport d = {.s = s, .type = type, .corrected = json_object()};
    const struct csvr_row *row;
    int rc, did, in_tx = 0;

    memset(rep, 0, sizeof *rep);
    if ((rc = documents_type_check(type, e)))
        return rc;
    rc = csvr_open(path, &d.r, e);
    if (!rc)
        rc = map_columns(&d, e);
    if (!rc && !(rc = store_begin(s, e)))
        in_tx = 1;
    while (!rc && (rc = csvr_next(d.r, &row, e)) == 1) {
        struct err re;
        rc = 0;
        rep->rows++;
        err_clear(&re);
        if (import_row(&d, row, &did, &re) == 0) {
            rep->added += did == ROW_ADDED;
            rep->updated += did == ROW_UPDATED;
            rep->unchanged += did == ROW_UNCHANGED;
            check_attachment(&d, o, rep, path, row);
        }
        else if (re.code == ERR_DB || re.code == ERR_LOCKED || re.code == ERR_TEMPFAIL)
            rc = (*e = re, re.code);
        else
            report_bad(o, rep, path, row->line, re.msg);
    }
    if (!rc && rep->bad)
        rc = err_set(e, ERR_INPUT, "%s: %lld bad row%s, nothing imported", path, rep->bad,
                     rep->bad > 1 ? "s" : "");
    if (in_tx) {
        if (rc || o->dry_run)
            store_rollback(s);
        else
            rc = store_commit(s, e);
    }
    if (rc == ERR_TEMPFAIL) /* a full disk: rolled back */
        err_append(e, ", nothing imported");
    csvr_free(d.r);
    json_decref(d.corrected);
    return rc;
}

struct doc_fields {
    json_t *root;
};

int doc_fields_parse(const char *json, struct doc_fields **out, struct err *e)
{
    json_error_t je;
    json_t *root = json_loads(json ? json : "{}", 0, &je);

    if (!root || !json_is_object(root)) {
        json_decref(root);
        return err_set(e, ERR_INPUT, "document fields are not a JSON object");
    }
    *out = xmalloc(sizeof **out);
    (*out)->root = root;
    return 0;
}

void doc_fields_free(struct doc_fields *f)
{
    if (!f)
        return;
    json_decref(f->root);
    free(f);
}

int doc_fields_get(const struct doc_fields *f, const char *list, size_t index, const char *name,
                   const char **str, size_t *count, int *is_list)
{
    json_t *v, *obj = f->root;

    *str = NULL;
    *count = 0;
    *is_list = 0;
    if (list) {
        json_t *arr = json_object_get(f->root, list);
        obj = json_is_array(arr) ? json_array_get(arr, index) : NULL;
        if (!json_is_object(obj))
            return ERR_NOTFOUND;
    }
    v = json_object_get(obj, name);
    if (!v)
        return ERR_NOTFOUND;
    if (json_is_array(v)) {
        *is_list = 1;
        *count = json_array_size(v);
    } else if (json_is_string(v)) {
        *str = *json_string_value(v) ? json_string_value(v) : NULL;
    } else if (json_is_integer(v) || json_is_real(v)) {
        /* numbers are rendered by the caller's filters: give their text */
        static __thread char num[64];
        if (json_is_integer(v))
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        else
            snprintf(num, sizeof num, "%.15g", json_real_value(v));
        *str = num;
    } else if (json_is_true(v)) {
        *str = "1";
    }
    return 0;
}
