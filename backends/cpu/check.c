/* Validation of an op before any kernel runs: arity (from the op table),
 * dtypes, the shape rules documented on the op table, parameters, and buffer
 * bounds. A kernel may then index
 * freely; only data-dependent checks (index ranges) are left to it. */
#include "conv_dnnl.h"
#include "cpu.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Largest element count we accept; keeps every byte count and offset product
 * below INT64_MAX. */
#define MAX_NUMEL ((int64_t)1 << 56)

static int is_kernel(clg_op op) { return clg_op_is_kernel(op); }
static int check_conv2d(const clg_bk_op *op, char *msg, size_t len);

const char *cpu_op_name(clg_op op)
{
    return is_kernel(op) ? clg_op_info_of(op).name : "(not a kernel op)";
}

int64_t cpu_numel(const clg_bk_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->dim[d];
    return n;
}

/* A refusal's message into msg; -1. */
int cpu_refuse(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* "[2, 3, 4]" into buf, for messages. */
static const char *shape_str(const clg_bk_tensor *t, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < t->ndim && d < CLG_MAX_DIMS && n < len; d++)
        n += (size_t)snprintf(buf + n, len - n, d ? ", %lld" : "%lld", (long long)t->dim[d]);
    if (n < len)
        snprintf(buf + n, len - n, "]");
    return buf;
}

static const char *dtype_str(clg_dtype dt)
{
    switch (dt) {
    case CLG_F32: return "f32";
    case CLG_I32: return "i32";
    case CLG_F16: return "f16";
    case CLG_BF16: return "bf16";
    }
    return "(bad dtype)";
}

/* ---------------------------------------------------------------- dtypes */

/* Elementwise f32 -> f32 with one input (copy and cast have rules of their own). */
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

static int is_comparison(clg_op op) { return clg_op_info_of(op).dtype_rule == CLG_DTRULE_MASK; }

/* This backend's kernels handle 4-byte elements only: F16/BF16 are refused
 * here, so supports() says no for them. */
static int valid_dtype(clg_dtype dt)
{
    return dt == CLG_F32 || dt == CLG_I32;
}

/* Which dtype each operand may have; `who` names the operand for messages. */
static int want(const clg_bk_op *op, const clg_bk_tensor *t, const char *who, int f32_ok,
                int i32_ok, char *msg, size_t len)
{
    if ((t->dtype == CLG_F32 && f32_ok) || (t->dtype == CLG_I32 && i32_ok))
        return 0;
    return cpu_refuse(msg, len, "%s: %s has dtype %s; it must be %s", cpu_op_name(op->op), who,
                dtype_str(t->dtype), f32_ok && i32_ok ? "f32 or i32" : f32_ok ? "f32" : "i32");
}

static int same_dtype(const clg_bk_op *op, const clg_bk_tensor *a, const char *wa,
                      const clg_bk_tensor *b, const char *wb, char *msg, size_t len)
{
    if (a->dtype == b->dtype)
        return 0;
    return cpu_refuse(msg, len, "%s: %s (%s) and %s (%s) must have the same dtype",
                cpu_op_name(op->op), wa, dtype_str(a->dtype), wb, dtype_str(b->dtype));
}

