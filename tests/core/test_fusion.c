/* Elementwise fusion and the kernel count. The reference for every fused
 * plan is the naive plan of the same graph (no_reuse: no fusion, one
 * buffer per node), and the two must agree bit for bit: random elementwise
 * graphs with broadcast scalars, views and readers outside the chains, the
 * same with per-channel and row operands over [N, C, H, W], the same with
 * slices read where they lie (windows; an LSTM step is two kernels), and
 * optimizer steps through the trainer (SGD momentum, Nesterov, Adam, AdamW,
 * AMSGrad), parameters and optimizer state included. On a backend that runs
 * fused ops (cpu, opencl) an Adam step must also launch fewer kernels; on
 * one that does not nothing is fused and the results are the same. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clgrad/train.h>

#include "cases.h"
#include "tutil.h"

static clg_plan *compile(clg_graph *g, const clg_t *outs, int n, int no_reuse)
{
    clg_compile_opts opts = { .no_reuse = no_reuse };
    clg_plan *p = NULL;
    clg_status st = clg_compile(g, tu_device(), outs, n, &opts, &p);
    ck_assert_msg(st == CLG_OK, "compile (no_reuse=%d) on %s: %s", no_reuse, tu_backend,
                  clg_ctx_error(tu_ctx()));
    return p;
}

static clg_plan_usage usage(const clg_plan *p)
{
    clg_plan_usage u;
    ck_assert_int_eq(clg_plan_usage_get(p, &u), CLG_OK);
    return u;
}

/* Outputs outs[0..n) of ps[0] (fused) and ps[1] (unfused), numel floats
 * each, agree bit for bit, and the fused plan runs no more kernels (nor,
 * with bytes_too, needs more device memory); frees both plans and returns
 * the fused ops. */
static int same_bits_then_free(clg_plan *ps[2], const clg_t *outs, int n, int64_t numel,
                               int seed, int bytes_too)
{
    float *a = malloc((size_t)numel * sizeof *a), *b = malloc((size_t)numel * sizeof *b);
    ck_assert(a && b);
    for (int o = 0; o < n; o++) {
        ck_assert_int_eq(clg_plan_read(ps[0], outs[o], a, (size_t)numel * sizeof *a), CLG_OK);
        ck_assert_int_eq(clg_plan_read(ps[1], outs[o], b, (size_t)numel * sizeof *b), CLG_OK);
        for (int64_t e = 0; e < numel; e++)
            ck_assert_msg(memcmp(&a[e], &b[e], sizeof(float)) == 0,
                          "seed %d output %d element %lld: fused %.9g, unfused %.9g", seed, o,
                          (long long)e, a[e], b[e]);
    }
    free(a);
    free(b);
    clg_plan_usage uf = usage(ps[0]), un = usage(ps[1]);
    ck_assert_int_le(uf.kernels_last_run, un.kernels_last_run);
    if (bytes_too)
        ck_assert_uint_le(uf.device_bytes, un.device_bytes);
    clg_plan_free(ps[0]);
    clg_plan_free(ps[1]);
    return uf.fused_ops;
}

/* The in-tree backends run fused ops; any other (minimal.c) gets the ops. */
static int fuses(void)
{
    return strcmp(tu_backend, "cpu") == 0 || strcmp(tu_backend, "opencl") == 0;
}

/* ---------------------------------------------------------- the count */

/* Unfused, every op is one kernel and so is every assignment's copy; the
 * count is -1 before a run. */
START_TEST(test_count_unfused)
{
    clg_graph *g = clg_graph_new(tu_ctx());
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(4, 3));
    clg_t w = clg_input(g, "w", CLG_F32, &CLG_SHAPE(3, 2));
    clg_t y = clg_tanh(g, clg_matmul(g, clg_exp(g, x), w, 0, 0));
    clg_t l = clg_sum(g, y, NULL, 0, 0);
    ck_assert_msg(l != CLG_NONE, "%s", clg_graph_error(g));
    clg_plan *p = compile(g, &l, 1, 1);
    ck_assert_int_eq(usage(p).kernels_last_run, -1);
    float xs[12] = { 0 }, ws[6] = { 0 };
    ck_assert_int_eq(clg_plan_set_input(p, "x", xs, sizeof xs), CLG_OK);
    ck_assert_int_eq(clg_plan_set_input(p, "w", ws, sizeof ws), CLG_OK);
    ck_assert_int_eq(clg_plan_run(p), CLG_OK);
    /* exp, matmul, tanh, sum */
    ck_assert_int_eq(usage(p).kernels_last_run, 4);
    ck_assert_int_eq(usage(p).fused_ops, 0);
    ck_assert_uint_gt(usage(p).device_bytes, 0);
    clg_plan_free(p);
    clg_graph_free(g);
}
END_TEST

/* ------------------------------------------------------- random graphs */

enum { ROWS = 5, COLS = 123, N = ROWS * COLS }; /* three tiles of 256, the last partial */

static clg_t pick(tc_rng *r, const clg_t *pool, int n)
{
    return pool[(int)(tc_uniform(r) * n) % n];
}

/* One random node over pool: unary, binary, comparison or where, with
 * scalars ([] and [1]) broadcast in; now and then a reduction (a reader
 * that is not elementwise) fed back as a scalar, or a reshape view. */
