/* train_seed: trains the seed network (seednet.h) on the synthetic
 * regression set (synthetic.h) and prints the mean training loss per epoch.
 *
 *   train_seed [--backend NAME] [--epochs N] [--seed S]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seednet.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: train_seed [--backend NAME] [--epochs N] [--seed S]\n"
            "  --backend NAME  compute backend (default cpu)\n"
            "  --epochs N      epochs over %d samples, batch %d (default 20, 1..1000000)\n"
            "  --seed S        seed of initialisation and shuffling (default 0)\n",
            SEED_SAMPLES, SEED_BATCH);
}

/* Whole-string unsigned decimal in [lo, hi]. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void print_epoch(int epoch, double loss, void *user)
{
    (void)user;
    printf("epoch %d loss %.6f\n", epoch, loss);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *backend = "cpu";
    uint64_t epochs = 20, seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        int known = !strcmp(a, "--backend") || !strcmp(a, "--epochs") || !strcmp(a, "--seed");
        if (!known) {
            fprintf(stderr, "train_seed: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "train_seed: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--backend")) {
            if (!*v) {
                fprintf(stderr, "train_seed: --backend needs a non-empty name\n");
                return 2;
            }
            backend = v;
        } else if (!strcmp(a, "--epochs")) {
            if (parse_u64(v, 1, 1000000, &epochs)) {
                fprintf(stderr,
                        "train_seed: invalid --epochs '%s' (expected an integer 1..1000000)\n", v);
                return 2;
            }
        } else if (parse_u64(v, 0, UINT64_MAX, &seed)) {
            fprintf(stderr, "train_seed: invalid --seed '%s' (expected an unsigned integer)\n", v);
            return 2;
        }
    }

    clg_ctx *ctx = clg_ctx_new();
    if (!ctx) {
        fprintf(stderr, "train_seed: out of memory\n");
        return 1;
    }
    clg_device *dev = NULL;
    clg_status st = clg_device_open(ctx, backend, 0, &dev);
    if (st != CLG_OK) {
        fprintf(stderr, "train_seed: backend '%s': %s\n", backend, clg_ctx_error(ctx));
        clg_ctx_free(ctx);
        return 1;
    }
    st = seed_train(dev, (int)epochs, seed, NULL, print_epoch, NULL, NULL);
    if (st != CLG_OK)
        fprintf(stderr, "train_seed: %s: %s\n", clg_status_name(st), clg_ctx_error(ctx));
    clg_device_close(dev);
    clg_ctx_free(ctx);
    return st == CLG_OK ? 0 : 1;
}
