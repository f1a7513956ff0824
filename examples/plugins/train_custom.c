/* Trains a small regression model with the components named on the command
 * line -- by default the out-of-tree "lion" optimizer and "log-cosh" loss --
 * and exits 0 if the loss went down. The plugins are found through
 * CLGRAD_PLUGIN_PATH.
 *
 *   cc -o train_custom train_custom.c $(pkg-config --cflags --libs clgrad)
 *   CLGRAD_PLUGIN_PATH=. ./train_custom [optimizer-spec [loss-spec [backend]]]
 */
#include <clgrad/train.h>

#include <stdio.h>

#define N 32
#define IN 3

int main(int argc, char **argv)
{
    const char *opt = argc > 1 ? argv[1] : "lion:beta1=0.9,beta2=0.99";
    const char *loss_spec = argc > 2 ? argv[2] : "log-cosh";
    const char *backend = argc > 3 ? argv[3] : "cpu";

    /* y = 2*x0 - x1 + 0.5*x2 + 1 */
    float x[N * IN], y[N];
    clg_rng rng;
    clg_rng_seed(&rng, 7);
    for (int i = 0; i < N; i++) {
        for (int k = 0; k < IN; k++)
            x[i * IN + k] = (float)(clg_rng_uniform(&rng) * 2 - 1);
        y[i] = 2 * x[i * IN] - x[i * IN + 1] + 0.5f * x[i * IN + 2] + 1;
    }

    clg_ctx *ctx = clg_ctx_new();
    clg_device *dev = NULL;
    clg_store *st = NULL;
    clg_graph *g = NULL;
    clg_trainer *tr = NULL;
    int rc = 1;
    if (clg_device_open(ctx, backend, 0, &dev) != CLG_OK || clg_store_new(dev, &st) != CLG_OK)
        goto out;
    g = clg_graph_new(ctx);
    clg_shape xs = CLG_SHAPE(N, IN), ys = CLG_SHAPE(N, 1);
    clg_t xi = clg_input(g, "x", CLG_F32, &xs);
    clg_t yi = clg_input(g, "y", CLG_F32, &ys);
    clg_t pred = clg_linear(g, st, "0", xi, IN, 1, 1, &rng);
    clg_t loss;
    if (clg_loss_build(g, loss_spec, pred, yi, &loss) != CLG_OK)
        goto out;
    clg_trainer_opts o = { .lr = 0.05, .optimizer = opt, .scheduler = "cosine:T_max=40,interval=step" };
    if (clg_trainer_new(g, st, loss, &o, &tr) != CLG_OK)
        goto out;
    if (clg_trainer_set_input(tr, "x", x, sizeof x) != CLG_OK ||
        clg_trainer_set_input(tr, "y", y, sizeof y) != CLG_OK)
        goto out;
    float first = 0, last = 0;
    for (int s = 0; s < 40; s++) {
        if (clg_trainer_step(tr, &last) != CLG_OK)
            goto out;
        if (s == 0)
            first = last;
    }
    printf("%s + %s on %s: loss %.5f -> %.5f over 40 steps (lr now %.3g)\n", opt, loss_spec,
           backend, first, last, clg_trainer_lr(tr));
    rc = last < 0.5f * first ? 0 : 2;
    if (rc)
        fprintf(stderr, "train_custom: the loss did not halve\n");
out:
    if (rc == 1)
        fprintf(stderr, "train_custom: %s\n", clg_ctx_error(ctx));
    clg_trainer_free(tr);
    clg_graph_free(g);
    clg_store_free(st);
    clg_device_close(dev);
    clg_ctx_free(ctx);
    return rc;
}
