/* Half precision (IEEE binary16) and bfloat16 <-> f32, as PyTorch converts
 * them: widening is exact; narrowing rounds to nearest, ties to even, as
 * torch's .half() and .bfloat16() do (f16: values from 65520 up become inf,
 * those below 2^-14 become subnormals). A nan becomes a quiet nan: 0x7e00
 * (keeping the sign) in f16, 0x7fc0 in bfloat16 as torch's scalar path
 * writes it (its vectorised path writes 0xffff, another nan). */
#include "data_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

float clg__f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    uint32_t bits;
    if (e == 0) { /* zero or subnormal: m * 2^-24, exact in f32 */
        float v = ldexpf((float)m, -24);
        return sign ? -v : v;
    }
    if (e == 31)
        bits = sign | 0x7f800000u | (m << 13);
    else
        bits = sign | ((e + 112u) << 23) | (m << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float clg__bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t clg__f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u)
        return sign | 0x7e00u;
    if (ax >= 0x477ff000u) /* 65520 and up: past the halfway point to 2^16 */
        return sign | 0x7c00u;
    if (ax >= 0x38800000u) { /* normal in f16: rebias, then round 13 bits away */
        uint32_t r = ax - 0x38000000u;
        r += 0xfffu + ((r >> 13) & 1u);
        return sign | (uint16_t)(r >> 13);
    }
    /* Subnormal (or zero): multiples of 2^-24. The scaling is exact, and
     * lrintf rounds ties to even in the default rounding mode; 1024 is the
     * smallest normal's encoding, so a carry lands on it. */
    float a;
    memcpy(&a, &ax, 4);
    return sign | (uint16_t)lrintf(a * 16777216.0f);
}

uint16_t clg__f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if (isnan(f))
        return 0x7fc0u;
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

clg_status clg_tensor_set_convert(clg_ctx *ctx, clg_tensor_set *s, clg_dtype dt)
{
    if (!s)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID, "clg_tensor_set_convert: NULL set");
    if (dt == CLG_F32)
        return CLG_OK;
    if (dt != CLG_F16 && dt != CLG_BF16)
        return clg_ctx_set_error(ctx, CLG_ERR_INVALID,
                                 "clg_tensor_set_convert: dtype %s (f32, f16 or bf16 only)",
                                 clg_dtype_name(dt));
    for (int i = 0; i < s->n; i++) {
        clg_named_tensor *t = &s->t[i];
        if (t->dtype != CLG_F32)
            continue; /* integer buffers (num_batches_tracked) keep their type */
        size_t n = t->bytes / 4;
        uint16_t *h = malloc(n ? n * 2 : 1);
        if (!h)
            return clg_ctx_set_error(ctx, CLG_ERR_NOMEM, "tensor '%s': out of memory", t->name);
        const float *v = t->data;
        for (size_t k = 0; k < n; k++)
            h[k] = dt == CLG_F16 ? clg__f32_to_f16(v[k]) : clg__f32_to_bf16(v[k]);
        free(t->data);
        t->data = h;
        t->bytes = n * 2;
        t->dtype = dt;
    }
    return CLG_OK;
}
