/* Message construction (SPEC §4): libetpan writes the RFC 5322 header
 * fields, each MIME part's fields and the base64 of attachments; the parts
 * and delimiters are laid out here as its mailmime_write_mem would.  Here
 * too: the input checks that make header injection impossible, the reading
 * of attachments (the only I/O), a last check of the bytes (CRLF only,
 * lines <= 998).  The encodings (RFC 2047, 2231, 2045 QP) are in encode.c. */
#include "mime/mime-int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libetpan/mailmime.h>

#include "util/xalloc.h"

#define MSGID_MAX 900 /* bytes of a Message-ID, "<" and ">" included */

/* ---- helpers ----------------------------------------------------------- */

/* libetpan constructors return NULL only when malloc fails: abort like the
 * x* allocators, out of memory is not an error path here. */
static void *need(void *p)
{
    if (!p)
        abort();
    return p;
}

static int has_break(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325u;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3u;
    return h;
}

/* ---- input checks ------------------------------------------------------ */

/* dot-atom-text (RFC 5322 §3.2.3): atext runs separated by single dots. */
static int is_dot_atom(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (i = 0; i < n; i++) {
        if (s[i] == '.' ? s[i + 1] == '.' : !mime_is_atext((unsigned char)s[i]))
            return 0;
    }
    return 1;
}

/* "[" *dtext "]" without CFWS (RFC 5322 §3.4.1 domain-literal). */
static int is_literal(const char *s, size_t n)
{
    size_t i;

    if (n < 2 || s[0] != '[' || s[n - 1] != ']')
        return 0;
    for (i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\')
            return 0;
    }
    return 1;
}

/* dot-atom "@" (dot-atom / domain-literal): an addr-spec without a quoted
 * local part (RFC 5322 §3.4.1), also the inside of a msg-id (§3.6.4). */
static int is_addr_spec(const char *s, size_t n, size_t *local_len)
{
    const char *at = memchr(s, '@', n);
    size_t l;

    if (!at)
        return 0;
    l = (size_t)(at - s);
    *local_len = l;
    return is_dot_atom(s, l) && (is_dot_atom(at + 1, n - l - 1) || is_literal(at + 1, n - l - 1));
}

static int check_addr(const char *field, const char *s, struct err *e)
{
    size_t n, local;

    if (!s || !*s)
        return err_set(e, ERR_INPUT, "%s: missing address", field);
    if (has_break(s))
        return err_set(e, ERR_INPUT, "%s: contains a line break (CR or LF)", field);
    n = strlen(s);
    if (!is_addr_spec(s, n, &local))
        return err_set(e, ERR_INPUT, "%s: not an address of the form local@domain", field);
    /* RFC 5321 §4.5.3.1.1 and .3: 64 octets of local part, 254 in all. */
    if (local > 64 || n > 254)
        return err_set(e, ERR_INPUT, "%s: address too long", field);
    return 0;
}

/* Display names, subject: no line breaks (the only way to inject a header
 * field), no other control but TAB, UTF-8, bounded.  A C string cannot hold
 * a NUL. */
static int check_text(const char *field, const char *s, struct err *e)
{
    const unsigned char *p;

    if (!s)
        return 0;
    if (has_break(s))
        return err_set(e, ERR_INPUT, "%s: contains a line break (CR or LF)", field);
    if (!mime_is_utf8(s))
        return err_set(e, ERR_INPUT, "%s: not valid UTF-8", field);
    for (p = (const unsigned char *)s; *p; p++)
        if ((*p < 32 && *p != '\t') || *p == 127)
            return err_set(e, ERR_INPUT, "%s: contains a control character", field);
    if (strlen(s) > HDR_TEXT_MAX)
        return err_set(e, ERR_TOOBIG, "%s: longer than %d bytes", field, HDR_TEXT_MAX);
    return 0;
}

static int check_msgid(const char *s, struct err *e)
{
    size_t n, local;

    if (!s || !*s)
        return err_set(e, ERR_INPUT, "message_id: missing");
    if (has_break(s))
        return err_set(e, ERR_INPUT, "message_id: contains a line break (CR or LF)");
    n = strlen(s);
    if (n < 5 || n > MSGID_MAX || s[0] != '<' || s[n - 1] != '>' ||
        !is_addr_spec(s + 1, n - 2, &local))
        return err_set(e, ERR_INPUT, "message_id: not of the form <left@right> (RFC 5322 §3.6.4)");
    return 0;
}

/* One URI, printed between angle brackets (RFC 2369 §2): printable ASCII
 * without "<", ">" or spaces (RFC 3986 §2). */
