/* Double-precision reference ops; see ref.h. Deliberately naive: every op
 * walks output coordinates one at a time, so it is easy to check by eye. */
#include "ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t ref_numel(const clg_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n *= s->dim[i];
    return n;
}

int ref_alloc(ref_t *t, const clg_shape *s)
{
    t->s = *s;
    int64_t n = ref_numel(s);
    t->d = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    return t->d ? 0 : -1;
}

void ref_free(ref_t *t)
{
    free(t->d);
    t->d = NULL;
}

int ref_clone(const ref_t *a, ref_t *out)
{
    if (ref_alloc(out, &a->s))
        return -1;
    memcpy(out->d, a->d, (size_t)ref_numel(&a->s) * sizeof(double));
    return 0;
}

static int shape_eq(const clg_shape *a, const clg_shape *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

static void unravel(const clg_shape *s, int64_t idx, int64_t *coord)
{
    for (int i = s->ndim - 1; i >= 0; i--) {
        coord[i] = idx % s->dim[i];
        idx /= s->dim[i];
    }
}

static int64_t ravel(const clg_shape *s, const int64_t *coord)
{
    int64_t idx = 0;
    for (int i = 0; i < s->ndim; i++)
        idx = idx * s->dim[i] + coord[i];
    return idx;
}

/* Offset into `in` (right-aligned to `out`, size-1 dims broadcast) of the
 * element feeding output coordinate `coord`. */
static int64_t bcast_index(const clg_shape *in, const clg_shape *out, const int64_t *coord)
{
    int off = out->ndim - in->ndim;
    int64_t idx = 0;
    for (int i = 0; i < in->ndim; i++) {
        int64_t c = in->dim[i] == 1 ? 0 : coord[i + off];
        idx = idx * in->dim[i] + c;
    }
    return idx;
}

static const double SQRT_2_OVER_PI = 0.79788456080286535588;
static const double GELU_TANH_K = 0.044715;

double ref_unary1(clg_op op, double f, double x)
{
    switch (op) {
    case CLG_OP_COPY: return x;
    case CLG_OP_CAST: return f != 0 ? trunc(x) : x;
    case CLG_OP_NEG: return -x;
    case CLG_OP_EXP: return exp(x);
    case CLG_OP_LOG: return log(x);
    case CLG_OP_SQRT: return sqrt(x);
    case CLG_OP_RSQRT: return 1.0 / sqrt(x);
    case CLG_OP_ABS: return fabs(x);
    case CLG_OP_SIGN: return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0);
    case CLG_OP_RELU: return x > 0 ? x : 0.0;
    case CLG_OP_LEAKY_RELU: return x > 0 ? x : f * x;
    case CLG_OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case CLG_OP_TANH: return tanh(x);
    case CLG_OP_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case CLG_OP_GELU_TANH: {
        double u = SQRT_2_OVER_PI * (x + GELU_TANH_K * x * x * x);
        return 0.5 * x * (1.0 + tanh(u));
    }
    case CLG_OP_GELU_GRAD: {
        /* d/dx x*Phi(x) = Phi(x) + x*phi(x) */
        double phi = exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
        return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * phi;
    }
    case CLG_OP_GELU_TANH_GRAD: {
        double u = SQRT_2_OVER_PI * (x + GELU_TANH_K * x * x * x);
        double t = tanh(u);
        double du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_K * x * x);
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
    }
    case CLG_OP_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    case CLG_OP_ERF: return erf(x);
    case CLG_OP_ADD_SCALAR: return x + f;
    case CLG_OP_MUL_SCALAR: return x * f;
    case CLG_OP_POW_SCALAR: return pow(x, f);
    default: return NAN;
    }
}

int ref_unary(clg_op op, double f, const ref_t *a, ref_t *out)
{
    if (ref_alloc(out, &a->s))
        return -1;
    int64_t n = ref_numel(&a->s);
    for (int64_t i = 0; i < n; i++)
        out->d[i] = ref_unary1(op, f, a->d[i]);
    return 0;
}

int ref_broadcast_shape(const clg_shape *a, const clg_shape *b, clg_shape *out)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    out->ndim = nd;
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t da = ia >= 0 ? a->dim[ia] : 1, db = ib >= 0 ? b->dim[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return -1;
        out->dim[i] = da == 1 ? db : da;
    }
    return 0;
}

