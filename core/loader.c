/* Finding backend modules and checking their ABI before anything in them is
 * called: a bad module is refused with its path and the reason. */
#include "plan_internal.h"

#include <dlfcn.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CLG_PLUGIN_DIR
#define CLG_PLUGIN_DIR ""
#endif
#ifndef CLG_BUILD_ROOT
#define CLG_BUILD_ROOT ""
#endif
#ifndef CLG_BUILD_PLUGIN_PATH
#define CLG_BUILD_PLUGIN_PATH ""
#endif

/* ------------------------------------------------------- string vectors */

typedef struct strv {
    char **v;
    int n, cap;
    int failed;
} strv;

static void strv_push_n(strv *s, const char *str, size_t len)
{
    if (s->failed)
        return;
    if (len == 0) /* an empty entry would mean the current directory */
        return;
    if (s->n + 2 > s->cap) {
        int cap = s->cap ? s->cap * 2 : 8;
        char **v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) {
            s->failed = 1;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) {
        s->failed = 1;
        return;
    }
    memcpy(c, str, len);
    c[len] = '\0';
    s->v[s->n++] = c;
    s->v[s->n] = NULL;
}

static void strv_push_list(strv *s, const char *colon_list)
{
    const char *p = colon_list;
    while (p && *p) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        strv_push_n(s, p, len);
        p = end ? end + 1 : NULL;
    }
}

void clg_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* Tests and tools run from the build tree find the freshly built modules
 * without any environment; an installed program never looks there. */
static int running_from_build_tree(void)
{
    if (!CLG_BUILD_ROOT[0])
        return 0;
    char *exe = realpath("/proc/self/exe", NULL);
    if (!exe)
        return 0;
    char *root = realpath(CLG_BUILD_ROOT, NULL);
    const char *r = root ? root : CLG_BUILD_ROOT;
    size_t rl = strlen(r);
    int under = strncmp(exe, r, rl) == 0 && exe[rl] == '/';
    free(root);
    free(exe);
    return under;
}

char **clg_plugin_search_dirs(void)
{
    strv s = {0};
    strv_push_list(&s, getenv("CLGRAD_PLUGIN_PATH"));
    strv_push_n(&s, CLG_PLUGIN_DIR, strlen(CLG_PLUGIN_DIR));
    /* The install's plugin dir as seen from the libclgrad that is running
     * (<libdir>/clgrad beside libclgrad.so), so an install that was moved,
     * or staged with DESTDIR, still finds its backends and built-ins. */
    Dl_info di;
    if (dladdr((void *)clg_plugin_search_dirs, &di) && di.dli_fname) {
        const char *slash = strrchr(di.dli_fname, '/');
        if (slash && slash != di.dli_fname) {
            char mine[PATH_MAX];
            int n = snprintf(mine, sizeof mine, "%.*s/clgrad", (int)(slash - di.dli_fname),
                             di.dli_fname);
            char *a = realpath(mine, NULL), *b = realpath(CLG_PLUGIN_DIR, NULL);
            if (n > 0 && (size_t)n < sizeof mine && a && (!b || strcmp(a, b) != 0))
                strv_push_n(&s, a, strlen(a));
            free(a);
            free(b);
        }
    }
    if (running_from_build_tree())
        strv_push_list(&s, CLG_BUILD_PLUGIN_PATH);
    if (s.failed) {
        if (s.v)
            s.v[s.n] = NULL;
        clg_strv_free(s.v);
        return NULL;
    }
    if (!s.v) {
        s.v = calloc(1, sizeof *s.v);
    }
    return s.v;
}

/* ---------------------------------------------------------------- loading */

static int find_loaded(const clg_ctx *ctx, const char *name)
{
    for (int i = 0; i < ctx->n_backends; i++)
        if (strcmp(ctx->backends[i].name, name) == 0)
            return i;
    return -1;
}

static const char *dlerror_or(const char *fallback)
{
    const char *e = dlerror();
    return e ? e : fallback;
}

