/* rand_uniform: Philox4x32-10 from clgrad/philox.h, so that the numbers
 * depend on the state and the element index only (any thread count, any
 * backend). One Philox block gives the four words of elements 4b..4b+3, so
 * each block is computed once for its four elements (it was once per
 * element: four times the work, 39 % of a Transformer step with dropout). */
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
    const int64_t blocks = (n + 3) / 4;
    CPU_PARALLEL_FOR(CPU_PAR(n, 32))
    for (int64_t b = 0; b < blocks; b++) {
        uint32_t ctr[4] = { (uint32_t)b, (uint32_t)((uint64_t)b >> 32), step, 0 };
        clg_philox4x32_10(ctr, seed, stream);
        const int64_t i0 = 4 * b, m = n - i0 < 4 ? n - i0 : 4;
        for (int64_t j = 0; j < m; j++)
            out[i0 + j] = (float)(ctr[j] >> 8) * (1.0f / 16777216.0f);
    }
    return CLG_OK;
}
