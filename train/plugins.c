/* Component plugins: loading (.so files through dlopen), the registry that
 * clg_register fills during clg_plugin_init, and the listing. */
#include "components.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void registry_free(void *p)
{
    clg_registry *reg = p;
    if (!reg)
        return;
    for (int i = 0; i < reg->n; i++)
        free(reg->comps[i].defs);
    free(reg->comps);
    for (int i = 0; i < reg->n_sos; i++) {
        if (reg->sos[i].handle)
            dlclose(reg->sos[i].handle);
        free(reg->sos[i].path);
    }
    free(reg->sos);
    for (int i = 0; i < reg->n_notices; i++)
        free(reg->notices[i]);
    free(reg->notices);
    free(reg);
}

clg_registry *clg__registry(clg_ctx *ctx)
{
    clg_registry *reg = clg_ctx_attached(ctx, REGISTRY_KEY);
    if (!reg) {
        reg = calloc(1, sizeof *reg);
        if (!reg)
            return NULL;
        reg->ctx = ctx;
        reg->loading_so = -1;
        if (clg_ctx_attach(ctx, REGISTRY_KEY, reg, registry_free) != CLG_OK) {
            free(reg);
            return NULL;
        }
    }
    return reg;
}

const char *clg_component_kind_name(clg_component_kind kind)
{
    switch (kind) {
    case CLG_COMPONENT_OPTIMIZER: return "optimizer";
    case CLG_COMPONENT_LOSS: return "loss";
    case CLG_COMPONENT_SCHEDULER: return "scheduler";
    case CLG_COMPONENT_COLLECTIVE: return "collective";
    }
    return "unknown";
}

const clg__comp *clg__comp_find(clg_registry *reg, clg_component_kind kind,
                                const char *name, size_t name_len)
{
    for (int i = 0; i < reg->n; i++) {
        const clg__comp *c = &reg->comps[i];
        if (c->c.kind == kind && strlen(c->c.name) == name_len &&
            memcmp(c->c.name, name, name_len) == 0)
            return c;
    }
    return NULL;
}

clg_status clg__comp_lookup(clg_ctx *ctx, clg_component_kind kind, const char *name,
                            size_t name_len, const clg__comp **out)
{
    clg_registry *reg = clg__registry(ctx);
    if (!reg)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    const clg__comp *c = clg__comp_find(reg, kind, name, name_len);
    if (!c && !reg->default_loaded) {
        clg_status st = clg_plugins_load_default(ctx);
        c = clg__comp_find(reg, kind, name, name_len);
        if (!c && st != CLG_OK)
            return st;
    }
    if (!c) {
        char known[512] = "";
        size_t used = 0;
        for (int i = 0; i < reg->n && used + 1 < sizeof known; i++) {
            if (reg->comps[i].c.kind != kind)
                continue;
            int w = snprintf(known + used, sizeof known - used, "%s%s",
                             used ? ", " : "", reg->comps[i].c.name);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        /* A file that loaded but registered nothing is the likely culprit
         * when a user's component is missing: name it. */
        char empty[600] = "";
        size_t eu = 0;
        for (int s = 0; s < reg->n_sos && eu + 1 < sizeof empty; s++) {
            int own = 0;
            for (int i = 0; i < reg->n && !own; i++)
                own = reg->comps[i].so == s;
            if (!reg->sos[s].handle || own)
                continue;
            int w = snprintf(empty + eu, sizeof empty - eu, "%s%s", eu ? ", " : "; loaded but "
                             "registered no components (its init never called clg_register?): ",
                             reg->sos[s].path);
            if (w < 0)
                break;
            eu += (size_t)w;
        }
        return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND,
                                 "unknown %s '%.*s' (known: %s)%s",
                                 clg_component_kind_name(kind), (int)name_len, name,
                                 used ? known : "none; no component plugins were found", empty);
    }
    *out = c;
    return CLG_OK;
}

static void drop_components_of(clg_registry *reg, int so)
{
    int w = 0;
    for (int i = 0; i < reg->n; i++) {
        if (reg->comps[i].so == so) {
            free(reg->comps[i].defs);
            continue;
        }
        reg->comps[w++] = reg->comps[i];
    }
    reg->n = w;
}

