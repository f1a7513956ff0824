/* Index ops: gather, scatter_add (torch semantics along the AXIS parameter) and
 * one_hot. Index tensors are i32 and come from data, so every index is
 * range-checked before anything is written through it. */
#include "cpu.h"

#include <stdio.h>
#include <string.h>

/* CLG_OK if every index lies in [0, size); otherwise an error naming the
 * first offender, its position, and `range` (what size measures). */
static clg_status check_indices(clg_bk_device *dev, const clg_bk_op *op, const int32_t *idx,
                                int64_t n, int64_t size, const char *range)
{
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= size)
            return cpu_fail(dev, CLG_ERR_INVALID,
                            "%s: index %d (element %lld of the index tensor) is out of range "
                            "for %s",
                            cpu_op_name(op->op), (int)idx[i], (long long)i, range);
    return CLG_OK;
}

static clg_status check_axis_indices(clg_bk_device *dev, const clg_bk_op *op, const int32_t *idx,
                                     int64_t n, int axis, int64_t size)
{
    char range[64];
    snprintf(range, sizeof range, "dim %d of size %lld", axis, (long long)size);
    return check_indices(dev, op, idx, n, size, range);
}

/* A walk over the index shape with operands 0 = src/out of the index shape,
 * 1 = index, 2 = `full` (the other tensor) with its axis stride zeroed: the
 * index supplies that offset. *axis_stride receives the zeroed stride. */
static void index_walk(cpu_walk *w, const clg_bk_tensor *idx, const clg_bk_tensor *full, int axis,
                       int64_t *axis_stride)
{
    int64_t stride[3][CLG_MAX_DIMS];
    cpu_contig_strides(idx->ndim, idx->dim, stride[0]);
    cpu_contig_strides(idx->ndim, idx->dim, stride[1]);
    cpu_contig_strides(full->ndim, full->dim, stride[2]);
    *axis_stride = stride[2][axis];
    stride[2][axis] = 0;
    cpu_walk_init(w, idx->ndim, idx->dim, 3, stride);
}

/* The index's shape as [outer, m, inner] around the axis, when it is the
 * other tensor's shape but along the axis (where that one is `len` long):
 * max pooling's [N, C, 1, L] against its windows [N, C, KH*KW, L]. */
static int same_but_axis(const clg_bk_tensor *index, const clg_bk_tensor *full, int axis,
                         int64_t *outer, int64_t *m, int64_t *len, int64_t *inner)
{
    if (index->ndim != full->ndim)
        return 0;
    *outer = *inner = 1;
    for (int d = 0; d < index->ndim; d++) {
        if (d != axis && index->dim[d] != full->dim[d])
            return 0;
        if (d < axis)
            *outer *= index->dim[d];
        if (d > axis)
            *inner *= index->dim[d];
    }
    *m = index->dim[axis];
    *len = full->dim[axis];
    return 1;
}

/* 1 if every one of n indices lies in [0, len). */
static int row_in_range(const int32_t *idx, int64_t n, int64_t len)
{
    int bad = 0;
    for (int64_t c = 0; c < n; c++)
        bad |= idx[c] < 0 || idx[c] >= len;
    return !bad;
}

/* Sets *bad when a slice's indices are not all in [0, len). */
static int slice_in_range(const int32_t *idx, int64_t n, int64_t len, int *bad)
{
    if (row_in_range(idx, n, len))
        return 1;
#ifdef _OPENMP
#pragma omp atomic write
#endif
    *bad = 1; /* reported after the loop, with the first offender */
    return 0;
}

/* Columns per task of the row paths: a few cache lines of every row. */
enum { ROW_CHUNK = 64 };

/* gather over [outer, m, inner] rows: each slice's indices (contiguous, a
 * few kB) are checked while they are in L1 and then used, instead of a pass
 * of their own over them all; checking per slice rather than per row keeps
 * the check off a 1-wide row's every element (max pooling's picks). Wider
 * rows go row by row over all threads, so that one slice fills them all. */
static clg_status gather_rows(clg_bk_device *dev, const clg_bk_op *op, int axis, int64_t outer,
                              int64_t m, int64_t len, int64_t inner)
{
    const int32_t *idx = cpu_data(&op->in[1]);
    const uint32_t *src = cpu_data(&op->in[0]);
    uint32_t *out = cpu_data(&op->out);
    int bad = 0;
    if (inner == 1) {
        CPU_PARALLEL_FOR(CPU_PAR(outer * m, 2))
        for (int64_t o = 0; o < outer; o++) {
            const uint32_t *so = src + o * len;
            const int32_t *io = idx + o * m;
            uint32_t *oo = out + o * m;
            if (slice_in_range(io, m, len, &bad))
                for (int64_t j = 0; j < m; j++)
                    oo[j] = so[io[j]];
        }
    } else {
        CPU_PARALLEL_FOR(CPU_PAR(outer * m * inner, 2))
        for (int64_t r = 0; r < outer * m; r++) {
            const uint32_t *so = src + (r / m) * len * inner;
            const int32_t *ir = idx + r * inner;
            uint32_t *orow = out + r * inner;
            if (slice_in_range(ir, inner, len, &bad))
                for (int64_t c = 0; c < inner; c++)
                    orow[c] = so[ir[c] * inner + c];
        }
    }
    if (bad)
        return check_axis_indices(dev, op, idx, outer * m * inner, axis, len);
    return CLG_OK;
}

