/* The fallback GEMM (CLGRAD_OPENCL_GEMM=own): C[b] = op(A[b]) op(B[b]),
 * row-major, tiled through local memory. GEMM_TS (the tile edge) comes from
 * the build options, chosen by the host from the device's work-group and
 * local-memory limits. Batch strides of 0 broadcast an operand. Each output
 * sums over k in order, like the reference loop. */

#ifndef GEMM_TS
#define GEMM_TS 8
#endif

__kernel void k_gemm(int M, int N, int K, int ta, int tb, __global const float *A, int aoff,
                     int astride, __global const float *B, int boff, int bstride,
                     __global float *C, int coff)
{
    __local float As[GEMM_TS][GEMM_TS];
    __local float Bs[GEMM_TS][GEMM_TS + 1];
    int col = get_global_id(0), row = get_global_id(1), bat = get_global_id(2);
    int lc = get_local_id(0), lr = get_local_id(1);
    __global const float *a = A + aoff + bat * astride;
    __global const float *b = B + boff + bat * bstride;
    float acc = 0.0f;
    for (int t = 0; t < K; t += GEMM_TS) {
        int ak = t + lc, bk = t + lr;
        float av = 0.0f, bv = 0.0f;
        if (row < M && ak < K)
            av = ta ? a[ak * M + row] : a[row * K + ak];
        if (bk < K && col < N)
            bv = tb ? b[col * K + bk] : b[bk * N + col];
        As[lr][lc] = av;
        Bs[lr][lc] = bv;
        barrier(CLK_LOCAL_MEM_FENCE);
        int kmax = min(GEMM_TS, K - t);
        for (int kk = 0; kk < kmax; kk++)
            acc += As[lr][kk] * Bs[kk][lc];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (row < M && col < N)
        C[coff + bat * M * N + row * N + col] = acc;
}
