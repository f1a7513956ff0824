/* Built-in LR schedulers, each the host-side rule of its torch.optim.lr_scheduler
 * counterpart (1.13). Chainable ones use torch's recursive form (new lr from
 * the current lr), so a '+' chain behaves like torch's ChainedScheduler and
 * rounding follows torch's own sequence. All arithmetic is in double, as in
 * Python. */
#include <clgrad/plugin.h>

#include <math.h>
#include <string.h>

#define STEP_FN(fn)                                                                    \
    static clg_status fn(clg_ctx *ctx, const clg_hparams *hp, const clg_sched_in *in, \
                         double *state, double *lr)

#define UNIT_LEFT_OPEN (CLG_HP_MIN | CLG_HP_MIN_OPEN | CLG_HP_MAX)

/* ------------------------------------------------------------- constant */
static const clg_hparam_def constant_hp[] = {
    { "factor", CLG_HP_FLOAT, "1.0", "lr multiplier until total_iters", UNIT_LEFT_OPEN, 0, 1, NULL },
    { "total_iters", CLG_HP_INT, "5", "steps the factor applies", CLG_HP_MIN, 0, 0, NULL },
};

STEP_FN(constant_step)
{
    (void)ctx;
    (void)state;
    double f = clg_hp_float(hp, "factor");
    int64_t n = clg_hp_int(hp, "total_iters");
    if (in->t == 0)
        *lr = in->lr * f;
    else if (in->t == n)
        *lr = in->lr * (1.0 / f);
    else
        *lr = in->lr;
    return CLG_OK;
}

/* ----------------------------------------------------------------- step */
static const clg_hparam_def step_hp[] = {
    { "step_size", CLG_HP_INT, "30", "decay every step_size intervals", CLG_HP_MIN, 1, 0, NULL },
    { "gamma", CLG_HP_FLOAT, "0.1", "multiplicative decay", CLG_HP_MIN, 0, 0, NULL },
};

STEP_FN(step_step)
{
    (void)ctx;
    (void)state;
    int64_t s = clg_hp_int(hp, "step_size");
    *lr = (in->t == 0 || in->t % s != 0) ? in->lr : in->lr * clg_hp_float(hp, "gamma");
    return CLG_OK;
}

/* ------------------------------------------------------------ multistep */
static const clg_hparam_def multistep_hp[] = {
    { "milestones", CLG_HP_INT_LIST, "", "intervals at which to decay, e.g. 30/60/90", CLG_HP_MIN, 1, 0, NULL },
    { "gamma", CLG_HP_FLOAT, "0.1", "multiplicative decay", CLG_HP_MIN, 0, 0, NULL },
};

STEP_FN(multistep_step)
{
    (void)ctx;
    (void)state;
    int n;
    const int64_t *m = clg_hp_int_list(hp, "milestones", &n);
    int hits = 0; /* torch counts repeated milestones (a Counter) */
    for (int i = 0; i < n; i++)
        hits += m[i] == in->t;
    *lr = hits ? in->lr * pow(clg_hp_float(hp, "gamma"), hits) : in->lr;
    return CLG_OK;
}

/* ---------------------------------------------------------- exponential */
static const clg_hparam_def exp_hp[] = {
    { "gamma", CLG_HP_FLOAT, "0.95", "multiplicative decay per interval", CLG_HP_MIN, 0, 0, NULL },
};

STEP_FN(exp_step)
{
    (void)ctx;
    (void)state;
    *lr = in->t == 0 ? in->lr : in->lr * clg_hp_float(hp, "gamma");
    return CLG_OK;
}

/* --------------------------------------------------------- linear, warmup */
static const clg_hparam_def linear_hp[] = {
    { "start_factor", CLG_HP_FLOAT, "0.3333333333333333", "lr factor at t=0", UNIT_LEFT_OPEN, 0, 1, NULL },
    { "end_factor", CLG_HP_FLOAT, "1.0", "lr factor from t=total_iters on", CLG_HP_MIN | CLG_HP_MAX, 0, 1, NULL },
    { "total_iters", CLG_HP_INT, "5", "intervals of the linear ramp", CLG_HP_MIN, 1, 0, NULL },
};

