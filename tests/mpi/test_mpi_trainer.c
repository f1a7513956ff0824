/* Data-parallel training through the "mpi" collective, at the library level:
 * run under `mpirun -np 2` by run_mpi.sh. Each rank trains on its
 * contiguous shard of every global batch; rank 0 also trains the same model
 * alone on whole batches (no collective) as the reference. Checks, for each
 * optimizer:
 *   - every rank ends with bit-identical weights (rank 0's broadcast to all
 *     and compared byte for byte);
 *   - the sharded run matches the single-process run within 1e-5 relative
 *     (||w - w_ref|| / ||w_ref||) after 10 steps: only the order of the
 *     gradient sums differs. The largest element-wise difference is printed
 *     too; Adam's update g / (sqrt(v) + eps) magnifies rounding in the
 *     elements whose gradient is near zero, so it is reported, not bounded.
 * Prints "N passed, N failed" on rank 0; exit status 0 only if all passed. */
#include <clgrad/train.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NIN 12
#define NHID 16
#define NCLS 5
#define GLOBAL_BATCH 128
#define STEPS 10

/* Fixed data: every rank computes the same samples from the same formula. */
static void make_batch(int step, float *x, int32_t *y)
{
    for (int i = 0; i < GLOBAL_BATCH; i++) {
        for (int j = 0; j < NIN; j++)
            x[i * NIN + j] = (float)sin(0.37 * (step * GLOBAL_BATCH + i) + 0.11 * j * j);
        y[i] = (int32_t)((step * 7 + i * 3) % NCLS);
    }
}

typedef struct run {
    clg_ctx *ctx;
    clg_device *dev;
    clg_store *st;
    clg_trainer *tr;
} run;

/* A 12-16-5 MLP with cross-entropy on `rows` rows per step. */
static int build(run *r, const char *optimizer, int rows, clg_collective *coll, clg_ctx *ctx)
{
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    if (clg_device_open(ctx, "cpu", 0, &r->dev) != CLG_OK || clg_store_new(r->dev, &r->st) != CLG_OK)
        return -1;
    clg_graph *g = clg_graph_new(ctx);
    clg_rng rng;
    clg_rng_seed(&rng, 42); /* the same initial weights on every rank */
    clg_t x = clg_input(g, "x", CLG_F32, &CLG_SHAPE(rows, NIN));
    clg_t y = clg_input(g, "y", CLG_I32, &CLG_SHAPE(rows));
    clg_t h = clg_relu(g, clg_linear(g, r->st, "0", x, NIN, NHID, 1, &rng));
    clg_t p = clg_linear(g, r->st, "2", h, NHID, NCLS, 1, &rng);
    clg_t loss;
    if (clg_loss_build(g, "cross-entropy", p, y, &loss) != CLG_OK)
        return -1;
    clg_trainer_opts o = { .lr = 0.05, .optimizer = optimizer, .collective = coll };
    clg_status st = clg_trainer_new(g, r->st, loss, &o, &r->tr);
    clg_graph_free(g);
    return st == CLG_OK ? 0 : -1;
}

static void drop(run *r)
{
    clg_trainer_free(r->tr);
    clg_store_free(r->st);
    clg_device_close(r->dev);
}

static int train(run *r, int first, int rows)
{
    float x[GLOBAL_BATCH * NIN];
    int32_t y[GLOBAL_BATCH];
    for (int s = 0; s < STEPS; s++) {
        make_batch(s, x, y);
        if (clg_trainer_set_input(r->tr, "x", x + first * NIN, (size_t)rows * NIN * sizeof(float)) ||
            clg_trainer_set_input(r->tr, "y", y + first, (size_t)rows * sizeof(int32_t)) ||
            clg_trainer_step(r->tr, NULL) != CLG_OK)
            return -1;
    }
    return 0;
}

#define NW (NHID * NIN + NHID + NCLS * NHID + NCLS)
static int weights(run *r, float *w)
{
    const char *names[] = { "0.weight", "0.bias", "2.weight", "2.bias" };
    const int sizes[] = { NHID * NIN, NHID, NCLS * NHID, NCLS };
    for (int i = 0, off = 0; i < 4; off += sizes[i], i++)
        if (clg_store_read(r->st, names[i], w + off, (size_t)sizes[i] * sizeof(float)) != CLG_OK)
            return -1;
    return 0;
}

int main(void)
{
    clg_ctx *ctx = clg_ctx_new();
    clg_collective *coll = NULL;
    if (clg_collective_open(ctx, NULL, &coll) != CLG_OK || !coll) {
        fprintf(stderr, "FAIL: no collective detected (run under mpirun): %s\n", clg_ctx_error(ctx));
        return 1;
    }
    int rank = clg_collective_rank(coll), size = clg_collective_size(coll);
    if (GLOBAL_BATCH % size) {
        fprintf(stderr, "FAIL: %d ranks do not divide the batch %d\n", size, GLOBAL_BATCH);
        clg_collective_abort(coll, 1);
    }
    int rows = GLOBAL_BATCH / size, passed = 0, failed = 0;
    const char *opts[] = { "sgd:momentum=0.9", "adam", "adamw:weight_decay=0.1" };
    for (int k = 0; k < 3; k++) {
        run sh;
        int ok = build(&sh, opts[k], rows, coll, ctx) == 0 &&
                 clg_trainer_set_sync_weight(sh.tr, 1.0 / size) == CLG_OK &&
                 train(&sh, rank * rows, rows) == 0;
        float w[NW], w0[NW];
        ok = ok && weights(&sh, w) == 0;
        if (!ok)
            fprintf(stderr, "rank %d: %s: %s\n", rank, opts[k], clg_ctx_error(ctx));
        /* all ranks hold the same bytes: compare with rank 0's */
        memcpy(w0, w, sizeof w);
        int same = clg_collective_broadcast(coll, w0, sizeof w0, 0) == CLG_OK &&
                   memcmp(w, w0, sizeof w) == 0;
        int all_same = same;
        float flag = same ? 0.0f : 1.0f;
        clg_collective_allreduce_sum(coll, &flag, 1);
        all_same = flag == 0.0f;
        double worst = 0, dn = 0, rn = 0;
        if (rank == 0 && ok) {
            run one;
            float wr[NW];
            if (build(&one, opts[k], GLOBAL_BATCH, NULL, ctx) || train(&one, 0, GLOBAL_BATCH) ||
                weights(&one, wr)) {
                fprintf(stderr, "reference %s: %s\n", opts[k], clg_ctx_error(ctx));
                ok = 0;
            }
            for (int i = 0; ok && i < NW; i++) {
                double d = (double)w[i] - wr[i];
                double rel = fabs(d) / fmax(fabs((double)wr[i]), 1e-3);
                worst = rel > worst ? rel : worst;
                dn += d * d;
                rn += (double)wr[i] * wr[i];
            }
            drop(&one);
            double rel = sqrt(dn / rn);
            int pass = ok && all_same && rel <= 1e-5;
            printf("%s %s: ranks bit-identical: %s, rel. diff to 1 process: %.2e "
                   "(largest element: %.2e)\n",
                   pass ? "PASS" : "FAIL", opts[k], all_same ? "yes" : "no", rel, worst);
            pass ? passed++ : failed++;
        }
        drop(&sh);
    }
    if (rank == 0)
        printf("%d passed, %d failed\n", passed, failed);
    float f = (float)failed;
    clg_collective_broadcast(coll, &f, sizeof f, 0);
    clg_collective_close(coll);
    clg_ctx_free(ctx);
    return f == 0.0f ? 0 : 1;
}
