/* Reductions (sum, mean, max over a set of axes), argmax and softmax /
 * log_softmax over one axis.
 *
 * Each output element accumulates its inputs in one fixed order into
 * doubles, whichever path and however many threads run it: threads only ever
 * split the set of output elements. That makes results bit-identical run to
 * run and across thread counts, and the doubles keep long sums accurate. */
#include "cpu.h"
#include "vmath.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Dims of one kind (reduced, or kept) with their input strides. */
typedef struct dim_list {
    int n;
    int64_t size[CLG_MAX_DIMS];
    int64_t stride[CLG_MAX_DIMS];
} dim_list;

static void push(dim_list *l, int64_t size, int64_t stride)
{
    l->size[l->n] = size;
    l->stride[l->n] = stride;
    l->n++;
}

static int64_t count(const dim_list *l)
{
    int64_t n = 1;
    for (int i = 0; i < l->n; i++)
        n *= l->size[i];
    return n;
}

/* Input offset of the point with row-major index `linear` in l's space. */
static int64_t offset_of(const dim_list *l, int64_t linear)
{
    int64_t off = 0;
    for (int i = l->n - 1; i >= 0; i--) {
        off += (linear % l->size[i]) * l->stride[i];
        linear /= l->size[i];
    }
    return off;
}

static inline double max_nan(double acc, double v)
{
    return (v > acc || v != v) ? v : acc; /* NaN wins and stays, as PyTorch */
}

/* Independent partial sums of a contiguous-run sum. One accumulator chains
 * every add on the previous one's latency (the loop cannot be vectorised
 * without reassociating, which C forbids); LANES of them, filled in a fixed
 * pattern and combined in a fixed order, vectorise and keep the result
 * independent of threads. The pattern depends only on the position in the
 * run, so a given output always sums in the same order. */
#define LANES 16

/* lane[k] += p[j] for j = k mod LANES over the run, the tail starting again
 * at lane 0 (a fixed pattern: only n decides it). */
static void sum_run(double *restrict lane, const float *restrict p, int64_t n)
{
    int64_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int k = 0; k < LANES; k++)
            lane[k] += (double)p[j + k];
    for (int k = 0; j < n; j++, k++)
        lane[k] += (double)p[j];
}

/* The lanes added pairwise in a fixed tree. */
static double sum_lanes(double *lane)
{
    for (int w = LANES / 2; w > 0; w /= 2)
        for (int k = 0; k < w; k++)
            lane[k] += lane[k + w];
    return lane[0];
}

/* Columns one work item of the kept-inner path accumulates at once. */
#define COL_BLOCK 256

/* The streaming path: at most this many outputs (their lanes stay in L1),
 * over runs of at least MIN_RUN elements. */
#define STREAM_OUTS 256
#define STREAM_MIN_RUN 16

/* Outputs [i0, i1) of a reduction whose runs (contiguous, `run` long,
 * the innermost reduced group) belong to few outputs, as batch norm's
 * statistics over (0, 2, 3) of [N, C, H, W]: one pass over the input in
 * memory order, so the hardware prefetcher sees one stream instead of a
 * jump at every run. Output i still takes its runs in the order the
 * per-output path does (row-major order over the input restricted to i's
 * points is row-major order over its reduced points), so the results are
 * that path's, bit for bit, whichever outputs a thread takes. */
