/* Memory planning: reuse of intermediate buffers shrinks the arena, and a
 * plan with reuse computes exactly (bit for bit) what the naive plan does,
 * through forward, backward and parameter updates. Prints planned vs naive
 * bytes of the seed network and of a 784-256-128-10 MLP. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"
#include "seednet.h"
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

static clg_plan_stats stats(const clg_plan *p)
{
    clg_plan_stats s;
    ck_assert_int_eq(clg_plan_stats_get(p, &s), CLG_OK);
    return s;
}

/* x -> exp -> *0.5 -> +x -> tanh -> square -> +1 -> sqrt: each intermediate
 * dies two ops later, so a planner needs only a few live buffers. */
START_TEST(test_chain_reuses_buffers)
{
    enum { N = 64 * 64 };
    clg_graph *g = clg_graph_new(tu_ctx());
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(64, 64));
    clg_t a = clg_mul_scalar(g, clg_exp(g, x), 0.5f);
    clg_t d = clg_tanh(g, clg_add(g, a, x));
    clg_t y = clg_sqrt(g, clg_add_scalar(g, clg_mul(g, d, d), 1.0f));
    ck_assert_msg(y != CLG_NONE, "%s", clg_graph_error(g));
    clg_plan *reuse = compile(g, &y, 1, 0), *naive = compile(g, &y, 1, 1);
    clg_plan_stats sr = stats(reuse), sn = stats(naive);
    printf("memplan[%s] chain of 7 ops on [64, 64]: planned %zu bytes, naive %zu bytes\n",
           tu_backend, sr.planned_bytes, sn.naive_bytes);
    ck_assert_msg(sr.planned_bytes < sr.naive_bytes, "planned %zu >= naive %zu",
                  sr.planned_bytes, sr.naive_bytes);
    /* six intermediates of 16 KiB each in the naive plan, at least */
    ck_assert_uint_ge(sr.naive_bytes, 6 * N * sizeof(float));
    ck_assert_uint_eq(sr.naive_bytes, sn.naive_bytes);
    ck_assert_uint_ge(sn.planned_bytes, sn.naive_bytes);

    float *in = malloc(N * sizeof(float)), *o1 = malloc(N * sizeof(float)),
          *o2 = malloc(N * sizeof(float));
    tc_rng r;
    tc_rng_seed(&r, 42);
    for (int i = 0; i < N; i++)
        in[i] = (float)tc_normal(&r);
    clg_plan *ps[2] = { reuse, naive };
    float *os[2] = { o1, o2 };
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(clg_plan_set_input(ps[k], "x", in, N * sizeof(float)), CLG_OK);
        ck_assert_int_eq(clg_plan_run(ps[k]), CLG_OK);
        ck_assert_int_eq(clg_plan_read(ps[k], y, os[k], N * sizeof(float)), CLG_OK);
    }
    ck_assert_msg(memcmp(o1, o2, N * sizeof(float)) == 0, "reuse and naive plans differ");
    /* and both are right: a reused buffer clobbered too early would not be */
    for (int i = 0; i < N; i++) {
        double xv = in[i], t = tanh(0.5 * exp(xv) + xv), want = sqrt(t * t + 1);
        ck_assert_msg(fabs(o1[i] - want) <= 1e-5 * want, "[%d]: got %.8g want %.8g", i,
                      (double)o1[i], want);
    }
    free(in);
    free(o1);
    free(o2);
    clg_plan_free(reuse);
    clg_plan_free(naive);
    clg_graph_free(g);
}
END_TEST

/* An output that is also an intermediate (d feeds y) must survive to the
 * read, whatever the planner reuses; and a plan run again on new input gives
 * the new result (no state kept between runs). */
START_TEST(test_intermediate_output_and_rerun)
{
    enum { N = 32 * 16 };
    clg_graph *g = clg_graph_new(tu_ctx());
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(32, 16));
    clg_t d = clg_exp(g, x);
    clg_t e = clg_add_scalar(g, clg_mul_scalar(g, d, 3.0f), -1.0f);
    clg_t y = clg_neg(g, clg_mul(g, clg_tanh(g, e), clg_sigmoid(g, e)));
    clg_t outs[2] = { d, y };
    clg_plan *p = compile(g, outs, 2, 0);
    float *in = malloc(N * sizeof(float)), *od = malloc(N * sizeof(float)),
          *oy = malloc(N * sizeof(float));
    tc_rng r;
    tc_rng_seed(&r, 5);
    for (int run = 0; run < 2; run++) {
        for (int i = 0; i < N; i++)
            in[i] = (float)tc_normal(&r);
        ck_assert_int_eq(clg_plan_set_input(p, "x", in, N * sizeof(float)), CLG_OK);
        ck_assert_int_eq(clg_plan_run(p), CLG_OK);
        ck_assert_int_eq(clg_plan_read(p, y, oy, N * sizeof(float)), CLG_OK);
        ck_assert_int_eq(clg_plan_read(p, d, od, N * sizeof(float)), CLG_OK);
        for (int i = 0; i < N; i++) {
            double dv = exp((double)in[i]), ev = 3 * dv - 1;
            double yv = -tanh(ev) / (1 + exp(-ev));
            ck_assert_msg(fabs(od[i] - dv) <= 1e-5 * dv, "run %d: d[%d] = %.8g, want %.8g", run,
                          i, (double)od[i], dv);
            ck_assert_msg(fabs(oy[i] - yv) <= 1e-5 * fabs(yv) + 1e-6,
                          "run %d: y[%d] = %.8g, want %.8g", run, i, (double)oy[i], yv);
        }
    }
    free(in);
    free(od);
    free(oy);
    clg_plan_free(p);
    clg_graph_free(g);
}
END_TEST

