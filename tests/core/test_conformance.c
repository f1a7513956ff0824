/* Op conformance: every case of cases.c, built through the public API,
 * compiled and run on each backend, against the double-precision reference.
 * Also the error paths a user can hit with bad shapes or indices. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"
#include "tutil.h"

/* Tolerances, |got - want| <= bound:
 * movement, selection, comparisons, sign/abs/relu: exact;
 * + - * / and scalar ops: one f32 rounding, well inside 1e-5 relative;
 * transcendentals (libm-grade f32 functions): 1e-5 relative + 1e-6 absolute;
 * reductions, softmax and GEMM (f32 accumulation order is the backend's):
 * 1e-4 relative to max(1, |want|) -- inputs are N(0,1), so sums cancel. */
#define TOL_ELEM_REL 1e-5
#define TOL_TRANS_REL 1e-5
#define TOL_TRANS_ABS 1e-6
#define TOL_REDUCE_REL 1e-4

static double bound(tc_tol t, double want)
{
    switch (t) {
    case TOL_EXACT: return 0;
    case TOL_ELEM: return TOL_ELEM_REL * fabs(want);
    case TOL_TRANS: return TOL_TRANS_REL * fabs(want) + TOL_TRANS_ABS;
    case TOL_REDUCE: return TOL_REDUCE_REL * fmax(1.0, fabs(want));
    }
    return 0;
}

static void run_case(const tc_case *c, int idx)
{
    clg_device *dev = tu_device();
    clg_ctx *ctx = clg_device_ctx(dev);
    tc_rng r;
    tc_rng_seed(&r, 0xC0FFEEu + (uint64_t)idx);
    ref_t in[4], want;
    clg_dtype want_dt;
    tc_gen_inputs(c, &r, in);
    ck_assert_msg(tc_ref(c, in, &want, &want_dt) == 0, "%s: reference rejected the case", c->name);

    clg_graph *g = clg_graph_new(ctx);
    clg_t x[4];
    char names[4][8];
    for (int i = 0; i < c->n_in; i++) {
        snprintf(names[i], sizeof names[i], "x%d", i);
        x[i] = clg_input(g, names[i], c->dt[i], &c->in[i]);
    }
    clg_t y = tc_build(g, c, x);
    ck_assert_msg(y != CLG_NONE, "%s on %s: building failed: %s", c->name, tu_backend,
                  clg_graph_error(g));

    char s1[64], s2[64];
    clg_shape ys = clg_shape_of(g, y);
    ck_assert_msg(clg_shape_equal(&ys, &want.s), "%s: output shape %s, expected %s", c->name,
                  clg_shape_str(&ys, s1, sizeof s1), clg_shape_str(&want.s, s2, sizeof s2));
    ck_assert_msg(clg_dtype_of(g, y) == want_dt, "%s: output dtype %s, expected %s", c->name,
                  clg_dtype_name(clg_dtype_of(g, y)), clg_dtype_name(want_dt));

    clg_compile_opts opts = { 0 };
    clg_plan *p = NULL;
    clg_status st = clg_compile(g, dev, &y, 1, &opts, &p);
    ck_assert_msg(st == CLG_OK, "%s on %s: compile: %s", c->name, tu_backend, clg_ctx_error(ctx));
    for (int i = 0; i < c->n_in; i++) {
        st = tu_set_input(p, names[i], c->dt[i], &in[i]);
        ck_assert_msg(st == CLG_OK, "%s: set_input %s: %s", c->name, names[i], clg_ctx_error(ctx));
    }
    st = clg_plan_run(p);
    ck_assert_msg(st == CLG_OK, "%s on %s: run: %s", c->name, tu_backend, clg_ctx_error(ctx));
    int64_t n = ref_numel(&want.s);
    double *got = calloc((size_t)n + 1, sizeof(double));
    st = tu_read(p, y, want_dt, n, got);
    ck_assert_msg(st == CLG_OK, "%s on %s: read: %s", c->name, tu_backend, clg_ctx_error(ctx));

    tc_tol tol = tc_tolerance(c);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++) {
        if (!(fabs(got[i] - want.d[i]) <= bound(tol, want.d[i]))) {
            if (first < 0)
                first = i;
            bad++;
        }
    }
    char ins[160] = "";
    for (int i = 0; i < c->n_in; i++) {
        size_t used = strlen(ins);
        snprintf(ins + used, sizeof ins - used, "%s%s", i ? " " : "",
                 clg_shape_str(&c->in[i], s1, sizeof s1));
    }
    ck_assert_msg(bad == 0,
                  "%s on %s (inputs %s -> %s): %lld of %lld elements off; first [%lld]: got %.9g "
                  "want %.9g",
                  c->name, tu_backend, ins, clg_shape_str(&want.s, s2, sizeof s2), (long long)bad,
                  (long long)n, (long long)first, got[first < 0 ? 0 : first],
                  want.d[first < 0 ? 0 : first]);

    free(got);
    clg_plan_free(p);
    clg_graph_free(g);
    ref_free(&want);
    tc_free_inputs(c, in);
}

