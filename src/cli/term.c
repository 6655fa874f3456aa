/* What reaches the terminal.  stdout and stderr go through one filter that
 * shows the control characters of data visibly (caret notation: ESC ^[,
 * CR ^M, BEL ^G, DEL ^?; C1 controls and invalid UTF-8 as U+FFFD), so a
 * value cannot move the cursor, clear the screen or retitle the window;
 * newline, tab and CR LF pass.  Machine output (csv, json) sent to a pipe
 * or file passes untouched.  Also the width tables are fitted to. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "text/text.h"

#define REPL "\xEF\xBF\xBD" /* U+FFFD */

struct tout {
    int fd;
    int raw;                /* pass bytes as they are (machine output) */
    unsigned char pend[4];  /* a CR waiting for its LF, or an incomplete UTF-8 sequence */
    size_t npend, need;
    char out[4096];
    size_t nout;
    int failed;
};

static struct tout touts[2];
static FILE *orig[2]; /* the streams the filters replaced */

static void write_all(struct tout *t, const char *p, size_t n)
{
    ssize_t w;

    while (n && !t->failed) {
        w = write(t->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            t->failed = errno;
        } else {
            p += w;
            n -= (size_t)w;
        }
    }
}

static void flush_out(struct tout *t)
{
    write_all(t, t->out, t->nout);
    t->nout = 0;
}

static void emit(struct tout *t, const void *p, size_t n)
{
    if (t->nout + n > sizeof t->out)
        flush_out(t);
    memcpy(t->out + t->nout, p, n);
    t->nout += n;
}

/* Ends the pending CR or sequence: a CR not followed by LF is ^M, a
 * sequence cut short is U+FFFD. */
static void drop_pending(struct tout *t)
{
    if (t->npend)
        emit(t, t->pend[0] == '\r' ? "^M" : REPL, t->pend[0] == '\r' ? 2 : 3);
    t->npend = 0;
}

static void complete_seq(struct tout *t)
{
    /* C2 80 to C2 9F are the C1 controls (CSI is U+009B). */
    int ok = text_utf8_prefix((const char *)t->pend, t->need) == t->need &&
             !(t->pend[0] == 0xC2 && t->pend[1] < 0xA0);

    if (ok)
        emit(t, t->pend, t->need);
    else
        emit(t, REPL, 3);
    t->npend = 0;
}

static void filter_byte(struct tout *t, unsigned char c)
{
    char caret[2] = {'^', 0};

    if (t->npend && t->pend[0] == '\r') {
        if (c == '\n') {
            emit(t, "\r\n", 2);
            t->npend = 0;
            return;
        }
        drop_pending(t);
    } else if (t->npend) {
        if ((c & 0xC0) == 0x80) {
            t->pend[t->npend++] = c;
            if (t->npend == t->need)
                complete_seq(t);
            return;
        }
        drop_pending(t);
    }
    if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7F)) {
        emit(t, &c, 1);
    } else if (c == '\r' || (c >= 0xC2 && c <= 0xF4)) {
        t->pend[0] = c;
        t->npend = 1;
        t->need = c == '\r' ? 2 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    } else if (c < 0x20 || c == 0x7F) {
        caret[1] = c == 0x7F ? '?' : (char)(c + 0x40);
        emit(t, caret, 2);
    } else {
        emit(t, REPL, 3);
    }
}

static ssize_t tout_write(void *cookie, const char *buf, size_t size)
{
    struct tout *t = cookie;
    size_t i;

    if (t->raw) {
        flush_out(t);
        write_all(t, buf, size);
    } else {
        for (i = 0; i < size; i++)
            filter_byte(t, (unsigned char)buf[i]);
        flush_out(t);
    }
    if (t->failed) {
        errno = t->failed;
        return -1;
    }
    return (ssize_t)size;
}

static int tout_close(void *cookie)
{
    struct tout *t = cookie;

    drop_pending(t);
    flush_out(t);
    return t->failed ? -1 : 0;
}

void cli_term_init(void)
{
    cookie_io_functions_t io = {.write = tout_write, .close = tout_close};
    FILE *f;
    int i;

    for (i = 0; i < 2; i++) {
        touts[i].fd = i + 1;
        if (!(f = fopencookie(&touts[i], "w", io)))
            continue;
        if (i == 0)
            setvbuf(f, NULL, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, BUFSIZ);
        else
            setvbuf(f, NULL, _IONBF, 0);
        orig[i] = i == 0 ? stdout : stderr;
        if (i == 0)
            stdout = f;
        else
            stderr = f;
    }
}

int cli_term_done(void)
{
    int rc = 0;

    if (orig[0]) {
        rc = fclose(stdout);
        stdout = orig[0];
        orig[0] = NULL;
    }
    if (orig[1]) {
        fclose(stderr);
        stderr = orig[1];
        orig[1] = NULL;
    }
    return rc;
}

void cli_term_machine(void)
{
    if (orig[0] && !isatty(STDOUT_FILENO)) {
        fflush(stdout);
        touts[0].raw = 1;
    }
}

FILE *cli_term_rawerr(void)
{
    return orig[1] ? orig[1] : stderr;
}

unsigned cli_term_width(void)
{
    struct winsize ws;
    const char *cols = getenv("COLUMNS");
    char *end;
    long n;

    if (!isatty(STDOUT_FILENO))
        return 0;
    if (cols && *cols) {
        errno = 0;
        n = strtol(cols, &end, 10);
        if (!errno && !*end && n >= 20 && n <= 10000)
            return (unsigned)n;
    }
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 80;
}
