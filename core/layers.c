/* Layers: graph fragments over named parameters in a store, laid out and
 * initialised as their torch.nn counterparts so state_dicts move both ways. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fails the graph with the context's message (the store's error) prefixed. */
static clg_t fail_with_ctx(clg_graph *g, const char *layer, const char *prefix)
{
    char msg[CLG_ERRMSG_LEN];
    snprintf(msg, sizeof msg, "%s", clg_ctx_error(g->ctx));
    return clg__graph_fail(g, "%s '%s': %s", layer, prefix, msg);
}

/* How a new store tensor is filled: U(-bound, bound) from rng in row-major
 * order (bound > 0), N(0, value^2) from rng (bound < 0), or the constant
 * `value` (bound == 0, rng unused). */
typedef struct param_init {
    double bound;
    double value;
} param_init;

/* Makes sure `prefix.suffix` exists in st as a tensor of dtype dt and the
 * given shape (created with `init` and the given kind if absent); returns
 * its param node. `layer` names the layer in messages. */
static clg_t ensure_tensor(clg_graph *g, clg_store *st, const char *layer, const char *prefix,
                           const char *suffix, clg_dtype dt, const clg_shape *shape,
                           param_init init, clg_tensor_kind kind, clg_rng *rng)
{
    char want[128], have[128], name[256];
    if ((size_t)snprintf(name, sizeof name, "%s.%s", prefix, suffix) >= sizeof name)
        return clg__graph_fail(g, "%s '%s': name too long", layer, prefix);
    int i = clg_store_find(st, name);
    if (i >= 0) {
        clg_shape s = clg_store_shape(st, i);
        if (clg_store_dtype(st, i) != dt || !clg_shape_equal(&s, shape))
            return clg__graph_fail(g, "%s '%s': store has '%s' as %s %s, expected %s %s", layer,
                                   prefix, name, clg_dtype_name(clg_store_dtype(st, i)),
                                   clg_shape_str(&s, have, sizeof have), clg_dtype_name(dt),
                                   clg_shape_str(shape, want, sizeof want));
        return clg_param(g, st, name);
    }
    if (init.bound != 0 && !rng)
        return clg__graph_fail(g, "%s '%s': '%s' is not in the store and rng is NULL", layer,
                               prefix, name);
    int64_t n = clg_shape_numel(shape);
    void *buf = malloc((size_t)(n ? n : 1) * 4);
    if (!buf)
        return clg__graph_fail(g, "%s '%s': out of memory", layer, prefix);
    for (int64_t k = 0; k < n; k++) {
        double v = init.bound > 0   ? (2.0 * clg_rng_uniform(rng) - 1.0) * init.bound
                   : init.bound < 0 ? clg_rng_normal(rng) * init.value
                                    : init.value;
        if (dt == CLG_I32)
            ((int32_t *)buf)[k] = (int32_t)v;
        else
            ((float *)buf)[k] = (float)v;
    }
    clg_status s = clg_store_add(st, name, dt, shape, buf);
    free(buf);
    if (s == CLG_OK && kind != CLG_TENSOR_PARAMETER)
        s = clg_store_set_kind(st, name, kind);
    if (s != CLG_OK)
        return fail_with_ctx(g, layer, prefix);
    return clg_param(g, st, name);
}

static clg_t ensure_param(clg_graph *g, clg_store *st, const char *layer, const char *prefix,
                          const char *suffix, const clg_shape *shape, param_init init,
                          clg_rng *rng)
{
    return ensure_tensor(g, st, layer, prefix, suffix, CLG_F32, shape, init,
                         CLG_TENSOR_PARAMETER, rng);
}

/* The checks every layer starts with; 0 when the layer should return CLG_NONE. */
static int layer_begin(clg_graph *g, clg_store *st, const char *layer, const char *prefix,
                       clg_t x)
{
    if (!g || clg_graph_status(g) != CLG_OK || x == CLG_NONE)
        return 0;
    if (!st || !prefix) {
        clg__graph_fail(g, "%s: %s is NULL", layer, !st ? "store" : "prefix");
        return 0;
    }
    return 1;
}

