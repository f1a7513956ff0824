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
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "datafix.h"

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

/* ----------------------------------------------------------- safetensors */

/* An 8-byte length, the header as given (no padding), then n data bytes. */
static clg_status st_parse(const char *header, const void *data, size_t n, clg_tensor_set **out)
{
    size_t hl = strlen(header);
    unsigned char *b = malloc(8 + hl + n + 1);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    if (n)
        memcpy(b + 8 + hl, data, n);
    *out = NULL;
    clg_status st = clg_safetensors_parse(ctx, "h.safetensors", b, 8 + hl + n, out);
    free(b);
    return st;
}

#define F32E(name, n, b, e) \
    "\"" name "\":{\"dtype\":\"F32\",\"shape\":[" #n "],\"data_offsets\":[" #b "," #e "]}"

START_TEST(st_duplicate_tensor_name)
{
    /* json-c keeps the last 'w' silently: before, w = {3, 4}. */
    const float f[4] = { 1, 2, 3, 4 };
    clg_tensor_set *s;
    ck_assert_int_eq(st_parse("{" F32E("w", 2, 0, 8) "," F32E("w", 2, 8, 16) "}", f, 16, &s),
                     CLG_ERR_IO);
    ck_assert_ptr_null(s);
    ERR_HAS("h.safetensors: bad header: tensor 'w' appears twice");
    /* The same name spelled with an escape is the same name. */
    ck_assert_int_eq(st_parse("{" F32E("w", 2, 0, 8) "," F32E("\\u0077", 2, 8, 16) "}", f, 16, &s),
                     CLG_ERR_IO);
    ERR_HAS("tensor 'w' appears twice");
    /* Repeated metadata keys and repeated fields of one entry too. */
    ck_assert_int_eq(st_parse("{\"__metadata__\":{\"epoch\":\"1\",\"epoch\":\"2\"}," F32E("w", 4, 0, 16)
                              "}", f, 16, &s),
                     CLG_ERR_IO);
    ERR_HAS("metadata key 'epoch' appears twice");
    ck_assert_int_eq(st_parse("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"dtype\":\"I32\","
                              "\"data_offsets\":[0,16]}}", f, 16, &s),
                     CLG_ERR_IO);
    ERR_HAS("'w': key 'dtype' appears twice");
    /* Names that only share a prefix are different. */
    ck_assert_int_eq(st_parse("{" F32E("w", 2, 0, 8) "," F32E("w2", 2, 8, 16) "}", f, 16, &s),
                     CLG_OK);
    ck_assert_int_eq(s->n, 2);
    ck_assert_float_eq(((float *)s->t[clg_tensor_set_find(s, "w2")].data)[1], 4);
    clg_tensor_set_free(s);
}
END_TEST

