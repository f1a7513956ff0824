/* clg_compile: turns a graph into a plan. Picks the nodes the outputs and
 * assignments need, gives every node a place to live (its own buffer, the
 * store's, its view root's, or a region of one arena reused across nodes whose
 * lifetimes do not overlap), checks every op against the backend, and
 * allocates everything, so that running a plan never allocates. */
#include "fuse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct compiler {
    const clg_graph *g;
    clg_device *dev;
    clg_plan *p;
    char *need;       /* per graph node */
    int *root;        /* per graph node: the node that owns its storage */
    int *step;        /* per graph node: index of its op, -1 if none */
    int *last;        /* per graph node: last op step reading it; n_ops = to the end */
    int may_lower;    /* 1: composite ops the backend lacks are lowered first */
    clg_graph *lowered; /* set when they were: compile this graph instead */
    clg_t *lower_map;   /* g's nodes -> lowered's */
    clg__fusion fu;     /* which steps run inside a fused op (none: exec[s] == s) */
} compiler;

/* Sets the message on the device's context, and on the graph's if that is
 * another one, so whoever the caller checks holds it. */
static clg_status fail(compiler *c, clg_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static clg_status fail(compiler *c, clg_status st, const char *fmt, ...)
{
    char msg[CLG_ERRMSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    clg_ctx_set_error(c->dev->ctx, st, "compile: %s", msg);
    if (c->g->ctx && c->g->ctx != c->dev->ctx)
        clg_ctx_set_error(c->g->ctx, st, "compile: %s", msg);
    return st;
}

static int is_arena_op(clg_op op) { return clg_op_is_kernel(op); }

static size_t node_bytes(const clg_node *n)
{
    return (size_t)clg_shape_numel(&n->shape) * clg_dtype_size(n->dtype);
}

/* ------------------------------------------------------ validation, marks */

static clg_status check_handle(compiler *c, clg_t t, const char *what, int i)
{
    if (t < 0 || t >= c->g->n)
        return fail(c, CLG_ERR_INVALID, "%s %d: handle %d is not a node of the graph (size %d)",
                    what, i, (int)t, c->g->n);
    return CLG_OK;
}

static clg_status check_graph(compiler *c, const clg_t *outputs, int n)
{
    const clg_graph *g = c->g;
    for (int i = 0; i < n; i++) {
        clg_status st = check_handle(c, outputs[i], "output", i);
        if (st != CLG_OK)
            return st;
    }
    for (int i = 0; i < g->n_assigns; i++) {
        const clg_assignment *a = &g->assigns[i];
        clg_status st = check_handle(c, a->param, "assignment param", i);
        if (st == CLG_OK)
            st = check_handle(c, a->value, "assignment value", i);
        if (st != CLG_OK)
            return st;
        const clg_node *pn = &g->nodes[a->param], *vn = &g->nodes[a->value];
        if (pn->op != CLG_OP_PARAM)
            return fail(c, CLG_ERR_INVALID, "assignment %d: target node %d is %s, not a param",
                        i, (int)a->param, clg_op_name(pn->op));
        if (pn->dtype != vn->dtype || !clg_shape_equal(&pn->shape, &vn->shape)) {
            char sa[192], sb[192];
            return fail(c, CLG_ERR_INVALID, "assignment %d: value %s does not match param %s",
                        i, clg__tensor_str(vn->dtype, &vn->shape, sa, sizeof sa),
                        clg__tensor_str(pn->dtype, &pn->shape, sb, sizeof sb));
        }
    }
    /* Inputs are set by name, so a name must say which one. */
    for (int i = 0; i < g->n; i++) {
        if (g->nodes[i].op != CLG_OP_INPUT || !g->nodes[i].name)
            continue;
        for (int j = 0; j < i; j++)
            if (g->nodes[j].op == CLG_OP_INPUT && g->nodes[j].name &&
                strcmp(g->nodes[i].name, g->nodes[j].name) == 0)
                return fail(c, CLG_ERR_INVALID, "nodes %d and %d are both inputs named '%s'",
                            j, i, g->nodes[i].name);
    }
    return CLG_OK;
}

static clg_status mark_needed(compiler *c, const clg_t *outputs, int n)
{
    const clg_graph *g = c->g;
    for (int i = 0; i < n; i++)
        c->need[outputs[i]] = 1;
    for (int i = 0; i < g->n_assigns; i++) {
        c->need[g->assigns[i].param] = 1;
        c->need[g->assigns[i].value] = 1;
    }
    /* Handles are topological, so one backward sweep reaches everything. */
    for (int i = g->n - 1; i >= 0; i--) {
        if (!c->need[i])
            continue;
        const clg_node *nd = &g->nodes[i];
        if (!clg_op_info_of(nd->op).name)
            return fail(c, CLG_ERR_INVALID, "node %d has unknown op %d", i, (int)nd->op);
        if (clg_dtype_size(nd->dtype) == 0)
            return fail(c, CLG_ERR_INVALID, "node %d (%s) has unknown dtype %d", i,
                        clg_op_name(nd->op), (int)nd->dtype);
        if (nd->shape.ndim < 0 || nd->shape.ndim > CLG_MAX_DIMS)
            return fail(c, CLG_ERR_INVALID, "node %d (%s) has rank %d", i,
                        clg_op_name(nd->op), nd->shape.ndim);
        if (nd->n_in < 0 || nd->n_in > CLG_MAX_INPUTS)
            return fail(c, CLG_ERR_INVALID, "node %d (%s) has %d inputs", i,
                        clg_op_name(nd->op), nd->n_in);
        for (int k = 0; k < nd->n_in; k++) {
            clg_t in = nd->in[k];
            if (in < 0 || in >= i)
                return fail(c, CLG_ERR_INVALID,
                            "node %d (%s): input %d is node %d, not an earlier node", i,
                            clg_op_name(nd->op), k, (int)in);
            c->need[in] = 1;
        }
    }
    return CLG_OK;
}

/* ------------------------------------------------------------ memory plan */

typedef struct region {
    size_t off, size;
    int node;
} region;

/* Live regions of the arena, sorted by offset. */
typedef struct arena_state {
    region *live;
    int n;
    size_t top;
} arena_state;

/* Best fit among the gaps between live regions; past the last one if none
 * fits. */
static size_t arena_place(arena_state *a, int node, size_t size)
{
    size_t prev_end = 0, best_off = 0, best_gap = 0;
    int best_pos = -1;
    for (int i = 0; i < a->n; i++) {
        size_t gap = a->live[i].off - prev_end;
        if (gap >= size && (best_pos < 0 || gap < best_gap)) {
            best_pos = i;
            best_off = prev_end;
            best_gap = gap;
        }
        prev_end = a->live[i].off + a->live[i].size;
    }
    if (best_pos < 0) {
        best_pos = a->n;
        best_off = prev_end;
    }
    memmove(&a->live[best_pos + 1], &a->live[best_pos],
            (size_t)(a->n - best_pos) * sizeof *a->live);
    a->live[best_pos] = (region){ best_off, size, node };
    a->n++;
    if (best_off + size > a->top)
        a->top = best_off + size;
    return best_off;
}

static void arena_release_until(arena_state *a, const int *last, int step)
{
    int k = 0;
    for (int i = 0; i < a->n; i++)
        if (last[a->live[i].node] > step)
            a->live[k++] = a->live[i];
    a->n = k;
}

/* Gives each arena node an offset; returns the arena size. */
static clg_status plan_memory(compiler *c, const int *order, int n_ops, int no_reuse,
                              size_t *offsets, size_t *arena_size, size_t *naive)
{
    const clg_graph *g = c->g;
    *naive = 0;
    for (int s = 0; s < n_ops; s++)
        *naive += clg__align(node_bytes(&g->nodes[order[s]]));
    if (no_reuse) {
        size_t off = 0;
        for (int s = 0; s < n_ops; s++) {
            offsets[order[s]] = off;
            off += clg__align(node_bytes(&g->nodes[order[s]]));
        }
        *arena_size = off;
        return CLG_OK;
    }
    arena_state a = { malloc((size_t)(n_ops + 1) * sizeof(region)), 0, 0 };
    if (!a.live)
        return fail(c, CLG_ERR_NOMEM, "out of memory planning %d ops", n_ops);
    for (int s = 0; s < n_ops; s++) {
        int id = order[s];
        size_t size = clg__align(node_bytes(&g->nodes[id]));
        /* Empty tensors are never touched, so they need no room; nor do
         * results kept in a fused op's registers or written into the store. */
        if (c->fu.exec && (c->fu.no_buffer[id] || c->fu.in_place[id] >= 0))
            size = 0;
        offsets[id] = size ? arena_place(&a, id, size) : 0;
        arena_release_until(&a, c->last, s);
    }
    *arena_size = a.top;
    free(a.live);
    return CLG_OK;
}

/* ---------------------------------------------------------------- ops */

static void describe_op(const clg_bk_op *op, char *buf, size_t len)
{
    size_t used = 0;
    char ts[192];
    for (int i = 0; i < op->n_in && used < len; i++) {
        clg_shape s = { .ndim = op->in[i].ndim };
        memcpy(s.dim, op->in[i].dim, sizeof s.dim);
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
                         clg__tensor_str(op->in[i].dtype, &s, ts, sizeof ts));
        if (w < 0)
            return;
        used += (size_t)w;
    }
    if (used < len) {
        clg_shape s = { .ndim = op->out.ndim };
        memcpy(s.dim, op->out.dim, sizeof s.dim);
        snprintf(buf + used, len - used, "%s-> %s", op->n_in ? " " : "",
                 clg__tensor_str(op->out.dtype, &s, ts, sizeof ts));
    }
}

static clg_status build_op(compiler *c, int id, clg_bk_op *op)
{
    const clg_node *nd = &c->g->nodes[id];
    int bad = clg__bk_op_init(c->g, id, op);
    if (bad >= 0) {
        const clg_node *in = &c->g->nodes[nd->in[bad]];
        char sa[192], sb[192];
        return fail(c, CLG_ERR_INVALID,
                    "node %d (%s): input %d %s has a higher rank than the output %s", id,
                    clg_op_name(nd->op), bad,
                    clg__tensor_str(in->dtype, &in->shape, sa, sizeof sa),
                    clg__tensor_str(nd->dtype, &nd->shape, sb, sizeof sb));
    }
    if (!clg__backend_runs(c->dev, op)) {
        const clg_backend *vt = c->dev->vt;
        char desc[CLG_ERRMSG_LEN / 2];
        describe_op(op, desc, sizeof desc);
        if ((uint32_t)nd->op >= vt->op_table_version)
            return fail(c, CLG_ERR_UNSUPPORTED,
                        "backend '%s' cannot run op '%s' (%s): it was built against op table "
                        "version %u, and '%s' is op %d", vt->name, clg_op_name(nd->op), desc,
                        (unsigned)vt->op_table_version, clg_op_name(nd->op), (int)nd->op);
        return fail(c, CLG_ERR_UNSUPPORTED, "backend '%s' cannot run op '%s' (%s)%s", vt->name,
                    clg_op_name(nd->op), desc,
                    clg_op_info_of(nd->op).kind == CLG_OPKIND_PRIM
                        ? "; it is a primitive, which every backend must run for this dtype "
                          "and shape to be usable"
                        : "");
    }
    return CLG_OK;
}

/* ------------------------------------------------------------ allocation */

static clg_status own_buffer(compiler *c, size_t bytes, const char *what, int id,
                             clg_bk_buffer **out)
{
    const clg_backend *vt = c->dev->vt;
    clg_plan *p = c->p;
    clg_status st = vt->alloc(c->dev->bk, bytes, out);
    if (st != CLG_OK || !*out)
        return fail(c, st != CLG_OK ? st : CLG_ERR_BACKEND,
                    "allocating %zu bytes for %s (node %d) on backend '%s' failed: %s", bytes,
                    what, id, vt->name, vt->last_error(c->dev->bk));
    p->owned[p->n_owned++] = *out;
    p->usage.device_bytes += bytes;
    return CLG_OK;
}

/* Inputs, constants and params: storage outside the arena. */
static clg_status place_sources(compiler *c)
{
    const clg_graph *g = c->g;
    clg_plan *p = c->p;
    const clg_backend *vt = c->dev->vt;
    for (int i = 0; i < g->n; i++) {
        const clg_node *nd = &g->nodes[i];
        if (!c->need[i])
            continue;
        clg_plan_slot *s = &p->slots[p->slot_of[i]];
        clg_status st = CLG_OK;
        if (nd->op == CLG_OP_INPUT) {
            clg_plan_input *in = NULL;
            for (int k = 0; k < p->n_inputs; k++)
                if (nd->name && strcmp(p->inputs[k].name, nd->name) == 0)
                    in = &p->inputs[k];
            if (!in)
                return fail(c, CLG_ERR_INVALID, "input node %d has no name", i);
            st = own_buffer(c, s->bytes, "input", i, &s->buf);
            in->buf = s->buf;
            s->readable = 1;
        } else if (nd->op == CLG_OP_PARAM) {
            const clg_store *store = nd->store;
            if (!store || nd->store_idx < 0 || nd->store_idx >= store->n)
                return fail(c, CLG_ERR_INVALID, "param node %d refers to no store entry", i);
            const clg_store_entry *e = &store->e[nd->store_idx];
            if (store->dev != c->dev)
                return fail(c, CLG_ERR_INVALID,
                            "param '%s' lives in a store on another device (backend '%s' "
                            "device %d), not the one compiled for (backend '%s' device %d)",
                            e->name, store->dev->vt->name, store->dev->index, vt->name,
                            c->dev->index);
            if (e->dtype != nd->dtype || !clg_shape_equal(&e->shape, &nd->shape))
                return fail(c, CLG_ERR_INVALID, "param '%s' changed in the store since the "
                            "graph was built", e->name);
            s->buf = e->buf;
            s->offset = 0;
            s->readable = 1;
        } else if (nd->op == CLG_OP_CONST) {
            st = own_buffer(c, s->bytes, "constant", i, &s->buf);
            if (st == CLG_OK && s->bytes) {
                if (!nd->data)
                    return fail(c, CLG_ERR_INVALID, "constant node %d has no data", i);
                st = vt->write(c->dev->bk, s->buf, 0, nd->data, s->bytes);
                if (st != CLG_OK)
                    return fail(c, st, "uploading constant node %d (%zu bytes) failed: %s",
                                i, s->bytes, vt->last_error(c->dev->bk));
            }
        }
        if (st != CLG_OK)
            return st;
    }
    return CLG_OK;
}

/* Every graph input is listed, used or not, so a training loop can set the
 * same inputs on its train and eval plans. */
static clg_status list_inputs(compiler *c)
{
    const clg_graph *g = c->g;
    clg_plan *p = c->p;
    int n = 0;
    for (int i = 0; i < g->n; i++)
        n += g->nodes[i].op == CLG_OP_INPUT;
    p->inputs = calloc((size_t)n + 1, sizeof *p->inputs);
    if (!p->inputs)
        return fail(c, CLG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n; i++) {
        const clg_node *nd = &g->nodes[i];
        if (nd->op != CLG_OP_INPUT)
            continue;
        if (!nd->name)
            return fail(c, CLG_ERR_INVALID, "input node %d has no name", i);
        clg_plan_input *in = &p->inputs[p->n_inputs];
        in->name = strdup(nd->name);
        if (!in->name)
            return fail(c, CLG_ERR_NOMEM, "out of memory");
        in->dtype = nd->dtype;
        in->shape = nd->shape;
        in->bytes = node_bytes(nd);
        p->n_inputs++;
    }
    return CLG_OK;
}

/* ------------------------------------------------------------------ main */

static clg_status compile(compiler *c, const clg_t *outputs, int n,
                          const clg_compile_opts *opts)
{
    const clg_graph *g = c->g;
    clg_plan *p = c->p;
    clg_status st = check_graph(c, outputs, n);
    if (st == CLG_OK)
        st = mark_needed(c, outputs, n);
    if (st == CLG_OK && c->may_lower)
        st = clg__lower(g, c->dev, c->need, &c->lowered, &c->lower_map);
    if (st != CLG_OK || c->lowered)
        return st;

    /* Slots, view roots and op order. */
    int n_needed = 0, n_ops = 0;
    for (int i = 0; i < g->n; i++) {
        if (!c->need[i])
            continue;
        n_needed++;
        n_ops += is_arena_op(g->nodes[i].op);
    }
    p->slots = calloc((size_t)n_needed + 1, sizeof *p->slots);
    p->ops = calloc((size_t)n_ops + 1, sizeof *p->ops);
    p->op_node = calloc((size_t)n_ops + 1, sizeof *p->op_node);
    /* An input or constant buffer per node at most, plus the arena. */
    p->owned = calloc((size_t)n_needed + 1, sizeof *p->owned);
    p->assigns = calloc((size_t)g->n_assigns + 1, sizeof *p->assigns);
    int *order = calloc((size_t)n_ops + 1, sizeof *order);
    size_t *offsets = calloc((size_t)g->n + 1, sizeof *offsets);
    if (!p->slots || !p->ops || !p->op_node || !p->owned || !p->assigns || !order ||
        !offsets) {
        free(order);
        free(offsets);
        return fail(c, CLG_ERR_NOMEM, "out of memory for a plan of %d nodes", n_needed);
    }

    int k = 0;
    for (int i = 0; i < g->n; i++) {
        c->step[i] = -1;
        if (!c->need[i])
            continue;
        const clg_node *nd = &g->nodes[i];
        p->slot_of[i] = p->n_slots;
        clg_plan_slot *s = &p->slots[p->n_slots++];
        s->op = nd->op;
        s->dtype = nd->dtype;
        s->shape = nd->shape;
        s->bytes = node_bytes(nd);
        c->root[i] = i;
        if (nd->op == CLG_OP_RESHAPE) {
            const clg_node *src = &g->nodes[nd->in[0]];
            if (nd->n_in != 1 || src->dtype != nd->dtype || node_bytes(src) != s->bytes) {
                char sa[192], sb[192];
                st = fail(c, CLG_ERR_INVALID, "reshape node %d: %s cannot view %s", i,
                          clg__tensor_str(nd->dtype, &nd->shape, sa, sizeof sa),
                          clg__tensor_str(src->dtype, &src->shape, sb, sizeof sb));
                break;
            }
            c->root[i] = c->root[nd->in[0]];
        }
        if (is_arena_op(nd->op)) {
            c->step[i] = k;
            c->last[i] = k;
            order[k++] = i;
        }
    }

    /* Fusion, unless the naive plan is asked for (the reference a fused
     * plan is compared with) or CLGRAD_NO_FUSE is set (A/B benchmarks). */
    const char *no_fuse = getenv("CLGRAD_NO_FUSE");
    if (st == CLG_OK && !(opts && opts->no_reuse) && !(no_fuse && strcmp(no_fuse, "1") == 0) &&
        clg__fuse(g, c->dev, order, n_ops, c->step, c->root, outputs, n, &c->fu) != CLG_OK)
        st = fail(c, CLG_ERR_NOMEM, "out of memory fusing %d ops", n_ops);

    /* Liveness: a node lives from its op to the last op reading it or any
     * view of it; outputs and assigned values to the end of the run. A fused
     * op reads where it runs, at its last member's step. */
    for (int s = 0; s < n_ops && st == CLG_OK; s++) {
        const clg_node *nd = &g->nodes[order[s]];
        int at = c->fu.exec ? c->fu.exec[s] : s;
        for (int q = 0; q < nd->n_in; q++) {
            int r = c->root[nd->in[q]];
            if (c->step[r] >= 0 && c->last[r] < at)
                c->last[r] = at;
        }
    }
    /* ... and reads an expand's or a slice's source itself (fuse.c), which
     * must live until then even where that expand or slice also runs. */
    for (int s = 0; c->fu.exec && s < n_ops && st == CLG_OK; s++) {
        const clg__fused_op *fo = c->fu.op_at[s] >= 0 ? &c->fu.ops[c->fu.op_at[s]] : NULL;
        for (int q = 0; fo && q < fo->n_in; q++) {
            int r = c->root[fo->in_node[q]];
            if (c->step[r] >= 0 && c->last[r] < s)
                c->last[r] = s;
        }
    }
    for (int i = 0; i < n && st == CLG_OK; i++) {
        int r = c->root[outputs[i]];
        if (c->step[r] >= 0)
            c->last[r] = n_ops;
    }
    for (int i = 0; i < g->n_assigns && st == CLG_OK; i++) {
        int r = c->root[g->assigns[i].value];
        if (c->step[r] >= 0)
            c->last[r] = n_ops;
    }

    size_t arena_size = 0, naive = 0;
    if (st == CLG_OK)
        st = plan_memory(c, order, n_ops, opts && opts->no_reuse, offsets, &arena_size,
                         &naive);

    /* Ops and the backend's verdict on each, before anything is allocated;
     * a fused op's members are checked too, so errors do not depend on
     * fusion. op_step: the step each op of the plan runs at. */
    int n_run = 0;
    int *op_step = calloc((size_t)n_ops + 1, sizeof *op_step);
    if (!op_step && st == CLG_OK)
        st = fail(c, CLG_ERR_NOMEM, "out of memory for a plan of %d ops", n_ops);
    for (int s = 0; s < n_ops && st == CLG_OK; s++) {
        clg_bk_op member;
        int fused = c->fu.exec && (c->fu.exec[s] != s || c->fu.op_at[s] >= 0);
        st = build_op(c, order[s], fused ? &member : &p->ops[n_run]);
        if (st != CLG_OK || (c->fu.exec && c->fu.exec[s] != s))
            continue;
        if (fused)
            p->ops[n_run] = c->fu.ops[c->fu.op_at[s]].op;
        p->op_node[n_run] = order[s];
        op_step[n_run++] = s;
    }
    p->n_ops = st == CLG_OK ? n_run : 0;

    if (st == CLG_OK)
        st = list_inputs(c);
    if (st == CLG_OK)
        st = place_sources(c);
    clg_bk_buffer *arena = NULL;
    if (st == CLG_OK && n_ops > 0)
        st = own_buffer(c, arena_size, "the intermediate arena", order[0], &arena);

    if (st == CLG_OK) {
        for (int s = 0; s < n_ops; s++) {
            int id = order[s];
            clg_plan_slot *sl = &p->slots[p->slot_of[id]];
            sl->buf = arena;
            sl->offset = offsets[id];
            if (c->fu.exec && c->fu.no_buffer[id]) {
                sl->buf = NULL;
                sl->offset = 0;
            } else if (c->fu.exec && c->fu.in_place[id] >= 0) {
                *sl = p->slots[p->slot_of[c->fu.in_place[id]]];
                sl->op = g->nodes[id].op;
                sl->readable = 0;
            }
        }
        /* Views take their root's place; roots come first in id order. */
        for (int i = 0; i < g->n; i++) {
            if (!c->need[i] || g->nodes[i].op != CLG_OP_RESHAPE)
                continue;
            const clg_plan_slot *r = &p->slots[p->slot_of[c->root[i]]];
            clg_plan_slot *sl = &p->slots[p->slot_of[i]];
            sl->buf = r->buf;
            sl->offset = r->offset;
        }
        for (int k = 0; k < p->n_ops; k++) {
            int s = op_step[k];
            const clg_node *nd = &g->nodes[order[s]];
            clg_bk_op *op = &p->ops[k];
            const clg__fused_op *fo = c->fu.exec && c->fu.op_at[s] >= 0
                                          ? &c->fu.ops[c->fu.op_at[s]] : NULL;
            const clg_plan_slot *o = &p->slots[p->slot_of[fo ? fo->out_node[0] : order[s]]];
            op->out.buf = o->buf;
            op->out.offset = o->offset;
            for (int q = 0; q < op->n_in; q++) {
                clg_t node = !fo ? nd->in[q]
                             : q < fo->n_in ? fo->in_node[q] : fo->out_node[q - fo->n_in + 1];
                const clg_plan_slot *in = &p->slots[p->slot_of[node]];
                op->in[q].buf = in->buf;
                op->in[q].offset = in->offset;
            }
        }
        for (int i = 0; i < n; i++)
            p->slots[p->slot_of[outputs[i]]].readable = 1;
        for (int i = 0; i < g->n_assigns; i++) {
            const clg_plan_slot *v = &p->slots[p->slot_of[g->assigns[i].value]];
            const clg_plan_slot *d = &p->slots[p->slot_of[g->assigns[i].param]];
            p->assigns[i] = (clg_plan_assign){
                .src = v->buf, .src_off = v->offset,
                .dst = d->buf, .dst_off = d->offset,
                .bytes = d->bytes,
                .value = g->assigns[i].value, .param = g->assigns[i].param,
            };
        }
        p->n_assigns = g->n_assigns;
        p->stats.planned_bytes = arena_size;
        p->stats.naive_bytes = naive;
        p->stats.n_ops = p->n_ops;
        p->stats.n_nodes = n_needed;
        p->usage.fused_ops = c->fu.n_fused;
    }
    free(op_step);
    free(order);
    free(offsets);
    return st;
}

/* One graph to one plan. With may_lower, a graph that needs lowering comes
 * back as *lowered (and *map) with no plan. */
static clg_status compile_graph(const clg_graph *g, clg_device *dev, const clg_t *outputs,
                                int n, const clg_compile_opts *opts, int may_lower,
                                clg_plan **out, clg_graph **lowered, clg_t **map)
{
    compiler c = { .g = g, .dev = dev, .may_lower = may_lower };
    clg_plan *p = calloc(1, sizeof *p);
    size_t gn = (size_t)g->n + 1;
    c.need = calloc(gn, 1);
    c.root = calloc(gn, sizeof *c.root);
    c.step = calloc(gn, sizeof *c.step);
    c.last = calloc(gn, sizeof *c.last);
    clg_status st = CLG_OK;
    if (p)
        p->slot_of = malloc(gn * sizeof *p->slot_of);
    if (!p || !p->slot_of || !c.need || !c.root || !c.step || !c.last) {
        st = fail(&c, CLG_ERR_NOMEM, "out of memory for a graph of %d nodes", g->n);
    } else {
        p->dev = dev;
        p->usage.kernels_last_run = -1;
        p->graph_size = g->n;
        for (int i = 0; i < g->n; i++)
            p->slot_of[i] = -1;
        c.p = p;
        st = compile(&c, outputs, n, opts);
    }
    clg__fusion_free(&c.fu);
    free(c.need);
    free(c.root);
    free(c.step);
    free(c.last);
    if (st != CLG_OK || c.lowered) {
        clg_plan_free(p);
        if (c.lowered) {
            *lowered = c.lowered;
            *map = c.lower_map;
        }
        return st;
    }
    *out = p;
    return CLG_OK;
}

clg_status clg_compile(clg_graph *g, clg_device *dev, const clg_t *outputs, int n,
                       const clg_compile_opts *opts, clg_plan **out)
{
    if (out)
        *out = NULL;
    if (!g)
        return dev ? clg_ctx_set_error(dev->ctx, CLG_ERR_INVALID, "compile: graph is NULL")
                   : CLG_ERR_INVALID;
    if (!dev)
        return clg_ctx_set_error(g->ctx, CLG_ERR_INVALID, "compile: device is NULL");
    compiler c = { .g = g, .dev = dev };
    if (!out)
        return fail(&c, CLG_ERR_INVALID, "out is NULL");
    if (g->err != CLG_OK) {
        clg_ctx_set_error(dev->ctx, g->err, "%s", g->errmsg);
        if (g->ctx && g->ctx != dev->ctx)
            clg_ctx_set_error(g->ctx, g->err, "%s", g->errmsg);
        return g->err;
    }
    if (n < 0 || (n > 0 && !outputs))
        return fail(&c, CLG_ERR_INVALID, "%d outputs given%s", n,
                    n > 0 ? " but the array is NULL" : "");
    if (n == 0 && g->n_assigns == 0)
        return fail(&c, CLG_ERR_INVALID, "nothing to compute: no outputs and no assignments");

    /* Outputs as node indices, after checking they are this graph's. */
    clg_t *idx = malloc(((size_t)n + 1) * sizeof *idx);
    if (!idx)
        return fail(&c, CLG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (clg__handle_foreign(g, outputs[i])) {
            free(idx);
            return fail(&c, CLG_ERR_INVALID, "output %d is a tensor of another graph (handle %d "
                        "of graph tag %d; this graph's tag is %d)", i, (int)CLG__IDX(outputs[i]),
                        CLG__TAG(outputs[i]), g->tag);
        }
        idx[i] = outputs[i] < 0 ? outputs[i] : CLG__IDX(outputs[i]);
    }
    outputs = idx;
    clg_graph *lowered = NULL;
    clg_t *map = NULL;
    clg_status st = compile_graph(g, dev, outputs, n, opts, 1, out, &lowered, &map);
    if (st == CLG_OK && *out)
        (*out)->graph_tag = g->tag;
    if (st != CLG_OK || !lowered) {
        free(idx);
        return st;
    }
    /* The lowered graph is compiled in g's place; the plan answers to g's
     * handles through the map. */
    clg_t *mapped = malloc(((size_t)n + 1) * sizeof *mapped);
    if (!mapped)
        st = fail(&c, CLG_ERR_NOMEM, "out of memory");
    for (int i = 0; st == CLG_OK && i < n; i++)
        mapped[i] = map[outputs[i]];
    if (st == CLG_OK)
        st = compile_graph(lowered, dev, mapped, n, opts, 0, out, NULL, NULL);
    if (st == CLG_OK) {
        clg_plan *p = *out;
        int *slot_of = malloc(((size_t)g->n + 1) * sizeof *slot_of);
        if (!slot_of) {
            clg_plan_free(p);
            *out = NULL;
            st = fail(&c, CLG_ERR_NOMEM, "out of memory");
        } else {
            for (int i = 0; i < g->n; i++)
                slot_of[i] = map[i] >= 0 ? p->slot_of[map[i]] : -1;
            free(p->slot_of);
            p->slot_of = slot_of;
            p->graph_size = g->n;
            p->graph_tag = g->tag;
        }
    }
    free(idx);
    free(mapped);
    free(map);
    clg_graph_free(lowered);
    return st;
}
