/* Every GEMM engine of the CPU backend (oneDNN's matmul, single and batched,
 * where the build has it, OpenBLAS, the portable kernel), at the
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
    int64_t ba, bb; /* batches of A and B; 0: a 2-D operand (shared by the batch) */
} shape;

/* x W^T of the MLP's and the Transformer's Linears, a weight gradient, an
 * input gradient; attention's per-head products (128 of them, each small:
 * oneDNN's batched path), and batches against a shared operand. */
static const shape shapes[] = {
    { 0, 1, 128, 256, 784, 0, 0 }, { 0, 1, 128, 10, 128, 0, 0 }, { 0, 1, 2048, 192, 64, 0, 0 },
    { 1, 0, 256, 784, 128, 0, 0 }, { 0, 0, 128, 256, 128, 0, 0 },
    { 0, 0, 64, 16, 64, 128, 128 }, { 0, 1, 64, 64, 16, 128, 128 },
    { 1, 0, 64, 16, 64, 128, 128 }, { 0, 1, 64, 16, 64, 128, 128 },
    { 1, 1, 48, 40, 24, 0, 96 }, { 1, 0, 48, 40, 24, 96, 0 },
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
        const int64_t ba = sh->ba ? sh->ba : 1, bb = sh->bb ? sh->bb : 1;
        const int64_t bo = ba > bb ? ba : bb, sa = M * K, sb = K * N;
        clg_graph *g = clg_graph_new(ctx);
        clg_t a = clg_input(g, "a", CLG_F32,
                            sh->ba ? (sh->ta ? &CLG_SHAPE(ba, K, M) : &CLG_SHAPE(ba, M, K))
                                   : (sh->ta ? &CLG_SHAPE(K, M) : &CLG_SHAPE(M, K)));
        clg_t b = clg_input(g, "b", CLG_F32,
                            sh->bb ? (sh->tb ? &CLG_SHAPE(bb, N, K) : &CLG_SHAPE(bb, K, N))
                                   : (sh->tb ? &CLG_SHAPE(N, K) : &CLG_SHAPE(K, N)));
        clg_t c = clg_matmul(g, a, b, sh->ta, sh->tb);
        clg_plan *p;
        ck_assert_msg(clg_compile(g, dev, &c, 1, NULL, &p) == CLG_OK, "%s", clg_ctx_error(ctx));
        clg_graph_free(g);
        const int64_t nc = bo * M * N;
        float *A = malloc(ba * sa * sizeof *A), *B = malloc(bb * sb * sizeof *B),
              *C = malloc(nc * sizeof *C), *C2 = malloc(nc * sizeof *C2);
        ck_assert(A && B && C && C2);
        fill(A, ba * sa, 1);
        fill(B, bb * sb, 2);
        ck_assert_int_eq(clg_plan_set_input(p, "a", A, ba * sa * sizeof *A), CLG_OK);
        ck_assert_int_eq(clg_plan_set_input(p, "b", B, bb * sb * sizeof *B), CLG_OK);
        ck_assert_int_eq(clg_plan_run(p), CLG_OK);
        ck_assert_int_eq(clg_plan_read(p, c, C, nc * sizeof *C), CLG_OK);
        /* the reference: each element summed in double */
        double worst = 0;
        for (int64_t i = 0; i < bo; i++) {
            const float *Ai = A + (ba > 1 ? i * sa : 0), *Bi = B + (bb > 1 ? i * sb : 0);
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double r = 0;
                    for (int64_t k = 0; k < K; k++)
                        r += (double)(sh->ta ? Ai[k * M + m] : Ai[m * K + k]) *
                             (sh->tb ? Bi[n * K + k] : Bi[k * N + n]);
                    const double e = fabs(C[(i * M + m) * N + n] - r) / (fabs(r) > 1 ? fabs(r) : 1);
                    worst = e > worst ? e : worst;
                }
        }
        ck_assert_msg(worst < 1e-4, "engine '%s', %d threads, %lld x [%lld,%lld,%lld] %c%c: "
                      "relative error %g against the double reference", engine, nthr,
                      (long long)bo, (long long)M, (long long)N, (long long)K,
                      sh->ta ? 'T' : 'N', sh->tb ? 'T' : 'N', worst);
        for (int r = 0; r < 3; r++) {
            ck_assert_int_eq(clg_plan_run(p), CLG_OK);
            ck_assert_int_eq(clg_plan_read(p, c, C2, nc * sizeof *C2), CLG_OK);
            ck_assert_msg(!memcmp(C, C2, nc * sizeof *C),
                          "engine '%s', %d threads, %lld x [%lld,%lld,%lld]: run %d differs "
                          "from the first",
                          engine, nthr, (long long)bo, (long long)M, (long long)N, (long long)K,
                          r + 2);
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
