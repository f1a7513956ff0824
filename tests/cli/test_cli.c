/* The clgrad command end to end: bad input gives a clear message and a
 * non-zero exit (never a crash), weights match PyTorch's on the committed
 * cases, resume is bit-exact, a kill never leaves a broken checkpoint, and
 * the output flags do what they say.
 * argv[1]: the clgrad executable; argv[2]: tests/cli/fixtures. */
#include <clgrad/data.h>

#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cmd.h"
#include "cmd_short.h"

static const char *fixtures;

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void write_text(const char *path, const char *s)
{
    write_file(path, s, strlen(s));
}

/* ------------------------------------------------------------ bad inputs */

START_TEST(missing_file)
{
    refused(run("train --data csv:%s", P("nope.csv")), "nope.csv: cannot open", NULL);
    refused(run("train --data fashion-mnist:%s", P("none")), "train-images-idx3-ubyte", NULL);
    refused(run("train --init %s", P("none.safetensors")), "none.safetensors: cannot open", NULL);
    refused(run("eval --load %s", P("none.safetensors")), "none.safetensors", NULL);
    refused(run("train --resume %s", P("nodir")), "checkpoint.safetensors: cannot open", NULL);
}
END_TEST

/* An MNIST-style directory of 6 samples of 2x2 images; `mangle` may damage
 * the training images' bytes (raw IDX, before gzip) or their gzip stream. */
static void mnist_dir(const char *d, int gz_images, int cut_idx, int cut_gz, int flip_gz)
{
    mkdir(d, 0755);
    unsigned char im[16 + 24] = { 0, 0, 8, 3, 0, 0, 0, 6, 0, 0, 0, 2, 0, 0, 0, 2 };
    unsigned char lb[8 + 6] = { 0, 0, 8, 1, 0, 0, 0, 6, 1, 2, 3, 4, 5, 6 };
    for (int i = 0; i < 24; i++)
        im[16 + i] = (unsigned char)(i * 10);
    char p[600];
    size_t n = sizeof im - (size_t)cut_idx;
    for (int k = 0; k < 2; k++) {
        const char *pre = k ? "t10k" : "train";
        snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", d, pre);
        write_file(p, lb, sizeof lb);
        if (!gz_images || k) {
            snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", d, pre);
            write_file(p, im, k ? sizeof im : n);
            continue;
        }
        unsigned char gz[512];
        uLongf gl = sizeof gz;
        /* a gzip stream: zlib's deflate with the gzip wrapper */
        z_stream zs = { 0 };
        ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        zs.next_in = im;
        zs.avail_in = (uInt)n;
        zs.next_out = gz;
        zs.avail_out = (uInt)gl;
        ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
        gl = zs.total_out;
        deflateEnd(&zs);
        if (flip_gz)
            for (size_t i = 10; i < gl - 8; i++)
                gz[i] ^= 0xa5;
        snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte.gz", d, pre);
        write_file(p, gz, gl - (size_t)cut_gz);
    }
}

START_TEST(idx_and_gzip)
{
    mnist_dir(P("ok"), 1, 0, 0, 0);
    ck_assert_int_eq(run("train --data mnist:%s --model linear --epochs 1 --quiet", P("ok")), 0);
    mnist_dir(P("cut"), 0, 5, 0, 0);
    refused(run("train --data mnist:%s", P("cut")), "train-images-idx3-ubyte: truncated IDX data", NULL);
    mnist_dir(P("cutgz"), 1, 5, 0, 0);
    refused(run("train --data mnist:%s", P("cutgz")), "truncated IDX data", NULL);
    mnist_dir(P("gztrunc"), 1, 0, 12, 0);
    refused(run("train --data mnist:%s", P("gztrunc")), "images-idx3-ubyte.gz: truncated gzip", NULL);
    mnist_dir(P("gzbad"), 1, 0, 0, 1);
    refused(run("train --data mnist:%s", P("gzbad")), "images-idx3-ubyte.gz: corrupt gzip", NULL);
}
END_TEST

