/* safetensors, the format PyTorch users move weights in: an 8-byte
 * little-endian header length, a JSON header (parsed with json-c) mapping
 * each tensor name to {dtype, shape, data_offsets}, then the raw data. Also
 * the named-tensor set that holds a file's contents in memory, and the
 * store <-> file copies with strict name and shape matching.
 * Byte order: the data is little-endian, as on every host clgrad targets. */
#include "data_internal.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER (100u << 20) /* the reference implementation's limit */

/* ------------------------------------------------------------ tensor sets */

clg_tensor_set *clg_tensor_set_new(void)
{
    return calloc(1, sizeof(clg_tensor_set));
}

void clg_tensor_set_free(clg_tensor_set *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++) {
        free(s->t[i].name);
        free(s->t[i].data);
    }
    for (int i = 0; i < s->n_meta; i++) {
        free(s->meta_key[i]);
        free(s->meta_val[i]);
    }
    free(s->t);
    free(s->meta_key);
    free(s->meta_val);
    free(s);
}

int clg_tensor_set_find(const clg_tensor_set *s, const char *name)
{
    for (int i = 0; s && name && i < s->n; i++)
        if (strcmp(s->t[i].name, name) == 0)
            return i;
    return -1;
}

/* Element count of a shape, or -1 if a dim is negative or the product
 * overflows what a size_t of bytes can address. */
static int64_t checked_numel(const clg_shape *sh)
{
    int64_t n = 1;
    for (int d = 0; d < sh->ndim; d++) {
        int64_t v = sh->dim[d];
        if (v < 0)
            return -1;
        if (v != 0 && n > (INT64_MAX / 8) / v)
            return -1;
        n *= v;
    }
    return n;
}

static clg_status set_add_owned(clg_ctx *ctx, clg_tensor_set *s, const char *name,
                                clg_dtype dt, const clg_shape *shape, void *data, size_t bytes)
{
    if (clg_tensor_set_find(s, name) >= 0) {
        free(data);
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "tensor '%s' appears twice", name);
    }
    if (s->n == s->cap) {
        int nc = s->cap ? 2 * s->cap : 16;
        clg_named_tensor *t = realloc(s->t, (size_t)nc * sizeof *t);
        if (!t) {
            free(data);
            return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "tensor '%s': out of memory", name);
        }
        s->t = t;
        s->cap = nc;
    }
    char *nm = strdup(name);
    if (!nm) {
        free(data);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "tensor '%s': out of memory", name);
    }
    s->t[s->n++] = (clg_named_tensor){ .name = nm, .dtype = dt, .shape = *shape,
                                       .bytes = bytes, .data = data };
    return CLG_OK;
}

clg_status clg_tensor_set_add(clg_ctx *ctx, clg_tensor_set *s, const char *name,
                              clg_dtype dt, const clg_shape *shape, const void *data)
{
    if (!s || !name || !shape)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "clg_tensor_set_add: NULL argument");
    if (dt != CLG_F32 && dt != CLG_I32)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "tensor '%s': bad dtype %d", name, (int)dt);
    if (shape->ndim < 0 || shape->ndim > CLG_MAX_DIMS)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "tensor '%s': %d dims (at most %d)", name,
                                 shape->ndim, CLG_MAX_DIMS);
    int64_t numel = checked_numel(shape);
    if (numel < 0)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "tensor '%s': invalid shape", name);
    size_t bytes = (size_t)numel * 4;
    void *copy = malloc(bytes ? bytes : 1);
    if (!copy)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "tensor '%s': out of memory", name);
    if (data)
        memcpy(copy, data, bytes);
    else
        memset(copy, 0, bytes);
    return set_add_owned(ctx, s, name, dt, shape, copy, bytes);
}

clg_status clg_tensor_set_meta(clg_ctx *ctx, clg_tensor_set *s, const char *key,
                               const char *value)
{
    if (!s || !key || !value)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "clg_tensor_set_meta: NULL argument");
    char *v = strdup(value);
    if (!v)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "metadata '%s': out of memory", key);
    for (int i = 0; i < s->n_meta; i++)
        if (strcmp(s->meta_key[i], key) == 0) {
            free(s->meta_val[i]);
            s->meta_val[i] = v;
            return CLG_OK;
        }
    if (s->n_meta == s->cap_meta) {
        int nc = s->cap_meta ? 2 * s->cap_meta : 8;
        char **k = realloc(s->meta_key, (size_t)nc * sizeof *k);
        if (k)
            s->meta_key = k;
        char **vv = k ? realloc(s->meta_val, (size_t)nc * sizeof *vv) : NULL;
        if (!vv) {
            free(v);
            return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "metadata '%s': out of memory", key);
        }
        s->meta_val = vv;
        s->cap_meta = nc;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "metadata '%s': out of memory", key);
    }
    s->meta_key[s->n_meta] = k;
    s->meta_val[s->n_meta] = v;
    s->n_meta++;
    return CLG_OK;
}

