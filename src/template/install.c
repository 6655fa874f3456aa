/* The shipped templates put into an installation's templates folder (SPEC
 * §8: "New installations get the shipped templates"): copied only into a
 * folder that is missing or empty, never over a file, so that `init` run
 * again keeps what the users wrote.  No parsing here. */
#include "template.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copies one regular file whole or not at all: written aside, then linked
 * into place (link never replaces an existing file, and a copy cut short
 * by a full disk is not left behind to be taken for a template). */
static int copy_file(const char *from, const char *to, struct err *e)
{
    char chunk[8192];
    struct buf tmp;
    FILE *in = fopen(from, "rb"), *out = NULL;
    size_t n;
    int rc = 0;

    buf_init(&tmp, 0);
    buf_printf(&tmp, "%s.tmp-%ld", to, (long)getpid());
    if (in)
        out = fopen(buf_str(&tmp), "wbx");
    if (!in || !out)
        rc = err_set(e, ERR_IO, "cannot copy %s to %s: %s", from, to, strerror(errno));
    while (!rc && (n = fread(chunk, 1, sizeof chunk, in)) > 0)
        if (fwrite(chunk, 1, n, out) != n)
            rc = err_set(e, ERR_IO, "%s: %s", to, strerror(errno));
    if (!rc && ferror(in))
        rc = err_set(e, ERR_IO, "%s: %s", from, strerror(errno));
    if (out && fclose(out) && !rc)
        rc = err_set(e, ERR_IO, "%s: %s", to, strerror(errno));
    if (!rc && link(buf_str(&tmp), to) && errno != EEXIST)
        rc = err_set(e, ERR_IO, "%s: %s", to, strerror(errno));
    if (out)
        unlink(buf_str(&tmp));
    if (in)
        fclose(in);
    buf_release(&tmp);
    return rc;
}

/* Has dir any entry but . and ..?  (A missing folder has none; one that
 * cannot be read counts as full: nothing is copied into it.) */
static int has_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int any = !d && errno != ENOENT;

    while (d && !any && (de = readdir(d)))
        any = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    return any;
}

static int make_dir(const char *path, struct err *e)
{
    if (mkdir(path, 0755) && errno != EEXIST)
        return err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
    return 0;
}

/* Copies root/name/<files> into dest/name. */
static int copy_folder(const char *root, const char *dest, const char *name, int *copied,
                       struct err *e)
{
    struct dirent **files = NULL;
    struct buf from, to;
    int j, k, rc;

    buf_init(&from, 0);
    buf_init(&to, 0);
    buf_printf(&from, "%s/%s", root, name);
    buf_printf(&to, "%s/%s", dest, name);
    k = scandir(buf_str(&from), &files, NULL, alphasort);
    rc = k < 0 ? 0 : make_dir(buf_str(&to), e); /* not a folder: not a template */
    for (j = 0; j < k; j++) {
        if (!rc && files[j]->d_name[0] != '.') {
            buf_reset(&from);
            buf_reset(&to);
            buf_printf(&from, "%s/%s/%s", root, name, files[j]->d_name);
            buf_printf(&to, "%s/%s/%s", dest, name, files[j]->d_name);
            if (!(rc = copy_file(buf_str(&from), buf_str(&to), e)))
                (*copied)++;
        }
        free(files[j]);
    }
    free(files);
    buf_release(&from);
    buf_release(&to);
    return rc;
}

int tmpl_install(const char *const *roots, size_t nroots, const char *dest, int *copied,
                 struct err *e)
{
    struct dirent **names = NULL;
    const char *root = NULL;
    size_t r;
    int i, n = 0, rc = 0;

    *copied = 0;
    if (has_entries(dest))
        return 0;
    for (r = 0; r < nroots && !root; r++)
        if (roots[r] && *roots[r] && access(roots[r], R_OK) == 0)
            root = roots[r];
    if (!root || (n = scandir(root, &names, NULL, alphasort)) < 0)
        return err_set(e, ERR_IO, "cannot find the shipped templates (%s)",
                       nroots ? roots[0] : "");
    rc = make_dir(dest, e);
    for (i = 0; i < n; i++) {
        if (!rc && names[i]->d_name[0] != '.')
            rc = copy_folder(root, dest, names[i]->d_name, copied, e);
        free(names[i]);
    }
    free(names);
    return rc;
}
