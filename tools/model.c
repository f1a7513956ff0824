/* --model: a preset, a pipeline of layers joined by '>', or @FILE (one layer
 * per line, '#' comments). A value without '>' is a preset. Presets expand
 * to pipelines: `linear` and `mlp:H1,H2,...` build the nn.Sequential they
 * always did (Linear at even indices, activations between: 0.weight,
 * 2.weight, ...) on the input flattened as a view. Layers are numbered from
 * 0, activations included, as nn.Sequential numbers its children, and the
 * index prefixes their tensor names. */
#include "layers.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const act_names[] = { "relu", "tanh", "sigmoid", "gelu" };
static const char *const out_names[] = { "none", "sigmoid", "softmax", "log_softmax" };
static const char *const out_layers[] = { NULL, "sigmoid", "softmax", "logsoftmax" };
#define KNOWN_MODELS "presets linear[:out=...], mlp:H1,H2,...[,act=relu|tanh|sigmoid|gelu]" \
                     "[,out=sigmoid|softmax|log_softmax], cnn:C1,C2,...[,fc=H][,bn=1][,dropout=P], " \
                     "lstm:H[,layers=L,dim=D], transformer:d=D,heads=H,layers=L[,ff=F,seq=T]; or a pipeline of layers joined by '>' " \
                     "(see clgrad layers); or @FILE"
#define MAX_SPEC (1 << 20)
#define W(n) ((n) > 40 ? 40 : (int)(n)) /* a quoted word, cut short */

/* Index of the n-byte word w in names[count], or -1. */
static int word_index(const char *const *names, int count, const char *w, size_t n)
{
    for (int i = 0; i < count; i++)
        if (strlen(names[i]) == n && strncmp(w, names[i], n) == 0)
            return i;
    return -1;
}

static void append(char *buf, size_t cap, size_t *used, const char *s)
{
    size_t n = strlen(s);
    if (*used + n < cap) {
        memcpy(buf + *used, s, n + 1);
        *used += n;
    }
}

/* Expands "linear[:out=...]" or "mlp:..." into pipeline text. */
static clg_status expand_mlp(clg_ctx *ctx, const char *spec, char *out, size_t cap)
{
    /* Messages quote the spec and the bad word, both cut short. */
    const char *sp = cli_short(spec);
    int linear = strcmp(spec, "linear") == 0 || strncmp(spec, "linear:", 7) == 0;
    if (!linear && strncmp(spec, "mlp:", 4) != 0) {
        size_t n = strcspn(spec, ":");
        if (cli_layer_find(spec, n) >= 0)
            return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND,
                                     "--model %s: '%.*s' is a layer, not a preset: a value "
                                     "without '>' names a preset; write a pipeline as "
                                     "'layer > layer > ...' (a lone layer as '%s >')",
                                     sp, W(n), spec, sp);
        return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND, "--model %s: unknown model '%.*s' (known: %s)",
                                 sp, W(n), spec, KNOWN_MODELS);
    }
    int64_t hidden[64];
    int n_hidden = 0, act = 0, outl = 0;
    const char *p = spec + (linear ? (spec[6] ? 7 : 6) : 4);
    while (*p) {
        size_t n = strcspn(p, ",");
        if (strncmp(p, "act=", 4) == 0 && !linear) {
            act = word_index(act_names, 4, p + 4, n - 4);
            if (act < 0)
                return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND,
                                         "--model %s: unknown activation '%.*s' (known: relu, tanh, "
                                         "sigmoid, gelu)", sp, W(n - 4), p + 4);
        } else if (strncmp(p, "out=", 4) == 0) {
            outl = word_index(out_names, 4, p + 4, n - 4);
            if (outl < 0)
                return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND,
                                         "--model %s: unknown output layer '%.*s' (known: none, "
                                         "sigmoid, softmax, log_softmax)", sp, W(n - 4), p + 4);
        } else if (linear) {
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "--model %s: linear takes only out=... (got '%.*s')", sp,
                                     W(n), p);
        } else {
            char *end;
            errno = 0;
            long long h = strtoll(p, &end, 10);
            if (end == p || end != p + n)
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                         "--model %s: hidden size '%.*s' is not a positive integer",
                                         sp, W(n), p);
            if (errno == ERANGE || h <= 0 || h > (1 << 24))
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                         "--model %s: hidden size '%.*s' is out of range: must be %s",
                                         sp, W(n), p, h <= 0 && errno != ERANGE ? "at least 1"
                                                                              : "at most 16777216");
            if (n_hidden == 64)
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model %s: at most %d hidden layers",
                                         sp, 64);
            hidden[n_hidden++] = h;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (n_hidden == 0 && !linear)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "--model %s: mlp needs at least one hidden size (mlp:H1,H2,...)", sp);
    size_t used = 0;
    out[0] = '\0';
    char part[64];
    for (int i = 0; i < n_hidden; i++) {
        snprintf(part, sizeof part, "linear:out=%lld > %s > ", (long long)hidden[i], act_names[act]);
        append(out, cap, &used, part);
    }
    append(out, cap, &used, "linear");
    if (outl > 0) {
        append(out, cap, &used, " > ");
        append(out, cap, &used, out_layers[outl]);
    }
    return CLG_OK;
}