const char *clg_tensor_set_get_meta(const clg_tensor_set *s, const char *key)
{
    for (int i = 0; s && key && i < s->n_meta; i++)
        if (strcmp(s->meta_key[i], key) == 0)
            return s->meta_val[i];
    return NULL;
}

clg_status clg_tensor_set_check_finite(clg_ctx *ctx, const clg_tensor_set *s, const char *what)
{
    for (int i = 0; s && i < s->n; i++) {
        const clg_named_tensor *t = &s->t[i];
        if (t->dtype != CLG_F32)
            continue;
        const float *v = t->data;
        size_t n = t->bytes / sizeof(float);
        for (size_t k = 0; k < n; k++)
            if (!isfinite(v[k])) {
                char sh[160];
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                         "%s: tensor '%s' %s holds %s at index %zu (weights must "
                                         "be finite)",
                                         what ? what : "tensor set", t->name,
                                         clg_shape_str(&t->shape, sh, sizeof sh),
                                         isnan(v[k]) ? "nan" : v[k] > 0 ? "inf" : "-inf", k);
            }
    }
    return CLG_OK;
}

/* ---------------------------------------------------------------- reading */

typedef struct dtype_info {
    const char *name;
    size_t size;
    int supported; /* 1: read (maybe converted); 0: known but refused */
} dtype_info;

static const dtype_info dtypes[] = {
    { "F32", 4, 1 }, { "I32", 4, 1 }, { "F64", 8, 1 }, { "I64", 8, 1 },
    { "F16", 2, 1 }, { "BF16", 2, 1 }, { "I16", 2, 0 }, { "U16", 2, 0 },
    { "I8", 1, 0 }, { "U8", 1, 0 }, { "BOOL", 1, 0 }, { "U32", 4, 0 }, { "U64", 8, 0 },
    { "F8_E4M3", 1, 0 }, { "F8_E5M2", 1, 0 },
};

static const dtype_info *dtype_lookup(const char *s)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, s) == 0)
            return &dtypes[i];
    return NULL;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Reads a JSON integer >= 0 into *v; anything else is refused. */
static int json_nonneg_int(json_object *o, int64_t *v)
{
    if (!o || !json_object_is_type(o, json_type_int))
        return 0;
    errno = 0;
    int64_t x = json_object_get_int64(o);
    if (x < 0 || x == INT64_MAX)
        return 0;
    *v = x;
    return 1;
}

