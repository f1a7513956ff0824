/* --model pipelines through the command (issue #11): the grammar and its
 * errors (each names the layer's index and spec), `clgrad layers`, @FILE,
 * nn.Sequential numbering, buffers saved and restored, exact resume with
 * batchnorm, and train/eval graphs switching by themselves. Weights against
 * PyTorch are the pipe_* cases of test_cli (fixtures from gen_fixtures.py).
 * argv[1]: the clgrad executable; argv[2]: tests/cli/fixtures. */
#include <clgrad/data.h>

#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "cmd_short.h"

static const char *fixtures;

static clg_tensor_set *load(const char *path)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_tensor_set *s = NULL;
    ck_assert_msg(clg_safetensors_read(ctx, path, &s) == CLG_OK, "%s", clg_ctx_error(ctx));
    clg_ctx_free(ctx);
    return s;
}

static int same_tensors(const char *a, const char *b)
{
    clg_tensor_set *x = load(a), *y = load(b);
    int same = x->n == y->n && x->n > 0;
    for (int i = 0; same && i < x->n; i++)
        same = !strcmp(x->t[i].name, y->t[i].name) && x->t[i].bytes == y->t[i].bytes &&
               !memcmp(x->t[i].data, y->t[i].data, x->t[i].bytes);
    clg_tensor_set_free(x);
    clg_tensor_set_free(y);
    return same;
}

#define DATA "--data csv:%s/cls.csv,classes=3"

