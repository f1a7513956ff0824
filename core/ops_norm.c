/* Normalisation ops: batch norm's bn_stats, bn_apply and bn_grad_sums, and
 * layer norm's ln_norm and ln_norm_grad; builders and backward rules.
 *
 * Written as elementwise ops and reductions, batch norm's backward took
 * about eight passes over the activations (each gradient term materialised,
 * then reduced on its own). As ops, bn_apply's rule needs one pass for both
 * channel sums (bn_grad_sums) and leaves its input gradient, with
 * bn_stats's, as elementwise terms the compiler fuses into one more pass.
 * Layer norm's rows are short and in cache: one op normalises a row, one
 * computes its gradient, instead of a reduction and a pass per term. A
 * backend that lacks an op gets it spelled out in primitives (lower.c). */
#include "ops_internal.h"

#include <math.h>

/* x's channel count C and the values per channel, or a graph error. */
static int bn_input(clg_graph *g, const char *name, clg_t x, int64_t *c, int64_t *per)
{
    clg_shape s = shp(g, x);
    if (s.ndim < 2) {
        clg__graph_fail(g, "%s: input %s is not [N, C, ...]", name, SS(&s));
        return 0;
    }
    *c = s.dim[1];
    *per = clg_shape_numel(&s) / s.dim[1];
    return 1;
}

static int bn_stats_shape(clg_graph *g, const char *name, clg_t stats, int64_t c)
{
    clg_shape s = shp(g, stats), want = CLG_SHAPE(2, c);
    if (!clg_shape_equal(&s, &want)) {
        clg__graph_fail(g, "%s: stats %s must be %s (mean, variance) for %lld channels", name,
                        SS(&s), SS(&want), (long long)c);
        return 0;
    }
    return 1;
}

clg_t clg_bn_stats(clg_graph *g, clg_t x)
{
    const char *name = "bn_stats";
    int64_t c, per;
    if (bad(g, name, x) || need_dtype(g, name, "input", x, CLG_F32) ||
        !bn_input(g, name, x, &c, &per))
        return CLG_NONE;
    return add1(g, CLG_OP_BN_STATS, CLG_F32, &CLG_SHAPE(2, c), x, NULL);
}

clg_t clg_bn_apply(clg_graph *g, clg_t x, clg_t stats, clg_t weight, clg_t bias, float eps)
{
    const char *name = "bn_apply";
    int64_t c, per;
    if (bad(g, name, x) || bad(g, name, stats) || bad(g, name, weight) || bad(g, name, bias) ||
        need_dtype(g, name, "input", x, CLG_F32) || need_dtype(g, name, "stats", stats, CLG_F32) ||
        need_dtype(g, name, "weight", weight, CLG_F32) ||
        need_dtype(g, name, "bias", bias, CLG_F32) || !bn_input(g, name, x, &c, &per) ||
        !bn_stats_shape(g, name, stats, c))
        return CLG_NONE;
    clg_shape cs = CLG_SHAPE(c);
    if (!clg_shape_equal(&cs, &node(g, weight)->shape) ||
        !clg_shape_equal(&cs, &node(g, bias)->shape))
        return clg__graph_fail(g, "%s: weight %s and bias %s must be [%lld] for input %s", name,
                               SS(&node(g, weight)->shape), SS(&node(g, bias)->shape),
                               (long long)c, SS(&node(g, x)->shape));
    if (!(eps >= 0.0f) || eps == INFINITY)
        return clg__graph_fail(g, "%s: eps %g must be finite and >= 0", name, (double)eps);
    clg_t in[4] = { x, stats, weight, bias };
    clg_params at = clg__p_f32(CLG_P_SCALAR, eps);
    const clg_shape out = shp(g, x); /* a copy: adding the node may move the nodes */
    return clg__node_add(g, CLG_OP_BN_APPLY, CLG_F32, &out, in, 4, &at);
}

clg_t clg_ln_norm(clg_graph *g, clg_t x, float eps)
{
    const char *name = "ln_norm";
    if (bad(g, name, x) || need_dtype(g, name, "input", x, CLG_F32))
        return CLG_NONE;
    clg_shape s = shp(g, x);
    if (s.ndim < 1)
        return clg__graph_fail(g, "%s: input %s has no last dim to normalise", name, SS(&s));
    if (!(eps >= 0.0f) || eps == INFINITY)
        return clg__graph_fail(g, "%s: eps %g must be finite and >= 0", name, (double)eps);
    clg_params at = clg__p_f32(CLG_P_SCALAR, eps);
    return add1(g, CLG_OP_LN_NORM, CLG_F32, &s, x, &at);
}

clg_t clg__stats_row(clg_graph *g, clg_t stats, int r, int64_t c)
{
    return clg_reshape(g, clg_slice(g, stats, 0, r, r + 1), &CLG_SHAPE(c));
}

