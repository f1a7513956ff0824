/* The seed network; see seednet.h. */
#include "seednet.h"

#include <stdlib.h>
#include <string.h>

#include "synthetic.h"

static const char *const seed_params[] = { "0.weight", "0.bias", "2.weight", "2.bias" };
#define SEED_NPARAMS 4

clg_t seed_step_graph(clg_graph *g, clg_store *st, clg_rng *rng, int batch, float lr)
{
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(batch, SEED_IN));
    clg_t y = clg_input(g, "y", CLG_F32, &CLG_SHAPE(batch, 1));
    clg_t h = clg_relu(g, clg_linear(g, st, "0", x, SEED_IN, SEED_HIDDEN, 1, rng));
    clg_t yhat = clg_linear(g, st, "2", h, SEED_HIDDEN, 1, 1, rng);
    clg_t d = clg_sub(g, yhat, y);
    clg_t loss = clg_mean(g, clg_mul(g, d, d), NULL, 0, 0);
    if (loss == CLG_NONE)
        return CLG_NONE;

    clg_t p[SEED_NPARAMS], grad[SEED_NPARAMS];
    for (int i = 0; i < SEED_NPARAMS; i++)
        p[i] = clg_param(g, st, seed_params[i]); /* the nodes clg_linear made */
    if (clg_grad(g, loss, CLG_NONE, p, SEED_NPARAMS, grad) != CLG_OK)
        return CLG_NONE;
    for (int i = 0; i < SEED_NPARAMS; i++)
        if (clg_assign(g, p[i], clg_sub(g, p[i], clg_mul_scalar(g, grad[i], lr))) != CLG_OK)
            return CLG_NONE;
    return loss;
}

clg_status seed_train(clg_device *dev, int epochs, uint64_t seed, double *losses,
                      seed_epoch_fn on_epoch, void *user, clg_store **out_store)
{
    clg_ctx *ctx = clg_device_ctx(dev);
    const int n = SEED_SAMPLES, batch = SEED_BATCH;
    float *x = malloc(sizeof(float) * n * SEED_IN), *y = malloc(sizeof(float) * n);
    float *bx = malloc(sizeof(float) * batch * SEED_IN), *by = malloc(sizeof(float) * batch);
    int *order = malloc(sizeof(int) * n);
    clg_store *st = NULL;
    clg_graph *g = NULL;
    clg_plan *plan = NULL;
    clg_status s = CLG_ERR_NOMEM;
    if (!x || !y || !bx || !by || !order) {
        clg_ctx_set_error(ctx, s, "seed_train: out of memory");
        goto done;
    }
    synth_regression(n, SEED_IN, SEED_DATA_SEED, x, y);

    clg_rng rng;
    clg_rng_seed(&rng, seed);
    if ((s = clg_store_new(dev, &st)) != CLG_OK)
        goto done;
    g = clg_graph_new(ctx);
    clg_t loss = seed_step_graph(g, st, &rng, batch, SEED_LR);
    clg_compile_opts opts = { 0 };
    if ((s = clg_compile(g, dev, &loss, 1, &opts, &plan)) != CLG_OK)
        goto done;

    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int e = 0; e < epochs; e++) {
        for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)(clg_rng_uniform(&rng) * (i + 1));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double sum = 0;
        int steps = 0;
        for (int b0 = 0; b0 + batch <= n; b0 += batch, steps++) {
            for (int k = 0; k < batch; k++) {
                memcpy(bx + k * SEED_IN, x + (size_t)order[b0 + k] * SEED_IN,
                       sizeof(float) * SEED_IN);
                by[k] = y[order[b0 + k]];
            }
            float l;
            if ((s = clg_plan_set_input(plan, "x", bx, sizeof(float) * batch * SEED_IN)) ||
                (s = clg_plan_set_input(plan, "y", by, sizeof(float) * batch)) ||
                (s = clg_plan_run(plan)) || (s = clg_plan_read(plan, loss, &l, sizeof l)))
                goto done;
            sum += l;
        }
        if (losses)
            losses[e] = sum / steps;
        if (on_epoch)
            on_epoch(e + 1, sum / steps, user);
    }
    s = CLG_OK;
done:
    if (plan)
        clg_plan_free(plan);
    if (g)
        clg_graph_free(g);
    if (s == CLG_OK && out_store)
        *out_store = st;
    else if (st)
        clg_store_free(st);
    free(x);
    free(y);
    free(bx);
    free(by);
    free(order);
    return s;
}
