/* Durable files, the helpers every reader and writer of data/ shares:
 * inputs opened without blocking and only when they are regular files,
 * whole-file reads, and atomic replacement (temporary name, fsync, rename,
 * fsync of the directory) of outputs that are regular files of ours. */
#include "data_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *clg__file_kind(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO (named pipe)";
    case S_IFSOCK: return "a socket";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFLNK: return "a symbolic link";
    default: return "not a regular file";
    }
}

clg_status clg__check_output(clg_ctx *ctx, const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return CLG_OK; /* absent (or unreachable: the create says why) */
    if (S_ISLNK(sb.st_mode))
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: is a symbolic link; clgrad does not write through links "
                                 "(give the target's path)", path);
    if (!S_ISREG(sb.st_mode))
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: is %s; clgrad replaces only regular files", path,
                                 clg__file_kind(sb.st_mode));
    return CLG_OK;
}

int clg__open_input(clg_ctx *ctx, const char *path, struct stat *sb)
{
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait forever
     * for a writer; the kind is checked on the open descriptor (no race). */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (stat(path, sb) == 0 && !S_ISREG(sb->st_mode)) /* a socket: ENXIO */
            clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: is %s, not a regular file", path,
                              clg__file_kind(sb->st_mode));
        else
            clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: cannot open: %s", path, strerror(e));
        return -1;
    }
    if (fstat(fd, sb) != 0) {
        int e = errno;
        close(fd);
        clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
        return -1;
    }
    if (!S_ISREG(sb->st_mode)) {
        close(fd);
        clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: is %s, not a regular file", path,
                          clg__file_kind(sb->st_mode));
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

clg_status clg__read_file(clg_ctx *ctx, const char *path, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    struct stat sb;
    int fd = clg__open_input(ctx, path, &sb);
    if (fd < 0)
        return CLG_ERR_IO;
    size_t n = (size_t)sb.st_size;
    char *b = malloc(n + 1);
    if (!b) {
        close(fd);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            free(b);
            close(fd);
            return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: read failed after %zu of %zu bytes%s%s",
                                     path, got, n, e ? ": " : "", e ? strerror(e) : "");
        }
        got += (size_t)r;
    }
    close(fd);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return CLG_OK;
}

static clg_status write_all(clg_ctx *ctx, int fd, const char *path, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: write failed: %s", path,
                                     w < 0 ? strerror(errno) : "no progress");
        c += w;
        n -= (size_t)w;
    }
    return CLG_OK;
}

/* The rename is durable only once the directory entry itself is on disk. */
static void fsync_parent(const char *path)
{
    char *dir = strdup(path);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash == dir)
        d = "/";
    else if (slash) {
        *slash = '\0';
        d = dir;
    }
    int fd = open(d, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

clg_status clg__write_atomic(clg_ctx *ctx, const char *path, const void *const *pieces,
                             const size_t *sizes, int n)
{
    /* Only a regular file (or nothing) is ever replaced: a rename over a
     * device node, a FIFO or a symbolic link would swap it for a file. */
    clg_status st = clg__check_output(ctx, path);
    if (st != CLG_OK)
        return st;
    struct stat old;
    int had_old = stat(path, &old) == 0;
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (!tmp)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    /* O_EXCL | O_NOFOLLOW: never write through something planted at the
     * temporary name; a leftover of this very pid is ours to replace. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: cannot create it (temporary file in its "
                               "directory): %s", path, strerror(errno));
        free(tmp);
        return st;
    }
    if (had_old && S_ISREG(old.st_mode))
        (void)fchmod(fd, old.st_mode & 07777); /* a replaced file keeps its permissions */
    for (int i = 0; i < n && st == CLG_OK; i++)
        st = write_all(ctx, fd, path, pieces[i], sizes[i]);
    if (st == CLG_OK && fsync(fd) != 0)
        st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    if (close(fd) != 0 && st == CLG_OK)
        st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    if (st == CLG_OK && rename(tmp, path) != 0)
        st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: cannot replace it: %s", path,
                               strerror(errno));
    if (st != CLG_OK)
        unlink(tmp);
    else
        fsync_parent(path);
    free(tmp);
    return st;
}
