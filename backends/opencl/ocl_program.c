/* Programs of a device: the one program of the embedded kernels, and the
 * generated kernels of fused ops (ocl_fused.c). Each is loaded from the disk
 * cache when a binary for exactly this source, build options, device,
 * driver and salt is there, built from source otherwise, and then cached
 * (written to a temporary file and renamed, so a reader never sees half a
 * file). */
#include "ocl_cache.h"
#include "ocl_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void log_line(const char *msg)
{
    const char *v = getenv("CLGRAD_OPENCL_LOG");
    if (v && *v && strcmp(v, "0") != 0)
        fprintf(stderr, "%s\n", msg);
}

/* mkdir -p; returns 0 on success. */
static int make_dirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

/* $CLGRAD_CACHE_DIR, else $XDG_CACHE_HOME/clgrad, else ~/.cache/clgrad.
 * Returns 0 when no directory can be named (no HOME). */
static int cache_dir(char *buf, size_t len)
{
    const char *d = getenv("CLGRAD_CACHE_DIR");
    if (d && *d)
        return snprintf(buf, len, "%s", d) < (int)len;
    d = getenv("XDG_CACHE_HOME");
    if (d && *d)
        return snprintf(buf, len, "%s/clgrad", d) < (int)len;
    d = getenv("HOME");
    if (d && *d)
        return snprintf(buf, len, "%s/.cache/clgrad", d) < (int)len;
    return 0;
}

/* Reads a cache file: a regular file (a FIFO or a device planted in the
 * cache directory must not block or feed us forever) of at most `max`
 * bytes. Returns 0 with the bytes, else -1. */
static int read_file(const char *path, size_t max, unsigned char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0 ||
        (uint64_t)sb.st_size > max) {
        close(fd);
        return -1;
    }
    size_t n = (size_t)sb.st_size, got = 0;
    unsigned char *buf = malloc(n);
    while (buf && got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != n) { /* shrank while read: a miss */
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writes the cache file atomically: a fresh temporary file, flushed to
 * disk, renamed over the entry, the directory flushed; a crash leaves the
 * old entry or the new one, never half of one. Returns NULL or why not. */
static const char *cache_store(const char *dir, const char *path, const char *key,
                               const unsigned char *bin, size_t bin_len)
{
    if (make_dirs(dir) != 0)
        return "cannot create the cache directory";
    unsigned char *hdr = malloc(OCL_CACHE_HEADER_LEN(strlen(key)));
    size_t hl = hdr ? ocl_cache_header(hdr, key, bin, bin_len) : 0;
    if (!hl) {
        free(hdr);
        return hdr ? "the key or the binary is too large to cache" : "out of host memory";
    }
    /* Unique per process and per call: two devices (or processes) may
     * store the same key at once; the last rename wins, both are whole. */
    static unsigned counter;
    unsigned n = __atomic_fetch_add(&counter, 1u, __ATOMIC_RELAXED);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), n);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(hdr);
        return "cannot create a file in the cache directory";
    }
    int ok = write_all(fd, hdr, hl) == 0 && write_all(fd, bin, bin_len) == 0;
    free(hdr);
    ok = ok && fsync(fd) == 0;
    ok = (close(fd) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return "writing the cache file failed";
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd); /* best effort: the entry is whole either way */
        close(dfd);
    }
    return NULL;
}

static void build_options(clg_bk_device *dev, char *buf, size_t len)
{
    char cver[128] = "";
    clGetDeviceInfo(dev->id, CL_DEVICE_OPENCL_C_VERSION, sizeof cver - 1, cver, NULL);
    int major = 0, minor = 0;
    /* "OpenCL C <major>.<minor> ..." */
    if (sscanf(cver, "OpenCL C %d.%d", &major, &minor) != 2)
        major = minor = 0;
    int cl12 = major > 1 || (major == 1 && minor >= 2);
    /* Extra options for experiments (e.g. -cl-mad-enable); they are part of
     * the cache key like the rest. */
    const char *extra = getenv("CLGRAD_OPENCL_BUILD_OPTIONS");
    snprintf(buf, len, "%s-DGEMM_TS=%d%s%s", cl12 ? "-cl-std=CL1.2 " : "", dev->gemm_tile,
             extra && *extra ? " " : "", extra && *extra ? extra : "");
}

