/* backends/cpu/vmath.h: each table (SLEEF per instruction set, libm) against
 * the C library's double functions, which are independent of the code under
 * test and far more accurate than a float's last bit. Over a sweep of float
 * bit patterns (every sign and exponent, a stride through the mantissas),
 * edge cases, and the ranges where tanh and sigmoid saturate, the error in
 * ULPs of the float nearest the true value stays within SLEEF's documented
 * 1.0 for the u10 functions (see bound_of), and glibc's for the libm table;
 * NaN, overflow to infinity and exact values are checked exactly. And a
 * value's bits must not depend on its place in a row (the determinism the
 * fused and unfused kernels rely on). */
#include "vmath.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fn_case {
    const char *name;
    size_t off; /* of the function in cpu_vm_table */
    double (*ref)(double);
} fn_case;

static const fn_case fns[] = {
    { "exp", offsetof(cpu_vm_table, exp), exp },
    { "log", offsetof(cpu_vm_table, log), log },
    { "log1p", offsetof(cpu_vm_table, log1p), log1p },
    { "tanh", offsetof(cpu_vm_table, tanh), tanh },
    { "erf", offsetof(cpu_vm_table, erf), erf },
};
#define N_FNS (int)(sizeof fns / sizeof fns[0])

static cpu_vm_fn *fn_of(const cpu_vm_table *t, int f)
{
    cpu_vm_fn *p;
    memcpy(&p, (const char *)t + fns[f].off, sizeof p);
    return p;
}

static const cpu_vm_table *tables[8];
static int n_tables;

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* |y - r| in units of the spacing of floats at r (2^-149 below the normal
 * range). A result of +-inf for a finite r counts as +-2^128, the next step
 * after FLT_MAX, so an overflow right at the threshold is not an error. */
static double ulp_error(float y, double r)
{
    double yd = y;
    if (isinf(y) && !isinf(r))
        yd = copysign(ldexp(1.0, 128), y);
    int e;
    frexp(fabs(r), &e);
    const double ulp = ldexp(1.0, (e - 24) < -149 ? -149 : e - 24);
    return fabs(yd - r) / ulp;
}

/* SLEEF documents 1.0 ULP for its u10 functions, for normal results; tiny
 * tanh measures 1.0000x (so 1.1), and results in or near the subnormal range
 * (below 2^-120), whose intermediate steps lose bits, reach 1.56 (erf, SSE2),
 * so 2 there. glibc lists
 * up to 2 ULP from the correctly rounded float for tanhf and erff, which is
 * up to 2.5 from the true value. */
static double bound_of(const cpu_vm_table *t, double r)
{
    if (strcmp(t->name, "libm") == 0)
        return 2.5;
    return fabs(r) < 0x1p-120 ? 2.0 : 1.1;
}

/* Checks n inputs of function f of table t; returns the largest error.
 * Fails through ck_abort_msg only: a ck_assert per element would report
 * progress to Check's parent process a million times. */
static double check_inputs(const cpu_vm_table *t, int f, const float *x, float *y, int64_t n)
{
    fn_of(t, f)(y, x, n);
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double r = fns[f].ref((double)x[i]);
        if (isnan(r)) {
            if (!isnan(y[i]))
                ck_abort_msg("%s %s(%a) = %a, want NaN", t->name, fns[f].name, (double)x[i],
                             (double)y[i]);
            continue;
        }
        if (fns[f].ref == log1p && x[i] > 1e38f)
            continue; /* outside log1p's domain in vmath.h */
        if (isinf((float)r)) { /* overflow: the result must be that infinity */
            if (y[i] != (float)r)
                ck_abort_msg("%s %s(%a) = %a, want %a", t->name, fns[f].name, (double)x[i],
                             (double)y[i], (double)(float)r);
            continue;
        }
        const double err = ulp_error(y[i], r), bound = bound_of(t, r);
        if (!(err <= bound))
            ck_abort_msg("%s %s(%a) = %a, want %a: %.3f ULP > %.1f", t->name, fns[f].name,
                         (double)x[i], (double)y[i], r, err, bound);
        if (err > worst)
            worst = err;
    }
    return worst;
}

#define SWEEP_STRIDE 16411u /* prime: 262k patterns, ~1000 in every exponent */

