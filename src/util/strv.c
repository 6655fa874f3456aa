/* Owned string vectors and separator splitting. */
#include "strv.h"

#include <string.h>

#include "xalloc.h"

void strv_init(struct strv *s)
{
    s->v = NULL;
    s->n = s->alloc = 0;
}

void strv_release(struct strv *s)
{
    size_t i;

    if (!s)
        return;
    for (i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    strv_init(s);
}

void strv_push_take(struct strv *s, char *str)
{
    if (s->n + 2 > s->alloc) {
        s->alloc = s->alloc ? s->alloc * 2 : 8;
        s->v = xrealloc(s->v, s->alloc * sizeof *s->v);
    }
    s->v[s->n++] = str;
    s->v[s->n] = NULL;
}

void strv_push(struct strv *s, const char *str)
{
    strv_push_take(s, xstrdup(str));
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

size_t strv_split(struct strv *s, const char *str, char sep)
{
    size_t added = 0;
    const char *p = str, *end;

    if (!str)
        return 0;
    for (;;) {
        const char *a, *b;
        end = strchr(p, sep);
        if (!end)
            end = p + strlen(p);
        a = p;
        b = end;
        while (a < b && blank(*a))
            a++;
        while (b > a && blank(b[-1]))
            b--;
        if (b > a) {
            strv_push_take(s, xstrndup(a, (size_t)(b - a)));
            added++;
        }
        if (!*end)
            break;
        p = end + 1;
    }
    return added;
}

int str_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && !strcmp(s + n - k, suffix);
}

char *str_trim(char *s)
{
    size_t n;
    char *a = s;

    while (blank(*a))
        a++;
    n = strlen(a);
    while (n && blank(a[n - 1]))
        n--;
    memmove(s, a, n);
    s[n] = '\0';
    return s;
}

size_t str_put(char *out, size_t n, size_t o, const char *s, size_t len)
{
    if (!s)
        len = 0;
    if (len > n - 1 - o)
        len = str_utf8_cut(s, n - 1 - o); /* only a cut scans, and 3 bytes at most */
    memcpy(out + o, s ? s : "", len);
    out[o + len] = '\0';
    return o + len;
}

size_t str_puts(char *out, size_t n, size_t o, const char *s)
{
    return str_put(out, n, o, s, s ? strlen(s) : 0);
}

size_t str_utf8_cut(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = n, need;

    while (i > 0 && n - i < 3 && (p[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0 || p[i - 1] < 0xC0)
        return n; /* ends on ASCII or stray continuation bytes: nothing to cut */
    need = p[i - 1] >= 0xF0 ? 4 : p[i - 1] >= 0xE0 ? 3 : 2;
    return n - (i - 1) >= need ? n : i - 1;
}
