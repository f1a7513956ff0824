/* oneDNN's matmul for the CPU backend's GEMMs (gemm_dnnl.c); built with
 * -Dcpu_gemm=auto|dnnl where libdnnl-dev is found. */
#ifndef CLG_CPU_GEMM_DNNL_H
#define CLG_CPU_GEMM_DNNL_H

#include "cpu.h"

/* C[M,N] = op(A) op(B), row-major, C's row stride N. Returns 0 when oneDNN
 * ran it, 1 when it declines (K = 0, a tiny product, CLG_CPU_GEMM=openblas,
 * or any failure of oneDNN's) and the caller runs it another way. */
CPU_INTERNAL int cpu_gemm_dnnl(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *A,
                               int64_t lda, const float *B, int64_t ldb, float *C);

#endif
