/* rand_uniform: Philox4x32-10, the code of include/clgrad/philox.h in OpenCL
 * C (the CPU backend and the tests' reference use that header): element i
 * depends on the state (seed, step), the stream and i only, so both backends
 * draw the same numbers bit for bit. */
__kernel void k_rand_uniform(int n, __global const int *state, int soff, uint stream,
                             __global float *o, int ooff)
{
    int i = get_global_id(0);
    if (i >= n)
        return;
    uint k0 = (uint)state[soff], k1 = stream;
    uint c0 = (uint)(i >> 2), c1 = 0, c2 = (uint)state[soff + 1], c3 = 0;
    for (int r = 0; r < 10; r++) {
        uint hi0 = mul_hi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        uint hi1 = mul_hi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        uint n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    uint w = (i & 3) == 0 ? c0 : (i & 3) == 1 ? c1 : (i & 3) == 2 ? c2 : c3;
    o[ooff + i] = (float)(w >> 8) * (1.0f / 16777216.0f);
}
