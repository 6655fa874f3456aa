/* SMTP transport (libcurl).  Each of the `connections` workers is a thread
 * with its own easy handle, so its connection stays open from message to
 * message and the workers wait for their servers' replies in parallel.
 * (One curl multi handle would not: libcurl runs the SMTP end-of-data
 * exchange — the final "." and the reply to it — as a blocking state
 * machine inside smtp_done, so a multi handle waits for each connection's
 * final reply in turn.)
 *
 * Each outcome is classified from the last reply line the server sent
 * (libcurl hands SMTP reply lines to the header callback) and from how far
 * the upload got: a connection lost after the whole message went out but
 * before the reply is `ambiguous` — the message may have been accepted. */
#include "transport.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "util/xalloc.h"

struct job {
    struct transport_msg m;
    struct transport_reply r;
    struct job *next;
};

struct smtp;

struct worker {
    struct smtp *s;
    pthread_t th;
    int started;
    CURL *h;
    const struct job *job; /* being sent */
    size_t off;            /* bytes handed to libcurl */
    int eof;               /* the whole message was handed over */
    int replied_after_eof; /* the server answered after that */
    int code;              /* of the last complete reply line */
    char line[256];        /* the last complete reply line */
    char errbuf[CURL_ERROR_SIZE];
};

struct list {
    struct job *head, **tail;
};

struct smtp {
    struct transport t;
    char *url, *username, *password, *ca_file;
    long use_ssl, timeout, insecure;
    int tls_for_auth; /* STARTTLS required because a password would follow */
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    struct list todo, finished;
    size_t inflight; /* submitted, not yet reported by poll */
    size_t nfinished; /* in finished */
    size_t need;      /* poll sleeps until this many are finished (0: not sleeping) */
    int stop;
    int connect_failures; /* in a row, across workers */
    struct err fatal;     /* code 0 while the transport works */
    struct worker *w;
    size_t nw;
};

static void list_init(struct list *l)
{
    l->head = NULL;
    l->tail = &l->head;
}

static void list_push(struct list *l, struct job *j)
{
    j->next = NULL;
    *l->tail = j;
    l->tail = &j->next;
}

static struct job *list_pop(struct list *l)
{
    struct job *j = l->head;

    if (j && !(l->head = j->next))
        l->tail = &l->head;
    return j;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct worker *w = ud;
    size_t n = size * nitems, left = w->job->m.len - w->off;

    if (n > left)
        n = left;
    memcpy(buf, w->job->m.data + w->off, n);
    w->off += n;
    if (w->off == w->job->m.len) /* libcurl stops asking at the announced size */
        w->eof = 1;
    return n;
}

/* libcurl passes each SMTP reply line here; the final line of a reply
 * ("250 ..." rather than "250-...") is the one that counts. */
static size_t on_reply(char *buf, size_t size, size_t nitems, void *ud)
{
    struct worker *w = ud;
    size_t n = size * nitems, len = n;

    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len >= 3 && buf[0] >= '1' && buf[0] <= '5' && buf[1] >= '0' && buf[1] <= '9' &&
        buf[2] >= '0' && buf[2] <= '9' && (len == 3 || buf[3] == ' ') &&
        memcmp(buf, "221", 3)) { /* 221: the goodbye to libcurl's QUIT after a failure */
        size_t i, k = 0;
        w->code = (buf[0] - '0') * 100 + (buf[1] - '0') * 10 + (buf[2] - '0');
        for (i = 0; i < len && k + 1 < sizeof w->line; i++) /* printable ASCII only */
            w->line[k++] = (buf[i] >= 0x20 && buf[i] < 0x7f) ? buf[i] : '?';
        w->line[k] = '\0';
        if (w->eof)
            w->replied_after_eof = 1;
    }
    return n;
}

/* The server's id for an accepted message: Postfix "queued as X", Exim
 * "id=X", or the last word of the reply. */
static void provider_id(const char *line, char *out, size_t n)
{
    const char *p = strstr(line, "queued as ");
    size_t len;

    if (p)
        p += strlen("queued as ");
    else if ((p = strstr(line, "id=")))
        p += 3;
    else if ((p = strrchr(line, ' ')))
        p++;
    else
        p = "";
    len = strcspn(p, " ;,()<>");
    snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), p);
}

