/* Opening and closing a device: context, the one in-order queue, the
 * program and its kernels, work-group sizes from the device's limits, and
 * the host-side sync points (staging buffers, index-error flag, profiling). */
#include "ocl_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ocl_kernel_names[K_COUNT] = {
    [K_FILL] = "k_fill",
    [K_UNARY] = "k_unary",
    [K_CAST] = "k_cast",
    [K_BINARY_F32] = "k_binary_f32",
    [K_BINARY_I32] = "k_binary_i32",
    [K_WHERE] = "k_where",
    [K_REDUCE] = "k_reduce",
    [K_ARGMAX] = "k_argmax",
    [K_SOFTMAX] = "k_softmax",
    [K_STRIDED_COPY] = "k_strided_copy",
    [K_GATHER] = "k_gather",
    [K_SCATTER_ADD] = "k_scatter_add",
    [K_ONE_HOT] = "k_one_hot",
    [K_RAND_UNIFORM] = "k_rand_uniform",
    [K_IM2COL] = "k_im2col",
    [K_COL2IM] = "k_col2im",
    [K_POOL_INDEX] = "k_pool_index",
    [K_SOFTMAX_WG] = "k_softmax_wg",
    [K_GEMM] = "k_gemm",
};

/* Devices open now; when the last one closes, CLBlast's program cache is
 * emptied (see ocl_gemm_release_cache). */
static pthread_mutex_t g_open_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_open_devices;

static int env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

/* The fallback GEMM's tile: the largest edge whose square fits the device's
 * work-group limits and whose two tiles fit its local memory. */
static int pick_gemm_tile(cl_device_id id, size_t max_wg, cl_ulong local_mem)
{
    size_t item[3] = {1, 1, 1};
    clGetDeviceInfo(id, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof item, item, NULL);
    for (int ts = 16; ts > 1; ts /= 2) {
        size_t t = (size_t)ts;
        if (t * t <= max_wg && t <= item[0] && t <= item[1] &&
            2 * t * (t + 1) * sizeof(float) <= local_mem)
            return ts;
    }
    return 1;
}

static clg_status setup_kernels(clg_bk_device *dev)
{
    cl_int st;
    size_t pref = 1;
    for (int k = 0; k < K_COUNT; k++) {
        dev->kernel[k] = clCreateKernel(dev->program, ocl_kernel_names[k], &st);
        if (st != CL_SUCCESS)
            return ocl_fail_cl(dev, st, "clCreateKernel(%s)", ocl_kernel_names[k]);
        size_t wg = 1;
        st = clGetKernelWorkGroupInfo(dev->kernel[k], dev->id, CL_KERNEL_WORK_GROUP_SIZE,
                                      sizeof wg, &wg, NULL);
        if (st != CL_SUCCESS)
            return ocl_fail_cl(dev, st, "clGetKernelWorkGroupInfo(%s)", ocl_kernel_names[k]);
        dev->kernel_wg[k] = wg ? wg : 1;
        if (k == K_UNARY) {
            clGetKernelWorkGroupInfo(dev->kernel[k], dev->id,
                                     CL_KERNEL_PREFERRED_WORK_GROUP_SIZE_MULTIPLE,
                                     sizeof pref, &pref, NULL);
            if (pref == 0)
                pref = 1;
        }
    }
    /* A few warps/wavefronts (or SIMD widths on a CPU) per group: enough to
     * hide latency, small enough that tiny tensors waste little. */
    size_t target = pref * 8;
    if (target > dev->max_wg)
        target = dev->max_wg;
    dev->wg_target = target ? target : 1;
    if ((size_t)dev->gemm_tile * (size_t)dev->gemm_tile > dev->kernel_wg[K_GEMM]) {
        int ts = dev->gemm_tile;
        while (ts > 1 && (size_t)ts * (size_t)ts > dev->kernel_wg[K_GEMM])
            ts /= 2;
        /* The tile is compiled in; a smaller one needs another program. */
        if (dev->gemm_own)
            return ocl_fail(dev, CLG_ERR_BACKEND,
                            "opencl: k_gemm allows %zu work-items per group on '%s', the "
                            "compiled %dx%d tile needs more; unset CLGRAD_OPENCL_GEMM=own",
                            dev->kernel_wg[K_GEMM], dev->name, dev->gemm_tile, dev->gemm_tile);
    }
    return CLG_OK;
}