START_TEST(csv_errors)
{
    write_text(P("bad.csv"), "a,b,y\n1,2,3\n4,x7,6\n");
    refused(run("train --data csv:%s", P("bad.csv")), "bad.csv:3:2", "'x7'", "not a number", NULL);
    write_text(P("ragged.csv"), "1,2,3\n4,5,6\n7,8\n");
    refused(run("train --data csv:%s", P("ragged.csv")), "ragged.csv:3", "ragged row", NULL);
    write_text(P("empty.csv"), "");
    refused(run("train --data csv:%s", P("empty.csv")), "empty.csv: empty file", NULL);
    write_text(P("label.csv"), "x,label\n0.5,1\n0.2,4\n");
    refused(run("train --data csv:%s,classes=3", P("label.csv")), "label.csv:3:2",
            "outside [0, 3)", NULL);
    refused(run("train --data csv:%s,target=nope", P("label.csv")), "no column named 'nope'", NULL);
    refused(run("train --data csv:%s --loss cross-entropy", P("bad.csv")), "bad.csv:3:2", NULL);
    write_text(P("frac.csv"), "x,label\n0.5,1\n0.2,1.5\n");
    refused(run("train --data csv:%s --loss cross-entropy", P("frac.csv")), "not a class index",
            NULL);
}
END_TEST

/* A safetensors file: 8-byte length, the header text, then `data`. */
static void st_file(const char *path, const char *header, const void *data, size_t dn)
{
    size_t hl = strlen(header);
    unsigned char *b = malloc(8 + hl + dn);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    memcpy(b + 8 + hl, data, dn);
    write_file(path, b, 8 + hl + dn);
    free(b);
}

START_TEST(safetensors_errors)
{
    float z[64] = { 0 };
    unsigned char lenbad[16] = { 0, 0, 0, 0, 0, 0, 0, 1, '{', '}' };
    write_file(P("len.safetensors"), lenbad, sizeof lenbad);
    refused(run("train --init %s", P("len.safetensors")), "len.safetensors: bad safetensors header length",
            NULL);
    st_file(P("json.safetensors"), "{\"0.weight\": {\"dtype\": \"F32\",", z, 8);
    refused(run("train --init %s", P("json.safetensors")), "json.safetensors: bad JSON header", NULL);
    st_file(P("off.safetensors"), "{\"0.bias\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,20]}}",
            z, 8);
    refused(run("train --init %s", P("off.safetensors")),
            "off.safetensors: tensor '0.bias': data_offsets [0, 20] outside the data section", NULL);
    st_file(P("dt.safetensors"), "{\"0.bias\":{\"dtype\":\"X9\",\"shape\":[2],\"data_offsets\":[0,8]}}",
            z, 8);
    refused(run("train --init %s", P("dt.safetensors")), "tensor '0.bias': unknown dtype \"X9\"", NULL);
    /* The seed network 10->5->1 with a first layer of the wrong width. */
    const char *shape_hdr =
        "{\"0.weight\":{\"dtype\":\"F32\",\"shape\":[5,12],\"data_offsets\":[0,240]},"
        "\"0.bias\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[240,260]},"
        "\"2.weight\":{\"dtype\":\"F32\",\"shape\":[1,5],\"data_offsets\":[260,280]},"
        "\"2.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[280,284]}}";
    float big[71] = { 0 };
    st_file(P("shape.safetensors"), shape_hdr, big, sizeof big);
    refused(run("train --init %s", P("shape.safetensors")),
            "tensor '0.weight' has shape [5, 12] in the file but [5, 10] in the model", NULL);
    const char *name_hdr =
        "{\"0.weight\":{\"dtype\":\"F32\",\"shape\":[5,10],\"data_offsets\":[0,200]},"
        "\"0.bias\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[200,220]},"
        "\"1.weight\":{\"dtype\":\"F32\",\"shape\":[1,5],\"data_offsets\":[220,240]},"
        "\"2.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[240,244]}}";
    st_file(P("name.safetensors"), name_hdr, big, 244);
    refused(run("train --init %s", P("name.safetensors")), "missing tensor '2.weight'",
            "1.weight", NULL);
    refused(run("eval --load %s", P("name.safetensors")), "missing tensor '2.weight'", NULL);
}
END_TEST

