/* INI configuration: one table describes every key (section, name, type,
 * default, allowed values, comment); loading, validation and the default
 * file written by `postier init` are all driven by it, so a key cannot be
 * documented in one place and forgotten in another. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/date.h"
#include "util/xalloc.h"

/* K_BOOL: yes|no stored as 0/1 in a long; K_URL: a string whose every
 * comma- or space-separated item starts with one of `allowed`'s prefixes
 * ("" allowed when the default is ""). */
enum kind { K_STR, K_PATH, K_LONG, K_ENUM, K_ZONE, K_BOOL, K_URL };

struct key {
    const char *section, *name;
    enum kind kind;
    size_t off;
    const char *def;
    const char *allowed; /* K_ENUM: '|'-separated values; K_URL: schemes;
                          * K_LONG: "MIN" or "MIN-MAX" (NULL: 0 and up) */
    const char *comment;
};

#define S(f) offsetof(struct config, f)

static const struct key keys[] = {
    {"store", "database", K_PATH, S(database), "postier.db", NULL,
     "relative paths are relative to the config file's folder's parent"},
    {"store", "spool", K_PATH, S(spool), "spool", NULL, NULL},
    {"store", "templates", K_PATH, S(templates), "templates", NULL, NULL},
    {"store", "documents", K_PATH, S(documents), "documents", NULL,
     "relative attachment paths of documents are read from this folder"},
    {"sender", "name", K_STR, S(sender_name), "Postier", NULL, NULL},
    {"sender", "email", K_STR, S(sender_email), "noreply@example.invalid", NULL, NULL},
    {"email", "transport", K_ENUM, S(email_transport), "maildir", "maildir|smtp",
     "maildir | smtp"},
    {"email", "maildir", K_PATH, S(email_maildir), "spool/sent", NULL, NULL},
    {"smtp", "url", K_URL, S(smtp_url), "smtp://127.0.0.1:25", "smtp|smtps",
     "smtp:// or smtps://"},
    {"smtp", "username", K_STR, S(smtp_username), "", NULL, NULL},
    {"smtp", "password", K_STR, S(smtp_password), "", NULL, NULL},
    {"smtp", "starttls", K_ENUM, S(smtp_starttls), "auto", "auto|always|never",
     "auto | always | never"},
    {"smtp", "connections", K_LONG, S(smtp_connections), "4", "1-64", NULL},
    {"smtp", "rate_per_second", K_LONG, S(smtp_rate_per_second), "0", NULL, "0 = unlimited"},
    {"smtp", "rate_per_hour", K_LONG, S(smtp_rate_per_hour), "0", NULL, NULL},
    {"smtp", "timeout", K_LONG, S(smtp_timeout), "30", "1", "seconds"},
    {"smtp", "max_attempts", K_LONG, S(smtp_max_attempts), "5", "1", NULL},
    {"smtp", "ca_file", K_PATH, S(smtp_ca_file), "", NULL,
     "PEM file of the CAs that verify the server's certificate (empty: the system's)"},
    {"smtp", "verify", K_BOOL, S(smtp_verify), "yes", NULL,
     "verify the server's certificate and name"},
    {"smtp", "allow_plaintext_auth", K_BOOL, S(smtp_allow_plaintext_auth), "no", NULL,
     "yes: send the password without TLS (a relay on this host only)"},
    {"sms", "transport", K_ENUM, S(sms_transport), "none", "none|kannel|json|maildir",
     "none | kannel | json | maildir"},
    {"sms", "url", K_URL, S(sms_url), "", "http|https", "http:// or https://"},
    {"sms", "token", K_STR, S(sms_token), "", NULL, NULL},
    {"sms", "sender", K_STR, S(sms_sender), "", NULL, NULL},
    {"sms", "quiet_hours", K_STR, S(sms_quiet_hours), "20:00-08:00", NULL, NULL},
    {"sms", "quiet_days", K_STR, S(sms_quiet_days), "sun", NULL, NULL},
    {"sms", "username", K_STR, S(sms_username), "", NULL, "kannel"},
    {"sms", "password", K_STR, S(sms_password), "", NULL, "kannel"},
    {"sms", "dlr_mask", K_LONG, S(sms_dlr_mask), "0", NULL, "kannel dlr-mask (0 = no reports)"},
    {"sms", "dlr_url", K_STR, S(sms_dlr_url), "", NULL, "kannel dlr-url"},
    {"sms", "max_segments", K_LONG, S(sms_max_segments), "3", "1",
     "more segments than this: the SMS fails (too_long)"},
    {"sms", "stop_text", K_STR, S(sms_stop_text), "STOP au 36180", NULL,
     "ends every commercial SMS"},
    {"sms", "connections", K_LONG, S(sms_connections), "2", "1-64", NULL},
    {"sms", "timeout", K_LONG, S(sms_timeout), "30", "1", "seconds"},
    {"sms", "max_attempts", K_LONG, S(sms_max_attempts), "3", "1", NULL},
    {"sms", "allow_plaintext_auth", K_BOOL, S(sms_allow_plaintext_auth), "no", NULL,
     "yes: send the password or token over http:// (a gateway on this host only)"},
    {"campaign", "unsubscribe_url", K_STR, S(campaign_unsubscribe_url),
     "https://example.invalid/unsubscribe?t={token}", NULL,
     "List-Unsubscribe link of marketing e-mail; {token} = the recipient's token"},
    {"campaign", "unsubscribe_mailto", K_STR, S(campaign_unsubscribe_mailto),
     "unsubscribe@example.invalid", NULL, "List-Unsubscribe mailto (empty: none)"},
    {"run", "fallback", K_ENUM, S(run_fallback), "main", "main|none", "main | none"},
    {"run", "timezone", K_ZONE, S(run_timezone), "", NULL,
     "IANA name, e.g. Europe/Paris; empty = the system's"},
    {"run", "sms_types", K_STR, S(run_sms_types), "", NULL,
     "document types also sent by SMS, e.g. after_sales,order"},
    {"template", "max_iterations", K_LONG, S(template_max_iterations), "100000", "1",
     "loop iterations per message"},
    {"history", "key_file", K_PATH, S(history_key_file), "history.key", NULL,
     "HMAC key of the chain, created 0600 by init"},
    {"history", "retention_min_days", K_LONG, S(history_retention_min_days), "365", "0-36500",
     "purge refuses a later date"},
};