static clg_status parse_entry(clg_ctx *ctx, const char *name, const char *key,
                              json_object *val, const unsigned char *data, uint64_t data_len,
                              clg_tensor_set *s, int64_t range[2])
{
    if (!json_object_is_type(val, json_type_object))
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: tensor '%s': header entry is not an object",
                                 name, key);
    json_object *jd, *js, *jo;
    if (!json_object_object_get_ex(val, "dtype", &jd) || !json_object_is_type(jd, json_type_string))
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: tensor '%s': missing or non-string \"dtype\"",
                                 name, key);
    if (!json_object_object_get_ex(val, "shape", &js) || !json_object_is_type(js, json_type_array))
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: tensor '%s': missing or non-array \"shape\"",
                                 name, key);
    if (!json_object_object_get_ex(val, "data_offsets", &jo) ||
        !json_object_is_type(jo, json_type_array) || json_object_array_length(jo) != 2)
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: tensor '%s': \"data_offsets\" must be an array of two integers",
                                 name, key);
    const char *dts = json_object_get_string(jd);
    const dtype_info *di = dtype_lookup(dts);
    if (!di)
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: tensor '%s': unknown dtype \"%s\" (clgrad reads F32, I32, F16, BF16, F64, I64)",
                                 name, key, dts);
    if (!di->supported)
        return clg_ctx_set_error(ctx, CLG_ERR_UNSUPPORTED,
                                 "%s: tensor '%s': dtype %s is not supported (clgrad reads F32, I32, F16, BF16, F64, I64)",
                                 name, key, dts);
    clg_shape shape = { 0 };
    size_t nd = json_object_array_length(js);
    if (nd > CLG_MAX_DIMS)
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: tensor '%s': %zu dims (at most %d)", name, key,
                                 nd, CLG_MAX_DIMS);
    shape.ndim = (int)nd;
    for (size_t d = 0; d < nd; d++)
        if (!json_nonneg_int(json_object_array_get_idx(js, d), &shape.dim[d]))
            return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                     "%s: tensor '%s': shape[%zu] is not a non-negative integer",
                                     name, key, d);
    int64_t numel = checked_numel(&shape);
    if (numel < 0)
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: tensor '%s': shape too large", name, key);
    int64_t b, e;
    if (!json_nonneg_int(json_object_array_get_idx(jo, 0), &b) ||
        !json_nonneg_int(json_object_array_get_idx(jo, 1), &e))
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: tensor '%s': \"data_offsets\" must be non-negative integers",
                                 name, key);
    if (b > e || (uint64_t)e > data_len)
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: tensor '%s': data_offsets [%lld, %lld] outside the data section "
                                 "(%llu bytes)",
                                 name, key, (long long)b, (long long)e, (unsigned long long)data_len);
    range[0] = b;
    range[1] = e;
    uint64_t want = (uint64_t)numel * di->size;
    if ((uint64_t)(e - b) != want)
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: tensor '%s': data_offsets span %lld bytes, but %s of %s needs %llu",
                                 name, key, (long long)(e - b),
                                 clg_shape_str(&shape, (char[160]){ 0 }, 160), dts,
                                 (unsigned long long)want);
    const unsigned char *src = data + b;
    size_t out_bytes = (size_t)numel * 4;
    void *buf = malloc(out_bytes ? out_bytes : 1);
    if (!buf)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: tensor '%s': out of memory", name, key);
    clg_dtype dt = CLG_F32;
    if (strcmp(dts, "F32") == 0 || strcmp(dts, "I32") == 0) {
        dt = dts[0] == 'F' ? CLG_F32 : CLG_I32;
        memcpy(buf, src, out_bytes);
    } else if (strcmp(dts, "F64") == 0) {
        for (int64_t i = 0; i < numel; i++) {
            double v;
            memcpy(&v, src + 8 * i, 8);
            float f = (float)v;
            /* A finite double beyond float32 would silently become inf. */
            if (isfinite(v) && isinf(f)) {
                free(buf);
                return clg_ctx_set_error(ctx, CLG_ERR_UNSUPPORTED,
                                         "%s: tensor '%s': F64 value %g at index %lld does not fit "
                                         "F32 (beyond +-3.4e38)",
                                         name, key, v, (long long)i);
            }
            ((float *)buf)[i] = f;
        }
    } else if (strcmp(dts, "F16") == 0 || strcmp(dts, "BF16") == 0) {
        /* Every half and bfloat16 value is exact in f32. */
        int bf = dts[0] == 'B';
        for (int64_t i = 0; i < numel; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            ((float *)buf)[i] = bf ? clg__bf16_to_f32(h) : clg__f16_to_f32(h);
        }
    } else { /* I64 */
        dt = CLG_I32;
        for (int64_t i = 0; i < numel; i++) {
            int64_t v;
            memcpy(&v, src + 8 * i, 8);
            if (v < INT32_MIN || v > INT32_MAX) {
                free(buf);
                return clg_ctx_set_error(ctx, CLG_ERR_UNSUPPORTED,
                                         "%s: tensor '%s': I64 value %lld at index %lld does not fit I32",
                                         name, key, (long long)v, (long long)i);
            }
            ((int32_t *)buf)[i] = (int32_t)v;
        }
    }
    clg_status st = set_add_owned(ctx, s, key, dt, &shape, buf, out_bytes);
    if (st != CLG_OK)
        return clg_ctx_set_error(ctx, st, "%s: %s", name, clg_ctx_error(ctx));
    return CLG_OK;
}

/* ---------------------------------------------- repeated keys in the JSON */

/* json-c keeps the last of two equal keys in an object and says nothing, so
 * a file naming a tensor twice would load whichever came last. The header
 * is walked here (after json-c has accepted it as strict JSON, so the walk
 * only needs to find strings and brackets) and every object's keys are
 * compared, escapes resolved as json-c resolves them. */
typedef struct jkey {
    const char *s; /* decoded bytes (may hold NULs) */
    size_t n;
    char *owned;   /* s when decoding needed a copy */
    size_t pos;    /* byte offset in the header */
} jkey;

