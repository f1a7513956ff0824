/* The shared op-case table; see cases.h. Shapes are kept small so that the
 * whole table runs in seconds on PoCL as well as on the CPU backend. */
#include "cases.h"

#include <clgrad/philox.h>

#include <math.h>
#include <stdlib.h>

/* A brace initializer for clg_shape (usable in a static table). */
#define SH(...)                                                                \
    { .ndim = (int)(sizeof((int64_t[]){ __VA_ARGS__ }) / sizeof(int64_t)),    \
      .dim = { __VA_ARGS__ } }
#define SH0 { .ndim = 0 }
#define I32 CLG_I32

const tc_case tc_cases[] = {
    /* sources */
    { .name = "full_2x3", .kind = T_FULL, .shape = SH(2, 3), .f = 1.5f },
    { .name = "scalar", .kind = T_SCALAR, .f = -2.25f },

    /* unary */
    { .name = "copy_f32", .kind = T_UNARY, .op = CLG_OP_COPY, .n_in = 1, .in = { SH(2, 3, 4) } },
    { .name = "copy_i32", .kind = T_UNARY, .op = CLG_OP_COPY, .n_in = 1, .in = { SH(5) },
      .dt = { I32 } },
    { .name = "neg", .kind = T_UNARY, .op = CLG_OP_NEG, .n_in = 1, .in = { SH(2, 3, 4) } },
    { .name = "neg_0d", .kind = T_UNARY, .op = CLG_OP_NEG, .n_in = 1, .in = { SH0 } },
    { .name = "exp", .kind = T_UNARY, .op = CLG_OP_EXP, .n_in = 1, .in = { SH(2, 3, 4) } },
    { .name = "exp_1000", .kind = T_UNARY, .op = CLG_OP_EXP, .n_in = 1, .in = { SH(1000) } },
    { .name = "log", .kind = T_UNARY, .op = CLG_OP_LOG, .n_in = 1, .in = { SH(3, 5) },
      .gen = G_POS },
    { .name = "sqrt", .kind = T_UNARY, .op = CLG_OP_SQRT, .n_in = 1, .in = { SH(3, 5) },
      .gen = G_POS },
    { .name = "rsqrt", .kind = T_UNARY, .op = CLG_OP_RSQRT, .n_in = 1, .in = { SH(3, 5) },
      .gen = G_POS },
    { .name = "abs", .kind = T_UNARY, .op = CLG_OP_ABS, .n_in = 1, .in = { SH(2, 3, 4) },
      .gen = G_AWAY0 },
    { .name = "sign", .kind = T_UNARY, .op = CLG_OP_SIGN, .n_in = 1, .in = { SH(2, 3, 4) },
      .gen = G_AWAY0 },
    { .name = "sign_with_zeros", .kind = T_UNARY, .op = CLG_OP_SIGN, .n_in = 1, .in = { SH(9) },
      .gen = G_GRID },
    { .name = "relu", .kind = T_UNARY, .op = CLG_OP_RELU, .n_in = 1, .in = { SH(2, 3, 4) },
      .gen = G_AWAY0 },
    { .name = "sigmoid", .kind = T_UNARY, .op = CLG_OP_SIGMOID, .n_in = 1, .in = { SH(2, 3, 4) } },
    { .name = "sigmoid_wide", .kind = T_UNARY, .op = CLG_OP_SIGMOID, .n_in = 1, .in = { SH(20) },
      .gen = G_WIDE },
    { .name = "tanh", .kind = T_UNARY, .op = CLG_OP_TANH, .n_in = 1, .in = { SH(2, 3, 4) } },
    { .name = "gelu", .kind = T_UNARY, .op = CLG_OP_GELU, .n_in = 1, .in = { SH(2, 3, 4) } },
    { .name = "gelu_tanh", .kind = T_UNARY, .op = CLG_OP_GELU_TANH, .n_in = 1,
      .in = { SH(2, 3, 4) } },
    { .name = "softplus", .kind = T_UNARY, .op = CLG_OP_SOFTPLUS, .n_in = 1,
      .in = { SH(2, 3, 4) } },
    { .name = "softplus_wide", .kind = T_UNARY, .op = CLG_OP_SOFTPLUS, .n_in = 1, .in = { SH(20) },
      .gen = G_WIDE },
    { .name = "erf", .kind = T_UNARY, .op = CLG_OP_ERF, .n_in = 1, .in = { SH(2, 3, 4) } },
    { .name = "erf_wide", .kind = T_UNARY, .op = CLG_OP_ERF, .n_in = 1, .in = { SH(20) },
      .gen = G_WIDE },
    { .name = "clamp", .kind = T_UNARY_F, .op = CLG_OP_CLAMP, .n_in = 1, .in = { SH(3, 8) },
      .f = -0.5f, .f2 = 0.75f },
    { .name = "leaky_relu", .kind = T_UNARY_F, .op = CLG_OP_LEAKY_RELU, .n_in = 1,
      .in = { SH(2, 3, 4) }, .gen = G_AWAY0, .f = 0.1f },
    { .name = "add_scalar", .kind = T_UNARY_F, .op = CLG_OP_ADD_SCALAR, .n_in = 1,
      .in = { SH(3, 4) }, .f = 0.75f },
    { .name = "mul_scalar", .kind = T_UNARY_F, .op = CLG_OP_MUL_SCALAR, .n_in = 1,
      .in = { SH(3, 4) }, .f = -1.5f },
    { .name = "pow_2", .kind = T_UNARY_F, .op = CLG_OP_POW_SCALAR, .n_in = 1, .in = { SH(3, 4) },
      .f = 2.0f },
    { .name = "pow_1.5", .kind = T_UNARY_F, .op = CLG_OP_POW_SCALAR, .n_in = 1, .in = { SH(3, 4) },
      .gen = G_POS, .f = 1.5f },
    { .name = "pow_-0.5", .kind = T_UNARY_F, .op = CLG_OP_POW_SCALAR, .n_in = 1, .in = { SH(3, 4) },
      .gen = G_POS, .f = -0.5f },
    { .name = "cast_f32_i32", .kind = T_CAST, .n_in = 1, .in = { SH(2, 5) }, .gen = G_GRID,
      .to = CLG_I32 },
    { .name = "cast_f32_i32_normal", .kind = T_CAST, .n_in = 1, .in = { SH(2, 5) }, .to = CLG_I32 },
    { .name = "cast_i32_f32", .kind = T_CAST, .n_in = 1, .in = { SH(2, 5) }, .dt = { I32 },
      .to = CLG_F32 },

    /* binary, broadcasting */
    { .name = "add_same", .kind = T_BINARY, .op = CLG_OP_ADD, .n_in = 2,
      .in = { SH(2, 3), SH(2, 3) } },
    { .name = "add_row", .kind = T_BINARY, .op = CLG_OP_ADD, .n_in = 2, .in = { SH(2, 3), SH(3) } },
    { .name = "add_col", .kind = T_BINARY, .op = CLG_OP_ADD, .n_in = 2,
      .in = { SH(2, 3), SH(2, 1) } },
    { .name = "add_0d_right", .kind = T_BINARY, .op = CLG_OP_ADD, .n_in = 2,
      .in = { SH(2, 3), SH0 } },
    { .name = "add_0d_left", .kind = T_BINARY, .op = CLG_OP_ADD, .n_in = 2,
      .in = { SH0, SH(2, 3) } },
    { .name = "add_rank_mismatch", .kind = T_BINARY, .op = CLG_OP_ADD, .n_in = 2,
      .in = { SH(4, 1, 3), SH(2, 3) } },
    { .name = "add_outer", .kind = T_BINARY, .op = CLG_OP_ADD, .n_in = 2,
      .in = { SH(3, 1), SH(1, 4) } },
    { .name = "add_big_row", .kind = T_BINARY, .op = CLG_OP_ADD, .n_in = 2,
      .in = { SH(33, 65), SH(65) } },
    { .name = "sub_col", .kind = T_BINARY, .op = CLG_OP_SUB, .n_in = 2,
      .in = { SH(2, 3), SH(2, 1) } },
    { .name = "sub_rank_left", .kind = T_BINARY, .op = CLG_OP_SUB, .n_in = 2,
      .in = { SH(2, 3), SH(4, 2, 3) } },
    { .name = "mul_row", .kind = T_BINARY, .op = CLG_OP_MUL, .n_in = 2, .in = { SH(3, 4), SH(4) } },
    { .name = "mul_rank_mismatch", .kind = T_BINARY, .op = CLG_OP_MUL, .n_in = 2,
      .in = { SH(2, 1, 4), SH(3, 1) } },
    { .name = "div_same", .kind = T_BINARY, .op = CLG_OP_DIV, .n_in = 2,
      .in = { SH(3, 4), SH(3, 4) }, .gen = G_AWAY0 },
    { .name = "div_row", .kind = T_BINARY, .op = CLG_OP_DIV, .n_in = 2, .in = { SH(3, 4), SH(4) },
      .gen = G_AWAY0 },
    { .name = "div_0d", .kind = T_BINARY, .op = CLG_OP_DIV, .n_in = 2, .in = { SH0, SH(3, 4) },
      .gen = G_AWAY0 },
    { .name = "maximum_same", .kind = T_BINARY, .op = CLG_OP_MAXIMUM, .n_in = 2,
      .in = { SH(3, 4), SH(3, 4) } },
    { .name = "maximum_row", .kind = T_BINARY, .op = CLG_OP_MAXIMUM, .n_in = 2,
      .in = { SH(3, 4), SH(4) } },
    { .name = "minimum_col", .kind = T_BINARY, .op = CLG_OP_MINIMUM, .n_in = 2,
      .in = { SH(3, 4), SH(3, 1) } },
    { .name = "minimum_rank", .kind = T_BINARY, .op = CLG_OP_MINIMUM, .n_in = 2,
      .in = { SH(2, 3, 4), SH(3, 4) } },
    { .name = "maximum_ties", .kind = T_BINARY, .op = CLG_OP_MAXIMUM, .n_in = 2,
      .in = { SH(4, 4), SH(4, 4) }, .gen = G_GRID },
    { .name = "eq_f32", .kind = T_BINARY, .op = CLG_OP_EQ, .n_in = 2, .in = { SH(3, 4), SH(3, 4) },
      .gen = G_GRID },
    { .name = "ne_f32", .kind = T_BINARY, .op = CLG_OP_NE, .n_in = 2, .in = { SH(3, 4), SH(4) },
      .gen = G_GRID },
    { .name = "lt_f32", .kind = T_BINARY, .op = CLG_OP_LT, .n_in = 2, .in = { SH(3, 4), SH(3, 4) },
      .gen = G_GRID },
    { .name = "le_f32", .kind = T_BINARY, .op = CLG_OP_LE, .n_in = 2, .in = { SH(3, 4), SH(3, 1) },
      .gen = G_GRID },
    { .name = "gt_f32", .kind = T_BINARY, .op = CLG_OP_GT, .n_in = 2, .in = { SH(3, 4), SH0 },
      .gen = G_GRID },
    { .name = "ge_f32", .kind = T_BINARY, .op = CLG_OP_GE, .n_in = 2, .in = { SH(3, 4), SH(3, 4) },
      .gen = G_GRID },
    { .name = "eq_i32", .kind = T_BINARY, .op = CLG_OP_EQ, .n_in = 2, .in = { SH(3, 4), SH(3, 4) },
      .dt = { I32, I32 } },
    { .name = "ne_i32", .kind = T_BINARY, .op = CLG_OP_NE, .n_in = 2, .in = { SH(3, 4), SH(1, 4) },
      .dt = { I32, I32 } },
    { .name = "lt_i32", .kind = T_BINARY, .op = CLG_OP_LT, .n_in = 2, .in = { SH(3, 4), SH(3, 4) },
      .dt = { I32, I32 } },
    { .name = "le_i32", .kind = T_BINARY, .op = CLG_OP_LE, .n_in = 2, .in = { SH(3, 4), SH(3, 4) },
      .dt = { I32, I32 } },
    { .name = "gt_i32", .kind = T_BINARY, .op = CLG_OP_GT, .n_in = 2, .in = { SH(3, 4), SH(3, 1) },
      .dt = { I32, I32 } },
    { .name = "ge_i32", .kind = T_BINARY, .op = CLG_OP_GE, .n_in = 2, .in = { SH(3, 4), SH(3, 4) },
      .dt = { I32, I32 } },
    { .name = "where_same", .kind = T_WHERE, .n_in = 3, .in = { SH(2, 3), SH(2, 3), SH(2, 3) } },
    { .name = "where_bcast", .kind = T_WHERE, .n_in = 3, .in = { SH(2, 1), SH(2, 3), SH(3) } },
    { .name = "where_0d_b", .kind = T_WHERE, .n_in = 3, .in = { SH(3, 4), SH(3, 4), SH0 } },

    /* reductions */
    { .name = "sum_all", .kind = T_REDUCE, .op = CLG_OP_SUM, .n_in = 1, .in = { SH(2, 3, 4) } },
    { .name = "sum_all_keepdim", .kind = T_REDUCE, .op = CLG_OP_SUM, .n_in = 1,
      .in = { SH(2, 3, 4) }, .keepdim = 1 },
    { .name = "sum_ax1", .kind = T_REDUCE, .op = CLG_OP_SUM, .n_in = 1, .in = { SH(2, 3, 4) },
      .axes = { 1 }, .naxes = 1 },
    { .name = "sum_ax1_keepdim", .kind = T_REDUCE, .op = CLG_OP_SUM, .n_in = 1,
      .in = { SH(2, 3, 4) }, .axes = { 1 }, .naxes = 1, .keepdim = 1 },
    { .name = "sum_ax02", .kind = T_REDUCE, .op = CLG_OP_SUM, .n_in = 1, .in = { SH(2, 3, 4) },
      .axes = { 0, 2 }, .naxes = 2 },
    { .name = "sum_ax02_keepdim", .kind = T_REDUCE, .op = CLG_OP_SUM, .n_in = 1,
      .in = { SH(2, 3, 4) }, .axes = { 0, 2 }, .naxes = 2, .keepdim = 1 },
    { .name = "sum_ax_neg1", .kind = T_REDUCE, .op = CLG_OP_SUM, .n_in = 1, .in = { SH(2, 3, 4) },
      .axes = { -1 }, .naxes = 1 },
    { .name = "sum_2d_ax0", .kind = T_REDUCE, .op = CLG_OP_SUM, .n_in = 1, .in = { SH(5, 7) },
      .axes = { 0 }, .naxes = 1 },
    { .name = "sum_1d", .kind = T_REDUCE, .op = CLG_OP_SUM, .n_in = 1, .in = { SH(10) } },
    { .name = "sum_big_ax1", .kind = T_REDUCE, .op = CLG_OP_SUM, .n_in = 1, .in = { SH(16, 300) },
      .axes = { 1 }, .naxes = 1 },
    { .name = "mean_ax0", .kind = T_REDUCE, .op = CLG_OP_MEAN, .n_in = 1, .in = { SH(2, 3, 4) },
      .axes = { 0 }, .naxes = 1 },
    { .name = "mean_all", .kind = T_REDUCE, .op = CLG_OP_MEAN, .n_in = 1, .in = { SH(2, 3, 4) } },
    { .name = "mean_ax12_keepdim", .kind = T_REDUCE, .op = CLG_OP_MEAN, .n_in = 1,
      .in = { SH(2, 3, 4) }, .axes = { 1, 2 }, .naxes = 2, .keepdim = 1 },
    { .name = "mean_ax_neg2", .kind = T_REDUCE, .op = CLG_OP_MEAN, .n_in = 1, .in = { SH(2, 3, 4) },
      .axes = { -2 }, .naxes = 1 },
    { .name = "max_ax2", .kind = T_REDUCE, .op = CLG_OP_MAX, .n_in = 1, .in = { SH(2, 3, 4) },
      .axes = { 2 }, .naxes = 1 },
    { .name = "max_all", .kind = T_REDUCE, .op = CLG_OP_MAX, .n_in = 1, .in = { SH(2, 3, 4) } },
    { .name = "max_ax01_keepdim", .kind = T_REDUCE, .op = CLG_OP_MAX, .n_in = 1,
      .in = { SH(2, 3, 4) }, .axes = { 0, 1 }, .naxes = 2, .keepdim = 1 },
    { .name = "max_ax_neg1_keepdim", .kind = T_REDUCE, .op = CLG_OP_MAX, .n_in = 1,
      .in = { SH(3, 5) }, .axes = { -1 }, .naxes = 1, .keepdim = 1 },
    { .name = "argmax_ax1", .kind = T_ARGMAX, .n_in = 1, .in = { SH(3, 5) }, .axis = 1 },
    { .name = "argmax_ax0_keepdim", .kind = T_ARGMAX, .n_in = 1, .in = { SH(3, 5) }, .axis = 0,
      .keepdim = 1 },
    { .name = "argmax_ax_neg1_3d", .kind = T_ARGMAX, .n_in = 1, .in = { SH(2, 3, 4) }, .axis = -1 },
    { .name = "argmax_ties_first", .kind = T_ARGMAX, .n_in = 1, .in = { SH(4, 6) }, .gen = G_GRID,
      .axis = 1 },
    /* the CPU's column-block path: a strided axis, more columns than one
     * block (256) and ties everywhere, so the first maximum must win */
    { .name = "argmax_ties_strided", .kind = T_ARGMAX, .n_in = 1, .in = { SH(3, 4, 300) },
      .gen = G_GRID, .axis = 1 },
    /* pooling's shape [N, C, KH*KW, L], window axis strided */
    { .name = "argmax_windows", .kind = T_ARGMAX, .n_in = 1, .in = { SH(2, 3, 4, 9) },
      .gen = G_GRID, .axis = 2, .keepdim = 1 },
    /* BatchNorm's per-channel sum: runs of 37 (two lane sweeps and a tail) */
    { .name = "sum_ax023_channels", .kind = T_REDUCE, .op = CLG_OP_SUM, .n_in = 1,
      .in = { SH(3, 4, 1, 37) }, .axes = { 0, 2, 3 }, .naxes = 3 },
    { .name = "mean_ax023_channels", .kind = T_REDUCE, .op = CLG_OP_MEAN, .n_in = 1,
      .in = { SH(4, 2, 5, 7) }, .axes = { 0, 2, 3 }, .naxes = 3, .keepdim = 1 },
    { .name = "max_ax023_channels", .kind = T_REDUCE, .op = CLG_OP_MAX, .n_in = 1,
      .in = { SH(3, 5, 2, 9) }, .axes = { 0, 2, 3 }, .naxes = 3 },
    /* kept dims on both sides of a reduced one, runs of 17 */
    { .name = "sum_ax13_blocks", .kind = T_REDUCE, .op = CLG_OP_SUM, .n_in = 1,
      .in = { SH(2, 3, 4, 17) }, .axes = { 1, 3 }, .naxes = 2 },
    { .name = "softmax_ax0", .kind = T_SOFTMAX, .op = CLG_OP_SOFTMAX, .n_in = 1,
      .in = { SH(2, 3, 4) }, .axis = 0 },
    { .name = "softmax_ax1", .kind = T_SOFTMAX, .op = CLG_OP_SOFTMAX, .n_in = 1,
      .in = { SH(2, 3, 4) }, .axis = 1 },
    { .name = "softmax_ax2", .kind = T_SOFTMAX, .op = CLG_OP_SOFTMAX, .n_in = 1,
      .in = { SH(2, 3, 4) }, .axis = 2 },
    { .name = "softmax_ax_neg1", .kind = T_SOFTMAX, .op = CLG_OP_SOFTMAX, .n_in = 1,
      .in = { SH(4, 10) }, .axis = -1 },
    { .name = "log_softmax_ax0", .kind = T_SOFTMAX, .op = CLG_OP_LOG_SOFTMAX, .n_in = 1,
      .in = { SH(2, 3, 4) }, .axis = 0 },
    { .name = "log_softmax_ax1", .kind = T_SOFTMAX, .op = CLG_OP_LOG_SOFTMAX, .n_in = 1,
      .in = { SH(2, 3, 4) }, .axis = 1 },
    { .name = "log_softmax_ax2", .kind = T_SOFTMAX, .op = CLG_OP_LOG_SOFTMAX, .n_in = 1,
      .in = { SH(2, 3, 4) }, .axis = 2 },
    { .name = "softmax_wide", .kind = T_SOFTMAX, .op = CLG_OP_SOFTMAX, .n_in = 1,
      .in = { SH(4, 10) }, .gen = G_WIDE, .axis = 1 },
    { .name = "log_softmax_wide", .kind = T_SOFTMAX, .op = CLG_OP_LOG_SOFTMAX, .n_in = 1,
      .in = { SH(4, 10) }, .gen = G_WIDE, .axis = 1 },
    { .name = "log_softmax_ax_neg1", .kind = T_SOFTMAX, .op = CLG_OP_LOG_SOFTMAX, .n_in = 1,
      .in = { SH(4, 10) }, .axis = -1 },
    { .name = "cross_entropy", .kind = T_XENT, .n_in = 2, .in = { SH(6, 7), SH(6) },
      .dt = { 0, I32 }, .start = -100 },
    { .name = "cross_entropy_ignore_class", .kind = T_XENT, .n_in = 2, .in = { SH(9, 4), SH(9) },
      .dt = { 0, I32 }, .start = 2 },
    { .name = "cross_entropy_wide", .kind = T_XENT, .n_in = 2, .in = { SH(4, 10), SH(4) },
      .dt = { 0, I32 }, .gen = G_WIDE, .start = -1, .no_grad = 1 },

    /* matmul */
    { .name = "mm_nn", .kind = T_MATMUL, .n_in = 2, .in = { SH(3, 4), SH(4, 5) } },
    { .name = "mm_tn", .kind = T_MATMUL, .n_in = 2, .in = { SH(4, 3), SH(4, 5) }, .ta = 1 },
    { .name = "mm_nt", .kind = T_MATMUL, .n_in = 2, .in = { SH(3, 4), SH(5, 4) }, .tb = 1 },
    { .name = "mm_tt", .kind = T_MATMUL, .n_in = 2, .in = { SH(4, 3), SH(5, 4) }, .ta = 1,
      .tb = 1 },
    { .name = "mm_odd", .kind = T_MATMUL, .n_in = 2, .in = { SH(17, 33), SH(33, 9) } },
    { .name = "mm_dot", .kind = T_MATMUL, .n_in = 2, .in = { SH(1, 6), SH(6, 1) } },
    { .name = "bmm_nn", .kind = T_MATMUL, .n_in = 2, .in = { SH(2, 3, 4), SH(2, 4, 5) } },
    { .name = "bmm_tt", .kind = T_MATMUL, .n_in = 2, .in = { SH(2, 4, 3), SH(2, 5, 4) }, .ta = 1,
      .tb = 1 },
    { .name = "bmm_b_2d", .kind = T_MATMUL, .n_in = 2, .in = { SH(2, 3, 4), SH(4, 5) } },
    { .name = "bmm_b_2d_nt", .kind = T_MATMUL, .n_in = 2, .in = { SH(2, 3, 4), SH(5, 4) },
      .tb = 1 },
    { .name = "bmm_a_2d", .kind = T_MATMUL, .n_in = 2, .in = { SH(3, 4), SH(2, 4, 5) } },
    { .name = "bmm_a_2d_tn", .kind = T_MATMUL, .n_in = 2, .in = { SH(4, 3), SH(2, 4, 5) },
      .ta = 1 },
    { .name = "bmm_4d", .kind = T_MATMUL, .n_in = 2, .in = { SH(2, 2, 3, 4), SH(2, 2, 4, 5) } },
    /* Large enough (> 4 MFLOP) that a backend splits them across threads:
     * C cut by rows (M >= N) and by columns (N > M), every transpose. */
    { .name = "mm_big_rows_nn", .kind = T_MATMUL, .n_in = 2, .in = { SH(131, 301), SH(301, 67) },
      .no_grad = 1 },
    { .name = "mm_big_rows_tt", .kind = T_MATMUL, .n_in = 2, .in = { SH(301, 131), SH(67, 301) },
      .ta = 1, .tb = 1, .no_grad = 1 },
    { .name = "mm_big_cols_tn", .kind = T_MATMUL, .n_in = 2, .in = { SH(300, 37), SH(300, 259) },
      .ta = 1, .no_grad = 1 },
    { .name = "mm_big_cols_nt", .kind = T_MATMUL, .n_in = 2, .in = { SH(37, 300), SH(259, 300) },
      .tb = 1, .no_grad = 1 },
    { .name = "bmm_big_b_2d", .kind = T_MATMUL, .n_in = 2, .in = { SH(3, 50, 300), SH(300, 70) },
      .no_grad = 1 },

    /* movement */
    { .name = "reshape_infer", .kind = T_RESHAPE, .n_in = 1, .in = { SH(2, 3, 4) },
      .shape = SH(6, -1) },
    { .name = "reshape_3d", .kind = T_RESHAPE, .n_in = 1, .in = { SH(2, 6) },
      .shape = SH(3, 2, 2) },
    { .name = "permute_3d", .kind = T_PERMUTE, .n_in = 1, .in = { SH(2, 3, 4) },
      .perm = { 2, 0, 1 } },
    { .name = "permute_4d", .kind = T_PERMUTE, .n_in = 1, .in = { SH(2, 3, 4, 5) },
      .perm = { 3, 1, 0, 2 } },
    { .name = "permute_i32", .kind = T_PERMUTE, .n_in = 1, .in = { SH(2, 3) }, .dt = { I32 },
      .perm = { 1, 0 } },
    { .name = "transpose_02", .kind = T_TRANSPOSE, .n_in = 1, .in = { SH(2, 3, 4) }, .axis = 0,
      .axis2 = 2 },
    { .name = "transpose_2d", .kind = T_TRANSPOSE, .n_in = 1, .in = { SH(3, 5) }, .axis = 0,
      .axis2 = 1 },
    { .name = "transpose_neg", .kind = T_TRANSPOSE, .n_in = 1, .in = { SH(2, 3, 4) }, .axis = -1,
      .axis2 = -2 },
    { .name = "expand_col", .kind = T_EXPAND, .n_in = 1, .in = { SH(3, 1) }, .shape = SH(3, 4) },
    { .name = "expand_rank", .kind = T_EXPAND, .n_in = 1, .in = { SH(1, 4) },
      .shape = SH(2, 3, 4) },
    { .name = "expand_0d", .kind = T_EXPAND, .n_in = 1, .in = { SH0 }, .shape = SH(2, 2) },
    { .name = "expand_i32", .kind = T_EXPAND, .n_in = 1, .in = { SH(2, 1) }, .dt = { I32 },
      .shape = SH(2, 3) },
    { .name = "slice_ax1", .kind = T_SLICE, .n_in = 1, .in = { SH(4, 6) }, .axis = 1, .start = 1,
      .end = 4 },
    { .name = "slice_ax0", .kind = T_SLICE, .n_in = 1, .in = { SH(4, 6) }, .axis = 0, .start = 2,
      .end = 4 },
    { .name = "slice_ax_neg1", .kind = T_SLICE, .n_in = 1, .in = { SH(2, 3, 5) }, .axis = -1,
      .start = 1, .end = 3 },
    { .name = "slice_i32", .kind = T_SLICE, .n_in = 1, .in = { SH(5, 2) }, .dt = { I32 }, .axis = 0,
      .start = 1, .end = 4 },
    { .name = "concat3_ax1", .kind = T_CONCAT, .n_in = 3, .in = { SH(2, 1), SH(2, 3), SH(2, 2) },
      .axis = 1 },
    { .name = "concat3_ax0", .kind = T_CONCAT, .n_in = 3, .in = { SH(1, 3), SH(2, 3), SH(3, 3) },
      .axis = 0 },
    { .name = "concat3_ax_neg1", .kind = T_CONCAT, .n_in = 3,
      .in = { SH(2, 2, 1), SH(2, 2, 2), SH(2, 2, 3) }, .axis = -1 },
    { .name = "concat2_i32", .kind = T_CONCAT, .n_in = 2, .in = { SH(2, 2), SH(1, 2) },
      .dt = { I32, I32 }, .axis = 0 },

    /* index ops */
    { .name = "gather_ax1", .kind = T_GATHER, .n_in = 2, .in = { SH(3, 4), SH(3, 2) },
      .dt = { 0, I32 }, .axis = 1 },
    { .name = "gather_ax0", .kind = T_GATHER, .n_in = 2, .in = { SH(3, 4), SH(2, 4) },
      .dt = { 0, I32 }, .axis = 0 },
    { .name = "gather_3d_ax2", .kind = T_GATHER, .n_in = 2, .in = { SH(2, 3, 4), SH(2, 3, 2) },
      .dt = { 0, I32 }, .axis = 2 },
    { .name = "gather_ax_neg1", .kind = T_GATHER, .n_in = 2, .in = { SH(4, 5), SH(4, 1) },
      .dt = { 0, I32 }, .axis = -1 },
    { .name = "gather_i32_data", .kind = T_GATHER, .n_in = 2, .in = { SH(3, 4), SH(3, 2) },
      .dt = { I32, I32 }, .axis = 1 },
    /* an index smaller than the data before and after the axis */
    { .name = "gather_smaller_index", .kind = T_GATHER, .n_in = 2,
      .in = { SH(3, 4, 5), SH(2, 3, 4) }, .dt = { 0, I32 }, .axis = 1 },
    /* max pooling's shape: [N, C, 1, L] from windows [N, C, KH*KW, L] */
    { .name = "gather_windows", .kind = T_GATHER, .n_in = 2,
      .in = { SH(2, 3, 4, 9), SH(2, 3, 1, 9) }, .dt = { 0, I32 }, .axis = 2 },
    { .name = "scatter_add_ax1", .kind = T_SCATTER, .n_in = 2, .in = { SH(3, 2), SH(3, 2) },
      .dt = { 0, I32 }, .axis = 1, .shape = SH(3, 5) },
    { .name = "scatter_add_ax0_dups", .kind = T_SCATTER, .n_in = 2, .in = { SH(4, 3), SH(4, 3) },
      .dt = { 0, I32 }, .axis = 0, .shape = SH(2, 3) },
    /* axis in the middle, an index smaller than the output before and after
     * it, duplicates: the CPU splits the leading dims over threads */
    { .name = "scatter_add_mid_axis_dups", .kind = T_SCATTER, .n_in = 2,
      .in = { SH(2, 3, 5, 2), SH(2, 3, 5, 2) }, .dt = { 0, I32 }, .axis = 2,
      .shape = SH(3, 4, 2, 3) },
    /* an embedding's lookup and its gradient, with repeated ids; rows wider
     * than the CPU's column chunk (64) */
    { .name = "index_select_rows", .kind = T_ROWS, .n_in = 2, .in = { SH(5, 3), SH(7) },
      .dt = { 0, I32 } },
    { .name = "index_select_wide", .kind = T_ROWS, .n_in = 2, .in = { SH(4, 130), SH(9) },
      .dt = { 0, I32 } },
    { .name = "index_add_dups", .kind = T_ROWS, .n_in = 2, .in = { SH(8, 3), SH(8) },
      .dt = { 0, I32 }, .shape = SH(3, 3), .variant = 1 },
    { .name = "index_add_wide", .kind = T_ROWS, .n_in = 2, .in = { SH(11, 150), SH(11) },
      .dt = { 0, I32 }, .shape = SH(4, 150), .variant = 1 },
    { .name = "one_hot_1d", .kind = T_ONE_HOT, .n_in = 1, .in = { SH(4) }, .dt = { I32 },
      .classes = 5 },
    { .name = "one_hot_2d", .kind = T_ONE_HOT, .n_in = 1, .in = { SH(2, 3) }, .dt = { I32 },
      .classes = 4 },

    /* long rows: the OpenCL backend switches to a work-group per row */
    { .name = "softmax_long_row", .kind = T_SOFTMAX, .op = CLG_OP_SOFTMAX, .n_in = 1,
      .in = { SH(3, 300) }, .gen = G_WIDE, .axis = -1, .no_grad = 1 },
    { .name = "log_softmax_long_strided", .kind = T_SOFTMAX, .op = CLG_OP_LOG_SOFTMAX, .n_in = 1,
      .in = { SH(2, 130, 3) }, .axis = 1, .no_grad = 1 },

    /* image windows: im2col and its adjoint col2im (stride, padding, dilation,
     * overlaps, a non-zero pad value as max pooling uses) */
    { .name = "im2col_3x3_pad1", .kind = T_IM2COL, .n_in = 1, .in = { SH(2, 3, 5, 6) },
      .win = { { 3, 3 }, { 1, 1 }, { 1, 1 }, { 1, 1 } } },
    { .name = "im2col_stride2_dil2", .kind = T_IM2COL, .n_in = 1, .in = { SH(1, 2, 7, 8) },
      .win = { { 2, 3 }, { 2, 1 }, { 1, 0 }, { 2, 2 } } },
    { .name = "im2col_padvalue", .kind = T_IM2COL, .n_in = 1, .in = { SH(1, 1, 3, 3) },
      .win = { { 2, 2 }, { 2, 2 }, { 1, 1 }, { 1, 1 } }, .f = -7.5f },
    { .name = "col2im_3x3_pad1", .kind = T_COL2IM, .n_in = 1, .in = { SH(2, 27, 30) },
      .shape = SH(2, 3, 5, 6), .win = { { 3, 3 }, { 1, 1 }, { 1, 1 }, { 1, 1 } } },
    { .name = "col2im_stride2_dil2", .kind = T_COL2IM, .n_in = 1, .in = { SH(1, 12, 16) },
      .shape = SH(1, 2, 7, 8), .win = { { 2, 3 }, { 2, 1 }, { 1, 0 }, { 2, 2 } } },
    /* a horizontal stride over 1 with padding and dilation on both sides
     * (the CPU clips each window row to its in-range columns) */
    { .name = "im2col_wstride3_pad2_dil2", .kind = T_IM2COL, .n_in = 1, .in = { SH(1, 2, 6, 11) },
      .win = { { 3, 3 }, { 1, 3 }, { 1, 2 }, { 1, 2 } }, .f = 0.25f },
    /* max pooling's choice: ties on a grid (the first in window order wins),
     * padding, dilation, an odd width the stride leaves a column of */
    { .name = "pool_index_2x2_ties", .kind = T_POOL_INDEX, .n_in = 1, .in = { SH(2, 3, 6, 7) },
      .gen = G_GRID, .win = { { 2, 2 }, { 2, 2 }, { 0, 0 }, { 1, 1 } } },
    { .name = "pool_index_3x3_pad1", .kind = T_POOL_INDEX, .n_in = 1, .in = { SH(1, 2, 5, 6) },
      .win = { { 3, 3 }, { 1, 1 }, { 1, 1 }, { 1, 1 } } },
    { .name = "pool_index_stride_pad_dil", .kind = T_POOL_INDEX, .n_in = 1,
      .in = { SH(1, 2, 7, 9) }, .gen = G_GRID, .win = { { 2, 3 }, { 2, 1 }, { 1, 2 }, { 2, 2 } } },
    { .name = "pool_index_inside_dil", .kind = T_POOL_INDEX, .n_in = 1, .in = { SH(2, 2, 8, 9) },
      .gen = G_GRID, .win = { { 3, 2 }, { 1, 2 }, { 0, 0 }, { 2, 1 } } },
    { .name = "pool_index_wide_rows", .kind = T_POOL_INDEX, .n_in = 1, .in = { SH(1, 1, 4, 600) },
      .win = { { 2, 3 }, { 2, 2 }, { 0, 1 }, { 1, 1 } } },
    { .name = "col2im_wstride3_pad2_dil2", .kind = T_COL2IM, .n_in = 1, .in = { SH(1, 18, 24) },
      .shape = SH(1, 2, 6, 11), .win = { { 3, 3 }, { 1, 3 }, { 1, 2 }, { 1, 2 } } },

    /* convolution and its gradients (stride, padding, dilation, groups, a
     * stride that leaves rows and columns over), against direct loops */
    { .name = "conv2d_3x3_pad1", .kind = T_CONV, .op = CLG_OP_CONV2D, .n_in = 2,
      .in = { SH(2, 3, 5, 6), SH(4, 3, 3, 3) }, .win = { { 3, 3 }, { 1, 1 }, { 1, 1 }, { 1, 1 } }, .groups = 1 },
    { .name = "conv2d_stride2_dil2_groups2", .kind = T_CONV, .op = CLG_OP_CONV2D, .n_in = 2,
      .in = { SH(1, 4, 7, 8), SH(6, 2, 2, 3) }, .win = { { 2, 3 }, { 2, 1 }, { 1, 0 }, { 2, 2 } }, .groups = 2 },
    { .name = "conv2d_depthwise_wstride3_pad2_dil2", .kind = T_CONV, .op = CLG_OP_CONV2D,
      .n_in = 2, .in = { SH(1, 3, 6, 11), SH(3, 1, 3, 3) }, .win = { { 3, 3 }, { 1, 3 }, { 1, 2 }, { 1, 2 } }, .groups = 3 },
    { .name = "conv2d_stride2_rounding", .kind = T_CONV, .op = CLG_OP_CONV2D, .n_in = 2,
      .in = { SH(1, 2, 8, 7), SH(2, 2, 3, 2) }, .win = { { 3, 2 }, { 2, 2 }, { 0, 1 }, { 1, 1 } }, .groups = 1 },
    { .name = "conv2d_grad_input_3x3_pad1", .kind = T_CONV, .op = CLG_OP_CONV2D_GRAD_INPUT,
      .n_in = 2, .in = { SH(2, 4, 5, 6), SH(4, 3, 3, 3) }, .shape = SH(2, 3, 5, 6), .win = { { 3, 3 }, { 1, 1 }, { 1, 1 }, { 1, 1 } },
      .groups = 1 },
    { .name = "conv2d_grad_input_stride2_dil2_groups2", .kind = T_CONV,
      .op = CLG_OP_CONV2D_GRAD_INPUT, .n_in = 2, .in = { SH(1, 6, 4, 4), SH(6, 2, 2, 3) },
      .shape = SH(1, 4, 7, 8), .win = { { 2, 3 }, { 2, 1 }, { 1, 0 }, { 2, 2 } }, .groups = 2 },
    { .name = "conv2d_grad_input_stride2_rounding", .kind = T_CONV,
      .op = CLG_OP_CONV2D_GRAD_INPUT, .n_in = 2, .in = { SH(1, 2, 3, 4), SH(2, 2, 3, 2) },
      .shape = SH(1, 2, 8, 7), .win = { { 3, 2 }, { 2, 2 }, { 0, 1 }, { 1, 1 } }, .groups = 1 },
    { .name = "conv2d_grad_weight_3x3_pad1", .kind = T_CONV, .op = CLG_OP_CONV2D_GRAD_WEIGHT,
      .n_in = 2, .in = { SH(2, 3, 5, 6), SH(2, 4, 5, 6) }, .win = { { 3, 3 }, { 1, 1 }, { 1, 1 }, { 1, 1 } }, .groups = 1 },
    { .name = "conv2d_grad_weight_stride2_dil2_groups2", .kind = T_CONV,
      .op = CLG_OP_CONV2D_GRAD_WEIGHT, .n_in = 2, .in = { SH(1, 4, 7, 8), SH(1, 6, 4, 4) },
      .win = { { 2, 3 }, { 2, 1 }, { 1, 0 }, { 2, 2 } }, .groups = 2 },
    { .name = "conv2d_grad_weight_depthwise_wstride3", .kind = T_CONV,
      .op = CLG_OP_CONV2D_GRAD_WEIGHT, .n_in = 2, .in = { SH(1, 3, 6, 11), SH(1, 3, 6, 4) },
      .win = { { 3, 3 }, { 1, 3 }, { 1, 2 }, { 1, 2 } }, .groups = 3 },

    /* random: bit-exact against clgrad/philox.h (checked itself against
     * Random123's known answers in test_gradcheck's dropout tests) */
    { .name = "rand_uniform_2x7", .kind = T_RAND, .n_in = 1, .in = { SH(2) }, .dt = { I32 },
      .shape = SH(2, 7), .classes = 3 },
    { .name = "rand_uniform_big", .kind = T_RAND, .n_in = 1, .in = { SH(2) }, .dt = { I32 },
      .shape = SH(3, 129, 65), .classes = 0x7fffffff },

    /* fan-out: one node feeding several ops */
    { .name = "fanout_x*x+exp(x)-x", .kind = T_COMPOSITE, .n_in = 1, .in = { SH(2, 3) },
      .variant = 0 },
    { .name = "fanout_mul_same_node", .kind = T_COMPOSITE, .n_in = 1, .in = { SH(3, 4) },
      .variant = 1 },
    { .name = "linear_tanh_chain", .kind = T_COMPOSITE, .n_in = 3,
      .in = { SH(4, 3), SH(5, 3), SH(5) }, .variant = 2 },
    { .name = "softmax_times_input", .kind = T_COMPOSITE, .n_in = 1, .in = { SH(3, 5) },
      .variant = 3 },

    /* batch norm's ops; a 2-D input, an image batch, a run not a multiple of 8 */
    { .name = "bn_stats_2d", .kind = T_BN, .n_in = 1, .in = { SH(6, 4) }, .variant = 0 },
    { .name = "bn_stats_image", .kind = T_BN, .n_in = 1, .in = { SH(3, 4, 5, 7) }, .variant = 0 },
    { .name = "bn_apply_given_stats", .kind = T_BN, .n_in = 4,
      .in = { SH(3, 4, 3, 3), SH(2, 4), SH(4), SH(4) }, .f = 1e-3f, .variant = 1 },
    { .name = "bn_apply_batch_stats", .kind = T_BN, .n_in = 3,
      .in = { SH(5, 3, 2, 9), SH(3), SH(3) }, .f = 1e-5f, .variant = 2 },
    { .name = "bn_apply_batch_stats_2d", .kind = T_BN, .n_in = 3,
      .in = { SH(7, 5), SH(5), SH(5) }, .f = 1e-5f, .variant = 2 },
    { .name = "bn_grad_sums_vjp", .kind = T_BN, .n_in = 4,
      .in = { SH(4, 3, 5, 3), SH(2, 3), SH(3), SH(4, 3, 5, 3) }, .f = 1e-3f, .variant = 3 },

    /* layer norm's rows: short, one not a multiple of 8, a long one */
    { .name = "ln_norm_rows", .kind = T_LN, .n_in = 1, .in = { SH(3, 4, 16) }, .f = 1e-5f },
    { .name = "ln_norm_odd", .kind = T_LN, .n_in = 1, .in = { SH(5, 13) }, .f = 1e-3f },
    { .name = "ln_norm_long", .kind = T_LN, .n_in = 1, .in = { SH(2, 1500) }, .f = 1e-5f,
      .no_grad = 1 },
    { .name = "ln_norm_grad_vjp", .kind = T_LN, .n_in = 2, .in = { SH(4, 3, 21), SH(4, 3, 21) },
      .f = 1e-5f, .variant = 1 },

    /* an LSTM's recurrence: a few steps, one step, a wider batch */
    { .name = "lstm_scan_h", .kind = T_LSTM, .n_in = 2, .in = { SH(3, 4, 20), SH(20, 5) } },
    { .name = "lstm_scan_one_step", .kind = T_LSTM, .n_in = 2, .in = { SH(2, 1, 12), SH(12, 3) } },
    { .name = "lstm_scan_planes", .kind = T_LSTM, .n_in = 2, .in = { SH(5, 3, 16), SH(16, 4) },
      .variant = 1 },
    { .name = "lstm_scan_grad_xw", .kind = T_LSTM, .n_in = 3,
      .in = { SH(4, 5, 24), SH(24, 6), SH(4, 5, 6) }, .variant = 2 },
    { .name = "lstm_scan_grad_w", .kind = T_LSTM, .n_in = 3,
      .in = { SH(4, 5, 24), SH(24, 6), SH(4, 5, 6) }, .variant = 3 },

    /* backward-only kernels through clg_grad */
    { .name = "gelu_grad_vjp", .kind = T_VJP, .op = CLG_OP_GELU, .n_in = 2,
      .in = { SH(2, 3, 4), SH(2, 3, 4) } },
    { .name = "gelu_tanh_grad_vjp", .kind = T_VJP, .op = CLG_OP_GELU_TANH, .n_in = 2,
      .in = { SH(2, 3, 4), SH(2, 3, 4) } },
    { .name = "pad_slice_vjp", .kind = T_VJP, .op = CLG_OP_SLICE, .n_in = 2,
      .in = { SH(4, 6), SH(4, 3) }, .axis = 1, .start = 1, .end = 4 },
    { .name = "cross_entropy_grad_vjp", .kind = T_VJP, .op = CLG_OP_CROSS_ENTROPY, .n_in = 3,
      .in = { SH(6, 5), SH(6), SH(6) }, .dt = { 0, 0, I32 }, .start = -100 },
};

