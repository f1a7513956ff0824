/* The command under a process group (mpirun -np N clgrad train ...): the
 * collective picked by --collective or by its launcher's environment, the
 * check that every rank was started with the same arguments, each rank's
 * shard of a batch, and the reductions and broadcasts the training loop
 * needs. Without a group every call here is a no-op of a group of one. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_dist_open(clg_ctx *ctx, const char *spec, cli_dist *d)
{
    memset(d, 0, sizeof *d);
    d->size = 1;
    if (spec && !strcmp(spec, "none"))
        return 0;
    clg_status st = clg_collective_open(ctx, spec && strcmp(spec, "auto") ? spec : NULL, &d->coll);
    if (st != CLG_OK) {
        cli_error("--collective %s: %s", spec ? cli_short(spec) : "auto", clg_ctx_error(ctx));
        return -1;
    }
    d->rank = clg_collective_rank(d->coll);
    d->size = clg_collective_size(d->coll);
    if (d->size < 1 || d->rank < 0 || d->rank >= d->size) {
        cli_error("--collective %s: rank %d of %d makes no sense", clg_collective_name(d->coll),
                  d->rank, d->size);
        return -1;
    }
    return 0;
}

void cli_dist_close(cli_dist *d)
{
    clg_collective_close(d->coll);
    d->coll = NULL;
}

int cli_dist_check_args(clg_ctx *ctx, cli_dist *d, int argc, char **argv)
{
    if (!d->coll || d->size == 1)
        return 0;
    /* rank 0's arguments, joined by a byte no argument holds */
    size_t len = 0;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    double n0 = (double)len;
    if (clg_collective_broadcast(d->coll, &n0, sizeof n0, 0) != CLG_OK)
        goto fail;
    char *mine = calloc(len + 1, 1), *root = calloc((size_t)n0 + 1, 1);
    if (!mine || !root) {
        free(mine);
        free(root);
        cli_error("out of memory");
        return -1;
    }
    for (int i = 0, off = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        memcpy(mine + off, argv[i], n);
        mine[off + n] = '\x1f';
        off += (int)n + 1;
    }
    if (d->rank == 0)
        memcpy(root, mine, len);
    clg_status st = clg_collective_broadcast(d->coll, root, (size_t)n0, 0);
    float differs = st == CLG_OK && strcmp(mine, root) != 0;
    if (differs) {
        /* name the first argument that differs, with both values, and the
         * flag it belongs to */
        const char *a = mine, *b = root, *flag = NULL;
        size_t flag_len = 0;
        int k = 0;
        while (*a && *b) {
            size_t la = strcspn(a, "\x1f"), lb = strcspn(b, "\x1f");
            if (la != lb || memcmp(a, b, la))
                break;
            if (!strncmp(a, "--", 2)) {
                flag = a;
                flag_len = la;
            }
            a += la + (a[la] != 0);
            b += lb + (b[lb] != 0);
            k++;
        }
        /* a value is shown after its flag: "--batch-size 64" */
        int is_value = flag && !(*a && !strncmp(a, "--", 2));
        char here[256], there[256];
        snprintf(here, sizeof here, "%.*s%s%.*s", is_value ? (int)flag_len : 0, flag ? flag : "",
                 is_value ? " " : "", (int)strcspn(a, "\x1f"), *a ? a : "(none)");
        snprintf(there, sizeof there, "%.*s%s%.*s", is_value ? (int)flag_len : 0,
                 flag ? flag : "", is_value ? " " : "", (int)strcspn(b, "\x1f"),
                 *b ? b : "(none)");
        cli_error("rank %d was started with other arguments than rank 0: '%s' here, '%s' on "
                  "rank 0 (argument %d; every rank must run the same command)", d->rank, here,
                  there, k + 1);
    }
    free(mine);
    free(root);
    if (st == CLG_OK)
        st = clg_collective_allreduce_sum(d->coll, &differs, 1);
    if (st != CLG_OK)
        goto fail;
    if (differs > 0) {
        if (d->rank == 0)
            cli_error("%g rank(s) were started with other arguments than rank 0; stopping", differs);
        return -1;
    }
    return 0;
fail:
    cli_error("%s", clg_ctx_error(ctx));
    return -1;
}

void cli_dist_shard(const cli_dist *d, int64_t rows, int64_t *first, int64_t *count)
{
    if (d->size <= 1) { /* alone (or never opened, as in eval) */
        *first = 0;
        *count = rows;
        return;
    }
    *first = rows * d->rank / d->size;
    *count = rows * (d->rank + 1) / d->size - *first;
}

clg_status cli_dist_sum(cli_dist *d, double *v, int n)
{
    if (!d->coll || d->size == 1)
        return CLG_OK;
    /* Each double as a float and its float remainder: the sum keeps about
     * twice a float's precision, enough for loss sums and counts. */
    float buf[64];
    if (n > 32)
        return CLG_ERR_INVALID;
    for (int i = 0; i < n; i++) {
        buf[2 * i] = (float)v[i];
        buf[2 * i + 1] = (float)(v[i] - (double)buf[2 * i]);
    }
    clg_status st = clg_collective_allreduce_sum(d->coll, buf, (size_t)(2 * n));
    for (int i = 0; st == CLG_OK && i < n; i++)
        v[i] = (double)buf[2 * i] + (double)buf[2 * i + 1];
    return st;
}

clg_status cli_dist_bcast_store(cli_dist *d, clg_store *st)
{
    if (!d->coll || d->size == 1)
        return CLG_OK;
    clg_status rc = CLG_OK;
    for (int i = 0; rc == CLG_OK && i < clg_store_count(st); i++) {
        clg_shape s = clg_store_shape(st, i);
        size_t bytes = (size_t)clg_shape_numel(&s) * clg_dtype_size(clg_store_dtype(st, i));
        void *buf = malloc(bytes ? bytes : 1);
        if (!buf)
            return CLG_ERR_NOMEM;
        const char *name = clg_store_name(st, i);
        rc = clg_store_read(st, name, buf, bytes);
        if (rc == CLG_OK)
            rc = clg_collective_broadcast(d->coll, buf, bytes, 0);
        if (rc == CLG_OK)
            rc = clg_store_write(st, name, buf, bytes);
        free(buf);
    }
    return rc;
}

int cli_dist_same_weights(cli_dist *d, clg_store *st, int *same)
{
    *same = 1;
    if (!d->coll || d->size == 1)
        return 0;
    /* FNV-1a over every store tensor's bytes: rank 0's digest against each
     * rank's own. */
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < clg_store_count(st); i++) {
        clg_shape s = clg_store_shape(st, i);
        size_t bytes = (size_t)clg_shape_numel(&s) * clg_dtype_size(clg_store_dtype(st, i));
        unsigned char *buf = malloc(bytes ? bytes : 1);
        if (!buf || clg_store_read(st, clg_store_name(st, i), buf, bytes) != CLG_OK) {
            free(buf);
            return -1;
        }
        for (size_t k = 0; k < bytes; k++)
            h = (h ^ buf[k]) * 1099511628211ULL;
        free(buf);
    }
    uint64_t h0 = h;
    if (clg_collective_broadcast(d->coll, &h0, sizeof h0, 0) != CLG_OK)
        return -1;
    float differs = h0 != h;
    if (clg_collective_allreduce_sum(d->coll, &differs, 1) != CLG_OK)
        return -1;
    *same = differs == 0;
    return 0;
}

int cli_dist_local_rank(void)
{
    const char *v = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (!v)
        v = getenv("MPI_LOCALRANKID");
    if (!v)
        v = getenv("SLURM_LOCALID");
    return v ? atoi(v) : 0;
}
