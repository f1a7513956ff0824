/* The clgrad command against hostile files and arguments (issue #10): FIFOs,
 * devices, sockets, directories and links where files are expected; outputs
 * that are inputs; damaged or crafted checkpoints; option changes on resume;
 * two runs on one checkpoint directory; non-finite numbers; a stdout that
 * cannot be written; long values in messages. Every command runs under a
 * timeout, so a hang is a failure (exit 137), not a stuck suite.
 * argv[1]: the clgrad executable. CLGRAD_TEST_BACKENDS (default cpu,opencl)
 * lists the backends of the numeric cases; one that cannot run is skipped
 * unless CLGRAD_REQUIRE_BACKENDS names it. */
#include <clgrad/data.h>

#include <check.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "cmd_short.h"

#define run_prefix cmd_prefix

static void write_text(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(s, f);
    fclose(f);
}

static int exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void make_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
}

static int same_bytes(const char *a, const char *b)
{
    static char x[1 << 16], y[1 << 16];
    slurp(a, x, sizeof x);
    slurp(b, y, sizeof y);
    return file_size(a) == file_size(b) && file_size(a) > 0 && memcmp(x, y, (size_t)file_size(a)) == 0;
}

/* The checkpoint in d, changed by edit() and saved again through the library
 * (so its checksum is valid: the range checks are what must refuse it). */
static void recraft(const char *d, void (*edit)(clg_ctx *, clg_tensor_set *))
{
    clg_ctx *ctx = clg_ctx_new();
    clg_tensor_set *s = NULL;
    char f[600];
    snprintf(f, sizeof f, "%s/%s", d, CLG_CHECKPOINT_FILE);
    ck_assert_msg(clg_safetensors_read(ctx, f, &s) == CLG_OK, "%s", clg_ctx_error(ctx));
    edit(ctx, s);
    ck_assert_msg(clg_checkpoint_save(ctx, d, s) == CLG_OK, "%s", clg_ctx_error(ctx));
    clg_tensor_set_free(s);
    clg_ctx_free(ctx);
}

static const char *const base = "--backend cpu --data synthetic:64 --model mlp:4 --batch-size 16";

/* ------------------------------------------------ 1. kinds of file objects */

START_TEST(inputs_of_the_wrong_kind)
{
    ck_assert_int_eq(mkfifo(P("fifo"), 0644), 0);
    make_socket(P("sock"));
    mkdir(P("adir"), 0755);
    /* today a FIFO input blocks forever: here each is refused at once */
    refused(run("train --data csv:%s", P("fifo")), "fifo", "FIFO", NULL);
    refused(run("train --data csv:%s", P("sock")), "sock", "socket", NULL);
    refused(run("train --data csv:%s", P("adir")), "adir", "directory", NULL);
    refused(run("train --data csv:/dev/zero"), "/dev/zero", "character device", NULL);
    refused(run("train --init %s", P("fifo")), "fifo", "FIFO", NULL);
    refused(run("train --init %s", P("adir")), "adir", "directory", NULL);
    refused(run("eval --load %s", P("fifo")), "fifo", "FIFO", NULL);
    refused(run("eval --load %s", P("sock")), "sock", "socket", NULL);
    refused(run("train --resume %s", P("fifo")), "fifo", "FIFO", NULL);
    /* a checkpoint directory whose checkpoint is a FIFO */
    mkdir(P("ck"), 0755);
    ck_assert_int_eq(mkfifo(P("ck/checkpoint.safetensors"), 0644), 0);
    refused(run("train --resume %s", P("ck")), "checkpoint.safetensors", "FIFO", NULL);
    refused(run("eval --load %s", P("ck")), "checkpoint.safetensors", "FIFO", NULL);
    /* an IDX file that is a FIFO */
    mkdir(P("mn"), 0755);
    ck_assert_int_eq(mkfifo(P("mn/train-images-idx3-ubyte"), 0644), 0);
    write_text(P("mn/train-labels-idx1-ubyte"), "x");
    refused(run("train --data mnist:%s", P("mn")), "train-images-idx3-ubyte", "FIFO", NULL);
    /* a backend or a plugin given as a path is dlopen'ed: a FIFO must not block it */
    refused(run("train --backend %s", P("fifo")), "fifo", "FIFO", NULL);
    refused(run("train --plugin %s", P("fifo")), "fifo", "FIFO", NULL);
}
END_TEST

