/* 2-D convolution as three composite ops (conv2d and its two gradients):
 * builders with shape inference, and their backward rules. They are
 * composite so that a backend with a convolution kernel of its own (the
 * CPU backend's oneDNN primitives) runs them whole, while every other one
 * gets the im2col + GEMM form they lower into (lower.c). */
#include "ops_internal.h"

static clg_params conv_params(const clg_window2d *w, int groups)
{
    clg_params p = clg__window_params(w);
    clg_param_set_i64(&p, CLG_P_GROUPS, groups);
    return p;
}

void clg__conv_window(const clg_params *p, clg_window2d *w, int *groups)
{
    clg__window_of(p, w);
    *groups = clg_param_int(p, CLG_P_GROUPS);
}

/* The output [N, O, OH, OW] of image xs under weight ws, or 0 after a graph
 * error that names op and what does not fit. */
static int conv_out(clg_graph *g, const char *op, const clg_shape *xs, const clg_shape *ws,
                    const clg_window2d *w, int groups, clg_shape *ys)
{
    if (!w)
        return (clg__graph_fail(g, "%s: window is NULL", op), 0);
    if (xs->ndim != 4 || ws->ndim != 4)
        return (clg__graph_fail(g, "%s: input %s must be [N, C, H, W] and weight %s [O, C/groups, "
                                "KH, KW]", op, SS(xs), SS(ws)), 0);
    const int64_t c = xs->dim[1], o = ws->dim[0];
    if (groups < 1 || c % groups || o % groups || ws->dim[1] * groups != c)
        return (clg__graph_fail(g, "%s: input %s and weight %s do not fit groups %d (need C and "
                                "O divisible by groups, weight dim 1 = C / groups)", op, SS(xs),
                                SS(ws), groups), 0);
    if (ws->dim[2] != w->kernel[0] || ws->dim[3] != w->kernel[1])
        return (clg__graph_fail(g, "%s: weight %s does not match the kernel %dx%d", op, SS(ws),
                                w->kernel[0], w->kernel[1]), 0);
    int64_t od[2];
    char why[256];
    if (!clg_window2d_out(w, xs->dim[2], xs->dim[3], od, why, sizeof why))
        return (clg__graph_fail(g, "%s: input %s: %s", op, SS(xs), why), 0);
    *ys = CLG_SHAPE(xs->dim[0], o, od[0], od[1]);
    return !check_shape(g, op, ys);
}

static int operands(clg_graph *g, const char *op, clg_t a, const char *wa, clg_t b,
                    const char *wb)
{
    return !(bad(g, op, a) || bad(g, op, b) || need_dtype(g, op, wa, a, CLG_F32) ||
             need_dtype(g, op, wb, b, CLG_F32));
}

clg_t clg_conv2d_op(clg_graph *g, clg_t x, clg_t w, const clg_window2d *win, int groups)
{
    if (!operands(g, "conv2d", x, "input", w, "weight"))
        return CLG_NONE;
    clg_shape xs = shp(g, x), ws = shp(g, w), ys;
    if (!conv_out(g, "conv2d", &xs, &ws, win, groups, &ys))
        return CLG_NONE;
    clg_params p = conv_params(win, groups);
    clg_t in[2] = { x, w };
    return clg__node_add(g, CLG_OP_CONV2D, CLG_F32, &ys, in, 2, &p);
}

clg_t clg_conv2d_input(clg_graph *g, const clg_shape *input, clg_t w, clg_t dy,
                       const clg_window2d *win, int groups)
{
    if (!operands(g, "conv2d_grad_input", dy, "grad_output", w, "weight"))
        return CLG_NONE;
    if (!input)
        return clg__graph_fail(g, "conv2d_grad_input: input shape is NULL");
    clg_shape xs = *input, ws = shp(g, w), dys = shp(g, dy), ys;
    if (check_shape(g, "conv2d_grad_input", &xs) ||
        !conv_out(g, "conv2d_grad_input", &xs, &ws, win, groups, &ys))
        return CLG_NONE;
    if (!shape_eq(&ys, &dys))
        return clg__graph_fail(g, "conv2d_grad_input: grad_output %s is not the output %s of "
                               "input %s and weight %s", SS(&dys), SS(&ys), SS(&xs), SS(&ws));
    clg_params p = conv_params(win, groups);
    clg_param_set_i64(&p, CLG_P_IMAGE, xs.dim[2]);
    clg_param_set_i64(&p, CLG_P_IMAGE + 1, xs.dim[3]);
    clg_t in[2] = { dy, w };
    return clg__node_add(g, CLG_OP_CONV2D_GRAD_INPUT, CLG_F32, &xs, in, 2, &p);
}

clg_t clg_conv2d_weight(clg_graph *g, clg_t x, clg_t dy, const clg_window2d *win, int groups)
{
    if (!operands(g, "conv2d_grad_weight", x, "input", dy, "grad_output"))
        return CLG_NONE;
    clg_shape xs = shp(g, x), dys = shp(g, dy), ys;
    if (!win)
        return clg__graph_fail(g, "conv2d_grad_weight: window is NULL");
    if (xs.ndim != 4 || dys.ndim != 4 || groups < 1)
        return clg__graph_fail(g, "conv2d_grad_weight: input %s and grad_output %s must be "
                               "[N, C, H, W], groups %d >= 1", SS(&xs), SS(&dys), groups);
    clg_shape ws = CLG_SHAPE(dys.dim[1], xs.dim[1] / groups, win->kernel[0], win->kernel[1]);
    if (!conv_out(g, "conv2d_grad_weight", &xs, &ws, win, groups, &ys))
        return CLG_NONE;
    if (!shape_eq(&ys, &dys))
        return clg__graph_fail(g, "conv2d_grad_weight: grad_output %s is not the output %s of "
                               "input %s", SS(&dys), SS(&ys), SS(&xs));
    clg_params p = conv_params(win, groups);
    clg_t in[2] = { x, dy };
    return clg__node_add(g, CLG_OP_CONV2D_GRAD_WEIGHT, CLG_F32, &ws, in, 2, &p);
}

/* ------------------------------------------------------------ backward */

/* Each op is bilinear in its two inputs, and each gradient is one of the
 * three ops: with <a, b> the sum of a * b, <conv(x, w), dy> =
 * <x, grad_input(dy, w)> = <w, grad_weight(x, dy)>. */
int clg__backward_conv(clg_graph *g, const clg__grad_in *in, clg_t *d)
{
    CLG__GRAD_LOCALS(in);
    clg_window2d win;
    int groups;
    clg__conv_window(&n.params, &win, &groups);
    const clg_t a = n.in[0], b = n.in[1];
    switch (n.op) {
    case CLG_OP_CONV2D: /* (x, w) */
        if (need[0])
            d[0] = clg_conv2d_input(g, &sx, b, G, &win, groups);
        if (need[1])
            d[1] = clg_conv2d_weight(g, a, G, &win, groups);
        break;
    case CLG_OP_CONV2D_GRAD_INPUT: /* (dy, w): G is shaped as the input x */
        if (need[0])
            d[0] = clg_conv2d_op(g, G, b, &win, groups);
        if (need[1])
            d[1] = clg_conv2d_weight(g, G, a, &win, groups);
        break;
    case CLG_OP_CONV2D_GRAD_WEIGHT: /* (x, dy): G is shaped as the weight */
        if (need[0])
            d[0] = clg_conv2d_input(g, &sx, G, b, &win, groups);
        if (need[1])
            d[1] = clg_conv2d_op(g, a, G, &win, groups);
        break;
    default:
        return 0;
    }
    return 1;
}
