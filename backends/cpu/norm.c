/* Batch norm's channel statistics (bn_stats) and its backward's channel
 * sums (bn_grad_sums) on x viewed as [N, C, S]; layer norm's rows (below).
 *
 * Each run of S values (one image's plane of a channel) is summed in f32
 * lanes that vectorise (a run shorter than the lanes straight in double),
 * and the runs' results are combined in double in image order, so results
 * do not depend on the thread count. The variance is each run's centred sum
 * of squares (a second pass over a run still in L1) merged across runs by
 * the parallel-variance update: as exact as the two-pass formula over the
 * whole channel, at the cost of one pass over memory. */
#include "cpu.h"

#include <math.h>

#ifdef _OPENMP
#include <omp.h>
#endif

enum { LANES = 32 };

/* The lanes of one run, in a fixed order, into the channel's double total:
 * a run (one image's plane) is short enough for f32 partial sums. */
static double lanes_total(const float *acc)
{
    double t = 0.0;
    for (int j = 0; j < LANES; j++)
        t += (double)acc[j];
    return t;
}

/* sum of p[0..len) */
static double run_sum(const float *p, int64_t len)
{
    if (len < LANES) {
        double t = 0.0;
        for (int64_t k = 0; k < len; k++)
            t += (double)p[k];
        return t;
    }
    float acc[LANES] = { 0 };
    int64_t s = 0;
    for (; s + LANES <= len; s += LANES)
        for (int j = 0; j < LANES; j++)
            acc[j] += p[s + j];
    for (int j = 0; s < len; s++, j++)
        acc[j] += p[s];
    return lanes_total(acc);
}

/* sum of (p - m)^2 over p[0..len) */
static double run_sq(const float *p, int64_t len, float m)
{
    if (len < LANES) {
        double t = 0.0;
        for (int64_t k = 0; k < len; k++)
            t += ((double)p[k] - m) * ((double)p[k] - m);
        return t;
    }
    float acc[LANES] = { 0 };
    int64_t s = 0;
    for (; s + LANES <= len; s += LANES)
        for (int j = 0; j < LANES; j++) {
            const float d = p[s + j] - m;
            acc[j] += d * d;
        }
    for (int j = 0; s < len; s++, j++) {
        const float d = p[s] - m;
        acc[j] += d * d;
    }
    return lanes_total(acc);
}

/* *a += sum q, *b += sum q (p - m) over [0..len) */
static void run_grad(double *a, double *b, const float *q, const float *p, int64_t len, float m)
{
    if (len < LANES) {
        for (int64_t k = 0; k < len; k++) {
            *a += (double)q[k];
            *b += (double)q[k] * ((double)p[k] - m);
        }
        return;
    }
    float sa[LANES] = { 0 }, sb[LANES] = { 0 };
    int64_t s = 0;
    for (; s + LANES <= len; s += LANES)
        for (int j = 0; j < LANES; j++) {
            sa[j] += q[s + j];
            sb[j] += q[s + j] * (p[s + j] - m);
        }
    for (int j = 0; s < len; s++, j++) {
        sa[j] += q[s];
        sb[j] += q[s] * (p[s] - m);
    }
    *a += lanes_total(sa);
    *b += lanes_total(sb);
}

static void bn_dims(const clg_bk_tensor *x, int64_t *n, int64_t *c, int64_t *s)
{
    *n = x->dim[0];
    *c = x->dim[1];
    *s = 1;
    for (int d = 2; d < x->ndim; d++)
        *s *= x->dim[d];
}

/* Channels [c0, c1) of x, c1 - c0 <= CHUNK, image by image: memory in order
 * for one chunk, one prefetch stream instead of one per run. */
enum { CHUNK = 256 };

/* The number of contiguous channel ranges to split c channels into. Each
 * channel belongs to one range and sums its runs in image order whatever
 * the split, so results do not depend on it. */
static int64_t parts_for(int64_t work, int64_t c)
{
    int64_t parts = 1;
#ifdef _OPENMP
    parts = CPU_PAR(work, 2) ? omp_get_max_threads() : 1;
#endif
    (void)work;
    return parts < c ? parts : c;
}

static void stats_chunk(const float *x, float *o, int64_t n, int64_t c, int64_t s, int64_t c0,
                        int64_t c1)
{
    /* per channel: the mean and centred sum of squares of its runs so far;
     * each run's own (two passes, the second from L1) merged in by Chan,
     * Golub and LeVeque's update */
    double mean[CHUNK], m2[CHUNK];
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = c0; ch < c1; ch++) {
            const float *p = x + (i * c + ch) * s;
            const double rm = run_sum(p, s) / (double)s;
            const float rmf = (float)rm;
            /* the squares were centred on rmf: take out its offset from rm */
            const double rm2 = run_sq(p, s, rmf) - (double)s * (rm - rmf) * (rm - rmf);
            if (i == 0) {
                mean[ch - c0] = rm;
                m2[ch - c0] = rm2;
            } else {
                const double delta = rm - mean[ch - c0], seen = (double)(i * s);
                const double total = seen + (double)s;
                mean[ch - c0] += delta * (double)s / total;
                m2[ch - c0] += rm2 + delta * delta * seen * (double)s / total;
            }
        }
    for (int64_t ch = c0; ch < c1; ch++) {
        o[ch] = (float)mean[ch - c0];
        o[c + ch] = (float)(m2[ch - c0] / (double)(n * s));
    }
}

