/* SMS over HTTP gateways (libcurl multi): Kannel's sendsms interface (GET
 * with the message in the query) and a generic JSON POST with a bearer
 * token.  Up to `connections` requests in flight, each easy handle reused
 * so its connection is kept alive.  HTTP answers map to outcomes: 2xx
 * sent; 429 and 5xx deferred; any other status failed; a timeout or a
 * lost connection deferred.  The history text carries the gateway's
 * answer (or message id), the coding and the number of segments.
 * Credentials (Kannel's password, the JSON token, a URL's user:password)
 * never go over http:// unless allowed, and never show in an error or in
 * the history: they are replaced by "***". */
#include "transport.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>

#include "sms/sms.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define ANSWER_MAX 4096 /* bytes of a gateway's answer kept */

struct req {
    CURL *h;
    int busy;
    struct transport_msg m;
    struct sms_size size;
    struct buf answer;
    struct curl_slist *headers;
    char *url, *body;
    char errbuf[CURL_ERROR_SIZE];
};

struct sms_http {
    struct transport t;
    int json; /* else kannel */
    char *url, *username, *password, *token, *dlr_url;
    char *shown;       /* url without user:password@ nor query, for messages */
    char *secret[4];   /* what is masked in texts (NULL: none) */
    long dlr_mask, timeout;
    CURLM *multi;
    struct req *r;
    size_t n, busy;
    int connect_failures;
    struct err fatal;
};

static size_t on_answer(char *p, size_t size, size_t nitems, void *ud)
{
    struct req *q = ud;
    size_t n = size * nitems;

    if (q->answer.len < ANSWER_MAX)
        buf_add(&q->answer, p, n < ANSWER_MAX - q->answer.len ? n : ANSWER_MAX - q->answer.len);
    return n;
}

static void add_param(struct buf *b, CURL *h, const char *name, const char *value)
{
    char *v = curl_easy_escape(h, value, 0);

    buf_printf(b, "%c%s=%s", strchr(buf_str(b), '?') ? '&' : '?', name, v ? v : "");
    curl_free(v);
}

/* GET <url>?username=&password=&from=&to=&text=&charset=UTF-8[&coding=2][&dlr-…] */
static void kannel_request(struct sms_http *s, struct req *q)
{
    struct buf u;

    buf_init(&u, 0);
    buf_adds(&u, s->url);
    add_param(&u, q->h, "username", s->username ? s->username : "");
    add_param(&u, q->h, "password", s->password ? s->password : "");
    add_param(&u, q->h, "from", q->m.from ? q->m.from : "");
    add_param(&u, q->h, "to", q->m.to);
    add_param(&u, q->h, "text", q->m.data);
    add_param(&u, q->h, "charset", "UTF-8");
    if (q->size.coding == SMS_UCS2)
        add_param(&u, q->h, "coding", "2");
    if (s->dlr_mask > 0) {
        char mask[24];
        snprintf(mask, sizeof mask, "%ld", s->dlr_mask);
        add_param(&u, q->h, "dlr-mask", mask);
        if (s->dlr_url)
            add_param(&u, q->h, "dlr-url", s->dlr_url);
    }
    q->url = buf_take(&u);
    curl_easy_setopt(q->h, CURLOPT_URL, q->url);
    curl_easy_setopt(q->h, CURLOPT_HTTPGET, 1L);
}

/* POST <url> {"from", "to", "text"} with Authorization: Bearer <token> */
static void json_request(struct sms_http *s, struct req *q)
{
    json_t *o = json_pack("{s:s, s:s, s:s}", "from", q->m.from ? q->m.from : "", "to", q->m.to,
                          "text", q->m.data);
    struct buf auth;

    q->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    buf_init(&auth, 0);
    buf_printf(&auth, "Authorization: Bearer %s", s->token ? s->token : "");
    q->headers = curl_slist_append(q->headers, buf_str(&auth));
    q->headers = curl_slist_append(q->headers, "Content-Type: application/json");
    buf_release(&auth);
    curl_easy_setopt(q->h, CURLOPT_URL, s->url);
    curl_easy_setopt(q->h, CURLOPT_HTTPHEADER, q->headers);
    curl_easy_setopt(q->h, CURLOPT_POSTFIELDS, q->body ? q->body : "{}");
}

