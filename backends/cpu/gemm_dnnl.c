/* The CPU backend's GEMMs through oneDNN's matmul (its brgemm kernels),
 * which beats OpenBLAS 0.3.21 on the shapes the README's models run:
 * measured with bench/libs/gemm_libs.c (docs/performance.md), 1.08-1.27x on
 * the MLP's, LSTM's and Transformer's Linears forward and backward, 1.25-1.5x
 * on the smallest (the 10-class output layer, an LSTM step's gates).
 *
 * Threads as on the OpenBLAS path (gemm.c): every primitive runs on one
 * thread, and a large GEMM is cut into one block of C per OpenMP thread, so
 * a GEMM costs at most one fork, from the backend's one pool (oneDNN left to
 * itself forks for every primitive, however small: ruinous on a busy
 * machine, docs/performance.md). A primitive is made once per block shape
 * and kept: making one costs far more than running it. Each element's
 * products are summed in an order fixed by its block's shape, which the
 * thread count fixes, so results are bit-identical run to run for a given
 * thread count (tests/library/test_gemm_engines.c). The scratchpad is the
 * caller's, so that two threads may run primitives at once. */
#include "gemm_dnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { CACHE = 128 }; /* shapes kept; a model has a few dozen */

typedef struct {
    int ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a, b, c, scratch;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine; /* NULL: oneDNN unusable or turned off */
static entry cache[CACHE];
static int ncache;

static void init(void)
{
    /* CLG_CPU_GEMM=openblas: OpenBLAS for every GEMM (A/B runs of one build) */
    const char *env = getenv("CLG_CPU_GEMM");
    if (env && !strcmp(env, "openblas"))
        return;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success)
        engine = NULL;
}

/* A new primitive for a key, or 0 when oneDNN declines the shape. */
static int make(entry *e)
{
    const dnnl_dims_t ad = { e->M, e->K }, bd = { e->K, e->N }, cd = { e->M, e->N };
    /* op(A) [M, K] and op(B) [K, N] as strides over the stored rows */
    const dnnl_dims_t as = { e->ta ? 1 : e->lda, e->ta ? e->lda : 1 },
                      bs = { e->tb ? 1 : e->ldb, e->tb ? e->ldb : 1 }, cs = { e->ldc, 1 };
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int ok = dnnl_memory_desc_init_by_strides(&e->a, 2, ad, dnnl_f32, as) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&e->b, 2, bd, dnnl_f32, bs) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&e->c, 2, cd, dnnl_f32, cs) == dnnl_success &&
             dnnl_matmul_desc_init(&md, &e->a, &e->b, NULL, &e->c) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success &&
             dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) ==
                 dnnl_success &&
             dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL) == dnnl_success &&
             dnnl_primitive_create(&e->prim, pd) == dnnl_success;
    if (ok)
        e->scratch = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return ok;
}

static const entry *lookup(int ta, int tb, int64_t M, int64_t N, int64_t K, int64_t lda,
                           int64_t ldb, int64_t ldc)
{
    const entry *found = NULL;
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < ncache && !(cache[i].ta == ta && cache[i].tb == tb && cache[i].M == M &&
                           cache[i].N == N && cache[i].K == K && cache[i].lda == lda &&
                           cache[i].ldb == ldb && cache[i].ldc == ldc))
        i++;
    if (i == ncache && ncache < CACHE) {
        /* a shape oneDNN declines is kept too (prim NULL), so it is asked once */
        cache[i] = (entry){ ta, tb, M, N, K, lda, ldb, ldc, NULL, { 0 }, { 0 }, { 0 }, { 0 } };
        if (!make(&cache[i]))
            cache[i].prim = NULL;
        ncache++;
    }
    if (i < ncache && cache[i].prim)
        found = &cache[i];
    pthread_mutex_unlock(&lock);
    return found;
}

static int run1(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                const float *B, int64_t ldb, float *C, int64_t ldc);

/* One block on the calling thread; 0 when it ran. */
static int run(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
               const float *B, int64_t ldb, float *C, int64_t ldc)
{
#ifdef _OPENMP
    /* oneDNN sizes a primitive for, and runs it on, this many threads */
    const int outer = omp_get_max_threads();
    if (outer != 1)
        omp_set_num_threads(1);
#endif
    const int rc = run1(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
#ifdef _OPENMP
    if (outer != 1)
        omp_set_num_threads(outer);
#endif
    return rc;
}

static int run1(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                const float *B, int64_t ldb, float *C, int64_t ldc)
{
    const entry *e = lookup(ta, tb, M, N, K, lda, ldb, ldc);
    if (!e)
        return 1;
    const size_t scratch_bytes = dnnl_memory_desc_get_size(&e->scratch);
    void *scratch = scratch_bytes ? malloc(scratch_bytes) : NULL;
    dnnl_memory_t ma = NULL, mb = NULL, mc = NULL, ms = NULL;
    dnnl_stream_t stream = NULL;
    int rc = scratch_bytes && !scratch;
    if (!rc)
        rc = dnnl_memory_create(&ma, &e->a, engine, (void *)A) != dnnl_success ||
             dnnl_memory_create(&mb, &e->b, engine, (void *)B) != dnnl_success ||
             dnnl_memory_create(&mc, &e->c, engine, C) != dnnl_success ||
             dnnl_memory_create(&ms, &e->scratch, engine, scratch) != dnnl_success ||
             dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success;
    if (!rc) {
        const dnnl_exec_arg_t args[4] = { { DNNL_ARG_SRC, ma }, { DNNL_ARG_WEIGHTS, mb },
                                          { DNNL_ARG_DST, mc }, { DNNL_ARG_SCRATCHPAD, ms } };
        rc = dnnl_primitive_execute(e->prim, stream, 4, args) != dnnl_success ||
             dnnl_stream_wait(stream) != dnnl_success;
    }
    if (stream)
        dnnl_stream_destroy(stream);
    dnnl_memory_destroy(ma); /* NULL is accepted */
    dnnl_memory_destroy(mb);
    dnnl_memory_destroy(mc);
    dnnl_memory_destroy(ms);
    free(scratch);
    /* a failure before execute leaves C untouched, and OpenBLAS then runs it;
     * one during execute would too, as the caller overwrites all of C */
    return rc ? 1 : 0;
}

int cpu_gemm_dnnl_wanted(int64_t M, int64_t N, int64_t K)
{
    pthread_once(&once, init);
    /* Below 2^17 multiply-adds (an attention head's 64 x 64 x 16) the
     * per-call wrapping (memory objects, stream, scratchpad) costs more than
     * oneDNN's faster kernel saves: 0.92x of OpenBLAS measured. */
    return engine && K > 0 && (double)M * N * K >= (1 << 17);
}

int cpu_gemm_dnnl_block(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
                        int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc)
{
    return run(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
}
