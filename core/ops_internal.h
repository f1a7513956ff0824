/* Private to the graph builders (graph.c and the op-family files ops_*.c):
 * the checks every builder makes, and the backward rule each family file
 * keeps beside its builders. */
#ifndef CLGRAD_CORE_OPS_INTERNAL_H
#define CLGRAD_CORE_OPS_INTERNAL_H

#include "internal.h"

#include <stdio.h>
#include <string.h>

/* Largest element count we accept: keeps byte sizes (and the planner's sums
 * of them) far from int64/size_t overflow. */
#define MAX_NUMEL (INT64_C(1) << 40)

#define SHAPE_STR_LEN 192
/* A shape formatted into a temporary that lives until the end of the
 * enclosing block: fine inside one call's argument list. */
#define SS(s) clg_shape_str((s), (char[SHAPE_STR_LEN]){ 0 }, SHAPE_STR_LEN)

/* t: a handle checked by bad() (tagged for g, or an untagged index) */
static inline const clg_node *node(const clg_graph *g, clg_t t) { return &g->nodes[CLG__IDX(t)]; }
static inline clg_shape shp(const clg_graph *g, clg_t t) { return g->nodes[CLG__IDX(t)].shape; }
static inline clg_dtype dty(const clg_graph *g, clg_t t) { return g->nodes[CLG__IDX(t)].dtype; }

static inline int valid_dtype(clg_dtype dt) { return clg_dtype_size(dt) != 0; }

static inline const char *dname(clg_dtype dt) { return clg_dtype_name(dt); }

/* 1 when the builder must stop: no graph, an earlier error (then CLG_NONE
 * operands are expected and stay silent), or a handle that is not a node of
 * this graph. */
static inline int bad(clg_graph *g, const char *op, clg_t t)
{
    if (!g || g->err != CLG_OK)
        return 1;
    if (t == CLG_NONE) {
        clg__graph_fail(g, "%s: operand is CLG_NONE", op);
        return 1;
    }
    if (clg__handle_foreign(g, t)) {
        clg__graph_fail(g, "%s: operand is a tensor of another graph (handle %d of graph tag "
                        "%d; this graph's tag is %d): build each graph from its own "
                        "clg_input/clg_param calls", op, (int)CLG__IDX(t), CLG__TAG(t), g->tag);
        return 1;
    }
    if (!clg__handle_ok(g, t)) {
        clg__graph_fail(g, "%s: %d is not a tensor of this graph (it has %d nodes)",
                        op, (int)t, g->n);
        return 1;
    }
    return 0;
}

static inline int need_dtype(clg_graph *g, const char *op, const char *which, clg_t t,
                      clg_dtype want)
{
    if (dty(g, t) == want)
        return 0;
    clg__graph_fail(g, "%s: %s must be %s, got %s %s", op, which, dname(want),
                    dname(dty(g, t)), SS(&node(g, t)->shape));
    return 1;
}

/* 0 if `s` is a shape we can hold; otherwise records why and returns 1. */
static inline int check_shape(clg_graph *g, const char *op, const clg_shape *s)
{
    if (!s) {
        clg__graph_fail(g, "%s: shape is NULL", op);
        return 1;
    }
    if (s->ndim < 0 || s->ndim > CLG_MAX_DIMS) {
        clg__graph_fail(g, "%s: rank %d is outside 0..%d", op, s->ndim, CLG_MAX_DIMS);
        return 1;
    }
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) {
        if (s->dim[i] < 1) {
            clg__graph_fail(g, "%s: dim %d of %s is %lld; sizes must be >= 1", op, i,
                            SS(s), (long long)s->dim[i]);
            return 1;
        }
        if (s->dim[i] > MAX_NUMEL || n > MAX_NUMEL / s->dim[i]) {
            clg__graph_fail(g, "%s: %s has too many elements", op, SS(s));
            return 1;
        }
        n *= s->dim[i];
    }
    return 0;
}

