/* CLG_OP_FUSED: an elementwise program (types.h) run over the output in
 * tiles of TILE elements. Each instruction runs over the whole tile with the
 * same row kernel its op uses alone (elementwise.c), so every element gets
 * the very bits the unfused ops would give; the tile's registers stay in L1,
 * and memory is read and written once. An output that shares no memory
 * with an input is computed straight into its tensor; the others (an update
 * in place, a GEMM's product) are stored when the tile's program is done,
 * which is what makes an output that is also an input safe. */
#include "cpu.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TILE 256


static int arity(clg_op op)
{
    return clg_op_info_of(op).arity;
}

/* 1 if a program may hold op: what this backend runs as a unary or binary
 * f32 row kernel with no parameter but SCALAR, or where. */
static int program_op(clg_op op)
{
    int cost;
    if (!clg_op_is_kernel(op) || clg_op_info_of(op).family != CLG_FAMILY_ELEMENTWISE ||
        op == CLG_OP_CLAMP)
        return 0;
    if (arity(op) == 1)
        return clg_op_info_of(op).dtype_rule == CLG_DTRULE_F32 && cpu_unary_kernel(op, &cost);
    if (arity(op) == 2)
        return cpu_binary_kernel(op, CLG_F32) != NULL;
    return op == CLG_OP_WHERE;
}

int cpu_fused_check(const clg_bk_op *op, char *msg, size_t len)
{
    const clg_params *p = &op->params;
    const int64_t n_instr = clg_param_i64(p, CLG_FUSED_P_NINSTR);
    const int64_t n_out = clg_param_i64(p, CLG_FUSED_P_NOUT);
    const int64_t gemm = clg_param_i64(p, CLG_FUSED_P_GEMM);
    const int64_t cols = clg_param_i64(p, CLG_FUSED_P_COLS);
    const int64_t period = clg_param_i64(p, CLG_FUSED_P_PERIOD);
    const int64_t inner = clg_param_i64(p, CLG_FUSED_P_INNER);
    const int first = gemm ? 2 : 0;
    if (n_instr < 1 || n_instr > CLG_FUSED_MAX_INSTR)
        return cpu_refuse(msg, len, "fused: %lld instructions (1..%d allowed)", (long long)n_instr,
                    CLG_FUSED_MAX_INSTR);
    if (n_out < 1 || n_out - 1 > op->n_in - first)
        return cpu_refuse(msg, len, "fused: %lld outputs with %d tensors in in[]", (long long)n_out,
                    op->n_in);
    if (gemm < 0 || gemm > (CLG_FUSED_GEMM | CLG_FUSED_GEMM_TA | CLG_FUSED_GEMM_TB) ||
        (gemm && !(gemm & CLG_FUSED_GEMM)))
        return cpu_refuse(msg, len, "fused: GEMM flags %lld", (long long)gemm);
    const int n_in = op->n_in - (int)(n_out - 1);
    const int64_t n = cpu_numel(&op->out);
    if (op->out.dtype != CLG_F32)
        return cpu_refuse(msg, len, "fused: output 0 is not f32");
    for (int k = 0; k < op->n_in; k++) {
        const clg_bk_tensor *t = &op->in[k];
        const int64_t b = clg_param_i64(p, CLG_FUSED_P_BCAST + k);
        if (t->dtype != CLG_F32)
            return cpu_refuse(msg, len, "fused: in[%d] is not f32", k);
        if (k < first)
            continue; /* the GEMM's operands: check.c checks them as a MATMUL's */
        if (!clg_fused_input_fits(p, k, n_in, n, cpu_numel(t)))
            return cpu_refuse(msg, len, "fused: in[%d] has %lld elements (mode %lld, cols %lld, "
                        "period %lld, inner %lld), the output %lld", k, (long long)cpu_numel(t),
                        (long long)b, (long long)cols, (long long)period, (long long)inner,
                        (long long)n);
    }
    for (int k = 0; k < n_out; k++) {
        const int64_t r = clg_param_i64(p, CLG_FUSED_P_OUTREG + k);
        if (r < 0 || r >= n_instr)
            return cpu_refuse(msg, len, "fused: output %d holds register %lld of %lld", k,
                        (long long)r, (long long)n_instr);
    }
    for (int i = 0; i < n_instr; i++) {
        const clg_fused_instr in = clg_fused_instr_get(p, i);
        if (!program_op(in.op))
            return cpu_refuse(msg, len, "fused: instruction %d: op %d cannot be fused", i, (int)in.op);
        const int opnd[3] = { in.a, in.b, in.c };
        for (int q = 0; q < arity(in.op); q++) {
            const int c = opnd[q];
            const int ok = c == CLG_FUSED_ACC ? gemm != 0
                           : c < CLG_FUSED_REG(0) ? c >= first && c < n_in
                                                  : c - CLG_FUSED_REG(0) < i;
            if (!ok)
                return cpu_refuse(msg, len, "fused: instruction %d: operand %d (code %d) is neither "
                            "an input, the product nor an earlier register", i, q, c);
        }
    }
    return 0;
}

