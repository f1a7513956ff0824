/* Graph building: nodes, sources, and every public op builder with its shape
 * and dtype inference. Operands are checked where the op is built, so a bad
 * model fails at the line that made it, with the op and both shapes in the
 * message, rather than deep inside the compiler.
 *
 * Representation (what compile.c relies on, see clg_op in types.h):
 *   - elementwise nodes keep their operands' own shapes; the node's shape is
 *     the broadcast shape;
 *   - reductions keep the input's rank (reduced dims 1); keepdim=0 is a
 *     RESHAPE view on top;
 *   - MATMUL nodes are 3-D; clg_matmul wraps N-D operands in RESHAPE views;
 *   - EXPAND gets an input of its own rank (a RESHAPE adds leading 1s). */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest element count we accept: keeps byte sizes (and the planner's sums
 * of them) far from int64/size_t overflow. */
#define MAX_NUMEL (INT64_C(1) << 40)

#define SHAPE_STR_LEN 192
/* A shape formatted into a temporary that lives until the end of the
 * enclosing block: fine inside one call's argument list. */
#define SS(s) clg_shape_str((s), (char[SHAPE_STR_LEN]){ 0 }, SHAPE_STR_LEN)

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

/* ------------------------------------------------------------ helpers */

static const clg_node *node(const clg_graph *g, clg_t t) { return &g->nodes[t]; }
static clg_shape shp(const clg_graph *g, clg_t t) { return g->nodes[t].shape; }
static clg_dtype dty(const clg_graph *g, clg_t t) { return g->nodes[t].dtype; }

static int valid_dtype(clg_dtype dt) { return clg_dtype_size(dt) != 0; }

static const char *dname(clg_dtype dt) { return clg_dtype_name(dt); }

/* 1 when the builder must stop: no graph, an earlier error (then CLG_NONE
 * operands are expected and stay silent), or a handle that is not a node of
 * this graph. */
static int bad(clg_graph *g, const char *op, clg_t t)
{
    if (!g || g->err != CLG_OK)
        return 1;
    if (t == CLG_NONE) {
        clg__graph_fail(g, "%s: operand is CLG_NONE", op);
        return 1;
    }
    if (t < 0 || t >= g->n) {
        clg__graph_fail(g, "%s: %d is not a tensor of this graph (it has %d nodes)",
                        op, (int)t, g->n);
        return 1;
    }
    return 0;
}

static int need_dtype(clg_graph *g, const char *op, const char *which, clg_t t,
                      clg_dtype want)
{
    if (dty(g, t) == want)
        return 0;
    clg__graph_fail(g, "%s: %s must be %s, got %s %s", op, which, dname(want),
                    dname(dty(g, t)), SS(&node(g, t)->shape));
    return 1;
}

/* 0 if `s` is a shape we can hold; otherwise records why and returns 1. */
static int check_shape(clg_graph *g, const char *op, const clg_shape *s)
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

static int norm_axis(int axis, int ndim, int *out)
{
    if (axis < -ndim || axis >= ndim)
        return 1;
    *out = axis < 0 ? axis + ndim : axis;
    return 0;
}

static int64_t numel(const clg_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n *= s->dim[i];
    return n;
}