/* "cnn:C1,C2,...[,fc=H][,bn=1][,dropout=P]": per channel count
 * conv2d:out=C,k=3 > [batchnorm >] relu > maxpool2d:k=2, then
 * flatten > [dropout:p=P >] [linear:out=H > relu >] linear. */
static clg_status expand_cnn(clg_ctx *ctx, const char *spec, char *out, size_t cap)
{
    long long chans[32], fc = 0;
    char drop[32] = "";
    int bn = 0, n = 0;
    const char *p = spec[3] ? spec + 4 : spec + 3;
    while (*p) {
        size_t len = strcspn(p, ",");
        char item[32];
        if (len >= sizeof item)
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model %s: '%.*s' is too long", spec,
                                     (int)(len > 40 ? 40 : len), p);
        memcpy(item, p, len);
        item[len] = '\0';
        char *end;
        if (!strncmp(item, "fc=", 3)) {
            fc = strtoll(item + 3, &end, 10);
            if (end == item + 3 || *end || fc < 1 || fc > (1 << 24))
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model %s: fc=%s is not a positive "
                                         "integer", cli_short(spec), item + 3);
        } else if (!strncmp(item, "bn=", 3)) {
            if (strcmp(item + 3, "0") && strcmp(item + 3, "1"))
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model %s: bn=%s is not 0 or 1",
                                         spec, item + 3);
            bn = item[3] == '1';
        } else if (!strncmp(item, "dropout=", 8)) {
            double d = strtod(item + 8, &end);
            if (end == item + 8 || *end || !(d >= 0 && d < 1))
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model %s: dropout=%s is not in "
                                         "[0, 1)", cli_short(spec), item + 8);
            memcpy(drop, item + 8, strlen(item + 8) + 1);
        } else {
            long long c = strtoll(item, &end, 10);
            if (end == item || *end || c < 1 || c > (1 << 20))
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                         "--model %s: channel count '%s' is not a positive integer "
                                         "(cnn:C1,C2,...[,fc=H][,bn=1][,dropout=P])", cli_short(spec), item);
            if (n == 32)
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model %s: at most 32 convolutions",
                                         cli_short(spec));
            chans[n++] = c;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    if (!n)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "--model %s: cnn needs at least one channel count "
                                 "(cnn:C1,C2,...[,fc=H][,bn=1][,dropout=P])", cli_short(spec));
    size_t used = 0;
    char part[160];
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        snprintf(part, sizeof part, "conv2d:out=%lld,k=3 > %srelu > maxpool2d:k=2 > ", chans[i],
                 bn ? "batchnorm > " : "");
        append(out, cap, &used, part);
    }
    append(out, cap, &used, "flatten > ");
    if (drop[0]) {
        snprintf(part, sizeof part, "dropout:p=%s > ", drop);
        append(out, cap, &used, part);
    }
    if (fc) {
        snprintf(part, sizeof part, "linear:out=%lld > relu > ", fc);
        append(out, cap, &used, part);
    }
    append(out, cap, &used, "linear");
    return CLG_OK;
}

