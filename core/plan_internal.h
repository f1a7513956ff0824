/* Private to the runtime half of libclgrad (loader, devices, compile, plan):
 * the compiled plan and the backend lookup they share. */
#ifndef CLGRAD_CORE_PLAN_INTERNAL_H
#define CLGRAD_CORE_PLAN_INTERNAL_H

#include "internal.h"

/* loader.c: loads `name_or_path` if needed and returns its vtable. */
CLG_INTERNAL clg_status clg__backend_get(clg_ctx *ctx, const char *name_or_path,
                                         const clg_backend **out);


/* lower.c: node `id` as a backend sees it. Returns -1, or the index of an
 * input whose rank exceeds the output's in a broadcasting op (malformed). */
CLG_INTERNAL int clg__bk_op_init(const clg_graph *g, int id, clg_bk_op *op);
/* lower.c: 1 if dev's backend knows the op (op_table_version) and supports it. */
CLG_INTERNAL int clg__backend_runs(const clg_device *dev, const clg_bk_op *op);
/* lower.c: if some node with need[i] set is a composite op dev's backend
 * does not run, *out is a new graph with those nodes lowered to primitives
 * and *map maps g's nodes to it (free both). Otherwise both stay NULL. */
CLG_INTERNAL clg_status clg__lower(const clg_graph *g, const clg_device *dev,
                                   const char *need, clg_graph **out, clg_t **map);

/* Where a plan's node lives. */
typedef struct clg_plan_slot {
    clg_op op;
    clg_dtype dtype;
    clg_shape shape;
    size_t bytes;
    clg_bk_buffer *buf;
    size_t offset;
    int readable;  /* an output, input or parameter */
} clg_plan_slot;

typedef struct clg_plan_input {
    char *name;
    clg_dtype dtype;
    clg_shape shape;
    size_t bytes;
    clg_bk_buffer *buf; /* NULL: the graph has it but this plan does not use it */
} clg_plan_input;

typedef struct clg_plan_assign {
    clg_bk_buffer *src, *dst;
    size_t src_off, dst_off, bytes;
    clg_t value, param;
} clg_plan_assign;

struct clg_plan {
    clg_device *dev;
    int graph_size;          /* handles below this are nodes of the source graph */
    int graph_tag;           /* the source graph's handle tag */
    int *slot_of;            /* graph node -> index in slots, -1 if not in the plan */
    clg_plan_slot *slots;
    int n_slots;

    clg_bk_op *ops;
    clg_t *op_node;          /* graph node of each op, for messages */
    int n_ops;

    clg_plan_assign *assigns;
    int n_assigns;

    clg_plan_input *inputs;
    int n_inputs;

    clg_bk_buffer **owned;   /* arena, input and constant buffers */
    int n_owned;

    clg_plan_stats stats;
    clg_plan_usage usage;
};

#endif
