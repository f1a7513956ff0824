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

/* Element types. Which backend runs which dtype is that backend's
 * `supports` answer; F16 and BF16 are declared so that files, stores and
 * backends can name them (kernels for them come later). */
typedef enum clg_dtype {
    CLG_F32 = 0,
    CLG_I32 = 1,
    CLG_F16 = 2,
    CLG_BF16 = 3
} clg_dtype;
#define CLG_DTYPE_COUNT 4

/* Bytes per element; 0 for a value that is not a dtype. */
static inline size_t clg_dtype_size(clg_dtype dt)
{
    switch (dt) {
    case CLG_F32: case CLG_I32: return 4;
    case CLG_F16: case CLG_BF16: return 2;
    }
    return 0;
}

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

/* ------------------------------------------------------------- op table
 * Every op a graph can hold, in one table. Everything else that depends on
 * the set of ops (the enum, names, arity and dtype checks, which inputs get
 * gradients, what may be lowered, the OpenCL op codes) derives from it.
 *
 * The table only grows at the end: an op's number is part of the backend
 * ABI (a backend states CLG_OP_TABLE_VERSION, the op count it was built
 * against, and the core never sends it an op numbered at or past that).
 *
 * Columns: X(ENUM, name, arity, family, dtype rule, grad inputs, kind)
 *   arity   inputs; -1: 1..CLG_MAX_INPUTS (concat)
 *   family  SOURCE ops are resolved by the core and never reach a backend
 *   dtype   F32: f32 in, f32 out; SAME: out = input 0's dtype (any);
 *           MASK: both inputs f32 or both i32, f32 0/1 out; I32: f32 in, i32
 *           out; CAST: out dtype chosen by the builder; INDEX: input 1 is i32
 *   grad    bit k set: input k receives a gradient
 *   kind    PRIM: in the minimal set a backend implements; COMPOSITE: the
 *           compiler lowers it into PRIM ops when the backend lacks it
 * Shapes as the backend sees them (see backend.h):
 *   - elementwise inputs are right-aligned to the output's rank, broadcast
 *     dims have size 1;
 *   - reductions keep the reduced dims as size 1 (keepdim is a core-side view);
 *   - MATMUL operands are always 3-D [batch, rows, cols].
 * Op parameters (clg_params slots, below) are named beside each op. */
