/* --data and --val-split: which data set, and which part of it is the test
 * set (MNIST's t10k files, or a held-out split). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KNOWN_DATA "synthetic[:N], csv:PATH[,target=NAME|INDEX][,classes=K][,header=0|1], " \
                   "fashion-mnist[:DIR][,classes=A/B/...][,limit=N], mnist[:DIR][,...], " \
                   "text:PATH[,seq=T]"

void cli_data_free(cli_data *d)
{
    clg_dataset_free(d->train);
    clg_dataset_free(d->test);
    d->train = d->test = NULL;
}

static clg_status load_csv(clg_ctx *ctx, const char *spec, clg_dataset **out)
{
    clg_csv_opts co = clg_csv_opts_default();
    char *s = strdup(spec);
    if (!s)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    char *path = s, *opt = strchr(s, ',');
    if (opt)
        *opt++ = '\0';
    clg_status st = CLG_OK;
    int seen_target = 0, seen_classes = 0, seen_header = 0;
    while (opt && st == CLG_OK) {
        char *next = strchr(opt, ',');
        if (next)
            *next++ = '\0';
        char *end;
        errno = 0;
        /* A key given twice is refused: which one was meant is a guess. */
        int *seen = !strncmp(opt, "target=", 7)    ? &seen_target
                    : !strncmp(opt, "classes=", 8) ? &seen_classes
                    : !strncmp(opt, "header=", 7)  ? &seen_header
                                                   : NULL;
        if (seen && (*seen)++) {
            st = clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--data csv: %.*s given twice (%s)",
                                   (int)strcspn(opt, "="), opt, cli_short(spec));
            break;
        }
        if (!strncmp(opt, "target=", 7)) {
            const char *v = opt + 7;
            long t = strtol(v, &end, 10);
            if (*v && !*end && !errno && t > -100000 && t < 100000) {
                co.target_index = (int)t;
                co.target_name = NULL;
            } else
                co.target_name = v;
        } else if (!strncmp(opt, "classes=", 8)) {
            long long k = strtoll(opt + 8, &end, 10);
            if (end == opt + 8 || *end)
                st = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                       "--data csv: classes=%s is not an integer",
                                       cli_short(opt + 8));
            else if (errno == ERANGE || k > INT32_MAX || k < 1)
                st = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                       "--data csv: classes=%s is out of range: must be %s",
                                       cli_short(opt + 8),
                                       k < 1 && errno != ERANGE ? "at least 1"
                                                                : "at most 2147483647");
            co.classes = k;
        } else if (!strcmp(opt, "header=0") || !strcmp(opt, "header=1")) {
            co.header = opt[7] - '0';
        } else {
            st = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                   "--data csv: unknown option '%s' (known: target=NAME|INDEX, "
                                   "classes=K, header=0|1)", cli_short(opt));
        }
        opt = next;
    }
    if (st == CLG_OK && !*path)
        st = clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--data csv: needs a path (csv:PATH)");
    /* The kind and existence first, with the path shortened in the message
     * (libclgrad checks again on the descriptor it reads). */
    struct stat sb;
    if (st == CLG_OK && stat(path, &sb) != 0)
        st = clg_ctx_set_error(ctx, CLG_ERR_IO, "csv:%s: cannot open: %s", cli_short(path),
                               strerror(errno));
    else if (st == CLG_OK && !S_ISREG(sb.st_mode))
        st = clg_ctx_set_error(ctx, CLG_ERR_IO, "csv:%s: is %s, not a regular file",
                               cli_short(path), cli_file_kind(sb.st_mode));
    if (st == CLG_OK)
        st = clg_csv_load(ctx, path, &co, out);
    free(s);
    return st;
}

/* A loss that wants class indices was given numeric targets: they must be
 * integers >= 0; the class count is the largest + 1. */
static clg_status to_classes(clg_ctx *ctx, const char *what, clg_dataset *ds)
{
    if (ds->classes > 0)
        return CLG_OK;
    if (ds->n_targets != 1)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "%s: class labels need one target column",
                                 what);
    int32_t *lab = malloc((size_t)ds->n * sizeof *lab);
    if (!lab)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    int64_t k = 0;
    for (int64_t i = 0; i < ds->n; i++) {
        float v = ds->y[i];
        if (v < 0 || v != floorf(v) || v > 1e6f) {
            free(lab);
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "%s: sample %lld has target %g, not a class index (an integer "
                                     ">= 0; give classes=K to check the range)",
                                     what, (long long)i, (double)v);
        }
        lab[i] = (int32_t)v;
        if (lab[i] + 1 > k)
            k = lab[i] + 1;
    }
    free(ds->y);
    ds->y = NULL;
    ds->labels = lab;
    ds->n_targets = 0;
    ds->classes = k < 2 ? 2 : k;
    return CLG_OK;
}

/* fashion-mnist / mnist options after the first ',': classes=A/B/...,limit=N. */
typedef struct mnist_opts {
    int32_t classes[16];
    int n_classes;
    long long limit; /* -1: all */
} mnist_opts;