START_TEST(outputs_replace_only_regular_files)
{
    write_text(P("target"), "precious");
    ck_assert_int_eq(symlink(P("target"), P("link")), 0);
    ck_assert_int_eq(mkfifo(P("fifo"), 0644), 0);
    mkdir(P("adir"), 0755);
    /* a symbolic link is refused: neither replaced nor written through */
    refused(run("train %s --save %s", base, P("link")), "link", "symbolic link", NULL);
    refused(run("train %s --metrics %s", base, P("link")), "link", "symbolic link", NULL);
    struct stat sb;
    ck_assert_int_eq(lstat(P("link"), &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    char buf[64];
    slurp(P("target"), buf, sizeof buf);
    ck_assert_str_eq(buf, "precious");
    /* a FIFO, a device, a directory: refused, before any epoch ran */
    refused(run("train %s --save %s", base, P("fifo")), "fifo", "FIFO", NULL);
    ck_assert_ptr_null(strstr(out, "epoch"));
    refused(run("train %s --metrics %s", base, P("fifo")), "fifo", "FIFO", NULL);
    refused(run("train %s --save /dev/null", base), "/dev/null", "character device", NULL);
    refused(run("train %s --metrics /dev/null", base), "/dev/null", "character device", NULL);
    refused(run("train %s --save %s", base, P("adir")), "adir", "directory", NULL);
    ck_assert_int_eq(lstat(P("fifo"), &sb), 0);
    ck_assert(S_ISFIFO(sb.st_mode));
    /* a checkpoint file that is a link */
    mkdir(P("ck"), 0755);
    ck_assert_int_eq(symlink(P("target"), P("ck/checkpoint.safetensors")), 0);
    refused(run("train %s --checkpoint-dir %s", base, P("ck")), "checkpoint.safetensors",
            "symbolic link", NULL);
    slurp(P("target"), buf, sizeof buf);
    ck_assert_str_eq(buf, "precious");
    /* messages name the user's path, never the temporary file */
    ck_assert_ptr_null(strstr(err, ".tmp."));
}
END_TEST

START_TEST(failed_writes_name_the_users_path)
{
    /* a file size limit of 2 KiB (SIGXFSZ ignored, so write fails with
     * EFBIG): the weights do not fit */
    run_prefix = "trap '' XFSZ; ulimit -f 4;";
    int rc = run("train --backend cpu --data synthetic:64 --model mlp:256 --epochs 1 --save %s "
                 "--quiet", P("w.safetensors"));
    int named = strstr(err, "w.safetensors: write failed") && !strstr(err, ".tmp.");
    int rc2 = run_to(">/dev/null", "train --backend cpu --data synthetic:64 --model mlp:256 "
                     "--epochs 1 --checkpoint-dir %s --quiet", P("ck"));
    run_prefix = "";
    ck_assert_msg(rc == 1, "a failed --save exited %d", rc);
    ck_assert_msg(named, "the --save failure does not name the user's file");
    ck_assert_msg(rc2 == 1, "a failed checkpoint write exited %d: %s", rc2, err);
    ck_assert_msg(strstr(err, "ck/checkpoint.safetensors") && !strstr(err, ".tmp."),
                  "the message does not name the checkpoint: %s", err);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -a '%s' '%s/ck' | grep -q '[.]tmp[.]'", dir, dir);
    ck_assert_msg(system(cmd) != 0, "a temporary file was left after a failed write");
    ck_assert(!exists(P("w.safetensors")));
}
END_TEST

START_TEST(outputs_checked_before_training)
{
    /* a missing directory is found before the first epoch, not after */
    refused(run("train %s --epochs 3 --save %s", base, P("no/such/w.safetensors")),
            "no/such/w.safetensors", "No such file", NULL);
    ck_assert_ptr_null(strstr(out, "epoch"));
    refused(run("train %s --epochs 3 --metrics %s", base, P("no/m.csv")), "no/m.csv", NULL);
    ck_assert_ptr_null(strstr(out, "epoch"));
    refused(run("train %s --epochs 3 --checkpoint-dir %s", base, P("no/such/ck")), "no/such/ck",
            NULL);
    ck_assert_ptr_null(strstr(out, "epoch"));
    write_text(P("file"), "x");
    refused(run("train %s --checkpoint-dir %s", base, P("file")), "file", "not a directory", NULL);
}
END_TEST

START_TEST(output_that_is_an_input)
{
    ck_assert_int_eq(run("train %s --epochs 1 --save %s --quiet", base, P("w.safetensors")), 0);
    long n = file_size(P("w.safetensors"));
    write_text(P("d.csv"), "a,b\n1,2\n3,4\n5,6\n");
    refused(run("train %s --init %s --save %s", base, P("w.safetensors"), P("w.safetensors")),
            "--save", "--init", "same file", NULL);
    refused(run("train --data csv:%s --metrics %s", P("d.csv"), P("d.csv")), "--metrics", "--data",
            NULL);
    /* the same file under another name (a hard link) */
    ck_assert_int_eq(link(P("w.safetensors"), P("hard.safetensors")), 0);
    refused(run("train %s --init %s --save %s", base, P("hard.safetensors"), P("w.safetensors")),
            "same file", NULL);
    ck_assert_int_eq(file_size(P("w.safetensors")), n);
    char csv[64];
    slurp(P("d.csv"), csv, sizeof csv);
    ck_assert_str_eq(csv, "a,b\n1,2\n3,4\n5,6\n");
    /* two outputs on one file */
    refused(run("train %s --save %s --metrics %s", base, P("o"), P("o")), "two outputs", NULL);
}
END_TEST

/* --------------------------------------------- 2. trust in file contents */

START_TEST(checkpoint_checksum)
{
    ck_assert_int_eq(run("train %s --epochs 1 --checkpoint-dir %s --quiet", base, P("ck")), 0);
    /* flip one byte of the last tensor's data (the end of the file) */
    FILE *f = fopen(P("ck/checkpoint.safetensors"), "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, -3, SEEK_END);
    int c = fgetc(f);
    fseek(f, -3, SEEK_END);
    fputc(c ^ 0x10, f);
    fclose(f);
    refused(run("train --resume %s --epochs 2", P("ck")), "checksum mismatch", NULL);
    refused(run("eval %s --load %s", base, P("ck")), "checksum mismatch", NULL);
    /* a checkpoint without a checksum (an old one) is refused, clearly */
    ck_assert_int_eq(run("train %s --epochs 1 --checkpoint-dir %s --quiet", base, P("ck2")), 0);
    clg_ctx *ctx = clg_ctx_new();
    clg_tensor_set *s = NULL, *t = clg_tensor_set_new();
    ck_assert_int_eq(clg_safetensors_read(ctx, P("ck2/checkpoint.safetensors"), &s), CLG_OK);
    for (int i = 0; i < s->n; i++)
        ck_assert_int_eq(clg_tensor_set_add(ctx, t, s->t[i].name, s->t[i].dtype, &s->t[i].shape,
                                            s->t[i].data), CLG_OK);
    for (int i = 0; i < s->n_meta; i++)
        if (strcmp(s->meta_key[i], "checksum"))
            clg_tensor_set_meta(ctx, t, s->meta_key[i],
                                strcmp(s->meta_key[i], "format") ? s->meta_val[i]
                                                                 : "clgrad-checkpoint-1");
    ck_assert_int_eq(clg_safetensors_write(ctx, P("ck2/checkpoint.safetensors"), t), CLG_OK);
    clg_tensor_set_free(s);
    clg_tensor_set_free(t);
    clg_ctx_free(ctx);
    refused(run("train --resume %s --epochs 2", P("ck2")), "no checksum", NULL);
    /* its weights stay readable with eval */
    ck_assert_int_eq(run("eval %s --load %s", base, P("ck2")), 0);
}
END_TEST

static void big_epoch(clg_ctx *ctx, clg_tensor_set *s)
{
    clg_tensor_set_meta(ctx, s, "epoch", "2147483648");
}

static void inf_step(clg_ctx *ctx, clg_tensor_set *s)
{
    clg_tensor_set_meta(ctx, s, "value.optim.step", "inf");
}

static void negative_pending(clg_ctx *ctx, clg_tensor_set *s)
{
    clg_tensor_set_meta(ctx, s, "value.train.pending", "-1");
}

static void nan_lr(clg_ctx *ctx, clg_tensor_set *s)
{
    clg_tensor_set_meta(ctx, s, "value.sched.lr", "nan");
}

static void negative_epoch(clg_ctx *ctx, clg_tensor_set *s)
{
    clg_tensor_set_meta(ctx, s, "epoch", "-3");
}

START_TEST(checkpoint_numbers_range_checked)
{
    ck_assert_int_eq(run("train %s --epochs 1 --checkpoint-dir %s --quiet", base, P("ck")), 0);
    recraft(P("ck"), big_epoch);
    refused(run("train --resume %s --epochs 3", P("ck")), "2147483648", "out of range", NULL);
    ck_assert_int_eq(run("train %s --epochs 1 --checkpoint-dir %s --quiet", base, P("ck2")), 0);
    recraft(P("ck2"), inf_step);
    refused(run("train --resume %s --epochs 3", P("ck2")), "optim.step", "out of range", NULL);
    void (*edits[])(clg_ctx *, clg_tensor_set *) = { negative_pending, nan_lr, negative_epoch };
    const char *needles[] = { "train.pending", "sched.lr", "-3" };
    for (int i = 0; i < 3; i++) {
        char d[16];
        snprintf(d, sizeof d, "ck%d", 3 + i);
        ck_assert_int_eq(run("train %s --epochs 1 --checkpoint-dir %s --quiet", base, P(d)), 0);
        recraft(P(d), edits[i]);
        refused(run("train --resume %s --epochs 3", P(d)), needles[i], NULL);
    }
    /* an untouched one resumes: the checks refuse only what is out of range */
    ck_assert_int_eq(run("train %s --epochs 1 --scheduler plateau --checkpoint-dir %s --quiet",
                         base, P("ok")), 0);
    ck_assert_int_eq(run("train --resume %s --epochs 2 --quiet", P("ok")), 0);
}
END_TEST

static char crafted_dir[512];
static void crafted_argv(clg_ctx *ctx, clg_tensor_set *s)
{
    char js[4096];
    snprintf(js, sizeof js,
             "[\"--backend\",\"cpu\",\"--data\",\"synthetic:64\",\"--model\",\"mlp:4\","
             "\"--batch-size\",\"16\",\"--save\",\"%s/victim\",\"--metrics\",\"%s/victim.csv\","
             "\"--checkpoint-dir\",\"%s/elsewhere\",\"--plugin\",\"%s/evil.so\","
             "\"--plot\",\"%s/victim.svg\"]",
             crafted_dir, crafted_dir, crafted_dir, crafted_dir, crafted_dir);
    clg_tensor_set_meta(ctx, s, "argv", js);
}

static void plugin_optimizer_argv(clg_ctx *ctx, clg_tensor_set *s)
{
    clg_tensor_set_meta(ctx, s, "argv",
                        "[\"--backend\",\"cpu\",\"--data\",\"synthetic:64\",\"--model\","
                        "\"mlp:4\",\"--batch-size\",\"16\",\"--plugin\",\"/opt/x/lion.so\","
                        "\"--optimizer\",\"lion\"]");
}

START_TEST(resume_never_replays_outputs_or_plugins)
{
    ck_assert_int_eq(run("train %s --epochs 1 --checkpoint-dir %s --quiet", base, P("ck")), 0);
    snprintf(crafted_dir, sizeof crafted_dir, "%s", dir);
    recraft(P("ck"), crafted_argv);
    /* evil.so would be a dlopen error if it were loaded: it exists as junk */
    write_text(P("evil.so"), "not a library");
    ck_assert_int_eq(run("train --resume %s --epochs 2 --quiet", P("ck")), 0);
    ck_assert_msg(!exists(P("victim")), "a replayed --save wrote a file");
    ck_assert(!exists(P("victim.csv")));
    ck_assert(!exists(P("victim.svg")));
    ck_assert_msg(!exists(P("elsewhere")), "a replayed --checkpoint-dir was written");
    /* outputs go where this command says */
    ck_assert_int_eq(run("train --resume %s --epochs 3 --quiet --save %s", P("ck"), P("mine")), 0);
    ck_assert(exists(P("mine")));
    /* a component from a recorded plugin: the message says to give it again */
    recraft(P("ck"), plugin_optimizer_argv);
    refused(run("train --resume %s --epochs 4", P("ck")), "lion", "--plugin /opt/x/lion.so",
            "give --plugin again", NULL);
}
END_TEST

START_TEST(resume_of_a_copy_leaves_the_original)
{
    ck_assert_int_eq(run("train %s --epochs 1 --checkpoint-dir %s --quiet", base, P("orig")), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && cp '%s' '%s'", P("orig"), P("copy"),
             P("orig/checkpoint.safetensors"), P("before"));
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(run("train --resume %s --epochs 3 --quiet", P("copy")), 0);
    ck_assert_msg(same_bytes(P("orig/checkpoint.safetensors"), P("before")),
                  "resuming a copy changed the original checkpoint");
    ck_assert(!same_bytes(P("copy/checkpoint.safetensors"), P("before")));
    clg_ctx *ctx = clg_ctx_new();
    clg_tensor_set *s = NULL;
    ck_assert_int_eq(clg_checkpoint_load(ctx, P("copy"), &s), CLG_OK);
    ck_assert_str_eq(clg_tensor_set_get_meta(s, "epoch"), "3");
    clg_tensor_set_free(s);
    clg_ctx_free(ctx);
    /* another --checkpoint-dir on resume is refused, not silently used */
    refused(run("train --resume %s --checkpoint-dir %s --epochs 4", P("copy"), P("orig")),
            "conflict", NULL);
}
END_TEST

/* ------------------------------------------------------ 3. resume semantics */

START_TEST(resume_option_changes)
{
    const char *b2 = "--backend cpu --data synthetic:64 --model mlp:4,act=relu --batch-size 16 "
                     "--optimizer sgd --lr 0.01";
    ck_assert_int_eq(run("train %s --epochs 1 --checkpoint-dir %s --quiet", b2, P("ck")), 0);
    refused(run("train --resume %s --epochs 2 --lr 0.5", P("ck")), "--lr 0.5", "--lr 0.01", NULL);
    refused(run("train --resume %s --epochs 2 --model mlp:4,act=tanh", P("ck")), "activation",
            "tanh", "relu", NULL);
    refused(run("train --resume %s --epochs 2 --optimizer adam", P("ck")), "adam", "sgd",
            "optimizer kind", NULL);
    refused(run("train --resume %s --epochs 2 --loss l1", P("ck")), "--loss l1", NULL);
    refused(run("train --resume %s --epochs 2 --batch-size 8", P("ck")), "--batch-size 8", NULL);
    write_text(P("w"), "x");
    refused(run("train --resume %s --epochs 2 --init %s", P("ck"), P("w")), "--init", "--resume",
            NULL);
    /* the same values again, and the options that do take effect */
    ck_assert_int_eq(run("train --resume %s --epochs 2 --lr 0.01 --model mlp:4 --json", P("ck")), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"epoch\": 2"));
}
END_TEST

START_TEST(nothing_to_train_in_every_mode)
{
    ck_assert_int_eq(run("train %s --epochs 2 --checkpoint-dir %s --quiet", base, P("ck")), 0);
    ck_assert_int_eq(run("train --resume %s --epochs 2", P("ck")), 0);
    ck_assert_ptr_nonnull(strstr(out, "nothing to train"));
    ck_assert_int_eq(run("train --resume %s --epochs 1 --json", P("ck")), 0);
    json_object *j = json_tokener_parse(out);
    ck_assert_msg(j && json_object_is_type(j, json_type_object), "not JSON: %s", out);
    json_object *v;
    ck_assert(json_object_object_get_ex(j, "nothing_to_train", &v));
    json_object_put(j);
    ck_assert_int_eq(run("train --resume %s --epochs 2 --quiet", P("ck")), 0);
    ck_assert_ptr_nonnull(strstr(err, "nothing to train"));
}
END_TEST

START_TEST(one_run_per_checkpoint_dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "exec '%s' train --backend cpu --data synthetic:2000 --model mlp:32 --epochs 100000 "
             "--checkpoint-dir '%s' --quiet >/dev/null 2>&1",
             clgrad, P("ck"));
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 3000 && !exists(P("ck/checkpoint.safetensors")); i++)
        usleep(10000);
    ck_assert(exists(P("ck/checkpoint.safetensors")));
    int rc1 = run("train %s --checkpoint-dir %s --epochs 1", base, P("ck"));
    int rc2 = run("train --resume %s --epochs 100001", P("ck"));
    static char err2[sizeof err];
    memcpy(err2, err, sizeof err);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    ck_assert_msg(rc1 == 1, "a second run on a busy checkpoint directory was not refused (%d)", rc1);
    ck_assert_msg(rc2 == 1 && strstr(err2, "another clgrad run"), "resume of a busy directory: %d %s",
                  rc2, err2);
    /* once the first run is gone, the directory is free again */
    ck_assert_int_eq(run("train --resume %s --epochs 1 --quiet", P("ck")), 0);
}
END_TEST

