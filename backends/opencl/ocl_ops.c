/* exec for every op except MATMUL (ocl_gemm.c): shape and dtype checks,
 * kernel arguments, launches. Tensors reach kernels as (buffer, element
 * offset) pairs; shapes and strides as int8 arguments. */
#include "ocl_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define MAXR 8 /* int8 kernel arguments; CLG_MAX_DIMS fits */

/* Kernel argument setter that keeps the first failure. */
typedef struct kargs {
    cl_kernel k;
    cl_uint i;
    cl_int st;
} kargs;

static kargs kbegin(clg_bk_device *dev, int k)
{
    kargs a = {dev->kernel[k], 0, CL_SUCCESS};
    return a;
}

static void kset(kargs *a, size_t size, const void *v)
{
    cl_int st = clSetKernelArg(a->k, a->i++, size, v);
    if (a->st == CL_SUCCESS)
        a->st = st;
}
static void a_int(kargs *a, int v) { cl_int x = v; kset(a, sizeof x, &x); }
static void a_uint(kargs *a, unsigned v) { cl_uint x = v; kset(a, sizeof x, &x); }
static void a_f32(kargs *a, float v) { cl_float x = v; kset(a, sizeof x, &x); }
static void a_mem(kargs *a, cl_mem m) { kset(a, sizeof m, &m); }
static void a_local(kargs *a, size_t bytes) { kset(a, bytes, NULL); }
static void a_i8(kargs *a, const int *v)
{
    cl_int8 x;
    for (int i = 0; i < 8; i++)
        x.s[i] = v[i];
    kset(a, sizeof x, &x);
}

static int64_t numel(const clg_bk_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->dim[i];
    return n;
}

/* Contiguous strides (elements) into st[0..MAXR), zero past ndim. */
static void strides_of(const clg_bk_tensor *t, int *st)
{
    int64_t s = 1;
    for (int i = MAXR - 1; i >= 0; i--)
        st[i] = 0;
    for (int i = t->ndim - 1; i >= 0; i--) {
        st[i] = (int)s;
        s *= t->dim[i];
    }
}

static void shape_str(const clg_bk_tensor *t, char *buf, size_t len)
{
    size_t l = 0;
    l += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && l < len; i++)
        l += (size_t)snprintf(buf + l, len - l, "%s%lld", i ? ", " : "", (long long)t->dim[i]);
    if (l < len)
        snprintf(buf + l, len - l, "]");
}

static clg_status bad(clg_bk_device *dev, const clg_bk_op *op, const char *fmt,
                      const clg_bk_tensor *t)
{
    char s[160] = "";
    if (t)
        shape_str(t, s, sizeof s);
    char msg[512];
    snprintf(msg, sizeof msg, fmt, s);
    return ocl_fail(dev, CLG_ERR_INVALID, "opencl: %s: %s", ocl_op_name(op->op), msg);
}

/* Buffer, dtype, rank and int-range checks shared by every tensor. */
static clg_status check_tensor(clg_bk_device *dev, const clg_bk_op *op, const clg_bk_tensor *t,
                               const char *role)
{
    char s[160];
    shape_str(t, s, sizeof s);
    if (t->ndim < 0 || t->ndim > CLG_MAX_DIMS)
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: %s: %s has rank %d", ocl_op_name(op->op),
                        role, t->ndim);
    if (t->dtype != CLG_F32 && t->dtype != CLG_I32)
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: %s: %s has unknown dtype %d",
                        ocl_op_name(op->op), role, (int)t->dtype);
    for (int i = 0; i < t->ndim; i++)
        if (t->dim[i] < 0)
            return ocl_fail(dev, CLG_ERR_INVALID, "opencl: %s: %s has negative dim in %s",
                            ocl_op_name(op->op), role, s);
    int64_t n = numel(t);
    if (!t->buf)
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: %s: %s %s has no buffer",
                        ocl_op_name(op->op), role, s);
    if (t->offset % 4 != 0)
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: %s: %s offset %zu is not 4-aligned",
                        ocl_op_name(op->op), role, t->offset);
    if (n > INT_MAX || (int64_t)(t->offset / 4) > INT_MAX - n)
        return ocl_fail(dev, CLG_ERR_UNSUPPORTED,
                        "opencl: %s: %s %s at offset %zu exceeds 2^31 elements",
                        ocl_op_name(op->op), role, s, t->offset);
    if (t->offset > t->buf->size ||
        (size_t)n * clg_dtype_size(t->dtype) > t->buf->size - t->offset)
        return ocl_fail(dev, CLG_ERR_INVALID,
                        "opencl: %s: %s %s at offset %zu overruns its %zu-byte buffer",
                        ocl_op_name(op->op), role, s, t->offset, t->buf->size);
    return CLG_OK;
}

static int eoff(const clg_bk_tensor *t) { return (int)(t->offset / 4); }
/* A tensor argument: its buffer, then its offset in elements. */
static void a_tensor(kargs *a, const clg_bk_tensor *t)
{
    a_mem(a, t->buf->mem);
    a_int(a, eoff(t));
}

size_t ocl_pick_local(clg_bk_device *dev, int k)
{
    size_t l = dev->wg_target;
    if (l > dev->kernel_wg[k])
        l = dev->kernel_wg[k];
    return l ? l : 1;
}

