/* Elementwise ops: fill, copy, cast, unary math, broadcasting binary ops and
 * where. Unary ops see contiguous same-size tensors; binary ops and where go
 * through a strided walk (walk.c) whose inner rows have steps 0 or 1, and
 * each row kernel has a plain loop for the common step combinations. */
#include "cpu.h"
#include "vmath.h"

#include <math.h>
#include <string.h>

_Static_assert(sizeof(float) == 4 && sizeof(int32_t) == 4, "4-byte elements");

/* --------------------------------------------------------- fill, copy, cast */

/* Truncation toward zero. NaN and values outside the int32 range have no C
 * conversion; they give INT32_MIN, what PyTorch gives on x86. */
static int32_t f32_to_i32(float x)
{
    if (!(x > -2147483904.0f && x < 2147483648.0f))
        return INT32_MIN;
    return (int32_t)x;
}

clg_status cpu_fill(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const int64_t n = cpu_numel(&op->out);
    if (op->out.dtype == CLG_I32) {
        int32_t *o = cpu_data(&op->out);
        const int32_t v = f32_to_i32(clg_param_f32(&op->params, CLG_P_SCALAR));
        for (int64_t i = 0; i < n; i++)
            o[i] = v;
    } else {
        float *o = cpu_data(&op->out);
        const float v = clg_param_f32(&op->params, CLG_P_SCALAR);
        for (int64_t i = 0; i < n; i++)
            o[i] = v;
    }
    return CLG_OK;
}

clg_status cpu_copy(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    memcpy(cpu_data(&op->out), cpu_data(&op->in[0]),
           (size_t)cpu_numel(&op->out) * clg_dtype_size(op->out.dtype));
    return CLG_OK;
}

clg_status cpu_cast(clg_bk_device *dev, const clg_bk_op *op)
{
    const clg_dtype from = op->in[0].dtype, to = op->out.dtype;
    const int64_t n = cpu_numel(&op->out);
    if (from == to)
        return cpu_copy(dev, op);
    if (from == CLG_F32) {
        const float *a = cpu_data(&op->in[0]);
        int32_t *o = cpu_data(&op->out);
        for (int64_t i = 0; i < n; i++)
            o[i] = f32_to_i32(a[i]);
    } else {
        const int32_t *a = cpu_data(&op->in[0]);
        float *o = cpu_data(&op->out);
        for (int64_t i = 0; i < n; i++)
            o[i] = (float)a[i];
    }
    return CLG_OK;
}

/* ---------------------------------------------------------------- unary */

#define SQRT_2_OVER_PI 0.7978845608028654f /* sqrt(2 / pi) */
#define GELU_TANH_K 0.044715f
#define INV_SQRT_2PI 0.3989422804014327f /* 1 / sqrt(2 pi): the normal pdf at 0 */

/* PyTorch's sign: NaN gives 0. */
static inline float sign(float x)
{
    return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : 0.0f;
}


/* x is the element, f and f2 the op's SCALAR and SCALAR2 parameters. */
#define UNARY(name, expr)                                                                  \
    static void name(float *restrict o, const float *restrict a, int64_t n, float f,       \
                     float f2)                                                             \
    {                                                                                      \
        (void)f;                                                                           \
        (void)f2;                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                  \
            const float x = a[i];                                                          \
            o[i] = (expr);                                                                 \
        }                                                                                  \
    }

/* Kernels around one transcendental, which runs as a vector pass (vmath.h)
 * over a block: pre gives its argument from x, post the result from x and
 * its value e. */
#define VM_BLOCK 256
#define UNARY_VM(name, pre, vm, post)                                                      \
    static void name(float *restrict o, const float *restrict a, int64_t n, float f,       \
                     float f2)                                                             \
    {                                                                                      \
        (void)f;                                                                           \
        (void)f2;                                                                          \
        float t[VM_BLOCK];                                                                 \
        for (int64_t s = 0; s < n; s += VM_BLOCK) {                                        \
            const int64_t m = n - s < VM_BLOCK ? n - s : VM_BLOCK;                         \
            for (int64_t i = 0; i < m; i++) {                                              \
                const float x = a[s + i];                                                  \
                t[i] = (pre);                                                              \
            }                                                                              \
            vm(t, t, m);                                                                   \
            for (int64_t i = 0; i < m; i++) {                                              \
                const float x = a[s + i], e = t[i];                                        \
                o[s + i] = (post);                                                         \
            }                                                                              \
        }                                                                                  \
    }

