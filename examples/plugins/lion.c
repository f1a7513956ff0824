/* Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms")
 * as a clgrad optimizer plugin, built out of tree:
 *
 *   cc -shared -fPIC -o clgrad-plugin-lion.so lion.c $(pkg-config --cflags --libs clgrad)
 *
 * Per parameter, with m the momentum state:
 *   c = beta1*m + (1-beta1)*g;  p = p*(1 - lr*wd) - lr*sign(c);  m = beta2*m + (1-beta2)*g
 */
#include <clgrad/plugin.h>

static const clg_hparam_def lion_hp[] = {
    /* name, type, default, doc, range flags, min, max, choices */
    { "beta1", CLG_HP_FLOAT, "0.9", "interpolation of the update direction",
      CLG_HP_MIN | CLG_HP_MAX | CLG_HP_MAX_OPEN, 0, 1, NULL },
    { "beta2", CLG_HP_FLOAT, "0.99", "decay of the momentum state",
      CLG_HP_MIN | CLG_HP_MAX | CLG_HP_MAX_OPEN, 0, 1, NULL },
    { "weight_decay", CLG_HP_FLOAT, "0", "decoupled decay: p *= 1 - lr*weight_decay",
      CLG_HP_MIN, 0, 0, NULL },
};

/* One state tensor per parameter, stored as "optim.<param>.exp_avg". */
static int lion_state(const clg_hparams *hp, const char **names, float *init)
{
    (void)hp;
    names[0] = "exp_avg";
    init[0] = 0.0f;
    return 1;
}

/* Host side, every step: the values that change with the schedule. */
static void lion_scalars(const clg_hparams *hp, double lr, int64_t step, float *out)
{
    (void)step;
    out[0] = (float)lr;
    out[1] = (float)(1.0 - lr * clg_hp_float(hp, "weight_decay"));
}

/* Graph side, once per parameter: the update as ops. */
static clg_status lion_update(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp,
                              const clg_t *sc, clg_optim_param *p)
{
    (void)ctx;
    /* Keep the hyperparameters in double and round each constant once, as
     * PyTorch does with a Python float: (float)(1.0 - b1), never
     * 1.0f - (float)b1 (that differs in the last bits and drifts). */
    double b1 = clg_hp_float(hp, "beta1"), b2 = clg_hp_float(hp, "beta2");
    clg_t m = p->state[0];
    clg_t c = clg_add(g, clg_mul_scalar(g, m, (float)b1),
                      clg_mul_scalar(g, p->grad, (float)(1.0 - b1)));
    clg_t decayed = clg_mul(g, p->param, sc[1]);
    p->param_out = clg_sub(g, decayed, clg_mul(g, clg_sign(g, c), sc[0]));
    p->state_out[0] = clg_add(g, clg_mul_scalar(g, m, (float)b2),
                              clg_mul_scalar(g, p->grad, (float)(1.0 - b2)));
    return CLG_OK;
}

static const clg_optimizer_ops lion_ops = {
    .struct_size = sizeof(clg_optimizer_ops),
    .state = lion_state,
    .n_scalars = 2,
    .scalars = lion_scalars,
    .update = lion_update,
};

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
    clg_component c = CLG_COMPONENT_INIT;
    c.kind = CLG_COMPONENT_OPTIMIZER;
    c.name = "lion";
    c.doc = "Lion: sign of an interpolated momentum, decoupled weight decay";
    c.hparams = lion_hp;
    c.n_hparams = CLG_N_HPARAMS(lion_hp); /* counts the array */
    c.optimizer = &lion_ops;
    return clg_register(reg, &c);
}

CLG_PLUGIN_DEFINE(init)
