/* The trainer: gradient, clipping, accumulation and the optimizer's update
 * appended to a model graph and compiled into one plan; the host side of
 * each step (optimizer scalars, scheduler chain); and clg_loss_build. */
#include "components.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SCALARS_INPUT "train.scalars"

typedef struct value_slot {
    char *name;
    double *ptr;
} value_slot;

struct clg_trainer {
    clg_ctx *ctx;
    clg_store *st;
    clg_plan *plan;        /* forward and loss, gradients, and (alone) the update */
    clg_plan *update_plan; /* with a collective: the stages after the sync point */
    clg_collective *coll;  /* borrowed; NULL: no sync point */
    float *sync_buf;       /* every gradient, one contiguous host buffer */
    size_t sync_n;
    float sync_weight;     /* this process's share of the summed gradient */
    double sync_seconds;   /* time spent at the sync point, all steps */
    char **grad_names;     /* "grad.<param>", with a collective */
    size_t *grad_numel;    /* their element counts, in sync_buf's order */
    clg_t loss;
    const clg__comp *opt;
    clg_hparams *opt_hp;
    int n_scalars;       /* optimizer scalars */
    int has_apply;       /* scalars[0] is the apply flag (accumulation) */
    int accumulate;
    char **params;
    int n_params;
    char **tensors;      /* optimizer/accumulation store names */
    int n_tensors;
    clg_scheduler *sched;  /* NULL: constant lr */
    /* host state, every field a double so checkpoints restore it exactly;
     * with a scheduler, lr and metric live in it */
    double step, epoch, pending, lr, metric, t0;
    double *lrp, *metricp;
    value_slot *values;
    int n_values;
    /* Other plans of the same model (another batch size: the last partial
     * batch), each a trainer of its own on the same store; `active` is the
     * one the public calls act on (NULL: this one). Switching copies every
     * host value, so counters, lr and scheduler state carry over exactly. */
    char *opt_spec, *sched_spec;
    double clip;
    clg_compile_opts copts;
    int has_copts;
    struct clg_trainer **variants;
    int n_variants;
    struct clg_trainer *active;
    /* Parameter groups (torch's param_groups): group 0 runs at the base lr
     * (lrp, sched); group g >= 1 at gscale[g] times it, with a scheduler of
     * its own started from that lr (gsched[g]), or a constant glr[g]. Every
     * group's lr goes to the optimizer through its own scalars. */
    double *pscale;        /* per parameter, as given (NULL: all 1) */
    int *pgroup;           /* group of each parameter */
    int n_groups;
    double gscale[CLG_TRAINER_MAX_GROUPS];
    double glr[CLG_TRAINER_MAX_GROUPS];
    clg_scheduler *gsched[CLG_TRAINER_MAX_GROUPS];
};

/* Where group g's current lr lives. */
static double *group_lrp(clg_trainer *tr, int g)
{
    if (g == 0)
        return tr->lrp;
    return tr->gsched[g] ? &tr->gsched[g]->lr : &tr->glr[g];
}

static clg_trainer *act(clg_trainer *tr) { return tr && tr->active ? tr->active : tr; }
static const clg_trainer *act_c(const clg_trainer *tr)
{
    return tr && tr->active ? tr->active : tr;
}

/* -------------------------------------------------------------- losses */
clg_status clg_loss_build(clg_graph *g, const char *spec, clg_t pred, clg_t target,
                          clg_t *loss)
{
    if (!g || !loss)
        return CLG_ERR_INVALID;
    clg_ctx *ctx = clg_graph_ctx(g);
    *loss = CLG_NONE;
    if (clg_graph_status(g) != CLG_OK)
        return clg_ctx_set_error(ctx, clg_graph_status(g), "%s", clg_graph_error(g));
    clg_hparams *hp;
    clg_status st = clg_hparams_parse(ctx, CLG_COMPONENT_LOSS, spec, &hp);
    if (st != CLG_OK)
        return st;
    const clg__comp *c = clg__hparams_comp(hp);
    clg_ctx_clear_error(ctx);
    clg_t out = CLG_NONE;
    clg__cb_frame fr;
    clg__cb_enter(&fr, c, "build");
    st = c->c.loss->build(ctx, g, hp, pred, target, &out);
    clg__cb_leave(&fr);
    clg_hparams_free(hp);
    if (st != CLG_OK) {
        if (!clg_ctx_error(ctx)[0])
            clg_ctx_set_error(ctx, st, "loss '%s' failed (%s)", c->c.name, clg_status_name(st));
        return st;
    }
    if (clg_graph_status(g) != CLG_OK)
        return clg_ctx_set_error(ctx, clg_graph_status(g), "loss '%s': %s", c->c.name,
                                 clg_graph_error(g));
    if (out == CLG_NONE || clg_dtype_of(g, out) != CLG_F32) {
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "loss '%s' did not return an f32 node",
                                 c->c.name);
    }
    clg_shape s = clg_shape_of(g, out);
    if (clg_shape_numel(&s) != 1) {
        char b[64];
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "loss '%s' returned shape %s, not a scalar", c->c.name,
                                 clg_shape_str(&s, b, sizeof b));
    }
    *loss = out;
    return CLG_OK;
}

clg_status clg_loss_target(clg_ctx *ctx, const char *spec, clg_target_kind *out)
{
    if (!ctx || !out)
        return CLG_ERR_INVALID;
    clg_hparams *hp;
    clg_status st = clg_hparams_parse(ctx, CLG_COMPONENT_LOSS, spec, &hp);
    if (st != CLG_OK)
        return st;
    const clg_loss_ops *ops = clg__hparams_comp(hp)->c.loss;
    *out = CLG_TARGET_SAME_SHAPE;
    if (ops->struct_size >= offsetof(clg_loss_ops, target) + sizeof ops->target && ops->target)
        *out = ops->target;
    clg_hparams_free(hp);
    return CLG_OK;
}

/* ---------------------------------------------------------- small helpers */
static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", a, b, c);
    return p;
}