static double linear_rule(double lr, int64_t t, double s, double e, int64_t n)
{
    if (t == 0)
        return lr * s;
    if (t > n)
        return lr;
    return lr * (1.0 + (e - s) / ((double)n * s + (double)(t - 1) * (e - s)));
}

STEP_FN(linear_step)
{
    (void)ctx;
    (void)state;
    *lr = linear_rule(in->lr, in->t, clg_hp_float(hp, "start_factor"),
                      clg_hp_float(hp, "end_factor"), clg_hp_int(hp, "total_iters"));
    return CLG_OK;
}

static const clg_hparam_def warmup_hp[] = {
    { "steps", CLG_HP_INT, "5", "length of the warm-up in intervals", CLG_HP_MIN, 1, 0, NULL },
    { "start_factor", CLG_HP_FLOAT, "0.001", "lr factor at t=0, rising linearly to 1", UNIT_LEFT_OPEN, 0, 1, NULL },
};

STEP_FN(warmup_step)
{
    (void)ctx;
    (void)state;
    *lr = linear_rule(in->lr, in->t, clg_hp_float(hp, "start_factor"), 1.0,
                      clg_hp_int(hp, "steps"));
    return CLG_OK;
}

/* --------------------------------------------------------------- cosine */
static const clg_hparam_def cosine_hp[] = {
    { "T_max", CLG_HP_INT, "50", "half period in intervals", CLG_HP_MIN, 1, 0, NULL },
    { "eta_min", CLG_HP_FLOAT, "0", "minimum lr (absolute)", CLG_HP_MIN, 0, 0, NULL },
};

STEP_FN(cosine_step)
{
    (void)ctx;
    (void)state;
    double tm = (double)clg_hp_int(hp, "T_max"), emin = clg_hp_float(hp, "eta_min");
    int64_t t = in->t, T = clg_hp_int(hp, "T_max");
    const double pi = 3.14159265358979323846;
    if (t == 0)
        *lr = in->lr;
    else if ((t - 1 - T) % (2 * T) == 0)
        *lr = in->lr + (in->base_lr - emin) * (1.0 - cos(pi / tm)) / 2.0;
    else
        *lr = (1.0 + cos(pi * (double)t / tm)) / (1.0 + cos(pi * (double)(t - 1) / tm)) *
                  (in->lr - emin) + emin;
    return CLG_OK;
}

/* -------------------------------------------------------------- invsqrt */
STEP_FN(invsqrt_step)
{
    (void)ctx;
    (void)state;
    (void)hp;
    *lr = in->base_lr * pow(1.0 + (double)in->t, -0.5);
    return CLG_OK;
}

/* ------------------------------------------------------------- onecycle */
static const clg_hparam_def onecycle_hp[] = {
    { "max_lr", CLG_HP_FLOAT, "0.1", "peak lr (absolute; the trainer's lr is ignored)", CLG_HP_MIN | CLG_HP_MIN_OPEN, 0, 0, NULL },
    { "total_steps", CLG_HP_INT, "100", "length of the cycle in intervals", CLG_HP_MIN, 2, 0, NULL },
    { "pct_start", CLG_HP_FLOAT, "0.3", "fraction of the cycle spent increasing", CLG_HP_MIN | CLG_HP_MAX, 0, 1, NULL },
    { "anneal", CLG_HP_CHOICE, "cos", "annealing shape", 0, 0, 0, "cos|linear" },
    { "div_factor", CLG_HP_FLOAT, "25", "initial lr = max_lr / div_factor", CLG_HP_MIN | CLG_HP_MIN_OPEN, 0, 0, NULL },
    { "final_div_factor", CLG_HP_FLOAT, "1e4", "final lr = initial lr / final_div_factor", CLG_HP_MIN | CLG_HP_MIN_OPEN, 0, 0, NULL },
    { "three_phase", CLG_HP_BOOL, "false", "anneal back to the initial lr before the final decay", 0, 0, 0, NULL },
};

