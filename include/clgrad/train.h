/* clgrad — training API: component plugins (optimizers, losses, schedulers,
 * collectives), the listing of registered components, and the trainer that
 * turns a model graph and a loss into a compiled optimizer step.
 *
 * A training step follows PyTorch's loop
 *     loss = crit(model(x), y); loss.backward(); [allreduce(grads)];
 *     [clip_grad_norm_]; opt.step(); opt.zero_grad(); [sched.step()]
 * in stages: forward and loss -> gradients -> the gradient-sync point (a
 * collective, when one is given) -> clipping -> accumulation -> the
 * optimizer's update. Without a collective all stages are one plan compiled
 * once, with one host read (the loss) per step; with one, the gradients
 * are written to store tensors "grad.<param>" by a first plan, summed across
 * processes through the host in one allreduce, and a second plan runs the
 * rest. */
#ifndef CLGRAD_TRAIN_H
#define CLGRAD_TRAIN_H

#include <clgrad/clgrad.h>
#include <clgrad/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- loading */
/* Loads one component .so by path: dlopen(RTLD_NOW|RTLD_LOCAL), ABI check,
 * clg_plugin_init. Loading the same file twice is a no-op. Errors name the
 * path and the reason (dlerror(), missing symbol, both ABI versions, the
 * status init returned). A name clash with an earlier file is not an error:
 * see clg_plugins_notice below. */
clg_status clg_plugins_load(clg_ctx *ctx, const char *path);
/* Loads every clgrad-plugin-*.so in the plugin search order
 * ($CLGRAD_PLUGIN_PATH, the installed plugin dir, the build tree when the
 * program runs from it); a file name seen in an earlier dir hides later ones.
 * Runs once per ctx (later calls return CLG_OK); the trainer and
 * clg_loss_build call it themselves when a component is not registered yet.
 * Every file is tried; the first failure is returned. */
clg_status clg_plugins_load_default(clg_ctx *ctx);

/* Name clashes. A component name that a file loaded earlier (in the
 * search order: clg_plugins_load calls first, then $CLGRAD_PLUGIN_PATH, the
 * installed dir, the build tree) already registered for the same kind is
 * not registered again: the first one is used, so a user's "adam" given
 * with --plugin or in $CLGRAD_PLUGIN_PATH overrides the built-in on purpose.
 * The skipped component is dropped alone -- the other components of its
 * file stay registered -- and the clash is kept as a notice (also written
 * once to stderr as "clgrad: notice: ..."). A file that registers one name
 * twice itself is refused. */
int clg_plugins_notice_count(const clg_ctx *ctx);
const char *clg_plugins_notice(const clg_ctx *ctx, int i); /* NULL if out of range */

/* Crash report: installs handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL and
 * SIGABRT (on an alternate stack) that, when the signal arrives while a
 * plugin callback runs on that thread, write one line to stderr naming the
 * component, the callback and the .so ("clgrad: SIGSEGV ... inside
 * optimizer 'x', callback update(), from /path/x.so"), then re-raise the
 * signal with its default action (the exit status is unchanged). Replaces
 * any handlers the program had for those signals; the clgrad command calls
 * it at start. Optional for library users. */
clg_status clg_plugins_crash_report(void);

/* ---------------------------------------------------------------- listing */
typedef struct clg_component_info {
    clg_component_kind kind;
    const char *name;
    const char *doc;
    const char *path;                /* the .so that registered it */
    int n_hparams;
    const clg_hparam_def *hparams;   /* defaults in hparams[i].def */
} clg_component_info;

/* Every registered component, in registration order. Pointers stay valid
 * while ctx lives. */
int clg_component_count(const clg_ctx *ctx);
clg_status clg_component_get(const clg_ctx *ctx, int i, clg_component_info *out);
/* CLG_ERR_NOT_FOUND (with a message listing the known names) if absent. */
clg_status clg_component_find(clg_ctx *ctx, clg_component_kind kind, const char *name,
                              clg_component_info *out);

