/* The shared command runner (cmd.h) under the short names the older CLI
 * suites (test_cli, test_pipeline, test_hostile) were written with. */
#ifndef CLG_TESTS_CLI_CMD_SHORT_H
#define CLG_TESTS_CLI_CMD_SHORT_H

#include "cmd.h"

#define clgrad cmd_clgrad
#define dir cmd_dir
#define out cmd_out
#define err cmd_err
#define P cmd_path
#define slurp cmd_slurp
#define run(...) cmd_run_to(NULL, __VA_ARGS__)
#define run_to cmd_run_to
#define refused cmd_refused
#define setup cmd_setup
#define teardown cmd_teardown

#endif
