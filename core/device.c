/* Devices of loaded backends, and the store: named tensors that live in one
 * device buffer each and outlive any plan. */
#include "plan_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- devices */

static clg_status device_index_check(clg_ctx *ctx, const clg_backend *vt, int index)
{
    int n = vt->device_count();
    if (n <= 0)
        return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND, "backend '%s' has no devices: %s",
                                 vt->name, vt->last_error(NULL));
    if (index < 0 || index >= n)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "device index %d out of range: backend '%s' has %d device%s",
                                 index, vt->name, n, n == 1 ? "" : "s");
    return CLG_OK;
}

clg_status clg_device_count(clg_ctx *ctx, const char *backend, int *count)
{
    if (!ctx)
        return CLG_ERR_INVALID;
    if (!count)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "clg_device_count: count is NULL");
    const clg_backend *vt;
    clg_status st = clg__backend_get(ctx, backend, &vt);
    if (st != CLG_OK)
        return st;
    int n = vt->device_count();
    *count = n > 0 ? n : 0;
    return CLG_OK;
}

clg_status clg_device_info_get(clg_ctx *ctx, const char *backend, int index,
                               clg_device_info *out)
{
    if (!ctx)
        return CLG_ERR_INVALID;
    if (!out)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "clg_device_info_get: out is NULL");
    const clg_backend *vt;
    clg_status st = clg__backend_get(ctx, backend, &vt);
    if (st == CLG_OK)
        st = device_index_check(ctx, vt, index);
    if (st != CLG_OK)
        return st;
    memset(out, 0, sizeof *out);
    st = vt->device_info(index, out);
    if (st != CLG_OK)
        return clg_ctx_set_error(ctx, st, "backend '%s': device %d info failed: %s",
                                 vt->name, index, vt->last_error(NULL));
    /* A backend that fills a name to the brim must not make us read past it. */
    out->name[sizeof out->name - 1] = '\0';
    out->vendor[sizeof out->vendor - 1] = '\0';
    out->driver[sizeof out->driver - 1] = '\0';
    return CLG_OK;
}

clg_status clg_device_open(clg_ctx *ctx, const char *backend, int index,
                           clg_device **out)
{
    if (!ctx)
        return CLG_ERR_INVALID;
    if (!out)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "clg_device_open: out is NULL");
    *out = NULL;
    const clg_backend *vt;
    clg_status st = clg__backend_get(ctx, backend, &vt);
    if (st == CLG_OK)
        st = device_index_check(ctx, vt, index);
    if (st != CLG_OK)
        return st;
    clg_device *dev = calloc(1, sizeof *dev);
    if (!dev)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "backend '%s': out of memory", vt->name);
    clg_bk_device *bk = NULL;
    st = vt->open(index, &bk);
    if (st != CLG_OK || !bk) {
        free(dev);
        return clg_ctx_set_error(ctx, st != CLG_OK ? st : CLG_ERR_BACKEND,
                                 "backend '%s': opening device %d failed: %s", vt->name,
                                 index, vt->last_error(NULL));
    }
    dev->ctx = ctx;
    dev->vt = vt;
    dev->bk = bk;
    dev->index = index;
    *out = dev;
    return CLG_OK;
}

void clg_device_close(clg_device *dev)
{
    if (!dev)
        return;
    dev->vt->close(dev->bk);
    free(dev);
}

const char *clg_device_backend(const clg_device *dev)
{
    return dev ? dev->vt->name : NULL;
}

clg_ctx *clg_device_ctx(const clg_device *dev)
{
    return dev ? dev->ctx : NULL;
}

clg_status clg_device_sync(clg_device *dev)
{
    if (!dev)
        return CLG_ERR_INVALID;
    clg_status st = dev->vt->sync(dev->bk);
    if (st != CLG_OK)
        return clg_ctx_set_error(dev->ctx, st, "backend '%s': sync failed: %s",
                                 dev->vt->name, dev->vt->last_error(dev->bk));
    return CLG_OK;
}

/* ------------------------------------------------------------------ store */