static double binop(clg_op op, double x, double y)
{
    switch (op) {
    case CLG_OP_ADD: return x + y;
    case CLG_OP_SUB: return x - y;
    case CLG_OP_MUL: return x * y;
    case CLG_OP_DIV: return x / y;
    case CLG_OP_MAXIMUM: return x > y ? x : y;
    case CLG_OP_MINIMUM: return x < y ? x : y;
    case CLG_OP_EQ: return x == y;
    case CLG_OP_NE: return x != y;
    case CLG_OP_LT: return x < y;
    case CLG_OP_LE: return x <= y;
    case CLG_OP_GT: return x > y;
    case CLG_OP_GE: return x >= y;
    default: return NAN;
    }
}

int ref_binary(clg_op op, const ref_t *a, const ref_t *b, ref_t *out)
{
    clg_shape s;
    if (ref_broadcast_shape(&a->s, &b->s, &s) || ref_alloc(out, &s))
        return -1;
    int64_t n = ref_numel(&s), c[CLG_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(&s, i, c);
        out->d[i] = binop(op, a->d[bcast_index(&a->s, &s, c)], b->d[bcast_index(&b->s, &s, c)]);
    }
    return 0;
}

int ref_where(const ref_t *mask, const ref_t *a, const ref_t *b, ref_t *out)
{
    clg_shape s1, s;
    if (ref_broadcast_shape(&mask->s, &a->s, &s1) || ref_broadcast_shape(&s1, &b->s, &s) ||
        ref_alloc(out, &s))
        return -1;
    int64_t n = ref_numel(&s), c[CLG_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(&s, i, c);
        double m = mask->d[bcast_index(&mask->s, &s, c)];
        out->d[i] = m != 0 ? a->d[bcast_index(&a->s, &s, c)] : b->d[bcast_index(&b->s, &s, c)];
    }
    return 0;
}

/* Shape after reducing `axes`: size-1 dims kept, or dropped. */
static clg_shape reduced_shape(const clg_shape *s, uint32_t axes, int keepdim)
{
    clg_shape r = { 0 };
    for (int i = 0; i < s->ndim; i++) {
        if (axes & (1u << i)) {
            if (keepdim)
                r.dim[r.ndim++] = 1;
        } else {
            r.dim[r.ndim++] = s->dim[i];
        }
    }
    return r;
}

int ref_reduce(clg_op op, const ref_t *a, uint32_t axes, int keepdim, ref_t *out)
{
    if (axes == 0)
        axes = (1u << a->s.ndim) - 1;
    clg_shape kept = reduced_shape(&a->s, axes, 1);
    clg_shape os = reduced_shape(&a->s, axes, keepdim);
    if (ref_alloc(out, &os))
        return -1;
    int64_t on = ref_numel(&os), n = ref_numel(&a->s), c[CLG_MAX_DIMS];
    if (op == CLG_OP_MAX)
        for (int64_t i = 0; i < on; i++)
            out->d[i] = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        unravel(&a->s, i, c);
        for (int k = 0; k < a->s.ndim; k++)
            if (axes & (1u << k))
                c[k] = 0;
        /* kept and os have the same element order */
        int64_t o = ravel(&kept, c);
        if (op == CLG_OP_MAX)
            out->d[o] = a->d[i] > out->d[o] ? a->d[i] : out->d[o];
        else
            out->d[o] += a->d[i];
    }
    if (op == CLG_OP_MEAN) {
        int64_t cnt = n / (on > 0 ? on : 1);
        for (int64_t i = 0; i < on; i++)
            out->d[i] /= (double)cnt;
    }
    return 0;
}

int ref_argmax(const ref_t *a, int axis, int keepdim, ref_t *out)
{
    clg_shape os = reduced_shape(&a->s, 1u << axis, keepdim);
    if (ref_alloc(out, &os))
        return -1;
    int64_t outer = 1, inner = 1, len = a->s.dim[axis];
    for (int i = 0; i < axis; i++)
        outer *= a->s.dim[i];
    for (int i = axis + 1; i < a->s.ndim; i++)
        inner *= a->s.dim[i];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            int64_t best = 0;
            for (int64_t k = 1; k < len; k++)
                if (a->d[(o * len + k) * inner + in] > a->d[(o * len + best) * inner + in])
                    best = k;
            out->d[o * inner + in] = (double)best;
        }
    return 0;
}

