/* The Lion example of docs/plugins.md (examples/plugins/lion.c) against a
 * PyTorch Lion (gen_lion.py): 100 optimizer steps of a small tanh MLP on
 * every backend must stay within 1e-6 relative of PyTorch. This is the test
 * of the docs' rounding advice: constants rounded once from double. */
#include "lion_fixture.h"
#include "tp_util.h"

#include <stdio.h>

#define NCASES ((int)(sizeof lx_cases / sizeof lx_cases[0]))
#define TOL 1e-6
#define FLOOR 1e-2

static const char *const pnames[4] = { "0.weight", "0.bias", "2.weight", "2.bias" };

START_TEST(lion_matches_torch)
{
    for (int c = 0; c < NCASES; c++) {
        const lx_case *lc = &lx_cases[c];
        clg_ctx *ctx = clg_ctx_new();
        ck_assert_msg(clg_plugins_load(ctx, LION_PLUGIN) == CLG_OK, "%s", clg_ctx_error(ctx));
        clg_device *dev;
        clg_store *st;
        ck_assert_msg(clg_device_open(ctx, tp_backend, 0, &dev) == CLG_OK, "%s",
                      clg_ctx_error(ctx));
        ck_assert(clg_store_new(dev, &st) == CLG_OK);
        const float *init[4] = { lx_w0, lx_b0, lx_w2, lx_b2 };
        clg_shape shapes[4] = { CLG_SHAPE(LX_HID, LX_IN), CLG_SHAPE(LX_HID),
                                CLG_SHAPE(LX_OUT, LX_HID), CLG_SHAPE(LX_OUT) };
        for (int i = 0; i < 4; i++)
            ck_assert(clg_store_add(st, pnames[i], CLG_F32, &shapes[i], init[i]) == CLG_OK);
        clg_graph *g = clg_graph_new(ctx);
        clg_shape xs = CLG_SHAPE(LX_B, LX_IN), ys = CLG_SHAPE(LX_B, LX_OUT);
        clg_t x = clg_input(g, "x", CLG_F32, &xs), y = clg_input(g, "y", CLG_F32, &ys);
        clg_t h = clg_tanh(g, clg_add(g, clg_matmul(g, x, clg_param(g, st, "0.weight"), 0, 1),
                                      clg_param(g, st, "0.bias")));
        clg_t yh = clg_add(g, clg_matmul(g, h, clg_param(g, st, "2.weight"), 0, 1),
                           clg_param(g, st, "2.bias"));
        clg_t loss;
        ck_assert(clg_loss_build(g, "mse", yh, y, &loss) == CLG_OK);
        clg_trainer_opts o = { .lr = lc->lr, .optimizer = lc->spec };
        clg_trainer *tr;
        ck_assert_msg(clg_trainer_new(g, st, loss, &o, &tr) == CLG_OK, "%s", clg_ctx_error(ctx));
        clg_graph_free(g);
        double worst = 0;
        for (int i = 0; i < LX_STEPS; i++) {
            int b = i % LX_NB;
            float l;
            ck_assert(clg_trainer_set_input(tr, "x", lx_x + b * LX_B * LX_IN,
                                            sizeof(float) * LX_B * LX_IN) == CLG_OK);
            ck_assert(clg_trainer_set_input(tr, "y", lx_y + b * LX_B * LX_OUT,
                                            sizeof(float) * LX_B * LX_OUT) == CLG_OK);
            ck_assert_msg(clg_trainer_step(tr, &l) == CLG_OK, "%s", clg_ctx_error(ctx));
            double r = tp_rel(l, lc->loss[i], FLOOR);
            worst = r > worst ? r : worst;
        }
        const float *want[4] = { lc->w0, lc->b0, lc->w2, lc->b2 };
        int sizes[4] = { LX_HID * LX_IN, LX_HID, LX_OUT * LX_HID, LX_OUT };
        for (int p = 0; p < 4; p++) {
            float got[LX_HID * LX_IN];
            ck_assert(clg_store_read(st, pnames[p], got, sizeof(float) * (size_t)sizes[p]) ==
                      CLG_OK);
            for (int k = 0; k < sizes[p]; k++) {
                double r = tp_rel(got[k], want[p][k], FLOOR);
                worst = r > worst ? r : worst;
            }
        }
        printf("[%s] %-46s %d steps: max rel dev from torch %.2e (tolerance %g)\n", tp_backend,
               lc->spec, LX_STEPS, worst, TOL);
        ck_assert_msg(worst <= TOL, "[%s] %s deviates %.3g from torch", tp_backend, lc->spec,
                      worst);
        clg_trainer_free(tr);
        clg_store_free(st);
        clg_device_close(dev);
        clg_ctx_free(ctx);
    }
}
END_TEST

static void add(TCase *tc)
{
    tcase_add_test(tc, lion_matches_torch);
}

int main(void)
{
    return tp_main("plugins-lion", add);
}