static inline int norm_axis(int axis, int ndim, int *out)
{
    if (axis < -ndim || axis >= ndim)
        return 1;
    *out = axis < 0 ? axis + ndim : axis;
    return 0;
}

static inline int64_t numel(const clg_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n *= s->dim[i];
    return n;
}

static inline int shape_eq(const clg_shape *a, const clg_shape *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

static inline clg_t add1(clg_graph *g, clg_op op, clg_dtype dt, const clg_shape *s, clg_t a,
                  const clg_params *at)
{
    return clg__node_add(g, op, dt, s, &a, 1, at);
}

/* RESHAPE view; a view of a view is taken of the underlying node. */
static inline clg_t view(clg_graph *g, clg_t a, const clg_shape *s)
{
    if (shape_eq(&node(g, a)->shape, s))
        return a;
    if (node(g, a)->op == CLG_OP_RESHAPE)
        a = CLG__MAKE(g, node(g, a)->in[0]); /* inputs are stored untagged */
    if (shape_eq(&node(g, a)->shape, s))
        return a;
    return add1(g, CLG_OP_RESHAPE, dty(g, a), s, a, NULL);
}

/* ---------------------------------------------------------- backward rules
 * Each op family's file holds its builders and, beside them, its backward
 * rule: from G, the gradient of node y, the gradients d[k] of the inputs with
 * need[k] set. Returns 0 if the family has no rule for the node's op
 * (autodiff then reports it). Rules build with the public op API, as a
 * plugin would. */
typedef struct clg__grad_in {
    clg_node n;       /* node y, a copy: building ops moves g->nodes */
    clg_t x, y, G;    /* its input 0 (CLG_NONE if none), itself, the gradient of its output */
    clg_shape sx;     /* x's shape */
    const int *need;  /* need[k]: input k receives a gradient */
} clg__grad_in;
typedef int clg__backward_fn(clg_graph *g, const clg__grad_in *in, clg_t *d);
/* The rule's inputs as the locals every rule reads: n, x, y, G, sx, need. */
#define CLG__GRAD_LOCALS(in)                                                                 \
    const clg_node n = (in)->n;                                                              \
    const clg_t x = (in)->x, y = (in)->y, G = (in)->G;                                       \
    const clg_shape sx = (in)->sx;                                                           \
    const int *need = (in)->need;                                                            \
    (void)x, (void)y, (void)sx, (void)need
CLG_INTERNAL clg__backward_fn clg__backward_elementwise;
CLG_INTERNAL clg__backward_fn clg__backward_reduce;
CLG_INTERNAL clg__backward_fn clg__backward_linalg;
CLG_INTERNAL clg__backward_fn clg__backward_movement;
CLG_INTERNAL clg__backward_fn clg__backward_index;
CLG_INTERNAL clg__backward_fn clg__backward_norm;
CLG_INTERNAL clg__backward_fn clg__backward_conv;
CLG_INTERNAL clg__backward_fn clg__backward_recurrent;

/* G summed over the dims it was broadcast along, to `to` (an operand's own,
 * right-aligned, possibly lower-rank shape). Builds the SUM node itself, so
 * that the elementwise and movement rules need nothing of ops_reduce.c and
 * no two op files depend on each other. */
static inline clg_t clg__unbroadcast(clg_graph *g, clg_t G, const clg_shape *to)
{
    if (G == CLG_NONE || g->err != CLG_OK)
        return CLG_NONE;
    clg_shape s = shp(g, G), r = s;
    int lead = s.ndim - to->ndim;
    uint32_t mask = 0;
    for (int i = 0; i < s.ndim; i++) {
        int j = i - lead;
        if (j < 0 || (to->dim[j] == 1 && s.dim[i] != 1)) {
            mask |= 1u << i;
            r.dim[i] = 1;
        }
    }
    if (mask) {
        clg_params at = clg__p_i64(CLG_P_AXES, mask);
        G = clg__node_add(g, CLG_OP_SUM, CLG_F32, &r, &G, 1, &at);
    }
    return G == CLG_NONE ? CLG_NONE : view(g, G, to);
}

#endif
