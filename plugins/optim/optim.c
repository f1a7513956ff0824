/* Built-in optimizers: sgd, adam, adamw, rmsprop, adagrad. Each follows the
 * single-tensor algorithm of torch.optim (1.13) step for step, written as
 * graph ops so it runs on every backend; per-step values that depend on the
 * step count or the lr come from host scalars. */
#include <clgrad/plugin.h>

#include <math.h>
#include <string.h>

#define UNIT_OPEN (CLG_HP_MIN | CLG_HP_MAX | CLG_HP_MAX_OPEN)

/* grad, negated for maximize, plus weight_decay * param (L2, coupled). */
static clg_t coupled_grad(clg_graph *g, const clg_hparams *hp, const clg_optim_param *p)
{
    clg_t grad = p->grad;
    if (clg_hp_bool(hp, "maximize"))
        grad = clg_neg(g, grad);
    double wd = clg_hp_float(hp, "weight_decay");
    if (wd != 0)
        grad = clg_add(g, grad, clg_mul_scalar(g, p->param, (float)wd));
    return grad;
}

/* ------------------------------------------------------------------- sgd */
static const clg_hparam_def sgd_hp[] = {
    { "momentum", CLG_HP_FLOAT, "0", "momentum factor", CLG_HP_MIN, 0, 0, NULL },
    { "dampening", CLG_HP_FLOAT, "0", "dampening for momentum", CLG_HP_MIN | CLG_HP_MAX, 0, 1, NULL },
    { "nesterov", CLG_HP_BOOL, "false", "Nesterov momentum (needs momentum > 0, dampening 0)", 0, 0, 0, NULL },
    { "weight_decay", CLG_HP_FLOAT, "0", "L2 penalty added to the gradient", CLG_HP_MIN, 0, 0, NULL },
    { "maximize", CLG_HP_BOOL, "false", "maximize the objective instead of minimizing", 0, 0, 0, NULL },
};

static clg_status sgd_validate(clg_ctx *ctx, const clg_hparams *hp)
{
    if (clg_hp_bool(hp, "nesterov") &&
        (clg_hp_float(hp, "momentum") <= 0 || clg_hp_float(hp, "dampening") != 0))
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "nesterov: needs momentum > 0 and dampening = 0");
    return CLG_OK;
}

static int sgd_state(const clg_hparams *hp, const char **names, float *init)
{
    if (clg_hp_float(hp, "momentum") == 0)
        return 0;
    names[0] = "momentum_buffer";
    init[0] = 0;
    return 1;
}

/* [lr, first step ? 1 : 0] */
static void sgd_scalars(const clg_hparams *hp, double lr, int64_t step, float *out)
{
    (void)hp;
    out[0] = (float)lr;
    out[1] = step == 1 ? 1.0f : 0.0f;
}

static clg_status sgd_update(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp,
                             const clg_t *sc, clg_optim_param *p)
{
    (void)ctx;
    clg_t d = coupled_grad(g, hp, p);
    double mom = clg_hp_float(hp, "momentum");
    if (mom != 0) {
        /* torch: buf = clone(d) on the first step, then buf*m + (1-damp)*d.
         * Without dampening, buf*m + d from the zero-initialised buffer is
         * exactly d on the first step, so the common case saves two passes
         * over every parameter. */
        double damp = clg_hp_float(hp, "dampening");
        clg_t buf;
        if (damp == 0) {
            buf = clg_add(g, clg_mul_scalar(g, p->state[0], (float)mom), d);
        } else {
            clg_t later = clg_add(g, clg_mul_scalar(g, p->state[0], (float)mom),
                                  clg_mul_scalar(g, d, (float)(1.0 - damp)));
            buf = clg_where(g, sc[1], d, later);
        }
        p->state_out[0] = buf;
        if (clg_hp_bool(hp, "nesterov"))
            d = clg_add(g, d, clg_mul_scalar(g, buf, (float)mom));
        else
            d = buf;
    }
    p->param_out = clg_sub(g, p->param, clg_mul(g, d, sc[0]));
    return CLG_OK;
}

static const clg_optimizer_ops sgd_ops = {
    .struct_size = sizeof(clg_optimizer_ops), .state = sgd_state, .n_scalars = 2,
    .scalars = sgd_scalars, .update = sgd_update,
};

