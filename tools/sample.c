/* clgrad sample --load FILE --model SPEC --prompt TEXT --tokens N
 *   [--temperature T] [--top-k K] [--seed S] [--seq T] [--backend B]
 * Generates bytes from a byte-level language model trained on text data.
 *
 * One plan of input [1, T]: the window holds the last T bytes (the prompt
 * right-padded with zeros while shorter), and the next byte is drawn from
 * the logits at the window's last real position. That is exact for the
 * causal models this command is for (RNN, LSTM, GRU, causal Transformer):
 * later positions, padding included, cannot change an earlier output. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct sample_opts {
    const char *load, *model, *prompt, *backend;
    long long tokens, top_k, seq;
    double temperature;
    unsigned long long seed;
} sample_opts;

static int parse(int argc, char **argv, sample_opts *o)
{
    *o = (sample_opts){ .backend = "cpu", .model = NULL, .prompt = "", .tokens = 100,
                        .temperature = 1.0, .top_k = 0, .seq = 64, .seed = 0 };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            cli_error("sample: %s needs a value", a);
            return -1;
        }
        const char *v = argv[++i];
        char *end;
        errno = 0;
        if (!strcmp(a, "--load")) {
            o->load = v;
        } else if (!strcmp(a, "--model")) {
            o->model = v;
        } else if (!strcmp(a, "--prompt")) {
            o->prompt = v;
        } else if (!strcmp(a, "--backend")) {
            o->backend = v;
        } else if (!strcmp(a, "--tokens") || !strcmp(a, "--top-k") || !strcmp(a, "--seq")) {
            long long n = strtoll(v, &end, 10);
            long long lo = !strcmp(a, "--top-k") ? 0 : 1;
            if (end == v || *end || errno || n < lo || n > (1 << 20)) {
                cli_error("sample: %s %s is not an integer in %lld..%d", a, v, lo, 1 << 20);
                return -1;
            }
            *(!strcmp(a, "--tokens") ? &o->tokens : !strcmp(a, "--top-k") ? &o->top_k : &o->seq) = n;
        } else if (!strcmp(a, "--temperature")) {
            o->temperature = strtod(v, &end);
            if (end == v || *end || !(o->temperature > 0 && o->temperature <= 100)) {
                cli_error("sample: --temperature %s is not a number in (0, 100]", v);
                return -1;
            }
        } else if (!strcmp(a, "--seed")) {
            o->seed = strtoull(v, &end, 10);
            if (end == v || *end || errno) {
                cli_error("sample: --seed %s is not a non-negative integer", v);
                return -1;
            }
        } else {
            cli_error("sample: unknown option '%s' (usage: clgrad sample --load FILE --model SPEC "
                      "--prompt TEXT --tokens N [--temperature T] [--top-k K] [--seed S] [--seq T] "
                      "[--backend cpu|opencl])", a);
            return -1;
        }
    }
    if (!o->load || !o->model) {
        cli_error("sample: needs --load FILE and --model SPEC (the model's training spec)");
        return -1;
    }
    return 0;
}

/* Draws a byte from logits[256] with temperature and top-k. */
static int draw(const float *logits, double temperature, long long top_k, clg_rng *rng)
{
    double p[256], cut = -INFINITY;
    if (top_k > 0 && top_k < 256) { /* the k-th largest logit */
        float sorted[256];
        memcpy(sorted, logits, sizeof sorted);
        for (long long k = 0; k < top_k; k++)
            for (int j = (int)k + 1; j < 256; j++)
                if (sorted[j] > sorted[k]) {
                    float t = sorted[k];
                    sorted[k] = sorted[j];
                    sorted[j] = t;
                }
        cut = sorted[top_k - 1];
    }
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < 256; i++)
        if (logits[i] >= cut && logits[i] > mx)
            mx = logits[i];
    for (int i = 0; i < 256; i++) {
        p[i] = logits[i] >= cut ? exp((logits[i] - mx) / temperature) : 0.0;
        sum += p[i];
    }
    double u = clg_rng_uniform(rng) * sum;
    for (int i = 0; i < 256; i++) {
        if (u < p[i])
            return i;
        u -= p[i];
    }
    for (int i = 255; i >= 0; i--)
        if (p[i] > 0)
            return i;
    return 0;
}

