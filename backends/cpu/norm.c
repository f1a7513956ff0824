/* Batch norm's channel statistics (bn_stats) and its backward's channel
 * sums (bn_grad_sums) on x viewed as [N, C, S].
 *
 * Each run of S values (one image's plane of a channel) is summed in f32
 * lanes that vectorise (a run shorter than the lanes straight in double),
 * and the runs' results are combined in double in image order, so results
 * do not depend on the thread count. The variance is each run's centred sum
 * of squares (a second pass over a run still in L1) merged across runs by
 * the parallel-variance update: as exact as the two-pass formula over the
 * whole channel, at the cost of one pass over memory. */
#include "cpu.h"

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
