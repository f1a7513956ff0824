/* This machine's roofline with the libraries the CPU backend links: SGEMM
 * peak through CBLAS (OpenBLAS), at large square sizes and at the shapes of
 * one training step of the README's MLP, and memory bandwidth (STREAM-like
 * copy and triad) from DRAM and from L2. Threads as the backend runs them:
 * OpenBLAS single-threaded inside, a GEMM cut into row or column blocks over
 * the OpenMP threads (backends/cpu/gemm.c), so the numbers are what the
 * backend can reach, not what OpenBLAS's own pool reaches (also printed).
 *
 *   roofline [--threads N] [--json] [--batch B] [--hidden H1,H2,...]
 *
 * Without --json: a table for 1 and 2 threads (or N). With --json: one line
 * for --threads N that bench/fashion_mnist.sh reads (peak: the highest
 * GFLOP/s of any of the square and the MLP's shapes; the MLP step's
 * GEMM flops and their time alone, triad bandwidths). Every time is the
 * fastest of many runs: a roofline is what the machine can do, so noise from
 * other jobs is cut, not averaged in. */
#include <cblas.h>
#include <omp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern void openblas_set_num_threads(int) __attribute__((weak));
extern char *openblas_get_corename(void) __attribute__((weak));

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *alloc_filled(size_t n)
{
    float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!p) {
        fprintf(stderr, "roofline: out of memory (%zu floats)\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

/* The backend's split (backends/cpu/gemm.c, sgemm): below 2^21 multiply-adds
 * one call, else the longer side of C cut into `threads` blocks. */
static void split_sgemm(int threads, int ta, int tb, int M, int N, int K, const float *A, int lda,
                        const float *B, int ldb, float *C)
{
    const CBLAS_TRANSPOSE tra = ta ? CblasTrans : CblasNoTrans,
                          trb = tb ? CblasTrans : CblasNoTrans;
    int parts = (double)M * N * K >= (1 << 21) ? threads : 1;
    const int by_rows = M >= N, len = by_rows ? M : N;
    if (parts > len)
        parts = len;
#pragma omp parallel for num_threads(parts) if (parts > 1)
    for (int p = 0; p < parts; p++) {
        const int s = (int)((long)len * p / parts), e = (int)((long)len * (p + 1) / parts);
        if (by_rows)
            cblas_sgemm(CblasRowMajor, tra, trb, e - s, N, K, 1.0f, A + (ta ? s : (long)s * lda),
                        lda, B, ldb, 0.0f, C + (long)s * N, N);
        else
            cblas_sgemm(CblasRowMajor, tra, trb, M, e - s, K, 1.0f, A, lda,
                        B + (tb ? (long)s * ldb : s), ldb, 0.0f, C + s, N);
    }
}

typedef struct {
    int ta, tb, M, N, K;
    const char *what;
} gemm_shape;

/* Seconds for one pass over `n` shapes: the fastest pass of those run in
 * `reps` rounds of `min_s` seconds. On a machine shared with other jobs a
 * pass that had its cores to itself is what the machine can do; an average
 * would mostly measure the other jobs. */
static double time_gemms(int threads, const gemm_shape *g, int n, int reps, double min_s)
{
    float *A[24], *B[24], *C[24];
    for (int i = 0; i < n; i++) {
        A[i] = alloc_filled((size_t)g[i].M * g[i].K);
        B[i] = alloc_filled((size_t)g[i].K * g[i].N);
        C[i] = alloc_filled((size_t)g[i].M * g[i].N);
    }
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        for (double t = t0; t - t0 < min_s;) {
            for (int i = 0; i < n; i++) {
                const int lda = g[i].ta ? g[i].M : g[i].K, ldb = g[i].tb ? g[i].K : g[i].N;
                split_sgemm(threads, g[i].ta, g[i].tb, g[i].M, g[i].N, g[i].K, A[i], lda, B[i],
                            ldb, C[i]);
            }
            const double t1 = now();
            if (t1 - t < best)
                best = t1 - t;
            t = t1;
        }
    }
    for (int i = 0; i < n; i++) {
        free(A[i]);
        free(B[i]);
        free(C[i]);
    }
    return best;
}

static double flops_of(const gemm_shape *g, int n)
{
    double f = 0;
    for (int i = 0; i < n; i++)
        f += 2.0 * g[i].M * g[i].N * g[i].K;
    return f;
}

/* GB/s of copy (c = a: 8 bytes/element) or triad (a = b + s*c: 12), best of
 * reps; arrays of n floats each. Static schedule, so each thread touches the
 * same part of the arrays it first wrote. */
static double bandwidth(int threads, size_t n, int triad, int reps)
{
    float *a = alloc_filled(n), *b = alloc_filled(n), *c = alloc_filled(n);
    const float s = 0.5f;
    double best = 1e30;
    /* passes over a cache-sized array are short: the fastest of many */
    const int passes = n * sizeof(float) > (16u << 20) ? reps * 4 : reps * 400;
    for (int r = 0; r < passes; r++) {
        const double t0 = now();
        if (triad) {
#pragma omp parallel for num_threads(threads) schedule(static)
            for (size_t i = 0; i < n; i++)
                a[i] = b[i] + s * c[i];
        } else {
#pragma omp parallel for num_threads(threads) schedule(static)
            for (size_t i = 0; i < n; i++)
                c[i] = a[i];
        }
        const double t = now() - t0;
        if (t < best)
            best = t;
    }
    volatile float sink = a[n / 2] + c[n / 3];
    (void)sink;
    free(a);
    free(b);
    free(c);
    return (double)n * sizeof(float) * (triad ? 3 : 2) / best / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Microseconds a parallel region with no work costs (fork + join): the
 * fastest, the median and the mean of 2000. Every op the backend splits pays
 * one; on a busy machine the mean shows the waits for a descheduled thread. */
static void fork_join_us(int threads, double *fastest, double *median, double *mean)
{
    enum { N = 2000 };
    static double t[N];
    int arrived = 0;
    for (int i = 0; i < N; i++) {
        const double t0 = now();
        /* a region with no work but an atomic, which GCC cannot drop */
#pragma omp parallel num_threads(threads)
        {
#pragma omp atomic
            arrived++;
        }
        t[i] = (now() - t0) * 1e6;
    }
    if (arrived != N * threads)
        fprintf(stderr, "roofline: %d of %d threads ran the regions\n", arrived, N * threads);
    qsort(t, N, sizeof t[0], cmp_double);
    *mean = 0;
    for (int i = 0; i < N; i++)
        *mean += t[i] / N;
    *fastest = t[0];
    *median = t[N / 2];
}

/* One SGD step of Linear layers x W^T + b (W [out, in], as nn.Linear): the
 * forward GEMMs, dW = dY^T X for every layer and dX = dY W for all but the
 * first (the input needs no gradient). Returns the number of shapes. */
static int mlp_shapes(int batch, const int *width, int layers, gemm_shape *g)
{
    int n = 0;
    for (int l = 0; l < layers; l++) {
        const int in = width[l], out = width[l + 1];
        g[n++] = (gemm_shape){ 0, 1, batch, out, in, "fwd  Y = X W^T" };
        g[n++] = (gemm_shape){ 1, 0, out, in, batch, "bwd dW = dY^T X" };
        if (l > 0)
            g[n++] = (gemm_shape){ 0, 0, batch, in, out, "bwd dX = dY W" };
    }
    return n;
}

int main(int argc, char **argv)
{
    int threads = 0, json = 0, batch = 128;
    const char *hidden = "256,128";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hidden") && i + 1 < argc)
            hidden = argv[++i];
        else {
            fprintf(stderr, "roofline: unknown argument '%s'\n"
                            "usage: roofline [--threads N] [--json] [--batch B] [--hidden H1,H2]\n",
                    argv[i]);
            return 2;
        }
    }
    if (threads < 0 || batch < 1) {
        fprintf(stderr, "roofline: --threads and --batch must be positive\n");
        return 2;
    }
    if (openblas_set_num_threads)
        openblas_set_num_threads(1);

    int width[8] = { 784 }, layers = 0;
    for (const char *p = hidden; *p && layers < 6;) {
        char *end;
        width[++layers] = (int)strtol(p, &end, 10);
        if (end == p || width[layers] < 1) {
            fprintf(stderr, "roofline: bad --hidden '%s'\n", hidden);
            return 2;
        }
        p = *end == ',' ? end + 1 : end;
    }
    width[++layers] = 10;
    gemm_shape mlp[24];
    const int nmlp = mlp_shapes(batch, width, layers, mlp);
    /* 1024^3: 4 MiB matrices, large enough for OpenBLAS's full blocking, short
     * enough (tens of ms) that some calls run without another job's slice */
    const gemm_shape square[2] = { { 0, 0, 1024, 1024, 1024, "1024^3 NN" },
                                   { 0, 1, 1024, 1024, 1024, "1024^3 NT" } };
    /* floats per array: 32 MiB (three of them exceed L3), 256 KiB (inside L2) */
    const size_t dram_n = 8u << 20, l2_n = 64u << 10;

    if (json) {
        const int t = threads ? threads : 1;
        /* the peak: the best that OpenBLAS reaches on any of these shapes */
        double peak = 0;
        for (int i = 0; i < 2 + nmlp; i++) {
            const gemm_shape *g = i < 2 ? &square[i] : &mlp[i - 2];
            const double p = flops_of(g, 1) / time_gemms(t, g, 1, 5, i < 2 ? 0.3 : 0.05) / 1e9;
            peak = p > peak ? p : peak;
        }
        const double mlp_s = time_gemms(t, mlp, nmlp, 7, 0.2);
        double fj_fast, fj_med, fj_mean;
        fork_join_us(t, &fj_fast, &fj_med, &fj_mean);
        printf("{\"threads\": %d, \"core\": \"%s\", \"sgemm_peak_gflops\": %.1f, "
               "\"mlp_gemm_flops\": %.0f, \"mlp_gemm_ms\": %.4f, \"mlp_gemm_gflops\": %.1f, "
               "\"triad_dram_gbs\": %.1f, \"triad_l2_gbs\": %.1f, \"fork_join_us_fastest\": %.2f, "
               "\"fork_join_us_median\": %.2f, \"fork_join_us_mean\": %.2f}\n",
               t, openblas_get_corename ? openblas_get_corename() : "?", peak,
               flops_of(mlp, nmlp), mlp_s * 1e3, flops_of(mlp, nmlp) / mlp_s / 1e9,
               bandwidth(t, dram_n, 1, 5), bandwidth(t, l2_n, 1, 5), fj_fast, fj_med, fj_mean);
        return ferror(stdout) || fflush(stdout) ? 1 : 0;
    }

    printf("OpenBLAS core: %s; fastest of many runs; GEMMs split over OpenMP threads as the CPU "
           "backend does\n\n", openblas_get_corename ? openblas_get_corename() : "?");
    const int tlist[2] = { threads ? threads : 1, 2 };
    const int nt = threads ? 1 : 2;
    printf("%-34s", "SGEMM GFLOP/s");
    for (int k = 0; k < nt; k++)
        printf(" %9d thr", tlist[k]);
    printf("\n");
    for (int i = 0; i < 2; i++) {
        printf("%-22s %-11s", "square", square[i].what);
        for (int k = 0; k < nt; k++)
            printf(" %13.1f",
                   flops_of(&square[i], 1) / time_gemms(tlist[k], &square[i], 1, 5, 0.3) / 1e9);
        printf("\n");
    }
    if (!threads && openblas_set_num_threads) {
        openblas_set_num_threads(2);
        printf("%-34s %13s %13.1f\n", "square 1024^3, OpenBLAS's own pool", "",
               flops_of(square, 1) / time_gemms(1, square, 1, 5, 0.3) / 1e9);
        openblas_set_num_threads(1);
    }
    for (int i = 0; i < nmlp; i++) {
        char name[64];
        snprintf(name, sizeof name, "[%d,%d,%d] %s%s", mlp[i].M, mlp[i].N, mlp[i].K,
                 mlp[i].ta ? "T" : "N", mlp[i].tb ? "T" : "N");
        printf("%-22s %-11.11s", name, mlp[i].what + 5);
        for (int k = 0; k < nt; k++)
            printf(" %13.1f",
                   flops_of(&mlp[i], 1) / time_gemms(tlist[k], &mlp[i], 1, 5, 0.1) / 1e9);
        printf("\n");
    }
    printf("%-34s", "MLP step, all GEMMs (ms)");
    for (int k = 0; k < nt; k++)
        printf(" %13.3f", time_gemms(tlist[k], mlp, nmlp, 7, 0.2) * 1e3);
    printf("   (%.1f MFLOP)\n\nbandwidth GB/s\n", flops_of(mlp, nmlp) / 1e6);
    const struct { const char *what; size_t n; int triad; } bw[4] = {
        { "copy  DRAM (3 x 32 MiB)", dram_n, 0 }, { "triad DRAM (3 x 32 MiB)", dram_n, 1 },
        { "copy  L2 (3 x 256 KiB)", l2_n, 0 }, { "triad L2 (3 x 256 KiB)", l2_n, 1 } };
    for (int i = 0; i < 4; i++) {
        printf("%-34s", bw[i].what);
        for (int k = 0; k < nt; k++)
            printf(" %13.1f", bandwidth(tlist[k], bw[i].n, bw[i].triad, 5));
        printf("\n");
    }
    printf("%-34s", "fork+join us (fastest/median/mean)");
    for (int k = 0; k < nt; k++) {
        double f, m, a;
        fork_join_us(tlist[k], &f, &m, &a);
        printf("  %.2f/%.2f/%.1f", f, m, a);
    }
    printf("\n");
    return ferror(stdout) || fflush(stdout) ? 1 : 0;
}
