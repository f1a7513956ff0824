/* clgrad backend ABI, version 2: what a compute backend shared module
 * implements. docs/backends.md is the author's guide (the minimal op set,
 * every slot's contract, what exec may trust).
 *
 * A backend .so exports one symbol, CLG_BACKEND_ENTRY_SYMBOL, a function that
 * returns a pointer to a static, const clg_backend. The core checks abi_major,
 * abi_minor and struct_size before it touches any other field: the major must
 * equal CLG_BACKEND_ABI_MAJOR, the minor must be <= CLG_BACKEND_ABI_MINOR, and
 * struct_size must cover every field of that minor. The ABI grows only by
 * appending fields (minor bump); an ABI 1 module is refused by name.
 *
 * Ops: `op_table_version` is the CLG_OP_TABLE_VERSION the backend was built
 * against; the core never sends an op numbered at or past it, so a backend
 * never meets an op it has not heard of. Which ops, dtypes and shapes it runs
 * is its `supports` answer (required); the compiler lowers a composite op the
 * backend refuses into primitives, and refuses a graph with a primitive the
 * backend refuses, naming the op, before anything runs.
 *
 * Tensors are dense and row-major (no strides): views are the core's
 * business, and a backend author writes each kernel for one layout. The cost
 * is an explicit PERMUTE/EXPAND/SLICE op where a strided ABI could have
 * folded it into the consumer; the compiler, which sees the whole graph, is
 * the place to fuse such pairs, not every backend.
 *
 * Threading: the core calls a device from one thread at a time.
 * Errors: every slot returning clg_status leaves a message for last_error().
 * Nothing in a backend may abort() or exit() on bad input.
 */
#ifndef CLGRAD_BACKEND_H
#define CLGRAD_BACKEND_H

#include <clgrad/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLG_BACKEND_ABI_MAJOR 2
#define CLG_BACKEND_ABI_MINOR 1
#define CLG_BACKEND_ENTRY_SYMBOL "clg_backend_entry"

typedef struct clg_bk_device clg_bk_device; /* backend-defined */
typedef struct clg_bk_buffer clg_bk_buffer; /* backend-defined */

/* A tensor as a backend sees it: contiguous row-major, `offset` bytes into
 * `buf`. Offsets are multiples of CLG_BK_ALIGN. Element size is
 * clg_dtype_size(dtype). */
#define CLG_BK_ALIGN 256
typedef struct clg_bk_tensor {
    clg_dtype dtype;
    int ndim;
    int64_t dim[CLG_MAX_DIMS];
    clg_bk_buffer *buf;
    size_t offset;
} clg_bk_tensor;

/* One op to run; shape conventions and parameter slots are those of the op
 * table (types.h). The output never overlaps an input. */
typedef struct clg_bk_op {
    clg_op op;
    int n_in;
    clg_bk_tensor in[CLG_MAX_INPUTS];
    clg_bk_tensor out;
    clg_params params; /* read with clg_param_f32/int/i64 */
} clg_bk_op;

typedef struct clg_backend {
    uint32_t abi_major;
    uint32_t abi_minor;
    size_t struct_size;  /* sizeof(clg_backend) as the backend was built */
    const char *name;    /* "cpu", "opencl": what --backend names */
    uint32_t op_table_version; /* CLG_OP_TABLE_VERSION as the backend was built */

    /* --- ABI 2.0 --- */
    /* Devices. device_count may return 0 (then the backend has nothing to
     * offer, and last_error(NULL) says why). */
    int (*device_count)(void);
    clg_status (*device_info)(int index, clg_device_info *out);
    clg_status (*open)(int index, clg_bk_device **out);
    void (*close)(clg_bk_device *dev);

    /* Buffers. alloc of 0 bytes is valid and returns a distinct buffer. */
    clg_status (*alloc)(clg_bk_device *dev, size_t bytes, clg_bk_buffer **out);
    void (*free)(clg_bk_device *dev, clg_bk_buffer *buf);
    /* write and copy may be asynchronous but must be ordered with exec;
     * read blocks until the data is on the host. */
    clg_status (*write)(clg_bk_device *dev, clg_bk_buffer *dst, size_t offset,
                        const void *src, size_t bytes);
    clg_status (*read)(clg_bk_device *dev, clg_bk_buffer *src, size_t offset,
                       void *dst, size_t bytes);
    clg_status (*copy)(clg_bk_device *dev, clg_bk_buffer *src, size_t src_offset,
                       clg_bk_buffer *dst, size_t dst_offset, size_t bytes);

    /* Required. Returns 1 if the backend can run `op` with these dtypes and
     * shapes (buffers are NULL at this point), 0 if not. Never called with an
     * op at or past op_table_version. */
    int (*supports)(clg_bk_device *dev, const clg_bk_op *op);

    /* Required. Run one op that supports() accepted. May enqueue and return
     * before the work is done. */
    clg_status (*exec)(clg_bk_device *dev, const clg_bk_op *op);

    /* Optional (NULL: the core calls exec for each op in order). Runs a
     * compiled plan; `ops` stays valid and unchanged between calls with the
     * same pointer until release_plan(dev, ops), so a backend may cache
     * per-plan work keyed on it. */
    clg_status (*exec_plan)(clg_bk_device *dev, const clg_bk_op *ops, int n);

    /* Optional (NULL: nothing cached). The plan behind `ops` is being freed:
     * drop whatever exec_plan cached for it. Called before the plan's
     * buffers are freed. */
    void (*release_plan)(clg_bk_device *dev, const clg_bk_op *ops);

    /* Required. Wait for all enqueued work. */
    clg_status (*sync)(clg_bk_device *dev);

    /* Required. Message for the last failure on dev (dev may be NULL for
     * failures of device_count/device_info/open). Never NULL. */
    const char *(*last_error)(clg_bk_device *dev);

    /* --- ABI 2.1 --- (read only from a backend that states minor >= 1) */
    /* Optional (NULL: the core counts one kernel per op and per copy it
     * sends). How many kernels this device has run since open: passes over
     * memory on a host; launches, copies and library calls (one each, whatever
     * a library launches inside) on an accelerator. The core reads it
     * before and after a plan runs, so a step's kernel count is the
     * backend's own, and a fused op shows as the one pass it is. */
    uint64_t (*kernels_run)(clg_bk_device *dev);
} clg_backend;

typedef const clg_backend *(*clg_backend_entry_fn)(void);

/* A backend defines:  const clg_backend *clg_backend_entry(void); */
#define CLG_BACKEND_EXPORT __attribute__((visibility("default")))

#ifdef __cplusplus
}
#endif
#endif
