/* Fine-tuning (issue #13): --freeze keeps tensors bit-identical and out of
 * the optimizer's state, --init-partial reports exactly what it skipped and
 * what it left fresh, F16/BF16/F64 files load as torch's .float() reads
 * them, --save-dtype rounds as torch's .half() / .bfloat16(), and class
 * subsets of MNIST-format data. The weights of --freeze and --lr-scale runs
 * against PyTorch are the groups_* and freeze_* cases of test_cli
 * (gen_fixtures.py); the half-precision fixtures come from gen_halfprec.py.
 * argv[1]: the clgrad executable; argv[2]: tests/cli/fixtures. */
#include <clgrad/data.h>
#include <clgrad/train.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"

#define P cmd_path
#define run(...) cmd_run_to(NULL, __VA_ARGS__)
static const char *fixtures;

static clg_tensor_set *load(const char *path)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_tensor_set *s = NULL;
    ck_assert_msg(clg_safetensors_read(ctx, path, &s) == CLG_OK, "%s", clg_ctx_error(ctx));
    clg_ctx_free(ctx);
    return s;
}

static const clg_named_tensor *get(const clg_tensor_set *s, const char *name)
{
    int i = clg_tensor_set_find(s, name);
    ck_assert_msg(i >= 0, "no tensor '%s'", name);
    return &s->t[i];
}

static int same_bytes(const clg_tensor_set *a, const clg_tensor_set *b, const char *name)
{
    const clg_named_tensor *x = get(a, name), *y = get(b, name);
    return x->bytes == y->bytes && memcmp(x->data, y->data, x->bytes) == 0;
}