START_TEST(layers_listing)
{
    ck_assert_int_eq(run("layers"), 0);
    const char *names[] = { "linear", "relu", "tanh", "sigmoid", "gelu", "leakyrelu", "flatten",
                            "reshape", "layernorm", "batchnorm", "mlp:H1" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ck_assert_msg(strstr(out, names[i]) != NULL, "clgrad layers lacks %s:\n%s", names[i], out);
    ck_assert_int_eq(run("layers batchnorm"), 0);
    ck_assert_ptr_nonnull(strstr(out, "momentum"));
    ck_assert_ptr_nonnull(strstr(out, "0.1"));
    ck_assert_ptr_nonnull(strstr(out, "eps"));
    ck_assert_int_eq(run("layers gelu"), 0);
    ck_assert_ptr_nonnull(strstr(out, "none|tanh"));
    refused(run("layers nosuch"), "no layer named 'nosuch'", "batchnorm", NULL);
    refused(run("layers a b"), "usage", NULL);
}
END_TEST

START_TEST(bad_specs_name_the_layer)
{
    char data[600];
    snprintf(data, sizeof data, DATA, fixtures);
    refused(run("train %s --model 'linear:out=4 > nosuch:k=1 > linear'", data),
            "layer 1 (nosuch:k=1): unknown layer 'nosuch'", "known: linear", NULL);
    refused(run("train %s --model 'linear:out=4 > leakyrelu:slop=1 > linear'", data),
            "layer 1 (leakyrelu:slop=1): leakyrelu has no key 'slop' (keys: slope)", NULL);
    refused(run("train %s --model 'linear:out=4 > leakyrelu:slope=x > linear'", data),
            "layer 1 (leakyrelu:slope=x): slope=x is not a number", NULL);
    refused(run("train %s --model 'linear:out=4,out=5 > linear'", data), "key out given twice", NULL);
    refused(run("train %s --model 'linear:out=0 > linear'", data),
            "layer 0 (linear:out=0): out=0 is not an integer", NULL);
    refused(run("train %s --model 'linear:out=2.5 > linear'", data), "out=2.5 is not an integer", NULL);
    refused(run("train %s --model 'gelu:approximate=fast > linear'", data),
            "approximate=fast is not one of none|tanh", NULL);
    refused(run("train %s --model 'layernorm:eps=0 > linear'", data), "eps=0 is not a number", NULL);
    refused(run("train %s --model 'reshape > linear'", data), "layer 0 (reshape): reshape needs shape=",
            NULL);
    refused(run("train %s --model 'reshape:shape=2/0 > linear'", data), "shape=2/0 is not a list", NULL);
    refused(run("train %s --model 'relu > > linear'", data), "layer 1 is empty", NULL);
    refused(run("train %s --model '> linear'", data), "layer 0 is empty", NULL);
    refused(run("train %s --model batchnorm", data), "'batchnorm' is a layer, not a preset", NULL);
    refused(run("train %s --model cnnn:3", data), "unknown model 'cnnn'", NULL);
    refused(run("train %s --model mlp:x", data), "hidden size 'x' is not a positive integer", NULL);
    /* shape errors: before anything runs, naming index, spec and shapes */
    refused(run("train %s --model 'linear > linear'", data),
            "layer 0 (linear): out= is required (only the last linear", NULL);
    refused(run("train %s --batch-size 8 --model 'linear:out=6 > reshape:shape=4/-1 > linear'", data),
            "layer 1 (reshape:shape=4/-1): input [8, 6] (6 values per sample) cannot be viewed as",
            NULL);
    refused(run("train %s --batch-size 8 --model 'linear:out=6 > reshape:shape=1/1/2/3 > batchnorm > linear'",
                data),
            "layer 2 (batchnorm): input [8, 1, 1, 2, 3] is not [N, C]", NULL);
    refused(run("train %s --model @%s", data, P("missing.txt")), "--model @", "cannot open", NULL);
    FILE *f = fopen(P("empty.txt"), "w");
    fputs("# nothing but a comment\n\n", f);
    fclose(f);
    refused(run("train %s --model @%s", data, P("empty.txt")), "no layers in the file", NULL);
}
END_TEST

/* nn.Sequential numbering, activations and views included; @FILE equals the
 * inline pipeline; the last linear's out comes from the data. */
START_TEST(numbering_and_file)
{
    char data[600];
    snprintf(data, sizeof data, DATA, fixtures);
    const char *spec = "linear:out=6 > relu > reshape:shape=2/3 > layernorm > flatten > "
                       "batchnorm > linear";
    ck_assert_int_eq(run("train %s --model '%s' --epochs 1 --seed 3 --save %s --quiet", data, spec,
                         P("a.safetensors")), 0);
    clg_tensor_set *s = load(P("a.safetensors"));
    const char *want[] = { "0.weight", "0.bias", "3.weight", "3.bias", "5.weight", "5.bias",
                           "5.running_mean", "5.running_var", "5.num_batches_tracked",
                           "6.weight", "6.bias" };
    ck_assert_int_eq(s->n, 11);
    for (int i = 0; i < 11; i++)
        ck_assert_msg(clg_tensor_set_find(s, want[i]) >= 0, "no tensor %s", want[i]);
    int k = clg_tensor_set_find(s, "3.weight");
    ck_assert_int_eq(s->t[k].shape.ndim, 1);
    ck_assert_int_eq(s->t[k].shape.dim[0], 3); /* layernorm over the last dim of [B, 2, 3] */
    k = clg_tensor_set_find(s, "6.weight");
    ck_assert_int_eq(s->t[k].shape.dim[0], 3); /* classes */
    ck_assert_int_eq(s->t[k].shape.dim[1], 6);
    k = clg_tensor_set_find(s, "5.num_batches_tracked");
    ck_assert_int_eq(s->t[k].dtype, CLG_I32);
    ck_assert_int_eq(*(const int32_t *)s->t[k].data, 1); /* 23 rows, batch 32: one step */
    clg_tensor_set_free(s);

    FILE *f = fopen(P("model.txt"), "w");
    fputs("# the same model, one layer per line\n"
          "linear:out=6   # hidden\n"
          "relu\n\n"
          "reshape:shape=2/3\n"
          "layernorm >\n"
          "  flatten\n"
          "batchnorm\n"
          "linear\n", f);
    fclose(f);
    ck_assert_int_eq(run("train %s --model @%s --epochs 1 --seed 3 --save %s --quiet", data,
                         P("model.txt"), P("b.safetensors")), 0);
    ck_assert(same_tensors(P("a.safetensors"), P("b.safetensors")));
    /* a trailing '>' makes a one-layer pipeline */
    ck_assert_int_eq(run("train %s --model 'linear >' --epochs 1 --quiet", data), 0);
}
END_TEST

/* Batchnorm's buffers move with checkpoints (exact resume), --save/--init
 * and eval --load; eval graphs use the running statistics, not the batch's. */
START_TEST(batchnorm_buffers_and_modes)
{
    char data[600];
    snprintf(data, sizeof data, DATA, fixtures);
    char common[1200];
    snprintf(common, sizeof common,
             "%s --model 'linear:out=6 > batchnorm:momentum=0.3 > tanh > linear' --optimizer adam "
             "--lr 0.01 --batch-size 4 --seed 9 --quiet", data);
    ck_assert_int_eq(run("train %s --epochs 3 --save %s", common, P("straight.safetensors")), 0);
    ck_assert_int_eq(run("train %s --epochs 1 --checkpoint-dir %s", common, P("ck")), 0);
    ck_assert_int_eq(run("train --resume %s --epochs 3 --save %s --quiet", P("ck"),
                         P("resumed.safetensors")), 0);
    ck_assert_msg(same_tensors(P("straight.safetensors"), P("resumed.safetensors")),
                  "3 epochs straight and 1 + resume + 2 differ");
    clg_tensor_set *s = load(P("straight.safetensors"));
    int k = clg_tensor_set_find(s, "1.num_batches_tracked");
    ck_assert_int_ge(k, 0);
    ck_assert_int_eq(*(const int32_t *)s->t[k].data, 3 * 6); /* 23 rows: 6 batches an epoch */
    k = clg_tensor_set_find(s, "1.running_var");
    ck_assert(((const float *)s->t[k].data)[0] != 1.0f); /* updated */
    clg_tensor_set_free(s);

    /* eval mode reads the running statistics: changing them changes the loss */
    ck_assert_int_eq(run("eval %s --model 'linear:out=6 > batchnorm > tanh > linear' --load %s --json",
                         data, P("straight.safetensors")), 0);
    static char first[sizeof out];
    snprintf(first, sizeof first, "%s", out);
    ck_assert_ptr_nonnull(strstr(first, "\"loss\""));
    s = load(P("straight.safetensors"));
    k = clg_tensor_set_find(s, "1.running_mean");
    ((float *)s->t[k].data)[0] += 1.0f;
    clg_ctx *ctx = clg_ctx_new();
    ck_assert(clg_safetensors_write(ctx, P("shifted.safetensors"), s) == CLG_OK);
    clg_ctx_free(ctx);
    clg_tensor_set_free(s);
    ck_assert_int_eq(run("eval %s --model 'linear:out=6 > batchnorm > tanh > linear' --load %s --json",
                         data, P("shifted.safetensors")), 0);
    ck_assert_msg(strcmp(first, out) != 0, "eval ignores the running mean: %s", out);
    /* train 0 epochs from these weights with --init: buffers load too, and
     * --save writes them back unchanged */
    ck_assert_int_eq(run("train %s --epochs 0 --init %s --save %s", common, P("straight.safetensors"),
                         P("copy.safetensors")), 0);
    ck_assert(same_tensors(P("straight.safetensors"), P("copy.safetensors")));
}
END_TEST

/* Largest |a - b| / (1e-4 |a| + 1e-6) over two weight files. */
static double worst(const char *pa, const char *pb)
{
    clg_tensor_set *a = load(pa), *b = load(pb);
    ck_assert_int_eq(a->n, b->n);
    double w = 0;
    for (int i = 0; i < a->n; i++) {
        int k = clg_tensor_set_find(b, a->t[i].name);
        ck_assert_int_ge(k, 0);
        if (a->t[i].dtype != CLG_F32) {
            ck_assert(!memcmp(a->t[i].data, b->t[k].data, a->t[i].bytes));
            continue;
        }
        const float *x = a->t[i].data, *y = b->t[k].data;
        for (int64_t j = 0; j < clg_shape_numel(&a->t[i].shape); j++)
            w = fmax(w, fabs((double)x[j] - y[j]) / (1e-4 * fabs((double)x[j]) + 1e-6));
    }
    clg_tensor_set_free(a);
    clg_tensor_set_free(b);
    return w;
}

/* Dropout: the same masks on CPU and OpenCL (weights agree to float
 * rounding, where other masks would differ by far more), exact resume (the
 * step lives in the checkpoint), a seed changes the masks, eval is the
 * identity (its loss does not depend on p). */
START_TEST(dropout_backends_resume_eval)
{
    char data[600];
    snprintf(data, sizeof data, DATA, fixtures);
    char common[1200];
    snprintf(common, sizeof common,
             "%s --model 'linear:out=16 > relu > dropout:p=0.4 > linear:out=8 > dropout > linear' "
             "--optimizer adam --lr 0.01 --batch-size 4 --quiet", data);
    ck_assert_int_eq(run("train %s --seed 2 --epochs 3 --backend cpu --save %s", common,
                         P("cpu.safetensors")), 0);
    ck_assert_int_eq(run("train %s --seed 2 --epochs 1 --backend cpu --checkpoint-dir %s", common,
                         P("ck")), 0);
    ck_assert_int_eq(run("train --resume %s --epochs 3 --save %s --quiet", P("ck"),
                         P("resumed.safetensors")), 0);
    ck_assert_msg(same_tensors(P("cpu.safetensors"), P("resumed.safetensors")),
                  "3 epochs straight and 1 + resume + 2 differ with dropout");
    /* from the same starting weights, another seed draws other masks */
    ck_assert_int_eq(run("train %s --seed 2 --epochs 0 --save %s", common, P("init.safetensors")), 0);
    ck_assert_int_eq(run("train %s --seed 2 --epochs 3 --init %s --save %s", common,
                         P("init.safetensors"), P("seed2.safetensors")), 0);
    ck_assert(same_tensors(P("cpu.safetensors"), P("seed2.safetensors")));
    ck_assert_int_eq(run("train %s --seed 3 --epochs 3 --init %s --save %s", common,
                         P("init.safetensors"), P("seed3.safetensors")), 0);
    ck_assert(worst(P("seed2.safetensors"), P("seed3.safetensors")) > 100);
    int rc = run("train %s --seed 2 --epochs 3 --backend opencl --save %s", common,
                 P("ocl.safetensors"));
    if (rc != 0 && (strstr(err, "opencl") || strstr(err, "OpenCL"))) {
        printf("SKIP: dropout on opencl: %s", err);
    } else {
        ck_assert_msg(rc == 0, "%s", err);
        double w = worst(P("cpu.safetensors"), P("ocl.safetensors"));
        ck_assert_msg(w <= 1, "cpu and opencl weights differ by %g of 1e-4 relative", w);
    }
    ck_assert_int_eq(run("eval %s --model 'linear:out=16 > relu > dropout:p=0.4 > linear:out=8 > "
                         "dropout > linear' --load %s --json", data, P("cpu.safetensors")), 0);
    static char first[sizeof out];
    snprintf(first, sizeof first, "%s", out);
    ck_assert_int_eq(run("eval %s --model 'linear:out=16 > relu > dropout:p=0.9 > linear:out=8 > "
                         "dropout:p=0 > linear' --load %s --json", data, P("cpu.safetensors")), 0);
    ck_assert_str_eq(first, out);
    refused(run("train %s --model 'dropout:p=1 > linear'", data), "p=1 is not a number in [0..1)",
            NULL);
}
END_TEST

/* A CNN (conv with padding and groups, batchnorm 2d, both pools, adaptive
 * pooling, dropout) trains to the same weights and buffers on CPU and
 * OpenCL; the cnn preset expands as documented; bad windows are refused
 * naming the layer and the value. */
START_TEST(cnn_backends_and_errors)
{
    char data[600];
    snprintf(data, sizeof data, "--data csv:%s/img.csv,classes=3", fixtures);
    /* no bias before batchnorm: its gradient there is zero up to rounding,
     * which Adam would blow up into steps that differ between backends */
    const char *spec = "reshape:shape=1/6/6 > conv2d:out=4,k=3,pad=1,bias=0 > batchnorm > relu > "
                       "maxpool2d:k=2 > dropout:p=0.2 > conv2d:out=6,k=2,groups=2,dilation=1 > "
                       "avgpool2d:k=2,stride=1 > adaptiveavgpool2d:out=1 > flatten > linear";
    ck_assert_int_eq(run("train %s --model '%s' --epochs 2 --batch-size 4 --optimizer adam "
                         "--lr 0.01 --seed 1 --backend cpu --save %s --quiet", data, spec,
                         P("cpu.safetensors")), 0);
    int rc = run("train %s --model '%s' --epochs 2 --batch-size 4 --optimizer adam --lr 0.01 "
                 "--seed 1 --backend opencl --save %s --quiet", data, spec, P("ocl.safetensors"));
    if (rc != 0 && (strstr(err, "opencl") || strstr(err, "OpenCL"))) {
        printf("SKIP: cnn on opencl: %s", err);
    } else {
        ck_assert_msg(rc == 0, "%s", err);
        double w = worst(P("cpu.safetensors"), P("ocl.safetensors"));
        ck_assert_msg(w <= 1, "cpu and opencl CNN weights differ by %g of 1e-4 relative", w);
    }
    /* the preset on [1, 12, 12] images: numbered as its pipeline */
    mkdir(P("img"), 0755);
    unsigned char im[16 + 8 * 144] = { 0, 0, 8, 3, 0, 0, 0, 8, 0, 0, 0, 12, 0, 0, 0, 12 };
    unsigned char lb[8 + 8] = { 0, 0, 8, 1, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
    for (int i = 0; i < 8 * 144; i++)
        im[16 + i] = (unsigned char)((i * 37) % 251);
    const char *pre[2] = { "train", "t10k" };
    for (int k = 0; k < 2; k++) {
        char f[700];
        snprintf(f, sizeof f, "%s/%s-images-idx3-ubyte", P("img"), pre[k]);
        FILE *fp = fopen(f, "wb");
        fwrite(im, 1, sizeof im, fp);
        fclose(fp);
        snprintf(f, sizeof f, "%s/%s-labels-idx1-ubyte", P("img"), pre[k]);
        fp = fopen(f, "wb");
        fwrite(lb, 1, sizeof lb, fp);
        fclose(fp);
    }
    ck_assert_int_eq(run("train --data mnist:%s --model cnn:4,8,bn=1,fc=16,dropout=0.25 --epochs 1 "
                         "--batch-size 4 --save %s --quiet", P("img"), P("cnn.safetensors")), 0);
    clg_tensor_set *st = load(P("cnn.safetensors"));
    const char *names[] = { "0.weight", "0.bias", "1.weight", "1.running_mean", "4.weight", "4.bias",
                            "5.running_var", "5.num_batches_tracked", "10.weight", "10.bias",
                            "12.weight", "12.bias" };
    ck_assert_int_eq(st->n, 4 * 2 + 2 * 5);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ck_assert_msg(clg_tensor_set_find(st, names[i]) >= 0, "cnn preset lacks %s", names[i]);
    int k = clg_tensor_set_find(st, "4.weight");
    ck_assert_int_eq(st->t[k].shape.dim[0], 8);
    ck_assert_int_eq(st->t[k].shape.dim[1], 4);
    ck_assert_int_eq(st->t[k].shape.dim[2], 3);
    k = clg_tensor_set_find(st, "10.weight"); /* 12 -> 10 -> 5 -> 3 -> 1: 8 features */
    ck_assert_int_eq(st->t[k].shape.dim[0], 16);
    ck_assert_int_eq(st->t[k].shape.dim[1], 8);
    k = clg_tensor_set_find(st, "12.weight");
    ck_assert_int_eq(st->t[k].shape.dim[0], 10);
    clg_tensor_set_free(st);
    refused(run("train --data mnist:%s --model cnn:4,8,8", P("img")), "layer 6 (conv2d:out=8,k=3): input [8, 8, 1, 1]",
            "window spans 3 but the input is 1", NULL);
    refused(run("train %s --model cnn:4,x", data), "channel count 'x' is not a positive integer", NULL);
    refused(run("train %s --model cnn:bn=1", data), "cnn needs at least one channel count", NULL);
    refused(run("train %s --model 'reshape:shape=1/6/6 > conv2d:out=4,k=7 > flatten > linear'", data),
            "layer 1 (conv2d:out=4,k=7)", "window spans 7 but the input is 6", NULL);
    refused(run("train %s --model 'reshape:shape=2/3/6 > conv2d:out=4,k=3,groups=3 > flatten > linear'",
                data), "layer 1 (conv2d:out=4,k=3,groups=3): groups=3 must divide", NULL);
    refused(run("train %s --model 'reshape:shape=1/6/6 > maxpool2d:k=2,pad=2 > flatten > linear'",
                data), "layer 1 (maxpool2d:k=2,pad=2): pad=2 is more than half of k=2", NULL);
    refused(run("train %s --model 'conv2d:out=4,k=3 > flatten > linear'", data),
            "layer 0 (conv2d:out=4,k=3): input [", "] is not [N, C, H, W]", NULL);
    refused(run("train %s --model 'reshape:shape=1/6/6 > conv2d:k=3 > linear'", data),
            "conv2d needs out=", NULL);
}
END_TEST

/* text:PATH[,seq=T]: byte-level language-model data; its errors name the
 * file and value; a model trains and reports bits per byte. */
START_TEST(text_data)
{
    FILE *f = fopen(P("t.txt"), "w");
    for (int i = 0; i < 40; i++)
        fputs("the quick brown fox jumps over the lazy dog. ", f);
    fclose(f);
    ck_assert_int_eq(run("train --data text:%s,seq=16 --model 'embedding:dim=8 > gru:hidden=8 > linear' "
                         "--epochs 1 --batch-size 16 --json", P("t.txt")), 0);
    ck_assert_msg(strstr(out, "\"test_bits_per_byte\"") != NULL, "%s", out);
    ck_assert_int_eq(run("train --data text:%s,seq=16 --model transformer:d=8,heads=2,layers=1,seq=16 "
                         "--epochs 1 --batch-size 16 --quiet --save %s", P("t.txt"), P("tf.safetensors")), 0);
    clg_tensor_set *st = load(P("tf.safetensors"));
    const char *names[] = { "0.weight", "1.weight", "2.self_attn.in_proj_weight", "2.linear1.weight",
                            "2.norm2.bias", "3.weight", "4.weight", "4.bias" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ck_assert_msg(clg_tensor_set_find(st, names[i]) >= 0, "transformer preset lacks %s", names[i]);
    int k = clg_tensor_set_find(st, "4.weight");
    ck_assert_int_eq(st->t[k].shape.dim[0], 256); /* the vocabulary */
    clg_tensor_set_free(st);
    /* sample: seeded, and the right-padded window is exact for causal
     * models (the same greedy bytes whatever the window length) */
    const char *lm = "embedding:dim=8 > gru:hidden=8 > linear";
    ck_assert_int_eq(run("train --data text:%s,seq=16 --model '%s' --epochs 2 --batch-size 16 "
                         "--optimizer adam --lr 0.02 --quiet --save %s", P("t.txt"), lm,
                         P("lm.safetensors")), 0);
    ck_assert_int_eq(run("sample --load %s --model '%s' --prompt 'the q' --tokens 3 --seq 8 --top-k 1",
                         P("lm.safetensors"), lm), 0);
    static char greedy[sizeof out];
    snprintf(greedy, sizeof greedy, "%s", out);
    ck_assert_msg(!strncmp(greedy, "the q", 5) && strlen(greedy) == 9, "'%s'", greedy);
    ck_assert_int_eq(run("sample --load %s --model '%s' --prompt 'the q' --tokens 3 --seq 40 --top-k 1",
                         P("lm.safetensors"), lm), 0);
    ck_assert_str_eq(greedy, out);
    ck_assert_int_eq(run("sample --load %s --model '%s' --prompt 'the' --tokens 30 --seq 16 --seed 4 "
                         "--temperature 0.7", P("lm.safetensors"), lm), 0);
    snprintf(greedy, sizeof greedy, "%s", out);
    ck_assert_int_eq(run("sample --load %s --model '%s' --prompt 'the' --tokens 30 --seq 16 --seed 4 "
                         "--temperature 0.7", P("lm.safetensors"), lm), 0);
    ck_assert_str_eq(greedy, out);
    refused(run("sample --model '%s'", lm), "needs --load FILE and --model SPEC", NULL);
    refused(run("sample --load %s --model '%s' --temperature 0", P("lm.safetensors"), lm),
            "--temperature 0 is not a number", NULL);
    refused(run("sample --load %s --model 'embedding:dim=8 > gru:hidden=8 > last > linear'",
                P("lm.safetensors")), "not next-byte logits", NULL);
    /* language models train alike on CPU and OpenCL (dropout included) */
    const char *lms[] = { "embedding:dim=8 > lstm:hidden=8,layers=2 > linear",
                          "embedding:dim=8 > posembedding > transformer:heads=2,ff=16,causal=1,"
                          "activation=gelu > layernorm > linear" };
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(run("train --data text:%s,seq=16 --model '%s' --epochs 1 --batch-size 16 "
                             "--optimizer sgd:momentum=0.9 --lr 0.1 --seed 3 --backend cpu --quiet "
                             "--save %s", P("t.txt"), lms[i], P("lm_cpu.safetensors")), 0);
        int orc = run("train --data text:%s,seq=16 --model '%s' --epochs 1 --batch-size 16 "
                      "--optimizer sgd:momentum=0.9 --lr 0.1 --seed 3 --backend opencl --quiet "
                      "--save %s", P("t.txt"), lms[i], P("lm_ocl.safetensors"));
        if (orc != 0 && (strstr(err, "opencl") || strstr(err, "OpenCL"))) {
            printf("SKIP: %s on opencl: %s", lms[i], err);
            continue;
        }
        ck_assert_msg(orc == 0, "%s", err);
        double w = worst(P("lm_cpu.safetensors"), P("lm_ocl.safetensors"));
        ck_assert_msg(w <= 1, "%s: cpu and opencl weights differ by %g of 1e-4 relative", lms[i], w);
    }
    refused(run("train --data text:%s,seq=0", P("t.txt")), "seq=0 is not an integer", NULL);
    refused(run("train --data text:%s,seq=100000", P("t.txt")), "samples of seq=100000", NULL);
    f = fopen(P("empty.txt"), "w");
    fclose(f);
    refused(run("train --data text:%s", P("empty.txt")), "empty.txt: the file is empty", NULL);
    f = fopen(P("bin.dat"), "wb");
    for (int i = 0; i < 300; i++)
        fputc(i % 7 == 0 ? 0 : i, f);
    fclose(f);
    refused(run("train --data text:%s", P("bin.dat")), "bin.dat: does not look like text", NULL);
    refused(run("train --data text:%s --model 'embedding:dim=8 > attention:heads=3 > linear'",
                P("t.txt")), "layer 1 (attention:heads=3): heads=3 does not divide the embedding 8",
            NULL);
    refused(run("train --data text:%s,seq=16 --model 'embedding:dim=8 > posembedding:max=8 > linear'",
                P("t.txt")), "layer 1 (posembedding:max=8): max=8 is shorter than the sequence (16)",
            NULL);
    refused(run("train --data text:%s --model transformer:d=8,heads=2", P("t.txt")),
            "needs positive d=, heads= and layers=", NULL);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_pipeline CLGRAD FIXTURES\n");
        return 2;
    }
    clgrad = argv[1];
    cmd_suite = "pipe";
    fixtures = argv[2];
    cmd_sanitizer_exits();

    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("pipeline");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, layers_listing);
    tcase_add_test(tc, bad_specs_name_the_layer);
    tcase_add_test(tc, numbering_and_file);
    tcase_add_test(tc, batchnorm_buffers_and_modes);
    tcase_add_test(tc, dropout_backends_resume_eval);
    tcase_add_test(tc, cnn_backends_and_errors);
    tcase_add_test(tc, text_data);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