START_TEST(kill_between_metrics_and_checkpoint)
{
    ck_assert_int_eq(run("train %s --epochs 2 --checkpoint-dir %s --metrics %s --quiet", base,
                         P("ck"), P("m.csv")), 0);
    /* what a kill after epoch 3's metrics row and during its checkpoint
     * write leaves: a row for epoch 3 and the writer's temporary file */
    FILE *f = fopen(P("m.csv"), "a");
    fputs("3,1,,,0.01,0,0\n", f);
    fclose(f);
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s/ck/checkpoint.safetensors.tmp.%ld", dir, (long)dead);
    write_text(tmp, "half a checkpoint");
    /* even a resume with nothing to train clears the leftover */
    ck_assert_int_eq(run("train --resume %s --epochs 2 --quiet", P("ck")), 0);
    ck_assert_msg(!exists(tmp), "the stale temporary checkpoint is still there");
    write_text(tmp, "half a checkpoint");
    ck_assert_int_eq(run("train --resume %s --epochs 4 --metrics %s --quiet", P("ck"), P("m.csv")),
                     0);
    char csv[4096];
    slurp(P("m.csv"), csv, sizeof csv);
    int rows[8] = { 0 }, n = 0;
    for (char *l = strtok(csv, "\n"); l; l = strtok(NULL, "\n"), n++)
        if (n > 0 && atoi(l) >= 1 && atoi(l) < 8)
            rows[atoi(l)]++;
    for (int e = 1; e <= 4; e++)
        ck_assert_msg(rows[e] == 1, "epoch %d has %d metrics rows", e, rows[e]);
    ck_assert_int_eq(n, 5);
    ck_assert_msg(!exists(tmp), "the stale temporary checkpoint is still there");
}
END_TEST

