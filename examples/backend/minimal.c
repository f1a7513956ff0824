/* minimal.c: the smallest complete clgrad compute backend, to read before
 * writing your own (docs/backends.md is the guide that goes with it).
 *
 * It runs on the host with plain loops, and implements only the minimal op
 * set: every op whose kind column in CLG_OP_TABLE is PRIM and whose family is
 * not SOURCE, for F32 and I32. It refuses every COMPOSITE op (softmax, gelu,
 * mean, ...), so the core lowers those into the primitives below; passing
 * the project's conformance, gradcheck and end-to-end suites this way is
 * what shows that the minimal set is enough.
 *
 * It includes nothing from clgrad but the installed public header, and does
 * not even link libclgrad: the ABI is the descriptor at the bottom of this
 * file plus the inline helpers of types.h. Build it out of tree with
 *
 *   cc -std=c11 -Wall -Wextra -O2 -shared -fPIC $(pkg-config --cflags clgrad) \
 *      -o clgrad-backend-minimal.so minimal.c -lm
 *
 * and use it by path (CLGRAD_TEST_BACKENDS=/abs/path/clgrad-backend-minimal.so)
 * or by name ("minimal") once the .so sits on CLGRAD_PLUGIN_PATH.
 *
 * Semantics follow the reference CPU backend (backends/cpu) bit for bit
 * where the suites compare exactly: NaN in relu/maximum/max, f32->i32
 * truncation with INT32_MIN for NaN and out of range, first index on argmax
 * ties. Speed is not a goal: no threads, no blocking, and index arithmetic
 * done the slow, obvious way (a flat index decomposed into coordinates). */
#include <clgrad/backend.h>
#include <clgrad/philox.h> /* rand_uniform's generator, shared by every backend */

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_LEN 512
/* Largest element count exec accepts: keeps byte counts far from overflow. */
#define MAX_NUMEL ((int64_t)1 << 56)

/* The two opaque types of the ABI are ours to define. A device only needs
 * somewhere to keep its last error; a buffer is host memory and its size,
 * which exec uses to check every tensor before it touches memory. */
struct clg_bk_device {
    char err[ERR_LEN];
};
struct clg_bk_buffer {
    size_t size;
    unsigned char *data;
};

/* Failures with no device (device_info, open) land here. Thread-local,
 * because the one-thread-at-a-time rule is per device, not per process. */
static _Thread_local char no_device_err[ERR_LEN];

static clg_status fail(clg_bk_device *dev, clg_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static clg_status fail(clg_bk_device *dev, clg_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dev ? dev->err : no_device_err, ERR_LEN, fmt, ap);
    va_end(ap);
    return st;
}

static const char *mini_last_error(clg_bk_device *dev)
{
    return dev ? dev->err : no_device_err;
}

/* ------------------------------------------------------------ devices */

static int mini_device_count(void) { return 1; }

static clg_status mini_device_info(int index, clg_device_info *out)
{
    if (!out || index != 0)
        return fail(NULL, CLG_ERR_INVALID, "minimal: no device %d (there is one, device 0)",
                    index);
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "host (plain loops)");
    snprintf(out->vendor, sizeof out->vendor, "clgrad example");
    snprintf(out->driver, sizeof out->driver, "minimal 1.0");
    out->type = CLG_DEVICE_CPU;
    out->compute_units = 1; /* one thread: that is the point */
    return CLG_OK;
}

static clg_status mini_open(int index, clg_bk_device **out)
{
    if (!out || index != 0)
        return fail(NULL, CLG_ERR_INVALID, "minimal: no device %d (there is one, device 0)",
                    index);
    *out = calloc(1, sizeof **out);
    return *out ? CLG_OK : fail(NULL, CLG_ERR_NOMEM, "minimal: open: out of memory");
}

static void mini_close(clg_bk_device *dev) { free(dev); }

/* ------------------------------------------------------------ buffers */

static clg_status mini_alloc(clg_bk_device *dev, size_t bytes, clg_bk_buffer **out)
{
    if (!out)
        return fail(dev, CLG_ERR_INVALID, "alloc: out is NULL");
    /* calloc: zeroed memory makes a read of never-written data the same
     * every run; +1 so that 0 bytes is still a distinct allocation. */
    clg_bk_buffer *b = malloc(sizeof *b);
    unsigned char *data = bytes < SIZE_MAX ? calloc(bytes + 1, 1) : NULL;
    if (!b || !data) {
        free(b);
        free(data);
        *out = NULL;
        return fail(dev, CLG_ERR_NOMEM, "alloc: out of host memory for %zu bytes", bytes);
    }
    b->size = bytes;
    b->data = data;
    *out = b;
    return CLG_OK;
}

static void mini_free(clg_bk_device *dev, clg_bk_buffer *buf)
{
    (void)dev;
    if (buf)
        free(buf->data);
    free(buf);
}

static clg_status range_ok(clg_bk_device *dev, const char *what, const clg_bk_buffer *b,
                           size_t offset, size_t bytes)
{
    if (!b)
        return fail(dev, CLG_ERR_INVALID, "%s: buffer is NULL", what);
    if (offset > b->size || bytes > b->size - offset) /* no overflow in offset + bytes */
        return fail(dev, CLG_ERR_INVALID, "%s: %zu bytes at offset %zu overrun %zu bytes",
                    what, bytes, offset, b->size);
    return CLG_OK;
}