static double anneal(int cosine, double start, double end, double pct)
{
    if (cosine)
        return end + (start - end) / 2.0 * (cos(3.14159265358979323846 * pct) + 1.0);
    return (end - start) * pct + start;
}

STEP_FN(onecycle_step)
{
    (void)state;
    int64_t total = clg_hp_int(hp, "total_steps");
    if (in->t > total)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "scheduler 'onecycle': stepped %lld times, total_steps is %lld",
                                 (long long)in->t + 1, (long long)total);
    double max_lr = clg_hp_float(hp, "max_lr");
    double init = max_lr / clg_hp_float(hp, "div_factor");
    double min_lr = init / clg_hp_float(hp, "final_div_factor");
    double pct = clg_hp_float(hp, "pct_start");
    int cosine = strcmp(clg_hp_choice(hp, "anneal"), "cos") == 0;
    double ends[3], starts[3], stops[3];
    int n;
    if (clg_hp_bool(hp, "three_phase")) {
        n = 3;
        ends[0] = pct * (double)total - 1;
        ends[1] = 2 * pct * (double)total - 2;
        ends[2] = (double)total - 1;
        starts[0] = init, stops[0] = max_lr;
        starts[1] = max_lr, stops[1] = init;
        starts[2] = init, stops[2] = min_lr;
    } else {
        n = 2;
        ends[0] = pct * (double)total - 1;
        ends[1] = (double)total - 1;
        starts[0] = init, stops[0] = max_lr;
        starts[1] = max_lr, stops[1] = min_lr;
    }
    double start_step = 0, t = (double)in->t;
    for (int i = 0; i < n; i++) {
        if (t <= ends[i] || i == n - 1) {
            double p = (t - start_step) / (ends[i] - start_step);
            *lr = anneal(cosine, starts[i], stops[i], p);
            return CLG_OK;
        }
        start_step = ends[i];
    }
    return CLG_OK;
}

static clg_status onecycle_validate(clg_ctx *ctx, const clg_hparams *hp)
{
    double pct = clg_hp_float(hp, "pct_start");
    double total = (double)clg_hp_int(hp, "total_steps");
    /* Phases of zero length divide by zero in torch too; refuse them. */
    double e0 = pct * total - 1, e1 = clg_hp_bool(hp, "three_phase") ? 2 * pct * total - 2 : total - 1;
    if (e0 <= 0 || e1 <= e0 || (clg_hp_bool(hp, "three_phase") && total - 1 <= e1))
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "pct_start=%g with total_steps=%lld leaves an empty phase",
                                 pct, (long long)clg_hp_int(hp, "total_steps"));
    return CLG_OK;
}

/* -------------------------------------------------------------- plateau */
static const clg_hparam_def plateau_hp[] = {
    { "mode", CLG_HP_CHOICE, "min", "whether the metric should go down or up", 0, 0, 0, "min|max" },
    { "factor", CLG_HP_FLOAT, "0.1", "new lr = lr * factor", CLG_HP_MIN | CLG_HP_MAX | CLG_HP_MAX_OPEN, 0, 1, NULL },
    { "patience", CLG_HP_INT, "10", "intervals without improvement before reducing", CLG_HP_MIN, 0, 0, NULL },
    { "threshold", CLG_HP_FLOAT, "1e-4", "minimal significant improvement", CLG_HP_MIN, 0, 0, NULL },
    { "threshold_mode", CLG_HP_CHOICE, "rel", "threshold relative to the best or absolute", 0, 0, 0, "rel|abs" },
    { "cooldown", CLG_HP_INT, "0", "intervals to wait after a reduction", CLG_HP_MIN, 0, 0, NULL },
    { "min_lr", CLG_HP_FLOAT, "0", "lower bound on the lr", CLG_HP_MIN, 0, 0, NULL },
    { "eps", CLG_HP_FLOAT, "1e-8", "reductions smaller than this are skipped", CLG_HP_MIN, 0, 0, NULL },
};
/* "seen" is 0 until the first metric, standing for torch's best = +-inf. */
static const char *const plateau_state[] = { "best", "num_bad_epochs", "cooldown_counter", "seen", NULL };