clg_status ocl_launch_1d(clg_bk_device *dev, int k, size_t global, size_t local, int op)
{
    if (global == 0)
        return CLG_OK;
    if (local == 0)
        local = ocl_pick_local(dev, k);
    size_t g = (global + local - 1) / local * local;
    cl_event *ev = ocl_prof_slot(dev, op);
    cl_int st = clEnqueueNDRangeKernel(dev->queue, dev->kernel[k], 1, NULL, &g, &local, 0, NULL,
                                       ev);
    ocl_prof_commit(dev, ev, st == CL_SUCCESS);
    dev->kernels += st == CL_SUCCESS;
    if (st != CL_SUCCESS)
        return ocl_fail_cl(dev, st, "%s: enqueue %s (%zu items, groups of %zu)",
                           ocl_op_name(op), ocl_kernel_names[k], g, local);
    return CLG_OK;
}

static clg_status launch(clg_bk_device *dev, const clg_bk_op *op, kargs *a, int k, size_t n,
                         size_t local)
{
    if (a->st != CL_SUCCESS)
        return ocl_fail_cl(dev, a->st, "%s: setting argument %u of %s", ocl_op_name(op->op),
                           a->i - 1, ocl_kernel_names[k]);
    return ocl_launch_1d(dev, k, n, local, op->op);
}

static clg_status fill_words(clg_bk_device *dev, const clg_bk_op *op, const clg_bk_tensor *t,
                             unsigned bits)
{
    kargs a = kbegin(dev, K_FILL);
    a_int(&a, (int)numel(t));
    a_tensor(&a, t);
    a_uint(&a, bits);
    return launch(dev, op, &a, K_FILL, (size_t)numel(t), 0);
}

/* Drops size-1 dims and merges neighbours that are contiguous in every
 * operand, so most elementwise ops index with rank 1. */
static int collapse(int rank, int *dims, int nst, int st[][MAXR])
{
    int r = 0;
    for (int d = 0; d < rank; d++) {
        if (dims[d] == 1)
            continue;
        if (r > 0) {
            int merge = 1;
            for (int j = 0; j < nst; j++)
                if (st[j][r - 1] != st[j][d] * dims[d])
                    merge = 0;
            if (merge) {
                dims[r - 1] *= dims[d];
                for (int j = 0; j < nst; j++)
                    st[j][r - 1] = st[j][d];
                continue;
            }
        }
        dims[r] = dims[d];
        for (int j = 0; j < nst; j++)
            st[j][r] = st[j][d];
        r++;
    }
    if (r == 0) {
        dims[0] = 1;
        for (int j = 0; j < nst; j++)
            st[j][0] = 0;
        r = 1;
    }
    for (int d = r; d < MAXR; d++) {
        dims[d] = 1;
        for (int j = 0; j < nst; j++)
            st[j][d] = 0;
    }
    return r;
}

/* Strides of `in` broadcast (right-aligned) to out's shape; 0 on broadcast
 * dims. Fails when a dim is neither equal nor 1. */
static clg_status bcast_strides(clg_bk_device *dev, const clg_bk_op *op, const clg_bk_tensor *in,
                                int *st)
{
    const clg_bk_tensor *out = &op->out;
    int cs[MAXR];
    strides_of(in, cs);
    for (int i = 0; i < MAXR; i++)
        st[i] = 0;
    if (in->ndim > out->ndim)
        return bad(dev, op, "input of rank above the output's %s", out);
    int shift = out->ndim - in->ndim;
    for (int i = 0; i < in->ndim; i++) {
        int64_t d = in->dim[i], o = out->dim[i + shift];
        if (d == o)
            st[i + shift] = d == 1 ? 0 : cs[i];
        else if (d == 1)
            st[i + shift] = 0;
        else
            return bad(dev, op, "input does not broadcast to the output %s", out);
    }
    return CLG_OK;
}

/* Elementwise f32 -> f32 ops of one input: k_unary switches on their
 * op-table numbers. */
static int is_unary_math(clg_op op)
{
    clg_op_info i = clg_op_info_of(op);
    return i.family == CLG_FAMILY_ELEMENTWISE && i.arity == 1 && i.dtype_rule == CLG_DTRULE_F32;
}

static int is_binary(clg_op op)
{
    clg_op_info i = clg_op_info_of(op);
    return i.family == CLG_FAMILY_ELEMENTWISE && i.arity == 2;
}

static clg_status exec_unary(clg_bk_device *dev, const clg_bk_op *op)
{
    const clg_bk_tensor *x = &op->in[0], *o = &op->out;
    if (x->dtype != CLG_F32 || o->dtype != CLG_F32)
        return bad(dev, op, "needs f32 input and output", NULL);
    if (numel(x) != numel(o))
        return bad(dev, op, "input and output sizes differ (output %s)", o);
    kargs a = kbegin(dev, K_UNARY);
    a_int(&a, (int)op->op);
    a_int(&a, (int)numel(o));
    a_tensor(&a, x);
    a_tensor(&a, o);
    a_f32(&a, clg_param_f32(&op->params, CLG_P_SCALAR));
    a_f32(&a, clg_param_f32(&op->params, CLG_P_SCALAR2));
    return launch(dev, op, &a, K_UNARY, (size_t)numel(o), 0);
}

