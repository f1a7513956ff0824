/* MATMUL: batched C = op(A) op(B) through CBLAS when built with it, else
 * (or with CLG_CPU_GEMM=portable) through the portable blocked kernel below.
 *
 * The portable kernel packs op(B) into column panels and op(A) into row
 * panels so that the micro-kernel reads both with unit stride whatever the
 * transposes, and keeps an MR x NR tile of C in registers. Threads split C
 * into tiles; the order in which a C element accumulates its K products is
 * fixed by KC alone, so results do not depend on the thread count. */
#include "cpu.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef CLG_CPU_HAVE_CBLAS
#include <cblas.h>
#endif
#ifdef CLG_CPU_HAVE_DNNL
#include "gemm_dnnl.h"
#endif

#if defined(CLG_CPU_HAVE_CBLAS) && defined(_OPENMP)
/* OpenBLAS's own thread pool and libgomp's, both spinning for work, fight
 * over the cores (on 2 cores an Adam step ran 2.5x slower than with either
 * pool alone). So with OpenMP the CPU backend keeps one pool: OpenBLAS runs
 * single-threaded and large GEMMs are split into row or column blocks over
 * the OpenMP threads. Weak, so a CBLAS other than OpenBLAS still links. */
extern void openblas_set_num_threads(int) __attribute__((weak));
#define CPU_SPLIT_GEMM 1
#endif

void cpu_gemm_threads_init(void)
{
#ifdef CPU_SPLIT_GEMM
    if (openblas_set_num_threads)
        openblas_set_num_threads(1);
#endif
}

enum {
    MR = 6,    /* rows of the register tile */
    NR = 8,    /* columns: MR x NR / 4 = 12 accumulator registers of 16 */
    KC = 256,  /* depth of a packed block: an MR x KC + KC x NR pair stays in L1/L2 */
    MC = 120,  /* most rows of A packed at once (sized for L2) */
    NC = 2048, /* most columns of B packed at once (sized for L3) */
};

/* op(A)[m][k] and op(B)[k][n] as stored (row-major, leading dims lda/ldb). */
static inline float elem_a(const float *A, int64_t lda, int trans, int64_t m, int64_t k)
{
    return trans ? A[k * lda + m] : A[m * lda + k];
}

static inline float elem_b(const float *B, int64_t ldb, int trans, int64_t k, int64_t n)
{
    return trans ? B[n * ldb + k] : B[k * ldb + n];
}

/* Panels of NR columns, each kc x NR row-major; columns past N are zero. */
static void pack_b(float *dst, const float *B, int64_t ldb, int trans, int64_t k0, int64_t kc,
                   int64_t n0, int64_t nc, int64_t N)
{
    for (int64_t j0 = 0; j0 < nc; j0 += NR)
        for (int64_t p = 0; p < kc; p++)
            for (int64_t j = 0; j < NR; j++) {
                const int64_t n = n0 + j0 + j;
                *dst++ = n < N ? elem_b(B, ldb, trans, k0 + p, n) : 0.0f;
            }
}

/* Panels of MR rows, each kc x MR (one column of the panel per k); rows
 * past M are zero. */
static void pack_a(float *dst, const float *A, int64_t lda, int trans, int64_t m0, int64_t mc,
                   int64_t k0, int64_t kc, int64_t M)
{
    for (int64_t i0 = 0; i0 < mc; i0 += MR)
        for (int64_t p = 0; p < kc; p++)
            for (int64_t i = 0; i < MR; i++) {
                const int64_t m = m0 + i0 + i;
                *dst++ = m < M ? elem_a(A, lda, trans, m, k0 + p) : 0.0f;
            }
}

/* Four floats: the SSE / NEON register width, so that the tile stays in
 * registers on any 64-bit target without -march flags. GCC and Clang vector
 * extensions; a scalar times a vector broadcasts. */
typedef float vec4 __attribute__((vector_size(16)));
#define NV (NR / 4)

