/* Optimizer trajectories against PyTorch (fixtures.h): a two-layer tanh MLP
 * trained from fixed weights through the trainer, on every backend; plus
 * an exact checkpoint round trip of the trainer's state. */
#include "fixtures.h"
#include "tp_util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NCASES ((int)(sizeof fx_optim / sizeof fx_optim[0]))
#define TOL 1e-5
/* Relative error is taken against max(|torch|, FLOOR): a weight that torch
 * has at 1e-9 cannot be matched relatively by any float32 computation. */
#define FLOOR 1e-2

static const char *const pnames[4] = { "0.weight", "0.bias", "2.weight", "2.bias" };

typedef struct model {
    clg_ctx *ctx;
    clg_device *dev;
    clg_store *st;
    clg_trainer *tr;
} model;

static void model_free(model *m)
{
    clg_trainer_free(m->tr);
    clg_store_free(m->st);
    clg_device_close(m->dev);
    clg_ctx_free(m->ctx);
}

/* Store with the fixture's initial weights (or `w` if given). */
static int model_store(model *m, const float *const w[4])
{
    const float *init[4] = { fx_w0, fx_b0, fx_w2, fx_b2 };
    clg_shape shapes[4] = { CLG_SHAPE(FX_HID, FX_IN), CLG_SHAPE(FX_HID),
                            CLG_SHAPE(FX_OUT, FX_HID), CLG_SHAPE(FX_OUT) };
    m->ctx = clg_ctx_new();
    if (clg_device_open(m->ctx, tp_backend, 0, &m->dev) != CLG_OK ||
        clg_store_new(m->dev, &m->st) != CLG_OK)
        return 0;
    for (int i = 0; i < 4; i++)
        if (clg_store_add(m->st, pnames[i], CLG_F32, &shapes[i], w ? w[i] : init[i]) != CLG_OK)
            return 0;
    return 1;
}

static clg_status model_trainer(model *m, const char *spec, double lr, double clip, int acc,
                                const char *sched)
{
    clg_graph *g = clg_graph_new(m->ctx);
    clg_shape xs = CLG_SHAPE(FX_B, FX_IN), ys = CLG_SHAPE(FX_B, FX_OUT);
    clg_t x = clg_input(g, "x", CLG_F32, &xs);
    clg_t y = clg_input(g, "y", CLG_F32, &ys);
    clg_t h = clg_tanh(g, clg_add(g, clg_matmul(g, x, clg_param(g, m->st, "0.weight"), 0, 1),
                                  clg_param(g, m->st, "0.bias")));
    clg_t yh = clg_add(g, clg_matmul(g, h, clg_param(g, m->st, "2.weight"), 0, 1),
                       clg_param(g, m->st, "2.bias"));
    clg_t loss;
    clg_status st = clg_loss_build(g, "mse", yh, y, &loss);
    if (st == CLG_OK) {
        clg_trainer_opts o = { .lr = lr, .optimizer = spec, .clip_grad_norm = clip,
                               .accumulate = acc, .scheduler = sched };
        st = clg_trainer_new(g, m->st, loss, &o, &m->tr);
    }
    clg_graph_free(g);
    return st;
}

static clg_status model_step(model *m, int i, float *loss)
{
    int b = i % FX_NB;
    clg_status st = clg_trainer_set_input(m->tr, "x", fx_x + b * FX_B * FX_IN,
                                          sizeof(float) * FX_B * FX_IN);
    if (st == CLG_OK)
        st = clg_trainer_set_input(m->tr, "y", fx_y + b * FX_B * FX_OUT,
                                   sizeof(float) * FX_B * FX_OUT);
    if (st == CLG_OK)
        st = clg_trainer_step(m->tr, loss);
    return st;
}

