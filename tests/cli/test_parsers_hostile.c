/* Hostile inputs for the data parsers (issue #10): each case is a file a
 * user could really hand clgrad (a spreadsheet export with a BOM, an old Mac
 * file, a binary file, a number float32 cannot hold, a safetensors file
 * whose JSON repeats a name or whose ranges overlap, a gzip bomb, t10k
 * images of another size) and what the parser must do with it: read it
 * right, or refuse it with a message naming the file and the place. The
 * expected values are written out here from the inputs themselves. */
#include <clgrad/data.h>

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static clg_ctx *ctx;
static char dir[256];

static void setup(void)
{
    ctx = clg_ctx_new();
    snprintf(dir, sizeof dir, "/tmp/clgrad-test-hostile-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    clg_ctx_free(ctx);
}

static const char *path_of(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static const char *write_file(const char *name, const void *data, size_t n)
{
    const char *p = path_of(name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
    return p;
}

#define ERR_HAS(s) ck_assert_msg(strstr(clg_ctx_error(ctx), (s)) != NULL, \
                                 "error '%s' lacks '%s'", clg_ctx_error(ctx), (s))

/* ------------------------------------------------------------------- CSV */

/* n bytes (the text may hold NULs). */
static clg_status csvn(const char *text, size_t n, const clg_csv_opts *o, clg_dataset **ds)
{
    *ds = NULL;
    return clg_csv_parse(ctx, "h.csv", text, n, o, ds);
}
#define CSV(lit, o, ds) csvn((lit), sizeof(lit) - 1, (o), (ds))

START_TEST(csv_bom_headerless_keeps_first_row)
{
    /* Excel's "CSV UTF-8" starts with EF BB BF. Before: the BOM made cell
     * one non-numeric, the row became a "header" and was lost. */
    clg_dataset *ds;
    ck_assert_int_eq(CSV("\xef\xbb\xbf" "1,2,3\n4,5,6\n", NULL, &ds), CLG_OK);
    ck_assert_int_eq(ds->n, 2);
    const float x[] = { 1, 2, 4, 5 }, y[] = { 3, 6 };
    ck_assert_mem_eq(ds->x, x, sizeof x);
    ck_assert_mem_eq(ds->y, y, sizeof y);
    clg_dataset_free(ds);
    /* With a header, the first name is 'a', not "\xef\xbb\xbf" "a". */
    clg_csv_opts o = clg_csv_opts_default();
    o.target_name = "a";
    ck_assert_int_eq(CSV("\xef\xbb\xbf" "a,b\n7,8\n", &o, &ds), CLG_OK);
    ck_assert_int_eq(ds->n, 1);
    ck_assert_float_eq(ds->y[0], 7);
    ck_assert_float_eq(ds->x[0], 8);
    clg_dataset_free(ds);
}
END_TEST

START_TEST(csv_header_only_when_first_row_all_names)
{
    clg_dataset *ds;
    /* An empty cell in row 1 of a headerless file: an error at 1:2, not a
     * silently dropped row. */
    ck_assert_int_eq(CSV("1,,3\n4,5,6\n", NULL, &ds), CLG_ERR_IO);
    ck_assert_ptr_null(ds);
    ERR_HAS("h.csv:1:2:");
    ERR_HAS("is not a number");
    /* A mixed first row is data with a bad cell. */
    ck_assert_int_eq(CSV("1,x,3\n4,5,6\n", NULL, &ds), CLG_ERR_IO);
    ERR_HAS("h.csv:1:2: 'x' is not a number");
    /* An all-text first row is still a header... */
    ck_assert_int_eq(CSV("a,b,c\n4,5,6\n", NULL, &ds), CLG_OK);
    ck_assert_int_eq(ds->n, 1);
    clg_dataset_free(ds);
    /* ... and header=1 still forces one. */
    clg_csv_opts o = clg_csv_opts_default();
    o.header = 1;
    ck_assert_int_eq(CSV("a,2024,c\n4,5,6\n", &o, &ds), CLG_OK);
    ck_assert_int_eq(ds->n, 1);
    ck_assert_float_eq(ds->y[0], 6);
    clg_dataset_free(ds);
}
END_TEST

START_TEST(csv_cr_only_line_ends)
{
    /* Classic Mac OS line ends. Before: one row of 5 cells ("3\r4" etc.). */
    clg_dataset *ds;
    ck_assert_int_eq(CSV("a,b\r1,2\r3,4\r\r5,6", NULL, &ds), CLG_OK);
    ck_assert_int_eq(ds->n, 3);
    const float x[] = { 1, 3, 5 }, y[] = { 2, 4, 6 };
    ck_assert_mem_eq(ds->x, x, sizeof x);
    ck_assert_mem_eq(ds->y, y, sizeof y);
    clg_dataset_free(ds);
    /* Line numbers count CR, LF and CRLF ends alike: line 4 is bad. */
    ck_assert_int_eq(CSV("1,2\r\n3,4\r5,6\n7,q\n", NULL, &ds), CLG_ERR_IO);
    ERR_HAS("h.csv:4:2: 'q'");
}
END_TEST

START_TEST(csv_nul_refused)
{
    clg_dataset *ds;
    ck_assert_int_eq(CSV("1,2\n3,4\0,5\n", NULL, &ds), CLG_ERR_IO);
    ck_assert_ptr_null(ds);
    ERR_HAS("h.csv:2:2: NUL byte");
    /* Before: strtod stopped at the NUL and "1\0garbage" read as 1. */
    ck_assert_int_eq(CSV("1,2\n3,4\0garbage\n", NULL, &ds), CLG_ERR_IO);
    ERR_HAS("NUL byte");
}
END_TEST

START_TEST(csv_duplicate_column_names)
{
    clg_dataset *ds;
    ck_assert_int_eq(CSV("a,b,a,y\n1,2,3,4\n", NULL, &ds), CLG_ERR_IO);
    ck_assert_ptr_null(ds);
    ERR_HAS("h.csv:1:3: column name 'a' repeats column 1's");
    /* The first repeat by column is named, whatever the sort order. */
    ck_assert_int_eq(CSV("z,q,z,q\n1,2,3,4\n", NULL, &ds), CLG_ERR_IO);
    ERR_HAS("h.csv:1:3: column name 'z' repeats column 1's");
    clg_csv_opts o = clg_csv_opts_default();
    o.header = 1;
    ck_assert_int_eq(CSV("y,x,y\n1,2,3\n", &o, &ds), CLG_ERR_IO);
    ERR_HAS("'y' repeats");
}
END_TEST

START_TEST(csv_float32_overflow_refused)
{
    clg_dataset *ds;
    /* Finite doubles, but inf as float32: refused where they stand. */
    ck_assert_int_eq(CSV("a,b\n1,2\n1e40,3\n", NULL, &ds), CLG_ERR_IO);
    ck_assert_ptr_null(ds);
    ERR_HAS("h.csv:3:1: column 'a': '1e40' is not a finite float32");
    ck_assert_int_eq(CSV("1,2\n3,-3.5e38\n", NULL, &ds), CLG_ERR_IO);
    ERR_HAS("h.csv:2:2:");
    /* An out-of-range number in row 1 is data, not a header. */
    ck_assert_int_eq(CSV("1e300,2\n3,4\n", NULL, &ds), CLG_ERR_IO);
    ERR_HAS("h.csv:1:1: '1e300' is not a finite float32");
    ck_assert_int_eq(CSV("1,inf\n3,4\n", NULL, &ds), CLG_ERR_IO);
    ERR_HAS("h.csv:1:2:");
    /* The largest float32 itself and tiny values are fine. */
    ck_assert_int_eq(CSV("3.4028234e38,1e-50\n", NULL, &ds), CLG_OK);
    ck_assert_float_eq(ds->x[0], FLT_MAX);
    ck_assert_float_eq(ds->y[0], 0.0f);
    clg_dataset_free(ds);
}
END_TEST

START_TEST(csv_bom_file_on_disk)
{
    const char text[] = "\xef\xbb\xbf" "0.5,1\r0.25,0\r";
    clg_csv_opts o = clg_csv_opts_default();
    o.classes = 2;
    clg_dataset *ds;
    ck_assert_int_eq(clg_csv_load(ctx, write_file("bom.csv", text, sizeof text - 1), &o, &ds),
                     CLG_OK);
    ck_assert_int_eq(ds->n, 2);
    ck_assert_int_eq(ds->labels[0], 1);
    ck_assert_int_eq(ds->labels[1], 0);
    ck_assert_float_eq(ds->x[1], 0.25f);
    clg_dataset_free(ds);
}
END_TEST

/* --------------------------------------------------------------- main */

int main(void)
{
    Suite *s = suite_create("parsers-hostile");
    TCase *tc = tcase_create("csv");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, csv_bom_headerless_keeps_first_row);
    tcase_add_test(tc, csv_header_only_when_first_row_all_names);
    tcase_add_test(tc, csv_cr_only_line_ends);
    tcase_add_test(tc, csv_nul_refused);
    tcase_add_test(tc, csv_duplicate_column_names);
    tcase_add_test(tc, csv_float32_overflow_refused);
    tcase_add_test(tc, csv_bom_file_on_disk);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
