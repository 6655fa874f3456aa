/* Template files of SPEC §3: reads one file (at most 1 MiB), splits it into
 * the Subject line, the text body and the optional HTML part after a
 * "--- html ---" line, and parses each part with its position in the file
 * so messages say path:line:col.  CRLF files are read as LF; the bytes as
 * read are kept for the history's SHA-256.  No rendering here. */
#include "template-int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"

#define SUBJECT "Subject:"
#define HTML_SEP "--- html ---"
#define BOM "\xEF\xBB\xBF"

enum { P_SUBJECT, P_TEXT, P_HTML, NPARTS };

struct part {
    const char *s; /* NULL: the part is absent */
    size_t n;
    struct tpos at;
};

static int read_all(const char *path, char **data, size_t *len, struct err *e)
{
    struct buf b;
    char chunk[8192];
    FILE *fp = fopen(path, "rb");
    size_t n;
    int rc = 0;

    if (!fp)
        return err_set(e, ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    buf_init(&b, TMPL_FILE_MAX);
    while (!rc && (n = fread(chunk, 1, sizeof chunk, fp)) > 0)
        if (buf_add(&b, chunk, n))
            rc = err_set(e, ERR_TOOBIG, "%s: template file larger than %u bytes", path,
                         TMPL_FILE_MAX);
    if (!rc && ferror(fp))
        rc = err_set(e, ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    fclose(fp);
    if (rc) {
        buf_release(&b);
        return rc;
    }
    *len = b.len;
    *data = buf_take(&b);
    return 0;
}

/* A copy without the UTF-8 byte order mark and with every CRLF as LF:
 * removing a CR just before a LF changes no line or column number. */
static char *normalise(const char *s, size_t n, size_t *len)
{
    char *out = xmalloc(n + 1);
    size_t i = 0, k = 0;

    if (n >= 3 && memcmp(s, BOM, 3) == 0)
        i = 3;
    for (; i < n; i++)
        if (!(s[i] == '\r' && i + 1 < n && s[i + 1] == '\n'))
            out[k++] = s[i];
    out[k] = '\0';
    *len = k;
    return out;
}

/* The end of the line at p (its '\n' or end). */
static const char *eol(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl : end;
}

/* Body from p (line `line`) up to a line exactly "--- html ---", and the
 * HTML part after it. */
static void split_html(const char *p, const char *end, int line, struct part *parts)
{
    const char *q = p;

    parts[P_TEXT] = (struct part){p, (size_t)(end - p), {line, 1}};
    while (q < end) {
        const char *e = eol(q, end);

        if ((size_t)(e - q) == strlen(HTML_SEP) && memcmp(q, HTML_SEP, strlen(HTML_SEP)) == 0) {
            parts[P_TEXT].n = (size_t)(q - p);
            q = e < end ? e + 1 : end;
            parts[P_HTML] = (struct part){q, (size_t)(end - q), {line + 1, 1}};
            return;
        }
        q = e < end ? e + 1 : end;
        line++;
    }
}

/* "Subject: ..." on line 1, an empty line 2, then the body. */
static int split_email(const char *path, const char *s, size_t n, struct part *parts, struct err *e)
{
    const char *end = s + n, *p, *line_end = eol(s, end);
    size_t k = strlen(SUBJECT);
    struct tpos at = {1, (int)k + 1};

    if ((size_t)(line_end - s) < k || strncasecmp(s, SUBJECT, k) != 0)
        return err_set(e, ERR_INPUT,
                       "%s:1:1: missing 'Subject:' line (an e-mail template "
                       "starts with 'Subject: ...' and a blank line)",
                       path);
    for (p = s + k; p < line_end && (*p == ' ' || *p == '\t'); p++)
        at.col++;
    parts[P_SUBJECT] = (struct part){p, (size_t)(line_end - p), at};
    while (parts[P_SUBJECT].n &&
           (p[parts[P_SUBJECT].n - 1] == ' ' || p[parts[P_SUBJECT].n - 1] == '\t'))
        parts[P_SUBJECT].n--;
    if (line_end == end || line_end + 1 == end || line_end[1] != '\n')
        return err_set(e, ERR_INPUT, "%s:2:1: expected a blank line after the Subject line", path);
    split_html(line_end + 2, end, 3, parts);
    return 0;
}

int tmpl_file_load(const char *path, int sms, struct tmpl_file **out, struct err *e)
{
    struct tmpl_file *f = NULL;
    struct part parts[NPARTS] = {{NULL, 0, {1, 1}}};
    struct tmpl **dst[NPARTS];
    char *text = NULL;
    size_t len, i;
    int rc;

    *out = NULL;
    f = xcalloc(1, sizeof *f);
    dst[P_SUBJECT] = &f->subject;
    dst[P_TEXT] = &f->text;
    dst[P_HTML] = &f->html;
    if ((rc = read_all(path, &f->source, &f->source_len, e)))
        goto out;
    text = normalise(f->source, f->source_len, &len);
    if (sms)
        parts[P_TEXT] = (struct part){text, len, {1, 1}};
    else if ((rc = split_email(path, text, len, parts, e)))
        goto out;
    for (i = 0; i < NPARTS && !rc; i++)
        if (parts[i].s)
            rc = tmpl_parse_at(path, parts[i].at, parts[i].s, parts[i].n, dst[i], e);
out:
    free(text);
    if (rc)
        tmpl_file_free(f);
    else
        *out = f;
    return rc;
}

void tmpl_file_free(struct tmpl_file *f)
{
    if (!f)
        return;
    tmpl_free(f->subject);
    tmpl_free(f->text);
    tmpl_free(f->html);
    free(f->source);
    free(f);
}