START_TEST(test_case)
{
    run_case(&tc_cases[_i], _i);
}
END_TEST

/* Every kernel op of types.h is produced by some case (backward-only ones
 * through clg_grad), so a new op cannot land untested. */
START_TEST(test_every_kernel_op_covered)
{
    clg_ctx *ctx = clg_ctx_new();
    int seen[CLG_OP_COUNT] = { 0 };
    for (int k = 0; k < tc_n_cases; k++) {
        const tc_case *c = &tc_cases[k];
        clg_graph *g = clg_graph_new(ctx);
        clg_t x[4];
        for (int i = 0; i < c->n_in; i++) {
            char nm[8];
            snprintf(nm, sizeof nm, "x%d", i);
            x[i] = clg_input(g, nm, c->dt[i], &c->in[i]);
        }
        tc_build(g, c, x);
        for (int t = 0; t < clg_graph_size(g); t++) {
            clg_op op = clg_op_of(g, t);
            if (clg_op_is_kernel(op))
                seen[op] = 1;
        }
        clg_graph_free(g);
    }
    char missing[1024] = "";
    for (int op = 0; op < CLG_OP_COUNT; op++)
        if (clg_op_is_kernel((clg_op)op) && !seen[op] &&
            clg_op_info_of((clg_op)op).kind != CLG_OPKIND_FUSED) { /* the compiler's own */
            size_t used = strlen(missing);
            snprintf(missing + used, sizeof missing - used, " %s", clg_op_name((clg_op)op));
        }
    ck_assert_msg(missing[0] == '\0', "kernel ops no case produces:%s", missing);
    clg_ctx_free(ctx);
}
END_TEST

/* Compiling a graph whose building failed: the status is an error and the
 * message names the op and both shapes. */
static void expect_shape_error(clg_graph *g, clg_t y, clg_op op, const char *sa, const char *sb)
{
    clg_ctx *ctx = tu_ctx();
    clg_compile_opts opts = { 0 };
    clg_plan *p = NULL;
    clg_status st = clg_compile(g, tu_device(), &y, 1, &opts, &p);
    const char *msg = clg_ctx_error(ctx);
    ck_assert_msg(st != CLG_OK, "%s with %s and %s compiled", clg_op_name(op), sa, sb);
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(msg, clg_op_name(op)) && strstr(msg, sa) && strstr(msg, sb),
                  "error message should name %s, %s and %s; got \"%s\"", clg_op_name(op), sa,
                  sb, msg);
    ck_assert_int_ne(clg_graph_status(g), CLG_OK);
}

START_TEST(test_error_add_shapes)
{
    clg_graph *g = clg_graph_new(tu_ctx());
    clg_t a = clg_input(g, "a", CLG_F32, &CLG_SHAPE(2, 3));
    clg_t b = clg_input(g, "b", CLG_F32, &CLG_SHAPE(4, 3));
    clg_t y = clg_add(g, a, b);
    ck_assert_int_eq(y, CLG_NONE);
    /* errors propagate: later ops on CLG_NONE give CLG_NONE */
    clg_t z = clg_relu(g, clg_exp(g, y));
    ck_assert_int_eq(z, CLG_NONE);
    expect_shape_error(g, z, CLG_OP_ADD, "[2, 3]", "[4, 3]");
    clg_graph_free(g);
}
END_TEST

