/* The data layer on its own: CSV, IDX (plain and gzipped), safetensors,
 * data sets, batches and checkpoint files, including the bad inputs each
 * must refuse with a message naming the file and the place. Expected values
 * come from the inputs written here (no hidden reference numbers). */
#include <clgrad/data.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "datafix.h"

/* ------------------------------------------------------------------- CSV */

static clg_status csv(const char *text, const clg_csv_opts *o, clg_dataset **ds)
{
    return clg_csv_parse(ctx, "t.csv", text, strlen(text), o, ds);
}

START_TEST(csv_header_and_values)
{
    clg_dataset *ds;
    ck_assert_int_eq(csv("a,b,y\n1,2,3\r\n\n4, 5 ,\"6\"\n", NULL, &ds), CLG_OK);
    ck_assert_int_eq(ds->n, 2);
    ck_assert_int_eq(ds->n_features, 2);
    ck_assert_int_eq(ds->n_targets, 1);
    ck_assert_ptr_null(ds->labels);
    const float x[] = { 1, 2, 4, 5 }, y[] = { 3, 6 };
    ck_assert_mem_eq(ds->x, x, sizeof x);
    ck_assert_mem_eq(ds->y, y, sizeof y);
    clg_dataset_free(ds);
}
END_TEST

START_TEST(csv_target_by_name_and_index)
{
    clg_dataset *ds;
    clg_csv_opts o = clg_csv_opts_default();
    o.target_name = "b";
    ck_assert_int_eq(csv("a,b,c\n1,2,3\n", &o, &ds), CLG_OK);
    ck_assert_float_eq(ds->y[0], 2);
    ck_assert_float_eq(ds->x[1], 3);
    clg_dataset_free(ds);
    o = clg_csv_opts_default();
    o.target_index = 0;
    o.header = 0;
    o.classes = 3;
    ck_assert_int_eq(csv("2,0.5\n0,1.5\n", &o, &ds), CLG_OK);
    ck_assert_int_eq(ds->classes, 3);
    ck_assert_int_eq(ds->labels[0], 2);
    ck_assert_int_eq(ds->labels[1], 0);
    ck_assert_float_eq(ds->x[1], 1.5f);
    clg_dataset_free(ds);
    o.target_name = "zz";
    o.header = -1;
    ck_assert_int_eq(csv("a,b\n1,2\n", &o, &ds), CLG_ERR_NOT_FOUND);
    ERR_HAS("no column named 'zz'");
    ERR_HAS("a, b");
}
END_TEST

START_TEST(csv_non_numeric_cell_gives_line_and_column)
{
    clg_dataset *ds = NULL;
    ck_assert_int_ne(csv("a,b,y\n1,2,3\n4,abc,6\n", NULL, &ds), CLG_OK);
    ck_assert_ptr_null(ds);
    ERR_HAS("t.csv:3:2");
    ERR_HAS("'abc'");
    ERR_HAS("column 'b'");
}
END_TEST

START_TEST(csv_ragged_row)
{
    clg_dataset *ds;
    ck_assert_int_ne(csv("1,2,3\n4,5\n", NULL, &ds), CLG_OK);
    ERR_HAS("t.csv:2");
    ERR_HAS("ragged row: 2 fields, expected 3");
}
END_TEST

START_TEST(csv_empty)
{
    clg_dataset *ds;
    ck_assert_int_ne(csv("", NULL, &ds), CLG_OK);
    ERR_HAS("t.csv: empty file");
    ck_assert_int_ne(csv("\n  \n", NULL, &ds), CLG_OK);
    ERR_HAS("empty file");
    ck_assert_int_ne(csv("a,b\n", NULL, &ds), CLG_OK);
    ERR_HAS("no data rows");
}
END_TEST

