/* Elementwise fusion, a compile pass between ordering and the memory plan.
 *
 * Ops of the elementwise family over tensors of one element count (operands
 * of that count, or broadcast: single elements, rows over trailing dims,
 * per-channel blocks such as batch norm's [C, 1, 1]; or slices of larger
 * tensors, read where they lie) are grouped with the ops that
 * read them, so that a chain or tree such as an optimizer's update runs as
 * one CLG_OP_FUSED op: one pass over memory, its intermediates in registers
 * and never in the arena. A group runs where its last member stood; a member
 * joins only if nothing outside the group reads its producer's result in
 * between, which keeps the order valid. A group result that is assigned to a
 * store tensor read by nothing later is written there in place, so the
 * plan's copy after the run has nothing to do. A MATMUL whose product only
 * the group reads becomes its head: the GEMM, then the program on each block
 * of its output (an epilogue).
 *
 * The backend is asked about each fused op as about any op; when it says no
 * (an out-of-tree backend such as examples/backend/minimal.c) the original
 * ops stay. */
#include "fuse.h"

#include <stdlib.h>
#include <string.h>

typedef struct fuser {
    const clg_graph *g;
    const clg_device *dev;
    const int *order, *step, *root;
    int n_ops;
    int64_t *numel;   /* per graph node */
    int *rd_start;    /* per graph node + 1: its readers in rd (steps) */
    int *rd;
    unsigned char *ext; /* per graph node: an output, or an assigned value */
    unsigned char *assigned; /* per graph node: an assigned value */
    int *gid;         /* per step: group, -1 when not fusable */
    int *head;        /* per group (its exec step): the step of the MATMUL it
                       * starts with (an epilogue), or -1 */
} fuser;

static int uses_scalar(clg_op op)
{
    return op == CLG_OP_LEAKY_RELU || op == CLG_OP_ADD_SCALAR || op == CLG_OP_MUL_SCALAR ||
           op == CLG_OP_POW_SCALAR;
}

/* Ops a program may hold: f32 elementwise ops whose only parameter is SCALAR. */
static int fusable_op(clg_op op)
{
    clg_op_info i = clg_op_info_of(op);
    if (i.family != CLG_FAMILY_ELEMENTWISE || op == CLG_OP_CLAMP)
        return 0;
    if (i.arity == 1)
        return i.dtype_rule == CLG_DTRULE_F32;
    if (i.arity == 2)
        return i.dtype_rule == CLG_DTRULE_F32 || i.dtype_rule == CLG_DTRULE_MASK;
    return op == CLG_OP_WHERE;
}

/* How member id reads input node `in`, by broadcasting: aligned, one
 * element, a row over its trailing dims (length to *a), or a block of its
 * dims broadcast over leading and trailing ones (a channel: its length to
 * *a, the elements after it to *b); -1 for none of these. */
static int input_mode(const fuser *f, int id, clg_t in, int64_t *a, int64_t *b)
{
    const clg_shape *s = &f->g->nodes[id].shape, *is = &f->g->nodes[in].shape;
    int64_t n = f->numel[in];
    if (n == f->numel[id])
        return CLG_FUSED_ALIGNED;
    if (n == 1)
        return CLG_FUSED_ONE;
    if (is->ndim > s->ndim)
        return -1;
    /* right-aligned dims; the kept ones (equal, not 1) must be contiguous
     * among the output's dims that are not 1 */
    int lo = -1, hi = -1, gap = 0;
    for (int i = 0; i < s->ndim; i++) {
        int j = i - (s->ndim - is->ndim);
        int64_t d = j >= 0 ? is->dim[j] : 1;
        if (s->dim[i] == 1)
            continue;
        if (d == s->dim[i]) {
            if (gap)
                return -1;
            if (lo < 0)
                lo = i;
            hi = i;
        } else if (d == 1) {
            gap = lo >= 0;
        } else {
            return -1;
        }
    }
    if (lo < 0)
        return -1;
    int64_t inner = 1;
    for (int i = hi + 1; i < s->ndim; i++)
        inner *= s->dim[i];
    *a = n;
    *b = inner;
    return inner == 1 ? CLG_FUSED_ROW : CLG_FUSED_CHAN;
}

