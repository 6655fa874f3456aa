/* Campaigns: selection and decisions, frozen recipient lists, rendering
 * into the spool, and sending through the run's dispatcher. */
#include "campaign.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdint.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "contacts/contacts.h"
#include "contacts/validate.h"
#include "run-int.h"
#include "sms/sms.h"
#include "text/text.h"
#include "util/strv.h"
#include "util/xalloc.h"

#define QUEUE_BATCH 500

/* ---- selection ---- */

static const char *const sel_keys[] = {"type", "flag", "party", "party_kind", "city", "search"};
#define NSEL 6

static const char **sel_field(struct campaign_sel *s, size_t i)
{
    const char **f[NSEL] = {&s->type, &s->flag, &s->party, &s->party_kind, &s->city, &s->search};
    return f[i];
}

struct ids { /* ticked contact ids, sorted once complete */
    long long *v;
    size_t n, cap;
    int any; /* a --contacts option was given */
};

static void ids_push(struct ids *t, long long id)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->v = xrealloc(t->v, t->cap * sizeof *t->v);
    }
    t->v[t->n++] = id;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

static int ids_has(const struct ids *t, long long id)
{
    return t->n && bsearch(&id, t->v, t->n, sizeof *t->v, cmp_ll) != NULL;
}

/* Decoded from the campaign's JSON; strings live in *json. */
static int sel_parse(const char *text, struct campaign_sel *s, struct ids *ids, json_t **json,
                     struct err *e)
{
    json_t *id;
    size_t i;

    memset(s, 0, sizeof *s);
    *json = json_loads(text ? text : "{}", 0, NULL);
    if (!*json || !json_is_object(*json)) {
        json_decref(*json);
        *json = NULL;
        return err_set(e, ERR_DB, "campaign selection is not a JSON object");
    }
    for (i = 0; i < NSEL; i++) {
        json_t *v = json_object_get(*json, sel_keys[i]);
        if (json_is_string(v))
            *sel_field(s, i) = json_string_value(v);
    }
    memset(ids, 0, sizeof *ids);
    json_array_foreach(json_object_get(*json, "contacts"), i, id)
        ids_push(ids, json_integer_value(id));
    ids->any = json_is_array(json_object_get(*json, "contacts"));
    if (ids->n)
        qsort(ids->v, ids->n, sizeof *ids->v, cmp_ll);
    return 0;
}

static int is_marketing(const struct store_campaign *c)
{
    return strcmp(c->purpose, "service") != 0;
}

struct seen { /* addresses already taken: open addressing over folded copies */
    char **slot;
    size_t n, cap;
};

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)tolower((unsigned char)*s)) * 1099511628211ULL;
    return h;
}

/* 1 when address was already there; adds it otherwise. */
static int seen_add(struct seen *t, const char *address)
{
    size_t i;

    if (t->n * 2 >= t->cap) {
        struct seen bigger = {NULL, 0, t->cap ? t->cap * 2 : 256};
        bigger.slot = xcalloc(bigger.cap, sizeof *bigger.slot);
        for (i = 0; i < t->cap; i++)
            if (t->slot[i]) {
                size_t k = fnv(t->slot[i]) & (bigger.cap - 1);
                while (bigger.slot[k])
                    k = (k + 1) & (bigger.cap - 1);
                bigger.slot[k] = t->slot[i];
                bigger.n++;
            }
        free(t->slot);
        *t = bigger;
    }
    for (i = fnv(address) & (t->cap - 1); t->slot[i]; i = (i + 1) & (t->cap - 1))
        if (!strcasecmp(t->slot[i], address))
            return 1;
    t->slot[i] = xstrdup(address);
    t->n++;
    return 0;
}

static void seen_free(struct seen *t)
{
    size_t i;

    for (i = 0; i < t->cap; i++)
        free(t->slot[i]);
    free(t->slot);
}

struct select {
    struct store *s;
    const struct store_campaign *c;
    struct campaign_sel sel;
    struct ids ids;
    unsigned flag;
    struct strv kinds; /* party refs of the wanted kind, sorted */
    struct seen seen;
    char *city; /* folded */
    campaign_rcpt_cb cb;
    void *ctx;
    struct err *e;
};

