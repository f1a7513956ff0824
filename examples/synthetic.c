/* Synthetic regression data; see synthetic.h. */
#include "synthetic.h"

#include <clgrad/clgrad.h>
#include <math.h>
#include <stdlib.h>

#define SYNTH_NOISE 0.1
#define SYNTH_BIAS 0.5

void synth_regression(int n, int in, uint64_t seed, float *x, float *y)
{
    clg_rng r;
    clg_rng_seed(&r, seed);
    double *w = malloc(sizeof(double) * (size_t)in);
    if (!w)
        return;
    for (int j = 0; j < in; j++)
        w[j] = clg_rng_normal(&r) / sqrt((double)in);
    for (int i = 0; i < n; i++) {
        double t = SYNTH_BIAS;
        for (int j = 0; j < in; j++) {
            float v = (float)clg_rng_normal(&r);
            x[(size_t)i * in + j] = v;
            t += w[j] * v;
        }
        y[i] = (float)(t + SYNTH_NOISE * clg_rng_normal(&r));
    }
    free(w);
}
