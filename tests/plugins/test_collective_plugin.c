/* Two in-process collectives for the trainer's gradient-sync point, so the
 * staged path is tested without MPI:
 *   solo  a group of one: allreduce leaves the buffer as it is;
 *   twin  pretends a second rank computed the same gradients: allreduce
 *         doubles every element (what two identical ranks would sum to). */
#include <clgrad/plugin.h>

#include <stdlib.h>
#include <string.h>

typedef struct group {
    int size;
} group;

static clg_status g_open(clg_ctx *ctx, const clg_hparams *hp, void **state, int size)
{
    (void)hp;
    group *g = malloc(sizeof *g);
    if (!g)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "test collective: out of memory");
    g->size = size;
    *state = g;
    return CLG_OK;
}
static clg_status solo_open(clg_ctx *ctx, const clg_hparams *hp, void **state)
{
    return g_open(ctx, hp, state, 1);
}
static clg_status twin_open(clg_ctx *ctx, const clg_hparams *hp, void **state)
{
    return g_open(ctx, hp, state, 2);
}
static void g_close(void *state) { free(state); }
static int g_rank(void *state)
{
    (void)state;
    return 0;
}
static int g_size(void *state) { return ((group *)state)->size; }
static clg_status g_bcast(clg_ctx *ctx, void *state, void *buf, size_t bytes, int root)
{
    (void)ctx, (void)state, (void)buf, (void)bytes, (void)root;
    return CLG_OK;
}
static clg_status g_allreduce(clg_ctx *ctx, void *state, float *buf, size_t n)
{
    (void)ctx;
    if (((group *)state)->size == 2)
        for (size_t i = 0; i < n; i++)
            buf[i] += buf[i];
    return CLG_OK;
}
static clg_status g_barrier(clg_ctx *ctx, void *state)
{
    (void)ctx, (void)state;
    return CLG_OK;
}
static void g_abort(void *state, int code) { (void)state, (void)code; }

#define OPS(nm)                                                                           \
    static const clg_collective_ops nm##_ops = {                                         \
        .struct_size = sizeof(clg_collective_ops), .open = nm##_open, .close = g_close,   \
        .rank = g_rank, .size = g_size, .broadcast = g_bcast,                            \
        .allreduce_sum_f32 = g_allreduce, .barrier = g_barrier, .abort = g_abort }
OPS(solo);
OPS(twin);

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
    clg_component c = CLG_COMPONENT_INIT;
    c.kind = CLG_COMPONENT_COLLECTIVE;
    c.name = "solo";
    c.doc = "test: a group of one";
    c.collective = &solo_ops;
    clg_status st = clg_register(reg, &c);
    if (st != CLG_OK)
        return st;
    c.name = "twin";
    c.doc = "test: two ranks with equal gradients";
    c.collective = &twin_ops;
    return clg_register(reg, &c);
}

CLG_PLUGIN_DEFINE(init)