/* The slot of a window reading the output of SLICE node s (cut along one
 * axis) where it lies in the slice's input, or -1. */
static int64_t window_of(const fuser *f, clg_t s)
{
    const clg_node *sl = &f->g->nodes[s];
    const clg_shape *src = &f->g->nodes[sl->in[0]].shape;
    int axis = -1;
    for (int d = 0; d < src->ndim; d++) {
        if (src->dim[d] == sl->shape.dim[d] && clg_param_i64(&sl->params, CLG_P_START + d) == 0)
            continue;
        if (axis >= 0)
            return -1;
        axis = d;
    }
    if (axis < 0 || sl->shape.dim[axis] < 1)
        return -1;
    int64_t inner = 1;
    for (int d = axis + 1; d < src->ndim; d++)
        inner *= src->dim[d];
    return clg_fused_window(sl->shape.dim[axis] * inner,
                            clg_param_i64(&sl->params, CLG_P_START + axis) * inner);
}

/* The node member id reads for its input q, and how (*mode, *a, *b as
 * input_mode gives them). An EXPAND read whole (no view between, the
 * member's shape) whose source broadcasts to it is read as that source: the
 * program broadcasts as the expand would, and the expand's full-size copy
 * (a reduction's gradient, spread back over [N, C, H, W]) need not exist.
 * Likewise a SLICE along one axis (through views) is read as a window of its
 * input: the gate slices of a recurrent step and its slice of the input
 * projection then cost no copy. *mode is then the window's whole slot. */
static clg_t operand_node(const fuser *f, int id, int q, int64_t *mode, int64_t *a, int64_t *b)
{
    const clg_node *nd = &f->g->nodes[id];
    const clg_t in = nd->in[q];
    const clg_node *e = &f->g->nodes[in];
    const clg_t r = f->root[in];
    if (f->g->nodes[r].op == CLG_OP_SLICE && f->g->nodes[r].dtype == CLG_F32 && f->step[r] >= 0 &&
        f->numel[r] == f->numel[id] && f->numel[id] > 0) {
        const int64_t w = window_of(f, r);
        if (w >= 0) {
            *mode = w;
            return f->g->nodes[r].in[0];
        }
    }
    if (e->op == CLG_OP_EXPAND && e->dtype == CLG_F32 && f->root[in] == in &&
        f->step[in] >= 0 && e->shape.ndim == nd->shape.ndim &&
        memcmp(e->shape.dim, nd->shape.dim, (size_t)nd->shape.ndim * sizeof nd->shape.dim[0]) ==
            0) {
        const int64_t m = input_mode(f, id, e->in[0], a, b);
        if (m == CLG_FUSED_ONE || m == CLG_FUSED_ROW || m == CLG_FUSED_CHAN) {
            *mode = m;
            return e->in[0];
        }
    }
    *mode = input_mode(f, id, in, a, b);
    return in;
}

/* 1 if member id reads some input through an expand (operand_node). */
static int looks_through(const fuser *f, int id)
{
    const clg_node *nd = &f->g->nodes[id];
    for (int q = 0; q < nd->n_in; q++) {
        int64_t mode, a, b;
        if (operand_node(f, id, q, &mode, &a, &b) != nd->in[q])
            return 1;
    }
    return 0;
}

static int fusable(const fuser *f, int id)
{
    const clg_node *nd = &f->g->nodes[id];
    if (!fusable_op(nd->op) || nd->dtype != CLG_F32 || nd->n_in < 1)
        return 0;
    for (int q = 0; q < nd->n_in; q++) {
        int64_t a, b;
        if (f->g->nodes[nd->in[q]].dtype != CLG_F32 || input_mode(f, id, nd->in[q], &a, &b) < 0)
            return 0;
    }
    return 1;
}