clg_t clg_linear(clg_graph *g, clg_store *st, const char *prefix, clg_t x,
                 int64_t in_features, int64_t out_features, clg_bias bias, clg_rng *rng)
{
    if (!g || clg_graph_status(g) != CLG_OK || x == CLG_NONE)
        return CLG_NONE;
    if (!st || !prefix)
        return clg__graph_fail(g, "linear: %s is NULL", !st ? "store" : "prefix");
    if (in_features <= 0 || out_features <= 0)
        return clg__graph_fail(g, "linear '%s': features must be positive (in %lld, out %lld)",
                               prefix, (long long)in_features, (long long)out_features);
    clg_shape xs = clg_shape_of(g, x);
    if (xs.ndim < 1 || xs.dim[xs.ndim - 1] != in_features) {
        char sb[128];
        return clg__graph_fail(g, "linear '%s': input %s does not end in in_features %lld",
                               prefix, clg_shape_str(&xs, sb, sizeof sb),
                               (long long)in_features);
    }

    param_init u = { 1.0 / sqrt((double)in_features), 0 };
    clg_shape ws = CLG_SHAPE(out_features, in_features);
    clg_t w = ensure_param(g, st, "linear", prefix, "weight", &ws, u, rng);
    clg_t b = CLG_NONE;
    if (w != CLG_NONE && bias) {
        clg_shape bs = CLG_SHAPE(out_features);
        b = ensure_param(g, st, "linear", prefix, "bias", &bs, u, rng);
    }
    if (w == CLG_NONE || (bias && b == CLG_NONE))
        return CLG_NONE;

    clg_t y = clg_matmul(g, x, w, 0, 1);
    return bias ? clg_add(g, y, b) : y;
}

clg_t clg_layer_norm(clg_graph *g, clg_store *st, const char *prefix, clg_t x, float eps,
                     clg_affine affine)
{
    if (!layer_begin(g, st, "layer_norm", prefix, x))
        return CLG_NONE;
    clg_shape xs = clg_shape_of(g, x);
    char sb[128];
    if (xs.ndim < 1 || xs.dim[xs.ndim - 1] < 1)
        return clg__graph_fail(g, "layer_norm '%s': input %s has no last dim to normalise",
                               prefix, clg_shape_str(&xs, sb, sizeof sb));
    if (!(eps >= 0))
        return clg__graph_fail(g, "layer_norm '%s': eps %g is not >= 0", prefix, (double)eps);
    int64_t d = xs.dim[xs.ndim - 1];
    /* y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias, biased variance;
     * the normalisation one op, the affine part elementwise (it fuses) */
    clg_t y = clg_ln_norm(g, x, eps);
    if (!affine)
        return y;
    clg_shape ps = CLG_SHAPE(d);
    clg_t w = ensure_param(g, st, "layer_norm", prefix, "weight", &ps, (param_init){ 0, 1 }, NULL);
    clg_t b = ensure_param(g, st, "layer_norm", prefix, "bias", &ps, (param_init){ 0, 0 }, NULL);
    return clg_add(g, clg_mul(g, y, w), b);
}

clg_t clg_batch_norm(clg_graph *g, clg_store *st, const char *prefix, clg_t x, float momentum,
                     float eps, clg_mode mode)
{
    if (!layer_begin(g, st, "batch_norm", prefix, x))
        return CLG_NONE;
    clg_shape xs = clg_shape_of(g, x);
    char sb[128];
    if (xs.ndim < 2 || xs.ndim > 5)
        return clg__graph_fail(g, "batch_norm '%s': input %s is not [N, C], [N, C, L] or "
                               "[N, C, H, W]", prefix, clg_shape_str(&xs, sb, sizeof sb));
    if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1))
        return clg__graph_fail(g, "batch_norm '%s': eps %g must be >= 0 and momentum %g in [0, 1]",
                               prefix, (double)eps, (double)momentum);
    int64_t c = xs.dim[1];
    int64_t n = clg_shape_numel(&xs) / (c ? c : 1); /* values per channel */
    if (mode == CLG_TRAINING && n < 2)
        return clg__graph_fail(g, "batch_norm '%s': input %s has %lld value per channel; "
                               "training needs more than 1 (as PyTorch)", prefix,
                               clg_shape_str(&xs, sb, sizeof sb), (long long)n);
    clg_shape cs = CLG_SHAPE(c);
    clg_t w = ensure_param(g, st, "batch_norm", prefix, "weight", &cs, (param_init){ 0, 1 }, NULL);
    clg_t b = ensure_param(g, st, "batch_norm", prefix, "bias", &cs, (param_init){ 0, 0 }, NULL);
    clg_t rm = ensure_tensor(g, st, "batch_norm", prefix, "running_mean", CLG_F32, &cs,
                             (param_init){ 0, 0 }, CLG_TENSOR_BUFFER, NULL);
    clg_t rv = ensure_tensor(g, st, "batch_norm", prefix, "running_var", CLG_F32, &cs,
                             (param_init){ 0, 1 }, CLG_TENSOR_BUFFER, NULL);
    clg_shape one = CLG_SHAPE(1);
    one.ndim = 0;
    clg_t nbt = ensure_tensor(g, st, "batch_norm", prefix, "num_batches_tracked", CLG_I32, &one,
                              (param_init){ 0, 0 }, CLG_TENSOR_BUFFER, NULL);
    if (nbt == CLG_NONE)
        return CLG_NONE;
    clg_t stats;
    if (mode == CLG_TRAINING) {
        /* one op for the batch's mean and biased variance, one that
         * normalises with them: their rules make the backward two passes */
        stats = clg_bn_stats(g, x);
        clg_t mean = clg__stats_row(g, stats, 0, c);
        clg_t var = clg__stats_row(g, stats, 1, c); /* biased, normalises */
        /* running stats: (1 - m) * running + m * batch, the variance unbiased */
        clg_t m_mean = clg_add(g, clg_mul_scalar(g, rm, 1.0f - momentum),
                               clg_mul_scalar(g, mean, momentum));
        clg_t m_var = clg_add(g, clg_mul_scalar(g, rv, 1.0f - momentum),
                              clg_mul_scalar(g, var, momentum * (float)((double)n / (double)(n - 1))));
        clg_t cnt = clg_cast(g, clg_add_scalar(g, clg_cast(g, nbt, CLG_F32), 1.0f), CLG_I32);
        if (clg_assign(g, rm, m_mean) != CLG_OK || clg_assign(g, rv, m_var) != CLG_OK ||
            clg_assign(g, nbt, cnt) != CLG_OK)
            return CLG_NONE;
    } else {
        stats = clg__stats_of(g, rm, rv, c);
    }
    return clg_bn_apply(g, x, stats, w, b, eps);
}

