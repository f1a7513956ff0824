/* `clgrad sweep` (issue 13): each run is the run `clgrad train` makes by hand
 * with the same options (weights byte for byte, metrics equal), every
 * combination starts from the same weights, results.csv and the ranked
 * table, divergence, resuming, and bad grids refused naming the axis before
 * anything runs. argv[1]: the clgrad executable; argv[2]: tests/cli/fixtures. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"

#define run(...) cmd_run_to(NULL, __VA_ARGS__)
#define P cmd_path
static const char *fixtures;

/* The whole file, malloc'ed (NULL when it cannot be read). */
static char *file_bytes(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b)
        b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int same_bytes(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    char *x = file_bytes(a, &na), *y = file_bytes(b, &nb);
    int same = x && y && na == nb && na > 0 && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

/* A --metrics file less its timing columns (seconds, samples_per_s: the
 * last two), which no two runs share. */
static void metrics_values(const char *path, char *buf, size_t len)
{
    char raw[1 << 14];
    cmd_slurp(path, raw, sizeof raw);
    ck_assert_msg(raw[0], "%s is empty or missing", path);
    size_t u = 0;
    for (char *line = strtok(raw, "\n"); line && u + 2 < len; line = strtok(NULL, "\n")) {
        char *c = strrchr(line, ',');
        ck_assert_ptr_nonnull(c);
        *c = '\0';
        c = strrchr(line, ',');
        ck_assert_ptr_nonnull(c);
        *c = '\0';
        u += (size_t)snprintf(buf + u, len - u, "%s\n", line);
    }
}

/* The field of results.csv's row for run `name` under column `col`. */
static void csv_cell(const char *csv, const char *name, const char *col, char *out, size_t len)
{
    char buf[1 << 14];
    snprintf(buf, sizeof buf, "%s", csv);
    char *hdr = strtok(buf, "\n");
    ck_assert_ptr_nonnull(hdr);
    int want = -1, k = 0;
    for (char *p = hdr; p; k++) {
        size_t n = strcspn(p, ",");
        if (strlen(col) == n && !strncmp(p, col, n))
            want = k;
        p = p[n] ? p + n + 1 : NULL;
    }
    ck_assert_msg(want >= 0, "results.csv lacks column %s", col);
    out[0] = '\0';
    for (char *line = strtok(NULL, "\n"); line; line = strtok(NULL, "\n")) {
        /* the first field is the run's name, quoted when it holds a comma */
        char first[300];
        const char *p = line;
        if (*p == '"') {
            const char *q = strchr(p + 1, '"');
            ck_assert_ptr_nonnull(q);
            snprintf(first, sizeof first, "%.*s", (int)(q - p - 1), p + 1);
            p = q + 1;
        } else {
            size_t n = strcspn(p, ",");
            snprintf(first, sizeof first, "%.*s", (int)n, p);
            p += n;
        }
        if (strcmp(first, name))
            continue;
        for (int i = 1; i <= want; i++) {
            ck_assert_int_eq(*p, ',');
            p++;
            if (i == want) {
                snprintf(out, len, "%.*s", (int)strcspn(p, ","), p);
                return;
            }
            p += strcspn(p, ",");
        }
    }
    ck_abort_msg("results.csv has no row for %s:\n%s", name, csv);
}

#define BASE "--val-split 0.25 --epochs 2 --data synthetic:256"

START_TEST(runs_equal_train_by_hand)
{
    /* two processes at once: a run's result must not depend on it */
    ck_assert_int_eq(run("sweep " BASE " --out %s --jobs 2 --grid "
                         "'optimizer=sgd|adam:beta1=0.8;batch-size=16|64'", P("sw")), 0);
    const char *opts[] = { "sgd", "adam:beta1=0.8" };
    const char *names[] = { "optimizer=sgd,", "optimizer=adam:beta1=0.8," };
    const char *bs[] = { "16", "64" };
    /* the ranked table: regression with a held-out set ranks by test loss */
    ck_assert_ptr_nonnull(strstr(cmd_out, "ranked by final test_loss (lower is better)"));
    char csv[1 << 14];
    cmd_slurp(P("sw/results.csv"), csv, sizeof csv);
    int rows = 0;
    for (char *c = csv; (c = strchr(c, '\n')); c++)
        rows++;
    ck_assert_msg(rows == 5, "results.csv: a header and 4 rows expected:\n%s", csv);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            /* the run's directory: found by its readable prefix (a value
             * with '/' gets a hash) */
            char cmdline[600], name[300] = "";
            snprintf(cmdline, sizeof cmdline, "ls '%s' | grep -F '%s' | grep -F 'batch-size=%s'",
                     P("sw/runs"), names[i], bs[j]);
            FILE *ls = popen(cmdline, "r");
            ck_assert_ptr_nonnull(ls);
            ck_assert_ptr_nonnull(fgets(name, sizeof name, ls));
            pclose(ls);
            name[strcspn(name, "\n")] = '\0';
            ck_assert_ptr_null(strchr(name, '/'));
            ck_assert_int_eq(run("train " BASE " --optimizer '%s' --batch-size %s --save %s "
                                 "--metrics %s --quiet", opts[i], bs[j], P("hand.safetensors"),
                                 P("hand.csv")), 0);
            char run_dir[600], a[8192], b[8192], f[700];
            snprintf(run_dir, sizeof run_dir, "sw/runs/%s", name);
            snprintf(f, sizeof f, "%s/model.safetensors", run_dir);
            ck_assert_msg(same_bytes(P(f), P("hand.safetensors")),
                          "run %s: weights differ from train's", name);
            snprintf(f, sizeof f, "%s/metrics.csv", run_dir);
            metrics_values(P(f), a, sizeof a);
            metrics_values(P("hand.csv"), b, sizeof b);
            ck_assert_str_eq(a, b);
            char st[32];
            csv_cell(csv, name, "status", st, sizeof st);
            ck_assert_str_eq(st, "ok");
            csv_cell(csv, name, "batch-size", st, sizeof st);
            ck_assert_str_eq(st, bs[j]);
        }
    struct stat sb;
    if (run("train --epochs 1 --plot %s", P("probe.svg")) == 0) /* built with cairo */
        ck_assert_int_eq(stat(P("sw/curves.svg"), &sb), 0);
}
END_TEST

