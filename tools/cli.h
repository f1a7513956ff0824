/* The clgrad command: what its files share. */
#ifndef CLGRAD_TOOLS_CLI_H
#define CLGRAD_TOOLS_CLI_H

#include <clgrad/clgrad.h>
#include <clgrad/data.h>
#include <clgrad/train.h>

#include <stdio.h>

#include "tbevents.h"

#define CLI_MAX_PLUGINS 16
#define CLI_MAX_LAYERS 16
#define CLI_MAX_EPOCHS (1 << 24)

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
    const char *collective;           /* auto|none|NAME: the process group (dist.c) */
    const char *tensorboard;          /* DIR for event files (tbtrain.c) */
    int init_partial;                 /* --init loads what fits (finetune.c) */
    const char *init_skip;            /* globs of --init tensors not to load */
    const char *freeze, *lr_scale;    /* globs; PATTERN=F,... */
    clg_dtype save_dtype;             /* of --save: f32 (default), f16, bf16 */
    int stop_on_divergence;           /* stop (exit 3) on a nan/inf step loss or one > 4x the first */
    unsigned long long given;         /* bit k: flag k of options.c's table was given */
} cli_opts;

void cli_opts_default(cli_opts *o);
/* Parses argv[first..argc) on top of o. Returns 0, or prints the error
 * (naming the option) and returns -1. eval_mode: train-only flags refused. */
int cli_parse_options(cli_opts *o, int argc, char **argv, int first, int eval_mode);

/* The arguments recorded in a checkpoint, less those a resume never
 * replays (outputs, --plugin, a backend path, --init, --json, --quiet):
 * keep[] (pointers into argv, *n_keep of them; room for argc) and the
 * recorded plugin paths. Returns -1 for a malformed list. */
int cli_replay_filter(int argc, char **argv, char **keep, int *n_keep, char **dropped_plugins,
                      int *n_dropped);
/* 1 when the command line gave `flag` ("--lr"). */
int cli_given(const cli_opts *o, const char *flag);
/* An option of the table ("--lr"): -1 when unknown, else CLI_OPT_* bits. */
#define CLI_OPT_VALUE 1 /* takes a value */
#define CLI_OPT_TRAIN 2 /* train only */
int cli_option_kind(const char *flag);

/* Files (paths.c). Each returns 0, or -1 after printing an error that names
 * the flag and the user's path. */
#define CLI_LOCK_FILE "clgrad.lock"
/* A long user value cut to its head and tail, so a message's reason shows
 * (four rotating static buffers). */
const char *cli_short(const char *s);
const char *cli_file_kind(unsigned mode);        /* "a FIFO (named pipe)", ... */
int cli_check_input(const char *flag, const char *path, int want_dir);
/* An output file: absent or a regular file (never a link, a device, a
 * FIFO, a directory), in a directory the run can write in. */
int cli_check_output(const char *flag, const char *path);
int cli_check_output_dir(const char *flag, const char *dir);
/* Creates dir if needed and takes an exclusive flock on dir/clgrad.lock,
 * held until the process exits; a second run is refused. */
int cli_lock_dir(const char *flag, const char *dir);
/* No output is one of the run's inputs, or another output. */
int cli_check_distinct(const cli_opts *o);

/* A process group (dist.c): mpirun -np N clgrad train ... Without one,
 * rank 0 of size 1 and every call a no-op. */
typedef struct cli_dist {
    clg_collective *coll;
    int rank, size;
} cli_dist;
/* spec: "auto" (the launcher's collective, if any), "none", or a name.
 * Returns -1 after printing an error. */
int cli_dist_open(clg_ctx *ctx, const char *spec, cli_dist *d);
void cli_dist_close(cli_dist *d);
/* Every rank must run the same arguments: -1 (after printing, on the rank
 * that differs, which argument and both values) on every rank if one
 * differs. */
int cli_dist_check_args(clg_ctx *ctx, cli_dist *d, int argc, char **argv);
/* This rank's contiguous part [first, first + count) of `rows` rows. */
void cli_dist_shard(const cli_dist *d, int64_t rows, int64_t *first, int64_t *count);
/* In place: v[i] = the sum over ranks (n <= 32). */
clg_status cli_dist_sum(cli_dist *d, double *v, int n);
/* Every store tensor from rank 0 to all ranks. */
clg_status cli_dist_bcast_store(cli_dist *d, clg_store *st);
/* *same = 1 if every rank's store holds the bytes of rank 0's. -1: failed. */
int cli_dist_same_weights(cli_dist *d, clg_store *st, int *same);
/* The rank within its node (the launcher's environment; 0 if none). */
int cli_dist_local_rank(void);

