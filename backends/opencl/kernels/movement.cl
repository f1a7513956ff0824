/* Movement and index kernels. Data is moved as 32-bit words, so one kernel
 * serves f32 and i32. */

#define X_GATHER 0
#define X_SCATTER_ADD 1
#define X_ONE_HOT 2

/* For flat index i over `dims`: dst[doff + off(i, dstr)] = src[soff + off(i, sstr)].
 * Permute, expand (stride 0), slice, pad and concat are all this. */
__kernel void k_strided_copy(int n, int rank, int8 dims8, int8 sstr8, int8 dstr8,
                             __global const uint *src, int soff, __global uint *dst, int doff)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int dims[8], ss[8], ds[8];
    vstore8(dims8, 0, dims);
    vstore8(sstr8, 0, ss);
    vstore8(dstr8, 0, ds);
    dst[doff + clg_offset(i, rank, dims, ds)] = src[soff + clg_offset(i, rank, dims, ss)];
}

/* out (shape of index, contiguous) = data at index along `axis`. The index
 * is clamped to [0, bound) and the first bad one reported through err. */
__kernel void k_gather(int n, int rank, int axis, int8 dims8, int8 dstr8, int bound,
                       __global const uint *data, int doff, __global const int *idx, int xoff,
                       __global uint *o, int ooff, __global int *err)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int dims[8], ds[8];
    vstore8(dims8, 0, dims);
    vstore8(dstr8, 0, ds);
    int t = idx[xoff + i];
    if (t < 0 || t >= bound) {
        clg_index_error(err, X_GATHER, t, bound);
        t = clamp(t, 0, bound - 1);
    }
    int off = 0, r = i;
    for (int k = rank - 1; k >= 0; k--) {
        int c = r % dims[k];
        r /= dims[k];
        off += (k == axis ? t : c) * ds[k];
    }
    o[ooff + i] = data[doff + off];
}

/* out must be zero already. One item per line along `axis`: it walks the
 * line in order and adds into out, so no two items touch the same output
 * and the sums come out in the same order as a serial loop. Lines are the
 * src dims with the axis dim set to 1 (ldims); src and index share a
 * contiguous shape (strides sstr); out has strides ostr. A bad index is
 * skipped and reported. */
__kernel void k_scatter_add(int nlines, int rank, int axis, int8 ldims8, int8 sstr8,
                            int8 ostr8, int len, int bound, __global const float *src,
                            int soff, __global const int *idx, int xoff, __global float *o,
                            int ooff, __global int *err)
{
    int i = get_global_id(0);
    if (i >= nlines)
        return;
    int ld[8], ss[8], os[8];
    vstore8(ldims8, 0, ld);
    vstore8(sstr8, 0, ss);
    vstore8(ostr8, 0, os);
    int sbase = 0, obase = 0, r = i;
    for (int k = rank - 1; k >= 0; k--) {
        int c = r % ld[k];
        r /= ld[k];
        sbase += c * ss[k];
        obase += c * os[k];
    }
    for (int j = 0; j < len; j++) {
        int s = sbase + j * ss[axis];
        int t = idx[xoff + s];
        if (t < 0 || t >= bound) {
            clg_index_error(err, X_SCATTER_ADD, t, bound);
            continue;
        }
        o[ooff + obase + t * os[axis]] += src[soff + s];
    }
}

/* out[i] = (index[i / classes] == i % classes); a bad index gives a zero
 * row and is reported. */
__kernel void k_one_hot(int n, int classes, __global const int *idx, int xoff,
                        __global float *o, int ooff, __global int *err)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int t = idx[xoff + i / classes];
    int c = i % classes;
    if (c == 0 && (t < 0 || t >= classes))
        clg_index_error(err, X_ONE_HOT, t, classes);
    o[ooff + i] = t == c ? 1.0f : 0.0f;
}