static clg_t random_node(clg_graph *g, tc_rng *r, const clg_t *pool, int n, const clg_t *sc)
{
    clg_t a = pick(r, pool, n), b = pick(r, pool, n);
    if (tc_uniform(r) < 0.2)
        b = sc[(int)(tc_uniform(r) * 2) % 2];
    int k = (int)(tc_uniform(r) * 22) % 22;
    switch (k) {
    case 0: return clg_neg(g, a);
    case 1: return clg_exp(g, clg_mul_scalar(g, a, 0.25f));
    case 2: return clg_log(g, clg_add_scalar(g, clg_abs(g, a), 1.0f));
    case 3: return clg_sqrt(g, clg_abs(g, a));
    case 4: return clg_tanh(g, a);
    case 5: return clg_relu(g, a);
    case 6: return clg_sigmoid(g, a);
    case 7: return clg_leaky_relu(g, a, 0.1f);
    case 8: return clg_pow_scalar(g, a, 2.0f);
    case 9: return clg_sign(g, a);
    case 10: return clg_add(g, a, b);
    case 11: return clg_sub(g, a, b);
    case 12: return clg_mul(g, a, b);
    case 13: return clg_div(g, a, clg_add_scalar(g, clg_abs(g, b), 0.5f));
    case 14: return clg_maximum(g, a, b);
    case 15: return clg_minimum(g, a, b);
    case 16: return clg_where(g, clg_lt(g, a, b), a, b);
    case 17: return clg_mul(g, clg_ge(g, a, b), a);
    case 18: return clg_rsqrt(g, clg_add_scalar(g, clg_mul(g, a, a), 1.0f));
    case 19: /* a reduction between chain members, read back as a scalar */
        return clg_mul(g, a, clg_mean(g, b, NULL, 0, 0));
    case 20: /* a view inside the chain */
        return clg_add(g, clg_reshape(g, a, &CLG_SHAPE(N)),
                       clg_reshape(g, pick(r, pool, n), &CLG_SHAPE(N)));
    default: return clg_mul_scalar(g, clg_add(g, a, b), 0.5f);
    }
}

START_TEST(test_random_graphs_bit_identical)
{
    int fused_total = 0;
    for (int seed = 0; seed < 40; seed++) {
        tc_rng r;
        tc_rng_seed(&r, 1000 + (uint64_t)seed);
        clg_graph *g = clg_graph_new(tu_ctx());
        clg_t pool[64];
        int n = 0;
        char nm[8];
        for (int i = 0; i < 3; i++) {
            snprintf(nm, sizeof nm, "x%d", i);
            pool[n++] = clg_input(g, nm, CLG_F32, &CLG_SHAPE(ROWS, COLS));
        }
        clg_t sc[2] = { clg_input(g, "s0", CLG_F32, &(clg_shape){ 0 }),
                        clg_input(g, "s1", CLG_F32, &CLG_SHAPE(1)) };
        int steps = 6 + seed % 14;
        for (int i = 0; i < steps; i++) {
            clg_t t = random_node(g, &r, pool, n, sc);
            if (clg_shape_of(g, t).ndim != 2) /* case 20's flat view */
                t = clg_reshape(g, t, &CLG_SHAPE(ROWS, COLS));
            pool[n++] = t;
        }
        ck_assert_msg(clg_graph_status(g) == CLG_OK, "seed %d: %s", seed, clg_graph_error(g));
        /* The last node and two others, which chains must then keep. */
        clg_t outs[3] = { pool[n - 1], pool[3 + seed % (n - 3)], pool[3 + (seed * 7) % (n - 3)] };
        clg_plan *ps[2] = { compile(g, outs, 3, 0), compile(g, outs, 3, 1) };
        float in[N], s0 = 0.75f, s1 = -1.25f;
        for (int k = 0; k < 2; k++) {
            tc_rng_seed(&r, 7 + (uint64_t)seed);
            for (int i = 0; i < 3; i++) {
                for (int e = 0; e < N; e++)
                    in[e] = (float)tc_normal(&r);
                snprintf(nm, sizeof nm, "x%d", i);
                ck_assert_int_eq(clg_plan_set_input(ps[k], nm, in, sizeof in), CLG_OK);
            }
            ck_assert_int_eq(clg_plan_set_input(ps[k], "s0", &s0, sizeof s0), CLG_OK);
            ck_assert_int_eq(clg_plan_set_input(ps[k], "s1", &s1, sizeof s1), CLG_OK);
            ck_assert_msg(clg_plan_run(ps[k]) == CLG_OK, "%s", clg_ctx_error(tu_ctx()));
        }
        fused_total += same_bits_then_free(ps, outs, 3, N, seed, 1);
        clg_graph_free(g);
    }
    printf("fusion[%s]: %d ops fused over 40 random graphs\n", tu_backend, fused_total);
    if (fuses())
        ck_assert_int_gt(fused_total, 40);
    else
        ck_assert_int_eq(fused_total, 0);
}
END_TEST

/* ---------------------------------------------------- slices as windows */

/* Slices of larger tensors to the pool's [ROWS, COLS], each cut along one
 * axis and read by fused ops where it lies (a window): along a middle axis
 * (a recurrent step of [B, T, F]), along the last (a gate of [B, 4H]),
 * along the first (one row of W = N elements), along the last of size 2
 * (W = 1), rows of 205 (tiles of 256 cross rows) and a slice of a slice
 * (clg_slice folds the two into one slice along two axes, which is copied:
 * not a window). Source j
 * is input "s<j>" of src_shape(j). */
