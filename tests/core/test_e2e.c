/* End to end: the seed network (examples/seednet.c) trained on the synthetic
 * regression set (examples/synthetic.c) learns on every backend, and the CPU
 * backend repeats a run bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seednet.h"
#include "tutil.h"

#define E2E_EPOCHS 20
#define E2E_SEED 1
/* Measured on cpu, seeds 0..9: epoch-1 loss 1.39..1.96, epoch-20 loss 0.024..0.047
 * (the noise floor is 0.01), i.e. a drop of 34x..70x. Asserted with a wide margin so that
 * a different but correct accumulation order (OpenCL) cannot fail it, while
 * a broken gradient, update or data path (loss flat or rising) does. */
#define LOSS_DROP_FACTOR 10.0

static void print_epoch(int epoch, double loss, void *user)
{
    printf("%s: epoch %d loss %.6f\n", (const char *)user, epoch, loss);
}

START_TEST(test_seed_network_learns)
{
    clg_device *dev = tu_device();
    double losses[E2E_EPOCHS];
    clg_status st = seed_train(dev, E2E_EPOCHS, E2E_SEED, losses, print_epoch,
                               (void *)tu_backend, NULL);
    ck_assert_msg(st == CLG_OK, "seed_train on %s: %s", tu_backend, clg_ctx_error(tu_ctx()));
    for (int e = 0; e < E2E_EPOCHS; e++)
        ck_assert_msg(isfinite(losses[e]), "epoch %d loss %g", e + 1, losses[e]);
    ck_assert_msg(losses[E2E_EPOCHS - 1] <= losses[0] / LOSS_DROP_FACTOR,
                  "%s: epoch 1 loss %.6f, epoch %d loss %.6f: fell by less than %.1fx", tu_backend,
                  losses[0], E2E_EPOCHS, losses[E2E_EPOCHS - 1], LOSS_DROP_FACTOR);
}
END_TEST

static const char *const params[] = { "0.weight", "0.bias", "2.weight", "2.bias" };
static const size_t param_floats[] = { 50, 5, 5, 1 };

START_TEST(test_cpu_deterministic)
{
    clg_device *dev = tu_device();
    double l1[E2E_EPOCHS], l2[E2E_EPOCHS];
    clg_store *s1 = NULL, *s2 = NULL;
    ck_assert_int_eq(seed_train(dev, E2E_EPOCHS, E2E_SEED, l1, NULL, NULL, &s1), CLG_OK);
    ck_assert_int_eq(seed_train(dev, E2E_EPOCHS, E2E_SEED, l2, NULL, NULL, &s2), CLG_OK);
    ck_assert_msg(memcmp(l1, l2, sizeof l1) == 0, "epoch losses differ between two runs");
    for (int i = 0; i < 4; i++) {
        float a[50], b[50];
        size_t bytes = param_floats[i] * sizeof(float);
        ck_assert_int_eq(clg_store_read(s1, params[i], a, bytes), CLG_OK);
        ck_assert_int_eq(clg_store_read(s2, params[i], b, bytes), CLG_OK);
        ck_assert_msg(memcmp(a, b, bytes) == 0, "%s differs between two runs", params[i]);
    }
    /* and a different seed gives a different run */
    double l3[E2E_EPOCHS];
    ck_assert_int_eq(seed_train(dev, 1, E2E_SEED + 1, l3, NULL, NULL, NULL), CLG_OK);
    ck_assert_msg(l3[0] != l1[0], "seed %d and %d gave the same epoch-1 loss", E2E_SEED,
                  E2E_SEED + 1);
    clg_store_free(s1);
    clg_store_free(s2);
}
END_TEST

static void add_tests(TCase *tc, const char *backend)
{
    tcase_add_test(tc, test_seed_network_learns);
    if (strcmp(backend, "cpu") == 0)
        tcase_add_test(tc, test_cpu_deterministic);
}

int main(void)
{
    return tu_main("e2e", add_tests, 120);
}
