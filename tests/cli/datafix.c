/* See datafix.h. */
#include "datafix.h"

#include <stdio.h>
#include <stdlib.h>

clg_ctx *ctx;
char dir[256];
const char *datafix_suite = "data";

void setup(void)
{
    ctx = clg_ctx_new();
    snprintf(dir, sizeof dir, "/tmp/clgrad-test-%s-XXXXXX", datafix_suite);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    clg_ctx_free(ctx);
}

const char *path_of(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

const char *write_file(const char *name, const void *data, size_t n)
{
    const char *p = path_of(name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
    return p;
}