START_TEST(same_start_for_every_combination)
{
    /* --epochs 0: the saved weights are the initial ones */
    ck_assert_int_eq(run("sweep --epochs 0 --model mlp:8,4 --out %s --grid "
                         "'optimizer=sgd|adam;batch-size=8|128;lr=0.1|0.001;seed=0|7'", P("sw")),
                     0);
    const char *opt[] = { "sgd", "adam" }, *bs[] = { "8", "128" }, *lr[] = { "0.1", "0.001" };
    char ref[2][300];
    for (int s = 0; s < 2; s++)
        snprintf(ref[s], sizeof ref[s], "sw/runs/optimizer=sgd,batch-size=8,lr=0.1,seed=%d/"
                 "model.safetensors", s ? 7 : 0);
    for (int o = 0; o < 2; o++)
        for (int b = 0; b < 2; b++)
            for (int l = 0; l < 2; l++)
                for (int s = 0; s < 2; s++) {
                    char f[300];
                    snprintf(f, sizeof f, "sw/runs/optimizer=%s,batch-size=%s,lr=%s,seed=%d/"
                             "model.safetensors", opt[o], bs[b], lr[l], s ? 7 : 0);
                    ck_assert_msg(same_bytes(P(f), P(ref[s])), "%s starts elsewhere", f);
                }
    /* the seed axis is for repeats: another seed, other weights */
    ck_assert(!same_bytes(P(ref[0]), P(ref[1])));
}
END_TEST