/* ------------------------------------------------------- hyperparameters */
/* Parses "name" or "name:key=value,key=value" (lists as a/b/c, booleans
 * 0/1/true/false) against the component's schema. An unknown key, a value
 * that does not parse or lies out of range, or a key given twice is an error
 * naming the component and the key. */
clg_status clg_hparams_parse(clg_ctx *ctx, clg_component_kind kind, const char *spec,
                             clg_hparams **out);
void clg_hparams_free(clg_hparams *hp);
/* "adam:lr=..." with every key of the schema, for logs; returns buf. */
char *clg_hparams_str(const clg_hparams *hp, char *buf, size_t len);

/* ------------------------------------------------------------------ losses */
/* Appends the ops of loss `spec` ("cross-entropy:label_smoothing=0.1") on
 * (pred, target) to g; *loss is a 0-d f32 node. Use it for eval graphs too. */
clg_status clg_loss_build(clg_graph *g, const char *spec, clg_t pred, clg_t target,
                          clg_t *loss);

/* What the loss `spec` expects as its target (declared by the loss; an ABI
 * 1.0 plugin's undeclared kind reads as CLG_TARGET_SAME_SHAPE). */
clg_status clg_loss_target(clg_ctx *ctx, const char *spec, clg_target_kind *out);

/* ------------------------------------------------------------- collectives */
/* A process group (see clg_collective_ops in plugin.h). spec names one
 * ("mpi"); spec NULL picks the first registered collective whose detect()
 * says its launcher started this process, and leaves *out NULL (not an
 * error) when none did. A NULL collective is the group of one: rank 0 of
 * size 1, and every call is a no-op. */
typedef struct clg_collective clg_collective;
clg_status clg_collective_open(clg_ctx *ctx, const char *spec, clg_collective **out);
void clg_collective_close(clg_collective *c);
const char *clg_collective_name(const clg_collective *c);
int clg_collective_rank(const clg_collective *c);
int clg_collective_size(const clg_collective *c);
clg_status clg_collective_broadcast(clg_collective *c, void *buf, size_t bytes, int root);
clg_status clg_collective_allreduce_sum(clg_collective *c, float *buf, size_t n);
clg_status clg_collective_barrier(clg_collective *c);
void clg_collective_abort(clg_collective *c, int code);

/* -------------------------------------------------------------- schedulers */
/* A scheduler chain on its own (the trainer holds one): spec as
 * clg_trainer_opts.scheduler. The lr at t = 0 is available right after
 * clg_scheduler_new. */
typedef struct clg_scheduler clg_scheduler;
clg_status clg_scheduler_new(clg_ctx *ctx, const char *spec, double base_lr,
                             clg_scheduler **out);
void clg_scheduler_free(clg_scheduler *s);
/* One step (t += 1); metric: NAN if none (a plateau scheduler needs one). */
clg_status clg_scheduler_step(clg_scheduler *s, double metric);
double clg_scheduler_lr(const clg_scheduler *s);
int64_t clg_scheduler_t(const clg_scheduler *s);
/* 1 if the chain has interval=step. */
int clg_scheduler_per_step(const clg_scheduler *s);

/* ----------------------------------------------------------------- trainer */
typedef struct clg_trainer clg_trainer;

