/* Merging duplicate contacts (seed 003): the original is kept and gets
 * what the duplicate brings; links move to it; one history row tells it. */
#include "contacts.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "audit/audit.h"
#include "contacts/validate.h"

/* Is item one of the ';'-separated items of list (any case)? */
static int has_item(const char *list, const char *item)
{
    size_t len = strlen(item);

    while (list && *list) {
        size_t n = strcspn(list, ";");
        if (n == len && !strncasecmp(list, item, n))
            return 1;
        list += n + (list[n] == ';');
    }
    return 0;
}

/* "a;b" + "b;c" -> "a;b;c" (case-insensitive for e-mails). */
static void union_list(struct store_rec *keep, size_t f, const char *more)
{
    struct buf b;
    const char *p = more;

    if (!more || !*more)
        return;
    buf_init(&b, 0);
    buf_adds(&b, keep->v[f] ? keep->v[f] : "");
    while (*p) {
        size_t n = strcspn(p, ";");
        char item[400];
        snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), p);
        if (item[0] && !has_item(buf_str(&b), item))
            buf_printf(&b, "%s%s", b.len ? ";" : "", item);
        p += n + (p[n] == ';');
    }
    store_rec_set(keep, f, buf_str(&b));
    buf_release(&b);
}

/* What dup brings to keep: empty fields filled (the site among them),
 * e-mails and phones joined, flags and consents united. */
static void absorb(struct store_rec *keep, const struct store_rec *dup)
{
    struct buf b;
    size_t i;

    for (i = 0; i < CF_COUNT; i++) {
        if (i == CF_EMAIL || i == CF_PHONES) {
            union_list(keep, i, dup->v[i]);
        } else if (i == CF_FLAGS || i == CF_CONSENTS) {
            int consents = i == CF_CONSENTS;
            unsigned bits = validate_bits(keep->v[i], consents) |
                            validate_bits(dup->v[i], consents);
            buf_init(&b, 0);
            if (consents)
                validate_consents_format(&b, bits);
            else
                validate_flags_format(&b, bits);
            store_rec_set(keep, i, b.len ? buf_str(&b) : NULL);
            buf_release(&b);
        } else if ((!keep->v[i] || !*keep->v[i]) && dup->v[i] && i != CF_PARTY_REF &&
                   i != CF_VALID_UNTIL) {
            store_rec_set(keep, i, dup->v[i]);
        }
    }
}

int contacts_merge_check(const struct store_rec *keep, const struct store_rec *dup,
                         struct err *e)
{
    const char *kp = keep->v[CF_PARTY_REF] ? keep->v[CF_PARTY_REF] : "";
    const char *dp = dup->v[CF_PARTY_REF] ? dup->v[CF_PARTY_REF] : "";

    if (keep->id == dup->id)
        return err_set(e, ERR_INPUT, "contact %lld cannot be merged into itself", keep->id);
    if (strcmp(kp, dp))
        return err_set(e, ERR_INPUT,
                       "contacts %lld (party %s) and %lld (party %s) belong to different "
                       "parties: the same person on two files holds two roles, not "
                       "duplicates; nothing merged",
                       keep->id, kp, dup->id, dp);
    return 0;
}

int contacts_merge(struct store *s, struct store_rec *keep, const struct store_rec *dup,
                   struct err *e)
{
    struct store_rec before;
    struct store_history h = {.event = "contact_merged"};
    char dname[256];
    struct buf text;
    size_t i;
    int rc;

    if ((rc = contacts_merge_check(keep, dup, e)))
        return rc;
    store_rec_init(&before, keep->kind);
    before.id = keep->id;
    for (i = 0; i < store_nfields(keep->kind); i++)
        store_rec_set(&before, i, keep->v[i]);
    contacts_display_name(dup, dname, sizeof dname);
    buf_init(&text, 0);
    absorb(keep, dup);
    if ((rc = store_begin(s, e)))
        goto out;
    /* one row, the kept contact's: who was merged in and every field of
     * the kept contact it changed */
    if (!(rc = contacts_save(s, keep, e))) {
        buf_printf(&text, "contact %lld (%s) merged in", dup->id, dname);
        contacts_diff(&before, keep, &text);
        h.contact_id = keep->id;
        h.party_ref = keep->v[CF_PARTY_REF];
        h.server_reply = buf_str(&text);
    }
    if (rc || (rc = store_contact_merge(s, keep->id, dup->id, e)) ||
        (rc = audit_append(s, &h, e)) || (rc = store_commit(s, e)))
        store_rollback(s);
out:
    if (rc) { /* keep as it is stored */
        for (i = 0; i < store_nfields(keep->kind); i++)
            store_rec_set(keep, i, before.v[i]);
    }
    store_rec_release(&before);
    buf_release(&text);
    return rc;
}