START_TEST(st_overlapping_ranges)
{
    const float f[4] = { 1, 2, 3, 4 };
    clg_tensor_set *s;
    ck_assert_int_eq(st_parse("{" F32E("a", 2, 0, 8) "," F32E("b", 2, 4, 12) "," F32E("c", 1, 12, 16)
                              "}", f, 16, &s),
                     CLG_ERR_IO);
    ck_assert_ptr_null(s);
    ERR_HAS("h.safetensors: tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
    /* Two names for the same bytes. */
    ck_assert_int_eq(st_parse("{" F32E("a", 4, 0, 16) "," F32E("b", 4, 0, 16) "}", f, 16, &s),
                     CLG_ERR_IO);
    ERR_HAS("overlap");
    /* A gap is refused as the reference implementation refuses it. */
    ck_assert_int_eq(st_parse("{" F32E("a", 1, 0, 4) "," F32E("b", 1, 8, 12) "}", f, 12, &s),
                     CLG_ERR_IO);
    ERR_HAS("tensor 'b': data_offsets [8, 12] leave a gap of 4 bytes");
    /* Order in the header does not matter; empty tensors take no bytes. */
    ck_assert_int_eq(st_parse("{" F32E("b", 2, 8, 16) "," F32E("e", 0, 8, 8) "," F32E("a", 2, 0, 8)
                              "}", f, 16, &s),
                     CLG_OK);
    ck_assert_int_eq(s->n, 3);
    ck_assert_float_eq(((float *)s->t[clg_tensor_set_find(s, "b")].data)[0], 3);
    clg_tensor_set_free(s);
}
END_TEST

START_TEST(st_trailing_bytes)
{
    const float f[4] = { 1, 2, 3, 4 };
    clg_tensor_set *s;
    ck_assert_int_eq(st_parse("{" F32E("w", 3, 0, 12) "}", f, 16, &s), CLG_ERR_IO);
    ck_assert_ptr_null(s);
    ERR_HAS("h.safetensors: 4 trailing bytes after the last tensor's data");
    ck_assert_int_eq(st_parse("{}", f, 1, &s), CLG_ERR_IO);
    ERR_HAS("1 trailing bytes");
    ck_assert_int_eq(st_parse("{}", NULL, 0, &s), CLG_OK);
    ck_assert_int_eq(s->n, 0);
    clg_tensor_set_free(s);
}
END_TEST

START_TEST(st_f64_beyond_float32)
{
    double d[3] = { 1.5, 1e300, 2 };
    clg_tensor_set *s;
    ck_assert_int_eq(st_parse("{\"0.weight\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,24]}}",
                              d, sizeof d, &s),
                     CLG_ERR_UNSUPPORTED);
    ck_assert_ptr_null(s);
    ERR_HAS("h.safetensors: tensor '0.weight': F64 value 1e+300 at index 1 does not fit F32");
    d[1] = -4e38;
    ck_assert_int_eq(st_parse("{\"0.weight\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,24]}}",
                              d, sizeof d, &s),
                     CLG_ERR_UNSUPPORTED);
    ERR_HAS("index 1");
    /* FLT_MAX itself fits. */
    d[1] = FLT_MAX;
    ck_assert_int_eq(st_parse("{\"0.weight\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,24]}}",
                              d, sizeof d, &s),
                     CLG_OK);
    ck_assert_float_eq(((float *)s->t[0].data)[1], FLT_MAX);
    ck_assert_int_eq(clg_tensor_set_check_finite(ctx, s, "h.safetensors"), CLG_OK);
    clg_tensor_set_free(s);
}
END_TEST

START_TEST(st_non_finite_weights_refusable)
{
    /* nan and inf are representable, so the parser keeps them; a loader of
     * weights refuses them by tensor name and index. */
    float f[3] = { 1, 2, 3 };
    int32_t k[1] = { 7 };
    f[2] = nanf("");
    unsigned char data[16];
    memcpy(data, k, 4);
    memcpy(data + 4, f, 12);
    clg_tensor_set *s;
    ck_assert_int_eq(st_parse("{\"steps\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                              F32E("2.bias", 3, 4, 16) "}", data, 16, &s),
                     CLG_OK);
    ck_assert_int_eq(clg_tensor_set_check_finite(ctx, s, "init.safetensors"), CLG_ERR_INVALID);
    ERR_HAS("init.safetensors: tensor '2.bias' [3] holds nan at index 2");
    ((float *)s->t[1].data)[2] = -INFINITY;
    ck_assert_int_eq(clg_tensor_set_check_finite(ctx, s, "init.safetensors"), CLG_ERR_INVALID);
    ERR_HAS("holds -inf at index 2");
    ((float *)s->t[1].data)[2] = 0.5f;
    ck_assert_int_eq(clg_tensor_set_check_finite(ctx, s, "init.safetensors"), CLG_OK);
    clg_tensor_set_free(s);
}
END_TEST

START_TEST(st_strict_json)
{
    /* What serde_json (the reference) refuses: comments, trailing commas. */
    const float f[1] = { 1 };
    clg_tensor_set *s;
    ck_assert_int_eq(st_parse("{" F32E("w", 1, 0, 4) ",}", f, 4, &s), CLG_ERR_IO);
    ERR_HAS("bad JSON header");
    ck_assert_int_eq(st_parse("{/* c */" F32E("w", 1, 0, 4) "}", f, 4, &s), CLG_ERR_IO);
    ERR_HAS("bad JSON header");
    /* Padding spaces after the object stay fine. */
    ck_assert_int_eq(st_parse("{" F32E("w", 1, 0, 4) "}    ", f, 4, &s), CLG_OK);
    clg_tensor_set_free(s);
}
END_TEST

/* ------------------------------------------------------------------- IDX */

/* One gzip member holding n bytes of `fill` (after `head`, hl bytes). */
static size_t gz_member(unsigned char *out, size_t cap, const void *head, size_t hl, size_t n,
                        int fill)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
    static unsigned char chunk[1 << 16];
    memset(chunk, fill, sizeof chunk);
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    zs.next_in = (Bytef *)(uintptr_t)head;
    zs.avail_in = (uInt)hl;
    ck_assert_int_eq(deflate(&zs, Z_NO_FLUSH), Z_OK);
    while (n > 0) {
        size_t k = n < sizeof chunk ? n : sizeof chunk;
        zs.next_in = chunk;
        zs.avail_in = (uInt)k;
        ck_assert_int_eq(deflate(&zs, Z_NO_FLUSH), Z_OK);
        ck_assert_uint_eq(zs.avail_in, 0);
        n -= k;
    }
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t got = cap - zs.avail_out;
    deflateEnd(&zs);
    return got;
}

