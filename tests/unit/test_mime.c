/* Unit tests for src/mime: messages built with mime_build are checked here
 * on the wire (CRLF only, lines <= 998, 7-bit, folding) and read back by
 * Python's email package with policy.default, strictly: no defect anywhere,
 * names, subject, bodies and attachments equal to the originals
 * (tests/unit/check_mime.py, found through POSTIER_SRC).  Hostile input
 * throughout: CR/LF in every header value, bad addresses, invalid UTF-8. */
/* cmocka needs these four first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <time.h>
#include <unistd.h>
/* clang-format on */

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mime/mime.h"
#include "util/buf.h"
#include "util/xalloc.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define DATE "Mon, 23 Nov 2026 14:05:00 +0100"
#define MSGID "<doc42.rcpt7.email@postier.example.fr>"

extern char **environ;

static char tmpdir[] = "/tmp/postier-mime-XXXXXX";
static int nfiles;

/* A minimal valid message; tests change what they exercise. */
static struct mime_msg base(void)
{
    struct mime_msg m = {
        .from_name = "Alice Martin",
        .from_addr = "alice@example.fr",
        .to_name = "Bob",
        .to_addr = "bob@example.org",
        .subject = "Your invoice 42",
        .text = "Hello Bob,\n\nyour invoice is attached.\n",
        .message_id = MSGID,
        .date = DATE,
    };
    return m;
}

/* Writes len bytes to a new file named name in tmpdir; returns its path
 * (a static slot, valid for the test). */
static const char *make_file(const char *name, const void *data, size_t len)
{
    static char paths[8][512];
    char *p = paths[nfiles++ % 8];
    FILE *f;

    snprintf(p, sizeof paths[0], "%s/%s", tmpdir, name);
    f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return p;
}

/* Opens the n files of paths into fds, as merge does (mime never opens). */
static void open_files(const char *const *paths, int *fds, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        assert_true((fds[i] = open(paths[i], O_RDONLY | O_CLOEXEC)) >= 0);
}

static void close_files(const int *fds, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        close(fds[i]);
}

/* RFC 5322 §2.1, §2.3 on the raw bytes: CRLF pairs only, lines of at most
 * 998 octets, nothing but 7-bit ASCII; with fold, every line of the
 * top-level header section within that many characters too. */
static void assert_wire(const char *s, size_t n, size_t fold)
{
    size_t i, start = 0;
    int in_header = 1;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        assert_true(c != 0 && c < 128);
        assert_true(c != '\n' || (i > 0 && s[i - 1] == '\r'));
        assert_true(c != '\r' || (i + 1 < n && s[i + 1] == '\n'));
        if (c == '\n') {
            size_t len = i - 1 - start;
            assert_true(len <= 998);
            if (len == 0)
                in_header = 0;
            if (fold && in_header && len > fold)
                fail_msg("header line of %zu characters: %.*s", len, (int)len, s + start);
            start = i + 1;
        }
    }
    assert_true(n >= 2 && s[n - 2] == '\r' && s[n - 1] == '\n'); /* ends with CRLF */
}

/* Builds m, which must succeed, checks the wire form; returns the bytes. */
static char *build(const struct mime_msg *m, size_t fold)
{
    struct buf b;
    struct err e = {0};
    int rc;

    buf_init(&b, 0);
    rc = mime_build(m, &b, &e);
    if (rc != 0)
        fail_msg("mime_build: %d %s", rc, e.msg);
    assert_wire(b.data, b.len, fold);
    return buf_take(&b);
}

/* Builds m, which must fail with code and a message naming field. */
static void build_fails(const struct mime_msg *m, int code, const char *field)
{
    struct buf b;
    struct err e = {0};

    buf_init(&b, 0);
    assert_int_equal(mime_build(m, &b, &e), code);
    if (!strstr(e.msg, field))
        fail_msg("message \"%s\" does not name %s", e.msg, field);
    assert_int_equal(b.len, 0); /* nothing appended */
    buf_release(&b);
}

static void add_arg(char **argv, size_t *argc, const char *key, const char *value)
{
    struct buf b;

    if (!value)
        return;
    buf_init(&b, 0);
    buf_printf(&b, "%s=%s", key, value);
    argv[(*argc)++] = buf_take(&b);
}

/* Runs check_mime.py on msg with the expectations of m plus more
 * ("key=value", NULL-terminated) and fails the test if it complains.
 * /usr/bin/python3 is required: CI installs it. */