#define NKEYS (sizeof keys / sizeof keys[0])

struct loader {
    struct config *c;
    struct err *e;
    const char *path;
    FILE *f;
    int line; /* of the line inih is parsing (counted by read_line) */
};

static char **str_at(struct config *c, const struct key *k)
{
    return (char **)((char *)c + k->off);
}

static long *long_at(struct config *c, const struct key *k)
{
    return (long *)((char *)c + k->off);
}

static int enum_ok(const char *allowed, const char *v)
{
    size_t n = strlen(v);
    const char *p = allowed;

    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, v, n) == 0)
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* One URL of a K_URL key: "<scheme>://host[:port][/…]" with a scheme of
 * k->allowed (lower case), a host, a port of 1-65535 when given, and no
 * user name or password (they have their own keys, and a URL gets printed
 * in error messages).  The value is not echoed when it holds a '@'. */
static int url_item_check(const struct key *k, const char *p, size_t len, struct err *e)
{
    const char *sep = strstr(p, "://"), *host, *end, *colon;
    int secret = memchr(p, '@', len) != NULL;
    char scheme[16];
    size_t n = sep ? (size_t)(sep - p) : 0;

    if (!sep || sep >= p + len || n == 0 || n >= sizeof scheme)
        return secret ? err_set(e, ERR_CONFIG, "[%s] %s: not a URL (%s)", k->section, k->name,
                                k->comment)
                      : err_set(e, ERR_CONFIG, "[%s] %s: '%.*s' is not a URL (%s)", k->section,
                                k->name, (int)len, p, k->comment);
    memcpy(scheme, p, n);
    scheme[n] = '\0';
    if (!enum_ok(k->allowed, scheme))
        return err_set(e, ERR_CONFIG, "[%s] %s: unknown scheme '%s://' (%s)", k->section, k->name,
                       scheme, k->comment);
    host = sep + 3;
    end = host + strcspn(host, "/?#");
    if (end > p + len)
        end = p + len;
    if (memchr(host, '@', (size_t)(end - host)))
        return err_set(e, ERR_CONFIG,
                       "[%s] %s: a user name or password in the URL (set [%s] username and "
                       "password instead)",
                       k->section, k->name, k->section);
    colon = host < end && *host == '[' ? memchr(host, ']', (size_t)(end - host)) : host;
    colon = colon ? memchr(colon, ':', (size_t)(end - colon)) : NULL;
    if ((colon ? colon : end) == host)
        return err_set(e, ERR_CONFIG, "[%s] %s: '%.*s' names no host (%s)", k->section, k->name,
                       (int)len, p, k->comment);
    if (colon) {
        long port = 0;
        const char *q;
        for (q = colon + 1; q < end && port <= 65535; q++)
            port = isdigit((unsigned char)*q) ? port * 10 + (*q - '0') : 70000;
        if (port < 1 || port > 65535)
            return err_set(e, ERR_CONFIG, "[%s] %s: '%.*s': the port is not 1-65535", k->section,
                           k->name, (int)(end - colon - 1), colon + 1);
    }
    return 0;
}