static const char *fix(const char *name)
{
    static char buf[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", fixtures, name);
    return buf[k];
}

/* Lines of stderr that start with `prefix`, joined by '|', in order. */
static void lines_with(const char *prefix, char *outb, size_t len)
{
    outb[0] = '\0';
    size_t used = 0;
    for (const char *p = cmd_err; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (!strncmp(p, prefix, strlen(prefix)))
            used += (size_t)snprintf(outb + used, len - used, "%.*s|", (int)n, p);
        p = nl ? nl + 1 : NULL;
    }
}

/* ------------------------------------------------------------- freezing */
START_TEST(freeze_bit_identical_no_state)
{
    /* mlp:5 on the synthetic set: 0.weight [5, 10], 0.bias, 2.weight, 2.bias */
    ck_assert_int_eq(run("train --backend cpu --epochs 0 --save %s --quiet", P("init.st")), 0);
    ck_assert_int_eq(run("train --backend cpu --init %s --freeze '0.*' --optimizer adam --lr 0.05 "
                         "--epochs 2 --checkpoint-dir %s --save %s --quiet",
                         P("init.st"), P("ck"), P("out.st")), 0);
    clg_tensor_set *a = load(P("init.st")), *b = load(P("out.st"));
    ck_assert(same_bytes(a, b, "0.weight"));
    ck_assert(same_bytes(a, b, "0.bias"));
    ck_assert(!same_bytes(a, b, "2.weight")); /* the rest trained */
    ck_assert(!same_bytes(a, b, "2.bias"));
    clg_tensor_set_free(a);
    clg_tensor_set_free(b);
    /* the checkpoint holds Adam's moments for 2.* only */
    clg_tensor_set *c = load(P("ck/" CLG_CHECKPOINT_FILE));
    int n_optim = 0;
    for (int i = 0; i < c->n; i++) {
        ck_assert_msg(strncmp(c->t[i].name, "optim.0.", 8) != 0, "state of a frozen tensor: %s",
                      c->t[i].name);
        n_optim += !strncmp(c->t[i].name, "optim.2.", 8);
    }
    ck_assert_int_eq(n_optim, 4); /* exp_avg and exp_avg_sq of 2.weight and 2.bias */
    clg_tensor_set_free(c);

    /* frozen in the middle: the gradient still flows through 2.* to 0.* */
    ck_assert_int_eq(run("train --backend cpu --init %s --freeze '2.weight,2.bias' --epochs 1 "
                         "--save %s --quiet", P("init.st"), P("mid.st")), 0);
    a = load(P("init.st"));
    b = load(P("mid.st"));
    ck_assert(same_bytes(a, b, "2.weight") && same_bytes(a, b, "2.bias"));
    ck_assert(!same_bytes(a, b, "0.weight"));
    clg_tensor_set_free(a);
    clg_tensor_set_free(b);
}
END_TEST

/* Every group's scheduler state is in the checkpoint: a resumed run ends
 * on the bytes of an uninterrupted one. */
START_TEST(groups_resume_exactly)
{
    const char *a = "--backend cpu --lr-scale '0.*=0.5,2.bias=3' --freeze 2.weight --optimizer adam "
                    "--scheduler plateau:patience=0,factor=0.5,min_lr=0.004 --quiet";
    ck_assert_int_eq(run("train %s --epochs 2 --checkpoint-dir %s", a, P("ck")), 0);
    ck_assert_int_eq(run("train --resume %s --epochs 4 --save %s --quiet", P("ck"), P("r.st")), 0);
    ck_assert_int_eq(run("train %s --epochs 4 --save %s", a, P("s.st")), 0);
    clg_tensor_set *r = load(P("r.st")), *s = load(P("s.st"));
    for (int i = 0; i < s->n; i++)
        ck_assert_msg(same_bytes(r, s, s->t[i].name), "%s differs after resume", s->t[i].name);
    clg_tensor_set_free(r);
    clg_tensor_set_free(s);
    /* other groups or frozen tensors are another run */
    cmd_refused(run("train --resume %s --epochs 5 --freeze '0.*'", P("ck")),
                "--freeze 0.* differs from the checkpoint's run (--freeze 2.weight)", NULL);
    cmd_refused(run("train --resume %s --epochs 5 --lr-scale '0.*=0.5'", P("ck")),
                "--lr-scale 0.*=0.5 differs", NULL);
}
END_TEST

/* Ops per step of an SGD trainer on y = L1(relu(x W0^T + b0)), MSE loss.
 * which: 0 trains everything; 1 leaves 0.* out of params (frozen);
 * 2 feeds W0, b0 as plain inputs (the reference: nothing to differentiate);
 * 3 leaves 1.* out (frozen in the middle: the gradient passes through). */
static int plan_ops(int which)
{
    clg_ctx *c = clg_ctx_new();
    clg_device *dev = NULL;
    clg_store *st = NULL;
    ck_assert_msg(clg_device_open(c, "cpu", 0, &dev) == CLG_OK, "%s", clg_ctx_error(c));
    ck_assert_int_eq(clg_store_new(dev, &st), CLG_OK);
    clg_graph *g = clg_graph_new(c);
    clg_rng r;
    clg_rng_seed(&r, 1);
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(4, 3)), w, b;
    if (which == 2) {
        w = clg_input(g, "w0", CLG_F32, &CLG_SHAPE(5, 3));
        b = clg_input(g, "b0", CLG_F32, &CLG_SHAPE(5));
    } else {
        ck_assert_int_eq(clg_store_add(st, "0.weight", CLG_F32, &CLG_SHAPE(5, 3), NULL), CLG_OK);
        ck_assert_int_eq(clg_store_add(st, "0.bias", CLG_F32, &CLG_SHAPE(5), NULL), CLG_OK);
        w = clg_param(g, st, "0.weight");
        b = clg_param(g, st, "0.bias");
    }
    clg_t h = clg_relu(g, clg_add(g, clg_matmul(g, x, w, 0, 1), b));
    clg_t y = clg_linear(g, st, "1", h, 5, 2, CLG_BIAS, &r);
    clg_t d = clg_sub(g, y, clg_input(g, "t", CLG_F32, &CLG_SHAPE(4, 2)));
    clg_t loss = clg_mean(g, clg_mul(g, d, d), NULL, 0, 0);
    static const char *const all[] = { "0.weight", "0.bias", "1.weight", "1.bias" };
    clg_trainer_opts o = { .lr = 0.1 };
    if (which == 1 || which == 3) {
        o.params = which == 1 ? all + 2 : all;
        o.n_params = 2;
    }
    clg_trainer *tr = NULL;
    ck_assert_msg(clg_trainer_new(g, st, loss, &o, &tr) == CLG_OK, "%s", clg_ctx_error(c));
    clg_plan_stats ps;
    ck_assert_int_eq(clg_plan_stats_get(clg_trainer_plan(tr), &ps), CLG_OK);
    clg_trainer_free(tr);
    clg_graph_free(g);
    clg_store_free(st);
    clg_device_close(dev);
    clg_ctx_free(c);
    return ps.n_ops;
}