static int check_unsubscribe(const char *s, struct err *e)
{
    const unsigned char *p;

    if (has_break(s))
        return err_set(e, ERR_INPUT, "list_unsubscribe: contains a line break (CR or LF)");
    for (p = (const unsigned char *)s; *p; p++)
        if (*p < 33 || *p > 126 || *p == '<' || *p == '>')
            return err_set(e, ERR_INPUT, "list_unsubscribe: not a URI (spaces, <, > or non-ASCII)");
    if (!*s || strlen(s) > 900)
        return err_set(e, ERR_INPUT, "list_unsubscribe: empty or too long");
    return 0;
}

/* Fields that mime_build writes itself and that may appear only once. */
static const char *const reserved_fields[] = {
    "Date",
    "From",
    "To",
    "Subject",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Auto-Submitted",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    NULL,
};

/* "Name: value": Name is 1*ftext (RFC 5322 §3.6.8), the value printable
 * ASCII and WSP (§2.2) with no word too long to fold under 998. */
static int check_extra(const char *h, size_t i, struct err *e)
{
    const char *colon = strchr(h, ':'), *p;
    size_t nlen, k, run = 0;

    if (has_break(h))
        return err_set(e, ERR_INPUT, "extra_headers[%zu]: contains a line break (CR or LF)", i);
    if (!colon || colon == h)
        return err_set(e, ERR_INPUT, "extra_headers[%zu]: not \"Name: value\"", i);
    for (p = h; p < colon; p++)
        if (*p < 33 || *p > 126)
            return err_set(e, ERR_INPUT, "extra_headers[%zu]: bad character in the name", i);
    nlen = (size_t)(colon - h);
    for (k = 0; reserved_fields[k]; k++)
        if (strlen(reserved_fields[k]) == nlen && strncasecmp(h, reserved_fields[k], nlen) == 0)
            return err_set(e, ERR_INPUT, "extra header %.*s: written by postier itself", (int)nlen,
                           h);
    for (p = colon + 1; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c != '\t' && (c < 32 || c > 126))
            return err_set(e, ERR_INPUT, "extra header %.*s: value must be printable ASCII",
                           (int)nlen, h);
        run = (c == ' ' || c == '\t') ? 0 : run + 1;
        if (nlen + 2 + run >= LINE_HARD)
            return err_set(e, ERR_INPUT, "extra header %.*s: a word too long for one line",
                           (int)nlen, h);
    }
    return 0;
}

static int check_msg(const struct mime_msg *m, struct err *e)
{
    size_t i;
    int rc;

    if ((rc = check_addr("from_addr", m->from_addr, e)) < 0 ||
        (rc = check_addr("to_addr", m->to_addr, e)) < 0 ||
        (rc = check_text("from_name", m->from_name, e)) < 0 ||
        (rc = check_text("to_name", m->to_name, e)) < 0 ||
        (rc = check_text("subject", m->subject, e)) < 0 || (rc = check_msgid(m->message_id, e)) < 0)
        return rc;
    if (m->date && has_break(m->date))
        return err_set(e, ERR_INPUT, "date: contains a line break (CR or LF)");
    if (m->list_unsubscribe_mailto &&
        (!m->list_unsubscribe || (rc = check_unsubscribe(m->list_unsubscribe_mailto, e)) < 0))
        return m->list_unsubscribe ? rc
                                   : err_set(e, ERR_INPUT, "list_unsubscribe_mailto without "
                                                           "list_unsubscribe");
    if (m->list_unsubscribe && (rc = check_unsubscribe(m->list_unsubscribe, e)) < 0)
        return rc;
    for (i = 0; m->extra_headers && m->extra_headers[i]; i++)
        if ((rc = check_extra(m->extra_headers[i], i, e)) < 0)
            return rc;
    if (m->text && !mime_is_utf8(m->text))
        return err_set(e, ERR_INPUT, "text: not valid UTF-8");
    if (m->html && !mime_is_utf8(m->html))
        return err_set(e, ERR_INPUT, "html: not valid UTF-8");
    if (m->nattachments && !m->attachments)
        return err_set(e, ERR_INPUT, "attachments: %zu announced, none given", m->nattachments);
    return 0;
}

/* ---- attachments ------------------------------------------------------- */

struct attach {
    char *data; /* file contents */
    size_t len;
    const char *name; /* borrowed: the last component of the path */
    const char *type;
};

struct parts {
    char *text, *html; /* quoted-printable */
    size_t text_len, html_len;
    struct attach *att;
    size_t natt;
};

static const struct {
    const char *ext, *type;
} media_types[] = {
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"txt", "text/plain"},
    {"csv", "text/csv"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"zip", "application/zip"},
};

static const char *guess_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    size_t i;

    for (i = 0; dot && dot != name && i < sizeof media_types / sizeof media_types[0]; i++)
        if (strcasecmp(dot + 1, media_types[i].ext) == 0)
            return media_types[i].type;
    return "application/octet-stream";
}