clg_t clg_dropout(clg_graph *g, clg_t x, float p, clg_t state, uint32_t stream)
{
    if (!g || clg_graph_status(g) != CLG_OK || x == CLG_NONE)
        return CLG_NONE;
    if (!(p >= 0 && p <= 1))
        return clg__graph_fail(g, "dropout: p %g is not in [0, 1]", (double)p);
    if (p == 0)
        return x;
    if (p == 1) /* torch: every element dropped */
        return clg_mul_scalar(g, x, 0.0f);
    clg_shape xs = clg_shape_of(g, x);
    clg_t u = clg_rand_uniform(g, state, &xs, stream);
    /* kept with probability 1 - p, scaled by 1 / (1 - p) */
    clg_t keep = clg_ge(g, u, clg_scalar(g, p));
    return clg_mul(g, x, clg_mul_scalar(g, keep, (float)(1.0 / (1.0 - (double)p))));
}

/* ------------------------------------------------------------ 2-D layers */

static int image_input(clg_graph *g, const char *layer, const char *prefix, clg_t x,
                       clg_shape *xs)
{
    char sb[128];
    *xs = clg_shape_of(g, x);
    if (xs->ndim != 4) {
        clg__graph_fail(g, "%s '%s': input %s is not [N, C, H, W]", layer, prefix,
                        clg_shape_str(xs, sb, sizeof sb));
        return 0;
    }
    return 1;
}

/* The window's output size, or a graph error naming the layer. */
static int window_fits(clg_graph *g, const char *layer, const char *prefix, const clg_shape *xs,
                       const clg_window2d *w, int64_t o[2])
{
    char why[256], sb[128];
    if (!clg_window2d_out(w, xs->dim[2], xs->dim[3], o, why, sizeof why)) {
        clg__graph_fail(g, "%s '%s': input %s: %s", layer, prefix,
                        clg_shape_str(xs, sb, sizeof sb), why);
        return 0;
    }
    return 1;
}

clg_t clg_conv2d(clg_graph *g, clg_store *st, const char *prefix, clg_t x, int64_t out_channels,
                 const clg_window2d *w, int groups, clg_bias bias, clg_rng *rng)
{
    if (!layer_begin(g, st, "conv2d", prefix, x))
        return CLG_NONE;
    clg_shape xs;
    int64_t o[2];
    if (!image_input(g, "conv2d", prefix, x, &xs) || !w ||
        !window_fits(g, "conv2d", prefix, &xs, w, o))
        return w ? CLG_NONE : clg__graph_fail(g, "conv2d '%s': window is NULL", prefix);
    const int64_t c = xs.dim[1], kk = (int64_t)w->kernel[0] * w->kernel[1];
    if (groups < 1 || out_channels < 1 || c % groups || out_channels % groups)
        return clg__graph_fail(g, "conv2d '%s': in_channels %lld and out_channels %lld must be "
                               "positive and divisible by groups %d", prefix, (long long)c,
                               (long long)out_channels, groups);
    const int64_t cg = c / groups, m = cg * kk;
    /* torch's default: kaiming_uniform(a = sqrt(5)), i.e. U(+-1/sqrt(fan_in)), bias alike */
    param_init u = { 1.0 / sqrt((double)m), 0 };
    clg_shape ws = CLG_SHAPE(out_channels, cg, w->kernel[0], w->kernel[1]);
    clg_t wt = ensure_param(g, st, "conv2d", prefix, "weight", &ws, u, rng);
    clg_t b = CLG_NONE;
    if (wt != CLG_NONE && bias) {
        clg_shape bs = CLG_SHAPE(out_channels);
        b = ensure_param(g, st, "conv2d", prefix, "bias", &bs, u, rng);
    }
    if (wt == CLG_NONE || (bias && b == CLG_NONE))
        return CLG_NONE;
    /* one op, which a backend with a convolution of its own runs whole and
     * the compiler otherwise lowers into im2col + one GEMM per image
     * (core/lower.c); the bias stays a broadcast add, which fuses with what
     * follows (batch norm, ReLU) */
    clg_t y = clg_conv2d_op(g, x, wt, w, groups);
    return bias ? clg_add(g, y, clg_reshape(g, b, &CLG_SHAPE(out_channels, 1, 1))) : y;
}