static int push_str(char ***v, int *n, const char *s)
{
    char **p = realloc(*v, (size_t)(*n + 1) * sizeof *p);
    if (!p)
        return 0;
    *v = p;
    p[*n] = xstrdup(s);
    if (!p[*n])
        return 0;
    (*n)++;
    return 1;
}

static int push_value(clg_trainer *tr, const char *name, double *ptr)
{
    value_slot *p = realloc(tr->values, (size_t)(tr->n_values + 1) * sizeof *p);
    if (!p)
        return 0;
    tr->values = p;
    p[tr->n_values].name = xstrdup(name);
    p[tr->n_values].ptr = ptr;
    if (!p[tr->n_values].name)
        return 0;
    tr->n_values++;
    return 1;
}

void clg_trainer_free(clg_trainer *tr)
{
    if (!tr)
        return;
    clg_plan_free(tr->plan);
    clg_plan_free(tr->update_plan);
    free(tr->sync_buf);
    for (int i = 0; tr->grad_names && i < tr->n_params; i++)
        free(tr->grad_names[i]);
    free(tr->grad_names);
    free(tr->grad_numel);
    clg_hparams_free(tr->opt_hp);
    for (int i = 0; i < tr->n_params; i++)
        free(tr->params[i]);
    free(tr->params);
    for (int i = 0; i < tr->n_tensors; i++)
        free(tr->tensors[i]);
    free(tr->tensors);
    clg_scheduler_free(tr->sched);
    for (int i = 0; i < tr->n_values; i++)
        free(tr->values[i].name);
    free(tr->values);
    for (int i = 0; i < tr->n_variants; i++)
        clg_trainer_free(tr->variants[i]);
    free(tr->variants);
    free(tr->opt_spec);
    free(tr->sched_spec);
    free(tr->pscale);
    free(tr->pgroup);
    for (int g = 0; g < CLG_TRAINER_MAX_GROUPS; g++)
        clg_scheduler_free(tr->gsched[g]);
    free(tr);
}

/* ---------------------------------------------------------------- build */
static clg_status graph_err(clg_trainer *tr, clg_graph *g, const char *what)
{
    clg_status st = clg_graph_status(g);
    return clg_ctx_set_error(tr->ctx, st != CLG_OK ? st : CLG_ERR_INVALID, "trainer: %s: %s",
                             what, clg_graph_error(g)[0] ? clg_graph_error(g) : "failed");
}

/* The store tensor `name` of `shape` filled with `fill` when absent; checks
 * the shape when present (a restored checkpoint). */
static clg_status ensure_tensor(clg_trainer *tr, const char *name, const clg_shape *shape,
                                float fill, clg_tensor_kind kind)
{
    int idx = clg_store_find(tr->st, name);
    if (idx >= 0) {
        clg_shape s = clg_store_shape(tr->st, idx);
        if (clg_store_dtype(tr->st, idx) != CLG_F32 || !clg_shape_equal(&s, shape)) {
            char a[64], b[64];
            return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                     "trainer: store tensor '%s' is %s %s, expected f32 %s",
                                     name, clg_dtype_name(clg_store_dtype(tr->st, idx)),
                                     clg_shape_str(&s, a, sizeof a),
                                     clg_shape_str(shape, b, sizeof b));
        }
    } else {
        int64_t n = clg_shape_numel(shape);
        float *init = malloc((size_t)(n ? n : 1) * sizeof *init);
        if (!init)
            return clg_ctx_set_error(tr->ctx, CLG_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < n; i++)
            init[i] = fill;
        clg_status st = clg_store_add(tr->st, name, CLG_F32, shape, init);
        free(init);
        if (st == CLG_OK)
            st = clg_store_set_kind(tr->st, name, kind);
        if (st != CLG_OK)
            return st;
    }
    if (kind == CLG_TENSOR_SCRATCH)
        return CLG_OK; /* not checkpoint state */
    return push_str(&tr->tensors, &tr->n_tensors, name)
               ? CLG_OK
               : clg_ctx_set_error(tr->ctx, CLG_ERR_NOMEM, "out of memory");
}

static int already(char **v, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return 1;
    return 0;
}

static clg_status collect_params(clg_trainer *tr, clg_graph *g, const clg_trainer_opts *o)
{
    if (o->params) {
        for (int i = 0; i < o->n_params; i++) {
            const char *name = o->params[i];
            int idx = name ? clg_store_find(tr->st, name) : -1;
            if (idx < 0)
                return clg_ctx_set_error(tr->ctx, CLG_ERR_NOT_FOUND,
                                         "trainer: parameter '%s' is not in the store",
                                         name ? name : "(null)");
            if (clg_store_dtype(tr->st, idx) != CLG_F32)
                return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                         "trainer: parameter '%s' is %s, not f32", name,
                                         clg_dtype_name(clg_store_dtype(tr->st, idx)));
            if (clg_store_kind(tr->st, idx) != CLG_TENSOR_PARAMETER)
                return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                         "trainer: '%s' is a %s, not a parameter: optimizers "
                                         "see parameters only", name,
                                         clg_store_kind(tr->st, idx) == CLG_TENSOR_BUFFER
                                             ? "buffer"
                                             : "trainer state tensor");
            if (already(tr->params, tr->n_params, name))
                return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                         "trainer: parameter '%s' listed twice", name);
            if (!push_str(&tr->params, &tr->n_params, name))
                return clg_ctx_set_error(tr->ctx, CLG_ERR_NOMEM, "out of memory");
        }
    } else {
        for (int i = 0; i < clg_graph_size(g); i++) {
            const char *name = clg_param_name(g, i, tr->st);
            int idx = name ? clg_store_find(tr->st, name) : -1;
            if (idx < 0 || clg_store_dtype(tr->st, idx) != CLG_F32 ||
                clg_store_kind(tr->st, idx) != CLG_TENSOR_PARAMETER)
                continue;
            if (already(tr->params, tr->n_params, name))
                continue;
            if (!push_str(&tr->params, &tr->n_params, name))
                return clg_ctx_set_error(tr->ctx, CLG_ERR_NOMEM, "out of memory");
        }
    }
    if (tr->n_params == 0)
        return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                 "trainer: no parameters to train (the graph reads no f32 "
                                 "parameter of this store)");
    return CLG_OK;
}

