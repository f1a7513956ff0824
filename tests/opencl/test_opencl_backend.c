/* OpenCL backend, through its ABI only (dlopen, like the core): device
 * listing checked against the OpenCL API itself, CLGRAD_OPENCL_DEVICE, the
 * on-disk program cache (across processes, invalidated by a changed key),
 * GEMM through CLBlast and through the built-in kernel against a double
 * reference on every transpose/batch/offset case, index errors reported at
 * the next read, allocation errors, and the CLGRAD_PROFILE table.
 *
 * Tolerance: a GEMM entry may differ from the double reference by
 * 1e-4 * sum_k |a_ik b_kj| (+1e-6): float accumulation over K terms. */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <check.h>
#include <clgrad/backend.h>

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *backend_path(void)
{
    const char *p = getenv("CLG_TEST_OPENCL_BACKEND");
    return p ? p : OCL_BACKEND_PATH;
}

static void *g_handle;
static const clg_backend *g_bk;

static void load_backend(void)
{
    g_handle = dlopen(backend_path(), RTLD_NOW | RTLD_LOCAL);
    ck_assert_msg(g_handle != NULL, "dlopen %s: %s", backend_path(), dlerror());
    const clg_backend *(*entry)(void);
    *(void **)&entry = dlsym(g_handle, CLG_BACKEND_ENTRY_SYMBOL);
    ck_assert_msg(entry != NULL, "no %s in %s", CLG_BACKEND_ENTRY_SYMBOL, backend_path());
    g_bk = entry();
    ck_assert_int_eq(g_bk->abi_major, CLG_BACKEND_ABI_MAJOR);
    ck_assert_str_eq(g_bk->name, "opencl");
}

static void unload_backend(void)
{
    if (g_handle)
        dlclose(g_handle);
    g_handle = NULL;
    g_bk = NULL;
}

static clg_bk_device *open_dev(void)
{
    clg_bk_device *dev = NULL;
    clg_status s = g_bk->open(0, &dev);
    ck_assert_msg(s == CLG_OK, "open: %s", g_bk->last_error(NULL));
    return dev;
}

/* Runs ocl_probe (a fresh process) with the given extra env; its stdout and
 * stderr go to out. Returns its exit status. */
static int run_probe(const char *const *env_add, const char *arg, char *out, size_t len)
{
    char tmpl[] = "/tmp/clg-probe-XXXXXX";
    int fd = mkstemp(tmpl);
    ck_assert_int_ge(fd, 0);
    unlink(tmpl);
    int n = 0;
    while (environ[n])
        n++;
    int na = 0;
    while (env_add && env_add[na])
        na++;
    char **env = calloc((size_t)(n + na + 1), sizeof *env);
    ck_assert_ptr_nonnull(env);
    int k = 0;
    for (int i = 0; i < na; i++)
        env[k++] = (char *)env_add[i];
    for (int i = 0; i < n; i++) {
        int shadowed = 0;
        for (int j = 0; j < na; j++) {
            size_t l = strcspn(env_add[j], "=") + 1;
            if (!strncmp(environ[i], env_add[j], l))
                shadowed = 1;
        }
        if (!shadowed)
            env[k++] = environ[i];
    }
    env[k] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_adddup2(&fa, fd, 2);
    const char *probe = getenv("CLG_TEST_OCL_PROBE");
    ck_assert_ptr_nonnull(probe);
    char *argv[] = {(char *)probe, (char *)backend_path(), (char *)arg, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, probe, &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    ck_assert_msg(rc == 0, "spawn %s failed", probe);
    int status = 0;
    waitpid(pid, &status, 0);
    lseek(fd, 0, SEEK_SET);
    ssize_t got = read(fd, out, len - 1);
    out[got > 0 ? got : 0] = 0;
    close(fd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int count_cache_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "opencl-", 7) && strstr(e->d_name, ".bin") &&
            !strstr(e->d_name, ".tmp"))
            n++;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------- devices */

START_TEST(devices_match_the_opencl_api)
{
    load_backend();
    int n = g_bk->device_count();
    /* The OpenCL API's own view, independent of the backend. */
    cl_uint np = 0;
    ck_assert_int_eq(clGetPlatformIDs(0, NULL, &np), CL_SUCCESS);
    cl_platform_id plats[16];
    clGetPlatformIDs(np < 16 ? np : 16, plats, NULL);
    int total = 0, pocl_found = 0;
    char pocl_name[256] = "";
    for (cl_uint p = 0; p < np && p < 16; p++) {
        char pname[256] = "";
        clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL);
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS)
            continue;
        total += (int)nd;
        if (strstr(pname, "Portable Computing Language") && nd > 0) {
            cl_device_id d;
            clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 1, &d, NULL);
            clGetDeviceInfo(d, CL_DEVICE_NAME, sizeof pocl_name, pocl_name, NULL);
            pocl_found = 1;
        }
    }
    /* CI installs PoCL; a GPU machine without it says so explicitly. */
    const char *no_pocl = getenv("CLG_TEST_NO_POCL");
    int want_pocl = !(no_pocl && !strcmp(no_pocl, "1"));
    ck_assert_msg(pocl_found || !want_pocl,
                  "PoCL is not installed as an OpenCL platform (set CLG_TEST_NO_POCL=1 "
                  "where that is intended)");
    ck_assert_int_eq(n, total);
    int listed_pocl = 0, prev_gpu = 1;
    for (int i = 0; i < n; i++) {
        clg_device_info info;
        ck_assert_int_eq(g_bk->device_info(i, &info), CLG_OK);
        ck_assert(info.name[0] && info.vendor[0] && info.driver[0]);
        ck_assert(info.global_mem > 0 && info.compute_units > 0);
        /* GPUs first, so index 0 is the natural default. */
        int gpu = info.type == CLG_DEVICE_GPU;
        ck_assert(!gpu || prev_gpu);
        prev_gpu = gpu;
        if (!strcmp(info.name, pocl_name) && info.type == CLG_DEVICE_CPU)
            listed_pocl = 1;
    }
    ck_assert_msg(listed_pocl || !pocl_found, "PoCL device '%s' not listed", pocl_name);
    clg_device_info info, first;
    ck_assert_int_eq(g_bk->device_info(n, &info), CLG_ERR_NOT_FOUND);
    ck_assert_int_eq(g_bk->device_info(0, &first), CLG_OK);
    ck_assert_ptr_nonnull(strstr(g_bk->last_error(NULL), first.name));
    unload_backend();
}
END_TEST

