/* What a backend is asked: each graph node as the clg_bk_op a backend sees
 * (broadcast operands right-aligned to the output's rank), whether the
 * backend runs it, and the lowering of composite ops it does not run.
 *
 * Lowering rewrites the graph into a copy in which every composite op the
 * backend refuses is replaced by primitives (see the op table's kind
 * column), so a new backend needs only the minimal set. It runs at compile
 * time, after autodiff: gradients are built from the composite op's own
 * rule, and only their arithmetic is spelled out in primitives. */
#include "plan_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_broadcasting(const clg_node *n)
{
    clg_op_info info = clg_op_info_of(n->op);
    return info.family == CLG_FAMILY_ELEMENTWISE && info.arity >= 2;
}

static clg_bk_tensor bk_tensor(const clg_node *n)
{
    clg_bk_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = n->dtype;
    t.ndim = n->shape.ndim;
    for (int i = 0; i < n->shape.ndim; i++)
        t.dim[i] = n->shape.dim[i];
    return t;
}

int clg__bk_op_init(const clg_graph *g, int id, clg_bk_op *op)
{
    const clg_node *nd = &g->nodes[id];
    memset(op, 0, sizeof *op);
    op->op = nd->op;
    op->n_in = nd->n_in;
    op->params = nd->params;
    op->out = bk_tensor(nd);
    for (int k = 0; k < nd->n_in; k++) {
        const clg_node *in = &g->nodes[nd->in[k]];
        clg_bk_tensor t = bk_tensor(in);
        if (is_broadcasting(nd)) {
            int pad = nd->shape.ndim - in->shape.ndim;
            if (pad < 0)
                return k;
            t.ndim = nd->shape.ndim;
            for (int d = 0; d < t.ndim; d++)
                t.dim[d] = d < pad ? 1 : in->shape.dim[d - pad];
        }
        op->in[k] = t;
    }
    return -1;
}

int clg__backend_runs(const clg_device *dev, const clg_bk_op *op)
{
    const clg_backend *vt = dev->vt;
    if (!clg_op_is_kernel(op->op) || (uint32_t)op->op >= vt->op_table_version)
        return 0;
    return vt->supports(dev->bk, op) != 0;
}

/* 1 if node id is a composite op the device's backend does not run. */
static int needs_lowering(const clg_graph *g, int id, const clg_device *dev)
{
    const clg_node *nd = &g->nodes[id];
    if (clg_op_info_of(nd->op).kind != CLG_OPKIND_COMPOSITE)
        return 0;
    clg_bk_op op;
    if (clg__bk_op_init(g, id, &op) >= 0)
        return 0; /* malformed: the compiler reports it */
    return !clg__backend_runs(dev, &op);
}

/* ------------------------------------------------------------ the rules */

static clg_t scalar_op(clg_graph *g, clg_t x, float a, float b)
{
    /* a * x + b, skipping the identities */
    if (a != 1.0f)
        x = clg_mul_scalar(g, x, a);
    if (b != 0.0f)
        x = clg_add_scalar(g, x, b);
    return x;
}

/* Cross-entropy rows and their gradient, in primitives: log_softmax's
 * lowering, gather (ignored rows read class 0, then masked) and one_hot. */