/* Zero-initialise, then set what you need. */
typedef struct clg_trainer_opts {
    double lr;                  /* base learning rate, >= 0 */
    const char *optimizer;      /* spec; NULL: "sgd" */
    /* Scheduler spec, NULL for a constant lr. Several specs joined by '+'
     * (a '+' followed by a letter) are chained like torch's ChainedScheduler:
     * "warmup:steps=5+cosine:T_max=50". Every scheduler takes the extra key
     * interval=epoch (default: stepped by clg_trainer_epoch_end) or
     * interval=step (stepped after every optimizer step); all schedulers of a
     * chain must share it. */
    const char *scheduler;
    /* Store names of the parameters to train; NULL: every f32 store tensor
     * of kind CLG_TENSOR_PARAMETER the graph reads through clg_param.
     * Buffers and state are refused: optimizers see parameters only. */
    const char *const *params;
    int n_params;
    /* > 0: before the update, scale all gradients by
     * min(1, clip_grad_norm / (global L2 norm + 1e-6)), as
     * torch.nn.utils.clip_grad_norm_. */
    double clip_grad_norm;
    /* k > 1: gradient accumulation. Each clg_trainer_step is one
     * micro-batch; gradients of k micro-batches are summed (as PyTorch's
     * .grad does when backward() runs k times without zero_grad) in store
     * tensors "accum.<param>", and the optimizer steps (then clears them) on
     * the k-th. Scale the loss by 1/k yourself for a mean. 0 or 1: no
     * accumulation, nothing is stored. */
    int accumulate;
    /* Extra nodes of g to read after a step with clg_trainer_read
     * (predictions, accuracy). */
    const clg_t *outputs;
    int n_outputs;
    const clg_compile_opts *compile; /* may be NULL */
    /* The gradient-sync point: NULL (the default) trains alone; a
     * collective sums every step's gradients across its processes before
     * clipping, accumulation and the update see them. Borrowed: it must
     * outlive the trainer. */
    clg_collective *collective;
    /* Parameter groups, as torch's optimizer param_groups: with params
     * given, lr_scale[i] (finite, >= 0; NULL: all 1) multiplies the
     * learning rate of params[i]. Parameters of one factor F form a group
     * whose lr is lr * F, with a scheduler of its own (the same spec)
     * started from base_lr = lr * F, as torch schedules every group from its
     * initial_lr (so cosine's eta_min and plateau's min_lr are absolute, as
     * there). clg_trainer_lr reports the factor-1 group's lr; checkpoint
     * values of group g >= 1 are "group.<g>.lr" (constant) or
     * "group.<g>.sched.*". At most CLG_TRAINER_MAX_GROUPS - 1 factors other
     * than 1. Parameters left out of params are frozen: no gradient is
     * built for them, no optimizer state kept, and they never change. */
    const double *lr_scale;
} clg_trainer_opts;

#define CLG_TRAINER_MAX_GROUPS 16

/* Adds to g the gradient of `loss` (a one-element f32 node) w.r.t. the
 * parameters, the optional clipping and accumulation, the optimizer's update
 * ops and their clg_assign()s, then compiles one plan on the store's device.
 * Optimizer state tensors are created in st as "optim.<param>.<state>"
 * (e.g. "optim.0.weight.exp_avg"); if they exist already (a restored
 * checkpoint) their values are kept. g keeps the added ops and assignments,
 * so build eval graphs separately (clg_param on the same store, then
 * clg_loss_build and clg_compile): they see the trained values.
 * g may be freed after this call. Gradients never carry over between steps
 * (PyTorch's zero_grad) unless accumulating. */
clg_status clg_trainer_new(clg_graph *g, clg_store *st, clg_t loss,
                           const clg_trainer_opts *opts, clg_trainer **out);
void clg_trainer_free(clg_trainer *tr);

/* The compiled plan (inputs are set through it or clg_trainer_set_input). */
clg_plan *clg_trainer_plan(clg_trainer *tr);
clg_status clg_trainer_set_input(clg_trainer *tr, const char *name, const void *data,
                                 size_t bytes);
/* One micro-batch: forward, backward, and (on the k-th when accumulating,
 * else always) the optimizer update; then, when the scheduler has
 * interval=step and the optimizer stepped, a scheduler step. loss may be
 * NULL: the run is then only enqueued (no host sync). */
