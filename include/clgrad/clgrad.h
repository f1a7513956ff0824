/* clgrad — the public API: contexts, backends and devices, persistent tensors,
 * graph building, autodiff, compile and run, layers.
 *
 * Error model: functions return clg_status; on failure the context keeps a
 * message naming what failed (op, shape, file, key): clg_ctx_error(). Graph
 * building functions return a node handle; on error they return CLG_NONE, the
 * graph keeps its first error (clg_graph_status / clg_graph_error), and every
 * later op given CLG_NONE returns CLG_NONE, so a model can be built without a
 * check per line and the error surfaces at clg_compile.
 *
 * Lifetimes (who owns what, who borrows what, for how long):
 *   - ctx owns the loaded backends, the component registry and the error
 *     message. Free it last.
 *   - A device borrows its ctx. A store and a plan borrow their device (and
 *     through it the ctx): free every plan, trainer and store of a device
 *     before clg_device_close, and every device before clg_ctx_free; the
 *     other order is a use after free.
 *   - A graph borrows its ctx and the stores its clg_param nodes read. A
 *     compiled plan does not keep the graph: the graph may be freed right
 *     after clg_compile / clg_trainer_new. A plan keeps reading and writing
 *     the store tensors it was compiled against: do not free the store first.
 *   - clg_t handles belong to their graph: one used with another graph (a
 *     training graph's node in an eval graph) is an error naming "another
 *     graph" (build each graph from its own clg_input/clg_param calls).
 *   - Every *_free and clg_device_close accepts NULL and does nothing.
 *   - Data passed in is copied at the call unless said otherwise:
 *     clg_store_add, clg_store_write, clg_const (its data may be freed right
 *     after the call), clg_plan_set_input (the buffer may be reused at once;
 *     the value stays the plan's input for every later run until set again).
 *   - Pointers handed out (names, shapes, error strings, component info)
 *     live as long as their owner, except clg_ctx_error's string (until the
 *     next call on that ctx) and a clg_batch's x/y/labels (data.h: until the
 *     next clg_batcher_next, clg_batcher_epoch or clg_batcher_free). */
#ifndef CLGRAD_CLGRAD_H
#define CLGRAD_CLGRAD_H

#include <clgrad/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLGRAD_VERSION "0.1.0"

/* ------------------------------------------------------------------ context */
typedef struct clg_ctx clg_ctx;