START_TEST(csv_label_out_of_range)
{
    clg_dataset *ds;
    clg_csv_opts o = clg_csv_opts_default();
    o.classes = 3;
    ck_assert_int_ne(csv("x,y\n1,0\n2,3\n", &o, &ds), CLG_OK);
    ERR_HAS("t.csv:3:2");
    ERR_HAS("outside [0, 3)");
    ck_assert_int_ne(csv("x,y\n1,-1\n", &o, &ds), CLG_OK);
    ERR_HAS("outside [0, 3)");
    ck_assert_int_ne(csv("x,y\n1,1.5\n", &o, &ds), CLG_OK);
    ERR_HAS("not an integer");
}
END_TEST

START_TEST(csv_missing_file)
{
    clg_dataset *ds;
    ck_assert_int_eq(clg_csv_load(ctx, path_of("nope.csv"), NULL, &ds), CLG_ERR_IO);
    ERR_HAS("nope.csv: cannot open");
}
END_TEST

/* ------------------------------------------------------------------- IDX */

/* An IDX u8 file [n, 2, 2] with pixel i = i, or labels [n] = i % 10. */
static size_t idx_bytes(unsigned char *buf, int images, int n)
{
    size_t k = 0;
    buf[k++] = 0;
    buf[k++] = 0;
    buf[k++] = 0x08;
    buf[k++] = images ? 3 : 1;
    int dims[3] = { n, 2, 2 };
    for (int d = 0; d < (images ? 3 : 1); d++) {
        buf[k++] = 0;
        buf[k++] = 0;
        buf[k++] = (unsigned char)(dims[d] >> 8);
        buf[k++] = (unsigned char)dims[d];
    }
    int m = images ? n * 4 : n;
    for (int i = 0; i < m; i++)
        buf[k++] = (unsigned char)(images ? i : i % 10);
    return k;
}

static const char *write_gz(const char *name, const void *data, size_t n)
{
    const char *p = path_of(name);
    gzFile g = gzopen(p, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, data, (unsigned)n), (int)n);
    gzclose(g);
    return p;
}

START_TEST(idx_plain_and_gzip)
{
    unsigned char buf[256];
    size_t n = idx_bytes(buf, 1, 5);
    clg_idx *a, *b;
    ck_assert_int_eq(clg_idx_load(ctx, write_file("a.idx", buf, n), &a), CLG_OK);
    ck_assert_int_eq(clg_idx_load(ctx, write_gz("a.idx.gz", buf, n), &b), CLG_OK);
    ck_assert_int_eq(a->ndim, 3);
    ck_assert_int_eq(a->dim[0], 5);
    ck_assert_int_eq(a->numel, 20);
    ck_assert_float_eq(a->data[19], 19);
    ck_assert_int_eq(b->numel, a->numel);
    ck_assert_mem_eq(a->data, b->data, 20 * sizeof(float));
    clg_idx_free(a);
    clg_idx_free(b);
}
END_TEST

START_TEST(idx_truncated)
{
    unsigned char buf[256];
    size_t n = idx_bytes(buf, 1, 5);
    clg_idx *a;
    ck_assert_int_eq(clg_idx_load(ctx, write_file("t.idx", buf, n - 3), &a), CLG_ERR_IO);
    ERR_HAS("t.idx: truncated IDX data");
    ERR_HAS("[5, 2, 2]");
    ck_assert_int_eq(clg_idx_load(ctx, write_file("h.idx", buf, 9), &a), CLG_ERR_IO);
    ERR_HAS("truncated IDX header");
    ck_assert_int_eq(clg_idx_load(ctx, write_file("e.idx", buf, 0), &a), CLG_ERR_IO);
    ERR_HAS("truncated IDX file");
}
END_TEST

START_TEST(idx_corrupt)
{
    unsigned char buf[256];
    size_t n = idx_bytes(buf, 1, 5);
    clg_idx *a;
    buf[2] = 0x42;
    ck_assert_int_eq(clg_idx_load(ctx, write_file("c.idx", buf, n), &a), CLG_ERR_IO);
    ERR_HAS("element type 0x42");
    buf[2] = 0x08;
    buf[0] = 7;
    ck_assert_int_eq(clg_idx_load(ctx, write_file("m.idx", buf, n), &a), CLG_ERR_IO);
    ERR_HAS("not an IDX file");
}
END_TEST

