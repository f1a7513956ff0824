/* Movement ops: reshape (a view), permute, transpose, expand, slice, pad,
 * concat; builders and backward rules. */
#include "ops_internal.h"

#include <stdio.h>

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------ movement */

clg_t clg_reshape(clg_graph *g, clg_t a, const clg_shape *shape)
{
    if (bad(g, "reshape", a))
        return CLG_NONE;
    clg_shape s = shp(g, a);
    if (!shape)
        return clg__graph_fail(g, "reshape: shape is NULL");
    if (shape->ndim < 0 || shape->ndim > CLG_MAX_DIMS)
        return clg__graph_fail(g, "reshape: rank %d is outside 0..%d", shape->ndim,
                               CLG_MAX_DIMS);
    clg_shape t = *shape;
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < t.ndim; i++) {
        if (t.dim[i] == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (t.dim[i] < 1)
            return clg__graph_fail(g, "reshape: cannot reshape %s to %s (bad dim %d)", SS(&s),
                                   SS(&t), i);
        if (t.dim[i] > MAX_NUMEL || known > MAX_NUMEL / t.dim[i])
            return clg__graph_fail(g, "reshape: %s has too many elements", SS(&t));
        known *= t.dim[i];
    }
    int64_t n = numel(&s);
    if (infer >= 0) {
        if (n % known != 0)
            return clg__graph_fail(g, "reshape: cannot reshape %s (%lld elements) to %s",
                                   SS(&s), (long long)n, SS(&t));
        t.dim[infer] = n / known;
        known = n;
    }
    if (known != n)
        return clg__graph_fail(g, "reshape: cannot reshape %s (%lld elements) to %s", SS(&s),
                               (long long)n, SS(&t));
    return view(g, a, &t);
}

clg_t clg_permute(clg_graph *g, clg_t a, const int *perm)
{
    if (bad(g, "permute", a))
        return CLG_NONE;
    clg_shape s = shp(g, a);
    if (!perm && s.ndim > 0)
        return clg__graph_fail(g, "permute: perm is NULL for %s", SS(&s));
    clg_params at = { { 0 } };
    clg_shape out = s;
    uint32_t seen = 0;
    int identity = 1;
    for (int i = 0; i < s.ndim; i++) {
        int p;
        if (norm_axis(perm[i], s.ndim, &p) || (seen & (1u << p))) {
            char buf[64] = "", *w = buf;
            for (int k = 0; k < s.ndim; k++)
                w += snprintf(w, sizeof buf - (size_t)(w - buf), "%s%d", k ? ", " : "", perm[k]);
            return clg__graph_fail(g, "permute: (%s) is not a permutation of the dims of %s",
                                   buf, SS(&s));
        }
        seen |= 1u << p;
        clg_param_set_i64(&at, CLG_P_PERM + i, p);
        out.dim[i] = s.dim[p];
        identity &= p == i;
    }
    if (identity)
        return a;
    return add1(g, CLG_OP_PERMUTE, dty(g, a), &out, a, &at);
}

clg_t clg_transpose(clg_graph *g, clg_t a, int d0, int d1)
{
    if (bad(g, "transpose", a))
        return CLG_NONE;
    clg_shape s = shp(g, a);
    int x, y;
    if (norm_axis(d0, s.ndim, &x) || norm_axis(d1, s.ndim, &y))
        return clg__graph_fail(g, "transpose: dims %d, %d out of range for %s", d0, d1, SS(&s));
    int perm[CLG_MAX_DIMS];
    for (int i = 0; i < s.ndim; i++)
        perm[i] = i;
    perm[x] = y;
    perm[y] = x;
    return clg_permute(g, a, perm);
}

/* torch.Tensor.expand: new dims in front, size-1 dims stretched; -1 keeps a
 * dim. */
clg_t clg_expand(clg_graph *g, clg_t a, const clg_shape *shape)
{
    if (bad(g, "expand", a))
        return CLG_NONE;
    clg_shape s = shp(g, a);
    if (!shape)
        return clg__graph_fail(g, "expand: shape is NULL");
    if (shape->ndim < s.ndim || shape->ndim > CLG_MAX_DIMS)
        return clg__graph_fail(g, "expand: cannot expand %s to rank %d", SS(&s), shape->ndim);
    clg_shape out = *shape;
    int lead = out.ndim - s.ndim;
    for (int i = 0; i < out.ndim; i++) {
        int64_t have = i >= lead ? s.dim[i - lead] : 1;
        if (out.dim[i] == -1 && i >= lead)
            out.dim[i] = have;
        if (have != out.dim[i] && have != 1)
            return clg__graph_fail(g, "expand: cannot expand %s to %s", SS(&s), SS(shape));
    }
    if (check_shape(g, "expand", &out))
        return CLG_NONE;
    if (shape_eq(&s, &out))
        return a;
    clg_shape same_rank = { .ndim = out.ndim };
    for (int i = 0; i < out.ndim; i++)
        same_rank.dim[i] = i >= lead ? s.dim[i - lead] : 1;
    clg_t v = view(g, a, &same_rank);
    if (v == CLG_NONE)
        return CLG_NONE;
    return add1(g, CLG_OP_EXPAND, dty(g, a), &out, v, NULL);
}

