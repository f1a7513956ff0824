/* rand_uniform: Philox4x32-10 from clgrad/philox.h, element by element, so
 * that the numbers depend on the state and the element index only (any
 * thread count, any backend). */
#include "cpu.h"

#include <clgrad/philox.h>

clg_status cpu_rand_uniform(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const int32_t *state = cpu_data(&op->in[0]);
    const uint32_t seed = (uint32_t)state[0], step = (uint32_t)state[1];
    const uint32_t stream = (uint32_t)clg_param_i64(&op->params, CLG_P_STREAM);
    float *out = cpu_data(&op->out);
    const int64_t n = cpu_numel(&op->out);
    CPU_PARALLEL_FOR(CPU_PAR(n, 32))
    for (int64_t i = 0; i < n; i++)
        out[i] = clg_philox_uniform(seed, stream, step, (uint64_t)i);
    return CLG_OK;
}
