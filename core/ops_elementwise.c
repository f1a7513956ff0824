/* Elementwise ops: unary math, broadcasting binary arithmetic and
 * comparisons, where, cast and copy; their builders with shape and dtype
 * inference, and their backward rules. */
#include "ops_internal.h"

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------ elementwise */

/* NumPy broadcasting: right-aligned, each pair equal or one of them 1. */
static int broadcast(const clg_shape *a, const clg_shape *b, clg_shape *out)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    clg_shape r = { .ndim = nd };
    for (int i = 0; i < nd; i++) {
        int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return 1;
        r.dim[i] = da == 1 ? db : da;
    }
    *out = r;
    return 0;
}

static int is_compare(clg_op op) { return op >= CLG_OP_EQ && op <= CLG_OP_GE; }

static clg_t binary(clg_graph *g, const char *name, clg_op op, clg_t a, clg_t b)
{
    if (bad(g, name, a) || bad(g, name, b))
        return CLG_NONE;
    if (is_compare(op)) {
        if (dty(g, a) != dty(g, b))
            return clg__graph_fail(g, "%s: dtypes differ: %s %s and %s %s", name,
                                   dname(dty(g, a)), SS(&node(g, a)->shape),
                                   dname(dty(g, b)), SS(&node(g, b)->shape));
    } else if (need_dtype(g, name, "a", a, CLG_F32) || need_dtype(g, name, "b", b, CLG_F32)) {
        return CLG_NONE;
    }
    clg_shape sa = shp(g, a), sb = shp(g, b), out;
    if (broadcast(&sa, &sb, &out))
        return clg__graph_fail(g, "%s: cannot broadcast %s with %s", name, SS(&sa), SS(&sb));
    clg_t in[2] = { a, b };
    return clg__node_add(g, op, CLG_F32, &out, in, 2, NULL);
}

clg_t clg_add(clg_graph *g, clg_t a, clg_t b) { return binary(g, "add", CLG_OP_ADD, a, b); }
clg_t clg_sub(clg_graph *g, clg_t a, clg_t b) { return binary(g, "sub", CLG_OP_SUB, a, b); }
clg_t clg_mul(clg_graph *g, clg_t a, clg_t b) { return binary(g, "mul", CLG_OP_MUL, a, b); }
clg_t clg_div(clg_graph *g, clg_t a, clg_t b) { return binary(g, "div", CLG_OP_DIV, a, b); }
clg_t clg_maximum(clg_graph *g, clg_t a, clg_t b)
{
    return binary(g, "maximum", CLG_OP_MAXIMUM, a, b);
}
clg_t clg_minimum(clg_graph *g, clg_t a, clg_t b)
{
    return binary(g, "minimum", CLG_OP_MINIMUM, a, b);
}
clg_t clg_eq(clg_graph *g, clg_t a, clg_t b) { return binary(g, "eq", CLG_OP_EQ, a, b); }
clg_t clg_ne(clg_graph *g, clg_t a, clg_t b) { return binary(g, "ne", CLG_OP_NE, a, b); }
clg_t clg_lt(clg_graph *g, clg_t a, clg_t b) { return binary(g, "lt", CLG_OP_LT, a, b); }
clg_t clg_le(clg_graph *g, clg_t a, clg_t b) { return binary(g, "le", CLG_OP_LE, a, b); }
clg_t clg_gt(clg_graph *g, clg_t a, clg_t b) { return binary(g, "gt", CLG_OP_GT, a, b); }
clg_t clg_ge(clg_graph *g, clg_t a, clg_t b) { return binary(g, "ge", CLG_OP_GE, a, b); }

