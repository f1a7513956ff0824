/* oneDNN's matmul for the CPU backend's GEMMs (gemm_dnnl.c); built with
 * -Dcpu_gemm=auto|dnnl where libdnnl-dev is found. */
#ifndef CLG_CPU_GEMM_DNNL_H
#define CLG_CPU_GEMM_DNNL_H

#include "cpu.h"

/* Whether oneDNN should run a GEMM of this size: not when K = 0, for a tiny
 * product, under CLG_CPU_GEMM=openblas, or when oneDNN is unusable. */
CPU_INTERNAL int cpu_gemm_dnnl_wanted(int64_t M, int64_t N, int64_t K);

/* One block C[M,N] = op(A) op(B), row-major with C's row stride ldc, on the
 * calling thread (gemm.c cuts a GEMM into blocks, one per thread). Returns
 * 0 when oneDNN ran it, 1 when it could not (C untouched) and the caller
 * runs the block another way. */
CPU_INTERNAL int cpu_gemm_dnnl_block(int ta, int tb, int64_t M, int64_t N, int64_t K,
                                     const float *A, int64_t lda, const float *B, int64_t ldb,
                                     float *C, int64_t ldc);

/* A batch of small GEMMs in one call (attention's per-head products):
 * C[i] = op(A + i a_step) op(B + i b_step) for i < batch, C contiguous
 * [batch, M, N]; a step of 0 shares that operand. Returns as _block. */
CPU_INTERNAL int cpu_gemm_dnnl_batch(int ta, int tb, int64_t batch, int64_t M, int64_t N,
                                     int64_t K, const float *A, int64_t a_step, int64_t lda,
                                     const float *B, int64_t b_step, int64_t ldb, float *C);

#endif