int cpu_check_types(const clg_bk_op *op, char *msg, size_t len)
{
    if (!op)
        return cpu_refuse(msg, len, "op is NULL");
    if (!is_kernel(op->op))
        return cpu_refuse(msg, len, "op %d is not a kernel op of op table version %u", (int)op->op,
                    (unsigned)CLG_OP_TABLE_VERSION);
    const clg_op_info info = clg_op_info_of(op->op);
    const char *name = info.name;
    const int min_in = info.arity < 0 ? 1 : info.arity;
    const int max_in = info.arity < 0 ? CLG_MAX_INPUTS : info.arity;
    if (op->n_in < min_in || op->n_in > max_in) {
        if (min_in == max_in)
            return cpu_refuse(msg, len, "%s: takes %d input(s), got %d", name, min_in, op->n_in);
        return cpu_refuse(msg, len, "%s: takes %d..%d inputs, got %d", name, min_in, max_in,
                    op->n_in);
    }
    for (int i = 0; i < op->n_in; i++)
        if (!valid_dtype(op->in[i].dtype))
            return cpu_refuse(msg, len, "%s: input %d has unknown dtype %d", name, i,
                        (int)op->in[i].dtype);
    if (!valid_dtype(op->out.dtype))
        return cpu_refuse(msg, len, "%s: output has unknown dtype %d", name, (int)op->out.dtype);

    const clg_bk_tensor *in = op->in, *out = &op->out;
    switch (op->op) {
    case CLG_OP_FUSED:
        return cpu_fused_check(op, msg, len); /* the program, its dtypes and sizes */
    case CLG_OP_BN_APPLY:
        /* deliberately not run: lowered, it is per-channel elementwise ops
         * that fuse with what follows (the ReLU after it, in a CNN) */
        return cpu_refuse(msg, len, "bn_apply: left to the compiler's elementwise lowering");
    case CLG_OP_INDEX_SELECT:
    case CLG_OP_INDEX_ADD:
        if (want(op, &in[0], "the rows", 1, 0, msg, len) ||
            want(op, &in[1], "the ids", 0, 1, msg, len) ||
            want(op, out, "the output", 1, 0, msg, len))
            return -1;
        return 0;
    case CLG_OP_CROSS_ENTROPY:
    case CLG_OP_CROSS_ENTROPY_GRAD:
        if (want(op, &in[0], "the logits", 1, 0, msg, len) ||
            want(op, &in[1], "the target", 0, 1, msg, len) ||
            (op->n_in == 3 && want(op, &in[2], "the gradient", 1, 0, msg, len)) ||
            want(op, out, "the output", 1, 0, msg, len))
            return -1;
        return 0;
    case CLG_OP_FILL:
    case CLG_OP_CAST:
        return 0; /* f32 or i32 on either side */
    case CLG_OP_COPY:
    case CLG_OP_PERMUTE:
    case CLG_OP_EXPAND:
    case CLG_OP_SLICE:
    case CLG_OP_PAD:
        return same_dtype(op, &in[0], "input", out, "output", msg, len);
    case CLG_OP_CONCAT:
        for (int i = 0; i < op->n_in; i++)
            if (same_dtype(op, &in[i], "an input", out, "the output", msg, len))
                return -1;
        return 0;
    case CLG_OP_WHERE:
        if (want(op, &in[0], "the mask", 1, 1, msg, len) ||
            same_dtype(op, &in[1], "input 1", out, "the output", msg, len) ||
            same_dtype(op, &in[2], "input 2", out, "the output", msg, len))
            return -1;
        return 0;
    case CLG_OP_ARGMAX:
    case CLG_OP_MAX_POOL2D_INDEX:
        if (want(op, &in[0], "the input", 1, 0, msg, len) ||
            want(op, out, "the output", 0, 1, msg, len))
            return -1;
        return 0;
    case CLG_OP_GATHER:
        if (want(op, &in[1], "the index", 0, 1, msg, len) ||
            same_dtype(op, &in[0], "the data", out, "the output", msg, len))
            return -1;
        return 0;
    case CLG_OP_SCATTER_ADD:
        if (want(op, &in[0], "the source", 1, 0, msg, len) ||
            want(op, &in[1], "the index", 0, 1, msg, len) ||
            want(op, out, "the output", 1, 0, msg, len))
            return -1;
        return 0;
    case CLG_OP_CONV2D:
    case CLG_OP_CONV2D_GRAD_INPUT:
    case CLG_OP_CONV2D_GRAD_WEIGHT:
        /* refused, the core lowers it into im2col + matmul */
        if (!cpu_conv_dnnl_runs(op->op))
            return cpu_refuse(msg, len, "%s: runs as im2col + matmul here (oneDNN's convolution "
                              "is not built in, turned off or unusable)", name);
        for (int i = 0; i < 2; i++)
            if (want(op, &in[i], i ? "input 1" : "input 0", 1, 0, msg, len))
                return -1;
        if (want(op, out, "the output", 1, 0, msg, len) || check_conv2d(op, msg, len))
            return -1;
        if (!cpu_conv_dnnl_accepts(op))
            return cpu_refuse(msg, len, "%s: oneDNN declines this shape", name);
        return 0;
    case CLG_OP_ONE_HOT:
    case CLG_OP_RAND_UNIFORM:
        if (want(op, &in[0], op->op == CLG_OP_ONE_HOT ? "the input" : "the state", 0, 1, msg, len) ||
            want(op, out, "the output", 1, 0, msg, len))
            return -1;
        return 0;
    default:
        break;
    }
    if (is_comparison(op->op)) {
        if (want(op, &in[0], "input 0", 1, 1, msg, len) ||
            same_dtype(op, &in[0], "input 0", &in[1], "input 1", msg, len) ||
            want(op, out, "the output", 1, 0, msg, len))
            return -1;
        return 0;
    }
    /* Everything else is f32 math: unary, arithmetic, reductions, softmax,
     * matmul. */
    for (int i = 0; i < op->n_in; i++) {
        char who[24];
        snprintf(who, sizeof who, "input %d", i);
        if (want(op, &in[i], who, 1, 0, msg, len))
            return -1;
    }
    return want(op, out, "the output", 1, 0, msg, len);
}

/* ---------------------------------------------------------------- shapes */

