/* Checkpoints: one checksummed safetensors file per directory, replaced
 * atomically (data/fileio.c), so that a run killed at any moment leaves its
 * previous checkpoint readable. */
#include "data_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *checkpoint_path(const char *dir)
{
    size_t n = strlen(dir) + sizeof(CLG_CHECKPOINT_FILE) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, CLG_CHECKPOINT_FILE);
    return p;
}

/* ---------------------------------------------------------- the checksum */
/* 64-bit, four independent lanes of 8-byte words (xxHash's round), so it
 * runs at memory speed: a checkpoint of millions of weights costs well under
 * a millisecond. It guards against damage (a flipped byte, a cut or edited
 * file), not against someone who rewrites the file and its checksum. */
#define CK_P1 0x9E3779B185EBCA87ULL
#define CK_P2 0xC2B2AE3D27D4EB4FULL

static uint64_t ck_rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t ck_mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t ck_bytes(uint64_t seed, const void *p, size_t n)
{
    const unsigned char *c = p;
    /* four lanes in four locals, so they stay in registers */
    uint64_t l0 = seed + CK_P1 + CK_P2, l1 = seed + CK_P2, l2 = seed, l3 = seed - CK_P1;
    size_t len = n;
    while (n >= 32) {
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, c, 8);
        memcpy(&w1, c + 8, 8);
        memcpy(&w2, c + 16, 8);
        memcpy(&w3, c + 24, 8);
        l0 = ck_rotl(l0 + w0 * CK_P2, 31) * CK_P1;
        l1 = ck_rotl(l1 + w1 * CK_P2, 31) * CK_P1;
        l2 = ck_rotl(l2 + w2 * CK_P2, 31) * CK_P1;
        l3 = ck_rotl(l3 + w3 * CK_P2, 31) * CK_P1;
        c += 32;
        n -= 32;
    }
    uint64_t h = ck_rotl(l0, 1) + ck_rotl(l1, 7) + ck_rotl(l2, 12) + ck_rotl(l3, 18) +
                 (uint64_t)len;
    while (n--)
        h = (h ^ *c++) * 0x100000001b3ULL;
    return ck_mix(h);
}

/* Over every tensor (name, dtype, shape, bytes) and every metadata entry
 * except the checksum itself; each entry is hashed on its own and the
 * results are summed, so the order the file lists them in does not matter. */
static uint64_t ck_set(const clg_tensor_set *s)
{
    uint64_t sum = (uint64_t)s->n * CK_P1;
    for (int i = 0; i < s->n; i++) {
        const clg_named_tensor *t = &s->t[i];
        int64_t head[3 + CLG_MAX_DIMS] = { (int64_t)t->dtype, (int64_t)t->shape.ndim,
                                           (int64_t)t->bytes };
        for (int d = 0; d < t->shape.ndim && d < CLG_MAX_DIMS; d++)
            head[3 + d] = t->shape.dim[d];
        uint64_t h = ck_bytes(1, t->name, strlen(t->name) + 1);
        h = ck_bytes(h, head, sizeof head);
        h = ck_bytes(h, t->data, t->data ? t->bytes : 0);
        sum += ck_mix(h);
    }
    for (int i = 0; i < s->n_meta; i++) {
        if (!strcmp(s->meta_key[i], CLG_CHECKPOINT_CHECKSUM_KEY))
            continue;
        uint64_t h = ck_bytes(2, s->meta_key[i], strlen(s->meta_key[i]) + 1);
        h = ck_bytes(h, s->meta_val[i], strlen(s->meta_val[i]));
        sum += ck_mix(h);
    }
    return sum;
}

/* Removes DIR/checkpoint.safetensors.tmp.PID files left by a killed writer:
 * those of a pid that no longer runs (or of this process). */
static void remove_stale_temps(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    static const char pre[] = CLG_CHECKPOINT_FILE ".tmp.";
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, pre, sizeof pre - 1))
            continue;
        char *end;
        long pid = strtol(de->d_name + sizeof pre - 1, &end, 10);
        if (*end || pid <= 0)
            continue;
        if (pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
            char *p = malloc(strlen(dir) + strlen(de->d_name) + 2);
            if (p) {
                sprintf(p, "%s/%s", dir, de->d_name);
                unlink(p);
                free(p);
            }
        }
    }
    closedir(d);
}

