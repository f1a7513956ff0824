/* Philox4x32-10 uniforms of CLG_OP_RAND_UNIFORM, many blocks at once
 * (philox_rows.c); random.c splits an output into groups across threads. */
#ifndef CLG_CPU_PHILOX_ROWS_H
#define CLG_CPU_PHILOX_ROWS_H

#include <stdint.h>

/* Elements per group: a multiple of 4, so a group is whole Philox blocks. */
__attribute__((visibility("hidden"))) int64_t cpu_philox_group_elems(void);

/* Elements [g E, g E + n) of the output, n <= E, E = cpu_philox_group_elems():
 * out[i] = clg_philox_uniform(seed, stream, step, g E + i). */
__attribute__((visibility("hidden"))) void
cpu_philox_uniform_group(float *out, int64_t n, uint64_t group, uint32_t seed, uint32_t stream,
                         uint32_t step);

#endif