START_TEST(device_env_override)
{
    load_backend();
    clg_bk_device *dev = NULL;
    setenv("CLGRAD_OPENCL_DEVICE", "99", 1);
    ck_assert_int_eq(g_bk->open(0, &dev), CLG_ERR_NOT_FOUND);
    const char *msg = g_bk->last_error(NULL);
    ck_assert_msg(strstr(msg, "no device 99") && strstr(msg, "found"), "%s", msg);
    setenv("CLGRAD_OPENCL_DEVICE", "fast-one", 1);
    ck_assert_int_eq(g_bk->open(0, &dev), CLG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(g_bk->last_error(NULL), "fast-one"));
    int gpus = 0;
    for (int i = 0; i < g_bk->device_count(); i++) {
        clg_device_info info;
        g_bk->device_info(i, &info);
        gpus += info.type == CLG_DEVICE_GPU;
    }
    setenv("CLGRAD_OPENCL_DEVICE", "gpu", 1);
    clg_status s = g_bk->open(0, &dev);
    if (gpus == 0) {
        ck_assert_int_eq(s, CLG_ERR_NOT_FOUND);
        ck_assert_ptr_nonnull(strstr(g_bk->last_error(NULL), "no gpu device"));
    } else {
        ck_assert_int_eq(s, CLG_OK);
        g_bk->close(dev);
    }
    /* The env var overrides the index asked for. */
    clg_device_info first;
    ck_assert_int_eq(g_bk->device_info(0, &first), CLG_OK);
    setenv("CLGRAD_OPENCL_DEVICE",
           first.type == CLG_DEVICE_GPU ? "gpu" : first.type == CLG_DEVICE_CPU ? "cpu" : "0", 1);
    ck_assert_msg(g_bk->open(12345, &dev) == CLG_OK, "%s", g_bk->last_error(NULL));
    g_bk->close(dev);
    /* Part of a platform or device name picks that implementation; the
     * opened device names itself in its note on the program. */
    for (int i = 0; i < g_bk->device_count(); i++) {
        clg_device_info info;
        ck_assert_int_eq(g_bk->device_info(i, &info), CLG_OK);
        setenv("CLGRAD_OPENCL_DEVICE", info.name, 1);
        ck_assert_msg(g_bk->open(0, &dev) == CLG_OK, "%s: %s", info.name,
                      g_bk->last_error(NULL));
        ck_assert_msg(strstr(g_bk->last_error(dev), info.name), "asked for '%s', opened: %s",
                      info.name, g_bk->last_error(dev));
        g_bk->close(dev);
    }
    unsetenv("CLGRAD_OPENCL_DEVICE");
    unload_backend();
}
END_TEST

