/* The CPU backend's time for the layer parts that run as their own ops or
 * kernels (docs/performance.md, "Normalisation, pooling and attention's
 * small ops"), through the public API at the reference recipes' shapes:
 * max pooling, batch norm's statistics and gradient sums, layer norm,
 * softmax, cross-entropy, attention's batched per-head GEMMs and its head
 * permute, an LSTM's recurrence forward and backward. Prints the fastest of `repeats` runs of each (thread CPU time, so
 * other jobs on the machine count little), for A/B runs of two builds:
 *
 *     CLGRAD_PLUGIN_PATH=build/backends/cpu OMP_NUM_THREADS=1 build/bench/bench_layer_ops [repeats]
 */
#define _POSIX_C_SOURCE 200809L
#include <clgrad/clgrad.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static clg_ctx *ctx;

static void check(clg_status st, const char *what)
{
    if (st != CLG_OK) {
        fprintf(stderr, "bench_layer_ops: %s: %s\n", what, clg_ctx_error(ctx));
        exit(1);
    }
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Inputs x, a, b (whichever the graph has) filled with a fixed pattern. */
static void feed(clg_plan *p, clg_graph *g, const char *name, clg_t t)
{
    if (t == CLG_NONE)
        return;
    const clg_shape s = clg_shape_of(g, t);
    const size_t n = (size_t)clg_shape_numel(&s);
    float *v = malloc(n * sizeof *v);
    if (!v)
        exit(1);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)((i * 2654435761u) % 1000) * 0.002f - 1.0f;
    check(clg_plan_set_input(p, name, v, n * sizeof *v), name);
    free(v);
}

static void time_it(clg_device *dev, clg_graph *g, clg_t y, clg_t x, clg_t a, clg_t b,
                    const char *what, int repeats)
{
    clg_plan *p;
    check(clg_compile(g, dev, &y, 1, NULL, &p), what);
    feed(p, g, "x", x);
    feed(p, g, "a", a);
    feed(p, g, "b", b);
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        const double t0 = cpu_now();
        check(clg_plan_run(p), what);
        check(clg_device_sync(dev), what);
        const double t = cpu_now() - t0;
        best = t < best ? t : best;
    }
    printf("%-58s %9.3f ms\n", what, best * 1e3);
    clg_plan_free(p);
    clg_graph_free(g);
}