/* Assignments run after every op: an output reading p sees p before this
 * run's update, and the store holds the update afterwards. Checked with and
 * without buffer reuse. */
static void assign_after_ops(int no_reuse)
{
    clg_store *st;
    ck_assert_int_eq(clg_store_new(tu_device(), &st), CLG_OK);
    const float p0[3] = { 1.0f, -2.0f, 0.5f };
    ck_assert_int_eq(clg_store_add(st, "p", CLG_F32, &CLG_SHAPE(3), p0), CLG_OK);
    clg_graph *g = clg_graph_new(tu_ctx());
    clg_t p = clg_param(g, st, "p");
    clg_t out = clg_mul_scalar(g, p, 2.0f);
    ck_assert_int_eq(clg_assign(g, p, clg_add_scalar(g, p, 1.0f)), CLG_OK);
    clg_plan *plan = compile(g, &out, 1, no_reuse);
    for (int run = 0; run < 3; run++) {
        float o[3], now[3];
        ck_assert_int_eq(clg_plan_run(plan), CLG_OK);
        ck_assert_int_eq(clg_plan_read(plan, out, o, sizeof o), CLG_OK);
        ck_assert_int_eq(clg_store_read(st, "p", now, sizeof now), CLG_OK);
        for (int i = 0; i < 3; i++) {
            ck_assert_msg(o[i] == 2 * (p0[i] + (float)run), "run %d: out[%d] = %g, want %g", run,
                          i, (double)o[i], 2.0 * (p0[i] + run));
            ck_assert_msg(now[i] == p0[i] + (float)(run + 1), "run %d: p[%d] = %g, want %g", run,
                          i, (double)now[i], (double)(p0[i] + run + 1));
        }
    }
    clg_plan_free(plan);
    clg_graph_free(g);
    clg_store_free(st);
}

START_TEST(test_assign_after_ops_reuse) { assign_after_ops(0); }
END_TEST
START_TEST(test_assign_after_ops_naive) { assign_after_ops(1); }
END_TEST

/* MLP 784-256-128-10, log_softmax + NLL by gather, SGD. */
static clg_t mlp_step_graph(clg_graph *g, clg_store *st, clg_rng *rng, int batch, float lr)
{
    static const char *const names[] = { "0.weight", "0.bias", "2.weight",
                                         "2.bias",   "4.weight", "4.bias" };
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(batch, 784));
    clg_t labels = clg_input(g, "labels", CLG_I32, &CLG_SHAPE(batch, 1));
    clg_t h = clg_relu(g, clg_linear(g, st, "0", x, 784, 256, 1, rng));
    h = clg_relu(g, clg_linear(g, st, "2", h, 256, 128, 1, rng));
    clg_t logits = clg_linear(g, st, "4", h, 128, 10, 1, rng);
    clg_t picked = clg_gather(g, clg_log_softmax(g, logits, 1), labels, 1);
    clg_t loss = clg_neg(g, clg_mean(g, picked, NULL, 0, 0));
    clg_t p[6], gr[6];
    for (int i = 0; i < 6; i++)
        p[i] = clg_param(g, st, names[i]);
    if (loss == CLG_NONE || clg_grad(g, loss, CLG_NONE, p, 6, gr) != CLG_OK)
        return CLG_NONE;
    for (int i = 0; i < 6; i++)
        clg_assign(g, p[i], clg_sub(g, p[i], clg_mul_scalar(g, gr[i], lr)));
    return loss;
}

typedef clg_t (*step_fn)(clg_graph *, clg_store *, clg_rng *, int, float);

typedef struct net {
    clg_store *st;
    clg_graph *g;
    clg_plan *p;
    clg_t loss;
} net;

static void net_make(net *n, step_fn step, int batch, float lr, int no_reuse)
{
    clg_rng rng;
    clg_rng_seed(&rng, 7);
    ck_assert_int_eq(clg_store_new(tu_device(), &n->st), CLG_OK);
    n->g = clg_graph_new(tu_ctx());
    n->loss = step(n->g, n->st, &rng, batch, lr);
    ck_assert_msg(n->loss != CLG_NONE, "%s", clg_graph_error(n->g));
    n->p = compile(n->g, &n->loss, 1, no_reuse);
}

static void net_free(net *n)
{
    clg_plan_free(n->p);
    clg_graph_free(n->g);
    clg_store_free(n->st);
}

/* Steps a reuse plan and a naive plan (separate stores, same init) on the
 * same batches; losses and every parameter must match bit for bit. */
