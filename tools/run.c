/* `clgrad train` and `clgrad eval`: data, model, loss and optimizer from the
 * options; one compiled training plan per distinct batch size (the last
 * partial batch gets its own, sharing the store), evaluation plans the same
 * way; checkpoints and exact resume. */
#include "cli.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

/* 2: with a checksum (clg_checkpoint_save adds it, clg_checkpoint_load
 * verifies it). 1: before checksums; resume refuses it, eval reads it. */
#define CHECKPOINT_FORMAT "clgrad-checkpoint-2"
#define CHECKPOINT_FORMAT_1 "clgrad-checkpoint-1"
/* Step counters and the like restored from a checkpoint stay exact doubles. */
#define MAX_CHECKPOINT_VALUE 9007199254740992.0
#define MAX_PLANS 4

typedef struct eval_plan {
    int64_t batch;
    clg_plan *plan;
    clg_t loss, correct;
} eval_plan;

typedef struct session {
    cli_opts o;
    cli_dist dist;        /* the process group (mpirun); a group of one by default */
    clg_ctx *ctx;
    clg_device *dev;
    clg_store *st;
    cli_model model;
    cli_data data;
    char loss_spec[512];
    int classifying;      /* the data has class labels */
    int onehot;           /* labels, but the loss wants a one-hot f32 target */
    int64_t n_features, n_out;
    clg_rng init_rng, shuffle_rng;
    eval_plan eval[MAX_PLANS];
    int n_eval;
    char **argv_saved;    /* effective train arguments, stored in checkpoints */
    int argc_saved;
    char *recorded_plugins[CLI_MAX_PLUGINS]; /* --plugin of the checkpoint's run: never loaded */
    int n_recorded;
    const cli_step_hook *hook; /* lr-find's probe, or NULL */
} session;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(session *s, const char *what)
{
    if (s->n_recorded && strstr(clg_ctx_error(s->ctx), "unknown")) {
        /* A component the checkpoint's run loaded from a plugin: say how to
         * get it back (a checkpoint never loads code by itself). */
        char list[1024] = "";
        size_t u = 0;
        for (int i = 0; i < s->n_recorded && u + 8 < sizeof list; i++)
            u += (size_t)snprintf(list + u, sizeof list - u, " --plugin %s",
                                  cli_short(s->recorded_plugins[i]));
        cli_error("%s%s%s (the checkpoint's run loaded%s; a resume loads no plugin recorded in "
                  "a checkpoint: give --plugin again)", what ? what : "", what ? ": " : "",
                  clg_ctx_error(s->ctx), list);
        return 1;
    }
    if (what)
        cli_error("%s: %s", what, clg_ctx_error(s->ctx));
    else
        cli_error("%s", clg_ctx_error(s->ctx));
    return 1;
}

/* The loss declares its target kind; nothing is guessed from its name. An
 * unknown loss answers "no" here and is reported where it is parsed. */
static int loss_wants_indices(clg_ctx *ctx, const char *spec)
{
    clg_target_kind k;
    return clg_loss_target(ctx, spec, &k) == CLG_OK &&
           (k == CLG_TARGET_CLASS_INDEX || k == CLG_TARGET_CLASS_PER_POSITION);
}

/* --backend auto: the first OpenCL GPU if there is one, else the CPU. */
static clg_status open_device(session *s)
{
    const char *b = s->o.backend;
    int dev = s->o.device;
    if (!strcmp(b, "auto")) {
        b = "cpu";
        int n = 0;
        if (clg_backend_load(s->ctx, "opencl") == CLG_OK &&
            clg_device_count(s->ctx, "opencl", &n) == CLG_OK) {
            for (int i = 0; i < n; i++) {
                clg_device_info info;
                if (clg_device_info_get(s->ctx, "opencl", i, &info) == CLG_OK &&
                    info.type == CLG_DEVICE_GPU) {
                    b = "opencl";
                    if (dev == 0)
                        dev = i;
                    break;
                }
            }
        }
    }
    /* Under a launcher, each rank of a node takes its own OpenCL device
     * (--device overrides). */
    if (s->dist.size > 1 && !strcmp(b, "opencl") && !cli_given(&s->o, "--device")) {
        int n = 0;
        if (clg_device_count(s->ctx, "opencl", &n) == CLG_OK && n > 0)
            dev = cli_dist_local_rank() % n;
    }
    clg_status st = clg_device_open(s->ctx, b, dev, &s->dev);
    if (st == CLG_OK)
        st = clg_store_new(s->dev, &s->st);
    /* Say where it runs (auto may pick either), with the progress bar: on
     * stderr and only to a terminal, so piped output stays one line per epoch. */
    clg_device_info info;
    if (st == CLG_OK && !s->o.quiet && !s->o.json && isatty(STDERR_FILENO) &&
        clg_device_info_get(s->ctx, b, dev, &info) == CLG_OK)
        fprintf(stderr, "clgrad: backend %s, device %d: %s\n", b, dev, info.name);
    return st;
}

/* x, target -> prediction -> loss (and the count of correct predictions). */
static clg_status build_forward(session *s, clg_graph *g, int64_t B, clg_t *loss, clg_t *correct)
{
    /* The input takes the data set's sample shape ([B, 1, 28, 28] images,
     * [B, F] rows); the linear and mlp presets read it flattened (model.c).
     * Training graphs are built without `correct`, eval graphs with it. */
    clg_shape sample = clg_dataset_sample_shape(s->data.train);
    clg_shape xs = { .ndim = sample.ndim + 1, .dim = { B } };
    for (int i = 0; i < sample.ndim; i++)
        xs.dim[i + 1] = sample.dim[i];
    clg_t x = clg_input(g, "x", s->data.train->dtype, &xs);
    clg_t pred;
    clg_status mst = cli_model_build(g, s->st, &s->model, x, s->n_out, correct == NULL,
                                     &s->init_rng, &pred);
    if (mst != CLG_OK)
        return mst;
    clg_t tgt, used;
    if (s->classifying) {
        /* text: a class per position; the loss sees [B*T, V] and [B*T] */
        const int64_t ll = clg_dataset_label_len(s->data.train);
        clg_shape ts = ll > 1 ? CLG_SHAPE(B, ll) : CLG_SHAPE(B);
        tgt = clg_input(g, "target", CLG_I32, &ts);
        if (ll > 1) {
            pred = clg_reshape(g, pred, &CLG_SHAPE(B * ll, s->n_out));
            tgt = clg_reshape(g, tgt, &CLG_SHAPE(B * ll));
        }
        used = s->onehot ? clg_one_hot(g, tgt, s->n_out) : tgt;
    } else {
        clg_shape ts = CLG_SHAPE(B, s->data.train->n_targets);
        tgt = used = clg_input(g, "target", CLG_F32, &ts);
    }
    if (clg_graph_status(g) != CLG_OK)
        return clg_ctx_set_error(s->ctx, clg_graph_status(g), "%s", clg_graph_error(g));
    clg_status st = clg_loss_build(g, s->loss_spec, pred, used, loss);
    if (st != CLG_OK)
        return st;
    if (correct) {
        *correct = CLG_NONE;
        if (s->classifying) {
            clg_t am = clg_argmax(g, pred, 1, 0);
            *correct = clg_sum(g, clg_eq(g, am, tgt), NULL, 0, 0);
        }
    }
    if (clg_graph_status(g) != CLG_OK)
        return clg_ctx_set_error(s->ctx, clg_graph_status(g), "%s", clg_graph_error(g));
    return CLG_OK;
}