/* Parameters with equal lr factors share a group, numbered in order of
 * first appearance after group 0 (factor 1, the base lr, maybe empty). */
static clg_status make_groups(clg_trainer *tr, const clg_trainer_opts *o)
{
    tr->n_groups = 1;
    tr->gscale[0] = 1.0;
    tr->pgroup = calloc((size_t)tr->n_params, sizeof *tr->pgroup);
    if (!tr->pgroup)
        return clg_ctx_set_error(tr->ctx, CLG_ERR_NOMEM, "out of memory");
    if (!o->lr_scale)
        return CLG_OK;
    if (!o->params)
        return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                 "trainer: lr_scale needs the params list it runs parallel to");
    tr->pscale = malloc((size_t)tr->n_params * sizeof *tr->pscale);
    if (!tr->pscale)
        return clg_ctx_set_error(tr->ctx, CLG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < tr->n_params; i++) {
        double f = o->lr_scale[i];
        if (!isfinite(f) || f < 0)
            return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                     "trainer: lr_scale %g of '%s' must be finite and >= 0", f,
                                     tr->params[i]);
        tr->pscale[i] = f;
        int g = 0;
        while (g < tr->n_groups && tr->gscale[g] != f)
            g++;
        if (g == tr->n_groups) {
            if (g == CLG_TRAINER_MAX_GROUPS)
                return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                         "trainer: more than %d distinct lr_scale factors",
                                         CLG_TRAINER_MAX_GROUPS - 1);
            tr->gscale[g] = f;
            tr->glr[g] = tr->lr * f;
            if (tr->sched) {
                clg_status st = clg_scheduler_new(tr->ctx, tr->sched_spec, tr->lr * f,
                                                  &tr->gsched[g]);
                if (st != CLG_OK)
                    return st;
            }
            tr->n_groups++;
        }
        tr->pgroup[i] = g;
    }
    return CLG_OK;
}

/* Stages after the sync point (accumulation, clipping, the optimizer's
 * update and its assignments), appended to g, which reads the parameters as
 * pnodes and their gradients as grads. */