/* What a group would be: its inputs, outputs and size. */
typedef struct group_info {
    int n_instr, n_in, n_out;
    int in_root[CLG_MAX_INPUTS + 1];
    int64_t in_mode[CLG_MAX_INPUTS + 1]; /* the input's slot */
    int64_t cols;          /* of the row inputs (0: none) */
    int64_t period, inner; /* of the channel inputs (0: none) */
} group_info;

/* 1 if step u belongs to group a or b. */
static int in_groups(const fuser *f, int u, int a, int b)
{
    return f->gid[u] == a || f->gid[u] == b;
}

/* Counts group a joined with b (b may equal a); 0 if it fits one op. */
static int measure(const fuser *f, int a, int b, int upto, group_info *gi)
{
    memset(gi, 0, sizeof *gi);
    for (int t = 0; t <= upto; t++) {
        if (!in_groups(f, t, a, b))
            continue;
        int id = f->order[t];
        if (++gi->n_instr > CLG_FUSED_MAX_INSTR)
            return -1;
        const clg_node *nd = &f->g->nodes[id];
        for (int q = 0; q < nd->n_in; q++) {
            int r = f->root[nd->in[q]];
            if (f->step[r] >= 0 && in_groups(f, f->step[r], a, b))
                continue;
            int64_t pa = 0, pb = 0, mode;
            r = f->root[operand_node(f, id, q, &mode, &pa, &pb)];
            if (mode == CLG_FUSED_ROW) {
                if (gi->cols && gi->cols != pa)
                    return -1; /* one COLS per op */
                gi->cols = pa;
            } else if (mode == CLG_FUSED_CHAN) {
                if (gi->period && (gi->period != pa || gi->inner != pb))
                    return -1; /* one PERIOD/INNER pair per op */
                gi->period = pa;
                gi->inner = pb;
            }
            int k = 0;
            while (k < gi->n_in && (gi->in_root[k] != r || gi->in_mode[k] != mode))
                k++;
            if (k == gi->n_in) {
                if (gi->n_in == CLG_MAX_INPUTS)
                    return -1;
                gi->in_mode[gi->n_in] = mode;
                gi->in_root[gi->n_in++] = r;
            }
        }
        int out = f->ext[id];
        for (int k = f->rd_start[id]; !out && k < f->rd_start[id + 1]; k++)
            out = !in_groups(f, f->rd[k], a, b);
        gi->n_out += out;
    }
    return gi->n_out > CLG_MAX_INPUTS || gi->n_in + gi->n_out - 1 > CLG_MAX_INPUTS ? -1 : 0;
}

/* Group g joins group h, which X (at step s) has just started or joined:
 * allowed when no reader outside both runs before s, and it fits. */
static int try_merge(fuser *f, int g, int h, int s)
{
    for (int t = 0; t < s; t++) {
        if (f->gid[t] != g)
            continue;
        int id = f->order[t];
        for (int k = f->rd_start[id]; k < f->rd_start[id + 1]; k++) {
            int u = f->rd[k];
            if (u < s && !in_groups(f, u, g, h))
                return 0;
        }
    }
    group_info gi;
    if (measure(f, g, h, s, &gi) != 0)
        return 0;
    for (int t = 0; t < s; t++)
        if (f->gid[t] == g)
            f->gid[t] = h;
    return 1;
}

/* A MATMUL whose product only group h reads (and no output) runs as the
 * group's head: the GEMM, then the program on its result (an epilogue).
 * Not for a group with an assigned result (an update): writing that in
 * place saves more than the epilogue, and a GEMM head rules it out. */
static void find_head(fuser *f, int h)
{
    const clg_graph *g = f->g;
    for (int t = 0; t <= h; t++)
        if (f->gid[t] == h && f->assigned[f->order[t]])
            return;
    for (int t = 0; t <= h; t++) {
        if (f->gid[t] != h)
            continue;
        const clg_node *nd = &g->nodes[f->order[t]];
        for (int q = 0; q < nd->n_in; q++) {
            int r = f->root[nd->in[q]];
            if (g->nodes[r].op != CLG_OP_MATMUL || f->step[r] < 0 || f->ext[r] ||
                g->nodes[r].dtype != CLG_F32 || f->numel[r] != f->numel[f->order[h]])
                continue;
            int inside = 1;
            for (int k = f->rd_start[r]; k < f->rd_start[r + 1]; k++)
                inside &= f->gid[f->rd[k]] == h;
            group_info gi;
            /* the product is one input now; A and B take its place */
            if (!inside || measure(f, h, h, h, &gi) != 0 ||
                gi.n_in + 1 + gi.n_out - 1 > CLG_MAX_INPUTS)
                continue;
            f->head[h] = f->step[r];
            return;
        }
    }
}

