/* What a run prints: a progress bar on stderr (only when it is a terminal),
 * one line per epoch on stdout (text or JSON), the --metrics CSV, and the
 * history the --plot is drawn from. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cli_report {
    int json, quiet, bar, classifying;
    FILE *metrics;
    const char *metrics_path, *plot_path;
    cli_epoch *hist;
    int n_hist, cap_hist;
    double last_bar;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

cli_report *cli_report_new(const cli_opts *o, int classifying, int append)
{
    cli_report *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->json = o->json;
    r->quiet = o->quiet;
    r->bar = !o->quiet && isatty(STDERR_FILENO);
    r->classifying = classifying;
    r->plot_path = o->plot;
    if (o->metrics) {
        r->metrics_path = o->metrics;
        append = append && access(o->metrics, F_OK) == 0;
        r->metrics = fopen(o->metrics, append ? "a" : "w");
        if (!r->metrics) {
            cli_error("--metrics %s: cannot create: %m", o->metrics);
            free(r);
            return NULL;
        }
        if (!append)
            fprintf(r->metrics, "epoch,train_loss,test_loss,test_accuracy,lr,seconds,samples_per_s\n");
        fflush(r->metrics);
    }
    return r;
}

void cli_report_progress(cli_report *r, int epoch, int epochs, int64_t done, int64_t total,
                         double loss)
{
    if (!r->bar)
        return;
    double t = now();
    if (done < total && t - r->last_bar < 0.1)
        return;
    r->last_bar = t;
    const int width = 30;
    int fill = total > 0 ? (int)((double)width * (double)done / (double)total) : width;
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[width] = '\0';
    fprintf(stderr, "\repoch %d/%d [%s] %lld/%lld loss %.4f ", epoch, epochs, bar,
            (long long)done, (long long)total, loss);
    if (done >= total)
        fprintf(stderr, "\r%*s\r", 80, "");
    fflush(stderr);
}

/* A JSON number, or null for a missing value. */
static void jnum(FILE *f, const char *key, double v, int last)
{
    if (isnan(v))
        fprintf(f, "\"%s\": null%s", key, last ? "" : ", ");
    else
        fprintf(f, "\"%s\": %.9g%s", key, v, last ? "" : ", ");
}

static void csvnum(FILE *f, double v, const char *sep)
{
    if (isnan(v))
        fputs(sep, f);
    else
        fprintf(f, "%.9g%s", v, sep);
}

int cli_report_epoch(cli_report *r, const cli_epoch *e)
{
    if (r->n_hist == r->cap_hist) {
        int nc = r->cap_hist ? 2 * r->cap_hist : 16;
        cli_epoch *h = realloc(r->hist, (size_t)nc * sizeof *h);
        if (!h) {
            cli_error("out of memory");
            return -1;
        }
        r->hist = h;
        r->cap_hist = nc;
    }
    r->hist[r->n_hist++] = *e;
    if (r->json) {
        printf("{\"epoch\": %d, ", e->epoch);
        jnum(stdout, "train_loss", e->train_loss, 0);
        jnum(stdout, "test_loss", e->test_loss, 0);
        if (r->classifying)
            jnum(stdout, "test_accuracy", e->test_accuracy, 0);
        if (e->test_bits_per_byte > 0) /* text data */
            jnum(stdout, "test_bits_per_byte", e->test_bits_per_byte, 0);
        jnum(stdout, "lr", e->lr, 0);
        jnum(stdout, "seconds", e->seconds, 0);
        jnum(stdout, "samples_per_s", e->samples_per_s, 1);
        printf("}\n");
    } else if (!r->quiet) {
        printf("epoch %*d/%d  train_loss %.6f", e->epochs >= 100 ? 3 : e->epochs >= 10 ? 2 : 1,
               e->epoch, e->epochs, e->train_loss);
        if (!isnan(e->test_loss))
            printf("  test_loss %.6f", e->test_loss);
        if (!isnan(e->test_accuracy))
            printf("  test_accuracy %.4f", e->test_accuracy);
        if (e->test_bits_per_byte > 0)
            printf("  test_bits_per_byte %.4f", e->test_bits_per_byte);
        printf("  lr %.6g  %.2fs  %.0f samples/s\n", e->lr, e->seconds, e->samples_per_s);
    }
    fflush(stdout);
    if (r->metrics) {
        fprintf(r->metrics, "%d,", e->epoch);
        csvnum(r->metrics, e->train_loss, ",");
        csvnum(r->metrics, e->test_loss, ",");
        csvnum(r->metrics, e->test_accuracy, ",");
        csvnum(r->metrics, e->lr, ",");
        csvnum(r->metrics, e->seconds, ",");
        csvnum(r->metrics, e->samples_per_s, "\n");
        if (fflush(r->metrics) != 0 || ferror(r->metrics)) {
            cli_error("--metrics %s: write failed: %m", r->metrics_path);
            return -1;
        }
    }
    return 0;
}

int cli_report_finish(cli_report *r)
{
    if (r->plot_path)
        return cli_plot(r->plot_path, r->hist, r->n_hist, r->classifying);
    return 0;
}

void cli_report_free(cli_report *r)
{
    if (!r)
        return;
    if (r->metrics)
        fclose(r->metrics);
    free(r->hist);
    free(r);
}
