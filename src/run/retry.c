/* `retry`: the failed deliveries of documents sent again (SPEC §5, §6).
 * The planner (run.c) plans each document a retry selects with the list
 * of its failed deliveries read here; retry_concerned says which of its
 * candidates of today are to be planned. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "run-int.h"
#include "util/date.h"
#include "util/xalloc.h"

static int collect_failed(void *ctx, const struct store_delivery *dl)
{
    struct retry_failed *f = ctx;

    if (f->n == f->a) {
        f->a = f->a ? 2 * f->a : 8;
        f->v = xrealloc(f->v, f->a * sizeof *f->v);
    }
    f->v[f->n++] = (struct retry_failed_to){.address = xstrdup(dl->address),
                                            .contact_id = dl->contact_id};
    return 0;
}

void retry_failed_release(struct retry_failed *f, int free_all)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].address);
    f->n = 0;
    if (free_all) {
        free(f->v);
        f->v = NULL;
        f->a = 0;
    }
}

int retry_load_failed(struct store *s, const struct store_retry *f,
                      const struct store_document *d, int sms, const struct resolve_result *res,
                      struct retry_failed *out, struct err *e)
{
    int rc;

    retry_failed_release(out, 0);
    rc = store_delivery_retryable(s, f, d->id, sms ? "sms" : "email", collect_failed, out, e);
    for (size_t k = 0; !rc && k < out->n; k++)
        for (size_t i = 0; i < res->n && !out->v[k].seen; i++)
            out->v[k].seen = !strcasecmp(res->v[i].address, out->v[k].address);
    return rc;
}

int retry_concerned(const struct retry_failed *f, const struct resolve_rcpt *r)
{
    int how = 0;

    for (size_t k = 0; k < f->n && how != 1; k++) {
        const struct retry_failed_to *x = &f->v[k];
        if (r->address[0] && !strcasecmp(x->address, r->address))
            how = 1;
        else if (!x->seen && (r->level == RESOLVE_CONTACT ? x->contact_id == r->contact.id
                                                          : !x->contact_id))
            how = 2;
    }
    return how;
}

/* The UTC stamp of local midnight on date (YYYY-MM-DD, checked), as
 * the deliveries' updated_at are written. */
static int local_midnight_utc(const char *date, char *out, size_t n, struct err *e)
{
    struct tm tm = {.tm_isdst = -1};
    time_t t;

    if (sscanf(date, "%d-%d-%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
        return err_set(e, ERR_INPUT, "%s: not a date (YYYY-MM-DD)", date);
    tm.tm_year -= 1900;
    tm.tm_mon--;
    t = mktime(&tm);
    if (t == (time_t)-1 || !gmtime_r(&t, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return err_set(e, ERR_INPUT, "%s: not a date this system can place", date);
    return 0;
}

int run_retry(struct store *s, const struct config *cfg, const struct run_opts *o,
              const struct store_retry *f, struct run_summary *sum, struct err *e)
{
    struct store_retry g = *f;
    char since[STAMP_LEN + 1];
    int rc;

    memset(sum, 0, sizeof *sum);
    if (f->since && (rc = local_midnight_utc(f->since, since, sizeof since, e)))
        return rc;
    if (f->since)
        g.since = since;
    return run_job(s, cfg, o, &g, sum, e);
}