int cli_sample(int argc, char **argv)
{
    sample_opts o;
    if (parse(argc, argv, &o))
        return 2;
    clg_ctx *ctx = clg_ctx_new();
    if (!ctx)
        return 1;
    int rc = 1;
    clg_device *dev = NULL;
    clg_store *st = NULL;
    clg_graph *g = NULL;
    clg_plan *plan = NULL;
    clg_tensor_set *set = NULL;
    static cli_model m;
    const int64_t t_len = o.seq;
    clg_rng init;
    clg_rng_seed(&init, 0);
    clg_t x, pred = CLG_NONE;
    if (cli_model_parse(ctx, o.model, &m) != CLG_OK)
        goto fail;
    if (clg_device_open(ctx, o.backend, 0, &dev) != CLG_OK || clg_store_new(dev, &st) != CLG_OK)
        goto fail;
    g = clg_graph_new(ctx);
    if (!g)
        goto fail;
    x = clg_input(g, "x", CLG_I32, &CLG_SHAPE(1, t_len));
    if (cli_model_build(g, st, &m, x, 256, 0, &init, &pred) != CLG_OK)
        goto fail;
    clg_shape ps = clg_shape_of(g, pred);
    if (ps.ndim != 3 || ps.dim[1] != t_len || ps.dim[2] != 256) {
        char sb[128];
        clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                          "--model %s: outputs %s for [1, %lld] bytes, not next-byte logits "
                          "[1, %lld, 256] (a language model on text data)", o.model,
                          clg_shape_str(&ps, sb, sizeof sb), (long long)t_len, (long long)t_len);
        goto fail;
    }
    if (clg_compile(g, dev, &pred, 1, NULL, &plan) != CLG_OK)
        goto fail;
    char path[4200];
    struct stat sb;
    if (stat(o.load, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(path, sizeof path, "%s/%s", o.load, CLG_CHECKPOINT_FILE);
    else
        snprintf(path, sizeof path, "%s", o.load);
    if (clg_safetensors_read(ctx, path, &set) != CLG_OK)
        goto fail;
    /* a checkpoint also holds the trainer's tensors: take the model's */
    if (clg_tensor_set_to_store(set, path, st, NULL, 0, !clg_tensor_set_get_meta(set, "format")) !=
        CLG_OK)
        goto fail;
    clg_rng rng;
    clg_rng_seed(&rng, o.seed);
    size_t plen = strlen(o.prompt), cap = plen + (size_t)o.tokens + 1;
    unsigned char *text = malloc(cap);
    int32_t *win = calloc((size_t)t_len, sizeof *win);
    float *logits = malloc((size_t)(t_len * 256) * sizeof *logits);
    if (!text || !win || !logits) {
        free(text);
        free(win);
        free(logits);
        clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "sample: out of memory");
        goto fail;
    }
    memcpy(text, o.prompt, plen);
    size_t n = plen;
    if (n == 0)
        text[n++] = '\n'; /* something to condition on */
    fwrite(o.prompt, 1, plen, stdout);
    clg_status s = CLG_OK;
    for (long long k = 0; k < o.tokens && s == CLG_OK; k++) {
        size_t first = n > (size_t)t_len ? n - (size_t)t_len : 0, used = n - first;
        memset(win, 0, (size_t)t_len * sizeof *win);
        for (size_t i = 0; i < used; i++)
            win[i] = text[first + i];
        s = clg_plan_set_input(plan, "x", win, (size_t)t_len * sizeof *win);
        if (s == CLG_OK)
            s = clg_plan_run(plan);
        if (s == CLG_OK)
            s = clg_plan_read(plan, pred, logits, (size_t)(t_len * 256) * sizeof *logits);
        if (s != CLG_OK)
            break;
        int c = draw(logits + (used - 1) * 256, o.temperature, o.top_k, &rng);
        text[n++] = (unsigned char)c;
        fputc(c, stdout);
    }
    fputc('\n', stdout);
    free(text);
    free(win);
    free(logits);
    if (s != CLG_OK)
        goto fail;
    rc = 0;
    goto out;
fail:
    cli_error("sample: %s", clg_ctx_error(ctx));
out:
    clg_tensor_set_free(set);
    clg_plan_free(plan);
    clg_graph_free(g);
    clg_store_free(st);
    clg_device_close(dev);
    clg_ctx_free(ctx);
    return rc;
}