static clg_t lower_xent(clg_graph *g, const clg_node *n, const clg_t *in)
{
    clg_t x = in[0], t = in[1];
    int ax = 1;
    int32_t ign = (int32_t)clg_param_i64(&n->params, CLG_P_IGNORE);
    const clg_shape xs = g->nodes[x].shape, *s = &xs; /* a copy: adding nodes moves them */
    clg_t mask = clg_ne(g, t, clg_const(g, CLG_I32, &(clg_shape){ 0 }, &ign));
    clg_t safe = clg_cast(g, clg_mul(g, clg_cast(g, t, CLG_F32), mask), CLG_I32);
    clg_t shifted = clg_sub(g, x, clg_max(g, x, &ax, 1, 1));
    clg_t e = clg_exp(g, shifted);
    clg_t total = clg_sum(g, e, &ax, 1, 1);
    if (n->op == CLG_OP_CROSS_ENTROPY) {
        clg_t logp = clg_sub(g, shifted, clg_log(g, total));
        clg_t picked = clg_reshape(g, clg_gather(g, logp, clg_reshape(g, safe, &CLG_SHAPE(s->dim[0], 1)), 1),
                                   &CLG_SHAPE(s->dim[0]));
        return clg_neg(g, clg_mul(g, picked, mask));
    }
    clg_t gm = clg_reshape(g, clg_mul(g, in[2], mask), &CLG_SHAPE(s->dim[0], 1));
    return clg_mul(g, clg_sub(g, clg_div(g, e, total), clg_one_hot(g, safe, s->dim[1])), gm);
}

/* Max pooling's index in primitives: argmax over im2col's windows, then
 * the window offset k turned into the plane index base[l] + (k / KW) * DH *
 * W + (k % KW) * DW in f32 (exact: every value is below 2^23, checked).
 * Padding must never win a tie, so x is raised to -FLT_MAX first (NaN
 * stays NaN) and only padding reads -inf. */
static clg_t lower_pool_index(clg_graph *g, const clg_node *n, clg_t x)
{
    const clg_shape xs = g->nodes[x].shape, *s = &xs; /* a copy: adding nodes moves them */
    clg_window2d w;
    clg__window_of(&n->params, &w);
    const int64_t nn = s->dim[0], c = s->dim[1], wd = s->dim[3];
    const int64_t oh = n->shape.dim[2], ow = n->shape.dim[3], l = oh * ow;
    const int64_t kk = (int64_t)w.kernel[0] * w.kernel[1];
    if ((s->dim[2] + 2 * (int64_t)w.pad[0]) * (wd + 2 * (int64_t)w.pad[1]) >= (1 << 23))
        return clg__graph_fail(g, "lower: max_pool2d_index: an image plane of %lldx%lld is too "
                               "large for the primitives' f32 index arithmetic",
                               (long long)s->dim[2], (long long)wd);
    float *base = malloc((size_t)l * sizeof *base);
    if (!base)
        return clg__graph_fail(g, "lower: out of memory");
    for (int64_t i = 0; i < oh; i++)
        for (int64_t j = 0; j < ow; j++)
            base[i * ow + j] = (float)((i * w.stride[0] - w.pad[0]) * wd +
                                       (j * w.stride[1] - w.pad[1]));
    clg_t t_base = clg_const(g, CLG_F32, &CLG_SHAPE(l), base);
    free(base);
    clg_t raised = clg_maximum(g, x, clg_scalar(g, -FLT_MAX));
    clg_t cols = clg_reshape(g, clg_im2col(g, raised, &w, -INFINITY), &CLG_SHAPE(nn, c, kk, l));
    clg_t k = clg_cast(g, clg_argmax(g, cols, 2, 0), CLG_F32); /* [N, C, L] */
    clg_t kh = clg_cast(g, clg_cast(g, clg_div(g, k, clg_scalar(g, (float)w.kernel[1])), CLG_I32),
                        CLG_F32);
    clg_t kw = clg_sub(g, k, clg_mul_scalar(g, kh, (float)w.kernel[1]));
    clg_t at = clg_add(g, t_base, clg_add(g, clg_mul_scalar(g, kh, (float)(w.dilation[0] * wd)),
                                          clg_mul_scalar(g, kw, (float)w.dilation[1])));
    return clg_reshape(g, clg_cast(g, at, CLG_I32), &n->shape);
}

/* Batch norm's ops in primitives: means and sums over every dim but 1, the
 * [C] rows broadcast as [C, 1, ...] (the form the layer used before the
 * ops existed, which fuses into per-channel programs). */
