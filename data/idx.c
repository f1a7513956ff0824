/* IDX, the container of the MNIST family: two zero bytes, an element type
 * code, the number of dims, each dim as a big-endian u32, then the elements
 * big-endian. Files are often gzipped; zlib inflates them. */
#include "data_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAX_BYTES ((size_t)2 << 30) /* well above the largest MNIST-style file */

/* Inflates a gzip (or zlib) stream. At most max_out bytes come out: with
 * `prefix`, the first max_out bytes are the result (the rest is never
 * inflated); without it, a stream holding more is refused, the message
 * ending with `limit_note` (what set the limit). */
static clg_status inflate_bounded(clg_ctx *ctx, const char *name, const void *buf, size_t len,
                                  size_t max_out, int prefix, const char *limit_note, void **out,
                                  size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* 15 + 32: a full window, and gzip or zlib framing detected from the header. */
    if (inflateInit2(&zs, 15 + 32) != Z_OK)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: cannot start zlib", name);
    /* One byte beyond the limit (when not a prefix) tells "exactly max_out"
     * from "more": zlib may fill the buffer before it reads the end code. */
    size_t limit = prefix || max_out == SIZE_MAX ? max_out : max_out + 1;
    size_t cap = len > (SIZE_MAX - 4096) / 4 ? limit : len * 4 + 4096, used = 0;
    if (cap > limit)
        cap = limit;
    unsigned char *o = malloc(cap ? cap : 1);
    if (!o) {
        inflateEnd(&zs);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
    }
    const unsigned char *in = buf;
    size_t in_left = len;
    clg_status st = CLG_OK;
    int ended = 0;
    for (;;) {
        if (used == cap) {
            if (prefix && used == max_out) {
                ended = 1;
                break;
            }
            if (cap >= limit) {
                st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: gzip data inflates to more than %zu bytes%s",
                                       name, max_out, limit_note ? limit_note : "");
                break;
            }
            size_t nc = cap > limit / 2 ? limit : cap * 2;
            unsigned char *no = realloc(o, nc);
            if (!no) {
                st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory inflating", name);
                break;
            }
            o = no;
            cap = nc;
        }
        /* avail_in is a uInt: feed huge inputs in slices. */
        uInt chunk = in_left > 1u << 30 ? 1u << 30 : (uInt)in_left;
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = chunk;
        size_t room = cap - used;
        zs.next_out = o + used;
        zs.avail_out = room > 1u << 30 ? 1u << 30 : (uInt)room;
        uInt out_before = zs.avail_out;
        int r = inflate(&zs, Z_NO_FLUSH);
        size_t consumed = chunk - zs.avail_in;
        in += consumed;
        in_left -= consumed;
        used += out_before - zs.avail_out;
        if (r == Z_STREAM_END) {
            /* gzip allows several members back to back. */
            if (in_left == 0) {
                ended = 1;
                break;
            }
            if (inflateReset(&zs) != Z_OK) {
                st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: corrupt gzip data", name);
                break;
            }
            continue;
        }
        if (r == Z_DATA_ERROR || r == Z_NEED_DICT || r == Z_STREAM_ERROR) {
            st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: corrupt gzip data: %s", name,
                                   zs.msg ? zs.msg : "invalid stream");
            break;
        }
        if (r == Z_MEM_ERROR) {
            st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory inflating", name);
            break;
        }
        if (r == Z_BUF_ERROR && in_left == 0 && zs.avail_out > 0) {
            st = clg_ctx_set_error(ctx, CLG_ERR_IO,
                                   "%s: truncated gzip data (stream ends after %zu bytes, "
                                   "%zu inflated)", name, len, used);
            break;
        }
        if (in_left == 0 && consumed == 0 && out_before == zs.avail_out) {
            st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: truncated gzip data", name);
            break;
        }
    }
    inflateEnd(&zs);
    if (st == CLG_OK && ended && used > max_out) /* the spare byte was used */
        st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: gzip data inflates to more than %zu bytes%s",
                               name, max_out, limit_note ? limit_note : "");
    if (st != CLG_OK || !ended) {
        free(o);
        if (st == CLG_OK)
            st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: truncated gzip data", name);
        return st;
    }
    *out = o;
    *out_len = used;
    return CLG_OK;
}