static clg_status make_trainer(session *s, int64_t B, clg_trainer **out)
{
    *out = NULL;
    clg_graph *g = clg_graph_new(s->ctx);
    if (!g)
        return clg_ctx_set_error(s->ctx, CLG_ERR_NOMEM, "out of memory");
    clg_t loss;
    clg_status st = build_forward(s, g, B, &loss, NULL);
    if (st == CLG_OK && s->o.accumulate > 1)
        loss = clg_mul_scalar(g, loss, 1.0f / (float)s->o.accumulate);
    if (st == CLG_OK) {
        clg_trainer_opts to;
        memset(&to, 0, sizeof to);
        to.lr = s->o.lr;
        to.optimizer = s->o.optimizer;
        to.scheduler = s->o.scheduler;
        to.clip_grad_norm = s->o.clip_grad_norm;
        to.accumulate = s->o.accumulate;
        to.collective = s->dist.size > 1 ? s->dist.coll : NULL;
        char **pn = NULL;
        double *ps = NULL;
        int np = 0;
        st = cli_finetune_params(s->ctx, &s->o, g, s->st, &pn, &ps, &np);
        if (st == CLG_OK) {
            to.params = (const char *const *)pn;
            to.n_params = np;
            to.lr_scale = s->o.lr_scale ? ps : NULL;
            st = clg_trainer_new(g, s->st, loss, &to, out);
        }
        free(pn);
        free(ps);
    }
    clg_graph_free(g);
    return st;
}

