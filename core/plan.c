/* Running a compiled plan: inputs in, ops and assignments enqueued, outputs
 * out. Nothing here allocates; everything was placed by clg_compile. */
#include "plan_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void clg_plan_free(clg_plan *p)
{
    if (!p)
        return;
    if (p->dev) {
        /* Buffers may still be read by enqueued work. */
        if (p->n_owned)
            p->dev->vt->sync(p->dev->bk);
        if (p->ops && p->dev->vt->release_plan)
            p->dev->vt->release_plan(p->dev->bk, p->ops);
        for (int i = 0; i < p->n_owned; i++)
            p->dev->vt->free(p->dev->bk, p->owned[i]);
    }
    for (int i = 0; i < p->n_inputs; i++)
        free(p->inputs[i].name);
    free(p->inputs);
    free(p->owned);
    free(p->assigns);
    free(p->ops);
    free(p->op_node);
    free(p->slots);
    free(p->slot_of);
    free(p);
}

clg_status clg_plan_set_input(clg_plan *p, const char *name, const void *data,
                              size_t bytes)
{
    if (!p)
        return CLG_ERR_INVALID;
    clg_device *dev = p->dev;
    clg_ctx *ctx = dev->ctx;
    const clg_plan_input *in = NULL;
    for (int i = 0; i < p->n_inputs && name; i++)
        if (strcmp(p->inputs[i].name, name) == 0)
            in = &p->inputs[i];
    if (!in) {
        char names[CLG_ERRMSG_LEN / 2];
        size_t used = 0;
        names[0] = '\0';
        for (int i = 0; i < p->n_inputs && used < sizeof names; i++) {
            int w = snprintf(names + used, sizeof names - used, "%s'%s'", i ? ", " : "",
                             p->inputs[i].name);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        return clg_ctx_set_error(ctx, CLG_ERR_NOT_FOUND,
                                 "set_input: the graph has no input named '%s' (inputs: %s)",
                                 name ? name : "(null)", p->n_inputs ? names : "none");
    }
    if (bytes != in->bytes) {
        char ts[192];
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "set_input '%s': %zu bytes given, input %s needs %zu", name,
                                 bytes, clg__tensor_str(in->dtype, &in->shape, ts, sizeof ts),
                                 in->bytes);
    }
    if (!data && bytes)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "set_input '%s': data is NULL", name);
    /* An input this plan does not read: accepted so one loop can feed the
     * train and eval plans of a graph alike. */
    if (!in->buf || bytes == 0)
        return CLG_OK;
    clg_status st = dev->vt->write(dev->bk, in->buf, 0, data, bytes);
    if (st != CLG_OK)
        return clg_ctx_set_error(ctx, st, "set_input '%s': backend '%s' write failed: %s",
                                 name, dev->vt->name, dev->vt->last_error(dev->bk));
    return CLG_OK;
}

/* The backend's own kernel count, where its ABI minor has the slot. */
static int counts_kernels(const clg_backend *vt)
{
    return vt->abi_minor >= 1 && vt->kernels_run;
}

static clg_status run_ops(clg_plan *p, int64_t *sent);

clg_status clg_plan_run(clg_plan *p)
{
    if (!p)
        return CLG_ERR_INVALID;
    const clg_backend *vt = p->dev->vt;
    uint64_t before = counts_kernels(vt) ? vt->kernels_run(p->dev->bk) : 0;
    int64_t sent = 0;
    clg_status st = run_ops(p, &sent);
    if (st == CLG_OK)
        p->usage.kernels_last_run =
            counts_kernels(vt) ? (int64_t)(vt->kernels_run(p->dev->bk) - before) : sent;
    return st;
}

static clg_status run_ops(clg_plan *p, int64_t *sent)
{
    clg_device *dev = p->dev;
    const clg_backend *vt = dev->vt;
    clg_status st;
    *sent = p->n_ops;
    if (vt->exec_plan && p->n_ops > 0) {
        st = vt->exec_plan(dev->bk, p->ops, p->n_ops);
        if (st != CLG_OK)
            return clg_ctx_set_error(dev->ctx, st, "run: backend '%s' failed on a plan of %d "
                                     "ops: %s", vt->name, p->n_ops, vt->last_error(dev->bk));
    } else {
        for (int i = 0; i < p->n_ops; i++) {
            st = vt->exec(dev->bk, &p->ops[i]);
            if (st != CLG_OK)
                return clg_ctx_set_error(dev->ctx, st, "run: backend '%s' failed on op '%s' "
                                         "(node %d): %s", vt->name,
                                         clg_op_name(p->ops[i].op), (int)p->op_node[i],
                                         vt->last_error(dev->bk));
        }
    }
    for (int i = 0; i < p->n_assigns; i++) {
        const clg_plan_assign *a = &p->assigns[i];
        if ((a->src == a->dst && a->src_off == a->dst_off) || a->bytes == 0)
            continue;
        ++*sent;
        st = vt->copy(dev->bk, a->src, a->src_off, a->dst, a->dst_off, a->bytes);
        if (st != CLG_OK)
            return clg_ctx_set_error(dev->ctx, st, "run: backend '%s' failed on assignment %d "
                                     "(node %d into param node %d): %s", vt->name, i,
                                     (int)a->value, (int)a->param, vt->last_error(dev->bk));
    }
    return CLG_OK;
}

clg_status clg_plan_read(clg_plan *p, clg_t output, void *dst, size_t bytes)
{
    if (!p)
        return CLG_ERR_INVALID;
    clg_device *dev = p->dev;
    clg_ctx *ctx = dev->ctx;
    if (output >= 0 && CLG__TAG(output) != 0 && CLG__TAG(output) != p->graph_tag)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "read: handle %d is a tensor of another "
                                 "graph than this plan's", (int)CLG__IDX(output));
    if (output >= 0)
        output = CLG__IDX(output);
    if (output < 0 || output >= p->graph_size || p->slot_of[output] < 0)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "read: node %d is not in this plan",
                                 (int)output);
    const clg_plan_slot *s = &p->slots[p->slot_of[output]];
    if (!s->readable)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "read: node %d (%s) was not given to clg_compile as an output",
                                 (int)output, clg_op_name(s->op));
    if (bytes != s->bytes) {
        char ts[192];
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "read: node %d (%s): %zu bytes asked, %s has %zu",
                                 (int)output, clg_op_name(s->op), bytes,
                                 clg__tensor_str(s->dtype, &s->shape, ts, sizeof ts), s->bytes);
    }
    if (!dst && bytes)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "read: node %d: dst is NULL",
                                 (int)output);
    clg_status st = clg_device_sync(dev);
    if (st != CLG_OK || bytes == 0)
        return st;
    st = dev->vt->read(dev->bk, s->buf, s->offset, dst, bytes);
    if (st != CLG_OK)
        return clg_ctx_set_error(ctx, st, "read: node %d (%s): backend '%s' failed: %s",
                                 (int)output, clg_op_name(s->op), dev->vt->name,
                                 dev->vt->last_error(dev->bk));
    return CLG_OK;
}

clg_status clg_plan_stats_get(const clg_plan *p, clg_plan_stats *out)
{
    if (!p || !out)
        return CLG_ERR_INVALID;
    *out = p->stats;
    return CLG_OK;
}

clg_status clg_plan_usage_get(const clg_plan *p, clg_plan_usage *out)
{
    if (!p || !out)
        return CLG_ERR_INVALID;
    *out = p->usage;
    return CLG_OK;
}