static int sh_submit(struct transport *t, const struct transport_msg *m, struct err *e)
{
    struct sms_http *s = (struct sms_http *)t;
    struct req *q = NULL;
    size_t i;

    for (i = 0; i < s->n && !q; i++)
        if (!s->r[i].busy)
            q = &s->r[i];
    if (!q)
        return err_set(e, ERR_INTERNAL, "sms: more than %zu requests in flight", s->n);
    q->m = *m;
    if (sms_measure(m->data, &q->size, e))
        return e->code;
    buf_reset(&q->answer);
    q->errbuf[0] = '\0';
    if (s->json)
        json_request(s, q);
    else
        kannel_request(s, q);
    if (curl_multi_add_handle(s->multi, q->h) != CURLM_OK)
        return err_set(e, ERR_INTERNAL, "sms: cannot start a request");
    q->busy = 1;
    s->busy++;
    return 0;
}

/* The gateway's message id: JSON "id", "message_id" or "messageId". */
static void json_id(const char *answer, char *out, size_t n)
{
    static const char *const keys[] = {"id", "message_id", "messageId"};
    json_t *o = json_loads(answer, 0, NULL);
    size_t i;

    out[0] = '\0';
    for (i = 0; o && json_is_object(o) && !out[0] && i < 3; i++) {
        json_t *v = json_object_get(o, keys[i]);
        if (json_is_string(v))
            snprintf(out, n, "%s", json_string_value(v));
        else if (json_is_integer(v))
            snprintf(out, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    }
    json_decref(o);
}

/* First line of the answer, printable ASCII, at most n - 1 bytes. */
static void first_line(const char *s, char *out, size_t n)
{
    size_t k = 0;

    for (; *s && *s != '\r' && *s != '\n' && k + 1 < n; s++)
        out[k++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    out[k] = '\0';
}

/* Every secret of s in text (n bytes) replaced by "***". */
static void redact(const struct sms_http *s, char *text, size_t n)
{
    size_t i;

    for (i = 0; i < sizeof s->secret / sizeof *s->secret; i++) {
        const char *w = s->secret[i], *from = text, *p;
        struct buf b;

        if (!w || !strstr(text, w))
            continue;
        buf_init(&b, 0);
        while ((p = strstr(from, w))) {
            buf_add(&b, from, (size_t)(p - from));
            buf_adds(&b, "***");
            from = p + strlen(w);
        }
        buf_adds(&b, from);
        snprintf(text, n, "%s", buf_str(&b));
        buf_release(&b);
    }
}

static void classify(struct sms_http *s, struct req *q, CURLcode rc, struct transport_reply *r)
{
    const char *coding = q->size.coding == SMS_UCS2 ? "UCS-2" : "GSM-7";
    const char *why = q->errbuf[0] ? q->errbuf : curl_easy_strerror(rc);
    char said[160];
    long status = 0;

    memset(r, 0, sizeof *r);
    redact(s, q->errbuf, sizeof q->errbuf);
    curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK && status > 0) {
        s->connect_failures = 0;
        r->code = (int)status;
        first_line(buf_str(&q->answer), said, sizeof said);
        if (status / 100 == 2) {
            r->outcome = TRANSPORT_SENT;
            if (s->json)
                json_id(buf_str(&q->answer), r->provider_id, sizeof r->provider_id);
            if (r->provider_id[0])
                snprintf(said, sizeof said, "id %.60s", r->provider_id);
        } else if (status == 429 || status / 100 == 5) {
            r->outcome = TRANSPORT_DEFERRED;
            r->reason = "tempfail";
        } else {
            r->outcome = TRANSPORT_FAILED;
            r->reason = "rejected";
        }
        snprintf(r->text, sizeof r->text, "%ld %s (%s, %zu segment%s)", status, said, coding,
                 q->size.segments, q->size.segments == 1 ? "" : "s");
        redact(s, r->text, sizeof r->text);
        return;
    }
    r->outcome = TRANSPORT_DEFERRED;
    r->reason = rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "connection";
    snprintf(r->text, sizeof r->text, "%.250s", why);
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
        rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM) {
        r->outcome = TRANSPORT_UNTRIED;
        if (!s->fatal.code)
            err_set(&s->fatal, ERR_CONFIG, "TLS with %s failed (certificate not trusted?): %s",
                    s->shown, why);
    } else if ((rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) &&
               ++s->connect_failures >= (int)s->n && !s->fatal.code) {
        err_set(&s->fatal, ERR_TEMPFAIL, "cannot connect to the SMS gateway %s: %s", s->shown,
                why);
    }
}