START_TEST(unknown_names_and_bad_numbers)
{
    refused(run("train --model resnet"), "unknown model 'resnet'", "linear", "mlp:", NULL);
    refused(run("train --model mlp:5,act=swish"), "unknown activation 'swish'", NULL);
    refused(run("train --loss hinge"), "hinge", "mse", "cross-entropy", NULL);
    refused(run("train --optimizer lion"), "lion", "sgd", "adam", NULL);
    refused(run("train --scheduler zigzag --epochs 1"), "zigzag", "cosine", NULL);
    refused(run("train --optimizer adam:beta1=2"), "beta1", NULL);
    refused(run("train --lr -1"), "--lr -1", NULL);
    refused(run("train --batch-size 0"), "--batch-size 0", NULL);
    refused(run("train --epochs two"), "--epochs two", NULL);
    refused(run("train --val-split 1.5"), "--val-split 1.5", NULL);
    refused(run("train --data imagenet"), "unknown data set", "fashion-mnist", NULL);
    refused(run("train --frobnicate"), "unknown option '--frobnicate'", NULL);
    refused(run("eval"), "--load", NULL);
    refused(run("launch"), "unknown command 'launch'", NULL);
}
END_TEST

/* ------------------------------------------------- PyTorch reference cases */

/* Largest |got - want| / (1e-4 |want| + 1e-6) over every tensor (<= 1 passes). */
static double worst_error(const char *got_path, const char *want_path, char *why, size_t wl)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_tensor_set *g, *w;
    ck_assert_msg(clg_safetensors_read(ctx, got_path, &g) == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert_msg(clg_safetensors_read(ctx, want_path, &w) == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert_int_eq(g->n, w->n);
    double worst = 0;
    for (int i = 0; i < w->n; i++) {
        int k = clg_tensor_set_find(g, w->t[i].name);
        ck_assert_msg(k >= 0, "clgrad's file lacks %s", w->t[i].name);
        ck_assert(clg_shape_equal(&g->t[k].shape, &w->t[i].shape));
        ck_assert_int_eq(g->t[k].dtype, w->t[i].dtype);
        if (w->t[i].dtype == CLG_I32) { /* num_batches_tracked: exact */
            const int32_t *a = g->t[k].data, *b = w->t[i].data;
            for (int64_t j = 0; j < clg_shape_numel(&w->t[i].shape); j++)
                if (a[j] != b[j]) {
                    worst = INFINITY;
                    snprintf(why, wl, "%s[%lld]: clgrad %d, torch %d", w->t[i].name, (long long)j,
                             a[j], b[j]);
                }
            continue;
        }
        const float *a = g->t[k].data, *b = w->t[i].data;
        for (int64_t j = 0; j < clg_shape_numel(&w->t[i].shape); j++) {
            double e = fabs((double)a[j] - b[j]) / (1e-4 * fabs((double)b[j]) + 1e-6);
            if (!(e <= worst)) {
                worst = e;
                snprintf(why, wl, "%s[%lld]: clgrad %.9g, torch %.9g", w->t[i].name, (long long)j,
                         a[j], b[j]);
            }
        }
    }
    clg_tensor_set_free(g);
    clg_tensor_set_free(w);
    clg_ctx_free(ctx);
    return worst;
}

/* Replaces every `from` in s by `to` (into a static buffer). */
static const char *subst(const char *s, const char *from, const char *to)
{
    static char buf[2][4096];
    static int k;
    k ^= 1;
    char *o = buf[k];
    size_t fl = strlen(from), used = 0;
    while (*s && used + strlen(to) + 2 < sizeof buf[k]) {
        if (!strncmp(s, from, fl)) {
            used += (size_t)sprintf(o + used, "%s", to);
            s += fl;
        } else {
            o[used++] = *s++;
        }
    }
    o[used] = '\0';
    return o;
}

START_TEST(pytorch_cases)
{
    char path[600];
    snprintf(path, sizeof path, "%s/cases.tsv", fixtures);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s missing: run tests/cli/gen_fixtures.py", path);
    char line[4096];
    int n = 0, bad = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *name = line, *args = strchr(line, '\t');
        ck_assert_ptr_nonnull(args);
        *args++ = '\0';
        char outp[4700], want[4700];
        snprintf(outp, sizeof outp, "%s/%s.safetensors", dir, name);
        snprintf(want, sizeof want, "%s/want_%s.safetensors", fixtures, name);
        /* tabs separate arguments; quote each for the shell */
        char quoted[8192] = "";
        size_t used = 0;
        const char *a = subst(subst(args, "@FIX@", fixtures), "@OUT@", outp);
        char *copy = strdup(a);
        for (char *tok = strtok(copy, "\t"); tok; tok = strtok(NULL, "\t"))
            used += (size_t)snprintf(quoted + used, sizeof quoted - used, "'%s' ", tok);
        free(copy);
        int rc = run("train %s", quoted);
        ck_assert_msg(rc == 0, "case %s: exit %d: %s", name, rc, err);
        char why[256] = "";
        double e = worst_error(outp, want, why, sizeof why);
        printf("pytorch case %-20s worst %.3g of tolerance (%s)\n", name, e, why);
        bad += e > 1;
        n++;
    }
    fclose(f);
    ck_assert_int_ge(n, 20);
    ck_assert_msg(bad == 0, "%d of %d cases differ from PyTorch beyond 1e-4 relative", bad, n);
}
END_TEST

