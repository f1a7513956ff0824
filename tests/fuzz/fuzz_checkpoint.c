/* libFuzzer harness for the checkpoint reader: the input is written as
 * DIR/checkpoint.safetensors and read back through clg_checkpoint_load (the
 * entry point `clgrad train --resume DIR` uses), then the rng metadata is
 * parsed as resume parses it. A checkpoint that loads must survive a save
 * and a second load unchanged. DIR lives in /dev/shm when there is one. */
#include <clgrad/data.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir_in[128], dir_out[128];

static void make_dirs(void)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir_in, sizeof dir_in, "%s/clg-fuzz-ckpt-%ld-in", base, (long)getpid());
    snprintf(dir_out, sizeof dir_out, "%s/clg-fuzz-ckpt-%ld-out", base, (long)getpid());
    mkdir(dir_in, 0700);
    mkdir(dir_out, 0700);
}

static void cleanup(void)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir_in, CLG_CHECKPOINT_FILE);
    unlink(p);
    snprintf(p, sizeof p, "%s/%s", dir_out, CLG_CHECKPOINT_FILE);
    unlink(p);
    rmdir(dir_in);
    rmdir(dir_out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static clg_ctx *ctx;
    if (!ctx) {
        ctx = clg_ctx_new();
        make_dirs();
        atexit(cleanup);
    }
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir_in, CLG_CHECKPOINT_FILE);
    FILE *f = fopen(p, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    clg_tensor_set *s = NULL;
    clg_status st = clg_checkpoint_load(ctx, dir_in, &s);
    if (st != CLG_OK) {
        if (s || !clg_ctx_error(ctx)[0])
            abort();
        return 0;
    }
    clg_rng r;
    const char *rng = clg_tensor_set_get_meta(s, "rng");
    if (rng && clg_rng_from_string(ctx, rng, &r) == CLG_OK) {
        char back[65];
        clg_rng_to_string(&r, back);
        if (strcmp(back, rng) != 0 && strlen(rng) == 64) {
            /* hex case may differ; the state must still round-trip */
            clg_rng r2;
            if (clg_rng_from_string(ctx, back, &r2) != CLG_OK || memcmp(&r, &r2, sizeof r))
                abort();
        }
    }
    /* Save and load again: the same tensors, bytes and metadata. */
    if (clg_checkpoint_save(ctx, dir_out, s) != CLG_OK)
        abort();
    clg_tensor_set *t = NULL;
    if (clg_checkpoint_load(ctx, dir_out, &t) != CLG_OK || t->n != s->n || t->n_meta != s->n_meta)
        abort();
    for (int i = 0; i < s->n; i++) {
        int j = clg_tensor_set_find(t, s->t[i].name);
        if (j < 0 || t->t[j].dtype != s->t[i].dtype || t->t[j].bytes != s->t[i].bytes ||
            !clg_shape_equal(&t->t[j].shape, &s->t[i].shape) ||
            memcmp(t->t[j].data, s->t[i].data, s->t[i].bytes) != 0)
            abort();
    }
    for (int i = 0; i < s->n_meta; i++) {
        const char *v = clg_tensor_set_get_meta(t, s->meta_key[i]);
        if (!v || strcmp(v, s->meta_val[i]) != 0)
            abort();
    }
    clg_tensor_set_free(t);
    clg_tensor_set_free(s);
    return 0;
}
