/* A complete library program: Fashion-MNIST train -> save -> load -> classify.
 *
 *   fashion_mnist [DIR] [N_TRAIN] [EPOCHS] [BACKEND] [OUT.safetensors] [N_TEST]
 *   (defaults: /usr/share/datasets/fashion-mnist 60000 2 cpu fmnist.safetensors 10000)
 *
 * Walks docs/library.md's path: data set -> batcher -> model built from
 * clg_linear -> trainer (with a second plan for the last partial batch) ->
 * an eval plan sharing the store -> a weights-only file -> an inference
 * program's empty store filled by clg_store_load_all -> predictions, which
 * must equal the trained model's. Exit 0 on success, 77 when the data set is
 * not there (the test then counts as skipped). */
#include <clgrad/data.h>
#include <clgrad/train.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B 64        /* training batch */
#define EB 500      /* evaluation batch */
#define HIDDEN 128
#define CLASSES 10

static const char *const class_names[CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" };

/* The model for `rows` images: Linear(784, 128) > ReLU > Linear(128, 10),
 * named as nn.Sequential names them ("0.weight" ... "2.bias"). The first
 * call creates the parameters in st from rng; later calls (other batch
 * sizes, the eval graph, the inference program) find them there, and rng
 * may then be NULL. */
static clg_t model(clg_graph *g, clg_store *st, int64_t rows, int64_t features, clg_rng *rng)
{
    clg_shape xs = CLG_SHAPE(rows, features);
    clg_t x = clg_input(g, "x", CLG_F32, &xs);
    clg_t h = clg_relu(g, clg_linear(g, st, "0", x, features, HIDDEN, 1, rng));
    return clg_linear(g, st, "2", h, HIDDEN, CLASSES, 1, rng);
}

/* Training graph: logits, then the loss on i32 labels "y". */
static clg_t train_graph(clg_graph *g, clg_store *st, int64_t rows, int64_t features,
                         clg_rng *rng)
{
    clg_t logits = model(g, st, rows, features, rng);
    clg_shape ys = CLG_SHAPE(rows);
    clg_t y = clg_input(g, "y", CLG_I32, &ys);
    clg_t loss;
    return clg_loss_build(g, "cross-entropy", logits, y, &loss) == CLG_OK ? loss : CLG_NONE;
}

static int argmax10(const float *v)
{
    int k = 0;
    for (int i = 1; i < CLASSES; i++)
        if (v[i] > v[k])
            k = i;
    return k;
}

/* Predicted classes of the first n samples of ds with the model in st:
 * one eval plan per batch size (the last one may be smaller). */
static clg_status classify(clg_ctx *ctx, clg_device *dev, clg_store *st, const clg_dataset *ds,
                           int64_t n, int *pred)
{
    clg_plan *plans[2] = { NULL, NULL };
    clg_t outs[2] = { CLG_NONE, CLG_NONE };
    int64_t sizes[2] = { n < EB ? n : EB, n % EB };
    clg_status s = CLG_OK;
    for (int p = 0; p < 2 && s == CLG_OK; p++) {
        if (sizes[p] == 0 || (p == 1 && sizes[1] == sizes[0]))
            continue;
        clg_graph *g = clg_graph_new(ctx);
        outs[p] = model(g, st, sizes[p], ds->n_features, NULL);
        s = clg_compile(g, dev, &outs[p], 1, NULL, &plans[p]);
        clg_graph_free(g); /* the plan does not keep the graph */
    }
    float *logits = malloc(sizeof(float) * EB * CLASSES);
    if (!logits)
        s = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    for (int64_t at = 0; at < n && s == CLG_OK; at += EB) {
        int64_t rows = n - at < EB ? n - at : EB;
        int p = rows == sizes[0] ? 0 : 1;
        s = clg_plan_set_input(plans[p], "x", ds->x + at * ds->n_features,
                               sizeof(float) * (size_t)(rows * ds->n_features));
        if (s == CLG_OK)
            s = clg_plan_run(plans[p]);
        if (s == CLG_OK)
            s = clg_plan_read(plans[p], outs[p], logits, sizeof(float) * (size_t)(rows * CLASSES));
        for (int64_t i = 0; i < rows && s == CLG_OK; i++)
            pred[at + i] = argmax10(logits + i * CLASSES);
    }
    free(logits);
    clg_plan_free(plans[0]);
    clg_plan_free(plans[1]);
    return s;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : CLG_FASHION_MNIST_DIR;
    int64_t n_train = argc > 2 ? atoll(argv[2]) : 60000;
    int epochs = argc > 3 ? atoi(argv[3]) : 2;
    const char *backend = argc > 4 ? argv[4] : "cpu";
    const char *out_path = argc > 5 ? argv[5] : "fmnist.safetensors";
    int64_t n_test = argc > 6 ? atoll(argv[6]) : 0; /* 0: all */

    clg_ctx *ctx = clg_ctx_new();
    clg_device *dev = NULL;
    clg_store *st = NULL, *inf = NULL;
    clg_dataset *full = NULL, *rest = NULL, *train = NULL, *test = NULL;
    clg_batcher *bt = NULL;
    clg_trainer *tr = NULL;
    int *pred = NULL, *pred2 = NULL;
    int rc = 1;
    if (!ctx)
        return 1;
#define CHECK(call)                                                                    \
    do {                                                                               \
        if ((call) != CLG_OK) {                                                        \
            fprintf(stderr, "fashion_mnist: %s\n", clg_ctx_error(ctx));                \
            goto out;                                                                  \
        }                                                                              \
    } while (0)

    /* 1. data: pixels in [0, 1], labels as i32 class indices */
    if (clg_dataset_mnist(ctx, dir, 0, &full) != CLG_OK) {
        fprintf(stderr, "fashion_mnist: SKIP: %s\n", clg_ctx_error(ctx));
        rc = 77;
        goto out;
    }
    CHECK(clg_dataset_mnist(ctx, dir, 1, &test));
    if (n_train > 0 && n_train < full->n) /* a random subset of n_train images */
        CHECK(clg_dataset_split(ctx, full, (double)n_train / (double)full->n, 1, &rest, &train));
    const clg_dataset *tds = train ? train : full;
    printf("train %lld images of %lld pixels, test %lld\n", (long long)tds->n,
           (long long)tds->n_features, (long long)test->n);

    /* 2. device, store, model, trainer */
    CHECK(clg_device_open(ctx, backend, 0, &dev));
    CHECK(clg_store_new(dev, &st));
    clg_rng rng;
    clg_rng_seed(&rng, 42);
    clg_graph *g = clg_graph_new(ctx);
    clg_t loss = train_graph(g, st, B, tds->n_features, &rng);
    clg_trainer_opts o = { .lr = 1e-3, .optimizer = "adam" };
    clg_status s = clg_trainer_new(g, st, loss, &o, &tr);
    clg_graph_free(g); /* the trainer compiled what it needs */
    CHECK(s);
    /* the last partial batch (kept, as PyTorch's DataLoader keeps it) */
    int last = 0;
    if (tds->n % B) {
        g = clg_graph_new(ctx);
        s = clg_trainer_add_plan(tr, g, train_graph(g, st, tds->n % B, tds->n_features, NULL),
                                 NULL, 0, &last);
        clg_graph_free(g);
        CHECK(s);
    }

    /* 3. train: shuffled batches from the batcher, one step each */
    CHECK(clg_batcher_new(ctx, tds, B, 1, 0, &bt));
    for (int e = 0; e < epochs; e++) {
        clg_batcher_epoch(bt, &rng);
        clg_batch b;
        double sum = 0;
        int nb = 0;
        while (clg_batcher_next(bt, &b)) { /* b.x, b.labels valid until the next call */
            float l;
            CHECK(clg_trainer_use_plan(tr, b.size == B ? 0 : last));
            CHECK(clg_trainer_set_input(tr, "x", b.x, sizeof(float) * (size_t)(b.size * tds->n_features)));
            CHECK(clg_trainer_set_input(tr, "y", b.labels, sizeof(int32_t) * (size_t)b.size));
            CHECK(clg_trainer_step(tr, &l));
            sum += l;
            nb++;
        }
        CHECK(clg_trainer_epoch_end(tr, NAN));
        printf("epoch %d: mean loss %.4f over %d batches\n", e + 1, sum / nb, nb);
    }

    /* 4. evaluate with plans that share the store */
    if (n_test <= 0 || n_test > test->n)
        n_test = test->n;
    pred = malloc(sizeof(int) * (size_t)n_test);
    pred2 = malloc(sizeof(int) * (size_t)n_test);
    if (!pred || !pred2)
        goto out;
    CHECK(classify(ctx, dev, st, test, n_test, pred));
    int64_t correct = 0;
    for (int64_t i = 0; i < n_test; i++)
        correct += pred[i] == test->labels[i];
    printf("test accuracy %.2f%% on %lld images\n", 100.0 * (double)correct / (double)n_test,
           (long long)n_test);

    /* 5. save the weights only (parameters and buffers, no Adam moments) */
    CHECK(clg_store_save_weights(st, out_path));
    clg_trainer_free(tr); /* before its store */
    tr = NULL;

    /* 6. an inference program: an empty store filled from the file */
    CHECK(clg_store_new(dev, &inf));
    CHECK(clg_store_load_all(inf, out_path));
    CHECK(classify(ctx, dev, inf, test, n_test, pred2));
    if (memcmp(pred, pred2, sizeof(int) * (size_t)n_test) != 0) {
        fprintf(stderr, "fashion_mnist: the reloaded model classifies differently\n");
        goto out;
    }
    for (int i = 0; i < 5 && i < n_test; i++)
        printf("test image %d: %-11s (true: %s)\n", i, class_names[pred2[i]],
               class_names[test->labels[i]]);
    rc = correct * 2 > n_test ? 0 : 1; /* a working model beats 50% (chance: 10%) */
    if (rc)
        fprintf(stderr, "fashion_mnist: accuracy too low\n");
out:
    /* every free takes NULL; plans, trainers and stores before their device */
    free(pred);
    free(pred2);
    clg_trainer_free(tr);
    clg_batcher_free(bt);
    clg_store_free(inf);
    clg_store_free(st);
    clg_device_close(dev);
    clg_dataset_free(full);
    clg_dataset_free(rest);
    clg_dataset_free(train);
    clg_dataset_free(test);
    clg_ctx_free(ctx);
    return rc;
}
