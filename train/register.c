/* clg_register: what a plugin's init calls for each component. Checks the
 * component (kind, name, ops, ABI size) and its hyperparameter schema (every
 * default must parse and lie in range), adds the keys the core gives every
 * optimizer and scheduler, and copies it into the registry. */
#include "components.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int valid_name(const char *s, int is_key)
{
    if (!s || !*s)
        return 0;
    for (const char *p = s; *p; p++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                 (is_key ? (ch >= 'A' && ch <= 'Z') : ch == '-');
        if (!ok)
            return 0;
    }
    return is_key ? !(s[0] >= '0' && s[0] <= '9') : 1;
}

/* Keys the core adds to every component of a kind. */
static const clg_hparam_def optim_extra[] = {
    /* Read only when given: otherwise the trainer's lr applies. The default
     * shown is the command's --lr default, so a listing never disagrees
     * with what a run does. */
    { .name = "lr", .type = CLG_HP_FLOAT, .def = "0.01",
      .doc = "learning rate; when given it overrides the trainer's lr (the command's --lr)",
      .range = CLG_HP_MIN, .min = 0 },
};
static const clg_hparam_def sched_extra[] = {
    { .name = "interval", .type = CLG_HP_CHOICE, .def = "epoch",
      .doc = "step the scheduler after every epoch or every optimizer step",
      .choices = "epoch|step" },
};

/* A name clash with a component of another file: the first file in the
 * search order keeps the name (so a user's plugin given with --plugin or
 * in $CLGRAD_PLUGIN_PATH overrides a built-in on purpose) and the later
 * registration is skipped, not failed, so the rest of its file (the other
 * built-ins of a .so) stays usable. Kept as a notice, and said on stderr
 * once, since a silent override is a trap. */