static int check_tensor(const clg_bk_op *op, const clg_bk_tensor *t, const char *who, char *msg,
                        size_t len)
{
    const char *name = cpu_op_name(op->op);
    if (t->ndim < 0 || t->ndim > CLG_MAX_DIMS)
        return cpu_refuse(msg, len, "%s: %s has ndim %d (0..%d allowed)", name, who, t->ndim,
                    CLG_MAX_DIMS);
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->dim[d] < 0)
            return cpu_refuse(msg, len, "%s: %s has negative dim %d (%lld)", name, who, d,
                        (long long)t->dim[d]);
        if (t->dim[d] > 0 && n > MAX_NUMEL / t->dim[d])
            return cpu_refuse(msg, len, "%s: %s is too large", name, who);
        n *= t->dim[d];
    }
    if (!t->buf)
        return cpu_refuse(msg, len, "%s: %s has no buffer", name, who);
    const size_t bytes = (size_t)n * clg_dtype_size(t->dtype);
    if (t->offset > t->buf->size || bytes > t->buf->size - t->offset)
        return cpu_refuse(msg, len,
                    "%s: %s (%lld elements at byte offset %zu) overruns its buffer of %zu bytes",
                    name, who, (long long)n, t->offset, t->buf->size);
    return 0;
}

/* Byte ranges [offset, end) in one buffer intersect; empty ranges never do. */
static int overlaps(const clg_bk_tensor *a, const clg_bk_tensor *b)
{
    const size_t ea = a->offset + (size_t)cpu_numel(a) * clg_dtype_size(a->dtype);
    const size_t eb = b->offset + (size_t)cpu_numel(b) * clg_dtype_size(b->dtype);
    if (a->buf != b->buf || ea == a->offset || eb == b->offset)
        return 0;
    return a->offset < eb && b->offset < ea;
}

static int same_shape(const clg_bk_tensor *a, const clg_bk_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->dim[d] != b->dim[d])
            return 0;
    return 1;
}

static int shape_mismatch(const clg_bk_op *op, const char *what, const clg_bk_tensor *a,
                          const char *wa, const clg_bk_tensor *b, const char *wb, char *msg,
                          size_t len)
{
    char sa[96], sb[96];
    return cpu_refuse(msg, len, "%s: %s: %s %s vs %s %s", cpu_op_name(op->op), what, wa,
                shape_str(a, sa, sizeof sa), wb, shape_str(b, sb, sizeof sb));
}

/* in broadcasts to out: rank <= out's, each right-aligned dim 1 or equal. */
static int check_broadcast(const clg_bk_op *op, const clg_bk_tensor *in, const char *who,
                           char *msg, size_t len)
{
    const clg_bk_tensor *out = &op->out;
    int ok = in->ndim <= out->ndim;
    for (int d = 0; ok && d < in->ndim; d++) {
        const int64_t di = in->dim[d], dout = out->dim[out->ndim - in->ndim + d];
        ok = di == dout || di == 1;
    }
    return ok ? 0 : shape_mismatch(op, "does not broadcast to the output", in, who, out,
                                   "output", msg, len);
}

static int check_axis(const clg_bk_op *op, int axis, int ndim, char *msg, size_t len)
{
    if (axis >= 0 && axis < ndim)
        return 0;
    return cpu_refuse(msg, len, "%s: axis %d out of range for rank %d", cpu_op_name(op->op), axis, ndim);
}

static int check_reduce(const clg_bk_op *op, char *msg, size_t len)
{
    const clg_bk_tensor *in = &op->in[0], *out = &op->out;
    const uint32_t axes = (uint32_t)clg_param_i64(&op->params, CLG_P_AXES);
    if (in->ndim < 32 && (axes >> in->ndim) != 0)
        return cpu_refuse(msg, len, "%s: axes mask 0x%x names dims beyond rank %d",
                    cpu_op_name(op->op), (unsigned)axes, in->ndim);
    int ok = out->ndim == in->ndim;
    for (int d = 0; ok && d < in->ndim; d++)
        ok = out->dim[d] == ((axes >> d) & 1 ? 1 : in->dim[d]);
    if (!ok)
        return shape_mismatch(op, "output must be the input with reduced dims set to 1", in,
                              "input", out, "output", msg, len);
    if (op->op == CLG_OP_MAX && cpu_numel(out) > 0 && cpu_numel(in) == 0)
        return cpu_refuse(msg, len, "max: reduction over an empty dim has no identity");
    return 0;
}

/* Output of argmax: the input with dim `axis` set to 1. */
static int check_argmax(const clg_bk_op *op, char *msg, size_t len)
{
    const clg_bk_tensor *in = &op->in[0], *out = &op->out;
    /* argmax of a scalar over axis 0 is 0, as in PyTorch */
    if (!(in->ndim == 0 && clg_param_int(&op->params, CLG_P_AXIS) == 0) &&
        check_axis(op, clg_param_int(&op->params, CLG_P_AXIS), in->ndim, msg, len))
        return -1;
    int ok = out->ndim == in->ndim;
    for (int d = 0; ok && d < in->ndim; d++)
        ok = out->dim[d] == (d == clg_param_int(&op->params, CLG_P_AXIS) ? 1 : in->dim[d]);
    if (!ok)
        return shape_mismatch(op, "output must be the input with dim axis set to 1", in, "input",
                              out, "output", msg, len);
    if (in->ndim > 0 && cpu_numel(out) > 0 && in->dim[clg_param_int(&op->params, CLG_P_AXIS)] == 0)
        return cpu_refuse(msg, len, "argmax: axis %d is empty", clg_param_int(&op->params, CLG_P_AXIS));
    return 0;
}