/* A whole row through one vector-math function (vmath.h). */
#define VM_UNARY(name, vm)                                                                 \
    static void name(float *restrict o, const float *restrict a, int64_t n, float f,       \
                     float f2)                                                             \
    {                                                                                      \
        (void)f;                                                                           \
        (void)f2;                                                                          \
        vm(o, a, n);                                                                       \
    }

VM_UNARY(u_exp, cpu_vm_exp)
VM_UNARY(u_log, cpu_vm_log)
VM_UNARY(u_tanh, cpu_vm_tanh)
VM_UNARY(u_erf, cpu_vm_erf)

/* log1p(exp(y)) for softplus */
static void vm_log1p_exp(float *o, const float *x, int64_t n)
{
    cpu_vm_exp(o, x, n);
    cpu_vm_log1p(o, o, n);
}

/* sigmoid: e = exp(-|x|), 1 / (1 + e) for x >= 0 and e / (1 + e) below:
 * exp of a non-positive argument only, so no overflow for large |x|. One
 * division of a chosen numerator: a division under a condition would keep
 * the loop scalar (it may trap). */
UNARY_VM(u_sigmoid, -fabsf(x), cpu_vm_exp, (x >= 0.0f ? 1.0f : e) / (1.0f + e))
/* gelu: 0.5 x (1 + erf(x / sqrt 2)) */
UNARY_VM(u_gelu, x * (float)M_SQRT1_2, cpu_vm_erf, 0.5f * x * (1.0f + e))
/* gelu_tanh: 0.5 x (1 + tanh u), u = sqrt(2/pi) (x + k x^3) */
UNARY_VM(u_gelu_tanh, SQRT_2_OVER_PI * (x + GELU_TANH_K * x * x * x), cpu_vm_tanh,
         0.5f * x * (1.0f + e))
/* d/dx 0.5 x (1 + tanh u(x)) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) u'(x) */
UNARY_VM(u_gelu_tanh_grad, SQRT_2_OVER_PI * (x + GELU_TANH_K * x * x * x), cpu_vm_tanh,
         0.5f * (1.0f + e) +
             0.5f * x * (1.0f - e * e) * (SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_TANH_K * x * x)))
/* softplus: log(1 + e^x) = max(x, 0) + log(1 + e^-|x|); the exp never overflows. */
UNARY_VM(u_softplus, -fabsf(x), vm_log1p_exp, fmaxf(x, 0.0f) + e)

/* gelu_grad: d/dx x Phi(x) = Phi(x) + x phi(x), with two transcendentals. */
static void u_gelu_grad(float *restrict o, const float *restrict a, int64_t n, float f,
                        float f2)
{
    (void)f;
    (void)f2;
    float cdf[VM_BLOCK], pdf[VM_BLOCK];
    for (int64_t s = 0; s < n; s += VM_BLOCK) {
        const int64_t m = n - s < VM_BLOCK ? n - s : VM_BLOCK;
        for (int64_t i = 0; i < m; i++) {
            const float x = a[s + i];
            cdf[i] = x * (float)M_SQRT1_2;
            pdf[i] = -0.5f * x * x;
        }
        cpu_vm_erf(cdf, cdf, m);
        cpu_vm_exp(pdf, pdf, m);
        for (int64_t i = 0; i < m; i++) {
            const float x = a[s + i];
            o[s + i] = 0.5f * (1.0f + cdf[i]) + x * (INV_SQRT_2PI * pdf[i]);
        }
    }
}

