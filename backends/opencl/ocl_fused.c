/* CLG_OP_FUSED as generated kernels: the program (types.h) becomes the text
 * of one kernel, one work-item per element, whose registers are private
 * floats; the text is the key of a per-device list of built kernels, and
 * the disk cache of ocl_program.c keeps the binaries across runs (PoCL
 * builds are slow). Each instruction is spelled as elementwise.cl computes
 * its op, with FP_CONTRACT off, so a fused op gives the bits of the ops it
 * replaces. An epilogue runs as the GEMM (ocl_matmul, into output 0) and
 * then this one kernel, which reads the product there before writing. */
#include "ocl_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ocl_fused_kernel {
    struct ocl_fused_kernel *next;
    char *src;
    cl_program prog;
    cl_kernel k;
    size_t wg; /* CL_KERNEL_WORK_GROUP_SIZE */
};

/* The helpers of elementwise.cl's clg_unary, same constants, same order. */
static const char prelude[] =
    "#pragma OPENCL FP_CONTRACT OFF\n"
    "inline float f_sign(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); }\n"
    "inline float f_relu(float x) { return x < 0.0f ? 0.0f : x; }\n"
    "inline float f_leaky(float x, float f) { return x > 0.0f ? x : f * x; }\n"
    "inline float f_sigmoid(float x) {\n"
    "    if (x >= 0.0f) return 1.0f / (1.0f + exp(-x));\n"
    "    float e = exp(x); return e / (1.0f + e); }\n"
    "inline float f_gelu(float x) { return 0.5f * x * (1.0f + erf(x * 0.70710678118654752f)); }\n"
    "inline float f_gelu_tanh(float x) {\n"
    "    float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);\n"
    "    return 0.5f * x * (1.0f + tanh(u)); }\n"
    "inline float f_gelu_grad(float x) {\n"
    "    float cdf = 0.5f * (1.0f + erf(x * 0.70710678118654752f));\n"
    "    float pdf = 0.39894228040143268f * exp(-0.5f * x * x);\n"
    "    return cdf + x * pdf; }\n"
    "inline float f_gelu_tanh_grad(float x) {\n"
    "    float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);\n"
    "    float t = tanh(u);\n"
    "    float du = 0.79788456080286536f * (1.0f + 3.0f * 0.044715f * x * x);\n"
    "    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du; }\n"
    "inline float f_softplus(float x) { return fmax(x, 0.0f) + log1p(exp(-fabs(x))); }\n"
    "inline float f_max(float x, float y) { return (isnan(x) || x > y) ? x : y; }\n"
    "inline float f_min(float x, float y) { return (isnan(x) || x < y) ? x : y; }\n";

/* The expression of op: @1, @2, @3 stand for its operands, @4 for its
 * SCALAR; NULL for an op no program may hold. */