static eval_plan *eval_plan_for(session *s, int64_t B)
{
    for (int i = 0; i < s->n_eval; i++)
        if (s->eval[i].batch == B)
            return &s->eval[i];
    if (s->n_eval == MAX_PLANS) {
        clg_ctx_set_error(s->ctx, CLG_ERR_INVALID, "too many evaluation batch sizes");
        return NULL;
    }
    eval_plan *e = &s->eval[s->n_eval];
    clg_graph *g = clg_graph_new(s->ctx);
    if (!g) {
        clg_ctx_set_error(s->ctx, CLG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    clg_status st = build_forward(s, g, B, &e->loss, &e->correct);
    if (st == CLG_OK) {
        clg_t outs[2] = { e->loss, e->correct };
        st = clg_compile(g, s->dev, outs, e->correct == CLG_NONE ? 1 : 2, NULL, &e->plan);
    }
    clg_graph_free(g);
    if (st != CLG_OK)
        return NULL;
    e->batch = B;
    s->n_eval++;
    return e;
}

static size_t target_bytes(const session *s, int64_t B)
{
    return s->classifying ? (size_t)(B * clg_dataset_label_len(s->data.train)) * sizeof(int32_t)
                          : (size_t)(B * s->data.train->n_targets) * sizeof(float);
}

static clg_status evaluate_part(session *s, const clg_dataset *ds, double *lsum_out,
                                double *csum_out);

/* Mean loss and accuracy over a data set (eval mode: no update). */
static clg_status evaluate(session *s, const clg_dataset *ds, double *loss, double *acc)
{
    *loss = *acc = NAN;
    /* Each rank evaluates its contiguous part; the sums are reduced. */
    int64_t first, count;
    cli_dist_shard(&s->dist, ds->n, &first, &count);
    clg_dataset part = *ds;
    part.n = count;
    part.x = ds->x + first * ds->n_features;
    part.y = ds->y ? ds->y + first * ds->n_targets : NULL;
    part.labels = ds->labels ? ds->labels + first * clg_dataset_label_len(ds) : NULL;
    double lsum = 0, csum = 0;
    clg_status st = CLG_OK;
    if (count > 0)
        st = evaluate_part(s, &part, &lsum, &csum);
    double sums[2] = { lsum, csum };
    if (st == CLG_OK)
        st = cli_dist_sum(&s->dist, sums, 2);
    if (st == CLG_OK) {
        *loss = sums[0] / (double)ds->n;
        if (s->classifying) /* text: a prediction per position */
            *acc = sums[1] / (double)(ds->n * clg_dataset_label_len(ds));
    }
    return st;
}

/* Sums of loss x rows and of correct predictions over a data set. */
static clg_status evaluate_part(session *s, const clg_dataset *ds, double *lsum_out,
                                double *csum_out)
{
    int64_t B = ds->n < 1000 ? ds->n : 1000;
    clg_batcher *b;
    clg_status st = clg_batcher_new(s->ctx, ds, B, 0, 0, &b);
    if (st != CLG_OK)
        return st;
    clg_batcher_epoch(b, NULL);
    clg_batch bt;
    double lsum = 0, csum = 0;
    while (st == CLG_OK && clg_batcher_next(b, &bt)) {
        eval_plan *e = eval_plan_for(s, bt.size);
        if (!e) {
            st = CLG_ERR_INVALID;
            break;
        }
        st = clg_plan_set_input(e->plan, "x", bt.x, (size_t)(bt.size * ds->n_features) * sizeof(float));
        if (st == CLG_OK)
            st = clg_plan_set_input(e->plan, "target", s->classifying ? (const void *)bt.labels
                                                                      : (const void *)bt.y,
                                    target_bytes(s, bt.size));
        if (st == CLG_OK)
            st = clg_plan_run(e->plan);
        float l = 0, c = 0;
        if (st == CLG_OK)
            st = clg_plan_read(e->plan, e->loss, &l, sizeof l);
        if (st == CLG_OK && e->correct != CLG_NONE)
            st = clg_plan_read(e->plan, e->correct, &c, sizeof c);
        lsum += (double)l * (double)bt.size;
        csum += c;
    }
    clg_batcher_free(b);
    *lsum_out = lsum;
    *csum_out = csum;
    return st;
}

/* Copies the host state (steps, scheduler, lr) from one trainer to another:
 * the trainers of different batch sizes act as one. */
static clg_status sync_values(clg_trainer *from, clg_trainer *to)
{
    for (int i = 0; i < clg_trainer_value_count(from); i++) {
        clg_status st = clg_trainer_value_set(to, clg_trainer_value_name(from, i),
                                              clg_trainer_value_get(from, i));
        if (st != CLG_OK)
            return st;
    }
    return CLG_OK;
}

/* ------------------------------------------------------------ checkpoints */

/* The store tensors a checkpoint holds: all but scratch (the gradients a
 * process group synchronises, rewritten every step), so a checkpoint of N
 * processes resumes on any other number. names: room for every tensor. */
static int checkpoint_names(const session *s, const char **names)
{
    int n = 0;
    for (int i = 0; i < clg_store_count(s->st); i++)
        if (clg_store_kind(s->st, i) != CLG_TENSOR_SCRATCH)
            names[n++] = clg_store_name(s->st, i);
    return n;
}

static clg_status save_checkpoint(session *s, clg_trainer *tr, int epoch)
{
    clg_tensor_set *set = clg_tensor_set_new();
    const char **names = malloc(((size_t)clg_store_count(s->st) + 1) * sizeof *names);
    if (!set || !names) {
        clg_tensor_set_free(set);
        free(names);
        return clg_ctx_set_error(s->ctx, CLG_ERR_NOMEM, "out of memory");
    }
    clg_status st = clg_tensor_set_from_store(set, s->st, names, checkpoint_names(s, names));
    free(names);
    char buf[128];
    if (st == CLG_OK)
        st = clg_tensor_set_meta(s->ctx, set, "format", CHECKPOINT_FORMAT);
    snprintf(buf, sizeof buf, "%d", epoch);
    if (st == CLG_OK)
        st = clg_tensor_set_meta(s->ctx, set, "epoch", buf);
    clg_rng_to_string(&s->shuffle_rng, buf);
    if (st == CLG_OK)
        st = clg_tensor_set_meta(s->ctx, set, "rng", buf);
    for (int i = 0; st == CLG_OK && i < clg_trainer_value_count(tr); i++) {
        char key[160];
        snprintf(key, sizeof key, "value.%s", clg_trainer_value_name(tr, i));
        /* %a round-trips a double exactly. */
        snprintf(buf, sizeof buf, "%a", clg_trainer_value_get(tr, i));
        st = clg_tensor_set_meta(s->ctx, set, key, buf);
    }
    if (st == CLG_OK) {
        json_object *a = json_object_new_array();
        for (int i = 0; a && i < s->argc_saved; i++)
            json_object_array_add(a, json_object_new_string(s->argv_saved[i]));
        st = a ? clg_tensor_set_meta(s->ctx, set, "argv",
                                     json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN))
               : clg_ctx_set_error(s->ctx, CLG_ERR_NOMEM, "out of memory");
        json_object_put(a);
    }
    if (st == CLG_OK)
        st = clg_checkpoint_save(s->ctx, s->o.checkpoint_dir, set);
    clg_tensor_set_free(set);
    return st;
}

static clg_status check_finite(session *s, const clg_tensor_set *set, const char *flag,
                               const char *path);

static clg_status restore_checkpoint(session *s, const clg_tensor_set *set, clg_trainer *tr,
                                     int *epoch)
{
    const char *fmt = clg_tensor_set_get_meta(set, "format");
    const char *ep = clg_tensor_set_get_meta(set, "epoch");
    if (!fmt || strcmp(fmt, CHECKPOINT_FORMAT) || !ep)
        return clg_ctx_set_error(s->ctx, CLG_ERR_INVALID,
                                 "--resume %s: not a clgrad checkpoint (format '%s')", s->o.resume,
                                 fmt ? fmt : "none");
    char *end;
    errno = 0;
    long long e = strtoll(ep, &end, 10);
    if (end == ep || *end)
        return clg_ctx_set_error(s->ctx, CLG_ERR_INVALID, "--resume %s: bad epoch '%s'",
                                 cli_short(s->o.resume), cli_short(ep));
    if (errno == ERANGE || e < 0 || e > CLI_MAX_EPOCHS)
        return clg_ctx_set_error(s->ctx, CLG_ERR_INVALID,
                                 "--resume %s: epoch %s is out of range: must be between 0 and %d",
                                 cli_short(s->o.resume), cli_short(ep), CLI_MAX_EPOCHS);
    char what[4200];
    snprintf(what, sizeof what, "%s/%s", s->o.resume, CLG_CHECKPOINT_FILE);
    clg_status st = check_finite(s, set, "--resume", what);
    const char **names = malloc(((size_t)clg_store_count(s->st) + 1) * sizeof *names);
    if (!names)
        return clg_ctx_set_error(s->ctx, CLG_ERR_NOMEM, "out of memory");
    if (st == CLG_OK)
        st = clg_tensor_set_to_store(set, what, s->st, names, checkpoint_names(s, names), 1);
    free(names);
    if (st == CLG_OK)
        st = clg_rng_from_string(s->ctx, clg_tensor_set_get_meta(set, "rng"), &s->shuffle_rng);
    for (int i = 0; st == CLG_OK && i < set->n_meta; i++) {
        if (strncmp(set->meta_key[i], "value.", 6))
            continue;
        double v = strtod(set->meta_val[i], &end);
        if (end == set->meta_val[i] || *end)
            return clg_ctx_set_error(s->ctx, CLG_ERR_INVALID, "%s: bad value %s='%s'",
                                     cli_short(what), cli_short(set->meta_key[i]),
                                     cli_short(set->meta_val[i]));
        /* Counters are whole numbers in [0, 2^53]; the learning rate is
         * finite and >= 0. A scheduler's own state may hold nan or inf (no
         * metric yet, a best of -inf), which its code expects. */
        const char *k = set->meta_key[i] + 6;
        int counter = !strcmp(k, "optim.step") || !strcmp(k, "train.epoch") ||
                      !strcmp(k, "train.pending") || !strcmp(k, "sched.t");
        if (counter && !(v >= 0 && v <= MAX_CHECKPOINT_VALUE && v == floor(v)))
            return clg_ctx_set_error(s->ctx, CLG_ERR_INVALID,
                                     "%s: value %s=%s is out of range: must be a whole number "
                                     "between 0 and 2^53", cli_short(what),
                                     cli_short(set->meta_key[i]), cli_short(set->meta_val[i]));
        if (!strcmp(k, "sched.lr") && !(isfinite(v) && v >= 0))
            return clg_ctx_set_error(s->ctx, CLG_ERR_INVALID,
                                     "%s: value %s=%s is out of range: must be finite and >= 0",
                                     cli_short(what), cli_short(set->meta_key[i]),
                                     cli_short(set->meta_val[i]));
        st = clg_trainer_value_set(tr, set->meta_key[i] + 6, v);
    }
    *epoch = (int)e;
    return st;
}

/* Weights from a file: every F32 value finite, else the tensor is named. */
static clg_status check_finite(session *s, const clg_tensor_set *set, const char *flag,
                               const char *path)
{
    for (int i = 0; i < set->n; i++) {
        const clg_named_tensor *t = &set->t[i];
        if (t->dtype != CLG_F32 || !t->data)
            continue;
        const float *v = t->data;
        size_t n = t->bytes / sizeof(float);
        for (size_t k = 0; k < n; k++)
            if (!isfinite(v[k]))
                return clg_ctx_set_error(s->ctx, CLG_ERR_INVALID,
                                         "%s %s: tensor '%s' holds a non-finite value (%g at "
                                         "element %zu); refusing to start from it", flag,
                                         cli_short(path), cli_short(t->name), (double)v[k], k);
    }
    return CLG_OK;
}

/* The saved arguments of a checkpoint, less those a resume never replays
 * (outputs, plugins, a backend path, --init), parsed under the current ones.
 * *saved gets the recorded run's options alone, to compare with. */
static int merge_saved_argv(session *s, const clg_tensor_set *set, int argc, char **argv,
                            cli_opts *saved)
{
    const char *js = clg_tensor_set_get_meta(set, "argv");
    json_object *a = js ? json_tokener_parse(js) : NULL;
    if (!a || !json_object_is_type(a, json_type_array)) {
        json_object_put(a);
        cli_error("--resume %s: the checkpoint does not record its arguments",
                  cli_short(s->o.resume));
        return -1;
    }
    int n = (int)json_object_array_length(a);
    char **rec = calloc((size_t)n + 1, sizeof *rec), **keep = calloc((size_t)n + 1, sizeof *keep);
    char **v = calloc((size_t)(n + argc) + 1, sizeof *v);
    int rc = rec && keep && v ? 0 : -1;
    for (int i = 0; !rc && i < n; i++) {
        const char *str = json_object_get_string(json_object_array_get_idx(a, i));
        if (!str || !(rec[i] = strdup(str)))
            rc = -1;
    }
    json_object_put(a);
    if (rc) {
        cli_error("--resume %s: the checkpoint's recorded arguments are not strings (or out of "
                  "memory)", cli_short(s->o.resume));
        goto out;
    }
    int nk = 0, nd = 0;
    char *dropped[CLI_MAX_PLUGINS];
    if (cli_replay_filter(n, rec, keep, &nk, dropped, &nd)) {
        cli_error("--resume %s: the checkpoint's recorded arguments are malformed",
                  cli_short(s->o.resume));
        rc = -1;
        goto out;
    }
    for (int i = 0; i < nd; i++)
        if ((s->recorded_plugins[s->n_recorded] = strdup(dropped[i])))
            s->n_recorded++;
    for (int i = 0; i < nk; i++)
        v[i] = strdup(keep[i]);
    for (int i = 0; i < argc; i++)
        v[nk + i] = strdup(argv[i]);
    for (int i = 0; i < nk + argc; i++)
        if (!v[i]) {
            cli_error("out of memory");
            rc = -1;
        }
    /* the session owns v from here; *saved points into it */
    s->argv_saved = v;
    s->argc_saved = nk + argc;
    v = NULL;
    cli_opts_default(saved);
    if (!rc && cli_parse_options(saved, nk, s->argv_saved, 0, 0)) {
        cli_error("--resume %s: the checkpoint's recorded arguments (above) are not valid",
                  cli_short(s->o.resume));
        rc = -1;
    }
    if (!rc) {
        cli_opts_default(&s->o);
        rc = cli_parse_options(&s->o, s->argc_saved, s->argv_saved, 0, 0);
    }
out:
    for (int i = 0; rec && i < n; i++)
        free(rec[i]);
    free(rec);
    free(keep);
    free(v);
    return rc;
}

static const char *or_default(const char *v)
{
    return v ? v : "(the default)";
}

/* An option given again on --resume either takes effect (--epochs, the
 * device, the outputs, --plugin) or, when it would change the trajectory
 * the checkpoint continues, is refused with both values. Returns 0 or -1. */
static int check_resume_changes(clg_ctx *ctx, const cli_opts *cur, const cli_opts *sv)
{
    static const char why[] = "a resumed run continues the checkpoint's run, so its data, model, "
                              "loss, optimizer, learning rate, schedule and batching stay as "
                              "recorded (start a new run with --init to change them)";
    char a[64], b[64];
#define DIFF_STR(flag, x, y)                                                                  \
    if (cli_given(cur, flag) && strcmp(or_default(x), or_default(y))) {                       \
        cli_error("--resume: %s %s differs from the checkpoint's run (%s %s); %s", flag,      \
                  cli_short(or_default(x)), flag, cli_short(or_default(y)), why);             \
        return -1;                                                                            \
    }
#define DIFF_NUM(flag, x, y)                                                                  \
    if (cli_given(cur, flag) && (x) != (y)) {                                                 \
        snprintf(a, sizeof a, "%.17g", (double)(x));                                          \
        snprintf(b, sizeof b, "%.17g", (double)(y));                                          \
        cli_error("--resume: %s %s differs from the checkpoint's run (%s %s); %s", flag, a,   \
                  flag, b, why);                                                              \
        return -1;                                                                            \
    }
    DIFF_STR("--data", cur->data, sv->data);
    DIFF_NUM("--val-split", cur->val_split, sv->val_split);
    if (cli_given(cur, "--model")) {
        static cli_model m1, m2;
        if (cli_model_parse(ctx, cur->model, &m1) != CLG_OK ||
            cli_model_parse(ctx, sv->model, &m2) != CLG_OK) {
            cli_error("--model: %s", clg_ctx_error(ctx));
            return -1;
        }
        char detail[400] = "";
        if (!cli_model_same(&m1, &m2, detail, sizeof detail)) {
            cli_error("--resume: --model %s differs from the checkpoint's run (--model %s)%s; %s",
                      cli_short(cur->model), cli_short(sv->model), detail, why);
            return -1;
        }
    }
    DIFF_STR("--loss", cur->loss, sv->loss);
    DIFF_STR("--freeze", cur->freeze, sv->freeze);
    DIFF_STR("--lr-scale", cur->lr_scale, sv->lr_scale);
    if (cli_given(cur, "--optimizer") && strcmp(cur->optimizer, sv->optimizer)) {
        size_t n1 = strcspn(cur->optimizer, ":"), n2 = strcspn(sv->optimizer, ":");
        int kind = n1 != n2 || strncmp(cur->optimizer, sv->optimizer, n1);
        cli_error("--resume: --optimizer %s differs from the checkpoint's run (--optimizer %s)%s; "
                  "%s", cli_short(cur->optimizer), cli_short(sv->optimizer),
                  kind ? ": another optimizer kind" : ": other hyperparameters", why);
        return -1;
    }
    if (cli_given(cur, "--lr") && cur->lr != sv->lr) {
        cli_error("--resume: --lr %g differs from the checkpoint's run (--lr %g): the learning "
                  "rate is restored with the optimizer and scheduler state; %s", cur->lr, sv->lr,
                  why);
        return -1;
    }
    DIFF_STR("--scheduler", cur->scheduler, sv->scheduler);
    DIFF_NUM("--clip-grad-norm", cur->clip_grad_norm, sv->clip_grad_norm);
    DIFF_NUM("--accumulate", (cur->accumulate > 1 ? cur->accumulate : 1),
             (sv->accumulate > 1 ? sv->accumulate : 1));
    DIFF_NUM("--batch-size", cur->batch_size, sv->batch_size);
    DIFF_NUM("--seed", cur->seed, sv->seed);
    if (cli_given(cur, "--no-shuffle") && !sv->no_shuffle) {
        cli_error("--resume: --no-shuffle differs from the checkpoint's run (it shuffled); %s", why);
        return -1;
    }
    if (cli_given(cur, "--drop-last") && !sv->drop_last) {
        cli_error("--resume: --drop-last differs from the checkpoint's run (it kept the last "
                  "partial batch); %s", why);
        return -1;
    }
#undef DIFF_STR
#undef DIFF_NUM
    return 0;
}

/* The optimizer spec sets its own lr= key. */
static int spec_has_key(const char *spec, const char *key)
{
    const char *c = strchr(spec, ':');
    size_t kl = strlen(key);
    while (c) {
        c++;
        if (!strncmp(c, key, kl) && c[kl] == '=')
            return 1;
        c = strchr(c, ',');
    }
    return 0;
}

/* --------------------------------------------------------------- session */

/* Checks each scheduler of a '+' chain against its schema (without the
 * trainer's own interval key), so a bad name fails before data is read. */
clg_status cli_check_scheduler(clg_ctx *ctx, const char *spec)
{
    char *copy = strdup(spec);
    if (!copy)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    clg_status st = CLG_OK;
    char *part = copy;
    while (part && st == CLG_OK) {
        char *next = part;
        /* a '+' followed by a letter starts the next scheduler */
        while ((next = strchr(next, '+')) && !((next[1] >= 'a' && next[1] <= 'z') ||
                                               (next[1] >= 'A' && next[1] <= 'Z')))
            next++;
        if (next)
            *next++ = '\0';
        char buf[512] = "";
        size_t used = 0;
        char *colon = strchr(part, ':');
        if (colon)
            *colon = '\0';
        used += (size_t)snprintf(buf, sizeof buf, "%s", part);
        for (char *kv = colon ? strtok(colon + 1, ",") : NULL; kv; kv = strtok(NULL, ","))
            if (strncmp(kv, "interval=", 9) && used < sizeof buf)
                used += (size_t)snprintf(buf + used, sizeof buf - used, "%c%s",
                                         strchr(buf, ':') ? ',' : ':', kv);
        clg_hparams *hp = NULL;
        st = clg_hparams_parse(ctx, CLG_COMPONENT_SCHEDULER, buf, &hp);
        clg_hparams_free(hp);
        part = next;
    }
    free(copy);
    return st;
}

/* Everything before the first step: plugins, device, data, model. */
static int setup(session *s, int eval_mode)
{
    cli_opts *o = &s->o;
    /* A backend given as a path is dlopen'ed: a FIFO there would block. */
    if (strchr(o->backend, '/') && cli_check_input("--backend", o->backend, 0))
        return 1;
    for (int i = 0; i < o->n_plugins; i++)
        if (clg_plugins_load(s->ctx, o->plugins[i]) != CLG_OK)
            return fail(s, NULL);
    if (cli_model_parse(s->ctx, o->model, &s->model) != CLG_OK)
        return fail(s, NULL);
    /* Names are checked before any data is read. */
    clg_hparams *hp = NULL;
    if (o->loss) {
        if (clg_hparams_parse(s->ctx, CLG_COMPONENT_LOSS, o->loss, &hp) != CLG_OK)
            return fail(s, "--loss");
        clg_hparams_free(hp);
    }
    if (!eval_mode) {
        if (clg_hparams_parse(s->ctx, CLG_COMPONENT_OPTIMIZER, o->optimizer, &hp) != CLG_OK)
            return fail(s, "--optimizer");
        clg_hparams_free(hp);
        if (o->scheduler && cli_check_scheduler(s->ctx, o->scheduler) != CLG_OK)
            return fail(s, "--scheduler");
        if (o->plot && cli_plot_check(o->plot))
            return 1;
    }
    if (open_device(s) != CLG_OK)
        return fail(s, "--backend");
    if (cli_data_load(s->ctx, o, o->loss && loss_wants_indices(s->ctx, o->loss), &s->data) != CLG_OK)
        return fail(s, "--data");
    clg_dataset *tr = s->data.train;
    s->classifying = tr->classes > 0;
    snprintf(s->loss_spec, sizeof s->loss_spec, "%s",
             o->loss ? o->loss : s->classifying ? "cross-entropy" : "mse");
    s->onehot = s->classifying && !loss_wants_indices(s->ctx, s->loss_spec);
    s->n_features = tr->n_features;
    s->n_out = s->classifying ? tr->classes : tr->n_targets;
    clg_rng_seed(&s->init_rng, o->seed);
    clg_rng_seed(&s->shuffle_rng, o->seed ^ 0x9e3779b97f4a7c15ULL);
    return 0;
}

static void teardown(session *s)
{
    for (int i = 0; i < s->n_eval; i++)
        clg_plan_free(s->eval[i].plan);
    cli_data_free(&s->data);
    clg_store_free(s->st);
    clg_device_close(s->dev);
    clg_ctx_free(s->ctx);
    for (int i = 0; i < s->argc_saved; i++)
        free(s->argv_saved[i]);
    free(s->argv_saved);
    for (int i = 0; i < s->n_recorded; i++)
        free(s->recorded_plugins[i]);
}

static char **copy_argv(int argc, char **argv)
{
    char **v = calloc((size_t)(argc ? argc : 1), sizeof *v);
    for (int i = 0; v && i < argc; i++)
        v[i] = strdup(argv[i]);
    return v;
}

static int train_loop(session *s, int argc, char **argv, clg_tensor_set *ckpt);

/* Outputs: each one absent or a regular file in a writable directory, none
 * of them one of the inputs, all checked before any data is read. */
static int check_files(const cli_opts *o)
{
    if (o->init && cli_check_input("--init", o->init, 0))
        return -1;
    if (o->save && cli_check_output("--save", o->save))
        return -1;
    if (o->metrics && cli_check_output("--metrics", o->metrics))
        return -1;
    if (o->plot && cli_check_output("--plot", o->plot))
        return -1;
    if (o->tensorboard && cli_check_output_dir("--tensorboard", o->tensorboard))
        return -1;
    if (o->checkpoint_dir) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", o->checkpoint_dir, CLG_CHECKPOINT_FILE);
        struct stat sb;
        if (lstat(p, &sb) == 0 && cli_check_output(o->resume ? "--resume" : "--checkpoint-dir", p))
            return -1;
    }
    return cli_check_distinct(o);
}

