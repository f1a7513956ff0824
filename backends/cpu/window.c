/* im2col and col2im (torch's unfold and fold) on [N, C, H, W] images: the
 * data movement under convolution and pooling. Each (n, c) plane is one
 * task, so col2im's overlapping sums need no atomics and run in a fixed
 * order (bit-identical for any thread count). */
#include "cpu.h"

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
