/* CSV data sets: numbers separated by commas, one sample per row, an
 * optional header of column names. Errors carry the line and column of the
 * offending cell. The parser reads only the given bytes (it is fuzzed). */
#include "data_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

clg_csv_opts clg_csv_opts_default(void)
{
    return (clg_csv_opts){ .target_name = NULL, .target_index = -1, .classes = 0, .header = -1 };
}

typedef struct cell { size_t b, e; } cell; /* [b, e) of the input, unquoted */

typedef struct parser {
    clg_ctx *ctx;
    const char *name;
    const char *s;
    size_t len, pos;
    long line;            /* 1-based line at pos */
    long row_line;        /* line of the row last returned */
    cell *cells;
    int n_cells, cap_cells;
    char *scratch;        /* one cell, unquoted, NUL-terminated */
    size_t cap_scratch;
} parser;

/* Copies a cell's text (quotes resolved) into p->scratch. */
static int cell_text(parser *p, const cell *c)
{
    size_t n = c->e - c->b;
    if (n + 1 > p->cap_scratch) {
        char *ns = realloc(p->scratch, n + 1);
        if (!ns)
            return 0;
        p->scratch = ns;
        p->cap_scratch = n + 1;
    }
    const char *t = p->s + c->b;
    size_t k = 0;
    int quoted = n >= 2 && t[0] == '"' && t[n - 1] == '"';
    size_t i = quoted ? 1 : 0, end = quoted ? n - 1 : n;
    for (; i < end; i++) {
        p->scratch[k++] = t[i];
        if (quoted && t[i] == '"' && i + 1 < end && t[i + 1] == '"')
            i++;
    }
    p->scratch[k] = '\0';
    return 1;
}

/* A printable, shortened copy of a cell for messages. */
static void cell_show(parser *p, const cell *c, char *out, size_t outlen)
{
    size_t n = c->e - c->b, k = 0;
    for (size_t i = 0; i < n && k + 4 < outlen; i++) {
        unsigned char ch = (unsigned char)p->s[c->b + i];
        out[k++] = isprint(ch) ? (char)ch : '?';
    }
    if (k < n && k + 4 <= outlen) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}

/* Length of the line ending at i: 2 for CRLF, 1 for LF or a lone CR (old
 * Mac files), 0 when s[i] ends no line. */
static size_t eol_len(const parser *p, size_t i)
{
    if (i >= p->len)
        return 0;
    if (p->s[i] == '\n')
        return 1;
    if (p->s[i] == '\r')
        return i + 1 < p->len && p->s[i + 1] == '\n' ? 2 : 1;
    return 0;
}

/* Reads one row's cells into p->cells; returns 1 with a row, 0 at the end,
 * -1 on error (message set). Blank lines are skipped. A NUL byte is refused
 * (a binary file given as CSV), so every cell is a proper C string. */