/* Real kills at random moments, the run resumed each time: the metrics hold
 * each epoch exactly once, in whole lines, and no temporary file is left. */
START_TEST(random_kills_keep_metrics_exact)
{
    srand((unsigned)getpid());
    for (int round = 0; round < 6; round++) {
        char cmd[2048];
        if (round == 0)
            snprintf(cmd, sizeof cmd,
                     "exec '%s' train --backend cpu --data synthetic:1000 --model mlp:32 "
                     "--epochs 100000 --checkpoint-dir '%s' --metrics '%s' --quiet >/dev/null 2>&1",
                     clgrad, P("ck"), P("m.csv"));
        else
            snprintf(cmd, sizeof cmd,
                     "exec '%s' train --resume '%s' --epochs 100000 --metrics '%s' --quiet "
                     ">/dev/null 2>&1", clgrad, P("ck"), P("m.csv"));
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
        for (int i = 0; i < 3000 && !exists(P("ck/checkpoint.safetensors")); i++)
            usleep(10000);
        usleep((useconds_t)(20000 + rand() % 150000));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        ck_assert_msg(WIFSIGNALED(st), "round %d: the run ended by itself (status %d)", round, st);
    }
    clg_ctx *ctx = clg_ctx_new();
    clg_tensor_set *s = NULL;
    ck_assert_msg(clg_checkpoint_load(ctx, P("ck"), &s) == CLG_OK, "%s", clg_ctx_error(ctx));
    int e = atoi(clg_tensor_set_get_meta(s, "epoch"));
    clg_tensor_set_free(s);
    clg_ctx_free(ctx);
    ck_assert_int_ge(e, 1);
    ck_assert_int_eq(run("train --resume %s --epochs %d --metrics %s --quiet", P("ck"), e + 1,
                         P("m.csv")), 0);
    static char csv[1 << 20];
    slurp(P("m.csv"), csv, sizeof csv);
    ck_assert_msg(!strncmp(csv, "epoch,train_loss,", 17), "metrics header: %.80s", csv);
    int expect = 1, lines = 0;
    for (char *l = strchr(csv, '\n') + 1; *l; lines++) {
        char *nl = strchr(l, '\n');
        ck_assert_msg(nl != NULL, "a cut line at the end: %s", l);
        *nl = '\0';
        ck_assert_msg(atoi(l) == expect && strchr(l, ','), "row %d is '%s', expected epoch %d",
                      lines + 1, l, expect);
        expect++;
        l = nl + 1;
    }
    ck_assert_int_eq(expect, e + 2);
    char ls[1200];
    snprintf(ls, sizeof ls, "ls -a '%s' '%s/ck' | grep '[.]tmp[.]' > '%s/.tmps'", dir, dir, dir);
    char left[600];
    snprintf(left, sizeof left, "%s/.tmps", dir);
    int found = system(ls) == 0;
    slurp(left, err, sizeof err);
    ck_assert_msg(!found, "a temporary file was left: %s", err);
}
END_TEST

