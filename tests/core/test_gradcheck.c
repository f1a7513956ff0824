/* Gradcheck: for every differentiable case of cases.c, the gradients clg_grad
 * builds (run on each backend, in f32) against central finite differences of
 * the double-precision reference forward (ref.c).
 *
 * L = sum(y * w) with a fixed random w of y's shape, so every output element
 * matters with a different weight. The analytic gradient is taken twice: of
 * the scalar L (mul + sum in the graph), and as the vector-Jacobian product
 * of y with seed w (clg_grad's seed argument); both must match.
 *
 * Finite differences run in double with h = 1e-6: truncation error O(h^2)
 * and rounding error ~1e-16/h are both far below the tolerance, which is set
 * by the f32 arithmetic of the analytic side. Inputs are drawn away from the
 * kinks of relu/abs/leaky_relu (|x| >= 0.2) and maximum/minimum ties
 * (|a - b| >= 0.05), far beyond h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"
#include "tutil.h"

#define FD_STEP 1e-6
/* |analytic - numeric| <= GRAD_TOL * max(1, |numeric|) */
#define GRAD_TOL 1e-3

/* L = sum(ref(c, in) * w) */
static double ref_loss(const tc_case *c, const ref_t *in, const ref_t *w)
{
    ref_t y;
    clg_dtype dt;
    if (tc_ref(c, in, &y, &dt))
        return NAN;
    double l = 0;
    for (int64_t i = 0; i < ref_numel(&y.s); i++)
        l += y.d[i] * w->d[i];
    ref_free(&y);
    return l;
}

static void check_grad(const tc_case *c, int idx, int input, const char *how,
                       const double *analytic, const double *numeric, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        double a = analytic[j], nu = numeric[j];
        ck_assert_msg(fabs(a - nu) <= GRAD_TOL * fmax(1.0, fabs(nu)),
                      "%s (case %d) on %s: d/d x%d [%lld] via %s: analytic %.7g, finite "
                      "difference %.7g",
                      c->name, idx, tu_backend, input, (long long)j, how, a, nu);
    }
}

