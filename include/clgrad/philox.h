/* clgrad — the counter-based random numbers behind CLG_OP_RAND_UNIFORM
 * (dropout): Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy
 * as 1, 2, 3", SC 2011). Header-only and integer-exact, so that the CPU
 * backend, an out-of-tree backend and the tests' reference draw the same
 * numbers; backends/opencl/kernels/random.cl is the same code in OpenCL C.
 *
 * Element i of a rand_uniform output with state (seed, step) and stream s:
 *   block = philox4x32_10(counter = {i / 4 low, i / 4 high, step, 0},
 *                         key = {seed, s})
 *   u = (block[i % 4] >> 8) * 2^-24        in [0, 1), a multiple of 2^-24
 */
#ifndef CLGRAD_PHILOX_H
#define CLGRAD_PHILOX_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline void clg_philox4x32_10(uint32_t ctr[4], uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * ctr[0];
        uint64_t p1 = (uint64_t)0xCD9E8D57u * ctr[2];
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        uint32_t c0 = hi1 ^ ctr[1] ^ k0, c2 = hi0 ^ ctr[3] ^ k1;
        ctr[0] = c0;
        ctr[1] = lo1;
        ctr[2] = c2;
        ctr[3] = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

/* The uniform number of element i (see above). */
static inline float clg_philox_uniform(uint32_t seed, uint32_t stream, uint32_t step, uint64_t i)
{
    uint64_t b = i >> 2;
    uint32_t ctr[4] = { (uint32_t)b, (uint32_t)(b >> 32), step, 0 };
    clg_philox4x32_10(ctr, seed, stream);
    return (float)(ctr[i & 3] >> 8) * (1.0f / 16777216.0f);
}

#ifdef __cplusplus
}
#endif
#endif