#define CLG_OP_TABLE(X)                                                                    \
    /* sources and views: resolved by the core */                                         \
    X(INPUT,          "input",          0, SOURCE,      SAME, 0x0, PRIM) /* host-written placeholder */ \
    X(PARAM,          "param",          0, SOURCE,      SAME, 0x0, PRIM) /* a clg_store tensor */ \
    X(CONST,          "const",          0, SOURCE,      SAME, 0x0, PRIM) /* uploaded at compile */ \
    X(RESHAPE,        "reshape",        1, SOURCE,      SAME, 0x1, PRIM) /* view, same buffer */ \
    X(FILL,           "fill",           0, ELEMENTWISE, F32,  0x0, PRIM) /* out = SCALAR */ \
    X(COPY,           "copy",           1, ELEMENTWISE, SAME, 0x1, PRIM)                   \
    X(CAST,           "cast",           1, ELEMENTWISE, CAST, 0x0, PRIM) /* f32<->i32, truncates */ \
    X(NEG,            "neg",            1, ELEMENTWISE, F32,  0x1, PRIM)                   \
    X(EXP,            "exp",            1, ELEMENTWISE, F32,  0x1, PRIM)                   \
    X(LOG,            "log",            1, ELEMENTWISE, F32,  0x1, PRIM)                   \
    X(SQRT,           "sqrt",           1, ELEMENTWISE, F32,  0x1, PRIM)                   \
    X(RSQRT,          "rsqrt",          1, ELEMENTWISE, F32,  0x1, PRIM)                   \
    X(ABS,            "abs",            1, ELEMENTWISE, F32,  0x1, PRIM)                   \
    X(SIGN,           "sign",           1, ELEMENTWISE, F32,  0x0, PRIM) /* -1, 0, +1 */   \
    X(RELU,           "relu",           1, ELEMENTWISE, F32,  0x1, PRIM)                   \
    X(LEAKY_RELU,     "leaky_relu",     1, ELEMENTWISE, F32,  0x1, PRIM) /* SCALAR: slope */ \
    X(SIGMOID,        "sigmoid",        1, ELEMENTWISE, F32,  0x1, COMPOSITE)              \
    X(TANH,           "tanh",           1, ELEMENTWISE, F32,  0x1, PRIM)                   \
    X(GELU,           "gelu",           1, ELEMENTWISE, F32,  0x1, COMPOSITE) /* x*Phi(x) */ \
    X(GELU_TANH,      "gelu_tanh",      1, ELEMENTWISE, F32,  0x1, COMPOSITE) /* approximate='tanh' */ \
    X(GELU_GRAD,      "gelu_grad",      1, ELEMENTWISE, F32,  0x1, COMPOSITE) /* d/dx GELU */ \
    X(GELU_TANH_GRAD, "gelu_tanh_grad", 1, ELEMENTWISE, F32,  0x1, COMPOSITE)              \
    X(SOFTPLUS,       "softplus",       1, ELEMENTWISE, F32,  0x1, COMPOSITE) /* log(1+e^x), stable */ \
    X(ADD_SCALAR,     "add_scalar",     1, ELEMENTWISE, F32,  0x1, PRIM) /* x + SCALAR */  \
    X(MUL_SCALAR,     "mul_scalar",     1, ELEMENTWISE, F32,  0x1, PRIM) /* x * SCALAR */  \
    X(POW_SCALAR,     "pow_scalar",     1, ELEMENTWISE, F32,  0x1, PRIM) /* powf(x, SCALAR) */ \
    X(ADD,            "add",            2, ELEMENTWISE, F32,  0x3, PRIM) /* broadcasting */ \
    X(SUB,            "sub",            2, ELEMENTWISE, F32,  0x3, PRIM)                   \
    X(MUL,            "mul",            2, ELEMENTWISE, F32,  0x3, PRIM)                   \
    X(DIV,            "div",            2, ELEMENTWISE, F32,  0x3, PRIM)                   \
    X(MAXIMUM,        "maximum",        2, ELEMENTWISE, F32,  0x3, PRIM)                   \
    X(MINIMUM,        "minimum",        2, ELEMENTWISE, F32,  0x3, PRIM)                   \
    X(EQ,             "eq",             2, ELEMENTWISE, MASK, 0x0, PRIM)                   \
    X(NE,             "ne",             2, ELEMENTWISE, MASK, 0x0, PRIM)                   \
    X(LT,             "lt",             2, ELEMENTWISE, MASK, 0x0, PRIM)                   \
    X(LE,             "le",             2, ELEMENTWISE, MASK, 0x0, PRIM)                   \
    X(GT,             "gt",             2, ELEMENTWISE, MASK, 0x0, PRIM)                   \
    X(GE,             "ge",             2, ELEMENTWISE, MASK, 0x0, PRIM)                   \
    X(WHERE,          "where",          3, ELEMENTWISE, F32,  0x6, PRIM) /* in0 != 0 ? in1 : in2 */ \
    X(SUM,            "sum",            1, REDUCE,      F32,  0x1, PRIM) /* over AXES (bit i = dim i) */ \
    X(MEAN,           "mean",           1, REDUCE,      F32,  0x1, COMPOSITE) /* AXES */   \
    X(MAX,            "max",            1, REDUCE,      F32,  0x1, PRIM) /* AXES */        \
    X(ARGMAX,         "argmax",         1, REDUCE,      I32,  0x0, PRIM) /* AXIS; first index */ \
    X(SOFTMAX,        "softmax",        1, NN,          F32,  0x1, COMPOSITE) /* AXIS */   \
    X(LOG_SOFTMAX,    "log_softmax",    1, NN,          F32,  0x1, COMPOSITE) /* AXIS */   \
    /* out[b] = op(A[b]) @ op(B[b]); A [Ba,M,K] ([Ba,K,M] if TRANS_A), B [Bb,K,N] \
     * ([Bb,N,K] if TRANS_B); Ba, Bb are 1 or out's batch */                              \
    X(MATMUL,         "matmul",         2, LINALG,      F32,  0x3, PRIM)                   \
    X(PERMUTE,        "permute",        1, MOVEMENT,    SAME, 0x1, PRIM) /* out dim i = in dim PERM+i */ \
    X(EXPAND,         "expand",         1, MOVEMENT,    SAME, 0x1, PRIM) /* size-1 dims -> out */ \
    X(SLICE,          "slice",          1, MOVEMENT,    SAME, 0x1, PRIM) /* out[i] = in[i + START+d] */ \
    X(PAD,            "pad",            1, MOVEMENT,    SAME, 0x1, PRIM) /* SLICE's adjoint, zeros */ \
    X(CONCAT,         "concat",        -1, MOVEMENT,    SAME, 0xff, PRIM) /* along AXIS */ \
    X(GATHER,         "gather",         2, INDEX,       INDEX, 0x1, PRIM) /* torch.gather on AXIS; out = index shape */ \
    X(SCATTER_ADD,    "scatter_add",    2, INDEX,       INDEX, 0x1, PRIM) /* out = 0; out[..idx..] += src on AXIS */ \
    X(ONE_HOT,        "one_hot",        1, INDEX,       F32,  0x0, PRIM) /* i32 [...] -> f32 [..., N] */ \
    /* -- appended after ABI 2.0's first table: keep appending below -- */                \
    X(ERF,            "erf",            1, ELEMENTWISE, F32,  0x1, PRIM)                   \
    X(CLAMP,          "clamp",          1, ELEMENTWISE, F32,  0x1, COMPOSITE) /* SCALAR <= x <= SCALAR2 */ \
    /* i32 [2] state (seed, step) -> f32 U[0, 1) of any shape: Philox4x32-10 keyed by \
     * (seed, STREAM), counter (element / 4, step); see clgrad/philox.h */                 \
    X(RAND_UNIFORM,   "rand_uniform",   1, RANDOM,      CAST, 0x0, PRIM)                   \
    /* windows of 2-D images, as torch.nn.functional.unfold/fold: x [N, C, H, W] ->   \
     * [N, C*KH*KW, OH*OW] (rows channel-major, then kernel row, kernel col; padding \
     * reads SCALAR); col2im is its adjoint (overlaps summed, padding dropped).       \
     * KERNEL, STRIDE, PAD, DILATION: (h, w) pairs */                                    \
    X(IM2COL,         "im2col",         1, MOVEMENT,    F32,  0x1, PRIM)                   \
    X(COL2IM,         "col2im",         1, MOVEMENT,    F32,  0x1, PRIM)                   \
    /* made by the compiler, never by a graph builder: a chain of elementwise ops \
     * run as one pass; the parameter block is its program (CLG_FUSED_* below) */     \
    X(FUSED,          "fused",         -1, FUSED,       F32,  0x0, FUSED)                  \
    /* softmax cross-entropy per row, one pass: logits f32 [N, C], targets i32 [N] ->  \
     * f32 [N], -log_softmax(x)[n, t_n], 0 where t_n == IGNORE; its backward,         \
     * (softmax(x) - one_hot(t)) * G[n] (0 rows where ignored), takes G [N] third */   \
    X(CROSS_ENTROPY,  "cross_entropy",  2, NN,          INDEX, 0x1, COMPOSITE)             \
    X(CROSS_ENTROPY_GRAD, "cross_entropy_grad", 3, NN,  INDEX, 0x0, COMPOSITE)             \
    /* max pooling's choice, as torch's max_pool2d(return_indices=True): x [N, C, H, W] \
     * -> i32 [N, C, OH, OW], the index h*W + w in its image plane of each window's   \
     * first maximum (the first NaN wins; padding is never chosen). Window params as  \
     * IM2COL's. Pooling is then gather / scatter_add on [N, C, H*W] */               \
    X(MAX_POOL2D_INDEX, "max_pool2d_index", 1, NN,      I32,  0x0, COMPOSITE)             \
    /* batch norm in training, as three ops so that its backward is two passes over \
     * the data (PyTorch's formulation): x [N, C, ...] -> stats [2, C], the mean and \
     * the biased variance over every dim but 1; bn_apply (x, stats, weight [C],     \
     * bias [C]) = (x - mean) rsqrt(var + SCALAR) weight + bias; bn_grad_sums (G, x, \
     * stats) -> [2, C]: sum G and sum G (x - mean) per channel, for bn_apply's rule */ \
    X(BN_STATS,       "bn_stats",       1, NN,          F32,  0x1, COMPOSITE)              \
    X(BN_APPLY,       "bn_apply",       4, NN,          F32,  0xf, COMPOSITE)              \
    X(BN_GRAD_SUMS,   "bn_grad_sums",   3, NN,          F32,  0x0, COMPOSITE)             \
    /* layer norm's core over the last dim, row by row in cache: x -> (x - mean)  \
     * rsqrt(var + SCALAR), biased variance; its backward (G, x) -> rsqrt(var + eps) \
     * (G - mean(G) - xhat mean(G xhat)) */                                            \
    X(LN_NORM,        "ln_norm",        1, NN,          F32,  0x1, COMPOSITE)              \
    X(LN_NORM_GRAD,   "ln_norm_grad",   2, NN,          F32,  0x0, COMPOSITE)              \
    /* 2-D convolution, as torch.nn.functional.conv2d without bias: x [N, C, H, W],   \
     * w [O, C/GROUPS, KH, KW] -> [N, O, OH, OW]; KERNEL, STRIDE, PADDING, DILATION as \
     * im2col's. Its gradients, as torch.nn.grad.conv2d_input / conv2d_weight:         \
     * grad_input (dy [N, O, OH, OW], w) -> [N, C, IMAGE h, w]; grad_weight (x, dy)     \
     * -> [O, C/GROUPS, KH, KW]. Lowered into im2col + matmul (+ col2im) */             \
    X(CONV2D,         "conv2d",         2, LINALG,      F32,  0x3, COMPOSITE)             \
    X(CONV2D_GRAD_INPUT, "conv2d_grad_input", 2, LINALG, F32, 0x3, COMPOSITE)             \
    X(CONV2D_GRAD_WEIGHT, "conv2d_grad_weight", 2, LINALG, F32, 0x3, COMPOSITE)             \
    /* an LSTM layer's recurrence over a whole sequence (batch_first, zero initial \
     * state, gates in torch's order i, f, g, o): xw [N, T, 4H], the input's share  \
     * of every step's gates (x W_ih^T + b_ih + b_hh), and w_hh [4H, H] -> f32      \
     * [7, N, T + 1, H]: planes h, c, the gates i, f, g, o and tanh c, at index 0  \
     * the zero state before the first step (all planes 0) and at t + 1 step t;    \
     * only plane h carries a gradient (the rest is what the backward reads).      \
     * Its gradient (y, dh [N, T, H], w_hh) -> [N, T, 4H], the gradient of xw.      \
     * Lowered into one matmul and the gates' elementwise ops per step */           \
    X(LSTM_SCAN,      "lstm_scan",      2, LINALG,      F32,  0x3, COMPOSITE)             \
    X(LSTM_SCAN_GRAD, "lstm_scan_grad", 3, LINALG,      F32,  0x0, COMPOSITE)             \
    /* rows of a table, as torch.index_select(table, 0, ids): table [V, D], i32     \
     * ids [n] -> [n, D]; its adjoint index_add (src [n, D], ids [n]) -> [N, D]    \
     * zeros with row ids[k] += src[k], in k order. An embedding's lookup and its   \
     * gradient without gather's per-element index; lowered into gather /          \
     * scatter_add on the ids expanded to [n, D] */                                 \
    X(INDEX_SELECT,   "index_select",   2, INDEX,       INDEX, 0x1, COMPOSITE)             \
    X(INDEX_ADD,      "index_add",      2, INDEX,       INDEX, 0x1, COMPOSITE) /* N */