static clg_status stage_update(clg_trainer *tr, clg_graph *g, const clg_t *pnodes, clg_t *grads,
                               const clg_trainer_opts *o)
{
    clg_ctx *ctx = tr->ctx;
    const clg_optimizer_ops *ops = tr->opt->c.optimizer;
    int np = tr->n_params;
    clg_status st = CLG_OK;

    /* Host scalars: [apply?] + the optimizer's, once per group. */
    tr->has_apply = tr->accumulate > 1;
    int n_in = tr->has_apply + tr->n_groups * tr->n_scalars;
    clg_t sc[1 + CLG_TRAINER_MAX_GROUPS * CLG_OPTIM_MAX_SCALARS];
    for (int i = 0; i < n_in; i++)
        sc[i] = CLG_NONE;
    if (n_in > 0) {
        clg_shape s1 = CLG_SHAPE(n_in);
        clg_shape s0 = { 0 };
        clg_t in = clg_input(g, SCALARS_INPUT, CLG_F32, &s1);
        for (int i = 0; i < n_in; i++)
            sc[i] = clg_reshape(g, clg_slice(g, in, 0, i, i + 1), &s0);
    }
    clg_t apply = tr->has_apply ? sc[0] : CLG_NONE;
    /* Slots past n_scalars are CLG_NONE: an op given one returns CLG_NONE,
     * which the checks after update() name (never an uninitialised handle
     * that happens to be some other node, or another group's scalar). */
    clg_t osc[CLG_OPTIM_MAX_SCALARS];

    /* Accumulation: the effective gradient is the running sum. */
    clg_t *acc = calloc((size_t)np, sizeof *acc);
    if (!acc)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    if (tr->has_apply) {
        for (int i = 0; i < np; i++) {
            char *name = join3("accum.", tr->params[i], "");
            if (!name) {
                st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
                goto out_acc;
            }
            clg_shape s = clg_shape_of(g, pnodes[i]);
            st = ensure_tensor(tr, name, &s, 0.0f, CLG_TENSOR_STATE);
            if (st == CLG_OK) {
                acc[i] = clg_param(g, tr->st, name);
                grads[i] = clg_add(g, acc[i], grads[i]);
            }
            free(name);
            if (st != CLG_OK)
                goto out_acc;
        }
    }
    clg_t *summed = calloc((size_t)np, sizeof *summed);
    if (!summed) {
        st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
        goto out_acc;
    }
    memcpy(summed, grads, (size_t)np * sizeof *grads);

    if (o->clip_grad_norm > 0) {
        clg_t total = CLG_NONE;
        for (int i = 0; i < np; i++) {
            clg_t sq = clg_sum(g, clg_mul(g, grads[i], grads[i]), NULL, 0, 0);
            total = total == CLG_NONE ? sq : clg_add(g, total, sq);
        }
        clg_t norm = clg_sqrt(g, total);
        clg_t coef = clg_div(g, clg_scalar(g, (float)o->clip_grad_norm),
                             clg_add_scalar(g, norm, 1e-6f));
        coef = clg_minimum(g, coef, clg_scalar(g, 1.0f));
        for (int i = 0; i < np; i++)
            grads[i] = clg_mul(g, grads[i], coef);
    }
    if (clg_graph_status(g) != CLG_OK) {
        st = graph_err(tr, g, "clipping/accumulation");
        goto out_sum;
    }

    for (int i = 0; i < np; i++) {
        /* Room past the limit, so a state() that returns (and wrote) too
         * many is refused by the check below instead of overrunning. */
        const char *names[4 * CLG_OPTIM_MAX_STATE] = { 0 };
        float init[4 * CLG_OPTIM_MAX_STATE] = { 0 };
        clg__cb_frame fr;
        clg__cb_enter(&fr, tr->opt, "state");
        int ns = ops->state ? ops->state(tr->opt_hp, names, init) : 0;
        clg__cb_leave(&fr);
        if (ns < 0 || ns > CLG_OPTIM_MAX_STATE) {
            st = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                   "optimizer '%s': state() returned %d state tensors; it must "
                                   "be 0 to CLG_OPTIM_MAX_STATE (%d)",
                                   tr->opt->c.name, ns, CLG_OPTIM_MAX_STATE);
            goto out_sum;
        }
        for (int k = 0; k < ns; k++)
            for (int j = 0; j < k; j++)
                if (names[j] && names[k] && strcmp(names[j], names[k]) == 0) {
                    st = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                           "optimizer '%s': state %d and state %d are both "
                                           "named '%s' (they would share one tensor)",
                                           tr->opt->c.name, j, k, names[k]);
                    goto out_sum;
                }
        clg_optim_param p = { .name = tr->params[i], .param = pnodes[i], .grad = grads[i],
                              .param_out = CLG_NONE };
        clg_shape ps = clg_shape_of(g, pnodes[i]);
        for (int k = 0; k < CLG_OPTIM_MAX_STATE; k++) {
            p.state[k] = CLG_NONE;
            p.state_out[k] = CLG_NONE;
        }
        for (int k = 0; k < ns; k++) {
            if (!names[k] || !*names[k]) {
                st = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                       "optimizer '%s': state %d has no name",
                                       tr->opt->c.name, k);
                goto out_sum;
            }
            char *sname = malloc(strlen(tr->params[i]) + strlen(names[k]) + 8);
            if (!sname) {
                st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
                goto out_sum;
            }
            sprintf(sname, "optim.%s.%s", tr->params[i], names[k]);
            st = ensure_tensor(tr, sname, &ps, init[k], CLG_TENSOR_STATE);
            if (st == CLG_OK)
                p.state[k] = clg_param(g, tr->st, sname);
            free(sname);
            if (st != CLG_OK)
                goto out_sum;
        }
        for (int k = 0; k < CLG_OPTIM_MAX_SCALARS; k++)
            osc[k] = k < tr->n_scalars ? sc[tr->has_apply + tr->pgroup[i] * tr->n_scalars + k]
                                       : CLG_NONE;
        clg_ctx_clear_error(ctx);
        clg__cb_enter(&fr, tr->opt, "update");
        st = ops->update(ctx, g, tr->opt_hp, osc, &p);
        clg__cb_leave(&fr);
        if (st != CLG_OK) {
            if (!clg_ctx_error(ctx)[0])
                clg_ctx_set_error(ctx, st, "optimizer '%s' failed on '%s'", tr->opt->c.name,
                                  tr->params[i]);
            goto out_sum;
        }
        if (clg_graph_status(g) != CLG_OK) {
            char hint[160] = "";
            if (strstr(clg_graph_error(g), "CLG_NONE"))
                snprintf(hint, sizeof hint, " (scalars[i] for i >= n_scalars (%d) and state[k] "
                         "for k >= the %d declared states are CLG_NONE)", tr->n_scalars, ns);
            st = clg_ctx_set_error(ctx, clg_graph_status(g), "optimizer '%s' on '%s': %s%s",
                                   tr->opt->c.name, tr->params[i], clg_graph_error(g), hint);
            goto out_sum;
        }
        if (p.param_out == CLG_NONE) {
            st = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                   "optimizer '%s' set no param_out for '%s' (or built it from "
                                   "CLG_NONE: scalars[i] for i >= n_scalars (%d) and state[k] "
                                   "for k >= the %d declared states are CLG_NONE, and an op "
                                   "given CLG_NONE returns CLG_NONE)",
                                   tr->opt->c.name, tr->params[i], tr->n_scalars, ns);
            goto out_sum;
        }
        for (int k = ns; k < CLG_OPTIM_MAX_STATE; k++)
            if (p.state_out[k] != CLG_NONE) {
                st = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                       "optimizer '%s' on '%s': state_out[%d] is set but "
                                       "state() declared %d states", tr->opt->c.name,
                                       tr->params[i], k, ns);
                goto out_sum;
            }
        clg_t pairs[2 * (CLG_OPTIM_MAX_STATE + 1)];
        int which[CLG_OPTIM_MAX_STATE + 1]; /* -1: param_out, k: state_out[k] */
        int npairs = 0;
        which[0] = -1;
        pairs[npairs++] = pnodes[i];
        pairs[npairs++] = p.param_out;
        for (int k = 0; k < ns; k++) {
            if (p.state_out[k] == CLG_NONE)
                continue;
            which[npairs / 2] = k;
            pairs[npairs++] = p.state[k];
            pairs[npairs++] = p.state_out[k];
        }
        for (int k = 0; k < npairs; k += 2) {
            clg_shape a = clg_shape_of(g, pairs[k]), b = clg_shape_of(g, pairs[k + 1]);
            if (!clg_shape_equal(&a, &b) || clg_dtype_of(g, pairs[k + 1]) != CLG_F32) {
                char sa[64], sb[64], what[96];
                int w = which[k / 2];
                if (w < 0)
                    snprintf(what, sizeof what, "param_out");
                else
                    snprintf(what, sizeof what, "state_out[%d] (state '%s')", w, names[w]);
                st = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                       "optimizer '%s' on '%s': %s has shape %s %s, the "
                                       "tensor it updates %s f32", tr->opt->c.name,
                                       tr->params[i], what, clg_shape_str(&b, sb, sizeof sb),
                                       clg_dtype_name(clg_dtype_of(g, pairs[k + 1])),
                                       clg_shape_str(&a, sa, sizeof sa));
                goto out_sum;
            }
            clg_t v = pairs[k + 1];
            if (tr->has_apply)
                v = clg_where(g, apply, v, pairs[k]);
            st = clg_assign(g, pairs[k], v);
            if (st != CLG_OK) {
                st = graph_err(tr, g, "assign");
                goto out_sum;
            }
        }
        if (tr->has_apply) {
            clg_t cleared = clg_where(g, apply, clg_scalar(g, 0.0f), summed[i]);
            st = clg_assign(g, acc[i], cleared);
            if (st != CLG_OK) {
                st = graph_err(tr, g, "assign");
                goto out_sum;
            }
        }
    }
    if (clg_graph_status(g) != CLG_OK) {
        st = graph_err(tr, g, "update");
        goto out_sum;
    }