clg_status clg_checkpoint_save(clg_ctx *ctx, const char *dir, const clg_tensor_set *s)
{
    if (!dir || !s)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "clg_checkpoint_save: NULL argument");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: cannot create checkpoint directory: %s",
                                 dir, strerror(errno));
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "%s: not a directory", dir);
    remove_stale_temps(dir);
    char *p = checkpoint_path(dir);
    if (!p)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", dir);
    /* The same set plus (or with a fresh) checksum entry: a shallow copy
     * whose metadata arrays hold one more pointer. */
    clg_tensor_set c = *s;
    char sum[32];
    snprintf(sum, sizeof sum, "%016" PRIx64, ck_set(s));
    c.meta_key = malloc((size_t)(s->n_meta + 1) * sizeof *c.meta_key);
    c.meta_val = malloc((size_t)(s->n_meta + 1) * sizeof *c.meta_val);
    clg_status st = CLG_OK;
    if (!c.meta_key || !c.meta_val) {
        st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", dir);
    } else {
        c.n_meta = 0;
        for (int i = 0; i < s->n_meta; i++)
            if (strcmp(s->meta_key[i], CLG_CHECKPOINT_CHECKSUM_KEY)) {
                c.meta_key[c.n_meta] = s->meta_key[i];
                c.meta_val[c.n_meta++] = s->meta_val[i];
            }
        c.meta_key[c.n_meta] = (char *)CLG_CHECKPOINT_CHECKSUM_KEY;
        c.meta_val[c.n_meta++] = sum;
        c.cap_meta = c.n_meta;
        st = clg_safetensors_write(ctx, p, &c);
    }
    free(c.meta_key);
    free(c.meta_val);
    free(p);
    return st;
}

clg_status clg_checkpoint_verify(clg_ctx *ctx, const char *what, const clg_tensor_set *s)
{
    const char *stored = clg_tensor_set_get_meta(s, CLG_CHECKPOINT_CHECKSUM_KEY);
    if (!stored)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "%s: the checkpoint has no checksum (written by a clgrad older "
                                 "than checkpoint checksums, or not by clgrad), so it cannot be "
                                 "verified and is not resumed; 'clgrad eval --load' still reads "
                                 "its weights", what);
    char sum[32];
    snprintf(sum, sizeof sum, "%016" PRIx64, ck_set(s));
    if (strcmp(stored, sum))
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "%s: checksum mismatch (stored %.20s, computed %s): the file is "
                                 "damaged or was edited", what, stored, sum);
    return CLG_OK;
}

clg_status clg_checkpoint_load(clg_ctx *ctx, const char *dir, clg_tensor_set **out)
{
    *out = NULL;
    if (!dir)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "clg_checkpoint_load: NULL directory");
    char *p = checkpoint_path(dir);
    if (!p)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", dir);
    clg_status st = clg_safetensors_read(ctx, p, out);
    if (st == CLG_OK && (st = clg_checkpoint_verify(ctx, p, *out)) != CLG_OK) {
        clg_tensor_set_free(*out);
        *out = NULL;
    }
    free(p);
    return st;
}

void clg_rng_to_string(const clg_rng *r, char out[65])
{
    for (int i = 0; i < 4; i++)
        snprintf(out + 16 * i, 17, "%016" PRIx64, r->s[i]);
}

clg_status clg_rng_from_string(clg_ctx *ctx, const char *s, clg_rng *r)
{
    if (!s || strlen(s) != 64)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "rng state: expected 64 hex digits, got '%s'", s ? s : "(none)");
    clg_rng tmp;
    for (int i = 0; i < 4; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 16; k++) {
            char c = s[16 * i + k];
            int d = c >= '0' && c <= '9' ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0)
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                         "rng state: '%c' at position %d is not a hex digit", c,
                                         16 * i + k);
            v = v << 4 | (uint64_t)d;
        }
        tmp.s[i] = v;
    }
    *r = tmp;
    return CLG_OK;
}
