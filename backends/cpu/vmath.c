/* Picks the vector-math table (vmath.h) for the running CPU, and the libm
 * table that builds without SLEEF (or off x86-64) use. */
#include "vmath.h"

#include <math.h>
#include <stdatomic.h>
#include <stddef.h>

#define LIBM_ROW(f, call)                                                                  \
    static void libm_##f(float *o, const float *x, int64_t n)                              \
    {                                                                                      \
        for (int64_t i = 0; i < n; i++)                                                    \
            o[i] = call(x[i]);                                                             \
    }

LIBM_ROW(exp, expf)
LIBM_ROW(log, logf)
LIBM_ROW(log1p, log1pf)
LIBM_ROW(tanh, tanhf)
LIBM_ROW(erf, erff)

static const cpu_vm_table libm_table = {
    "libm", libm_exp, libm_log, libm_log1p, libm_tanh, libm_erf,
};

int cpu_vm_tables(const cpu_vm_table **out, int max)
{
    int n = 0;
#ifdef CLG_CPU_HAVE_SLEEF
    __builtin_cpu_init();
    /* __builtin_cpu_supports also checks that the OS saves the registers. */
    if (n < max && __builtin_cpu_supports("avx512f"))
        out[n++] = &cpu_vm_table_avx512;
    if (n < max && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        out[n++] = &cpu_vm_table_avx2;
    if (n < max)
        out[n++] = &cpu_vm_table_sse2; /* every x86-64 has SSE2 */
#endif
    if (n < max)
        out[n++] = &libm_table;
    return n;
}

/* The first table of cpu_vm_tables: the widest set. Threads that race on the
 * first call all find the same one. */
const cpu_vm_table *cpu_vm(void)
{
    static _Atomic(const cpu_vm_table *) chosen;
    const cpu_vm_table *t = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (!t) {
        cpu_vm_tables(&t, 1);
        atomic_store_explicit(&chosen, t, memory_order_relaxed);
    }
    return t;
}
