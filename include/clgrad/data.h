/* clgrad — data in and out: data sets (CSV, IDX/MNIST, synthetic) and
 * mini-batches; safetensors files (PyTorch-compatible weights); checkpoints.
 *
 * Every loader validates what it reads and, on bad input, returns a non-OK
 * status with a message in the context that names the file and what is wrong
 * (line and column, field, tensor, both shapes). Nothing here aborts on input. */
#ifndef CLGRAD_DATA_H
#define CLGRAD_DATA_H

#include <clgrad/clgrad.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------------- data sets */
/* n samples in host memory. Regression: y holds n_targets f32 per sample and
 * labels is NULL. Classification (classes > 0): labels holds one i32 in
 * [0, classes) per sample, y is NULL and n_targets is 0. */
typedef struct clg_dataset {
    int64_t n;
    int64_t n_features; /* values per sample: the element count of sample_shape */
    int64_t n_targets;
    int64_t classes;
    float *x;          /* [n, n_features] */
    float *y;          /* [n, n_targets] or NULL */
    int32_t *labels;   /* [n] or NULL */
    /* One sample's shape and dtype, as a model's input placeholder takes
     * them ([batch, ...sample_shape]): images [C, H, W], feature rows [F];
     * ndim 0 means [n_features]. Read it with clg_dataset_sample_shape. */
    clg_shape sample_shape;
    clg_dtype dtype;    /* of x's samples: f32, or i32 token ids (text; x holds their bits) */
    /* Class labels per sample: 0 or 1 means one ([n] labels); T for one per
     * position ([n, T] labels, text: the next byte of every position). */
    int64_t label_len;
} clg_dataset;

/* Labels per sample (label_len, at least 1). */
static inline int64_t clg_dataset_label_len(const clg_dataset *ds)
{
    return ds && ds->label_len > 1 ? ds->label_len : 1;
}

/* ds's sample shape ([n_features] when the loader set none). */
clg_shape clg_dataset_sample_shape(const clg_dataset *ds);

void clg_dataset_free(clg_dataset *ds);

typedef struct clg_csv_opts {
    const char *target_name; /* column name (needs a header); NULL: use target_index */
    int target_index;        /* 0-based; negative counts from the end (-1: last, the default) */
    int64_t classes;         /* > 0: the target is a class index in [0, classes) */
    int header;              /* 1: first row is names, 0: data, -1: auto (names if
                                no cell of the first row is a number, or when
                                target_name is set) */
} clg_csv_opts;
/* target_index -1, no classes, header auto. */
clg_csv_opts clg_csv_opts_default(void);

/* Comma-separated numbers, one sample per row; "quoted" cells, a UTF-8 BOM,
 * LF, CRLF and CR line ends and blank lines are accepted. Refused, with the
 * line and column: a cell that is not a number or does not fit a float32
 * (1e40, inf, nan), a NUL byte, a repeated column name. `name` is what
 * error messages call the input. */
clg_status clg_csv_load(clg_ctx *ctx, const char *path, const clg_csv_opts *opts,
                        clg_dataset **out);
clg_status clg_csv_parse(clg_ctx *ctx, const char *name, const char *buf, size_t len,
                         const clg_csv_opts *opts, clg_dataset **out);

/* The seed's regression task (the set examples/train_seed trains on):
 * x ~ N(0, 1)^in, y = x . w + 0.5 + 0.1 N(0, 1), with w ~ N(0, 1/in) drawn
 * first from the same seeded generator, so Var(y) is about 1 and the best
 * MSE is 0.01. in = 10 features, 1 target; CLG_SYNTHETIC_SEED is its seed. */
#define CLG_SYNTHETIC_FEATURES 10
#define CLG_SYNTHETIC_SAMPLES 1024
#define CLG_SYNTHETIC_SEED 20261128u
clg_status clg_dataset_synthetic(clg_ctx *ctx, int64_t n, uint64_t seed, clg_dataset **out);

/* MNIST-format data from dir (NULL: CLG_FASHION_MNIST_DIR): the train or
 * t10k pair of IDX files, each either plain or gzipped. Pixels are scaled to
 * [0, 1] as torchvision's ToTensor does; 10 classes. */
#define CLG_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
#define CLG_MNIST_DIR "/usr/share/datasets/mnist"
clg_status clg_dataset_mnist(clg_ctx *ctx, const char *dir, int test, clg_dataset **out);

/* Byte-level text (vocabulary 256): sample k holds the bytes [kT, kT+T) as
 * i32 token ids ([T], dtype CLG_I32) and as labels the bytes [kT+1, kT+T+1)
 * (label_len T); the last round(val_frac * n) samples, in file order, are
 * *test (NULL when val_frac is 0). Refused, naming the file: seq < 1, a
 * file too short for one sample, an empty file, a binary one (a NUL byte, or
 * fewer than 3/4 of the bytes printable ASCII, whitespace or UTF-8). */
