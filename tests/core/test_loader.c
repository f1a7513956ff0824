/* Backend loader: ABI checks, missing symbols, search paths. The broken
 * modules come from fake_backend.c (built next to this test); their paths and
 * the directories involved arrive as -D defines from meson.build. */
#include <check.h>
#include <clgrad/backend.h>
#include <clgrad/clgrad.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Does msg, with every occurrence of `path` blanked out, contain the decimal
 * number v as a whole token? (The path itself may contain digits.) */
static int has_number_outside(const char *msg, const char *path, unsigned v)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", msg);
    size_t pl = strlen(path);
    for (char *p = strstr(buf, path); p && pl; p = strstr(p, path))
        memset(p, ' ', pl);
    char num[32];
    int nl = snprintf(num, sizeof num, "%u", v);
    for (char *p = strstr(buf, num); p; p = strstr(p + 1, num)) {
        int before = p > buf && isdigit((unsigned char)p[-1]);
        int after = isdigit((unsigned char)p[nl]);
        if (!before && !after)
            return 1;
    }
    return 0;
}

START_TEST(test_abi_major_mismatch)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_status st = clg_backend_load(ctx, FAKE_BADMAJOR_PATH);
    const char *msg = clg_ctx_error(ctx);
    ck_assert_msg(st == CLG_ERR_ABI, "status %s, message \"%s\"", clg_status_name(st), msg);
    ck_assert_msg(strstr(msg, FAKE_BADMAJOR_PATH), "message lacks the path: \"%s\"", msg);
    ck_assert_msg(has_number_outside(msg, FAKE_BADMAJOR_PATH, CLG_BACKEND_ABI_MAJOR + 1) &&
                      has_number_outside(msg, FAKE_BADMAJOR_PATH, CLG_BACKEND_ABI_MAJOR),
                  "message should give both ABI majors (%d and %d): \"%s\"",
                  CLG_BACKEND_ABI_MAJOR + 1, CLG_BACKEND_ABI_MAJOR, msg);
    ck_assert_int_eq(clg_backend_count(ctx), 0);
    clg_ctx_free(ctx);
}
END_TEST

/* A module built against ABI 1 (before op parameters and the op table
 * version) is refused by name, with both versions. */
START_TEST(test_abi1_module_refused)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_status st = clg_backend_load(ctx, FAKE_ABI1_PATH);
    const char *msg = clg_ctx_error(ctx);
    ck_assert_msg(st == CLG_ERR_ABI, "status %s, message \"%s\"", clg_status_name(st), msg);
    ck_assert_msg(strstr(msg, FAKE_ABI1_PATH), "message lacks the path: \"%s\"", msg);
    char ours[32];
    snprintf(ours, sizeof ours, "%d.%d", CLG_BACKEND_ABI_MAJOR, CLG_BACKEND_ABI_MINOR);
    ck_assert_msg(strstr(msg, "1.0") && strstr(msg, ours),
                  "message should give both versions (1.0 and %s): \"%s\"", ours, msg);
    ck_assert_int_eq(clg_backend_count(ctx), 0);
    clg_ctx_free(ctx);
}
END_TEST

/* supports is required in ABI 2: a backend must say which ops it runs. */
START_TEST(test_supports_required)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_status st = clg_backend_load(ctx, FAKE_NOSUPPORTS_PATH);
    const char *msg = clg_ctx_error(ctx);
    ck_assert_msg(st == CLG_ERR_LOAD, "status %s, message \"%s\"", clg_status_name(st), msg);
    ck_assert_msg(strstr(msg, FAKE_NOSUPPORTS_PATH) && strstr(msg, "'supports'"),
                  "message should name the file and the slot: \"%s\"", msg);
    ck_assert_int_eq(clg_backend_count(ctx), 0);
    clg_ctx_free(ctx);
}
END_TEST

START_TEST(test_abi_minor_too_new)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_status st = clg_backend_load(ctx, FAKE_BADMINOR_PATH);
    const char *msg = clg_ctx_error(ctx);
    ck_assert_msg(st == CLG_ERR_ABI, "status %s, message \"%s\"", clg_status_name(st), msg);
    ck_assert_msg(strstr(msg, FAKE_BADMINOR_PATH), "message lacks the path: \"%s\"", msg);
    ck_assert_msg(has_number_outside(msg, FAKE_BADMINOR_PATH, CLG_BACKEND_ABI_MINOR + 1),
                  "message should give the module's minor %d: \"%s\"", CLG_BACKEND_ABI_MINOR + 1,
                  msg);
    ck_assert_int_eq(clg_backend_count(ctx), 0);
    clg_ctx_free(ctx);
}
END_TEST

START_TEST(test_missing_entry_symbol)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_status st = clg_backend_load(ctx, FAKE_NOENTRY_PATH);
    const char *msg = clg_ctx_error(ctx);
    ck_assert_msg(st == CLG_ERR_LOAD, "status %s, message \"%s\"", clg_status_name(st), msg);
    ck_assert_msg(strstr(msg, FAKE_NOENTRY_PATH), "message lacks the path: \"%s\"", msg);
    ck_assert_msg(strstr(msg, CLG_BACKEND_ENTRY_SYMBOL), "message lacks the symbol: \"%s\"", msg);
    ck_assert_int_eq(clg_backend_count(ctx), 0);
    clg_ctx_free(ctx);
}
END_TEST

