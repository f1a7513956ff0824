/* Private to libclgrad: the structures behind the public handles. Never
 * included by backends, plugins, tools or tests. */
#ifndef CLGRAD_CORE_INTERNAL_H
#define CLGRAD_CORE_INTERNAL_H

#include <clgrad/backend.h>
#include <clgrad/clgrad.h>

#define CLG_ERRMSG_LEN 1024

/* Library-internal functions: named clg__*, not exported from libclgrad. */
#define CLG_INTERNAL __attribute__((visibility("hidden")))

typedef struct clg_loaded_backend {
    char *name;
    char *path;
    void *handle;              /* dlopen handle */
    const clg_backend *vt;
} clg_loaded_backend;

#define CLG_CTX_MAX_ATTACHED 8
typedef struct clg_attachment {
    char *key;
    void *ptr;
    void (*free_fn)(void *);
} clg_attachment;

struct clg_ctx {
    char err[CLG_ERRMSG_LEN];
    clg_loaded_backend *backends;
    int n_backends, cap_backends;
    clg_attachment attached[CLG_CTX_MAX_ATTACHED]; /* e.g. the component registry */
    int n_attached;
};

struct clg_device {
    clg_ctx *ctx;
    const clg_backend *vt;
    clg_bk_device *bk;
    int index;
};

typedef struct clg_store_entry {
    char *name;
    clg_dtype dtype;
    clg_shape shape;
    size_t bytes;
    clg_bk_buffer *buf;
    clg_tensor_kind kind;
} clg_store_entry;

struct clg_store {
    clg_device *dev;
    clg_store_entry *e;
    int n, cap;
};

typedef struct clg_node {
    clg_op op;
    clg_dtype dtype;
    clg_shape shape;
    int n_in;
    clg_t in[CLG_MAX_INPUTS];
    clg_params params;
    char *name;                /* INPUT: its name (owned) */
    clg_store *store;          /* PARAM: where it lives */
    int store_idx;             /* PARAM: entry in store */
    void *data;                /* CONST: owned copy of the data */
    unsigned char no_grad;     /* clg_stop_gradient: autodiff passes nothing to the input */
} clg_node;

typedef struct clg_assignment {
    clg_t param;
    clg_t value;
} clg_assignment;

/* Graph handles carry their graph: clg_t = tag << 24 | node index. Graphs
 * from clg_graph_new get a tag in 1..127 (cycling); tag 0 is an untagged
 * index, which internal code (node inputs, the lowered graph) uses and every
 * graph accepts. A handle tagged for another graph is refused where it
 * enters (clg__node_add, the builders' checks, compile, autodiff, assign). */
#define CLG__IDX_BITS 24
#define CLG__IDX_MASK ((1 << CLG__IDX_BITS) - 1)
#define CLG__IDX(t) ((t) & CLG__IDX_MASK)
#define CLG__TAG(t) ((int)((uint32_t)(t) >> CLG__IDX_BITS))
#define CLG__MAKE(g, i) ((clg_t)(((uint32_t)(g)->tag << CLG__IDX_BITS) | (uint32_t)(i)))

struct clg_graph {
    clg_ctx *ctx;
    int tag;                   /* 1..127 (0: internal, untagged) */
    clg_node *nodes;
    int n, cap;
    clg_assignment *assigns;
    int n_assigns, cap_assigns;
    clg_status err;
    char errmsg[CLG_ERRMSG_LEN];
};

/* graph.c: append a node after checking its inputs are valid handles; shape
 * inference is the caller's job. Returns CLG_NONE if the graph has an error. */
CLG_INTERNAL clg_t clg__node_add(clg_graph *g, clg_op op, clg_dtype dt, const clg_shape *shape,
                    const clg_t *in, int n_in, const clg_params *params);
/* 1 if t is a node of g: non-negative, tagged for g (or untagged), in range. */
static inline int clg__handle_ok(const clg_graph *g, clg_t t)
{
    return g && t >= 0 && (CLG__TAG(t) == 0 || CLG__TAG(t) == g->tag) && CLG__IDX(t) < g->n;
}
/* 1 if t is tagged for another graph (the message's case). */
static inline int clg__handle_foreign(const clg_graph *g, clg_t t)
{
    return g && t >= 0 && CLG__TAG(t) != 0 && CLG__TAG(t) != g->tag;
}
/* A window's four (h, w) pairs as op parameters, and back (ops_movement.c):
 * im2col's, col2im's, the pooling index's and the convolutions'. */
CLG_INTERNAL clg_params clg__window_params(const clg_window2d *w);
/* An lstm_scan's output sequence h [N, T, H] (ops_recurrent.c). */
CLG_INTERNAL clg_t clg__lstm_output(clg_graph *g, clg_t y);
CLG_INTERNAL void clg__window_of(const clg_params *p, clg_window2d *w);
/* Batch norm's [2, C] stats (row 0 the mean, row 1 the variance): row r as
 * [C], and two [C] tensors stacked; a [C] tensor as [C, 1, ...] against a
 * tensor of shape sx, broadcasting on its dim 1 (ops_norm.c). */
CLG_INTERNAL clg_t clg__stats_row(clg_graph *g, clg_t stats, int r, int64_t c);
CLG_INTERNAL clg_t clg__stats_of(clg_graph *g, clg_t mean, clg_t var, int64_t c);
CLG_INTERNAL clg_t clg__per_channel(clg_graph *g, clg_t v, const clg_shape *sx);
/* A conv2d op's window and groups, from its parameters (ops_conv.c). */
CLG_INTERNAL void clg__conv_window(const clg_params *p, clg_window2d *w, int *groups);
/* Records the graph's first error (and the ctx message); returns CLG_NONE. */
CLG_INTERNAL clg_t clg__graph_fail(clg_graph *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

CLG_INTERNAL size_t clg__align(size_t n); /* up to CLG_BK_ALIGN */

/* context.c: "f32 [2, 3]" into buf; returns buf. */
CLG_INTERNAL char *clg__tensor_str(clg_dtype dt, const clg_shape *s, char *buf, size_t len);

/* Parameter blocks with one slot set: the common cases of the builders. */
static inline clg_params clg__p_i64(int slot, int64_t v)
{
    clg_params p = { { 0 } };
    clg_param_set_i64(&p, slot, v);
    return p;
}
static inline clg_params clg__p_f32(int slot, float v)
{
    clg_params p = { { 0 } };
    clg_param_set_f32(&p, slot, v);
    return p;
}

#endif