/* Reads one attachment whole from fd (the caller opened it: no path is
 * opened here, so what was checked is what is read); budget is what
 * base64 of it may still take. */
static int read_attachment(const char *path, int fd, size_t i, size_t *budget, struct attach *a,
                           struct err *e)
{
    const char *slash = strrchr(path, '/');
    struct stat st;
    size_t got = 0;
    int rc = 0;

    a->name = slash ? slash + 1 : path;
    if (!*a->name || !mime_is_utf8(a->name))
        return err_set(e, ERR_INPUT, "attachments[%zu]: %s: file name empty or not UTF-8", i, path);
    a->type = guess_type(a->name);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return err_set(e, ERR_IO, "attachment %s: not a readable regular file", path);
    if ((uint64_t)st.st_size > *budget / 4 * 3)
        return err_set(e, ERR_TOOBIG, "attachment %s: too big for the message size limit", path);
    a->data = xmalloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t r = pread(fd, a->data + got, (size_t)st.st_size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = err_set(e, ERR_IO, "attachment %s: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    a->len = got;
    if (!rc)
        *budget -= (got + 2) / 3 * 4;
    return rc;
}

/* Encodes the bodies and reads the attachments, before any libetpan
 * structure exists (so failing here frees only our own buffers). */
static int prepare(const struct mime_msg *m, size_t budget, struct parts *p, struct err *e)
{
    const char *bodies[2] = {m->text ? m->text : "", m->html};
    char **dst[2] = {&p->text, &p->html};
    size_t *len[2] = {&p->text_len, &p->html_len};
    size_t i;
    int rc;

    for (i = 0; i < 2 && bodies[i]; i++) {
        struct buf b;
        size_t n = strlen(bodies[i]);
        buf_init(&b, budget ? budget : 1);
        buf_reserve(&b, n + n / 4 + 64); /* accents and soft breaks: about a quarter more */
        mime_qp_encode(&b, bodies[i], n);
        if (b.err) {
            buf_release(&b);
            return err_set(e, ERR_TOOBIG, "%s: too big for the message size limit",
                           i ? "html" : "text");
        }
        *len[i] = b.len;
        budget -= b.len;
        *dst[i] = buf_take(&b);
    }
    p->att = xcalloc(m->nattachments, sizeof *p->att);
    for (i = 0; i < m->nattachments; i++) {
        if (!m->attachments[i] || !m->attachment_fds || m->attachment_fds[i] < 0)
            return err_set(e, ERR_INPUT, "attachments[%zu]: missing name or file", i);
        if ((rc = read_attachment(m->attachments[i], m->attachment_fds[i], i, &budget, &p->att[i],
                                  e)) < 0)
            return rc;
        p->natt++;
    }
    return 0;
}

/* n: the number of attachments asked for (p->att is zeroed to that size). */
static void parts_release(struct parts *p, size_t n)
{
    size_t i;

    free(p->text);
    free(p->html);
    for (i = 0; p->att && i < n; i++)
        free(p->att[i].data);
    free(p->att);
}

/* ---- the header fields ------------------------------------------------ */

/* libetpan writes each field (it folds, quotes, formats dates) from its
 * structures, built here on the stack over our strings: nothing to
 * allocate or free per message.  They hold char * but libetpan only reads
 * through them, hence the casts of const strings, here and in the body.
 * The writers return 0, or non-zero when libetpan or an append failed
 * (out of memory). */

static int put(MMAPString *s, const char *p, size_t n)
{
    return mmap_string_append_len(s, p, n) == NULL;
}

/* A one-element libetpan list in the caller's storage. */
static clist *list1(clist *l, clistcell *c, void *data)
{
    *c = (clistcell){data, NULL, NULL};
    *l = (clist){c, c, 1};
    return l;
}

/* RFC 5322 §3.3 date-time, given or now, parsed by libetpan so that only a
 * valid date reaches the header (it rewrites it in canonical form). */
static void date_at(time_t t, char *out, size_t n);

static int parse_date(const char *given, struct mailimf_date_time *dt, struct err *e)
{
    /* "now" is the same for every message of a second: made once */
    static _Thread_local time_t last;
    static _Thread_local struct mailimf_date_time was;
    char now[64];
    const char *s = given;
    size_t idx = 0, n;
    struct mailimf_date_time *d = NULL;
    time_t t = 0;

    if (!s) {
        t = time(NULL);
        if (t == last) {
            *dt = was;
            return 0;
        }
        date_at(t, now, sizeof now);
        s = now;
    }
    n = strlen(s);
    if (mailimf_date_time_parse(s, n, &idx, &d) != MAILIMF_NO_ERROR)
        return err_set(e, ERR_INPUT, "date: not an RFC 5322 date: \"%s\"", s);
    while (idx < n && (s[idx] == ' ' || s[idx] == '\t'))
        idx++;
    *dt = *d;
    mailimf_date_time_free(d);
    if (idx != n || dt->dt_day < 1 || dt->dt_day > 31 || dt->dt_month < 1 || dt->dt_month > 12 ||
        dt->dt_year < 1900 || dt->dt_hour > 23 || dt->dt_min > 59 || dt->dt_sec > 60 ||
        dt->dt_zone > 9959 || dt->dt_zone < -9959 || abs(dt->dt_zone) % 100 > 59)
        return err_set(e, ERR_INPUT, "date: not an RFC 5322 date: \"%s\"", s);
    if (!given)
        last = t, was = *dt;
    return 0;
}

/* The header form of a display name (malloc'd), NULL when there is none.
 * A display name is a phrase: in it a run of white space means one space
 * (RFC 5322 §3.2.2), so runs are collapsed and the ends trimmed first. */
static char *display_name(const char *name)
{
    char *dn, *w;
    const char *p;

    if (!name)
        return NULL;
    w = dn = xmalloc(strlen(name) + 1);
    for (p = name; *p; p++)
        if (*p != ' ' && *p != '\t')
            *w++ = *p;
        else if (w > dn && p[1] != ' ' && p[1] != '\t' && p[1] != '\0')
            *w++ = ' ';
    *w = '\0';
    w = *dn ? mime_phrase_text(dn) : NULL;
    free(dn);
    return w;
}

static int write_optional(MMAPString *s, const char *name, const char *value)
{
    struct mailimf_optional_field opt = {(char *)name, (char *)value};
    struct mailimf_field f = {MAILIMF_FIELD_OPTIONAL_FIELD, {.fld_optional_field = &opt}};
    int col = 0;

    return mailimf_field_write_mem(s, &col, &f) != MAILIMF_NO_ERROR;
}

/* Auto-Submitted (RFC 3834 §5), List-Unsubscribe (RFC 2369 §3.2) with
 * List-Unsubscribe-Post (RFC 8058 §3.1: only beside an HTTPS URI), then the
 * extra headers in their order. */
static int write_optionals(MMAPString *s, const struct mime_msg *m)
{
    size_t i;
    int r = m->auto_submitted && write_optional(s, "Auto-Submitted", "auto-generated");

    if (!r && m->list_unsubscribe) {
        struct buf v;
        buf_init(&v, 0);
        buf_printf(&v, "<%s>", m->list_unsubscribe);
        if (m->list_unsubscribe_mailto)
            buf_printf(&v, ", <%s>", m->list_unsubscribe_mailto);
        r = write_optional(s, "List-Unsubscribe", buf_str(&v)) ||
            (strncasecmp(m->list_unsubscribe, "https://", 8) == 0 &&
             write_optional(s, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click"));
        buf_release(&v);
    }
    for (i = 0; !r && m->extra_headers && m->extra_headers[i]; i++) {
        const char *h = m->extra_headers[i], *colon = strchr(h, ':'), *v = colon + 1;
        char *name = xstrndup(h, (size_t)(colon - h));
        while (*v == ' ' || *v == '\t')
            v++;
        r = write_optional(s, name, v);
        free(name);
    }
    return r;
}

/* Date, From, To, Message-ID, Subject (RFC 5322 §3.6), then the rest. */
static int write_fields(MMAPString *s, const struct mime_msg *m, struct mailimf_date_time *date)
{
    char *from_name = display_name(m->from_name), *to_name = display_name(m->to_name);
    char *subject = m->subject ? mime_header_text(m->subject) : NULL, id[MSGID_MAX];
    struct mailimf_orig_date orig_date = {date};
    struct mailimf_mailbox from = {from_name, (char *)m->from_addr};
    struct mailimf_mailbox to = {to_name, (char *)m->to_addr};
    struct mailimf_address to_address = {MAILIMF_ADDRESS_MAILBOX, {.ad_mailbox = &to}};
    clistcell from_cell, to_cell;
    clist from_list, to_list;
    struct mailimf_mailbox_list from_mailboxes = {list1(&from_list, &from_cell, &from)};
    struct mailimf_address_list to_addresses = {list1(&to_list, &to_cell, &to_address)};
    struct mailimf_from from_field = {&from_mailboxes};
    struct mailimf_to to_field = {&to_addresses};
    struct mailimf_message_id message_id = {id};
    struct mailimf_subject subject_field = {subject};
    struct mailimf_field f[] = {
        {MAILIMF_FIELD_ORIG_DATE, {.fld_orig_date = &orig_date}},
        {MAILIMF_FIELD_FROM, {.fld_from = &from_field}},
        {MAILIMF_FIELD_TO, {.fld_to = &to_field}},
        {MAILIMF_FIELD_MESSAGE_ID, {.fld_message_id = &message_id}},
        {MAILIMF_FIELD_SUBJECT, {.fld_subject = &subject_field}},
    };
    size_t i, n = strlen(m->message_id) - 2;
    int col = 0, r = 0;

    memcpy(id, m->message_id + 1, n); /* libetpan adds the angle brackets back */
    id[n] = '\0';
    for (i = 0; !r && i < sizeof f / sizeof f[0] - !subject; i++)
        r = mailimf_field_write_mem(s, &col, &f[i]) != MAILIMF_NO_ERROR;
    r = r || write_optionals(s, m);
    free(from_name);
    free(to_name);
    free(subject);
    return r;
}

/* ---- the body --------------------------------------------------------- */

/* mailmime_write_mem would rescan every octet of the already-encoded
 * contents, and want them in a tree to build and free: the body is laid
 * out here instead, exactly as it does it.  libetpan writes each part's
 * header fields; the contents and the delimiters are spliced in between
 * (RFC 2046 §5.1.1): a part is its fields, an empty line and its content;
 * a multipart's content is "--boundary" CRLF before each part, CRLF
 * between two parts and CRLF "--boundary--" CRLF at the end, with no
 * preamble and no epilogue. */

/* A part's header fields, written by libetpan (it folds and quotes the
 * parameters), and the empty line that ends them. */
static int part_header(MMAPString *s, struct mailmime_content *ct, struct mailmime_fields *f)
{
    int col = 0;

    return mailmime_content_write_mem(s, &col, ct) || mailmime_fields_write_mem(s, &col, f) ||
           put(s, "\r\n", 2);
}

/* A text/<subtype>; charset="utf-8" part over our quoted-printable
 * content. */
static int write_text(MMAPString *s, const char *subtype, const char *qp, size_t len)
{
    struct mailmime_discrete_type text = {MAILMIME_DISCRETE_TYPE_TEXT, NULL};
    struct mailmime_type type = {MAILMIME_TYPE_DISCRETE_TYPE, {.tp_discrete_type = &text}};
    struct mailmime_parameter param = {(char *)"charset", (char *)"utf-8"};
    struct mailmime_mechanism mech = {MAILMIME_MECHANISM_QUOTED_PRINTABLE, NULL};
    struct mailmime_field cte = {MAILMIME_FIELD_TRANSFER_ENCODING, {.fld_encoding = &mech}};
    clistcell pcell, fcell;
    clist params, list;
    struct mailmime_content ct = {&type, (char *)subtype, list1(&params, &pcell, &param)};
    struct mailmime_fields fields = {list1(&list, &fcell, &cte)};

    return part_header(s, &ct, &fields) || put(s, qp, len);
}

/* A boundary holds "=_", which neither quoted-printable nor base64 can
 * produce (RFC 2045 §6.7, §6.8): it cannot occur in any part (RFC 2046
 * §5.1.1) without being random, and deriving it from the Message-ID keeps
 * the output reproducible: "=_postier_" FNV-1a(seed) in 16 lower-case hex
 * digits "_" tag (3 letters). */
#define BOUNDARY_SIZE 31

static void make_boundary(char *b, const char *seed, const char *tag)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t h = fnv1a(seed);
    int i;

    memcpy(b, "=_postier_", 10);
    for (i = 0; i < 16; i++)
        b[10 + i] = hex[(h >> (60 - 4 * i)) & 15];
    b[26] = '_';
    memcpy(b + 27, tag, 4);
}

/* multipart/<subtype>; boundary="...", on the stack like write_text's. */
static int multipart_header(MMAPString *s, const char *subtype, char *boundary)
{
    struct mailmime_composite_type multi = {MAILMIME_COMPOSITE_TYPE_MULTIPART, NULL};
    struct mailmime_type type = {MAILMIME_TYPE_COMPOSITE_TYPE, {.tp_composite_type = &multi}};
    struct mailmime_parameter param = {(char *)"boundary", boundary};
    clistcell pcell;
    clist params, none = {NULL, NULL, 0};
    struct mailmime_content ct = {&type, (char *)subtype, list1(&params, &pcell, &param)};
    struct mailmime_fields fields = {&none};

    return part_header(s, &ct, &fields);
}

/* The delimiter before a part, after the CRLF that ends the one before it
 * (none before the first); last: the close-delimiter. */
static int delimiter(MMAPString *s, const char *boundary, int first, int last)
{
    return (!first && put(s, "\r\n", 2)) || put(s, "--", 2) ||
           put(s, boundary, BOUNDARY_SIZE - 1) || (last && put(s, "--", 2)) || put(s, "\r\n", 2);
}

/* Content-Disposition: attachment with filename="..." for short printable
 * ASCII names (libetpan does not fold it: a long one would pass 998
 * octets), else RFC 2231, split into sections (libetpan quotes every
 * parameter value, which RFC 2231 §7 extended values must not be, so that
 * disposition is handed over as an extension token). */
static struct mailmime_fields *attachment_fields(const struct attach *a)
{
    const unsigned char *p;

    for (p = (const unsigned char *)a->name; *p >= 32 && *p <= 126; p++)
        ;
    if (!*p && p - (const unsigned char *)a->name <= 60)
        return need(mailmime_fields_new_filename(MAILMIME_DISPOSITION_TYPE_ATTACHMENT,
                                                 xstrdup(a->name), MAILMIME_MECHANISM_BASE64));
    return need(mailmime_fields_new_with_data(
        need(mailmime_mechanism_new(MAILMIME_MECHANISM_BASE64, NULL)), NULL, NULL,
        need(mailmime_disposition_new(
            need(mailmime_disposition_type_new(MAILMIME_DISPOSITION_TYPE_EXTENSION,
                                               mime_disposition_2231(a->name))),
            need(clist_new()))),
        NULL));
}

/* An attachment: base64 (RFC 2045 §6.8) by libetpan's encoder. */
static int write_attachment(MMAPString *s, const struct attach *a)
{
    struct mailmime_content *ct = need(mailmime_content_new_with_str(a->type));
    struct mailmime_fields *fields = attachment_fields(a);
    int col = 0, r;

    r = part_header(s, ct, fields) || mailmime_base64_write_mem(s, &col, a->data, a->len);
    mailmime_content_free(ct);
    mailmime_fields_free(fields);
    return r;
}

/* text/plain alone, or beside text/html in multipart/alternative (RFC
 * 2046 §5.1.4: the preferred, richer part last). */
static int write_texts(MMAPString *s, const struct mime_msg *m, const struct parts *p)
{
    char b[BOUNDARY_SIZE];

    if (!p->html)
        return write_text(s, "plain", p->text, p->text_len);
    make_boundary(b, m->message_id, "alt");
    return multipart_header(s, "alternative", b) || delimiter(s, b, 1, 0) ||
           write_text(s, "plain", p->text, p->text_len) || delimiter(s, b, 0, 0) ||
           write_text(s, "html", p->html, p->html_len) || delimiter(s, b, 0, 1);
}

/* That, or with attachments multipart/mixed around it (§5.1.3). */
static int write_body(MMAPString *s, const struct mime_msg *m, const struct parts *p)
{
    char b[BOUNDARY_SIZE];
    size_t i;
    int r;

    if (!p->natt)
        return write_texts(s, m, p);
    make_boundary(b, m->message_id, "mix");
    r = multipart_header(s, "mixed", b) || delimiter(s, b, 1, 0) || write_texts(s, m, p);
    for (i = 0; !r && i < p->natt; i++)
        r = delimiter(s, b, 0, 0) || write_attachment(s, &p->att[i]);
    return r || delimiter(s, b, 0, 1);
}

/* ---- output ------------------------------------------------------------ */

/* RFC 5322 §2.1, §2.3: CR and LF only as CRLF, lines of at most 998
 * octets, and (everything being encoded) 7-bit ASCII only.  A failure is
 * a bug here or in libetpan, never a bad input. */
/* Whether any of the 8 octets of w is NUL, LF or 8-bit (bit tricks of
 * "Bit Twiddling Hacks": a zero byte of x sets the high bit of
 * (x - 0x01..) & ~x & 0x80..). */
static int word_bad(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t lf = w ^ (ones * '\n');

    return ((w & highs) | ((w - ones) & ~w & highs) | ((lf - ones) & ~lf & highs)) != 0;
}

static int check_output(const char *s, size_t n, struct err *e)
{
    const char *p = s, *end = s + n, *cr;

    for (; p < end; p = cr + 2) {
        size_t i = 0, len;
        int bad = 0;
        if (!(cr = memchr(p, '\r', (size_t)(end - p))))
            cr = end;
        len = (size_t)(cr - p);
        if (len > LINE_HARD)
            return err_set(e, ERR_INTERNAL, "mime: line longer than %d octets", LINE_HARD);
        for (; !bad && i + 8 <= len; i += 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            bad = word_bad(w);
        }
        for (; !bad && i < len; i++)
            bad = p[i] == '\n' || p[i] == 0 || (unsigned char)p[i] > 127;
        if (bad || (cr < end && (cr + 1 == end || cr[1] != '\n')))
            return err_set(e, ERR_INTERNAL, "mime: bare CR/LF, NUL or 8-bit octet in the line at %zu",
                           (size_t)(p - s));
    }
    return 0;
}

/* The header fields, MIME-Version: 1.0 (RFC 2045 §4) and the body,
 * checked, then appended to out at once. */
static int write_out(const struct mime_msg *m, struct mailimf_date_time *date,
                     const struct parts *p, struct buf *out, struct err *e)
{
    /* grown once, if ever */
    MMAPString *s = need(mmap_string_sized_new(p->text_len + p->html_len + 2048));
    int rc;

    if (write_fields(s, m, date) || put(s, "MIME-Version: 1.0\r\n", 19) || write_body(s, m, p))
        rc = err_set(e, ERR_INTERNAL, "mime: libetpan could not write the message");
    else if ((rc = check_output(s->str, s->len, e)) == 0 && buf_add(out, s->str, s->len) < 0)
        rc = err_set(e, ERR_TOOBIG, "mime: message larger than %zu bytes", out->cap);
    mmap_string_free(s);
    return rc;
}

int mime_build(const struct mime_msg *m, struct buf *out, struct err *e)
{
    struct parts p = {0};
    struct mailimf_date_time date;
    int rc;

    if (!m || !out)
        return err_set(e, ERR_INTERNAL, "mime_build: no message or no buffer");
    if (out->err || out->len >= out->cap)
        return err_set(e, ERR_TOOBIG, "mime_build: output buffer already full");
    if ((rc = check_msg(m, e)) < 0 || (rc = prepare(m, out->cap - out->len, &p, e)) < 0 ||
        (rc = parse_date(m->date, &date, e)) < 0)
        goto out;
    rc = write_out(m, &date, &p, out, e);
out:
    parts_release(&p, m->nattachments);
    return rc;
}

static void date_at(time_t t, char *out, size_t n)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    long off;

    /* RFC 5322 §3.3: English names whatever the locale, hence no strftime. */
    if (!localtime_r(&t, &tm))
        gmtime_r(&t, &tm);
    off = tm.tm_gmtoff / 60;
    snprintf(out, n, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
             off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

void mime_date_now(char *out, size_t n)
{
    date_at(time(NULL), out, n);
}

/* ---- the message as a person reads it ---- */

/* Appends code point c as UTF-8 (a bad one as U+FFFD). */
static void put_utf8(struct buf *b, unsigned long c)
{
    if (!c || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        c = 0xFFFD;
    if (c < 0x80) {
        buf_addc(b, (char)c);
    } else if (c < 0x800) {
        buf_addc(b, (char)(0xC0 | (c >> 6)));
        buf_addc(b, (char)(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        buf_addc(b, (char)(0xE0 | (c >> 12)));
        buf_addc(b, (char)(0x80 | ((c >> 6) & 0x3F)));
        buf_addc(b, (char)(0x80 | (c & 0x3F)));
    } else {
        buf_addc(b, (char)(0xF0 | (c >> 18)));
        buf_addc(b, (char)(0x80 | ((c >> 12) & 0x3F)));
        buf_addc(b, (char)(0x80 | ((c >> 6) & 0x3F)));
        buf_addc(b, (char)(0x80 | (c & 0x3F)));
    }
}

/* The entity at s ('&'), decoded into b; returns its length (1: none). */
static size_t entity(const char *s, struct buf *b)
{
    static const struct { const char *name; const char *text; } named[] = {
        {"amp;", "&"}, {"lt;", "<"}, {"gt;", ">"}, {"quot;", "\""}, {"apos;", "'"},
        {"nbsp;", "\xC2\xA0"}, {"eacute;", "\xC3\xA9"}, {"egrave;", "\xC3\xA8"},
        {"agrave;", "\xC3\xA0"}, {"euro;", "\xE2\x82\xAC"}};
    const char *end = strchr(s, ';');
    size_t i;

    if (!end || end - s > 10)
        return buf_addc(b, '&'), 1;
    if (s[1] == '#') {
        char *stop;
        unsigned long c = s[2] == 'x' || s[2] == 'X' ? strtoul(s + 3, &stop, 16)
                                                     : strtoul(s + 2, &stop, 10);
        if (stop != end || stop == s + 2)
            return buf_addc(b, '&'), 1;
        put_utf8(b, c);
        return (size_t)(end - s) + 1;
    }
    for (i = 0; i < sizeof named / sizeof named[0]; i++)
        if (!strncmp(s + 1, named[i].name, strlen(named[i].name)))
            return buf_adds(b, named[i].text), strlen(named[i].name) + 1;
    return buf_addc(b, '&'), 1;
}

/* A tag's name (lower case, '/' kept) into name; returns the tag's end. */
static const char *tag_name(const char *s, char *name, size_t n)
{
    size_t i = 0;

    for (s++; *s && *s != '>' && !isspace((unsigned char)*s) && i + 1 < n; s++)
        name[i++] = (char)tolower((unsigned char)*s);
    name[i] = '\0';
    while (*s && *s != '>')
        s++;
    return s;
}

/* href="…" of the tag from s to end, into href. */
static void tag_href(const char *s, const char *end, struct buf *href)
{
    const char *h = strstr(s, "href="), *v, *stop;

    buf_reset(href);
    if (!h || h >= end || (h[5] != '"' && h[5] != '\''))
        return;
    v = h + 6;
    if ((stop = strchr(v, h[5])) && stop < end)
        while (v < stop)
            v += *v == '&' ? entity(v, href) : (buf_addc(href, *v), 1);
}

/* HTML as text: tags dropped (line breaks for blocks, "- " for items,
 * " <url>" after a link whose text is not its url), entities decoded,
 * blanks collapsed. */
static void html_text(const char *s, struct buf *out)
{
    static const char *const blocks[] = {"p", "/p", "br", "br/", "div", "/div", "tr", "/tr",
                                         "h1", "/h1", "h2", "/h2", "h3", "/h3", "ul", "/ul",
                                         "ol", "/ol", "/li", "table", "/table", "hr"};
    struct buf href;
    char name[16];
    size_t i, link = 0, start = out->len;
    int space = 0, skip = 0;

    buf_init(&href, 0);
    while (*s) {
        if (*s == '<') {
            const char *end = tag_name(s, name, sizeof name);
            if (!strcmp(name, "style") || !strcmp(name, "script") || !strcmp(name, "head"))
                skip = 1;
            else if (!strcmp(name, "/style") || !strcmp(name, "/script") || !strcmp(name, "/head"))
                skip = 0;
            for (i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
                if (!strcmp(name, blocks[i]))
                    buf_addc(out, '\n'), space = 0;
            if (!strcmp(name, "li"))
                buf_adds(out, "\n- "), space = 0;
            if (!strcmp(name, "a"))
                tag_href(s, end, &href), link = out->len;
            if (!strcmp(name, "/a") && href.len) {
                link += link < out->len && out->data[link] == ' ';
                if (out->len - link != href.len || memcmp(out->data + link, href.data, href.len))
                    buf_printf(out, " <%s>", buf_str(&href));
                buf_reset(&href);
            }
            s = *end ? end + 1 : end;
        } else if (skip) {
            s++;
        } else if (isspace((unsigned char)*s)) {
            space = out->len > start && out->data[out->len - 1] != '\n';
            s++;
        } else {
            if (space)
                buf_addc(out, ' '), space = 0;
            s += *s == '&' ? entity(s, out) : (buf_addc(out, *s), 1);
        }
    }
    buf_release(&href);
    /* no blank runs: at most one empty line, none at the ends */
    for (i = start; i < out->len;) {
        if (out->data[i] == '\n' && (i == start || (i >= start + 2 && out->data[i - 1] == '\n' &&
                                                    out->data[i - 2] == '\n'))) {
            memmove(out->data + i, out->data + i + 1, out->len - i - 1);
            out->len--;
        } else if (out->data[i] == ' ' && i + 1 < out->len && out->data[i + 1] == '\n') {
            memmove(out->data + i, out->data + i + 1, out->len - i - 1);
            out->len--;
        } else {
            i++;
        }
    }
    while (out->len > start && out->data[out->len - 1] == '\n')
        out->len--;
    buf_addc(out, '\n');
}

/* Appends text with CRLF as LF and a final line break. */
static void put_lines(struct buf *out, const char *s)
{
    for (; *s; s++)
        if (*s != '\r' || s[1] != '\n')
            buf_addc(out, *s);
    if (out->len && out->data[out->len - 1] != '\n')
        buf_addc(out, '\n');
}

int mime_readable(const struct mime_msg *m, struct buf *out, struct err *e)
{
    int rc;

    if ((rc = check_msg(m, e)) < 0)
        return rc;
    buf_printf(out, "From: %s <%s>\nTo: %s <%s>\nSubject: %s\n",
               m->from_name ? m->from_name : "", m->from_addr, m->to_name ? m->to_name : "",
               m->to_addr, m->subject ? m->subject : "");
    if (m->list_unsubscribe)
        buf_printf(out, "List-Unsubscribe: <%s>%s%s%s\n", m->list_unsubscribe,
                   m->list_unsubscribe_mailto ? ", <" : "",
                   m->list_unsubscribe_mailto ? m->list_unsubscribe_mailto : "",
                   m->list_unsubscribe_mailto ? ">" : "");
    buf_addc(out, '\n');
    put_lines(out, m->text ? m->text : "");
    if (m->html) {
        buf_adds(out, "\n--- html part, as text ---\n");
        html_text(m->html, out);
    }
    if (out->err)
        return err_set(e, ERR_TOOBIG, "message: too large");
    return 0;
}