/* A frozen tensor costs no gradient work: its plan runs exactly the ops of
 * the same model with that tensor as a constant input. */
START_TEST(freeze_builds_no_weight_gradient)
{
    int all = plan_ops(0), frozen = plan_ops(1), constant = plan_ops(2), middle = plan_ops(3);
    printf("ops per step: all %d, 0.* frozen %d, 0.* constant %d, 1.* frozen %d\n", all, frozen,
           constant, middle);
    ck_assert_int_eq(frozen, constant);
    ck_assert_int_lt(frozen, all);
    ck_assert_int_lt(middle, all);
}
END_TEST

START_TEST(freeze_and_lr_scale_errors)
{
    cmd_refused(run("train --backend cpu --freeze '0.*,9.*' --epochs 1"), "--freeze",
                "pattern '9.*' matches no tensor", NULL);
    cmd_refused(run("train --backend cpu --freeze '*' --epochs 1"), "every parameter", NULL);
    cmd_refused(run("train --backend cpu --lr-scale '0.*=0.1,x*=2' --epochs 1"), "--lr-scale",
                "pattern 'x*' matches no parameter", NULL);
    cmd_refused(run("train --lr-scale '0.*'"), "'0.*' is not PATTERN=FACTOR", NULL);
    cmd_refused(run("train --lr-scale '0.*=fast'"), "factor 'fast' of '0.*'", NULL);
    cmd_refused(run("train --lr-scale '0.*=-1'"), "must be a finite number >= 0", NULL);
    cmd_refused(run("train --freeze ''"), "--freeze: empty list", NULL);
    cmd_refused(run("train --freeze '0.*,,2.*'"), "an empty pattern", NULL);
    cmd_refused(run("eval --freeze '0.*'"), "--freeze is an option of 'train'", NULL);
}
END_TEST