int cli_train(int argc, char **argv)
{
    return cli_train_hooked(argc, argv, NULL);
}

int cli_train_hooked(int argc, char **argv, const cli_step_hook *hook)
{
    session s;
    memset(&s, 0, sizeof s);
    s.hook = hook;
    cli_opts_default(&s.o);
    if (cli_parse_options(&s.o, argc, argv, 0, 0))
        return 2;
    cli_opts cur = s.o; /* this command line alone */
    if (cli_given(&cur, "--optimizer") && cli_given(&cur, "--lr") &&
        spec_has_key(cur.optimizer, "lr")) {
        cli_error("--optimizer %s and --lr %g conflict: both set the learning rate (give one)",
                  cli_short(cur.optimizer), cur.lr);
        return 2;
    }
    if (cur.resume) {
        if (cur.init) {
            cli_error("--init %s and --resume %s conflict: a resumed run starts from the "
                      "checkpoint's weights", cli_short(cur.init), cli_short(cur.resume));
            return 2;
        }
        if (cur.checkpoint_dir && strcmp(cur.checkpoint_dir, cur.resume)) {
            cli_error("--checkpoint-dir %s and --resume %s conflict: a resumed run writes its "
                      "checkpoints to the directory it resumes (copy the directory to branch "
                      "off)", cli_short(cur.checkpoint_dir), cli_short(cur.resume));
            return 2;
        }
        struct stat rs;
        if (stat(cur.resume, &rs) == 0 && !S_ISDIR(rs.st_mode)) {
            cli_error("--resume %s: is %s, not a checkpoint directory", cli_short(cur.resume),
                      cli_file_kind(rs.st_mode));
            return 1;
        }
    }
    s.ctx = clg_ctx_new();
    if (!s.ctx) {
        cli_error("out of memory");
        return 1;
    }
    clg_tensor_set *ckpt = NULL;
    int rc = 0;
    /* The process group first (a --plugin may bring the collective), and
     * every rank started with the same arguments. Only rank 0 locks, writes
     * and prints. */
    for (int i = 0; i < s.o.n_plugins; i++)
        if (clg_plugins_load(s.ctx, s.o.plugins[i]) != CLG_OK) {
            rc = fail(&s, NULL);
            goto out;
        }
    if (cli_dist_open(s.ctx, s.o.collective, &s.dist) ||
        cli_dist_check_args(s.ctx, &s.dist, argc, argv)) {
        rc = 2;
        goto out;
    }
    int root = s.dist.rank == 0;
    if (s.o.resume) {
        /* The lock first: no other run may be writing the checkpoint we read. */
        struct stat rs;
        if (root && stat(s.o.resume, &rs) == 0 && cli_lock_dir("--resume", s.o.resume)) {
            rc = 1;
            goto out;
        }
        if (clg_checkpoint_load(s.ctx, s.o.resume, &ckpt) != CLG_OK) {
            rc = fail(&s, "--resume");
            goto out;
        }
        cli_opts saved;
        if (merge_saved_argv(&s, ckpt, argc, argv, &saved) ||
            check_resume_changes(s.ctx, &cur, &saved)) {
            rc = 2;
            goto out;
        }
        /* Checkpoints of a resumed run go to the directory it resumes. */
        s.o.checkpoint_dir = s.o.resume;
        if (root && check_files(&s.o)) {
            rc = 1;
            goto out;
        }
    } else {
        if ((root && check_files(&s.o)) ||
            (root && s.o.checkpoint_dir &&
             (cli_check_output_dir("--checkpoint-dir", s.o.checkpoint_dir) ||
              cli_lock_dir("--checkpoint-dir", s.o.checkpoint_dir)))) {
            rc = 1;
            goto out;
        }
        s.argv_saved = copy_argv(argc, argv);
        s.argc_saved = s.argv_saved ? argc : 0;
    }
    if (!root) {
        /* Rank 0 alone writes and prints; the others only train. */
        s.o.save = s.o.metrics = s.o.plot = s.o.checkpoint_dir = s.o.tensorboard = NULL;
        s.o.quiet = 1;
        s.o.json = 0;
    }
    rc = train_loop(&s, argc, argv, ckpt);
out:
    /* A rank that fails must not leave the others waiting in an allreduce:
     * the whole group stops. */
    if (rc && s.dist.size > 1) {
        fflush(NULL);
        clg_collective_abort(s.dist.coll, rc);
    }
    clg_tensor_set_free(ckpt);
    cli_dist_close(&s.dist); /* before the context unloads the collective's module */
    teardown(&s);
    return rc;
}