/* ---------------------------------------------------------------- resume */

static int same_tensors(const char *a, const char *b)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_tensor_set *x, *y;
    ck_assert_msg(clg_safetensors_read(ctx, a, &x) == CLG_OK, "%s", clg_ctx_error(ctx));
    ck_assert_msg(clg_safetensors_read(ctx, b, &y) == CLG_OK, "%s", clg_ctx_error(ctx));
    int same = x->n == y->n && x->n > 0;
    for (int i = 0; same && i < x->n; i++)
        same = !strcmp(x->t[i].name, y->t[i].name) && x->t[i].bytes == y->t[i].bytes &&
               !memcmp(x->t[i].data, y->t[i].data, x->t[i].bytes);
    clg_tensor_set_free(x);
    clg_tensor_set_free(y);
    clg_ctx_free(ctx);
    return same;
}

START_TEST(resume_is_bit_identical)
{
    /* Shuffled batches with a partial last one, Adam state, a per-step
     * scheduler and a validation split: everything a resume must restore. */
    const char *common = "--backend cpu --data synthetic:203 --val-split 0.2 --model mlp:8,4 "
                         "--optimizer adam --lr 0.01 --scheduler step:step_size=3,gamma=0.7,interval=step "
                         "--batch-size 16 --seed 5 --quiet";
    ck_assert_int_eq(run("train %s --epochs 2 --save %s", common, P("straight.safetensors")), 0);
    ck_assert_int_eq(run("train %s --epochs 1 --checkpoint-dir %s", common, P("ck")), 0);
    ck_assert_int_eq(run("train --resume %s --epochs 2 --save %s --quiet", P("ck"),
                         P("resumed.safetensors")), 0);
    ck_assert_msg(same_tensors(P("straight.safetensors"), P("resumed.safetensors")),
                  "2 epochs straight and 1 + resume + 1 differ");
    /* and the test really distinguishes: one epoch less is not the same */
    ck_assert_int_eq(run("train %s --epochs 1 --save %s", common, P("one.safetensors")), 0);
    ck_assert(!same_tensors(P("straight.safetensors"), P("one.safetensors")));
    /* a checkpoint evaluates like saved weights */
    ck_assert_int_eq(run("eval --load %s --data synthetic:203 --val-split 0.2 --model mlp:8,4 --seed 5",
                         P("ck")), 0);
    ck_assert_ptr_nonnull(strstr(out, "loss"));
}
END_TEST

