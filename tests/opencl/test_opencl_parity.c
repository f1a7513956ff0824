/* Training parity: the same networks, from the same weights and batches,
 * trained with SGD (clg_grad + clg_assign) on the cpu backend and on the
 * opencl backend agree step by step.
 *
 * Tolerance: every step's loss and every final parameter agree within
 * 1e-4 * max(1, |cpu value|). The two backends sum in different orders
 * (CPU: double accumulators; OpenCL: float trees and CLBlast's tiling), so
 * bit equality is not expected; 1e-4 is the reduction/GEMM tolerance of the
 * conformance suite, and the drift over these few steps stays well inside it. */
#include <check.h>
#include <clgrad/clgrad.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seednet.h"

#define PARITY_TOL 1e-4
#define SEED_STEPS 40
#define MLP_STEPS 30
#define MLP_BATCH 16
#define MLP_IN 20
#define MLP_HIDDEN 32
#define MLP_CLASSES 5

static const char *const params[] = {"0.weight", "0.bias", "2.weight", "2.bias"};

typedef struct run {
    clg_ctx *ctx;
    clg_device *dev;
    clg_store *st;
    clg_graph *g;
    clg_plan *plan;
    clg_t loss;
} run;

static void run_open(run *r, const char *backend)
{
    memset(r, 0, sizeof *r);
    r->ctx = clg_ctx_new();
    ck_assert_ptr_nonnull(r->ctx);
    clg_status s = clg_device_open(r->ctx, backend, 0, &r->dev);
    ck_assert_msg(s == CLG_OK, "open %s: %s", backend, clg_ctx_error(r->ctx));
    ck_assert_int_eq(clg_store_new(r->dev, &r->st), CLG_OK);
    r->g = clg_graph_new(r->ctx);
    ck_assert_ptr_nonnull(r->g);
}

static void run_compile(run *r)
{
    ck_assert_msg(r->loss != CLG_NONE, "graph: %s", clg_graph_error(r->g));
    clg_compile_opts opts = {0};
    clg_status s = clg_compile(r->g, r->dev, &r->loss, 1, &opts, &r->plan);
    ck_assert_msg(s == CLG_OK, "compile on %s: %s", clg_device_backend(r->dev),
                  clg_ctx_error(r->ctx));
}

static float run_step(run *r, const char *xname, const void *x, size_t xb, const char *yname,
                      const void *y, size_t yb)
{
    float l = NAN;
    clg_status s = clg_plan_set_input(r->plan, xname, x, xb);
    if (s == CLG_OK)
        s = clg_plan_set_input(r->plan, yname, y, yb);
    if (s == CLG_OK)
        s = clg_plan_run(r->plan);
    if (s == CLG_OK)
        s = clg_plan_read(r->plan, r->loss, &l, sizeof l);
    ck_assert_msg(s == CLG_OK, "step on %s: %s", clg_device_backend(r->dev),
                  clg_ctx_error(r->ctx));
    return l;
}

static void run_close(run *r)
{
    clg_plan_free(r->plan);
    clg_graph_free(r->g);
    clg_store_free(r->st);
    clg_device_close(r->dev);
    clg_ctx_free(r->ctx);
}

static void assert_close(double cpu, double ocl, const char *what, int step)
{
    double tol = PARITY_TOL * fmax(1.0, fabs(cpu));
    ck_assert_msg(fabs(cpu - ocl) <= tol, "%s (step %d): cpu %.9g opencl %.9g, diff %.3g > %.3g",
                  what, step, cpu, ocl, fabs(cpu - ocl), tol);
}

static void compare_params(run *a, run *b)
{
    for (int i = 0; i < 4; i++) {
        int idx = clg_store_find(a->st, params[i]);
        ck_assert_int_ge(idx, 0);
        clg_shape sh = clg_store_shape(a->st, idx);
        size_t n = (size_t)clg_shape_numel(&sh);
        float *pa = malloc(n * 4), *pb = malloc(n * 4);
        ck_assert_int_eq(clg_store_read(a->st, params[i], pa, n * 4), CLG_OK);
        ck_assert_int_eq(clg_store_read(b->st, params[i], pb, n * 4), CLG_OK);
        for (size_t j = 0; j < n; j++)
            assert_close(pa[j], pb[j], params[i], -1);
        free(pa);
        free(pb);
    }
}