static void reduce_stream(const clg_bk_op *op, const float *a, float *o, const int64_t *size,
                          const int *reduced, int ng, int64_t run, int64_t i0, int64_t i1,
                          double n_reduced)
{
    const int is_max = op->op == CLG_OP_MAX;
    const int nd = ng - 1; /* the groups outside the run */
    int64_t kstep[CLG_MAX_DIMS], coord[CLG_MAX_DIMS] = { 0 }, pts = 1;
    for (int g = nd - 1, k = 1; g >= 0; g--) {
        kstep[g] = reduced[g] ? 0 : k;
        k *= reduced[g] ? 1 : size[g];
        pts *= size[g];
    }
    double lane[STREAM_OUTS][LANES];
    for (int64_t i = i0; i < i1; i++)
        for (int k = 0; k < LANES; k++)
            lane[i - i0][k] = is_max ? -INFINITY : 0.0;
    for (int64_t pt = 0, i = 0; pt < pts; pt++) {
        if (i >= i0 && i < i1) {
            const float *p = a + pt * run;
            if (is_max) {
                double acc = lane[i - i0][0];
                for (int64_t j = 0; j < run; j++)
                    acc = max_nan(acc, p[j]);
                lane[i - i0][0] = acc;
            } else {
                sum_run(lane[i - i0], p, run);
            }
        }
        for (int g = nd - 1; g >= 0; g--) { /* the next point, and its output */
            i += kstep[g];
            if (++coord[g] < size[g])
                break;
            coord[g] = 0;
            i -= kstep[g] * size[g];
        }
    }
    for (int64_t i = i0; i < i1; i++) {
        const double acc = is_max ? lane[i - i0][0] : sum_lanes(lane[i - i0]);
        o[i] = (float)(op->op == CLG_OP_MEAN ? acc / n_reduced : acc);
    }
}

clg_status cpu_reduce(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const clg_bk_tensor *in = &op->in[0];
    const int is_max = op->op == CLG_OP_MAX;
    const int64_t n_out = cpu_numel(&op->out), n_in = cpu_numel(in);
    float *o = cpu_data(&op->out);
    const float *a = cpu_data(in);
    if (n_out == 0)
        return CLG_OK;
    if (n_in == 0) { /* reduced over an empty dim; max was refused by check.c */
        const float v = op->op == CLG_OP_MEAN ? NAN : 0.0f;
        for (int64_t i = 0; i < n_out; i++)
            o[i] = v;
        return CLG_OK;
    }

    /* Group neighbouring dims of the same kind (the input is contiguous, so
     * each group is one strided dim), dropping size-1 dims. */
    int64_t size[CLG_MAX_DIMS], stride[CLG_MAX_DIMS];
    int reduced[CLG_MAX_DIMS], ng = 0;
    for (int d = 0; d < in->ndim; d++) {
        if (in->dim[d] == 1)
            continue;
        const int r = ((uint32_t)clg_param_i64(&op->params, CLG_P_AXES) >> d) & 1;
        if (ng > 0 && reduced[ng - 1] == r) {
            size[ng - 1] *= in->dim[d];
        } else {
            size[ng] = in->dim[d];
            reduced[ng] = r;
            ng++;
        }
    }
    int64_t s = 1;
    for (int g = ng - 1; g >= 0; g--) {
        stride[g] = s;
        s *= size[g];
    }
    dim_list kept = { 0 }, red = { 0 };
    for (int g = 0; g < ng; g++)
        push(reduced[g] ? &red : &kept, size[g], stride[g]);
    const double n_reduced = (double)(n_in / n_out);

    if (ng == 0 || reduced[ng - 1]) {
        /* Reduced dims innermost: each output sums contiguous runs. */
        int64_t run = 1;
        if (ng > 0)
            run = red.size[--red.n];
        const int64_t n_runs = count(&red);
        if (red.n > 0 && run >= STREAM_MIN_RUN && n_out <= STREAM_OUTS) {
            int64_t parts = 1;
#ifdef _OPENMP
            parts = CPU_PAR(n_in, 1) ? omp_get_max_threads() : 1;
#endif
            parts = parts < n_out ? parts : n_out;
            CPU_PARALLEL_FOR(parts > 1)
            for (int64_t t = 0; t < parts; t++)
                reduce_stream(op, a, o, size, reduced, ng, run, n_out * t / parts,
                              n_out * (t + 1) / parts, n_reduced);
            return CLG_OK;
        }
        CPU_PARALLEL_FOR(CPU_PAR(n_in, 1))
        for (int64_t i = 0; i < n_out; i++) {
            const int64_t base = offset_of(&kept, i);
            double acc;
            if (is_max) {
                acc = -INFINITY;
                for (int64_t r = 0; r < n_runs; r++) {
                    const float *p = a + base + offset_of(&red, r);
                    for (int64_t j = 0; j < run; j++)
                        acc = max_nan(acc, p[j]);
                }
            } else {
                double lane[LANES] = { 0 };
                for (int64_t r = 0; r < n_runs; r++)
                    sum_run(lane, a + base + offset_of(&red, r), run);
                acc = sum_lanes(lane);
            }
            o[i] = (float)(op->op == CLG_OP_MEAN ? acc / n_reduced : acc);
        }
        return CLG_OK;
    }

    /* A kept dim innermost (e.g. a bias gradient, sum over the batch): walk
     * the reduced points in order and add whole blocks of columns at once. */
    const int64_t cols = kept.size[--kept.n];
    const int64_t n_rows = count(&kept), n_points = count(&red);
    const int64_t blocks = (cols + COL_BLOCK - 1) / COL_BLOCK;
    CPU_PARALLEL_FOR(CPU_PAR(n_in, 1))
    for (int64_t item = 0; item < n_rows * blocks; item++) {
        const int64_t row = item / blocks, c0 = (item % blocks) * COL_BLOCK;
        const int64_t nc = cols - c0 < COL_BLOCK ? cols - c0 : COL_BLOCK;
        const int64_t base = offset_of(&kept, row) + c0;
        double acc[COL_BLOCK];
        for (int64_t c = 0; c < nc; c++)
            acc[c] = is_max ? -INFINITY : 0.0;
        for (int64_t r = 0; r < n_points; r++) {
            const float *p = a + base + offset_of(&red, r);
            if (is_max)
                for (int64_t c = 0; c < nc; c++)
                    acc[c] = max_nan(acc[c], p[c]);
            else
                for (int64_t c = 0; c < nc; c++)
                    acc[c] += p[c];
        }
        float *q = o + row * cols + c0;
        for (int64_t c = 0; c < nc; c++)
            q[c] = (float)(op->op == CLG_OP_MEAN ? acc[c] / n_reduced : acc[c]);
    }
    return CLG_OK;
}

