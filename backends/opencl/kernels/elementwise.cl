/* Fill, cast, unary and broadcasting binary / where kernels. Op codes are
 * the op table's own numbers (CLG_OP_*, generated into opcodes.cl from
 * types.h at build time), so ocl_ops.c passes clg_op through unchanged. */

#define CLG_SQRT1_2 0.70710678118654752f
#define CLG_INV_SQRT_2PI 0.39894228040143268f
#define CLG_SQRT_2_PI 0.79788456080286536f
#define CLG_GELU_C 0.044715f

__kernel void k_fill(int n, __global uint *o, int ooff, uint bits)
{
    int i = get_global_id(0);
    if (i < n)
        o[ooff + i] = bits;
}

/* dir 0: f32 -> i32 (truncates toward zero), 1: i32 -> f32. */
__kernel void k_cast(int dir, int n, __global const uint *a, int aoff, __global uint *o,
                     int ooff)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    uint v = a[aoff + i];
    if (dir == 0) {
        /* NaN and values outside int32 give INT_MIN, as the CPU backend
         * (and PyTorch on x86) does. */
        float x = as_float(v);
        o[ooff + i] = (x > -2147483904.0f && x < 2147483648.0f) ? (uint)convert_int_rtz(x)
                                                                 : (uint)INT_MIN;
    } else
        o[ooff + i] = as_uint(convert_float((int)v));
}

inline float clg_unary(int op, float x, float f, float f2)
{
    switch (op) {
    case CLG_OP_NEG: return -x;
    case CLG_OP_EXP: return exp(x);
    case CLG_OP_LOG: return log(x);
    case CLG_OP_SQRT: return sqrt(x);
    case CLG_OP_RSQRT: return 1.0f / sqrt(x);
    case CLG_OP_ABS: return fabs(x);
    case CLG_OP_SIGN: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); /* NaN: 0 */
    case CLG_OP_RELU: return x < 0.0f ? 0.0f : x; /* keeps NaN */
    case CLG_OP_LEAKY_RELU: return x > 0.0f ? x : f * x;
    case CLG_OP_SIGMOID: {
        /* exp of a non-positive argument only: no overflow */
        if (x >= 0.0f)
            return 1.0f / (1.0f + exp(-x));
        float e = exp(x);
        return e / (1.0f + e);
    }
    case CLG_OP_TANH: return tanh(x);
    case CLG_OP_GELU: return 0.5f * x * (1.0f + erf(x * CLG_SQRT1_2));
    case CLG_OP_GELU_TANH: {
        float u = CLG_SQRT_2_PI * (x + CLG_GELU_C * x * x * x);
        return 0.5f * x * (1.0f + tanh(u));
    }
    case CLG_OP_GELU_GRAD: {
        float cdf = 0.5f * (1.0f + erf(x * CLG_SQRT1_2));
        float pdf = CLG_INV_SQRT_2PI * exp(-0.5f * x * x);
        return cdf + x * pdf;
    }
    case CLG_OP_GELU_TANH_GRAD: {
        float u = CLG_SQRT_2_PI * (x + CLG_GELU_C * x * x * x);
        float t = tanh(u);
        float du = CLG_SQRT_2_PI * (1.0f + 3.0f * CLG_GELU_C * x * x);
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    case CLG_OP_SOFTPLUS: return fmax(x, 0.0f) + log1p(exp(-fabs(x)));
    case CLG_OP_ADD_SCALAR: return x + f;
    case CLG_OP_MUL_SCALAR: return x * f;
    case CLG_OP_POW_SCALAR: return pow(x, f);
    case CLG_OP_ERF: return erf(x);
    case CLG_OP_CLAMP: return x < f ? f : (x > f2 ? f2 : x); /* keeps NaN */
    }
    return x;
}

__kernel void k_unary(int op, int n, __global const float *a, int aoff, __global float *o,
                      int ooff, float f, float f2)
{
    int i = get_global_id(0);
    if (i < n)
        o[ooff + i] = clg_unary(op, a[aoff + i], f, f2);
}

__kernel void k_binary_f32(int op, int n, int rank, int8 dims8, int8 sa8, int8 sb8,
                           __global const float *a, int aoff, __global const float *b,
                           int boff, __global float *o, int ooff)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int dims[8], sa[8], sb[8];
    vstore8(dims8, 0, dims);
    vstore8(sa8, 0, sa);
    vstore8(sb8, 0, sb);
    float x = a[aoff + clg_offset(i, rank, dims, sa)];
    float y = b[boff + clg_offset(i, rank, dims, sb)];
    float r;
    switch (op) {
    case CLG_OP_ADD: r = x + y; break;
    case CLG_OP_SUB: r = x - y; break;
    case CLG_OP_MUL: r = x * y; break;
    case CLG_OP_DIV: r = x / y; break;
    /* NaN propagates, as torch.maximum does. */
    case CLG_OP_MAXIMUM: r = (isnan(x) || x > y) ? x : y; break;
    case CLG_OP_MINIMUM: r = (isnan(x) || x < y) ? x : y; break;
    case CLG_OP_EQ: r = x == y ? 1.0f : 0.0f; break;
    case CLG_OP_NE: r = x != y ? 1.0f : 0.0f; break;
    case CLG_OP_LT: r = x < y ? 1.0f : 0.0f; break;
    case CLG_OP_LE: r = x <= y ? 1.0f : 0.0f; break;
    case CLG_OP_GT: r = x > y ? 1.0f : 0.0f; break;
    default: r = x >= y ? 1.0f : 0.0f; break;
    }
    o[ooff + i] = r;
}

/* Comparisons of i32 operands (arithmetic is f32 only); out is an f32 mask. */
__kernel void k_binary_i32(int op, int n, int rank, int8 dims8, int8 sa8, int8 sb8,
                           __global const int *a, int aoff, __global const int *b, int boff,
                           __global float *o, int ooff)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int dims[8], sa[8], sb[8];
    vstore8(dims8, 0, dims);
    vstore8(sa8, 0, sa);
    vstore8(sb8, 0, sb);
    int x = a[aoff + clg_offset(i, rank, dims, sa)];
    int y = b[boff + clg_offset(i, rank, dims, sb)];
    int r;
    switch (op) {
    case CLG_OP_EQ: r = x == y; break;
    case CLG_OP_NE: r = x != y; break;
    case CLG_OP_LT: r = x < y; break;
    case CLG_OP_LE: r = x <= y; break;
    case CLG_OP_GT: r = x > y; break;
    default: r = x >= y; break;
    }
    o[ooff + i] = r ? 1.0f : 0.0f;
}

/* out = mask != 0 ? a : b; a, b and out share a dtype (copied as bits),
 * the mask is f32 or i32 (mask_int). */
__kernel void k_where(int n, int rank, int8 dims8, int8 sm8, int8 sa8, int8 sb8, int mask_int,
                      __global const uint *m, int moff, __global const uint *a, int aoff,
                      __global const uint *b, int boff, __global uint *o, int ooff)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    int dims[8], sm[8], sa[8], sb[8];
    vstore8(dims8, 0, dims);
    vstore8(sm8, 0, sm);
    vstore8(sa8, 0, sa);
    vstore8(sb8, 0, sb);
    uint mv = m[moff + clg_offset(i, rank, dims, sm)];
    int take_a = mask_int ? (int)mv != 0 : as_float(mv) != 0.0f;
    o[ooff + i] = take_a ? a[aoff + clg_offset(i, rank, dims, sa)]
                         : b[boff + clg_offset(i, rank, dims, sb)];
}