const int tc_n_cases = (int)(sizeof(tc_cases) / sizeof(tc_cases[0]));

void tc_rng_seed(tc_rng *r, uint64_t seed)
{
    r->s = seed;
}

static uint64_t splitmix64(tc_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double tc_uniform(tc_rng *r)
{
    return (double)(splitmix64(r) >> 11) * (1.0 / 9007199254740992.0);
}

double tc_normal(tc_rng *r)
{
    double u1 = tc_uniform(r), u2 = tc_uniform(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

static int norm_axis(int axis, int ndim)
{
    return axis < 0 ? axis + ndim : axis;
}

static double draw(tc_gen gen, tc_rng *r)
{
    switch (gen) {
    case G_POS: return 0.5 + 1.5 * tc_uniform(r);
    case G_AWAY0: return (tc_uniform(r) < 0.5 ? -1 : 1) * (0.2 + 1.8 * tc_uniform(r));
    case G_GRID: return 0.5 * (double)((int)(tc_uniform(r) * 9) - 4);
    case G_WIDE: return 40.0 * tc_normal(r);
    case G_NORMAL:
    default: return tc_normal(r);
    }
}

static double draw_int(tc_rng *r, int64_t lo, int64_t hi) /* [lo, hi) */
{
    int64_t k = lo + (int64_t)(tc_uniform(r) * (double)(hi - lo));
    return (double)(k < hi ? k : hi - 1);
}

static void fill_input(const tc_case *c, int i, tc_rng *r, ref_t *t)
{
    int64_t n = ref_numel(&t->s);
    int nd0 = c->in[0].ndim;
    for (int64_t j = 0; j < n; j++) {
        double v;
        if (c->kind == T_WHERE && i == 0)
            v = tc_uniform(r) < 0.5 ? 0.0 : 1.0;
        else if (c->kind == T_GATHER && i == 1)
            v = draw_int(r, 0, c->in[0].dim[norm_axis(c->axis, nd0)]);
        else if (c->kind == T_ROWS && i == 1)
            v = draw_int(r, 0, c->variant ? c->shape.dim[0] : c->in[0].dim[0]);
        else if (c->kind == T_SCATTER && i == 1)
            v = draw_int(r, 0, c->shape.dim[norm_axis(c->axis, c->shape.ndim)]);
        else if (c->kind == T_ONE_HOT)
            v = draw_int(r, 0, c->classes);
        else if ((c->kind == T_XENT && i == 1) || (c->kind == T_VJP && i == 2))
            /* a class, or now and then the ignored value */
            v = tc_uniform(r) < 0.25 ? (double)c->start : draw_int(r, 0, c->in[0].dim[1]);
        else if (c->kind == T_BN && i == 1 && (c->variant == 1 || c->variant == 3) &&
                 j >= c->in[0].dim[1])
            v = 0.5 + 1.5 * tc_uniform(r); /* a variance */
        else if (c->dt[i] == CLG_I32)
            v = draw_int(r, -3, 4);
        else
            v = (double)(float)draw(c->gen, r);
        t->d[j] = v;
    }
}

/* maximum/minimum have a kink where the operands meet: keep them apart so
 * that finite differences see one smooth branch. */
static int operands_too_close(const ref_t *in)
{
    ref_t d;
    if (ref_binary(CLG_OP_SUB, &in[0], &in[1], &d))
        return 0;
    int close = 0;
    for (int64_t j = 0; j < ref_numel(&d.s); j++)
        if (fabs(d.d[j]) < 0.05)
            close = 1;
    ref_free(&d);
    return close;
}

void tc_gen_inputs(const tc_case *c, tc_rng *r, ref_t *in)
{
    for (int i = 0; i < c->n_in; i++)
        ref_alloc(&in[i], &c->in[i]);
    int smooth_minmax = c->kind == T_BINARY && c->gen != G_GRID &&
                        (c->op == CLG_OP_MAXIMUM || c->op == CLG_OP_MINIMUM);
    for (int tries = 0; tries < 1000; tries++) {
        for (int i = 0; i < c->n_in; i++)
            fill_input(c, i, r, &in[i]);
        if (!smooth_minmax || !operands_too_close(in))
            break;
    }
}

void tc_free_inputs(const tc_case *c, ref_t *in)
{
    for (int i = 0; i < c->n_in; i++)
        ref_free(&in[i]);
}

static clg_t build_unary(clg_graph *g, clg_op op, clg_t x)
{
    switch (op) {
    case CLG_OP_COPY: return clg_copy(g, x);
    case CLG_OP_NEG: return clg_neg(g, x);
    case CLG_OP_EXP: return clg_exp(g, x);
    case CLG_OP_LOG: return clg_log(g, x);
    case CLG_OP_SQRT: return clg_sqrt(g, x);
    case CLG_OP_RSQRT: return clg_rsqrt(g, x);
    case CLG_OP_ABS: return clg_abs(g, x);
    case CLG_OP_SIGN: return clg_sign(g, x);
    case CLG_OP_RELU: return clg_relu(g, x);
    case CLG_OP_SIGMOID: return clg_sigmoid(g, x);
    case CLG_OP_TANH: return clg_tanh(g, x);
    case CLG_OP_GELU: return clg_gelu(g, x, 0);
    case CLG_OP_GELU_TANH: return clg_gelu(g, x, 1);
    case CLG_OP_SOFTPLUS: return clg_softplus(g, x);
    case CLG_OP_ERF: return clg_erf(g, x);
    default: return CLG_NONE;
    }
}

static clg_t build_binary(clg_graph *g, clg_op op, clg_t a, clg_t b)
{
    switch (op) {
    case CLG_OP_ADD: return clg_add(g, a, b);
    case CLG_OP_SUB: return clg_sub(g, a, b);
    case CLG_OP_MUL: return clg_mul(g, a, b);
    case CLG_OP_DIV: return clg_div(g, a, b);
    case CLG_OP_MAXIMUM: return clg_maximum(g, a, b);
    case CLG_OP_MINIMUM: return clg_minimum(g, a, b);
    case CLG_OP_EQ: return clg_eq(g, a, b);
    case CLG_OP_NE: return clg_ne(g, a, b);
    case CLG_OP_LT: return clg_lt(g, a, b);
    case CLG_OP_LE: return clg_le(g, a, b);
    case CLG_OP_GT: return clg_gt(g, a, b);
    case CLG_OP_GE: return clg_ge(g, a, b);
    default: return CLG_NONE;
    }
}

clg_t tc_build(clg_graph *g, const tc_case *c, const clg_t *x)
{
    switch (c->kind) {
    case T_FULL: return clg_full(g, &c->shape, c->f);
    case T_SCALAR: return clg_scalar(g, c->f);
    case T_UNARY: return build_unary(g, c->op, x[0]);
    case T_UNARY_F:
        switch (c->op) {
        case CLG_OP_LEAKY_RELU: return clg_leaky_relu(g, x[0], c->f);
        case CLG_OP_ADD_SCALAR: return clg_add_scalar(g, x[0], c->f);
        case CLG_OP_MUL_SCALAR: return clg_mul_scalar(g, x[0], c->f);
        case CLG_OP_POW_SCALAR: return clg_pow_scalar(g, x[0], c->f);
        case CLG_OP_CLAMP: return clg_clamp(g, x[0], c->f, c->f2);
        default: return CLG_NONE;
        }
    case T_CAST: return clg_cast(g, x[0], c->to);
    case T_BINARY: return build_binary(g, c->op, x[0], x[1]);
    case T_WHERE: return clg_where(g, x[0], x[1], x[2]);
    case T_REDUCE:
        if (c->op == CLG_OP_SUM)
            return clg_sum(g, x[0], c->axes, c->naxes, c->keepdim);
        if (c->op == CLG_OP_MEAN)
            return clg_mean(g, x[0], c->axes, c->naxes, c->keepdim);
        return clg_max(g, x[0], c->axes, c->naxes, c->keepdim);
    case T_ARGMAX: return clg_argmax(g, x[0], c->axis, c->keepdim);
    case T_SOFTMAX:
        return c->op == CLG_OP_SOFTMAX ? clg_softmax(g, x[0], c->axis)
                                       : clg_log_softmax(g, x[0], c->axis);
    case T_MATMUL: return clg_matmul(g, x[0], x[1], c->ta, c->tb);
    case T_RESHAPE: return clg_reshape(g, x[0], &c->shape);
    case T_PERMUTE: return clg_permute(g, x[0], c->perm);
    case T_TRANSPOSE: return clg_transpose(g, x[0], c->axis, c->axis2);
    case T_EXPAND: return clg_expand(g, x[0], &c->shape);
    case T_SLICE: return clg_slice(g, x[0], c->axis, c->start, c->end);
    case T_CONCAT: return clg_concat(g, x, c->n_in, c->axis);
    case T_GATHER: return clg_gather(g, x[0], x[1], c->axis);
    case T_SCATTER: return clg_scatter_add(g, x[0], x[1], c->axis, &c->shape);
    case T_ROWS:
        return c->variant ? clg_index_add(g, x[0], x[1], c->shape.dim[0])
                          : clg_index_select(g, x[0], x[1]);
    case T_ONE_HOT: return clg_one_hot(g, x[0], c->classes);
    case T_RAND: return clg_rand_uniform(g, x[0], &c->shape, (uint32_t)c->classes);
    case T_IM2COL: return clg_im2col(g, x[0], &c->win, c->f);
    case T_COL2IM: return clg_col2im(g, x[0], &c->win, &c->shape);
    case T_POOL_INDEX: return clg_max_pool2d_index(g, x[0], &c->win);
    case T_CONV:
        return c->op == CLG_OP_CONV2D ? clg_conv2d_op(g, x[0], x[1], &c->win, c->groups)
               : c->op == CLG_OP_CONV2D_GRAD_INPUT
                   ? clg_conv2d_input(g, &c->shape, x[1], x[0], &c->win, c->groups)
                   : clg_conv2d_weight(g, x[0], x[1], &c->win, c->groups);
    case T_COMPOSITE:
        switch (c->variant) {
        case 0: /* x*x + exp(x) - x */
            return clg_sub(g, clg_add(g, clg_mul(g, x[0], x[0]), clg_exp(g, x[0])), x[0]);
        case 1: /* x * x with one node as both operands */
            return clg_mul(g, x[0], x[0]);
        case 2: /* tanh(x @ W^T + b) */
            return clg_tanh(g, clg_add(g, clg_matmul(g, x[0], x[1], 0, 1), x[2]));
        case 3: /* softmax(x, 1) * x */
            return clg_mul(g, clg_softmax(g, x[0], 1), x[0]);
        }
        return CLG_NONE;
    case T_BN:
        switch (c->variant) {
        case 0: return clg_bn_stats(g, x[0]);
        case 1: return clg_bn_apply(g, x[0], x[1], x[2], x[3], c->f);
        case 2: return clg_bn_apply(g, x[0], clg_bn_stats(g, x[0]), x[1], x[2], c->f);
        case 3: {
            clg_t zero = clg_full(g, &CLG_SHAPE(c->in[0].dim[1]), 0.0f), d = CLG_NONE;
            clg_t y = clg_bn_apply(g, x[0], x[1], x[2], zero, c->f);
            if (y == CLG_NONE || clg_grad(g, y, x[3], &x[1], 1, &d) != CLG_OK)
                return CLG_NONE;
            return d;
        }
        }
        return CLG_NONE;
    case T_LN: {
        clg_t y = clg_ln_norm(g, x[0], c->f), d = CLG_NONE;
        if (c->variant == 0 || y == CLG_NONE)
            return y;
        return clg_grad(g, y, x[1], &x[0], 1, &d) == CLG_OK ? d : CLG_NONE;
    }
    case T_XENT: return clg_cross_entropy(g, x[0], x[1], (int)c->start);
    case T_LSTM: {
        const clg_shape xs = c->in[0];
        clg_t y = clg_lstm_scan(g, x[0], x[1]), d = CLG_NONE;
        if (c->variant == 1 || y == CLG_NONE)
            return y;
        clg_t h = clg_reshape(g, clg_slice(g, clg_slice(g, y, 0, 0, 1), 2, 1, xs.dim[1] + 1),
                              &CLG_SHAPE(xs.dim[0], xs.dim[1], xs.dim[2] / 4));
        if (c->variant == 0)
            return h;
        return clg_grad(g, h, x[2], &x[c->variant - 2], 1, &d) == CLG_OK ? d : CLG_NONE;
    }
    case T_VJP: {
        clg_t y = c->op == CLG_OP_SLICE           ? clg_slice(g, x[0], c->axis, c->start, c->end)
                  : c->op == CLG_OP_CROSS_ENTROPY ? clg_cross_entropy(g, x[0], x[2], (int)c->start)
                                                  : clg_gelu(g, x[0], c->op == CLG_OP_GELU_TANH);
        clg_t grad = CLG_NONE;
        if (y == CLG_NONE || clg_grad(g, y, x[1], &x[0], 1, &grad) != CLG_OK)
            return CLG_NONE;
        return grad;
    }
    }
    return CLG_NONE;
}

static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

/* An LSTM's recurrence and its vjp by their definitions, in double (see
 * T_LSTM): forward step by step, backward through time. */
static int ref_lstm(const tc_case *c, const ref_t *in, ref_t *out)
{
    const int64_t n = in[0].s.dim[0], t = in[0].s.dim[1], h = in[1].s.dim[1], g4 = 4 * h;
    const double *xw = in[0].d, *w = in[1].d;
    const clg_shape ps = CLG_SHAPE(7, n, t + 1, h);
    ref_t y;
    if (ref_alloc(&y, &ps))
        return -1;
    /* step s at index s + 1; index 0 is the zero state */
#define P(p, r, s) (y.d + (((p) * n + (r)) * (t + 1) + (s) + 1) * h)
    for (int64_t r = 0; r < n; r++)
        for (int64_t s = 0; s < t; s++)
            for (int64_t j = 0; j < h; j++) {
                double a[4];
                for (int q = 0; q < 4; q++) {
                    a[q] = xw[(r * t + s) * g4 + q * h + j];
                    for (int64_t k = 0; s > 0 && k < h; k++)
                        a[q] += w[(q * h + j) * h + k] * P(0, r, s - 1)[k];
                }
                const double i = sigm(a[0]), f = sigm(a[1]), gg = tanh(a[2]), o = sigm(a[3]);
                const double cell = (s > 0 ? f * P(1, r, s - 1)[j] : 0.0) + i * gg;
                P(0, r, s)[j] = o * tanh(cell), P(1, r, s)[j] = cell, P(6, r, s)[j] = tanh(cell);
                P(2, r, s)[j] = i, P(3, r, s)[j] = f, P(4, r, s)[j] = gg, P(5, r, s)[j] = o;
            }
    if (c->variant < 2) {
        int rc = 0;
        if (c->variant == 1) {
            *out = y;
            return 0;
        }
        const clg_shape hs = CLG_SHAPE(n, t, h);
        if (!(rc = ref_alloc(out, &hs)))
            for (int64_t r = 0; r < n; r++)
                for (int64_t s = 0; s < t; s++)
                    for (int64_t j = 0; j < h; j++)
                        out->d[(r * t + s) * h + j] = P(0, r, s)[j];
        ref_free(&y);
        return rc;
    }
    /* backward: dh_s = seed_s + w_hh^T dgates_{s+1}; dc_s = dh_s o (1 - tanh^2 c)
     * + dc_{s+1} f_{s+1} */
    double *dx = calloc((size_t)(n * t * g4), sizeof *dx);
    double *dh = calloc((size_t)h, sizeof *dh), *dc = calloc((size_t)h, sizeof *dc);
    const clg_shape ws = in[1].s;
    if (!dx || !dh || !dc || ref_alloc(out, c->variant == 2 ? &in[0].s : &ws)) {
        free(dx), free(dh), free(dc), ref_free(&y);
        return -1;
    }
    for (int64_t r = 0; r < n; r++) {
        for (int64_t j = 0; j < h; j++)
            dc[j] = 0.0;
        for (int64_t s = t - 1; s >= 0; s--) {
            double *dg = dx + (r * t + s) * g4;
            for (int64_t j = 0; j < h; j++)
                dh[j] = in[2].d[(r * t + s) * h + j];
            if (s + 1 < t) {
                const double *dn = dx + (r * t + s + 1) * g4;
                for (int64_t j = 0; j < h; j++)
                    for (int64_t k = 0; k < g4; k++)
                        dh[j] += dn[k] * w[k * h + j];
            }
            for (int64_t j = 0; j < h; j++) {
                const double cell = P(1, r, s)[j], tc = tanh(cell);
                const double i = P(2, r, s)[j], f = P(3, r, s)[j], gg = P(4, r, s)[j],
                             o = P(5, r, s)[j];
                const double cp = s > 0 ? P(1, r, s - 1)[j] : 0.0;
                const double dcell = dh[j] * o * (1.0 - tc * tc) + dc[j];
                dg[j] = dcell * gg * i * (1.0 - i);
                dg[h + j] = dcell * cp * f * (1.0 - f);
                dg[2 * h + j] = dcell * i * (1.0 - gg * gg);
                dg[3 * h + j] = dh[j] * tc * o * (1.0 - o);
                dc[j] = dcell * f;
            }
        }
    }
    if (c->variant == 2) {
        for (int64_t k = 0; k < n * t * g4; k++)
            out->d[k] = dx[k];
    } else { /* d w_hh[q, k] = sum over rows and steps of dgates[q] h_{s-1}[k] */
        for (int64_t r = 0; r < n; r++)
            for (int64_t s = 1; s < t; s++)
                for (int64_t q = 0; q < g4; q++)
                    for (int64_t k = 0; k < h; k++)
                        out->d[q * h + k] += dx[(r * t + s) * g4 + q] * P(0, r, s - 1)[k];
    }
#undef P
    free(dx), free(dh), free(dc), ref_free(&y);
    return 0;
}

/* Batch norm's ops by their definitions, in double (see T_BN). */
static int ref_bn(const tc_case *c, const ref_t *in, ref_t *out)
{
    const clg_shape *s = &in[0].s;
    const int64_t ch = s->dim[1], total = ref_numel(s), per = total / ch;
    int64_t inner = 1;
    for (int d = 2; d < s->ndim; d++)
        inner *= s->dim[d];
    double *st = calloc((size_t)(2 * ch), sizeof *st);
    if (!st)
        return -1;
    if (c->variant == 0 || c->variant == 2) {
        for (int64_t e = 0; e < total; e++)
            st[(e / inner) % ch] += in[0].d[e] / (double)per;
        for (int64_t e = 0; e < total; e++) {
            const double dv = in[0].d[e] - st[(e / inner) % ch];
            st[ch + (e / inner) % ch] += dv * dv / (double)per;
        }
    } else {
        for (int64_t k = 0; k < 2 * ch; k++)
            st[k] = in[1].d[k];
    }
    int rc = -1;
    if (c->variant == 0) {
        if (ref_alloc(out, &CLG_SHAPE(2, ch)) == 0) {
            for (int64_t k = 0; k < 2 * ch; k++)
                out->d[k] = st[k];
            rc = 0;
        }
    } else if (c->variant == 1 || c->variant == 2) {
        const ref_t *w = &in[c->variant == 1 ? 2 : 1], *b = &in[c->variant == 1 ? 3 : 2];
        if (ref_alloc(out, s) == 0) {
            for (int64_t e = 0; e < total; e++) {
                const int64_t k = (e / inner) % ch;
                out->d[e] = (in[0].d[e] - st[k]) / sqrt(st[ch + k] + (double)c->f) * w->d[k] +
                            b->d[k];
            }
            rc = 0;
        }
    } else if (ref_alloc(out, &CLG_SHAPE(2, ch)) == 0) {
        /* y = (x - m) w / sqrt(v + eps): dy/dm = -w / sqrt(v + eps),
         * dy/dv = -(x - m) w (v + eps)^-3/2 / 2, summed against the seed */
        for (int64_t e = 0; e < total; e++) {
            const int64_t k = (e / inner) % ch;
            const double inv = 1.0 / sqrt(st[ch + k] + (double)c->f), g = in[3].d[e];
            out->d[k] -= g * in[2].d[k] * inv;
            out->d[ch + k] -= 0.5 * g * (in[0].d[e] - st[k]) * in[2].d[k] * inv * inv * inv;
        }
        rc = 0;
    }
    free(st);
    return rc;
}

/* Convolution by its definition, in double, one loop nest for the three
 * ops: y[n, o, oi, oj] = sum over the group's channels ci and the kernel of
 * x[n, g*C/G + ci, oi*SH - PH + ki*DH, oj*SW - PW + kj*DW] w[o, ci, ki, kj]
 * (zero outside the image); the gradients scatter the same products. */
static int ref_conv2d(const tc_case *c, const ref_t *in, ref_t *out)
{
    const clg_window2d *w = &c->win;
    const int gi = c->op == CLG_OP_CONV2D_GRAD_INPUT, gw = c->op == CLG_OP_CONV2D_GRAD_WEIGHT;
    const clg_shape xs = gi ? c->shape : in[0].s;
    const clg_shape dys = gi ? in[0].s : in[1].s; /* y's shape, for the gradients */
    const int64_t o_ch = gw ? dys.dim[1] : in[1].s.dim[0], groups = c->groups;
    const int64_t cg = xs.dim[1] / groups, og = o_ch / groups;
    const clg_shape ws = CLG_SHAPE(o_ch, cg, w->kernel[0], w->kernel[1]);
    int64_t od[2];
    if (!clg_window2d_out(w, xs.dim[2], xs.dim[3], od, NULL, 0))
        return -1;
    const clg_shape ys = CLG_SHAPE(xs.dim[0], o_ch, od[0], od[1]);
    if (ref_alloc(out, gi ? &xs : gw ? &ws : &ys))
        return -1;
    for (int64_t i = 0; i < ref_numel(&out->s); i++)
        out->d[i] = 0;
    const double *X = gi ? NULL : in[0].d, *Wt = gw ? NULL : in[1].d;
    const double *Y = gi ? in[0].d : gw ? in[1].d : NULL;
    for (int64_t n = 0; n < xs.dim[0]; n++)
        for (int64_t o = 0; o < o_ch; o++)
            for (int64_t ci = 0; ci < cg; ci++)
                for (int ki = 0; ki < w->kernel[0]; ki++)
                    for (int kj = 0; kj < w->kernel[1]; kj++)
                        for (int64_t oi = 0; oi < od[0]; oi++)
                            for (int64_t oj = 0; oj < od[1]; oj++) {
                                int64_t ii = oi * w->stride[0] - w->pad[0] + ki * w->dilation[0];
                                int64_t jj = oj * w->stride[1] - w->pad[1] + kj * w->dilation[1];
                                if (ii < 0 || ii >= xs.dim[2] || jj < 0 || jj >= xs.dim[3])
                                    continue;
                                int64_t ch = (o / og) * cg + ci;
                                int64_t xi = ((n * xs.dim[1] + ch) * xs.dim[2] + ii) * xs.dim[3] + jj;
                                int64_t wi = ((o * cg + ci) * w->kernel[0] + ki) * w->kernel[1] + kj;
                                int64_t yi = ((n * o_ch + o) * od[0] + oi) * od[1] + oj;
                                if (gi)
                                    out->d[xi] += Y[yi] * Wt[wi];
                                else if (gw)
                                    out->d[wi] += X[xi] * Y[yi];
                                else
                                    out->d[yi] += X[xi] * Wt[wi];
                            }
    return 0;
}

int tc_ref(const tc_case *c, const ref_t *in, ref_t *out, clg_dtype *dt)
{
    int nd = c->n_in > 0 ? in[0].s.ndim : 0;
    *dt = CLG_F32;
    switch (c->kind) {
    case T_FULL:
    case T_SCALAR: {
        clg_shape s = c->kind == T_FULL ? c->shape : (clg_shape){ 0 };
        if (ref_alloc(out, &s))
            return -1;
        for (int64_t i = 0; i < ref_numel(&s); i++)
            out->d[i] = (double)c->f;
        return 0;
    }
    case T_UNARY:
        *dt = c->dt[0];
        return ref_unary(c->op, 0, &in[0], out);
    case T_UNARY_F:
        if (c->op == CLG_OP_CLAMP) { /* min(max(x, lo), hi), in double */
            if (ref_unary(CLG_OP_ADD_SCALAR, 0.0, &in[0], out))
                return -1;
            for (int64_t i = 0; i < ref_numel(&out->s); i++)
                out->d[i] = fmin(fmax(out->d[i], (double)c->f), (double)c->f2);
            return 0;
        }
        return ref_unary(c->op, (double)c->f, &in[0], out);
    case T_CAST:
        *dt = c->to;
        return ref_unary(CLG_OP_CAST, c->to == CLG_I32, &in[0], out);
    case T_BINARY: return ref_binary(c->op, &in[0], &in[1], out);
    case T_WHERE: return ref_where(&in[0], &in[1], &in[2], out);
    case T_REDUCE: {
        uint32_t axes = 0;
        for (int i = 0; i < c->naxes; i++)
            axes |= 1u << norm_axis(c->axes[i], nd);
        return ref_reduce(c->op, &in[0], axes, c->keepdim, out);
    }
    case T_ARGMAX:
        *dt = CLG_I32;
        return ref_argmax(&in[0], norm_axis(c->axis, nd), c->keepdim, out);
    case T_SOFTMAX:
        return ref_softmax(&in[0], norm_axis(c->axis, nd), c->op == CLG_OP_LOG_SOFTMAX, out);
    case T_MATMUL: return ref_matmul(&in[0], &in[1], c->ta, c->tb, out);
    case T_RESHAPE:
        *dt = c->dt[0];
        return ref_reshape(&in[0], &c->shape, out);
    case T_PERMUTE:
        *dt = c->dt[0];
        return ref_permute(&in[0], c->perm, out);
    case T_TRANSPOSE: {
        int perm[CLG_MAX_DIMS];
        for (int i = 0; i < nd; i++)
            perm[i] = i;
        int a = norm_axis(c->axis, nd), b = norm_axis(c->axis2, nd);
        perm[a] = b;
        perm[b] = a;
        *dt = c->dt[0];
        return ref_permute(&in[0], perm, out);
    }
    case T_EXPAND:
        *dt = c->dt[0];
        return ref_expand(&in[0], &c->shape, out);
    case T_SLICE:
        *dt = c->dt[0];
        return ref_slice(&in[0], norm_axis(c->axis, nd), c->start, c->end, out);
    case T_CONCAT:
        *dt = c->dt[0];
        return ref_concat(in, c->n_in, norm_axis(c->axis, nd), out);
    case T_GATHER:
        *dt = c->dt[0];
        return ref_gather(&in[0], &in[1], norm_axis(c->axis, nd), out);
    case T_SCATTER:
        return ref_scatter_add(&in[0], &in[1], norm_axis(c->axis, c->shape.ndim), &c->shape, out);
    case T_ROWS: { /* out[k] = table[ids[k]], or out[ids[k]] += src[k] */
        const int64_t d = in[0].s.dim[1], n = in[1].s.dim[0];
        const clg_shape os = c->variant ? CLG_SHAPE(c->shape.dim[0], d) : CLG_SHAPE(n, d);
        if (ref_alloc(out, &os))
            return -1;
        for (int64_t k = 0; k < n; k++)
            for (int64_t j = 0; j < d; j++) {
                const int64_t id = (int64_t)in[1].d[k];
                if (c->variant)
                    out->d[id * d + j] += in[0].d[k * d + j];
                else
                    out->d[k * d + j] = in[0].d[id * d + j];
            }
        return 0;
    }
    case T_ONE_HOT: return ref_one_hot(&in[0], c->classes, out);
    case T_RAND:
        if (ref_alloc(out, &c->shape))
            return -1;
        for (int64_t i = 0; i < ref_numel(&c->shape); i++)
            out->d[i] = clg_philox_uniform((uint32_t)(int32_t)in[0].d[0], (uint32_t)c->classes,
                                           (uint32_t)(int32_t)in[0].d[1], (uint64_t)i);
        return 0;
    case T_IM2COL:
    case T_COL2IM: {
        /* the definition, in double: cols[n, (c*KH + ki)*KW + kj, oi*OW + oj] =
         * img[n, c, oi*SH - PH + ki*DH, oj*SW - PW + kj*DW] (pad value outside);
         * col2im sums every column into the pixel it reads */
        const clg_window2d *w = &c->win;
        const clg_shape img = c->kind == T_IM2COL ? in[0].s : c->shape;
        int64_t o[2];
        if (!clg_window2d_out(w, img.dim[2], img.dim[3], o, NULL, 0))
            return -1;
        clg_shape cs = CLG_SHAPE(img.dim[0], img.dim[1] * w->kernel[0] * w->kernel[1], o[0] * o[1]);
        if (ref_alloc(out, c->kind == T_IM2COL ? &cs : &img))
            return -1;
        for (int64_t i = 0; i < ref_numel(&out->s); i++)
            out->d[i] = 0;
        for (int64_t n = 0; n < img.dim[0]; n++)
            for (int64_t ch = 0; ch < img.dim[1]; ch++)
                for (int ki = 0; ki < w->kernel[0]; ki++)
                    for (int kj = 0; kj < w->kernel[1]; kj++)
                        for (int64_t oi = 0; oi < o[0]; oi++)
                            for (int64_t oj = 0; oj < o[1]; oj++) {
                                int64_t ii = oi * w->stride[0] - w->pad[0] + ki * w->dilation[0];
                                int64_t jj = oj * w->stride[1] - w->pad[1] + kj * w->dilation[1];
                                int inside = ii >= 0 && ii < img.dim[2] && jj >= 0 && jj < img.dim[3];
                                int64_t ci = ((n * cs.dim[1]) + (ch * w->kernel[0] + ki) * w->kernel[1] + kj) *
                                                 cs.dim[2] + oi * o[1] + oj;
                                int64_t pi = ((n * img.dim[1] + ch) * img.dim[2] + ii) * img.dim[3] + jj;
                                if (c->kind == T_IM2COL)
                                    out->d[ci] = inside ? in[0].d[pi] : (double)c->f;
                                else if (inside)
                                    out->d[pi] += in[0].d[ci];
                            }
        return 0;
    }
    case T_POOL_INDEX: {
        /* torch's max_pool2d_with_indices: each window's first maximum in
         * window order (rows, then columns), as h * W + w in its plane */
        const clg_window2d *w = &c->win;
        const clg_shape *img = &in[0].s;
        int64_t o[2];
        if (!clg_window2d_out(w, img->dim[2], img->dim[3], o, NULL, 0))
            return -1;
        clg_shape os = CLG_SHAPE(img->dim[0], img->dim[1], o[0], o[1]);
        if (ref_alloc(out, &os))
            return -1;
        *dt = CLG_I32;
        const int64_t hw = img->dim[2] * img->dim[3];
        for (int64_t pl = 0; pl < img->dim[0] * img->dim[1]; pl++)
            for (int64_t oi = 0; oi < o[0]; oi++)
                for (int64_t oj = 0; oj < o[1]; oj++) {
                    int64_t best = -1;
                    for (int ki = 0; ki < w->kernel[0]; ki++)
                        for (int kj = 0; kj < w->kernel[1]; kj++) {
                            int64_t ii = oi * w->stride[0] - w->pad[0] + ki * w->dilation[0];
                            int64_t jj = oj * w->stride[1] - w->pad[1] + kj * w->dilation[1];
                            if (ii < 0 || ii >= img->dim[2] || jj < 0 || jj >= img->dim[3])
                                continue;
                            int64_t at = ii * img->dim[3] + jj;
                            if (best < 0 || in[0].d[pl * hw + at] > in[0].d[pl * hw + best])
                                best = at;
                        }
                    out->d[(pl * o[0] + oi) * o[1] + oj] = (double)best;
                }
        return 0;
    }
    case T_CONV:
        return ref_conv2d(c, in, out);
    case T_COMPOSITE: {
        ref_t t1, t2, t3;
        int rc = -1;
        switch (c->variant) {
        case 0:
            if (ref_binary(CLG_OP_MUL, &in[0], &in[0], &t1) == 0) {
                if (ref_unary(CLG_OP_EXP, 0, &in[0], &t2) == 0) {
                    if (ref_binary(CLG_OP_ADD, &t1, &t2, &t3) == 0) {
                        rc = ref_binary(CLG_OP_SUB, &t3, &in[0], out);
                        ref_free(&t3);
                    }
                    ref_free(&t2);
                }
                ref_free(&t1);
            }
            return rc;
        case 1: return ref_binary(CLG_OP_MUL, &in[0], &in[0], out);
        case 2:
            if (ref_matmul(&in[0], &in[1], 0, 1, &t1) == 0) {
                if (ref_binary(CLG_OP_ADD, &t1, &in[2], &t2) == 0) {
                    rc = ref_unary(CLG_OP_TANH, 0, &t2, out);
                    ref_free(&t2);
                }
                ref_free(&t1);
            }
            return rc;
        case 3:
            if (ref_softmax(&in[0], 1, 0, &t1) == 0) {
                rc = ref_binary(CLG_OP_MUL, &t1, &in[0], out);
                ref_free(&t1);
            }
            return rc;
        }
        return -1;
    }
    case T_BN:
        return ref_bn(c, in, out);
    case T_LSTM:
        return ref_lstm(c, in, out);
    case T_LN: {
        /* per row: xhat = (x - mean) / sqrt(var + eps); its vjp
         * (G - mean(G) - xhat mean(G xhat)) / sqrt(var + eps) */
        const int64_t d = in[0].s.dim[in[0].s.ndim - 1], rows = ref_numel(&in[0].s) / d;
        if (ref_alloc(out, &in[0].s))
            return -1;
        for (int64_t r = 0; r < rows; r++) {
            const double *xr = in[0].d + r * d;
            double m = 0, v = 0, a = 0, b = 0;
            for (int64_t j = 0; j < d; j++)
                m += xr[j] / (double)d;
            for (int64_t j = 0; j < d; j++)
                v += (xr[j] - m) * (xr[j] - m) / (double)d;
            const double rs = 1.0 / sqrt(v + (double)c->f);
            if (c->variant == 1)
                for (int64_t j = 0; j < d; j++) {
                    a += in[1].d[r * d + j] / (double)d;
                    b += in[1].d[r * d + j] * (xr[j] - m) * rs / (double)d;
                }
            for (int64_t j = 0; j < d; j++) {
                const double xh = (xr[j] - m) * rs;
                out->d[r * d + j] = c->variant == 0 ? xh : rs * (in[1].d[r * d + j] - a - xh * b);
            }
        }
        return 0;
    }
    case T_XENT:
    case T_VJP:
        if (c->op == CLG_OP_SLICE)
            return ref_pad(&in[1], norm_axis(c->axis, nd), c->start, &in[0].s, out);
        if (c->kind == T_XENT || c->op == CLG_OP_CROSS_ENTROPY) {
            /* -log softmax(x)[n, t] per row; its vjp (softmax - one_hot) * G */
            const ref_t *t = c->kind == T_XENT ? &in[1] : &in[2];
            int64_t rows = in[0].s.dim[0], cls = in[0].s.dim[1];
            clg_shape os = c->kind == T_XENT ? CLG_SHAPE(rows) : in[0].s;
            if (ref_alloc(out, &os))
                return -1;
            for (int64_t n = 0; n < rows; n++) {
                const double *xr = in[0].d + n * cls;
                double m = xr[0], sum = 0;
                for (int64_t k = 1; k < cls; k++)
                    m = xr[k] > m ? xr[k] : m;
                for (int64_t k = 0; k < cls; k++)
                    sum += exp(xr[k] - m);
                int ignored = (int64_t)t->d[n] == c->start;
                int64_t tn = (int64_t)t->d[n];
                if (c->kind == T_XENT) {
                    out->d[n] = ignored ? 0.0 : -(xr[tn] - m - log(sum));
                    continue;
                }
                for (int64_t k = 0; k < cls; k++)
                    out->d[n * cls + k] =
                        ignored ? 0.0 : (exp(xr[k] - m) / sum - (k == tn)) * in[1].d[n];
            }
            return 0;
        }
        if (ref_unary(c->op == CLG_OP_GELU ? CLG_OP_GELU_GRAD : CLG_OP_GELU_TANH_GRAD, 0,
                      &in[0], out))
            return -1;
        for (int64_t i = 0; i < ref_numel(&out->s); i++)
            out->d[i] *= in[1].d[i];
        return 0;
    }
    return -1;
}

unsigned tc_grad_inputs(const tc_case *c)
{
    if (c->gen == G_GRID || c->no_grad)
        return 0; /* ties on purpose: not differentiable there; or too large */
    for (int i = 0; i < c->n_in; i++)
        if (c->dt[i] != CLG_F32 &&
            !((c->kind == T_GATHER || c->kind == T_SCATTER || c->kind == T_XENT ||
               c->kind == T_ROWS) && i == 1))
            return 0;
    switch (c->kind) {
    case T_FULL:
    case T_SCALAR:
    case T_CAST:
    case T_ARGMAX:
    case T_POOL_INDEX:
    case T_ONE_HOT:
    case T_RAND:
    case T_VJP:
        return 0;
    case T_UNARY:
        return c->op == CLG_OP_SIGN ? 0 : 1;
    case T_BINARY:
        return c->op >= CLG_OP_EQ ? 0 : 3;
    case T_WHERE: return 6;
    case T_GATHER:
    case T_SCATTER:
    case T_XENT:
    case T_ROWS:
        return 1;
    case T_BN:
        return c->variant == 0 ? 1u : c->variant == 1 ? 0xfu : c->variant == 2 ? 7u : 0u;
    case T_LN:
        return c->variant == 0 ? 1u : 0u;
    case T_LSTM:
        return c->variant == 0 ? 3u : 0u;
    default:
        return (1u << c->n_in) - 1;
    }
}

tc_tol tc_tolerance(const tc_case *c)
{
    switch (c->kind) {
    case T_FULL: case T_SCALAR: case T_CAST: case T_WHERE: case T_ARGMAX:
    case T_RESHAPE: case T_PERMUTE: case T_TRANSPOSE: case T_EXPAND:
    case T_SLICE: case T_CONCAT: case T_GATHER: case T_ONE_HOT: case T_RAND: case T_IM2COL:
    case T_POOL_INDEX:
        return TOL_EXACT;
    case T_UNARY:
        switch (c->op) {
        case CLG_OP_COPY: case CLG_OP_NEG: case CLG_OP_ABS: case CLG_OP_SIGN: case CLG_OP_RELU:
            return TOL_EXACT;
        default:
            return TOL_TRANS;
        }
    case T_UNARY_F:
        return c->op == CLG_OP_POW_SCALAR ? TOL_TRANS : TOL_ELEM;
    case T_BINARY:
        return c->op >= CLG_OP_MAXIMUM ? TOL_EXACT : TOL_ELEM;
    case T_VJP:
        return c->op == CLG_OP_SLICE ? TOL_EXACT : TOL_TRANS;
    case T_REDUCE: case T_SOFTMAX: case T_MATMUL: case T_SCATTER: case T_COMPOSITE: case T_COL2IM:
    case T_XENT: case T_BN: case T_LN: case T_CONV: case T_LSTM:
        return TOL_REDUCE;
    case T_ROWS:
        return c->variant ? TOL_REDUCE : TOL_EXACT;
    }
    return TOL_REDUCE;
}
