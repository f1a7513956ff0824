/* Every GEMM engine of the CPU backend (oneDNN's matmul where the build has
 * it, OpenBLAS, the portable kernel), at the
 * README models' shapes, with 1 and 2 threads: each product matches a
 * double-precision reference, and repeated runs are bit-identical, which is
 * what keeps resume bit-exact. Each case runs in its own process (Check's
 * fork mode), so that CLG_CPU_GEMM is read fresh; under CK_FORK=no (valgrind)
 * the first case's engine serves all. */
#include <check.h>
#include <clgrad/clgrad.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    int ta, tb;
    int64_t M, N, K;
} shape;

/* x W^T of the MLP's and the Transformer's Linears, a weight gradient, an
 * input gradient. */
static const shape shapes[] = {
    { 0, 1, 128, 256, 784 }, { 0, 1, 128, 10, 128 }, { 0, 1, 2048, 192, 64 },
    { 1, 0, 256, 784, 128 }, { 0, 0, 128, 256, 128 },
};
static const char *const engines[] = { "", "openblas", "portable" };
static const int threads[] = { 1, 2 };

static void fill(float *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(((i + seed) * 2654435761u) % 2001) / 1000.0f - 1.0f;
}

START_TEST(engine_is_right_and_repeatable)
{
    const char *engine = engines[_i / 2];
    const int nthr = threads[_i % 2];
    if (*engine)
        setenv("CLG_CPU_GEMM", engine, 1);
#ifdef _OPENMP
    omp_set_num_threads(nthr); /* what the backend's omp_get_max_threads() reads */
#endif
    clg_ctx *ctx = clg_ctx_new();
    clg_device *dev;
    ck_assert_msg(clg_device_open(ctx, "cpu", 0, &dev) == CLG_OK, "%s", clg_ctx_error(ctx));
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape *sh = &shapes[s];
        const int64_t M = sh->M, N = sh->N, K = sh->K;
        clg_graph *g = clg_graph_new(ctx);
        clg_t a = clg_input(g, "a", CLG_F32, sh->ta ? &CLG_SHAPE(K, M) : &CLG_SHAPE(M, K));
        clg_t b = clg_input(g, "b", CLG_F32, sh->tb ? &CLG_SHAPE(N, K) : &CLG_SHAPE(K, N));
        clg_t c = clg_matmul(g, a, b, sh->ta, sh->tb);
        clg_plan *p;
        ck_assert_msg(clg_compile(g, dev, &c, 1, NULL, &p) == CLG_OK, "%s", clg_ctx_error(ctx));
        clg_graph_free(g);
        float *A = malloc(M * K * sizeof *A), *B = malloc(K * N * sizeof *B),
              *C = malloc(M * N * sizeof *C), *C2 = malloc(M * N * sizeof *C2);
        ck_assert(A && B && C && C2);
        fill(A, M * K, 1);
        fill(B, K * N, 2);
        ck_assert_int_eq(clg_plan_set_input(p, "a", A, M * K * sizeof *A), CLG_OK);
        ck_assert_int_eq(clg_plan_set_input(p, "b", B, K * N * sizeof *B), CLG_OK);
        ck_assert_int_eq(clg_plan_run(p), CLG_OK);
        ck_assert_int_eq(clg_plan_read(p, c, C, M * N * sizeof *C), CLG_OK);
        /* the reference: each element summed in double */
        double worst = 0;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double r = 0;
                for (int64_t k = 0; k < K; k++)
                    r += (double)(sh->ta ? A[k * M + m] : A[m * K + k]) *
                         (sh->tb ? B[n * K + k] : B[k * N + n]);
                const double e = fabs(C[m * N + n] - r) / (fabs(r) > 1 ? fabs(r) : 1);
                worst = e > worst ? e : worst;
            }
        ck_assert_msg(worst < 1e-4, "engine '%s', %d threads, [%lld,%lld,%lld] %c%c: "
                      "relative error %g against the double reference", engine, nthr,
                      (long long)M, (long long)N, (long long)K, sh->ta ? 'T' : 'N',
                      sh->tb ? 'T' : 'N', worst);
        for (int r = 0; r < 3; r++) {
            ck_assert_int_eq(clg_plan_run(p), CLG_OK);
            ck_assert_int_eq(clg_plan_read(p, c, C2, M * N * sizeof *C2), CLG_OK);
            ck_assert_msg(!memcmp(C, C2, M * N * sizeof *C),
                          "engine '%s', %d threads, [%lld,%lld,%lld]: run %d differs from "
                          "the first",
                          engine, nthr, (long long)M, (long long)N, (long long)K, r + 2);
        }
        clg_plan_free(p);
        free(A);
        free(B);
        free(C);
        free(C2);
    }
    clg_device_close(dev);
    clg_ctx_free(ctx);
}
END_TEST

/* 1 when the CPU backend opens. Opening it here loads it in this process
 * only: the engine is picked at a device's first GEMM, in each case's child. */
static int have_cpu(void)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_device *dev;
    const int ok = clg_device_open(ctx, "cpu", 0, &dev) == CLG_OK;
    if (ok)
        clg_device_close(dev);
    else
        fprintf(stderr, "%s\n", clg_ctx_error(ctx));
    clg_ctx_free(ctx);
    return ok;
}

int main(void)
{
    if (!have_cpu()) {
        fprintf(stderr, "SKIP: gemm-engines: the CPU backend does not load\n");
        return 77;
    }
    Suite *s = suite_create("gemm-engines");
    TCase *tc = tcase_create("engines");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, engine_is_right_and_repeatable, 0, 6);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