static clg_status mini_write(clg_bk_device *dev, clg_bk_buffer *dst, size_t offset,
                             const void *src, size_t bytes)
{
    clg_status st = range_ok(dev, "write", dst, offset, bytes);
    if (st == CLG_OK && bytes && !src)
        st = fail(dev, CLG_ERR_INVALID, "write: source is NULL");
    if (st == CLG_OK && bytes)
        memcpy(dst->data + offset, src, bytes);
    return st;
}

static clg_status mini_read(clg_bk_device *dev, clg_bk_buffer *src, size_t offset, void *dst,
                            size_t bytes)
{
    clg_status st = range_ok(dev, "read", src, offset, bytes);
    if (st == CLG_OK && bytes && !dst)
        st = fail(dev, CLG_ERR_INVALID, "read: destination is NULL");
    if (st == CLG_OK && bytes)
        memcpy(dst, src->data + offset, bytes);
    return st;
}

static clg_status mini_copy(clg_bk_device *dev, clg_bk_buffer *src, size_t src_offset,
                            clg_bk_buffer *dst, size_t dst_offset, size_t bytes)
{
    clg_status st = range_ok(dev, "copy (source)", src, src_offset, bytes);
    if (st == CLG_OK)
        st = range_ok(dev, "copy (destination)", dst, dst_offset, bytes);
    if (st == CLG_OK && bytes) /* memmove: both ranges may sit in one buffer */
        memmove(dst->data + dst_offset, src->data + src_offset, bytes);
    return st;
}

/* Everything runs synchronously inside exec, so there is nothing to wait for. */
static clg_status mini_sync(clg_bk_device *dev)
{
    (void)dev;
    return CLG_OK;
}

/* ------------------------------------------------------------ supports */

static int is_f(const clg_bk_tensor *t) { return t->dtype == CLG_F32; }
static int is_i(const clg_bk_tensor *t) { return t->dtype == CLG_I32; }
static int is_fi(const clg_bk_tensor *t) { return is_f(t) || is_i(t); }

/* The dtypes each op accepts. F16/BF16 fall through to 0 everywhere: this
 * backend has no kernels for them, and saying so here is all it takes. */
static int types_ok(const clg_bk_op *op)
{
    const clg_bk_tensor *in = op->in, *out = &op->out;
    const int n = op->n_in;
    switch (op->op) {
    case CLG_OP_FILL:
        return n == 0 && is_fi(out);
    case CLG_OP_CAST:
        return n == 1 && is_fi(&in[0]) && is_fi(out);
    case CLG_OP_COPY: case CLG_OP_PERMUTE: case CLG_OP_EXPAND: case CLG_OP_SLICE:
    case CLG_OP_PAD:
        return n == 1 && is_fi(out) && in[0].dtype == out->dtype;
    case CLG_OP_CONCAT:
        if (n < 1 || n > CLG_MAX_INPUTS || !is_fi(out))
            return 0;
        for (int i = 0; i < n; i++)
            if (in[i].dtype != out->dtype)
                return 0;
        return 1;
    case CLG_OP_NEG: case CLG_OP_EXP: case CLG_OP_LOG: case CLG_OP_SQRT: case CLG_OP_RSQRT:
    case CLG_OP_ABS: case CLG_OP_SIGN: case CLG_OP_RELU: case CLG_OP_LEAKY_RELU:
    case CLG_OP_TANH: case CLG_OP_ADD_SCALAR: case CLG_OP_MUL_SCALAR: case CLG_OP_POW_SCALAR:
    case CLG_OP_ERF: case CLG_OP_SUM: case CLG_OP_MAX:
        return n == 1 && is_f(&in[0]) && is_f(out);
    case CLG_OP_ADD: case CLG_OP_SUB: case CLG_OP_MUL: case CLG_OP_DIV: case CLG_OP_MAXIMUM:
    case CLG_OP_MINIMUM: case CLG_OP_MATMUL:
        return n == 2 && is_f(&in[0]) && is_f(&in[1]) && is_f(out);
    case CLG_OP_EQ: case CLG_OP_NE: case CLG_OP_LT: case CLG_OP_LE: case CLG_OP_GT:
    case CLG_OP_GE: /* both sides one dtype, the answer an f32 0/1 mask */
        return n == 2 && is_fi(&in[0]) && in[1].dtype == in[0].dtype && is_f(out);
    case CLG_OP_WHERE: /* the values move as 4-byte words, so i32 works too */
        return n == 3 && is_fi(&in[0]) && is_fi(out) && in[1].dtype == out->dtype &&
               in[2].dtype == out->dtype;
    case CLG_OP_ARGMAX:
        return n == 1 && is_f(&in[0]) && is_i(out);
    case CLG_OP_GATHER:
        return n == 2 && is_fi(&in[0]) && is_i(&in[1]) && out->dtype == in[0].dtype;
    case CLG_OP_SCATTER_ADD:
        return n == 2 && is_f(&in[0]) && is_i(&in[1]) && is_f(out);
    case CLG_OP_ONE_HOT:
        return n == 1 && is_i(&in[0]) && is_f(out);
    case CLG_OP_RAND_UNIFORM:
        return n == 1 && is_i(&in[0]) && is_f(out);
    case CLG_OP_IM2COL:
    case CLG_OP_COL2IM:
        return n == 1 && is_f(&in[0]) && is_f(out);
    default:
        /* Every COMPOSITE op (sigmoid, gelu*, softplus, clamp, mean, softmax,
         * log_softmax) and anything a later op table adds: the core lowers
         * composites, and refuses a graph with a primitive we do not run. */
        return 0;
    }
}

static int mini_supports(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev; /* one answer for every device of this backend */
    return op && clg_op_is_kernel(op->op) && types_ok(op);
}

/* ------------------------------------------------------------ exec checks */