/* The value of "key=" in a preset's comma list, or def. */
static long long preset_int(const char *list, const char *key, long long def, int *bad)
{
    size_t kl = strlen(key);
    for (const char *p = list; p && *p;) {
        if (!strncmp(p, key, kl) && p[kl] == '=') {
            char *end;
            long long v = strtoll(p + kl + 1, &end, 10);
            if (end == p + kl + 1 || (*end && *end != ',') || v < 1 || v > (1 << 24))
                *bad = 1;
            return v;
        }
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return def;
}

/* "lstm:H[,layers=L,dim=D]" and "transformer:d=D,heads=H,layers=L[,ff=F,seq=T]". */
static clg_status expand_seq(clg_ctx *ctx, const char *spec, char *out, size_t cap)
{
    int bad = 0;
    if (!strncmp(spec, "lstm:", 5)) {
        const char *p = spec + 5;
        char *end;
        long long h = strtoll(p, &end, 10);
        if (end == p || (*end && *end != ',') || h < 1 || h > (1 << 16))
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model %s: hidden size '%.*s' is not "
                                     "a positive integer (lstm:H[,layers=L,dim=D])", cli_short(spec),
                                     (int)strcspn(p, ","), p);
        const char *rest = *end ? end + 1 : end;
        long long l = preset_int(rest, "layers", 1, &bad), d = preset_int(rest, "dim", 64, &bad);
        for (const char *q = rest; *q;) {
            size_t n = strcspn(q, ",");
            if (strncmp(q, "layers=", 7) && strncmp(q, "dim=", 4))
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model %s: unknown key '%.*s' "
                                         "(lstm:H[,layers=L,dim=D])", cli_short(spec), W(n), q);
            q += n + (q[n] == ',');
        }
        if (bad)
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model %s: layers and dim must be "
                                     "positive integers", cli_short(spec));
        snprintf(out, cap, "embedding:dim=%lld > lstm:hidden=%lld,layers=%lld > linear", d, h, l);
        return CLG_OK;
    }
    const char *rest = spec + 12; /* "transformer:" */
    for (const char *q = rest; *q;) {
        size_t n = strcspn(q, ",");
        if (strncmp(q, "d=", 2) && strncmp(q, "heads=", 6) && strncmp(q, "layers=", 7) &&
            strncmp(q, "ff=", 3) && strncmp(q, "seq=", 4))
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model %s: unknown key '%.*s' "
                                     "(transformer:d=D,heads=H,layers=L[,ff=F,seq=T])", cli_short(spec), W(n), q);
        q += n + (q[n] == ',');
    }
    long long d = preset_int(rest, "d", 0, &bad), h = preset_int(rest, "heads", 0, &bad);
    long long l = preset_int(rest, "layers", 0, &bad);
    long long ff = preset_int(rest, "ff", 4 * (d > 0 ? d : 1), &bad), t = preset_int(rest, "seq", 64, &bad);
    if (bad || !d || !h || !l)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model %s: needs positive d=, heads= and "
                                 "layers= (ff= and seq= positive if given)", cli_short(spec));
    if (l > 48)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model %s: at most 48 layers", cli_short(spec));
    size_t used = 0;
    char part[160];
    out[0] = '\0';
    snprintf(part, sizeof part, "embedding:dim=%lld > posembedding:max=%lld > ", d, t);
    append(out, cap, &used, part);
    for (long long i = 0; i < l; i++) {
        snprintf(part, sizeof part, "transformer:heads=%lld,ff=%lld,causal=1 > ", h, ff);
        append(out, cap, &used, part);
    }
    append(out, cap, &used, "layernorm > linear");
    return CLG_OK;
}

