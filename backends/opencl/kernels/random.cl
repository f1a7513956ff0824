/* rand_uniform: Philox4x32-10, the code of include/clgrad/philox.h in OpenCL
 * C (the CPU backend and the tests' reference use that header): element i
 * depends on the state (seed, step), the stream and i only, so both backends
 * draw the same numbers bit for bit. One work-item per counter block writes
 * its four elements: no word is picked by a run-time index, which Oclgrind
 * evaluated wrongly (lanes 0-2 took lane 3's word). */
__kernel void k_rand_uniform(int n, __global const int *state, int soff, uint stream,
                             __global float *o, int ooff)
{
    int b = get_global_id(0);
    if (b >= (n + 3) / 4)
        return;
    uint k0 = (uint)state[soff], k1 = stream;
    uint c0 = (uint)b, c1 = 0, c2 = (uint)state[soff + 1], c3 = 0;
    for (int r = 0; r < 10; r++) {
        /* the 64-bit products, as philox.h computes them */
        ulong p0 = (ulong)0xD2511F53u * (ulong)c0, p1 = (ulong)0xCD9E8D57u * (ulong)c2;
        uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0;
        uint hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
        uint n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    const float scale = 1.0f / 16777216.0f;
    int i = 4 * b;
    o[ooff + i] = (float)(c0 >> 8) * scale;
    if (i + 1 < n)
        o[ooff + i + 1] = (float)(c1 >> 8) * scale;
    if (i + 2 < n)
        o[ooff + i + 2] = (float)(c2 >> 8) * scale;
    if (i + 3 < n)
        o[ooff + i + 3] = (float)(c3 >> 8) * scale;
}
