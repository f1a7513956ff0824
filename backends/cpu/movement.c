/* Movement ops: permute, expand, slice, pad, concat. All dtypes are 4 bytes,
 * so data moves as 32-bit words. Each op is a strided walk (walk.c) that
 * copies rows; only the strides and the starting offsets differ. */
#include "cpu.h"

#include <string.h>

/* out[walk point] = in[walk point] over a two-operand walk (0 = out, 1 = in)
 * starting at the given element offsets. */
static void copy_walk(const cpu_walk *w, uint32_t *out, const uint32_t *in)
{
    const int64_t parts = cpu_walk_parts(w, CPU_PAR(w->n_pieces * w->chunk, 1));
    CPU_PARALLEL_FOR(parts > 1)
    for (int64_t t = 0; t < parts; t++)
        for (cpu_walk_it it = cpu_walk_part(w, t, parts); it.i < it.end; cpu_walk_next(w, &it)) {
            const cpu_piece *p = &it.p;
            uint32_t *restrict o = out + p->off[0];
            const uint32_t *restrict a = in + p->off[1];
            const int64_t so = p->step[0], sa = p->step[1];
            if (so == 1 && sa == 1)
                memcpy(o, a, (size_t)p->len * 4);
            else if (so == 1 && sa == 0)
                for (int64_t j = 0; j < p->len; j++)
                    o[j] = a[0];
            else
                for (int64_t j = 0; j < p->len; j++)
                    o[j * so] = a[j * sa];
        }
}

/* Start offset of the window at the START parameters in a tensor with strides s. */
static int64_t window_offset(const clg_bk_op *op, int ndim, const int64_t *s)
{
    int64_t off = 0;
    for (int d = 0; d < ndim; d++)
        off += clg_param_i64(&op->params, CLG_P_START + d) * s[d];
    return off;
}

clg_status cpu_permute(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const clg_bk_tensor *in = &op->in[0], *out = &op->out;
    int64_t in_s[CLG_MAX_DIMS], stride[2][CLG_MAX_DIMS];
    cpu_contig_strides(in->ndim, in->dim, in_s);
    cpu_contig_strides(out->ndim, out->dim, stride[0]);
    for (int d = 0; d < out->ndim; d++)
        stride[1][d] = in_s[clg_param_int(&op->params, CLG_P_PERM + d)];
    cpu_walk w;
    cpu_walk_init(&w, out->ndim, out->dim, 2, stride);
    copy_walk(&w, cpu_data(out), cpu_data(in));
    return CLG_OK;
}

clg_status cpu_expand(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const clg_bk_tensor *out = &op->out;
    int64_t stride[2][CLG_MAX_DIMS];
    cpu_contig_strides(out->ndim, out->dim, stride[0]);
    cpu_broadcast_strides(&op->in[0], out->ndim, out->dim, stride[1]);
    cpu_walk w;
    cpu_walk_init(&w, out->ndim, out->dim, 2, stride);
    copy_walk(&w, cpu_data(out), cpu_data(&op->in[0]));
    return CLG_OK;
}

clg_status cpu_slice(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const clg_bk_tensor *in = &op->in[0], *out = &op->out;
    int64_t stride[2][CLG_MAX_DIMS];
    cpu_contig_strides(out->ndim, out->dim, stride[0]);
    cpu_contig_strides(in->ndim, in->dim, stride[1]);
    cpu_walk w;
    cpu_walk_init(&w, out->ndim, out->dim, 2, stride);
    const uint32_t *src = cpu_data(in);
    copy_walk(&w, cpu_data(out), src + window_offset(op, in->ndim, stride[1]));
    return CLG_OK;
}

clg_status cpu_pad(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const clg_bk_tensor *in = &op->in[0], *out = &op->out;
    memset(cpu_data(out), 0, (size_t)cpu_numel(out) * 4);
    /* Walk the input's shape; the output operand is a window of out. */
    int64_t stride[2][CLG_MAX_DIMS];
    cpu_contig_strides(out->ndim, out->dim, stride[0]);
    cpu_contig_strides(in->ndim, in->dim, stride[1]);
    cpu_walk w;
    const int64_t start = window_offset(op, out->ndim, stride[0]);
    cpu_walk_init(&w, in->ndim, in->dim, 2, stride);
    uint32_t *dst = cpu_data(out);
    copy_walk(&w, dst + start, cpu_data(in));
    return CLG_OK;
}

clg_status cpu_concat(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const clg_bk_tensor *out = &op->out;
    const int axis = clg_param_int(&op->params, CLG_P_AXIS);
    /* out is [outer, out_len, inner] around axis; input k fills a band of
     * in_len columns of each of the outer rows. */
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= out->dim[d];
    for (int d = axis + 1; d < out->ndim; d++)
        inner *= out->dim[d];
    const int64_t row = out->dim[axis] * inner;
    uint32_t *dst = cpu_data(out);
    int64_t col = 0;
    for (int k = 0; k < op->n_in; k++) {
        const int64_t band = op->in[k].dim[axis] * inner;
        const uint32_t *src = cpu_data(&op->in[k]);
        for (int64_t r = 0; r < outer; r++)
            memcpy(dst + r * row + col, src + r * band, (size_t)band * 4);
        col += band;
    }
    return CLG_OK;
}
