/* Registers the same loss name twice from one file: refused. */
#include <clgrad/plugin.h>

static clg_status build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                        clg_t target, clg_t *loss)
{
    (void)ctx, (void)hp, (void)target;
    *loss = clg_mean(g, pred, NULL, 0, 0);
    return CLG_OK;
}
static const clg_loss_ops ops = { .struct_size = sizeof ops, .build = build,
                                  .target = CLG_TARGET_SAME_SHAPE };

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
    clg_component c = { .struct_size = sizeof c, .kind = CLG_COMPONENT_LOSS, .name = "twice",
                        .doc = "registered twice", .loss = &ops };
    clg_status st = clg_register(reg, &c);
    return st == CLG_OK ? clg_register(reg, &c) : st;
}
CLG_PLUGIN_DEFINE(init)