int ref_softmax(const ref_t *a, int axis, int log_form, ref_t *out)
{
    if (ref_alloc(out, &a->s))
        return -1;
    int64_t outer = 1, inner = 1, len = a->s.dim[axis];
    for (int i = 0; i < axis; i++)
        outer *= a->s.dim[i];
    for (int i = axis + 1; i < a->s.ndim; i++)
        inner *= a->s.dim[i];
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            double m = -INFINITY, z = 0;
            for (int64_t k = 0; k < len; k++)
                m = fmax(m, a->d[(o * len + k) * inner + in]);
            for (int64_t k = 0; k < len; k++)
                z += exp(a->d[(o * len + k) * inner + in] - m);
            for (int64_t k = 0; k < len; k++) {
                int64_t i = (o * len + k) * inner + in;
                out->d[i] = log_form ? a->d[i] - m - log(z) : exp(a->d[i] - m) / z;
            }
        }
    return 0;
}

int ref_matmul(const ref_t *a, const ref_t *b, int ta, int tb, ref_t *out)
{
    int ra = a->s.ndim, rb = b->s.ndim;
    if (ra < 2 || rb < 2)
        return -1;
    int64_t M = ta ? a->s.dim[ra - 1] : a->s.dim[ra - 2];
    int64_t K = ta ? a->s.dim[ra - 2] : a->s.dim[ra - 1];
    int64_t Kb = tb ? b->s.dim[rb - 1] : b->s.dim[rb - 2];
    int64_t N = tb ? b->s.dim[rb - 2] : b->s.dim[rb - 1];
    if (K != Kb)
        return -1;
    clg_shape os = { 0 };
    const clg_shape *bs = ra >= rb ? &a->s : &b->s; /* batch dims come from the larger rank */
    if (ra > 2 && rb > 2) {
        if (ra != rb)
            return -1;
        for (int i = 0; i < ra - 2; i++)
            if (a->s.dim[i] != b->s.dim[i])
                return -1;
    }
    for (int i = 0; i < bs->ndim - 2; i++)
        os.dim[os.ndim++] = bs->dim[i];
    os.dim[os.ndim++] = M;
    os.dim[os.ndim++] = N;
    if (ref_alloc(out, &os))
        return -1;
    int64_t batch = ref_numel(&os) / (M * N);
    int64_t a_stride = ra > 2 ? M * K : 0, b_stride = rb > 2 ? K * N : 0;
    for (int64_t p = 0; p < batch; p++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++) {
                    double x = a->d[p * a_stride + (ta ? k * M + i : i * K + k)];
                    double y = b->d[p * b_stride + (tb ? j * K + k : k * N + j)];
                    acc += x * y;
                }
                out->d[(p * M + i) * N + j] = acc;
            }
    return 0;
}

int ref_reshape(const ref_t *a, const clg_shape *s, ref_t *out)
{
    clg_shape r = *s;
    int64_t known = 1, n = ref_numel(&a->s);
    int free_dim = -1;
    for (int i = 0; i < r.ndim; i++) {
        if (r.dim[i] == -1)
            free_dim = i;
        else
            known *= r.dim[i];
    }
    if (free_dim >= 0 && known > 0)
        r.dim[free_dim] = n / known;
    if (ref_numel(&r) != n || ref_alloc(out, &r))
        return -1;
    memcpy(out->d, a->d, (size_t)n * sizeof(double));
    return 0;
}

int ref_permute(const ref_t *a, const int *perm, ref_t *out)
{
    clg_shape os = { .ndim = a->s.ndim };
    for (int i = 0; i < os.ndim; i++)
        os.dim[i] = a->s.dim[perm[i]];
    if (ref_alloc(out, &os))
        return -1;
    int64_t n = ref_numel(&os), c[CLG_MAX_DIMS], ic[CLG_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(&os, i, c);
        for (int k = 0; k < os.ndim; k++)
            ic[perm[k]] = c[k];
        out->d[i] = a->d[ravel(&a->s, ic)];
    }
    return 0;
}