clg_t clg_where(clg_graph *g, clg_t mask, clg_t a, clg_t b)
{
    if (bad(g, "where", mask) || bad(g, "where", a) || bad(g, "where", b))
        return CLG_NONE;
    if (need_dtype(g, "where", "mask", mask, CLG_F32) ||
        need_dtype(g, "where", "a", a, CLG_F32) || need_dtype(g, "where", "b", b, CLG_F32))
        return CLG_NONE;
    clg_shape sm = shp(g, mask), sa = shp(g, a), sb = shp(g, b), ab, out;
    if (broadcast(&sa, &sb, &ab) || broadcast(&sm, &ab, &out))
        return clg__graph_fail(g, "where: cannot broadcast mask %s, a %s and b %s", SS(&sm),
                               SS(&sa), SS(&sb));
    clg_t in[3] = { mask, a, b };
    return clg__node_add(g, CLG_OP_WHERE, CLG_F32, &out, in, 3, NULL);
}

static clg_t unary(clg_graph *g, const char *name, clg_op op, clg_t a, float f)
{
    if (bad(g, name, a) || need_dtype(g, name, "input", a, CLG_F32))
        return CLG_NONE;
    clg_params at = clg__p_f32(CLG_P_SCALAR, f);
    clg_shape s = shp(g, a);
    return add1(g, op, CLG_F32, &s, a, &at);
}

clg_t clg_add_scalar(clg_graph *g, clg_t a, float s)
{
    return unary(g, "add_scalar", CLG_OP_ADD_SCALAR, a, s);
}
clg_t clg_mul_scalar(clg_graph *g, clg_t a, float s)
{
    return unary(g, "mul_scalar", CLG_OP_MUL_SCALAR, a, s);
}
clg_t clg_pow_scalar(clg_graph *g, clg_t a, float p)
{
    return unary(g, "pow_scalar", CLG_OP_POW_SCALAR, a, p);
}
clg_t clg_neg(clg_graph *g, clg_t a) { return unary(g, "neg", CLG_OP_NEG, a, 0); }
clg_t clg_exp(clg_graph *g, clg_t a) { return unary(g, "exp", CLG_OP_EXP, a, 0); }
clg_t clg_log(clg_graph *g, clg_t a) { return unary(g, "log", CLG_OP_LOG, a, 0); }
clg_t clg_sqrt(clg_graph *g, clg_t a) { return unary(g, "sqrt", CLG_OP_SQRT, a, 0); }
clg_t clg_rsqrt(clg_graph *g, clg_t a) { return unary(g, "rsqrt", CLG_OP_RSQRT, a, 0); }
clg_t clg_abs(clg_graph *g, clg_t a) { return unary(g, "abs", CLG_OP_ABS, a, 0); }
clg_t clg_sign(clg_graph *g, clg_t a) { return unary(g, "sign", CLG_OP_SIGN, a, 0); }
clg_t clg_relu(clg_graph *g, clg_t a) { return unary(g, "relu", CLG_OP_RELU, a, 0); }
clg_t clg_leaky_relu(clg_graph *g, clg_t a, float negative_slope)
{
    return unary(g, "leaky_relu", CLG_OP_LEAKY_RELU, a, negative_slope);
}
clg_t clg_sigmoid(clg_graph *g, clg_t a) { return unary(g, "sigmoid", CLG_OP_SIGMOID, a, 0); }
clg_t clg_tanh(clg_graph *g, clg_t a) { return unary(g, "tanh", CLG_OP_TANH, a, 0); }
clg_t clg_gelu(clg_graph *g, clg_t a, int tanh_approx)
{
    return tanh_approx ? unary(g, "gelu", CLG_OP_GELU_TANH, a, 0)
                       : unary(g, "gelu", CLG_OP_GELU, a, 0);
}
clg_t clg_softplus(clg_graph *g, clg_t a) { return unary(g, "softplus", CLG_OP_SOFTPLUS, a, 0); }
clg_t clg_erf(clg_graph *g, clg_t a) { return unary(g, "erf", CLG_OP_ERF, a, 0); }

