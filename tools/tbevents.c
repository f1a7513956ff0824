/* TensorBoard event files: each record is a TFRecord (little-endian u64
 * length, masked CRC-32C of those 8 bytes, the serialized Event, masked
 * CRC-32C of it), which is what TensorBoard's reader checks. The Event is
 * encoded by protobuf-c from tbevent.proto; CRC-32C is ISA-L's crc32_iscsi. */
#include "tbevents.h"
#include "tbevent.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <isa-l/crc.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct cli_tb {
    FILE *f;
    char *path;
    int failed;
    char err[512];
};

uint32_t cli_tb_crc32c(const void *data, size_t n)
{
    /* crc32_iscsi is the bare reflected register: CRC-32C proper starts
     * from all ones and inverts the result. Records stay far below INT_MAX
     * (cli_tb_scalar refuses larger ones); feed longer input in pieces. */
    const unsigned char *p = data;
    uint32_t crc = 0xffffffffu;
    while (n > 0) {
        int part = n > (size_t)INT_MAX ? INT_MAX : (int)n;
        crc = crc32_iscsi((unsigned char *)p, part, crc);
        p += part;
        n -= (size_t)part;
    }
    return ~crc;
}

uint32_t cli_tb_masked_crc32c(const void *data, size_t n)
{
    /* TensorFlow's mask: a CRC over data that embeds CRCs is weak, so the
     * stored value is rotated and offset. */
    uint32_t c = cli_tb_crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static void set_err(char *err, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t n, const char *fmt, ...)
{
    if (!err || !n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static int fail_write(cli_tb *w, int e)
{
    if (!w->failed)
        set_err(w->err, sizeof w->err, "%s: write failed: %s", w->path,
                strerror(e ? e : EIO));
    w->failed = 1;
    return -1;
}

/* One Event as one TFRecord. */
static int write_event(cli_tb *w, const Tensorflow__Event *ev)
{
    if (w->failed)
        return -1;
    size_t n = tensorflow__event__get_packed_size(ev);
    unsigned char stack[256], *buf = n <= sizeof stack ? stack : malloc(n);
    if (!buf || n > (size_t)INT_MAX) {
        if (buf != stack)
            free(buf);
        return fail_write(w, buf ? EFBIG : ENOMEM);
    }
    tensorflow__event__pack(ev, buf);
    unsigned char head[12], tail[4];
    put_le(head, n, 8);
    put_le(head + 8, cli_tb_masked_crc32c(head, 8), 4);
    put_le(tail, cli_tb_masked_crc32c(buf, n), 4);
    errno = 0;
    int ok = fwrite(head, 1, sizeof head, w->f) == sizeof head &&
             fwrite(buf, 1, n, w->f) == n && fwrite(tail, 1, sizeof tail, w->f) == sizeof tail;
    int e = errno;
    if (buf != stack)
        free(buf);
    return ok ? 0 : fail_write(w, e);
}

static double wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The host part of the file name, as TensorFlow writes it; characters a
 * file name should not hold become '_'. */
static void host_name(char *h, size_t n)
{
    if (gethostname(h, n) != 0 || !*h)
        snprintf(h, n, "localhost");
    h[n - 1] = '\0';
    for (char *c = h; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '.' || *c == '_'))
            *c = '_';
}

cli_tb *cli_tb_open(const char *dir, char *err, size_t errlen)
{
    if (!dir || !*dir) {
        set_err(err, errlen, "no directory given");
        return NULL;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        set_err(err, errlen, "%s: cannot create it: %s", dir, strerror(errno));
        return NULL;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == ENOTDIR)
            set_err(err, errlen, "%s: exists and is not a directory", dir);
        else
            set_err(err, errlen, "%s: cannot open it: %s", dir, strerror(errno));
        return NULL;
    }
    cli_tb *w = calloc(1, sizeof *w);
    size_t pl = strlen(dir) + 400;
    if (w)
        w->path = malloc(pl);
    if (!w || !w->path) {
        set_err(err, errlen, "%s: out of memory", dir);
        free(w);
        close(dfd);
        return NULL;
    }
    char host[256], name[320];
    host_name(host, sizeof host);
    long long t = (long long)time(NULL);
    /* O_EXCL | O_NOFOLLOW: a new regular file of ours, never an existing
     * file or a link's target. A second writer of this process in the same
     * second and directory gets a numbered name, as TensorFlow's do. */
    int fd = -1, e = 0;
    for (int k = 0; fd < 0 && k < 1000; k++) {
        int u = snprintf(name, sizeof name, "events.out.tfevents.%lld.%.200s.%ld", t, host,
                         (long)getpid());
        if (k > 0)
            snprintf(name + u, sizeof name - (size_t)u, ".%d", k);
        fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        e = errno;
        if (fd < 0 && e != EEXIST)
            break;
    }
    close(dfd);
    snprintf(w->path, pl, "%s/%s", dir, name);
    if (fd < 0 || !(w->f = fdopen(fd, "wb"))) {
        if (fd >= 0) {
            e = errno;
            close(fd);
            unlink(w->path);
        }
        set_err(err, errlen, "%s: cannot create: %s", w->path, strerror(e));
        free(w->path);
        free(w);
        return NULL;
    }
    Tensorflow__Event ev = TENSORFLOW__EVENT__INIT;
    ev.wall_time = wall_time();
    ev.what_case = TENSORFLOW__EVENT__WHAT_FILE_VERSION;
    ev.file_version = "brain.Event:2";
    /* The header reaches the file at once: a reader that finds the file
     * finds a valid one. */
    if (write_event(w, &ev) || cli_tb_flush(w)) {
        set_err(err, errlen, "%s", w->err);
        unlink(w->path);
        cli_tb_close(w, NULL, 0);
        return NULL;
    }
    return w;
}

int cli_tb_scalar(cli_tb *w, const char *tag, int64_t step, double value)
{
    Tensorflow__Summary__Value v = TENSORFLOW__SUMMARY__VALUE__INIT;
    v.tag = (char *)tag;
    v.value_case = TENSORFLOW__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
    v.simple_value = (float)value;
    Tensorflow__Summary__Value *vs[1] = { &v };
    Tensorflow__Summary sum = TENSORFLOW__SUMMARY__INIT;
    sum.n_value = 1;
    sum.value = vs;
    Tensorflow__Event ev = TENSORFLOW__EVENT__INIT;
    ev.wall_time = wall_time();
    ev.step = step;
    ev.what_case = TENSORFLOW__EVENT__WHAT_SUMMARY;
    ev.summary = &sum;
    return write_event(w, &ev);
}

int cli_tb_flush(cli_tb *w)
{
    if (w->failed)
        return -1;
    errno = 0;
    if (fflush(w->f) != 0 || ferror(w->f))
        return fail_write(w, errno);
    return 0;
}

int cli_tb_close(cli_tb *w, char *err, size_t errlen)
{
    if (!w)
        return 0;
    int rc = cli_tb_flush(w);
    errno = 0;
    if (fclose(w->f) != 0 && !rc)
        rc = fail_write(w, errno);
    if (rc)
        set_err(err, errlen, "%s", w->err);
    free(w->path);
    free(w);
    return rc;
}

const char *cli_tb_error(const cli_tb *w)
{
    return w->err;
}

const char *cli_tb_path(const cli_tb *w)
{
    return w->path;
}