/* Models (model.c: presets, pipelines, @FILE; layers.c: the layer registry).
 * A model is a pipeline of layers numbered from 0 as nn.Sequential numbers
 * its children; layer i's tensors are named "i.weight", ... */
#define CLI_MAX_PIPE 128
#define CLI_LAYER_KEYS 8
typedef struct cli_layer {
    int def;                      /* index in cli_layer_defs */
    char spec[160];               /* as written, for messages */
    double v[CLI_LAYER_KEYS];     /* value of key k (enum: index of the choice) */
    unsigned given;               /* bit k: key k was written */
    int64_t list[CLG_MAX_DIMS];   /* the value of a list key */
    int n_list;
} cli_layer;
typedef struct cli_model {
    int n;
    int flatten_input;            /* linear and mlp presets: the input as [B, features] */
    cli_layer layer[CLI_MAX_PIPE];
} cli_model;
/* A preset ("linear", "mlp:8,4"), a pipeline "conv2d:out=8,k=3 > relu > ...",
 * or "@FILE" (one layer per line, '#' comments); errors go to ctx. */
clg_status cli_model_parse(clg_ctx *ctx, const char *spec, cli_model *m);
/* Adds the layers on x [B, ...sample] to g and sets *pred. n_out: the out of
 * the last linear when the spec leaves it to the data; training: dropout
 * draws and batchnorm uses (and updates) batch statistics. Errors (to g's
 * ctx, before anything runs) name the layer's index, spec and input shape. */
clg_status cli_model_build(clg_graph *g, clg_store *st, const cli_model *m, clg_t x,
                           int64_t n_out, int training, clg_rng *rng, clg_t *pred);
/* 1 when a and b build the same model (e.g. "mlp:8" and "linear:out=8 >
 * relu > linear" differ only in the flattened input); else 0 and detail
 * says where they differ (": layer 2 is gelu instead of relu"). */
int cli_model_same(const cli_model *a, const cli_model *b, char *detail, size_t len);
/* `clgrad layers [NAME]` */
int cli_layers(int argc, char **argv);

/* Data */
typedef struct cli_data {
    clg_dataset *train, *test; /* test may be NULL */
    char test_name[64];        /* "t10k", "val" */
} cli_data;
clg_status cli_data_load(clg_ctx *ctx, const cli_opts *o, int need_classes, cli_data *d);
void cli_data_free(cli_data *d);
/* text:PATH[,seq=T] (text.c) */
clg_status cli_text_load(clg_ctx *ctx, const char *spec, const cli_opts *o, cli_data *d);

/* Reporting */
typedef struct cli_epoch {
    int epoch, epochs;
    double train_loss, test_loss, test_accuracy; /* NAN when absent */
    double lr, seconds, samples_per_s;
    double test_bits_per_byte; /* text data: test loss in bits; 0 or NAN: none */
    int nonfinite;   /* a loss of this epoch was computed and is nan or inf */
    int ranks;       /* processes training together (1: alone) */
    double sync_ms;  /* per optimizer step at the gradient-sync point (ranks > 1) */
    int64_t kernels_per_step; /* the training plan's last run, as the backend counts (-1: none) */
    size_t peak_bytes;        /* device memory of a step: the plan's buffers and the store */
} cli_epoch;

typedef struct cli_report cli_report;
/* append: add to an existing --metrics file instead of starting it anew. */
/* A resumed run (append) keeps the rows of epochs <= start_epoch of an
 * existing --metrics file and drops later ones (written before a kill that
 * came before their checkpoint), then appends. */
cli_report *cli_report_new(const cli_opts *o, int classifying, int append, int start_epoch);
/* Says that a resumed run has nothing to train, in every output mode. */
void cli_report_nothing(const cli_report *r, const char *dir, int epoch, int epochs);
/* Progress of the running epoch (a bar on stderr when it is a terminal). */
void cli_report_progress(cli_report *r, int epoch, int epochs, int64_t done, int64_t total,
                         double loss);
/* Returns 0, or -1 after printing an error (the metrics file failed). */
int cli_report_epoch(cli_report *r, const cli_epoch *e);
int cli_report_finish(cli_report *r); /* writes --plot; 0 or -1 */
void cli_report_free(cli_report *r);

