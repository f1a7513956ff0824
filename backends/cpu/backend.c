/* The CPU backend's descriptor: its one device, host buffers, dispatch of an
 * op to its kernel, and error messages. */
#include "conv_dnnl.h"
#include "cpu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Failures before a device exists (device_info, open) or with dev == NULL. */
static _Thread_local char no_device_err[CPU_ERR_LEN];

clg_status cpu_fail(clg_bk_device *dev, clg_status st, const char *fmt, ...)
{
    char *dst = dev ? dev->err : no_device_err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, CPU_ERR_LEN, fmt, ap);
    va_end(ap);
    return st;
}

static const char *cpu_last_error(clg_bk_device *dev)
{
    return dev ? dev->err : no_device_err;
}

/* ---------------------------------------------------------------- devices */

static int cpu_device_count(void)
{
    return 1;
}

/* Value of the first "key<spaces>: value" line of /proc/cpuinfo into out;
 * left unchanged when absent (e.g. no "model name" on some ARM kernels). */
static void cpuinfo_field(const char *key, char *out, size_t len)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    const size_t klen = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0 || (line[klen] != ' ' && line[klen] != '\t' &&
                                              line[klen] != ':'))
            continue;
        const char *v = strchr(line, ':');
        if (!v)
            continue;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t n = strcspn(v, "\n");
        if (n > 0) {
            if (n >= len)
                n = len - 1;
            memcpy(out, v, n);
            out[n] = '\0';
        }
        break;
    }
    fclose(f);
}

static clg_status cpu_device_info(int index, clg_device_info *out)
{
    if (!out)
        return cpu_fail(NULL, CLG_ERR_INVALID, "cpu: device_info: out is NULL");
    if (index != 0)
        return cpu_fail(NULL, CLG_ERR_INVALID, "cpu: no device %d (there is one, device 0)",
                        index);
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "cpu");
    snprintf(out->vendor, sizeof out->vendor, "unknown");
    cpuinfo_field("model name", out->name, sizeof out->name);
    cpuinfo_field("vendor_id", out->vendor, sizeof out->vendor);
    snprintf(out->driver, sizeof out->driver, "clgrad-cpu 0.1");
    out->type = CLG_DEVICE_CPU;
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    out->global_mem = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    out->compute_units = cpus > 0 ? (int)cpus : 1;
    return CLG_OK;
}

static clg_status cpu_open(int index, clg_bk_device **out)
{
    if (!out)
        return cpu_fail(NULL, CLG_ERR_INVALID, "cpu: open: out is NULL");
    *out = NULL;
    if (index != 0)
        return cpu_fail(NULL, CLG_ERR_INVALID, "cpu: no device %d (there is one, device 0)",
                        index);
    clg_bk_device *dev = calloc(1, sizeof *dev);
    if (!dev)
        return cpu_fail(NULL, CLG_ERR_NOMEM, "cpu: open: out of memory");
    const char *gemm = getenv("CLG_CPU_GEMM");
    dev->gemm_portable = gemm && strcmp(gemm, "portable") == 0;
    const char *prim = getenv("CLGRAD_CPU_PRIMITIVES_ONLY");
    dev->primitives_only = prim && strcmp(prim, "1") == 0;
    cpu_gemm_threads_init();
    *out = dev;
    return CLG_OK;
}

static void cpu_close(clg_bk_device *dev)
{
    cpu_lstm_work_free(dev);
    free(dev);
}

/* ---------------------------------------------------------------- buffers */

static clg_status cpu_alloc(clg_bk_device *dev, size_t bytes, clg_bk_buffer **out)
{
    if (!out)
        return cpu_fail(dev, CLG_ERR_INVALID, "alloc: out is NULL");
    *out = NULL;
    /* Round up to whole lines; size 0 still gets one, so it is distinct. */
    if (bytes > SIZE_MAX - CPU_MEM_ALIGN)
        return cpu_fail(dev, CLG_ERR_NOMEM, "alloc: %zu bytes is too large", bytes);
    const size_t padded = (bytes / CPU_MEM_ALIGN + 1) * CPU_MEM_ALIGN;
    clg_bk_buffer *b = malloc(sizeof *b);
    void *data = aligned_alloc(CPU_MEM_ALIGN, padded);
    if (!b || !data) {
        free(b);
        free(data);
        return cpu_fail(dev, CLG_ERR_NOMEM, "alloc: out of host memory for %zu bytes", bytes);
    }
    /* Zeroed, so that even a read of never-written memory is the same every
     * run. */
    memset(data, 0, padded);
    b->size = bytes;
    b->data = data;
    *out = b;
    return CLG_OK;
}

