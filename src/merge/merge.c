/* The merge: template lookup callback over the recipient, the party, the
 * document's fields, the sender and the party's typed contacts (each name
 * worked out once per template, each free field read once per document);
 * template file cache; MIME assembly.  Names follow SPEC §3. */
#include "merge.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "contacts/contacts.h"
#include "documents/documents.h"
#include "mime/mime.h"
#include "template/template.h"
#include "util/path.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define KEEP_MAX ((size_t)1 << 20) /* bytes of a part buffer kept for the next message */

struct cached {
    char *key; /* "type/locale.ext" */
    struct tmpl_file *f;
    char sha[65];
    char name[128];
    int missing;
};

/* What a placeholder name refers to, worked out from its text once per
 * distinct name when a template is loaded (tmpl_bind: the key is its
 * index in merge.names) rather than at every lookup; see lookup(). */
enum ns {
    NS_OTHER,         /* a dotless name, or none of the below */
    NS_CONTACT,       /* contact.x */
    NS_DOC,           /* doc.x */
    NS_CAMPAIGN_NAME, /* campaign.name */
    NS_UNSUB_URL,     /* unsubscribe.url */
    NS_PARTY,         /* party.x */
    NS_SENDER_NAME,   /* sender.name */
    NS_SENDER_EMAIL,  /* sender.email */
};

/* A contact-like field (contact.x, <code>.x): a store column or one of
 * these; a party field: a store column or F_NONE; doc.ref, doc.type. */
enum { F_NONE = -1, F_NAME = -2, F_PHONE = -3, F_EMAIL = -4, F_DOC_REF = -5, F_DOC_TYPE = -6 };

struct pname {
    char *text;    /* the name */
    size_t nslen;  /* bytes before the first dot (all of a dotless name) */
    int dotted;    /* has a dot */
    int code;      /* those bytes are a contact type code */
    enum ns ns;
    int cfield;    /* dotted: what follows the dot as a contact-like field */
    int field;     /* NS_PARTY: the party column; NS_DOC: F_DOC_REF, F_DOC_TYPE or F_NONE */
    /* a document's free field is read once per document (see doc_memo) */
    unsigned long memo_gen; /* the value is that of merge.doc_gen */
    enum tmpl_vtype memo_type;
    size_t memo_count; /* TMPL_LIST */
    size_t memo_off;   /* TMPL_STR: in merge.doc_values */
};

struct merge {
    struct store *s;
    char *dir, *sender_name, *sender_email;
    char *documents; /* [store] documents: relative attachment paths */
    int lenient;     /* absent document fields are empty (a preview) */
    unsigned long max_iterations; /* [template] max_iterations (0: the default) */
    char date[11];
    struct strv codes; /* contact type codes */
    struct cached *cache;
    size_t ncache;
    struct pname *names; /* the distinct names of the loaded templates */
    size_t nnames;
    struct buf subject, text, html; /* email()'s parts, reused message after message */
    /* the document being merged: its party and the party's contacts
     * (listed when a template first names a contact type code) */
    long long doc_id;
    struct store_rec party;
    struct store_rec *contacts;
    size_t ncontacts;
    int contacts_listed;
    struct doc_fields *fields;
    unsigned long doc_gen;  /* changes with the document (or campaign party) */
    struct buf doc_values;  /* the free fields' values read so far, NUL after each */
};

static int code_cb(void *ctx, const struct store_type *t)
{
    if (t->code)
        strv_push(ctx, t->code);
    return 0;
}