clg_ctx *clg_ctx_new(void);
void clg_ctx_free(clg_ctx *ctx);
/* Message of the last failure ("" if none). Valid until the next call. */
const char *clg_ctx_error(const clg_ctx *ctx);
/* Used by the library and plugins to record a failure; returns `st`. */
clg_status clg_ctx_set_error(clg_ctx *ctx, clg_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Forgets the last failure (clg_ctx_error then returns ""). */
void clg_ctx_clear_error(clg_ctx *ctx);
/* Something that lives as long as the context (the component registry, a
 * library's own state): attached under a key, freed with free_fn when the
 * context is freed, before its backends are unloaded. Attaching to a key
 * that is taken is an error. */
clg_status clg_ctx_attach(clg_ctx *ctx, const char *key, void *ptr, void (*free_fn)(void *));
void *clg_ctx_attached(const clg_ctx *ctx, const char *key); /* NULL if none */

const char *clg_status_name(clg_status st);
const char *clg_op_name(clg_op op);
const char *clg_dtype_name(clg_dtype dt);
int64_t clg_shape_numel(const clg_shape *s);
/* "[2, 3]" into buf; returns buf. */
char *clg_shape_str(const clg_shape *s, char *buf, size_t len);
int clg_shape_equal(const clg_shape *a, const clg_shape *b);

/* ------------------------------------------------------ backends, devices */
/* Load a backend by name ("cpu", "opencl") through the search order:
 * $CLGRAD_PLUGIN_PATH (colon-separated dirs) -> the installed plugin dir ->
 * the build tree, when the program runs from it. A name containing '/' is a
 * path to the .so. Loading an already loaded name is a no-op. File name of
 * backend NAME: clgrad-backend-NAME.so */
clg_status clg_backend_load(clg_ctx *ctx, const char *name_or_path);
int clg_backend_count(const clg_ctx *ctx);
const char *clg_backend_name(const clg_ctx *ctx, int i);
/* Path the backend was loaded from. */
const char *clg_backend_path(const clg_ctx *ctx, int i);
/* The directories searched for backend and component modules, in order:
 * $CLGRAD_PLUGIN_PATH, the installed plugin dir, <dir of the running
 * libclgrad.so>/clgrad when that is another dir (a moved or DESTDIR-staged
 * install), and the build tree's module
 * dirs when the program runs from it. NULL-terminated; free with
 * clg_strv_free. NULL on out-of-memory. */
char **clg_plugin_search_dirs(void);
void clg_strv_free(char **v);

clg_status clg_device_count(clg_ctx *ctx, const char *backend, int *count);
clg_status clg_device_info_get(clg_ctx *ctx, const char *backend, int index,
                               clg_device_info *out);

typedef struct clg_device clg_device;
/* Loads the backend if needed. */
clg_status clg_device_open(clg_ctx *ctx, const char *backend, int index,
                           clg_device **out);
void clg_device_close(clg_device *dev);
const char *clg_device_backend(const clg_device *dev);
clg_ctx *clg_device_ctx(const clg_device *dev);
/* Block until all work enqueued on dev is done. */
clg_status clg_device_sync(clg_device *dev);

/* ---------------------------------------------------- persistent tensors */
/* Named tensors that outlive plans: parameters, gradient accumulators,
 * optimizer state. Names follow PyTorch's state_dict ("0.weight"). Several
 * graphs and plans (train/eval, different batch sizes) share one store. */
typedef struct clg_store clg_store;

clg_status clg_store_new(clg_device *dev, clg_store **out);
void clg_store_free(clg_store *st);
clg_device *clg_store_device(const clg_store *st);
/* Adds a tensor; init NULL means zeros. An existing name is an error. */
clg_status clg_store_add(clg_store *st, const char *name, clg_dtype dt,
                         const clg_shape *shape, const void *init);
int clg_store_count(const clg_store *st);
/* What a store tensor is to training. A new tensor is a PARAMETER: the
 * trainer collects parameters (and only those) for the optimizer. BUFFERs
 * are model state that is not trained by gradient (BatchNorm's running
 * statistics: PyTorch's register_buffer); STATE is the trainer's own
 * (optimizer moments, accumulated gradients), saved in checkpoints; SCRATCH
 * is rewritten every step (the gradients at the sync point) and never
 * saved. */
typedef enum clg_tensor_kind {
    CLG_TENSOR_PARAMETER = 0,
    CLG_TENSOR_BUFFER = 1,
    CLG_TENSOR_STATE = 2,
    CLG_TENSOR_SCRATCH = 3 /* rewritten every step (synchronised gradients): never saved */
} clg_tensor_kind;
clg_status clg_store_set_kind(clg_store *st, const char *name, clg_tensor_kind kind);
clg_tensor_kind clg_store_kind(const clg_store *st, int i);
/* Index of `name`, or -1. */
int clg_store_find(const clg_store *st, const char *name);
const char *clg_store_name(const clg_store *st, int i);
clg_dtype clg_store_dtype(const clg_store *st, int i);
clg_shape clg_store_shape(const clg_store *st, int i);
/* bytes must equal the tensor's size; errors name the tensor. */
clg_status clg_store_read(clg_store *st, const char *name, void *dst, size_t bytes);
clg_status clg_store_write(clg_store *st, const char *name, const void *src,
                           size_t bytes);

/* ------------------------------------------------------------------ graph */
typedef struct clg_graph clg_graph;
/* A node of one graph: its index, tagged with its graph (bits 24..30; the
 * tag cycles through 127 values, so a handle is recognised as foreign unless
 * its graph was created a multiple of 127 graphs apart). Builders, compile,
 * autodiff, assignments and plan reads refuse a handle of another graph.
 * Treat it as opaque; a graph holds at most 2^24 nodes. */
typedef int32_t clg_t;
#define CLG_NONE ((clg_t)-1)

clg_graph *clg_graph_new(clg_ctx *ctx);
void clg_graph_free(clg_graph *g);
clg_status clg_graph_status(const clg_graph *g);
const char *clg_graph_error(const clg_graph *g);
int clg_graph_size(const clg_graph *g);

/* The context the graph reports to. */
clg_ctx *clg_graph_ctx(const clg_graph *g);
clg_shape clg_shape_of(const clg_graph *g, clg_t t);
clg_dtype clg_dtype_of(const clg_graph *g, clg_t t);
clg_op clg_op_of(const clg_graph *g, clg_t t);
/* For a clg_param node reading a tensor of st: that tensor's store name;
 * NULL for any other node. */
const char *clg_param_name(const clg_graph *g, clg_t t, const clg_store *st);

/* sources */
clg_t clg_input(clg_graph *g, const char *name, clg_dtype dt, const clg_shape *shape);
clg_t clg_param(clg_graph *g, clg_store *st, const char *name);
/* Copies data (numel * dtype size bytes) into the graph at the call: the
 * caller's buffer may be freed or reused right after. Uploaded when a plan
 * is compiled. */
clg_t clg_const(clg_graph *g, clg_dtype dt, const clg_shape *shape, const void *data);
clg_t clg_full(clg_graph *g, const clg_shape *shape, float value);
clg_t clg_scalar(clg_graph *g, float value); /* 0-d constant */

/* elementwise, broadcasting as NumPy/PyTorch */
clg_t clg_add(clg_graph *g, clg_t a, clg_t b);
clg_t clg_sub(clg_graph *g, clg_t a, clg_t b);
clg_t clg_mul(clg_graph *g, clg_t a, clg_t b);
clg_t clg_div(clg_graph *g, clg_t a, clg_t b);
clg_t clg_maximum(clg_graph *g, clg_t a, clg_t b);
clg_t clg_minimum(clg_graph *g, clg_t a, clg_t b);
clg_t clg_eq(clg_graph *g, clg_t a, clg_t b); /* f32 0/1 mask, no gradient */
clg_t clg_ne(clg_graph *g, clg_t a, clg_t b);
clg_t clg_lt(clg_graph *g, clg_t a, clg_t b);
clg_t clg_le(clg_graph *g, clg_t a, clg_t b);
clg_t clg_gt(clg_graph *g, clg_t a, clg_t b);
clg_t clg_ge(clg_graph *g, clg_t a, clg_t b);
clg_t clg_where(clg_graph *g, clg_t mask, clg_t a, clg_t b);
clg_t clg_add_scalar(clg_graph *g, clg_t a, float s);
clg_t clg_mul_scalar(clg_graph *g, clg_t a, float s);
clg_t clg_pow_scalar(clg_graph *g, clg_t a, float p);
clg_t clg_neg(clg_graph *g, clg_t a);
clg_t clg_exp(clg_graph *g, clg_t a);
clg_t clg_log(clg_graph *g, clg_t a);
clg_t clg_sqrt(clg_graph *g, clg_t a);
clg_t clg_rsqrt(clg_graph *g, clg_t a);
clg_t clg_abs(clg_graph *g, clg_t a);
clg_t clg_sign(clg_graph *g, clg_t a);
clg_t clg_relu(clg_graph *g, clg_t a);
clg_t clg_leaky_relu(clg_graph *g, clg_t a, float negative_slope);
clg_t clg_sigmoid(clg_graph *g, clg_t a);
clg_t clg_tanh(clg_graph *g, clg_t a);
clg_t clg_gelu(clg_graph *g, clg_t a, int tanh_approx);
clg_t clg_softplus(clg_graph *g, clg_t a);
clg_t clg_erf(clg_graph *g, clg_t a);
/* torch.clamp(a, lo, hi); the gradient passes where lo <= a <= hi. */
clg_t clg_clamp(clg_graph *g, clg_t a, float lo, float hi);
clg_t clg_cast(clg_graph *g, clg_t a, clg_dtype dt);
clg_t clg_copy(clg_graph *g, clg_t a);
/* torch's x.detach(): the value of a, through which clg_grad passes no
 * gradient (a copy node that autodiff treats as a constant). For targets
 * computed from the model (a critic's baseline, an EMA teacher) and for
 * straight-through tricks: x + clg_stop_gradient(g, q - x). */
clg_t clg_stop_gradient(clg_graph *g, clg_t a);

/* reductions; axes may be negative; naxes 0 means all axes */
clg_t clg_sum(clg_graph *g, clg_t a, const int *axes, int naxes, int keepdim);
clg_t clg_mean(clg_graph *g, clg_t a, const int *axes, int naxes, int keepdim);
clg_t clg_max(clg_graph *g, clg_t a, const int *axes, int naxes, int keepdim);
clg_t clg_argmax(clg_graph *g, clg_t a, int axis, int keepdim); /* i32, no gradient */
clg_t clg_softmax(clg_graph *g, clg_t a, int axis);
clg_t clg_log_softmax(clg_graph *g, clg_t a, int axis);
/* Per-row softmax cross-entropy: logits f32 [N, C], target i32 [N] -> f32 [N],
 * -log_softmax(logits)[n, target[n]], 0 where target[n] == ignore_index
 * (torch.nn.functional.cross_entropy with reduction='none'). A target
 * outside [0, C) that is not ignore_index is an error when the plan runs. */
clg_t clg_cross_entropy(clg_graph *g, clg_t logits, clg_t target, int ignore_index);

/* a [..., M, K] @ b [..., K, N] (after the transposes of the last two dims).
 * Batch dims: equal, or one side 2-D (broadcast over the other's batch). */
clg_t clg_matmul(clg_graph *g, clg_t a, clg_t b, int trans_a, int trans_b);

/* movement */
clg_t clg_reshape(clg_graph *g, clg_t a, const clg_shape *shape); /* one dim may be -1 */
clg_t clg_permute(clg_graph *g, clg_t a, const int *perm);
clg_t clg_transpose(clg_graph *g, clg_t a, int d0, int d1);
clg_t clg_expand(clg_graph *g, clg_t a, const clg_shape *shape);
clg_t clg_slice(clg_graph *g, clg_t a, int axis, int64_t start, int64_t end);
clg_t clg_concat(clg_graph *g, const clg_t *xs, int n, int axis);

/* Windows of 2-D images (convolution and pooling as im2col + reduction or
 * GEMM). Output size per dim: (in + 2 pad - dilation (kernel - 1) - 1) /
 * stride + 1, at least 1. */
typedef struct clg_window2d {
    int kernel[2], stride[2], pad[2], dilation[2]; /* (h, w); kernel, stride, dilation >= 1 */
} clg_window2d;
/* Output (h, w) of w over an image of h x w; 0 and a message in err (may be
 * NULL) when the window does not fit or a value is out of range. */
int clg_window2d_out(const clg_window2d *w, int64_t h, int64_t wd, int64_t out[2], char *err,
                     size_t errlen);
/* x [N, C, H, W] -> [N, C*KH*KW, OH*OW] as torch's unfold; padding reads
 * pad_value (0 for convolution, -inf for max pooling). */
clg_t clg_im2col(clg_graph *g, clg_t x, const clg_window2d *w, float pad_value);
/* The adjoint: cols [N, C*KH*KW, OH*OW] -> image [N, C, H, W] (torch's fold):
 * overlapping windows summed. */
clg_t clg_col2im(clg_graph *g, clg_t cols, const clg_window2d *w, const clg_shape *image);
/* Max pooling's choice, as torch's max_pool2d(..., return_indices=True):
 * x [N, C, H, W] -> i32 [N, C, OH, OW], the index h * W + w within its image
 * plane of each window's first maximum (the first NaN wins). Every window
 * must hold at least one pixel of the image. Max pooling is then
 * clg_gather(x as [N, C, H*W], these as [N, C, OH*OW], 2). */
clg_t clg_max_pool2d_index(clg_graph *g, clg_t x, const clg_window2d *w);

/* Batch normalisation's parts (clg_batch_norm builds the layer from them):
 * stats of x [N, C, ...] as [2, C] (row 0 the mean, row 1 the biased
 * variance over every dim but 1), and x normalised with given stats,
 * (x - mean) / sqrt(var + eps) * weight + bias, weight and bias [C]. */
clg_t clg_bn_stats(clg_graph *g, clg_t x);
clg_t clg_bn_apply(clg_graph *g, clg_t x, clg_t stats, clg_t weight, clg_t bias, float eps);
/* Layer normalisation without its affine part: x [..., D] normalised over
 * the last dim, (x - mean) / sqrt(var + eps) with the biased variance. */
clg_t clg_ln_norm(clg_graph *g, clg_t x, float eps);
/* torch.nn.functional.conv2d without bias: x [N, C, H, W], w [O, C/groups, KH,
 * KW] (KH, KW = w's kernel) -> [N, O, OH, OW]. Its gradients, as
 * torch.nn.grad.conv2d_input and conv2d_weight: dy [N, O, OH, OW] -> the input's
 * gradient, of shape `input`; and (x, dy) -> the weight's, [O, C/groups, KH, KW]. */
clg_t clg_conv2d_op(clg_graph *g, clg_t x, clg_t w, const clg_window2d *win, int groups);
clg_t clg_conv2d_input(clg_graph *g, const clg_shape *input, clg_t w, clg_t dy,
                       const clg_window2d *win, int groups);
clg_t clg_conv2d_weight(clg_graph *g, clg_t x, clg_t dy, const clg_window2d *win, int groups);
/* An LSTM's recurrence over a whole sequence, one op (see the op table):
 * xw [N, T, 4H], the input's share of each step's gates i, f, g, o with both
 * biases, and w_hh [4H, H] -> [7, N, T + 1, H], the planes h, c, i, f, g, o
 * and tanh c: index 0 the zero state before the first step, t + 1 step t;
 * the output sequence is plane 0 at indices 1..T. Its gradient: (y, dh [N, T, H], w_hh) -> the gradient of xw, [N, T, 4H]. */
clg_t clg_lstm_scan(clg_graph *g, clg_t xw, clg_t w_hh);
clg_t clg_lstm_scan_grad(clg_graph *g, clg_t y, clg_t dh, clg_t w_hh);
/* torch.index_select(table, 0, ids): rows ids[k] of table [V, D] -> [n, D],
 * ids i32 [n]; and its adjoint, [rows, D] zeros with src's row k added to
 * row ids[k] (torch's index_add_). */
clg_t clg_index_select(clg_graph *g, clg_t table, clg_t ids);
clg_t clg_index_add(clg_graph *g, clg_t src, clg_t ids, int64_t rows);

/* index ops: index is i32 */
clg_t clg_gather(clg_graph *g, clg_t a, clg_t index, int axis);
clg_t clg_scatter_add(clg_graph *g, clg_t src, clg_t index, int axis,
                      const clg_shape *out_shape);
clg_t clg_one_hot(clg_graph *g, clg_t index, int64_t classes);

/* random: f32 U[0, 1) of `shape`, a function of the i32 [2] tensor `state`
 * (seed, step) and `stream` only (Philox4x32-10, clgrad/philox.h): every
 * backend draws the same numbers; advance the step to draw new ones. */
clg_t clg_rand_uniform(clg_graph *g, clg_t state, const clg_shape *shape, uint32_t stream);

/* --------------------------------------------------------------- autodiff */
/* Adds the ops computing d(y)/d(wrt[i]) to the graph and stores their
 * handles in grads[i]. y must have one element unless `seed` is given (a
 * tensor of y's shape: the vector of a vector-Jacobian product); seed may be
 * CLG_NONE. A wrt[i] that y does not depend on gets a zero tensor. */
clg_status clg_grad(clg_graph *g, clg_t y, clg_t seed, const clg_t *wrt, int n,
                    clg_t *grads);

/* At the end of every run of a plan compiled from g, copy `value` into the
 * persistent tensor behind `param` (a clg_param node). Assignments run in
 * the order they were added, after every op of the plan. */
clg_status clg_assign(clg_graph *g, clg_t param, clg_t value);

/* ---------------------------------------------------------- compile, run */
typedef struct clg_plan clg_plan;

typedef struct clg_compile_opts {
    int no_reuse; /* 1: one buffer region per node (the naive plan) */
} clg_compile_opts;

/* Shape-checks, orders and memory-plans everything `outputs` and the graph's
 * assignments need, checks each op against the device's backend, and
 * allocates all buffers. The plan does not keep a pointer to g. */
clg_status clg_compile(clg_graph *g, clg_device *dev, const clg_t *outputs,
                       int n, const clg_compile_opts *opts, clg_plan **out);
void clg_plan_free(clg_plan *p);
/* bytes must equal the input's size. */
clg_status clg_plan_set_input(clg_plan *p, const char *name, const void *data,
                              size_t bytes);
/* Enqueues every op and assignment; does not wait. */
clg_status clg_plan_run(clg_plan *p);
/* Reads an output (one of those given to clg_compile); waits for the run. */
clg_status clg_plan_read(clg_plan *p, clg_t output, void *dst, size_t bytes);

typedef struct clg_plan_stats {
    size_t planned_bytes; /* arena for intermediates with reuse */
    size_t naive_bytes;   /* one region per intermediate node */
    int n_ops;            /* ops sent to the backend per run */
    int n_nodes;          /* graph nodes in the plan */
} clg_plan_stats;
clg_status clg_plan_stats_get(const clg_plan *p, clg_plan_stats *out);

/* What a plan costs on its device, for benchmarks (a struct of its own so
 * that clg_plan_stats keeps its size). */
typedef struct clg_plan_usage {
    /* Kernels the last clg_plan_run ran, as the backend counts them (its
     * kernels_run slot); a backend that keeps no count gets one per op and
     * per copy sent. -1 before the first run. */
    int64_t kernels_last_run;
    /* Device memory the plan itself holds: its arena of intermediates, its
     * inputs and constants. Store tensors (parameters, optimizer state) are
     * the store's and not counted here. */
    size_t device_bytes;
    int fused_ops;    /* ops the compiler fused into others (0: none) */
} clg_plan_usage;
clg_status clg_plan_usage_get(const clg_plan *p, clg_plan_usage *out);

/* --------------------------------------------------------- random numbers */
/* xoshiro256** seeded through splitmix64: fixed across platforms. */
typedef struct clg_rng { uint64_t s[4]; } clg_rng;
void clg_rng_seed(clg_rng *r, uint64_t seed);
uint64_t clg_rng_next(clg_rng *r);
double clg_rng_uniform(clg_rng *r);     /* [0, 1) */
double clg_rng_normal(clg_rng *r);      /* N(0, 1) */

/* ------------------------------------------------------------- layer flags */
/* The layers' switches, named so a call reads as what it does
 * (clg_linear(..., CLG_BIAS, rng)); each is 0/1 underneath. */
typedef enum clg_bias { CLG_NO_BIAS = 0, CLG_BIAS = 1 } clg_bias;
typedef enum clg_affine { CLG_NO_AFFINE = 0, CLG_AFFINE = 1 } clg_affine;
/* Training: batch statistics, dropout on; eval: running statistics, no dropout. */
typedef enum clg_mode { CLG_EVAL = 0, CLG_TRAINING = 1 } clg_mode;
typedef enum clg_mask { CLG_NO_MASK = 0, CLG_CAUSAL = 1 } clg_mask;
typedef enum clg_activation { CLG_ACT_RELU = 0, CLG_ACT_GELU = 1 } clg_activation;

/* ----------------------------------------------------------------- layers */
/* y = x @ W^T + b, as torch.nn.Linear: W "<prefix>.weight" [out, in],
 * b "<prefix>.bias" [out]. Creates the parameters in st if absent, initialised
 * like PyTorch's default (U(-1/sqrt(in), 1/sqrt(in)) for both) from rng. */
clg_t clg_linear(clg_graph *g, clg_store *st, const char *prefix, clg_t x,
                 int64_t in_features, int64_t out_features, clg_bias bias, clg_rng *rng);

/* torch.nn.LayerNorm(D, eps, elementwise_affine) over the last dim D of x:
 * "<prefix>.weight" [D] (ones) and "<prefix>.bias" [D] (zeros) when affine. */
clg_t clg_layer_norm(clg_graph *g, clg_store *st, const char *prefix, clg_t x, float eps,
                     clg_affine affine);

/* torch.nn.BatchNorm1d/2d(C, eps, momentum) on x [N, C], [N, C, L] or
 * [N, C, H, W]: parameters "<prefix>.weight" (ones) and "<prefix>.bias"
 * (zeros), buffers (CLG_TENSOR_BUFFER) "<prefix>.running_mean" (zeros),
 * "<prefix>.running_var" (ones) and "<prefix>.num_batches_tracked" (i32
 * scalar; written as I64 in files as PyTorch does). training: normalises with
 * the batch statistics and adds clg_assign()s that update the running ones
 * (unbiased variance) and the count after every run; else uses the running
 * statistics and adds nothing. */
clg_t clg_batch_norm(clg_graph *g, clg_store *st, const char *prefix, clg_t x, float momentum,
                     float eps, clg_mode mode);

/* torch.nn.Dropout(p) in training mode: each element kept with probability
 * 1 - p (u >= p for u = clg_rand_uniform(state, shape of x, stream)) and
 * scaled by 1 / (1 - p). state: an i32 [2] (seed, step) node, usually a
 * store tensor the training graph advances with clg_assign, so each step
 * draws a new mask and CPU and OpenCL draw the same one; stream tells the
 * dropout layers of one graph apart. In eval mode do not call it: dropout is
 * the identity there. */
clg_t clg_dropout(clg_graph *g, clg_t x, float p, clg_t state, uint32_t stream);

/* torch.nn.Conv2d(C, out_channels, kernel, stride, padding, dilation, groups,
 * bias) on x [N, C, H, W]: "<prefix>.weight" [out, C/groups, KH, KW],
 * "<prefix>.bias" [out], initialised as PyTorch's default from rng. Runs as
 * one conv2d op (clg_conv2d_op) plus the bias, see docs/backends.md. */
clg_t clg_conv2d(clg_graph *g, clg_store *st, const char *prefix, clg_t x, int64_t out_channels,
                 const clg_window2d *w, int groups, clg_bias bias, clg_rng *rng);
/* torch.nn.MaxPool2d (padding with -inf; the gradient goes to the first
 * maximum of each window, the input PyTorch picks), AvgPool2d
 * (count_include_pad) and AdaptiveAvgPool2d on x [N, C, H, W]. */
clg_t clg_max_pool2d(clg_graph *g, clg_t x, const clg_window2d *w);
clg_t clg_avg_pool2d(clg_graph *g, clg_t x, const clg_window2d *w);
clg_t clg_adaptive_avg_pool2d(clg_graph *g, clg_t x, int64_t out_h, int64_t out_w);

/* torch.nn.Embedding(vocab, dim) on i32 ids [..., T] -> [..., T, dim]:
 * "<prefix>.weight" [vocab, dim], N(0, 1) as PyTorch. Ids outside the
 * vocabulary are a run-time error of the backend's gather. */
clg_t clg_embedding(clg_graph *g, clg_store *st, const char *prefix, clg_t idx, int64_t vocab,
                    int64_t dim, clg_rng *rng);
/* A learned position table "<prefix>.weight" [max_len, D] (N(0, 1)), its
 * first T rows added to x [B, T, D]. */
clg_t clg_pos_embedding(clg_graph *g, clg_store *st, const char *prefix, clg_t x, int64_t max_len,
                        clg_rng *rng);
/* x [B, T, D] -> x[:, T-1] [B, D]. */
clg_t clg_last_step(clg_graph *g, clg_t x);

/* torch.nn.RNN (tanh or relu), LSTM, GRU with batch_first=True, zero
 * initial state, `layers` stacked: x [B, T, I] -> the last layer's hidden
 * state at every step [B, T, hidden]. Tensors as PyTorch's state_dict:
 * "<prefix>.weight_ih_l<k>" [G*hidden, in], weight_hh_l<k>, bias_ih_l<k>,
 * bias_hh_l<k> (gate order i, f, g, o for LSTM; r, z, n for GRU), all
 * U(+-1/sqrt(hidden)). Unrolled over T: the input projections of all steps
 * are one GEMM, each step one [B, H] x [H, G*H] GEMM. */
typedef enum clg_recurrent_kind { CLG_RNN_TANH = 0, CLG_RNN_RELU, CLG_LSTM, CLG_GRU } clg_recurrent_kind;
clg_t clg_recurrent(clg_graph *g, clg_store *st, const char *prefix, clg_t x, clg_recurrent_kind kind,
                    int64_t hidden, int layers, clg_rng *rng);

/* nn.MultiheadAttention(E, heads, batch_first=True) used as self-attention
 * on x [B, T, E] (query = key = value), optionally with a causal mask:
 * "<prefix>.in_proj_weight" [3E, E], "<prefix>.in_proj_bias",
 * "<prefix>.out_proj.weight" [E, E], "<prefix>.out_proj.bias". dropout > 0
 * (training) drops attention weights with clg_dropout(rng_state, stream). */
clg_t clg_self_attention(clg_graph *g, clg_store *st, const char *prefix, clg_t x, int heads,
                         clg_mask mask, float dropout, clg_t rng_state, uint32_t stream, clg_rng *rng);
/* nn.TransformerEncoderLayer(E, heads, ff, dropout, activation gelu|relu,
 * batch_first=True, norm_first=True) on x [B, T, E], with a causal mask when
 * causal: names "<prefix>.self_attn.*", "<prefix>.linear1.*",
 * "<prefix>.linear2.*", "<prefix>.norm1.*", "<prefix>.norm2.*". dropout:
 * pass 0 in eval mode. */
clg_t clg_transformer_layer(clg_graph *g, clg_store *st, const char *prefix, clg_t x, int heads,
                            int64_t ff, clg_mask mask, clg_activation activation, float dropout, clg_t rng_state,
                            uint32_t stream, clg_rng *rng);

/* ------------------------------------------------ parameter initialisation */
/* torch.nn.init's rules, drawn from a clg_rng (the distributions and
 * bounds are PyTorch's; the draws are clgrad's own generator, so values
 * match PyTorch's only in distribution). Fans follow
 * torch.nn.init._calculate_fan_in_and_fan_out for a shape [out, in, k...]:
 * fan_in = in * prod(k), fan_out = out * prod(k); a 1-D shape has
 * fan_in = fan_out = its length. */
typedef enum clg_init_kind {
    CLG_INIT_ZEROS = 0,
    CLG_INIT_ONES,
    CLG_INIT_CONSTANT,        /* value */
    CLG_INIT_UNIFORM,         /* U(low, high) */
    CLG_INIT_NORMAL,          /* N(mean, std^2) */
    CLG_INIT_XAVIER_UNIFORM,  /* U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)) */
    CLG_INIT_XAVIER_NORMAL,   /* N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)) */
    CLG_INIT_KAIMING_UNIFORM, /* U(-b, b), b = gain(slope) * sqrt(3 / fan) */
    CLG_INIT_KAIMING_NORMAL,  /* N(0, std^2), std = gain(slope) / sqrt(fan) */
    CLG_INIT_LINEAR_DEFAULT   /* U(-b, b), b = 1 / sqrt(fan_in): nn.Linear's and
                                 nn.Conv's default for weight and bias, as clg_linear */
} clg_init_kind;

typedef enum clg_init_fan {
    CLG_FAN_IN = 0,           /* kaiming's default mode ('fan_in') */
    CLG_FAN_OUT = 1
} clg_init_fan;

typedef struct clg_init {
    clg_init_kind kind;
    double value;             /* CONSTANT */
    double low, high;         /* UNIFORM */
    double mean, std;         /* NORMAL */
    double gain;              /* XAVIER_*: 0 means 1 */
    double slope;             /* KAIMING_*: leaky_relu negative slope; gain = sqrt(2 / (1 + slope^2)),
                                 0 is relu's gain sqrt(2); sqrt(5) is nn.Linear's weight rule */
    clg_init_fan fan;         /* KAIMING_* */
    int64_t fan_in;           /* LINEAR_DEFAULT for a bias: the layer's fan_in (0: from shape) */
} clg_init;

/* Fills dst (numel(shape) floats) by the rule. rng may be NULL only for
 * ZEROS, ONES and CONSTANT. Errors (a bad rule, a shape with no fan) are
 * returned with a message in ctx. */
clg_status clg_init_fill(clg_ctx *ctx, float *dst, const clg_shape *shape,
                         const clg_init *init, clg_rng *rng);
/* clg_store_add of an f32 tensor initialised by the rule. */
clg_status clg_store_add_init(clg_store *st, const char *name, const clg_shape *shape,
                              const clg_init *init, clg_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
