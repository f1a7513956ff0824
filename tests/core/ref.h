/* Independent double-precision host reference for the clgrad op set.
 *
 * Written from the op semantics in types.h/clgrad.h (PyTorch's definitions),
 * sharing no code with the core or any backend, so that conformance and
 * finite-difference gradchecks compare two independent implementations.
 * Every value is a double; i32 tensors hold exact integers. All functions
 * allocate `out` (free with ref_free) and return 0, or -1 on a shape error. */
#ifndef CLG_TEST_REF_H
#define CLG_TEST_REF_H

#include <clgrad/types.h>

typedef struct ref_t {
    clg_shape s;
    double *d;
} ref_t;

int64_t ref_numel(const clg_shape *s);
int ref_alloc(ref_t *t, const clg_shape *s); /* zero-filled */
void ref_free(ref_t *t);
int ref_clone(const ref_t *a, ref_t *out);

/* Unary elementwise: op is one of CLG_OP_COPY, CLG_OP_NEG .. CLG_OP_POW_SCALAR
 * (incl. GELU_GRAD / GELU_TANH_GRAD); f is the op's scalar attribute.
 * CLG_OP_CAST with f != 0 truncates toward zero (f32 -> i32). */
int ref_unary(clg_op op, double f, const ref_t *a, ref_t *out);
double ref_unary1(clg_op op, double f, double x);

/* NumPy broadcasting of two shapes; -1 if incompatible. */
int ref_broadcast_shape(const clg_shape *a, const clg_shape *b, clg_shape *out);
/* ADD..GE (comparisons give 0/1). */
int ref_binary(clg_op op, const ref_t *a, const ref_t *b, ref_t *out);
int ref_where(const ref_t *mask, const ref_t *a, const ref_t *b, ref_t *out);

/* SUM / MEAN / MAX over the axes set in `axes` (bit i = dim i, already
 * normalised; 0 = all). */
int ref_reduce(clg_op op, const ref_t *a, uint32_t axes, int keepdim, ref_t *out);
int ref_argmax(const ref_t *a, int axis, int keepdim, ref_t *out);
int ref_softmax(const ref_t *a, int axis, int log_form, ref_t *out);

/* a [..., M, K] @ b [..., K, N] after optional transposes of the last two
 * dims; batch dims equal, or one side 2-D. */
int ref_matmul(const ref_t *a, const ref_t *b, int ta, int tb, ref_t *out);

int ref_reshape(const ref_t *a, const clg_shape *s, ref_t *out); /* one dim may be -1 */
int ref_permute(const ref_t *a, const int *perm, ref_t *out);
int ref_expand(const ref_t *a, const clg_shape *s, ref_t *out);
int ref_slice(const ref_t *a, int axis, int64_t start, int64_t end, ref_t *out);
/* SLICE's adjoint: zeros of `s`, `a` placed at [start, start+len) on axis. */
int ref_pad(const ref_t *a, int axis, int64_t start, const clg_shape *s, ref_t *out);
int ref_concat(const ref_t *xs, int n, int axis, ref_t *out);
int ref_gather(const ref_t *a, const ref_t *index, int axis, ref_t *out);
int ref_scatter_add(const ref_t *src, const ref_t *index, int axis,
                    const clg_shape *s, ref_t *out);
int ref_one_hot(const ref_t *index, int64_t classes, ref_t *out);

#endif