static clg_t lower_bn(clg_graph *g, const clg_node *n, const clg_t *in)
{
    const clg_t x = n->op == CLG_OP_BN_GRAD_SUMS ? in[1] : in[0];
    const clg_shape xs = g->nodes[x].shape, *sx = &xs; /* a copy: adding nodes moves them */
    const int64_t c = sx->dim[1];
    int axes[CLG_MAX_DIMS], na = 0;
    for (int i = 0; i < sx->ndim; i++)
        if (i != 1)
            axes[na++] = i;
    if (n->op == CLG_OP_BN_STATS) {
        /* sum / count, as MEAN's own lowering (the output must be primitives) */
        clg_t count = clg_scalar(g, (float)(clg_shape_numel(sx) / c));
        clg_t mean = clg_div(g, clg_sum(g, x, axes, na, 0), count);
        clg_t xc = clg_sub(g, x, clg__per_channel(g, mean, sx));
        clg_t var = clg_div(g, clg_sum(g, clg_mul(g, xc, xc), axes, na, 0), count);
        return clg__stats_of(g, mean, var, c);
    }
    const clg_t stats = n->op == CLG_OP_BN_APPLY ? in[1] : in[2];
    clg_t xc = clg_sub(g, x, clg__per_channel(g, clg__stats_row(g, stats, 0, c), sx));
    if (n->op == CLG_OP_BN_APPLY) {
        clg_t var = clg__stats_row(g, stats, 1, c);
        clg_t inv = clg_rsqrt(g, clg_add_scalar(g, var, clg_param_f32(&n->params, CLG_P_SCALAR)));
        clg_t scale = clg__per_channel(g, clg_mul(g, inv, in[2]), sx);
        return clg_add(g, clg_mul(g, xc, scale), clg__per_channel(g, in[3], sx));
    }
    return clg__stats_of(g, clg_sum(g, in[0], axes, na, 0),
                         clg_sum(g, clg_mul(g, in[0], xc), axes, na, 0), c);
}

/* Layer norm's ops in primitives, over the last dim (means as sum / D). */
static clg_t lower_ln(clg_graph *g, const clg_node *n, const clg_t *in)
{
    const clg_t x = n->op == CLG_OP_LN_NORM ? in[0] : in[1];
    const clg_shape xs = g->nodes[x].shape, *sx = &xs; /* a copy: adding nodes moves them */
    int last = sx->ndim - 1;
    const clg_t d = clg_scalar(g, (float)sx->dim[last]);
    clg_t xc = clg_sub(g, x, clg_div(g, clg_sum(g, x, &last, 1, 1), d));
    clg_t var = clg_div(g, clg_sum(g, clg_mul(g, xc, xc), &last, 1, 1), d);
    clg_t rstd = clg_rsqrt(g, clg_add_scalar(g, var, clg_param_f32(&n->params, CLG_P_SCALAR)));
    clg_t xhat = clg_mul(g, xc, rstd);
    if (n->op == CLG_OP_LN_NORM)
        return xhat;
    const clg_t G = in[0];
    clg_t a = clg_div(g, clg_sum(g, G, &last, 1, 1), d);
    clg_t b = clg_div(g, clg_sum(g, clg_mul(g, G, xhat), &last, 1, 1), d);
    return clg_mul(g, rstd, clg_sub(g, clg_sub(g, G, a), clg_mul(g, xhat, b)));
}

/* conv2d and its gradients, in exactly the primitives the layers built
 * before the ops existed (and autodiff derived from them), so a backend
 * without the ops computes the very same bits as before: im2col + one GEMM
 * per image for one group, the grouped form through permutes otherwise;
 * col2im for the input's gradient, im2col + GEMM + a sum over the batch for
 * the weight's. */

/* x's columns: the im2col the lowered graph already holds for x and this
 * window (the forward's, which the weight's gradient reads again, as the
 * graph built from primitives shared it), else a new one. */
