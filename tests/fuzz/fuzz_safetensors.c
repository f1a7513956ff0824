/* libFuzzer harness for safetensors files (json-c header parsing, offsets,
 * dtype conversion). */
#include <clgrad/data.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static clg_ctx *ctx;
    if (!ctx)
        ctx = clg_ctx_new();
    clg_tensor_set *s = NULL;
    clg_status st = clg_safetensors_parse(ctx, "fuzz.safetensors", data, size, &s);
    if (st == CLG_OK) {
        for (int i = 0; i < s->n; i++) {
            const clg_named_tensor *t = &s->t[i];
            if ((int64_t)t->bytes != clg_shape_numel(&t->shape) * 4)
                abort();
            volatile unsigned char sink = 0;
            for (size_t k = 0; k < t->bytes; k++)
                sink ^= ((const unsigned char *)t->data)[k];
            (void)sink;
            if (clg_tensor_set_find(s, t->name) != i)
                abort();
        }
    } else if (s || !clg_ctx_error(ctx)[0]) {
        abort();
    }
    clg_tensor_set_free(s);
    return 0;
}