START_TEST(kill_leaves_checkpoint_intact)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "exec '%s' train --backend cpu --data synthetic:2000 --model mlp:64,64 --epochs 100000 "
             "--checkpoint-dir '%s' --quiet >/dev/null 2>&1",
             clgrad, P("ck"));
    char ckfile[600];
    snprintf(ckfile, sizeof ckfile, "%s/ck/%s", dir, CLG_CHECKPOINT_FILE);
    srand((unsigned)time(NULL));
    int kills = 0;
    for (int round = 0; round < 6; round++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
        struct stat sb;
        for (int i = 0; i < 3000 && stat(ckfile, &sb) != 0; i++)
            usleep(10000);
        ck_assert_msg(stat(ckfile, &sb) == 0, "no checkpoint appeared");
        /* kill at a random moment: between or during checkpoint writes */
        usleep((useconds_t)(rand() % 40000));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        kills += WIFSIGNALED(st);
        clg_ctx *ctx = clg_ctx_new();
        clg_tensor_set *s;
        ck_assert_msg(clg_checkpoint_load(ctx, P("ck"), &s) == CLG_OK, "round %d: %s", round,
                      clg_ctx_error(ctx));
        ck_assert_ptr_nonnull(clg_tensor_set_get_meta(s, "epoch"));
        ck_assert_int_ge(clg_tensor_set_find(s, "2.bias"), 0);
        clg_tensor_set_free(s);
        clg_ctx_free(ctx);
    }
    ck_assert_int_eq(kills, 6);
    /* the surviving checkpoint resumes */
    ck_assert_int_eq(run("train --resume %s --epochs 1 --quiet", P("ck")), 0);
}
END_TEST

/* --------------------------------------------------------------- outputs */

START_TEST(default_run_and_outputs)
{
    ck_assert_int_eq(run("train --json --val-split 0.2 --metrics %s", P("m.csv")), 0);
    /* ten JSON lines with the documented keys; the loss falls */
    int lines = 0;
    double first = NAN, last = NAN;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        ck_assert_msg(l[0] == '{', "not JSON: %s", l);
        const char *keys[] = { "\"epoch\"", "\"train_loss\"", "\"test_loss\"", "\"lr\"",
                               "\"seconds\"", "\"samples_per_s\"" };
        for (int k = 0; k < 6; k++)
            ck_assert_msg(strstr(l, keys[k]), "%s lacks %s", l, keys[k]);
        double tl = atof(strstr(l, "\"train_loss\": ") + 14);
        if (lines == 0)
            first = tl;
        last = tl;
        lines++;
    }
    ck_assert_int_eq(lines, 10);
    ck_assert_msg(last < first * 0.5, "train loss %g -> %g did not halve", first, last);
    char csv[4096];
    slurp(P("m.csv"), csv, sizeof csv);
    ck_assert_ptr_nonnull(strstr(csv, "epoch,train_loss,test_loss,test_accuracy,lr,seconds,samples_per_s\n"));
    int n = 0;
    for (char *c = csv; *c; c++)
        n += *c == '\n';
    ck_assert_int_eq(n, 11);
    /* text mode: one line per epoch on stdout, nothing on stderr (not a TTY) */
    ck_assert_int_eq(run("train --epochs 3"), 0);
    ck_assert_int_eq(strlen(err), 0);
    ck_assert_ptr_nonnull(strstr(out, "epoch 3/3"));
}
END_TEST

