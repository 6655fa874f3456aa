/* Validation and normalisation of directory records, their search text,
 * and saving them through the store.  Error messages name the field with
 * its CSV column name so imports and the CLI report the same words. */
#include "contacts.h"

#include <ctype.h>
#include <string.h>

#include "audit/audit.h"
#include "contacts/validate.h"
#include "text/text.h"
#include "util/date.h"
#include "util/strv.h"
#include "util/xalloc.h"

static const char *const party_kinds[] = {"client", "supplier", "company", "introducer", "claim",
                                          NULL};

static int field_err(struct err *e, enum store_kind k, size_t i, const char *why)
{
    return err_set(e, ERR_INPUT, "field '%s': %s", store_field_name(k, i), why);
}

/* Trims every field; a blank field becomes NULL. */
static void trim_all(struct store_rec *r)
{
    size_t i;

    for (i = 0; i < store_nfields(r->kind); i++) {
        if (!r->v[i])
            continue;
        str_trim(r->v[i]);
        if (!*r->v[i])
            store_rec_set(r, i, NULL);
    }
}

/* Replaces field i by the result of a buf-appending normaliser. */
typedef int (*norm_fn)(const char *in, struct buf *out, struct err *e);

static int norm_emails(const char *in, struct buf *out, struct err *e)
{
    return validate_emails(in, out, e);
}

static int norm_phones(const char *in, struct buf *out, struct err *e)
{
    return validate_phones(in, CONTACTS_DEFAULT_CC, out, e);
}

static int normalise_field(struct store_rec *r, size_t i, norm_fn fn, struct err *e)
{
    struct buf b;
    int rc;

    if (!r->v[i])
        return 0;
    buf_init(&b, 0);
    rc = fn(r->v[i], &b, e);
    if (!rc)
        store_rec_set(r, i, buf_str(&b));
    else
        err_prefix(e, "field '%s'", store_field_name(r->kind, i));
    buf_release(&b);
    return rc;
}

static int check_field(struct store_rec *r, size_t i, int (*fn)(const char *, struct err *),
                       struct err *e)
{
    if (!r->v[i] || !fn(r->v[i], e))
        return 0;
    return err_prefix(e, "field '%s'", store_field_name(r->kind, i));
}

