/* Private to the OpenCL backend: the device and buffer structs and the
 * functions the backend's files share. Nothing outside backends/opencl
 * includes this. */
#ifndef CLG_OCL_INTERNAL_H
#define CLG_OCL_INTERNAL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>

#include <clgrad/backend.h>
#include <stdarg.h>
#include <stddef.h>

#define OCL_INTERNAL __attribute__((visibility("hidden")))

/* Kernels of the one program, in the order ocl_kernel_names lists them. */
enum {
    K_FILL,
    K_UNARY,
    K_CAST,
    K_BINARY_F32,
    K_BINARY_I32,
    K_WHERE,
    K_REDUCE,
    K_ARGMAX,
    K_SOFTMAX,
    K_STRIDED_COPY,
    K_GATHER,
    K_SCATTER_ADD,
    K_ONE_HOT,
    K_GEMM,
    K_RAND_UNIFORM,
    K_IM2COL,
    K_COL2IM,
    K_POOL_INDEX,
    K_SOFTMAX_WG,
    K_COUNT
};
extern OCL_INTERNAL const char *const ocl_kernel_names[K_COUNT];

/* Embedded kernel source (generated from the kernels/ files at build time). */
extern OCL_INTERNAL const char ocl_program_source[];

typedef struct ocl_prof_event {
    cl_event ev;
    int op;
} ocl_prof_event;

struct clg_bk_buffer {
    cl_mem mem;
    size_t size;
    size_t real; /* bytes asked of the driver (size, or 4 for an empty buffer) */
};

struct clg_bk_device {
    cl_platform_id platform;
    cl_device_id id;
    cl_context ctx;
    cl_command_queue queue;
    cl_program program;
    cl_kernel kernel[K_COUNT];
    size_t kernel_wg[K_COUNT];  /* CL_KERNEL_WORK_GROUP_SIZE */
    size_t wg_target;           /* 1-D work-group size used by elementwise kernels */
    size_t max_wg;
    cl_ulong local_mem;
    int gemm_tile;              /* tile edge of the fallback GEMM kernel */
    int gemm_own;               /* CLGRAD_OPENCL_GEMM=own */
    int counted;                /* included in the count of open devices */
    uint64_t kernels;           /* kernels and copies enqueued (kernels_run) */
    struct ocl_fused_kernel *fused; /* generated kernels, newest first (ocl_fused.c) */
    cl_ulong max_alloc;         /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
    cl_ulong global_mem;        /* CL_DEVICE_GLOBAL_MEM_SIZE */
    cl_ulong allocated;         /* bytes of this device's live buffers */
    char name[256];
    char driver[128];

    /* Index ops report an out-of-range index here (4 ints: flag, op, index,
     * bound); the host looks at it on the next sync or read. */
    cl_mem index_err;
    int index_err_pending;

    /* Host copies of data given to write(): the enqueue is non-blocking, so
     * the caller's memory may be gone before the transfer runs. Freed once
     * the queue has drained. */
    void **staging;
    size_t n_staging, cap_staging, staging_bytes;

    int profile;
    ocl_prof_event *events;
    size_t n_events, cap_events;
    double prof_ms[CLG_OP_COUNT + 1];
    long prof_calls[CLG_OP_COUNT + 1];

    char err[4096];
};

/* ocl_errors.c */
OCL_INTERNAL const char *ocl_status_name(cl_int st);
OCL_INTERNAL const char *ocl_clblast_status_name(int st);
OCL_INTERNAL const char *ocl_op_name(int op);
/* Sets the message for dev (dev NULL: the backend-wide message); returns st. */
OCL_INTERNAL clg_status ocl_fail(clg_bk_device *dev, clg_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
OCL_INTERNAL clg_status ocl_fail_cl(clg_bk_device *dev, cl_int cl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
OCL_INTERNAL const char *ocl_last_error(clg_bk_device *dev);
OCL_INTERNAL void ocl_info(clg_bk_device *dev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ocl_devices.c */
OCL_INTERNAL int ocl_device_count(void);
OCL_INTERNAL clg_status ocl_device_info(int index, clg_device_info *out);
/* Resolves the index asked for (and CLGRAD_OPENCL_DEVICE) to a device. */
OCL_INTERNAL clg_status ocl_device_pick(int index, cl_platform_id *plat, cl_device_id *dev);

/* ocl_program.c: builds (or loads from the disk cache) the one program. */
OCL_INTERNAL clg_status ocl_program_open(clg_bk_device *dev);
/* Any other source (what: for messages), through the same disk cache. */
OCL_INTERNAL clg_status ocl_program_build(clg_bk_device *dev, const char *source,
                                          const char *what, cl_program *out);

/* ocl_fused.c: fused elementwise programs as generated kernels, built once
 * per device and program text. */
OCL_INTERNAL int ocl_fused_supports(const clg_bk_op *op);
OCL_INTERNAL clg_status ocl_fused(clg_bk_device *dev, const clg_bk_op *op);
OCL_INTERNAL void ocl_fused_release(clg_bk_device *dev);

/* ocl_device.c */
OCL_INTERNAL clg_status ocl_open(int index, clg_bk_device **out);
OCL_INTERNAL void ocl_close(clg_bk_device *dev);
OCL_INTERNAL clg_status ocl_sync(clg_bk_device *dev);
/* Event slot for an enqueue tagged with op (NULL when not profiling). */
OCL_INTERNAL cl_event *ocl_prof_slot(clg_bk_device *dev, int op);
OCL_INTERNAL void ocl_prof_commit(clg_bk_device *dev, cl_event *slot, int ok);

/* ocl_buffers.c */
OCL_INTERNAL clg_status ocl_alloc(clg_bk_device *dev, size_t bytes, clg_bk_buffer **out);
OCL_INTERNAL void ocl_free(clg_bk_device *dev, clg_bk_buffer *buf);
OCL_INTERNAL clg_status ocl_write(clg_bk_device *dev, clg_bk_buffer *dst, size_t offset,
                                  const void *src, size_t bytes);
OCL_INTERNAL clg_status ocl_read(clg_bk_device *dev, clg_bk_buffer *src, size_t offset,
                                 void *dst, size_t bytes);
OCL_INTERNAL clg_status ocl_copy(clg_bk_device *dev, clg_bk_buffer *src, size_t src_offset,
                                 clg_bk_buffer *dst, size_t dst_offset, size_t bytes);
OCL_INTERNAL void ocl_staging_release(clg_bk_device *dev);

/* ocl_ops.c */
OCL_INTERNAL int ocl_supports(clg_bk_device *dev, const clg_bk_op *op);
OCL_INTERNAL clg_status ocl_exec(clg_bk_device *dev, const clg_bk_op *op);
/* Work-group size for 1-D launches of kernel k. */
OCL_INTERNAL size_t ocl_pick_local(clg_bk_device *dev, int k);
/* Enqueues kernel k over `global` items (rounded up to the work-group). */
OCL_INTERNAL clg_status ocl_launch_1d(clg_bk_device *dev, int k, size_t global,
                                      size_t local, int op);

/* ocl_gemm.c */
OCL_INTERNAL clg_status ocl_matmul(clg_bk_device *dev, const clg_bk_op *op);
/* Drops CLBlast's cached programs (called when the last device closes). */
OCL_INTERNAL void ocl_gemm_release_cache(void);

/* ocl_profile.c */
OCL_INTERNAL void ocl_profile_harvest(clg_bk_device *dev);
OCL_INTERNAL void ocl_profile_print(clg_bk_device *dev);

#endif
