/* Strided walks: the one place that turns broadcasting, permutes and slices
 * into (offset, step, length) rows. See cpu_walk in cpu.h. */
#include "cpu.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Long rows are cut so that a single huge row still spreads over threads,
 * while each piece stays long enough for its inner loop to dominate. */
#define WALK_CHUNK 16384

void cpu_contig_strides(int ndim, const int64_t *dim, int64_t *stride)
{
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        stride[d] = s;
        s *= dim[d];
    }
}

void cpu_broadcast_strides(const clg_bk_tensor *in, int out_ndim, const int64_t *out_dim,
                           int64_t *stride)
{
    int64_t own[CLG_MAX_DIMS];
    cpu_contig_strides(in->ndim, in->dim, own);
    const int lead = out_ndim - in->ndim;
    for (int d = 0; d < out_ndim; d++) {
        const int k = d - lead; /* in's dim matching out's dim d, if any */
        if (k < 0 || (in->dim[k] == 1 && out_dim[d] != 1))
            stride[d] = 0;
        else
            stride[d] = own[k];
    }
}

void cpu_walk_init(cpu_walk *w, int ndim, const int64_t *dim, int nops,
                   int64_t stride[][CLG_MAX_DIMS])
{
    w->nops = nops;
    w->ndim = 0;
    int empty = 0;
    for (int d = 0; d < ndim; d++) {
        if (dim[d] == 0)
            empty = 1;
        if (dim[d] == 1) /* visits one index: no offset to track */
            continue;
        const int n = w->ndim;
        /* Merge with the previous kept dim when, for every operand, stepping
         * past the end of this dim equals one step of the previous one. */
        int merge = n > 0;
        for (int k = 0; k < nops && merge; k++)
            merge = w->stride[k][n - 1] == stride[k][d] * dim[d];
        if (merge) {
            w->dim[n - 1] *= dim[d];
            for (int k = 0; k < nops; k++)
                w->stride[k][n - 1] = stride[k][d];
        } else {
            w->dim[n] = dim[d];
            for (int k = 0; k < nops; k++)
                w->stride[k][n] = stride[k][d];
            w->ndim = n + 1;
        }
    }
    if (empty || w->ndim == 0) {
        w->ndim = 1;
        w->dim[0] = empty ? 0 : 1;
        for (int k = 0; k < nops; k++)
            w->stride[k][0] = 0;
    }
    const int64_t len = w->dim[w->ndim - 1];
    w->chunk = len < WALK_CHUNK ? (len > 0 ? len : 1) : WALK_CHUNK;
    int64_t rows = 1;
    for (int d = 0; d < w->ndim - 1; d++)
        rows *= w->dim[d];
    w->n_pieces = rows * ((len + w->chunk - 1) / w->chunk);
}

int64_t cpu_walk_parts(const cpu_walk *w, int cond)
{
    int64_t parts = 1;
#ifdef _OPENMP
    if (cond)
        parts = omp_get_max_threads();
#endif
    (void)cond;
    return parts < w->n_pieces ? parts : (w->n_pieces > 0 ? w->n_pieces : 1);
}

/* The piece at it->i from the row's offsets and the start within it. */
static void fill_piece(const cpu_walk *w, cpu_walk_it *it)
{
    const int last = w->ndim - 1;
    const int64_t len = w->dim[last];
    it->p.len = len - it->start < w->chunk ? len - it->start : w->chunk;
    for (int k = 0; k < w->nops; k++) {
        it->p.step[k] = w->stride[k][last];
        it->p.off[k] = it->base[k] + it->start * w->stride[k][last];
    }
}

cpu_walk_it cpu_walk_part(const cpu_walk *w, int64_t t, int64_t parts)
{
    cpu_walk_it it;
    it.i = w->n_pieces * t / parts;
    it.end = w->n_pieces * (t + 1) / parts;
    if (it.i >= it.end)
        return it;
    const int last = w->ndim - 1;
    const int64_t per_row = (w->dim[last] + w->chunk - 1) / w->chunk;
    int64_t row = it.i / per_row;
    it.start = (it.i % per_row) * w->chunk;
    for (int k = 0; k < w->nops; k++)
        it.base[k] = 0;
    for (int d = last - 1; d >= 0; d--) {
        it.coord[d] = row % w->dim[d];
        row /= w->dim[d];
        for (int k = 0; k < w->nops; k++)
            it.base[k] += it.coord[d] * w->stride[k][d];
    }
    fill_piece(w, &it);
    return it;
}

void cpu_walk_next(const cpu_walk *w, cpu_walk_it *it)
{
    if (++it->i >= it->end)
        return;
    const int last = w->ndim - 1;
    it->start += w->chunk;
    if (it->start >= w->dim[last]) {
        /* the next row: an odometer over the outer dims */
        it->start = 0;
        for (int d = last - 1; d >= 0; d--) {
            for (int k = 0; k < w->nops; k++)
                it->base[k] += w->stride[k][d];
            if (++it->coord[d] < w->dim[d])
                break;
            for (int k = 0; k < w->nops; k++)
                it->base[k] -= w->stride[k][d] * w->dim[d];
            it->coord[d] = 0;
        }
    }
    fill_piece(w, it);
}