STEP_FN(plateau_step)
{
    (void)ctx;
    *lr = in->lr;
    if (in->t == 0)
        return CLG_OK;
    double cur = in->metric, th = clg_hp_float(hp, "threshold");
    int is_min = strcmp(clg_hp_choice(hp, "mode"), "min") == 0;
    int rel = strcmp(clg_hp_choice(hp, "threshold_mode"), "rel") == 0;
    double *best = &state[0], *bad = &state[1], *cool = &state[2], *seen = &state[3];
    int better;
    if (*seen == 0)
        better = 1; /* anything beats torch's initial +-inf (NaN aside) */
    else if (is_min)
        better = rel ? cur < *best * (1.0 - th) : cur < *best - th;
    else
        better = rel ? cur > *best * (th + 1.0) : cur > *best + th;
    if (better && !isnan(cur)) {
        *best = cur;
        *seen = 1;
        *bad = 0;
    } else {
        *bad += 1;
    }
    if (*cool > 0) {
        *cool -= 1;
        *bad = 0;
    }
    if (*bad > (double)clg_hp_int(hp, "patience")) {
        double nl = fmax(in->lr * clg_hp_float(hp, "factor"), clg_hp_float(hp, "min_lr"));
        if (in->lr - nl > clg_hp_float(hp, "eps"))
            *lr = nl;
        *cool = (double)clg_hp_int(hp, "cooldown");
        *bad = 0;
    }
    return CLG_OK;
}

/* ------------------------------------------------------------- register */
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define OPS(fn, names, metric)                                                        \
    static const clg_scheduler_ops fn##_ops = { .struct_size = sizeof(clg_scheduler_ops), \
                                                .state_names = names, .step = fn##_step, \
                                                .needs_metric = metric }
OPS(constant, NULL, 0);
OPS(step, NULL, 0);
OPS(multistep, NULL, 0);
OPS(exp, NULL, 0);
OPS(linear, NULL, 0);
OPS(warmup, NULL, 0);
OPS(cosine, NULL, 0);
OPS(invsqrt, NULL, 0);
OPS(onecycle, NULL, 0);
OPS(plateau, plateau_state, 1);

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
#define C(nm, dc, hps, nhp, ops, val)                                                     \
    { .struct_size = sizeof(clg_component), .kind = CLG_COMPONENT_SCHEDULER, .name = nm,  \
      .doc = dc, .hparams = hps, .n_hparams = nhp, .validate = val, .scheduler = &ops }
    const clg_component comps[] = {
        C("constant", "lr * factor for total_iters intervals, then lr (torch ConstantLR)",
          constant_hp, N(constant_hp), constant_ops, NULL),
        C("step", "lr * gamma every step_size intervals (torch StepLR)", step_hp, N(step_hp),
          step_ops, NULL),
        C("multistep", "lr * gamma at each milestone (torch MultiStepLR)", multistep_hp,
          N(multistep_hp), multistep_ops, NULL),
        C("exponential", "lr * gamma every interval (torch ExponentialLR)", exp_hp, N(exp_hp),
          exp_ops, NULL),
        C("linear", "linear factor ramp from start_factor to end_factor (torch LinearLR)",
          linear_hp, N(linear_hp), linear_ops, NULL),
        C("cosine", "cosine annealing to eta_min over T_max (torch CosineAnnealingLR)",
          cosine_hp, N(cosine_hp), cosine_ops, NULL),
        C("invsqrt", "base lr * (1 + t)^-0.5 (torch LambdaLR with that rule)", NULL, 0,
          invsqrt_ops, NULL),
        C("warmup", "linear warm-up over steps, chained in front of another: warmup:steps=5+cosine",
          warmup_hp, N(warmup_hp), warmup_ops, NULL),
        C("onecycle", "1cycle policy: up to max_lr then down (torch OneCycleLR, lr only)",
          onecycle_hp, N(onecycle_hp), onecycle_ops, onecycle_validate),
        C("plateau", "reduce lr when a metric stops improving (torch ReduceLROnPlateau)",
          plateau_hp, N(plateau_hp), plateau_ops, NULL),
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