/* v must be one URL (url_item_check): several relays in one key are not
 * supported yet, and each would need the checks the transport makes. */
static int url_check(const struct key *k, const char *v, struct err *e)
{
    size_t len = strcspn(v, ", \t");

    if (v[len + strspn(v + len, ", \t")])
        return err_set(e, ERR_CONFIG, "[%s] %s: one URL only (several relays are not supported)",
                       k->section, k->name);
    return len ? url_item_check(k, v, len, e) : 0;
}

/* Stores one value; returns 0 or ERR_CONFIG with "key: why". */
static int set_value(struct config *c, const struct key *k, const char *v, struct err *e)
{
    if (k->kind == K_LONG) {
        long n, min = 0, max = LONG_MAX;
        char *end;
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno || end == v || *end || n < 0)
            return err_set(e, ERR_CONFIG, "[%s] %s: '%s' is not a non-negative whole number",
                           k->section, k->name, v);
        if (k->allowed)
            sscanf(k->allowed, "%ld-%ld", &min, &max);
        if (n < min)
            return err_set(e, ERR_CONFIG, "[%s] %s: %ld is too small (at least %ld)", k->section,
                           k->name, n, min);
        if (n > max)
            return err_set(e, ERR_CONFIG, "[%s] %s: %ld is too large (at most %ld)", k->section,
                           k->name, n, max);
        *long_at(c, k) = n;
        return 0;
    }
    if (k->kind == K_BOOL) {
        if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
            *long_at(c, k) = 1;
        else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
            *long_at(c, k) = 0;
        else
            return err_set(e, ERR_CONFIG, "[%s] %s: '%s' is not yes or no", k->section, k->name,
                           v);
        return 0;
    }
    if (k->kind == K_URL && url_check(k, v, e))
        return -1;
    if (k->kind == K_ENUM && !enum_ok(k->allowed, v))
        return err_set(e, ERR_CONFIG, "[%s] %s: '%s' is not one of %s", k->section, k->name, v,
                       k->allowed);
    if (k->kind == K_ZONE && date_zone_check(v, e))
        return err_prefix(e, "[%s] %s", k->section, k->name);
    /* an empty store path would silently put the data nowhere (SQLite
     * opens a temporary database for "") */
    if (k->kind == K_PATH && !*v &&
        (!strcmp(k->section, "store") || !strcmp(k->section, "history")))
        return err_set(e, ERR_CONFIG, "[%s] %s: empty (a path; the default is %s)", k->section,
                       k->name, k->def);
    free(*str_at(c, k));
    *str_at(c, k) = xstrdup(v);
    return 0;
}