static int shape_eq(const clg_shape *a, const clg_shape *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

static clg_t add1(clg_graph *g, clg_op op, clg_dtype dt, const clg_shape *s, clg_t a,
                  const clg_params *at)
{
    return clg__node_add(g, op, dt, s, &a, 1, at);
}

/* RESHAPE view; a view of a view is taken of the underlying node. */
static clg_t view(clg_graph *g, clg_t a, const clg_shape *s)
{
    if (shape_eq(&node(g, a)->shape, s))
        return a;
    if (node(g, a)->op == CLG_OP_RESHAPE)
        a = node(g, a)->in[0];
    if (shape_eq(&node(g, a)->shape, s))
        return a;
    return add1(g, CLG_OP_RESHAPE, dty(g, a), s, a, NULL);
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
        if (in[k] < 0 || in[k] >= g->n)
            return clg__graph_fail(g, "%s: input %d (%d) is not a tensor of this graph",
                                   name, k, (int)in[k]);
    }
    if (check_shape(g, name, shape))
        return CLG_NONE;
    if (g->n == g->cap) {
        if (g->cap >= INT32_MAX / 2)
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
        nd->in[k] = in[k];
    for (int k = n_in; k < CLG_MAX_INPUTS; k++)
        nd->in[k] = CLG_NONE;
    if (params)
        nd->params = *params;
    nd->store_idx = -1;
    return g->n++;
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

static int ok_handle(const clg_graph *g, clg_t t) { return g && t >= 0 && t < g->n; }

/* For a handle that is not a node: a 0-d shape, f32, and CLG_OP_COUNT. */
clg_shape clg_shape_of(const clg_graph *g, clg_t t)
{
    return ok_handle(g, t) ? g->nodes[t].shape : (clg_shape){ 0 };
}

clg_dtype clg_dtype_of(const clg_graph *g, clg_t t)
{
    return ok_handle(g, t) ? g->nodes[t].dtype : CLG_F32;
}

clg_op clg_op_of(const clg_graph *g, clg_t t)
{
    return ok_handle(g, t) ? g->nodes[t].op : CLG_OP_COUNT;
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
            return i;
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
    g->nodes[t].name = copy;
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
            return i;
    }
    clg_t t = clg__node_add(g, CLG_OP_PARAM, st->e[idx].dtype, &st->e[idx].shape, NULL, 0,
                            NULL);
    if (t == CLG_NONE)
        return CLG_NONE;
    g->nodes[t].store = st;
    g->nodes[t].store_idx = idx;
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
    g->nodes[t].data = copy;
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

/* ------------------------------------------------------------ reductions */

static clg_t squeeze(clg_graph *g, clg_t r, uint32_t mask)
{
    clg_shape s = shp(g, r), q = { 0 };
    for (int i = 0; i < s.ndim; i++)
        if (!(mask & (1u << i)))
            q.dim[q.ndim++] = s.dim[i];
    return view(g, r, &q);
}

static clg_t reduce(clg_graph *g, const char *name, clg_op op, clg_t a, const int *axes,
                    int naxes, int keepdim)
{
    if (bad(g, name, a) || need_dtype(g, name, "input", a, CLG_F32))
        return CLG_NONE;
    clg_shape s = shp(g, a);
    uint32_t mask = 0;
    if (naxes < 0 || naxes > CLG_MAX_DIMS || (naxes > 0 && !axes))
        return clg__graph_fail(g, "%s: bad axis list (%d axes%s) for %s", name, naxes,
                               naxes > 0 && !axes ? ", NULL" : "", SS(&s));
    if (naxes == 0)
        mask = (1u << s.ndim) - 1u;
    for (int k = 0; k < naxes; k++) {
        int ax;
        if (norm_axis(axes[k], s.ndim, &ax))
            return clg__graph_fail(g, "%s: axis %d out of range for %s", name, axes[k], SS(&s));
        if (mask & (1u << ax))
            return clg__graph_fail(g, "%s: axis %d given twice for %s", name, axes[k], SS(&s));
        mask |= 1u << ax;
    }
    /* Reducing a 0-d tensor over its (no) axes is the identity. */
    if (mask == 0)
        return clg_copy(g, a);
    clg_shape out = s;
    for (int i = 0; i < s.ndim; i++)
        if (mask & (1u << i))
            out.dim[i] = 1;
    clg_params at = clg__p_i64(CLG_P_AXES, mask);
    clg_t r = add1(g, op, CLG_F32, &out, a, &at);
    if (r == CLG_NONE || keepdim)
        return r;
    return squeeze(g, r, mask);
}

clg_t clg_sum(clg_graph *g, clg_t a, const int *axes, int naxes, int keepdim)
{
    return reduce(g, "sum", CLG_OP_SUM, a, axes, naxes, keepdim);
}
clg_t clg_mean(clg_graph *g, clg_t a, const int *axes, int naxes, int keepdim)
{
    return reduce(g, "mean", CLG_OP_MEAN, a, axes, naxes, keepdim);
}
clg_t clg_max(clg_graph *g, clg_t a, const int *axes, int naxes, int keepdim)
{
    return reduce(g, "max", CLG_OP_MAX, a, axes, naxes, keepdim);
}

clg_t clg_argmax(clg_graph *g, clg_t a, int axis, int keepdim)
{
    if (bad(g, "argmax", a) || need_dtype(g, "argmax", "input", a, CLG_F32))
        return CLG_NONE;
    clg_shape s = shp(g, a);
    int ax;
    if (norm_axis(axis, s.ndim, &ax))
        return clg__graph_fail(g, "argmax: axis %d out of range for %s", axis, SS(&s));
    clg_shape out = s;
    out.dim[ax] = 1;
    clg_params at = clg__p_i64(CLG_P_AXIS, ax);
    clg_t r = add1(g, CLG_OP_ARGMAX, CLG_I32, &out, a, &at);
    if (r == CLG_NONE || keepdim)
        return r;
    return squeeze(g, r, 1u << ax);
}

static clg_t softmax_op(clg_graph *g, const char *name, clg_op op, clg_t a, int axis)
{
    if (bad(g, name, a) || need_dtype(g, name, "input", a, CLG_F32))
        return CLG_NONE;
    clg_shape s = shp(g, a);
    int ax;
    if (norm_axis(axis, s.ndim, &ax))
        return clg__graph_fail(g, "%s: axis %d out of range for %s", name, axis, SS(&s));
    clg_params at = clg__p_i64(CLG_P_AXIS, ax);
    return add1(g, op, CLG_F32, &s, a, &at);
}

clg_t clg_softmax(clg_graph *g, clg_t a, int axis)
{
    return softmax_op(g, "softmax", CLG_OP_SOFTMAX, a, axis);
}
clg_t clg_log_softmax(clg_graph *g, clg_t a, int axis)
{
    return softmax_op(g, "log_softmax", CLG_OP_LOG_SOFTMAX, a, axis);
}

/* ------------------------------------------------------------ matmul */

static clg_shape shape3(int64_t b, int64_t r, int64_t c)
{
    return (clg_shape){ .ndim = 3, .dim = { b, r, c } };
}

/* "[2, 3]" or "[2, 3]^T" */
static const char *mm_operand(const clg_shape *s, int trans, char *buf, size_t len)
{
    char tmp[SHAPE_STR_LEN];
    snprintf(buf, len, "%s%s", clg_shape_str(s, tmp, sizeof tmp), trans ? "^T" : "");
    return buf;
}

clg_t clg_matmul(clg_graph *g, clg_t a, clg_t b, int trans_a, int trans_b)
{
    if (bad(g, "matmul", a) || bad(g, "matmul", b) ||
        need_dtype(g, "matmul", "a", a, CLG_F32) || need_dtype(g, "matmul", "b", b, CLG_F32))
        return CLG_NONE;
    trans_a = trans_a != 0;
    trans_b = trans_b != 0;
    clg_shape sa = shp(g, a), sb = shp(g, b);
    char ba[SHAPE_STR_LEN + 4], bb[SHAPE_STR_LEN + 4];
    mm_operand(&sa, trans_a, ba, sizeof ba);
    mm_operand(&sb, trans_b, bb, sizeof bb);
    if (sa.ndim < 2 || sb.ndim < 2)
        return clg__graph_fail(g, "matmul: operands need at least 2 dims: %s @ %s", ba, bb);
    int na = sa.ndim, nb = sb.ndim;
    int64_t ra = sa.dim[na - 2], ca = sa.dim[na - 1], rb = sb.dim[nb - 2], cb = sb.dim[nb - 1];
    int64_t M = trans_a ? ca : ra, K = trans_a ? ra : ca;
    int64_t Kb = trans_b ? cb : rb, N = trans_b ? rb : cb;
    if (K != Kb)
        return clg__graph_fail(g, "matmul: inner dims differ: %s @ %s", ba, bb);
    int64_t pa = numel(&sa) / (ra * ca), pb = numel(&sb) / (rb * cb);
    clg_shape a3, b3, o3, out;
    if (na > 2 && nb > 2) {
        int same = na == nb;
        for (int i = 0; same && i < na - 2; i++)
            same = sa.dim[i] == sb.dim[i];
        if (!same)
            return clg__graph_fail(g, "matmul: batch dims differ: %s @ %s", ba, bb);
        a3 = shape3(pa, ra, ca);
        b3 = shape3(pb, rb, cb);
        o3 = shape3(pa, M, N);
        out = sa;
    } else if (na > 2 && !trans_a) {
        /* b is shared by every matrix of a: one GEMM over all rows of a. */
        a3 = shape3(1, pa * ra, ca);
        b3 = shape3(1, rb, cb);
        o3 = shape3(1, pa * M, N);
        out = sa;
    } else {
        a3 = shape3(pa, ra, ca);
        b3 = shape3(pb, rb, cb);
        o3 = shape3(pa > pb ? pa : pb, M, N);
        out = na > 2 ? sa : sb;
    }
    out.dim[out.ndim - 2] = M;
    out.dim[out.ndim - 1] = N;
    if (check_shape(g, "matmul", &o3))
        return CLG_NONE;
    clg_t in[2] = { view(g, a, &a3), view(g, b, &b3) };
    if (in[0] == CLG_NONE || in[1] == CLG_NONE)
        return CLG_NONE;
    clg_params at = clg__p_i64(CLG_P_TRANS_A, trans_a);
    clg_param_set_i64(&at, CLG_P_TRANS_B, trans_b);
    clg_t r = clg__node_add(g, CLG_OP_MATMUL, CLG_F32, &o3, in, 2, &at);
    if (r == CLG_NONE)
        return CLG_NONE;
    return view(g, r, &out);
}

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

/* ------------------------------------------------------------ index ops */

/* torch.gather/scatter_add's rule: same rank, index no larger than the data
 * on every axis but `axis`. */
static int index_fits(clg_graph *g, const char *name, const clg_shape *data, const char *dn,
                      const clg_shape *idx, int axis, int *ax)
{
    if (idx->ndim != data->ndim || norm_axis(axis, data->ndim, ax)) {
        clg__graph_fail(g, "%s: index %s and %s %s need the same rank, with axis %d in it",
                        name, SS(idx), dn, SS(data), axis);
        return 1;
    }
    for (int i = 0; i < data->ndim; i++) {
        if (i != *ax && idx->dim[i] > data->dim[i]) {
            clg__graph_fail(g, "%s: index %s is larger than %s %s on dim %d", name, SS(idx), dn,
                            SS(data), i);
            return 1;
        }
    }
    return 0;
}

clg_t clg_gather(clg_graph *g, clg_t a, clg_t index, int axis)
{
    if (bad(g, "gather", a) || bad(g, "gather", index) ||
        need_dtype(g, "gather", "index", index, CLG_I32))
        return CLG_NONE;
    clg_shape sa = shp(g, a), si = shp(g, index);
    int ax;
    if (index_fits(g, "gather", &sa, "data", &si, axis, &ax))
        return CLG_NONE;
    clg_params at = clg__p_i64(CLG_P_AXIS, ax);
    clg_t in[2] = { a, index };
    return clg__node_add(g, CLG_OP_GATHER, dty(g, a), &si, in, 2, &at);
}

clg_t clg_scatter_add(clg_graph *g, clg_t src, clg_t index, int axis,
                      const clg_shape *out_shape)
{
    if (bad(g, "scatter_add", src) || bad(g, "scatter_add", index) ||
        need_dtype(g, "scatter_add", "src", src, CLG_F32) ||
        need_dtype(g, "scatter_add", "index", index, CLG_I32) ||
        check_shape(g, "scatter_add", out_shape))
        return CLG_NONE;
    clg_shape ss = shp(g, src), si = shp(g, index);
    if (!shape_eq(&ss, &si))
        return clg__graph_fail(g, "scatter_add: index %s and src %s must have the same shape",
                               SS(&si), SS(&ss));
    int ax;
    if (index_fits(g, "scatter_add", out_shape, "out", &si, axis, &ax))
        return CLG_NONE;
    clg_params at = clg__p_i64(CLG_P_AXIS, ax);
    clg_t in[2] = { src, index };
    return clg__node_add(g, CLG_OP_SCATTER_ADD, CLG_F32, out_shape, in, 2, &at);
}

clg_t clg_one_hot(clg_graph *g, clg_t index, int64_t classes)
{
    if (bad(g, "one_hot", index) || need_dtype(g, "one_hot", "index", index, CLG_I32))
        return CLG_NONE;
    clg_shape s = shp(g, index);
    if (classes < 1)
        return clg__graph_fail(g, "one_hot: classes must be >= 1, got %lld", (long long)classes);
    if (s.ndim >= CLG_MAX_DIMS)
        return clg__graph_fail(g, "one_hot: index %s already has %d dims, the most there is",
                               SS(&s), CLG_MAX_DIMS);
    clg_shape out = s;
    out.dim[out.ndim++] = classes;
    clg_params at = clg__p_i64(CLG_P_N, classes);
    return add1(g, CLG_OP_ONE_HOT, CLG_F32, &out, index, &at);
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
    g->assigns[g->n_assigns++] = (clg_assignment){ .param = param, .value = value };
    return CLG_OK;
}