/* The input as [outer, len, inner] around `axis` (a scalar is [1, 1, 1]). */
static void split_at_axis(const clg_bk_tensor *t, int axis, int64_t *outer, int64_t *len,
                          int64_t *inner)
{
    *outer = *inner = *len = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (d < axis)
            *outer *= t->dim[d];
        else if (d == axis)
            *len = t->dim[d];
        else
            *inner *= t->dim[d];
    }
}

/* Whether v replaces best: strictly greater keeps the first maximum, and
 * the first NaN wins (as PyTorch). */
static inline int better(float v, float best)
{
    return v > best || (v != v && best == best);
}

/* Columns one work item of argmax's strided path tracks at once. */
#define ARG_BLOCK 256

clg_status cpu_argmax(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    int64_t outer, len, inner;
    split_at_axis(&op->in[0], clg_param_int(&op->params, CLG_P_AXIS), &outer, &len, &inner);
    const float *a = cpu_data(&op->in[0]);
    int32_t *o = cpu_data(&op->out);
    if (inner == 1) {
        CPU_PARALLEL_FOR(CPU_PAR(outer * len, 1))
        for (int64_t i = 0; i < outer; i++) {
            const float *p = a + i * len;
            float best = p[0];
            int32_t at = 0;
            for (int64_t j = 1; j < len; j++)
                if (better(p[j], best)) {
                    best = p[j];
                    at = (int32_t)j;
                }
            o[i] = at;
        }
        return CLG_OK;
    }
    /* The axis strided (pooling windows: [N, C, KH*KW, L]): sweep each of
     * its positions across a block of contiguous neighbours at once, the
     * running best of every column in a small array, so the compares are
     * branch-free and vectorise. */
    const int64_t blocks = (inner + ARG_BLOCK - 1) / ARG_BLOCK;
    CPU_PARALLEL_FOR(CPU_PAR(outer * len * inner, 1))
    for (int64_t item = 0; item < outer * blocks; item++) {
        const int64_t i = item / blocks, c0 = (item % blocks) * ARG_BLOCK;
        const int64_t nc = inner - c0 < ARG_BLOCK ? inner - c0 : ARG_BLOCK;
        const float *p = a + i * len * inner + c0;
        float best[ARG_BLOCK];
        int32_t at[ARG_BLOCK];
        for (int64_t c = 0; c < nc; c++) {
            best[c] = p[c];
            at[c] = 0;
        }
        for (int64_t j = 1; j < len; j++) {
            const float *row = p + j * inner;
            for (int64_t c = 0; c < nc; c++) {
                const int take = better(row[c], best[c]);
                best[c] = take ? row[c] : best[c];
                at[c] = take ? (int32_t)j : at[c];
            }
        }
        memcpy(o + i * inner + c0, at, (size_t)nc * sizeof *at);
    }
    return CLG_OK;
}