int ref_expand(const ref_t *a, const clg_shape *s, ref_t *out)
{
    clg_shape chk;
    if (ref_broadcast_shape(&a->s, s, &chk) || !shape_eq(&chk, s))
        return -1;
    if (ref_alloc(out, s))
        return -1;
    int64_t n = ref_numel(s), c[CLG_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(s, i, c);
        out->d[i] = a->d[bcast_index(&a->s, s, c)];
    }
    return 0;
}

int ref_slice(const ref_t *a, int axis, int64_t start, int64_t end, ref_t *out)
{
    if (start < 0 || end > a->s.dim[axis] || start >= end)
        return -1;
    clg_shape os = a->s;
    os.dim[axis] = end - start;
    if (ref_alloc(out, &os))
        return -1;
    int64_t n = ref_numel(&os), c[CLG_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(&os, i, c);
        c[axis] += start;
        out->d[i] = a->d[ravel(&a->s, c)];
    }
    return 0;
}

int ref_pad(const ref_t *a, int axis, int64_t start, const clg_shape *s, ref_t *out)
{
    if (ref_alloc(out, s))
        return -1;
    int64_t n = ref_numel(&a->s), c[CLG_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(&a->s, i, c);
        c[axis] += start;
        out->d[ravel(s, c)] = a->d[i];
    }
    return 0;
}

int ref_concat(const ref_t *xs, int n, int axis, ref_t *out)
{
    clg_shape os = xs[0].s;
    os.dim[axis] = 0;
    for (int k = 0; k < n; k++) {
        if (xs[k].s.ndim != os.ndim)
            return -1;
        for (int i = 0; i < os.ndim; i++)
            if (i != axis && xs[k].s.dim[i] != os.dim[i])
                return -1;
        os.dim[axis] += xs[k].s.dim[axis];
    }
    if (ref_alloc(out, &os))
        return -1;
    int64_t base = 0, c[CLG_MAX_DIMS];
    for (int k = 0; k < n; k++) {
        int64_t m = ref_numel(&xs[k].s);
        for (int64_t i = 0; i < m; i++) {
            unravel(&xs[k].s, i, c);
            c[axis] += base;
            out->d[ravel(&os, c)] = xs[k].d[i];
        }
        base += xs[k].s.dim[axis];
    }
    return 0;
}

int ref_gather(const ref_t *a, const ref_t *index, int axis, ref_t *out)
{
    if (index->s.ndim != a->s.ndim || ref_alloc(out, &index->s))
        return -1;
    int64_t n = ref_numel(&index->s), c[CLG_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(&index->s, i, c);
        double k = index->d[i];
        if (k < 0 || k >= (double)a->s.dim[axis]) {
            ref_free(out);
            return -1;
        }
        c[axis] = (int64_t)k;
        out->d[i] = a->d[ravel(&a->s, c)];
    }
    return 0;
}

int ref_scatter_add(const ref_t *src, const ref_t *index, int axis, const clg_shape *s,
                    ref_t *out)
{
    if (!shape_eq(&src->s, &index->s) || ref_alloc(out, s))
        return -1;
    int64_t n = ref_numel(&src->s), c[CLG_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(&src->s, i, c);
        double k = index->d[i];
        if (k < 0 || k >= (double)s->dim[axis]) {
            ref_free(out);
            return -1;
        }
        c[axis] = (int64_t)k;
        out->d[ravel(s, c)] += src->d[i];
    }
    return 0;
}

int ref_one_hot(const ref_t *index, int64_t classes, ref_t *out)
{
    clg_shape os = index->s;
    os.dim[os.ndim++] = classes;
    if (ref_alloc(out, &os))
        return -1;
    int64_t n = ref_numel(&index->s);
    for (int64_t i = 0; i < n; i++) {
        double k = index->d[i];
        if (k < 0 || k >= (double)classes) {
            ref_free(out);
            return -1;
        }
        out->d[i * classes + (int64_t)k] = 1.0;
    }
    return 0;
}