/* ------------------------------------------------------- program cache */

START_TEST(program_cache_across_processes)
{
    char dir[] = "/tmp/clg-ocl-cache-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cache_env[128];
    snprintf(cache_env, sizeof cache_env, "CLGRAD_CACHE_DIR=%s/sub", dir);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    char out[8192];
    const char *env1[] = {cache_env, "CLGRAD_OPENCL_CACHE_SALT=", NULL};

    ck_assert_int_eq(run_probe(env1, NULL, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "built from source") && strstr(out, "cached to"), "%s", out);
    ck_assert_int_eq(count_cache_files(sub), 1);

    /* A second process finds it. */
    ck_assert_int_eq(run_probe(env1, "run", out, sizeof out), 0);
    ck_assert_msg(strstr(out, "loaded from cache"), "%s", out);
    ck_assert_int_eq(count_cache_files(sub), 1);

    /* A changed key (as a new source or driver would give) misses. */
    const char *env2[] = {cache_env, "CLGRAD_OPENCL_CACHE_SALT=driver-update", NULL};
    ck_assert_int_eq(run_probe(env2, "run", out, sizeof out), 0);
    ck_assert_msg(strstr(out, "built from source"), "%s", out);
    ck_assert_int_eq(count_cache_files(sub), 2);
    ck_assert_int_eq(run_probe(env2, NULL, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "loaded from cache"), "%s", out);

    /* A damaged file is rebuilt, not trusted. */
    DIR *d = opendir(sub);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "opencl-", 7))
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", sub, e->d_name);
        FILE *f = fopen(p, "r+b");
        ck_assert_ptr_nonnull(f);
        fseek(f, 40, SEEK_SET);
        fputs("garbage-garbage", f);
        fclose(f);
        ck_assert_int_eq(truncate(p, 200), 0);
    }
    closedir(d);
    ck_assert_int_eq(run_probe(env1, "run", out, sizeof out), 0);
    ck_assert_msg(strstr(out, "built from source"), "%s", out);

    /* Clean up. */
    d = opendir(sub);
    while ((e = readdir(d))) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", sub, e->d_name);
        if (e->d_name[0] != '.')
            unlink(p);
    }
    closedir(d);
    rmdir(sub);
    rmdir(dir);
}
END_TEST

START_TEST(build_failure_carries_the_log)
{
    load_backend();
    /* Options that break the source stand in for a driver that cannot
     * compile it. Oclgrind's API checker (scripts/oclgrind.sh) would report
     * this failing clBuildProgram, wanted here, as misuse: it reads
     * OCLGRIND_CHECK_API at each error, so it is off for this one call. */
    setenv("CLGRAD_OPENCL_BUILD_OPTIONS", "-Dclg_offset=+", 1);
    char *check_api = getenv("OCLGRIND_CHECK_API");
    check_api = check_api ? strdup(check_api) : NULL;
    unsetenv("OCLGRIND_CHECK_API");
    clg_bk_device *dev = NULL;
    clg_status s = g_bk->open(0, &dev);
    if (check_api) {
        setenv("OCLGRIND_CHECK_API", check_api, 1);
        free(check_api);
    }
    ck_assert_int_eq(s, CLG_ERR_BACKEND);
    ck_assert_ptr_null(dev);
    const char *msg = g_bk->last_error(NULL);
    ck_assert_msg(strstr(msg, "CL_BUILD_PROGRAM_FAILURE") && strstr(msg, "build log:") &&
                      strstr(msg, "error"),
                  "%s", msg);
    unsetenv("CLGRAD_OPENCL_BUILD_OPTIONS");
    dev = open_dev();
    g_bk->close(dev);
    unload_backend();
}
END_TEST

START_TEST(profile_table_on_close)
{
    char out[8192];
    const char *env[] = {"CLGRAD_PROFILE=1", NULL};
    ck_assert_int_eq(run_probe(env, "run", out, sizeof out), 0);
    ck_assert_msg(strstr(out, "calls") && strstr(out, "total ms") && strstr(out, "share") &&
                      strstr(out, "\nmatmul ") && strstr(out, "\nadd "),
                  "%s", out);
}
END_TEST

/* ---------------------------------------------------------------- GEMM */

