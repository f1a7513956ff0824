/* --data text:PATH[,seq=T]: byte-level language-model data (vocabulary
 * 256); the test set is the last --val-split fraction (default 0.1) of the
 * samples in file order. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

clg_status cli_text_load(clg_ctx *ctx, const char *spec, const cli_opts *o, cli_data *d)
{
    char path[4096];
    const char *rest = spec + 5; /* "text:" */
    long long seq = 64;
    const char *opt = strstr(rest, ",seq=");
    size_t pl = opt ? (size_t)(opt - rest) : strlen(rest);
    if (pl == 0 || pl >= sizeof path)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--data %s: needs a path (text:PATH[,seq=T])",
                                 spec);
    memcpy(path, rest, pl);
    path[pl] = '\0';
    if (opt) {
        char *end;
        errno = 0;
        seq = strtoll(opt + 5, &end, 10);
        if (end == opt + 5 || *end || errno || seq < 1 || seq > (1 << 20))
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "--data %s: seq=%s is not an integer in 1..%d", spec, opt + 5,
                                     1 << 20);
    }
    double frac = o->val_split > 0 ? o->val_split : 0.1;
    clg_status st = clg_dataset_text(ctx, path, seq, frac, &d->train, &d->test);
    if (st == CLG_OK)
        snprintf(d->test_name, sizeof d->test_name, "val");
    return st;
}