clg_status clg_plugins_load(clg_ctx *ctx, const char *path)
{
    if (!ctx)
        return CLG_ERR_INVALID;
    if (!path || !*path)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "clg_plugins_load: empty path");
    clg_registry *reg = clg__registry(ctx);
    if (!reg)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    char *real = realpath(path, NULL);
    const char *key = real ? real : path;
    for (int i = 0; i < reg->n_sos; i++) {
        if (reg->sos[i].handle && strcmp(reg->sos[i].path, key) == 0) {
            free(real);
            return CLG_OK;
        }
    }
    free(real);

    /* What the path is, before dlopen: a directory or a FIFO is named as
     * such (and a FIFO would block dlopen's read). */
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return clg_ctx_set_error(ctx, CLG_ERR_LOAD, "plugin %s: is %s, not a plugin .so file%s",
                                 path,
                                 S_ISDIR(sb.st_mode)    ? "a directory"
                                 : S_ISFIFO(sb.st_mode) ? "a FIFO (named pipe)"
                                                        : "not a regular file",
                                 S_ISDIR(sb.st_mode) ? " (to search a directory for plugins, "
                                                       "add it to CLGRAD_PLUGIN_PATH)" : "");
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        /* dlopen never looks in the current directory for a bare name. */
        if (!strchr(path, '/') && stat(path, &sb) == 0)
            return clg_ctx_set_error(ctx, CLG_ERR_LOAD,
                                     "plugin %s: not found on the library search path (a file of "
                                     "that name is in the current directory, which is never "
                                     "searched: give ./%s)", path, path);
        return clg_ctx_set_error(ctx, CLG_ERR_LOAD, "plugin %s: dlopen failed: %s", path,
                                 e ? e : "unknown error");
    }
    dlerror();
    const uint32_t *abi = dlsym(h, CLG_PLUGIN_ABI_SYMBOL);
    if (!abi) {
        const char *e = dlerror();
        clg_status st = clg_ctx_set_error(ctx, CLG_ERR_LOAD,
            "plugin %s: no '%s' symbol (%s); build the plugin with CLG_PLUGIN_DEFINE",
            path, CLG_PLUGIN_ABI_SYMBOL, e ? e : "not found");
        dlclose(h);
        return st;
    }
    if (abi[0] != CLG_PLUGIN_ABI_MAJOR || abi[1] > CLG_PLUGIN_ABI_MINOR) {
        clg_status st = clg_ctx_set_error(ctx, CLG_ERR_ABI,
            "plugin %s: component ABI %u.%u is not supported by this clgrad (ABI %d.%d: "
            "same major and a minor <= %d needed)", path, (unsigned)abi[0],
            (unsigned)abi[1], CLG_PLUGIN_ABI_MAJOR, CLG_PLUGIN_ABI_MINOR,
            CLG_PLUGIN_ABI_MINOR);
        dlclose(h);
        return st;
    }
    dlerror();
    clg_plugin_init_fn init;
    *(void **)&init = dlsym(h, CLG_PLUGIN_INIT_SYMBOL);
    if (!init) {
        const char *e = dlerror();
        clg_status st = clg_ctx_set_error(ctx, CLG_ERR_LOAD, "plugin %s: no '%s' symbol (%s)",
                                          path, CLG_PLUGIN_INIT_SYMBOL,
                                          e ? e : "not found");
        dlclose(h);
        return st;
    }

    if (reg->n_sos == reg->cap_sos) {
        int cap = reg->cap_sos ? reg->cap_sos * 2 : 8;
        clg__so *p = realloc(reg->sos, (size_t)cap * sizeof *p);
        if (!p) {
            dlclose(h);
            return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
        }
        reg->sos = p;
        reg->cap_sos = cap;
    }
    real = realpath(path, NULL);
    char *stored = real ? real : strdup(path);
    if (!stored) {
        dlclose(h);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    }
    int so = reg->n_sos++;
    reg->sos[so].path = stored;
    reg->sos[so].handle = h;

    clg_plugin_host host = { .struct_size = sizeof host, .abi_major = CLG_PLUGIN_ABI_MAJOR,
                             .abi_minor = CLG_PLUGIN_ABI_MINOR, .path = stored, .ctx = ctx };
    clg_ctx_clear_error(ctx);
    reg->open = 1;
    reg->loading_so = so;
    clg__cb_frame fr;
    clg__cb_enter_file(&fr, stored, "clg_plugin_init");
    clg_status st = init(reg, &host);
    clg__cb_leave(&fr);
    reg->open = 0;
    reg->loading_so = -1;
    if (st != CLG_OK) {
        char why[CLG_ERRMSG_LEN];
        snprintf(why, sizeof why, "%s", clg_ctx_error(ctx));
        drop_components_of(reg, so);
        dlclose(h);
        reg->sos[so].handle = NULL;
        /* Keep the slot (its path) so indices stay stable; it owns nothing. */
        clg_ctx_set_error(ctx, st == CLG_OK ? CLG_ERR_LOAD : st,
                          "plugin %s: clg_plugin_init failed (%s)%s%s", stored,
                          clg_status_name(st), why[0] ? ": " : "", why);
        return st;
    }
    return CLG_OK;
}

