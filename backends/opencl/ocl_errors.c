/* Error text for the OpenCL backend: OpenCL and CLBlast status names, op
 * names (the backend does not link libclgrad, so it keeps its own table) and
 * the per-device / backend-wide last-error messages. */
#include "ocl_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Failures of device_count/device_info/open have no device to hold them.
 * Not thread-local: a dlclose'd module's dynamic TLS trips LeakSanitizer,
 * and the core reads this right after the failing call anyway. The lock
 * keeps two threads' messages from interleaving. */
static char g_err[4096] = "";
static pthread_mutex_t g_err_lock = PTHREAD_MUTEX_INITIALIZER;

const char *ocl_status_name(cl_int st)
{
    switch (st) {
#define N(x) case x: return #x;
    N(CL_SUCCESS) N(CL_DEVICE_NOT_FOUND) N(CL_DEVICE_NOT_AVAILABLE)
    N(CL_COMPILER_NOT_AVAILABLE) N(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    N(CL_OUT_OF_RESOURCES) N(CL_OUT_OF_HOST_MEMORY)
    N(CL_PROFILING_INFO_NOT_AVAILABLE) N(CL_MEM_COPY_OVERLAP)
    N(CL_IMAGE_FORMAT_MISMATCH) N(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    N(CL_BUILD_PROGRAM_FAILURE) N(CL_MAP_FAILURE)
    N(CL_MISALIGNED_SUB_BUFFER_OFFSET) N(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    N(CL_COMPILE_PROGRAM_FAILURE) N(CL_LINKER_NOT_AVAILABLE) N(CL_LINK_PROGRAM_FAILURE)
    N(CL_DEVICE_PARTITION_FAILED) N(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    N(CL_INVALID_VALUE) N(CL_INVALID_DEVICE_TYPE) N(CL_INVALID_PLATFORM)
    N(CL_INVALID_DEVICE) N(CL_INVALID_CONTEXT) N(CL_INVALID_QUEUE_PROPERTIES)
    N(CL_INVALID_COMMAND_QUEUE) N(CL_INVALID_HOST_PTR) N(CL_INVALID_MEM_OBJECT)
    N(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) N(CL_INVALID_IMAGE_SIZE) N(CL_INVALID_SAMPLER)
    N(CL_INVALID_BINARY) N(CL_INVALID_BUILD_OPTIONS) N(CL_INVALID_PROGRAM)
    N(CL_INVALID_PROGRAM_EXECUTABLE) N(CL_INVALID_KERNEL_NAME)
    N(CL_INVALID_KERNEL_DEFINITION) N(CL_INVALID_KERNEL) N(CL_INVALID_ARG_INDEX)
    N(CL_INVALID_ARG_VALUE) N(CL_INVALID_ARG_SIZE) N(CL_INVALID_KERNEL_ARGS)
    N(CL_INVALID_WORK_DIMENSION) N(CL_INVALID_WORK_GROUP_SIZE)
    N(CL_INVALID_WORK_ITEM_SIZE) N(CL_INVALID_GLOBAL_OFFSET)
    N(CL_INVALID_EVENT_WAIT_LIST) N(CL_INVALID_EVENT) N(CL_INVALID_OPERATION)
    N(CL_INVALID_GL_OBJECT) N(CL_INVALID_BUFFER_SIZE) N(CL_INVALID_MIP_LEVEL)
    N(CL_INVALID_GLOBAL_WORK_SIZE) N(CL_INVALID_PROPERTY)
    N(CL_INVALID_IMAGE_DESCRIPTOR) N(CL_INVALID_COMPILER_OPTIONS)
    N(CL_INVALID_LINKER_OPTIONS) N(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef N
    /* Not in the 1.2 headers but returned by newer drivers and the loader. */
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    case -69: return "CL_INVALID_PIPE_SIZE";
    case -70: return "CL_INVALID_DEVICE_QUEUE";
    case -71: return "CL_INVALID_SPEC_ID";
    case -72: return "CL_MAX_SIZE_RESTRICTION_EXCEEDED";
    default: return "CL_UNKNOWN_ERROR";
    }
}

const char *ocl_clblast_status_name(int st)
{
    if (st > -1000)
        return ocl_status_name(st);
    switch (st) {
    case -1024: return "CLBlastNotImplemented";
    case -1022: return "CLBlastInvalidMatrixA";
    case -1021: return "CLBlastInvalidMatrixB";
    case -1020: return "CLBlastInvalidMatrixC";
    case -1017: return "CLBlastInvalidDimension";
    case -1016: return "CLBlastInvalidLeadDimA";
    case -1015: return "CLBlastInvalidLeadDimB";
    case -1014: return "CLBlastInvalidLeadDimC";
    case -1011: return "CLBlastInsufficientMemoryA";
    case -1010: return "CLBlastInsufficientMemoryB";
    case -1009: return "CLBlastInsufficientMemoryC";
    case -2050: return "CLBlastInsufficientMemoryTemp";
    case -2049: return "CLBlastInvalidBatchCount";
    case -2046: return "CLBlastInvalidLocalMemUsage";
    case -2041: return "CLBlastDatabaseError";
    case -2040: return "CLBlastUnknownError";
    case -2039: return "CLBlastUnexpectedError";
    default: return "CLBlastError";
    }
}

const char *ocl_op_name(int op)
{
    if (op == CLG_OP_COUNT)
        return "(transfer)";
    const char *name = clg_op_info_of((clg_op)op).name;
    return name ? name : "(unknown op)";
}

static void vset(clg_bk_device *dev, const char *fmt, va_list ap)
{
    if (dev) {
        vsnprintf(dev->err, sizeof dev->err, fmt, ap);
        return;
    }
    /* fmt's arguments may point into g_err itself (ocl_open copies a
     * device message up); format into a local first. */
    char tmp[sizeof g_err];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    pthread_mutex_lock(&g_err_lock);
    memcpy(g_err, tmp, sizeof g_err);
    pthread_mutex_unlock(&g_err_lock);
}

clg_status ocl_fail(clg_bk_device *dev, clg_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(dev, fmt, ap);
    va_end(ap);
    return st;
}

clg_status ocl_fail_cl(clg_bk_device *dev, cl_int cl, const char *fmt, ...)
{
    char what[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    clg_status st = CLG_ERR_BACKEND;
    if (cl == CL_MEM_OBJECT_ALLOCATION_FAILURE || cl == CL_OUT_OF_HOST_MEMORY)
        st = CLG_ERR_NOMEM;
    return ocl_fail(dev, st, "opencl: %s: %s (%d)", what, ocl_status_name(cl), (int)cl);
}

void ocl_info(clg_bk_device *dev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(dev, fmt, ap);
    va_end(ap);
}

const char *ocl_last_error(clg_bk_device *dev)
{
    return dev ? dev->err : g_err;
}
