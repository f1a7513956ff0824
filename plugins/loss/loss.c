/* Built-in losses, as torch.nn.functional defines them: mse, l1, huber,
 * smooth-l1, bce, bce-with-logits, cross-entropy, nll. Each reduces by mean
 * (default) or sum to a 0-d scalar; autodiff gives the gradient. */
#include <clgrad/plugin.h>

#include <string.h>

#define REDUCTION { "reduction", CLG_HP_CHOICE, "mean", "mean or sum over elements", 0, 0, 0, "mean|sum" }

static const clg_shape scalar_shape = { 0 };

static clg_t reduce(clg_graph *g, const clg_hparams *hp, clg_t per_elem)
{
    if (strcmp(clg_hp_choice(hp, "reduction"), "sum") == 0)
        return clg_sum(g, per_elem, NULL, 0, 0);
    return clg_mean(g, per_elem, NULL, 0, 0);
}

/* pred and target: same shape, both f32. */
static clg_status same_shape(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                             clg_t target)
{
    if (clg_graph_status(g) != CLG_OK)
        return clg_ctx_set_error(ctx, clg_graph_status(g), "%s", clg_graph_error(g));
    clg_shape a = clg_shape_of(g, pred), b = clg_shape_of(g, target);
    if (clg_dtype_of(g, pred) != CLG_F32 || clg_dtype_of(g, target) != CLG_F32)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "loss '%s': prediction and target must be f32 (got %s, %s)",
                                 clg_hp_component(hp), clg_dtype_name(clg_dtype_of(g, pred)),
                                 clg_dtype_name(clg_dtype_of(g, target)));
    if (!clg_shape_equal(&a, &b)) {
        char sa[64], sb[64];
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "loss '%s': prediction %s and target %s differ in shape",
                                 clg_hp_component(hp), clg_shape_str(&a, sa, sizeof sa),
                                 clg_shape_str(&b, sb, sizeof sb));
    }
    return CLG_OK;
}

static const clg_hparam_def red_only[] = { REDUCTION };

static clg_status mse_build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                            clg_t target, clg_t *loss)
{
    clg_status st = same_shape(ctx, g, hp, pred, target);
    if (st != CLG_OK)
        return st;
    clg_t d = clg_sub(g, pred, target);
    *loss = reduce(g, hp, clg_mul(g, d, d));
    return CLG_OK;
}

static clg_status l1_build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                           clg_t target, clg_t *loss)
{
    clg_status st = same_shape(ctx, g, hp, pred, target);
    if (st != CLG_OK)
        return st;
    *loss = reduce(g, hp, clg_abs(g, clg_sub(g, pred, target)));
    return CLG_OK;
}

/* |d| < beta ? 0.5 d^2 * q : |d| * r - c, shared by huber and smooth-l1. */
static clg_t piecewise(clg_graph *g, clg_t z, float beta, float q, float r, float c)
{
    clg_t quad = clg_mul_scalar(g, clg_mul(g, z, z), 0.5f * q);
    clg_t lin = clg_add_scalar(g, clg_mul_scalar(g, z, r), -c);
    return clg_where(g, clg_lt(g, z, clg_scalar(g, beta)), quad, lin);
}

static const clg_hparam_def huber_hp[] = {
    { "delta", CLG_HP_FLOAT, "1.0", "threshold between the quadratic and linear parts",
      CLG_HP_MIN | CLG_HP_MIN_OPEN, 0, 0, NULL },
    REDUCTION,
};

static clg_status huber_build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                              clg_t target, clg_t *loss)
{
    clg_status st = same_shape(ctx, g, hp, pred, target);
    if (st != CLG_OK)
        return st;
    float delta = (float)clg_hp_float(hp, "delta");
    clg_t z = clg_abs(g, clg_sub(g, pred, target));
    *loss = reduce(g, hp, piecewise(g, z, delta, 1.0f, delta, 0.5f * delta * delta));
    return CLG_OK;
}

static const clg_hparam_def smooth_hp[] = {
    { "beta", CLG_HP_FLOAT, "1.0", "threshold between the quadratic and linear parts (0: l1)",
      CLG_HP_MIN, 0, 0, NULL },
    REDUCTION,
};

static clg_status smooth_build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                               clg_t target, clg_t *loss)
{
    clg_status st = same_shape(ctx, g, hp, pred, target);
    if (st != CLG_OK)
        return st;
    float beta = (float)clg_hp_float(hp, "beta");
    clg_t z = clg_abs(g, clg_sub(g, pred, target));
    if (beta == 0)
        *loss = reduce(g, hp, z);
    else
        *loss = reduce(g, hp, piecewise(g, z, beta, 1.0f / beta, 1.0f, 0.5f * beta));
    return CLG_OK;
}

