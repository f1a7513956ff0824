/* Data sets in host memory: the synthetic regression task, MNIST-format IDX
 * pairs, train/val splits, and the mini-batch walker that gathers shuffled
 * samples into contiguous buffers for upload. */
#include "data_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void clg_dataset_free(clg_dataset *ds)
{
    if (!ds)
        return;
    free(ds->x);
    free(ds->y);
    free(ds->labels);
    free(ds);
}

clg_shape clg_dataset_sample_shape(const clg_dataset *ds)
{
    if (!ds)
        return (clg_shape){ 0 };
    if (ds->sample_shape.ndim > 0)
        return ds->sample_shape;
    return CLG_SHAPE(ds->n_features);
}

/* A data set with room for n samples (contents uninitialised). */
static clg_dataset *dataset_alloc_l(int64_t n, int64_t nf, int64_t nt, int64_t classes,
                                    int64_t label_len)
{
    clg_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return NULL;
    ds->n = n;
    ds->n_features = nf;
    ds->sample_shape = CLG_SHAPE(nf);
    ds->dtype = CLG_F32;
    ds->n_targets = classes > 0 ? 0 : nt;
    ds->classes = classes;
    ds->x = malloc((size_t)(n * nf > 0 ? n * nf : 1) * sizeof(float));
    ds->label_len = label_len > 1 ? label_len : 0;
    if (classes > 0)
        ds->labels = malloc((size_t)(n * (label_len > 1 ? label_len : 1) > 0
                                         ? n * (label_len > 1 ? label_len : 1) : 1) * sizeof(int32_t));
    else
        ds->y = malloc((size_t)(n * nt > 0 ? n * nt : 1) * sizeof(float));
    if (!ds->x || (!ds->y && !ds->labels)) {
        clg_dataset_free(ds);
        return NULL;
    }
    return ds;
}

static clg_dataset *dataset_alloc(int64_t n, int64_t nf, int64_t nt, int64_t classes)
{
    return dataset_alloc_l(n, nf, nt, classes, 1);
}

clg_dataset *clg__dataset_alloc(int64_t n, int64_t nf, int64_t classes, int64_t label_len)
{
    return dataset_alloc_l(n, nf, 0, classes, label_len);
}

clg_status clg_dataset_synthetic(clg_ctx *ctx, int64_t n, uint64_t seed, clg_dataset **out)
{
    *out = NULL;
    if (n <= 0 || n > (1 << 26))
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "synthetic: %lld samples (1 to %d)",
                                 (long long)n, 1 << 26);
    const int nf = CLG_SYNTHETIC_FEATURES;
    clg_dataset *ds = dataset_alloc(n, nf, 1, 0);
    if (!ds)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "synthetic: out of memory");
    clg_rng r;
    clg_rng_seed(&r, seed);
    double w[CLG_SYNTHETIC_FEATURES];
    for (int j = 0; j < nf; j++)
        w[j] = clg_rng_normal(&r) / sqrt((double)nf);
    const double b = 0.5;
    for (int64_t i = 0; i < n; i++) {
        double y = b;
        for (int j = 0; j < nf; j++) {
            double x = clg_rng_normal(&r);
            ds->x[i * nf + j] = (float)x;
            y += w[j] * x;
        }
        ds->y[i] = (float)(y + 0.1 * clg_rng_normal(&r));
    }
    *out = ds;
    return CLG_OK;
}

/* dir/base, or dir/base.gz when only that exists. */
static clg_status find_idx(clg_ctx *ctx, const char *dir, const char *base, char *path,
                           size_t len)
{
    struct stat sb;
    snprintf(path, len, "%s/%s", dir, base);
    if (stat(path, &sb) == 0)
        return CLG_OK;
    snprintf(path, len, "%s/%s.gz", dir, base);
    if (stat(path, &sb) == 0)
        return CLG_OK;
    return clg_ctx_set_error(ctx, CLG_ERR_IO,
                             "%s: no %s or %s.gz in this directory (Debian's dataset-fashion-mnist "
                             "package puts Fashion-MNIST in %s)",
                             dir, base, base, CLG_FASHION_MNIST_DIR);
}