/* --init or --save: the model's tensors, by their state_dict names,
 * loaded from or saved to a safetensors file. */
typedef clg_status params_io_fn(clg_store *, const char *, const char *const *, int);
static clg_status params_file_io(session *s, clg_trainer *tr, const char *path, params_io_fn *io)
{
    /* the model's state_dict: parameters and buffers (BatchNorm's running
     * statistics), not the trainer's state or scratch */
    (void)tr;
    int n = clg_store_count(s->st), np = 0;
    const char **names = malloc((size_t)(n ? n : 1) * sizeof *names);
    if (!names)
        return clg_ctx_set_error(s->ctx, CLG_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++)
        if (clg_store_kind(s->st, i) == CLG_TENSOR_PARAMETER ||
            clg_store_kind(s->st, i) == CLG_TENSOR_BUFFER)
            names[np++] = clg_store_name(s->st, i);
    clg_status st = io(s->st, path, names, np);
    free(names);
    return st;
}

/* --init: clg_store_load_file's strict load, after a check that every
 * weight is finite. */
static session *init_session;
static clg_status load_init(clg_store *st, const char *path, const char *const *names, int n)
{
    session *s = init_session;
    clg_tensor_set *set = NULL;
    clg_status rc = clg_safetensors_read(s->ctx, path, &set);
    if (rc == CLG_OK)
        rc = check_finite(s, set, "--init", path);
    if (rc == CLG_OK && s->o.init_partial)
        rc = cli_init_partial(s->ctx, st, set, path, names, n, s->o.init_skip, s->o.quiet);
    else if (rc == CLG_OK)
        rc = clg_tensor_set_to_store(set, path, st, names, n, 1);
    clg_tensor_set_free(set);
    return rc;
}

