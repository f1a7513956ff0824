/* What `clgrad sweep` gives back: results.csv, the curves of every run in
 * one picture, and the ranked table (repeats of a setting, differing only
 * in seed, as mean ± std). */
#include "sweep.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int classifying(const sweep *w)
{
    for (int r = 0; r < w->n_runs; r++)
        for (int e = 0; e < w->run[r].n_ep; e++)
            if (!isnan(w->run[r].ep[e].test_accuracy))
                return 1;
    return 0;
}

static int has_test(const sweep *w)
{
    for (int r = 0; r < w->n_runs; r++)
        for (int e = 0; e < w->run[r].n_ep; e++)
            if (!isnan(w->run[r].ep[e].test_loss))
                return 1;
    return 0;
}

/* The ranked quantity of one epoch, higher is better. */
static double epoch_score(int cls, int test, const cli_epoch *e)
{
    return cls ? e->test_accuracy : test ? -e->test_loss : -e->train_loss;
}

const char *sweep_metric_name(const sweep *w)
{
    return classifying(w) ? "test_accuracy" : has_test(w) ? "test_loss" : "train_loss";
}

double sweep_metric_value(const sweep *w, double score)
{
    return classifying(w) ? score : -score;
}

double sweep_score(const sweep *w, const sweep_run *r)
{
    if (r->n_ep == 0 || r->status != RUN_OK)
        return NAN;
    double s = epoch_score(classifying(w), has_test(w), &r->ep[r->n_ep - 1]);
    return isfinite(s) ? s : NAN;
}

/* The best epoch (1-based index into ep, 0: none). */
static int best_epoch(const sweep *w, const sweep_run *r)
{
    int cls = classifying(w), test = has_test(w), best = 0;
    for (int e = 0; e < r->n_ep; e++) {
        double s = epoch_score(cls, test, &r->ep[e]);
        if (isfinite(s) && (!best || s > epoch_score(cls, test, &r->ep[best - 1])))
            best = e + 1;
    }
    return best;
}

static const char *status_name(int st)
{
    return st == RUN_OK ? "ok" : st == RUN_DIVERGED ? "diverged" : st == RUN_FAILED ? "failed"
                                                                                   : "not run";
}

int sweep_write_atomic(const char *flag, const char *path, int (*write)(FILE *f, const void *arg),
                       const void *arg)
{
    if (cli_check_output(flag, path))
        return -1;
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp)
        return cli_error("out of memory"), -1;
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp);
    FILE *f = fopen(tmp, "wx");
    int rc = -1;
    if (!f) {
        cli_error("%s: cannot create %s: %m", flag, cli_short(tmp));
        free(tmp);
        return -1;
    }
    if (write(f, arg) == 0 && fflush(f) == 0 && !ferror(f))
        rc = 0;
    if (fclose(f) != 0)
        rc = -1;
    if (rc)
        cli_error("%s: cannot write %s: %m", flag, cli_short(path));
    else if (rename(tmp, path) != 0) {
        cli_error("%s: cannot replace %s: %m", flag, cli_short(path));
        rc = -1;
    }
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* ----------------------------------------------------------- results.csv */

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, ",%.9g", v);
    else
        fputs(",", f);
}

static int write_csv(FILE *f, const void *arg)
{
    const sweep *w = arg;
    int cls = classifying(w), test = has_test(w);
    const char *m = sweep_metric_name(w);
    fputs("run", f);
    for (int i = 0; i < w->n_axes; i++) {
        fputc(',', f);
        csv_field(f, w->axis[i].name);
    }
    fprintf(f, ",status,epochs,final_train_loss,final_test_loss,final_test_accuracy,best_%s,"
               "best_epoch,seconds,samples_per_s\n", m);
    for (int r = 0; r < w->n_runs; r++) {
        const sweep_run *run = &w->run[r];
        csv_field(f, run->name);
        for (int i = 0; i < w->n_axes; i++) {
            fputc(',', f);
            csv_field(f, w->axis[i].v[run->pick[i]]);
        }
        fprintf(f, ",%s,%d", status_name(run->status), run->n_ep);
        const cli_epoch *last = run->n_ep ? &run->ep[run->n_ep - 1] : NULL;
        csv_num(f, last ? last->train_loss : NAN);
        csv_num(f, last ? last->test_loss : NAN);
        csv_num(f, last ? last->test_accuracy : NAN);
        int b = best_epoch(w, run);
        double bs = b ? epoch_score(cls, test, &run->ep[b - 1]) : NAN;
        csv_num(f, cls ? bs : -bs);
        if (b)
            fprintf(f, ",%d", run->ep[b - 1].epoch);
        else
            fputs(",", f);
        csv_num(f, run->status == RUN_PENDING ? NAN : run->seconds);
        double sps = 0;
        int n = 0;
        for (int e = 0; e < run->n_ep; e++)
            if (isfinite(run->ep[e].samples_per_s))
                sps += run->ep[e].samples_per_s, n++;
        csv_num(f, n ? sps / n : NAN);
        fputc('\n', f);
    }
    return 0;
}

