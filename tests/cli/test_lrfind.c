/* `clgrad lr-find` (issue 13): the probe follows its definition (rates
 * start·(end/start)^(k/(steps-1)), a bias-corrected moving average of the
 * loss with beta 0.98, a stop once it passes 4x its best, the suggestion a
 * tenth of the rate at its minimum), recomputed here from the losses it
 * reports; the suggested rate trains the seed network and mlp:256,128 on
 * Fashion-MNIST without diverging; nothing but --plot is written.
 * argv[1]: the clgrad executable. */
#include <check.h>
#include <dirent.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

#define run(...) cmd_run_to(NULL, __VA_ARGS__)
#define P cmd_path
#define FASHION "/usr/share/datasets/fashion-mnist"

static int skipped; /* a case could not run: the suite is not a pass */

/* The names in the scratch directory (the runner's own .out/.err aside),
 * sorted, one per line. */
static void listing(char *buf, size_t len)
{
    char cmdline[400];
    snprintf(cmdline, sizeof cmdline, "ls -A1 '%s' | grep -v -x -e .out -e .err", cmd_dir);
    FILE *f = popen(cmdline, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    pclose(f);
}

static double num(json_object *o, const char *key)
{
    json_object *v;
    ck_assert_msg(json_object_object_get_ex(o, key, &v), "no %s in the output", key);
    return json_object_get_double(v);
}

/* Checks the probe against its definition; returns the suggested rate. */
static double check_probe(const char *json, double start, double end, int steps)
{
    json_object *o = json_tokener_parse(json);
    ck_assert_msg(o != NULL, "not JSON: %s", json);
    json_object *lr, *loss, *sm;
    ck_assert(json_object_object_get_ex(o, "lr", &lr));
    ck_assert(json_object_object_get_ex(o, "loss", &loss));
    ck_assert(json_object_object_get_ex(o, "smoothed", &sm));
    int n = (int)json_object_array_length(lr);
    ck_assert_int_eq(n, (int)num(o, "steps"));
    ck_assert_int_eq(n, (int)json_object_array_length(loss));
    ck_assert(n >= 3 && n <= steps);
    double avg = 0, best = INFINITY, min = INFINITY, min_lr = NAN;
    for (int k = 0; k < n; k++) {
        double r = json_object_get_double(json_object_array_get_idx(lr, k));
        double want = start * pow(end / start, (double)k / (steps - 1));
        ck_assert_msg(fabs(r - want) <= 1e-5 * want, "step %d: lr %g, want %g", k, r, want);
        double l = json_object_get_double(json_object_array_get_idx(loss, k));
        double s = json_object_get_double(json_object_array_get_idx(sm, k));
        avg = 0.98 * avg + 0.02 * l;
        double ws = avg / (1 - pow(0.98, k + 1));
        ck_assert_msg(fabs(s - ws) <= 1e-6 * fabs(ws), "step %d: smoothed %g, want %g", k, s, ws);
        if (k > 0 && ws > 4 * best) {
            /* the stop: only at the last step */
            ck_assert_int_eq(k, n - 1);
            ck_assert_str_eq(json_object_get_string(json_object_object_get(o, "stopped")),
                             "diverged");
        }
        if (ws < best)
            best = ws;
        if (ws < min) {
            min = ws;
            min_lr = r;
        }
    }
    if (n < steps)
        ck_assert_str_eq(json_object_get_string(json_object_object_get(o, "stopped")), "diverged");
    double sug = num(o, "suggested_lr");
    ck_assert_msg(fabs(num(o, "min_loss_lr") - min_lr) <= 1e-5 * min_lr, "min at %g, not %g",
                  num(o, "min_loss_lr"), min_lr);
    ck_assert_msg(fabs(sug - min_lr / 10) <= 1e-5 * sug, "suggested %g, min at %g", sug, min_lr);
    json_object_put(o);
    return sug;
}

/* train --json at rate lr: every epoch's loss finite, the last below the
 * first. */
static void trains(const char *opts, double lr, int epochs)
{
    int rc = run("train %s --lr %.6g --epochs %d --stop-on-divergence --json", opts, lr, epochs);
    ck_assert_msg(rc == 0, "train at the suggested lr %g: exit %d\n%s%s", lr, rc, cmd_out,
                  cmd_err);
    double first = NAN, last = NAN;
    int n = 0;
    for (char *line = strtok(cmd_out, "\n"); line; line = strtok(NULL, "\n")) {
        json_object *o = json_tokener_parse(line), *v;
        ck_assert_ptr_nonnull(o);
        ck_assert_msg(json_object_object_get_ex(o, "train_loss", &v) && !json_object_is_type(v, json_type_null),
                      "a non-finite loss at lr %g: %s", lr, line);
        last = json_object_get_double(v);
        if (n++ == 0)
            first = last;
        json_object_put(o);
    }
    ck_assert_int_eq(n, epochs);
    ck_assert_msg(isfinite(last) && last < first, "lr %g: loss %g after %g", lr, last, first);
}

START_TEST(seed_network)
{
    char before[4096], after[4096];
    ck_assert_int_eq(run("train --epochs 1 --quiet --save %s", P("mine.safetensors")), 0);
    listing(before, sizeof before);
    int plot = run("train --epochs 1 --quiet --plot %s", P("probe.svg")) == 0;
    unlink(P("probe.svg"));
    int rc = run("lr-find --json %s%s", plot ? "--plot " : "", plot ? P("lr.svg") : "");
    ck_assert_msg(rc == 0, "%s", cmd_err);
    double lr = check_probe(cmd_out, 1e-7, 10, 100);
    listing(after, sizeof after);
    if (plot) {
        /* lr.svg is the one new name */
        char want[4200];
        snprintf(want, sizeof want, "%slr.svg\n", before);
        ck_assert_msg(!strcmp(after, "lr.svg\nmine.safetensors\n") || !strcmp(after, want),
                      "before:\n%safter:\n%s", before, after);
    } else {
        ck_assert_str_eq(before, after);
    }
    trains("", lr, 5);
    /* the text output names the same rate */
    ck_assert_int_eq(run("lr-find"), 0);
    char want[64];
    snprintf(want, sizeof want, "suggested --lr %.3g", lr);
    ck_assert_msg(strstr(cmd_out, want) != NULL, "%s", cmd_out);
}
END_TEST

START_TEST(mlp_on_fashion_mnist)
{
    if (access(FASHION "/train-labels-idx1-ubyte.gz", R_OK) != 0 &&
        access(FASHION "/train-labels-idx1-ubyte", R_OK) != 0) {
        fprintf(stderr, "SKIP: lrfind mlp_on_fashion_mnist: no Fashion-MNIST in %s "
                        "(Debian's dataset-fashion-mnist)\n", FASHION);
        skipped = 1;
        return;
    }
    const char *opts = "--data fashion-mnist --model mlp:256,128 --batch-size 64";
    ck_assert_int_eq(run("lr-find %s --start 1e-4 --steps 40 --json", opts), 0);
    double lr = check_probe(cmd_out, 1e-4, 10, 40);
    /* a few epochs on a 5% part (the rest is the held-out set) */
    char t[200];
    snprintf(t, sizeof t, "%s --val-split 0.95", opts);
    trains(t, lr, 3);
}
END_TEST

START_TEST(refusals)
{
    char before[4096], after[4096];
    listing(before, sizeof before);
    const char *bad[][2] = {
        { "--save x.safetensors", "--save is not an option of lr-find" },
        { "--checkpoint-dir ck", "--checkpoint-dir is not an option of lr-find" },
        { "--metrics m.csv", "--metrics is not an option of lr-find" },
        { "--epochs 3", "--epochs is not an option of lr-find" },
        { "--lr 0.1", "--lr is not an option of lr-find" },
        { "--start 1 --end 0.1", "--end 0.1 must be above --start 1" },
        { "--start 0", "--start 0: must be a number > 0" },
        { "--steps 2", "--steps 2: must be an integer" },
        { "--plot x.txt", ".png or .svg" },
        { "--lrr 1", "unknown option '--lrr'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = run("lr-find %s", bad[i][0]);
        ck_assert_msg(rc == 1 || rc == 2, "%s: exit %d", bad[i][0], rc);
        ck_assert_msg(strstr(cmd_err, bad[i][1]) != NULL, "%s: stderr lacks '%s':\n%s", bad[i][0],
                      bad[i][1], cmd_err);
    }
    listing(after, sizeof after);
    ck_assert_str_eq(before, after);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_lrfind CLGRAD\n");
        return 2;
    }
    cmd_clgrad = argv[1];
    cmd_suite = "lrfind";
    cmd_in_dir = 1; /* relative outputs would land in the scratch dir */
    cmd_sanitizer_exits();
    Suite *s = suite_create("lrfind");
    TCase *tc = tcase_create("lrfind");
    tcase_add_checked_fixture(tc, cmd_setup, cmd_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, seed_network);
    tcase_add_test(tc, mlp_on_fashion_mnist);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    /* CK_FORK: the flag is set in a child; CK_NOFORK (valgrind) sees it */
    if (!failed && (skipped || access(FASHION, F_OK) != 0)) {
        fprintf(stderr, "SKIP: lrfind: the Fashion-MNIST case did not run\n");
        return 77;
    }
    return failed ? 1 : 0;
}