static clg_t columns(clg_graph *g, clg_t x, const clg_window2d *w)
{
    const clg_params p = clg__window_params(w);
    for (int i = g->n - 1; i >= 0 && g->err == CLG_OK; i--) {
        const clg_node *c = &g->nodes[i];
        if (c->op == CLG_OP_IM2COL && c->n_in == 1 && c->in[0] == x &&
            !memcmp(&c->params, &p, sizeof p))
            return i; /* the lowered graph's handles are plain indices */
    }
    return clg_im2col(g, x, w, 0.0f);
}

static clg_t lower_conv(clg_graph *g, const clg_node *n, const clg_t *in)
{
    static const int to_g[4] = { 1, 2, 0, 3 }, to_n[4] = { 2, 0, 1, 3 };
    clg_window2d win;
    int groups;
    clg__conv_window(&n->params, &win, &groups);
    /* x, w and y of the forward op, whichever of them this one takes or gives */
    const clg_shape ws = n->op == CLG_OP_CONV2D_GRAD_WEIGHT ? n->shape : g->nodes[in[1]].shape;
    const clg_shape xs = n->op == CLG_OP_CONV2D_GRAD_INPUT ? n->shape : g->nodes[in[0]].shape;
    const clg_shape ys = n->op == CLG_OP_CONV2D ? n->shape
                         : n->op == CLG_OP_CONV2D_GRAD_INPUT ? g->nodes[in[0]].shape
                                                             : g->nodes[in[1]].shape;
    const int64_t nb = xs.dim[0], o = ws.dim[0], og = o / groups, l = ys.dim[2] * ys.dim[3];
    const int64_t m = ws.dim[1] * ws.dim[2] * ws.dim[3];
    const clg_shape cols_s = CLG_SHAPE(nb, groups * m, l);
    switch (n->op) {
    case CLG_OP_CONV2D: {
        clg_t cols = columns(g, in[0], &win), y;
        if (groups == 1) {
            y = clg_matmul(g, clg_reshape(g, in[1], &CLG_SHAPE(o, m)), cols, 0, 0);
        } else { /* per group: [G, O/G, M] @ [G, M, N*L] */
            clg_t c4 = clg_permute(g, clg_reshape(g, cols, &CLG_SHAPE(nb, groups, m, l)), to_g);
            clg_t yg = clg_matmul(g, clg_reshape(g, in[1], &CLG_SHAPE(groups, og, m)),
                                  clg_reshape(g, c4, &CLG_SHAPE(groups, m, nb * l)), 0, 0);
            y = clg_permute(g, clg_reshape(g, yg, &CLG_SHAPE(groups, og, nb, l)), to_n);
        }
        return clg_reshape(g, y, &n->shape);
    }
    case CLG_OP_CONV2D_GRAD_INPUT: {
        clg_t dcols;
        if (groups == 1) {
            dcols = clg_matmul(g, clg_reshape(g, in[1], &CLG_SHAPE(o, m)),
                               clg_reshape(g, in[0], &CLG_SHAPE(nb, o, l)), 1, 0);
        } else {
            clg_t gy = clg_permute(g, clg_reshape(g, in[0], &CLG_SHAPE(nb, groups, og, l)), to_g);
            clg_t dg = clg_matmul(g, clg_reshape(g, in[1], &CLG_SHAPE(groups, og, m)),
                                  clg_reshape(g, gy, &CLG_SHAPE(groups, og, nb * l)), 1, 0);
            dcols = clg_permute(g, clg_reshape(g, dg, &CLG_SHAPE(groups, m, nb, l)), to_n);
        }
        return clg_col2im(g, clg_reshape(g, dcols, &cols_s), &win, &n->shape);
    }
    case CLG_OP_CONV2D_GRAD_WEIGHT: {
        clg_t cols = columns(g, in[0], &win), dw;
        if (groups == 1) {
            int ax0 = 0;
            dw = clg_sum(g, clg_matmul(g, clg_reshape(g, in[1], &CLG_SHAPE(nb, o, l)), cols, 0, 1),
                         &ax0, 1, 1);
        } else {
            clg_t c4 = clg_permute(g, clg_reshape(g, cols, &CLG_SHAPE(nb, groups, m, l)), to_g);
            clg_t gy = clg_permute(g, clg_reshape(g, in[1], &CLG_SHAPE(nb, groups, og, l)), to_g);
            dw = clg_matmul(g, clg_reshape(g, gy, &CLG_SHAPE(groups, og, nb * l)),
                            clg_reshape(g, c4, &CLG_SHAPE(groups, m, nb * l)), 0, 1);
        }
        return clg_reshape(g, dw, &n->shape);
    }
    default:
        return CLG_NONE;
    }
}

