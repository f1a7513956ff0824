/* Reverse-mode autodiff. clg_grad appends the backward pass to the graph as
 * ordinary ops, so it is compiled, memory-planned and run like the forward
 * pass and every backend gets it for free.
 *
 * Node ids are a topological order (inputs always have smaller ids), so one
 * sweep from y down to 0 sees every node after all of its consumers: its
 * gradient is complete when the sweep reaches it. Only nodes on a path from
 * some wrt[i] to y get gradient ops. Rules follow PyTorch's derivatives. */
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHAPE_STR_LEN 192
#define SS(s) clg_shape_str((s), (char[SHAPE_STR_LEN]){ 0 }, SHAPE_STR_LEN)

typedef struct grad_ctx {
    clg_graph *g;
    clg_t *grad;         /* accumulated gradient per forward node, or CLG_NONE */
    unsigned char *live; /* on a path from a wrt to y */
} grad_ctx;

static const clg_node *nd(const clg_graph *g, clg_t t) { return &g->nodes[t]; }
static clg_shape shp(const clg_graph *g, clg_t t) { return g->nodes[t].shape; }

/* Whether input k of a node carries a gradient: the op table's grad column.
 * Masks, indices and the outputs of comparisons, casts and sign are
 * piecewise constant. */
static int diff_edge(const clg_node *n, int k)
{
    return k < 32 && ((clg_op_info_of(n->op).grad_inputs >> k) & 1u);
}

/* The summed-over-broadcast gradient: G has the broadcast shape, `to` is the
 * operand's own (right-aligned, possibly lower rank) shape. */
static clg_t unbroadcast(clg_graph *g, clg_t G, const clg_shape *to)
{
    if (G == CLG_NONE)
        return CLG_NONE;
    clg_shape s = shp(g, G);
    int lead = s.ndim - to->ndim, axes[CLG_MAX_DIMS], n = 0;
    for (int i = 0; i < s.ndim; i++) {
        int j = i - lead;
        if (j < 0 || (to->dim[j] == 1 && s.dim[i] != 1))
            axes[n++] = i;
    }
    if (n)
        G = clg_sum(g, G, axes, n, 1);
    return clg_reshape(g, G, to);
}

/* A 3-D MATMUL node: batches are 1 or equal; the output takes the larger. */
static clg_t mm3(clg_graph *g, clg_t a, clg_t b, int ta, int tb)
{
    if (a == CLG_NONE || b == CLG_NONE)
        return CLG_NONE;
    clg_shape sa = shp(g, a), sb = shp(g, b);
    int64_t M = ta ? sa.dim[2] : sa.dim[1], N = tb ? sb.dim[1] : sb.dim[2];
    int64_t B = sa.dim[0] > sb.dim[0] ? sa.dim[0] : sb.dim[0];
    clg_shape out = { .ndim = 3, .dim = { B, M, N } };
    clg_params at = clg__p_i64(CLG_P_TRANS_A, ta);
    clg_param_set_i64(&at, CLG_P_TRANS_B, tb);
    clg_t in[2] = { a, b };
    return clg__node_add(g, CLG_OP_MATMUL, CLG_F32, &out, in, 2, &at);
}

/* Sums a batched matmul gradient back over the batch its operand was
 * broadcast along. */
static clg_t unbatch(clg_graph *g, clg_t d, const clg_shape *to)
{
    if (d == CLG_NONE || shp(g, d).dim[0] == to->dim[0])
        return d;
    int ax0 = 0;
    return clg_sum(g, d, &ax0, 1, 1);
}

static int axes_of(uint32_t mask, int ndim, int *axes)
{
    int n = 0;
    for (int i = 0; i < ndim; i++)
        if (mask & (1u << i))
            axes[n++] = i;
    return n;
}

/* Adds `c` to the gradient of node j. Every rule must hand back exactly the
 * input's shape; a mismatch is a bug here, reported rather than miscomputed. */
static int accumulate(grad_ctx *a, clg_t j, clg_t c, clg_op from)
{
    clg_graph *g = a->g;
    if (c == CLG_NONE)
        return 1;
    if (!clg_shape_equal(&g->nodes[c].shape, &g->nodes[j].shape)) {
        clg__graph_fail(g, "grad: internal: %s rule gave %s for an input of %s",
                        clg_op_name(from), SS(&g->nodes[c].shape), SS(&g->nodes[j].shape));
        return 1;
    }
    a->grad[j] = a->grad[j] == CLG_NONE ? c : clg_add(g, a->grad[j], c);
    return a->grad[j] == CLG_NONE;
}

/* Gradients of node i's inputs from G, the gradient of its output. Returns
 * nonzero if the graph failed. */