typedef struct jframe {
    int is_obj, expect_key;
    jkey *keys;
    int n, cap;
    int parent_key;   /* index of the key in the enclosing object, or -1 */
} jframe;

static int cmp_jkey(const void *a, const void *b)
{
    const jkey *x = a, *y = b;
    size_t m = x->n < y->n ? x->n : y->n;
    int r = memcmp(x->s, y->s, m);
    if (r)
        return r;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static void frame_free(jframe *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->keys[i].owned);
    free(f->keys);
}

/* Decodes the string token h[b, e) (quotes included) as json-c does. */
static int decode_key(const char *h, size_t b, size_t e, jkey *k)
{
    k->owned = NULL;
    k->pos = b;
    if (!memchr(h + b, '\\', e - b)) {
        k->s = h + b + 1;
        k->n = e - b - 2;
        return 1;
    }
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return 0;
    json_object *o = json_tokener_parse_ex(tok, h + b, (int)(e - b));
    json_tokener_free(tok);
    if (!o || !json_object_is_type(o, json_type_string)) {
        json_object_put(o);
        return 0;
    }
    size_t n = (size_t)json_object_get_string_len(o);
    k->owned = malloc(n + 1);
    if (k->owned)
        memcpy(k->owned, json_object_get_string(o), n + 1);
    json_object_put(o);
    k->s = k->owned;
    k->n = n;
    return k->owned != NULL;
}

/* CLG_OK, or an error naming the first repeated key (by position) and the
 * object it is in. */
static clg_status check_repeated_keys(clg_ctx *ctx, const char *name, const char *h, size_t len)
{
    enum { MAX_DEPTH = JSON_TOKENER_DEFAULT_DEPTH + 2 };
    jframe st[MAX_DEPTH];
    int depth = 0;
    clg_status rc = CLG_OK;
    for (size_t i = 0; i < len && rc == CLG_OK; i++) {
        char c = h[i];
        if (c == '{' || c == '[') {
            if (depth == MAX_DEPTH) {
                rc = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: bad JSON header: nested too deep",
                                       name);
                break;
            }
            jframe *up = depth ? &st[depth - 1] : NULL;
            st[depth++] = (jframe){ .is_obj = c == '{', .expect_key = c == '{',
                                    .parent_key = up && up->is_obj ? up->n - 1 : -1 };
        } else if (c == '}' || c == ']') {
            if (!depth)
                break;
            jframe *f = &st[depth - 1];
            if (f->is_obj && f->n > 1) {
                jkey *sorted = malloc((size_t)f->n * sizeof *sorted);
                if (!sorted) {
                    rc = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
                    break;
                }
                memcpy(sorted, f->keys, (size_t)f->n * sizeof *sorted);
                qsort(sorted, (size_t)f->n, sizeof *sorted, cmp_jkey);
                const jkey *dup = NULL;
                for (int k = 1; k < f->n; k++)
                    if (sorted[k].n == sorted[k - 1].n &&
                        memcmp(sorted[k].s, sorted[k - 1].s, sorted[k].n) == 0 &&
                        (!dup || sorted[k].pos < dup->pos))
                        dup = &sorted[k];
                if (dup) {
                    int kl = dup->n > 200 ? 200 : (int)dup->n;
                    const jframe *up = depth > 1 ? &st[depth - 2] : NULL;
                    if (depth == 1 && dup->n == 12 && !memcmp(dup->s, "__metadata__", 12))
                        rc = clg_ctx_set_error(ctx, CLG_ERR_IO,
                                               "%s: bad header: \"__metadata__\" appears twice", name);
                    else if (depth == 1)
                        rc = clg_ctx_set_error(ctx, CLG_ERR_IO,
                                               "%s: bad header: tensor '%.*s' appears twice (at "
                                               "bytes %zu and later %zu of the header)",
                                               name, kl, dup->s, dup[-1].pos, dup->pos);
                    else if (up && up->is_obj && f->parent_key >= 0) {
                        const jkey *pk = &up->keys[f->parent_key];
                        int pl = pk->n > 200 ? 200 : (int)pk->n;
                        if (depth == 2 && pk->n == 12 && !memcmp(pk->s, "__metadata__", 12))
                            rc = clg_ctx_set_error(ctx, CLG_ERR_IO,
                                                   "%s: bad header: metadata key '%.*s' appears twice",
                                                   name, kl, dup->s);
                        else
                            rc = clg_ctx_set_error(ctx, CLG_ERR_IO,
                                                   "%s: bad header: '%.*s': key '%.*s' appears twice",
                                                   name, pl, pk->s, kl, dup->s);
                    } else {
                        rc = clg_ctx_set_error(ctx, CLG_ERR_IO,
                                               "%s: bad header: key '%.*s' appears twice", name,
                                               kl, dup->s);
                    }
                }
                free(sorted);
            }
            frame_free(f);
            depth--;
        } else if (c == ',') {
            if (depth && st[depth - 1].is_obj)
                st[depth - 1].expect_key = 1;
        } else if (c == '"') {
            size_t b = i++;
            while (i < len && h[i] != '"')
                i += h[i] == '\\' ? 2 : 1;
            if (i >= len)
                break; /* cannot happen after json-c accepted the text */
            jframe *f = depth ? &st[depth - 1] : NULL;
            if (f && f->is_obj && f->expect_key) {
                f->expect_key = 0;
                if (f->n == f->cap) {
                    int nc = f->cap ? 2 * f->cap : 16;
                    jkey *nk = realloc(f->keys, (size_t)nc * sizeof *nk);
                    if (!nk) {
                        rc = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
                        break;
                    }
                    f->keys = nk;
                    f->cap = nc;
                }
                if (!decode_key(h, b, i + 1, &f->keys[f->n])) {
                    rc = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
                    break;
                }
                f->n++;
            }
        }
    }
    while (depth > 0)
        frame_free(&st[--depth]);
    return rc;
}

