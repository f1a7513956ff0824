/* Shared plumbing of the core suites: which backends to test, running a
 * Check suite once per backend, and moving reference tensors in and out of
 * plans. */
#ifndef CLG_TEST_TUTIL_H
#define CLG_TEST_TUTIL_H

#include <check.h>
#include <clgrad/clgrad.h>

#include "ref.h"

/* Backend the current suite runs on (set before its runner starts). */
extern const char *tu_backend;

/* The current test's device on tu_backend, opened on first use and closed
 * when the test ends (so each test opens its own, forked or not). Fails the
 * current test if it cannot be opened. */
clg_device *tu_device(void);
clg_ctx *tu_ctx(void);

/* Adds the tests of one backend to tc. */
typedef void (*tu_add_fn)(TCase *tc, const char *backend);

/* Runs suite `name` once per backend from CLGRAD_TEST_BACKENDS (default
 * "cpu,opencl"). A backend that cannot load or open device 0 is reported as
 * "SKIP: backend NAME: reason" on stderr and runs nothing, unless it is
 * listed in CLGRAD_REQUIRE_BACKENDS, where that is a failure. Returns the
 * process exit status: 0 all ran tests passed, 1 a failure, 77 (meson's
 * skip) when no backend could run at all. */
int tu_main(const char *name, tu_add_fn add, int timeout_s);

/* Host <-> plan, converting between the reference's doubles and dt. */
clg_status tu_set_input(clg_plan *p, const char *name, clg_dtype dt, const ref_t *t);
clg_status tu_read(clg_plan *p, clg_t out, clg_dtype dt, int64_t n, double *dst);

#endif