int sweep_write_csv(const sweep *w)
{
    size_t n = strlen(w->out) + 32;
    char *p = malloc(n);
    if (!p)
        return cli_error("out of memory"), -1;
    snprintf(p, n, "%s/results.csv", w->out);
    int rc = sweep_write_atomic("--out", p, write_csv, w);
    free(p);
    return rc;
}

/* ---------------------------------------------------------------- curves */

static int same_but_seed(const sweep *w, const sweep_run *a, const sweep_run *b);

int sweep_write_curves(const sweep *w, const char *path)
{
    cli_series *s = calloc((size_t)(2 * w->n_runs + 1), sizeof *s);
    double *buf = NULL;
    size_t total = 0;
    for (int r = 0; r < w->n_runs; r++)
        total += (size_t)w->run[r].n_ep;
    buf = malloc((3 * total + 1) * sizeof *buf);
    if (!s || !buf) {
        free(s);
        free(buf);
        return cli_error("out of memory"), -1;
    }
    int ns = 0, test = has_test(w), n_groups = 0;
    int *group = calloc(2 * (size_t)w->n_runs + 1, sizeof *group), *named = group + w->n_runs;
    char (*label)[256] = calloc((size_t)w->n_runs + 1, sizeof *label);
    if (!group || !label) {
        free(s);
        free(buf);
        free(group);
        free(label);
        return cli_error("out of memory"), -1;
    }
    double *x = buf, *tr = buf + total, *te = buf + 2 * total;
    for (int r = 0; r < w->n_runs; r++) {
        const sweep_run *run = &w->run[r];
        /* one colour per setting: the repeats over seeds share it, and the
         * legend names the setting once */
        int g = 0;
        while (g < r && !same_but_seed(w, &w->run[g], run))
            g++;
        group[r] = g == r ? n_groups++ : group[g];
        if (!run->n_ep)
            continue;
        for (int e = 0; e < run->n_ep; e++) {
            x[e] = run->ep[e].epoch;
            tr[e] = run->ep[e].train_loss;
            te[e] = run->ep[e].test_loss;
        }
        const char *lab = NULL;
        if (!named[group[r]]++) { /* its first run with a curve */
            size_t u = 0;
            for (int i = 0; i < w->n_axes && u < sizeof label[r]; i++)
                if (strcmp(w->axis[i].name, "seed") || w->axis[i].n == 1)
                    u += (size_t)snprintf(label[r] + u, sizeof label[r] - u, "%s%s=%s",
                                          u ? "," : "", w->axis[i].name,
                                          w->axis[i].v[run->pick[i]]);
            lab = label[r][0] ? label[r] : run->name;
        }
        s[ns++] = (cli_series){ .label = lab, .x = x, .y = tr, .n = run->n_ep,
                                .color = group[r] };
        if (test)
            s[ns++] = (cli_series){ .x = x, .y = te, .n = run->n_ep, .color = group[r],
                                    .dashed = 1 };
        x += run->n_ep;
        tr += run->n_ep;
        te += run->n_ep;
    }
    int repeats = n_groups < w->n_runs;
    cli_chart c = { .title = test ? repeats ? "loss per epoch (solid: train, dashed: test; a line "
                                              "per seed, a colour per setting)"
                                            : "loss per epoch (solid: train, dashed: test)"
                                  : repeats ? "train loss per epoch (a line per seed, a colour "
                                              "per setting)"
                                            : "train loss per epoch",
                    .xlabel = "epoch", .integer_x = 1, .mark_x = NAN };
    /* Runs a decade apart (learning rates, a diverging one) stay readable. */
    double lo = INFINITY, hi = 0;
    for (int i = 0; i < ns; i++)
        for (int k = 0; k < s[i].n; k++)
            if (isfinite(s[i].y[k])) {
                lo = fmin(lo, s[i].y[k]);
                hi = fmax(hi, s[i].y[k]);
            }
    c.log_y = lo > 0 && hi / lo > 30;
    int rc = cli_plot_chart("--plot", path, &c, s, ns);
    free(s);
    free(buf);
    free(group);
    free(label);
    return rc;
}

/* ----------------------------------------------------------------- table */

typedef struct group {
    int first;      /* its first run */
    int n, n_ok, n_div, n_fail;
    double mean, sd, best, seconds, sps;
} group;

static int same_but_seed(const sweep *w, const sweep_run *a, const sweep_run *b)
{
    for (int i = 0; i < w->n_axes; i++)
        if (strcmp(w->axis[i].name, "seed") && a->pick[i] != b->pick[i])
            return 0;
    return 1;
}

static int cmp_group(const void *pa, const void *pb)
{
    const group *a = pa, *b = pb;
    int fa = isfinite(a->mean), fb = isfinite(b->mean);
    if (fa != fb)
        return fb - fa;
    if (fa && a->mean != b->mean)
        return a->mean > b->mean ? -1 : 1;
    return a->first - b->first;
}

