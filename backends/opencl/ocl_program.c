/* The one program per device: loaded from the disk cache when a binary for
 * exactly this source, build options, device, driver and salt is there,
 * built from the embedded source otherwise, and then cached (written to a
 * temporary file and renamed, so a reader never sees half a file). */
#include "ocl_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CACHE_MAGIC "CLGRADCL1\n"

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

static int read_file(const char *path, unsigned char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 1 << 20;
            unsigned char *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
            cap = nc;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

/* The binary inside a cache file whose recorded key equals `key`, or NULL. */
static const unsigned char *cache_payload(const unsigned char *file, size_t len,
                                          const char *key, size_t *bin_len)
{
    size_t ml = strlen(CACHE_MAGIC), kl = strlen(key);
    uint32_t fkl;
    uint64_t bl;
    if (len < ml + sizeof fkl || memcmp(file, CACHE_MAGIC, ml) != 0)
        return NULL;
    memcpy(&fkl, file + ml, sizeof fkl);
    size_t pos = ml + sizeof fkl;
    if (fkl != kl || len - pos < kl + sizeof bl || memcmp(file + pos, key, kl) != 0)
        return NULL;
    pos += kl;
    memcpy(&bl, file + pos, sizeof bl);
    pos += sizeof bl;
    if (bl == 0 || bl != len - pos)
        return NULL;
    *bin_len = (size_t)bl;
    return file + pos;
}

/* Writes the cache file atomically; returns NULL or why it could not. */
static const char *cache_store(const char *dir, const char *path, const char *key,
                               const unsigned char *bin, size_t bin_len)
{
    if (make_dirs(dir) != 0)
        return "cannot create the cache directory";
    /* Unique per process and per call: two devices (or processes) may
     * store the same key at once; the last rename wins, both are whole. */
    static unsigned counter;
    unsigned n = __atomic_fetch_add(&counter, 1u, __ATOMIC_RELAXED);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), n);
    FILE *f = fopen(tmp, "wb");
    if (!f)
        return "cannot create a file in the cache directory";
    uint32_t kl = (uint32_t)strlen(key);
    uint64_t bl = bin_len;
    int ok = fwrite(CACHE_MAGIC, 1, strlen(CACHE_MAGIC), f) == strlen(CACHE_MAGIC) &&
             fwrite(&kl, sizeof kl, 1, f) == 1 && fwrite(key, 1, kl, f) == kl &&
             fwrite(&bl, sizeof bl, 1, f) == 1 && fwrite(bin, 1, bin_len, f) == bin_len;
    ok = (fflush(f) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return "writing the cache file failed";
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
                               const char *options)
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
                    "opencl: building the kernels for '%s' (options '%s') failed: %s (%d); "
                    "build log:\n%s",
                    dev->name, options, ocl_status_name(st), (int)st, log);
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
    char options[512];
    build_options(dev, options, sizeof options);
    char pver[256] = "";
    clGetPlatformInfo(dev->platform, CL_PLATFORM_VERSION, sizeof pver - 1, pver, NULL);
    const char *salt = getenv("CLGRAD_OPENCL_CACHE_SALT");
    size_t src_len = strlen(ocl_program_source);
    uint64_t src_hash = fnv1a(14695981039346656037ull, ocl_program_source, src_len);

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

    if (have_dir) {
        unsigned char *file = NULL;
        size_t flen = 0, blen = 0;
        if (read_file(path, &file, &flen) == 0) {
            const unsigned char *bin = cache_payload(file, flen, key, &blen);
            cl_program p = bin ? try_cached(dev, bin, blen, options) : NULL;
            free(file);
            if (p) {
                dev->program = p;
                ocl_info(dev, "opencl: '%s': program loaded from cache %s", dev->name, path);
                log_line(dev->err);
                return CLG_OK;
            }
        }
    }

    double t0 = now_ms();
    cl_int st;
    const char *srcs[1] = {ocl_program_source};
    cl_program p = clCreateProgramWithSource(dev->ctx, 1, srcs, &src_len, &st);
    if (st != CL_SUCCESS)
        return ocl_fail_cl(dev, st, "clCreateProgramWithSource for '%s'", dev->name);
    st = clBuildProgram(p, 1, &dev->id, options, NULL, NULL);
    if (st != CL_SUCCESS) {
        clg_status s = build_failed(dev, p, st, options);
        clReleaseProgram(p);
        return s;
    }
    dev->program = p;
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
    if (why)
        ocl_info(dev, "opencl: '%s': program built from source in %.0f ms; not cached: %s",
                 dev->name, ms, why);
    else
        ocl_info(dev, "opencl: '%s': program built from source in %.0f ms, cached to %s",
                 dev->name, ms, path);
    log_line(dev->err);
    return CLG_OK;
}
