/* --plot: loss curves (train and test) and, when classifying, test accuracy
 * per epoch, drawn with cairo into a PNG or an SVG (by the file extension).
 * cairo is optional at build time; without it the flag is refused up front. */
#include "cli.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifdef CLG_HAVE_CAIRO
#include <cairo-svg.h>
#include <cairo.h>
#ifdef CLG_HAVE_FONTCONFIG
#include <fontconfig/fontconfig.h>
#endif
#endif

#ifdef CLG_HAVE_CAIRO
static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
}
#endif

int cli_plot_check(const char *path)
{
#ifndef CLG_HAVE_CAIRO
    cli_error("--plot %s: this clgrad was built without cairo (install libcairo2-dev and "
              "rebuild to draw plots)", path);
    return -1;
#else
    if (!ends_with(path, ".png") && !ends_with(path, ".svg")) {
        cli_error("--plot %s: the file name must end in .png or .svg", path);
        return -1;
    }
    return 0;
#endif
}

#ifdef CLG_HAVE_CAIRO
typedef struct panel { double x, y, w, h; } panel;

/* A picture is drawn to a temporary name next to path (NULL: out of memory,
 * said), renamed over it when complete by finish_file. */
static char *tmp_name(const char *path)
{
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (!tmp) {
        cli_error("out of memory");
        return NULL;
    }
    snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp);
    return tmp;
}

/* The picture, drawn into tmp, replaces path (a regular file of ours or
 * nothing) when rc is 0; tmp goes either way. */
static int finish_file(const char *flag, const char *path, char *tmp, int rc)
{
    if (rc == 0 && cli_check_output(flag, path))
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0) {
        cli_error("%s %s: cannot replace it: %m", flag, cli_short(path));
        rc = -1;
    }
    if (rc)
        unlink(tmp);
    free(tmp);
    /* Drop the font caches cairo and fontconfig keep for the process, so a
     * leak checker sees only real leaks. */
    cairo_debug_reset_static_data();
#ifdef CLG_HAVE_FONTCONFIG
    FcFini();
#endif
    return rc;
}

/* One series in a panel scaled to [lo, hi]; NaN points are skipped. */
static void series(cairo_t *cr, const panel *p, const cli_epoch *e, int n, size_t off, double lo,
                   double hi, double r, double g, double b, int dashed)
{
    cairo_set_source_rgb(cr, r, g, b);
    cairo_set_line_width(cr, 2);
    double dash[] = { 6, 4 };
    cairo_set_dash(cr, dash, dashed ? 2 : 0, 0);
    int started = 0;
    for (int pass = 0; pass < 2; pass++) { /* the line, then solid markers on it */
        if (pass == 1)
            cairo_set_dash(cr, dash, 0, 0);
        for (int i = 0; i < n; i++) {
            double v = *(const double *)((const char *)&e[i] + off);
            if (!isfinite(v))
                continue;
            double x = p->x + (n > 1 ? (double)i / (n - 1) : 0.5) * p->w;
            double y = p->y + p->h - (hi > lo ? (v - lo) / (hi - lo) : 0.5) * p->h;
            if (pass == 1) {
                cairo_new_sub_path(cr);
                cairo_arc(cr, x, y, 3, 0, 2 * M_PI);
                cairo_fill(cr);
            } else if (started) {
                cairo_line_to(cr, x, y);
            } else {
                cairo_move_to(cr, x, y);
                started = 1;
            }
        }
        if (pass == 0)
            cairo_stroke(cr);
    }
    cairo_set_dash(cr, dash, 0, 0);
}

static void frame(cairo_t *cr, const panel *p, const char *title, double lo, double hi, int n,
                  int first_epoch)
{
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, p->x, p->y, p->w, p->h);
    cairo_stroke(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 13);
    cairo_move_to(cr, p->x, p->y - 8);
    cairo_show_text(cr, title);
    char buf[64];
    cairo_set_font_size(cr, 10);
    snprintf(buf, sizeof buf, "%.4g", hi);
    cairo_move_to(cr, p->x - 48, p->y + 10);
    cairo_show_text(cr, buf);
    snprintf(buf, sizeof buf, "%.4g", lo);
    cairo_move_to(cr, p->x - 48, p->y + p->h);
    cairo_show_text(cr, buf);
    snprintf(buf, sizeof buf, "epoch %d", first_epoch);
    cairo_move_to(cr, p->x, p->y + p->h + 14);
    cairo_show_text(cr, buf);
    snprintf(buf, sizeof buf, "epoch %d", first_epoch + n - 1);
    cairo_move_to(cr, p->x + p->w - 50, p->y + p->h + 14);
    cairo_show_text(cr, buf);
}

