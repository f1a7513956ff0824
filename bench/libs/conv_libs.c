/* Convolution and max pooling of the cnn:32,64 preset on Fashion-MNIST
 * (batch 128): clgrad's CPU backend (im2col + GEMM, im2col + argmax +
 * gather; docs/backends.md), through the public API, against oneDNN's
 * convolution and pooling primitives on plain NCHW tensors (what the graph's
 * tensors are; oneDNN's blocked layouts would need a reorder at each
 * boundary, which clgrad's op table has no place for). Forward alone, and
 * forward + backward (data and weights gradients; the pooling's input
 * gradient). Threads: OMP_NUM_THREADS, one OpenMP pool for both.
 *   bench_conv_libs [repeats]        docs/performance.md quotes it */
#include <clgrad/clgrad.h>
#include <oneapi/dnnl/dnnl.h>

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define CHECK(call)                                                                          \
    do {                                                                                     \
        if ((call) != 0) {                                                                   \
            fprintf(stderr, "bench_conv_libs: %s failed\n", #call);                         \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

static float *filled(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p)
        exit(1);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* ---- clgrad: a plan computing y (and, with bwd, the gradients from dy) ---- */
typedef struct {
    clg_plan *p;
    clg_store *st;
    size_t xb, dyb;
    float *x, *dy;
} clg_job;

static void clg_job_make(clg_ctx *ctx, clg_device *dev, int conv, int n, int c, int h, int o,
                         int bwd, clg_job *j)
{
    clg_graph *g = clg_graph_new(ctx);
    clg_store *st;
    CHECK(clg_store_new(dev, &st));
    clg_rng rng;
    clg_rng_seed(&rng, 1);
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(n, c, h, h)), y;
    clg_window2d w3 = { { 3, 3 }, { 1, 1 }, { 0, 0 }, { 1, 1 } },
                 w2 = { { 2, 2 }, { 2, 2 }, { 0, 0 }, { 1, 1 } };
    if (conv)
        y = clg_conv2d(g, st, "c", x, o, &w3, 1, CLG_BIAS, &rng);
    else
        y = clg_max_pool2d(g, x, &w2);
    clg_t outs[4] = { y };
    int nout = 1;
    const clg_shape ys = clg_shape_of(g, y);
    j->xb = (size_t)n * c * h * h * sizeof(float);
    j->dyb = (size_t)ys.dim[0] * ys.dim[1] * ys.dim[2] * ys.dim[3] * sizeof(float);
    if (bwd) {
        clg_t dy = clg_input(g, "dy", CLG_F32, &ys);
        clg_t wrt[3] = { x, conv ? clg_param(g, st, "c.weight") : CLG_NONE,
                         conv ? clg_param(g, st, "c.bias") : CLG_NONE };
        CHECK(clg_grad(g, y, dy, wrt, conv ? 3 : 1, outs + 1));
        nout = conv ? 4 : 2;
    }
    if (clg_compile(g, dev, outs, nout, NULL, &j->p) != CLG_OK) {
        fprintf(stderr, "bench_conv_libs: %s\n", clg_ctx_error(ctx));
        exit(1);
    }
    j->x = filled(j->xb / 4);
    j->dy = filled(j->dyb / 4);
    CHECK(clg_plan_set_input(j->p, "x", j->x, j->xb));
    if (bwd)
        CHECK(clg_plan_set_input(j->p, "dy", j->dy, j->dyb));
    clg_graph_free(g);
    j->st = st;
}

static void clg_job_run(clg_job *j, clg_device *dev)
{
    CHECK(clg_plan_run(j->p));
    CHECK(clg_device_sync(dev));
}

/* ---- oneDNN ---------------------------------------------------------------- */
static dnnl_engine_t eng;
static dnnl_stream_t strm;

typedef struct {
    dnnl_primitive_t prim[3];
    int nargs[3];
    dnnl_exec_arg_t args[3][6];
    int n;
    const char *impl[3];
} dnnl_job;

static dnnl_memory_t mem(const dnnl_memory_desc_t *md)
{
    dnnl_memory_t m;
    CHECK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
    return m;
}

static void md4(dnnl_memory_desc_t *md, int a, int b, int c, int d, dnnl_format_tag_t tag)
{
    const dnnl_dims_t dims = { a, b, c, d };
    CHECK(dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, tag));
}

static const char *impl_of(const_dnnl_primitive_desc_t pd)
{
    const char *s = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s);
    return s ? s : "?";
}