clg_t clg_slice(clg_graph *g, clg_t a, int axis, int64_t start, int64_t end)
{
    if (bad(g, "slice", a))
        return CLG_NONE;
    clg_shape s = shp(g, a);
    int ax;
    if (norm_axis(axis, s.ndim, &ax))
        return clg__graph_fail(g, "slice: axis %d out of range for %s", axis, SS(&s));
    int64_t d = s.dim[ax];
    int64_t b = start < 0 ? start + d : start, e = end < 0 ? end + d : end;
    if (b < 0 || e > d || b >= e)
        return clg__graph_fail(g, "slice: [%lld:%lld] on axis %d of %s is %s", (long long)start,
                               (long long)end, axis, SS(&s),
                               b >= 0 && e <= d ? "empty" : "out of range");
    if (b == 0 && e == d)
        return a;
    clg_shape out = s;
    out.dim[ax] = e - b;
    clg_params at = clg__p_i64(CLG_P_START + ax, b);
    /* A slice of a slice is one slice of the first one's input: one copy. */
    if (node(g, a)->op == CLG_OP_SLICE) {
        const clg_node *sn = node(g, a);
        at = sn->params;
        clg_param_set_i64(&at, CLG_P_START + ax, clg_param_i64(&sn->params, CLG_P_START + ax) + b);
        a = CLG__MAKE(g, sn->in[0]);
    }
    /* Taking back exactly what a pad placed (a slice's gradient, sliced
     * again by the rule of a multi-part op such as lstm_scan) is its input:
     * the zeros are then never written. */
    const clg_node *pn = node(g, a);
    if (pn->op == CLG_OP_PAD && shape_eq(&node(g, CLG__MAKE(g, pn->in[0]))->shape, &out)) {
        int same = 1;
        for (int k = 0; k < s.ndim; k++)
            same &= clg_param_i64(&pn->params, CLG_P_START + k) ==
                    clg_param_i64(&at, CLG_P_START + k);
        if (same)
            return CLG__MAKE(g, pn->in[0]);
    }
    return add1(g, CLG_OP_SLICE, dty(g, a), &out, a, &at);
}

clg_t clg_concat(clg_graph *g, const clg_t *xs, int n, int axis)
{
    if (!g || g->err != CLG_OK)
        return CLG_NONE;
    if (!xs || n < 1)
        return clg__graph_fail(g, "concat: needs at least one tensor (got %d)", xs ? n : 0);
    for (int k = 0; k < n; k++)
        if (bad(g, "concat", xs[k]))
            return CLG_NONE;
    clg_shape s0 = shp(g, xs[0]);
    int ax;
    if (norm_axis(axis, s0.ndim, &ax))
        return clg__graph_fail(g, "concat: axis %d out of range for %s", axis, SS(&s0));
    clg_shape out = s0;
    out.dim[ax] = 0;
    for (int k = 0; k < n; k++) {
        clg_shape sk = shp(g, xs[k]);
        if (dty(g, xs[k]) != dty(g, xs[0]))
            return clg__graph_fail(g, "concat: dtypes differ: %s %s and %s %s",
                                   dname(dty(g, xs[0])), SS(&s0), dname(dty(g, xs[k])),
                                   SS(&sk));
        int same = sk.ndim == s0.ndim;
        for (int i = 0; same && i < s0.ndim; i++)
            same = i == ax || sk.dim[i] == s0.dim[i];
        if (!same)
            return clg__graph_fail(g, "concat: cannot join %s and %s on axis %d", SS(&s0),
                                   SS(&sk), axis);
        out.dim[ax] += sk.dim[ax];
    }
    if (n == 1)
        return xs[0];
    if (n > CLG_MAX_INPUTS) {
        /* More pieces than a node holds: join groups first, then the groups. */
        clg_t part[CLG_MAX_INPUTS];
        int groups = (n + CLG_MAX_INPUTS - 1) / CLG_MAX_INPUTS;
        if (groups > CLG_MAX_INPUTS)
            groups = CLG_MAX_INPUTS;
        int per = (n + groups - 1) / groups, k = 0;
        for (int i = 0; i < groups; i++) {
            int cnt = n - k < per ? n - k : per;
            part[i] = clg_concat(g, xs + k, cnt, ax);
            if (part[i] == CLG_NONE)
                return CLG_NONE;
            k += cnt;
        }
        return clg_concat(g, part, groups, ax);
    }
    if (check_shape(g, "concat", &out))
        return CLG_NONE;
    clg_params at = clg__p_i64(CLG_P_AXIS, ax);
    return clg__node_add(g, CLG_OP_CONCAT, dty(g, xs[0]), &out, xs, n, &at);
}