static int is_tls_failure(CURLcode rc)
{
    return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR ||
           rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_CACERT_BADFILE ||
           rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH ||
           rc == CURLE_USE_SSL_FAILED;
}

/* Classifies the outcome of one transfer into j->r; a failure of the
 * whole transport goes into *fatal (caller holds no lock: only the
 * worker's own fields are read). */
static void classify(struct worker *w, CURLcode rc, struct job *j, struct err *fatal,
                     int *connected)
{
    struct transport_reply *r = &j->r;
    const char *why = w->errbuf[0] ? w->errbuf : curl_easy_strerror(rc);
    struct smtp *s = w->s;

    r->code = w->code;
    snprintf(r->text, sizeof r->text, "%s", w->line);
    *connected = w->code != 0;
    if (rc == CURLE_OK) {
        r->outcome = TRANSPORT_SENT;
        provider_id(w->line, r->provider_id, sizeof r->provider_id);
        return;
    }
    if (rc == CURLE_LOGIN_DENIED) {
        r->outcome = TRANSPORT_UNTRIED;
        err_set(fatal, ERR_CONFIG, "authentication refused by %s: %s", s->url,
                w->line[0] ? w->line : why);
        return;
    }
    if (is_tls_failure(rc)) {
        r->outcome = TRANSPORT_UNTRIED;
        if (rc == CURLE_USE_SSL_FAILED && s->tls_for_auth)
            err_set(fatal, ERR_CONFIG,
                    "%s does not offer STARTTLS: refusing to send the password in clear (set "
                    "[smtp] allow_plaintext_auth = yes for a relay on this host)", s->url);
        else if (rc == CURLE_USE_SSL_FAILED)
            err_set(fatal, ERR_CONFIG, "%s does not offer STARTTLS ([smtp] starttls = always)",
                    s->url);
        else
            err_set(fatal, ERR_CONFIG, "TLS with %s failed (server certificate not trusted?): %s",
                    s->url, why);
        return;
    }
    if (w->code >= 500) {
        r->outcome = TRANSPORT_FAILED;
        r->reason = "rejected";
        return;
    }
    r->outcome = TRANSPORT_DEFERRED;
    if (w->code >= 400) {
        r->reason = "tempfail";
        return;
    }
    r->code = 0;
    if (w->eof && !w->replied_after_eof) { /* the server may have accepted it */
        r->reason = "ambiguous";
        snprintf(r->text, sizeof r->text, "no reply after the whole message was sent: %.200s",
                 why);
        return;
    }
    r->reason = rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "connection";
    snprintf(r->text, sizeof r->text, "%.250s", why);
    if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
        err_set(fatal, ERR_TEMPFAIL, "cannot connect to %s: %s", s->url, why);
}

/* After a timeout the server still owes a reply, which it would give to
 * the next command on that connection (a late "250" taken for the reply
 * to the next MAIL FROM): libcurl keeps the connection for reuse, and
 * would say QUIT on it and wait.  Shut it down instead: libcurl finds it
 * dead, drops it without a word and opens another. */
static void drop_connection(struct worker *w)
{
    curl_socket_t fd = CURL_SOCKET_BAD;

    if (curl_easy_getinfo(w->h, CURLINFO_ACTIVESOCKET, &fd) == CURLE_OK &&
        fd != CURL_SOCKET_BAD)
        shutdown(fd, SHUT_RDWR);
}

