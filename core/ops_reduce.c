/* Reductions (sum, mean, max, argmax) and softmax / log-softmax over an
 * axis: builders and backward rules. */
#include "ops_internal.h"

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------ reductions */

static clg_t squeeze(clg_graph *g, clg_t r, uint32_t mask)
{
    clg_shape s = shp(g, r), q = { 0 };
    for (int i = 0; i < s.ndim; i++)
        if (!(mask & (1u << i)))
            q.dim[q.ndim++] = s.dim[i];
    return view(g, r, &q);
}

static clg_t reduce(clg_graph *g, const char *name, clg_op op, clg_t a, const int *axes,
                    int naxes, int keepdim)
{
    if (bad(g, name, a) || need_dtype(g, name, "input", a, CLG_F32))
        return CLG_NONE;
    clg_shape s = shp(g, a);
    uint32_t mask = 0;
    if (naxes < 0 || naxes > CLG_MAX_DIMS || (naxes > 0 && !axes))
        return clg__graph_fail(g, "%s: bad axis list (%d axes%s) for %s", name, naxes,
                               naxes > 0 && !axes ? ", NULL" : "", SS(&s));
    if (naxes == 0)
        mask = (1u << s.ndim) - 1u;
    for (int k = 0; k < naxes; k++) {
        int ax;
        if (norm_axis(axes[k], s.ndim, &ax))
            return clg__graph_fail(g, "%s: axis %d out of range for %s", name, axes[k], SS(&s));
        if (mask & (1u << ax))
            return clg__graph_fail(g, "%s: axis %d given twice for %s", name, axes[k], SS(&s));
        mask |= 1u << ax;
    }
    /* Reducing a 0-d tensor over its (no) axes is the identity. */
    if (mask == 0)
        return clg_copy(g, a);
    clg_shape out = s;
    for (int i = 0; i < s.ndim; i++)
        if (mask & (1u << i))
            out.dim[i] = 1;
    clg_params at = clg__p_i64(CLG_P_AXES, mask);
    clg_t r = add1(g, op, CLG_F32, &out, a, &at);
    if (r == CLG_NONE || keepdim)
        return r;
    return squeeze(g, r, mask);
}

clg_t clg_sum(clg_graph *g, clg_t a, const int *axes, int naxes, int keepdim)
{
    return reduce(g, "sum", CLG_OP_SUM, a, axes, naxes, keepdim);
}
clg_t clg_mean(clg_graph *g, clg_t a, const int *axes, int naxes, int keepdim)
{
    return reduce(g, "mean", CLG_OP_MEAN, a, axes, naxes, keepdim);
}
clg_t clg_max(clg_graph *g, clg_t a, const int *axes, int naxes, int keepdim)
{
    return reduce(g, "max", CLG_OP_MAX, a, axes, naxes, keepdim);
}

clg_t clg_argmax(clg_graph *g, clg_t a, int axis, int keepdim)
{
    if (bad(g, "argmax", a) || need_dtype(g, "argmax", "input", a, CLG_F32))
        return CLG_NONE;
    clg_shape s = shp(g, a);
    int ax;
    if (norm_axis(axis, s.ndim, &ax))
        return clg__graph_fail(g, "argmax: axis %d out of range for %s", axis, SS(&s));
    clg_shape out = s;
    out.dim[ax] = 1;
    clg_params at = clg__p_i64(CLG_P_AXIS, ax);
    clg_t r = add1(g, CLG_OP_ARGMAX, CLG_I32, &out, a, &at);
    if (r == CLG_NONE || keepdim)
        return r;
    return squeeze(g, r, 1u << ax);
}

static clg_t softmax_op(clg_graph *g, const char *name, clg_op op, clg_t a, int axis)
{
    if (bad(g, name, a) || need_dtype(g, name, "input", a, CLG_F32))
        return CLG_NONE;
    clg_shape s = shp(g, a);
    int ax;
    if (norm_axis(axis, s.ndim, &ax))
        return clg__graph_fail(g, "%s: axis %d out of range for %s", name, axis, SS(&s));
    clg_params at = clg__p_i64(CLG_P_AXIS, ax);
    return add1(g, op, CLG_F32, &s, a, &at);
}

