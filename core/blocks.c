/* Building blocks for C users beside the layers: stop-gradient and the
 * parameter-initialisation rules of torch.nn.init. */
#include "ops_internal.h"

#include <math.h>
#include <stdlib.h>

clg_t clg_stop_gradient(clg_graph *g, clg_t a)
{
    if (bad(g, "stop_gradient", a))
        return CLG_NONE;
    clg_shape s = shp(g, a);
    clg_t t = add1(g, CLG_OP_COPY, dty(g, a), &s, a, NULL);
    if (t != CLG_NONE)
        g->nodes[CLG__IDX(t)].no_grad = 1; /* autodiff: input 0 receives nothing */
    return t;
}

static clg_status fans(clg_ctx *ctx, const clg_shape *s, double *fan_in, double *fan_out)
{
    if (s->ndim < 1)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "init: a 0-d tensor has no fan (give it CONSTANT or UNIFORM)");
    if (s->ndim == 1) {
        *fan_in = *fan_out = (double)s->dim[0];
        return CLG_OK;
    }
    double field = 1;
    for (int i = 2; i < s->ndim; i++)
        field *= (double)s->dim[i];
    *fan_in = (double)s->dim[1] * field;
    *fan_out = (double)s->dim[0] * field;
    return CLG_OK;
}

clg_status clg_init_fill(clg_ctx *ctx, float *dst, const clg_shape *shape,
                         const clg_init *init, clg_rng *rng)
{
    if (!ctx)
        return CLG_ERR_INVALID;
    if (!dst || !shape || !init)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "init: NULL %s",
                                 !dst ? "dst" : !shape ? "shape" : "init");
    int64_t n = clg_shape_numel(shape);
    clg_init_kind k = init->kind;
    if (k > CLG_INIT_CONSTANT && !rng)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "init: rule %d draws numbers; rng is NULL",
                                 (int)k);
    double fi = 0, fo = 0, lo = 0, hi = 0, mean = 0, std = 0;
    int uniform = 1;
    if (k >= CLG_INIT_XAVIER_UNIFORM && k <= CLG_INIT_LINEAR_DEFAULT) {
        clg_status st = fans(ctx, shape, &fi, &fo);
        if (st != CLG_OK)
            return st;
        if (k == CLG_INIT_LINEAR_DEFAULT && init->fan_in > 0)
            fi = (double)init->fan_in;
        if (fi <= 0 || fo <= 0)
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "init: a shape with no elements has "
                                     "no fan");
    }
    double gain = init->gain != 0 ? init->gain : 1.0;
    double kgain = sqrt(2.0 / (1.0 + init->slope * init->slope));
    double kfan = init->fan == CLG_FAN_OUT ? fo : fi;
    switch (k) {
    case CLG_INIT_ZEROS:
    case CLG_INIT_ONES:
    case CLG_INIT_CONSTANT: {
        float v = k == CLG_INIT_ZEROS ? 0.0f : k == CLG_INIT_ONES ? 1.0f : (float)init->value;
        for (int64_t i = 0; i < n; i++)
            dst[i] = v;
        return CLG_OK;
    }
    case CLG_INIT_UNIFORM:
        if (!(init->low <= init->high))
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "init: uniform low %g > high %g",
                                     init->low, init->high);
        lo = init->low, hi = init->high;
        break;
    case CLG_INIT_NORMAL:
        if (!(init->std >= 0))
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "init: normal std %g < 0", init->std);
        uniform = 0, mean = init->mean, std = init->std;
        break;
    case CLG_INIT_XAVIER_UNIFORM:
        hi = gain * sqrt(6.0 / (fi + fo)), lo = -hi;
        break;
    case CLG_INIT_XAVIER_NORMAL:
        uniform = 0, std = gain * sqrt(2.0 / (fi + fo));
        break;
    case CLG_INIT_KAIMING_UNIFORM:
        hi = kgain * sqrt(3.0 / kfan), lo = -hi;
        break;
    case CLG_INIT_KAIMING_NORMAL:
        uniform = 0, std = kgain / sqrt(kfan);
        break;
    case CLG_INIT_LINEAR_DEFAULT:
        hi = 1.0 / sqrt(fi), lo = -hi;
        break;
    default:
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "init: %d is not a clg_init_kind", (int)k);
    }
    if (uniform && k == CLG_INIT_UNIFORM) {
        for (int64_t i = 0; i < n; i++)
            dst[i] = (float)(lo + (hi - lo) * clg_rng_uniform(rng));
    } else if (uniform) {
        /* symmetric: the same draw clg_linear makes, so LINEAR_DEFAULT with
         * the same rng state gives clg_linear's values */
        for (int64_t i = 0; i < n; i++)
            dst[i] = (float)((2.0 * clg_rng_uniform(rng) - 1.0) * hi);
    } else {
        for (int64_t i = 0; i < n; i++)
            dst[i] = (float)(mean + std * clg_rng_normal(rng));
    }
    return CLG_OK;
}

clg_status clg_store_add_init(clg_store *st, const char *name, const clg_shape *shape,
                              const clg_init *init, clg_rng *rng)
{
    if (!st)
        return CLG_ERR_INVALID;
    clg_ctx *ctx = clg_device_ctx(clg_store_device(st));
    if (!shape)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "store_add_init '%s': shape is NULL",
                                 name ? name : "(null)");
    int64_t n = clg_shape_numel(shape);
    if (n < 0 || n > MAX_NUMEL)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "store_add_init '%s': bad shape",
                                 name ? name : "(null)");
    float *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
    if (!buf)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "store_add_init '%s': out of memory",
                                 name ? name : "(null)");
    clg_status s = clg_init_fill(ctx, buf, shape, init, rng);
    if (s == CLG_OK)
        s = clg_store_add(st, name, CLG_F32, shape, buf);
    free(buf);
    return s;
}