clg_status cpu_gather(clg_bk_device *dev, const clg_bk_op *op)
{
    const clg_bk_tensor *data = &op->in[0], *index = &op->in[1];
    const int axis = clg_param_int(&op->params, CLG_P_AXIS);
    const int32_t *idx = cpu_data(index);
    int64_t ro, rm, rl, ri;
    if (same_but_axis(index, data, axis, &ro, &rm, &rl, &ri))
        return gather_rows(dev, op, axis, ro, rm, rl, ri);
    clg_status st = check_axis_indices(dev, op, idx, cpu_numel(index), axis, data->dim[axis]);
    if (st != CLG_OK)
        return st;

    cpu_walk w;
    int64_t axis_stride;
    index_walk(&w, index, data, axis, &axis_stride);
    uint32_t *out = cpu_data(&op->out);
    const uint32_t *src = cpu_data(data);
    const int64_t parts = cpu_walk_parts(&w, CPU_PAR(cpu_numel(index), 2));
    CPU_PARALLEL_FOR(parts > 1)
    for (int64_t t = 0; t < parts; t++)
        for (cpu_walk_it it = cpu_walk_part(&w, t, parts); it.i < it.end; cpu_walk_next(&w, &it)) {
            const cpu_piece *p = &it.p;
            for (int64_t j = 0; j < p->len; j++) {
                const int64_t k = idx[p->off[1] + j * p->step[1]];
                out[p->off[0] + j * p->step[0]] = src[p->off[2] + j * p->step[2] + k * axis_stride];
            }
        }
    return CLG_OK;
}

/* scatter_add over [outer, m, inner] rows (gather_rows' adjoint): slice o
 * of the output is zeroed and filled while it is in cache, its indices
 * checked before they are used; the adds come in source order, as in the
 * general path. Wider rows are cut into column chunks, one task each, so
 * that one slice fills every thread with each output element still summed
 * in source order. */
static clg_status scatter_rows(clg_bk_device *dev, const clg_bk_op *op, int axis, int64_t outer,
                               int64_t m, int64_t len, int64_t inner)
{
    const int32_t *idx = cpu_data(&op->in[1]);
    const float *src = cpu_data(&op->in[0]);
    float *out = cpu_data(&op->out);
    int bad = 0;
    if (inner == 1) {
        CPU_PARALLEL_FOR(CPU_PAR(outer * m, 2))
        for (int64_t o = 0; o < outer; o++) {
            float *oo = out + o * len;
            const int32_t *io = idx + o * m;
            const float *so = src + o * m;
            memset(oo, 0, (size_t)len * sizeof(float));
            if (slice_in_range(io, m, len, &bad))
                for (int64_t j = 0; j < m; j++)
                    oo[io[j]] += so[j];
        }
    } else {
        const int64_t chunks = (inner + ROW_CHUNK - 1) / ROW_CHUNK;
        CPU_PARALLEL_FOR(CPU_PAR(outer * m * inner, 2))
        for (int64_t task = 0; task < outer * chunks; task++) {
            const int64_t o = task / chunks, c0 = (task % chunks) * ROW_CHUNK;
            const int64_t w = inner - c0 < ROW_CHUNK ? inner - c0 : ROW_CHUNK;
            float *oo = out + o * len * inner + c0;
            for (int64_t k = 0; k < len; k++)
                memset(oo + k * inner, 0, (size_t)w * sizeof(float));
            for (int64_t j = 0; j < m; j++) {
                const int32_t *ir = idx + (o * m + j) * inner + c0;
                const float *sr = src + (o * m + j) * inner + c0;
                if (slice_in_range(ir, w, len, &bad))
                    for (int64_t c = 0; c < w; c++)
                        oo[ir[c] * inner + c] += sr[c];
            }
        }
    }
    if (bad)
        return check_axis_indices(dev, op, idx, outer * m * inner, axis, len);
    return CLG_OK;
}