/* ------------------------------------------------------------- 4. numbers */

static void write_weights(const char *src, const char *dst, float value, int only_first)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_tensor_set *s = NULL;
    ck_assert_int_eq(clg_safetensors_read(ctx, src, &s), CLG_OK);
    for (int i = 0; i < s->n; i++) {
        float *v = s->t[i].data;
        size_t n = s->t[i].bytes / sizeof(float);
        for (size_t k = 0; k < n && (!only_first || (i == 0 && k == 0)); k++)
            v[k] = value;
    }
    ck_assert_int_eq(clg_safetensors_write(ctx, dst, s), CLG_OK);
    clg_tensor_set_free(s);
    clg_ctx_free(ctx);
}

START_TEST(non_finite_init_refused)
{
    ck_assert_int_eq(run("train %s --epochs 1 --save %s --quiet", base, P("w")), 0);
    write_weights(P("w"), P("nan"), NAN, 1);
    refused(run("train %s --init %s", base, P("nan")), "tensor '0.weight'", "non-finite", NULL);
    write_weights(P("w"), P("inf"), INFINITY, 1);
    refused(run("train %s --init %s", base, P("inf")), "tensor '0.weight'", "non-finite", NULL);
}
END_TEST

/* The backends the numeric cases run on. */
static int backend_usable(const char *b)
{
    int rc = run("train --backend %s --data synthetic:16 --model mlp:2 --epochs 1 --quiet", b);
    if (rc == 0)
        return 1;
    const char *req = getenv("CLGRAD_REQUIRE_BACKENDS");
    ck_assert_msg(!(req && strstr(req, b)), "backend %s is required but: %s", b, err);
    printf("SKIP: backend %s: %s", b, err);
    return 0;
}