clg_t clg_clamp(clg_graph *g, clg_t a, float lo, float hi)
{
    if (bad(g, "clamp", a) || need_dtype(g, "clamp", "input", a, CLG_F32))
        return CLG_NONE;
    if (!(lo <= hi))
        return clg__graph_fail(g, "clamp: lo %g must not exceed hi %g", lo, hi);
    clg_params at = clg__p_f32(CLG_P_SCALAR, lo);
    clg_param_set_f32(&at, CLG_P_SCALAR2, hi);
    clg_shape s = shp(g, a);
    return add1(g, CLG_OP_CLAMP, CLG_F32, &s, a, &at);
}

/* Casting to the dtype a tensor already has returns it (like torch's .to),
 * so no backend ever sees a same-dtype CAST. */
clg_t clg_cast(clg_graph *g, clg_t a, clg_dtype dt)
{
    if (bad(g, "cast", a))
        return CLG_NONE;
    if (!valid_dtype(dt))
        return clg__graph_fail(g, "cast: dtype %d is not a dtype", (int)dt);
    if (dty(g, a) == dt)
        return a;
    clg_shape s = shp(g, a);
    return add1(g, CLG_OP_CAST, dt, &s, a, NULL);
}

clg_t clg_copy(clg_graph *g, clg_t a)
{
    if (bad(g, "copy", a))
        return CLG_NONE;
    clg_shape s = shp(g, a);
    return add1(g, CLG_OP_COPY, dty(g, a), &s, a, NULL);
}

/* ------------------------------------------------------------ backward */