static int check_matmul(const clg_bk_op *op, char *msg, size_t len)
{
    const clg_bk_tensor *a = &op->in[0], *b = &op->in[1], *out = &op->out;
    if (a->ndim != 3 || b->ndim != 3 || out->ndim != 3)
        return cpu_refuse(msg, len, "matmul: operands must be 3-D, got ranks %d, %d -> %d", a->ndim,
                    b->ndim, out->ndim);
    const int64_t M = clg_param_int(&op->params, CLG_P_TRANS_A) ? a->dim[2] : a->dim[1];
    const int64_t Ka = clg_param_int(&op->params, CLG_P_TRANS_A) ? a->dim[1] : a->dim[2];
    const int64_t Kb = clg_param_int(&op->params, CLG_P_TRANS_B) ? b->dim[2] : b->dim[1];
    const int64_t N = clg_param_int(&op->params, CLG_P_TRANS_B) ? b->dim[1] : b->dim[2];
    if (Ka != Kb)
        return shape_mismatch(op, "inner dims differ (after transposes)", a, "A", b, "B", msg,
                              len);
    if (out->dim[1] != M || out->dim[2] != N)
        return shape_mismatch(op, "output must be [batch, M, N]", a, "A", out, "output", msg,
                              len);
    const int64_t batch = out->dim[0];
    if ((a->dim[0] != 1 && a->dim[0] != batch) || (b->dim[0] != 1 && b->dim[0] != batch))
        return cpu_refuse(msg, len, "matmul: batch dims %lld and %lld must be 1 or %lld",
                    (long long)a->dim[0], (long long)b->dim[0], (long long)batch);
    return 0;
}

static int check_permute(const clg_bk_op *op, char *msg, size_t len)
{
    const clg_bk_tensor *in = &op->in[0], *out = &op->out;
    if (in->ndim != out->ndim)
        return shape_mismatch(op, "ranks differ", in, "input", out, "output", msg, len);
    int seen[CLG_MAX_DIMS] = { 0 };
    for (int d = 0; d < in->ndim; d++) {
        const int p = clg_param_int(&op->params, CLG_P_PERM + d);
        if (p < 0 || p >= in->ndim || seen[p])
            return cpu_refuse(msg, len, "permute: perm is not a permutation of 0..%d (perm[%d] = %d)",
                        in->ndim - 1, d, p);
        seen[p] = 1;
        if (out->dim[d] != in->dim[p])
            return shape_mismatch(op, "output dim i must be input dim perm[i]", in, "input", out,
                                  "output", msg, len);
    }
    return 0;
}

/* SLICE: big = input, small = output; PAD: the reverse. */
static int check_window(const clg_bk_op *op, const clg_bk_tensor *big, const clg_bk_tensor *small,
                        char *msg, size_t len)
{
    if (big->ndim != small->ndim)
        return shape_mismatch(op, "ranks differ", &op->in[0], "input", &op->out, "output", msg,
                              len);
    for (int d = 0; d < big->ndim; d++) {
        const int64_t s = clg_param_i64(&op->params, CLG_P_START + d);
        if (s < 0 || s > big->dim[d] || small->dim[d] > big->dim[d] - s)
            return cpu_refuse(msg, len,
                        "%s: dim %d: window of %lld at start %lld does not fit in size %lld",
                        cpu_op_name(op->op), d, (long long)small->dim[d], (long long)s,
                        (long long)big->dim[d]);
    }
    return 0;
}

static int check_concat(const clg_bk_op *op, char *msg, size_t len)
{
    const clg_bk_tensor *out = &op->out;
    const int axis = clg_param_int(&op->params, CLG_P_AXIS);
    if (check_axis(op, axis, out->ndim, msg, len))
        return -1;
    int64_t total = 0;
    for (int i = 0; i < op->n_in; i++) {
        const clg_bk_tensor *in = &op->in[i];
        int ok = in->ndim == out->ndim;
        for (int d = 0; ok && d < out->ndim; d++)
            ok = d == axis || in->dim[d] == out->dim[d];
        if (!ok) {
            char who[32];
            snprintf(who, sizeof who, "input %d", i);
            return shape_mismatch(op, "dims other than axis must match", in, who, out, "output",
                                  msg, len);
        }
        total += in->dim[axis];
    }
    if (total != out->dim[axis])
        return cpu_refuse(msg, len, "concat: inputs add up to %lld along axis %d, output has %lld",
                    (long long)total, axis, (long long)out->dim[axis]);
    return 0;
}