clg_status clg_trainer_step(clg_trainer *tr, float *loss);
/* With a collective: this process's gradients are multiplied by w before
 * they are summed across the group (default 1). Data-parallel training
 * with a mean loss over each process's shard of a global batch sets w to
 * shard rows / global rows, so that the sum is the global batch's mean
 * gradient (1/N for N equal shards: exact in f32 when N is a power of 2). */
clg_status clg_trainer_set_sync_weight(clg_trainer *tr, double w);
/* Seconds spent at the sync point so far (reading the gradients, the
 * allreduce, writing them back), over every plan of the trainer: 0 without
 * a collective. */
double clg_trainer_sync_seconds(const clg_trainer *tr);
/* Reads an extra output of the last step (see opts.outputs). */
clg_status clg_trainer_read(clg_trainer *tr, clg_t output, void *dst, size_t bytes);

/* Other batch sizes, for the last partial batch (clg_batcher keeps it, as
 * PyTorch's DataLoader does, but a compiled plan has fixed shapes). Build
 * the same model and loss for that batch size in another graph g (inputs
 * of the same names; clg_param on the same store) and add it: the trainer
 * compiles a second plan with the same optimizer, scheduler, clipping and
 * accumulation, on the same store tensors. *id gets its number (plan 0 is
 * the trainer's own). clg_trainer_use_plan(tr, id) then makes every call on
 * tr (set_input, step, read, the counters, lr and values) act on that plan;
 * switching carries every host value across (step and epoch counters,
 * pending micro-batches, lr, scheduler state), so
 *     for each batch: use_plan(tr, batch.size == B ? 0 : last); set_input; step
 * trains exactly as PyTorch does on the DataLoader's batches. outputs: as
 * opts.outputs, for that plan. g may be freed after the call. */
clg_status clg_trainer_add_plan(clg_trainer *tr, clg_graph *g, clg_t loss, const clg_t *outputs,
                                int n_outputs, int *id);
clg_status clg_trainer_use_plan(clg_trainer *tr, int id);

/* Learning rate the next optimizer step uses. */
double clg_trainer_lr(const clg_trainer *tr);
/* Overrides the current lr (the scheduler continues from it); every
 * parameter group's is set to lr times its factor. */
clg_status clg_trainer_set_lr(clg_trainer *tr, double lr);
int64_t clg_trainer_steps(const clg_trainer *tr);   /* optimizer steps done */
int64_t clg_trainer_epochs(const clg_trainer *tr);  /* epochs ended */
int clg_trainer_pending(const clg_trainer *tr);     /* micro-batches accumulated, not yet applied */

/* Records the metric a plateau scheduler watches (e.g. validation loss). */
void clg_trainer_set_metric(clg_trainer *tr, double metric);
/* Ends an epoch: counts it and steps an interval=epoch scheduler. metric:
 * as clg_trainer_set_metric, NAN to keep the last one. */
clg_status clg_trainer_epoch_end(clg_trainer *tr, double metric);

int clg_trainer_param_count(const clg_trainer *tr);
const char *clg_trainer_param_name(const clg_trainer *tr, int i);

/* Checkpoint state. Tensors: the optimizer's (and accumulation) store
 * entries, listed here by store name; save/restore them with the store.
 * Values: named doubles -- "optim.step" (optimizer steps), "train.epoch",
 * "train.pending", "sched.t", "sched.lr" (current lr), "sched.metric",
 * and "sched.<i>.<name>" for the state of the i-th chained scheduler.
 * Restoring every value and tensor reproduces the run exactly. */
int clg_trainer_tensor_count(const clg_trainer *tr);
const char *clg_trainer_tensor_name(const clg_trainer *tr, int i);
int clg_trainer_value_count(const clg_trainer *tr);
const char *clg_trainer_value_name(const clg_trainer *tr, int i);
double clg_trainer_value_get(const clg_trainer *tr, int i);
/* CLG_ERR_NOT_FOUND for an unknown name. */
clg_status clg_trainer_value_set(clg_trainer *tr, const char *name, double v);

#ifdef __cplusplus
}
#endif
#endif