static clg_status save_f16(clg_store *st, const char *path, const char *const *names, int n)
{
    return cli_save_dtype(st, path, names, n, CLG_F16);
}

static clg_status save_bf16(clg_store *st, const char *path, const char *const *names, int n)
{
    return cli_save_dtype(st, path, names, n, CLG_BF16);
}

/* The training plan's kernels per step and the device memory of a step (the
 * plan's own buffers and the store's tensors), for --json: what a bench
 * compares before and after a compiler change. */
static void plan_cost(const session *s, clg_trainer *tr, cli_epoch *e)
{
    clg_plan_usage u;
    e->kernels_per_step = -1;
    if (clg_plan_usage_get(clg_trainer_plan(tr), &u) != CLG_OK)
        return;
    e->kernels_per_step = u.kernels_last_run;
    size_t bytes = u.device_bytes;
    for (int i = 0; i < clg_store_count(s->st); i++) {
        clg_shape sh = clg_store_shape(s->st, i);
        bytes += (size_t)clg_shape_numel(&sh) * clg_dtype_size(clg_store_dtype(s->st, i));
    }
    e->peak_bytes = bytes;
}

static int train_loop(session *s, int argc, char **argv, clg_tensor_set *ckpt)
{
    init_session = s;
    (void)argc;
    (void)argv;
    cli_opts *o = &s->o;
    int rc = setup(s, 0);
    if (rc)
        return rc;
    clg_trainer *main_tr = NULL, *tail_tr = NULL;
    clg_batcher *b = NULL;
    cli_report *rep = NULL;
    cli_tb *tb = NULL;
    int64_t B = o->batch_size < s->data.train->n ? o->batch_size : s->data.train->n;
    int64_t n_train = s->data.train->n;
    int64_t tail = o->drop_last ? 0 : n_train % B;
    int start_epoch = 0;
    double last_lr = o->lr;

    int64_t batches = o->drop_last ? n_train / B : (n_train + B - 1) / B;
    /* Each global batch of B is cut into one contiguous shard per rank. */
    int ranks = s->dist.size;
    if (B % ranks) {
        cli_error("--batch-size %lld: %d processes cannot share it evenly (give a batch size "
                  "divisible by %d)", (long long)B, ranks, ranks);
        rc = 2;
        goto done;
    }
    int64_t shard = B / ranks, tail_first = 0, tail_rows = 0;
    cli_dist_shard(&s->dist, tail, &tail_first, &tail_rows);
    if (o->accumulate > batches) {
        cli_error("--accumulate %d and --batch-size %lld conflict: an epoch of %lld samples has "
                  "only %lld batch%s, fewer than the %d to accumulate per optimizer step",
                  o->accumulate, (long long)o->batch_size, (long long)n_train, (long long)batches,
                  batches == 1 ? "" : "es", o->accumulate);
        rc = 2;
        goto done;
    }
    if (make_trainer(s, shard, &main_tr) != CLG_OK) {
        rc = fail(s, NULL);
        goto done;
    }
    if (ckpt) {
        if (restore_checkpoint(s, ckpt, main_tr, &start_epoch) != CLG_OK) {
            rc = fail(s, "--resume");
            goto done;
        }
    } else if (o->init) {
        if (params_file_io(s, main_tr, o->init, load_init) != CLG_OK) {
            rc = fail(s, "--init");
            goto done;
        }
    }
    /* Every rank starts from rank 0's weights (its --init or checkpoint). */
    if (cli_dist_bcast_store(&s->dist, s->st) != CLG_OK) {
        rc = fail(s, NULL);
        goto done;
    }
    /* A rank whose shard of the last partial batch is empty still takes
     * part in the allreduce: with one row and a weight of 0. */
    if (tail > 0 && make_trainer(s, tail_rows > 0 ? tail_rows : 1, &tail_tr) != CLG_OK) {
        rc = fail(s, NULL);
        goto done;
    }
    if (clg_batcher_new(s->ctx, s->data.train, B, !o->no_shuffle, o->drop_last, &b) != CLG_OK) {
        rc = fail(s, NULL);
        goto done;
    }
    /* A resumed run appends to the metrics of the run it continues. */
    rep = cli_report_new(o, s->classifying, ckpt != NULL, start_epoch);
    if (!rep) {
        rc = 1;
        goto done;
    }
    /* (a resume with nothing to train leaves no empty event file) */
    if (o->tensorboard && !(ckpt && start_epoch >= o->epochs) &&
        !(tb = cli_tb_train_open(o->tensorboard))) {
        rc = 1;
        goto done;
    }
    if (ckpt && start_epoch >= o->epochs)
        cli_report_nothing(rep, o->resume, start_epoch, o->epochs);
    double final_loss = NAN, final_acc = NAN;
    int64_t n_steps = 0; /* micro-batches run by this invocation */
    /* --stop-on-divergence: the first step's loss, and what stopped the run */
    double first_loss = NAN, bad_loss = NAN;
    int stopped = 0, diverged = 0;
    for (int epoch = start_epoch + 1; epoch <= o->epochs && !stopped; epoch++) {
        double t0 = now();
        clg_batcher_epoch(b, &s->shuffle_rng);
        clg_batch bt;
        double lsum = 0;
        int64_t done_n = 0;
        clg_status st = CLG_OK;
        while (st == CLG_OK && clg_batcher_next(b, &bt)) {
            clg_trainer *tr = bt.size == B ? main_tr : tail_tr;
            /* This rank's rows of the global batch */
            int64_t first = tr == main_tr ? shard * s->dist.rank : tail_first;
            int64_t rows = tr == main_tr ? shard : tail_rows;
            int64_t fed = rows > 0 ? rows : 1;
            if (rows == 0)
                first = 0;
            if (tr == tail_tr)
                st = sync_values(main_tr, tail_tr);
            if (st == CLG_OK && ranks > 1)
                st = clg_trainer_set_sync_weight(tr, (double)rows / (double)bt.size);
            if (st == CLG_OK)
                st = clg_trainer_set_input(tr, "x", bt.x + first * s->n_features,
                                           (size_t)(fed * s->n_features) * sizeof(float));
            if (st == CLG_OK)
                st = clg_trainer_set_input(tr, "target",
                                           s->classifying
                                               ? (const void *)(bt.labels + first * clg_dataset_label_len(s->data.train))
                                               : (const void *)(bt.y + first * s->data.train->n_targets),
                                           target_bytes(s, fed));
            if (st == CLG_OK && s->hook && s->hook->before && s->hook->before(s->hook->arg, tr)) {
                stopped = 1;
                break;
            }
            last_lr = clg_trainer_lr(tr);
            float l = 0;
            if (st == CLG_OK)
                st = clg_trainer_step(tr, &l);
            if (st == CLG_OK && tr == tail_tr)
                st = sync_values(tail_tr, main_tr);
            double lb = o->accumulate > 1 ? (double)l * o->accumulate : (double)l;
            if (st == CLG_OK && s->hook && s->hook->after && s->hook->after(s->hook->arg, lb)) {
                stopped = 1;
                break;
            }
            /* The loss is read every step anyway (the progress bar and the
             * finite check), so this costs no extra device sync. */
            if (st == CLG_OK && o->stop_on_divergence) {
                if (n_steps == 0)
                    first_loss = lb;
                /* Each rank sees its own shard's loss: the group decides
                 * together (one number summed per step), else a rank that
                 * stopped alone would leave the others in an allreduce. */
                double vote = rows > 0 && (!isfinite(lb) || (first_loss > 0 && lb > 4 * first_loss));
                if (ranks > 1)
                    st = cli_dist_sum(&s->dist, &vote, 1);
                if (st == CLG_OK && vote > 0) {
                    bad_loss = lb;
                    stopped = diverged = 1;
                    n_steps++;
                    break;
                }
            }
            if (st == CLG_OK && !isfinite(lb))
                st = clg_ctx_set_error(s->ctx, CLG_ERR_INVALID,
                                       "epoch %d: the training loss became %g (lower --lr?)", epoch,
                                       lb);
            lsum += lb * (double)rows;
            done_n += rows;
            n_steps++;
            cli_report_progress(rep, epoch, o->epochs, done_n * ranks, o->drop_last ? n_train / B * B : n_train,
                                lsum / (double)done_n);
            /* Every epoch runs `batches` of them: the batch number goes on
             * across a resume. The losses are this rank's alone. */
            if (tb && st == CLG_OK &&
                cli_tb_train_step(tb, (int64_t)start_epoch * batches + n_steps,
                                  ranks == 1 ? lb : NAN, ranks == 1 ? lsum / (double)done_n : NAN,
                                  last_lr)) {
                rc = 1;
                goto done;
            }
        }
        if (st != CLG_OK) {
            rc = fail(s, NULL);
            goto done;
        }
        if (diverged) {
            if (o->json) {
                printf("{\"diverged\": true, \"epoch\": %d, \"step\": %lld, ", epoch,
                       (long long)n_steps);
                printf(isfinite(bad_loss) ? "\"loss\": %.9g, " : "\"loss\": null, ", bad_loss);
                printf("\"first_loss\": %.9g}\n", first_loss);
            }
            cli_error("epoch %d, step %lld: the training loss became %g (the first step's was %g): "
                      "diverged, stopped (--stop-on-divergence; lower --lr?)", epoch,
                      (long long)n_steps, bad_loss, first_loss);
            rc = CLI_EXIT_DIVERGED;
            goto done;
        }
        if (stopped)
            break;
        /* The epoch's loss over every rank's rows. */
        double sums[2] = { lsum, (double)done_n };
        if (cli_dist_sum(&s->dist, sums, 2) != CLG_OK) {
            rc = fail(s, NULL);
            goto done;
        }
        double t_train = now() - t0;
        cli_epoch e = { .epoch = epoch, .epochs = o->epochs, .train_loss = sums[0] / sums[1],
                        .test_loss = NAN, .test_accuracy = NAN, .lr = last_lr, .ranks = ranks };
        done_n = (int64_t)sums[1];
        plan_cost(s, main_tr, &e);
        if (ranks > 1) {
            int64_t steps = n_steps;
            double sync = clg_trainer_sync_seconds(main_tr) +
                          (tail_tr ? clg_trainer_sync_seconds(tail_tr) : 0);
            e.sync_ms = steps > 0 ? 1e3 * sync / (double)steps : NAN;
            /* Every rank applied the same update to the same weights. */
            int same = 0;
            if (cli_dist_same_weights(&s->dist, s->st, &same) != 0 || !same) {
                cli_error("epoch %d: the ranks' weights differ (rank %d): the job stops", epoch,
                          s->dist.rank);
                rc = 1;
                goto done;
            }
        }
        if (s->data.test && !s->hook &&
            evaluate(s, s->data.test, &e.test_loss, &e.test_accuracy) != CLG_OK) {
            rc = fail(s, "evaluation");
            goto done;
        }
        e.test_bits_per_byte = s->data.train->dtype == CLG_I32 ? e.test_loss / log(2.0) : NAN;
        e.nonfinite = !isfinite(e.train_loss) || (s->data.test && !isfinite(e.test_loss));
        if (clg_trainer_epoch_end(main_tr, isnan(e.test_loss) ? e.train_loss : e.test_loss) != CLG_OK) {
            rc = fail(s, NULL);
            goto done;
        }
        e.seconds = now() - t0;
        e.samples_per_s = (double)done_n / (t_train > 0 ? t_train : 1e-9);
        final_loss = e.test_loss;
        final_acc = e.test_accuracy;
        if (!s->hook && (cli_report_epoch(rep, &e) ||
                         (tb && cli_tb_train_epoch(tb, &e, s->data.test != NULL, s->classifying)))) {
            rc = 1;
            goto done;
        }
        if (o->checkpoint_dir && save_checkpoint(s, main_tr, epoch) != CLG_OK) {
            rc = fail(s, "--checkpoint-dir");
            goto done;
        }
    }
    if (o->save) {
        if (params_file_io(s, main_tr, o->save,
                           o->save_dtype == CLG_F16    ? save_f16
                           : o->save_dtype == CLG_BF16 ? save_bf16
                                                       : clg_store_save_file) != CLG_OK) {
            rc = fail(s, "--save");
            goto done;
        }
    }
    if (cli_report_finish(rep)) {
        rc = 1;
        goto done;
    }
    if (!o->json && !o->quiet && !isnan(final_loss)) {
        printf("final %s: test_loss %.6f", s->data.test_name, final_loss);
        if (!isnan(final_acc))
            printf("  test_accuracy %.4f", final_acc);
        printf("\n");
    }
done:
    if (cli_tb_train_close(tb))
        rc = rc ? rc : 1;
    cli_report_free(rep);
    clg_batcher_free(b);
    clg_trainer_free(tail_tr);
    clg_trainer_free(main_tr);
    return rc;
}

