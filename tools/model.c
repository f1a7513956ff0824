/* --model: `linear` or `mlp:H1,H2,...[,act=...]`, built as the equivalent
 * torch nn.Sequential so state_dict names match: Linear layers at even
 * indices (0.weight [out, in], 0.bias, 2.weight, ...), activations between. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const act_names[] = { "relu", "tanh", "sigmoid", "gelu" };
static const char *const out_names[] = { "none", "sigmoid", "softmax", "log_softmax" };
#define KNOWN_MODELS "linear[:out=...], mlp:H1,H2,...[,act=relu|tanh|sigmoid|gelu]" \
                     "[,out=sigmoid|softmax|log_softmax]"

/* Index of the n-byte word w in names[count], or -1. */
static int word_index(const char *const *names, int count, const char *w, size_t n)
{
    for (int i = 0; i < count; i++)
        if (strlen(names[i]) == n && strncmp(w, names[i], n) == 0)
            return i;
    return -1;
}

clg_status cli_model_parse(clg_ctx *ctx, const char *spec, cli_model *m)
{
    memset(m, 0, sizeof *m);
    m->act = CLI_RELU;
    /* Messages quote the spec and the bad word, both cut short. */
    const char *sp = cli_short(spec);
#define W(n) ((n) > 40 ? 40 : (int)(n))
    int linear = strcmp(spec, "linear") == 0 || strncmp(spec, "linear:", 7) == 0;
    if (strcmp(spec, "linear") == 0)
        return CLG_OK;
    if (!linear && strncmp(spec, "mlp:", 4) != 0) {
        size_t n = strcspn(spec, ":");
        return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND, "--model %s: unknown model '%.*s' (known: %s)",
                                 sp, W(n), spec, KNOWN_MODELS);
    }
    const char *p = spec + (linear ? 7 : 4);
    while (*p) {
        size_t n = strcspn(p, ",");
        if (strncmp(p, "act=", 4) == 0 && !linear) {
            int a = word_index(act_names, 4, p + 4, n - 4);
            if (a < 0)
                return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND,
                                         "--model %s: unknown activation '%.*s' (known: relu, tanh, "
                                         "sigmoid, gelu)", sp, W(n - 4), p + 4);
            m->act = (cli_act)a;
        } else if (strncmp(p, "out=", 4) == 0) {
            int a = word_index(out_names, 4, p + 4, n - 4);
            if (a < 0)
                return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND,
                                         "--model %s: unknown output layer '%.*s' (known: none, "
                                         "sigmoid, softmax, log_softmax)", sp, W(n - 4), p + 4);
            m->out = (cli_out)a;
        } else if (linear) {
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "--model %s: linear takes only out=... (got '%.*s')", sp,
                                     W(n), p);
        } else {
            char *end;
            errno = 0;
            long long h = strtoll(p, &end, 10);
            if (end == p || end != p + n)
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                         "--model %s: hidden size '%.*s' is not a positive integer",
                                         sp, W(n), p);
            if (errno == ERANGE || h <= 0 || h > (1 << 24))
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                         "--model %s: hidden size '%.*s' is out of range: must be %s",
                                         sp, W(n), p, h <= 0 && errno != ERANGE ? "at least 1"
                                                                              : "at most 16777216");
            if (m->n_hidden == CLI_MAX_LAYERS)
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model %s: at most %d hidden layers",
                                         sp, CLI_MAX_LAYERS);
            m->hidden[m->n_hidden++] = h;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (m->n_hidden == 0 && !linear)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "--model %s: mlp needs at least one hidden size (mlp:H1,H2,...)", sp);
    return CLG_OK;
}

clg_t cli_model_build(clg_graph *g, clg_store *st, const cli_model *m, clg_t x, int64_t in,
                      int64_t out, clg_rng *rng)
{
    clg_t h = x;
    int64_t width = in;
    char prefix[16];
    for (int l = 0; l <= m->n_hidden; l++) {
        int64_t w = l < m->n_hidden ? m->hidden[l] : out;
        snprintf(prefix, sizeof prefix, "%d", 2 * l);
        h = clg_linear(g, st, prefix, h, width, w, 1, rng);
        width = w;
        if (l == m->n_hidden) {
            switch (m->out) {
            case CLI_OUT_NONE: break;
            case CLI_OUT_SIGMOID: h = clg_sigmoid(g, h); break;
            case CLI_OUT_SOFTMAX: h = clg_softmax(g, h, 1); break;
            case CLI_OUT_LOG_SOFTMAX: h = clg_log_softmax(g, h, 1); break;
            }
            break;
        }
        switch (m->act) {
        case CLI_RELU: h = clg_relu(g, h); break;
        case CLI_TANH: h = clg_tanh(g, h); break;
        case CLI_SIGMOID: h = clg_sigmoid(g, h); break;
        case CLI_GELU: h = clg_gelu(g, h, 0); break;
        }
    }
    return h;
}