typedef enum clg_op {
#define CLG_X_ENUM(e, name, arity, fam, dt, grad, kind) CLG_OP_##e,
    CLG_OP_TABLE(CLG_X_ENUM)
#undef CLG_X_ENUM
    CLG_OP_COUNT
} clg_op;

/* The op count of this header's table: what a backend states it was built
 * against (clg_backend.op_table_version). */
#define CLG_OP_TABLE_VERSION ((uint32_t)CLG_OP_COUNT)

typedef enum clg_op_family {
    CLG_FAMILY_SOURCE = 0,
    CLG_FAMILY_ELEMENTWISE,
    CLG_FAMILY_REDUCE,
    CLG_FAMILY_LINALG,
    CLG_FAMILY_MOVEMENT,
    CLG_FAMILY_INDEX,
    CLG_FAMILY_NN,
    CLG_FAMILY_RANDOM,
    CLG_FAMILY_FUSED
} clg_op_family;

typedef enum clg_dtype_rule {
    CLG_DTRULE_F32 = 0,
    CLG_DTRULE_SAME,
    CLG_DTRULE_MASK,
    CLG_DTRULE_I32,
    CLG_DTRULE_CAST,
    CLG_DTRULE_INDEX
} clg_dtype_rule;

/* FUSED: made by the compiler from ops the backend runs; a backend that
 * does not support it gets those ops instead. */