/* The slots a backend must fill; exec_plan and release_plan may be NULL. */
static const struct {
    const char *name;
    size_t offset;
} required_slots[] = {
#define SLOT(f) { #f, offsetof(clg_backend, f) }
    SLOT(device_count), SLOT(device_info), SLOT(open), SLOT(close),
    SLOT(alloc), SLOT(free), SLOT(write), SLOT(read), SLOT(copy),
    SLOT(supports), SLOT(exec), SLOT(sync), SLOT(last_error),
#undef SLOT
};

/* Size of the descriptor a backend of ABI 2.<minor> must provide. */
static size_t struct_size_for_minor(uint32_t minor)
{
    if (minor >= 1)
        return offsetof(clg_backend, kernels_run) + sizeof(void *);
    return offsetof(clg_backend, last_error) + sizeof(void *);
}

static int slot_is_null(const clg_backend *vt, size_t offset)
{
    void (*fn)(void);
    memcpy(&fn, (const char *)vt + offset, sizeof fn);
    return fn == NULL;
}

/* Opens `path` and checks it; on success appends it to ctx (or finds it
 * already there) and stores its index in *idx. expect_name is the name the
 * caller asked for (NULL when loading by path). */
static clg_status load_file(clg_ctx *ctx, const char *path, const char *expect_name,
                            int *idx)
{
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return clg_ctx_set_error(ctx, CLG_ERR_LOAD, "backend %s: dlopen failed: %s",
                                 path, dlerror_or("unknown error"));
    dlerror();
    void *sym = dlsym(h, CLG_BACKEND_ENTRY_SYMBOL);
    if (!sym) {
        clg_ctx_set_error(ctx, CLG_ERR_LOAD, "backend %s: missing entry symbol '%s': %s",
                          path, CLG_BACKEND_ENTRY_SYMBOL, dlerror_or("symbol is NULL"));
        dlclose(h);
        return CLG_ERR_LOAD;
    }
    clg_backend_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry); /* object -> function pointer, as POSIX allows */
    const clg_backend *vt = entry();
    clg_status st = CLG_OK;
    if (!vt) {
        st = clg_ctx_set_error(ctx, CLG_ERR_LOAD, "backend %s: %s() returned NULL",
                               path, CLG_BACKEND_ENTRY_SYMBOL);
    } else if (vt->abi_major != CLG_BACKEND_ABI_MAJOR ||
               vt->abi_minor > CLG_BACKEND_ABI_MINOR) {
        st = clg_ctx_set_error(ctx, CLG_ERR_ABI,
                               "%s: backend ABI %u.%u, this clgrad supports %u.%u",
                               path, (unsigned)vt->abi_major, (unsigned)vt->abi_minor,
                               (unsigned)CLG_BACKEND_ABI_MAJOR,
                               (unsigned)CLG_BACKEND_ABI_MINOR);
    } else if (vt->struct_size < struct_size_for_minor(vt->abi_minor)) {
        st = clg_ctx_set_error(ctx, CLG_ERR_ABI,
                               "%s: backend descriptor is %zu bytes, ABI %u.%u needs %zu",
                               path, vt->struct_size, (unsigned)vt->abi_major,
                               (unsigned)vt->abi_minor,
                               struct_size_for_minor(vt->abi_minor));
    } else if (vt->op_table_version == 0) {
        st = clg_ctx_set_error(ctx, CLG_ERR_ABI,
                               "backend %s: op_table_version is 0 (set it to "
                               "CLG_OP_TABLE_VERSION)", path);
    } else if (!vt->name || !vt->name[0]) {
        st = clg_ctx_set_error(ctx, CLG_ERR_LOAD, "backend %s: descriptor has no name",
                               path);
    } else if (expect_name && strcmp(vt->name, expect_name) != 0) {
        st = clg_ctx_set_error(ctx, CLG_ERR_LOAD,
                               "backend %s: calls itself '%s', expected '%s'", path,
                               vt->name, expect_name);
    } else {
        for (size_t i = 0; i < sizeof required_slots / sizeof required_slots[0]; i++) {
            if (slot_is_null(vt, required_slots[i].offset)) {
                st = clg_ctx_set_error(ctx, CLG_ERR_LOAD,
                                       "backend %s: required slot '%s' is NULL", path,
                                       required_slots[i].name);
                break;
            }
        }
    }
    if (st != CLG_OK) {
        dlclose(h);
        return st;
    }

    int have = find_loaded(ctx, vt->name);
    if (have >= 0) {
        /* Same name loaded before (possibly from another file): keep the
         * first, so devices already open stay valid. */
        dlclose(h);
        *idx = have;
        return CLG_OK;
    }
    if (ctx->n_backends == ctx->cap_backends) {
        int cap = ctx->cap_backends ? ctx->cap_backends * 2 : 4;
        clg_loaded_backend *b = realloc(ctx->backends, (size_t)cap * sizeof *b);
        if (!b) {
            dlclose(h);
            return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "backend %s: out of memory", path);
        }
        ctx->backends = b;
        ctx->cap_backends = cap;
    }
    clg_loaded_backend *b = &ctx->backends[ctx->n_backends];
    b->name = strdup(vt->name);
    b->path = strdup(path);
    if (!b->name || !b->path) {
        free(b->name);
        free(b->path);
        dlclose(h);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "backend %s: out of memory", path);
    }
    b->handle = h;
    b->vt = vt;
    *idx = ctx->n_backends++;
    return CLG_OK;
}