/* torch.gather / scatter_add: the index has the rank of `full`, and outside
 * `axis` no dim larger than full's. */
static int check_index_shape(const clg_bk_op *op, const clg_bk_tensor *full, const char *wfull,
                             char *msg, size_t len)
{
    const clg_bk_tensor *idx = &op->in[1];
    const int axis = clg_param_int(&op->params, CLG_P_AXIS);
    if (idx->ndim != full->ndim)
        return shape_mismatch(op, "index rank must equal", idx, "index", full, wfull, msg, len);
    if (check_axis(op, axis, full->ndim, msg, len))
        return -1;
    for (int d = 0; d < full->ndim; d++)
        if (d != axis && idx->dim[d] > full->dim[d])
            return shape_mismatch(op, "index is larger outside axis than", idx, "index", full,
                                  wfull, msg, len);
    return 0;
}

/* im2col/col2im: img [N, C, H, W], cols [N, C*KH*KW, OH*OW] for the window
 * in the parameters. */
/* The window parameters of op over img: its output size o and kernel k. */
static int check_window_params(const clg_bk_op *op, const clg_bk_tensor *img, int64_t o[2],
                               int64_t k[2], char *msg, size_t len)
{
    const clg_params *p = &op->params;
    for (int d = 0; d < 2; d++) {
        int64_t kd = clg_param_i64(p, CLG_P_KERNEL + d), s = clg_param_i64(p, CLG_P_STRIDE + d);
        int64_t pd = clg_param_i64(p, CLG_P_PADDING + d), dl = clg_param_i64(p, CLG_P_DILATION + d);
        if (kd < 1 || s < 1 || dl < 1 || pd < 0 || kd > (1 << 20) || s > (1 << 20) ||
            dl > (1 << 20) || pd > (1 << 20))
            return cpu_refuse(msg, len, "%s: kernel, stride, dilation must be >= 1 and padding >= 0",
                        cpu_op_name(op->op));
        int64_t span = dl * (kd - 1) + 1, room = img->dim[2 + d] + 2 * pd;
        if (span > room)
            return cpu_refuse(msg, len, "%s: the window spans %lld but the image dim is %lld + padding",
                        cpu_op_name(op->op), (long long)span, (long long)img->dim[2 + d]);
        o[d] = (room - span) / s + 1;
        k[d] = kd;
    }
    return 0;
}

static int check_window2d(const clg_bk_op *op, const clg_bk_tensor *img,
                          const clg_bk_tensor *cols, char *msg, size_t len)
{
    int64_t o[2] = { 0, 0 }, k[2];
    if (img->ndim != 4 || cols->ndim != 3)
        return shape_mismatch(op, "needs an image [N, C, H, W] and columns [N, C*KH*KW, L]", img,
                              "image", cols, "columns", msg, len);
    if (check_window_params(op, img, o, k, msg, len))
        return -1;
    if (cols->dim[0] != img->dim[0] || cols->dim[1] != img->dim[1] * k[0] * k[1] ||
        cols->dim[2] != o[0] * o[1])
        return shape_mismatch(op, "columns do not match the image and window", img, "image", cols,
                              "columns", msg, len);
    return 0;
}

/* bn_stats: x [N, C, ...] -> [2, C]; bn_grad_sums: (G, x of one shape,
 * stats [2, C]) -> [2, C]. */
static int check_bn(const clg_bk_op *op, char *msg, size_t len)
{
    const clg_bk_tensor *x = op->op == CLG_OP_BN_STATS ? &op->in[0] : &op->in[1], *out = &op->out;
    if (x->ndim < 2 || out->ndim != 2 || out->dim[0] != 2 || out->dim[1] != x->dim[1])
        return shape_mismatch(op, "needs an input [N, C, ...] and an output [2, C]", x, "input",
                              out, "output", msg, len);
    if (op->op == CLG_OP_BN_GRAD_SUMS &&
        (!same_shape(&op->in[0], x) || !same_shape(&op->in[2], out)))
        return shape_mismatch(op, "the gradient must match the input, the stats the output",
                              &op->in[0], "gradient", &op->in[2], "stats", msg, len);
    return 0;
}

/* max_pool2d_index: [N, C, H, W] -> [N, C, OH, OW]. */
static int check_pool_index(const clg_bk_op *op, char *msg, size_t len)
{
    const clg_bk_tensor *img = &op->in[0], *out = &op->out;
    int64_t o[2] = { 0, 0 }, k[2];
    if (img->ndim != 4 || out->ndim != 4)
        return shape_mismatch(op, "needs an image [N, C, H, W] and an output [N, C, OH, OW]", img,
                              "image", out, "output", msg, len);
    if (check_window_params(op, img, o, k, msg, len))
        return -1;
    if (out->dim[0] != img->dim[0] || out->dim[1] != img->dim[1] || out->dim[2] != o[0] ||
        out->dim[3] != o[1])
        return shape_mismatch(op, "the output does not match the image and window", img, "image",
                              out, "output", msg, len);
    if (img->dim[2] * img->dim[3] > INT32_MAX)
        return cpu_refuse(msg, len, "%s: an image plane of more than 2^31 - 1 pixels",
                          cpu_op_name(op->op));
    return 0;
}

