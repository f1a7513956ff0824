/* Where a convolution's time goes on a backend: im2col, the GEMM, col2im
 * (its backward), for the convolutions of the cnn preset on Fashion-MNIST
 * at batch 128 (conv 1->32 on 28x28, conv 32->64 on 13x13, 3x3). Prints
 * milliseconds per op and the GEMM's GFLOP/s; docs/backends.md quotes it.
 *   bench_conv_parts [cpu|opencl] [repeats] */
#include <clgrad/clgrad.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ms per run of a plan computing `out` from input x */
static double time_plan(clg_graph *g, clg_device *dev, clg_t out, const float *x, size_t xb,
                        int reps)
{
    clg_plan *p;
    if (clg_compile(g, dev, &out, 1, NULL, &p) != CLG_OK) {
        fprintf(stderr, "%s\n", clg_ctx_error(clg_graph_ctx(g)));
        exit(1);
    }
    clg_plan_set_input(p, "x", x, xb);
    clg_plan_run(p); /* warm-up (OpenCL: kernel compilation) */
    clg_device_sync(dev);
    double t0 = now();
    for (int r = 0; r < reps; r++)
        clg_plan_run(p);
    clg_device_sync(dev);
    double t = (now() - t0) / reps * 1e3;
    clg_plan_free(p);
    return t;
}

int main(int argc, char **argv)
{
    const char *backend = argc > 1 ? argv[1] : "cpu";
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    clg_ctx *ctx = clg_ctx_new();
    clg_device *dev;
    if (clg_device_open(ctx, backend, 0, &dev) != CLG_OK) {
        fprintf(stderr, "%s\n", clg_ctx_error(ctx));
        return 1;
    }
    struct { int c, o, h; } convs[2] = { { 1, 32, 28 }, { 32, 64, 13 } };
    const int n = 128;
    clg_window2d w = { { 3, 3 }, { 1, 1 }, { 0, 0 }, { 1, 1 } };
    printf("backend %s, batch %d, 3x3 convolutions, ms per op (mean of %d)\n", backend, n, reps);
    for (int k = 0; k < 2; k++) {
        int c = convs[k].c, o = convs[k].o, h = convs[k].h, oh = h - 2;
        size_t xn = (size_t)n * c * h * h;
        float *x = malloc(xn * sizeof *x);
        for (size_t i = 0; i < xn; i++)
            x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
        /* im2col alone */
        clg_graph *g = clg_graph_new(ctx);
        clg_t xi = clg_input(g, "x", CLG_F32, &CLG_SHAPE(n, c, h, h));
        double t_im = time_plan(g, dev, clg_im2col(g, xi, &w, 0.0f), x, xn * 4, reps);
        clg_graph_free(g);
        /* the GEMM alone: [O, C*9] @ [N, C*9, L] */
        size_t cn = (size_t)n * c * 9 * oh * oh;
        float *cols = malloc(cn * sizeof *cols);
        for (size_t i = 0; i < cn; i++)
            cols[i] = (float)(i % 7) * 0.1f;
        g = clg_graph_new(ctx);
        clg_t ci = clg_input(g, "x", CLG_F32, &CLG_SHAPE(n, c * 9, oh * oh));
        clg_t wt = clg_full(g, &CLG_SHAPE(o, c * 9), 0.01f);
        double t_mm = time_plan(g, dev, clg_matmul(g, wt, ci, 0, 0), cols, cn * 4, reps);
        clg_graph_free(g);
        /* the same product as one GEMM: [O, C*9] @ [C*9, N*L] (the batch folded into N) */
        g = clg_graph_new(ctx);
        ci = clg_input(g, "x", CLG_F32, &CLG_SHAPE(c * 9, (int64_t)n * oh * oh));
        wt = clg_full(g, &CLG_SHAPE(o, c * 9), 0.01f);
        double t_mm1 = time_plan(g, dev, clg_matmul(g, wt, ci, 0, 0), cols, cn * 4, reps);
        clg_graph_free(g);
        /* the permute that folding needs: [N, C*9, L] -> [C*9, N, L] */
        g = clg_graph_new(ctx);
        ci = clg_input(g, "x", CLG_F32, &CLG_SHAPE(n, c * 9, oh * oh));
        static const int perm[3] = { 1, 0, 2 };
        double t_perm = time_plan(g, dev, clg_permute(g, ci, perm), cols, cn * 4, reps);
        clg_graph_free(g);
        /* col2im alone (im2col's adjoint: the input gradient's data movement) */
        g = clg_graph_new(ctx);
        ci = clg_input(g, "x", CLG_F32, &CLG_SHAPE(n, c * 9, oh * oh));
        double t_c2i = time_plan(g, dev, clg_col2im(g, ci, &w, &CLG_SHAPE(n, c, h, h)), cols,
                                 cn * 4, reps);
        clg_graph_free(g);
        double flops = 2.0 * n * o * (double)c * 9 * oh * oh;
        printf("conv %2d->%2d on %dx%d: im2col %.2f  gemm per image %.2f (%.1f GFLOP/s)  one gemm "
               "%.2f (%.1f GFLOP/s) + permute %.2f  col2im %.2f\n", c, o, h, h, t_im, t_mm,
               flops / (t_mm * 1e6), t_mm1, flops / (t_mm1 * 1e6), t_perm, t_c2i);
        free(cols);
        free(x);
    }
    clg_device_close(dev);
    clg_ctx_free(ctx);
    return 0;
}