static int64_t numel(const clg_bk_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= t->dim[d];
    return n;
}

static void *data_of(const clg_bk_tensor *t) { return t->buf->data + t->offset; }

/* Rank, dims and byte range: after this, every element of t is in bounds.
 * All our dtypes are 4 bytes, which types_ok has already made sure of. */
static int tensor_ok(clg_bk_device *dev, const char *opn, const clg_bk_tensor *t,
                     const char *who)
{
    if (t->ndim < 0 || t->ndim > CLG_MAX_DIMS)
        return fail(dev, CLG_ERR_INVALID, "%s: %s has rank %d", opn, who, t->ndim), 0;
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->dim[d] < 0 || (t->dim[d] > 0 && n > MAX_NUMEL / t->dim[d]))
            return fail(dev, CLG_ERR_INVALID, "%s: %s has a bad dim %d (%lld)", opn, who, d,
                        (long long)t->dim[d]), 0;
        n *= t->dim[d];
    }
    if (!t->buf)
        return fail(dev, CLG_ERR_INVALID, "%s: %s has no buffer", opn, who), 0;
    const size_t bytes = (size_t)n * 4;
    if (t->offset > t->buf->size || bytes > t->buf->size - t->offset)
        return fail(dev, CLG_ERR_INVALID, "%s: %s (%lld elements at offset %zu) overruns its "
                    "buffer of %zu bytes", opn, who, (long long)n, t->offset, t->buf->size), 0;
    return 1;
}

/* Byte ranges of a and b intersect (empty ranges never do). The ABI says
 * the output never overlaps an input; kernels below rely on it, so it is
 * checked rather than trusted. */
static int overlap(const clg_bk_tensor *a, const clg_bk_tensor *b)
{
    const size_t ea = a->offset + (size_t)numel(a) * 4, eb = b->offset + (size_t)numel(b) * 4;
    return a->buf == b->buf && ea > a->offset && eb > b->offset && a->offset < eb &&
           b->offset < ea;
}

/* in may be read as out's shape: right-aligned, each dim equal or 1. The
 * core pads elementwise inputs to the output's rank already; expand's input
 * may have a lower rank. */
static int broadcasts(const clg_bk_tensor *in, const clg_bk_tensor *out)
{
    if (in->ndim > out->ndim)
        return 0;
    for (int d = 0; d < in->ndim; d++) {
        const int64_t o = out->dim[out->ndim - in->ndim + d];
        if (in->dim[d] != o && in->dim[d] != 1)
            return 0;
    }
    return 1;
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

/* "[2, 3]" into buf, for messages: an error should name the shapes. */
static const char *shape_str(const clg_bk_tensor *t, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < t->ndim && n < len; d++)
        n += (size_t)snprintf(buf + n, len - n, d ? ", %lld" : "%lld", (long long)t->dim[d]);
    if (n < len)
        snprintf(buf + n, len - n, "]");
    return buf;
}

/* The shape rules of the op table, one line of logic per op. 1 if fine. */
/* im2col/col2im geometry of the image img: g = N, C, H, W, KH, KW, SH, SW,
 * PH, PW, DH, DW, OH, OW. 0 if the window is invalid or does not fit. */
static int window_geom(const clg_bk_op *op, const clg_bk_tensor *img, int64_t g[14])
{
    if (img->ndim != 4)
        return 0;
    for (int d = 0; d < 4; d++)
        g[d] = img->dim[d];
    for (int d = 0; d < 2; d++) {
        g[4 + d] = clg_param_i64(&op->params, CLG_P_KERNEL + d);
        g[6 + d] = clg_param_i64(&op->params, CLG_P_STRIDE + d);
        g[8 + d] = clg_param_i64(&op->params, CLG_P_PADDING + d);
        g[10 + d] = clg_param_i64(&op->params, CLG_P_DILATION + d);
        if (g[4 + d] < 1 || g[6 + d] < 1 || g[10 + d] < 1 || g[8 + d] < 0 || g[4 + d] > (1 << 20) ||
            g[6 + d] > (1 << 20) || g[8 + d] > (1 << 20) || g[10 + d] > (1 << 20))
            return 0;
        int64_t span = g[10 + d] * (g[4 + d] - 1) + 1, room = g[2 + d] + 2 * g[8 + d];
        if (span > room)
            return 0;
        g[12 + d] = (room - span) / g[6 + d] + 1;
    }
    return 1;
}

/* im2col (cols from the image) or col2im (the image summed from cols). */
static clg_status window(const clg_bk_op *op)
{
    int fwd = op->op == CLG_OP_IM2COL;
    const clg_bk_tensor *img = fwd ? &op->in[0] : &op->out;
    int64_t g[14];
    window_geom(op, img, g);
    float *im = data_of(img), *cols = data_of(fwd ? &op->out : &op->in[0]);
    const float padv = clg_param_f32(&op->params, CLG_P_SCALAR);
    const int64_t H = g[2], W = g[3], KH = g[4], KW = g[5], L = g[12] * g[13];
    if (!fwd)
        memset(im, 0, (size_t)numel(img) * 4);
    for (int64_t pl = 0; pl < g[0] * g[1]; pl++)
        for (int64_t ki = 0; ki < KH; ki++)
            for (int64_t kj = 0; kj < KW; kj++)
                for (int64_t l = 0; l < L; l++) {
                    int64_t ii = (l / g[13]) * g[6] - g[8] + ki * g[10];
                    int64_t jj = (l % g[13]) * g[7] - g[9] + kj * g[11];
                    int in = ii >= 0 && ii < H && jj >= 0 && jj < W;
                    float *c = &cols[((pl * KH + ki) * KW + kj) * L + l];
                    if (fwd)
                        *c = in ? im[(pl * H + ii) * W + jj] : padv;
                    else if (in)
                        im[(pl * H + ii) * W + jj] += *c;
                }
    return CLG_OK;
}