/* conv2d and its gradients: x [N, C, H, W], w [O, C/G, KH, KW] and
 * y [N, O, OH, OW] (whichever two are inputs) agree with the parameters. */
static int check_conv2d(const clg_bk_op *op, char *msg, size_t len)
{
    const clg_params *p = &op->params;
    const clg_bk_tensor *x = op->op == CLG_OP_CONV2D_GRAD_INPUT ? &op->out : &op->in[0];
    const clg_bk_tensor *w = op->op == CLG_OP_CONV2D_GRAD_WEIGHT ? &op->out : &op->in[1];
    const clg_bk_tensor *y = op->op == CLG_OP_CONV2D ? &op->out
                             : op->op == CLG_OP_CONV2D_GRAD_INPUT ? &op->in[0] : &op->in[1];
    const int64_t g = clg_param_i64(p, CLG_P_GROUPS);
    if (x->ndim != 4 || w->ndim != 4 || y->ndim != 4)
        return shape_mismatch(op, "needs an image [N, C, H, W] and a weight [O, C/G, KH, KW]", x,
                              "image", w, "weight", msg, len);
    if (g < 1 || g > (1 << 20) || x->dim[1] % g || w->dim[0] % g || w->dim[1] * g != x->dim[1] ||
        y->dim[0] != x->dim[0] || y->dim[1] != w->dim[0])
        return shape_mismatch(op, "channels do not match the groups", x, "image", w, "weight",
                              msg, len);
    for (int d = 0; d < 2; d++) {
        int64_t kd = clg_param_i64(p, CLG_P_KERNEL + d), s = clg_param_i64(p, CLG_P_STRIDE + d);
        int64_t pd = clg_param_i64(p, CLG_P_PADDING + d), dl = clg_param_i64(p, CLG_P_DILATION + d);
        if (kd != w->dim[2 + d] || s < 1 || dl < 1 || pd < 0 || s > (1 << 20) ||
            dl > (1 << 20) || pd > (1 << 20))
            return cpu_refuse(msg, len, "%s: the kernel must be the weight's, stride and dilation "
                              ">= 1, padding >= 0", cpu_op_name(op->op));
        int64_t span = dl * (kd - 1) + 1, room = x->dim[2 + d] + 2 * pd;
        if (span > room || (room - span) / s + 1 != y->dim[2 + d])
            return shape_mismatch(op, "the output does not match the image and window", x,
                                  "image", y, "output", msg, len);
    }
    return 0;
}

/* lstm_scan: xw [N, T, 4H], w_hh [4H, H] -> [7, N, T + 1, H]; its gradient:
 * (y [7, N, T + 1, H], dh [N, T, H], w_hh) -> [N, T, 4H]. Every GEMM size
 * fits int (CBLAS's). */
static int check_lstm(const clg_bk_op *op, char *msg, size_t len)
{
    const int fwd = op->op == CLG_OP_LSTM_SCAN;
    const clg_bk_tensor *w = &op->in[fwd ? 1 : 2], *xw = fwd ? &op->in[0] : &op->out;
    const clg_bk_tensor *y = fwd ? &op->out : &op->in[0];
    if (w->ndim != 2 || xw->ndim != 3 || y->ndim != 4)
        return shape_mismatch(op, "needs xw [N, T, 4H], w_hh [4H, H] and y [7, N, T + 1, H]", xw,
                              "xw", w, "w_hh", msg, len);
    const int64_t n = xw->dim[0], t = xw->dim[1], h = w->dim[1];
    if (w->dim[0] != 4 * h || xw->dim[2] != 4 * h || y->dim[0] != 7 || y->dim[1] != n ||
        y->dim[2] != t + 1 || y->dim[3] != h || n < 1 || t < 1 || h < 1)
        return shape_mismatch(op, "xw, w_hh and y do not agree on N, T and H", xw, "xw", y, "y",
                              msg, len);
    if (!fwd && (op->in[1].ndim != 3 || op->in[1].dim[0] != n || op->in[1].dim[1] != t ||
                 op->in[1].dim[2] != h))
        return shape_mismatch(op, "dh must be [N, T, H]", &op->in[1], "dh", y, "y", msg, len);
    if ((t + 1) * 4 * h > INT32_MAX)
        return cpu_refuse(msg, len, "%s: a row stride (T + 1) * 4H is past 2^31 - 1",
                          cpu_op_name(op->op));
    return 0;
}

