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
                for (int64_t oi = 0; oi < g.oh; oi++) {
                    const int64_t ii = oi * g.sh - g.ph + ki * g.dh;
                    float *r = row + oi * g.ow;
                    if (ii < 0 || ii >= g.h) {
                        for (int64_t oj = 0; oj < g.ow; oj++)
                            r[oj] = padv;
                        continue;
                    }
                    const float *xr = xp + ii * g.w;
                    for (int64_t oj = 0; oj < g.ow; oj++) {
                        const int64_t jj = oj * g.sw - g.pw + kj * g.dw;
                        r[oj] = (jj >= 0 && jj < g.w) ? xr[jj] : padv;
                    }
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
                for (int64_t oi = 0; oi < g.oh; oi++) {
                    const int64_t ii = oi * g.sh - g.ph + ki * g.dh;
                    if (ii < 0 || ii >= g.h)
                        continue;
                    float *ir = img + ii * g.w;
                    const float *r = row + oi * g.ow;
                    for (int64_t oj = 0; oj < g.ow; oj++) {
                        const int64_t jj = oj * g.sw - g.pw + kj * g.dw;
                        if (jj >= 0 && jj < g.w)
                            ir[jj] += r[oj];
                    }
                }
            }
    }
    return CLG_OK;
}