/* The fused op of group h (exec step s): program, tensors, and the graph
 * nodes behind them. */
static void build(const fuser *f, int h, int s, clg__fused_op *fo)
{
    memset(fo, 0, sizeof *fo);
    clg_bk_op *op = &fo->op;
    op->op = CLG_OP_FUSED;
    int reg[CLG_FUSED_MAX_INSTR]; /* register -> graph node */
    int n_reg = 0, n_in = 0, n_out = 0;
    clg_t outs[CLG_MAX_INPUTS + 1];
    int out_reg[CLG_MAX_INPUTS + 1];
    /* An epilogue's GEMM operands come first, as the MATMUL has them. */
    int mm = f->head[h] >= 0 ? f->order[f->head[h]] : -1;
    if (mm >= 0) {
        clg_bk_op m;
        clg__bk_op_init(f->g, mm, &m);
        op->in[0] = m.in[0];
        op->in[1] = m.in[1];
        fo->in_node[0] = f->g->nodes[mm].in[0];
        fo->in_node[1] = f->g->nodes[mm].in[1];
        clg_param_set_i64(&op->params, CLG_FUSED_P_GEMM,
                          CLG_FUSED_GEMM |
                              (clg_param_int(&m.params, CLG_P_TRANS_A) ? CLG_FUSED_GEMM_TA : 0) |
                              (clg_param_int(&m.params, CLG_P_TRANS_B) ? CLG_FUSED_GEMM_TB : 0));
        n_in = 2;
    }
    for (int t = 0; t <= s; t++) {
        if (f->gid[t] != h)
            continue;
        int id = f->order[t];
        const clg_node *nd = &f->g->nodes[id];
        int opnd[3] = { 0, 0, 0 };
        for (int q = 0; q < nd->n_in && q < 3; q++) {
            int r = f->root[nd->in[q]];
            int k = mm >= 0 ? 2 : 0;
            if (r == mm) {
                opnd[q] = CLG_FUSED_ACC;
                continue;
            }
            if (f->step[r] >= 0 && f->gid[f->step[r]] == h) {
                k = 0;
                while (reg[k] != r)
                    k++;
                opnd[q] = CLG_FUSED_REG(k);
                continue;
            }
            int64_t pa = 0, pb = 0, mode;
            const clg_t src = operand_node(f, id, q, &mode, &pa, &pb);
            r = f->root[src];
            while (k < n_in && (f->root[fo->in_node[k]] != r ||
                                clg_param_i64(&op->params, CLG_FUSED_P_BCAST + k) != mode))
                k++;
            if (k == n_in) {
                fo->in_node[n_in] = src;
                clg_param_set_i64(&op->params, CLG_FUSED_P_BCAST + k, mode);
                if (mode == CLG_FUSED_ROW)
                    clg_param_set_i64(&op->params, CLG_FUSED_P_COLS, pa);
                if (mode == CLG_FUSED_CHAN) {
                    clg_param_set_i64(&op->params, CLG_FUSED_P_PERIOD, pa);
                    clg_param_set_i64(&op->params, CLG_FUSED_P_INNER, pb);
                }
                n_in++;
            }
            opnd[q] = CLG_FUSED_IN(k);
        }
        clg_fused_instr in = { nd->op, opnd[0], opnd[1], opnd[2],
                               uses_scalar(nd->op) ? clg_param_f32(&nd->params, CLG_P_SCALAR)
                                                   : 0.0f };
        clg_fused_instr_set(&op->params, n_reg, &in);
        reg[n_reg] = id;
        int out = f->ext[id];
        for (int k = f->rd_start[id]; !out && k < f->rd_start[id + 1]; k++)
            out = f->gid[f->rd[k]] != h;
        if (out) {
            outs[n_out] = id;
            out_reg[n_out++] = n_reg;
        }
        n_reg++;
    }
    /* Output 0 is the last member (it has a reader, and none in the group). */
    int last = n_out - 1;
    clg_t t0 = outs[0];
    int r0 = out_reg[0];
    outs[0] = outs[last];
    out_reg[0] = out_reg[last];
    outs[last] = t0;
    out_reg[last] = r0;
    clg_param_set_i64(&op->params, CLG_FUSED_P_NINSTR, n_reg);
    clg_param_set_i64(&op->params, CLG_FUSED_P_NOUT, n_out);
    for (int k = 0; k < n_out; k++) {
        clg_param_set_i64(&op->params, CLG_FUSED_P_OUTREG + k, out_reg[k]);
        fo->out_node[k] = outs[k];
    }
    fo->n_in = n_in;
    fo->n_out = n_out;
    op->n_in = n_in + n_out - 1;
    for (int k = mm >= 0 ? 2 : 0; k < op->n_in + 1; k++) {
        clg_t node = k < n_in ? fo->in_node[k] : fo->out_node[k - n_in + 1];
        if (k == op->n_in)
            node = fo->out_node[0];
        const clg_node *nd = &f->g->nodes[node];
        clg_bk_tensor *bt = k == op->n_in ? &op->out : &op->in[k];
        bt->dtype = nd->dtype;
        bt->ndim = nd->shape.ndim;
        for (int d = 0; d < nd->shape.ndim; d++)
            bt->dim[d] = nd->shape.dim[d];
    }
}