/* The index space of a broadcasting op: out's dims collapsed together with
 * the strides of its n_in inputs (st[0..n_in)) and of out itself (st[n_in]). */
static clg_status bcast_layout(clg_bk_device *dev, const clg_bk_op *op, int n_in,
                               int dims[MAXR], int st[][MAXR], int *rank)
{
    const clg_bk_tensor *o = &op->out;
    for (int i = 0; i < n_in; i++) {
        clg_status s = bcast_strides(dev, op, &op->in[i], st[i]);
        if (s != CLG_OK)
            return s;
    }
    strides_of(o, st[n_in]);
    for (int i = 0; i < MAXR; i++)
        dims[i] = i < o->ndim ? (int)o->dim[i] : 0;
    *rank = collapse(o->ndim, dims, n_in + 1, st);
    return CLG_OK;
}

static int is_compare(clg_op op) { return clg_op_info_of(op).dtype_rule == CLG_DTRULE_MASK; }

static clg_status exec_binary(clg_bk_device *dev, const clg_bk_op *op)
{
    const clg_bk_tensor *x = &op->in[0], *y = &op->in[1], *o = &op->out;
    if (x->dtype != y->dtype)
        return bad(dev, op, "inputs have different dtypes", NULL);
    clg_dtype want = is_compare(op->op) ? CLG_F32 : x->dtype;
    if (o->dtype != want)
        return bad(dev, op, "output dtype does not match its inputs", NULL);
    if (x->dtype == CLG_I32 && !is_compare(op->op))
        return bad(dev, op, "arithmetic needs f32 operands", NULL);
    int dims[MAXR], st[3][MAXR], rank;
    clg_status s = bcast_layout(dev, op, 2, dims, st, &rank);
    if (s != CLG_OK)
        return s;
    int k = x->dtype == CLG_F32 ? K_BINARY_F32 : K_BINARY_I32;
    kargs a = kbegin(dev, k);
    a_int(&a, (int)op->op);
    a_int(&a, (int)numel(o));
    a_int(&a, rank);
    a_i8(&a, dims);
    a_i8(&a, st[0]);
    a_i8(&a, st[1]);
    a_tensor(&a, x);
    a_tensor(&a, y);
    a_tensor(&a, o);
    return launch(dev, op, &a, k, (size_t)numel(o), 0);
}

static clg_status exec_where(clg_bk_device *dev, const clg_bk_op *op)
{
    const clg_bk_tensor *m = &op->in[0], *x = &op->in[1], *y = &op->in[2], *o = &op->out;
    if (x->dtype != o->dtype || y->dtype != o->dtype)
        return bad(dev, op, "branches and output must share a dtype", NULL);
    int dims[MAXR], st[4][MAXR], rank;
    clg_status s = bcast_layout(dev, op, 3, dims, st, &rank);
    if (s != CLG_OK)
        return s;
    kargs a = kbegin(dev, K_WHERE);
    a_int(&a, (int)numel(o));
    a_int(&a, rank);
    a_i8(&a, dims);
    a_i8(&a, st[0]);
    a_i8(&a, st[1]);
    a_i8(&a, st[2]);
    a_int(&a, m->dtype == CLG_I32);
    a_tensor(&a, m);
    a_tensor(&a, x);
    a_tensor(&a, y);
    a_tensor(&a, o);
    return launch(dev, op, &a, K_WHERE, (size_t)numel(o), 0);
}

static clg_status exec_reduce(clg_bk_device *dev, const clg_bk_op *op)
{
    const clg_bk_tensor *x = &op->in[0], *o = &op->out;
    if (x->dtype != CLG_F32 || o->dtype != CLG_F32)
        return bad(dev, op, "needs f32 input and output", NULL);
    if (x->ndim != o->ndim)
        return bad(dev, op, "output rank differs from the input's (output %s)", o);
    int cs[MAXR];
    strides_of(x, cs);
    int odims[MAXR] = {0}, ost[MAXR] = {0}, rdims[MAXR] = {0}, rst[MAXR] = {0};
    int orank = 0, rrank = 0;
    int64_t R = 1;
    for (int i = 0; i < x->ndim; i++) {
        int red = ((uint32_t)clg_param_i64(&op->params, CLG_P_AXES) >> i) & 1u;
        if (o->dim[i] != (red ? 1 : x->dim[i]))
            return bad(dev, op, "output shape %s does not match the reduced input", o);
        if (red) {
            rdims[rrank] = (int)x->dim[i];
            rst[rrank++] = cs[i];
            R *= x->dim[i];
        } else {
            odims[orank] = (int)x->dim[i];
            ost[orank++] = cs[i];
        }
    }
    if ((uint32_t)clg_param_i64(&op->params, CLG_P_AXES) >> x->ndim)
        return bad(dev, op, "axes name dims beyond the input's rank (input %s)", x);
    if (op->op == CLG_OP_MAX && R == 0 && numel(o) > 0)
        return bad(dev, op, "max over an empty dim has no identity (input %s)", x);
    if (orank == 0) {
        odims[0] = 1;
        orank = 1;
    }
    if (rrank == 0) {
        rdims[0] = 1;
        rrank = 1;
    }
    size_t cap = ocl_pick_local(dev, K_REDUCE), L = 1;
    while (L * 2 <= cap && (int64_t)L < R)
        L *= 2;
    int code = op->op == CLG_OP_SUM ? 0 : op->op == CLG_OP_MEAN ? 1 : 2;
    kargs a = kbegin(dev, K_REDUCE);
    a_int(&a, code);
    a_int(&a, (int)R);
    a_int(&a, orank);
    a_i8(&a, odims);
    a_i8(&a, ost);
    a_int(&a, rrank);
    a_i8(&a, rdims);
    a_i8(&a, rst);
    a_tensor(&a, x);
    a_tensor(&a, o);
    a_local(&a, L * sizeof(cl_float));
    return launch(dev, op, &a, K_REDUCE, (size_t)numel(o) * L, L);
}