clg_status clg_gunzip(clg_ctx *ctx, const char *name, const void *buf, size_t len,
                      size_t max_out, void **out, size_t *out_len)
{
    return inflate_bounded(ctx, name, buf, len, max_out, 0, NULL, out, out_len);
}

static size_t type_size(int type)
{
    switch (type) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    }
    return 0;
}

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Checks the magic, type and dims at p (len bytes, at least the header);
 * fills x's type, ndim and dims, and *hdr and *want with the header's size
 * and the data size the dims imply. */
static clg_status parse_header(clg_ctx *ctx, const char *name, const unsigned char *p, size_t len,
                               clg_idx *x, size_t *hdr, size_t *want)
{
    if (len < 4)
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: truncated IDX file: %zu bytes, the magic number needs 4",
                                 name, len);
    if (p[0] != 0 || p[1] != 0)
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: not an IDX file: magic starts with 0x%02x 0x%02x, expected 0x00 0x00",
                                 name, p[0], p[1]);
    int type = p[2], ndim = p[3];
    size_t es = type_size(type);
    if (!es)
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: IDX element type 0x%02x unknown (expected 08, 09, 0B, 0C, 0D or 0E)",
                                 name, type);
    if (ndim < 1 || ndim > CLG_MAX_DIMS)
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: IDX file has %d dims (1 to %d supported)",
                                 name, ndim, CLG_MAX_DIMS);
    *hdr = 4 + 4 * (size_t)ndim;
    if (len < *hdr)
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: truncated IDX header: %zu bytes, %d dims need %zu", name, len,
                                 ndim, *hdr);
    x->type = type;
    x->ndim = ndim;
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        x->dim[d] = (int64_t)be(p + 4 + 4 * d, 4);
        if (x->dim[d] != 0 && numel > (IDX_MAX_BYTES / es) / (uint64_t)x->dim[d])
            return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: IDX dims describe more than %zu bytes",
                                     name, IDX_MAX_BYTES);
        numel *= (uint64_t)x->dim[d];
    }
    x->numel = (int64_t)numel;
    *want = (size_t)numel * es;
    return CLG_OK;
}

static clg_status parse_raw(clg_ctx *ctx, const char *name, const unsigned char *p, size_t len,
                            clg_idx **out)
{
    clg_idx *x = calloc(1, sizeof *x);
    if (!x)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
    size_t hdr, want;
    clg_status st = parse_header(ctx, name, p, len, x, &hdr, &want);
    if (st != CLG_OK) {
        free(x);
        return st;
    }
    int type = x->type;
    size_t es = type_size(type), have = len - hdr;
    uint64_t numel = (uint64_t)x->numel;
    if (have != want) {
        char sh[160];
        clg_shape s = { .ndim = x->ndim };
        memcpy(s.dim, x->dim, sizeof s.dim);
        clg_shape_str(&s, sh, sizeof sh);
        free(x);
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: %s IDX data: header says %s x %zu bytes = %zu bytes, file has %zu",
                                 name, have < want ? "truncated" : "trailing bytes after the", sh, es,
                                 want, have);
    }
    x->numel = (int64_t)numel;
    x->data = malloc(numel ? numel * sizeof(float) : 1);
    if (!x->data) {
        free(x);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
    }
    const unsigned char *d = p + hdr;
    for (uint64_t i = 0; i < numel; i++) {
        const unsigned char *e = d + i * es;
        float v;
        switch (type) {
        case 0x08: v = (float)e[0]; break;
        case 0x09: v = (float)(int8_t)e[0]; break;
        case 0x0B: v = (float)(int16_t)(uint16_t)be(e, 2); break;
        case 0x0C: v = (float)(int32_t)(uint32_t)be(e, 4); break;
        case 0x0D: {
            uint32_t u = (uint32_t)be(e, 4);
            memcpy(&v, &u, 4);
            break;
        }
        default: {
            uint64_t u = be(e, 8);
            double dv;
            memcpy(&dv, &u, 8);
            v = (float)dv;
            if (isfinite(dv) && isinf(v)) { /* it would become inf */
                clg_idx_free(x);
                return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                         "%s: f64 element %llu (%g) is beyond float32 (+-3.4e38)",
                                         name, (unsigned long long)i, dv);
            }
            break;
        }
        }
        x->data[i] = v;
    }
    *out = x;
    return CLG_OK;
}