out_sum:
    free(summed);
out_acc:
    free(acc);
    return st;
}

/* The gradient-sync point, with a collective: g's plan ends by writing each
 * gradient to the store tensor "grad.<param>"; the later stages are built on
 * a graph of their own (*ug) that reads them, so that the host can sum them
 * across processes between the two plans. */
static clg_status stage_sync(clg_trainer *tr, clg_graph *g, const clg_t *grads, clg_graph **ug,
                             clg_t *upnodes, clg_t *ugrads)
{
    int np = tr->n_params;
    tr->grad_names = calloc((size_t)np, sizeof *tr->grad_names);
    tr->grad_numel = calloc((size_t)np, sizeof *tr->grad_numel);
    if (!tr->grad_names || !tr->grad_numel)
        return clg_ctx_set_error(tr->ctx, CLG_ERR_NOMEM, "out of memory");
    *ug = clg_graph_new(tr->ctx);
    if (!*ug)
        return CLG_ERR_NOMEM;
    for (int i = 0; i < np; i++) {
        tr->grad_names[i] = join3("grad.", tr->params[i], "");
        if (!tr->grad_names[i])
            return clg_ctx_set_error(tr->ctx, CLG_ERR_NOMEM, "out of memory");
        clg_shape s = clg_shape_of(g, grads[i]);
        clg_status st = ensure_tensor(tr, tr->grad_names[i], &s, 0.0f, CLG_TENSOR_SCRATCH);
        if (st == CLG_OK)
            st = clg_assign(g, clg_param(g, tr->st, tr->grad_names[i]), grads[i]);
        if (st != CLG_OK)
            return clg_graph_status(g) != CLG_OK ? graph_err(tr, g, "gradient store") : st;
        tr->grad_numel[i] = (size_t)clg_shape_numel(&s);
        tr->sync_n += tr->grad_numel[i];
        upnodes[i] = clg_param(*ug, tr->st, tr->params[i]);
        ugrads[i] = clg_param(*ug, tr->st, tr->grad_names[i]);
    }
    if (clg_graph_status(*ug) != CLG_OK)
        return graph_err(tr, *ug, "update graph");
    tr->sync_buf = malloc((tr->sync_n ? tr->sync_n : 1) * sizeof *tr->sync_buf);
    return tr->sync_buf ? CLG_OK : clg_ctx_set_error(tr->ctx, CLG_ERR_NOMEM, "out of memory");
}

