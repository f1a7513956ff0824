/* Philox4x32-10 uniforms (clgrad/philox.h) for a run of elements, computed
 * PHILOX_LANES blocks at a time. On x86-64 with AVX2, with intrinsics: the
 * counters' words sit in 64-bit lanes, so each round is one vpmuludq per
 * product (which reads the low 32 bits only: the high halves may hold
 * garbage until the end), a shift and two xors per word, all in registers.
 * Elsewhere, the same rounds in struct-of-arrays C that compilers vectorise
 * as far as the baseline allows. The arithmetic is clg_philox4x32_10's,
 * integer-exact, so both paths give the same bits (tests/cpu/test_philox.c).
 * Measured on Zen 4: AVX2 3.3x the one-block-at-a-time code (1.3 against
 * 4.3 ns a number); GCC's own vectorisation of the C path, even with AVX-512
 * clones, ~2x: it keeps the lanes in memory and widens and narrows every
 * product. */
#include "philox_rows.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#endif

#define PHILOX_LANES 16

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* The 4 * PHILOX_LANES uniforms of blocks b0, b0 + 1, ...: u[4 l + j] is
 * word j of block b0 + l. */
static void philox_lanes_c(float *u, uint64_t b0, uint32_t step, uint32_t k0, uint32_t k1)
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
            const uint64_t p0 = (uint64_t)PHILOX_M0 * c0[l];
            const uint64_t p1 = (uint64_t)PHILOX_M1 * c2[l];
            const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
            const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
            c1[l] = (uint32_t)p1;
            c3[l] = (uint32_t)p0;
            c0[l] = n0;
            c2[l] = n2;
        }
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    for (int l = 0; l < PHILOX_LANES; l++) {
        u[4 * l + 0] = (float)(c0[l] >> 8) * (1.0f / 16777216.0f);
        u[4 * l + 1] = (float)(c1[l] >> 8) * (1.0f / 16777216.0f);
        u[4 * l + 2] = (float)(c2[l] >> 8) * (1.0f / 16777216.0f);
        u[4 * l + 3] = (float)(c3[l] >> 8) * (1.0f / 16777216.0f);
    }
}

#ifdef HAVE_AVX2_PATH
/* One Philox round on four blocks whose words are x0..x3. */
#define ROUND4(x0, x1, x2, x3)                                                             \
    do {                                                                                   \
        const __m256i p0 = _mm256_mul_epu32(x0, m0), p1 = _mm256_mul_epu32(x2, m1);        \
        x0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), x1), key0);      \
        x2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), x3), key1);      \
        x1 = p1;                                                                           \
        x3 = p0;                                                                           \
    } while (0)

/* Four blocks' uniforms into u[0 .. 16): words 0,1 and 2,3 of each block side
 * by side in a 64-bit lane, then block by block. */
__attribute__((target("avx2"))) static inline void store4(float *u, __m256i x0, __m256i x1,
                                                          __m256i x2, __m256i x3)
{
    const __m256i lo32 = _mm256_set1_epi64x(0xFFFFFFFF);
    const __m256 scale = _mm256_set1_ps(1.0f / 16777216.0f);
    const __m256i w01 = _mm256_or_si256(_mm256_and_si256(x0, lo32), _mm256_slli_epi64(x1, 32));
    const __m256i w23 = _mm256_or_si256(_mm256_and_si256(x2, lo32), _mm256_slli_epi64(x3, 32));
    const __m256i even = _mm256_unpacklo_epi64(w01, w23); /* blocks 0 and 2 */
    const __m256i odd = _mm256_unpackhi_epi64(w01, w23);  /* blocks 1 and 3 */
    const __m256i q0 = _mm256_permute2x128_si256(even, odd, 0x20);
    const __m256i q1 = _mm256_permute2x128_si256(even, odd, 0x31);
    _mm256_storeu_ps(u, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(q0, 8)), scale));
    _mm256_storeu_ps(u + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(q1, 8)), scale));
}

/* Blocks b0 .. b0 + 7 into u[0 .. 32), as two groups of four (a, b) held
 * in registers through the ten rounds. */
__attribute__((target("avx2"))) static void philox8_avx2(float *u, uint64_t b0, uint32_t step,
                                                         uint32_t k0, uint32_t k1)
{
    const __m256i m0 = _mm256_set1_epi64x(PHILOX_M0), m1 = _mm256_set1_epi64x(PHILOX_M1);
    const __m256i w0 = _mm256_set1_epi64x(PHILOX_W0), w1 = _mm256_set1_epi64x(PHILOX_W1);
    __m256i key0 = _mm256_set1_epi64x(k0), key1 = _mm256_set1_epi64x(k1);
    /* word 0 in the low halves (the high halves are the counter's word 1,
     * which vpmuludq ignores) */
    __m256i a0 = _mm256_set_epi64x((long long)(b0 + 3), (long long)(b0 + 2),
                                   (long long)(b0 + 1), (long long)b0);
    __m256i b0v = _mm256_add_epi64(a0, _mm256_set1_epi64x(4));
    __m256i a1 = _mm256_srli_epi64(a0, 32), b1 = _mm256_srli_epi64(b0v, 32);
    __m256i a2 = _mm256_set1_epi64x(step), b2 = a2;
    __m256i a3 = _mm256_setzero_si256(), b3 = a3;
    for (int r = 0; r < 10; r++) {
        ROUND4(a0, a1, a2, a3);
        ROUND4(b0v, b1, b2, b3);
        key0 = _mm256_add_epi64(key0, w0); /* the low halves wrap mod 2^32 */
        key1 = _mm256_add_epi64(key1, w1);
    }
    store4(u, a0, a1, a2, a3);
    store4(u + 16, b0v, b1, b2, b3);
}
#endif

static void philox_lanes(float *u, uint64_t b0, uint32_t step, uint32_t k0, uint32_t k1,
                         int path)
{
#ifdef HAVE_AVX2_PATH
    if (path == CPU_PHILOX_AVX2) {
        _Static_assert(PHILOX_LANES % 8 == 0, "whole calls of philox8_avx2");
        for (int l = 0; l < PHILOX_LANES; l += 8)
            philox8_avx2(u + 4 * l, b0 + (uint64_t)l, step, k0, k1);
        return;
    }
#endif
    (void)path;
    philox_lanes_c(u, b0, step, k0, k1);
}

int cpu_philox_best_path(void)
{
#ifdef HAVE_AVX2_PATH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return CPU_PHILOX_AVX2;
#endif
    return CPU_PHILOX_C;
}

int64_t cpu_philox_group_elems(void)
{
    return 4 * PHILOX_LANES;
}

void cpu_philox_uniform_group_path(float *out, int64_t n, uint64_t group, uint32_t seed,
                                   uint32_t stream, uint32_t step, int path)
{
    const int64_t per = 4 * PHILOX_LANES;
    const uint64_t b0 = group * PHILOX_LANES;
    if (n >= per) {
        philox_lanes(out, b0, step, seed, stream, path);
        return;
    }
    float u[4 * PHILOX_LANES];
    philox_lanes(u, b0, step, seed, stream, path);
    memcpy(out, u, (size_t)n * sizeof *u);
}