static void each_line_is_json(const char *text)
{
    char copy[1 << 16];
    snprintf(copy, sizeof copy, "%s", text);
    int lines = 0;
    for (char *l = strtok(copy, "\n"); l; l = strtok(NULL, "\n"), lines++) {
        json_object *j = json_tokener_parse(l);
        ck_assert_msg(j && json_object_is_type(j, json_type_object), "not a JSON object: %s", l);
        json_object_put(j);
        ck_assert_msg(!strstr(l, "nan") && !strstr(l, "inf"), "non-finite number in: %s", l);
    }
    ck_assert_int_gt(lines, 0);
}

START_TEST(eval_non_finite_loss_and_json)
{
    const char *list = getenv("CLGRAD_TEST_BACKENDS");
    char backends[128];
    snprintf(backends, sizeof backends, "%s", list && *list ? list : "cpu,opencl");
    char names[4][32];
    int nb = 0;
    for (char *p = backends; *p && nb < 4;) {
        size_t n = strcspn(p, ",");
        snprintf(names[nb++], sizeof names[0], "%.*s", (int)n, p);
        p += n + (p[n] == ',');
    }
    int ran = 0;
    for (int i = 0; i < nb; i++) {
        const char *be = names[i];
        if (!backend_usable(be))
            continue;
        ran++;
        ck_assert_int_eq(run("train --backend %s --data synthetic:64 --model mlp:4 --epochs 1 "
                             "--save %s --quiet", be, P("w")), 0);
        write_weights(P("w"), P("huge"), 1e30f, 0);
        int rc = run("eval --backend %s --data synthetic:64 --model mlp:4 --load %s --json", be,
                     P("huge"));
        ck_assert_msg(rc == 1, "%s: eval of weights with an infinite loss exited %d", be, rc);
        ck_assert_ptr_nonnull(strstr(err, "not give a finite loss"));
        each_line_is_json(out);
        ck_assert_ptr_nonnull(strstr(out, "\"loss\": null"));
        rc = run("eval --backend %s --data synthetic:64 --model mlp:4 --load %s", be, P("huge"));
        ck_assert_int_eq(rc, 1);
    }
    ck_assert_int_gt(ran, 0);
}
END_TEST

