/* lstm_scan and lstm_scan_grad: an LSTM's whole recurrence, forward and
 * backward, as one op each (the op table gives their layouts).
 *
 * Rows of the batch never meet in a recurrence, so each thread takes a
 * slice of the batch and runs every step of it alone: one fork per op, no
 * barrier between steps. Per step and thread, one GEMM with w_hh, which
 * oneDNN reads in its own blocked layout, reordered once per op rather than
 * repacked per step (gemm_dnnl.h); then the gates' elementwise work on rows
 * still in L1, with the vector math the unary ops use. Without oneDNN the
 * GEMM is CBLAS's or the portable kernel's. A slice's work rows and oneDNN
 * objects are kept on the device from op to op (cpu_lstm_work_free frees
 * them when it closes).
 *
 * Each row's arithmetic is fixed by the thread count (it fixes the GEMM's
 * block), so results are bit-identical run to run for a given count. */
#include "cpu.h"

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

/* C[M, N] = A op(B) on the calling thread, with B reused across calls. */
typedef struct step_gemm {
    int tb;
    int64_t M, N, K, lda, ldb, ldc;
    const float *B;
#ifdef CLG_CPU_HAVE_DNNL
    cpu_dnnl_reuse *dnnl;
#endif
} step_gemm;

/* A batch slice's work memory, kept on the device between ops: allocating
 * it per op faulted its pages in every time (a thread's malloc arena gives
 * freed memory back), and oneDNN's objects cost more to make than to run. */
struct cpu_lstm_work {
    float *rows;
    size_t cap;          /* floats at rows */
    step_gemm mm[2];     /* the forward's GEMM and the backward's */
};

static void step_gemm_drop(step_gemm *s)
{
#ifdef CLG_CPU_HAVE_DNNL
    cpu_gemm_dnnl_reuse_free(s->dnnl);
#endif
    memset(s, 0, sizeof *s);
}

/* s set up for B: the kept oneDNN object when the shape is the same, B
 * packed into it; without one the GEMM runs on CBLAS. */
static void step_gemm_set(step_gemm *s, int tb, int64_t M, int64_t N, int64_t K, int64_t lda,
                          const float *B, int64_t ldb, int64_t ldc)
{
    if (s->tb != tb || s->M != M || s->N != N || s->K != K || s->lda != lda || s->ldb != ldb ||
        s->ldc != ldc) {
        step_gemm_drop(s);
        *s = (step_gemm){ .tb = tb, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb, .ldc = ldc };
#ifdef CLG_CPU_HAVE_DNNL
        s->dnnl = cpu_gemm_dnnl_reuse_new(tb, M, N, K, lda, ldb, ldc);
#endif
    }
    s->B = B;
#ifdef CLG_CPU_HAVE_DNNL
    if (s->dnnl && cpu_gemm_dnnl_reuse_pack(s->dnnl, B)) {
        cpu_gemm_dnnl_reuse_free(s->dnnl);
        s->dnnl = NULL;
    }
#endif
}

/* n zeroed floats of w's rows, or NULL out of memory. */
static float *work_rows(struct cpu_lstm_work *w, size_t n)
{
    if (w->cap < n) {
        float *r = realloc(w->rows, n * sizeof *r);
        if (!r)
            return NULL;
        w->rows = r;
        w->cap = n;
    }
    memset(w->rows, 0, n * sizeof *w->rows);
    return w->rows;
}

void cpu_lstm_work_free(clg_bk_device *dev)
{
    for (int p = 0; dev && p < dev->lstm_parts; p++) {
        free(dev->lstm[p].rows);
        for (int k = 0; k < 2; k++)
            step_gemm_drop(&dev->lstm[p].mm[k]);
    }
    if (dev) {
        free(dev->lstm);
        dev->lstm = NULL;
        dev->lstm_parts = 0;
    }
}

/* 0, or -1 when the portable kernel could not allocate. */
static int step_gemm_run(const step_gemm *s, const float *A, float *C)
{
#ifdef CLG_CPU_HAVE_DNNL
    if (s->dnnl && cpu_gemm_dnnl_reuse_run(s->dnnl, A, C) == 0)
        return 0;
#endif
#ifdef CLG_CPU_HAVE_CBLAS
    /* sizes fit int: cpu_lstm_dims checked them */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, (int)s->M,
                (int)s->N, (int)s->K, 1.0f, A, (int)s->lda, s->B, (int)s->ldb, 0.0f, C,
                (int)s->ldc);
    return 0;
#else
    return cpu_sgemm_portable(0, s->tb, s->M, s->N, s->K, A, s->lda, s->B, s->ldb, C, s->ldc);
#endif
}

/* The gates' loops built for AVX-512 and AVX2 beside the baseline, picked
 * at load time: the backend itself is built for any x86-64 (SSE2). No FMA
 * contraction is allowed (meson.build), so every clone gives the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef CPU_CLONES
#define CPU_CLONES
#endif

/* Asks for the cache lines of n floats from p ahead of their use: a step
 * reads one short row per batch row and plane, scattered too widely for
 * the hardware prefetcher to follow. */