static void cpu_free(clg_bk_device *dev, clg_bk_buffer *buf)
{
    (void)dev;
    if (!buf)
        return;
    free(buf->data);
    free(buf);
}

static clg_status check_range(clg_bk_device *dev, const char *what, const clg_bk_buffer *buf,
                              size_t offset, size_t bytes)
{
    if (!buf)
        return cpu_fail(dev, CLG_ERR_INVALID, "%s: buffer is NULL", what);
    if (offset > buf->size || bytes > buf->size - offset)
        return cpu_fail(dev, CLG_ERR_INVALID,
                        "%s: %zu bytes at offset %zu overrun a buffer of %zu bytes", what, bytes,
                        offset, buf->size);
    return CLG_OK;
}

static clg_status cpu_write(clg_bk_device *dev, clg_bk_buffer *dst, size_t offset,
                            const void *src, size_t bytes)
{
    clg_status st = check_range(dev, "write", dst, offset, bytes);
    if (st != CLG_OK)
        return st;
    if (bytes && !src)
        return cpu_fail(dev, CLG_ERR_INVALID, "write: source pointer is NULL");
    if (bytes)
        memcpy((char *)dst->data + offset, src, bytes);
    return CLG_OK;
}

static clg_status cpu_read(clg_bk_device *dev, clg_bk_buffer *src, size_t offset, void *dst,
                           size_t bytes)
{
    clg_status st = check_range(dev, "read", src, offset, bytes);
    if (st != CLG_OK)
        return st;
    if (bytes && !dst)
        return cpu_fail(dev, CLG_ERR_INVALID, "read: destination pointer is NULL");
    if (bytes)
        memcpy(dst, (const char *)src->data + offset, bytes);
    return CLG_OK;
}

static clg_status cpu_copy_buffer(clg_bk_device *dev, clg_bk_buffer *src, size_t src_offset,
                                  clg_bk_buffer *dst, size_t dst_offset, size_t bytes)
{
    clg_status st = check_range(dev, "copy (source)", src, src_offset, bytes);
    if (st == CLG_OK)
        st = check_range(dev, "copy (destination)", dst, dst_offset, bytes);
    if (st != CLG_OK)
        return st;
    /* memmove: a copy within one buffer may overlap */
    dev->kernels++;
    if (bytes)
        memmove((char *)dst->data + dst_offset, (const char *)src->data + src_offset, bytes);
    return CLG_OK;
}

static clg_status cpu_sync(clg_bk_device *dev)
{
    (void)dev;
    return CLG_OK;
}

/* ---------------------------------------------------------------- ops */

static int cpu_supports(clg_bk_device *dev, const clg_bk_op *op)
{
    char msg[CPU_ERR_LEN];
    if (dev && dev->primitives_only && op && clg_op_info_of(op->op).kind == CLG_OPKIND_COMPOSITE)
        return 0; /* the core lowers it: how the minimal op set is tested */
    if (cpu_check_types(op, msg, sizeof msg) == 0)
        return 1;
    if (dev)
        snprintf(dev->err, sizeof dev->err, "%s", msg);
    return 0;
}

