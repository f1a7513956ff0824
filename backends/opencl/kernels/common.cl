/* Shared by every kernel file. OpenCL C 1.2, no extensions.
 *
 * Shapes and strides travel as int8 kernel arguments (dims beyond `rank` are
 * unused); vector components cannot be indexed at run time, so kernels copy
 * them to private arrays first. Offsets and counts are in elements and fit
 * in int: the host refuses larger tensors. */

/* Offset of flat index i of a `rank`-dim index space into a tensor with
 * strides st (0 on broadcast dims). */
inline int clg_offset(int i, int rank, const int *dims, const int *st)
{
    if (rank == 1) /* the host merged every dim: the common, contiguous case */
        return i * st[0];
    int off = 0;
    for (int k = rank - 1; k >= 0; k--) {
        int c = i % dims[k];
        i /= dims[k];
        off += c * st[k];
    }
    return off;
}

/* Records the first out-of-range index an index kernel meets:
 * err = {1, op, index, bound}. Later ones keep the first. */
inline void clg_index_error(__global int *err, int op, int index, int bound)
{
    if (atomic_cmpxchg(err, 0, 1) == 0) {
        err[1] = op;
        err[2] = index;
        err[3] = bound;
    }
}