static clg_status parse_mnist_opts(clg_ctx *ctx, const char *spec, const char *opts,
                                   mnist_opts *m)
{
    m->n_classes = 0;
    m->limit = -1;
    const char *p = opts;
    int seen_c = 0, seen_l = 0;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char *e;
        if (!strncmp(p, "classes=", 8) && !seen_c) {
            seen_c = 1;
            const char *q = p + 8;
            while (q < p + len) {
                errno = 0;
                long v = strtol(q, &e, 10);
                if (e == q || (e < p + len && *e != '/') || errno || v < INT32_MIN || v > INT32_MAX)
                    return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                             "--data %s: classes=: '%.*s' is not a list of class "
                                             "numbers such as 5/6/7", cli_short(spec), (int)len - 8,
                                             p + 8);
                if (m->n_classes == 16)
                    return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                             "--data %s: classes=: more than 16 classes",
                                             cli_short(spec));
                m->classes[m->n_classes++] = (int32_t)v;
                q = e < p + len ? e + 1 : e;
            }
            if (m->n_classes == 0)
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--data %s: classes= is empty",
                                         cli_short(spec));
        } else if (!strncmp(p, "limit=", 6) && !seen_l) {
            seen_l = 1;
            errno = 0;
            m->limit = strtoll(p + 6, &e, 10);
            if (e == p + 6 || e != p + len || errno || m->limit < 1)
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                         "--data %s: limit=%.*s: must be an integer >= 1 (samples "
                                         "per class)", cli_short(spec), (int)len - 6, p + 6);
        } else {
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "--data %s: unknown or repeated option '%.*s' (known: "
                                     "classes=A/B/..., limit=N)", cli_short(spec), (int)len, p);
        }
        p = end ? end + 1 : NULL;
    }
    return CLG_OK;
}

/* Replaces *ds by its subset (both the train and the test files). */
static clg_status take_subset(clg_ctx *ctx, const char *spec, const mnist_opts *m,
                              clg_dataset **ds)
{
    if (!*ds || (m->n_classes == 0 && m->limit < 0))
        return CLG_OK;
    clg_dataset *sub;
    clg_status st = clg_dataset_subset(ctx, *ds, m->classes, m->n_classes, m->limit, &sub);
    if (st != CLG_OK)
        return clg_ctx_set_error(ctx, st, "--data %s: %s", cli_short(spec), clg_ctx_error(ctx));
    clg_dataset_free(*ds);
    *ds = sub;
    return CLG_OK;
}

clg_status cli_data_load(clg_ctx *ctx, const cli_opts *o, int need_classes, cli_data *d)
{
    memset(d, 0, sizeof *d);
    const char *spec = o->data;
    clg_dataset *all = NULL;
    clg_status st;
    int is_mnist = 0;
    if (!strcmp(spec, "synthetic") || !strncmp(spec, "synthetic:", 10)) {
        long long n = CLG_SYNTHETIC_SAMPLES;
        if (spec[9] == ':') {
            char *end;
            errno = 0;
            n = strtoll(spec + 10, &end, 10);
            if (end == spec + 10 || *end)
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                         "--data %s: the sample count is not an integer",
                                         cli_short(spec));
            if (errno == ERANGE || n < 1 || n > (1 << 26))
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                         "--data %s: the sample count is out of range: must be %s",
                                         cli_short(spec), n < 1 && errno != ERANGE
                                                              ? "at least 1"
                                                              : "at most 67108864");
        }
        st = clg_dataset_synthetic(ctx, n, CLG_SYNTHETIC_SEED, &all);
    } else if (!strncmp(spec, "text:", 5)) {
        return cli_text_load(ctx, spec, o, d); /* text.c: its own split, in file order */
    } else if (!strncmp(spec, "csv:", 4)) {
        st = load_csv(ctx, spec + 4, &all);
    } else if (!strcmp(spec, "fashion-mnist") || !strncmp(spec, "fashion-mnist:", 14) ||
               !strncmp(spec, "fashion-mnist,", 14) || !strcmp(spec, "mnist") ||
               !strncmp(spec, "mnist:", 6) || !strncmp(spec, "mnist,", 6)) {
        int fashion = spec[0] == 'f';
        /* the options start at the first ',' (a DIR holding a ',' cannot be named) */
        char head[4096];
        const char *comma = strchr(spec, ',');
        size_t hl = comma ? (size_t)(comma - spec) : strlen(spec);
        if (hl >= sizeof head)
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--data %s: the path is too long",
                                     cli_short(spec));
        memcpy(head, spec, hl);
        head[hl] = '\0';
        mnist_opts mo;
        st = parse_mnist_opts(ctx, spec, comma ? comma + 1 : NULL, &mo);
        if (st != CLG_OK)
            return st;
        const char *colon = strchr(head, ':');
        const char *dir = colon && colon[1] ? colon + 1 : fashion ? CLG_FASHION_MNIST_DIR : CLG_MNIST_DIR;
        is_mnist = 1;
        st = clg_dataset_mnist(ctx, dir, 0, &all);
        if (st == CLG_OK && o->val_split <= 0) {
            st = clg_dataset_mnist(ctx, dir, 1, &d->test);
            snprintf(d->test_name, sizeof d->test_name, "t10k");
        }
        if (st == CLG_OK)
            st = take_subset(ctx, spec, &mo, &all);
        if (st == CLG_OK)
            st = take_subset(ctx, spec, &mo, &d->test);
    } else {
        return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND, "--data %s: unknown data set (known: %s)",
                                 cli_short(spec), KNOWN_DATA);
    }
    if (st != CLG_OK) {
        clg_dataset_free(all);
        cli_data_free(d);
        return st;
    }
    if (need_classes && (st = to_classes(ctx, spec, all)) != CLG_OK) {
        clg_dataset_free(all);
        cli_data_free(d);
        return st;
    }
    if (o->val_split > 0) {
        clg_dataset *tr, *va;
        st = clg_dataset_split(ctx, all, o->val_split, o->seed ^ 0x5eed5a1dULL, &tr, &va);
        clg_dataset_free(all);
        if (st != CLG_OK) {
            cli_data_free(d);
            return st;
        }
        d->train = tr;
        d->test = va;
        snprintf(d->test_name, sizeof d->test_name, "val");
    } else {
        d->train = all;
    }
    (void)is_mnist;
    return CLG_OK;
}
