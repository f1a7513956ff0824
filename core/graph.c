/* The graph: nodes, sources (inputs, params, constants, fills) and
 * assignments. Op builders live with their backward rules in one file per
 * op family (ops_elementwise.c, ops_reduce.c, ops_linalg.c, ops_movement.c,
 * ops_index.c). Operands are checked where an op is built, so a bad model
 * fails at the line that made it, with the op and both shapes in the
 * message, rather than deep inside the compiler.
 *
 * Representation (what compile.c relies on, see clg_op in types.h):
 *   - elementwise nodes keep their operands' own shapes; the node's shape is
 *     the broadcast shape;
 *   - reductions keep the input's rank (reduced dims 1); keepdim=0 is a
 *     RESHAPE view on top;
 *   - MATMUL nodes are 3-D; clg_matmul wraps N-D operands in RESHAPE views;
 *   - EXPAND gets an input of its own rank (a RESHAPE adds leading 1s). */
#include "ops_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ errors */

static clg_t vfail(clg_graph *g, clg_status st, const char *fmt, va_list ap)
{
    char msg[CLG_ERRMSG_LEN];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (g->err == CLG_OK) {
        g->err = st;
        memcpy(g->errmsg, msg, sizeof msg);
    }
    if (g->ctx)
        clg_ctx_set_error(g->ctx, st, "%s", msg);
    return CLG_NONE;
}

clg_t clg__graph_fail(clg_graph *g, const char *fmt, ...)
{
    if (!g)
        return CLG_NONE;
    va_list ap;
    va_start(ap, fmt);
    vfail(g, CLG_ERR_INVALID, fmt, ap);
    va_end(ap);
    return CLG_NONE;
}

static clg_t fail_st(clg_graph *g, clg_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static clg_t fail_st(clg_graph *g, clg_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(g, st, fmt, ap);
    va_end(ap);
    return CLG_NONE;
}

/* ------------------------------------------------------------ the graph */

clg_t clg__node_add(clg_graph *g, clg_op op, clg_dtype dt, const clg_shape *shape,
                    const clg_t *in, int n_in, const clg_params *params)
{
    if (!g || g->err != CLG_OK)
        return CLG_NONE;
    if (!clg_op_info_of(op).name)
        return clg__graph_fail(g, "internal: op %d is not an op", (int)op);
    const char *name = clg_op_name(op);
    if (!valid_dtype(dt))
        return clg__graph_fail(g, "%s: dtype %d is not a dtype", name, (int)dt);
    if (n_in < 0 || n_in > CLG_MAX_INPUTS || (n_in > 0 && !in))
        return clg__graph_fail(g, "%s: %d inputs (at most %d)", name, n_in, CLG_MAX_INPUTS);
    for (int k = 0; k < n_in; k++) {
        if (clg__handle_foreign(g, in[k]))
            return clg__graph_fail(g, "%s: input %d is a tensor of another graph (handle %d "
                                   "of graph tag %d, this graph's tag is %d)", name, k,
                                   (int)CLG__IDX(in[k]), CLG__TAG(in[k]), g->tag);
        if (!clg__handle_ok(g, in[k]))
            return clg__graph_fail(g, "%s: input %d (%d) is not a tensor of this graph",
                                   name, k, (int)in[k]);
    }
    if (check_shape(g, name, shape))
        return CLG_NONE;
    if (g->n == g->cap) {
        if (g->cap >= CLG__IDX_MASK / 2)
            return fail_st(g, CLG_ERR_NOMEM, "%s: graph has too many nodes", name);
        int cap = g->cap ? g->cap * 2 : 64;
        clg_node *nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes)
            return fail_st(g, CLG_ERR_NOMEM, "%s: out of memory growing the graph to %d nodes",
                           name, cap);
        g->nodes = nodes;
        g->cap = cap;
    }
    clg_node *nd = &g->nodes[g->n];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->dtype = dt;
    nd->shape = *shape;
    for (int i = shape->ndim; i < CLG_MAX_DIMS; i++)
        nd->shape.dim[i] = 0;
    nd->n_in = n_in;
    for (int k = 0; k < n_in; k++)
        nd->in[k] = CLG__IDX(in[k]); /* inputs are stored untagged */
    for (int k = n_in; k < CLG_MAX_INPUTS; k++)
        nd->in[k] = CLG_NONE;
    if (params)
        nd->params = *params;
    nd->store_idx = -1;
    return CLG__MAKE(g, g->n++);
}