static int kind_cb(void *ctx, const struct store_rec *p)
{
    strv_push(&((struct select *)ctx)->kinds, p->v[PF_REF]);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The decision for one selected contact (SPEC §2.4, §2.5). */
static const char *decide(struct select *x, struct resolve_rcpt *r, struct err *e, int *rc)
{
    const struct store_campaign *c = x->c;
    unsigned consents = validate_bits(r->contact.v[CF_CONSENTS], 1);
    int sms = !strcmp(c->channel, "sms"), suppressed = 0;

    char match[8];

    *rc = 0;
    resolve_address(r, sms);
    /* a lookup that fails is never taken for "not flagged" */
    *rc = store_contact_registry_get(x->s, r->contact.id, match, sizeof match, NULL, 0, e);
    if (*rc && *rc != ERR_NOTFOUND)
        return NULL;
    *rc = 0;
    if (match[0])
        return "registry_match";
    if (!r->address[0])
        return sms ? "no_phone" : "no_email";
    if (!strcmp(c->purpose, "commercial") && !(consents & CONSENT_COMMERCIAL))
        return "no_consent:commercial";
    if (!strcmp(c->purpose, "partner") && !(consents & CONSENT_PARTNER))
        return "no_consent:partner";
    if (sms && is_marketing(c) && !(consents & CONSENT_SMS_MARKETING))
        return "no_consent:sms_marketing";
    if (is_marketing(c) && (*rc = store_suppressed(x->s, r->address, &suppressed, e)))
        return NULL;
    if (suppressed)
        return "unsubscribed";
    if (seen_add(&x->seen, r->address))
        return "duplicate_address";
    return NULL;
}

static int select_cb(void *ctx, const struct store_rec *rec)
{
    struct select *x = ctx;
    struct resolve_rcpt r;
    const char *ref = rec->v[CF_PARTY_REF];
    size_t i;
    int rc;

    if (x->ids.any && !ids_has(&x->ids, rec->id))
        return 0;
    if (x->sel.type && (!rec->v[CF_TYPE] || strcmp(rec->v[CF_TYPE], x->sel.type)))
        return 0;
    if (x->flag && !(validate_bits(rec->v[CF_FLAGS], 0) & x->flag))
        return 0;
    if (x->city) { /* case and accents folded: ORLÉANS = Orléans */
        char *c = rec->v[CF_CITY] ? text_fold(rec->v[CF_CITY]) : NULL;
        int same = c && !strcmp(c, x->city);
        free(c);
        if (!same)
            return 0;
    }
    if (x->sel.party_kind &&
        !(ref && bsearch(&ref, x->kinds.v, x->kinds.n, sizeof *x->kinds.v, cmp_str)))
        return 0;
    memset(&r, 0, sizeof r);
    r.level = RESOLVE_CONTACT;
    store_rec_init(&r.contact, STORE_CONTACT);
    r.contact.id = rec->id;
    for (i = 0; i < CF_COUNT; i++)
        store_rec_set(&r.contact, i, rec->v[i]);
    r.reason = decide(x, &r, x->e, &rc);
    if (!rc)
        rc = x->cb(x->ctx, &r);
    store_rec_release(&r.contact);
    return rc;
}

int campaign_candidates(struct store *s, const struct store_campaign *c, const char *date,
                        campaign_rcpt_cb cb, void *ctx, struct err *e)
{
    struct select x = {.s = s, .c = c, .cb = cb, .ctx = ctx, .e = e};
    struct store_query q = {.date = date};
    char *search = NULL;
    json_t *json;
    int rc;

    if ((rc = sel_parse(c->selection, &x.sel, &x.ids, &json, e)))
        return rc;
    strv_init(&x.kinds);
    if (x.sel.flag && validate_flags_parse(x.sel.flag, &x.flag, e))
        rc = e->code;
    if (x.sel.city)
        x.city = text_fold(x.sel.city);
    if (!rc && x.sel.party_kind) {
        struct store_query kq = {.kind = x.sel.party_kind};
        rc = store_list(s, STORE_PARTY, &kq, kind_cb, &x, NULL, e);
        qsort(x.kinds.v, x.kinds.n, sizeof *x.kinds.v, cmp_str);
    }
    if (!rc) {
        q.party_ref = x.sel.party;
        if (x.sel.search)
            q.search = search = contacts_search_query(x.sel.search);
        rc = store_list(s, STORE_CONTACT, &q, select_cb, &x, NULL, e);
    }
    free(search);
    free(x.city);
    strv_release(&x.kinds);
    seen_free(&x.seen);
    free(x.ids.v);
    json_decref(json);
    return rc;
}

/* ---- creation ---- */

static int template_exists(const struct config *cfg, const char *name, const char *channel)
{
    const char *ext = strcmp(channel, "sms") ? "eml" : "sms";
    struct buf p;
    int ok;

    buf_init(&p, 0);
    buf_printf(&p, "%s/%s/fr.%s.tmpl", cfg->templates, name, ext);
    ok = access(buf_str(&p), R_OK) == 0;
    buf_reset(&p);
    buf_printf(&p, "%s/%s/en.%s.tmpl", cfg->templates, name, ext);
    ok = ok || access(buf_str(&p), R_OK) == 0;
    buf_release(&p);
    return ok;
}

/* One ticked id: a known contact.  where names it in errors. */
static int tick(struct store *s, struct ids *t, const char *text, const char *where,
                struct err *e)
{
    struct store_rec r;
    char *end;
    long long id;
    int rc;

    errno = 0;
    id = strtoll(text, &end, 10);
    if (!isdigit((unsigned char)*text) || *end || errno || id <= 0)
        return err_set(e, ERR_INPUT, "%s: '%s' is not a contact id", where, text);
    store_rec_init(&r, STORE_CONTACT);
    rc = store_get(s, STORE_CONTACT, id, NULL, &r, e);
    store_rec_release(&r);
    if (rc == ERR_NOTFOUND)
        return err_set(e, ERR_INPUT, "%s: no contact %lld", where, id);
    if (!rc)
        ids_push(t, id);
    return rc;
}

/* --contacts ID,ID and --contacts-file FILE into t, sorted, once each. */
static int ticked(struct store *s, const struct campaign_sel *sel, struct ids *t,
                  struct err *e)
{
    struct strv list;
    char line[256], where[4200], *p;
    FILE *f = NULL;
    long lineno = 0;
    size_t i, n;
    int rc = 0;

    t->any = sel->contacts || sel->contacts_file;
    strv_init(&list);
    if (sel->contacts)
        strv_split(&list, sel->contacts, ',');
    for (i = 0; i < list.n && !rc; i++)
        rc = tick(s, t, list.v[i], "--contacts", e);
    if (sel->contacts && !rc && !t->n)
        rc = err_set(e, ERR_INPUT, "--contacts: no contact id");
    if (rc || !sel->contacts_file)
        goto out;
    if (!(f = fopen(sel->contacts_file, "r"))) {
        rc = err_set(e, ERR_INPUT, "--contacts-file: %s: %s", sel->contacts_file,
                     strerror(errno));
        goto out;
    }
    n = t->n;
    while (!rc && fgets(line, sizeof line, f)) {
        snprintf(where, sizeof where, "%s:%ld", sel->contacts_file, ++lineno);
        if (!strchr(line, '\n') && !feof(f))
            rc = err_set(e, ERR_INPUT, "%s: line too long", where);
        else if (*(p = str_trim(line)))
            rc = tick(s, t, p, where, e);
    }
    if (!rc && ferror(f))
        rc = err_set(e, ERR_INPUT, "--contacts-file: %s: read error", sel->contacts_file);
    if (!rc && t->n == n)
        rc = err_set(e, ERR_INPUT, "--contacts-file: %s: no contact id", sel->contacts_file);
out:
    if (f)
        fclose(f);
    strv_release(&list);
    if (t->n)
        qsort(t->v, t->n, sizeof *t->v, cmp_ll);
    for (i = n = 0; i < t->n; i++)
        if (!n || t->v[n - 1] != t->v[i])
            t->v[n++] = t->v[i];
    t->n = n;
    return rc;
}

int campaign_create(struct store *s, const struct config *cfg, const char *name,
                    const char *template_name, const char *channel, const char *purpose,
                    const struct campaign_sel *sel, struct err *e)
{
    struct store_campaign c = {.name = name, .template_name = template_name,
                               .channel = channel, .purpose = purpose};
    struct campaign_sel copy = *sel;
    struct ids ids = {0};
    json_t *o;
    unsigned flag;
    size_t i;
    int rc;

    if (!*name || strlen(name) > 100 || strpbrk(name, "\r\n\t/"))
        return err_set(e, ERR_INPUT, "campaign name '%s': 1 to 100 characters, no '/' or "
                                     "line break", name);
    if (strcmp(channel, "email") && strcmp(channel, "sms"))
        return err_set(e, ERR_INPUT, "--channel: '%s' is not email or sms", channel);
    if (strcmp(purpose, "service") && strcmp(purpose, "commercial") && strcmp(purpose, "partner"))
        return err_set(e, ERR_INPUT, "--purpose: '%s' is not service, commercial or partner",
                       purpose);
    if (sel->flag && validate_flags_parse(sel->flag, &flag, e))
        return err_prefix(e, "--flag");
    if (strchr(template_name, '/') || !template_exists(cfg, template_name, channel))
        return err_set(e, ERR_INPUT, "--template: no %s/%s/fr.%s.tmpl (nor en)", cfg->templates,
                       template_name, strcmp(channel, "sms") ? "eml" : "sms");
    if ((rc = ticked(s, sel, &ids, e))) {
        free(ids.v);
        return rc;
    }
    o = json_object();
    for (i = 0; i < NSEL; i++)
        if (*sel_field(&copy, i))
            json_object_set_new(o, sel_keys[i], json_string(*sel_field(&copy, i)));
    if (ids.any) {
        json_t *a = json_array();
        for (i = 0; i < ids.n; i++)
            json_array_append_new(a, json_integer(ids.v[i]));
        json_object_set_new(o, "contacts", a);
    }
    free(ids.v);
    c.selection = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    rc = store_campaign_add(s, &c, e);
    free((char *)c.selection);
    return rc;
}

/* ---- rendering ---- */

static void token_new(char out[33])
{
    unsigned char r[16];
    size_t i;

    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) /* never in practice */
        for (i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)(rand() & 0xff);
    for (i = 0; i < sizeof r; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* https link and mailto of a recipient's token (SPEC §4, RFC 8058). */
static void unsub_links(const struct config *cfg, const char *token, struct buf *url,
                        struct buf *mailto)
{
    const char *u = cfg->campaign_unsubscribe_url, *t = strstr(u, "{token}");

    buf_reset(url);
    if (t)
        buf_printf(url, "%.*s%s%s", (int)(t - u), u, token, t + 7);
    else
        buf_printf(url, "%s%s", u, token);
    buf_reset(mailto);
    if (*cfg->campaign_unsubscribe_mailto)
        buf_printf(mailto, "mailto:%s?subject=unsubscribe%%20%s", cfg->campaign_unsubscribe_mailto,
                   token);
}

struct renderer {
    struct merge *merge;
    const struct config *cfg;
    const struct store_campaign *c;
    struct buf url, mailto;
    char domain[256];
    int readable; /* preview: messages as a person reads them */
};

static void renderer_init(struct renderer *x, const struct config *cfg,
                          const struct store_campaign *c)
{
    const char *at = strchr(cfg->sender_email, '@');

    memset(x, 0, sizeof *x);
    x->cfg = cfg;
    x->c = c;
    buf_init(&x->url, 0);
    buf_init(&x->mailto, 0);
    snprintf(x->domain, sizeof x->domain, "%s", at ? at + 1 : "postier.invalid");
}

static void renderer_release(struct renderer *x)
{
    merge_free(x->merge);
    buf_release(&x->url);
    buf_release(&x->mailto);
}

/* Stable Message-ID and spool name for (campaign, address, channel). */
static void campaign_mid(const struct renderer *x, const char *address, char *spool, char *mid,
                         size_t n)
{
    struct buf key;
    char hex[65];
    size_t i;

    buf_init(&key, 0);
    buf_printf(&key, "campaign\n%s\n", x->c->name);
    for (i = 0; address[i]; i++)
        buf_addc(&key, (char)tolower((unsigned char)address[i]));
    buf_printf(&key, "\n%s", x->c->channel);
    audit_sha256_hex(buf_str(&key), key.len, hex);
    buf_release(&key);
    memcpy(spool, hex, 32);
    spool[32] = '\0';
    snprintf(mid, n, "<%s@%s>", spool, x->domain);
}

static int render_one(struct renderer *x, const struct resolve_rcpt *r, const char *token,
                      const char *mid, struct buf *out, struct merge_info *info, struct err *e)
{
    struct merge_campaign mc = {
        .name = x->c->name, .template_name = x->c->template_name,
        .sms = !strcmp(x->c->channel, "sms"), .marketing = is_marketing(x->c),
        .stop_text = x->cfg->sms_stop_text, .readable = x->readable,
    };
    int rc;

    unsub_links(x->cfg, token, &x->url, &x->mailto);
    mc.unsub_url = buf_str(&x->url);
    mc.unsub_mailto = x->mailto.len ? buf_str(&x->mailto) : NULL;
    rc = merge_campaign(x->merge, &mc, r, mid, out, info, e);
    if (!rc && mc.sms && out->data) {
        sms_simplify(out->data);
        out->len = strlen(out->data);
    }
    return rc;
}

/* ---- preview ---- */

struct preview {
    long limit;
    struct resolve_rcpt *v; /* the first limit recipients, copied */
    size_t n;
    struct buf excluded;
};

static void rcpt_copy(struct resolve_rcpt *dst, const struct resolve_rcpt *src)
{
    size_t i;

    *dst = *src;
    store_rec_init(&dst->contact, STORE_CONTACT);
    dst->contact.id = src->contact.id;
    for (i = 0; i < CF_COUNT; i++)
        store_rec_set(&dst->contact, i, src->contact.v[i]);
}

/* Collects during the selection; renders after it (rendering reads the
 * directory too, which must not happen inside the selection's listing). */
static int preview_cb(void *ctx, const struct resolve_rcpt *r)
{
    struct preview *p = ctx;

    if (r->reason) {
        buf_printf(&p->excluded, "  %s%s%s (%s)\n", r->display, r->address[0] ? " " : "",
                   r->address, r->reason);
        return 0;
    }
    if ((long)p->n >= p->limit)
        return 0;
    p->v = xrealloc(p->v, (p->n + 1) * sizeof *p->v);
    rcpt_copy(&p->v[p->n++], r);
    return 0;
}

struct found {
    struct store_campaign c;
    char *strings[10];
};

static int found_cb(void *ctx, const struct store_campaign *c)
{
    struct found *f = ctx;
    const char *src[10] = {c->name, c->template_name, c->channel, c->purpose, c->selection,
                           c->state, c->scheduled_at, c->frozen_at, c->created_at, NULL};
    const char **dst[10] = {&f->c.name, &f->c.template_name, &f->c.channel, &f->c.purpose,
                            &f->c.selection, &f->c.state, &f->c.scheduled_at, &f->c.frozen_at,
                            &f->c.created_at, NULL};
    size_t i;

    f->c.id = c->id;
    for (i = 0; src[i] || dst[i]; i++) {
        f->strings[i] = xstrdup(src[i]);
        *dst[i] = f->strings[i];
    }
    return 0;
}

static void found_release(struct found *f)
{
    size_t i;

    for (i = 0; i < 10; i++)
        free(f->strings[i]);
    memset(f, 0, sizeof *f);
}

static int load(struct store *s, const char *name, struct found *f, struct err *e)
{
    memset(f, 0, sizeof *f);
    return store_campaign_get(s, name, NULL, found_cb, f, e);
}

int campaign_remove(struct store *s, const char *name, struct err *e)
{
    struct found f;
    int rc;

    if ((rc = load(s, name, &f, e)))
        goto out;
    /* the store deletes only a draft: a launch racing this is never lost */
    if ((rc = store_campaign_rm_draft(s, f.c.id, e)) == ERR_INPUT)
        rc = err_set(e, ERR_INPUT, "campaign %s was launched: it stays in the history", name);
out:
    found_release(&f);
    return rc;
}

static void today(char out[11])
{
    time_t t = time(NULL);
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

int campaign_preview(struct store *s, const struct config *cfg, const char *name, long limit,
                     void (*out)(void *ctx, const char *text), void *ctx, struct err *e)
{
    struct preview p = {.limit = limit};
    struct renderer x;
    struct buf msg;
    struct found f;
    char date[11];
    size_t i;
    int rc;

    if ((rc = load(s, name, &f, e)))
        return rc;
    today(date);
    renderer_init(&x, cfg, &f.c);
    x.readable = 1;
    buf_init(&p.excluded, 0);
    buf_init(&msg, 0);
    rc = merge_new(s, cfg->templates, cfg->sender_name, cfg->sender_email, date, &x.merge, e);
    if (!rc)
        merge_set_max_iterations(x.merge, cfg->template_max_iterations);
    if (!rc)
        rc = campaign_candidates(s, &f.c, date, preview_cb, &p, e);
    for (i = 0; !rc && i < p.n; i++) {
        struct merge_info info;
        char spool[40], mid[320];
        struct err me;

        campaign_mid(&x, p.v[i].address, spool, mid, sizeof mid);
        buf_reset(&msg);
        buf_adds(&msg, "--- to ");
        text_one_line(&msg, p.v[i].display); /* one line, whatever the name holds */
        buf_printf(&msg, " <%s>\n", p.v[i].address);
        if (render_one(&x, &p.v[i], "preview", mid, &msg, &info, &me)) {
            if (me.code != ERR_INPUT && me.code != ERR_IO && me.code != ERR_TOOBIG)
                rc = (*e = me, me.code);
            buf_printf(&msg, "FAILED (template): %s\n", me.msg);
        }
        buf_addc(&msg, '\n');
        if (!rc)
            out(ctx, buf_str(&msg));
    }
    if (!rc) {
        buf_reset(&msg);
        buf_printf(&msg, "excluded:\n%s", buf_str(&p.excluded));
        out(ctx, buf_str(&msg));
    }
    for (i = 0; i < p.n; i++)
        store_rec_release(&p.v[i].contact);
    free(p.v);
    buf_release(&p.excluded);
    buf_release(&msg);
    renderer_release(&x);
    found_release(&f);
    return rc;
}

/* ---- test ---- */

struct first {
    struct resolve_rcpt r;
    int found;
};

static int first_cb(void *ctx, const struct resolve_rcpt *r)
{
    struct first *f = ctx;

    if (f->found || r->reason)
        return 0;
    rcpt_copy(&f->r, r);
    f->found = 1;
    return 0;
}

struct test_outcome {
    struct transport_reply r;
    int done;
};

static void test_done(void *ctx, void *cookie, const struct transport_reply *r)
{
    struct test_outcome *o = ctx;

    (void)cookie;
    o->r = *r;
    o->done = 1;
}

int campaign_test(struct store *s, const struct config *cfg, const char *name,
                  const char *address, char *reply, size_t n, struct err *e)
{
    struct job j = {.s = s, .cfg = cfg};
    struct first f = {.found = 0};
    struct test_outcome o = {.done = 0};
    struct merge_info info = {{0}, {0}, NULL};
    struct renderer x;
    struct buf msg;
    struct found fc;
    char date[11], spool[40], mid[320], serial[64];
    int sms, rc;

    if ((rc = load(s, name, &fc, e)))
        return rc;
    run_job_init(&j);
    sms = !strcmp(fc.c.channel, "sms");
    today(date);
    renderer_init(&x, cfg, &fc.c);
    buf_init(&msg, 0);
    rc = merge_new(s, cfg->templates, cfg->sender_name, cfg->sender_email, date, &x.merge, e);
    if (!rc)
        merge_set_max_iterations(x.merge, cfg->template_max_iterations);
    if (!rc)
        rc = campaign_candidates(s, &fc.c, date, first_cb, &f, e);
    if (!rc && !f.found)
        rc = err_set(e, ERR_INPUT, "campaign '%s' has no recipient to take the data from", name);
    if (!rc) {
        /* the first recipient's data, sent to the test address */
        snprintf(f.r.address, sizeof f.r.address, "%s", address);
        snprintf(serial, sizeof serial, "test-%lld", (long long)time(NULL));
        campaign_mid(&x, serial, spool, mid, sizeof mid);
        j.sms_on = sms;
        rc = render_one(&x, &f.r, "test", mid, &msg, &info, e);
    }
    if (!rc && !(rc = run_open_transports(&j, e))) {
        struct transport *t = sms ? j.sms_tr : j.tr;
        struct transport_msg m = {.id = spool, .from = sms ? cfg->sms_sender : cfg->sender_email,
                                  .to = address};
        if (t && sms && !strcmp(t->name, "maildir"))
            rc = run_sms_as_mail(cfg, address, mid, &msg, e);
        m.data = buf_str(&msg);
        m.len = msg.len;
        if (!rc && !t)
            rc = err_set(e, ERR_CONFIG, "[sms] transport = none: no SMS can be sent");
        else if (!rc && !(rc = t->submit(t, &m, e)))
            while (!rc && !o.done)
                rc = t->poll(t, 1000, test_done, &o, e);
    }
    if (!rc) {
        char text[300];
        struct store_history h = {
            .event = "test", .channel = fc.c.channel, .address = address,
            .contact_id = f.r.contact.id, .campaign = name, .template_name = info.template_name,
            .template_sha256 = info.template_sha256, .message_id = mid,
            .reason = o.r.outcome == TRANSPORT_SENT ? NULL : o.r.reason, .server_reply = text,
        };
        if (o.r.code && strncmp(o.r.text, "", 1) && !isdigit((unsigned char)o.r.text[0]))
            snprintf(text, sizeof text, "%d %s", o.r.code, o.r.text);
        else
            snprintf(text, sizeof text, "%s", o.r.text);
        snprintf(reply, n, "%s", text);
        rc = audit_append(s, &h, e);
        if (!rc && o.r.outcome != TRANSPORT_SENT)
            rc = err_set(e, ERR_TEMPFAIL, "the test message was not accepted: %s", text);
    }
    run_job_release(&j);
    if (f.found)
        store_rec_release(&f.r.contact);
    buf_release(&msg);
    renderer_release(&x);
    found_release(&fc);
    return rc;
}

/* ---- launch ---- */

struct freezer {
    struct store *s;
    const struct store_campaign *c;
    long long seq;
    struct err *e;
};

static int freeze_cb(void *ctx, const struct resolve_rcpt *r)
{
    struct freezer *z = ctx;
    char token[33] = "";
    int rc;

    if (!r->reason)
        token_new(token);
    rc = store_campaign_rcpt_add(z->s, z->c->id, ++z->seq, r->contact.id, r->address, r->reason,
                                 r->reason ? NULL : token, z->e);
    if (rc || !r->reason)
        return rc;
    struct store_history h = {
        .event = "skipped", .channel = z->c->channel,
        .address = r->address[0] ? r->address : NULL, .contact_id = r->contact.id,
        .party_ref = r->contact.v[CF_PARTY_REF], .campaign = z->c->name, .reason = r->reason,
        .consent = r->contact.v[CF_CONSENTS],
    };
    return audit_append(z->s, &h, z->e);
}

/* Decides and records the candidates once, in one transaction. */
static int freeze(struct job *j, const struct store_campaign *c, struct err *e)
{
    struct freezer z = {.s = j->s, .c = c, .e = e};
    char date[11];
    int rc;

    if (c->frozen_at)
        return 0;
    today(date);
    if ((rc = store_begin(j->s, e)))
        return rc;
    if ((rc = campaign_candidates(j->s, c, date, freeze_cb, &z, e)) ||
        (rc = store_campaign_freeze(j->s, c->id, e)) ||
        (rc = store_campaign_set_state(j->s, c->id, "running", NULL, e)) ||
        (rc = store_commit(j->s, e))) {
        store_rollback(j->s);
        return rc;
    }
    return 0;
}

struct queuer {
    struct job *j;
    struct renderer x;
    const struct store_campaign *c;
    long long count; /* queued in the open transaction */
    struct err *e;
};

static int flush_batch(struct queuer *q, int reopen)
{
    struct job *j = q->j;
    int rc;

    if ((rc = spool_commit(j->spool, q->e)) || (rc = store_commit(j->s, q->e))) {
        store_rollback(j->s);
        return rc;
    }
    q->count = 0;
    if (j->dispatch && (rc = dispatch_pump(j->dispatch, 1, q->e)))
        return rc;
    if (j->sms_dispatch && (rc = dispatch_pump(j->sms_dispatch, 1, q->e)))
        return rc;
    return reopen ? store_begin(j->s, q->e) : 0;
}

static int queue_cb(void *ctx, long long seq, long long contact_id, const char *address,
                    const char *reason, const char *token)
{
    struct queuer *q = ctx;
    struct job *j = q->j;
    const struct store_campaign *c = q->c;
    struct resolve_rcpt r;
    struct merge_info info = {{0}, {0}, NULL};
    const char *state = NULL;
    char spool[40], mid[320];
    struct err me;
    int rc;

    (void)seq;
    if (reason)
        return 0;
    if ((rc = store_delivery_find(j->s, 0, c->name, c->channel, address, &state, q->e)) || state)
        return rc; /* queued before (a resume): never twice */
    memset(&r, 0, sizeof r);
    r.level = RESOLVE_CONTACT;
    store_rec_init(&r.contact, STORE_CONTACT);
    if ((rc = store_get(j->s, STORE_CONTACT, contact_id, NULL, &r.contact, q->e))) {
        store_rec_release(&r.contact);
        return rc;
    }
    resolve_address(&r, !strcmp(c->channel, "sms"));
    snprintf(r.address, sizeof r.address, "%s", address); /* as frozen */
    campaign_mid(&q->x, address, spool, mid, sizeof mid);
    buf_reset(&j->msg);
    struct store_delivery dl = {.contact_id = contact_id, .campaign = c->name,
                                .channel = c->channel, .address = address, .message_id = mid,
                                .state = "queued", .consent = r.contact.v[CF_CONSENTS]};
    struct store_history h = {.event = "queued", .channel = c->channel, .address = address,
                              .contact_id = contact_id, .party_ref = r.contact.v[CF_PARTY_REF],
                              .campaign = c->name, .message_id = mid,
                              .consent = r.contact.v[CF_CONSENTS]};
    if (render_one(&q->x, &r, token ? token : "", mid, &j->msg, &info, &me)) {
        if (me.code != ERR_INPUT && me.code != ERR_IO && me.code != ERR_TOOBIG) {
            store_rec_release(&r.contact);
            return (*q->e = me, me.code);
        }
        dl.state = h.event = "failed";
        h.reason = "template";
        h.server_reply = me.msg;
        j->sum->failed++;
        run_count_reason(j->sum, "template");
    } else {
        j->sum->queued++;
    }
    char sha[65];
    if (!strcmp(h.event, "queued")) {
        audit_sha256_hex(buf_str(&j->msg), j->msg.len, sha);
        h.message_sha256 = sha;
    }
    dl.template_name = h.template_name = info.template_name;
    dl.template_sha256 = h.template_sha256 = info.template_sha256;
    rc = store_delivery_add(j->s, &dl, q->e);
    if (!rc && !strcmp(h.event, "queued"))
        rc = spool_write(j->spool, spool, dl.id, buf_str(&j->msg), j->msg.len, q->e);
    if (!rc)
        rc = audit_append(j->s, &h, q->e);
    store_rec_release(&r.contact);
    if (!rc && ++q->count >= QUEUE_BATCH)
        rc = flush_batch(q, 1);
    return rc;
}

int run_campaign_queue(struct job *j, const struct store_campaign *c, struct err *e)
{
    struct queuer q = {.j = j, .c = c, .e = e};
    char date[11];
    int rc;

    if ((rc = freeze(j, c, e)))
        return rc;
    today(date);
    renderer_init(&q.x, j->cfg, c);
    rc = merge_new(j->s, j->cfg->templates, j->cfg->sender_name, j->cfg->sender_email, date,
                   &q.x.merge, e);
    if (!rc)
        merge_set_max_iterations(q.x.merge, j->cfg->template_max_iterations);
    if (!rc && !(rc = store_begin(j->s, e))) {
        rc = store_campaign_rcpts(j->s, c->id, queue_cb, &q, e);
        if (!rc)
            rc = flush_batch(&q, 0);
        else
            store_rollback(j->s);
    }
    renderer_release(&q.x);
    return rc;
}

/* Done when nothing of it is left to send. */
int run_campaign_settle(struct job *j, const struct store_campaign *c, struct err *e)
{
    struct store_campaign_counts n;
    char state[16];
    int rc;

    if ((rc = store_campaign_counts(j->s, c, &n, e)) ||
        (rc = store_campaign_state(j->s, c->id, state, sizeof state, e)))
        return rc;
    if (!strcmp(state, "running") && !n.queued && !n.deferred)
        return store_campaign_set_state(j->s, c->id, "done", NULL, e);
    return 0;
}

/* Paused or cancelled by another process? (checked by the dispatcher) */
static int stop_check(struct job *j)
{
    char state[16];

    if (store_campaign_state(j->s, j->campaign_id, state, sizeof state, NULL))
        return 0;
    return strcmp(state, "running") != 0;
}

static int count_reasons(void *ctx, long long seq, long long contact_id, const char *address,
                         const char *reason, const char *token)
{
    struct run_summary *sum = ctx;

    (void)seq, (void)contact_id, (void)address, (void)token;
    if (reason)
        run_count_reason(sum, reason);
    return 0;
}

int campaign_launch(struct store *s, const struct config *cfg, const char *name,
                    const struct run_opts *o, struct run_summary *sum, struct err *e)
{
    struct job j = {.s = s, .cfg = cfg, .o = o, .sum = sum, .campaign = name};
    struct store_campaign_counts n;
    struct found f;
    int rc;

    memset(sum, 0, sizeof *sum);
    if ((rc = load(s, name, &f, e)))
        return rc;
    if (!strcmp(f.c.state, "cancelled")) {
        found_release(&f);
        return err_set(e, ERR_INPUT, "campaign '%s' was cancelled", name);
    }
    run_job_init(&j);
    j.campaign_id = f.c.id;
    j.stop_check = stop_check;
    j.sms_on = !strcmp(f.c.channel, "sms");
    snprintf(j.domain, sizeof j.domain, "postier.invalid");
    if (j.sms_on && !strcmp(cfg->sms_transport, "none"))
        rc = err_set(e, ERR_CONFIG, "[sms] transport = none: an SMS campaign cannot be sent");
    if (!rc && j.sms_on)
        rc = run_quiet_now(cfg, &j.quiet_now, e);
    if (!rc && !(rc = spool_open(cfg->spool, &j.spool, e)) &&
        !(rc = journal_open(cfg->spool, &j.journal, e)))
        rc = run_recover(&j, e);
    if (!rc && strcmp(f.c.state, "done")) {
        if (!strcmp(f.c.state, "paused") || !strcmp(f.c.state, "draft") ||
            !strcmp(f.c.state, "scheduled"))
            rc = f.c.frozen_at ? store_campaign_set_state(s, f.c.id, "running", NULL, e) : 0;
        if (!rc && !(rc = run_open_transports(&j, e)))
            rc = dispatch_new(&j, j.sms_on ? j.sms_tr : j.tr, f.c.channel,
                              j.sms_on ? &j.sms_dispatch : &j.dispatch, e);
        if (!rc)
            rc = run_campaign_queue(&j, &f.c, e);
        if (j.dispatch || j.sms_dispatch) {
            struct err de;
            int drc = dispatch_finish(j.sms_on ? j.sms_dispatch : j.dispatch, !rc, &de);
            if (drc && !rc)
                *e = de, rc = drc;
        }
        if (!rc)
            rc = run_campaign_settle(&j, &f.c, e);
    }
    /* the summary counts the whole campaign */
    if (!rc && !(rc = store_campaign_counts(s, &f.c, &n, e))) {
        sum->documents = n.recipients;
        sum->queued = n.queued;
        sum->sent = n.sent;
        sum->deferred = n.deferred;
        sum->failed = n.failed;
        sum->skipped = n.skipped;
        sum->nreasons = 0;
        rc = store_campaign_rcpts(s, f.c.id, count_reasons, sum, e);
    }
    run_job_release(&j);
    found_release(&f);
    return rc;
}

/* ---- unsubscribe ---- */

int campaign_unsubscribe(struct store *s, const char *what, const char *source, char *out,
                         size_t n, struct err *e)
{
    char campaign[128] = "";
    int rc;

    if (strchr(what, '@') || what[0] == '+') {
        snprintf(out, n, "%s", what);
    } else if ((rc = store_campaign_token(s, what, out, n, campaign, sizeof campaign, e))) {
        return rc;
    } else if (!source) {
        source = "token";
    }
    if (!source)
        source = "cli";
    if ((rc = store_begin(s, e)))
        return rc;
    rc = store_suppression_add(s, out, source, e);
    if (rc == ERR_EXISTS) {
        store_rollback(s);
        return err_set(e, ERR_EXISTS, "%s is already unsubscribed", out);
    }
    if (!rc) {
        struct store_history h = {.event = "unsubscribed",
                                  .channel = out[0] == '+' ? "sms" : "email", .address = out,
                                  .campaign = campaign[0] ? campaign : NULL, .reason = source};
        rc = audit_append(s, &h, e);
    }
    if (rc || (rc = store_commit(s, e))) {
        store_rollback(s);
        return rc;
    }
    return 0;
}
