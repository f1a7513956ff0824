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
    /* Drawn to a temporary name next to it, renamed over it when complete. */
    size_t tl = strlen(path) + 32;
    char *tmp = malloc(tl);
    if (!tmp) {
        cli_error("out of memory");
        return -1;
    }
    snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp);
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
    if (rc == 0 && cli_check_output("--plot", path))
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0) {
        cli_error("--plot %s: cannot replace it: %m", cli_short(path));
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
#endif
}