static int has_prefix_suffix(const char *s, const char *pre, const char *suf)
{
    size_t ls = strlen(s), lp = strlen(pre), lf = strlen(suf);
    return ls > lp + lf && strncmp(s, pre, lp) == 0 && strcmp(s + ls - lf, suf) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

clg_status clg_plugins_load_default(clg_ctx *ctx)
{
    if (!ctx)
        return CLG_ERR_INVALID;
    clg_registry *reg = clg__registry(ctx);
    if (!reg)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    if (reg->default_loaded)
        return CLG_OK;
    reg->default_loaded = 1;
    char **dirs = clg_plugin_search_dirs();
    if (!dirs)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    char **seen = NULL;
    int n_seen = 0, cap_seen = 0;
    clg_status first = CLG_OK;
    char first_msg[CLG_ERRMSG_LEN] = "";
    for (int d = 0; dirs[d]; d++) {
        DIR *dir = opendir(dirs[d]);
        if (!dir)
            continue;
        /* Sorted, so the registration order (and the listing) is stable. */
        char **names = NULL;
        int n_names = 0, cap_names = 0;
        struct dirent *de;
        while ((de = readdir(dir))) {
            if (!has_prefix_suffix(de->d_name, "clgrad-plugin-", ".so"))
                continue;
            if (n_names == cap_names) {
                cap_names = cap_names ? cap_names * 2 : 8;
                char **p = realloc(names, (size_t)cap_names * sizeof *p);
                if (!p)
                    break;
                names = p;
            }
            names[n_names] = strdup(de->d_name);
            if (names[n_names])
                n_names++;
        }
        closedir(dir);
        if (n_names)
            qsort(names, (size_t)n_names, sizeof *names, cmp_str);
        for (int i = 0; i < n_names; i++) {
            int dup = 0;
            for (int j = 0; j < n_seen; j++)
                dup |= strcmp(seen[j], names[i]) == 0;
            if (dup) {
                free(names[i]);
                continue;
            }
            if (n_seen == cap_seen) {
                cap_seen = cap_seen ? cap_seen * 2 : 8;
                char **p = realloc(seen, (size_t)cap_seen * sizeof *p);
                if (!p) {
                    free(names[i]);
                    continue;
                }
                seen = p;
            }
            seen[n_seen++] = names[i];
            /* An explicitly loaded file of this name comes first in the
             * search order and hides this one. */
            int hidden = 0;
            for (int k = 0; k < reg->n_sos && !hidden; k++) {
                const char *slash = strrchr(reg->sos[k].path, '/');
                const char *base = slash ? slash + 1 : reg->sos[k].path;
                hidden = reg->sos[k].handle && strcmp(base, names[i]) == 0;
            }
            if (hidden)
                continue;
            size_t len = strlen(dirs[d]) + strlen(names[i]) + 2;
            char *full = malloc(len);
            if (!full)
                continue;
            snprintf(full, len, "%s/%s", dirs[d], names[i]);
            clg_status st = clg_plugins_load(ctx, full);
            if (st != CLG_OK && first == CLG_OK) {
                first = st;
                snprintf(first_msg, sizeof first_msg, "%s", clg_ctx_error(ctx));
            }
            free(full);
        }
        free(names);
    }
    for (int i = 0; i < n_seen; i++)
        free(seen[i]);
    free(seen);
    clg_strv_free(dirs);
    if (first != CLG_OK)
        return clg_ctx_set_error(ctx, first, "%s", first_msg);
    return CLG_OK;
}

int clg_component_count(const clg_ctx *ctx)
{
    const clg_registry *reg = ctx ? clg_ctx_attached(ctx, REGISTRY_KEY) : NULL;
    return reg ? reg->n : 0;
}

static void fill_info(const clg_registry *reg, const clg__comp *c, clg_component_info *out)
{
    out->kind = c->c.kind;
    out->name = c->c.name;
    out->doc = c->c.doc;
    out->path = reg->sos[c->so].path;
    out->n_hparams = c->n_defs;
    out->hparams = c->defs;
}

clg_status clg_component_get(const clg_ctx *ctx, int i, clg_component_info *out)
{
    if (!ctx || !out)
        return CLG_ERR_INVALID;
    const clg_registry *reg = clg_ctx_attached(ctx, REGISTRY_KEY);
    if (!reg || i < 0 || i >= reg->n)
        return CLG_ERR_NOT_FOUND;
    fill_info(reg, &reg->comps[i], out);
    return CLG_OK;
}

clg_status clg_component_find(clg_ctx *ctx, clg_component_kind kind, const char *name,
                              clg_component_info *out)
{
    if (!ctx || !name || !out)
        return CLG_ERR_INVALID;
    const clg__comp *c;
    clg_status st = clg__comp_lookup(ctx, kind, name, strlen(name), &c);
    if (st != CLG_OK)
        return st;
    fill_info(clg_ctx_attached(ctx, REGISTRY_KEY), c, out);
    return CLG_OK;
}

int clg_plugins_notice_count(const clg_ctx *ctx)
{
    const clg_registry *reg = ctx ? clg_ctx_attached(ctx, REGISTRY_KEY) : NULL;
    return reg ? reg->n_notices : 0;
}

const char *clg_plugins_notice(const clg_ctx *ctx, int i)
{
    const clg_registry *reg = ctx ? clg_ctx_attached(ctx, REGISTRY_KEY) : NULL;
    return reg && i >= 0 && i < reg->n_notices ? reg->notices[i] : NULL;
}
