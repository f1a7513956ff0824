/* cpu vs opencl, side by side: GEMM GFLOP/s at the MLP's shapes (forward and
 * both backward products), elementwise GB/s, per-op launch overhead and one
 * SGD training step of a 784-256-128-10 MLP at batch 128.
 *
 * usage: bench_opencl [backend...]   (default: cpu opencl)
 * Times are wall clock over several runs after a warm-up run, ended by one
 * blocking read, so queued OpenCL work is included. */
#include <clgrad/clgrad.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BK 4

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct bk {
    const char *name;
    clg_ctx *ctx;
    clg_device *dev;
} bk;

static void fill_random(float *p, size_t n, clg_rng *r)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(clg_rng_uniform(r) * 2 - 1);
}

/* Seconds per run of a graph with inputs "a" (and "b"), output `out`. */
static double time_plan(bk *b, clg_graph *g, clg_t out, const float *a, size_t abytes,
                        const float *bb, size_t bbytes, int reps)
{
    clg_plan *p = NULL;
    clg_compile_opts o = {0};
    if (clg_compile(g, b->dev, &out, 1, &o, &p) != CLG_OK) {
        fprintf(stderr, "%s: compile: %s\n", b->name, clg_ctx_error(b->ctx));
        return NAN;
    }
    clg_shape os = clg_shape_of(g, out);
    size_t obytes = (size_t)clg_shape_numel(&os) * 4;
    float *res = malloc(obytes ? obytes : 4);
    clg_plan_set_input(p, "a", a, abytes);
    if (bb)
        clg_plan_set_input(p, "b", bb, bbytes);
    clg_plan_run(p);
    clg_plan_read(p, out, res, obytes); /* warm-up: kernels compiled, caches hot */
    double t0 = now_s();
    for (int i = 0; i < reps; i++)
        clg_plan_run(p);
    clg_status s = clg_plan_read(p, out, res, obytes);
    double t = (now_s() - t0) / reps;
    clg_plan_free(p);
    free(res);
    if (s != CLG_OK) {
        fprintf(stderr, "%s: run: %s\n", b->name, clg_ctx_error(b->ctx));
        return NAN;
    }
    return t;
}

typedef struct gemm_shape {
    const char *what;
    int m, n, k, ta, tb;
} gemm_shape;

/* y = x W^T for x [128, in], W [out, in]; dX = dY W; dW = dY^T X. */
static const gemm_shape shapes[] = {
    {"fwd 128x784 @ (256x784)^T", 128, 256, 784, 0, 1},
    {"fwd 128x256 @ (128x256)^T", 128, 128, 256, 0, 1},
    {"fwd 128x128 @ (10x128)^T", 128, 10, 128, 0, 1},
    {"dX  128x256 @ 256x784", 128, 784, 256, 0, 0},
    {"dX  128x128 @ 128x256", 128, 256, 128, 0, 0},
    {"dX  128x10 @ 10x128", 128, 128, 10, 0, 0},
    {"dW  (128x256)^T @ 128x784", 256, 784, 128, 1, 0},
    {"dW  (128x128)^T @ 128x256", 128, 256, 128, 1, 0},
    {"dW  (128x10)^T @ 128x128", 10, 128, 128, 1, 0},
};

static double bench_gemm(bk *b, const gemm_shape *s)
{
    clg_graph *g = clg_graph_new(b->ctx);
    clg_shape as = s->ta ? CLG_SHAPE(s->k, s->m) : CLG_SHAPE(s->m, s->k);
    clg_shape bs = s->tb ? CLG_SHAPE(s->n, s->k) : CLG_SHAPE(s->k, s->n);
    clg_t a = clg_input(g, "a", CLG_F32, &as), bb = clg_input(g, "b", CLG_F32, &bs);
    clg_t c = clg_matmul(g, a, bb, s->ta, s->tb);
    size_t na = (size_t)s->m * s->k, nb = (size_t)s->k * s->n;
    float *A = malloc(na * 4), *B = malloc(nb * 4);
    clg_rng r;
    clg_rng_seed(&r, 1);
    fill_random(A, na, &r);
    fill_random(B, nb, &r);
    double t = time_plan(b, g, c, A, na * 4, B, nb * 4, 20);
    clg_graph_free(g);
    free(A);
    free(B);
    return 2.0 * s->m * s->n * s->k / t / 1e9;
}

static double bench_elementwise(bk *b, int64_t n)
{
    clg_graph *g = clg_graph_new(b->ctx);
    clg_t a = clg_input(g, "a", CLG_F32, &CLG_SHAPE(n));
    clg_t bb = clg_input(g, "b", CLG_F32, &CLG_SHAPE(n));
    clg_t c = clg_add(g, a, bb);
    float *A = calloc((size_t)n, 4);
    double t = time_plan(b, g, c, A, (size_t)n * 4, A, (size_t)n * 4, 20);
    clg_graph_free(g);
    free(A);
    return 3.0 * 4 * n / t / 1e9;
}