clg_graph *clg_graph_new(clg_ctx *ctx)
{
    clg_graph *g = calloc(1, sizeof *g);
    if (!g) {
        if (ctx)
            clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "graph: out of memory");
        return NULL;
    }
    g->ctx = ctx;
    /* a tag per graph, so a handle of another graph is an error */
    static _Atomic unsigned next_tag;
    g->tag = (int)(next_tag++ % 127u) + 1;
    return g;
}

void clg_graph_free(clg_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n; i++) {
        free(g->nodes[i].name);
        free(g->nodes[i].data);
    }
    free(g->nodes);
    free(g->assigns);
    free(g);
}

clg_status clg_graph_status(const clg_graph *g) { return g ? g->err : CLG_ERR_INVALID; }

const char *clg_graph_error(const clg_graph *g)
{
    return g ? g->errmsg : "graph is NULL";
}

int clg_graph_size(const clg_graph *g) { return g ? g->n : 0; }

static int ok_handle(const clg_graph *g, clg_t t) { return clg__handle_ok(g, t); }

/* For a handle that is not a node: a 0-d shape, f32, and CLG_OP_COUNT. */
clg_shape clg_shape_of(const clg_graph *g, clg_t t)
{
    return ok_handle(g, t) ? g->nodes[CLG__IDX(t)].shape : (clg_shape){ 0 };
}

clg_dtype clg_dtype_of(const clg_graph *g, clg_t t)
{
    return ok_handle(g, t) ? g->nodes[CLG__IDX(t)].dtype : CLG_F32;
}

clg_ctx *clg_graph_ctx(const clg_graph *g) { return g ? g->ctx : NULL; }

const char *clg_param_name(const clg_graph *g, clg_t t, const clg_store *st)
{
    if (!ok_handle(g, t) || !st)
        return NULL;
    const clg_node *n = &g->nodes[CLG__IDX(t)];
    if (n->op != CLG_OP_PARAM || n->store != st || n->store_idx < 0 || n->store_idx >= st->n)
        return NULL;
    return st->e[n->store_idx].name;
}

clg_op clg_op_of(const clg_graph *g, clg_t t)
{
    return ok_handle(g, t) ? g->nodes[CLG__IDX(t)].op : CLG_OP_COUNT;
}

/* ------------------------------------------------------------ sources */

/* Declaring the same input twice with the same dtype and shape returns the
 * first node, so independent pieces of a model can each ask for "x". */
clg_t clg_input(clg_graph *g, const char *name, clg_dtype dt, const clg_shape *shape)
{
    if (!g || g->err != CLG_OK)
        return CLG_NONE;
    if (!name || !*name)
        return clg__graph_fail(g, "input: name is empty");
    if (!valid_dtype(dt))
        return clg__graph_fail(g, "input '%s': dtype %d is not a dtype", name, (int)dt);
    char what[96];
    snprintf(what, sizeof what, "input '%s'", name);
    if (check_shape(g, what, shape))
        return CLG_NONE;
    for (int i = 0; i < g->n; i++) {
        const clg_node *n = &g->nodes[i];
        if (n->op != CLG_OP_INPUT || strcmp(n->name, name) != 0)
            continue;
        if (n->dtype == dt && shape_eq(&n->shape, shape))
            return CLG__MAKE(g, i);
        return clg__graph_fail(g, "input '%s': already declared as %s %s, now %s %s", name,
                               dname(n->dtype), SS(&n->shape), dname(dt), SS(shape));
    }
    char *copy = strdup(name);
    if (!copy)
        return fail_st(g, CLG_ERR_NOMEM, "input '%s': out of memory", name);
    clg_t t = clg__node_add(g, CLG_OP_INPUT, dt, shape, NULL, 0, NULL);
    if (t == CLG_NONE) {
        free(copy);
        return CLG_NONE;
    }
    g->nodes[CLG__IDX(t)].name = copy;
    return t;
}

/* One node per store entry: a parameter used by several layers, its
 * gradient and its assignment all meet at the same node. */
