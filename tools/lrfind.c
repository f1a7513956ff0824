/* `clgrad lr-find`: the learning-rate range test (Smith 2015, as fastai's
 * lr_find). Trains from the run's initial weights with the rate raised
 * exponentially each step, keeps an exponential moving average of the loss
 * (bias-corrected, beta 0.98), stops once it exceeds 4x its best, and
 * suggests the rate where the smoothed loss falls fastest. Writes no file
 * but --plot. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BETA 0.98

typedef struct probe {
    double start, end;
    int steps, k;
    double avg, best;
    double *lr, *raw, *smooth;
    int diverged;
} probe;

static int before(void *arg, clg_trainer *tr)
{
    probe *p = arg;
    if (p->k >= p->steps)
        return 1;
    double lr = p->start * pow(p->end / p->start, (double)p->k / (p->steps - 1));
    p->lr[p->k] = lr;
    return clg_trainer_set_lr(tr, lr) != CLG_OK;
}

static int after(void *arg, double loss)
{
    probe *p = arg;
    int k = p->k++;
    p->raw[k] = loss;
    if (!isfinite(loss)) {
        p->smooth[k] = NAN;
        p->diverged = 1;
        return 1;
    }
    p->avg = BETA * p->avg + (1 - BETA) * loss;
    double sm = p->avg / (1 - pow(BETA, k + 1));
    p->smooth[k] = sm;
    if (k > 0 && sm > 4 * p->best) {
        p->diverged = 1;
        return 1;
    }
    if (k == 0 || sm < p->best)
        p->best = sm;
    return 0;
}

static int parse_pos(const char *flag, const char *v, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || !isfinite(d) || d <= 0) {
        cli_error("%s %s: must be a number > 0", flag, cli_short(v));
        return -1;
    }
    *out = d;
    return 0;
}

/* The steepest descent of the smoothed loss against log10(lr), over the
 * points up to its minimum (past it the loss rises: no rate there is a
 * candidate), each slope taken across a tenth of the probe on either side
 * so that step-to-step noise on a flat stretch does not win. Returns the
 * index, or -1 when there is no such point. */
static int steepest(const probe *p, int n_min)
{
    int best = -1, h = p->k / 10 > 1 ? p->k / 10 : 1;
    double g_best = 0;
    for (int i = h; i + h <= n_min && i + h < p->k; i++) {
        double g = (p->smooth[i + h] - p->smooth[i - h]) / (log10(p->lr[i + h]) - log10(p->lr[i - h]));
        if (isfinite(g) && (best < 0 || g < g_best)) {
            best = i;
            g_best = g;
        }
    }
    return best;
}

static int plot(const char *path, const probe *p, double suggested)
{
    double *clipped = malloc((size_t)(2 * p->k + 1) * sizeof *clipped);
    if (!clipped)
        return cli_error("out of memory"), -1;
    /* a loss past 4x the best (the last steps) would squash the curve
     * that matters */
    double *sm = clipped + p->k;
    for (int i = 0; i < p->k; i++) {
        clipped[i] = p->raw[i] <= 4 * p->best ? p->raw[i] : NAN;
        sm[i] = p->smooth[i] <= 4 * p->best ? p->smooth[i] : NAN;
    }
    cli_series s[2] = {
        { .label = "loss per step", .x = p->lr, .y = clipped, .n = p->k, .color = 10 },
        { .label = "smoothed (EMA 0.98)", .x = p->lr, .y = sm, .n = p->k, .color = 0 },
    };
    char mark[64];
    snprintf(mark, sizeof mark, "suggested %.3g", suggested);
    cli_chart c = { .title = "lr-find: training loss against learning rate",
                    .xlabel = "learning rate (log scale)", .log_x = 1, .mark_x = suggested,
                    .mark_label = mark };
    int rc = cli_plot_chart("--plot", path, &c, s, 2);
    free(clipped);
    return rc;
}