clg_status clg_dataset_mnist(clg_ctx *ctx, const char *dir, int test, clg_dataset **out)
{
    *out = NULL;
    if (!dir)
        dir = CLG_FASHION_MNIST_DIR;
    const char *pre = test ? "t10k" : "train";
    char ip[4096], lp[4096], base[64];
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", pre);
    clg_status st = find_idx(ctx, dir, base, ip, sizeof ip);
    if (st != CLG_OK)
        return st;
    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", pre);
    st = find_idx(ctx, dir, base, lp, sizeof lp);
    if (st != CLG_OK)
        return st;
    clg_idx *im = NULL, *lb = NULL;
    st = clg_idx_load(ctx, ip, &im);
    if (st == CLG_OK)
        st = clg_idx_load(ctx, lp, &lb);
    if (st != CLG_OK)
        goto done;
    if (im->ndim != 3 || im->type != 0x08 || im->dim[0] == 0 || im->dim[1] * im->dim[2] == 0) {
        st = clg_ctx_set_error(ctx, CLG_ERR_IO,
                               "%s: expected unsigned-byte images [N, rows, cols] with N, rows, cols > 0; "
                               "got type 0x%02x with %d dims",
                               ip, im->type, im->ndim);
        goto done;
    }
    if (test) {
        /* A model sized on the train images cannot read t10k images of
         * another size: refuse it here, naming both files, rather than as
         * a shape error deep in the graph (or not at all when the pixel
         * counts agree). Without train files (eval on t10k alone) there is
         * nothing to compare. */
        char tp[4096];
        clg_idx th;
        if (find_idx(ctx, dir, "train-images-idx3-ubyte", tp, sizeof tp) == CLG_OK &&
            clg__idx_peek(ctx, tp, &th) == CLG_OK && th.ndim == 3 &&
            (th.dim[1] != im->dim[1] || th.dim[2] != im->dim[2])) {
            st = clg_ctx_set_error(ctx, CLG_ERR_IO,
                                   "%s: images are %lldx%lld but %s has %lldx%lld images; the test "
                                   "set must match the training set",
                                   ip, (long long)im->dim[1], (long long)im->dim[2], tp,
                                   (long long)th.dim[1], (long long)th.dim[2]);
            goto done;
        }
        clg_ctx_set_error(ctx, CLG_OK, "%s", ""); /* a failed peek leaves no message */
    }
    if (lb->ndim != 1 || lb->type != 0x08) {
        st = clg_ctx_set_error(ctx, CLG_ERR_IO,
                               "%s: expected unsigned-byte labels [N]; got type 0x%02x with %d dims",
                               lp, lb->type, lb->ndim);
        goto done;
    }
    if (lb->dim[0] != im->dim[0]) {
        st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s has %lld labels but %s has %lld images", lp,
                               (long long)lb->dim[0], ip, (long long)im->dim[0]);
        goto done;
    }
    const int64_t classes = 10;
    for (int64_t i = 0; i < lb->numel; i++)
        if (lb->data[i] >= (float)classes) {
            st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: label %d of sample %lld outside [0, %lld)",
                                   lp, (int)lb->data[i], (long long)i, (long long)classes);
            goto done;
        }
    clg_dataset *ds = calloc(1, sizeof *ds);
    int32_t *labels = malloc((size_t)lb->numel * sizeof *labels);
    if (!ds || !labels) {
        free(ds);
        free(labels);
        st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", ip);
        goto done;
    }
    for (int64_t i = 0; i < lb->numel; i++)
        labels[i] = (int32_t)lb->data[i];
    ds->n = im->dim[0];
    ds->n_features = im->dim[1] * im->dim[2];
    ds->sample_shape = CLG_SHAPE(1, im->dim[1], im->dim[2]); /* [C, H, W], as torchvision */
    ds->dtype = CLG_F32;
    ds->classes = classes;
    /* ToTensor's scaling; the image buffer becomes the data set's x. */
    ds->x = im->data;
    im->data = NULL;
    for (int64_t i = 0; i < im->numel; i++)
        ds->x[i] *= 1.0f / 255.0f;
    ds->labels = labels;
    *out = ds;
done:
    clg_idx_free(im);
    clg_idx_free(lb);
    return st;
}

