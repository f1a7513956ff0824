/* clgrad component ABI: what an optimizer, loss, LR-scheduler or
 * collective (multi-process gradient sync) plugin implements.
 *
 * A component .so is built with CLG_PLUGIN_DEFINE(my_init), which exports two
 * symbols: clg_plugin_abi (the ABI version the .so was built against) and
 * clg_plugin_init. The loader reads clg_plugin_abi first and refuses the file
 * unless its major equals CLG_PLUGIN_ABI_MAJOR and its minor is <= the
 * host's; only then it calls clg_plugin_init with a registry handle. Inside
 * init, and only there, the plugin calls clg_register() once per component.
 * A name that an earlier file (in the search order) registered for the same
 * kind is skipped with a notice naming both files: the first one is used and
 * the rest of this .so stays registered (see clg_plugins_notice in train.h).
 * Registering one name twice from the same .so fails it.
 *
 * The ABI grows only by addition: new fields are appended to the structs
 * below, whose first field is struct_size (set it to sizeof(the struct) as
 * your build sees it; CLG_COMPONENT_INIT does).
 *
 * Plugins link against libclgrad and build their graph ops through the public
 * API in clgrad.h, so a component written once runs on every backend.
 * Nothing in a plugin may abort() or exit(); report failures with
 * clg_ctx_set_error() and a non-OK status. */
#ifndef CLGRAD_PLUGIN_H
#define CLGRAD_PLUGIN_H

#include <clgrad/clgrad.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLG_PLUGIN_ABI_MAJOR 1
#define CLG_PLUGIN_ABI_MINOR 1 /* 1.1: loss target kinds, collectives */
#define CLG_PLUGIN_INIT_SYMBOL "clg_plugin_init"
#define CLG_PLUGIN_ABI_SYMBOL "clg_plugin_abi"

typedef struct clg_registry clg_registry; /* owned by the core */

typedef enum clg_component_kind {
    CLG_COMPONENT_OPTIMIZER = 1,
    CLG_COMPONENT_LOSS = 2,
    CLG_COMPONENT_SCHEDULER = 3,
    CLG_COMPONENT_COLLECTIVE = 4 /* ABI 1.1 */
} clg_component_kind;

/* "optimizer", "loss", "scheduler", "collective" */
const char *clg_component_kind_name(clg_component_kind kind);

/* ------------------------------------------------------ hyperparameters */
typedef enum clg_hp_type {
    CLG_HP_FLOAT = 1,      /* "0.001", "1e-8", "inf" is refused */
    CLG_HP_INT = 2,        /* "10", "-100" (64-bit) */
    CLG_HP_BOOL = 3,       /* "0", "1", "true", "false" */
    CLG_HP_CHOICE = 4,     /* one of the '|'-separated words of `choices` */
    CLG_HP_FLOAT_LIST = 5, /* "0.9/0.99", may be empty ("") */
    CLG_HP_INT_LIST = 6    /* "30/60/90", may be empty ("") */
} clg_hp_type;

/* Range flags: which bounds of a clg_hparam_def apply. For lists the bounds
 * apply to every element. */
#define CLG_HP_MIN 1u        /* value >= min */
#define CLG_HP_MAX 2u        /* value <= max */
#define CLG_HP_MIN_OPEN 4u   /* value >  min (with CLG_HP_MIN) */
#define CLG_HP_MAX_OPEN 8u   /* value <  max (with CLG_HP_MAX) */

/* One hyperparameter of a component's schema. `def` is the default written
 * as a user would write it; the core parses it with the same rules when the
 * component registers, so a bad default fails registration. */
typedef struct clg_hparam_def {
    const char *name;    /* [A-Za-z_][A-Za-z0-9_]* */
    clg_hp_type type;
    const char *def;
    const char *doc;     /* one line */
    unsigned range;      /* CLG_HP_MIN | CLG_HP_MAX | ... or 0 */
    double min, max;
    const char *choices; /* CLG_HP_CHOICE: "cos|linear" */
} clg_hparam_def;

/* Parsed, validated values of one component instance (defaults filled in).
 * Getters take the key as named in the schema; asking for a key that is not
 * in the schema, or with the wrong type's getter, returns 0 / NULL. */
typedef struct clg_hparams clg_hparams;

double clg_hp_float(const clg_hparams *hp, const char *key);
int64_t clg_hp_int(const clg_hparams *hp, const char *key);
int clg_hp_bool(const clg_hparams *hp, const char *key);
/* CLG_HP_CHOICE: the chosen word. */
const char *clg_hp_choice(const clg_hparams *hp, const char *key);
/* Lists: element count in *n (may be 0); the array lives as long as hp. */
const double *clg_hp_float_list(const clg_hparams *hp, const char *key, int *n);
const int64_t *clg_hp_int_list(const clg_hparams *hp, const char *key, int *n);
/* 1 if the user wrote the key in the spec string, 0 if it is the default. */
int clg_hp_given(const clg_hparams *hp, const char *key);
/* The component's name ("adam"), for error messages. */
const char *clg_hp_component(const clg_hparams *hp);

