/* Options of `clgrad train` and `clgrad eval`: --flag VALUE or --flag=VALUE,
 * each value checked here so a bad number is refused before any work. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A long user value shortened to its head and tail for a message. */
const char *cli_short(const char *s)
{
    enum { HEAD = 60, TAIL = 40 };
    static char buf[4][HEAD + TAIL + 64];
    static int k;
    if (!s)
        return "(null)";
    size_t n = strlen(s);
    if (n <= HEAD + TAIL + 8)
        return s;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%.*s...%s (%zu characters)", HEAD, s, s + n - TAIL, n);
    return buf[k];
}

/* Messages often quote a user value (or a message from libclgrad that
 * quotes one): any run of more than 200 characters without a space is cut
 * to its head and tail, so the reason after it always shows. */
void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char stack[2048], *msg = stack;
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof stack && (msg = malloc((size_t)n + 1))) {
        va_start(ap, fmt);
        vsnprintf(msg, (size_t)n + 1, fmt, ap);
        va_end(ap);
    } else if (!msg) {
        msg = stack;
    }
    /* The line is built whole and written at once: stderr is unbuffered, and
     * written piece by piece the lines of two MPI ranks interleave mid-word.
     * Words over 200 characters (a pasted blob) are shortened, so the line
     * is never longer than "clgrad: " + msg + "\n". */
    const size_t len = strlen(msg), cap = len + 16;
    char line_stack[2048 + 16], *line = cap <= sizeof line_stack ? line_stack : malloc(cap);
    if (!line) {
        fprintf(stderr, "clgrad: %s\n", msg);
    } else {
        size_t o = (size_t)snprintf(line, cap, "clgrad: ");
        for (const char *p = msg; *p;) {
            size_t w = strcspn(p, " \n");
            if (w > 200)
                o += (size_t)snprintf(line + o, cap - o, "%.100s...%.60s", p, p + w - 60);
            else {
                memcpy(line + o, p, w);
                o += w;
            }
            p += w;
            if (*p)
                line[o++] = *p++;
        }
        line[o++] = '\n';
        fwrite(line, 1, o, stderr);
        if (line != line_stack)
            free(line);
    }
    if (msg != stack)
        free(msg);
}

void cli_opts_default(cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->backend = "auto";
    o->data = "synthetic";
    o->model = "mlp:5";
    o->optimizer = "sgd";
    o->lr = 0.01;
    o->epochs = 10;
    o->batch_size = 32;
    o->seed = 0;
    o->collective = "auto";
}

static int parse_double(const char *flag, const char *v, double lo, int lo_open, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || (errno == ERANGE && d == 0) || isnan(d)) {
        cli_error("%s %s: not a number", flag, cli_short(v));
        return -1;
    }
    if (!isfinite(d)) {
        cli_error("%s %s: out of range: must be finite", flag, cli_short(v));
        return -1;
    }
    if (d < lo || (lo_open && d == lo)) {
        cli_error("%s %s: must be %s %g", flag, cli_short(v), lo_open ? ">" : ">=", lo);
        return -1;
    }
    *out = d;
    return 0;
}

static int parse_ll(const char *flag, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end) {
        cli_error("%s %s: not an integer", flag, cli_short(v));
        return -1;
    }
    /* A range error names the limit (strtoll's ERANGE included). */
    if (x > hi) {
        cli_error("%s %s: out of range: must be at most %lld", flag, cli_short(v), hi);
        return -1;
    }
    if (x < lo) {
        cli_error("%s %s: out of range: must be at least %lld", flag, cli_short(v), lo);
        return -1;
    }
    *out = x;
    return 0;
}

enum { F_VALUE = 1, F_TRAIN = 2 };
static const struct flag {
    const char *name;
    unsigned f;
} flags[] = {
    { "--backend", F_VALUE }, { "--device", F_VALUE }, { "--plugin", F_VALUE },
    { "--data", F_VALUE }, { "--val-split", F_VALUE }, { "--model", F_VALUE },
    { "--loss", F_VALUE }, { "--optimizer", F_VALUE | F_TRAIN }, { "--lr", F_VALUE | F_TRAIN },
    { "--scheduler", F_VALUE | F_TRAIN }, { "--clip-grad-norm", F_VALUE | F_TRAIN },
    { "--accumulate", F_VALUE | F_TRAIN }, { "--epochs", F_VALUE | F_TRAIN },
    { "--batch-size", F_VALUE }, { "--no-shuffle", F_TRAIN }, { "--drop-last", F_TRAIN },
    { "--seed", F_VALUE }, { "--init", F_VALUE | F_TRAIN }, { "--save", F_VALUE | F_TRAIN },
    { "--checkpoint-dir", F_VALUE | F_TRAIN }, { "--resume", F_VALUE | F_TRAIN },
    { "--load", F_VALUE }, { "--json", 0 }, { "--metrics", F_VALUE | F_TRAIN },
    { "--plot", F_VALUE | F_TRAIN }, { "--quiet", 0 }, { "--collective", F_VALUE | F_TRAIN },
    { "--tensorboard", F_VALUE | F_TRAIN },
    { "--init-partial", F_TRAIN }, { "--freeze", F_VALUE | F_TRAIN },
    { "--lr-scale", F_VALUE | F_TRAIN }, { "--save-dtype", F_VALUE | F_TRAIN },
    { "--init-skip", F_VALUE | F_TRAIN },
    { "--stop-on-divergence", F_TRAIN },
};