static int check_ref(const char *ref, struct err *e)
{
    const char *p;

    if (strlen(ref) > 64)
        return err_set(e, ERR_INPUT, "'%.*s...' is longer than 64 characters",
                       (int)str_utf8_cut(ref, 20), ref);
    for (p = ref; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_./", *p))
            return err_set(e, ERR_INPUT,
                           "'%s' may only hold letters, digits and - _ . /", ref);
    return 0;
}

static int check_kind(const char *kind, struct err *e)
{
    int i;

    for (i = 0; party_kinds[i]; i++)
        if (!strcmp(kind, party_kinds[i]))
            return 0;
    return err_set(e, ERR_INPUT,
                   "'%s' is not a party kind (client, supplier, company, introducer, claim)", kind);
}

static int normalise_party(struct store_rec *r, struct err *e)
{
    int rc;

    if (!r->v[PF_REF])
        return field_err(e, STORE_PARTY, PF_REF, "is required");
    if (!r->v[PF_KIND])
        store_rec_set(r, PF_KIND, "client");
    if (!r->v[PF_NAME] && (r->v[PF_LAST_NAME] || r->v[PF_FIRST_NAME])) {
        struct buf b;
        buf_init(&b, 0);
        buf_printf(&b, "%s%s%s", r->v[PF_FIRST_NAME] ? r->v[PF_FIRST_NAME] : "",
                   r->v[PF_FIRST_NAME] && r->v[PF_LAST_NAME] ? " " : "",
                   r->v[PF_LAST_NAME] ? r->v[PF_LAST_NAME] : "");
        store_rec_set(r, PF_NAME, buf_str(&b));
        buf_release(&b);
    }
    if (!r->v[PF_NAME])
        return field_err(e, STORE_PARTY, PF_NAME, "is required (or first_name/last_name)");
    if (!r->v[PF_LOCALE])
        store_rec_set(r, PF_LOCALE, "fr");
    if (!strcmp(r->v[PF_KIND], "claim") && !r->v[PF_CLIENT_REF])
        return field_err(e, STORE_PARTY, PF_CLIENT_REF, "is required for a claim");
    if ((rc = check_field(r, PF_REF, check_ref, e)) || (rc = check_field(r, PF_KIND, check_kind, e)) ||
        (rc = check_field(r, PF_LOCALE, validate_locale, e)) ||
        (rc = normalise_field(r, PF_EMAIL, norm_emails, e)) ||
        (rc = normalise_field(r, PF_PHONES, norm_phones, e)))
        return rc;
    return 0;
}

static int normalise_address(struct store_rec *r, struct err *e)
{
    int rc;

    if (!r->v[AF_PARTY_REF])
        return field_err(e, STORE_ADDRESS, AF_PARTY_REF, "is required");
    if (!r->v[AF_LABEL])
        return field_err(e, STORE_ADDRESS, AF_LABEL, "is required");
    if ((rc = normalise_field(r, AF_CONTACT_EMAIL, norm_emails, e)) ||
        (rc = normalise_field(r, AF_CONTACT_PHONE, norm_phones, e)))
        return rc;
    return 0;
}

static int check_order(const char *s, struct err *e)
{
    char *end;
    long n = strtol(s, &end, 10);

    if (end == s || *end || n < 1 || n > 1000000)
        return err_set(e, ERR_INPUT, "'%s' is not a whole number from 1", s);
    return 0;
}

static int check_flags(const char *s, struct err *e)
{
    unsigned bits;
    return validate_flags_parse(s, &bits, e);
}

static int check_consents(const char *s, struct err *e)
{
    unsigned bits;
    return validate_consents_parse(s, &bits, e);
}

static int normalise_contact(struct store_rec *r, struct err *e)
{
    int rc;

    if (!r->v[CF_PARTY_REF])
        return field_err(e, STORE_CONTACT, CF_PARTY_REF, "is required");
    if (!r->v[CF_LAST_NAME] && !r->v[CF_COMPANY])
        return field_err(e, STORE_CONTACT, CF_LAST_NAME, "a last name or a company is required");
    if ((rc = normalise_field(r, CF_EMAIL, norm_emails, e)) ||
        (rc = normalise_field(r, CF_PHONES, norm_phones, e)) ||
        (rc = normalise_field(r, CF_FAX, norm_phones, e)) ||
        (rc = check_field(r, CF_TYPE, validate_type_code, e)) ||
        (rc = check_field(r, CF_LOCALE, validate_locale, e)) ||
        (rc = check_field(r, CF_DISPLAY_ORDER, check_order, e)) ||
        (rc = check_field(r, CF_VALID_FROM, date_check, e)) ||
        (rc = check_field(r, CF_VALID_UNTIL, date_check, e)) ||
        (rc = check_field(r, CF_FLAGS, check_flags, e)) ||
        (rc = check_field(r, CF_CONSENTS, check_consents, e)))
        return rc;
    if (r->v[CF_VALID_FROM] && r->v[CF_VALID_UNTIL] &&
        strcmp(r->v[CF_VALID_FROM], r->v[CF_VALID_UNTIL]) > 0)
        return field_err(e, STORE_CONTACT, CF_VALID_UNTIL, "is before valid_from");
    return 0;
}

/* Runs of spaces and tabs inside a one-line value as one space: "Le  Goff"
 * would greet "Bonjour M. Paul Le  Goff," (the ends are trimmed already). */
static void one_space(char *s)
{
    char *w = s;
    int blank = 0;

    for (; *s; s++) {
        if (*s != ' ' && *s != '\t')
            *w++ = *s, blank = 0;
        else if (!blank)
            *w++ = ' ', blank = 1;
    }
    *w = '\0';
}

/* Street lines and notes may hold several lines; every other field is
 * one line (names and e-mails end up in mail headers). */
static int check_text(struct store_rec *r, struct err *e)
{
    size_t i;

    for (i = 0; i < store_nfields(r->kind); i++) {
        int multiline = r->kind == STORE_CONTACT ? i == CF_NOTE || i == CF_ADDRESS
                        : r->kind == STORE_ADDRESS && i == AF_LINES;
        if (r->v[i] && validate_text(r->v[i], multiline, e))
            return err_prefix(e, "field '%s'", store_field_name(r->kind, i));
        if (r->v[i] && !multiline)
            one_space(r->v[i]);
    }
    return 0;
}

int contacts_normalise(struct store_rec *r, struct err *e)
{
    int rc;

    trim_all(r);
    if ((rc = check_text(r, e)))
        return rc;
    switch (r->kind) {
    case STORE_PARTY: return normalise_party(r, e);
    case STORE_ADDRESS: return normalise_address(r, e);
    case STORE_CONTACT: return normalise_contact(r, e);
    }
    return ERR_INTERNAL;
}

/* Cut to n - 1 bytes as snprintf would: the resolver and the merge make
 * it for every recipient, printf's parsing was most of its cost. */
void contacts_display_name(const struct store_rec *c, char *out, size_t n)
{
    char *const *v = c->v;
    const char *first = v[CF_FIRST_NAME], *last = v[CF_LAST_NAME];
    size_t o, whole;

    if (!n)
        return;
    if (last || first) {
        o = str_puts(out, n, 0, first);
        whole = first ? strlen(first) : 0;
        if (first && last && o == whole)
            o = str_puts(out, n, o, " "), whole++;
        if (o == whole) /* a first name cut short is not followed by a bit of the last */
            str_puts(out, n, o, last);
    } else {
        str_puts(out, n, 0, v[CF_COMPANY]);
    }
}

void contacts_diff(const struct store_rec *old, const struct store_rec *now, struct buf *out)
{
    size_t i;

    for (i = 0; i < store_nfields(now->kind); i++) {
        const char *a = old->v[i], *b = now->v[i];
        if (a == b || (a && b && !strcmp(a, b)))
            continue;
        buf_printf(out, "%s%s: %s → %s", out->len ? "; " : "", store_field_name(now->kind, i),
                   a ? a : "(empty)", b ? b : "(empty)");
    }
}

/* Phones are searchable in E.164 and in the national form users type. */
static void add_phones(struct buf *out, const char *phones)
{
    const char *p = phones;
    size_t cc = strlen(CONTACTS_DEFAULT_CC);

    buf_addc(out, ' ');
    buf_adds(out, phones);
    while (p && *p) {
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > cc + 1 && p[0] == '+' && !strncmp(p + 1, CONTACTS_DEFAULT_CC, cc)) {
            buf_adds(out, " 0");
            buf_add(out, p + 1 + cc, n - 1 - cc);
        }
        p = end ? end + 1 : NULL;
    }
}

