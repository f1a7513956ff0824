/* The public layers (clg_linear, clg_layer_norm, clg_batch_norm, clg_dropout)
 * on every backend: outputs, input and parameter gradients and BatchNorm's
 * updated running statistics against PyTorch (fixtures/layers.safetensors,
 * written by gen_layer_fixtures.py; 1e-4 relative), and dropout's mask
 * against the Philox reference (clgrad/philox.h, itself checked against
 * Random123's known answers) bit for bit, so every backend draws the same. */
#include "tutil.h"

#include <clgrad/data.h>
#include <clgrad/philox.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static clg_tensor_set *fix;

static const clg_named_tensor *T(const char *cas, const char *what)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s", cas, what);
    int i = clg_tensor_set_find(fix, name);
    ck_assert_msg(i >= 0, "fixture lacks %s (run tests/core/gen_layer_fixtures.py)", name);
    return &fix->t[i];
}

static int has(const char *cas, const char *what)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s", cas, what);
    return clg_tensor_set_find(fix, name) >= 0;
}

/* |got - want| <= 1e-4 |want| + 1e-5 max|want| + 1e-6, element by element. */
static void close_to(const char *cas, const char *what, const float *got)
{
    const clg_named_tensor *w = T(cas, what);
    const float *want = w->data;
    int64_t n = clg_shape_numel(&w->shape);
    double big = 0;
    for (int64_t i = 0; i < n; i++)
        big = fmax(big, fabs((double)want[i]));
    for (int64_t i = 0; i < n; i++) {
        double tol = 1e-4 * fabs((double)want[i]) + 1e-5 * big + 1e-6;
        ck_assert_msg(fabs((double)got[i] - want[i]) <= tol,
                      "%s.%s[%lld] on %s: clgrad %.9g, torch %.9g", cas, what, (long long)i,
                      tu_backend, (double)got[i], (double)want[i]);
    }
}

typedef enum {
    L_LINEAR, L_LAYERNORM, L_BATCHNORM, L_CONV, L_MAXPOOL, L_AVGPOOL, L_ADAPTIVE, L_EMBEDDING,
    L_RECURRENT, L_ATTENTION, L_TRANSFORMER
} layer_kind;

static double meta_num(const char *cas, const char *key, double def)
{
    const char *js = clg_tensor_set_get_meta(fix, cas);
    ck_assert_ptr_nonnull(js);
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(js, pat);
    return p ? strtod(p + strlen(pat), NULL) : def;
}