typedef enum clg_op_kind {
    CLG_OPKIND_PRIM = 0,
    CLG_OPKIND_COMPOSITE = 1,
    CLG_OPKIND_FUSED = 2
} clg_op_kind;

/* The table's columns for one op; an op outside the table gets the values
 * of an impossible op (name NULL, arity -2, family SOURCE). */
typedef struct clg_op_info {
    const char *name;
    int arity;
    clg_op_family family;
    clg_dtype_rule dtype_rule;
    uint32_t grad_inputs;
    clg_op_kind kind;
} clg_op_info;

static inline clg_op_info clg_op_info_of(clg_op op)
{
    switch (op) {
#define CLG_X_INFO(e, nm, ar, fam, dt, grad, kd)                                          \
    case CLG_OP_##e:                                                                       \
        return (clg_op_info){ nm, ar, CLG_FAMILY_##fam, CLG_DTRULE_##dt, grad, CLG_OPKIND_##kd };
        CLG_OP_TABLE(CLG_X_INFO)
#undef CLG_X_INFO
    case CLG_OP_COUNT:
        break;
    }
    return (clg_op_info){ 0, -2, CLG_FAMILY_SOURCE, CLG_DTRULE_F32, 0, CLG_OPKIND_PRIM };
}

/* 1 for an op a backend may be sent (in the table and not a source). */
static inline int clg_op_is_kernel(clg_op op)
{
    return (int)op >= 0 && op < CLG_OP_COUNT &&
           clg_op_info_of(op).family != CLG_FAMILY_SOURCE;
}

/* -------------------------------------------------------- op parameters
 * An op's parameters travel in a fixed-size, opaque block of 64-bit slots,
 * read and written only through the accessors below, so that an op with new
 * parameters adds slot numbers, never a field: no struct changes size. The
 * slot an op reads is named beside it in the table; unused slots are 0. */
#define CLG_PARAM_SLOTS 64
typedef struct clg_params {
    int64_t slot_[CLG_PARAM_SLOTS];
} clg_params;

enum {
    CLG_P_SCALAR = 0,  /* f32 */
    CLG_P_SCALAR2 = 1, /* f32 */
    CLG_P_AXIS = 2,    /* int, normalised to 0..ndim-1 (0 for a 0-d input) */
    CLG_P_AXES = 3,    /* bit mask of dims */
    CLG_P_TRANS_A = 4, /* 0/1 */
    CLG_P_TRANS_B = 5, /* 0/1 */
    CLG_P_N = 6,       /* int64 count (one_hot classes) */
    CLG_P_PERM = 8,    /* CLG_MAX_DIMS ints: slots 8..13 */
    CLG_P_START = 16,  /* CLG_MAX_DIMS int64s: slots 16..21 */
    CLG_P_STREAM = 22, /* rand_uniform: the key's second word (uint32) */
    CLG_P_KERNEL = 23,  /* im2col/col2im: 2 ints (h, w), slots 23..24 */
    CLG_P_STRIDE = 25,  /* 2 ints, slots 25..26 */
    CLG_P_PADDING = 27, /* 2 ints, slots 27..28 */
    CLG_P_DILATION = 29, /* 2 ints, slots 29..30 */
    CLG_P_IGNORE = 31,  /* cross_entropy: the target value that contributes nothing */
    CLG_P_GROUPS = 32,  /* conv2d*: channel groups */
    CLG_P_IMAGE = 33    /* conv2d_grad_input: the input's (h, w), slots 33..34 */
    /* 35..63: free for ops to come */
};

static inline int64_t clg_param_i64(const clg_params *p, int slot)
{
    return (slot >= 0 && slot < CLG_PARAM_SLOTS) ? p->slot_[slot] : 0;
}
static inline int clg_param_int(const clg_params *p, int slot)
{
    return (int)clg_param_i64(p, slot);
}
static inline float clg_param_f32(const clg_params *p, int slot)
{
    union { float f; uint32_t u; } v;
    v.u = (uint32_t)clg_param_i64(p, slot);
    return v.f;
}
static inline void clg_param_set_i64(clg_params *p, int slot, int64_t value)
{
    if (slot >= 0 && slot < CLG_PARAM_SLOTS)
        p->slot_[slot] = value;
}
static inline void clg_param_set_f32(clg_params *p, int slot, float value)
{
    union { float f; uint32_t u; } v;
    v.f = value;
    clg_param_set_i64(p, slot, (int64_t)v.u);
}

/* ------------------------------------------------------ fused programs
 * CLG_OP_FUSED runs a small program once per element: instruction i is one
 * elementwise op of the table (f32 in, f32 out) whose operands are inputs or
 * the results of earlier instructions, and whose result is register i. It
 * must give, element for element, the bits the ops it replaces would give
 * one at a time (same f32 operations in the same order, no contraction
 * into FMA).
 *   - Operands: CLG_FUSED_IN(j) is input j; CLG_FUSED_REG(i) is register i.
 *   - Input j is read as slot CLG_FUSED_P_BCAST + j says: CLG_FUSED_ALIGNED,
 *     element-aligned with the output (same element count); CLG_FUSED_ONE, a
 *     single element read for every output element; CLG_FUSED_ROW, a row of
 *     slot CLG_FUSED_P_COLS elements, element e of the output reading
 *     element e % COLS (a bias over the last dim); CLG_FUSED_CHAN, a block
 *     of slot CLG_FUSED_P_PERIOD elements broadcast over leading and
 *     trailing dims, element e of the output reading element
 *     (e / INNER) % PERIOD with INNER in slot CLG_FUSED_P_INNER (a [C, 1, 1]
 *     per-channel operand against [N, C, H, W]: INNER = H * W, PERIOD = C).
 *     One op has one COLS and one INNER/PERIOD pair for all its inputs.
 *     CLG_FUSED_WINDOW, rows of a larger tensor (a slice along one axis, read
 *     where it lies instead of copied out): the slot also holds the row
 *     length W and the start OFF (clg_fused_window), and element e reads
 *     element (e / W) * STRIDE + OFF + e % W of the input, which holds the
 *     n / W rows of STRIDE elements each (STRIDE = its element count * W / n,
 *     OFF + W <= STRIDE). Each window input has its own W and OFF.
 *   - Epilogue: when slot CLG_FUSED_P_GEMM has CLG_FUSED_GEMM set, in[0] and
 *     in[1] are a MATMUL's operands (its shape rules, transposes in
 *     CLG_FUSED_GEMM_TA/TB, its output as many elements as out), and operand
 *     CLG_FUSED_ACC reads the product; the program's inputs start at in[2].
 *     No output is then an input.
 *   - Outputs: n_out >= 1, all of the output's element count; output 0 is
 *     `out`, output k > 0 is in[n_in - n_out + k] (the last n_out - 1
 *     entries of in[] are written, not read). Output k holds register
 *     slot CLG_FUSED_P_OUTREG + k.
 *   - An output may be the very tensor of an input (same buffer, offset and
 *     size: an update in place); it never overlaps one partly. Every input
 *     element must be read before the output element of that index is written.
 * Slots: CLG_FUSED_P_NINSTR (count), CLG_FUSED_P_NOUT, then per-output
 * registers, per-input modes, the GEMM flags, COLS, one instruction per slot
 * from CLG_FUSED_P_CODE (op in bits 0..7, operands a, b, c in bits 8..15,
 * 16..23, 24..31, the f32 SCALAR parameter in bits 32..63), and PERIOD and
 * INNER in the last two slots. */
enum {
    CLG_FUSED_P_NINSTR = 0,
    CLG_FUSED_P_NOUT = 1,
    CLG_FUSED_P_OUTREG = 2,  /* CLG_MAX_INPUTS slots: 2..9 */
    CLG_FUSED_P_BCAST = 10,  /* CLG_MAX_INPUTS slots: 10..17 */
    CLG_FUSED_P_GEMM = 18,
    CLG_FUSED_P_COLS = 19,
    CLG_FUSED_P_CODE = 20,   /* instructions: 20..61 */
    /* appended at the end, so a backend built before CLG_FUSED_CHAN reads
     * the program where it always was (and refuses the mode it does not
     * know, which leaves those ops unfused) */
    CLG_FUSED_P_PERIOD = CLG_PARAM_SLOTS - 2,
    CLG_FUSED_P_INNER = CLG_PARAM_SLOTS - 1,
    CLG_FUSED_MAX_INSTR = CLG_PARAM_SLOTS - 22
};
enum {
    CLG_FUSED_ALIGNED = 0,
    CLG_FUSED_ONE = 1,
    CLG_FUSED_ROW = 2,
    CLG_FUSED_CHAN = 3,
    CLG_FUSED_WINDOW = 4 /* W in bits 8..35 of the slot, OFF in bits 36..62 */
};
#define CLG_FUSED_WINDOW_MAX_W ((INT64_C(1) << 28) - 1)
#define CLG_FUSED_WINDOW_MAX_OFF ((INT64_C(1) << 27) - 1)
enum { CLG_FUSED_GEMM = 1, CLG_FUSED_GEMM_TA = 2, CLG_FUSED_GEMM_TB = 4 };
#define CLG_FUSED_IN(j) (j)
#define CLG_FUSED_ACC 0x3f
#define CLG_FUSED_REG(i) (0x40 + (i))

typedef struct clg_fused_instr {
    clg_op op;
    int a, b, c;  /* operands (unused ones 0) */
    float scalar; /* the op's SCALAR parameter */
} clg_fused_instr;

static inline clg_fused_instr clg_fused_instr_get(const clg_params *p, int i)
{
    uint64_t w = (uint64_t)clg_param_i64(p, CLG_FUSED_P_CODE + i);
    union { float f; uint32_t u; } v;
    v.u = (uint32_t)(w >> 32);
    clg_fused_instr in = { (clg_op)(w & 0xff), (int)((w >> 8) & 0xff), (int)((w >> 16) & 0xff),
                           (int)((w >> 24) & 0xff), v.f };
    return in;
}
static inline void clg_fused_instr_set(clg_params *p, int i, const clg_fused_instr *in)
{
    union { float f; uint32_t u; } v;
    v.f = in->scalar;
    uint64_t w = ((uint64_t)v.u << 32) | ((uint64_t)(in->c & 0xff) << 24) |
                 ((uint64_t)(in->b & 0xff) << 16) | ((uint64_t)(in->a & 0xff) << 8) |
                 ((uint64_t)in->op & 0xff);
    clg_param_set_i64(p, CLG_FUSED_P_CODE + i, (int64_t)w);
}

/* The element count input k of a fused op over n output elements must have
 * (inputs k >= n_in are the extra outputs, always aligned), or -1 when its
 * mode, or the COLS / PERIOD / INNER the mode reads, is not a valid reading
 * of the output: the check every backend that runs fused ops makes. */
static inline int64_t clg_fused_input_numel(const clg_params *p, int k, int n_in, int64_t n)
{
    const int64_t mode = clg_param_i64(p, CLG_FUSED_P_BCAST + k);
    const int64_t cols = clg_param_i64(p, CLG_FUSED_P_COLS);
    const int64_t period = clg_param_i64(p, CLG_FUSED_P_PERIOD);
    const int64_t inner = clg_param_i64(p, CLG_FUSED_P_INNER);
    if (mode == CLG_FUSED_ALIGNED)
        return n;
    if (k >= n_in)
        return -1;
    if (mode == CLG_FUSED_ONE)
        return 1;
    if (mode == CLG_FUSED_ROW)
        return cols >= 1 && n % cols == 0 ? cols : -1;
    if (mode == CLG_FUSED_CHAN)
        return period >= 1 && inner >= 1 && inner <= n && period <= n / inner &&
                       n % (inner * period) == 0
                   ? period
                   : -1;
    return -1;
}

/* The slot of a window input of row length w starting at off, or -1 when
 * they do not fit its bits. A backend built before CLG_FUSED_WINDOW sees a
 * mode it does not know and refuses the op, which then stays unfused. */
static inline int64_t clg_fused_window(int64_t w, int64_t off)
{
    if (w < 1 || w > CLG_FUSED_WINDOW_MAX_W || off < 0 || off > CLG_FUSED_WINDOW_MAX_OFF)
        return -1;
    return CLG_FUSED_WINDOW | (w << 8) | (off << 36);
}
/* The mode in input k's slot (a window's W and OFF masked off). */
static inline int64_t clg_fused_mode(const clg_params *p, int k)
{
    const int64_t v = clg_param_i64(p, CLG_FUSED_P_BCAST + k);
    return v >= 0 && (v & 0xff) == CLG_FUSED_WINDOW ? CLG_FUSED_WINDOW : v;
}
static inline int64_t clg_fused_window_w(const clg_params *p, int k)
{
    return (clg_param_i64(p, CLG_FUSED_P_BCAST + k) >> 8) & CLG_FUSED_WINDOW_MAX_W;
}
static inline int64_t clg_fused_window_off(const clg_params *p, int k)
{
    return (clg_param_i64(p, CLG_FUSED_P_BCAST + k) >> 36) & CLG_FUSED_WINDOW_MAX_OFF;
}

/* 1 if input k of a fused op over n output elements may have `numel`
 * elements: clg_fused_input_numel's check, and for a window that its rows
 * tile the input and it lies inside each. */
static inline int clg_fused_input_fits(const clg_params *p, int k, int n_in, int64_t n,
                                       int64_t numel)
{
    if (clg_fused_mode(p, k) != CLG_FUSED_WINDOW)
        return numel == clg_fused_input_numel(p, k, n_in, n);
    const int64_t w = clg_fused_window_w(p, k), off = clg_fused_window_off(p, k);
    if (k >= n_in || w < 1 || n < 1 || n % w != 0 || numel % (n / w) != 0)
        return 0;
    return off + w <= numel / (n / w);
}

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