static void range(const cli_epoch *e, int n, size_t off, double *lo, double *hi)
{
    for (int i = 0; i < n; i++) {
        double v = *(const double *)((const char *)&e[i] + off);
        if (!isfinite(v))
            continue;
        if (v < *lo)
            *lo = v;
        if (v > *hi)
            *hi = v;
    }
}

static void legend(cairo_t *cr, double x, double y, const char *label, double r, double g,
                   double b)
{
    cairo_set_source_rgb(cr, r, g, b);
    cairo_rectangle(cr, x, y - 8, 10, 10);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_move_to(cr, x + 14, y);
    cairo_show_text(cr, label);
}
#endif

int cli_plot(const char *path, const cli_epoch *e, int n, int classifying)
{
#ifndef CLG_HAVE_CAIRO
    (void)e;
    (void)n;
    (void)classifying;
    return cli_plot_check(path);
#else
    if (cli_plot_check(path) || cli_check_output("--plot", path))
        return -1;
    /* Epochs whose loss is not a number: left out of the curves (scaling
     * the axis to them would flatten everything else), and said so. */
    char bad[256] = "";
    size_t nb = 0;
    int n_bad = 0;
    for (int i = 0; i < n; i++)
        if (e[i].nonfinite) {
            if (nb + 16 < sizeof bad)
                nb += (size_t)snprintf(bad + nb, sizeof bad - nb, "%s%d", n_bad ? ", " : "",
                                       e[i].epoch);
            else if (nb + 4 < sizeof bad && !strstr(bad, "..."))
                nb += (size_t)snprintf(bad + nb, sizeof bad - nb, ", ...");
            n_bad++;
        }
    if (n_bad)
        cli_error("--plot %s: the loss is not finite (nan or inf) at epoch%s %s; those points "
                  "are not drawn", cli_short(path), n_bad > 1 ? "s" : "", bad);
    char *tmp = tmp_name(path);
    if (!tmp)
        return -1;
    const double W = 720, H = classifying ? 560 : 320;
    int svg = ends_with(path, ".svg");
    cairo_surface_t *s = svg ? cairo_svg_surface_create(tmp, W, H)
                             : cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)W, (int)H);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cli_error("--plot %s: %s", cli_short(path), cairo_status_to_string(cairo_surface_status(s)));
        cairo_surface_destroy(s);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    int first = n ? e[0].epoch : 1;
    panel lp = { 70, 40, W - 100, 220 };
    double lo = INFINITY, hi = -INFINITY;
    range(e, n, offsetof(cli_epoch, train_loss), &lo, &hi);
    range(e, n, offsetof(cli_epoch, test_loss), &lo, &hi);
    if (!(lo <= hi))
        lo = 0, hi = 1;
    frame(cr, &lp, "loss", lo, hi, n, first);
    series(cr, &lp, e, n, offsetof(cli_epoch, train_loss), lo, hi, 0.12, 0.47, 0.71, 0);
    series(cr, &lp, e, n, offsetof(cli_epoch, test_loss), lo, hi, 0.84, 0.15, 0.16, 1);
    legend(cr, lp.x + lp.w - 170, lp.y - 8, "train", 0.12, 0.47, 0.71);
    legend(cr, lp.x + lp.w - 90, lp.y - 8, "test", 0.84, 0.15, 0.16);
    if (classifying) {
        panel ap = { 70, 320, W - 100, 200 };
        double alo = INFINITY, ahi = -INFINITY;
        range(e, n, offsetof(cli_epoch, test_accuracy), &alo, &ahi);
        if (!(alo <= ahi))
            alo = 0, ahi = 1;
        frame(cr, &ap, "test accuracy", alo, ahi, n, first);
        series(cr, &ap, e, n, offsetof(cli_epoch, test_accuracy), alo, ahi, 0.17, 0.63, 0.17, 0);
    }
    if (n_bad) {
        char note[300];
        snprintf(note, sizeof note, "non-finite loss, not drawn: epoch%s %s", n_bad > 1 ? "s" : "",
                 bad);
        cairo_set_source_rgb(cr, 0.8, 0.0, 0.0);
        cairo_move_to(cr, lp.x + 4, lp.y + 16);
        cairo_show_text(cr, note);
    }
    cairo_destroy(cr);
    int rc = 0;
    if (!svg) {
        cairo_status_t cs = cairo_surface_write_to_png(s, tmp);
        if (cs != CAIRO_STATUS_SUCCESS) {
            cli_error("--plot %s: %s", cli_short(path), cairo_status_to_string(cs));
            rc = -1;
        }
    }
    cairo_surface_finish(s);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cli_error("--plot %s: %s", cli_short(path), cairo_status_to_string(cairo_surface_status(s)));
        rc = -1;
    }
    cairo_surface_destroy(s);
    return finish_file("--plot", path, tmp, rc);
#endif
}

