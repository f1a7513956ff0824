/* Durable files: whole-file reads, atomic replacement (temporary name, fsync,
 * rename, fsync of the directory), and checkpoints built on them, so that a
 * run killed at any moment leaves its previous checkpoint readable. */
#include "data_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

clg_status clg__read_file(clg_ctx *ctx, const char *path, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: %s", path,
                                 S_ISDIR(sb.st_mode) ? "is a directory, not a file"
                                                     : "not a regular file");
    }
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
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (!tmp)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", path);
    snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        clg_status st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: cannot create: %s", tmp,
                                          strerror(errno));
        free(tmp);
        return st;
    }
    clg_status st = CLG_OK;
    for (int i = 0; i < n && st == CLG_OK; i++)
        st = write_all(ctx, fd, tmp, pieces[i], sizes[i]);
    if (st == CLG_OK && fsync(fd) != 0)
        st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && st == CLG_OK)
        st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (st == CLG_OK && rename(tmp, path) != 0)
        st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp,
                               strerror(errno));
    if (st != CLG_OK)
        unlink(tmp);
    else
        fsync_parent(path);
    free(tmp);
    return st;
}

static char *checkpoint_path(const char *dir)
{
    size_t n = strlen(dir) + sizeof(CLG_CHECKPOINT_FILE) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, CLG_CHECKPOINT_FILE);
    return p;
}

clg_status clg_checkpoint_save(clg_ctx *ctx, const char *dir, const clg_tensor_set *s)
{
    if (!dir || !s)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "clg_checkpoint_save: NULL argument");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: cannot create checkpoint directory: %s",
                                 dir, strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: not a directory", dir);
    char *p = checkpoint_path(dir);
    if (!p)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", dir);
    clg_status st = clg_safetensors_write(ctx, p, s);
    free(p);
    return st;
}

clg_status clg_checkpoint_load(clg_ctx *ctx, const char *dir, clg_tensor_set **out)
{
    *out = NULL;
    if (!dir)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "clg_checkpoint_load: NULL directory");
    char *p = checkpoint_path(dir);
    if (!p)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", dir);
    clg_status st = clg_safetensors_read(ctx, p, out);
    free(p);
    return st;
}

void clg_rng_to_string(const clg_rng *r, char out[65])
{
    for (int i = 0; i < 4; i++)
        snprintf(out + 16 * i, 17, "%016" PRIx64, r->s[i]);
}

clg_status clg_rng_from_string(clg_ctx *ctx, const char *s, clg_rng *r)
{
    if (!s || strlen(s) != 64)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "rng state: expected 64 hex digits, got '%s'", s ? s : "(none)");
    clg_rng tmp;
    for (int i = 0; i < 4; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 16; k++) {
            char c = s[16 * i + k];
            int d = c >= '0' && c <= '9' ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0)
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                         "rng state: '%c' at position %d is not a hex digit", c,
                                         16 * i + k);
            v = v << 4 | (uint64_t)d;
        }
        tmp.s[i] = v;
    }
    *r = tmp;
    return CLG_OK;
}