static clg_status load(clg_ctx *ctx, const char *name_or_path, int *idx)
{
    if (!ctx)
        return CLG_ERR_INVALID;
    if (!name_or_path || !name_or_path[0])
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "backend name is empty");
    if (strchr(name_or_path, '/'))
        return load_file(ctx, name_or_path, NULL, idx);

    int have = find_loaded(ctx, name_or_path);
    if (have >= 0) {
        *idx = have;
        return CLG_OK;
    }

    char **dirs = clg_plugin_search_dirs();
    if (!dirs)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "backend '%s': out of memory",
                                 name_or_path);
    /* Collect the tried paths for the not-found message as we go. */
    char tried[CLG_ERRMSG_LEN];
    size_t used = 0;
    tried[0] = '\0';
    clg_status st = CLG_ERR_NOT_FOUND;
    for (char **d = dirs; *d; d++) {
        size_t len = strlen(*d) + strlen(name_or_path) + 32;
        char *path = malloc(len);
        if (!path) {
            st = clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "backend '%s': out of memory",
                                   name_or_path);
            break;
        }
        snprintf(path, len, "%s/clgrad-backend-%s.so", *d, name_or_path);
        if (access(path, F_OK) == 0) {
            st = load_file(ctx, path, name_or_path, idx);
            free(path);
            break;
        }
        if (used < sizeof tried) {
            int w = snprintf(tried + used, sizeof tried - used, "%s%s", used ? ", " : "",
                             path);
            if (w > 0)
                used += (size_t)w;
        }
        free(path);
    }
    clg_strv_free(dirs);
    if (st == CLG_ERR_NOT_FOUND)
        clg_ctx_set_error(ctx, st, "backend '%s' not found; tried: %s", name_or_path,
                          used ? tried : "(no plugin directories)");
    return st;
}

clg_status clg_backend_load(clg_ctx *ctx, const char *name_or_path)
{
    int idx;
    return load(ctx, name_or_path, &idx);
}

clg_status clg__backend_get(clg_ctx *ctx, const char *name_or_path,
                            const clg_backend **out)
{
    int idx = -1;
    clg_status st = load(ctx, name_or_path, &idx);
    if (st == CLG_OK)
        *out = ctx->backends[idx].vt;
    return st;
}

int clg_backend_count(const clg_ctx *ctx)
{
    return ctx ? ctx->n_backends : 0;
}

const char *clg_backend_name(const clg_ctx *ctx, int i)
{
    if (!ctx || i < 0 || i >= ctx->n_backends)
        return NULL;
    return ctx->backends[i].name;
}

const char *clg_backend_path(const clg_ctx *ctx, int i)
{
    if (!ctx || i < 0 || i >= ctx->n_backends)
        return NULL;
    return ctx->backends[i].path;
}
