/* Opening a file inside a folder by a relative path, one component at a
 * time with openat(O_NOFOLLOW): a symbolic link anywhere on the way is
 * refused (even one that would stay inside: simplest and safe), and
 * O_NONBLOCK on the last one so that a FIFO cannot block the open. */
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int path_check_relative(const char *rel, struct err *e)
{
    const char *p, *c;

    if (!rel || !*rel)
        return err_set(e, ERR_INPUT, "an empty path");
    if (rel[0] == '/')
        return err_set(e, ERR_INPUT, "'%s' is an absolute path (it must be inside the folder)",
                       rel);
    for (p = rel; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return err_set(e, ERR_INPUT, "a control character in the path");
    if (strstr(rel, "://"))
        return err_set(e, ERR_INPUT, "'%s' is a URL (a path inside the folder is expected)", rel);
    if (strchr(rel, '\\'))
        return err_set(e, ERR_INPUT, "'%s' has a '\\' (separate folders with '/')", rel);
    if (rel[strlen(rel) - 1] == '/')
        return err_set(e, ERR_INPUT, "'%s' ends with '/' (a file is expected)", rel);
    for (c = rel; c; c = p ? p + 1 : NULL) {
        size_t n;
        p = strchr(c, '/');
        n = p ? (size_t)(p - c) : strlen(c);
        if (n == 0)
            return err_set(e, ERR_INPUT, "'%s' has an empty component", rel);
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return err_set(e, ERR_INPUT, "'%s' has a '..' component (it must stay inside the "
                           "folder)", rel);
    }
    return 0;
}

/* Why openat failed on the component name under dirfd. */
static int open_error(int dirfd, const char *name, const char *rel, int errnum, struct err *e)
{
    struct stat st;

    if (errnum == ENOENT)
        return err_set(e, ERR_NOTFOUND, "'%s' does not exist", rel);
    if ((errnum == ELOOP || errnum == ENOTDIR) && !fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
        if (S_ISLNK(st.st_mode) && !strcmp(name, rel))
            return err_set(e, ERR_IO, "'%s' is a symbolic link (refused)", rel);
        if (S_ISLNK(st.st_mode))
            return err_set(e, ERR_IO, "'%s': '%s' is a symbolic link (refused)", rel, name);
        if (!S_ISDIR(st.st_mode))
            return err_set(e, ERR_IO, "'%s': '%s' is not a folder", rel, name);
    }
    return err_set(e, ERR_IO, "'%s': %s", rel, strerror(errnum));
}

static int not_regular(const char *rel, const struct stat *st, struct err *e)
{
    return err_set(e, ERR_IO, "'%s' is not a regular file (%s)", rel,
                   S_ISDIR(st->st_mode)    ? "a folder"
                   : S_ISFIFO(st->st_mode) ? "a FIFO"
                   : S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode) ? "a device"
                                                                  : "a special file");
}

int path_open_in(const char *dir, const char *rel, int *fd, struct err *e)
{
    char name[256];
    const char *c, *p;
    struct stat st;
    int dfd = -1, nfd = -1, rc;

    *fd = -1;
    if ((rc = path_check_relative(rel, e)))
        return rc;
    if ((dfd = open(dir ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = err_set(e, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, "'%s': the folder %s: %s", rel,
                     dir ? dir : ".", strerror(errno));
        goto out;
    }
    for (c = rel;; c = p + 1) {
        size_t n;
        p = strchr(c, '/');
        n = p ? (size_t)(p - c) : strlen(c);
        if (n >= sizeof name) {
            rc = err_set(e, ERR_IO, "'%s': a component is too long", rel);
            goto out;
        }
        memcpy(name, c, n);
        name[n] = '\0';
        if (!p)
            break;
        nfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0) {
            rc = open_error(dfd, name, rel, errno, e);
            goto out;
        }
        close(dfd);
        dfd = nfd;
        nfd = -1;
    }
    /* a device is never opened (opening one can act): its type is read
     * first, and read again from the open file in case it was swapped */
    if (!fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) && !S_ISREG(st.st_mode) &&
        !S_ISLNK(st.st_mode)) {
        rc = not_regular(rel, &st, e);
        goto out;
    }
    if ((nfd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) < 0) {
        rc = open_error(dfd, name, rel, errno, e);
        goto out;
    }
    if (fstat(nfd, &st)) {
        rc = err_set(e, ERR_IO, "'%s': %s", rel, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = not_regular(rel, &st, e);
        goto out;
    }
    /* another name of the file may be outside the folder (the config
     * itself, linked in by whoever can write here) */
    if (st.st_nlink > 1) {
        rc = err_set(e, ERR_IO, "'%s' has other hard links (refused: copy the file instead)", rel);
        goto out;
    }
    *fd = nfd;
    nfd = -1;
out:
    if (nfd >= 0)
        close(nfd);
    if (dfd >= 0)
        close(dfd);
    return rc;
}
