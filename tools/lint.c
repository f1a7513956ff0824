/* clgrad plugins --check FILE: loads one component .so and builds each of
 * its components on a tiny graph the way the trainer does, then reports
 * every author mistake it finds, with the limit or the name involved:
 * a file that registers nothing, name clashes with the built-ins, optimizer
 * state counts past CLG_OPTIM_MAX_STATE, two states of one name, scalars
 * read past n_scalars, an update of the wrong shape (which state), a loss
 * that does not use its prediction or gives a non-finite value, a scheduler
 * that gives a non-finite or negative lr. A crash inside a callback is
 * named by the crash report (clg_plugins_crash_report). */
#include "cli.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct lint {
    clg_ctx *ctx;
    clg_device *dev;
    int problems;
} lint;

static void problem(lint *L, const clg_component_info *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(lint *L, const clg_component_info *c, const char *fmt, ...)
{
    char msg[2048], who[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* the trainer's messages already start with "optimizer 'x'" */
    snprintf(who, sizeof who, "%s '%s'", clg_component_kind_name(c->kind), c->name);
    if (strncmp(msg, who, strlen(who)) == 0)
        printf("  PROBLEM %s\n", msg);
    else
        printf("  PROBLEM %s: %s\n", who, msg);
    L->problems++;
}

static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

/* Two parameters (a matrix and a vector) pulled towards fixed targets by an
 * MSE loss: three optimizer steps through the real trainer. */
static void check_optimizer(lint *L, const clg_component_info *c)
{
    clg_store *st = NULL;
    clg_trainer *tr = NULL;
    if (clg_store_new(L->dev, &st) != CLG_OK) {
        problem(L, c, "cannot make a store: %s", clg_ctx_error(L->ctx));
        return;
    }
    clg_shape sw = CLG_SHAPE(3, 2), sb = CLG_SHAPE(3);
    float w0[6] = { 0.5f, -0.25f, 1.0f, 0.75f, -1.5f, 0.125f }, b0[3] = { 0.1f, -0.2f, 0.3f };
    float tw[6] = { 0 }, tb[3] = { 1, 1, 1 };
    clg_store_add(st, "w", CLG_F32, &sw, w0);
    clg_store_add(st, "b", CLG_F32, &sb, b0);
    clg_graph *g = clg_graph_new(L->ctx);
    clg_t dw = clg_sub(g, clg_param(g, st, "w"), clg_const(g, CLG_F32, &sw, tw));
    clg_t db = clg_sub(g, clg_param(g, st, "b"), clg_const(g, CLG_F32, &sb, tb));
    clg_t loss = clg_add(g, clg_mean(g, clg_mul(g, dw, dw), NULL, 0, 0),
                         clg_mean(g, clg_mul(g, db, db), NULL, 0, 0));
    clg_trainer_opts o = { .lr = 0.01, .optimizer = c->name };
    clg_ctx_clear_error(L->ctx);
    if (clg_trainer_new(g, st, loss, &o, &tr) != CLG_OK) {
        problem(L, c, "%s", clg_ctx_error(L->ctx));
        goto out;
    }
    for (int i = 0; i < 3; i++) {
        float l;
        if (clg_trainer_step(tr, &l) != CLG_OK) {
            problem(L, c, "step %d: %s", i + 1, clg_ctx_error(L->ctx));
            goto out;
        }
        if (!isfinite(l)) {
            problem(L, c, "step %d: the loss became %g", i + 1, (double)l);
            goto out;
        }
    }
    float w[6], b[3];
    clg_store_read(st, "w", w, sizeof w);
    clg_store_read(st, "b", b, sizeof b);
    if (!all_finite(w, 6) || !all_finite(b, 3))
        problem(L, c, "parameters are not finite after 3 steps at lr 0.01");
    else if (!memcmp(w, w0, sizeof w) && !memcmp(b, b0, sizeof b))
        problem(L, c, "3 steps at lr 0.01 left the parameters unchanged (is param_out the "
                      "parameter itself?)");
    else
        printf("  ok      optimizer '%s': built, 3 steps, %d state tensor(s) per parameter\n",
               c->name, clg_trainer_tensor_count(tr) / 2);
out:
    clg_trainer_free(tr);
    clg_graph_free(g);
    clg_store_free(st);
}

/* The loss on a prediction and a target of the kind it declares; its value
 * must be finite and its gradient w.r.t. the prediction not all zero. */
static void check_loss(lint *L, const clg_component_info *c)
{
    clg_target_kind kind;
    if (clg_loss_target(L->ctx, c->name, &kind) != CLG_OK) {
        problem(L, c, "%s", clg_ctx_error(L->ctx));
        return;
    }
    clg_shape ps, ts;
    clg_dtype tdt = CLG_F32;
    const char *kname = "CLG_TARGET_SAME_SHAPE";
    if (kind == CLG_TARGET_CLASS_INDEX) {
        ps = (clg_shape)CLG_SHAPE(4, 3);
        ts = (clg_shape)CLG_SHAPE(4);
        tdt = CLG_I32;
        kname = "CLG_TARGET_CLASS_INDEX";
    } else if (kind == CLG_TARGET_CLASS_PER_POSITION) {
        ps = (clg_shape)CLG_SHAPE(2, 3, 4);
        ts = (clg_shape)CLG_SHAPE(2, 3);
        tdt = CLG_I32;
        kname = "CLG_TARGET_CLASS_PER_POSITION";
    } else {
        ps = (clg_shape)CLG_SHAPE(4, 3);
        ts = ps;
    }
    float pred[24], tf[24];
    int32_t ti[6];
    /* in (0, 1), so losses on probabilities (bce) are defined too */
    for (int i = 0; i < 24; i++) {
        pred[i] = (float)(0.5 + 0.4 * sin(1.7 * i + 0.3));
        tf[i] = (float)(0.5 + 0.4 * cos(0.9 * i));
    }
    for (int i = 0; i < 6; i++)
        ti[i] = (i * 2 + 1) % (kind == CLG_TARGET_CLASS_PER_POSITION ? 4 : 3);
    clg_graph *g = clg_graph_new(L->ctx);
    clg_t p = clg_input(g, "pred", CLG_F32, &ps), t = clg_input(g, "target", tdt, &ts);
    clg_t loss, gp;
    clg_plan *plan = NULL;
    clg_ctx_clear_error(L->ctx);
    char sp[64], st_[64];
    if (clg_loss_build(g, c->name, p, t, &loss) != CLG_OK) {
        problem(L, c, "on prediction %s and %s target %s (%s): %s",
                clg_shape_str(&ps, sp, sizeof sp), clg_dtype_name(tdt),
                clg_shape_str(&ts, st_, sizeof st_), kname, clg_ctx_error(L->ctx));
        goto out;
    }
    if (clg_grad(g, loss, CLG_NONE, &p, 1, &gp) != CLG_OK) {
        problem(L, c, "no gradient: %s", clg_ctx_error(L->ctx));
        goto out;
    }
    clg_t outs[2] = { loss, gp };
    if (clg_compile(g, L->dev, outs, 2, NULL, &plan) != CLG_OK) {
        problem(L, c, "does not compile: %s", clg_ctx_error(L->ctx));
        goto out;
    }
    size_t np = (size_t)clg_shape_numel(&ps), nt = (size_t)clg_shape_numel(&ts);
    float lv, grad[24];
    if (clg_plan_set_input(plan, "pred", pred, np * sizeof(float)) != CLG_OK ||
        clg_plan_set_input(plan, "target", tdt == CLG_F32 ? (const void *)tf : (const void *)ti,
                           nt * 4) != CLG_OK ||
        clg_plan_run(plan) != CLG_OK || clg_plan_read(plan, loss, &lv, sizeof lv) != CLG_OK ||
        clg_plan_read(plan, gp, grad, np * sizeof(float)) != CLG_OK) {
        problem(L, c, "run: %s", clg_ctx_error(L->ctx));
        goto out;
    }
    int nonzero = 0;
    for (size_t i = 0; i < np; i++)
        nonzero |= grad[i] != 0.0f;
    if (!isfinite(lv))
        problem(L, c, "gives %g on a finite prediction and target", (double)lv);
    else if (!all_finite(grad, np))
        problem(L, c, "its gradient is not finite on a finite prediction and target");
    else if (!nonzero)
        problem(L, c, "does not use the prediction: its gradient w.r.t. the prediction is zero "
                      "everywhere, so training with it would change nothing");
    else
        printf("  ok      loss '%s': target %s, value %g, gradient reaches the prediction\n",
               c->name, kname, (double)lv);
out:
    clg_plan_free(plan);
    clg_graph_free(g);
}

static void check_scheduler(lint *L, const clg_component_info *c)
{
    clg_scheduler *s;
    clg_ctx_clear_error(L->ctx);
    if (clg_scheduler_new(L->ctx, c->name, 0.1, &s) != CLG_OK) {
        problem(L, c, "with its defaults: %s", clg_ctx_error(L->ctx));
        return;
    }
    for (int i = 0; i <= 20; i++) {
        double lr = clg_scheduler_lr(s);
        if (!isfinite(lr) || lr < 0) {
            problem(L, c, "lr %g at t = %d (base lr 0.1)", lr, i);
            break;
        }
        if (i == 20) {
            printf("  ok      scheduler '%s': 20 steps, lr 0.1 -> %g\n", c->name, lr);
            break;
        }
        if (clg_scheduler_step(s, 1.0 / (i + 1)) != CLG_OK) {
            problem(L, c, "step %d: %s", i + 1, clg_ctx_error(L->ctx));
            break;
        }
    }
    clg_scheduler_free(s);
}

int cli_plugins_check(const char *file)
{
    lint L = { 0 };
    L.ctx = clg_ctx_new();
    if (!L.ctx)
        return 1;
    char *real = realpath(file, NULL);
    printf("checking %s\n", file);
    if (clg_plugins_load(L.ctx, file) != CLG_OK) {
        printf("  PROBLEM does not load: %s\n", clg_ctx_error(L.ctx));
        free(real);
        clg_ctx_free(L.ctx);
        return 1;
    }
    int n_own = 0;
    for (int i = 0; i < clg_component_count(L.ctx); i++) {
        clg_component_info c;
        if (clg_component_get(L.ctx, i, &c) == CLG_OK && real && !strcmp(c.path, real))
            n_own++;
    }
    if (n_own == 0) {
        printf("  PROBLEM the file loaded but registered no components: its init must call "
               "clg_register() once per component (and return its status)\n");
        L.problems++;
    }
    /* the built-ins, to see clashes (this file was loaded first: it wins) */
    if (clg_plugins_load_default(L.ctx) != CLG_OK)
        printf("  note: loading the other plugins: %s\n", clg_ctx_error(L.ctx));
    for (int i = 0; i < clg_plugins_notice_count(L.ctx); i++) {
        const char *n = clg_plugins_notice(L.ctx, i);
        if (real && strstr(n, real))
            printf("  note: %s\n", n);
    }
    if (clg_device_open(L.ctx, "cpu", 0, &L.dev) != CLG_OK) {
        printf("  PROBLEM cannot open the cpu backend to build on: %s\n", clg_ctx_error(L.ctx));
        free(real);
        clg_ctx_free(L.ctx);
        return 1;
    }
    for (int i = 0; i < clg_component_count(L.ctx); i++) {
        clg_component_info c;
        if (clg_component_get(L.ctx, i, &c) != CLG_OK || !real || strcmp(c.path, real))
            continue;
        switch (c.kind) {
        case CLG_COMPONENT_OPTIMIZER: check_optimizer(&L, &c); break;
        case CLG_COMPONENT_LOSS: check_loss(&L, &c); break;
        case CLG_COMPONENT_SCHEDULER: check_scheduler(&L, &c); break;
        default:
            printf("  ok      %s '%s': registered (not exercised)\n",
                   clg_component_kind_name(c.kind), c.name);
        }
    }
    printf("%s: %d component(s), %d problem(s)\n", file, n_own, L.problems);
    clg_device_close(L.dev);
    clg_ctx_free(L.ctx);
    free(real);
    return L.problems ? 1 : 0;
}
