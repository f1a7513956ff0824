/* conv2d and its gradients with oneDNN's convolution primitives
 * (forward_training, backward_data, backward_weights). The graph holds
 * plain NCHW / OIHW tensors; each primitive is made with the layouts left
 * to oneDNN ("any"), and the operands are reordered into those and the
 * result back. On plain layouts oneDNN's convolution is an im2col + GEMM
 * (its gemm:jit), about even with the lowered form on one thread; on its
 * blocked layouts (nChw16c here) it is a direct convolution (jit:avx512_core)
 * that, reorders included, made the CNN epoch 1.21x faster on one thread
 * (docs/performance.md).
 *
 * Threads: oneDNN here runs on libgomp, the OpenMP runtime of this
 * backend's own loops, and a primitive is called outside any parallel
 * region, so it forks onto the same pool with the thread count the process
 * set (part of the cache key: a primitive is sized for it when made). Its
 * sums run in an order its shape and that count fix, so results are
 * bit-identical run to run for a given thread count.
 *
 * A primitive and its reorders are made once per shape and kept, as the
 * matmul's are (gemm_dnnl.c). The work buffer (oneDNN's scratchpad, then
 * the reordered operands) is ours, kept between calls: a fresh one per call
 * would fault its pages in every time. Calls are serialised on it, which
 * two devices of one process rarely contend for (each primitive is
 * multi-threaded already). */
#include "conv_dnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { CACHE = 128 }; /* shapes kept: three per conv layer and batch size */

/* The operands of every pass, in the order x, w, y (src, weights, dst or
 * their gradients). */
enum { X, W, Y, OPERANDS };

typedef struct {
    clg_op op;
    int64_t n, c, h, w, o, oh, ow, groups, k[2], s[2], p[2], d[2];
    int threads;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t user[OPERANDS]; /* the graph's NCHW / OIHW tensors */
    dnnl_memory_desc_t mine[OPERANDS]; /* the layouts the primitive chose */
    dnnl_primitive_t reorder[OPERANDS]; /* user <-> mine where they differ */
    size_t off[OPERANDS], bytes;       /* mine's place in the work buffer; its size */
    dnnl_memory_desc_t scratch;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine; /* NULL: oneDNN unusable or turned off */
static dnnl_stream_t stream;
static unsigned passes;      /* bit per op: CONV2D, _GRAD_INPUT, _GRAD_WEIGHT */
static entry cache[CACHE];
static int ncache;
static void *scratch_buf;
static size_t scratch_cap;

static unsigned pass_bit(clg_op op)
{
    return op == CLG_OP_CONV2D ? 1u : op == CLG_OP_CONV2D_GRAD_INPUT ? 2u
                                   : op == CLG_OP_CONV2D_GRAD_WEIGHT ? 4u : 0u;
}

/* CLG_CPU_CONV: the passes oneDNN runs, a comma list of forward, data and
 * weights, or "im2col" for none (A/B runs of one build; a pass left out
 * runs as im2col + matmul). Unset, or a word it does not know: all three. */
static unsigned passes_from_env(void)
{
    const char *env = getenv("CLG_CPU_CONV");
    static const char *const word[3] = { "forward", "data", "weights" };
    unsigned set = 0;
    if (!env)
        return 7;
    for (const char *p = env; *p;) {
        size_t n = strcspn(p, ",");
        int known = n == 6 && !strncmp(p, "im2col", 6);
        for (int k = 0; k < 3; k++)
            if (n == strlen(word[k]) && !strncmp(p, word[k], n)) {
                set |= 1u << k;
                known = 1;
            }
        if (!known && n)
            return 7;
        p += n + (p[n] == ',');
    }
    return set;
}

static void init(void)
{
    passes = passes_from_env();
    if (!passes || dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) {
        engine = NULL;
        return;
    }
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(engine);
        engine = NULL;
    }
}

int cpu_conv_dnnl_runs(clg_op op)
{
    pthread_once(&once, init);
    return engine && (passes & pass_bit(op));
}