enum { N_SRC = 6 };

static void fill_normal(clg_plan *p, const char *name, tc_rng *r, int64_t n);

static clg_shape src_shape(int j)
{
    static const clg_shape s[N_SRC] = {
        { 3, { ROWS, 3, COLS } }, { 2, { ROWS, 4 * COLS } }, { 2, { ROWS + 4, COLS } },
        { 3, { ROWS, COLS, 2 } }, { 3, { 3, 2, N / 3 } },   { 3, { ROWS + 1, 1, COLS + 7 } },
    };
    return s[j];
}

static clg_t window_slice(clg_graph *g, clg_t src, int j, int k)
{
    const clg_shape flat = CLG_SHAPE(ROWS, COLS);
    switch (j) {
    case 0: return clg_reshape(g, clg_slice(g, src, 1, k % 3, k % 3 + 1), &flat);
    case 1: return clg_slice(g, src, 1, (k % 4) * COLS, (k % 4 + 1) * COLS);
    case 2: return clg_slice(g, src, 0, k % 5, k % 5 + ROWS);
    case 3: return clg_reshape(g, clg_slice(g, src, 2, k % 2, k % 2 + 1), &flat);
    case 4: return clg_reshape(g, clg_slice(g, src, 1, k % 2, k % 2 + 1), &flat);
    default:
        return clg_reshape(g, clg_slice(g, clg_slice(g, src, 0, 1, ROWS + 1), 2, k % 8, k % 8 + COLS),
                           &CLG_SHAPE(ROWS, 1, COLS));
    }
}

START_TEST(test_windows_bit_identical)
{
    int fused_total = 0;
    for (int seed = 0; seed < 30; seed++) {
        tc_rng r;
        tc_rng_seed(&r, 9000 + (uint64_t)seed);
        clg_graph *g = clg_graph_new(tu_ctx());
        clg_t pool[64], src[N_SRC];
        int n = 0;
        char nm[8];
        for (int j = 0; j < N_SRC; j++) {
            snprintf(nm, sizeof nm, "s%d", j);
            clg_shape sh = src_shape(j);
            src[j] = clg_input(g, nm, CLG_F32, &sh);
        }
        pool[n++] = clg_input(g, "x", CLG_F32, &CLG_SHAPE(ROWS, COLS));
        clg_t sc[2] = { clg_input(g, "c0", CLG_F32, &(clg_shape){ 0 }),
                        clg_input(g, "c1", CLG_F32, &CLG_SHAPE(1)) };
        for (int i = 0; i < 4; i++) {
            const int j = (int)(tc_uniform(&r) * N_SRC) % N_SRC;
            clg_t w = window_slice(g, src[j], j, (int)(tc_uniform(&r) * 8));
            if (clg_shape_of(g, w).ndim != 2)
                w = clg_reshape(g, w, &CLG_SHAPE(ROWS, COLS));
            /* now and then also read by a reduction: the slice then runs,
             * and its source must live until the fused op reads it too */
            if (tc_uniform(&r) < 0.3)
                w = clg_mul(g, w, clg_mean(g, w, NULL, 0, 0));
            pool[n++] = w;
        }
        for (int i = 0, steps = 5 + seed % 10; i < steps; i++) {
            clg_t t = random_node(g, &r, pool, n, sc);
            if (clg_shape_of(g, t).ndim != 2)
                t = clg_reshape(g, t, &CLG_SHAPE(ROWS, COLS));
            pool[n++] = t;
        }
        ck_assert_msg(clg_graph_status(g) == CLG_OK, "seed %d: %s", seed, clg_graph_error(g));
        /* the last node, another, and now and then a window itself */
        clg_t outs[3] = { pool[n - 1], pool[5 + seed % (n - 5)], pool[1 + seed % 4] };
        const int n_outs = seed % 3 == 0 ? 3 : 2;
        clg_plan *ps[2] = { compile(g, outs, n_outs, 0), compile(g, outs, n_outs, 1) };
        float c0 = 0.5f, c1 = -2.0f;
        for (int k = 0; k < 2; k++) {
            tc_rng_seed(&r, 13 + (uint64_t)seed);
            for (int j = 0; j < N_SRC; j++) {
                snprintf(nm, sizeof nm, "s%d", j);
                clg_shape sh = src_shape(j);
                fill_normal(ps[k], nm, &r, clg_shape_numel(&sh));
            }
            fill_normal(ps[k], "x", &r, N);
            ck_assert_int_eq(clg_plan_set_input(ps[k], "c0", &c0, sizeof c0), CLG_OK);
            ck_assert_int_eq(clg_plan_set_input(ps[k], "c1", &c1, sizeof c1), CLG_OK);
            ck_assert_msg(clg_plan_run(ps[k]) == CLG_OK, "%s", clg_ctx_error(tu_ctx()));
        }
        fused_total += same_bits_then_free(ps, outs, n_outs, N, seed, 0);
        clg_graph_free(g);
    }
    printf("fusion[%s]: %d ops fused over 30 graphs of windows\n", tu_backend, fused_total);
    if (fuses())
        ck_assert_int_gt(fused_total, 60);
    else
        ck_assert_int_eq(fused_total, 0);
}
END_TEST

/* An LSTM cell's step: the step's slice of the input projection [B, T, 4H]
 * plus the recurrent half, then the four gates sliced out of that sum and
 * the cell update. Slices are windows, so the step is two kernels: the sum,
 * and gates with the update; unfused it is 15. */