static int backward(grad_ctx *a, clg_t i, clg_t G)
{
    clg_graph *g = a->g;
    const clg_node n = *nd(g, i); /* a copy: building nodes moves g->nodes */
    clg_t x = n.in[0], y = i;
    clg_shape sx = n.n_in > 0 ? shp(g, x) : (clg_shape){ 0 };
    int need[CLG_MAX_INPUTS] = { 0 };
    for (int k = 0; k < n.n_in; k++)
        need[k] = a->live[n.in[k]] && diff_edge(&n, k);
    clg_t d[CLG_MAX_INPUTS];
    for (int k = 0; k < CLG_MAX_INPUTS; k++)
        d[k] = CLG_NONE;
    clg_t zero = CLG_NONE;

    switch (n.op) {
    case CLG_OP_COPY:
    case CLG_OP_ADD_SCALAR:
        d[0] = G;
        break;
    case CLG_OP_RESHAPE:
        d[0] = clg_reshape(g, G, &sx);
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
    case CLG_OP_RELU:
        zero = clg_scalar(g, 0.0f);
        d[0] = clg_where(g, clg_gt(g, x, zero), G, zero);
        break;
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
            d[0] = unbroadcast(g, ga, &sx);
        if (need[1])
            d[1] = unbroadcast(g, gb, &sb);
        break;
    }
    case CLG_OP_WHERE: {
        clg_t m = n.in[0];
        clg_shape s1 = shp(g, n.in[1]), s2 = shp(g, n.in[2]);
        zero = clg_scalar(g, 0.0f);
        if (need[1])
            d[1] = unbroadcast(g, clg_where(g, m, G, zero), &s1);
        if (need[2])
            d[2] = unbroadcast(g, clg_where(g, m, zero, G), &s2);
        break;
    }

    case CLG_OP_SUM:
        d[0] = clg_expand(g, G, &sx);
        break;
    case CLG_OP_MEAN: {
        double count = (double)clg_shape_numel(&sx) / (double)clg_shape_numel(&n.shape);
        d[0] = clg_expand(g, clg_mul_scalar(g, G, (float)(1.0 / count)), &sx);
        break;
    }
    case CLG_OP_MAX: { /* torch.amax: split evenly among tied maxima */
        int axes[CLG_MAX_DIMS], na = axes_of((uint32_t)clg_param_i64(&n.params, CLG_P_AXES), sx.ndim, axes);
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

    case CLG_OP_MATMUL: {
        /* out = op_a(A) op_b(B); for each transpose combination, the product
         * that lands directly in the stored layout of A and of B. */
        clg_t A = n.in[0], B = n.in[1];
        int ta = clg_param_int(&n.params, CLG_P_TRANS_A) != 0, tb = clg_param_int(&n.params, CLG_P_TRANS_B) != 0;
        clg_shape sa = shp(g, A), sb = shp(g, B);
        if (need[0]) {
            clg_t da = !ta ? mm3(g, G, B, 0, !tb) : tb ? mm3(g, B, G, 1, 1) : mm3(g, B, G, 0, 1);
            d[0] = unbatch(g, da, &sa);
        }
        if (need[1]) {
            clg_t db = !tb ? mm3(g, A, G, !ta, 0) : ta ? mm3(g, G, A, 1, 1) : mm3(g, G, A, 1, 0);
            d[1] = unbatch(g, db, &sb);
        }
        break;
    }

    case CLG_OP_PERMUTE: {
        int inv[CLG_MAX_DIMS];
        for (int k = 0; k < sx.ndim; k++)
            inv[clg_param_int(&n.params, CLG_P_PERM + k)] = k;
        d[0] = clg_permute(g, G, inv);
        break;
    }
    case CLG_OP_EXPAND:
        d[0] = unbroadcast(g, G, &sx);
        break;
    case CLG_OP_SLICE:
    case CLG_OP_PAD: {
        /* each is the other's adjoint, with the same offsets */
        d[0] = clg__node_add(g, n.op == CLG_OP_SLICE ? CLG_OP_PAD : CLG_OP_SLICE, CLG_F32, &sx,
                             &G, 1, &n.params);
        break;
    }
    case CLG_OP_CONCAT: {
        int ax = clg_param_int(&n.params, CLG_P_AXIS);
        int64_t off = 0;
        for (int k = 0; k < n.n_in; k++) {
            int64_t len = shp(g, n.in[k]).dim[ax];
            if (need[k])
                d[k] = clg_slice(g, G, ax, off, off + len);
            off += len;
        }
        break;
    }
    case CLG_OP_GATHER:
        d[0] = clg_scatter_add(g, G, n.in[1], clg_param_int(&n.params, CLG_P_AXIS), &sx);
        break;
    case CLG_OP_SCATTER_ADD:
        d[0] = clg_gather(g, G, n.in[1], clg_param_int(&n.params, CLG_P_AXIS));
        break;

    case CLG_OP_GELU_GRAD:
    case CLG_OP_GELU_TANH_GRAD:
        clg__graph_fail(g, "grad: no gradient rule for %s (a second derivative of gelu)",
                        clg_op_name(n.op));
        return 1;
    default:
        /* Every op whose edges diff_edge() lets through is handled above. */
        for (int k = 0; k < n.n_in; k++) {
            if (need[k]) {
                clg__graph_fail(g, "grad: internal: no gradient rule for %s",
                                clg_op_name(n.op));
                return 1;
            }
        }
        break;
    }
    if (g->err != CLG_OK)
        return 1;
    for (int k = 0; k < n.n_in; k++)
        if (need[k] && d[k] != CLG_NONE && accumulate(a, n.in[k], d[k], n.op))
            return 1;
    return 0;
}