START_TEST(classification_save_eval)
{
    char data[600];
    snprintf(data, sizeof data, "csv:%s/cls.csv,classes=3", fixtures);
    ck_assert_int_eq(run("train --data %s --model mlp:8 --epochs 20 --lr 0.1 --save %s --quiet",
                         data, P("w.safetensors")), 0);
    ck_assert_int_eq(run("eval --data %s --model mlp:8 --load %s --json", data,
                         P("w.safetensors")), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"accuracy\""));
    ck_assert_ptr_nonnull(strstr(out, "\"samples\": 23"));
    /* the wrong model for those weights is refused by name and shape */
    refused(run("eval --data %s --model mlp:9 --load %s", data, P("w.safetensors")),
            "tensor '0.weight' has shape [8, 4] in the file but [9, 4] in the model", NULL);
}
END_TEST

START_TEST(plot_and_listing)
{
    int rc = run("train --epochs 2 --val-split 0.2 --plot %s --quiet", P("p.svg"));
    if (rc != 0 && strstr(err, "built without cairo")) {
        printf("SKIP: --plot: %s", err);
    } else {
        ck_assert_int_eq(rc, 0);
        char svg[256];
        slurp(P("p.svg"), svg, sizeof svg);
        ck_assert_ptr_nonnull(strstr(svg, "<svg"));
        ck_assert_int_eq(run("train --epochs 2 --plot %s --quiet", P("p.png")), 0);
        slurp(P("p.png"), svg, sizeof svg);
        ck_assert(!memcmp(svg, "\x89PNG", 4));
        refused(run("train --plot %s", P("p.gif")), ".png or .svg", NULL);
    }
    ck_assert_int_eq(run("devices"), 0);
    ck_assert_ptr_nonnull(strstr(out, "cpu"));
    ck_assert_int_eq(run("plugins"), 0);
    ck_assert_ptr_nonnull(strstr(out, "adam"));
    ck_assert_ptr_nonnull(strstr(out, "cross-entropy"));
    ck_assert_ptr_nonnull(strstr(out, "onecycle"));
    ck_assert_int_eq(run("plugins adam"), 0);
    ck_assert_ptr_nonnull(strstr(out, "beta1"));
    ck_assert_ptr_nonnull(strstr(out, "0.9"));
    refused(run("plugins nosuch"), "no component or backend named 'nosuch'", NULL);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_cli CLGRAD FIXTURES\n");
        return 2;
    }
    clgrad = argv[1];
    cmd_suite = "cli";
    fixtures = argv[2];
    /* A sanitizer report must not pass for a clean error exit. */
    cmd_sanitizer_exits();

    Suite *s = suite_create("cli");
    TCase *bad = tcase_create("bad input");
    tcase_add_checked_fixture(bad, setup, teardown);
    tcase_set_timeout(bad, 120);
    tcase_add_test(bad, missing_file);
    tcase_add_test(bad, idx_and_gzip);
    tcase_add_test(bad, csv_errors);
    tcase_add_test(bad, safetensors_errors);
    tcase_add_test(bad, unknown_names_and_bad_numbers);
    suite_add_tcase(s, bad);
    TCase *run_tc = tcase_create("runs");
    tcase_add_checked_fixture(run_tc, setup, teardown);
    tcase_set_timeout(run_tc, 300);
    tcase_add_test(run_tc, pytorch_cases);
    tcase_add_test(run_tc, resume_is_bit_identical);
    tcase_add_test(run_tc, kill_leaves_checkpoint_intact);
    tcase_add_test(run_tc, default_run_and_outputs);
    tcase_add_test(run_tc, classification_save_eval);
    tcase_add_test(run_tc, plot_and_listing);
    suite_add_tcase(s, run_tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