/* Parses one value of key k into L. */
static clg_status parse_value(clg_ctx *ctx, const cli_layer_def *d, const cli_key_def *k,
                              const char *v, size_t n, cli_layer *L, int idx, int ki)
{
    char val[128];
    if (n >= sizeof val || n == 0)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model: layer %d (%s): %s %s '%.*s'",
                                 idx, L->spec, n ? "value too long for" : "empty value for", k->name,
                                 (int)(n > 40 ? 40 : n), v);
    memcpy(val, v, n);
    val[n] = '\0';
    char *end;
    switch (k->type) {
    case CLI_KEY_INT:
    case CLI_KEY_FLOAT: {
        errno = 0;
        double x = strtod(val, &end);
        int bad = *end || errno || !isfinite(x) || (k->type == CLI_KEY_INT && x != floor(x));
        int lo_bad = (k->open & CLI_OPEN_LO) ? !(x > k->lo) : !(x >= k->lo);
        int hi_bad = (k->open & CLI_OPEN_HI) ? !(x < k->hi) : !(x <= k->hi);
        if (bad || lo_bad || hi_bad)
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "--model: layer %d (%s): %s=%s is not %s in %s%g..%g%s", idx,
                                     L->spec, k->name, val,
                                     k->type == CLI_KEY_INT ? "an integer" : "a number",
                                     k->open & CLI_OPEN_LO ? "(" : "[", k->lo, k->hi,
                                     k->open & CLI_OPEN_HI ? ")" : "]");
        L->v[ki] = x;
        return CLG_OK;
    }
    case CLI_KEY_BOOL:
        if (!strcmp(val, "1") || !strcmp(val, "true"))
            L->v[ki] = 1;
        else if (!strcmp(val, "0") || !strcmp(val, "false"))
            L->v[ki] = 0;
        else
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "--model: layer %d (%s): %s=%s is not 0, 1, true or false", idx,
                                     L->spec, k->name, val);
        return CLG_OK;
    case CLI_KEY_ENUM: {
        const char *c = k->choices;
        for (int i = 0; *c; i++) {
            size_t cn = strcspn(c, "|");
            if (cn == n && !strncmp(c, val, n)) {
                L->v[ki] = i;
                return CLG_OK;
            }
            c += cn;
            if (*c == '|')
                c++;
        }
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model: layer %d (%s): %s=%s is not one of %s",
                                 idx, L->spec, k->name, val, k->choices);
    }
    case CLI_KEY_LIST: {
        L->n_list = 0;
        const char *p = val;
        int frees = 0;
        while (1) {
            errno = 0;
            long long x = strtoll(p, &end, 10);
            if (end == p || (*end && *end != '/') || errno || (x < 1 && x != -1) || x > (1LL << 40) ||
                L->n_list == CLG_MAX_DIMS - 1 || (x == -1 && frees++))
                return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                         "--model: layer %d (%s): %s=%s is not a list of at most %d "
                                         "positive integers joined by '/' (one may be -1)",
                                         idx, L->spec, k->name, val, CLG_MAX_DIMS - 1);
            L->list[L->n_list++] = x;
            if (!*end)
                break;
            p = end + 1;
        }
        return CLG_OK;
    }
    }
    (void)d;
    return CLG_OK;
}

/* Parses "NAME[:k=v,...]" (trimmed, n bytes) as layer idx. */
static clg_status parse_layer(clg_ctx *ctx, const char *s, size_t n, int idx, cli_layer *L)
{
    memset(L, 0, sizeof *L);
    snprintf(L->spec, sizeof L->spec, "%.*s", (int)(n < sizeof L->spec ? n : sizeof L->spec - 1), s);
    size_t nn = 0;
    while (nn < n && s[nn] != ':')
        nn++;
    int di = cli_layer_find(s, nn);
    if (di < 0) {
        char known[1024] = "";
        size_t used = 0;
        for (int k = 0; k < cli_layer_def_count && used < sizeof known; k++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", k ? ", " : "",
                                     cli_layer_defs[k].name);
        return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND,
                                 "--model: layer %d (%s): unknown layer '%.*s' (known: %s)", idx,
                                 L->spec, (int)(nn > 60 ? 60 : nn), s, known);
    }
    const cli_layer_def *d = &cli_layer_defs[di];
    L->def = di;
    int nk = cli_layer_key_count(d);
    const char *p = s + nn + (nn < n ? 1 : 0), *end = s + n;
    while (p < end) {
        const char *q = p;
        while (q < end && *q != ',')
            q++;
        const char *eq = memchr(p, '=', (size_t)(q - p));
        if (!eq)
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "--model: layer %d (%s): '%.*s' is not key=value", idx, L->spec,
                                     (int)(q - p > 60 ? 60 : q - p), p);
        int ki = -1;
        for (int k = 0; k < nk; k++)
            if (strlen(d->keys[k].name) == (size_t)(eq - p) && !strncmp(d->keys[k].name, p, (size_t)(eq - p)))
                ki = k;
        if (ki < 0) {
            char keys[256] = "";
            size_t used = 0;
            for (int k = 0; k < nk && used < sizeof keys; k++)
                used += (size_t)snprintf(keys + used, sizeof keys - used, "%s%s", k ? ", " : "",
                                         d->keys[k].name);
            return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND,
                                     "--model: layer %d (%s): %s has no key '%.*s' (keys: %s)", idx,
                                     L->spec, d->name, (int)(eq - p > 60 ? 60 : eq - p), p,
                                     nk ? keys : "none");
        }
        if (L->given & (1u << ki))
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model: layer %d (%s): key %s given twice",
                                     idx, L->spec, d->keys[ki].name);
        clg_status st = parse_value(ctx, d, &d->keys[ki], eq + 1, (size_t)(q - eq - 1), L, idx, ki);
        if (st != CLG_OK)
            return st;
        L->given |= 1u << ki;
        p = q < end ? q + 1 : q;
    }
    for (int k = 0; k < nk; k++) {
        const cli_key_def *kd = &d->keys[k];
        if (L->given & (1u << k))
            continue;
        if (kd->def && *kd->def) {
            clg_status st = parse_value(ctx, d, kd, kd->def, strlen(kd->def), L, idx, k);
            if (st != CLG_OK)
                return st;
        } else if (!kd->def) {
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model: layer %d (%s): %s needs %s=",
                                     idx, L->spec, d->name, kd->name);
        }
    }
    return CLG_OK;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parses pipeline text: layers joined by '>' (a trailing '>' ends it). */