/* --tensorboard of train (tbtrain.c); each prints its error. step: the
 * batch number since the run's first; loss, loss_mean: NAN to leave out. */
cli_tb *cli_tb_train_open(const char *dir);
int cli_tb_train_step(cli_tb *w, int64_t step, double loss, double loss_mean, double lr);
int cli_tb_train_epoch(cli_tb *w, const cli_epoch *e, int has_test, int classifying); /* flushes */
int cli_tb_train_close(cli_tb *w); /* NULL: nothing */

/* Plots (plot.c): loss and accuracy curves over epochs, PNG or SVG by the
 * file's extension. Returns 0, or -1 after printing why. */
int cli_plot(const char *path, const cli_epoch *e, int n, int classifying);
/* Refuses a --plot that cannot be drawn (no cairo, unknown extension). */
int cli_plot_check(const char *path);
/* Several curves in one panel, each a colour of a palette (a run's train
 * and test curves share one), with a legend of the labelled ones; axes
 * linear or log10. flag names the file in messages ("--plot"). */
typedef struct cli_series {
    const char *label;   /* NULL: not in the legend */
    const double *x, *y; /* n points; a non-finite one (or <= 0 on a log axis) is skipped */
    int n;
    int color;           /* palette index */
    int dashed;
} cli_series;
typedef struct cli_chart {
    const char *title, *xlabel;
    int log_x, log_y;
    int integer_x;       /* x ticks at whole numbers only (epochs) */
    double mark_x;       /* a vertical marker there (NAN: none) */
    const char *mark_label;
} cli_chart;
int cli_plot_chart(const char *flag, const char *path, const cli_chart *c, const cli_series *s,
                   int n);

/* Set once a failed write to stdout has been reported (main reports it
 * otherwise, at exit). */
extern int cli_stdout_reported;

/* Fine-tuning (finetune.c). Each int function returns 0, or -1 after
 * printing an error that names the option. */
#define CLI_MAX_PATTERNS 32
/* Syntax of --freeze and --lr-scale, --init-partial without --init. */
int cli_finetune_check(const cli_opts *o);
/* The parameters to train (the graph's, less the frozen ones) and their
 * --lr-scale factors (the first matching pattern wins; unmatched: 1), for
 * clg_trainer_opts; *n 0 (nothing allocated) without --freeze/--lr-scale.
 * A pattern that matches nothing is refused (error in ctx). names point
 * into st. */
clg_status cli_finetune_params(clg_ctx *ctx, const cli_opts *o, clg_graph *g, clg_store *st,
                               char ***names, double **scales, int *n);
/* --init-partial: loads every tensor of set whose name and shape match one
 * of names and no --init-skip glob (skip: NULL for none); reports on stderr
 * each skipped tensor (excluded, absent from the model, or both shapes)
 * and each model tensor left as initialised. */
clg_status cli_init_partial(clg_ctx *ctx, clg_store *st, const clg_tensor_set *set,
                            const char *path, const char *const *names, int n,
                            const char *skip, int quiet);
/* --save with --save-dtype f16|bf16. */
clg_status cli_save_dtype(clg_store *st, const char *path, const char *const *names, int n,
                          clg_dtype dt);

/* Commands */
int cli_train(int argc, char **argv);
/* Called around every training step of cli_train_hooked (lrfind.c):
 * before() may set the step's lr on tr; after() sees the step's loss (before
 * any check that it is finite). Either returns 1 to end training there (not
 * an error). With a hook, train evaluates nothing and reports no epoch. */
typedef struct cli_step_hook {
    int (*before)(void *arg, clg_trainer *tr);
    int (*after)(void *arg, double loss);
    void *arg;
} cli_step_hook;
int cli_train_hooked(int argc, char **argv, const cli_step_hook *hook);
/* Exit status of a train run stopped by --stop-on-divergence. */
#define CLI_EXIT_DIVERGED 3
int cli_sweep(int argc, char **argv);   /* sweep.c */
int cli_lr_find(int argc, char **argv); /* lrfind.c */
/* Each scheduler of a '+' chain checked against its schema (run.c). */
clg_status cli_check_scheduler(clg_ctx *ctx, const char *spec);
int cli_eval(int argc, char **argv);
int cli_sample(int argc, char **argv); /* sample.c */

/* "clgrad: <msg>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* lint.c: clgrad plugins --check FILE; 0 when no problem was found. */
int cli_plugins_check(const char *file);

#endif