typedef struct gemm_case {
    int ba, bb, batch, m, n, k;
} gemm_case;

/* Model shapes (the MLP's 784-256-128-10 layers at batch 128, forward and
 * backward are the transpose combos; the first N_MODEL_CASES) plus odd, tiny
 * and batched ones. With CLG_TEST_SMALL=1 (the Oclgrind pass of
 * scripts/test.sh: a simulator interprets every work-item, and these four
 * take minutes there) only the others run; 33x17x65 still spans several
 * tiles with ragged edges. */
#define N_MODEL_CASES 4
static const gemm_case gemm_cases[] = {
    {1, 1, 1, 128, 256, 784}, {1, 1, 1, 128, 128, 256}, {1, 1, 1, 128, 10, 128},
    {1, 1, 1, 256, 784, 128}, {1, 1, 1, 1, 1, 1},        {1, 1, 1, 33, 17, 65},
    {3, 3, 3, 7, 5, 9},       {3, 1, 3, 7, 5, 9},        {1, 3, 3, 7, 5, 9},
    {4, 1, 4, 16, 8, 12},
};

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static int small_sizes(void)
{
    const char *v = getenv("CLG_TEST_SMALL");
    return v && *v && strcmp(v, "0") != 0;
}

static void gemm_check(clg_bk_device *dev, const char *which)
{
    clg_bk_buffer *buf;
    for (size_t c = small_sizes() ? N_MODEL_CASES : 0; c < sizeof gemm_cases / sizeof *gemm_cases;
         c++) {
        const gemm_case *g = &gemm_cases[c];
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                size_t na = (size_t)g->ba * g->m * g->k, nb = (size_t)g->bb * g->k * g->n;
                size_t nc = (size_t)g->batch * g->m * g->n;
                /* Offsets that are not zero, as the memory plan gives. */
                size_t oa = 256, ob = (oa + na * 4 + 511) / 256 * 256;
                size_t oc = (ob + nb * 4 + 511) / 256 * 256;
                size_t bytes = oc + nc * 4;
                ck_assert_int_eq(g_bk->alloc(dev, bytes, &buf), CLG_OK);
                float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4);
                unsigned seed = (unsigned)(c * 4 + ta * 2 + tb + 1);
                for (size_t i = 0; i < na; i++)
                    A[i] = frand(&seed);
                for (size_t i = 0; i < nb; i++)
                    B[i] = frand(&seed);
                ck_assert_int_eq(g_bk->write(dev, buf, oa, A, na * 4), CLG_OK);
                ck_assert_int_eq(g_bk->write(dev, buf, ob, B, nb * 4), CLG_OK);
                clg_bk_op op = {0};
                op.op = CLG_OP_MATMUL;
                op.n_in = 2;
                clg_param_set_i64(&op.params, CLG_P_TRANS_A, ta);
                clg_param_set_i64(&op.params, CLG_P_TRANS_B, tb);
                op.in[0] = (clg_bk_tensor){CLG_F32, 3, {g->ba, ta ? g->k : g->m, ta ? g->m : g->k},
                                           buf, oa};
                op.in[1] = (clg_bk_tensor){CLG_F32, 3, {g->bb, tb ? g->n : g->k, tb ? g->k : g->n},
                                           buf, ob};
                op.out = (clg_bk_tensor){CLG_F32, 3, {g->batch, g->m, g->n}, buf, oc};
                ck_assert_msg(g_bk->exec(dev, &op) == CLG_OK, "%s: %s", which,
                              g_bk->last_error(dev));
                ck_assert_msg(g_bk->read(dev, buf, oc, C, nc * 4) == CLG_OK, "%s", 
                              g_bk->last_error(dev));
                double worst = 0;
                for (int b = 0; b < g->batch; b++) {
                    const float *a = A + (g->ba == 1 ? 0 : (size_t)b * g->m * g->k);
                    const float *bm = B + (g->bb == 1 ? 0 : (size_t)b * g->k * g->n);
                    for (int i = 0; i < g->m; i++)
                        for (int j = 0; j < g->n; j++) {
                            double s = 0, sabs = 0;
                            for (int k = 0; k < g->k; k++) {
                                double x = ta ? a[(size_t)k * g->m + i] : a[(size_t)i * g->k + k];
                                double y = tb ? bm[(size_t)j * g->k + k] : bm[(size_t)k * g->n + j];
                                s += x * y;
                                sabs += fabs(x * y);
                            }
                            double got = C[((size_t)b * g->m + i) * g->n + j];
                            double err = fabs(got - s) / (1e-4 * sabs + 1e-6);
                            if (err > worst)
                                worst = err;
                        }
                }
                ck_assert_msg(worst <= 1.0,
                              "%s GEMM case %zu (batch %d/%d->%d, %dx%dx%d, ta %d tb %d): "
                              "error %.3g of tolerance",
                              which, c, g->ba, g->bb, g->batch, g->m, g->n, g->k, ta, tb, worst);
                free(A);
                free(B);
                free(C);
                g_bk->free(dev, buf);
            }
    }
}