static void python_check(const char *msg, const struct mime_msg *m, const char *const *more)
{
    const char *src = getenv("POSTIER_SRC");
    char *argv[64], path[600], script[600];
    size_t argc = 0, i;
    pid_t pid;
    int status;

    if (!src)
        fail_msg("POSTIER_SRC is not set (meson test sets it)");
    if (access("/usr/bin/python3", X_OK) != 0)
        fail_msg("/usr/bin/python3 is missing: it is required for these tests");
    snprintf(path, sizeof path, "%s/message-%d.eml", tmpdir, nfiles++);
    {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fputs(msg, f);
        assert_int_equal(fclose(f), 0);
    }
    argv[argc++] = xstrdup("/usr/bin/python3");
    argv[argc++] = xstrdup("-I");
    snprintf(script, sizeof script, "%s/tests/unit/check_mime.py", src);
    argv[argc++] = xstrdup(script);
    argv[argc++] = xstrdup(path);
    add_arg(argv, &argc, "from_name", m->from_name ? m->from_name : "");
    add_arg(argv, &argc, "from_addr", m->from_addr);
    add_arg(argv, &argc, "to_name", m->to_name ? m->to_name : "");
    add_arg(argv, &argc, "to_addr", m->to_addr);
    add_arg(argv, &argc, "subject", m->subject);
    add_arg(argv, &argc, "message_id", m->message_id);
    add_arg(argv, &argc, "text", m->text ? m->text : "");
    add_arg(argv, &argc, "html", m->html);
    for (i = 0; more && more[i]; i++)
        argv[argc++] = xstrdup(more[i]);
    argv[argc] = NULL;
    assert_true(argc < N(argv));
    assert_int_equal(posix_spawn(&pid, "/usr/bin/python3", NULL, NULL, argv, environ), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    for (i = 0; i < argc; i++)
        free(argv[i]);
    unlink(path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("check_mime.py rejected the message (see its messages above)");
}

/* ---- building ---------------------------------------------------------- */

static void ascii_message(void **state)
{
    struct mime_msg m = base();
    static const char *const more[] = {"structure=text/plain", "noheader=Auto-Submitted",
                                       "noheader=List-Unsubscribe", "fold=78", NULL};
    static const char *const lines[] = {
        "Date: " DATE "\r\n",
        "From: Alice Martin <alice@example.fr>\r\n",
        "To: Bob <bob@example.org>\r\n",
        "Subject: Your invoice 42\r\n",
        "Message-ID: " MSGID "\r\n",
        "MIME-Version: 1.0\r\n",
        "Content-Type: text/plain; charset=\"utf-8\"\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n",
        "\r\nHello Bob,\r\n\r\nyour invoice is attached.\r\n",
    };
    char *s;
    size_t i;

    (void)state;
    s = build(&m, 78);
    assert_memory_equal(s, "Date: ", 6);
    for (i = 0; i < N(lines); i++)
        if (!strstr(s, lines[i]))
            fail_msg("missing %s in\n%s", lines[i], s);
    python_check(s, &m, more);
    free(s);
}

static void french_accents(void **state)
{
    struct mime_msg m = base();
    static const char *const more[] = {"structure=text/plain", "fold=78", NULL};
    char *s;

    (void)state;
    m.from_name = "Société Générale d'Électricité";
    m.to_name = "Françoise Lefèvre-Dupré";
    m.subject = "Échéance de votre facture n°42 – 1 234,56 €";
    m.text = "Bonjour Françoise,\n\nÉchéance de votre facture n°42 – 1 234,56 €.\n"
             "Ça se règle avant le 30 novembre.\n";
    s = build(&m, 78);
    assert_non_null(strstr(s, "From: =?UTF-8?"));
    assert_non_null(strstr(s, "To: =?UTF-8?"));
    assert_non_null(strstr(s, "Subject: =?UTF-8?"));
    assert_non_null(strstr(s, "=C3=89ch=C3=A9ance")); /* quoted-printable body */
    python_check(s, &m, more);
    free(s);
}

/* Long subjects: encoded-words or plain words, folded between words so
 * that no header line passes 78 characters (RFC 5322 §2.1.1, §2.2.3). */
static void long_subject_folded(void **state)
{
    static const char *const more[] = {"fold=78", NULL};
    struct buf sub;
    const char *subjects[4];
    size_t i;

    (void)state;
    buf_init(&sub, 0);
    for (i = 0; i < 12; i++)
        buf_adds(&sub, "Échéance de votre facture n°42 – 1 234,56 € ");
    buf_adds(&sub, "fin");
    subjects[0] = buf_str(&sub);
    subjects[1] = "Reminder: the invoice number 42 of the 23rd of November is still unpaid, "
                  "please pay it before the end of the month or contact our accounting "
                  "department which will be happy to help you with a payment plan";
    subjects[2] = "A_single_ascii_word_much_longer_than_any_line_should_be_so_it_needs_"
                  "encoding_to_be_folded_at_all";
    subjects[3] = "日本語の件名はBエンコーディングのほうが短いのでそちらが選ばれるはずです";
    for (i = 0; i < N(subjects); i++) {
        struct mime_msg m = base();
        char *s;
        m.subject = subjects[i];
        s = build(&m, 78);
        if (i == 1)
            assert_null(strstr(s, "=?UTF-8?")); /* plain words stay plain */
        if (i == 3)
            assert_non_null(strstr(s, "Subject: =?UTF-8?B?"));
        python_check(s, &m, more);
        free(s);
    }
    buf_release(&sub);
}

/* Subjects are unstructured (RFC 5322 §3.6.5): white space is kept
 * exactly, inside encoded-words when plain text could not carry it. */
static void subject_whitespace(void **state)
{
    static const char *const subjects[] = {
        "  leading, double  spaces and trailing ",
        "tab\there",
        "=?UTF-8?Q?not_decoded?=",
        "",
        "?= =? _ =20",
    };
    size_t i;

    (void)state;
    for (i = 0; i < N(subjects); i++) {
        struct mime_msg m = base();
        char *s;
        m.subject = subjects[i];
        s = build(&m, 78);
        python_check(s, &m, NULL);
        free(s);
    }
}

/* Quoted-printable bodies (RFC 2045 §6.7): lines over 998 octets are soft
 * broken, trailing white space survives, "From " and "." line starts, "=",
 * bare CR, no final newline, CRLF input. */
static void long_body_lines(void **state)
{
    struct buf t;
    const char *texts[8];
    size_t i, k;

    (void)state;
    buf_init(&t, 0);
    for (i = 0; i < 5000; i++)
        buf_addc(&t, (char)('a' + i % 26));
    buf_adds(&t, "\n");
    for (i = 0; i < 1500; i++)
        buf_adds(&t, "é");
    buf_adds(&t, "\nend");
    texts[0] = buf_str(&t);
    texts[1] = "trailing space \ntrailing tab\t\nboth \t \r\nlast space ";
    texts[2] = "From the start\n.\n..dots\nx=y, a==b =41\n";
    texts[3] = "bare\rCR and \r alone\r";
    texts[4] = "crlf\r\nlines\r\n\r\n";
    texts[5] = "";
    texts[6] = "\n\n\n";
    texts[7] = " \t ";
    for (k = 0; k < N(texts); k++) {
        struct mime_msg m = base();
        char *s, *body, *line;
        m.text = texts[k];
        s = build(&m, 0);
        body = strstr(s, "\r\n\r\n");
        assert_non_null(body);
        for (line = body + 4; *line; line = strstr(line, "\r\n") + 2)
            assert_true((size_t)(strstr(line, "\r\n") - line) <= 76);
        python_check(s, &m, NULL);
        free(s);
    }
    buf_release(&t);
}

static void html_alternative(void **state)
{
    struct mime_msg m = base();
    static const char *const more[] = {"structure=multipart/alternative(text/plain,text/html)",
                                       NULL};
    char *s, *plain, *html;

    (void)state;
    m.subject = "Échéance";
    m.text = "Votre facture n°42 est disponible.\n";
    m.html = "<!DOCTYPE html>\n<html><body><p style=\"color: #333\">Votre facture "
             "n°42 – <b>1 234,56 €</b> est disponible.</p></body></html>\n";
    s = build(&m, 78);
    plain = strstr(s, "Content-Type: text/plain");
    html = strstr(s, "Content-Type: text/html");
    assert_true(plain && html && plain < html); /* RFC 2046 §5.1.4: preferred last */
    assert_non_null(strstr(s, "boundary=\"=_"));
    python_check(s, &m, more);
    free(s);
}

static void attachments(void **state)
{
    unsigned char bin[1000];
    const char *paths[6];
    int fds[6];
    char more_buf[6][700];
    const char *more[9];
    struct mime_msg m = base();
    char *s;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 7);
    paths[0] = make_file("Échéance n°42.pdf", bin, sizeof bin);
    paths[1] = make_file("report.csv", "a;b\r\n1;2\r\n", 10);
    paths[2] = make_file("Relevé de compte détaillé du mois de novembre 2026 – Société "
                         "Générale d'Électricité.xlsx",
                         bin, 300);
    paths[3] = make_file("say \"hi\" \\ there.txt", "hi\n", 3);
    paths[4] = make_file("PHOTO.JPG", bin, 1);
    paths[5] = make_file("empty.xyz", "", 0);
    static const char *const types[] = {
        "application/pdf",
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/plain",
        "image/jpeg",
        "application/octet-stream"};
    for (i = 0; i < 6; i++) {
        snprintf(more_buf[i], sizeof more_buf[i], "attach=%s|%s", paths[i], types[i]);
        more[i] = more_buf[i];
    }
    more[6] = "structure=multipart/mixed(multipart/alternative(text/plain,text/html),"
              "application/pdf,text/csv,application/vnd.openxmlformats-officedocument."
              "spreadsheetml.sheet,text/plain,image/jpeg,application/octet-stream)";
    more[7] = NULL;
    m.html = "<p>Bonjour</p>";
    m.attachments = paths;
    m.attachment_fds = fds;
    m.nattachments = 6;
    open_files(paths, fds, 6);
    s = build(&m, 78);
    close_files(fds, 6);
    assert_non_null(strstr(s, "filename*=UTF-8''%C3%89ch%C3%A9ance%20n%C2%B042.pdf\r\n"));
    assert_non_null(strstr(s, "filename=\"report.csv\""));
    assert_non_null(strstr(s, " filename*0*=UTF-8''Relev%C3%A9"));   /* RFC 2231 §3 */
    assert_non_null(strstr(s, "Content-Transfer-Encoding: base64")); /* RFC 2045 §6.8 */
    python_check(s, &m, more);
    free(s);
}

/* A long printable-ASCII name (a file name is up to 255 bytes) is folded
 * into RFC 2231 sections like any other: filename="..." is one line
 * (found by fuzz_mime). */
static void long_ascii_attachment_name(void **state)
{
    char name[256];
    const char *paths[1];
    int fds[1];
    struct mime_msg m = base();
    char *s;

    (void)state;
    memset(name, 'W', 250);
    memcpy(name + 250, ".pdf", 5);
    paths[0] = make_file(name, "%PDF", 4);
    m.attachments = paths;
    m.attachment_fds = fds;
    m.nattachments = 1;
    open_files(paths, fds, 1);
    s = build(&m, 78);
    close_files(fds, 1);
    assert_non_null(strstr(s, " filename*0*=UTF-8''WWW"));
    assert_null(strstr(s, "filename=\""));
    free(s);
}

static void attachment_errors(void **state)
{
    struct mime_msg m = base();
    const char *paths[1];
    int fds[1] = {-1};
    struct buf b;
    struct err e = {0};

    (void)state;
    paths[0] = "/nonexistent/dir/facture.pdf";
    m.attachments = paths;
    m.nattachments = 1;
    build_fails(&m, ERR_INPUT, "attachments[0]"); /* a name, no open file: never opened */
    m.attachment_fds = fds;
    build_fails(&m, ERR_INPUT, "attachments[0]");
    paths[0] = tmpdir; /* a directory */
    open_files(paths, fds, 1);
    build_fails(&m, ERR_IO, tmpdir);
    close_files(fds, 1);
    assert_true((fds[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0); /* a device */
    build_fails(&m, ERR_IO, "not a readable regular file");
    close_files(fds, 1);
    paths[0] = make_file("big.bin", "0123456789012345678901234567890123456789", 40);
    open_files(paths, fds, 1);
    buf_init(&b, 600); /* room for the headers, not for the file */
    assert_int_equal(mime_build(&m, &b, &e), ERR_TOOBIG);
    buf_release(&b);
    close_files(fds, 1);
    m.attachments = NULL; /* announced but absent */
    build_fails(&m, ERR_INPUT, "attachments");
}

/* RFC 2369 §3.2 and RFC 8058 §3.1 (Post only beside an HTTPS URI),
 * RFC 3834 §5, extra headers in order. */
static void list_headers(void **state)
{
    static const char *const extra[] = {"X-Campaign: 42", "Reply-To: compta@example.fr",
                                        "X-Empty:", NULL};
    static const char *const more_https[] = {
        "header=List-Unsubscribe:<https://example.fr/u?t=abc&c=42>",
        "header=List-Unsubscribe-Post:List-Unsubscribe=One-Click",
        "header=Auto-Submitted:auto-generated",
        "header=X-Campaign:42",
        "header=Reply-To:compta@example.fr",
        "fold=78",
        NULL};
    static const char *const more_mailto[] = {
        "header=List-Unsubscribe:<mailto:unsubscribe@example.fr?subject=stop>",
        "noheader=List-Unsubscribe-Post", "noheader=Auto-Submitted", NULL};
    struct mime_msg m = base();
    char *s;

    (void)state;
    m.list_unsubscribe = "https://example.fr/u?t=abc&c=42";
    m.auto_submitted = 1;
    m.extra_headers = extra;
    s = build(&m, 78);
    assert_true(strstr(s, "X-Campaign: 42\r\n") < strstr(s, "Reply-To: "));
    python_check(s, &m, more_https);
    free(s);
    m = base();
    m.list_unsubscribe = "mailto:unsubscribe@example.fr?subject=stop";
    s = build(&m, 78);
    python_check(s, &m, more_mailto);
    free(s);
}

/* Display names: atoms stay plain, specials are quoted (RFC 5322 §3.2.4),
 * the rest becomes encoded-words (RFC 2047 §5 (3)). */
static void display_names(void **state)
{
    static const struct {
        const char *name, *wire, *normal;
    } cases[] = {
        {"Jean Dupont", "To: Jean Dupont <bob@example.org>", NULL},
        {"Dupont, Jean", "To: \"Dupont, Jean\" <bob@example.org>", NULL},
        {"J. O'Brien (CEO)", "To: \"J. O'Brien (CEO)\" <bob@example.org>", NULL},
        {"Say \"hi\" \\ there", "To: \"Say \\\"hi\\\" \\\\ there\" <bob@example.org>", NULL},
        {" Two  spaces\t", "To: Two spaces <bob@example.org>", "Two spaces"}, /* §3.2.2 */
        {"=?UTF-8?Q?not_decoded?=", "To: =?UTF-8?", NULL},
        {"Ελένη Παπαδοπούλου", "To: =?UTF-8?B?", NULL},
        {"A very long display name that goes on and on, well past sixty characters",
         "and =?UTF-8?B?b24s?= well", NULL}, /* atoms stay plain */
        {"Françoise Lefèvre", "To: =?UTF-8?Q?Fran=C3=A7oise_Lef=C3=A8vre?= <", NULL},
        {"Ελένη Παπαδοπούλου του Αλεξάνδρου και της Μαρίας Καραμανλή", "To: =?UTF-8?B?", NULL},
        {"", "To: bob@example.org\r\n", NULL},
        {"  ", "To: bob@example.org\r\n", ""},
    };
    size_t i;

    (void)state;
    for (i = 0; i < N(cases); i++) {
        struct mime_msg m = base();
        char *s;
        char want[200];
        const char *more[] = {want, NULL};
        m.to_name = cases[i].name;
        s = build(&m, 78);
        if (!strstr(s, cases[i].wire))
            fail_msg("case %zu: no \"%s\" in\n%s", i, cases[i].wire, s);
        snprintf(want, sizeof want, "to_name=%s",
                 cases[i].normal ? cases[i].normal : cases[i].name);
        python_check(s, &m, more);
        free(s);
    }
}

/* ---- refusals ---------------------------------------------------------- */

/* The const char * member of m at offset off. */
static const char **member(struct mime_msg *m, size_t off)
{
    return (const char **)(void *)((char *)m + off);
}

#define F(name) offsetof(struct mime_msg, name)

/* Header injection is impossible: every CR or LF is refused, addresses
 * must be addr-spec (RFC 5322 §3.4.1), ids msg-id (§3.6.4). */
static void injection_refused(void **state)
{
    static const struct {
        size_t f;
        const char *value, *named;
        int code;
    } cases[] = {
        {F(from_name), "Bob\r\nBcc: x@y", "from_name", ERR_INPUT},
        {F(to_name), "Bob\r\nBcc: x@y", "to_name", ERR_INPUT},
        {F(to_name), "Bob\nBcc: x@y", "to_name", ERR_INPUT},
        {F(subject), "Hello\nBcc: victim@example.org", "subject", ERR_INPUT},
        {F(subject), "Hello\r", "subject", ERR_INPUT},
        {F(to_addr), "a@b.fr>, c@d.fr", "to_addr", ERR_INPUT},
        {F(to_addr), "a@b.fr\r\nBcc: c@d.fr", "to_addr", ERR_INPUT},
        {F(to_addr), "<a@b.fr>", "to_addr", ERR_INPUT},
        {F(to_addr), "a b@c.fr", "to_addr", ERR_INPUT},
        {F(to_addr), "ab.fr", "to_addr", ERR_INPUT},
        {F(to_addr), "a@", "to_addr", ERR_INPUT},
        {F(to_addr), "@b.fr", "to_addr", ERR_INPUT},
        {F(to_addr), "a@@b.fr", "to_addr", ERR_INPUT},
        {F(to_addr), "a..b@c.fr", "to_addr", ERR_INPUT},
        {F(to_addr), ".a@c.fr", "to_addr", ERR_INPUT},
        {F(to_addr), "a@c.fr.", "to_addr", ERR_INPUT},
        {F(to_addr), "\"a b\"@c.fr", "to_addr", ERR_INPUT},
        {F(to_addr), "é@c.fr", "to_addr", ERR_INPUT},
        {F(to_addr), "", "to_addr", ERR_INPUT},
        {F(to_addr), NULL, "to_addr", ERR_INPUT},
        {F(from_addr), "alice@example.fr,evil@example.org", "from_addr", ERR_INPUT},
        {F(from_addr), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.fr",
         "from_addr", ERR_INPUT},
        {F(message_id), "<x@y>\r\nBcc: z@w", "message_id", ERR_INPUT},
        {F(message_id), "x@y", "message_id", ERR_INPUT},
        {F(message_id), "<x y@z>", "message_id", ERR_INPUT},
        {F(message_id), "<xyz>", "message_id", ERR_INPUT},
        {F(message_id), NULL, "message_id", ERR_INPUT},
        {F(date), DATE "\r\nBcc: x@y", "date", ERR_INPUT},
        {F(date), "yesterday", "date", ERR_INPUT},
        {F(date), "Mon, 23 Nov 2026 14:05:00 +0100 junk", "date", ERR_INPUT},
        {F(date), "Mon, 23 Foo 2026 14:05:00 +0100", "date", ERR_INPUT},
        {F(date), "Mon, 23 Nov 2026 25:05:00 +0100", "date", ERR_INPUT},
        {F(list_unsubscribe), "https://x.fr/u\r\nBcc: x@y", "list_unsubscribe", ERR_INPUT},
        {F(list_unsubscribe), "https://x.fr/u>, <mailto:a@b", "list_unsubscribe", ERR_INPUT},
        {F(list_unsubscribe), "https://x.fr/a b", "list_unsubscribe", ERR_INPUT},
        {F(list_unsubscribe), "", "list_unsubscribe", ERR_INPUT},
        {F(subject), "bad \xff utf-8", "subject", ERR_INPUT},
        {F(subject), "overlong \xc0\xaf", "subject", ERR_INPUT},
        {F(to_name), "surrogate \xed\xa0\x80", "to_name", ERR_INPUT},
        {F(from_name), "truncated \xc3", "from_name", ERR_INPUT},
    };
    size_t i;

    (void)state;
    for (i = 0; i < N(cases); i++) {
        struct mime_msg m = base();
        *member(&m, cases[i].f) = cases[i].value;
        build_fails(&m, cases[i].code, cases[i].named);
    }
}

static void extra_headers_refused(void **state)
{
    static const struct {
        const char *h, *named;
    } cases[] = {
        {"X-Bad: x\r\nBcc: victim@example.org", "extra_headers[0]"},
        {"X-Bad: x\nBcc: victim@example.org", "extra_headers[0]"},
        {"NoColon", "extra_headers[0]"},
        {": no name", "extra_headers[0]"},
        {"Bad Name: x", "extra_headers[0]"},
        {"X-8bit: é", "X-8bit"},
        {"X-Ctl: a\x01", "X-Ctl"},
        {"Subject: second subject", "Subject"},
        {"from: x@y.fr", "from"},
        {"Message-ID: <a@b>", "Message-ID"},
        {"Content-Type: text/html", "Content-Type"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < N(cases); i++) {
        struct mime_msg m = base();
        const char *extra[] = {cases[i].h, NULL};
        m.extra_headers = extra;
        build_fails(&m, ERR_INPUT, cases[i].named);
    }
}

static void bodies_must_be_utf8(void **state)
{
    struct mime_msg m = base();

    (void)state;
    m.text = "caf\xe9 (latin-1)";
    build_fails(&m, ERR_INPUT, "text");
    m = base();
    m.html = "<p>caf\xe9</p>";
    build_fails(&m, ERR_INPUT, "html");
}

static void size_limit(void **state)
{
    struct mime_msg m = base();
    struct buf b;
    struct err e = {0};
    char *subject;

    (void)state;
    buf_init(&b, 100);
    assert_int_equal(mime_build(&m, &b, &e), ERR_TOOBIG);
    assert_int_equal(b.len, 0);
    buf_release(&b);
    subject = xmalloc(5001);
    memset(subject, 'a', 5000);
    subject[5000] = '\0';
    m.subject = subject;
    build_fails(&m, ERR_TOOBIG, "subject");
    free(subject);
}

/* ---- dates and reproducibility ----------------------------------------- */

/* A message without a date, and the date of its second (built again
 * when the clock ticked in between). */
static char *build_within_a_second(const struct mime_msg *m, char *d, size_t n)
{
    for (;;) {
        time_t t0 = time(NULL);
        char *s = build(m, 78);
        mime_date_now(d, n);
        if (time(NULL) == t0)
            return s;
        free(s);
    }
}

static void date_now(void **state)
{
    struct mime_msg m = base();
    char d[64], wd[4], mon[4], sign;
    int day, year, h, mi, sec, zone;
    char *s;

    (void)state;
    mime_date_now(d, sizeof d);
    assert_int_equal(sscanf(d, "%3s, %d %3s %d %d:%d:%d %c%4d", wd, &day, mon, &year, &h, &mi, &sec,
                            &sign, &zone),
                     9);
    assert_true(strstr("Sun,Mon,Tue,Wed,Thu,Fri,Sat", wd) != NULL);
    assert_true(strstr("JanFebMarAprMayJunJulAugSepOctNovDec", mon) != NULL);
    assert_true(year >= 2024 && (sign == '+' || sign == '-'));
    mime_date_now(d, 8); /* truncated, still terminated */
    assert_int_equal(strlen(d), 7);
    m.date = "23 Nov 2026 14:05 +0100"; /* rewritten in full (RFC 5322 §3.3) */
    s = build(&m, 78);
    assert_non_null(strstr(s, "Date: Mon, 23 Nov 2026 14:05:00 +0100\r\n"));
    free(s);
    m.date = NULL; /* now */
    s = build(&m, 78);
    assert_memory_equal(s, "Date: ", 6);
    python_check(s, &m, NULL);
    /* made once a second: the next message of the same second says the
     * same, a later one the later time */
    char *s2 = build_within_a_second(&m, d, sizeof d), *s3;
    assert_memory_equal(s2 + 6, d, strlen(d));
    sleep(1);
    s3 = build_within_a_second(&m, d, sizeof d);
    assert_memory_equal(s3 + 6, d, strlen(d));
    assert_memory_not_equal(s2, s3, 6 + strlen(d));
    free(s2);
    free(s3);
    free(s);
}

/* The boundary holds "=_", which quoted-printable never writes: a body
 * that quotes the boundary line cannot end its part early. */
static void boundary_in_body(void **state)
{
    static const char *const more[] = {"structure=multipart/alternative(text/plain,text/html)",
                                       NULL};
    struct mime_msg m = base();
    char *first, *s, line[200];
    const char *b;
    size_t n;

    (void)state;
    m.html = "<p>x</p>";
    first = build(&m, 78);
    b = strstr(first, "boundary=\"");
    assert_non_null(b);
    b += 10;
    n = strcspn(b, "\"");
    snprintf(line, sizeof line, "before\n--%.*s\n\nafter\n--%.*s--\n", (int)n, b, (int)n, b);
    m.text = line;
    s = build(&m, 78);
    python_check(s, &m, more);
    free(first);
    free(s);
}

/* The exact bytes of a text-only message and of multipart/mixed around
 * multipart/alternative: mime.c lays out the parts and their delimiters
 * itself (as libetpan's mailmime_write_mem did, octet for octet), so the
 * layout is pinned here, down to the CRLF between two parts. */
static void exact_bytes(void **state)
{
    static const char plain[] = "Date: Mon, 23 Nov 2026 14:05:00 +0100\r\n"
                                "From: Alice Martin <alice@example.fr>\r\n"
                                "To: Bob <bob@example.org>\r\n"
                                "Message-ID: <doc42.rcpt7.email@postier.example.fr>\r\n"
                                "Subject: Your invoice 42\r\n"
                                "MIME-Version: 1.0\r\n"
                                "Content-Type: text/plain; charset=\"utf-8\"\r\n"
                                "Content-Transfer-Encoding: quoted-printable\r\n"
                                "\r\n"
                                "Hello Bob,\r\n"
                                "\r\n"
                                "your invoice is attached.\r\n";
    static const char mixed[] =
        "Date: Mon, 23 Nov 2026 14:05:00 +0100\r\n"
        "From: Alice Martin <alice@example.fr>\r\n"
        "To: Bob <bob@example.org>\r\n"
        "Message-ID: <doc42.rcpt7.email@postier.example.fr>\r\n"
        "Subject: =?UTF-8?B?w4ljaMOpYW5jZQ==?=\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"=_postier_4a17ee9bb29e0f17_mix\"\r\n"
        "\r\n"
        "--=_postier_4a17ee9bb29e0f17_mix\r\n"
        "Content-Type: multipart/alternative; boundary=\"=_postier_4a17ee9bb29e0f17_alt\"\r\n"
        "\r\n"
        "--=_postier_4a17ee9bb29e0f17_alt\r\n"
        "Content-Type: text/plain; charset=\"utf-8\"\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "Hello Bob,\r\n"
        "\r\n"
        "your invoice is attached.\r\n"
        "\r\n"
        "--=_postier_4a17ee9bb29e0f17_alt\r\n"
        "Content-Type: text/html; charset=\"utf-8\"\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "<p>Bonjour</p>=\r\n"
        "\r\n"
        "--=_postier_4a17ee9bb29e0f17_alt--\r\n"
        "\r\n"
        "--=_postier_4a17ee9bb29e0f17_mix\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=\"a.txt\"\r\n"
        "\r\n"
        "YWJj\r\n"
        "\r\n"
        "--=_postier_4a17ee9bb29e0f17_mix\r\n"
        "Content-Type: application/pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment;\r\n"
        " filename*=UTF-8''Relev%C3%A9.pdf\r\n"
        "\r\n"
        "aGVsbG8=\r\n"
        "\r\n"
        "--=_postier_4a17ee9bb29e0f17_mix--\r\n";
    const char *paths[2];
    int fds[2];
    struct mime_msg m = base();
    char *s;

    (void)state;
    s = build(&m, 78);
    assert_string_equal(s, plain);
    free(s);
    paths[0] = make_file("a.txt", "abc", 3);
    paths[1] = make_file("Relevé.pdf", "hello", 5);
    m.subject = "Échéance";
    m.html = "<p>Bonjour</p>";
    m.attachments = paths;
    m.attachment_fds = fds;
    m.nattachments = 2;
    open_files(paths, fds, 2);
    s = build(&m, 78);
    close_files(fds, 2);
    assert_string_equal(s, mixed);
    free(s);
}

/* Same input, same bytes: the boundaries come from the Message-ID. */
static void reproducible(void **state)
{
    struct mime_msg m = base();
    char *a, *b;

    (void)state;
    m.html = "<p>x</p>";
    a = build(&m, 78);
    b = build(&m, 78);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char path[600];
    DIR *d = opendir(tmpdir);
    struct dirent *de;

    (void)state;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ascii_message),
        cmocka_unit_test(french_accents),
        cmocka_unit_test(long_subject_folded),
        cmocka_unit_test(subject_whitespace),
        cmocka_unit_test(long_body_lines),
        cmocka_unit_test(html_alternative),
        cmocka_unit_test(attachments),
        cmocka_unit_test(long_ascii_attachment_name),
        cmocka_unit_test(attachment_errors),
        cmocka_unit_test(list_headers),
        cmocka_unit_test(display_names),
        cmocka_unit_test(injection_refused),
        cmocka_unit_test(extra_headers_refused),
        cmocka_unit_test(bodies_must_be_utf8),
        cmocka_unit_test(size_limit),
        cmocka_unit_test(date_now),
        cmocka_unit_test(boundary_in_body),
        cmocka_unit_test(reproducible),
        cmocka_unit_test(exact_bytes),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
