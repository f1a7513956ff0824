/* Index ops: gather, scatter_add, one_hot, index_select, index_add;
 * builders and backward rules. */
#include "ops_internal.h"

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------ index ops */

/* torch.gather/scatter_add's rule: same rank, index no larger than the data
 * on every axis but `axis`. */
static int index_fits(clg_graph *g, const char *name, const clg_shape *data, const char *dn,
                      const clg_shape *idx, int axis, int *ax)
{
    if (idx->ndim != data->ndim || norm_axis(axis, data->ndim, ax)) {
        clg__graph_fail(g, "%s: index %s and %s %s need the same rank, with axis %d in it",
                        name, SS(idx), dn, SS(data), axis);
        return 1;
    }
    for (int i = 0; i < data->ndim; i++) {
        if (i != *ax && idx->dim[i] > data->dim[i]) {
            clg__graph_fail(g, "%s: index %s is larger than %s %s on dim %d", name, SS(idx), dn,
                            SS(data), i);
            return 1;
        }
    }
    return 0;
}

clg_t clg_gather(clg_graph *g, clg_t a, clg_t index, int axis)
{
    if (bad(g, "gather", a) || bad(g, "gather", index) ||
        need_dtype(g, "gather", "index", index, CLG_I32))
        return CLG_NONE;
    clg_shape sa = shp(g, a), si = shp(g, index);
    int ax;
    if (index_fits(g, "gather", &sa, "data", &si, axis, &ax))
        return CLG_NONE;
    clg_params at = clg__p_i64(CLG_P_AXIS, ax);
    clg_t in[2] = { a, index };
    return clg__node_add(g, CLG_OP_GATHER, dty(g, a), &si, in, 2, &at);
}

clg_t clg_scatter_add(clg_graph *g, clg_t src, clg_t index, int axis,
                      const clg_shape *out_shape)
{
    if (bad(g, "scatter_add", src) || bad(g, "scatter_add", index) ||
        need_dtype(g, "scatter_add", "src", src, CLG_F32) ||
        need_dtype(g, "scatter_add", "index", index, CLG_I32) ||
        check_shape(g, "scatter_add", out_shape))
        return CLG_NONE;
    clg_shape ss = shp(g, src), si = shp(g, index);
    if (!shape_eq(&ss, &si))
        return clg__graph_fail(g, "scatter_add: index %s and src %s must have the same shape",
                               SS(&si), SS(&ss));
    int ax;
    if (index_fits(g, "scatter_add", out_shape, "out", &si, axis, &ax))
        return CLG_NONE;
    clg_params at = clg__p_i64(CLG_P_AXIS, ax);
    clg_t in[2] = { src, index };
    return clg__node_add(g, CLG_OP_SCATTER_ADD, CLG_F32, out_shape, in, 2, &at);
}

clg_t clg_one_hot(clg_graph *g, clg_t index, int64_t classes)
{
    if (bad(g, "one_hot", index) || need_dtype(g, "one_hot", "index", index, CLG_I32))
        return CLG_NONE;
    clg_shape s = shp(g, index);
    if (classes < 1)
        return clg__graph_fail(g, "one_hot: classes must be >= 1, got %lld", (long long)classes);
    if (s.ndim >= CLG_MAX_DIMS)
        return clg__graph_fail(g, "one_hot: index %s already has %d dims, the most there is",
                               SS(&s), CLG_MAX_DIMS);
    clg_shape out = s;
    out.dim[out.ndim++] = classes;
    clg_params at = clg__p_i64(CLG_P_N, classes);
    return add1(g, CLG_OP_ONE_HOT, CLG_F32, &out, index, &at);
}

/* ids i32 [n] against rows [n, D] (rows may be NONE); 0 after a graph error. */
static int ids_fit(clg_graph *g, const char *op, clg_t ids, const clg_shape *rows)
{
    if (need_dtype(g, op, "ids", ids, CLG_I32))
        return 0;
    const clg_shape si = shp(g, ids);
    if (si.ndim != 1 || (rows && (rows->ndim != 2 || rows->dim[0] != si.dim[0])))
        return (clg__graph_fail(g, "%s: ids %s must be [n]%s%s", op, SS(&si),
                                rows ? " and the rows [n, D], got " : "", rows ? SS(rows) : ""),
                0);
    return 1;
}

clg_t clg_index_select(clg_graph *g, clg_t table, clg_t ids)
{
    const char *op = "index_select";
    if (bad(g, op, table) || bad(g, op, ids) || need_dtype(g, op, "table", table, CLG_F32) ||
        !ids_fit(g, op, ids, NULL))
        return CLG_NONE;
    const clg_shape st = shp(g, table);
    if (st.ndim != 2)
        return clg__graph_fail(g, "%s: table %s must be [V, D]", op, SS(&st));
    clg_shape out = CLG_SHAPE(shp(g, ids).dim[0], st.dim[1]);
    clg_t in[2] = { table, ids };
    return clg__node_add(g, CLG_OP_INDEX_SELECT, CLG_F32, &out, in, 2, NULL);
}

clg_t clg_index_add(clg_graph *g, clg_t src, clg_t ids, int64_t rows)
{
    const char *op = "index_add";
    if (bad(g, op, src) || bad(g, op, ids) || need_dtype(g, op, "src", src, CLG_F32))
        return CLG_NONE;
    const clg_shape ss = shp(g, src);
    if (!ids_fit(g, op, ids, &ss))
        return CLG_NONE;
    clg_shape out = CLG_SHAPE(rows, ss.dim[1]);
    if (rows < 1 || check_shape(g, op, &out))
        return clg__graph_fail(g, "%s: %lld rows: need at least one", op, (long long)rows);
    clg_params at = clg__p_i64(CLG_P_N, rows);
    clg_t in[2] = { src, ids };
    return clg__node_add(g, CLG_OP_INDEX_ADD, CLG_F32, &out, in, 2, &at);
}

/* ------------------------------------------------------------ backward */

int clg__backward_index(clg_graph *g, const clg__grad_in *in, clg_t *d)
{
    CLG__GRAD_LOCALS(in);
    switch (n.op) {
    case CLG_OP_GATHER:
        d[0] = clg_scatter_add(g, G, n.in[1], clg_param_int(&n.params, CLG_P_AXIS), &sx);
        break;
    case CLG_OP_SCATTER_ADD:
        d[0] = clg_gather(g, G, n.in[1], clg_param_int(&n.params, CLG_P_AXIS));
        break;
    case CLG_OP_INDEX_SELECT:
        d[0] = clg_index_add(g, G, n.in[1], sx.dim[0]);
        break;
    case CLG_OP_INDEX_ADD:
        d[0] = clg_index_select(g, G, n.in[1]);
        break;
    default:
        return 0;
    }
    return 1;
}
