/* The layers of --model pipelines, each as its torch.nn module (same
 * parameter names and layout, same defaults), and `clgrad layers [NAME]`. */
#include "layers.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#define KEY_END { NULL, CLI_KEY_INT, NULL, NULL, 0, 0, 0, NULL }

static clg_t refuse(cli_build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static clg_t refuse(cli_build *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
    return CLG_NONE;
}

static char *shape_s(const clg_shape *s, char *buf, size_t n)
{
    return clg_shape_str(s, buf, n);
}

/* ------------------------------------------------------------ builders */

static clg_t build_linear(cli_build *b, const cli_layer *L, clg_t x)
{
    clg_shape xs = clg_shape_of(b->g, x);
    char sb[128];
    if (xs.ndim < 2)
        return refuse(b, "input %s: linear needs [B, ..., features]", shape_s(&xs, sb, sizeof sb));
    int64_t out = (int64_t)L->v[0];
    if (!(L->given & 1u)) {
        if (!b->last_linear)
            return refuse(b, "out= is required (only the last linear takes it from the data)");
        out = b->n_out;
    }
    return clg_linear(b->g, b->st, b->prefix, x, xs.dim[xs.ndim - 1], out, L->v[1] != 0, b->rng);
}

static clg_t build_relu(cli_build *b, const cli_layer *L, clg_t x)
{
    (void)L;
    return clg_relu(b->g, x);
}

static clg_t build_tanh(cli_build *b, const cli_layer *L, clg_t x)
{
    (void)L;
    return clg_tanh(b->g, x);
}

static clg_t build_sigmoid(cli_build *b, const cli_layer *L, clg_t x)
{
    (void)L;
    return clg_sigmoid(b->g, x);
}

static clg_t build_gelu(cli_build *b, const cli_layer *L, clg_t x)
{
    return clg_gelu(b->g, x, L->v[0] == 1);
}

static clg_t build_leakyrelu(cli_build *b, const cli_layer *L, clg_t x)
{
    return clg_leaky_relu(b->g, x, (float)L->v[0]);
}

static clg_t build_softmax(cli_build *b, const cli_layer *L, clg_t x)
{
    (void)L;
    return clg_softmax(b->g, x, -1);
}

static clg_t build_logsoftmax(cli_build *b, const cli_layer *L, clg_t x)
{
    (void)L;
    return clg_log_softmax(b->g, x, -1);
}

/* nn.Flatten(): [B, d1, d2, ...] -> [B, d1*d2*...] */
static clg_t build_flatten(cli_build *b, const cli_layer *L, clg_t x)
{
    (void)L;
    clg_shape xs = clg_shape_of(b->g, x);
    if (xs.ndim <= 2)
        return x;
    clg_shape o = CLG_SHAPE(xs.dim[0], clg_shape_numel(&xs) / (xs.dim[0] ? xs.dim[0] : 1));
    if (xs.dim[0] == 0)
        o.dim[1] = 0;
    return clg_reshape(b->g, x, &o);
}

/* [B, ...] -> [B, A, B, C]; one entry may be -1. */
static clg_t build_reshape(cli_build *b, const cli_layer *L, clg_t x)
{
    clg_shape xs = clg_shape_of(b->g, x);
    char sb[128], ob[128];
    if (L->n_list + 1 > CLG_MAX_DIMS)
        return refuse(b, "shape= has %d dims; with the batch at most %d", L->n_list,
                      CLG_MAX_DIMS);
    clg_shape o = { .ndim = L->n_list + 1, .dim = { xs.dim[0] } };
    int64_t per = clg_shape_numel(&xs) / (xs.dim[0] ? xs.dim[0] : 1), known = 1;
    int free_dim = -1;
    for (int i = 0; i < L->n_list; i++) {
        o.dim[i + 1] = L->list[i];
        if (L->list[i] == -1)
            free_dim = i + 1;
        else
            known *= L->list[i];
    }
    if (free_dim > 0 && known > 0 && per % known == 0)
        o.dim[free_dim] = per / known;
    if (clg_shape_numel(&o) != clg_shape_numel(&xs) || (free_dim > 0 && known <= 0))
        return refuse(b, "input %s (%lld values per sample) cannot be viewed as %s",
                      shape_s(&xs, sb, sizeof sb), (long long)per, shape_s(&o, ob, sizeof ob));
    return clg_reshape(b->g, x, &o);
}

static clg_t build_layernorm(cli_build *b, const cli_layer *L, clg_t x)
{
    return clg_layer_norm(b->g, b->st, b->prefix, x, (float)L->v[0], 1);
}

static clg_t build_batchnorm(cli_build *b, const cli_layer *L, clg_t x)
{
    clg_shape xs = clg_shape_of(b->g, x);
    char sb[128];
    if (xs.ndim < 2 || xs.ndim > 4)
        return refuse(b, "input %s is not [N, C] or [N, C, L] (BatchNorm1d) or [N, C, H, W] "
                      "(BatchNorm2d)", shape_s(&xs, sb, sizeof sb));
    return clg_batch_norm(b->g, b->st, b->prefix, x, (float)L->v[0], (float)L->v[1], b->training);
}

/* The dropout state of the graph: store tensor "rng.dropout", i32 (seed,
 * step), trainer state (saved in checkpoints, not in --save), created once
 * with a seed drawn from a copy of the init rng (weights stay as they would
 * be without dropout). The training graph adds 1 to the step after every
 * run (model.c), so each step draws new masks and a resumed run draws the
 * same ones; the step is exact up to 2^24 steps (f32 arithmetic). */
static clg_t dropout_state(cli_build *b)
{
    if (*b->rng_state != CLG_NONE)
        return *b->rng_state;
    if (clg_store_find(b->st, CLI_DROPOUT_STATE) < 0) {
        clg_rng copy = *b->rng;
        int32_t init[2] = { (int32_t)(uint32_t)clg_rng_next(&copy), 0 };
        clg_shape s = CLG_SHAPE(2);
        if (clg_store_add(b->st, CLI_DROPOUT_STATE, CLG_I32, &s, init) != CLG_OK ||
            clg_store_set_kind(b->st, CLI_DROPOUT_STATE, CLG_TENSOR_STATE) != CLG_OK)
            return refuse(b, "%s", clg_ctx_error(clg_graph_ctx(b->g)));
    }
    *b->rng_state = clg_param(b->g, b->st, CLI_DROPOUT_STATE);
    return *b->rng_state;
}

static clg_t build_dropout(cli_build *b, const cli_layer *L, clg_t x)
{
    if (!b->training || L->v[0] == 0)
        return x; /* eval mode: the identity */
    clg_t state = dropout_state(b);
    if (state == CLG_NONE)
        return CLG_NONE;
    return clg_dropout(b->g, x, (float)L->v[0], state, (uint32_t)b->index);
}

/* The window of conv2d / pooling keys: k, stride (default: stride_def, or
 * k when 0), pad, dilation (slots after k in that order; -1: absent). */
static clg_window2d window_of(const cli_layer *L, int k, int stride, int pad, int dil, int stride_def)
{
    int kv = (int)L->v[k];
    int sv = stride >= 0 && (L->given & (1u << stride)) ? (int)L->v[stride]
                                                         : (stride_def ? stride_def : kv);
    int pv = pad >= 0 ? (int)L->v[pad] : 0, dv = dil >= 0 ? (int)L->v[dil] : 1;
    return (clg_window2d){ { kv, kv }, { sv, sv }, { pv, pv }, { dv, dv } };
}

static clg_t build_conv2d(cli_build *b, const cli_layer *L, clg_t x)
{
    clg_shape xs = clg_shape_of(b->g, x);
    char sb[128];
    if (xs.ndim != 4)
        return refuse(b, "input %s is not [N, C, H, W]", shape_s(&xs, sb, sizeof sb));
    int64_t out = (int64_t)L->v[0], groups = (int64_t)L->v[5];
    if (xs.dim[1] % groups || out % groups)
        return refuse(b, "groups=%lld must divide the input channels %lld and out=%lld",
                      (long long)groups, (long long)xs.dim[1], (long long)out);
    clg_window2d w = window_of(L, 1, 2, 3, 4, 1);
    int64_t o[2];
    char why[256];
    if (!clg_window2d_out(&w, xs.dim[2], xs.dim[3], o, why, sizeof why))
        return refuse(b, "input %s: %s", shape_s(&xs, sb, sizeof sb), why);
    return clg_conv2d(b->g, b->st, b->prefix, x, out, &w, (int)groups, L->v[6] != 0, b->rng);
}

static clg_t build_pool(cli_build *b, const cli_layer *L, clg_t x, int max)
{
    clg_shape xs = clg_shape_of(b->g, x);
    char sb[128];
    if (xs.ndim != 4)
        return refuse(b, "input %s is not [N, C, H, W]", shape_s(&xs, sb, sizeof sb));
    clg_window2d w = window_of(L, 0, 1, 2, -1, 0);
    int64_t o[2];
    char why[256];
    if (!clg_window2d_out(&w, xs.dim[2], xs.dim[3], o, why, sizeof why))
        return refuse(b, "input %s: %s", shape_s(&xs, sb, sizeof sb), why);
    if (2 * w.pad[0] > w.kernel[0])
        return refuse(b, "pad=%d is more than half of k=%d", w.pad[0], w.kernel[0]);
    return max ? clg_max_pool2d(b->g, x, &w) : clg_avg_pool2d(b->g, x, &w);
}

static clg_t build_maxpool2d(cli_build *b, const cli_layer *L, clg_t x)
{
    return build_pool(b, L, x, 1);
}

static clg_t build_avgpool2d(cli_build *b, const cli_layer *L, clg_t x)
{
    return build_pool(b, L, x, 0);
}

static clg_t build_adaptiveavgpool2d(cli_build *b, const cli_layer *L, clg_t x)
{
    clg_shape xs = clg_shape_of(b->g, x);
    char sb[128];
    if (xs.ndim != 4)
        return refuse(b, "input %s is not [N, C, H, W]", shape_s(&xs, sb, sizeof sb));
    return clg_adaptive_avg_pool2d(b->g, x, (int64_t)L->v[0], (int64_t)L->v[0]);
}

static clg_t need_seq(cli_build *b, clg_t x, const char *what)
{
    clg_shape xs = clg_shape_of(b->g, x);
    char sb[128];
    if (xs.ndim != 3)
        return refuse(b, "input %s is not [B, T, %s]", shape_s(&xs, sb, sizeof sb), what);
    return x;
}

static clg_t build_embedding(cli_build *b, const cli_layer *L, clg_t x)
{
    clg_shape xs = clg_shape_of(b->g, x);
    char sb[128];
    if (clg_dtype_of(b->g, x) != CLG_I32)
        return refuse(b, "input %s is %s, not i32 token ids (text data)", shape_s(&xs, sb, sizeof sb),
                      clg_dtype_name(clg_dtype_of(b->g, x)));
    int64_t vocab = (L->given & 2u) ? (int64_t)L->v[1] : b->n_out;
    return clg_embedding(b->g, b->st, b->prefix, x, vocab, (int64_t)L->v[0], b->rng);
}

static clg_t build_posembedding(cli_build *b, const cli_layer *L, clg_t x)
{
    if (need_seq(b, x, "D") == CLG_NONE)
        return CLG_NONE;
    clg_shape xs = clg_shape_of(b->g, x);
    int64_t max = (L->given & 1u) ? (int64_t)L->v[0] : xs.dim[1];
    if (max < xs.dim[1])
        return refuse(b, "max=%lld is shorter than the sequence (%lld)", (long long)max,
                      (long long)xs.dim[1]);
    return clg_pos_embedding(b->g, b->st, b->prefix, x, max, b->rng);
}

static clg_t build_recurrent(cli_build *b, const cli_layer *L, clg_t x, clg_recurrent_kind kind)
{
    if (need_seq(b, x, "features") == CLG_NONE)
        return CLG_NONE;
    if (kind == CLG_RNN_TANH && L->v[2] == 1)
        kind = CLG_RNN_RELU;
    return clg_recurrent(b->g, b->st, b->prefix, x, kind, (int64_t)L->v[0], (int)L->v[1], b->rng);
}

static clg_t build_rnn(cli_build *b, const cli_layer *L, clg_t x)
{
    return build_recurrent(b, L, x, CLG_RNN_TANH);
}

static clg_t build_lstm(cli_build *b, const cli_layer *L, clg_t x)
{
    return build_recurrent(b, L, x, CLG_LSTM);
}

static clg_t build_gru(cli_build *b, const cli_layer *L, clg_t x)
{
    return build_recurrent(b, L, x, CLG_GRU);
}

static clg_t build_last(cli_build *b, const cli_layer *L, clg_t x)
{
    (void)L;
    if (need_seq(b, x, "D") == CLG_NONE)
        return CLG_NONE;
    return clg_last_step(b->g, x);
}

static clg_t build_attention(cli_build *b, const cli_layer *L, clg_t x)
{
    if (need_seq(b, x, "E") == CLG_NONE)
        return CLG_NONE;
    clg_shape xs = clg_shape_of(b->g, x);
    if (xs.dim[2] % (int64_t)L->v[0])
        return refuse(b, "heads=%d does not divide the embedding %lld", (int)L->v[0],
                      (long long)xs.dim[2]);
    return clg_self_attention(b->g, b->st, b->prefix, x, (int)L->v[0], L->v[1] != 0, 0.0f, CLG_NONE,
                              0, b->rng);
}

static clg_t build_transformer(cli_build *b, const cli_layer *L, clg_t x)
{
    if (need_seq(b, x, "E") == CLG_NONE)
        return CLG_NONE;
    clg_shape xs = clg_shape_of(b->g, x);
    if (xs.dim[2] % (int64_t)L->v[0])
        return refuse(b, "heads=%d does not divide the embedding %lld", (int)L->v[0],
                      (long long)xs.dim[2]);
    float p = b->training ? (float)L->v[2] : 0.0f;
    clg_t state = CLG_NONE;
    if (p > 0 && (state = dropout_state(b)) == CLG_NONE)
        return CLG_NONE;
    return clg_transformer_layer(b->g, b->st, b->prefix, x, (int)L->v[0], (int64_t)L->v[1],
                                 L->v[3] != 0, L->v[4] == 1 /* gelu */, p, state, (uint32_t)b->index, b->rng);
}

/* --------------------------------------------------------------- table */

const cli_layer_def cli_layer_defs[] = {
    { "linear", "nn.Linear on the last dim: weight [out, in], bias [out]", build_linear,
      { { "out", CLI_KEY_INT, "", NULL, 1, 1 << 24, 0,
          "output features (the last linear: what the data needs, if not given)" },
        { "bias", CLI_KEY_BOOL, "1", NULL, 0, 1, 0, "add a bias" },
        KEY_END } },
    { "relu", "nn.ReLU", build_relu, { KEY_END } },
    { "tanh", "nn.Tanh", build_tanh, { KEY_END } },
    { "sigmoid", "nn.Sigmoid", build_sigmoid, { KEY_END } },
    { "gelu", "nn.GELU", build_gelu,
      { { "approximate", CLI_KEY_ENUM, "none", "none|tanh", 0, 0, 0, "the tanh approximation" },
        KEY_END } },
    { "leakyrelu", "nn.LeakyReLU", build_leakyrelu,
      { { "slope", CLI_KEY_FLOAT, "0.01", NULL, -1e6, 1e6, 0, "negative_slope" }, KEY_END } },
    { "softmax", "nn.Softmax over the last dim", build_softmax, { KEY_END } },
    { "logsoftmax", "nn.LogSoftmax over the last dim", build_logsoftmax, { KEY_END } },
    { "conv2d", "nn.Conv2d on [N, C, H, W]: weight [out, C/groups, k, k], bias [out] (im2col + GEMM)",
      build_conv2d,
      { { "out", CLI_KEY_INT, NULL, NULL, 1, 1 << 20, 0, "output channels" },
        { "k", CLI_KEY_INT, NULL, NULL, 1, 1 << 10, 0, "kernel size" },
        { "stride", CLI_KEY_INT, "1", NULL, 1, 1 << 10, 0, "stride" },
        { "pad", CLI_KEY_INT, "0", NULL, 0, 1 << 10, 0, "zero padding on each side" },
        { "dilation", CLI_KEY_INT, "1", NULL, 1, 1 << 10, 0, "dilation" },
        { "groups", CLI_KEY_INT, "1", NULL, 1, 1 << 20, 0, "groups (divides in and out channels)" },
        { "bias", CLI_KEY_BOOL, "1", NULL, 0, 1, 0, "add a bias" },
        KEY_END } },
    { "maxpool2d", "nn.MaxPool2d: the gradient goes to the first maximum (PyTorch's pick)",
      build_maxpool2d,
      { { "k", CLI_KEY_INT, NULL, NULL, 1, 1 << 10, 0, "kernel size" },
        { "stride", CLI_KEY_INT, "", NULL, 1, 1 << 10, 0, "stride (default: k)" },
        { "pad", CLI_KEY_INT, "0", NULL, 0, 1 << 10, 0, "-inf padding, at most k/2" },
        KEY_END } },
    { "avgpool2d", "nn.AvgPool2d (count_include_pad)", build_avgpool2d,
      { { "k", CLI_KEY_INT, NULL, NULL, 1, 1 << 10, 0, "kernel size" },
        { "stride", CLI_KEY_INT, "", NULL, 1, 1 << 10, 0, "stride (default: k)" },
        { "pad", CLI_KEY_INT, "0", NULL, 0, 1 << 10, 0, "zero padding, at most k/2" },
        KEY_END } },
    { "adaptiveavgpool2d", "nn.AdaptiveAvgPool2d to out x out", build_adaptiveavgpool2d,
      { { "out", CLI_KEY_INT, NULL, NULL, 1, 1 << 20, 0, "output height and width" }, KEY_END } },
    { "embedding", "nn.Embedding on i32 token ids [B, T] -> [B, T, dim]: weight [vocab, dim]",
      build_embedding,
      { { "dim", CLI_KEY_INT, NULL, NULL, 1, 1 << 20, 0, "embedding size" },
        { "vocab", CLI_KEY_INT, "", NULL, 1, 1 << 24, 0, "vocabulary (default: the data's)" },
        KEY_END } },
    { "posembedding", "a learned position table weight [max, D] added to [B, T, D]",
      build_posembedding,
      { { "max", CLI_KEY_INT, "", NULL, 1, 1 << 20, 0, "table rows (default: the sequence length)" },
        KEY_END } },
    { "rnn", "nn.RNN(batch_first): [B, T, in] -> [B, T, hidden]; weight_ih_l0, ...", build_rnn,
      { { "hidden", CLI_KEY_INT, NULL, NULL, 1, 1 << 16, 0, "hidden size" },
        { "layers", CLI_KEY_INT, "1", NULL, 1, 64, 0, "stacked layers" },
        { "nonlinearity", CLI_KEY_ENUM, "tanh", "tanh|relu", 0, 0, 0, "activation" },
        KEY_END } },
    { "lstm", "nn.LSTM(batch_first): [B, T, in] -> [B, T, hidden]", build_lstm,
      { { "hidden", CLI_KEY_INT, NULL, NULL, 1, 1 << 16, 0, "hidden size" },
        { "layers", CLI_KEY_INT, "1", NULL, 1, 64, 0, "stacked layers" },
        KEY_END } },
    { "gru", "nn.GRU(batch_first): [B, T, in] -> [B, T, hidden]", build_gru,
      { { "hidden", CLI_KEY_INT, NULL, NULL, 1, 1 << 16, 0, "hidden size" },
        { "layers", CLI_KEY_INT, "1", NULL, 1, 64, 0, "stacked layers" },
        KEY_END } },
    { "last", "the last time step: [B, T, D] -> [B, D]", build_last, { KEY_END } },
    { "attention", "nn.MultiheadAttention as self-attention: in_proj_weight, in_proj_bias, out_proj.*",
      build_attention,
      { { "heads", CLI_KEY_INT, NULL, NULL, 1, 1 << 10, 0, "heads (divide the embedding)" },
        { "causal", CLI_KEY_BOOL, "0", NULL, 0, 1, 0, "mask future positions" },
        KEY_END } },
    { "transformer", "nn.TransformerEncoderLayer(norm_first=True, batch_first=True): self_attn.*, "
      "linear1.*, linear2.*, norm1.*, norm2.*", build_transformer,
      { { "heads", CLI_KEY_INT, NULL, NULL, 1, 1 << 10, 0, "heads (divide the embedding)" },
        { "ff", CLI_KEY_INT, NULL, NULL, 1, 1 << 20, 0, "feed-forward width" },
        { "dropout", CLI_KEY_FLOAT, "0.1", NULL, 0, 1, CLI_OPEN_HI, "dropout (training only)" },
        { "causal", CLI_KEY_BOOL, "0", NULL, 0, 1, 0, "mask future positions" },
        { "activation", CLI_KEY_ENUM, "relu", "relu|gelu", 0, 0, 0, "feed-forward activation" },
        KEY_END } },
    { "flatten", "nn.Flatten: [B, ...] -> [B, features]", build_flatten, { KEY_END } },
    { "reshape", "a view [B, ...] -> [B, A, B, C] (not a module: no tensors, but it takes an index)",
      build_reshape,
      { { "shape", CLI_KEY_LIST, NULL, NULL, 0, 0, 0, "the dims after the batch, A/B/C; one may be -1" },
        KEY_END } },
    { "dropout", "nn.Dropout: zeroes with probability p, scales by 1/(1-p) (training only; "
      "a Philox mask, the same on every backend)", build_dropout,
      { { "p", CLI_KEY_FLOAT, "0.5", NULL, 0, 1, CLI_OPEN_HI, "probability of an element being zeroed" },
        KEY_END } },
    { "layernorm", "nn.LayerNorm over the last dim: weight, bias", build_layernorm,
      { { "eps", CLI_KEY_FLOAT, "1e-05", NULL, 0, 1, CLI_OPEN_LO, "added to the variance" },
        KEY_END } },
    { "batchnorm",
      "nn.BatchNorm1d ([N, C] or [N, C, L]) or nn.BatchNorm2d ([N, C, H, W]): weight, bias; "
      "buffers running_mean, running_var, num_batches_tracked",
      build_batchnorm,
      { { "momentum", CLI_KEY_FLOAT, "0.1", NULL, 0, 1, 0, "running = (1 - m) running + m batch" },
        { "eps", CLI_KEY_FLOAT, "1e-05", NULL, 0, 1, CLI_OPEN_LO, "added to the variance" },
        KEY_END } },
};
const int cli_layer_def_count = (int)(sizeof cli_layer_defs / sizeof cli_layer_defs[0]);

int cli_layer_find(const char *name, size_t n)
{
    for (int i = 0; i < cli_layer_def_count; i++)
        if (strlen(cli_layer_defs[i].name) == n && !strncmp(cli_layer_defs[i].name, name, n))
            return i;
    return -1;
}

int cli_layer_key_count(const cli_layer_def *d)
{
    int k = 0;
    while (k < CLI_LAYER_KEYS && d->keys[k].name)
        k++;
    return k;
}

/* ------------------------------------------------------ clgrad layers */

static const char *type_word(const cli_key_def *k)
{
    switch (k->type) {
    case CLI_KEY_INT: return "int";
    case CLI_KEY_FLOAT: return "float";
    case CLI_KEY_BOOL: return "bool";
    case CLI_KEY_ENUM: return "choice";
    case CLI_KEY_LIST: return "list";
    }
    return "?";
}

static void print_layer(const cli_layer_def *d)
{
    printf("%s: %s\n", d->name, d->doc);
    int nk = cli_layer_key_count(d);
    if (!nk)
        printf("  (no keys)\n");
    for (int i = 0; i < nk; i++) {
        const cli_key_def *k = &d->keys[i];
        printf("  %-12s %-6s %s", k->name, type_word(k),
               !k->def ? "required" : *k->def ? "default " : "optional");
        if (k->def)
            printf("%s", k->def);
        if (k->type == CLI_KEY_ENUM)
            printf(" {%s}", k->choices);
        if (k->type == CLI_KEY_INT || k->type == CLI_KEY_FLOAT)
            printf(" %s%.10g..%.10g%s", k->open & CLI_OPEN_LO ? "(" : "[", k->lo, k->hi,
                   k->open & CLI_OPEN_HI ? ")" : "]");
        printf("  %s\n", k->doc);
    }
}

int cli_layers(int argc, char **argv)
{
    if (argc > 1 || (argc == 1 && argv[0][0] == '-')) {
        cli_error("layers: usage: clgrad layers [NAME]");
        return 2;
    }
    if (argc == 1) {
        int i = cli_layer_find(argv[0], strlen(argv[0]));
        if (i < 0) {
            char known[1024] = "";
            size_t used = 0;
            for (int k = 0; k < cli_layer_def_count && used < sizeof known; k++)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", k ? ", " : "",
                                         cli_layer_defs[k].name);
            cli_error("layers: no layer named '%s' (known: %s)", argv[0], known);
            return 1;
        }
        print_layer(&cli_layer_defs[i]);
        return 0;
    }
    printf("layers of --model pipelines (NAME:key=value,... joined by '>'; lists as a/b/c):\n");
    for (int i = 0; i < cli_layer_def_count; i++)
        printf("  %-18s %s\n", cli_layer_defs[i].name, cli_layer_defs[i].doc);
    printf("presets (a --model value without '>'):\n"
           "  linear[:out=sigmoid|softmax|log_softmax]\n"
           "  mlp:H1,H2,...[,act=relu|tanh|sigmoid|gelu][,out=sigmoid|softmax|log_softmax]\n"
           "  cnn:C1,C2,...[,fc=H][,bn=1][,dropout=P]  per C: conv2d:out=C,k=3 > [batchnorm >] relu >\n"
           "      maxpool2d:k=2; then flatten > [dropout:p=P >] [linear:out=H > relu >] linear\n"
           "  lstm:H[,layers=L,dim=D]  embedding:dim=D (64) > lstm:hidden=H,layers=L > linear\n"
           "  transformer:d=D,heads=H,layers=L[,ff=F,seq=T]  embedding:dim=D > posembedding:max=T (64) >\n"
           "      transformer:heads=H,ff=F (4D),causal=1 (L times) > layernorm > linear\n"
           "or @FILE: one layer per line, '#' comments. `clgrad layers NAME` lists a layer's keys.\n");
    return 0;
}
