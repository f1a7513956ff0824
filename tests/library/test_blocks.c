/* Building blocks for C users and plugin authors: clg_ema against PyTorch's
 * optimizer EMA (and the float-first rounding it replaces), stop-gradient
 * against x.detach(), the torch.nn.init rules (bounds and moments in closed
 * form; LINEAR_DEFAULT draws what clg_linear draws), and the lifecycle
 * block's promise that every free accepts NULL. */
#include "fixtures.h"

#include <check.h>
#include <clgrad/data.h>
#include <clgrad/train.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double rel(double a, double b, double floor)
{
    double d = fabs(b) > floor ? fabs(b) : floor;
    return fabs(a - b) / d;
}

/* 50 EMA steps on the device; the plan's output fed back as m. */
static double ema_dev(clg_ctx *ctx, clg_device *dev, double beta, int float_first,
                      const float *want)
{
    clg_graph *g = clg_graph_new(ctx);
    clg_shape s = CLG_SHAPE(LF_N);
    clg_t m = clg_input(g, "m", CLG_F32, &s), x = clg_input(g, "x", CLG_F32, &s);
    clg_t out = float_first
                    ? clg_add(g, clg_mul_scalar(g, m, (float)beta),
                              clg_mul_scalar(g, x, 1.0f - (float)beta))
                    : clg_ema(g, m, x, beta);
    clg_plan *p;
    ck_assert_msg(clg_compile(g, dev, &out, 1, NULL, &p) == CLG_OK, "%s", clg_ctx_error(ctx));
    clg_graph_free(g);
    float cur[LF_N];
    for (int i = 0; i < LF_N; i++)
        cur[i] = lf_m0[i];
    for (int t = 0; t < LF_STEPS; t++) {
        ck_assert(clg_plan_set_input(p, "m", cur, sizeof cur) == CLG_OK);
        ck_assert(clg_plan_set_input(p, "x", lf_x + t * LF_N, sizeof cur) == CLG_OK);
        ck_assert(clg_plan_run(p) == CLG_OK);
        ck_assert(clg_plan_read(p, out, cur, sizeof cur) == CLG_OK);
    }
    clg_plan_free(p);
    double worst = 0;
    for (int i = 0; i < LF_N; i++) {
        /* floor 0.1: where m is a small difference of large terms, torch's
         * fused add (x * alpha + m in one rounding) and any unfused form
         * differ by a few ulps of the terms, not of m */
        double r = rel(cur[i], want[i], 1e-1);
        worst = r > worst ? r : worst;
    }
    return worst;
}

START_TEST(ema_matches_torch)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_device *dev;
    ck_assert_msg(clg_device_open(ctx, "cpu", 0, &dev) == CLG_OK, "%s", clg_ctx_error(ctx));
    double a = ema_dev(ctx, dev, lf_beta_b999, 0, lf_ema_b999);
    double b = ema_dev(ctx, dev, lf_beta_b9, 0, lf_ema_b9);
    double wrong = ema_dev(ctx, dev, lf_beta_b999, 1, lf_ema_b999);
    printf("clg_ema vs torch over %d steps: beta 0.999 %.2e, beta 0.9 %.2e; "
           "1.0f - (float)beta: %.2e\n", LF_STEPS, a, b, wrong);
    ck_assert_msg(a <= 1e-6 && b <= 1e-6, "clg_ema deviates %.3g / %.3g", a, b);
    /* the trap the helper exists for: rounding beta first is visibly off */
    ck_assert_msg(wrong > 1e-6, "float-first rounding only %.3g off", wrong);
    clg_device_close(dev);
    clg_ctx_free(ctx);
}
END_TEST