UNARY(u_neg, -x)
UNARY(u_sqrt, sqrtf(x))
UNARY(u_rsqrt, 1.0f / sqrtf(x))
UNARY(u_abs, fabsf(x))
UNARY(u_sign, sign(x))
UNARY(u_relu, x < 0.0f ? 0.0f : x) /* keeps NaN, as PyTorch */
UNARY(u_leaky_relu, x > 0.0f ? x : f * x)
UNARY(u_add_scalar, x + f)
UNARY(u_mul_scalar, x * f)
UNARY(u_pow_scalar, powf(x, f))
UNARY(u_clamp, x < f ? f : x > f2 ? f2 : x) /* keeps NaN, as torch.clamp */

/* fn and the per-element cost used to decide on threads. */
cpu_unary_fn *cpu_unary_kernel(clg_op op, int *cost)
{
    *cost = 8;
    switch (op) {
    case CLG_OP_NEG: *cost = 1; return u_neg;
    case CLG_OP_EXP: return u_exp;
    case CLG_OP_LOG: return u_log;
    case CLG_OP_SQRT: *cost = 2; return u_sqrt;
    case CLG_OP_RSQRT: *cost = 2; return u_rsqrt;
    case CLG_OP_ABS: *cost = 1; return u_abs;
    case CLG_OP_SIGN: *cost = 1; return u_sign;
    case CLG_OP_RELU: *cost = 1; return u_relu;
    case CLG_OP_LEAKY_RELU: *cost = 1; return u_leaky_relu;
    case CLG_OP_SIGMOID: return u_sigmoid;
    case CLG_OP_TANH: return u_tanh;
    case CLG_OP_GELU: return u_gelu;
    case CLG_OP_GELU_TANH: return u_gelu_tanh;
    case CLG_OP_GELU_GRAD: return u_gelu_grad;
    case CLG_OP_GELU_TANH_GRAD: return u_gelu_tanh_grad;
    case CLG_OP_SOFTPLUS: return u_softplus;
    case CLG_OP_ADD_SCALAR: *cost = 1; return u_add_scalar;
    case CLG_OP_MUL_SCALAR: *cost = 1; return u_mul_scalar;
    case CLG_OP_POW_SCALAR: return u_pow_scalar;
    case CLG_OP_ERF: return u_erf;
    case CLG_OP_CLAMP: *cost = 1; return u_clamp;
    default: return NULL;
    }
}

/* Pieces of a flat run of n elements, for threads. */
#define FLAT_CHUNK 16384

clg_status cpu_unary(clg_bk_device *dev, const clg_bk_op *op)
{
    int cost;
    cpu_unary_fn *fn = cpu_unary_kernel(op->op, &cost);
    if (!fn)
        return cpu_fail(dev, CLG_ERR_UNSUPPORTED, "%s: not a unary op", cpu_op_name(op->op));
    const int64_t n = cpu_numel(&op->out);
    const int64_t pieces = (n + FLAT_CHUNK - 1) / FLAT_CHUNK;
    float *o = cpu_data(&op->out);
    const float *a = cpu_data(&op->in[0]);
    const float f = clg_param_f32(&op->params, CLG_P_SCALAR), f2 = clg_param_f32(&op->params, CLG_P_SCALAR2);
    CPU_PARALLEL_FOR(CPU_PAR(n, cost))
    for (int64_t p = 0; p < pieces; p++) {
        const int64_t s = p * FLAT_CHUNK;
        fn(o + s, a + s, n - s < FLAT_CHUNK ? n - s : FLAT_CHUNK, f, f2);
    }
    return CLG_OK;
}

/* ---------------------------------------------------------------- binary */

/* One row of a binary op: o[i] = expr(a[i * sa], b[i * sb]). Steps are 0
 * (broadcast) or 1 in practice; the three plain cases are spelled out so the
 * compiler can vectorise them. */

