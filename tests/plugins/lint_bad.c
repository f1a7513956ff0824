/* One file with one author mistake per component, for
 * `clgrad plugins --check` (test_plugins_cmd.sh). Each mistake used to
 * give a misleading answer or none. */
#include <clgrad/plugin.h>

static clg_status keep_update(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp,
                              const clg_t *sc, clg_optim_param *p)
{
    (void)ctx, (void)hp;
    p->param_out = clg_sub(g, p->param, clg_mul(g, p->grad, sc[0]));
    return CLG_OK;
}
static void lr_scalar(const clg_hparams *hp, double lr, int64_t step, float *out)
{
    (void)hp, (void)step;
    out[0] = (float)lr;
}

/* 6 state tensors: past CLG_OPTIM_MAX_STATE (4) */
static int six_states(const clg_hparams *hp, const char **names, float *init)
{
    (void)hp;
    static const char *const n[6] = { "a", "b", "c", "d", "e", "f" };
    for (int i = 0; i < 6; i++) {
        names[i < CLG_OPTIM_MAX_STATE ? i : CLG_OPTIM_MAX_STATE - 1] = n[i];
        init[i < CLG_OPTIM_MAX_STATE ? i : CLG_OPTIM_MAX_STATE - 1] = 0;
    }
    return 6;
}
static const clg_optimizer_ops too_many = { .struct_size = sizeof too_many, .state = six_states,
    .n_scalars = 1, .scalars = lr_scalar, .update = keep_update };

/* two states named alike */
static int dup_states(const clg_hparams *hp, const char **names, float *init)
{
    (void)hp;
    names[0] = names[1] = "momentum";
    init[0] = init[1] = 0;
    return 2;
}
static const clg_optimizer_ops dup = { .struct_size = sizeof dup, .state = dup_states,
    .n_scalars = 1, .scalars = lr_scalar, .update = keep_update };

/* reads scalars[1] with n_scalars = 1 */
static clg_status past_update(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp,
                              const clg_t *sc, clg_optim_param *p)
{
    (void)ctx, (void)hp;
    p->param_out = clg_sub(g, p->param, clg_mul(g, clg_mul(g, p->grad, sc[0]), sc[1]));
    return CLG_OK;
}
static const clg_optimizer_ops past = { .struct_size = sizeof past,
    .n_scalars = 1, .scalars = lr_scalar, .update = past_update };

/* updates its state with a reduced (0-d) tensor */
static int one_state(const clg_hparams *hp, const char **names, float *init)
{
    (void)hp;
    names[0] = "exp_avg";
    init[0] = 0;
    return 1;
}
static clg_status shape_update(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp,
                               const clg_t *sc, clg_optim_param *p)
{
    (void)ctx, (void)hp;
    p->state_out[0] = clg_sum(g, p->grad, NULL, 0, 0);
    p->param_out = clg_sub(g, p->param, clg_mul(g, p->grad, sc[0]));
    return CLG_OK;
}
static const clg_optimizer_ops shape = { .struct_size = sizeof shape, .state = one_state,
    .n_scalars = 1, .scalars = lr_scalar, .update = shape_update };

/* a loss that never reads its prediction */
static clg_status unused_build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                               clg_t target, clg_t *loss)
{
    (void)ctx, (void)hp, (void)pred;
    *loss = clg_mean(g, clg_mul(g, target, target), NULL, 0, 0);
    return CLG_OK;
}
static const clg_loss_ops unused = { .struct_size = sizeof unused, .build = unused_build,
                                     .target = CLG_TARGET_SAME_SHAPE };

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
    static const struct { const char *name; const clg_optimizer_ops *ops; } o[] = {
        { "too-many-states", &too_many }, { "dup-states", &dup },
        { "past-scalars", &past }, { "bad-state-shape", &shape } };
    for (int i = 0; i < 4; i++) {
        clg_component c = CLG_COMPONENT_INIT;
        c.kind = CLG_COMPONENT_OPTIMIZER;
        c.name = o[i].name;
        c.doc = "a deliberate mistake";
        c.optimizer = o[i].ops;
        clg_status st = clg_register(reg, &c);
        if (st != CLG_OK)
            return st;
    }
    clg_component c = CLG_COMPONENT_INIT;
    c.kind = CLG_COMPONENT_LOSS;
    c.name = "unused-pred";
    c.doc = "a deliberate mistake";
    c.loss = &unused;
    return clg_register(reg, &c);
}
CLG_PLUGIN_DEFINE(init)
