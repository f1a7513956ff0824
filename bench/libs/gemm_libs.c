/* SGEMM engines side by side at the shapes the README's models run, with 1
 * or 2 threads: OpenBLAS through CBLAS cut over OpenMP threads as the CPU
 * backend does (backends/cpu/gemm.c), libxsmm's JIT kernels (cut the same
 * way), and oneDNN's matmul primitive (its own OpenMP threading; the
 * primitive is created once per shape, as a backend would cache it).
 * Forward Linear shapes also run with bias + ReLU: oneDNN as a post-op of the
 * matmul, OpenBLAS followed by one bias + ReLU pass, as the backend's
 * kernels would do. Each engine's output is checked against OpenBLAS's and
 * for bit-identical repeats. Times are each engine's fastest call (see
 * time_engine). docs/performance.md quotes the table.
 *
 *   bench_gemm_libs [threads] [min ms per timing] */
#include <cblas.h>
#include <libxsmm.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern void openblas_set_num_threads(int) __attribute__((weak));

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define DNNL_CHECK(call)                                                                     \
    do {                                                                                     \
        dnnl_status_t s_ = (call);                                                           \
        if (s_ != dnnl_success) {                                                            \
            fprintf(stderr, "bench_gemm_libs: %s failed (%d)\n", #call, (int)s_);           \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

typedef struct {
    const char *model, *what;
    int ta, tb, M, N, K, linear; /* linear: a forward Linear (bias + ReLU applies) */
} shape;

/* Row-major C[M,N] = op(A) op(B); A stored [M,K] or [K,M] (ta), B [K,N] or [N,K]. */
static const shape shapes[] = {
    { "mlp", "fwd 784->256", 0, 1, 128, 256, 784, 1 },
    { "mlp", "fwd 256->128", 0, 1, 128, 128, 256, 1 },
    { "mlp", "fwd 128->10", 0, 1, 128, 10, 128, 1 },
    { "mlp", "dW 256x784", 1, 0, 256, 784, 128, 0 },
    { "mlp", "dW 128x256", 1, 0, 128, 256, 128, 0 },
    { "mlp", "dW 10x128", 1, 0, 10, 128, 128, 0 },
    { "mlp", "dX 128x256", 0, 0, 128, 256, 128, 0 },
    { "mlp", "dX 128x128", 0, 0, 128, 128, 10, 0 },
    { "cnn", "conv1 per image", 0, 0, 32, 676, 9, 0 },
    { "cnn", "conv2 fwd", 0, 0, 64, 15488, 288, 0 },
    { "cnn", "conv2 dW", 0, 1, 64, 288, 15488, 0 },
    { "cnn", "conv2 dcols", 1, 0, 288, 15488, 64, 0 },
    { "cnn", "fc 1600->128", 0, 1, 128, 128, 1600, 1 },
    { "lstm", "x gates, 64 steps", 0, 1, 2048, 512, 64, 0 },
    { "lstm", "h gates, 1 step", 0, 1, 32, 512, 128, 0 },
    { "lstm", "dh, 1 step", 0, 0, 32, 128, 512, 0 },
    { "lstm", "dW_hh, 1 step", 1, 0, 512, 128, 32, 0 },
    { "xfmr", "in_proj", 0, 1, 2048, 192, 64, 0 },
    { "xfmr", "out_proj", 0, 1, 2048, 64, 64, 0 },
    { "xfmr", "ff1 64->256", 0, 1, 2048, 256, 64, 1 },
    { "xfmr", "ff2 256->64", 0, 1, 2048, 64, 256, 0 },
    { "xfmr", "scores/head", 0, 1, 64, 64, 16, 0 },
};
enum { NSHAPES = sizeof shapes / sizeof shapes[0] };

static float *filled(size_t n, unsigned seed)
{
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p)
        exit(1);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(((i + seed) * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* --- OpenBLAS as the backend runs it ------------------------------------ */
static void blas_gemm(int threads, const shape *s, const float *A, const float *B, float *C)
{
    const CBLAS_TRANSPOSE tra = s->ta ? CblasTrans : CblasNoTrans,
                          trb = s->tb ? CblasTrans : CblasNoTrans;
    const int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    const int M = s->M, N = s->N, K = s->K;
    int parts = (double)M * N * K >= (1 << 21) ? threads : 1;
    const int by_rows = M >= N, len = by_rows ? M : N;
    if (parts > len)
        parts = len;
#pragma omp parallel for num_threads(parts) if (parts > 1)
    for (int p = 0; p < parts; p++) {
        const int a = (int)((long)len * p / parts), e = (int)((long)len * (p + 1) / parts);
        if (by_rows)
            cblas_sgemm(CblasRowMajor, tra, trb, e - a, N, K, 1.0f, A + (s->ta ? a : (long)a * lda),
                        lda, B, ldb, 0.0f, C + (long)a * N, N);
        else
            cblas_sgemm(CblasRowMajor, tra, trb, M, e - a, K, 1.0f, A, lda,
                        B + (s->tb ? (long)a * ldb : a), ldb, 0.0f, C + a, N);
    }
}

static void bias_relu(int threads, const shape *s, const float *bias, float *C)
{
#pragma omp parallel for num_threads(threads) if ((long)s->M * s->N >= 32768)
    for (int m = 0; m < s->M; m++)
        for (int n = 0; n < s->N; n++) {
            const float v = C[(long)m * s->N + n] + bias[n];
            C[(long)m * s->N + n] = v > 0 ? v : 0;
        }
}

/* --- libxsmm ------------------------------------------------------------
 * Column-major: row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T,
 * so libxsmm's "A" is our B and its transposes are ours. The JIT kernel
 * covers the whole matrix (no blocking), so threads get column blocks of
 * C^T, i.e. row blocks of C, as many as there are threads. */
typedef struct {
    libxsmm_smmfunction k[2];
    int rows[3];
} xsmm_plan;

static int xsmm_plan_make(int threads, const shape *s, xsmm_plan *p)
{
    const int flags =
        (s->tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (s->ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
    const float alpha = 1, beta = 0;
    const libxsmm_blasint lda = s->tb ? s->K : s->N, ldb = s->ta ? s->M : s->K, ldc = s->N;
    int parts = (double)s->M * s->N * s->K >= (1 << 21) ? threads : 1;
    if (parts > 2)
        parts = 2;
    /* a transposed op(A) can't be cut by rows without a different ld: keep one */
    if (s->ta)
        parts = 1;
    p->rows[0] = 0;
    for (int i = 0; i < parts; i++) {
        p->rows[i + 1] = (int)((long)s->M * (i + 1) / parts);
        p->k[i] = libxsmm_smmdispatch(s->N, p->rows[i + 1] - p->rows[i], s->K, &lda, &ldb, &ldc,
                                      &alpha, &beta, &flags, NULL);
        if (!p->k[i])
            return 0;
    }
    p->k[1] = parts > 1 ? p->k[1] : NULL;
    return 1;
}

static void xsmm_gemm(const shape *s, const xsmm_plan *p, const float *A, const float *B, float *C)
{
    const int parts = p->k[1] ? 2 : 1;
#pragma omp parallel for num_threads(parts) if (parts > 1)
    for (int i = 0; i < parts; i++)
        p->k[i](B, A + (long)p->rows[i] * s->K, C + (long)p->rows[i] * s->N);
}

/* --- oneDNN matmul --------------------------------------------------------- */
typedef struct {
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, bias, c;
    int fused;
} dnnl_plan;

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static void dnnl_plan_make(const shape *s, int fused, float *A, float *B, float *bias, float *C,
                           dnnl_plan *p)
{
    dnnl_memory_desc_t amd, bmd, biasmd, cmd;
    const dnnl_dims_t ad = { s->M, s->K }, bd = { s->K, s->N }, cd = { s->M, s->N },
                      biasd = { 1, s->N };
    const dnnl_dims_t as = { s->ta ? 1 : s->K, s->ta ? s->M : 1 },
                      bs = { s->tb ? 1 : s->N, s->tb ? s->K : 1 };
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&amd, 2, ad, dnnl_f32, as));
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&bmd, 2, bd, dnnl_f32, bs));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&cmd, 2, cd, dnnl_f32, dnnl_ab));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&biasmd, 2, biasd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    DNNL_CHECK(dnnl_matmul_desc_init(&md, &amd, &bmd, fused ? &biasmd : NULL, &cmd));
    dnnl_primitive_attr_t attr;
    DNNL_CHECK(dnnl_primitive_attr_create(&attr));
    if (fused) {
        dnnl_post_ops_t po;
        DNNL_CHECK(dnnl_post_ops_create(&po));
        DNNL_CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
        DNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL));
    DNNL_CHECK(dnnl_primitive_create(&p->prim, pd));
    DNNL_CHECK(dnnl_memory_create(&p->a, &amd, engine, A));
    DNNL_CHECK(dnnl_memory_create(&p->b, &bmd, engine, B));
    DNNL_CHECK(dnnl_memory_create(&p->c, &cmd, engine, C));
    DNNL_CHECK(dnnl_memory_create(&p->bias, &biasmd, engine, bias));
    p->fused = fused;
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
}