static void finish(struct sms_http *s, struct req *q, CURLcode rc, transport_done_fn done,
                   void *ctx)
{
    struct transport_reply r;

    classify(s, q, rc, &r);
    curl_multi_remove_handle(s->multi, q->h);
    curl_slist_free_all(q->headers);
    q->headers = NULL;
    free(q->url);
    free(q->body);
    q->url = q->body = NULL;
    q->busy = 0;
    s->busy--;
    if (r.outcome != TRANSPORT_UNTRIED && s->t.record) {
        s->t.record(s->t.record_ctx, q->m.id, q->m.cookie, &r);
        if (s->t.record_flush)
            s->t.record_flush(s->t.record_ctx);
    }
    done(ctx, q->m.cookie, &r);
}

static int sh_poll(struct transport *t, int timeout_ms, transport_done_fn done, void *ctx,
                   struct err *e)
{
    struct sms_http *s = (struct sms_http *)t;
    int reported = 0, waited = 0;

    while (s->busy) {
        CURLMsg *msg;
        int running, left;

        curl_multi_perform(s->multi, &running);
        while ((msg = curl_multi_info_read(s->multi, &left)))
            if (msg->msg == CURLMSG_DONE) {
                size_t i;
                for (i = 0; i < s->n; i++)
                    if (s->r[i].busy && s->r[i].h == msg->easy_handle) {
                        finish(s, &s->r[i], msg->data.result, done, ctx);
                        reported++;
                        break;
                    }
            }
        if (reported || waited || !s->busy || timeout_ms <= 0)
            break;
        curl_multi_poll(s->multi, NULL, 0, timeout_ms, NULL);
        waited = 1;
    }
    if (s->fatal.code) {
        *e = s->fatal;
        return s->fatal.code;
    }
    return 0;
}

static void sh_free(struct transport *t)
{
    struct sms_http *s = (struct sms_http *)t;
    size_t i;

    for (i = 0; i < s->n; i++) {
        struct req *q = &s->r[i];
        if (q->busy)
            curl_multi_remove_handle(s->multi, q->h);
        if (q->h)
            curl_easy_cleanup(q->h);
        curl_slist_free_all(q->headers);
        free(q->url);
        free(q->body);
        buf_release(&q->answer);
    }
    if (s->multi)
        curl_multi_cleanup(s->multi);
    free(s->r);
    free(s->url);
    free(s->username);
    free(s->password);
    free(s->token);
    free(s->dlr_url);
    free(s->shown);
    for (i = 0; i < sizeof s->secret / sizeof *s->secret; i++)
        free(s->secret[i]);
    free(s);
    curl_global_cleanup();
}

static char *opt_dup(const char *v)
{
    return v && *v ? xstrdup(v) : NULL;
}

/* The password of url's user:password@ (NULL when none), and url without
 * it nor its query and fragment (to name the gateway in messages). */
static char *split_url(const char *url, char **shown)
{
    const char *host = strstr(url, "://") ? strstr(url, "://") + 3 : url;
    size_t len = strcspn(host, "/?#");
    const char *at = NULL, *p, *colon;
    char *pass = NULL;
    struct buf b;

    for (p = host; p < host + len; p++)
        if (*p == '@')
            at = p;
    buf_init(&b, 0);
    buf_add(&b, url, (size_t)(host - url));
    if (at) {
        colon = memchr(host, ':', (size_t)(at - host));
        pass = colon ? xstrndup(colon + 1, (size_t)(at - colon - 1)) : xstrdup("");
        host = at + 1;
    }
    buf_add(&b, host, strcspn(host, "?#"));
    *shown = buf_take(&b);
    return pass;
}