static int shapes_ok(const clg_bk_op *op)
{
    const clg_bk_tensor *in = op->in, *out = &op->out;
    const clg_params *p = &op->params;
    const int axis = clg_param_int(p, CLG_P_AXIS);
    switch (op->op) {
    case CLG_OP_FILL:
        return 1;
    case CLG_OP_COPY: case CLG_OP_CAST:
        return numel(&in[0]) == numel(out);
    case CLG_OP_EXPAND:
        return broadcasts(&in[0], out);
    case CLG_OP_SUM: case CLG_OP_MAX: { /* reduced dims kept as 1 */
        const uint32_t axes = (uint32_t)clg_param_i64(p, CLG_P_AXES);
        if (in->ndim != out->ndim || (axes >> in->ndim) != 0)
            return 0;
        for (int d = 0; d < in->ndim; d++)
            if (out->dim[d] != ((axes >> d) & 1 ? 1 : in->dim[d]))
                return 0;
        return 1;
    }
    case CLG_OP_ARGMAX: /* a 0-d input over axis 0 is allowed: PyTorch gives 0 */
        if (in->ndim != out->ndim || (in->ndim == 0 ? axis != 0 : axis < 0 || axis >= in->ndim))
            return 0;
        for (int d = 0; d < in->ndim; d++)
            if (out->dim[d] != (d == axis ? 1 : in->dim[d]))
                return 0;
        return 1;
    case CLG_OP_MATMUL: {
        if (in[0].ndim != 3 || in[1].ndim != 3 || out->ndim != 3)
            return 0;
        const int ta = clg_param_int(p, CLG_P_TRANS_A), tb = clg_param_int(p, CLG_P_TRANS_B);
        const int64_t M = in[0].dim[ta ? 2 : 1], Ka = in[0].dim[ta ? 1 : 2];
        const int64_t Kb = in[1].dim[tb ? 2 : 1], N = in[1].dim[tb ? 1 : 2];
        const int64_t B = out->dim[0];
        return Ka == Kb && out->dim[1] == M && out->dim[2] == N &&
               (in[0].dim[0] == 1 || in[0].dim[0] == B) && (in[1].dim[0] == 1 || in[1].dim[0] == B);
    }
    case CLG_OP_PERMUTE: {
        int seen[CLG_MAX_DIMS] = { 0 };
        if (in->ndim != out->ndim)
            return 0;
        for (int d = 0; d < in->ndim; d++) {
            const int q = clg_param_int(p, CLG_P_PERM + d);
            if (q < 0 || q >= in->ndim || seen[q] || out->dim[d] != in->dim[q])
                return 0;
            seen[q] = 1;
        }
        return 1;
    }
    case CLG_OP_SLICE: case CLG_OP_PAD: { /* a window of `small` inside `big` at START */
        const clg_bk_tensor *big = op->op == CLG_OP_SLICE ? &in[0] : out;
        const clg_bk_tensor *small = op->op == CLG_OP_SLICE ? out : &in[0];
        if (big->ndim != small->ndim)
            return 0;
        for (int d = 0; d < big->ndim; d++) {
            const int64_t s = clg_param_i64(p, CLG_P_START + d);
            if (s < 0 || s > big->dim[d] || small->dim[d] > big->dim[d] - s)
                return 0;
        }
        return 1;
    }
    case CLG_OP_CONCAT: {
        int64_t total = 0;
        if (axis < 0 || axis >= out->ndim)
            return 0;
        for (int i = 0; i < op->n_in; i++) {
            if (in[i].ndim != out->ndim)
                return 0;
            for (int d = 0; d < out->ndim; d++)
                if (d != axis && in[i].dim[d] != out->dim[d])
                    return 0;
            total += in[i].dim[axis];
        }
        return total == out->dim[axis];
    }
    case CLG_OP_GATHER: case CLG_OP_SCATTER_ADD: {
        /* torch.gather: out = index shape; index no larger than the full
         * tensor outside axis. scatter_add: source = index shape. */
        const clg_bk_tensor *full = op->op == CLG_OP_GATHER ? &in[0] : out;
        const clg_bk_tensor *same = op->op == CLG_OP_GATHER ? out : &in[0];
        if (!same_shape(&in[1], same) || in[1].ndim != full->ndim || axis < 0 ||
            axis >= full->ndim)
            return 0;
        for (int d = 0; d < full->ndim; d++)
            if (d != axis && in[1].dim[d] > full->dim[d])
                return 0;
        return 1;
    }
    case CLG_OP_ONE_HOT: {
        const int64_t n = clg_param_i64(p, CLG_P_N);
        if (out->ndim != in->ndim + 1 || n < 0 || out->dim[in->ndim] != n)
            return 0;
        for (int d = 0; d < in->ndim; d++)
            if (out->dim[d] != in->dim[d])
                return 0;
        return 1;
    }
    case CLG_OP_RAND_UNIFORM: /* any output shape from a state of (seed, step) */
        return numel(&in[0]) == 2;
    case CLG_OP_IM2COL:
    case CLG_OP_COL2IM: {
        const clg_bk_tensor *img = op->op == CLG_OP_IM2COL ? &in[0] : out;
        const clg_bk_tensor *cols = op->op == CLG_OP_IM2COL ? out : &in[0];
        int64_t g[14];
        return window_geom(op, img, g) && cols->ndim == 3 && cols->dim[0] == img->dim[0] &&
               cols->dim[1] == img->dim[1] * g[4] * g[5] && cols->dim[2] == g[12] * g[13];
    }
    default: /* elementwise: unary ops map n to n, the others broadcast */
        if (op->n_in == 1)
            return numel(&in[0]) == numel(out);
        for (int i = 0; i < op->n_in; i++)
            if (!broadcasts(&in[i], out))
                return 0;
        return 1;
    }
}

