/* `clgrad train` and `clgrad eval`: data, model, loss and optimizer from the
 * options; one compiled training plan per distinct batch size (the last
 * partial batch gets its own, sharing the store), evaluation plans the same
 * way; checkpoints and exact resume. */
#include "cli.h"

#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#define CHECKPOINT_FORMAT "clgrad-checkpoint-1"
#define MAX_PLANS 4

typedef struct eval_plan {
    int64_t batch;
    clg_plan *plan;
    clg_t loss, correct;
} eval_plan;

typedef struct session {
    cli_opts o;
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
} session;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(session *s, const char *what)
{
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
        st = clg_trainer_new(g, s->st, loss, &to, out);
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

/* Mean loss and accuracy over a data set (eval mode: no update). */
static clg_status evaluate(session *s, const clg_dataset *ds, double *loss, double *acc)
{
    *loss = *acc = NAN;
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
    if (st == CLG_OK) {
        *loss = lsum / (double)ds->n;
        if (s->classifying)
            *acc = csum / (double)(ds->n * clg_dataset_label_len(ds));
    }
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

static clg_status save_checkpoint(session *s, clg_trainer *tr, int epoch)
{
    clg_tensor_set *set = clg_tensor_set_new();
    if (!set)
        return clg_ctx_set_error(s->ctx, CLG_ERR_NOMEM, "out of memory");
    clg_status st = clg_tensor_set_from_store(set, s->st, NULL, 0);
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
    long e = strtol(ep, &end, 10);
    if (*end || e < 0)
        return clg_ctx_set_error(s->ctx, CLG_ERR_INVALID, "--resume %s: bad epoch '%s'",
                                 s->o.resume, ep);
    char what[4200];
    snprintf(what, sizeof what, "%s/%s", s->o.resume, CLG_CHECKPOINT_FILE);
    clg_status st = clg_tensor_set_to_store(set, what, s->st, NULL, 0, 1);
    if (st == CLG_OK)
        st = clg_rng_from_string(s->ctx, clg_tensor_set_get_meta(set, "rng"), &s->shuffle_rng);
    for (int i = 0; st == CLG_OK && i < set->n_meta; i++) {
        if (strncmp(set->meta_key[i], "value.", 6))
            continue;
        double v = strtod(set->meta_val[i], &end);
        if (*end)
            return clg_ctx_set_error(s->ctx, CLG_ERR_INVALID, "%s: bad value %s='%s'", what,
                                     set->meta_key[i], set->meta_val[i]);
        st = clg_trainer_value_set(tr, set->meta_key[i] + 6, v);
    }
    *epoch = (int)e;
    return st;
}

/* The saved arguments of a checkpoint, parsed under the current ones. */
static int merge_saved_argv(session *s, const clg_tensor_set *set, int argc, char **argv)
{
    const char *js = clg_tensor_set_get_meta(set, "argv");
    json_object *a = js ? json_tokener_parse(js) : NULL;
    if (!a || !json_object_is_type(a, json_type_array)) {
        json_object_put(a);
        cli_error("--resume %s: the checkpoint does not record its arguments", s->o.resume);
        return -1;
    }
    int n = (int)json_object_array_length(a);
    char **v = calloc((size_t)(n + argc), sizeof *v);
    if (!v) {
        json_object_put(a);
        return -1;
    }
    for (int i = 0; i < n; i++)
        v[i] = strdup(json_object_get_string(json_object_array_get_idx(a, i)));
    json_object_put(a);
    for (int i = 0; i < argc; i++)
        v[n + i] = strdup(argv[i]);
    for (int i = 0; i < n + argc; i++)
        if (!v[i]) {
            cli_error("out of memory");
            return -1;
        }
    s->argv_saved = v;
    s->argc_saved = n + argc;
    cli_opts_default(&s->o);
    return cli_parse_options(&s->o, s->argc_saved, s->argv_saved, 0, 0);
}

/* --------------------------------------------------------------- session */

/* Checks each scheduler of a '+' chain against its schema (without the
 * trainer's own interval key), so a bad name fails before data is read. */
static clg_status check_scheduler(clg_ctx *ctx, const char *spec)
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
        if (o->scheduler && check_scheduler(s->ctx, o->scheduler) != CLG_OK)
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
}

static char **copy_argv(int argc, char **argv)
{
    char **v = calloc((size_t)(argc ? argc : 1), sizeof *v);
    for (int i = 0; v && i < argc; i++)
        v[i] = strdup(argv[i]);
    return v;
}

static int train_loop(session *s, int argc, char **argv, clg_tensor_set *ckpt);

int cli_train(int argc, char **argv)
{
    session s;
    memset(&s, 0, sizeof s);
    cli_opts_default(&s.o);
    if (cli_parse_options(&s.o, argc, argv, 0, 0))
        return 2;
    s.ctx = clg_ctx_new();
    if (!s.ctx) {
        cli_error("out of memory");
        return 1;
    }
    clg_tensor_set *ckpt = NULL;
    int rc = 0;
    if (s.o.resume) {
        if (clg_checkpoint_load(s.ctx, s.o.resume, &ckpt) != CLG_OK) {
            rc = fail(&s, "--resume");
            goto out;
        }
        if (merge_saved_argv(&s, ckpt, argc, argv)) {
            rc = 2;
            goto out;
        }
    } else {
        s.argv_saved = copy_argv(argc, argv);
        s.argc_saved = s.argv_saved ? argc : 0;
    }
    rc = train_loop(&s, argc, argv, ckpt);
out:
    clg_tensor_set_free(ckpt);
    teardown(&s);
    return rc;
}

/* --init or --save: the model's tensors, by their state_dict names,
 * loaded from or saved to a safetensors file. */
typedef clg_status params_io_fn(clg_store *, const char *, const char *const *, int);
static clg_status params_file_io(session *s, clg_trainer *tr, const char *path, params_io_fn *io)
{
    /* the model's state_dict: parameters and buffers (BatchNorm's running
     * statistics), not the trainer's state */
    (void)tr;
    int n = clg_store_count(s->st), np = 0;
    const char **names = malloc((size_t)(n ? n : 1) * sizeof *names);
    if (!names)
        return clg_ctx_set_error(s->ctx, CLG_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++)
        if (clg_store_kind(s->st, i) != CLG_TENSOR_STATE)
            names[np++] = clg_store_name(s->st, i);
    clg_status st = io(s->st, path, names, np);
    free(names);
    return st;
}

static int train_loop(session *s, int argc, char **argv, clg_tensor_set *ckpt)
{
    (void)argc;
    (void)argv;
    cli_opts *o = &s->o;
    int rc = setup(s, 0);
    if (rc)
        return rc;
    clg_trainer *main_tr = NULL, *tail_tr = NULL;
    clg_batcher *b = NULL;
    cli_report *rep = NULL;
    int64_t B = o->batch_size < s->data.train->n ? o->batch_size : s->data.train->n;
    int64_t n_train = s->data.train->n;
    int64_t tail = o->drop_last ? 0 : n_train % B;
    int start_epoch = 0;
    double last_lr = o->lr;

    if (make_trainer(s, B, &main_tr) != CLG_OK) {
        rc = fail(s, NULL);
        goto done;
    }
    if (ckpt) {
        if (restore_checkpoint(s, ckpt, main_tr, &start_epoch) != CLG_OK) {
            rc = fail(s, "--resume");
            goto done;
        }
    } else if (o->init) {
        if (params_file_io(s, main_tr, o->init, clg_store_load_file) != CLG_OK) {
            rc = fail(s, "--init");
            goto done;
        }
    }
    if (tail > 0 && make_trainer(s, tail, &tail_tr) != CLG_OK) {
        rc = fail(s, NULL);
        goto done;
    }
    if (clg_batcher_new(s->ctx, s->data.train, B, !o->no_shuffle, o->drop_last, &b) != CLG_OK) {
        rc = fail(s, NULL);
        goto done;
    }
    /* A resumed run appends to the metrics of the run it continues. */
    rep = cli_report_new(o, s->classifying, ckpt != NULL);
    if (!rep) {
        rc = 1;
        goto done;
    }
    if (start_epoch >= o->epochs && !o->quiet && !o->json)
        printf("checkpoint in %s is at epoch %d; nothing to train for --epochs %d\n", o->resume,
               start_epoch, o->epochs);
    double final_loss = NAN, final_acc = NAN;
    for (int epoch = start_epoch + 1; epoch <= o->epochs; epoch++) {
        double t0 = now();
        clg_batcher_epoch(b, &s->shuffle_rng);
        clg_batch bt;
        double lsum = 0;
        int64_t done_n = 0;
        clg_status st = CLG_OK;
        while (st == CLG_OK && clg_batcher_next(b, &bt)) {
            clg_trainer *tr = bt.size == B ? main_tr : tail_tr;
            if (tr == tail_tr)
                st = sync_values(main_tr, tail_tr);
            if (st == CLG_OK)
                st = clg_trainer_set_input(tr, "x", bt.x,
                                           (size_t)(bt.size * s->n_features) * sizeof(float));
            if (st == CLG_OK)
                st = clg_trainer_set_input(tr, "target",
                                           s->classifying ? (const void *)bt.labels
                                                          : (const void *)bt.y,
                                           target_bytes(s, bt.size));
            last_lr = clg_trainer_lr(tr);
            float l = 0;
            if (st == CLG_OK)
                st = clg_trainer_step(tr, &l);
            if (st == CLG_OK && tr == tail_tr)
                st = sync_values(tail_tr, main_tr);
            double lb = o->accumulate > 1 ? (double)l * o->accumulate : (double)l;
            if (st == CLG_OK && !isfinite(lb))
                st = clg_ctx_set_error(s->ctx, CLG_ERR_INVALID,
                                       "epoch %d: the training loss became %g (lower --lr?)", epoch,
                                       lb);
            lsum += lb * (double)bt.size;
            done_n += bt.size;
            cli_report_progress(rep, epoch, o->epochs, done_n, o->drop_last ? n_train / B * B : n_train,
                                lsum / (double)done_n);
        }
        if (st != CLG_OK) {
            rc = fail(s, NULL);
            goto done;
        }
        double t_train = now() - t0;
        cli_epoch e = { .epoch = epoch, .epochs = o->epochs, .train_loss = lsum / (double)done_n,
                        .test_loss = NAN, .test_accuracy = NAN, .lr = last_lr };
        if (s->data.test && evaluate(s, s->data.test, &e.test_loss, &e.test_accuracy) != CLG_OK) {
            rc = fail(s, "evaluation");
            goto done;
        }
        e.test_bits_per_byte = s->data.train->dtype == CLG_I32 ? e.test_loss / log(2.0) : NAN;
        if (clg_trainer_epoch_end(main_tr, isnan(e.test_loss) ? e.train_loss : e.test_loss) != CLG_OK) {
            rc = fail(s, NULL);
            goto done;
        }
        e.seconds = now() - t0;
        e.samples_per_s = (double)done_n / (t_train > 0 ? t_train : 1e-9);
        final_loss = e.test_loss;
        final_acc = e.test_accuracy;
        if (cli_report_epoch(rep, &e)) {
            rc = 1;
            goto done;
        }
        if (o->checkpoint_dir && save_checkpoint(s, main_tr, epoch) != CLG_OK) {
            rc = fail(s, "--checkpoint-dir");
            goto done;
        }
    }
    if (o->save) {
        if (params_file_io(s, main_tr, o->save, clg_store_save_file) != CLG_OK) {
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
    if (stat(s.o.load, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(path, sizeof path, "%s/%s", s.o.load, CLG_CHECKPOINT_FILE);
    else
        snprintf(path, sizeof path, "%s", s.o.load);
    if (clg_safetensors_read(s.ctx, path, &set) != CLG_OK) {
        rc = fail(&s, "--load");
        goto out;
    }
    const char *fmt = clg_tensor_set_get_meta(set, "format");
    /* A checkpoint also holds optimizer state: take the model's tensors only. */
    int strict = !(fmt && !strcmp(fmt, CHECKPOINT_FORMAT));
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
        printf("{\"samples\": %lld, \"set\": \"%s\", \"loss\": %.9g", (long long)ds->n, which, loss);
        if (s.classifying)
            printf(", \"accuracy\": %.9g", acc);
        printf("}\n");
    } else {
        printf("%s (%lld samples): loss %.6f", which, (long long)ds->n, loss);
        if (s.classifying)
            printf("  accuracy %.4f", acc);
        printf("\n");
    }
out:
    clg_tensor_set_free(set);
    teardown(&s);
    return rc;
}
