/* The context (error message, loaded backends) and the small naming and
 * shape helpers everything else uses to build its messages. */
#include "internal.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

clg_ctx *clg_ctx_new(void)
{
    return calloc(1, sizeof(clg_ctx));
}

void clg_ctx_free(clg_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->registry && ctx->registry_free)
        ctx->registry_free(ctx->registry);
    for (int i = ctx->n_backends - 1; i >= 0; i--) {
        clg_loaded_backend *b = &ctx->backends[i];
        if (b->handle)
            dlclose(b->handle);
        free(b->name);
        free(b->path);
    }
    free(ctx->backends);
    free(ctx);
}

const char *clg_ctx_error(const clg_ctx *ctx)
{
    return ctx ? ctx->err : "no context";
}

clg_status clg_ctx_set_error(clg_ctx *ctx, clg_status st, const char *fmt, ...)
{
    if (!ctx || !fmt)
        return st;
    /* Format into a scratch buffer: callers often pass the previous message
     * (ctx->err) as an argument to wrap it. */
    char tmp[CLG_ERRMSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(ctx->err, tmp, sizeof tmp);
    return st;
}

const char *clg_status_name(clg_status st)
{
    switch (st) {
    case CLG_OK: return "ok";
    case CLG_ERR_INVALID: return "invalid argument";
    case CLG_ERR_UNSUPPORTED: return "unsupported";
    case CLG_ERR_BACKEND: return "backend error";
    case CLG_ERR_IO: return "i/o error";
    case CLG_ERR_NOMEM: return "out of memory";
    case CLG_ERR_LOAD: return "load error";
    case CLG_ERR_ABI: return "abi mismatch";
    case CLG_ERR_NOT_FOUND: return "not found";
    }
    return "unknown status";
}

const char *clg_op_name(clg_op op)
{
    const char *name = clg_op_info_of(op).name;
    return name ? name : "unknown op";
}

const char *clg_dtype_name(clg_dtype dt)
{
    switch (dt) {
    case CLG_F32: return "f32";
    case CLG_I32: return "i32";
    case CLG_F16: return "f16";
    case CLG_BF16: return "bf16";
    }
    return "unknown dtype";
}

int64_t clg_shape_numel(const clg_shape *s)
{
    if (!s)
        return 0;
    int64_t n = 1;
    for (int i = 0; i < s->ndim && i < CLG_MAX_DIMS; i++)
        n *= s->dim[i];
    return n;
}

char *clg_shape_str(const clg_shape *s, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    buf[0] = '\0';
    if (!s)
        return buf;
    if (s->ndim < 0 || s->ndim > CLG_MAX_DIMS) {
        snprintf(buf, len, "[bad rank %d]", s->ndim);
        return buf;
    }
    size_t used = 0;
    int w = snprintf(buf, len, "[");
    used = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < s->ndim && used < len; i++) {
        w = snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                     (long long)s->dim[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

int clg_shape_equal(const clg_shape *a, const clg_shape *b)
{
    if (!a || !b || a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim && i < CLG_MAX_DIMS; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

size_t clg__align(size_t n)
{
    return (n + (CLG_BK_ALIGN - 1)) / CLG_BK_ALIGN * CLG_BK_ALIGN;
}