static int check_shapes(const clg_bk_op *op, char *msg, size_t len)
{
    const clg_bk_tensor *in = op->in, *out = &op->out;
    switch (op->op) {
    case CLG_OP_FILL:
        return 0;
    case CLG_OP_SUM:
    case CLG_OP_MEAN:
    case CLG_OP_MAX:
        return check_reduce(op, msg, len);
    case CLG_OP_ARGMAX:
        return check_argmax(op, msg, len);
    case CLG_OP_CROSS_ENTROPY:
    case CLG_OP_CROSS_ENTROPY_GRAD: {
        const int64_t rows = in[0].ndim == 2 ? in[0].dim[0] : -1;
        const int grad = op->op == CLG_OP_CROSS_ENTROPY_GRAD;
        if (rows < 0 || in[1].ndim != 1 || in[1].dim[0] != rows ||
            (grad ? in[2].ndim != 1 || in[2].dim[0] != rows || !same_shape(&in[0], out)
                  : out->ndim != 1 || out->dim[0] != rows))
            return cpu_refuse(msg, len, "%s: needs logits [N, C], target [N]%s and output %s",
                        cpu_op_name(op->op), grad ? ", gradient [N]" : "",
                        grad ? "[N, C]" : "[N]");
        return 0;
    }
    case CLG_OP_SOFTMAX:
    case CLG_OP_LOG_SOFTMAX:
        if (!same_shape(in, out))
            return shape_mismatch(op, "shapes differ", in, "input", out, "output", msg, len);
        if (in->ndim == 0 && clg_param_int(&op->params, CLG_P_AXIS) == 0) /* one element, as in PyTorch */
            return 0;
        return check_axis(op, clg_param_int(&op->params, CLG_P_AXIS), in->ndim, msg, len);
    case CLG_OP_WHERE:
        if (check_broadcast(op, &in[0], "mask", msg, len) ||
            check_broadcast(op, &in[1], "input 1", msg, len) ||
            check_broadcast(op, &in[2], "input 2", msg, len))
            return -1;
        return 0;
    case CLG_OP_MATMUL:
        return check_matmul(op, msg, len);
    case CLG_OP_PERMUTE:
        return check_permute(op, msg, len);
    case CLG_OP_EXPAND:
        return check_broadcast(op, in, "input", msg, len);
    case CLG_OP_SLICE:
        return check_window(op, in, out, msg, len);
    case CLG_OP_PAD:
        return check_window(op, out, in, msg, len);
    case CLG_OP_CONCAT:
        return check_concat(op, msg, len);
    case CLG_OP_GATHER:
        if (!same_shape(&in[1], out))
            return shape_mismatch(op, "output shape must equal the index shape", &in[1], "index",
                                  out, "output", msg, len);
        return check_index_shape(op, &in[0], "data", msg, len);
    case CLG_OP_SCATTER_ADD:
        if (!same_shape(&in[0], &in[1]))
            return shape_mismatch(op, "source and index shapes differ", &in[0], "source", &in[1],
                                  "index", msg, len);
        return check_index_shape(op, out, "output", msg, len);
    case CLG_OP_ONE_HOT: {
        int ok = out->ndim == in->ndim + 1 && clg_param_i64(&op->params, CLG_P_N) >= 0 && out->dim[in->ndim] == clg_param_i64(&op->params, CLG_P_N);
        for (int d = 0; ok && d < in->ndim; d++)
            ok = out->dim[d] == in->dim[d];
        if (!ok) {
            char sa[96], sb[96];
            return cpu_refuse(msg, len, "one_hot: output must be input %s + [n = %lld], got %s",
                        shape_str(in, sa, sizeof sa), (long long)clg_param_i64(&op->params, CLG_P_N),
                        shape_str(out, sb, sizeof sb));
        }
        return 0;
    }
    case CLG_OP_IM2COL:
    case CLG_OP_COL2IM:
        return check_window2d(op, op->op == CLG_OP_IM2COL ? in : out,
                              op->op == CLG_OP_IM2COL ? out : in, msg, len);
    case CLG_OP_MAX_POOL2D_INDEX:
        return check_pool_index(op, msg, len);
    case CLG_OP_BN_STATS:
    case CLG_OP_BN_GRAD_SUMS:
        return check_bn(op, msg, len);
    case CLG_OP_LN_NORM:
    case CLG_OP_LN_NORM_GRAD:
        if (in[0].ndim < 1 || !same_shape(&in[0], out) ||
            (op->n_in == 2 && !same_shape(&in[1], out)))
            return shape_mismatch(op, "every tensor must have the output's shape, with a last dim",
                                  &in[0], "input 0", out, "output", msg, len);
        return 0;
    case CLG_OP_CONV2D:
    case CLG_OP_CONV2D_GRAD_INPUT:
    case CLG_OP_CONV2D_GRAD_WEIGHT:
        return check_conv2d(op, msg, len);
    case CLG_OP_LSTM_SCAN:
    case CLG_OP_LSTM_SCAN_GRAD:
        return check_lstm(op, msg, len);
    case CLG_OP_INDEX_SELECT:
    case CLG_OP_INDEX_ADD: {
        /* select: table [V, D], ids [n] -> [n, D]; add: src [n, D], ids [n] -> [N, D] */
        const clg_bk_tensor *rows = op->op == CLG_OP_INDEX_SELECT ? out : &in[0];
        const clg_bk_tensor *table = op->op == CLG_OP_INDEX_SELECT ? &in[0] : out;
        if (in[1].ndim != 1 || rows->ndim != 2 || table->ndim != 2 ||
            rows->dim[0] != in[1].dim[0] || rows->dim[1] != table->dim[1] ||
            (op->op == CLG_OP_INDEX_ADD && table->dim[0] != clg_param_i64(&op->params, CLG_P_N)))
            return shape_mismatch(op, "needs ids [n], rows [n, D] and a table [V, D]", &in[1],
                                  "ids", table, "table", msg, len);
        return 0;
    }
    case CLG_OP_RAND_UNIFORM:
        if (cpu_numel(in) != 2)
            return cpu_refuse(msg, len, "rand_uniform: the state must hold 2 values (seed, step), got %lld",
                        (long long)cpu_numel(in));
        return 0;
    default:
        break;
    }
    if (is_binary(op->op))
        return check_broadcast(op, &in[0], "input 0", msg, len) ||
                       check_broadcast(op, &in[1], "input 1", msg, len)
                   ? -1
                   : 0;
    if (is_unary_math(op->op) || op->op == CLG_OP_COPY || op->op == CLG_OP_CAST) {
        if (cpu_numel(in) != cpu_numel(out))
            return shape_mismatch(op, "element counts differ", in, "input", out, "output", msg,
                                  len);
        return 0;
    }
    return cpu_refuse(msg, len, "%s: no shape rule (internal error)", cpu_op_name(op->op));
}

