/* Crashes on purpose inside a callback, to test the crash report:
 * optimizer crashy:where=update|scalars|state and loss crashy-loss. */
#include <clgrad/plugin.h>

#include <stdint.h>
#include <string.h>

/* A store to an unmapped page: a real SIGSEGV in every build (a store to
 * NULL would be stopped earlier by UBSan's null check in the sanitizer
 * build, which is not what the test is about). */
static void crash(void)
{
    volatile int *volatile p = (volatile int *)(uintptr_t)64;
    *p = 42;
}

static int state(const clg_hparams *hp, const char **names, float *init)
{
    if (!strcmp(clg_hp_choice(hp, "where"), "state"))
        crash();
    names[0] = "m";
    init[0] = 0;
    return 1;
}
static void scalars(const clg_hparams *hp, double lr, int64_t step, float *out)
{
    if (!strcmp(clg_hp_choice(hp, "where"), "scalars") && step == 2)
        crash();
    out[0] = (float)lr;
}
static clg_status update(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, const clg_t *sc,
                         clg_optim_param *p)
{
    (void)ctx;
    if (!strcmp(clg_hp_choice(hp, "where"), "update"))
        crash();
    p->param_out = clg_sub(g, p->param, clg_mul(g, p->grad, sc[0]));
    return CLG_OK;
}
static const clg_optimizer_ops ops = { .struct_size = sizeof ops, .state = state,
    .n_scalars = 1, .scalars = scalars, .update = update };
static const clg_hparam_def hps[] = {
    { "where", CLG_HP_CHOICE, "update", "the callback that crashes", 0, 0, 0,
      "update|scalars|state" },
};

static clg_status loss_build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                             clg_t target, clg_t *loss)
{
    (void)ctx, (void)g, (void)hp, (void)pred, (void)target, (void)loss;
    crash();
    return CLG_OK;
}
static const clg_loss_ops lops = { .struct_size = sizeof lops, .build = loss_build,
                                   .target = CLG_TARGET_SAME_SHAPE };

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
    clg_component c = CLG_COMPONENT_INIT;
    c.kind = CLG_COMPONENT_OPTIMIZER;
    c.name = "crashy";
    c.doc = "crashes on purpose";
    c.hparams = hps;
    c.n_hparams = 1;
    c.optimizer = &ops;
    clg_status st = clg_register(reg, &c);
    if (st != CLG_OK)
        return st;
    clg_component l = CLG_COMPONENT_INIT;
    l.kind = CLG_COMPONENT_LOSS;
    l.name = "crashy-loss";
    l.doc = "crashes on purpose";
    l.loss = &lops;
    return clg_register(reg, &l);
}
CLG_PLUGIN_DEFINE(init)