/* C tile (mr x nr valid of MR x NR) = or += Ap panel x Bp panel. */
static void micro_kernel(int64_t kc, const float *restrict ap, const float *restrict bp,
                         float *restrict c, int64_t ldc, int64_t mr, int64_t nr, int accumulate)
{
    /* acc is never addressed as memory, so that it can stay in registers */
    vec4 acc[MR][NV] = { 0 };
    for (int64_t p = 0; p < kc; p++) {
        vec4 b[NV];
#pragma GCC unroll 8
        for (int j = 0; j < NV; j++)
            memcpy(&b[j], bp + p * NR + 4 * j, sizeof b[j]);
        /* fully unrolled, or acc would live in memory instead of registers */
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            const float a = ap[p * MR + i];
#pragma GCC unroll 8
            for (int j = 0; j < NV; j++)
                acc[i][j] += a * b[j];
        }
    }
    float tile[MR][NR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NV; j++) {
            const vec4 v = acc[i][j];
            memcpy(&tile[i][4 * j], &v, sizeof v);
        }
    for (int64_t i = 0; i < mr; i++)
        for (int64_t j = 0; j < nr; j++)
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i][j] : tile[i][j];
}

/* One tile of C: rows [m0, m0 + mc) x columns [n0, n0 + nc), over all of K. */
static void gemm_tile(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                      int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc, int64_t m0,
                      int64_t mc, int64_t n0, int64_t nc, float *apack, float *bpack)
{
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t kc = K - k0 < KC ? K - k0 : KC;
        pack_b(bpack, B, ldb, trans_b, k0, kc, n0, nc, N);
        pack_a(apack, A, lda, trans_a, m0, mc, k0, kc, M);
        for (int64_t j0 = 0; j0 < nc; j0 += NR)
            for (int64_t i0 = 0; i0 < mc; i0 += MR)
                micro_kernel(kc, apack + i0 * kc, bpack + j0 * kc, C + (m0 + i0) * ldc + n0 + j0,
                             ldc, mc - i0 < MR ? mc - i0 : MR, nc - j0 < NR ? nc - j0 : NR,
                             k0 > 0);
    }
}

static int64_t round_up(int64_t x, int64_t to)
{
    return (x + to - 1) / to * to;
}

int cpu_sgemm_portable(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const float *A,
                       int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc)
{
    if (M == 0 || N == 0)
        return 0;
    if (K == 0) {
        for (int64_t m = 0; m < M; m++)
            memset(C + m * ldc, 0, (size_t)N * sizeof(float));
        return 0;
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    /* C is cut into tiles of at most MC x NC, small enough that there are
     * at least as many tiles as threads when C allows. Each tile is one
     * thread's job from start to end (it packs its own panels), so the
     * threads meet only once, at the end. */
    const int64_t flops = 2 * M * N * K;
    if (flops < (1 << 20))
        threads = 1;
    int64_t mc = round_up((M + threads - 1) / threads, MR);
    if (mc > MC)
        mc = MC;
    const int64_t m_tiles = (M + mc - 1) / mc;
    const int64_t n_split = m_tiles >= threads ? 1 : (threads + m_tiles - 1) / m_tiles;
    int64_t nc = round_up((N + n_split - 1) / n_split, NR);
    if (nc > NC)
        nc = NC;
    const int64_t n_tiles = (N + nc - 1) / nc;

    const size_t apack_len = (size_t)mc * KC, bpack_len = (size_t)nc * KC;
    float *packs = aligned_alloc(CPU_MEM_ALIGN,
                                 (size_t)threads * (apack_len + bpack_len) * sizeof(float));
    if (!packs)
        return -1;
    CPU_PARALLEL_FOR(threads > 1)
    for (int64_t t = 0; t < m_tiles * n_tiles; t++) {
        int me = 0;
#ifdef _OPENMP
        me = omp_get_thread_num();
#endif
        float *apack = packs + (size_t)me * (apack_len + bpack_len);
        const int64_t m0 = (t / n_tiles) * mc, n0 = (t % n_tiles) * nc;
        gemm_tile(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, m0,
                  M - m0 < mc ? M - m0 : mc, n0, N - n0 < nc ? N - n0 : nc, apack,
                  apack + apack_len);
    }
    free(packs);
    return 0;
}

/* An epilogue to run on what a GEMM wrote: C is elements base.. of the
 * output. NULL fn: none. */
typedef struct epilogue {
    cpu_epilogue_fn *fn;
    const void *ctx;
    int64_t base;
} epilogue;

/* Rows [r0, r1) of C, columns [c0, c1): contiguous when they are whole rows. */
static void run_epilogue(const epilogue *ep, int64_t N, int64_t r0, int64_t r1, int64_t c0,
                         int64_t c1)
{
    if (!ep->fn)
        return;
    if (c0 == 0 && c1 == N) {
        ep->fn(ep->ctx, ep->base + r0 * N, ep->base + r1 * N);
        return;
    }
    for (int64_t r = r0; r < r1; r++)
        ep->fn(ep->ctx, ep->base + r * N + c0, ep->base + r * N + c1);
}

#ifdef CLG_CPU_HAVE_CBLAS
/* One block of a GEMM on the calling thread: oneDNN when it is wanted and
 * runs, else OpenBLAS. Sizes fit int (checked by the caller). */
static void block(int dnnl, int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc)
{
#ifdef CLG_CPU_HAVE_DNNL
    if (dnnl && cpu_gemm_dnnl_block(ta, tb, M, N, K, A, lda, B, ldb, C, ldc) == 0)
        return;
#endif
    (void)dnnl;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B, (int)ldb, 0.0f, C, (int)ldc);
}
#endif