static void run_gradcheck(const tc_case *c, int idx)
{
    unsigned diff = tc_grad_inputs(c);
    clg_device *dev = tu_device();
    clg_ctx *ctx = clg_device_ctx(dev);
    tc_rng r;
    tc_rng_seed(&r, 0x6AD0u + (uint64_t)idx);
    ref_t in[4], y, w;
    clg_dtype ydt;
    tc_gen_inputs(c, &r, in);
    ck_assert_msg(tc_ref(c, in, &y, &ydt) == 0, "%s: reference rejected the case", c->name);
    ck_assert(ref_alloc(&w, &y.s) == 0);
    for (int64_t i = 0; i < ref_numel(&w.s); i++)
        w.d[i] = (double)(float)tc_normal(&r);

    clg_graph *g = clg_graph_new(ctx);
    clg_t x[4], wrt[4], ga[4], gb[4];
    char names[4][8];
    int nw = 0, which[4];
    for (int i = 0; i < c->n_in; i++) {
        snprintf(names[i], sizeof names[i], "x%d", i);
        x[i] = clg_input(g, names[i], c->dt[i], &c->in[i]);
        if (diff & (1u << i)) {
            which[nw] = i;
            wrt[nw++] = x[i];
        }
    }
    clg_t yt = tc_build(g, c, x);
    clg_t wt = clg_input(g, "w", CLG_F32, &y.s);
    clg_t loss = clg_sum(g, clg_mul(g, yt, wt), NULL, 0, 0);
    ck_assert_msg(loss != CLG_NONE, "%s: building failed: %s", c->name, clg_graph_error(g));
    clg_status st = clg_grad(g, loss, CLG_NONE, wrt, nw, ga);
    ck_assert_msg(st == CLG_OK, "%s on %s: clg_grad of L: %s", c->name, tu_backend,
                  clg_ctx_error(ctx));
    st = clg_grad(g, yt, wt, wrt, nw, gb);
    ck_assert_msg(st == CLG_OK, "%s on %s: clg_grad with seed: %s", c->name, tu_backend,
                  clg_ctx_error(ctx));

    clg_t outs[9];
    int no = 0;
    outs[no++] = loss;
    for (int k = 0; k < nw; k++) {
        char s1[64], s2[64];
        clg_shape s = clg_shape_of(g, ga[k]);
        ck_assert_msg(clg_shape_equal(&s, &c->in[which[k]]), "%s: grad of x%d has shape %s, not %s",
                      c->name, which[k], clg_shape_str(&s, s1, sizeof s1),
                      clg_shape_str(&c->in[which[k]], s2, sizeof s2));
        outs[no++] = ga[k];
        outs[no++] = gb[k];
    }
    clg_compile_opts opts = { 0 };
    clg_plan *p = NULL;
    st = clg_compile(g, dev, outs, no, &opts, &p);
    ck_assert_msg(st == CLG_OK, "%s on %s: compile: %s", c->name, tu_backend, clg_ctx_error(ctx));
    for (int i = 0; i < c->n_in; i++)
        ck_assert_int_eq(tu_set_input(p, names[i], c->dt[i], &in[i]), CLG_OK);
    ck_assert_int_eq(tu_set_input(p, "w", CLG_F32, &w), CLG_OK);
    st = clg_plan_run(p);
    ck_assert_msg(st == CLG_OK, "%s on %s: run: %s", c->name, tu_backend, clg_ctx_error(ctx));

    double lgot;
    ck_assert_int_eq(tu_read(p, loss, CLG_F32, 1, &lgot), CLG_OK);
    double lref = ref_loss(c, in, &w);
    ck_assert_msg(fabs(lgot - lref) <= 1e-4 * fmax(1.0, fabs(lref)),
                  "%s on %s: forward L = %.7g, reference %.7g", c->name, tu_backend, lgot, lref);

    for (int k = 0; k < nw; k++) {
        int i = which[k];
        int64_t n = ref_numel(&in[i].s);
        double *an = calloc((size_t)n + 1, sizeof(double));
        double *bn = calloc((size_t)n + 1, sizeof(double));
        double *num = calloc((size_t)n + 1, sizeof(double));
        ck_assert_int_eq(tu_read(p, ga[k], CLG_F32, n, an), CLG_OK);
        ck_assert_int_eq(tu_read(p, gb[k], CLG_F32, n, bn), CLG_OK);
        for (int64_t j = 0; j < n; j++) {
            double x0 = in[i].d[j];
            in[i].d[j] = x0 + FD_STEP;
            double lp = ref_loss(c, in, &w);
            in[i].d[j] = x0 - FD_STEP;
            double lm = ref_loss(c, in, &w);
            in[i].d[j] = x0;
            num[j] = (lp - lm) / (2 * FD_STEP);
        }
        check_grad(c, idx, i, "clg_grad(sum(y*w))", an, num, n);
        check_grad(c, idx, i, "clg_grad(y, seed=w)", bn, num, n);
        free(an);
        free(bn);
        free(num);
    }
    clg_plan_free(p);
    clg_graph_free(g);
    ref_free(&y);
    ref_free(&w);
    tc_free_inputs(c, in);
}

/* Only differentiable cases get a test, so the count Check reports is the
 * number of gradchecks actually done. */
static int *g_grad_cases;
static int g_n_grad;

START_TEST(test_gradcheck)
{
    int k = g_grad_cases[_i];
    run_gradcheck(&tc_cases[k], k);
}
END_TEST