START_TEST(gemm_clblast_matches_reference)
{
    load_backend();
    setenv("CLGRAD_OPENCL_GEMM", "clblast", 1);
    clg_bk_device *dev = open_dev();
    gemm_check(dev, "clblast");
    g_bk->close(dev);
    unsetenv("CLGRAD_OPENCL_GEMM");
    unload_backend();
}
END_TEST

START_TEST(gemm_own_matches_reference)
{
    load_backend();
    setenv("CLGRAD_OPENCL_GEMM", "own", 1);
    clg_bk_device *dev = open_dev();
    gemm_check(dev, "own");
    g_bk->close(dev);
    setenv("CLGRAD_OPENCL_GEMM", "cuBLAS", 1);
    clg_bk_device *bad = NULL;
    ck_assert_int_eq(g_bk->open(0, &bad), CLG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(g_bk->last_error(NULL), "cuBLAS"));
    unsetenv("CLGRAD_OPENCL_GEMM");
    unload_backend();
}
END_TEST

/* --------------------------------------------------------------- errors */

START_TEST(index_errors_reported_at_read)
{
    load_backend();
    clg_bk_device *dev = open_dev();
    clg_bk_buffer *buf;
    ck_assert_int_eq(g_bk->alloc(dev, 4096, &buf), CLG_OK);
    float data[10] = {0, 1, 2, 3, 4, 10, 11, 12, 13, 14};
    int32_t idx[2] = {1, 7};
    ck_assert_int_eq(g_bk->write(dev, buf, 0, data, sizeof data), CLG_OK);
    ck_assert_int_eq(g_bk->write(dev, buf, 256, idx, sizeof idx), CLG_OK);
    clg_bk_op op = {0};
    op.op = CLG_OP_GATHER;
    op.n_in = 2;
    clg_param_set_i64(&op.params, CLG_P_AXIS, 1);
    op.in[0] = (clg_bk_tensor){CLG_F32, 2, {2, 5}, buf, 0};
    op.in[1] = (clg_bk_tensor){CLG_I32, 2, {2, 1}, buf, 256};
    op.out = (clg_bk_tensor){CLG_F32, 2, {2, 1}, buf, 512};
    ck_assert_int_eq(g_bk->exec(dev, &op), CLG_OK); /* enqueued, not yet checked */
    float out[2];
    ck_assert_int_eq(g_bk->read(dev, buf, 512, out, sizeof out), CLG_ERR_INVALID);
    const char *msg = g_bk->last_error(dev);
    ck_assert_msg(strstr(msg, "gather") && strstr(msg, "index 7 out of range [0, 5)"), "%s", msg);
    ck_assert(out[0] == 1.0f); /* the valid row is right */
    /* Reported once; the device keeps working. */
    ck_assert_int_eq(g_bk->read(dev, buf, 512, out, sizeof out), CLG_OK);

    idx[1] = 3;
    ck_assert_int_eq(g_bk->write(dev, buf, 256, idx, sizeof idx), CLG_OK);
    ck_assert_int_eq(g_bk->exec(dev, &op), CLG_OK);
    ck_assert_int_eq(g_bk->read(dev, buf, 512, out, sizeof out), CLG_OK);
    ck_assert(out[0] == 1.0f && out[1] == 13.0f);

    int32_t bad = -1;
    ck_assert_int_eq(g_bk->write(dev, buf, 256, &bad, 4), CLG_OK);
    clg_bk_op oh = {0};
    oh.op = CLG_OP_ONE_HOT;
    oh.n_in = 1;
    clg_param_set_i64(&oh.params, CLG_P_N, 4);
    oh.in[0] = (clg_bk_tensor){CLG_I32, 1, {1}, buf, 256};
    oh.out = (clg_bk_tensor){CLG_F32, 2, {1, 4}, buf, 512};
    ck_assert_int_eq(g_bk->exec(dev, &oh), CLG_OK);
    ck_assert_int_eq(g_bk->sync(dev), CLG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(g_bk->last_error(dev), "one_hot: index -1 out of range [0, 4)"));

    int32_t sidx[2] = {2, 9};
    float src[2] = {5.0f, 6.0f};
    ck_assert_int_eq(g_bk->write(dev, buf, 256, sidx, sizeof sidx), CLG_OK);
    ck_assert_int_eq(g_bk->write(dev, buf, 0, src, sizeof src), CLG_OK);
    clg_bk_op sc = {0};
    sc.op = CLG_OP_SCATTER_ADD;
    sc.n_in = 2;
    clg_param_set_i64(&sc.params, CLG_P_AXIS, 0);
    sc.in[0] = (clg_bk_tensor){CLG_F32, 1, {2}, buf, 0};
    sc.in[1] = (clg_bk_tensor){CLG_I32, 1, {2}, buf, 256};
    sc.out = (clg_bk_tensor){CLG_F32, 1, {4}, buf, 512};
    ck_assert_int_eq(g_bk->exec(dev, &sc), CLG_OK);
    float so[4];
    ck_assert_int_eq(g_bk->read(dev, buf, 512, so, sizeof so), CLG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(g_bk->last_error(dev), "scatter_add: index 9"));
    ck_assert(so[0] == 0 && so[1] == 0 && so[2] == 5.0f && so[3] == 0);

    g_bk->free(dev, buf);
    g_bk->close(dev);
    unload_backend();
}
END_TEST