/* --------------------------------------------------------- partial loads */
START_TEST(init_partial_reports_exactly_the_skipped)
{
    /* mlp:5 wants 0.weight [5, 10], 0.bias [5], 2.weight [1, 5], 2.bias [1] */
    clg_ctx *ctx = clg_ctx_new();
    clg_tensor_set *s = clg_tensor_set_new();
    float w[50], b4[4] = { 1, 2, 3, 4 }, x2[2] = { 7, 8 }, h[10];
    for (int i = 0; i < 50; i++)
        w[i] = 0.01f * (float)i - 0.2f;
    for (int i = 0; i < 10; i++)
        h[i] = 0.5f;
    ck_assert_int_eq(clg_tensor_set_add(ctx, s, "0.weight", CLG_F32, &CLG_SHAPE(5, 10), w), CLG_OK);
    ck_assert_int_eq(clg_tensor_set_add(ctx, s, "0.bias", CLG_F32, &CLG_SHAPE(4), b4), CLG_OK);
    ck_assert_int_eq(clg_tensor_set_add(ctx, s, "extra.x", CLG_F32, &CLG_SHAPE(2), x2), CLG_OK);
    ck_assert_int_eq(clg_tensor_set_add(ctx, s, "2.weight", CLG_F32, &CLG_SHAPE(2, 5), h), CLG_OK);
    ck_assert_int_eq(clg_safetensors_write(ctx, P("pre.st"), s), CLG_OK);
    clg_tensor_set_free(s);
    clg_ctx_free(ctx);

    /* strict (no --init-partial) is still refused */
    cmd_refused(run("train --backend cpu --init %s --epochs 0", P("pre.st")), "--init",
                "0.bias", NULL);
    ck_assert_int_eq(run("train --backend cpu --init %s --init-partial --epochs 0 --save %s",
                         P("pre.st"), P("out.st")), 0);
    char got[2048];
    lines_with("clgrad: --init-partial: skipped", got, sizeof got);
    ck_assert_str_eq(got,
                     "clgrad: --init-partial: skipped '0.bias': f32 [4] in the file, f32 [5] in "
                     "the model|"
                     "clgrad: --init-partial: skipped 'extra.x' [2]: absent from the model|"
                     "clgrad: --init-partial: skipped '2.weight': f32 [2, 5] in the file, f32 "
                     "[1, 5] in the model|");
    lines_with("clgrad: --init-partial: fresh", got, sizeof got);
    ck_assert_str_eq(got, "clgrad: --init-partial: fresh '0.bias' (initialised as the model "
                          "builds it)|"
                          "clgrad: --init-partial: fresh '2.weight' (initialised as the model "
                          "builds it)|"
                          "clgrad: --init-partial: fresh '2.bias' (initialised as the model "
                          "builds it)|");
    ck_assert_ptr_nonnull(strstr(cmd_err, "loaded 1 tensors, skipped 3, freshly initialised 3"));
    clg_tensor_set *a = load(P("pre.st")), *o = load(P("out.st"));
    ck_assert(same_bytes(a, o, "0.weight"));
    clg_tensor_set_free(a);
    clg_tensor_set_free(o);
    /* --quiet: no report */
    ck_assert_int_eq(run("train --backend cpu --init %s --init-partial --epochs 0 --quiet",
                         P("pre.st")), 0);
    ck_assert_ptr_null(strstr(cmd_err, "--init-partial"));
    cmd_refused(run("train --init-partial --epochs 0"), "--init-partial needs --init", NULL);

    /* --init-skip: a head of the same shape left fresh on purpose */
    ck_assert_int_eq(run("train --backend cpu --init %s --init-partial --init-skip '0.w*' "
                         "--epochs 0", P("pre.st")), 0);
    lines_with("clgrad: --init-partial: skipped '0.weight'", got, sizeof got);
    ck_assert_str_eq(got, "clgrad: --init-partial: skipped '0.weight': excluded by --init-skip|");
    lines_with("clgrad: --init-partial: fresh '0.weight'", got, sizeof got);
    ck_assert_str_ne(got, "");
    ck_assert_ptr_nonnull(strstr(cmd_err, "loaded 0 tensors, skipped 4, freshly initialised 4"));
    cmd_refused(run("train --backend cpu --init %s --init-partial --init-skip '0.*,9.*' "
                    "--epochs 0", P("pre.st")), "--init-skip: pattern '9.*' matches no tensor",
                NULL);
    cmd_refused(run("train --init %s --init-skip '0.*' --epochs 0", P("pre.st")),
                "--init-skip needs --init FILE --init-partial", NULL);
}
END_TEST

/* ----------------------------------------------------------- precision */
START_TEST(half_precision_loads_as_torch_float)
{
    clg_tensor_set *s = load(fix("halfprec_load.safetensors"));
    static const char *const names[] = { "f16", "bf16", "f64" };
    for (int i = 0; i < 3; i++) {
        char want[32];
        snprintf(want, sizeof want, "%s_want", names[i]);
        const clg_named_tensor *t = get(s, names[i]), *w = get(s, want);
        ck_assert_int_eq(t->dtype, CLG_F32);
        ck_assert(clg_shape_equal(&t->shape, &w->shape));
        /* bit for bit: subnormals, signed zeros, inf and nan included */
        ck_assert_msg(t->bytes == w->bytes && !memcmp(t->data, w->data, t->bytes),
                      "%s differs from torch's .float()", names[i]);
    }
    clg_tensor_set_free(s);
}
END_TEST

