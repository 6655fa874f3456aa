/* SPEC §2 step by step: explicit contact or level; else the party's
 * contacts flagged for the document type, valid on the run date, at the
 * document's site or at no site, by display order; fallback to the main
 * contact; consent (esign); one delivery per address per document.  Every
 * exclusion carries its reason code, never silently dropped. */
#include "resolve.h"

#include <strings.h>

#include "contacts/contacts.h"
#include "contacts/validate.h"
#include "documents/documents.h"
#include "sms/sms.h"
#include "util/buf.h"
#include "util/xalloc.h"

static struct resolve_rcpt *push(struct resolve_result *r)
{
    struct resolve_rcpt *p;

    if (r->n == r->alloc) {
        r->alloc = r->alloc ? r->alloc * 2 : 8;
        r->v = xrealloc(r->v, r->alloc * sizeof *r->v);
    }
    p = &r->v[r->n++];
    memset(p, 0, sizeof *p);
    store_rec_init(&p->contact, STORE_CONTACT);
    return p;
}

void resolve_release(struct resolve_result *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        store_rec_release(&r->v[i].contact);
    free(r->v);
    memset(r, 0, sizeof *r);
}

static void display_name(struct resolve_rcpt *p)
{
    contacts_display_name(&p->contact, p->display, sizeof p->display);
}

static void first_email(struct resolve_rcpt *p)
{
    const char *m = p->contact.v[CF_EMAIL];
    size_t n = m ? strcspn(m, ";") : 0;

    if (n >= sizeof p->address)
        n = sizeof p->address - 1;
    memcpy(p->address, m ? m : "", n);
    p->address[n] = '\0';
}

/* SMS: the first of the contact's phones that is a mobile, in canonical
 * E.164 (overseas departments under their own codes). */
static void first_mobile(struct resolve_rcpt *p)
{
    const char *s = p->contact.v[CF_PHONES];

    p->address[0] = '\0';
    while (s && *s) {
        char one[32], canon[32];
        size_t n = strcspn(s, ";");
        snprintf(one, sizeof one, "%.*s", (int)(n < sizeof one ? n : sizeof one - 1), s);
        sms_number_canonical(one, canon, sizeof canon);
        if (sms_is_mobile(canon)) {
            snprintf(p->address, sizeof p->address, "%s", canon);
            return;
        }
        s += n + (s[n] == ';');
    }
}

void resolve_address(struct resolve_rcpt *p, int sms)
{
    display_name(p);
    if (sms)
        first_mobile(p);
    else
        first_email(p);
}

static int valid_on(const struct store_rec *c, const char *date)
{
    const char *from = c->v[CF_VALID_FROM], *until = c->v[CF_VALID_UNTIL];

    return (!from || strcmp(from, date) <= 0) && (!until || strcmp(until, date) >= 0);
}

/* A contact matching the asset-freeze register is never a recipient:
 * *flagged = 1 for one.  A lookup that fails is an error (never "not
 * flagged"); a contact gone meanwhile is not flagged. */
static int registry_flagged(struct store *s, const struct resolve_rcpt *p, int *flagged,
                            struct err *e)
{
    char match[8];
    int rc;

    *flagged = 0;
    if (p->level != RESOLVE_CONTACT || !p->contact.id)
        return 0;
    rc = store_contact_registry_get(s, p->contact.id, match, sizeof match, NULL, 0, e);
    if (rc == ERR_NOTFOUND)
        return 0;
    *flagged = !rc && match[0];
    return rc;
}

/* Applies the per-recipient rules (4-6) to the last pushed entry. */
static int check_rcpt(struct store *s, struct resolve_result *r, const struct store_document *d,
                      const struct resolve_opts *o, struct err *e)
{
    struct resolve_rcpt *p = &r->v[r->n - 1];
    size_t i;
    int flagged = 0, rc = 0;

    resolve_address(p, o->sms);
    if (p->level == RESOLVE_CONTACT && !valid_on(&p->contact, o->date))
        p->reason = "inactive";
    else if ((rc = registry_flagged(s, p, &flagged, e)))
        return rc;
    else if (flagged)
        p->reason = "registry_match";
    else if (!p->address[0])
        p->reason = o->sms ? "no_phone" : "no_email";
    else if (d->esign && !(validate_bits(p->contact.v[CF_CONSENTS], 1) & CONSENT_ESIGN))
        p->reason = "no_consent:esign";
    for (i = 0; !p->reason && i + 1 < r->n; i++)
        if (!r->v[i].reason && !strcasecmp(r->v[i].address, p->address))
            p->reason = "duplicate_address";
    if (!p->reason)
        r->recipients++;
    return rc;
}

static void copy_contact(struct store_rec *dst, const struct store_rec *src)
{
    size_t i;

    dst->id = src->id;
    for (i = 0; i < CF_COUNT; i++)
        store_rec_set(dst, i, src->v[i]);
}

/* The party's own contact fields (seed 002 level 1); for a claim without
 * an e-mail, its client's. */