/* ------------------------------------------------------------ adam, adamw */
static const clg_hparam_def adam_hp[] = {
    { "beta1", CLG_HP_FLOAT, "0.9", "decay of the first-moment average", UNIT_OPEN, 0, 1, NULL },
    { "beta2", CLG_HP_FLOAT, "0.999", "decay of the second-moment average", UNIT_OPEN, 0, 1, NULL },
    { "eps", CLG_HP_FLOAT, "1e-8", "added to the denominator", CLG_HP_MIN, 0, 0, NULL },
    { "weight_decay", CLG_HP_FLOAT, "0", "L2 penalty added to the gradient", CLG_HP_MIN, 0, 0, NULL },
    { "amsgrad", CLG_HP_BOOL, "false", "use the maximum of past second moments", 0, 0, 0, NULL },
    { "maximize", CLG_HP_BOOL, "false", "maximize the objective instead of minimizing", 0, 0, 0, NULL },
};
static const clg_hparam_def adamw_hp[] = {
    { "beta1", CLG_HP_FLOAT, "0.9", "decay of the first-moment average", UNIT_OPEN, 0, 1, NULL },
    { "beta2", CLG_HP_FLOAT, "0.999", "decay of the second-moment average", UNIT_OPEN, 0, 1, NULL },
    { "eps", CLG_HP_FLOAT, "1e-8", "added to the denominator", CLG_HP_MIN, 0, 0, NULL },
    { "weight_decay", CLG_HP_FLOAT, "0.01", "decoupled decay: param *= 1 - lr*weight_decay", CLG_HP_MIN, 0, 0, NULL },
    { "amsgrad", CLG_HP_BOOL, "false", "use the maximum of past second moments", 0, 0, 0, NULL },
    { "maximize", CLG_HP_BOOL, "false", "maximize the objective instead of minimizing", 0, 0, 0, NULL },
};

static int adam_state(const clg_hparams *hp, const char **names, float *init)
{
    names[0] = "exp_avg";
    names[1] = "exp_avg_sq";
    init[0] = init[1] = 0;
    if (!clg_hp_bool(hp, "amsgrad"))
        return 2;
    names[2] = "max_exp_avg_sq";
    init[2] = 0;
    return 3;
}

/* [lr / (1 - beta1^t), sqrt(1 - beta2^t), 1 - lr*weight_decay] in double as
 * torch computes them on the host. */
static void adam_scalars(const clg_hparams *hp, double lr, int64_t step, float *out)
{
    double t = (double)step;
    double bc1 = 1.0 - pow(clg_hp_float(hp, "beta1"), t);
    double bc2 = 1.0 - pow(clg_hp_float(hp, "beta2"), t);
    out[0] = (float)(lr / bc1);
    out[1] = (float)sqrt(bc2);
    out[2] = (float)(1.0 - lr * clg_hp_float(hp, "weight_decay"));
}

static clg_status adam_common(clg_graph *g, const clg_hparams *hp, const clg_t *sc,
                              clg_optim_param *p, int decoupled)
{
    clg_t param = p->param, grad;
    if (decoupled) {
        grad = clg_hp_bool(hp, "maximize") ? clg_neg(g, p->grad) : p->grad;
        if (clg_hp_float(hp, "weight_decay") != 0)
            param = clg_mul(g, param, sc[2]);
    } else {
        grad = coupled_grad(g, hp, p);
    }
    double b1 = clg_hp_float(hp, "beta1"), b2 = clg_hp_float(hp, "beta2");
    clg_t m = clg_add(g, clg_mul_scalar(g, p->state[0], (float)b1),
                      clg_mul_scalar(g, grad, (float)(1.0 - b1)));
    clg_t v = clg_add(g, clg_mul_scalar(g, p->state[1], (float)b2),
                      clg_mul_scalar(g, clg_mul(g, grad, grad), (float)(1.0 - b2)));
    p->state_out[0] = m;
    p->state_out[1] = v;
    clg_t vv = v;
    if (clg_hp_bool(hp, "amsgrad")) {
        vv = clg_maximum(g, p->state[2], v);
        p->state_out[2] = vv;
    }
    clg_t denom = clg_add_scalar(g, clg_div(g, clg_sqrt(g, vv), sc[1]),
                                 (float)clg_hp_float(hp, "eps"));
    p->param_out = clg_sub(g, param, clg_mul(g, clg_div(g, m, denom), sc[0]));
    return CLG_OK;
}