/* -------------------------------------------------------- data ranges */

typedef struct range { int64_t b, e; int t; } range;

static int cmp_range(const void *a, const void *b)
{
    const range *x = a, *y = b;
    if (x->b != y->b)
        return x->b < y->b ? -1 : 1;
    if (x->e != y->e)
        return x->e < y->e ? -1 : 1;
    return (x->t > y->t) - (x->t < y->t);
}

/* As the reference implementation: the tensors' byte ranges, in offset
 * order, tile the data section exactly: no overlap (two tensors sharing
 * bytes), no gap, no trailing bytes. */
static clg_status check_ranges(clg_ctx *ctx, const char *name, const clg_tensor_set *s,
                               range *r, uint64_t data_len)
{
    qsort(r, (size_t)s->n, sizeof *r, cmp_range);
    int64_t at = 0;
    for (int i = 0; i < s->n; i++) {
        const char *t = s->t[r[i].t].name;
        if (r[i].b < at)
            return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                     "%s: tensor '%s': data_offsets [%lld, %lld] overlap tensor '%s' "
                                     "[%lld, %lld]",
                                     name, t, (long long)r[i].b, (long long)r[i].e,
                                     s->t[r[i - 1].t].name, (long long)r[i - 1].b,
                                     (long long)r[i - 1].e);
        if (r[i].b > at)
            return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                     "%s: tensor '%s': data_offsets [%lld, %lld] leave a gap of %lld "
                                     "bytes before them (the data section must be packed)",
                                     name, t, (long long)r[i].b, (long long)r[i].e,
                                     (long long)(r[i].b - at));
        at = r[i].e;
    }
    if ((uint64_t)at != data_len)
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: %llu trailing bytes after the last tensor's data (the header "
                                 "covers %lld of the %llu data bytes)",
                                 name, (unsigned long long)(data_len - (uint64_t)at), (long long)at,
                                 (unsigned long long)data_len);
    return CLG_OK;
}