/* A CSV of finite rows plus one row whose feature is 1e30: in the
 * validation part its loss overflows, while training stays finite. */
static void overflow_csv(const char *path)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("a,b,y\n", f);
    for (int i = 0; i < 19; i++)
        fprintf(f, "%d,%d,%d\n", i % 5, i % 3, i % 2);
    fputs("1e30,1e30,1\n", f);
    fclose(f);
}

START_TEST(json_lines_stay_json_and_plot_says_non_finite)
{
    overflow_csv(P("o.csv"));
    int found = 0;
    for (int seed = 0; seed < 40 && !found; seed++) {
        int rc = run("train --backend cpu --data csv:%s --model mlp:3 --val-split 0.5 --lr 0 "
                     "--epochs 2 --seed %d --json", P("o.csv"), seed);
        if (rc != 0)
            continue; /* the big row fell in the training half */
        found = 1;
        each_line_is_json(out);
        ck_assert_ptr_nonnull(strstr(out, "\"test_loss\": null"));
        /* the plot of those epochs says so (when cairo is built in) */
        rc = run("train --backend cpu --data csv:%s --model mlp:3 --val-split 0.5 --lr 0 "
                 "--epochs 2 --seed %d --quiet --plot %s", P("o.csv"), seed, P("p.svg"));
        if (rc != 0 && strstr(err, "without cairo"))
            break;
        ck_assert_int_eq(rc, 0);
        ck_assert_ptr_nonnull(strstr(err, "not finite"));
        ck_assert(exists(P("p.svg")));
    }
    ck_assert_msg(found, "no seed put the overflowing row in the validation half");
}
END_TEST

START_TEST(range_errors_name_the_limit)
{
    refused(run("train --epochs 16777217"), "at most 16777216", NULL);
    refused(run("train --epochs 99999999999999999999999"), "at most 16777216", NULL);
    refused(run("train --batch-size 99999999999999999999"), "at most 16777216", NULL);
    refused(run("train --batch-size 0"), "at least 1", NULL);
    refused(run("train --model mlp:99999999"), "at most 16777216", NULL);
    refused(run("train --data synthetic:999999999999"), "at most 67108864", NULL);
    write_text(P("c.csv"), "1,0\n2,1\n");
    refused(run("train --data csv:%s,classes=99999999999", P("c.csv")), "at most 2147483647", NULL);
    refused(run("train --lr 1e999"), "finite", NULL);
}
END_TEST

/* -------------------------------------------------------- 5. output streams */

START_TEST(stdout_write_failures)
{
    int rc = run_to(">/dev/full", "train %s --epochs 2", base);
    ck_assert_msg(rc == 1, "train > /dev/full exited %d", rc);
    ck_assert_ptr_nonnull(strstr(err, "stdout"));
    rc = run_to(">&-", "train %s --epochs 2", base);
    ck_assert_msg(rc == 1, "train >&- exited %d", rc);
    ck_assert_ptr_nonnull(strstr(err, "stdout"));
    ck_assert_int_eq(run("train %s --epochs 1 --save %s --quiet", base, P("w")), 0);
    rc = run_to(">/dev/full", "eval %s --load %s", base, P("w"));
    ck_assert_int_eq(rc, 1);
    rc = run_to(">/dev/full", "devices");
    ck_assert_int_eq(rc, 1);
    rc = run_to(">/dev/full", "plugins");
    ck_assert_int_eq(rc, 1);
    /* a closed stdout is not reused for a file the run opens */
    rc = run_to(">&-", "train %s --epochs 2 --metrics %s", base, P("m.csv"));
    ck_assert_int_eq(rc, 1);
    char csv[2048];
    slurp(P("m.csv"), csv, sizeof csv);
    ck_assert_ptr_null(strstr(csv, "train_loss 0"));
}
END_TEST

