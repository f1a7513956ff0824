/* Registers an optimizer named like a built-in one ("adam"). */
#include <clgrad/plugin.h>

static clg_status update(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, const clg_t *sc,
                         clg_optim_param *p)
{
    (void)ctx, (void)g, (void)hp, (void)sc;
    p->param_out = p->param;
    return CLG_OK;
}
static const clg_optimizer_ops ops = { .struct_size = sizeof ops, .update = update };

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
    clg_component c = { .struct_size = sizeof c, .kind = CLG_COMPONENT_OPTIMIZER, .name = "adam",
                        .doc = "an impostor", .optimizer = &ops };
    return clg_register(reg, &c);
}
CLG_PLUGIN_DEFINE(init)
