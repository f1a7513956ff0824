/* rand_uniform: Philox4x32-10 from clgrad/philox.h, so that the numbers
 * depend on the state and the element index only (any thread count, any
 * backend). philox_rows.c computes them a group of blocks at a time, each
 * block once for its four elements, vectorised across blocks (it was once
 * per element: four times the work, 39 % of a Transformer step with dropout;
 * then one block at a time, 14 %). */
#include "cpu.h"
#include "philox_rows.h"

clg_status cpu_rand_uniform(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const int32_t *state = cpu_data(&op->in[0]);
    const uint32_t seed = (uint32_t)state[0], step = (uint32_t)state[1];
    const uint32_t stream = (uint32_t)clg_param_i64(&op->params, CLG_P_STREAM);
    float *out = cpu_data(&op->out);
    const int64_t n = cpu_numel(&op->out);
    const int64_t per = cpu_philox_group_elems();
    const int64_t groups = (n + per - 1) / per;
    const int path = cpu_philox_best_path();
    CPU_PARALLEL_FOR(CPU_PAR(n, 8))
    for (int64_t g = 0; g < groups; g++) {
        const int64_t i0 = g * per;
        cpu_philox_uniform_group_path(out + i0, n - i0 < per ? n - i0 : per, (uint64_t)g, seed,
                                      stream, step, path);
    }
    return CLG_OK;
}