int merge_new(struct store *s, const char *templates_dir, const char *sender_name,
              const char *sender_email, const char *date, struct merge **out, struct err *e)
{
    struct merge *m = xcalloc(1, sizeof *m);
    int rc;

    m->s = s;
    snprintf(m->date, sizeof m->date, "%s", date);
    m->dir = xstrdup(templates_dir);
    m->sender_name = xstrdup(sender_name);
    m->sender_email = xstrdup(sender_email);
    m->doc_id = -1;
    m->doc_gen = 1; /* no name's memo (0) is valid */
    buf_init(&m->doc_values, 0);
    buf_init(&m->subject, 4096);
    buf_init(&m->text, 0);
    buf_init(&m->html, 0);
    strv_init(&m->codes);
    store_rec_init(&m->party, STORE_PARTY);
    rc = store_type_list(s, code_cb, &m->codes, e);
    if (rc) {
        merge_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static void drop_document(struct merge *m)
{
    size_t i;

    for (i = 0; i < m->ncontacts; i++)
        store_rec_release(&m->contacts[i]);
    free(m->contacts);
    m->contacts = NULL;
    m->ncontacts = 0;
    m->contacts_listed = 0;
    store_rec_release(&m->party);
    store_rec_init(&m->party, STORE_PARTY);
    doc_fields_free(m->fields);
    m->fields = NULL;
    m->doc_id = -1;
    m->doc_gen++;
    buf_reset(&m->doc_values);
}

void merge_free(struct merge *m)
{
    size_t i;

    if (!m)
        return;
    drop_document(m);
    for (i = 0; i < m->ncache; i++) {
        free(m->cache[i].key);
        tmpl_file_free(m->cache[i].f);
    }
    free(m->cache);
    for (i = 0; i < m->nnames; i++)
        free(m->names[i].text);
    free(m->names);
    buf_release(&m->doc_values);
    buf_release(&m->subject);
    buf_release(&m->text);
    buf_release(&m->html);
    strv_release(&m->codes);
    free(m->dir);
    free(m->documents);
    free(m->sender_name);
    free(m->sender_email);
    free(m);
}

void merge_set_documents(struct merge *m, const char *documents_dir)
{
    free(m->documents);
    m->documents = documents_dir ? xstrdup(documents_dir) : NULL;
}

void merge_set_max_iterations(struct merge *m, long n)
{
    m->max_iterations = n > 0 ? (unsigned long)n : 0;
}

void merge_set_lenient(struct merge *m, int lenient)
{
    m->lenient = lenient;
}

/* Is key the string type + "/" + locale + ext?  (Compared piece by
 * piece: the template is looked up for every message.) */
static int key_is(const char *key, const char *type, const char *locale, const char *ext)
{
    size_t n = strlen(type), k = strlen(locale);

    return !strncmp(key, type, n) && key[n] == '/' && !strncmp(key + n + 1, locale, k) &&
           !strcmp(key + n + 1 + k, ext);
}

static void bind_file(struct merge *m, struct tmpl_file *f);

/* Loads (once) templates/<type>/<locale><ext> (ext ".eml.tmpl" or
 * ".sms.tmpl"); c->missing when absent. */
static int template_for(struct merge *m, const char *type, const char *locale, const char *ext,
                        struct cached **out, struct err *e)
{
    struct buf key, path;
    struct cached *c;
    size_t i;
    int rc = 0;

    for (i = 0; i < m->ncache; i++)
        if (key_is(m->cache[i].key, type, locale, ext)) {
            *out = &m->cache[i];
            return 0;
        }
    buf_init(&key, 0);
    buf_printf(&key, "%s/%s%s", type, locale, ext);
    m->cache = xrealloc(m->cache, (m->ncache + 1) * sizeof *m->cache);
    c = &m->cache[m->ncache++];
    memset(c, 0, sizeof *c);
    c->key = buf_take(&key);
    snprintf(c->name, sizeof c->name, "%s/%s%s", type, locale, ext);
    buf_init(&path, 0);
    buf_printf(&path, "%s/%s", m->dir, c->name);
    if (access(buf_str(&path), F_OK)) {
        c->missing = 1;
    } else if ((rc = tmpl_file_load(buf_str(&path), !strcmp(ext, ".sms.tmpl"), &c->f, e)) == 0) {
        audit_sha256_hex(c->f->source, c->f->source_len, c->sha);
        bind_file(m, c->f);
    } else {
        m->ncache--; /* not cached: the error is reported each time */
        free(c->key);
    }
    buf_release(&path);
    *out = rc ? NULL : c;
    return rc;
}

static int contact_cb(void *ctx, const struct store_rec *c)
{
    struct merge *m = ctx;
    size_t i;

    m->contacts = xrealloc(m->contacts, (m->ncontacts + 1) * sizeof *m->contacts);
    store_rec_init(&m->contacts[m->ncontacts], STORE_CONTACT);
    m->contacts[m->ncontacts].id = c->id;
    for (i = 0; i < CF_COUNT; i++)
        store_rec_set(&m->contacts[m->ncontacts], i, c->v[i]);
    m->ncontacts++;
    return 0;
}

static int load_document(struct merge *m, const struct store_document *d, struct err *e)
{
    int rc;

    if (m->doc_id == d->id)
        return 0;
    drop_document(m);
    if ((rc = store_get(m->s, STORE_PARTY, 0, d->party_ref, &m->party, e)) ||
        (rc = doc_fields_parse(d->fields, &m->fields, e)))
        return rc;
    m->doc_id = d->id;
    return 0;
}

struct look {
    struct merge *m;
    const struct store_document *d; /* NULL for a campaign */
    const char *campaign, *unsub_url;
    const struct store_rec *rcpt; /* recipient as a contact record */
    const char *rcpt_display;     /* its display name, made by resolving */
    char tmp[512];
};

static void set_str(struct tmpl_val *out, const char *v)
{
    out->type = v && *v ? TMPL_STR : TMPL_EMPTY;
    out->str = v;
}

/* First item of a ';'-separated list, in l->tmp. */
static const char *first_of(struct look *l, const char *v)
{
    str_put(l->tmp, sizeof l->tmp, 0, v, v ? strcspn(v, ";") : 0);
    return l->tmp;
}

/* The recipient's display name was made by resolving it (the To: field
 * says the same); a typed contact's is made here. */
static const char *display_of(struct look *l, const struct store_rec *c)
{
    if (c == l->rcpt && l->rcpt_display)
        return l->rcpt_display;
    contacts_display_name(c, l->tmp, sizeof l->tmp);
    return l->tmp;
}

/* What follows "contact." or "<code>." as a contact-like field: the
 * store's columns plus name, phone (the first) and email (the first). */
static int contact_like_field(const char *f)
{
    if (!strcmp(f, "name"))
        return F_NAME;
    if (!strcmp(f, "phone"))
        return F_PHONE;
    if (!strcmp(f, "email"))
        return F_EMAIL;
    return store_field_index(STORE_CONTACT, f); /* -1: F_NONE */
}

static int contact_field(struct look *l, const struct store_rec *c, int field,
                         struct tmpl_val *out)
{
    if (field == F_NAME)
        set_str(out, display_of(l, c));
    else if (field == F_PHONE)
        set_str(out, first_of(l, c->v[CF_PHONES]));
    else if (field == F_EMAIL)
        set_str(out, first_of(l, c->v[CF_EMAIL]));
    else if (field >= 0)
        set_str(out, c->v[field]);
    else
        out->type = TMPL_MISSING;
    return 0;
}

static int is_code(struct merge *m, const char *ns, size_t n)
{
    size_t i;

    for (i = 0; i < m->codes.n; i++)
        if (strlen(m->codes.v[i]) == n && !memcmp(m->codes.v[i], ns, n))
            return 1;
    return 0;
}

static int known_contact_field(const char *f);

/* name ("exp", "exp.name") would reach the contact of type code ns if
 * that type existed: a code's syntax ([a-z][a-z0-9_]*), none of the
 * namespaces of §3, and a contact's field after the dot. */
static int could_be_code(const char *name, size_t n)
{
    static const char *const taken[] = {"contact", "doc", "party", "sender", "campaign",
                                        "unsubscribe"};
    size_t i;

    if (!n || n > 32 || name[0] < 'a' || name[0] > 'z')
        return 0;
    for (i = 1; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '_'))
            return 0;
    for (i = 0; i < sizeof taken / sizeof *taken; i++)
        if (strlen(taken[i]) == n && !memcmp(taken[i], name, n))
            return 0;
    return !name[n] || (name[n] == '.' && !strchr(name + n + 1, '.') &&
                        known_contact_field(name + n + 1));
}

/* Whether name is ns.<a contact's field>: ns is used as a contact type
 * code there ({{exp.name}}), not a typo of another name. */
static int code_use(const char *name, const char *ns, size_t len)
{
    return !strncmp(name, ns, len) && name[len] == '.' && !strchr(name + len + 1, '.') &&
           known_contact_field(name + len + 1);
}

/* *c = the party's first contact of type code active on the run date
 * (display order) other than the recipient self (the expert is not told
 * "Expert mandaté : <himself>"), or NULL.  The party's contacts are listed on first
 * use: most templates name no type code, and a run need not read every
 * party's contacts twice (resolving already did).  A negative ERR_* when
 * they cannot be read. */
static int typed(struct merge *m, const char *code, size_t n, const struct store_rec *self,
                 const struct store_rec **c)
{
    size_t i;

    *c = NULL;
    if (!m->contacts_listed && m->party.v[PF_REF]) {
        struct store_query q = {.party_ref = m->party.v[PF_REF], .date = m->date};
        int rc = store_list(m->s, STORE_CONTACT, &q, contact_cb, m, NULL, NULL);
        if (rc)
            return rc < 0 ? rc : ERR_DB;
    }
    m->contacts_listed = 1;
    for (i = 0; i < m->ncontacts; i++) {
        const char *t = m->contacts[i].v[CF_TYPE];
        if (self && self->id > 0 && m->contacts[i].id == self->id)
            continue;
        if (t && strlen(t) == n && !memcmp(t, code, n)) {
            *c = &m->contacts[i];
            break;
        }
    }
    return 0;
}

/* d has no field name, or an empty one (an empty cell): TMPL_ABSENT, and
 * why in l->tmp. */
static void absent(struct look *l, const char *name, struct tmpl_val *out)
{
    const char *str;
    size_t count;
    int is_list;

    if (!doc_fields_get(l->m->fields, NULL, 0, name, &str, &count, &is_list))
        snprintf(l->tmp, sizeof l->tmp, "document %s: field '%s' is empty", l->d->ref, name);
    else
        snprintf(l->tmp, sizeof l->tmp, "document %s has no field '%s'", l->d->ref, name);
    out->type = l->m->lenient ? TMPL_EMPTY : TMPL_ABSENT;
    out->why = l->tmp;
}

/* The document's field name (which: F_DOC_REF, F_DOC_TYPE for doc.ref and
 * doc.type, else F_NONE), or with list that field of item index. */
static int doc_field(struct look *l, const char *list, size_t index, const char *name, int which,
                     struct tmpl_val *out)
{
    const char *str;
    size_t count;
    int is_list;

    if (which == F_DOC_REF)
        return set_str(out, l->d->ref), 0;
    if (which == F_DOC_TYPE)
        return set_str(out, l->d->type), 0;
    if (doc_fields_get(l->m->fields, list, index, name, &str, &count, &is_list)) {
        /* documents differ in their free fields: an absent one is false
         * in {{#if doc.due_date}}, and an error when written unguarded (a
         * typo); inside #each, an outer name may follow */
        if (list)
            out->type = TMPL_MISSING;
        else
            absent(l, name, out);
        return 0;
    }
    if (!list && !is_list && !str) /* an empty cell: written unguarded, an error too */
        return absent(l, name, out), 0;
    if (is_list) {
        out->type = TMPL_LIST;
        out->count = count;
    } else {
        set_str(out, str);
    }
    return 0;
}

/* doc_field for the bound name p (a document's free field, not doc.ref
 * or doc.type): looked up in the JSON once per document, then read from
 * p's memo by every message and part that names it. */
static int doc_memo(struct look *l, struct pname *p, const char *field, struct tmpl_val *out)
{
    struct merge *m = l->m;

    if (p->memo_gen != m->doc_gen) {
        doc_field(l, NULL, 0, field, F_NONE, out);
        p->memo_off = m->doc_values.len;
        if (out->type == TMPL_STR && buf_add(&m->doc_values, out->str, strlen(out->str) + 1))
            return 0; /* too big to keep: not kept */
        p->memo_gen = m->doc_gen;
        p->memo_type = out->type;
        p->memo_count = out->count;
        return 0;
    }
    if (p->memo_type == TMPL_ABSENT)
        return absent(l, field, out), 0;
    out->type = p->memo_type;
    out->count = p->memo_count;
    out->str = p->memo_type == TMPL_STR ? m->doc_values.data + p->memo_off : NULL;
    return 0;
}

/* Works out what name refers to (see struct pname). */
static void classify(struct merge *m, const char *name, struct pname *p)
{
    const char *dot = strchr(name, '.');

    memset(p, 0, sizeof *p);
    p->nslen = dot ? (size_t)(dot - name) : strlen(name);
    p->dotted = dot != NULL;
    p->code = is_code(m, name, p->nslen);
    p->ns = NS_OTHER;
    p->cfield = p->field = F_NONE;
    if (!dot)
        return;
    p->cfield = contact_like_field(dot + 1);
    if (!strncmp(name, "contact.", 8)) {
        p->ns = NS_CONTACT;
    } else if (!strncmp(name, "doc.", 4)) {
        p->ns = NS_DOC;
        p->field = !strcmp(dot + 1, "ref") ? F_DOC_REF : !strcmp(dot + 1, "type") ? F_DOC_TYPE
                                                                                   : F_NONE;
    } else if (!strcmp(name, "campaign.name")) {
        p->ns = NS_CAMPAIGN_NAME;
    } else if (!strcmp(name, "unsubscribe.url")) {
        p->ns = NS_UNSUB_URL;
    } else if (!strncmp(name, "party.", 6)) {
        p->ns = NS_PARTY;
        p->field = store_field_index(STORE_PARTY, dot + 1);
    } else if (!strcmp(name, "sender.name")) {
        p->ns = NS_SENDER_NAME;
    } else if (!strcmp(name, "sender.email")) {
        p->ns = NS_SENDER_EMAIL;
    }
}

/* tmpl_bind's function: the index of name in m->names, added when new. */
static int bind_name(void *ctx, const char *name, const char *const *lists, size_t nlists)
{
    struct merge *m = ctx;
    size_t i;

    (void)lists, (void)nlists; /* the scopes are looked at when rendering */
    for (i = 0; i < m->nnames; i++)
        if (!strcmp(m->names[i].text, name))
            return (int)i;
    m->names = xrealloc(m->names, (m->nnames + 1) * sizeof *m->names);
    classify(m, name, &m->names[m->nnames]);
    m->names[m->nnames].text = xstrdup(name);
    return (int)m->nnames++;
}

static void bind_file(struct merge *m, struct tmpl_file *f)
{
    tmpl_bind(f->subject, bind_name, m);
    tmpl_bind(f->text, bind_name, m);
    tmpl_bind(f->html, bind_name, m);
}

/* name is no known name but would be a contact type code's ("exp",
 * "exp.name"): absent, so that {{#if exp}} is false until that type
 * exists (the shipped claim template names exp and gar before a new
 * installation has them), and an error when written unguarded. */
static void no_such_type(struct look *l, const struct pname *p, const char *name,
                         struct tmpl_val *out)
{
    struct merge *m = l->m;
    size_t i;
    int used = 0;

    if (p->code || out->type != TMPL_MISSING || !could_be_code(name, p->nslen))
        return;
    /* only a name some template writes as code.<field>: {{#if civilite}}
     * alone is a typo, reported as unknown */
    for (i = 0; i < m->nnames && !used; i++)
        used = code_use(m->names[i].text, name, p->nslen);
    if (!used)
        return;
    snprintf(l->tmp, sizeof l->tmp,
             "unknown placeholder '%s' (no contact type has the code '%.*s')", name,
             (int)p->nslen, name);
    out->type = TMPL_ABSENT;
    out->why = l->tmp;
}

/* The lookup callback: a bound name's meaning is in m->names[key]; an
 * unbound one (key -1, or a key this merge did not give) is classified
 * here. */
static int lookup(void *ctx, const char *name, int key, const struct tmpl_scope *scopes,
                  size_t nscopes, struct tmpl_val *out)
{
    struct look *l = ctx;
    struct merge *m = l->m;
    const struct store_rec *c;
    struct pname *p, tmp;
    int rc;

    if (key >= 0 && (size_t)key < m->nnames && !strcmp(m->names[key].text, name)) {
        p = &m->names[key];
    } else {
        classify(m, name, &tmp);
        p = &tmp;
    }
    out->type = TMPL_MISSING;
    if (!p->dotted) {
        if (l->d && nscopes && !strncmp(scopes[nscopes - 1].list, "doc.", 4)) {
            doc_field(l, scopes[nscopes - 1].list + 4, scopes[nscopes - 1].index, name, F_NONE,
                      out);
            if (out->type != TMPL_MISSING)
                return 0;
            if (!p->code) { /* as a document's field: false in #if, else an error */
                snprintf(l->tmp, sizeof l->tmp, "document %s: item %zu of %s has no field '%s'",
                         l->d->ref, scopes[nscopes - 1].index + 1, scopes[nscopes - 1].list,
                         name);
                out->type = m->lenient ? TMPL_EMPTY : TMPL_ABSENT;
                out->why = l->tmp;
                return 0;
            }
        }
        if (p->code) {
            if ((rc = typed(m, name, p->nslen, l->rcpt, &c)))
                return rc;
            set_str(out, c ? display_of(l, c) : NULL);
        }
        no_such_type(l, p, name, out);
        return 0;
    }
    switch (p->ns) {
    case NS_CONTACT:
        return contact_field(l, l->rcpt, p->cfield, out);
    case NS_DOC:
        if (!l->d)
            return 0;
        if (p != &tmp && p->field == F_NONE)
            return doc_memo(l, p, name + 4, out);
        return doc_field(l, NULL, 0, name + 4, p->field, out);
    case NS_CAMPAIGN_NAME:
        if (l->campaign)
            return set_str(out, l->campaign), 0;
        break; /* not a campaign: maybe a type code */
    case NS_UNSUB_URL:
        if (l->campaign)
            return set_str(out, l->unsub_url), 0;
        break;
    case NS_PARTY:
        if (p->field >= 0)
            set_str(out, m->party.v[p->field]);
        return 0;
    case NS_SENDER_NAME:
        return set_str(out, m->sender_name), 0;
    case NS_SENDER_EMAIL:
        return set_str(out, m->sender_email), 0;
    case NS_OTHER:
        break;
    }
    if (p->code) {
        if ((rc = typed(m, name, p->nslen, l->rcpt, &c)))
            return rc;
        if (!c)
            return set_str(out, NULL), 0;
        return contact_field(l, c, p->cfield, out);
    }
    no_such_type(l, p, name, out);
    return 0;
}

static const char *locale_of(const struct resolve_rcpt *r, const struct store_rec *party)
{
    if (r->contact.v[CF_LOCALE])
        return r->contact.v[CF_LOCALE];
    if (party->v[PF_LOCALE])
        return party->v[PF_LOCALE];
    return "fr";
}

/* Renders the three parts of f into subject/text/html buffers. */
static int render_parts(struct tmpl_file *f, const char *locale, struct look *l, struct buf *subject,
                        struct buf *text, struct buf *html, struct err *e)
{
    unsigned long its = 0; /* one bound for the whole message */
    struct tmpl_locale loc = {locale, l->m->max_iterations, &its};
    int rc;

    rc = tmpl_render(f->subject, TMPL_HEADER, &loc, lookup, l, subject, e);
    if (!rc)
        rc = tmpl_render(f->text, TMPL_TEXT, &loc, lookup, l, text, e);
    if (!rc && f->html)
        rc = tmpl_render(f->html, TMPL_HTML, &loc, lookup, l, html, e);
    return rc;
}

static void unsub_line(struct buf *b, const char *loc, const char *url, int html);

/* Renders f's subject, text and HTML for l, adds the unsubscribe line of
 * marketing (unsub_url), and builds msg (whose recipient, Message-ID and
 * extras the caller set) into out, MIME or readable (mime_readable); out is unchanged on failure. */
static int email(struct merge *m, struct tmpl_file *f, const char *loc, struct look *l,
                 struct mime_msg *msg, const char *unsub_url, int readable, struct buf *out,
                 struct err *e)
{
    struct buf *subject = &m->subject, *text = &m->text, *html = &m->html;
    size_t mark = out->len;
    int rc;

    buf_reset(subject);
    buf_reset(text);
    buf_reset(html);
    buf_reserve(text, 4096); /* grown once for a usual message, not six times */
    if (f->html)
        buf_reserve(html, 8192);
    rc = render_parts(f, loc, l, subject, text, html, e);
    if (!rc && unsub_url) {
        unsub_line(text, loc, unsub_url, 0);
        if (f->html)
            unsub_line(html, loc, unsub_url, 1);
    }
    if (!rc) {
        msg->from_name = m->sender_name;
        msg->from_addr = m->sender_email;
        msg->subject = buf_str(subject);
        msg->text = buf_str(text);
        msg->html = f->html ? buf_str(html) : NULL;
        if ((rc = readable ? mime_readable(msg, out, e) : mime_build(msg, out, e)))
            buf_truncate(out, mark);
    }
    if (text->alloc > KEEP_MAX) /* an odd large message: not kept all run */
        buf_release(text);
    if (html->alloc > KEEP_MAX)
        buf_release(html);
    return rc;
}

/* The template for d and r: the recipient's locale, the party's, then
 * fr; *loc = the locale the template is written for (fr or en). */
static int pick(struct merge *m, const char *name, const struct resolve_rcpt *r,
                const char *ext, struct cached **c, const char **loc, struct merge_info *info,
                struct err *e)
{
    const char *locale = locale_of(r, &m->party);
    int rc;

    rc = template_for(m, name, locale, ext, c, e);
    if (!rc && (*c)->missing && strcmp(locale, "fr"))
        rc = template_for(m, name, "fr", ext, c, e);
    if (!rc && (*c)->missing && strcmp(locale, "fr"))
        return err_set(e, ERR_INPUT, "no template '%s': neither %s/%s/%s%s nor %s/%s/fr%s exists",
                       name, m->dir, name, locale, ext, m->dir, name, ext);
    if (!rc && (*c)->missing)
        return err_set(e, ERR_INPUT, "no template '%s': %s/%s/fr%s does not exist", name,
                       m->dir, name, ext);
    if (rc)
        return rc;
    _Static_assert(sizeof info->template_name == sizeof (*c)->name, "template names");
    memcpy(info->template_name, (*c)->name, sizeof info->template_name);
    memcpy(info->template_sha256, (*c)->sha, sizeof info->template_sha256);
    *loc = strncmp((*c)->name + strlen(name) + 1, "en", 2) ? "fr" : "en";
    return 0;
}

/* An SMS text: the template rendered, without the file's last line break,
 * then the STOP mention when given.  out is unchanged on failure. */
static int sms_text(struct tmpl_file *f, const char *loc, struct look *l, const char *stop,
                    struct buf *out, struct err *e)
{
    struct tmpl_locale tl = {loc, l->m->max_iterations, NULL};
    size_t mark = out->len;
    int rc = tmpl_render(f->text, TMPL_TEXT, &tl, lookup, l, out, e);

    if (rc) {
        buf_truncate(out, mark);
        return rc;
    }
    while (out->len > mark && strchr(" \t\r\n", out->data[out->len - 1]))
        buf_truncate(out, out->len - 1);
    if (stop && *stop)
        buf_printf(out, " %s", stop); /* the STOP mention, last */
    return 0;
}

/* Opens d's attachment, a path inside the documents folder (never the
 * folder the run started in: cron's is /; never outside it: no absolute
 * path, "..", symbolic link, FIFO or device), into *fd.  ERR_IO saying
 * why otherwise. */
static int attachment_open(struct merge *m, const char *att, int *fd, struct err *e)
{
    if (!m->documents)
        return err_set(e, ERR_IO, "attachment '%s': no documents folder", att);
    struct stat st;

    if (path_open_in(m->documents, att, fd, e) == 0) {
        if (fstat(*fd, &st))
            err_set(e, ERR_IO, "'%s': %s", att, strerror(errno));
        else if ((size_t)st.st_size <= MIME_ATTACHMENT_MAX)
            return 0;
        else
            err_set(e, ERR_IO, "'%s' is %.1f MB, more than the %d MB a message may carry", att,
                    (double)st.st_size / (1 << 20), (int)(MIME_ATTACHMENT_MAX >> 20));
        close(*fd);
        *fd = -1;
    }
    if (e)
        e->code = ERR_IO; /* whatever the cause: the message fails, `retry` may send it */
    err_prefix(e, "attachment");
    return ERR_IO;
}

int merge_document(struct merge *m, const struct store_document *d,
                   const struct resolve_rcpt *r, const char *message_id, struct buf *out,
                   struct merge_info *info, struct err *e)
{
    struct look l = {.m = m, .d = d, .rcpt = &r->contact, .rcpt_display = r->display};
    const char *attach[1] = {d->attachment};
    int fds[1] = {-1};
    struct cached *c = NULL;
    const char *loc;
    int rc;

    info->reason = "template";
    if ((rc = load_document(m, d, e)) ||
        (rc = pick(m, d->type, r, ".eml.tmpl", &c, &loc, info, e)))
        goto out;
    if (d->attachment && (rc = attachment_open(m, d->attachment, &fds[0], e))) {
        info->reason = "attachment";
        goto out;
    }
    struct mime_msg msg = {.to_name = r->display, .to_addr = r->address,
                           .message_id = message_id, .auto_submitted = 1,
                           .attachments = attach, .attachment_fds = fds,
                           .nattachments = d->attachment ? 1 : 0};
    rc = email(m, c->f, loc, &l, &msg, NULL, 0, out, e);
    if (rc == ERR_IO && d->attachment) /* the only I/O of building: reading it */
        info->reason = "attachment";
out:
    if (fds[0] >= 0)
        close(fds[0]);
    return rc;
}

int merge_sms(struct merge *m, const struct store_document *d, const struct resolve_rcpt *r,
              struct buf *out, struct merge_info *info, struct err *e)
{
    struct look l = {.m = m, .d = d, .rcpt = &r->contact, .rcpt_display = r->display};
    struct cached *c = NULL;
    const char *loc;
    int rc;

    info->reason = "template";
    if ((rc = load_document(m, d, e)) ||
        (rc = pick(m, d->type, r, ".sms.tmpl", &c, &loc, info, e)))
        return rc;
    return sms_text(c->f, loc, &l, NULL, out, e);
}

/* ---- campaigns ---- */

/* The recipient's party and its contacts (for type codes), cached by
 * party while consecutive recipients share it. */
static int load_party(struct merge *m, const char *ref, struct err *e)
{
    int rc;

    if (m->doc_id == -2 && m->party.v[PF_REF] && ref && !strcmp(m->party.v[PF_REF], ref))
        return 0;
    drop_document(m);
    if (!ref)
        return 0;
    if ((rc = store_get(m->s, STORE_PARTY, 0, ref, &m->party, e)))
        return rc;
    m->doc_id = -2; /* a campaign's party, not a document's */
    return 0;
}

/* The unsubscribe line of marketing messages, in the template's language. */
static void unsub_line(struct buf *b, const char *loc, const char *url, int html)
{
    const char *say = strcmp(loc, "en") ? "Pour ne plus recevoir nos messages :"
                                        : "To stop receiving our messages:";
    const char *p;

    if (!html) {
        buf_printf(b, "\n\n-- \n%s %s\n", say, url);
        return;
    }
    buf_printf(b, "\n<p style=\"font-size:small\">%s <a href=\"", say);
    for (p = url; *p; p++) /* an attribute value: escape what HTML needs */
        if (*p == '&')
            buf_adds(b, "&amp;");
        else if (*p == '"')
            buf_adds(b, "&quot;");
        else if (*p == '<')
            buf_adds(b, "&lt;");
        else
            buf_addc(b, *p);
    buf_adds(b, "\">");
    for (p = url; *p; p++)
        if (*p == '&')
            buf_adds(b, "&amp;");
        else if (*p == '<')
            buf_adds(b, "&lt;");
        else
            buf_addc(b, *p);
    buf_adds(b, "</a></p>\n");
}

int merge_campaign(struct merge *m, const struct merge_campaign *c, const struct resolve_rcpt *r,
                   const char *message_id, struct buf *out, struct merge_info *info,
                   struct err *e)
{
    struct look l = {.m = m, .d = NULL, .campaign = c->name, .unsub_url = c->unsub_url,
                     .rcpt = &r->contact, .rcpt_display = r->display};
    const char *ext = c->sms ? ".sms.tmpl" : ".eml.tmpl", *loc;
    struct cached *t = NULL;
    int rc;

    if ((rc = load_party(m, r->contact.v[CF_PARTY_REF], e)) ||
        (rc = pick(m, c->template_name, r, ext, &t, &loc, info, e)))
        return rc;
    if (c->sms)
        return sms_text(t->f, loc, &l, c->marketing ? c->stop_text : NULL, out, e);
    struct mime_msg msg = {.to_name = r->display, .to_addr = r->address,
                           .message_id = message_id,
                           .list_unsubscribe = c->marketing ? c->unsub_url : NULL,
                           .list_unsubscribe_mailto = c->marketing ? c->unsub_mailto : NULL};
    return email(m, t->f, loc, &l, &msg, c->marketing ? c->unsub_url : NULL, c->readable, out,
                 e);
}

/* ---- templates check: names against what a document provides ---- */

struct check {
    struct merge *m;
    const char *file;
    void (*report)(void *ctx, const char *msg);
    void *ctx;
    int bad, warnings;
    /* the folder names a document type with ndocs imported documents,
     * whose free fields are these */
    const char *type;
    long long ndocs;
    struct strv fields;
    struct strv warned; /* the fields the file being checked was warned of */
    struct strv names;  /* every name the file being checked writes */
};

static int known_contact_field(const char *f)
{
    return !strcmp(f, "name") || !strcmp(f, "phone") || store_field_index(STORE_CONTACT, f) >= 0;
}

static int name_ok(struct merge *m, const char *name, size_t nlists)
{
    const char *dot = strchr(name, '.');
    size_t n = dot ? (size_t)(dot - name) : strlen(name);

    if (!dot)
        return nlists > 0 || is_code(m, name, n);
    if (!strncmp(name, "contact.", 8))
        return known_contact_field(dot + 1);
    if (!strncmp(name, "party.", 6))
        return store_field_index(STORE_PARTY, dot + 1) >= 0;
    if (!strncmp(name, "doc.", 4))
        return 1; /* free fields: checked when a document is merged */
    if (!strncmp(name, "sender.", 7))
        return !strcmp(dot + 1, "name") || !strcmp(dot + 1, "email");
    return is_code(m, name, n) && !strchr(dot + 1, '.') && known_contact_field(dot + 1);
}

/* A warning (once per file) for doc.x when documents of the folder's
 * type were imported and none has a field x: a typo, or a column the host
 * system does not send.  Unguarded, such a message fails at run time;
 * guarded ({{#if}}, |default), the typo would silently say nothing. */
static int check_doc_field(void *ctx, const char *name, const char *const *lists,
                           size_t nlists, int line, int col)
{
    struct check *c = ctx;
    struct buf b;
    size_t i;

    (void)lists;
    if (!c->type || !c->ndocs || nlists || strncmp(name, "doc.", 4) ||
        !strcmp(name, "doc.ref") || !strcmp(name, "doc.type"))
        return 0;
    for (i = 0; i < c->fields.n; i++)
        if (!strcmp(c->fields.v[i], name + 4))
            return 0;
    for (i = 0; i < c->warned.n; i++)
        if (!strcmp(c->warned.v[i], name + 4))
            return 0;
    strv_push(&c->warned, name + 4);
    c->warnings++;
    buf_init(&b, 0);
    buf_printf(&b, "%s:%d:%d: warning: no imported %s has a field '%s'", c->file, line, col,
               c->type, name + 4);
    c->report(c->ctx, buf_str(&b));
    buf_release(&b);
    return 0;
}

static int check_name(void *ctx, const char *name, const char *const *lists, size_t nlists,
                      int line, int col)
{
    struct check *c = ctx;
    struct buf b;
    size_t i;
    int used = 0;

    (void)lists;
    if (name_ok(c->m, name, nlists))
        return 0;
    buf_init(&b, 0);
    for (i = 0; !used && i < c->names.n; i++)
        used = code_use(c->names.v[i], name, strcspn(name, "."));
    if (!nlists && used && could_be_code(name, strcspn(name, "."))) {
        /* the shipped claim template names exp and gar before a new
         * installation has those types: {{#if exp}} is false meanwhile;
         * said once per file and code */
        char key[40];
        snprintf(key, sizeof key, "type:%.*s", (int)strcspn(name, "."), name);
        for (i = 0; i < c->warned.n; i++)
            if (!strcmp(c->warned.v[i], key))
                break;
        if (i < c->warned.n) {
            buf_release(&b);
            return 0;
        }
        strv_push(&c->warned, key);
        c->warnings++;
        buf_printf(&b,
                   "%s:%d:%d: warning: no contact type has the code '%.*s' yet ('%s' is empty "
                   "in {{#if}}, an error unguarded; add it: postier types add --code %.*s)",
                   c->file, line, col, (int)strcspn(name, "."), name, name,
                   (int)strcspn(name, "."), name);
    } else {
        c->bad++;
        buf_printf(&b, "%s:%d:%d: unknown placeholder '%s'", c->file, line, col, name);
    }
    c->report(c->ctx, buf_str(&b));
    buf_release(&b);
    return 0;
}

static int collect_name(void *ctx, const char *name, const char *const *lists, size_t nlists,
                        int line, int col)
{
    (void)lists, (void)nlists, (void)line, (void)col;
    strv_push(&((struct check *)ctx)->names, name);
    return 0;
}

static void check_file(struct merge *m, const char *path, int sms, struct check *c)
{
    struct tmpl_file *f = NULL;
    struct err e;

    c->file = path;
    if (tmpl_file_load(path, sms, &f, &e)) {
        c->bad++;
        c->report(c->ctx, e.msg);
        return;
    }
    strv_release(&c->names);
    strv_init(&c->names);
    tmpl_names(f->subject, collect_name, c);
    tmpl_names(f->text, collect_name, c);
    tmpl_names(f->html, collect_name, c);
    if (f->subject)
        tmpl_names(f->subject, check_name, c);
    tmpl_names(f->text, check_name, c);
    if (f->html)
        tmpl_names(f->html, check_name, c);
    strv_release(&c->warned);
    strv_init(&c->warned);
    tmpl_names(f->subject, check_doc_field, c);
    tmpl_names(f->text, check_doc_field, c);
    tmpl_names(f->html, check_doc_field, c);
    tmpl_file_free(f);
    (void)m;
}

static int field_cb(void *ctx, const char *name)
{
    strv_push(ctx, name);
    return 0;
}

/* c->type, c->ndocs and c->fields for the template folder name. */
static int folder_type(struct check *c, const char *name, struct err *e)
{
    strv_release(&c->fields);
    strv_init(&c->fields);
    c->ndocs = 0;
    c->type = documents_type_flag(name) ? name : NULL;
    return c->type ? store_document_fields(c->m->s, name, &c->ndocs, field_cb, &c->fields, e)
                   : 0;
}

int merge_check(struct merge *m, void (*report)(void *ctx, const char *msg), void *ctx,
                int *files, int *bad, int *warnings, struct err *e)
{
    struct check c = {.m = m, .report = report, .ctx = ctx};
    struct dirent **names = NULL;
    struct buf sub;
    int i, n, rc = 0;

    *files = 0;
    n = scandir(m->dir, &names, NULL, alphasort);
    if (n < 0)
        return err_set(e, ERR_IO, "%s: cannot read the templates folder", m->dir);
    buf_init(&sub, 0);
    strv_init(&c.fields);
    strv_init(&c.warned);
    strv_init(&c.names);
    for (i = 0; i < n; i++) {
        struct dirent **inner = NULL;
        int j, k;
        if (!rc)
            rc = folder_type(&c, names[i]->d_name, e);
        buf_reset(&sub);
        buf_printf(&sub, "%s/%s", m->dir, names[i]->d_name);
        k = names[i]->d_name[0] == '.' || rc ? -1
                                              : scandir(buf_str(&sub), &inner, NULL, alphasort);
        for (j = 0; j < k; j++) {
            const char *fn = inner[j]->d_name;
            if (str_ends_with(fn, ".eml.tmpl") || str_ends_with(fn, ".sms.tmpl")) {
                struct buf path;
                buf_init(&path, 0);
                buf_printf(&path, "%s/%s", buf_str(&sub), fn);
                check_file(m, buf_str(&path), str_ends_with(fn, ".sms.tmpl"), &c);
                buf_release(&path);
                (*files)++;
            }
            free(inner[j]);
        }
        free(inner);
        free(names[i]);
    }
    free(names);
    buf_release(&sub);
    strv_release(&c.fields);
    strv_release(&c.warned);
    strv_release(&c.names);
    *bad = c.bad;
    *warnings = c.warnings;
    return rc;
}
