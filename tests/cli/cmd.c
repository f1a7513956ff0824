/* See cmd.h. */
#include "cmd.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

const char *cmd_clgrad = "clgrad";
const char *cmd_suite = "cli";
const char *cmd_prefix = "";
int cmd_in_dir = 0;
int cmd_timeout_s = 0;
char cmd_dir[256];
char cmd_out[1 << 16], cmd_err[1 << 16];

void cmd_setup(void)
{
    snprintf(cmd_dir, sizeof cmd_dir, "/tmp/clgrad-test-%s-XXXXXX", cmd_suite);
    ck_assert_ptr_nonnull(mkdtemp(cmd_dir));
}

void cmd_teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cmd_dir);
    ck_assert_int_eq(system(cmd), 0);
}

const char *cmd_path(const char *name)
{
    static char p[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", cmd_dir, name);
    return p[k];
}

void cmd_slurp(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

int cmd_run_to(const char *redir, const char *fmt, ...)
{
    char args[16384], cmd[18000], o[600], cd[600] = "", limit[64] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(o, sizeof o, ">'%s/.out'", cmd_dir);
    if (cmd_in_dir)
        snprintf(cd, sizeof cd, "cd '%s' && ", cmd_dir);
    if (cmd_timeout_s > 0)
        snprintf(limit, sizeof limit, "timeout -s KILL %d ", cmd_timeout_s);
    snprintf(cmd, sizeof cmd, "%s%s %s'%s' %s %s 2>'%s/.err' </dev/null", cd, cmd_prefix, limit,
             cmd_clgrad, args, redir ? redir : o, cmd_dir);
    int st = system(cmd);
    char p[600];
    snprintf(p, sizeof p, "%s/.out", cmd_dir);
    if (!redir)
        cmd_slurp(p, cmd_out, sizeof cmd_out);
    else
        cmd_out[0] = '\0';
    snprintf(p, sizeof p, "%s/.err", cmd_dir);
    cmd_slurp(p, cmd_err, sizeof cmd_err);
    ck_assert_msg(strstr(cmd_err, "Sanitizer") == NULL, "sanitizer report for clgrad %.200s:\n%s",
                  args, cmd_err);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void cmd_refused(int rc, ...)
{
    ck_assert_msg(rc == 1 || rc == 2, "expected exit 1 or 2, got %d; stderr:\n%s", rc, cmd_err);
    va_list ap;
    va_start(ap, rc);
    for (const char *s; (s = va_arg(ap, const char *));)
        ck_assert_msg(strstr(cmd_err, s) != NULL, "stderr lacks '%s':\n%s", s, cmd_err);
    va_end(ap);
}

static void append_option(const char *var, const char *opt)
{
    const char *old = getenv(var);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s%s%s", old ? old : "", old && *old ? ":" : "", opt);
    setenv(var, buf, 1);
}

void cmd_sanitizer_exits(void)
{
    append_option("ASAN_OPTIONS", "exitcode=86");
    append_option("UBSAN_OPTIONS", "exitcode=87");
}