START_TEST(test_missing_file)
{
    clg_ctx *ctx = clg_ctx_new();
    const char *path = "/nonexistent-clgrad-dir/clgrad-backend-x.so";
    clg_status st = clg_backend_load(ctx, path);
    const char *msg = clg_ctx_error(ctx);
    ck_assert_msg(st != CLG_OK, "loading %s succeeded", path);
    ck_assert_msg(strstr(msg, path), "message lacks the path: \"%s\"", msg);
    clg_ctx_free(ctx);
}
END_TEST

/* The environment as meson's test() set it; tests that change it put it back
 * (with CK_FORK=no they share one process). */
static char *g_env_path;

static void restore_env(void)
{
    if (g_env_path)
        setenv("CLGRAD_PLUGIN_PATH", g_env_path, 1);
    else
        unsetenv("CLGRAD_PLUGIN_PATH");
}

START_TEST(test_unknown_name_lists_search_path)
{
    setenv("CLGRAD_PLUGIN_PATH", "/nonexistent-clgrad-a:/nonexistent-clgrad-b", 1);
    clg_ctx *ctx = clg_ctx_new();
    clg_status st = clg_backend_load(ctx, "nosuchbackend");
    const char *msg = clg_ctx_error(ctx);
    ck_assert_msg(st == CLG_ERR_NOT_FOUND || st == CLG_ERR_LOAD, "status %s, message \"%s\"",
                  clg_status_name(st), msg);
    ck_assert_msg(strstr(msg, "nosuchbackend"), "message lacks the name: \"%s\"", msg);
    ck_assert_msg(strstr(msg, "/nonexistent-clgrad-a") && strstr(msg, "/nonexistent-clgrad-b"),
                  "message should list the searched dirs: \"%s\"", msg);
    clg_ctx_free(ctx);
    restore_env();
}
END_TEST

START_TEST(test_load_cpu_twice)
{
    clg_ctx *ctx = clg_ctx_new();
    ck_assert_msg(clg_backend_load(ctx, "cpu") == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert_msg(clg_backend_load(ctx, "cpu") == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert_int_eq(clg_backend_count(ctx), 1);
    ck_assert_str_eq(clg_backend_name(ctx, 0), "cpu");
    clg_device *dev = NULL;
    ck_assert_msg(clg_device_open(ctx, "cpu", 0, &dev) == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert_int_eq(clg_backend_count(ctx), 1);
    clg_device_close(dev);
    clg_ctx_free(ctx);
}
END_TEST

/* meson's test() env sets CLGRAD_PLUGIN_PATH to tests/core's build dir and
 * the cpu backend's dir; testnull exists only in the former. */
START_TEST(test_plugin_path_env)
{
    const char *env = getenv("CLGRAD_PLUGIN_PATH");
    ck_assert_msg(env && strstr(env, TESTS_BUILD_DIR), "test env lacks CLGRAD_PLUGIN_PATH");
    clg_ctx *ctx = clg_ctx_new();
    ck_assert_msg(clg_backend_load(ctx, "testnull") == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert_msg(strstr(clg_backend_path(ctx, 0), TESTS_BUILD_DIR), "testnull loaded from %s",
                  clg_backend_path(ctx, 0));
    ck_assert_msg(clg_backend_load(ctx, "cpu") == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert_msg(strstr(clg_backend_path(ctx, 1), CPU_BACKEND_DIR), "cpu loaded from %s",
                  clg_backend_path(ctx, 1));
    ck_assert_int_eq(clg_backend_count(ctx), 2);
    /* a backend with no devices: counted as 0, opening fails with its reason */
    int n = -1;
    clg_status st = clg_device_count(ctx, "testnull", &n);
    ck_assert_msg(st == CLG_OK && n == 0, "device_count: %s, n=%d: %s", clg_status_name(st), n,
                  clg_ctx_error(ctx));
    clg_device *dev = NULL;
    ck_assert_int_ne(clg_device_open(ctx, "testnull", 0, &dev), CLG_OK);
    ck_assert_ptr_null(dev);
    ck_assert_msg(clg_ctx_error(ctx)[0] != '\0', "no message");
    clg_ctx_free(ctx);
}
END_TEST

/* Never the current directory: testnull sits in the cwd, but without
 * CLGRAD_PLUGIN_PATH it must not be found. */
START_TEST(test_not_from_cwd)
{
    unsetenv("CLGRAD_PLUGIN_PATH");
    ck_assert_int_eq(chdir(TESTS_BUILD_DIR), 0);
    clg_ctx *ctx = clg_ctx_new();
    clg_status st = clg_backend_load(ctx, "testnull");
    ck_assert_msg(st != CLG_OK, "testnull found without CLGRAD_PLUGIN_PATH, at %s",
                  clg_backend_count(ctx) ? clg_backend_path(ctx, 0) : "?");
    clg_ctx_free(ctx);
    restore_env();
}
END_TEST

int main(void)
{
    const char *env = getenv("CLGRAD_PLUGIN_PATH");
    g_env_path = env ? strdup(env) : NULL;
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_abi_major_mismatch);
    tcase_add_test(tc, test_abi_minor_too_new);
    tcase_add_test(tc, test_abi1_module_refused);
    tcase_add_test(tc, test_supports_required);
    tcase_add_test(tc, test_missing_entry_symbol);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_unknown_name_lists_search_path);
    tcase_add_test(tc, test_load_cpu_twice);
    tcase_add_test(tc, test_plugin_path_env);
    tcase_add_test(tc, test_not_from_cwd);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    free(g_env_path);
    return failed ? 1 : 0;
}