/* A program ready to run over any range of the output. */
typedef struct program {
    int n_instr, n_out;
    const float *in[CLG_MAX_INPUTS]; /* a window's: its first row's start */
    int mode[CLG_MAX_INPUTS];
    int64_t span[CLG_MAX_INPUTS];      /* elements from the tensor's start */
    int64_t win_w[CLG_MAX_INPUTS], win_stride[CLG_MAX_INPUTS];
    int64_t cols, period, inner;
    const float *acc; /* the GEMM's product (output 0's memory), or NULL */
    float *out[CLG_MAX_INPUTS];
    int out_reg[CLG_MAX_INPUTS];
    float *direct[CLG_FUSED_MAX_INSTR]; /* an output register's memory, or NULL */
    clg_fused_instr code[CLG_FUSED_MAX_INSTR];
    cpu_unary_fn *un[CLG_FUSED_MAX_INSTR];
    cpu_binary_fn *bin[CLG_FUSED_MAX_INSTR];
    int cost; /* per element, for threads */
} program;

static void decode(const clg_bk_op *op, program *pg)
{
    const clg_params *p = &op->params;
    pg->n_instr = (int)clg_param_i64(p, CLG_FUSED_P_NINSTR);
    pg->n_out = (int)clg_param_i64(p, CLG_FUSED_P_NOUT);
    pg->cols = clg_param_i64(p, CLG_FUSED_P_COLS);
    pg->period = clg_param_i64(p, CLG_FUSED_P_PERIOD);
    pg->inner = clg_param_i64(p, CLG_FUSED_P_INNER);
    const int n_in = op->n_in - (pg->n_out - 1);
    const int64_t n = cpu_numel(&op->out);
    for (int k = 0; k < n_in; k++) {
        pg->in[k] = cpu_data(&op->in[k]);
        pg->mode[k] = (int)clg_fused_mode(p, k);
        pg->span[k] = cpu_numel(&op->in[k]);
        if (pg->mode[k] == CLG_FUSED_WINDOW) {
            pg->win_w[k] = clg_fused_window_w(p, k);
            pg->win_stride[k] = pg->span[k] / (n / pg->win_w[k]);
            pg->in[k] += clg_fused_window_off(p, k);
        }
    }
    for (int k = 0; k < pg->n_out; k++) {
        pg->out[k] = cpu_data(k ? &op->in[n_in + k - 1] : &op->out);
        pg->out_reg[k] = (int)clg_param_i64(p, CLG_FUSED_P_OUTREG + k);
    }
    pg->acc = clg_param_i64(p, CLG_FUSED_P_GEMM) ? pg->out[0] : NULL;
    /* An output register whose memory no input shares is computed right
     * there: one pass less through L1, and the stores stream. The product
     * (output 0 of an epilogue) and an update in place keep their tile. */
    memset(pg->direct, 0, sizeof pg->direct);
    for (int k = pg->acc ? 1 : 0; k < pg->n_out; k++) {
        const uintptr_t o0 = (uintptr_t)pg->out[k], o1 = (uintptr_t)(pg->out[k] + n);
        int shared = pg->direct[pg->out_reg[k]] != NULL;
        for (int j = pg->acc ? 2 : 0; j < n_in && !shared; j++) {
            const float *base = cpu_data(&op->in[j]);
            const uintptr_t i0 = (uintptr_t)base, i1 = (uintptr_t)(base + pg->span[j]);
            shared = i0 < o1 && o0 < i1;
        }
        if (!shared)
            pg->direct[pg->out_reg[k]] = pg->out[k];
    }
    pg->cost = 0;
    for (int i = 0; i < pg->n_instr; i++) {
        int c = 1;
        pg->code[i] = clg_fused_instr_get(p, i);
        const int ar = arity(pg->code[i].op);
        pg->un[i] = ar == 1 ? cpu_unary_kernel(pg->code[i].op, &c) : NULL;
        pg->bin[i] = ar == 2 ? cpu_binary_kernel(pg->code[i].op, CLG_F32) : NULL;
        pg->cost += c;
    }
}