static const struct key *find_key(const char *section, const char *name)
{
    size_t i;

    for (i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct loader *l = user;
    const struct key *k;

    if (l->e->code)
        return 0;
    if (!name) /* a section header alone; checked when its keys come */
        return 1;
    k = find_key(section, name);
    if (!k) {
        err_set(l->e, ERR_CONFIG, "unknown key '%s' in section [%s]", name, section);
        return 0;
    }
    l->c->key_lines[k - keys] = l->line;
    return set_value(l->c, k, value, l->e) == 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

char *config_resolve(const char *base, const char *path)
{
    struct buf b;

    if (path[0] == '/')
        return xstrdup(path);
    buf_init(&b, 0);
    buf_printf(&b, "%s/%s", base, path);
    return buf_take(&b);
}

/* base = absolute parent of the config file's folder (SPEC §8). */
static char *base_of(const char *path)
{
    char cwd[PATH_MAX];
    char *dir, *abs, *parent;

    if (!getcwd(cwd, sizeof cwd))
        return xstrdup(".");
    dir = dir_of(path);
    abs = config_resolve(cwd, dir);
    free(dir);
    parent = dir_of(abs);
    free(abs);
    return parent;
}

static void resolve_paths(struct config *c)
{
    size_t i;

    for (i = 0; i < NKEYS; i++) {
        char **p = str_at(c, &keys[i]);
        if (keys[i].kind == K_PATH && **p) { /* empty stays empty (not set) */
            char *abs = config_resolve(c->base, *p);
            free(*p);
            *p = abs;
        }
    }
}

/* inih's reader: fgets that counts lines, so that a value can be traced
 * back to its line after loading (config_key_line). */
static char *read_line(char *str, int num, void *stream)
{
    struct loader *l = stream;
    char *s = fgets(str, num, l->f);

    if (s)
        l->line++;
    return s;
}

static int parse_file(struct config *c, const char *path, struct err *e)
{
    struct loader l = {c, e, path, fopen(path, "r"), 0};
    int rc;

    if (!l.f)
        return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    rc = ini_parse_stream(read_line, &l, on_pair, &l);
    fclose(l.f);
    if (rc == 0)
        return 0;
    if (rc < 0)
        return err_set(e, ERR_IO, "%s: cannot read", path);
    if (e->code)
        return err_prefix(e, "%s:%d", path, rc);
    return err_set(e, ERR_CONFIG, "%s:%d: syntax error", path, rc);
}

int config_load(const char *path, int must_exist, struct config **out, struct err *e)
{
    struct config *c = xcalloc(1, sizeof *c);
    struct err local;
    size_t i;
    int rc = 0;

    if (!e)
        e = &local;
    err_clear(e);
    for (i = 0; i < NKEYS; i++)
        set_value(c, &keys[i], keys[i].def, e);
    c->path = xstrdup(path);
    c->base = base_of(path);
    c->key_lines = xcalloc(NKEYS, sizeof *c->key_lines);
    if (must_exist || access(path, F_OK) == 0)
        rc = parse_file(c, path, e);
    if (rc) {
        config_free(c);
        return rc;
    }
    resolve_paths(c);
    if (*c->smtp_ca_file && access(c->smtp_ca_file, R_OK)) {
        rc = err_set(e, ERR_CONFIG, "%s:%d: [smtp] ca_file: %s: %s", path,
                     config_key_line(c, "smtp", "ca_file"), c->smtp_ca_file, strerror(errno));
        config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void config_free(struct config *c)
{
    size_t i;

    if (!c)
        return;
    for (i = 0; i < NKEYS; i++)
        if (keys[i].kind != K_LONG && keys[i].kind != K_BOOL)
            free(*str_at(c, &keys[i]));
    free(c->path);
    free(c->base);
    free(c->key_lines);
    free(c);
}

int config_key_line(const struct config *c, const char *section, const char *name)
{
    const struct key *k = find_key(section, name);

    return k ? c->key_lines[k - keys] : 0;
}

int config_secret_exposed(const struct config *c)
{
    struct stat st;

    if (!*c->smtp_password && !*c->sms_password && !*c->sms_token)
        return 0;
    return stat(c->path, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH));
}

static int mkdir_p(const char *dir)
{
    char *tmp = xstrdup(dir), *p;
    int rc = 0;

    for (p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) && errno != EEXIST)
            rc = -1;
        *p = '/';
    }
    if (mkdir(tmp, 0700) && errno != EEXIST)
        rc = -1;
    free(tmp);
    return rc;
}

int config_write_default(const char *path, struct err *e)
{
    const char *section = "";
    struct buf b;
    char *dir;
    FILE *f;
    size_t i;
    int fd, rc = 0;

    if (access(path, F_OK) == 0)
        return err_set(e, ERR_EXISTS, "%s already exists", path);
    dir = dir_of(path);
    mkdir_p(dir);
    free(dir);
    buf_init(&b, 0);
    buf_adds(&b, "; postier configuration (SPEC §8). Every key is optional; the values\n"
                 "; shown are the defaults. Uncomment a line to change it.\n");
    for (i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        if (strcmp(section, k->section)) {
            section = k->section;
            buf_printf(&b, "\n[%s]\n", section);
        }
        buf_printf(&b, ";%-16s = %s", k->name, k->def);
        if (k->comment)
            buf_printf(&b, "    ; %s", k->comment);
        buf_addc(&b, '\n');
    }
    /* 0600: the file is where passwords go */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f && fd >= 0)
        close(fd);
    if (!f || fputs(buf_str(&b), f) == EOF)
        rc = err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    if (f && fclose(f) && !rc)
        rc = err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    buf_release(&b);
    return rc;
}
