/* Philox4x32-10 uniforms (clgrad/philox.h) for a run of elements, computed
 * PHILOX_LANES blocks at a time in struct-of-arrays form: each round is then
 * a plain loop over lanes of 32x32->64-bit multiplies, xors and moves, which
 * GCC vectorises (pmuludq / vpmuludq). target_clones builds AVX-512 and AVX2
 * copies beside the baseline one and picks one when the module loads. The
 * arithmetic is clg_philox4x32_10's, integer-exact, so the bits are the same
 * on every path (tests/cpu/test_philox.c). */
#include "philox_rows.h"

#include <string.h>

#define PHILOX_LANES 16

#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define PHILOX_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef PHILOX_CLONES
#define PHILOX_CLONES
#endif

/* The 4 * PHILOX_LANES uniforms of blocks b0, b0 + 1, ...: u[4 l + j] is
 * word j of block b0 + l. */
PHILOX_CLONES
static void philox_lanes(float *u, uint64_t b0, uint32_t step, uint32_t k0, uint32_t k1)
{
    uint32_t c0[PHILOX_LANES], c1[PHILOX_LANES], c2[PHILOX_LANES], c3[PHILOX_LANES];
    for (int l = 0; l < PHILOX_LANES; l++) {
        const uint64_t b = b0 + (uint64_t)l;
        c0[l] = (uint32_t)b;
        c1[l] = (uint32_t)(b >> 32);
        c2[l] = step;
        c3[l] = 0;
    }
    for (int r = 0; r < 10; r++) {
        for (int l = 0; l < PHILOX_LANES; l++) {
            const uint64_t p0 = (uint64_t)0xD2511F53u * c0[l];
            const uint64_t p1 = (uint64_t)0xCD9E8D57u * c2[l];
            const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
            const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
            c1[l] = (uint32_t)p1;
            c3[l] = (uint32_t)p0;
            c0[l] = n0;
            c2[l] = n2;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    for (int l = 0; l < PHILOX_LANES; l++) {
        u[4 * l + 0] = (float)(c0[l] >> 8) * (1.0f / 16777216.0f);
        u[4 * l + 1] = (float)(c1[l] >> 8) * (1.0f / 16777216.0f);
        u[4 * l + 2] = (float)(c2[l] >> 8) * (1.0f / 16777216.0f);
        u[4 * l + 3] = (float)(c3[l] >> 8) * (1.0f / 16777216.0f);
    }
}

int64_t cpu_philox_group_elems(void)
{
    return 4 * PHILOX_LANES;
}

void cpu_philox_uniform_group(float *out, int64_t n, uint64_t group, uint32_t seed,
                              uint32_t stream, uint32_t step)
{
    const int64_t per = 4 * PHILOX_LANES;
    const uint64_t b0 = group * PHILOX_LANES;
    if (n >= per) {
        philox_lanes(out, b0, step, seed, stream);
        return;
    }
    float u[4 * PHILOX_LANES];
    philox_lanes(u, b0, step, seed, stream);
    memcpy(out, u, (size_t)n * sizeof *u);
}