/* Everything exec needs before a kernel may index freely. The core only
 * sends ops supports() accepted, with the table's shapes; checking again
 * costs little per op and turns a core bug or a hand-built op into an
 * error message instead of a crash. */
static clg_status check_op(clg_bk_device *dev, const clg_bk_op *op)
{
    if (!op || !clg_op_is_kernel(op->op) || !types_ok(op)) {
        const char *name = op && clg_op_is_kernel(op->op) ? clg_op_info_of(op->op).name : "?";
        return fail(dev, CLG_ERR_UNSUPPORTED, "minimal: op %d (%s) with these inputs and "
                    "dtypes is not supported", op ? (int)op->op : -1, name);
    }
    const char *opn = clg_op_info_of(op->op).name;
    char who[24];
    for (int i = 0; i < op->n_in; i++) {
        snprintf(who, sizeof who, "input %d", i);
        if (!tensor_ok(dev, opn, &op->in[i], who))
            return CLG_ERR_INVALID;
    }
    if (!tensor_ok(dev, opn, &op->out, "output"))
        return CLG_ERR_INVALID;
    if (!shapes_ok(op)) {
        char msg[320] = "", sh[96];
        for (int i = 0; i < op->n_in; i++) {
            size_t used = strlen(msg);
            snprintf(msg + used, sizeof msg - used, "%s ", shape_str(&op->in[i], sh, sizeof sh));
        }
        return fail(dev, CLG_ERR_INVALID, "%s: inputs %s-> output %s (or the op's parameters) "
                    "break the op table's shape rules", opn, msg,
                    shape_str(&op->out, sh, sizeof sh));
    }
    for (int i = 0; i < op->n_in; i++)
        if (overlap(&op->in[i], &op->out))
            return fail(dev, CLG_ERR_INVALID, "%s: output overlaps input %d", opn, i);
    return CLG_OK;
}

/* ------------------------------------------------------------ kernels */

/* Element offset in a row-major tensor of shape `dim` for the point with
 * flat index i of shape `walk`, where stride[d] is the tensor's stride for
 * the walked dim d (0 for a broadcast dim). The slow, obvious way. */
static int64_t offset_at(int64_t i, int ndim, const int64_t *walk, const int64_t *stride)
{
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        off += (i % walk[d]) * stride[d];
        i /= walk[d];
    }
    return off;
}

/* Strides (in elements) that read t as if it had shape `as`, dims
 * right-aligned as in NumPy: a missing leading dim or a size-1 dim that `as`
 * stretches gets stride 0, so one element serves the whole dim. With as ==
 * NULL, t's own row-major strides. */
static void strides(const clg_bk_tensor *t, const clg_bk_tensor *as, int64_t *s)
{
    const int nd = as ? as->ndim : t->ndim, lead = nd - t->ndim;
    int64_t acc = 1;
    for (int d = nd - 1; d >= 0; d--) {
        const int k = d - lead; /* t's dim under `as`'s dim d, if any */
        s[d] = (k < 0 || (as && t->dim[k] == 1 && as->dim[d] != 1)) ? 0 : acc;
        if (k >= 0)
            acc *= t->dim[k];
    }
}

/* Truncation toward zero; NaN and out-of-range values (no defined C
 * conversion) give INT32_MIN, which is what x86 and PyTorch give. */
static int32_t f32_to_i32(float x)
{
    return (x > -2147483904.0f && x < 2147483648.0f) ? (int32_t)x : INT32_MIN;
}

static float unary(clg_op op, float x, float s)
{
    switch (op) {
    case CLG_OP_NEG: return -x;
    case CLG_OP_EXP: return expf(x);
    case CLG_OP_LOG: return logf(x);
    case CLG_OP_SQRT: return sqrtf(x);
    case CLG_OP_RSQRT: return 1.0f / sqrtf(x);
    case CLG_OP_ABS: return fabsf(x);
    case CLG_OP_SIGN: return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : 0.0f; /* NaN -> 0, as torch */
    case CLG_OP_RELU: return x < 0.0f ? 0.0f : x;                       /* keeps NaN, as torch */
    case CLG_OP_LEAKY_RELU: return x > 0.0f ? x : s * x;
    case CLG_OP_TANH: return tanhf(x);
    case CLG_OP_ADD_SCALAR: return x + s;
    case CLG_OP_MUL_SCALAR: return x * s;
    case CLG_OP_POW_SCALAR: return powf(x, s);
    case CLG_OP_ERF: return erff(x);
    default: return NAN; /* unreachable: types_ok lists the unary ops */
    }
}

/* x and y are both f32 or both i32 widened to double, which is exact for
 * both, so one comparison serves the two dtypes. */
static float binary(clg_op op, double x, double y)
{
    switch (op) {
    case CLG_OP_ADD: return (float)x + (float)y;
    case CLG_OP_SUB: return (float)x - (float)y;
    case CLG_OP_MUL: return (float)x * (float)y;
    case CLG_OP_DIV: return (float)x / (float)y;
    case CLG_OP_MAXIMUM: return (float)((x != x || x > y) ? x : y); /* NaN from either side */
    case CLG_OP_MINIMUM: return (float)((x != x || x < y) ? x : y);
    case CLG_OP_EQ: return x == y;
    case CLG_OP_NE: return x != y;
    case CLG_OP_LT: return x < y;
    case CLG_OP_LE: return x <= y;
    case CLG_OP_GT: return x > y;
    case CLG_OP_GE: return x >= y;
    default: return NAN;
    }
}