/* (rows, len, inner) of a tensor split around `axis`. */
static clg_status axis_split(clg_bk_device *dev, const clg_bk_op *op, const clg_bk_tensor *t,
                             int axis, int *rows, int *len, int *inner)
{
    if (t->ndim == 0 && axis == 0) { /* a scalar is one row of one */
        *rows = *len = *inner = 1;
        return CLG_OK;
    }
    if (axis < 0 || axis >= t->ndim)
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: %s: axis %d out of range for rank %d",
                        ocl_op_name(op->op), axis, t->ndim);
    int64_t in = 1;
    for (int i = axis + 1; i < t->ndim; i++)
        in *= t->dim[i];
    *len = (int)t->dim[axis];
    *inner = (int)in;
    *rows = *len ? (int)(numel(t) / *len) : 0;
    return CLG_OK;
}

static clg_status exec_argmax(clg_bk_device *dev, const clg_bk_op *op)
{
    const clg_bk_tensor *x = &op->in[0], *o = &op->out;
    if (x->dtype != CLG_F32 || o->dtype != CLG_I32)
        return bad(dev, op, "needs f32 input and i32 output", NULL);
    int rows, len, inner;
    clg_status s = axis_split(dev, op, x, clg_param_int(&op->params, CLG_P_AXIS), &rows, &len, &inner);
    if (s != CLG_OK)
        return s;
    if (o->ndim != x->ndim)
        return bad(dev, op, "output rank differs from the input's (output %s)", o);
    for (int i = 0; i < x->ndim; i++)
        if (o->dim[i] != (i == clg_param_int(&op->params, CLG_P_AXIS) ? 1 : x->dim[i]))
            return bad(dev, op, "output shape %s does not match the input", o);
    rows = (int)numel(o);
    if (len == 0 && numel(o) > 0)
        return bad(dev, op, "argmax over an empty axis (input %s)", x);
    kargs a = kbegin(dev, K_ARGMAX);
    a_int(&a, rows);
    a_int(&a, len);
    a_int(&a, inner);
    a_tensor(&a, x);
    a_tensor(&a, o);
    return launch(dev, op, &a, K_ARGMAX, (size_t)rows, 0);
}

static clg_status exec_softmax(clg_bk_device *dev, const clg_bk_op *op)
{
    const clg_bk_tensor *x = &op->in[0], *o = &op->out;
    if (x->dtype != CLG_F32 || o->dtype != CLG_F32)
        return bad(dev, op, "needs f32 input and output", NULL);
    if (numel(x) != numel(o))
        return bad(dev, op, "input and output sizes differ (output %s)", o);
    int rows, len, inner;
    clg_status s = axis_split(dev, op, x, clg_param_int(&op->params, CLG_P_AXIS), &rows, &len, &inner);
    if (s != CLG_OK)
        return s;
    if (len >= 64) { /* long rows (attention over T): a work-group per row */
        size_t cap = ocl_pick_local(dev, K_SOFTMAX_WG), L = 1;
        while (L * 2 <= cap && (int64_t)L * 2 <= len)
            L *= 2;
        kargs w = kbegin(dev, K_SOFTMAX_WG);
        a_int(&w, op->op == CLG_OP_LOG_SOFTMAX);
        a_int(&w, len);
        a_int(&w, inner);
        a_tensor(&w, x);
        a_tensor(&w, o);
        a_local(&w, L * sizeof(cl_float));
        return launch(dev, op, &w, K_SOFTMAX_WG, (size_t)rows * L, L);
    }
    kargs a = kbegin(dev, K_SOFTMAX);
    a_int(&a, op->op == CLG_OP_LOG_SOFTMAX);
    a_int(&a, rows);
    a_int(&a, len);
    a_int(&a, inner);
    a_tensor(&a, x);
    a_tensor(&a, o);
    return launch(dev, op, &a, K_SOFTMAX, (size_t)rows, 0);
}

