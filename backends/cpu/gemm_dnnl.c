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
    int64_t batch, a_step, b_step; /* batch 1: one 2-D GEMM; a step 0: A shared */
    int packed;                    /* B in the layout oneDNN picks (cpu_dnnl_reuse) */
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a, b, c, scratch;
    dnnl_memory_desc_t b_mine;     /* packed: B's layout for prim, and the reorder to it */
    dnnl_primitive_t reorder;
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
    /* op(A) [M, K] and op(B) [K, N] as strides over the stored rows; with a
     * batch, a leading dim (of 1 where the operand is shared: oneDNN
     * broadcasts it) */
    const int nd = e->batch > 1 ? 3 : 2, o = nd - 2;
    dnnl_dims_t ad = { 0 }, bd = { 0 }, cd = { 0 }, as = { 0 }, bs = { 0 }, cs = { 0 };
    ad[o] = e->M, ad[o + 1] = e->K, bd[o] = e->K, bd[o + 1] = e->N, cd[o] = e->M, cd[o + 1] = e->N;
    as[o] = e->ta ? 1 : e->lda, as[o + 1] = e->ta ? e->lda : 1;
    bs[o] = e->tb ? 1 : e->ldb, bs[o + 1] = e->tb ? e->ldb : 1;
    cs[o] = e->ldc, cs[o + 1] = 1;
    if (nd == 3) {
        ad[0] = e->a_step ? e->batch : 1, bd[0] = e->b_step ? e->batch : 1, cd[0] = e->batch;
        as[0] = e->a_step ? e->a_step : e->M * e->K;
        bs[0] = e->b_step ? e->b_step : e->K * e->N;
        cs[0] = e->M * e->ldc;
    }
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_t b_any;
    int ok = dnnl_memory_desc_init_by_strides(&e->a, nd, ad, dnnl_f32, as) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&e->b, nd, bd, dnnl_f32, bs) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&e->c, nd, cd, dnnl_f32, cs) == dnnl_success &&
             (!e->packed ||
              dnnl_memory_desc_init_by_tag(&b_any, nd, bd, dnnl_f32, dnnl_format_tag_any) ==
                  dnnl_success) &&
             dnnl_matmul_desc_init(&md, &e->a, e->packed ? &b_any : &e->b, NULL, &e->c) ==
                 dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success &&
             dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) ==
                 dnnl_success &&
             dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL) == dnnl_success &&
             dnnl_primitive_create(&e->prim, pd) == dnnl_success;
    if (ok)
        e->scratch = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (ok && e->packed) {
        dnnl_primitive_desc_t rpd = NULL;
        e->b_mine = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        ok = dnnl_reorder_primitive_desc_create(&rpd, &e->b, engine, &e->b_mine, engine, NULL) ==
                 dnnl_success &&
             dnnl_primitive_create(&e->reorder, rpd) == dnnl_success;
        if (rpd)
            dnnl_primitive_desc_destroy(rpd);
        if (!ok) {
            dnnl_primitive_destroy(e->prim);
            e->prim = NULL;
        }
    }
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return ok;
}

static const entry *lookup(const entry *key)
{
    const entry *found = NULL;
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < ncache && !(cache[i].ta == key->ta && cache[i].tb == key->tb &&
                           cache[i].M == key->M && cache[i].N == key->N && cache[i].K == key->K &&
                           cache[i].lda == key->lda && cache[i].ldb == key->ldb &&
                           cache[i].ldc == key->ldc && cache[i].batch == key->batch &&
                           cache[i].a_step == key->a_step && cache[i].b_step == key->b_step &&
                           cache[i].packed == key->packed))
        i++;
    if (i == ncache && ncache < CACHE) {
        /* a shape oneDNN declines is kept too (prim NULL), so it is asked once */
        cache[i] = *key;
        cache[i].prim = NULL;
        cache[i].reorder = NULL;
        if (!make(&cache[i]))
            cache[i].prim = NULL;
        ncache++;
    }
    if (i < ncache && cache[i].prim)
        found = &cache[i];
    pthread_mutex_unlock(&lock);
    return found;
}

static int run1(const entry *key, const float *A, const float *B, float *C);

/* One block (or batch of them) on the calling thread; 0 when it ran. */
static int run(const entry *key, const float *A, const float *B, float *C)
{
#ifdef _OPENMP
    /* oneDNN sizes a primitive for, and runs it on, this many threads */
    const int outer = omp_get_max_threads();
    if (outer != 1)
        omp_set_num_threads(1);
#endif
    const int rc = run1(key, A, B, C);
#ifdef _OPENMP
    if (outer != 1)
        omp_set_num_threads(outer);
#endif
    return rc;
}