static inline void prefetch(const float *p, int64_t n, int write)
{
    for (int64_t k = 0; k < n; k += 16) {
        if (write)
            __builtin_prefetch(p + k, 1, 3);
        else
            __builtin_prefetch(p + k, 0, 3);
    }
}

typedef struct dims {
    int64_t n, t, h;
} dims;

/* The plane p (h, c, i, f, g, o, tanh c) row of batch row r at index s of
 * y [7, N, T + 1, H]: index 0 is the zero state before the first step, index
 * t + 1 step t. */
static inline float *plane(float *y, const dims *d, int p, int64_t r, int64_t s)
{
    return y + ((p * d->n + r) * (d->t + 1) + s) * d->h;
}

/* The threads' batch slices: all of them when the work is worth a fork
 * (it always is but for toy sizes), at most one row each. */
static int slices(const dims *d)
{
#ifdef _OPENMP
    int parts = CPU_PAR(d->n * d->t * d->h, 32) ? omp_get_max_threads() : 1;
    return parts > d->n ? (int)d->n : parts;
#else
    (void)d;
    return 1;
#endif
}

/* A thread's GEMMs run on it alone (a primitive is sized for the count it
 * sees when made); restores the count when done. */
static int one_thread(void)
{
#ifdef _OPENMP
    const int outer = omp_get_max_threads();
    omp_set_num_threads(1);
    return outer;
#else
    return 1;
#endif
}

static void restore_threads(int outer)
{
#ifdef _OPENMP
    omp_set_num_threads(outer);
#else
    (void)outer;
#endif
}

CPU_CLONES static void add_row(float *restrict a, const float *restrict x, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        a[j] += x[j];
}

/* c = f c_prev + i g; h = o tanh(c), tanh(c) first into tc (vectorised
 * loops: restrict tells the compiler the planes do not overlap). */
CPU_CLONES static void cell_row(int64_t h, float *restrict c, float *restrict hh, float *restrict tc,
                     const float *restrict cp, const float *restrict gi,
                     const float *restrict gf, const float *restrict gg,
                     const float *restrict go, cpu_unary_fn *th)
{
    for (int64_t j = 0; j < h; j++)
        c[j] = gf[j] * cp[j] + gi[j] * gg[j];
    th(tc, c, h, 0, 0);
    for (int64_t j = 0; j < h; j++)
        hh[j] = go[j] * tc[j];
}

/* One row of a step backward: xw's gradient o (the gates' i, f, g, o
 * blocks) from dh = g + rec and dc carried in dcn, which it advances. */
CPU_CLONES static void grad_row(int64_t h, float *restrict o, float *restrict dcn, const float *restrict g,
                     const float *restrict rec, const float *restrict tc,
                     const float *restrict cp, const float *restrict gi,
                     const float *restrict gf, const float *restrict gg,
                     const float *restrict go)
{
    for (int64_t j = 0; j < h; j++) {
        const float dh = g[j] + rec[j];
        const float dc = dh * go[j] * (1.0f - tc[j] * tc[j]) + dcn[j];
        o[j] = dc * gg[j] * (gi[j] * (1.0f - gi[j]));
        o[h + j] = dc * cp[j] * (gf[j] * (1.0f - gf[j]));
        o[2 * h + j] = dc * gi[j] * (1.0f - gg[j] * gg[j]);
        o[3 * h + j] = dh * tc[j] * (go[j] * (1.0f - go[j]));
        dcn[j] = dc * gf[j];
    }
}

/* Rows [r0, r1) of the forward scan. 0, or -1 out of memory. */
static int scan_rows(struct cpu_lstm_work *wk, const dims *d, const float *xw, const float *w,
                     float *y, int64_t r0, int64_t r1)
{
    const int64_t m = r1 - r0, h = d->h, g4 = 4 * h;
    cpu_unary_fn *sig = cpu_unary_kernel(CLG_OP_SIGMOID, &(int){ 0 });
    cpu_unary_fn *th = cpu_unary_kernel(CLG_OP_TANH, &(int){ 0 });
    float *gates = work_rows(wk, (size_t)(m * g4)); /* zero: the first step's GEMM */
    if (!gates)
        return -1;
    const int outer = one_thread();
    step_gemm *mm = &wk->mm[0];
    /* gates = h_{t-1} w_hh^T: A is plane h at index t, rows (T + 1) H apart */
    step_gemm_set(mm, 1, m, g4, h, (d->t + 1) * h, w, h, g4);
    for (int p = 0; p < 7; p++) /* the state before the first step */
        for (int64_t r = r0; r < r1; r++)
            memset(plane(y, d, p, r, 0), 0, (size_t)h * sizeof *y);
    int rc = 0;
    for (int64_t t = 0; t < d->t && !rc; t++) {
        /* this step's rows of xw arrive while the GEMM runs */
        for (int64_t r = r0; r < r1; r++)
            prefetch(xw + (r * d->t + t) * g4, g4, 0);
        if (t > 0)
            rc = step_gemm_run(mm, plane(y, d, 0, r0, t), gates);
        for (int64_t r = r0; r < r1 && !rc; r++) {
            float *a = gates + (r - r0) * g4;
            const float *x = xw + (r * d->t + t) * g4;
            add_row(a, x, g4);
            const int64_t s = t + 1;
            float *hh = plane(y, d, 0, r, s), *c = plane(y, d, 1, r, s);
            float *gi = plane(y, d, 2, r, s), *gf = plane(y, d, 3, r, s);
            float *gg = plane(y, d, 4, r, s), *go = plane(y, d, 5, r, s);
            sig(gi, a, h, 0, 0);
            sig(gf, a + h, h, 0, 0);
            th(gg, a + 2 * h, h, 0, 0);
            sig(go, a + 3 * h, h, 0, 0);
            cell_row(h, c, hh, plane(y, d, 6, r, s), plane(y, d, 1, r, t), gi, gf, gg, go, th);
        }
    }
    restore_threads(outer);
    return rc;
}