/* A fused op's outputs overlap no other output, and an input only when it
 * is that very tensor (an update in place), never a broadcast one (a later
 * tile would read it written). */
static int check_fused_overlap(const clg_bk_op *op, char *msg, size_t len)
{
    const int n_out = (int)clg_param_i64(&op->params, CLG_FUSED_P_NOUT);
    const int n_in = op->n_in - (n_out - 1);
    const int gemm = clg_param_i64(&op->params, CLG_FUSED_P_GEMM) != 0;
    if (gemm) {
        /* The GEMM's operands as a MATMUL's, its product as big as out. */
        clg_bk_op mm;
        cpu_fused_gemm_op(op, &mm);
        if (op->in[0].ndim != 3 || op->in[1].ndim != 3)
            return cpu_refuse(msg, len, "fused: the GEMM's operands are not 3-D");
        if (check_matmul(&mm, msg, len))
            return -1;
        if (cpu_numel(&mm.out) != cpu_numel(&op->out))
            return cpu_refuse(msg, len, "fused: the GEMM's product has %lld elements, the output %lld",
                        (long long)cpu_numel(&mm.out), (long long)cpu_numel(&op->out));
    }
    for (int k = 0; k < n_out; k++) {
        const clg_bk_tensor *o = k ? &op->in[n_in + k - 1] : &op->out;
        for (int j = 0; j < op->n_in; j++) {
            const clg_bk_tensor *t = &op->in[j];
            if (t == o || !overlaps(t, o))
                continue;
            /* a GEMM writes output 0 before the program reads anything */
            const int exact = !gemm && j < n_in && t->offset == o->offset &&
                              cpu_numel(t) == cpu_numel(o) &&
                              !clg_param_i64(&op->params, CLG_FUSED_P_BCAST + j);
            if (!exact)
                return cpu_refuse(msg, len, "fused: output %d overlaps in[%d] without being it", k, j);
        }
    }
    return 0;
}

int cpu_check_op(const clg_bk_op *op, char *msg, size_t len)
{
    if (cpu_check_types(op, msg, len))
        return -1;
    for (int i = 0; i < op->n_in; i++) {
        char who[24];
        snprintf(who, sizeof who, "input %d", i);
        if (check_tensor(op, &op->in[i], who, msg, len))
            return -1;
    }
    if (check_tensor(op, &op->out, "output", msg, len))
        return -1;
    if (op->op == CLG_OP_FUSED)
        return check_fused_overlap(op, msg, len);
    if (check_shapes(op, msg, len))
        return -1;
    for (int i = 0; i < op->n_in; i++)
        if (overlaps(&op->in[i], &op->out))
            return cpu_refuse(msg, len, "%s: output overlaps input %d in the same buffer",
                        cpu_op_name(op->op), i);
    return 0;
}
