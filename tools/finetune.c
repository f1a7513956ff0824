/* Fine-tuning options of `train`: --freeze (which parameters stay as they
 * are), --lr-scale (parameter groups with their own learning rates),
 * --init-partial (start from the tensors of a file that fit) and
 * --save-dtype (the precision of --save). */
#include "cli.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One PATTERN=F of --lr-scale, or one PATTERN of --freeze (f unused). */
typedef struct pat {
    char glob[256];
    double f;
    int hits;
} pat;

/* Splits a comma-separated list; with_factor: each item is PATTERN=F. */
static int parse_list(const char *flag, const char *spec, int with_factor, pat *out, int cap,
                      int *n)
{
    *n = 0;
    const char *p = spec;
    if (!*p) {
        cli_error("%s: empty list", flag);
        return -1;
    }
    while (1) {
        size_t len = strcspn(p, ",");
        const char *eq = with_factor ? memchr(p, '=', len) : NULL;
        size_t gl = eq ? (size_t)(eq - p) : len;
        if (*n == cap) {
            cli_error("%s %s: more than %d patterns", flag, cli_short(spec), cap);
            return -1;
        }
        pat *q = &out[(*n)++];
        if (gl == 0 || gl >= sizeof q->glob) {
            cli_error("%s %s: item %d has %s pattern", flag, cli_short(spec), *n,
                      gl ? "a too long" : "an empty");
            return -1;
        }
        memcpy(q->glob, p, gl);
        q->glob[gl] = '\0';
        q->f = 1.0;
        q->hits = 0;
        if (with_factor) {
            if (!eq) {
                cli_error("%s %s: item '%.*s' is not PATTERN=FACTOR", flag, cli_short(spec),
                          (int)len, p);
                return -1;
            }
            char num[64], *end;
            size_t fl = len - gl - 1;
            if (fl == 0 || fl >= sizeof num) {
                cli_error("%s %s: item '%.*s' has no factor", flag, cli_short(spec), (int)len, p);
                return -1;
            }
            memcpy(num, eq + 1, fl);
            num[fl] = '\0';
            errno = 0;
            q->f = strtod(num, &end);
            if (end == num || *end || !isfinite(q->f) || q->f < 0) {
                cli_error("%s %s: factor '%s' of '%s' must be a finite number >= 0", flag,
                          cli_short(spec), num, q->glob);
                return -1;
            }
        }
        if (!p[len])
            break;
        p += len + 1;
    }
    return 0;
}

int cli_finetune_check(const cli_opts *o)
{
    pat v[CLI_MAX_PATTERNS];
    int n;
    if (o->freeze && parse_list("--freeze", o->freeze, 0, v, CLI_MAX_PATTERNS, &n))
        return -1;
    if (o->lr_scale && parse_list("--lr-scale", o->lr_scale, 1, v, CLI_MAX_PATTERNS, &n))
        return -1;
    if (o->init_skip && parse_list("--init-skip", o->init_skip, 0, v, CLI_MAX_PATTERNS, &n))
        return -1;
    if (o->init_partial && !o->init) {
        cli_error("--init-partial needs --init FILE");
        return -1;
    }
    if (o->init_skip && !o->init_partial) {
        cli_error("--init-skip needs --init FILE --init-partial");
        return -1;
    }
    return 0;
}

clg_status cli_finetune_params(clg_ctx *ctx, const cli_opts *o, clg_graph *g, clg_store *st,
                               char ***names, double **scales, int *n)
{
    *names = NULL;
    *scales = NULL;
    *n = 0;
    if (!o->freeze && !o->lr_scale)
        return CLG_OK; /* the trainer's own choice: every parameter, factor 1 */
    pat fz[CLI_MAX_PATTERNS], ls[CLI_MAX_PATTERNS];
    int nf = 0, nl = 0;
    if ((o->freeze && parse_list("--freeze", o->freeze, 0, fz, CLI_MAX_PATTERNS, &nf)) ||
        (o->lr_scale && parse_list("--lr-scale", o->lr_scale, 1, ls, CLI_MAX_PATTERNS, &nl)))
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "bad --freeze or --lr-scale");
    /* A frozen pattern may name buffers too (BatchNorm's running statistics
     * keep updating in training mode, as with torch's requires_grad=False). */
    for (int k = 0; k < clg_store_count(st); k++) {
        clg_tensor_kind kind = clg_store_kind(st, k);
        if (kind != CLG_TENSOR_PARAMETER && kind != CLG_TENSOR_BUFFER)
            continue;
        for (int j = 0; j < nf; j++)
            fz[j].hits += fnmatch(fz[j].glob, clg_store_name(st, k), 0) == 0;
    }
    /* the parameters in the order the graph reads them (the trainer's own
     * order without these options) */
    int cap = clg_graph_size(g);
    char **nm = calloc((size_t)(cap ? cap : 1), sizeof *nm);
    double *sc = calloc((size_t)(cap ? cap : 1), sizeof *sc);
    if (!nm || !sc) {
        free(nm);
        free(sc);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    }
    int np = 0;
    for (int i = 0; i < cap; i++) {
        const char *name = clg_param_name(g, i, st);
        int idx = name ? clg_store_find(st, name) : -1;
        if (idx < 0 || clg_store_dtype(st, idx) != CLG_F32 ||
            clg_store_kind(st, idx) != CLG_TENSOR_PARAMETER)
            continue;
        int dup = 0;
        for (int j = 0; j < np && !dup; j++)
            dup = !strcmp(nm[j], name);
        if (dup)
            continue;
        int is_frozen = 0;
        for (int j = 0; j < nf && !is_frozen; j++)
            is_frozen = fnmatch(fz[j].glob, name, 0) == 0;
        double f = 1.0;
        for (int j = 0; j < nl; j++)
            if (fnmatch(ls[j].glob, name, 0) == 0) {
                ls[j].hits++;
                f = ls[j].f; /* the first pattern that matches wins */
                break;
            }
        if (is_frozen)
            continue;
        nm[np] = (char *)name;
        sc[np++] = f;
    }
    const char *bad = NULL, *flag = NULL;
    for (int j = 0; j < nf && !bad; j++)
        if (!fz[j].hits)
            bad = fz[j].glob, flag = "--freeze";
    for (int j = 0; j < nl && !bad; j++)
        if (!ls[j].hits)
            bad = ls[j].glob, flag = "--lr-scale";
    if (bad || np == 0) {
        clg_status e;
        if (bad)
            e = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                  "%s: pattern '%s' matches no %s of the model (names as in its "
                                  "state_dict, such as 0.weight)", flag, cli_short(bad),
                                  !strcmp(flag, "--freeze") ? "tensor" : "parameter");
        else
            e = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                  "--freeze %s: every parameter of the model is frozen; nothing "
                                  "would train", cli_short(o->freeze));
        free(nm);
        free(sc);
        return e;
    }
    /* the names point into the store, which outlives the trainer's copy */
    *names = nm;
    *scales = sc;
    *n = np;
    return CLG_OK;
}

