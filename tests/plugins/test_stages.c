/* The staged trainer: the gradient-sync point (through the test collectives
 * of test_collective_plugin.c), parameters versus buffers, and the target
 * kinds losses declare. */
#include "tp_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NIN 6
#define NOUT 3
#define BATCH 8
#define STEPS 7

/* A linear model y = x W^T + b with MSE on fixed data, trained STEPS steps
 * with `optimizer` at `lr`, optionally through collective `coll`; the final
 * weights go to w (NOUT*NIN) and b (NOUT). `buffer` adds a store tensor the
 * model reads, flagged as a buffer: it must come out unchanged. */
static void train(const char *optimizer, double lr, const char *coll, int accumulate,
                  float *w, float *b, int buffer)
{
    clg_ctx *ctx = clg_ctx_new();
    ck_assert_ptr_nonnull(ctx);
    clg_device *dev;
    ck_assert_int_eq(clg_device_open(ctx, tp_backend, 0, &dev), CLG_OK);
    clg_collective *c = NULL;
    if (coll) {
        ck_assert_msg(clg_plugins_load(ctx, COLL_PLUGIN) == CLG_OK, "%s", clg_ctx_error(ctx));
        ck_assert_msg(clg_collective_open(ctx, coll, &c) == CLG_OK, "%s", clg_ctx_error(ctx));
    }
    clg_store *st;
    ck_assert_int_eq(clg_store_new(dev, &st), CLG_OK);
    clg_graph *g = clg_graph_new(ctx);
    clg_rng rng;
    clg_rng_seed(&rng, 7);
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(BATCH, NIN));
    clg_t y = clg_input(g, "y", CLG_F32, &CLG_SHAPE(BATCH, NOUT));
    clg_t pred = clg_linear(g, st, "0", x, NIN, NOUT, 1, &rng);
    float shift[NOUT] = { 0.25f, -0.5f, 1.0f };
    if (buffer) {
        ck_assert_int_eq(clg_store_add(st, "0.shift", CLG_F32, &CLG_SHAPE(NOUT), shift), CLG_OK);
        ck_assert_int_eq(clg_store_set_kind(st, "0.shift", CLG_TENSOR_BUFFER), CLG_OK);
        pred = clg_add(g, pred, clg_param(g, st, "0.shift"));
    }
    clg_t loss;
    ck_assert_int_eq(clg_loss_build(g, "mse", pred, y, &loss), CLG_OK);
    clg_trainer_opts o = { .lr = lr, .optimizer = optimizer, .collective = c,
                           .accumulate = accumulate };
    clg_trainer *tr;
    ck_assert_msg(clg_trainer_new(g, st, loss, &o, &tr) == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert_int_eq(clg_trainer_param_count(tr), 2); /* never the buffer */
    float xs[BATCH * NIN], ys[BATCH * NOUT];
    for (int i = 0; i < BATCH * NIN; i++)
        xs[i] = (float)sin(0.7 * i);
    for (int i = 0; i < BATCH * NOUT; i++)
        ys[i] = (float)cos(0.3 * i);
    ck_assert_int_eq(clg_trainer_set_input(tr, "x", xs, sizeof xs), CLG_OK);
    ck_assert_int_eq(clg_trainer_set_input(tr, "y", ys, sizeof ys), CLG_OK);
    for (int s = 0; s < STEPS; s++) {
        float l;
        ck_assert_msg(clg_trainer_step(tr, &l) == CLG_OK, "%s", clg_ctx_error(ctx));
        ck_assert(isfinite(l));
    }
    ck_assert_int_eq(clg_store_read(st, "0.weight", w, NOUT * NIN * sizeof(float)), CLG_OK);
    ck_assert_int_eq(clg_store_read(st, "0.bias", b, NOUT * sizeof(float)), CLG_OK);
    if (buffer) {
        float after[NOUT];
        ck_assert_int_eq(clg_store_read(st, "0.shift", after, sizeof after), CLG_OK);
        ck_assert_mem_eq(after, shift, sizeof after);
    }
    clg_trainer_free(tr);
    clg_graph_free(g);
    clg_store_free(st);
    clg_collective_close(c);
    clg_device_close(dev);
    clg_ctx_free(ctx);
}

/* The two-plan path with a group of one computes exactly what the fused
 * single plan does: the same ops on the same values, only split. */
static void same_as_fused(const char *optimizer, int accumulate)
{
    float w0[NOUT * NIN], b0[NOUT], w1[NOUT * NIN], b1[NOUT];
    train(optimizer, 0.05, NULL, accumulate, w0, b0, 0);
    train(optimizer, 0.05, "solo", accumulate, w1, b1, 0);
    ck_assert_msg(memcmp(w0, w1, sizeof w0) == 0 && memcmp(b0, b1, sizeof b0) == 0,
                  "%s: staged weights differ from the fused plan's", optimizer);
}

START_TEST(test_sync_solo_sgd) { same_as_fused("sgd:momentum=0.9", 1); }
END_TEST
START_TEST(test_sync_solo_adam) { same_as_fused("adam", 1); }
END_TEST
START_TEST(test_sync_solo_accumulate) { same_as_fused("adamw", 2); }
END_TEST