START_TEST(save_rounding_as_torch)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_tensor_set *fx = load(fix("halfprec_save.safetensors"));
    const clg_named_tensor *src = get(fx, "src");
    static const struct { clg_dtype dt; const char *bits, *name; } cases[] = {
        { CLG_F16, "f16_bits", "F16" }, { CLG_BF16, "bf16_bits", "BF16" } };
    for (int c = 0; c < 2; c++) {
        clg_tensor_set *s = clg_tensor_set_new();
        ck_assert_int_eq(clg_tensor_set_add(ctx, s, "src", CLG_F32, &src->shape, src->data), CLG_OK);
        int32_t one = 3;
        ck_assert_int_eq(clg_tensor_set_add(ctx, s, "1.num_batches_tracked", CLG_I32,
                                            &CLG_SHAPE(0), &one), CLG_OK);
        ck_assert_int_eq(clg_tensor_set_convert(ctx, s, cases[c].dt), CLG_OK);
        const clg_named_tensor *t = get(s, "src"), *want = get(fx, cases[c].bits);
        ck_assert_int_eq(t->dtype, cases[c].dt);
        int64_t n = clg_shape_numel(&t->shape);
        ck_assert_uint_eq(t->bytes, (size_t)n * 2);
        for (int64_t i = 0; i < n; i++) {
            uint16_t g = ((const uint16_t *)t->data)[i];
            int32_t w = ((const int32_t *)want->data)[i];
            /* torch's nan bits depend on its code path (the vectorised
             * bfloat16 one writes 0xffff, the scalar one 0x7fc0): any nan */
            if (((const float *)src->data)[i] != ((const float *)src->data)[i]) {
                uint16_t e = cases[c].dt == CLG_F16 ? 0x7c00 : 0x7f80;
                ck_assert_msg((g & e) == e && (g & ~e & 0x7fff), "%s of nan: 0x%04x",
                              cases[c].name, g);
                continue;
            }
            ck_assert_msg(g == (uint16_t)w, "%s of %.9g (index %lld): 0x%04x, torch 0x%04x",
                          cases[c].name, (double)((const float *)src->data)[i], (long long)i, g,
                          (unsigned)w);
        }
        ck_assert_int_eq(get(s, "1.num_batches_tracked")->dtype, CLG_I32);
        ck_assert_int_eq(clg_safetensors_write(ctx, P("half.st"), s), CLG_OK);
        char raw[4096];
        cmd_slurp(P("half.st"), raw, sizeof raw);
        char want_dt[64];
        snprintf(want_dt, sizeof want_dt, "\"src\":{\"dtype\":\"%s\"", cases[c].name);
        ck_assert_msg(strstr(raw + 8, want_dt), "header lacks %s", want_dt);
        ck_assert_ptr_nonnull(strstr(raw + 8, "\"1.num_batches_tracked\":{\"dtype\":\"I64\""));
        clg_tensor_set_free(s);
    }
    clg_tensor_set_free(fx);
    clg_ctx_free(ctx);

    /* through the command: weights in f16, BatchNorm's counter still I64, and
     * the file loads back (--init) to the f16 values widened */
    ck_assert_int_eq(run("train --backend cpu --model 'linear:out=4 > batchnorm > linear' "
                         "--epochs 1 --save %s --save-dtype f16 --quiet", P("w16.st")), 0);
    char raw[4096];
    cmd_slurp(P("w16.st"), raw, sizeof raw);
    ck_assert_ptr_nonnull(strstr(raw + 8, "\"0.weight\":{\"dtype\":\"F16\""));
    ck_assert_ptr_nonnull(strstr(raw + 8, "\"1.running_var\":{\"dtype\":\"F16\""));
    ck_assert_ptr_nonnull(strstr(raw + 8, "\"1.num_batches_tracked\":{\"dtype\":\"I64\""));
    ck_assert_int_eq(run("train --backend cpu --model 'linear:out=4 > batchnorm > linear' "
                         "--init %s --epochs 0 --save %s --quiet", P("w16.st"), P("w32.st")), 0);
    clg_tensor_set *a = load(P("w16.st")), *b = load(P("w32.st"));
    ck_assert(same_bytes(a, b, "0.weight") && same_bytes(a, b, "1.num_batches_tracked"));
    clg_tensor_set_free(a);
    clg_tensor_set_free(b);
    cmd_refused(run("train --save-dtype f8"), "--save-dtype f8: unknown", NULL);
}
END_TEST