/* y does not depend on b: its gradient is a zero tensor of b's shape. */
START_TEST(test_grad_unrelated_is_zero)
{
    clg_ctx *ctx = tu_ctx();
    clg_graph *g = clg_graph_new(ctx);
    clg_t a = clg_input(g, "a", CLG_F32, &CLG_SHAPE(2, 3));
    clg_t b = clg_input(g, "b", CLG_F32, &CLG_SHAPE(4));
    clg_t l = clg_sum(g, clg_exp(g, a), NULL, 0, 0);
    clg_t wrt[2] = { a, b }, gr[2];
    ck_assert_msg(clg_grad(g, l, CLG_NONE, wrt, 2, gr) == CLG_OK, "%s", clg_ctx_error(ctx));
    clg_compile_opts opts = { 0 };
    clg_plan *p = NULL;
    ck_assert_msg(clg_compile(g, tu_device(), gr, 2, &opts, &p) == CLG_OK, "%s",
                  clg_ctx_error(ctx));
    float av[6] = { 0.1f, -0.2f, 0.3f, 1, 2, -1 }, bv[4] = { 5, 6, 7, 8 }, ga[6], gb[4];
    ck_assert_int_eq(clg_plan_set_input(p, "a", av, sizeof av), CLG_OK);
    ck_assert_int_eq(clg_plan_set_input(p, "b", bv, sizeof bv), CLG_OK);
    ck_assert_int_eq(clg_plan_run(p), CLG_OK);
    ck_assert_int_eq(clg_plan_read(p, gr[0], ga, sizeof ga), CLG_OK);
    ck_assert_int_eq(clg_plan_read(p, gr[1], gb, sizeof gb), CLG_OK);
    for (int i = 0; i < 6; i++)
        ck_assert_double_eq_tol(ga[i], exp((double)av[i]), 1e-5 * exp((double)av[i]));
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(gb[i], 0.0f);
    clg_plan_free(p);
    clg_graph_free(g);
}
END_TEST

/* A non-scalar y without a seed is refused with a message. */
START_TEST(test_grad_nonscalar_needs_seed)
{
    clg_ctx *ctx = tu_ctx();
    clg_graph *g = clg_graph_new(ctx);
    clg_t a = clg_input(g, "a", CLG_F32, &CLG_SHAPE(2, 3));
    clg_t y = clg_exp(g, a), gr;
    ck_assert_int_ne(clg_grad(g, y, CLG_NONE, &a, 1, &gr), CLG_OK);
    ck_assert_msg(clg_ctx_error(ctx)[0] != '\0', "no message");
    clg_graph_free(g);
}
END_TEST

/* Gradients through several slices of one tensor: L = sum_k c_k sum(exp(x[s_k]))
 * + sum(x^2)/2 over slices s_k of x [2, T, 3], so dL/dx = x + exp(x) * (sum of
 * c_k over the slices holding that element), in closed form. Slices that tile
 * one axis (with gaps, or repeating a range) get their gradient as one concat
 * and no zero-padded full-size pieces; slices that partly overlap or cut
 * different axes take the padded path. Both must give the same answer. */
typedef struct slice_spec {
    int axis;
    int64_t start, end;
    float c;
} slice_spec;