START_TEST(test_error_matmul_inner)
{
    clg_graph *g = clg_graph_new(tu_ctx());
    clg_t a = clg_input(g, "a", CLG_F32, &CLG_SHAPE(2, 3));
    clg_t b = clg_input(g, "b", CLG_F32, &CLG_SHAPE(4, 5));
    clg_t y = clg_matmul(g, a, b, 0, 0);
    expect_shape_error(g, y, CLG_OP_MATMUL, "[2, 3]", "[4, 5]");
    clg_graph_free(g);
}
END_TEST

START_TEST(test_error_matmul_batch)
{
    clg_graph *g = clg_graph_new(tu_ctx());
    clg_t a = clg_input(g, "a", CLG_F32, &CLG_SHAPE(2, 3, 4));
    clg_t b = clg_input(g, "b", CLG_F32, &CLG_SHAPE(3, 4, 5));
    clg_t y = clg_matmul(g, a, b, 0, 0);
    expect_shape_error(g, y, CLG_OP_MATMUL, "[2, 3, 4]", "[3, 4, 5]");
    clg_graph_free(g);
}
END_TEST

START_TEST(test_error_mul_broadcast)
{
    clg_graph *g = clg_graph_new(tu_ctx());
    clg_t a = clg_input(g, "a", CLG_F32, &CLG_SHAPE(5, 2));
    clg_t b = clg_input(g, "b", CLG_F32, &CLG_SHAPE(3));
    clg_t y = clg_mul(g, a, b);
    expect_shape_error(g, y, CLG_OP_MUL, "[5, 2]", "[3]");
    clg_graph_free(g);
}
END_TEST

/* y = conv2d(x, w) and the gradients of <y, seed>, as the op (groups g) or,
 * with prim set, as the primitives the layer built before the op existed:
 * im2col + one GEMM per image, the grouped form through permutes. Runs on
 * the device under test; *lowered: whether the backend got the op lowered. */
static void conv_run(int prim, int groups, float *out[3], const size_t bytes[3], int *lowered)
{
    const clg_window2d win = { { 3, 2 }, { 2, 1 }, { 1, 1 }, { 1, 2 } };
    const clg_shape xs = CLG_SHAPE(2, 4, 7, 6), ws = CLG_SHAPE(6, 4 / groups, 3, 2);
    clg_ctx *ctx = tu_ctx();
    clg_graph *g = clg_graph_new(ctx);
    clg_t x = clg_input(g, "x", CLG_F32, &xs), w = clg_input(g, "w", CLG_F32, &ws), y;
    if (!prim) {
        y = clg_conv2d_op(g, x, w, &win, groups);
    } else {
        static const int to_g[4] = { 1, 2, 0, 3 }, to_n[4] = { 2, 0, 1, 3 };
        const int64_t m = ws.dim[1] * 6, og = 6 / groups, l = 4 * 6;
        clg_t cols = clg_im2col(g, x, &win, 0.0f);
        if (groups == 1) {
            y = clg_matmul(g, clg_reshape(g, w, &CLG_SHAPE(6, m)), cols, 0, 0);
        } else {
            clg_t c4 = clg_permute(g, clg_reshape(g, cols, &CLG_SHAPE(2, groups, m, l)), to_g);
            clg_t yg = clg_matmul(g, clg_reshape(g, w, &CLG_SHAPE(groups, og, m)),
                                  clg_reshape(g, c4, &CLG_SHAPE(groups, m, 2 * l)), 0, 0);
            y = clg_permute(g, clg_reshape(g, yg, &CLG_SHAPE(groups, og, 2, l)), to_n);
        }
        y = clg_reshape(g, y, &CLG_SHAPE(2, 6, 4, 6));
    }
    clg_t seed = clg_input(g, "seed", CLG_F32, &CLG_SHAPE(2, 6, 4, 6));
    clg_t wrt[2] = { x, w }, d[2];
    ck_assert_int_eq(clg_grad(g, y, seed, wrt, 2, d), CLG_OK);
    clg_t outs[3] = { y, d[0], d[1] };
    clg_compile_opts opts = { 0 };
    clg_plan *p = NULL;
    ck_assert_msg(clg_compile(g, tu_device(), outs, 3, &opts, &p) == CLG_OK, "compile: %s",
                  clg_ctx_error(ctx));
    clg_plan_stats st;
    ck_assert_int_eq(clg_plan_stats_get(p, &st), CLG_OK);
    *lowered = st.n_ops > 3; /* conv2d and its two gradients, or their primitives */
    tc_rng r;
    tc_rng_seed(&r, 77);
    const char *names[3] = { "x", "w", "seed" };
    const int64_t n[3] = { 2 * 4 * 7 * 6, 6 * (4 / groups) * 6, 2 * 6 * 4 * 6 };
    for (int k = 0; k < 3; k++) {
        float *v = malloc((size_t)n[k] * sizeof *v);
        ck_assert_ptr_nonnull(v);
        for (int64_t i = 0; i < n[k]; i++)
            v[i] = (float)tc_normal(&r);
        ck_assert_int_eq(clg_plan_set_input(p, names[k], v, (size_t)n[k] * sizeof *v), CLG_OK);
        free(v);
    }
    ck_assert_int_eq(clg_plan_run(p), CLG_OK);
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(clg_plan_read(p, outs[k], out[k], bytes[k]), CLG_OK);
    clg_plan_free(p);
    clg_graph_free(g);
}

