/* Device buffers (one cl_mem each; tensors are offsets into them, passed to
 * kernels as arguments because sub-buffers have alignment limits) and the
 * transfers: write and copy enqueue without waiting, read blocks. */
#include "ocl_internal.h"

#include <stdlib.h>
#include <string.h>

/* Past this much pending staging memory, write() drains the queue first. */
#define STAGING_LIMIT ((size_t)256 << 20)

clg_status ocl_alloc(clg_bk_device *dev, size_t bytes, clg_bk_buffer **out)
{
    if (!out)
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: alloc: NULL output");
    *out = NULL;
    clg_bk_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return ocl_fail(dev, CLG_ERR_NOMEM, "opencl: alloc of %zu bytes: out of host memory",
                        bytes);
    /* OpenCL has no empty buffers; a 0-byte request still gets its own. */
    size_t real = bytes ? bytes : 4;
    /* Asked for more than the device can hold, some implementations fail
     * badly instead of returning an error (Oclgrind throws std::bad_alloc
     * through the C API and the process dies): never ask. */
    if (dev->max_alloc && real > dev->max_alloc) {
        free(b);
        return ocl_fail(dev, CLG_ERR_NOMEM,
                        "opencl: allocating %zu bytes on '%s' failed: more than one buffer may "
                        "hold (CL_DEVICE_MAX_MEM_ALLOC_SIZE %llu bytes)",
                        bytes, dev->name, (unsigned long long)dev->max_alloc);
    }
    if (dev->global_mem && real > dev->global_mem - dev->allocated) {
        free(b);
        return ocl_fail(dev, CLG_ERR_NOMEM,
                        "opencl: allocating %zu bytes on '%s' failed: %llu of the device's "
                        "%llu bytes (CL_DEVICE_GLOBAL_MEM_SIZE) are already in use",
                        bytes, dev->name, (unsigned long long)dev->allocated,
                        (unsigned long long)dev->global_mem);
    }
    cl_int st;
    b->mem = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE, real, NULL, &st);
    if (st != CL_SUCCESS) {
        free(b);
        clg_status s = (st == CL_MEM_OBJECT_ALLOCATION_FAILURE || st == CL_OUT_OF_RESOURCES ||
                        st == CL_OUT_OF_HOST_MEMORY || st == CL_INVALID_BUFFER_SIZE)
                           ? CLG_ERR_NOMEM
                           : CLG_ERR_BACKEND;
        return ocl_fail(dev, s, "opencl: allocating %zu bytes on '%s' failed: %s (%d)", bytes,
                        dev->name, ocl_status_name(st), (int)st);
    }
    b->size = bytes;
    b->real = real;
    dev->allocated += real;
    *out = b;
    return CLG_OK;
}

void ocl_free(clg_bk_device *dev, clg_bk_buffer *buf)
{
    if (!buf)
        return;
    if (dev)
        dev->allocated -= buf->real <= dev->allocated ? buf->real : dev->allocated;
    clReleaseMemObject(buf->mem);
    free(buf);
}

static clg_status check_range(clg_bk_device *dev, const char *what, clg_bk_buffer *b,
                              size_t offset, size_t bytes)
{
    if (!b)
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: %s: NULL buffer", what);
    if (offset > b->size || bytes > b->size - offset)
        return ocl_fail(dev, CLG_ERR_INVALID,
                        "opencl: %s of %zu bytes at offset %zu is outside the %zu-byte buffer",
                        what, bytes, offset, b->size);
    return CLG_OK;
}

void ocl_staging_release(clg_bk_device *dev)
{
    for (size_t i = 0; i < dev->n_staging; i++)
        free(dev->staging[i]);
    dev->n_staging = 0;
    dev->staging_bytes = 0;
}

clg_status ocl_write(clg_bk_device *dev, clg_bk_buffer *dst, size_t offset, const void *src,
                     size_t bytes)
{
    clg_status s = check_range(dev, "write", dst, offset, bytes);
    if (s != CLG_OK || bytes == 0)
        return s;
    if (!src)
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: write: NULL source");
    if (dev->staging_bytes + bytes > STAGING_LIMIT) {
        s = ocl_sync(dev);
        if (s != CLG_OK)
            return s;
    }
    if (dev->n_staging == dev->cap_staging) {
        size_t nc = dev->cap_staging ? 2 * dev->cap_staging : 16;
        void **n = realloc(dev->staging, nc * sizeof *n);
        if (!n)
            return ocl_fail(dev, CLG_ERR_NOMEM, "opencl: write: out of host memory");
        dev->staging = n;
        dev->cap_staging = nc;
    }
    void *copy = malloc(bytes);
    if (!copy)
        return ocl_fail(dev, CLG_ERR_NOMEM,
                        "opencl: write: out of host memory staging %zu bytes", bytes);
    memcpy(copy, src, bytes);
    cl_event *ev = ocl_prof_slot(dev, CLG_OP_COUNT);
    cl_int st = clEnqueueWriteBuffer(dev->queue, dst->mem, CL_FALSE, offset, bytes, copy, 0,
                                     NULL, ev);
    ocl_prof_commit(dev, ev, st == CL_SUCCESS);
    if (st != CL_SUCCESS) {
        free(copy);
        return ocl_fail_cl(dev, st, "write of %zu bytes", bytes);
    }
    dev->staging[dev->n_staging++] = copy;
    dev->staging_bytes += bytes;
    return CLG_OK;
}

clg_status ocl_read(clg_bk_device *dev, clg_bk_buffer *src, size_t offset, void *dst,
                    size_t bytes)
{
    clg_status s = check_range(dev, "read", src, offset, bytes);
    if (s != CLG_OK)
        return s;
    if (bytes && !dst)
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: read: NULL destination");
    if (bytes) {
        cl_int st = clEnqueueReadBuffer(dev->queue, src->mem, CL_TRUE, offset, bytes, dst, 0,
                                        NULL, NULL);
        if (st != CL_SUCCESS)
            return ocl_fail_cl(dev, st, "read of %zu bytes", bytes);
    }
    /* The queue has drained up to the read: free staging, surface index errors. */
    return ocl_sync(dev);
}

clg_status ocl_copy(clg_bk_device *dev, clg_bk_buffer *src, size_t src_offset,
                    clg_bk_buffer *dst, size_t dst_offset, size_t bytes)
{
    clg_status s = check_range(dev, "copy source", src, src_offset, bytes);
    if (s == CLG_OK)
        s = check_range(dev, "copy destination", dst, dst_offset, bytes);
    if (s != CLG_OK || bytes == 0)
        return s;
    if (src == dst && src_offset == dst_offset)
        return CLG_OK;
    if (src == dst && src_offset < dst_offset + bytes && dst_offset < src_offset + bytes)
        return ocl_fail(dev, CLG_ERR_INVALID,
                        "opencl: copy of %zu bytes within one buffer overlaps (%zu -> %zu)",
                        bytes, src_offset, dst_offset);
    cl_event *ev = ocl_prof_slot(dev, CLG_OP_COUNT);
    cl_int st = clEnqueueCopyBuffer(dev->queue, src->mem, dst->mem, src_offset, dst_offset, bytes,
                                    0, NULL, ev);
    ocl_prof_commit(dev, ev, st == CL_SUCCESS);
    dev->kernels += st == CL_SUCCESS;
    if (st != CL_SUCCESS)
        return ocl_fail_cl(dev, st, "copy of %zu bytes", bytes);
    return CLG_OK;
}