clg_status clg_safetensors_parse(clg_ctx *ctx, const char *name, const void *buf, size_t len,
                                 clg_tensor_set **out)
{
    *out = NULL;
    const unsigned char *p = buf;
    if (len < 8)
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: bad safetensors header length: file has %zu bytes, "
                                 "fewer than the 8 of the length field", name, len);
    uint64_t hlen = le64(p);
    if (hlen > len - 8 || hlen > MAX_HEADER)
        return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                 "%s: bad safetensors header length %llu: the file has %zu bytes after "
                                 "the length field", name, (unsigned long long)hlen, len - 8);
    if (hlen < 2)
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: bad safetensors header length %llu",
                                 name, (unsigned long long)hlen);
    const char *h = (const char *)p + 8;
    if (memchr(h, '\0', hlen))
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: bad JSON header: contains a NUL byte", name);
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
    /* Strict JSON in UTF-8, as the reference implementation (serde_json)
     * reads it: no comments, single quotes or trailing commas. The padding
     * after the object is checked below. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
                                    JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, h, (int)hlen);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success) {
        json_object_put(root);
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: bad JSON header: %s (at byte %zu of %llu)",
                                 name,
                                 jerr == json_tokener_continue ? "unexpected end of header"
                                                               : json_tokener_error_desc(jerr),
                                 end, (unsigned long long)hlen);
    }
    for (size_t i = end; i < hlen; i++)
        if (h[i] != ' ' && h[i] != '\t' && h[i] != '\n' && h[i] != '\r') {
            json_object_put(root);
            return clg_ctx_set_error(ctx, CLG_ERR_IO,
                                     "%s: bad JSON header: unexpected data after the object at byte %zu",
                                     name, i);
        }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: bad JSON header: not an object", name);
    }
    clg_status st = check_repeated_keys(ctx, name, h, end);
    if (st != CLG_OK) {
        json_object_put(root);
        return st;
    }
    clg_tensor_set *s = clg_tensor_set_new();
    size_t n_entries = (size_t)json_object_object_length(root);
    range *ranges = malloc((n_entries ? n_entries : 1) * sizeof *ranges);
    if (!s || !ranges) {
        json_object_put(root);
        clg_tensor_set_free(s);
        free(ranges);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
    }
    const unsigned char *data = p + 8 + hlen;
    uint64_t data_len = len - 8 - hlen;
    json_object_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_object_is_type(val, json_type_object)) {
                st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: \"__metadata__\" is not an object", name);
                break;
            }
            json_object_object_foreach(val, mk, mv) {
                if (!json_object_is_type(mv, json_type_string)) {
                    st = clg_ctx_set_error(ctx, CLG_ERR_IO,
                                           "%s: metadata '%s' is not a string", name, mk);
                    break;
                }
                st = clg_tensor_set_meta(ctx, s, mk, json_object_get_string(mv));
                if (st != CLG_OK)
                    break;
            }
            if (st != CLG_OK)
                break;
            continue;
        }
        int64_t rg[2] = { 0, 0 };
        st = parse_entry(ctx, name, key, val, data, data_len, s, rg);
        if (st != CLG_OK)
            break;
        ranges[s->n - 1] = (range){ rg[0], rg[1], s->n - 1 };
    }
    json_object_put(root);
    if (st == CLG_OK)
        st = check_ranges(ctx, name, s, ranges, data_len);
    free(ranges);
    if (st != CLG_OK) {
        clg_tensor_set_free(s);
        return st;
    }
    *out = s;
    return CLG_OK;
}

clg_status clg_safetensors_read(clg_ctx *ctx, const char *path, clg_tensor_set **out)
{
    *out = NULL;
    char *buf;
    size_t len;
    clg_status st = clg__read_file(ctx, path, &buf, &len);
    if (st != CLG_OK)
        return st;
    st = clg_safetensors_parse(ctx, path, buf, len, out);
    free(buf);
    return st;
}

/* ---------------------------------------------------------------- writing */

/* Names PyTorch stores as int64 (BatchNorm's counter). */
static int is_int64_name(const char *name)
{
    static const char tail[] = "num_batches_tracked";
    size_t n = strlen(name), t = sizeof tail - 1;
    return n >= t && !strcmp(name + n - t, tail) && (n == t || name[n - t - 1] == '.');
}

static void free_wide(void **wide, int n)
{
    for (int i = 0; i < n; i++)
        free(wide[i]);
    free(wide);
}