/* softmax(x)_j = exp(x_j - m) / sum_k exp(x_k - m), m = max_k x_k, so that
 * no exp overflows; log_softmax(x)_j = x_j - m - log(sum_k exp(x_k - m)).
 * The exps run as vector passes (vmath.h) over blocks of the line. */
#define SM_BLOCK 256

/* Lanes of the max and sum passes: SM_LANES independent accumulators, combined
 * in a fixed order at the end, so the compiler can keep them in vector
 * registers and the result still depends on the data only. */
#define SM_LANES 8

/* NaN if any element is NaN (as PyTorch), else the largest. */
static inline float max_step(float m, float v)
{
    return (v > m || v != v) ? v : m;
}

static float line_max(const float *x, int64_t len, int64_t step)
{
    float m = x[0];
    int64_t j = 1;
    if (step == 1 && len >= 2 * SM_LANES) {
        float acc[SM_LANES];
        for (int k = 0; k < SM_LANES; k++)
            acc[k] = x[k];
        for (j = SM_LANES; j + SM_LANES <= len; j += SM_LANES)
            for (int k = 0; k < SM_LANES; k++)
                acc[k] = max_step(acc[k], x[j + k]);
        m = acc[0];
        for (int k = 1; k < SM_LANES; k++)
            m = max_step(m, acc[k]);
    }
    for (; j < len; j++)
        m = max_step(m, x[j * step]);
    return m;
}

/* sum_j exp(x_j - m) in double, element j into lane j % SM_LANES; with e, also
 * stores each exp there (e[j * step]), for softmax's second pass.
 * cross_entropy's row_shift uses it too, so the fused loss has the unfused
 * bits. */
static double line_exp_sum(const float *x, int64_t len, int64_t step, float m, float *e)
{
    _Static_assert(SM_BLOCK % SM_LANES == 0, "lanes continue across blocks");
    float t[SM_BLOCK];
    double acc[SM_LANES] = { 0 };
    for (int64_t s = 0; s < len; s += SM_BLOCK) {
        const int64_t n = len - s < SM_BLOCK ? len - s : SM_BLOCK;
        for (int64_t j = 0; j < n; j++)
            t[j] = x[(s + j) * step] - m;
        cpu_vm_exp(t, t, n);
        /* a block's lanes in f32 (at most SM_BLOCK / SM_LANES terms each,
         * every one in (0, 1]), then into double: converting each exp cost
         * more than the exp */
        float part[SM_LANES] = { 0 };
        int64_t j = 0;
        for (; j + SM_LANES <= n; j += SM_LANES)
            for (int k = 0; k < SM_LANES; k++)
                part[k] += t[j + k];
        for (; j < n; j++)
            part[j % SM_LANES] += t[j];
        for (int k = 0; k < SM_LANES; k++)
            acc[k] += (double)part[k];
        if (e)
            for (j = 0; j < n; j++)
                e[(s + j) * step] = t[j];
    }
    double sum = acc[0];
    for (int k = 1; k < SM_LANES; k++)
        sum += acc[k];
    return sum;
}