clg_status ocl_open(int index, clg_bk_device **out)
{
    if (!out)
        return ocl_fail(NULL, CLG_ERR_INVALID, "opencl: open: NULL output");
    *out = NULL;
    cl_platform_id plat;
    cl_device_id id;
    clg_status s = ocl_device_pick(index, &plat, &id);
    if (s != CLG_OK)
        return s;
    clg_bk_device *dev = calloc(1, sizeof *dev);
    if (!dev)
        return ocl_fail(NULL, CLG_ERR_NOMEM, "opencl: open: out of host memory");
    dev->platform = plat;
    dev->id = id;
    clGetDeviceInfo(id, CL_DEVICE_NAME, sizeof dev->name - 1, dev->name, NULL);
    clGetDeviceInfo(id, CL_DRIVER_VERSION, sizeof dev->driver - 1, dev->driver, NULL);
    clGetDeviceInfo(id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof dev->max_wg, &dev->max_wg, NULL);
    if (dev->max_wg == 0)
        dev->max_wg = 1;
    clGetDeviceInfo(id, CL_DEVICE_LOCAL_MEM_SIZE, sizeof dev->local_mem, &dev->local_mem, NULL);
    clGetDeviceInfo(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof dev->max_alloc, &dev->max_alloc,
                    NULL);
    clGetDeviceInfo(id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof dev->global_mem, &dev->global_mem,
                    NULL);
    dev->gemm_tile = pick_gemm_tile(id, dev->max_wg, dev->local_mem);
    dev->profile = env_flag("CLGRAD_PROFILE");

    const char *gemm = getenv("CLGRAD_OPENCL_GEMM");
    if (gemm && *gemm && strcmp(gemm, "clblast") && strcmp(gemm, "own")) {
        ocl_fail(NULL, CLG_ERR_INVALID,
                 "opencl: CLGRAD_OPENCL_GEMM='%s': expected 'clblast' or 'own'", gemm);
        free(dev);
        return CLG_ERR_INVALID;
    }
    dev->gemm_own = gemm && !strcmp(gemm, "own");

    cl_int st;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)plat, 0};
    dev->ctx = clCreateContext(props, 1, &id, NULL, NULL, &st);
    if (st != CL_SUCCESS) {
        s = ocl_fail_cl(dev, st, "clCreateContext for '%s'", dev->name);
        goto fail;
    }
    dev->queue = clCreateCommandQueue(dev->ctx, id,
                                      dev->profile ? CL_QUEUE_PROFILING_ENABLE : 0, &st);
    if (st != CL_SUCCESS) {
        s = ocl_fail_cl(dev, st, "clCreateCommandQueue for '%s'", dev->name);
        goto fail;
    }
    s = ocl_program_open(dev);
    if (s != CLG_OK)
        goto fail;
    char program_note[sizeof dev->err];
    snprintf(program_note, sizeof program_note, "%s", dev->err);
    s = setup_kernels(dev);
    if (s != CLG_OK)
        goto fail;
    dev->index_err = clCreateBuffer(dev->ctx, CL_MEM_READ_WRITE, 4 * sizeof(cl_int), NULL, &st);
    if (st == CL_SUCCESS) {
        cl_int zero[4] = {0, 0, 0, 0};
        st = clEnqueueWriteBuffer(dev->queue, dev->index_err, CL_TRUE, 0, sizeof zero, zero, 0,
                                  NULL, NULL);
    }
    if (st != CL_SUCCESS) {
        s = ocl_fail_cl(dev, st, "allocating the index-error flag on '%s'", dev->name);
        goto fail;
    }
    /* Not a failure: tests and logs read where the program came from. */
    ocl_info(dev, "%s", program_note);
    pthread_mutex_lock(&g_open_lock);
    g_open_devices++;
    pthread_mutex_unlock(&g_open_lock);
    dev->counted = 1;
    *out = dev;
    return CLG_OK;