/* A chain of tiny ops: time per op is launch and bookkeeping cost. */
static double bench_launch(bk *b, int ops)
{
    clg_graph *g = clg_graph_new(b->ctx);
    clg_t x = clg_input(g, "a", CLG_F32, &CLG_SHAPE(16));
    for (int i = 0; i < ops; i++)
        x = clg_add_scalar(g, x, 1.0f);
    float A[16] = {0};
    double t = time_plan(b, g, x, A, sizeof A, NULL, 0, 20);
    clg_graph_free(g);
    return t / ops * 1e6;
}

static double bench_train_step(bk *b)
{
    const int B = 128;
    clg_graph *g = clg_graph_new(b->ctx);
    clg_store *st;
    if (clg_store_new(b->dev, &st) != CLG_OK)
        return NAN;
    clg_rng r;
    clg_rng_seed(&r, 3);
    clg_t x = clg_input(g, "a", CLG_F32, &CLG_SHAPE(B, 784));
    clg_t y = clg_input(g, "b", CLG_I32, &CLG_SHAPE(B, 1));
    clg_t h = clg_relu(g, clg_linear(g, st, "0", x, 784, 256, 1, &r));
    h = clg_relu(g, clg_linear(g, st, "2", h, 256, 128, 1, &r));
    clg_t logits = clg_linear(g, st, "4", h, 128, 10, 1, &r);
    clg_t loss = clg_neg(g, clg_mean(g, clg_gather(g, clg_log_softmax(g, logits, 1), y, 1),
                                     NULL, 0, 0));
    static const char *const names[] = {"0.weight", "0.bias", "2.weight",
                                        "2.bias",   "4.weight", "4.bias"};
    clg_t p[6], gr[6];
    for (int i = 0; i < 6; i++)
        p[i] = clg_param(g, st, names[i]);
    if (clg_grad(g, loss, CLG_NONE, p, 6, gr) != CLG_OK) {
        fprintf(stderr, "%s: grad: %s\n", b->name, clg_ctx_error(b->ctx));
        return NAN;
    }
    for (int i = 0; i < 6; i++)
        clg_assign(g, p[i], clg_sub(g, p[i], clg_mul_scalar(g, gr[i], 0.01f)));
    float *X = malloc((size_t)B * 784 * 4);
    int32_t Y[128];
    fill_random(X, (size_t)B * 784, &r);
    for (int i = 0; i < B; i++)
        Y[i] = i % 10;
    double t = time_plan(b, g, loss, X, (size_t)B * 784 * 4, (const float *)Y, sizeof Y, 10);
    clg_graph_free(g);
    clg_store_free(st);
    free(X);
    return t * 1e3;
}

int main(int argc, char **argv)
{
    bk bks[MAX_BK];
    int nb = 0;
    const char *defaults[] = {"cpu", "opencl"};
    int nnames = argc > 1 ? argc - 1 : 2;
    for (int i = 0; i < nnames && nb < MAX_BK; i++) {
        bk *b = &bks[nb];
        b->name = argc > 1 ? argv[i + 1] : defaults[i];
        b->ctx = clg_ctx_new();
        if (clg_device_open(b->ctx, b->name, 0, &b->dev) != CLG_OK) {
            printf("SKIP: %s: %s\n", b->name, clg_ctx_error(b->ctx));
            clg_ctx_free(b->ctx);
            continue;
        }
        clg_device_info info;
        if (clg_device_info_get(b->ctx, b->name, 0, &info) == CLG_OK)
            printf("%-8s device 0: %s (%s)\n", b->name, info.name, info.driver);
        nb++;
    }
    if (nb == 0)
        return 1;
    printf("\n%-32s", "GEMM GFLOP/s");
    for (int i = 0; i < nb; i++)
        printf(" %10s", bks[i].name);
    printf("\n");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        printf("%-32s", shapes[s].what);
        for (int i = 0; i < nb; i++)
            printf(" %10.2f", bench_gemm(&bks[i], &shapes[s]));
        printf("\n");
        fflush(stdout);
    }
    printf("%-32s", "add 4M f32, GB/s");
    for (int i = 0; i < nb; i++)
        printf(" %10.2f", bench_elementwise(&bks[i], (int64_t)1 << 22));
    printf("\n%-32s", "launch overhead, us/op");
    for (int i = 0; i < nb; i++)
        printf(" %10.2f", bench_launch(&bks[i], 200));
    printf("\n%-32s", "MLP 784-256-128-10 b128 step ms");
    for (int i = 0; i < nb; i++)
        printf(" %10.2f", bench_train_step(&bks[i]));
    printf("\n");
    for (int i = 0; i < nb; i++) {
        clg_device_close(bks[i].dev);
        clg_ctx_free(bks[i].ctx);
    }
    return 0;
}
