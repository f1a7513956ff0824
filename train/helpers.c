/* Helpers for plugin authors that make PyTorch parity the easy path. */
#include "components.h"

clg_t clg_ema(clg_graph *g, clg_t m, clg_t x, double beta)
{
    return clg_add(g, clg_mul_scalar(g, m, (float)beta), clg_mul_scalar(g, x, (float)(1.0 - beta)));
}