/* Primitives computing composite node `n` of the source graph on its inputs
 * in[] (already in the new graph). */
/* sigmoid in primitives, as its own lowering below */
static clg_t prim_sigmoid(clg_graph *g, clg_t x)
{
    return clg_pow_scalar(g, clg_add_scalar(g, clg_exp(g, clg_neg(g, x)), 1.0f), -1.0f);
}

/* Step t of a [N, T, H] sequence as [N, H]. */
static clg_t step_of(clg_graph *g, clg_t seq, int64_t t, int64_t b, int64_t w)
{
    return clg_reshape(g, clg_slice(g, seq, 1, t, t + 1), &CLG_SHAPE(b, w));
}

/* [N, W] pieces, one per step, joined into [N, T, W]. */
static clg_t join_steps(clg_graph *g, clg_t *piece, int64_t t, int64_t b, int64_t w)
{
    for (int64_t k = 0; k < t; k++)
        piece[k] = clg_reshape(g, piece[k], &CLG_SHAPE(b, 1, w));
    return t == 1 ? piece[0] : clg_concat(g, piece, (int)t, 1);
}

/* An LSTM's recurrence step by step: a matmul with w_hh and the gates'
 * elementwise ops per step (what the layer built before the op existed),
 * the seven planes (after each one's zero state) then stacked; its gradient likewise, backwards in time. */
