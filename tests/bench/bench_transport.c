/* A transport alone: N copies of one message, nothing rendered, spooled
 * or recorded.  Over SMTP (tests/bench/bench_smtp.sh runs it) with C
 * connections: the ceiling of what `postier run` can reach on this
 * machine, to set beside smtp-source's figure.  Into a Maildir
 * ("maildir:DIR", C ignored): the cost of the writer thread per message.
 *
 *   bench_transport URL|maildir:DIR MESSAGE_FILE N CONNECTIONS
 *
 * Prints "transport alone: N messages, C connections (or: into a Maildir),
 * S s = R msg/s" with the process's CPU time, and exits 1 unless every
 * message was accepted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "transport/transport.h"
#include "util/buf.h"

static long sent, failed;

static void done(void *ctx, void *cookie, const struct transport_reply *r)
{
    (void)ctx, (void)cookie;
    if (r->outcome == TRANSPORT_SENT)
        sent++;
    else
        failed++;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_file(const char *path, struct buf *b)
{
    char chunk[65536];
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f)
        return -1;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_add(b, chunk, n);
    fclose(f);
    return b->err ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct transport *t;
    struct buf msg;
    struct err e;
    long n, submitted = 0, inflight = 0, conns;
    double t0, secs;

    if (argc != 5 || (n = atol(argv[3])) < 1 || (conns = atol(argv[4])) < 1) {
        fprintf(stderr, "usage: bench_transport URL MESSAGE_FILE N CONNECTIONS\n");
        return 2;
    }
    buf_init(&msg, 0);
    if (read_file(argv[2], &msg)) {
        fprintf(stderr, "bench_transport: cannot read %s\n", argv[2]);
        return 2;
    }
    struct smtp_opts o = {.url = argv[1], .starttls = "never", .connections = conns,
                          .timeout = 30};
    int maildir = !strncmp(argv[1], "maildir:", 8);
    char (*ids)[32] = maildir ? calloc((size_t)n, sizeof *ids) : NULL;
    if (maildir ? transport_maildir_new(argv[1] + 8, &t, &e) : transport_smtp_new(&o, &t, &e)) {
        fprintf(stderr, "bench_transport: %s\n", e.msg);
        return 2;
    }
    t0 = now_s();
    while (sent + failed < n) {
        while (submitted < n && (size_t)inflight < t->slots) {
            if (ids) /* one file each */
                snprintf(ids[submitted], sizeof ids[submitted], "bench%ld", submitted);
            struct transport_msg m = {.id = ids ? ids[submitted] : "bench", .from = "noreply@example.invalid",
                                      .to = "compta0@exemple.fr", .data = buf_str(&msg),
                                      .len = msg.len};
            if (t->submit(t, &m, &e)) {
                fprintf(stderr, "bench_transport: %s\n", e.msg);
                return 1;
            }
            submitted++, inflight++;
        }
        long before = sent + failed;
        if (t->poll(t, 1000, done, NULL, &e)) {
            fprintf(stderr, "bench_transport: %s\n", e.msg);
            return 1;
        }
        inflight -= sent + failed - before;
    }
    secs = now_s() - t0;
    transport_free(t);
    buf_release(&msg);
    free(ids);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char how[48];
    if (maildir)
        snprintf(how, sizeof how, "into a Maildir");
    else
        snprintf(how, sizeof how, "%ld connections", conns);
    printf("transport alone: %ld messages, %s, %.2f s = %.0f msg/s "
           "(cpu %.2f s user, %.2f s sys)\n",
           sent, how, secs, (double)sent / secs,
           (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    return failed ? 1 : 0;
}