START_TEST(trajectories)
{
    int bad = 0;
    double worst_all = 0;
    for (int c = 0; c < NCASES; c++) {
        const fx_optim_case *fc = &fx_optim[c];
        model m = { 0 };
        ck_assert_msg(model_store(&m, NULL), "%s: %s", tp_backend, clg_ctx_error(m.ctx));
        clg_status st = model_trainer(&m, fc->spec, fc->lr, fc->clip, fc->accumulate, fc->sched);
        ck_assert_msg(st == CLG_OK, "case %d %s: trainer: %s", c, fc->spec, clg_ctx_error(m.ctx));
        double worst = 0;
        for (int i = 0; i < FX_STEPS; i++) {
            float l;
            st = model_step(&m, i, &l);
            ck_assert_msg(st == CLG_OK, "case %d %s step %d: %s", c, fc->spec, i,
                          clg_ctx_error(m.ctx));
            double r = tp_rel(l, fc->loss[i], FLOOR);
            if (r > worst)
                worst = r;
        }
        const float *want[4] = { fc->w0, fc->b0, fc->w2, fc->b2 };
        int sizes[4] = { FX_HID * FX_IN, FX_HID, FX_OUT * FX_HID, FX_OUT };
        for (int p = 0; p < 4; p++) {
            float got[FX_HID * FX_IN];
            st = clg_store_read(m.st, pnames[p], got, sizeof(float) * (size_t)sizes[p]);
            ck_assert_msg(st == CLG_OK, "%s", clg_ctx_error(m.ctx));
            for (int k = 0; k < sizes[p]; k++) {
                double r = tp_rel(got[k], want[p][k], FLOOR);
                if (r > worst)
                    worst = r;
                if (r > TOL && bad < 20) {
                    fprintf(stderr, "[%s] %s (clip %g, acc %d, sched %s): %s[%d] = %.9g, torch %.9g\n",
                            tp_backend, fc->spec, fc->clip, fc->accumulate,
                            fc->sched ? fc->sched : "-", pnames[p], k, got[k], want[p][k]);
                }
            }
        }
        printf("[%s] optim %-60s clip %-4g acc %d sched %-45s max rel dev %.2e\n", tp_backend,
               fc->spec, fc->clip, fc->accumulate, fc->sched ? fc->sched : "-", worst);
        if (worst > TOL)
            bad++;
        if (worst > worst_all)
            worst_all = worst;
        model_free(&m);
    }
    printf("[%s] optimizers: %d cases, worst rel dev %.2e (tolerance %g)\n", tp_backend, NCASES,
           worst_all, TOL);
    ck_assert_msg(bad == 0, "%d of %d optimizer cases deviate from torch by more than %g", bad,
                  NCASES, TOL);
}
END_TEST

/* 6 micro-batches, checkpoint (weights, optimizer tensors, values), 6 more;
 * a fresh trainer restored from the checkpoint must reach the same weights
 * bit for bit. AMSGrad Adam + clipping + accumulation + a per-step chain. */
