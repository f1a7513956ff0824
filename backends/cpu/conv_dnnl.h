/* conv2d and its two gradients through oneDNN's convolution primitives
 * (conv_dnnl.c); built where libdnnl-dev is found, as gemm_dnnl.c. */
#ifndef CLG_CPU_CONV_DNNL_H
#define CLG_CPU_CONV_DNNL_H

#include "cpu.h"

#ifdef CLG_CPU_HAVE_DNNL
/* Whether this backend runs op (CONV2D, CONV2D_GRAD_INPUT or
 * CONV2D_GRAD_WEIGHT) itself: oneDNN is built in and usable, and
 * CLG_CPU_CONV does not turn that pass off. Otherwise supports() says no
 * and the core lowers the op into im2col + matmul. */
CPU_INTERNAL int cpu_conv_dnnl_runs(clg_op op);
/* Whether oneDNN makes a primitive for op, whose shapes check_shapes has
 * validated (made now and kept for exec; 0 and the core lowers the op). */
CPU_INTERNAL int cpu_conv_dnnl_accepts(const clg_bk_op *op);
/* Runs a checked conv op (cpu_check_op). */
CPU_INTERNAL clg_status cpu_conv2d(clg_bk_device *dev, const clg_bk_op *op);
#else
static inline int cpu_conv_dnnl_runs(clg_op op)
{
    (void)op;
    return 0;
}
static inline int cpu_conv_dnnl_accepts(const clg_bk_op *op)
{
    (void)op;
    return 0;
}
#endif

#endif