static int handle_ok(const clg_graph *g, clg_t t) { return t >= 0 && t < g->n; }

static clg_status gfail(clg_graph *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static clg_status gfail(clg_graph *g, const char *fmt, ...)
{
    char msg[CLG_ERRMSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    clg__graph_fail(g, "grad: %s", msg);
    return g->err;
}

clg_status clg_grad(clg_graph *g, clg_t y, clg_t seed, const clg_t *wrt, int n,
                    clg_t *grads)
{
    if (!g)
        return CLG_ERR_INVALID;
    if (grads)
        for (int i = 0; i < n; i++)
            grads[i] = CLG_NONE;
    if (g->err != CLG_OK) {
        if (g->ctx)
            clg_ctx_set_error(g->ctx, g->err, "%s", g->errmsg);
        return g->err;
    }
    if (n < 0 || (n > 0 && (!wrt || !grads)))
        return gfail(g, "bad wrt list (%d tensors%s)", n,
                     n > 0 ? ", wrt or grads is NULL" : "");
    if (!handle_ok(g, y))
        return gfail(g, "y (%d) is not a tensor of this graph", (int)y);
    clg_shape sy = shp(g, y);
    if (nd(g, y)->dtype != CLG_F32)
        return gfail(g, "y must be f32, got i32 %s", SS(&sy));
    if (seed != CLG_NONE) {
        if (!handle_ok(g, seed))
            return gfail(g, "seed (%d) is not a tensor of this graph", (int)seed);
        if (nd(g, seed)->dtype != CLG_F32 || !clg_shape_equal(&g->nodes[seed].shape, &sy))
            return gfail(g, "seed must be f32 %s like y, got %s %s", SS(&sy),
                         clg_dtype_name(nd(g, seed)->dtype),
                         SS(&g->nodes[seed].shape));
    } else if (clg_shape_numel(&sy) != 1) {
        return gfail(g, "y is %s; without a seed it must have one element",
                     SS(&sy));
    }
    for (int i = 0; i < n; i++) {
        if (!handle_ok(g, wrt[i]))
            return gfail(g, "wrt[%d] (%d) is not a tensor of this graph", i,
                         (int)wrt[i]);
        const clg_node *w = nd(g, wrt[i]);
        if (w->dtype != CLG_F32) {
            const char *what = w->op == CLG_OP_INPUT ? w->name
                               : w->op == CLG_OP_PARAM ? w->store->e[w->store_idx].name
                                                       : clg_op_name(w->op);
            return gfail(g, "wrt[%d] ('%s', i32 %s) is not f32; only f32 "
                         "tensors have gradients", i, what, SS(&w->shape));
        }
    }

    int n0 = g->n;
    grad_ctx a = { .g = g };
    a.grad = malloc((size_t)n0 * sizeof *a.grad);
    a.live = calloc((size_t)n0, 1);
    unsigned char *up = calloc((size_t)n0, 1);
    if (!a.grad || !a.live || !up) {
        free(a.grad);
        free(a.live);
        free(up);
        return clg_ctx_set_error(g->ctx, CLG_ERR_NOMEM, "grad: out of memory for %d nodes", n0);
    }
    for (int i = 0; i < n0; i++)
        a.grad[i] = CLG_NONE;

    /* live = reachable from a wrt through differentiable f32 edges, and an
     * ancestor of y. */
    for (int i = 0; i < n; i++)
        a.live[wrt[i]] = 1;
    for (int i = 0; i <= y; i++) {
        const clg_node *v = nd(g, i);
        if (a.live[i] || v->dtype != CLG_F32)
            continue;
        for (int k = 0; k < v->n_in; k++)
            if (a.live[v->in[k]] && diff_edge(v, k))
                a.live[i] = 1;
    }
    up[y] = 1;
    for (int i = y; i >= 0; i--) {
        if (!up[i])
            continue;
        for (int k = 0; k < nd(g, i)->n_in; k++)
            up[nd(g, i)->in[k]] = 1;
    }
    for (int i = 0; i < n0; i++)
        a.live[i] &= up[i];
    free(up);

    if (a.live[y])
        a.grad[y] = seed != CLG_NONE ? seed : clg_full(g, &sy, 1.0f);
    for (int i = y; i >= 0 && g->err == CLG_OK; i--) {
        if (!a.live[i] || a.grad[i] == CLG_NONE)
            continue;
        if (backward(&a, i, a.grad[i]))
            break;
    }
    for (int i = 0; i < n && g->err == CLG_OK; i++) {
        clg_t gw = a.grad[wrt[i]];
        if (gw == CLG_NONE) {
            clg_shape sw = shp(g, wrt[i]);
            gw = clg_full(g, &sw, 0.0f);
        }
        grads[i] = gw;
    }
    free(a.grad);
    free(a.live);
    if (g->err != CLG_OK) {
        for (int i = 0; i < n; i++)
            grads[i] = CLG_NONE;
        return g->err;
    }
    return CLG_OK;
}
