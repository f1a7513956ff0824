/* libFuzzer harness for IDX files, plain or gzipped (zlib inflate). */
#include <clgrad/data.h>

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static clg_ctx *ctx;
    if (!ctx)
        ctx = clg_ctx_new();
    clg_idx *x = NULL;
    clg_status st = clg_idx_parse(ctx, "fuzz.idx", data, size, &x);
    if (st == CLG_OK) {
        int64_t n = 1;
        for (int d = 0; d < x->ndim; d++)
            n *= x->dim[d];
        if (n != x->numel)
            abort();
        volatile float sink = 0;
        for (int64_t i = 0; i < x->numel; i++)
            sink += x->data[i]; /* every element was written */
        (void)sink;
    } else if (x || !clg_ctx_error(ctx)[0]) {
        abort();
    }
    clg_idx_free(x);
    return 0;
}