void contacts_search_text(const struct store_rec *r, struct buf *out)
{
    static const int folded[] = {CF_LAST_NAME, CF_FIRST_NAME, CF_COMPANY, CF_DEPARTMENT,
                                 CF_FUNCTION, CF_ADDRESS, CF_POSTCODE, CF_CITY,
                                 CF_COUNTRY, CF_EMAIL, CF_WEBSITE, CF_NOTE};
    size_t i;

    for (i = 0; i < sizeof folded / sizeof folded[0]; i++) {
        const char *v = r->v[folded[i]];
        if (!v)
            continue;
        if (out->len)
            buf_addc(out, ' ');
        text_fold_buf(out, v, strlen(v));
    }
    if (r->v[CF_PHONES])
        add_phones(out, r->v[CF_PHONES]);
    if (r->v[CF_FAX])
        add_phones(out, r->v[CF_FAX]);
}

static int phone_like(const char *s)
{
    int digits = 0;

    for (; *s; s++) {
        if (isdigit((unsigned char)*s))
            digits++;
        else if (!strchr(" +.-()/", *s))
            return 0;
    }
    return digits >= 4;
}

char *contacts_search_query(const char *s)
{
    struct buf b;
    char *out;

    if (!s)
        return NULL;
    buf_init(&b, 4096);
    if (phone_like(s)) {
        const char *p = s;
        size_t cc = strlen(CONTACTS_DEFAULT_CC);
        if (p[0] == '+' && !strncmp(p + 1, CONTACTS_DEFAULT_CC, cc))
            buf_addc(&b, '0'), p += 1 + cc;
        for (; *p; p++)
            if (isdigit((unsigned char)*p) || (*p == '+' && !b.len))
                buf_addc(&b, *p);
    } else {
        text_fold_buf(&b, s, strlen(s));
    }
    out = buf_take(&b);
    str_trim(out);
    if (!*out) {
        free(out);
        return NULL;
    }
    return out;
}