/* ------------------------------------------------------------- subsets */
static clg_dataset *toy(int n, int classes)
{
    clg_dataset *ds = calloc(1, sizeof *ds);
    ds->n = n;
    ds->n_features = 2;
    ds->classes = classes;
    ds->x = malloc((size_t)n * 2 * sizeof(float));
    ds->labels = malloc((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++) {
        ds->x[2 * i] = (float)i;
        ds->x[2 * i + 1] = -(float)i;
        ds->labels[i] = (i * 7) % classes; /* 0 7 4 1 8 5 2 9 6 3 0 7 ... */
    }
    return ds;
}

START_TEST(subset_classes_limit_remap)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_dataset *ds = toy(40, 10), *sub = NULL;
    const int32_t cls[] = { 7, 2 };
    ck_assert_int_eq(clg_dataset_subset(ctx, ds, cls, 2, 3, &sub), CLG_OK);
    /* class 7 at samples 1, 11, 21, 31; class 2 at 6, 16, 26, 36: the first
     * three of each, in file order, relabelled 7 -> 0, 2 -> 1 */
    static const int want_i[] = { 1, 6, 11, 16, 21, 26 };
    static const int want_l[] = { 0, 1, 0, 1, 0, 1 };
    ck_assert_int_eq(sub->n, 6);
    ck_assert_int_eq(sub->classes, 2);
    for (int i = 0; i < 6; i++) {
        ck_assert_float_eq(sub->x[2 * i], (float)want_i[i]);
        ck_assert_float_eq(sub->x[2 * i + 1], -(float)want_i[i]);
        ck_assert_int_eq(sub->labels[i], want_l[i]);
    }
    clg_dataset_free(sub);
    /* limit alone: labels stay, every class keeps at most 2 */
    ck_assert_int_eq(clg_dataset_subset(ctx, ds, NULL, 0, 2, &sub), CLG_OK);
    ck_assert_int_eq(sub->n, 20);
    ck_assert_int_eq(sub->classes, 10);
    ck_assert_int_eq(sub->labels[0], 0);
    ck_assert_int_eq(sub->labels[10], 0); /* sample 10 */
    ck_assert_float_eq(sub->x[20], 10.0f);
    clg_dataset_free(sub);
    const int32_t bad[] = { 3, 10 }, dup[] = { 4, 4 };
    ck_assert_int_ne(clg_dataset_subset(ctx, ds, bad, 2, -1, &sub), CLG_OK);
    ck_assert_ptr_nonnull(strstr(clg_ctx_error(ctx), "class 10 is out of range"));
    ck_assert_int_ne(clg_dataset_subset(ctx, ds, dup, 2, -1, &sub), CLG_OK);
    ck_assert_ptr_nonnull(strstr(clg_ctx_error(ctx), "class 4 is listed twice"));
    ck_assert_int_ne(clg_dataset_subset(ctx, ds, cls, 2, 0, &sub), CLG_OK);
    ck_assert_ptr_nonnull(strstr(clg_ctx_error(ctx), "limit=0"));
    ck_assert_ptr_null(sub);
    clg_dataset_free(ds);
    clg_ctx_free(ctx);
}
END_TEST

