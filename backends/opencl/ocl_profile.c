/* CLGRAD_PROFILE=1: per-op device time from profiling events, summed at each
 * sync and printed as a table when the device closes. */
#include "ocl_internal.h"

#include <stdio.h>
#include <stdlib.h>

void ocl_profile_harvest(clg_bk_device *dev)
{
    for (size_t i = 0; i < dev->n_events; i++) {
        ocl_prof_event *e = &dev->events[i];
        cl_ulong t0 = 0, t1 = 0;
        if (clGetEventProfilingInfo(e->ev, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL) ==
                CL_SUCCESS &&
            clGetEventProfilingInfo(e->ev, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL) ==
                CL_SUCCESS &&
            t1 >= t0) {
            dev->prof_ms[e->op] += (double)(t1 - t0) / 1e6;
        }
        dev->prof_calls[e->op]++;
        clReleaseEvent(e->ev);
    }
    dev->n_events = 0;
}

void ocl_profile_print(clg_bk_device *dev)
{
    double total = 0;
    for (int i = 0; i <= CLG_OP_COUNT; i++)
        total += dev->prof_ms[i];
    fprintf(stderr, "clgrad opencl profile: '%s'\n%-16s %10s %12s %7s\n", dev->name, "op",
            "calls", "total ms", "share");
    /* Largest first, so the table reads as a to-do list. */
    int order[CLG_OP_COUNT + 1], n = 0;
    for (int i = 0; i <= CLG_OP_COUNT; i++)
        if (dev->prof_calls[i])
            order[n++] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && dev->prof_ms[order[j]] > dev->prof_ms[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        int op = order[i];
        fprintf(stderr, "%-16s %10ld %12.3f %6.1f%%\n", ocl_op_name(op), dev->prof_calls[op],
                dev->prof_ms[op], total > 0 ? 100.0 * dev->prof_ms[op] / total : 0.0);
    }
    fprintf(stderr, "%-16s %10s %12.3f %6.1f%%\n", "total", "", total, total > 0 ? 100.0 : 0.0);
}