int contacts_prepare(struct store_rec *r, struct buf *search, struct err *e)
{
    int rc = contacts_normalise(r, e);

    if (!rc && r->kind == STORE_CONTACT)
        contacts_search_text(r, search);
    return rc;
}

int contacts_store(struct store *s, struct store_rec *r, const char *search, struct err *e)
{
    if (r->kind != STORE_CONTACT)
        return store_upsert(s, r, e);
    if (r->id)
        return store_update(s, r, search, e);
    return store_insert(s, r, search, e);
}

int contacts_save(struct store *s, struct store_rec *r, struct err *e)
{
    struct buf search;
    int rc;

    buf_init(&search, 0);
    rc = contacts_prepare(r, &search, e);
    if (!rc)
        rc = contacts_store(s, r, buf_str(&search), e);
    buf_release(&search);
    return rc;
}

/* Stores r (prepared, with its search text) or deletes contact rm_id, and
 * appends h when it has an event, in one transaction. */
static int with_history(struct store *s, struct store_rec *r, const char *search,
                        long long rm_id, struct store_history *h, struct err *e)
{
    int rc = store_begin(s, e);

    if (rc)
        return rc;
    if (r && !(rc = contacts_store(s, r, search, e)))
        h->contact_id = r->id;
    else if (!r)
        rc = store_contact_rm(s, rm_id, e);
    if (!rc && h->event)
        rc = audit_append(s, h, e);
    if (!rc)
        rc = store_commit(s, e);
    if (rc)
        store_rollback(s);
    return rc;
}

int contacts_save_change(struct store *s, const struct store_rec *old, struct store_rec *r,
                         const char *event, struct err *e)
{
    struct store_history h = {.contact_id = r->id};
    struct buf diff, search;
    int rc;

    buf_init(&diff, 0);
    buf_init(&search, 0);
    rc = contacts_prepare(r, &search, e);
    if (!rc) {
        contacts_diff(old, r, &diff); /* as it will be stored: normalised */
        h.event = diff.len ? event : NULL;
        h.party_ref = r->v[CF_PARTY_REF];
        h.server_reply = buf_str(&diff);
        rc = with_history(s, r, buf_str(&search), 0, &h, e);
    }
    buf_release(&search);
    buf_release(&diff);
    return rc;
}

int contacts_add(struct store *s, struct store_rec *r, struct err *e)
{
    struct store_history h = {.event = "contact_added"};
    struct buf search;
    char name[256];
    int rc;

    buf_init(&search, 0);
    rc = contacts_prepare(r, &search, e);
    if (!rc) {
        contacts_display_name(r, name, sizeof name);
        h.party_ref = r->v[CF_PARTY_REF];
        h.server_reply = name;
        rc = with_history(s, r, buf_str(&search), 0, &h, e);
    }
    buf_release(&search);
    return rc;
}

int contacts_remove(struct store *s, long long id, struct err *e)
{
    struct store_history h = {.event = "contact_removed", .contact_id = id};

    return with_history(s, NULL, NULL, id, &h, e);
}
