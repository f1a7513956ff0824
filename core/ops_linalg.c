/* Batched matrix multiplication: the builder (N-D operands viewed as 3-D)
 * and its backward rule. */
#include "ops_internal.h"

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------ matmul */

static clg_shape shape3(int64_t b, int64_t r, int64_t c)
{
    return (clg_shape){ .ndim = 3, .dim = { b, r, c } };
}

/* "[2, 3]" or "[2, 3]^T" */
static const char *mm_operand(const clg_shape *s, int trans, char *buf, size_t len)
{
    char tmp[SHAPE_STR_LEN];
    snprintf(buf, len, "%s%s", clg_shape_str(s, tmp, sizeof tmp), trans ? "^T" : "");
    return buf;
}

clg_t clg_matmul(clg_graph *g, clg_t a, clg_t b, int trans_a, int trans_b)
{
    if (bad(g, "matmul", a) || bad(g, "matmul", b) ||
        need_dtype(g, "matmul", "a", a, CLG_F32) || need_dtype(g, "matmul", "b", b, CLG_F32))
        return CLG_NONE;
    trans_a = trans_a != 0;
    trans_b = trans_b != 0;
    clg_shape sa = shp(g, a), sb = shp(g, b);
    char ba[SHAPE_STR_LEN + 4], bb[SHAPE_STR_LEN + 4];
    mm_operand(&sa, trans_a, ba, sizeof ba);
    mm_operand(&sb, trans_b, bb, sizeof bb);
    if (sa.ndim < 2 || sb.ndim < 2)
        return clg__graph_fail(g, "matmul: operands need at least 2 dims: %s @ %s", ba, bb);
    int na = sa.ndim, nb = sb.ndim;
    int64_t ra = sa.dim[na - 2], ca = sa.dim[na - 1], rb = sb.dim[nb - 2], cb = sb.dim[nb - 1];
    int64_t M = trans_a ? ca : ra, K = trans_a ? ra : ca;
    int64_t Kb = trans_b ? cb : rb, N = trans_b ? rb : cb;
    if (K != Kb)
        return clg__graph_fail(g, "matmul: inner dims differ: %s @ %s", ba, bb);
    int64_t pa = numel(&sa) / (ra * ca), pb = numel(&sb) / (rb * cb);
    clg_shape a3, b3, o3, out;
    if (na > 2 && nb > 2) {
        int same = na == nb;
        for (int i = 0; same && i < na - 2; i++)
            same = sa.dim[i] == sb.dim[i];
        if (!same)
            return clg__graph_fail(g, "matmul: batch dims differ: %s @ %s", ba, bb);
        a3 = shape3(pa, ra, ca);
        b3 = shape3(pb, rb, cb);
        o3 = shape3(pa, M, N);
        out = sa;
    } else if (na > 2 && !trans_a) {
        /* b is shared by every matrix of a: one GEMM over all rows of a. */
        a3 = shape3(1, pa * ra, ca);
        b3 = shape3(1, rb, cb);
        o3 = shape3(1, pa * M, N);
        out = sa;
    } else {
        a3 = shape3(pa, ra, ca);
        b3 = shape3(pb, rb, cb);
        o3 = shape3(pa > pb ? pa : pb, M, N);
        out = na > 2 ? sa : sb;
    }
    out.dim[out.ndim - 2] = M;
    out.dim[out.ndim - 1] = N;
    if (check_shape(g, "matmul", &o3))
        return CLG_NONE;
    clg_t in[2] = { view(g, a, &a3), view(g, b, &b3) };
    if (in[0] == CLG_NONE || in[1] == CLG_NONE)
        return CLG_NONE;
    clg_params at = clg__p_i64(CLG_P_TRANS_A, trans_a);
    clg_param_set_i64(&at, CLG_P_TRANS_B, trans_b);
    clg_t r = clg__node_add(g, CLG_OP_MATMUL, CLG_F32, &o3, in, 2, &at);
    if (r == CLG_NONE)
        return CLG_NONE;
    return view(g, r, &out);
}

/* A 3-D MATMUL node: batches are 1 or equal; the output takes the larger. */
static clg_t mm3(clg_graph *g, clg_t a, clg_t b, int ta, int tb)
{
    if (a == CLG_NONE || b == CLG_NONE)
        return CLG_NONE;
    clg_shape sa = shp(g, a), sb = shp(g, b);
    int64_t M = ta ? sa.dim[2] : sa.dim[1], N = tb ? sb.dim[1] : sb.dim[2];
    int64_t B = sa.dim[0] > sb.dim[0] ? sa.dim[0] : sb.dim[0];
    clg_shape out = { .ndim = 3, .dim = { B, M, N } };
    clg_params at = clg__p_i64(CLG_P_TRANS_A, ta);
    clg_param_set_i64(&at, CLG_P_TRANS_B, tb);
    clg_t in[2] = { a, b };
    return clg__node_add(g, CLG_OP_MATMUL, CLG_F32, &out, in, 2, &at);
}

/* Sums a batched matmul gradient back over the batch its operand was
 * broadcast along. */
static clg_t unbatch(clg_graph *g, clg_t d, const clg_shape *to)
{
    if (d == CLG_NONE || shp(g, d).dim[0] == to->dim[0])
        return d;
    int ax0 = 0;
    return clg_sum(g, d, &ax0, 1, 1);
}

/* ------------------------------------------------------------ backward */

int clg__backward_linalg(clg_graph *g, const clg__grad_in *in, clg_t *d)
{
    CLG__GRAD_LOCALS(in);
    switch (n.op) {
    case CLG_OP_MATMUL: {
        /* out = op_a(A) op_b(B); for each transpose combination, the product
         * that lands directly in the stored layout of A and of B. */
        clg_t A = n.in[0], B = n.in[1];
        int ta = clg_param_int(&n.params, CLG_P_TRANS_A) != 0;
        int tb = clg_param_int(&n.params, CLG_P_TRANS_B) != 0;
        clg_shape sa = shp(g, A), sb = shp(g, B);
        if (need[0]) {
            clg_t da = !ta ? mm3(g, G, B, 0, !tb) : tb ? mm3(g, B, G, 1, 1) : mm3(g, B, G, 0, 1);
            d[0] = unbatch(g, da, &sa);
        }
        if (need[1]) {
            clg_t db = !tb ? mm3(g, A, G, !ta, 0) : ta ? mm3(g, G, A, 1, 1) : mm3(g, G, A, 1, 0);
            d[1] = unbatch(g, db, &sb);
        }
        break;
    }
    default:
        return 0;
    }
    return 1;
}
