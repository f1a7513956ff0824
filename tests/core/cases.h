/* The op cases shared by the conformance and gradcheck suites: one table,
 * a builder that expresses a case through the public graph API, and the
 * same case computed by the double-precision reference (ref.c). */
#ifndef CLG_TEST_CASES_H
#define CLG_TEST_CASES_H

#include <clgrad/clgrad.h>

#include "ref.h"

typedef enum tc_kind {
    T_FULL,     /* clg_full(shape, f) */
    T_SCALAR,   /* clg_scalar(f) */
    T_UNARY,    /* op: COPY, NEG..TANH, SOFTPLUS, GELU, GELU_TANH, ERF */
    T_UNARY_F,  /* op: LEAKY_RELU, ADD_SCALAR, MUL_SCALAR, POW_SCALAR with f; CLAMP [f, f2] */
    T_CAST,     /* to */
    T_BINARY,   /* op: ADD..GE */
    T_WHERE,
    T_REDUCE,   /* op: SUM, MEAN, MAX over axes/naxes, keepdim */
    T_ARGMAX,   /* axis, keepdim */
    T_SOFTMAX,  /* op: SOFTMAX or LOG_SOFTMAX, axis */
    T_MATMUL,   /* ta, tb */
    T_RESHAPE,  /* shape */
    T_PERMUTE,  /* perm */
    T_TRANSPOSE,/* axis, axis2 */
    T_EXPAND,   /* shape */
    T_SLICE,    /* axis, start, end */
    T_CONCAT,   /* n_in inputs, axis */
    T_GATHER,   /* axis */
    T_SCATTER,  /* axis, shape */
    T_ONE_HOT,  /* classes */
    T_RAND,     /* rand_uniform of `shape` from the i32 [2] state in[0]; stream = classes */
    T_IM2COL,   /* win, pad value f */
    T_COL2IM,   /* win, image shape `shape` */
    T_POOL_INDEX, /* max_pool2d_index, win */
    /* batch norm's ops (eps f), by variant: 0 bn_stats(x); 1 bn_apply(x, stats,
     * w, b); 2 bn_apply(x, bn_stats(x), w, b), the layer in training; 3 the
     * vjp of case 1 with seed in[3] (b = 0) on the stats, bn_grad_sums' user */
    T_BN,
    /* layer norm's core (eps f): variant 0 ln_norm(x); 1 its vjp at in[0]
     * with seed in[1], ln_norm_grad's user */
    T_LN,
    /* an LSTM's recurrence, xw in[0] [N, T, 4H] and w_hh in[1] [4H, H], by
     * variant: 0 lstm_scan's plane h at steps 1..T as [N, T, H]; 1 all its planes; 2 and 3
     * the vjp of variant 0 with seed in[2] at xw (lstm_scan_grad's user) and
     * at w_hh */
    T_LSTM,
    /* rows of a table: variant 0 index_select(in[0] [V, D], ids in[1] [n]); 1
     * index_add(in[0] [n, D], ids in[1], rows shape.dim[0]) */
    T_ROWS,
    T_XENT,     /* cross_entropy of logits in[0] [N, C], targets in[1] [N]; ignore = start */
    T_CONV,     /* op: CONV2D (x, w), CONV2D_GRAD_INPUT (dy, w; input shape `shape`) or
                 * CONV2D_GRAD_WEIGHT (x, dy); win, groups */
    /* The backward-only kernels (GELU_GRAD, GELU_TANH_GRAD, PAD) reached
     * through clg_grad: out = vjp of op at in[0] with seed in[1]. op: GELU,
     * GELU_TANH or SLICE (then axis/start/end), or CROSS_ENTROPY (targets
     * in[2], ignore = start). */
    T_VJP,
    /* Small expressions whose gradient needs accumulation over several uses
     * of one node, selected by `variant` (see tc_build). */
    T_COMPOSITE
} tc_kind;

/* How a case's f32 data inputs are drawn. Index and mask inputs are drawn
 * from their valid range whatever this says. */
typedef enum tc_gen {
    G_NORMAL = 0, /* N(0, 1) */
    G_POS,        /* U[0.5, 2]: log, sqrt, rsqrt, fractional powers */
    G_AWAY0,      /* +-U[0.2, 2]: kinks at 0 (relu, abs, sign) and divisors */
    G_GRID,       /* multiples of 0.5 in [-2, 2]: deliberate ties */
    G_WIDE        /* N(0, 40^2): overflow of naive exp-based formulas */
} tc_gen;

typedef struct tc_case {
    const char *name;
    tc_kind kind;
    clg_op op;
    int n_in;
    clg_shape in[4];
    clg_dtype dt[4];
    tc_gen gen;
    float f, f2; /* f2: CLAMP's upper bound */
    int axes[CLG_MAX_DIMS], naxes, keepdim;
    int axis, axis2;
    int ta, tb;
    int perm[CLG_MAX_DIMS];
    int64_t start, end, classes;
    clg_shape shape;
    clg_dtype to;
    int variant;
    int no_grad; /* forward only: too large for finite differences */
    clg_window2d win;
    int groups; /* T_CONV */
} tc_case;

extern const tc_case tc_cases[];
extern const int tc_n_cases;

/* The tests' own random numbers (splitmix64), so that input data does not
 * depend on the library under test. */
typedef struct tc_rng { uint64_t s; } tc_rng;
void tc_rng_seed(tc_rng *r, uint64_t seed);
double tc_uniform(tc_rng *r); /* [0, 1) */
double tc_normal(tc_rng *r);  /* N(0, 1) */

/* Draws the inputs of c (allocated; free with tc_free_inputs). Values are
 * exactly representable in f32/i32, so host and device see the same data. */
void tc_gen_inputs(const tc_case *c, tc_rng *r, ref_t *in);
void tc_free_inputs(const tc_case *c, ref_t *in);

/* The case through the public API on inputs x[0..n_in). */
clg_t tc_build(clg_graph *g, const tc_case *c, const clg_t *x);

/* The case by the reference; *dt gets the expected output dtype. */
int tc_ref(const tc_case *c, const ref_t *in, ref_t *out, clg_dtype *dt);

/* Bit i set: input i is differentiable in this case; 0: not a gradcheck case. */
unsigned tc_grad_inputs(const tc_case *c);

/* Tolerance class of the case's output. */
typedef enum tc_tol { TOL_EXACT, TOL_ELEM, TOL_TRANS, TOL_REDUCE } tc_tol;
tc_tol tc_tolerance(const tc_case *c);

#endif