/* A backend without the conv2d ops gets them lowered into exactly the
 * primitives the layer built before they existed, so its results did not
 * move by a bit; one that runs them (oneDNN on the CPU) agrees to the
 * GEMM tolerance. */
START_TEST(test_conv2d_lowering_is_the_primitive_form)
{
    for (int groups = 1; groups <= 2; groups++) {
        const size_t bytes[3] = { 2 * 6 * 4 * 6 * 4, 2 * 4 * 7 * 6 * 4,
                                  (size_t)(6 * (4 / groups) * 6 * 4) };
        float *a[3], *b[3];
        for (int k = 0; k < 3; k++) {
            a[k] = malloc(bytes[k]);
            b[k] = malloc(bytes[k]);
            ck_assert(a[k] && b[k]);
        }
        int lowered = 0, prim_lowered = 0;
        conv_run(0, groups, a, bytes, &lowered);
        conv_run(1, groups, b, bytes, &prim_lowered);
        for (int k = 0; k < 3; k++) {
            for (size_t i = 0; i < bytes[k] / 4; i++) {
                if (lowered)
                    ck_assert_msg(!memcmp(&a[k][i], &b[k][i], 4), "groups %d, output %d[%zu]: "
                                  "lowered %.9g, primitives %.9g", groups, k, i,
                                  (double)a[k][i], (double)b[k][i]);
                else
                    ck_assert_msg(fabs(a[k][i] - b[k][i]) <= bound(TOL_REDUCE, b[k][i]),
                                  "groups %d, output %d[%zu]: %.9g against %.9g", groups, k, i,
                                  (double)a[k][i], (double)b[k][i]);
            }
            free(a[k]);
            free(b[k]);
        }
    }
}
END_TEST

