/* im2col and col2im (torch's unfold and fold) on [N, C, H, W] images: the
 * data movement under convolution and pooling. Each (n, c) plane is one
 * task, so col2im's overlapping sums need no atomics and run in a fixed
 * order (bit-identical for any thread count). */
#include "cpu.h"

#include <math.h>
#include <string.h>

typedef struct geom {
    int64_t n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
} geom;

/* The window of op over the image tensor img (checked by check.c). */
static geom geom_of(const clg_bk_op *op, const clg_bk_tensor *img)
{
    const clg_params *p = &op->params;
    geom g = { img->dim[0], img->dim[1], img->dim[2], img->dim[3],
               clg_param_i64(p, CLG_P_KERNEL), clg_param_i64(p, CLG_P_KERNEL + 1),
               clg_param_i64(p, CLG_P_STRIDE), clg_param_i64(p, CLG_P_STRIDE + 1),
               clg_param_i64(p, CLG_P_PADDING), clg_param_i64(p, CLG_P_PADDING + 1),
               clg_param_i64(p, CLG_P_DILATION), clg_param_i64(p, CLG_P_DILATION + 1), 0, 0 };
    g.oh = (g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
    g.ow = (g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
    return g;
}

/* The output columns [*lo, *hi) of a window row whose input column
 * oj * sw - pw + off lies inside [0, w); the rest read padding. Computing
 * the range once leaves the inner loops branch-free (a plain copy when the
 * stride is 1). */
static void valid_cols(const geom *g, int64_t off, int64_t *lo, int64_t *hi)
{
    /* smallest oj with oj * sw >= pw - off, and one past the largest with
     * oj * sw <= w - 1 + pw - off */
    const int64_t a = g->pw - off, b = g->w - 1 + g->pw - off;
    int64_t l = a <= 0 ? 0 : (a + g->sw - 1) / g->sw;
    int64_t h = b < 0 ? 0 : b / g->sw + 1;
    if (h > g->ow)
        h = g->ow;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

clg_status cpu_im2col(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const geom g = geom_of(op, &op->in[0]);
    const float *x = cpu_data(&op->in[0]);
    float *o = cpu_data(&op->out);
    const float padv = clg_param_f32(&op->params, CLG_P_SCALAR);
    const int64_t planes = g.n * g.c, kk = g.kh * g.kw, l = g.oh * g.ow;
    CPU_PARALLEL_FOR(CPU_PAR(planes * kk * l, 2))
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * g.h * g.w;
        float *op_ = o + pl * kk * l;
        for (int64_t ki = 0; ki < g.kh; ki++)
            for (int64_t kj = 0; kj < g.kw; kj++) {
                float *row = op_ + (ki * g.kw + kj) * l;
                int64_t lo, hi;
                valid_cols(&g, kj * g.dw, &lo, &hi);
                for (int64_t oi = 0; oi < g.oh; oi++) {
                    const int64_t ii = oi * g.sh - g.ph + ki * g.dh;
                    float *r = row + oi * g.ow;
                    if (ii < 0 || ii >= g.h) {
                        for (int64_t oj = 0; oj < g.ow; oj++)
                            r[oj] = padv;
                        continue;
                    }
                    const int64_t base = ii * g.w - g.pw + kj * g.dw; /* + oj * sw */
                    for (int64_t oj = 0; oj < lo; oj++)
                        r[oj] = padv;
                    if (g.sw == 1)
                        memcpy(r + lo, xp + base + lo, (size_t)(hi - lo) * sizeof *r);
                    else if (g.sw == 2) /* pooling's stride: a constant one vectorises */
                        for (int64_t oj = lo; oj < hi; oj++)
                            r[oj] = xp[base + 2 * oj];
                    else
                        for (int64_t oj = lo; oj < hi; oj++)
                            r[oj] = xp[base + oj * g.sw];
                    for (int64_t oj = hi; oj < g.ow; oj++)
                        r[oj] = padv;
                }
            }
    }
    return CLG_OK;
}

clg_status cpu_col2im(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const geom g = geom_of(op, &op->out);
    const float *cols = cpu_data(&op->in[0]);
    float *o = cpu_data(&op->out);
    const int64_t planes = g.n * g.c, kk = g.kh * g.kw, l = g.oh * g.ow;
    CPU_PARALLEL_FOR(CPU_PAR(planes * kk * l, 2))
    for (int64_t pl = 0; pl < planes; pl++) {
        float *img = o + pl * g.h * g.w;
        const float *cp = cols + pl * kk * l;
        memset(img, 0, (size_t)(g.h * g.w) * sizeof(float));
        for (int64_t ki = 0; ki < g.kh; ki++)
            for (int64_t kj = 0; kj < g.kw; kj++) {
                const float *row = cp + (ki * g.kw + kj) * l;
                int64_t lo, hi;
                valid_cols(&g, kj * g.dw, &lo, &hi);
                for (int64_t oi = 0; oi < g.oh; oi++) {
                    const int64_t ii = oi * g.sh - g.ph + ki * g.dh;
                    if (ii < 0 || ii >= g.h)
                        continue;
                    const int64_t base = ii * g.w - g.pw + kj * g.dw; /* + oj * sw */
                    const float *r = row + oi * g.ow;
                    if (g.sw == 1)
                        for (int64_t oj = lo; oj < hi; oj++)
                            img[base + oj] += r[oj];
                    else if (g.sw == 2)
                        for (int64_t oj = lo; oj < hi; oj++)
                            img[base + 2 * oj] += r[oj];
                    else
                        for (int64_t oj = lo; oj < hi; oj++)
                            img[base + oj * g.sw] += r[oj];
                }
            }
    }
    return CLG_OK;
}

/* Whether v replaces best: strictly greater keeps the first maximum, and
 * the first NaN wins (as argmax and PyTorch). */
static inline int pool_better(float v, float best)
{
    return v > best || (v != v && best == best);
}

/* Output columns one pass of max_pool2d_index tracks at once. */
#define POOL_BLOCK 256

/* The first in-image tap of output (oi, oj)'s window, in window order: the
 * choice when every pixel it covers is -inf (the builder guarantees one). */
static int32_t first_tap(const geom *g, int64_t oi, int64_t oj)
{
    int64_t ii = oi * g->sh - g->ph, jj = oj * g->sw - g->pw;
    while (ii < 0)
        ii += g->dh;
    while (jj < 0)
        jj += g->dw;
    return (int32_t)(ii * g->w + jj);
}

/* The common 2x2, stride-2 window without padding: the four taps read as
 * two pairs of neighbours per row and compared branch-free, so the loop over
 * outputs vectorises (random data made a branch per compare mispredict). */
static void pool_plane_k2s2(const geom *g, const float *xp, int32_t *out)
{
    const int64_t w = g->w;
    for (int64_t oi = 0; oi < g->oh; oi++) {
        const float *r0 = xp + 2 * oi * w, *r1 = r0 + w;
        const int32_t base = (int32_t)(2 * oi * w);
        int32_t *o = out + oi * g->ow;
        for (int64_t oj = 0; oj < g->ow; oj++) {
            const float a = r0[2 * oj], b = r0[2 * oj + 1], c = r1[2 * oj], d = r1[2 * oj + 1];
            const int32_t i = base + (int32_t)(2 * oj);
            int t = pool_better(b, a);
            float m = t ? b : a;
            int32_t at = t ? i + 1 : i;
            t = pool_better(c, m);
            m = t ? c : m;
            at = t ? i + (int32_t)w : at;
            t = pool_better(d, m);
            o[oj] = t ? i + (int32_t)w + 1 : at;
        }
    }
}

/* Any window that never reaches the padding: every tap lies in the image. */
static void pool_plane_inside(const geom *g, const float *xp, int32_t *out)
{
    for (int64_t oi = 0; oi < g->oh; oi++)
        for (int64_t oj = 0; oj < g->ow; oj++) {
            const int64_t first = oi * g->sh * g->w + oj * g->sw;
            const float *p = xp + first;
            float best = p[0];
            int64_t at = 0;
            for (int64_t ki = 0; ki < g->kh; ki++)
                for (int64_t kj = 0; kj < g->kw; kj++) {
                    const int64_t off = ki * g->dh * g->w + kj * g->dw;
                    const float v = p[off];
                    const int t = pool_better(v, best);
                    best = t ? v : best;
                    at = t ? off : at;
                }
            out[oi * g->ow + oj] = (int32_t)(first + at);
        }
}

/* Windows that reach the padding: each tap sweeps a block of an output row
 * over its in-image columns, the running best of each column in a small
 * array. A window of -inf alone picks its first in-image pixel. */
static void pool_plane_padded(const geom *g, const float *xp, int32_t *out)
{
    for (int64_t oi = 0; oi < g->oh; oi++)
        for (int64_t c0 = 0; c0 < g->ow; c0 += POOL_BLOCK) {
            const int64_t c1 = c0 + POOL_BLOCK < g->ow ? c0 + POOL_BLOCK : g->ow;
            float best[POOL_BLOCK];
            int32_t at[POOL_BLOCK];
            for (int64_t c = 0; c < c1 - c0; c++) {
                best[c] = -INFINITY;
                at[c] = -1;
            }
            for (int64_t ki = 0; ki < g->kh; ki++) {
                const int64_t ii = oi * g->sh - g->ph + ki * g->dh;
                if (ii < 0 || ii >= g->h)
                    continue;
                for (int64_t kj = 0; kj < g->kw; kj++) {
                    int64_t lo, hi;
                    valid_cols(g, kj * g->dw, &lo, &hi);
                    lo = lo > c0 ? lo : c0;
                    hi = hi < c1 ? hi : c1;
                    const int64_t base = ii * g->w - g->pw + kj * g->dw; /* + oj * sw */
                    for (int64_t oj = lo; oj < hi; oj++) {
                        const int64_t pos = base + oj * g->sw;
                        const float v = xp[pos];
                        const int b = pool_better(v, best[oj - c0]);
                        best[oj - c0] = b ? v : best[oj - c0];
                        at[oj - c0] = b ? (int32_t)pos : at[oj - c0];
                    }
                }
            }
            for (int64_t oj = c0; oj < c1; oj++)
                out[oi * g->ow + oj] = at[oj - c0] >= 0 ? at[oj - c0] : first_tap(g, oi, oj);
        }
}

/* Max pooling's choice without im2col, one (n, c) plane per task. */
clg_status cpu_max_pool2d_index(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const geom g = geom_of(op, &op->in[0]);
    const float *x = cpu_data(&op->in[0]);
    int32_t *o = cpu_data(&op->out);
    const int64_t planes = g.n * g.c, l = g.oh * g.ow;
    const int inside = g.ph == 0 && g.pw == 0;
    const int k2s2 = inside && g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.dh == 1 &&
                     g.dw == 1;
    CPU_PARALLEL_FOR(CPU_PAR(planes * l * g.kh * g.kw, 2))
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * g.h * g.w;
        int32_t *out = o + pl * l;
        if (k2s2)
            pool_plane_k2s2(&g, xp, out);
        else if (inside)
            pool_plane_inside(&g, xp, out);
        else
            pool_plane_padded(&g, xp, out);
    }
    return CLG_OK;
}