static int run1(const entry *key, const float *A, const float *B, float *C)
{
    const entry *e = lookup(key);
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
    const entry key = { .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb,
                        .ldc = ldc, .batch = 1 };
    return run(&key, A, B, C);
}

int cpu_gemm_dnnl_batch(int ta, int tb, int64_t batch, int64_t M, int64_t N, int64_t K,
                        const float *A, int64_t a_step, int64_t lda, const float *B,
                        int64_t b_step, int64_t ldb, float *C)
{
    pthread_once(&once, init);
    if (!engine || K < 1 || batch < 1)
        return 1;
    const entry key = { .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb,
                        .ldc = N, .batch = batch, .a_step = a_step, .b_step = b_step };
    return run(&key, A, B, C);
}

/* ------------------------------------------------------ a B used many times */

struct cpu_dnnl_reuse {
    const entry *e;
    dnnl_stream_t stream;
    dnnl_memory_t a, b, c, scratch;
    void *b_buf, *scratch_buf;
};

void cpu_gemm_dnnl_reuse_free(cpu_dnnl_reuse *r)
{
    if (!r)
        return;
    if (r->stream)
        dnnl_stream_destroy(r->stream);
    dnnl_memory_destroy(r->a); /* NULL is accepted */
    dnnl_memory_destroy(r->b);
    dnnl_memory_destroy(r->c);
    dnnl_memory_destroy(r->scratch);
    free(r->b_buf);
    free(r->scratch_buf);
    free(r);
}

int cpu_gemm_dnnl_reuse_pack(cpu_dnnl_reuse *r, const float *B)
{
    dnnl_memory_t user = NULL;
    int bad = dnnl_memory_create(&user, &r->e->b, engine, (void *)B) != dnnl_success;
    if (!bad) {
        const dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, user }, { DNNL_ARG_TO, r->b } };
        bad = dnnl_primitive_execute(r->e->reorder, r->stream, 2, args) != dnnl_success ||
              dnnl_stream_wait(r->stream) != dnnl_success;
    }
    dnnl_memory_destroy(user);
    return bad;
}

cpu_dnnl_reuse *cpu_gemm_dnnl_reuse_new(int tb, int64_t M, int64_t N, int64_t K, int64_t lda,
                                        int64_t ldb, int64_t ldc)
{
    pthread_once(&once, init);
    if (!engine || M < 1 || N < 1 || K < 1)
        return NULL;
    const entry key = { .tb = tb, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb, .ldc = ldc,
                        .batch = 1, .packed = 1 };
    cpu_dnnl_reuse *r = calloc(1, sizeof *r);
    if (!r || !(r->e = lookup(&key))) {
        free(r);
        return NULL;
    }
    const entry *e = r->e;
    const size_t bb = dnnl_memory_desc_get_size(&e->b_mine),
                 sb = dnnl_memory_desc_get_size(&e->scratch);
    if (!(r->b_buf = malloc(bb ? bb : 1)) || (sb && !(r->scratch_buf = malloc(sb))) ||
        dnnl_stream_create(&r->stream, engine, dnnl_stream_default_flags) != dnnl_success ||
        dnnl_memory_create(&r->a, &e->a, engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl_memory_create(&r->b, &e->b_mine, engine, r->b_buf) != dnnl_success ||
        dnnl_memory_create(&r->c, &e->c, engine, DNNL_MEMORY_NONE) != dnnl_success ||
        dnnl_memory_create(&r->scratch, &e->scratch, engine, r->scratch_buf) != dnnl_success) {
        cpu_gemm_dnnl_reuse_free(r);
        return NULL;
    }
    return r;
}

int cpu_gemm_dnnl_reuse_run(cpu_dnnl_reuse *r, const float *A, float *C)
{
    const dnnl_exec_arg_t args[4] = { { DNNL_ARG_SRC, r->a }, { DNNL_ARG_WEIGHTS, r->b },
                                      { DNNL_ARG_DST, r->c }, { DNNL_ARG_SCRATCHPAD, r->scratch } };
    return dnnl_memory_set_data_handle(r->a, (void *)A) != dnnl_success ||
                   dnnl_memory_set_data_handle(r->c, C) != dnnl_success ||
                   dnnl_primitive_execute(r->e->prim, r->stream, 4, args) != dnnl_success ||
                   dnnl_stream_wait(r->stream) != dnnl_success
               ? 1
               : 0;
}
