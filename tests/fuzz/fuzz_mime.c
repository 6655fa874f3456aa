/* libFuzzer target: the MIME header encoder through mime_build (the input
 * checks, RFC 2047 encoded-words of display names and subjects, RFC 2231
 * attachment file names, quoted-printable bodies).  The input is split at
 * NUL bytes into subject, recipient name, sender name, recipient address,
 * text and HTML bodies, and the shown name of the attached file.  A message that is built must be CRLF-only with lines of at
 * most 998 octets, and its header must hold exactly one Subject and no
 * Bcc: a value that could forge a header is a bug. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mime/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const char *m, size_t n)
{
    size_t i, col = 0, subjects = 0;
    int in_header = 1, bol = 1;

    for (i = 0; i < n; i++) {
        if (bol && in_header) {
            if (strncasecmp(m + i, "Subject:", 8) == 0)
                subjects++;
            if (strncasecmp(m + i, "Bcc:", 4) == 0)
                abort();
            if (m[i] == '\r')
                in_header = 0;
        }
        bol = 0;
        if (m[i] == '\n') {
            if (i == 0 || m[i - 1] != '\r')
                abort(); /* bare LF */
            col = 0;
            bol = 1;
            continue;
        }
        if (m[i] == '\r' && (i + 1 >= n || m[i + 1] != '\n'))
            abort(); /* bare CR */
        if (++col > 998 + 1)
            abort(); /* line too long (CR counted) */
    }
    if (subjects != 1)
        abort();
}

/* The one attachment's content, opened once: mime reads it from the
 * descriptor (it never opens a path), so the name is only shown. */
static int attachment_fd(void)
{
    static int fd = -1;
    FILE *f;

    if (fd < 0) {
        if (!(f = tmpfile()) || fputs("%PDF-1.4\n", f) == EOF || fflush(f))
            abort();
        fd = fileno(f); /* kept open for the process's life */
    }
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *field[7] = {"Facture", "\xc3\x89lodie Dupont", "Postier", "a@example.org",
                            "Bonjour", NULL, ""};
    int fd = attachment_fd();
    char *copy = malloc(size + 1), *p, *end;
    struct mime_msg m;
    struct buf out;
    struct err e = {0};
    size_t k = 0;

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (p = copy, end = copy + size; k < 7 && p <= end; k++) {
        field[k] = p;
        p += strlen(p) + 1;
    }
    memset(&m, 0, sizeof m);
    m.subject = field[0];
    m.to_name = field[1];
    m.from_name = field[2];
    m.from_addr = "noreply@example.com";
    m.to_addr = field[3];
    m.text = field[4];
    m.html = field[5];
    m.message_id = "<1.2@example.com>";
    m.date = "Mon, 23 Nov 2026 14:05:00 +0100";
    if (*field[6]) {
        m.attachments = &field[6];
        m.attachment_fds = &fd;
        m.nattachments = 1;
    }
    buf_init(&out, 0);
    if (mime_build(&m, &out, &e) == 0)
        check(buf_str(&out), out.len);
    else if (e.code == ERR_INTERNAL)
        abort(); /* the last check of the bytes caught what the encoders made */
    buf_release(&out);
    free(copy);
    return 0;
}
