/* Microbenchmark of Maildir file creation, the kernel's share of the
 * Maildir transport: THREADS writers each create FILES/THREADS files of
 * 1,767 bytes (the benchmark book's average message) in batches of 1,024
 * (written, one syncfs, then published), as maildir.c does:
 *   mode tmpfile: O_TMPFILE in tmp/, linkat into new/ (the transport's way)
 *   mode rename:  a named file in tmp/, renamed into new/
 *   mode direct:  created in new/ (not the Maildir protocol: a floor)
 * serialize = 1: one writer at a time creates or publishes (a mutex), as
 * the transport does since 2026-12-06.  Prints wall, user and system time.
 * Usage: bench_files DIR tmpfile|rename|direct FILES [THREADS [SERIALIZE]]
 * (DIR on the file system to measure, e.g. a new ext4 on a loop device). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCH 1024
#define MAX_THREADS 16

enum mode { TMPFILE, RENAME, DIRECT };

static enum mode mode;
static int per_thread, serialize, new_fd, tmp_fd;
static char data[1767];
static pthread_mutex_t dir_mu = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void lock(void)
{
    if (serialize)
        pthread_mutex_lock(&dir_mu);
}

static void unlock(void)
{
    if (serialize)
        pthread_mutex_unlock(&dir_mu);
}

static void *writer(void *arg)
{
    long t = (long)arg;
    static _Thread_local int fds[BATCH];
    char name[64];

    for (int i = 0; i < per_thread; i += BATCH) {
        int n = per_thread - i < BATCH ? per_thread - i : BATCH;
        lock();
        for (int k = 0; k < n; k++) {
            int fd;
            snprintf(name, sizeof name, "%02ld%08d.postier", t, i + k);
            if (mode == TMPFILE)
                fd = openat(tmp_fd, ".", O_TMPFILE | O_WRONLY, 0640);
            else
                fd = openat(mode == RENAME ? tmp_fd : new_fd, name, O_CREAT | O_EXCL | O_WRONLY,
                            0640);
            if (fd < 0)
                die("open");
            if (write(fd, data, sizeof data) != (ssize_t)sizeof data)
                die("write");
            fds[k] = fd;
        }
        unlock();
        if (syncfs(tmp_fd))
            die("syncfs");
        lock();
        for (int k = 0; k < n; k++) {
            snprintf(name, sizeof name, "%02ld%08d.postier", t, i + k);
            if (mode == TMPFILE && linkat(fds[k], "", new_fd, name, AT_EMPTY_PATH))
                die("linkat");
            if (mode == RENAME && renameat(tmp_fd, name, new_fd, name))
                die("rename");
            close(fds[k]);
        }
        unlock();
        if (fsync(new_fd))
            die("fsync");
    }
    return NULL;
}

static int sub_dir(const char *dir, const char *sub)
{
    char p[4096];
    int fd;

    snprintf(p, sizeof p, "%s/%s", dir, sub);
    if (mkdir(p, 0750) && access(p, F_OK))
        die(p);
    if ((fd = open(p, O_RDONLY | O_DIRECTORY)) < 0)
        die(p);
    return fd;
}

int main(int argc, char **argv)
{
    pthread_t th[MAX_THREADS];
    struct timespec a, b;
    struct rlimit rl;
    struct rusage ru;
    int files, threads = 4;
    double s;

    if (argc < 4) {
        fprintf(stderr, "usage: %s DIR tmpfile|rename|direct FILES [THREADS [SERIALIZE]]\n",
                argv[0]);
        return 2;
    }
    mode = !strcmp(argv[2], "rename") ? RENAME : !strcmp(argv[2], "direct") ? DIRECT : TMPFILE;
    files = (int)strtol(argv[3], NULL, 10);
    if (argc > 4)
        threads = (int)strtol(argv[4], NULL, 10);
    if (argc > 5)
        serialize = (int)strtol(argv[5], NULL, 10);
    if (threads < 1 || threads > MAX_THREADS || files < threads)
        return 2;
    per_thread = files / threads;
    if (!getrlimit(RLIMIT_NOFILE, &rl)) { /* each writer holds a batch open */
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    memset(data, 'x', sizeof data);
    new_fd = sub_dir(argv[1], "new");
    tmp_fd = sub_dir(argv[1], "tmp");
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < threads; i++)
        if (pthread_create(&th[i], NULL, writer, (void *)i))
            die("pthread_create");
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    getrusage(RUSAGE_SELF, &ru);
    printf("%s, %d writers%s: %d files in %.2f s = %.0f files/s, %.2f s user, %.2f s system\n",
           argv[2], threads, serialize ? " one at a time" : "", per_thread * threads, s,
           per_thread * threads / s, (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    return 0;
}