START_TEST(gzip_truncated_and_corrupt)
{
    unsigned char buf[256];
    size_t n = idx_bytes(buf, 1, 30);
    const char *p = write_gz("g.idx.gz", buf, n);
    char *gz;
    size_t gl;
    FILE *f = fopen(p, "rb");
    gz = malloc(4096);
    gl = fread(gz, 1, 4096, f);
    fclose(f);
    clg_idx *a;
    ck_assert_int_eq(clg_idx_load(ctx, write_file("tr.idx.gz", gz, gl / 2), &a), CLG_ERR_IO);
    ERR_HAS("tr.idx.gz: truncated gzip");
    /* Flip bytes inside the deflate stream (after the 10-byte gzip header). */
    for (size_t i = 12; i < gl - 8; i++)
        gz[i] ^= 0x5a;
    ck_assert_int_eq(clg_idx_load(ctx, write_file("bad.idx.gz", gz, gl), &a), CLG_ERR_IO);
    ERR_HAS("bad.idx.gz:");
    ERR_HAS("gzip");
    free(gz);
}
END_TEST

START_TEST(mnist_dir)
{
    unsigned char buf[512];
    size_t n = idx_bytes(buf, 1, 12);
    write_gz("train-images-idx3-ubyte.gz", buf, n);
    write_file("t10k-images-idx3-ubyte", buf, n);
    n = idx_bytes(buf, 0, 12);
    write_gz("train-labels-idx1-ubyte.gz", buf, n);
    write_file("t10k-labels-idx1-ubyte", buf, n);
    clg_dataset *tr, *te;
    ck_assert_int_eq(clg_dataset_mnist(ctx, dir, 0, &tr), CLG_OK);
    ck_assert_int_eq(clg_dataset_mnist(ctx, dir, 1, &te), CLG_OK);
    ck_assert_int_eq(tr->n, 12);
    ck_assert_int_eq(tr->n_features, 4);
    ck_assert_int_eq(tr->classes, 10);
    ck_assert_int_eq(tr->labels[11], 1);
    ck_assert_float_eq_tol(tr->x[5], 5.0f / 255.0f, 1e-7f);
    ck_assert_mem_eq(tr->x, te->x, 48 * sizeof(float));
    clg_dataset_free(tr);
    clg_dataset_free(te);
    /* labels of a different count */
    n = idx_bytes(buf, 0, 11);
    write_file("t10k-labels-idx1-ubyte", buf, n);
    ck_assert_int_ne(clg_dataset_mnist(ctx, dir, 1, &te), CLG_OK);
    ERR_HAS("11 labels");
    ck_assert_int_ne(clg_dataset_mnist(ctx, path_of("none"), 0, &te), CLG_OK);
    ERR_HAS("train-images-idx3-ubyte");
}
END_TEST

/* ------------------------------------------------------------ safetensors */

/* A safetensors file with a hand-written header and `data`. */
static const char *st_file(const char *name, const char *header, const void *data, size_t dn)
{
    size_t hl = strlen(header);
    unsigned char *b = malloc(8 + hl + dn);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    if (dn)
        memcpy(b + 8 + hl, data, dn);
    const char *p = write_file(name, b, 8 + hl + dn);
    free(b);
    return p;
}