START_TEST(alloc_and_shape_errors)
{
    load_backend();
    clg_bk_device *dev = open_dev();
    clg_bk_buffer *buf = NULL;
    size_t huge = (size_t)1 << 46;
    ck_assert_int_eq(g_bk->alloc(dev, huge, &buf), CLG_ERR_NOMEM);
    const char *msg = g_bk->last_error(dev);
    ck_assert_msg(strstr(msg, "70368744177664 bytes") && strstr(msg, "CL_"), "%s", msg);
    ck_assert_ptr_null(buf);

    ck_assert_int_eq(g_bk->alloc(dev, 0, &buf), CLG_OK);
    clg_bk_buffer *buf2;
    ck_assert_int_eq(g_bk->alloc(dev, 0, &buf2), CLG_OK);
    ck_assert_ptr_ne(buf, buf2);
    g_bk->free(dev, buf2);
    g_bk->free(dev, buf);

    ck_assert_int_eq(g_bk->alloc(dev, 64, &buf), CLG_OK);
    clg_bk_op op = {0};
    op.op = CLG_OP_MATMUL;
    op.n_in = 2;
    op.in[0] = (clg_bk_tensor){CLG_F32, 3, {1, 2, 3}, buf, 0};
    op.in[1] = (clg_bk_tensor){CLG_F32, 3, {1, 2, 3}, buf, 0};
    op.out = (clg_bk_tensor){CLG_F32, 3, {1, 2, 3}, buf, 0};
    ck_assert_int_eq(g_bk->exec(dev, &op), CLG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(g_bk->last_error(dev), "matmul"));
    /* A tensor past its buffer's end is refused, not read. */
    op.op = CLG_OP_RELU;
    op.n_in = 1;
    op.in[0] = (clg_bk_tensor){CLG_F32, 1, {100}, buf, 0};
    op.out = (clg_bk_tensor){CLG_F32, 1, {100}, buf, 0};
    ck_assert_int_eq(g_bk->exec(dev, &op), CLG_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(g_bk->last_error(dev), "overruns"));
    float x[4];
    ck_assert_int_eq(g_bk->read(dev, buf, 60, x, sizeof x), CLG_ERR_INVALID);
    g_bk->free(dev, buf);
    g_bk->close(dev);
    unload_backend();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opencl-backend");
    TCase *tc = tcase_create("opencl");
    /* PoCL compiles each kernel on first launch; the GEMM reference is slow
     * under valgrind. */
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, devices_match_the_opencl_api);
    tcase_add_test(tc, device_env_override);
    tcase_add_test(tc, program_cache_across_processes);
    tcase_add_test(tc, build_failure_carries_the_log);
    tcase_add_test(tc, profile_table_on_close);
    tcase_add_test(tc, gemm_clblast_matches_reference);
    tcase_add_test(tc, gemm_own_matches_reference);
    tcase_add_test(tc, index_errors_reported_at_read);
    tcase_add_test(tc, alloc_and_shape_errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