START_TEST(checkpoint_roundtrip)
{
    const char *spec = "adam:amsgrad=1";
    const char *sched = "warmup:steps=2+step:step_size=2,gamma=0.5,interval=step";
    model a = { 0 };
    ck_assert(model_store(&a, NULL));
    ck_assert_msg(model_trainer(&a, spec, 0.01, 0.5, 2, sched) == CLG_OK, "%s",
                  clg_ctx_error(a.ctx));
    for (int i = 0; i < 5; i++)
        ck_assert_msg(model_step(&a, i, NULL) == CLG_OK, "%s", clg_ctx_error(a.ctx));
    ck_assert_int_eq(clg_trainer_pending(a.tr), 1);

    /* the checkpoint */
    float w[4][FX_HID * FX_IN];
    int sizes[4] = { FX_HID * FX_IN, FX_HID, FX_OUT * FX_HID, FX_OUT };
    for (int p = 0; p < 4; p++)
        ck_assert(clg_store_read(a.st, pnames[p], w[p], sizeof(float) * (size_t)sizes[p]) == CLG_OK);
    int nt = clg_trainer_tensor_count(a.tr);
    ck_assert_int_eq(nt, 4 * 3 + 4); /* exp_avg, exp_avg_sq, max_exp_avg_sq + accum */
    static float tens[32][FX_HID * FX_IN];
    char tnames[32][64];
    for (int i = 0; i < nt; i++) {
        const char *n = clg_trainer_tensor_name(a.tr, i);
        snprintf(tnames[i], sizeof tnames[i], "%s", n);
        int idx = clg_store_find(a.st, n);
        ck_assert_int_ge(idx, 0);
        clg_shape s = clg_store_shape(a.st, idx);
        ck_assert(clg_store_read(a.st, n, tens[i], sizeof(float) * (size_t)clg_shape_numel(&s)) == CLG_OK);
    }
    ck_assert(clg_store_find(a.st, "optim.0.weight.exp_avg") >= 0);
    int nv = clg_trainer_value_count(a.tr);
    double vals[32];
    char vnames[32][64];
    for (int i = 0; i < nv; i++) {
        snprintf(vnames[i], sizeof vnames[i], "%s", clg_trainer_value_name(a.tr, i));
        vals[i] = clg_trainer_value_get(a.tr, i);
    }
    for (int i = 5; i < 12; i++)
        ck_assert(model_step(&a, i, NULL) == CLG_OK);
    double lr_a = clg_trainer_lr(a.tr);

    model b = { 0 };
    const float *wp[4] = { w[0], w[1], w[2], w[3] };
    ck_assert(model_store(&b, wp));
    for (int i = 0; i < nt; i++) {
        int idx = clg_store_find(a.st, tnames[i]);
        clg_shape s = clg_store_shape(a.st, idx);
        ck_assert(clg_store_add(b.st, tnames[i], CLG_F32, &s, tens[i]) == CLG_OK);
    }
    ck_assert_msg(model_trainer(&b, spec, 0.01, 0.5, 2, sched) == CLG_OK, "%s",
                  clg_ctx_error(b.ctx));
    for (int i = 0; i < nv; i++)
        ck_assert_msg(clg_trainer_value_set(b.tr, vnames[i], vals[i]) == CLG_OK, "%s: %s",
                      vnames[i], clg_ctx_error(b.ctx));
    for (int i = 5; i < 12; i++)
        ck_assert(model_step(&b, i, NULL) == CLG_OK);
    ck_assert(clg_trainer_lr(b.tr) == lr_a);
    ck_assert(clg_trainer_steps(b.tr) == clg_trainer_steps(a.tr));
    for (int p = 0; p < 4; p++) {
        float ga[FX_HID * FX_IN], gb[FX_HID * FX_IN];
        ck_assert(clg_store_read(a.st, pnames[p], ga, sizeof(float) * (size_t)sizes[p]) == CLG_OK);
        ck_assert(clg_store_read(b.st, pnames[p], gb, sizeof(float) * (size_t)sizes[p]) == CLG_OK);
        ck_assert_msg(memcmp(ga, gb, sizeof(float) * (size_t)sizes[p]) == 0,
                      "%s differs after restoring the checkpoint", pnames[p]);
    }
    ck_assert(clg_trainer_value_set(b.tr, "no.such", 1) == CLG_ERR_NOT_FOUND);
    ck_assert(clg_trainer_value_set(b.tr, "train.pending", 5) == CLG_ERR_INVALID);
    model_free(&a);
    model_free(&b);
}
END_TEST

/* Bad trainer options give errors naming the option. */
START_TEST(bad_options)
{
    model m = { 0 };
    ck_assert(model_store(&m, NULL));
    ck_assert(model_trainer(&m, "sgd", -0.1, 0, 1, NULL) == CLG_ERR_INVALID);
    ck_assert_msg(strstr(clg_ctx_error(m.ctx), "lr") != NULL, "%s", clg_ctx_error(m.ctx));
    ck_assert(model_trainer(&m, "adam:beta1=1", 0.1, 0, 1, NULL) == CLG_ERR_INVALID);
    ck_assert_msg(strstr(clg_ctx_error(m.ctx), "adam") && strstr(clg_ctx_error(m.ctx), "beta1"),
                  "%s", clg_ctx_error(m.ctx));
    ck_assert(model_trainer(&m, "nosuch", 0.1, 0, 1, NULL) == CLG_ERR_NOT_FOUND);
    ck_assert(model_trainer(&m, "sgd", 0.1, 0, 1, "plateau") == CLG_OK);
    /* plateau without a metric */
    ck_assert(clg_trainer_epoch_end(m.tr, NAN) == CLG_ERR_INVALID);
    ck_assert_msg(strstr(clg_ctx_error(m.ctx), "plateau"), "%s", clg_ctx_error(m.ctx));
    ck_assert(clg_trainer_epoch_end(m.tr, 1.0) == CLG_OK);
    model_free(&m);
}
END_TEST

/* interval=epoch schedulers move only at epoch ends; interval=step ones
 * after each optimizer step (not each micro-batch). */