/* dst[doff + off(i, dst)] = src[soff + off(i, sst)] over `dims`. */
static clg_status strided_copy(clg_bk_device *dev, const clg_bk_op *op, int rank,
                               const int64_t *dims64, const int *sst, const clg_bk_tensor *src,
                               int soff, const int *dstst, const clg_bk_tensor *dst, int doff)
{
    int dims[MAXR] = {0}, st[2][MAXR];
    int64_t n = 1;
    for (int i = 0; i < MAXR; i++) {
        dims[i] = i < rank ? (int)dims64[i] : 1;
        st[0][i] = i < rank ? sst[i] : 0;
        st[1][i] = i < rank ? dstst[i] : 0;
        if (i < rank)
            n *= dims64[i];
    }
    if (n == 0)
        return CLG_OK;
    int r = collapse(rank, dims, 2, st);
    kargs a = kbegin(dev, K_STRIDED_COPY);
    a_int(&a, (int)n);
    a_int(&a, r);
    a_i8(&a, dims);
    a_i8(&a, st[0]);
    a_i8(&a, st[1]);
    a_mem(&a, src->buf->mem);
    a_int(&a, soff);
    a_mem(&a, dst->buf->mem);
    a_int(&a, doff);
    return launch(dev, op, &a, K_STRIDED_COPY, (size_t)n, 0);
}

static clg_status exec_movement(clg_bk_device *dev, const clg_bk_op *op)
{
    const clg_bk_tensor *x = &op->in[0], *o = &op->out;
    int xs[MAXR], os[MAXR], st[MAXR] = {0};
    strides_of(o, os);
    if (op->op != CLG_OP_CONCAT && x->dtype != o->dtype)
        return bad(dev, op, "input and output dtypes differ", NULL);
    switch (op->op) {
    case CLG_OP_PERMUTE: {
        strides_of(x, xs);
        if (x->ndim != o->ndim)
            return bad(dev, op, "output rank differs from the input's (output %s)", o);
        int seen = 0;
        for (int i = 0; i < o->ndim; i++) {
            int p = clg_param_int(&op->params, CLG_P_PERM + i);
            if (p < 0 || p >= x->ndim || (seen >> p) & 1 || x->dim[p] != o->dim[i])
                return bad(dev, op, "perm does not map the input onto the output %s", o);
            seen |= 1 << p;
            st[i] = xs[p];
        }
        return strided_copy(dev, op, o->ndim, o->dim, st, x, eoff(x), os, o, eoff(o));
    }
    case CLG_OP_EXPAND: {
        clg_status s = bcast_strides(dev, op, x, st);
        if (s != CLG_OK)
            return s;
        return strided_copy(dev, op, o->ndim, o->dim, st, x, eoff(x), os, o, eoff(o));
    }
    case CLG_OP_SLICE: {
        strides_of(x, xs);
        if (x->ndim != o->ndim)
            return bad(dev, op, "output rank differs from the input's (output %s)", o);
        int64_t base = eoff(x);
        for (int i = 0; i < o->ndim; i++) {
            int64_t s0 = clg_param_i64(&op->params, CLG_P_START + i);
            if (s0 < 0 || s0 + o->dim[i] > x->dim[i])
                return bad(dev, op, "the slice leaves the input %s", x);
            base += s0 * xs[i];
        }
        return strided_copy(dev, op, o->ndim, o->dim, xs, x, (int)base, os, o, eoff(o));
    }
    case CLG_OP_PAD: {
        strides_of(x, xs);
        if (x->ndim != o->ndim)
            return bad(dev, op, "output rank differs from the input's (output %s)", o);
        int64_t base = eoff(o);
        for (int i = 0; i < o->ndim; i++) {
            int64_t s0 = clg_param_i64(&op->params, CLG_P_START + i);
            if (s0 < 0 || s0 + x->dim[i] > o->dim[i])
                return bad(dev, op, "the input does not fit the output %s", o);
            base += s0 * os[i];
        }
        clg_status s = fill_words(dev, op, o, 0);
        if (s != CLG_OK)
            return s;
        return strided_copy(dev, op, x->ndim, x->dim, xs, x, eoff(x), os, o, (int)base);
    }
    default: { /* CONCAT */
        int axis = clg_param_int(&op->params, CLG_P_AXIS);
        if (axis < 0 || axis >= o->ndim)
            return bad(dev, op, "axis out of range for the output %s", o);
        int64_t at = 0;
        for (int j = 0; j < op->n_in; j++) {
            const clg_bk_tensor *t = &op->in[j];
            if (t->dtype != o->dtype || t->ndim != o->ndim)
                return bad(dev, op, "an input's dtype or rank differs from the output %s", o);
            for (int i = 0; i < o->ndim; i++)
                if (i != axis && t->dim[i] != o->dim[i])
                    return bad(dev, op, "an input does not match the output %s off the axis",
                               o);
            at += t->dim[axis];
        }
        if (at != o->dim[axis])
            return bad(dev, op, "inputs do not add up to the output %s along the axis", o);
        at = 0;
        for (int j = 0; j < op->n_in; j++) {
            const clg_bk_tensor *t = &op->in[j];
            strides_of(t, xs);
            clg_status s = strided_copy(dev, op, t->ndim, t->dim, xs, t, eoff(t), os, o,
                                        (int)(eoff(o) + at * os[axis]));
            if (s != CLG_OK)
                return s;
            at += t->dim[axis];
        }
        return CLG_OK;
    }
    }
}

