/* The clgrad command: what its files share. */
#ifndef CLGRAD_TOOLS_CLI_H
#define CLGRAD_TOOLS_CLI_H

#include <clgrad/clgrad.h>
#include <clgrad/data.h>
#include <clgrad/train.h>

#include <stdio.h>

#define CLI_MAX_PLUGINS 16
#define CLI_MAX_LAYERS 16

/* Every option of `train` and `eval`; parse_options fills it from argv. */
typedef struct cli_opts {
    const char *backend;              /* auto|cpu|opencl */
    int device;
    const char *plugins[CLI_MAX_PLUGINS];
    int n_plugins;
    const char *data;                 /* "synthetic" | "csv:..." | "fashion-mnist[:DIR]" | "mnist[:DIR]" */
    double val_split;                 /* 0: none */
    const char *model;
    const char *loss;                 /* NULL: chosen from the data */
    const char *optimizer;
    double lr;
    const char *scheduler;
    double clip_grad_norm;
    int accumulate;
    int epochs;
    long long batch_size;
    int no_shuffle, drop_last;
    unsigned long long seed;
    const char *init, *save, *checkpoint_dir, *resume, *load;
    int json, quiet;
    const char *metrics, *plot;
} cli_opts;

void cli_opts_default(cli_opts *o);
/* Parses argv[first..argc) on top of o. Returns 0, or prints the error
 * (naming the option) and returns -1. eval_mode: train-only flags refused. */
int cli_parse_options(cli_opts *o, int argc, char **argv, int first, int eval_mode);

/* Models */
typedef enum cli_act { CLI_RELU, CLI_TANH, CLI_SIGMOID, CLI_GELU } cli_act;
typedef enum cli_out { CLI_OUT_NONE, CLI_OUT_SIGMOID, CLI_OUT_SOFTMAX, CLI_OUT_LOG_SOFTMAX } cli_out;
typedef struct cli_model {
    int n_hidden;
    int64_t hidden[CLI_MAX_LAYERS];
    cli_act act;
    cli_out out;   /* a final parameter-free layer (for bce, nll) */
} cli_model;
/* "linear[:out=...]" or "mlp:H1,H2,...[,act=...][,out=sigmoid|softmax|log_softmax]";
 * errors go to ctx. */
clg_status cli_model_parse(clg_ctx *ctx, const char *spec, cli_model *m);
/* Adds the nn.Sequential-equivalent layers on x [B, in] to g; returns the
 * output node [B, out] (CLG_NONE with the graph's error set on failure). */
clg_t cli_model_build(clg_graph *g, clg_store *st, const cli_model *m, clg_t x, int64_t in,
                      int64_t out, clg_rng *rng);

/* Data */
typedef struct cli_data {
    clg_dataset *train, *test; /* test may be NULL */
    char test_name[64];        /* "t10k", "val" */
} cli_data;
clg_status cli_data_load(clg_ctx *ctx, const cli_opts *o, int need_classes, cli_data *d);
void cli_data_free(cli_data *d);

/* Reporting */
typedef struct cli_epoch {
    int epoch, epochs;
    double train_loss, test_loss, test_accuracy; /* NAN when absent */
    double lr, seconds, samples_per_s;
} cli_epoch;

typedef struct cli_report cli_report;
/* append: add to an existing --metrics file instead of starting it anew. */
cli_report *cli_report_new(const cli_opts *o, int classifying, int append);
/* Progress of the running epoch (a bar on stderr when it is a terminal). */
void cli_report_progress(cli_report *r, int epoch, int epochs, int64_t done, int64_t total,
                         double loss);
/* Returns 0, or -1 after printing an error (the metrics file failed). */
int cli_report_epoch(cli_report *r, const cli_epoch *e);
int cli_report_finish(cli_report *r); /* writes --plot; 0 or -1 */
void cli_report_free(cli_report *r);

/* Plots (plot.c): loss and accuracy curves over epochs, PNG or SVG by the
 * file's extension. Returns 0, or -1 after printing why. */
int cli_plot(const char *path, const cli_epoch *e, int n, int classifying);
/* Refuses a --plot that cannot be drawn (no cairo, unknown extension). */
int cli_plot_check(const char *path);

/* Commands */
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);

/* "clgrad: <msg>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* lint.c: clgrad plugins --check FILE; 0 when no problem was found. */
int cli_plugins_check(const char *file);

#endif
