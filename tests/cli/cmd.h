/* Running the clgrad command from a Check suite (test_cli, test_pipeline,
 * test_hostile): a scratch directory per test, `clgrad ARGS` through the
 * shell with stdout and stderr captured, and the check of a refusal. */
#ifndef CLG_TESTS_CLI_CMD_H
#define CLG_TESTS_CLI_CMD_H

#include <stddef.h>

extern const char *cmd_clgrad;  /* the executable */
extern const char *cmd_suite;   /* names the scratch dirs: /tmp/clgrad-test-SUITE-XXXXXX */
extern const char *cmd_prefix;  /* shell words before clgrad (limits), "" by default */
extern int cmd_in_dir;          /* 1: clgrad runs with the scratch dir as its cwd */
extern int cmd_timeout_s;       /* > 0: clgrad is killed after this many seconds */
extern char cmd_dir[256];       /* this test's scratch dir */
extern char cmd_out[1 << 16], cmd_err[1 << 16]; /* the last run's stdout and stderr */

/* Checked fixture: a fresh scratch dir, removed after the test. */
void cmd_setup(void);
void cmd_teardown(void);
/* cmd_dir/name, in one of 8 rotating buffers. */
const char *cmd_path(const char *name);
/* A file's bytes (at most len - 1) as a string; "" if it cannot be read. */
void cmd_slurp(const char *path, char *buf, size_t len);
/* `clgrad ARGS`, stdin from /dev/null, stdout to `redir` (NULL: captured in
 * cmd_out), stderr captured in cmd_err. Returns the exit status (>= 128: a
 * signal); a sanitizer report in stderr fails the test. */
int cmd_run_to(const char *redir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define cmd_run(...) cmd_run_to(NULL, __VA_ARGS__)
/* A refused input: exit 1 or 2 (not a crash), and every needle (a NULL-ended
 * list) in stderr. */
void cmd_refused(int rc, ...);
/* ASan and UBSan exit with 86 and 87 (appended to ASAN_OPTIONS and
 * UBSAN_OPTIONS), so a sanitizer report never passes for a clean error
 * exit; call once in main, before any run. */
void cmd_sanitizer_exits(void);

#endif