/* Copies sample src_i of `from` to sample dst_i of `to`. */
static void copy_sample(const clg_dataset *from, int64_t src_i, clg_dataset *to, int64_t dst_i)
{
    memcpy(to->x + dst_i * to->n_features, from->x + src_i * from->n_features,
           (size_t)from->n_features * sizeof(float));
    if (from->labels) {
        const int64_t ll = clg_dataset_label_len(from);
        memcpy(to->labels + dst_i * ll, from->labels + src_i * ll, (size_t)ll * sizeof(int32_t));
    } else
        memcpy(to->y + dst_i * to->n_targets, from->y + src_i * from->n_targets,
               (size_t)from->n_targets * sizeof(float));
}

static void permutation(int64_t *perm, int64_t n, clg_rng *r)
{
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(clg_rng_next(r) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

clg_status clg_dataset_split(clg_ctx *ctx, const clg_dataset *ds, double frac, uint64_t seed,
                             clg_dataset **train, clg_dataset **val)
{
    *train = *val = NULL;
    if (!(frac > 0.0 && frac < 1.0))
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--val-split %g: must be in (0, 1)", frac);
    int64_t nv = (int64_t)(frac * (double)ds->n + 0.5);
    if (nv < 1 || nv >= ds->n)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "--val-split %g of %lld samples leaves %lld for validation and "
                                 "%lld for training; both need at least one",
                                 frac, (long long)ds->n, (long long)nv, (long long)(ds->n - nv));
    int64_t nt = ds->n - nv;
    int64_t *perm = malloc((size_t)ds->n * sizeof *perm);
    clg_dataset *a = dataset_alloc_l(nt, ds->n_features, ds->n_targets, ds->classes, ds->label_len);
    clg_dataset *b = dataset_alloc_l(nv, ds->n_features, ds->n_targets, ds->classes, ds->label_len);
    if (a) {
        a->sample_shape = clg_dataset_sample_shape(ds);
        a->dtype = ds->dtype;
    }
    if (b) {
        b->sample_shape = clg_dataset_sample_shape(ds);
        b->dtype = ds->dtype;
    }
    if (!perm || !a || !b) {
        free(perm);
        clg_dataset_free(a);
        clg_dataset_free(b);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "--val-split: out of memory");
    }
    clg_rng r;
    clg_rng_seed(&r, seed);
    permutation(perm, ds->n, &r);
    for (int64_t i = 0; i < nt; i++)
        copy_sample(ds, perm[i], a, i);
    for (int64_t i = 0; i < nv; i++)
        copy_sample(ds, perm[nt + i], b, i);
    free(perm);
    *train = a;
    *val = b;
    return CLG_OK;
}

clg_status clg_dataset_subset(clg_ctx *ctx, const clg_dataset *ds, const int32_t *classes,
                              int n_classes, int64_t limit, clg_dataset **out)
{
    *out = NULL;
    if (!ds || !ds->labels || ds->classes < 1 || clg_dataset_label_len(ds) != 1)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "a class subset needs a data set with one class label per sample");
    if (limit == 0 || limit < -1)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "limit=%lld: must be at least 1 sample per class", (long long)limit);
    if (n_classes < 0 || (n_classes > 0 && !classes))
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "classes: bad list");
    /* new label of every original class: -1 dropped */
    int64_t K = n_classes > 0 ? n_classes : ds->classes;
    int32_t *map = malloc((size_t)ds->classes * sizeof *map);
    int64_t *kept = calloc((size_t)K, sizeof *kept);
    if (!map || !kept) {
        free(map);
        free(kept);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    }
    for (int64_t c = 0; c < ds->classes; c++)
        map[c] = n_classes > 0 ? -1 : (int32_t)c;
    clg_status st = CLG_OK;
    for (int i = 0; i < n_classes && st == CLG_OK; i++) {
        if (classes[i] < 0 || classes[i] >= ds->classes)
            st = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                   "classes: class %d is out of range (the data set has classes "
                                   "0..%lld)", (int)classes[i], (long long)ds->classes - 1);
        else if (map[classes[i]] >= 0)
            st = clg_ctx_set_error(ctx, CLG_ERR_INVALID, "classes: class %d is listed twice",
                                   (int)classes[i]);
        else
            map[classes[i]] = i;
    }
    int64_t n = 0;
    for (int64_t i = 0; i < ds->n && st == CLG_OK; i++) {
        int32_t l = ds->labels[i];
        int32_t m = l >= 0 && l < ds->classes ? map[l] : -1;
        if (m >= 0 && (limit < 0 || kept[m] < limit)) {
            kept[m]++;
            n++;
        }
    }
    clg_dataset *sub = NULL;
    if (st == CLG_OK && n == 0)
        st = clg_ctx_set_error(ctx, CLG_ERR_INVALID, "the class subset holds no sample");
    if (st == CLG_OK && !(sub = dataset_alloc_l(n, ds->n_features, 0, K, 1)))
        st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    if (st == CLG_OK) {
        sub->sample_shape = clg_dataset_sample_shape(ds);
        sub->dtype = ds->dtype;
        memset(kept, 0, (size_t)K * sizeof *kept);
        int64_t j = 0;
        for (int64_t i = 0; i < ds->n; i++) {
            int32_t l = ds->labels[i];
            int32_t m = l >= 0 && l < ds->classes ? map[l] : -1;
            if (m < 0 || (limit >= 0 && kept[m] >= limit))
                continue;
            kept[m]++;
            copy_sample(ds, i, sub, j);
            sub->labels[j++] = m;
        }
        *out = sub;
    }
    free(map);
    free(kept);
    return st;
}