START_TEST(test_lstm_step_two_kernels)
{
    enum { LB = 3, LT = 4, LH = 37 };
    clg_graph *g = clg_graph_new(tu_ctx());
    clg_t xw = clg_input(g, "xw", CLG_F32, &CLG_SHAPE(LB, LT, 4 * LH));
    clg_t hw = clg_input(g, "hw", CLG_F32, &CLG_SHAPE(LB, 4 * LH));
    clg_t c = clg_input(g, "c", CLG_F32, &CLG_SHAPE(LB, LH));
    clg_t xt = clg_reshape(g, clg_slice(g, xw, 1, 2, 3), &CLG_SHAPE(LB, 4 * LH));
    clg_t a = clg_add(g, xt, hw);
    clg_t gt[4];
    for (int k = 0; k < 4; k++) {
        clg_t s = clg_slice(g, a, 1, k * LH, (k + 1) * LH);
        gt[k] = k == 2 ? clg_tanh(g, s) : clg_sigmoid(g, s);
    }
    clg_t c2 = clg_add(g, clg_mul(g, gt[1], c), clg_mul(g, gt[0], gt[2]));
    clg_t h2 = clg_mul(g, gt[3], clg_tanh(g, c2));
    clg_t outs[2] = { h2, c2 };
    ck_assert_msg(clg_graph_status(g) == CLG_OK, "%s", clg_graph_error(g));
    clg_plan *ps[2] = { compile(g, outs, 2, 0), compile(g, outs, 2, 1) };
    for (int k = 0; k < 2; k++) {
        tc_rng r;
        tc_rng_seed(&r, 21);
        fill_normal(ps[k], "xw", &r, LB * LT * 4 * LH);
        fill_normal(ps[k], "hw", &r, LB * 4 * LH);
        fill_normal(ps[k], "c", &r, LB * LH);
        ck_assert_msg(clg_plan_run(ps[k]) == CLG_OK, "%s", clg_ctx_error(tu_ctx()));
    }
    for (int o = 0; o < 2; o++) {
        float fv[LB * LH], nv[LB * LH];
        ck_assert_int_eq(clg_plan_read(ps[0], outs[o], fv, sizeof fv), CLG_OK);
        ck_assert_int_eq(clg_plan_read(ps[1], outs[o], nv, sizeof nv), CLG_OK);
        for (int e = 0; e < LB * LH; e++)
            ck_assert_msg(memcmp(&fv[e], &nv[e], sizeof(float)) == 0,
                          "output %d element %d: fused %.9g, unfused %.9g", o, e, fv[e], nv[e]);
    }
    const int64_t kf = usage(ps[0]).kernels_last_run, kn = usage(ps[1]).kernels_last_run;
    printf("fusion[%s] lstm step: %lld -> %lld kernels\n", tu_backend, (long long)kn,
           (long long)kf);
    /* sigmoid and tanh lowered to primitives (the -lowered suite) make
     * more unfused kernels, the same two fused */
    if (!getenv("CLGRAD_CPU_PRIMITIVES_ONLY"))
        ck_assert_int_eq(kn, 15);
    if (fuses())
        ck_assert_int_eq(kf, 2);
    clg_plan_free(ps[0]);
    clg_plan_free(ps[1]);
    clg_graph_free(g);
}
END_TEST

/* -------------------------------------------------- channel broadcasts */

/* [N, C, H, W] with operands broadcast over leading and trailing dims (a
 * channel's [C, 1, 1] as batch norm has it, a sample's [N, 1, 1, 1], a
 * block [C, H, 1]) and over trailing ones only (rows: [W], [1, 1, H, W]):
 * a run of one value is 63, 378, 9 or 42 elements long, so 256-element
 * tiles start and end inside runs and across them. */
enum { BN = 4, BC = 6, BH = 7, BW = 9, BNUM = BN * BC * BH * BW, N_BC = 7 };

static const clg_shape *bcast_shape(int i)
{
    static clg_shape s[N_BC];
    s[0] = CLG_SHAPE(BC, 1, 1);
    s[1] = CLG_SHAPE(1, BC, 1, 1);
    s[2] = CLG_SHAPE(BN, 1, 1, 1);
    s[3] = CLG_SHAPE(BH, 1);
    s[4] = CLG_SHAPE(BW);
    s[5] = CLG_SHAPE(BC, BH, 1);
    s[6] = CLG_SHAPE(1, 1, BH, BW);
    return &s[i];
}

static clg_t random_bcast_node(clg_graph *g, tc_rng *r, const clg_t *pool, int n,
                               const clg_t *bc)
{
    clg_t a = pick(r, pool, n), b = pick(r, pool, n);
    if (tc_uniform(r) < 0.6)
        b = bc[(int)(tc_uniform(r) * N_BC) % N_BC];
    /* the 4-d operands, spread to the full shape by an expand */
    static const int four_d[3] = { 1, 2, 6 };
    clg_t e = clg_expand(g, bc[four_d[(int)(tc_uniform(r) * 3) % 3]],
                         &CLG_SHAPE(BN, BC, BH, BW));
    switch ((int)(tc_uniform(r) * 10) % 10) {
    case 8: return clg_sub(g, clg_mul(g, a, e), e);
    case 9: /* the expand also read by a reduction: it must stay */
        return clg_add(g, clg_mul(g, a, e), clg_mean(g, e, NULL, 0, 0));
    case 0: return clg_add(g, a, b);
    case 1: return clg_sub(g, b, a); /* the broadcast operand first */
    case 2: return clg_mul(g, a, b);
    case 3: return clg_div(g, a, clg_add_scalar(g, clg_abs(g, b), 0.5f));
    case 4: return clg_relu(g, clg_add(g, clg_mul(g, a, b), b));
    case 5: return clg_where(g, clg_gt(g, a, b), a, b);
    case 6: return clg_rsqrt(g, clg_add_scalar(g, clg_abs(g, clg_mul(g, b, a)), 2.0f));
    default: return clg_maximum(g, b, clg_neg(g, a));
    }
}