static const char *pattern(clg_op op)
{
    switch (op) {
    case CLG_OP_NEG: return "-@1";
    case CLG_OP_EXP: return "exp(@1)";
    case CLG_OP_LOG: return "log(@1)";
    case CLG_OP_SQRT: return "sqrt(@1)";
    case CLG_OP_RSQRT: return "1.0f / sqrt(@1)";
    case CLG_OP_ABS: return "fabs(@1)";
    case CLG_OP_SIGN: return "f_sign(@1)";
    case CLG_OP_RELU: return "f_relu(@1)";
    case CLG_OP_LEAKY_RELU: return "f_leaky(@1, @4)";
    case CLG_OP_SIGMOID: return "f_sigmoid(@1)";
    case CLG_OP_TANH: return "tanh(@1)";
    case CLG_OP_GELU: return "f_gelu(@1)";
    case CLG_OP_GELU_TANH: return "f_gelu_tanh(@1)";
    case CLG_OP_GELU_GRAD: return "f_gelu_grad(@1)";
    case CLG_OP_GELU_TANH_GRAD: return "f_gelu_tanh_grad(@1)";
    case CLG_OP_SOFTPLUS: return "f_softplus(@1)";
    case CLG_OP_ADD_SCALAR: return "@1 + @4";
    case CLG_OP_MUL_SCALAR: return "@1 * @4";
    case CLG_OP_POW_SCALAR: return "pow(@1, @4)";
    case CLG_OP_ERF: return "erf(@1)";
    case CLG_OP_ADD: return "@1 + @2";
    case CLG_OP_SUB: return "@1 - @2";
    case CLG_OP_MUL: return "@1 * @2";
    case CLG_OP_DIV: return "@1 / @2";
    case CLG_OP_MAXIMUM: return "f_max(@1, @2)";
    case CLG_OP_MINIMUM: return "f_min(@1, @2)";
    case CLG_OP_EQ: return "@1 == @2 ? 1.0f : 0.0f";
    case CLG_OP_NE: return "@1 != @2 ? 1.0f : 0.0f";
    case CLG_OP_LT: return "@1 < @2 ? 1.0f : 0.0f";
    case CLG_OP_LE: return "@1 <= @2 ? 1.0f : 0.0f";
    case CLG_OP_GT: return "@1 > @2 ? 1.0f : 0.0f";
    case CLG_OP_GE: return "@1 >= @2 ? 1.0f : 0.0f";
    case CLG_OP_WHERE: return "@1 != 0.0f ? @2 : @3";
    default: return NULL;
    }
}

static int64_t numel(const clg_bk_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->dim[i];
    return n;
}

static int arity(clg_op op)
{
    return clg_op_info_of(op).arity;
}

/* The program's structure, dtypes and sizes (buffers are checked by exec). */
int ocl_fused_supports(const clg_bk_op *op)
{
    const clg_params *p = &op->params;
    const int64_t n_instr = clg_param_i64(p, CLG_FUSED_P_NINSTR);
    const int64_t n_out = clg_param_i64(p, CLG_FUSED_P_NOUT);
    const int64_t gemm = clg_param_i64(p, CLG_FUSED_P_GEMM);
    const int64_t cols = clg_param_i64(p, CLG_FUSED_P_COLS);
    const int first = gemm ? 2 : 0;
    const int64_t n = numel(&op->out);
    if (n_instr < 1 || n_instr > CLG_FUSED_MAX_INSTR || n_out < 1 ||
        n_out - 1 > op->n_in - first || op->n_in > CLG_MAX_INPUTS || n > INT_MAX ||
        op->out.dtype != CLG_F32 ||
        (gemm && (gemm & ~(int64_t)(CLG_FUSED_GEMM | CLG_FUSED_GEMM_TA | CLG_FUSED_GEMM_TB) ||
                  !(gemm & CLG_FUSED_GEMM))))
        return 0;
    const int n_in = op->n_in - (int)(n_out - 1);
    for (int k = 0; k < op->n_in; k++) {
        const clg_bk_tensor *t = &op->in[k];
        const int64_t b = clg_param_i64(p, CLG_FUSED_P_BCAST + k);
        if (t->dtype != CLG_F32)
            return 0;
        if (k < first) {
            if (t->ndim != 3)
                return 0;
            continue;
        }
        /* a window's rows are indexed with ints, its start too */
        if (!clg_fused_input_fits(p, k, n_in, n, numel(t)) || (b == CLG_FUSED_ROW && cols > INT_MAX) ||
            numel(t) > INT_MAX || t->offset / 4 + (size_t)numel(t) > INT_MAX)
            return 0;
    }
    if (gemm) {
        const clg_bk_tensor *a = &op->in[0], *b = &op->in[1];
        int64_t m = (gemm & CLG_FUSED_GEMM_TA) ? a->dim[2] : a->dim[1];
        int64_t ka = (gemm & CLG_FUSED_GEMM_TA) ? a->dim[1] : a->dim[2];
        int64_t kb = (gemm & CLG_FUSED_GEMM_TB) ? b->dim[2] : b->dim[1];
        int64_t nn = (gemm & CLG_FUSED_GEMM_TB) ? b->dim[1] : b->dim[2];
        int64_t batch = a->dim[0] > b->dim[0] ? a->dim[0] : b->dim[0];
        if (ka != kb || (a->dim[0] != 1 && a->dim[0] != batch) ||
            (b->dim[0] != 1 && b->dim[0] != batch) || batch * m * nn != n)
            return 0;
    }
    for (int k = 0; k < n_out; k++) {
        const int64_t r = clg_param_i64(p, CLG_FUSED_P_OUTREG + k);
        if (r < 0 || r >= n_instr)
            return 0;
    }
    for (int i = 0; i < n_instr; i++) {
        const clg_fused_instr in = clg_fused_instr_get(p, i);
        if (!clg_op_is_kernel(in.op) || !pattern(in.op))
            return 0;
        const int opnd[3] = { in.a, in.b, in.c };
        for (int q = 0; q < arity(in.op); q++) {
            const int c = opnd[q];
            const int ok = c == CLG_FUSED_ACC ? gemm != 0
                           : c < CLG_FUSED_REG(0) ? c >= first && c < n_in
                                                  : c - CLG_FUSED_REG(0) < i;
            if (!ok)
                return 0;
        }
    }
    return 1;
}