/* Whether a pooling window fits x (PyTorch's rules); its output size in o. */
static int pool_fits(clg_graph *g, const char *layer, const char *prefix, clg_t x,
                     const clg_window2d *w, clg_shape *xs, int64_t o[2])
{
    if (!image_input(g, layer, prefix, x, xs) || !window_fits(g, layer, prefix, xs, w, o))
        return 0;
    for (int k = 0; k < 2; k++)
        if (2 * w->pad[k] > w->dilation[k] * (w->kernel[k] - 1) + 1) {
            clg__graph_fail(g, "%s '%s': padding %d is more than half the kernel %d (as "
                            "PyTorch refuses)", layer, prefix, w->pad[k], w->kernel[k]);
            return 0;
        }
    return 1;
}

/* The windows of x as [N, C, KH*KW, L], padded with pad_value. */
static clg_t windows(clg_graph *g, const char *layer, const char *prefix, clg_t x,
                     const clg_window2d *w, float pad_value, clg_shape *xs, int64_t o[2])
{
    if (!pool_fits(g, layer, prefix, x, w, xs, o))
        return CLG_NONE;
    clg_t cols = clg_im2col(g, x, w, pad_value);
    return clg_reshape(g, cols, &CLG_SHAPE(xs->dim[0], xs->dim[1],
                                           (int64_t)w->kernel[0] * w->kernel[1], o[0] * o[1]));
}

clg_t clg_max_pool2d(clg_graph *g, clg_t x, const clg_window2d *w)
{
    if (!g || clg_graph_status(g) != CLG_OK || x == CLG_NONE)
        return CLG_NONE;
    clg_shape xs;
    int64_t o[2];
    if (!w)
        return clg__graph_fail(g, "max_pool2d: window is NULL");
    if (!pool_fits(g, "max_pool2d", "", x, w, &xs, o))
        return CLG_NONE;
    /* the first maximum of each window (as PyTorch picks), so the gradient
     * goes to that one input: gather's backward is a scatter to it. The
     * choice is one op over the image (not argmax over im2col's windows,
     * which wrote KH*KW values per output for argmax and gather to read
     * again), lowered to that form where a backend lacks it */
    const int64_t n = xs.dim[0], c = xs.dim[1], l = o[0] * o[1];
    clg_t idx = clg_reshape(g, clg_max_pool2d_index(g, x, w), &CLG_SHAPE(n, c, l));
    clg_t y = clg_gather(g, clg_reshape(g, x, &CLG_SHAPE(n, c, xs.dim[2] * xs.dim[3])), idx, 2);
    return clg_reshape(g, y, &CLG_SHAPE(n, c, o[0], o[1]));
}

clg_t clg_avg_pool2d(clg_graph *g, clg_t x, const clg_window2d *w)
{
    if (!g || clg_graph_status(g) != CLG_OK || x == CLG_NONE)
        return CLG_NONE;
    clg_shape xs;
    int64_t o[2];
    clg_t c4 = w ? windows(g, "avg_pool2d", "", x, w, 0.0f, &xs, o)
                 : clg__graph_fail(g, "avg_pool2d: window is NULL");
    if (c4 == CLG_NONE)
        return CLG_NONE;
    int ax = 2; /* count_include_pad: every window divides by KH*KW */
    clg_t y = clg_mean(g, c4, &ax, 1, 0);
    return clg_reshape(g, y, &CLG_SHAPE(xs.dim[0], xs.dim[1], o[0], o[1]));
}