clg_status clg_store_new(clg_device *dev, clg_store **out)
{
    if (!dev)
        return CLG_ERR_INVALID;
    if (!out)
        return clg_ctx_set_error(dev->ctx, CLG_ERR_INVALID, "clg_store_new: out is NULL");
    clg_store *st = calloc(1, sizeof *st);
    if (!st) {
        *out = NULL;
        return clg_ctx_set_error(dev->ctx, CLG_ERR_NOMEM, "clg_store_new: out of memory");
    }
    st->dev = dev;
    *out = st;
    return CLG_OK;
}

void clg_store_free(clg_store *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->n; i++) {
        st->dev->vt->free(st->dev->bk, st->e[i].buf);
        free(st->e[i].name);
    }
    free(st->e);
    free(st);
}

clg_device *clg_store_device(const clg_store *st)
{
    return st ? st->dev : NULL;
}

/* Rank in range, no negative dims, and a byte size that fits in size_t. */
static int valid_shape(const clg_shape *s)
{
    if (s->ndim < 0 || s->ndim > CLG_MAX_DIMS)
        return 0;
    int64_t n = 1;
    const int64_t limit = INT64_MAX / 8;
    for (int i = 0; i < s->ndim; i++) {
        if (s->dim[i] < 0)
            return 0;
        if (s->dim[i] && n > limit / s->dim[i])
            return 0;
        n *= s->dim[i];
    }
    return (uint64_t)n <= SIZE_MAX / 8;
}

clg_status clg_store_add(clg_store *st, const char *name, clg_dtype dt,
                         const clg_shape *shape, const void *init)
{
    if (!st)
        return CLG_ERR_INVALID;
    clg_device *dev = st->dev;
    clg_ctx *ctx = dev->ctx;
    if (!name || !name[0])
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "store: tensor name is empty");
    if (clg_dtype_size(dt) == 0)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "store: '%s': unknown dtype %d",
                                 name, (int)dt);
    if (!shape)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "store: '%s': shape is NULL", name);
    if (!valid_shape(shape)) {
        char sb[128];
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "store: '%s': invalid shape %s", name,
                                 clg_shape_str(shape, sb, sizeof sb));
    }
    if (clg_store_find(st, name) >= 0)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "store: '%s' already exists", name);

    if (st->n == st->cap) {
        int cap = st->cap ? st->cap * 2 : 16;
        clg_store_entry *e = realloc(st->e, (size_t)cap * sizeof *e);
        if (!e)
            return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "store: '%s': out of memory", name);
        st->e = e;
        st->cap = cap;
    }
    clg_store_entry *e = &st->e[st->n];
    memset(e, 0, sizeof *e);
    e->dtype = dt;
    e->shape = *shape;
    e->bytes = (size_t)clg_shape_numel(shape) * clg_dtype_size(dt);
    e->name = strdup(name);
    if (!e->name)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "store: '%s': out of memory", name);

    clg_status s = dev->vt->alloc(dev->bk, e->bytes, &e->buf);
    if (s != CLG_OK) {
        clg_ctx_set_error(ctx, s, "store: '%s': allocating %zu bytes failed: %s", name,
                          e->bytes, dev->vt->last_error(dev->bk));
        free(e->name);
        return s;
    }
    /* The ABI has no fill for raw buffers, so zeros come from the host. */
    void *zeros = NULL;
    if (!init && e->bytes) {
        zeros = calloc(1, e->bytes);
        if (!zeros) {
            dev->vt->free(dev->bk, e->buf);
            free(e->name);
            return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "store: '%s': out of memory", name);
        }
    }
    if (e->bytes) {
        s = dev->vt->write(dev->bk, e->buf, 0, init ? init : zeros, e->bytes);
        free(zeros);
        if (s != CLG_OK) {
            clg_ctx_set_error(ctx, s, "store: '%s': initial write failed: %s", name,
                              dev->vt->last_error(dev->bk));
            dev->vt->free(dev->bk, e->buf);
            free(e->name);
            return s;
        }
    }
    st->n++;
    return CLG_OK;
}

