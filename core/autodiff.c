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

typedef struct grad_ctx {
    clg_graph *g;
    clg_t *grad;         /* accumulated gradient per forward node, or CLG_NONE */
    unsigned char *live; /* on a path from a wrt to y */
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
    clg_t d[CLG_MAX_INPUTS];
    for (int k = 0; k < CLG_MAX_INPUTS; k++)
        d[k] = CLG_NONE;
    /* The rule lives beside the op's builder, in its family's file. */
    clg__backward_fn *rule = NULL;
    switch (clg_op_info_of(n.op).family) {
    case CLG_FAMILY_ELEMENTWISE: rule = clg__backward_elementwise; break;
    case CLG_FAMILY_REDUCE:
    case CLG_FAMILY_NN: rule = clg__backward_reduce; break;
    case CLG_FAMILY_LINALG: rule = clg__backward_linalg; break;
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
        if (!a.live[i] || a.grad[i] == CLG_NONE)
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
    if (g->err != CLG_OK) {
        for (int i = 0; i < n; i++)
            grads[i] = CLG_NONE;
        return g->err;
    }
    return CLG_OK;
}