/* [s, n] rows averaging torch's adaptive windows [floor(i n / s), ceil((i+1) n / s)). */
static clg_t adaptive_matrix(clg_graph *g, int64_t s, int64_t n)
{
    float *m = calloc((size_t)(s * n), sizeof *m);
    if (!m)
        return clg__graph_fail(g, "adaptive_avg_pool2d: out of memory");
    for (int64_t i = 0; i < s; i++) {
        int64_t a = i * n / s, b = ((i + 1) * n + s - 1) / s;
        for (int64_t j = a; j < b; j++)
            m[i * n + j] = 1.0f / (float)(b - a);
    }
    clg_t t = clg_const(g, CLG_F32, &CLG_SHAPE(s, n), m);
    free(m);
    return t;
}

clg_t clg_adaptive_avg_pool2d(clg_graph *g, clg_t x, int64_t out_h, int64_t out_w)
{
    if (!g || clg_graph_status(g) != CLG_OK || x == CLG_NONE)
        return CLG_NONE;
    clg_shape xs;
    if (!image_input(g, "adaptive_avg_pool2d", "", x, &xs))
        return CLG_NONE;
    if (out_h < 1 || out_w < 1 || out_h > (1 << 20) || out_w > (1 << 20))
        return clg__graph_fail(g, "adaptive_avg_pool2d: output %lldx%lld must be positive",
                               (long long)out_h, (long long)out_w);
    const int64_t n = xs.dim[0], c = xs.dim[1], h = xs.dim[2], wd = xs.dim[3];
    /* P_h [OH, H] @ x [N*C, H, W] @ P_w^T [W, OW] */
    clg_t x3 = clg_reshape(g, x, &CLG_SHAPE(n * c, h, wd));
    clg_t t = clg_matmul(g, adaptive_matrix(g, out_h, h), x3, 0, 0);
    t = clg_matmul(g, t, adaptive_matrix(g, out_w, wd), 0, 1);
    return clg_reshape(g, t, &CLG_SHAPE(n, c, out_h, out_w));
}

/* ------------------------------------------------------- sequence layers */

clg_t clg_embedding(clg_graph *g, clg_store *st, const char *prefix, clg_t idx, int64_t vocab,
                    int64_t dim, clg_rng *rng)
{
    if (!layer_begin(g, st, "embedding", prefix, idx))
        return CLG_NONE;
    clg_shape is = clg_shape_of(g, idx);
    char sb[128];
    if (clg_dtype_of(g, idx) != CLG_I32 || is.ndim < 1 || is.ndim >= CLG_MAX_DIMS)
        return clg__graph_fail(g, "embedding '%s': input %s %s is not i32 token ids [..., T]",
                               prefix, clg_dtype_name(clg_dtype_of(g, idx)),
                               clg_shape_str(&is, sb, sizeof sb));
    if (vocab < 1 || dim < 1)
        return clg__graph_fail(g, "embedding '%s': vocab %lld and dim %lld must be positive",
                               prefix, (long long)vocab, (long long)dim);
    clg_shape ws = CLG_SHAPE(vocab, dim);
    clg_t w = ensure_param(g, st, "embedding", prefix, "weight", &ws, (param_init){ -1, 1 }, rng);
    if (w == CLG_NONE)
        return CLG_NONE;
    /* rows of W (torch.index_select); its backward adds into the rows used */
    int64_t n = clg_shape_numel(&is);
    clg_t rows = clg_index_select(g, w, clg_reshape(g, idx, &CLG_SHAPE(n)));
    clg_shape os = is;
    os.dim[os.ndim++] = dim;
    return clg_reshape(g, rows, &os);
}

clg_t clg_pos_embedding(clg_graph *g, clg_store *st, const char *prefix, clg_t x, int64_t max_len,
                        clg_rng *rng)
{
    if (!layer_begin(g, st, "pos_embedding", prefix, x))
        return CLG_NONE;
    clg_shape xs = clg_shape_of(g, x);
    char sb[128];
    if (xs.ndim != 3 || xs.dim[1] > max_len || max_len < 1)
        return clg__graph_fail(g, "pos_embedding '%s': input %s is not [B, T, D] with T <= max %lld",
                               prefix, clg_shape_str(&xs, sb, sizeof sb), (long long)max_len);
    clg_shape ws = CLG_SHAPE(max_len, xs.dim[2]);
    clg_t w = ensure_param(g, st, "pos_embedding", prefix, "weight", &ws, (param_init){ -1, 1 }, rng);
    if (w == CLG_NONE)
        return CLG_NONE;
    clg_t rows = xs.dim[1] == max_len ? w : clg_slice(g, w, 0, 0, xs.dim[1]);
    return clg_add(g, x, rows);
}