static void softmax_line(float *o, const float *x, int64_t len, int64_t step, int log_form)
{
    const float m = line_max(x, len, step);
    if (log_form) {
        const double shift = (double)m + log(line_exp_sum(x, len, step, m, NULL));
        for (int64_t j = 0; j < len; j++)
            o[j * step] = (float)((double)x[j * step] - shift);
    } else {
        /* o holds the exps until the sum is known; then one rounded
         * reciprocal scales them (as PyTorch's kernel does), which
         * vectorises where a division per element did not */
        const float r = (float)(1.0 / line_exp_sum(x, len, step, m, o));
        if (step == 1)
            for (int64_t j = 0; j < len; j++)
                o[j] *= r;
        else
            for (int64_t j = 0; j < len; j++)
                o[j * step] *= r;
    }
}

clg_status cpu_softmax(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    int64_t outer, len, inner;
    split_at_axis(&op->in[0], clg_param_int(&op->params, CLG_P_AXIS), &outer, &len, &inner);
    if (len == 0)
        return CLG_OK;
    const float *a = cpu_data(&op->in[0]);
    float *o = cpu_data(&op->out);
    const int log_form = op->op == CLG_OP_LOG_SOFTMAX;
    CPU_PARALLEL_FOR(CPU_PAR(outer * len * inner, 16))
    for (int64_t i = 0; i < outer * inner; i++) {
        const int64_t off = (i / inner) * len * inner + i % inner;
        softmax_line(o + off, a + off, len, inner, log_form);
    }
    return CLG_OK;
}

/* Cross-entropy rows, forward and backward, each one pass over the logits
 * (a row is read into cache once). The forward's arithmetic is that of the
 * ops it replaces (log_softmax's shift, the gather of a masked target), so
 * its bits are the unfused loss's; the backward is softmax_line's softmax
 * times G less G at the target, with one exp per logit where
 * exp(x - shift) took a second (bench_layer_ops, [2048, 256]: 1.22 -> 0.85
 * ms). */
static double row_shift(const float *x, int64_t len)
{
    const float m = line_max(x, len, 1);
    return (double)m + log(line_exp_sum(x, len, 1, m, NULL));
}

clg_status cpu_cross_entropy(clg_bk_device *dev, const clg_bk_op *op)
{
    const int64_t rows = op->in[0].dim[0], cls = op->in[0].dim[1];
    const float *x = cpu_data(&op->in[0]);
    const int32_t *t = cpu_data(&op->in[1]);
    const int32_t ign = (int32_t)clg_param_i64(&op->params, CLG_P_IGNORE);
    for (int64_t r = 0; r < rows; r++)
        if (t[r] != ign && (t[r] < 0 || t[r] >= cls))
            return cpu_fail(dev, CLG_ERR_INVALID, "%s: target %d of row %lld is outside [0, %lld) "
                            "and not the ignored value %d", cpu_op_name(op->op), (int)t[r],
                            (long long)r, (long long)cls, (int)ign);
    if (cls == 0)
        return CLG_OK;
    float *o = cpu_data(&op->out);
    const int grad = op->op == CLG_OP_CROSS_ENTROPY_GRAD;
    const float *G = grad ? cpu_data(&op->in[2]) : NULL;
    CPU_PARALLEL_FOR(CPU_PAR(rows * cls, 16))
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cls;
        const float mask = t[r] != ign ? 1.0f : 0.0f;
        const int64_t safe = t[r] != ign ? t[r] : 0;
        if (!grad) {
            const float picked = (float)((double)xr[safe] - row_shift(xr, cls));
            o[r] = -(picked * mask);
            continue;
        }
        const float g = G[r] * mask;
        float *orow = o + r * cls;
        /* softmax as softmax_line has it (the exps of x - max kept from the
         * sum's pass, then one rounded scale), times G: one exp per logit */
        const float m = line_max(xr, cls, 1);
        const float scale = (float)((double)g / line_exp_sum(xr, cls, 1, m, orow));
        for (int64_t c = 0; c < cls; c++)
            orow[c] *= scale;
        orow[safe] -= g;
    }
    return CLG_OK;
}