START_TEST(seeds_as_mean_and_std)
{
    ck_assert_int_eq(run("sweep " BASE " --out %s --grid 'lr=0.1|0.01;seed=0|1|2'", P("sw")), 0);
    /* one row per setting, with the mean ± std of its three seeds */
    const char *row1 = strstr(cmd_out, "\n   1  0.1 ");
    ck_assert_msg(row1 != NULL, "%s", cmd_out);
    ck_assert_msg(strstr(row1, "± ") && strstr(row1, "(3)"), "%s", cmd_out);
    ck_assert_ptr_nonnull(strstr(cmd_out, "\n   2  0.01 "));
    ck_assert_ptr_null(strstr(cmd_out, "\n   3 "));
    /* the mean is the mean of the three runs' final test losses */
    char csv[1 << 14], v[64];
    cmd_slurp(P("sw/results.csv"), csv, sizeof csv);
    double sum = 0, sq = 0;
    for (int s = 0; s < 3; s++) {
        char name[64];
        snprintf(name, sizeof name, "lr=0.1,seed=%d", s);
        csv_cell(csv, name, "final_test_loss", v, sizeof v);
        sum += atof(v);
        sq += atof(v) * atof(v);
    }
    double mean = sum / 3, sd = sqrt((sq - 3 * mean * mean) / 2);
    char want[64];
    snprintf(want, sizeof want, "%.4f ± %.4f (3)", mean, sd);
    ck_assert_msg(strstr(row1, want) != NULL, "want '%s' in:\n%s", want, cmd_out);
}
END_TEST

START_TEST(classification_ranks_by_accuracy)
{
    ck_assert_int_eq(run("sweep --data csv:%s/cls.csv,classes=3 --val-split 0.3 --epochs 3 "
                         "--out %s --grid 'lr=0.001|0.3'", fixtures, P("sw")), 0);
    ck_assert_msg(strstr(cmd_out, "ranked by final test_accuracy (higher is better)") != NULL,
                  "%s", cmd_out);
    /* progress lines print the accuracy as it is */
    ck_assert_msg(strstr(cmd_out, "test_accuracy -") == NULL, "%s", cmd_out);
    char csv[1 << 14], a[64], b[64];
    cmd_slurp(P("sw/results.csv"), csv, sizeof csv);
    csv_cell(csv, "lr=0.3", "final_test_accuracy", a, sizeof a);
    csv_cell(csv, "lr=0.001", "final_test_accuracy", b, sizeof b);
    ck_assert(atof(a) >= 0 && atof(a) <= 1 && atof(b) >= 0 && atof(b) <= 1);
    /* the higher accuracy first */
    const char *first = atof(a) >= atof(b) ? "\n   1  0.3 " : "\n   1  0.001 ";
    ck_assert_msg(strstr(cmd_out, first) != NULL, "%s", cmd_out);
    char want[64];
    snprintf(want, sizeof want, "  test_accuracy %.4f", atof(a));
    ck_assert_msg(strstr(cmd_out, want) != NULL, "%s", cmd_out);
}
END_TEST

START_TEST(divergence_is_marked)
{
    ck_assert_int_eq(run("train --lr 5 --stop-on-divergence --json --epochs 3"), 3);
    ck_assert_ptr_nonnull(strstr(cmd_out, "\"diverged\": true"));
    ck_assert_ptr_nonnull(strstr(cmd_err, "diverged"));
    /* a sane rate is untouched by the option */
    ck_assert_int_eq(run("train --lr 0.01 --stop-on-divergence --epochs 2 --save %s",
                         P("a.safetensors")), 0);
    ck_assert_int_eq(run("train --lr 0.01 --epochs 2 --save %s", P("b.safetensors")), 0);
    ck_assert(same_bytes(P("a.safetensors"), P("b.safetensors")));

    ck_assert_int_eq(run("sweep --epochs 3 --out %s --grid 'lr=0.01|5'", P("sw")), 0);
    char csv[1 << 14], v[64];
    cmd_slurp(P("sw/results.csv"), csv, sizeof csv);
    csv_cell(csv, "lr=5", "status", v, sizeof v);
    ck_assert_str_eq(v, "diverged");
    csv_cell(csv, "lr=0.01", "status", v, sizeof v);
    ck_assert_str_eq(v, "ok");
    csv_cell(csv, "lr=0.01", "epochs", v, sizeof v);
    ck_assert_str_eq(v, "3");
    /* ranked last, as such */
    const char *last = strstr(cmd_out, "\n   2  5 ");
    ck_assert_msg(last && strstr(last, "diverged"), "%s", cmd_out);
}
END_TEST