static void send_one(struct worker *w, struct job *j, struct err *fatal, int *connected)
{
    struct curl_slist *rcpt;
    char from[320];
    CURLcode rc;

    w->job = j;
    w->off = 0;
    w->eof = w->replied_after_eof = 0;
    w->code = 0;
    w->line[0] = w->errbuf[0] = '\0';
    snprintf(from, sizeof from, "<%s>", j->m.from);
    rcpt = curl_slist_append(NULL, j->m.to);
    if (!rcpt) {
        j->r.outcome = TRANSPORT_DEFERRED;
        j->r.reason = "connection";
        snprintf(j->r.text, sizeof j->r.text, "out of memory");
        return;
    }
    curl_easy_setopt(w->h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(w->h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(w->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->m.len);
    rc = curl_easy_perform(w->h);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        drop_connection(w);
    curl_easy_setopt(w->h, CURLOPT_MAIL_RCPT, NULL);
    curl_slist_free_all(rcpt);
    w->job = NULL;
    classify(w, rc, j, fatal, connected);
}

static CURL *easy_new(struct worker *w)
{
    struct smtp *s = w->s;
    CURL *h = curl_easy_init();

    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_URL, s->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, w);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_reply);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, w);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, w->errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, s->timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, s->timeout);
    /* each reply, the one to QUIT included (it waits 120 s by default) */
    curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, s->timeout);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_USE_SSL, s->use_ssl);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, s->insecure ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, s->insecure ? 0L : 2L);
    if (s->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_file);
    if (s->username) {
        curl_easy_setopt(h, CURLOPT_USERNAME, s->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, s->password ? s->password : "");
    }
    return h;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct smtp *s = w->s;
    struct job *j;

    pthread_setname_np(pthread_self(), "postier-smtp");
    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct err fatal = {.code = 0};
        int connected = 0, failed_before;

        while (!s->todo.head && !s->stop)
            pthread_cond_wait(&s->work, &s->mu);
        if (s->stop)
            break;
        j = list_pop(&s->todo);
        failed_before = s->fatal.code != 0;
        pthread_mutex_unlock(&s->mu);

        if (failed_before || !w->h) {
            j->r.outcome = TRANSPORT_UNTRIED;
            snprintf(j->r.text, sizeof j->r.text, "not attempted");
        } else {
            send_one(w, j, &fatal, &connected);
            if (j->r.outcome != TRANSPORT_UNTRIED && s->t.record) {
                s->t.record(s->t.record_ctx, j->m.id, j->m.cookie, &j->r);
                if (s->t.record_flush)
                    s->t.record_flush(s->t.record_ctx);
            }
        }

        pthread_mutex_lock(&s->mu);
        if (connected)
            s->connect_failures = 0;
        else if (fatal.code == ERR_TEMPFAIL)
            s->connect_failures++;
        /* unreachable: once every connection has failed in a row */
        if (fatal.code && !s->fatal.code &&
            (fatal.code != ERR_TEMPFAIL || s->connect_failures >= (int)s->nw))
            s->fatal = fatal;
        list_push(&s->finished, j);
        if (s->need && ++s->nfinished >= s->need) /* wake poll once for a batch */
            pthread_cond_signal(&s->done);
        else if (!s->need)
            s->nfinished++;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int sm_submit(struct transport *t, const struct transport_msg *m, struct err *e)
{
    struct smtp *s = (struct smtp *)t;
    struct job *j = xcalloc(1, sizeof *j);

    (void)e;
    j->m = *m;
    pthread_mutex_lock(&s->mu);
    list_push(&s->todo, j);
    s->inflight++;
    pthread_cond_signal(&s->work);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static int sm_poll(struct transport *t, int timeout_ms, transport_done_fn done, void *ctx,
                   struct err *e)
{
    struct smtp *s = (struct smtp *)t;
    struct timespec until;
    struct list got;
    struct err fatal;
    struct job *j;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L)
        until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&s->mu);
    /* sleep until half of what is in flight is done (one wake-up for
     * many outcomes: context switches are the cost here), or the time */
    s->need = s->inflight / 2 ? s->inflight / 2 : 1;
    while (s->inflight && s->nfinished < s->need)
        if (pthread_cond_timedwait(&s->done, &s->mu, &until))
            break;
    s->need = 0;
    got = s->finished;
    list_init(&s->finished);
    s->nfinished = 0;
    for (j = got.head; j; j = j->next)
        s->inflight--;
    fatal = s->fatal;
    pthread_mutex_unlock(&s->mu);
    while ((j = list_pop(&got))) {
        done(ctx, j->m.cookie, &j->r);
        free(j);
    }
    if (fatal.code) {
        *e = fatal;
        return fatal.code;
    }
    return 0;
}

static void sm_cancel(struct transport *t)
{
    struct smtp *s = (struct smtp *)t;
    struct job *j;

    pthread_mutex_lock(&s->mu);
    while ((j = list_pop(&s->todo))) {
        j->r.outcome = TRANSPORT_UNTRIED;
        snprintf(j->r.text, sizeof j->r.text, "not attempted");
        list_push(&s->finished, j);
        s->nfinished++;
    }
    pthread_cond_signal(&s->done);
    pthread_mutex_unlock(&s->mu);
}