static void check_slice_grads(int64_t t, const slice_spec *sl, int n, int want_pads)
{
    clg_ctx *ctx = tu_ctx();
    clg_graph *g = clg_graph_new(ctx);
    const clg_shape sx = CLG_SHAPE(2, t, 3);
    clg_t x = clg_input(g, "x", CLG_F32, &sx);
    clg_t l = clg_mul_scalar(g, clg_sum(g, clg_mul(g, x, x), NULL, 0, 0), 0.5f);
    for (int k = 0; k < n; k++) {
        clg_t s = clg_slice(g, x, sl[k].axis, sl[k].start, sl[k].end);
        l = clg_add(g, l, clg_mul_scalar(g, clg_sum(g, clg_exp(g, s), NULL, 0, 0), sl[k].c));
    }
    int before = clg_graph_size(g);
    clg_t gx;
    ck_assert_msg(clg_grad(g, l, CLG_NONE, &x, 1, &gx) == CLG_OK, "%s", clg_ctx_error(ctx));
    int pads = 0, concats = 0;
    for (int i = before; i < clg_graph_size(g); i++) {
        pads += clg_op_of(g, i) == CLG_OP_PAD;
        concats += clg_op_of(g, i) == CLG_OP_CONCAT;
    }
    if (want_pads)
        ck_assert_msg(pads == n, "%d pads for %d padded slices", pads, n);
    else
        ck_assert_msg(pads == 0 && concats > 0, "tiling slices: %d pads, %d concats", pads,
                      concats);
    clg_compile_opts opts = { 0 };
    clg_plan *p = NULL;
    ck_assert_msg(clg_compile(g, tu_device(), &gx, 1, &opts, &p) == CLG_OK, "%s",
                  clg_ctx_error(ctx));
    int64_t m = 2 * t * 3;
    float *xv = malloc((size_t)m * sizeof *xv), *gv = malloc((size_t)m * sizeof *gv);
    ck_assert(xv && gv);
    for (int64_t i = 0; i < m; i++)
        xv[i] = (float)((i * 37 % 23) - 11) / 16.0f;
    ck_assert_int_eq(clg_plan_set_input(p, "x", xv, (size_t)m * sizeof *xv), CLG_OK);
    ck_assert_int_eq(clg_plan_run(p), CLG_OK);
    ck_assert_int_eq(clg_plan_read(p, gx, gv, (size_t)m * sizeof *gv), CLG_OK);
    for (int64_t i = 0; i < m; i++) {
        int64_t at[3] = { i / (t * 3), i / 3 % t, i % 3 };
        double c = 0;
        for (int k = 0; k < n; k++)
            c += at[sl[k].axis] >= sl[k].start && at[sl[k].axis] < sl[k].end ? sl[k].c : 0;
        double want = xv[i] + exp((double)xv[i]) * c;
        ck_assert_msg(fabs(gv[i] - want) <= 1e-5 * fmax(1.0, fabs(want)),
                      "on %s: dL/dx[%lld] = %.7g, closed form %.7g", tu_backend, (long long)i,
                      (double)gv[i], want);
    }
    free(xv);
    free(gv);
    clg_plan_free(p);
    clg_graph_free(g);
}

START_TEST(test_grad_slices_tiling)
{
    /* out of order, a repeated range, gaps at both ends and inside */
    static const slice_spec sl[] = { { 1, 4, 6, 1.5f }, { 1, 1, 3, 1.0f }, { 1, 3, 4, -2.0f },
                                     { 1, 1, 3, 0.25f } };
    check_slice_grads(7, sl, 4, 0);
}
END_TEST

/* More steps than a concat node takes inputs, as a recurrent layer's T steps */
START_TEST(test_grad_slices_many_steps)
{
    slice_spec sl[20];
    for (int k = 0; k < 20; k++)
        sl[k] = (slice_spec){ 1, k, k + 1, 0.5f + 0.125f * (float)k };
    check_slice_grads(20, sl, 20, 0);
}
END_TEST

START_TEST(test_grad_slices_overlapping)
{
    static const slice_spec sl[] = { { 1, 0, 3, 1.0f }, { 1, 2, 5, -0.5f } };
    check_slice_grads(5, sl, 2, 1);
}
END_TEST

START_TEST(test_grad_slices_two_axes)
{
    static const slice_spec sl[] = { { 1, 0, 2, 1.0f }, { 2, 1, 3, 0.75f } };
    check_slice_grads(4, sl, 2, 1);
}
END_TEST

static void add_tests(TCase *tc, const char *backend)
{
    (void)backend;
    tcase_add_loop_test(tc, test_gradcheck, 0, g_n_grad);
    tcase_add_test(tc, test_grad_unrelated_is_zero);
    tcase_add_test(tc, test_grad_nonscalar_needs_seed);
    tcase_add_test(tc, test_grad_slices_tiling);
    tcase_add_test(tc, test_grad_slices_many_steps);
    tcase_add_test(tc, test_grad_slices_overlapping);
    tcase_add_test(tc, test_grad_slices_two_axes);
}

int main(void)
{
    g_grad_cases = malloc(sizeof(int) * (size_t)tc_n_cases);
    for (int k = 0; k < tc_n_cases; k++)
        if (tc_grad_inputs(&tc_cases[k]))
            g_grad_cases[g_n_grad++] = k;
    printf("gradcheck: %d differentiable cases of %d\n", g_n_grad, tc_n_cases);
    int rc = tu_main("gradcheck", add_tests, 300);
    free(g_grad_cases);
    return rc;
}
