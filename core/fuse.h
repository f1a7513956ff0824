/* Private to the compiler: elementwise fusion (fuse.c), the pass between
 * op order and memory plan. */
#ifndef CLGRAD_CORE_FUSE_H
#define CLGRAD_CORE_FUSE_H

#include "plan_internal.h"

/* One CLG_OP_FUSED op, buffers not yet placed: in[k] for k < n_in is graph
 * node in_node[k]; output 0 (op.out) and outputs k > 0 (op.in[n_in + k - 1])
 * are graph nodes out_node[k]. */
typedef struct clg__fused_op {
    clg_bk_op op;
    int n_in, n_out;
    clg_t in_node[CLG_MAX_INPUTS];
    clg_t out_node[CLG_MAX_INPUTS];
} clg__fused_op;

typedef struct clg__fusion {
    int *exec;    /* per step: the step whose op runs it (its own when not fused) */
    int *op_at;   /* per step: index in ops of the fused op run there, or -1 */
    clg__fused_op *ops;
    int n_ops;
    unsigned char *no_buffer; /* per graph node: lives only in a fused op's registers */
    int *in_place; /* per graph node: -1, or the param node whose store tensor it is
                    * written into (its assignment then copies nothing) */
    int n_fused;  /* ops that run inside another step's fused op */
} clg__fusion;

/* Finds the groups of the plan whose ops are order[0..n_ops) (step: graph
 * node -> its step or -1; root: node -> the node owning its storage). */
CLG_INTERNAL clg_status clg__fuse(const clg_graph *g, const clg_device *dev, const int *order,
                                  int n_ops, const int *step, const int *root,
                                  const clg_t *outputs, int n_out, clg__fusion *fu);
CLG_INTERNAL void clg__fusion_free(clg__fusion *fu);

#endif
