/* xoshiro256** (Blackman and Vigna) seeded through splitmix64: the same
 * stream on every platform, so a seed fixes initialisation everywhere. */
#include "internal.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void clg_rng_seed(clg_rng *r, uint64_t seed)
{
    if (!r)
        return;
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t clg_rng_next(clg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double clg_rng_uniform(clg_rng *r)
{
    /* The top 53 bits fill a double's mantissa exactly. */
    return (double)(clg_rng_next(r) >> 11) * 0x1.0p-53;
}

double clg_rng_normal(clg_rng *r)
{
    /* Box-Muller, keeping only the cosine half so the generator needs no
     * state beyond s[4]. 1 - u lies in (0, 1], so the log is finite. */
    double u1 = 1.0 - clg_rng_uniform(r);
    double u2 = clg_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}
