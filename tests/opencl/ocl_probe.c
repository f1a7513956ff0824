/* Helper process for test_opencl_backend: opens device 0 of the backend at
 * argv[1], prints the backend's note on where the program came from (or the
 * error), optionally runs one matmul and one add (argv[2] == "run") and
 * closes. The cache and profiling tests need a fresh process each time. */
#include <clgrad/backend.h>

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static int run_ops(const clg_backend *bk, clg_bk_device *dev)
{
    clg_bk_buffer *buf;
    if (bk->alloc(dev, 4096, &buf) != CLG_OK)
        return 1;
    float a[16];
    for (int i = 0; i < 16; i++)
        a[i] = (float)i;
    int rc = bk->write(dev, buf, 0, a, sizeof a) != CLG_OK;
    clg_bk_op op = {0};
    op.op = CLG_OP_MATMUL;
    op.n_in = 2;
    for (int i = 0; i < 2; i++)
        op.in[i] = (clg_bk_tensor){CLG_F32, 3, {1, 4, 4}, buf, 0};
    op.out = (clg_bk_tensor){CLG_F32, 3, {1, 4, 4}, buf, 256};
    rc |= bk->exec(dev, &op) != CLG_OK;
    op.op = CLG_OP_ADD;
    op.out.offset = 512;
    rc |= bk->exec(dev, &op) != CLG_OK;
    float out[16];
    rc |= bk->read(dev, buf, 256, out, sizeof out) != CLG_OK;
    bk->free(dev, buf);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ocl_probe BACKEND.so [run]\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "ocl_probe: %s\n", dlerror());
        return 2;
    }
    const clg_backend *(*entry)(void);
    *(void **)&entry = dlsym(h, CLG_BACKEND_ENTRY_SYMBOL);
    const clg_backend *bk = entry ? entry() : NULL;
    if (!bk) {
        fprintf(stderr, "ocl_probe: no entry in %s\n", argv[1]);
        dlclose(h);
        return 2;
    }
    clg_bk_device *dev;
    if (bk->open(0, &dev) != CLG_OK) {
        printf("open failed: %s\n", bk->last_error(NULL));
        dlclose(h);
        return 1;
    }
    printf("%s\n", bk->last_error(dev));
    int rc = 0;
    if (argc > 2 && !strcmp(argv[2], "run")) {
        rc = run_ops(bk, dev);
        if (rc)
            printf("run failed: %s\n", bk->last_error(dev));
    }
    fflush(stdout);
    bk->close(dev);
    dlclose(h);
    return rc;
}