clg_t clg_param(clg_graph *g, clg_store *st, const char *name)
{
    if (!g || g->err != CLG_OK)
        return CLG_NONE;
    if (!st)
        return clg__graph_fail(g, "param: store is NULL");
    if (!name || !*name)
        return clg__graph_fail(g, "param: name is empty");
    int idx = -1;
    for (int i = 0; i < st->n; i++) {
        if (strcmp(st->e[i].name, name) == 0) {
            idx = i;
            break;
        }
    }
    if (idx < 0)
        return fail_st(g, CLG_ERR_NOT_FOUND, "param: no tensor '%s' in the store", name);
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].op == CLG_OP_PARAM && g->nodes[i].store == st &&
            g->nodes[i].store_idx == idx)
            return CLG__MAKE(g, i);
    }
    clg_t t = clg__node_add(g, CLG_OP_PARAM, st->e[idx].dtype, &st->e[idx].shape, NULL, 0,
                            NULL);
    if (t == CLG_NONE)
        return CLG_NONE;
    g->nodes[CLG__IDX(t)].store = st;
    g->nodes[CLG__IDX(t)].store_idx = idx;
    return t;
}

clg_t clg_const(clg_graph *g, clg_dtype dt, const clg_shape *shape, const void *data)
{
    if (!g || g->err != CLG_OK)
        return CLG_NONE;
    if (!valid_dtype(dt))
        return clg__graph_fail(g, "const: dtype %d is not a dtype", (int)dt);
    if (check_shape(g, "const", shape))
        return CLG_NONE;
    if (!data)
        return clg__graph_fail(g, "const: data is NULL for %s %s", dname(dt), SS(shape));
    size_t bytes = (size_t)numel(shape) * clg_dtype_size(dt);
    void *copy = malloc(bytes ? bytes : 1);
    if (!copy)
        return fail_st(g, CLG_ERR_NOMEM, "const: out of memory for %s %s", dname(dt),
                       SS(shape));
    memcpy(copy, data, bytes);
    clg_t t = clg__node_add(g, CLG_OP_CONST, dt, shape, NULL, 0, NULL);
    if (t == CLG_NONE) {
        free(copy);
        return CLG_NONE;
    }
    g->nodes[CLG__IDX(t)].data = copy;
    return t;
}

clg_t clg_full(clg_graph *g, const clg_shape *shape, float value)
{
    if (!g || g->err != CLG_OK)
        return CLG_NONE;
    if (check_shape(g, "full", shape))
        return CLG_NONE;
    clg_params at = clg__p_f32(CLG_P_SCALAR, value);
    return clg__node_add(g, CLG_OP_FILL, CLG_F32, shape, NULL, 0, &at);
}

clg_t clg_scalar(clg_graph *g, float value)
{
    clg_shape s = { 0 };
    return clg_full(g, &s, value);
}

/* ------------------------------------------------------------ assign */

clg_status clg_assign(clg_graph *g, clg_t param, clg_t value)
{
    if (!g)
        return CLG_ERR_INVALID;
    if (g->err != CLG_OK) {
        if (g->ctx)
            clg_ctx_set_error(g->ctx, g->err, "%s", g->errmsg);
        return g->err;
    }
    if (bad(g, "assign", param) || bad(g, "assign", value))
        return g->err;
    const clg_node *p = node(g, param);
    if (p->op != CLG_OP_PARAM) {
        clg__graph_fail(g, "assign: target must be a param node, got op %s", clg_op_name(p->op));
        return g->err;
    }
    const char *pname = p->store->e[p->store_idx].name;
    if (dty(g, value) != p->dtype || !shape_eq(&p->shape, &node(g, value)->shape)) {
        clg__graph_fail(g, "assign: param '%s' is %s %s but the value is %s %s", pname,
                        dname(p->dtype), SS(&p->shape), dname(dty(g, value)),
                        SS(&node(g, value)->shape));
        return g->err;
    }
    if (g->n_assigns == g->cap_assigns) {
        int cap = g->cap_assigns ? g->cap_assigns * 2 : 16;
        clg_assignment *as = realloc(g->assigns, (size_t)cap * sizeof *as);
        if (!as) {
            fail_st(g, CLG_ERR_NOMEM, "assign: out of memory for param '%s'", pname);
            return g->err;
        }
        g->assigns = as;
        g->cap_assigns = cap;
    }
    g->assigns[g->n_assigns++] =
        (clg_assignment){ .param = CLG__IDX(param), .value = CLG__IDX(value) };
    return CLG_OK;
}