/* conv2d and its gradients refuse what does not fit, naming the shapes */
START_TEST(test_error_conv2d)
{
    const clg_window2d w3 = { { 3, 3 }, { 1, 1 }, { 0, 0 }, { 1, 1 } };
    const clg_window2d w2 = { { 2, 2 }, { 1, 1 }, { 0, 0 }, { 1, 1 } };
    clg_graph *g = clg_graph_new(tu_ctx());
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(1, 4, 5, 5));
    clg_t w = clg_input(g, "w", CLG_F32, &CLG_SHAPE(6, 4, 3, 3));
    /* the weight's dim 1 must be C / groups */
    expect_shape_error(g, clg_conv2d_op(g, x, w, &w3, 2), CLG_OP_CONV2D, "[1, 4, 5, 5]",
                       "[6, 4, 3, 3]");
    clg_graph_free(g);

    g = clg_graph_new(tu_ctx());
    x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(1, 4, 5, 5));
    w = clg_input(g, "w", CLG_F32, &CLG_SHAPE(6, 4, 3, 3));
    ck_assert_int_eq(clg_conv2d_op(g, x, w, &w2, 1), CLG_NONE); /* kernel 2x2, weight 3x3 */
    ck_assert_msg(strstr(clg_graph_error(g), "does not match the kernel 2x2"), "got \"%s\"",
                  clg_graph_error(g));
    clg_graph_free(g);

    /* a grad_output that is not the forward's output shape */
    g = clg_graph_new(tu_ctx());
    w = clg_input(g, "w", CLG_F32, &CLG_SHAPE(6, 4, 3, 3));
    clg_t dy = clg_input(g, "dy", CLG_F32, &CLG_SHAPE(1, 6, 4, 4));
    clg_t dx = clg_conv2d_input(g, &CLG_SHAPE(1, 4, 5, 5), w, dy, &w3, 1);
    expect_shape_error(g, dx, CLG_OP_CONV2D_GRAD_INPUT, "[1, 6, 4, 4]", "[1, 6, 3, 3]");
    clg_graph_free(g);

    g = clg_graph_new(tu_ctx());
    x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(1, 4, 5, 5));
    dy = clg_input(g, "dy", CLG_F32, &CLG_SHAPE(2, 6, 3, 3));
    expect_shape_error(g, clg_conv2d_weight(g, x, dy, &w3, 1), CLG_OP_CONV2D_GRAD_WEIGHT,
                       "[2, 6, 3, 3]", "[1, 6, 3, 3]");
    clg_graph_free(g);
}
END_TEST

START_TEST(test_error_set_input_size)
{
    clg_ctx *ctx = tu_ctx();
    clg_graph *g = clg_graph_new(ctx);
    clg_t a = clg_input(g, "alpha_in", CLG_F32, &CLG_SHAPE(2, 3));
    clg_t y = clg_neg(g, a);
    clg_compile_opts opts = { 0 };
    clg_plan *p = NULL;
    ck_assert_int_eq(clg_compile(g, tu_device(), &y, 1, &opts, &p), CLG_OK);
    float buf[8] = { 0 };
    ck_assert_int_ne(clg_plan_set_input(p, "alpha_in", buf, 5 * sizeof(float)), CLG_OK);
    ck_assert_msg(strstr(clg_ctx_error(ctx), "alpha_in") != NULL, "message: %s",
                  clg_ctx_error(ctx));
    ck_assert_int_ne(clg_plan_set_input(p, "no_such_input", buf, 6 * sizeof(float)), CLG_OK);
    ck_assert_msg(strstr(clg_ctx_error(ctx), "no_such_input") != NULL, "message: %s",
                  clg_ctx_error(ctx));
    ck_assert_int_ne(clg_plan_read(p, y, buf, 7 * sizeof(float)), CLG_OK);
    clg_plan_free(p);
    clg_graph_free(g);
}
END_TEST

/* An index outside [0, dim) is bad input: an error status when the plan
 * runs or is read, never a crash or an out-of-bounds access (ASan build). */
static void index_out_of_range(int scatter, int32_t bad)
{
    clg_ctx *ctx = tu_ctx();
    clg_graph *g = clg_graph_new(ctx);
    /* gather: data [3, 4], index [3, 2]; scatter_add: src = index shape [3, 2] into [3, 4] */
    clg_t a = clg_input(g, "a", CLG_F32, scatter ? &CLG_SHAPE(3, 2) : &CLG_SHAPE(3, 4));
    clg_t idx = clg_input(g, "idx", CLG_I32, &CLG_SHAPE(3, 2));
    clg_t y = scatter ? clg_scatter_add(g, a, idx, 1, &CLG_SHAPE(3, 4))
                      : clg_gather(g, a, idx, 1);
    ck_assert_msg(y != CLG_NONE, "build: %s", clg_graph_error(g));
    clg_compile_opts opts = { 0 };
    clg_plan *p = NULL;
    ck_assert_msg(clg_compile(g, tu_device(), &y, 1, &opts, &p) == CLG_OK, "compile: %s",
                  clg_ctx_error(ctx));
    float data[12] = { 0 };
    int32_t index[6] = { 0, 1, 2, bad, 3, 0 };
    ck_assert_int_eq(clg_plan_set_input(p, "a", data, (scatter ? 6 : 12) * sizeof(float)), CLG_OK);
    ck_assert_int_eq(clg_plan_set_input(p, "idx", index, sizeof index), CLG_OK);
    float out[12];
    clg_status st = clg_plan_run(p);
    if (st == CLG_OK)
        st = clg_plan_read(p, y, out, (scatter ? 12 : 6) * sizeof(float));
    ck_assert_msg(st != CLG_OK, "%s with index %d on dim 4 succeeded",
                  scatter ? "scatter_add" : "gather", (int)bad);
    const char *opname = clg_op_name(scatter ? CLG_OP_SCATTER_ADD : CLG_OP_GATHER);
    ck_assert_msg(strstr(clg_ctx_error(ctx), opname), "message should name %s: \"%s\"", opname,
                  clg_ctx_error(ctx));
    clg_plan_free(p);
    clg_graph_free(g);
}

