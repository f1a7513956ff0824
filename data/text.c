/* Byte-level text data sets: a file's bytes as i32 token ids (vocabulary
 * 256), each sample a window of T bytes whose labels are the next byte at
 * every position; the test part is the file's tail, in order. */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>

/* 1 when buf looks like text: no NUL byte, and at least 3/4 of the bytes
 * printable ASCII, whitespace, or part of UTF-8 (>= 0x80). */
static int looks_like_text(const unsigned char *buf, size_t len)
{
    size_t good = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = buf[i];
        if (c == 0)
            return 0;
        good += (c >= 0x20 && c != 0x7f) || c == '\n' || c == '\r' || c == '\t' || c == '\f';
    }
    return good * 4 >= len * 3;
}

/* Samples [first, first + n) of the windows of bytes into a data set. */
static clg_dataset *windows(const unsigned char *bytes, int64_t first, int64_t n, int64_t seq)
{
    clg_dataset *ds = clg__dataset_alloc(n, seq, 256, seq);
    if (!ds)
        return NULL;
    ds->dtype = CLG_I32;
    ds->sample_shape = CLG_SHAPE(seq);
    int32_t *x = (int32_t *)(void *)ds->x; /* x holds the ids' bits (dtype i32) */
    for (int64_t k = 0; k < n; k++)
        for (int64_t t = 0; t < seq; t++) {
            int64_t at = (first + k) * seq + t;
            x[k * seq + t] = bytes[at];
            ds->labels[k * seq + t] = bytes[at + 1];
        }
    return ds;
}

clg_status clg_dataset_text(clg_ctx *ctx, const char *path, int64_t seq, double val_frac,
                            clg_dataset **train, clg_dataset **test)
{
    *train = NULL;
    if (test)
        *test = NULL;
    if (seq < 1 || seq > (1 << 20))
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "text %s: seq=%lld must be in 1..%d", path,
                                 (long long)seq, 1 << 20);
    if (!(val_frac >= 0 && val_frac < 1))
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "text %s: the test fraction %g is not in "
                                 "[0, 1)", path, val_frac);
    char *buf;
    size_t len;
    clg_status st = clg__read_file(ctx, path, &buf, &len);
    if (st != CLG_OK)
        return st;
    const unsigned char *bytes = (const unsigned char *)buf;
    if (len == 0) {
        free(buf);
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "text %s: the file is empty", path);
    }
    if (!looks_like_text(bytes, len)) {
        free(buf);
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "text %s: does not look like text (a NUL byte, or mostly control "
                                 "bytes): byte-level text data wants a text file", path);
    }
    int64_t n = ((int64_t)len - 1) / seq; /* every window needs its next byte */
    int64_t nv = test ? (int64_t)(val_frac * (double)n + 0.5) : 0;
    if (n - nv < 1 || (val_frac > 0 && nv < 1)) {
        free(buf);
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "text %s: %zu bytes make %lld samples of seq=%lld; that leaves "
                                 "%lld for training and %lld for test (need at least 1 each)",
                                 path, len, (long long)n, (long long)seq, (long long)(n - nv),
                                 (long long)nv);
    }
    *train = windows(bytes, 0, n - nv, seq);
    if (*train && nv > 0) {
        *test = windows(bytes, n - nv, nv, seq);
        if (!*test) {
            clg_dataset_free(*train);
            *train = NULL;
        }
    }
    free(buf);
    if (!*train)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "text %s: out of memory", path);
    return CLG_OK;
}