/* ------------------------------------------------------------ backward */

/* ------------------------------------------------------- im2col, col2im */

int clg_window2d_out(const clg_window2d *w, int64_t h, int64_t wd, int64_t out[2], char *err,
                     size_t errlen)
{
    int64_t in[2] = { h, wd };
    for (int k = 0; k < 2; k++) {
        if (w->kernel[k] < 1 || w->stride[k] < 1 || w->dilation[k] < 1 || w->pad[k] < 0 ||
            w->kernel[k] > (1 << 20) || w->stride[k] > (1 << 20) || w->dilation[k] > (1 << 20) ||
            w->pad[k] > (1 << 20)) {
            if (err)
                snprintf(err, errlen, "kernel %dx%d, stride %dx%d, dilation %dx%d must be >= 1 "
                         "and padding %dx%d >= 0", w->kernel[0], w->kernel[1], w->stride[0],
                         w->stride[1], w->dilation[0], w->dilation[1], w->pad[0], w->pad[1]);
            return 0;
        }
        int64_t span = (int64_t)w->dilation[k] * (w->kernel[k] - 1) + 1;
        int64_t room = in[k] + 2 * (int64_t)w->pad[k];
        if (in[k] < 1 || span > room) {
            if (err)
                snprintf(err, errlen, "the %s window spans %lld but the input is %lld%s",
                         k ? "horizontal" : "vertical", (long long)span, (long long)in[k],
                         w->pad[k] ? " plus padding" : "");
            return 0;
        }
        out[k] = (room - span) / w->stride[k] + 1;
    }
    return 1;
}

clg_params clg__window_params(const clg_window2d *w)
{
    clg_params p = { { 0 } };
    for (int k = 0; k < 2; k++) {
        clg_param_set_i64(&p, CLG_P_KERNEL + k, w->kernel[k]);
        clg_param_set_i64(&p, CLG_P_STRIDE + k, w->stride[k]);
        clg_param_set_i64(&p, CLG_P_PADDING + k, w->pad[k]);
        clg_param_set_i64(&p, CLG_P_DILATION + k, w->dilation[k]);
    }
    return p;
}

void clg__window_of(const clg_params *p, clg_window2d *w)
{
    for (int k = 0; k < 2; k++) {
        w->kernel[k] = clg_param_int(p, CLG_P_KERNEL + k);
        w->stride[k] = clg_param_int(p, CLG_P_STRIDE + k);
        w->pad[k] = clg_param_int(p, CLG_P_PADDING + k);
        w->dilation[k] = clg_param_int(p, CLG_P_DILATION + k);
    }
}

static clg_params window_params(const clg_window2d *w, float pad_value)
{
    clg_params p = clg__window_params(w);
    clg_param_set_f32(&p, CLG_P_SCALAR, pad_value);
    return p;
}

clg_t clg_im2col(clg_graph *g, clg_t x, const clg_window2d *w, float pad_value)
{
    if (bad(g, "im2col", x) || need_dtype(g, "im2col", "input", x, CLG_F32))
        return CLG_NONE;
    if (!w)
        return clg__graph_fail(g, "im2col: window is NULL");
    clg_shape s = shp(g, x);
    if (s.ndim != 4)
        return clg__graph_fail(g, "im2col: input %s is not [N, C, H, W]", SS(&s));
    int64_t o[2];
    char why[256];
    if (!clg_window2d_out(w, s.dim[2], s.dim[3], o, why, sizeof why))
        return clg__graph_fail(g, "im2col: input %s: %s", SS(&s), why);
    clg_shape out = CLG_SHAPE(s.dim[0], s.dim[1] * w->kernel[0] * w->kernel[1], o[0] * o[1]);
    if (check_shape(g, "im2col", &out))
        return CLG_NONE;
    clg_params p = window_params(w, pad_value);
    return add1(g, CLG_OP_IM2COL, CLG_F32, &out, x, &p);
}