START_TEST(intervals)
{
    model m = { 0 };
    ck_assert(model_store(&m, NULL));
    ck_assert(model_trainer(&m, "sgd", 0.1, 0, 1, "step:step_size=1,gamma=0.5") == CLG_OK);
    for (int i = 0; i < 3; i++)
        ck_assert(model_step(&m, i, NULL) == CLG_OK);
    ck_assert(clg_trainer_lr(m.tr) == 0.1);
    ck_assert(clg_trainer_epoch_end(m.tr, NAN) == CLG_OK);
    ck_assert(clg_trainer_lr(m.tr) == 0.05);
    ck_assert_int_eq(clg_trainer_epochs(m.tr), 1);
    clg_trainer_free(m.tr);
    m.tr = NULL;
    ck_assert(model_trainer(&m, "sgd", 0.1, 0, 2, "step:step_size=1,gamma=0.5,interval=step") == CLG_OK);
    ck_assert(model_step(&m, 0, NULL) == CLG_OK);
    ck_assert(clg_trainer_lr(m.tr) == 0.1 && clg_trainer_steps(m.tr) == 0);
    ck_assert(model_step(&m, 1, NULL) == CLG_OK);
    ck_assert(clg_trainer_lr(m.tr) == 0.05 && clg_trainer_steps(m.tr) == 1);
    ck_assert(clg_trainer_epoch_end(m.tr, NAN) == CLG_OK);
    ck_assert(clg_trainer_lr(m.tr) == 0.05);
    model_free(&m);
}
END_TEST

/* An eval graph built separately on the same store sees the trained
 * weights: its loss equals the forward pass of the trainer's next step. */
START_TEST(eval_plan_shares_store)
{
    model m = { 0 };
    ck_assert(model_store(&m, NULL));
    ck_assert(model_trainer(&m, "adam", 0.01, 0, 1, NULL) == CLG_OK);
    for (int i = 0; i < 4; i++)
        ck_assert(model_step(&m, i, NULL) == CLG_OK);

    clg_graph *g = clg_graph_new(m.ctx);
    clg_shape xs = CLG_SHAPE(FX_B, FX_IN), ys = CLG_SHAPE(FX_B, FX_OUT);
    clg_t x = clg_input(g, "x", CLG_F32, &xs), y = clg_input(g, "y", CLG_F32, &ys);
    clg_t h = clg_tanh(g, clg_add(g, clg_matmul(g, x, clg_param(g, m.st, "0.weight"), 0, 1),
                                  clg_param(g, m.st, "0.bias")));
    clg_t yh = clg_add(g, clg_matmul(g, h, clg_param(g, m.st, "2.weight"), 0, 1),
                       clg_param(g, m.st, "2.bias"));
    clg_t loss;
    ck_assert(clg_loss_build(g, "mse", yh, y, &loss) == CLG_OK);
    clg_plan *ev;
    ck_assert_msg(clg_compile(g, m.dev, &loss, 1, NULL, &ev) == CLG_OK, "%s", clg_ctx_error(m.ctx));
    clg_graph_free(g);
    int b = 4 % FX_NB;
    ck_assert(clg_plan_set_input(ev, "x", fx_x + b * FX_B * FX_IN, sizeof(float) * FX_B * FX_IN) == CLG_OK);
    ck_assert(clg_plan_set_input(ev, "y", fx_y + b * FX_B * FX_OUT, sizeof(float) * FX_B * FX_OUT) == CLG_OK);
    ck_assert(clg_plan_run(ev) == CLG_OK);
    float le, lt;
    ck_assert(clg_plan_read(ev, loss, &le, sizeof le) == CLG_OK);
    ck_assert(model_step(&m, 4, &lt) == CLG_OK);
    ck_assert_msg(tp_rel(le, lt, 1e-6) < 1e-6, "eval %.9g, train %.9g", le, lt);
    clg_plan_free(ev);
    model_free(&m);
}
END_TEST

static void add(TCase *tc)
{
    tcase_add_test(tc, intervals);
    tcase_add_test(tc, eval_plan_shares_store);
    tcase_add_test(tc, trajectories);
    tcase_add_test(tc, checkpoint_roundtrip);
    tcase_add_test(tc, bad_options);
}

int main(void)
{
    return tp_main("plugins-optim", add);
}
