/* Reverse-mode autodiff. clg_grad appends the backward pass to the graph as
 * ordinary ops, so it is compiled, memory-planned and run like the forward
 * pass and every backend gets it for free.
 *
 * Node ids are a topological order (inputs always have smaller ids), so one
 * sweep from y down to 0 sees every node after all of its consumers: its
 * gradient is complete when the sweep reaches it. Only nodes on a path from
 * some wrt[i] to y get gradient ops. The rules, which follow PyTorch's
 * derivatives, live beside each op family's builders (ops_*.c). */
#include "ops_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The gradient of one SLICE node, held back from its input's sum: pieces
 * that tile an axis are joined by one concat when the input's gradient is
 * complete, instead of each being zero-padded to the input's full shape and
 * added (T slices of a [B, T, F] tensor, as a recurrent layer takes of its
 * input projection, would cost T full-size fills and adds). */
typedef struct slice_piece {
    clg_t G;       /* the gradient of the slice's output */
    clg_t slice;   /* the SLICE node, for its offsets */
    int axis;      /* the one axis it cuts */
    int64_t start, len;
    int next;      /* next piece of the same input, or -1 */
} slice_piece;

typedef struct grad_ctx {
    clg_graph *g;
    clg_t *grad;         /* accumulated gradient per forward node, or CLG_NONE */
    unsigned char *live; /* on a path from a wrt to y */
    int *pieces;         /* per forward node: its first held-back slice piece, or -1 */
    slice_piece *piece;
    int n_piece, cap_piece;
} grad_ctx;

static const clg_node *nd(const clg_graph *g, clg_t t) { return &g->nodes[CLG__IDX(t)]; }

/* Whether input k of a node carries a gradient: the op table's grad column.
 * Masks, indices and the outputs of comparisons, casts and sign are
 * piecewise constant. */
static int diff_edge(const clg_node *n, int k)
{
    return !n->no_grad && k < 32 && ((clg_op_info_of(n->op).grad_inputs >> k) & 1u);
}

/* Adds `c` to the gradient of node j. Every rule must hand back exactly the
 * input's shape; a mismatch is a bug here, reported rather than miscomputed. */
static int accumulate(grad_ctx *a, clg_t j, clg_t c, clg_op from)
{
    clg_graph *g = a->g;
    if (c == CLG_NONE)
        return 1;
    if (!clg_shape_equal(&nd(g, c)->shape, &nd(g, j)->shape)) {
        clg__graph_fail(g, "grad: internal: %s rule gave %s for an input of %s",
                        clg_op_name(from), SS(&nd(g, c)->shape), SS(&nd(g, j)->shape));
        return 1;
    }
    a->grad[j] = a->grad[j] == CLG_NONE ? c : clg_add(g, a->grad[j], c);
    return a->grad[j] == CLG_NONE;
}

/* The one axis a SLICE node cuts (where its output differs from its input in
 * size or offset), or -1 if it cuts several. */
static int slice_axis(const clg_graph *g, const clg_node *n)
{
    clg_shape sx = nd(g, n->in[0])->shape;
    int axis = -1;
    for (int d = 0; d < sx.ndim; d++) {
        if (sx.dim[d] == n->shape.dim[d] && clg_param_i64(&n->params, CLG_P_START + d) == 0)
            continue;
        if (axis >= 0)
            return -1;
        axis = d;
    }
    return axis;
}

/* Holds back G, the gradient of SLICE node i, for its input. Returns 0 if the
 * slice is not one a concat can rebuild (the caller pads it instead). */
static int hold_slice(grad_ctx *a, clg_t i, clg_t G)
{
    const clg_node *n = nd(a->g, i);
    int axis = slice_axis(a->g, n);
    if (axis < 0)
        return 0;
    if (a->n_piece == a->cap_piece) {
        int cap = a->cap_piece ? 2 * a->cap_piece : 64;
        slice_piece *p = realloc(a->piece, (size_t)cap * sizeof *p);
        if (!p) {
            clg__graph_fail(a->g, "grad: out of memory");
            return 1;
        }
        a->piece = p;
        a->cap_piece = cap;
    }
    clg_t j = n->in[0];
    a->piece[a->n_piece] = (slice_piece){ .G = G, .slice = i, .axis = axis,
                                          .start = clg_param_i64(&n->params, CLG_P_START + axis),
                                          .len = n->shape.dim[axis], .next = a->pieces[j] };
    a->pieces[j] = a->n_piece++;
    return 1;
}

static int by_start(const void *x, const void *y)
{
    const slice_piece *p = x, *q = y;
    if (p->start != q->start)
        return (p->start > q->start) - (p->start < q->start);
    return (p->slice > q->slice) - (p->slice < q->slice);
}