static clg_status exec_index(clg_bk_device *dev, const clg_bk_op *op)
{
    const clg_bk_tensor *o = &op->out;
    int os[MAXR];
    strides_of(o, os);
    clg_status s = CLG_OK;
    if (op->op == CLG_OP_ONE_HOT) {
        const clg_bk_tensor *x = &op->in[0];
        if (x->dtype != CLG_I32 || o->dtype != CLG_F32)
            return bad(dev, op, "needs i32 input and f32 output", NULL);
        if (o->ndim != x->ndim + 1 || o->dim[o->ndim - 1] != clg_param_i64(&op->params, CLG_P_N) ||
            numel(o) != numel(x) * clg_param_i64(&op->params, CLG_P_N) || clg_param_i64(&op->params, CLG_P_N) < 0)
            return bad(dev, op, "output %s is not the input's shape plus [n]", o);
        kargs a = kbegin(dev, K_ONE_HOT);
        a_int(&a, (int)numel(o));
        a_int(&a, (int)clg_param_i64(&op->params, CLG_P_N));
        a_tensor(&a, x);
        a_tensor(&a, o);
        a_mem(&a, dev->index_err);
        if (numel(o) == 0)
            return CLG_OK;
        s = launch(dev, op, &a, K_ONE_HOT, (size_t)numel(o), 0);
    } else {
        const clg_bk_tensor *d = &op->in[0], *ix = &op->in[1];
        int axis = clg_param_int(&op->params, CLG_P_AXIS);
        if (ix->dtype != CLG_I32)
            return bad(dev, op, "the index must be i32", NULL);
        if (d->dtype != o->dtype)
            return bad(dev, op, "data and output dtypes differ", NULL);
        if (axis < 0 || axis >= o->ndim || d->ndim != o->ndim || ix->ndim != o->ndim)
            return bad(dev, op, "axis or ranks do not match the output %s", o);
        if (op->op == CLG_OP_GATHER) {
            for (int i = 0; i < o->ndim; i++)
                if (ix->dim[i] != o->dim[i] || (i != axis && ix->dim[i] > d->dim[i]))
                    return bad(dev, op, "index shape does not fit the data (output %s)", o);
            int ds[MAXR], dims[MAXR] = {0};
            strides_of(d, ds);
            for (int i = 0; i < MAXR; i++)
                dims[i] = i < o->ndim ? (int)o->dim[i] : 1;
            if (numel(o) > 0 && d->dim[axis] == 0)
                return bad(dev, op, "gathering from an empty axis of %s", d);
            kargs a = kbegin(dev, K_GATHER);
            a_int(&a, (int)numel(o));
            a_int(&a, o->ndim);
            a_int(&a, axis);
            a_i8(&a, dims);
            a_i8(&a, ds);
            a_int(&a, (int)d->dim[axis]);
            a_tensor(&a, d);
            a_tensor(&a, ix);
            a_tensor(&a, o);
            a_mem(&a, dev->index_err);
            s = launch(dev, op, &a, K_GATHER, (size_t)numel(o), 0);
        } else { /* SCATTER_ADD; in[0] is src here */
            if (o->dtype != CLG_F32)
                return bad(dev, op, "needs f32 data", NULL);
            for (int i = 0; i < o->ndim; i++)
                if (ix->dim[i] != d->dim[i] || (i != axis && d->dim[i] > o->dim[i]))
                    return bad(dev, op, "src/index shapes do not fit the output %s", o);
            s = fill_words(dev, op, o, 0);
            if (s != CLG_OK)
                return s;
            int ss[MAXR], ld[MAXR];
            strides_of(d, ss);
            int64_t lines = 1;
            for (int i = 0; i < MAXR; i++) {
                ld[i] = i < o->ndim ? (i == axis ? 1 : (int)d->dim[i]) : 1;
                lines *= ld[i];
            }
            if (d->dim[axis] == 0)
                lines = 0;
            kargs a = kbegin(dev, K_SCATTER_ADD);
            a_int(&a, (int)lines);
            a_int(&a, o->ndim);
            a_int(&a, axis);
            a_i8(&a, ld);
            a_i8(&a, ss);
            a_i8(&a, os);
            a_int(&a, (int)d->dim[axis]);
            a_int(&a, (int)o->dim[axis]);
            a_tensor(&a, d);
            a_tensor(&a, ix);
            a_tensor(&a, o);
            a_mem(&a, dev->index_err);
            s = launch(dev, op, &a, K_SCATTER_ADD, (size_t)lines, 0);
        }
    }
    if (s == CLG_OK)
        dev->index_err_pending = 1;
    return s;
}

/* im2col / col2im / max_pool2d_index: the geometry checked here, the work
 * in window.cl. */