START_TEST(stop_gradient)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_device *dev;
    ck_assert(clg_device_open(ctx, "cpu", 0, &dev) == CLG_OK);
    clg_graph *g = clg_graph_new(ctx);
    clg_shape s = CLG_SHAPE(5);
    clg_t x = clg_input(g, "x", CLG_F32, &s);
    clg_t sg = clg_stop_gradient(g, x);
    clg_t y = clg_sum(g, clg_mul(g, x, sg), NULL, 0, 0);
    clg_t only = clg_sum(g, sg, NULL, 0, 0);
    clg_t gx, g0;
    ck_assert(clg_grad(g, y, CLG_NONE, &x, 1, &gx) == CLG_OK);
    ck_assert(clg_grad(g, only, CLG_NONE, &x, 1, &g0) == CLG_OK);
    clg_t outs[3] = { sg, gx, g0 };
    clg_plan *p;
    ck_assert_msg(clg_compile(g, dev, outs, 3, NULL, &p) == CLG_OK, "%s", clg_ctx_error(ctx));
    clg_graph_free(g);
    ck_assert(clg_plan_set_input(p, "x", lf_sg_x, sizeof(float) * 5) == CLG_OK);
    ck_assert(clg_plan_run(p) == CLG_OK);
    float v[5], dg[5], d0[5];
    ck_assert(clg_plan_read(p, sg, v, sizeof v) == CLG_OK);
    ck_assert(clg_plan_read(p, gx, dg, sizeof dg) == CLG_OK);
    ck_assert(clg_plan_read(p, g0, d0, sizeof d0) == CLG_OK);
    for (int i = 0; i < 5; i++) {
        ck_assert(v[i] == lf_sg_x[i]);        /* the value passes */
        ck_assert_msg(dg[i] == lf_sg_grad[i], "%d: %g, torch %g", i, dg[i], lf_sg_grad[i]);
        ck_assert(d0[i] == 0.0f);             /* no gradient through it */
    }
    clg_plan_free(p);
    /* CLG_NONE in, CLG_NONE out, with the graph's error */
    g = clg_graph_new(ctx);
    ck_assert(clg_stop_gradient(g, CLG_NONE) == CLG_NONE);
    ck_assert(clg_graph_status(g) != CLG_OK);
    clg_graph_free(g);
    clg_device_close(dev);
    clg_ctx_free(ctx);
}
END_TEST

static void moments(const float *v, int64_t n, double *mean, double *sd, double *maxabs)
{
    double s = 0, s2 = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += v[i];
        s2 += (double)v[i] * v[i];
        m = fabs(v[i]) > m ? fabs(v[i]) : m;
    }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
    *maxabs = m;
}

