/* The synthetic regression set the seed network trains on (examples/train_seed
 * and tests/core/test_e2e.c share it).
 *
 * n samples of x ~ N(0, I) in R^in and y = x . w + b + 0.1 * N(0, 1), where
 * w ~ N(0, 1/in) per component and b = 0.5 are drawn once from `seed`, so
 * Var(y) is about 1 and the best possible MSE is the noise variance, 0.01.
 * All draws come from clg_rng (xoshiro256**), so the set is the same on every
 * platform. */
#ifndef CLGRAD_EXAMPLES_SYNTHETIC_H
#define CLGRAD_EXAMPLES_SYNTHETIC_H

#include <stdint.h>

/* x: n * in floats (row-major), y: n floats. */
void synth_regression(int n, int in, uint64_t seed, float *x, float *y);

#endif
