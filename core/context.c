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
    /* Attachments first: the registry dlcloses component modules that may
     * hold objects of the backends below. */
    for (int i = ctx->n_attached - 1; i >= 0; i--) {
        if (ctx->attached[i].free_fn)
            ctx->attached[i].free_fn(ctx->attached[i].ptr);
        free(ctx->attached[i].key);
    }
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

void clg_ctx_clear_error(clg_ctx *ctx)
{
    if (ctx)
        ctx->err[0] = '\0';
}

clg_status clg_ctx_attach(clg_ctx *ctx, const char *key, void *ptr, void (*free_fn)(void *))
{
    if (!ctx || !key)
        return CLG_ERR_INVALID;
    if (clg_ctx_attached(ctx, key))
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "context: '%s' is already attached", key);
    if (ctx->n_attached == CLG_CTX_MAX_ATTACHED)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "context: more than %d attachments",
                                 CLG_CTX_MAX_ATTACHED);
    char *k = strdup(key);
    if (!k)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "context: out of memory");
    ctx->attached[ctx->n_attached++] = (clg_attachment){ k, ptr, free_fn };
    return CLG_OK;
}

void *clg_ctx_attached(const clg_ctx *ctx, const char *key)
{
    for (int i = 0; ctx && key && i < ctx->n_attached; i++)
        if (strcmp(ctx->attached[i].key, key) == 0)
            return ctx->attached[i].ptr;
    return NULL;
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

char *clg__tensor_str(clg_dtype dt, const clg_shape *s, char *buf, size_t len)
{
    char sb[160];
    snprintf(buf, len, "%s %s", clg_dtype_name(dt), clg_shape_str(s, sb, sizeof sb));
    return buf;
}