clg_t clg_softmax(clg_graph *g, clg_t a, int axis)
{
    return softmax_op(g, "softmax", CLG_OP_SOFTMAX, a, axis);
}
clg_t clg_log_softmax(clg_graph *g, clg_t a, int axis)
{
    return softmax_op(g, "log_softmax", CLG_OP_LOG_SOFTMAX, a, axis);
}

/* One pass per row for the loss (and one for its gradient) on a backend that
 * runs it; the compiler spells it out in primitives for one that does not. */
clg_t clg_cross_entropy(clg_graph *g, clg_t logits, clg_t target, int ignore_index)
{
    const char *name = "cross_entropy";
    if (bad(g, name, logits) || bad(g, name, target) ||
        need_dtype(g, name, "logits", logits, CLG_F32) ||
        need_dtype(g, name, "target", target, CLG_I32))
        return CLG_NONE;
    clg_shape s = shp(g, logits), t = shp(g, target);
    if (s.ndim != 2 || t.ndim != 1 || t.dim[0] != s.dim[0])
        return clg__graph_fail(g, "%s: logits must be [N, C] and target [N], got %s and %s",
                               name, SS(&s), SS(&t));
    clg_t in[2] = { logits, target };
    clg_params at = clg__p_i64(CLG_P_IGNORE, ignore_index);
    clg_shape out = CLG_SHAPE(s.dim[0]);
    return clg__node_add(g, CLG_OP_CROSS_ENTROPY, CLG_F32, &out, in, 2, &at);
}

static int axes_of(uint32_t mask, int ndim, int *axes)
{
    int n = 0;
    for (int i = 0; i < ndim; i++)
        if (mask & (1u << i))
            axes[n++] = i;
    return n;
}


/* ------------------------------------------------------------ backward */

int clg__backward_reduce(clg_graph *g, const clg__grad_in *in, clg_t *d)
{
    CLG__GRAD_LOCALS(in);
    switch (n.op) {
    case CLG_OP_SUM:
        d[0] = clg_expand(g, G, &sx);
        break;
    case CLG_OP_MEAN: {
        double count = (double)clg_shape_numel(&sx) / (double)clg_shape_numel(&n.shape);
        d[0] = clg_expand(g, clg_mul_scalar(g, G, (float)(1.0 / count)), &sx);
        break;
    }
    case CLG_OP_MAX: { /* torch.amax: split evenly among tied maxima */
        int axes[CLG_MAX_DIMS],
            na = axes_of((uint32_t)clg_param_i64(&n.params, CLG_P_AXES), sx.ndim, axes);
        clg_t mask = clg_eq(g, x, y);
        clg_t cnt = clg_sum(g, mask, axes, na, 1);
        d[0] = clg_mul(g, mask, clg_div(g, G, cnt));
        break;
    }
    case CLG_OP_SOFTMAX: { /* y * (G - sum(G * y)) */
        int ax = clg_param_int(&n.params, CLG_P_AXIS);
        clg_t s = clg_sum(g, clg_mul(g, G, y), &ax, 1, 1);
        d[0] = clg_mul(g, y, clg_sub(g, G, s));
        break;
    }
    case CLG_OP_LOG_SOFTMAX: { /* G - softmax * sum(G) */
        int ax = clg_param_int(&n.params, CLG_P_AXIS);
        clg_t s = clg_sum(g, G, &ax, 1, 1);
        d[0] = clg_sub(g, G, clg_mul(g, clg_exp(g, y), s));
        break;
    }
    case CLG_OP_CROSS_ENTROPY: { /* (softmax(x) - one_hot(t)) * G, one op */
        clg_t in3[3] = { x, n.in[1], G };
        d[0] = clg__node_add(g, CLG_OP_CROSS_ENTROPY_GRAD, CLG_F32, &sx, in3, 3, &n.params);
        break;
    }
    default: /* the rest of the NN family: batch norm's ops */
        return clg__backward_norm(g, in, d);
    }
    return 1;
}