/* The update sees the synchronised gradient: two ranks with equal
 * gradients under plain SGD step like one rank at twice the rate (both
 * doublings are exact in f32, so the weights are bit-identical). */
START_TEST(test_sync_twin_doubles_gradient)
{
    float w0[NOUT * NIN], b0[NOUT], w1[NOUT * NIN], b1[NOUT];
    train("sgd", 0.1, NULL, 1, w0, b0, 0);
    train("sgd", 0.05, "twin", 1, w1, b1, 0);
    ck_assert_mem_eq(w0, w1, sizeof w0);
    ck_assert_mem_eq(b0, b1, sizeof b0);
}
END_TEST

/* A buffer the model reads is neither trained nor changed. */
START_TEST(test_buffer_not_trained)
{
    float w[NOUT * NIN], b[NOUT];
    train("adam", 0.05, NULL, 1, w, b, 1);
}
END_TEST

/* Naming a buffer as a parameter is refused, naming it. */
START_TEST(test_buffer_refused_as_param)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_device *dev;
    ck_assert_int_eq(clg_device_open(ctx, tp_backend, 0, &dev), CLG_OK);
    clg_store *st;
    ck_assert_int_eq(clg_store_new(dev, &st), CLG_OK);
    ck_assert_int_eq(clg_store_add(st, "1.running_mean", CLG_F32, &CLG_SHAPE(3), NULL), CLG_OK);
    ck_assert_int_eq(clg_store_set_kind(st, "1.running_mean", CLG_TENSOR_BUFFER), CLG_OK);
    clg_graph *g = clg_graph_new(ctx);
    clg_t m = clg_param(g, st, "1.running_mean");
    clg_t loss = clg_sum(g, clg_mul(g, m, m), NULL, 0, 0);
    const char *names[] = { "1.running_mean" };
    clg_trainer_opts o = { .lr = 0.1, .params = names, .n_params = 1 };
    clg_trainer *tr = NULL;
    ck_assert_int_ne(clg_trainer_new(g, st, loss, &o, &tr), CLG_OK);
    const char *msg = clg_ctx_error(ctx);
    ck_assert_msg(strstr(msg, "1.running_mean") && strstr(msg, "buffer"), "message: %s", msg);
    /* and with no list, a graph reading only buffers has nothing to train */
    clg_trainer_opts o2 = { .lr = 0.1 };
    ck_assert_int_ne(clg_trainer_new(g, st, loss, &o2, &tr), CLG_OK);
    clg_graph_free(g);
    clg_store_free(st);
    clg_device_close(dev);
    clg_ctx_free(ctx);
}
END_TEST

/* Losses declare what target they take; the built-ins' declarations. */
START_TEST(test_loss_target_kinds)
{
    clg_ctx *ctx = clg_ctx_new();
    struct { const char *spec; clg_target_kind want; } cases[] = {
        { "cross-entropy", CLG_TARGET_CLASS_INDEX },
        { "cross-entropy:label_smoothing=0.1", CLG_TARGET_CLASS_INDEX },
        { "nll", CLG_TARGET_CLASS_INDEX },
        { "mse", CLG_TARGET_SAME_SHAPE },
        { "bce-with-logits", CLG_TARGET_SAME_SHAPE },
        { "huber", CLG_TARGET_SAME_SHAPE },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clg_target_kind k = 0;
        ck_assert_msg(clg_loss_target(ctx, cases[i].spec, &k) == CLG_OK, "%s",
                      clg_ctx_error(ctx));
        ck_assert_msg(k == cases[i].want, "%s: target kind %d, want %d", cases[i].spec, (int)k,
                      (int)cases[i].want);
    }
    clg_target_kind k;
    ck_assert_int_ne(clg_loss_target(ctx, "no-such-loss", &k), CLG_OK);
    clg_ctx_free(ctx);
}
END_TEST

/* Without a launcher's environment no collective is detected: a NULL group
 * of one, not an error. */
START_TEST(test_collective_detect_none)
{
    clg_ctx *ctx = clg_ctx_new();
    ck_assert_int_eq(clg_plugins_load(ctx, COLL_PLUGIN), CLG_OK);
    clg_collective *c = (clg_collective *)1;
    ck_assert_int_eq(clg_collective_open(ctx, NULL, &c), CLG_OK);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(clg_collective_size(c), 1);
    ck_assert_int_eq(clg_collective_rank(c), 0);
    clg_ctx_free(ctx);
}
END_TEST

static void add(TCase *tc)
{
    tcase_add_test(tc, test_sync_solo_sgd);
    tcase_add_test(tc, test_sync_solo_adam);
    tcase_add_test(tc, test_sync_solo_accumulate);
    tcase_add_test(tc, test_sync_twin_doubles_gradient);
    tcase_add_test(tc, test_buffer_not_trained);
    tcase_add_test(tc, test_buffer_refused_as_param);
    tcase_add_test(tc, test_loss_target_kinds);
    tcase_add_test(tc, test_collective_detect_none);
}

int main(void)
{
    return tp_main("stages", add);
}
