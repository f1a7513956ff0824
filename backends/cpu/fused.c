/* CLG_OP_FUSED: an elementwise program (types.h) run over the output in
 * tiles of TILE elements. Each instruction runs over the whole tile with the
 * same row kernel its op uses alone (elementwise.c), so every element gets
 * the very bits the unfused ops would give; the tile's registers stay in L1,
 * and memory is read and written once. Outputs are stored when the tile's
 * program is done, which is what makes an output that is also an input (an
 * update in place) safe. */
#include "cpu.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TILE 256

static int fail(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return -1;
}

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
    if (n_instr < 1 || n_instr > CLG_FUSED_MAX_INSTR)
        return fail(msg, len, "fused: %lld instructions (1..%d allowed)", (long long)n_instr,
                    CLG_FUSED_MAX_INSTR);
    if (n_out < 1 || n_out - 1 > op->n_in)
        return fail(msg, len, "fused: %lld outputs with %d tensors in in[]", (long long)n_out,
                    op->n_in);
    const int n_in = op->n_in - (int)(n_out - 1);
    const int64_t n = cpu_numel(&op->out);
    if (op->out.dtype != CLG_F32)
        return fail(msg, len, "fused: output 0 is not f32");
    for (int k = 0; k < op->n_in; k++) {
        const clg_bk_tensor *t = &op->in[k];
        const int64_t b = clg_param_i64(p, CLG_FUSED_P_BCAST + k);
        if (t->dtype != CLG_F32)
            return fail(msg, len, "fused: in[%d] is not f32", k);
        if (k >= n_in ? cpu_numel(t) != n || b != 0
                      : (b != 0 && b != 1) || cpu_numel(t) != (b ? 1 : n))
            return fail(msg, len, "fused: in[%d] has %lld elements (broadcast flag %lld), the "
                        "output %lld", k, (long long)cpu_numel(t), (long long)b, (long long)n);
    }
    for (int k = 0; k < n_out; k++) {
        const int64_t r = clg_param_i64(p, CLG_FUSED_P_OUTREG + k);
        if (r < 0 || r >= n_instr)
            return fail(msg, len, "fused: output %d holds register %lld of %lld", k,
                        (long long)r, (long long)n_instr);
    }
    for (int i = 0; i < n_instr; i++) {
        const clg_fused_instr in = clg_fused_instr_get(p, i);
        if (!program_op(in.op))
            return fail(msg, len, "fused: instruction %d: op %d cannot be fused", i, (int)in.op);
        const int opnd[3] = { in.a, in.b, in.c };
        for (int q = 0; q < arity(in.op); q++) {
            const int c = opnd[q];
            const int ok = c < CLG_FUSED_REG(0) ? c < n_in : c - CLG_FUSED_REG(0) < i;
            if (!ok)
                return fail(msg, len, "fused: instruction %d: operand %d (code %d) is neither "
                            "an input nor an earlier register", i, q, c);
        }
    }
    return 0;
}

/* An operand over one tile: ptr[e * step] for element e of the tile. */
typedef struct operand {
    const float *ptr;
    int64_t step;
} operand;

static operand get(int code, float (*reg)[TILE], const float *const *in, const int *bcast,
                   int64_t start)
{
    if (code >= CLG_FUSED_REG(0))
        return (operand){ reg[code - CLG_FUSED_REG(0)], 1 };
    if (bcast[code])
        return (operand){ in[code], 0 };
    return (operand){ in[code] + start, 1 };
}

clg_status cpu_fused(clg_bk_device *dev, const clg_bk_op *op)
{
    (void)dev;
    const clg_params *p = &op->params;
    const int n_instr = (int)clg_param_i64(p, CLG_FUSED_P_NINSTR);
    const int n_out = (int)clg_param_i64(p, CLG_FUSED_P_NOUT);
    const int n_in = op->n_in - (n_out - 1);
    const float *in[CLG_MAX_INPUTS];
    int bcast[CLG_MAX_INPUTS];
    float *out[CLG_MAX_INPUTS];
    int out_reg[CLG_MAX_INPUTS];
    for (int k = 0; k < n_in; k++) {
        in[k] = cpu_data(&op->in[k]);
        bcast[k] = (int)clg_param_i64(p, CLG_FUSED_P_BCAST + k);
    }
    for (int k = 0; k < n_out; k++) {
        out[k] = cpu_data(k ? &op->in[n_in + k - 1] : &op->out);
        out_reg[k] = (int)clg_param_i64(p, CLG_FUSED_P_OUTREG + k);
    }
    clg_fused_instr code[CLG_FUSED_MAX_INSTR];
    cpu_unary_fn *un[CLG_FUSED_MAX_INSTR];
    cpu_binary_fn *bin[CLG_FUSED_MAX_INSTR];
    int cost = 0;
    for (int i = 0; i < n_instr; i++) {
        int c = 1;
        code[i] = clg_fused_instr_get(p, i);
        un[i] = arity(code[i].op) == 1 ? cpu_unary_kernel(code[i].op, &c) : NULL;
        bin[i] = arity(code[i].op) == 2 ? cpu_binary_kernel(code[i].op, CLG_F32) : NULL;
        cost += c;
    }
    const int64_t n = cpu_numel(&op->out);
    const int64_t tiles = (n + TILE - 1) / TILE;
    CPU_PARALLEL_FOR(CPU_PAR(n, cost))
    for (int64_t t = 0; t < tiles; t++) {
        float reg[CLG_FUSED_MAX_INSTR][TILE];
        const int64_t s = t * TILE, len = n - s < TILE ? n - s : TILE;
        for (int i = 0; i < n_instr; i++) {
            const clg_fused_instr *c = &code[i];
            const operand a = get(c->a, reg, in, bcast, s);
            if (un[i] && a.step == 0) {
                /* a broadcast input: one value, computed once */
                un[i](reg[i], a.ptr, 1, c->scalar, 0.0f);
                for (int64_t e = 1; e < len; e++)
                    reg[i][e] = reg[i][0];
            } else if (un[i]) {
                un[i](reg[i], a.ptr, len, c->scalar, 0.0f);
            } else if (bin[i]) {
                const operand b = get(c->b, reg, in, bcast, s);
                bin[i](reg[i], a.ptr, a.step, b.ptr, b.step, len);
            } else { /* where: the chosen side's bits, as cpu_where moves them */
                const operand b = get(c->b, reg, in, bcast, s);
                const operand d = get(c->c, reg, in, bcast, s);
                for (int64_t e = 0; e < len; e++)
                    memcpy(&reg[i][e], a.ptr[e * a.step] != 0 ? &b.ptr[e * b.step]
                                                              : &d.ptr[e * d.step],
                           sizeof(float));
            }
        }
        for (int k = 0; k < n_out; k++)
            memcpy(out[k] + s, reg[out_reg[k]], (size_t)len * sizeof(float));
    }
    return CLG_OK;
}