int cli_option_kind(const char *flag)
{
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (!strcmp(flags[k].name, flag))
            return (flags[k].f & F_VALUE ? CLI_OPT_VALUE : 0) | (flags[k].f & F_TRAIN ? CLI_OPT_TRAIN : 0);
    return -1;
}

int cli_given(const cli_opts *o, const char *flag)
{
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (!strcmp(flags[k].name, flag))
            return (o->given >> k) & 1;
    return 0;
}

/* Flags a resume never takes from a checkpoint: where outputs go, what code
 * is loaded, and how this invocation prints. */
static int not_replayed(const char *name, const char *val)
{
    static const char *const names[] = { "--save", "--metrics", "--plot", "--checkpoint-dir",
                                         "--resume", "--init", "--plugin", "--load", "--json",
                                         "--quiet", "--collective", "--tensorboard",
                                         "--init-partial", "--save-dtype", "--init-skip" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i]))
            return 1;
    /* a backend given as a path is a .so like a plugin */
    return !strcmp(name, "--backend") && val && strchr(val, '/');
}

int cli_replay_filter(int argc, char **argv, char **keep, int *n_keep, char **dropped_plugins,
                      int *n_dropped)
{
    *n_keep = 0;
    *n_dropped = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        size_t nl = eq ? (size_t)(eq - arg) : strlen(arg);
        char name[64];
        if (strncmp(arg, "--", 2) != 0 || nl >= sizeof name)
            return -1;
        memcpy(name, arg, nl);
        name[nl] = '\0';
        const struct flag *f = NULL;
        for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
            if (!strcmp(flags[k].name, name))
                f = &flags[k];
        if (!f)
            return -1;
        const char *val = NULL;
        int two = 0;
        if ((f->f & F_VALUE) && !eq) {
            if (i + 1 >= argc)
                return -1;
            val = argv[i + 1];
            two = 1;
        } else if (eq) {
            val = eq + 1;
        }
        if (not_replayed(name, val)) {
            if (!strcmp(name, "--plugin") && *n_dropped < CLI_MAX_PLUGINS)
                dropped_plugins[(*n_dropped)++] = (char *)val;
        } else {
            keep[(*n_keep)++] = argv[i];
            if (two)
                keep[(*n_keep)++] = argv[i + 1];
        }
        i += two;
    }
    return 0;
}

