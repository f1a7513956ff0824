/* Focal loss (Lin et al. 2017) as a clgrad loss plugin, built out of tree:
 *
 *   cc -shared -fPIC -o clgrad-plugin-focal.so focal.c $(pkg-config --cflags --libs clgrad)
 *
 * It declares CLG_TARGET_CLASS_INDEX, so the trainer and the command hand it
 * i32 class indices [N] for a [N, C] prediction of logits (never one-hot
 * rows, whatever the loss is called). Per sample, with p_t the softmax
 * probability of the true class:
 *   FL = -(1 - p_t)^gamma * log(p_t);   gamma = 0 is cross-entropy.
 * Reduction: the mean over the batch (or the sum). */
#include <clgrad/plugin.h>

#include <string.h>

static const clg_hparam_def focal_hp[] = {
    { "gamma", CLG_HP_FLOAT, "2", "focusing exponent; 0 is cross-entropy", CLG_HP_MIN, 0, 0,
      NULL },
    { "reduction", CLG_HP_CHOICE, "mean", "over the batch", 0, 0, 0, "mean|sum" },
};

static clg_status focal_build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                              clg_t target, clg_t *loss)
{
    clg_shape ps = clg_shape_of(g, pred), ts = clg_shape_of(g, target);
    if (ps.ndim != 2 || ts.ndim != 1 || ts.dim[0] != ps.dim[0] ||
        clg_dtype_of(g, target) != CLG_I32) {
        char a[64], b[64];
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "loss 'focal': needs a [N, C] prediction and i32 [N] class "
                                 "indices; got prediction %s and %s target %s",
                                 clg_shape_str(&ps, a, sizeof a),
                                 clg_dtype_name(clg_dtype_of(g, target)),
                                 clg_shape_str(&ts, b, sizeof b));
    }
    double gamma = clg_hp_float(hp, "gamma");
    clg_shape col = CLG_SHAPE(ps.dim[0], 1);
    clg_t logp = clg_gather(g, clg_log_softmax(g, pred, 1), clg_reshape(g, target, &col), 1);
    clg_t pt = clg_exp(g, logp);
    clg_t w = clg_pow_scalar(g, clg_add_scalar(g, clg_neg(g, pt), 1.0f), (float)gamma);
    clg_t per = clg_neg(g, clg_mul(g, w, logp));
    *loss = strcmp(clg_hp_choice(hp, "reduction"), "sum") == 0 ? clg_sum(g, per, NULL, 0, 0)
                                                               : clg_mean(g, per, NULL, 0, 0);
    return CLG_OK;
}

static const clg_loss_ops focal_ops = {
    .struct_size = sizeof(clg_loss_ops),
    .build = focal_build,
    .target = CLG_TARGET_CLASS_INDEX, /* i32 [N] class indices */
};

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
    clg_component c = CLG_COMPONENT_INIT;
    c.kind = CLG_COMPONENT_LOSS;
    c.name = "focal";
    c.doc = "focal loss on logits and class indices: -(1 - p_t)^gamma log p_t";
    c.hparams = focal_hp;
    c.n_hparams = CLG_N_HPARAMS(focal_hp);
    c.loss = &focal_ops;
    return clg_register(reg, &c);
}

CLG_PLUGIN_DEFINE(init)
