/* Contacts against the asset-freeze register (SPEC §6 `registry`): the
 * loaded register is kept in the database; a contact that matches an
 * entry (name or alias, as registry_match decides) carries the match, and
 * is never sent to, until an operator clears it for that entry. */
#include "contacts.h"

#include <stdio.h>

#include "registry/registry.h"
#include "util/xalloc.h"

int contacts_registry_open(struct store *s, struct registry **out, struct err *e)
{
    char source[512];
    struct buf text;
    int rc;

    *out = NULL;
    buf_init(&text, 0);
    rc = store_registry_get(s, &text, source, sizeof source, e);
    if (rc == ERR_NOTFOUND) {
        buf_release(&text);
        return 0; /* no register: nobody matches */
    }
    if (!rc) {
        *out = xcalloc(1, sizeof **out);
        if ((rc = registry_parse(source, buf_str(&text), text.len, *out, e))) {
            free(*out);
            *out = NULL;
        }
    }
    buf_release(&text);
    return rc;
}

void contacts_registry_close(struct registry *r)
{
    registry_free(r);
    free(r);
}

/* The match text of contact c ("entry id\tentry name\tmatched"), in out,
 * or "" — an entry the operator cleared for this contact does not count. */
static void match_of(const struct registry *r, const struct store_rec *c, const char *cleared,
                     char *out, size_t n)
{
    const char *which = NULL;
    const struct registry_entry *en;

    out[0] = '\0';
    en = registry_match(r, c->v[CF_FIRST_NAME], c->v[CF_LAST_NAME], c->v[CF_COMPANY], &which);
    if (en && (!cleared || strcmp(cleared, en->id)))
        snprintf(out, n, "%s\t%s\t%s", en->id, en->name, which ? which : en->name);
}

int contacts_registry_check(struct store *s, const struct registry *r, long long id,
                            int *flagged, struct err *e)
{
    char now[600], want[600], cleared[128];
    struct store_rec c;
    int rc;

    *flagged = 0;
    if (!r)
        return 0;
    store_rec_init(&c, STORE_CONTACT);
    if (!(rc = store_get(s, STORE_CONTACT, id, NULL, &c, e)) &&
        !(rc = store_contact_registry_get(s, id, now, sizeof now, cleared, sizeof cleared, e))) {
        match_of(r, &c, cleared, want, sizeof want);
        *flagged = want[0] != '\0';
        if (strcmp(now, want))
            rc = store_contact_registry_set(s, id, want[0] ? want : NULL, e);
    }
    store_rec_release(&c);
    return rc;
}

struct change {
    long long id;
    char *match; /* NULL: clear */
};

struct refresh {
    struct store *s;
    const struct registry *r;
    struct change *v;
    size_t n;
    long long matches;
    struct err *e;
};

static int refresh_cb(void *ctx, const struct store_rec *c)
{
    struct refresh *f = ctx;
    char now[600], want[600], cleared[128];
    int rc;

    if ((rc = store_contact_registry_get(f->s, c->id, now, sizeof now, cleared, sizeof cleared,
                                         f->e)))
        return rc;
    match_of(f->r, c, cleared, want, sizeof want);
    f->matches += want[0] != '\0';
    if (!strcmp(now, want))
        return 0;
    f->v = xrealloc(f->v, (f->n + 1) * sizeof *f->v);
    f->v[f->n].id = c->id;
    f->v[f->n++].match = want[0] ? xstrdup(want) : NULL;
    return 0;
}

int contacts_registry_refresh(struct store *s, const struct registry *r, long long *matches,
                              struct err *e)
{
    struct refresh f = {.s = s, .r = r, .e = e};
    struct store_query q = {0}; /* every contact, historical ones too */
    size_t i;
    int rc;

    *matches = 0;
    if (!r)
        return 0;
    /* changes collected first: no writes inside the listing */
    rc = store_list(s, STORE_CONTACT, &q, refresh_cb, &f, NULL, e);
    for (i = 0; !rc && i < f.n; i++)
        rc = store_contact_registry_set(s, f.v[i].id, f.v[i].match, e);
    for (i = 0; i < f.n; i++)
        free(f.v[i].match);
    free(f.v);
    *matches = f.matches;
    return rc;
}