START_TEST(init_rules)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_rng r;
    clg_rng_seed(&r, 7);
    enum { N = 64 * 32 * 3 * 3 };
    float *v = malloc(N * sizeof *v);
    clg_shape conv = CLG_SHAPE(64, 32, 3, 3); /* fan_in 288, fan_out 576 */
    double mean, sd, mx;

    /* nn.Conv2d's default weight rule: kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)) */
    clg_init ku = { .kind = CLG_INIT_KAIMING_UNIFORM, .slope = sqrt(5.0) };
    ck_assert(clg_init_fill(ctx, v, &conv, &ku, &r) == CLG_OK);
    moments(v, N, &mean, &sd, &mx);
    double b = 1.0 / sqrt(288.0);
    ck_assert_msg(mx <= b * (1 + 1e-6) && mx > 0.99 * b, "max %g, bound %g", mx, b);
    ck_assert_msg(fabs(sd - b / sqrt(3.0)) < 0.03 * b, "sd %g", sd);
    ck_assert(fabs(mean) < 0.03 * b);

    /* xavier_normal_(gain=2): std = 2 sqrt(2 / (288 + 576)) */
    clg_init xn = { .kind = CLG_INIT_XAVIER_NORMAL, .gain = 2.0 };
    ck_assert(clg_init_fill(ctx, v, &conv, &xn, &r) == CLG_OK);
    moments(v, N, &mean, &sd, &mx);
    double want = 2.0 * sqrt(2.0 / 864.0);
    ck_assert_msg(fabs(sd - want) < 0.03 * want, "sd %g, want %g", sd, want);

    /* kaiming_normal_(mode='fan_out', nonlinearity='relu'): std = sqrt(2 / 576) */
    clg_init kn = { .kind = CLG_INIT_KAIMING_NORMAL, .fan = CLG_FAN_OUT };
    ck_assert(clg_init_fill(ctx, v, &conv, &kn, &r) == CLG_OK);
    moments(v, N, &mean, &sd, &mx);
    want = sqrt(2.0 / 576.0);
    ck_assert_msg(fabs(sd - want) < 0.03 * want, "sd %g, want %g", sd, want);

    clg_init c = { .kind = CLG_INIT_CONSTANT, .value = 0.25 };
    ck_assert(clg_init_fill(ctx, v, &conv, &c, NULL) == CLG_OK);
    ck_assert(v[0] == 0.25f && v[N - 1] == 0.25f);

    /* errors name the problem */
    clg_init u = { .kind = CLG_INIT_UNIFORM, .low = 0, .high = 1 };
    ck_assert(clg_init_fill(ctx, v, &conv, &u, NULL) == CLG_ERR_INVALID);
    ck_assert(strstr(clg_ctx_error(ctx), "rng is NULL") != NULL);
    clg_shape s0 = { 0 };
    ck_assert(clg_init_fill(ctx, v, &s0, &ku, &r) == CLG_ERR_INVALID);
    ck_assert(strstr(clg_ctx_error(ctx), "no fan") != NULL);

    /* LINEAR_DEFAULT draws exactly what clg_linear draws (weight, then bias) */
    clg_device *dev;
    ck_assert(clg_device_open(ctx, "cpu", 0, &dev) == CLG_OK);
    clg_store *st;
    ck_assert(clg_store_new(dev, &st) == CLG_OK);
    clg_graph *g = clg_graph_new(ctx);
    clg_shape xs = CLG_SHAPE(2, 6);
    clg_rng r1, r2;
    clg_rng_seed(&r1, 11);
    clg_rng_seed(&r2, 11);
    ck_assert(clg_linear(g, st, "fc", clg_input(g, "x", CLG_F32, &xs), 6, 4, 1, &r1) != CLG_NONE);
    clg_shape ws = CLG_SHAPE(4, 6), bs = CLG_SHAPE(4);
    clg_init ld = { .kind = CLG_INIT_LINEAR_DEFAULT };
    ck_assert(clg_store_add_init(st, "w2", &ws, &ld, &r2) == CLG_OK);
    clg_init ldb = { .kind = CLG_INIT_LINEAR_DEFAULT, .fan_in = 6 };
    ck_assert(clg_store_add_init(st, "b2", &bs, &ldb, &r2) == CLG_OK);
    float w1[24], w2[24], b1[4], b2[4];
    ck_assert(clg_store_read(st, "fc.weight", w1, sizeof w1) == CLG_OK);
    ck_assert(clg_store_read(st, "w2", w2, sizeof w2) == CLG_OK);
    ck_assert(clg_store_read(st, "fc.bias", b1, sizeof b1) == CLG_OK);
    ck_assert(clg_store_read(st, "b2", b2, sizeof b2) == CLG_OK);
    ck_assert(memcmp(w1, w2, sizeof w1) == 0 && memcmp(b1, b2, sizeof b1) == 0);
    clg_graph_free(g);
    clg_store_free(st);
    clg_device_close(dev);
    free(v);
    clg_ctx_free(ctx);
}
END_TEST

/* The model of the partial-batch case for `rows` samples. */
static clg_t pb_model(clg_graph *g, clg_store *st, int64_t rows)
{
    clg_shape xs = CLG_SHAPE(rows, PB_IN), ys = CLG_SHAPE(rows, 1);
    clg_t x = clg_input(g, "x", CLG_F32, &xs), y = clg_input(g, "y", CLG_F32, &ys);
    clg_t h = clg_tanh(g, clg_add(g, clg_matmul(g, x, clg_param(g, st, "0.weight"), 0, 1),
                                  clg_param(g, st, "0.bias")));
    clg_t yh = clg_add(g, clg_matmul(g, h, clg_param(g, st, "2.weight"), 0, 1),
                       clg_param(g, st, "2.bias"));
    clg_t loss;
    return clg_loss_build(g, "mse", yh, y, &loss) == CLG_OK ? loss : CLG_NONE;
}