fail:
    /* The open failed, so no device handle carries the message. */
    ocl_fail(NULL, s, "%s", dev->err);
    ocl_close(dev);
    return s;
}

clg_status ocl_sync(clg_bk_device *dev)
{
    cl_int st = clFinish(dev->queue);
    if (st != CL_SUCCESS)
        return ocl_fail_cl(dev, st, "clFinish on '%s'", dev->name);
    ocl_staging_release(dev);
    if (dev->profile)
        ocl_profile_harvest(dev);
    if (dev->index_err_pending) {
        cl_int e[4];
        dev->index_err_pending = 0;
        st = clEnqueueReadBuffer(dev->queue, dev->index_err, CL_TRUE, 0, sizeof e, e, 0, NULL,
                                 NULL);
        if (st != CL_SUCCESS)
            return ocl_fail_cl(dev, st, "reading the index-error flag");
        if (e[0]) {
            static const char *const what[] = {"gather", "scatter_add", "one_hot"};
            cl_int zero[4] = {0, 0, 0, 0};
            clEnqueueWriteBuffer(dev->queue, dev->index_err, CL_TRUE, 0, sizeof zero, zero, 0,
                                 NULL, NULL);
            return ocl_fail(dev, CLG_ERR_INVALID,
                            "opencl: %s: index %d out of range [0, %d) (%s; the results of "
                            "the run are not valid)",
                            e[1] >= 0 && e[1] < 3 ? what[e[1]] : "index op", e[2], e[3],
                            e[1] == 1 ? "skipped" : "clamped");
        }
    }
    return CLG_OK;
}

void ocl_close(clg_bk_device *dev)
{
    if (!dev)
        return;
    if (dev->queue) {
        clFinish(dev->queue);
        ocl_staging_release(dev);
        if (dev->profile) {
            ocl_profile_harvest(dev);
            ocl_profile_print(dev);
        }
    }
    free(dev->events);
    free(dev->staging);
    if (dev->index_err)
        clReleaseMemObject(dev->index_err);
    ocl_fused_release(dev);
    for (int k = 0; k < K_COUNT; k++)
        if (dev->kernel[k])
            clReleaseKernel(dev->kernel[k]);
    if (dev->program)
        clReleaseProgram(dev->program);
    if (dev->queue)
        clReleaseCommandQueue(dev->queue);
    if (dev->ctx)
        clReleaseContext(dev->ctx);
    if (dev->counted) {
        pthread_mutex_lock(&g_open_lock);
        if (--g_open_devices == 0)
            ocl_gemm_release_cache();
        pthread_mutex_unlock(&g_open_lock);
    }
    free(dev);
}

cl_event *ocl_prof_slot(clg_bk_device *dev, int op)
{
    if (!dev->profile)
        return NULL;
    if (dev->n_events == dev->cap_events) {
        size_t nc = dev->cap_events ? 2 * dev->cap_events : 256;
        ocl_prof_event *n = realloc(dev->events, nc * sizeof *n);
        if (!n)
            return NULL; /* timing is best effort; the op still runs */
        dev->events = n;
        dev->cap_events = nc;
    }
    ocl_prof_event *e = &dev->events[dev->n_events];
    e->ev = NULL;
    e->op = op;
    return &e->ev;
}

void ocl_prof_commit(clg_bk_device *dev, cl_event *slot, int ok)
{
    if (!slot)
        return;
    if (ok && *slot) {
        dev->n_events++;
        /* Keep the list short in long runs without a sync. */
        if (dev->n_events >= 4096) {
            clFinish(dev->queue);
            ocl_profile_harvest(dev);
        }
    } else if (*slot) {
        clReleaseEvent(*slot);
    }
}
