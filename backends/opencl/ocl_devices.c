/* Device enumeration: every platform and device the ICD loader finds, in an
 * order that does not depend on the loader's directory order (GPUs first, so
 * index 0 is the natural "auto" choice), and the CLGRAD_OPENCL_DEVICE
 * override (an index, a device type, or part of a platform or device name,
 * which picks an implementation: "pocl", "oclgrind"). */
#include "ocl_internal.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ocl_dev_entry {
    cl_platform_id platform;
    cl_device_id id;
    char platform_name[128];
    char platform_version[128];
    int platform_rank; /* position after sorting platforms by name */
    int in_platform;   /* the driver's order within the platform */
    clg_device_info info;
} ocl_dev_entry;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static ocl_dev_entry *g_devs;
static int g_ndev;
static char g_enum_err[1024];

static int type_rank(clg_device_type t)
{
    switch (t) {
    case CLG_DEVICE_GPU: return 0;
    case CLG_DEVICE_ACCEL: return 1;
    case CLG_DEVICE_CPU: return 2;
    default: return 3;
    }
}

static int cmp_entry(const void *pa, const void *pb)
{
    const ocl_dev_entry *a = pa, *b = pb;
    int ta = type_rank(a->info.type), tb = type_rank(b->info.type);
    if (ta != tb)
        return ta - tb;
    if (a->platform_rank != b->platform_rank)
        return a->platform_rank - b->platform_rank;
    return a->in_platform - b->in_platform;
}

static void str_info(cl_device_id d, cl_device_info what, char *buf, size_t len)
{
    buf[0] = 0;
    if (clGetDeviceInfo(d, what, len - 1, buf, NULL) != CL_SUCCESS)
        snprintf(buf, len, "?");
    buf[len - 1] = 0;
}

typedef struct plat_sort {
    cl_platform_id id;
    char key[384];
} plat_sort;

static int cmp_plat(const void *pa, const void *pb)
{
    return strcmp(((const plat_sort *)pa)->key, ((const plat_sort *)pb)->key);
}

