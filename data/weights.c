/* Weights-only files and loading into an empty store: what an inference
 * program needs. A weights file holds the store's PARAMETER and BUFFER
 * tensors (PyTorch's state_dict(): no optimizer state) and names the
 * buffers in its metadata, so a load into an empty store restores the
 * kinds too. */
#include <clgrad/data.h>

#include <stdlib.h>
#include <string.h>

#define BUFFERS_KEY "clgrad.buffers"

static clg_ctx *ctx_of(clg_store *st) { return clg_device_ctx(clg_store_device(st)); }

clg_status clg_store_save_weights(clg_store *st, const char *path)
{
    if (!st || !path)
        return CLG_ERR_INVALID;
    clg_ctx *ctx = ctx_of(st);
    int n = clg_store_count(st), k = 0;
    const char **names = calloc((size_t)(n ? n : 1), sizeof *names);
    size_t blen = 1;
    for (int i = 0; i < n; i++)
        blen += strlen(clg_store_name(st, i)) + 1;
    char *buffers = malloc(blen);
    clg_tensor_set *s = clg_tensor_set_new();
    clg_status rc = CLG_OK;
    if (!names || !buffers || !s) {
        rc = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    buffers[0] = '\0';
    for (int i = 0; i < n; i++) {
        clg_tensor_kind kind = clg_store_kind(st, i);
        if (kind == CLG_TENSOR_STATE)
            continue;
        names[k++] = clg_store_name(st, i);
        if (kind == CLG_TENSOR_BUFFER) {
            if (buffers[0])
                strcat(buffers, ",");
            strcat(buffers, clg_store_name(st, i));
        }
    }
    if (k == 0) {
        rc = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                               "%s: the store has no parameters or buffers to save", path);
        goto out;
    }
    rc = clg_tensor_set_from_store(s, st, names, k);
    if (rc == CLG_OK && buffers[0])
        rc = clg_tensor_set_meta(ctx, s, BUFFERS_KEY, buffers);
    if (rc == CLG_OK)
        rc = clg_safetensors_write(ctx, path, s);
out:
    clg_tensor_set_free(s);
    free(buffers);
    free(names);
    return rc;
}

static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

clg_status clg_store_load_all(clg_store *st, const char *path)
{
    if (!st || !path)
        return CLG_ERR_INVALID;
    clg_ctx *ctx = ctx_of(st);
    clg_tensor_set *s;
    clg_status rc = clg_safetensors_read(ctx, path, &s);
    if (rc != CLG_OK)
        return rc;
    /* Check the tensors the store has before changing anything. */
    for (int i = 0; i < s->n && rc == CLG_OK; i++) {
        const clg_named_tensor *t = &s->t[i];
        int k = clg_store_find(st, t->name);
        if (k < 0)
            continue;
        clg_shape ms = clg_store_shape(st, k);
        char a[160], b[160];
        if (!clg_shape_equal(&ms, &t->shape) || clg_store_dtype(st, k) != t->dtype)
            rc = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                   "%s: tensor '%s' is %s %s in the file but %s %s in the store",
                                   path, t->name, clg_dtype_name(t->dtype),
                                   clg_shape_str(&t->shape, a, sizeof a),
                                   clg_dtype_name(clg_store_dtype(st, k)),
                                   clg_shape_str(&ms, b, sizeof b));
    }
    const char *buffers = clg_tensor_set_get_meta(s, BUFFERS_KEY);
    for (int i = 0; i < s->n && rc == CLG_OK; i++) {
        const clg_named_tensor *t = &s->t[i];
        if (clg_store_find(st, t->name) >= 0) {
            rc = clg_store_write(st, t->name, t->data, t->bytes);
            continue;
        }
        rc = clg_store_add(st, t->name, t->dtype, &t->shape, t->data);
        if (rc == CLG_OK && in_list(buffers, t->name))
            rc = clg_store_set_kind(st, t->name, CLG_TENSOR_BUFFER);
    }
    clg_tensor_set_free(s);
    return rc;
}