static int next_row(parser *p)
{
    for (;;) {
        if (p->pos >= p->len)
            return 0;
        p->n_cells = 0;
        size_t i = p->pos;
        while (i < p->len && !eol_len(p, i) && (p->s[i] == ' ' || p->s[i] == '\t' ||
                                                 p->s[i] == '\v' || p->s[i] == '\f'))
            i++;
        if (i >= p->len || eol_len(p, i)) { /* a blank line */
            p->pos = i >= p->len ? p->len : i + eol_len(p, i);
            p->line++;
            continue;
        }
        i = p->pos;
        for (;;) {
            size_t b = i;
            int in_q = 0;
            while (i < p->len) {
                char ch = p->s[i];
                if (ch == ',') {
                    if (!in_q)
                        break;
                } else if (ch == '\n' || ch == '\r') {
                    break;
                } else if (ch == '"') {
                    in_q = !in_q;
                } else if (ch == '\0') {
                    clg_ctx_set_error(p->ctx, CLG_ERR_IO,
                                      "%s:%ld:%d: NUL byte at offset %zu (not a text file?)",
                                      p->name, p->line, p->n_cells + 1, i);
                    return -1;
                }
                i++;
            }
            if (in_q) {
                clg_ctx_set_error(p->ctx, CLG_ERR_IO, "%s:%ld: column %d: unterminated quote",
                                  p->name, p->line, p->n_cells + 1);
                return -1;
            }
            size_t e = i;
            while (b < e && (p->s[b] == ' ' || p->s[b] == '\t'))
                b++;
            while (e > b && (p->s[e - 1] == ' ' || p->s[e - 1] == '\t'))
                e--;
            if (p->n_cells == p->cap_cells) {
                int nc = p->cap_cells ? 2 * p->cap_cells : 16;
                cell *c = realloc(p->cells, (size_t)nc * sizeof *c);
                if (!c) {
                    clg_ctx_set_error(p->ctx, CLG_ERR_NOMEM, "%s:%ld: out of memory", p->name,
                                      p->line);
                    return -1;
                }
                p->cells = c;
                p->cap_cells = nc;
            }
            p->cells[p->n_cells++] = (cell){ b, e };
            if (i >= p->len || eol_len(p, i))
                break;
            i++; /* the comma */
        }
        p->pos = i >= p->len ? p->len : i + eol_len(p, i);
        p->row_line = p->line++;
        return 1;
    }
}

/* What a cell holds. */
enum { CELL_TEXT, CELL_NUMBER, CELL_OUT_OF_RANGE };

/* Parses a cell. CELL_NUMBER: *v is finite and fits a float32.
 * CELL_OUT_OF_RANGE: the whole cell is a number (so it is data, not a
 * name), but inf, nan or beyond float32 (1e40 would become inf and surface
 * much later as a nan loss). *oom is set when the copy fails. */
static int cell_number(parser *p, const cell *c, double *v, int *oom)
{
    *oom = 0;
    if (!cell_text(p, c)) {
        *oom = 1;
        return CELL_TEXT;
    }
    const char *t = p->scratch;
    if (!*t)
        return CELL_TEXT;
    char *end;
    errno = 0;
    double d = strtod(t, &end);
    if (end == t || *end != '\0')
        return CELL_TEXT;
    if (!isfinite(d) || isinf((float)d))
        return CELL_OUT_OF_RANGE;
    *v = d;
    return CELL_NUMBER;
}

static clg_status bad_cell(parser *p, int col, const char *colname, const cell *c, const char *why)
{
    char shown[48];
    cell_show(p, c, shown, sizeof shown);
    if (colname)
        return clg_ctx_set_error(p->ctx, CLG_ERR_IO, "%s:%ld:%d: column '%s': '%s' %s", p->name,
                                 p->row_line, col + 1, colname, shown, why);
    return clg_ctx_set_error(p->ctx, CLG_ERR_IO, "%s:%ld:%d: '%s' %s", p->name, p->row_line, col + 1,
                             shown, why);
}

/* Column names must be unique: target= and messages name columns, and a
 * repeated name means the file is not what its writer meant. Sorted indices
 * keep this O(n log n) for very wide files. */
typedef struct name_at { const char *name; int col; } name_at;

static int cmp_name_at(const void *a, const void *b)
{
    const name_at *x = a, *y = b;
    int r = strcmp(x->name, y->name);
    return r ? r : (x->col > y->col) - (x->col < y->col);
}

static clg_status check_unique_names(parser *p, char **names, int n)
{
    name_at *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return clg_ctx_set_error(p->ctx, CLG_ERR_NOMEM, "%s: out of memory", p->name);
    for (int i = 0; i < n; i++)
        v[i] = (name_at){ names[i], i };
    qsort(v, (size_t)n, sizeof *v, cmp_name_at);
    int a = -1, b = -1; /* the first repeat, by column */
    for (int k = 1; k < n; k++)
        if (strcmp(v[k - 1].name, v[k].name) == 0 && (b < 0 || v[k].col < b)) {
            a = v[k - 1].col;
            b = v[k].col;
        }
    free(v);
    if (b < 0)
        return CLG_OK;
    return clg_ctx_set_error(p->ctx, CLG_ERR_IO,
                             "%s:%ld:%d: column name '%s' repeats column %d's (names must be unique)",
                             p->name, p->row_line, b + 1, names[b], a + 1);
}