/* ------------------------------------------------------------ optimizers */
#define CLG_OPTIM_MAX_STATE 4   /* state tensors per parameter */
#define CLG_OPTIM_MAX_SCALARS 8 /* per-step host scalars */

/* One parameter as the optimizer's update callback sees it. The core fills
 * the inputs; the callback sets param_out and state_out (state_out[i] may be
 * left CLG_NONE: that state keeps its value). The core assigns the outputs
 * back to the store after the step, so every read sees the old values. */
typedef struct clg_optim_param {
    const char *name;                    /* the parameter's store name */
    clg_t param;                         /* its current value (f32) */
    clg_t grad;                          /* d loss / d param, after clipping and accumulation */
    clg_t state[CLG_OPTIM_MAX_STATE];    /* current state, same shape as param */
    clg_t param_out;                     /* set by the optimizer */
    clg_t state_out[CLG_OPTIM_MAX_STATE];/* set by the optimizer */
} clg_optim_param;

typedef struct clg_optimizer_ops {
    size_t struct_size;
    /* Per-parameter state: writes up to CLG_OPTIM_MAX_STATE names (static
     * strings, e.g. "exp_avg") and their initial fill values; returns how
     * many. May depend on hp (SGD has a momentum buffer only if momentum !=
     * 0). Stored as "optim.<param>.<name>" in the model's store. */
    int (*state)(const clg_hparams *hp, const char **names, float *init);
    /* Number of per-step host scalars (<= CLG_OPTIM_MAX_SCALARS). */
    int n_scalars;
    /* Host side, once per optimizer step, before the run: fill the scalars
     * for optimizer step `step` (1 on the first step, as torch's
     * state['step'] after its increment) at learning rate lr. */
    void (*scalars)(const clg_hparams *hp, double lr, int64_t step, float *out);
    /* Graph side, once per parameter when the trainer is built: append the
     * update ops. scalars[i] are 0-d f32 nodes holding the values the host
     * callback writes each step; they broadcast against any tensor. */
    clg_status (*update)(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp,
                         const clg_t *scalars, clg_optim_param *p);
} clg_optimizer_ops;

/* Exponential moving average as PyTorch's optimizers write it,
 *     m.mul_(beta).add_(x, alpha=1 - beta)
 * i.e. m * (float)beta + x * (float)(1.0 - beta): each constant rounded
 * once from double. Use it for every moment (Adam's exp_avg with beta1,
 * exp_avg_sq with beta2 and x = g*g, AdaBelief's s with x = (g-m)^2):
 * writing 1.0f - (float)beta instead rounds beta first and is 1.3e-5
 * relative off for beta = 0.999, which an optimizer compounds. */
clg_t clg_ema(clg_graph *g, clg_t m, clg_t x, double beta);

/* ---------------------------------------------------------------- losses */
/* What a loss expects as its target, so that a trainer or the command hands
 * it the right tensor without guessing from the loss's name. */
typedef enum clg_target_kind {
    /* 0: not declared (a plugin built against ABI 1.0): same as SAME_SHAPE */
    CLG_TARGET_SAME_SHAPE = 1,  /* f32, the prediction's shape (regression,
                                   one-hot or probability targets) */
    CLG_TARGET_CLASS_INDEX = 2, /* i32 [N] class indices for a [N, C] prediction */
    CLG_TARGET_CLASS_PER_POSITION = 3 /* i32 [N, T] for a [N, T, C] prediction */
} clg_target_kind;

typedef struct clg_loss_ops {
    size_t struct_size;
    /* Builds a scalar (0-d f32) loss from pred and target into *loss.
     * Shape/dtype errors: set ctx's error naming the component, the tensors
     * and their shapes, and return CLG_ERR_INVALID. The target is as `target`
     * below declares. Autodiff supplies the gradient. */
    clg_status (*build)(clg_ctx *ctx, clg_graph *g, const clg_hparams *hp,
                        clg_t pred, clg_t target, clg_t *loss);
    /* --- ABI 1.1 --- */
    clg_target_kind target;
} clg_loss_ops;

/* ------------------------------------------------------------ schedulers */
#define CLG_SCHED_MAX_STATE 8

/* What a scheduler sees when it is stepped. */
typedef struct clg_sched_in {
    int64_t t;        /* times stepped: 0 at creation, then 1, 2, ... (torch's last_epoch) */
    int64_t step;     /* optimizer steps done */
    int64_t epoch;    /* epochs done */
    double base_lr;   /* the trainer's lr (torch's initial_lr) */
    double lr;        /* the current lr, before this scheduler's update */
    double metric;    /* last metric given to the trainer, NAN if none */
} clg_sched_in;