static void fill_normal(clg_plan *p, const char *name, tc_rng *r, int64_t n)
{
    float *v = malloc((size_t)n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (int64_t e = 0; e < n; e++)
        v[e] = (float)tc_normal(r);
    ck_assert_int_eq(clg_plan_set_input(p, name, v, (size_t)n * sizeof *v), CLG_OK);
    free(v);
}

START_TEST(test_channel_broadcasts_bit_identical)
{
    int fused_total = 0;
    for (int seed = 0; seed < 30; seed++) {
        tc_rng r;
        tc_rng_seed(&r, 5000 + (uint64_t)seed);
        clg_graph *g = clg_graph_new(tu_ctx());
        clg_t pool[64], bc[N_BC];
        int n = 0;
        char nm[8];
        for (int i = 0; i < 2; i++) {
            snprintf(nm, sizeof nm, "x%d", i);
            pool[n++] = clg_input(g, nm, CLG_F32, &CLG_SHAPE(BN, BC, BH, BW));
        }
        for (int i = 0; i < N_BC; i++) {
            snprintf(nm, sizeof nm, "b%d", i);
            bc[i] = clg_input(g, nm, CLG_F32, bcast_shape(i));
        }
        for (int i = 0, steps = 5 + seed % 12; i < steps; i++) {
            clg_t t = random_bcast_node(g, &r, pool, n, bc);
            pool[n++] = t;
        }
        ck_assert_msg(clg_graph_status(g) == CLG_OK, "seed %d: %s", seed, clg_graph_error(g));
        clg_t outs[2] = { pool[n - 1], pool[2 + seed % (n - 2)] };
        clg_plan *ps[2] = { compile(g, outs, 2, 0), compile(g, outs, 2, 1) };
        for (int k = 0; k < 2; k++) {
            tc_rng_seed(&r, 11 + (uint64_t)seed);
            for (int i = 0; i < 2; i++) {
                snprintf(nm, sizeof nm, "x%d", i);
                fill_normal(ps[k], nm, &r, BNUM);
            }
            for (int i = 0; i < N_BC; i++) {
                snprintf(nm, sizeof nm, "b%d", i);
                fill_normal(ps[k], nm, &r, clg_shape_numel(bcast_shape(i)));
            }
            ck_assert_msg(clg_plan_run(ps[k]) == CLG_OK, "%s", clg_ctx_error(tu_ctx()));
        }
        fused_total += same_bits_then_free(ps, outs, 2, BNUM, seed, 0);
        clg_graph_free(g);
    }
    printf("fusion[%s]: %d ops fused over 30 channel-broadcast graphs\n", tu_backend,
           fused_total);
    if (fuses())
        ck_assert_int_gt(fused_total, 60);
    else
        ck_assert_int_eq(fused_total, 0);
}
END_TEST

/* Batch norm's normalisation with its [C, 1, 1] mean, scale and shift and
 * the ReLU after it is one kernel; operands broadcast in two different ways
 * ([C, 1, 1] and [N, 1, 1, 1]) are two, as an op holds one such pair. The
 * values are the closed form. */
/* A gradient spread back by expands ([1, C, 1, 1] and [1, 1, H, W] sources)
 * and combined: each expand is read as its source, so the step is one
 * kernel and no [N, C, H, W] copy of either is made. */
START_TEST(test_expand_read_as_broadcast)
{
    clg_graph *g = clg_graph_new(tu_ctx());
    const clg_shape full = CLG_SHAPE(BN, BC, BH, BW);
    clg_t x = clg_input(g, "x", CLG_F32, &full);
    clg_t s = clg_input(g, "s", CLG_F32, &CLG_SHAPE(1, BC, 1, 1));
    clg_t t = clg_input(g, "t", CLG_F32, &CLG_SHAPE(1, 1, BH, BW));
    clg_t y = clg_add(g, clg_mul(g, x, clg_expand(g, s, &full)), clg_expand(g, t, &full));
    ck_assert_msg(y != CLG_NONE, "%s", clg_graph_error(g));
    clg_plan *p = compile(g, &y, 1, 0);
    static float xv[BNUM], yv[BNUM];
    float sv[BC], tv[BH * BW];
    for (int e = 0; e < BNUM; e++)
        xv[e] = 0.5f * (float)(e % 13) - 3.0f;
    for (int c = 0; c < BC; c++)
        sv[c] = 1.5f - 0.25f * (float)c;
    for (int i = 0; i < BH * BW; i++)
        tv[i] = 2.0f * (float)(i % 5);
    ck_assert_int_eq(clg_plan_set_input(p, "x", xv, sizeof xv), CLG_OK);
    ck_assert_int_eq(clg_plan_set_input(p, "s", sv, sizeof sv), CLG_OK);
    ck_assert_int_eq(clg_plan_set_input(p, "t", tv, sizeof tv), CLG_OK);
    ck_assert_int_eq(clg_plan_run(p), CLG_OK);
    ck_assert_int_eq(clg_plan_read(p, y, yv, sizeof yv), CLG_OK);
    for (int e = 0; e < BNUM; e++) {
        const float want = xv[e] * sv[e / (BH * BW) % BC] + tv[e % (BH * BW)];
        ck_assert_msg(yv[e] == want, "element %d: %.9g, want %.9g", e, yv[e], want);
    }
    if (fuses())
        ck_assert_int_eq(usage(p).kernels_last_run, 1);
    clg_plan_free(p);
    clg_graph_free(g);
}
END_TEST

START_TEST(test_channel_chain_one_kernel)
{
    for (int pairs = 1; pairs <= 2; pairs++) {
        clg_graph *g = clg_graph_new(tu_ctx());
        clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(BN, BC, BH, BW));
        clg_t m = clg_input(g, "m", CLG_F32, &CLG_SHAPE(BC, 1, 1));
        clg_t s = clg_input(g, "s", CLG_F32, &CLG_SHAPE(BC, 1, 1));
        clg_t t = clg_input(g, "t", CLG_F32, pairs == 1 ? &CLG_SHAPE(BC, 1, 1)
                                                         : &CLG_SHAPE(BN, 1, 1, 1));
        clg_t y = clg_relu(g, clg_add(g, clg_mul(g, clg_sub(g, x, m), s), t));
        ck_assert_msg(y != CLG_NONE, "%s", clg_graph_error(g));
        clg_plan *p = compile(g, &y, 1, 0);
        static float xv[BNUM], yv[BNUM];
        float mv[BC], sv[BC], tv[BN > BC ? BN : BC];
        for (int e = 0; e < BNUM; e++)
            xv[e] = (float)(e % 17) - 8.0f;
        for (int c = 0; c < BC; c++) {
            mv[c] = 0.5f * (float)c;
            sv[c] = 1.0f + 0.25f * (float)c;
        }
        const int nt = pairs == 1 ? BC : BN;
        for (int i = 0; i < nt; i++)
            tv[i] = (float)i - 2.0f;
        ck_assert_int_eq(clg_plan_set_input(p, "x", xv, sizeof xv), CLG_OK);
        ck_assert_int_eq(clg_plan_set_input(p, "m", mv, sizeof mv), CLG_OK);
        ck_assert_int_eq(clg_plan_set_input(p, "s", sv, sizeof sv), CLG_OK);
        ck_assert_int_eq(clg_plan_set_input(p, "t", tv, (size_t)nt * sizeof(float)), CLG_OK);
        ck_assert_int_eq(clg_plan_run(p), CLG_OK);
        ck_assert_int_eq(clg_plan_read(p, y, yv, sizeof yv), CLG_OK);
        for (int e = 0; e < BNUM; e++) {
            const int c = e / (BH * BW) % BC, i = pairs == 1 ? c : e / (BC * BH * BW);
            const float want = fmaxf((xv[e] - mv[c]) * sv[c] + tv[i], 0.0f);
            ck_assert_msg(yv[e] == want, "pairs %d element %d: %.9g, want %.9g", pairs, e,
                          yv[e], want);
        }
        if (fuses())
            ck_assert_int_eq(usage(p).kernels_last_run, pairs);
        clg_plan_free(p);
        clg_graph_free(g);
    }
}
END_TEST