/* An operand over one tile: ptr[e * step] for element e of the tile. A row
 * input is copied into `row` when the tile crosses the end of a row. */
typedef struct operand {
    const float *ptr;
    int64_t step;
} operand;

static operand get(const program *pg, int code, float *const *reg, float *row, int64_t start,
                   int64_t len)
{
    if (code == CLG_FUSED_ACC)
        return (operand){ pg->acc + start, 1 };
    if (code >= CLG_FUSED_REG(0))
        return (operand){ reg[code - CLG_FUSED_REG(0)], 1 };
    switch (pg->mode[code]) {
    case CLG_FUSED_ONE:
        return (operand){ pg->in[code], 0 };
    case CLG_FUSED_ROW: {
        const int64_t c0 = start % pg->cols;
        if (c0 + len <= pg->cols)
            return (operand){ pg->in[code] + c0, 1 };
        for (int64_t e = 0, c = c0; e < len; e++, c = c + 1 == pg->cols ? 0 : c + 1)
            row[e] = pg->in[code][c];
        return (operand){ row, 1 };
    }
    case CLG_FUSED_CHAN: {
        /* runs of one value: a tile inside one run reads it broadcast */
        int64_t i = start / pg->inner, left = pg->inner - start % pg->inner;
        const float *in = pg->in[code];
        if (left >= len)
            return (operand){ in + i % pg->period, 0 };
        for (int64_t e = 0; e < len; i++, left = pg->inner) {
            const float v = in[i % pg->period];
            for (const int64_t end = e + left < len ? e + left : len; e < end; e++)
                row[e] = v;
        }
        return (operand){ row, 1 };
    }
    case CLG_FUSED_WINDOW: {
        /* a tile inside one row reads it where it lies; one that crosses
         * rows gathers its pieces */
        const int64_t w = pg->win_w[code], stride = pg->win_stride[code];
        int64_t r = start / w, c = start % w;
        if (c + len <= w)
            return (operand){ pg->in[code] + r * stride + c, 1 };
        for (int64_t e = 0; e < len; r++, c = 0) {
            const int64_t piece = w - c < len - e ? w - c : len - e;
            memcpy(row + e, pg->in[code] + r * stride + c, (size_t)piece * sizeof *row);
            e += piece;
        }
        return (operand){ row, 1 };
    }
    default:
        return (operand){ pg->in[code] + start, 1 };
    }
}

/* where over one tile: the chosen side's bits, as cpu_where moves them.
 * Both sides are loaded and the bits selected, which vectorises for the
 * usual steps (a mask and a tensor against a broadcast zero). */
static void where_row(float *restrict o, operand a, operand b, operand d, int64_t len)
{
#define WHERE_LOOP(sa, sb, sd)                                                             \
    for (int64_t e = 0; e < len; e++) {                                                    \
        uint32_t x, y;                                                                     \
        memcpy(&x, &b.ptr[e * (sb)], sizeof x);                                            \
        memcpy(&y, &d.ptr[e * (sd)], sizeof y);                                            \
        const uint32_t r = a.ptr[e * (sa)] != 0 ? x : y;                                   \
        memcpy(&o[e], &r, sizeof r);                                                       \
    }
    if (a.step == 1 && b.step == 1 && d.step == 0)
        WHERE_LOOP(1, 1, 0)
    else if (a.step == 1 && b.step == 0 && d.step == 1)
        WHERE_LOOP(1, 0, 1)
    else if (a.step == 1 && b.step == 1 && d.step == 1)
        WHERE_LOOP(1, 1, 1)
    else
        WHERE_LOOP(a.step, b.step, d.step)
#undef WHERE_LOOP
}