static clg_status cpu_exec(clg_bk_device *dev, const clg_bk_op *op)
{
    if (!dev)
        return cpu_fail(NULL, CLG_ERR_INVALID, "exec: device is NULL");
    if (cpu_check_op(op, dev->err, sizeof dev->err))
        return (op && clg_op_is_kernel(op->op)) ? CLG_ERR_INVALID : CLG_ERR_UNSUPPORTED;
    /* Every op here is one kernel: one pass, or one GEMM call per matmul. */
    dev->kernels++;
    switch (op->op) {
    case CLG_OP_FILL: return cpu_fill(dev, op);
    case CLG_OP_COPY: return cpu_copy(dev, op);
    case CLG_OP_CAST: return cpu_cast(dev, op);
    case CLG_OP_WHERE: return cpu_where(dev, op);
    case CLG_OP_SUM: case CLG_OP_MEAN: case CLG_OP_MAX: return cpu_reduce(dev, op);
    case CLG_OP_ARGMAX: return cpu_argmax(dev, op);
    case CLG_OP_SOFTMAX: case CLG_OP_LOG_SOFTMAX: return cpu_softmax(dev, op);
    case CLG_OP_MATMUL: return cpu_matmul(dev, op);
    case CLG_OP_PERMUTE: return cpu_permute(dev, op);
    case CLG_OP_EXPAND: return cpu_expand(dev, op);
    case CLG_OP_SLICE: return cpu_slice(dev, op);
    case CLG_OP_PAD: return cpu_pad(dev, op);
    case CLG_OP_CONCAT: return cpu_concat(dev, op);
    case CLG_OP_GATHER: return cpu_gather(dev, op);
    case CLG_OP_SCATTER_ADD: return cpu_scatter_add(dev, op);
    case CLG_OP_ONE_HOT: return cpu_one_hot(dev, op);
    case CLG_OP_RAND_UNIFORM: return cpu_rand_uniform(dev, op);
    case CLG_OP_IM2COL: return cpu_im2col(dev, op);
    case CLG_OP_COL2IM: return cpu_col2im(dev, op);
    case CLG_OP_MAX_POOL2D_INDEX: return cpu_max_pool2d_index(dev, op);
    case CLG_OP_BN_STATS: return cpu_bn_stats(dev, op);
    case CLG_OP_BN_GRAD_SUMS: return cpu_bn_grad_sums(dev, op);
    case CLG_OP_LN_NORM: return cpu_ln_norm(dev, op);
    case CLG_OP_LN_NORM_GRAD: return cpu_ln_norm_grad(dev, op);
    case CLG_OP_LSTM_SCAN: case CLG_OP_LSTM_SCAN_GRAD: return cpu_lstm_scan(dev, op);
    case CLG_OP_INDEX_SELECT: return cpu_index_select(dev, op);
    case CLG_OP_INDEX_ADD: return cpu_index_add(dev, op);
    case CLG_OP_FUSED: return cpu_fused(dev, op);
    case CLG_OP_CROSS_ENTROPY: case CLG_OP_CROSS_ENTROPY_GRAD: return cpu_cross_entropy(dev, op);
#ifdef CLG_CPU_HAVE_DNNL
    case CLG_OP_CONV2D: case CLG_OP_CONV2D_GRAD_INPUT: case CLG_OP_CONV2D_GRAD_WEIGHT:
        return cpu_conv2d(dev, op);
#endif
    default: break;
    }
    /* The rest of the elementwise family, by arity: every unary op is one
     * function of x (and the SCALAR parameters), every binary one of two. */
    const clg_op_info info = clg_op_info_of(op->op);
    if (info.family == CLG_FAMILY_ELEMENTWISE && info.arity == 1)
        return cpu_unary(dev, op);
    if (info.family == CLG_FAMILY_ELEMENTWISE && info.arity == 2)
        return cpu_binary(dev, op);
    return cpu_fail(dev, CLG_ERR_UNSUPPORTED, "op %d has no CPU kernel", (int)op->op);
}

static uint64_t cpu_kernels_run(clg_bk_device *dev)
{
    return dev ? dev->kernels : 0;
}

static const clg_backend cpu_backend = {
    .abi_major = CLG_BACKEND_ABI_MAJOR,
    .abi_minor = CLG_BACKEND_ABI_MINOR,
    .struct_size = sizeof(clg_backend),
    .name = "cpu",
    .op_table_version = CLG_OP_TABLE_VERSION,
    .device_count = cpu_device_count,
    .device_info = cpu_device_info,
    .open = cpu_open,
    .close = cpu_close,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .write = cpu_write,
    .read = cpu_read,
    .copy = cpu_copy_buffer,
    .supports = cpu_supports,
    .exec = cpu_exec,
    .exec_plan = NULL, /* the core's loop over exec is all a host backend needs */
    .sync = cpu_sync,
    .last_error = cpu_last_error,
    .kernels_run = cpu_kernels_run,
};

CLG_BACKEND_EXPORT const clg_backend *clg_backend_entry(void);

CLG_BACKEND_EXPORT const clg_backend *clg_backend_entry(void)
{
    return &cpu_backend;
}