int clg_store_count(const clg_store *st)
{
    return st ? st->n : 0;
}

int clg_store_find(const clg_store *st, const char *name)
{
    if (!st || !name)
        return -1;
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->e[i].name, name) == 0)
            return i;
    return -1;
}

const char *clg_store_name(const clg_store *st, int i)
{
    if (!st || i < 0 || i >= st->n)
        return NULL;
    return st->e[i].name;
}

clg_tensor_kind clg_store_kind(const clg_store *st, int i)
{
    if (!st || i < 0 || i >= st->n)
        return CLG_TENSOR_PARAMETER;
    return st->e[i].kind;
}

clg_status clg_store_set_kind(clg_store *st, const char *name, clg_tensor_kind kind)
{
    if (!st)
        return CLG_ERR_INVALID;
    clg_ctx *ctx = st->dev->ctx;
    if (kind != CLG_TENSOR_PARAMETER && kind != CLG_TENSOR_BUFFER && kind != CLG_TENSOR_STATE &&
        kind != CLG_TENSOR_SCRATCH)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "store: '%s': kind %d is not a kind",
                                 name ? name : "(null)", (int)kind);
    int i = name ? clg_store_find(st, name) : -1;
    if (i < 0)
        return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND, "store: no tensor '%s'",
                                 name ? name : "(null)");
    st->e[i].kind = kind;
    return CLG_OK;
}

clg_dtype clg_store_dtype(const clg_store *st, int i)
{
    if (!st || i < 0 || i >= st->n)
        return CLG_F32;
    return st->e[i].dtype;
}

clg_shape clg_store_shape(const clg_store *st, int i)
{
    if (!st || i < 0 || i >= st->n)
        return (clg_shape){0};
    return st->e[i].shape;
}

static clg_status entry_for_io(clg_store *st, const char *name, const void *ptr,
                               size_t bytes, const char *what, clg_store_entry **out)
{
    clg_ctx *ctx = st->dev->ctx;
    int i = clg_store_find(st, name);
    if (i < 0)
        return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND, "store %s: no tensor named '%s'",
                                 what, name ? name : "(null)");
    clg_store_entry *e = &st->e[i];
    if (bytes != e->bytes) {
        char sb[128];
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "store %s '%s': %zu bytes given, tensor %s %s has %zu",
                                 what, name, bytes, clg_dtype_name(e->dtype),
                                 clg_shape_str(&e->shape, sb, sizeof sb), e->bytes);
    }
    if (!ptr && bytes)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "store %s '%s': buffer is NULL",
                                 what, name);
    *out = e;
    return CLG_OK;
}

clg_status clg_store_read(clg_store *st, const char *name, void *dst, size_t bytes)
{
    if (!st)
        return CLG_ERR_INVALID;
    clg_store_entry *e;
    clg_status s = entry_for_io(st, name, dst, bytes, "read", &e);
    if (s != CLG_OK || bytes == 0)
        return s;
    clg_device *dev = st->dev;
    s = dev->vt->read(dev->bk, e->buf, 0, dst, bytes);
    if (s != CLG_OK)
        return clg_ctx_set_error(dev->ctx, s, "store read '%s': backend '%s': %s", name,
                                 dev->vt->name, dev->vt->last_error(dev->bk));
    return CLG_OK;
}

clg_status clg_store_write(clg_store *st, const char *name, const void *src,
                           size_t bytes)
{
    if (!st)
        return CLG_ERR_INVALID;
    clg_store_entry *e;
    clg_status s = entry_for_io(st, name, src, bytes, "write", &e);
    if (s != CLG_OK || bytes == 0)
        return s;
    clg_device *dev = st->dev;
    s = dev->vt->write(dev->bk, e->buf, 0, src, bytes);
    if (s != CLG_OK)
        return clg_ctx_set_error(dev->ctx, s, "store write '%s': backend '%s': %s", name,
                                 dev->vt->name, dev->vt->last_error(dev->bk));
    return CLG_OK;
}
