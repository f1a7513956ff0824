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

/* A GEMM C[M, N] = A op(B) run many times with one B (an LSTM's w_hh, step
 * after step): B reordered once into the blocked layout oneDNN's kernel
 * picks, which saves the repacking a plain B costs every call (a [32, 128]
 * x [128, 512] step: 52 -> 44 us). A and C are row-major with row strides
 * lda and ldc, B's rows are ldb apart. Made for a shape (NULL when oneDNN
 * is unusable or declines it), packed with a B and run, on one thread at a
 * time, which it runs on alone; kept for more B's of its shape. */
typedef struct cpu_dnnl_reuse cpu_dnnl_reuse;
CPU_INTERNAL cpu_dnnl_reuse *cpu_gemm_dnnl_reuse_new(int tb, int64_t M, int64_t N, int64_t K,
                                                     int64_t lda, int64_t ldb, int64_t ldc);
/* B into the object's layout: 0 when done, 1 when it failed. */
CPU_INTERNAL int cpu_gemm_dnnl_reuse_pack(cpu_dnnl_reuse *r, const float *B);
/* 0 when it ran; 1 when it failed (C then partly written: run it again another way). */
CPU_INTERNAL int cpu_gemm_dnnl_reuse_run(cpu_dnnl_reuse *r, const float *A, float *C);
CPU_INTERNAL void cpu_gemm_dnnl_reuse_free(cpu_dnnl_reuse *r);

#endif