static void run_layer(const char *cas, layer_kind kind)
{
    clg_device *dev = tu_device();
    clg_ctx *ctx = tu_ctx();
    clg_store *st;
    ck_assert_int_eq(clg_store_new(dev, &st), CLG_OK);
    const char *buffers[] = { "running_mean", "running_var", "num_batches_tracked" };
    char name[2200];
    /* parameters: the fixture's "<cas>.<p>" that have a gradient "<cas>.d<p>" */
    char params[16][128];
    int nparam = 0;
    size_t cl = strlen(cas);
    for (int i = 0; i < fix->n; i++) {
        const char *nm = fix->t[i].name;
        if (strncmp(nm, cas, cl) || nm[cl] != '.' || nm[cl + 1] != 'd' || !strcmp(nm + cl + 1, "dx"))
            continue;
        ck_assert_int_lt(nparam, 16);
        snprintf(params[nparam], sizeof params[nparam], "%s", nm + cl + 2);
        const clg_named_tensor *t = T(cas, params[nparam]);
        snprintf(name, sizeof name, "m.%s", params[nparam]);
        ck_assert_int_eq(clg_store_add(st, name, t->dtype, &t->shape, t->data), CLG_OK);
        nparam++;
    }
    if (kind != L_MAXPOOL && kind != L_AVGPOOL && kind != L_ADAPTIVE)
        ck_assert_msg(nparam > 0, "%s: no parameter gradients in the fixture", cas);
    int nbuf = kind == L_BATCHNORM ? 3 : 0;
    for (int i = 0; i < nbuf; i++) {
        const clg_named_tensor *t = T(cas, buffers[i]);
        snprintf(name, sizeof name, "m.%s", buffers[i]);
        ck_assert_int_eq(clg_store_add(st, name, t->dtype, &t->shape, t->data), CLG_OK);
        ck_assert_int_eq(clg_store_set_kind(st, name, CLG_TENSOR_BUFFER), CLG_OK);
    }
    const clg_named_tensor *tx = T(cas, "x"), *tg = T(cas, "g");
    const clg_named_tensor *tw = has(cas, "weight") ? T(cas, "weight") : NULL;
    clg_window2d win = { { (int)meta_num(cas, "kh", 1), (int)meta_num(cas, "kw", 1) },
                         { (int)meta_num(cas, "sh", 1), (int)meta_num(cas, "sw", 1) },
                         { (int)meta_num(cas, "ph", 0), (int)meta_num(cas, "pw", 0) },
                         { (int)meta_num(cas, "dh", 1), (int)meta_num(cas, "dw", 1) } };
    clg_graph *g = clg_graph_new(ctx);
    clg_t x = clg_input(g, "x", tx->dtype, &tx->shape);
    clg_t seed = clg_input(g, "g", CLG_F32, &tg->shape);
    int training = (int)meta_num(cas, "train", 1);
    clg_t y = CLG_NONE;
    switch (kind) {
    case L_LINEAR:
        y = clg_linear(g, st, "m", x, tw->shape.dim[1], tw->shape.dim[0], 1, NULL);
        break;
    case L_LAYERNORM:
        y = clg_layer_norm(g, st, "m", x, (float)meta_num(cas, "eps", 1e-5), 1);
        break;
    case L_BATCHNORM:
        y = clg_batch_norm(g, st, "m", x, (float)meta_num(cas, "momentum", 0.1),
                           (float)meta_num(cas, "eps", 1e-5), training);
        break;
    case L_CONV:
        y = clg_conv2d(g, st, "m", x, (int64_t)meta_num(cas, "out", 1), &win,
                       (int)meta_num(cas, "groups", 1), (int)meta_num(cas, "bias", 1), NULL);
        break;
    case L_MAXPOOL: y = clg_max_pool2d(g, x, &win); break;
    case L_AVGPOOL: y = clg_avg_pool2d(g, x, &win); break;
    case L_ADAPTIVE:
        y = clg_adaptive_avg_pool2d(g, x, (int64_t)meta_num(cas, "oh", 1),
                                    (int64_t)meta_num(cas, "ow", 1));
        break;
    case L_EMBEDDING:
        y = clg_embedding(g, st, "m", x, (int64_t)meta_num(cas, "vocab", 1),
                          (int64_t)meta_num(cas, "dim", 1), NULL);
        break;
    case L_RECURRENT:
        y = clg_recurrent(g, st, "m", x, (clg_recurrent_kind)meta_num(cas, "kind", 0),
                          (int64_t)meta_num(cas, "hidden", 1), (int)meta_num(cas, "layers", 1), NULL);
        break;
    case L_ATTENTION:
        y = clg_self_attention(g, st, "m", x, (int)meta_num(cas, "heads", 1),
                               (int)meta_num(cas, "causal", 0), 0.0f, CLG_NONE, 0, NULL);
        break;
    case L_TRANSFORMER:
        y = clg_transformer_layer(g, st, "m", x, (int)meta_num(cas, "heads", 1),
                                  (int64_t)meta_num(cas, "ff", 1), (int)meta_num(cas, "causal", 0),
                                  (int)meta_num(cas, "gelu", 0), 0.0f, CLG_NONE, 0, NULL);
        break;
    }
    ck_assert_msg(y != CLG_NONE, "%s: %s", cas, clg_graph_error(g));
    int with_dx = tx->dtype == CLG_F32;
    clg_t wrt[17], gr[17];
    int nw = 0;
    if (with_dx)
        wrt[nw++] = x;
    for (int i = 0; i < nparam; i++) {
        snprintf(name, sizeof name, "m.%s", params[i]);
        wrt[nw++] = clg_param(g, st, name);
    }
    ck_assert_msg(clg_grad(g, y, seed, wrt, nw, gr) == CLG_OK, "%s", clg_ctx_error(ctx));
    clg_t outs[18];
    outs[0] = y;
    for (int i = 0; i < nw; i++)
        outs[1 + i] = gr[i];
    clg_plan *p;
    ck_assert_msg(clg_compile(g, dev, outs, 1 + nw, NULL, &p) == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert_int_eq(clg_plan_set_input(p, "x", tx->data, tx->bytes), CLG_OK);
    ck_assert_int_eq(clg_plan_set_input(p, "g", tg->data, tg->bytes), CLG_OK);
    ck_assert_msg(clg_plan_run(p) == CLG_OK, "%s", clg_ctx_error(ctx));
    for (int i = 0; i < 1 + nw; i++) {
        char what[128];
        if (i == 0)
            snprintf(what, sizeof what, "y");
        else if (with_dx && i == 1)
            snprintf(what, sizeof what, "dx");
        else
            snprintf(what, sizeof what, "d%s", params[i - 1 - with_dx]);
        const clg_named_tensor *w = T(cas, what);
        float *buf = malloc(w->bytes);
        ck_assert_int_eq(clg_plan_read(p, outs[i], buf, w->bytes), CLG_OK);
        close_to(cas, what, buf);
        free(buf);
    }
    for (int i = 0; i < nbuf; i++) {
        char after[64];
        snprintf(after, sizeof after, "after.%s", buffers[i]);
        const clg_named_tensor *w = T(cas, after);
        snprintf(name, sizeof name, "m.%s", buffers[i]);
        void *buf = malloc(w->bytes);
        ck_assert_int_eq(clg_store_read(st, name, buf, w->bytes), CLG_OK);
        if (w->dtype == CLG_I32)
            ck_assert_int_eq(*(int32_t *)buf, *(const int32_t *)w->data);
        else
            close_to(cas, after, buf);
        free(buf);
    }
    clg_plan_free(p);
    clg_graph_free(g);
    clg_store_free(st);
}

START_TEST(linear_matches_torch) { run_layer("lin", L_LINEAR); }
END_TEST
START_TEST(layernorm_matches_torch)
{
    run_layer("ln", L_LAYERNORM);
    run_layer("ln2", L_LAYERNORM);
}
END_TEST
START_TEST(batchnorm_matches_torch)
{
    ck_assert(has("bn1", "after.running_var"));
    run_layer("bn1", L_BATCHNORM);  /* [N, C] */
    run_layer("bn1l", L_BATCHNORM); /* [N, C, L] */
    run_layer("bn2", L_BATCHNORM);  /* [N, C, H, W] */
    run_layer("bn2e", L_BATCHNORM); /* eval: running statistics, unchanged */
}
END_TEST

START_TEST(conv2d_matches_torch)
{
    run_layer("conv", L_CONV);   /* 3x3, padding 1 */
    run_layer("convg", L_CONV);  /* groups 2, stride (2, 1), padding (1, 0), dilation (1, 2) */
    run_layer("convnb", L_CONV); /* no bias, stride 2 */
}
END_TEST
START_TEST(pools_match_torch)
{
    run_layer("maxpool", L_MAXPOOL);   /* ties: the gradient to PyTorch's pick */
    run_layer("maxpool3", L_MAXPOOL);  /* overlapping windows, -inf padding */
    run_layer("avgpool", L_AVGPOOL);   /* count_include_pad */
    run_layer("adaptive", L_ADAPTIVE); /* 7x5 -> 3x2: uneven windows */
}
END_TEST

START_TEST(embedding_matches_torch) { run_layer("emb", L_EMBEDDING); }
END_TEST
START_TEST(recurrent_match_torch)
{
    run_layer("rnn", L_RECURRENT);      /* tanh */
    run_layer("rnnrelu2", L_RECURRENT); /* relu, 2 layers */
    run_layer("lstm2", L_RECURRENT);
    run_layer("gru2", L_RECURRENT);
}
END_TEST
START_TEST(attention_matches_torch)
{
    run_layer("attn", L_ATTENTION);
    run_layer("attnc", L_ATTENTION); /* causal */
    run_layer("tfc", L_TRANSFORMER); /* pre-norm, gelu, causal */
    run_layer("tfr", L_TRANSFORMER); /* relu, 3 heads */
}
END_TEST

/* Bad shapes are graph errors naming the layer, not crashes. */
START_TEST(layer_errors)
{
    clg_ctx *ctx = tu_ctx();
    clg_store *st;
    ck_assert_int_eq(clg_store_new(tu_device(), &st), CLG_OK);
    clg_graph *g = clg_graph_new(ctx);
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(4));
    ck_assert_int_eq(clg_batch_norm(g, st, "bn", x, 0.1f, 1e-5f, 1), CLG_NONE);
    ck_assert_ptr_nonnull(strstr(clg_graph_error(g), "batch_norm 'bn': input [4]"));
    clg_graph_free(g);
    g = clg_graph_new(ctx);
    x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(1, 3));
    ck_assert_int_eq(clg_batch_norm(g, st, "bn", x, 0.1f, 1e-5f, 1), CLG_NONE);
    ck_assert_ptr_nonnull(strstr(clg_graph_error(g), "training needs more than 1"));
    clg_graph_free(g);
    g = clg_graph_new(ctx);
    x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(2, 3));
    ck_assert_int_eq(clg_dropout(g, x, 1.5f, CLG_NONE, 0), CLG_NONE);
    ck_assert_ptr_nonnull(strstr(clg_graph_error(g), "dropout: p 1.5"));
    clg_graph_free(g);
    g = clg_graph_new(ctx);
    x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(2, 6, 5, 5));
    clg_window2d w3 = { { 3, 3 }, { 1, 1 }, { 0, 0 }, { 1, 1 } };
    ck_assert_int_eq(clg_conv2d(g, st, "c", x, 4, &w3, 4, 1, NULL), CLG_NONE);
    ck_assert_ptr_nonnull(strstr(clg_graph_error(g), "in_channels 6 and out_channels 4"));
    clg_graph_free(g);
    g = clg_graph_new(ctx);
    x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(2, 6, 2, 5));
    ck_assert_int_eq(clg_max_pool2d(g, x, &w3), CLG_NONE);
    ck_assert_ptr_nonnull(strstr(clg_graph_error(g), "vertical window spans 3 but the input is 2"));
    clg_graph_free(g);
    clg_store_free(st);
}
END_TEST