/* ------------------------------------------------------------ epilogues */

/* matmul + bias (+ activation) for the shapes GEMM splits differently:
 * tall (cut by rows over threads), wide (cut by columns), small (one
 * call), transposed operands, and a batch against a shared B. */
static void epilogue_cases(void)
{
    static const struct { int ba, m, k, n, ta, tb, act; } cs[] = {
        { 1, 128, 784, 256, 0, 1, 1 }, { 1, 7, 5, 300, 0, 0, 2 }, { 1, 300, 20, 3, 1, 0, 0 },
        { 1, 64, 96, 1000, 0, 1, 1 },  { 3, 16, 8, 24, 0, 0, 1 }, { 1, 1, 3, 1, 1, 1, 2 },
    };
    int fused = 0;
    /* CLG_TEST_SMALL (a simulated device): not the two large shapes */
    const int small = getenv("CLG_TEST_SMALL") != NULL;
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        if (small && (size_t)cs[c].m * cs[c].k * cs[c].n > 1000000)
            continue;
        clg_graph *g = clg_graph_new(tu_ctx());
        clg_shape sa = cs[c].ta ? CLG_SHAPE(cs[c].ba, cs[c].k, cs[c].m)
                                : CLG_SHAPE(cs[c].ba, cs[c].m, cs[c].k);
        clg_shape sb = cs[c].tb ? CLG_SHAPE(cs[c].n, cs[c].k) : CLG_SHAPE(cs[c].k, cs[c].n);
        if (cs[c].ba == 1) {
            sa = cs[c].ta ? CLG_SHAPE(cs[c].k, cs[c].m) : CLG_SHAPE(cs[c].m, cs[c].k);
        }
        clg_t a = clg_input(g, "a", CLG_F32, &sa), b = clg_input(g, "b", CLG_F32, &sb);
        clg_t bias = clg_input(g, "bias", CLG_F32, &CLG_SHAPE(cs[c].n));
        clg_t y = clg_add(g, clg_matmul(g, a, b, cs[c].ta, cs[c].tb), bias);
        y = cs[c].act == 1 ? clg_relu(g, y) : cs[c].act == 2 ? clg_tanh(g, y) : y;
        ck_assert_msg(y != CLG_NONE, "case %zu: %s", c, clg_graph_error(g));
        clg_plan *pf = compile(g, &y, 1, 0), *pn = compile(g, &y, 1, 1);
        size_t na = (size_t)clg_shape_numel(&sa), nb = (size_t)clg_shape_numel(&sb);
        size_t no = (size_t)cs[c].ba * (size_t)cs[c].m * (size_t)cs[c].n;
        float *av = malloc(na * 4), *bv = malloc(nb * 4), *biasv = malloc((size_t)cs[c].n * 4);
        float *of = malloc(no * 4), *on = malloc(no * 4);
        tc_rng r;
        tc_rng_seed(&r, 11 + c);
        for (size_t i = 0; i < na; i++)
            av[i] = (float)tc_normal(&r);
        for (size_t i = 0; i < nb; i++)
            bv[i] = (float)tc_normal(&r);
        for (int i = 0; i < cs[c].n; i++)
            biasv[i] = (float)tc_normal(&r);
        clg_plan *ps[2] = { pf, pn };
        for (int k = 0; k < 2; k++) {
            ck_assert_int_eq(clg_plan_set_input(ps[k], "a", av, na * 4), CLG_OK);
            ck_assert_int_eq(clg_plan_set_input(ps[k], "b", bv, nb * 4), CLG_OK);
            ck_assert_int_eq(clg_plan_set_input(ps[k], "bias", biasv, (size_t)cs[c].n * 4),
                             CLG_OK);
            ck_assert_msg(clg_plan_run(ps[k]) == CLG_OK, "%s", clg_ctx_error(tu_ctx()));
        }
        ck_assert_int_eq(clg_plan_read(pf, y, of, no * 4), CLG_OK);
        ck_assert_int_eq(clg_plan_read(pn, y, on, no * 4), CLG_OK);
        for (size_t i = 0; i < no; i++)
            ck_assert_msg(memcmp(&of[i], &on[i], 4) == 0, "case %zu element %zu: fused %.9g, "
                          "unfused %.9g", c, i, of[i], on[i]);
        fused += usage(pf).fused_ops;
        /* cpu: one pass; opencl: CLBlast's GEMM, then the epilogue kernel */
        if (fuses())
            ck_assert_int_eq(usage(pf).kernels_last_run, strcmp(tu_backend, "cpu") ? 2 : 1);
        free(av);
        free(bv);
        free(biasv);
        free(of);
        free(on);
        clg_plan_free(pf);
        clg_plan_free(pn);
        clg_graph_free(g);
    }
    if (!fuses())
        ck_assert_int_eq(fused, 0);
}