static clg_status build(clg_trainer *tr, clg_graph *g, const clg_trainer_opts *o)
{
    clg_ctx *ctx = tr->ctx;
    int np = tr->n_params;
    clg_status st;
    clg_graph *ug = NULL;
    clg_t *pnodes = calloc((size_t)np, sizeof *pnodes);
    clg_t *grads = calloc((size_t)np, sizeof *grads);
    clg_t *upnodes = calloc((size_t)np, sizeof *upnodes);
    clg_t *ugrads = calloc((size_t)np, sizeof *ugrads);
    if (!pnodes || !grads || !upnodes || !ugrads) {
        st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* Stage 1 is the caller's model and loss; stage 2, the gradients. */
    for (int i = 0; i < np; i++)
        pnodes[i] = clg_param(g, tr->st, tr->params[i]);
    if (clg_graph_status(g) != CLG_OK) {
        st = graph_err(tr, g, "parameters");
        goto out;
    }
    st = clg_grad(g, tr->loss, CLG_NONE, pnodes, np, grads);
    if (st != CLG_OK || clg_graph_status(g) != CLG_OK) {
        st = graph_err(tr, g, "gradient");
        goto out;
    }
    /* Stage 3, the sync point; then the update stages on whichever graph
     * holds the gradients. */
    if (tr->coll)
        st = stage_sync(tr, g, grads, &ug, upnodes, ugrads);
    if (st == CLG_OK)
        st = ug ? stage_update(tr, ug, upnodes, ugrads, o) : stage_update(tr, g, pnodes, grads, o);
    if (st != CLG_OK)
        goto out;

    int n_out = 1 + (o->n_outputs > 0 ? o->n_outputs : 0);
    clg_t *outs = malloc((size_t)n_out * sizeof *outs);
    if (!outs) {
        st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
        goto out;
    }
    outs[0] = tr->loss;
    for (int i = 1; i < n_out; i++)
        outs[i] = o->outputs[i - 1];
    clg_device *dev = clg_store_device(tr->st);
    st = clg_compile(g, dev, outs, n_out, o->compile, &tr->plan);
    free(outs);
    if (st == CLG_OK && ug)
        st = clg_compile(ug, dev, NULL, 0, o->compile, &tr->update_plan);

out:
    clg_graph_free(ug);
    free(pnodes);
    free(grads);
    free(upnodes);
    free(ugrads);
    return st;
}

clg_status clg_trainer_new(clg_graph *g, clg_store *st, clg_t loss,
                           const clg_trainer_opts *o, clg_trainer **out)
{
    if (!g || !out)
        return CLG_ERR_INVALID;
    *out = NULL;
    clg_ctx *ctx = clg_graph_ctx(g);
    if (!st || !o)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "trainer: %s is NULL",
                                 st ? "opts" : "store");
    if (clg_graph_status(g) != CLG_OK)
        return clg_ctx_set_error(ctx, clg_graph_status(g), "trainer: the graph has an error: %s",
                                 clg_graph_error(g));
    if (clg_op_of(g, loss) == CLG_OP_COUNT)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "trainer: loss is not a node of g "
                                 "(CLG_NONE, or a handle of another graph)");
    clg_shape ls = clg_shape_of(g, loss);
    if (clg_dtype_of(g, loss) != CLG_F32 || clg_shape_numel(&ls) != 1) {
        char b[64];
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "trainer: loss must be one f32 element, got %s %s",
                                 clg_dtype_name(clg_dtype_of(g, loss)),
                                 clg_shape_str(&ls, b, sizeof b));
    }
    if (!isfinite(o->lr) || o->lr < 0)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "trainer: lr=%g must be >= 0", o->lr);
    if (o->accumulate < 0)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "trainer: accumulate=%d must be >= 1",
                                 o->accumulate);
    if (isnan(o->clip_grad_norm) || o->clip_grad_norm < 0)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "trainer: clip_grad_norm=%g must be >= 0 (0: off)",
                                 o->clip_grad_norm);
    if (o->n_outputs > 0 && !o->outputs)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "trainer: n_outputs without outputs");

    clg_trainer *tr = calloc(1, sizeof *tr);
    if (!tr)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    tr->ctx = ctx;
    tr->st = st;
    tr->loss = loss;
    tr->accumulate = o->accumulate > 1 ? o->accumulate : 1;
    tr->coll = o->collective;
    tr->sync_weight = 1.0f;
    tr->metric = NAN;
    tr->lrp = &tr->lr;
    tr->metricp = &tr->metric;
    tr->clip = o->clip_grad_norm;
    if (o->compile) {
        tr->copts = *o->compile;
        tr->has_copts = 1;
    }
    tr->opt_spec = xstrdup(o->optimizer ? o->optimizer : "sgd");
    tr->sched_spec = o->scheduler ? xstrdup(o->scheduler) : NULL;
    if (!tr->opt_spec || (o->scheduler && !tr->sched_spec)) {
        free(tr->opt_spec);
        free(tr->sched_spec);
        free(tr);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    }

    clg_status s = clg_hparams_parse(ctx, CLG_COMPONENT_OPTIMIZER,
                                     o->optimizer ? o->optimizer : "sgd", &tr->opt_hp);
    if (s != CLG_OK)
        goto fail;
    tr->opt = clg__hparams_comp(tr->opt_hp);
    tr->n_scalars = tr->opt->c.optimizer->n_scalars;
    tr->lr = clg_hp_given(tr->opt_hp, "lr") ? clg_hp_float(tr->opt_hp, "lr") : o->lr;
    tr->lrp = &tr->lr;
    tr->metricp = &tr->metric;
    if (o->scheduler && *o->scheduler) {
        s = clg_scheduler_new(ctx, o->scheduler, tr->lr, &tr->sched);
        if (s != CLG_OK)
            goto fail;
        tr->lrp = &tr->sched->lr;
        tr->metricp = &tr->sched->metric;
    }
    s = collect_params(tr, g, o);
    if (s == CLG_OK)
        s = make_groups(tr, o);
    if (s != CLG_OK)
        goto fail;
    s = build(tr, g, o);
    if (s != CLG_OK)
        goto fail;

    int ok = push_value(tr, "optim.step", &tr->step) &&
             push_value(tr, "train.epoch", &tr->epoch) &&
             push_value(tr, "train.pending", &tr->pending) &&
             push_value(tr, "sched.t", tr->sched ? &tr->sched->t : &tr->t0) &&
             push_value(tr, "sched.lr", tr->lrp) && push_value(tr, "sched.metric", tr->metricp);
    for (int i = 0; ok && tr->sched && i < tr->sched->n; i++) {
        clg__sched_inst *v = &tr->sched->v[i];
        for (int k = 0; ok && k < v->n_state; k++) {
            char name[160];
            snprintf(name, sizeof name, "sched.%d.%s", i, v->comp->c.scheduler->state_names[k]);
            ok = push_value(tr, name, &v->state[k]);
        }
    }
    for (int gi = 1; ok && gi < tr->n_groups; gi++) {
        char name[192];
        clg_scheduler *gs = tr->gsched[gi];
        if (!gs) {
            snprintf(name, sizeof name, "group.%d.lr", gi);
            ok = push_value(tr, name, &tr->glr[gi]);
            continue;
        }
        snprintf(name, sizeof name, "group.%d.sched.t", gi);
        ok = push_value(tr, name, &gs->t);
        snprintf(name, sizeof name, "group.%d.sched.lr", gi);
        ok = ok && push_value(tr, name, &gs->lr);
        snprintf(name, sizeof name, "group.%d.sched.metric", gi);
        ok = ok && push_value(tr, name, &gs->metric);
        for (int i = 0; ok && i < gs->n; i++)
            for (int k = 0; ok && k < gs->v[i].n_state; k++) {
                snprintf(name, sizeof name, "group.%d.sched.%d.%s", gi, i,
                         gs->v[i].comp->c.scheduler->state_names[k]);
                ok = push_value(tr, name, &gs->v[i].state[k]);
            }
    }
    if (!ok) {
        s = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    *out = tr;
    return CLG_OK;
fail:
    clg_trainer_free(tr);
    return s;
}

/* ------------------------------------------------------------------ run */
clg_plan *clg_trainer_plan(clg_trainer *tr)
{
    tr = act(tr);
    return tr ? tr->plan : NULL;
}

clg_status clg_trainer_set_input(clg_trainer *tr, const char *name, const void *data,
                                 size_t bytes)
{
    tr = act(tr);
    if (!tr)
        return CLG_ERR_INVALID;
    return clg_plan_set_input(tr->plan, name, data, bytes);
}

/* The sync point at run time: every gradient into one host buffer, one
 * allreduce, and back. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Every gradient into (to_buf) or back out of the contiguous host buffer. */