static clg_status adam_update(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp,
                              const clg_t *sc, clg_optim_param *p)
{
    (void)ctx;
    return adam_common(g, hp, sc, p, 0);
}

static clg_status adamw_update(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp,
                               const clg_t *sc, clg_optim_param *p)
{
    (void)ctx;
    return adam_common(g, hp, sc, p, 1);
}

static const clg_optimizer_ops adam_ops = {
    .struct_size = sizeof(clg_optimizer_ops), .state = adam_state, .n_scalars = 3,
    .scalars = adam_scalars, .update = adam_update,
};
static const clg_optimizer_ops adamw_ops = {
    .struct_size = sizeof(clg_optimizer_ops), .state = adam_state, .n_scalars = 3,
    .scalars = adam_scalars, .update = adamw_update,
};

/* --------------------------------------------------------------- rmsprop */
static const clg_hparam_def rmsprop_hp[] = {
    { "alpha", CLG_HP_FLOAT, "0.99", "smoothing constant of the squared average", CLG_HP_MIN | CLG_HP_MAX, 0, 1, NULL },
    { "eps", CLG_HP_FLOAT, "1e-8", "added to the denominator", CLG_HP_MIN, 0, 0, NULL },
    { "weight_decay", CLG_HP_FLOAT, "0", "L2 penalty added to the gradient", CLG_HP_MIN, 0, 0, NULL },
    { "momentum", CLG_HP_FLOAT, "0", "momentum factor", CLG_HP_MIN, 0, 0, NULL },
    { "centered", CLG_HP_BOOL, "false", "normalize by the estimated variance of the gradient", 0, 0, 0, NULL },
    { "maximize", CLG_HP_BOOL, "false", "maximize the objective instead of minimizing", 0, 0, 0, NULL },
};

static int rmsprop_state(const clg_hparams *hp, const char **names, float *init)
{
    int n = 0;
    names[n] = "square_avg";
    init[n++] = 0;
    if (clg_hp_float(hp, "momentum") > 0) {
        names[n] = "momentum_buffer";
        init[n++] = 0;
    }
    if (clg_hp_bool(hp, "centered")) {
        names[n] = "grad_avg";
        init[n++] = 0;
    }
    return n;
}

static void lr_scalar(const clg_hparams *hp, double lr, int64_t step, float *out)
{
    (void)hp;
    (void)step;
    out[0] = (float)lr;
}

static clg_status rmsprop_update(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp,
                                 const clg_t *sc, clg_optim_param *p)
{
    (void)ctx;
    clg_t grad = coupled_grad(g, hp, p);
    double a = clg_hp_float(hp, "alpha");
    int has_mom = clg_hp_float(hp, "momentum") > 0;
    int k = 0;
    clg_t sq = clg_add(g, clg_mul_scalar(g, p->state[k], (float)a),
                       clg_mul_scalar(g, clg_mul(g, grad, grad), (float)(1.0 - a)));
    p->state_out[k++] = sq;
    int kmom = has_mom ? k++ : -1;
    clg_t avg;
    if (clg_hp_bool(hp, "centered")) {
        clg_t ga = clg_add(g, clg_mul_scalar(g, p->state[k], (float)a),
                           clg_mul_scalar(g, grad, (float)(1.0 - a)));
        p->state_out[k++] = ga;
        avg = clg_sqrt(g, clg_sub(g, sq, clg_mul(g, ga, ga)));
    } else {
        avg = clg_sqrt(g, sq);
    }
    avg = clg_add_scalar(g, avg, (float)clg_hp_float(hp, "eps"));
    if (has_mom) {
        clg_t buf = clg_add(g, clg_mul_scalar(g, p->state[kmom], (float)clg_hp_float(hp, "momentum")),
                            clg_div(g, grad, avg));
        p->state_out[kmom] = buf;
        p->param_out = clg_sub(g, p->param, clg_mul(g, buf, sc[0]));
    } else {
        p->param_out = clg_sub(g, p->param, clg_mul(g, clg_div(g, grad, avg), sc[0]));
    }
    return CLG_OK;
}