clg_status clg_safetensors_write(clg_ctx *ctx, const char *path, const clg_tensor_set *s)
{
    if (!path || !s)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "clg_safetensors_write: NULL argument");
    json_object *root = json_object_new_object();
    if (!root)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", path);
    int ok = 1;
    if (s->n_meta > 0) {
        json_object *m = json_object_new_object();
        ok = m && json_object_object_add(root, "__metadata__", m) == 0;
        for (int i = 0; ok && i < s->n_meta; i++)
            ok = json_object_object_add(m, s->meta_key[i],
                                        json_object_new_string(s->meta_val[i])) == 0;
    }
    /* PyTorch keeps BatchNorm's num_batches_tracked as int64: an I32 tensor
     * of that name is written widened to I64 (the reader narrows it back),
     * so the file loads into torch with load_state_dict(strict=True). */
    void **wide = calloc((size_t)(s->n ? s->n : 1), sizeof *wide);
    if (!wide) {
        json_object_put(root);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0; ok && i < s->n; i++) {
        const clg_named_tensor *t = &s->t[i];
        if (t->dtype == CLG_I32 && is_int64_name(t->name)) {
            size_t n = t->bytes / 4;
            int64_t *w = malloc(n ? n * 8 : 1);
            ok = w != NULL;
            for (size_t k = 0; ok && k < n; k++) {
                int32_t v;
                memcpy(&v, (const char *)t->data + 4 * k, 4);
                w[k] = v; /* little-endian hosts, as the rest of this file */
            }
            wide[i] = w;
        }
    }
    uint64_t off = 0;
    for (int i = 0; ok && i < s->n; i++) {
        const clg_named_tensor *t = &s->t[i];
        size_t bytes = wide[i] ? t->bytes * 2 : t->bytes;
        json_object *e = json_object_new_object();
        json_object *shape = json_object_new_array();
        json_object *offs = json_object_new_array();
        ok = e && shape && offs;
        for (int d = 0; ok && d < t->shape.ndim; d++)
            ok = json_object_array_add(shape, json_object_new_int64(t->shape.dim[d])) == 0;
        ok = ok && json_object_array_add(offs, json_object_new_int64((int64_t)off)) == 0;
        ok = ok && json_object_array_add(offs, json_object_new_int64((int64_t)(off + bytes))) == 0;
        ok = ok && json_object_object_add(e, "dtype",
                                          json_object_new_string(wide[i] ? "I64"
                                                                 : t->dtype == CLG_I32  ? "I32"
                                                                 : t->dtype == CLG_F16  ? "F16"
                                                                 : t->dtype == CLG_BF16 ? "BF16"
                                                                                        : "F32")) == 0;
        ok = ok && json_object_object_add(e, "shape", shape) == 0;
        shape = NULL;
        ok = ok && json_object_object_add(e, "data_offsets", offs) == 0;
        offs = NULL;
        ok = ok && json_object_object_add(root, t->name, e) == 0;
        if (!ok) {
            json_object_put(shape);
            json_object_put(offs);
            json_object_put(e);
        }
        off += bytes;
    }
    if (!ok) {
        json_object_put(root);
        free_wide(wide, s->n);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory building the header", path);
    }
    const char *js = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t jl = strlen(js);
    size_t hl = (jl + 7) & ~(size_t)7; /* data starts 8-byte aligned */
    char *hdr = malloc(8 + hl);
    if (!hdr) {
        json_object_put(root);
        free_wide(wide, s->n);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < 8; i++)
        hdr[i] = (char)((uint64_t)hl >> (8 * i) & 0xff);
    memcpy(hdr + 8, js, jl);
    memset(hdr + 8 + jl, ' ', hl - jl);
    json_object_put(root);

    int np = s->n + 1;
    const void **pieces = malloc((size_t)np * sizeof *pieces);
    size_t *sizes = malloc((size_t)np * sizeof *sizes);
    clg_status st;
    if (!pieces || !sizes) {
        st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", path);
    } else {
        pieces[0] = hdr;
        sizes[0] = 8 + hl;
        for (int i = 0; i < s->n; i++) {
            pieces[i + 1] = wide[i] ? wide[i] : s->t[i].data;
            sizes[i + 1] = wide[i] ? s->t[i].bytes * 2 : s->t[i].bytes;
        }
        st = clg__write_atomic(ctx, path, (const void *const *)pieces, sizes, np);
    }
    free_wide(wide, s->n);
    free(pieces);
    free(sizes);
    free(hdr);
    return st;
}

/* ------------------------------------------------------- store <-> file */

static clg_ctx *store_ctx(clg_store *st)
{
    return clg_device_ctx(clg_store_device(st));
}

/* Appends "a, b, c" (truncated to fit) to buf. */
static void list_names(char *buf, size_t len, const char *const *names, int n)
{
    size_t used = strlen(buf);
    for (int i = 0; i < n && used + 8 < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= len - used) {
            snprintf(buf + len - 5, 5, "...");
            return;
        }
        used += (size_t)w;
    }
}

/* The selected names, or all of the store's when names is NULL. */
static const char **selection(clg_store *st, const char *const *names, int *n)
{
    if (names && *n > 0) {
        const char **v = malloc((size_t)*n * sizeof *v);
        if (v)
            memcpy(v, names, (size_t)*n * sizeof *v);
        return v;
    }
    *n = clg_store_count(st);
    const char **v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
    for (int i = 0; v && i < *n; i++)
        v[i] = clg_store_name(st, i);
    return v;
}