START_TEST(sweep)
{
    const cpu_vm_table *t = tables[_i / N_FNS];
    const int f = _i % N_FNS;
    const int64_t n = (int64_t)(UINT32_MAX / SWEEP_STRIDE) + 1;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    ck_assert(x && y);
    for (int64_t i = 0; i < n; i++)
        x[i] = from_bits((uint32_t)i * SWEEP_STRIDE);
    const double worst = check_inputs(t, f, x, y, n);
    printf("vmath %-6s %-5s: max %.3f ULP over %lld inputs\n", t->name, fns[f].name, worst,
           (long long)n);
    free(x);
    free(y);
}
END_TEST

/* Edges, and a dense walk over the ranges that matter here: where exp
 * overflows and underflows, where tanh and erf reach +-1 (the saturation of
 * sigmoid = exp(-|x|) based and of gelu), and around 0. */
START_TEST(edges)
{
    const cpu_vm_table *t = tables[_i / N_FNS];
    const int f = _i % N_FNS;
    enum { DENSE = 20001 };
    static const float special[] = {
        0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, 1.0f, -1.0f, FLT_MIN, -FLT_MIN,
        FLT_TRUE_MIN, -FLT_TRUE_MIN, FLT_MAX, -FLT_MAX, 88.72283f, 88.72284f, -87.33654f,
        -103.97208f, -103.97209f, -104.0f, 1e-30f, -1e-30f, 9.0f, -9.0f, 10.0f, 15.0f, -15.0f,
        0.5f, -0.5f, 0.9999999f, -0.9999999f, 2.0f, 1e30f, -1e30f,
    };
    const int n_special = (int)(sizeof special / sizeof special[0]);
    static const float ranges[][2] = {
        { -110.0f, 95.0f }, /* exp: underflow to subnormals and zero, overflow */
        { -12.0f, 12.0f },  /* tanh, erf: through to saturation */
        { -1e-3f, 1e-3f },  /* around zero */
        { -1.0f, 1.0f },    /* log1p's pole at -1 and log's small arguments */
    };
    const int n_ranges = (int)(sizeof ranges / sizeof ranges[0]);
    const int64_t n = n_special + (int64_t)n_ranges * DENSE;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    ck_assert(x && y);
    memcpy(x, special, sizeof special);
    for (int r = 0; r < n_ranges; r++)
        for (int k = 0; k < DENSE; k++)
            x[n_special + r * DENSE + k] =
                ranges[r][0] + (ranges[r][1] - ranges[r][0]) * (float)k / (float)(DENSE - 1);
    check_inputs(t, f, x, y, n);
    free(x);
    free(y);
}
END_TEST

/* The same input gives the same bits at any place in a row of any length
 * (full vectors and padded tails alike), and o == x works. */
START_TEST(position_independent)
{
    const cpu_vm_table *t = tables[_i / N_FNS];
    const int f = _i % N_FNS;
    enum { LEN = 67 };
    float x[LEN], want[LEN], got[LEN];
    for (int i = 0; i < LEN; i++)
        x[i] = (float)(i - 30) * 0.37f + 0.011f;
    for (int i = 0; i < LEN; i++)
        fn_of(t, f)(&want[i], &x[i], 1);
    for (int start = 0; start < 20; start++)
        for (int len = 0; start + len <= LEN; len++) {
            memcpy(got, x, sizeof x);
            fn_of(t, f)(got + start, got + start, len);
            for (int i = start; i < start + len; i++)
                ck_assert_msg(memcmp(&got[i], &want[i], sizeof(float)) == 0,
                              "%s %s: element %d of a row [%d, %d) differs", t->name,
                              fns[f].name, i, start, start + len);
        }
}
END_TEST

int main(void)
{
    n_tables = cpu_vm_tables(tables, 8);
    if (n_tables < 1) {
        fprintf(stderr, "vmath: no table\n");
        return EXIT_FAILURE;
    }
    printf("vmath: backend uses %s; checking", cpu_vm()->name);
    for (int i = 0; i < n_tables; i++)
        printf(" %s", tables[i]->name);
    printf("\n");
    Suite *s = suite_create("cpu-vmath");
    TCase *tc = tcase_create("vmath");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, sweep, 0, n_tables * N_FNS);
    tcase_add_loop_test(tc, edges, 0, n_tables * N_FNS);
    tcase_add_loop_test(tc, position_independent, 0, n_tables * N_FNS);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
