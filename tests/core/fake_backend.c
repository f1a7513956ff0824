/* Deliberately broken (or empty) backend modules for the loader suite, one
 * source built several times with FAKE_MODE:
 *   1 abi_major = CLG_BACKEND_ABI_MAJOR + 1     (must be refused: CLG_ERR_ABI)
 *   2 abi_minor = CLG_BACKEND_ABI_MINOR + 1     (newer than the core: CLG_ERR_ABI)
 *   3 no CLG_BACKEND_ENTRY_SYMBOL at all        (CLG_ERR_LOAD)
 *   4 a valid descriptor with no devices, found only through
 *     CLGRAD_PLUGIN_PATH (it lives in tests/core's build dir)
 *   5 a module built against ABI 1.0 (its descriptor laid out as 1.0 had
 *     it: no op_table_version)                (CLG_ERR_ABI, naming 1.0 and 2.0)
 *   6 ABI 2 without the required supports slot (CLG_ERR_LOAD) */
#include <clgrad/backend.h>

#ifndef FAKE_MODE
#error "define FAKE_MODE"
#endif

static const char *fake_last_error(clg_bk_device *dev)
{
    (void)dev;
    return "testnull: this test backend has no devices";
}

static int fake_device_count(void) { return 0; }

static clg_status fake_device_info(int index, clg_device_info *out)
{
    (void)index;
    (void)out;
    return CLG_ERR_INVALID;
}

static clg_status fake_open(int index, clg_bk_device **out)
{
    (void)index;
    *out = NULL;
    return CLG_ERR_INVALID;
}

static void fake_close(clg_bk_device *dev) { (void)dev; }

static clg_status fake_alloc(clg_bk_device *dev, size_t bytes, clg_bk_buffer **out)
{
    (void)dev;
    (void)bytes;
    *out = NULL;
    return CLG_ERR_UNSUPPORTED;
}

static void fake_free(clg_bk_device *dev, clg_bk_buffer *buf)
{
    (void)dev;
    (void)buf;
}

static clg_status fake_write(clg_bk_device *dev, clg_bk_buffer *dst, size_t offset,
                             const void *src, size_t bytes)
{
    (void)dev, (void)dst, (void)offset, (void)src, (void)bytes;
    return CLG_ERR_UNSUPPORTED;
}

static clg_status fake_read(clg_bk_device *dev, clg_bk_buffer *src, size_t offset, void *dst,
                            size_t bytes)
{
    (void)dev, (void)src, (void)offset, (void)dst, (void)bytes;
    return CLG_ERR_UNSUPPORTED;
}

static clg_status fake_copy(clg_bk_device *dev, clg_bk_buffer *src, size_t so, clg_bk_buffer *dst,
                            size_t dof, size_t bytes)
{
    (void)dev, (void)src, (void)so, (void)dst, (void)dof, (void)bytes;
    return CLG_ERR_UNSUPPORTED;
}

static clg_status fake_exec(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev, (void)op;
    return CLG_ERR_UNSUPPORTED;
}

static clg_status fake_sync(clg_bk_device *dev)
{
    (void)dev;
    return CLG_OK;
}

#if FAKE_MODE == 5
/* ABI 1.0's descriptor: the four header fields, then 14 slots. */
static const struct {
    uint32_t abi_major, abi_minor;
    size_t struct_size;
    const char *name;
    void (*slots[14])(void);
} abi1 = { 1, 0, sizeof abi1, "testnull",
            { (void (*)(void))fake_device_count, (void (*)(void))fake_device_info,
              (void (*)(void))fake_open, (void (*)(void))fake_close,
              (void (*)(void))fake_alloc, (void (*)(void))fake_free,
              (void (*)(void))fake_write, (void (*)(void))fake_read,
              (void (*)(void))fake_copy, NULL, (void (*)(void))fake_exec, NULL,
              (void (*)(void))fake_sync, (void (*)(void))fake_last_error } };
CLG_BACKEND_EXPORT const void *clg_backend_entry(void);
CLG_BACKEND_EXPORT const void *clg_backend_entry(void) { return &abi1; }
#else
static int fake_supports(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    (void)op;
    return 0;
}

static const clg_backend fake = {
    .abi_major = CLG_BACKEND_ABI_MAJOR + (FAKE_MODE == 1),
    .abi_minor = CLG_BACKEND_ABI_MINOR + (FAKE_MODE == 2),
    .struct_size = sizeof(clg_backend),
    .name = "testnull",
    .op_table_version = CLG_OP_TABLE_VERSION,
    .device_count = fake_device_count,
    .device_info = fake_device_info,
    .open = fake_open,
    .close = fake_close,
    .alloc = fake_alloc,
    .free = fake_free,
    .write = fake_write,
    .read = fake_read,
    .copy = fake_copy,
    .supports = FAKE_MODE == 6 ? NULL : fake_supports,
    .exec = fake_exec,
    .sync = fake_sync,
    .last_error = fake_last_error,
};

#if FAKE_MODE == 3
/* Exported under another name, so dlopen succeeds and dlsym does not. */
CLG_BACKEND_EXPORT const clg_backend *clg_backend_entry_misspelt(void) { return &fake; }
#else
CLG_BACKEND_EXPORT const clg_backend *clg_backend_entry(void);
CLG_BACKEND_EXPORT const clg_backend *clg_backend_entry(void) { return &fake; }
#endif
#endif
