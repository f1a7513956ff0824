/* TensorBoard event files (tools/tbevents.c, `train --tensorboard`): the
 * CRC-32C against the published check value and RFC 3720's vectors and a
 * bitwise reference, TensorFlow's mask by its formula, the TFRecord framing
 * and the Event bytes against the protobuf wire format written out by hand
 * from TensorFlow's field numbers; refusals and failed writes, of the
 * writer and of the command. (Reading the files with TensorBoard's own
 * reader: test_tensorboard.py.) */
#include "cmd.h"
#include "tbevents.h"

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- checksums */

/* CRC-32C from its definition: reflected polynomial 0x82F63B78, initial
 * value and final xor all ones, one bit at a time. */
static uint32_t crc32c_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return ~c;
}

START_TEST(crc32c_known_vectors)
{
    /* the catalogue's check value: CRC-32C("123456789") */
    ck_assert_uint_eq(cli_tb_crc32c("123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(cli_tb_crc32c("", 0), 0);
    /* RFC 3720, B.4 */
    unsigned char b[48];
    memset(b, 0, 32);
    ck_assert_uint_eq(cli_tb_crc32c(b, 32), 0x8a9136aau);
    memset(b, 0xff, 32);
    ck_assert_uint_eq(cli_tb_crc32c(b, 32), 0x62a8ab43u);
    for (int i = 0; i < 32; i++)
        b[i] = (unsigned char)i;
    ck_assert_uint_eq(cli_tb_crc32c(b, 32), 0x46dd794eu);
    for (int i = 0; i < 32; i++)
        b[i] = (unsigned char)(31 - i);
    ck_assert_uint_eq(cli_tb_crc32c(b, 32), 0x113fdb5cu);
    static const unsigned char read10[48] = {
        0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0x04, 0,
        0, 0, 0, 0x14, 0, 0, 0, 0x18, 0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0,
    };
    ck_assert_uint_eq(cli_tb_crc32c(read10, sizeof read10), 0xd9963a56u);
}
END_TEST

START_TEST(crc32c_matches_the_definition)
{
    /* every length and alignment the vectorised paths split on */
    enum { N = 4096 + 64 };
    unsigned char *buf = malloc(N);
    ck_assert_ptr_nonnull(buf);
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n < 600; n += 1 + n / 16)
            ck_assert_uint_eq(cli_tb_crc32c(buf + off, n), crc32c_bitwise(buf + off, n));
    ck_assert_uint_eq(cli_tb_crc32c(buf, 4096 + 17), crc32c_bitwise(buf, 4096 + 17));
    free(buf);
}
END_TEST

START_TEST(masked_crc_is_tensorflows_mask)
{
    /* ((c >> 15) | (c << 17)) + 0xa282ead8, worked out for the values above */
    ck_assert_uint_eq(cli_tb_masked_crc32c("123456789", 9), 0xc78ab0e5u);
    ck_assert_uint_eq(cli_tb_masked_crc32c("", 0), 0xa282ead8u);
    unsigned char z[32] = { 0 };
    ck_assert_uint_eq(cli_tb_masked_crc32c(z, 32), 0x0fd7fffau);
}
END_TEST

/* ------------------------------------------------------------ the writer */

static uint64_t le(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The one events.out.tfevents.* file in dir, read whole. */
static unsigned char *read_events(const char *dir, size_t *n, char *name, size_t name_len)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int found = 0;
    for (struct dirent *de; (de = readdir(d));)
        if (!strncmp(de->d_name, "events.out.tfevents.", 20)) {
            found++;
            snprintf(name, name_len, "%s/%s", dir, de->d_name);
        }
    closedir(d);
    ck_assert_int_eq(found, 1);
    FILE *f = fopen(name, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char *buf = malloc(1 << 16);
    ck_assert_ptr_nonnull(buf);
    *n = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

/* Checks record framing at *pos and returns the record's data. */
static const unsigned char *record(const unsigned char *buf, size_t n, size_t *pos, size_t *len)
{
    ck_assert_uint_ge(n - *pos, 16);
    const unsigned char *h = buf + *pos;
    *len = (size_t)le(h, 8);
    ck_assert_uint_eq(le(h + 8, 4), cli_tb_masked_crc32c(h, 8));
    ck_assert_uint_ge(n - *pos - 16, *len);
    ck_assert_uint_eq(le(h + 12 + *len, 4), cli_tb_masked_crc32c(h + 12, *len));
    *pos += 16 + *len;
    return h + 12;
}

static double wall(const unsigned char *p)
{
    uint64_t bits = le(p, 8);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

START_TEST(records_are_tensorflow_events)
{
    const char *dir = cmd_path("tb"); /* absent: created */
    char err[600] = "";
    double t0 = (double)time(NULL) - 1;
    cli_tb *w = cli_tb_open(dir, err, sizeof err);
    ck_assert_msg(w != NULL, "%s", err);
    ck_assert_int_eq(cli_tb_scalar(w, "a/b", 7, 0.5), 0);
    ck_assert_int_eq(cli_tb_scalar(w, "lr", 300, -2.25), 0);
    ck_assert_int_eq(cli_tb_flush(w), 0);
    ck_assert_int_eq(cli_tb_close(w, err, sizeof err), 0);
    double t1 = (double)time(NULL) + 1;

    size_t n, pos = 0, len;
    char name[1024];
    unsigned char *buf = read_events(dir, &n, name, sizeof name);
    char host[256] = "";
    gethostname(host, sizeof host);
    ck_assert_msg(strstr(name, host) != NULL, "%s does not name the host %s", name, host);

    /* Event{wall_time = 1 (64-bit), file_version = 3 (bytes)} */
    const unsigned char *r = record(buf, n, &pos, &len);
    static const unsigned char version[] = "\x1a\x0d" "brain.Event:2";
    ck_assert_uint_eq(len, 9 + sizeof version - 1);
    ck_assert_uint_eq(r[0], 0x09);
    ck_assert(wall(r + 1) >= t0 && wall(r + 1) <= t1);
    ck_assert_mem_eq(r + 9, version, sizeof version - 1);

    /* Event{wall_time, step = 2 (varint), summary = 5 {value = 1 {tag = 1,
     * simple_value = 2 (32-bit)}}} */
    r = record(buf, n, &pos, &len);
    static const unsigned char s1[] = { 0x10, 7, 0x2a, 12, 0x0a, 10, 0x0a, 3, 'a', '/', 'b',
                                        0x15, 0x00, 0x00, 0x00, 0x3f };
    ck_assert_uint_eq(len, 9 + sizeof s1);
    ck_assert_uint_eq(r[0], 0x09);
    ck_assert(wall(r + 1) >= t0 && wall(r + 1) <= t1);
    ck_assert_mem_eq(r + 9, s1, sizeof s1);

    r = record(buf, n, &pos, &len);
    static const unsigned char s2[] = { 0x10, 0xac, 0x02, 0x2a, 11, 0x0a, 9, 0x0a, 2, 'l', 'r',
                                        0x15, 0x00, 0x00, 0x10, 0xc0 };
    ck_assert_uint_eq(len, 9 + sizeof s2);
    ck_assert_mem_eq(r + 9, s2, sizeof s2);
    ck_assert_uint_eq(pos, n); /* nothing else */
    free(buf);
}
END_TEST

START_TEST(second_writer_gets_its_own_file)
{
    /* two writers of one process, same second, same directory: two files,
     * each whole (records of one never land in the other's) */
    char err[600];
    cli_tb *a = cli_tb_open(cmd_dir, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    cli_tb *b = cli_tb_open(cmd_dir, err, sizeof err);
    ck_assert_msg(b != NULL, "%s", err);
    ck_assert_str_ne(cli_tb_path(a), cli_tb_path(b));
    ck_assert_int_eq(cli_tb_scalar(a, "x", 1, 1.0), 0);
    ck_assert_int_eq(cli_tb_scalar(b, "y", 2, 2.0), 0);
    ck_assert_int_eq(cli_tb_scalar(a, "x", 3, 3.0), 0);
    const char *paths[2] = { cli_tb_path(a), cli_tb_path(b) };
    char copy[2][1024];
    for (int i = 0; i < 2; i++)
        snprintf(copy[i], sizeof copy[i], "%s", paths[i]);
    ck_assert_int_eq(cli_tb_close(a, err, sizeof err), 0);
    ck_assert_int_eq(cli_tb_close(b, err, sizeof err), 0);
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(copy[i], "rb");
        ck_assert_ptr_nonnull(f);
        unsigned char buf[1024];
        size_t n = fread(buf, 1, sizeof buf, f), pos = 0, len;
        fclose(f);
        int records = 0;
        while (pos < n) {
            record(buf, n, &pos, &len);
            records++;
        }
        ck_assert_int_eq(records, i == 0 ? 3 : 2);
    }
}
END_TEST

START_TEST(writer_refusals)
{
    char err[600];
    /* a regular file */
    const char *file = cmd_path("file");
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("precious", f);
    fclose(f);
    ck_assert_ptr_null(cli_tb_open(file, err, sizeof err));
    ck_assert_msg(strstr(err, file) && strstr(err, "not a directory"), "%s", err);
    char buf[64];
    cmd_slurp(file, buf, sizeof buf);
    ck_assert_str_eq(buf, "precious");
    /* under a regular file, and under a missing directory */
    ck_assert_ptr_null(cli_tb_open(cmd_path("file/tb"), err, sizeof err));
    ck_assert_msg(strstr(err, "file/tb") && strstr(err, "cannot create it"), "%s", err);
    ck_assert_ptr_null(cli_tb_open(cmd_path("no/tb"), err, sizeof err));
    ck_assert_msg(strstr(err, "no/tb") && strstr(err, "No such file"), "%s", err);
    /* a directory nothing can be created in (root too: procfs) */
    ck_assert_ptr_null(cli_tb_open("/proc/self", err, sizeof err));
    ck_assert_msg(strstr(err, "/proc/self/events.out.tfevents.") && strstr(err, "cannot create"),
                  "%s", err);
    if (geteuid() != 0) {
        const char *ro = cmd_path("ro");
        ck_assert_int_eq(mkdir(ro, 0555), 0);
        ck_assert_ptr_null(cli_tb_open(ro, err, sizeof err));
        ck_assert_msg(strstr(err, "Permission denied"), "%s", err);
    }
    ck_assert_ptr_null(cli_tb_open("", err, sizeof err));
    ck_assert_int_eq(cli_tb_close(NULL, err, sizeof err), 0);
}
END_TEST

START_TEST(failed_write_is_an_error)
{
    /* In a child with a file size limit (SIGXFSZ ignored, so a write fails
     * with EFBIG): the writer reports the failure and stays failed. */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = { 512, 512 };
        setrlimit(RLIMIT_FSIZE, &rl);
        char err[600] = "";
        cli_tb *w = cli_tb_open(cmd_dir, err, sizeof err);
        if (!w)
            _exit(10);
        int failed_at = -1;
        for (int i = 0; i < 10000 && failed_at < 0; i++)
            if (cli_tb_scalar(w, "loss", i, 1.0 / (i + 1)) || (i % 10 == 9 && cli_tb_flush(w)))
                failed_at = i;
        if (failed_at < 0)
            _exit(11);
        if (!strstr(cli_tb_error(w), "write failed") || !strstr(cli_tb_error(w), "File too large"))
            _exit(12);
        if (cli_tb_scalar(w, "loss", 1, 1.0) == 0 || cli_tb_flush(w) == 0)
            _exit(13); /* a failed writer stays failed */
        if (cli_tb_close(w, err, sizeof err) == 0 || !strstr(err, "write failed"))
            _exit(14);
        _exit(0);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}
END_TEST

/* ----------------------------------------------------------- the command */

START_TEST(train_refuses_bad_dirs)
{
    const char *base = "train --backend cpu --epochs 1 --quiet";
    FILE *f = fopen(cmd_path("file"), "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    cmd_refused(cmd_run("%s --tensorboard '%s'", base, cmd_path("file")), "--tensorboard",
                "file", "not a directory", NULL);
    cmd_refused(cmd_run("%s --tensorboard '%s'", base, cmd_path("no/tb")), "--tensorboard",
                "no/tb", NULL);
    cmd_refused(cmd_run("%s --tensorboard ''", base), "--tensorboard", "needs a directory", NULL);
    cmd_refused(cmd_run("%s --tensorboard", base), "--tensorboard", "needs a value", NULL);
    cmd_refused(cmd_run("%s --tensorboard /proc/self/tb", base), "--tensorboard", "/proc/self/tb",
                NULL);
    cmd_refused(cmd_run("eval --load x --tensorboard '%s'", cmd_path("tb")), "--tensorboard",
                "not of 'eval'", NULL);
    /* refused before training: nothing was created */
    struct stat sb;
    ck_assert_int_ne(stat(cmd_path("tb"), &sb), 0);
}
END_TEST

START_TEST(train_failed_write_fails_the_run)
{
    /* 2 KiB: the header fits, an epoch of per-batch scalars does not */
    cmd_prefix = "trap '' XFSZ; ulimit -f 4;";
    int rc = cmd_run("train --backend cpu --epochs 2 --quiet --tensorboard '%s'", cmd_path("tb"));
    cmd_prefix = "";
    ck_assert_msg(rc == 1, "a failed --tensorboard write exited %d: %s", rc, cmd_err);
    ck_assert_msg(strstr(cmd_err, "--tensorboard") && strstr(cmd_err, "events.out.tfevents.") &&
                      strstr(cmd_err, "write failed"),
                  "the message does not name the events file: %s", cmd_err);
}
END_TEST

START_TEST(train_writes_per_step_and_per_epoch)
{
    /* synthetic: 1024 rows, batches of 128; no test set, no classes */
    int rc = cmd_run("train --backend cpu --epochs 2 --batch-size 128 --quiet --tensorboard '%s'",
                     cmd_path("tb"));
    ck_assert_msg(rc == 0, "%s", cmd_err);
    size_t n, pos = 0, len;
    char name[1024];
    unsigned char *buf = read_events(cmd_path("tb"), &n, name, sizeof name);
    int records = 0;
    while (pos < n) {
        record(buf, n, &pos, &len);
        records++;
    }
    /* the version, 3 per batch (loss, running mean, lr), and per epoch
     * loss/train, lr and samples/s */
    ck_assert_int_eq(records, 1 + 2 * (8 * 3 + 3));
    free(buf);
}
END_TEST

START_TEST(resume_never_replays_tensorboard)
{
    /* --tensorboard is an output: a resume without it writes no events */
    int rc = cmd_run("train --backend cpu --epochs 1 --quiet --checkpoint-dir '%s' "
                     "--tensorboard '%s'", cmd_path("ck"), cmd_path("tb"));
    ck_assert_msg(rc == 0, "%s", cmd_err);
    rc = cmd_run("train --resume '%s' --epochs 2 --quiet", cmd_path("ck"));
    ck_assert_msg(rc == 0, "%s", cmd_err);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) = 1", cmd_path("tb"));
    ck_assert_msg(system(cmd) == 0, "the resume wrote to the first run's --tensorboard");
}
END_TEST

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_tbevents CLGRAD\n");
        return 2;
    }
    cmd_clgrad = argv[1];
    cmd_suite = "tbevents";
    cmd_timeout_s = 60;
    Suite *s = suite_create("tbevents");
    TCase *tc = tcase_create("tbevents");
    tcase_add_checked_fixture(tc, cmd_setup, cmd_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, crc32c_known_vectors);
    tcase_add_test(tc, crc32c_matches_the_definition);
    tcase_add_test(tc, masked_crc_is_tensorflows_mask);
    tcase_add_test(tc, records_are_tensorflow_events);
    tcase_add_test(tc, second_writer_gets_its_own_file);
    tcase_add_test(tc, writer_refusals);
    tcase_add_test(tc, failed_write_is_an_error);
    tcase_add_test(tc, train_refuses_bad_dirs);
    tcase_add_test(tc, train_failed_write_fails_the_run);
    tcase_add_test(tc, train_writes_per_step_and_per_epoch);
    tcase_add_test(tc, resume_never_replays_tensorboard);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