START_TEST(st_round_trip)
{
    clg_tensor_set *s = clg_tensor_set_new();
    float w[6] = { 1, -2, 3.5f, 4, 5, 6e-8f };
    int32_t k[2] = { 7, -9 };
    clg_shape ws = CLG_SHAPE(2, 3), ks = CLG_SHAPE(2);
    ck_assert_int_eq(clg_tensor_set_add(ctx, s, "0.weight", CLG_F32, &ws, w), CLG_OK);
    ck_assert_int_eq(clg_tensor_set_add(ctx, s, "steps", CLG_I32, &ks, k), CLG_OK);
    ck_assert_int_eq(clg_tensor_set_add(ctx, s, "steps", CLG_I32, &ks, k), CLG_ERR_INVALID);
    ck_assert_int_eq(clg_tensor_set_meta(ctx, s, "epoch", "3"), CLG_OK);
    const char *p = path_of("rt.safetensors");
    ck_assert_int_eq(clg_safetensors_write(ctx, p, s), CLG_OK);
    clg_tensor_set *r;
    ck_assert_int_eq(clg_safetensors_read(ctx, p, &r), CLG_OK);
    ck_assert_int_eq(r->n, 2);
    ck_assert_str_eq(r->t[0].name, "0.weight");
    ck_assert(clg_shape_equal(&r->t[0].shape, &ws));
    ck_assert_mem_eq(r->t[0].data, w, sizeof w);
    ck_assert_int_eq(r->t[1].dtype, CLG_I32);
    ck_assert_mem_eq(r->t[1].data, k, sizeof k);
    ck_assert_str_eq(clg_tensor_set_get_meta(r, "epoch"), "3");
    /* The header is padded so the data is 8-byte aligned. */
    struct stat sb;
    ck_assert_int_eq(stat(p, &sb), 0);
    ck_assert_int_eq((sb.st_size - 32) % 8, 0);
    clg_tensor_set_free(s);
    clg_tensor_set_free(r);
}
END_TEST

START_TEST(st_f64_i64_converted)
{
    double d[2] = { 0.5, -1.25 };
    int64_t i[2] = { 3, -4 };
    unsigned char data[32];
    memcpy(data, d, 16);
    memcpy(data + 16, i, 16);
    const char *p = st_file("c.safetensors",
                            "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                            "\"b\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[16,32]}}",
                            data, 32);
    clg_tensor_set *r;
    ck_assert_int_eq(clg_safetensors_read(ctx, p, &r), CLG_OK);
    ck_assert_float_eq(((float *)r->t[0].data)[1], -1.25f);
    ck_assert_int_eq(((int32_t *)r->t[1].data)[1], -4);
    clg_tensor_set_free(r);
}
END_TEST