START_TEST(test_epilogue_bit_identical) { epilogue_cases(); }
END_TEST

/* The same on the portable GEMM kernel (the build without CBLAS). */
START_TEST(test_epilogue_portable_gemm)
{
    setenv("CLG_CPU_GEMM", "portable", 1);
    epilogue_cases();
    unsetenv("CLG_CPU_GEMM");
}
END_TEST

/* ------------------------------------------------------ optimizer steps */

enum { B = 16, IN = 12, HID = 20, OUT = 3 };
static const char *const pnames[4] = { "0.weight", "0.bias", "2.weight", "2.bias" };

typedef struct run {
    clg_store *st;
    clg_trainer *tr;
    float loss[5];
    int64_t kernels;
} run;

static void train(const char *spec, int no_reuse, run *out)
{
    clg_device *dev = tu_device();
    clg_shape shapes[4] = { CLG_SHAPE(HID, IN), CLG_SHAPE(HID), CLG_SHAPE(OUT, HID),
                            CLG_SHAPE(OUT) };
    ck_assert_int_eq(clg_store_new(dev, &out->st), CLG_OK);
    tc_rng r;
    tc_rng_seed(&r, 3);
    for (int i = 0; i < 4; i++) {
        static float w[HID * IN];
        for (int k = 0; k < HID * IN; k++)
            w[k] = 0.3f * (float)tc_normal(&r);
        ck_assert_int_eq(clg_store_add(out->st, pnames[i], CLG_F32, &shapes[i], w), CLG_OK);
    }
    clg_graph *g = clg_graph_new(tu_ctx());
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(B, IN));
    clg_t y = clg_input(g, "y", CLG_F32, &CLG_SHAPE(B, OUT));
    clg_t h = clg_tanh(g, clg_add(g, clg_matmul(g, x, clg_param(g, out->st, "0.weight"), 0, 1),
                                  clg_param(g, out->st, "0.bias")));
    clg_t yh = clg_add(g, clg_matmul(g, h, clg_param(g, out->st, "2.weight"), 0, 1),
                       clg_param(g, out->st, "2.bias"));
    clg_t loss;
    ck_assert_msg(clg_loss_build(g, "mse", yh, y, &loss) == CLG_OK, "%s",
                  clg_ctx_error(tu_ctx()));
    clg_compile_opts co = { .no_reuse = no_reuse };
    clg_trainer_opts o = { .lr = 0.01, .optimizer = spec, .compile = &co };
    clg_status st = clg_trainer_new(g, out->st, loss, &o, &out->tr);
    ck_assert_msg(st == CLG_OK, "%s: %s", spec, clg_ctx_error(tu_ctx()));
    clg_graph_free(g);
    for (int s = 0; s < 5; s++) {
        float xs[B * IN], ys[B * OUT];
        for (int k = 0; k < B * IN; k++)
            xs[k] = (float)tc_normal(&r);
        for (int k = 0; k < B * OUT; k++)
            ys[k] = (float)tc_normal(&r);
        ck_assert_int_eq(clg_trainer_set_input(out->tr, "x", xs, sizeof xs), CLG_OK);
        ck_assert_int_eq(clg_trainer_set_input(out->tr, "y", ys, sizeof ys), CLG_OK);
        st = clg_trainer_step(out->tr, &out->loss[s]);
        ck_assert_msg(st == CLG_OK, "%s step %d: %s", spec, s, clg_ctx_error(tu_ctx()));
    }
    out->kernels = usage(clg_trainer_plan(out->tr)).kernels_last_run;
}