static int same_entry(const clg_node *a, const clg_node *b)
{
    return a->op == CLG_OP_PARAM && b->op == CLG_OP_PARAM && a->store == b->store &&
           a->store_idx == b->store_idx;
}

/* The param node whose store tensor output `id` of the fused op at exec step
 * s may be written into, or -1: it is assigned there once, and nothing runs
 * after s that reads that tensor (nor another assignment, nor an output). */
static int in_place_target(const fuser *f, const clg__fusion *fu, int id, int s,
                           const clg_t *outputs, int n_out)
{
    const clg_graph *g = f->g;
    int param = -1;
    for (int i = 0; i < g->n_assigns; i++) {
        if (f->root[g->assigns[i].value] != id)
            continue;
        if (param >= 0)
            return -1;
        param = g->assigns[i].param;
    }
    if (param < 0)
        return -1;
    const clg_node *pn = &g->nodes[param];
    for (int i = 0; i < g->n_assigns; i++) {
        if ((g->assigns[i].param != param && same_entry(&g->nodes[g->assigns[i].param], pn)) ||
            same_entry(&g->nodes[f->root[g->assigns[i].value]], pn))
            return -1;
    }
    for (int i = 0; i < n_out; i++)
        if (same_entry(&g->nodes[f->root[outputs[i]]], pn))
            return -1;
    for (int u = 0; u < f->n_ops; u++) {
        if (fu->exec[u] <= s)
            continue;
        const clg_node *nd = &g->nodes[f->order[u]];
        for (int q = 0; q < nd->n_in; q++)
            if (same_entry(&g->nodes[f->root[nd->in[q]]], pn))
                return -1;
    }
    return param;
}

void clg__fusion_free(clg__fusion *fu)
{
    free(fu->exec);
    free(fu->op_at);
    free(fu->ops);
    free(fu->no_buffer);
    free(fu->in_place);
    memset(fu, 0, sizeof *fu);
}

