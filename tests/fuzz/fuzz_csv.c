/* libFuzzer harness for the CSV parser. The first byte picks the options
 * (header mode, target column, classes) so every code path is reachable. */
#include <clgrad/data.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static clg_ctx *ctx;
    if (!ctx)
        ctx = clg_ctx_new();
    if (size < 1)
        return 0;
    clg_csv_opts o = clg_csv_opts_default();
    uint8_t sel = data[0];
    o.header = (int)(sel % 3) - 1;
    o.target_index = (int)((sel >> 2) % 4) - 2;
    o.classes = (sel & 0x10) ? 1 + (sel >> 5) : 0;
    if ((sel & 0xe0) == 0xe0)
        o.target_name = "y";
    clg_dataset *ds = NULL;
    clg_status st = clg_csv_parse(ctx, "fuzz.csv", (const char *)data + 1, size - 1, &o, &ds);
    if (st == CLG_OK) {
        /* What a successful parse promises. */
        if (!ds || ds->n < 1 || ds->n_features < 1)
            abort();
        for (int64_t i = 0; ds->labels && i < ds->n; i++)
            if (ds->labels[i] < 0 || ds->labels[i] >= ds->classes)
                abort();
    } else if (ds || !clg_ctx_error(ctx)[0]) {
        abort();
    }
    clg_dataset_free(ds);
    return 0;
}