static clg_status parse_pipeline(clg_ctx *ctx, const char *text, cli_model *m)
{
    const char *p = text;
    while (1) {
        const char *q = p + strcspn(p, ">");
        const char *a = p, *b = q;
        while (a < b && is_space(*a))
            a++;
        while (b > a && is_space(b[-1]))
            b--;
        if (a == b) {
            if (!*q && m->n > 0)
                break; /* "relu >" : a trailing '>' */
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                     "--model: layer %d is empty (two '>' in a row, or nothing "
                                     "before the first)", m->n);
        }
        if (m->n == CLI_MAX_PIPE)
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model: more than %d layers",
                                     CLI_MAX_PIPE);
        clg_status st = parse_layer(ctx, a, (size_t)(b - a), m->n, &m->layer[m->n]);
        if (st != CLG_OK)
            return st;
        m->n++;
        if (!*q)
            break;
        p = q + 1;
    }
    return CLG_OK;
}

/* @FILE: one layer per line ('>' between them optional), '#' comments. */
static clg_status read_model_file(clg_ctx *ctx, const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "--model @%s: cannot open: %s", path, strerror(errno));
    char *raw = malloc(MAX_SPEC + 1);
    size_t n = raw ? fread(raw, 1, MAX_SPEC + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!raw)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "--model @%s: out of memory", path);
    if (bad || n > MAX_SPEC) {
        free(raw);
        return clg_ctx_set_error(ctx, CLG_ERR_IO, "--model @%s: %s", path,
                                 bad ? "read error" : "longer than 1 MiB");
    }
    raw[n] = '\0';
    if (strlen(raw) != n) {
        free(raw);
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model @%s: holds a NUL byte", path);
    }
    char *text = malloc(2 * n + 2);
    if (!text) {
        free(raw);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "--model @%s: out of memory", path);
    }
    size_t used = 0;
    for (char *line = raw; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *a = line, *b = line + strlen(line);
        while (a < b && is_space(*a))
            a++;
        while (b > a && (is_space(b[-1]) || b[-1] == '>'))
            b--;
        while (a < b && (*a == '>' || is_space(*a)))
            a++;
        if (a < b) {
            if (used)
                text[used++] = '>';
            memcpy(text + used, a, (size_t)(b - a));
            used += (size_t)(b - a);
        }
        line = nl ? nl + 1 : NULL;
    }
    text[used] = '\0';
    free(raw);
    if (!used) {
        free(text);
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model @%s: no layers in the file", path);
    }
    *out = text;
    return CLG_OK;
}

clg_status cli_model_parse(clg_ctx *ctx, const char *spec, cli_model *m)
{
    memset(m, 0, sizeof *m);
    if (!spec || !*spec)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model: empty (known: %s)", KNOWN_MODELS);
    if (spec[0] == '@') {
        char *text = NULL;
        clg_status st = read_model_file(ctx, spec + 1, &text);
        if (st == CLG_OK)
            st = parse_pipeline(ctx, text, m);
        free(text);
        return st;
    }
    if (strchr(spec, '>'))
        return parse_pipeline(ctx, spec, m);
    char text[4096];
    if (!strncmp(spec, "lstm:", 5) || !strncmp(spec, "transformer:", 12)) {
        clg_status st = expand_seq(ctx, spec, text, sizeof text);
        return st == CLG_OK ? parse_pipeline(ctx, text, m) : st;
    }
    if (!strncmp(spec, "cnn:", 4) || !strcmp(spec, "cnn")) {
        clg_status st = expand_cnn(ctx, spec, text, sizeof text);
        return st == CLG_OK ? parse_pipeline(ctx, text, m) : st;
    }
    clg_status st = expand_mlp(ctx, spec, text, sizeof text);
    if (st != CLG_OK)
        return st;
    m->flatten_input = 1;
    return parse_pipeline(ctx, text, m);
}