static double load(const clg_bk_tensor *t, int64_t i)
{
    return is_i(t) ? (double)((const int32_t *)data_of(t))[i] : (double)((const float *)data_of(t))[i];
}

static clg_status elementwise(const clg_bk_op *op)
{
    const clg_bk_tensor *out = &op->out;
    const int64_t n = numel(out);
    float *o = data_of(out);
    if (op->n_in == 1) { /* same element count: no indexing needed */
        const float *a = data_of(&op->in[0]);
        const float s = clg_param_f32(&op->params, CLG_P_SCALAR);
        for (int64_t i = 0; i < n; i++)
            o[i] = unary(op->op, a[i], s);
        return CLG_OK;
    }
    int64_t sa[CLG_MAX_DIMS], sb[CLG_MAX_DIMS];
    strides(&op->in[0], out, sa);
    strides(&op->in[1], out, sb);
    for (int64_t i = 0; i < n; i++)
        o[i] = binary(op->op, load(&op->in[0], offset_at(i, out->ndim, out->dim, sa)),
                      load(&op->in[1], offset_at(i, out->ndim, out->dim, sb)));
    return CLG_OK;
}

/* out = mask != 0 ? a : b, moving 4-byte words so f32 and i32 are alike. */
static clg_status where(const clg_bk_op *op)
{
    const clg_bk_tensor *out = &op->out;
    int64_t sm[CLG_MAX_DIMS], sa[CLG_MAX_DIMS], sb[CLG_MAX_DIMS];
    strides(&op->in[0], out, sm);
    strides(&op->in[1], out, sa);
    strides(&op->in[2], out, sb);
    const uint32_t *a = data_of(&op->in[1]), *b = data_of(&op->in[2]);
    uint32_t *o = data_of(out);
    for (int64_t i = 0, n = numel(out); i < n; i++) {
        const int take_a = load(&op->in[0], offset_at(i, out->ndim, out->dim, sm)) != 0.0;
        o[i] = take_a ? a[offset_at(i, out->ndim, out->dim, sa)]
                      : b[offset_at(i, out->ndim, out->dim, sb)];
    }
    return CLG_OK;
}

/* sum / max over the dims in AXES. Each output accumulates in a double, in
 * ascending input order: deterministic, and long sums stay accurate. The
 * walk is over the input; "stride 0 on reduced dims" maps a point of the
 * input onto its output element. */
static clg_status reduce(clg_bk_device *dev, const clg_bk_op *op)
{
    const clg_bk_tensor *in = &op->in[0], *out = &op->out;
    const int is_max = op->op == CLG_OP_MAX;
    const int64_t n_in = numel(in), n_out = numel(out);
    if (is_max && n_in == 0 && n_out > 0) /* sum has 0 as identity; max has none */
        return fail(dev, CLG_ERR_INVALID, "max: reduction over an empty dim has no identity");
    double *acc = malloc((size_t)(n_out > 0 ? n_out : 1) * sizeof *acc);
    if (!acc)
        return fail(dev, CLG_ERR_NOMEM, "%s: out of memory", is_max ? "max" : "sum");
    for (int64_t j = 0; j < n_out; j++)
        acc[j] = is_max ? -INFINITY : 0.0;
    int64_t so[CLG_MAX_DIMS];
    strides(out, in, so); /* out's dims of size 1 where in's are not: stride 0 */
    const float *a = data_of(in);
    for (int64_t i = 0; i < n_in; i++) {
        double *r = &acc[offset_at(i, in->ndim, in->dim, so)];
        const double v = a[i];
        if (!is_max)
            *r += v;
        else if (v > *r || v != v) /* NaN wins and stays, as torch.max */
            *r = v;
    }
    float *o = data_of(out);
    for (int64_t j = 0; j < n_out; j++)
        o[j] = (float)acc[j];
    free(acc);
    return CLG_OK;
}

/* The first index of the maximum along AXIS; the first NaN counts as the
 * maximum, as in PyTorch. */
static clg_status argmax(clg_bk_device *dev, const clg_bk_op *op)
{
    const clg_bk_tensor *in = &op->in[0];
    const int axis = clg_param_int(&op->params, CLG_P_AXIS);
    int64_t outer = 1, len = 1, inner = 1; /* in as [outer, len, inner] */
    for (int d = 0; d < in->ndim; d++)
        *(d < axis ? &outer : d == axis ? &len : &inner) *= in->dim[d];
    if (len == 0 && outer * inner > 0)
        return fail(dev, CLG_ERR_INVALID, "argmax: axis %d is empty", axis);
    const float *a = data_of(in);
    int32_t *o = data_of(&op->out);
    for (int64_t i = 0; i < outer * inner; i++) {
        const float *row = a + (i / inner) * len * inner + i % inner;
        int64_t best = 0;
        for (int64_t j = 1; j < len; j++) {
            const float v = row[j * inner], b = row[best * inner];
            if (v > b || (v != v && b == b)) /* strictly greater: ties keep the first */
                best = j;
        }
        o[i] = (int32_t)best;
    }
    return CLG_OK;
}

/* out[b] = op(A[b]) @ op(B[b]), with a batch of 1 on either side shared by
 * every output batch. Row-major; a transposed operand is read with its
 * strides swapped rather than copied. Double accumulation, as reduce. */