int sweep_print_table(const sweep *w)
{
    if (w->n_runs == 0)
        return 0;
    group *g = calloc((size_t)w->n_runs, sizeof *g);
    if (!g)
        return cli_error("out of memory"), -1;
    int ng = 0, cls = classifying(w), test = has_test(w), seeds = 0;
    for (int i = 0; i < w->n_axes; i++)
        if (!strcmp(w->axis[i].name, "seed"))
            seeds = w->axis[i].n > 1;
    for (int r = 0; r < w->n_runs; r++) {
        int k = 0;
        while (k < ng && !same_but_seed(w, &w->run[g[k].first], &w->run[r]))
            k++;
        if (k == ng)
            g[ng++].first = r;
        const sweep_run *run = &w->run[r];
        group *G = &g[k];
        G->n++;
        G->n_div += run->status == RUN_DIVERGED;
        G->n_fail += run->status == RUN_FAILED;
        double s = sweep_score(w, run);
        if (isfinite(s)) {
            G->n_ok++;
            G->mean += s; /* sums first */
            G->sd += s * s;
            int b = best_epoch(w, run);
            G->best += b ? epoch_score(cls, test, &run->ep[b - 1]) : NAN;
            G->seconds += run->seconds;
            double sps = 0;
            int n = 0;
            for (int e = 0; e < run->n_ep; e++)
                if (isfinite(run->ep[e].samples_per_s))
                    sps += run->ep[e].samples_per_s, n++;
            G->sps += n ? sps / n : 0;
        }
    }
    for (int k = 0; k < ng; k++) {
        group *G = &g[k];
        int n = G->n_ok;
        if (n == 0 || G->n_div || G->n_fail) {
            /* a setting that diverged once is ranked with the failures */
            G->mean = G->sd = G->best = NAN;
            continue;
        }
        double mean = G->mean / n;
        /* the sample standard deviation (n - 1), as torch.std */
        G->sd = n > 1 ? sqrt(fmax(0, (G->sd - n * mean * mean) / (n - 1))) : NAN;
        G->mean = mean;
        G->best /= n;
        G->seconds /= n;
        G->sps /= n;
    }
    qsort(g, (size_t)ng, sizeof *g, cmp_group);
    const char *m = sweep_metric_name(w);
    int sign = cls ? 1 : -1;
    /* column widths: each axis but seed */
    int wid[64];
    for (int i = 0; i < w->n_axes && i < 64; i++) {
        wid[i] = (int)strlen(w->axis[i].name);
        for (int j = 0; j < w->axis[i].n; j++)
            if ((int)strlen(w->axis[i].v[j]) > wid[i])
                wid[i] = (int)strlen(w->axis[i].v[j]);
        if (wid[i] > 40)
            wid[i] = 40;
    }
    printf("\nranked by final %s (%s is better)%s:\n", m, cls ? "higher" : "lower",
           seeds ? "; repeats over seeds as mean ± std" : "");
    if (!test)
        printf("(no test set: give --val-split F to rank by a held-out loss)\n");
    printf("rank");
    for (int i = 0; i < w->n_axes && i < 64; i++)
        if (strcmp(w->axis[i].name, "seed") || !seeds)
            printf("  %-*s", wid[i], w->axis[i].name);
    int mw = seeds ? 22 : (int)strlen(m) > 10 ? (int)strlen(m) : 10;
    printf("  %-*s  %-10s  %8s  %10s  %s\n", mw, m, "best", "time_s", "samples/s", "status");
    for (int k = 0; k < ng; k++) {
        const group *G = &g[k];
        const sweep_run *run = &w->run[G->first];
        printf("%4d", k + 1);
        for (int i = 0; i < w->n_axes && i < 64; i++)
            if (strcmp(w->axis[i].name, "seed") || !seeds)
                printf("  %-*.*s", wid[i], wid[i], w->axis[i].v[run->pick[i]]);
        char val[64], best[32], st[64];
        if (!isfinite(G->mean))
            snprintf(val, sizeof val, "-");
        else if (seeds && G->n_ok > 1)
            snprintf(val, sizeof val, "%.4f ± %.4f (%d)", sign * G->mean, G->sd, G->n_ok);
        else
            snprintf(val, sizeof val, "%.4f", sign * G->mean);
        if (isfinite(G->best))
            snprintf(best, sizeof best, "%.4f", sign * G->best);
        else
            snprintf(best, sizeof best, "-");
        if (G->n_div || G->n_fail)
            snprintf(st, sizeof st, "%s%s%d/%d", G->n_div ? "diverged " : "failed ",
                     "", G->n_div ? G->n_div : G->n_fail, G->n);
        else
            snprintf(st, sizeof st, "ok");
        if (G->n == 1 && (G->n_div || G->n_fail))
            snprintf(st, sizeof st, "%s", status_name(run->status));
        /* "±" is two bytes and one column */
        int vw = mw + (strstr(val, "±") ? 1 : 0);
        char sps[32] = "-";
        if (isfinite(G->mean))
            snprintf(sps, sizeof sps, "%.0f", G->sps);
        printf("  %-*s  %-10s  %8.1f  %10s  %s\n", vw, val, best,
               isfinite(G->mean) ? G->seconds : run->seconds, sps, st);
    }
    free(g);
    fflush(stdout);
    if (ferror(stdout)) {
        cli_error("stdout: write failed");
        cli_stdout_reported = 1;
        return -1;
    }
    return 0;
}