clg_status clg_tensor_set_from_store(clg_tensor_set *s, clg_store *st,
                                     const char *const *names, int n)
{
    clg_ctx *ctx = store_ctx(st);
    const char **sel = selection(st, names, &n);
    if (!sel)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    clg_status rc = CLG_OK;
    for (int i = 0; i < n && rc == CLG_OK; i++) {
        int k = clg_store_find(st, sel[i]);
        if (k < 0) {
            rc = clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND, "no tensor '%s' in the store", sel[i]);
            break;
        }
        clg_shape sh = clg_store_shape(st, k);
        size_t bytes = (size_t)clg_shape_numel(&sh) * clg_dtype_size(clg_store_dtype(st, k));
        void *tmp = malloc(bytes ? bytes : 1);
        if (!tmp) {
            rc = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "tensor '%s': out of memory", sel[i]);
            break;
        }
        rc = clg_store_read(st, sel[i], tmp, bytes);
        if (rc == CLG_OK)
            rc = clg_tensor_set_add(ctx, s, sel[i], clg_store_dtype(st, k), &sh, tmp);
        free(tmp);
    }
    free(sel);
    return rc;
}

clg_status clg_tensor_set_to_store(const clg_tensor_set *s, const char *what, clg_store *st,
                                   const char *const *names, int n, int strict)
{
    clg_ctx *ctx = store_ctx(st);
    const char **sel = selection(st, names, &n);
    if (!sel)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    char list[512] = "";
    clg_status rc = CLG_OK;
    /* Check everything before writing anything, so a refused file leaves
     * the store as it was. */
    for (int i = 0; i < n && rc == CLG_OK; i++) {
        int k = clg_store_find(st, sel[i]);
        int f = clg_tensor_set_find(s, sel[i]);
        if (k < 0) {
            rc = clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND, "%s: no tensor '%s' in the store", what,
                                   sel[i]);
        } else if (f < 0) {
            for (int j = 0; j < s->n; j++)
                list_names(list, sizeof list, (const char *const *)&s->t[j].name, 1);
            rc = clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND,
                                   "%s: missing tensor '%s' (the model needs it; the file has: %s)",
                                   what, sel[i], s->n ? list : "nothing");
        } else {
            clg_shape ms = clg_store_shape(st, k);
            const clg_named_tensor *t = &s->t[f];
            char a[160], b[160];
            if (!clg_shape_equal(&ms, &t->shape))
                rc = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                       "%s: tensor '%s' has shape %s in the file but %s in the model",
                                       what, sel[i], clg_shape_str(&t->shape, a, sizeof a),
                                       clg_shape_str(&ms, b, sizeof b));
            else if (t->dtype != clg_store_dtype(st, k))
                rc = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                       "%s: tensor '%s' has dtype %s in the file but %s in the model",
                                       what, sel[i], clg_dtype_name(t->dtype),
                                       clg_dtype_name(clg_store_dtype(st, k)));
        }
    }
    if (rc == CLG_OK && strict) {
        for (int j = 0; j < s->n && rc == CLG_OK; j++) {
            int used = 0;
            for (int i = 0; i < n && !used; i++)
                used = strcmp(sel[i], s->t[j].name) == 0;
            if (!used) {
                list_names(list, sizeof list, sel, n);
                char a[160];
                rc = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                       "%s: unexpected tensor '%s' %s (the model has: %s)", what,
                                       s->t[j].name, clg_shape_str(&s->t[j].shape, a, sizeof a), list);
            }
        }
    }
    for (int i = 0; i < n && rc == CLG_OK; i++) {
        const clg_named_tensor *t = &s->t[clg_tensor_set_find(s, sel[i])];
        rc = clg_store_write(st, sel[i], t->data, t->bytes);
    }
    free(sel);
    return rc;
}

clg_status clg_store_save_file(clg_store *st, const char *path, const char *const *names,
                               int n)
{
    clg_ctx *ctx = store_ctx(st);
    clg_tensor_set *s = clg_tensor_set_new();
    if (!s)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", path);
    clg_status rc = clg_tensor_set_from_store(s, st, names, n);
    if (rc == CLG_OK)
        rc = clg_safetensors_write(ctx, path, s);
    clg_tensor_set_free(s);
    return rc;
}

clg_status clg_store_load_file(clg_store *st, const char *path, const char *const *names,
                               int n)
{
    clg_ctx *ctx = store_ctx(st);
    clg_tensor_set *s;
    clg_status rc = clg_safetensors_read(ctx, path, &s);
    if (rc != CLG_OK)
        return rc;
    rc = clg_tensor_set_to_store(s, path, st, names, n, 1);
    clg_tensor_set_free(s);
    return rc;
}
