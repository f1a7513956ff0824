/* The fuzz build links only the parsers and the context, not the device
 * layer: the store functions safetensors.c references are stubbed out here
 * (the harnesses never call the store <-> file paths). */
#include <clgrad/clgrad.h>

clg_device *clg_store_device(const clg_store *st) { (void)st; return NULL; }
clg_ctx *clg_device_ctx(const clg_device *dev) { (void)dev; return NULL; }
int clg_store_count(const clg_store *st) { (void)st; return 0; }
int clg_store_find(const clg_store *st, const char *name) { (void)st; (void)name; return -1; }
const char *clg_store_name(const clg_store *st, int i) { (void)st; (void)i; return ""; }
clg_dtype clg_store_dtype(const clg_store *st, int i) { (void)st; (void)i; return CLG_F32; }
clg_shape clg_store_shape(const clg_store *st, int i)
{
    (void)st;
    (void)i;
    return (clg_shape){ 0 };
}
clg_status clg_store_read(clg_store *st, const char *name, void *dst, size_t bytes)
{
    (void)st; (void)name; (void)dst; (void)bytes;
    return CLG_ERR_INVALID;
}
clg_status clg_store_write(clg_store *st, const char *name, const void *src, size_t bytes)
{
    (void)st; (void)name; (void)src; (void)bytes;
    return CLG_ERR_INVALID;
}