/* Appends to a growing string; returns 0, or -1 out of memory. */
typedef struct text {
    char *s;
    size_t len, cap;
} text;

static int put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (w < 0)
            return -1;
        if (t->s && t->len + (size_t)w < t->cap) {
            t->len += (size_t)w;
            return 0;
        }
        size_t cap = (t->cap ? 2 * t->cap : 4096) + (size_t)w;
        char *s = realloc(t->s, cap);
        if (!s)
            return -1;
        t->s = s;
        t->cap = cap;
    }
}

static void operand(const clg_bk_op *op, int code, char *buf, size_t len)
{
    const clg_params *p = &op->params;
    if (code == CLG_FUSED_ACC)
        snprintf(buf, len, "q0[p0 + e]");
    else if (code >= CLG_FUSED_REG(0))
        snprintf(buf, len, "r%d", code - CLG_FUSED_REG(0));
    else if (clg_param_i64(p, CLG_FUSED_P_BCAST + code) == CLG_FUSED_ONE)
        snprintf(buf, len, "i%d[o%d]", code, code);
    else if (clg_param_i64(p, CLG_FUSED_P_BCAST + code) == CLG_FUSED_ROW)
        snprintf(buf, len, "i%d[o%d + e %% cols]", code, code);
    else if (clg_param_i64(p, CLG_FUSED_P_BCAST + code) == CLG_FUSED_CHAN)
        snprintf(buf, len, "i%d[o%d + e / inner %% period]", code, code);
    else if (clg_fused_mode(p, code) == CLG_FUSED_WINDOW) {
        /* W and STRIDE in the text (one kernel for every step of a
         * sequence), OFF added to the input's offset argument */
        const long long w = clg_fused_window_w(p, code);
        snprintf(buf, len, "i%d[o%d + e / %lld * %lld + e %% %lld]", code, code, w,
                 (long long)(numel(&op->in[code]) / (numel(&op->out) / w)), w);
    }
    else
        snprintf(buf, len, "i%d[o%d + e]", code, code);
}