static void dnnl_conv_make(int n, int c, int h, int o, int bwd, dnnl_job *j)
{
    const int oh = h - 2;
    dnnl_memory_desc_t src, wei, bias, dst;
    md4(&src, n, c, h, h, dnnl_nchw);
    md4(&wei, o, c, 3, 3, dnnl_oihw);
    md4(&dst, n, o, oh, oh, dnnl_nchw);
    const dnnl_dims_t bd = { o };
    CHECK(dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_a));
    const dnnl_dims_t st = { 1, 1 }, pad = { 0, 0 };
    dnnl_convolution_desc_t fd, dd, wd;
    CHECK(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
                                             &src, &wei, &bias, &dst, st, pad, pad));
    dnnl_primitive_desc_t fpd, dpd, wpd;
    CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
    dnnl_memory_t ms = mem(&src), mw = mem(&wei), mb = mem(&bias), md = mem(&dst);
    CHECK(dnnl_primitive_create(&j->prim[0], fpd));
    j->impl[0] = impl_of(fpd);
    j->nargs[0] = 4;
    memcpy(j->args[0], (dnnl_exec_arg_t[]){ { DNNL_ARG_SRC, ms }, { DNNL_ARG_WEIGHTS, mw },
                                            { DNNL_ARG_BIAS, mb }, { DNNL_ARG_DST, md } },
           4 * sizeof(dnnl_exec_arg_t));
    j->n = 1;
    if (!bwd)
        return;
    CHECK(dnnl_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &src, &wei, &dst,
                                                   st, pad, pad));
    CHECK(dnnl_primitive_desc_create(&dpd, &dd, NULL, eng, fpd));
    CHECK(dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &src, &wei,
                                                      &bias, &dst, st, pad, pad));
    CHECK(dnnl_primitive_desc_create(&wpd, &wd, NULL, eng, fpd));
    dnnl_memory_t mds = mem(&src), mdw = mem(&wei), mdb = mem(&bias), mdd = mem(&dst);
    CHECK(dnnl_primitive_create(&j->prim[1], dpd));
    CHECK(dnnl_primitive_create(&j->prim[2], wpd));
    j->impl[1] = impl_of(dpd);
    j->impl[2] = impl_of(wpd);
    j->nargs[1] = 3;
    memcpy(j->args[1], (dnnl_exec_arg_t[]){ { DNNL_ARG_DIFF_SRC, mds }, { DNNL_ARG_WEIGHTS, mw },
                                            { DNNL_ARG_DIFF_DST, mdd } },
           3 * sizeof(dnnl_exec_arg_t));
    j->nargs[2] = 4;
    memcpy(j->args[2],
           (dnnl_exec_arg_t[]){ { DNNL_ARG_SRC, ms }, { DNNL_ARG_DIFF_WEIGHTS, mdw },
                                { DNNL_ARG_DIFF_BIAS, mdb }, { DNNL_ARG_DIFF_DST, mdd } },
           4 * sizeof(dnnl_exec_arg_t));
    j->n = 3;
}

static void dnnl_pool_make(int n, int c, int h, int bwd, dnnl_job *j)
{
    const int oh = h / 2;
    dnnl_memory_desc_t src, dst;
    md4(&src, n, c, h, h, dnnl_nchw);
    md4(&dst, n, c, oh, oh, dnnl_nchw);
    const dnnl_dims_t st = { 2, 2 }, k = { 2, 2 }, dil = { 0, 0 }, pad = { 0, 0 };
    dnnl_pooling_v2_desc_t fd, bd;
    CHECK(dnnl_pooling_v2_forward_desc_init(&fd, dnnl_forward_training, dnnl_pooling_max, &src,
                                            &dst, st, k, dil, pad, pad));
    dnnl_primitive_desc_t fpd, bpd;
    CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
    dnnl_memory_t ms = mem(&src), md = mem(&dst),
                  mws = mem(dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0));
    CHECK(dnnl_primitive_create(&j->prim[0], fpd));
    j->impl[0] = impl_of(fpd);
    j->nargs[0] = 3;
    memcpy(j->args[0], (dnnl_exec_arg_t[]){ { DNNL_ARG_SRC, ms }, { DNNL_ARG_DST, md },
                                            { DNNL_ARG_WORKSPACE, mws } },
           3 * sizeof(dnnl_exec_arg_t));
    j->n = 1;
    if (!bwd)
        return;
    CHECK(dnnl_pooling_v2_backward_desc_init(&bd, dnnl_pooling_max, &src, &dst, st, k, dil, pad,
                                             pad));
    CHECK(dnnl_primitive_desc_create(&bpd, &bd, NULL, eng, fpd));
    CHECK(dnnl_primitive_create(&j->prim[1], bpd));
    j->impl[1] = impl_of(bpd);
    dnnl_memory_t mds = mem(&src), mdd = mem(&dst);
    j->nargs[1] = 3;
    memcpy(j->args[1], (dnnl_exec_arg_t[]){ { DNNL_ARG_DIFF_SRC, mds }, { DNNL_ARG_DIFF_DST, mdd },
                                            { DNNL_ARG_WORKSPACE, mws } },
           3 * sizeof(dnnl_exec_arg_t));
    j->n = 2;
}