clg_status clg_csv_parse(clg_ctx *ctx, const char *name, const char *buf, size_t len,
                         const clg_csv_opts *opts_in, clg_dataset **out)
{
    *out = NULL;
    clg_csv_opts opts = opts_in ? *opts_in : clg_csv_opts_default();
    if (opts.classes < 0 || opts.classes > INT32_MAX)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "%s: classes=%lld must be positive", name,
                                 (long long)opts.classes);
    /* A UTF-8 byte order mark (spreadsheets write one) is not part of the
     * first cell. */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        buf += 3;
        len -= 3;
    }
    parser p = { .ctx = ctx, .name = name, .s = buf, .len = len, .line = 1 };
    clg_status st = CLG_OK;
    char **names = NULL;
    float *vals = NULL;
    size_t n_vals = 0, cap_vals = 0;
    int ncols = 0, target = -1;
    long first_line = 0;
    int64_t rows = 0;
    clg_dataset *ds = NULL;

    int r = next_row(&p);
    if (r < 0) {
        st = CLG_ERR_IO;
        goto done;
    }
    if (r == 0) {
        st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: empty file: no rows", name);
        goto done;
    }
    ncols = p.n_cells;
    first_line = p.row_line;
    int header = opts.header;
    if (header < 0) {
        /* Names only when no cell of the first row is a number: a data row
         * with one bad or empty cell must be reported, not swallowed as a
         * header. A row of names holding a number needs header=1. */
        int n_text = 0;
        for (int c = 0; c < ncols; c++) {
            double v;
            int oom;
            n_text += cell_number(&p, &p.cells[c], &v, &oom) == CELL_TEXT;
            if (oom) {
                st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
                goto done;
            }
        }
        /* target=NAME says there is one. */
        header = n_text == ncols || opts.target_name != NULL;
    }
    if (ncols < 2) {
        st = clg_ctx_set_error(ctx, CLG_ERR_IO,
                               "%s:%ld: %d column; a data set needs at least one feature column "
                               "and a target column", name, p.row_line, ncols);
        goto done;
    }
    if (header) {
        names = calloc((size_t)ncols, sizeof *names);
        for (int c = 0; names && c < ncols; c++) {
            if (!cell_text(&p, &p.cells[c]) || !(names[c] = strdup(p.scratch))) {
                st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
                goto done;
            }
        }
        if (!names) {
            st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
            goto done;
        }
        st = check_unique_names(&p, names, ncols);
        if (st != CLG_OK)
            goto done;
    }
    if (opts.target_name) {
        if (!names) {
            st = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                   "%s: target=%s names a column, but header=0 says there are no names",
                                   name, opts.target_name);
            goto done;
        }
        for (int c = 0; c < ncols && target < 0; c++)
            if (strcmp(names[c], opts.target_name) == 0)
                target = c;
        if (target < 0) {
            char list[512] = "";
            size_t used = 0;
            for (int c = 0; c < ncols && used + 40 < sizeof list; c++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", c ? ", " : "",
                                         names[c]);
            st = clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND,
                                   "%s: no column named '%s' for target (columns: %s)", name,
                                   opts.target_name, list);
            goto done;
        }
    } else {
        target = opts.target_index < 0 ? ncols + opts.target_index : opts.target_index;
        if (target < 0 || target >= ncols) {
            st = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                   "%s: target=%d is outside the %d columns (0-based; -1 is the last)",
                                   name, opts.target_index, ncols);
            goto done;
        }
    }
    /* The first row is data unless it is the header. */
    if (header)
        r = next_row(&p);
    for (; r != 0; r = next_row(&p)) {
        if (r < 0) {
            st = CLG_ERR_IO;
            goto done;
        }
        if (p.n_cells != ncols) {
            st = clg_ctx_set_error(ctx, CLG_ERR_IO,
                                   "%s:%ld: ragged row: %d fields, expected %d as on line %ld",
                                   name, p.row_line, p.n_cells, ncols, first_line);
            goto done;
        }
        if (n_vals + (size_t)ncols > cap_vals) {
            size_t nc = cap_vals ? 2 * cap_vals : 1024;
            while (nc < n_vals + (size_t)ncols)
                nc *= 2;
            float *nv = realloc(vals, nc * sizeof *nv);
            if (!nv) {
                st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s:%ld: out of memory", name,
                                       p.row_line);
                goto done;
            }
            vals = nv;
            cap_vals = nc;
        }
        for (int c = 0; c < ncols; c++) {
            double v;
            int oom;
            const char *cn = names ? names[c] : NULL;
            int kind = cell_number(&p, &p.cells[c], &v, &oom);
            if (kind != CELL_NUMBER) {
                const char *why = kind == CELL_TEXT ? "is not a number"
                                                    : "is not a finite float32 (beyond +-3.4e38, "
                                                      "inf or nan)";
                if (kind == CELL_TEXT && header == 0 && p.row_line == first_line &&
                    opts.header < 0)
                    why = "is not a number (the first row mixes numbers and text: a header row "
                          "must be all names; header=1 forces one)";
                st = oom ? clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name)
                         : bad_cell(&p, c, cn, &p.cells[c], why);
                goto done;
            }
            if (c == target && opts.classes > 0) {
                if (v != floor(v)) {
                    st = bad_cell(&p, c, cn, &p.cells[c], "is not an integer class label");
                    goto done;
                }
                if (v < 0 || v >= (double)opts.classes) {
                    char why[96];
                    snprintf(why, sizeof why, "is a label outside [0, %lld)",
                             (long long)opts.classes);
                    st = bad_cell(&p, c, cn, &p.cells[c], why);
                    goto done;
                }
            }
            vals[n_vals++] = (float)v;
        }
        rows++;
    }
    if (rows == 0) {
        st = clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: empty file: a header but no data rows", name);
        goto done;
    }
    ds = calloc(1, sizeof *ds);
    if (!ds) {
        st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
        goto done;
    }
    ds->n = rows;
    ds->n_features = ncols - 1;
    ds->classes = opts.classes;
    ds->n_targets = opts.classes > 0 ? 0 : 1;
    ds->x = malloc((size_t)rows * (size_t)(ncols - 1) * sizeof(float));
    if (opts.classes > 0)
        ds->labels = malloc((size_t)rows * sizeof(int32_t));
    else
        ds->y = malloc((size_t)rows * sizeof(float));
    if (!ds->x || (!ds->labels && !ds->y)) {
        clg_dataset_free(ds);
        ds = NULL;
        st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", name);
        goto done;
    }
    for (int64_t i = 0; i < rows; i++) {
        const float *row = vals + i * ncols;
        float *xr = ds->x + i * (ncols - 1);
        for (int c = 0, k = 0; c < ncols; c++) {
            if (c == target) {
                if (ds->labels)
                    ds->labels[i] = (int32_t)row[c];
                else
                    ds->y[i] = row[c];
            } else {
                xr[k++] = row[c];
            }
        }
    }
done:
    if (names)
        for (int c = 0; c < ncols; c++)
            free(names[c]);
    free(names);
    free(vals);
    free(p.cells);
    free(p.scratch);
    if (st == CLG_OK)
        *out = ds;
    return st;
}

clg_status clg_csv_load(clg_ctx *ctx, const char *path, const clg_csv_opts *opts,
                        clg_dataset **out)
{
    *out = NULL;
    char *buf;
    size_t len;
    clg_status st = clg__read_file(ctx, path, &buf, &len);
    if (st != CLG_OK)
        return st;
    st = clg_csv_parse(ctx, path, buf, len, opts, out);
    free(buf);
    return st;
}