static clg_status setup(fuser *f, clg__fusion *fu, const clg_t *outputs, int n_out)
{
    const clg_graph *g = f->g;
    size_t gn = (size_t)g->n + 1, ns = (size_t)f->n_ops + 1;
    f->numel = malloc(gn * sizeof *f->numel);
    f->rd_start = calloc(gn + 1, sizeof *f->rd_start);
    f->ext = calloc(gn, 1);
    f->assigned = calloc(gn, 1);
    f->gid = malloc(ns * sizeof *f->gid);
    f->head = malloc(ns * sizeof *f->head);
    fu->exec = malloc(ns * sizeof *fu->exec);
    fu->op_at = malloc(ns * sizeof *fu->op_at);
    fu->ops = calloc(ns, sizeof *fu->ops);
    fu->no_buffer = calloc(gn, 1);
    fu->in_place = malloc(gn * sizeof *fu->in_place);
    if (!f->numel || !f->rd_start || !f->ext || !f->assigned || !f->gid || !f->head || !fu->exec || !fu->op_at ||
        !fu->ops || !fu->no_buffer || !fu->in_place)
        return CLG_ERR_NOMEM;
    for (int i = 0; i < g->n; i++) {
        f->numel[i] = clg_shape_numel(&g->nodes[i].shape);
        fu->in_place[i] = -1;
    }
    for (int s = 0; s < f->n_ops; s++) {
        fu->exec[s] = s;
        fu->op_at[s] = -1;
        f->gid[s] = -1;
        f->head[s] = -1;
    }
    for (int i = 0; i < n_out; i++)
        f->ext[f->root[outputs[i]]] = 1;
    for (int i = 0; i < g->n_assigns; i++) {
        f->ext[f->root[g->assigns[i].value]] = 1;
        f->assigned[f->root[g->assigns[i].value]] = 1;
    }
    /* Readers of each op's result, through views, as steps. */
    for (int s = 0; s < f->n_ops; s++) {
        const clg_node *nd = &g->nodes[f->order[s]];
        for (int q = 0; q < nd->n_in; q++)
            f->rd_start[f->root[nd->in[q]] + 1]++;
    }
    for (int i = 0; i < g->n; i++)
        f->rd_start[i + 1] += f->rd_start[i];
    f->rd = malloc(((size_t)f->rd_start[g->n] + 1) * sizeof *f->rd);
    int *fill = calloc(gn, sizeof *fill);
    if (!f->rd || !fill) {
        free(fill);
        return CLG_ERR_NOMEM;
    }
    for (int s = 0; s < f->n_ops; s++) {
        const clg_node *nd = &g->nodes[f->order[s]];
        for (int q = 0; q < nd->n_in; q++) {
            int r = f->root[nd->in[q]];
            f->rd[f->rd_start[r] + fill[r]++] = s;
        }
    }
    free(fill);
    return CLG_OK;
}