/* Elements [lo, hi) of every output, tile by tile. */
static void run_range(const program *pg, int64_t lo, int64_t hi)
{
    float tiles[CLG_FUSED_MAX_INSTR][TILE];
    float *reg[CLG_FUSED_MAX_INSTR];
    float row[3][TILE];
    for (int64_t s = lo; s < hi; s += TILE) {
        const int64_t len = hi - s < TILE ? hi - s : TILE;
        for (int i = 0; i < pg->n_instr; i++)
            reg[i] = pg->direct[i] ? pg->direct[i] + s : tiles[i];
        for (int i = 0; i < pg->n_instr; i++) {
            const clg_fused_instr *c = &pg->code[i];
            const operand a = get(pg, c->a, reg, row[0], s, len);
            if (pg->un[i] && a.step == 0) {
                /* a single broadcast element: computed once */
                pg->un[i](reg[i], a.ptr, 1, c->scalar, 0.0f);
                for (int64_t e = 1; e < len; e++)
                    reg[i][e] = reg[i][0];
            } else if (pg->un[i]) {
                pg->un[i](reg[i], a.ptr, len, c->scalar, 0.0f);
            } else if (pg->bin[i]) {
                const operand b = get(pg, c->b, reg, row[1], s, len);
                pg->bin[i](reg[i], a.ptr, a.step, b.ptr, b.step, len);
            } else {
                const operand b = get(pg, c->b, reg, row[1], s, len);
                const operand d = get(pg, c->c, reg, row[2], s, len);
                where_row(reg[i], a, b, d, len);
            }
        }
        /* stored when the tile's program is done: an update in place reads
         * its input first */
        for (int k = 0; k < pg->n_out; k++) {
            float *restrict o = pg->out[k] + s;
            const float *restrict r = reg[pg->out_reg[k]];
            if (r == o)
                continue;
            for (int64_t e = 0; e < len; e++)
                o[e] = r[e];
        }
    }
}

static void epilogue(const void *ctx, int64_t lo, int64_t hi)
{
    run_range(ctx, lo, hi);
}

clg_status cpu_fused(clg_bk_device *dev, const clg_bk_op *op)
{
    program pg;
    decode(op, &pg);
    const int64_t n = cpu_numel(&op->out);
    const int64_t gemm = clg_param_i64(&op->params, CLG_FUSED_P_GEMM);
    if (gemm) {
        /* The product lands in output 0; each block of it runs the program
         * as soon as its GEMM is done, while it is still in cache. */
        clg_bk_op mm;
        cpu_fused_gemm_op(op, &mm);
        return cpu_matmul_epilogue(dev, &mm, epilogue, &pg);
    }
    const int64_t tiles = (n + TILE - 1) / TILE;
    CPU_PARALLEL_FOR(CPU_PAR(n, pg.cost))
    for (int64_t t = 0; t < tiles; t++)
        run_range(&pg, t * TILE, (t + 1) * TILE < n ? (t + 1) * TILE : n);
    return CLG_OK;
}

void cpu_fused_gemm_op(const clg_bk_op *op, clg_bk_op *mm)
{
    const int64_t gemm = clg_param_i64(&op->params, CLG_FUSED_P_GEMM);
    const clg_bk_tensor *a = &op->in[0], *b = &op->in[1];
    memset(mm, 0, sizeof *mm);
    mm->op = CLG_OP_MATMUL;
    mm->n_in = 2;
    mm->in[0] = *a;
    mm->in[1] = *b;
    mm->out = op->out;
    clg_param_set_i64(&mm->params, CLG_P_TRANS_A, (gemm & CLG_FUSED_GEMM_TA) != 0);
    clg_param_set_i64(&mm->params, CLG_P_TRANS_B, (gemm & CLG_FUSED_GEMM_TB) != 0);
    clg_bk_tensor *out = &mm->out;
    out->ndim = 3;
    out->dim[0] = a->dim[0] > b->dim[0] ? a->dim[0] : b->dim[0];
    out->dim[1] = (gemm & CLG_FUSED_GEMM_TA) ? a->dim[2] : a->dim[1];
    out->dim[2] = (gemm & CLG_FUSED_GEMM_TB) ? b->dim[1] : b->dim[2];
    for (int d = 3; d < CLG_MAX_DIMS; d++)
        out->dim[d] = 0;
}
