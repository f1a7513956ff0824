/* Reductions (sum, mean, max over a set of dims), argmax and the fused
 * softmax / log-softmax over one axis. */

#define R_SUM 0
#define R_MEAN 1
#define R_MAX 2

/* One work-group per output element. Kept dims (odims, with the input's
 * strides ostr) locate the output's base in the input; the reduced dims
 * (rdims, rstr) are walked by the group's items, then combined in local
 * memory. The local size is a power of two. */
__kernel void k_reduce(int op, int R, int orank, int8 odims8, int8 ostr8, int rrank,
                       int8 rdims8, int8 rstr8, __global const float *a, int aoff,
                       __global float *o, int ooff, __local float *scratch)
{
    int g = get_group_id(0);
    int l = get_local_id(0);
    int L = get_local_size(0);
    int odims[8], ostr[8], rdims[8], rstr[8];
    vstore8(odims8, 0, odims);
    vstore8(ostr8, 0, ostr);
    vstore8(rdims8, 0, rdims);
    vstore8(rstr8, 0, rstr);
    int base = aoff + clg_offset(g, orank, odims, ostr);
    float acc = op == R_MAX ? -INFINITY : 0.0f;
    for (int r = l; r < R; r += L) {
        float v = a[base + clg_offset(r, rrank, rdims, rstr)];
        if (op == R_MAX)
            acc = (isnan(v) || v > acc) ? v : acc;
        else
            acc += v;
    }
    scratch[l] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L / 2; s > 0; s /= 2) {
        if (l < s) {
            float x = scratch[l], y = scratch[l + s];
            if (op == R_MAX)
                scratch[l] = (isnan(x) || x >= y) ? x : y;
            else
                scratch[l] = x + y;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) {
        float r = scratch[0];
        o[ooff + g] = op == R_MEAN ? r / (float)R : r;
    }
}

/* One item per output: rows are (outer, inner) pairs; the axis has length
 * len and stride inner. First index of the maximum; a NaN wins. */
__kernel void k_argmax(int nrows, int len, int inner, __global const float *a, int aoff,
                       __global int *o, int ooff)
{
    int i = get_global_id(0);
    if (i >= nrows)
        return;
    int base = aoff + (i / inner) * len * inner + i % inner;
    float best = a[base];
    int bi = 0;
    for (int j = 1; j < len; j++) {
        float v = a[base + j * inner];
        if (v > best || (isnan(v) && !isnan(best))) {
            best = v;
            bi = j;
        }
    }
    o[ooff + i] = bi;
}

/* log: 0 softmax, 1 log-softmax; one item per row, max-subtracted. */
__kernel void k_softmax(int log_out, int nrows, int len, int inner, __global const float *a,
                        int aoff, __global float *o, int ooff)
{
    int i = get_global_id(0);
    if (i >= nrows)
        return;
    int off = (i / inner) * len * inner + i % inner;
    __global const float *x = a + aoff + off;
    __global float *y = o + ooff + off;
    float m = x[0];
    for (int j = 1; j < len; j++) {
        float v = x[j * inner];
        if (v > m || isnan(v))
            m = v; /* NaN propagates, as on the CPU */
    }
    float s = 0.0f;
    for (int j = 0; j < len; j++)
        s += exp(x[j * inner] - m);
    if (log_out) {
        float ls = log(s);
        for (int j = 0; j < len; j++)
            y[j * inner] = x[j * inner] - m - ls;
    } else {
        for (int j = 0; j < len; j++)
            y[j * inner] = exp(x[j * inner] - m) / s;
    }
}

/* Softmax over long rows: one work-group per row (the rows of attention
 * scores are T long), the max and the sum combined in local memory; the
 * local size is a power of two. Same results as k_softmax up to the order
 * of the sum. */
__kernel void k_softmax_wg(int log_out, int len, int inner, __global const float *a, int aoff,
                           __global float *o, int ooff, __local float *scratch)
{
    int row = get_group_id(0);
    int l = get_local_id(0);
    int L = get_local_size(0);
    int off = (row / inner) * len * inner + row % inner;
    __global const float *x = a + aoff + off;
    __global float *y = o + ooff + off;
    float m = -INFINITY;
    for (int j = l; j < len; j += L) {
        float v = x[j * inner];
        m = (isnan(v) || v > m) ? v : m;
    }
    scratch[l] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L / 2; s > 0; s /= 2) {
        if (l < s) {
            float p = scratch[l], q = scratch[l + s];
            scratch[l] = (isnan(p) || p >= q) ? p : q;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    m = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    float acc = 0.0f;
    for (int j = l; j < len; j += L)
        acc += exp(x[j * inner] - m);
    scratch[l] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L / 2; s > 0; s /= 2) {
        if (l < s)
            scratch[l] += scratch[l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float sum = scratch[0];
    float ls = log(sum);
    for (int j = l; j < len; j += L) {
        float v = x[j * inner] - m;
        y[j * inner] = log_out ? v - ls : exp(v) / sum;
    }
}