#ifdef CLG_HAVE_CAIRO
/* Tableau's 20 colours: the dark ten first, then their light pairs. */
static const double palette[20][3] = {
    { .12, .47, .71 }, { 1.0, .50, .05 }, { .17, .63, .17 }, { .84, .15, .16 }, { .58, .40, .74 },
    { .55, .34, .29 }, { .89, .47, .76 }, { .50, .50, .50 }, { .74, .74, .13 }, { .09, .75, .81 },
    { .68, .78, .91 }, { 1.0, .73, .47 }, { .60, .87, .54 }, { 1.0, .60, .59 }, { .77, .69, .84 },
    { .77, .61, .58 }, { .97, .71, .82 }, { .78, .78, .78 }, { .86, .86, .55 }, { .62, .85, .90 },
};

/* A value on an axis: its position in [0, 1] (NAN: not drawable). */
static double axis_pos(double v, int log_axis, double lo, double hi)
{
    if (!isfinite(v) || (log_axis && v <= 0))
        return NAN;
    if (log_axis) {
        v = log10(v);
        lo = log10(lo);
        hi = log10(hi);
    }
    return hi > lo ? (v - lo) / (hi - lo) : 0.5;
}

/* Tick labels: every decade on a log axis (every other one when there are
 * many), five even steps on a linear one. vertical: the y axis. */
static void ticks(cairo_t *cr, const panel *p, int log_axis, double lo, double hi, int vertical,
                  int integer)
{
    double vals[32];
    int n = 0;
    if (log_axis) {
        int a = (int)ceil(log10(lo) - 1e-9), b = (int)floor(log10(hi) + 1e-9);
        int step = b - a > 10 ? 2 : 1;
        /* within three decades, 2x and 5x too */
        int few = b - a < 3;
        for (int k = a - 1; k <= b && n < 29; k += step)
            for (int m = 0; m < (few ? 3 : 1); m++) {
                double v = pow(10, k) * (m == 0 ? 1 : m == 1 ? 2 : 5);
                if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9))
                    vals[n++] = v;
            }
    }
    if (n < 2) { /* linear, or a log axis within one decade: 1, 2 or 5 x 10^k apart */
        n = 0;
        double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), step = mag;
        if (raw / mag > 5)
            step = 10 * mag;
        else if (raw / mag > 2)
            step = 5 * mag;
        else if (raw / mag > 1)
            step = 2 * mag;
        if (integer && step < 1)
            step = 1;
        for (double v = ceil(lo / step - 1e-9) * step; v <= hi + 1e-9 * step && n < 32; v += step)
            vals[n++] = fabs(v) < 1e-12 * step ? 0 : v;
    }
    cairo_set_font_size(cr, 10);
    for (int k = 0; k < n; k++) {
        double t = axis_pos(vals[k], log_axis && vals[k] > 0, lo, hi);
        if (!isfinite(t))
            continue;
        char buf[32];
        snprintf(buf, sizeof buf, "%.3g", vals[k]);
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_set_line_width(cr, 1);
        if (vertical) {
            double y = p->y + p->h - t * p->h;
            cairo_move_to(cr, p->x, y);
            cairo_line_to(cr, p->x + p->w, y);
            cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            cairo_move_to(cr, p->x - 50, y + 4);
        } else {
            double x = p->x + t * p->w;
            cairo_move_to(cr, x, p->y);
            cairo_line_to(cr, x, p->y + p->h);
            cairo_stroke(cr);
            cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
            cairo_move_to(cr, x - 12, p->y + p->h + 14);
        }
        cairo_show_text(cr, buf);
    }
}

static void chart_range(const cli_series *s, int n, int y, int log_axis, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < s[i].n; k++) {
            double v = y ? s[i].y[k] : s[i].x[k];
            if (!isfinite(v) || (log_axis && v <= 0))
                continue;
            *lo = fmin(*lo, v);
            *hi = fmax(*hi, v);
        }
    if (!(*lo <= *hi))
        *lo = log_axis ? 0.1 : 0, *hi = 1;
    if (*lo == *hi) {
        if (log_axis)
            *lo /= 2, *hi *= 2;
        else
            *lo -= 0.5, *hi += 0.5;
    }
}
#endif