/* One GEMM on whichever engine this build and device use. */
static clg_status sgemm(clg_bk_device *dev, int ta, int tb, int64_t M, int64_t N, int64_t K,
                        const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
                        const epilogue *ep)
{
#ifdef CLG_CPU_HAVE_CBLAS
    /* CBLAS takes int sizes; anything larger goes to the portable kernel,
     * and so does K = 0 (all leading dims are then >= 1, as CBLAS wants). */
    const int fits = M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX &&
                     ldb <= INT_MAX && K > 0;
    if (!dev->gemm_portable && fits) {
        int parts = 1, dnnl = 0;
#ifdef CLG_CPU_HAVE_DNNL
        /* oneDNN, faster at the models' shapes (gemm_dnnl.c), block by block */
        dnnl = cpu_gemm_dnnl_wanted(M, N, K);
#endif
#ifdef CPU_SPLIT_GEMM
        /* Below ~4 MFLOP a fork costs more than it saves (double: no overflow). */
        if ((double)M * N * K >= (1 << 21))
            parts = omp_get_max_threads();
#endif
        /* Cut the longer side of C; each block is an independent GEMM with
         * the full K, so every element sums its products in the same order
         * for a given thread count. */
        const int by_rows = M >= N;
        const int64_t len = by_rows ? M : N;
        if (parts > len)
            parts = (int)len;
        CPU_PARALLEL_FOR(parts > 1)
        for (int p = 0; p < parts; p++) {
            const int64_t s = len * p / parts, e = len * (p + 1) / parts;
            if (by_rows) {
                block(dnnl, ta, tb, e - s, N, K, A + (ta ? s : s * lda), lda, B, ldb, C + s * N,
                      N);
                run_epilogue(ep, N, s, e, 0, N);
            } else {
                block(dnnl, ta, tb, M, e - s, K, A, lda, B + (tb ? s * ldb : s), ldb, C + s, N);
                run_epilogue(ep, N, 0, M, s, e);
            }
        }
        return CLG_OK;
    }
#endif
    (void)dev;
    if (cpu_sgemm_portable(ta, tb, M, N, K, A, lda, B, ldb, C, N))
        return cpu_fail(dev, CLG_ERR_NOMEM, "matmul: out of memory for packing buffers");
    run_epilogue(ep, N, 0, M, 0, N);
    return CLG_OK;
}