static void sm_free(struct transport *t)
{
    struct smtp *s = (struct smtp *)t;
    struct job *j;
    size_t i;

    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->mu);
    for (i = 0; i < s->nw; i++)
        if (s->w[i].started)
            pthread_join(s->w[i].th, NULL);
    for (i = 0; i < s->nw; i++)
        if (s->w[i].h)
            curl_easy_cleanup(s->w[i].h); /* says QUIT */
    while ((j = list_pop(&s->todo)))
        free(j);
    while ((j = list_pop(&s->finished)))
        free(j);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->done);
    pthread_mutex_destroy(&s->mu);
    free(s->w);
    free(s->url);
    free(s->username);
    free(s->password);
    free(s->ca_file);
    free(s);
    curl_global_cleanup();
}

static char *opt_dup(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

int transport_smtp_new(const struct smtp_opts *o, struct transport **out, struct err *e)
{
    int clear = !strncmp(o->url, "smtp://", 7) && o->username && *o->username &&
                !o->allow_plaintext_auth; /* a password would go in clear without STARTTLS */
    struct smtp *s;
    pthread_condattr_t ca;
    size_t i;

    if (strncmp(o->url, "smtp://", 7) && strncmp(o->url, "smtps://", 8))
        return err_set(e, ERR_CONFIG, "[smtp] url: '%s' is not smtp://host[:port] or smtps://",
                       o->url);
    if (o->connections < 1 || o->connections > 64)
        return err_set(e, ERR_CONFIG, "[smtp] connections: %ld is not between 1 and 64",
                       o->connections);
    if (o->timeout < 1)
        return err_set(e, ERR_CONFIG, "[smtp] timeout: must be at least 1 second");
    if (clear && o->starttls && !strcmp(o->starttls, "never"))
        return err_set(e, ERR_CONFIG,
                       "[smtp] starttls = never with a username: refusing to send the password "
                       "to %s in clear (set [smtp] allow_plaintext_auth = yes for a relay on "
                       "this host)", o->url);
    if (o->insecure && o->username && *o->username && !o->allow_plaintext_auth)
        return err_set(e, ERR_CONFIG,
                       "[smtp] verify = no with a username: the password would go to whoever "
                       "answers for %s (set [smtp] allow_plaintext_auth = yes for a test server)",
                       o->url);
    if (curl_global_init(CURL_GLOBAL_DEFAULT))
        return err_set(e, ERR_INTERNAL, "cannot initialise libcurl");
    s = xcalloc(1, sizeof *s);
    s->t.name = "smtp";
    s->t.slots = (size_t)o->connections;
    s->t.submit = sm_submit;
    s->t.poll = sm_poll;
    s->t.free = sm_free;
    s->t.cancel = sm_cancel;
    s->url = xstrdup(o->url);
    s->username = opt_dup(o->username);
    s->password = opt_dup(o->password);
    s->ca_file = opt_dup(o->ca_file);
    s->timeout = o->timeout;
    s->insecure = o->insecure;
    s->use_ssl = !o->starttls || !strcmp(o->starttls, "auto") ? CURLUSESSL_TRY
                 : !strcmp(o->starttls, "always")             ? CURLUSESSL_ALL
                                                              : CURLUSESSL_NONE;
    if (clear && s->use_ssl == CURLUSESSL_TRY) { /* auto: no STARTTLS, no AUTH */
        s->use_ssl = CURLUSESSL_ALL;
        s->tls_for_auth = 1;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->done, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&s->work, NULL);
    list_init(&s->todo);
    list_init(&s->finished);
    s->nw = (size_t)o->connections;
    s->w = xcalloc(s->nw, sizeof *s->w);
    for (i = 0; i < s->nw; i++) {
        s->w[i].s = s;
        if (!(s->w[i].h = easy_new(&s->w[i]))) {
            sm_free(&s->t);
            return err_set(e, ERR_INTERNAL, "cannot create a libcurl handle");
        }
    }
    for (i = 0; i < s->nw; i++) {
        if (pthread_create(&s->w[i].th, NULL, worker_main, &s->w[i])) {
            sm_free(&s->t);
            return err_set(e, ERR_INTERNAL, "cannot start an SMTP worker thread");
        }
        s->w[i].started = 1;
    }
    *out = &s->t;
    return 0;
}
