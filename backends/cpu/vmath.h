/* Vector math for the CPU backend's row kernels: o[i] = f(x[i]) over a row,
 * with SLEEF's 1-ULP vector functions for the widest x86 instruction set the
 * running CPU has (chosen once, at the first call), else libm.
 *
 * Every element goes through the same vector function whatever its position
 * in the row (a short tail is padded to a whole vector), so a value's bits
 * do not depend on how a caller cuts rows: fused programs, thread splits and
 * the unfused ops agree bit for bit on one machine. */
#ifndef CLG_CPU_VMATH_H
#define CLG_CPU_VMATH_H

#include <stdint.h>

#define CPU_VM_INTERNAL __attribute__((visibility("hidden")))

/* o may equal x; otherwise they must not overlap. log1p is for x <= 1e38:
 * SLEEF's float log1p gives inf above (softplus passes (0, 1] only). */
typedef void cpu_vm_fn(float *o, const float *x, int64_t n);

typedef struct cpu_vm_table {
    const char *name; /* "avx512", "avx2", "sse2" (SLEEF) or "libm" */
    cpu_vm_fn *exp, *log, *log1p, *tanh, *erf;
} cpu_vm_table;

/* The table the backend uses on this CPU. */
CPU_VM_INTERNAL const cpu_vm_table *cpu_vm(void);
/* Every table this build has whose instruction set the running CPU
 * supports, libm last (for the accuracy test). Returns the count. */
CPU_VM_INTERNAL int cpu_vm_tables(const cpu_vm_table **out, int max);

static inline void cpu_vm_exp(float *o, const float *x, int64_t n) { cpu_vm()->exp(o, x, n); }
static inline void cpu_vm_log(float *o, const float *x, int64_t n) { cpu_vm()->log(o, x, n); }
static inline void cpu_vm_log1p(float *o, const float *x, int64_t n) { cpu_vm()->log1p(o, x, n); }
static inline void cpu_vm_tanh(float *o, const float *x, int64_t n) { cpu_vm()->tanh(o, x, n); }
static inline void cpu_vm_erf(float *o, const float *x, int64_t n) { cpu_vm()->erf(o, x, n); }

/* The per-instruction-set bodies (vmath_isa.c, one build per set). */
#define CPU_VM_DECLARE(isa)                                                                \
    CPU_VM_INTERNAL extern const cpu_vm_table cpu_vm_table_##isa;
CPU_VM_DECLARE(avx512)
CPU_VM_DECLARE(avx2)
CPU_VM_DECLARE(sse2)

#endif