clg_status clg_idx_parse(clg_ctx *ctx, const char *name, const void *buf, size_t len,
                         clg_idx **out)
{
    *out = NULL;
    const unsigned char *p = buf;
    if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
        /* The header first: its dims bound what the rest may inflate to, so
         * a small bomb is refused after inflating its header's worth, not
         * gigabytes. */
        void *raw;
        size_t rl, hdr, want;
        clg_status st = inflate_bounded(ctx, name, buf, len, 4 + 4 * CLG_MAX_DIMS, 1, NULL, &raw,
                                        &rl);
        if (st != CLG_OK)
            return st;
        clg_idx h = { 0 };
        st = parse_header(ctx, name, raw, rl, &h, &hdr, &want);
        free(raw);
        if (st != CLG_OK)
            return st;
        char note[256], sh[160];
        clg_shape s = { .ndim = h.ndim };
        memcpy(s.dim, h.dim, sizeof s.dim);
        snprintf(note, sizeof note, ", the %zu its IDX header implies (%s x %zu bytes + %zu)",
                 hdr + want, clg_shape_str(&s, sh, sizeof sh), type_size(h.type), hdr);
        st = inflate_bounded(ctx, name, buf, len, hdr + want, 0, note, &raw, &rl);
        if (st != CLG_OK)
            return st;
        st = parse_raw(ctx, name, raw, rl, out);
        free(raw);
        return st;
    }
    return parse_raw(ctx, name, p, len, out);
}

clg_status clg__idx_peek(clg_ctx *ctx, const char *path, clg_idx *x)
{
    memset(x, 0, sizeof *x);
    struct stat sb;
    int fd = clg__open_input(ctx, path, &sb); /* never blocks on a FIFO */
    if (fd < 0)
        return CLG_ERR_IO;
    /* A gzip header plus the first deflate block's worth is plenty. */
    unsigned char buf[1 << 16];
    size_t len = 0;
    while (len < sizeof buf) {
        ssize_t r = read(fd, buf + len, sizeof buf - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    size_t hdr, want;
    if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
        void *raw;
        size_t rl;
        clg_status st = inflate_bounded(ctx, path, buf, len, 4 + 4 * CLG_MAX_DIMS, 1, NULL, &raw,
                                        &rl);
        if (st != CLG_OK)
            return st;
        st = parse_header(ctx, path, raw, rl, x, &hdr, &want);
        free(raw);
        return st;
    }
    return parse_header(ctx, path, buf, len, x, &hdr, &want);
}

clg_status clg_idx_load(clg_ctx *ctx, const char *path, clg_idx **out)
{
    *out = NULL;
    char *buf;
    size_t len;
    clg_status st = clg__read_file(ctx, path, &buf, &len);
    if (st != CLG_OK)
        return st;
    st = clg_idx_parse(ctx, path, buf, len, out);
    free(buf);
    return st;
}

void clg_idx_free(clg_idx *idx)
{
    if (!idx)
        return;
    free(idx->data);
    free(idx);
}