START_TEST(idx_gzip_bomb_bounded_by_header)
{
    /* A header saying [1, 1, 1] u8 (13 + 1 bytes in all), then 128 gzip
     * members of 1 MiB of zeros each: 128 MiB inflated from ~130 KiB.
     * Before: inflated in full (up to the 2 GiB cap), then refused as
     * trailing bytes. Now refused once past the 13 + 1 bytes. */
    const unsigned char hdr[] = { 0, 0, 0x08, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7 };
    size_t cap = 256 << 10, n = 0;
    unsigned char *bomb = malloc(cap), one[4096];
    ck_assert_ptr_nonnull(bomb);
    n += gz_member(bomb, cap, hdr, sizeof hdr, 0, 0);
    size_t ml = gz_member(one, sizeof one, NULL, 0, 1 << 20, 0);
    for (int i = 0; i < 128; i++, n += ml) {
        ck_assert_uint_le(n + ml, cap);
        memcpy(bomb + n, one, ml);
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    clg_idx *x = NULL;
    ck_assert_int_eq(clg_idx_parse(ctx, "bomb.gz", bomb, n, &x), CLG_ERR_IO);
    getrusage(RUSAGE_SELF, &ru1);
    ck_assert_ptr_null(x);
    ERR_HAS("bomb.gz: gzip data inflates to more than 17 bytes, the 17 its IDX header implies");
    /* Not a byte of the 128 MiB was kept: the peak did not grow by 32 MiB. */
    ck_assert_int_lt(ru1.ru_maxrss - ru0.ru_maxrss, 32 << 10);
    /* The header member alone is a valid file. */
    ck_assert_int_eq(clg_idx_parse(ctx, "ok.gz", bomb, n - 128 * ml, &x), CLG_OK);
    ck_assert_int_eq(x->numel, 1);
    ck_assert_float_eq(x->data[0], 7);
    clg_idx_free(x);
    /* A header that lies the other way (more data than the stream holds)
     * is still truncated data. */
    unsigned char big[] = { 0, 0, 0x08, 1, 0, 0, 0, 9, 1, 2 };
    n = gz_member(bomb, cap, big, sizeof big, 0, 0);
    ck_assert_int_eq(clg_idx_parse(ctx, "short.gz", bomb, n, &x), CLG_ERR_IO);
    ERR_HAS("truncated IDX data");
    free(bomb);
}
END_TEST

START_TEST(gunzip_limit_is_exact)
{
    /* max_out bytes exactly are fine; one more is refused. */
    unsigned char head[3000], g[4096];
    for (int i = 0; i < 3000; i++)
        head[i] = (unsigned char)(i * 31 % 251);
    size_t gl = gz_member(g, sizeof g, head, sizeof head, 0, 0);
    void *out;
    size_t n;
    ck_assert_int_eq(clg_gunzip(ctx, "g.gz", g, gl, 3000, &out, &n), CLG_OK);
    ck_assert_uint_eq(n, 3000);
    ck_assert_mem_eq(out, head, 3000);
    free(out);
    ck_assert_int_eq(clg_gunzip(ctx, "g.gz", g, gl, 2999, &out, &n), CLG_ERR_IO);
    ck_assert_ptr_null(out);
    ERR_HAS("g.gz: gzip data inflates to more than 2999 bytes");
}
END_TEST

START_TEST(idx_f64_beyond_float32)
{
    unsigned char b[8 + 16] = { 0, 0, 0x0E, 1, 0, 0, 0, 2 };
    double v[2] = { 0.5, -1e39 };
    for (int k = 0; k < 2; k++) {
        uint64_t u;
        memcpy(&u, &v[k], 8);
        for (int i = 0; i < 8; i++)
            b[8 + 8 * k + i] = (unsigned char)(u >> (56 - 8 * i));
    }
    clg_idx *x;
    ck_assert_int_eq(clg_idx_parse(ctx, "f.idx", b, sizeof b, &x), CLG_ERR_IO);
    ERR_HAS("f.idx: f64 element 1 (-1e+39) is beyond float32");
    v[1] = -2.5;
    uint64_t u;
    memcpy(&u, &v[1], 8);
    for (int i = 0; i < 8; i++)
        b[16 + i] = (unsigned char)(u >> (56 - 8 * i));
    ck_assert_int_eq(clg_idx_parse(ctx, "f.idx", b, sizeof b, &x), CLG_OK);
    ck_assert_float_eq(x->data[1], -2.5f);
    clg_idx_free(x);
}
END_TEST

/* IDX u8 images [n, r, c] (pixel i = i % 256), or labels [n] = i % 10. */
static size_t idx_file(unsigned char *buf, int n, int r, int c)
{
    size_t k = 0;
    int nd = r ? 3 : 1, dims[3] = { n, r, c };
    buf[k++] = 0;
    buf[k++] = 0;
    buf[k++] = 0x08;
    buf[k++] = (unsigned char)nd;
    for (int d = 0; d < nd; d++) {
        buf[k++] = 0;
        buf[k++] = 0;
        buf[k++] = (unsigned char)(dims[d] >> 8);
        buf[k++] = (unsigned char)dims[d];
    }
    int m = r ? n * r * c : n;
    for (int i = 0; i < m; i++)
        buf[k++] = (unsigned char)(r ? i % 256 : i % 10);
    return k;
}

START_TEST(mnist_t10k_size_differs_from_train)
{
    unsigned char b[512], g[1024];
    size_t n;
    n = idx_file(b, 3, 2, 2);
    write_file("train-images-idx3-ubyte", b, n);
    n = idx_file(b, 3, 0, 0);
    write_file("train-labels-idx1-ubyte", b, n);
    write_file("t10k-labels-idx1-ubyte", b, n);
    n = idx_file(b, 3, 3, 3);
    write_file("t10k-images-idx3-ubyte", b, n);
    clg_dataset *ds = NULL;
    /* Alone, each set loads. */
    ck_assert_int_eq(clg_dataset_mnist(ctx, dir, 0, &ds), CLG_OK);
    ck_assert_int_eq(ds->n_features, 4);
    clg_dataset_free(ds);
    ck_assert_int_eq(clg_dataset_mnist(ctx, dir, 1, &ds), CLG_ERR_IO);
    ck_assert_ptr_null(ds);
    ERR_HAS("t10k-images-idx3-ubyte: images are 3x3 but ");
    ERR_HAS("train-images-idx3-ubyte has 2x2 images");
    /* Same pixel count, other shape (4x1 against 2x2): refused too. */
    n = idx_file(b, 3, 4, 1);
    write_file("t10k-images-idx3-ubyte", b, n);
    ck_assert_int_eq(clg_dataset_mnist(ctx, dir, 1, &ds), CLG_ERR_IO);
    ERR_HAS("images are 4x1 but");
    /* Gzipped train images are peeked through zlib. */
    n = idx_file(b, 3, 2, 2);
    size_t gl = gz_member(g, sizeof g, b, n, 0, 0);
    unlink(path_of("train-images-idx3-ubyte"));
    write_file("train-images-idx3-ubyte.gz", g, gl);
    ck_assert_int_eq(clg_dataset_mnist(ctx, dir, 1, &ds), CLG_ERR_IO);
    ERR_HAS("train-images-idx3-ubyte.gz has 2x2 images");
    /* Matching sizes load; t10k without train files loads too. */
    n = idx_file(b, 3, 2, 2);
    write_file("t10k-images-idx3-ubyte", b, n);
    ck_assert_int_eq(clg_dataset_mnist(ctx, dir, 1, &ds), CLG_OK);
    ck_assert_int_eq(ds->n, 3);
    ck_assert_int_eq(ds->n_features, 4);
    clg_dataset_free(ds);
    n = idx_file(b, 3, 3, 3);
    write_file("t10k-images-idx3-ubyte", b, n);
    unlink(path_of("train-images-idx3-ubyte.gz"));
    ck_assert_int_eq(clg_dataset_mnist(ctx, dir, 1, &ds), CLG_OK);
    ck_assert_int_eq(ds->n_features, 9);
    ck_assert_float_eq(ds->x[10], 10.0f / 255.0f);
    clg_dataset_free(ds);
}
END_TEST

/* --------------------------------------------------------------- main */

int main(void)
{
    datafix_suite = "parsers";
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
    tc = tcase_create("safetensors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, st_duplicate_tensor_name);
    tcase_add_test(tc, st_overlapping_ranges);
    tcase_add_test(tc, st_trailing_bytes);
    tcase_add_test(tc, st_f64_beyond_float32);
    tcase_add_test(tc, st_non_finite_weights_refusable);
    tcase_add_test(tc, st_strict_json);
    suite_add_tcase(s, tc);
    tc = tcase_create("idx");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, idx_gzip_bomb_bounded_by_header);
    tcase_add_test(tc, gunzip_limit_is_exact);
    tcase_add_test(tc, idx_f64_beyond_float32);
    tcase_add_test(tc, mnist_t10k_size_differs_from_train);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
