/* Private header of the reference CPU backend, for the files of backends/cpu only.
 *
 * Every kernel receives an op that exec has already validated with
 * cpu_check_op (arity, dtypes, shapes, buffer bounds), so kernels only check what depends on the
 * data itself (index ranges); they report through cpu_fail(). */
#ifndef CLG_CPU_H
#define CLG_CPU_H

#include <clgrad/backend.h>

#include <stdint.h>

#define CPU_ERR_LEN 512
#define CPU_MEM_ALIGN 64

struct clg_bk_device {
    char err[CPU_ERR_LEN];
    int gemm_portable; /* CLG_CPU_GEMM=portable: skip CBLAS (benchmarks, tests) */
    int primitives_only; /* CLGRAD_CPU_PRIMITIVES_ONLY=1: refuse composite ops */
    uint64_t kernels;    /* ops and copies run since open (kernels_run) */
    struct cpu_lstm_work *lstm; /* lstm.c's work per batch slice, kept between ops */
    int lstm_parts;
};

struct clg_bk_buffer {
    size_t size; /* bytes the caller asked for */
    void *data;  /* CPU_MEM_ALIGN-aligned, at least one line even for size 0 */
};

/* Symbols shared between the files of this module stay out of the dynamic
 * symbol table: the only export is clg_backend_entry. */
#define CPU_INTERNAL __attribute__((visibility("hidden")))