static clg_status build_failed(clg_bk_device *dev, cl_program prog, cl_int st,
                               const char *options, const char *what)
{
    size_t n = 0;
    char log[3072] = "";
    clGetProgramBuildInfo(prog, dev->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    if (n > 0) {
        char *full = malloc(n + 1);
        if (full && clGetProgramBuildInfo(prog, dev->id, CL_PROGRAM_BUILD_LOG, n, full, NULL) ==
                        CL_SUCCESS) {
            full[n] = 0;
            snprintf(log, sizeof log, "%s", full);
        }
        free(full);
    }
    return ocl_fail(dev, CLG_ERR_BACKEND,
                    "opencl: building %s for '%s' (options '%s') failed: %s (%d); "
                    "build log:\n%s",
                    what, dev->name, options, ocl_status_name(st), (int)st, log);
}

static cl_program try_cached(clg_bk_device *dev, const unsigned char *bin, size_t bin_len,
                             const char *options)
{
    cl_int st, bst;
    const unsigned char *bins[1] = {bin};
    cl_program p = clCreateProgramWithBinary(dev->ctx, 1, &dev->id, &bin_len, bins, &bst, &st);
    if (st != CL_SUCCESS || bst != CL_SUCCESS) {
        if (p)
            clReleaseProgram(p);
        return NULL;
    }
    if (clBuildProgram(p, 1, &dev->id, options, NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(p);
        return NULL;
    }
    return p;
}

clg_status ocl_program_open(clg_bk_device *dev)
{
    return ocl_program_build(dev, ocl_program_source, "the kernels", &dev->program);
}

clg_status ocl_program_build(clg_bk_device *dev, const char *source, const char *what,
                             cl_program *out)
{
    char options[512];
    build_options(dev, options, sizeof options);
    char pver[256] = "";
    clGetPlatformInfo(dev->platform, CL_PLATFORM_VERSION, sizeof pver - 1, pver, NULL);
    const char *salt = getenv("CLGRAD_OPENCL_CACHE_SALT");
    size_t src_len = strlen(source);
    uint64_t src_hash = fnv1a(14695981039346656037ull, source, src_len);

    /* Everything that makes a binary unusable is in the key; the file keeps
     * the key so a hash collision can never load the wrong program. */
    char key[1024];
    snprintf(key, sizeof key,
             "source %016llx/%zu\noptions %s\ndevice %s\ndriver %s\nplatform %s\nsalt %s\n",
             (unsigned long long)src_hash, src_len, options, dev->name, dev->driver, pver,
             salt ? salt : "");
    uint64_t key_hash = fnv1a(14695981039346656037ull, key, strlen(key));

    char dir[4000], path[4096];
    int have_dir = cache_dir(dir, sizeof dir);
    if (have_dir)
        snprintf(path, sizeof path, "%s/opencl-%016llx.bin", dir, (unsigned long long)key_hash);

    const char *discarded = NULL; /* why a cache entry there was not used */
    if (have_dir) {
        unsigned char *file = NULL;
        size_t flen = 0, blen = 0;
        if (read_file(path, OCL_CACHE_HEADER_LEN(OCL_CACHE_MAX_KEY) + OCL_CACHE_MAX_BINARY, &file,
                      &flen) == 0) {
            const unsigned char *bin = ocl_cache_parse(file, flen, key, &blen, &discarded);
            cl_program p = bin ? try_cached(dev, bin, blen, options) : NULL;
            if (bin && !p)
                discarded = "the driver refused the binary";
            free(file);
            if (p) {
                *out = p;
                ocl_info(dev, "opencl: '%s': %s loaded from cache %s", dev->name, what, path);
                log_line(dev->err);
                return CLG_OK;
            }
        }
    }

    double t0 = now_ms();
    cl_int st;
    const char *srcs[1] = {source};
    cl_program p = clCreateProgramWithSource(dev->ctx, 1, srcs, &src_len, &st);
    if (st != CL_SUCCESS)
        return ocl_fail_cl(dev, st, "clCreateProgramWithSource for '%s'", dev->name);
    st = clBuildProgram(p, 1, &dev->id, options, NULL, NULL);
    if (st != CL_SUCCESS) {
        clg_status s = build_failed(dev, p, st, options, what);
        clReleaseProgram(p);
        return s;
    }
    *out = p;
    double ms = now_ms() - t0;

    const char *why = have_dir ? NULL : "no cache directory (set CLGRAD_CACHE_DIR or HOME)";
    size_t bin_len = 0;
    if (!why && (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof bin_len, &bin_len, NULL) !=
                     CL_SUCCESS ||
                 bin_len == 0))
        why = "the driver gives no program binary";
    unsigned char *bin = NULL;
    if (!why && !(bin = malloc(bin_len)))
        why = "out of host memory";
    if (!why) {
        unsigned char *bins[1] = {bin};
        if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) != CL_SUCCESS)
            why = "reading the program binary failed";
        else
            why = cache_store(dir, path, key, bin, bin_len);
    }
    free(bin);
    char note[160] = "";
    if (discarded)
        snprintf(note, sizeof note, " (cache entry discarded: %s)", discarded);
    if (why)
        ocl_info(dev, "opencl: '%s': %s built from source in %.0f ms%s; not cached: %s",
                 dev->name, what, ms, note, why);
    else
        ocl_info(dev, "opencl: '%s': %s built from source in %.0f ms%s, cached to %s",
                 dev->name, what, ms, note, path);
    log_line(dev->err);
    return CLG_OK;
}