clg_t clg__stats_of(clg_graph *g, clg_t mean, clg_t var, int64_t c)
{
    clg_t rows[2] = { clg_reshape(g, mean, &CLG_SHAPE(1, c)),
                      clg_reshape(g, var, &CLG_SHAPE(1, c)) };
    return clg_concat(g, rows, 2, 0);
}

clg_t clg__per_channel(clg_graph *g, clg_t v, const clg_shape *sx)
{
    clg_shape bc = { .ndim = sx->ndim - 1, .dim = { sx->dim[1] } };
    for (int i = 1; i < bc.ndim; i++)
        bc.dim[i] = 1;
    return clg_reshape(g, v, &bc);
}


int clg__backward_norm(clg_graph *g, const clg__grad_in *in, clg_t *d)
{
    CLG__GRAD_LOCALS(in);
    if (n.op == CLG_OP_LN_NORM) {
        clg_t gin[2] = { G, x };
        d[0] = clg__node_add(g, CLG_OP_LN_NORM_GRAD, CLG_F32, &sx, gin, 2, &n.params);
        return 1;
    }
    const int64_t c = sx.dim[1];
    switch (n.op) {
    case CLG_OP_BN_STATS: {
        /* mean' = 1/n; var' = 2 (x - mean) / n (the centred sum is 0) */
        const float inv_n = (float)((double)c / (double)clg_shape_numel(&sx));
        clg_t dmean = clg_mul_scalar(g, clg__stats_row(g, G, 0, c), inv_n);
        clg_t dvar = clg_mul_scalar(g, clg__stats_row(g, G, 1, c), 2.0f * inv_n);
        dmean = clg__per_channel(g, dmean, &sx);
        dvar = clg__per_channel(g, dvar, &sx);
        clg_t xc = clg_sub(g, x, clg__per_channel(g, clg__stats_row(g, y, 0, c), &sx));
        d[0] = clg_add(g, clg_mul(g, xc, dvar), dmean);
        break;
    }
    case CLG_OP_BN_APPLY: {
        const clg_t stats = n.in[1], w = n.in[2];
        const float eps = clg_param_f32(&n.params, CLG_P_SCALAR);
        clg_t inv = clg_rsqrt(g, clg_add_scalar(g, clg__stats_row(g, stats, 1, c), eps)); /* [C] */
        clg_t scale = clg_mul(g, inv, w);
        /* normalised by its own batch's statistics (the layer in training):
         * the input's whole gradient at once, the stats' path included
         * (which then gets none of its own), so that no partial gradient of
         * the activations waits for the other's */
        const clg_node *sn = node(g, stats);
        const int own = need[0] && sn->op == CLG_OP_BN_STATS && sn->in[0] == n.in[0];
        if (need[0] && !own)
            d[0] = clg_mul(g, G, clg__per_channel(g, scale, &sx));
        if (!own && !need[1] && !need[2] && !need[3])
            break;
        /* sum G and sum G (x - mean): one pass for every other gradient */
        clg_t gin[3] = { G, x, stats };
        clg_t sums = clg__node_add(g, CLG_OP_BN_GRAD_SUMS, CLG_F32, &CLG_SHAPE(2, c), gin, 3,
                                   NULL);
        clg_t s0 = clg__stats_row(g, sums, 0, c), s1 = clg__stats_row(g, sums, 1, c);
        if (own) {
            /* G scale - scale sum G / n - (x - mean) scale inv^2 sum G (x - mean) / n:
             * the direct term plus bn_stats's rule applied to the stats'
             * gradient below */
            const float inv_n = (float)((double)c / (double)clg_shape_numel(&sx));
            clg_t a = clg_mul_scalar(g, clg_mul(g, scale, s0), -inv_n);
            clg_t b = clg_mul_scalar(g, clg_mul(g, clg_mul(g, scale, clg_mul(g, inv, inv)), s1),
                                     -inv_n);
            clg_t xc = clg_sub(g, x, clg__per_channel(g, clg__stats_row(g, stats, 0, c), &sx));
            d[0] = clg_add(g, clg_add(g, clg_mul(g, G, clg__per_channel(g, scale, &sx)),
                                      clg__per_channel(g, a, &sx)),
                           clg_mul(g, xc, clg__per_channel(g, b, &sx)));
        }
        if (need[1] && !own) {
            /* d mean = -scale sum G; d var = -w inv^3 / 2 sum G (x - mean) */
            clg_t dm = clg_neg(g, clg_mul(g, scale, s0));
            clg_t dv = clg_mul(g, clg_mul_scalar(g, clg_mul(g, scale, clg_mul(g, inv, inv)), -0.5f),
                               s1);
            d[1] = clg__stats_of(g, dm, dv, c);
        }
        if (need[2])
            d[2] = clg_mul(g, s1, inv);
        if (need[3])
            d[3] = s0;
        break;
    }
    default:
        return 0;
    }
    return 1;
}