static void same_bits(step_fn step, int batch, int in_features, int classes, int steps)
{
    net a, b;
    net_make(&a, step, batch, 0.05f, 0);
    net_make(&b, step, batch, 0.05f, 1);
    size_t xb = (size_t)batch * in_features * sizeof(float);
    float *x = malloc(xb), *y = malloc((size_t)batch * sizeof(float));
    int32_t *lab = malloc((size_t)batch * sizeof(int32_t));
    tc_rng r;
    tc_rng_seed(&r, 99);
    for (int s = 0; s < steps; s++) {
        for (size_t i = 0; i < xb / sizeof(float); i++)
            x[i] = (float)tc_normal(&r);
        for (int i = 0; i < batch; i++) {
            y[i] = (float)tc_normal(&r);
            lab[i] = (int32_t)(tc_uniform(&r) * classes);
        }
        float la, lb;
        net *ns[2] = { &a, &b };
        float *ls[2] = { &la, &lb };
        for (int k = 0; k < 2; k++) {
            clg_plan *p = ns[k]->p;
            ck_assert_int_eq(clg_plan_set_input(p, "x", x, xb), CLG_OK);
            if (classes)
                ck_assert_int_eq(clg_plan_set_input(p, "labels", lab, batch * sizeof(int32_t)),
                                 CLG_OK);
            else
                ck_assert_int_eq(clg_plan_set_input(p, "y", y, batch * sizeof(float)), CLG_OK);
            ck_assert_msg(clg_plan_run(p) == CLG_OK, "%s", clg_ctx_error(tu_ctx()));
            ck_assert_int_eq(clg_plan_read(p, ns[k]->loss, ls[k], sizeof(float)), CLG_OK);
        }
        ck_assert_msg(memcmp(&la, &lb, sizeof la) == 0, "step %d: loss %.9g (reuse) vs %.9g",
                      s, (double)la, (double)lb);
        ck_assert_msg(isfinite(la), "step %d: loss %g", s, (double)la);
    }
    ck_assert_int_eq(clg_store_count(a.st), clg_store_count(b.st));
    for (int i = 0; i < clg_store_count(a.st); i++) {
        const char *name = clg_store_name(a.st, i);
        clg_shape sh = clg_store_shape(a.st, i);
        size_t bytes = (size_t)clg_shape_numel(&sh) * sizeof(float);
        float *pa = malloc(bytes), *pb = malloc(bytes);
        ck_assert_int_eq(clg_store_read(a.st, name, pa, bytes), CLG_OK);
        ck_assert_int_eq(clg_store_read(b.st, name, pb, bytes), CLG_OK);
        ck_assert_msg(memcmp(pa, pb, bytes) == 0, "%s differs after %d steps", name, steps);
        free(pa);
        free(pb);
    }
    free(x);
    free(y);
    free(lab);
    net_free(&a);
    net_free(&b);
}

START_TEST(test_seed_net_reuse_bit_identical)
{
    same_bits(seed_step_graph, SEED_BATCH, SEED_IN, 0, 5);
}
END_TEST

START_TEST(test_mlp_reuse_bit_identical)
{
    same_bits(mlp_step_graph, 128, 784, 10, 2);
}
END_TEST

static void report(const char *what, step_fn step, int batch)
{
    net n;
    net_make(&n, step, batch, 0.01f, 0);
    clg_plan_stats s = stats(n.p);
    printf("memplan[%s] %s: planned %zu bytes, naive %zu bytes (%.1f%%), %d ops, %d nodes\n",
           tu_backend, what, s.planned_bytes, s.naive_bytes,
           100.0 * (double)s.planned_bytes / (double)(s.naive_bytes ? s.naive_bytes : 1), s.n_ops,
           s.n_nodes);
    fflush(stdout);
    ck_assert_msg(s.planned_bytes < s.naive_bytes, "%s: planned %zu >= naive %zu", what,
                  s.planned_bytes, s.naive_bytes);
    net_free(&n);
}

START_TEST(test_report_seed_net)
{
    report("seed net 10-5-1 MSE fwd+bwd+SGD, batch 32", seed_step_graph, SEED_BATCH);
}
END_TEST

START_TEST(test_report_mlp)
{
    report("MLP 784-256-128-10 log_softmax+NLL fwd+bwd+SGD, batch 128", mlp_step_graph, 128);
}
END_TEST

static void add_tests(TCase *tc, const char *backend)
{
    (void)backend;
    tcase_add_test(tc, test_chain_reuses_buffers);
    tcase_add_test(tc, test_intermediate_output_and_rerun);
    tcase_add_test(tc, test_assign_after_ops_reuse);
    tcase_add_test(tc, test_assign_after_ops_naive);
    tcase_add_test(tc, test_seed_net_reuse_bit_identical);
    tcase_add_test(tc, test_mlp_reuse_bit_identical);
    tcase_add_test(tc, test_report_seed_net);
    tcase_add_test(tc, test_report_mlp);
}

int main(void)
{
    return tu_main("memplan", add_tests, 120);
}