static int add_main(struct store *s, const char *ref, struct resolve_result *r, struct err *e)
{
    struct store_rec p;
    struct resolve_rcpt *x;
    int rc;

    store_rec_init(&p, STORE_PARTY);
    rc = store_get(s, STORE_PARTY, 0, ref, &p, e);
    if (!rc && !p.v[PF_EMAIL] && p.v[PF_CLIENT_REF]) {
        struct store_rec client;
        store_rec_init(&client, STORE_PARTY);
        rc = store_get(s, STORE_PARTY, 0, p.v[PF_CLIENT_REF], &client, e);
        store_rec_release(&p);
        p = client;
    }
    if (!rc) {
        x = push(r);
        x->level = RESOLVE_MAIN;
        store_rec_set(&x->contact, CF_PARTY_REF, ref);
        store_rec_set(&x->contact, CF_CIVILITY, p.v[PF_CIVILITY]);
        store_rec_set(&x->contact, CF_FIRST_NAME, p.v[PF_FIRST_NAME]);
        store_rec_set(&x->contact, CF_LAST_NAME, p.v[PF_LAST_NAME]);
        store_rec_set(&x->contact, CF_COMPANY, p.v[PF_NAME]);
        store_rec_set(&x->contact, CF_EMAIL, p.v[PF_EMAIL]);
        store_rec_set(&x->contact, CF_PHONES, p.v[PF_PHONES]);
        store_rec_set(&x->contact, CF_LOCALE, p.v[PF_LOCALE]);
    }
    store_rec_release(&p);
    return rc;
}

struct site_find {
    const char *label;
    struct resolve_result *r;
    int found;
};

static int site_cb(void *ctx, const struct store_rec *a)
{
    struct site_find *f = ctx;
    struct resolve_rcpt *x;

    if (strcmp(a->v[AF_LABEL], f->label))
        return 0;
    x = push(f->r);
    x->level = RESOLVE_ADDRESS;
    store_rec_set(&x->contact, CF_PARTY_REF, a->v[AF_PARTY_REF]);
    store_rec_set(&x->contact, CF_LAST_NAME, a->v[AF_CONTACT_NAME]);
    store_rec_set(&x->contact, CF_COMPANY, a->v[AF_LABEL]);
    store_rec_set(&x->contact, CF_EMAIL, a->v[AF_CONTACT_EMAIL]);
    store_rec_set(&x->contact, CF_PHONES, a->v[AF_CONTACT_PHONE]);
    f->found = 1;
    return 1;
}

static int add_site_contact(struct store *s, const struct store_document *d,
                            struct resolve_result *r, struct err *e)
{
    struct store_query q = {.party_ref = d->party_ref};
    struct site_find f = {d->address_label, r, 0};
    int rc = store_list(s, STORE_ADDRESS, &q, site_cb, &f, NULL, e);

    if (!rc && !f.found)
        rc = err_set(e, ERR_NOTFOUND, "%s %s: site '%s' not found", d->type, d->ref,
                     d->address_label ? d->address_label : "");
    return rc;
}

struct flagged {
    struct store *s;
    const struct store_document *d;
    const struct resolve_opts *o;
    struct resolve_result *r;
    unsigned flag;
    long long only_id;
    struct err *e;
};

/* Rule 2: flagged contacts at the document's site or at none. */
static int contact_cb(void *ctx, const struct store_rec *c)
{
    struct flagged *f = ctx;
    struct resolve_rcpt *x;

    if (f->only_id) {
        if (c->id != f->only_id)
            return 0;
    } else if (!(validate_bits(c->v[CF_FLAGS], 0) & f->flag)) {
        return 0;
    } else if (f->d->address_label && c->v[CF_SITE] && strcmp(c->v[CF_SITE], f->d->address_label)) {
        return 0;
    }
    x = push(f->r);
    x->level = RESOLVE_CONTACT;
    copy_contact(&x->contact, c);
    return check_rcpt(f->s, f->r, f->d, f->o, f->e);
}

int resolve_document(struct store *s, const struct store_document *d,
                     const struct resolve_opts *o, struct resolve_result *r, struct err *e)
{
    struct flagged f = {s, d, o, r, documents_type_flag(d->type), d->contact_id, e};
    struct store_query q = {.party_ref = d->party_ref};
    const char *level = d->to_level ? d->to_level : "contacts";
    int rc;

    if (d->contact_id || !strcmp(level, "contacts"))
        rc = store_list(s, STORE_CONTACT, &q, contact_cb, &f, NULL, e);
    else if (!strcmp(level, "main"))
        rc = add_main(s, d->party_ref, r, e);
    else
        rc = add_site_contact(s, d, r, e);
    if (!rc && !d->contact_id && strcmp(level, "contacts"))
        rc = check_rcpt(s, r, d, o, e);
    if (!rc && !r->recipients && o->fallback_main && !d->contact_id &&
        !strcmp(level, "contacts") && !(rc = add_main(s, d->party_ref, r, e)))
        rc = check_rcpt(s, r, d, o, e);
    return rc;
}

int resolve_contact(struct store *s, long long id, struct resolve_rcpt *r, struct err *e)
{
    int rc;

    store_rec_init(&r->contact, STORE_CONTACT);
    r->level = RESOLVE_CONTACT;
    rc = store_get(s, STORE_CONTACT, id, NULL, &r->contact, e);
    if (!rc) {
        display_name(r);
        first_email(r);
    }
    return rc;
}