static const clg_optimizer_ops rmsprop_ops = {
    .struct_size = sizeof(clg_optimizer_ops), .state = rmsprop_state, .n_scalars = 1,
    .scalars = lr_scalar, .update = rmsprop_update,
};

/* --------------------------------------------------------------- adagrad */
static const clg_hparam_def adagrad_hp[] = {
    { "lr_decay", CLG_HP_FLOAT, "0", "lr / (1 + (step-1) * lr_decay)", CLG_HP_MIN, 0, 0, NULL },
    { "weight_decay", CLG_HP_FLOAT, "0", "L2 penalty added to the gradient", CLG_HP_MIN, 0, 0, NULL },
    { "initial_accumulator_value", CLG_HP_FLOAT, "0", "starting value of the sum of squares", CLG_HP_MIN, 0, 0, NULL },
    { "eps", CLG_HP_FLOAT, "1e-10", "added to the denominator", CLG_HP_MIN, 0, 0, NULL },
    { "maximize", CLG_HP_BOOL, "false", "maximize the objective instead of minimizing", 0, 0, 0, NULL },
};

static int adagrad_state(const clg_hparams *hp, const char **names, float *init)
{
    names[0] = "sum";
    init[0] = (float)clg_hp_float(hp, "initial_accumulator_value");
    return 1;
}

static void adagrad_scalars(const clg_hparams *hp, double lr, int64_t step, float *out)
{
    out[0] = (float)(lr / (1.0 + (double)(step - 1) * clg_hp_float(hp, "lr_decay")));
}

static clg_status adagrad_update(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp,
                                 const clg_t *sc, clg_optim_param *p)
{
    (void)ctx;
    clg_t grad = coupled_grad(g, hp, p);
    clg_t sum = clg_add(g, p->state[0], clg_mul(g, grad, grad));
    p->state_out[0] = sum;
    clg_t std = clg_add_scalar(g, clg_sqrt(g, sum), (float)clg_hp_float(hp, "eps"));
    p->param_out = clg_sub(g, p->param, clg_mul(g, clg_div(g, grad, std), sc[0]));
    return CLG_OK;
}

static const clg_optimizer_ops adagrad_ops = {
    .struct_size = sizeof(clg_optimizer_ops), .state = adagrad_state, .n_scalars = 1,
    .scalars = adagrad_scalars, .update = adagrad_update,
};

/* ------------------------------------------------------------- register */
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
    const clg_component comps[] = {
        { .struct_size = sizeof(clg_component), .kind = CLG_COMPONENT_OPTIMIZER, .name = "sgd",
          .doc = "stochastic gradient descent with optional (Nesterov) momentum (torch.optim.SGD)",
          .hparams = sgd_hp, .n_hparams = N(sgd_hp), .validate = sgd_validate, .optimizer = &sgd_ops },
        { .struct_size = sizeof(clg_component), .kind = CLG_COMPONENT_OPTIMIZER, .name = "adam",
          .doc = "Adam with L2 weight decay and optional AMSGrad (torch.optim.Adam)",
          .hparams = adam_hp, .n_hparams = N(adam_hp), .optimizer = &adam_ops },
        { .struct_size = sizeof(clg_component), .kind = CLG_COMPONENT_OPTIMIZER, .name = "adamw",
          .doc = "Adam with decoupled weight decay (torch.optim.AdamW)",
          .hparams = adamw_hp, .n_hparams = N(adamw_hp), .optimizer = &adamw_ops },
        { .struct_size = sizeof(clg_component), .kind = CLG_COMPONENT_OPTIMIZER, .name = "rmsprop",
          .doc = "RMSprop, optionally centered and with momentum (torch.optim.RMSprop)",
          .hparams = rmsprop_hp, .n_hparams = N(rmsprop_hp), .optimizer = &rmsprop_ops },
        { .struct_size = sizeof(clg_component), .kind = CLG_COMPONENT_OPTIMIZER, .name = "adagrad",
          .doc = "Adagrad with lr decay (torch.optim.Adagrad)",
          .hparams = adagrad_hp, .n_hparams = N(adagrad_hp), .optimizer = &adagrad_ops },
    };
    for (int i = 0; i < N(comps); i++) {
        clg_status st = clg_register(reg, &comps[i]);
        if (st != CLG_OK)
            return st;
    }
    return CLG_OK;
}

CLG_PLUGIN_DEFINE(init)
