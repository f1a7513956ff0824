/* The layer registry of --model pipelines: each layer's keys (for parsing,
 * validation and `clgrad layers`) and its builder. Private to tools/. */
#ifndef CLGRAD_TOOLS_LAYERS_H
#define CLGRAD_TOOLS_LAYERS_H

#include "cli.h"

typedef enum cli_key_type {
    CLI_KEY_INT,   /* integer in [lo, hi] */
    CLI_KEY_FLOAT, /* number in [lo, hi] (open ends by `open`) */
    CLI_KEY_BOOL,  /* 0/1/true/false */
    CLI_KEY_ENUM,  /* one of `choices` ("a|b|c"); stored as its index */
    CLI_KEY_LIST   /* integers joined by '/', each >= 1 or -1 (once) */
} cli_key_type;

#define CLI_OPEN_LO 1
#define CLI_OPEN_HI 2

typedef struct cli_key_def {
    const char *name;
    cli_key_type type;
    const char *def;     /* default as text; NULL: required; "": optional, the builder decides */
    const char *choices; /* CLI_KEY_ENUM */
    double lo, hi;
    int open;            /* CLI_OPEN_LO | CLI_OPEN_HI */
    const char *doc;
} cli_key_def;

/* What a builder sees besides its layer and input. */
typedef struct cli_build {
    clg_graph *g;
    clg_store *st;
    clg_rng *rng;
    int training;
    int64_t n_out;       /* what the data needs from the last linear */
    int index;           /* the layer's index: its tensor name prefix */
    int last_linear;     /* 1 for the pipeline's last linear */
    char prefix[16];     /* "3" */
    clg_t *rng_state;    /* the dropout state node of this graph, CLG_NONE until a layer needs it */
    char err[512];       /* a builder's own complaint (shapes, values) */
} cli_build;

/* Returns the layer's output, or CLG_NONE with b->err set (or the graph's
 * error set). */
typedef clg_t cli_build_fn(cli_build *b, const cli_layer *L, clg_t x);

typedef struct cli_layer_def {
    const char *name;
    const char *doc;
    cli_build_fn *build;
    cli_key_def keys[CLI_LAYER_KEYS]; /* ends at the first NULL name */
} cli_layer_def;

extern const cli_layer_def cli_layer_defs[];
extern const int cli_layer_def_count;

/* The store tensor of dropout draws (see cli_dropout_state in layers.c). */
#define CLI_DROPOUT_STATE "rng.dropout"

/* Index of the layer named n bytes at name, or -1. */
int cli_layer_find(const char *name, size_t n);
/* Number of keys of a layer. */
int cli_layer_key_count(const cli_layer_def *d);

#endif