static void run_free(run *r)
{
    clg_trainer_free(r->tr);
    clg_store_free(r->st);
}

static void optimizer_case(const char *spec, int expect_drop)
{
    run f = { 0 }, n = { 0 };
    train(spec, 0, &f);
    train(spec, 1, &n);
    for (int s = 0; s < 5; s++)
        ck_assert_msg(memcmp(&f.loss[s], &n.loss[s], sizeof(float)) == 0,
                      "%s step %d: loss fused %.9g, unfused %.9g", spec, s, f.loss[s], n.loss[s]);
    /* Every store tensor: parameters and the optimizer's state. */
    ck_assert_int_eq(clg_store_count(f.st), clg_store_count(n.st));
    for (int i = 0; i < clg_store_count(f.st); i++) {
        const char *name = clg_store_name(f.st, i);
        clg_shape sh = clg_store_shape(f.st, i);
        size_t bytes = (size_t)clg_shape_numel(&sh) * clg_dtype_size(clg_store_dtype(f.st, i));
        unsigned char *a = malloc(bytes + 1), *b = malloc(bytes + 1);
        ck_assert_int_eq(clg_store_read(f.st, name, a, bytes), CLG_OK);
        ck_assert_int_eq(clg_store_read(n.st, name, b, bytes), CLG_OK);
        ck_assert_msg(memcmp(a, b, bytes) == 0, "%s: store tensor '%s' differs", spec, name);
        free(a);
        free(b);
    }
    printf("fusion[%s] %s: %lld kernels per step fused, %lld unfused\n", tu_backend, spec,
           (long long)f.kernels, (long long)n.kernels);
    if (expect_drop && fuses())
        ck_assert_msg(f.kernels < n.kernels, "%s: %lld kernels fused, %lld unfused", spec,
                      (long long)f.kernels, (long long)n.kernels);
    else if (!fuses())
        ck_assert_int_eq(f.kernels, n.kernels);
    run_free(&f);
    run_free(&n);
}

START_TEST(test_sgd_momentum) { optimizer_case("sgd:momentum=0.9", 1); }
END_TEST
START_TEST(test_sgd_nesterov) { optimizer_case("sgd:momentum=0.9,nesterov=1", 1); }
END_TEST
START_TEST(test_adam) { optimizer_case("adam", 1); }
END_TEST
START_TEST(test_adamw) { optimizer_case("adamw:weight_decay=0.01", 1); }
END_TEST
START_TEST(test_amsgrad) { optimizer_case("adam:amsgrad=1,weight_decay=0.001", 0); }
END_TEST

/* An Adam step's update is one pass per parameter: of its 13 elementwise
 * ops and 3 copies per parameter, one fused op remains. */
START_TEST(test_adam_one_pass_per_param)
{
    if (!fuses())
        return;
    run f = { 0 }, n = { 0 };
    train("adam", 0, &f);
    train("adam", 1, &n);
    printf("fusion[%s] adam: %lld -> %lld kernels per step\n", tu_backend,
           (long long)n.kernels, (long long)f.kernels);
    ck_assert_int_le(f.kernels, n.kernels - 4 * 15);
    run_free(&f);
    run_free(&n);
}
END_TEST

static void add_tests(TCase *tc, const char *backend)
{
    (void)backend;
    tcase_add_test(tc, test_count_unfused);
    tcase_add_test(tc, test_random_graphs_bit_identical);
    tcase_add_test(tc, test_channel_broadcasts_bit_identical);
    tcase_add_test(tc, test_windows_bit_identical);
    tcase_add_test(tc, test_lstm_step_two_kernels);
    tcase_add_test(tc, test_channel_chain_one_kernel);
    tcase_add_test(tc, test_expand_read_as_broadcast);
    tcase_add_test(tc, test_epilogue_bit_identical);
    tcase_add_test(tc, test_epilogue_portable_gemm);
    tcase_add_test(tc, test_sgd_momentum);
    tcase_add_test(tc, test_sgd_nesterov);
    tcase_add_test(tc, test_adam);
    tcase_add_test(tc, test_adamw);
    tcase_add_test(tc, test_amsgrad);
    tcase_add_test(tc, test_adam_one_pass_per_param);
}

int main(void)
{
    return tu_main("fusion", add_tests, 300);
}