START_TEST(test_error_gather_index_high) { index_out_of_range(0, 7); }
END_TEST
START_TEST(test_error_gather_index_negative) { index_out_of_range(0, -1); }
END_TEST
START_TEST(test_error_scatter_index_high) { index_out_of_range(1, 4); }
END_TEST

/* Under CLGRAD_CPU_PRIMITIVES_ONLY=1 (the *-lowered suites) every composite
 * op reaches the backend as primitives: softmax is no longer one op. The
 * other way round, a backend that runs softmax gets it as one op. Either way
 * the value is checked by the case table above. */
START_TEST(test_lowering_matches_backend)
{
    clg_ctx *ctx = tu_ctx();
    clg_graph *g = clg_graph_new(ctx);
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(2, 5));
    clg_t y = clg_softmax(g, x, 1);
    clg_compile_opts opts = { 0 };
    clg_plan *p = NULL;
    ck_assert_msg(clg_compile(g, tu_device(), &y, 1, &opts, &p) == CLG_OK, "compile: %s",
                  clg_ctx_error(ctx));
    clg_plan_stats st;
    ck_assert_int_eq(clg_plan_stats_get(p, &st), CLG_OK);
    const char *prim = getenv("CLGRAD_CPU_PRIMITIVES_ONLY");
    /* CLGRAD_TEST_EXPECT_LOWERING=1: the backend under test refuses
     * composites (the out-of-tree minimal one) */
    int lowered = getenv("CLGRAD_TEST_EXPECT_LOWERING") ||
                  (prim && strcmp(prim, "1") == 0 && strcmp(tu_backend, "cpu") == 0);
    if (lowered)
        ck_assert_msg(st.n_ops >= 4, "softmax lowered to %d ops", st.n_ops);
    else
        ck_assert_int_eq(st.n_ops, 1);
    float in[10] = { 1, 2, 3, 4, 5, -1, 0, 1, 0, -1 }, out[10];
    ck_assert_int_eq(clg_plan_set_input(p, "x", in, sizeof in), CLG_OK);
    ck_assert_int_eq(clg_plan_run(p), CLG_OK);
    ck_assert_int_eq(clg_plan_read(p, y, out, sizeof out), CLG_OK);
    double z = 0;
    for (int i = 0; i < 5; i++)
        z += exp((double)in[i]);
    ck_assert_double_eq_tol(out[2], exp(3.0) / z, 1e-6);
    clg_plan_free(p);
    clg_graph_free(g);
}
END_TEST

static void add_tests(TCase *tc, const char *backend)
{
    (void)backend;
    tcase_add_loop_test(tc, test_case, 0, tc_n_cases);
    tcase_add_test(tc, test_every_kernel_op_covered);
    tcase_add_test(tc, test_lowering_matches_backend);
    tcase_add_test(tc, test_error_add_shapes);
    tcase_add_test(tc, test_error_matmul_inner);
    tcase_add_test(tc, test_error_matmul_batch);
    tcase_add_test(tc, test_error_mul_broadcast);
    tcase_add_test(tc, test_error_set_input_size);
    tcase_add_test(tc, test_error_conv2d);
    tcase_add_test(tc, test_conv2d_lowering_is_the_primitive_form);
    tcase_add_test(tc, test_error_gather_index_high);
    tcase_add_test(tc, test_error_gather_index_negative);
    tcase_add_test(tc, test_error_scatter_index_high);
}

int main(void)
{
    return tu_main("conformance", add_tests, 300);
}