/* The key of op: its shapes, window and the thread count. */
static entry key_of(const clg_bk_op *op, int threads)
{
    const clg_params *p = &op->params;
    const clg_bk_tensor *x = op->op == CLG_OP_CONV2D_GRAD_INPUT ? &op->out : &op->in[0];
    const clg_bk_tensor *w = op->op == CLG_OP_CONV2D_GRAD_WEIGHT ? &op->out : &op->in[1];
    const clg_bk_tensor *y = op->op == CLG_OP_CONV2D ? &op->out
                             : op->op == CLG_OP_CONV2D_GRAD_INPUT ? &op->in[0] : &op->in[1];
    entry e;
    memset(&e, 0, sizeof e);
    e.op = op->op;
    e.n = x->dim[0];
    e.c = x->dim[1];
    e.h = x->dim[2];
    e.w = x->dim[3];
    e.o = w->dim[0];
    e.oh = y->dim[2];
    e.ow = y->dim[3];
    e.groups = clg_param_i64(p, CLG_P_GROUPS);
    for (int d = 0; d < 2; d++) {
        e.k[d] = clg_param_i64(p, CLG_P_KERNEL + d);
        e.s[d] = clg_param_i64(p, CLG_P_STRIDE + d);
        e.p[d] = clg_param_i64(p, CLG_P_PADDING + d);
        e.d[d] = clg_param_i64(p, CLG_P_DILATION + d);
    }
    e.threads = threads;
    return e;
}

static int same_key(const entry *a, const entry *b)
{
    /* every field before prim, compared one by one (no padding bytes) */
    int same = a->op == b->op && a->n == b->n && a->c == b->c && a->h == b->h && a->w == b->w &&
               a->o == b->o && a->oh == b->oh && a->ow == b->ow && a->groups == b->groups &&
               a->threads == b->threads;
    for (int d = 0; same && d < 2; d++)
        same = a->k[d] == b->k[d] && a->s[d] == b->s[d] && a->p[d] == b->p[d] &&
               a->d[d] == b->d[d];
    return same;
}

/* Whether operand k is written by e's pass (the rest are read). */
static int is_output(const entry *e, int k)
{
    return k == (e->op == CLG_OP_CONV2D ? Y : e->op == CLG_OP_CONV2D_GRAD_INPUT ? X : W);
}

static size_t align64(size_t n)
{
    return (n + 63) / 64 * 64;
}

/* The reorders between the graph's layouts and the primitive's, and where
 * the primitive's copies lie in the work buffer (after the scratchpad). */
static int make_reorders(entry *e, const_dnnl_primitive_desc_t pdesc)
{
    const dnnl_query_t q[OPERANDS] = {
        e->op == CLG_OP_CONV2D_GRAD_INPUT ? dnnl_query_diff_src_md : dnnl_query_src_md,
        e->op == CLG_OP_CONV2D_GRAD_WEIGHT ? dnnl_query_diff_weights_md : dnnl_query_weights_md,
        e->op == CLG_OP_CONV2D ? dnnl_query_dst_md : dnnl_query_diff_dst_md,
    };
    e->scratch = *dnnl_primitive_desc_query_md(pdesc, dnnl_query_scratchpad_md, 0);
    size_t at = align64(dnnl_memory_desc_get_size(&e->scratch));
    for (int k = 0; k < OPERANDS; k++) {
        e->mine[k] = *dnnl_primitive_desc_query_md(pdesc, q[k], 0);
        e->reorder[k] = NULL;
        e->off[k] = 0;
        if (dnnl_memory_desc_equal(&e->mine[k], &e->user[k]))
            continue;
        const dnnl_memory_desc_t *from = is_output(e, k) ? &e->mine[k] : &e->user[k];
        const dnnl_memory_desc_t *to = is_output(e, k) ? &e->user[k] : &e->mine[k];
        dnnl_primitive_desc_t rpd = NULL;
        const int ok = dnnl_reorder_primitive_desc_create(&rpd, from, engine, to, engine, NULL) ==
                           dnnl_success &&
                       dnnl_primitive_create(&e->reorder[k], rpd) == dnnl_success;
        if (rpd)
            dnnl_primitive_desc_destroy(rpd);
        if (!ok)
            return 0;
        e->off[k] = at;
        at += align64(dnnl_memory_desc_get_size(&e->mine[k]));
    }
    e->bytes = at;
    return 1;
}

static void destroy(entry *e)
{
    if (e->prim)
        dnnl_primitive_destroy(e->prim);
    for (int k = 0; k < OPERANDS; k++)
        if (e->reorder[k])
            dnnl_primitive_destroy(e->reorder[k]);
    e->prim = NULL;
}

/* A new primitive for e's key, or 0 when oneDNN declines it. The primitive
 * picks its own layouts (format "any"): on NCHW it would be an im2col +
 * GEMM (its gemm:jit), on its blocked layouts a direct convolution
 * (jit:avx512_core here) that with the reorders to and from them measured
 * 1.8x faster over the three passes of the cnn preset's second layer
 * (docs/performance.md). */