int cli_parse_options(cli_opts *o, int argc, char **argv, int first, int eval_mode)
{
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        char name[64];
        const char *eq = strchr(arg, '=');
        size_t nl = eq ? (size_t)(eq - arg) : strlen(arg);
        if (strncmp(arg, "--", 2) != 0 || nl >= sizeof name) {
            cli_error("unexpected argument '%s' (options start with --; see clgrad --help)",
                      cli_short(arg));
            return -1;
        }
        memcpy(name, arg, nl);
        name[nl] = '\0';
        const struct flag *f = NULL;
        for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
            if (strcmp(flags[k].name, name) == 0) {
                f = &flags[k];
                o->given |= 1ULL << k;
            }
        if (!f) {
            cli_error("unknown option '%s' (see clgrad --help)", name);
            return -1;
        }
        if (eval_mode && (f->f & F_TRAIN) && strcmp(name, "--load") != 0) {
            cli_error("%s is an option of 'train', not of 'eval'", name);
            return -1;
        }
        if (f->f & F_VALUE) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                cli_error("%s needs a value", name);
                return -1;
            }
        } else if (eq) {
            cli_error("%s takes no value", name);
            return -1;
        }
        long long ll;
        double d;
        if (!strcmp(name, "--backend")) {
            if (strcmp(val, "auto") && strcmp(val, "cpu") && strcmp(val, "opencl") &&
                !strchr(val, '/')) {
                cli_error("--backend %s: unknown backend (known: auto, cpu, opencl, or a path "
                          "to a backend .so)", cli_short(val));
                return -1;
            }
            o->backend = val;
        } else if (!strcmp(name, "--device")) {
            if (parse_ll(name, val, 0, 1024, &ll))
                return -1;
            o->device = (int)ll;
        } else if (!strcmp(name, "--plugin")) {
            if (o->n_plugins == CLI_MAX_PLUGINS) {
                cli_error("--plugin: at most %d", CLI_MAX_PLUGINS);
                return -1;
            }
            o->plugins[o->n_plugins++] = val;
        } else if (!strcmp(name, "--data")) {
            o->data = val;
        } else if (!strcmp(name, "--val-split")) {
            if (parse_double(name, val, 0, 0, &d))
                return -1;
            if (d >= 1) {
                cli_error("--val-split %s: out of range: must be below 1", cli_short(val));
                return -1;
            }
            o->val_split = d;
        } else if (!strcmp(name, "--model")) {
            o->model = val;
        } else if (!strcmp(name, "--loss")) {
            o->loss = val;
        } else if (!strcmp(name, "--optimizer")) {
            o->optimizer = val;
        } else if (!strcmp(name, "--lr")) {
            if (parse_double(name, val, 0, 0, &o->lr))
                return -1;
        } else if (!strcmp(name, "--scheduler")) {
            o->scheduler = *val ? val : NULL;
        } else if (!strcmp(name, "--clip-grad-norm")) {
            if (parse_double(name, val, 0, 1, &o->clip_grad_norm))
                return -1;
        } else if (!strcmp(name, "--accumulate")) {
            if (parse_ll(name, val, 1, 1 << 20, &ll))
                return -1;
            o->accumulate = (int)ll;
        } else if (!strcmp(name, "--epochs")) {
            if (parse_ll(name, val, 0, CLI_MAX_EPOCHS, &ll))
                return -1;
            o->epochs = (int)ll;
        } else if (!strcmp(name, "--batch-size")) {
            if (parse_ll(name, val, 1, 1 << 24, &ll))
                return -1;
            o->batch_size = ll;
        } else if (!strcmp(name, "--no-shuffle")) {
            o->no_shuffle = 1;
        } else if (!strcmp(name, "--drop-last")) {
            o->drop_last = 1;
        } else if (!strcmp(name, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(val, &end, 10);
            if (end == val || *end || val[0] == '-') {
                cli_error("--seed %s: not a non-negative integer", cli_short(val));
                return -1;
            }
            if (errno == ERANGE) {
                cli_error("--seed %s: out of range: must be at most %llu", cli_short(val),
                          (unsigned long long)ULLONG_MAX);
                return -1;
            }
            o->seed = s;
        } else if (!strcmp(name, "--init")) {
            o->init = val;
        } else if (!strcmp(name, "--save")) {
            o->save = val;
        } else if (!strcmp(name, "--checkpoint-dir")) {
            o->checkpoint_dir = val;
        } else if (!strcmp(name, "--resume")) {
            o->resume = val;
        } else if (!strcmp(name, "--load")) {
            if (!eval_mode) {
                cli_error("--load is an option of 'eval' (train starts from weights with --init)");
                return -1;
            }
            o->load = val;
        } else if (!strcmp(name, "--json")) {
            o->json = 1;
        } else if (!strcmp(name, "--metrics")) {
            o->metrics = val;
        } else if (!strcmp(name, "--plot")) {
            o->plot = val;
        } else if (!strcmp(name, "--quiet")) {
            o->quiet = 1;
        } else if (!strcmp(name, "--collective")) {
            o->collective = val;
        } else if (!strcmp(name, "--tensorboard")) {
            if (!*val) {
                cli_error("--tensorboard: needs a directory");
                return -1;
            }
            o->tensorboard = val;
        } else if (!strcmp(name, "--init-partial")) {
            o->init_partial = 1;
        } else if (!strcmp(name, "--init-skip")) {
            o->init_skip = val;
        } else if (!strcmp(name, "--freeze")) {
            o->freeze = val;
        } else if (!strcmp(name, "--lr-scale")) {
            o->lr_scale = val;
        } else if (!strcmp(name, "--save-dtype")) {
            if (strcmp(val, "f32") && strcmp(val, "f16") && strcmp(val, "bf16")) {
                cli_error("--save-dtype %s: unknown (known: f32, f16, bf16)", cli_short(val));
                return -1;
            }
            o->save_dtype = val[0] == 'b' ? CLG_BF16 : val[1] == '1' ? CLG_F16 : CLG_F32;
        } else if (!strcmp(name, "--stop-on-divergence")) {
            o->stop_on_divergence = 1;
        }
    }
    return cli_finetune_check(o);
}
