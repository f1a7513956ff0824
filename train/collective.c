/* Collectives on the host side: opening one by name or by detection, and the
 * thin calls the trainer's gradient-sync point makes. The process-group code
 * itself (MPI) lives only in a collective plugin. */
#include "components.h"

#include <stdlib.h>
#include <string.h>

struct clg_collective {
    clg_ctx *ctx;
    const clg__comp *comp;
    clg_hparams *hp;
    void *state;
};

static clg_status open_comp(clg_ctx *ctx, clg_hparams *hp, clg_collective **out)
{
    clg_collective *c = calloc(1, sizeof *c);
    if (!c) {
        clg_hparams_free(hp);
        return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "collective: out of memory");
    }
    c->ctx = ctx;
    c->hp = hp;
    c->comp = clg__hparams_comp(hp);
    clg_ctx_clear_error(ctx);
    clg__cb_frame fr;
    clg__cb_enter(&fr, c->comp, "open");
    clg_status st = c->comp->c.collective->open(ctx, hp, &c->state);
    clg__cb_leave(&fr);
    if (st != CLG_OK) {
        if (!clg_ctx_error(ctx)[0])
            clg_ctx_set_error(ctx, st, "collective '%s' failed to open", c->comp->c.name);
        clg_hparams_free(hp);
        free(c);
        return st;
    }
    *out = c;
    return CLG_OK;
}

clg_status clg_collective_open(clg_ctx *ctx, const char *spec, clg_collective **out)
{
    if (!ctx || !out)
        return CLG_ERR_INVALID;
    *out = NULL;
    clg_hparams *hp = NULL;
    if (spec) {
        clg_status st = clg_hparams_parse(ctx, CLG_COMPONENT_COLLECTIVE, spec, &hp);
        return st != CLG_OK ? st : open_comp(ctx, hp, out);
    }
    /* Detection: the first registered collective whose launcher started us. */
    clg_status st = clg_plugins_load_default(ctx);
    if (st != CLG_OK)
        return st;
    clg_registry *reg = clg__registry(ctx);
    for (int i = 0; reg && i < reg->n; i++) {
        const clg__comp *c = &reg->comps[i];
        if (c->c.kind != CLG_COMPONENT_COLLECTIVE || !c->c.collective->detect ||
            !c->c.collective->detect())
            continue;
        st = clg_hparams_parse(ctx, CLG_COMPONENT_COLLECTIVE, c->c.name, &hp);
        return st != CLG_OK ? st : open_comp(ctx, hp, out);
    }
    return CLG_OK;
}

void clg_collective_close(clg_collective *c)
{
    if (!c)
        return;
    c->comp->c.collective->close(c->state);
    clg_hparams_free(c->hp);
    free(c);
}

const char *clg_collective_name(const clg_collective *c) { return c ? c->comp->c.name : "none"; }
int clg_collective_rank(const clg_collective *c) { return c ? c->comp->c.collective->rank(c->state) : 0; }
int clg_collective_size(const clg_collective *c) { return c ? c->comp->c.collective->size(c->state) : 1; }

clg_status clg_collective_broadcast(clg_collective *c, void *buf, size_t bytes, int root)
{
    if (!c)
        return CLG_OK;
    return c->comp->c.collective->broadcast(c->ctx, c->state, buf, bytes, root);
}

clg_status clg_collective_allreduce_sum(clg_collective *c, float *buf, size_t n)
{
    if (!c)
        return CLG_OK;
    clg__cb_frame fr;
    clg__cb_enter(&fr, c->comp, "allreduce_sum_f32");
    clg_status st = c->comp->c.collective->allreduce_sum_f32(c->ctx, c->state, buf, n);
    clg__cb_leave(&fr);
    return st;
}

clg_status clg_collective_barrier(clg_collective *c)
{
    return c ? c->comp->c.collective->barrier(c->ctx, c->state) : CLG_OK;
}

void clg_collective_abort(clg_collective *c, int code)
{
    if (c)
        c->comp->c.collective->abort(c->state, code);
}
