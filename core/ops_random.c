/* Random ops: rand_uniform, counter-based (Philox4x32-10, clgrad/philox.h),
 * so that every backend draws the same numbers from the same state and a
 * graph never changes as the step advances: the state is a tensor. No
 * backward rule: random numbers receive no gradient. */
#include "ops_internal.h"

clg_t clg_rand_uniform(clg_graph *g, clg_t state, const clg_shape *shape, uint32_t stream)
{
    if (bad(g, "rand_uniform", state) || need_dtype(g, "rand_uniform", "state", state, CLG_I32))
        return CLG_NONE;
    clg_shape ss = shp(g, state);
    if (numel(&ss) != 2)
        return clg__graph_fail(g, "rand_uniform: state %s must hold 2 values (seed, step)",
                               SS(&ss));
    if (check_shape(g, "rand_uniform", shape))
        return CLG_NONE;
    clg_params at = clg__p_i64(CLG_P_STREAM, (int64_t)stream);
    return add1(g, CLG_OP_RAND_UNIFORM, CLG_F32, shape, state, &at);
}