/* The kernel's source; NULL out of memory. */
static char *source(const clg_bk_op *op)
{
    const clg_params *p = &op->params;
    const int n_instr = (int)clg_param_i64(p, CLG_FUSED_P_NINSTR);
    const int n_out = (int)clg_param_i64(p, CLG_FUSED_P_NOUT);
    const int first = clg_param_i64(p, CLG_FUSED_P_GEMM) ? 2 : 0;
    const int n_in = op->n_in - (n_out - 1);
    text t = { 0 };
    int bad = put(&t, "%s__kernel void k_fused(int n, int cols, int period, int inner", prelude);
    for (int j = first; j < n_in; j++)
        bad |= put(&t, ", __global const float *i%d, int o%d", j, j);
    for (int k = 0; k < n_out; k++)
        bad |= put(&t, ", __global float *q%d, int p%d", k, k);
    bad |= put(&t, ")\n{\n    int e = get_global_id(0);\n    if (e >= n)\n        return;\n");
    for (int i = 0; i < n_instr; i++) {
        const clg_fused_instr in = clg_fused_instr_get(p, i);
        char x[96], y[96], z[96], f[40];
        operand(op, in.a, x, sizeof x);
        operand(op, in.b, y, sizeof y);
        operand(op, in.c, z, sizeof z);
        union { float f; uint32_t u; } v = { in.scalar };
        snprintf(f, sizeof f, "as_float(0x%08xu)", (unsigned)v.u);
        const char *args[4] = { x, y, z, f };
        bad |= put(&t, "    float r%d = ", i);
        for (const char *c = pattern(in.op); *c; c++) {
            if (c[0] == '@' && c[1] >= '1' && c[1] <= '4')
                bad |= put(&t, "%s", args[*++c - '1']);
            else
                bad |= put(&t, "%c", *c);
        }
        bad |= put(&t, ";\n");
    }
    for (int k = 0; k < n_out; k++)
        bad |= put(&t, "    q%d[p%d + e] = r%d;\n", k, k,
                   (int)clg_param_i64(p, CLG_FUSED_P_OUTREG + k));
    bad |= put(&t, "}\n");
    if (bad) {
        free(t.s);
        return NULL;
    }
    return t.s;
}

static clg_status kernel_for(clg_bk_device *dev, const clg_bk_op *op,
                             struct ocl_fused_kernel **out)
{
    char *src = source(op);
    if (!src)
        return ocl_fail(dev, CLG_ERR_NOMEM, "opencl: fused: out of host memory");
    for (struct ocl_fused_kernel *f = dev->fused; f; f = f->next)
        if (strcmp(f->src, src) == 0) {
            free(src);
            *out = f;
            return CLG_OK;
        }
    struct ocl_fused_kernel *f = calloc(1, sizeof *f);
    if (!f) {
        free(src);
        return ocl_fail(dev, CLG_ERR_NOMEM, "opencl: fused: out of host memory");
    }
    f->src = src;
    clg_status st = ocl_program_build(dev, src, "a fused kernel", &f->prog);
    cl_int cst = CL_SUCCESS;
    if (st == CLG_OK) {
        f->k = clCreateKernel(f->prog, "k_fused", &cst);
        if (cst != CL_SUCCESS)
            st = ocl_fail_cl(dev, cst, "opencl: fused: clCreateKernel");
        else if (clGetKernelWorkGroupInfo(f->k, dev->id, CL_KERNEL_WORK_GROUP_SIZE,
                                          sizeof f->wg, &f->wg, NULL) != CL_SUCCESS)
            f->wg = 1;
    }
    if (st != CLG_OK) {
        if (f->prog)
            clReleaseProgram(f->prog);
        free(f->src);
        free(f);
        return st;
    }
    f->next = dev->fused;
    dev->fused = f;
    *out = f;
    return CLG_OK;
}