clg_status cpu_bn_stats(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    int64_t n, c, s;
    bn_dims(&op->in[0], &n, &c, &s);
    const float *x = cpu_data(&op->in[0]);
    float *o = cpu_data(&op->out);
    const int64_t parts = parts_for(n * c * s, c);
    CPU_PARALLEL_FOR(parts > 1)
    for (int64_t t = 0; t < parts; t++)
        for (int64_t c0 = c * t / parts, end = c * (t + 1) / parts; c0 < end; c0 += CHUNK)
            stats_chunk(x, o, n, c, s, c0, end - c0 < CHUNK ? end : c0 + CHUNK);
    return CLG_OK;
}

static void grad_chunk(const float *gr, const float *x, const float *stats, float *o, int64_t n,
                       int64_t c, int64_t s, int64_t c0, int64_t c1)
{
    double a[CHUNK] = { 0 }, b[CHUNK] = { 0 };
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = c0; ch < c1; ch++)
            run_grad(&a[ch - c0], &b[ch - c0], gr + (i * c + ch) * s, x + (i * c + ch) * s, s,
                     stats[ch]);
    for (int64_t ch = c0; ch < c1; ch++) {
        o[ch] = (float)a[ch - c0];
        o[c + ch] = (float)b[ch - c0];
    }
}

clg_status cpu_bn_grad_sums(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    int64_t n, c, s;
    bn_dims(&op->in[1], &n, &c, &s);
    const float *gr = cpu_data(&op->in[0]), *x = cpu_data(&op->in[1]);
    const float *stats = cpu_data(&op->in[2]);
    float *o = cpu_data(&op->out);
    const int64_t parts = parts_for(n * c * s, c);
    CPU_PARALLEL_FOR(parts > 1)
    for (int64_t t = 0; t < parts; t++)
        for (int64_t c0 = c * t / parts, end = c * (t + 1) / parts; c0 < end; c0 += CHUNK)
            grad_chunk(gr, x, stats, o, n, c, s, c0, end - c0 < CHUNK ? end : c0 + CHUNK);
    return CLG_OK;
}

/* ------------------------------------------------------------ layer norm */

enum { ROW_LANES = 8 };

/* Eight f32 lanes into double, in a fixed order. */
static double row_lanes(const float *acc)
{
    double t = 0.0;
    for (int k = 0; k < ROW_LANES; k++)
        t += (double)acc[k];
    return t;
}

/* sum of p[0..d) */
static double row_sum(const float *p, int64_t d)
{
    float acc[ROW_LANES] = { 0 };
    int64_t j = 0;
    for (; j + ROW_LANES <= d; j += ROW_LANES)
        for (int k = 0; k < ROW_LANES; k++)
            acc[k] += p[j + k];
    for (int k = 0; j < d; j++, k++)
        acc[k] += p[j];
    return row_lanes(acc);
}

/* sum of p q over [0..d) */
static double row_dot(const float *p, const float *q, int64_t d)
{
    float acc[ROW_LANES] = { 0 };
    int64_t j = 0;
    for (; j + ROW_LANES <= d; j += ROW_LANES)
        for (int k = 0; k < ROW_LANES; k++)
            acc[k] += p[j + k] * q[j + k];
    for (int k = 0; j < d; j++, k++)
        acc[k] += p[j] * q[j];
    return row_lanes(acc);
}

/* A row's mean, and 1 / sqrt(biased variance + eps), the squares centred
 * in a second pass over the row (in L1); xc receives x - mean. */
static void row_stats(const float *x, int64_t d, float eps, float *xc, float *mean, float *rstd)
{
    const float m = (float)(row_sum(x, d) / (double)d);
    for (int64_t j = 0; j < d; j++)
        xc[j] = x[j] - m;
    const double var = row_dot(xc, xc, d) / (double)d;
    *mean = m;
    *rstd = (float)(1.0 / sqrt(var + (double)eps));
}

static void ln_row(const float *x, float *y, int64_t d, float eps)
{
    float m, r;
    row_stats(x, d, eps, y, &m, &r); /* y holds x - mean */
    for (int64_t j = 0; j < d; j++)
        y[j] *= r;
}

clg_status cpu_ln_norm(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const clg_bk_tensor *t = &op->in[0];
    const int64_t d = t->dim[t->ndim - 1], rows = d ? cpu_numel(t) / d : 0;
    const float *x = cpu_data(t);
    float *y = cpu_data(&op->out);
    const float eps = clg_param_f32(&op->params, CLG_P_SCALAR);
    CPU_PARALLEL_FOR(CPU_PAR(rows * d, 4))
    for (int64_t i = 0; i < rows; i++)
        ln_row(x + i * d, y + i * d, d, eps);
    return CLG_OK;
}

/* dx = rstd (G - mean(G) - xhat mean(G xhat)) for one row; dx holds xhat
 * until the means are known. */
static void ln_grad_row(const float *gr, const float *x, float *dx, int64_t d, float eps)
{
    float m, r;
    row_stats(x, d, eps, dx, &m, &r);
    for (int64_t j = 0; j < d; j++)
        dx[j] *= r;
    const float a = (float)(row_sum(gr, d) / (double)d);
    const float b = (float)(row_dot(gr, dx, d) / (double)d);
    for (int64_t j = 0; j < d; j++)
        dx[j] = r * (gr[j] - a - dx[j] * b);
}

clg_status cpu_ln_norm_grad(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const clg_bk_tensor *t = &op->in[1];
    const int64_t d = t->dim[t->ndim - 1], rows = d ? cpu_numel(t) / d : 0;
    const float *gr = cpu_data(&op->in[0]), *x = cpu_data(t);
    float *dx = cpu_data(&op->out);
    const float eps = clg_param_f32(&op->params, CLG_P_SCALAR);
    CPU_PARALLEL_FOR(CPU_PAR(rows * d, 6))
    for (int64_t i = 0; i < rows; i++)
        ln_grad_row(gr + i * d, x + i * d, dx + i * d, d, eps);
    return CLG_OK;
}