/* Adds node j's held-back slice gradients to its gradient: one concat along
 * their axis, with zeros for the gaps, when they share that axis and do not
 * partly overlap (pieces over the same range are summed first); otherwise,
 * or for a lone piece, each padded to j's shape. Returns nonzero if the graph
 * failed. */
static int settle_slices(grad_ctx *a, clg_t j)
{
    clg_graph *g = a->g;
    int n = 0;
    for (int p = a->pieces[j]; p >= 0; p = a->piece[p].next)
        n++;
    if (n == 0)
        return 0;
    slice_piece *ps = malloc((size_t)n * sizeof *ps);
    clg_t *parts = malloc((size_t)(2 * n + 1) * sizeof *parts);
    if (!ps || !parts) {
        free(ps);
        free(parts);
        clg__graph_fail(g, "grad: out of memory");
        return 1;
    }
    int k = 0;
    for (int p = a->pieces[j]; p >= 0; p = a->piece[p].next)
        ps[k++] = a->piece[p];
    a->pieces[j] = -1;
    /* by offset; equal ranges by node id, so that their sum is the same from
     * build to build */
    qsort(ps, (size_t)n, sizeof *ps, by_start);
    int tiles = n > 1;
    for (k = 1; k < n && tiles; k++)
        tiles = ps[k].axis == ps[0].axis &&
                (ps[k].start >= ps[k - 1].start + ps[k - 1].len ||
                 (ps[k].start == ps[k - 1].start && ps[k].len == ps[k - 1].len));
    if (tiles) {
        const int ax = ps[0].axis;
        const clg_shape sj = nd(g, j)->shape;
        int m = 0;
        int64_t at = 0;
        for (k = 0; k < n; k++) {
            if (k > 0 && ps[k].start == ps[k - 1].start) {
                parts[m - 1] = clg_add(g, parts[m - 1], ps[k].G);
                continue;
            }
            if (ps[k].start > at) {
                clg_shape gap = sj;
                gap.dim[ax] = ps[k].start - at;
                parts[m++] = clg_full(g, &gap, 0.0f);
            }
            parts[m++] = ps[k].G;
            at = ps[k].start + ps[k].len;
        }
        if (at < sj.dim[ax]) {
            clg_shape gap = sj;
            gap.dim[ax] = sj.dim[ax] - at;
            parts[m++] = clg_full(g, &gap, 0.0f);
        }
        int bad = accumulate(a, j, clg_concat(g, parts, m, ax), CLG_OP_SLICE);
        free(ps);
        free(parts);
        return bad;
    }
    /* copies: building nodes moves g->nodes */
    const clg_shape sj = nd(g, j)->shape;
    int bad = 0;
    for (k = 0; k < n && !bad; k++) {
        const clg_params at = nd(g, ps[k].slice)->params;
        bad = accumulate(a, j, clg__node_add(g, CLG_OP_PAD, CLG_F32, &sj, &ps[k].G, 1, &at),
                         CLG_OP_SLICE);
    }
    free(ps);
    free(parts);
    return bad || g->err != CLG_OK;
}

/* Gradients of node i's inputs from G, the gradient of its output. Returns
 * nonzero if the graph failed. */
static int backward(grad_ctx *a, clg_t i, clg_t G)
{
    clg_graph *g = a->g;
    const clg_node n = *nd(g, i); /* a copy: building nodes moves g->nodes */
    clg_t y = i;
    int need[CLG_MAX_INPUTS] = { 0 };
    for (int k = 0; k < n.n_in; k++)
        need[k] = a->live[n.in[k]] && diff_edge(&n, k);
    if (n.op == CLG_OP_SLICE && need[0] && hold_slice(a, i, G))
        return g->err != CLG_OK;
    clg_t d[CLG_MAX_INPUTS];
    for (int k = 0; k < CLG_MAX_INPUTS; k++)
        d[k] = CLG_NONE;
    /* The rule lives beside the op's builder, in its family's file. */
    clg__backward_fn *rule = NULL;
    switch (clg_op_info_of(n.op).family) {
    case CLG_FAMILY_ELEMENTWISE: rule = clg__backward_elementwise; break;
    case CLG_FAMILY_REDUCE:
    case CLG_FAMILY_NN: rule = clg__backward_reduce; break;
    case CLG_FAMILY_LINALG:
        rule = n.op == CLG_OP_MATMUL                                   ? clg__backward_linalg
               : n.op == CLG_OP_LSTM_SCAN || n.op == CLG_OP_LSTM_SCAN_GRAD ? clg__backward_recurrent
                                                                           : clg__backward_conv;
        break;
    case CLG_FAMILY_SOURCE: /* a RESHAPE view */
    case CLG_FAMILY_MOVEMENT: rule = clg__backward_movement; break;
    case CLG_FAMILY_INDEX: rule = clg__backward_index; break;
    case CLG_FAMILY_RANDOM:
    case CLG_FAMILY_FUSED: /* compile-time only: never in a graph autodiff sees */
        break;
    }
    clg__grad_in in = { .n = n, .x = n.n_in > 0 ? n.in[0] : CLG_NONE, .y = y, .G = G,
                        .need = need };
    in.sx = n.n_in > 0 ? shp(g, in.x) : (clg_shape){ 0 };
    if (!rule || !rule(g, &in, d)) {
        /* Every op whose edges diff_edge() lets through has a rule. */
        for (int k = 0; k < n.n_in; k++) {
            if (need[k]) {
                clg__graph_fail(g, "grad: internal: no gradient rule for %s", clg_op_name(n.op));
                return 1;
            }
        }
    }
    if (g->err != CLG_OK)
        return 1;
    for (int k = 0; k < n.n_in; k++)
        if (need[k] && d[k] != CLG_NONE && accumulate(a, n.in[k], d[k], n.op))
            return 1;
    return 0;
}