int cli_plot_chart(const char *flag, const char *path, const cli_chart *c, const cli_series *s,
                   int n)
{
#ifndef CLG_HAVE_CAIRO
    (void)flag;
    (void)c;
    (void)s;
    (void)n;
    return cli_plot_check(path);
#else
    if (cli_plot_check(path) || cli_check_output(flag, path))
        return -1;
    char *tmp = tmp_name(path);
    if (!tmp)
        return -1;
    int labels = 0;
    for (int i = 0; i < n; i++)
        labels += s[i].label != NULL;
    const double W = 960, legend_w = 300;
    double H = 480;
    if (60 + 15.0 * labels > H)
        H = 60 + 15.0 * labels;
    int svg = ends_with(path, ".svg");
    cairo_surface_t *surf = svg ? cairo_svg_surface_create(tmp, W, H)
                                : cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)W, (int)H);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        cli_error("%s %s: %s", flag, cli_short(path),
                  cairo_status_to_string(cairo_surface_status(surf)));
        cairo_surface_destroy(surf);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    cairo_t *cr = cairo_create(surf);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    panel p = { 70, 40, W - 70 - legend_w - 20, 400 };
    double xlo, xhi, ylo, yhi;
    chart_range(s, n, 0, c->log_x, &xlo, &xhi);
    chart_range(s, n, 1, c->log_y, &ylo, &yhi);
    ticks(cr, &p, c->log_x, xlo, xhi, 0, c->integer_x);
    ticks(cr, &p, c->log_y, ylo, yhi, 1, 0);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, p.x, p.y, p.w, p.h);
    cairo_stroke(cr);
    cairo_set_font_size(cr, 13);
    cairo_move_to(cr, p.x, p.y - 12);
    cairo_show_text(cr, c->title ? c->title : "");
    cairo_set_font_size(cr, 11);
    cairo_move_to(cr, p.x + p.w / 2 - 20, p.y + p.h + 32);
    cairo_show_text(cr, c->xlabel ? c->xlabel : "");
    double dash[] = { 6, 4 };
    for (int i = 0; i < n; i++) {
        const double *col = palette[s[i].color % 20];
        cairo_set_source_rgb(cr, col[0], col[1], col[2]);
        cairo_set_line_width(cr, 1.8);
        cairo_set_dash(cr, dash, s[i].dashed ? 2 : 0, 0);
        int started = 0;
        for (int k = 0; k < s[i].n; k++) {
            double tx = axis_pos(s[i].x[k], c->log_x, xlo, xhi);
            double ty = axis_pos(s[i].y[k], c->log_y, ylo, yhi);
            if (!isfinite(tx) || !isfinite(ty)) {
                started = 0; /* a gap */
                continue;
            }
            double x = p.x + tx * p.w, y = p.y + p.h - ty * p.h;
            if (started)
                cairo_line_to(cr, x, y);
            else
                cairo_move_to(cr, x, y);
            if (s[i].n == 1) /* a single point shows as a dot */
                cairo_rectangle(cr, x - 2, y - 2, 4, 4);
            started = 1;
        }
        cairo_stroke(cr);
        cairo_set_dash(cr, dash, 0, 0);
    }
    double tm = axis_pos(c->mark_x, c->log_x, xlo, xhi);
    if (isfinite(tm)) {
        double x = p.x + tm * p.w;
        double d2[] = { 3, 3 };
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        cairo_set_dash(cr, d2, 2, 0);
        cairo_move_to(cr, x, p.y);
        cairo_line_to(cr, x, p.y + p.h);
        cairo_stroke(cr);
        cairo_set_dash(cr, d2, 0, 0);
        cairo_set_font_size(cr, 11);
        cairo_move_to(cr, x + 4, p.y + 14);
        cairo_show_text(cr, c->mark_label ? c->mark_label : "");
    }
    cairo_set_font_size(cr, 10);
    double ly = p.y + 4;
    for (int i = 0; i < n; i++) {
        if (!s[i].label)
            continue;
        const double *col = palette[s[i].color % 20];
        cairo_set_source_rgb(cr, col[0], col[1], col[2]);
        cairo_set_line_width(cr, 3);
        cairo_move_to(cr, p.x + p.w + 16, ly);
        cairo_line_to(cr, p.x + p.w + 34, ly);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        cairo_move_to(cr, p.x + p.w + 40, ly + 4);
        char lab[64];
        snprintf(lab, sizeof lab, "%s", s[i].label);
        if (strlen(s[i].label) > 48)
            snprintf(lab + 44, sizeof lab - 44, "...");
        cairo_show_text(cr, lab);
        ly += 15;
    }
    cairo_destroy(cr);
    int rc = 0;
    if (!svg) {
        cairo_status_t cs = cairo_surface_write_to_png(surf, tmp);
        if (cs != CAIRO_STATUS_SUCCESS) {
            cli_error("%s %s: %s", flag, cli_short(path), cairo_status_to_string(cs));
            rc = -1;
        }
    }
    cairo_surface_finish(surf);
    if (cairo_surface_status(surf) != CAIRO_STATUS_SUCCESS) {
        cli_error("%s %s: %s", flag, cli_short(path),
                  cairo_status_to_string(cairo_surface_status(surf)));
        rc = -1;
    }
    cairo_surface_destroy(surf);
    return finish_file(flag, path, tmp, rc);
#endif
}