static void dnnl_run(const dnnl_plan *p)
{
    dnnl_exec_arg_t args[4] = { { DNNL_ARG_SRC, p->a }, { DNNL_ARG_WEIGHTS, p->b },
                                { DNNL_ARG_DST, p->c }, { DNNL_ARG_BIAS, p->bias } };
    DNNL_CHECK(dnnl_primitive_execute(p->prim, stream, p->fused ? 4 : 3, args));
    DNNL_CHECK(dnnl_stream_wait(stream));
}

static void dnnl_plan_free(dnnl_plan *p)
{
    dnnl_primitive_destroy(p->prim);
    dnnl_memory_destroy(p->a);
    dnnl_memory_destroy(p->b);
    dnnl_memory_destroy(p->c);
    dnnl_memory_destroy(p->bias);
}

/* --- timing ---------------------------------------------------------------- */
enum { E_BLAS, E_XSMM, E_DNNL, E_BLAS_BR, E_DNNL_BR, NE };
static const char *const ename[NE] = { "openblas", "libxsmm", "onednn", "openblas+bias+relu",
                                       "onednn bias+relu post-op" };

typedef struct {
    int threads;
    const shape *s;
    const float *A, *B, *bias;
    float *C;
    xsmm_plan *xp;
    dnnl_plan *dp;
} job;

