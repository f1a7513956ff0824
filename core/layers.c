/* Layers: graph fragments over named parameters in a store, laid out and
 * initialised as their torch.nn counterparts so state_dicts move both ways. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fails the graph with the context's message (the store's error) prefixed. */
static clg_t fail_with_ctx(clg_graph *g, const char *prefix)
{
    char msg[CLG_ERRMSG_LEN];
    snprintf(msg, sizeof msg, "%s", clg_ctx_error(g->ctx));
    return clg__graph_fail(g, "linear '%s': %s", prefix, msg);
}

/* Makes sure `name` exists in st with the given f32 shape, creating it with
 * U(-bound, bound) values drawn from rng in row-major order. */
static clg_t ensure_param(clg_graph *g, clg_store *st, const char *prefix,
                          const char *name, const clg_shape *shape, double bound,
                          clg_rng *rng)
{
    char want[128], have[128];
    int i = clg_store_find(st, name);
    if (i >= 0) {
        clg_shape s = clg_store_shape(st, i);
        if (clg_store_dtype(st, i) != CLG_F32 || !clg_shape_equal(&s, shape))
            return clg__graph_fail(g, "linear '%s': store has '%s' as %s %s, expected f32 %s",
                                   prefix, name, clg_dtype_name(clg_store_dtype(st, i)),
                                   clg_shape_str(&s, have, sizeof have),
                                   clg_shape_str(shape, want, sizeof want));
        return clg_param(g, st, name);
    }
    if (!rng)
        return clg__graph_fail(g, "linear '%s': '%s' is not in the store and rng is NULL",
                               prefix, name);
    int64_t n = clg_shape_numel(shape);
    float *init = malloc((size_t)n * sizeof *init);
    if (!init)
        return clg__graph_fail(g, "linear '%s': out of memory", prefix);
    for (int64_t k = 0; k < n; k++)
        init[k] = (float)((2.0 * clg_rng_uniform(rng) - 1.0) * bound);
    clg_status s = clg_store_add(st, name, CLG_F32, shape, init);
    free(init);
    if (s != CLG_OK)
        return fail_with_ctx(g, prefix);
    return clg_param(g, st, name);
}

clg_t clg_linear(clg_graph *g, clg_store *st, const char *prefix, clg_t x,
                 int64_t in_features, int64_t out_features, int bias, clg_rng *rng)
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

    size_t len = strlen(prefix) + sizeof ".weight";
    char *name = malloc(len);
    if (!name)
        return clg__graph_fail(g, "linear '%s': out of memory", prefix);
    double bound = 1.0 / sqrt((double)in_features);

    snprintf(name, len, "%s.weight", prefix);
    clg_shape ws = CLG_SHAPE(out_features, in_features);
    clg_t w = ensure_param(g, st, prefix, name, &ws, bound, rng);
    clg_t b = CLG_NONE;
    if (w != CLG_NONE && bias) {
        snprintf(name, len, "%s.bias", prefix);
        clg_shape bs = CLG_SHAPE(out_features);
        b = ensure_param(g, st, prefix, name, &bs, bound, rng);
    }
    free(name);
    if (w == CLG_NONE || (bias && b == CLG_NONE))
        return CLG_NONE;

    clg_t y = clg_matmul(g, x, w, 0, 1);
    return bias ? clg_add(g, y, b) : y;
}