static long mtime_ns(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return -1;
    return sb.st_mtim.tv_sec * 1000000000L + sb.st_mtim.tv_nsec;
}

START_TEST(rerun_skips_complete_runs)
{
    const char *grid = "'lr=0.1|0.01|0.001'";
    ck_assert_int_eq(run("sweep " BASE " --out %s --grid %s", P("sw"), grid), 0);
    char csv1[1 << 14], csv2[1 << 14];
    cmd_slurp(P("sw/results.csv"), csv1, sizeof csv1);
    long t1 = mtime_ns(P("sw/runs/lr=0.1/model.safetensors"));
    long t2 = mtime_ns(P("sw/runs/lr=0.01/model.safetensors"));
    ck_assert(t1 > 0 && t2 > 0);
    /* one run lost its result (killed before the end): only it runs again */
    ck_assert_int_eq(unlink(P("sw/runs/lr=0.01/result.json")), 0);
    sleep(1);
    ck_assert_int_eq(run("sweep " BASE " --out %s --grid %s", P("sw"), grid), 0);
    ck_assert_int_eq(mtime_ns(P("sw/runs/lr=0.1/model.safetensors")), t1);
    ck_assert(mtime_ns(P("sw/runs/lr=0.01/model.safetensors")) != t2);
    ck_assert_ptr_nonnull(strstr(cmd_out, "2 complete in"));
    cmd_slurp(P("sw/results.csv"), csv2, sizeof csv2);
    /* the same numbers (the times aside) */
    char a[64], b[64];
    for (int i = 0; i < 3; i++) {
        const char *name[] = { "lr=0.1", "lr=0.01", "lr=0.001" };
        csv_cell(csv1, name[i], "final_test_loss", a, sizeof a);
        csv_cell(csv2, name[i], "final_test_loss", b, sizeof b);
        ck_assert_str_eq(a, b);
    }
    /* other train options into the same directory: refused, naming the run */
    cmd_refused(run("sweep --val-split 0.25 --epochs 3 --data synthetic:256 --out %s --grid %s",
                    P("sw"), grid), "run 'lr=0.1'", "other train options", NULL);
    ck_assert_int_eq(mtime_ns(P("sw/runs/lr=0.1/model.safetensors")), t1);
}
END_TEST