static void enumerate(void)
{
    cl_uint np = 0;
    cl_int st = clGetPlatformIDs(0, NULL, &np);
    if (st != CL_SUCCESS || np == 0) {
        snprintf(g_enum_err, sizeof g_enum_err,
                 "opencl: no OpenCL platform found (clGetPlatformIDs: %s); is an ICD "
                 "installed under /etc/OpenCL/vendors (or OCL_ICD_VENDORS set)?",
                 st == CL_SUCCESS ? "0 platforms" : ocl_status_name(st));
        return;
    }
    cl_platform_id *plats = calloc(np, sizeof *plats);
    plat_sort *ps = calloc(np, sizeof *ps);
    if (!plats || !ps || clGetPlatformIDs(np, plats, NULL) != CL_SUCCESS) {
        snprintf(g_enum_err, sizeof g_enum_err, "opencl: listing platforms failed");
        free(plats);
        free(ps);
        return;
    }
    for (cl_uint p = 0; p < np; p++) {
        char name[128] = "", ver[128] = "";
        clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof name - 1, name, NULL);
        clGetPlatformInfo(plats[p], CL_PLATFORM_VERSION, sizeof ver - 1, ver, NULL);
        ps[p].id = plats[p];
        snprintf(ps[p].key, sizeof ps[p].key, "%s|%s", name, ver);
    }
    qsort(ps, np, sizeof *ps, cmp_plat);

    size_t cap = 0;
    char found[768] = "";
    for (cl_uint p = 0; p < np; p++) {
        char pname[128] = "", pver[128] = "";
        clGetPlatformInfo(ps[p].id, CL_PLATFORM_NAME, sizeof pname - 1, pname, NULL);
        clGetPlatformInfo(ps[p].id, CL_PLATFORM_VERSION, sizeof pver - 1, pver, NULL);
        cl_uint nd = 0;
        st = clGetDeviceIDs(ps[p].id, CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
        size_t fl = strlen(found);
        snprintf(found + fl, sizeof found - fl, "%s'%s' (%u device%s)", fl ? ", " : "",
                 pname, st == CL_SUCCESS ? nd : 0, nd == 1 ? "" : "s");
        if (st != CL_SUCCESS || nd == 0)
            continue;
        cl_device_id *ids = calloc(nd, sizeof *ids);
        if (!ids || clGetDeviceIDs(ps[p].id, CL_DEVICE_TYPE_ALL, nd, ids, NULL) != CL_SUCCESS) {
            free(ids);
            continue;
        }
        for (cl_uint d = 0; d < nd; d++) {
            if (g_ndev == (int)cap) {
                size_t nc = cap ? 2 * cap : 8;
                ocl_dev_entry *n = realloc(g_devs, nc * sizeof *n);
                if (!n)
                    break;
                g_devs = n;
                cap = nc;
            }
            ocl_dev_entry *e = &g_devs[g_ndev++];
            memset(e, 0, sizeof *e);
            e->platform = ps[p].id;
            e->id = ids[d];
            e->platform_rank = (int)p;
            e->in_platform = (int)d;
            snprintf(e->platform_name, sizeof e->platform_name, "%s", pname);
            snprintf(e->platform_version, sizeof e->platform_version, "%s", pver);
            str_info(ids[d], CL_DEVICE_NAME, e->info.name, sizeof e->info.name);
            str_info(ids[d], CL_DEVICE_VENDOR, e->info.vendor, sizeof e->info.vendor);
            str_info(ids[d], CL_DRIVER_VERSION, e->info.driver, sizeof e->info.driver);
            cl_device_type t = 0;
            clGetDeviceInfo(ids[d], CL_DEVICE_TYPE, sizeof t, &t, NULL);
            e->info.type = (t & CL_DEVICE_TYPE_GPU)           ? CLG_DEVICE_GPU
                           : (t & CL_DEVICE_TYPE_ACCELERATOR) ? CLG_DEVICE_ACCEL
                           : (t & CL_DEVICE_TYPE_CPU)         ? CLG_DEVICE_CPU
                                                              : CLG_DEVICE_OTHER;
            cl_ulong mem = 0;
            clGetDeviceInfo(ids[d], CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
            e->info.global_mem = mem;
            cl_uint cu = 0;
            clGetDeviceInfo(ids[d], CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
            e->info.compute_units = (int)cu;
        }
        free(ids);
    }
    free(plats);
    free(ps);
    if (g_ndev == 0) {
        snprintf(g_enum_err, sizeof g_enum_err,
                 "opencl: no OpenCL device found; platforms found: %s", found);
        return;
    }
    qsort(g_devs, (size_t)g_ndev, sizeof *g_devs, cmp_entry);
}

static const char *type_name(clg_device_type t)
{
    switch (t) {
    case CLG_DEVICE_GPU: return "gpu";
    case CLG_DEVICE_ACCEL: return "accelerator";
    case CLG_DEVICE_CPU: return "cpu";
    default: return "other";
    }
}

/* "0: 'name' (cpu, platform 'P'), 1: ..." for error messages. */
static void list_found(char *buf, size_t len)
{
    buf[0] = 0;
    for (int i = 0; i < g_ndev; i++) {
        size_t l = strlen(buf);
        snprintf(buf + l, len - l, "%s%d: '%s' (%s, platform '%s')", i ? ", " : "", i,
                 g_devs[i].info.name, type_name(g_devs[i].info.type),
                 g_devs[i].platform_name);
    }
}

/* needle occurs in hay, ignoring ASCII case */
static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

/* First device (in the sorted order) whose platform name, platform version
 * or device name contains `name`; -1 if none. PoCL says "PoCL" in its
 * platform version, Oclgrind "Oclgrind" in its platform name. */
static int find_by_name(const char *name)
{
    for (int i = 0; i < g_ndev; i++)
        if (contains_nocase(g_devs[i].platform_name, name) ||
            contains_nocase(g_devs[i].platform_version, name) ||
            contains_nocase(g_devs[i].info.name, name))
            return i;
    return -1;
}

int ocl_device_count(void)
{
    pthread_once(&g_once, enumerate);
    if (g_ndev == 0)
        ocl_fail(NULL, CLG_ERR_NOT_FOUND, "%s", g_enum_err);
    return g_ndev;
}

clg_status ocl_device_info(int index, clg_device_info *out)
{
    pthread_once(&g_once, enumerate);
    if (!out)
        return ocl_fail(NULL, CLG_ERR_INVALID, "opencl: device_info: NULL output");
    if (g_ndev == 0)
        return ocl_fail(NULL, CLG_ERR_NOT_FOUND, "%s", g_enum_err);
    if (index < 0 || index >= g_ndev) {
        char found[2048];
        list_found(found, sizeof found);
        return ocl_fail(NULL, CLG_ERR_NOT_FOUND,
                        "opencl: no device %d; found %d: %s", index, g_ndev, found);
    }
    *out = g_devs[index].info;
    return CLG_OK;
}

clg_status ocl_device_pick(int index, cl_platform_id *plat, cl_device_id *dev)
{
    pthread_once(&g_once, enumerate);
    if (g_ndev == 0)
        return ocl_fail(NULL, CLG_ERR_NOT_FOUND, "%s", g_enum_err);
    char found[2048];
    list_found(found, sizeof found);

    const char *env = getenv("CLGRAD_OPENCL_DEVICE");
    if (env && *env) {
        clg_device_type want = 0;
        if (!strcmp(env, "auto"))
            index = 0; /* the sort puts GPUs first */
        else if (!strcmp(env, "gpu"))
            want = CLG_DEVICE_GPU;
        else if (!strcmp(env, "cpu"))
            want = CLG_DEVICE_CPU;
        else if (!strcmp(env, "accelerator"))
            want = CLG_DEVICE_ACCEL;
        else if (isdigit((unsigned char)env[0]) || env[0] == '-' || env[0] == '+') {
            char *end;
            errno = 0;
            long v = strtol(env, &end, 10);
            if (errno || *end || end == env || v < 0 || v > 1 << 20)
                return ocl_fail(NULL, CLG_ERR_INVALID,
                                "opencl: CLGRAD_OPENCL_DEVICE='%s' is not a device index, "
                                "'auto', 'gpu', 'cpu', 'accelerator' or part of a platform "
                                "or device name; found %s",
                                env, found);
            index = (int)v;
        } else {
            index = find_by_name(env);
            if (index < 0)
                return ocl_fail(NULL, CLG_ERR_INVALID,
                                "opencl: CLGRAD_OPENCL_DEVICE='%s' is not a device index, "
                                "'auto', 'gpu', 'cpu', 'accelerator', nor part of the platform "
                                "or device name of any device found: %s",
                                env, found);
        }
        if (want) {
            index = -1;
            for (int i = 0; i < g_ndev && index < 0; i++)
                if (g_devs[i].info.type == want)
                    index = i;
            if (index < 0)
                return ocl_fail(NULL, CLG_ERR_NOT_FOUND,
                                "opencl: CLGRAD_OPENCL_DEVICE=%s: no %s device; found %s",
                                env, type_name(want), found);
        }
    }
    if (index < 0 || index >= g_ndev)
        return ocl_fail(NULL, CLG_ERR_NOT_FOUND, "opencl: no device %d%s; found %d: %s",
                        index, env && *env ? " (from CLGRAD_OPENCL_DEVICE)" : "", g_ndev,
                        found);
    *plat = g_devs[index].platform;
    *dev = g_devs[index].id;
    return CLG_OK;
}

/* The list lives as long as the module; free it when the module is unloaded
 * so leak checkers see a clean exit after dlclose. */
__attribute__((destructor)) static void ocl_devices_unload(void)
{
    free(g_devs);
    g_devs = NULL;
    g_ndev = 0;
}