static clg_status matmul(const clg_bk_op *op)
{
    const clg_bk_tensor *A = &op->in[0], *B = &op->in[1], *C = &op->out;
    const int ta = clg_param_int(&op->params, CLG_P_TRANS_A);
    const int tb = clg_param_int(&op->params, CLG_P_TRANS_B);
    const int64_t batch = C->dim[0], M = C->dim[1], N = C->dim[2];
    const int64_t K = A->dim[ta ? 1 : 2];
    /* strides of op(A) as [M, K] and op(B) as [K, N] */
    const int64_t a_m = ta ? 1 : K, a_k = ta ? M : 1, b_k = tb ? 1 : N, b_n = tb ? K : 1;
    const float *a = data_of(A), *b = data_of(B);
    float *c = data_of(C);
    for (int64_t s = 0; s < batch; s++) {
        const float *as = a + (A->dim[0] == 1 ? 0 : s) * M * K;
        const float *bs = b + (B->dim[0] == 1 ? 0 : s) * K * N;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double sum = 0.0;
                for (int64_t k = 0; k < K; k++)
                    sum += (double)as[i * a_m + k * a_k] * bs[k * b_k + j * b_n];
                c[(s * M + i) * N + j] = (float)sum;
            }
    }
    return CLG_OK;
}

/* permute, expand, slice: each output element is one input element; only
 * the input strides and starting offset differ. */
static clg_status gather_words(const clg_bk_op *op)
{
    const clg_bk_tensor *in = &op->in[0], *out = &op->out;
    int64_t own[CLG_MAX_DIMS], bs[CLG_MAX_DIMS], s[CLG_MAX_DIMS], start = 0;
    strides(in, NULL, own);
    strides(in, out, bs);
    for (int d = 0; d < out->ndim; d++) {
        if (op->op == CLG_OP_PERMUTE) /* out dim d walks in dim PERM+d */
            s[d] = own[clg_param_int(&op->params, CLG_P_PERM + d)];
        else if (op->op == CLG_OP_EXPAND) /* stretched dims read one element */
            s[d] = bs[d];
        else { /* SLICE: the window starts at START+d */
            s[d] = own[d];
            start += clg_param_i64(&op->params, CLG_P_START + d) * own[d];
        }
    }
    const uint32_t *a = (const uint32_t *)data_of(in) + start;
    uint32_t *o = data_of(out);
    for (int64_t i = 0, n = numel(out); i < n; i++)
        o[i] = a[offset_at(i, out->ndim, out->dim, s)];
    return CLG_OK;
}

/* SLICE's adjoint: zeros, with the input written at START+d. */
static clg_status pad(const clg_bk_op *op)
{
    const clg_bk_tensor *in = &op->in[0], *out = &op->out;
    int64_t s[CLG_MAX_DIMS], start = 0;
    strides(out, NULL, s);
    for (int d = 0; d < out->ndim; d++)
        start += clg_param_i64(&op->params, CLG_P_START + d) * s[d];
    uint32_t *o = data_of(out);
    const uint32_t *a = data_of(in);
    memset(o, 0, (size_t)numel(out) * 4);
    for (int64_t i = 0, n = numel(in); i < n; i++)
        o[start + offset_at(i, in->ndim, in->dim, s)] = a[i];
    return CLG_OK;
}

/* out as [outer, out_len * inner]: input k fills a band of each row. */
static clg_status concat(const clg_bk_op *op)
{
    const clg_bk_tensor *out = &op->out;
    const int axis = clg_param_int(&op->params, CLG_P_AXIS);
    int64_t outer = 1, inner = 1, col = 0;
    for (int d = 0; d < out->ndim; d++)
        if (d != axis)
            *(d < axis ? &outer : &inner) *= out->dim[d];
    const int64_t row = out->dim[axis] * inner;
    uint32_t *o = data_of(out);
    for (int k = 0; k < op->n_in; k++) {
        const int64_t band = op->in[k].dim[axis] * inner;
        const uint32_t *a = data_of(&op->in[k]);
        for (int64_t r = 0; r < outer; r++)
            memcpy(o + r * row + col, a + r * band, (size_t)band * 4);
        col += band;
    }
    return CLG_OK;
}

/* Indices come from data, so they are checked, all of them, before anything
 * is written: a bad one is an error the user can read, never a stray write. */
static clg_status indices_ok(clg_bk_device *dev, const clg_bk_op *op, const clg_bk_tensor *idx,
                             int64_t size)
{
    const int32_t *ix = data_of(idx);
    for (int64_t i = 0, n = numel(idx); i < n; i++)
        if (ix[i] < 0 || ix[i] >= size)
            return fail(dev, CLG_ERR_INVALID, "%s: index %d (element %lld of the index tensor) "
                        "is out of range [0, %lld)", clg_op_info_of(op->op).name, (int)ix[i],
                        (long long)i, (long long)size);
    return CLG_OK;
}

/* torch.gather (out[p] = data[p with p[axis] = index[p]]) and scatter_add
 * (out[p with p[axis] = index[p]] += src[p], in source order, so repeated
 * indices add up the same way every run). */