clg_t clg_last_step(clg_graph *g, clg_t x)
{
    if (!g || clg_graph_status(g) != CLG_OK || x == CLG_NONE)
        return CLG_NONE;
    clg_shape xs = clg_shape_of(g, x);
    char sb[128];
    if (xs.ndim != 3 || xs.dim[1] < 1)
        return clg__graph_fail(g, "last: input %s is not [B, T, D]", clg_shape_str(&xs, sb, sizeof sb));
    clg_t s = clg_slice(g, x, 1, xs.dim[1] - 1, xs.dim[1]);
    return clg_reshape(g, s, &CLG_SHAPE(xs.dim[0], xs.dim[2]));
}

/* Whether x is what clg_embedding builds: rows of a 2-D table picked by
 * ids [n] (a reshape of index_select). Then *table and *ids are set. */
static int embedding_rows(const clg_graph *g, clg_t x, clg_t *table, clg_t *ids)
{
    const clg_node *r = &g->nodes[CLG__IDX(x)];
    if (r->op != CLG_OP_RESHAPE)
        return 0;
    const clg_node *sel = &g->nodes[r->in[0]];
    if (sel->op != CLG_OP_INDEX_SELECT)
        return 0;
    *table = CLG__MAKE(g, sel->in[0]);
    *ids = CLG__MAKE(g, sel->in[1]);
    return 1;
}

/* x w^T + bias for a [B, T, D] sequence. When x is an embedding's rows and
 * the table has fewer rows than the sequence, the table is projected
 * instead and its rows picked: the same sums per row, a fraction of the
 * GEMM work forward and backward (the lstm preset: 256 table rows against
 * 2048 positions, 8x fewer multiply-adds in each of the three GEMMs). */
static clg_t project_input(clg_graph *g, clg_t x, clg_t w, clg_t bias)
{
    clg_t table, ids;
    const clg_shape xs = clg_shape_of(g, x);
    if (embedding_rows(g, x, &table, &ids) &&
        clg_shape_of(g, table).dim[0] < clg_shape_numel(&xs) / xs.dim[xs.ndim - 1]) {
        clg_t proj = clg_add(g, clg_matmul(g, table, w, 0, 1), bias); /* [V, G*H] */
        clg_t rows = clg_index_select(g, proj, ids);
        clg_shape os = xs;
        os.dim[os.ndim - 1] = clg_shape_of(g, proj).dim[1];
        return clg_reshape(g, rows, &os);
    }
    return clg_add(g, clg_matmul(g, x, w, 0, 1), bias);
}

/* Columns [k*h, (k+1)*h) of a [B, G*h] gate block. */
static clg_t gate(clg_graph *g, clg_t a, int k, int64_t h)
{
    return clg_slice(g, a, 1, k * h, (k + 1) * h);
}