/* Writes an uncompressed MNIST-format pair (train and t10k) of 20 2x2
 * images with labels i % 5. */
static void mnist_dir(const char *d)
{
    mkdir(d, 0755);
    unsigned char im[16 + 80] = { 0, 0, 8, 3, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 2 };
    unsigned char lb[8 + 20] = { 0, 0, 8, 1, 0, 0, 0, 20 };
    for (int i = 0; i < 80; i++)
        im[16 + i] = (unsigned char)(i * 3);
    for (int i = 0; i < 20; i++)
        lb[8 + i] = (unsigned char)(i % 5);
    static const char *const pre[] = { "train", "t10k" };
    for (int k = 0; k < 2; k++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", d, pre[k]);
        FILE *f = fopen(p, "wb");
        ck_assert(f && fwrite(im, 1, sizeof im, f) == sizeof im && fclose(f) == 0);
        snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", d, pre[k]);
        f = fopen(p, "wb");
        ck_assert(f && fwrite(lb, 1, sizeof lb, f) == sizeof lb && fclose(f) == 0);
    }
}

START_TEST(subset_on_the_command_line)
{
    mnist_dir(P("m"));
    /* 2 classes x at most 3 samples (of 4 each) for train and test: a head of 2 */
    ck_assert_int_eq(run("train --backend cpu --data mnist:%s,classes=4/1,limit=3 --model linear "
                         "--epochs 1 --batch-size 6 --save %s --json", P("m"), P("w.st")), 0);
    clg_tensor_set *w = load(P("w.st"));
    ck_assert_int_eq(get(w, "0.weight")->shape.dim[0], 2);
    clg_tensor_set_free(w);
    /* 6 test samples: accuracies are multiples of 1/6 */
    ck_assert_int_eq(run("eval --backend cpu --data mnist:%s,classes=4/1,limit=3 --model linear "
                         "--load %s --json", P("m"), P("w.st")), 0);
    double acc = -1;
    const char *a = strstr(cmd_out, "\"accuracy\": ");
    ck_assert_ptr_nonnull(a);
    acc = atof(a + 12);
    ck_assert_double_eq_tol(acc * 6, (double)(long)(acc * 6 + 0.5), 1e-6);
    cmd_refused(run("train --data mnist:%s,classes=1/12", P("m")), "class 12 is out of range",
                NULL);
    cmd_refused(run("train --data mnist:%s,classes=3/3", P("m")), "class 3 is listed twice",
                NULL);
    cmd_refused(run("train --data mnist:%s,limit=0", P("m")), "limit=0", NULL);
    cmd_refused(run("train --data mnist:%s,classes=", P("m")), "classes= is empty", NULL);
    cmd_refused(run("train --data mnist:%s,clases=1/2", P("m")), "unknown or repeated option",
                NULL);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_finetune CLGRAD FIXTURES\n");
        return 2;
    }
    cmd_clgrad = argv[1];
    cmd_suite = "finetune";
    fixtures = argv[2];
    Suite *s = suite_create("finetune");
    TCase *tc = tcase_create("finetune");
    tcase_add_checked_fixture(tc, cmd_setup, cmd_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, freeze_bit_identical_no_state);
    tcase_add_test(tc, freeze_builds_no_weight_gradient);
    tcase_add_test(tc, groups_resume_exactly);
    tcase_add_test(tc, freeze_and_lr_scale_errors);
    tcase_add_test(tc, init_partial_reports_exactly_the_skipped);
    tcase_add_test(tc, half_precision_loads_as_torch_float);
    tcase_add_test(tc, save_rounding_as_torch);
    tcase_add_test(tc, subset_classes_limit_remap);
    tcase_add_test(tc, subset_on_the_command_line);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
