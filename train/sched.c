/* Scheduler chains: specs joined by '+', each scheduler applied in turn to
 * the lr the previous one produced (torch's ChainedScheduler). */
#include "components.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void clg_scheduler_free(clg_scheduler *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        clg_hparams_free(s->v[i].hp);
    free(s->v);
    free(s);
}

/* Splits at every '+' followed by a letter, so "1e+3" stays one value. */
static clg_status parse_chain(clg_scheduler *s, const char *spec)
{
    clg_ctx *ctx = s->ctx;
    const char *p = spec;
    const char *interval_from = NULL;
    while (1) {
        const char *q = p;
        while (*q && !(*q == '+' && ((q[1] >= 'a' && q[1] <= 'z') || (q[1] >= 'A' && q[1] <= 'Z'))))
            q++;
        size_t n = (size_t)(q - p);
        char *one = malloc(n + 1);
        if (!one)
            return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
        memcpy(one, p, n);
        one[n] = '\0';
        clg__sched_inst *v = realloc(s->v, (size_t)(s->n + 1) * sizeof *v);
        if (!v) {
            free(one);
            return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
        }
        s->v = v;
        v = &s->v[s->n];
        memset(v, 0, sizeof *v);
        clg_status st = clg_hparams_parse(ctx, CLG_COMPONENT_SCHEDULER, one, &v->hp);
        free(one);
        if (st != CLG_OK)
            return st;
        s->n++;
        v->comp = clg__hparams_comp(v->hp);
        const char *const *names = v->comp->c.scheduler->state_names;
        while (names && names[v->n_state])
            v->n_state++;
        /* The chain steps as a whole: an interval given anywhere applies to
         * all; two different ones are a mistake. */
        if (clg_hp_given(v->hp, "interval")) {
            int per_step = strcmp(clg_hp_choice(v->hp, "interval"), "step") == 0;
            if (interval_from && per_step != s->per_step)
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                         "scheduler chain '%s': '%s' and '%s' give different "
                                         "intervals", spec, interval_from, v->comp->c.name);
            s->per_step = per_step;
            interval_from = v->comp->c.name;
        }
        if (!*q)
            break;
        if (s->n >= 16)
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "scheduler chain '%s': more than 16 schedulers", spec);
        p = q + 1;
    }
    return CLG_OK;
}

/* Runs the chain at the current t; lr is left unchanged on failure. */
static clg_status apply(clg_scheduler *s, int64_t step, int64_t epoch)
{
    double lr = s->lr;
    double saved[16][CLG_SCHED_MAX_STATE];
    int n_saved = s->n < 16 ? s->n : 16;
    for (int i = 0; i < n_saved; i++)
        memcpy(saved[i], s->v[i].state, sizeof saved[i]);
    for (int i = 0; i < s->n; i++) {
        clg__sched_inst *v = &s->v[i];
        const clg_scheduler_ops *ops = v->comp->c.scheduler;
        clg_status st = CLG_OK;
        if (ops->needs_metric && s->t > 0 && isnan(s->metric)) {
            st = clg_ctx_set_error(s->ctx, CLG_ERR_INVALID,
                                   "scheduler '%s' needs a metric (e.g. the validation loss) "
                                   "at every step", v->comp->c.name);
        } else {
            clg_sched_in in = { .t = (int64_t)s->t, .step = step, .epoch = epoch,
                                .base_lr = s->base_lr, .lr = lr, .metric = s->metric };
            double out = lr;
            clg_ctx_clear_error(s->ctx);
            clg__cb_frame fr;
            clg__cb_enter(&fr, v->comp, "step");
            st = ops->step(s->ctx, v->hp, &in, v->state, &out);
            clg__cb_leave(&fr);
            if (st != CLG_OK && !clg_ctx_error(s->ctx)[0])
                clg_ctx_set_error(s->ctx, st, "scheduler '%s' failed at t=%lld",
                                  v->comp->c.name, (long long)in.t);
            if (st == CLG_OK && (!isfinite(out) || out < 0))
                st = clg_ctx_set_error(s->ctx, CLG_ERR_INVALID,
                                       "scheduler '%s' gave lr %g at t=%lld", v->comp->c.name,
                                       out, (long long)in.t);
            lr = out;
        }
        if (st != CLG_OK) {
            for (int k = 0; k < n_saved; k++)
                memcpy(s->v[k].state, saved[k], sizeof saved[k]);
            return st;
        }
    }
    s->lr = lr;
    return CLG_OK;
}

clg_status clg_scheduler_new(clg_ctx *ctx, const char *spec, double base_lr,
                             clg_scheduler **out)
{
    if (!ctx || !out)
        return CLG_ERR_INVALID;
    *out = NULL;
    if (!spec || !*spec)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "empty scheduler spec");
    if (!isfinite(base_lr) || base_lr < 0)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "scheduler: lr=%g must be >= 0",
                                 base_lr);
    clg_scheduler *s = calloc(1, sizeof *s);
    if (!s)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    s->ctx = ctx;
    s->base_lr = s->lr = base_lr;
    s->metric = NAN;
    clg_status st = parse_chain(s, spec);
    if (st == CLG_OK)
        st = apply(s, 0, 0); /* t = 0: the step() inside torch's constructors */
    if (st != CLG_OK) {
        clg_scheduler_free(s);
        return st;
    }
    *out = s;
    return CLG_OK;
}

clg_status clg__sched_step(clg_scheduler *s, int64_t step, int64_t epoch)
{
    s->t += 1;
    clg_status st = apply(s, step, epoch);
    if (st != CLG_OK)
        s->t -= 1;
    return st;
}

clg_status clg_scheduler_step(clg_scheduler *s, double metric)
{
    if (!s)
        return CLG_ERR_INVALID;
    if (!isnan(metric))
        s->metric = metric;
    return clg__sched_step(s, (int64_t)s->t + 1, (int64_t)s->t + 1);
}

double clg_scheduler_lr(const clg_scheduler *s)
{
    return s ? s->lr : 0.0;
}

int64_t clg_scheduler_t(const clg_scheduler *s)
{
    return s ? (int64_t)s->t : 0;
}

int clg_scheduler_per_step(const clg_scheduler *s)
{
    return s ? s->per_step : 0;
}
