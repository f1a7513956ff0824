/* Keeps its registry and tries to register after init returned. */
#include <clgrad/plugin.h>

static clg_registry *saved;

static clg_status build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t p, clg_t t,
                        clg_t *loss)
{
    (void)ctx, (void)hp, (void)t;
    *loss = clg_sum(g, p, NULL, 0, 0);
    return CLG_OK;
}
static const clg_loss_ops ops = { .struct_size = sizeof ops, .build = build };

CLG_PLUGIN_EXPORT clg_status bad_register_late(void);
CLG_PLUGIN_EXPORT clg_status bad_register_late(void)
{
    clg_component c = { .struct_size = sizeof c, .kind = CLG_COMPONENT_LOSS, .name = "late",
                        .doc = "too late", .loss = &ops };
    return clg_register(saved, &c);
}

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
    saved = reg;
    return CLG_OK;
}
CLG_PLUGIN_DEFINE(init)