clg_status clg_dataset_text(clg_ctx *ctx, const char *path, int64_t seq, double val_frac,
                            clg_dataset **train, clg_dataset **test);

/* Splits ds into a train part and a val part holding round(frac * n)
 * samples, chosen by a permutation drawn from seed. ds is not changed. */
clg_status clg_dataset_split(clg_ctx *ctx, const clg_dataset *ds, double frac, uint64_t seed,
                             clg_dataset **train, clg_dataset **val);

/* Few-shot subsets of a classification set: the samples of the listed
 * classes (n_classes 0: every class), at most `limit` per class (-1: all),
 * the first ones in ds's order. The listed classes are relabelled 0..K-1 in
 * the order given (classes = K), as a new head of K outputs expects; with
 * no list the labels stay. Refused, by name: a class out of range, a class
 * listed twice, limit 0, a data set without one label per sample. */
clg_status clg_dataset_subset(clg_ctx *ctx, const clg_dataset *ds, const int32_t *classes,
                              int n_classes, int64_t limit, clg_dataset **out);

/* ---------------------------------------------------------------- batches */
/* Walks a data set in mini-batches, gathering each batch into contiguous
 * host buffers. The order is 0..n-1, or (shuffle) a fresh Fisher-Yates
 * permutation from the caller's rng at each clg_batcher_epoch, so a
 * checkpointed rng state reproduces the order. The last partial batch is
 * kept unless drop_last, as in PyTorch's DataLoader. */
typedef struct clg_batcher clg_batcher;
typedef struct clg_batch {
    int64_t size;            /* samples in this batch */
    const float *x;          /* [size, n_features] */
    const float *y;          /* [size, n_targets] or NULL */
    const int32_t *labels;   /* [size, label_len] or NULL */
} clg_batch;

clg_status clg_batcher_new(clg_ctx *ctx, const clg_dataset *ds, int64_t batch_size,
                           int shuffle, int drop_last, clg_batcher **out);
void clg_batcher_free(clg_batcher *b);
/* Starts an epoch; rng is used (and advanced) only when shuffling. */
void clg_batcher_epoch(clg_batcher *b, clg_rng *rng);
/* Fills *out with the next batch; returns 0 at the end of the epoch. */
int clg_batcher_next(clg_batcher *b, clg_batch *out);
int64_t clg_batcher_batches(const clg_batcher *b); /* per epoch */

/* --------------------------------------------------------------------- IDX */
/* An IDX file (the MNIST container): element type code, dims, and the data
 * converted to f32. Gzipped files are recognised by their magic bytes. */
typedef struct clg_idx {
    int type;                /* 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64 */
    int ndim;
    int64_t dim[CLG_MAX_DIMS];
    int64_t numel;
    float *data;
} clg_idx;

clg_status clg_idx_load(clg_ctx *ctx, const char *path, clg_idx **out);
clg_status clg_idx_parse(clg_ctx *ctx, const char *name, const void *buf, size_t len,
                         clg_idx **out);
void clg_idx_free(clg_idx *idx);

/* Inflates a gzip (or zlib) stream into a malloc'd buffer, refusing to grow
 * beyond max_out bytes. */
clg_status clg_gunzip(clg_ctx *ctx, const char *name, const void *buf, size_t len,
                      size_t max_out, void **out, size_t *out_len);

/* ------------------------------------------------------------ safetensors */
/* A list of named host tensors plus string metadata: the contents of a
 * safetensors file. Tensors keep their insertion order. */
typedef struct clg_named_tensor {
    char *name;
    clg_dtype dtype;
    clg_shape shape;
    size_t bytes;
    void *data;
} clg_named_tensor;

typedef struct clg_tensor_set {
    int n, cap;
    clg_named_tensor *t;
    int n_meta, cap_meta;
    char **meta_key, **meta_val;
} clg_tensor_set;

clg_tensor_set *clg_tensor_set_new(void);
void clg_tensor_set_free(clg_tensor_set *s);
/* Copies data (numel * dtype size bytes; NULL: zeros). A duplicate name is an error. */
clg_status clg_tensor_set_add(clg_ctx *ctx, clg_tensor_set *s, const char *name,
                              clg_dtype dt, const clg_shape *shape, const void *data);
int clg_tensor_set_find(const clg_tensor_set *s, const char *name); /* index or -1 */
/* Sets (or replaces) a metadata string. */
clg_status clg_tensor_set_meta(clg_ctx *ctx, clg_tensor_set *s, const char *key,
                               const char *value);
const char *clg_tensor_set_get_meta(const clg_tensor_set *s, const char *key); /* or NULL */

