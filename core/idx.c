/* IDX, the container of the MNIST family: two zero bytes, an element type
 * code, the number of dims, each dim as a big-endian u32, then the elements
 * big-endian. Files are often gzipped; zlib inflates them. */
#include "data_internal.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_MAX_BYTES ((size_t)2 << 30) /* well above the largest MNIST-style file */

clg_status clg_gunzip(clg_ctx *ctx, const char *name, const void *buf, size_t len,
                      size_t max_out, void **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* 15 + 32: a full window, and gzip or zlib framing detected from the header. */
    if (inflateInit2(&zs, 15 + 32) != Z_OK)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: cannot start zlib", name);
    size_t cap = len * 4 + 4096, used = 0;
    if (cap > max_out)
        cap = max_out;
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
            if (cap >= max_out) {
                st = clg_ctx_set_error(ctx, CLG_ERR_IO,
                                       "%s: gzip data inflates to more than %zu bytes", name,
                                       max_out);
                break;
            }
            size_t nc = cap * 2 > max_out ? max_out : cap * 2;
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

static clg_status parse_raw(clg_ctx *ctx, const char *name, const unsigned char *p, size_t len,
                            clg_idx **out)
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
    size_t hdr = 4 + 4 * (size_t)ndim;
    if (len < hdr)
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: truncated IDX header: %zu bytes, %d dims need %zu", name, len,
                                 ndim, hdr);
    clg_idx *x = calloc(1, sizeof *x);
    if (!x)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
    x->type = type;
    x->ndim = ndim;
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        x->dim[d] = (int64_t)be(p + 4 + 4 * d, 4);
        if (x->dim[d] != 0 && numel > (IDX_MAX_BYTES / es) / (uint64_t)x->dim[d]) {
            free(x);
            return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: IDX dims describe more than %zu bytes",
                                     name, IDX_MAX_BYTES);
        }
        numel *= (uint64_t)x->dim[d];
    }
    size_t want = (size_t)numel * es, have = len - hdr;
    if (have != want) {
        char sh[160];
        clg_shape s = { .ndim = ndim };
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
        void *raw;
        size_t rl;
        clg_status st = clg_gunzip(ctx, name, buf, len, IDX_MAX_BYTES, &raw, &rl);
        if (st != CLG_OK)
            return st;
        st = parse_raw(ctx, name, raw, rl, out);
        free(raw);
        return st;
    }
    return parse_raw(ctx, name, p, len, out);
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
