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

static void add_tests(TCase *tc, const char *backend)
{
    (void)backend;
    tcase_add_loop_test(tc, test_gradcheck, 0, g_n_grad);
    tcase_add_test(tc, test_grad_unrelated_is_zero);
    tcase_add_test(tc, test_grad_nonscalar_needs_seed);
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
