#include "tp_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tp_backend = "cpu";

double tp_rel(double a, double b, double floor)
{
    double d = fabs(b) > floor ? fabs(b) : floor;
    return fabs(a - b) / d;
}

static int listed(const char *list, const char *name)
{
    if (!list)
        return 0;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p = c ? c + 1 : p + len;
    }
    return 0;
}

/* Empty string if device 0 of `backend` opens, else the reason. Probed in a
 * child process: an OpenCL runtime initialised before Check forks its test
 * processes may deadlock in them. */
static void probe(const char *backend, char *why, size_t len)
{
    why[0] = '\0';
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(why, len, "pipe failed");
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        snprintf(why, len, "fork failed");
        return;
    }
    if (pid == 0) {
        close(fd[0]);
        char msg[1024] = "";
        clg_ctx *ctx = clg_ctx_new();
        clg_device *dev = NULL;
        if (!ctx)
            snprintf(msg, sizeof msg, "out of memory");
        else if (clg_device_open(ctx, backend, 0, &dev) != CLG_OK)
            snprintf(msg, sizeof msg, "%s", clg_ctx_error(ctx));
        clg_device_close(dev);
        clg_ctx_free(ctx);
        ssize_t w = write(fd[1], msg, strlen(msg));
        (void)w;
        close(fd[1]);
        _exit(0);
    }
    close(fd[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < len && (r = read(fd[0], why + got, len - 1 - got)) > 0)
        got += (size_t)r;
    why[got] = '\0';
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!why[0] && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        snprintf(why, len, "probing the device crashed (status %d)", status);
}

int tp_main(const char *suite, tp_add_fn add)
{
    const char *list = getenv("CLGRAD_TEST_BACKENDS");
    const char *req = getenv("CLGRAD_REQUIRE_BACKENDS");
    if (!list || !*list)
        list = "cpu,opencl";
    char *copy = strdup(list);
    if (!copy)
        return 1;
    int failed = 0, ran = 0;
    char *save = NULL;
    for (char *b = strtok_r(copy, ",", &save); b; b = strtok_r(NULL, ",", &save)) {
        char why[1024];
        probe(b, why, sizeof why);
        if (why[0]) {
            if (listed(req, b)) {
                fprintf(stderr, "FAIL: %s: backend %s is required but: %s\n", suite, b, why);
                failed++;
            } else {
                fprintf(stderr, "SKIP: %s: backend %s: %s\n", suite, b, why);
            }
            continue;
        }
        tp_backend = b;
        char name[128];
        snprintf(name, sizeof name, "%s[%s]", suite, b);
        Suite *s = suite_create(name);
        TCase *tc = tcase_create(b);
        tcase_set_timeout(tc, 120);
        add(tc);
        suite_add_tcase(s, tc);
        SRunner *sr = srunner_create(s);
        srunner_run_all(sr, CK_NORMAL);
        failed += srunner_ntests_failed(sr);
        srunner_free(sr);
        ran++;
    }
    free(copy);
    if (failed)
        return 1;
    return ran ? 0 : 77;
}