static clg_t lower_lstm(clg_graph *g, const clg_node *n, const clg_t *in)
{
    const clg_shape os = n->shape; /* a copy: adding nodes moves them */
    const int forward = n->op == CLG_OP_LSTM_SCAN;
    const int64_t b = os.dim[forward], t = forward ? os.dim[2] - 1 : os.dim[1];
    const int64_t h = forward ? os.dim[3] : os.dim[2] / 4;
    const clg_t w = in[forward ? 1 : 2];
    clg_t *piece = malloc((size_t)(7 * (t + 1)) * sizeof *piece);
    if (!piece)
        return clg__graph_fail(g, "lower: out of memory");
    clg_t out = CLG_NONE;
    if (forward) {
        /* index 0 of every plane: the zero state */
        clg_t hs = clg_full(g, &CLG_SHAPE(b, h), 0.0f), cs = hs;
        for (int p = 0; p < 7; p++)
            piece[p * (t + 1)] = hs;
        for (int64_t k = 0; k < t; k++) {
            clg_t a = clg_add(g, step_of(g, in[0], k, b, 4 * h), clg_matmul(g, hs, w, 0, 1));
            clg_t gi = prim_sigmoid(g, clg_slice(g, a, 1, 0, h));
            clg_t gf = prim_sigmoid(g, clg_slice(g, a, 1, h, 2 * h));
            clg_t gg = clg_tanh(g, clg_slice(g, a, 1, 2 * h, 3 * h));
            clg_t go = prim_sigmoid(g, clg_slice(g, a, 1, 3 * h, 4 * h));
            cs = clg_add(g, clg_mul(g, gf, cs), clg_mul(g, gi, gg));
            clg_t tc = clg_tanh(g, cs);
            hs = clg_mul(g, go, tc);
            const clg_t plane[7] = { hs, cs, gi, gf, gg, go, tc };
            for (int p = 0; p < 7; p++)
                piece[p * (t + 1) + k + 1] = plane[p];
        }
        clg_t planes[7];
        for (int p = 0; p < 7; p++)
            planes[p] = clg_reshape(g, join_steps(g, piece + p * (t + 1), t + 1, b, h),
                                    &CLG_SHAPE(1, b, t + 1, h));
        out = clg_concat(g, planes, 7, 0);
    } else {
        /* y's planes as [N, T + 1, H] sequences: step k at k + 1 */
        clg_t pl[7];
        for (int p = 0; p < 7; p++)
            pl[p] = clg_reshape(g, clg_slice(g, in[0], 0, p, p + 1), &CLG_SHAPE(b, t + 1, h));
        clg_t dh_next = CLG_NONE, dc_next = CLG_NONE;
        for (int64_t k = t - 1; k >= 0; k--) {
            clg_t gi = step_of(g, pl[2], k + 1, b, h);
            clg_t gf = step_of(g, pl[3], k + 1, b, h), gg = step_of(g, pl[4], k + 1, b, h);
            clg_t go = step_of(g, pl[5], k + 1, b, h), tc = step_of(g, pl[6], k + 1, b, h);
            clg_t dh = step_of(g, in[1], k, b, h);
            if (dh_next != CLG_NONE)
                dh = clg_add(g, dh, dh_next);
            /* d sigmoid = s (1 - s), d tanh = 1 - tanh^2, as values of the outputs */
            clg_t d_o = clg_mul(g, clg_mul(g, dh, tc), clg_mul(g, go, scalar_op(g, go, -1.0f, 1.0f)));
            clg_t dc = clg_mul(g, clg_mul(g, dh, go), scalar_op(g, clg_mul(g, tc, tc), -1.0f, 1.0f));
            if (dc_next != CLG_NONE)
                dc = clg_add(g, dc, dc_next);
            clg_t d_i = clg_mul(g, clg_mul(g, dc, gg), clg_mul(g, gi, scalar_op(g, gi, -1.0f, 1.0f)));
            clg_t d_g = clg_mul(g, clg_mul(g, dc, gi), scalar_op(g, clg_mul(g, gg, gg), -1.0f, 1.0f));
            clg_t d_f = clg_mul(g, clg_mul(g, dc, step_of(g, pl[1], k, b, h)),
                                clg_mul(g, gf, scalar_op(g, gf, -1.0f, 1.0f)));
            dc_next = clg_mul(g, dc, gf);
            const clg_t parts[4] = { d_i, d_f, d_g, d_o };
            piece[k] = clg_concat(g, parts, 4, 1);
            if (k > 0)
                dh_next = clg_matmul(g, piece[k], w, 0, 0);
        }
        out = join_steps(g, piece, t, b, 4 * h);
    }
    free(piece);
    return out;
}