clg_status cli_model_build(clg_graph *g, clg_store *st, const cli_model *m, clg_t x,
                           int64_t n_out, int training, clg_rng *rng, clg_t *pred)
{
    clg_ctx *ctx = clg_graph_ctx(g);
    *pred = CLG_NONE;
    if (clg_graph_status(g) != CLG_OK)
        return clg_ctx_set_error(ctx, clg_graph_status(g), "%s", clg_graph_error(g));
    if (m->flatten_input) {
        clg_shape xs = clg_shape_of(g, x);
        int64_t b = xs.ndim ? xs.dim[0] : 1;
        clg_shape fs = CLG_SHAPE(b, b ? clg_shape_numel(&xs) / b : 0);
        x = clg_reshape(g, x, &fs);
    }
    int last_linear = -1;
    for (int i = 0; i < m->n; i++)
        if (!strcmp(cli_layer_defs[m->layer[i].def].name, "linear"))
            last_linear = i;
    clg_t rng_state = CLG_NONE;
    for (int i = 0; i < m->n; i++) {
        const cli_layer *L = &m->layer[i];
        cli_build b = { .g = g, .st = st, .rng = rng, .training = training, .n_out = n_out,
                        .index = i, .last_linear = i == last_linear, .rng_state = &rng_state };
        snprintf(b.prefix, sizeof b.prefix, "%d", i);
        clg_shape in = clg_shape_of(g, x);
        char sb[128];
        clg_t y = cli_layer_defs[L->def].build(&b, L, x);
        if (b.err[0])
            return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "--model: layer %d (%s): %s", i, L->spec,
                                     b.err);
        if (y == CLG_NONE || clg_graph_status(g) != CLG_OK)
            return clg_ctx_set_error(ctx, clg_graph_status(g) ? clg_graph_status(g) : CLG_ERR_INVALID,
                                     "--model: layer %d (%s) on input %s: %s", i, L->spec,
                                     clg_shape_str(&in, sb, sizeof sb), clg_graph_error(g));
        x = y;
    }
    if (rng_state != CLG_NONE) {
        /* the next step draws new masks: (seed, step) + (0, 1) */
        static const float one[2] = { 0, 1 };
        clg_shape s2 = CLG_SHAPE(2);
        clg_t next = clg_cast(g, clg_add(g, clg_cast(g, rng_state, CLG_F32),
                                         clg_const(g, CLG_F32, &s2, one)), CLG_I32);
        if (clg_assign(g, rng_state, next) != CLG_OK)
            return clg_ctx_set_error(ctx, clg_graph_status(g), "--model: dropout state: %s",
                                     clg_graph_error(g));
    }
    *pred = x;
    return CLG_OK;
}

int cli_model_same(const cli_model *a, const cli_model *b, char *detail, size_t len)
{
    detail[0] = '\0';
    if (a->flatten_input != b->flatten_input || a->n != b->n) {
        snprintf(detail, len, ": %d layers instead of %d%s", a->n, b->n,
                 a->flatten_input != b->flatten_input ? ", flattened input or not" : "");
        return 0;
    }
    for (int i = 0; i < a->n; i++) {
        const cli_layer *x = &a->layer[i], *y = &b->layer[i];
        int same = x->def == y->def && x->given == y->given && x->n_list == y->n_list;
        for (int k = 0; same && k < CLI_LAYER_KEYS; k++)
            same = x->v[k] == y->v[k];
        for (int k = 0; same && k < x->n_list; k++)
            same = x->list[k] == y->list[k];
        if (!same) {
            static const char *const acts[] = { "relu", "tanh", "sigmoid", "gelu", "leakyrelu" };
            int ax = word_index(acts, 5, cli_layer_defs[x->def].name,
                                strlen(cli_layer_defs[x->def].name));
            int ay = word_index(acts, 5, cli_layer_defs[y->def].name,
                                strlen(cli_layer_defs[y->def].name));
            snprintf(detail, len, ": layer %d is %s%.150s instead of %.150s", i,
                     ax >= 0 && ay >= 0 ? "the activation " : "", x->spec, y->spec);
            return 0;
        }
    }
    return 1;
}
