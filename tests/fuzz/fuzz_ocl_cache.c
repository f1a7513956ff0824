/* libFuzzer harness for the OpenCL program cache reader (the header and
 * binary checks of backends/opencl/ocl_cache.c; no device needed). The
 * first byte picks one of a few keys the reader may be asked for. What an
 * accepted entry promises: the binary lies inside the file, ends at its
 * end, and re-encoding (key, binary) gives back the same header bytes. */
#include "ocl_cache.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {
    "",
    "k",
    "source 0123/45\noptions -DGEMM_TS=8\ndevice cpu\ndriver 5.0\nplatform OpenCL 3.0\nsalt \n",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *key = keys[data[0] % 3];
    const unsigned char *file = data + 1;
    size_t len = size - 1;
    size_t bl = 12345;
    const char *why = NULL;
    const unsigned char *bin = ocl_cache_parse(file, len, key, &bl, &why);
    if (!bin) {
        if (!why || bl != 0)
            abort();
        return 0;
    }
    if (why || bin < file || bl == 0 || bin + bl != file + len)
        abort();
    size_t hl = OCL_CACHE_HEADER_LEN(strlen(key));
    unsigned char *hdr = malloc(hl);
    if (!hdr || ocl_cache_header(hdr, key, bin, bl) != hl || (size_t)(bin - file) != hl ||
        memcmp(hdr, file, hl) != 0)
        abort();
    free(hdr);
    return 0;
}
