/* Parity harness, clgrad side: replays parity.py's run with a plugin
 * optimizer and compares every step's loss and the final weights with
 * PyTorch's. Out of tree:
 *
 *   cc -o parity parity.c $(pkg-config --cflags --libs clgrad)
 *   python3 parity.py run.safetensors
 *   ./parity run.safetensors ./clgrad-plugin-mine.so [cpu|opencl]
 *
 * Prints the largest relative deviation (against max(|torch|, 1e-2)) and
 * exits 1 when it is above the file's tolerance. */
#include <clgrad/data.h>
#include <clgrad/train.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const float *tensor(const clg_tensor_set *s, const char *name, clg_shape *shape)
{
    int i = clg_tensor_set_find(s, name);
    if (i < 0) {
        fprintf(stderr, "parity: the file has no tensor '%s'\n", name);
        exit(2);
    }
    if (shape)
        *shape = s->t[i].shape;
    return s->t[i].data;
}

static double rel(double a, double b)
{
    return fabs(a - b) / (fabs(b) > 1e-2 ? fabs(b) : 1e-2);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: parity RUN.safetensors PLUGIN.so [BACKEND]\n");
        return 2;
    }
    const char *backend = argc > 3 ? argv[3] : "cpu";
    clg_ctx *ctx = clg_ctx_new();
    clg_tensor_set *s = NULL;
    clg_device *dev = NULL;
    clg_store *st = NULL;
    clg_trainer *tr = NULL;
    int rc = 2;
#define CHECK(call)                                                          \
    do {                                                                     \
        if ((call) != CLG_OK) {                                              \
            fprintf(stderr, "parity: %s\n", clg_ctx_error(ctx));             \
            goto out;                                                        \
        }                                                                    \
    } while (0)
    CHECK(clg_safetensors_read(ctx, argv[1], &s));
    CHECK(clg_plugins_load(ctx, argv[2]));
    const char *spec = clg_tensor_set_get_meta(s, "spec");
    const char *lr_s = clg_tensor_set_get_meta(s, "lr"), *steps_s = clg_tensor_set_get_meta(s, "steps");
    const char *tol_s = clg_tensor_set_get_meta(s, "tol");
    if (!spec || !lr_s || !steps_s) {
        fprintf(stderr, "parity: %s lacks spec/lr/steps metadata (write it with parity.py)\n",
                argv[1]);
        goto out;
    }
    double tol = tol_s ? atof(tol_s) : 1e-5;
    int steps = atoi(steps_s);

    CHECK(clg_device_open(ctx, backend, 0, &dev));
    CHECK(clg_store_new(dev, &st));
    const char *pn[4] = { "0.weight", "0.bias", "2.weight", "2.bias" };
    for (int i = 0; i < 4; i++) {
        clg_shape sh;
        const float *v = tensor(s, pn[i], &sh);
        CHECK(clg_store_add(st, pn[i], CLG_F32, &sh, v));
    }
    clg_shape xs, ys;
    const float *x = tensor(s, "x", &xs), *y = tensor(s, "y", &ys); /* [NB, B, IN], [NB, B, OUT] */
    int64_t nb = xs.dim[0], b = xs.dim[1], in = xs.dim[2], out = ys.dim[2];
    clg_graph *g = clg_graph_new(ctx);
    clg_shape bx = CLG_SHAPE(b, in), by = CLG_SHAPE(b, out);
    clg_t xi = clg_input(g, "x", CLG_F32, &bx), yi = clg_input(g, "y", CLG_F32, &by);
    clg_t h = clg_tanh(g, clg_add(g, clg_matmul(g, xi, clg_param(g, st, "0.weight"), 0, 1),
                                  clg_param(g, st, "0.bias")));
    clg_t yh = clg_add(g, clg_matmul(g, h, clg_param(g, st, "2.weight"), 0, 1),
                       clg_param(g, st, "2.bias"));
    clg_t loss;
    clg_status bs = clg_loss_build(g, "mse", yh, yi, &loss);
    clg_trainer_opts o = { .lr = atof(lr_s), .optimizer = spec };
    if (bs == CLG_OK)
        bs = clg_trainer_new(g, st, loss, &o, &tr);
    clg_graph_free(g);
    CHECK(bs);

    const float *want_loss = tensor(s, "want.loss", NULL);
    double worst_loss = 0, worst_w = 0;
    int worst_step = 0;
    for (int i = 0; i < steps; i++) {
        int k = i % (int)nb;
        float l;
        CHECK(clg_trainer_set_input(tr, "x", x + k * b * in, sizeof(float) * (size_t)(b * in)));
        CHECK(clg_trainer_set_input(tr, "y", y + k * b * out, sizeof(float) * (size_t)(b * out)));
        CHECK(clg_trainer_step(tr, &l));
        double r = rel(l, want_loss[i]);
        if (r > worst_loss) {
            worst_loss = r;
            worst_step = i + 1;
        }
    }
    const char *worst_name = "-";
    for (int p = 0; p < 4; p++) {
        char wn[32];
        snprintf(wn, sizeof wn, "want.%s", pn[p]);
        clg_shape sh;
        const float *want = tensor(s, wn, &sh);
        int64_t n = clg_shape_numel(&sh);
        float *got = malloc(sizeof(float) * (size_t)n);
        if (!got)
            goto out;
        if (clg_store_read(st, pn[p], got, sizeof(float) * (size_t)n) != CLG_OK) {
            free(got);
            CHECK(CLG_ERR_INVALID);
        }
        for (int64_t k = 0; k < n; k++)
            if (rel(got[k], want[k]) > worst_w) {
                worst_w = rel(got[k], want[k]);
                worst_name = pn[p];
            }
        free(got);
    }
    printf("%s on %s, %d steps vs torch %s: loss max rel dev %.2e (step %d), weights %.2e (%s); "
           "tolerance %g\n", spec, backend, steps,
           clg_tensor_set_get_meta(s, "torch") ? clg_tensor_set_get_meta(s, "torch") : "?",
           worst_loss, worst_step, worst_w, worst_name, tol);
    rc = worst_loss <= tol && worst_w <= tol ? 0 : 1;
    if (rc)
        printf("PARITY FAILED: check the rounding of your constants ((float)(1.0 - beta), or "
               "clg_ema) and the order of your ops against the PyTorch code\n");
out:
    clg_trainer_free(tr);
    clg_store_free(st);
    clg_device_close(dev);
    clg_tensor_set_free(s);
    clg_ctx_free(ctx);
    return rc;
}