static clg_t lower_node(clg_graph *g, const clg_node *n, const clg_t *in)
{
    const clg_t x = in[0];
    const float k_tanh = 0.7978845608028654f; /* sqrt(2 / pi) */
    const float c_tanh = 0.044715f;
    switch (n->op) {
    case CLG_OP_SIGMOID: /* 1 / (1 + e^-x) */
        return clg_pow_scalar(g, clg_add_scalar(g, clg_exp(g, clg_neg(g, x)), 1.0f), -1.0f);
    case CLG_OP_GELU: /* x/2 (1 + erf(x / sqrt 2)) */
        return clg_mul(g, clg_mul_scalar(g, x, 0.5f),
                       clg_add_scalar(g, clg_erf(g, clg_mul_scalar(g, x, (float)M_SQRT1_2)),
                                      1.0f));
    case CLG_OP_GELU_GRAD: { /* Phi(x) + x phi(x) */
        clg_t cdf = scalar_op(g, clg_erf(g, clg_mul_scalar(g, x, (float)M_SQRT1_2)), 0.5f,
                              0.5f);
        clg_t pdf = clg_mul_scalar(g, clg_exp(g, clg_mul_scalar(g, clg_mul(g, x, x), -0.5f)),
                                   (float)(1.0 / sqrt(2.0 * M_PI)));
        return clg_add(g, cdf, clg_mul(g, x, pdf));
    }
    case CLG_OP_GELU_TANH:
    case CLG_OP_GELU_TANH_GRAD: {
        /* u = k (x + c x^3), t = tanh u; y = x/2 (1 + t);
         * y' = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 c x^2) */
        clg_t x2 = clg_mul(g, x, x);
        clg_t u = clg_mul_scalar(g, clg_add(g, x, clg_mul_scalar(g, clg_mul(g, x2, x), c_tanh)),
                                 k_tanh);
        clg_t t = clg_tanh(g, u);
        clg_t half_x = clg_mul_scalar(g, x, 0.5f);
        if (n->op == CLG_OP_GELU_TANH)
            return clg_mul(g, half_x, clg_add_scalar(g, t, 1.0f));
        clg_t sech2 = scalar_op(g, clg_mul(g, t, t), -1.0f, 1.0f);
        clg_t du = scalar_op(g, x2, 3.0f * c_tanh * k_tanh, k_tanh);
        return clg_add(g, scalar_op(g, t, 0.5f, 0.5f), clg_mul(g, half_x, clg_mul(g, sech2, du)));
    }
    case CLG_OP_SOFTPLUS: /* relu(x) + log(1 + e^-|x|): never overflows */
        return clg_add(g, clg_relu(g, x),
                       clg_log(g, clg_add_scalar(g, clg_exp(g, clg_neg(g, clg_abs(g, x))), 1.0f)));
    case CLG_OP_CLAMP: {
        clg_t lo = clg_scalar(g, clg_param_f32(&n->params, CLG_P_SCALAR));
        clg_t hi = clg_scalar(g, clg_param_f32(&n->params, CLG_P_SCALAR2));
        return clg_minimum(g, clg_maximum(g, x, lo), hi);
    }
    case CLG_OP_MEAN: {
        uint32_t mask = (uint32_t)clg_param_i64(&n->params, CLG_P_AXES);
        const clg_shape xs = g->nodes[x].shape, *s = &xs; /* a copy: adding nodes moves them */
        int axes[CLG_MAX_DIMS], na = 0;
        int64_t count = 1;
        for (int i = 0; i < s->ndim; i++) {
            if (mask & (1u << i)) {
                axes[na++] = i;
                count *= s->dim[i];
            }
        }
        /* sum / n, as torch.mean divides */
        return clg_div(g, clg_sum(g, x, axes, na, 1), clg_scalar(g, (float)count));
    }
    case CLG_OP_CROSS_ENTROPY:
    case CLG_OP_CROSS_ENTROPY_GRAD:
        return lower_xent(g, n, in);
    case CLG_OP_MAX_POOL2D_INDEX:
        return lower_pool_index(g, n, x);
    case CLG_OP_BN_STATS:
    case CLG_OP_BN_APPLY:
    case CLG_OP_BN_GRAD_SUMS:
        return lower_bn(g, n, in);
    case CLG_OP_LN_NORM:
    case CLG_OP_LN_NORM_GRAD:
        return lower_ln(g, n, in);
    case CLG_OP_CONV2D:
    case CLG_OP_CONV2D_GRAD_INPUT:
    case CLG_OP_CONV2D_GRAD_WEIGHT:
        return lower_conv(g, n, in);
    case CLG_OP_LSTM_SCAN:
    case CLG_OP_LSTM_SCAN_GRAD:
        return lower_lstm(g, n, in);
    case CLG_OP_INDEX_SELECT:
    case CLG_OP_INDEX_ADD: { /* gather / scatter_add on the ids expanded to rows */
        const clg_shape os = n->shape; /* a copy: adding nodes moves them */
        const int64_t k = g->nodes[in[1]].shape.dim[0];
        clg_t idx = clg_expand(g, clg_reshape(g, in[1], &CLG_SHAPE(k, 1)),
                               &CLG_SHAPE(k, os.dim[1]));
        return n->op == CLG_OP_INDEX_SELECT ? clg_gather(g, in[0], idx, 0)
                                            : clg_scatter_add(g, in[0], idx, 0, &os);
    }
    case CLG_OP_SOFTMAX:
    case CLG_OP_LOG_SOFTMAX: {
        int ax = clg_param_int(&n->params, CLG_P_AXIS);
        clg_t shifted = clg_sub(g, x, clg_max(g, x, &ax, 1, 1));
        clg_t e = clg_exp(g, shifted);
        clg_t total = clg_sum(g, e, &ax, 1, 1);
        if (n->op == CLG_OP_SOFTMAX)
            return clg_div(g, e, total);
        return clg_sub(g, shifted, clg_log(g, total));
    }
    default:
        return clg__graph_fail(g, "lower: internal: no lowering for composite op %s",
                               clg_op_name(n->op));
    }
}