static clg_status exec_window(clg_bk_device *dev, const clg_bk_op *op)
{
    const int fwd = op->op == CLG_OP_IM2COL, pool = op->op == CLG_OP_MAX_POOL2D_INDEX;
    const clg_bk_tensor *img = fwd || pool ? &op->in[0] : &op->out;
    const clg_bk_tensor *cols = fwd || pool ? &op->out : &op->in[0];
    const clg_params *p = &op->params;
    if (pool ? img->dtype != CLG_F32 || cols->dtype != CLG_I32 || img->ndim != 4 ||
                   cols->ndim != 4
             : img->dtype != CLG_F32 || cols->dtype != CLG_F32 || img->ndim != 4 ||
                   cols->ndim != 3)
        return bad(dev, op, "needs an f32 image [N, C, H, W] and f32 columns or i32 indices, "
                   "output %s", &op->out);
    int64_t k[2], s[2], pd[2], dl[2], o[2];
    for (int d = 0; d < 2; d++) {
        k[d] = clg_param_i64(p, CLG_P_KERNEL + d);
        s[d] = clg_param_i64(p, CLG_P_STRIDE + d);
        pd[d] = clg_param_i64(p, CLG_P_PADDING + d);
        dl[d] = clg_param_i64(p, CLG_P_DILATION + d);
        if (k[d] < 1 || s[d] < 1 || dl[d] < 1 || pd[d] < 0 || k[d] > (1 << 20) || s[d] > (1 << 20) ||
            dl[d] > (1 << 20) || pd[d] > (1 << 20))
            return bad(dev, op, "bad window (output %s)", &op->out);
        int64_t span = dl[d] * (k[d] - 1) + 1, room = img->dim[2 + d] + 2 * pd[d];
        if (span > room)
            return bad(dev, op, "the window does not fit the image (output %s)", &op->out);
        o[d] = (room - span) / s[d] + 1;
    }
    if (pool ? cols->dim[0] != img->dim[0] || cols->dim[1] != img->dim[1] ||
                   cols->dim[2] != o[0] || cols->dim[3] != o[1]
             : cols->dim[0] != img->dim[0] || cols->dim[1] != img->dim[1] * k[0] * k[1] ||
                   cols->dim[2] != o[0] * o[1])
        return bad(dev, op, "the output does not match the image and window (output %s)",
                   &op->out);
    if (numel(&op->out) == 0)
        return CLG_OK;
    if (pool) {
        kargs a = kbegin(dev, K_POOL_INDEX);
        a_int(&a, (int)numel(&op->out));
        a_tensor(&a, &op->in[0]);
        a_tensor(&a, &op->out);
        a_int(&a, (int)img->dim[2]);
        a_int(&a, (int)img->dim[3]);
        const int64_t *geo[4] = { k, s, pd, dl };
        for (int q = 0; q < 4; q++)
            for (int d = 0; d < 2; d++)
                a_int(&a, (int)geo[q][d]);
        a_int(&a, (int)o[0]);
        a_int(&a, (int)o[1]);
        return launch(dev, op, &a, K_POOL_INDEX, (size_t)numel(&op->out), 0);
    }
    kargs a = kbegin(dev, fwd ? K_IM2COL : K_COL2IM);
    a_int(&a, (int)numel(&op->out));
    a_tensor(&a, &op->in[0]);
    a_tensor(&a, &op->out);
    if (fwd)
        a_f32(&a, clg_param_f32(p, CLG_P_SCALAR));
    a_int(&a, (int)img->dim[1]);
    a_int(&a, (int)img->dim[2]);
    a_int(&a, (int)img->dim[3]);
    for (int d = 0; d < 2; d++)
        a_int(&a, (int)k[d]);
    for (int d = 0; d < 2; d++)
        a_int(&a, (int)s[d]);
    for (int d = 0; d < 2; d++)
        a_int(&a, (int)pd[d]);
    for (int d = 0; d < 2; d++)
        a_int(&a, (int)dl[d]);
    a_int(&a, (int)o[0]);
    a_int(&a, (int)o[1]);
    return launch(dev, op, &a, fwd ? K_IM2COL : K_COL2IM, (size_t)numel(&op->out), 0);
}

int ocl_supports(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    if (!op || !clg_op_is_kernel(op->op))
        return 0;
    if (op->op == CLG_OP_FUSED)
        return ocl_fused_supports(op);
    /* no kernels of their own: the compiler spells them out */
    if (op->op == CLG_OP_CROSS_ENTROPY || op->op == CLG_OP_CROSS_ENTROPY_GRAD ||
        op->op == CLG_OP_BN_STATS || op->op == CLG_OP_BN_APPLY || op->op == CLG_OP_BN_GRAD_SUMS ||
        op->op == CLG_OP_LN_NORM || op->op == CLG_OP_LN_NORM_GRAD ||
        op->op == CLG_OP_CONV2D || op->op == CLG_OP_CONV2D_GRAD_INPUT ||
        op->op == CLG_OP_CONV2D_GRAD_WEIGHT || op->op == CLG_OP_LSTM_SCAN ||
        op->op == CLG_OP_LSTM_SCAN_GRAD || op->op == CLG_OP_INDEX_SELECT ||
        op->op == CLG_OP_INDEX_ADD)
        return 0;
    for (int i = 0; i < op->n_in && i < CLG_MAX_INPUTS; i++)
        if (op->in[i].dtype != CLG_F32 && op->in[i].dtype != CLG_I32)
            return 0; /* the kernels move 4-byte words */
    if (op->out.dtype != CLG_F32 && op->out.dtype != CLG_I32)
        return 0;
    int64_t n = numel(&op->out);
    for (int i = 0; i < op->n_in && i < CLG_MAX_INPUTS; i++)
        if (numel(&op->in[i]) > n)
            n = numel(&op->in[i]);
    if (n > INT_MAX)
        return 0;
    if (is_binary(op->op) && !is_compare(op->op) && op->n_in == 2 && op->in[0].dtype == CLG_I32)
        return 0;
    return 1;
}