/* 10 samples in batches of 4, 4, 2 (the batcher keeps the last partial
 * batch) through one trainer with a second plan for 2 rows: the same
 * losses, lr and weights as PyTorch's DataLoader loop with Adam + StepLR. */
START_TEST(partial_last_batch)
{
    clg_ctx *ctx = clg_ctx_new();
    /* the data through the library's own loader: a CSV of the fixture */
    char csv[4096];
    size_t u = (size_t)snprintf(csv, sizeof csv, "a,b,c,t\n");
    for (int i = 0; i < PB_N; i++)
        u += (size_t)snprintf(csv + u, sizeof csv - u, "%.9g,%.9g,%.9g,%.9g\n", pb_x[i * 3],
                              pb_x[i * 3 + 1], pb_x[i * 3 + 2], pb_y[i]);
    clg_csv_opts co = clg_csv_opts_default();
    co.target_name = "t";
    clg_dataset *ds;
    ck_assert_msg(clg_csv_parse(ctx, "pb.csv", csv, u, &co, &ds) == CLG_OK, "%s",
                  clg_ctx_error(ctx));
    clg_batcher *bt;
    ck_assert(clg_batcher_new(ctx, ds, PB_B, 0, 0, &bt) == CLG_OK);
    ck_assert_int_eq(clg_batcher_batches(bt), 3);

    clg_device *dev;
    clg_store *st;
    ck_assert(clg_device_open(ctx, "cpu", 0, &dev) == CLG_OK);
    ck_assert(clg_store_new(dev, &st) == CLG_OK);
    clg_shape s0 = CLG_SHAPE(PB_HID, PB_IN), s1 = CLG_SHAPE(PB_HID), s2 = CLG_SHAPE(1, PB_HID),
              s3 = CLG_SHAPE(1);
    ck_assert(clg_store_add(st, "0.weight", CLG_F32, &s0, pb_w0) == CLG_OK);
    ck_assert(clg_store_add(st, "0.bias", CLG_F32, &s1, pb_b0) == CLG_OK);
    ck_assert(clg_store_add(st, "2.weight", CLG_F32, &s2, pb_w2) == CLG_OK);
    ck_assert(clg_store_add(st, "2.bias", CLG_F32, &s3, pb_b2) == CLG_OK);

    clg_graph *g = clg_graph_new(ctx);
    clg_trainer_opts o = { .lr = 0.05, .optimizer = "adam",
                           .scheduler = "step:step_size=2,gamma=0.5,interval=step" };
    clg_trainer *tr;
    ck_assert_msg(clg_trainer_new(g, st, pb_model(g, st, PB_B), &o, &tr) == CLG_OK, "%s",
                  clg_ctx_error(ctx));
    clg_graph_free(g);
    g = clg_graph_new(ctx);
    int last;
    ck_assert_msg(clg_trainer_add_plan(tr, g, pb_model(g, st, PB_N % PB_B), NULL, 0, &last) ==
                  CLG_OK, "%s", clg_ctx_error(ctx));
    clg_graph_free(g);
    ck_assert_int_eq(last, 1);

    int step = 0;
    double worst = 0;
    for (int e = 0; e < PB_EPOCHS; e++) {
        clg_batcher_epoch(bt, NULL);
        clg_batch b;
        while (clg_batcher_next(bt, &b)) {
            ck_assert(clg_trainer_use_plan(tr, b.size == PB_B ? 0 : last) == CLG_OK);
            ck_assert(clg_trainer_set_input(tr, "x", b.x, sizeof(float) * 3 * (size_t)b.size) ==
                      CLG_OK);
            ck_assert(clg_trainer_set_input(tr, "y", b.y, sizeof(float) * (size_t)b.size) ==
                      CLG_OK);
            float l;
            ck_assert_msg(clg_trainer_step(tr, &l) == CLG_OK, "%s", clg_ctx_error(ctx));
            double r = rel(l, pb_loss[step++], 1e-2);
            worst = r > worst ? r : worst;
        }
        ck_assert(clg_trainer_epoch_end(tr, NAN) == CLG_OK);
    }
    ck_assert_int_eq(step, PB_STEPS);
    ck_assert(clg_trainer_use_plan(tr, 0) == CLG_OK);
    ck_assert_int_eq(clg_trainer_steps(tr), PB_STEPS);
    ck_assert_int_eq(clg_trainer_epochs(tr), PB_EPOCHS);
    ck_assert_msg(fabs(clg_trainer_lr(tr) - pb_final_lr) < 1e-12, "lr %g, torch %g",
                  clg_trainer_lr(tr), pb_final_lr);
    const char *pn[4] = { "0.weight", "0.bias", "2.weight", "2.bias" };
    const float *want[4] = { pb_want_w0, pb_want_b0, pb_want_w2, pb_want_b2 };
    int sizes[4] = { PB_HID * PB_IN, PB_HID, PB_HID, 1 };
    for (int p = 0; p < 4; p++) {
        float got[PB_HID * PB_IN];
        ck_assert(clg_store_read(st, pn[p], got, sizeof(float) * (size_t)sizes[p]) == CLG_OK);
        for (int k = 0; k < sizes[p]; k++) {
            double r = rel(got[k], want[p][k], 1e-2);
            worst = r > worst ? r : worst;
        }
    }
    printf("partial last batch: %d steps (batches 4, 4, 2) vs PyTorch DataLoader: max rel dev "
           "%.2e\n", step, worst);
    ck_assert_msg(worst < 1e-5, "deviates %.3g from torch", worst);
    ck_assert(clg_trainer_use_plan(tr, 2) == CLG_ERR_INVALID);
    clg_trainer_free(tr);
    clg_store_free(st);
    clg_device_close(dev);
    clg_batcher_free(bt);
    clg_dataset_free(ds);
    clg_ctx_free(ctx);
}
END_TEST

