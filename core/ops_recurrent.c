/* An LSTM layer's recurrence as one composite op and its gradient, with
 * shape inference and the backward rule. One op for the whole sequence lets
 * a backend keep w_hh packed for its GEMM kernel across the steps and run
 * each step's gates in cache, one thread per batch slice, with no launch or
 * sync between steps (the CPU backend's lstm.c); every other backend gets
 * the per-step graph it lowers into (lower.c). */
#include "ops_internal.h"

enum { PLANES = 7 }; /* h, c, i, f, g, o, tanh c */

/* The batch, length and hidden size that xw [N, T, 4H] and w_hh [4H, H]
 * agree on, or 0 after a graph error naming op. */
static int lstm_dims(clg_graph *g, const char *op, clg_t xw, clg_t w, int64_t dims[3])
{
    if (bad(g, op, xw) || bad(g, op, w) || need_dtype(g, op, "xw", xw, CLG_F32) ||
        need_dtype(g, op, "w_hh", w, CLG_F32))
        return 0;
    const clg_shape xs = shp(g, xw), ws = shp(g, w);
    if (ws.ndim != 2 || ws.dim[0] != 4 * ws.dim[1] || xs.ndim != 3 ||
        xs.dim[2] != ws.dim[0] || xs.dim[0] < 1 || xs.dim[1] < 1)
        return (clg__graph_fail(g, "%s: xw %s must be [N, T, 4H] and w_hh %s [4H, H]", op,
                                SS(&xs), SS(&ws)), 0);
    dims[0] = xs.dim[0], dims[1] = xs.dim[1], dims[2] = ws.dim[1];
    return 1;
}

clg_t clg_lstm_scan(clg_graph *g, clg_t xw, clg_t w_hh)
{
    int64_t d[3];
    if (!lstm_dims(g, "lstm_scan", xw, w_hh, d))
        return CLG_NONE;
    clg_shape ys = CLG_SHAPE(PLANES, d[0], d[1] + 1, d[2]);
    if (check_shape(g, "lstm_scan", &ys))
        return CLG_NONE;
    clg_t in[2] = { xw, w_hh };
    return clg__node_add(g, CLG_OP_LSTM_SCAN, CLG_F32, &ys, in, 2, NULL);
}

clg_t clg_lstm_scan_grad(clg_graph *g, clg_t y, clg_t dh, clg_t w_hh)
{
    const char *op = "lstm_scan_grad";
    if (bad(g, op, y) || bad(g, op, dh) || bad(g, op, w_hh) || need_dtype(g, op, "y", y, CLG_F32) ||
        need_dtype(g, op, "dh", dh, CLG_F32) || need_dtype(g, op, "w_hh", w_hh, CLG_F32))
        return CLG_NONE;
    const clg_shape ys = shp(g, y), hs = shp(g, dh), ws = shp(g, w_hh);
    if (ys.ndim != 4 || ys.dim[0] != PLANES || hs.ndim != 3 || hs.dim[0] != ys.dim[1] ||
        hs.dim[1] + 1 != ys.dim[2] || hs.dim[2] != ys.dim[3] || ws.ndim != 2 ||
        ws.dim[1] != ys.dim[3] || ws.dim[0] != 4 * ys.dim[3])
        return clg__graph_fail(g, "%s: y %s must be [7, N, T + 1, H], dh %s [N, T, H] and w_hh %s "
                               "[4H, H]", op, SS(&ys), SS(&hs), SS(&ws));
    clg_shape out = CLG_SHAPE(ys.dim[1], ys.dim[2] - 1, 4 * ys.dim[3]);
    clg_t in[3] = { y, dh, w_hh };
    return clg__node_add(g, CLG_OP_LSTM_SCAN_GRAD, CLG_F32, &out, in, 3, NULL);
}

/* ------------------------------------------------------------ backward */

/* Plane p of y [7, N, T + 1, H] at indices [from, from + T) as [N, T, H]:
 * from 1 for the steps' values, 0 for each step's state before it. Chained
 * slices make one node (clg_slice folds them). */
static clg_t steps_of(clg_graph *g, clg_t y, int p, int from)
{
    const clg_shape ys = shp(g, y);
    const int64_t t = ys.dim[2] - 1;
    clg_t s = clg_slice(g, clg_slice(g, y, 0, p, p + 1), 2, from, from + t);
    return clg_reshape(g, s, &CLG_SHAPE(ys.dim[1], t, ys.dim[3]));
}

clg_t clg__lstm_output(clg_graph *g, clg_t y)
{
    return y == CLG_NONE ? CLG_NONE : steps_of(g, y, 0, 1);
}

/* xw's gradient is the scan's own (lstm_scan_grad, from plane h's); w_hh's
 * is then sum over steps of dgates_t^T h_{t-1}: one GEMM over all N T rows
 * of xw's gradient and plane h at the indices before each step, instead of
 * a small product per step. */
int clg__backward_recurrent(clg_graph *g, const clg__grad_in *in, clg_t *d)
{
    CLG__GRAD_LOCALS(in);
    if (n.op != CLG_OP_LSTM_SCAN)
        return 0;
    const clg_shape ys = shp(g, y);
    const int64_t b = ys.dim[1], t = ys.dim[2] - 1, h = ys.dim[3];
    /* G is plane h's gradient padded out (a slice's), which steps_of takes back */
    clg_t dxw = clg_lstm_scan_grad(g, y, steps_of(g, G, 0, 1), n.in[1]);
    if (need[0])
        d[0] = dxw;
    if (need[1]) {
        clg_t prev = steps_of(g, y, 0, 0);
        d[1] = clg_matmul(g, clg_reshape(g, dxw, &CLG_SHAPE(b * t, 4 * h)),
                          clg_reshape(g, prev, &CLG_SHAPE(b * t, h)), 1, 0);
    }
    return 1;
}
