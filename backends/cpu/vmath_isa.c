/* One x86 instruction set's bodies of vmath.h: meson.build compiles this file
 * once per set (-DCPU_VM_ISA_AVX512 with -mavx512f, -DCPU_VM_ISA_AVX2 with
 * -mavx2 -mfma, else baseline SSE2), each calling SLEEF's u10 (1-ULP)
 * functions of that width. vmath.c calls a set's table only on a CPU that
 * has it, so nothing here runs where its instructions do not exist. */
#include "vmath.h"

#include <sleef.h>
#include <string.h>

#if defined(CPU_VM_ISA_AVX512)
typedef __m512 vec;
#define W 16
#define LOAD _mm512_loadu_ps
#define STORE _mm512_storeu_ps
#define SLEEF(f) Sleef_##f##f16_u10avx512f
#define ISA avx512
#elif defined(CPU_VM_ISA_AVX2)
typedef __m256 vec;
#define W 8
#define LOAD _mm256_loadu_ps
#define STORE _mm256_storeu_ps
#define SLEEF(f) Sleef_##f##f8_u10avx2
#define ISA avx2
#else
typedef __m128 vec;
#define W 4
#define LOAD _mm_loadu_ps
#define STORE _mm_storeu_ps
#define SLEEF(f) Sleef_##f##f4_u10sse2
#define ISA sse2
#endif

/* The tail goes through the same function, padded with zeros (whose results
 * are dropped), so an element's bits do not depend on its place in the row. */
#define VM_ROW(f)                                                                          \
    static void row_##f(float *o, const float *x, int64_t n)                               \
    {                                                                                      \
        int64_t i = 0;                                                                     \
        for (; i + W <= n; i += W)                                                         \
            STORE(o + i, SLEEF(f)(LOAD(x + i)));                                           \
        if (i < n) {                                                                       \
            float t[W] = { 0 };                                                            \
            memcpy(t, x + i, (size_t)(n - i) * sizeof *t);                                 \
            STORE(t, SLEEF(f)(LOAD(t)));                                                   \
            memcpy(o + i, t, (size_t)(n - i) * sizeof *t);                                 \
        }                                                                                  \
    }

VM_ROW(exp)
VM_ROW(log)
VM_ROW(log1p)
VM_ROW(tanh)
VM_ROW(erf)

#define TABLE_NAME2(isa) cpu_vm_table_##isa
#define TABLE_NAME(isa) TABLE_NAME2(isa)
#define STR2(x) #x
#define STR(x) STR2(x)

const cpu_vm_table TABLE_NAME(ISA) = {
    STR(ISA), row_exp, row_log, row_log1p, row_tanh, row_erf,
};