/* The credentials s sends (the URL's password included) into s->secret:
 * the number found. */
static int collect_secrets(struct sms_http *s)
{
    char *pass = split_url(s->url, &s->shown);
    int n = 0;

    if (pass && *pass)
        s->secret[n++] = pass;
    else
        free(pass);
    if (!s->json && s->password) {
        char *v = curl_easy_escape(NULL, s->password, 0); /* as in the query */
        s->secret[n++] = xstrdup(s->password);
        s->secret[n++] = xstrdup(v ? v : s->password);
        curl_free(v);
    }
    if (s->json && s->token)
        s->secret[n++] = xstrdup(s->token);
    return n;
}

int transport_sms_new(const struct sms_opts *o, struct transport **out, struct err *e)
{
    struct sms_http *s;
    size_t i;

    if (strcmp(o->kind, "kannel") && strcmp(o->kind, "json"))
        return err_set(e, ERR_CONFIG, "[sms] transport = %s is not an HTTP gateway", o->kind);
    if (strncmp(o->url ? o->url : "", "http://", 7) && strncmp(o->url ? o->url : "", "https://", 8))
        return err_set(e, ERR_CONFIG, "[sms] url: '%s' is not http:// or https://",
                       o->url ? o->url : "");
    if (o->connections < 1 || o->connections > 64)
        return err_set(e, ERR_CONFIG, "[sms] connections: %ld is not between 1 and 64",
                       o->connections);
    if (o->timeout < 1)
        return err_set(e, ERR_CONFIG, "[sms] timeout: must be at least 1 second");
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return err_set(e, ERR_INTERNAL, "cannot initialise libcurl");
    s = xcalloc(1, sizeof *s);
    s->t.name = "sms";
    s->t.slots = (size_t)o->connections;
    s->t.submit = sh_submit;
    s->t.poll = sh_poll;
    s->t.free = sh_free;
    s->json = !strcmp(o->kind, "json");
    s->url = xstrdup(o->url);
    s->username = opt_dup(o->username);
    s->password = opt_dup(o->password);
    s->token = opt_dup(o->token);
    s->dlr_url = opt_dup(o->dlr_url);
    s->dlr_mask = o->dlr_mask;
    s->timeout = o->timeout;
    if (collect_secrets(s) && !o->allow_plaintext_auth && !strncmp(s->url, "http://", 7)) {
        err_set(e, ERR_CONFIG, "%s: refusing to send the SMS gateway %s in clear (use "
                "https:// or set [sms] allow_plaintext_auth = yes for a gateway on this host)",
                s->shown, s->token && !strcmp(o->kind, "json") ? "token" : "password");
        sh_free(&s->t);
        return e->code;
    }
    s->n = (size_t)o->connections;
    s->r = xcalloc(s->n, sizeof *s->r);
    s->multi = curl_multi_init();
    if (!s->multi) {
        sh_free(&s->t);
        return err_set(e, ERR_INTERNAL, "cannot create a libcurl multi handle");
    }
    curl_multi_setopt(s->multi, CURLMOPT_MAX_HOST_CONNECTIONS, o->connections);
    for (i = 0; i < s->n; i++) {
        struct req *q = &s->r[i];
        buf_init(&q->answer, 0);
        if (!(q->h = curl_easy_init())) {
            sh_free(&s->t);
            return err_set(e, ERR_INTERNAL, "cannot create a libcurl handle");
        }
        curl_easy_setopt(q->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(q->h, CURLOPT_TIMEOUT, o->timeout);
        curl_easy_setopt(q->h, CURLOPT_CONNECTTIMEOUT, o->timeout);
        curl_easy_setopt(q->h, CURLOPT_WRITEFUNCTION, on_answer);
        curl_easy_setopt(q->h, CURLOPT_WRITEDATA, q);
        curl_easy_setopt(q->h, CURLOPT_ERRORBUFFER, q->errbuf);
        curl_easy_setopt(q->h, CURLOPT_USERAGENT, "postier");
        if (o->ca_file && *o->ca_file)
            curl_easy_setopt(q->h, CURLOPT_CAINFO, o->ca_file);
    }
    *out = &s->t;
    return 0;
}
