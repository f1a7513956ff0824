/* The fixture of the data-layer suites (test_data, test_parsers_hostile): a
 * context and a scratch dir per test, and files written into it. */
#ifndef CLG_TESTS_CLI_DATAFIX_H
#define CLG_TESTS_CLI_DATAFIX_H

#include <clgrad/clgrad.h>
#include <check.h>
#include <stddef.h>
#include <string.h>

extern clg_ctx *ctx;
extern char dir[256];
extern const char *datafix_suite; /* names the scratch dirs: /tmp/clgrad-test-SUITE-XXXXXX */

void setup(void);    /* checked fixture */
void teardown(void);
/* dir/name, in one of 4 rotating buffers. */
const char *path_of(const char *name);
/* Writes n bytes to dir/name; returns its path. */
const char *write_file(const char *name, const void *data, size_t n);

#define ERR_HAS(s) ck_assert_msg(strstr(clg_ctx_error(ctx), (s)) != NULL, \
                                 "error '%s' lacks '%s'", clg_ctx_error(ctx), (s))

#endif