static int handle_ok(const clg_graph *g, clg_t t) { return clg__handle_ok(g, t); }
static const char *foreign(const clg_graph *g, clg_t t)
{
    return clg__handle_foreign(g, t) ? ": it is a tensor of another graph" : "";
}

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
        return gfail(g, "y (%d) is not a tensor of this graph%s", (int)y, foreign(g, y));
    clg_shape sy = shp(g, y);
    if (nd(g, y)->dtype != CLG_F32)
        return gfail(g, "y must be f32, got i32 %s", SS(&sy));
    if (seed != CLG_NONE) {
        if (!handle_ok(g, seed))
            return gfail(g, "seed (%d) is not a tensor of this graph%s", (int)seed,
                         foreign(g, seed));
        if (nd(g, seed)->dtype != CLG_F32 || !clg_shape_equal(&nd(g, seed)->shape, &sy))
            return gfail(g, "seed must be f32 %s like y, got %s %s", SS(&sy),
                         clg_dtype_name(nd(g, seed)->dtype),
                         SS(&nd(g, seed)->shape));
    } else if (clg_shape_numel(&sy) != 1) {
        return gfail(g, "y is %s; without a seed it must have one element",
                     SS(&sy));
    }
    for (int i = 0; i < n; i++) {
        if (!handle_ok(g, wrt[i]))
            return gfail(g, "wrt[%d] (%d) is not a tensor of this graph%s", i,
                         (int)wrt[i], foreign(g, wrt[i]));
        const clg_node *w = nd(g, wrt[i]);
        if (w->dtype != CLG_F32) {
            const char *what = w->op == CLG_OP_INPUT ? w->name
                               : w->op == CLG_OP_PARAM ? w->store->e[w->store_idx].name
                                                       : clg_op_name(w->op);
            return gfail(g, "wrt[%d] ('%s', i32 %s) is not f32; only f32 "
                         "tensors have gradients", i, what, SS(&w->shape));
        }
    }

    y = CLG__IDX(y); /* an index from here on (handles were checked above) */
    int n0 = g->n;
    grad_ctx a = { .g = g };
    a.grad = malloc((size_t)n0 * sizeof *a.grad);
    a.live = calloc((size_t)n0, 1);
    a.pieces = malloc((size_t)n0 * sizeof *a.pieces);
    unsigned char *up = calloc((size_t)n0, 1);
    if (!a.grad || !a.live || !a.pieces || !up) {
        free(a.grad);
        free(a.live);
        free(a.pieces);
        free(up);
        return clg_ctx_set_error(g->ctx, CLG_ERR_NOMEM, "grad: out of memory for %d nodes", n0);
    }
    for (int i = 0; i < n0; i++) {
        a.grad[i] = CLG_NONE;
        a.pieces[i] = -1;
    }

    /* live = reachable from a wrt through differentiable f32 edges, and an
     * ancestor of y. */
    for (int i = 0; i < n; i++)
        a.live[CLG__IDX(wrt[i])] = 1;
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
        if (!a.live[i] || settle_slices(&a, i) || a.grad[i] == CLG_NONE)
            continue;
        if (backward(&a, i, a.grad[i]))
            break;
    }
    for (int i = 0; i < n && g->err == CLG_OK; i++) {
        clg_t gw = a.grad[CLG__IDX(wrt[i])];
        if (gw == CLG_NONE) {
            clg_shape sw = shp(g, wrt[i]);
            gw = clg_full(g, &sw, 0.0f);
        }
        grads[i] = gw;
    }
    free(a.grad);
    free(a.live);
    free(a.pieces);
    free(a.piece);
    if (g->err != CLG_OK) {
        for (int i = 0; i < n; i++)
            grads[i] = CLG_NONE;
        return g->err;
    }
    return CLG_OK;
}