/* What a partial load did, tensor by tensor, on stderr: the test suite and
 * the user read the same lines. */
clg_status cli_init_partial(clg_ctx *ctx, clg_store *st, const clg_tensor_set *set,
                            const char *path, const char *const *names, int n,
                            const char *skip, int quiet)
{
    pat sk[CLI_MAX_PATTERNS];
    int nsk = 0;
    if (skip && parse_list("--init-skip", skip, 0, sk, CLI_MAX_PATTERNS, &nsk))
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "bad --init-skip");
    for (int j = 0; j < set->n; j++)
        for (int i = 0; i < nsk; i++)
            sk[i].hits += fnmatch(sk[i].glob, set->t[j].name, 0) == 0;
    for (int i = 0; i < nsk; i++)
        if (!sk[i].hits)
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "--init-skip: pattern '%s' matches no tensor of %s",
                                     cli_short(sk[i].glob), cli_short(path));
    const char **load = malloc((size_t)(n ? n : 1) * sizeof *load);
    if (!load)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    int nload = 0, nskip = 0, nfresh = 0;
    char a[160], b[160];
    for (int j = 0; j < set->n; j++) {
        const clg_named_tensor *t = &set->t[j];
        int excluded = 0;
        for (int i = 0; i < nsk && !excluded; i++)
            excluded = fnmatch(sk[i].glob, t->name, 0) == 0;
        if (excluded) {
            if (!quiet)
                fprintf(stderr, "clgrad: --init-partial: skipped '%s': excluded by --init-skip\n",
                        t->name);
            nskip++;
            continue;
        }
        int k = -1;
        for (int i = 0; i < n && k < 0; i++)
            if (!strcmp(names[i], t->name))
                k = clg_store_find(st, names[i]);
        if (k < 0) {
            if (!quiet)
                fprintf(stderr, "clgrad: --init-partial: skipped '%s' %s: absent from the model\n",
                    t->name, clg_shape_str(&t->shape, a, sizeof a));
            nskip++;
            continue;
        }
        clg_shape ms = clg_store_shape(st, k);
        if (!clg_shape_equal(&ms, &t->shape) || clg_store_dtype(st, k) != t->dtype) {
            if (!quiet)
                fprintf(stderr, "clgrad: --init-partial: skipped '%s': %s %s in the file, %s %s in "
                    "the model\n", t->name, clg_dtype_name(t->dtype),
                    clg_shape_str(&t->shape, a, sizeof a), clg_dtype_name(clg_store_dtype(st, k)),
                    clg_shape_str(&ms, b, sizeof b));
            nskip++;
            continue;
        }
        load[nload++] = t->name;
    }
    for (int i = 0; i < n; i++) {
        int got = 0;
        for (int j = 0; j < nload && !got; j++)
            got = !strcmp(load[j], names[i]);
        if (!got) {
            if (!quiet)
                fprintf(stderr, "clgrad: --init-partial: fresh '%s' (initialised as the model "
                    "builds it)\n", names[i]);
            nfresh++;
        }
    }
    /* (an empty selection would mean "every tensor" to the copy) */
    clg_status rc = nload ? clg_tensor_set_to_store(set, path, st, load, nload, 0) : CLG_OK;
    if (rc == CLG_OK && !quiet)
        fprintf(stderr, "clgrad: --init-partial %s: loaded %d tensors, skipped %d, freshly "
                "initialised %d\n", cli_short(path), nload, nskip, nfresh);
    free(load);
    return rc;
}

clg_status cli_save_dtype(clg_store *st, const char *path, const char *const *names, int n,
                          clg_dtype dt)
{
    clg_ctx *ctx = clg_device_ctx(clg_store_device(st));
    clg_tensor_set *s = clg_tensor_set_new();
    if (!s)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", path);
    clg_status rc = clg_tensor_set_from_store(s, st, names, n);
    if (rc == CLG_OK)
        rc = clg_tensor_set_convert(ctx, s, dt);
    if (rc == CLG_OK)
        rc = clg_safetensors_write(ctx, path, s);
    clg_tensor_set_free(s);
    return rc;
}
