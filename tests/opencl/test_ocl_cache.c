/* The OpenCL program cache against damaged entries (issue #10). Without an
 * argument: the file format alone (backends/opencl/ocl_cache.c, no device):
 * every single-byte change of the binary, every truncation, a wrong key,
 * out-of-range length fields and trailing bytes are misses, with a reason.
 * With "device" (needs CLG_TEST_OPENCL_BACKEND and CLG_TEST_OCL_PROBE): a
 * real entry written by the backend is damaged in its binary (length kept,
 * so only a hash can tell) or replaced by a FIFO, and a fresh process must
 * rebuild, run and rewrite it. Before, the damaged binary went to the
 * driver: an assertion in PoCL or a segfault, in every run until the file
 * was deleted. */
#include "ocl_cache.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const key = "source 0123/45\noptions -DGEMM_TS=8\ndevice cpu\nsalt \n";

/* An entry for key with a binary of n pseudo-random bytes; returns its size. */
static size_t make_entry(unsigned char **out, size_t n)
{
    size_t hl = OCL_CACHE_HEADER_LEN(strlen(key));
    unsigned char *e = malloc(hl + n);
    ck_assert_ptr_nonnull(e);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        e[hl + i] = (unsigned char)(x >> 16);
    }
    ck_assert_uint_eq(ocl_cache_header(e, key, e + hl, n), hl);
    *out = e;
    return hl + n;
}

/* Parses a private copy of exactly len bytes (so ASan sees any over-read). */
static const char *parse(const unsigned char *e, size_t len, const char *k)
{
    unsigned char *c = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(c);
    memcpy(c, e, len);
    size_t bl = 99;
    const char *why = NULL;
    const unsigned char *bin = ocl_cache_parse(c, len, k, &bl, &why);
    free(c);
    if (bin)
        return NULL;
    ck_assert_uint_eq(bl, 0);
    ck_assert_ptr_nonnull(why);
    return why;
}

START_TEST(entry_round_trip)
{
    unsigned char *e;
    size_t n = make_entry(&e, 1000);
    size_t bl = 0;
    const char *why = "x";
    const unsigned char *bin = ocl_cache_parse(e, n, key, &bl, &why);
    ck_assert_ptr_eq(bin, e + OCL_CACHE_HEADER_LEN(strlen(key)));
    ck_assert_uint_eq(bl, 1000);
    ck_assert_ptr_null(why);
    ck_assert_mem_eq(e, "CLGRADCL2\n", 10);
    free(e);
}
END_TEST

START_TEST(every_damaged_binary_byte_is_a_miss)
{
    unsigned char *e;
    size_t n = make_entry(&e, 1001); /* not a multiple of 8: the tail too */
    size_t hl = OCL_CACHE_HEADER_LEN(strlen(key));
    for (size_t i = hl; i < n; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            e[i] ^= (unsigned char)(1u << bit);
            const char *why = parse(e, n, key);
            ck_assert_msg(why && strstr(why, "hash"), "byte %zu bit %d: %s", i, bit,
                          why ? why : "accepted");
            e[i] ^= (unsigned char)(1u << bit);
        }
    }
    /* Two swapped words also change the hash. */
    unsigned char t[8];
    memcpy(t, e + hl, 8);
    memcpy(e + hl, e + hl + 8, 8);
    memcpy(e + hl + 8, t, 8);
    ck_assert_ptr_nonnull(parse(e, n, key));
    free(e);
}
END_TEST

START_TEST(truncated_and_extended_entries_are_misses)
{
    unsigned char *e;
    size_t n = make_entry(&e, 64);
    for (size_t len = 0; len < n; len++)
        ck_assert_msg(parse(e, len, key) != NULL, "truncated to %zu bytes: accepted", len);
    unsigned char *longer = malloc(n + 3);
    memcpy(longer, e, n);
    memset(longer + n, 0, 3);
    ck_assert_str_eq(parse(longer, n + 3, key), "trailing bytes after the binary");
    free(longer);
    free(e);
}
END_TEST

