/* Log-cosh regression loss as a clgrad loss plugin, built out of tree:
 *
 *   cc -shared -fPIC -o clgrad-plugin-logcosh.so logcosh.c $(pkg-config --cflags --libs clgrad)
 *
 * loss = mean(log(cosh(pred - target))), computed as
 * d + softplus(-2d) - log(2), which never overflows. Autodiff supplies the
 * gradient, tanh(d). */
#include <clgrad/plugin.h>

#include <string.h>

static const clg_hparam_def logcosh_hp[] = {
    { "reduction", CLG_HP_CHOICE, "mean", "mean or sum over elements", 0, 0, 0, "mean|sum" },
};

static clg_status logcosh_build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp,
                                clg_t pred, clg_t target, clg_t *loss)
{
    clg_shape a = clg_shape_of(g, pred), b = clg_shape_of(g, target);
    if (!clg_shape_equal(&a, &b)) {
        char sa[64], sb[64];
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "loss 'log-cosh': prediction %s and target %s differ",
                                 clg_shape_str(&a, sa, sizeof sa), clg_shape_str(&b, sb, sizeof sb));
    }
    clg_t d = clg_sub(g, pred, target);
    clg_t per = clg_add_scalar(g, clg_add(g, d, clg_softplus(g, clg_mul_scalar(g, d, -2.0f))),
                               -0.69314718055994531f);
    if (strcmp(clg_hp_choice(hp, "reduction"), "sum") == 0)
        *loss = clg_sum(g, per, NULL, 0, 0);
    else
        *loss = clg_mean(g, per, NULL, 0, 0);
    return CLG_OK;
}

static const clg_loss_ops logcosh_ops = {
    .struct_size = sizeof(clg_loss_ops),
    .build = logcosh_build,
    .target = CLG_TARGET_SAME_SHAPE, /* f32, the prediction's shape */
};

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
    clg_component c = CLG_COMPONENT_INIT;
    c.kind = CLG_COMPONENT_LOSS;
    c.name = "log-cosh";
    c.doc = "mean log(cosh(pred - target)): quadratic near 0, linear far away";
    c.hparams = logcosh_hp;
    c.n_hparams = CLG_N_HPARAMS(logcosh_hp);
    c.loss = &logcosh_ops;
    return clg_register(reg, &c);
}

CLG_PLUGIN_DEFINE(init)
