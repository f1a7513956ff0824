/* What a run prints: a progress bar on stderr (only when it is a terminal),
 * one line per epoch on stdout (text or JSON), the --metrics CSV, and the
 * history the --plot is drawn from. */
#include "cli.h"

#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
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

#define METRICS_HEADER "epoch,train_loss,test_loss,test_accuracy,lr,seconds,samples_per_s\n"

/* A resumed run's --metrics file keeps its header and the rows of epochs up
 * to start_epoch; from the first other line on (a row of a later epoch,
 * written before a kill that came before its checkpoint, or a line cut short
 * by the kill) it is cut off with one ftruncate: no temporary file to leave
 * behind. Returns the length kept (0: start anew with a header), or -1. */
static long metrics_keep(const char *path, int start_epoch)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("--metrics %s: cannot read: %m", cli_short(path));
        return -1;
    }
    char line[4096];
    long keep = 0;
    int first = 1;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        int whole = n > 0 && line[n - 1] == '\n';
        char *end;
        long ep = strtol(line, &end, 10);
        if (first ? !whole || strcmp(line, METRICS_HEADER)
                  : !whole || end == line || *end != ',' || ep < 1 || ep > start_epoch)
            break;
        first = 0;
        keep += (long)n;
    }
    fclose(f);
    return keep;
}

cli_report *cli_report_new(const cli_opts *o, int classifying, int append, int start_epoch)
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
        if (cli_check_output("--metrics", o->metrics)) {
            free(r);
            return NULL;
        }
        append = append && access(o->metrics, F_OK) == 0;
        long keep = append ? metrics_keep(o->metrics, start_epoch) : 0;
        if (keep < 0) {
            free(r);
            return NULL;
        }
        append = keep > 0;
        /* O_NOFOLLOW | O_NONBLOCK and a check of the open descriptor: only a
         * regular file is ever written (never a link's target, a device or
         * a FIFO swapped in since the check above); truncated only then. */
        int fd = open(o->metrics, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
                                      (append ? O_APPEND : 0), 0644);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
            ftruncate(fd, keep) != 0) {
            if (fd >= 0 && fstat(fd, &sb) == 0 && !S_ISREG(sb.st_mode))
                cli_error("--metrics %s: is %s; clgrad replaces only regular files",
                          cli_short(o->metrics), cli_file_kind(sb.st_mode));
            else
                cli_error("--metrics %s: cannot create: %m", cli_short(o->metrics));
            if (fd >= 0)
                close(fd);
            free(r);
            return NULL;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        r->metrics = fdopen(fd, append ? "a" : "w");
        if (!r->metrics) {
            cli_error("--metrics %s: cannot create: %m", cli_short(o->metrics));
            close(fd);
            free(r);
            return NULL;
        }
        if (!append)
            fputs(METRICS_HEADER, r->metrics);
        if (fflush(r->metrics) != 0) {
            cli_error("--metrics %s: write failed: %m", cli_short(o->metrics));
            cli_report_free(r);
            return NULL;
        }
    }
    return r;
}

/* stdout: a failed write (a full disk, a closed descriptor) ends the run. */
int cli_stdout_reported;

static int stdout_ok(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("stdout: write failed: %m");
        cli_stdout_reported = 1;
        return 0;
    }
    return 1;
}

void cli_report_nothing(const cli_report *r, const char *dir, int epoch, int epochs)
{
    if (r->json)
        printf("{\"nothing_to_train\": true, \"checkpoint_epoch\": %d, \"epochs\": %d}\n", epoch,
               epochs);
    else if (!r->quiet)
        printf("checkpoint in %s is at epoch %d; nothing to train for --epochs %d\n", dir, epoch,
               epochs);
    else
        cli_error("checkpoint in %s is at epoch %d; nothing to train for --epochs %d",
                  cli_short(dir), epoch, epochs);
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

/* A JSON number, or null for a missing value or one JSON cannot hold
 * (nan, inf): every line stays valid JSON. */
static void jnum(FILE *f, const char *key, double v, int last)
{
    if (!isfinite(v))
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
        if (e->kernels_per_step >= 0)
            printf("\"kernels_per_step\": %lld, \"peak_bytes\": %zu, ",
                   (long long)e->kernels_per_step, e->peak_bytes);
        jnum(stdout, "samples_per_s", e->samples_per_s, e->ranks <= 1);
        if (e->ranks > 1) {
            printf("\"ranks\": %d, ", e->ranks);
            jnum(stdout, "sync_ms_per_step", e->sync_ms, 1);
        }
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
    if (!stdout_ok())
        return -1;
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