static int make(entry *e)
{
    const int64_t g = e->groups;
    const dnnl_dims_t xd = { e->n, e->c, e->h, e->w }, yd = { e->n, e->o, e->oh, e->ow };
    const dnnl_dims_t wd1 = { e->o, e->c, e->k[0], e->k[1] };
    const dnnl_dims_t wdg = { g, e->o / g, e->c / g, e->k[0], e->k[1] };
    /* oneDNN counts dilation from 0 (1 is PyTorch's "none"); the right
     * padding equal to the left gives PyTorch's rounding down of the output */
    const dnnl_dims_t st = { e->s[0], e->s[1] }, dl = { e->d[0] - 1, e->d[1] - 1 },
                      pd = { e->p[0], e->p[1] };
    dnnl_memory_desc_t ax, aw, ay; /* any layout */
    dnnl_convolution_desc_t fd, bd;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t fpd = NULL, pdesc = NULL;
    e->prim = NULL;
    for (int k = 0; k < OPERANDS; k++)
        e->reorder[k] = NULL;
    int ok = dnnl_memory_desc_init_by_tag(&e->user[X], 4, xd, dnnl_f32, dnnl_nchw) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&e->user[Y], 4, yd, dnnl_f32, dnnl_nchw) == dnnl_success &&
             (g == 1 ? dnnl_memory_desc_init_by_tag(&e->user[W], 4, wd1, dnnl_f32, dnnl_oihw)
                     : dnnl_memory_desc_init_by_tag(&e->user[W], 5, wdg, dnnl_f32, dnnl_goihw)) ==
                 dnnl_success &&
             dnnl_memory_desc_init_by_tag(&ax, 4, xd, dnnl_f32, dnnl_format_tag_any) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&ay, 4, yd, dnnl_f32, dnnl_format_tag_any) == dnnl_success &&
             (g == 1 ? dnnl_memory_desc_init_by_tag(&aw, 4, wd1, dnnl_f32, dnnl_format_tag_any)
                     : dnnl_memory_desc_init_by_tag(&aw, 5, wdg, dnnl_f32, dnnl_format_tag_any)) ==
                 dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success &&
             dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) ==
                 dnnl_success &&
             dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training,
                                                        dnnl_convolution_direct, &ax, &aw, NULL,
                                                        &ay, st, dl, pd, pd) == dnnl_success &&
             dnnl_primitive_desc_create(&fpd, &fd, attr, engine, NULL) == dnnl_success;
    if (ok && e->op == CLG_OP_CONV2D) {
        pdesc = fpd;
        fpd = NULL;
    } else if (ok) {
        /* the backward passes are made against the forward's descriptor */
        ok = (e->op == CLG_OP_CONV2D_GRAD_INPUT
                  ? dnnl_dilated_convolution_backward_data_desc_init(
                        &bd, dnnl_convolution_direct, &ax, &aw, &ay, st, dl, pd, pd)
                  : dnnl_dilated_convolution_backward_weights_desc_init(
                        &bd, dnnl_convolution_direct, &ax, &aw, NULL, &ay, st, dl, pd, pd)) ==
                 dnnl_success &&
             dnnl_primitive_desc_create(&pdesc, &bd, attr, engine, fpd) == dnnl_success;
    }
    ok = ok && dnnl_primitive_create(&e->prim, pdesc) == dnnl_success &&
         make_reorders(e, pdesc);
    if (!ok)
        destroy(e);
    if (pdesc)
        dnnl_primitive_desc_destroy(pdesc);
    if (fpd)
        dnnl_primitive_desc_destroy(fpd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return ok;
}

/* Under the lock: the cached primitive for key k, made on first use; NULL
 * when oneDNN declines the shape (kept, so that it is asked once). A full
 * cache makes room by dropping its entries in turn: a network with more
 * shapes than that pays for remaking some, never for failing. */
static const entry *lookup(const entry *k)
{
    static int victim;
    int i = 0;
    while (i < ncache && !same_key(&cache[i], k))
        i++;
    if (i == ncache) {
        if (ncache == CACHE) {
            i = victim;
            victim = (victim + 1) % CACHE;
            destroy(&cache[i]);
        } else {
            ncache++;
        }
        cache[i] = *k;
        if (!make(&cache[i]))
            cache[i].prim = NULL;
    }
    return cache[i].prim ? &cache[i] : NULL;
}