static clg_status index_op(clg_bk_device *dev, const clg_bk_op *op)
{
    const int scatter = op->op == CLG_OP_SCATTER_ADD;
    const clg_bk_tensor *idx = &op->in[1], *full = scatter ? &op->out : &op->in[0];
    const int axis = clg_param_int(&op->params, CLG_P_AXIS);
    clg_status st = indices_ok(dev, op, idx, full->dim[axis]);
    if (st != CLG_OK)
        return st;
    int64_t s[CLG_MAX_DIMS];
    strides(full, NULL, s);
    const int64_t axis_stride = s[axis];
    s[axis] = 0; /* the index supplies that coordinate */
    const int32_t *ix = data_of(idx);
    if (scatter) {
        float *o = data_of(&op->out);
        const float *src = data_of(&op->in[0]);
        memset(o, 0, (size_t)numel(&op->out) * 4);
        for (int64_t i = 0, n = numel(idx); i < n; i++)
            o[offset_at(i, idx->ndim, idx->dim, s) + ix[i] * axis_stride] += src[i];
    } else {
        uint32_t *o = data_of(&op->out);
        const uint32_t *a = data_of(&op->in[0]);
        for (int64_t i = 0, n = numel(idx); i < n; i++)
            o[i] = a[offset_at(i, idx->ndim, idx->dim, s) + ix[i] * axis_stride];
    }
    return CLG_OK;
}

/* out[i] = the i-th uniform of the Philox stream (clgrad/philox.h) */
static clg_status rand_uniform(const clg_bk_op *op)
{
    const int32_t *state = data_of(&op->in[0]);
    const uint32_t stream = (uint32_t)clg_param_i64(&op->params, CLG_P_STREAM);
    float *o = data_of(&op->out);
    for (int64_t i = 0; i < numel(&op->out); i++)
        o[i] = clg_philox_uniform((uint32_t)state[0], stream, (uint32_t)state[1], (uint64_t)i);
    return CLG_OK;
}

static clg_status one_hot(clg_bk_device *dev, const clg_bk_op *op)
{
    const int64_t n = clg_param_i64(&op->params, CLG_P_N), rows = numel(&op->in[0]);
    clg_status st = indices_ok(dev, op, &op->in[0], n);
    if (st != CLG_OK)
        return st;
    const int32_t *cls = data_of(&op->in[0]);
    float *o = data_of(&op->out);
    memset(o, 0, (size_t)numel(&op->out) * 4);
    for (int64_t i = 0; i < rows; i++)
        o[i * n + cls[i]] = 1.0f;
    return CLG_OK;
}

static clg_status mini_exec(clg_bk_device *dev, const clg_bk_op *op)
{
    if (!dev)
        return fail(NULL, CLG_ERR_INVALID, "exec: device is NULL");
    clg_status st = check_op(dev, op);
    if (st != CLG_OK)
        return st;
    const clg_bk_tensor *out = &op->out;
    switch (op->op) {
    case CLG_OP_FILL: {
        const float v = clg_param_f32(&op->params, CLG_P_SCALAR);
        for (int64_t i = 0, n = numel(out); i < n; i++)
            if (is_i(out))
                ((int32_t *)data_of(out))[i] = f32_to_i32(v);
            else
                ((float *)data_of(out))[i] = v;
        return CLG_OK;
    }
    case CLG_OP_COPY:
        memcpy(data_of(out), data_of(&op->in[0]), (size_t)numel(out) * 4);
        return CLG_OK;
    case CLG_OP_CAST:
        for (int64_t i = 0, n = numel(out); i < n; i++) {
            const double v = load(&op->in[0], i); /* exact for f32 and i32 */
            if (is_i(out))
                ((int32_t *)data_of(out))[i] = is_i(&op->in[0]) ? (int32_t)v : f32_to_i32((float)v);
            else
                ((float *)data_of(out))[i] = (float)v;
        }
        return CLG_OK;
    case CLG_OP_WHERE: return where(op);
    case CLG_OP_SUM: case CLG_OP_MAX: return reduce(dev, op);
    case CLG_OP_ARGMAX: return argmax(dev, op);
    case CLG_OP_MATMUL: return matmul(op);
    case CLG_OP_PERMUTE: case CLG_OP_EXPAND: case CLG_OP_SLICE: return gather_words(op);
    case CLG_OP_PAD: return pad(op);
    case CLG_OP_CONCAT: return concat(op);
    case CLG_OP_GATHER: case CLG_OP_SCATTER_ADD: return index_op(dev, op);
    case CLG_OP_ONE_HOT: return one_hot(dev, op);
    case CLG_OP_RAND_UNIFORM: return rand_uniform(op);
    case CLG_OP_IM2COL: case CLG_OP_COL2IM: return window(op);
    default: return elementwise(op); /* types_ok admitted only unary and binary math here */
    }
}

/* ------------------------------------------------------------ descriptor */

static const clg_backend minimal_backend = {
    .abi_major = CLG_BACKEND_ABI_MAJOR,
    .abi_minor = CLG_BACKEND_ABI_MINOR,
    .struct_size = sizeof(clg_backend),
    .name = "minimal", /* must match the file name clgrad-backend-<name>.so */
    .op_table_version = CLG_OP_TABLE_VERSION,
    .device_count = mini_device_count,
    .device_info = mini_device_info,
    .open = mini_open,
    .close = mini_close,
    .alloc = mini_alloc,
    .free = mini_free,
    .write = mini_write,
    .read = mini_read,
    .copy = mini_copy,
    .supports = mini_supports,
    .exec = mini_exec,
    .exec_plan = NULL,    /* the core loops over exec: all a synchronous backend needs */
    .release_plan = NULL, /* nothing cached per plan */
    .sync = mini_sync,
    .last_error = mini_last_error,
};

/* The one exported symbol; everything above is static. */
CLG_BACKEND_EXPORT const clg_backend *clg_backend_entry(void);
CLG_BACKEND_EXPORT const clg_backend *clg_backend_entry(void)
{
    return &minimal_backend;
}