START_TEST(header_fields_are_bounded)
{
    unsigned char *e;
    size_t n = make_entry(&e, 64);
    /* Another key of the same length, and of another length. */
    ck_assert_str_eq(parse(e, n, "source 0123/45\noptions -DGEMM_TS=4\ndevice cpu\nsalt \n"),
                     "another key (hash collision)");
    ck_assert_str_eq(parse(e, n, "short"), "another key (hash collision)");
    /* A key length field of 4 GiB - 1. */
    memset(e + 10, 0xff, 4);
    ck_assert_str_eq(parse(e, n, key), "key length out of bounds");
    free(e);
    n = make_entry(&e, 64);
    /* A binary length of 2^64 - 1, and one of 2^31 (beyond the cap). */
    size_t at = 10 + 4 + strlen(key);
    memset(e + at, 0xff, 8);
    ck_assert_str_eq(parse(e, n, key), "binary length out of bounds");
    memset(e + at, 0, 8);
    e[at + 3] = 0x80;
    ck_assert_str_eq(parse(e, n, key), "binary length out of bounds");
    memset(e + at, 0, 8);
    ck_assert_str_eq(parse(e, n, key), "binary length out of bounds"); /* zero */
    e[at] = 63;
    ck_assert_str_eq(parse(e, n, key), "trailing bytes after the binary");
    free(e);
    /* The format before the hash (CLGRADCL1) is a miss, rebuilt once. */
    n = make_entry(&e, 64);
    e[8] = '1';
    ck_assert_str_eq(parse(e, n, key), "not a cache file of this version");
    free(e);
    /* Too large to write. */
    unsigned char hdr[OCL_CACHE_HEADER_LEN(0)];
    ck_assert_uint_eq(ocl_cache_header(hdr, "", (const unsigned char *)"x", 0), 0);
}
END_TEST

/* ------------------------------------------------- with a real device */

static void probe(const char *cache, const char *arg, char *out, size_t len, int *rc)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "CLGRAD_CACHE_DIR='%s' CLGRAD_OPENCL_CACHE_SALT=issue10 '%s' '%s' %s 2>&1", cache,
             getenv("CLG_TEST_OCL_PROBE"), getenv("CLG_TEST_OPENCL_BACKEND"), arg);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t got = fread(out, 1, len - 1, p);
    out[got] = 0;
    int st = pclose(p);
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int find_entry(const char *dir, char *path, size_t len)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "opencl-", 7) && !strstr(e->d_name, ".tmp")) {
            snprintf(path, len, "%s/%s", dir, e->d_name);
            found++;
        }
    closedir(d);
    return found;
}

START_TEST(damaged_entry_is_rebuilt_not_loaded)
{
    char dir[] = "/tmp/clg-ocl-cache10-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char out[8192], path[512];
    int rc;
    probe(dir, "run", out, sizeof out, &rc);
    ck_assert_msg(rc == 0 && strstr(out, "cached to"), "rc %d: %s", rc, out);
    ck_assert_int_eq(find_entry(dir, path, sizeof path), 1);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    /* Damage the binary in place: every 64th byte of its second half,
     * length kept, header intact. */
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    for (long at = sb.st_size / 2; at < sb.st_size; at += 64) {
        fseek(f, at, SEEK_SET);
        int c = fgetc(f);
        fseek(f, at, SEEK_SET);
        fputc(c ^ 0x5a, f);
    }
    fclose(f);
    probe(dir, "run", out, sizeof out, &rc);
    ck_assert_msg(rc == 0, "rc %d: %s", rc, out);
    ck_assert_msg(strstr(out, "built from source") &&
                      strstr(out, "cache entry discarded: the binary's hash does not match"),
                  "%s", out);
    /* Rewritten whole: the next process loads it. */
    probe(dir, "run", out, sizeof out, &rc);
    ck_assert_msg(rc == 0 && strstr(out, "loaded from cache"), "rc %d: %s", rc, out);
    /* A FIFO where the entry was neither blocks nor is trusted. */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    probe(dir, "run", out, sizeof out, &rc);
    ck_assert_msg(rc == 0 && strstr(out, "built from source"), "rc %d: %s", rc, out);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert(S_ISREG(sb.st_mode));
    unlink(path);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

int main(int argc, char **argv)
{
    Suite *s = suite_create("opencl-cache");
    TCase *tc = tcase_create("cache");
    tcase_set_timeout(tc, 300);
    if (argc > 1 && !strcmp(argv[1], "device")) {
        if (!getenv("CLG_TEST_OCL_PROBE") || !getenv("CLG_TEST_OPENCL_BACKEND")) {
            fprintf(stderr, "test_ocl_cache device: CLG_TEST_OCL_PROBE and "
                            "CLG_TEST_OPENCL_BACKEND must be set\n");
            return 1;
        }
        tcase_add_test(tc, damaged_entry_is_rebuilt_not_loaded);
    } else {
        tcase_add_test(tc, entry_round_trip);
        tcase_add_test(tc, every_damaged_binary_byte_is_a_miss);
        tcase_add_test(tc, truncated_and_extended_entries_are_misses);
        tcase_add_test(tc, header_fields_are_bounded);
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