static clg_status add_notice(clg_registry *reg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static clg_status add_notice(clg_registry *reg, const char *fmt, ...)
{
    char buf[CLG_ERRMSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (reg->n_notices == reg->cap_notices) {
        int cap = reg->cap_notices ? reg->cap_notices * 2 : 4;
        char **p = realloc(reg->notices, (size_t)cap * sizeof *p);
        if (!p)
            return clg_ctx_set_error(reg->ctx, CLG_ERR_NOMEM, "out of memory");
        reg->notices = p;
        reg->cap_notices = cap;
    }
    size_t n = strlen(buf) + 1;
    char *copy = malloc(n);
    if (!copy)
        return clg_ctx_set_error(reg->ctx, CLG_ERR_NOMEM, "out of memory");
    memcpy(copy, buf, n);
    reg->notices[reg->n_notices++] = copy;
    fprintf(stderr, "clgrad: notice: %s\n", buf);
    return CLG_OK;
}

clg_status clg_register(clg_registry *reg, const clg_component *c)
{
    if (!reg)
        return CLG_ERR_INVALID;
    clg_ctx *ctx = reg->ctx;
    if (!reg->open || reg->loading_so < 0)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "clg_register: only valid inside clg_plugin_init");
    const char *path = reg->sos[reg->loading_so].path;
    if (!c || c->struct_size < offsetof(clg_component, scheduler) + sizeof(void *))
        return clg_ctx_set_error(ctx, CLG_ERR_ABI,
                                 "%s: clg_register: component struct too small "
                                 "(struct_size %zu)", path, c ? c->struct_size : 0);
    const char *kname = clg_component_kind_name(c->kind);
    if (c->kind != CLG_COMPONENT_OPTIMIZER && c->kind != CLG_COMPONENT_LOSS &&
        c->kind != CLG_COMPONENT_SCHEDULER && c->kind != CLG_COMPONENT_COLLECTIVE)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "%s: component '%s': unknown kind %d", path,
                                 c->name ? c->name : "?", (int)c->kind);
    if (c->kind == CLG_COMPONENT_COLLECTIVE &&
        c->struct_size < offsetof(clg_component, collective) + sizeof(void *))
        return clg_ctx_set_error(ctx, CLG_ERR_ABI,
                                 "%s: collective '%s': component struct too small for a "
                                 "collective (struct_size %zu; built against ABI 1.0?)", path,
                                 c->name ? c->name : "?", c->struct_size);
    if (!valid_name(c->name, 0))
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "%s: %s name '%s' is not [a-z0-9_-]+", path, kname,
                                 c->name ? c->name : "(null)");
    if (!c->doc)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "%s: %s '%s' has no doc line",
                                 path, kname, c->name);
    int ops_ok = 0;
    switch (c->kind) {
    case CLG_COMPONENT_OPTIMIZER:
        ops_ok = c->optimizer && c->optimizer->struct_size >= sizeof(clg_optimizer_ops) &&
                 c->optimizer->update && c->optimizer->n_scalars >= 0 &&
                 c->optimizer->n_scalars <= CLG_OPTIM_MAX_SCALARS &&
                 (c->optimizer->n_scalars == 0 || c->optimizer->scalars);
        break;
    case CLG_COMPONENT_LOSS:
        /* ABI 1.0 losses end at build; `target` is read only when present. */
        ops_ok = c->loss && c->loss->struct_size >= offsetof(clg_loss_ops, build) + sizeof(void *) &&
                 c->loss->build;
        if (ops_ok && c->loss->struct_size >= offsetof(clg_loss_ops, target) + sizeof(int)) {
            clg_target_kind t = c->loss->target;
            ops_ok = t == 0 || t == CLG_TARGET_SAME_SHAPE || t == CLG_TARGET_CLASS_INDEX ||
                     t == CLG_TARGET_CLASS_PER_POSITION;
        }
        break;
    case CLG_COMPONENT_COLLECTIVE: {
        const clg_collective_ops *o = c->collective;
        ops_ok = o && o->struct_size >= sizeof(clg_collective_ops) && o->open && o->close &&
                 o->rank && o->size && o->broadcast && o->allreduce_sum_f32 && o->barrier &&
                 o->abort;
        break;
    }
    case CLG_COMPONENT_SCHEDULER:
        ops_ok = c->scheduler && c->scheduler->struct_size >= sizeof(clg_scheduler_ops) &&
                 c->scheduler->step;
        if (ops_ok && c->scheduler->state_names) {
            int n = 0;
            while (c->scheduler->state_names[n])
                n++;
            ops_ok = n <= CLG_SCHED_MAX_STATE;
        }
        break;
    }
    if (!ops_ok)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "%s: %s '%s': missing or malformed %s ops", path, kname,
                                 c->name, kname);
    const clg__comp *dup = clg__comp_find(reg, c->kind, c->name, strlen(c->name));
    if (dup && dup->so == reg->loading_so)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "%s: %s '%s' is registered twice by this file", path, kname,
                                 c->name);
    if (dup)
        return add_notice(reg, "%s: %s '%s' is not registered: %s, earlier in the search "
                          "order, registered that name first and is the one used (the other "
                          "components of %s are kept)", path, kname, c->name,
                          reg->sos[dup->so].path, path);
    if (c->n_hparams < 0 || (c->n_hparams > 0 && !c->hparams))
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "%s: %s '%s': bad hparams array",
                                 path, kname, c->name);

    const clg_hparam_def *extra = NULL;
    int n_extra = 0;
    if (c->kind == CLG_COMPONENT_OPTIMIZER) {
        extra = optim_extra;
        n_extra = 1;
    } else if (c->kind == CLG_COMPONENT_SCHEDULER) {
        extra = sched_extra;
        n_extra = 1;
    }
    int n_defs = c->n_hparams + n_extra;
    clg_hparam_def *defs = calloc((size_t)(n_defs ? n_defs : 1), sizeof *defs);
    if (!defs)
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->n_hparams; i++)
        defs[i] = c->hparams[i];
    for (int i = 0; i < n_extra; i++)
        defs[c->n_hparams + i] = extra[i];
    clg_status bad = CLG_OK;
    for (int i = 0; i < n_defs && bad == CLG_OK; i++) {
        char err[256];
        if (!valid_name(defs[i].name, 1)) {
            bad = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                    "%s: %s '%s': hyperparameter %d has a bad name '%s'",
                                    path, kname, c->name, i,
                                    defs[i].name ? defs[i].name : "(null)");
            break;
        }
        for (int j = 0; j < i && bad == CLG_OK; j++) {
            if (strcmp(defs[j].name, defs[i].name) == 0)
                bad = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                        "%s: %s '%s': hyperparameter '%s' declared twice%s",
                                        path, kname, c->name, defs[i].name,
                                        i >= c->n_hparams ? " (the core adds this key)" : "");
        }
        if (bad == CLG_OK && clg__hparam_def_check(&defs[i], err, sizeof err) != CLG_OK)
            bad = clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                    "%s: %s '%s': hyperparameter '%s': %s", path, kname,
                                    c->name, defs[i].name, err);
    }
    if (bad != CLG_OK) {
        free(defs);
        return bad;
    }

    if (reg->n == reg->cap) {
        int cap = reg->cap ? reg->cap * 2 : 32;
        clg__comp *p = realloc(reg->comps, (size_t)cap * sizeof *p);
        if (!p) {
            free(defs);
            return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "out of memory");
        }
        reg->comps = p;
        reg->cap = cap;
    }
    clg__comp *dst = &reg->comps[reg->n++];
    memset(dst, 0, sizeof *dst);
    /* Copy only what this host knows; a newer plugin's extra fields are ignored. */
    memcpy(&dst->c, c, c->struct_size < sizeof dst->c ? c->struct_size : sizeof dst->c);
    dst->c.struct_size = sizeof dst->c;
    dst->defs = defs;
    dst->n_defs = n_defs;
    dst->c.hparams = defs;
    dst->c.n_hparams = n_defs;
    dst->so = reg->loading_so;
    dst->path = reg->sos[reg->loading_so].path;
    return CLG_OK;
}