static clg_status bce_build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                            clg_t target, clg_t *loss)
{
    clg_status st = same_shape(ctx, g, hp, pred, target);
    if (st != CLG_OK)
        return st;
    /* torch clamps each log at -100 so p = 0 or 1 gives a finite loss. */
    clg_t floor_ = clg_scalar(g, -100.0f);
    clg_t lp = clg_maximum(g, clg_log(g, pred), floor_);
    clg_t l1p = clg_maximum(g, clg_log(g, clg_add_scalar(g, clg_neg(g, pred), 1.0f)), floor_);
    clg_t one_minus_t = clg_add_scalar(g, clg_neg(g, target), 1.0f);
    clg_t per = clg_neg(g, clg_add(g, clg_mul(g, target, lp), clg_mul(g, one_minus_t, l1p)));
    *loss = reduce(g, hp, per);
    return CLG_OK;
}

static const clg_hparam_def bcel_hp[] = {
    { "pos_weight", CLG_HP_FLOAT_LIST, "1", "weight of positive examples: one value, or one per class (last dim)",
      CLG_HP_MIN, 0, 0, NULL },
    REDUCTION,
};

static clg_status bcel_build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                             clg_t target, clg_t *loss)
{
    clg_status st = same_shape(ctx, g, hp, pred, target);
    if (st != CLG_OK)
        return st;
    int n;
    const double *pw = clg_hp_float_list(hp, "pos_weight", &n);
    clg_shape ps = clg_shape_of(g, pred);
    int64_t last = ps.ndim ? ps.dim[ps.ndim - 1] : 1;
    if (n != 1 && n != last)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "loss 'bce-with-logits': pos_weight has %d values; the "
                                 "prediction's last dim is %lld", n, (long long)last);
    /* -[pw*t*log(sigmoid(x)) + (1-t)*log(1-sigmoid(x))]
     *   = pw*t*softplus(-x) + (1-t)*softplus(x) */
    clg_t sp_neg = clg_softplus(g, clg_neg(g, pred));
    clg_t sp_pos = clg_softplus(g, pred);
    clg_t tpos = target;
    if (n == 1) {
        if (pw[0] != 1.0)
            tpos = clg_mul_scalar(g, target, (float)pw[0]);
    } else {
        float w[4096];
        if (n > (int)(sizeof w / sizeof w[0]))
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "loss 'bce-with-logits': at most 4096 pos_weight values");
        for (int i = 0; i < n; i++)
            w[i] = (float)pw[i];
        clg_shape ws = CLG_SHAPE(n);
        tpos = clg_mul(g, target, clg_const(g, CLG_F32, &ws, w));
    }
    clg_t one_minus_t = clg_add_scalar(g, clg_neg(g, target), 1.0f);
    clg_t per = clg_add(g, clg_mul(g, tpos, sp_neg), clg_mul(g, one_minus_t, sp_pos));
    *loss = reduce(g, hp, per);
    return CLG_OK;
}

/* Class-index losses on logp [N, C] and i32 target [N]. */
static clg_status check_class(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                              clg_t target)
{
    if (clg_graph_status(g) != CLG_OK)
        return clg_ctx_set_error(ctx, clg_graph_status(g), "%s", clg_graph_error(g));
    clg_shape a = clg_shape_of(g, pred), b = clg_shape_of(g, target);
    char sa[64], sb[64];
    if (clg_dtype_of(g, pred) != CLG_F32 || clg_dtype_of(g, target) != CLG_I32 || a.ndim != 2 ||
        b.ndim != 1 || a.dim[0] != b.dim[0])
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "loss '%s': needs f32 prediction [N, C] and i32 class "
                                 "indices [N]; got %s %s and %s %s", clg_hp_component(hp),
                                 clg_dtype_name(clg_dtype_of(g, pred)),
                                 clg_shape_str(&a, sa, sizeof sa),
                                 clg_dtype_name(clg_dtype_of(g, target)),
                                 clg_shape_str(&b, sb, sizeof sb));
    return CLG_OK;
}

/* Per-row -logp[i, y_i] masked by y_i != ignore_index, and the mask. */
static clg_t picked_nll(clg_graph *g, const clg_hparams *hp, clg_t logp, clg_t target,
                        clg_t *mask_out)
{
    clg_shape ts = clg_shape_of(g, target);
    int32_t ign = (int32_t)clg_hp_int(hp, "ignore_index");
    clg_t mask = clg_ne(g, target, clg_const(g, CLG_I32, &scalar_shape, &ign));
    /* Ignored rows gather class 0 (any valid index); the mask zeroes them. */
    clg_t safe = clg_cast(g, clg_mul(g, clg_cast(g, target, CLG_F32), mask), CLG_I32);
    clg_shape col = CLG_SHAPE(ts.dim[0], 1);
    clg_t picked = clg_reshape(g, clg_gather(g, logp, clg_reshape(g, safe, &col), 1), &ts);
    *mask_out = mask;
    return clg_neg(g, clg_mul(g, picked, mask));
}

static clg_t masked_reduce(clg_graph *g, const clg_hparams *hp, clg_t per, clg_t mask)
{
    clg_t s = clg_sum(g, per, NULL, 0, 0);
    if (strcmp(clg_hp_choice(hp, "reduction"), "sum") == 0)
        return s;
    /* torch divides by the number of rows not ignored. */
    return clg_div(g, s, clg_sum(g, mask, NULL, 0, 0));
}

