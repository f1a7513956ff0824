/* A schema whose default lies outside its own range. */
#include <clgrad/plugin.h>

static clg_status update(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, const clg_t *sc,
                         clg_optim_param *p)
{
    (void)ctx, (void)g, (void)hp, (void)sc;
    p->param_out = p->param;
    return CLG_OK;
}
static const clg_optimizer_ops ops = { .struct_size = sizeof ops, .update = update };
static const clg_hparam_def hp[] = {
    { "gamma", CLG_HP_FLOAT, "1.5", "must be below 1", CLG_HP_MIN | CLG_HP_MAX, 0, 1, NULL },
};

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
    clg_component c = { .struct_size = sizeof c, .kind = CLG_COMPONENT_OPTIMIZER,
                        .name = "bad-default", .doc = "bad default", .hparams = hp,
                        .n_hparams = 1, .optimizer = &ops };
    return clg_register(reg, &c);
}
CLG_PLUGIN_DEFINE(init)