int cli_lr_find(int argc, char **argv)
{
    probe p = { .start = 1e-7, .end = 10, .steps = 100 };
    const char *plot_path = NULL;
    int json = 0, rc = 2, n = 0;
    char **targv = calloc((size_t)argc + 8, sizeof *targv);
    if (!targv) {
        cli_error("out of memory");
        return 1;
    }
    static const char *const refused[] = { "--save", "--checkpoint-dir", "--resume", "--metrics",
                                           "--epochs", "--lr", "--scheduler", "--accumulate",
                                           "--stop-on-divergence", "--collective", "--quiet" };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        size_t nl = strcspn(a, "=");
        char flag[64];
        snprintf(flag, sizeof flag, "%.*s", (int)(nl < 63 ? nl : 63), a);
        const char *val = a[nl] == '=' ? a + nl + 1 : i + 1 < argc ? argv[i + 1] : NULL;
        int own = !strcmp(flag, "--start") || !strcmp(flag, "--end") ||
                  !strcmp(flag, "--steps") || !strcmp(flag, "--plot");
        if (own) {
            if (!val) {
                cli_error("%s needs a value", flag);
                goto out;
            }
            if (a[nl] != '=')
                i++;
            if (!strcmp(flag, "--start") && parse_pos(flag, val, &p.start))
                goto out;
            if (!strcmp(flag, "--end") && parse_pos(flag, val, &p.end))
                goto out;
            if (!strcmp(flag, "--plot"))
                plot_path = val;
            if (!strcmp(flag, "--steps")) {
                char *end;
                errno = 0;
                long long s = strtoll(val, &end, 10);
                if (end == val || *end || errno || s < 5 || s > 1000000) {
                    cli_error("--steps %s: must be an integer from 5 to 1000000", cli_short(val));
                    goto out;
                }
                p.steps = (int)s;
            }
            continue;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++)
            if (!strcmp(flag, refused[k])) {
                cli_error("%s is not an option of lr-find: it trains --steps batches at rates "
                          "it chooses and writes no file but --plot", flag);
                goto out;
            }
        targv[n++] = argv[i];
    }
    if (p.end <= p.start) {
        cli_error("--end %g must be above --start %g", p.end, p.start);
        goto out;
    }
    if (plot_path && cli_plot_check(plot_path))
        goto out;
    if (plot_path && cli_check_output("--plot", plot_path)) {
        rc = 1;
        goto out;
    }
    char epochs[32];
    snprintf(epochs, sizeof epochs, "%d", CLI_MAX_EPOCHS);
    targv[n++] = "--quiet";
    targv[n++] = "--epochs";
    targv[n++] = epochs;
    targv[n++] = "--collective";
    targv[n++] = "none";
    p.lr = calloc((size_t)p.steps, sizeof *p.lr);
    p.raw = calloc((size_t)p.steps, sizeof *p.raw);
    p.smooth = calloc((size_t)p.steps, sizeof *p.smooth);
    if (!p.lr || !p.raw || !p.smooth) {
        cli_error("out of memory");
        rc = 1;
        goto out;
    }
    cli_step_hook hook = { before, after, &p };
    rc = cli_train_hooked(n, targv, &hook);
    if (rc)
        goto out;
    rc = 1;
    int i_min = -1;
    for (int i = 0; i < p.k; i++)
        if (isfinite(p.smooth[i]) && (i_min < 0 || p.smooth[i] < p.smooth[i_min]))
            i_min = i;
    int i_st = i_min >= 0 ? steepest(&p, i_min) : -1;
    if (i_min <= 0) {
        cli_error("lr-find: the loss never decreased over %d step%s (from --start %g): no rate to "
                  "suggest (try a lower --start or more --steps)", p.k, p.k == 1 ? "" : "s",
                  p.start);
        goto out;
    }
    /* The suggestion is a tenth of the rate at the lowest smoothed loss
     * (fastai's lr_min): the minimum is well defined on any probe and a
     * decade below it is clear of the instability that follows, while the
     * steepest slope depends on the window it is measured over and, on a
     * flat curve, on noise (docs/experiments.md). Both are printed. */
    double min_lr = p.lr[i_min], suggested = min_lr / 10;
    double steep = i_st >= 0 ? p.lr[i_st] : NAN;
    if (json) {
        printf("{\"suggested_lr\": %.9g, ", suggested);
        printf(isfinite(steep) ? "\"steepest_lr\": %.9g, " : "\"steepest_lr\": null, ", steep);
        printf("\"min_loss_lr\": %.9g, \"min_smoothed_loss\": %.9g, \"steps\": %d, "
               "\"stopped\": \"%s\", \"lr\": [", min_lr, p.smooth[i_min], p.k,
               p.diverged ? "diverged" : "end");
        for (int i = 0; i < p.k; i++)
            printf("%s%.9g", i ? ", " : "", p.lr[i]);
        printf("], \"loss\": [");
        for (int i = 0; i < p.k; i++)
            printf(isfinite(p.raw[i]) ? "%s%.9g" : "%snull", i ? ", " : "", p.raw[i]);
        printf("], \"smoothed\": [");
        for (int i = 0; i < p.k; i++)
            printf(isfinite(p.smooth[i]) ? "%s%.9g" : "%snull", i ? ", " : "", p.smooth[i]);
        printf("]}\n");
    } else {
        printf("lr-find: %d steps, lr %.3g to %.3g, %s\n", p.k, p.lr[0], p.lr[p.k - 1],
               p.diverged ? "stopped when the smoothed loss passed 4x its best"
                          : "the whole range");
        printf("smoothed loss: lowest %.6g at lr %.3g", p.smooth[i_min], min_lr);
        if (isfinite(steep))
            printf("; steepest descent at lr %.3g", steep);
        printf("\nsuggested --lr %.3g (a tenth of the rate at the lowest smoothed loss)\n",
               suggested);
    }
    if (plot_path && plot(plot_path, &p, suggested))
        goto out;
    rc = 0;
out:
    free(p.lr);
    free(p.raw);
    free(p.smooth);
    free(targv);
    return rc;
}