clg_t clg_recurrent(clg_graph *g, clg_store *st, const char *prefix, clg_t x, clg_recurrent_kind kind,
                    int64_t hidden, int layers, clg_rng *rng)
{
    static const char *const what[] = { "rnn", "rnn", "lstm", "gru" };
    const char *layer = (unsigned)kind <= CLG_GRU ? what[kind] : "recurrent";
    if (!layer_begin(g, st, layer, prefix, x))
        return CLG_NONE;
    clg_shape xs = clg_shape_of(g, x);
    char sb[128];
    if (xs.ndim != 3 || xs.dim[1] < 1)
        return clg__graph_fail(g, "%s '%s': input %s is not [B, T, features] (batch_first)", layer,
                               prefix, clg_shape_str(&xs, sb, sizeof sb));
    if ((unsigned)kind > CLG_GRU || hidden < 1 || layers < 1 || layers > 64)
        return clg__graph_fail(g, "%s '%s': hidden %lld and layers %d must be positive", layer,
                               prefix, (long long)hidden, layers);
    const int64_t b = xs.dim[0], t_len = xs.dim[1], h = hidden;
    const int gates = kind == CLG_LSTM ? 4 : kind == CLG_GRU ? 3 : 1;
    const param_init u = { 1.0 / sqrt((double)h), 0 };
    clg_t seq = x;
    for (int l = 0; l < layers; l++) {
        int64_t in = clg_shape_of(g, seq).dim[2];
        char n_wih[32], n_whh[32], n_bih[32], n_bhh[32];
        snprintf(n_wih, sizeof n_wih, "weight_ih_l%d", l);
        snprintf(n_whh, sizeof n_whh, "weight_hh_l%d", l);
        snprintf(n_bih, sizeof n_bih, "bias_ih_l%d", l);
        snprintf(n_bhh, sizeof n_bhh, "bias_hh_l%d", l);
        clg_shape s_wih = CLG_SHAPE(gates * h, in), s_whh = CLG_SHAPE(gates * h, h);
        clg_shape s_b = CLG_SHAPE(gates * h);
        /* torch's order of creation: weight_ih, weight_hh, bias_ih, bias_hh */
        clg_t wih = ensure_param(g, st, layer, prefix, n_wih, &s_wih, u, rng);
        clg_t whh = ensure_param(g, st, layer, prefix, n_whh, &s_whh, u, rng);
        clg_t bih = ensure_param(g, st, layer, prefix, n_bih, &s_b, u, rng);
        clg_t bhh = ensure_param(g, st, layer, prefix, n_bhh, &s_b, u, rng);
        if (bhh == CLG_NONE || wih == CLG_NONE || whh == CLG_NONE || bih == CLG_NONE)
            return CLG_NONE;
        /* The input half of every gate for all steps at once: one GEMM.
         * b_hh joins b_ih there (GRU: all but b_hn, which r scales), which
         * saves an add per step and, backward, a batch sum per step; both
         * biases' gradients are the same sum either way. */
        clg_t bias, b_hn = CLG_NONE;
        if (kind == CLG_GRU) {
            clg_t parts[2] = { clg_slice(g, bhh, 0, 0, 2 * h), clg_full(g, &CLG_SHAPE(h), 0.0f) };
            bias = clg_add(g, bih, clg_concat(g, parts, 2, 0));
            b_hn = clg_slice(g, bhh, 0, 2 * h, 3 * h);
        } else {
            bias = clg_add(g, bih, bhh);
        }
        clg_t xw = project_input(g, seq, wih, bias); /* [B, T, G*H] */
        if (kind == CLG_LSTM) {
            /* the recurrence as one op (ops_recurrent.c) */
            seq = clg__lstm_output(g, clg_lstm_scan(g, xw, whh));
            continue;
        }
        clg_t hs = clg_full(g, &CLG_SHAPE(b, h), 0.0f);
        clg_t *outs = malloc((size_t)t_len * sizeof *outs);
        if (!outs)
            return clg__graph_fail(g, "%s '%s': out of memory", layer, prefix);
        for (int64_t t = 0; t < t_len; t++) {
            clg_t xt = clg_reshape(g, clg_slice(g, xw, 1, t, t + 1), &CLG_SHAPE(b, gates * h));
            clg_t hw = clg_matmul(g, hs, whh, 0, 1); /* [B, G*H] */
            if (kind == CLG_RNN_TANH || kind == CLG_RNN_RELU) {
                clg_t a = clg_add(g, xt, hw);
                hs = kind == CLG_RNN_TANH ? clg_tanh(g, a) : clg_relu(g, a);
            } else { /* GRU: r, z, n; n = tanh(x_n + r * (W_hn h + b_hn)) */
                clg_t r = clg_sigmoid(g, clg_add(g, gate(g, xt, 0, h), gate(g, hw, 0, h)));
                clg_t z = clg_sigmoid(g, clg_add(g, gate(g, xt, 1, h), gate(g, hw, 1, h)));
                clg_t hn = clg_add(g, gate(g, hw, 2, h), b_hn);
                clg_t nn = clg_tanh(g, clg_add(g, gate(g, xt, 2, h), clg_mul(g, r, hn)));
                /* h' = (1 - z) n + z h = n + z (h - n) */
                hs = clg_add(g, nn, clg_mul(g, z, clg_sub(g, hs, nn)));
            }
            outs[t] = clg_reshape(g, hs, &CLG_SHAPE(b, 1, h));
        }
        seq = t_len == 1 ? outs[0] : clg_concat(g, outs, (int)t_len, 1);
        free(outs);
    }
    return seq;
}