clg_status cpu_scatter_add(clg_bk_device *dev, const clg_bk_op *op)
{
    const clg_bk_tensor *srct = &op->in[0], *index = &op->in[1], *outt = &op->out;
    const int axis = clg_param_int(&op->params, CLG_P_AXIS);
    const int32_t *idx = cpu_data(index);
    int64_t ro, rm, rl, ri;
    if (same_but_axis(index, outt, axis, &ro, &rm, &rl, &ri) &&
        cpu_numel(srct) == cpu_numel(index))
        return scatter_rows(dev, op, axis, ro, rm, rl, ri);
    clg_status st = check_axis_indices(dev, op, idx, cpu_numel(index), axis, outt->dim[axis]);
    if (st != CLG_OK)
        return st;

    float *out = cpu_data(outt);
    const float *src = cpu_data(srct);
    memset(out, 0, (size_t)cpu_numel(outt) * sizeof(float));
    /* Several source elements may land on one output element, and they must
     * add up in one fixed order (the source's). Only elements that share
     * every coordinate but the axis can meet, so the slices along the dims
     * before the axis are independent: threads take whole slices, each
     * walked in source order (the sums are those of a serial loop). */
    int64_t sstride[3][CLG_MAX_DIMS], outer = 1, slice = 1;
    cpu_contig_strides(index->ndim, index->dim, sstride[0]);
    cpu_contig_strides(index->ndim, index->dim, sstride[1]);
    cpu_contig_strides(outt->ndim, outt->dim, sstride[2]);
    const int64_t axis_stride = sstride[2][axis];
    sstride[2][axis] = 0;
    for (int d = 0; d < index->ndim; d++)
        *(d < axis ? &outer : &slice) *= index->dim[d];
    int64_t tail[3][CLG_MAX_DIMS];
    for (int k = 0; k < 3; k++)
        memcpy(tail[k], sstride[k] + axis, (size_t)(index->ndim - axis) * sizeof(int64_t));
    cpu_walk w;
    cpu_walk_init(&w, index->ndim - axis, index->dim + axis, 3, tail);
    CPU_PARALLEL_FOR(CPU_PAR(outer * slice, 2) && outer > 1)
    for (int64_t o = 0; o < outer; o++) {
        int64_t base = 0, rest = o; /* out's offset of slice o */
        for (int d = axis - 1; d >= 0; d--) {
            base += (rest % index->dim[d]) * sstride[2][d];
            rest /= index->dim[d];
        }
        const float *so = src + o * slice;
        const int32_t *io = idx + o * slice;
        float *oo = out + base;
        for (cpu_walk_it it = cpu_walk_part(&w, 0, 1); it.i < it.end; cpu_walk_next(&w, &it)) {
            const cpu_piece *p = &it.p;
            for (int64_t j = 0; j < p->len; j++) {
                const int64_t k = io[p->off[1] + j * p->step[1]];
                oo[p->off[2] + j * p->step[2] + k * axis_stride] += so[p->off[0] + j * p->step[0]];
            }
        }
    }
    return CLG_OK;
}

/* index_select: each output row is one copy of a table row. */
clg_status cpu_index_select(clg_bk_device *dev, const clg_bk_op *op)
{
    const int64_t v = op->in[0].dim[0], d = op->in[0].dim[1], n = op->in[1].dim[0];
    const int32_t *ids = cpu_data(&op->in[1]);
    clg_status st = check_axis_indices(dev, op, ids, n, 0, v);
    if (st != CLG_OK)
        return st;
    const float *table = cpu_data(&op->in[0]);
    float *out = cpu_data(&op->out);
    CPU_PARALLEL_FOR(CPU_PAR(n * d, 1))
    for (int64_t k = 0; k < n; k++)
        memcpy(out + k * d, table + ids[k] * d, (size_t)d * sizeof *out);
    return CLG_OK;
}

/* index_add: threads take column chunks of the output, so that each of
 * its elements sums its rows in ids order whatever the thread count. */
clg_status cpu_index_add(clg_bk_device *dev, const clg_bk_op *op)
{
    const int64_t v = op->out.dim[0], d = op->out.dim[1], n = op->in[1].dim[0];
    const int32_t *ids = cpu_data(&op->in[1]);
    clg_status st = check_axis_indices(dev, op, ids, n, 0, v);
    if (st != CLG_OK)
        return st;
    const float *src = cpu_data(&op->in[0]);
    float *out = cpu_data(&op->out);
    const int64_t chunks = (d + ROW_CHUNK - 1) / ROW_CHUNK;
    CPU_PARALLEL_FOR(CPU_PAR(n * d, 1) && chunks > 1)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t c0 = c * ROW_CHUNK, w = d - c0 < ROW_CHUNK ? d - c0 : ROW_CHUNK;
        for (int64_t r = 0; r < v; r++)
            memset(out + r * d + c0, 0, (size_t)w * sizeof *out);
        for (int64_t k = 0; k < n; k++) {
            float *restrict o = out + ids[k] * d + c0;
            const float *restrict s = src + k * d + c0;
            for (int64_t j = 0; j < w; j++)
                o[j] += s[j];
        }
    }
    return CLG_OK;
}

clg_status cpu_one_hot(clg_bk_device *dev, const clg_bk_op *op)
{
    const int64_t n = clg_param_i64(&op->params, CLG_P_N), rows = cpu_numel(&op->in[0]);
    const int32_t *cls = cpu_data(&op->in[0]);
    char range[64];
    snprintf(range, sizeof range, "n = %lld classes", (long long)n);
    clg_status st = check_indices(dev, op, cls, rows, n, range);
    if (st != CLG_OK)
        return st;
    float *out = cpu_data(&op->out);
    memset(out, 0, (size_t)cpu_numel(&op->out) * sizeof(float));
    for (int64_t i = 0; i < rows; i++)
        out[i * n + cls[i]] = 1.0f;
    return CLG_OK;
}