int main(int argc, char **argv)
{
    const int repeats = argc > 1 ? atoi(argv[1]) : 30;
    ctx = clg_ctx_new();
    clg_device *dev;
    if (repeats < 1 || !ctx || clg_device_open(ctx, "cpu", 0, &dev) != CLG_OK) {
        fprintf(stderr, "usage: bench_layer_ops [repeats >= 1] (%s)\n",
                ctx ? clg_ctx_error(ctx) : "no context");
        return 1;
    }
    const clg_window2d w2 = { { 2, 2 }, { 2, 2 }, { 0, 0 }, { 1, 1 } };
    for (int k = 0; k < 2; k++) { /* the cnn preset's first pooling */
        clg_graph *g = clg_graph_new(ctx);
        clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(128, 32, 26, 26)), y;
        y = clg_max_pool2d(g, x, &w2);
        clg_t a = CLG_NONE;
        if (k) {
            a = clg_input(g, "a", CLG_F32, &CLG_SHAPE(128, 32, 13, 13));
            check(clg_grad(g, y, a, &x, 1, &y), "grad");
        }
        time_it(dev, g, y, x, a, CLG_NONE,
                k ? "max_pool2d 2x2 [128,32,26,26]: the input's gradient"
                  : "max_pool2d 2x2 [128,32,26,26] forward", repeats);
    }
    for (int k = 0; k < 2; k++) { /* the cnn preset's first batch norm */
        clg_graph *g = clg_graph_new(ctx);
        const clg_shape s = CLG_SHAPE(128, 32, 26, 26);
        clg_t x = clg_input(g, "x", CLG_F32, &s), a = CLG_NONE, y;
        clg_t w = clg_full(g, &CLG_SHAPE(32), 1.5f), b = clg_full(g, &CLG_SHAPE(32), 0.25f);
        clg_t st = clg_bn_stats(g, x);
        y = st;
        if (k) {
            a = clg_input(g, "a", CLG_F32, &s);
            check(clg_grad(g, clg_bn_apply(g, x, st, w, b, 1e-5f), a, &w, 1, &y), "grad");
        }
        time_it(dev, g, y, x, a, CLG_NONE,
                k ? "batch norm [128,32,26,26]: stats + weight's gradient"
                  : "batch norm [128,32,26,26]: stats", repeats);
    }
    for (int k = 0; k < 2; k++) { /* the Transformer's layer norms */
        clg_graph *g = clg_graph_new(ctx);
        const clg_shape s = CLG_SHAPE(32, 64, 64);
        clg_t x = clg_input(g, "x", CLG_F32, &s), a = CLG_NONE;
        clg_t y = clg_ln_norm(g, x, 1e-5f);
        if (k) {
            a = clg_input(g, "a", CLG_F32, &s);
            check(clg_grad(g, y, a, &x, 1, &y), "grad");
        }
        time_it(dev, g, y, x, a, CLG_NONE,
                k ? "layer norm [32,64,64]: the input's gradient" : "layer norm [32,64,64]",
                repeats);
    }
    { /* causal attention's scores */
        clg_graph *g = clg_graph_new(ctx);
        clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(128, 64, 64));
        time_it(dev, g, clg_softmax(g, x, 2), x, CLG_NONE, CLG_NONE,
                "softmax [128,64,64] over the last dim", repeats);
    }
    { /* the language models' loss: 2048 positions, 256 bytes */
        clg_graph *g = clg_graph_new(ctx);
        clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(2048, 256)), d;
        int32_t *t = malloc(2048 * sizeof *t);
        if (!t)
            return 1;
        for (int i = 0; i < 2048; i++)
            t[i] = (i * 37) % 256;
        clg_t tg = clg_const(g, CLG_I32, &CLG_SHAPE(2048), t);
        free(t);
        clg_t loss = clg_cross_entropy(g, x, tg, -100);
        check(clg_grad(g, loss, clg_full(g, &CLG_SHAPE(2048), 1.0f), &x, 1, &d), "grad");
        time_it(dev, g, d, x, CLG_NONE, CLG_NONE, "cross-entropy [2048,256]: the logits' gradient",
                repeats);
    }
    for (int k = 0; k < 2; k++) { /* attention's per-head products, 32 x 4 heads */
        clg_graph *g = clg_graph_new(ctx);
        clg_t a = clg_input(g, "a", CLG_F32, &CLG_SHAPE(128, 64, k ? 16 : 64));
        clg_t b = clg_input(g, "b", CLG_F32, &CLG_SHAPE(128, 64, 16));
        time_it(dev, g, clg_matmul(g, a, b, 0, k), CLG_NONE, a, b,
                k ? "matmul 128 x [64,16] @ [64,16]^T (Q K^T)" : "matmul 128 x [64,64] @ [64,16] (P V)",
                repeats);
    }
    { /* splitting the heads */
        clg_graph *g = clg_graph_new(ctx);
        clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(32, 64, 4, 16));
        static const int perm[4] = { 0, 2, 1, 3 };
        time_it(dev, g, clg_permute(g, x, perm), x, CLG_NONE, CLG_NONE,
                "permute [32,64,4,16] -> [32,4,64,16]", repeats);
    }
    for (int k = 0; k < 2; k++) { /* the lstm preset's recurrence: batch 32, 64 steps, H 128 */
        clg_graph *g = clg_graph_new(ctx);
        clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(32, 64, 512));
        clg_t a = clg_input(g, "a", CLG_F32, &CLG_SHAPE(512, 128)), b = CLG_NONE;
        clg_t y = clg_lstm_scan(g, x, clg_mul_scalar(g, a, 0.1f));
        if (k) {
            b = clg_input(g, "b", CLG_F32, &CLG_SHAPE(32, 64, 128));
            y = clg_lstm_scan_grad(g, y, b, clg_mul_scalar(g, a, 0.1f));
        }
        time_it(dev, g, y, x, a, b,
                k ? "lstm_scan + lstm_scan_grad [32,64,512] H 128" : "lstm_scan [32,64,512] H 128",
                repeats);
    }
    clg_device_close(dev);
    clg_ctx_free(ctx);
    return 0;
}