clg_t clg_col2im(clg_graph *g, clg_t cols, const clg_window2d *w, const clg_shape *image)
{
    if (bad(g, "col2im", cols) || need_dtype(g, "col2im", "input", cols, CLG_F32))
        return CLG_NONE;
    if (!w || !image)
        return clg__graph_fail(g, "col2im: %s is NULL", !w ? "window" : "image shape");
    clg_shape s = shp(g, cols);
    int64_t o[2];
    char why[256];
    if (image->ndim != 4 || !clg_window2d_out(w, image->dim[2], image->dim[3], o, why, sizeof why))
        return clg__graph_fail(g, "col2im: image %s: %s", SS(image),
                               image->ndim != 4 ? "not [N, C, H, W]" : why);
    clg_shape want = CLG_SHAPE(image->dim[0], image->dim[1] * w->kernel[0] * w->kernel[1],
                               o[0] * o[1]);
    if (!shape_eq(&s, &want))
        return clg__graph_fail(g, "col2im: columns %s do not match image %s (expected %s)", SS(&s),
                               SS(image), SS(&want));
    clg_params p = window_params(w, 0.0f);
    return add1(g, CLG_OP_COL2IM, CLG_F32, image, cols, &p);
}

/* 1 if some window of w over an image dim of size n (dim k) holds only
 * padding: torch would pick an index outside the image there. */
static int window_all_padding(const clg_window2d *w, int k, int64_t n, int64_t outs,
                              int64_t *at)
{
    for (int64_t o = 0; o < outs; o++) {
        int64_t first = o * w->stride[k] - w->pad[k], hit = 0;
        for (int64_t t = 0; t < w->kernel[k] && !hit; t++) {
            int64_t pos = first + t * w->dilation[k];
            hit = pos >= 0 && pos < n;
        }
        if (!hit) {
            *at = o;
            return 1;
        }
    }
    return 0;
}

clg_t clg_max_pool2d_index(clg_graph *g, clg_t x, const clg_window2d *w)
{
    const char *name = "max_pool2d_index";
    if (bad(g, name, x) || need_dtype(g, name, "input", x, CLG_F32))
        return CLG_NONE;
    if (!w)
        return clg__graph_fail(g, "%s: window is NULL", name);
    clg_shape s = shp(g, x);
    if (s.ndim != 4)
        return clg__graph_fail(g, "%s: input %s is not [N, C, H, W]", name, SS(&s));
    int64_t o[2], at;
    char why[256];
    if (!clg_window2d_out(w, s.dim[2], s.dim[3], o, why, sizeof why))
        return clg__graph_fail(g, "%s: input %s: %s", name, SS(&s), why);
    if (s.dim[2] * s.dim[3] > INT32_MAX)
        return clg__graph_fail(g, "%s: input %s: an image plane of more than 2^31 - 1 pixels "
                               "cannot be indexed in i32", name, SS(&s));
    for (int k = 0; k < 2; k++)
        if (window_all_padding(w, k, s.dim[2 + k], o[k], &at))
            return clg__graph_fail(g, "%s: input %s: the window at output %s %lld covers only "
                                   "padding", name, SS(&s), k ? "column" : "row", (long long)at);
    clg_shape out = CLG_SHAPE(s.dim[0], s.dim[1], o[0], o[1]);
    if (check_shape(g, name, &out))
        return CLG_NONE;
    clg_params p = window_params(w, 0.0f);
    return add1(g, CLG_OP_MAX_POOL2D_INDEX, CLG_I32, &out, x, &p);
}

int clg__backward_movement(clg_graph *g, const clg__grad_in *in, clg_t *d)
{
    CLG__GRAD_LOCALS(in);
    switch (n.op) {
    case CLG_OP_RESHAPE:
        d[0] = clg_reshape(g, G, &sx);
        break;
    case CLG_OP_PERMUTE: {
        int inv[CLG_MAX_DIMS];
        for (int k = 0; k < sx.ndim; k++)
            inv[clg_param_int(&n.params, CLG_P_PERM + k)] = k;
        d[0] = clg_permute(g, G, inv);
        break;
    }
    case CLG_OP_EXPAND:
        d[0] = clg__unbroadcast(g, G, &sx);
        break;
    case CLG_OP_SLICE:
    case CLG_OP_PAD:
        /* each is the other's adjoint, with the same offsets (clg_grad joins
         * the gradients of slices that tile one axis with a concat instead,
         * and reaches this rule only for the others: see autodiff.c) */
        d[0] = clg__node_add(g, n.op == CLG_OP_SLICE ? CLG_OP_PAD : CLG_OP_SLICE, CLG_F32, &sx,
                             &G, 1, &n.params);
        break;
    case CLG_OP_IM2COL:
    case CLG_OP_COL2IM: {
        /* each is the other's adjoint with the same window; padding drops out */
        clg_params p = n.params;
        clg_param_set_f32(&p, CLG_P_SCALAR, 0.0f);
        d[0] = clg__node_add(g, n.op == CLG_OP_IM2COL ? CLG_OP_COL2IM : CLG_OP_IM2COL, CLG_F32,
                             &sx, &G, 1, &p);
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
    default:
        return 0;
    }
    return 1;
}