START_TEST(st_bad_header_length)
{
    clg_tensor_set *r;
    unsigned char b[12] = { 0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ' };
    ck_assert_int_eq(clg_safetensors_read(ctx, write_file("hl.safetensors", b, 12), &r), CLG_ERR_IO);
    ERR_HAS("hl.safetensors: bad safetensors header length 65535");
    ck_assert_int_eq(clg_safetensors_read(ctx, write_file("short.safetensors", b, 5), &r),
                     CLG_ERR_IO);
    ERR_HAS("bad safetensors header length");
}
END_TEST

START_TEST(st_bad_json)
{
    clg_tensor_set *r;
    ck_assert_int_eq(clg_safetensors_read(ctx, st_file("j.safetensors", "{\"a\": [1,", NULL, 0), &r),
                     CLG_ERR_IO);
    ERR_HAS("j.safetensors: bad JSON header");
    ck_assert_int_eq(clg_safetensors_read(ctx, st_file("k.safetensors", "[1, 2]  ", NULL, 0), &r),
                     CLG_ERR_IO);
    ERR_HAS("not an object");
    ck_assert_int_eq(clg_safetensors_read(ctx, st_file("l.safetensors", "{} x", NULL, 0), &r),
                     CLG_ERR_IO);
    ERR_HAS("bad JSON header");
}
END_TEST

START_TEST(st_offsets_outside)
{
    clg_tensor_set *r;
    float f[2] = { 1, 2 };
    const char *p = st_file("o.safetensors",
                            "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", f, 8);
    ck_assert_int_eq(clg_safetensors_read(ctx, p, &r), CLG_ERR_IO);
    ERR_HAS("o.safetensors: tensor 'w': data_offsets [0, 16] outside the data section (8 bytes)");
    p = st_file("s.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",
                f, 8);
    ck_assert_int_eq(clg_safetensors_read(ctx, p, &r), CLG_ERR_IO);
    ERR_HAS("tensor 'w'");
    ERR_HAS("needs 12");
}
END_TEST

START_TEST(st_unknown_dtype)
{
    clg_tensor_set *r;
    float f[2] = { 1, 2 };
    const char *p = st_file("d.safetensors",
                            "{\"w\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", f, 8);
    ck_assert_int_eq(clg_safetensors_read(ctx, p, &r), CLG_ERR_IO);
    ERR_HAS("d.safetensors: tensor 'w': unknown dtype \"Q7\"");
    /* F16 and BF16 load now (test_finetune); I16 is still refused */
    p = st_file("h.safetensors", "{\"w\":{\"dtype\":\"I16\",\"shape\":[4],\"data_offsets\":[0,8]}}",
                f, 8);
    ck_assert_int_ne(clg_safetensors_read(ctx, p, &r), CLG_OK);
    ERR_HAS("dtype I16 is not supported");
}
END_TEST

/* --------------------------------------------------------- data sets etc. */

START_TEST(synthetic_seeded)
{
    clg_dataset *a, *b, *c;
    ck_assert_int_eq(clg_dataset_synthetic(ctx, 50, 7, &a), CLG_OK);
    ck_assert_int_eq(clg_dataset_synthetic(ctx, 50, 7, &b), CLG_OK);
    ck_assert_int_eq(clg_dataset_synthetic(ctx, 50, 8, &c), CLG_OK);
    ck_assert_int_eq(a->n_features, 10);
    ck_assert_int_eq(a->n_targets, 1);
    ck_assert_mem_eq(a->x, b->x, 500 * sizeof(float));
    ck_assert_mem_eq(a->y, b->y, 50 * sizeof(float));
    ck_assert(memcmp(a->x, c->x, 500 * sizeof(float)) != 0);
    clg_dataset_free(a);
    clg_dataset_free(b);
    clg_dataset_free(c);
}
END_TEST

START_TEST(split_and_batches)
{
    clg_dataset *ds;
    ck_assert_int_eq(csv("x,y\n0,0\n1,1\n2,2\n3,3\n4,4\n5,5\n6,6\n7,7\n8,8\n9,9\n", NULL, &ds), CLG_OK);
    clg_dataset *tr, *va;
    ck_assert_int_eq(clg_dataset_split(ctx, ds, 0.3, 1, &tr, &va), CLG_OK);
    ck_assert_int_eq(tr->n, 7);
    ck_assert_int_eq(va->n, 3);
    /* every sample lands in exactly one part, with its own target */
    int seen[10] = { 0 };
    for (int i = 0; i < 7; i++) {
        ck_assert_float_eq(tr->x[i], tr->y[i]);
        seen[(int)tr->x[i]]++;
    }
    for (int i = 0; i < 3; i++)
        seen[(int)va->x[i]]++;
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(seen[i], 1);
    clg_dataset *tr2, *va2;
    ck_assert_int_ne(clg_dataset_split(ctx, ds, 0.01, 1, &tr2, &va2), CLG_OK);
    ck_assert_ptr_null(tr2);

    clg_batcher *b;
    ck_assert_int_eq(clg_batcher_new(ctx, ds, 4, 0, 0, &b), CLG_OK);
    ck_assert_int_eq(clg_batcher_batches(b), 3);
    clg_batcher_epoch(b, NULL);
    clg_batch bt;
    int sizes[3], k = 0;
    while (clg_batcher_next(b, &bt))
        sizes[k++] = (int)bt.size;
    ck_assert_int_eq(k, 3);
    ck_assert_int_eq(sizes[2], 2); /* the partial batch is kept */
    ck_assert_float_eq(bt.x[1], 9);
    clg_batcher_free(b);
    ck_assert_int_eq(clg_batcher_new(ctx, ds, 4, 1, 1, &b), CLG_OK);
    clg_rng r1, r2;
    clg_rng_seed(&r1, 5);
    r2 = r1;
    clg_batcher_epoch(b, &r1);
    float first[8];
    k = 0;
    while (clg_batcher_next(b, &bt))
        for (int i = 0; i < bt.size; i++)
            first[k++] = bt.x[i];
    ck_assert_int_eq(k, 8); /* drop_last */
    clg_batcher_epoch(b, &r2);
    k = 0;
    while (clg_batcher_next(b, &bt))
        for (int i = 0; i < bt.size; i++)
            ck_assert_float_eq(bt.x[i], first[k++]);
    clg_batcher_free(b);
    ck_assert_int_ne(clg_batcher_new(ctx, ds, 0, 0, 0, &b), CLG_OK);
    ERR_HAS("--batch-size 0");
    clg_dataset_free(ds);
    clg_dataset_free(tr);
    clg_dataset_free(va);
}
END_TEST

START_TEST(checkpoint_atomic_and_rng)
{
    clg_rng r, back;
    clg_rng_seed(&r, 99);
    clg_rng_next(&r);
    char s[65];
    clg_rng_to_string(&r, s);
    ck_assert_int_eq(clg_rng_from_string(ctx, s, &back), CLG_OK);
    ck_assert_mem_eq(&r, &back, sizeof r);
    ck_assert_int_ne(clg_rng_from_string(ctx, "12", &back), CLG_OK);

    clg_tensor_set *set = clg_tensor_set_new();
    clg_shape sh = CLG_SHAPE(3);
    float v[3] = { 1, 2, 3 };
    clg_tensor_set_add(ctx, set, "w", CLG_F32, &sh, v);
    const char *cd = path_of("ck");
    ck_assert_int_eq(clg_checkpoint_save(ctx, cd, set), CLG_OK);
    v[0] = 10;
    clg_tensor_set_free(set);
    set = clg_tensor_set_new();
    clg_tensor_set_add(ctx, set, "w", CLG_F32, &sh, v);
    ck_assert_int_eq(clg_checkpoint_save(ctx, cd, set), CLG_OK);
    clg_tensor_set *r2;
    ck_assert_int_eq(clg_checkpoint_load(ctx, cd, &r2), CLG_OK);
    ck_assert_float_eq(((float *)r2->t[0].data)[0], 10);
    /* no temporary file is left behind */
    char ls[600];
    snprintf(ls, sizeof ls, "test $(ls '%s' | wc -l) -eq 1", cd);
    ck_assert_int_eq(system(ls), 0);
    clg_tensor_set_free(set);
    clg_tensor_set_free(r2);
    ck_assert_int_ne(clg_checkpoint_load(ctx, path_of("none"), &r2), CLG_OK);
    ERR_HAS("checkpoint.safetensors: cannot open");
}
END_TEST

int main(void)
{
    datafix_suite = "data";
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("parsers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, csv_header_and_values);
    tcase_add_test(tc, csv_target_by_name_and_index);
    tcase_add_test(tc, csv_non_numeric_cell_gives_line_and_column);
    tcase_add_test(tc, csv_ragged_row);
    tcase_add_test(tc, csv_empty);
    tcase_add_test(tc, csv_label_out_of_range);
    tcase_add_test(tc, csv_missing_file);
    tcase_add_test(tc, idx_plain_and_gzip);
    tcase_add_test(tc, idx_truncated);
    tcase_add_test(tc, idx_corrupt);
    tcase_add_test(tc, gzip_truncated_and_corrupt);
    tcase_add_test(tc, mnist_dir);
    tcase_add_test(tc, st_round_trip);
    tcase_add_test(tc, st_f64_i64_converted);
    tcase_add_test(tc, st_bad_header_length);
    tcase_add_test(tc, st_bad_json);
    tcase_add_test(tc, st_offsets_outside);
    tcase_add_test(tc, st_unknown_dtype);
    tcase_add_test(tc, synthetic_seeded);
    tcase_add_test(tc, split_and_batches);
    tcase_add_test(tc, checkpoint_atomic_and_rng);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