START_TEST(seed_network_parity)
{
    run r[2];
    const char *names[2] = {"cpu", "opencl"};
    for (int k = 0; k < 2; k++) {
        run_open(&r[k], names[k]);
        clg_rng rng;
        clg_rng_seed(&rng, 7); /* same seed: the same initial weights */
        r[k].loss = seed_step_graph(r[k].g, r[k].st, &rng, SEED_BATCH, SEED_LR);
        run_compile(&r[k]);
    }
    compare_params(&r[0], &r[1]);
    float x[SEED_BATCH * SEED_IN], y[SEED_BATCH];
    clg_rng data;
    clg_rng_seed(&data, 99);
    for (int step = 0; step < SEED_STEPS; step++) {
        for (int i = 0; i < SEED_BATCH * SEED_IN; i++)
            x[i] = (float)clg_rng_normal(&data);
        for (int i = 0; i < SEED_BATCH; i++)
            y[i] = (float)clg_rng_normal(&data);
        float lc = run_step(&r[0], "x", x, sizeof x, "y", y, sizeof y);
        float lo = run_step(&r[1], "x", x, sizeof x, "y", y, sizeof y);
        assert_close(lc, lo, "seed loss", step);
    }
    compare_params(&r[0], &r[1]);
    run_close(&r[0]);
    run_close(&r[1]);
}
END_TEST

/* Linear(20,32) -> ReLU -> Linear(32,5) -> log_softmax -> NLL through
 * gather, then plain SGD on every parameter. */
static clg_t mlp_step_graph(clg_graph *g, clg_store *st, clg_rng *rng, float lr)
{
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(MLP_BATCH, MLP_IN));
    clg_t y = clg_input(g, "y", CLG_I32, &CLG_SHAPE(MLP_BATCH, 1));
    clg_t h = clg_relu(g, clg_linear(g, st, "0", x, MLP_IN, MLP_HIDDEN, 1, rng));
    clg_t logits = clg_linear(g, st, "2", h, MLP_HIDDEN, MLP_CLASSES, 1, rng);
    clg_t picked = clg_gather(g, clg_log_softmax(g, logits, 1), y, 1);
    clg_t loss = clg_neg(g, clg_mean(g, picked, NULL, 0, 0));
    if (loss == CLG_NONE)
        return CLG_NONE;
    clg_t p[4], grad[4];
    for (int i = 0; i < 4; i++)
        p[i] = clg_param(g, st, params[i]);
    if (clg_grad(g, loss, CLG_NONE, p, 4, grad) != CLG_OK)
        return CLG_NONE;
    for (int i = 0; i < 4; i++)
        if (clg_assign(g, p[i], clg_sub(g, p[i], clg_mul_scalar(g, grad[i], lr))) != CLG_OK)
            return CLG_NONE;
    return loss;
}

START_TEST(mlp_classifier_parity)
{
    run r[2];
    const char *names[2] = {"cpu", "opencl"};
    for (int k = 0; k < 2; k++) {
        run_open(&r[k], names[k]);
        clg_rng rng;
        clg_rng_seed(&rng, 11);
        r[k].loss = mlp_step_graph(r[k].g, r[k].st, &rng, 0.2f);
        run_compile(&r[k]);
    }
    /* Labels from a fixed random linear teacher, so the task is learnable. */
    clg_rng data;
    clg_rng_seed(&data, 5);
    float teacher[MLP_CLASSES * MLP_IN];
    for (int i = 0; i < MLP_CLASSES * MLP_IN; i++)
        teacher[i] = (float)clg_rng_normal(&data);
    float x[MLP_BATCH * MLP_IN];
    int32_t y[MLP_BATCH];
    float first = 0, last = 0;
    for (int step = 0; step < MLP_STEPS; step++) {
        for (int i = 0; i < MLP_BATCH * MLP_IN; i++)
            x[i] = (float)clg_rng_normal(&data);
        for (int b = 0; b < MLP_BATCH; b++) {
            int best = 0;
            double bv = -INFINITY;
            for (int c = 0; c < MLP_CLASSES; c++) {
                double v = 0;
                for (int j = 0; j < MLP_IN; j++)
                    v += teacher[c * MLP_IN + j] * x[b * MLP_IN + j];
                if (v > bv) {
                    bv = v;
                    best = c;
                }
            }
            y[b] = best;
        }
        float lc = run_step(&r[0], "x", x, sizeof x, "y", y, sizeof y);
        float lo = run_step(&r[1], "x", x, sizeof x, "y", y, sizeof y);
        assert_close(lc, lo, "mlp loss", step);
        if (step == 0)
            first = lc;
        last = lc;
    }
    /* Not a parity condition, but a run that learns nothing would make the
     * comparison above weak. */
    ck_assert_msg(last < first, "mlp loss did not fall: %g -> %g", first, last);
    compare_params(&r[0], &r[1]);
    run_close(&r[0]);
    run_close(&r[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opencl-parity");
    TCase *tc = tcase_create("parity");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, seed_network_parity);
    tcase_add_test(tc, mlp_classifier_parity);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
