/* The "mpi" collective: data-parallel training across processes through
 * Open MPI (or any MPI). The only file of clgrad that includes mpi.h; the
 * core, the trainer and the command reach it through the collective ops of
 * plugin.h, so they build and run without MPI. */
#include <clgrad/plugin.h>

#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct mpi_state {
    int rank, size;
    int we_initialised; /* MPI_Init was ours, so MPI_Finalize is too */
} mpi_state;

/* Started by an MPI launcher: Open MPI's, or a PMI/PMIx one (Slurm, Hydra). */
static int mpi_detect(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

static clg_status mpi_fail(clg_ctx *ctx, const char *what, int code)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(code, msg, &len);
    return clg_ctx_set_error(ctx, CLG_ERR_BACKEND, "collective 'mpi': %s failed: %s", what, msg);
}

static clg_status mpi_open(clg_ctx *ctx, const clg_hparams *hp, void **state)
{
    (void)hp;
    /* This module is loaded with RTLD_LOCAL; Open MPI's own components
     * (loaded by MPI_Init) resolve libmpi's symbols globally, so promote
     * the library that is already mapped. */
    void *self = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    if (!self)
        self = dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    (void)self; /* stays loaded for the process's life, as MPI requires */
    mpi_state *s = calloc(1, sizeof *s);
    if (!s)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "collective 'mpi': out of memory");
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided;
        /* FUNNELED: only the main thread calls MPI; the CPU backend's
         * OpenMP threads never do. */
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) {
            free(s);
            return clg_ctx_set_error(ctx, CLG_ERR_BACKEND, "collective 'mpi': MPI_Init failed");
        }
        s->we_initialised = 1;
    }
    /* Errors come back as codes, so a message names the call. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &s->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &s->size);
    *state = s;
    return CLG_OK;
}

static void mpi_close(void *state)
{
    mpi_state *s = state;
    if (s && s->we_initialised) {
        int fin = 0;
        MPI_Finalized(&fin);
        if (!fin)
            MPI_Finalize();
    }
    free(s);
}

static int mpi_rank(void *state) { return ((mpi_state *)state)->rank; }
static int mpi_size(void *state) { return ((mpi_state *)state)->size; }

static clg_status mpi_bcast(clg_ctx *ctx, void *state, void *buf, size_t bytes, int root)
{
    (void)state;
    /* MPI counts are ints: large buffers go in pieces. */
    for (size_t off = 0; off < bytes;) {
        size_t n = bytes - off > (size_t)1 << 30 ? (size_t)1 << 30 : bytes - off;
        int rc = MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(ctx, "MPI_Bcast", rc);
        off += n;
    }
    return CLG_OK;
}

static clg_status mpi_allreduce(clg_ctx *ctx, void *state, float *buf, size_t n)
{
    (void)state;
    for (size_t off = 0; off < n;) {
        size_t k = n - off > (size_t)1 << 28 ? (size_t)1 << 28 : n - off;
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)k, MPI_FLOAT, MPI_SUM,
                               MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_fail(ctx, "MPI_Allreduce", rc);
        off += k;
    }
    return CLG_OK;
}

static clg_status mpi_barrier(clg_ctx *ctx, void *state)
{
    (void)state;
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? CLG_OK : mpi_fail(ctx, "MPI_Barrier", rc);
}

static void mpi_abort(void *state, int code)
{
    (void)state;
    MPI_Abort(MPI_COMM_WORLD, code);
}

static const clg_collective_ops mpi_ops = {
    .struct_size = sizeof(clg_collective_ops),
    .detect = mpi_detect,
    .open = mpi_open,
    .close = mpi_close,
    .rank = mpi_rank,
    .size = mpi_size,
    .broadcast = mpi_bcast,
    .allreduce_sum_f32 = mpi_allreduce,
    .barrier = mpi_barrier,
    .abort = mpi_abort,
};

static clg_status init(clg_registry *reg, const clg_plugin_host *host)
{
    (void)host;
    clg_component c = CLG_COMPONENT_INIT;
    c.kind = CLG_COMPONENT_COLLECTIVE;
    c.name = "mpi";
    c.doc = "data-parallel training across MPI processes (mpirun -np N clgrad train ...)";
    c.collective = &mpi_ops;
    return clg_register(reg, &c);
}

CLG_PLUGIN_DEFINE(init)