int cli_eval(int argc, char **argv)
{
    session s;
    memset(&s, 0, sizeof s);
    cli_opts_default(&s.o);
    if (cli_parse_options(&s.o, argc, argv, 0, 1))
        return 2;
    if (!s.o.load) {
        cli_error("eval needs --load FILE (weights saved by train --save, a checkpoint, or a "
                  "PyTorch state_dict in safetensors)");
        return 2;
    }
    s.ctx = clg_ctx_new();
    if (!s.ctx) {
        cli_error("out of memory");
        return 1;
    }
    int rc = setup(&s, 1);
    clg_tensor_set *set = NULL;
    if (rc)
        goto out;
    const clg_dataset *ds = s.data.test ? s.data.test : s.data.train;
    /* Builds the parameters in the store. */
    if (!eval_plan_for(&s, ds->n < 1000 ? ds->n : 1000)) {
        rc = fail(&s, NULL);
        goto out;
    }
    char path[4200];
    struct stat sb;
    if (stat(s.o.load, &sb) != 0) {
        cli_error("--load %s: cannot open: %s", cli_short(s.o.load), strerror(errno));
        rc = 1;
        goto out;
    }
    if (S_ISDIR(sb.st_mode))
        snprintf(path, sizeof path, "%s/%s", s.o.load, CLG_CHECKPOINT_FILE);
    else
        snprintf(path, sizeof path, "%s", s.o.load);
    if (clg_safetensors_read(s.ctx, path, &set) != CLG_OK) {
        rc = fail(&s, "--load");
        goto out;
    }
    const char *fmt = clg_tensor_set_get_meta(set, "format");
    /* A checkpoint also holds optimizer state: take the model's tensors only.
     * A current one is verified; one from before checksums is read as is. */
    int is_ckpt = fmt && (!strcmp(fmt, CHECKPOINT_FORMAT) || !strcmp(fmt, CHECKPOINT_FORMAT_1));
    int strict = !is_ckpt;
    if (fmt && !strcmp(fmt, CHECKPOINT_FORMAT) && clg_checkpoint_verify(s.ctx, path, set) != CLG_OK) {
        rc = fail(&s, "--load");
        goto out;
    }
    if (clg_tensor_set_to_store(set, path, s.st, NULL, 0, strict) != CLG_OK) {
        rc = fail(&s, "--load");
        goto out;
    }
    double loss, acc;
    if (evaluate(&s, ds, &loss, &acc) != CLG_OK) {
        rc = fail(&s, "eval");
        goto out;
    }
    const char *which = s.data.test ? s.data.test_name : "all";
    if (s.o.json) {
        /* valid JSON always: a non-finite loss is null */
        printf("{\"samples\": %lld, \"set\": \"%s\", \"loss\": ", (long long)ds->n, which);
        printf(isfinite(loss) ? "%.9g" : "null", loss);
        if (s.classifying)
            printf(isfinite(acc) ? ", \"accuracy\": %.9g" : ", \"accuracy\": null", acc);
        printf("}\n");
    } else {
        printf("%s (%lld samples): loss %.6f", which, (long long)ds->n, loss);
        if (s.classifying)
            printf("  accuracy %.4f", acc);
        printf("\n");
    }
    if (!isfinite(loss)) {
        cli_error("eval: the loss of %s on %s is %s: these weights do not give a finite loss",
                  cli_short(s.o.load), which, isnan(loss) ? "nan" : "inf");
        rc = 1;
    }
out:
    clg_tensor_set_free(set);
    teardown(&s);
    return rc;
}