clg_status cpu_matmul(clg_bk_device *dev, const clg_bk_op *op)
{
    return cpu_matmul_epilogue(dev, op, NULL, NULL);
}

clg_status cpu_matmul_epilogue(clg_bk_device *dev, const clg_bk_op *op, cpu_epilogue_fn *epi,
                               const void *ctx)
{
    const clg_bk_tensor *a = &op->in[0], *b = &op->in[1], *out = &op->out;
    const int ta = clg_param_int(&op->params, CLG_P_TRANS_A),
              tb = clg_param_int(&op->params, CLG_P_TRANS_B);
    const int64_t batch = out->dim[0], M = out->dim[1], N = out->dim[2];
    const int64_t K = ta ? a->dim[1] : a->dim[2];
    const int64_t lda = a->dim[2], ldb = b->dim[2]; /* row strides as stored */
    const float *A = cpu_data(a), *B = cpu_data(b);
    float *C = cpu_data(out);
    if (batch == 0 || M == 0 || N == 0)
        return CLG_OK;
    epilogue ep = { epi, ctx, 0 };

    /* A stack of A's against one shared B is a single tall GEMM. */
    if (!ta && a->dim[0] == batch && b->dim[0] == 1)
        return sgemm(dev, ta, tb, batch * M, N, K, A, lda, B, ldb, C, &ep);

    const int64_t a_step = a->dim[0] == 1 ? 0 : a->dim[1] * a->dim[2];
    const int64_t b_step = b->dim[0] == 1 ? 0 : b->dim[1] * b->dim[2];
#ifdef CLG_CPU_HAVE_DNNL
    /* Many small GEMMs (attention's heads): a few calls of oneDNN's batched
     * matmul, one slice of the batch per thread, instead of one wrapped
     * call each, whose set-up cost more than the arithmetic. Each product
     * sums in an order its shape fixes, whatever the slicing. */
    if (!dev->gemm_portable && batch > 1 && (double)M * N * K < (1 << 21) &&
        cpu_gemm_dnnl_wanted(M * batch, N, K) && M <= INT_MAX && N <= INT_MAX &&
        K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX) {
        int parts = 1;
#ifdef _OPENMP
        if ((double)batch * M * N * K >= (1 << 21))
            parts = omp_get_max_threads();
#endif
        enum { MAX_PARTS = 64 };
        parts = parts > MAX_PARTS ? MAX_PARTS : parts;
        parts = parts > batch ? (int)batch : parts;
        char failed[MAX_PARTS] = { 0 };
        CPU_PARALLEL_FOR(parts > 1)
        for (int p = 0; p < parts; p++) {
            const int64_t s = batch * p / parts, e = batch * (p + 1) / parts;
            failed[p] = (char)cpu_gemm_dnnl_batch(ta, tb, e - s, M, N, K, A + s * a_step, a_step,
                                                  lda, B + s * b_step, b_step, ldb,
                                                  C + s * M * N);
            if (!failed[p] && epi)
                epi(ctx, s * M * N, e * M * N);
        }
        /* a slice oneDNN declined (C untouched): its GEMMs one at a time */
        for (int p = 0; p < parts; p++)
            for (int64_t i = batch * p / parts; failed[p] && i < batch * (p + 1) / parts; i++) {
                ep.base = i * M * N;
                clg_status st = sgemm(dev, ta, tb, M, N, K, A + i * a_step, lda,
                                      B + i * b_step, ldb, C + i * M * N, &ep);
                if (st != CLG_OK)
                    return st;
            }
        return CLG_OK;
    }
#endif
    for (int64_t i = 0; i < batch; i++) {
        ep.base = i * M * N;
        clg_status st = sgemm(dev, ta, tb, M, N, K, A + i * a_step, lda, B + i * b_step, ldb,
                              C + i * M * N, &ep);
        if (st != CLG_OK)
            return st;
    }
    return CLG_OK;
}