START_TEST(bad_grids_name_the_axis)
{
    struct {
        const char *grid;
        const char *needle[3];
    } cases[] = {
        { "lrr=0.1|0.2", { "axis 'lrr'", "unknown option", NULL } },
        { "lr=0.1;batch-size=", { "axis 'batch-size'", "empty value list", NULL } },
        { "lr=0.1||0.2", { "axis 'lr'", "value 2 is empty", NULL } },
        { "lr=0.1|abc", { "axis 'lr'", "'abc'", "not a number" } },
        { "batch-size=32|0", { "axis 'batch-size'", "'0'", "at least 1" } },
        { "optimizer=sgd|nosuch", { "axis 'optimizer'", "'nosuch'", NULL } },
        { "scheduler=exponential:gama=0.9", { "axis 'scheduler'", "gama", NULL } },
        { "model=mlp:4|conv2d:out=4,k=3 > nosuch", { "axis 'model'", "nosuch", NULL } },
        { "save=a|b", { "axis 'save'", "cannot be an axis", NULL } },
        { "lr=0.1;lr=0.2", { "axis 'lr' is given twice", NULL } },
        { "no-shuffle=0|yes", { "axis 'no-shuffle'", "'yes'", NULL } },
        { "lr", { "axis 1 'lr'", "name=values", NULL } },
        { "lr=0.1;;seed=1|2", { "axis 2 is empty", NULL } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = run("sweep --epochs 1 --out %s --grid '%s'", P("sw"), cases[i].grid);
        ck_assert_msg(rc == 2, "grid %s: exit %d, stderr:\n%s", cases[i].grid, rc, cmd_err);
        for (int k = 0; k < 3 && cases[i].needle[k]; k++)
            ck_assert_msg(strstr(cmd_err, cases[i].needle[k]) != NULL,
                          "grid %s: stderr lacks '%s':\n%s", cases[i].grid, cases[i].needle[k],
                          cmd_err);
        /* refused before anything ran or was written */
        ck_assert_msg(access(P("sw"), F_OK) != 0, "grid %s: --out was created", cases[i].grid);
    }
    cmd_refused(run("sweep --grid 'lr=0.1|0.2' --out %s --lr 0.3", P("sw")),
                "axis 'lr'", "also given", NULL);
    cmd_refused(run("sweep --grid 'lr=0.1|0.2' --out %s --save x", P("sw")),
                "--save is not an option of sweep", NULL);
    cmd_refused(run("sweep --grid 'lr=0.1|0.2'"), "--out DIR", NULL);
    cmd_refused(run("sweep --grid 'lr=0.1' --out %s --jobs 0", P("sw")), "--jobs 0", NULL);
    /* a flag axis takes 0|1 and gives or leaves out the flag */
    ck_assert_int_eq(run("sweep --epochs 1 --out %s --grid 'no-shuffle=0|1'", P("sw")), 0);
    char a[1 << 12];
    cmd_slurp(P("sw/runs/no-shuffle=1/result.json"), a, sizeof a);
    ck_assert_ptr_nonnull(strstr(a, "\"--no-shuffle\""));
    cmd_slurp(P("sw/runs/no-shuffle=0/result.json"), a, sizeof a);
    ck_assert_ptr_null(strstr(a, "\"--no-shuffle\""));
}
END_TEST

START_TEST(safe_run_names)
{
    /* a model spec with spaces, '>' and '/': a directory name without them,
     * and distinct for distinct values */
    ck_assert_int_eq(run("sweep --epochs 1 --out %s --grid "
                         "'model=linear:out=4 > relu > linear|linear:out=4 > tanh > linear'",
                         P("sw")), 0);
    char cmdline[400], line[300];
    snprintf(cmdline, sizeof cmdline, "ls -1 '%s'", P("sw/runs"));
    FILE *ls = popen(cmdline, "r");
    ck_assert_ptr_nonnull(ls);
    int n = 0;
    while (fgets(line, sizeof line, ls)) {
        line[strcspn(line, "\n")] = '\0';
        ck_assert_msg(strcspn(line, " />\\\"'") == strlen(line), "odd name '%s'", line);
        n++;
    }
    pclose(ls);
    ck_assert_int_eq(n, 2);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_sweep CLGRAD FIXTURES\n");
        return 2;
    }
    cmd_clgrad = argv[1];
    fixtures = argv[2];
    cmd_suite = "sweep";
    /* OMP_NUM_THREADS is left as it is: the sweep's runs get a share of the
     * cores, the runs by hand all of them, and the results must agree. */
    cmd_sanitizer_exits();
    Suite *s = suite_create("sweep");
    TCase *tc = tcase_create("sweep");
    tcase_add_checked_fixture(tc, cmd_setup, cmd_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, runs_equal_train_by_hand);
    tcase_add_test(tc, same_start_for_every_combination);
    tcase_add_test(tc, seeds_as_mean_and_std);
    tcase_add_test(tc, classification_ranks_by_accuracy);
    tcase_add_test(tc, divergence_is_marked);
    tcase_add_test(tc, rerun_skips_complete_runs);
    tcase_add_test(tc, bad_grids_name_the_axis);
    tcase_add_test(tc, safe_run_names);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
