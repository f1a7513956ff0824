/* Every built-in loss: value and gradient w.r.t. the prediction on fixed
 * inputs against PyTorch (fixtures.h), on every backend. */
#include "fixtures.h"
#include "tp_util.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NCASES ((int)(sizeof fx_loss / sizeof fx_loss[0]))
#define TOL 1e-5
#define FLOOR 1e-3

START_TEST(values_and_gradients)
{
    int bad = 0;
    double worst_all = 0;
    for (int c = 0; c < NCASES; c++) {
        const fx_loss_case *fc = &fx_loss[c];
        clg_ctx *ctx = clg_ctx_new();
        clg_device *dev = NULL;
        ck_assert_msg(clg_device_open(ctx, tp_backend, 0, &dev) == CLG_OK, "%s",
                      clg_ctx_error(ctx));
        int is_cls = fc->kind == 2;
        clg_shape ps = is_cls ? CLG_SHAPE(FX_LN, FX_LC) : CLG_SHAPE(4, 3);
        clg_shape ts = is_cls ? CLG_SHAPE(FX_LN) : CLG_SHAPE(4, 3);
        int64_t n = clg_shape_numel(&ps);
        clg_graph *g = clg_graph_new(ctx);
        clg_t pred = clg_input(g, "pred", CLG_F32, &ps);
        clg_t tgt = clg_input(g, "target", is_cls ? CLG_I32 : CLG_F32, &ts);
        clg_t loss, grad;
        ck_assert_msg(clg_loss_build(g, fc->spec, pred, tgt, &loss) == CLG_OK, "%s: %s",
                      fc->spec, clg_ctx_error(ctx));
        ck_assert_msg(clg_grad(g, loss, CLG_NONE, &pred, 1, &grad) == CLG_OK, "%s: %s",
                      fc->spec, clg_ctx_error(ctx));
        clg_t outs[2] = { loss, grad };
        clg_plan *plan = NULL;
        ck_assert_msg(clg_compile(g, dev, outs, 2, NULL, &plan) == CLG_OK, "%s: %s", fc->spec,
                      clg_ctx_error(ctx));
        ck_assert(clg_plan_set_input(plan, "pred", fc->pred, sizeof(float) * (size_t)n) == CLG_OK);
        if (is_cls) {
            int32_t cls[FX_LN];
            for (int i = 0; i < FX_LN; i++)
                cls[i] = fc->cls[i];
            ck_assert(clg_plan_set_input(plan, "target", cls, sizeof cls) == CLG_OK);
        } else {
            ck_assert(clg_plan_set_input(plan, "target", fc->target, sizeof(float) * (size_t)n) == CLG_OK);
        }
        ck_assert_msg(clg_plan_run(plan) == CLG_OK, "%s", clg_ctx_error(ctx));
        float v, gv[20];
        ck_assert(clg_plan_read(plan, loss, &v, sizeof v) == CLG_OK);
        ck_assert(clg_plan_read(plan, grad, gv, sizeof(float) * (size_t)n) == CLG_OK);
        double worst = tp_rel(v, fc->value, FLOOR);
        if (worst > TOL)
            fprintf(stderr, "[%s] %s: value %.9g, torch %.9g\n", tp_backend, fc->spec, v,
                    fc->value);
        for (int i = 0; i < n; i++) {
            double r = tp_rel(gv[i], fc->grad[i], FLOOR);
            if (r > TOL)
                fprintf(stderr, "[%s] %s: grad[%d] %.9g, torch %.9g\n", tp_backend, fc->spec, i,
                        gv[i], fc->grad[i]);
            if (r > worst)
                worst = r;
        }
        printf("[%s] loss %-50s value %-12.7g max rel dev %.2e\n", tp_backend, fc->spec, v, worst);
        if (worst > TOL)
            bad++;
        if (worst > worst_all)
            worst_all = worst;
        clg_plan_free(plan);
        clg_graph_free(g);
        clg_device_close(dev);
        clg_ctx_free(ctx);
    }
    printf("[%s] losses: %d cases, worst rel dev %.2e (tolerance %g)\n", tp_backend, NCASES,
           worst_all, TOL);
    ck_assert_msg(bad == 0, "%d of %d loss cases deviate from torch by more than %g", bad, NCASES,
                  TOL);
}
END_TEST

/* Shape and dtype mistakes are errors naming the loss and the shapes. */
START_TEST(bad_inputs)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_graph *g = clg_graph_new(ctx);
    clg_shape a = CLG_SHAPE(4, 3), b = CLG_SHAPE(4, 2), c = CLG_SHAPE(4);
    clg_t p = clg_input(g, "p", CLG_F32, &a);
    clg_t t = clg_input(g, "t", CLG_F32, &b);
    clg_t ti = clg_input(g, "ti", CLG_F32, &c);
    clg_t loss;
    ck_assert(clg_loss_build(g, "mse", p, t, &loss) == CLG_ERR_INVALID);
    ck_assert_msg(strstr(clg_ctx_error(ctx), "mse") && strstr(clg_ctx_error(ctx), "[4, 3]") &&
                  strstr(clg_ctx_error(ctx), "[4, 2]"), "%s", clg_ctx_error(ctx));
    ck_assert(clg_loss_build(g, "cross-entropy", p, ti, &loss) == CLG_ERR_INVALID);
    ck_assert_msg(strstr(clg_ctx_error(ctx), "i32"), "%s", clg_ctx_error(ctx));
    ck_assert(clg_loss_build(g, "bce-with-logits:pos_weight=1/2", p, p, &loss) == CLG_ERR_INVALID);
    ck_assert_msg(strstr(clg_ctx_error(ctx), "pos_weight"), "%s", clg_ctx_error(ctx));
    ck_assert(clg_loss_build(g, "huber:delta=0", p, p, &loss) == CLG_ERR_INVALID);
    ck_assert_msg(strstr(clg_ctx_error(ctx), "huber") && strstr(clg_ctx_error(ctx), "delta"),
                  "%s", clg_ctx_error(ctx));
    ck_assert(clg_loss_build(g, "mse:reduction=none", p, p, &loss) == CLG_ERR_INVALID);
    ck_assert(clg_loss_build(g, "mse", p, p, &loss) == CLG_OK);
    clg_graph_free(g);
    clg_ctx_free(ctx);
}
END_TEST

static void add(TCase *tc)
{
    tcase_add_test(tc, values_and_gradients);
    tcase_add_test(tc, bad_inputs);
}

int main(void)
{
    return tp_main("plugins-losses", add);
}