clg_status ocl_fused(clg_bk_device *dev, const clg_bk_op *op)
{
    if (!ocl_fused_supports(op))
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: fused: malformed program or tensors");
    const clg_params *p = &op->params;
    const int n_out = (int)clg_param_i64(p, CLG_FUSED_P_NOUT);
    const int64_t gemm = clg_param_i64(p, CLG_FUSED_P_GEMM);
    const int first = gemm ? 2 : 0;
    const int n_in = op->n_in - (n_out - 1);
    const int64_t n = numel(&op->out);
    if (n == 0)
        return CLG_OK;
    struct ocl_fused_kernel *fk = NULL;
    clg_status st = kernel_for(dev, op, &fk);
    if (st != CLG_OK)
        return st;
    cl_kernel k = fk->k;
    if (gemm) {
        clg_bk_op mm;
        memset(&mm, 0, sizeof mm);
        mm.op = CLG_OP_MATMUL;
        mm.n_in = 2;
        mm.in[0] = op->in[0];
        mm.in[1] = op->in[1];
        mm.out = op->out;
        mm.out.ndim = 3;
        mm.out.dim[0] = op->in[0].dim[0] > op->in[1].dim[0] ? op->in[0].dim[0] : op->in[1].dim[0];
        mm.out.dim[1] = (gemm & CLG_FUSED_GEMM_TA) ? op->in[0].dim[2] : op->in[0].dim[1];
        mm.out.dim[2] = (gemm & CLG_FUSED_GEMM_TB) ? op->in[1].dim[1] : op->in[1].dim[2];
        clg_param_set_i64(&mm.params, CLG_P_TRANS_A, (gemm & CLG_FUSED_GEMM_TA) != 0);
        clg_param_set_i64(&mm.params, CLG_P_TRANS_B, (gemm & CLG_FUSED_GEMM_TB) != 0);
        st = ocl_matmul(dev, &mm);
        if (st != CLG_OK)
            return st;
    }
    cl_uint arg = 0;
    cl_int cst = CL_SUCCESS;
    cl_int ni = (cl_int)n, cols = (cl_int)clg_param_i64(p, CLG_FUSED_P_COLS);
    cst |= clSetKernelArg(k, arg++, sizeof ni, &ni);
    cst |= clSetKernelArg(k, arg++, sizeof cols, &cols);
    cl_int period = (cl_int)clg_param_i64(p, CLG_FUSED_P_PERIOD);
    cl_int inner = (cl_int)clg_param_i64(p, CLG_FUSED_P_INNER);
    cst |= clSetKernelArg(k, arg++, sizeof period, &period);
    cst |= clSetKernelArg(k, arg++, sizeof inner, &inner);
    for (int j = first; j < n_in; j++) {
        cl_int off = (cl_int)(op->in[j].offset / 4);
        if (clg_fused_mode(p, j) == CLG_FUSED_WINDOW)
            off += (cl_int)clg_fused_window_off(p, j);
        cst |= clSetKernelArg(k, arg++, sizeof(cl_mem), &op->in[j].buf->mem);
        cst |= clSetKernelArg(k, arg++, sizeof off, &off);
    }
    for (int q = 0; q < n_out; q++) {
        const clg_bk_tensor *t = q ? &op->in[n_in + q - 1] : &op->out;
        cl_int off = (cl_int)(t->offset / 4);
        cst |= clSetKernelArg(k, arg++, sizeof(cl_mem), &t->buf->mem);
        cst |= clSetKernelArg(k, arg++, sizeof off, &off);
    }
    if (cst != CL_SUCCESS)
        return ocl_fail(dev, CLG_ERR_BACKEND, "opencl: fused: setting the kernel's arguments failed");
    size_t local = dev->wg_target ? dev->wg_target : 64;
    if (local > fk->wg)
        local = fk->wg ? fk->wg : 1;
    size_t global = ((size_t)n + local - 1) / local * local;
    cl_event *ev = ocl_prof_slot(dev, CLG_OP_FUSED);
    cst = clEnqueueNDRangeKernel(dev->queue, k, 1, NULL, &global, &local, 0, NULL, ev);
    ocl_prof_commit(dev, ev, cst == CL_SUCCESS);
    dev->kernels += cst == CL_SUCCESS;
    if (cst != CL_SUCCESS)
        return ocl_fail_cl(dev, cst, "fused: enqueue k_fused (%zu items, groups of %zu)", global,
                           local);
    return CLG_OK;
}

void ocl_fused_release(clg_bk_device *dev)
{
    while (dev->fused) {
        struct ocl_fused_kernel *f = dev->fused;
        dev->fused = f->next;
        clReleaseKernel(f->k);
        clReleaseProgram(f->prog);
        free(f->src);
        free(f);
    }
}