/* Reads F32 and I32 tensors as they are, F16, BF16 (exactly) and F64 converted
 * to F32, I64 to I32 (F64 values must be within float32 range, I64 values
 * must fit); other
 * dtypes are refused by name. As the reference implementation, refused too:
 * a name that appears twice in the header, tensors whose data ranges
 * overlap or leave gaps, and bytes after the last tensor's data. */
clg_status clg_safetensors_read(clg_ctx *ctx, const char *path, clg_tensor_set **out);
clg_status clg_safetensors_parse(clg_ctx *ctx, const char *name, const void *buf, size_t len,
                                 clg_tensor_set **out);
/* CLG_OK when every F32 value of the set is finite; else an error naming
 * `what` (the file), the first tensor holding a nan or inf and its index.
 * For callers that load weights (a nan weight trains to nan). */
clg_status clg_tensor_set_check_finite(clg_ctx *ctx, const clg_tensor_set *s, const char *what);
/* Writes to a temporary name in the same directory, flushes it to disk and
 * renames it over path, so path always holds a complete file. An I32 tensor
 * named "num_batches_tracked" or "*.num_batches_tracked" is written as I64,
 * as PyTorch's BatchNorm keeps it (the reader narrows it back). */
clg_status clg_safetensors_write(clg_ctx *ctx, const char *path, const clg_tensor_set *s);

/* Narrows every F32 tensor of s to dt (CLG_F16 or CLG_BF16; CLG_F32 is a
 * no-op) rounding to nearest even, as torch's .half() and .bfloat16(): f16
 * overflows to inf from 65520 and keeps subnormals. Integer tensors stay as
 * they are. clg_safetensors_write then writes them as F16 / BF16. */
clg_status clg_tensor_set_convert(clg_ctx *ctx, clg_tensor_set *s, clg_dtype dt);

/* Store <-> file. names/n select store tensors (NULL/0: all of them), in
 * that order. clg_store_load_file requires that the file holds exactly the
 * selected tensors with the same shapes (as PyTorch's strict
 * load_state_dict); errors name the tensor and both shapes. */
clg_status clg_store_save_file(clg_store *st, const char *path, const char *const *names,
                               int n);
clg_status clg_store_load_file(clg_store *st, const char *path, const char *const *names,
                               int n);
/* Weights only, as PyTorch's model.state_dict(): the store's PARAMETER and
 * BUFFER tensors, never the trainer's STATE (optimizer moments,
 * accumulators), so the file loads into an inference program's store. The
 * buffers are named in the file's metadata ("clgrad.buffers"). A
 * clg_store_save_file with no list saves everything, state included. */
clg_status clg_store_save_weights(clg_store *st, const char *path);
/* Loads every tensor of a safetensors file: one the store has must have the
 * same dtype and shape and is overwritten; one it lacks is created (kind
 * BUFFER when the file's "clgrad.buffers" names it, else PARAMETER). So an
 * inference program can start from an empty store, then build its graph
 * with clg_param (or clg_linear, which uses existing tensors). A mismatch
 * is refused, naming the tensor and both shapes, before anything changes. */
clg_status clg_store_load_all(clg_store *st, const char *path);
/* Copy the selected store tensors into / out of a set (same rules). `what`
 * names the set's source in messages. */
clg_status clg_tensor_set_from_store(clg_tensor_set *s, clg_store *st,
                                     const char *const *names, int n);
clg_status clg_tensor_set_to_store(const clg_tensor_set *s, const char *what, clg_store *st,
                                   const char *const *names, int n, int strict);

/* ------------------------------------------------------------- checkpoints */
/* A checkpoint is one safetensors file DIR/checkpoint.safetensors holding the
 * tensors of a run (weights, optimizer state) and its host state as metadata
 * (epoch, rng, scheduler). Saving replaces the file atomically: a kill at any
 * moment leaves the previous checkpoint whole. DIR is created if missing. */
#define CLG_CHECKPOINT_FILE "checkpoint.safetensors"
/* Saving adds the metadata entry "checksum": 16 hex digits over every
 * tensor (name, dtype, shape, data) and every other metadata entry. Loading
 * verifies it and refuses a checkpoint without one (clg_checkpoint_verify). */
#define CLG_CHECKPOINT_CHECKSUM_KEY "checksum"
clg_status clg_checkpoint_save(clg_ctx *ctx, const char *dir, const clg_tensor_set *s);
clg_status clg_checkpoint_load(clg_ctx *ctx, const char *dir, clg_tensor_set **out);
/* CLG_OK when s carries a checksum that matches its contents; else an error
 * naming `what` (no checksum, or a mismatch). */
clg_status clg_checkpoint_verify(clg_ctx *ctx, const char *what, const clg_tensor_set *s);

/* rng state <-> a 64-hex-digit metadata string (exact round trip). */
void clg_rng_to_string(const clg_rng *r, char out[65]);
clg_status clg_rng_from_string(clg_ctx *ctx, const char *s, clg_rng *r);

#ifdef __cplusplus
}
#endif
#endif