typedef struct clg_scheduler_ops {
    size_t struct_size;
    /* Names of the scheduler's state values (static strings; NULL-terminated
     * list, may be NULL for none), at most CLG_SCHED_MAX_STATE. The core
     * zero-fills them before the first call and exposes them to checkpoints
     * as "sched.<i>.<name>". */
    const char *const *state_names;
    /* Writes the new lr. Called once at t = 0 when the trainer is built and
     * then at every scheduler step, with in->lr the current lr: chainable
     * schedulers (torch's recursive get_lr) multiply it, closed-form ones
     * ignore it. Several schedulers chained with '+' are applied in order,
     * each seeing the previous one's result (torch's ChainedScheduler). */
    clg_status (*step)(clg_ctx *ctx, const clg_hparams *hp, const clg_sched_in *in,
                       double *state, double *lr_out);
    /* 1 if step() needs a metric (plateau): the trainer refuses to step it
     * without one. */
    int needs_metric;
} clg_scheduler_ops;

/* ------------------------------------------------------------ collectives */
/* A group of processes that train one model together (MPI ranks, say):
 * the trainer's gradient-sync point sums the gradients of every process
 * with one allreduce over one contiguous host buffer. Every callback gets
 * the state open() returned. A collective is the only place process-group
 * code (MPI) lives: the core and the command build and run without it. */
typedef struct clg_collective_ops {
    size_t struct_size;
    /* Optional: 1 if this process was started by the collective's launcher
     * (mpirun's environment, say), so it can be picked without being named. */
    int (*detect)(void);
    clg_status (*open)(clg_ctx *ctx, const clg_hparams *hp, void **state);
    void (*close)(void *state);
    int (*rank)(void *state);
    int (*size)(void *state);
    /* buf (bytes) from rank `root` to every rank. */
    clg_status (*broadcast)(clg_ctx *ctx, void *state, void *buf, size_t bytes, int root);
    /* In place: buf[i] = sum over ranks of buf[i]; the same order of
     * summation on every rank, so every rank gets bit-identical sums. */
    clg_status (*allreduce_sum_f32)(clg_ctx *ctx, void *state, float *buf, size_t n);
    clg_status (*barrier)(clg_ctx *ctx, void *state);
    /* Ends every process of the group (a rank that failed must not leave
     * the others waiting in a collective call). */
    void (*abort)(void *state, int code);
} clg_collective_ops;

/* ------------------------------------------------------------- components */
typedef struct clg_component {
    size_t struct_size;
    clg_component_kind kind;
    const char *name;   /* [a-z0-9_-]+, unique per kind */
    const char *doc;    /* one line */
    const clg_hparam_def *hparams;
    int n_hparams;
    /* Optional: cross-key checks the schema cannot express (nesterov needs
     * momentum > 0). Set ctx's error naming the keys; the core prefixes the
     * component's name. */
    clg_status (*validate)(clg_ctx *ctx, const clg_hparams *hp);
    /* Exactly the one matching `kind` is set. The ops struct must stay valid
     * while the .so is loaded (make it static const). */
    const clg_optimizer_ops *optimizer;
    const clg_loss_ops *loss;
    const clg_scheduler_ops *scheduler;
    /* --- ABI 1.1 --- */
    const clg_collective_ops *collective;
} clg_component;

#define CLG_COMPONENT_INIT { .struct_size = sizeof(clg_component) }

/* The element count of a static schema array, for clg_component.n_hparams:
 *     c.hparams = my_hp;  c.n_hparams = CLG_N_HPARAMS(my_hp);
 * (a hand count that is too large reads past the array). Arrays only, never
 * a pointer. */
#define CLG_N_HPARAMS(arr) ((int)(sizeof(arr) / sizeof((arr)[0])))

/* What the loader hands to clg_plugin_init. */
typedef struct clg_plugin_host {
    size_t struct_size;
    uint32_t abi_major, abi_minor; /* the host's CLG_PLUGIN_ABI_* */
    const char *path;              /* the .so being loaded */
    clg_ctx *ctx;                  /* for clg_ctx_set_error */
} clg_plugin_host;

/* Valid only inside clg_plugin_init, with the registry it was given. The
 * schema is checked (names, types, defaults parse and lie in range) and the
 * component struct is copied; its strings and ops must stay valid while the
 * .so is loaded. */
clg_status clg_register(clg_registry *reg, const clg_component *c);

typedef clg_status (*clg_plugin_init_fn)(clg_registry *reg, const clg_plugin_host *host);

#define CLG_PLUGIN_EXPORT __attribute__((visibility("default")))

/* In exactly one file of the plugin:  CLG_PLUGIN_DEFINE(my_init)  where
 *   static clg_status my_init(clg_registry *reg, const clg_plugin_host *host);
 * registers the components and returns CLG_OK. */
#define CLG_PLUGIN_DEFINE(init_fn)                                              \
    CLG_PLUGIN_EXPORT const uint32_t clg_plugin_abi[2] = {                      \
        CLG_PLUGIN_ABI_MAJOR, CLG_PLUGIN_ABI_MINOR };                           \
    CLG_PLUGIN_EXPORT clg_status clg_plugin_init(clg_registry *reg,             \
                                                 const clg_plugin_host *host);  \
    CLG_PLUGIN_EXPORT clg_status clg_plugin_init(clg_registry *reg,             \
                                                 const clg_plugin_host *host)   \
    { return init_fn(reg, host); }

#ifdef __cplusplus
}
#endif
#endif
