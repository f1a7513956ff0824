/* The entry point: the backend descriptor the core loads. */
#include "ocl_internal.h"

static clg_status exec_plan(clg_bk_device *dev, const clg_bk_op *ops, int n)
{
    for (int i = 0; i < n; i++) {
        clg_status s = ocl_exec(dev, &ops[i]);
        if (s != CLG_OK)
            return s;
    }
    return CLG_OK;
}

/* Enqueued kernels and copies; a CLBlast call counts one, whatever it
 * launches inside. */
static uint64_t kernels_run(clg_bk_device *dev)
{
    return dev ? dev->kernels : 0;
}

static const clg_backend ocl_backend = {
    .abi_major = CLG_BACKEND_ABI_MAJOR,
    .abi_minor = CLG_BACKEND_ABI_MINOR,
    .struct_size = sizeof(clg_backend),
    .name = "opencl",
    .op_table_version = CLG_OP_TABLE_VERSION,
    .device_count = ocl_device_count,
    .device_info = ocl_device_info,
    .open = ocl_open,
    .close = ocl_close,
    .alloc = ocl_alloc,
    .free = ocl_free,
    .write = ocl_write,
    .read = ocl_read,
    .copy = ocl_copy,
    .supports = ocl_supports,
    .exec = ocl_exec,
    .exec_plan = exec_plan,
    .sync = ocl_sync,
    .last_error = ocl_last_error,
    .kernels_run = kernels_run,
};

CLG_BACKEND_EXPORT const clg_backend *clg_backend_entry(void);
CLG_BACKEND_EXPORT const clg_backend *clg_backend_entry(void)
{
    return &ocl_backend;
}
