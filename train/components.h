/* Private to train/: the component registry shared by plugins.c (loading,
 * listing), hparams.c (spec parsing), collective.c and train.c (trainer,
 * losses). train/ sees the engine only through the public headers. */
#ifndef CLGRAD_TRAIN_COMPONENTS_H
#define CLGRAD_TRAIN_COMPONENTS_H

#include <clgrad/train.h>

/* Shared between the files of train/, not exported from libclgrad. */
#define CLG_INTERNAL __attribute__((visibility("hidden")))

/* The registry is attached to its context under this key. */
#define REGISTRY_KEY "clgrad.registry"

/* Room for one error message, as the context keeps it. */
#define CLG_ERRMSG_LEN 1024

typedef struct clg__comp {
    clg_component c;          /* copy; c.hparams points at defs below */
    clg_hparam_def *defs;     /* the plugin's schema plus core-added keys (owned) */
    int n_defs;
    int so;                   /* index into the registry's .so list */
    const char *path;         /* that .so's path (owned by the registry) */
} clg__comp;

/* crash.c: which plugin callback runs on this thread, for the crash report
 * (clg_plugins_crash_report). Frames nest; enter/leave pair up around each
 * call into a plugin. */
typedef struct clg__cb_frame {
    const char *kind, *name, *path, *callback;
    struct clg__cb_frame *prev;
} clg__cb_frame;
CLG_INTERNAL void clg__cb_enter(clg__cb_frame *f, const clg__comp *c, const char *callback);
CLG_INTERNAL void clg__cb_enter_file(clg__cb_frame *f, const char *path, const char *callback);
CLG_INTERNAL void clg__cb_leave(clg__cb_frame *f);

typedef struct clg__so {
    char *path;
    void *handle;
} clg__so;

struct clg_registry {
    clg_ctx *ctx;
    clg__comp *comps;
    int n, cap;
    clg__so *sos;
    int n_sos, cap_sos;
    int open;                 /* 1 only while a clg_plugin_init runs */
    int loading_so;           /* index of the .so being initialised */
    int default_loaded;
    /* Components skipped because an earlier file (in the search order) had
     * registered the name: one line each, owned. */
    char **notices;
    int n_notices, cap_notices;
};

/* The ctx's registry, created on first use; NULL only on out-of-memory. */
CLG_INTERNAL clg_registry *clg__registry(clg_ctx *ctx);
/* The component, or NULL. */
CLG_INTERNAL const clg__comp *clg__comp_find(clg_registry *reg, clg_component_kind kind,
                                             const char *name, size_t name_len);
/* As clg__comp_find, but loads the default plugins first when the name is
 * unknown; sets a ctx error listing the known names when it stays unknown. */
CLG_INTERNAL clg_status clg__comp_lookup(clg_ctx *ctx, clg_component_kind kind,
                                         const char *name, size_t name_len,
                                         const clg__comp **out);

/* hparams.c */
/* Checks one schema entry and its default; message into err. */
CLG_INTERNAL clg_status clg__hparam_def_check(const clg_hparam_def *d, char *err, size_t len);
/* Parses a spec for a known component (spec's name part already matched). */
CLG_INTERNAL clg_status clg__hparams_parse_for(clg_ctx *ctx, const clg__comp *comp,
                                               const char *args, clg_hparams **out);
CLG_INTERNAL const clg__comp *clg__hparams_comp(const clg_hparams *hp);

/* sched.c: a scheduler chain; the trainer reads and writes its fields as
 * checkpoint values. */
typedef struct clg__sched_inst {
    const clg__comp *comp;
    clg_hparams *hp;
    double state[CLG_SCHED_MAX_STATE];
    int n_state;
} clg__sched_inst;

struct clg_scheduler {
    clg_ctx *ctx;
    clg__sched_inst *v;
    int n;
    int per_step;
    double t, lr, base_lr, metric;
};

/* One step with the trainer's counters. */
CLG_INTERNAL clg_status clg__sched_step(clg_scheduler *s, int64_t step, int64_t epoch);

#endif /* CLGRAD_TRAIN_COMPONENTS_H */