#define BINARY(name, T, expr)                                                              \
    static void name(float *restrict o, const void *pa, int64_t sa, const void *pb,        \
                     int64_t sb, int64_t n)                                                \
    {                                                                                      \
        const T *restrict a = pa, *restrict b = pb;                                        \
        if (sa == 1 && sb == 1) {                                                          \
            for (int64_t i = 0; i < n; i++) {                                              \
                const T x = a[i], y = b[i];                                                \
                o[i] = (expr);                                                             \
            }                                                                              \
        } else if (sa == 1 && sb == 0) {                                                   \
            const T y = b[0];                                                              \
            for (int64_t i = 0; i < n; i++) {                                              \
                const T x = a[i];                                                          \
                o[i] = (expr);                                                             \
            }                                                                              \
        } else if (sa == 0 && sb == 1) {                                                   \
            const T x = a[0];                                                              \
            for (int64_t i = 0; i < n; i++) {                                              \
                const T y = b[i];                                                          \
                o[i] = (expr);                                                             \
            }                                                                              \
        } else {                                                                           \
            for (int64_t i = 0; i < n; i++) {                                              \
                const T x = a[i * sa], y = b[i * sb];                                      \
                o[i] = (expr);                                                             \
            }                                                                              \
        }                                                                                  \
    }

/* maximum/minimum propagate NaN from either side, as PyTorch. */
BINARY(b_add, float, x + y)
BINARY(b_sub, float, x - y)
BINARY(b_mul, float, x * y)
BINARY(b_div, float, x / y)
BINARY(b_maximum, float, (x != x || x > y) ? x : y)
BINARY(b_minimum, float, (x != x || x < y) ? x : y)
BINARY(b_eq_f32, float, x == y ? 1.0f : 0.0f)
BINARY(b_ne_f32, float, x != y ? 1.0f : 0.0f)
BINARY(b_lt_f32, float, x < y ? 1.0f : 0.0f)
BINARY(b_le_f32, float, x <= y ? 1.0f : 0.0f)
BINARY(b_gt_f32, float, x > y ? 1.0f : 0.0f)
BINARY(b_ge_f32, float, x >= y ? 1.0f : 0.0f)
BINARY(b_eq_i32, int32_t, x == y ? 1.0f : 0.0f)
BINARY(b_ne_i32, int32_t, x != y ? 1.0f : 0.0f)
BINARY(b_lt_i32, int32_t, x < y ? 1.0f : 0.0f)
BINARY(b_le_i32, int32_t, x <= y ? 1.0f : 0.0f)
BINARY(b_gt_i32, int32_t, x > y ? 1.0f : 0.0f)
BINARY(b_ge_i32, int32_t, x >= y ? 1.0f : 0.0f)

cpu_binary_fn *cpu_binary_kernel(clg_op op, clg_dtype dt)
{
    const int i32 = dt == CLG_I32;
    switch (op) {
    case CLG_OP_ADD: return b_add;
    case CLG_OP_SUB: return b_sub;
    case CLG_OP_MUL: return b_mul;
    case CLG_OP_DIV: return b_div;
    case CLG_OP_MAXIMUM: return b_maximum;
    case CLG_OP_MINIMUM: return b_minimum;
    case CLG_OP_EQ: return i32 ? b_eq_i32 : b_eq_f32;
    case CLG_OP_NE: return i32 ? b_ne_i32 : b_ne_f32;
    case CLG_OP_LT: return i32 ? b_lt_i32 : b_lt_f32;
    case CLG_OP_LE: return i32 ? b_le_i32 : b_le_f32;
    case CLG_OP_GT: return i32 ? b_gt_i32 : b_gt_f32;
    case CLG_OP_GE: return i32 ? b_ge_i32 : b_ge_f32;
    default: return NULL;
    }
}

/* A walk over out's shape with out and the given inputs as operands. */
static void broadcast_walk(cpu_walk *w, const clg_bk_op *op, int n_in)
{
    const clg_bk_tensor *out = &op->out;
    int64_t stride[CPU_WALK_MAX_OPS][CLG_MAX_DIMS];
    cpu_contig_strides(out->ndim, out->dim, stride[0]);
    for (int i = 0; i < n_in; i++)
        cpu_broadcast_strides(&op->in[i], out->ndim, out->dim, stride[i + 1]);
    cpu_walk_init(w, out->ndim, out->dim, n_in + 1, stride);
}