/* --------------------------------------------------------------- 7. messages */

START_TEST(long_values_keep_the_reason)
{
    static char big[5000];
    memset(big, 'x', 4000);
    big[4000] = '\0';
    refused(run("train --lr %s", big), "not a number", NULL);
    ck_assert_int_lt(strlen(err), 400);
    refused(run("train --model mlp:%s", big), "not a positive integer", NULL);
    ck_assert_int_lt(strlen(err), 400);
    refused(run("train --data csv:%s/%s.csv", dir, big), "cannot open", NULL);
    ck_assert_int_lt(strlen(err), 400);
    refused(run("train --optimizer %s", big), NULL);
    ck_assert_int_lt(strlen(err), 600);
}
END_TEST

START_TEST(plugin_path_messages)
{
    write_text(P("myopt.so"), "not really a library");
    refused(run("train --plugin myopt.so"), "./myopt.so", NULL);
    mkdir(P("plugdir"), 0755);
    refused(run("train --plugin %s", P("plugdir")), "plugdir", "is a directory", NULL);
    ck_assert_int_eq(mkfifo(P("pfifo"), 0644), 0);
    refused(run("train --plugin %s", P("pfifo")), "pfifo", "FIFO", NULL);
}
END_TEST

START_TEST(conflicts_refused)
{
    refused(run("train --data synthetic:64 --batch-size 32 --accumulate 3"), "--accumulate 3",
            "conflict", NULL);
    refused(run("train --optimizer sgd:lr=0.1 --lr 0.2"), "--optimizer sgd:lr=0.1", "--lr",
            "conflict", NULL);
    /* each alone is fine */
    ck_assert_int_eq(run("train --data synthetic:64 --batch-size 32 --accumulate 2 --epochs 1 "
                         "--quiet"), 0);
    ck_assert_int_eq(run("train --optimizer sgd:lr=0.1 --epochs 1 --quiet"), 0);
}
END_TEST

/* A data spec key given twice is refused, naming the key; once is fine. */
START_TEST(repeated_data_keys_refused)
{
    write_text(P("k.csv"), "a,b,c\n1,2,0\n3,4,1\n");
    refused(run("train --data csv:%s,target=a,target=b --epochs 1", P("k.csv")), "target",
            "twice", NULL);
    refused(run("train --data csv:%s,classes=2,classes=3 --epochs 1", P("k.csv")), "classes",
            "twice", NULL);
    refused(run("train --data csv:%s,header=1,header=1 --epochs 1", P("k.csv")), "header",
            "twice", NULL);
    ck_assert_int_eq(run("train --data csv:%s,target=c,classes=2 --epochs 1 --quiet", P("k.csv")),
                     0);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_hostile CLGRAD\n");
        return 2;
    }
    /* commands run from the test's directory: the executable by its full path */
    static char exe[4096];
    clgrad = realpath(argv[1], exe) ? exe : argv[1];
    cmd_suite = "hostile";
    cmd_in_dir = 1;      /* commands run from the test's directory */
    cmd_timeout_s = 60;  /* a hang is a failure (exit 137), not a stuck suite */
    cmd_sanitizer_exits();

    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("hostile");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, inputs_of_the_wrong_kind);
    tcase_add_test(tc, outputs_replace_only_regular_files);
    tcase_add_test(tc, failed_writes_name_the_users_path);
    tcase_add_test(tc, outputs_checked_before_training);
    tcase_add_test(tc, output_that_is_an_input);
    tcase_add_test(tc, checkpoint_checksum);
    tcase_add_test(tc, checkpoint_numbers_range_checked);
    tcase_add_test(tc, resume_never_replays_outputs_or_plugins);
    tcase_add_test(tc, resume_of_a_copy_leaves_the_original);
    tcase_add_test(tc, resume_option_changes);
    tcase_add_test(tc, nothing_to_train_in_every_mode);
    tcase_add_test(tc, one_run_per_checkpoint_dir);
    tcase_add_test(tc, kill_between_metrics_and_checkpoint);
    tcase_add_test(tc, random_kills_keep_metrics_exact);
    tcase_add_test(tc, non_finite_init_refused);
    tcase_add_test(tc, eval_non_finite_loss_and_json);
    tcase_add_test(tc, json_lines_stay_json_and_plot_says_non_finite);
    tcase_add_test(tc, range_errors_name_the_limit);
    tcase_add_test(tc, stdout_write_failures);
    tcase_add_test(tc, long_values_keep_the_reason);
    tcase_add_test(tc, plugin_path_messages);
    tcase_add_test(tc, conflicts_refused);
    tcase_add_test(tc, repeated_data_keys_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