clg_status ocl_exec(clg_bk_device *dev, const clg_bk_op *op)
{
    if (!dev || !op)
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: exec: NULL argument");
    if (!clg_op_is_kernel(op->op))
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: exec: op %d is not a kernel op",
                        (int)op->op);
    int want = clg_op_info_of(op->op).arity;
    if ((want >= 0 && op->n_in != want) ||
        (want < 0 && (op->n_in < 1 || op->n_in > CLG_MAX_INPUTS)))
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: %s: got %d inputs", ocl_op_name(op->op),
                        op->n_in);
    clg_status s = check_tensor(dev, op, &op->out, "output");
    for (int i = 0; i < op->n_in && s == CLG_OK; i++) {
        char role[32];
        snprintf(role, sizeof role, "input %d", i);
        s = check_tensor(dev, op, &op->in[i], role);
    }
    if (s != CLG_OK)
        return s;

    switch (op->op) {
    case CLG_OP_FILL: {
        unsigned bits;
        if (op->out.dtype == CLG_F32) {
            float f = clg_param_f32(&op->params, CLG_P_SCALAR);
            memcpy(&bits, &f, 4);
        } else {
            /* NaN and values outside int32 give INT_MIN, as k_cast and the
             * CPU backend do; a plain C cast would be undefined there. */
            float f = clg_param_f32(&op->params, CLG_P_SCALAR);
            int32_t v = (f > -2147483904.0f && f < 2147483648.0f) ? (int32_t)f : INT32_MIN;
            bits = (unsigned)v;
        }
        return fill_words(dev, op, &op->out, bits);
    }
    case CLG_OP_COPY:
        if (op->in[0].dtype != op->out.dtype || numel(&op->in[0]) != numel(&op->out))
            return bad(dev, op, "input and output differ in dtype or size (output %s)",
                       &op->out);
        return ocl_copy(dev, op->in[0].buf, op->in[0].offset, op->out.buf, op->out.offset,
                        (size_t)numel(&op->out) * clg_dtype_size(op->out.dtype));
    case CLG_OP_CAST: {
        const clg_bk_tensor *x = &op->in[0], *o = &op->out;
        if (numel(x) != numel(o))
            return bad(dev, op, "input and output sizes differ (output %s)", o);
        if (x->dtype == o->dtype)
            return ocl_copy(dev, x->buf, x->offset, o->buf, o->offset,
                            (size_t)numel(o) * clg_dtype_size(o->dtype));
        kargs a = kbegin(dev, K_CAST);
        a_int(&a, x->dtype == CLG_F32 ? 0 : 1);
        a_int(&a, (int)numel(o));
        a_tensor(&a, x);
        a_tensor(&a, o);
        return launch(dev, op, &a, K_CAST, (size_t)numel(o), 0);
    }
    case CLG_OP_WHERE:
        return exec_where(dev, op);
    case CLG_OP_SUM:
    case CLG_OP_MEAN:
    case CLG_OP_MAX:
        return exec_reduce(dev, op);
    case CLG_OP_ARGMAX:
        return exec_argmax(dev, op);
    case CLG_OP_SOFTMAX:
    case CLG_OP_LOG_SOFTMAX:
        return exec_softmax(dev, op);
    case CLG_OP_MATMUL:
        return ocl_matmul(dev, op);
    case CLG_OP_FUSED:
        return ocl_fused(dev, op);
    case CLG_OP_PERMUTE:
    case CLG_OP_EXPAND:
    case CLG_OP_SLICE:
    case CLG_OP_PAD:
    case CLG_OP_CONCAT:
        return exec_movement(dev, op);
    case CLG_OP_GATHER:
    case CLG_OP_SCATTER_ADD:
    case CLG_OP_ONE_HOT:
        return exec_index(dev, op);
    case CLG_OP_IM2COL:
    case CLG_OP_COL2IM:
    case CLG_OP_MAX_POOL2D_INDEX:
        return exec_window(dev, op);
    case CLG_OP_RAND_UNIFORM: {
        const clg_bk_tensor *x = &op->in[0], *o = &op->out;
        if (x->dtype != CLG_I32 || o->dtype != CLG_F32 || numel(x) != 2)
            return bad(dev, op, "needs an i32 state of 2 values and an f32 output %s", o);
        if (numel(o) == 0)
            return CLG_OK;
        kargs a = kbegin(dev, K_RAND_UNIFORM);
        a_int(&a, (int)numel(o));
        a_tensor(&a, x);
        a_uint(&a, (unsigned)(uint32_t)clg_param_i64(&op->params, CLG_P_STREAM));
        a_tensor(&a, o);
        /* one work-item per block of four (random.cl) */
        return launch(dev, op, &a, K_RAND_UNIFORM, (size_t)((numel(o) + 3) / 4), 0);
    }
    default:
        if (is_binary(op->op))
            return exec_binary(dev, op);
        if (is_unary_math(op->op))
            return exec_unary(dev, op);
        return ocl_fail(dev, CLG_ERR_UNSUPPORTED, "opencl: %s: not implemented",
                        ocl_op_name(op->op));
    }
}