static clg_status sync_copy(clg_trainer *tr, int to_buf)
{
    size_t off = 0;
    clg_status st = CLG_OK;
    for (int i = 0; i < tr->n_params && st == CLG_OK; i++) {
        size_t bytes = tr->grad_numel[i] * sizeof(float);
        st = to_buf ? clg_store_read(tr->st, tr->grad_names[i], tr->sync_buf + off, bytes)
                    : clg_store_write(tr->st, tr->grad_names[i], tr->sync_buf + off, bytes);
        off += tr->grad_numel[i];
    }
    return st;
}

static clg_status sync_gradients(clg_trainer *tr)
{
    double t0 = now_s();
    clg_status st = sync_copy(tr, 1);
    if (st == CLG_OK && tr->sync_weight != 1.0f)
        for (size_t i = 0; i < tr->sync_n; i++)
            tr->sync_buf[i] *= tr->sync_weight;
    if (st == CLG_OK)
        st = clg_collective_allreduce_sum(tr->coll, tr->sync_buf, tr->sync_n);
    if (st == CLG_OK)
        st = sync_copy(tr, 0);
    tr->sync_seconds += now_s() - t0;
    return st;
}

/* Every group's scheduler, one step (group 0's first: its error wins). */
static clg_status sched_step_all(clg_trainer *tr)
{
    clg_status st = clg__sched_step(tr->sched, (int64_t)tr->step, (int64_t)tr->epoch);
    for (int g = 1; st == CLG_OK && g < tr->n_groups; g++) {
        tr->gsched[g]->metric = tr->sched->metric;
        st = clg__sched_step(tr->gsched[g], (int64_t)tr->step, (int64_t)tr->epoch);
    }
    return st;
}

clg_status clg_trainer_step(clg_trainer *tr, float *loss)
{
    tr = act(tr);
    if (!tr)
        return CLG_ERR_INVALID;
    int apply = (int)tr->pending + 1 >= tr->accumulate;
    float sc[1 + CLG_TRAINER_MAX_GROUPS * CLG_OPTIM_MAX_SCALARS] = { 0 };
    int n = tr->has_apply + tr->n_groups * tr->n_scalars;
    if (tr->has_apply)
        sc[0] = apply ? 1.0f : 0.0f;
    for (int g = 0; tr->n_scalars > 0 && g < tr->n_groups; g++) {
        clg__cb_frame fr;
        clg__cb_enter(&fr, tr->opt, "scalars");
        tr->opt->c.optimizer->scalars(tr->opt_hp, *group_lrp(tr, g), (int64_t)tr->step + 1,
                                      sc + tr->has_apply + g * tr->n_scalars);
        clg__cb_leave(&fr);
    }
    clg_status st;
    clg_plan *up = tr->update_plan ? tr->update_plan : tr->plan;
    if (n > 0) {
        st = clg_plan_set_input(up, SCALARS_INPUT, sc, (size_t)n * sizeof(float));
        if (st != CLG_OK)
            return st;
    }
    st = clg_plan_run(tr->plan);
    if (st == CLG_OK && tr->update_plan) {
        st = sync_gradients(tr);
        if (st == CLG_OK)
            st = clg_plan_run(tr->update_plan);
    }
    if (st != CLG_OK)
        return st;
    if (apply) {
        tr->step += 1;
        tr->pending = 0;
    } else {
        tr->pending += 1;
    }
    if (loss) {
        st = clg_plan_read(tr->plan, tr->loss, loss, sizeof *loss);
        if (st != CLG_OK)
            return st;
    }
    if (apply && tr->sched && tr->sched->per_step)
        return sched_step_all(tr);
    return CLG_OK;
}

clg_status clg_trainer_read(clg_trainer *tr, clg_t output, void *dst, size_t bytes)
{
    tr = act(tr);
    if (!tr)
        return CLG_ERR_INVALID;
    return clg_plan_read(tr->plan, output, dst, bytes);
}

double clg_trainer_sync_seconds(const clg_trainer *tr)
{
    if (!tr)
        return 0.0;
    double s = tr->sync_seconds; /* every plan's (clg_trainer_add_plan) */
    for (int i = 0; i < tr->n_variants; i++)
        s += tr->variants[i]->sync_seconds;
    return s;
}

clg_status clg_trainer_set_sync_weight(clg_trainer *tr, double w)
{
    tr = act(tr); /* the plan in use: the weight follows its batch's rows */
    if (!tr)
        return CLG_ERR_INVALID;
    if (!isfinite(w) || w < 0)
        return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                 "trainer: sync weight %g must be finite and >= 0", w);
    tr->sync_weight = (float)w;
    return CLG_OK;
}

double clg_trainer_lr(const clg_trainer *tr)
{
    tr = act_c(tr);
    return tr ? *tr->lrp : 0.0;
}

clg_status clg_trainer_set_lr(clg_trainer *tr, double lr)
{
    tr = act(tr);
    if (!tr)
        return CLG_ERR_INVALID;
    if (!isfinite(lr) || lr < 0)
        return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID, "trainer: lr=%g must be >= 0", lr);
    *tr->lrp = lr;
    for (int g = 1; g < tr->n_groups; g++)
        *group_lrp(tr, g) = lr * tr->gscale[g];
    return CLG_OK;
}

int64_t clg_trainer_steps(const clg_trainer *tr)
{
    tr = act_c(tr);
    return tr ? (int64_t)tr->step : 0;
}

int64_t clg_trainer_epochs(const clg_trainer *tr)
{
    tr = act_c(tr);
    return tr ? (int64_t)tr->epoch : 0;
}

int clg_trainer_pending(const clg_trainer *tr)
{
    tr = act_c(tr);
    return tr ? (int)tr->pending : 0;
}

void clg_trainer_set_metric(clg_trainer *tr, double metric)
{
    tr = act(tr);
    if (tr)
        *tr->metricp = metric;
}

clg_status clg_trainer_epoch_end(clg_trainer *tr, double metric)
{
    tr = act(tr);
    if (!tr)
        return CLG_ERR_INVALID;
    if (!isnan(metric))
        *tr->metricp = metric;
    tr->epoch += 1;
    if (tr->sched && !tr->sched->per_step)
        return sched_step_all(tr);
    return CLG_OK;
}