clg_status clg__fuse(const clg_graph *g, const clg_device *dev, const int *order, int n_ops,
                     const int *step, const int *root, const clg_t *outputs, int n_out,
                     clg__fusion *fu)
{
    memset(fu, 0, sizeof *fu);
    fuser f = { .g = g, .dev = dev, .order = order, .step = step, .root = root,
                .n_ops = n_ops };
    clg_status st = setup(&f, fu, outputs, n_out);
    /* Groups, greedily in op order: X joins the groups of the ops it reads. */
    for (int s = 0; st == CLG_OK && s < n_ops; s++) {
        int id = order[s];
        if (!fusable(&f, id))
            continue;
        f.gid[s] = s;
        const clg_node *nd = &g->nodes[id];
        for (int q = 0; q < nd->n_in; q++) {
            int r = root[nd->in[q]];
            if (step[r] < 0 || f.gid[step[r]] < 0 || f.gid[step[r]] == s ||
                f.numel[r] != f.numel[id])
                continue;
            try_merge(&f, f.gid[step[r]], s, s);
        }
    }
    /* Each group of two or more ops (a GEMM head included) the backend runs
     * becomes one op at its last member's step; a backend that refuses the
     * epilogue may still take the program alone. */
    for (int s = n_ops - 1; st == CLG_OK && s >= 0; s--) {
        if (f.gid[s] != s)
            continue;
        find_head(&f, s);
        int members = f.head[s] >= 0;
        for (int t = 0; t <= s; t++)
            members += f.gid[t] == s;
        clg__fused_op *fo = &fu->ops[fu->n_ops];
        build(&f, s, s, fo);
        if (!clg__backend_runs(dev, &fo->op) && f.head[s] >= 0) {
            f.head[s] = -1;
            members--;
            build(&f, s, s, fo);
        }
        if (!clg__backend_runs(dev, &fo->op)) {
            for (int t = 0; t <= s; t++)
                if (f.gid[t] == s)
                    f.gid[t] = -1;
            continue;
        }
        if (members < 2 && !looks_through(&f, order[s]))
            continue; /* alone: fused below only to write in place */
        for (int t = 0; t < s; t++)
            if (f.gid[t] == s || t == f.head[s]) {
                fu->exec[t] = s;
                fu->n_fused++;
            }
        fu->op_at[s] = fu->n_ops++;
    }
    /* Expands and slices that only fused ops read, each reading the source
     * instead, run nowhere: the last of those ops takes their step (so the source
     * lives until then), and they need no buffer. Before the in-place
     * writes below, which then see that step's reads. */
    for (int e = 0; st == CLG_OK && e < n_ops; e++) {
        const int id = order[e];
        if ((g->nodes[id].op != CLG_OP_EXPAND && g->nodes[id].op != CLG_OP_SLICE) || f.ext[id] ||
            root[id] != id)
            continue;
        int at = -1;
        for (int k = f.rd_start[id]; k < f.rd_start[id + 1]; k++) {
            const int u = f.rd[k];
            const clg_node *nd = &g->nodes[order[u]];
            int ok = f.gid[u] >= 0 && (fu->exec[u] != u || fu->op_at[u] >= 0);
            for (int q = 0; ok && q < nd->n_in; q++) {
                int64_t mode, pa, pb;
                if (root[nd->in[q]] == id)
                    ok = operand_node(&f, order[u], q, &mode, &pa, &pb) != nd->in[q];
            }
            at = !ok ? n_ops : fu->exec[u] > at ? fu->exec[u] : at;
        }
        if (at < 0 || at >= n_ops)
            continue;
        fu->exec[e] = at;
        fu->n_fused++;
    }
    /* Results written straight into the store tensors they are assigned to;
     * a lone op is worth a fused op of one instruction for that. */
    for (int s = 0; st == CLG_OK && s < n_ops; s++) {
        if (f.gid[s] != s || f.head[s] >= 0) /* a GEMM writes before its program reads */
            continue;
        int k = fu->op_at[s], lone = k < 0;
        clg__fused_op tmp;
        clg__fused_op *fo = lone ? &tmp : &fu->ops[k];
        if (lone)
            build(&f, s, s, fo);
        /* a window may read other elements of the tensor written in place */
        int any = 0, window = 0;
        for (int k = 0; k < fo->n_in; k++)
            window |= clg_fused_mode(&fo->op.params, k) == CLG_FUSED_WINDOW;
        for (int o = 0; o < fo->n_out && !window; o++) {
            int target = in_place_target(&f, fu, fo->out_node[o], s, outputs, n_out);
            if (target >= 0) {
                fu->in_place[fo->out_node[o]] = target;
                any = 1;
            }
        }
        if (lone && any) {
            fu->ops[fu->n_ops] = tmp;
            fu->op_at[s] = fu->n_ops++;
        }
    }
    /* Members that are no group output live only in registers. */
    for (int s = 0; st == CLG_OK && s < n_ops; s++) {
        if (fu->exec[s] == s)
            continue;
        const clg__fused_op *fo = &fu->ops[fu->op_at[fu->exec[s]]];
        int out = 0;
        for (int o = 0; o < fo->n_out; o++)
            out |= fo->out_node[o] == order[s];
        fu->no_buffer[order[s]] = !out;
    }
    free(f.numel);
    free(f.rd_start);
    free(f.rd);
    free(f.ext);
    free(f.assigned);
    free(f.gid);
    free(f.head);
    if (st != CLG_OK)
        clg__fusion_free(fu);
    return st;
}