int clg__backward_elementwise(clg_graph *g, const clg__grad_in *in, clg_t *d)
{
    CLG__GRAD_LOCALS(in);
    switch (n.op) {
    case CLG_OP_COPY:
    case CLG_OP_ADD_SCALAR:
        d[0] = G;
        break;
    case CLG_OP_NEG:
        d[0] = clg_neg(g, G);
        break;
    case CLG_OP_MUL_SCALAR:
        d[0] = clg_mul_scalar(g, G, clg_param_f32(&n.params, CLG_P_SCALAR));
        break;
    case CLG_OP_EXP:
        d[0] = clg_mul(g, G, y);
        break;
    case CLG_OP_LOG:
        d[0] = clg_div(g, G, x);
        break;
    case CLG_OP_SQRT:
        d[0] = clg_div(g, clg_mul_scalar(g, G, 0.5f), y);
        break;
    case CLG_OP_RSQRT:
        d[0] = clg_mul(g, clg_mul_scalar(g, G, -0.5f), clg_pow_scalar(g, y, 3.0f));
        break;
    case CLG_OP_POW_SCALAR: {
        float p = clg_param_f32(&n.params, CLG_P_SCALAR);
        if (p == 0.0f)
            break; /* constant 1: torch gives zeros */
        if (p == 1.0f)
            d[0] = G;
        else if (p == 2.0f)
            d[0] = clg_mul(g, G, clg_mul_scalar(g, x, 2.0f));
        else
            d[0] = clg_mul(g, G, clg_mul_scalar(g, clg_pow_scalar(g, x, p - 1.0f), p));
        break;
    }
    case CLG_OP_ABS:
        d[0] = clg_mul(g, G, clg_sign(g, x));
        break;
    case CLG_OP_RELU: {
        clg_t zero = clg_scalar(g, 0.0f);
        d[0] = clg_where(g, clg_gt(g, x, zero), G, zero);
        break;
    }
    case CLG_OP_LEAKY_RELU:
        d[0] = clg_where(g, clg_gt(g, x, clg_scalar(g, 0.0f)), G,
                         clg_mul_scalar(g, G, clg_param_f32(&n.params, CLG_P_SCALAR)));
        break;
    case CLG_OP_ERF: /* G * 2/sqrt(pi) * exp(-x^2) */
        d[0] = clg_mul(g, G, clg_mul_scalar(g, clg_exp(g, clg_neg(g, clg_mul(g, x, x))),
                                            (float)(2.0 / sqrt(M_PI))));
        break;
    case CLG_OP_CLAMP: { /* torch: the gradient passes where lo <= x <= hi */
        clg_t lo = clg_scalar(g, clg_param_f32(&n.params, CLG_P_SCALAR));
        clg_t hi = clg_scalar(g, clg_param_f32(&n.params, CLG_P_SCALAR2));
        d[0] = clg_mul(g, G, clg_mul(g, clg_ge(g, x, lo), clg_le(g, x, hi)));
        break;
    }
    case CLG_OP_SIGMOID: /* G * y * (1 - y) */
        d[0] = clg_mul(g, G, clg_mul(g, y, clg_add_scalar(g, clg_neg(g, y), 1.0f)));
        break;
    case CLG_OP_TANH: /* G * (1 - y^2) */
        d[0] = clg_mul(g, G, clg_add_scalar(g, clg_neg(g, clg_mul(g, y, y)), 1.0f));
        break;
    case CLG_OP_GELU:
    case CLG_OP_GELU_TANH: {
        clg_op dop = n.op == CLG_OP_GELU ? CLG_OP_GELU_GRAD : CLG_OP_GELU_TANH_GRAD;
        clg_t dx = clg__node_add(g, dop, CLG_F32, &sx, &x, 1, NULL);
        d[0] = clg_mul(g, G, dx);
        break;
    }
    case CLG_OP_SOFTPLUS:
        d[0] = clg_mul(g, G, clg_sigmoid(g, x));
        break;
    case CLG_OP_GELU_GRAD:
    case CLG_OP_GELU_TANH_GRAD:
        clg__graph_fail(g, "grad: no gradient rule for %s (a second derivative of gelu)",
                        clg_op_name(n.op));
        break;

    case CLG_OP_ADD:
    case CLG_OP_SUB:
    case CLG_OP_MUL:
    case CLG_OP_DIV:
    case CLG_OP_MAXIMUM:
    case CLG_OP_MINIMUM: {
        clg_t b = n.in[1];
        clg_shape sb = shp(g, b);
        clg_t ga = CLG_NONE, gb = CLG_NONE;
        if (n.op == CLG_OP_ADD) {
            ga = G;
            gb = need[1] ? G : CLG_NONE;
        } else if (n.op == CLG_OP_SUB) {
            ga = G;
            gb = need[1] ? clg_neg(g, G) : CLG_NONE;
        } else if (n.op == CLG_OP_MUL) {
            ga = need[0] ? clg_mul(g, G, b) : CLG_NONE;
            gb = need[1] ? clg_mul(g, G, x) : CLG_NONE;
        } else if (n.op == CLG_OP_DIV) { /* d/db (a/b) = -(a/b)/b */
            ga = need[0] ? clg_div(g, G, b) : CLG_NONE;
            gb = need[1] ? clg_neg(g, clg_div(g, clg_mul(g, G, y), b)) : CLG_NONE;
        } else {
            /* Ties split the gradient evenly, as torch does. */
            int mx = n.op == CLG_OP_MAXIMUM;
            clg_t half = clg_mul_scalar(g, clg_eq(g, x, b), 0.5f);
            if (need[0])
                ga = clg_mul(g, G, clg_add(g, mx ? clg_gt(g, x, b) : clg_lt(g, x, b), half));
            if (need[1])
                gb = clg_mul(g, G, clg_add(g, mx ? clg_lt(g, x, b) : clg_gt(g, x, b), half));
        }
        if (need[0])
            d[0] = clg__unbroadcast(g, ga, &sx);
        if (need[1])
            d[1] = clg__unbroadcast(g, gb, &sb);
        break;
    }
    case CLG_OP_WHERE: {
        clg_t m = n.in[0];
        clg_shape s1 = shp(g, n.in[1]), s2 = shp(g, n.in[2]);
        clg_t zero = clg_scalar(g, 0.0f);
        if (need[1])
            d[1] = clg__unbroadcast(g, clg_where(g, m, G, zero), &s1);
        if (need[2])
            d[2] = clg__unbroadcast(g, clg_where(g, m, zero, G), &s2);
        break;
    }
    default:
        return 0;
    }
    return 1;
}
