/* `clgrad sweep`: what the runner (sweep.c) and the outputs (sweepout.c)
 * share. */
#ifndef CLGRAD_TOOLS_SWEEP_H
#define CLGRAD_TOOLS_SWEEP_H

#include "cli.h"

#include <sys/types.h>

typedef struct sweep_axis {
    char *name;  /* "lr", "optimizer", "seed", "no-shuffle" */
    int boolean; /* a flag without a value: 0 leaves it out, 1 gives it */
    char **v;
    int n;
} sweep_axis;

enum { RUN_PENDING, RUN_OK, RUN_DIVERGED, RUN_FAILED };

typedef struct sweep_run {
    char name[256];  /* its directory under DIR/runs: settings, made safe */
    int *pick;       /* the value of each axis */
    char **args;     /* the train options: the base ones and this combination's */
    int n_args;
    int status, skipped;
    double seconds;  /* wall time of its train process */
    cli_epoch *ep;   /* from its metrics.csv */
    int n_ep;
    char why[256];   /* failed or diverged: the last line of its log */
    pid_t pid;
    double t0;
} sweep_run;

typedef struct sweep {
    const char *out, *plot;
    sweep_axis *axis;
    int n_axes;
    sweep_run *run;
    int n_runs;
    int quiet;
} sweep;

/* The run's score (higher is better) and what it is: the final test
 * accuracy, else minus the final test loss, else minus the final train loss;
 * NAN when the run has no epoch. */
double sweep_score(const sweep *w, const sweep_run *r);
const char *sweep_metric_name(const sweep *w);
/* The ranked metric as printed: the score, or minus it for a loss. */
double sweep_metric_value(const sweep *w, double score);
/* DIR/results.csv (atomically), curves, and the ranked table on stdout.
 * Each returns 0 or -1 after printing why. */
int sweep_write_csv(const sweep *w);
int sweep_write_curves(const sweep *w, const char *path);
int sweep_print_table(const sweep *w);
/* Writes path through a temporary file in its directory, renamed into place
 * when complete. write(f, arg) returns 0 or -1. */
int sweep_write_atomic(const char *flag, const char *path, int (*write)(FILE *f, const void *arg),
                       const void *arg);

#endif