/* Random123's known answers for philox4x32-10 (kat_vectors). */
START_TEST(philox_known_answers)
{
    static const uint32_t kat[3][10] = {
        { 0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 },
        { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff,
          0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd },
        { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0,
          0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 },
    };
    for (int k = 0; k < 3; k++) {
        uint32_t c[4] = { kat[k][0], kat[k][1], kat[k][2], kat[k][3] };
        clg_philox4x32_10(c, kat[k][4], kat[k][5]);
        for (int i = 0; i < 4; i++)
            ck_assert_uint_eq(c[i], kat[k][6 + i]);
    }
}
END_TEST

/* Dropout's mask is the Philox stream's, bit for bit, on this backend; its
 * gradient is the same mask and scale; a new step draws a new mask. */
START_TEST(dropout_mask_and_gradient)
{
    clg_device *dev = tu_device();
    clg_ctx *ctx = tu_ctx();
    const float p = 0.3f;
    enum { R = 37, C = 53, N = R * C };
    clg_graph *g = clg_graph_new(ctx);
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(R, C));
    clg_t state = clg_input(g, "state", CLG_I32, &CLG_SHAPE(2));
    clg_t seed = clg_input(g, "g", CLG_F32, &CLG_SHAPE(R, C));
    clg_t y = clg_dropout(g, x, p, state, 5);
    clg_t dx;
    ck_assert_int_eq(clg_grad(g, y, seed, &x, 1, &dx), CLG_OK);
    clg_t outs[2] = { y, dx };
    clg_plan *pl;
    ck_assert_msg(clg_compile(g, dev, outs, 2, NULL, &pl) == CLG_OK, "%s", clg_ctx_error(ctx));
    static float xv[N], gv[N], yv[N], dv[N], y2[N];
    for (int i = 0; i < N; i++) {
        xv[i] = 1.0f + (float)(i % 7);
        gv[i] = 0.5f - (float)(i % 3);
    }
    int32_t sv[2] = { 1234, 7 };
    ck_assert_int_eq(clg_plan_set_input(pl, "x", xv, sizeof xv), CLG_OK);
    ck_assert_int_eq(clg_plan_set_input(pl, "g", gv, sizeof gv), CLG_OK);
    ck_assert_int_eq(clg_plan_set_input(pl, "state", sv, sizeof sv), CLG_OK);
    ck_assert_int_eq(clg_plan_run(pl), CLG_OK);
    ck_assert_int_eq(clg_plan_read(pl, y, yv, sizeof yv), CLG_OK);
    ck_assert_int_eq(clg_plan_read(pl, dx, dv, sizeof dv), CLG_OK);
    const float scale = (float)(1.0 / (1.0 - (double)p));
    int zeros = 0;
    for (int i = 0; i < N; i++) {
        int keep = clg_philox_uniform(1234, 5, 7, (uint64_t)i) >= p;
        zeros += !keep;
        ck_assert_msg(yv[i] == (keep ? xv[i] * scale : 0.0f), "y[%d] on %s: %g", i, tu_backend,
                      (double)yv[i]);
        ck_assert_msg(dv[i] == (keep ? scale * gv[i] : 0.0f), "dx[%d] on %s: %g", i, tu_backend,
                      (double)dv[i]);
    }
    ck_assert_msg(fabs((double)zeros / N - p) < 0.04, "dropped %d of %d for p %g", zeros, N,
                  (double)p);
    sv[1] = 8;
    ck_assert_int_eq(clg_plan_set_input(pl, "state", sv, sizeof sv), CLG_OK);
    ck_assert_int_eq(clg_plan_run(pl), CLG_OK);
    ck_assert_int_eq(clg_plan_read(pl, y, y2, sizeof y2), CLG_OK);
    int same = 0;
    for (int i = 0; i < N; i++)
        same += (yv[i] == 0) == (y2[i] == 0);
    ck_assert_msg(same < N * 0.7, "step 8 drew nearly the mask of step 7 (%d of %d agree)", same, N);
    clg_plan_free(pl);
    clg_graph_free(g);
}
END_TEST

static void add_tests(TCase *tc, const char *backend)
{
    (void)backend;
    tcase_add_test(tc, linear_matches_torch);
    tcase_add_test(tc, layernorm_matches_torch);
    tcase_add_test(tc, batchnorm_matches_torch);
    tcase_add_test(tc, conv2d_matches_torch);
    tcase_add_test(tc, pools_match_torch);
    tcase_add_test(tc, embedding_matches_torch);
    tcase_add_test(tc, recurrent_match_torch);
    tcase_add_test(tc, attention_matches_torch);
    tcase_add_test(tc, layer_errors);
    tcase_add_test(tc, philox_known_answers);
    tcase_add_test(tc, dropout_mask_and_gradient);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : LAYER_FIXTURES;
    clg_ctx *ctx = clg_ctx_new();
    if (clg_safetensors_read(ctx, path, &fix) != CLG_OK) {
        fprintf(stderr, "%s\n", clg_ctx_error(ctx));
        clg_ctx_free(ctx);
        return 1;
    }
    clg_ctx_free(ctx);
    int rc = tu_main("layers", add_tests, 300);
    clg_tensor_set_free(fix);
    return rc;
}
