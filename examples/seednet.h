/* The seed network and its training loop, shared by examples/train_seed and
 * tests/core (e2e, memplan): Linear(10, 5) -> ReLU -> Linear(5, 1), MSE
 * built from graph ops, gradients by clg_grad, plain SGD by clg_assign. */
#ifndef CLGRAD_EXAMPLES_SEEDNET_H
#define CLGRAD_EXAMPLES_SEEDNET_H

#include <clgrad/clgrad.h>

#define SEED_IN 10
#define SEED_HIDDEN 5
#define SEED_SAMPLES 1024
#define SEED_BATCH 32
#define SEED_LR 0.01f
/* The data set is fixed; --seed moves only initialisation and shuffling. */
#define SEED_DATA_SEED 20261128u

/* Adds one training step to g: inputs "x" [batch, 10] and "y" [batch, 1],
 * parameters "0.weight" [5, 10], "0.bias" [5], "2.weight" [1, 5], "2.bias"
 * [1] (nn.Sequential names; created in st from rng when absent), the loss
 * mean((yhat - y)^2), and assignments p <- p - lr * dL/dp. Returns the loss
 * node, or CLG_NONE with the graph's error set. */
clg_t seed_step_graph(clg_graph *g, clg_store *st, clg_rng *rng, int batch, float lr);

typedef void (*seed_epoch_fn)(int epoch, double loss, void *user);

/* Trains a fresh network on dev for `epochs` epochs of SEED_SAMPLES /
 * SEED_BATCH steps (data reshuffled each epoch). losses[e] (may be NULL) gets
 * the mean batch loss of epoch e; on_epoch (may be NULL) is called after each
 * epoch. If out_store is not NULL it receives the trained parameters (free
 * with clg_store_free). Errors are left in the device's context. */
clg_status seed_train(clg_device *dev, int epochs, uint64_t seed, double *losses,
                      seed_epoch_fn on_epoch, void *user, clg_store **out_store);

#endif