static int threads_now(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int cpu_conv_dnnl_accepts(const clg_bk_op *op)
{
    const entry k = key_of(op, threads_now());
    pthread_mutex_lock(&lock);
    const int ok = lookup(&k) != NULL;
    pthread_mutex_unlock(&lock);
    return ok;
}

/* Under the lock: the scratchpad, at least `bytes` long. */
static void *scratch(size_t bytes)
{
    if (bytes > scratch_cap) {
        free(scratch_buf);
        scratch_buf = aligned_alloc(64, align64(bytes)); /* oneDNN's own alignment */
        scratch_cap = scratch_buf ? bytes : 0;
    }
    return scratch_buf;
}

static int run_reorder(dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to)
{
    const dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
    return dnnl_primitive_execute(r, stream, 2, args) != dnnl_success;
}

static clg_status execute(clg_bk_device *dev, const clg_bk_op *op, const entry *e)
{
    const int fwd = op->op == CLG_OP_CONV2D, data = op->op == CLG_OP_CONV2D_GRAD_INPUT;
    void *ptr[OPERANDS] = {
        cpu_data(data ? &op->out : &op->in[0]),
        cpu_data(op->op == CLG_OP_CONV2D_GRAD_WEIGHT ? &op->out : &op->in[1]),
        cpu_data(fwd ? &op->out : data ? &op->in[0] : &op->in[1]),
    };
    char *work = e->bytes ? scratch(e->bytes) : NULL;
    if (e->bytes && !work)
        return cpu_fail(dev, CLG_ERR_NOMEM, "%s: no memory for oneDNN's %zu-byte work buffer",
                        cpu_op_name(op->op), e->bytes);
    dnnl_memory_t user[OPERANDS] = { NULL }, mine[OPERANDS] = { NULL }, ms = NULL;
    int rc = dnnl_memory_create(&ms, &e->scratch, engine, work) != dnnl_success;
    for (int k = 0; k < OPERANDS && !rc; k++) {
        rc = dnnl_memory_create(&user[k], &e->user[k], engine, ptr[k]) != dnnl_success;
        if (!rc && e->reorder[k])
            rc = dnnl_memory_create(&mine[k], &e->mine[k], engine, work + e->off[k]) !=
                 dnnl_success;
    }
    /* inputs into the primitive's layouts, the pass, its output back */
    for (int k = 0; k < OPERANDS && !rc; k++)
        if (e->reorder[k] && !is_output(e, k))
            rc = run_reorder(e->reorder[k], user[k], mine[k]);
    if (!rc) {
        dnnl_memory_t m[OPERANDS];
        for (int k = 0; k < OPERANDS; k++)
            m[k] = e->reorder[k] ? mine[k] : user[k];
        const dnnl_exec_arg_t args[4] = {
            { fwd ? DNNL_ARG_SRC : data ? DNNL_ARG_DIFF_SRC : DNNL_ARG_SRC, m[X] },
            { fwd || data ? DNNL_ARG_WEIGHTS : DNNL_ARG_DIFF_WEIGHTS, m[W] },
            { fwd ? DNNL_ARG_DST : DNNL_ARG_DIFF_DST, m[Y] },
            { DNNL_ARG_SCRATCHPAD, ms },
        };
        rc = dnnl_primitive_execute(e->prim, stream, 4, args) != dnnl_success;
    }
    for (int k = 0; k < OPERANDS && !rc; k++)
        if (e->reorder[k] && is_output(e, k))
            rc = run_reorder(e->reorder[k], mine[k], user[k]);
    rc = rc || dnnl_stream_wait(stream) != dnnl_success;
    for (int k = 0; k < OPERANDS; k++) {
        dnnl_memory_destroy(user[k]); /* NULL is accepted */
        dnnl_memory_destroy(mine[k]);
    }
    dnnl_memory_destroy(ms);
    return rc ? cpu_fail(dev, CLG_ERR_BACKEND, "%s: oneDNN's convolution failed",
                         cpu_op_name(op->op))
              : CLG_OK;
}

clg_status cpu_conv2d(clg_bk_device *dev, const clg_bk_op *op)
{
    if (!cpu_conv_dnnl_runs(op->op))
        return cpu_fail(dev, CLG_ERR_UNSUPPORTED, "%s: oneDNN's convolution is not available",
                        cpu_op_name(op->op));
    const entry k = key_of(op, threads_now());
    pthread_mutex_lock(&lock);
    const entry *e = lookup(&k);
    clg_status st = e ? execute(dev, op, e)
                      : cpu_fail(dev, CLG_ERR_UNSUPPORTED, "%s: oneDNN declines this shape",
                                 cpu_op_name(op->op));
    pthread_mutex_unlock(&lock);
    return st;
}