/* Train with Adam (the store then holds optim.* state), save weights only,
 * load into an empty store: parameters and the buffer come back with their
 * kinds and values, no optimizer state is written, and the inference graph
 * built on the loaded store gives the trained model's output. */
START_TEST(weights_only)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_device *dev;
    clg_store *st;
    ck_assert(clg_device_open(ctx, "cpu", 0, &dev) == CLG_OK);
    ck_assert(clg_store_new(dev, &st) == CLG_OK);
    clg_rng r;
    clg_rng_seed(&r, 3);
    clg_graph *g = clg_graph_new(ctx);
    clg_shape xs = CLG_SHAPE(4, 3), ys = CLG_SHAPE(4, 2), bs = CLG_SHAPE(2);
    clg_t x = clg_input(g, "x", CLG_F32, &xs), y = clg_input(g, "y", CLG_F32, &ys);
    clg_t yh = clg_linear(g, st, "fc", x, 3, 2, 1, &r);
    float shift[2] = { 0.5f, -0.25f };
    ck_assert(clg_store_add(st, "shift", CLG_F32, &bs, shift) == CLG_OK);
    ck_assert(clg_store_set_kind(st, "shift", CLG_TENSOR_BUFFER) == CLG_OK);
    yh = clg_add(g, yh, clg_param(g, st, "shift"));
    clg_t loss;
    ck_assert(clg_loss_build(g, "mse", yh, y, &loss) == CLG_OK);
    clg_trainer_opts o = { .lr = 0.1, .optimizer = "adam" };
    clg_trainer *tr;
    ck_assert_msg(clg_trainer_new(g, st, loss, &o, &tr) == CLG_OK, "%s", clg_ctx_error(ctx));
    clg_graph_free(g);
    float xv[12], yv[8];
    for (int i = 0; i < 12; i++)
        xv[i] = (float)sin(i + 1.0);
    for (int i = 0; i < 8; i++)
        yv[i] = (float)cos(i + 1.0);
    ck_assert(clg_trainer_set_input(tr, "x", xv, sizeof xv) == CLG_OK);
    ck_assert(clg_trainer_set_input(tr, "y", yv, sizeof yv) == CLG_OK);
    for (int i = 0; i < 3; i++)
        ck_assert(clg_trainer_step(tr, NULL) == CLG_OK);
    ck_assert(clg_store_find(st, "optim.fc.weight.exp_avg") >= 0);
    char path[] = "/tmp/clgrad-weights-XXXXXX";
    int fd = mkstemp(path);
    ck_assert(fd >= 0);
    close(fd);
    ck_assert_msg(clg_store_save_weights(st, path) == CLG_OK, "%s", clg_ctx_error(ctx));
    clg_tensor_set *ts;
    ck_assert(clg_safetensors_read(ctx, path, &ts) == CLG_OK);
    ck_assert_int_eq(ts->n, 3); /* fc.weight, fc.bias, shift: no optim.* */
    for (int i = 0; i < ts->n; i++)
        ck_assert_msg(strncmp(ts->t[i].name, "optim.", 6) != 0, "%s", ts->t[i].name);
    clg_tensor_set_free(ts);

    /* an inference program: an empty store */
    clg_store *inf;
    ck_assert(clg_store_new(dev, &inf) == CLG_OK);
    ck_assert_msg(clg_store_load_all(inf, path) == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert_int_eq(clg_store_count(inf), 3);
    ck_assert(clg_store_kind(inf, clg_store_find(inf, "shift")) == CLG_TENSOR_BUFFER);
    ck_assert(clg_store_kind(inf, clg_store_find(inf, "fc.weight")) == CLG_TENSOR_PARAMETER);
    float a[6], b[6];
    ck_assert(clg_store_read(st, "fc.weight", a, sizeof a) == CLG_OK);
    ck_assert(clg_store_read(inf, "fc.weight", b, sizeof b) == CLG_OK);
    ck_assert(memcmp(a, b, sizeof a) == 0);
    /* clg_linear finds the loaded tensors (rng NULL: nothing is drawn) */
    clg_graph *e1 = clg_graph_new(ctx), *e2 = clg_graph_new(ctx);
    clg_t o1 = clg_add(e1, clg_linear(e1, st, "fc", clg_input(e1, "x", CLG_F32, &xs), 3, 2, 1, NULL),
                       clg_param(e1, st, "shift"));
    clg_t o2 = clg_add(e2, clg_linear(e2, inf, "fc", clg_input(e2, "x", CLG_F32, &xs), 3, 2, 1, NULL),
                       clg_param(e2, inf, "shift"));
    clg_plan *p1, *p2;
    ck_assert_msg(clg_compile(e1, dev, &o1, 1, NULL, &p1) == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert_msg(clg_compile(e2, dev, &o2, 1, NULL, &p2) == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert(clg_plan_set_input(p1, "x", xv, sizeof xv) == CLG_OK);
    ck_assert(clg_plan_set_input(p2, "x", xv, sizeof xv) == CLG_OK);
    ck_assert(clg_plan_run(p1) == CLG_OK && clg_plan_run(p2) == CLG_OK);
    float r1[8], r2[8];
    ck_assert(clg_plan_read(p1, o1, r1, sizeof r1) == CLG_OK);
    ck_assert(clg_plan_read(p2, o2, r2, sizeof r2) == CLG_OK);
    ck_assert(memcmp(r1, r2, sizeof r1) == 0);
    /* loading again overwrites; a shape mismatch is refused by name */
    ck_assert(clg_store_load_all(inf, path) == CLG_OK);
    clg_store *bad;
    ck_assert(clg_store_new(dev, &bad) == CLG_OK);
    clg_shape wrong = CLG_SHAPE(3, 2);
    ck_assert(clg_store_add(bad, "fc.weight", CLG_F32, &wrong, NULL) == CLG_OK);
    ck_assert(clg_store_load_all(bad, path) == CLG_ERR_INVALID);
    ck_assert(strstr(clg_ctx_error(ctx), "fc.weight") != NULL);
    ck_assert_int_eq(clg_store_count(bad), 1); /* nothing added */
    clg_plan_free(p1);
    clg_plan_free(p2);
    clg_graph_free(e1);
    clg_graph_free(e2);
    clg_trainer_free(tr);
    clg_store_free(bad);
    clg_store_free(inf);
    clg_store_free(st);
    clg_device_close(dev);
    remove(path);
    clg_ctx_free(ctx);
}
END_TEST

/* A handle of the training graph used in the eval graph: both graphs have
 * their input at the same index, which a bare index would accept. Every
 * entry point refuses it, naming another graph. */
START_TEST(foreign_handle)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_device *dev;
    ck_assert(clg_device_open(ctx, "cpu", 0, &dev) == CLG_OK);
    clg_shape s = CLG_SHAPE(3);
    clg_graph *train = clg_graph_new(ctx), *eval = clg_graph_new(ctx);
    clg_t xt = clg_input(train, "x", CLG_F32, &s);
    clg_t xe = clg_input(eval, "x", CLG_F32, &s);
    ck_assert(xt != CLG_NONE && xe != CLG_NONE && xt != xe);
    /* a builder */
    ck_assert(clg_relu(eval, xt) == CLG_NONE);
    ck_assert_msg(strstr(clg_graph_error(eval), "another graph") != NULL, "%s",
                  clg_graph_error(eval));
    clg_graph_free(eval);
    /* compile */
    eval = clg_graph_new(ctx);
    xe = clg_input(eval, "x", CLG_F32, &s);
    clg_t ye = clg_relu(eval, xe);
    clg_plan *p = NULL;
    ck_assert(clg_compile(eval, dev, &xt, 1, NULL, &p) == CLG_ERR_INVALID);
    ck_assert_msg(strstr(clg_ctx_error(ctx), "another graph") != NULL, "%s", clg_ctx_error(ctx));
    ck_assert(p == NULL);
    /* autodiff */
    clg_t gr;
    clg_t yt = clg_sum(train, clg_relu(train, xt), NULL, 0, 0);
    ck_assert(clg_grad(eval, yt, CLG_NONE, &xe, 1, &gr) != CLG_OK);
    ck_assert_msg(strstr(clg_ctx_error(ctx), "another graph") != NULL, "%s", clg_ctx_error(ctx));
    clg_graph_free(eval);
    /* reading a plan with a handle of another graph */
    eval = clg_graph_new(ctx);
    xe = clg_input(eval, "x", CLG_F32, &s);
    ye = clg_relu(eval, xe);
    ck_assert(clg_compile(eval, dev, &ye, 1, NULL, &p) == CLG_OK);
    float v[3] = { -1, 0, 2 }, r[3];
    ck_assert(clg_plan_set_input(p, "x", v, sizeof v) == CLG_OK);
    ck_assert(clg_plan_run(p) == CLG_OK);
    ck_assert(clg_plan_read(p, ye, r, sizeof r) == CLG_OK);
    ck_assert(r[0] == 0 && r[2] == 2);
    clg_t other = clg_relu(train, xt); /* the same index as ye in its own graph */
    ck_assert(clg_plan_read(p, other, r, sizeof r) == CLG_ERR_INVALID);
    ck_assert_msg(strstr(clg_ctx_error(ctx), "another graph") != NULL, "%s", clg_ctx_error(ctx));
    /* the getters answer "not a node" */
    ck_assert(clg_op_of(eval, yt) == CLG_OP_COUNT);
    clg_plan_free(p);
    clg_graph_free(eval);
    clg_graph_free(train);
    clg_device_close(dev);
    clg_ctx_free(ctx);
}
END_TEST

/* clgrad.h's lifecycle block: every free and close accepts NULL. */
START_TEST(free_null)
{
    clg_plan_free(NULL);
    clg_graph_free(NULL);
    clg_store_free(NULL);
    clg_device_close(NULL);
    clg_trainer_free(NULL);
    clg_scheduler_free(NULL);
    clg_hparams_free(NULL);
    clg_collective_close(NULL);
    clg_batcher_free(NULL);
    clg_dataset_free(NULL);
    clg_tensor_set_free(NULL);
    clg_idx_free(NULL);
    clg_strv_free(NULL);
    clg_ctx_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("library-blocks");
    TCase *tc = tcase_create("blocks");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, ema_matches_torch);
    tcase_add_test(tc, stop_gradient);
    tcase_add_test(tc, init_rules);
    tcase_add_test(tc, free_null);
    tcase_add_test(tc, partial_last_batch);
    tcase_add_test(tc, weights_only);
    tcase_add_test(tc, foreign_handle);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
