/* Philox4x32-10 uniforms of CLG_OP_RAND_UNIFORM, many blocks at once
 * (philox_rows.c); random.c splits an output into groups across threads. */
#ifndef CLG_CPU_PHILOX_ROWS_H
#define CLG_CPU_PHILOX_ROWS_H

#include <stdint.h>

/* Elements per group: a multiple of 4, so a group is whole Philox blocks. */
__attribute__((visibility("hidden"))) int64_t cpu_philox_group_elems(void);

/* The ways to compute them: the same bits either way. */
enum { CPU_PHILOX_C, CPU_PHILOX_AVX2 };
/* The fastest this CPU runs. */
__attribute__((visibility("hidden"))) int cpu_philox_best_path(void);

/* Elements [g E, g E + n) of the output, n <= E, E = cpu_philox_group_elems():
 * out[i] = clg_philox_uniform(seed, stream, step, g E + i). path is one
 * cpu_philox_best_path() allows. */
__attribute__((visibility("hidden"))) void
cpu_philox_uniform_group_path(float *out, int64_t n, uint64_t group, uint32_t seed,
                              uint32_t stream, uint32_t step, int path);

#endif