/* Rows [r0, r1) of the backward scan into dxw [N, T, 4H]. 0, or -1. */
static int grad_rows(struct cpu_lstm_work *wk, const dims *d, const float *y0, const float *dh,
                     const float *w, float *dxw, int64_t r0, int64_t r1)
{
    const int64_t m = r1 - r0, h = d->h, g4 = 4 * h;
    float *y = (float *)y0; /* read only: plane() is shared with the forward */
    /* the recurrent share of dh (dgates_{t+1} w_hh) and dc carried back:
     * zeros past the last step */
    float *rec = work_rows(wk, (size_t)(2 * m * h));
    if (!rec)
        return -1;
    float *dcn = rec + m * h;
    const int outer = one_thread();
    step_gemm *mm = &wk->mm[1];
    /* rec = dgates_t w_hh: A is xw's gradient at step t, rows T 4H apart */
    step_gemm_set(mm, 0, m, h, g4, d->t * g4, w, h, h);
    int rc = 0;
    for (int64_t t = d->t - 1; t >= 0 && !rc; t--) {
        for (int64_t r = r0; r < r1; r++)
            grad_row(h, dxw + (r * d->t + t) * g4, dcn + (r - r0) * h, dh + (r * d->t + t) * h,
                     rec + (r - r0) * h, plane(y, d, 6, r, t + 1), plane(y, d, 1, r, t),
                     plane(y, d, 2, r, t + 1), plane(y, d, 3, r, t + 1), plane(y, d, 4, r, t + 1),
                     plane(y, d, 5, r, t + 1));
        if (t == 0)
            break;
        /* the step before's rows arrive while the GEMM runs */
        for (int64_t r = r0; r < r1; r++) {
            prefetch(dh + (r * d->t + t - 1) * h, h, 0);
            prefetch(dxw + (r * d->t + t - 1) * g4, g4, 1);
            for (int p = 1; p < 7; p++)
                prefetch(plane(y, d, p, r, t - (p == 1)), h, 0);
        }
        rc = step_gemm_run(mm, dxw + (r0 * d->t + t) * g4, rec);
    }
    restore_threads(outer);
    return rc;
}

static dims dims_of(const clg_bk_op *op)
{
    const clg_bk_tensor *w = &op->in[op->op == CLG_OP_LSTM_SCAN ? 1 : 2];
    const clg_bk_tensor *seq = op->op == CLG_OP_LSTM_SCAN ? &op->in[0] : &op->out;
    return (dims){ seq->dim[0], seq->dim[1], w->dim[1] };
}

clg_status cpu_lstm_scan(clg_bk_device *dev, const clg_bk_op *op)
{
    const dims d = dims_of(op);
    const int forward = op->op == CLG_OP_LSTM_SCAN;
    const int parts = slices(&d);
    if (parts > dev->lstm_parts) {
        struct cpu_lstm_work *w = realloc(dev->lstm, (size_t)parts * sizeof *w);
        if (!w)
            return cpu_fail(dev, CLG_ERR_NOMEM, "%s: out of memory for the threads' work",
                            cpu_op_name(op->op));
        memset(w + dev->lstm_parts, 0, (size_t)(parts - dev->lstm_parts) * sizeof *w);
        dev->lstm = w;
        dev->lstm_parts = parts;
    }
    int failed = 0;
    CPU_PARALLEL_FOR(parts > 1)
    for (int p = 0; p < parts; p++) {
        const int64_t r0 = d.n * p / parts, r1 = d.n * (p + 1) / parts;
        struct cpu_lstm_work *wk = &dev->lstm[p];
        int rc = forward ? scan_rows(wk, &d, cpu_data(&op->in[0]), cpu_data(&op->in[1]),
                                     cpu_data(&op->out), r0, r1)
                         : grad_rows(wk, &d, cpu_data(&op->in[0]), cpu_data(&op->in[1]),
                                     cpu_data(&op->in[2]), cpu_data(&op->out), r0, r1);
        if (rc) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
            failed = 1;
        }
    }
    return failed ? cpu_fail(dev, CLG_ERR_NOMEM, "%s: out of memory for a thread's work rows",
                             cpu_op_name(op->op))
                  : CLG_OK;
}