/* ------------------------------------------------------------ the copy */

static clg_t copy_node(clg_graph *dst, const clg_node *n, const clg_t *in)
{
    clg_t t = clg__node_add(dst, n->op, n->dtype, &n->shape, in, n->n_in, &n->params);
    if (t == CLG_NONE)
        return CLG_NONE;
    clg_node *c = &dst->nodes[t];
    c->store = n->store;
    c->store_idx = n->store_idx;
    if (n->name && !(c->name = strdup(n->name)))
        return clg__graph_fail(dst, "lower: out of memory");
    if (n->op == CLG_OP_CONST && n->data) {
        size_t bytes = (size_t)clg_shape_numel(&n->shape) * clg_dtype_size(n->dtype);
        c->data = malloc(bytes ? bytes : 1);
        if (!c->data)
            return clg__graph_fail(dst, "lower: out of memory");
        memcpy(c->data, n->data, bytes);
    }
    return t;
}

clg_status clg__lower(const clg_graph *g, const clg_device *dev, const char *need,
                      clg_graph **out, clg_t **map_out)
{
    *out = NULL;
    *map_out = NULL;
    int any = 0;
    for (int i = 0; i < g->n && !any; i++)
        any = need[i] && needs_lowering(g, i, dev);
    if (!any)
        return CLG_OK;

    clg_graph *l = clg_graph_new(dev->ctx);
    if (l)
        l->tag = 0; /* internal: its handles are plain node indices (map[]) */
    clg_t *map = malloc(((size_t)g->n + 1) * sizeof *map);
    if (!l || !map) {
        clg_graph_free(l);
        free(map);
        return clg_ctx_set_error(dev->ctx, CLG_ERR_NOMEM, "compile: out of memory lowering");
    }
    for (int i = 0; i < g->n; i++) {
        const clg_node *n = &g->nodes[i];
        clg_t in[CLG_MAX_INPUTS];
        for (int k = 0; k < n->n_in; k++)
            in[k] = map[n->in[k]];
        if (need[i] && needs_lowering(g, i, dev)) {
            map[i] = lower_node(l, n, in);
            const clg_node *r = map[i] == CLG_NONE ? NULL : &l->nodes[map[i]];
            if (r && (r->dtype != n->dtype || !clg_shape_equal(&r->shape, &n->shape)))
                map[i] = clg__graph_fail(l, "lower: internal: %s lowered to another shape",
                                         clg_op_name(n->op));
        } else {
            map[i] = copy_node(l, n, in);
        }
        if (map[i] == CLG_NONE)
            break;
    }
    for (int i = 0; i < g->n_assigns && l->err == CLG_OK; i++)
        clg_assign(l, map[g->assigns[i].param], map[g->assigns[i].value]);
    if (l->err != CLG_OK) {
        clg_status st = clg_ctx_set_error(dev->ctx, l->err, "compile: %s", l->errmsg);
        clg_graph_free(l);
        free(map);
        return st;
    }
    *out = l;
    *map_out = map;
    return CLG_OK;
}