int clg_trainer_param_count(const clg_trainer *tr)
{
    tr = act_c(tr);
    return tr ? tr->n_params : 0;
}

const char *clg_trainer_param_name(const clg_trainer *tr, int i)
{
    tr = act_c(tr);
    return tr && i >= 0 && i < tr->n_params ? tr->params[i] : NULL;
}

int clg_trainer_tensor_count(const clg_trainer *tr)
{
    tr = act_c(tr);
    return tr ? tr->n_tensors : 0;
}

const char *clg_trainer_tensor_name(const clg_trainer *tr, int i)
{
    tr = act_c(tr);
    return tr && i >= 0 && i < tr->n_tensors ? tr->tensors[i] : NULL;
}

int clg_trainer_value_count(const clg_trainer *tr)
{
    tr = act_c(tr);
    return tr ? tr->n_values : 0;
}

const char *clg_trainer_value_name(const clg_trainer *tr, int i)
{
    tr = act_c(tr);
    return tr && i >= 0 && i < tr->n_values ? tr->values[i].name : NULL;
}

double clg_trainer_value_get(const clg_trainer *tr, int i)
{
    tr = act_c(tr);
    return tr && i >= 0 && i < tr->n_values ? *tr->values[i].ptr : NAN;
}

clg_status clg_trainer_value_set(clg_trainer *tr, const char *name, double v)
{
    tr = act(tr);
    if (!tr || !name)
        return CLG_ERR_INVALID;
    for (int i = 0; i < tr->n_values; i++) {
        if (strcmp(tr->values[i].name, name) == 0) {
            size_t nl = strlen(name);
            /* group g's values ("group.<g>.sched.t", ...) obey the same rules */
            int is_count = strcmp(name, "optim.step") == 0 || strcmp(name, "train.epoch") == 0 ||
                           strcmp(name, "train.pending") == 0 || strcmp(name, "sched.t") == 0 ||
                           (nl > 8 && strcmp(name + nl - 8, ".sched.t") == 0);
            int is_lr = strcmp(name, "sched.lr") == 0 ||
                        (nl > 3 && strcmp(name + nl - 3, ".lr") == 0);
            if (is_count && (!(v >= 0) || v != floor(v) || v > 9e15))
                return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                         "trainer: value '%s' = %g must be a count >= 0", name, v);
            if (strcmp(name, "train.pending") == 0 && v >= tr->accumulate)
                return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                         "trainer: train.pending = %g must be < accumulate (%d)",
                                         v, tr->accumulate);
            if (is_lr && (!isfinite(v) || v < 0))
                return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                         "trainer: %s = %g must be >= 0", name, v);
            *tr->values[i].ptr = v;
            return CLG_OK;
        }
    }
    return clg_ctx_set_error(tr->ctx, CLG_ERR_NOT_FOUND, "trainer: no state value '%s'", name);
}

/* ------------------------------------------------ other plans (batch sizes) */
clg_status clg_trainer_add_plan(clg_trainer *tr, clg_graph *g, clg_t loss, const clg_t *outputs,
                                int n_outputs, int *id)
{
    if (!tr || !g)
        return CLG_ERR_INVALID;
    if (tr->active)
        return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                 "trainer: add_plan while plan %d is in use; use plan 0 first",
                                 tr->n_variants);
    clg_trainer **v = realloc(tr->variants, (size_t)(tr->n_variants + 1) * sizeof *v);
    if (!v)
        return clg_ctx_set_error(tr->ctx, CLG_ERR_NOMEM, "out of memory");
    tr->variants = v;
    clg_trainer_opts o = { .lr = tr->lr, .optimizer = tr->opt_spec,
                           .scheduler = tr->sched_spec,
                           .params = (const char *const *)tr->params, .n_params = tr->n_params,
                           .clip_grad_norm = tr->clip, .accumulate = tr->accumulate,
                           .outputs = outputs, .n_outputs = n_outputs,
                           .compile = tr->has_copts ? &tr->copts : NULL,
                           .collective = tr->coll, .lr_scale = tr->pscale };
    /* the base lr the scheduler starts from, before any step changed it */
    if (tr->sched)
        o.lr = tr->sched->base_lr;
    clg_trainer *nt;
    clg_status st = clg_trainer_new(g, tr->st, loss, &o, &nt);
    if (st != CLG_OK)
        return st;
    if (nt->n_values != tr->n_values || nt->n_params != tr->n_params) {
        clg_trainer_free(nt);
        return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                 "trainer: add_plan: the graph trains other parameters");
    }
    for (int i = 0; i < tr->n_params; i++)
        if (strcmp(nt->params[i], tr->params[i]) != 0) {
            clg_trainer_free(nt);
            return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                     "trainer: add_plan: parameter %d is '%s' here, '%s' in "
                                     "the first plan", i, nt->params[i], tr->params[i]);
        }
    tr->variants[tr->n_variants++] = nt;
    if (id)
        *id = tr->n_variants;
    return CLG_OK;
}

/* Copies every host value (counters, lr, scheduler state); the tensors
 * (parameters, optimizer state, accumulators) are already shared. */
static void copy_values(clg_trainer *to, const clg_trainer *from)
{
    for (int i = 0; i < from->n_values; i++)
        *to->values[i].ptr = *from->values[i].ptr;
}

clg_status clg_trainer_use_plan(clg_trainer *tr, int id)
{
    if (!tr)
        return CLG_ERR_INVALID;
    if (id < 0 || id > tr->n_variants)
        return clg_ctx_set_error(tr->ctx, CLG_ERR_INVALID,
                                 "trainer: no plan %d (plans 0..%d)", id, tr->n_variants);
    clg_trainer *from = act(tr), *to = id == 0 ? tr : tr->variants[id - 1];
    if (from != to)
        copy_values(to, from);
    tr->active = id == 0 ? NULL : to;
    return CLG_OK;
}