clg_status cpu_binary(clg_bk_device *dev, const clg_bk_op *op)
{
    cpu_binary_fn *fn = cpu_binary_kernel(op->op, op->in[0].dtype);
    if (!fn)
        return cpu_fail(dev, CLG_ERR_UNSUPPORTED, "%s: not a binary op", cpu_op_name(op->op));
    cpu_walk w;
    broadcast_walk(&w, op, 2);
    float *o = cpu_data(&op->out);
    const int32_t *a = cpu_data(&op->in[0]), *b = cpu_data(&op->in[1]);
    const int64_t parts = cpu_walk_parts(&w, CPU_PAR(cpu_numel(&op->out), 1));
    CPU_PARALLEL_FOR(parts > 1)
    for (int64_t t = 0; t < parts; t++)
        for (cpu_walk_it it = cpu_walk_part(&w, t, parts); it.i < it.end; cpu_walk_next(&w, &it)) {
            const cpu_piece *p = &it.p;
            /* out is contiguous, so its step is 1; a and b are 4-byte either way */
            fn(o + p->off[0], a + p->off[1], p->step[1], b + p->off[2], p->step[2], p->len);
        }
    return CLG_OK;
}

/* ---------------------------------------------------------------- where */

/* Values move as 4-byte words, so one kernel serves f32 and i32 data. The
 * all-contiguous case, a broadcast constant on either side (the zero of a
 * masked gradient) and a broadcast mask (a flag that switches a whole
 * update) get loops of their own, plain enough to be vectorised. */
#define WHERE_ROW(name, M)                                                                 \
    static void name(uint32_t *restrict o, const void *pm, int64_t sm,                     \
                     const uint32_t *restrict a, int64_t sa, const uint32_t *restrict b,   \
                     int64_t sb, int64_t n)                                                \
    {                                                                                      \
        const M *restrict m = pm;                                                          \
        if (sm == 1 && sa == 1 && sb == 1) {                                               \
            for (int64_t i = 0; i < n; i++)                                                \
                o[i] = m[i] != 0 ? a[i] : b[i];                                            \
        } else if (sm == 1 && sa == 0 && sb == 1) {                                        \
            const uint32_t x = a[0];                                                       \
            for (int64_t i = 0; i < n; i++)                                                \
                o[i] = m[i] != 0 ? x : b[i];                                               \
        } else if (sm == 1 && sa == 1 && sb == 0) {                                        \
            const uint32_t y = b[0];                                                       \
            for (int64_t i = 0; i < n; i++)                                                \
                o[i] = m[i] != 0 ? a[i] : y;                                               \
        } else if (sm == 0) { /* one mask value: the row copies one side */               \
            const uint32_t *restrict src = m[0] != 0 ? a : b;                              \
            const int64_t s = m[0] != 0 ? sa : sb;                                         \
            for (int64_t i = 0; i < n; i++)                                                \
                o[i] = src[i * s];                                                         \
        } else {                                                                           \
            for (int64_t i = 0; i < n; i++)                                                \
                o[i] = m[i * sm] != 0 ? a[i * sa] : b[i * sb];                             \
        }                                                                                  \
    }

WHERE_ROW(where_f32_mask, float)
WHERE_ROW(where_i32_mask, int32_t)

clg_status cpu_where(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    cpu_walk w;
    broadcast_walk(&w, op, 3);
    uint32_t *o = cpu_data(&op->out);
    const uint32_t *m = cpu_data(&op->in[0]);
    const uint32_t *a = cpu_data(&op->in[1]), *b = cpu_data(&op->in[2]);
    const int f32_mask = op->in[0].dtype == CLG_F32;
    const int64_t parts = cpu_walk_parts(&w, CPU_PAR(cpu_numel(&op->out), 1));
    CPU_PARALLEL_FOR(parts > 1)
    for (int64_t t = 0; t < parts; t++)
        for (cpu_walk_it it = cpu_walk_part(&w, t, parts); it.i < it.end; cpu_walk_next(&w, &it)) {
            const cpu_piece *p = &it.p;
            if (f32_mask)
                where_f32_mask(o + p->off[0], m + p->off[1], p->step[1], a + p->off[2],
                               p->step[2], b + p->off[3], p->step[3], p->len);
            else
                where_i32_mask(o + p->off[0], m + p->off[1], p->step[1], a + p->off[2],
                               p->step[2], b + p->off[3], p->step[3], p->len);
        }
    return CLG_OK;
}
