/* Registers one loss, then fails: nothing of it may stay registered. */
#include <clgrad/plugin.h>

static clg_status build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t p, clg_t t,
                        clg_t *loss)
{
    (void)ctx, (void)hp, (void)t;
    *loss = clg_sum(g, p, NULL, 0, 0);
    return CLG_OK;
}
static const clg_loss_ops ops = { .struct_size = sizeof ops, .build = build };

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    clg_component c = { .struct_size = sizeof c, .kind = CLG_COMPONENT_LOSS,
                        .name = "half-registered", .doc = "never visible", .loss = &ops };
    clg_status st = clg_register(reg, &c);
    if (st != CLG_OK)
        return st;
    return clg_ctx_set_error(host->ctx, CLG_ERR_IO, "cannot read its settings file");
}
CLG_PLUGIN_DEFINE(init)