static void run_engine(int e, const job *j)
{
    switch (e) {
    case E_BLAS: blas_gemm(j->threads, j->s, j->A, j->B, j->C); break;
    case E_XSMM: xsmm_gemm(j->s, j->xp, j->A, j->B, j->C); break;
    case E_DNNL: dnnl_run(&j->dp[0]); break;
    case E_BLAS_BR:
        blas_gemm(j->threads, j->s, j->A, j->B, j->C);
        bias_relu(j->threads, j->s, j->bias, j->C);
        break;
    case E_DNNL_BR: dnnl_run(&j->dp[1]); break;
    }
}

/* The fastest single call within min_s: on a machine shared with other jobs
 * a call that ran with its cores to itself is what the engine can do; a
 * window's average would mostly measure the other jobs. */
static double time_engine(int e, const job *j, double min_s)
{
    double best = 1e30;
    const double t0 = now();
    for (double t = t0; t - t0 < min_s;) {
        run_engine(e, j);
        const double t1 = now();
        if (t1 - t < best)
            best = t1 - t;
        t = t1;
    }
    return best;
}

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : 1;
    const double min_s = (argc > 2 ? atof(argv[2]) : 20) / 1e3;
    if (threads < 1) {
        fprintf(stderr, "usage: bench_gemm_libs [threads >= 1] [min ms per timing]\n");
        return 2;
    }
    if (openblas_set_num_threads)
        openblas_set_num_threads(1);
    omp_set_num_threads(threads);
    libxsmm_init();
    DNNL_CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    DNNL_CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));

    printf("%d thread(s); GFLOP/s of the fastest call in 5 alternating rounds of %.0f ms per "
           "engine; libxsmm target %s\n",
           threads, min_s * 1e3, libxsmm_get_target_arch());
    printf("%-5s %-18s %-19s %9s %9s %9s %9s %9s  %s\n", "model", "op", "[M,N,K] op", "openblas",
           "libxsmm", "onednn", "blas+b+r", "dnnl+b+r", "checks");
    for (int i = 0; i < NSHAPES; i++) {
        const shape *s = &shapes[i];
        const size_t an = (size_t)s->M * s->K, bn = (size_t)s->K * s->N, cn = (size_t)s->M * s->N;
        float *A = filled(an, 1), *B = filled(bn, 7), *bias = filled(s->N, 3), *ref = filled(cn, 0),
              *C = filled(cn, 0), *C2 = filled(cn, 0);
        xsmm_plan xp;
        const int have_x = xsmm_plan_make(threads, s, &xp);
        dnnl_plan dp[2];
        dnnl_plan_make(s, 0, A, B, bias, C, &dp[0]);
        if (s->linear)
            dnnl_plan_make(s, 1, A, B, bias, C, &dp[1]);
        job j = { threads, s, A, B, bias, C, &xp, dp };

        /* correctness and repeatability, before timing */
        char checks[160] = "";
        blas_gemm(threads, s, A, B, ref);
        for (int e = E_BLAS; e <= E_DNNL; e++) {
            if (e == E_XSMM && !have_x)
                continue;
            run_engine(e, &j);
            memcpy(C2, C, cn * sizeof *C);
            run_engine(e, &j);
            double err = 0;
            for (size_t k = 0; k < cn; k++)
                err = fmax(err, fabs(C[k] - ref[k]) / (1 + fabs(ref[k])));
            const int same = !memcmp(C, C2, cn * sizeof *C);
            if (err > 1e-4 || !same)
                snprintf(checks + strlen(checks), sizeof checks - strlen(checks), " %s:%s%s",
                         ename[e], err > 1e-4 ? "WRONG" : "", same ? "" : "NONDETERMINISTIC");
        }

        double best[NE];
        for (int e = 0; e < NE; e++)
            best[e] = 1e30;
        for (int r = 0; r < 5; r++)
            for (int e = 0; e < NE; e++) {
                if ((e == E_XSMM && !have_x) || (e >= E_BLAS_BR && !s->linear))
                    continue;
                const double t = time_engine(e, &j, min_s);
                if (t < best[e])
                    best[e] = t;
            }
        char dims[32];
        snprintf(dims, sizeof dims, "[%d,%d,%d] %c%c", s->M, s->N, s->K, s->ta ? 'T' : 'N',
                 s->tb ? 'T' : 'N');
        printf("%-5s %-18s %-19s", s->model, s->what, dims);
        const double f = 2.0 * s->M * s->N * s->K;
        for (int e = 0; e < NE; e++) {
            if (best[e] < 1e29)
                printf(" %9.1f", f / best[e] / 1e9);
            else
                printf(" %9s", "-");
        }
        printf("  %s\n", checks[0] ? checks : "ok");
        dnnl_plan_free(&dp[0]);
        if (s->linear)
            dnnl_plan_free(&dp[1]);
        free(A);
        free(B);
        free(bias);
        free(ref);
        free(C);
        free(C2);
    }
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    libxsmm_finalize();
    return ferror(stdout) || fflush(stdout) ? 1 : 0;
}
