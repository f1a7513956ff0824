/* Runner shared by the per-backend suites; see tutil.h. */
#include "tutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_backend = "cpu";

static clg_ctx *g_ctx;
static clg_device *g_dev;

static void close_device(void)
{
    if (g_dev)
        clg_device_close(g_dev);
    if (g_ctx)
        clg_ctx_free(g_ctx);
    g_dev = NULL;
    g_ctx = NULL;
}

clg_device *tu_device(void)
{
    if (g_dev)
        return g_dev;
    g_ctx = clg_ctx_new();
    ck_assert_msg(g_ctx != NULL, "clg_ctx_new failed");
    clg_status st = clg_device_open(g_ctx, tu_backend, 0, &g_dev);
    ck_assert_msg(st == CLG_OK, "open %s device 0: %s: %s", tu_backend, clg_status_name(st),
                  clg_ctx_error(g_ctx));
    return g_dev;
}

clg_ctx *tu_ctx(void)
{
    tu_device();
    return g_ctx;
}

/* A comma list; "name" in list? */
static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

/* Loading a backend can start driver threads (PoCL) that a later fork()
 * would not carry, so the probe runs in a child and the parent stays clean
 * for Check's forked tests. The child answers through a pipe ("OK" or the
 * error), not its exit status, which valgrind or LeakSanitizer may change. */
static int probe(const char *backend, char *why, size_t len)
{
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(why, len, "pipe failed");
        return 0;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        clg_ctx *ctx = clg_ctx_new();
        clg_device *dev = NULL;
        clg_status st = ctx ? clg_backend_load(ctx, backend) : CLG_ERR_NOMEM;
        if (st == CLG_OK)
            st = clg_device_open(ctx, backend, 0, &dev);
        char buf[1200];
        int n = st == CLG_OK ? snprintf(buf, sizeof buf, "OK")
                             : snprintf(buf, sizeof buf, "%s: %s", clg_status_name(st),
                                        ctx ? clg_ctx_error(ctx) : "clg_ctx_new failed");
        if (write(fd[1], buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1)) < 0)
            _exit(2);
        if (dev)
            clg_device_close(dev);
        if (ctx)
            clg_ctx_free(ctx);
        _exit(0);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while (pid > 0 && got + 1 < len && (r = read(fd[0], why + got, len - 1 - got)) > 0)
        got += (size_t)r;
    why[got] = '\0';
    close(fd[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) {
        snprintf(why, len, "fork failed");
        return 0;
    }
    if (strcmp(why, "OK") == 0)
        return 1;
    if (got == 0) {
        if (WIFSIGNALED(status))
            snprintf(why, len, "probe crashed with signal %d", WTERMSIG(status));
        else
            snprintf(why, len, "probe exited with status %d and no message",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return 0;
}

int tu_main(const char *name, tu_add_fn add, int timeout_s)
{
    const char *list = getenv("CLGRAD_TEST_BACKENDS");
    const char *required = getenv("CLGRAD_REQUIRE_BACKENDS");
    if (!list || !*list)
        list = "cpu,opencl";
    char *copy = strdup(list);
    int failed = 0, ran = 0;
    for (char *save = NULL, *b = strtok_r(copy, ",", &save); b; b = strtok_r(NULL, ",", &save)) {
        char why[1200];
        if (!probe(b, why, sizeof why)) {
            if (required && in_list(required, b)) {
                fprintf(stderr, "FAIL: backend %s is required (CLGRAD_REQUIRE_BACKENDS) but: %s\n",
                        b, why);
                failed++;
            } else {
                fprintf(stderr, "SKIP: backend %s: %s\n", b, why);
            }
            continue;
        }
        char sname[128];
        snprintf(sname, sizeof sname, "%s[%s]", name, b);
        Suite *s = suite_create(sname);
        TCase *tc = tcase_create(b);
        tcase_set_timeout(tc, timeout_s);
        /* The device is closed when each test ends (in the forked child),
         * not from an atexit handler: at exit glibc has already run the
         * thread_local destructors, and an OpenCL implementation that keeps
         * thread_local state (Oclgrind) has its heap damaged by calls made
         * that late. */
        tcase_add_checked_fixture(tc, NULL, close_device);
        tu_backend = b;
        add(tc, b);
        suite_add_tcase(s, tc);
        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        ran++;
        srunner_free(sr);
    }
    free(copy);
    if (failed)
        return 1;
    if (!ran) {
        fprintf(stderr, "SKIP: %s: no backend could run\n", name);
        return 77;
    }
    return 0;
}

clg_status tu_set_input(clg_plan *p, const char *name, clg_dtype dt, const ref_t *t)
{
    int64_t n = ref_numel(&t->s);
    size_t bytes = (size_t)n * 4;
    void *buf = malloc(bytes ? bytes : 1);
    for (int64_t i = 0; i < n; i++) {
        if (dt == CLG_I32)
            ((int32_t *)buf)[i] = (int32_t)t->d[i];
        else
            ((float *)buf)[i] = (float)t->d[i];
    }
    clg_status st = clg_plan_set_input(p, name, buf, bytes);
    free(buf);
    return st;
}

clg_status tu_read(clg_plan *p, clg_t out, clg_dtype dt, int64_t n, double *dst)
{
    size_t bytes = (size_t)n * 4;
    void *buf = malloc(bytes ? bytes : 1);
    clg_status st = clg_plan_read(p, out, buf, bytes);
    for (int64_t i = 0; st == CLG_OK && i < n; i++)
        dst[i] = dt == CLG_I32 ? (double)((int32_t *)buf)[i] : (double)((float *)buf)[i];
    free(buf);
    return st;
}