static const clg_hparam_def nll_hp[] = {
    { "ignore_index", CLG_HP_INT, "-100", "target value that contributes nothing", 0, 0, 0, NULL },
    REDUCTION,
};

static clg_status nll_build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                            clg_t target, clg_t *loss)
{
    clg_status st = check_class(ctx, g, hp, pred, target);
    if (st != CLG_OK)
        return st;
    clg_t mask;
    clg_t per = picked_nll(g, hp, pred, target, &mask);
    *loss = masked_reduce(g, hp, per, mask);
    return CLG_OK;
}

static const clg_hparam_def ce_hp[] = {
    { "label_smoothing", CLG_HP_FLOAT, "0", "mix of the uniform distribution into the target",
      CLG_HP_MIN | CLG_HP_MAX, 0, 1, NULL },
    { "ignore_index", CLG_HP_INT, "-100", "target value that contributes nothing", 0, 0, 0, NULL },
    REDUCTION,
};

static clg_status ce_build(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp, clg_t pred,
                           clg_t target, clg_t *loss)
{
    clg_status st = check_class(ctx, g, hp, pred, target);
    if (st != CLG_OK)
        return st;
    double eps = clg_hp_float(hp, "label_smoothing");
    if (eps == 0) {
        /* the core's fused op: one pass per row forward and backward on a
         * backend that runs it, these very ops spelled out on one that does
         * not */
        int32_t ign = (int32_t)clg_hp_int(hp, "ignore_index");
        clg_t mask = clg_ne(g, target, clg_const(g, CLG_I32, &scalar_shape, &ign));
        *loss = masked_reduce(g, hp, clg_cross_entropy(g, pred, target, ign), mask);
        return CLG_OK;
    }
    clg_t logp = clg_log_softmax(g, pred, 1);
    clg_t mask;
    clg_t per = picked_nll(g, hp, logp, target, &mask);
    /* (1-eps) * nll + eps/C * sum_c -logp[i, c], ignored rows masked */
    int64_t c = clg_shape_of(g, pred).dim[1];
    int ax = 1;
    clg_t smooth = clg_mul(g, clg_neg(g, clg_sum(g, logp, &ax, 1, 0)), mask);
    per = clg_add(g, clg_mul_scalar(g, per, (float)(1.0 - eps)),
                  clg_mul_scalar(g, smooth, (float)(eps / (double)c)));
    *loss = masked_reduce(g, hp, per, mask);
    return CLG_OK;
}

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define LOSS_OPS(fn, tk)                                                                   \
    static const clg_loss_ops fn##_ops = { .struct_size = sizeof(clg_loss_ops),            \
                                           .build = fn##_build, .target = tk }
LOSS_OPS(mse, CLG_TARGET_SAME_SHAPE);
LOSS_OPS(l1, CLG_TARGET_SAME_SHAPE);
LOSS_OPS(huber, CLG_TARGET_SAME_SHAPE);
LOSS_OPS(smooth, CLG_TARGET_SAME_SHAPE);
LOSS_OPS(bce, CLG_TARGET_SAME_SHAPE);
LOSS_OPS(bcel, CLG_TARGET_SAME_SHAPE);
LOSS_OPS(nll, CLG_TARGET_CLASS_INDEX);
LOSS_OPS(ce, CLG_TARGET_CLASS_INDEX);

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
#define C(nm, dc, hps, ops)                                                              \
    { .struct_size = sizeof(clg_component), .kind = CLG_COMPONENT_LOSS, .name = nm,      \
      .doc = dc, .hparams = hps, .n_hparams = N(hps), .loss = &ops }
    const clg_component comps[] = {
        C("mse", "mean squared error (torch.nn.MSELoss)", red_only, mse_ops),
        C("l1", "mean absolute error (torch.nn.L1Loss)", red_only, l1_ops),
        C("huber", "Huber loss (torch.nn.HuberLoss)", huber_hp, huber_ops),
        C("smooth-l1", "smooth L1 loss (torch.nn.SmoothL1Loss)", smooth_hp, smooth_ops),
        C("bce", "binary cross-entropy on probabilities (torch.nn.BCELoss)", red_only, bce_ops),
        C("bce-with-logits", "binary cross-entropy on logits (torch.nn.BCEWithLogitsLoss)",
          bcel_hp, bcel_ops),
        C("cross-entropy", "softmax cross-entropy on logits [N,C], i32 class targets "
          "(torch.nn.CrossEntropyLoss)", ce_hp, ce_ops),
        C("nll", "negative log-likelihood on log-probabilities [N,C], i32 class targets "
          "(torch.nn.NLLLoss)", nll_hp, nll_ops),
    };
#undef C
    for (int i = 0; i < N(comps); i++) {
        clg_status st = clg_register(reg, &comps[i]);
        if (st != CLG_OK)
            return st;
    }
    return CLG_OK;
}

CLG_PLUGIN_DEFINE(init)
