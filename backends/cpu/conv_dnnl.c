/* conv2d and its gradients with oneDNN's convolution primitives
 * (forward_training, backward_data, backward_weights) on the plain NCHW /
 * OIHW tensors the graph holds. On these layouts oneDNN's convolution is
 * itself an im2col + GEMM (its `gemm:jit`), but one that works image by
 * image on a column buffer sized for its threads and forks once per pass,
 * where the lowered form (core/lower.c) writes the whole batch's columns out
 * and reads them back and forks once per image's GEMM. Its GEMM kernel is
 * slower than the matmul's, so on one thread the CNN epoch is about even,
 * on two it is ahead (docs/performance.md).
 *
 * Threads: oneDNN here runs on libgomp, the OpenMP runtime of this
 * backend's own loops, and a primitive is called outside any parallel
 * region, so it forks onto the same pool with the thread count the process
 * set (part of the cache key: a primitive is sized for it when made). Its
 * sums run in an order its shape and that count fix, so results are
 * bit-identical run to run for a given thread count.
 *
 * A primitive is made once per shape and kept, as the matmul's are
 * (gemm_dnnl.c). The scratchpad (the column buffers) is ours, kept between
 * calls: a fresh one per call would fault its pages in every time. Calls
 * are serialised on it, which two devices of one process rarely contend
 * for (each primitive is multi-threaded already). */
#include "conv_dnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { CACHE = 128 }; /* shapes kept: three per conv layer and batch size */

typedef struct {
    clg_op op;
    int64_t n, c, h, w, o, oh, ow, groups, k[2], s[2], p[2], d[2];
    int threads;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t x, wt, y, scratch;
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

/* A new primitive for e's key, or 0 when oneDNN declines it. */
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
    dnnl_convolution_desc_t fd, bd;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t fpd = NULL, pdesc = NULL;
    int ok = dnnl_memory_desc_init_by_tag(&e->x, 4, xd, dnnl_f32, dnnl_nchw) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&e->y, 4, yd, dnnl_f32, dnnl_nchw) == dnnl_success &&
             (g == 1 ? dnnl_memory_desc_init_by_tag(&e->wt, 4, wd1, dnnl_f32, dnnl_oihw)
                     : dnnl_memory_desc_init_by_tag(&e->wt, 5, wdg, dnnl_f32, dnnl_goihw)) ==
                 dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success &&
             dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) ==
                 dnnl_success &&
             dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training,
                                                        dnnl_convolution_direct, &e->x, &e->wt,
                                                        NULL, &e->y, st, dl, pd, pd) ==
                 dnnl_success &&
             dnnl_primitive_desc_create(&fpd, &fd, attr, engine, NULL) == dnnl_success;
    if (ok && e->op == CLG_OP_CONV2D) {
        pdesc = fpd;
        fpd = NULL;
    } else if (ok) {
        /* the backward passes are made against the forward's descriptor */
        ok = (e->op == CLG_OP_CONV2D_GRAD_INPUT
                  ? dnnl_dilated_convolution_backward_data_desc_init(
                        &bd, dnnl_convolution_direct, &e->x, &e->wt, &e->y, st, dl, pd, pd)
                  : dnnl_dilated_convolution_backward_weights_desc_init(
                        &bd, dnnl_convolution_direct, &e->x, &e->wt, NULL, &e->y, st, dl, pd,
                        pd)) == dnnl_success &&
             dnnl_primitive_desc_create(&pdesc, &bd, attr, engine, fpd) == dnnl_success;
    }
    ok = ok && dnnl_primitive_create(&e->prim, pdesc) == dnnl_success;
    if (ok)
        e->scratch = *dnnl_primitive_desc_query_md(pdesc, dnnl_query_scratchpad_md, 0);
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
            if (cache[i].prim)
                dnnl_primitive_destroy(cache[i].prim);
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
        scratch_buf = malloc(bytes);
        scratch_cap = scratch_buf ? bytes : 0;
    }
    return scratch_buf;
}

static clg_status execute(clg_bk_device *dev, const clg_bk_op *op, const entry *e)
{
    /* the operands in the order of each pass's (x, w, y) */
    const int fwd = op->op == CLG_OP_CONV2D, data = op->op == CLG_OP_CONV2D_GRAD_INPUT;
    void *px = cpu_data(data ? &op->out : &op->in[0]);
    void *pw = cpu_data(op->op == CLG_OP_CONV2D_GRAD_WEIGHT ? &op->out : &op->in[1]);
    void *py = cpu_data(fwd ? &op->out : data ? &op->in[0] : &op->in[1]);
    const size_t bytes = dnnl_memory_desc_get_size(&e->scratch);
    void *sp = bytes ? scratch(bytes) : NULL;
    if (bytes && !sp)
        return cpu_fail(dev, CLG_ERR_NOMEM, "%s: no memory for oneDNN's %zu-byte scratchpad",
                        cpu_op_name(op->op), bytes);
    dnnl_memory_t mx = NULL, mw = NULL, my = NULL, ms = NULL;
    int rc = dnnl_memory_create(&mx, &e->x, engine, px) != dnnl_success ||
             dnnl_memory_create(&mw, &e->wt, engine, pw) != dnnl_success ||
             dnnl_memory_create(&my, &e->y, engine, py) != dnnl_success ||
             dnnl_memory_create(&ms, &e->scratch, engine, sp) != dnnl_success;
    if (!rc) {
        const dnnl_exec_arg_t args[4] = {
            { fwd ? DNNL_ARG_SRC : data ? DNNL_ARG_DIFF_SRC : DNNL_ARG_SRC, mx },
            { fwd || data ? DNNL_ARG_WEIGHTS : DNNL_ARG_DIFF_WEIGHTS, mw },
            { fwd ? DNNL_ARG_DST : DNNL_ARG_DIFF_DST, my },
            { DNNL_ARG_SCRATCHPAD, ms },
        };
        rc = dnnl_primitive_execute(e->prim, stream, 4, args) != dnnl_success ||
             dnnl_stream_wait(stream) != dnnl_success;
    }
    dnnl_memory_destroy(mx); /* NULL is accepted */
    dnnl_memory_destroy(mw);
    dnnl_memory_destroy(my);
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