/* ---- errors (backend.c) ---- */
CPU_INTERNAL clg_status cpu_fail(clg_bk_device *dev, clg_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- op validation (check.c) ---- */
/* Writes a refusal's message (for supports/check) into msg; returns -1. */
CPU_INTERNAL int cpu_refuse(char *msg, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
CPU_INTERNAL const char *cpu_op_name(clg_op op);
/* Arity and dtypes only: what supports() answers. 0 or -1 with a message. */
CPU_INTERNAL int cpu_check_types(const clg_bk_op *op, char *msg, size_t len);
/* Everything exec needs before it touches memory: types, shapes, attrs,
 * buffer bounds, overlap of out with an input. */
CPU_INTERNAL int cpu_check_op(const clg_bk_op *op, char *msg, size_t len);

/* ---- tensor helpers ---- */
CPU_INTERNAL int64_t cpu_numel(const clg_bk_tensor *t); /* check.c */
static inline void *cpu_data(const clg_bk_tensor *t)
{
    return (char *)t->buf->data + t->offset;
}
/* Row-major strides in elements (walk.c). */
CPU_INTERNAL void cpu_contig_strides(int ndim, const int64_t *dim, int64_t *stride);

/* ---- parallelism ----
 * Work is split only over independent output elements, never inside one
 * accumulation, so results do not depend on the thread count. The `if`
 * clause keeps small ops serial, where a fork/join would cost more than it
 * saves. `cost` weighs an element: 1 for a load/add/store, more for exp.
 * The bar is high (a few hundred microseconds of work) because on a busy
 * machine a region can wait a whole time slice for a descheduled thread:
 * measured on 2 shared cores, a lower bar made MLP training 10x slower. */
#define CPU_PAR_MIN_WORK (1 << 18)
#define CPU_PAR(n, cost) ((int64_t)(n) * (cost) >= CPU_PAR_MIN_WORK)
#ifdef _OPENMP
#define CPU_PRAGMA(x) _Pragma(#x)
#define CPU_PARALLEL_FOR(cond) CPU_PRAGMA(omp parallel for schedule(static) if (cond))
#else
#define CPU_PARALLEL_FOR(cond)
#endif

/* ---- strided walks (walk.c) ----
 * A walk visits every point of an index space once, tracking for each of
 * nops operands the element offset sum_d i[d] * stride[k][d]. A stride of 0
 * is a broadcast. Setup drops size-1 dims and merges neighbours that every
 * operand lays out contiguously, so that most walks are a few long rows and
 * the kernels' inner loops run over one row with a fixed stride per operand. */
#define CPU_WALK_MAX_OPS 4
typedef struct cpu_walk {
    int ndim; /* >= 1 */
    int64_t dim[CLG_MAX_DIMS];
    int nops;
    int64_t stride[CPU_WALK_MAX_OPS][CLG_MAX_DIMS];
    int64_t chunk;     /* rows are cut into pieces of at most this length */
    int64_t n_pieces;  /* pieces in the whole walk; parallel loops run over these */
} cpu_walk;

/* One piece of a walk: `len` points along the innermost dim, starting at
 * element offset off[k] of operand k and advancing by step[k]. */
typedef struct cpu_piece {
    int64_t len;
    int64_t off[CPU_WALK_MAX_OPS];
    int64_t step[CPU_WALK_MAX_OPS];
} cpu_piece;

CPU_INTERNAL void cpu_walk_init(cpu_walk *w, int ndim, const int64_t *dim, int nops,
                                int64_t stride[][CLG_MAX_DIMS]);

/* A walk's pieces [i, end) in order, each found from the last by stepping
 * (finding a piece from its index costs a division per dim, which
 * outweighed copying a short piece: attention's head permutes move 16
 * floats a piece):
 *     for (cpu_walk_it it = cpu_walk_part(&w, t, parts); it.i < it.end;
 *          cpu_walk_next(&w, &it))
 *         ... it.p ...
 * Part t of `parts` is the same contiguous range an OpenMP static schedule
 * gives thread t. */
typedef struct cpu_walk_it {
    int64_t i, end, start; /* piece index, end, start within its row */
    int64_t coord[CLG_MAX_DIMS];
    int64_t base[CPU_WALK_MAX_OPS]; /* each operand's offset of the row */
    cpu_piece p;
} cpu_walk_it;
CPU_INTERNAL cpu_walk_it cpu_walk_part(const cpu_walk *w, int64_t t, int64_t parts);
CPU_INTERNAL void cpu_walk_next(const cpu_walk *w, cpu_walk_it *it);
/* How many parts to cut a walk into: the threads when cond holds, at most
 * one per piece. */
CPU_INTERNAL int64_t cpu_walk_parts(const cpu_walk *w, int cond);
/* Strides that read `in` (ndim <= out_ndim, right-aligned, dims 1 or equal)
 * as if it had out's shape: size-1 dims get stride 0. */
CPU_INTERNAL void cpu_broadcast_strides(const clg_bk_tensor *in, int out_ndim,
                                        const int64_t *out_dim, int64_t *stride);

/* ---- kernels; each returns CLG_OK or a cpu_fail() status ---- */
/* elementwise.c */
CPU_INTERNAL clg_status cpu_fill(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_copy(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_cast(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_unary(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_binary(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_where(clg_bk_device *dev, const clg_bk_op *op);
/* The row kernels behind unary and binary ops, shared with fused programs
 * so that a fused op computes each element with the very same code:
 * o[i] = f(a[i]) with the op's SCALAR and SCALAR2 parameters f, f2;
 * o[i] = f(a[i * sa], b[i * sb]). NULL for any other op. */
typedef void cpu_unary_fn(float *restrict o, const float *restrict a, int64_t n, float f,
                          float f2);
typedef void cpu_binary_fn(float *restrict o, const void *pa, int64_t sa, const void *pb,
                           int64_t sb, int64_t n);
CPU_INTERNAL cpu_unary_fn *cpu_unary_kernel(clg_op op, int *cost);
CPU_INTERNAL cpu_binary_fn *cpu_binary_kernel(clg_op op, clg_dtype dt);
/* fused.c: CLG_OP_FUSED, an elementwise program run tile by tile */
CPU_INTERNAL int cpu_fused_check(const clg_bk_op *op, char *msg, size_t len);
CPU_INTERNAL clg_status cpu_fused(clg_bk_device *dev, const clg_bk_op *op);
/* The MATMUL a fused op with an epilogue starts with: its operands, its
 * [batch, M, N] product in output 0's memory. */
CPU_INTERNAL void cpu_fused_gemm_op(const clg_bk_op *op, clg_bk_op *mm);
/* reduce.c */
CPU_INTERNAL clg_status cpu_reduce(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_argmax(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_softmax(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_cross_entropy(clg_bk_device *dev, const clg_bk_op *op);
/* gemm.c */
CPU_INTERNAL clg_status cpu_matmul(clg_bk_device *dev, const clg_bk_op *op);
/* A matmul that calls epi(ctx, lo, hi) on each flat range [lo, hi) of its
 * output right after computing it (in the thread that computed it). The
 * GEMM calls are the very ones cpu_matmul makes, so the product's bits are
 * the same. */
typedef void cpu_epilogue_fn(const void *ctx, int64_t lo, int64_t hi);
CPU_INTERNAL clg_status cpu_matmul_epilogue(clg_bk_device *dev, const clg_bk_op *op,
                                            cpu_epilogue_fn *epi, const void *ctx);
/* Once per process: OpenBLAS single-threaded when this build splits GEMMs
 * over its OpenMP threads itself (gemm.c). */
CPU_INTERNAL void cpu_gemm_threads_init(void);
/* C[M,N] = op(A) op(B), all row-major; lda/ldb/ldc are the row strides as
 * stored. Returns 0, or -1 when its packing buffers cannot be allocated. */
CPU_INTERNAL int cpu_sgemm_portable(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                                     const float *A, int64_t lda, const float *B, int64_t ldb,
                                     float *C, int64_t ldc);
/* movement.c */
CPU_INTERNAL clg_status cpu_permute(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_expand(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_slice(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_pad(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_concat(clg_bk_device *dev, const clg_bk_op *op);
/* index.c */
CPU_INTERNAL clg_status cpu_gather(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_scatter_add(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_one_hot(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_index_select(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_index_add(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_rand_uniform(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_im2col(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_col2im(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_max_pool2d_index(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_bn_stats(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_bn_grad_sums(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_ln_norm(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL clg_status cpu_ln_norm_grad(clg_bk_device *dev, const clg_bk_op *op);
/* lstm.c: lstm_scan and lstm_scan_grad; the work memory they keep on the device */
CPU_INTERNAL clg_status cpu_lstm_scan(clg_bk_device *dev, const clg_bk_op *op);
CPU_INTERNAL void cpu_lstm_work_free(clg_bk_device *dev);

#endif
