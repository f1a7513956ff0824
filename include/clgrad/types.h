/* clgrad — types shared by the public API (clgrad.h), the backend ABI (backend.h)
 * and the component ABI (plugin.h). Nothing here allocates or links. */
#ifndef CLGRAD_TYPES_H
#define CLGRAD_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLG_MAX_DIMS 6
#define CLG_MAX_INPUTS 8

typedef enum clg_dtype {
    CLG_F32 = 0,
    CLG_I32 = 1
} clg_dtype;

/* Row-major, contiguous. ndim 0 is a scalar (one element). */
typedef struct clg_shape {
    int ndim;
    int64_t dim[CLG_MAX_DIMS];
} clg_shape;

/* CLG_SHAPE(2, 3) -> a 2x3 shape; CLG_SHAPE() is not valid, use (clg_shape){0}. */
#define CLG_SHAPE(...)                                                         \
    ((clg_shape){ .ndim = (int)(sizeof((int64_t[]){ __VA_ARGS__ }) /           \
                                sizeof(int64_t)),                              \
                  .dim = { __VA_ARGS__ } })

typedef enum clg_status {
    CLG_OK = 0,
    CLG_ERR_INVALID = 1,     /* bad argument, shape or dtype */
    CLG_ERR_UNSUPPORTED = 2, /* a backend cannot run an op */
    CLG_ERR_BACKEND = 3,     /* a backend call failed at run time */
    CLG_ERR_IO = 4,          /* file missing, unreadable, corrupt */
    CLG_ERR_NOMEM = 5,       /* host or device allocation failed */
    CLG_ERR_LOAD = 6,        /* dlopen / missing entry symbol */
    CLG_ERR_ABI = 7,         /* ABI version mismatch */
    CLG_ERR_NOT_FOUND = 8    /* unknown name */
} clg_status;

/* The closed set of primitive ops. Every op a graph can hold is one of these;
 * a backend implements the ones between CLG_OP_FIRST_KERNEL and CLG_OP_COUNT.
 * Shapes below are as the backend sees them (see backend.h):
 *   - elementwise inputs are right-aligned to the output's rank, broadcast
 *     dims have size 1;
 *   - reductions keep the reduced dims as size 1 (keepdim is a core-side view);
 *   - MATMUL operands are always 3-D [batch, rows, cols]. */
typedef enum clg_op {
    /* Sources and views: resolved by the core, never sent to a backend. */
    CLG_OP_INPUT = 0,   /* placeholder written by the host before each run */
    CLG_OP_PARAM,       /* persistent tensor from a clg_store */
    CLG_OP_CONST,       /* constant data uploaded once at compile time */
    CLG_OP_RESHAPE,     /* view: same buffer, new shape */

    CLG_OP_FIRST_KERNEL,
    /* 0 inputs */
    CLG_OP_FILL = CLG_OP_FIRST_KERNEL, /* out = attrs.f */
    /* 1 input, f32 -> f32 unless stated */
    CLG_OP_COPY,        /* out = a (any dtype) */
    CLG_OP_CAST,        /* out dtype from the out tensor; f32<->i32 (f32->i32 truncates) */
    CLG_OP_NEG,
    CLG_OP_EXP,
    CLG_OP_LOG,
    CLG_OP_SQRT,
    CLG_OP_RSQRT,
    CLG_OP_ABS,
    CLG_OP_SIGN,        /* -1, 0, +1 */
    CLG_OP_RELU,
    CLG_OP_LEAKY_RELU,  /* x > 0 ? x : attrs.f * x */
    CLG_OP_SIGMOID,
    CLG_OP_TANH,
    CLG_OP_GELU,        /* x * Phi(x), erf form */
    CLG_OP_GELU_TANH,   /* PyTorch approximate='tanh' */
    CLG_OP_GELU_GRAD,   /* d/dx of GELU at x */
    CLG_OP_GELU_TANH_GRAD, /* d/dx of GELU_TANH at x */
    CLG_OP_SOFTPLUS,    /* log(1 + exp(x)), computed stably */
    CLG_OP_ADD_SCALAR,  /* x + attrs.f */
    CLG_OP_MUL_SCALAR,  /* x * attrs.f */
    CLG_OP_POW_SCALAR,  /* powf(x, attrs.f) */
    /* 2 inputs, broadcasting. Comparisons take f32 or i32 (both the same)
     * and give an f32 mask of 0/1. */
    CLG_OP_ADD,
    CLG_OP_SUB,
    CLG_OP_MUL,
    CLG_OP_DIV,
    CLG_OP_MAXIMUM,
    CLG_OP_MINIMUM,
    CLG_OP_EQ,
    CLG_OP_NE,
    CLG_OP_LT,
    CLG_OP_LE,
    CLG_OP_GT,
    CLG_OP_GE,
    /* 3 inputs, broadcasting: out = mask != 0 ? a : b */
    CLG_OP_WHERE,
    /* reductions over the dims set in attrs.axes (bit i = dim i) */
    CLG_OP_SUM,
    CLG_OP_MEAN,
    CLG_OP_MAX,
    CLG_OP_ARGMAX,      /* over attrs.axis, out i32; first index of the maximum */
    CLG_OP_SOFTMAX,     /* over attrs.axis */
    CLG_OP_LOG_SOFTMAX, /* over attrs.axis */
    /* out[b] = op(A[b]) @ op(B[b]); A [Ba,M,K] (or [Ba,K,M] if attrs.trans_a),
     * B [Bb,K,N] (or [Bb,N,K] if attrs.trans_b); Ba, Bb are 1 or out's batch. */
    CLG_OP_MATMUL,
    /* movement, any dtype */
    CLG_OP_PERMUTE,     /* out dim i = in dim attrs.perm[i] */
    CLG_OP_EXPAND,      /* broadcast copy: in (size-1 dims) -> out shape */
    CLG_OP_SLICE,       /* out[i] = in[i + attrs.start] (per dim) */
    CLG_OP_PAD,         /* out = 0; out[i + attrs.start] = in[i]: SLICE's adjoint */
    CLG_OP_CONCAT,      /* inputs joined along attrs.axis, 1..CLG_MAX_INPUTS of them */
    /* index ops; the index tensor is i32 */
    CLG_OP_GATHER,      /* torch.gather: out[..i..] = in[..index[..i..]..] along attrs.axis;
                           in[0] data, in[1] index, out shape = index shape */
    CLG_OP_SCATTER_ADD, /* out = 0 of out's shape; out[..index[..i..]..] += src[..i..]
                           along attrs.axis; in[0] src, in[1] index (same shape) */
    CLG_OP_ONE_HOT,     /* in i32 [...], out f32 [..., attrs.n] */

    CLG_OP_COUNT
} clg_op;

/* Attributes of an op; each op reads only the fields its comment above names. */
typedef struct clg_attrs {
    float f;
    int axis;
    uint32_t axes;
    int perm[CLG_MAX_DIMS];
    int64_t start[CLG_MAX_DIMS];
    int trans_a, trans_b;
    int64_t n;
} clg_attrs;

typedef enum clg_device_type {
    CLG_DEVICE_CPU = 1,
    CLG_DEVICE_GPU = 2,
    CLG_DEVICE_ACCEL = 4,
    CLG_DEVICE_OTHER = 8
} clg_device_type;

typedef struct clg_device_info {
    char name[256];
    char vendor[128];
    char driver[128];    /* driver / platform version */
    clg_device_type type;
    uint64_t global_mem; /* bytes */
    int compute_units;
} clg_device_info;

#ifdef __cplusplus
}
#endif
#endif