static void dnnl_job_run(dnnl_job *j)
{
    for (int i = 0; i < j->n; i++)
        CHECK(dnnl_primitive_execute(j->prim[i], strm, j->nargs[i], j->args[i]));
    CHECK(dnnl_stream_wait(strm));
}

int main(int argc, char **argv)
{
    const int reps = argc > 1 ? atoi(argv[1]) : 5;
    clg_ctx *ctx = clg_ctx_new();
    clg_device *dev;
    if (reps < 1 || clg_device_open(ctx, "cpu", 0, &dev) != CLG_OK) {
        fprintf(stderr, "usage: bench_conv_libs [repeats >= 1] (%s)\n", clg_ctx_error(ctx));
        return 1;
    }
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    const int n = 128;
    const struct { const char *what; int conv, c, h, o; } ops[4] = {
        { "conv 1->32, 28x28, 3x3", 1, 1, 28, 32 },
        { "maxpool 2x2, 32x26x26", 0, 32, 26, 0 },
        { "conv 32->64, 13x13, 3x3", 1, 32, 13, 64 },
        { "maxpool 2x2, 64x11x11", 0, 64, 11, 0 },
    };
    printf("batch %d, %d thread(s), ms (best of %d alternating runs)\n", n,
           omp_get_max_threads(), reps);
    printf("%-26s %-8s %10s %10s %8s  %s\n", "op", "pass", "clgrad", "onednn", "ratio",
           "oneDNN implementation");
    for (int i = 0; i < 4; i++)
        for (int bwd = 0; bwd < 2; bwd++) {
            clg_job cj;
            dnnl_job dj;
            clg_job_make(ctx, dev, ops[i].conv, n, ops[i].c, ops[i].h, ops[i].o, bwd, &cj);
            if (ops[i].conv)
                dnnl_conv_make(n, ops[i].c, ops[i].h, ops[i].o, bwd, &dj);
            else
                dnnl_pool_make(n, ops[i].c, ops[i].h, bwd, &dj);
            clg_job_run(&cj, dev); /* warm-up: first touch of the buffers */
            dnnl_job_run(&dj);
            double tc = 1e30, td = 1e30;
            for (int r = 0; r < reps; r++) {
                double t0 = now();
                clg_job_run(&cj, dev);
                double t1 = now();
                dnnl_job_run(&dj);
                double t2 = now();
                if (t1 - t0 < tc)
                    tc = t1 - t0;
                if (t2 - t1 < td)
                    td = t2 - t1;
            }
            char impl[128];
            snprintf(impl, sizeof impl, "%s%s%s%s%s", dj.impl[0], dj.n > 1 ? ", " : "",
                     dj.n > 1 ? dj.impl[1] : "", dj.n > 2 ? ", " : "", dj.n > 2 ? dj.impl[2] : "");
            printf("%-26s %-8s %10.2f %10.2f %7.2fx  %s\n", ops[i].what, bwd ? "fwd+bwd" : "fwd",
                   tc * 1e3, td * 1e3, tc / td, impl);
            clg_plan_free(cj.p);
            clg_store_free(cj.st);
            free(cj.x);
            free(cj.dy);
        }
    clg_device_close(dev);
    clg_ctx_free(ctx);
    return ferror(stdout) || fflush(stdout) ? 1 : 0;
}