/* ---------------------------------------------------------------- batches */

struct clg_batcher {
    const clg_dataset *ds;
    int64_t batch, pos, end;
    int shuffle;
    int64_t *order;
    float *x, *y;
    int32_t *labels;
};

clg_status clg_batcher_new(clg_ctx *ctx, const clg_dataset *ds, int64_t batch_size,
                           int shuffle, int drop_last, clg_batcher **out)
{
    *out = NULL;
    if (!ds || ds->n <= 0)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "batches of an empty data set");
    if (batch_size <= 0)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--batch-size %lld: must be at least 1",
                                 (long long)batch_size);
    if (batch_size > ds->n)
        batch_size = ds->n;
    clg_batcher *b = calloc(1, sizeof *b);
    if (!b)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "batcher: out of memory");
    b->ds = ds;
    b->batch = batch_size;
    b->shuffle = shuffle;
    b->end = drop_last ? ds->n / batch_size * batch_size : ds->n;
    b->pos = b->end;
    b->order = malloc((size_t)ds->n * sizeof *b->order);
    b->x = malloc((size_t)(batch_size * ds->n_features) * sizeof(float));
    if (ds->labels)
        b->labels = malloc((size_t)(batch_size * clg_dataset_label_len(ds)) * sizeof(int32_t));
    else
        b->y = malloc((size_t)(batch_size * (ds->n_targets ? ds->n_targets : 1)) * sizeof(float));
    if (!b->order || !b->x || (!b->labels && !b->y)) {
        clg_batcher_free(b);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "batcher: out of memory");
    }
    for (int64_t i = 0; i < ds->n; i++)
        b->order[i] = i;
    *out = b;
    return CLG_OK;
}

void clg_batcher_free(clg_batcher *b)
{
    if (!b)
        return;
    free(b->order);
    free(b->x);
    free(b->y);
    free(b->labels);
    free(b);
}

void clg_batcher_epoch(clg_batcher *b, clg_rng *rng)
{
    if (b->shuffle && rng)
        permutation(b->order, b->ds->n, rng);
    b->pos = 0;
}

int clg_batcher_next(clg_batcher *b, clg_batch *out)
{
    if (b->pos >= b->end)
        return 0;
    int64_t k = b->end - b->pos < b->batch ? b->end - b->pos : b->batch;
    const clg_dataset *ds = b->ds;
    clg_dataset view = { .n = k, .n_features = ds->n_features, .n_targets = ds->n_targets,
                         .classes = ds->classes, .x = b->x, .y = b->y, .labels = b->labels,
                         .label_len = ds->label_len };
    for (int64_t i = 0; i < k; i++)
        copy_sample(ds, b->order[b->pos + i], &view, i);
    b->pos += k;
    out->size = k;
    out->x = b->x;
    out->y = ds->labels ? NULL : b->y;
    out->labels = ds->labels ? b->labels : NULL;
    return 1;
}

int64_t clg_batcher_batches(const clg_batcher *b)
{
    return (b->end + b->batch - 1) / b->batch;
}
