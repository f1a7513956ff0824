/* Plumbing shared by the plugin suites: the backends to test (as the core
 * suites choose them) and relative comparisons. */
#ifndef CLG_TP_UTIL_H
#define CLG_TP_UTIL_H

#include <check.h>
#include <clgrad/train.h>

/* The backend the running suite tests. */
extern const char *tp_backend;

/* Adds one backend's tests to tc. */
typedef void (*tp_add_fn)(TCase *tc);

/* Runs the suite once per backend of CLGRAD_TEST_BACKENDS (default
 * "cpu,opencl"). A backend whose device 0 cannot be opened prints
 * "SKIP: <backend>: <reason>" and runs nothing, or fails when it is listed in
 * CLGRAD_REQUIRE_BACKENDS. Returns the exit status (77: nothing ran). */
int tp_main(const char *suite, tp_add_fn add);

/* |a - b| / max(|b|, floor) */
double tp_rel(double a, double b, double floor);

#endif