clg_t clg_self_attention(clg_graph *g, clg_store *st, const char *prefix, clg_t x, int heads,
                         clg_mask mask, float dropout, clg_t rng_state, uint32_t stream, clg_rng *rng)
{
    if (!layer_begin(g, st, "attention", prefix, x))
        return CLG_NONE;
    clg_shape xs = clg_shape_of(g, x);
    char sb[128];
    if (xs.ndim != 3)
        return clg__graph_fail(g, "attention '%s': input %s is not [B, T, E]", prefix,
                               clg_shape_str(&xs, sb, sizeof sb));
    const int64_t b = xs.dim[0], t = xs.dim[1], e = xs.dim[2];
    if (heads < 1 || e % heads)
        return clg__graph_fail(g, "attention '%s': heads %d must divide the embedding %lld", prefix,
                               heads, (long long)e);
    const int64_t dh = e / heads;
    /* as nn.MultiheadAttention: xavier_uniform in_proj, zero biases, out_proj
     * as nn.Linear's weight */
    clg_shape s_in = CLG_SHAPE(3 * e, e), s_b3 = CLG_SHAPE(3 * e), s_o = CLG_SHAPE(e, e),
              s_b = CLG_SHAPE(e);
    clg_t w_in = ensure_param(g, st, "attention", prefix, "in_proj_weight", &s_in,
                              (param_init){ sqrt(6.0 / (double)(4 * e)), 0 }, rng);
    clg_t b_in = ensure_param(g, st, "attention", prefix, "in_proj_bias", &s_b3, (param_init){ 0, 0 }, rng);
    clg_t w_o = ensure_param(g, st, "attention", prefix, "out_proj.weight", &s_o,
                             (param_init){ 1.0 / sqrt((double)e), 0 }, rng);
    clg_t b_o = ensure_param(g, st, "attention", prefix, "out_proj.bias", &s_b, (param_init){ 0, 0 }, rng);
    if (w_in == CLG_NONE || b_in == CLG_NONE || w_o == CLG_NONE || b_o == CLG_NONE)
        return CLG_NONE;
    clg_t qkv = clg_add(g, clg_matmul(g, x, w_in, 0, 1), b_in); /* [B, T, 3E] */
    static const int to_heads[4] = { 0, 2, 1, 3 };
    clg_t part[3];
    for (int k = 0; k < 3; k++) {
        clg_t p = clg_reshape(g, clg_slice(g, qkv, 2, k * e, (k + 1) * e), &CLG_SHAPE(b, t, heads, dh));
        part[k] = clg_reshape(g, clg_permute(g, p, to_heads), &CLG_SHAPE(b * heads, t, dh));
    }
    clg_t sc = clg_mul_scalar(g, clg_matmul(g, part[0], part[1], 0, 1), (float)(1.0 / sqrt((double)dh)));
    if (mask == CLG_CAUSAL && t > 1) {
        float *m = malloc((size_t)(t * t) * sizeof *m);
        if (!m)
            return clg__graph_fail(g, "attention '%s': out of memory", prefix);
        for (int64_t i = 0; i < t; i++)
            for (int64_t j = 0; j < t; j++)
                m[i * t + j] = j > i ? -INFINITY : 0.0f;
        sc = clg_add(g, sc, clg_const(g, CLG_F32, &CLG_SHAPE(t, t), m));
        free(m);
    }
    clg_t att = clg_softmax(g, sc, -1); /* [B*H, T, T] */
    if (dropout > 0)
        att = clg_dropout(g, att, dropout, rng_state, stream);
    clg_t o = clg_reshape(g, clg_matmul(g, att, part[2], 0, 0), &CLG_SHAPE(b, heads, t, dh));
    o = clg_reshape(g, clg_permute(g, o, to_heads), &CLG_SHAPE(b, t, e));
    return clg_add(g, clg_matmul(g, o, w_o, 0, 1), b_o);
}

clg_t clg_transformer_layer(clg_graph *g, clg_store *st, const char *prefix, clg_t x, int heads,
                            int64_t ff, clg_mask mask, clg_activation activation, float dropout, clg_t rng_state,
                            uint32_t stream, clg_rng *rng)
{
    if (!layer_begin(g, st, "transformer", prefix, x))
        return CLG_NONE;
    clg_shape xs = clg_shape_of(g, x);
    char sb[128], sub[256];
    if (xs.ndim != 3 || ff < 1)
        return clg__graph_fail(g, "transformer '%s': input %s is not [B, T, E] or ff %lld < 1",
                               prefix, clg_shape_str(&xs, sb, sizeof sb), (long long)ff);
    const int64_t e = xs.dim[2];
    const int drop = dropout > 0;
    /* nn.TransformerEncoderLayer(norm_first=True, batch_first=True), with its
     * creation order: self_attn, linear1, (dropout), linear2, norm1, norm2 */
#define SUB(name) (snprintf(sub, sizeof sub, "%s." name, prefix), sub)
    clg_t n1 = clg_layer_norm(g, st, SUB("norm1"), x, 1e-5f, CLG_AFFINE);
    clg_t a = clg_self_attention(g, st, SUB("self_attn"), n1, heads, mask, dropout, rng_state,
                                 stream * 4u, rng);
    if (drop)
        a = clg_dropout(g, a, dropout, rng_state, stream * 4u + 1);
    clg_t h = clg_add(g, x, a);
    clg_t n2 = clg_layer_norm(g, st, SUB("norm2"), h, 1e-5f, CLG_AFFINE);
    clg_t f = clg_linear(g, st, SUB("linear1"), n2, e, ff, CLG_BIAS, rng);
    f = activation == CLG_ACT_GELU ? clg_gelu(g, f, 0) : clg_relu(g, f);
    if (drop)
        f = clg_dropout(g, f, dropout, rng_state, stream * 4u + 2);
    f = clg_linear(g, st, SUB("linear2"), f, ff, e, CLG_BIAS, rng);
    if (drop)
        f = clg_dropout(g, f, dropout, rng_state, stream * 4u + 3);
#undef SUB
    return clg_add(g, h, f);
}
